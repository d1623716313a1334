/*
 * Fuzz target: dot-stuffing (message.c's dotstuff_run, which puts the
 * spool on the wire) against un-stuffing (lsmtp.c's DATA reader, which
 * takes a message off the wire): the two must be inverses.
 * Input: one option byte (chunk sizes), then text made into spool form
 * (CRLF lines, no other CR or LF, as message_read writes it).
 * Checks: stuffing it in chunks, then feeding "DATA", the stuffed bytes
 * and ".\r\n" to the -bs engine in other chunks gives back exactly the
 * spool bytes, with one end of data and no reply but 250/354.
 */
#include "fuzz.h"

#include "buf.h"
#include "lsmtp.h"
#include "message.h"

struct got {
	struct buf body;
	int ends;
};

static void
g_mail(void *ctx, const struct lsmtp_mail *m, struct lsmtp_reply *r)
{
}

static void
g_rcpt(void *ctx, const char *addr, unsigned notify, struct lsmtp_reply *r)
{
}

static void
g_data(void *ctx, const char *p, size_t n)
{
	struct got *g = ctx;

	FUZZ_CHECK(buf_append(&g->body, p, n) == 0, "body buffer");
}

static void
g_end(void *ctx, struct lsmtp_reply *r)
{
	struct got *g = ctx;

	g->ends++;
	r->code = 250;
	snprintf(r->text, sizeof r->text, "2.0.0 Ok");
}

static void
g_reset(void *ctx)
{
}

static const struct lsmtp_ops ops = { g_mail, g_rcpt, g_data, g_end, g_reset };

static unsigned
next_len(unsigned *seed, unsigned opt)
{
	*seed = *seed * 1103515245u + 12345u;
	return (opt & 0x0f) == 0 ? 1u << 20 : 1 + (*seed >> 16) % ((opt & 0x0f) * 3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	unsigned opt = fuzz_byte(&in), seed = opt + 1;
	struct buf spool, wire;
	struct dotstuff d;
	struct got g;
	struct lsmtp_params p = { "fuzz.example", &ops, &g, NULL };
	struct lsmtp s;
	char *tmp;
	size_t off;
	static const char head[] = "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n";

	/* Spool form: every LF becomes CRLF, other CRs are dropped. */
	buf_init(&spool, 4 * size + 4);
	for (size_t i = 0; i < in.n; i++)
		if (in.p[i] == '\n')
			buf_append(&spool, "\r\n", 2);
		else if (in.p[i] != '\r')
			buf_putc(&spool, (char)in.p[i]);
	if (spool.len > 0 && spool.data[spool.len - 1] != '\n')
		buf_append(&spool, "\r\n", 2);

	buf_init(&wire, 8 * size + 64);
	buf_append(&wire, head, sizeof head - 1);
	tmp = malloc(2 * spool.len + 8);
	dotstuff_init(&d);
	for (off = 0; off < spool.len;) {
		size_t k = next_len(&seed, opt >> 4);
		if (k > spool.len - off)
			k = spool.len - off;
		size_t w = dotstuff_run(&d, spool.data + off, k, tmp);
		FUZZ_CHECK(w <= 2 * k, "stuffer wrote %zu for %zu", w, k);
		buf_append(&wire, tmp, w);
		off += k;
	}
	FUZZ_CHECK(dotstuff_finish(&d, tmp) == 0, "finish added bytes to CRLF data");
	buf_append(&wire, ".\r\n", 3);
	free(tmp);

	memset(&g, 0, sizeof g);
	buf_init(&g.body, 4 * size + 4);
	lsmtp_init(&s, &p);
	for (off = 0; off < wire.len;) {
		size_t k = next_len(&seed, opt);
		if (k > wire.len - off)
			k = wire.len - off;
		FUZZ_CHECK(lsmtp_feed(&s, wire.data + off, k) == 0, "engine stopped");
		off += k;
	}
	{
		const struct buf *o = lsmtp_output(&s);
		const char *t = o->data ? o->data : "";
		for (const char *l = t; *l; l = strchr(l, '\n') + 1)
			FUZZ_CHECK(l[0] == '2' || l[0] == '3', "refused: %s", l);
	}
	FUZZ_CHECK(g.ends == 1, "%d ends of data", g.ends);
	FUZZ_CHECK(g.body.len == spool.len && memcmp(buf_cstr(&g.body), buf_cstr(&spool),
	    spool.len) == 0, "round trip changed the message (%zu -> %zu octets)", spool.len,
	    g.body.len);
	lsmtp_free(&s);
	buf_free(&g.body);
	buf_free(&wire);
	buf_free(&spool);
	return 0;
}
