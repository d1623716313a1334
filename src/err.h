/*
 * err.h - the one error object that travels up to main.
 *
 * Owns: struct err (a sysexits code plus one human-readable line, and the
 * server's reply when there was one), and the single table that maps an
 * exit code to its name and meaning (used by --help, the man page and logs).
 *
 * Never: exits, prints, or allocates. Every function that can fail takes a
 * `struct err *` and returns -1 after filling it (0 on success). Only main()
 * turns the final error into a line on stderr and an exit status.
 *
 * Which exit code a server's reply means is smtp.h's (smtp_ex_from_reply);
 * here only whether a code is temporary.
 */
#ifndef ENVOI_ERR_H
#define ENVOI_ERR_H

#include <stddef.h>
#include <sysexits.h>

#if defined(__GNUC__)
#define ENVOI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define ENVOI_PRINTF(f, a)
#endif

/* One line of diagnostic; longer messages are cut with "...". */
#define ERR_MSG_MAX 1024

struct err {
	int ex;                 /* sysexits code; 0 (EX_OK) = no error */
	int smtp_code;          /* server reply code behind it, 0 if none */
	char msg[ERR_MSG_MAX];  /* one line, no trailing newline */
};

void err_init(struct err *e);

/* Fill *e (overwriting it) and return -1, so callers can write
 * `return err_set(e, EX_CONFIG, "...")`. */
int err_set(struct err *e, int ex, const char *fmt, ...) ENVOI_PRINTF(3, 4);

/* Prepend context: "ctx: old message". Keeps the code. Returns -1. */
int err_prefix(struct err *e, const char *fmt, ...) ENVOI_PRINTF(2, 3);

/* Is this exit code a temporary condition (retry later)? */
int err_is_temporary(int ex);

/* "EX_TEMPFAIL" and a short meaning, for the documented table. */
const char *err_ex_name(int ex);
const char *err_ex_meaning(int ex);

#endif
