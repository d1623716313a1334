/* tests/unit/tls.c - tls_cert_describe: what --serverinfo shows of a
 * certificate, and the fingerprint in the exact form tls_fingerprint takes.
 * (The handshake and verification are covered by tests/cases/server-tls.sh.) */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "tls.h"

#include "cert.h"

static const char want_fpr[] =
	"72:38:A0:5B:E0:6E:59:E2:EE:C8:E7:63:48:C3:BA:5A:"
	"64:5D:53:21:C0:6A:1D:A7:1A:55:03:24:F1:78:C4:D1";

int
main(void)
{
	struct tls_cert_info ci;
	struct err e;

	err_init(&e);
	is_int(tls_cert_describe(cert_pem, sizeof cert_pem - 1, 1, &ci, &e), 0,
	       "a PEM certificate is described");
	is_str(ci.subject, "CN=mx.example.org,O=envoi unit", "subject as an RFC 4514 DN");
	is_str(ci.issuer, "CN=mx.example.org,O=envoi unit", "issuer (self-signed)");
	is_str(ci.not_before, "2024-01-02 03:04:05 UTC", "not before");
	is_str(ci.not_after, "2034-01-02 03:04:05 UTC", "not after");
	is_int(ci.not_before_t, 1704164645LL, "not before as a time");
	is_str(ci.names, "DNS:mx.example.org, DNS:smtp.example.org, IP:192.0.2.25",
	       "every subjectAltName, typed");
	is_str(ci.sha256, want_fpr, "SHA-256 fingerprint, upper-case hex with colons");
	is_int(strlen(ci.sha256), 95, "... 32 bytes, 31 colons");

	/* the same certificate as DER gives the same description */
	{
		static const char b64[] =
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		unsigned char der[2048];
		size_t n = 0;
		unsigned acc = 0;
		int bits = 0;
		const char *p = strstr(cert_pem, "\n") + 1, *end = strstr(cert_pem, "-----END");
		struct tls_cert_info d;

		for (; p < end; p++) {
			const char *k = strchr(b64, *p);
			if (*p == '\n' || *p == '=' || k == NULL)
				continue;
			acc = acc << 6 | (unsigned)(k - b64);
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				der[n++] = (unsigned char)(acc >> bits);
			}
		}
		is_int(tls_cert_describe(der, n, 0, &d, &e), 0, "the DER form is described");
		is_str(d.sha256, want_fpr, "... with the same fingerprint");
		is_str(d.names, ci.names, "... and the same names");
	}

	is_int(tls_cert_describe("junk", 4, 1, &ci, &e), -1, "junk is refused");
	is_int(e.ex, EX_DATAERR, "... as EX_DATAERR");
	is_str(ci.sha256, "", "... and nothing is left described");
	return done_testing();
}
