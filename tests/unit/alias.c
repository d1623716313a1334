/* Unit tests for src/alias.c: file syntax and limits, the local-address
 * test (with injected host names, so results do not depend on the
 * machine), and expansion: default, recursion, self-reference, loops,
 * depth, case. */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alias.h"
#include "buf.h"
#include "err.h"
#include "tap.h"

#define HOST "myhost"
#define FQDN "myhost.example.net"

static void
join_list(const struct addr_list *l, char *out, size_t size)
{
	size_t off = 0;

	out[0] = '\0';
	for (size_t i = 0; i < l->n && off < size; i++)
		off += (size_t)snprintf(out + off, size - off, "%s%s", i ? "|" : "", l->v[i]);
}

static void
test_syntax(void)
{
	static const struct {
		const char *text;
		long count;             /* entries, or -1: an error is expected */
		const char *msg;        /* a substring of the error */
	} cases[] = {
		{ "", 0, NULL },
		{ "# only a comment\n\n   \n\t# indented comment\n", 0, NULL },
		{ "root: admin@example.org\n", 1, NULL },
		{ "root: admin@example.org\r\ncron: root\r\n", 2, NULL },
		{ "  root :  a@x.example ,  b@y.example  \n", 1, NULL },
		{ "root: Admin <admin@example.org>, \"B, C\" <bc@example.org>\n", 1, NULL },
		{ "default: catchall@example.org\nroot: a@x.example", 2, NULL },
		{ "root admin@example.org\n", -1, "t:1: expected \"name: address, ...\"" },
		{ "\n\nroot:\n", -1, "t:3: alias root has no addresses" },
		{ ": a@x.example\n", -1, "t:1: \"\" is not a local name" },
		{ "root@localhost: a@x.example\n", -1, "is not a local name" },
		{ "two words: a@x.example\n", -1, "is not a local name" },
		{ "root: a@x.example\nRoot: b@x.example\n", -1,
		  "t:2: alias Root is already defined on line 1" },
		{ "root: a@@x.example\n", -1, "t:1: alias root: bad address syntax" },
		{ "root: a@x..example\n", -1, "t:1: alias root: bad address syntax" },
		{ "root: a@-x_.example, <b@x.example\n", -1, "t:1: alias root:" },
		{ "root: a@x.example\0\n", -1, "t:1: NUL byte" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct alias_table *t = NULL;
		struct err e;
		size_t len = strlen(cases[i].text);
		int ret;

		if (strstr(cases[i].msg ? cases[i].msg : "", "NUL"))
			len += 2;       /* the NUL and the newline after it */
		err_init(&e);
		ret = alias_parse("t", cases[i].text, len, &t, &e);
		if (cases[i].count >= 0) {
			if (ok(ret == 0, "syntax %zu parses", i))
				is_int(alias_count(t), cases[i].count, "syntax %zu: entries", i);
			else
				printf("#   %s\n", e.msg);
		} else {
			ok(ret < 0 && t == NULL && e.ex == EX_CONFIG, "syntax %zu refused, EX_CONFIG",
			   i);
			if (!ok(strstr(e.msg, cases[i].msg) != NULL, "syntax %zu: message", i))
				printf("#   got \"%s\"\n#   want \"%s\"\n", e.msg, cases[i].msg);
		}
		alias_table_free(t);
	}
}

static void
test_limits(void)
{
	struct alias_table *t = NULL;
	struct buf b;
	struct err e;
	int ret;

	/* One line over the limit. */
	buf_init(&b, ALIAS_LINE_MAX + 64);
	buf_puts(&b, "root: ");
	while (b.len <= ALIAS_LINE_MAX)
		buf_puts(&b, "a@x.example,");
	err_init(&e);
	ret = alias_parse("t", b.data, b.len, &t, &e);
	ok(ret < 0 && strstr(e.msg, "t:1: line longer than") != NULL,
	   "a line over ALIAS_LINE_MAX is refused: %s", e.msg);
	buf_free(&b);

	/* More entries than allowed. */
	buf_init(&b, ALIAS_FILE_MAX);
	for (int i = 0; i <= ALIAS_ENTRIES_MAX; i++)
		buf_printf(&b, "n%d: a@x.example\n", i);
	err_init(&e);
	ret = alias_parse("t", b.data, b.len, &t, &e);
	ok(ret < 0 && strstr(e.msg, "more than") != NULL && e.ex == EX_CONFIG,
	   "more than ALIAS_ENTRIES_MAX entries are refused: %s", e.msg);
	buf_free(&b);

	/* Loading: a missing file names its path. */
	err_init(&e);
	ret = alias_load("/nonexistent/envoi-aliases", &t, &e);
	ok(ret < 0 && e.ex == EX_CONFIG &&
	   strstr(e.msg, "aliases file /nonexistent/envoi-aliases: ") != NULL,
	   "a missing file: EX_CONFIG with the path: %s", e.msg);
	err_init(&e);
	ret = alias_load("/", &t, &e);
	ok(ret < 0 && e.ex == EX_CONFIG, "a directory is refused: %s", e.msg);
}

static void
test_load(void)
{
	char path[] = "/tmp/envoi-alias-test.XXXXXX";
	const char text[] = "# test\nroot: admin@example.org\ncron: root\n";
	struct alias_table *t = NULL;
	struct err e;
	int fd = mkstemp(path);

	if (fd < 0 || write(fd, text, sizeof text - 1) != (ssize_t)(sizeof text - 1)) {
		ok(0, "temporary file");
		return;
	}
	close(fd);
	err_init(&e);
	ok(alias_load(path, &t, &e) == 0 && alias_count(t) == 2, "alias_load reads a file");
	is_str(alias_file(t), path, "the table remembers its file");
	alias_table_free(t);
	unlink(path);
}

static void
test_local(void)
{
	static const struct {
		const char *addr;
		int local;
	} cases[] = {
		{ "root", 1 },
		{ "www-data", 1 },
		{ "root@localhost", 1 },
		{ "root@LocalHost", 1 },
		{ "root@localhost.", 1 },
		{ "root@localhost.localdomain", 1 },
		{ "root@" HOST, 1 },
		{ "root@MYHOST", 1 },
		{ "root@" FQDN, 1 },
		{ "root@" FQDN ".", 1 },
		{ "root@example.net", 0 },
		{ "root@myhost.example.org", 0 },
		{ "root@myhostx", 0 },
		{ "root@localhostx", 0 },
		{ "\"a@b\"", 1 },
		{ "\"a@b\"@example.org", 0 },
	};
	struct alias_ctx c;
	struct err e;

	err_init(&e);
	alias_ctx_init(&c, NULL, "example.org", HOST, FQDN, &e);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		is_int(alias_is_local(&c, cases[i].addr), cases[i].local, "local: %s",
		       cases[i].addr);
	alias_ctx_free(&c);

	/* An unknown canonical name ("") leaves only the host name. */
	alias_ctx_init(&c, NULL, "example.org", HOST, "", &e);
	is_int(alias_is_local(&c, "root@" FQDN), 0, "no FQDN known: only the host name");
	is_int(alias_is_local(&c, "root@" HOST), 1, "no FQDN known: host name still local");
	alias_ctx_free(&c);
}

static const char table_text[] =
    "# a realistic file\n"
    "root: admin@example.org\n"
    "postmaster: root\n"
    "cron: ROOT, ops@example.net\n"
    "www-data: Web Team <web@example.org>, webmaster@localhost\n"
    "webmaster: web@example.org\n"
    "keep: keep, copy@example.net\n"
    "team: alice, bob@" HOST ", carol@" FQDN "\n"
    "alice: alice@example.com\n"
    "loop1: loop2\n"
    "loop2: loop3\n"
    "loop3: loop1\n"
    "self: self\n"
    "chain1: chain2\nchain2: chain3\nchain3: chain4\nchain4: chain5\nchain5: chain6\n"
    "chain6: chain7\nchain7: chain8\nchain8: chain9\nchain9: chain10\nchain10: chain11\n"
    "chain11: chain12\nchain12: chain13\nchain13: chain14\nchain14: chain15\n"
    "chain15: chain16\nchain16: end@example.org\n"
    "deep1: deep2\ndeep2: deep3\ndeep3: deep4\ndeep4: deep5\ndeep5: deep6\n"
    "deep6: deep7\ndeep7: deep8\ndeep8: deep9\ndeep9: deep10\ndeep10: deep11\n"
    "deep11: deep12\ndeep12: deep13\ndeep13: deep14\ndeep14: deep15\n"
    "deep15: deep16\ndeep16: deep17\ndeep17: end@example.org\n"
    "diamond: left, right\nleft: shared\nright: shared\nshared: s@example.org\n";

static void
test_expand(void)
{
	static const struct {
		int with_default;
		const char *addr;
		const char *want;       /* '|'-joined, or NULL: not local */
		const char *err;        /* an error is expected, with this text */
	} cases[] = {
		{ 0, "root", "admin@example.org", NULL },
		{ 0, "ROOT", "admin@example.org", NULL },
		{ 0, "root@localhost", "admin@example.org", NULL },
		{ 0, "root@" HOST, "admin@example.org", NULL },
		{ 0, "root@" FQDN, "admin@example.org", NULL },
		{ 0, "root@example.net", NULL, NULL },
		{ 0, "postmaster", "admin@example.org", NULL },
		{ 0, "cron", "admin@example.org|ops@example.net", NULL },
		{ 0, "www-data", "web@example.org", NULL },
		{ 0, "keep", "keep@example.org|copy@example.net", NULL },
		{ 0, "team", "alice@example.com|bob@example.org|carol@example.org", NULL },
		{ 0, "nobody", "nobody@example.org", NULL },
		{ 0, "Nobody@LOCALHOST", "Nobody@example.org", NULL },
		{ 0, "self", "self@example.org", NULL },
		{ 0, "chain1", "end@example.org", NULL },
		{ 0, "diamond", "s@example.org", NULL },
		{ 0, "loop1", NULL, "t:12: alias loop: loop1 -> loop2 -> loop3 -> loop1" },
		{ 0, "loop2", NULL, "alias loop: loop2 -> loop3 -> loop1 -> loop2" },
		{ 0, "deep1", NULL, "alias deep17: expansion deeper than 16 levels" },
		{ 1, "nobody", "catchall@example.org", NULL },
		{ 1, "nobody@localhost", "catchall@example.org", NULL },
		{ 1, "root", "admin@example.org", NULL },
		{ 1, "other@example.net", NULL, NULL },
		{ 1, "team", "alice@example.com|catchall@example.org", NULL },
		{ 1, "loop3", NULL, "alias loop: loop3 -> loop1 -> loop2 -> loop3" },
	};
	const char *dflt = "default: catchall@example.org\n";
	struct alias_table *t[2] = { NULL, NULL };
	struct buf text;
	struct err e;

	err_init(&e);
	if (!ok(alias_parse("t", table_text, strlen(table_text), &t[0], &e) == 0,
	    "the expansion table parses")) {
		printf("#   %s\n", e.msg);
		return;
	}
	buf_init(&text, 1 << 20);
	buf_puts(&text, table_text);
	buf_puts(&text, dflt);
	if (!ok(alias_parse("t", text.data, text.len, &t[1], &e) == 0, "with default: parses"))
		printf("#   %s\n", e.msg);
	buf_free(&text);

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct alias_ctx c;
		struct addr_list l;
		char got[1024];
		int ret;

		err_init(&e);
		alias_ctx_init(&c, t[cases[i].with_default], "example.org", HOST, FQDN, &e);
		addr_list_init(&l);
		ret = alias_resolve(&c, cases[i].addr, &l, &e);
		join_list(&l, got, sizeof got);
		if (cases[i].err) {
			ok(ret < 0 && e.ex == EX_CONFIG, "%s%s: error", cases[i].addr,
			   cases[i].with_default ? " (default)" : "");
			if (!ok(strstr(e.msg, cases[i].err) != NULL, "%s: message", cases[i].addr))
				printf("#   got \"%s\"\n#   want \"%s\"\n", e.msg, cases[i].err);
		} else if (cases[i].want == NULL) {
			ok(ret == 0 && l.n == 0, "%s%s: not local, left alone", cases[i].addr,
			   cases[i].with_default ? " (default)" : "");
		} else {
			is_int(ret, 1, "%s%s: local", cases[i].addr,
			       cases[i].with_default ? " (default)" : "");
			is_str(got, cases[i].want, "%s%s: expansion", cases[i].addr,
			       cases[i].with_default ? " (default)" : "");
		}
		addr_list_free(&l);
		alias_ctx_free(&c);
	}
	alias_table_free(t[0]);
	alias_table_free(t[1]);
}

/* `default` pointing at names without entries, and at itself. */
static void
test_default_self(void)
{
	static const struct {
		const char *text, *addr, *want;
	} cases[] = {
		{ "default: me\n", "anyone", "me@example.org" },
		{ "default: me, you\n", "anyone", "me@example.org|you@example.org" },
		{ "default: x\nx: y\n", "anyone", "y@example.org" },
		{ "default: x\nx: y\n", "x", NULL },
		{ "default: admin\nroot: bob\nadmin: a@example.net\n", "root", "a@example.net" },
		{ "default: x, y\nx: z\n", "y", "z@example.org|y@example.org" },
		{ "default: x@localhost\n", "anyone", "x@example.org" },
		{ "default: default\n", "anyone", "default@example.org" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct alias_table *t = NULL;
		struct alias_ctx c;
		struct addr_list l;
		struct err e;
		char got[512];

		err_init(&e);
		alias_parse("t", cases[i].text, strlen(cases[i].text), &t, &e);
		alias_ctx_init(&c, t, "example.org", HOST, FQDN, &e);
		addr_list_init(&l);
		if (cases[i].want == NULL) {
			ok(alias_resolve(&c, cases[i].addr, &l, &e) < 0 &&
			   strstr(e.msg, "alias loop: x -> default -> x") != NULL,
			   "default case %zu: a loop through default: %s", i, e.msg);
		} else {
			if (alias_resolve(&c, cases[i].addr, &l, &e) < 0)
				printf("#   %s\n", e.msg);
			join_list(&l, got, sizeof got);
			is_str(got, cases[i].want, "default case %zu", i);
		}
		addr_list_free(&l);
		alias_ctx_free(&c);
		alias_table_free(t);
	}
}

/* No table: only qualification of local addresses; no domain: kept. */
static void
test_no_table(void)
{
	struct alias_ctx c;
	struct addr_list l;
	struct err e;
	char got[256];

	err_init(&e);
	alias_ctx_init(&c, NULL, "example.org", HOST, FQDN, &e);
	addr_list_init(&l);
	is_int(alias_resolve(&c, "root@localhost", &l, &e), 1, "no table: local");
	join_list(&l, got, sizeof got);
	is_str(got, "root@example.org", "no table: qualified with the domain");
	addr_list_free(&l);
	alias_ctx_free(&c);

	alias_ctx_init(&c, NULL, NULL, HOST, FQDN, &e);
	addr_list_init(&l);
	alias_resolve(&c, "root@localhost", &l, &e);
	join_list(&l, got, sizeof got);
	is_str(got, "root@localhost", "no domain: kept as it was");
	addr_list_free(&l);
	alias_ctx_free(&c);
}

/* A wide alias: more addresses than ALIAS_EXPANSION_MAX is an error. */
static void
test_expansion_max(void)
{
	struct alias_table *t = NULL;
	struct alias_ctx c;
	struct addr_list l;
	struct buf b;
	struct err e;
	int ret;

	buf_init(&b, ALIAS_FILE_MAX);
	buf_puts(&b, "big: half1, half2\nhalf1: ");
	for (int i = 0; i < ALIAS_EXPANSION_MAX / 2 + 1; i++)
		buf_printf(&b, "%sa%d@x.example", i ? "," : "", i);
	buf_puts(&b, "\nhalf2: ");
	for (int i = 0; i < ALIAS_EXPANSION_MAX / 2; i++)
		buf_printf(&b, "%sb%d@x.example", i ? "," : "", i);
	buf_puts(&b, "\n");
	err_init(&e);
	ret = alias_parse("t", b.data, b.len, &t, &e);
	ok(ret == 0, "a wide table parses");
	buf_free(&b);
	alias_ctx_init(&c, t, "example.org", HOST, FQDN, &e);
	addr_list_init(&l);
	ret = alias_resolve(&c, "half2", &l, &e);
	is_int(ret, 1, "half of it expands");
	is_int(l.n, ALIAS_EXPANSION_MAX / 2, "to all its addresses");
	addr_list_free(&l);
	addr_list_init(&l);
	ret = alias_resolve(&c, "big", &l, &e);
	ok(ret < 0 && e.ex == EX_CONFIG && strstr(e.msg, "t:1: alias big expands to more than"),
	   "over ALIAS_EXPANSION_MAX: %s", e.msg);
	addr_list_free(&l);
	alias_ctx_free(&c);
	alias_table_free(t);
}

int
main(void)
{
	test_syntax();
	test_limits();
	test_load();
	test_local();
	test_expand();
	test_default_self();
	test_no_table();
	test_expansion_max();
	return done_testing();
}
