/*
 * Fuzz target: the SMTP client engine (smtp.h) with the real SASL glue
 * (sasl.h) behind its AUTH callbacks, fed arbitrary server replies.
 * Input: four option bytes (TLS mode, AUTH and its mechanism, single or
 * multi mode and what to do when READY, the message's options), then the
 * server's replies, lines separated by '\n'; one reply is read whenever
 * the engine waits for one, and the end of input is the server closing.
 * Checks: every byte the engine queues is a CRLF command line without
 * other control bytes and within SMTP_CMD_MAX; nothing after QUIT; no AUTH
 * (nor MAIL) before the TLS handshake when the account requires TLS; the
 * engine ends in DONE or FAIL with an error set when it fails.
 */
#include "fuzz.h"

#include <gsasl.h>

#include "envelope.h"
#include "reply.h"
#include "sasl.h"
#include "smtp.h"

static const char *const mechs[] = {
	"on", "PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256", "SCRAM-SHA-1",
	"SCRAM-SHA-256-PLUS", "XOAUTH2", "OAUTHBEARER", "EXTERNAL",
};

struct run {
	struct smtp s;
	struct sasl *sasl;
	const char *mech;
	int cleartext_ok;
	int tls_up;          /* the handshake is done (or implicit TLS) */
	int tls_required;
	int quit_seen;
	char nonce[128];     /* SCRAM: the client's nonce, for "334 @..." */
	struct fuzz_in in;
};

static int
a_start(void *ctx, const char *server_mechs, const char **mech, char **initial,
        struct err *e)
{
	struct run *r = ctx;
	static const unsigned char cb[32] = { 1, 2, 3 };
	struct sasl_params p;

	FUZZ_CHECK(!r->tls_required || r->tls_up, "AUTH started before TLS");
	memset(&p, 0, sizeof p);
	p.configured = r->mech;
	p.server_mechs = server_mechs;
	p.user = "user@example.org";
	p.secret = "pencil";
	p.host = "mail.example.org";
	p.port = 587;
	p.tls_active = r->tls_up;
	p.cleartext_ok = r->cleartext_ok;
	if (r->tls_up) {
		p.cb_type = "tls-exporter";
		p.cb_data = cb;
		p.cb_len = sizeof cb;
	}
	sasl_free(r->sasl);
	r->sasl = NULL;
	if (sasl_start(&r->sasl, &p, mech, initial, e) < 0)
		return -1;
	r->nonce[0] = '\0';
	if (*initial && strncmp(*mech, "SCRAM", 5) == 0) {
		char *raw = NULL;
		size_t len = 0;
		if (gsasl_base64_from(*initial, strlen(*initial), &raw, &len) == GSASL_OK && raw) {
			/* raw is not NUL-terminated */
			const char *n = memmem(raw, len, ",r=", 3), *end = raw + len;
			if (n) {
				const char *c = memchr(n + 3, ',', (size_t)(end - n - 3));
				int k = (int)((c ? c : end) - (n + 3));
				snprintf(r->nonce, sizeof r->nonce, "%.*s", k, n + 3);
			}
			gsasl_free(raw);
		}
	}
	return 0;
}

/* "334 @TEXT" stands for a SCRAM server-first message "r=NONCE" + TEXT,
 * NONCE being the client's (from its initial response), so that the
 * fuzzer reaches SCRAM's later steps without guessing a random nonce.
 * Iteration counts over 20000 are skipped: each costs real CPU time. */
static int
a_step(void *ctx, const char *challenge, char **response, struct err *e)
{
	struct run *r = ctx;
	char *raw = NULL, *b64 = NULL;
	size_t len;
	int rc;

	FUZZ_CHECK(r->sasl != NULL, "step without start");
	if (challenge[0] != '@' || r->nonce[0] == '\0')
		return sasl_step(r->sasl, challenge, response, e);
	const char *it = strstr(challenge, "i=");
	if (it && strspn(it + 2, "0123456789") > 4)
		return err_set(e, EX_PROTOCOL, "fuzz: iteration count skipped");
	len = strlen(r->nonce) + strlen(challenge) + 2;
	raw = malloc(len);
	if (raw == NULL)
		abort();
	snprintf(raw, len, "r=%s%s", r->nonce, challenge + 1);
	if (gsasl_base64_to(raw, strlen(raw), &b64, &len) != GSASL_OK)
		abort();
	rc = sasl_step(r->sasl, b64, response, e);
	free(raw);
	gsasl_free(b64);
	return rc;
}

static int
a_finish(void *ctx, struct err *e)
{
	struct run *r = ctx;
	int rc = sasl_finish(r->sasl, e);

	sasl_free(r->sasl);
	r->sasl = NULL;
	return rc;
}

static const struct smtp_auth_ops auth_ops = { a_start, a_step, a_finish, NULL };

/* What the engine queued: CRLF lines, no command after QUIT, nothing
 * but EHLO/HELO/STARTTLS/QUIT before TLS when TLS is required. */
static void
check_output(struct run *r)
{
	struct buf *o = smtp_output(&r->s);
	const char *p = o->data ? o->data : "";
	size_t n = o->len;

	FUZZ_CHECK(n == 0 || !r->quit_seen, "%zu bytes after QUIT: %.*s", n, (int)n, p);
	while (n > 0) {
		const char *lf = memchr(p, '\n', n);
		size_t len;

		FUZZ_CHECK(lf != NULL, "output without a line end");
		len = (size_t)(lf - p) + 1;
		FUZZ_CHECK(len >= 2 && p[len - 2] == '\r', "command not ending in CRLF");
		FUZZ_CHECK(len <= SMTP_CMD_MAX, "command of %zu octets", len);
		for (size_t i = 0; i + 2 < len; i++)
			FUZZ_CHECK((unsigned char)p[i] >= 0x20 && p[i] != 0x7f,
			    "control byte in a command: %.*s", (int)len, p);
		FUZZ_CHECK(!r->quit_seen, "command after QUIT: %.*s", (int)len, p);
		if (r->tls_required && !r->tls_up)
			FUZZ_CHECK(strncmp(p, "EHLO ", 5) == 0 || strncmp(p, "HELO ", 5) == 0 ||
			    strncmp(p, "STARTTLS\r", 9) == 0 || strncmp(p, "QUIT\r", 5) == 0,
			    "before TLS: %.*s", (int)len, p);
		if (len == 6 && memcmp(p, "QUIT\r\n", 6) == 0)
			r->quit_seen = 1;
		p += len;
		n -= len;
	}
	buf_reset(o);
}

/* The next complete reply from the input; 0 when the server is gone
 * (end of input, or a line reply.c refuses, which ends a session too). */
static int
next_reply(struct run *r, struct reply *rp)
{
	struct err e;

	reply_reset(rp);
	while (r->in.n > 0) {
		size_t len;
		const char *line = fuzz_field(&r->in, '\n', &len);
		int rc;

		err_init(&e);
		rc = reply_feed(rp, line, len, &e);
		if (rc < 0)
			return 0;
		if (rc == 1)
			return 1;
	}
	return 0;
}

/* smtp_send_ahead and its chunks; SMTP_READ again for the transaction
 * whose replies are due, unless the engine failed. */
static enum smtp_action
send_ahead(struct run *r, const struct smtp_msg *m, int last)
{
	enum smtp_action act = smtp_send_ahead(&r->s, m, last);
	unsigned long long off, len;

	while (act == SMTP_CHUNK) {
		check_output(r);
		FUZZ_CHECK(smtp_chunk(&r->s, &off, &len) == 0 && off + len <= m->size,
		           "chunk sent ahead outside the body");
		act = smtp_chunk_done(&r->s);
	}
	check_output(r);
	if (act == SMTP_FAIL || act == SMTP_DONE)
		return act;
	FUZZ_CHECK(act == SMTP_SEND, "send ahead ended in action %d", (int)act);
	return SMTP_READ;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct smtp_addr rcpts[3] = {
		{ "bob@example.com", "bob@example.com" },
		{ "j\xc3\xb6rg@b\xc3\xbc" "cher.example", NULL },
		{ "carol@b\xc3\xbc" "cher.example", "carol@xn--bcher-kva.example" },
	};
	struct run r;
	struct smtp_params p;
	struct smtp_msg m;
	struct reply rp;
	unsigned o1, o2, o3, o4, msgs = 0;
	enum smtp_action act;
	int window;

	memset(&r, 0, sizeof r);
	r.in.p = data;
	r.in.n = size;
	o1 = fuzz_byte(&r.in);
	o2 = fuzz_byte(&r.in);
	o3 = fuzz_byte(&r.in);
	o4 = fuzz_byte(&r.in);
	memset(&p, 0, sizeof p);
	p.multi = o3 & 1;
	p.helo = "client.example.org";
	p.host = "mail.example.org";
	p.tls = (o1 & 3) == 3 ? SMTP_TLS_NONE : (enum smtp_tls)(o1 & 3);
	p.tls_verified = (o1 >> 2) & 1;
	p.auth = (o1 >> 3) & 1;
	p.chunking = (o1 >> 4) & 1;     /* BDAT when the replies offer CHUNKING */
	window = (o1 >> 5) & 1;         /* send later messages ahead when allowed */
	p.auth_ops = &auth_ops;
	p.auth_ctx = &r;
	r.mech = mechs[(o2 & 0x0f) % (sizeof mechs / sizeof mechs[0])];
	r.cleartext_ok = (o2 >> 4) & 1;
	r.tls_required = p.tls != SMTP_TLS_NONE;
	r.tls_up = p.tls == SMTP_TLS_IMPLICIT;         /* implicit TLS: up before the greeting */
	memset(&m, 0, sizeof m);
	m.from.utf8 = o3 & 2 ? "" : "alice@example.org";
	m.from.ascii = m.from.utf8;
	m.rcpts = rcpts + ((o3 >> 2) & 1);
	m.nrcpts = 1 + ((o3 >> 3) & 1);
	m.size = o4 & 1 ? 123456789 : 1234;
	m.has_8bit = (o4 >> 1) & 1;
	envelope_init(&m.opts);
	m.opts.notify = (o4 >> 2) & 0x0f;
	if (m.opts.notify & ENVELOPE_NOTIFY_NEVER)
		m.opts.notify = ENVELOPE_NOTIFY_NEVER;
	m.opts.ret = (enum envelope_ret)((o4 >> 6) % 3);
	m.opts.smtputf8 = (enum envelope_utf8)((o3 >> 4) % 3);
	m.opts.requiretls = (o3 >> 6) & 1;
	if (o3 & 0x80)
		envelope_set_envid(&m.opts, "id+1=2");
	p.msg = m;
	smtp_init(&r.s, &p);
	reply_init(&rp);
	act = smtp_start(&r.s);
	for (int steps = 0; steps < 400; steps++) {
		check_output(&r);
		if (act == SMTP_DONE || act == SMTP_FAIL)
			break;
		if (act == SMTP_SEND || act == SMTP_READ) {
			/* The window: later messages sent ahead while this
			 * one's replies are due (smtp_send_ahead). */
			if (window && act == SMTP_READ && msgs < 3 && smtp_window_room(&r.s, &m)) {
				act = send_ahead(&r, &m, ++msgs >= 3);
				continue;
			}
			if (!next_reply(&r, &rp))
				break;
			act = smtp_on_reply(&r.s, &rp);
		} else if (act == SMTP_STARTTLS) {
			r.tls_up = 1;
			act = smtp_tls_done(&r.s);
		} else if (act == SMTP_BODY) {
			act = p.multi && (o2 & 0x20) && msgs < 3 ?
			    smtp_body_done_next(&r.s, &m) : smtp_body_done(&r.s);
		} else if (act == SMTP_CHUNK) {
			unsigned long long off, len;
			FUZZ_CHECK(smtp_chunk(&r.s, &off, &len) == 0 && off + len <= m.size,
			           "chunk outside the body");
			act = smtp_chunk_done(&r.s);
		} else if (act == SMTP_READY) {
			FUZZ_CHECK(p.multi, "READY in single mode");
			if (smtp_ahead(&r.s) > 0) {
				act = smtp_next_ahead(&r.s);
			} else if (smtp_next_in_flight(&r.s)) {
				act = smtp_next_message(&r.s, &m, ++msgs >= 3);
			} else if (msgs >= 3 || (o2 & 0xc0) == 0xc0) {
				act = smtp_finish(&r.s);
			} else if ((o2 & 0xc0) == 0x40 && msgs == 0) {
				msgs++;
				act = smtp_verify(&r.s, &m);
			} else if ((o2 & 0xc0) == 0x80 && msgs == 0) {
				msgs++;
				act = smtp_etrn(&r.s, "@example.org");
			} else {
				act = smtp_next_message(&r.s, &m, ++msgs >= 3);
			}
		} else {
			FUZZ_CHECK(0, "unknown action %d", (int)act);
		}
	}
	if (act == SMTP_FAIL)
		FUZZ_CHECK(smtp_error(&r.s)->ex != 0, "FAIL without an error");
	if (act == SMTP_DONE || act == SMTP_FAIL) {
		/* Asking again queues nothing new. */
		act = p.multi ? smtp_finish(&r.s) : act;
		check_output(&r);
	}
	reply_free(&rp);
	sasl_free(r.sasl);
	smtp_free(&r.s);
	return 0;
}
