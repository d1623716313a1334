/*
 * Fuzz target: the bounce writer (bounce.h) on an arbitrary original and
 * arbitrary reply texts. Input: the recipient's address, its status, the
 * server's reply and the envelope id, each ended by a NUL, then an option
 * byte (action, whole original or headers only), then the original
 * (its CRs dropped: a spool holds none outside CRLF).
 * Checks: the bounce has CRLF lines only, none over 998 octets, and its
 * delivery-status part is 7-bit.
 */
#include "fuzz.h"

#include "bounce.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	char *addr = fuzz_str(&in, '\0'), *status = fuzz_str(&in, '\0');
	char *diag = fuzz_str(&in, '\0'), *envid = fuzz_str(&in, '\0');
	unsigned opt = fuzz_byte(&in);
	struct bounce_rcpt r = { addr[0] ? addr : "bob@example.com", status, diag,
		opt & 1 ? "delayed" : "failed" };
	struct bounce_info b;
	unsigned long long n = 0;
	struct err e;
	char *o = malloc(in.n + in.n / 998 + 2);
	size_t on = 0, col = 0;
	int orig, out;

	/* The original in spool form as far as CR and length go: message.c
	 * never leaves a lone CR nor a line over 998 octets (it refuses the
	 * message), and bounce_write repairs bare LFs itself. */
	for (size_t i = 0; i < in.n; i++) {
		if (in.p[i] == '\r')
			continue;
		if (col == 998 && in.p[i] != '\n') {
			o[on++] = '\n';
			col = 0;
		}
		o[on++] = (char)in.p[i];
		col = in.p[i] == '\n' ? 0 : col + 1;
	}
	orig = fuzz_memfd(o, on);
	out = fuzz_memfd("", 0);
	free(o);

	memset(&b, 0, sizeof b);
	b.reporting_mta = "host.example.org";
	b.smarthost = opt & 2 ? "mail.example.org" : NULL;
	b.from_addr = "MAILER-DAEMON@example.org";
	b.to_addr = "alice@example.org";
	b.queue_id = "20260101000000abcdef01";
	b.envid = envid[0] ? envid : NULL;
	b.arrival = opt & 4 ? 1767225600 : 0;
	b.reason = "the server refused the message permanently";
	b.rcpts = &r;
	b.nrcpts = 1;
	b.domain = "example.org";
	err_init(&e);
	if (bounce_write(out, orig, on, opt & 8 ? 64 : BOUNCE_FULL_MAX_DEFAULT, &b, &n, &e) == 0) {
		size_t len;
		char *s = fuzz_slurp(out, &len);
		const char *ds = strstr(s, "\r\nContent-Type: message/delivery-status\r\n");
		FUZZ_CHECK(len == n, "size %llu, wrote %zu", n, len);
		for (size_t i = 0, start = 0; i < len; i++) {
			if (s[i] == '\n') {
				FUZZ_CHECK(i > 0 && s[i - 1] == '\r', "bare LF at %zu", i);
				FUZZ_CHECK(i - start <= 999, "line of %zu octets", i - start - 1);
				start = i + 1;
			} else if (s[i] == '\r') {
				FUZZ_CHECK(i + 1 < len && s[i + 1] == '\n', "bare CR at %zu", i);
			}
		}
		FUZZ_CHECK(ds != NULL, "no delivery-status part");
		const char *end = strstr(ds, "\r\nContent-Type: message/rfc822\r\n");
		if (end == NULL)
			end = strstr(ds, "\r\nContent-Type: text/rfc822-headers\r\n");
		for (const char *p = ds; end && p < end; p++)
			FUZZ_CHECK((unsigned char)*p < 0x80, "8-bit byte in the report part");
		free(s);
	} else {
		FUZZ_CHECK(e.ex != 0 && e.ex != EX_SOFTWARE, "ex %d: %s", e.ex, e.msg);
	}
	close(orig);
	close(out);
	free(addr);
	free(status);
	free(diag);
	free(envid);
	return 0;
}
