/* cmd.c - see cmd.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "cmd.h"
#include "log.h"

extern char **environ;

/* Start /bin/sh -c cmd with stdin from /dev/null and stdout and stderr
 * on the given pipe ends. SIGPIPE is back to its default in the child:
 * main ignores it for envoi's own sake, and an ignored signal is
 * inherited, so a helper such as "pass show x | head -1" would otherwise
 * see write errors where it expects to be stopped quietly.
 * Returns 0 or an errno value. */
static int
spawn_shell(const char *cmd, int out_fd, int err_fd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t dfl;
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	int r = posix_spawn_file_actions_init(&fa);

	if (r != 0)
		return r;
	if ((r = posix_spawnattr_init(&at)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return r;
	}
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	/* dup2 clears close-on-exec on the copy, so the child keeps only
	 * its own ends of the pipes. */
	if ((r = posix_spawnattr_setsigdefault(&at, &dfl)) == 0 &&
	    (r = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF)) == 0 &&
	    (r = posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO)) == 0 &&
	    (r = posix_spawn_file_actions_adddup2(&fa, err_fd, STDERR_FILENO)) == 0 &&
	    (r = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
	    O_RDONLY, 0)) == 0)
		r = posix_spawn(pid, "/bin/sh", &fa, &at, argv, environ);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return r;
}

/* What is read from a running command. */
struct cmd_io {
	int fd[2];              /* stdout, stderr; -1 once ended */
	struct buf out;         /* stdout's first line */
	int out_done, toolong;
	char *err;              /* stderr's first non-empty line */
	size_t errlen;
	int err_done;
};

/* Everything is read even past the first line, so that the command is
 * never killed by SIGPIPE half-way; only the first line is kept. */
static void
take_stdout(struct cmd_io *io, const char *p, size_t n)
{
	for (size_t i = 0; i < n && !io->out_done; i++) {
		if (p[i] == '\n')
			io->out_done = 1;
		else if (buf_putc(&io->out, p[i]) < 0)
			io->toolong = io->out_done = 1;
	}
}

static void
take_stderr(struct cmd_io *io, const char *p, size_t n)
{
	for (size_t i = 0; i < n && !io->err_done; i++) {
		if (p[i] == '\n' || p[i] == '\r')
			io->err_done = io->errlen > 0;
		else if (io->errlen < CMD_ERRLINE_MAX)
			io->err[io->errlen++] = p[i];
		else
			io->err_done = 1;
	}
}

/* Read one chunk from pipe k, or note its end. */
static void
pump_one(struct cmd_io *io, int k, char *chunk, size_t size)
{
	ssize_t n = read(io->fd[k], chunk, size);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close(io->fd[k]);
		io->fd[k] = -1;
	} else if (k == 0) {
		take_stdout(io, chunk, (size_t)n);
	} else {
		take_stderr(io, chunk, (size_t)n);
	}
}

/* Both pipes at once (either may fill and block the command), until
 * stdout ends and the command has exited (*reaped, with *status). */
static void
pump(struct cmd_io *io, pid_t pid, int *status, int *reaped)
{
	char chunk[512];
	int after = 0;

	while (io->fd[0] >= 0 || io->fd[1] >= 0) {
		struct pollfd pf[2] = {
			{ .fd = io->fd[0], .events = POLLIN },
			{ .fd = io->fd[1], .events = POLLIN },
		};
		int timeout = -1, r;

		if (io->fd[0] < 0) {
			/* stdout has ended. A process the command left behind
			 * (an agent it started) may hold stderr open for ever:
			 * wait for the command itself, then take only what
			 * its stderr already holds. */
			if (!*reaped && waitpid(pid, status, WNOHANG) == pid)
				*reaped = 1;
			if (*reaped && (io->err_done || after++ >= 64))
				break;
			timeout = *reaped ? 0 : 50;
		}
		r = poll(pf, 2, timeout);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || (r == 0 && *reaped))
			break;
		for (int k = 0; k < 2; k++)
			if (io->fd[k] >= 0 && pf[k].revents != 0)
				pump_one(io, k, chunk, sizeof chunk);
	}
	mem_wipe(chunk, sizeof chunk);
}

int
cmd_run(const char *cmd, size_t max, char **line, struct cmd_result *res,
    struct err *e)
{
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, reaped = 0, r;
	struct cmd_io io;
	pid_t pid;

	*line = NULL;
	memset(res, 0, sizeof *res);
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		r = errno;
		for (int k = 0; k < 2; k++) {
			if (out[k] >= 0)
				close(out[k]);
			if (errp[k] >= 0)
				close(errp[k]);
		}
		return err_set(e, EX_OSERR, "cannot create a pipe: %s", strerror(r));
	}
	r = spawn_shell(cmd, out[1], errp[1], &pid);
	close(out[1]);
	close(errp[1]);
	if (r != 0) {
		close(out[0]);
		close(errp[0]);
		return err_set(e, EX_OSERR, "cannot run /bin/sh: %s", strerror(r));
	}
	memset(&io, 0, sizeof io);
	io.fd[0] = out[0];
	io.fd[1] = errp[0];
	io.err = res->errline;
	buf_init(&io.out, max);
	pump(&io, pid, &res->status, &reaped);
	for (int k = 0; k < 2; k++)
		if (io.fd[k] >= 0)
			close(io.fd[k]);
	while (!reaped && waitpid(pid, &res->status, 0) < 0) {
		if (errno != EINTR) {
			buf_wipe(&io.out);
			return err_set(e, EX_OSERR, "waitpid: %s", strerror(errno));
		}
	}
	log_sanitize(res->errline, sizeof res->errline, res->errline, io.errlen);
	if (io.toolong) {
		buf_wipe(&io.out);
		return err_set(e, EX_CONFIG, "the command's first line of "
		    "output is longer than %zu bytes", max);
	}
	while (io.out.len > 0 && io.out.data[io.out.len - 1] == '\r')
		io.out.data[--io.out.len] = '\0';
	*line = buf_take(&io.out);
	if (*line == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	return 0;
}

char *
cmd_describe(const struct cmd_result *res, char *buf, size_t size)
{
	const char *sep = res->errline[0] ? ": " : "";

	if (WIFSIGNALED(res->status))
		snprintf(buf, size, "killed by signal %d%s%s", WTERMSIG(res->status), sep,
		    res->errline);
	else if (WIFEXITED(res->status))
		snprintf(buf, size, "exit status %d%s%s%s", WEXITSTATUS(res->status),
		    WEXITSTATUS(res->status) == 127 ? " (command not found)" :
		    WEXITSTATUS(res->status) == 126 ? " (cannot run it)" : "", sep,
		    res->errline);
	else
		snprintf(buf, size, "stopped (status %#x)", (unsigned)res->status);
	return buf;
}
