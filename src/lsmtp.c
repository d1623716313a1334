/* lsmtp.c - see lsmtp.h. RFC 5321, 2920, 1870, 6152, 6531, 2034, 3461. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "drop.h"
#include "lsmtp.h"
#include "queue.h"
#include "runq.h"

/* The output only ever holds the replies to one input chunk's commands:
 * at most LSMTP_CHUNK / 3 ("Q\r\n" style) lines of LSMTP_LINE_MAX; a
 * generous fixed bound keeps a hostile flood from growing it further. */
#define LSMTP_OUT_MAX (16u * 1024 * 1024)

static const char *const state_names[] = {
	[LSMTP_STATE_IDLE]   = "IDLE",
	[LSMTP_STATE_MAIL]   = "MAIL",
	[LSMTP_STATE_RCPT]   = "RCPT",
	[LSMTP_STATE_DATA]   = "DATA",
	[LSMTP_STATE_CLOSED] = "CLOSED",
};

const char *
lsmtp_state_name(int state)
{
	if (state < 0 || (size_t)state >= sizeof state_names / sizeof state_names[0])
		return "?";
	return state_names[state];
}

static void
set_state(struct lsmtp *s, enum lsmtp_state st)
{
	if (s->p->log && st != s->state)
		log_debug(s->p->log, "lsmtp: %s -> %s", lsmtp_state_name(s->state),
		          lsmtp_state_name(st));
	s->state = st;
}

/* Where the body scanner is: at the start of a line, inside one, after a
 * CR inside one (CRLF data only), after a '.' that started a line, after
 * ".\r" that started a line. */
enum { BODY_BOL, BODY_MID, BODY_CR, BODY_DOT, BODY_DOTCR };

/* ------------------------------------------------------------ replies */

/* Control characters in text we echo (the client's own words in a
 * diagnostic, a smarthost's reply) would break the reply's line
 * structure; C1 controls and stray 8-bit bytes would reach the terminal
 * of a client that shows the reply (alpine). */
static void ENVOI_PRINTF(3, 0)
vreply(struct lsmtp *s, int code, const char *fmt, va_list ap)
{
	char text[LSMTP_REPLY_MAX];

	vsnprintf(text, sizeof text, fmt, ap);
	for (char *p = text; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	log_sanitize(text, sizeof text, text, strlen(text));
	if (buf_printf(&s->out, "%d %s\r\n", code, text) < 0 && s->err.ex == 0)
		err_set(&s->err, EX_OSERR, "local SMTP: cannot queue a reply: %s", strerror(errno));
}

static void ENVOI_PRINTF(3, 4)
reply(struct lsmtp *s, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreply(s, code, fmt, ap);
	va_end(ap);
}

/* A callback's reply; vreply makes its text safe to echo. */
static void
reply_cb(struct lsmtp *s, const struct lsmtp_reply *r)
{
	reply(s, r->code >= 200 && r->code <= 599 ? r->code : 451, "%s", r->text);
}

/* A protocol error of the client: counted; too many end the session. */
static void ENVOI_PRINTF(3, 4)
error_reply(struct lsmtp *s, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreply(s, code, fmt, ap);
	va_end(ap);
	if (++s->errors >= LSMTP_ERRORS_MAX) {
		reply(s, 421, "4.7.0 %s Error: too many errors; closing", s->p->hostname);
		if (s->state != LSMTP_STATE_IDLE && s->p->ops->reset)
			s->p->ops->reset(s->p->ctx);
		set_state(s, LSMTP_STATE_CLOSED);
	}
}

/* ------------------------------------------------------------ lifecycle */

void
lsmtp_init(struct lsmtp *s, const struct lsmtp_params *p)
{
	memset(s, 0, sizeof *s);
	s->p = p;
	s->state = LSMTP_STATE_IDLE;
	/* The line without its LF (a CR is kept until the line is done). */
	buf_init(&s->line, LSMTP_LINE_MAX - 1);
	buf_init(&s->out, LSMTP_OUT_MAX);
	err_init(&s->err);
	reply(s, 220, "%s ESMTP envoi (local submission)", p->hostname);
}

void
lsmtp_free(struct lsmtp *s)
{
	buf_free(&s->line);
	buf_free(&s->out);
}

static void
txn_reset(struct lsmtp *s)
{
	if (s->state != LSMTP_STATE_IDLE && s->state != LSMTP_STATE_CLOSED &&
	    s->p->ops->reset)
		s->p->ops->reset(s->p->ctx);
	s->nrcpts = 0;
	if (s->state != LSMTP_STATE_CLOSED)
		set_state(s, LSMTP_STATE_IDLE);
}

void
lsmtp_eof(struct lsmtp *s)
{
	txn_reset(s);
	set_state(s, LSMTP_STATE_CLOSED);
}

struct buf *
lsmtp_output(struct lsmtp *s)
{
	return &s->out;
}

enum lsmtp_state
lsmtp_state(const struct lsmtp *s)
{
	return s->state;
}

const struct err *
lsmtp_error(const struct lsmtp *s)
{
	return &s->err;
}

/* ------------------------------------------------------------ parsing */

/* "FROM:" + path + params: *addr (NUL-terminated in place) and *params.
 * Accepts "<a@b>", the common "FROM: <a@b>" and a bare "a@b"; a source
 * route ("<@r1,@r2:a@b>", RFC 5321 4.1.1.3) is dropped. -1 on bad syntax,
 * a control byte in the address included. */
static int
parse_path(char *p, char **addr, char **params)
{
	char *a, *end;

	while (*p == ' ')
		p++;
	if (*p != '<') {
		/* Not RFC 5321, but sendmail and Postfix take it. */
		a = p;
		end = p + strcspn(p, " ");
		if (end == a || memchr(a, '<', (size_t)(end - a)) || memchr(a, '>', (size_t)(end - a)))
			return -1;
	} else {
		int quoted = 0;
		a = ++p;
		for (end = a; *end; end++) {
			if (quoted && *end == '\\' && end[1] != '\0')
				end++;
			else if (*end == '"')
				quoted = !quoted;
			else if (!quoted && *end == '>')
				break;
		}
		if (*end != '>')
			return -1;
		if (*a == '@') {
			char *colon = memchr(a, ':', (size_t)(end - a));
			if (colon == NULL)
				return -1;
			a = colon + 1;
		}
	}
	p = end + (*end == '>');
	if (*p != '\0' && *p != ' ')
		return -1;
	/* No control byte is part of a path (RFC 5321 4.1.2): a CR kept in
	 * the line must not reach the callbacks inside an address. */
	for (const char *c = a; c < end; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return -1;
	*end = '\0';
	if (*p)
		p++;
	while (*p == ' ')
		p++;
	*addr = a;
	*params = p;
	return 0;
}

/* Next space-separated parameter, "KEY" or "KEY=VALUE" (*val NULL for
 * the former). NULL when none is left. */
static char *
next_param(char **cursor, char **val)
{
	char *p = *cursor, *tok, *eq;

	while (*p == ' ')
		p++;
	if (*p == '\0')
		return NULL;
	tok = p;
	p += strcspn(p, " ");
	if (*p)
		*p++ = '\0';
	*cursor = p;
	eq = strchr(tok, '=');
	*val = NULL;
	if (eq) {
		*eq = '\0';
		*val = eq + 1;
	}
	return tok;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* RFC 3461 4: xtext ("+2B" for '+'), decoded in place; printable ASCII. */
static int
xtext_decode(char *v)
{
	char *w = v;
	size_t n = 0;

	for (const char *r = v; *r; r++) {
		int c = (unsigned char)*r;
		if (c == '+') {
			int hi = hexval(r[1]), lo = hi < 0 ? -1 : hexval(r[2]);
			if (lo < 0)
				return -1;
			c = hi * 16 + lo;
			r += 2;
		}
		if (c < 0x20 || c > 0x7e)
			return -1;
		*w++ = (char)c;
		/* envelope_set_envid checks the length and the characters;
		 * this bound only stops a long parameter early. */
		if (++n > ENVELOPE_ENVID_MAX)
			return -1;
	}
	*w = '\0';
	return 0;
}

/* ------------------------------------------------------------ commands */

static void
do_hello(struct lsmtp *s, int ehlo, const char *arg)
{
	if (*arg == '\0') {
		error_reply(s, 501, "5.5.4 Syntax: %s hostname", ehlo ? "EHLO" : "HELO");
		return;
	}
	/* RFC 5321 4.1.4: EHLO/HELO in a transaction resets it. */
	txn_reset(s);
	if (!ehlo) {
		reply(s, 250, "%s", s->p->hostname);
		return;
	}
	if (buf_printf(&s->out, "250-%s\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
	               "250-ENHANCEDSTATUSCODES\r\n250-SIZE\r\n250 DSN\r\n", s->p->hostname) < 0 &&
	    s->err.ex == 0)
		err_set(&s->err, EX_OSERR, "local SMTP: cannot queue a reply");
}

static void
do_mail(struct lsmtp *s, char *arg)
{
	struct lsmtp_mail m;
	struct lsmtp_reply r;
	char *addr, *params, *key, *val;

	if (s->state != LSMTP_STATE_IDLE) {
		error_reply(s, 503, "5.5.1 Error: nested MAIL command");
		return;
	}
	if (strncasecmp(arg, "FROM:", 5) != 0 || parse_path(arg + 5, &addr, &params) < 0) {
		error_reply(s, 501, "5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	memset(&m, 0, sizeof m);
	m.from = addr;
	while ((key = next_param(&params, &val)) != NULL) {
		if (strcasecmp(key, "SIZE") == 0 && val) {
			long v;
			if (parse_long(val, 0, 0x7fffffffL, &v) < 0) {
				error_reply(s, 501, "5.5.4 Bad SIZE parameter");
				return;
			}
			m.size = (unsigned long long)v;
		} else if (strcasecmp(key, "BODY") == 0 && val) {
			m.opts.body = envelope_body_parse(val);
			if (m.opts.body == ENVELOPE_BODY_UNSET) {
				error_reply(s, 501, "5.5.4 Unsupported BODY type: %.64s", val);
				return;
			}
		} else if (strcasecmp(key, "SMTPUTF8") == 0 && val == NULL) {
			m.opts.smtputf8 = ENVELOPE_UTF8_YES;
		} else if (strcasecmp(key, "RET") == 0 && val) {
			/* RFC 3461 4.3: FULL or HDRS ("headers" is only the
			 * configuration's word). */
			if (strcasecmp(val, "headers") == 0 ||
			    envelope_ret_parse(val, &m.opts.ret) < 0) {
				error_reply(s, 501, "5.5.4 Bad RET parameter");
				return;
			}
		} else if (strcasecmp(key, "ENVID") == 0 && val) {
			if (xtext_decode(val) < 0 || envelope_set_envid(&m.opts, val) < 0) {
				error_reply(s, 501, "5.5.4 Bad ENVID parameter");
				return;
			}
		} else {
			error_reply(s, 555, "5.5.4 Unsupported option: %.64s", key);
			return;
		}
	}
	r.code = 250;
	snprintf(r.text, sizeof r.text, "2.1.0 Ok");
	if (s->p->ops->mail)
		s->p->ops->mail(s->p->ctx, &m, &r);
	reply_cb(s, &r);
	if (r.code / 100 == 2) {
		s->nrcpts = 0;
		set_state(s, LSMTP_STATE_MAIL);
	} else if (s->p->ops->reset) {
		s->p->ops->reset(s->p->ctx);
	}
}

static void
do_rcpt(struct lsmtp *s, char *arg)
{
	struct lsmtp_reply r;
	char *addr, *params, *key, *val;
	unsigned notify = 0;

	if (s->state != LSMTP_STATE_MAIL && s->state != LSMTP_STATE_RCPT) {
		error_reply(s, 503, "5.5.1 Error: need MAIL command");
		return;
	}
	if (strncasecmp(arg, "TO:", 3) != 0 || parse_path(arg + 3, &addr, &params) < 0 ||
	    *addr == '\0') {
		error_reply(s, 501, "5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	while ((key = next_param(&params, &val)) != NULL) {
		if (strcasecmp(key, "NOTIFY") == 0 && val) {
			if (envelope_notify_parse(val, &notify) < 0) {
				error_reply(s, 501, "5.5.4 Bad NOTIFY parameter");
				return;
			}
		} else if (strcasecmp(key, "ORCPT") == 0 && val) {
			/* The original recipient is for DSNs we do not generate
			 * per recipient: accepted, not kept. */
		} else {
			error_reply(s, 555, "5.5.4 Unsupported option: %.64s", key);
			return;
		}
	}
	if (s->nrcpts >= LSMTP_RCPTS_MAX) {
		reply(s, 452, "4.5.3 Error: too many recipients (at most %d per message)",
		      LSMTP_RCPTS_MAX);
		return;
	}
	r.code = 250;
	snprintf(r.text, sizeof r.text, "2.1.5 Ok");
	if (s->p->ops->rcpt)
		s->p->ops->rcpt(s->p->ctx, addr, notify, &r);
	reply_cb(s, &r);
	if (r.code / 100 == 2) {
		s->nrcpts++;
		set_state(s, LSMTP_STATE_RCPT);
	}
}

static void
do_data(struct lsmtp *s, const char *arg)
{
	if (*arg) {
		error_reply(s, 501, "5.5.4 Syntax: DATA");
		return;
	}
	if (s->state == LSMTP_STATE_IDLE) {
		error_reply(s, 503, "5.5.1 Error: need MAIL command");
		return;
	}
	if (s->state == LSMTP_STATE_MAIL) {
		/* RFC 2920 3.1: DATA behind refused RCPTs must be refused. */
		error_reply(s, 554, "5.5.1 Error: no valid recipients");
		return;
	}
	/* The DATA line shows how the client ends lines (see lsmtp.h). */
	s->lf_data = !s->line_crlf;
	reply(s, 354, "End data with %s", s->lf_data ? "<LF>.<LF>" : "<CR><LF>.<CR><LF>");
	s->body_st = BODY_BOL;
	set_state(s, LSMTP_STATE_DATA);
}

/* The end-of-data line was seen. */
static void
data_end(struct lsmtp *s)
{
	struct lsmtp_reply r;

	r.code = 451;
	snprintf(r.text, sizeof r.text, "4.3.0 Error: message not handled");
	if (s->p->ops->end)
		s->p->ops->end(s->p->ctx, &r);
	reply_cb(s, &r);
	/* Either way the transaction is over (RFC 5321 4.1.1.4). */
	s->nrcpts = 0;
	set_state(s, LSMTP_STATE_IDLE);
}

/* Is the line's verb `verb`, followed by the end or a space? *arg is
 * what follows the space. */
static int
verb_is(char *line, const char *verb, char **arg)
{
	size_t n = strlen(verb);

	if (strncasecmp(line, verb, n) != 0 || (line[n] != '\0' && line[n] != ' '))
		return 0;
	*arg = line + n + (line[n] == ' ');
	return 1;
}

static void
command(struct lsmtp *s, char *line, size_t len)
{
	char *arg;

	/* CRs before the LF; trailing spaces some clients send. */
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
		line[--len] = '\0';
	if (memchr(line, '\0', len) != NULL) {
		error_reply(s, 500, "5.5.2 Error: NUL in command");
		return;
	}
	if (verb_is(line, "EHLO", &arg))
		do_hello(s, 1, arg);
	else if (verb_is(line, "HELO", &arg))
		do_hello(s, 0, arg);
	else if (verb_is(line, "MAIL", &arg))
		do_mail(s, arg);
	else if (verb_is(line, "RCPT", &arg))
		do_rcpt(s, arg);
	else if (verb_is(line, "DATA", &arg))
		do_data(s, arg);
	else if (verb_is(line, "RSET", &arg)) {
		txn_reset(s);
		reply(s, 250, "2.0.0 Ok");
	} else if (verb_is(line, "NOOP", &arg))
		reply(s, 250, "2.0.0 Ok");
	else if (verb_is(line, "QUIT", &arg)) {
		txn_reset(s);
		reply(s, 221, "2.0.0 %s closing", s->p->hostname);
		set_state(s, LSMTP_STATE_CLOSED);
	} else if (verb_is(line, "VRFY", &arg)) {
		if (*arg == '\0')
			error_reply(s, 501, "5.5.4 Syntax: VRFY address");
		else
			reply(s, 252, "2.5.2 Cannot VRFY user, but will accept message and attempt "
			      "delivery");
	} else if (verb_is(line, "HELP", &arg))
		reply(s, 214, "2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP VRFY HELP QUIT");
	else if (verb_is(line, "STARTTLS", &arg) || verb_is(line, "AUTH", &arg) ||
	         verb_is(line, "EXPN", &arg) || verb_is(line, "BDAT", &arg) ||
	         verb_is(line, "ETRN", &arg))
		error_reply(s, 502, "5.5.1 Error: command not implemented");
	else
		error_reply(s, 502, "5.5.2 Error: command not recognized");
}

/* ------------------------------------------------------------ input */

static void
body_emit(struct lsmtp *s, const char *p, size_t n)
{
	if (n > 0 && s->p->ops->data)
		s->p->ops->data(s->p->ctx, p, n);
}

/*
 * Body bytes: hand them on with the leading dot of each line removed
 * (RFC 5321 4.5.2) until the end-of-data line, as lsmtp.h describes for
 * CRLF data (only <CR><LF>.<CR><LF> ends it; a bare LF is written as CRLF
 * and the line after it is text: no dot removed, no end) and for LF data
 * (a line ends at LF, CR or not). A held-back "." or ".\r" at the end of
 * a chunk is resolved by the next. Returns the bytes consumed (all of n,
 * or up to and including the end-of-data line).
 */
static size_t
body(struct lsmtp *s, const char *p, size_t n)
{
	size_t start = 0, i;

	for (i = 0; i < n; i++) {
		char c = p[i];

		switch (s->body_st) {
		case BODY_BOL:
			if (c == '.') {
				body_emit(s, p + start, i - start);
				start = i + 1;
				s->body_st = BODY_DOT;
				continue;
			}
			break;
		case BODY_DOT:
			if (c == '\n' && s->lf_data) {
				data_end(s);
				return i + 1;
			}
			if (c == '\n') {
				/* ".<LF>": a line "." that is text, not the end. */
				body_emit(s, ".", 1);
				s->body_st = BODY_MID;
			} else if (c == '\r') {
				start = i + 1;       /* held back */
				s->body_st = BODY_DOTCR;
				continue;
			}
			break;
		case BODY_DOTCR:
			if (c == '\n') {
				data_end(s);
				return i + 1;
			}
			/* ".\rX": the dot was stuffing, the CR is data. */
			body_emit(s, "\r", 1);
			start = i;
			s->body_st = BODY_MID;
			break;
		default:
			break;
		}
		/* Inside a line (or at the start of one, not at a dot). */
		if (c == '\n' && !s->lf_data && s->body_st != BODY_CR) {
			/* A bare LF in CRLF data: a line end, written as CRLF;
			 * what follows it is text, never a dot to remove or
			 * the end of the data (SMTP smuggling). */
			body_emit(s, p + start, i - start);
			body_emit(s, "\r\n", 2);
			start = i + 1;
			s->body_st = BODY_MID;
		} else if (c == '\n') {
			s->body_st = BODY_BOL;
		} else {
			s->body_st = c == '\r' && !s->lf_data ? BODY_CR : BODY_MID;
		}
	}
	if (s->body_st != BODY_DOTCR)
		body_emit(s, p + start, n - start);
	return n;
}

int
lsmtp_feed(struct lsmtp *s, const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && s->state != LSMTP_STATE_CLOSED && s->err.ex == 0) {
		const char *lf;
		size_t len;

		if (s->state == LSMTP_STATE_DATA) {
			i += body(s, p + i, n - i);
			continue;
		}
		lf = memchr(p + i, '\n', n - i);
		len = lf ? (size_t)(lf - (p + i)) : n - i;
		if (!s->overlong && buf_append(&s->line, p + i, len) < 0) {
			if (errno != ENOSPC) {
				err_set(&s->err, EX_OSERR, "out of memory");
				break;
			}
			s->overlong = 1;
		}
		i += len;
		if (lf == NULL)
			break;
		i++;    /* the LF */
		s->line_crlf = s->line.len > 0 && s->line.data[s->line.len - 1] == '\r';
		if (s->overlong)
			error_reply(s, 500, "5.5.2 Error: line too long (the limit is %d octets)",
			            LSMTP_LINE_MAX);
		else if (s->line.data)
			command(s, s->line.data, s->line.len);
		else {
			char empty[1] = "";
			command(s, empty, 0);
		}
		s->overlong = 0;
		buf_reset(&s->line);
	}
	if (s->err.ex) {
		set_state(s, LSMTP_STATE_CLOSED);
		return -1;
	}
	return s->state == LSMTP_STATE_CLOSED;
}

/* ------------------------------------------------------------ the -bs session */

/* One -bs session's submissions: the transaction under way, the scratch
 * file its body goes to, and what -odb leaves for the detached child. */
struct serve {
	const struct submission *base;
	const char *drop_spool;  /* non-NULL: messages go to root's maildrop */
	struct submission sub;
	int active;              /* sub holds a transaction */
	char *from;              /* owned; sub points at it */
	int notify_set;          /* a RCPT's NOTIFY is the message's */
	int fd;                  /* the body's scratch file, -1 while none */
	struct err data_err;     /* storing the body failed */
	size_t queued;           /* -odb: entries left for the detached child */
};

static void ENVOI_PRINTF(3, 4)
set_reply(struct lsmtp_reply *r, int code, const char *fmt, ...)
{
	va_list ap;

	r->code = code;
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof r->text, fmt, ap);
	va_end(ap);
}

static void
cb_reset(void *vctx)
{
	struct serve *c = vctx;

	/* A committed entry stays on disk (submit_free only lets go). */
	if (c->active)
		submit_free(&c->sub);
	c->active = 0;
	free(c->from);
	c->from = NULL;
	c->notify_set = 0;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	err_init(&c->data_err);
}

/* MAIL's RET= and ENVID= are the message's; its BODY= and SMTPUTF8 too,
 * unless the command line decided (-B, -O SMTPUTF8=). */
static void
mail_opts(struct envelope *dst, const struct envelope *m)
{
	if (m->ret != ENVELOPE_RET_UNSET)
		dst->ret = m->ret;
	if (m->envid[0])
		memcpy(dst->envid, m->envid, sizeof dst->envid);
	if (dst->body == ENVELOPE_BODY_UNSET)
		dst->body = m->body;
	if (dst->smtputf8 == ENVELOPE_UTF8_UNSET)
		dst->smtputf8 = m->smtputf8;
}

static void
cb_mail(void *vctx, const struct lsmtp_mail *m, struct lsmtp_reply *r)
{
	struct serve *c = vctx;
	struct err e;

	cb_reset(c);
	/* base owns nothing (submit_init'ed, caller fields only): a copy is
	 * a fresh submission with the session's settings. */
	c->sub = *c->base;
	c->active = 1;
	c->from = str_dup(m->from);
	if (c->from == NULL) {
		set_reply(r, 451, "4.3.0 Error: out of memory");
		return;
	}
	if (c->drop_spool) {
		/* Root's pickup chooses the sender under the account's policy;
		 * here the address only has to be one. */
		err_init(&e);
		if (addr_check(c->from, 1, &e) < 0)
			set_reply(r, 553, "5.1.7 envelope sender <%s>: %s", c->from, e.msg);
		mail_opts(&c->sub.opts, &m->opts);
		return;
	}
	c->sub.req_from = c->from;
	c->sub.extract_rcpts = 0;
	/* The body is un-stuffed already: a "." line is message text. */
	c->sub.dot_ends_input = 0;
	mail_opts(&c->sub.opts, &m->opts);
	err_init(&e);
	if (submit_sender(&c->sub, &e) < 0) {
		if (e.ex == EX_USAGE)
			set_reply(r, 553, "5.1.7 %s", e.msg);
		else
			set_reply(r, 451, "4.3.0 %s", e.msg);
	}
}

static void
cb_rcpt(void *vctx, const char *addr, unsigned notify, struct lsmtp_reply *r)
{
	struct serve *c = vctx;
	struct err e;

	err_init(&e);
	if (!c->active) {
		set_reply(r, 503, "5.5.1 Error: need MAIL command");
		return;
	}
	if (c->drop_spool) {
		/* Kept as given: aliases and qualification are root's pickup's. */
		if (drop_check_addr(addr, &e) < 0 || addr_list_add(&c->sub.rcpts, addr, &e) < 0) {
			set_reply(r, e.ex == EX_DATAERR || e.ex == EX_USAGE ? 501 : 451, "%s %s",
			          e.ex == EX_DATAERR || e.ex == EX_USAGE ? "5.1.3" : "4.3.0", e.msg);
			return;
		}
	} else if (submit_rcpt(&c->sub, addr, EX_DATAERR, &e) < 0) {
		if (e.ex == EX_DATAERR)
			set_reply(r, 501, "5.1.3 %s", e.msg);
		else
			set_reply(r, 451, "4.3.0 %s", e.msg);
		return;
	}
	/* One NOTIFY per message is what the queue keeps: the first given. */
	if (notify && !c->notify_set) {
		c->notify_set = 1;
		c->sub.opts.notify = notify;
	}
}

/* Where a body waits for the end of data: the queue's tmp/, or for a
 * maildrop user (who has no queue) an unlinked file in the temporary
 * directory, which only this process can reach. */
static int
scratch(struct serve *c, struct err *e)
{
	const char *dir;
	char path[4096];
	int fd;

	if (c->drop_spool == NULL)
		return queue_scratch(c->base->queue_dir, e);
	dir = getenv("TMPDIR");
	if (dir == NULL || *dir != '/')
		dir = "/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	snprintf(path, sizeof path, "%s/envoi-bs.XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return err_set(e, EX_TEMPFAIL, "cannot create a scratch file in %s: %s", dir,
		               strerror(errno));
	unlink(path);
	return fd;
}

static void error_to_reply(const struct err *e, struct lsmtp_reply *r);

/* The end of data for a maildrop user: the message goes to root's queue. */
static void
drop_end(struct serve *c, struct lsmtp_reply *r)
{
	struct submission *s = &c->sub;
	struct drop_opts o;
	char id[DROP_ID_MAX];
	struct err e;

	err_init(&e);
	memset(&o, 0, sizeof o);
	o.from = *c->from ? c->from : "";
	o.full_name = s->full_name;
	o.opts = s->opts;
	o.rcpts = s->rcpts.v;
	o.nrcpts = s->rcpts.n;
	if (s->rcpts.n == 0) {
		set_reply(r, 554, "5.5.1 Error: no valid recipients");
		return;
	}
	if (drop_write(c->drop_spool, &o, 0, c->fd, id, &e) < 0) {
		error_to_reply(&e, r);
		return;
	}
	log_debug(s->log, "handed to the system queue as %s", id);
	set_reply(r, 250, "2.0.0 Ok: handed to the system queue as %s", id);
}

static void
cb_data(void *vctx, const char *p, size_t n)
{
	struct serve *c = vctx;

	if (c->data_err.ex)
		return;
	if (c->fd < 0 && (c->fd = scratch(c, &c->data_err)) < 0)
		return;
	while (n > 0) {
		ssize_t w = write(c->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			err_set(&c->data_err, errno == ENOSPC || errno == EDQUOT ? EX_TEMPFAIL : EX_IOERR,
			        "cannot store the message: %s", strerror(errno));
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

/* "550 5.1.1 ..." somewhere in msg for code: its enhanced code. */
static void
find_enh(const char *msg, int code, char *enh, size_t size)
{
	char pat[8];
	const char *p = msg;

	snprintf(pat, sizeof pat, "%d ", code);
	snprintf(enh, size, "%d.0.0", code / 100);
	while ((p = strstr(p, pat)) != NULL) {
		const char *q = p + 4;
		size_t n = strspn(q, "0123456789.");
		if (n >= 5 && n < size && q[0] == pat[0] && q[1] == '.' &&
		    (q[n] == ' ' || q[n] == '\0')) {
			memcpy(enh, q, n);
			enh[n] = '\0';
			return;
		}
		p += 4;
	}
}

/* A submission or delivery error as the reply to the end of data. */
static void
error_to_reply(const struct err *e, struct lsmtp_reply *r)
{
	char enh[16];

	if (e->smtp_code >= 400 && e->smtp_code <= 599 &&
	    (e->smtp_code / 100 == 4) == (e->ex == EX_TEMPFAIL)) {
		/* The smarthost's own verdict, passed on. */
		const char *text = e->msg;
		char lead[24];
		find_enh(e->msg, e->smtp_code, enh, sizeof enh);
		/* "554 5.7.1 spam (in reply to end of data)" is said once. */
		snprintf(lead, sizeof lead, "%d %s ", e->smtp_code, enh);
		if (strncmp(text, lead, strlen(lead)) == 0)
			text += strlen(lead);
		set_reply(r, e->smtp_code, "%s %s", enh, text);
	} else if (err_is_temporary(e->ex) || e->ex == EX_IOERR || e->ex == EX_OSERR ||
	           e->ex == EX_CANTCREAT) {
		set_reply(r, 451, "4.3.0 %s", e->msg);
	} else if (e->ex == EX_DATAERR) {
		set_reply(r, 554, "5.6.0 %s", e->msg);
	} else {
		set_reply(r, 554, "5.0.0 %s", e->msg);
	}
}

/* The first attempt of -odi, and the reply that says how it went. */
static void
deliver_now(struct serve *c, struct lsmtp_reply *r)
{
	struct submission *s = &c->sub;
	struct queue_item it;
	struct err e;
	int detached = 0;
	int ret;

	err_init(&e);
	s->delivery_mode = 'i';
	ret = submit_deliver(s, &detached, &e);
	if (s->fate == RUNQ_DELIVERED) {
		if (ret == 0)
			set_reply(r, 250, "2.0.0 Ok: delivered as %s", s->q.id);
		else
			/* Some recipients have it: refusing the whole message
			 * now would make the client send it to them again. */
			set_reply(r, 250, "2.0.0 Ok: delivered as %s, but %s", s->q.id, e.msg);
		return;
	}
	if (ret < 0) {
		error_to_reply(&e, r);
		return;
	}
	/* Deferred (or picked up by a concurrent queue run): the entry
	 * records why. */
	err_init(&e);
	memset(&it, 0, sizeof it);
	if (queue_item_load(s->queue_dir, s->q.id, &it, &e) == 0 && it.last_error)
		set_reply(r, 250, "2.0.0 Ok: queued as %s (will retry: %s)", s->q.id, it.last_error);
	else
		set_reply(r, 250, "2.0.0 Ok: queued as %s", s->q.id);
	queue_item_free(&it);
}

static void
cb_end(void *vctx, struct lsmtp_reply *r)
{
	struct serve *c = vctx;
	struct submission *s = &c->sub;
	struct err e;

	err_init(&e);
	if (!c->active) {
		set_reply(r, 503, "5.5.1 Error: need MAIL command");
		return;
	}
	/* An empty body still goes to message.c, which refuses it. */
	if (c->fd < 0 && c->data_err.ex == 0)
		c->fd = scratch(c, &c->data_err);
	if (c->data_err.ex) {
		set_reply(r, 452, "4.3.1 %s", c->data_err.msg);
		goto out;
	}
	if (lseek(c->fd, 0, SEEK_SET) < 0) {
		set_reply(r, 451, "4.3.0 cannot read the stored message: %s", strerror(errno));
		goto out;
	}
	if (c->drop_spool) {
		drop_end(c, r);
		goto out;
	}
	if (submit_spool(s, c->fd, &e) < 0) {
		error_to_reply(&e, r);
		goto out;
	}
	/* Committed (fsync'd): only now may the client hear 250. */
	if (s->delivery_mode != 'i' && s->acct->queue) {
		log_event(s->log, 0, "id=%s queued (-bs -od%c) recipients=%zu size=%llu", s->q.id,
		          s->delivery_mode, s->rcpts.n, s->info.size);
		c->queued += s->delivery_mode == 'b';
		set_reply(r, 250, "2.0.0 Ok: queued as %s", s->q.id);
	} else {
		deliver_now(c, r);
	}
out:
	cb_reset(c);
}

static const struct lsmtp_ops serve_ops = { cb_mail, cb_rcpt, cb_data, cb_end, cb_reset };

static int
write_out(int fd, struct buf *b, struct err *e)
{
	size_t off = 0;

	while (off < b->len) {
		ssize_t w = write(fd, b->data + off, b->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			buf_reset(b);
			return err_set(e, EX_IOERR, "cannot write to the SMTP client: %s",
			               strerror(errno));
		}
		off += (size_t)w;
	}
	buf_reset(b);
	return 0;
}

/* -odb: the queue, in a child that outlives the session. */
static int
deliver_detached(struct serve *c, int *detached, struct err *e)
{
	const struct submission *b = c->base;
	struct runq_opts o;
	struct runq_stats st;
	int d = submit_detach(e);

	if (d != 0)
		return d > 0 ? 0 : -1;
	*detached = 1;
	memset(&o, 0, sizeof o);
	memset(&st, 0, sizeof st);
	o.only_account = b->acct->name;
	return runq_run(b->conf, b->queue_dir, &o, NULL, NULL, b->log, &st, e);
}

int
lsmtp_serve(const struct submission *base, const char *drop_spool, int in_fd, int out_fd,
            int *detached, struct err *e)
{
	struct serve c;
	struct lsmtp_params p;
	struct lsmtp s;
	char *chunk = malloc(LSMTP_CHUNK);
	int ret = 0, closed = 0;

	*detached = 0;
	if (chunk == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	memset(&c, 0, sizeof c);
	c.base = base;
	c.drop_spool = drop_spool;
	c.fd = -1;
	err_init(&c.data_err);
	memset(&p, 0, sizeof p);
	p.hostname = base->acct && base->acct->domain && *base->acct->domain ?
	             base->acct->domain : "localhost";
	p.ops = &serve_ops;
	p.ctx = &c;
	p.log = base->log;
	lsmtp_init(&s, &p);
	for (;;) {
		ssize_t n;
		int r;

		/* RFC 2920: every reply due goes out before we wait. */
		if (write_out(out_fd, lsmtp_output(&s), e) < 0) {
			ret = -1;
			break;
		}
		if (closed)
			break;
		n = read(in_fd, chunk, LSMTP_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = err_set(e, EX_IOERR, "cannot read from the SMTP client: %s",
			              strerror(errno));
			break;
		}
		if (n == 0) {
			if (lsmtp_state(&s) == LSMTP_STATE_DATA)
				log_warn(base->log, "SMTP client went away in the middle of a message; "
				         "not queued");
			lsmtp_eof(&s);
			break;
		}
		r = lsmtp_feed(&s, chunk, (size_t)n);
		if (r < 0) {
			*e = *lsmtp_error(&s);
			ret = -1;
		}
		closed = r != 0;
	}
	lsmtp_eof(&s);
	lsmtp_free(&s);
	cb_reset(&c);
	free(chunk);
	if (c.queued > 0) {
		struct err de;
		err_init(&de);
		if (deliver_detached(&c, detached, &de) < 0)
			log_warn(base->log, "%s", de.msg);
	}
	return ret;
}
