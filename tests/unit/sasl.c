/*
 * Unit tests for src/sasl.c: mechanism choice, the TLS rule, and complete
 * exchanges against libgsasl's own server side as the peer (a real SASL
 * implementation, not a mock), including SCRAM-PLUS with channel binding,
 * plus byte-exact checks of the two OAuth formats envoi builds itself.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <gsasl.h>

#include "sasl.h"
#include "tap.h"

/* What the server side knows. */
struct peer {
	const char *password;
	const char *cb_b64;        /* the server's view of the channel binding */
};

static int
server_cb(Gsasl *ctx, Gsasl_session *sctx, Gsasl_property prop)
{
	struct peer *p = gsasl_callback_hook_get(ctx);

	switch (prop) {
	case GSASL_PASSWORD:
		return gsasl_property_set(sctx, GSASL_PASSWORD, p->password);
	case GSASL_CB_TLS_UNIQUE:
	case GSASL_CB_TLS_EXPORTER:
		if (p->cb_b64 == NULL)
			return GSASL_NO_CALLBACK;
		return gsasl_property_set(sctx, prop, p->cb_b64);
	case GSASL_VALIDATE_EXTERNAL:
		return GSASL_OK;
	default:
		return GSASL_NO_CALLBACK;
	}
}

/* The fake channel binding both ends see (or not). */
static const unsigned char cb_a[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char cb_b[32] = "fedcba9876543210fedcba9876543210";

enum outcome { OK_AUTH, SERVER_REJECTS, START_FAILS, STEP_FAILS };

/*
 * Run one whole exchange as SMTP would: AUTH with the initial response,
 * 334 challenges answered by sasl_step, and on the server's success any
 * final server data delivered as one more 334 before 235 (sasl_finish).
 */
static enum outcome
exchange(const struct sasl_params *sp, const char *server_pw, const char *server_cb_b64,
    const char **mech_out, struct err *e)
{
	struct peer peer = { server_pw, server_cb_b64 };
	struct sasl *s = NULL;
	const char *mech = NULL;
	char *initial = NULL, *client = NULL, *chal = NULL;
	Gsasl *ctx;
	Gsasl_session *srv = NULL;
	enum outcome out = SERVER_REJECTS;
	int rc, rounds = 0;

	err_init(e);
	*mech_out = NULL;
	if (sasl_start(&s, sp, &mech, &initial, e) < 0)
		return START_FAILS;
	*mech_out = mech;
	if (gsasl_init(&ctx) != GSASL_OK) {
		sasl_free(s);
		return SERVER_REJECTS;
	}
	gsasl_callback_set(ctx, server_cb);
	gsasl_callback_hook_set(ctx, &peer);
	if (gsasl_server_start(ctx, mech, &srv) != GSASL_OK)
		goto done;
	/* "=" is the empty initial response (RFC 4954). */
	client = initial;
	if (client && strcmp(client, "=") == 0)
		client[0] = '\0';
	for (;;) {
		if (++rounds > 10)
			goto done;
		chal = NULL;
		rc = gsasl_step64(srv, client ? client : "", &chal);
		sasl_response_free(client);
		client = NULL;
		if (rc == GSASL_OK) {
			if (chal && *chal) {
				if (sasl_step(s, chal, &client, e) < 0) {
					out = STEP_FAILS;
					goto done;
				}
				if (*client != '\0')
					goto done;      /* must be an empty line */
			}
			out = sasl_finish(s, e) == 0 ? OK_AUTH : STEP_FAILS;
			goto done;
		}
		if (rc != GSASL_NEEDS_MORE)
			goto done;
		if (sasl_step(s, chal, &client, e) < 0) {
			out = STEP_FAILS;
			goto done;
		}
		gsasl_free(chal);
	}
done:
	gsasl_free(chal);
	sasl_response_free(client);
	if (srv)
		gsasl_finish(srv);
	gsasl_done(ctx);
	sasl_free(s);
	return out;
}

static void
test_exchanges(void)
{
	static const struct {
		const char *name;
		const char *configured, *offered;
		int tls, cleartext_ok;
		const unsigned char *cb_client;
		const char *cb_type;
		const char *server_pw;
		const unsigned char *cb_server;
		enum outcome want;
		const char *want_mech;
		int want_ex;               /* for START_FAILS / STEP_FAILS */
	} cases[] = {
		{ "on picks PLAIN over LOGIN", "on", "LOGIN PLAIN", 1, 0, NULL, NULL,
		  "s3cret", NULL, OK_AUTH, "PLAIN", 0 },
		{ "explicit LOGIN", "login", "PLAIN LOGIN", 1, 0, NULL, NULL,
		  "s3cret", NULL, OK_AUTH, "LOGIN", 0 },
		{ "explicit CRAM-MD5", "CRAM-MD5", "PLAIN CRAM-MD5", 1, 0, NULL, NULL,
		  "s3cret", NULL, OK_AUTH, "CRAM-MD5", 0 },
		{ "on without TLS falls back to CRAM-MD5", "on", "PLAIN LOGIN CRAM-MD5",
		  0, 0, NULL, NULL, "s3cret", NULL, OK_AUTH, "CRAM-MD5", 0 },
		{ "SCRAM-SHA-1", "SCRAM-SHA-1", "SCRAM-SHA-1 PLAIN", 1, 0, NULL, NULL,
		  "s3cret", NULL, OK_AUTH, "SCRAM-SHA-1", 0 },
		{ "on prefers SCRAM-SHA-256 over SCRAM-SHA-1 and PLAIN", "on",
		  "PLAIN SCRAM-SHA-1 SCRAM-SHA-256", 1, 0, NULL, NULL, "s3cret", NULL,
		  OK_AUTH, "SCRAM-SHA-256", 0 },
		{ "on without channel binding skips -PLUS", "on",
		  "SCRAM-SHA-256-PLUS SCRAM-SHA-256", 1, 0, NULL, NULL, "s3cret", NULL,
		  OK_AUTH, "SCRAM-SHA-256", 0 },
		{ "on with tls-exporter picks SCRAM-SHA-256-PLUS", "on",
		  "PLAIN SCRAM-SHA-256 SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS", 1, 0, cb_a,
		  "tls-exporter", "s3cret", cb_a, OK_AUTH, "SCRAM-SHA-256-PLUS", 0 },
		{ "SCRAM-SHA-1-PLUS with tls-unique", "on", "SCRAM-SHA-1-PLUS PLAIN",
		  1, 0, cb_a, "tls-unique", "s3cret", cb_a, OK_AUTH, "SCRAM-SHA-1-PLUS", 0 },
		{ "channel binding mismatch (a man in the middle) fails", "on",
		  "SCRAM-SHA-256-PLUS", 1, 0, cb_a, "tls-exporter", "s3cret", cb_b,
		  SERVER_REJECTS, "SCRAM-SHA-256-PLUS", 0 },
		{ "explicit -PLUS without channel binding", "SCRAM-SHA-256-PLUS",
		  "SCRAM-SHA-256-PLUS", 1, 0, NULL, NULL, "s3cret", NULL, START_FAILS,
		  NULL, EX_UNAVAILABLE },
		{ "wrong password, PLAIN", "PLAIN", "PLAIN", 1, 0, NULL, NULL, "other",
		  NULL, SERVER_REJECTS, "PLAIN", 0 },
		{ "wrong password, SCRAM-SHA-256", "on", "SCRAM-SHA-256", 1, 0, NULL,
		  NULL, "other", NULL, SERVER_REJECTS, "SCRAM-SHA-256", 0 },
		{ "wrong password, CRAM-MD5", "on", "CRAM-MD5", 1, 0, NULL, NULL, "other",
		  NULL, SERVER_REJECTS, "CRAM-MD5", 0 },
		{ "on, only cleartext mechanisms, no TLS", "on", "PLAIN LOGIN", 0, 0,
		  NULL, NULL, "s3cret", NULL, START_FAILS, NULL, EX_NOPERM },
		{ "explicit PLAIN without TLS", "PLAIN", "PLAIN CRAM-MD5", 0, 0, NULL,
		  NULL, "s3cret", NULL, START_FAILS, NULL, EX_NOPERM },
		{ "explicit XOAUTH2 without TLS", "XOAUTH2", "XOAUTH2", 0, 0, NULL, NULL,
		  "s3cret", NULL, START_FAILS, NULL, EX_NOPERM },
		{ "PLAIN without TLS on an allowed loopback host", "on", "PLAIN", 0, 1,
		  NULL, NULL, "s3cret", NULL, OK_AUTH, "PLAIN", 0 },
		{ "nothing in common", "on", "GSSAPI NTLM", 1, 0, NULL, NULL, "s3cret",
		  NULL, START_FAILS, NULL, EX_UNAVAILABLE },
		{ "configured mechanism not offered", "CRAM-MD5", "PLAIN LOGIN", 1, 0,
		  NULL, NULL, "s3cret", NULL, START_FAILS, NULL, EX_UNAVAILABLE },
		{ "no AUTH offered at all", "on", NULL, 1, 0, NULL, NULL, "s3cret", NULL,
		  START_FAILS, NULL, EX_UNAVAILABLE },
		{ "unknown configured mechanism", "KERBEROS_V4", "KERBEROS_V4", 1, 0,
		  NULL, NULL, "s3cret", NULL, START_FAILS, NULL, EX_CONFIG },
		{ "on never picks EXTERNAL or OAuth", "on", "EXTERNAL XOAUTH2 OAUTHBEARER",
		  1, 0, NULL, NULL, "s3cret", NULL, START_FAILS, NULL, EX_UNAVAILABLE },
		{ "EXTERNAL when configured", "external", "EXTERNAL PLAIN", 1, 0, NULL,
		  NULL, "s3cret", NULL, OK_AUTH, "EXTERNAL", 0 },
		{ "server mechanism names are case-insensitive", "scram-sha-1",
		  "plain scram-sha-1", 1, 0, NULL, NULL, "s3cret", NULL, OK_AUTH,
		  "SCRAM-SHA-1", 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sasl_params p = { 0 };
		struct err e;
		const char *mech;
		enum outcome got;
		char cbs[64] = "";

		p.configured = cases[i].configured;
		p.server_mechs = cases[i].offered;
		p.user = "alice";
		p.secret = "s3cret";
		p.host = "mail.example.org";
		p.port = 587;
		p.tls_active = cases[i].tls;
		p.cleartext_ok = cases[i].cleartext_ok;
		if (cases[i].cb_client) {
			p.cb_type = cases[i].cb_type;
			p.cb_data = cases[i].cb_client;
			p.cb_len = sizeof cb_a;
		}
		if (cases[i].cb_server) {
			char *b64 = NULL;
			size_t len;

			if (gsasl_base64_to((const char *)cases[i].cb_server, sizeof cb_a,
			    &b64, &len) == GSASL_OK && len < sizeof cbs)
				memcpy(cbs, b64, len + 1);
			gsasl_free(b64);
		}
		got = exchange(&p, cases[i].server_pw, cases[i].cb_server ? cbs : NULL,
		    &mech, &e);
		is_int(got, cases[i].want, "%s: outcome", cases[i].name);
		if (cases[i].want_mech)
			is_str(mech, cases[i].want_mech, "%s: mechanism", cases[i].name);
		if (cases[i].want == START_FAILS || cases[i].want == STEP_FAILS) {
			is_int(e.ex, cases[i].want_ex, "%s: exit code (%s)", cases[i].name,
			    e.msg);
			ok(strstr(e.msg, "s3cret") == NULL, "%s: no secret in the message",
			    cases[i].name);
		}
	}
}

static void
test_messages(void)
{
	struct sasl_params p = { 0 };
	struct sasl *s;
	const char *mech;
	char *initial;
	struct err e;

	p.configured = "on";
	p.server_mechs = "GSSAPI NTLM";
	p.user = "alice";
	p.secret = "pw";
	p.tls_active = 1;
	sasl_start(&s, &p, &mech, &initial, &e);
	is_str(e.msg, "server offers AUTH GSSAPI NTLM; none usable (configured: on)",
	    "no common mechanism: message names both sides");
	ok(s == NULL && initial == NULL, "failure leaves nothing allocated");

	p.server_mechs = "PLAIN LOGIN";
	p.tls_active = 0;
	sasl_start(&s, &p, &mech, &initial, &e);
	ok(strncmp(e.msg, "refusing to send credentials without TLS", 40) == 0,
	    "no TLS: says why (%s)", e.msg);
}

/* Decode base64 into a NUL-terminated malloc'd string. */
static char *
decode(const char *b64, size_t *len)
{
	char *raw = NULL;

	*len = 0;
	if (gsasl_base64_from(b64, strlen(b64), &raw, len) != GSASL_OK)
		return NULL;
	return raw;
}

static void
test_oauth(void)
{
	static const struct {
		const char *mech, *user;
		int port;
		const char *want, *error_reply;
		size_t want_len;
	} cases[] = {
		{ "XOAUTH2", "alice@example.org", 587,
		  "user=alice@example.org\001auth=Bearer tok.en\001\001", "", 0 },
		{ "OAUTHBEARER", "alice@example.org", 587,
		  "n,a=alice@example.org,\001host=mail.example.org\001port=587\001"
		  "auth=Bearer tok.en\001\001", "AQ==", 0 },
		{ "OAUTHBEARER", "a,b=c", 0,
		  "n,a=a=2Cb=3Dc,\001host=mail.example.org\001auth=Bearer tok.en\001\001",
		  "AQ==", 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sasl_params p = { 0 };
		struct sasl *s;
		const char *mech;
		char *initial = NULL, *resp = NULL, *raw;
		size_t len;
		struct err e;

		p.configured = cases[i].mech;
		p.server_mechs = "PLAIN XOAUTH2 OAUTHBEARER";
		p.user = cases[i].user;
		p.secret = "tok.en";
		p.host = "mail.example.org";
		p.port = cases[i].port;
		p.tls_active = 1;
		if (!ok(sasl_start(&s, &p, &mech, &initial, &e) == 0 && initial,
		    "%s for %s: starts", cases[i].mech, cases[i].user))
			continue;
		raw = decode(initial, &len);
		ok(raw && len == strlen(cases[i].want) && memcmp(raw, cases[i].want, len) == 0,
		    "%s for %s: exact client message", cases[i].mech, cases[i].user);
		gsasl_free(raw);
		ok(sasl_finish(s, &e) == 0, "%s: complete after the initial response",
		    cases[i].mech);
		/* The server's error report comes as a challenge. */
		is_int(sasl_step(s, "eyJzdGF0dXMiOiI0MDEifQ==", &resp, &e), 0,
		    "%s: answers the error challenge", cases[i].mech);
		is_str(resp, cases[i].error_reply, "%s: with the documented reply",
		    cases[i].mech);
		ok(sasl_finish(s, &e) < 0, "%s: no success after an error challenge",
		    cases[i].mech);
		sasl_response_free(resp);
		sasl_response_free(initial);
		sasl_free(s);
	}
}

/* An OAuth 2.0 account (oauth2_provider) with auth on: OAUTHBEARER, else
 * XOAUTH2, never a password mechanism, which would send the token as
 * a password. */
static void
test_oauth_on(void)
{
	static const struct {
		const char *offered, *want;     /* want NULL: refused */
		int tls;
		const char *msg_has;
	} cases[] = {
		{ "PLAIN LOGIN XOAUTH2 OAUTHBEARER SCRAM-SHA-256", "OAUTHBEARER", 1, NULL },
		{ "SCRAM-SHA-256 PLAIN XOAUTH2", "XOAUTH2", 1, NULL },
		{ "SCRAM-SHA-256 PLAIN LOGIN", NULL, 1, "none usable (OAuth 2.0 needs OAUTHBEARER or XOAUTH2)" },
		{ "XOAUTH2", NULL, 0, "refusing to send credentials without TLS" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sasl_params p = { 0 };
		struct sasl *s = NULL;
		const char *mech = NULL;
		char *initial = NULL;
		struct err e;
		int r;

		err_init(&e);
		p.configured = "on";
		p.oauth = 1;
		p.server_mechs = cases[i].offered;
		p.user = "alice@example.org";
		p.secret = "tok.en";
		p.host = "mail.example.org";
		p.tls_active = cases[i].tls;
		r = sasl_start(&s, &p, &mech, &initial, &e);
		if (cases[i].want) {
			ok(r == 0 && mech && strcmp(mech, cases[i].want) == 0,
			    "oauth, auth on, server %s: %s", cases[i].offered, cases[i].want);
		} else {
			ok(r < 0 && strstr(e.msg, cases[i].msg_has) != NULL,
			    "oauth, auth on, server %s: refused: %s", cases[i].offered, e.msg);
		}
		sasl_response_free(initial);
		sasl_free(s);
	}
}

/* The GS2 header of SCRAM's client-first message names the binding used. */
static void
test_gs2_header(void)
{
	static const struct {
		const char *configured, *cb_type;
		const char *want;
	} cases[] = {
		{ "SCRAM-SHA-256-PLUS", "tls-exporter", "p=tls-exporter,," },
		{ "SCRAM-SHA-256-PLUS", "tls-unique", "p=tls-unique,," },
		{ "SCRAM-SHA-1-PLUS", "tls-exporter", "p=tls-exporter,," },
		{ "SCRAM-SHA-256", "tls-exporter", "n,," },
		{ "SCRAM-SHA-1", NULL, "n,," },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sasl_params p = { 0 };
		struct sasl *s;
		const char *mech;
		char *initial = NULL, *raw = NULL;
		size_t len;
		struct err e;

		p.configured = cases[i].configured;
		p.server_mechs = "SCRAM-SHA-1 SCRAM-SHA-256 SCRAM-SHA-1-PLUS SCRAM-SHA-256-PLUS";
		p.user = "alice";
		p.secret = "s3cret";
		p.tls_active = 1;
		if (cases[i].cb_type) {
			p.cb_type = cases[i].cb_type;
			p.cb_data = cb_a;
			p.cb_len = sizeof cb_a;
		}
		if (sasl_start(&s, &p, &mech, &initial, &e) == 0 && initial)
			raw = decode(initial, &len);
		ok(raw && strncmp(raw, cases[i].want, strlen(cases[i].want)) == 0 &&
		    strstr(raw, "n=alice,r=") != NULL,
		    "%s with %s: client-first starts %s", cases[i].configured,
		    cases[i].cb_type ? cases[i].cb_type : "no binding", cases[i].want);
		gsasl_free(raw);
		sasl_response_free(initial);
		sasl_free(s);
	}
}

/* An initial response that would overflow the AUTH line is held back and
 * given as the answer to the server's empty challenge. */
static void
test_deferred(void)
{
	struct sasl_params p = { 0 };
	struct sasl *s;
	const char *mech;
	char *initial = NULL, *resp = NULL, *tok;
	struct err e;
	size_t n = 9190;    /* base64 of the message: 12284 octets */

	tok = malloc(n + 1);
	memset(tok, 'x', n);
	tok[n] = '\0';
	p.configured = "XOAUTH2";
	p.server_mechs = "XOAUTH2";
	p.user = "u";
	p.secret = tok;
	p.tls_active = 1;
	is_int(sasl_start(&s, &p, &mech, &initial, &e), 0, "long token: starts");
	ok(initial == NULL, "long token: no initial response on the AUTH line");
	sasl_response_free(initial);
	is_int(sasl_step(s, "", &resp, &e), 0, "long token: empty challenge answered");
	ok(resp && strlen(resp) > 12000 && strlen(resp) <= SASL_LINE_MAX - 2,
	    "long token: the response fits one line");
	sasl_response_free(resp);
	sasl_free(s);

	memset(tok, 'x', n);
	n = 9300;
	tok = realloc(tok, n + 1);
	memset(tok, 'x', n);
	tok[n] = '\0';
	p.secret = tok;
	is_int(sasl_start(&s, &p, &mech, &initial, &e), -1, "too long token: refused");
	is_int(e.ex, EX_CONFIG, "too long token: EX_CONFIG");
	free(tok);
}

/* SCRAM is mutual: a server that claims success without its proof, or
 * sends a forged one, is not accepted. */
static void
test_scram_mutual(void)
{
	struct sasl_params p = { 0 };
	struct peer peer = { "s3cret", NULL };
	struct sasl *s;
	const char *mech;
	char *initial = NULL, *client = NULL, *chal = NULL, *raw, *forged = NULL;
	size_t len, flen;
	Gsasl *ctx;
	Gsasl_session *srv;
	struct err e;
	int rc;

	p.configured = "SCRAM-SHA-256";
	p.server_mechs = "SCRAM-SHA-256";
	p.user = "alice";
	p.secret = "s3cret";
	p.tls_active = 1;

	for (int forge = 0; forge < 2; forge++) {
		if (sasl_start(&s, &p, &mech, &initial, &e) < 0 || gsasl_init(&ctx) != GSASL_OK) {
			ok(0, "scram setup");
			return;
		}
		gsasl_callback_set(ctx, server_cb);
		gsasl_callback_hook_set(ctx, &peer);
		gsasl_server_start(ctx, mech, &srv);
		rc = gsasl_step64(srv, initial, &chal);               /* server-first */
		sasl_response_free(initial);
		sasl_step(s, chal, &client, &e);                       /* client-final */
		gsasl_free(chal);
		rc = gsasl_step64(srv, client, &chal);                 /* server-final */
		sasl_response_free(client);
		is_int(rc, GSASL_OK, "scram: the server accepts the proof");
		if (!forge) {
			is_int(sasl_finish(s, &e), -1, "scram: 235 before the server's "
			    "proof is refused");
			is_int(e.ex, EX_PROTOCOL, "... as a protocol error");
		} else {
			/* Flip one character of the server signature. */
			raw = decode(chal, &len);
			if (raw && len > 4) {
				raw[len - 2] = raw[len - 2] == 'A' ? 'B' : 'A';
				gsasl_base64_to(raw, len, &forged, &flen);
			}
			gsasl_free(raw);
			client = NULL;
			is_int(sasl_step(s, forged ? forged : "", &client, &e), -1,
			    "scram: a forged server signature is refused");
			is_int(e.ex, EX_NOPERM, "... with EX_NOPERM (%s)", e.msg);
			sasl_response_free(client);
			gsasl_free(forged);
		}
		gsasl_free(chal);
		gsasl_finish(srv);
		gsasl_done(ctx);
		sasl_free(s);
	}
}

/* Found while writing tests/fuzz/smtp.c: the server chooses SCRAM's
 * iteration count, and i=4294967295 held the client in PBKDF2 for an hour
 * with no network timeout to stop it. Over SASL_SCRAM_ITER_MAX it fails
 * at once. */
static void
test_scram_iterations(void)
{
	static const char *const iters[] = { "4096", "1000001", "4294967295", "", "12x" };
	struct sasl_params p = { 0 };

	p.configured = "SCRAM-SHA-256";
	p.server_mechs = "SCRAM-SHA-256";
	p.user = "alice";
	p.secret = "s3cret";
	p.tls_active = 1;
	for (size_t i = 0; i < sizeof iters / sizeof iters[0]; i++) {
		struct sasl *s;
		const char *mech;
		char *initial = NULL, *raw, *b64 = NULL, *resp = NULL, first[256], cf[256];
		size_t len, blen;
		struct err e;
		int rc;

		err_init(&e);
		if (sasl_start(&s, &p, &mech, &initial, &e) < 0 ||
		    (raw = decode(initial, &len)) == NULL) {
			ok(0, "scram iterations: setup");
			return;
		}
		/* The client-first message as a C string (decode's output is
		 * not NUL-terminated). */
		snprintf(cf, sizeof cf, "%.*s", (int)len, raw);
		gsasl_free(raw);
		if (strstr(cf, "r=") == NULL) {
			ok(0, "scram iterations: no nonce in %s", cf);
			return;
		}
		/* server-first: the client's nonce extended, a salt, i=N */
		snprintf(first, sizeof first, "%.*sSRV,s=QSXCR+Q6sek8bf92,i=%s",
		         (int)strcspn(strstr(cf, "r="), ","), strstr(cf, "r="), iters[i]);
		gsasl_base64_to(first, strlen(first), &b64, &blen);
		rc = sasl_step(s, b64, &resp, &e);
		if (i == 0) {
			is_int(rc, 0, "scram: i=4096 is answered");
		} else {
			is_int(rc, -1, "scram: i=%s is refused at once", iters[i]);
			is_int(e.ex, EX_PROTOCOL, "... as a protocol error (%s)", e.msg);
		}
		sasl_response_free(resp);
		sasl_response_free(initial);
		gsasl_free(b64);
		sasl_free(s);
	}
}

int
main(void)
{
	test_exchanges();
	test_messages();
	test_oauth();
	test_oauth_on();
	test_gs2_header();
	test_deferred();
	test_scram_mutual();
	test_scram_iterations();
	return done_testing();
}
