/*
 * smtp.h - the SMTP client state machine, free of I/O.
 *
 * Implements the client side of RFC 5321 (greeting, EHLO with HELO
 * fallback, MAIL, RCPT, DATA, QUIT), RFC 3207 (STARTTLS), RFC 4954 (AUTH),
 * RFC 2920 (PIPELINING), RFC 1870 (SIZE), RFC 6152 (8BITMIME), RFC 6531
 * (SMTPUTF8), RFC 3461 (DSN: RET, ENVID, NOTIFY).
 *
 * Owns: the protocol state (an enum with a name table; every transition
 * goes through one set_state() that traces "OLD -> NEW" with log_debug),
 * the commands to send (smtp_output), which reply answers which command,
 * the per-recipient status, and the overall error with its exit class.
 *
 * Never: touches sockets, files or TLS, sees a password (AUTH data arrives
 * from the callbacks as opaque base64), prints, or exits. The session
 * module moves the bytes: it sends smtp_output(), reads one complete reply
 * (struct reply, validated by reply.c) and hands it to smtp_on_reply(),
 * and does whatever the returned action says.
 *
 * Decisions worth knowing:
 * - With PIPELINING, MAIL, every RCPT and DATA go out as one group, and
 *   QUIT rides behind the end of data; the engine then ends on the end of
 *   data reply without waiting for QUIT's (as Postfix's client does).
 * - A message with 8-bit bytes is sent with BODY=8BITMIME when the server
 *   offers 8BITMIME; when it does not, the body is sent unchanged anyway
 *   (no downgrade to quoted-printable), as common clients do: nearly every
 *   server passes 8-bit data through.
 * - When no recipient was accepted the body is never sent; if a pipelined
 *   DATA was nevertheless answered with 354, the engine sends only the
 *   end-of-data "." so that the server sees an empty, recipient-less
 *   message it must refuse, then QUIT.
 * - A 421 reply at any point ends the session with EX_TEMPFAIL and no QUIT
 *   (the server is closing the connection).
 * - Addresses and parameters containing CR, LF or other control bytes are
 *   refused (EX_SOFTWARE/EX_CONFIG) rather than sent: no command injection
 *   even if a caller forgot to validate.
 */
#ifndef ENVOI_SMTP_H
#define ENVOI_SMTP_H

#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "log.h"
#include "reply.h"

/*
 * Bytes one command line may take, with CRLF. RFC 5321 allows 512 plus
 * room for extension parameters; RFC 4954 4 says an AUTH line (initial
 * response, or a SASL response) may reach 12288 octets. 16 KiB covers both;
 * the output buffer's maximum is this times the number of commands one
 * group can hold, so its bound follows from the recipient count.
 */
#define SMTP_CMD_MAX 16384

/* AUTH round trips: SCRAM needs 2, GSSAPI-style exchanges a few more. A
 * server that keeps sending 334 past this is looping. */
#define SMTP_AUTH_STEPS_MAX 16

enum smtp_state {
	SMTP_STATE_GREETING,    /* waiting for the 220 */
	SMTP_STATE_EHLO,        /* EHLO sent */
	SMTP_STATE_HELO,        /* HELO sent after EHLO was refused */
	SMTP_STATE_STARTTLS,    /* STARTTLS sent */
	SMTP_STATE_TLS,         /* the session is doing the TLS handshake */
	SMTP_STATE_EHLO_TLS,    /* EHLO sent again inside TLS */
	SMTP_STATE_AUTH,        /* AUTH or a SASL response sent */
	SMTP_STATE_MAIL,        /* MAIL sent (and, pipelined, RCPTs and DATA) */
	SMTP_STATE_RCPT,        /* awaiting RCPT replies */
	SMTP_STATE_DATA,        /* awaiting the reply to DATA */
	SMTP_STATE_BODY,        /* the session is streaming the body */
	SMTP_STATE_DOT,         /* end of data sent */
	SMTP_STATE_QUIT,        /* accepted; QUIT queued or sent, its reply not needed */
	SMTP_STATE_DONE,        /* the session read QUIT's reply anyway */
	SMTP_STATE_FAILED,
};

struct smtp_auth_ops {
	/* Implemented by the session around the SASL module. Choose a
	 * mechanism among server_mechs (space-separated, upper case); *mech
	 * must stay valid until the next call; *initial is a malloc'd base64
	 * initial response or NULL (send none); "" means an empty initial
	 * response, sent as "=" (RFC 4954). -1 with *e filled to give up. */
	int (*start)(void *ctx, const char *server_mechs, const char **mech, char **initial,
	             struct err *e);
	/* challenge: the base64 text of a 334 reply (may be ""); *response is
	 * malloc'd base64 the engine sends, wipes and frees. */
	int (*step)(void *ctx, const char *challenge, char **response, struct err *e);
	/* On 235, before the envelope: may refuse a success the mechanism
	 * cannot confirm (a SCRAM server that never proved it knows the
	 * password). NULL = nothing to check. */
	int (*finish)(void *ctx, struct err *e);
};

/* An envelope address in both forms (from addr.c). ascii NULL means it
 * cannot be written in ASCII (non-ASCII local part): it needs SMTPUTF8. */
struct smtp_addr {
	const char *utf8;
	const char *ascii;
};

struct smtp_rcpt_status {
	int code;           /* the RCPT reply code; 0 = not sent */
	char enh[REPLY_ENH_MAX];
	char *text;         /* malloc'd reply summary ("550 5.1.1 user unknown"), or
	                     * for a recipient refused locally the reason; NULL if
	                     * nothing happened yet. Owned by the engine. */
	int ex;             /* 0 = accepted or not decided yet; else its sysexits
	                     * class (EX_NOUSER, EX_TEMPFAIL, EX_UNAVAILABLE) */
};

struct smtp_params {
	const char *helo;               /* EHLO/HELO argument */
	const char *host;               /* server name for messages; NULL = "the server" */
	int tls;                        /* 0 plain, 1 STARTTLS required, 2 implicit TLS */
	int auth;                       /* 1 = authenticate (auth_ops must be set) */
	const struct smtp_auth_ops *auth_ops;
	void *auth_ctx;
	struct smtp_addr from;          /* utf8 "" (or NULL) = null sender "<>" */
	const struct smtp_addr *rcpts;
	size_t nrcpts;
	unsigned long long size;        /* spool size, for SIZE= and the early check */
	int has_8bit;                   /* BODY=8BITMIME when offered */
	const char *dsn_notify, *dsn_return, *envid;   /* NULL = none; only sent if DSN is offered */
	struct log *log;                /* state-transition traces; may be NULL */
};

enum smtp_action {
	SMTP_SEND,      /* write smtp_output(), then read one reply and call smtp_on_reply */
	SMTP_READ,      /* read one more reply and call smtp_on_reply */
	SMTP_STARTTLS,  /* do the TLS handshake now (the session checks nothing was
	                 * pipelined behind the 220), then call smtp_tls_done */
	SMTP_BODY,      /* send pending output, stream the dot-stuffed body (ending in
	                 * CRLF), then call smtp_body_done */
	SMTP_DONE,      /* accepted for at least one recipient: send pending output
	                 * (QUIT) and close without waiting for QUIT's reply */
	SMTP_FAIL,      /* failed, see smtp_error(); pending output (QUIT) may be
	                 * sent best-effort before closing */
};

struct smtp {
	const struct smtp_params *p;    /* borrowed; must outlive the engine */
	enum smtp_state state;
	struct caps caps;
	int tls_active;
	int use_utf8;                   /* the envelope uses UTF-8 forms + SMTPUTF8 */
	int pipelining;                 /* the envelope is being pipelined */
	int quit_sent;                  /* QUIT is queued or sent already */
	int auth_steps;
	size_t rcpt_cur;                /* recipient whose RCPT reply comes next */
	size_t accepted;
	struct smtp_rcpt_status *rcpt;  /* p->nrcpts entries */
	struct buf out;
	int out_secret;
	struct err err;
};

/* Set up for one transaction. p (and everything it points to) must stay
 * valid until smtp_free. Allocation failures surface at smtp_start. */
void smtp_init(struct smtp *s, const struct smtp_params *p);

/* -> SMTP_READ (await the greeting), or SMTP_FAIL (no recipients, memory). */
enum smtp_action smtp_start(struct smtp *s);

/* Consume one complete reply to the oldest unanswered command. */
enum smtp_action smtp_on_reply(struct smtp *s, const struct reply *r);

/* After the STARTTLS handshake: forgets the old caps, queues EHLO again
 * -> SMTP_SEND. */
enum smtp_action smtp_tls_done(struct smtp *s);

/* After the body: queues ".\r\n" (and with PIPELINING "QUIT\r\n" behind
 * it) -> SMTP_SEND. */
enum smtp_action smtp_body_done(struct smtp *s);

/* Bytes to send; the session sends them and calls buf_reset. */
struct buf *smtp_output(struct smtp *s);

/* Does the pending output carry AUTH data? Then log it redacted. */
int smtp_output_is_secret(const struct smtp *s);

/* The overall failure (ex 0 while none). Owned by s. */
const struct err *smtp_error(const struct smtp *s);

/* The server's capabilities (the latest EHLO; all zero after HELO). */
const struct caps *smtp_caps(const struct smtp *s);

/* Recipient i's status, NULL if i is out of range. Owned by s. */
const struct smtp_rcpt_status *smtp_rcpt_status(const struct smtp *s, size_t i);

/* Recipients accepted by RCPT so far. */
size_t smtp_accepted(const struct smtp *s);

/* Current state, and a state's name ("EHLO_TLS"; "?" if out of range). */
enum smtp_state smtp_state(const struct smtp *s);
const char *smtp_state_name(int state);

/* Release everything (wiping any AUTH data still queued). */
void smtp_free(struct smtp *s);

#endif
