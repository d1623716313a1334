/*
 * lsmtp.h - `sendmail -bs`: a local SMTP submission server on the caller's
 * own pipe (stdin/stdout), for programs such as alpine and Symfony Mailer.
 *
 * Implements the server side of RFC 5321 (EHLO, HELO, MAIL, RCPT, DATA,
 * RSET, NOOP, QUIT, VRFY, HELP; transparency of 4.5.2), RFC 2920
 * (PIPELINING: replies in order, flushed before every blocking read),
 * RFC 1870 (SIZE), RFC 6152 (8BITMIME), RFC 6531 (SMTPUTF8), RFC 2034
 * (ENHANCEDSTATUSCODES) and RFC 3461 (DSN: RET, ENVID, NOTIFY).
 * No AUTH and no STARTTLS: the peer is the process that started us.
 *
 * Owns two layers:
 *  - the engine (struct lsmtp): bytes in, reply bytes out, with the
 *    transaction's events handed to callbacks (struct lsmtp_ops). It does
 *    no I/O and knows nothing of queues, so every path is testable with
 *    canned input split anywhere. The message body is un-dot-stuffed in
 *    a streaming pass and handed on in pieces: memory is flat whatever
 *    the message size;
 *  - lsmtp_serve: the descriptor loop and the callbacks that put every
 *    accepted message through submit.c (same sender choice, aliasing,
 *    header completion, queue and first attempt as the command line).
 *
 * Never: reads past what it was given (the engine) or holds a message in
 * memory; says 250 to an end of data before the queue entry is committed
 * (fsync'd); prints (replies go to the output descriptor, diagnostics to
 * the log); exits.
 *
 * Line ends and the end of data (RFC 5321 2.3.8, 4.1.1.4; the "SMTP
 * smuggling" pattern): the DATA command's own line end says how the
 * client ends lines, and the body is read that way, never both:
 *  - "DATA<CR><LF>" (every real client: alpine, Symfony Mailer,
 *    PHPMailer, smtplib): only <CR><LF>.<CR><LF> ends the data. A bare LF
 *    is a line end and is stored as CRLF (Postfix's "normalize"), and the
 *    line after it is text whatever it holds: its leading dot is kept and
 *    a "." there does not end the data. So <LF>.<LF>, <LF>.<CR><LF> and
 *    <CR><LF>.<LF> are message text, and a MAIL FROM behind them can never
 *    start a second transaction. A client that ends its data with one of
 *    them is still in DATA: it waits, and gets no 250.
 *  - "DATA<LF>" (a lax script writing bare LF everywhere): a line ends at
 *    LF, with or without a CR before it, and a line "." ends the data
 *    (<LF>.<LF>). Such a client dot-stuffs at every LF, so no text line
 *    can be read as the end.
 * Command lines end at LF, the CR before it optional (outside DATA every
 * line is a command either way).
 *
 * Replies to the end of data, with -odi (the default) the
 * message is tried at once: "250 2.0.0 Ok: delivered as ID"; a temporary
 * failure "250 2.0.0 Ok: queued as ID (will retry: REASON)"; refused for
 * good: the smarthost's code and enhanced code with the reason (the entry
 * is removed: the client has the message and gets the refusal). With
 * -odb/-odq: "250 2.0.0 Ok: queued as ID"; -odb then delivers the queue
 * in one detached child after QUIT (or end of input).
 */
#ifndef ENVOI_LSMTP_H
#define ENVOI_LSMTP_H

#include <stddef.h>

#include "buf.h"
#include "envelope.h"
#include "err.h"
#include "log.h"
#include "submit.h"

/* A command line with its CRLF. RFC 5321 4.5.3.1.4 says 512, but
 * extension parameters (SIZE, BODY, RET, ENVID, NOTIFY, ORCPT) and UTF-8
 * addresses lengthen MAIL and RCPT lines; 2048 holds any legitimate one
 * with room to spare. A longer line gets 500 and is skipped, never cut. */
#define LSMTP_LINE_MAX 2048

/* Recipients per message: Postfix's smtpd_recipient_limit default. More
 * in one message is a runaway script; the client gets 452 and may send
 * the rest in another transaction (RFC 5321 4.5.3.1.10). */
#define LSMTP_RCPTS_MAX 1000

/* Protocol errors per session (syntax, sequence, unknown commands): a
 * client that makes this many is not speaking SMTP (or is feeding us a
 * message without DATA); 421 and close, as Postfix's smtpd_hard_error_limit. */
#define LSMTP_ERRORS_MAX 20

/* One reply line's text after the code (RFC 5321: 512 with code and CRLF;
 * a smarthost's refusal we pass on is cut to fit). */
#define LSMTP_REPLY_MAX 480

/* Bytes read at once: pipelined commands arrive in one read. */
#define LSMTP_CHUNK (64 * 1024)

enum lsmtp_state {
	LSMTP_STATE_IDLE,    /* no transaction */
	LSMTP_STATE_MAIL,    /* MAIL accepted, no recipient yet */
	LSMTP_STATE_RCPT,    /* at least one recipient accepted */
	LSMTP_STATE_DATA,    /* 354 sent: reading the body */
	LSMTP_STATE_CLOSED,  /* QUIT answered, or 421: nothing more is read */
};

/* MAIL FROM as the client sent it. Strings are valid during the callback. */
struct lsmtp_mail {
	const char *from;          /* "" = the null sender */
	struct envelope opts;      /* BODY=, SMTPUTF8 (YES when given), RET=,
	                            * ENVID= (xtext decoded), each checked by
	                            * envelope.h; unset when not given */
	unsigned long long size;   /* SIZE=, 0 when not given */
};

/* A reply the callbacks may set: code and text after it (enhanced code
 * included: "2.1.0 Ok"). Preset to the success reply. */
struct lsmtp_reply {
	int code;
	char text[LSMTP_REPLY_MAX];
};

struct lsmtp_ops {
	/* MAIL was syntactically fine: accept (leave r) or refuse. */
	void (*mail)(void *ctx, const struct lsmtp_mail *m, struct lsmtp_reply *r);
	/* RCPT: accept or refuse one recipient; notify is NOTIFY= as
	 * envelope.h's bits, 0 when not given. */
	void (*rcpt)(void *ctx, const char *addr, unsigned notify, struct lsmtp_reply *r);
	/* Body bytes, dot-stuffing removed, line ends as sent; the end-of-data
	 * line is not included. Errors are for end() to report. */
	void (*data)(void *ctx, const char *p, size_t n);
	/* End of data: r is preset to "451 4.3.0" and must be set. */
	void (*end)(void *ctx, struct lsmtp_reply *r);
	/* The transaction is abandoned (RSET, EHLO, HELO, QUIT, end of
	 * input, a refused MAIL); the callback forgets it. */
	void (*reset)(void *ctx);
};

struct lsmtp_params {
	const char *hostname;            /* greeting and EHLO name */
	const struct lsmtp_ops *ops;
	void *ctx;
	struct log *log;                 /* state traces; may be NULL */
};

struct lsmtp {
	const struct lsmtp_params *p;    /* borrowed */
	enum lsmtp_state state;
	struct buf line;                 /* a command line being assembled */
	int overlong;                    /* skipping the rest of a too long line */
	int body_st;                     /* where in a line the body scanner is */
	int line_crlf;                   /* the last command line ended in CRLF */
	int lf_data;                     /* the body's lines end in bare LF (lsmtp.h) */
	size_t nrcpts;                   /* accepted in this transaction */
	unsigned errors;
	struct buf out;                  /* replies not yet written */
	struct err err;                  /* out of memory: the session is over */
};

/* Set up and queue the 220 greeting. p must outlive the engine. */
void lsmtp_init(struct lsmtp *s, const struct lsmtp_params *p);

/*
 * Consume n bytes of input: commands (the callbacks run as they complete)
 * and body data. Replies are appended to lsmtp_output() in order. Returns
 * 0 to go on (write the output, then read more), 1 once the session is
 * closed (write the output and stop; the rest of p is ignored), -1 when
 * memory ran out (lsmtp_error; closed).
 */
int lsmtp_feed(struct lsmtp *s, const char *p, size_t n);

/* End of input: a transaction under way is abandoned (reset). */
void lsmtp_eof(struct lsmtp *s);

/* Replies to write; the caller writes them and calls buf_reset. */
struct buf *lsmtp_output(struct lsmtp *s);

enum lsmtp_state lsmtp_state(const struct lsmtp *s);
const char *lsmtp_state_name(int state);
const struct err *lsmtp_error(const struct lsmtp *s);

void lsmtp_free(struct lsmtp *s);

/*
 * The -bs session: serve in_fd/out_fd until QUIT or end of input, each
 * message submitted through submit.c. base is a submit_init'ed submission
 * with only the caller's fields set (conf, acct, queue_dir, log, user,
 * full_name, opts, delivery_mode, ...); each transaction starts
 * from a copy of it, with MAIL FROM as req_from, no -t and no dot rule
 * (the body arrives un-stuffed in a scratch file of the queue). With
 * -odb and something queued, the parent returns after QUIT and a detached
 * child runs the account's queue (*detached = 1 in the child).
 * drop_spool non-NULL (a user who may not read the system configuration,
 * drop.h): base has no account; each message goes to root's maildrop
 * under that spool with its MAIL FROM and RCPTs as given (root's pickup
 * applies the account, aliases and policy) and the end of data is
 * answered "250 ... handed to the system queue as ID" once the drop file
 * is durable; the body waits in an unlinked file of $TMPDIR or /tmp.
 * Returns 0, or -1: EX_IOERR (the output cannot be written, the input
 * cannot be read), EX_OSERR.
 */
int lsmtp_serve(const struct submission *base, const char *drop_spool, int in_fd, int out_fd,
                int *detached, struct err *e);

#endif
