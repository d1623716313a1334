/*
 * oauth2http.c - OAuth 2.0 endpoint client (oauth2http.h).
 *
 * RFC 6749 (sections 5.1 and 5.2: token responses and errors; 6:
 * refreshing; 4.1: the authorization code grant), RFC 7636 (PKCE), RFC 8628 (device authorization grant), RFC 8259 (JSON,
 * through Jansson).
 */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CURL_NO_OLDIES 1
#include <curl/curl.h>
#include <jansson.h>

#include "buf.h"
#include "conf.h"
#include "oauth2http.h"
#include "oauth2loop.h"

static void
wipe_free(char *s)
{
	if (s)
		mem_wipe(s, strlen(s));
	free(s);
}

/* ------------------------------------------------------------------ */
/* Providers. */

static const struct provider {
	const char *name;
	const char *token, *device, *auth;  /* %s: the tenant */
	const char *scope;
	/* Extra authorization request parameters: Google issues a refresh
	 * token to the loopback flow only when asked for offline access,
	 * and again on a repeated login only with the consent prompt. */
	const char *auth_extra;
} providers[] = {
	/* Microsoft identity platform v2.0; offline_access asks for the
	 * refresh token. */
	{ "microsoft",
	  "https://login.microsoftonline.com/%s/oauth2/v2.0/token",
	  "https://login.microsoftonline.com/%s/oauth2/v2.0/devicecode",
	  "https://login.microsoftonline.com/%s/oauth2/v2.0/authorize",
	  "https://outlook.office.com/SMTP.Send offline_access", NULL },
	/* Google refuses the mail scope in its device flow: the login uses
	 * the loopback redirect. */
	{ "google",
	  "https://oauth2.googleapis.com/token",
	  NULL,
	  "https://accounts.google.com/o/oauth2/v2/auth",
	  "https://mail.google.com/", "access_type=offline&prompt=consent" },
};

/* The template with its "%s" replaced by the tenant. */
static char *
expand(const char *tmpl, const char *tenant)
{
	const char *at = tmpl ? strstr(tmpl, "%s") : NULL;
	struct buf b;

	if (tmpl == NULL)
		return NULL;
	if (at == NULL)
		return str_dup(tmpl);
	buf_init(&b, 4096);
	buf_append(&b, tmpl, (size_t)(at - tmpl));
	buf_puts(&b, tenant);
	buf_puts(&b, at + 2);
	return buf_take(&b);
}

int
oauth2http_init(struct oauth2http *h, const struct account *a, struct err *e)
{
	const char *tenant = a->oauth2_tenant ? a->oauth2_tenant : "common";
	const struct provider *p = NULL;

	memset(h, 0, sizeof *h);
	/* The tenant becomes part of a URL's path: a name or a GUID. */
	if (tenant[strspn(tenant, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")] != '\0')
		return err_set(e, EX_CONFIG, "account %s: oauth2_tenant: \"%s\" is "
		    "not a tenant name or id", a->name, tenant);
	for (size_t i = 0; i < sizeof providers / sizeof providers[0]; i++)
		if (strcmp(a->oauth2_provider, providers[i].name) == 0)
			p = &providers[i];
	if (p) {
		h->token_url = expand(p->token, tenant);
		h->device_url = expand(p->device, tenant);
		h->auth_url = expand(p->auth, tenant);
		h->scope = str_dup(a->oauth2_scope ? a->oauth2_scope : p->scope);
		h->auth_extra = p->auth_extra;
	} else {
		h->token_url = str_dup(a->oauth2_token_url);
		h->device_url = str_dup(a->oauth2_device_url);
		h->auth_url = str_dup(a->oauth2_auth_url);
		h->scope = str_dup(a->oauth2_scope);
	}
	h->client_id = str_dup(a->oauth2_client_id);
	h->ca_file = a->tls_trust_file && *a->tls_trust_file ?
	    str_dup(a->tls_trust_file) : NULL;
	h->timeout = a->timeout;
	if (h->token_url == NULL || h->client_id == NULL ||
	    (h->scope == NULL && (p || a->oauth2_scope))) {
		oauth2http_free(h);
		return err_set(e, EX_OSERR, "out of memory");
	}
	return 0;
}

void
oauth2http_free(struct oauth2http *h)
{
	free(h->token_url);
	free(h->device_url);
	free(h->auth_url);
	free(h->scope);
	free(h->client_id);
	wipe_free(h->client_secret);
	free(h->ca_file);
	memset(h, 0, sizeof *h);
}

/* ------------------------------------------------------------------ */
/* Parsing responses. */

/* Server text for a message: printable ASCII, cut. */
static void
clean_text(const char *s, char *out, size_t size)
{
	size_t n = 0;

	for (; s && *s && n + 1 < size && n < OAUTH2HTTP_TEXT_MAX; s++)
		out[n++] = *s >= 0x20 && *s < 0x7f ? *s : '?';
	out[n] = '\0';
}

static int
bad_field(struct err *e, const char *what, const char *field)
{
	return err_set(e, EX_PROTOCOL, "malformed %s response: %s", what, field);
}

static json_t *
load_object(const char *body, size_t len, const char *what, struct err *e)
{
	json_error_t je;
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);

	if (j == NULL) {
		/* Not je.text: it quotes the text near the fault, which
		 * may be a token. */
		err_set(e, EX_PROTOCOL, "malformed %s response: not JSON (line "
		    "%d, column %d)", what, je.line, je.column);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		bad_field(e, what, "not a JSON object");
		return NULL;
	}
	return j;
}

/* A string member: absent is fine (*out NULL) unless required. */
static int
get_string(json_t *j, const char *key, int required, char **out,
    const char *what, struct err *e)
{
	json_t *v = json_object_get(j, key);
	char field[64];

	*out = NULL;
	snprintf(field, sizeof field, "%s %s", key, v ? "is not a non-empty "
	    "string" : "is missing");
	if (v == NULL && !required)
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > OAUTH2_TOKEN_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return bad_field(e, what, field);
	if ((*out = str_dup(json_string_value(v))) == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	return 0;
}

/* A count of seconds: an integer, or (Azure AD v1 did) a string of
 * digits. Absent: *out = dflt. */
static int
get_seconds(json_t *j, const char *key, long dflt, long *out, const char *what,
    struct err *e)
{
	json_t *v = json_object_get(j, key);
	char field[64];
	long n;

	snprintf(field, sizeof field, "%s is not a number of seconds", key);
	*out = dflt;
	if (v == NULL)
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) <= 10L * 366 * 86400)
		*out = (long)json_integer_value(v);
	else if (json_is_string(v) && parse_long(json_string_value(v), 0,
	    10L * 366 * 86400, &n) == 0)
		*out = n;
	else
		return bad_field(e, what, field);
	return 0;
}

/* An error response (RFC 6749 5.2, RFC 8628 3.5). */
static int
token_error(long status, json_t *j, struct err *e)
{
	static const struct { const char *code; int ex; const char *why; } codes[] = {
		{ "invalid_grant", EX_NOPERM, "the provider refused the grant" },
		{ "access_denied", EX_NOPERM, "the login was refused" },
		{ "expired_token", EX_NOPERM, "the login code expired" },
		{ "invalid_client", EX_CONFIG, "the provider refused the client "
		  "(oauth2_client_id, oauth2_client_secret)" },
		{ "unauthorized_client", EX_CONFIG, "the client may not use this "
		  "grant (check the app registration)" },
		{ "invalid_scope", EX_CONFIG, "the provider refused the scope "
		  "(oauth2_scope)" },
	};
	json_t *v = json_object_get(j, "error");
	const char *code = json_is_string(v) ? json_string_value(v) : NULL;
	char desc[OAUTH2HTTP_TEXT_MAX + 1], ccode[64];

	if (code == NULL)
		return err_set(e, EX_PROTOCOL, "malformed token response: HTTP "
		    "%ld without an error code", status);
	if (strcmp(code, "authorization_pending") == 0)
		return OAUTH2_PENDING;
	if (strcmp(code, "slow_down") == 0)
		return OAUTH2_SLOW_DOWN;
	v = json_object_get(j, "error_description");
	clean_text(json_is_string(v) ? json_string_value(v) : NULL, desc,
	    sizeof desc);
	clean_text(code, ccode, sizeof ccode);
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
		if (strcmp(code, codes[i].code) == 0)
			return err_set(e, codes[i].ex, "%s (%s%s%s)", codes[i].why,
			    ccode, *desc ? ": " : "", desc);
	return err_set(e, EX_PROTOCOL, "token endpoint error %s%s%s (HTTP %ld)",
	    ccode, *desc ? ": " : "", desc, status);
}

int
oauth2http_parse_token(long status, const char *body, size_t len,
    struct oauth2_grant *g, struct err *e)
{
	const char *what = "token";
	json_t *j, *type;
	int r;

	memset(g, 0, sizeof *g);
	if (status >= 500 || status == 429)
		return err_set(e, EX_TEMPFAIL, "token endpoint: HTTP %ld", status);
	if ((j = load_object(body, len, what, e)) == NULL)
		return -1;
	if (status != 200) {
		r = token_error(status, j, e);
		json_decref(j);
		return r;
	}
	type = json_object_get(j, "token_type");
	if (!json_is_string(type) || strcasecmp(json_string_value(type), "Bearer") != 0)
		r = bad_field(e, what, "token_type is not Bearer");
	else if ((r = get_string(j, "access_token", 1, &g->access_token, what, e)) == 0 &&
	    (r = get_string(j, "refresh_token", 0, &g->refresh_token, what, e)) == 0)
		r = get_seconds(j, "expires_in", 0, &g->expires_in, what, e);
	json_decref(j);
	if (r < 0)
		oauth2_grant_clear(g);
	return r;
}

int
oauth2http_parse_device(long status, const char *body, size_t len,
    struct oauth2_device *d, struct err *e)
{
	const char *what = "device authorization";
	json_t *j;
	int r;

	memset(d, 0, sizeof *d);
	if (status >= 500 || status == 429)
		return err_set(e, EX_TEMPFAIL, "device authorization endpoint: "
		    "HTTP %ld", status);
	if ((j = load_object(body, len, what, e)) == NULL)
		return -1;
	if (status != 200) {
		r = token_error(status, j, e);
		json_decref(j);
		return r < 0 ? -1 : err_set(e, EX_PROTOCOL, "device "
		    "authorization endpoint: HTTP %ld", status);
	}
	if ((r = get_string(j, "device_code", 1, &d->device_code, what, e)) == 0 &&
	    (r = get_string(j, "user_code", 1, &d->user_code, what, e)) == 0 &&
	    (r = get_string(j, "verification_uri", 0, &d->verification_uri, what, e)) == 0 &&
	    (r = get_string(j, "verification_uri_complete", 0,
	    &d->verification_uri_complete, what, e)) == 0 &&
	    (r = get_seconds(j, "expires_in", 0, &d->expires_in, what, e)) == 0)
		r = get_seconds(j, "interval", 5, &d->interval, what, e);
	/* Google names it verification_url. */
	if (r == 0 && d->verification_uri == NULL &&
	    (r = get_string(j, "verification_url", 1, &d->verification_uri, what, e)) < 0)
		r = bad_field(e, what, "verification_uri is missing");
	if (r == 0 && d->expires_in == 0)
		r = bad_field(e, what, "expires_in is missing");
	json_decref(j);
	if (r < 0)
		oauth2_device_free(d);
	return r;
}

void
oauth2_device_free(struct oauth2_device *d)
{
	wipe_free(d->device_code);
	free(d->user_code);
	free(d->verification_uri);
	free(d->verification_uri_complete);
	memset(d, 0, sizeof *d);
}

/* ------------------------------------------------------------------ */
/* libcurl, loaded when the first request is made. */

static struct curl_api {
	void *lib;
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_cleanup)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
} api;

static int
curl_load(struct err *e)
{
	static const struct { const char *name; size_t off; } syms[] = {
#define S(n, m) { n, offsetof(struct curl_api, m) }
		S("curl_easy_init", easy_init), S("curl_easy_setopt", easy_setopt),
		S("curl_easy_perform", easy_perform), S("curl_easy_getinfo", easy_getinfo),
		S("curl_easy_cleanup", easy_cleanup), S("curl_easy_strerror", easy_strerror),
		S("curl_slist_append", slist_append), S("curl_slist_free_all", slist_free_all),
#undef S
	};
	void *lib;

	if (api.lib)
		return 0;
	if ((lib = dlopen(OAUTH2_CURL_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL)
		return err_set(e, EX_OSFILE, "cannot load %s for OAuth 2.0 "
		    "(install libcurl's GnuTLS build): %s", OAUTH2_CURL_SONAME,
		    dlerror());
	for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
		void *f = dlsym(lib, syms[i].name);

		if (f == NULL) {
			dlclose(lib);
			return err_set(e, EX_OSFILE, "%s has no %s",
			    OAUTH2_CURL_SONAME, syms[i].name);
		}
		memcpy((char *)&api + syms[i].off, &f, sizeof f);
	}
	api.lib = lib;
	return 0;
}

static size_t
on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct buf *b = ctx;

	/* Returning less than given aborts the transfer (CURLE_WRITE_ERROR). */
	return buf_append(b, p, n) < 0 ? 0 : n;
}

/* key=value&... with RFC 3986 unreserved bytes kept, the rest %XX. */
static void
form_add(struct buf *b, const char *key, const char *value)
{
	if (value == NULL)
		return;
	buf_printf(b, "%s%s=", b->len ? "&" : "", key);
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p))
			buf_putc(b, (char)*p);
		else
			buf_printf(b, "%%%02X", *p);
	}
}

/* Every option is required: one libcurl does not know (older than
 * 7.85: CURLOPT_PROTOCOLS_STR) must not leave plain http allowed. */
static int
set_options(const struct oauth2http *h, CURL *c, const char *url,
    const char *form, struct buf *body, struct curl_slist *hdrs)
{
	CURLcode rc = CURLE_OK;

#define SET(opt, v) do { if (rc == CURLE_OK) rc = api.easy_setopt(c, opt, v); } while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (h->ca_file)
		SET(CURLOPT_CAINFO, h->ca_file);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT, h->timeout);
	SET(CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
	SET(CURLOPT_HTTPHEADER, hdrs);
	SET(CURLOPT_POSTFIELDS, form);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, body);
#undef SET
	return rc == CURLE_OK ? 0 : -1;
}

/* POST form to url; *status and body get the answer. Transport failures
 * are temporary: the provider may be back on the next queue run. */
static int
post(const struct oauth2http *h, const char *url, const char *form,
    long *status, struct buf *body, struct err *e)
{
	struct curl_slist *hdrs;
	CURLcode rc;
	CURL *c;

	if (curl_load(e) < 0)
		return -1;
	if ((c = api.easy_init()) == NULL)
		return err_set(e, EX_OSERR, "libcurl: cannot start a request");
	hdrs = api.slist_append(NULL, "Accept: application/json");
	if (set_options(h, c, url, form, body, hdrs) < 0) {
		api.easy_cleanup(c);
		api.slist_free_all(hdrs);
		return err_set(e, EX_OSFILE, "%s is too old for envoi (it needs "
		    "7.85 or later)", OAUTH2_CURL_SONAME);
	}
	rc = api.easy_perform(c);
	*status = 0;
	if (rc == CURLE_OK)
		api.easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	api.easy_cleanup(c);
	api.slist_free_all(hdrs);
	if (rc == CURLE_WRITE_ERROR)
		return err_set(e, EX_PROTOCOL, "%s: response larger than %d bytes",
		    url, OAUTH2HTTP_BODY_MAX);
	if (rc != CURLE_OK)
		return err_set(e, EX_TEMPFAIL, "%s: %s", url, api.easy_strerror(rc));
	return 0;
}

/* One token endpoint request with the form's grant. */
static int
token_request(struct oauth2http *h, struct buf *form, struct oauth2_grant *g,
    struct err *e)
{
	struct buf body;
	long status;
	int r;

	if (h->client_secret == NULL && h->get_secret &&
	    h->get_secret(h->account, &h->client_secret, e) < 0) {
		buf_wipe(form);
		return -1;
	}
	form_add(form, "client_id", h->client_id);
	form_add(form, "client_secret", h->client_secret);
	buf_init(&body, OAUTH2HTTP_BODY_MAX);
	if (form->data == NULL)
		r = err_set(e, EX_OSERR, "out of memory");
	else if ((r = post(h, h->token_url, form->data, &status, &body, e)) == 0)
		r = oauth2http_parse_token(status, body.data ? body.data : "",
		    body.len, g, e);
	buf_wipe(&body);
	buf_wipe(form);
	return r;
}

int
oauth2http_refresh(void *ctx, const char *refresh_token, struct oauth2_grant *g,
    struct err *e)
{
	struct oauth2http *h = ctx;
	struct buf form;
	int r;

	buf_init(&form, 4 * OAUTH2_TOKEN_MAX);
	form_add(&form, "grant_type", "refresh_token");
	form_add(&form, "refresh_token", refresh_token);
	r = token_request(h, &form, g, e);
	if (r > 0)      /* pending, slow_down: not answers to a refresh */
		r = err_set(e, EX_PROTOCOL, "malformed token response: error "
		    "code of the device flow to a refresh");
	if (r == 0)
		h->refreshes++;
	return r;
}

int
oauth2http_device_start(struct oauth2http *h, struct oauth2_device *d,
    struct err *e)
{
	struct buf form, body;
	long status;
	int r;

	memset(d, 0, sizeof *d);
	if (h->device_url == NULL)
		return err_set(e, EX_CONFIG, "this provider has no device "
		    "authorization endpoint");
	buf_init(&form, 4096);
	form_add(&form, "client_id", h->client_id);
	form_add(&form, "scope", h->scope);
	buf_init(&body, OAUTH2HTTP_BODY_MAX);
	if (form.data == NULL)
		r = err_set(e, EX_OSERR, "out of memory");
	else if ((r = post(h, h->device_url, form.data, &status, &body, e)) == 0)
		r = oauth2http_parse_device(status, body.data ? body.data : "",
		    body.len, d, e);
	buf_wipe(&body);
	buf_free(&form);
	return r;
}

int
oauth2http_device_poll(struct oauth2http *h, const struct oauth2_device *d,
    struct oauth2_grant *g, struct err *e)
{
	time_t deadline = time(NULL) + d->expires_in;
	long interval = d->interval > 0 ? d->interval : 5;
	struct buf form;
	int r;

	for (;;) {
		struct timespec ts = { interval, 0 };

		if (time(NULL) + interval > deadline)
			return err_set(e, EX_NOPERM, "the login code expired before "
			    "it was used; run envoi --oauth2-login again");
		nanosleep(&ts, NULL);
		buf_init(&form, 4 * OAUTH2_TOKEN_MAX);
		form_add(&form, "grant_type", "urn:ietf:params:oauth:grant-type:device_code");
		form_add(&form, "device_code", d->device_code);
		r = token_request(h, &form, g, e);
		if (r == OAUTH2_SLOW_DOWN)      /* RFC 8628 3.5: 5 s more */
			interval += 5;
		else if (r != OAUTH2_PENDING)
			return r;
	}
}

/* ------------------------------------------------------------------ */
/* An account's token. */

/* The account's client and store; *path malloc'd (free it). */
static int
account_setup(const struct account *a,
    oauth2_secret_fn *get_secret,
    struct oauth2http *h, struct oauth2_store *s, char **path, struct err *e)
{
	char *home;

	if (oauth2http_init(h, a, e) < 0)
		return -1;
	h->get_secret = get_secret;
	h->account = a;
	home = conf_home();
	*path = oauth2_store_path(a->name, home, 1, e);
	free(home);
	if (*path == NULL) {
		oauth2http_free(h);
		return -1;
	}
	memset(s, 0, sizeof *s);
	s->path = *path;
	s->account = a->name;
	s->token_url = h->token_url;
	s->client_id = h->client_id;
	s->lock_wait = a->timeout > 0 ? a->timeout : CONF_TIMEOUT_DEFAULT;
	s->refresh = oauth2http_refresh;
	s->refresh_ctx = h;
	return 0;
}

/* The authorization request URL (RFC 6749 4.1.1 with RFC 7636 4.3). */
static char *
auth_request_url(const struct oauth2http *h, const struct oauth2_loop *l,
    const char *redirect)
{
	struct buf b;
	char *q;

	buf_init(&b, 4 * OAUTH2_TOKEN_MAX);
	form_add(&b, "response_type", "code");
	form_add(&b, "client_id", h->client_id);
	form_add(&b, "redirect_uri", redirect);
	form_add(&b, "scope", h->scope);
	form_add(&b, "state", l->state);
	form_add(&b, "code_challenge", l->challenge);
	form_add(&b, "code_challenge_method", "S256");
	if (h->auth_extra)
		buf_printf(&b, "&%s", h->auth_extra);
	if ((q = buf_take(&b)) == NULL)
		return NULL;
	buf_init(&b, 8 * OAUTH2_TOKEN_MAX);
	buf_printf(&b, "%s%c%s", h->auth_url, strchr(h->auth_url, '?') ? '&' : '?', q);
	free(q);
	return buf_take(&b);
}

/*
 * The authorization code grant with PKCE and a loopback redirect (RFC
 * 8252): the user opens the URL shown, signs in, and the browser brings
 * the code to 127.0.0.1; it is exchanged with the verifier for *g.
 */
static int
login_browser(struct oauth2http *h,
    void (*show)(void *ctx, const char *uri, const char *user_code,
        const char *complete_uri),
    void *ctx, struct oauth2_grant *g, struct err *e)
{
	struct oauth2_loop l;
	struct buf form;
	char redirect[64], *url, *code;
	int r;

	if (oauth2loop_open(&l, e) < 0)
		return -1;
	/* RFC 8252 7.3: the IP literal, not "localhost", and any port. */
	snprintf(redirect, sizeof redirect, "http://127.0.0.1:%u/", l.port);
	if ((url = auth_request_url(h, &l, redirect)) == NULL) {
		oauth2loop_close(&l);
		return err_set(e, EX_OSERR, "out of memory");
	}
	show(ctx, url, NULL, NULL);
	free(url);
	r = oauth2loop_wait(&l, time(NULL) + OAUTH2HTTP_BROWSER_WAIT, &code, e);
	if (r == 0) {
		buf_init(&form, 4 * OAUTH2_TOKEN_MAX);
		form_add(&form, "grant_type", "authorization_code");
		form_add(&form, "code", code);
		form_add(&form, "redirect_uri", redirect);
		form_add(&form, "code_verifier", l.verifier);
		wipe_free(code);
		r = token_request(h, &form, g, e);
		if (r > 0)      /* pending, slow_down: device flow only */
			r = err_set(e, EX_PROTOCOL, "malformed token response: "
			    "error code of the device flow to a code exchange");
	}
	oauth2loop_close(&l);
	return r;
}

int
oauth2http_login(const struct account *a,
    oauth2_secret_fn *get_secret,
    void (*show)(void *ctx, const char *uri, const char *user_code,
        const char *complete_uri),
    void *ctx, struct err *e)
{
	struct oauth2_device d;
	struct oauth2_grant g;
	struct oauth2_store s;
	struct oauth2http h;
	char *path;
	int r;

	if (account_setup(a, get_secret, &h, &s, &path, e) < 0)
		return -1;
	memset(&g, 0, sizeof g);
	if (h.device_url == NULL && h.auth_url == NULL) {
		r = err_set(e, EX_CONFIG, "account %s: the provider has neither "
		    "a device nor an authorization endpoint", a->name);
	} else if (h.device_url == NULL) {
		r = login_browser(&h, show, ctx, &g, e);
		if (r == 0)
			r = oauth2_store_login(&s, &g, e);
	} else if ((r = oauth2http_device_start(&h, &d, e)) == 0) {
		show(ctx, d.verification_uri, d.user_code,
		    d.verification_uri_complete);
		r = oauth2http_device_poll(&h, &d, &g, e);
		if (r == 0)
			r = oauth2_store_login(&s, &g, e);
		oauth2_device_free(&d);
	}
	oauth2_grant_clear(&g);
	free(path);
	oauth2http_free(&h);
	return r;
}

int
oauth2http_account_token(const struct account *a,
    oauth2_secret_fn *get_secret,
    const char *refused, char **token, int *refreshed, struct err *e)
{
	struct oauth2_store s;
	struct oauth2http h;
	char *path;
	int r;

	*token = NULL;
	if (refreshed)
		*refreshed = 0;
	if (account_setup(a, get_secret, &h, &s, &path, e) < 0)
		return -1;
	r = oauth2_token(&s, refused, token, e);
	if (refreshed)
		*refreshed = h.refreshes > 0;
	free(path);
	oauth2http_free(&h);
	return r;
}
