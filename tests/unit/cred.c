/*
 * Unit tests for src/cred.c: where a secret comes from (password,
 * passwordeval, ~/.netrc or $NETRC), how a failing passwordeval is
 * classified and reported (its exit status and the first line of its
 * stderr, never the secret or the command), and the trust check on a
 * netrc file.
 */
#include "config.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "cred.h"
#include "err.h"
#include "tap.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* An account "t" whose secret comes from cmd. */
static struct account *
eval_account(struct account *a, const char *cmd)
{
	memset(a, 0, sizeof *a);
	a->name = (char *)"t";
	a->passwordeval = (char *)cmd;
	return a;
}

/* ------------------------------------------------------------------ */
static void
test_secret(void)
{
	static const struct {
		const char *name;
		const char *password, *passwordeval;
		int ret, ex;
		const char *want;       /* the secret, or text the message has */
		const char *not_want;   /* text the message must not have */
	} cases[] = {
		{ "password directive", "s3cret", NULL, 0, 0, "s3cret", NULL },
		{ "password wins over passwordeval", "p", "echo e", 0, 0, "p", NULL },
		{ "passwordeval first line", NULL, "printf 'tok\\nsecond\\n'", 0, 0, "tok", NULL },
		{ "passwordeval CRLF stripped", NULL, "printf 'tok\\r\\n'", 0, 0, "tok", NULL },
		{ "passwordeval without newline", NULL, "printf tok", 0, 0, "tok", NULL },
		{ "passwordeval keeps inner spaces", NULL, "echo ' a b '", 0, 0, " a b ", NULL },
		{ "passwordeval chatter on stderr is no error", NULL,
		  "echo 'gpg: encrypted with a key' >&2; echo tok", 0, 0, "tok", NULL },
		{ "passwordeval stdin is not the message", NULL, "cat", -1, EX_CONFIG,
		  "empty", NULL },
		/* A failing command is a configuration fault the caller must
		 * hear about (issue 8 §4): its status and why, in one line. */
		{ "passwordeval failing", NULL, "echo hunter2; echo oops >&2; exit 3", -1,
		  EX_CONFIG, "exit status 3: oops", "echo" },
		{ "passwordeval failing silently", NULL, "exit 1", -1, EX_CONFIG,
		  "exit status 1", NULL },
		{ "passwordeval first non-empty stderr line", NULL,
		  "printf '\\n\\nfirst\\nsecond\\n' >&2; exit 2", -1, EX_CONFIG,
		  "exit status 2: first", "second" },
		{ "passwordeval stderr control characters", NULL,
		  "printf 'a\\033[31mb\\n' >&2; exit 4", -1, EX_CONFIG, "a?[31mb", "\033" },
		{ "passwordeval not found", NULL, "/nonexistent/helper", -1, EX_CONFIG,
		  "exit status 127", NULL },
		{ "passwordeval empty", NULL, "true", -1, EX_CONFIG, "empty", NULL },
		/* Killed from outside (OOM killer, shutdown, a timeout
		 * wrapper): may work later. */
		{ "passwordeval killed", NULL, "kill -9 $$", -1, EX_TEMPFAIL, "signal 9", NULL },
		{ "passwordeval terminated", NULL, "kill -TERM $$", -1, EX_TEMPFAIL,
		  "signal 15", NULL },
		/* Crashed by itself: a broken helper, not a passing state. */
		{ "passwordeval crashed", NULL, "kill -SEGV $$", -1, EX_CONFIG, "signal 11", NULL },
	};

	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		struct account a;
		struct err e;
		char *secret = (char *)"unchanged";
		int r;

		eval_account(&a, cases[k].passwordeval)->password = (char *)cases[k].password;
		err_init(&e);
		r = cred_get_secret(&a, &secret, &e);
		is_int(r, cases[k].ret, "%s: result", cases[k].name);
		if (r == 0) {
			is_str(secret, cases[k].want, "%s: secret", cases[k].name);
			cred_free(secret);
			continue;
		}
		is_int(e.ex, cases[k].ex, "%s: exit code (%s)", cases[k].name, e.msg);
		ok(secret == NULL, "%s: no secret on error", cases[k].name);
		ok(strstr(e.msg, "hunter2") == NULL && strstr(e.msg, "account t") != NULL,
		    "%s: message names the account, never the secret: %s", cases[k].name, e.msg);
		ok(strstr(e.msg, cases[k].want) != NULL, "%s: message says \"%s\"",
		    cases[k].name, cases[k].want);
		if (cases[k].not_want)
			ok(strstr(e.msg, cases[k].not_want) == NULL,
			    "%s: message does not say \"%s\"", cases[k].name,
			    *cases[k].not_want == '\033' ? "ESC" : cases[k].not_want);
	}
}

/* Commands whose output is unusual in size or lifetime. */
static void
test_secret_streams(void)
{
	struct account a;
	struct err e;
	char *secret = NULL;
	double t0;

	eval_account(&a, "head -c 20000 /dev/zero | tr '\\0' x");
	is_int(cred_get_secret(&a, &secret, &e), -1, "an over-long passwordeval line is refused");
	is_int(e.ex, EX_CONFIG, "... EX_CONFIG (%s)", e.msg);

	/* A command flooding stderr neither blocks nor floods the message. */
	eval_account(&a, "head -c 300000 /dev/zero | tr '\\0' y >&2; exit 5");
	is_int(cred_get_secret(&a, &secret, &e), -1, "a command flooding stderr fails");
	ok(e.ex == EX_CONFIG && strstr(e.msg, "exit status 5: yyy") != NULL &&
	    strlen(e.msg) < 400, "... with one bounded line (%zu bytes)", strlen(e.msg));

	/* A helper leaving a daemon behind that holds stderr (an agent it
	 * started) must not keep envoi waiting for stderr's end. */
	t0 = now();
	eval_account(&a, "sleep 4 >/dev/null & echo tok");
	is_int(cred_get_secret(&a, &secret, &e), 0, "a daemon holding stderr: secret read");
	is_str(secret, "tok", "... the secret");
	ok(now() - t0 < 3, "... without waiting for the daemon (%.1f s)", now() - t0);
	cred_free(secret);
}

static void
test_netrc_lookup(void)
{
	static const char netrc[] =
	    "machine smtp.a.example login alice password pa\n"
	    "machine smtp.a.example\n  login bob\n  password \"p b\"\n"
	    "machine other.example login carol password pc account acct\n"
	    "macdef init\ncd /\nls\n\n"
	    "machine nouser.example password pn\n"
	    "default login anon password pd\n";
	static const struct {
		const char *host, *user, *want;
	} cases[] = {
		{ "smtp.a.example", "alice", "pa" },
		{ "smtp.a.example", "bob", "p b" },
		{ "SMTP.A.EXAMPLE", "bob", "p b" },
		{ "smtp.a.example", NULL, "pa" },
		{ "other.example", "carol", "pc" },
		{ "nouser.example", "anyone", "pn" },
		{ "unknown.example", "anon", "pd" },
		{ "unknown.example", "zed", NULL },
		{ "smtp.a.example", "zed", NULL },
	};

	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		char *pw = NULL;
		int r = cred_netrc_lookup(netrc, cases[k].host, cases[k].user, &pw);

		is_int(r, cases[k].want != NULL, "netrc %s/%s found", cases[k].host,
		    cases[k].user ? cases[k].user : "*");
		is_str(pw, cases[k].want, "netrc %s/%s password", cases[k].host,
		    cases[k].user ? cases[k].user : "*");
		cred_free(pw);
	}
}

/* Through cred_get_secret, with $NETRC and the trust check. */
static void
test_netrc_file(void)
{
	static const char netrc[] = "machine other.example login carol password pc\n";
	const char *t = getenv("TMPDIR");
	char path[PATH_MAX];
	struct account a;
	struct err e;
	char *secret = NULL;
	int fd;

	snprintf(path, sizeof path, "%s/envoi-netrc-XXXXXX", t && *t ? t : "/tmp");
	fd = mkstemp(path);
	if (fd < 0 || write(fd, netrc, sizeof netrc - 1) != (ssize_t)(sizeof netrc - 1)) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
	close(fd);
	setenv("NETRC", path, 1);
	memset(&a, 0, sizeof a);
	a.name = (char *)"t";
	a.host = (char *)"other.example";
	a.user = (char *)"carol";
	is_int(cred_get_secret(&a, &secret, &e), 0, "netrc used when no password is configured");
	is_str(secret, "pc", "... the netrc password");
	cred_free(secret);

	chmod(path, 0644);
	is_int(cred_get_secret(&a, &secret, &e), -1, "a netrc readable by others is refused");
	ok(e.ex == EX_CONFIG && strstr(e.msg, "chmod 600") && !strstr(e.msg, "pc"), "... %s",
	    e.msg);
	chmod(path, 0620);
	is_int(cred_get_secret(&a, &secret, &e), -1, "a group-writable netrc is refused");
	ok(e.ex == EX_CONFIG && strstr(e.msg, path) && strstr(e.msg, "chmod 600"), "... %s",
	    e.msg);
	chmod(path, 0600);
	if (getuid() == 0 && chown(path, 65534, 65534) == 0) {
		/* sudo -E or su without - hand root another user's $NETRC. */
		is_int(cred_get_secret(&a, &secret, &e), -1,
		    "a netrc owned by another user is refused");
		ok(e.ex == EX_CONFIG && strstr(e.msg, "owned by uid 65534") &&
		    !strstr(e.msg, "pc"), "... says whose it is: %s", e.msg);
		ok(secret == NULL, "... and gives no secret");
	} else {
		printf("ok %d # skip ownership checks need root\n", ++tap_n);
	}

	a.host = (char *)"nothing.example";
	a.user = (char *)"zed";
	is_int(cred_get_secret(&a, &secret, &e), 0, "no entry: no error");
	ok(secret == NULL, "... and no secret");
	unsetenv("NETRC");
	unlink(path);
}

int
main(void)
{
	test_secret();
	test_secret_streams();
	test_netrc_lookup();
	test_netrc_file();
	return done_testing();
}
