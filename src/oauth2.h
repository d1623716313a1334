/*
 * oauth2.h - OAuth 2.0 for SMTP AUTH (XOAUTH2, OAUTHBEARER): the token
 * store and the refresh policy. The client of the provider's endpoints
 * is oauth2http.h; cred.c asks it for an account's token.
 *
 * Design (issue 12). An account with oauth2_provider gets its access
 * token here instead of from passwordeval (cred.h). The user logs in once
 * (envoi --oauth2-login ACCOUNT: RFC 8628 device authorization grant, or
 * the authorization code grant with PKCE, RFC 7636, and a loopback
 * redirect, RFC 8252); the refresh token it yields is kept in the store
 * and every later run refreshes the access token from it silently.
 *
 * Owns:
 *   - the token store: one file per account, its format (below), its
 *     permission check, durable replacement (write, fsync, rename,
 *     directory fsync) and the lock that makes concurrent runs refresh
 *     once;
 *   - the refresh policy (oauth2_token): a stored access token still
 *     valid for OAUTH2_MIN_VALIDITY seconds is used as it is; otherwise,
 *     under the lock, the store is read again (another process may have
 *     refreshed meanwhile) and only then is the refresher called; a
 *     token the server refused is refreshed once (unless another process
 *     already replaced it);
 *   - the mapping of failures to exit codes (below) and the one line
 *     naming the login command.
 * The HTTP exchange itself is a function given to oauth2_token
 * (oauth2_refresh_fn): the unit tests inject a counting fake to prove
 * the locking; envoi gives the libcurl client, which is loaded only when
 * a refresh is due, so that a run with a valid token costs nothing more
 * than reading one small file.
 *
 * Never: prints or logs a token, code or client secret (not at -v, not in
 * an error message: messages name the file, the field or the account,
 * never a value); puts one in argv or the environment of a child; keeps
 * one in memory after use without wiping it (oauth2_tokens_clear); uses a
 * refreshed access token before the store holding its (possibly rotated)
 * refresh token is safely on disk: a rotated refresh token that is lost
 * would force a new login; follows a symbolic link to or reads a store
 * file that someone else could read or replace; exits.
 *
 * Where: $XDG_STATE_HOME/envoi/oauth2/ (default ~/.local/state/envoi/
 * oauth2/) for a user, LOCALSTATEDIR/lib/envoi/oauth2/ for root; the
 * directories are created 0700. One file per account, named by the
 * account's name with every byte outside [A-Za-z0-9_.@+-] (and a leading
 * '.') written %XX, so that no name can escape the directory.
 *
 * File format (text, one "KEY VALUE" per line, LF-terminated; a reader
 * can inspect and repair it by hand; values are printable ASCII, never
 * empty; a key appears at most once; unknown keys are ignored so that a
 * later version may add some):
 *   envoi-oauth2 1               first line: format and version
 *   token_url URL                the token endpoint that issued the grant
 *   client_id ID                 the client it was issued to
 *   refresh_token TOKEN          absent: no login (yet)
 *   access_token TOKEN           absent: none cached
 *   expires SECONDS              Unix time the access token expires
 * A grant is used only by the account's current token_url and client_id:
 * after either changes in the configuration the stored grant is ignored
 * and a new login is asked for.
 *
 * Safety of the file: opened with O_NOFOLLOW; it must be a regular file
 * owned by the effective uid with no group or other permission bits, else
 * it is refused (EX_CONFIG, naming the file and the chmod to run), never
 * silently repaired: a store others could read has leaked its tokens.
 * Written as FILE.XXXXXX (mkostemp, 0600), fsync'd, renamed over FILE,
 * and the directory fsync'd: a crash leaves the old or the new file.
 *
 * Locking protocol: the store file is replaced by rename, so readers
 * need no lock and never see half a file. Writers (a refresh, a login)
 * take flock(LOCK_EX) on FILE.lock (created 0600, never removed: removing
 * it would let two processes lock two different files), polled until the
 * caller's deadline. Under the lock a refresher reads the store again
 * before deciding to refresh: twenty cron jobs that find the same expired
 * token queue on the lock, the first refreshes and saves, and the other
 * nineteen find a valid token on re-reading and make no request.
 *
 * Exit codes (struct err; only main exits):
 *   EX_NOPERM (77)  no login yet, a grant for another client, or the
 *                   provider refused the refresh token (invalid_grant:
 *                   revoked or expired): "account NAME: ...; run: envoi
 *                   --oauth2-login NAME". A configuration fault: a queue
 *                   run keeps the entry, as for AUTH 535.
 *   EX_TEMPFAIL (75) token endpoint unreachable, timed out or 5xx;
 *                   another process holding the lock past the deadline.
 *   EX_PROTOCOL (76) a malformed token endpoint response, naming the
 *                   field that was wrong.
 *   EX_CONFIG (78)  a store file with loose permissions, of another
 *                   owner, not a regular file, or unreadable as a store.
 *   EX_IOERR (74), EX_CANTCREAT (73), EX_OSERR (71): the store could not
 *                   be written (the refreshed token is then not used).
 */
#ifndef ENVOI_OAUTH2_H
#define ENVOI_OAUTH2_H

#include <stddef.h>
#include <time.h>

#include "err.h"

/* An access token is used only while it stays valid this many seconds:
 * long enough to cover the connection, EHLO, STARTTLS and AUTH. */
#define OAUTH2_MIN_VALIDITY 60

/* Longest token (access or refresh) or store value. Microsoft's access
 * tokens run to 2-3 KB, Google's are far shorter. */
#define OAUTH2_TOKEN_MAX 16384

/* Largest store file read: a few tokens and URLs fit many times over. */
#define OAUTH2_STORE_MAX (4 * OAUTH2_TOKEN_MAX)

/* How often a waiter tries the lock again, in milliseconds. */
#define OAUTH2_LOCK_POLL_MS 20

/* What a store file holds; every string malloc'd (NULL = absent). */
struct oauth2_tokens {
	char *token_url, *client_id;
	char *refresh_token;
	char *access_token;
	long long expires;          /* Unix time; 0 = unknown (not used) */
};

/* What a token endpoint answered to a refresh (or a login). */
struct oauth2_grant {
	char *access_token;         /* required */
	char *refresh_token;        /* NULL: not rotated, keep the old one */
	long expires_in;            /* seconds; <= 0: not given (the token is
	                             * then used for this run only) */
};

/*
 * Exchange refresh_token for a new grant (RFC 6749 section 6). Returns 0
 * with *g filled (malloc'd strings the caller wipes), or -1 with *e: for
 * a refused refresh token (invalid_grant) EX_NOPERM, which oauth2_token
 * completes with the login command.
 */
typedef int oauth2_refresh_fn(void *ctx, const char *refresh_token,
    struct oauth2_grant *g, struct err *e);

/* One account's store and how to refresh it. */
struct oauth2_store {
	const char *path;           /* the store file (oauth2_store_path) */
	const char *account;        /* its account's name, for the hint */
	const char *token_url;      /* the grant's owner, as configured */
	const char *client_id;
	long lock_wait;             /* seconds to wait for the lock */
	oauth2_refresh_fn *refresh;
	void *refresh_ctx;
};

/*
 * The store file for account name: DIR/NAME-escaped, where DIR is root's
 * (getuid() 0) or the user's state directory under home (see above).
 * With create, the directories are made (0700). Returns a malloc'd path,
 * or NULL with EX_OSERR (no home, out of memory) or EX_CANTCREAT.
 */
char *oauth2_store_path(const char *name, const char *home, int create,
    struct err *e);

/*
 * Read the store at path into *t (zeroed first). A missing file is not an
 * error: *t stays empty. Errors: EX_CONFIG (permissions, owner, not a
 * regular file, bad format: "FILE:LINE: ..."), EX_IOERR.
 */
int oauth2_store_load(const char *path, struct oauth2_tokens *t,
    struct err *e);

/* Replace the store at path with *t, durably (see above). The caller
 * holds the lock. Errors: EX_CANTCREAT, EX_IOERR, EX_SOFTWARE (a value
 * the format cannot hold). */
int oauth2_store_save(const char *path, const struct oauth2_tokens *t,
    struct err *e);

/* Take FILE.lock (path + ".lock") exclusively, waiting up to wait
 * seconds. Returns the descriptor (to oauth2_unlock) or -1 with
 * EX_TEMPFAIL (timed out) or EX_CANTCREAT. */
int oauth2_lock(const char *path, long wait, struct err *e);
void oauth2_unlock(int fd);

/*
 * The access token to send: see the policy above. refused is the token
 * the server just refused (NULL on a first attempt). On success *token
 * is a malloc'd copy the caller wipes and frees (cred_free). Errors: the
 * exit codes listed above.
 */
int oauth2_token(const struct oauth2_store *s, const char *refused,
    char **token, struct err *e);

/*
 * Save a login's grant (envoi --oauth2-login) as the account's store,
 * under the lock, replacing any earlier grant. Errors: as
 * oauth2_store_save, and EX_TEMPFAIL for the lock.
 */
int oauth2_store_login(const struct oauth2_store *s,
    const struct oauth2_grant *g, struct err *e);

/* Wipe and free every string; *t may be reused. */
void oauth2_tokens_clear(struct oauth2_tokens *t);
void oauth2_grant_clear(struct oauth2_grant *g);

#endif
