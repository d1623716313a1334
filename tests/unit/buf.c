/* Unit tests for src/buf.c and src/err.c: bounds, wiping, number parsing. */
#include "config.h"

#include <errno.h>

#include "buf.h"
#include "err.h"
#include "tap.h"

static void
test_bounds(void)
{
	struct buf b;

	buf_init(&b, 8);
	is_int(buf_puts(&b, "12345678"), 0, "fill to the maximum");
	is_int(buf_putc(&b, 'x'), -1, "one byte past the maximum fails");
	is_int(errno, ENOSPC, "... with ENOSPC");
	is_str(buf_cstr(&b), "12345678", "contents unchanged after a refused append");
	buf_consume(&b, 3);
	is_str(buf_cstr(&b), "45678", "consume drops the front");
	is_int(buf_printf(&b, "%d", 123), 0, "printf within the maximum");
	is_int(buf_printf(&b, "%d", 1), -1, "printf past the maximum fails");
	is_str(buf_cstr(&b), "45678123", "printf appended");
	buf_wipe(&b);
	is_int(b.len, 0, "wipe empties");
	ok(b.data == NULL, "wipe frees");
}

static void
test_parse_long(void)
{
	static const struct {
		const char *in;
		long min, max;
		int ret;
		long want;
	} cases[] = {
		{ "25", 1, 65535, 0, 25 },
		{ "0", 1, 65535, -1, 0 },
		{ "65536", 1, 65535, -1, 0 },
		{ "", 0, 10, -1, 0 },
		{ " 5", 0, 10, -1, 0 },
		{ "5 ", 0, 10, -1, 0 },
		{ "+5", 0, 10, -1, 0 },
		{ "-5", -10, 10, 0, -5 },
		{ "12x", 0, 100, -1, 0 },
		{ "99999999999999999999999", 0, 100, -1, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		long v = 0;
		int r = parse_long(cases[i].in, cases[i].min, cases[i].max, &v);
		is_int(r, cases[i].ret, "parse_long(\"%s\") returns %d", cases[i].in, cases[i].ret);
		if (r == 0)
			is_int(v, cases[i].want, "parse_long(\"%s\") = %ld", cases[i].in, cases[i].want);
	}
}

static void
test_err(void)
{
	static const struct {
		int code;
		const char *enh;
		enum smtp_phase phase;
		int ex;
	} cases[] = {
		{ 450, "4.2.0", PHASE_RCPT, EX_TEMPFAIL },
		{ 550, "5.1.1", PHASE_RCPT, EX_NOUSER },
		{ 550, NULL, PHASE_MAIL, EX_UNAVAILABLE },
		{ 554, "5.7.1", PHASE_DOT, EX_UNAVAILABLE },
		{ 535, "5.7.8", PHASE_AUTH, EX_NOPERM },
		{ 454, "4.7.0", PHASE_AUTH, EX_TEMPFAIL },
		{ 550, "4.2.2", PHASE_RCPT, EX_TEMPFAIL },  /* enhanced class wins */
		{ 421, NULL, PHASE_CONNECT, EX_TEMPFAIL },
		{ 354, NULL, PHASE_DATA, EX_PROTOCOL },
	};
	struct err e;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		is_int(err_ex_from_reply(cases[i].code, cases[i].enh, cases[i].phase), cases[i].ex,
		       "%d %s in reply to %s -> %s", cases[i].code, cases[i].enh ? cases[i].enh : "-",
		       err_phase_name(cases[i].phase), err_ex_name(cases[i].ex));
	err_init(&e);
	is_int(err_set(&e, EX_CONFIG, "line\r\none %s", "x"), -1, "err_set returns -1");
	is_str(e.msg, "line  one x", "control characters never reach the message");
	err_prefix(&e, "%s:%d", "f", 3);
	is_str(e.msg, "f:3: line  one x", "err_prefix prepends context");
	is_int(e.ex, EX_CONFIG, "prefix keeps the code");
}

/* buf_reserve: room taken now, so later appends within it never move the
 * data (they cannot need memory); past the maximum it refuses. */
static void
test_reserve(void)
{
	struct buf b;
	char *before;

	buf_init(&b, 100);
	is_int(buf_reserve(&b, 50), 0, "reserve within the maximum");
	ok(b.cap >= 51, "reserve: capacity for 50 bytes and the NUL (%zu)", b.cap);
	is_str(buf_cstr(&b), "", "reserve on an empty buffer leaves it empty");
	before = b.data;
	is_int(buf_append(&b, "0123456789012345678901234567890123456789012345678", 49), 0,
	       "append within the reserve");
	ok(b.data == before, "append within the reserve did not reallocate");
	buf_reset(&b);
	ok(b.data == before && b.cap >= 51, "reset keeps the reserve");
	errno = 0;
	is_int(buf_reserve(&b, 101), -1, "reserve past the maximum fails");
	is_int(errno, ENOSPC, "... with ENOSPC");
	buf_free(&b);
}

int
main(void)
{
	test_bounds();
	test_reserve();
	test_parse_long();
	test_err();
	return done_testing();
}
