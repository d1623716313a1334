/*
 * sasl.h - SASL client glue: which mechanism to use, and the responses it
 * produces, through libgsasl (PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1/256 and
 * their -PLUS variants, EXTERNAL) and this module's own code for the two
 * OAuth formats libgsasl lacks (XOAUTH2, OAUTHBEARER).
 *
 * Implements: RFC 4422 (SASL), RFC 4954 section 4 (initial responses, the
 * "=" for an empty one, 12288-octet lines), RFC 4616 (PLAIN), RFC 5802 and
 * RFC 7677 (SCRAM, via libgsasl), RFC 5929 / RFC 9266 (channel binding
 * types), RFC 7628 (OAUTHBEARER), Google's XOAUTH2 format.
 *
 * Owns: the mechanism choice for `auth on` (strongest first:
 * SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS (only with channel binding data),
 * SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, LOGIN, CRAM-MD5; EXTERNAL, XOAUTH2 and
 * OAUTHBEARER only when named), and the rule that a mechanism which hands
 * the password or token itself to the wire (PLAIN, LOGIN, XOAUTH2,
 * OAUTHBEARER) is never used without TLS.
 *
 * Never: performs network I/O, logs, prints, exits, or puts a secret into
 * an error message. Responses are base64 text ready to send; they contain
 * credentials, so the caller releases them with sasl_response_free (which
 * wipes). libgsasl keeps its own copy of the password inside its session
 * and frees it without wiping; sasl_free ends that session, so call it as
 * soon as the AUTH exchange is over.
 */
#ifndef ENVOI_SASL_H
#define ENVOI_SASL_H

#include <stddef.h>

#include "err.h"

/* RFC 4954 section 4: an AUTH command line, and any client response line,
 * may be up to 12288 octets (CRLF included). */
#define SASL_LINE_MAX 12288

/* SCRAM's iteration count (RFC 5802 5.1 "i="), which the server chooses:
 * real servers ask 4096 (Dovecot, RFC 7677's minimum) to a few hundred
 * thousand (OWASP's 600000 for PBKDF2-SHA256). Each costs the client CPU
 * time no network timeout bounds: at about a million a second, a hostile
 * server's i=4294967295 would hold envoi for over an hour. Above this the
 * exchange fails (EX_PROTOCOL). */
#define SASL_SCRAM_ITER_MAX 1000000

struct sasl;

struct sasl_params {
	const char *configured;    /* "on" = strongest both sides have, or a mechanism name
	                            * (case-insensitive) */
	int oauth;                 /* the secret is an OAuth 2.0 access token
	                            * (oauth2_provider): "on" chooses OAUTHBEARER,
	                            * else XOAUTH2, and nothing else */
	const char *server_mechs;  /* space-separated, from the EHLO AUTH capability */
	const char *user;          /* NULL allowed only for EXTERNAL */
	const char *secret;        /* password or OAuth token; never copied unwiped by envoi */
	const char *host;          /* server name, sent in OAUTHBEARER's host= */
	int port;                  /* sent in OAUTHBEARER's port=; 0 = omit */
	int tls_active;
	int cleartext_ok;          /* let PLAIN/LOGIN/OAuth go without TLS: set only for a
	                            * loopback server the configuration allows (tls off) */
	const char *cb_type;       /* "tls-exporter" / "tls-unique", NULL if none */
	const unsigned char *cb_data;
	size_t cb_len;
};

/*
 * Choose the mechanism and compute its initial response. *mech is a static
 * name ("SCRAM-SHA-256"); *initial_b64 is the malloc'd initial response to
 * put after it ("=" stands for an empty one), or NULL when the mechanism
 * has none (LOGIN, CRAM-MD5) or it would not fit SASL_LINE_MAX (it is then
 * produced by the first sasl_step). Free it with sasl_response_free.
 * Errors: EX_NOPERM "refusing to send credentials without TLS";
 * EX_UNAVAILABLE "server offers AUTH X Y; none usable (configured: Z)";
 * EX_CONFIG for an unknown mechanism name or a missing user/secret.
 * On failure *s is NULL.
 */
int sasl_start(struct sasl **s, const struct sasl_params *p, const char **mech,
    char **initial_b64, struct err *e);

/*
 * Answer the server's challenge (the base64 text after "334 ", possibly
 * empty). *response_b64 is malloc'd base64, possibly "" (send an empty
 * line); free it with sasl_response_free. Errors: EX_PROTOCOL for a
 * malformed challenge, one after the exchange finished, or a SCRAM
 * iteration count over SASL_SCRAM_ITER_MAX; EX_NOPERM when
 * the server fails SCRAM's proof of knowing the password.
 */
int sasl_step(struct sasl *s, const char *challenge_b64, char **response_b64,
    struct err *e);

/*
 * Call on the server's success reply (235). Returns 0 when our side of the
 * exchange is complete too; -1 (EX_PROTOCOL) when the server claims success
 * before it proved itself (a SCRAM server that skipped its final message:
 * accepting that would defeat mutual authentication and channel binding).
 */
int sasl_finish(struct sasl *s, struct err *e);

/* Wipe and free a response. NULL allowed. */
void sasl_response_free(char *response_b64);

/* End the exchange, wiping what this module holds. NULL allowed. */
void sasl_free(struct sasl *s);

#endif
