/* cred.c - see cred.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "cred.h"
#include "log.h"
#include "oauth2http.h"

extern char **environ;

void
cred_free(char *secret)
{
	if (secret == NULL)
		return;
	mem_wipe(secret, strlen(secret));
	free(secret);
}

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
		else if (io->errlen < CRED_ERRLINE_MAX)
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
cred_run_command(const char *cmd, size_t max, char **line, struct cred_cmd *res,
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
cred_cmd_describe(const struct cred_cmd *res, char *buf, size_t size)
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

/* Killed from outside rather than failing by itself: the OOM killer, a
 * shutdown, a timeout wrapper. Trying again later may work. */
static int
killed_from_outside(int status)
{
	int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;

	return sig == SIGKILL || sig == SIGTERM || sig == SIGINT || sig == SIGHUP;
}

/* Run a's secret command cmd, the value of directive `what`. */
static int
run_secret_command(const struct account *a, const char *cmd, const char *what,
    char **secret, struct err *e)
{
	struct cred_cmd res;
	char how[CRED_ERRLINE_MAX + 64];
	char *line;

	if (cred_run_command(cmd, CRED_SECRET_MAX, &line, &res, e) < 0)
		return err_prefix(e, "account %s: %s", a->name, what);
	if (!WIFEXITED(res.status) || WEXITSTATUS(res.status) != 0) {
		cred_free(line);
		/* A failing helper fails again on every retry until someone
		 * fixes it, so the caller must hear now. */
		return err_set(e, killed_from_outside(res.status) ? EX_TEMPFAIL :
		    EX_CONFIG, "account %s: the %s command failed (%s)", a->name,
		    what, cred_cmd_describe(&res, how, sizeof how));
	}
	if (*line == '\0') {
		cred_free(line);
		return err_set(e, EX_CONFIG, "account %s: the %s command printed "
		    "an empty first line", a->name, what);
	}
	*secret = line;
	return 0;
}

/* netrc tokens: words separated by white space; a token may be written in
 * double quotes with backslash escapes, as some netrc writers do. */
static const char *
netrc_token(const char *p, char *out, size_t size)
{
	size_t n = 0;

	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (*p == '\0')
		return NULL;
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1])
				p++;
			if (n + 1 < size)
				out[n++] = *p;
		}
		if (*p == '"')
			p++;
	} else {
		for (; *p && *p != ' ' && *p != '\t' && *p != '\n' &&
		    *p != '\r'; p++)
			if (n + 1 < size)
				out[n++] = *p;
	}
	out[n] = '\0';
	return p;
}

int
cred_netrc_lookup(const char *text, const char *host, const char *user,
    char **password)
{
	/* A token longer than this is not a host, login or password anyone
	 * types; it is cut, which can only make a lookup miss. */
	char tok[1024], login[1024], pass[1024];
	const char *p = text;
	int in_entry = 0, entry_matches = 0, is_default = 0, found = 0;
	int have_login = 0, have_pass = 0, default_found = 0;
	char *default_pass = NULL;

	*password = NULL;
	login[0] = pass[0] = '\0';
	for (;;) {
		const char *next = netrc_token(p, tok, sizeof tok);
		int end = next == NULL;

		if (end || strcmp(tok, "machine") == 0 ||
		    strcmp(tok, "default") == 0) {
			/* Close the previous entry. */
			if (in_entry && entry_matches && have_pass &&
			    (user == NULL || !have_login ||
			    strcmp(login, user) == 0)) {
				if (!is_default) {
					found = 1;
					break;
				}
				if (!default_found) {
					default_pass = xstrdup(pass);
					default_found = default_pass != NULL;
				}
			}
			in_entry = entry_matches = is_default = 0;
			have_login = have_pass = 0;
			mem_wipe(pass, sizeof pass);
		}
		if (end)
			break;
		p = next;
		if (strcmp(tok, "machine") == 0) {
			p = netrc_token(p, tok, sizeof tok);
			if (p == NULL)
				break;
			in_entry = 1;
			entry_matches = strcasecmp(tok, host) == 0;
		} else if (strcmp(tok, "default") == 0) {
			in_entry = entry_matches = is_default = 1;
		} else if (strcmp(tok, "macdef") == 0) {
			/* A macro runs to the next empty line. */
			const char *blank = strstr(p, "\n\n");
			if (blank == NULL)
				break;
			p = blank + 2;
		} else if (strcmp(tok, "login") == 0 ||
		    strcmp(tok, "password") == 0 ||
		    strcmp(tok, "account") == 0) {
			int is_login = tok[0] == 'l', is_pass = tok[0] == 'p';

			p = netrc_token(p, tok, sizeof tok);
			if (p == NULL)
				break;
			if (is_login) {
				snprintf(login, sizeof login, "%s", tok);
				have_login = 1;
			} else if (is_pass) {
				snprintf(pass, sizeof pass, "%s", tok);
				have_pass = 1;
			}
		}
	}
	if (found) {
		*password = xstrdup(pass);
		cred_free(default_pass);
	} else if (default_found) {
		*password = default_pass;
	}
	mem_wipe(tok, sizeof tok);
	mem_wipe(pass, sizeof pass);
	return *password != NULL;
}

/* ~/.netrc or $NETRC. A file readable by others, or not ours, is refused
 * when it has an entry for us: using it would bless the leak. */
static int
netrc_secret(const struct account *a, char **secret, struct err *e)
{
	const char *env = getenv("NETRC");
	char path[PATH_MAX], *home = NULL;
	struct buf b;
	struct stat st;
	char chunk[4096];
	ssize_t n;
	int fd, r = 0;

	if (a->host == NULL)
		return 0;
	if (env && *env) {
		snprintf(path, sizeof path, "%s", env);
	} else {
		home = conf_home();
		if (home == NULL)
			return 0;
		snprintf(path, sizeof path, "%s/.netrc", home);
		free(home);
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	buf_init(&b, CRED_NETRC_MAX);
	while ((n = read(fd, chunk, sizeof chunk)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || buf_append(&b, chunk, (size_t)n) < 0) {
			r = -1;
			break;
		}
	}
	close(fd);
	mem_wipe(chunk, sizeof chunk);
	if (r < 0) {
		buf_wipe(&b);
		return err_set(e, EX_CONFIG, "cannot read %s (or it is larger "
		    "than %d bytes)", path, CRED_NETRC_MAX);
	}
	if (cred_netrc_lookup(buf_cstr(&b), a->host, a->user, secret)) {
		/* Another user's file (sudo -E, su without - hand root a
		 * user's $NETRC or $HOME) is theirs to rewrite: its entry
		 * would send the caller's mail where they say. */
		if (st.st_uid != getuid())
			r = err_set(e, EX_CONFIG, "%s holds passwords but is owned by "
			    "uid %lu, not by you (uid %lu); refusing to use it", path,
			    (unsigned long)st.st_uid, (unsigned long)getuid());
		else if ((st.st_mode & 077) != 0)
			r = err_set(e, EX_CONFIG, "%s holds passwords and others may "
			    "read or write it; run: chmod 600 %s", path, path);
		if (r < 0) {
			cred_free(*secret);
			*secret = NULL;
		}
	}
	buf_wipe(&b);
	return r;
}

int
cred_oauth2_client_secret(const struct account *a, char **secret, struct err *e)
{
	*secret = NULL;
	if (a->oauth2_client_secret_eval)
		return run_secret_command(a, a->oauth2_client_secret_eval,
		    "oauth2_client_secret_eval", secret, e);
	if (a->oauth2_client_secret &&
	    (*secret = xstrdup(a->oauth2_client_secret)) == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	return 0;
}

int
cred_get_secret(const struct account *a, char **secret, struct err *e)
{
	*secret = NULL;
	if (a->oauth2_provider)
		return oauth2http_account_token(a, cred_oauth2_client_secret, NULL,
		    secret, e);
	if (a->password) {
		*secret = xstrdup(a->password);
		if (*secret == NULL)
			return err_set(e, EX_OSERR, "out of memory");
		return 0;
	}
	if (a->passwordeval)
		return run_secret_command(a, a->passwordeval, "passwordeval",
		    secret, e);
	return netrc_secret(a, secret, e);
}
