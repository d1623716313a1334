/* session.c - see session.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "buf.h"
#include "cred.h"
#include "message.h"
#include "net.h"
#include "reply.h"
#include "sasl.h"
#include "session.h"
#include "smtp.h"
#include "tls.h"

/*
 * Body chunk read from the spool. 64 KiB fills several maximum-size TLS
 * records per write while keeping memory flat for any message size.
 */
#define SESSION_CHUNK (64u * 1024u)
/* A server reply line longer than this is a protocol error (reply.h
 * bounds the whole reply; this bounds a single read). */
#define SESSION_LINE_MAX (REPLY_LINE_MAX + 1)

struct auth_ctx {
	const struct account *a;
	struct conn *conn;
	struct sasl *sasl;
};

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

	if (cred_get_secret(ctx->a, &secret, e) < 0)
		return -1;
	memset(&p, 0, sizeof p);
	p.configured = ctx->a->auth ? ctx->a->auth : "on";
	p.server_mechs = server_mechs;
	p.user = ctx->a->user ? ctx->a->user : "";
	p.secret = secret;
	p.host = ctx->a->host;
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
	return r;
}

static const struct smtp_auth_ops auth_ops = { auth_start, auth_step, auth_finish };

/* Read one complete reply (all its lines) into r. */
static int
read_reply(struct conn *c, struct reply *r, struct log *log, struct err *e)
{
	struct buf line;
	int done = 0;

	buf_init(&line, SESSION_LINE_MAX);
	reply_reset(r);
	while (!done) {
		if (conn_read_line(c, &line, e) < 0)
			break;
		log_proto(log, LOG_RECV, line.data ? line.data : "", line.len);
		done = reply_feed(r, buf_cstr(&line), line.len, e);
		if (done < 0)
			break;
	}
	buf_free(&line);
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

/*
 * Stream the spool through the dot-stuffer. The last chunk is not written
 * here: the end-of-data terminator and QUIT are appended to it by the
 * caller so that they travel in the same write (and TLS record).
 */
static int
send_body(struct conn *c, const struct session_msg *m, struct smtp *s, struct log *log,
          struct err *e)
{
	char *in = malloc(SESSION_CHUNK);
	char *out = malloc(2 * SESSION_CHUNK + 64);
	struct dotstuff ds;
	size_t olen = 0;
	int r = -1;
	enum smtp_action act;

	if (in == NULL || out == NULL) {
		err_set(e, EX_OSERR, "out of memory");
		goto done;
	}
	if (send_output(c, s, log, e) < 0)
		goto done;
	if (lseek(m->fd, 0, SEEK_SET) < 0) {
		err_set(e, EX_IOERR, "cannot read the spooled message: %s", strerror(errno));
		goto done;
	}
	dotstuff_init(&ds);
	for (;;) {
		ssize_t n = read(m->fd, in, SESSION_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set(e, EX_IOERR, "cannot read the spooled message: %s", strerror(errno));
			goto done;
		}
		if (n == 0)
			break;
		if (olen > 0 && conn_write(c, out, olen, e) < 0)
			goto done;
		olen = dotstuff_run(&ds, in, (size_t)n, out);
	}
	olen += dotstuff_finish(&ds, out + olen);
	log_debug(log, "(message body: %llu bytes)", m->size);
	act = smtp_body_done(s);
	(void)act;
	{
		struct buf *tail = smtp_output(s);
		/* The terminator and QUIT ride in the last body write. */
		if (tail->len)
			log_proto(log, LOG_SEND, tail->data, tail->len);
		if (tail->len && tail->len <= 2 * SESSION_CHUNK + 64 - olen) {
			memcpy(out + olen, tail->data, tail->len);
			olen += tail->len;
			buf_reset(tail);
		}
		if (conn_write(c, out, olen, e) < 0)
			goto done;
		if (tail->len) {
			r = conn_write(c, tail->data, tail->len, e);
			buf_reset(tail);
			if (r < 0)
				goto done;
		}
	}
	r = 0;
done:
	free(in);
	free(out);
	return r;
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
}

int
session_deliver(const struct account *a, const struct session_msg *m, struct log *log,
                struct session_result *res, struct err *e)
{
	struct conn conn;
	struct smtp smtp;
	struct smtp_params p;
	struct reply reply;
	struct tls_opts to;
	struct auth_ctx actx = { a, &conn, NULL };
	struct smtp_addr from = { "", "" };
	struct smtp_addr *rcpts = NULL;
	char **forms = NULL;
	char *host = NULL;
	enum smtp_action act;
	int implicit = a->tls == 1 && a->tls_starttls == 0;
	int ret = -1, engine = 0;

	memset(res, 0, sizeof *res);
	res->rcpts = calloc(m->nrcpts ? m->nrcpts : 1, sizeof *res->rcpts);
	rcpts = calloc(m->nrcpts ? m->nrcpts : 1, sizeof *rcpts);
	forms = calloc(2 * (m->nrcpts + 1), sizeof *forms);
	res->nrcpts = m->nrcpts;
	conn_init(&conn, (int)a->timeout, log);
	reply_init(&reply);
	if (!res->rcpts || !rcpts || !forms) {
		err_set(e, EX_OSERR, "out of memory");
		goto out;
	}

	/* Addresses in both envelope forms; the engine picks one per the
	 * server's SMTPUTF8 support. */
	if (*m->from) {
		if (addr_envelope_forms(m->from, &forms[0], &forms[1], e) < 0)
			goto out;
		from.ascii = forms[0];
		from.utf8 = forms[1];
	}
	for (size_t i = 0; i < m->nrcpts; i++) {
		if (addr_envelope_forms(m->rcpts[i], &forms[2 + 2 * i], &forms[3 + 2 * i], e) < 0) {
			err_prefix(e, "<%s>", m->rcpts[i]);
			goto out;
		}
		rcpts[i].ascii = forms[2 + 2 * i];
		rcpts[i].utf8 = forms[3 + 2 * i];
	}

	if (addr_host_to_ascii(a->host, &host, e) < 0)
		goto out;
	log_debug(log, "connecting to %s port %ld%s", host, a->port,
	          implicit ? " (implicit TLS)" : a->tls == 1 ? " (STARTTLS)" : "");
	if (net_connect(&conn, host, (int)a->port, e) < 0)
		goto out;

	memset(&to, 0, sizeof to);
	to.host = a->tls_host_override ? a->tls_host_override : a->host;
	to.trust_file = a->tls_trust_file;
	to.fingerprint = a->tls_fingerprint;
	to.cert_file = a->tls_cert_file;
	to.key_file = a->tls_key_file;
	to.certcheck = a->tls_certcheck != 0;
	to.priorities = a->tls_priorities;
	to.timeout_ms = (int)a->timeout * 1000;
	if (implicit && conn_start_tls(&conn, &to, e) < 0)
		goto out;

	memset(&p, 0, sizeof p);
	p.helo = a->domain ? a->domain : "localhost";
	p.tls = implicit ? 2 : a->tls == 1 ? 1 : 0;
	p.auth = a->auth && strcmp(a->auth, "off") != 0;
	p.auth_ops = &auth_ops;
	p.auth_ctx = &actx;
	p.from = from;
	p.rcpts = rcpts;
	p.nrcpts = m->nrcpts;
	p.size = m->size;
	p.has_8bit = m->has_8bit;
	p.dsn_notify = m->dsn_notify;
	p.dsn_return = m->dsn_return;
	p.envid = m->envid;
	p.log = log;
	smtp_init(&smtp, &p);
	engine = 1;

	act = smtp_start(&smtp);
	for (;;) {
		switch (act) {
		case SMTP_SEND:
			if (send_output(&conn, &smtp, log, e) < 0)
				goto out;
			/* FALLTHROUGH */
		case SMTP_READ:
			if (read_reply(&conn, &reply, log, e) < 0)
				goto out;
			act = smtp_on_reply(&smtp, &reply);
			continue;
		case SMTP_STARTTLS:
			/* Anything the server sent behind its 220 would be read
			 * as if it came through TLS: refuse (STARTTLS injection). */
			if (conn_pending(&conn) > 0) {
				err_set(e, EX_PROTOCOL, "%s sent data after its STARTTLS reply; refusing to continue",
				        a->host);
				goto out;
			}
			if (conn_start_tls(&conn, &to, e) < 0)
				goto out;
			if (log->verbose) {
				char d[256];
				tls_describe(conn.tls, d, sizeof d);
				log_debug(log, "%s", d);
			}
			act = smtp_tls_done(&smtp);
			continue;
		case SMTP_BODY:
			if (send_body(&conn, m, &smtp, log, e) < 0)
				goto out;
			act = SMTP_READ;
			continue;
		case SMTP_DONE:
			(void)send_output(&conn, &smtp, log, e);
			ret = 0;
			goto out;
		case SMTP_FAIL:
			*e = *smtp_error(&smtp);
			{
				struct err ignore;
				err_init(&ignore);
				(void)send_output(&conn, &smtp, log, &ignore);
			}
			goto out;
		}
	}
out:
	if (engine) {
		record_result(&smtp, m, res);
		res->naccepted = 0;
		for (size_t i = 0; i < res->nrcpts; i++)
			if (res->rcpts[i].ex == 0)
				res->naccepted++;
		if (ret == 0) {
			res->delivered = 1;
			reply_summary(&reply, res->reply, sizeof res->reply);
		}
		smtp_free(&smtp);
	}
	if (ret == 0)
		err_init(e);
	sasl_free(actx.sasl);
	conn_close(&conn);
	reply_free(&reply);
	free(host);
	if (forms)
		for (size_t i = 0; i < 2 * (m->nrcpts + 1); i++)
			free(forms[i]);
	free(forms);
	free(rcpts);
	return ret;
}

void
session_result_free(struct session_result *res)
{
	free(res->rcpts);
	res->rcpts = NULL;
}
