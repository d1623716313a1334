/*
 * session.h - one delivery attempt: connect, drive the SMTP state machine,
 * stream the spooled message through the dot-stuffer, report per recipient.
 *
 * Owns: the only loop that moves bytes between the network (net/tls) and
 * the protocol engine (smtp); the glue between the engine's AUTH callbacks
 * and the SASL module, fetching the secret (cred) only when AUTH needs it;
 * write coalescing (a pipelined group, large body chunks and the end of data
 * with QUIT behind it each go out in as few TLS records as possible).
 *
 * Never: decides exit codes for main beyond filling struct err, touches the
 * queue, or keeps a secret after AUTH (wiped as soon as it was used).
 */
#ifndef ENVOI_SESSION_H
#define ENVOI_SESSION_H

#include <stddef.h>

#include "conf.h"
#include "err.h"
#include "log.h"

struct session_msg {
	int fd;                          /* spool data file; read from offset 0 */
	unsigned long long size;
	int has_8bit;
	const char *from;                /* envelope sender, "" = null sender */
	const char *const *rcpts;
	size_t nrcpts;
	const char *dsn_notify, *dsn_return, *envid;   /* NULL = none */
};

struct session_rcpt {
	const char *addr;                /* as given (points into session_msg) */
	int ex;                          /* 0 accepted, else the sysexits class */
	char text[512];                  /* "550 5.1.1 no such user (in reply to RCPT TO)" */
};

struct session_result {
	struct session_rcpt *rcpts;      /* nrcpts entries, malloc'd */
	size_t nrcpts;
	size_t naccepted;                /* recipients the message was delivered to */
	char reply[512];                 /* the server's reply to the end of data */
	int delivered;                   /* the end of data was accepted */
};

/*
 * Deliver m through account a. Returns 0 when the message was accepted for
 * at least one recipient (res says which were refused), -1 with *e filled
 * otherwise (EX_TEMPFAIL for anything worth retrying). res is always
 * filled as far as the session got; free it with session_result_free.
 */
int session_deliver(const struct account *a, const struct session_msg *m,
                    struct log *log, struct session_result *res, struct err *e);

void session_result_free(struct session_result *res);

#endif
