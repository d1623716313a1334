/*
 * Fuzz target: server reply lines (reply_feed), their summary and the
 * EHLO capabilities read from a complete reply (caps_parse).
 * Input: lines separated by '\n' (a '\r' before it stays part of the line).
 * Checks: a complete reply has a code in 200-599 and at most
 * REPLY_LINES_MAX lines; the summary is one NUL-terminated line of
 * printable text that fits; caps fields are sane.
 */
#include "fuzz.h"

#include "err.h"
#include "reply.h"

static void
check_reply(const struct reply *r)
{
	char sum[600];
	struct caps c;

	FUZZ_CHECK(r->code >= 200 && r->code <= 599, "code %d", r->code);
	FUZZ_CHECK(r->nlines >= 1 && r->nlines <= REPLY_LINES_MAX, "%d lines", r->nlines);
	FUZZ_CHECK(memchr(r->enh, '\0', sizeof r->enh) != NULL, "enh unterminated");
	reply_summary(r, sum, sizeof sum);
	FUZZ_CHECK(strlen(sum) < sizeof sum, "summary overflow");
	for (const char *s = sum; *s; s++)
		FUZZ_CHECK((unsigned char)*s >= 0x20 && *s != 0x7f, "control byte 0x%02x in summary",
		    (unsigned char)*s);
	caps_parse(&c, r);
	FUZZ_CHECK(memchr(c.auth, '\0', sizeof c.auth) != NULL, "auth unterminated");
	if (r->code / 100 != 2)
		FUZZ_CHECK(!c.pipelining && !c.starttls && !c.auth[0], "caps from a %d reply", r->code);
	for (const char *s = c.auth; *s; s++)
		FUZZ_CHECK(*s == ' ' || (*s > 0x20 && *s < 0x7f && !(*s >= 'a' && *s <= 'z')),
		    "odd byte in AUTH list '%s'", c.auth);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct reply r;
	struct err e;

	reply_init(&r);
	while (in.n > 0) {
		size_t len;
		const char *line = fuzz_field(&in, '\n', &len);
		int rc;

		err_init(&e);
		rc = reply_feed(&r, line, len, &e);
		FUZZ_CHECK(rc >= -1 && rc <= 1, "rc %d", rc);
		if (rc == 1)
			check_reply(&r);
		else if (rc < 0) {
			FUZZ_CHECK(e.ex != 0 && e.msg[0], "error without a message");
			for (const char *s = e.msg; *s; s++)
				FUZZ_CHECK(*s != '\n' && *s != '\r', "line break in error");
			reply_reset(&r);
		}
	}
	reply_free(&r);
	return 0;
}
