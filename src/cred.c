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
#include "cmd.h"
#include "conf.h"
#include "cred.h"
#include "log.h"
#include "oauth2http.h"

void
cred_free(char *secret)
{
	if (secret == NULL)
		return;
	mem_wipe(secret, strlen(secret));
	free(secret);
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
	struct cmd_result res;
	char how[CMD_ERRLINE_MAX + 64];
	char *line;

	if (cmd_run(cmd, CRED_SECRET_MAX, &line, &res, e) < 0)
		return err_prefix(e, "account %s: %s", a->name, what);
	if (!WIFEXITED(res.status) || WEXITSTATUS(res.status) != 0) {
		cred_free(line);
		/* A failing helper fails again on every retry until someone
		 * fixes it, so the caller must hear now. */
		return err_set(e, killed_from_outside(res.status) ? EX_TEMPFAIL :
		    EX_CONFIG, "account %s: the %s command failed (%s)", a->name,
		    what, cmd_describe(&res, how, sizeof how));
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
					default_pass = str_dup(pass);
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
		*password = str_dup(pass);
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
	    (*secret = str_dup(a->oauth2_client_secret)) == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	return 0;
}

int
cred_get_secret(const struct account *a, char **secret, struct err *e)
{
	*secret = NULL;
	if (a->oauth2_provider)
		return oauth2http_account_token(a, cred_oauth2_client_secret, NULL,
		    secret, NULL, e);
	if (a->password) {
		*secret = str_dup(a->password);
		if (*secret == NULL)
			return err_set(e, EX_OSERR, "out of memory");
		return 0;
	}
	if (a->passwordeval)
		return run_secret_command(a, a->passwordeval, "passwordeval",
		    secret, e);
	return netrc_secret(a, secret, e);
}
