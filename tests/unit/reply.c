/* Unit tests for src/reply.c: reply lines, multi-line replies, enhanced
 * codes, summaries and EHLO capability parsing. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "reply.h"
#include "tap.h"

/* Feed a reply given as lines separated by '|'; returns the last result. */
static int
feed(struct reply *r, const char *lines, struct err *e)
{
	const char *p = lines;
	int ret = -1;

	reply_reset(r);
	for (;;) {
		size_t n = strcspn(p, "|");
		ret = reply_feed(r, p, n, e);
		if (ret < 0 || p[n] == '\0')
			return ret;
		p += n + 1;
	}
}

static void
test_lines(void)
{
	static const struct {
		const char *in;     /* lines separated by '|' */
		int ret;            /* of the last reply_feed */
		int code;
		const char *enh;
		const char *text;
		int nlines;
	} cases[] = {
		{ "220 mx.example.org ESMTP", 1, 220, "", "mx.example.org ESMTP", 1 },
		{ "250", 1, 250, "", "", 1 },
		{ "250 ", 1, 250, "", "", 1 },
		{ "354 go ahead", 1, 354, "", "go ahead", 1 },
		{ "250-mx|250-PIPELINING|250 SIZE 100", 1, 250, "", "mx\nPIPELINING\nSIZE 100", 3 },
		{ "250-mx|250-PIPELINING", 0, 250, "", "mx\nPIPELINING", 2 },
		{ "550 5.1.1 user unknown", 1, 550, "5.1.1", "5.1.1 user unknown", 1 },
		{ "450 4.2.0", 1, 450, "4.2.0", "4.2.0", 1 },
		{ "554 5.7.123 blocked", 1, 554, "5.7.123", "5.7.123 blocked", 1 },
		{ "550 5.1.1x not enhanced", 1, 550, "", "5.1.1x not enhanced", 1 },
		{ "550 3.1.1 bad class", 1, 550, "", "3.1.1 bad class", 1 },
		{ "550 5.1234.1 too many digits", 1, 550, "", "5.1234.1 too many digits", 1 },
		{ "550 5..1 empty subject", 1, 550, "", "5..1 empty subject", 1 },
		{ "334 ", 1, 334, "", "", 1 },
		{ "334 dXNlcm5hbWU6", 1, 334, "", "dXNlcm5hbWU6", 1 },
		{ "599 top", 1, 599, "", "top", 1 },
		{ "200 bottom", 1, 200, "", "bottom", 1 },
		/* malformed */
		{ "", -1, 0, "", "", 0 },
		{ "25", -1, 0, "", "", 0 },
		{ "2x0 bad", -1, 0, "", "", 0 },
		{ "abc", -1, 0, "", "", 0 },
		{ "199 low", -1, 0, "", "", 0 },
		{ "600 high", -1, 0, "", "", 0 },
		{ "099 low", -1, 0, "", "", 0 },
		{ "250_x", -1, 0, "", "", 0 },
		{ "2500 four digits", -1, 0, "", "", 0 },
		{ " 250 leading space", -1, 0, "", "", 0 },
		{ "250-a|251 b", -1, 250, "", "a", 1 },
		{ "250-a|250x b", -1, 250, "", "a", 1 },
	};
	struct reply r;
	struct err e;

	reply_init(&r);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		err_init(&e);
		int ret = feed(&r, cases[i].in, &e);
		is_int(ret, cases[i].ret, "\"%s\" -> %d", cases[i].in, cases[i].ret);
		if (ret < 0) {
			is_int(e.ex, EX_PROTOCOL, "\"%s\" is EX_PROTOCOL", cases[i].in);
			ok(strstr(e.msg, "malformed server reply") != NULL, "message: %s", e.msg);
		}
		is_int(r.code, cases[i].code, "\"%s\" code", cases[i].in);
		is_str(r.enh, cases[i].enh, "\"%s\" enhanced code", cases[i].in);
		is_str(buf_cstr(&r.text), cases[i].text, "\"%s\" text", cases[i].in);
		is_int(r.nlines, cases[i].nlines, "\"%s\" lines", cases[i].in);
		is_int(r.complete, ret == 1, "\"%s\" complete flag", cases[i].in);
	}
	reply_free(&r);
}

static void
test_limits(void)
{
	struct reply r;
	struct err e;
	char *line = malloc(REPLY_LINE_MAX + 2);

	reply_init(&r);
	err_init(&e);
	memset(line, 'x', REPLY_LINE_MAX + 1);
	memcpy(line, "250 ", 4);
	is_int(reply_feed(&r, line, REPLY_LINE_MAX, &e), 1, "a line of exactly REPLY_LINE_MAX is accepted");
	is_int(reply_feed(&r, line, REPLY_LINE_MAX + 1, &e), -1, "one byte more is refused");
	ok(strstr(e.msg, "line too long") != NULL, "... saying so: %.60s", e.msg);
	ok(strlen(e.msg) < 300, "... quoting only the start of the line");

	reply_reset(&r);
	int ret = 0;
	for (int i = 0; i < REPLY_LINES_MAX - 1; i++)
		ret = reply_feed(&r, "250-x", 5, &e);
	is_int(ret, 0, "%d continuation lines awaited", REPLY_LINES_MAX - 1);
	is_int(reply_feed(&r, "250 x", 5, &e), 1, "line %d completes the reply", REPLY_LINES_MAX);
	reply_reset(&r);
	for (int i = 0; i < REPLY_LINES_MAX; i++)
		ret = reply_feed(&r, "250-x", 5, &e);
	is_int(ret, 0, "%d continuation lines", REPLY_LINES_MAX);
	is_int(reply_feed(&r, "250 x", 5, &e), -1, "line %d is one too many", REPLY_LINES_MAX + 1);
	ok(strstr(e.msg, "too many lines") != NULL, "... saying so: %s", e.msg);

	/* control characters are quoted sanitised */
	is_int(reply_feed(&r, "2\x1b[0m", 6, &e), -1, "escape sequence refused");
	ok(strchr(e.msg, '\x1b') == NULL, "no escape byte in the message");

	/* a complete reply is restarted by the next line */
	reply_reset(&r);
	reply_feed(&r, "250 one", 7, &e);
	is_int(reply_feed(&r, "354 two", 7, &e), 1, "feeding after completion starts a new reply");
	is_int(r.code, 354, "... with the new code");
	is_str(buf_cstr(&r.text), "two", "... and only the new text");
	free(line);
	reply_free(&r);
}

static void
test_summary(void)
{
	static const struct {
		const char *in;
		size_t size;
		const char *want;
	} cases[] = {
		{ "550 5.1.1 user unknown", 128, "550 5.1.1 user unknown" },
		{ "250", 128, "250" },
		{ "550-5.1.1 The account|550-5.1.1 does not exist.|550 5.1.1 See https://x", 128,
		  "550 5.1.1 The account; does not exist.; See https://x" },
		{ "554-first|554-|554 third", 128, "554 first; third" },
		{ "550 bad\tbyte\x7f", 128, "550 bad?byte?" },
		{ "550 5.1.1 user unknown", 12, "550 5.1...." },
		{ "550 5.1.1 user unknown", 23, "550 5.1.1 user unknown" },
		{ "421-4.3.2 a|421 4.3.2", 128, "421 4.3.2 a" },
	};
	struct reply r;
	struct err e;
	char dst[128];

	reply_init(&r);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		is_int(feed(&r, cases[i].in, &e), 1, "summary case %zu parses", i);
		is_str(reply_summary(&r, dst, cases[i].size), cases[i].want, "summary of \"%s\" in %zu",
		       cases[i].in, cases[i].size);
	}
	reply_free(&r);
}

static void
test_caps(void)
{
	static const struct {
		const char *in;
		int pipelining, starttls, eightbit, utf8, dsn, enh, chunking, size_set;
		unsigned long long size;
		const char *auth;
	} cases[] = {
		{ "250-mx.example.org Hello|250-PIPELINING|250-SIZE 10240000|250-STARTTLS|"
		  "250-AUTH PLAIN LOGIN|250-ENHANCEDSTATUSCODES|250-8BITMIME|250-DSN|"
		  "250-SMTPUTF8|250 CHUNKING",
		  1, 1, 1, 1, 1, 1, 1, 1, 10240000, "PLAIN LOGIN" },
		{ "250 mx.example.org", 0, 0, 0, 0, 0, 0, 0, 0, 0, "" },
		/* the greeting line is not a keyword even if it looks like one */
		{ "250-STARTTLS|250 SIZE", 0, 0, 0, 0, 0, 0, 0, 1, 0, "" },
		{ "250-mx|250-pipelining|250-starttls|250-Auth plain cram-md5|250 size 0",
		  1, 1, 0, 0, 0, 0, 0, 1, 0, "PLAIN CRAM-MD5" },
		{ "250-mx|250-AUTH=LOGIN PLAIN|250-AUTH LOGIN PLAIN XOAUTH2|250 8bitmime",
		  0, 0, 1, 0, 0, 0, 0, 0, 0, "LOGIN PLAIN XOAUTH2" },
		{ "250-mx|250-AUTH=LOGIN|250 OK", 0, 0, 0, 0, 0, 0, 0, 0, 0, "LOGIN" },
		{ "250-mx|250-SIZE junk|250-XFOO bar|250-|250-   |250- PIPELINING|250 STARTTLSX",
		  1, 0, 0, 0, 0, 0, 0, 1, 0, "" },
		{ "250-mx|250-SIZE 99999999999999999999999|250 AUTH SCRAM-SHA-256-PLUS b@d PLAIN",
		  0, 0, 0, 0, 0, 0, 0, 1, 0, "SCRAM-SHA-256-PLUS PLAIN" },
		{ "250-mx|250-SIZE   52428800  |250 AUTH", 0, 0, 0, 0, 0, 0, 0, 1, 52428800, "" },
		{ "250-mx|250-AUTH THIS-NAME-IS-LONGER-THAN-20 EXTERNAL|250 AUTHX PLAIN",
		  0, 0, 0, 0, 0, 0, 0, 0, 0, "EXTERNAL" },
		/* a refused EHLO has no capabilities */
		{ "502 5.5.2 PIPELINING", 0, 0, 0, 0, 0, 0, 0, 0, 0, "" },
	};
	struct reply r;
	struct caps c;
	struct err e;

	reply_init(&r);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *in = cases[i].in;

		is_int(feed(&r, in, &e), 1, "caps case %zu parses", i);
		memset(&c, 0xff, sizeof c);
		caps_parse(&c, &r);
		is_int(c.pipelining, cases[i].pipelining, "%zu: PIPELINING", i);
		is_int(c.starttls, cases[i].starttls, "%zu: STARTTLS", i);
		is_int(c.eightbitmime, cases[i].eightbit, "%zu: 8BITMIME", i);
		is_int(c.smtputf8, cases[i].utf8, "%zu: SMTPUTF8", i);
		is_int(c.dsn, cases[i].dsn, "%zu: DSN", i);
		is_int(c.enhancedstatuscodes, cases[i].enh, "%zu: ENHANCEDSTATUSCODES", i);
		is_int(c.chunking, cases[i].chunking, "%zu: CHUNKING", i);
		is_int(c.size_set, cases[i].size_set, "%zu: SIZE offered", i);
		is_int(c.size, cases[i].size, "%zu: SIZE limit", i);
		is_str(c.auth, cases[i].auth, "%zu: AUTH mechanisms", i);
	}

	/* ETRN (--rmqs) */
	reply_reset(&r);
	is_int(feed(&r, "250-mx|250-etrn|250 PIPELINING", &e), 1, "ETRN caps parse");
	caps_parse(&c, &r);
	is_int(c.etrn, 1, "ETRN offered (any case)");
	reply_reset(&r);
	feed(&r, "250-mx|250 ETRNX", &e);
	caps_parse(&c, &r);
	is_int(c.etrn, 0, "ETRNX is not ETRN");

	/* many mechanisms: the list stays bounded and well-formed */
	reply_reset(&r);
	reply_feed(&r, "250-mx", 6, &e);
	for (int i = 0; i < 60; i++) {
		char line[64];
		int n = snprintf(line, sizeof line, "250-AUTH MECHANISM-NUMBER-%02d", i);
		reply_feed(&r, line, (size_t)n, &e);
	}
	is_int(reply_feed(&r, "250 OK", 6, &e), 1, "60 AUTH lines parse");
	caps_parse(&c, &r);
	ok(strlen(c.auth) < sizeof c.auth, "mechanism list bounded (%zu bytes)", strlen(c.auth));
	ok(strncmp(c.auth, "MECHANISM-NUMBER-00 MECHANISM-NUMBER-01", 39) == 0, "first ones kept");
	ok(c.auth[strlen(c.auth) - 1] != ' ', "no trailing separator");
	reply_free(&r);
}

int
main(void)
{
	test_lines();
	test_limits();
	test_summary();
	test_caps();
	return done_testing();
}
