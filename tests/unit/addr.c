/* Unit tests for src/addr.c: address-list syntax, dedup, envelope checks,
 * qualification and IDN forms. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "buf.h"
#include "err.h"
#include "tap.h"

/* A printable rendering of s for a test description: TAP lines must not
 * break. Rotates through a few buffers so one printf can use several. */
static const char *
show(const char *s)
{
	static char bufs[4][256];
	static int next;
	char *out = bufs[next++ % 4];
	size_t o = 0;

	for (; *s && o + 5 < sizeof bufs[0]; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(out + o, sizeof bufs[0] - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

/* The list joined with '|', for comparing against a table. */
static void
join_list(const struct addr_list *l, char *out, size_t size)
{
	size_t off = 0;

	out[0] = '\0';
	for (size_t i = 0; i < l->n && off < size; i++)
		off += (size_t)snprintf(out + off, size - off, "%s%s", i ? "|" : "", l->v[i]);
}

static void
test_parse_list(void)
{
	static const struct {
		const char *in;
		const char *want;       /* NULL: a syntax error is expected */
	} cases[] = {
		{ "bob@example.org", "bob@example.org" },
		{ "Bob <bob@example.org>", "bob@example.org" },
		{ "\"Smith, Bob\" <bob@example.org>, carol@example.net",
		  "bob@example.org|carol@example.net" },
		{ "bob@example.org (Bob (the (nested) builder))", "bob@example.org" },
		{ "(lead) bob(mid)@(x)example.org", "bob@example.org" },
		{ "undisclosed-recipients:;", "" },
		{ "undisclosed-recipients: ;", "" },
		{ "Friends: a@x.org, B <b@y.org>;, c@z.org", "a@x.org|b@y.org|c@z.org" },
		{ "Friends: a@x.org", "a@x.org" },
		{ "root", "root" },
		{ "root (Cron Daemon)", "root" },
		{ "Cron Daemon <root>", "root" },
		{ "\"john doe\"@example.org", "\"john doe\"@example.org" },
		{ "\"bob\"@example.org", "bob@example.org" },
		{ "\"b\\\"ob\"@example.org", "\"b\\\"ob\"@example.org" },
		{ "bob@example.org,\r\n carol@example.org", "bob@example.org|carol@example.org" },
		{ "Bob\r\n <bob@example.org>", "bob@example.org" },
		{ "john . doe @ example . org", "john.doe@example.org" },
		{ "<@relay.example,@r2.example:bob@example.org>", "bob@example.org" },
		{ "bob@[192.0.2.1]", "bob@[192.0.2.1]" },
		{ ", , bob@x.org,", "bob@x.org" },
		{ "", "" },
		{ "  (only a comment) ", "" },
		{ "bob@x.org, bob@X.ORG, Bob <bob@x.Org>", "bob@x.org" },
		{ "bob@x.org, BOB@x.org", "bob@x.org|BOB@x.org" },
		{ "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a",
		  "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a" },
		{ "J\xc3\xb6rg <j\xc3\xb6rg@b\xc3\xbc" "cher.example>",
		  "j\xc3\xb6rg@b\xc3\xbc" "cher.example" },
		/* errors */
		{ "Bob Smith", NULL },
		{ "bob@x.org carol@y.org", NULL },
		{ "<bob@x.org", NULL },
		{ "Bob <bob@x.org", NULL },
		{ "<>", NULL },
		{ "Nobody <>", NULL },
		{ "bob@", NULL },
		{ "@x.org", NULL },
		{ "\"unterminated@x.org", NULL },
		{ "bob@x.org (comment", NULL },
		{ "bob@x.org comment)", NULL },
		{ "a: b: c@x.org;;", NULL },
		{ "bob@x..org", NULL },
		{ "bob.@x.org", NULL },
		{ "bob\x01@x.org", NULL },
		{ "bob@x.org\x7f", NULL },
		{ "bob@x.org>", NULL },
		{ "a\\b@x.org", NULL },
		{ "bob@[1.2.3.4", NULL },
		{ "a@x.org; b@y.org", NULL },
		{ "<@relay.example bob@x.org>", NULL },
		/* Found by tests/fuzz/addr.c: a quoted CR or LF was dropped with
		 * the folds, leaving "\"\\\"" (a backslash escaping the end). */
		{ "\"\\\r\"", NULL },
		{ "\"a\\\n\"@x.org", NULL },
		{ "\"a\\ b\"@x.org", "\"a\\ b\"@x.org" },
		/* ... and in a comment: "(\\<DEL>)" (a quoted NUL, which the
		 * fuzzer found, cannot be written in this table). */
		{ "a@x.org (\\\x7f)", NULL },
		{ "a@x.org (\\\r)", NULL },
		{ "a@x.org (\\( \\))", "a@x.org" },
	};
	char got[512];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct addr_list l;
		struct err e;
		int r;

		err_init(&e);
		addr_list_init(&l);
		r = addr_parse_list(&l, cases[i].in, strlen(cases[i].in), &e);
		if (cases[i].want == NULL) {
			is_int(r, -1, "parse \"%s\" fails", show(cases[i].in));
			is_int(e.ex, EX_DATAERR, "... with EX_DATAERR (%s)", e.msg);
		} else {
			is_int(r, 0, "parse \"%s\" (%s)", show(cases[i].in), e.msg);
			join_list(&l, got, sizeof got);
			is_str(got, cases[i].want, "parse \"%s\" finds the addresses", show(cases[i].in));
		}
		addr_list_free(&l);
	}
}

static void
test_parse_error_text(void)
{
	struct addr_list l;
	struct err e;
	const char *in = "bob@x.org carol@y.org";

	addr_list_init(&l);
	err_init(&e);
	addr_parse_list(&l, in, strlen(in), &e);
	ok(strstr(e.msg, "carol@y.org") != NULL, "the error quotes the text at the fault: %s", e.msg);
	ok(strstr(e.msg, "missing ','") != NULL, "... and suggests the missing comma");
	addr_list_free(&l);

	/* Found by tests/fuzz/addr.c: "(\\<NUL>)" parsed as an empty list,
	 * but a NUL cannot be part of the text (qualifying it cut there). */
	addr_list_init(&l);
	err_init(&e);
	is_int(addr_parse_list(&l, "(\\\0)", 4, &e), -1, "a quoted NUL in a comment is refused");
	addr_list_free(&l);

	/* The length is honoured: text past len is never parsed. */
	addr_list_init(&l);
	is_int(addr_parse_list(&l, "bob@x.org, junk<<<", 9, &e), 0, "parse stops at len");
	is_int(l.n, 1, "... one address");
	addr_list_free(&l);
}

static void
test_list_add(void)
{
	struct addr_list l;
	struct err e;
	char a[64];
	int fails = 0;
	/* The limit test is quadratic; valgrind makes it minutes, not seconds. */
	int full = getenv("ENVOI_UNDER_VALGRIND") == NULL;

	addr_list_init(&l);
	err_init(&e);
	is_int(addr_list_add(&l, "a@x.org", &e), 0, "add");
	is_int(addr_list_add(&l, "a@X.ORG", &e), 0, "add a duplicate (domain case)");
	is_int(addr_list_add(&l, "A@x.org", &e), 0, "add a different local part");
	is_int(addr_list_add(&l, "a", &e), 0, "add a bare local name");
	is_int(addr_list_add(&l, "a", &e), 0, "add it again");
	is_int(l.n, 3, "duplicates are dropped, local parts compared exactly");
	is_str(l.v[1], "A@x.org", "order of first appearance kept");
	if (full) {
		for (int i = (int)l.n; i < ADDR_LIST_MAX; i++) {
			snprintf(a, sizeof a, "u%d@x.org", i);
			if (addr_list_add(&l, a, &e) < 0)
				fails++;
		}
		is_int(fails, 0, "up to ADDR_LIST_MAX addresses");
		is_int(addr_list_add(&l, "one-more@x.org", &e), -1, "one more is refused");
		is_int(e.ex, EX_DATAERR, "... with EX_DATAERR");
		is_int(addr_list_add(&l, "a@x.org", &e), 0, "a duplicate at the limit is fine");
	}
	addr_list_free(&l);
	is_int(l.n, 0, "free empties");
}

static void
test_qualify_list(void)
{
	static const struct {
		const char *in;
		const char *want;
		int count;
	} cases[] = {
		{ "root (Cron Daemon)", "root@example.org (Cron Daemon)", 1 },
		{ "root", "root@example.org", 1 },
		{ " Cron Daemon <root>", " Cron Daemon <root@example.org>", 1 },
		{ "bob@x.org (Bob)", "bob@x.org (Bob)", 0 },
		{ "root, bob@x.org,\r\n\tadmin (Admin)",
		  "root@example.org, bob@x.org,\r\n\tadmin@example.org (Admin)", 2 },
		{ "\"Root\" <\"r o\"> (boss)", "\"Root\" <\"r o\"@example.org> (boss)", 1 },
		{ "john . doe (x)", "john . doe@example.org (x)", 1 },
		{ "bad <", NULL, -1 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct err e;
		char *out = NULL;
		int r;

		err_init(&e);
		r = addr_qualify_list(cases[i].in, strlen(cases[i].in), "example.org", &out, &e);
		is_int(r, cases[i].count, "qualify \"%s\" count", show(cases[i].in));
		is_str(out, cases[i].want, "qualify \"%s\"", show(cases[i].in));
		free(out);
	}
}

static void
test_check(void)
{
	char local64[80], local65[80], long254[300], long255[300];
	const struct {
		const char *in;
		int allow_empty;
		int ret;
	} cases[] = {
		{ "bob@example.org", 0, 0 },
		{ "", 1, 0 },
		{ "", 0, -1 },
		{ "root", 0, -1 },
		{ "bob@exa mple.org", 0, -1 },
		{ "bob smith@example.org", 0, -1 },
		{ "\"bob smith\"@example.org", 0, 0 },
		{ "\"bob\\\"s\"@example.org", 0, 0 },
		{ "bob\r\nRCPT TO:<evil@x.org>@x.org", 0, -1 },
		{ "bob@x.org\nDATA", 0, -1 },
		/* Found by tests/fuzz/addr.c: an address literal with 8-bit
		 * bytes passed, and its "A-label form" was not ASCII. */
		{ "bob@[192.0\xe2\x82\xac" "1]", 0, -1 },
		{ "bob@[192.0.2.1]", 0, 0 },
		{ "bob@x.org>", 0, -1 },
		{ "<bob@x.org>", 0, -1 },
		{ "bob@x.org> SIZE=1", 0, -1 },
		{ "bob@x..org", 0, -1 },
		{ "bob@x.org.", 0, -1 },
		{ ".bob@x.org", 0, -1 },
		{ "bob@", 0, -1 },
		{ "@x.org", 0, -1 },
		{ "bob@[192.0.2.1]", 0, 0 },
		{ "bob@[IPv6:2001:db8::1]", 0, 0 },
		{ "a\"b@x.org", 0, -1 },
		{ "bob@x.org\x7f", 0, -1 },
		{ "bob,carol@x.org", 0, -1 },
		{ "bob@x_y.example", 0, 0 },
		{ "bob@x.org,carol@y.org", 0, -1 },
		{ "j\xc3\xb6rg@b\xc3\xbc" "cher.example", 0, 0 },
		{ local64, 0, 0 },
		{ local65, 0, -1 },
		{ long254, 0, 0 },
		{ long255, 0, -1 },
	};

	memset(local64, 'a', 64);
	memcpy(local64 + 64, "@x.org", 7);
	memset(local65, 'a', 65);
	memcpy(local65 + 65, "@x.org", 7);
	/* "b@" + labels of 63 so that the whole is 254, then 255. */
	snprintf(long254, sizeof long254, "b@%.63s.%.63s.%.63s.%.60s",
	    local64, local64, local64, local64);
	snprintf(long255, sizeof long255, "b@%.63s.%.63s.%.63s.%.61s",
	    local64, local64, local64, local64);
	is_int(strlen(long254), 254, "the 254-octet test address is right");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct err e;

		err_init(&e);
		is_int(addr_check(cases[i].in, cases[i].allow_empty, &e), cases[i].ret,
		    "check \"%.30s\"%s (%s)", show(cases[i].in), strlen(cases[i].in) > 30 ? "..." : "",
		    e.msg);
		if (cases[i].ret < 0)
			is_int(e.ex, EX_DATAERR, "... EX_DATAERR");
		ok(strchr(e.msg, '\n') == NULL && strchr(e.msg, '\r') == NULL,
		    "... the message stays one line");
	}
}

static void
test_qualify(void)
{
	static const struct {
		const char *addr, *domain, *want;
	} cases[] = {
		{ "root", "example.org", "root@example.org" },
		{ "bob@x.org", "example.org", "bob@x.org" },
		{ "root", NULL, "root" },
		{ "root", "", "root" },
		{ "\"a@b\"", "example.org", "\"a@b\"@example.org" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *q = addr_qualify(cases[i].addr, cases[i].domain);
		is_str(q, cases[i].want, "qualify \"%s\" with %s", cases[i].addr,
		    cases[i].domain ? cases[i].domain : "NULL");
		free(q);
	}
	ok(addr_is_ascii("bob@x.org"), "ascii");
	ok(!addr_is_ascii("b\xc3\xb6" "b@x.org"), "not ascii");
}

static void
test_envelope_forms(void)
{
	static const struct {
		const char *in;
		int ret;
		const char *ascii, *utf8;
	} cases[] = {
		{ "bob@example.org", 0, "bob@example.org", "bob@example.org" },
		{ "bob@b\xc3\xbc" "cher.example", 0, "bob@xn--bcher-kva.example",
		  "bob@b\xc3\xbc" "cher.example" },
		/* UTS#46 maps upper case; the UTF-8 form is the mapped one. */
		{ "Bob@B\xc3\x9c" "CHER.example", 0, "Bob@xn--bcher-kva.example",
		  "Bob@b\xc3\xbc" "cher.example" },
		/* NFD input ("u" + combining diaeresis) is normalised to NFC. */
		{ "bob@bu\xcc\x88" "cher.example", 0, "bob@xn--bcher-kva.example",
		  "bob@b\xc3\xbc" "cher.example" },
		{ "bob@xn--bcher-kva.example", 0, "bob@xn--bcher-kva.example",
		  "bob@xn--bcher-kva.example" },
		{ "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a", 0,
		  NULL, "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a" },
		{ "j\xc3\xb6rg@example.org", 0, NULL, "j\xc3\xb6rg@example.org" },
		{ "bob@[192.0.2.1]", 0, "bob@[192.0.2.1]", "bob@[192.0.2.1]" },
		{ "root", 0, "root", "root" },
		/* invalid IDN: leading combining mark, ZWJ out of context,
		 * disallowed code point, leading hyphen; invalid UTF-8 */
		{ "bob@\xcc\x81" "a.example", -1, NULL, NULL },
		{ "bob@a\xe2\x80\x8d" "b.example", -1, NULL, NULL },
		{ "bob@\xe2\x92\x88.example", -1, NULL, NULL },
		{ "bob@-b\xc3\xbc" "cher.example", -1, NULL, NULL },
		{ "bob@b\xff" "cher.example", -1, NULL, NULL },
		{ "b\xc0\xafob@example.org", -1, NULL, NULL },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *a = (char *)1, *u = (char *)1;
		struct err e;
		int r;

		err_init(&e);
		r = addr_envelope_forms(cases[i].in, &a, &u, &e);
		is_int(r, cases[i].ret, "envelope forms of \"%s\" (%s)", cases[i].in, e.msg);
		is_str(a, cases[i].ascii, "... ascii form");
		is_str(u, cases[i].utf8, "... utf8 form");
		if (r < 0)
			is_int(e.ex, EX_DATAERR, "... EX_DATAERR");
		free(a);
		free(u);
	}
	{
		char *a, *u;
		struct err e;
		addr_envelope_forms("bob@\xe2\x92\x88.example", &a, &u, &e);
		ok(strstr(e.msg, "disallowed") != NULL, "libidn2's reason is in the message: %s",
		    e.msg);
	}
}

static void
test_host(void)
{
	static const struct {
		const char *in;
		int ret;
		const char *want;
	} cases[] = {
		{ "smtp.example.org", 0, "smtp.example.org" },
		{ "smtp.b\xc3\xbc" "cher.example", 0, "smtp.xn--bcher-kva.example" },
		{ "\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a", 0, "xn--fsqu00a.xn--4rr70v" },
		{ "\xe2\x92\x88.example", -1, NULL },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *out = NULL;
		struct err e;

		err_init(&e);
		is_int(addr_host_to_ascii(cases[i].in, &out, &e), cases[i].ret, "host \"%s\" (%s)",
		    cases[i].in, e.msg);
		is_str(out, cases[i].want, "... A-label form");
		if (cases[i].ret < 0)
			is_int(e.ex, EX_CONFIG, "... EX_CONFIG");
		free(out);
	}
}

/* The rewriter used below: "root" -> admin@example.org, "team" -> two
 * addresses (joined as message.c does), "bad" -> an error. */
static int
map_one(void *ctx, const char *addr, int in_angle, char **repl, struct err *e)
{
	int *calls = ctx;

	(*calls)++;
	if (strcmp(addr, "bad") == 0)
		return err_set(e, EX_CONFIG, "no");
	if (strcmp(addr, "root") == 0 || strcmp(addr, "root@localhost") == 0)
		*repl = str_dup("admin@example.org");
	else if (strcmp(addr, "team") == 0)
		*repl = str_dup(in_angle ? "a@x.org>, <b@x.org" : "a@x.org, b@x.org");
	return 0;
}

static void
test_rewrite_list(void)
{
	static const struct {
		const char *in, *want;
		int count, calls;
	} cases[] = {
		{ "root", "admin@example.org", 1, 1 },
		{ "root (Cron Daemon)", "admin@example.org (Cron Daemon)", 1, 1 },
		{ "Cron Daemon <root>", "Cron Daemon <admin@example.org>", 1, 1 },
		{ "\"Smith, R\" <root@localhost>, bob@x.org", "\"Smith, R\" <admin@example.org>, bob@x.org",
		  1, 2 },
		{ "Team <team>", "Team <a@x.org>, <b@x.org>", 1, 1 },
		{ "team,\r\n\troot", "a@x.org, b@x.org,\r\n\tadmin@example.org", 2, 2 },
		{ "list: root, bob@x.org;", "list: admin@example.org, bob@x.org;", 1, 2 },
		{ "bob@x.org", "bob@x.org", 0, 1 },
		{ "(c) root (d)", "(c) admin@example.org (d)", 1, 1 },
		{ "<@relay:root@localhost>", "<@relay:admin@example.org>", 1, 1 },
		{ "", "", 0, 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct err e;
		char *out = NULL;
		int calls = 0, r;

		err_init(&e);
		r = addr_rewrite_list(cases[i].in, strlen(cases[i].in), map_one, &calls, &out, &e);
		is_int(r, cases[i].count, "rewrite \"%s\": count (%s)", show(cases[i].in), e.msg);
		is_str(out, cases[i].want, "rewrite \"%s\"", show(cases[i].in));
		is_int(calls, cases[i].calls, "rewrite \"%s\": one call per address",
		       show(cases[i].in));
		free(out);
	}
	{
		struct err e;
		char *out = NULL;
		int calls = 0;

		err_init(&e);
		is_int(addr_rewrite_list("a@x.org, bad", 12, map_one, &calls, &out, &e), -1,
		       "rewrite: the callback's error stops it");
		ok(e.ex == EX_CONFIG && out == NULL, "... with its class, no output");
		err_init(&e);
		is_int(addr_rewrite_list("<<x", 3, map_one, &calls, &out, &e), -1,
		       "rewrite: a syntax error");
		ok(e.ex == EX_DATAERR && out == NULL, "... EX_DATAERR, no output");
	}
}

int
main(void)
{
	test_parse_list();
	test_parse_error_text();
	test_list_add();
	test_qualify_list();
	test_rewrite_list();
	test_check();
	test_qualify();
	test_envelope_forms();
	test_host();
	return done_testing();
}
