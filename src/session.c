/* session.c - see session.h. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "buf.h"
#include "cred.h"
#include "message.h"
#include "net.h"
#include "oauth2http.h"
#include "reply.h"
#include "sasl.h"
#include "session.h"
#include "smtp.h"
#include "tls.h"
#include "tlscache.h"

/*
 * Body chunk read from the spool. 64 KiB fills several maximum-size TLS
 * records per write while keeping memory flat for any message size.
 */
#define SESSION_CHUNK (64u * 1024u)
/* A server reply line longer than this is a protocol error, found while
 * reading (reply.h bounds the whole reply): the message names the limit. */
#define SESSION_LINE_MAX REPLY_LINE_MAX
/* Memory set aside at the start for reading one reply line and one
 * reply's text: RFC 5321 4.5.3.1.5 bounds a reply line at 512 octets, so
 * the answer to an end of data, once the message is out, is read without
 * allocating (a failed allocation there would leave the message's fate
 * unknown, and a retry would deliver it twice). */
#define SESSION_REPLY_RESERVE 1024

/*
 * Time. The account's `timeout` bounds each whole reply (all its lines:
 * a server dripping a byte a second gets no more), each write, each
 * connect attempt and the whole TLS handshake. RFC 5321 4.5.3.2 sets
 * per-command limits only, so a server that answers every command just in
 * time, or takes the body a few bytes at a time, could still hold a queue
 * run for hours; the session is bounded too (envoi.conf(5), `timeout`):
 * setting up a connection (connect, greeting, EHLO, STARTTLS, handshake,
 * EHLO, AUTH) gets SESSION_SETUP_TIMEOUTS timeouts, and each message, from
 * MAIL to the reply to its end of data, SESSION_MSG_TIMEOUTS timeouts,
 * one more per SESSION_RCPTS_PER_TIMEOUT recipients, and its size at
 * SESSION_MIN_RATE bytes a second. timeout off: no bound at all.
 */
#define SESSION_SETUP_TIMEOUTS 10
#define SESSION_MSG_TIMEOUTS 10
#define SESSION_RCPTS_PER_TIMEOUT 10
/* 8 KiB/s (64 kbit/s) is a link slower than any that carries a mail
 * submission today; the default timeout adds minutes of slack on top. */
#define SESSION_MIN_RATE 8192

struct auth_ctx {
	const struct account *a;
	const char *host;               /* the host of a's list being used */
	struct conn *conn;
	struct sasl *sasl;
	struct log *log;                /* -v: a refreshed token is told */
	/* OAuth 2.0 (oauth2_provider): the token sent, so that a refusal
	 * refreshes exactly it (oauth2.h), and the one to send next. */
	char *token, *next;
};

/* The access token of an oauth2_provider account (refused: the one the
 * server refused, else NULL); -v says when the provider was asked for a
 * new one, never what it is. */
static int
oauth2_secret(struct auth_ctx *ctx, const char *refused, char **token,
    struct err *e)
{
	int refreshed;

	if (oauth2http_account_token(ctx->a, cred_oauth2_client_secret,
	    refused, token, &refreshed, e) < 0)
		return -1;
	if (refused)
		log_debug(ctx->log, "oauth2: the server refused the access token; "
		    "%s, AUTH again", refreshed ? "refreshed it" :
		    "another run had refreshed it");
	else if (refreshed)
		log_debug(ctx->log, "oauth2: the stored access token expires "
		    "within %d s: refreshed it", OAUTH2_MIN_VALIDITY);
	return 0;
}

static int
auth_start(void *vctx, const char *server_mechs, const char **mech, char **initial,
           struct err *e)
{
	struct auth_ctx *ctx = vctx;
	struct sasl_params p;
	char *secret = NULL;
	unsigned char *cb = NULL;
	size_t cblen = 0;
	const char *cbtype = NULL;
	int r;

	if (ctx->next) {                /* auth_retry's refreshed token */
		secret = ctx->next;
		ctx->next = NULL;
	} else if (ctx->a->oauth2_provider) {
		if (oauth2_secret(ctx, NULL, &secret, e) < 0)
			return -1;
	} else if (cred_get_secret(ctx->a, &secret, e) < 0) {
		return -1;
	}
	sasl_free(ctx->sasl);           /* a retry starts over */
	ctx->sasl = NULL;
	memset(&p, 0, sizeof p);
	p.configured = ctx->a->auth ? ctx->a->auth : "on";
	p.oauth = ctx->a->oauth2_provider != NULL;
	p.server_mechs = server_mechs;
	p.user = ctx->a->user ? ctx->a->user : "";
	p.secret = secret;
	p.host = ctx->host;
	p.port = (int)ctx->a->port;
	p.tls_active = ctx->conn->tls != NULL;
	/* conf_finalize allowed tls off with a password only for loopback. */
	p.cleartext_ok = ctx->a->tls == 0;
	if (ctx->conn->tls && tls_channel_binding(ctx->conn->tls, &cbtype, &cb, &cblen) == 0) {
		p.cb_type = cbtype;
		p.cb_data = cb;
		p.cb_len = cblen;
	}
	r = sasl_start(&ctx->sasl, &p, mech, initial, e);
	if (ctx->a->oauth2_provider) {
		cred_free(ctx->token);
		ctx->token = secret;
		secret = NULL;
	}
	cred_free(secret);
	if (cb) {
		mem_wipe(cb, cblen);
		free(cb);
	}
	return r;
}

static int
auth_step(void *vctx, const char *challenge, char **response, struct err *e)
{
	struct auth_ctx *ctx = vctx;

	return sasl_step(ctx->sasl, challenge, response, e);
}

static int
auth_finish(void *vctx, struct err *e)
{
	struct auth_ctx *ctx = vctx;
	int r = sasl_finish(ctx->sasl, e);

	/* Done with the mechanism: end it now so libgsasl's copies of the
	 * secret go away before the message is sent. */
	sasl_free(ctx->sasl);
	ctx->sasl = NULL;
	cred_free(ctx->token);
	ctx->token = NULL;
	return r;
}

/* The server refused the OAuth 2.0 token (RFC 7628's error challenge,
 * then 535): refresh it once, unless another run already did, and let
 * smtp.c run AUTH again on this connection. */
static int
auth_retry(void *vctx, struct err *e)
{
	struct auth_ctx *ctx = vctx;

	if (ctx->a->oauth2_provider == NULL || ctx->token == NULL)
		return 0;
	if (oauth2_secret(ctx, ctx->token, &ctx->next, e) < 0)
		return -1;
	return 1;
}

static const struct smtp_auth_ops auth_ops = {
	auth_start, auth_step, auth_finish, auth_retry,
};

static int
secs_int(long long secs)
{
	return secs > INT_MAX ? INT_MAX : (int)secs;
}

/* Read one complete reply (all its lines) into r, within one timeout;
 * line is the session's line buffer, reused. */
static int
read_reply(struct conn *c, struct buf *line, struct reply *r, struct log *log, struct err *e)
{
	long long deadline = conn_deadline(c);
	int done = 0;

	reply_reset(r);
	while (!done) {
		if (conn_read_line(c, line, deadline, e) < 0)
			break;
		log_proto(log, LOG_RECV, buf_cstr(line), line->len);
		done = reply_feed(r, buf_cstr(line), line->len, e);
		if (done < 0)
			break;
	}
	buf_reset(line);
	return done == 1 ? 0 : -1;
}

static int
send_output(struct conn *c, struct smtp *s, struct log *log, struct err *e)
{
	struct buf *out = smtp_output(s);
	int r = 0;

	if (out->len == 0)
		return 0;
	log_proto(log, smtp_output_is_secret(s) ? LOG_SEND_SECRET : LOG_SEND, out->data, out->len);
	r = conn_write(c, out->data, out->len, e);
	if (smtp_output_is_secret(s))
		mem_wipe(out->data, out->len);
	buf_reset(out);
	return r;
}

/* The buffer a session streams bodies through: SESSION_CHUNK octets read
 * from the spool, then room for them dot-stuffed (each LF may gain a CR
 * and a dot) plus the end of data. Allocated once, for the first body, and
 * kept for the connection's other messages. */
#define SESSION_IN_SIZE SESSION_CHUNK
#define SESSION_OUT_SIZE (2 * SESSION_CHUNK + 64)

/* Position the spool at off, or say why not. */
static int
spool_seek(const struct session_msg *m, unsigned long long off, struct err *e)
{
	if (lseek(m->fd, (off_t)off, SEEK_SET) < 0)
		return err_set(e, EX_IOERR, "cannot read the spooled message: %s", strerror(errno));
	return 0;
}

/* Up to n octets of the spool (EINTR retried). Returns the count, 0 at
 * the end, -1 with *e; with exact, the end is an error too (the entry is
 * shorter than the size recorded for it). */
static ssize_t
spool_read(const struct session_msg *m, char *p, size_t n, int exact, struct err *e)
{
	for (;;) {
		ssize_t r = read(m->fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || (r == 0 && exact)) {
			err_set(e, EX_IOERR, "cannot read the spooled message: %s",
			        r < 0 ? strerror(errno) : "shorter than its recorded size");
			return -1;
		}
		return r;
	}
}

/*
 * Stream the spool through the dot-stuffer, in io (SESSION_IN_SIZE +
 * SESSION_OUT_SIZE). The last chunk is not written here: the end-of-data
 * terminator and QUIT are appended to it so that they travel in the same
 * write (and TLS record).
 */
static int
send_body(struct conn *c, const struct session_msg *m, struct smtp *s,
          const struct smtp_msg *next, struct log *log, char *io, struct err *e)
{
	char *in = io, *out = io + SESSION_IN_SIZE;
	struct dotstuff ds;
	size_t olen = 0;
	ssize_t n;
	enum smtp_action act;
	struct buf *tail;

	if (send_output(c, s, log, e) < 0 || spool_seek(m, 0, e) < 0)
		return -1;
	dotstuff_init(&ds);
	while ((n = spool_read(m, in, SESSION_IN_SIZE, 0, e)) > 0) {
		if (olen > 0 && conn_write(c, out, olen, e) < 0)
			return -1;
		olen = dotstuff_run(&ds, in, (size_t)n, out);
	}
	if (n < 0)
		return -1;
	olen += dotstuff_finish(&ds, out + olen);
	log_debug(log, "(message body: %llu bytes)", m->size);
	act = smtp_body_done_next(s, next);
	if (act != SMTP_SEND) {
		/* No end of data queued: nothing more goes out, so the
		 * server cannot take the message. */
		*e = *smtp_error(s);
		if (e->ex == 0)
			err_set(e, EX_SOFTWARE, "the SMTP engine refused the end of data");
		return -1;
	}
	/* The terminator and QUIT (or the next envelope) ride in the last
	 * body write. */
	tail = smtp_output(s);
	if (tail->len)
		log_proto(log, LOG_SEND, tail->data, tail->len);
	if (tail->len && tail->len <= SESSION_OUT_SIZE - olen) {
		memcpy(out + olen, tail->data, tail->len);
		olen += tail->len;
		buf_reset(tail);
	}
	if (conn_write(c, out, olen, e) < 0)
		return -1;
	if (tail->len) {
		int r = conn_write(c, tail->data, tail->len, e);
		buf_reset(tail);
		return r;
	}
	return 0;
}

/* Queue the engine's pending output into out (room for cap octets,
 * *olen used), writing out first when it does not fit. */
static int
chunk_commands(struct conn *c, struct smtp *s, char *out, size_t *olen, size_t cap,
               struct log *log, struct err *e)
{
	struct buf *cmd = smtp_output(s);

	if (cmd->len == 0)
		return 0;
	if (cmd->len > cap - *olen) {
		if (*olen > 0 && conn_write(c, out, *olen, e) < 0)
			return -1;
		*olen = 0;
		if (cmd->len > cap)
			return send_output(c, s, log, e);
	}
	log_proto(log, LOG_SEND, cmd->data, cmd->len);
	memcpy(out + *olen, cmd->data, cmd->len);
	*olen += cmd->len;
	buf_reset(cmd);
	return 0;
}

/*
 * SMTP_CHUNK: send BDAT chunks straight from the spool (no dot-stuffing:
 * BDAT counts octets) for as long as the engine asks for them. Commands
 * and body share one buffer, so a BDAT line travels in the write of the
 * octets before it and QUIT in that of the last chunk. Memory is the one
 * buffer, whatever the size. Returns the engine's next action, with
 * everything it queued sent; SMTP_FAIL with *e on an I/O error (the
 * server is then mid-chunk: the connection is unusable).
 */
static enum smtp_action
send_chunks(struct conn *c, const struct session_msg *m, struct smtp *s, struct log *log,
            char *out, struct err *e)
{
	size_t cap = SESSION_OUT_SIZE, olen = 0;
	enum smtp_action act = SMTP_CHUNK;
	unsigned long long off, len;

	while (act == SMTP_CHUNK) {
		if (smtp_chunk(s, &off, &len) < 0 || chunk_commands(c, s, out, &olen, cap, log, e) < 0 ||
		    spool_seek(m, off, e) < 0)
			goto fail;
		log_debug(log, "(BDAT chunk: %llu octets from offset %llu)", len, off);
		while (len > 0) {
			size_t want = cap - olen < len ? cap - olen : (size_t)len;
			ssize_t n = spool_read(m, out + olen, want, 1, e);
			if (n < 0)
				goto fail;
			olen += (size_t)n;
			len -= (unsigned long long)n;
			if (olen == cap) {
				if (conn_write(c, out, olen, e) < 0)
					goto fail;
				olen = 0;
			}
		}
		act = smtp_chunk_done(s);
	}
	if (act == SMTP_FAIL) {
		*e = *smtp_error(s);
		goto fail;
	}
	if (chunk_commands(c, s, out, &olen, cap, log, e) < 0 ||
	    (olen > 0 && conn_write(c, out, olen, e) < 0))
		goto fail;
	return act == SMTP_SEND ? SMTP_READ : act;
fail:
	if (e->ex == 0)
		err_set(e, EX_SOFTWARE, "the SMTP engine refused the chunk");
	return SMTP_FAIL;
}

static void
record_result(struct smtp *s, const struct session_msg *m, struct session_result *res)
{
	for (size_t i = 0; i < m->nrcpts && res->rcpts; i++) {
		const struct smtp_rcpt_status *st = smtp_rcpt_status(s, i);
		struct session_rcpt *r = &res->rcpts[i];

		r->addr = m->rcpts[i];
		/* ex 0 means accepted or never reached; otherwise the engine
		 * already classified the refusal (also for recipients it refused
		 * itself, such as a non-ASCII local part without SMTPUTF8). */
		if (st == NULL || (st->ex == 0 && st->code / 100 != 2)) {
			r->ex = -1;
			continue;
		}
		r->ex = st->ex;
		if (r->ex)
			snprintf(r->text, sizeof r->text, "%s%s", st->text ? st->text : "refused",
			         st->code ? " (in reply to RCPT TO)" : "");
	}
	res->naccepted = 0;
	for (size_t i = 0; i < res->nrcpts && res->rcpts; i++)
		if (res->rcpts[i].ex == 0)
			res->naccepted++;
}

/* ------------------------------------------------------------ connection */

/* A message's envelope in the engine's terms: both forms of every address
 * (addr.c), from which the engine picks per the server's SMTPUTF8. */
struct prepared {
	struct smtp_msg m;
	struct smtp_addr *rcpts;
	char **forms;                   /* 2 * (nrcpts + 1) strings */
	size_t nforms;
};

/* A message handed to session_submit whose result was not collected. */
enum slot_state {
	SLOT_PENDING,                    /* not sent: a DATA message waits to learn
	                                  * what follows it (its envelope may be on
	                                  * the wire behind the previous end of data) */
	SLOT_SENT,                       /* in the engine's window, replies due */
	SLOT_DONE,                       /* res, e and ret are final */
};

struct slot {
	const struct session_msg *m;
	struct prepared pm;
	struct session_result res;
	struct err e;
	int ret;
	int last;
	enum slot_state state;
};

struct session {
	const struct account *a;
	struct log *log;
	struct conn conn;
	struct tls_opts to;
	struct auth_ctx actx;
	struct smtp_params p;
	struct smtp smtp;
	struct reply reply;             /* the latest reply read */
	struct buf line;                /* one reply line as it is read */
	char *host;                     /* the host used, in ASCII (A-labels) */
	char *host_given;               /* ... as the account's list names it */
	struct account *owned;          /* a, when it is a fallback account
	                                 * the session looked up (freed here) */
	int engine;                     /* smtp_init ran */
	int usable;                     /* the engine is READY and the connection sound */
	/* the next message, whose envelope may ride behind the end of data */
	const struct smtp_msg *body_next;   /* for send_body, during win_send_pending */
	struct session_info *info;      /* --serverinfo: what to record; NULL = nothing */
	char *io;                       /* bodies stream through it; NULL until the first */
	struct tlscache resume;         /* TLS session resumption across runs */
	/* session_submit's messages, oldest first (a ring): DONE ones, then
	 * SENT ones or one PENDING */
	struct slot win[SESSION_WINDOW];
	size_t win_first, win_n;
	int win_last;                   /* a message marked last was submitted */
};

_Static_assert(SESSION_WINDOW >= SMTP_WINDOW + 2, "a window's results and the one being "
               "submitted fit");


static void
prepared_free(struct prepared *pm)
{
	for (size_t i = 0; pm->forms && i < pm->nforms; i++)
		free(pm->forms[i]);
	free(pm->forms);
	free(pm->rcpts);
	memset(pm, 0, sizeof *pm);
}

static int
prepare(struct prepared *pm, const struct session_msg *m, struct err *e)
{
	memset(pm, 0, sizeof *pm);
	pm->rcpts = calloc(m->nrcpts ? m->nrcpts : 1, sizeof *pm->rcpts);
	pm->forms = calloc(2 * (m->nrcpts + 1), sizeof *pm->forms);
	pm->nforms = 2 * (m->nrcpts + 1);
	if (pm->rcpts == NULL || pm->forms == NULL) {
		prepared_free(pm);
		return err_set(e, EX_OSERR, "out of memory");
	}
	pm->m.from.utf8 = "";
	pm->m.from.ascii = "";
	if (*m->from) {
		if (addr_envelope_forms(m->from, &pm->forms[0], &pm->forms[1], e) < 0)
			goto fail;
		pm->m.from.ascii = pm->forms[0];
		pm->m.from.utf8 = pm->forms[1];
	}
	for (size_t i = 0; i < m->nrcpts; i++) {
		if (addr_envelope_forms(m->rcpts[i], &pm->forms[2 + 2 * i], &pm->forms[3 + 2 * i],
		                        e) < 0) {
			err_prefix(e, "<%s>", m->rcpts[i]);
			goto fail;
		}
		pm->rcpts[i].ascii = pm->forms[2 + 2 * i];
		pm->rcpts[i].utf8 = pm->forms[3 + 2 * i];
	}
	pm->m.rcpts = pm->rcpts;
	pm->m.nrcpts = m->nrcpts;
	pm->m.size = m->size;
	pm->m.has_8bit = m->has_8bit;
	pm->m.opts = m->opts;
	if (smtp_msg_check(&pm->m, e) < 0)
		goto fail;
	return 0;
fail:
	prepared_free(pm);
	return -1;
}

static int
session_io(struct session *s, struct err *e)
{
	if (s->io == NULL && (s->io = malloc(SESSION_IN_SIZE + SESSION_OUT_SIZE)) == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	return 0;
}

/* Pending output when the connection is ending anyway: best effort. */
static void
send_last_words(struct session *s)
{
	struct err ignore;

	err_init(&ignore);
	(void)send_output(&s->conn, &s->smtp, s->log, &ignore);
}

/*
 * Run the engine from act until it is READY, DONE or FAILED; m is the
 * message whose body SMTP_BODY streams (NULL while setting up). Returns
 * the final action. SMTP_FAIL fills *e: the engine's error, or the I/O
 * failure that stopped the loop. Only READY leaves the connection usable.
 */
static enum smtp_action
drive(struct session *s, enum smtp_action act, const struct session_msg *m, struct err *e)
{
	s->usable = 0;
	for (;;) {
		switch (act) {
		case SMTP_SEND:
			if (send_output(&s->conn, &s->smtp, s->log, e) < 0)
				return SMTP_FAIL;
			/* FALLTHROUGH */
		case SMTP_READ:
			if (read_reply(&s->conn, &s->line, &s->reply, s->log, e) < 0)
				return SMTP_FAIL;
			if (s->info && smtp_state(&s->smtp) == SMTP_STATE_GREETING)
				reply_summary(&s->reply, s->info->greeting, sizeof s->info->greeting);
			act = smtp_on_reply(&s->smtp, &s->reply);
			continue;
		case SMTP_STARTTLS:
			/* Anything the server sent behind its 220 would be read
			 * as if it came through TLS: refuse (STARTTLS injection). */
			if (conn_pending(&s->conn) > 0) {
				err_set(e, EX_PROTOCOL, "%s sent data after its STARTTLS reply; refusing "
				        "to continue", s->host_given);
				return SMTP_FAIL;
			}
			if (s->info) {
				s->info->plain_caps = *smtp_caps(&s->smtp);
				s->info->have_plain_caps = 1;
			}
			if (conn_start_tls(&s->conn, &s->to, e) < 0)
				return SMTP_FAIL;
			if (s->log->verbose) {
				char d[256];
				tls_describe(s->conn.tls, d, sizeof d);
				log_debug(s->log, "%s", d);
			}
			act = smtp_tls_done(&s->smtp);
			continue;
		case SMTP_BODY:
			if (m == NULL) {
				err_set(e, EX_SOFTWARE, "the SMTP engine asked for a body during setup");
				return SMTP_FAIL;
			}
			if (session_io(s, e) < 0 ||
			    send_body(&s->conn, m, &s->smtp, s->body_next, s->log, s->io, e) < 0)
				return SMTP_FAIL;
			act = SMTP_READ;
			continue;
		case SMTP_CHUNK:
			if (m == NULL) {
				err_set(e, EX_SOFTWARE, "the SMTP engine asked for a chunk during setup");
				return SMTP_FAIL;
			}
			if (session_io(s, e) < 0 ||
			    send_chunks(&s->conn, m, &s->smtp, s->log, s->io, e) == SMTP_FAIL)
				return SMTP_FAIL;
			act = SMTP_READ;
			continue;
		case SMTP_READY:
			/* Nothing is pending today; should something be, it
			 * must go before the next message's commands. */
			if (send_output(&s->conn, &s->smtp, s->log, e) < 0)
				return SMTP_FAIL;
			s->usable = 1;
			return SMTP_READY;
		case SMTP_DONE:
			send_last_words(s);
			return SMTP_DONE;
		case SMTP_FAIL:
			*e = *smtp_error(&s->smtp);
			send_last_words(s);
			return SMTP_FAIL;
		}
	}
}

/* One host of a's list: connect, TLS, EHLO, AUTH (not with info: that
 * records what the server shows instead). See session_open. */
static int
open_host(struct session **sp, const struct account *a, const char *host, struct log *log,
          struct session_info *info, struct err *e)
{
	struct session *s;
	enum smtp_tls mode = a->tls != 1 ? SMTP_TLS_NONE :
	    a->tls_starttls == 0 ? SMTP_TLS_IMPLICIT : SMTP_TLS_STARTTLS;

	*sp = NULL;
	s = calloc(1, sizeof *s);
	if (s == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	s->a = a;
	s->log = log;
	if (info) {
		memset(info, 0, sizeof *info);
		snprintf(info->host, sizeof info->host, "%s", host);
		info->port = a->port;
		info->tls = mode;
		s->info = info;
		s->to.peer = &info->tls_peer;
	}
	conn_init(&s->conn, (int)a->timeout, log);
	conn_set_limit(&s->conn, secs_int((long long)a->timeout * SESSION_SETUP_TIMEOUTS));
	reply_init(&s->reply);
	buf_init(&s->line, SESSION_LINE_MAX);
	s->actx.a = a;
	s->actx.conn = &s->conn;
	s->actx.log = log;
	s->host_given = str_dup(host);
	if (s->host_given == NULL || buf_reserve(&s->line, SESSION_REPLY_RESERVE) < 0 ||
	    buf_reserve(&s->reply.text, SESSION_REPLY_RESERVE) < 0) {
		err_set(e, EX_OSERR, "out of memory");
		goto fail;
	}
	s->actx.host = s->host_given;

	if (addr_host_to_ascii(host, &s->host, e) < 0)
		goto fail;
	log_debug(log, "connecting to %s port %ld%s", s->host, a->port,
	          mode == SMTP_TLS_IMPLICIT ? " (implicit TLS)" :
	          mode == SMTP_TLS_STARTTLS ? " (STARTTLS)" : "");
	if (net_connect(&s->conn, s->host, (int)a->port, e) < 0)
		goto fail;

	s->to.host = a->tls_host_override ? a->tls_host_override : s->host_given;
	s->to.trust_file = a->tls_trust_file;
	s->to.fingerprint = a->tls_fingerprint;
	s->to.cert_file = a->tls_cert_file;
	s->to.key_file = a->tls_key_file;
	s->to.certcheck = a->tls_certcheck != 0;
	s->to.priorities = a->tls_priorities;
	s->to.timeout_ms = (int)a->timeout * 1000;
	if (info == NULL)
		tlscache_open(&s->resume, a, s->host, a->port, &s->to, log);
	if (mode == SMTP_TLS_IMPLICIT && conn_start_tls(&s->conn, &s->to, e) < 0)
		goto fail;

	s->p.multi = 1;
	s->p.helo = a->domain ? a->domain : "localhost";
	s->p.tls = mode;
	s->p.auth = info == NULL && a->auth && strcmp(a->auth, "off") != 0;
	s->p.chunking = a->chunking != 0;
	s->p.tls_verified = a->tls_certcheck != 0 || (a->tls_fingerprint && *a->tls_fingerprint);
	s->p.auth_ops = &auth_ops;
	s->p.auth_ctx = &s->actx;
	s->p.log = log;
	smtp_init(&s->smtp, &s->p);
	s->engine = 1;
	if (drive(s, smtp_start(&s->smtp), NULL, e) != SMTP_READY) {
		if (e->ex == 0)
			err_set(e, EX_SOFTWARE, "the SMTP engine stopped before the first message");
		goto fail;
	}
	if (info) {
		info->caps = *smtp_caps(&s->smtp);
		info->have_caps = 1;
	}
	*sp = s;
	return 0;
fail:
	s->usable = 0;
	session_close(s);
	return -1;
}

/*
 * Does a failure to open a session with one host send us on to the next?
 * Everything temporary before the first MAIL does (DNS trouble, refused or
 * timed-out connections, an interrupted TLS handshake, a 4xx greeting,
 * EHLO or AUTH reply, a lost connection), and so does a name that does not
 * resolve: that host cannot take the message, another one may. A
 * certificate or credentials refusal (EX_NOPERM), a 5xx greeting and
 * protocol violations do not: they are faults of the configuration or
 * the server to report, and trying elsewhere would hide them (or hand
 * the credentials to a server that failed its certificate check's twin).
 */
static int
moves_on(int ex)
{
	return ex == EX_TEMPFAIL || ex == EX_NOHOST;
}

/* session_open; with info, for session_serverinfo. */
static int
open_hosts(struct session **sp, const struct account *a, struct log *log,
           struct session_info *info, struct err *e)
{
	size_t n = 0;
	char **hosts = conf_hosts(a->host ? a->host : "", &n);
	int temporary = 0, ret = -1;

	*sp = NULL;
	if (hosts == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	if (n == 0) {
		conf_hosts_free(hosts);
		return err_set(e, EX_CONFIG, "account %s has no host", a->name);
	}
	for (size_t i = 0; i < n; i++) {
		err_init(e);
		if (open_host(sp, a, hosts[i], log, info, e) == 0) {
			if (i > 0)
				log_event(log, 0, "account=%s host=%s connected (host %zu of %zu)",
				          a->name, hosts[i], i + 1, n);
			ret = 0;
			break;
		}
		if (n == 1)
			break;
		temporary |= e->ex == EX_TEMPFAIL;
		log_event(log, 1, "account=%s host=%s unusable%s: %s", a->name, hosts[i],
		          !moves_on(e->ex) ? " (not trying other hosts)" :
		          i + 1 < n ? " (trying the next host)" : "", e->msg);
		if (!moves_on(e->ex))
			break;
		if (i + 1 == n) {
			/* Worth retrying as a whole when any host may recover. */
			if (temporary)
				e->ex = EX_TEMPFAIL;
			err_prefix(e, "none of the %zu hosts of account %s could be used; the last "
			           "one said", n, a->name);
		}
	}
	conf_hosts_free(hosts);
	return ret;
}

int
session_open(struct session **sp, const struct account *a, struct log *log, struct err *e)
{
	return open_hosts(sp, a, log, NULL, e);
}

int
session_serverinfo(const struct account *a, struct log *log, struct session_info *info,
                   struct err *e)
{
	struct session *s = NULL;

	memset(info, 0, sizeof *info);
	if (open_hosts(&s, a, log, info, e) < 0)
		return -1;
	session_close(s);
	return 0;
}

int
session_etrn(struct session *s, const char *node, char *reply, size_t size, struct err *e)
{
	enum smtp_action act;
	int sent;

	reply[0] = '\0';
	if (s == NULL || !s->usable || s->win_n)
		return err_set(e, EX_SOFTWARE, "ETRN on a connection that cannot take it");
	act = smtp_etrn(&s->smtp, node);
	sent = act == SMTP_SEND;
	act = drive(s, act, NULL, e);
	/* Then the latest reply read is ETRN's. */
	if (sent && act == SMTP_READY)
		reply_summary(&s->reply, reply, size);
	if (act != SMTP_READY) {
		if (e->ex == 0)
			err_set(e, EX_SOFTWARE, "the SMTP engine stopped in state %s",
			        smtp_state_name(smtp_state(&s->smtp)));
		return -1;
	}
	if (smtp_msg_error(&s->smtp)->ex) {
		*e = *smtp_msg_error(&s->smtp);
		return -1;
	}
	return 0;
}

/* A chain of fallback accounts longer than this is surely a mistake. */
#define SESSION_FALLBACK_MAX 8

int
session_open_route(struct session **sp, const struct conf *conf, const struct account *a,
                   struct log *log, struct err *e)
{
	const char *seen[SESSION_FALLBACK_MAX + 1];
	size_t nseen = 0;
	struct account *cur = NULL;   /* the fallback being tried (owned) */
	const struct account *prev = a;
	struct err first;
	int temporary;

	if (session_open(sp, a, log, e) == 0)
		return 0;
	first = *e;
	temporary = e->ex == EX_TEMPFAIL;
	seen[nseen++] = a->name;
	while (conf && moves_on(e->ex)) {
		const char *name = prev->fallback_account;
		struct account *next;
		struct err fe;

		/* An account naming itself (typically through `defaults`)
		 * has no fallback. */
		if (name == NULL || *name == '\0' || strcmp(name, prev->name) == 0)
			break;
		for (size_t k = 0; k < nseen; k++)
			if (strcmp(seen[k], name) == 0)
				name = NULL;
		if (name == NULL || nseen > SESSION_FALLBACK_MAX) {
			/* conf_select refuses loops; a chain that changed
			 * under us still ends here. */
			log_warn(log, "account %s: fallback_account %s loops or is too deep; "
			         "not following it", prev->name, prev->fallback_account);
			break;
		}
		err_init(&fe);
		next = conf_select(conf, name, NULL, &fe);
		if (next == NULL) {
			log_warn(log, "account %s: fallback_account: %s", prev->name, fe.msg);
			break;
		}
		log_event(log, 1, "account=%s failed (%s); trying fallback_account %s", prev->name,
		          e->msg, name);
		err_init(e);
		if (session_open(sp, next, log, e) == 0) {
			(*sp)->owned = next;
			account_free(cur);
			return 0;
		}
		temporary |= e->ex == EX_TEMPFAIL;
		account_free(cur);
		cur = next;
		prev = cur;
		seen[nseen++] = cur->name;
	}
	if (nseen > 1) {
		/* The primary's reason first: it is the account the entry
		 * belongs to. While any host may recover the message waits
		 * for it: a fallback that refuses for good (its certificate,
		 * its password) is its own configuration fault, named in the
		 * message, and must not fail a message the primary will take
		 * later. */
		struct err last = *e;
		int ex = temporary ? EX_TEMPFAIL : moves_on(last.ex) ? first.ex : last.ex;

		err_set(e, ex, "%s; fallback account %s: %s", first.msg, cur->name, last.msg);
		e->smtp_code = ex == EX_TEMPFAIL ? first.smtp_code : last.smtp_code;
	}
	account_free(cur);
	return -1;
}

const char *
session_host(const struct session *s)
{
	return s ? s->host_given : NULL;
}

const char *
session_account(const struct session *s)
{
	return s ? s->a->name : NULL;
}

/* The session's limit for one message (see the top). */
static void
limit_message(struct session *s, const struct session_msg *m)
{
	long long t = s->a->timeout;
	long long secs = t * (SESSION_MSG_TIMEOUTS + (long long)(m->nrcpts /
	                 SESSION_RCPTS_PER_TIMEOUT)) + (long long)(m->size / SESSION_MIN_RATE);

	conn_set_limit(&s->conn, t <= 0 ? 0 : secs_int(secs));
}

/*
 * May m's body go with BDAT? BDAT announces its length before the octets,
 * so the spool must hold exactly m->size octets ending in CRLF: the body
 * DATA would send (the dot-stuffer completes a last line without CRLF,
 * which only a spool of an older build can have). Anything else, or a
 * spool that cannot be checked, goes with DATA, which reads to the end.
 */
static int
body_is_exact(const struct session_msg *m)
{
	struct stat st;
	char tail[2];

	if (fstat(m->fd, &st) < 0 || st.st_size < 0 || (unsigned long long)st.st_size != m->size)
		return 0;
	if (m->size == 0)
		return 1;
	return m->size >= 2 && pread(m->fd, tail, 2, (off_t)(m->size - 2)) == 2 &&
	       tail[0] == '\r' && tail[1] == '\n';
}

/* The engine stopped (act) at the end of m's transaction: fill res;
 * 0 when m was accepted, -1 with *e. */
static int
send_result(struct session *s, const struct session_msg *m, enum smtp_action act,
            struct session_result *res, struct err *e)
{
	int ret = -1;

	record_result(&s->smtp, m, res);
	switch (act) {
	case SMTP_READY:
		if (smtp_msg_error(&s->smtp)->ex == 0) {
			ret = 0;
			break;
		}
		*e = *smtp_msg_error(&s->smtp);
		break;
	case SMTP_DONE:
		s->usable = 0;   /* QUIT is out */
		ret = 0;
		break;
	default:
		s->usable = 0;
		if (e->ex == 0)
			err_set(e, EX_SOFTWARE, "the SMTP engine stopped in state %s",
			        smtp_state_name(smtp_state(&s->smtp)));
		break;
	}
	if (ret == 0) {
		res->delivered = 1;
		reply_summary(&s->reply, res->reply, sizeof res->reply);
		err_init(e);
	}
	return ret;
}

/* Send a prepared message; see session_send. */
static int
send_prepared(struct session *s, const struct prepared *pm, const struct session_msg *m,
              int last, struct session_result *res, struct err *e)
{
	struct smtp_msg msg = pm->m;
	enum smtp_action act;

	limit_message(s, m);
	msg.data_only = !body_is_exact(m);
	act = drive(s, smtp_next_message(&s->smtp, &msg, last), m, e);
	return send_result(s, m, act, res, e);
}

/* res with every recipient "never reached". */
static int
result_init(struct session_result *res, const struct session_msg *m, struct err *e)
{
	memset(res, 0, sizeof *res);
	res->rcpts = calloc(m->nrcpts ? m->nrcpts : 1, sizeof *res->rcpts);
	if (res->rcpts == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	res->nrcpts = m->nrcpts;
	for (size_t i = 0; i < m->nrcpts; i++) {
		res->rcpts[i].addr = m->rcpts[i];
		res->rcpts[i].ex = -1;
	}
	return 0;
}

int
session_send(struct session *s, const struct session_msg *m, int last,
             struct session_result *res, struct err *e)
{
	struct prepared pm;
	int ret;

	if (result_init(res, m, e) < 0)
		return -1;
	if (s == NULL || !s->usable || s->win_n)
		return err_set(e, EX_SOFTWARE, "message handed to a closed SMTP connection");
	if (prepare(&pm, m, e) < 0)
		return -1;
	ret = send_prepared(s, &pm, m, last, res, e);
	prepared_free(&pm);
	return ret;
}

/* ------------------------------------------------------------ the window */

static struct slot *
win_slot(struct session *s, size_t i)
{
	return &s->win[(s->win_first + i) % SESSION_WINDOW];
}

/* The oldest slot in state st; NULL when none. */
static struct slot *
win_find(struct session *s, enum slot_state st)
{
	for (size_t i = 0; i < s->win_n; i++)
		if (win_slot(s, i)->state == st)
			return win_slot(s, i);
	return NULL;
}

/* The connection ended (why): no reply to anything still in flight will be
 * read. As far as we know the server accepted none of it: temporary, so
 * that the caller keeps those messages for a retry. */
static void
win_abandon(struct session *s, const struct err *why)
{
	for (size_t i = 0; i < s->win_n; i++) {
		struct slot *o = win_slot(s, i);
		if (o->state == SLOT_DONE)
			continue;
		err_set(&o->e, EX_TEMPFAIL, "the connection ended before the server answered this "
		        "message: %s", why->msg);
		o->ret = -1;
		o->state = SLOT_DONE;
	}
	s->usable = 0;
}

/* sl's transaction, the engine's current one, ended (act). */
static void
slot_end(struct session *s, struct slot *sl, enum smtp_action act)
{
	sl->ret = send_result(s, sl->m, act, &sl->res, &sl->e);
	sl->state = SLOT_DONE;
	if (act != SMTP_READY && act != SMTP_DONE)
		win_abandon(s, &sl->e);
	if (s->win_last)
		s->usable = 0;
}

/* sl could not be sent (or only in part): the connection is unusable. */
static void
slot_fail(struct session *s, struct slot *sl)
{
	if (sl->e.ex == 0)
		err_set(&sl->e, EX_SOFTWARE, "the SMTP engine refused the message");
	sl->ret = -1;
	sl->state = SLOT_DONE;
	win_abandon(s, &sl->e);
}

/* Read the result of the oldest message in the engine's window. */
static void
win_read(struct session *s)
{
	struct slot *sl = win_find(s, SLOT_SENT);
	enum smtp_action act = SMTP_READ;

	/* The previous transaction ended: this one's replies are next. */
	if (smtp_state(&s->smtp) == SMTP_STATE_READY)
		act = smtp_next_ahead(&s->smtp);
	limit_message(s, sl->m);
	slot_end(s, sl, drive(s, act, sl->m, &sl->e));
}

/* Send the PENDING slot sl; next (NULL: none) is the message after it,
 * whose envelope may then ride behind its end of data (next is then
 * PENDING with its envelope in flight). */
static void
win_send_pending(struct session *s, struct slot *sl, struct slot *next)
{
	enum smtp_action act;

	limit_message(s, sl->m);
	s->body_next = next ? &next->pm.m : NULL;
	act = drive(s, smtp_next_message(&s->smtp, &sl->pm.m, sl->last), sl->m, &sl->e);
	s->body_next = NULL;
	slot_end(s, sl, act);
	if (next && s->usable && smtp_next_in_flight(&s->smtp))
		next->state = SLOT_PENDING;
}

/* Every result read (or abandoned), any PENDING message sent: the engine
 * is idle. */
static void
win_flush(struct session *s)
{
	struct slot *sl;

	while (win_find(s, SLOT_SENT) != NULL)
		win_read(s);
	if ((sl = win_find(s, SLOT_PENDING)) != NULL)
		win_send_pending(s, sl, NULL);
}

/* Does m go with BDAT and PIPELINING: a transaction the window takes? */
static int
win_bdat(struct session *s, const struct smtp_msg *m)
{
	const struct caps *c = smtp_caps(&s->smtp);

	return s->p.chunking && c->chunking && c->pipelining && !m->data_only;
}

/* act (SMTP_CHUNK) for sl's transaction, just started: stream its chunks,
 * and leave its replies for later. */
static void
win_stream(struct session *s, struct slot *sl, enum smtp_action act)
{
	sl->state = SLOT_SENT;
	if (act == SMTP_CHUNK)
		act = send_chunks(&s->conn, sl->m, &s->smtp, s->log, s->io, &sl->e);
	if (act != SMTP_READ) {
		slot_fail(s, sl);
		return;
	}
	s->win_last |= sl->last;
	s->usable = !s->win_last;
}

/* sl, prepared: send it into the window, or the ordinary way. */
static void
win_send(struct session *s, struct slot *sl)
{
	enum smtp_action act;

	/* A full window: read the oldest verdicts one at a time, so that the
	 * window slides (the server never runs dry) instead of draining. */
	while (win_bdat(s, &sl->pm.m) && !smtp_window_room(&s->smtp, &sl->pm.m) &&
	       win_find(s, SLOT_SENT) != NULL)
		win_read(s);
	if (s->usable && smtp_window_room(&s->smtp, &sl->pm.m)) {
		limit_message(s, sl->m);
		win_stream(s, sl, smtp_send_ahead(&s->smtp, &sl->pm.m, sl->last));
		return;
	}
	/* Anything else starts on an idle engine. */
	win_flush(s);
	if (!s->usable) {
		err_set(&sl->e, EX_TEMPFAIL, "the SMTP connection ended before the message could "
		        "be sent");
		return;
	}
	if (!win_bdat(s, &sl->pm.m)) {
		/* DATA: it goes once the next message is known (its
		 * envelope may ride behind the end of data), or now if last. */
		sl->state = SLOT_PENDING;
		if (sl->last)
			win_send_pending(s, sl, NULL);
		return;
	}
	limit_message(s, sl->m);
	act = smtp_next_message(&s->smtp, &sl->pm.m, sl->last);
	if (act == SMTP_CHUNK) {
		win_stream(s, sl, act);
		return;
	}
	/* refused before anything was sent, or not pipelined after all */
	sl->state = SLOT_SENT;
	slot_end(s, sl, drive(s, act, sl->m, &sl->e));
}

int
session_submit(struct session *s, const struct session_msg *m, int last)
{
	struct slot *sl, *pend;

	if (s == NULL || s->win_n == SESSION_WINDOW)
		return -1;
	pend = win_find(s, SLOT_PENDING);
	sl = win_slot(s, s->win_n++);
	memset(sl, 0, sizeof *sl);
	sl->m = m;
	sl->last = last;
	sl->ret = -1;
	sl->state = SLOT_DONE;      /* until it is sent */
	err_init(&sl->e);
	if (result_init(&sl->res, m, &sl->e) < 0 || session_io(s, &sl->e) < 0 ||
	    prepare(&sl->pm, m, &sl->e) < 0)
		return 0;
	sl->pm.m.data_only = !body_is_exact(m);
	if (pend)
		win_send_pending(s, pend, win_bdat(s, &sl->pm.m) ? NULL : sl);
	if (sl->state == SLOT_PENDING) {    /* its envelope rides already */
		if (last)
			win_send_pending(s, sl, NULL);
		return 0;
	}
	if (!s->usable) {
		err_set(&sl->e, EX_TEMPFAIL, "the SMTP connection cannot take another message");
		return 0;
	}
	win_send(s, sl);
	return 0;
}

int
session_collect(struct session *s, const struct session_msg **m, struct session_result *res,
                struct err *e)
{
	struct slot *sl;
	int ret;

	*m = NULL;
	memset(res, 0, sizeof *res);
	if (s == NULL || s->win_n == 0)
		return err_set(e, EX_SOFTWARE, "no message to collect on this connection");
	sl = win_slot(s, 0);
	if (sl->state == SLOT_SENT)
		win_read(s);
	if (sl->state == SLOT_PENDING)
		win_send_pending(s, sl, NULL);
	*m = sl->m;
	*res = sl->res;
	*e = sl->e;
	ret = sl->ret;
	prepared_free(&sl->pm);
	memset(sl, 0, sizeof *sl);
	s->win_first = (s->win_first + 1) % SESSION_WINDOW;
	s->win_n--;
	return ret;
}

int
session_result_ready(const struct session *s)
{
	return s != NULL && s->win_n > 0 && s->win[s->win_first].state == SLOT_DONE;
}

size_t
session_pending(const struct session *s)
{
	return s ? s->win_n : 0;
}

int
session_verify(struct session *s, const struct session_msg *m, struct session_result *res,
               struct err *e)
{
	struct prepared pm;
	enum smtp_action act;
	int ret = -1;

	if (result_init(res, m, e) < 0)
		return -1;
	if (s == NULL || !s->usable || s->win_n)
		return err_set(e, EX_SOFTWARE, "verification on a connection that cannot take it");
	if (prepare(&pm, m, e) < 0)
		return -1;
	limit_message(s, m);
	act = drive(s, smtp_verify(&s->smtp, &pm.m), NULL, e);
	record_result(&s->smtp, m, res);
	for (size_t i = 0; i < m->nrcpts; i++) {
		const struct smtp_rcpt_status *st = smtp_rcpt_status(&s->smtp, i);
		/* The accepting reply is the verdict too ("250 2.1.5 Ok"). */
		if (st && st->text && res->rcpts[i].ex == 0)
			snprintf(res->rcpts[i].text, sizeof res->rcpts[i].text, "%s", st->text);
	}
	if (act == SMTP_READY && smtp_msg_error(&s->smtp)->ex == 0)
		ret = 0;
	else if (act == SMTP_READY)
		*e = *smtp_msg_error(&s->smtp);
	else if (e->ex == 0)
		err_set(e, EX_SOFTWARE, "the SMTP engine stopped in state %s",
		        smtp_state_name(smtp_state(&s->smtp)));
	/* Every recipient answered before the connection failed (a
	 * refused RSET, a 421 after the last RCPT): the verdicts stand. */
	if (act != SMTP_READY && m->nrcpts > 0) {
		size_t asked = 0;
		for (size_t i = 0; i < res->nrcpts; i++)
			asked += res->rcpts[i].ex >= 0;
		if (asked == res->nrcpts) {
			err_init(e);
			ret = 0;
		}
	}
	prepared_free(&pm);
	return ret;
}

int
session_usable(const struct session *s)
{
	return s != NULL && s->usable;
}

void
session_close(struct session *s)
{
	if (s == NULL)
		return;
	if (s->usable && smtp_finish(&s->smtp) == SMTP_DONE)
		send_last_words(s);
	for (size_t i = 0; i < s->win_n; i++) {
		struct slot *sl = win_slot(s, i);
		prepared_free(&sl->pm);
		session_result_free(&sl->res);
	}
	if (s->engine)
		smtp_free(&s->smtp);
	sasl_free(s->actx.sasl);
	cred_free(s->actx.token);
	cred_free(s->actx.next);
	tlscache_close(&s->resume, s->conn.tls, s->log);
	conn_close(&s->conn);
	reply_free(&s->reply);
	buf_free(&s->line);
	free(s->io);
	free(s->host);
	free(s->host_given);
	account_free(s->owned);
	free(s);
}

int
session_deliver(const struct account *a, const struct session_msg *m, struct log *log,
                struct session_result *res, struct err *e)
{
	struct session *s = NULL;
	struct prepared pm;
	int ret = -1;

	if (result_init(res, m, e) < 0)
		return -1;
	/* An envelope that cannot be sent fails before the network is
	 * touched. */
	if (prepare(&pm, m, e) < 0)
		return -1;
	if (session_open(&s, a, log, e) == 0) {
		ret = send_prepared(s, &pm, m, 1, res, e);
		session_close(s);
	}
	prepared_free(&pm);
	return ret;
}

void
session_result_free(struct session_result *res)
{
	free(res->rcpts);
	res->rcpts = NULL;
}
