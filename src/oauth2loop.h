/*
 * oauth2loop.h - the browser side of the authorization code grant for
 * native applications: PKCE (RFC 7636, method S256) and the loopback
 * redirect (RFC 8252 section 7.3) that brings the code back to envoi.
 *
 * Owns: the listening socket on 127.0.0.1 (an ephemeral port, chosen by
 * the kernel), the state and code verifier (random, from GnuTLS), the
 * parsing of the one HTTP request line a redirect is, and the short page
 * the browser shows afterwards.
 *
 * Accepts exactly one redirect: a request for "/" whose state matches
 * (then the code, or the provider's error, ends the wait and the listener
 * is closed). Anything else (another path, a missing or wrong state, a
 * request that is not GET) is answered 404 or 400 and the wait goes on:
 * a stray request from another local program cannot end the login, and
 * without the state it cannot inject a code either.
 *
 * Never: prints or logs the code, the state or the verifier; listens on
 * anything but 127.0.0.1; reads more than OAUTH2LOOP_REQUEST_MAX bytes of
 * a request; waits past the caller's deadline; exits.
 */
#ifndef ENVOI_OAUTH2LOOP_H
#define ENVOI_OAUTH2LOOP_H

#include <stddef.h>
#include <time.h>

#include "err.h"

/* The request head read from the browser: its request line carries the
 * code (a few hundred bytes at most providers; Microsoft's ~1 KB). */
#define OAUTH2LOOP_REQUEST_MAX 8192

/* Seconds one connection may take to send its request head, so that an
 * idle connection cannot hold the single-threaded wait. */
#define OAUTH2LOOP_CONN_TIMEOUT 10

/* 32 random bytes in base64url without padding: 43 characters, the
 * shortest verifier RFC 7636 allows with 256 bits in it. */
#define OAUTH2LOOP_B64_32 44

struct oauth2_loop {
	int fd;                                 /* the listener; -1: closed */
	unsigned port;
	char state[OAUTH2LOOP_B64_32];
	char verifier[OAUTH2LOOP_B64_32];       /* PKCE code_verifier */
	char challenge[OAUTH2LOOP_B64_32];      /* its S256 code_challenge */
};

/*
 * Listen on 127.0.0.1 (any free port) and make a fresh state and verifier.
 * Returns 0, or -1 with EX_OSERR (socket, random source).
 */
int oauth2loop_open(struct oauth2_loop *l, struct err *e);

/*
 * Wait until deadline (Unix time) for the one redirect (above). On the
 * code: 0, *code malloc'd (wipe and free it). The provider's error with
 * the right state (error=access_denied: the user refused): EX_NOPERM with
 * the error code. Deadline passed: EX_NOPERM ("run envoi --oauth2-login
 * again"). Socket failures: EX_OSERR.
 */
int oauth2loop_wait(struct oauth2_loop *l, time_t deadline, char **code,
    struct err *e);

/* Close the listener and wipe the state and verifier; idempotent. */
void oauth2loop_close(struct oauth2_loop *l);

/* What one request was (oauth2loop_parse). */
enum oauth2loop_verdict {
	OAUTH2LOOP_CODE,        /* *out: the code */
	OAUTH2LOOP_ERROR,       /* *out: the provider's error code */
	OAUTH2LOOP_BAD_STATE,   /* 400, keep waiting */
	OAUTH2LOOP_NOT_FOUND,   /* 404, keep waiting */
	OAUTH2LOOP_BAD_REQUEST, /* 400, keep waiting */
	OAUTH2LOOP_NOMEM,
};

/*
 * Judge one request head (pure; exposed for the unit tests): req is
 * NUL-terminated, state the expected one. *out (malloc'd, percent-decoded)
 * is set for CODE and ERROR only.
 */
enum oauth2loop_verdict oauth2loop_parse(const char *req, const char *state,
    char **out);

/* base64url (RFC 4648 section 5) of n bytes, without padding, into out
 * (room for 4 * ceil(n / 3) + 1 bytes). */
void oauth2loop_b64url(const unsigned char *in, size_t n, char *out);

/* The S256 code_challenge of a verifier (RFC 7636 section 4.2) into out
 * (OAUTH2LOOP_B64_32 bytes). Returns 0 or -1 (hash failure). */
int oauth2loop_challenge(const char *verifier, char *out);

#endif
