/* tls.c - see tls.h. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <idn2.h>

#include "anchors.h"
#include "buf.h"
#include "log.h"
#include "sock.h"
#include "tls.h"

/* A DNS name is at most 253 octets in A-label form; 256 holds it and the
 * NUL, and also any textual IPv6 address. */
#define TLS_HOST_MAX 256
/* The pin is a SHA-256 digest. */
#define TLS_PIN_LEN 32
/* Names listed in a "certificate is for ..." message: enough to recognise
 * the certificate, few enough to keep the message on one readable line. */
#define TLS_NAMES_SHOWN 6
/* One name or DN as shown in a message; longer ones are cut (they are
 * server-controlled text and only there to help a human). */
#define TLS_TEXT_MAX 256
/* The PEM bundle GnuTLS's system trust reads on Debian and most others.
 * When it exists, anchors are picked out of it (anchors.h); otherwise the
 * whole system trust is loaded the ordinary way. */
#ifndef TLS_SYSTEM_BUNDLE
#define TLS_SYSTEM_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
#endif
/* A trust file bigger than this is refused: no bundle comes near it. */
#define TLS_TRUST_FILE_MAX (64L * 1024 * 1024)

struct tls {
	gnutls_session_t sess;
	gnutls_certificate_credentials_t cred;
	int fd;
	int established;                /* handshake done: close_notify is due */
	char host[TLS_HOST_MAX];        /* A-label or IP literal, as checked */
	unsigned char ip[16];           /* the IP literal in binary, if host is one */
	size_t ip_len;                  /* 4, 16, or 0 for a DNS name */
	char verdict[TLS_HOST_MAX + TLS_TEXT_MAX + 64]; /* how it was checked, for -v */
	char anchors[TLS_TEXT_MAX + 64];        /* which anchors were loaded, for -v */
	int verified;                   /* by certificate, pin or resumption */
	int resumed;
};

/* GnuTLS tells which way a blocked operation was going. */
static short
blocked_direction(gnutls_session_t s)
{
	return gnutls_record_get_direction(s) ? POLLOUT : POLLIN;
}

/*
 * Fill t->host (and t->ip for literals). An internationalised name is
 * converted to its A-label form, which is what certificates carry in
 * dNSName and what SNI must send (RFC 6066 section 3).
 */
static int
prepare_host(struct tls *t, const char *host, struct err *e)
{
	const unsigned char *p;
	char *ascii = NULL;
	int rc;

	if (host == NULL || *host == '\0')
		return err_set(e, EX_SOFTWARE, "TLS needs the server's host name");
	if (strlen(host) >= sizeof t->host)
		return err_set(e, EX_NOHOST, "host name too long (more than %d bytes)",
		    TLS_HOST_MAX - 1);
	if (inet_pton(AF_INET, host, t->ip) == 1)
		t->ip_len = 4;
	else if (inet_pton(AF_INET6, host, t->ip) == 1)
		t->ip_len = 16;
	for (p = (const unsigned char *)host; *p && *p < 0x80; p++)
		;
	if (t->ip_len || *p == '\0') {
		memcpy(t->host, host, strlen(host) + 1);
		return 0;
	}
	rc = idn2_to_ascii_8z(host, &ascii, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
	if (rc != IDN2_OK)
		return err_set(e, EX_NOHOST, "invalid international host name %s: %s",
		    host, idn2_strerror(rc));
	if (strlen(ascii) >= sizeof t->host) {
		idn2_free(ascii);
		return err_set(e, EX_NOHOST, "host name too long (more than %d bytes)",
		    TLS_HOST_MAX - 1);
	}
	memcpy(t->host, ascii, strlen(ascii) + 1);
	idn2_free(ascii);
	return 0;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "AB:CD:..." or "abcd...": exactly 32 bytes of SHA-256. */
static int
parse_pin(const char *s, unsigned char out[TLS_PIN_LEN], struct err *e)
{
	size_t n = 0;

	while (*s) {
		int hi, lo;

		if (*s == ':') {
			s++;
			continue;
		}
		hi = hexval((unsigned char)s[0]);
		lo = hi < 0 ? -1 : hexval((unsigned char)s[1]);
		if (lo < 0 || n == TLS_PIN_LEN)
			break;
		out[n++] = (unsigned char)(hi << 4 | lo);
		s += 2;
	}
	if (*s || n != TLS_PIN_LEN)
		return err_set(e, EX_CONFIG, "tls_fingerprint must be a SHA-256 fingerprint "
		    "(64 hex digits, colons optional)");
	return 0;
}

/* Say "cannot read" with the system's reason before GnuTLS says something
 * vaguer: a missing or unreadable file is the common mistake. */
static int
check_readable(const char *path, const char *directive, struct err *e)
{
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return err_set(e, EX_NOINPUT, "cannot read %s %s: %s", directive, path,
		    strerror(errno));
	fclose(f);
	return 0;
}

static int
load_credentials(struct tls *t, const struct tls_opts *o, struct err *e)
{
	int r;

	r = gnutls_certificate_allocate_credentials(&t->cred);
	if (r < 0)
		return err_set(e, EX_OSERR, "TLS setup failed: %s", gnutls_strerror(r));
	/* The anchors are loaded after the handshake, when the chain says
	 * which are needed (load_anchors); a file that cannot be read is
	 * reported now, before anything is sent. A pin replaces CA checking,
	 * and without checking no anchors are needed: do not fail on a
	 * broken trust store nobody will consult. */
	if (o->certcheck && o->fingerprint == NULL && o->trust_file &&
	    strcmp(o->trust_file, "system") != 0 &&
	    check_readable(o->trust_file, "tls_trust_file", e) < 0)
		return -1;
	if (o->cert_file || o->key_file) {
		if (o->cert_file == NULL || o->key_file == NULL)
			return err_set(e, EX_CONFIG, "tls_cert_file and tls_key_file must "
			    "be set together");
		if (check_readable(o->cert_file, "tls_cert_file", e) < 0 ||
		    check_readable(o->key_file, "tls_key_file", e) < 0)
			return -1;
		r = gnutls_certificate_set_x509_key_file2(t->cred, o->cert_file,
		    o->key_file, GNUTLS_X509_FMT_PEM, NULL, 0);
		if (r < 0)
			return err_set(e, EX_CONFIG, "cannot use client certificate %s with "
			    "key %s: %s", o->cert_file, o->key_file, gnutls_strerror(r));
	}
	return 0;
}

static int
handshake(struct tls *t, int timeout_ms, struct err *e)
{
	long long deadline = sock_deadline_after(timeout_ms);

	for (;;) {
		int r, w;

		sock_quickack(t->fd);
		r = gnutls_handshake(t->sess);

		/* Our Finished has just gone out, which put the socket back to
		 * delayed ACKs; the server's next write (TLS 1.3 session
		 * tickets) would wait for one while we verify its certificate,
		 * and its greeting or EHLO reply behind them (Nagle). */
		if (r == GNUTLS_E_SUCCESS) {
			sock_quickack(t->fd);
			return 0;
		}
		if (deadline && sock_now_ms() >= deadline)
			break;
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			w = sock_wait_fd(t->fd, blocked_direction(t->sess), deadline);
			if (w == 0)
				break;
			if (w < 0)
				return err_set(e, EX_TEMPFAIL, "TLS handshake with %s failed: %s",
				    t->host, strerror(errno));
			continue;
		}
		if (!gnutls_error_is_fatal(r))
			continue;       /* a warning alert: the handshake goes on */
		if (r == GNUTLS_E_PREMATURE_TERMINATION)
			return err_set(e, EX_TEMPFAIL, "TLS handshake with %s failed: the "
			    "server closed the connection", t->host);
		if (r == GNUTLS_E_FATAL_ALERT_RECEIVED)
			return err_set(e, EX_TEMPFAIL, "TLS handshake with %s failed: the "
			    "server sent the alert \"%s\"", t->host,
			    gnutls_alert_get_name(gnutls_alert_get(t->sess)));
		return err_set(e, EX_TEMPFAIL, "TLS handshake with %s failed: %s",
		    t->host, gnutls_strerror(r));
	}
	return err_set(e, EX_TEMPFAIL, "timed out after %d s during the TLS handshake "
	    "with %s", sock_timeout_secs(timeout_ms), t->host);
}

static void
format_time(time_t when, char *dst, size_t size)
{
	struct tm tm;

	if (when == (time_t)-1 || gmtime_r(&when, &tm) == NULL ||
	    strftime(dst, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(dst, size, "(unknown date)");
}

/* The issuer's distinguished name, cleaned of control characters. */
static void
issuer_name(gnutls_x509_crt_t crt, char *dst, size_t size)
{
	gnutls_datum_t dn = { NULL, 0 };

	if (gnutls_x509_crt_get_issuer_dn3(crt, &dn, 0) < 0 || dn.size == 0)
		snprintf(dst, size, "unknown");
	else
		log_sanitize(dst, size, (const char *)dn.data, dn.size);
	gnutls_free(dn.data);
}

static void
subject_name(gnutls_x509_crt_t crt, char *dst, size_t size)
{
	gnutls_datum_t dn = { NULL, 0 };

	if (gnutls_x509_crt_get_dn3(crt, &dn, 0) < 0 || dn.size == 0)
		snprintf(dst, size, "unknown");
	else
		log_sanitize(dst, size, (const char *)dn.data, dn.size);
	gnutls_free(dn.data);
}

/* Append "a / b / c" to dst (at most TLS_NAMES_SHOWN names). */
static void
append_name(char *dst, size_t size, size_t *shown, size_t *more, const char *name)
{
	size_t used = strlen(dst);

	if (*shown == TLS_NAMES_SHOWN) {
		(*more)++;
		return;
	}
	snprintf(dst + used, size - used, "%s%s", *shown ? " / " : "", name);
	(*shown)++;
}

/* The names a certificate is valid for: its DNS and IP SANs, else its CN
 * (which is what a hostname check falls back to). */
static void
cert_names(gnutls_x509_crt_t crt, char *dst, size_t size)
{
	char raw[TLS_TEXT_MAX], text[TLS_TEXT_MAX];
	size_t shown = 0, more = 0, used;

	dst[0] = '\0';
	for (unsigned i = 0;; i++) {
		size_t len = sizeof raw - 1;
		unsigned crit;
		int type = gnutls_x509_crt_get_subject_alt_name(crt, i, raw, &len, &crit);

		if (type == GNUTLS_E_SHORT_MEMORY_BUFFER)
			continue;
		if (type < 0)
			break;
		if (type == GNUTLS_SAN_DNSNAME) {
			log_sanitize(text, sizeof text, raw, len);
		} else if (type == GNUTLS_SAN_IPADDRESS && (len == 4 || len == 16)) {
			if (inet_ntop(len == 4 ? AF_INET : AF_INET6, raw, text, sizeof text) == NULL)
				continue;
		} else {
			continue;
		}
		append_name(dst, size, &shown, &more, text);
	}
	if (shown == 0) {
		size_t len = sizeof raw - 1;

		if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0,
		    raw, &len) == 0) {
			log_sanitize(text, sizeof text, raw, len);
			append_name(dst, size, &shown, &more, text);
		}
	}
	if (shown == 0)
		snprintf(dst, size, "no host name at all");
	used = strlen(dst);
	if (more)
		snprintf(dst + used, size - used, " and %zu more", more);
}

/* Import certificate i of the peer's chain; NULL if it cannot be parsed. */
static gnutls_x509_crt_t
chain_cert(const gnutls_datum_t *chain, unsigned i)
{
	gnutls_x509_crt_t crt;

	if (gnutls_x509_crt_init(&crt) < 0)
		return NULL;
	if (gnutls_x509_crt_import(crt, &chain[i], GNUTLS_X509_FMT_DER) < 0) {
		gnutls_x509_crt_deinit(crt);
		return NULL;
	}
	return crt;
}

/*
 * Turn GnuTLS's status bits into the one sentence a user needs. When several
 * problems coexist, the most fundamental is named: an untrusted issuer makes
 * every other property meaningless, and an expired certificate is more
 * actionable than the name it was issued for.
 */
static int
explain_failure(struct tls *t, const gnutls_datum_t *chain, unsigned n,
    unsigned status, struct err *e)
{
	char text[2 * TLS_TEXT_MAX], when[64];
	gnutls_x509_crt_t leaf = chain_cert(chain, 0), crt;
	time_t now = time(NULL);
	int ret;

	if (leaf == NULL)
		return err_set(e, EX_NOPERM, "certificate for %s cannot be parsed", t->host);
	if (status & GNUTLS_CERT_REVOKED) {
		ret = err_set(e, EX_NOPERM, "certificate for %s has been revoked", t->host);
	} else if (status & GNUTLS_CERT_INSECURE_ALGORITHM) {
		ret = err_set(e, EX_NOPERM, "certificate for %s is signed with an insecure "
		    "algorithm", t->host);
	} else if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA |
	    GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE)) {
		/* The top of the chain the server sent names the issuer we lack. */
		crt = n > 1 ? chain_cert(chain, n - 1) : NULL;
		issuer_name(crt ? crt : leaf, text, sizeof text);
		if (crt)
			gnutls_x509_crt_deinit(crt);
		ret = err_set(e, EX_NOPERM, "certificate for %s is not signed by a trusted "
		    "authority (issuer: %s)", t->host, text);
	} else if (status & GNUTLS_CERT_EXPIRED) {
		time_t exp = gnutls_x509_crt_get_expiration_time(leaf);

		if (exp != (time_t)-1 && exp < now) {
			format_time(exp, when, sizeof when);
			ret = err_set(e, EX_NOPERM, "certificate for %s expired on %s",
			    t->host, when);
		} else {
			/* The leaf is fine: an intermediate in the chain expired. */
			ret = err_set(e, EX_NOPERM, "a certificate in the chain for %s has "
			    "expired", t->host);
			for (unsigned i = 1; i < n; i++) {
				if ((crt = chain_cert(chain, i)) == NULL)
					continue;
				exp = gnutls_x509_crt_get_expiration_time(crt);
				if (exp != (time_t)-1 && exp < now) {
					subject_name(crt, text, sizeof text);
					format_time(exp, when, sizeof when);
					ret = err_set(e, EX_NOPERM, "issuer certificate %s in the "
					    "chain for %s expired on %s", text, t->host, when);
					i = n;
				}
				gnutls_x509_crt_deinit(crt);
			}
		}
	} else if (status & GNUTLS_CERT_NOT_ACTIVATED) {
		format_time(gnutls_x509_crt_get_activation_time(leaf), when, sizeof when);
		ret = err_set(e, EX_NOPERM, "certificate for %s is not valid before %s "
		    "(check this machine's clock)", t->host, when);
	} else if (status & GNUTLS_CERT_UNEXPECTED_OWNER) {
		cert_names(leaf, text, sizeof text);
		ret = err_set(e, EX_NOPERM, "certificate is for %s, not %s", text, t->host);
	} else if (status & GNUTLS_CERT_PURPOSE_MISMATCH) {
		ret = err_set(e, EX_NOPERM, "certificate for %s is not meant for TLS "
		    "servers (extended key usage)", t->host);
	} else {
		gnutls_datum_t out = { NULL, 0 };

		if (gnutls_certificate_verification_status_print(status,
		    GNUTLS_CRT_X509, &out, 0) == 0 && out.size)
			log_sanitize(text, sizeof text, (const char *)out.data, out.size);
		else
			snprintf(text, sizeof text, "status 0x%x", status);
		gnutls_free(out.data);
		ret = err_set(e, EX_NOPERM, "certificate for %s rejected: %s", t->host, text);
	}
	gnutls_x509_crt_deinit(leaf);
	return ret;
}

/* "AB:CD:...": the form tls_fingerprint takes and conf.c normalises to. */
static void
hex_colons(const unsigned char *v, size_t n, char *dst, size_t size)
{
	size_t used = 0;

	dst[0] = '\0';
	for (size_t i = 0; i < n && used < size; i++)
		used += (size_t)snprintf(dst + used, size - used, "%s%02X", i ? ":" : "", v[i]);
}

/* All subjectAltNames: "DNS:a.example, IP:192.0.2.1, email:x@y, URI:...". */
static void
all_names(gnutls_x509_crt_t crt, char *dst, size_t size)
{
	char raw[TLS_TEXT_MAX], text[TLS_TEXT_MAX];
	size_t used = 0;

	dst[0] = '\0';
	for (unsigned i = 0; used + 1 < size; i++) {
		size_t len = sizeof raw - 1;
		unsigned crit;
		int type = gnutls_x509_crt_get_subject_alt_name(crt, i, raw, &len, &crit);
		const char *kind;

		if (type == GNUTLS_E_SHORT_MEMORY_BUFFER)
			continue;
		if (type < 0)
			break;
		if (type == GNUTLS_SAN_IPADDRESS) {
			if ((len != 4 && len != 16) || inet_ntop(len == 4 ? AF_INET : AF_INET6,
			    raw, text, sizeof text) == NULL)
				continue;
			kind = "IP";
		} else {
			log_sanitize(text, sizeof text, raw, len);
			kind = type == GNUTLS_SAN_DNSNAME ? "DNS" : type == GNUTLS_SAN_RFC822NAME ?
			    "email" : type == GNUTLS_SAN_URI ? "URI" : "other";
		}
		used += (size_t)snprintf(dst + used, size - used, "%s%s:%s", used ? ", " : "",
		    kind, text);
	}
	if (used >= size)
		snprintf(dst + size - 4, 4, "...");
}

static void
describe_crt(gnutls_x509_crt_t crt, struct tls_cert_info *ci)
{
	unsigned char fpr[TLS_PIN_LEN];
	size_t flen = sizeof fpr;
	time_t t;

	memset(ci, 0, sizeof *ci);
	subject_name(crt, ci->subject, sizeof ci->subject);
	issuer_name(crt, ci->issuer, sizeof ci->issuer);
	t = gnutls_x509_crt_get_activation_time(crt);
	ci->not_before_t = t == (time_t)-1 ? -1 : (long long)t;
	format_time(t, ci->not_before, sizeof ci->not_before);
	t = gnutls_x509_crt_get_expiration_time(crt);
	ci->not_after_t = t == (time_t)-1 ? -1 : (long long)t;
	format_time(t, ci->not_after, sizeof ci->not_after);
	all_names(crt, ci->names, sizeof ci->names);
	if (gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, fpr, &flen) == 0 &&
	    flen == sizeof fpr)
		hex_colons(fpr, flen, ci->sha256, sizeof ci->sha256);
}

int
tls_cert_describe(const void *data, size_t len, int pem, struct tls_cert_info *ci,
    struct err *e)
{
	gnutls_datum_t d = { (unsigned char *)(uintptr_t)data, (unsigned)len };
	gnutls_x509_crt_t crt;
	int r;

	memset(ci, 0, sizeof *ci);
	if (len > UINT_MAX || gnutls_x509_crt_init(&crt) < 0)
		return err_set(e, EX_DATAERR, "cannot parse the certificate");
	r = gnutls_x509_crt_import(crt, &d, pem ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER);
	if (r < 0) {
		gnutls_x509_crt_deinit(crt);
		return err_set(e, EX_DATAERR, "cannot parse the certificate: %s",
		    gnutls_strerror(r));
	}
	describe_crt(crt, ci);
	gnutls_x509_crt_deinit(crt);
	return 0;
}

/* The handshake's outcome for o->peer, before the certificate is judged. */
static void
fill_peer(struct tls *t, struct tls_peer *p)
{
	const gnutls_datum_t *chain;
	unsigned n = 0;
	char *desc = gnutls_session_get_desc(t->sess);
	struct err ignore;

	memset(p, 0, sizeof *p);
	snprintf(p->version, sizeof p->version, "%s", tls_version_name(t));
	if (desc)
		log_sanitize(p->suite, sizeof p->suite, desc, strlen(desc));
	gnutls_free(desc);
	if (gnutls_certificate_type_get(t->sess) != GNUTLS_CRT_X509 ||
	    (chain = gnutls_certificate_get_peers(t->sess, &n)) == NULL || n == 0)
		return;
	err_init(&ignore);
	p->chain_len = n;
	p->have_cert = tls_cert_describe(chain[0].data, chain[0].size, 0, &p->cert,
	    &ignore) == 0;
}

static int
check_pin(struct tls *t, const unsigned char want[TLS_PIN_LEN],
    const gnutls_datum_t *leaf, struct err *e)
{
	unsigned char got[TLS_PIN_LEN];
	size_t len = sizeof got;
	char hex[3 * TLS_PIN_LEN + 1];

	if (gnutls_fingerprint(GNUTLS_DIG_SHA256, leaf, got, &len) < 0 || len != sizeof got)
		return err_set(e, EX_SOFTWARE, "cannot compute the certificate fingerprint");
	if (memcmp(got, want, sizeof got) == 0) {
		snprintf(t->verdict, sizeof t->verdict, "server certificate matches the "
		    "pinned SHA-256 fingerprint (CA and name not checked)");
		return 0;
	}
	hex_colons(got, sizeof got, hex, sizeof hex);
	return err_set(e, EX_NOPERM, "certificate fingerprint SHA256:%s does not match "
	    "tls_fingerprint", hex);
}

/* anchors_pick's callback: one picked anchor into the credentials. */
static int
add_anchor(void *ctx, const unsigned char *der, size_t len, struct err *e)
{
	struct tls *t = ctx;
	gnutls_datum_t d = { (unsigned char *)der, (unsigned)len };
	int r = gnutls_certificate_set_x509_trust_mem(t->cred, &d, GNUTLS_X509_FMT_DER);

	if (r < 0)
		return err_set(e, EX_CONFIG, "a trust anchor for %s cannot be used: %s", t->host,
		    gnutls_strerror(r));
	return 0;
}

/* The raw issuer and subject Names of every certificate in the chain,
 * into dn/len (2 * n entries, malloc'd; *k used). */
static void
chain_names(const gnutls_datum_t *chain, unsigned n, gnutls_datum_t *dn, size_t *k)
{
	*k = 0;
	for (unsigned i = 0; i < n; i++) {
		gnutls_x509_crt_t crt = chain_cert(chain, i);

		if (crt == NULL)
			continue;
		if (gnutls_x509_crt_get_raw_issuer_dn(crt, &dn[*k]) == 0)
			(*k)++;
		if (gnutls_x509_crt_get_raw_dn(crt, &dn[*k]) == 0)
			(*k)++;
		gnutls_x509_crt_deinit(crt);
	}
}

/* Map a trust file: *len octets at the result, or NULL with *e. */
static void *
map_trust_file(const char *path, const char *what, size_t *len, struct err *e)
{
	struct stat st;
	void *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		err_set(e, EX_NOINPUT, "cannot read %s %s: %s", what, path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    st.st_size > TLS_TRUST_FILE_MAX) {
		err_set(e, EX_CONFIG, "%s %s is not a PEM file of certificates", what, path);
		close(fd);
		return NULL;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		err_set(e, EX_NOINPUT, "cannot read %s %s: %s", what, path, strerror(errno));
		return NULL;
	}
	*len = (size_t)st.st_size;
	return p;
}

/*
 * Load the anchors the chain can use from path (anchors.h): only the
 * certificates named as an issuer or subject in the chain. GnuTLS then
 * verifies against them exactly as against the whole file.
 */
static int
pick_anchors(struct tls *t, const char *path, const char *what,
    const gnutls_datum_t *chain, unsigned n, struct err *e)
{
	gnutls_datum_t *dn = calloc(2 * (size_t)n + 1, sizeof *dn);
	const unsigned char **dnp = calloc(2 * (size_t)n + 1, sizeof *dnp);
	size_t *dnl = calloc(2 * (size_t)n + 1, sizeof *dnl);
	struct anchor_names names;
	size_t len = 0, k = 0, picked = 0;
	void *pem = NULL;
	int blocks = -1;

	if (dn == NULL || dnp == NULL || dnl == NULL) {
		err_set(e, EX_OSERR, "out of memory");
		goto done;
	}
	chain_names(chain, n, dn, &k);
	for (size_t i = 0; i < k; i++) {
		dnp[i] = dn[i].data;
		dnl[i] = dn[i].size;
	}
	names.dn = dnp;
	names.len = dnl;
	names.n = k;
	if ((pem = map_trust_file(path, what, &len, e)) == NULL)
		goto done;
	blocks = anchors_pick(pem, len, &names, add_anchor, t, &picked, e);
	if (blocks == 0)
		err_set(e, EX_CONFIG, "%s %s holds no PEM certificates", what, path);
	else if (blocks > 0)
		snprintf(t->anchors, sizeof t->anchors, "; %zu of %d trust anchors of %s used",
		    picked, blocks, path);
done:
	if (pem)
		munmap(pem, len);
	for (size_t i = 0; dn && i < k; i++)
		gnutls_free(dn[i].data);
	free(dn);
	free(dnp);
	free(dnl);
	return blocks > 0 ? 0 : -1;
}

/* The anchors o asks for, into t's credentials, for chain. */
static int
load_anchors(struct tls *t, const struct tls_opts *o, const gnutls_datum_t *chain, unsigned n,
    struct err *e)
{
	int r;

	if (o->trust_file && strcmp(o->trust_file, "system") != 0)
		return pick_anchors(t, o->trust_file, "tls_trust_file", chain, n, e);
	if (access(TLS_SYSTEM_BUNDLE, R_OK) == 0)
		return pick_anchors(t, TLS_SYSTEM_BUNDLE, "the system trust store", chain, n, e);
	r = gnutls_certificate_set_x509_system_trust(t->cred);
	if (r <= 0)
		return err_set(e, EX_OSFILE, "cannot load the system trust store (%s); install "
		    "ca-certificates or set tls_trust_file",
		    r < 0 ? gnutls_strerror(r) : "no certificates");
	return 0;
}

static int
verify(struct tls *t, const struct tls_opts *o, const unsigned char *pin, struct err *e)
{
	const gnutls_datum_t *chain;
	unsigned n = 0, status = 0;
	gnutls_typed_vdata_st vd[2];
	char issuer[TLS_TEXT_MAX];
	gnutls_x509_crt_t leaf;
	int r;

	if (!o->certcheck) {
		snprintf(t->verdict, sizeof t->verdict,
		    "server certificate NOT verified (tls_certcheck off)");
		return 0;
	}
	if (t->resumed) {
		/* Only the server that took part in the earlier session can
		 * complete a resumption of it (the PSK binder and Finished),
		 * and that session was verified under these options. */
		snprintf(t->verdict, sizeof t->verdict, "session resumed: %s proved it is "
		    "the server verified before", t->host);
		t->verified = 1;
		return 0;
	}
	if (gnutls_certificate_type_get(t->sess) != GNUTLS_CRT_X509 ||
	    (chain = gnutls_certificate_get_peers(t->sess, &n)) == NULL || n == 0)
		return err_set(e, EX_NOPERM, "%s sent no X.509 certificate", t->host);
	if (pin) {
		if (check_pin(t, pin, &chain[0], e) < 0)
			return -1;
		t->verified = 1;
		return 0;
	}

	memset(vd, 0, sizeof vd);
	if (t->ip_len) {
		vd[0].type = GNUTLS_DT_IP_ADDRESS;
		vd[0].data = t->ip;
		vd[0].size = (unsigned)t->ip_len;
	} else {
		vd[0].type = GNUTLS_DT_DNS_HOSTNAME;
		vd[0].data = (unsigned char *)t->host;
	}
	vd[1].type = GNUTLS_DT_KEY_PURPOSE_OID;
	vd[1].data = (unsigned char *)GNUTLS_KP_TLS_WWW_SERVER;
	if (load_anchors(t, o, chain, n, e) < 0)
		return -1;
	r = gnutls_certificate_verify_peers(t->sess, vd, 2, &status);
	if (r < 0)
		return err_set(e, EX_NOPERM, "cannot verify the certificate of %s: %s",
		    t->host, gnutls_strerror(r));
	if (status != 0)
		return explain_failure(t, chain, n, status, e);

	leaf = chain_cert(chain, 0);
	if (leaf) {
		issuer_name(leaf, issuer, sizeof issuer);
		gnutls_x509_crt_deinit(leaf);
	} else {
		snprintf(issuer, sizeof issuer, "unknown");
	}
	snprintf(t->verdict, sizeof t->verdict, "server certificate for %s verified "
	    "(issuer: %s)", t->host, issuer);
	t->verified = 1;
	return 0;
}

int
tls_client_start(struct tls **tp, int fd, const struct tls_opts *o, struct err *e)
{
	unsigned char pin[TLS_PIN_LEN];
	const char *prio = o->priorities ? o->priorities : TLS_DEFAULT_PRIORITIES;
	const char *errpos = NULL;
	struct tls *t;
	int r;

	*tp = NULL;
	t = calloc(1, sizeof *t);
	if (t == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	t->fd = fd;
	if (prepare_host(t, o->host, e) < 0)
		goto fail;
	if (o->certcheck && o->fingerprint && parse_pin(o->fingerprint, pin, e) < 0)
		goto fail;
	if (load_credentials(t, o, e) < 0)
		goto fail;
	/* GNUTLS_NO_SIGNAL: a peer that vanished must not kill envoi with
	 * SIGPIPE; it is an error to report. */
	r = gnutls_init(&t->sess, GNUTLS_CLIENT | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
	if (r < 0) {
		t->sess = NULL;
		err_set(e, EX_OSERR, "TLS setup failed: %s", gnutls_strerror(r));
		goto fail;
	}
	r = gnutls_priority_set_direct(t->sess, prio, &errpos);
	if (r < 0) {
		err_set(e, EX_CONFIG, "invalid tls_priorities \"%s\" (at \"%s\"): %s", prio,
		    errpos ? errpos : "", gnutls_strerror(r));
		goto fail;
	}
	r = gnutls_credentials_set(t->sess, GNUTLS_CRD_CERTIFICATE, t->cred);
	if (r < 0) {
		err_set(e, EX_OSERR, "TLS setup failed: %s", gnutls_strerror(r));
		goto fail;
	}
	/* RFC 6066: literal IP addresses are not permitted in SNI. */
	if (t->ip_len == 0) {
		r = gnutls_server_name_set(t->sess, GNUTLS_NAME_DNS, t->host, strlen(t->host));
		if (r < 0) {
			err_set(e, EX_OSERR, "TLS setup failed: %s", gnutls_strerror(r));
			goto fail;
		}
	}
	/* Resumption only where the result is verified as it would be
	 * without it; never for --serverinfo, which shows the certificate. */
	if (o->resume && o->resume_len && o->certcheck && o->peer == NULL)
		(void)gnutls_session_set_data(t->sess, o->resume, o->resume_len);
	gnutls_transport_set_int(t->sess, fd);
	if (handshake(t, o->timeout_ms, e) < 0)
		goto fail;
	t->established = 1;
	t->resumed = gnutls_session_is_resumed(t->sess) != 0;
	if (o->peer)
		fill_peer(t, o->peer);
	if (verify(t, o, o->certcheck && o->fingerprint ? pin : NULL, e) < 0) {
		/* Tell the server why we leave; no close_notify after that. */
		gnutls_alert_send(t->sess, GNUTLS_AL_FATAL, GNUTLS_A_BAD_CERTIFICATE);
		t->established = 0;
		goto fail;
	}
	if (o->peer)
		snprintf(o->peer->verdict, sizeof o->peer->verdict, "%s", t->verdict);
	*tp = t;
	return 0;
fail:
	tls_close(t);
	return -1;
}

/* The reason a record operation failed, with the server's alert named. */
static int
io_failure(struct tls *t, int r, struct err *e)
{
	if (r == GNUTLS_E_FATAL_ALERT_RECEIVED)
		return err_set(e, EX_TEMPFAIL, "connection lost: the server sent the "
		    "TLS alert \"%s\"", gnutls_alert_get_name(gnutls_alert_get(t->sess)));
	/* A transport error: the system's reason (EPIPE, ECONNRESET) says
	 * more than GnuTLS's "Error in the push function", or its "non-properly
	 * terminated" for a reset while sending. */
	if ((r == GNUTLS_E_PUSH_ERROR || r == GNUTLS_E_PULL_ERROR ||
	    r == GNUTLS_E_PREMATURE_TERMINATION) && errno)
		return err_set(e, EX_TEMPFAIL, "connection lost: %s", strerror(errno));
	return err_set(e, EX_TEMPFAIL, "connection lost: %s", gnutls_strerror(r));
}

ssize_t
tls_recv(struct tls *t, void *buf, size_t n, long long deadline, struct err *e)
{
	for (;;) {
		ssize_t r;
		int w;

		/* Receiving before polling returns what GnuTLS already holds
		 * decrypted (gnutls_record_check_pending) without waiting. */
		errno = 0;
		sock_quickack(t->fd);
		r = gnutls_record_recv(t->sess, buf, n);
		if (r >= 0)
			return r;
		if (r == GNUTLS_E_PREMATURE_TERMINATION)
			return 0;       /* closed without close_notify: still an EOF */
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			w = sock_wait_fd(t->fd, blocked_direction(t->sess), deadline);
			if (w == 0)
				return TLS_TIMEOUT;
			if (w < 0)
				return err_set(e, EX_TEMPFAIL, "connection lost: %s",
				    strerror(errno));
			continue;
		}
		/* Non-fatal: a renegotiation request (ignored: we never
		 * renegotiate) or a warning alert. */
		if (!gnutls_error_is_fatal((int)r)) {
			if (deadline && sock_now_ms() >= deadline)
				return TLS_TIMEOUT;
			continue;
		}
		return io_failure(t, (int)r, e);
	}
}

int
tls_send(struct tls *t, const void *buf, size_t n, long long deadline, struct err *e)
{
	const char *p = buf;
	size_t off = 0;

	while (off < n) {
		ssize_t r;
		int w;

		/* GnuTLS cuts records at 16 KiB itself; hand it everything so
		 * one write becomes as few records as possible. */
		errno = 0;
		r = gnutls_record_send(t->sess, p + off, n - off);
		if (r > 0) {
			off += (size_t)r;
			continue;
		}
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			/* Retried with the same arguments, as GnuTLS requires. */
			w = sock_wait_fd(t->fd, POLLOUT, deadline);
			if (w == 0)
				return TLS_TIMEOUT;
			if (w < 0)
				return err_set(e, EX_TEMPFAIL, "connection lost: %s",
				    strerror(errno));
			continue;
		}
		return io_failure(t, (int)r, e);
	}
	return 0;
}

int
tls_channel_binding(struct tls *t, const char **type, unsigned char **data, size_t *len)
{
	gnutls_datum_t cb = { NULL, 0 };
	gnutls_channel_binding_t kind;

	*data = NULL;
	*len = 0;
	if (gnutls_protocol_get_version(t->sess) == GNUTLS_TLS1_3) {
		kind = GNUTLS_CB_TLS_EXPORTER;
		*type = "tls-exporter";
	} else {
		/* Without the extended master secret a man in the middle can
		 * make two sessions share tls-unique (triple handshake). */
		if (!gnutls_session_ext_master_secret_status(t->sess))
			return -1;
		kind = GNUTLS_CB_TLS_UNIQUE;
		*type = "tls-unique";
	}
	if (gnutls_session_channel_binding(t->sess, kind, &cb) < 0 || cb.size == 0) {
		gnutls_free(cb.data);
		return -1;
	}
	*data = malloc(cb.size);
	if (*data == NULL) {
		gnutls_free(cb.data);
		return -1;
	}
	memcpy(*data, cb.data, cb.size);
	*len = cb.size;
	gnutls_free(cb.data);
	return 0;
}

const char *
tls_version_name(const struct tls *t)
{
	const char *name = gnutls_protocol_get_name(gnutls_protocol_get_version(t->sess));

	return name ? name : "TLS";
}

void
tls_describe(const struct tls *t, char *dst, size_t size)
{
	const char *cipher = gnutls_cipher_get_name(gnutls_cipher_get(t->sess));

	snprintf(dst, size, "%s %s, %s%s", tls_version_name(t), cipher ? cipher : "",
	    t->verdict, t->anchors);
}

int
tls_session_export(struct tls *t, void **data, size_t *len)
{
	gnutls_datum_t d = { NULL, 0 };

	*data = NULL;
	*len = 0;
	/* Without the ticket flag GnuTLS would wait a round trip for one,
	 * then return data that cannot resume. */
	if (t == NULL || !t->verified || gnutls_protocol_get_version(t->sess) != GNUTLS_TLS1_3 ||
	    !(gnutls_session_get_flags(t->sess) & GNUTLS_SFLAGS_SESSION_TICKET) ||
	    gnutls_session_get_data2(t->sess, &d) < 0 || d.size == 0)
		return -1;
	*data = malloc(d.size);
	if (*data) {
		memcpy(*data, d.data, d.size);
		*len = d.size;
	}
	mem_wipe(d.data, d.size);
	gnutls_free(d.data);
	return *data ? 0 : -1;
}

int
tls_resumed(const struct tls *t)
{
	return t && t->resumed;
}

void
tls_close(struct tls *t)
{
	if (t == NULL)
		return;
	if (t->sess) {
		/* SHUT_WR: send close_notify and do not wait for the server's;
		 * the fd is non-blocking, so a full buffer just skips it. */
		if (t->established)
			gnutls_bye(t->sess, GNUTLS_SHUT_WR);
		gnutls_deinit(t->sess);
	}
	if (t->cred)
		gnutls_certificate_free_credentials(t->cred);
	free(t);
}
