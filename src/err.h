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
 * Temporary versus permanent is decided once, here (err_ex_from_reply), from
 * the enhanced status code when the server gave one, else from the first
 * digit of the reply code.
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

/* The SMTP command a reply answered; used for "(in reply to RCPT TO)". */
enum smtp_phase {
	PHASE_NONE = 0,
	PHASE_CONNECT,   /* greeting */
	PHASE_EHLO,
	PHASE_STARTTLS,
	PHASE_AUTH,
	PHASE_MAIL,
	PHASE_RCPT,
	PHASE_DATA,      /* reply to the DATA command */
	PHASE_DOT,       /* reply to the end of data */
	PHASE_QUIT,
	PHASE_RSET,
};

void err_init(struct err *e);

/* Fill *e (overwriting it) and return -1, so callers can write
 * `return err_set(e, EX_CONFIG, "...")`. */
int err_set(struct err *e, int ex, const char *fmt, ...) ENVOI_PRINTF(3, 4);

/* Prepend context: "ctx: old message". Keeps the code. Returns -1. */
int err_prefix(struct err *e, const char *fmt, ...) ENVOI_PRINTF(2, 3);

/* Is this exit code a temporary condition (retry later)? */
int err_is_temporary(int ex);

/*
 * Exit code for an SMTP failure reply. `enh` is the enhanced status code
 * ("5.1.1") or NULL/"" when the server sent none. Temporary (4xx, or an
 * enhanced class 4) gives EX_TEMPFAIL; permanent gives EX_NOUSER for RCPT,
 * EX_NOPERM for AUTH and EX_UNAVAILABLE otherwise.
 */
int err_ex_from_reply(int code, const char *enh, enum smtp_phase phase);

/* "RCPT TO", "end of data", ...: what a reply was "in reply to". */
const char *err_phase_name(enum smtp_phase phase);

/* "EX_TEMPFAIL" and a short meaning, for the documented table. */
const char *err_ex_name(int ex);
const char *err_ex_meaning(int ex);

#endif
