/*
 * Unit tests for src/err.c: the error object (one line, control
 * characters never in it, context prepended, the code kept), which codes
 * are temporary, and the documented table of exit codes.
 */
#include "config.h"

#include <string.h>

#include "err.h"
#include "tap.h"

static void
test_message(void)
{
	struct err e;
	char big[2 * ERR_MSG_MAX];

	err_init(&e);
	is_int(e.ex, EX_OK, "a new error is EX_OK");
	is_str(e.msg, "", "... with no message");
	is_int(err_set(&e, EX_CONFIG, "line\r\none %s", "x"), -1, "err_set returns -1");
	is_str(e.msg, "line  one x", "control characters never reach the message");
	err_prefix(&e, "%s:%d", "f", 3);
	is_str(e.msg, "f:3: line  one x", "err_prefix prepends context");
	is_int(e.ex, EX_CONFIG, "prefix keeps the code");
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	err_set(&e, EX_DATAERR, "%s", big);
	ok(strlen(e.msg) == ERR_MSG_MAX - 1 && strcmp(e.msg + ERR_MSG_MAX - 4, "...") == 0,
	    "a message too long for one line is cut with ... (%zu bytes)", strlen(e.msg));
}

static void
test_table(void)
{
	static const int codes[] = { EX_OK, EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_NOUSER,
		EX_NOHOST, EX_UNAVAILABLE, EX_SOFTWARE, EX_OSERR, EX_OSFILE, EX_CANTCREAT,
		EX_IOERR, EX_TEMPFAIL, EX_PROTOCOL, EX_NOPERM, EX_CONFIG };

	ok(err_is_temporary(EX_TEMPFAIL), "EX_TEMPFAIL is temporary");
	ok(!err_is_temporary(EX_UNAVAILABLE) && !err_is_temporary(EX_OK) &&
	    !err_is_temporary(EX_CONFIG), "EX_UNAVAILABLE, EX_OK, EX_CONFIG are not");
	is_str(err_ex_name(EX_NOPERM), "EX_NOPERM", "a code's name");
	is_str(err_ex_name(12345), "EX_UNKNOWN", "an unknown code's name");
	is_str(err_ex_meaning(12345), "unknown exit code", "... and meaning");
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
		ok(strcmp(err_ex_name(codes[i]), "EX_UNKNOWN") != 0 &&
		    strlen(err_ex_meaning(codes[i])) > 5,
		    "%d is in the documented table: %s", codes[i], err_ex_name(codes[i]));
}

int
main(void)
{
	test_message();
	test_table();
	return done_testing();
}
