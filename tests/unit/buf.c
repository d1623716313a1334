/* Unit tests for src/buf.c: bounds, wiping, number parsing. */
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
	return done_testing();
}
