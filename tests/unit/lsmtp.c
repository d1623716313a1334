/* Unit tests for src/lsmtp.c: the -bs server engine, fed canned input
 * (whole, byte by byte, and split at every offset) with recording
 * callbacks. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "lsmtp.h"
#include "tap.h"

/* What the callbacks saw, as one text: "M<from>|", "R<addr>|", the body
 * bytes in "D[...]", "E|" at the end of data, "X|" at a reset. */
struct rec {
	struct buf log;
	struct buf body;
	int refuse_rcpt;         /* refuse recipients containing "bad" */
	int end_code;            /* reply to the end of data (0 = 250) */
	char mail_flags[192];    /* BODY, SMTPUTF8, RET, ENVID, SIZE of the last MAIL */
	char notify[32];
};

static void
r_mail(void *ctx, const struct lsmtp_mail *m, struct lsmtp_reply *r)
{
	struct rec *c = ctx;

	buf_printf(&c->log, "M<%s>|", m->from);
	snprintf(c->mail_flags, sizeof c->mail_flags, "b%d u%d r%s e%s s%llu",
	         m->opts.body == ENVELOPE_BODY_7BIT ? 7 : m->opts.body == ENVELOPE_BODY_8BITMIME ? 8 : 0,
	         m->opts.smtputf8 == ENVELOPE_UTF8_YES,
	         m->opts.ret != ENVELOPE_RET_UNSET ? envelope_ret_text(m->opts.ret) : "-",
	         m->opts.envid[0] ? m->opts.envid : "-", m->size);
	if (strstr(m->from, "refuse")) {
		r->code = 553;
		snprintf(r->text, sizeof r->text, "5.1.7 no");
	}
}

static void
r_rcpt(void *ctx, const char *addr, unsigned notify, struct lsmtp_reply *r)
{
	struct rec *c = ctx;

	buf_printf(&c->log, "R<%s>|", addr);
	if (notify)
		envelope_notify_text(notify, c->notify, sizeof c->notify);
	else
		snprintf(c->notify, sizeof c->notify, "-");
	if (c->refuse_rcpt && strstr(addr, "bad-c1")) {
		r->code = 550;
		snprintf(r->text, sizeof r->text, "5.1.1 unknown\xc2\x9b" "31m \xc3\xa9");
	} else if (c->refuse_rcpt && strstr(addr, "bad")) {
		r->code = 550;
		snprintf(r->text, sizeof r->text, "5.1.1 unknown\r\n250 injected");
	}
}

static void
r_data(void *ctx, const char *p, size_t n)
{
	struct rec *c = ctx;

	buf_append(&c->body, p, n);
}

static void
r_end(void *ctx, struct lsmtp_reply *r)
{
	struct rec *c = ctx;

	buf_printf(&c->log, "D[%s]E|", buf_cstr(&c->body));
	buf_reset(&c->body);
	r->code = c->end_code ? c->end_code : 250;
	snprintf(r->text, sizeof r->text, "%s", r->code == 250 ? "2.0.0 Ok: queued as X" :
	         "5.7.1 refused by the smarthost");
}

static void
r_reset(void *ctx)
{
	struct rec *c = ctx;

	buf_puts(&c->log, "X|");
	buf_reset(&c->body);
}

static const struct lsmtp_ops ops = { r_mail, r_rcpt, r_data, r_end, r_reset };

struct run {
	struct rec rec;
	struct lsmtp_params p;
	struct lsmtp s;
	struct buf out;          /* every reply written */
	int ret;                 /* the last lsmtp_feed result */
};

static void
run_init(struct run *r)
{
	memset(r, 0, sizeof *r);
	buf_init(&r->rec.log, 1 << 20);
	buf_init(&r->rec.body, 1 << 24);
	buf_init(&r->out, 1 << 24);
	r->p.hostname = "client.example";
	r->p.ops = &ops;
	r->p.ctx = &r->rec;
	lsmtp_init(&r->s, &r->p);
}

static void
drain(struct run *r)
{
	struct buf *o = lsmtp_output(&r->s);

	buf_append(&r->out, o->data ? o->data : "", o->len);
	buf_reset(o);
}

/* Feed in pieces of `step` bytes (0 = all at once). */
static void
feed(struct run *r, const char *in, size_t n, size_t step)
{
	size_t off = 0;

	if (step == 0)
		step = n ? n : 1;
	while (off < n && r->ret == 0) {
		size_t k = n - off < step ? n - off : step;
		r->ret = lsmtp_feed(&r->s, in + off, k);
		drain(r);
		off += k;
	}
}

static void
feeds(struct run *r, const char *in)
{
	feed(r, in, strlen(in), 0);
}

static void
run_free(struct run *r)
{
	lsmtp_free(&r->s);
	buf_free(&r->rec.log);
	buf_free(&r->rec.body);
	buf_free(&r->out);
}

/* The reply codes written, space-separated ("220 250 354 ..."). Multi-line
 * replies count once (their last line). */
static void
codes(const struct buf *out, char *dst, size_t size)
{
	const char *p = out->data ? out->data : "";
	size_t off = 0;

	dst[0] = '\0';
	while (*p) {
		const char *eol = strstr(p, "\r\n");
		if (eol == NULL)
			break;
		if (eol - p >= 4 && p[3] == ' ' && off + 5 < size)
			off += (size_t)snprintf(dst + off, size - off, "%s%.3s", off ? " " : "", p);
		p = eol + 2;
	}
}

struct case_ {
	const char *name;
	const char *in;
	const char *codes;       /* reply codes in order */
	const char *events;      /* the callbacks' record */
	int ret;                 /* lsmtp_feed's last result */
};

static const struct case_ cases[] = {
	{ "one message", "EHLO me\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"
	  "Subject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n",
	  "220 250 250 250 354 250 221", "M<a@x>|R<b@y>|D[Subject: hi\r\n\r\nbody\r\n]E|", 1 },
	{ "two messages and RSET", "HELO me\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nRSET\r\n"
	  "MAIL FROM:<>\r\nRCPT TO:<c@y>\r\nDATA\r\nx\r\n.\r\n"
	  "MAIL FROM:<d@x>\r\nRCPT TO:<e@y>\r\nDATA\r\ny\r\n.\r\nQUIT\r\n",
	  "220 250 250 250 250 250 250 354 250 250 250 354 250 221",
	  "M<a@x>|R<b@y>|X|M<>|R<c@y>|D[x\r\n]E|M<d@x>|R<e@y>|D[y\r\n]E|", 1 },
	{ "dot-unstuffing, a dot line inside, LF-only lines",
	  "MAIL FROM:<a@x>\nRCPT TO:<b@y>\nDATA\n..x\n...\n.y\nz.\n..\n.\nNOOP\n",
	  "220 250 250 354 250 250", "M<a@x>|R<b@y>|D[.x\n..\ny\nz.\n.\n]E|", 0 },
	{ "\".\\r\" that is not the end", "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"
	  ".\rx\r\n.\r\n", "220 250 250 354 250", "M<a@x>|R<b@y>|D[\rx\r\n]E|", 0 },
	{ "empty body", "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n.\r\n",
	  "220 250 250 354 250", "M<a@x>|R<b@y>|D[]E|", 0 },
	{ "sequence errors", "RCPT TO:<b@y>\r\nDATA\r\nMAIL FROM:<a@x>\r\nMAIL FROM:<a@x>\r\n"
	  "DATA\r\nRSET\r\n", "220 503 503 250 503 554 250", "M<a@x>|X|", 0 },
	{ "syntax errors", "MAIL FROM:a@x>\r\nMAIL TO:<a@x>\r\nMAIL FROM:<a@x> FOO=1\r\n"
	  "MAIL FROM:<a@x> SIZE=x\r\nEHLO\r\n\r\nXYZZY\r\nSTARTTLS\r\nDATA x\r\n",
	  "220 501 501 555 501 501 502 502 502 501", "", 0 },
	{ "lenient paths: space after the colon, no brackets, source route",
	  "MAIL FROM: <a@x>\r\nRCPT TO:b@y\r\nRCPT TO:<@r1,@r2:c@y>\r\nRCPT TO:<\"q >\"@y>\r\n",
	  "220 250 250 250 250", "M<a@x>|R<b@y>|R<c@y>|R<\"q >\"@y>|", 0 },
	{ "MAIL refused by the callback: no transaction", "MAIL FROM:<refuse@x>\r\n"
	  "RCPT TO:<b@y>\r\n", "220 553 503", "M<refuse@x>|X|", 0 },
	{ "RCPT refused: DATA needs one accepted; no text injection",
	  "MAIL FROM:<a@x>\r\nRCPT TO:<bad@y>\r\nDATA\r\n", "220 250 550 554",
	  "M<a@x>|R<bad@y>|", 0 },
	{ "VRFY, HELP, NOOP", "VRFY root\r\nVRFY\r\nHELP\r\nNOOP\r\n", "220 252 501 214 250", "", 0 },
	{ "EHLO resets a transaction", "MAIL FROM:<a@x>\r\nEHLO me\r\nRCPT TO:<b@y>\r\n",
	  "220 250 250 503", "M<a@x>|X|", 0 },
	{ "end of input in DATA abandons it", "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"
	  "partial", "220 250 250 354", "M<a@x>|R<b@y>|X|", 0 },
	{ "nothing is read after QUIT", "QUIT\r\nMAIL FROM:<a@x>\r\n", "220 221", "", 1 },
	{ "SMTP command text in the body is data", "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n"
	  "DATA\r\nQUIT\r\nRSET\r\n.\r\n", "220 250 250 354 250",
	  "M<a@x>|R<b@y>|D[QUIT\r\nRSET\r\n]E|", 0 },
	/* SMTP smuggling (issue 8 5.4): after "DATA<CR><LF>" only
	 * <CR><LF>.<CR><LF> ends the data; a bare LF is a line end made
	 * CRLF, and the line after it is text whatever it holds, so the
	 * "MAIL FROM" behind it can never become a second transaction. */
	{ "smuggling: <LF>.<LF> is text", "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"
	  "hi\n.\nMAIL FROM:<evil@x>\r\nRCPT TO:<c@y>\r\nDATA\r\nsmuggled\r\n.\r\nQUIT\r\n",
	  "220 250 250 354 250 221", "M<a@x>|R<b@y>|D[hi\r\n.\r\nMAIL FROM:<evil@x>\r\n"
	  "RCPT TO:<c@y>\r\nDATA\r\nsmuggled\r\n]E|", 1 },
	{ "smuggling: <LF>.<CR><LF> is text", "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"
	  "hi\n.\r\nMAIL FROM:<evil@x>\r\nRCPT TO:<c@y>\r\nDATA\r\nsmuggled\r\n.\r\nQUIT\r\n",
	  "220 250 250 354 250 221", "M<a@x>|R<b@y>|D[hi\r\n.\r\nMAIL FROM:<evil@x>\r\n"
	  "RCPT TO:<c@y>\r\nDATA\r\nsmuggled\r\n]E|", 1 },
	{ "smuggling: <CR><LF>.<LF> is text", "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"
	  "hi\r\n.\nMAIL FROM:<evil@x>\r\nRCPT TO:<c@y>\r\nDATA\r\nsmuggled\r\n.\r\nQUIT\r\n",
	  "220 250 250 354 250 221", "M<a@x>|R<b@y>|D[hi\r\n.\r\nMAIL FROM:<evil@x>\r\n"
	  "RCPT TO:<c@y>\r\nDATA\r\nsmuggled\r\n]E|", 1 },
	{ "smuggling: a bare LF right after DATA, and <LF><LF>.<LF>", "MAIL FROM:<a@x>\r\n"
	  "RCPT TO:<b@y>\r\nDATA\r\n\n.\n\n.\nRSET\r\n.\r\nNOOP\r\n", "220 250 250 354 250 250",
	  "M<a@x>|R<b@y>|D[\r\n.\r\n\r\n.\r\nRSET\r\n]E|", 0 },
	{ "CRLF data: bare LFs become CRLF; stuffing is undone only after CRLF",
	  "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\na\nb\r\n..c\n.d\r\n..\r\n\r\r\n.\r\n",
	  "220 250 250 354 250", "M<a@x>|R<b@y>|D[a\r\nb\r\n.c\r\n.d\r\n.\r\n\r\r\n]E|", 0 },
	{ "LF data (after \"DATA<LF>\"): <LF>.<LF> ends it", "MAIL FROM:<a@x>\r\n"
	  "RCPT TO:<b@y>\r\nDATA\nhi\n..x\n.\nNOOP\n", "220 250 250 354 250 250",
	  "M<a@x>|R<b@y>|D[hi\n.x\n]E|", 0 },
};

static void
test_cases(void)
{
	/* Whole, and split at every size (pipelined or byte by byte, the
	 * replies and the body must be the same). */
	static const size_t steps[] = { 0, 1, 2, 3, 5, 7, 13 };

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct case_ *t = &cases[i];
		for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
			struct run r;
			char got[256];

			run_init(&r);
			r.rec.refuse_rcpt = 1;
			drain(&r);
			feed(&r, t->in, strlen(t->in), steps[k]);
			if (r.ret == 0 && strstr(t->name, "end of input"))
				lsmtp_eof(&r.s);
			codes(&r.out, got, sizeof got);
			if (k == 0 || strcmp(got, t->codes) != 0) {
				is_str(got, t->codes, "%s (step %zu): reply codes", t->name, steps[k]);
			}
			if (k == 0 || strcmp(buf_cstr(&r.rec.log), t->events) != 0)
				is_str(buf_cstr(&r.rec.log), t->events, "%s (step %zu): events",
				       t->name, steps[k]);
			if (k == 0)
				is_int(r.ret, t->ret, "%s: feed result", t->name);
			run_free(&r);
		}
	}
}

static void
test_replies(void)
{
	struct run r;
	const char *out;

	run_init(&r);
	drain(&r);
	feeds(&r, "EHLO me\r\n");
	out = buf_cstr(&r.out);
	ok(strncmp(out, "220 client.example ESMTP", 24) == 0, "greeting names the domain");
	ok(strstr(out, "250-client.example\r\n") != NULL, "EHLO reply starts with the name");
	ok(strstr(out, "250-PIPELINING\r\n") && strstr(out, "250-8BITMIME\r\n") &&
	   strstr(out, "250-SMTPUTF8\r\n") && strstr(out, "250-ENHANCEDSTATUSCODES\r\n") &&
	   strstr(out, "250-SIZE\r\n") && strstr(out, "250 DSN\r\n"),
	   "EHLO offers PIPELINING 8BITMIME SMTPUTF8 ENHANCEDSTATUSCODES SIZE DSN");
	ok(strstr(out, "AUTH") == NULL && strstr(out, "STARTTLS") == NULL, "no AUTH, no STARTTLS");
	buf_reset(&r.out);
	r.rec.refuse_rcpt = 1;
	feeds(&r, "MAIL FROM:<a@x>\r\nRCPT TO:<bad@y>\r\n");
	out = buf_cstr(&r.out);
	is_str(out, "250 2.1.0 Ok\r\n550 5.1.1 unknown  250 injected\r\n",
	       "a callback's CR LF cannot add a reply line");
	buf_reset(&r.out);
	feeds(&r, "RCPT TO:<bad-c1@y>\r\n");
	out = buf_cstr(&r.out);
	is_str(out, "550 5.1.1 unknown?31m \xc3\xa9\r\n",
	       "a C1 control in a callback's text is shown as ?, UTF-8 text kept");
	run_free(&r);

	/* Found by tests/fuzz/lsmtp.c: the client's own bytes echoed in a
	 * diagnostic ("Unsupported option: SIZ^C") are made safe too. */
	run_init(&r);
	drain(&r);
	buf_reset(&r.out);
	feeds(&r, "MAIL FROM:<a@x> SIZ\x03\x1b[2J\xc2\x9b=1\r\n");
	is_str(buf_cstr(&r.out), "555 5.5.4 Unsupported option: SIZ  [2J?\r\n",
	       "fuzz: control bytes the client sent are not echoed in a reply");
	/* Found by tests/fuzz/lsmtp.c: a CR inside a path reached the
	 * callbacks as part of the address. */
	buf_reset(&r.out);
	buf_reset(&r.rec.log);
	feeds(&r, "MAIL FROM:\x03\nMAIL FROM:<a@x>\r\nRCPT TO:<\r>\nRCPT TO:<b\x7f@y>\r\n");
	{
		char got[64];
		codes(&r.out, got, sizeof got);
		is_str(got, "501 250 501 501", "fuzz: a control byte in a path is a syntax error");
	}
	is_str(buf_cstr(&r.rec.log), "M<a@x>|", "... and never reaches the callbacks");
	run_free(&r);

	/* MAIL parameters reach the callback decoded. */
	run_init(&r);
	feeds(&r, "MAIL FROM:<a@x> BODY=8BITMIME SMTPUTF8 RET=hdrs ENVID=a+2Bb SIZE=42\r\n"
	     "RCPT TO:<b@y> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@y\r\n");
	is_str(r.rec.mail_flags, "b8 u1 rHDRS ea+b s42", "MAIL parameters: BODY SMTPUTF8 RET ENVID SIZE");
	is_str(r.rec.notify, "SUCCESS,FAILURE", "RCPT NOTIFY passed on, ORCPT accepted");
	buf_reset(&r.out);
	feeds(&r, "RSET\r\nMAIL FROM:<a@x> ENVID=a+zz\r\nMAIL FROM:<a@x> BODY=BINARYMIME\r\n"
	     "MAIL FROM:<a@x>\r\nRCPT TO:<b@y> NOTIFY=SOMETIMES\r\n");
	{
		char got[64];
		codes(&r.out, got, sizeof got);
		is_str(got, "250 501 501 250 501", "bad ENVID xtext, BODY, NOTIFY: 501");
	}
	run_free(&r);

	/* 354 says which end of data this DATA line asked for. */
	run_init(&r);
	feeds(&r, "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n");
	ok(strstr(buf_cstr(&r.out), "354 End data with <CR><LF>.<CR><LF>\r\n") != NULL,
	   "DATA<CR><LF>: 354 asks for <CR><LF>.<CR><LF>");
	feeds(&r, ".\r\nMAIL FROM:<a@x>\nRCPT TO:<b@y>\nDATA\n");
	ok(strstr(buf_cstr(&r.out), "354 End data with <LF>.<LF>\r\n") != NULL,
	   "DATA<LF>: 354 asks for <LF>.<LF>");
	run_free(&r);

	/* The end-of-data reply is the callback's (a refusal passed on). */
	run_init(&r);
	r.rec.end_code = 554;
	feeds(&r, "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\nx\r\n.\r\n");
	ok(strstr(buf_cstr(&r.out), "\r\n554 5.7.1 refused by the smarthost\r\n") != NULL,
	   "end of data: the callback's refusal");
	is_int(lsmtp_state(&r.s), LSMTP_STATE_IDLE, "... and the transaction is over");
	run_free(&r);
}

static void
test_limits(void)
{
	struct run r;
	struct buf in;
	char got[512];

	/* A command line over the limit: 500, skipped whole, nothing cut. */
	run_init(&r);
	buf_init(&in, 1 << 20);
	buf_puts(&in, "MAIL FROM:<");
	for (int i = 0; i < LSMTP_LINE_MAX; i++)
		buf_putc(&in, 'a');
	buf_puts(&in, "@x>\r\nNOOP\r\n");
	feed(&r, in.data, in.len, 100);
	codes(&r.out, got, sizeof got);
	is_str(got, "220 500 250", "an overlong line: 500, then the next command works");
	is_str(buf_cstr(&r.rec.log), "", "... and no part of it is taken as MAIL");
	run_free(&r);
	buf_reset(&in);

	/* Exactly at the limit (CRLF included) is fine. */
	run_init(&r);
	buf_puts(&in, "VRFY ");
	while (in.len < LSMTP_LINE_MAX - 2)
		buf_putc(&in, 'v');
	buf_puts(&in, "\r\n");
	feed(&r, in.data, in.len, 0);
	codes(&r.out, got, sizeof got);
	is_str(got, "220 252", "a line of exactly LSMTP_LINE_MAX octets is taken");
	run_free(&r);
	buf_reset(&in);

	/* Recipients per message. */
	run_init(&r);
	buf_puts(&in, "MAIL FROM:<a@x>\r\n");
	for (int i = 0; i <= LSMTP_RCPTS_MAX; i++)
		buf_printf(&in, "RCPT TO:<r%d@y>\r\n", i);
	feed(&r, in.data, in.len, 0);
	ok(strstr(buf_cstr(&r.out), "452 4.5.3") != NULL, "recipient %d: 452", LSMTP_RCPTS_MAX + 1);
	is_int(r.s.nrcpts, LSMTP_RCPTS_MAX, "... %d accepted", LSMTP_RCPTS_MAX);
	run_free(&r);
	buf_reset(&in);

	/* Errors per session: 421 and closed. */
	run_init(&r);
	for (int i = 0; i < LSMTP_ERRORS_MAX + 5; i++)
		buf_puts(&in, "BOGUS\r\n");
	feed(&r, in.data, in.len, 0);
	ok(strstr(buf_cstr(&r.out), "421 4.7.0") != NULL, "%d errors: 421", LSMTP_ERRORS_MAX);
	is_int(r.ret, 1, "... and the session is closed");
	is_int(lsmtp_state(&r.s), LSMTP_STATE_CLOSED, "... state CLOSED");
	run_free(&r);
	buf_reset(&in);

	/* A big body passes through without being held: the engine's own
	 * buffers stay small. */
	run_init(&r);
	buf_puts(&in, "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n");
	for (int i = 0; i < 20000; i++)
		buf_puts(&in, ".dotted line of body text\r\n");
	buf_puts(&in, ".\r\nQUIT\r\n");
	feed(&r, in.data, in.len, 4093);
	is_int(r.ret, 1, "big body, then QUIT");
	ok(strstr(buf_cstr(&r.rec.log), "D[dotted line") != NULL, "big body un-stuffed");
	ok(r.s.line.cap <= LSMTP_LINE_MAX, "the line buffer stayed within the line limit (%zu)",
	   r.s.line.cap);
	run_free(&r);
	buf_free(&in);
}

int
main(void)
{
	test_cases();
	test_replies();
	test_limits();
	return done_testing();
}
