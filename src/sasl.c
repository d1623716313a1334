/* sasl.c - see sasl.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gsasl.h>

#include "buf.h"
#include "sasl.h"

/* An OAuth message before base64: the whole response must fit one
 * SASL_LINE_MAX line, and base64 makes 4 bytes of 3 (12288 * 3 / 4). */
#define SASL_OAUTH_MAX 9216
/* Longest mechanism name (RFC 4422 section 3.1: 20 characters). */
#define SASL_MECH_NAME_MAX 20

enum mech_flags {
	M_AUTO = 1,        /* chosen by `auth on` (else only when named) */
	M_CLEARTEXT = 2,   /* hands the secret itself to the wire: TLS only */
	M_PLUS = 4,        /* needs channel binding data */
	M_INITIAL = 8,     /* has an initial response */
	M_OWN = 16,        /* implemented here, not by libgsasl */
	M_NO_SECRET = 32,  /* needs no password or token */
};

enum own_kind { OWN_NONE, OWN_XOAUTH2, OWN_OAUTHBEARER };

/* In order of preference for `auth on`. */
static const struct mech {
	const char *name;
	int flags;
	enum own_kind own;
} mechs[] = {
	{ "SCRAM-SHA-256-PLUS", M_AUTO | M_PLUS | M_INITIAL, OWN_NONE },
	{ "SCRAM-SHA-1-PLUS", M_AUTO | M_PLUS | M_INITIAL, OWN_NONE },
	{ "SCRAM-SHA-256", M_AUTO | M_INITIAL, OWN_NONE },
	{ "SCRAM-SHA-1", M_AUTO | M_INITIAL, OWN_NONE },
	{ "PLAIN", M_AUTO | M_CLEARTEXT | M_INITIAL, OWN_NONE },
	{ "LOGIN", M_AUTO | M_CLEARTEXT, OWN_NONE },
	{ "CRAM-MD5", M_AUTO, OWN_NONE },
	{ "EXTERNAL", M_INITIAL | M_NO_SECRET, OWN_NONE },
	{ "XOAUTH2", M_CLEARTEXT | M_INITIAL | M_OWN, OWN_XOAUTH2 },
	{ "OAUTHBEARER", M_CLEARTEXT | M_INITIAL | M_OWN, OWN_OAUTHBEARER },
};
#define NMECHS (sizeof mechs / sizeof mechs[0])

struct sasl {
	const struct mech *mech;
	Gsasl *ctx;                /* NULL for our own mechanisms */
	Gsasl_session *sess;
	char *deferred;            /* an initial response too long for the AUTH line */
	int steps;                 /* responses produced so far */
	int complete;              /* our side has nothing more to say */
};

/* Is `name` one of the space-separated words in `list`? */
static int
offered(const char *list, const char *name)
{
	size_t n = strlen(name);

	if (list == NULL)
		return 0;
	while (*list) {
		size_t w;

		while (*list == ' ')
			list++;
		w = strcspn(list, " ");
		if (w == n && strncasecmp(list, name, n) == 0)
			return 1;
		list += w;
	}
	return 0;
}

static const struct mech *
mech_by_name(const char *name)
{
	for (size_t i = 0; i < NMECHS; i++)
		if (strcasecmp(mechs[i].name, name) == 0)
			return &mechs[i];
	return NULL;
}

static char *
dup_response(const char *s, size_t n)
{
	char *r = malloc(n + 1);

	if (r) {
		memcpy(r, s, n);
		r[n] = '\0';
	}
	return r;
}

/* base64 of raw bytes into a malloc'd string; the input is the caller's
 * to wipe. */
static char *
encode(const char *raw, size_t len)
{
	char *out = NULL, *r;
	size_t outlen = 0;

	if (len == 0)
		return dup_response("", 0);
	if (gsasl_base64_to(raw, len, &out, &outlen) != GSASL_OK)
		return NULL;
	r = dup_response(out, outlen);
	mem_wipe(out, outlen);
	gsasl_free(out);
	return r;
}

/* RFC 5801 section 4 saslname: ',' and '=' in the authzid are escaped. */
static int
put_saslname(struct buf *b, const char *s)
{
	for (; *s; s++) {
		int r;

		if (*s == ',')
			r = buf_puts(b, "=2C");
		else if (*s == '=')
			r = buf_puts(b, "=3D");
		else
			r = buf_putc(b, *s);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* The whole XOAUTH2 or OAUTHBEARER client message, base64-encoded. */
static int
oauth_response(const struct mech *m, const struct sasl_params *p, char **out,
    struct err *e)
{
	struct buf b;
	int r;

	buf_init(&b, SASL_OAUTH_MAX);
	if (m->own == OWN_XOAUTH2) {
		r = buf_printf(&b, "user=%s\001auth=Bearer %s\001\001", p->user, p->secret);
	} else {
		r = buf_puts(&b, "n,a=");
		if (r == 0)
			r = put_saslname(&b, p->user);
		if (r == 0)
			r = buf_puts(&b, ",\001");
		if (r == 0 && p->host)
			r = buf_printf(&b, "host=%s\001", p->host);
		if (r == 0 && p->port > 0)
			r = buf_printf(&b, "port=%d\001", p->port);
		if (r == 0)
			r = buf_printf(&b, "auth=Bearer %s\001\001", p->secret);
	}
	if (r < 0) {
		int full = errno == ENOSPC;

		buf_wipe(&b);
		if (full)
			return err_set(e, EX_CONFIG, "%s: user name and token are too long "
			    "(more than %d bytes)", m->name, SASL_OAUTH_MAX);
		return err_set(e, EX_OSERR, "out of memory");
	}
	*out = encode(b.data, b.len);
	buf_wipe(&b);
	if (*out == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	return 0;
}

/* Choose what to use, or say clearly why nothing can be. */
static const struct mech *
choose(const struct sasl_params *p, struct err *e)
{
	int plain_ok = p->tls_active || p->cleartext_ok;
	int has_cb = p->cb_type && p->cb_data && p->cb_len;
	int refused_cleartext = 0;
	const struct mech *m;
	Gsasl *ctx = NULL;
	char name[SASL_MECH_NAME_MAX + 1];
	const char *server = p->server_mechs ? p->server_mechs : "";

	if ((p->configured == NULL || strcasecmp(p->configured, "on") == 0) &&
	    p->oauth) {
		/* RFC 7628's mechanism first, then Google's and Microsoft's. */
		m = offered(server, "OAUTHBEARER") ? mech_by_name("OAUTHBEARER") :
		    offered(server, "XOAUTH2") ? mech_by_name("XOAUTH2") : NULL;
		if (m && !plain_ok) {
			err_set(e, EX_NOPERM, "refusing to send credentials without "
			    "TLS (server offers AUTH %s)", server);
			return NULL;
		}
		if (m == NULL)
			err_set(e, EX_UNAVAILABLE, "server offers AUTH %s; none usable "
			    "(OAuth 2.0 needs OAUTHBEARER or XOAUTH2)",
			    *server ? server : "(nothing)");
		return m;
	}
	if (p->configured == NULL || strcasecmp(p->configured, "on") == 0) {
		if (gsasl_init(&ctx) != GSASL_OK) {
			err_set(e, EX_OSERR, "cannot initialise libgsasl");
			return NULL;
		}
		for (size_t i = 0; i < NMECHS; i++) {
			m = &mechs[i];
			if (!(m->flags & M_AUTO) || !offered(server, m->name))
				continue;
			if ((m->flags & M_PLUS) && !has_cb)
				continue;
			if (!(m->flags & M_OWN) && !gsasl_client_support_p(ctx, m->name))
				continue;
			if ((m->flags & M_CLEARTEXT) && !plain_ok) {
				refused_cleartext = 1;
				continue;
			}
			gsasl_done(ctx);
			return m;
		}
		gsasl_done(ctx);
		if (refused_cleartext)
			err_set(e, EX_NOPERM, "refusing to send credentials without TLS "
			    "(server offers AUTH %s)", server);
		else
			err_set(e, EX_UNAVAILABLE, "server offers AUTH %s; none usable "
			    "(configured: on)", *server ? server : "(nothing)");
		return NULL;
	}

	m = mech_by_name(p->configured);
	if (m == NULL) {
		size_t n = strlen(p->configured);

		if (n > SASL_MECH_NAME_MAX)
			n = SASL_MECH_NAME_MAX;
		memcpy(name, p->configured, n);
		name[n] = '\0';
		err_set(e, EX_CONFIG, "unsupported authentication method %s", name);
		return NULL;
	}
	if (!offered(server, m->name)) {
		err_set(e, EX_UNAVAILABLE, "server offers AUTH %s; none usable "
		    "(configured: %s)", *server ? server : "(nothing)", m->name);
		return NULL;
	}
	if ((m->flags & M_CLEARTEXT) && !plain_ok) {
		err_set(e, EX_NOPERM, "refusing to send credentials without TLS "
		    "(auth %s)", m->name);
		return NULL;
	}
	if ((m->flags & M_PLUS) && !has_cb) {
		err_set(e, EX_UNAVAILABLE, "%s needs TLS channel binding, which this "
		    "connection does not provide", m->name);
		return NULL;
	}
	return m;
}

static int
gsasl_fail(const struct sasl *s, int rc, struct err *e)
{
	if (rc == GSASL_BASE64_ERROR)
		return err_set(e, EX_PROTOCOL, "%s: the server's challenge is not valid "
		    "base64", s->mech->name);
	if (rc == GSASL_AUTHENTICATION_ERROR)
		return err_set(e, EX_NOPERM, "%s: the server failed to prove that it "
		    "knows the password", s->mech->name);
	if (rc == GSASL_MALLOC_ERROR)
		return err_set(e, EX_OSERR, "out of memory");
	return err_set(e, EX_PROTOCOL, "%s: %s", s->mech->name, gsasl_strerror(rc));
}

/* One libgsasl step; *out is ours (malloc'd), its copy wiped. */
static int
gsasl_respond(struct sasl *s, const char *in, char **out, struct err *e)
{
	char *raw = NULL;
	int rc;

	rc = gsasl_step64(s->sess, in, &raw);
	if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE) {
		if (raw) {
			mem_wipe(raw, strlen(raw));
			gsasl_free(raw);
		}
		return gsasl_fail(s, rc, e);
	}
	*out = dup_response(raw ? raw : "", raw ? strlen(raw) : 0);
	if (raw) {
		mem_wipe(raw, strlen(raw));
		gsasl_free(raw);
	}
	if (*out == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	s->steps++;
	if (rc == GSASL_OK)
		s->complete = 1;
	return 0;
}

/* A SCRAM server-first message must not ask for more than
 * SASL_SCRAM_ITER_MAX iterations (sasl.h). Anything else in the challenge
 * is libgsasl's to judge. */
static int
check_scram_iter(const struct sasl *s, const char *in, struct err *e)
{
	char *raw = NULL;
	size_t len = 0;
	struct buf b;
	int rc = 0;

	if (strncmp(s->mech->name, "SCRAM", 5) != 0 ||
	    gsasl_base64_from(in, strlen(in), &raw, &len) != GSASL_OK || raw == NULL)
		return 0;
	buf_init(&b, len + 1);
	if (buf_append(&b, raw, len) < 0)
		rc = err_set(e, EX_OSERR, "out of memory");
	gsasl_free(raw);
	for (char *attr = b.data; attr != NULL && rc == 0;) {
		char *comma = strchr(attr, ',');
		long iter;

		if (comma)
			*comma = '\0';
		if (strncmp(attr, "i=", 2) == 0 &&
		    parse_long(attr + 2, 1, SASL_SCRAM_ITER_MAX, &iter) < 0)
			rc = err_set(e, EX_PROTOCOL, "%s: the server asks for an iteration count "
			    "over %d (or not a number); refusing", s->mech->name,
			    SASL_SCRAM_ITER_MAX);
		attr = comma ? comma + 1 : NULL;
	}
	buf_free(&b);
	return rc;
}

static int
set_property(struct sasl *s, Gsasl_property prop, const char *value, struct err *e)
{
	if (gsasl_property_set(s->sess, prop, value) != GSASL_OK)
		return err_set(e, EX_OSERR, "out of memory");
	return 0;
}

static int
gsasl_setup(struct sasl *s, const struct sasl_params *p, struct err *e)
{
	int rc = gsasl_init(&s->ctx);

	if (rc != GSASL_OK) {
		s->ctx = NULL;
		return err_set(e, EX_OSERR, "cannot initialise libgsasl: %s",
		    gsasl_strerror(rc));
	}
	rc = gsasl_client_start(s->ctx, s->mech->name, &s->sess);
	if (rc != GSASL_OK) {
		s->sess = NULL;
		return err_set(e, EX_UNAVAILABLE, "%s: %s", s->mech->name, gsasl_strerror(rc));
	}
	/* EXTERNAL sends an empty authorization identity: the server takes
	 * the identity from our client certificate. */
	if (s->mech->flags & M_NO_SECRET)
		return 0;
	if (set_property(s, GSASL_AUTHID, p->user, e) < 0 ||
	    set_property(s, GSASL_PASSWORD, p->secret, e) < 0)
		return -1;
	if (s->mech->flags & M_PLUS) {
		Gsasl_property prop;
		char *b64 = NULL;
		size_t len;

		if (strcmp(p->cb_type, "tls-exporter") == 0)
			prop = GSASL_CB_TLS_EXPORTER;
		else if (strcmp(p->cb_type, "tls-unique") == 0)
			prop = GSASL_CB_TLS_UNIQUE;
		else
			return err_set(e, EX_SOFTWARE, "unknown channel binding type %s",
			    p->cb_type);
		if (gsasl_base64_to((const char *)p->cb_data, p->cb_len, &b64, &len) != GSASL_OK)
			return err_set(e, EX_OSERR, "out of memory");
		rc = gsasl_property_set(s->sess, prop, b64);
		gsasl_free(b64);
		if (rc != GSASL_OK)
			return err_set(e, EX_OSERR, "out of memory");
	}
	return 0;
}

int
sasl_start(struct sasl **sp, const struct sasl_params *p, const char **mech,
    char **initial_b64, struct err *e)
{
	const struct mech *m;
	struct sasl *s;
	char *first = NULL;

	*sp = NULL;
	*mech = NULL;
	*initial_b64 = NULL;
	if ((m = choose(p, e)) == NULL)
		return -1;
	if (!(m->flags & M_NO_SECRET) && (p->user == NULL || *p->user == '\0'))
		return err_set(e, EX_CONFIG, "authentication with %s needs a user name "
		    "(set user)", m->name);
	if (!(m->flags & M_NO_SECRET) && p->secret == NULL)
		return err_set(e, EX_CONFIG, "authentication with %s needs a %s", m->name,
		    m->own ? "token (set passwordeval)" : "password");
	s = calloc(1, sizeof *s);
	if (s == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	s->mech = m;
	if (m->flags & M_OWN) {
		if (oauth_response(m, p, &first, e) < 0)
			goto fail;
		s->steps = 1;
		s->complete = 1;
	} else {
		if (gsasl_setup(s, p, e) < 0)
			goto fail;
		if ((m->flags & M_INITIAL) && gsasl_respond(s, "", &first, e) < 0)
			goto fail;
	}
	if (first) {
		/* "AUTH " MECH " " RESPONSE CRLF must fit one line. */
		if (strlen(first) + strlen(m->name) + 8 > SASL_LINE_MAX) {
			s->deferred = first;
		} else if (*first == '\0') {
			sasl_response_free(first);
			if ((first = dup_response("=", 1)) == NULL) {
				err_set(e, EX_OSERR, "out of memory");
				goto fail;
			}
			*initial_b64 = first;
		} else {
			*initial_b64 = first;
		}
	}
	*sp = s;
	*mech = m->name;
	return 0;
fail:
	sasl_free(s);
	return -1;
}

int
sasl_step(struct sasl *s, const char *challenge_b64, char **response_b64, struct err *e)
{
	*response_b64 = NULL;
	if (challenge_b64 == NULL)
		challenge_b64 = "";
	if (s->deferred) {
		/* RFC 4954: without an initial response the server sends an
		 * empty challenge, which the deferred response answers. */
		if (*challenge_b64 != '\0')
			return err_set(e, EX_PROTOCOL, "%s: unexpected challenge before "
			    "the initial response", s->mech->name);
		*response_b64 = s->deferred;
		s->deferred = NULL;
		return 0;
	}
	if (s->mech->own == OWN_XOAUTH2 || s->mech->own == OWN_OAUTHBEARER) {
		/* A challenge after the token is the server's error report
		 * (JSON); the protocol wants an empty response (XOAUTH2) or a
		 * lone %x01 (RFC 7628 section 3.2.3), then the server fails. */
		if (s->steps > 1)
			return err_set(e, EX_PROTOCOL, "%s: unexpected further challenge",
			    s->mech->name);
		s->steps++;
		s->complete = 0;        /* the server refused the token */
		*response_b64 = s->mech->own == OWN_XOAUTH2 ? dup_response("", 0) :
		    dup_response("AQ==", 4);
		if (*response_b64 == NULL)
			return err_set(e, EX_OSERR, "out of memory");
		return 0;
	}
	if (s->complete)
		return err_set(e, EX_PROTOCOL, "%s: unexpected challenge after the "
		    "exchange finished", s->mech->name);
	if (check_scram_iter(s, challenge_b64, e) < 0)
		return -1;
	return gsasl_respond(s, challenge_b64, response_b64, e);
}

int
sasl_finish(struct sasl *s, struct err *e)
{
	if (s->complete && s->deferred == NULL)
		return 0;
	return err_set(e, EX_PROTOCOL, "%s: the server reported success before the "
	    "exchange was complete%s", s->mech->name,
	    strncmp(s->mech->name, "SCRAM", 5) == 0 ?
	    " (it did not prove that it knows the password)" : "");
}

void
sasl_response_free(char *r)
{
	if (r) {
		mem_wipe(r, strlen(r));
		free(r);
	}
}

void
sasl_free(struct sasl *s)
{
	if (s == NULL)
		return;
	if (s->sess)
		gsasl_finish(s->sess);
	if (s->ctx)
		gsasl_done(s->ctx);
	sasl_response_free(s->deferred);
	mem_wipe(s, sizeof *s);
	free(s);
}
