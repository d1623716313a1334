/*
 * cred.h - where a secret comes from: the `password` directive, the
 * `passwordeval` command (run by cmd.h), or ~/.netrc, or for an account
 * with oauth2_provider the OAuth 2.0 token store (oauth2http.h, which asks
 * back here for the client secret: oauth2_client_secret or the
 * oauth2_client_secret_eval command).
 *
 * Owns: every copy of a secret it makes. Secrets are returned in memory
 * the caller gives back with cred_free, which wipes before freeing; the
 * intermediate buffers are wiped too.
 *
 * Never: logs, prints or puts a secret (or the command that produced it,
 * which may contain one) into an error message; exits. Commands run with
 * stdin from /dev/null, because envoi's stdin is the message, and with
 * their stderr captured: only its first line is shown, in the error
 * message when the command fails.
 */
#ifndef ENVOI_CRED_H
#define ENVOI_CRED_H

#include <stddef.h>

#include "cmd.h"
#include "err.h"

struct account;

/* Longest secret a command may print: OAuth access tokens run to a few
 * kilobytes (Microsoft's are ~2-3 KB); 16 KB leaves room without letting a
 * runaway command fill memory. */
#define CRED_SECRET_MAX 16384

/* Longest ~/.netrc file read; larger ones are ignored with an error. */
#define CRED_NETRC_MAX (1024 * 1024)

/*
 * The account's secret: for an account with oauth2_provider, its access
 * token (oauth2http_account_token: refreshed first when it is valid for
 * less than a minute; its errors, oauth2.h); else `password` if set, else
 * the first line of
 * `passwordeval`'s output (run through /bin/sh -c; trailing CR/LF
 * removed), else the password of the ~/.netrc (or $NETRC) entry for the
 * account's host and user, else none (*secret = NULL, return 0).
 * A failing passwordeval is the configuration's fault, reported to the
 * caller (exit 78) rather than retried: any non-zero exit, death by a
 * signal the command raised itself (SIGSEGV, SIGABRT, ...), empty output
 * or a line longer than CRED_SECRET_MAX is EX_CONFIG, with the exit status
 * (or signal) and the first line of the command's stderr in the message.
 * Only a command killed from outside (SIGKILL, SIGTERM, SIGINT, SIGHUP:
 * the OOM killer, a shutdown, a timeout wrapper) is EX_TEMPFAIL.
 * A netrc that has an entry for the account must be the caller's (root:
 * root's) with no group or other permission bits, else EX_CONFIG.
 * The caller releases *secret with cred_free.
 */
int cred_get_secret(const struct account *a, char **secret, struct err *e);

/*
 * The OAuth 2.0 client secret of an oauth2_provider account, for
 * oauth2http (asked only when a token request is made):
 * oauth2_client_secret, or the first line of oauth2_client_secret_eval
 * (run and judged as passwordeval), or NULL for a public client.
 */
int cred_oauth2_client_secret(const struct account *a, char **secret,
    struct err *e);

/* Wipe and free a secret; NULL is fine. */
void cred_free(char *secret);

/*
 * Look up host (and user, when not NULL) in a netrc-format text; on a
 * match set *password to a malloc'd copy (cred_free it) and return 1;
 * return 0 when nothing matches. Pure: exposed for the tests.
 */
int cred_netrc_lookup(const char *text, const char *host, const char *user,
    char **password);

#endif
