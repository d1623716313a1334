/*
 * smtp.c - see smtp.h. RFC 5321, 3207, 4954, 2920, 1870, 6152, 6531, 3461,
 * 3030.
 *
 * (ETRN: RFC 1985.)
 *
 * Shape: one set_state() for every transition; per state, a function that
 * consumes the reply and emits the next commands. Output is built one
 * command line at a time in a bounded buffer, then appended to the output
 * group, so a pipelined group is one write for the session.
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp.h"

static const char *const state_names[] = {
	[SMTP_STATE_GREETING] = "GREETING",
	[SMTP_STATE_EHLO]     = "EHLO",
	[SMTP_STATE_HELO]     = "HELO",
	[SMTP_STATE_STARTTLS] = "STARTTLS",
	[SMTP_STATE_TLS]      = "TLS",
	[SMTP_STATE_EHLO_TLS] = "EHLO_TLS",
	[SMTP_STATE_AUTH]     = "AUTH",
	[SMTP_STATE_READY]    = "READY",
	[SMTP_STATE_RSET]     = "RSET",
	[SMTP_STATE_MAIL]     = "MAIL",
	[SMTP_STATE_RCPT]     = "RCPT",
	[SMTP_STATE_DATA]     = "DATA",
	[SMTP_STATE_BODY]     = "BODY",
	[SMTP_STATE_DOT]      = "DOT",
	[SMTP_STATE_CHUNK]    = "CHUNK",
	[SMTP_STATE_BDAT]     = "BDAT",
	[SMTP_STATE_DRAIN]    = "DRAIN",
	[SMTP_STATE_VRSET]    = "VRSET",
	[SMTP_STATE_ETRN]     = "ETRN",
	[SMTP_STATE_QUIT]     = "QUIT",
	[SMTP_STATE_DONE]     = "DONE",
	[SMTP_STATE_FAILED]   = "FAILED",
};

const char *
smtp_state_name(int state)
{
	if (state < 0 || (size_t)state >= sizeof state_names / sizeof state_names[0] ||
	    state_names[state] == NULL)
		return "?";
	return state_names[state];
}

/* The one place the state changes, so -v shows the engine's path. */
static void
set_state(struct smtp *s, enum smtp_state st)
{
	if (s->p && s->p->log)
		log_debug(s->p->log, "smtp: %s -> %s", smtp_state_name(s->state),
		          smtp_state_name(st));
	s->state = st;
}

/* ------------------------------------------------------------ output */

/* Append one finished command line to the output group, then wipe the
 * line buffer (it may hold AUTH data). */
static int
queue_line(struct smtp *s, struct buf *line, int secret)
{
	int r;

	/* The session has sent and reset the previous group: if it held a
	 * secret, overwrite it before the memory is reused or freed. */
	if (s->out.len == 0 && s->out_secret) {
		mem_wipe(s->out.data, s->out.cap);
		s->out_secret = 0;
	}
	r = buf_append(&s->out, line->data ? line->data : "", line->len);
	if (r == 0)
		s->out_secret |= secret;
	buf_wipe(line);
	return r;
}

/* Queue a short fixed command ("QUIT\r\n"). */
static int
queue_str(struct smtp *s, const char *cmd)
{
	struct buf line;

	buf_init(&line, SMTP_CMD_MAX);
	if (buf_puts(&line, cmd) < 0) {
		buf_free(&line);
		return -1;
	}
	return queue_line(s, &line, 0);
}

/* ------------------------------------------------------------ errors */

int
smtp_ex_from_reply(int code, const char *enh, enum smtp_phase phase)
{
	int klass = code / 100;

	/* RFC 3463: the enhanced code's class is the more specific verdict
	 * when present and consistent with the basic code's class. */
	if (enh && (enh[0] == '4' || enh[0] == '5') && enh[1] == '.' &&
	    (klass == 4 || klass == 5))
		klass = enh[0] - '0';
	if (klass == 4)
		return EX_TEMPFAIL;
	if (klass != 5)
		return EX_PROTOCOL;
	switch (phase) {
	case PHASE_RCPT:
		return EX_NOUSER;
	case PHASE_AUTH:
		return EX_NOPERM;
	default:
		return EX_UNAVAILABLE;
	}
}

const char *
smtp_phase_name(enum smtp_phase phase)
{
	switch (phase) {
	case PHASE_CONNECT:  return "greeting";
	case PHASE_EHLO:     return "EHLO";
	case PHASE_STARTTLS: return "STARTTLS";
	case PHASE_AUTH:     return "AUTH";
	case PHASE_MAIL:     return "MAIL FROM";
	case PHASE_RCPT:     return "RCPT TO";
	case PHASE_DATA:     return "DATA";
	case PHASE_DOT:      return "end of data";
	case PHASE_QUIT:     return "QUIT";
	case PHASE_RSET:     return "RSET";
	case PHASE_NONE:     break;
	}
	return "?";
}

static enum smtp_phase
state_phase(enum smtp_state st)
{
	switch (st) {
	case SMTP_STATE_GREETING: return PHASE_CONNECT;
	case SMTP_STATE_EHLO:
	case SMTP_STATE_HELO:
	case SMTP_STATE_EHLO_TLS: return PHASE_EHLO;
	case SMTP_STATE_STARTTLS: return PHASE_STARTTLS;
	case SMTP_STATE_AUTH:     return PHASE_AUTH;
	case SMTP_STATE_MAIL:     return PHASE_MAIL;
	case SMTP_STATE_RCPT:     return PHASE_RCPT;
	case SMTP_STATE_DATA:     return PHASE_DATA;
	case SMTP_STATE_DOT:
	case SMTP_STATE_BDAT:     return PHASE_DOT;   /* BDAT's verdict is the end of data's */
	case SMTP_STATE_RSET:
	case SMTP_STATE_VRSET:    return PHASE_RSET;
	default:                  return PHASE_NONE;
	}
}

/* The command a reply in DRAIN answers: the group ends with DATA (its
 * reply comes last), or the drain is for an end of data. */
static enum smtp_phase
drain_phase(const struct smtp *s)
{
	switch (s->drain_data) {
	case SMTP_DRAIN_DATA:
		return s->drain == 1 ? PHASE_DATA : PHASE_RCPT;
	case SMTP_DRAIN_BDAT:
		return s->drain <= s->chunks_due ? PHASE_DOT : PHASE_RCPT;
	default:
		return PHASE_DOT;
	}
}

/* Does the reply being read answer a BDAT chunk? */
static int
answers_bdat(const struct smtp *s)
{
	return s->state == SMTP_STATE_BDAT || (s->state == SMTP_STATE_DRAIN &&
	       s->drain_data == SMTP_DRAIN_BDAT && s->drain <= s->chunks_due);
}

static enum smtp_phase
reply_phase(const struct smtp *s)
{
	return s->state == SMTP_STATE_DRAIN ? drain_phase(s) : state_phase(s->state);
}

/* "(in reply to X)": err.c's names, except that HELO is called HELO. */
static const char *
reply_command(const struct smtp *s)
{
	if (s->state == SMTP_STATE_ETRN)
		return "ETRN";
	if (answers_bdat(s))
		return "BDAT";
	return s->state == SMTP_STATE_HELO ? "HELO" : smtp_phase_name(reply_phase(s));
}

/*
 * Two levels of failure, as Postfix's smtp_trouble.c has them: the
 * connection (conn_*: the session ends, and a message under way fails
 * with it) and the message (msg_*: this transaction fails, the
 * connection may carry the next one).
 *
 * How a failed connection ends: with QUIT when the server still listens
 * and would read it as a command, or closed at once (our own confusion,
 * or a server that is already closing).
 */
enum conn_end { END_QUIT, END_CLOSE };

/* The end of every connection failure: record it, queue QUIT if
 * `end` allows and the state does, go to FAILED. */
static enum smtp_action ENVOI_PRINTF(5, 0)
conn_failv(struct smtp *s, enum conn_end end, int ex, int code, const char *fmt, va_list ap)
{
	char msg[ERR_MSG_MAX];

	vsnprintf(msg, sizeof msg, fmt, ap);
	err_set(&s->err, ex, "%s", msg);
	s->err.smtp_code = code;
	/* A message under way fails with the connection. */
	if (s->in_txn) {
		s->msg_err = s->err;
		s->in_txn = 0;
	}
	/* No QUIT in the middle of the body (it would be message text) or
	 * while the TLS handshake is due. After a 554 greeting the server
	 * waits for one (RFC 5321 3.1). */
	if (end == END_QUIT && !s->quit_sent && s->state != SMTP_STATE_BODY &&
	    s->state != SMTP_STATE_CHUNK &&
	    s->state != SMTP_STATE_TLS && !s->ahead_chunking) {
		(void)queue_str(s, "QUIT\r\n");     /* best effort */
		s->quit_sent = 1;
	}
	set_state(s, SMTP_STATE_FAILED);
	return SMTP_FAIL;
}

/* The connection fails; END_CLOSE gives it up without a QUIT: the
 * engine was misused, the server said something it cannot have meant,
 * or setup failed before the session began. code: the reply behind it,
 * 0 if none. */
static enum smtp_action ENVOI_PRINTF(5, 6)
conn_failq(struct smtp *s, enum conn_end end, int ex, int code, const char *fmt, ...)
{
	enum smtp_action a;
	va_list ap;

	va_start(ap, fmt);
	a = conn_failv(s, end, ex, code, fmt, ap);
	va_end(ap);
	return a;
}

/* The connection fails; QUIT goes out if the server still listens. */
static enum smtp_action ENVOI_PRINTF(3, 4)
conn_fail(struct smtp *s, int ex, const char *fmt, ...)
{
	enum smtp_action a;
	va_list ap;

	va_start(ap, fmt);
	a = conn_failv(s, END_QUIT, ex, 0, fmt, ap);
	va_end(ap);
	return a;
}

/* A failure of our own that is not the server's doing: keep its err. */
static enum smtp_action
conn_fail_err(struct smtp *s, const struct err *e)
{
	return conn_fail(s, e->ex ? e->ex : EX_SOFTWARE, "%s", e->msg[0] ? e->msg : "internal error");
}

/*
 * A failure caused by reply r: "[prefix: ]<summary> (in reply to X)".
 * ex 0 = decide from the reply (smtp_ex_from_reply).
 */
static enum smtp_action
conn_reply_fail(struct smtp *s, const struct reply *r, int ex, const char *prefix)
{
	char sum[512];

	reply_summary(r, sum, sizeof sum);
	if (ex == 0)
		ex = smtp_ex_from_reply(r->code, r->enh, reply_phase(s));
	/* 421: the server is closing the channel (RFC 5321 3.8); a QUIT
	 * would only meet a closed socket. */
	return conn_failq(s, r->code == 421 ? END_CLOSE : END_QUIT, ex, r->code,
	                  "%s%s%s (in reply to %s)", prefix ? prefix : "",
	                  prefix ? ": " : "", sum, reply_command(s));
}

/* ------------------------------------------------------------ transactions */

/* The transaction is over (either way) and the connection idle. */
static enum smtp_action
txn_end(struct smtp *s)
{
	s->in_txn = 0;
	set_state(s, SMTP_STATE_READY);
	return SMTP_READY;
}

/* The first recipient from i on that still has to be sent. */
static size_t
next_rcpt(const struct smtp *s, size_t i)
{
	while (i < s->m.nrcpts && s->rcpt[i].ex != 0)
		i++;
	return i;
}

/* How many RCPTs from recipient i on are (or were) sent. */
static size_t
count_rcpts(const struct smtp *s, size_t i)
{
	size_t n = 0;

	for (i = next_rcpt(s, i); i < s->m.nrcpts; i = next_rcpt(s, i + 1))
		n++;
	return n;
}

/* After a message failed: may the server hold part of its transaction
 * (then RSET comes before the next one)? */
enum txn_left { TXN_CLOSED, TXN_OPEN };

/* What a failed message leaves behind (txn_rest). */
struct txn_rest {
	enum txn_left left;
	size_t due;                     /* replies still on their way */
	enum smtp_drain kind;           /* what the last of them answers */
};

/*
 * What a failed message leaves behind, derived from the engine's state
 * (the command whose reply is being handled, or the next one to queue)
 * and that reply (NULL when the failure is our own): whether the server
 * may hold part of the transaction (RSET before the next one) and how
 * many replies to commands already pipelined behind it are still due,
 * with what the last of them answers. Pipelined, MAIL is followed by the
 * recipients not yet answered and then DATA, the BDAT chunks, or a
 * verification's RSET; a DATA answered 354 although no recipient was
 * accepted is ended at once, so that end of data's reply is due.
 */
static struct txn_rest
txn_rest(const struct smtp *s, const struct reply *r)
{
	struct txn_rest t = { TXN_CLOSED, 0, SMTP_DRAIN_DOT };

	switch (s->state) {
	case SMTP_STATE_MAIL:
	case SMTP_STATE_RCPT:
		t.left = TXN_OPEN;
		if (!s->pipelining)
			break;
		t.due = count_rcpts(s, s->rcpt_cur);
		if (s->verify) {
			t.due++;                /* the closing RSET resets */
			t.left = s->state == SMTP_STATE_MAIL ? TXN_CLOSED : TXN_OPEN;
		} else if (s->bdat) {
			t.due += s->chunks_due;
			t.kind = SMTP_DRAIN_BDAT;
		} else if (s->state == SMTP_STATE_MAIL) {
			t.due++;
			t.kind = SMTP_DRAIN_DATA;
		}
		break;
	case SMTP_STATE_DATA:
		if (r != NULL && r->code == 354 && s->accepted == 0)
			t.due = 1;
		else
			t.left = TXN_OPEN;
		break;
	case SMTP_STATE_BDAT:
		t.left = TXN_OPEN;
		t.due = s->chunks_due;
		t.kind = SMTP_DRAIN_BDAT;
		break;
	default:        /* DOT: over either way; before MAIL: not begun */
		break;
	}
	return t;
}

/*
 * The current message failed (t: what it leaves behind, txn_rest) but the
 * connection may carry the next one: RSET will lead it when the server
 * may hold part of this transaction, and the replies still due are read
 * and dropped first (DRAIN). The last message, and single mode, end the
 * connection instead.
 */
static enum smtp_action ENVOI_PRINTF(5, 0)
msg_failv(struct smtp *s, struct txn_rest t, int ex, int code, const char *fmt, va_list ap)
{
	char msg[ERR_MSG_MAX];

	if (!s->p->multi || s->last)
		return conn_failv(s, END_QUIT, ex, code, fmt, ap);
	vsnprintf(msg, sizeof msg, fmt, ap);
	err_set(&s->msg_err, ex, "%s", msg);
	s->msg_err.smtp_code = code;
	/* Decided: a connection failure while draining does not change
	 * why this message failed. */
	s->in_txn = 0;
	s->need_rset |= t.left == TXN_OPEN;
	if (t.due > 0) {
		s->drain = t.due;
		s->drain_data = t.kind;
		set_state(s, SMTP_STATE_DRAIN);
		return s->out.len ? SMTP_SEND : SMTP_READ;
	}
	return txn_end(s);
}

/* The message fails for a reason of our own, in the middle of its
 * transaction (a command that cannot be queued). */
static enum smtp_action ENVOI_PRINTF(3, 4)
msg_fail(struct smtp *s, int ex, const char *fmt, ...)
{
	enum smtp_action a;
	va_list ap;

	va_start(ap, fmt);
	a = msg_failv(s, txn_rest(s, NULL), ex, 0, fmt, ap);
	va_end(ap);
	return a;
}

/* A message refused before anything of it was sent. */
static enum smtp_action ENVOI_PRINTF(3, 4)
msg_local(struct smtp *s, int ex, const char *fmt, ...)
{
	static const struct txn_rest nothing = { TXN_CLOSED, 0, SMTP_DRAIN_DOT };
	enum smtp_action a;
	va_list ap;

	va_start(ap, fmt);
	a = msg_failv(s, nothing, ex, 0, fmt, ap);
	va_end(ap);
	return a;
}

static enum smtp_action ENVOI_PRINTF(5, 6)
msg_failq(struct smtp *s, const struct reply *r, int ex, int code, const char *fmt, ...)
{
	enum smtp_action a;
	va_list ap;

	va_start(ap, fmt);
	a = msg_failv(s, txn_rest(s, r), ex, code, fmt, ap);
	va_end(ap);
	return a;
}

/* The message refused by reply r; it reads like conn_reply_fail's. */
static enum smtp_action
msg_reply_fail(struct smtp *s, const struct reply *r)
{
	char sum[512];

	reply_summary(r, sum, sizeof sum);
	return msg_failq(s, r, smtp_ex_from_reply(r->code, r->enh, reply_phase(s)), r->code,
	                 "%s (in reply to %s)", sum, reply_command(s));
}

/* "server mx.example.org" or "the server", for our own messages. */
static const char *
server_name(const struct smtp *s, char *dst, size_t size)
{
	if (s->p->host && *s->p->host)
		snprintf(dst, size, "server %s", s->p->host);
	else
		snprintf(dst, size, "the server");
	return dst;
}

/* ------------------------------------------------------------ checks */

/* Control bytes (CR, LF, NUL is impossible in a C string) in something
 * we put on a command line would let it smuggle a second command. */
static int
has_ctl(const char *p)
{
	for (; p && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return 1;
	return 0;
}

/* An ESMTP parameter value we pass through: printable ASCII, no space. */
static int
is_token(const char *p)
{
	if (p == NULL || *p == '\0')
		return 0;
	for (; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return 0;
	return 1;
}

static int
is_null_sender(const struct smtp_addr *a)
{
	return (a->utf8 == NULL || *a->utf8 == '\0') && (a->ascii == NULL || *a->ascii == '\0');
}

/* Does this address differ from its ASCII form (or have none)? */
static int
needs_utf8(const struct smtp_addr *a)
{
	if (a->ascii == NULL)
		return 1;
	return a->utf8 != NULL && strcmp(a->utf8, a->ascii) != 0;
}

/* The form to send, given the envelope's decision; NULL if unsendable. */
static const char *
addr_form(const struct smtp *s, const struct smtp_addr *a)
{
	if (s->use_utf8 && a->utf8)
		return a->utf8;
	return a->ascii;
}

/* The form to show in a message: the one the user wrote. */
static const char *
addr_display(const struct smtp_addr *a)
{
	return a->utf8 ? a->utf8 : a->ascii ? a->ascii : "";
}

/* ------------------------------------------------------------ lifecycle */

/* Forget the previous transaction's recipients. */
static void
txn_forget(struct smtp *s)
{
	if (s->rcpt)
		for (size_t i = 0; i < s->m.nrcpts; i++)
			free(s->rcpt[i].text);
	free(s->rcpt);
	s->rcpt = NULL;
	s->accepted = 0;
	s->rcpt_cur = 0;
	s->pipelining = 0;
	s->use_utf8 = 0;
	s->verify = 0;
	s->bdat = 0;
	s->chunk_off = s->chunk_len = 0;
	s->chunk_last = 0;
	s->chunks_due = 0;
}

/* Room for s->m: its recipient statuses, and an output group that holds
 * RSET, MAIL, every RCPT and DATA (QUIT, "." and the aborting "*" fit in
 * the slack). The output bound only ever grows. */
static int
txn_alloc(struct smtp *s, struct err *e)
{
	size_t n = s->m.nrcpts;

	if (n > SIZE_MAX / SMTP_CMD_MAX - 5)
		return err_set(e, EX_USAGE, "too many recipients (%zu)", n);
	if (s->out.max < SMTP_CMD_MAX * (n + 5))
		s->out.max = SMTP_CMD_MAX * (n + 5);
	if (n > 0) {
		s->rcpt = calloc(n, sizeof *s->rcpt);
		if (s->rcpt == NULL)
			return err_set(e, EX_OSERR, "out of memory");
	}
	return 0;
}

void
smtp_init(struct smtp *s, const struct smtp_params *p)
{
	memset(s, 0, sizeof *s);
	s->p = p;
	s->state = SMTP_STATE_GREETING;
	err_init(&s->err);
	err_init(&s->msg_err);
	/* Setup needs EHLO or an AUTH line, "*" and QUIT at most at once. */
	buf_init(&s->out, SMTP_CMD_MAX * 4);
	if (p->multi)
		return;
	s->m = p->msg;
	s->last = 1;
	(void)txn_alloc(s, &s->err);
}

void
smtp_free(struct smtp *s)
{
	txn_forget(s);
	for (size_t i = 0; i < SMTP_WINDOW; i++) {
		free(s->ahead[i].rcpt);
		s->ahead[i].rcpt = NULL;
	}
	s->ahead_n = 0;
	/* Wipe whatever is there: an AUTH line may still be queued. */
	mem_wipe(s->out.data, s->out.cap);
	buf_free(&s->out);
	s->out_secret = 0;
}

int
smtp_msg_check(const struct smtp_msg *m, struct err *e)
{
	if (m->nrcpts == 0 || m->rcpts == NULL)
		return err_set(e, EX_USAGE, "no recipients");
	if (has_ctl(m->from.utf8) || has_ctl(m->from.ascii))
		return err_set(e, EX_SOFTWARE, "envelope sender contains a control character");
	for (size_t i = 0; i < m->nrcpts; i++) {
		const struct smtp_addr *a = &m->rcpts[i];
		if (has_ctl(a->utf8) || has_ctl(a->ascii) || (a->utf8 == NULL && a->ascii == NULL) ||
		    is_null_sender(a))
			return err_set(e, EX_SOFTWARE, "recipient %zu is empty or contains a control "
			               "character", i + 1);
	}
	return 0;
}

enum smtp_action
smtp_start(struct smtp *s)
{
	const struct smtp_params *p = s->p;
	struct err e;

	if (s->err.ex)
		return conn_failq(s, END_CLOSE, s->err.ex, 0, "%s", s->err.msg);
	err_init(&e);
	if (!p->multi && smtp_msg_check(&s->m, &e) < 0)
		return conn_failq(s, END_CLOSE, e.ex, 0, "%s", e.msg);
	if (p->helo == NULL || !is_token(p->helo))
		return conn_failq(s, END_CLOSE, EX_SOFTWARE, 0, "invalid EHLO name");
	if (p->auth && (p->auth_ops == NULL || p->auth_ops->start == NULL ||
	                p->auth_ops->step == NULL))
		return conn_failq(s, END_CLOSE, EX_SOFTWARE, 0, "authentication requested without SASL callbacks");
	return SMTP_READ;
}

/* ------------------------------------------------------------ greeting, EHLO */

static enum smtp_action
send_ehlo(struct smtp *s, enum smtp_state next)
{
	struct buf line;

	buf_init(&line, SMTP_CMD_MAX);
	if (buf_printf(&line, "%s %s\r\n", next == SMTP_STATE_HELO ? "HELO" : "EHLO",
	               s->p->helo) < 0 || queue_line(s, &line, 0) < 0) {
		buf_wipe(&line);
		return conn_fail(s, EX_SOFTWARE, "cannot queue %s", next == SMTP_STATE_HELO ? "HELO" : "EHLO");
	}
	set_state(s, next);
	return SMTP_SEND;
}

static enum smtp_action begin_auth(struct smtp *s);
static enum smtp_action begin_envelope(struct smtp *s);

/* Greeting, EHLO, STARTTLS and AUTH are through. */
static enum smtp_action
setup_done(struct smtp *s)
{
	if (s->p->multi) {
		set_state(s, SMTP_STATE_READY);
		return SMTP_READY;
	}
	s->in_txn = 1;
	return begin_envelope(s);
}

/* EHLO or HELO went through: STARTTLS, AUTH or the envelope next. */
static enum smtp_action
after_hello(struct smtp *s)
{
	char who[300];

	if (s->p->tls == SMTP_TLS_STARTTLS && !s->tls_active) {
		/* Never fall back to plaintext: the account asked for TLS. */
		if (!s->caps.starttls)
			return conn_fail(s, EX_UNAVAILABLE, "%s does not offer STARTTLS, which the account "
			            "requires; not sending anything in plaintext",
			            server_name(s, who, sizeof who));
		if (queue_str(s, "STARTTLS\r\n") < 0)
			return conn_fail(s, EX_SOFTWARE, "cannot queue STARTTLS");
		set_state(s, SMTP_STATE_STARTTLS);
		return SMTP_SEND;
	}
	if (s->p->auth)
		return begin_auth(s);
	return setup_done(s);
}

static enum smtp_action
on_greeting(struct smtp *s, const struct reply *r)
{
	if (r->code != 220)
		return conn_reply_fail(s, r, 0, NULL);
	s->tls_active = s->p->tls == SMTP_TLS_IMPLICIT;
	return send_ehlo(s, SMTP_STATE_EHLO);
}

static enum smtp_action
on_ehlo(struct smtp *s, const struct reply *r)
{
	char who[300];

	if (r->code / 100 == 2) {
		caps_parse(&s->caps, r);
		return after_hello(s);
	}
	/* RFC 5321 3.2: a server that does not know EHLO gets HELO, but only
	 * before TLS: a server that spoke EHLO in plaintext and refuses it
	 * inside TLS is broken, not old. HELO brings no extensions, so when
	 * TLS or AUTH is required there is no point in trying it. */
	if (r->code / 100 == 5 && s->state == SMTP_STATE_EHLO) {
		server_name(s, who, sizeof who);
		if (s->p->tls == SMTP_TLS_STARTTLS && !s->tls_active) {
			char pre[400];
			snprintf(pre, sizeof pre, "%s does not support EHLO, so it cannot offer the "
			         "required STARTTLS", who);
			return conn_reply_fail(s, r, EX_UNAVAILABLE, pre);
		}
		if (s->p->auth) {
			char pre[400];
			snprintf(pre, sizeof pre, "%s does not support EHLO, so it cannot offer the "
			         "AUTH the account requires", who);
			return conn_reply_fail(s, r, EX_UNAVAILABLE, pre);
		}
		return send_ehlo(s, SMTP_STATE_HELO);
	}
	return conn_reply_fail(s, r, 0, NULL);
}

static enum smtp_action
on_helo(struct smtp *s, const struct reply *r)
{
	if (r->code / 100 != 2)
		return conn_reply_fail(s, r, 0, NULL);
	memset(&s->caps, 0, sizeof s->caps);
	return after_hello(s);
}

static enum smtp_action
on_starttls(struct smtp *s, const struct reply *r)
{
	if (r->code != 220)
		return conn_reply_fail(s, r, 0, NULL);
	set_state(s, SMTP_STATE_TLS);
	return SMTP_STARTTLS;
}

enum smtp_action
smtp_tls_done(struct smtp *s)
{
	if (s->state != SMTP_STATE_TLS)
		return conn_fail(s, EX_SOFTWARE, "TLS handshake reported in state %s",
		            smtp_state_name(s->state));
	s->tls_active = 1;
	/* RFC 3207 4.2: everything learnt before TLS is void. */
	memset(&s->caps, 0, sizeof s->caps);
	return send_ehlo(s, SMTP_STATE_EHLO_TLS);
}

/* ------------------------------------------------------------ AUTH */

static enum smtp_action
begin_auth(struct smtp *s)
{
	const struct smtp_auth_ops *ops = s->p->auth_ops;
	const char *mech = NULL;
	char *initial = NULL;
	char who[300];
	struct buf line;
	struct err e;
	int r;

	if (s->caps.auth[0] == '\0')
		return conn_fail(s, EX_UNAVAILABLE, "%s does not offer AUTH, but the account requires "
		            "authentication", server_name(s, who, sizeof who));
	err_init(&e);
	if (ops->start(s->p->auth_ctx, s->caps.auth, &mech, &initial, &e) < 0) {
		if (initial) {
			mem_wipe(initial, strlen(initial));
			free(initial);
		}
		return conn_fail_err(s, &e);
	}
	if (!is_token(mech) || (initial && *initial && !is_token(initial))) {
		if (initial) {
			mem_wipe(initial, strlen(initial));
			free(initial);
		}
		return conn_fail(s, EX_SOFTWARE, "invalid SASL mechanism or initial response");
	}
	buf_init(&line, SMTP_CMD_MAX);
	/* RFC 4954 4: an empty initial response is sent as "=". */
	r = buf_printf(&line, "AUTH %s%s%s\r\n", mech, initial ? " " : "",
	               initial ? (*initial ? initial : "=") : "");
	if (initial) {
		mem_wipe(initial, strlen(initial));
		free(initial);
	}
	if (r < 0 || queue_line(s, &line, 1) < 0) {
		buf_wipe(&line);
		return conn_fail(s, EX_SOFTWARE, "cannot queue AUTH (initial response too long?)");
	}
	s->auth_steps = 0;
	set_state(s, SMTP_STATE_AUTH);
	return SMTP_SEND;
}

static enum smtp_action
on_auth(struct smtp *s, const struct reply *r)
{
	char *resp = NULL;
	struct buf line;
	struct err e;
	int ret;

	if (r->code == 235) {
		if (s->p->auth_ops->finish) {
			err_init(&e);
			if (s->p->auth_ops->finish(s->p->auth_ctx, &e) < 0)
				return conn_fail_err(s, &e);
		}
		return setup_done(s);
	}
	if (r->code >= 500 && r->code < 600 && !s->auth_retried &&
	    s->p->auth_ops->retry) {
		s->auth_retried = 1;
		err_init(&e);
		ret = s->p->auth_ops->retry(s->p->auth_ctx, &e);
		if (ret < 0)
			return conn_fail_err(s, &e);
		if (ret > 0)
			return begin_auth(s);
	}
	if (r->code != 334)
		return conn_reply_fail(s, r, 0, "authentication failed");
	if (++s->auth_steps > SMTP_AUTH_STEPS_MAX) {
		(void)queue_str(s, "*\r\n");
		return conn_reply_fail(s, r, EX_PROTOCOL, "authentication failed: too many challenges");
	}
	err_init(&e);
	/* The challenge is the whole text: base64 has no spaces, so a 334
	 * reply never carries an enhanced status code. */
	ret = s->p->auth_ops->step(s->p->auth_ctx, buf_cstr(&r->text), &resp, &e);
	if (ret < 0 || resp == NULL || (*resp && !is_token(resp))) {
		if (resp) {
			mem_wipe(resp, strlen(resp));
			free(resp);
		}
		/* RFC 4954 4: "*" cancels the exchange; the server answers 501. */
		(void)queue_str(s, "*\r\n");
		if (ret < 0)
			return conn_fail_err(s, &e);
		return conn_fail(s, EX_SOFTWARE, "invalid SASL response");
	}
	buf_init(&line, SMTP_CMD_MAX);
	ret = buf_printf(&line, "%s\r\n", resp);
	mem_wipe(resp, strlen(resp));
	free(resp);
	if (ret < 0 || queue_line(s, &line, 1) < 0) {
		buf_wipe(&line);
		return conn_fail(s, EX_SOFTWARE, "cannot queue the SASL response (too long?)");
	}
	return SMTP_SEND;
}

/* ------------------------------------------------------------ envelope */

/* RFC 3461 4: xtext, for ENVID. */
static int
put_xtext(struct buf *b, const char *v)
{
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		int r = c >= 0x21 && c <= 0x7e && c != '+' && c != '=' ?
		        buf_putc(b, (char)c) : buf_printf(b, "+%02X", c);
		if (r < 0)
			return -1;
	}
	return 0;
}

static int
queue_mail(struct smtp *s)
{
	const struct smtp_msg *p = &s->m;
	const char *from = is_null_sender(&p->from) ? "" : addr_form(s, &p->from);
	struct buf line;
	int r;

	buf_init(&line, SMTP_CMD_MAX);
	r = buf_printf(&line, "MAIL FROM:<%s>", from);
	/* A verification announces no message. */
	if (r == 0 && s->caps.size_set && !s->verify)
		r = buf_printf(&line, " SIZE=%llu", p->size);
	/* RFC 6152: BODY only to a server that offers 8BITMIME. -B 7BIT
	 * never mislabels 8-bit content: the content wins. */
	if (r == 0 && s->caps.eightbitmime && !s->verify) {
		if (p->has_8bit || p->opts.body == ENVELOPE_BODY_8BITMIME)
			r = buf_puts(&line, " BODY=8BITMIME");
		else if (p->opts.body == ENVELOPE_BODY_7BIT)
			r = buf_puts(&line, " BODY=7BIT");
	}
	if (r == 0 && s->use_utf8)
		r = buf_puts(&line, " SMTPUTF8");
	if (r == 0 && p->opts.requiretls && !s->verify)
		r = buf_puts(&line, " REQUIRETLS");
	if (r == 0 && s->caps.dsn && p->opts.ret != ENVELOPE_RET_UNSET)
		r = buf_printf(&line, " RET=%s", envelope_ret_text(p->opts.ret));
	if (r == 0 && s->caps.dsn && p->opts.envid[0]) {
		r = buf_puts(&line, " ENVID=");
		if (r == 0)
			r = put_xtext(&line, p->opts.envid);
	}
	if (r == 0)
		r = buf_puts(&line, "\r\n");
	if (r == 0)
		return queue_line(s, &line, 0);
	buf_free(&line);
	return -1;
}

static int
queue_rcpt(struct smtp *s, size_t i)
{
	struct buf line;
	int r;

	buf_init(&line, SMTP_CMD_MAX);
	r = buf_printf(&line, "RCPT TO:<%s>", addr_form(s, &s->m.rcpts[i]));
	if (r == 0 && s->caps.dsn && s->m.opts.notify) {
		char notify[64];
		r = buf_printf(&line, " NOTIFY=%s",
		               envelope_notify_text(s->m.opts.notify, notify, sizeof notify));
	}
	if (r == 0)
		r = buf_puts(&line, "\r\n");
	if (r == 0)
		return queue_line(s, &line, 0);
	buf_free(&line);
	return -1;
}

/*
 * No recipient was accepted: the overall error is the first refusal's,
 * except that any temporary refusal makes the whole temporary (a retry
 * may deliver to it). r: the reply being handled (NULL: nothing was
 * sent yet); what the failure leaves behind is txn_rest's.
 */
static enum smtp_action
fail_rcpts(struct smtp *s, const struct reply *r)
{
	const struct smtp_msg *p = &s->m;
	size_t pick = p->nrcpts;
	char pre[600];

	for (size_t i = 0; i < p->nrcpts; i++)
		if (s->rcpt[i].ex == EX_TEMPFAIL) {
			pick = i;
			break;
		}
	if (pick == p->nrcpts)
		for (size_t i = 0; i < p->nrcpts; i++)
			if (s->rcpt[i].ex != 0) {
				pick = i;
				break;
			}
	if (pick == p->nrcpts)
		return conn_fail(s, EX_SOFTWARE, "no recipient accepted, none refused");
	if (p->nrcpts == 1)
		snprintf(pre, sizeof pre, "<%s>", addr_display(&p->rcpts[pick]));
	else
		snprintf(pre, sizeof pre, "all %zu recipients refused, e.g. <%s>", p->nrcpts,
		         addr_display(&p->rcpts[pick]));
	return msg_failq(s, r, s->rcpt[pick].ex, s->rcpt[pick].code, "%s: %s%s", pre,
	                s->rcpt[pick].text ? s->rcpt[pick].text : "refused",
	                s->rcpt[pick].code ? " (in reply to RCPT TO)" : "");
}

/* Drop what was queued since mark: a group that could not be completed
 * is never sent in part. */
static void
out_truncate(struct smtp *s, size_t mark)
{
	s->out.len = mark;
	if (s->out.data)
		s->out.data[mark] = '\0';
}

/* The chunk size for a message of size octets (smtp.h, SMTP_BDAT_CHUNK). */
static unsigned long long
chunk_size(unsigned long long size)
{
	if (size / SMTP_BDAT_CHUNKS_MAX >= SMTP_BDAT_CHUNK)
		return size / SMTP_BDAT_CHUNKS_MAX + 1;
	return SMTP_BDAT_CHUNK;
}

/* How many chunks a message of size octets goes in ("BDAT 0 LAST": 1). */
static size_t
chunk_count(unsigned long long size)
{
	unsigned long long n = chunk_size(size);

	return size == 0 ? 1 : (size_t)((size + n - 1) / n);
}

/* Queue the BDAT command of the chunk of a size-octet body that starts at
 * off; *len and *last say what it is. */
static int
queue_bdat_at(struct smtp *s, unsigned long long size, unsigned long long off,
              unsigned long long *len, int *last)
{
	unsigned long long left = size - off, n = chunk_size(size);
	struct buf line;

	*last = left <= n;
	*len = *last ? left : n;
	buf_init(&line, SMTP_CMD_MAX);
	if (buf_printf(&line, "BDAT %llu%s\r\n", *len, *last ? " LAST" : "") < 0) {
		buf_free(&line);
		return -1;
	}
	return queue_line(s, &line, 0);
}

/* Queue the BDAT command of the current message's chunk at chunk_off. */
static int
queue_bdat(struct smtp *s)
{
	return queue_bdat_at(s, s->m.size, s->chunk_off, &s->chunk_len, &s->chunk_last);
}

/* MAIL, and with PIPELINING every RCPT and DATA (or the first BDAT)
 * behind it. */
static int
queue_envelope(struct smtp *s)
{
	if (queue_mail(s) < 0)
		return -1;
	if (s->pipelining) {
		/* RFC 2920 3.1: MAIL, RCPT and DATA may go in one group;
		 * DATA is the last command of the group. RFC 3030: BDAT
		 * may be pipelined, its chunk follows it at once. */
		for (size_t i = s->rcpt_cur; i < s->m.nrcpts; i = next_rcpt(s, i + 1))
			if (queue_rcpt(s, i) < 0)
				return -1;
		if (s->bdat)
			return queue_bdat(s);
		/* RFC 2920 3.1: RSET may appear anywhere in a group. */
		if (queue_str(s, s->verify ? "RSET\r\n" : "DATA\r\n") < 0)
			return -1;
	}
	return 0;
}

/*
 * One SMTPUTF8 decision for the whole envelope (RFC 6531 3.4): with
 * -O SMTPUTF8=yes whenever the server offers it, with =no never, else
 * when some address needs its UTF-8 form and the server can.
 */
static int
utf8_decision(const struct smtp *s, const struct smtp_msg *m)
{
	int need = 0;

	if (m->opts.smtputf8 == ENVELOPE_UTF8_NO)
		return 0;
	if (m->opts.smtputf8 == ENVELOPE_UTF8_YES)
		return s->caps.smtputf8;
	if (!is_null_sender(&m->from) && needs_utf8(&m->from))
		need = 1;
	for (size_t i = 0; i < m->nrcpts; i++)
		if (needs_utf8(&m->rcpts[i]))
			need = 1;
	return need && s->caps.smtputf8;
}

/* RFC 8689 2: a REQUIRETLS message goes only over TLS whose peer was
 * authenticated, to a server that promises to keep requiring it. NULL
 * when m may go. */
static const char *
requiretls_problem(const struct smtp *s, const struct smtp_msg *m)
{
	if (!m->opts.requiretls)
		return NULL;
	if (!s->tls_active)
		return "the connection is not TLS-protected";
	if (!s->p->tls_verified)
		return "the server's certificate is not verified (tls_certcheck off)";
	if (!s->caps.requiretls)
		return "the server does not offer REQUIRETLS";
	return NULL;
}

static enum smtp_action
begin_envelope(struct smtp *s)
{
	const struct smtp_msg *p = &s->m;
	static const char no_utf8[] =
	        "non-ASCII local part needs SMTPUTF8, which the server does not offer";
	static const char utf8_off[] =
	        "non-ASCII local part needs SMTPUTF8, which -O SMTPUTF8=no forbids";
	const char *why_not = p->opts.smtputf8 == ENVELOPE_UTF8_NO ? utf8_off : no_utf8;
	int why_ex = p->opts.smtputf8 == ENVELOPE_UTF8_NO ? EX_DATAERR : EX_UNAVAILABLE;
	const char *tls_problem;
	int rset = s->need_rset;
	size_t mark;

	/* RFC 1870: refuse early rather than upload a message the server
	 * has said it will not take. 0 means no limit was given. */
	if (!s->verify && s->caps.size_set && s->caps.size > 0 && p->size > s->caps.size)
		return msg_local(s, EX_UNAVAILABLE, "message is %llu bytes, server limit is %llu "
		            "(SIZE in reply to EHLO)", p->size, s->caps.size);

	tls_problem = s->verify ? NULL : requiretls_problem(s, p);
	if (tls_problem)
		return msg_local(s, EX_UNAVAILABLE, "REQUIRETLS was requested (-O REQUIRETLS=yes) but "
		                 "%s; not sending (5.7.30)", tls_problem);

	/* UTF-8 forms and SMTPUTF8, or ASCII forms (A-label domains), and
	 * what has no ASCII form fails. */
	s->use_utf8 = utf8_decision(s, p);
	if (!s->use_utf8 && !is_null_sender(&p->from) && p->from.ascii == NULL)
		return msg_local(s, why_ex, "sender <%s>: %s", addr_display(&p->from), why_not);
	for (size_t i = 0; i < p->nrcpts; i++) {
		if (s->use_utf8 || p->rcpts[i].ascii != NULL)
			continue;
		s->rcpt[i].ex = why_ex;
		s->rcpt[i].text = str_dup(why_not);
		if (s->rcpt[i].text == NULL)
			return msg_local(s, EX_OSERR, "out of memory");
	}
	s->rcpt_cur = next_rcpt(s, 0);
	if (s->rcpt_cur == p->nrcpts)
		return fail_rcpts(s, NULL);

	/* After a transaction that failed mid-way, RSET leads the group
	 * (RFC 2920 allows it anywhere but last); without PIPELINING the
	 * envelope waits for its reply. */
	mark = s->out.len;
	s->pipelining = s->caps.pipelining;
	s->bdat = !s->verify && s->p->chunking && s->caps.chunking && !p->data_only;
	if ((rset && queue_str(s, "RSET\r\n") < 0) ||
	    ((!rset || s->pipelining) && queue_envelope(s) < 0)) {
		out_truncate(s, mark);
		return msg_local(s, EX_SOFTWARE, "cannot queue the envelope (address too long?)");
	}
	if (s->bdat && s->pipelining) {
		/* The chunks follow the group at once; the replies are read
		 * once they are all out, RSET's or MAIL's first. */
		s->resume = rset ? SMTP_STATE_RSET : SMTP_STATE_MAIL;
		set_state(s, SMTP_STATE_CHUNK);
		return SMTP_CHUNK;
	}
	set_state(s, rset ? SMTP_STATE_RSET : SMTP_STATE_MAIL);
	return SMTP_SEND;
}

static enum smtp_action next_continue(struct smtp *s, const struct smtp_msg *m, int last);
static enum smtp_action txn_start(struct smtp *s, const struct smtp_msg *m, int last,
                                  int verify);

enum smtp_action
smtp_next_message(struct smtp *s, const struct smtp_msg *m, int last)
{
	if (s->state == SMTP_STATE_FAILED)
		return SMTP_FAIL;
	if (!s->p->multi || s->state != SMTP_STATE_READY)
		return conn_fail(s, EX_SOFTWARE, "next message in state %s", smtp_state_name(s->state));
	if (s->ahead_n)
		return conn_failq(s, END_CLOSE, EX_SOFTWARE, 0, "next message while transactions sent ahead "
		             "are due");
	if (s->next_sent)
		return next_continue(s, m, last);
	return txn_start(s, m, last, 0);
}

enum smtp_action
smtp_verify(struct smtp *s, const struct smtp_msg *m)
{
	if (s->state == SMTP_STATE_FAILED)
		return SMTP_FAIL;
	if (!s->p->multi || s->state != SMTP_STATE_READY || s->next_sent || s->ahead_n)
		return conn_fail(s, EX_SOFTWARE, "verification in state %s", smtp_state_name(s->state));
	return txn_start(s, m, 0, 1);
}

static enum smtp_action
txn_start(struct smtp *s, const struct smtp_msg *m, int last, int verify)
{
	struct err e;

	txn_forget(s);
	s->m = *m;
	s->last = last;
	s->verify = verify;
	s->in_txn = 1;
	err_init(&s->msg_err);
	err_init(&e);
	if (smtp_msg_check(m, &e) < 0 || txn_alloc(s, &e) < 0) {
		txn_forget(s);
		s->m.nrcpts = 0;
		return msg_local(s, e.ex, "%s", e.msg);
	}
	return begin_envelope(s);
}

static enum smtp_action
on_rset(struct smtp *s, const struct reply *r)
{
	/* RFC 5321 4.1.1.5: RSET must succeed; a server that refuses it
	 * cannot be trusted with the next message. */
	if (r->code / 100 != 2)
		return conn_reply_fail(s, r, 0, NULL);
	s->need_rset = 0;
	set_state(s, SMTP_STATE_MAIL);
	if (s->pipelining)
		return SMTP_READ;
	if (queue_envelope(s) < 0)
		return msg_local(s, EX_SOFTWARE, "cannot queue MAIL FROM (address too long?)");
	return SMTP_SEND;
}

static enum smtp_action
on_mail(struct smtp *s, const struct reply *r)
{
	/* Pipelined, every RCPT and DATA are answered yet (refused, if
	 * the server is sane); RSET in any case, as MAIL's fate on the
	 * server's side is best not guessed. */
	if (r->code / 100 != 2) {
		return msg_reply_fail(s, r);    /* what is due: txn_rest */
	}
	set_state(s, SMTP_STATE_RCPT);
	if (s->pipelining)
		return SMTP_READ;
	if (queue_rcpt(s, s->rcpt_cur) < 0)
		return msg_fail(s, EX_SOFTWARE, "cannot queue RCPT TO (address too long?)");
	return SMTP_SEND;
}

static enum smtp_action
on_rcpt(struct smtp *s, const struct reply *r)
{
	struct smtp_rcpt_status *st = &s->rcpt[s->rcpt_cur];
	char sum[512];

	st->code = r->code;
	memcpy(st->enh, r->enh, sizeof st->enh);
	free(st->text);
	st->text = str_dup(reply_summary(r, sum, sizeof sum));
	if (st->text == NULL)
		return conn_fail(s, EX_OSERR, "out of memory");
	if (r->code / 100 == 2) {    /* 250, 251 (will forward), 252 */
		st->ex = 0;
		s->accepted++;
	} else {
		st->ex = smtp_ex_from_reply(r->code, r->enh, PHASE_RCPT);
	}
	s->rcpt_cur = next_rcpt(s, s->rcpt_cur + 1);
	if (s->rcpt_cur < s->m.nrcpts) {
		if (s->pipelining)
			return SMTP_READ;
		if (queue_rcpt(s, s->rcpt_cur) < 0)
			return msg_fail(s, EX_SOFTWARE, "cannot queue RCPT TO (address too long?)");
		return SMTP_SEND;
	}
	if (s->verify) {            /* every verdict is in: reset, never DATA */
		set_state(s, SMTP_STATE_VRSET);
		if (s->pipelining)
			return SMTP_READ;
		if (queue_str(s, "RSET\r\n") < 0)
			return conn_fail(s, EX_SOFTWARE, "cannot queue RSET");
		return SMTP_SEND;
	}
	if (s->pipelining && s->bdat && s->chunks_due > 0) {
		/* The chunks are out: a server without recipients consumed
		 * them and refuses (RFC 3030); drop those replies. */
		if (s->accepted == 0)
			return fail_rcpts(s, r);
		set_state(s, SMTP_STATE_BDAT);
		return SMTP_READ;
	}
	if (s->pipelining && !s->bdat) {    /* DATA is on its way already */
		set_state(s, SMTP_STATE_DATA);
		return SMTP_READ;
	}
	if (s->accepted == 0)
		return fail_rcpts(s, r);
	if (s->bdat) {              /* no 354 to wait for */
		if (queue_bdat(s) < 0)
			return msg_fail(s, EX_SOFTWARE, "cannot queue BDAT");
		set_state(s, SMTP_STATE_CHUNK);
		return SMTP_CHUNK;
	}
	if (queue_str(s, "DATA\r\n") < 0)
		return msg_fail(s, EX_SOFTWARE, "cannot queue DATA");
	set_state(s, SMTP_STATE_DATA);
	return SMTP_SEND;
}

static enum smtp_action
on_data(struct smtp *s, const struct reply *r)
{
	if (s->accepted == 0) {
		/* Pipelined DATA after every RCPT failed. The server should
		 * have refused it (RFC 2920 3.1); if it said 354 anyway, end
		 * the empty message at once: it has no recipients to go to.
		 * That end of data's reply closes the transaction. */
		if (r->code == 354) {
			(void)queue_str(s, ".\r\n");
			return fail_rcpts(s, r);
		}
		return fail_rcpts(s, r);
	}
	if (r->code != 354)
		return msg_reply_fail(s, r);
	set_state(s, SMTP_STATE_BODY);
	return SMTP_BODY;
}

enum smtp_action
smtp_body_done(struct smtp *s)
{
	if (s->state != SMTP_STATE_BODY)
		return conn_fail(s, EX_SOFTWARE, "body finished in state %s", smtp_state_name(s->state));
	if (queue_str(s, ".\r\n") < 0)
		return conn_fail(s, EX_SOFTWARE, "cannot queue the end of data");
	set_state(s, SMTP_STATE_DOT);
	/* RFC 2920: QUIT may follow the end of data in the same group; we
	 * then close as soon as the end-of-data reply is in. No room for it
	 * is no failure: the end of data is queued, the message will go,
	 * and on_dot queues QUIT again (or the session just closes). */
	if (s->caps.pipelining && s->last && queue_str(s, "QUIT\r\n") == 0)
		s->quit_sent = 1;
	return SMTP_SEND;
}

/*
 * Can next's envelope be decided now, with nothing refused locally? Then
 * *use_utf8 is its SMTPUTF8 decision (as begin_envelope would make it).
 * Anything begin_envelope would refuse on its own (SIZE, a form that
 * needs SMTPUTF8 the server lacks, an invalid envelope) is left to the
 * ordinary path, which reports it.
 */
static int
next_sendable(const struct smtp *s, const struct smtp_msg *m, int *use_utf8)
{
	struct err e;

	err_init(&e);
	if (smtp_msg_check(m, &e) < 0)
		return 0;
	if (s->caps.size_set && s->caps.size > 0 && m->size > s->caps.size)
		return 0;
	if (requiretls_problem(s, m))
		return 0;
	*use_utf8 = utf8_decision(s, m);
	if (*use_utf8)
		return 1;
	if (!is_null_sender(&m->from) && m->from.ascii == NULL)
		return 0;
	for (size_t i = 0; i < m->nrcpts; i++)
		if (m->rcpts[i].ascii == NULL)
			return 0;
	return 1;
}

enum smtp_action
smtp_body_done_next(struct smtp *s, const struct smtp_msg *next)
{
	struct smtp_msg cur;
	enum smtp_action act;
	size_t mark, n;
	int cur_utf8, next_utf8 = 0, r = 0;

	act = smtp_body_done(s);
	/* RFC 2920 3.1: the end of data may start a group and DATA ends
	 * one; so the next envelope may ride behind it, with PIPELINING. */
	if (act != SMTP_SEND || next == NULL || !s->p->multi || s->last || !s->caps.pipelining ||
	    !next_sendable(s, next, &next_utf8))
		return act;
	n = next->nrcpts;
	if (n > SIZE_MAX / SMTP_CMD_MAX - 5)
		return act;
	if (s->out.max < SMTP_CMD_MAX * (n + 5))
		s->out.max = SMTP_CMD_MAX * (n + 5);
	/* queue_mail and queue_rcpt speak of s->m: lend it next's envelope
	 * for the moment; the current transaction's statuses stay. */
	cur = s->m;
	cur_utf8 = s->use_utf8;
	s->m = *next;
	s->use_utf8 = next_utf8;
	mark = s->out.len;
	r = queue_mail(s);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = queue_rcpt(s, i);
	if (r == 0)
		r = queue_str(s, "DATA\r\n");
	s->m = cur;
	s->use_utf8 = cur_utf8;
	if (r < 0) {
		/* Not pipelined after all: the ordinary path will say why. */
		out_truncate(s, mark);
		return act;
	}
	s->next = *next;
	s->next_utf8 = next_utf8;
	s->next_sent = 1;
	return act;
}

int
smtp_next_in_flight(const struct smtp *s)
{
	return s->next_sent;
}

/* smtp_next_message for the envelope smtp_body_done_next sent already:
 * only its replies are due. */
static enum smtp_action
next_continue(struct smtp *s, const struct smtp_msg *m, int last)
{
	struct err e;

	s->next_sent = 0;
	if (m->rcpts != s->next.rcpts || m->nrcpts != s->next.nrcpts ||
	    m->from.utf8 != s->next.from.utf8 || m->from.ascii != s->next.from.ascii)
		return conn_failq(s, END_CLOSE, EX_SOFTWARE, 0, "next message is not the one whose envelope "
		             "was sent");
	txn_forget(s);
	s->m = *m;
	s->last = last;
	s->in_txn = 1;
	err_init(&s->msg_err);
	err_init(&e);
	if (txn_alloc(s, &e) < 0) {
		txn_forget(s);
		s->m.nrcpts = 0;
		return conn_failq(s, END_CLOSE, e.ex, 0, "%s", e.msg);
	}
	s->use_utf8 = s->next_utf8;
	s->pipelining = 1;
	s->rcpt_cur = 0;
	set_state(s, SMTP_STATE_MAIL);
	return SMTP_READ;
}

/* The message was accepted (end of data or BDAT LAST). */
static enum smtp_action
txn_accepted(struct smtp *s)
{
	if (!s->last)
		return txn_end(s);
	s->in_txn = 0;
	if (!s->quit_sent) {
		if (queue_str(s, "QUIT\r\n") == 0)
			s->quit_sent = 1;
		/* No room for QUIT is no reason to call an accepted message
		 * failed: the session just closes. */
	}
	set_state(s, SMTP_STATE_QUIT);
	return SMTP_DONE;
}

static enum smtp_action
on_dot(struct smtp *s, const struct reply *r)
{
	/* Either way the server's transaction is over: no RSET next. */
	if (r->code / 100 != 2)
		return msg_reply_fail(s, r);
	return txn_accepted(s);
}

int
smtp_chunk(const struct smtp *s, unsigned long long *off, unsigned long long *len)
{
	if (s->ahead_chunking) {
		*off = s->tx_off;
		*len = s->tx_len;
		return 0;
	}
	if (s->state != SMTP_STATE_CHUNK)
		return -1;
	*off = s->chunk_off;
	*len = s->chunk_len;
	return 0;
}

static enum smtp_action ahead_chunk_done(struct smtp *s);

enum smtp_action
smtp_chunk_done(struct smtp *s)
{
	if (s->ahead_chunking)
		return ahead_chunk_done(s);
	if (s->state != SMTP_STATE_CHUNK)
		return conn_fail(s, EX_SOFTWARE, "chunk finished in state %s", smtp_state_name(s->state));
	s->chunk_off += s->chunk_len;
	s->chunks_due++;
	if (!s->pipelining) {       /* no PIPELINING: each BDAT waits for its reply */
		set_state(s, SMTP_STATE_BDAT);
		return SMTP_SEND;
	}
	if (!s->chunk_last) {
		if (queue_bdat(s) < 0)
			return conn_fail(s, EX_SOFTWARE, "cannot queue BDAT");
		return SMTP_CHUNK;
	}
	/* As behind the end of data (RFC 2920): QUIT rides along; no room
	 * for it is no failure (txn_accepted queues it again). */
	if (s->last && queue_str(s, "QUIT\r\n") == 0)
		s->quit_sent = 1;
	set_state(s, s->resume);
	return SMTP_SEND;
}

/*
 * The reply to a BDAT chunk. A refusal fails the message; RFC 3030
 * says no further chunk may follow, and the server's transaction state is
 * not guessed: RSET before the next one. Pipelined, the replies to the
 * chunks sent behind the refused one are dropped.
 */
static enum smtp_action
on_bdat(struct smtp *s, const struct reply *r)
{
	s->chunks_due--;
	if (r->code / 100 != 2)
		return msg_reply_fail(s, r);
	if (s->chunks_due > 0)
		return SMTP_READ;
	if (!s->chunk_last) {       /* without PIPELINING: the next chunk */
		if (queue_bdat(s) < 0)
			return msg_fail(s, EX_SOFTWARE, "cannot queue BDAT");
		set_state(s, SMTP_STATE_CHUNK);
		return SMTP_CHUNK;
	}
	return txn_accepted(s);
}

/* ------------------------------------------------------------ the window */

/* The replies a transaction of m sent ahead brings: RSET, MAIL, one per
 * RCPT and per chunk. */
static size_t
ahead_replies(const struct smtp_msg *m)
{
	return 2 + m->nrcpts + chunk_count(m->size);
}

/* Is the current transaction a pipelined BDAT one with everything out,
 * only replies due? */
static int
head_in_flight(const struct smtp *s)
{
	switch (s->state) {
	case SMTP_STATE_RSET:
	case SMTP_STATE_MAIL:
	case SMTP_STATE_RCPT:
	case SMTP_STATE_BDAT:
		return s->in_txn && s->bdat && s->pipelining && !s->verify && !s->last;
	default:
		return 0;
	}
}

int
smtp_window_room(const struct smtp *s, const struct smtp_msg *m)
{
	size_t replies = 0, n = s->ahead_n;
	int utf8;

	if (!s->p->multi || !s->p->chunking || !s->caps.pipelining || !s->caps.chunking ||
	    m->data_only || s->next_sent || s->ahead_chunking)
		return 0;
	if (s->state == SMTP_STATE_READY ? n == 0 : !head_in_flight(s))
		return 0;
	if (n > 0 && s->ahead[(s->ahead_first + n - 1) % SMTP_WINDOW].last)
		return 0;
	if (n + (s->state != SMTP_STATE_READY) >= SMTP_WINDOW)
		return 0;
	for (size_t i = 0; i < n; i++)
		replies += ahead_replies(&s->ahead[(s->ahead_first + i) % SMTP_WINDOW].m);
	if (n > 0 && replies + ahead_replies(m) > SMTP_WINDOW_REPLIES)
		return 0;
	return m->nrcpts <= SIZE_MAX / SMTP_CMD_MAX - 5 && next_sendable(s, m, &utf8);
}

/* RSET, MAIL, the RCPTs and the first BDAT of m (SMTPUTF8 as utf8); -1
 * with nothing queued. */
static int
queue_ahead(struct smtp *s, const struct smtp_msg *m, int utf8)
{
	struct smtp_msg cur = s->m;
	int cur_utf8 = s->use_utf8, r;
	size_t mark = s->out.len;

	if (s->out.max < SMTP_CMD_MAX * (m->nrcpts + 5))
		s->out.max = SMTP_CMD_MAX * (m->nrcpts + 5);
	/* queue_mail and queue_rcpt speak of s->m: lend it m for the
	 * moment; the current transaction's statuses stay. */
	s->m = *m;
	s->use_utf8 = utf8;
	r = queue_str(s, "RSET\r\n");
	if (r == 0)
		r = queue_mail(s);
	for (size_t i = 0; r == 0 && i < m->nrcpts; i++)
		r = queue_rcpt(s, i);
	s->m = cur;
	s->use_utf8 = cur_utf8;
	if (r == 0)
		r = queue_bdat_at(s, m->size, 0, &s->tx_len, &s->tx_last);
	if (r < 0)
		out_truncate(s, mark);
	return r;
}

enum smtp_action
smtp_send_ahead(struct smtp *s, const struct smtp_msg *m, int last)
{
	struct smtp_ahead *a;
	int utf8 = 0;

	if (s->state == SMTP_STATE_FAILED)
		return SMTP_FAIL;
	if (!smtp_window_room(s, m) || !next_sendable(s, m, &utf8))
		return conn_failq(s, END_CLOSE, EX_SOFTWARE, 0, "message sent ahead in state %s without room",
		             smtp_state_name(s->state));
	a = &s->ahead[(s->ahead_first + s->ahead_n) % SMTP_WINDOW];
	free(a->rcpt);
	memset(a, 0, sizeof *a);
	/* Now, before anything of it is sent: once its chunks are out,
	 * taking up its replies must need no memory. */
	a->rcpt = calloc(m->nrcpts, sizeof *a->rcpt);
	if (a->rcpt == NULL)
		return conn_failq(s, END_CLOSE, EX_OSERR, 0, "out of memory");
	s->tx_size = m->size;
	s->tx_off = 0;
	if (queue_ahead(s, m, utf8) < 0) {
		free(a->rcpt);
		a->rcpt = NULL;
		return conn_failq(s, END_CLOSE, EX_SOFTWARE, 0, "cannot queue the envelope (address too long?)");
	}
	a->m = *m;
	a->utf8 = utf8;
	a->last = last;
	s->ahead_n++;
	s->ahead_chunking = 1;
	return SMTP_CHUNK;
}

/* smtp_chunk_done for a transaction sent ahead. */
static enum smtp_action
ahead_chunk_done(struct smtp *s)
{
	struct smtp_ahead *a = &s->ahead[(s->ahead_first + s->ahead_n - 1) % SMTP_WINDOW];

	s->tx_off += s->tx_len;
	a->nchunks++;
	if (!s->tx_last) {
		if (queue_bdat_at(s, s->tx_size, s->tx_off, &s->tx_len, &s->tx_last) < 0) {
			s->ahead_chunking = 0;
			return conn_failq(s, END_CLOSE, EX_SOFTWARE, 0, "cannot queue BDAT");
		}
		return SMTP_CHUNK;
	}
	s->ahead_chunking = 0;
	/* As behind any last chunk: QUIT rides along; no room for it is no
	 * failure (txn_accepted queues it again). */
	if (a->last && !s->quit_sent && queue_str(s, "QUIT\r\n") == 0)
		s->quit_sent = 1;
	return SMTP_SEND;
}

size_t
smtp_ahead(const struct smtp *s)
{
	return s->ahead_n;
}

enum smtp_action
smtp_next_ahead(struct smtp *s)
{
	struct smtp_ahead *a;

	if (s->state == SMTP_STATE_FAILED)
		return SMTP_FAIL;
	if (s->state != SMTP_STATE_READY || s->ahead_n == 0)
		return conn_failq(s, END_CLOSE, EX_SOFTWARE, 0, "no transaction sent ahead to take up in "
		             "state %s", smtp_state_name(s->state));
	a = &s->ahead[s->ahead_first];
	s->ahead_first = (s->ahead_first + 1) % SMTP_WINDOW;
	s->ahead_n--;
	txn_forget(s);
	s->m = a->m;
	s->rcpt = a->rcpt;
	a->rcpt = NULL;
	s->last = a->last;
	s->in_txn = 1;
	err_init(&s->msg_err);
	s->use_utf8 = a->utf8;
	s->pipelining = 1;
	s->bdat = 1;
	s->chunks_due = a->nchunks;
	s->chunk_last = 1;
	s->rcpt_cur = 0;
	set_state(s, SMTP_STATE_RSET);
	return SMTP_READ;
}

/* The RSET that ends a verification: the connection is idle again. */
static enum smtp_action
on_vrset(struct smtp *s, const struct reply *r)
{
	if (r->code / 100 != 2)
		return conn_reply_fail(s, r, 0, NULL);
	s->need_rset = 0;
	return txn_end(s);
}

/* A reply to a command of a failed transaction: dropped, except that a
 * DATA a confused server accepted gets its empty message ended. */
static enum smtp_action
on_drain(struct smtp *s, const struct reply *r)
{
	if (s->drain > 1) {
		s->drain--;
		return SMTP_READ;
	}
	if (s->drain_data == SMTP_DRAIN_DATA && r->code == 354) {
		if (queue_str(s, ".\r\n") < 0)
			return conn_fail(s, EX_SOFTWARE, "cannot queue the end of data");
		s->drain_data = SMTP_DRAIN_DOT;
		return SMTP_SEND;
	}
	s->drain = 0;
	return txn_end(s);
}

enum smtp_action
smtp_etrn(struct smtp *s, const char *node)
{
	char who[300];
	struct buf line;

	if (s->state == SMTP_STATE_FAILED)
		return SMTP_FAIL;
	if (!s->p->multi || s->state != SMTP_STATE_READY || s->next_sent || s->ahead_n)
		return conn_fail(s, EX_SOFTWARE, "ETRN in state %s", smtp_state_name(s->state));
	err_init(&s->msg_err);
	/* Nothing is sent for these: the connection stays READY. */
	if (node == NULL || !is_token(node)) {
		err_set(&s->msg_err, EX_USAGE, "--rmqs needs a host name, @domain or #queue "
		        "without spaces");
		return SMTP_READY;
	}
	if (!s->caps.etrn) {
		err_set(&s->msg_err, EX_UNAVAILABLE, "%s does not offer ETRN (remote queue "
		        "starting)", server_name(s, who, sizeof who));
		return SMTP_READY;
	}
	buf_init(&line, SMTP_CMD_MAX);
	if (buf_printf(&line, "ETRN %s\r\n", node) < 0 || queue_line(s, &line, 0) < 0) {
		buf_wipe(&line);
		return conn_fail(s, EX_SOFTWARE, "cannot queue ETRN");
	}
	set_state(s, SMTP_STATE_ETRN);
	return SMTP_SEND;
}

/* RFC 1985 5: 250/251/252/253 started (or will start) the queue; 458
 * and 459 refuse for now; 500/501/502 are the server saying no. */
static enum smtp_action
on_etrn(struct smtp *s, const struct reply *r)
{
	char sum[512];

	if (r->code / 100 != 2) {
		reply_summary(r, sum, sizeof sum);
		err_set(&s->msg_err, r->code / 100 == 4 ? EX_TEMPFAIL : EX_UNAVAILABLE,
		        "%s (in reply to ETRN)", sum);
		s->msg_err.smtp_code = r->code;
	}
	set_state(s, SMTP_STATE_READY);
	return SMTP_READY;
}

enum smtp_action
smtp_finish(struct smtp *s)
{
	switch (s->state) {
	case SMTP_STATE_READY:
		/* An envelope in flight may have had its DATA accepted: a
		 * QUIT would be message text. Just close; the server drops
		 * the unfinished transaction. */
		if (s->next_sent || s->ahead_n)
			return conn_failq(s, END_CLOSE, EX_SOFTWARE, 0, "connection given up with the next "
			             "envelope in flight");
		if (queue_str(s, "QUIT\r\n") < 0)
			return conn_fail(s, EX_SOFTWARE, "cannot queue QUIT");
		s->quit_sent = 1;
		set_state(s, SMTP_STATE_QUIT);
		return SMTP_DONE;
	case SMTP_STATE_QUIT:
	case SMTP_STATE_DONE:
		return SMTP_DONE;
	case SMTP_STATE_FAILED:
		return SMTP_FAIL;
	default:
		return conn_fail(s, EX_SOFTWARE, "connection given up in state %s",
		            smtp_state_name(s->state));
	}
}

/* ------------------------------------------------------------ dispatch */

enum smtp_action
smtp_on_reply(struct smtp *s, const struct reply *r)
{
	char sum[512];

	switch (s->state) {
	case SMTP_STATE_FAILED:
		return SMTP_FAIL;
	case SMTP_STATE_QUIT:
	case SMTP_STATE_DONE:
		/* The session read QUIT's reply after all; whatever it says,
		 * the message was accepted already. */
		set_state(s, SMTP_STATE_DONE);
		return SMTP_DONE;
	default:
		break;
	}
	if (r == NULL || !r->complete || r->code == 0)
		return conn_failq(s, END_CLOSE, EX_SOFTWARE, 0, "incomplete reply handed to the SMTP engine");
	if (s->state == SMTP_STATE_TLS || s->state == SMTP_STATE_BODY ||
	    s->state == SMTP_STATE_CHUNK)
		return conn_failq(s, END_CLOSE, EX_PROTOCOL, r->code, "unexpected server reply %s: %s",
		             s->state == SMTP_STATE_TLS ? "before the TLS handshake" :
		             "while the message body was being sent",
		             reply_summary(r, sum, sizeof sum));
	/* RFC 5321 3.8: 421 may come in reply to anything; the server is
	 * closing the channel. Temporary, whatever the command was. */
	if (r->code == 421)
		return conn_reply_fail(s, r, EX_TEMPFAIL, NULL);

	switch (s->state) {
	case SMTP_STATE_GREETING: return on_greeting(s, r);
	case SMTP_STATE_EHLO:
	case SMTP_STATE_EHLO_TLS: return on_ehlo(s, r);
	case SMTP_STATE_HELO:     return on_helo(s, r);
	case SMTP_STATE_STARTTLS: return on_starttls(s, r);
	case SMTP_STATE_AUTH:     return on_auth(s, r);
	case SMTP_STATE_MAIL:     return on_mail(s, r);
	case SMTP_STATE_RCPT:     return on_rcpt(s, r);
	case SMTP_STATE_DATA:     return on_data(s, r);
	case SMTP_STATE_DOT:      return on_dot(s, r);
	case SMTP_STATE_BDAT:     return on_bdat(s, r);
	case SMTP_STATE_RSET:     return on_rset(s, r);
	case SMTP_STATE_DRAIN:    return on_drain(s, r);
	case SMTP_STATE_VRSET:    return on_vrset(s, r);
	case SMTP_STATE_ETRN:     return on_etrn(s, r);
	default:
		break;
	}
	return conn_failq(s, END_CLOSE, EX_SOFTWARE, 0, "reply in state %s", smtp_state_name(s->state));
}

/* ------------------------------------------------------------ accessors */

struct buf *
smtp_output(struct smtp *s)
{
	return &s->out;
}

int
smtp_output_is_secret(const struct smtp *s)
{
	return s->out_secret && s->out.len > 0;
}

const struct err *
smtp_error(const struct smtp *s)
{
	return &s->err;
}

const struct err *
smtp_msg_error(const struct smtp *s)
{
	return &s->msg_err;
}

const struct caps *
smtp_caps(const struct smtp *s)
{
	return &s->caps;
}

const struct smtp_rcpt_status *
smtp_rcpt_status(const struct smtp *s, size_t i)
{
	if (s->rcpt == NULL || i >= s->m.nrcpts)
		return NULL;
	return &s->rcpt[i];
}

size_t
smtp_accepted(const struct smtp *s)
{
	return s->accepted;
}

enum smtp_state
smtp_state(const struct smtp *s)
{
	return s->state;
}
