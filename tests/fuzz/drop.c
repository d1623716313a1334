/*
 * Fuzz target: drop files (drop.h), the option block root's pickup reads
 * from another user's file. Input: the block (the bytes before the empty
 * line).
 * Checks: a block that parses, written again by drop_format, parses to
 * the same options; every recipient passes drop_check_addr or is refused
 * with an error, never a crash.
 */
#include "fuzz.h"

#include "buf.h"
#include "drop.h"

static int
same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct drop_opts o, o2;
	struct err e;
	struct buf b;

	err_init(&e);
	if (drop_parse((const char *)data, size, &o, &e) < 0) {
		FUZZ_CHECK(e.ex == EX_DATAERR || e.ex == EX_OSERR, "ex %d: %s", e.ex, e.msg);
		drop_opts_free(&o);
		return 0;
	}
	buf_init(&b, DROP_HEADER_MAX);
	err_init(&e);
	FUZZ_CHECK(drop_format(&o, &b, &e) == 0, "a parsed block does not format: %s", e.msg);
	FUZZ_CHECK(b.len >= 1 && b.data[b.len - 1] == '\n', "no separator");
	err_init(&e);
	/* Without the empty separator line, as the pickup hands it over. */
	FUZZ_CHECK(drop_parse(b.data, b.len - 1, &o2, &e) == 0, "formatted block refused: %s "
	    "(%s)", e.msg, buf_cstr(&b));
	FUZZ_CHECK(same_str(o.from, o2.from) && same_str(o.full_name, o2.full_name) &&
	    o.read_rcpts == o2.read_rcpts && o.nrcpts == o2.nrcpts, "options changed: %s",
	    buf_cstr(&b));
	FUZZ_CHECK(o.opts.notify == o2.opts.notify && o.opts.ret == o2.opts.ret &&
	    strcmp(o.opts.envid, o2.opts.envid) == 0 && o.opts.body == o2.opts.body &&
	    o.opts.smtputf8 == o2.opts.smtputf8 && o.opts.requiretls == o2.opts.requiretls,
	    "envelope options changed: %s", buf_cstr(&b));
	for (size_t i = 0; i < o.nrcpts; i++) {
		FUZZ_CHECK(strcmp(o.rcpts[i], o2.rcpts[i]) == 0, "rcpt %zu changed", i);
		err_init(&e);
		(void)drop_check_addr(o.rcpts[i], &e);
	}
	buf_free(&b);
	drop_opts_free(&o);
	drop_opts_free(&o2);
	return 0;
}
