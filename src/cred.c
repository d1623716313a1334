/* cred.c - see cred.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

extern char **environ;

void
cred_free(char *secret)
{
	if (secret == NULL)
		return;
	mem_wipe(secret, strlen(secret));
	free(secret);
}

int
cred_run_command(const char *cmd, size_t max, char **line, int *status,
    struct err *e)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	char chunk[512];
	struct buf b;
	int fds[2], done = 0, toolong = 0, r;
	pid_t pid;
	ssize_t n;

	*line = NULL;
	*status = 0;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return err_set(e, EX_OSERR, "cannot create a pipe: %s",
		    strerror(errno));
	if (posix_spawn_file_actions_init(&fa) != 0) {
		close(fds[0]);
		close(fds[1]);
		return err_set(e, EX_OSERR, "out of memory");
	}
	/* dup2 clears close-on-exec on the copy, so the child keeps only
	 * its stdout end of the pipe. */
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
	    O_RDONLY, 0);
	r = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (r != 0) {
		close(fds[0]);
		return err_set(e, EX_OSERR, "cannot run /bin/sh: %s",
		    strerror(r));
	}

	/* Read to the end even past the first line, so the command is never
	 * killed by SIGPIPE half-way; only the first line is kept. */
	buf_init(&b, max);
	for (;;) {
		n = read(fds[0], chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n && !done; i++) {
			if (chunk[i] == '\n') {
				done = 1;
			} else if (!toolong && buf_putc(&b, chunk[i]) < 0) {
				toolong = 1;
				done = 1;
			}
		}
	}
	mem_wipe(chunk, sizeof chunk);
	close(fds[0]);
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR) {
			buf_wipe(&b);
			return err_set(e, EX_OSERR, "waitpid: %s",
			    strerror(errno));
		}
	}
	if (toolong) {
		buf_wipe(&b);
		return err_set(e, EX_CONFIG, "the command's first line of "
		    "output is longer than %zu bytes", max);
	}
	while (b.len > 0 && b.data[b.len - 1] == '\r')
		b.data[--b.len] = '\0';
	*line = buf_take(&b);
	if (*line == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	return 0;
}

static int
run_passwordeval(const struct account *a, char **secret, struct err *e)
{
	int status;
	char *line;

	if (cred_run_command(a->passwordeval, CRED_SECRET_MAX, &line, &status,
	    e) < 0)
		return err_prefix(e, "account %s: passwordeval", a->name);
	if (WIFSIGNALED(status)) {
		cred_free(line);
		return err_set(e, EX_TEMPFAIL, "account %s: the passwordeval "
		    "command was killed by signal %d", a->name,
		    WTERMSIG(status));
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
		int code = WEXITSTATUS(status);

		cred_free(line);
		/* 126/127: the shell could not find or run the program, which
		 * retrying will not fix. Anything else may be a locked keyring
		 * or a missing agent under cron. */
		return err_set(e, code == 126 || code == 127 ? EX_CONFIG :
		    EX_TEMPFAIL, "account %s: the passwordeval command failed "
		    "(exit status %d)%s", a->name, code,
		    code == 127 ? ": command not found" : "");
	}
	if (*line == '\0') {
		cred_free(line);
		return err_set(e, EX_CONFIG, "account %s: the passwordeval "
		    "command printed an empty first line", a->name);
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

/* ~/.netrc or $NETRC. A file readable by others is refused when it has an
 * entry for us: using it would bless the leak. */
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
		if (st.st_uid != getuid() || (st.st_mode & 077) != 0) {
			cred_free(*secret);
			*secret = NULL;
			buf_wipe(&b);
			return err_set(e, EX_CONFIG, "%s holds passwords and is "
			    "readable by others or not yours; run: chmod 600 %s",
			    path, path);
		}
	}
	buf_wipe(&b);
	return 0;
}

int
cred_get_secret(const struct account *a, char **secret, struct err *e)
{
	*secret = NULL;
	if (a->password) {
		*secret = xstrdup(a->password);
		if (*secret == NULL)
			return err_set(e, EX_OSERR, "out of memory");
		return 0;
	}
	if (a->passwordeval)
		return run_passwordeval(a, secret, e);
	return netrc_secret(a, secret, e);
}
