/*
 * Unit tests for src/cmd.c: running a helper command for one line of
 * its output (conf.c's eval, cred.c's passwordeval): the first lines of
 * stdout and stderr, how its end is described (never with the command
 * text), and the signal state it starts with.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "err.h"
#include "tap.h"

/* main ignores SIGPIPE; the command must not inherit that (Linux: its
 * ignored signals are a hex mask in /proc/PID/status, SIGPIPE bit 12). */
static void
test_sigpipe_default(void)
{
	struct cmd_result res;
	struct err e;
	char *line = NULL;
	unsigned long long mask = ~0ULL;

	signal(SIGPIPE, SIG_IGN);
	err_init(&e);
	is_int(cmd_run("grep '^SigIgn:' /proc/$$/status", 100, &line, &res, &e),
	    0, "run a command while envoi ignores SIGPIPE");
	ok(line != NULL && sscanf(line, "SigIgn: %llx", &mask) == 1 &&
	    (mask & (1ULL << (SIGPIPE - 1))) == 0,
	    "... the command gets SIGPIPE back at its default (%s)", line ? line : "");
	free(line);
	signal(SIGPIPE, SIG_DFL);
}

/* What is kept of a command's output and how its end is described. */
static void
test_run_command(void)
{
	/* "killed by signal 2" below needs SIGINT to kill: a test started in
	 * the background by a non-interactive shell inherits it ignored. */
	signal(SIGINT, SIG_DFL);
	static const struct {
		const char *cmd, *line, *errline, *how;
	} cases[] = {
		{ "echo out; echo err >&2", "out", "err", "exit status 0: err" },
		{ "echo out; printf 'e1\\ne2' >&2; exit 2", "out", "e1", "exit status 2: e1" },
		{ "printf 'x\\r\\nmore'", "x", "", "exit status 0" },
		{ "/nonexistent/cmd", "", "sh: 1: /nonexistent/cmd: not found",
		  "exit status 127 (command not found): sh: 1: /nonexistent/cmd: not found" },
		{ "kill -INT $$", "", "", "killed by signal 2" },
	};

	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		struct cmd_result res;
		struct err e;
		char *line = NULL, how[CMD_ERRLINE_MAX + 64];

		err_init(&e);
		is_int(cmd_run(cases[k].cmd, 100, &line, &res, &e), 0, "run \"%s\"",
		    cases[k].cmd);
		is_str(line, cases[k].line, "... its first line of output");
		/* Shells word the not-found line differently; dash's is used. */
		if (strstr(cases[k].cmd, "nonexistent") == NULL ||
		    strcmp(res.errline, cases[k].errline) == 0) {
			is_str(res.errline, cases[k].errline, "... its first line of stderr");
			is_str(cmd_describe(&res, how, sizeof how), cases[k].how,
			    "... described");
		} else {
			ok(strstr(res.errline, "/nonexistent/cmd") != NULL, "... stderr: %s",
			    res.errline);
			ok(strncmp(cmd_describe(&res, how, sizeof how), "exit status 127 "
			    "(command not found): ", 40) == 0, "... described: %s", how);
		}
		free(line);
	}
	test_sigpipe_default();
}

int
main(void)
{
	test_run_command();
	return done_testing();
}
