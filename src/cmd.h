/*
 * cmd.h - running a helper command for one line of its output: conf.c's
 * `eval` and cred.c's `passwordeval` (and any later `*eval` directive).
 *
 * Owns: the child (/bin/sh -c CMD, stdin from /dev/null, SIGPIPE back to
 * its default), both of its pipes, read together so that neither can
 * fill and block it, and the wiping of everything read (the line may be a
 * secret).
 *
 * Never: puts the command text into a message (it may hold a secret),
 * keeps more than the first line of stdout and of stderr, waits for a
 * process the command left behind, prints, or exits.
 */
#ifndef ENVOI_CMD_H
#define ENVOI_CMD_H

#include <stddef.h>

#include "err.h"

/* Longest part of a command's stderr kept for an error message: its first
 * line, cut here. A failing helper says why on that line ("gpg: decryption
 * failed: No secret key"); the rest is dropped, so that a failure stays
 * one line. */
#define CMD_ERRLINE_MAX 200

/* How a command ended: its waitpid status and the first non-empty line
 * of its stderr (control characters shown as '?'; "" when it printed
 * none). */
struct cmd_result {
	int status;
	char errline[CMD_ERRLINE_MAX + 1];
};

/*
 * Run cmd through /bin/sh -c with stdin from /dev/null; read its whole
 * stdout and keep the first line (without CR/LF), at most max bytes; keep
 * the first line of its stderr in res->errline and drop the rest (the
 * caller puts it in its one-line error). Once stdout has ended and the
 * command has exited, a process it left behind that still holds stderr
 * (an agent it started) is not waited for.
 * Returns 0 when the command ran (whatever its exit status; see res), or
 * -1 with EX_OSERR (cannot start it) or EX_CONFIG (first line longer than
 * max; *line is NULL then). *line is malloc'd; wipe it before freeing it
 * (it may be a secret: cred_free does both).
 */
int cmd_run(const char *cmd, size_t max, char **line, struct cmd_result *res,
    struct err *e);

/*
 * How a command that did not succeed ended, for a message: "exit status
 * 3: <its stderr line>", "exit status 127 (command not found): ...",
 * "killed by signal 9". Never includes the command text, which may hold
 * a secret. Returns buf.
 */
char *cmd_describe(const struct cmd_result *res, char *buf, size_t size);

#endif
