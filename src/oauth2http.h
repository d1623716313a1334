/*
 * oauth2http.h - the client of an OAuth 2.0 provider's endpoints: the
 * token endpoint (RFC 6749 section 6, refresh_token grant; section 4.1.3,
 * authorization_code grant with RFC 7636's code_verifier; RFC 8628
 * section 3.4, device_code grant) and the device authorization endpoint
 * (RFC 8628 section 3.1), over HTTPS through libcurl, with responses
 * parsed by Jansson.
 *
 * Owns: the provider table (microsoft, google: endpoint URLs and default
 * scopes; custom: the account's URLs), the form encoding of requests,
 * the authorization request of the browser login (its loopback receiver
 * and PKCE: oauth2loop.h), the parsing and validation of responses, and
 * the mapping of their
 * failures to exit codes:
 *   invalid_grant, access_denied, expired_token   EX_NOPERM (77)
 *   invalid_client, unauthorized_client           EX_CONFIG (78)
 *   no connection, timeout, HTTP 5xx, 429         EX_TEMPFAIL (75)
 *   anything else malformed (not JSON, a field missing or of the wrong
 *   type, an unknown error code)                  EX_PROTOCOL (76),
 *                                                  naming the field
 *   libcurl not installed                         EX_OSFILE (72)
 *
 * libcurl is loaded with dlopen (OAUTH2_CURL_SONAME, configure) by the
 * first request, never before: a run that needs no refresh maps none of
 * libcurl's dozen libraries. Requests go to https:// URLs only, redirects
 * are not followed, and the server's certificate and name are verified
 * against the account's tls_trust_file, else the system's store, as the
 * smarthost's are.
 *
 * Never: prints or logs a token, a code, the client secret or a request
 * body; copies server text into a message without cutting it to
 * OAUTH2HTTP_TEXT_MAX printable bytes; exits.
 */
#ifndef ENVOI_OAUTH2HTTP_H
#define ENVOI_OAUTH2HTTP_H

#include <stddef.h>

#include "err.h"
#include "oauth2.h"

struct account;

/* Largest response body read: token responses are a few KB. */
#define OAUTH2HTTP_BODY_MAX 65536
/* How long the browser login waits for its redirect: the user signs in,
 * perhaps with a second factor (the device flow's codes last as long). */
#define OAUTH2HTTP_BROWSER_WAIT 600
/* Most of the server's error_description quoted in a message. */
#define OAUTH2HTTP_TEXT_MAX 160

/* Gives the client secret of account a (cred_oauth2_client_secret):
 * *secret malloc'd, or NULL for a public client. */
typedef int oauth2_secret_fn(const struct account *a, char **secret,
    struct err *e);

/* Where and as whom: resolved from the account (oauth2http_init). */
struct oauth2http {
	char *token_url, *device_url, *auth_url;   /* NULL = none */
	char *scope;
	char *client_id;
	char *client_secret;    /* NULL = public client, or not asked for
	                         * yet (below); wiped on free */
	/* Where the client secret comes from, asked only when a request is
	 * made (it may run oauth2_client_secret_eval): NULL = none. */
	oauth2_secret_fn *get_secret;
	const struct account *account;
	char *ca_file;          /* NULL = the system's trust store */
	long timeout;           /* seconds per request; 0 = libcurl's */
	const char *auth_extra; /* the provider's extra authorization
	                         * request parameters (static), or NULL */
	int refreshes;          /* successful refresh_token grants made */
};

/*
 * Fill *h from a finalised account with oauth2_provider set. The client
 * secret is not read here (it may come from a command): the caller sets
 * client_secret. Returns 0 or -1 with EX_OSERR.
 */
int oauth2http_init(struct oauth2http *h, const struct account *a,
    struct err *e);
void oauth2http_free(struct oauth2http *h);

/*
 * The access token to send for account a (oauth2_provider set): its store
 * (oauth2_store_path, created if needed) under the refresh policy of
 * oauth2_token, refreshed through this client when due. get_secret gives
 * the client secret, and is called only when a request is made. refused:
 * as for oauth2_token. *token: wipe and free. *refreshed (when not NULL)
 * is set to 1 when this call refreshed the token at the provider, 0 when
 * the stored one (or one another run had just refreshed) was used: the
 * caller's -v line. Errors: oauth2_token's and this module's (above).
 */
int oauth2http_account_token(const struct account *a,
    oauth2_secret_fn *get_secret,
    const char *refused, char **token, int *refreshed, struct err *e);

/*
 * envoi --oauth2-login: the login for account a, whose grant then
 * replaces the account's store. With a device endpoint (microsoft, or
 * custom with oauth2_device_url): the device authorization grant (RFC
 * 8628); show(ctx, uri, user_code, complete_uri) tells the user where to
 * go (the caller prints; complete_uri may be NULL); then the token
 * endpoint is polled until the user approves, refuses or the code
 * expires. Without one (google, or custom with oauth2_auth_url only): the
 * authorization code grant with PKCE and a loopback redirect
 * (oauth2loop.h); show(ctx, url, NULL, NULL) gives the URL to open, and
 * the redirect is awaited for OAUTH2HTTP_BROWSER_WAIT seconds. Errors: as
 * above, and oauth2loop_wait's.
 */
int oauth2http_login(const struct account *a,
    oauth2_secret_fn *get_secret,
    void (*show)(void *ctx, const char *uri, const char *user_code,
        const char *complete_uri),
    void *ctx, struct err *e);

/* The refresh_token grant: an oauth2_refresh_fn, ctx a struct oauth2http. */
int oauth2http_refresh(void *ctx, const char *refresh_token,
    struct oauth2_grant *g, struct err *e);

/* What the device authorization endpoint answered (RFC 8628 3.2). */
struct oauth2_device {
	char *device_code;              /* secret: wiped on free */
	char *user_code, *verification_uri, *verification_uri_complete;
	long expires_in, interval;      /* interval defaults to 5 s */
};

int oauth2http_device_start(struct oauth2http *h, struct oauth2_device *d,
    struct err *e);
void oauth2_device_free(struct oauth2_device *d);

/* Results of parsing a token response, besides 0 and -1. */
enum {
	OAUTH2_PENDING = 1,     /* authorization_pending: poll again */
	OAUTH2_SLOW_DOWN = 2,   /* slow_down: poll again, 5 s slower */
};

/*
 * Poll the token endpoint until the user approves (0, *g filled), the
 * code expires (EX_NOPERM) or the user refuses (EX_NOPERM), following
 * authorization_pending and slow_down (RFC 8628 3.5).
 */
int oauth2http_device_poll(struct oauth2http *h, const struct oauth2_device *d,
    struct oauth2_grant *g, struct err *e);

/*
 * Parse a token endpoint's response (pure; exposed for the unit tests):
 * status is the HTTP status, body its body (len bytes, not necessarily
 * NUL-terminated). Returns 0 with *g filled, OAUTH2_PENDING,
 * OAUTH2_SLOW_DOWN, or -1 with *e as in the table above.
 */
int oauth2http_parse_token(long status, const char *body, size_t len,
    struct oauth2_grant *g, struct err *e);

/* Parse a device authorization response (pure; for the unit tests). */
int oauth2http_parse_device(long status, const char *body, size_t len,
    struct oauth2_device *d, struct err *e);

#endif
