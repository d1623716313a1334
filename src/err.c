/* err.c - see err.h. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

void
err_init(struct err *e)
{
	e->ex = EX_OK;
	e->smtp_code = 0;
	e->msg[0] = '\0';
}

static void
vformat(char *dst, size_t size, const char *fmt, va_list ap)
{
	int n = vsnprintf(dst, size, fmt, ap);
	if (n >= (int)size && size > 4)
		memcpy(dst + size - 4, "...", 4);
	/* A message is one line: never let server text or a file name break
	 * it, and never pass control characters to a terminal. */
	for (char *p = dst; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

int
err_set(struct err *e, int ex, const char *fmt, ...)
{
	va_list ap;

	e->ex = ex;
	e->smtp_code = 0;
	va_start(ap, fmt);
	vformat(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	return -1;
}

int
err_prefix(struct err *e, const char *fmt, ...)
{
	char ctx[ERR_MSG_MAX], old[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vformat(ctx, sizeof ctx, fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof old);
	if (snprintf(e->msg, sizeof e->msg, "%s: %s", ctx, old) >= (int)sizeof e->msg)
		memcpy(e->msg + sizeof e->msg - 4, "...", 4);
	return -1;
}

int
err_is_temporary(int ex)
{
	return ex == EX_TEMPFAIL;
}

/* The one documented table: README, envoi(1) and --help follow it. */
static const struct {
	int ex;
	const char *name;
	const char *meaning;
} ex_table[] = {
	{ EX_OK,          "EX_OK",          "delivered, or safely queued for delivery" },
	{ EX_USAGE,       "EX_USAGE",       "bad command line, bad argument, or no recipients" },
	{ EX_DATAERR,     "EX_DATAERR",     "the message is malformed (NUL byte, over-long line, empty)" },
	{ EX_NOINPUT,     "EX_NOINPUT",     "a file named in the configuration cannot be read" },
	{ EX_NOUSER,      "EX_NOUSER",      "the server refused a recipient permanently (5xx to RCPT)" },
	{ EX_NOHOST,      "EX_NOHOST",      "the smarthost name is not a valid host name" },
	{ EX_UNAVAILABLE, "EX_UNAVAILABLE", "the server refused permanently (5xx), or lacks a required feature" },
	{ EX_SOFTWARE,    "EX_SOFTWARE",    "internal error" },
	{ EX_OSERR,       "EX_OSERR",       "operating system error (fork, memory, no passwd entry)" },
	{ EX_OSFILE,      "EX_OSFILE",      "a system file is missing" },
	{ EX_CANTCREAT,   "EX_CANTCREAT",   "cannot create the spool or queue file" },
	{ EX_IOERR,       "EX_IOERR",       "input/output error (reading the message, writing the spool)" },
	{ EX_TEMPFAIL,    "EX_TEMPFAIL",    "temporary failure (4xx, connection, timeout): try again later" },
	{ EX_PROTOCOL,    "EX_PROTOCOL",    "the server violated the SMTP protocol" },
	{ EX_NOPERM,      "EX_NOPERM",      "authentication refused, or the server's certificate failed verification" },
	{ EX_CONFIG,      "EX_CONFIG",      "configuration error (syntax, missing account, insecure file)" },
};

const char *
err_ex_name(int ex)
{
	for (size_t i = 0; i < sizeof ex_table / sizeof ex_table[0]; i++)
		if (ex_table[i].ex == ex)
			return ex_table[i].name;
	return "EX_UNKNOWN";
}

const char *
err_ex_meaning(int ex)
{
	for (size_t i = 0; i < sizeof ex_table / sizeof ex_table[0]; i++)
		if (ex_table[i].ex == ex)
			return ex_table[i].meaning;
	return "unknown exit code";
}
