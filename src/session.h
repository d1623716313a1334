/*
 * session.h - SMTP connections for delivery: connect, drive the SMTP state
 * machine, stream the spooled messages through the dot-stuffer (DATA) or
 * raw in BDAT chunks (CHUNKING), report per message and per recipient.
 *
 * Owns: the only loop that moves bytes between the network (net/tls) and
 * the protocol engine (smtp); the glue between the engine's AUTH callbacks
 * and the SASL module, fetching the secret (cred) only when AUTH needs it;
 * write coalescing (a pipelined group, large body chunks and the end of data
 * with QUIT behind it each go out in as few TLS records as possible; a
 * BDAT line shares the write of the octets before and after it). A
 * message goes with BDAT only when its spool file holds exactly its
 * recorded size and ends in CRLF; otherwise DATA, which reads to the end.
 *
 * Two ways in. session_deliver: one message, one connection (connect, send,
 * QUIT). Or a connection object for many messages of one account:
 * session_open, then session_send per message (the last one with last = 1,
 * or any number followed by session_close), then session_close; or, for a
 * queue run, session_submit and session_collect (the window, below). All
 * put the same bytes on the wire for one message. Two questions ride on the
 * same setup: session_serverinfo (no AUTH, no message: what the server
 * shows) and session_etrn (ETRN on an open connection).
 *
 * Never: decides exit codes for main beyond filling struct err, touches the
 * queue, or keeps a secret after AUTH (wiped as soon as it was used).
 */
#ifndef ENVOI_SESSION_H
#define ENVOI_SESSION_H

#include <stddef.h>

#include "conf.h"
#include "envelope.h"
#include "err.h"
#include "log.h"
#include "reply.h"
#include "smtp.h"
#include "tls.h"

struct session_msg {
	int fd;                          /* spool data file; read from offset 0 */
	unsigned long long size;
	int has_8bit;
	const char *from;                /* envelope sender, "" = null sender */
	const char *const *rcpts;
	size_t nrcpts;
	struct envelope opts;            /* DSN, -B, -O SMTPUTF8=, REQUIRETLS */
};

struct session_rcpt {
	const char *addr;                /* as given (points into session_msg) */
	int ex;                          /* 0 accepted, -1 never reached (the message
	                                  * failed first), else the sysexits class */
	char text[512];                  /* "550 5.1.1 no such user (in reply to RCPT TO)" */
};

struct session_result {
	struct session_rcpt *rcpts;      /* nrcpts entries, malloc'd */
	size_t nrcpts;
	size_t naccepted;                /* recipients the message was delivered to */
	char reply[512];                 /* the server's reply to the end of data */
	int delivered;                   /* the end of data was accepted */
};

/* One SMTP connection for one account (opaque). */
struct session;

/*
 * Connect to a's server, do TLS, EHLO and AUTH as configured, and stop
 * before the first MAIL. On success *s is the connection (free it with
 * session_close). On -1 *s is NULL, nothing is left open, and *e says why:
 * EX_TEMPFAIL for anything worth retrying (connection refused or lost, a
 * name that does not resolve, timeouts: each whole reply within the
 * account's timeout, the whole session within a bound that session.c
 * states; 4xx such as AUTH 454 or a 421 greeting), else the permanent
 * class (EX_NOPERM for AUTH refused, EX_UNAVAILABLE, EX_PROTOCOL, ...).
 * a and log must outlive *s.
 *
 * Failover: when a's host lists several hosts (`host a.example,
 * b.example`), they are tried in order, the next one only when the
 * previous failed temporarily before any transaction (or its name does
 * not resolve); a permanent refusal such as a certificate failure or
 * AUTH 535 stops there and is returned. Every host given up on is logged
 * (log_event). When all failed, *e is the last host's reason, EX_TEMPFAIL
 * if any of them failed temporarily.
 */
int session_open(struct session **s, const struct account *a, struct log *log,
                 struct err *e);

/*
 * session_open along a's whole route: a's hosts, then, when they all
 * failed temporarily, the account named by a's fallback_account (looked
 * up in conf with conf_select, so with its own host, port, TLS and AUTH
 * settings), then that one's fallback, and so on (loops and chains deeper
 * than 8 end the route with a warning; conf_select refuses them already).
 * The session owns a fallback account it opened with; session_account and
 * session_host say which account and host were used. conf NULL: no
 * fallback. On -1, *e starts with a's own reason and is EX_TEMPFAIL when
 * anything failed temporarily: a fallback that refuses for good is named
 * in the message but cannot fail a message a's hosts may still take;
 * otherwise a fallback's permanent class.
 */
int session_open_route(struct session **s, const struct conf *conf, const struct account *a,
                       struct log *log, struct err *e);

/* What --serverinfo shows (session_serverinfo). */
struct session_info {
	char host[256];                  /* the host of the account's list it is about */
	long port;
	enum smtp_tls tls;
	char greeting[1024];             /* the greeting, reply_summary's form ("" none) */
	int have_plain_caps;             /* STARTTLS: the EHLO reply before it ... */
	struct caps plain_caps;          /* ... (void once TLS is up: RFC 3207 4.2) */
	int have_caps;                   /* the setup got through EHLO (or HELO) */
	struct caps caps;                /* the capabilities in force (inside TLS) */
	struct tls_peer tls_peer;        /* tls != 0: what the handshake showed (also
	                                  * when the certificate was refused) */
};

/*
 * --serverinfo: set up a connection exactly as session_open does for a
 * (its hosts in turn, its port, TLS mode, trust and fingerprint checks,
 * EHLO again after STARTTLS) but never AUTH, then QUIT. *info says what
 * was seen, as far as the connection got, success or not (a certificate
 * that fails its check is described all the same). Fallback accounts are
 * not followed: the question is about a's server. Errors as session_open.
 */
int session_serverinfo(const struct account *a, struct log *log, struct session_info *info,
                       struct err *e);

/*
 * --rmqs: on an open connection (session_open: TLS and AUTH as the account
 * says), ask the server to run its queue for node (ETRN, RFC 1985).
 * reply gets the server's reply summary ("250 Queuing started"), or ""
 * when nothing was asked. Returns 0 on a 2xx; -1 with *e: EX_TEMPFAIL
 * for a 4xx or a lost connection, EX_UNAVAILABLE for a 5xx or a server
 * that does not offer ETRN, EX_USAGE for an unusable node. The connection
 * stays open either way; session_close it.
 */
int session_etrn(struct session *s, const char *node, char *reply, size_t size, struct err *e);

/* The host (as the account's host list names it) and the name of the
 * account s is connected through; valid until session_close. */
const char *session_host(const struct session *s);
const char *session_account(const struct session *s);

/*
 * Send one message over s. last = 1: nothing follows, the end of data
 * carries QUIT (with PIPELINING) and the connection ends with this
 * message. Returns 0 when the message was accepted for at least one
 * recipient (res says which were refused), -1 with *e filled when it was
 * not: EX_TEMPFAIL for a 4xx or a connection failure, the permanent class
 * for a 5xx. res is always filled (free it with session_result_free);
 * recipients the session never got to have ex -1. Unless session_usable(s)
 * says otherwise afterwards, the connection can take the next message,
 * even after -1 (a refused message fails alone; RSET is the engine's job).
 * The engine is done with m when the call returns (res's addresses point
 * into m's recipient strings, though).
 */
int session_send(struct session *s, const struct session_msg *m, int last,
                 struct session_result *res, struct err *e);


/*
 * The window, for a queue run: many messages over s, each costing a
 * fraction of a round trip. session_submit(m) sends m now when it can
 * (with CHUNKING and PIPELINING: its whole BDAT transaction rides behind
 * those still unanswered, up to smtp.h's SMTP_WINDOW in flight; a DATA
 * message once the next one is known, whose envelope then rides behind
 * its end of data) and reads the replies of older
 * messages only when it must make room. session_collect then hands out
 * the results one per submitted message, in submission order; the first
 * reads replies if that message's are not in yet. At most SESSION_WINDOW
 * messages may be submitted and not collected; the caller holds each m
 * (the queue: its lock, its open spool) until its result is collected.
 * m's result is exactly what session_send would give, and a refused
 * message fails alone. When the connection fails, every message in flight
 * gets EX_TEMPFAIL: its verdict was never read, so the server may or may
 * not have it; it must stay queued. A message marked last ends the
 * connection once answered: submit nothing after it. Not to be mixed
 * with session_send, session_verify or session_etrn while messages are
 * uncollected.
 */
#define SESSION_WINDOW 34               /* smtp.h's SMTP_WINDOW + 2 */

/* 0 when m was taken (its result comes from session_collect, even when it
 * could not be sent at all), -1 when s is NULL or SESSION_WINDOW
 * messages are uncollected (nothing happens). */
int session_submit(struct session *s, const struct session_msg *m, int last);

/* The oldest uncollected message's result: *m is the message as given to
 * session_submit, res (free it with session_result_free) and the return
 * value as for session_send. -1 with EX_SOFTWARE (and *m NULL) when
 * nothing is uncollected. */
int session_collect(struct session *s, const struct session_msg **m,
                    struct session_result *res, struct err *e);

/* Is the oldest uncollected result in already (session_collect would not
 * wait)? Messages submitted and not collected yet. NULL-safe. */
int session_result_ready(const struct session *s);
size_t session_pending(const struct session *s);

/*
 * sendmail -bv over s: ask the server about m's recipients (MAIL, RCPTs,
 * RSET; never DATA; m->fd is not used) and leave the connection idle.
 * res says per recipient: ex 0 accepted, the sysexits class of a refusal
 * (EX_TEMPFAIL for a 4xx), -1 not asked; text holds the server's reply
 * either way. Returns 0 when the server was asked (whatever it said), -1
 * with *e filled when it could not be: MAIL refused, the connection
 * failed (EX_TEMPFAIL for anything temporary), the envelope is invalid.
 */
int session_verify(struct session *s, const struct session_msg *m,
                   struct session_result *res, struct err *e);

/* Can s take another message? 0 once the connection failed, or ended
 * (or will end) after a message sent with last = 1. NULL-safe (0). */
int session_usable(const struct session *s);

/* Say QUIT unless it was said already (without waiting for the reply),
 * close, and free s. NULL-safe. */
void session_close(struct session *s);

/*
 * Deliver m through account a. Returns 0 when the message was accepted for
 * at least one recipient (res says which were refused), -1 with *e filled
 * otherwise (EX_TEMPFAIL for anything worth retrying). res is always
 * filled as far as the session got; free it with session_result_free.
 * The same as session_open, session_send(last = 1), session_close, except
 * that a message that cannot be sent at all fails before connecting.
 */
int session_deliver(const struct account *a, const struct session_msg *m,
                    struct log *log, struct session_result *res, struct err *e);

void session_result_free(struct session_result *res);

#endif
