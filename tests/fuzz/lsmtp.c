/*
 * Fuzz target: the -bs server engine (lsmtp.h) fed an arbitrary session
 * in arbitrary chunks. Input: one option byte (how to cut the input into
 * chunks, whether the callbacks refuse), then the bytes the client sends.
 * Checks: everything the engine writes is a sequence of valid SMTP
 * replies (three digits 200-599, ' ' or '-', the same code on every line
 * of a reply, printable text, CRLF, at most 512 octets a line); nothing
 * is written after the session closed; the body handed on is at most
 * twice the input (bare LFs become CRLF); a transaction's data arrives
 * only between MAIL and the end of data.
 */
#include "fuzz.h"

#include "buf.h"
#include "lsmtp.h"

struct ctx {
	unsigned opt;
	int in_txn;          /* MAIL accepted, no end or reset since */
	size_t body;
};

static void
c_mail(void *vc, const struct lsmtp_mail *m, struct lsmtp_reply *r)
{
	struct ctx *c = vc;

	FUZZ_CHECK(m->from != NULL, "no from");
	if (c->opt & 0x10) {
		r->code = 553;
		snprintf(r->text, sizeof r->text, "5.1.7 refused\r\n250 injected\x1b[31m");
		return;
	}
	c->in_txn = 1;
}

static void
c_rcpt(void *vc, const char *addr, unsigned notify, struct lsmtp_reply *r)
{
	struct ctx *c = vc;

	FUZZ_CHECK(c->in_txn, "RCPT callback outside a transaction");
	FUZZ_CHECK(strpbrk(addr, "\r\n") == NULL, "line break in a recipient");
	if ((c->opt & 0x20) && strchr(addr, 'x')) {
		r->code = 550;
		snprintf(r->text, sizeof r->text, "5.1.1 unknown\n\xc2\x9bme");
	}
}

static void
c_data(void *vc, const char *p, size_t n)
{
	struct ctx *c = vc;

	FUZZ_CHECK(c->in_txn, "data outside a transaction");
	c->body += n;
}

static void
c_end(void *vc, struct lsmtp_reply *r)
{
	struct ctx *c = vc;

	FUZZ_CHECK(c->in_txn, "end of data outside a transaction");
	if (c->opt & 0x40) {
		r->code = 554;
		snprintf(r->text, sizeof r->text, "5.7.1 %s", "smarthost said: \"no\"\r\n.");
	} else {
		r->code = 250;
		snprintf(r->text, sizeof r->text, "2.0.0 Ok: queued as X");
	}
	c->in_txn = 0;
}

static void
c_reset(void *vc)
{
	struct ctx *c = vc;

	c->in_txn = 0;
}

static const struct lsmtp_ops ops = { c_mail, c_rcpt, c_data, c_end, c_reset };

/* Every byte of out must be complete, valid reply lines. */
static void
check_replies(const char *p, size_t n)
{
	int code = 0;          /* of the reply under way, 0 between replies */

	while (n > 0) {
		const char *lf = memchr(p, '\n', n);
		size_t len;

		FUZZ_CHECK(lf != NULL, "reply without a line end: %.*s", (int)n, p);
		len = (size_t)(lf - p) + 1;
		FUZZ_CHECK(len >= 5 && p[len - 2] == '\r', "not CRLF: %.*s", (int)len, p);
		FUZZ_CHECK(len <= 512, "reply line of %zu octets", len);
		FUZZ_CHECK(p[0] >= '2' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9' &&
		    p[2] >= '0' && p[2] <= '9', "bad code: %.*s", (int)len, p);
		FUZZ_CHECK(len == 5 || p[3] == ' ' || p[3] == '-', "bad separator: %.*s", (int)len, p);
		int c = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
		FUZZ_CHECK(code == 0 || code == c, "code changed in a reply: %.*s", (int)len, p);
		for (size_t i = 4; i + 2 < len; i++)
			FUZZ_CHECK((unsigned char)p[i] >= 0x20 && p[i] != 0x7f,
			    "control byte 0x%02x in a reply: %.*s", (unsigned char)p[i], (int)len, p);
		code = len > 5 && p[3] == '-' ? c : 0;
		p += len;
		n -= len;
	}
	FUZZ_CHECK(code == 0, "output ends inside a multi-line reply");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct ctx c = { 0 };
	struct lsmtp_params p = { "fuzz.example", &ops, &c, NULL };
	struct lsmtp s;
	unsigned seed;
	int rc = 0;

	c.opt = fuzz_byte(&in);
	seed = c.opt * 2654435761u + 1;
	lsmtp_init(&s, &p);
	while (in.n > 0 && rc == 0) {
		/* Chunk lengths 1..16, or the whole rest, as the option says. */
		size_t k = (c.opt & 0x0f) == 0 ? in.n : 1 + (seed >> 16) % (c.opt & 0x0f);

		seed = seed * 1103515245u + 12345u;
		if (k > in.n)
			k = in.n;
		rc = lsmtp_feed(&s, (const char *)in.p, k);
		in.p += k;
		in.n -= k;
		struct buf *o = lsmtp_output(&s);
		check_replies(o->data ? o->data : "", o->len);
		buf_reset(o);
		FUZZ_CHECK(rc >= -1 && rc <= 1, "rc %d", rc);
	}
	if (rc == 0)
		lsmtp_eof(&s);
	if (rc != 0) {
		FUZZ_CHECK(lsmtp_state(&s) == LSMTP_STATE_CLOSED, "returned %d, state %s", rc,
		    lsmtp_state_name(lsmtp_state(&s)));
		/* Closed: feeding more must add nothing. */
		rc = lsmtp_feed(&s, "NOOP\r\n", 6);
		FUZZ_CHECK(lsmtp_output(&s)->len == 0, "output after the session closed");
	}
	check_replies(lsmtp_output(&s)->data ? lsmtp_output(&s)->data : "",
	    lsmtp_output(&s)->len);
	/* A bare LF line end is stored as CRLF: at most twice the input. */
	FUZZ_CHECK(c.body <= 2 * size, "more body than input");
	lsmtp_free(&s);
	return 0;
}
