/*
 * cred.h - where a secret comes from: the `password` directive, the
 * `passwordeval` command, or ~/.netrc; and running a command for one line
 * of output (shared with conf.c's `eval`).
 *
 * Owns: every copy of a secret it makes. Secrets are returned in memory
 * the caller gives back with cred_free, which wipes before freeing; the
 * intermediate buffers are wiped too.
 *
 * Never: logs, prints or puts a secret (or the command that produced it,
 * which may contain one) into an error message; exits. Commands run with
 * stdin from /dev/null, because envoi's stdin is the message.
 */
#ifndef ENVOI_CRED_H
#define ENVOI_CRED_H

#include <stddef.h>

#include "err.h"

struct account;

/* Longest secret a command may print: OAuth access tokens run to a few
 * kilobytes (Microsoft's are ~2-3 KB); 16 KB leaves room without letting a
 * runaway command fill memory. */
#define CRED_SECRET_MAX 16384

/* Longest ~/.netrc file read; larger ones are ignored with an error. */
#define CRED_NETRC_MAX (1024 * 1024)

/*
 * The account's secret: `password` if set, else the first line of
 * `passwordeval`'s output (run through /bin/sh -c; trailing CR/LF
 * removed), else the password of the ~/.netrc (or $NETRC) entry for the
 * account's host and user, else none (*secret = NULL, return 0).
 * passwordeval: exit 126/127 (not found), empty output or a line longer
 * than CRED_SECRET_MAX is EX_CONFIG; another non-zero exit or death by a
 * signal is EX_TEMPFAIL (a locked keyring or absent agent may work
 * later, and a queued message is then retried rather than lost).
 * The caller releases *secret with cred_free.
 */
int cred_get_secret(const struct account *a, char **secret, struct err *e);

/* Wipe and free a secret; NULL is fine. */
void cred_free(char *secret);

/*
 * Run cmd through /bin/sh -c with stdin from /dev/null and stderr
 * inherited; read its whole stdout and keep the first line (without
 * CR/LF), at most max bytes. *status is the waitpid status.
 * Returns 0 when the command ran (whatever its exit status; see *status),
 * or -1 with EX_OSERR (cannot start it) or EX_CONFIG (first line longer
 * than max; *line is NULL then). *line is malloc'd; release it with
 * cred_free (it may be a secret).
 */
int cred_run_command(const char *cmd, size_t max, char **line, int *status,
    struct err *e);

/*
 * Look up host (and user, when not NULL) in a netrc-format text; on a
 * match set *password to a malloc'd copy (cred_free it) and return 1;
 * return 0 when nothing matches. Pure: exposed for the tests.
 */
int cred_netrc_lookup(const char *text, const char *host, const char *user,
    char **password);

#endif
