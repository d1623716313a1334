/*
 * Unit tests for src/oauth2.c: the token store (format, permission
 * checks, durable replacement), the lock, and the refresh policy with an
 * injected refresher, including twenty processes finding the same
 * expired token and making exactly one refresh between them. The HTTP
 * client is tested against a real authorization server elsewhere.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "oauth2.h"
#include "tap.h"

static char tmpdir[1024];
static char path[PATH_MAX];     /* the store under test */

static void
write_text(const char *p, const char *text, mode_t mode)
{
	FILE *f;

	unlink(p);
	if ((f = fopen(p, "w")) == NULL) {
		printf("Bail out! cannot write %s\n", p);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
	chmod(p, mode);
}

/* A store holding an access token that expires `in` seconds from now. */
static void
write_store(const char *client, const char *refresh, const char *access,
    long in)
{
	char text[1024];

	snprintf(text, sizeof text, "envoi-oauth2 1\ntoken_url https://t.example/token\n"
	    "client_id %s\nrefresh_token %s\naccess_token %s\nexpires %lld\n",
	    client, refresh, access, (long long)time(NULL) + in);
	write_text(path, text, 0600);
}

/* The fake token endpoint: counts calls (in a file, so that forked
 * processes add up), and answers as configured. */
struct fake {
	const char *count_file;
	int ex;                 /* 0 = succeed, else fail with this code */
	const char *access, *rotate;
	long expires_in;
	unsigned delay_ms;      /* widen the race in the concurrency test */
	char seen[256];         /* the refresh token it was given */
};

static int
fake_refresh(void *ctx, const char *refresh_token, struct oauth2_grant *g,
    struct err *e)
{
	struct fake *f = ctx;
	int fd = open(f->count_file, O_WRONLY | O_APPEND | O_CREAT, 0600);

	if (fd >= 0) {
		(void)!write(fd, "r\n", 2);
		close(fd);
	}
	snprintf(f->seen, sizeof f->seen, "%s", refresh_token);
	if (f->delay_ms) {
		struct timespec ts = { 0, (long)f->delay_ms * 1000000L };

		nanosleep(&ts, NULL);
	}
	if (f->ex == EX_NOPERM)
		return err_set(e, EX_NOPERM, "the provider refused the refresh "
		    "token (invalid_grant)");
	if (f->ex)
		return err_set(e, f->ex, "https://t.example/token: HTTP 503");
	g->access_token = strdup(f->access);
	g->refresh_token = f->rotate ? strdup(f->rotate) : NULL;
	g->expires_in = f->expires_in;
	return 0;
}

static int
count_calls(const char *file)
{
	FILE *f = fopen(file, "r");
	int n = 0, c;

	if (f == NULL)
		return 0;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static char count_file[PATH_MAX];

static void
setup_store(struct oauth2_store *s, struct fake *f)
{
	unlink(count_file);
	memset(f, 0, sizeof *f);
	f->count_file = count_file;
	f->access = "new-access";
	f->expires_in = 3600;
	memset(s, 0, sizeof *s);
	s->path = path;
	s->account = "work";
	s->token_url = "https://t.example/token";
	s->client_id = "app";
	s->lock_wait = 5;
	s->refresh = fake_refresh;
	s->refresh_ctx = f;
}

static void
test_path(void)
{
	struct err e;
	char *p;

	err_init(&e);
	setenv("XDG_STATE_HOME", tmpdir, 1);
	p = oauth2_store_path("a/b .c", "/nonexistent", 0, &e);
	ok(p && strstr(p, "/envoi/oauth2/a%2Fb%20.c") != NULL,
	    "path: '/' and ' ' escaped: %s", p ? p : e.msg);
	if (p && getuid() == 0)
		ok(strncmp(p, LOCALSTATEDIR "/lib/envoi/oauth2/", strlen(LOCALSTATEDIR) + 18) == 0,
		    "path: root's is under LOCALSTATEDIR/lib/envoi/oauth2");
	else if (p)
		ok(strncmp(p, tmpdir, strlen(tmpdir)) == 0, "path: under $XDG_STATE_HOME");
	free(p);
	p = oauth2_store_path("..", "/nonexistent", 0, &e);
	ok(p && strstr(p, "/oauth2/%2E.") != NULL, "path: a leading dot is escaped: %s",
	    p ? p : e.msg);
	free(p);
	p = oauth2_store_path("me@x.org+1_a-b", "/nonexistent", 0, &e);
	ok(p && strstr(p, "/oauth2/me@x.org+1_a-b") != NULL, "path: ordinary bytes kept");
	free(p);
}

static void
test_store_file(void)
{
	static const struct {
		const char *name, *text;
		mode_t mode;
		int ex;
		const char *msg_has;
	} cases[] = {
		{ "readable by the group", "envoi-oauth2 1\n", 0640, EX_CONFIG, "run: chmod 600" },
		{ "readable by others", "envoi-oauth2 1\n", 0604, EX_CONFIG, "mode 0604" },
		{ "wrong magic", "envoi-oauth 1\nrefresh_token x\n", 0600, EX_CONFIG, ":1: not an envoi token store" },
		{ "version 2", "envoi-oauth2 2\n", 0600, EX_CONFIG, "not an envoi token store" },
		{ "key twice", "envoi-oauth2 1\nrefresh_token a\nrefresh_token b\n", 0600, EX_CONFIG,
		  ":3: refresh_token given twice" },
		{ "no value", "envoi-oauth2 1\nrefresh_token\n", 0600, EX_CONFIG, ":2: not a token store line" },
		{ "empty value", "envoi-oauth2 1\nrefresh_token \n", 0600, EX_CONFIG, ":2:" },
		{ "control byte", "envoi-oauth2 1\nrefresh_token a\tb\n", 0600, EX_CONFIG, ":2:" },
		{ "truncated", "envoi-oauth2 1\nrefresh_token abc", 0600, EX_CONFIG, ":2: truncated" },
		{ "bad expires", "envoi-oauth2 1\nexpires 12x\n", 0600, EX_CONFIG, ":2: bad expires" },
		{ "unknown key ignored", "envoi-oauth2 1\nid_token zzz\nrefresh_token r\n", 0600, 0, NULL },
	};
	struct oauth2_tokens t;
	struct err e;

	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		write_text(path, cases[k].text, cases[k].mode);
		err_init(&e);
		int r = oauth2_store_load(path, &t, &e);

		is_int(r < 0 ? e.ex : 0, cases[k].ex, "load: %s", cases[k].name);
		if (cases[k].msg_has)
			ok(strstr(e.msg, cases[k].msg_has) != NULL, "load: %s: message: %s",
			    cases[k].name, e.msg);
		ok(strstr(e.msg, "zzz") == NULL && (r < 0 || strcmp(t.refresh_token, "r") == 0),
		    "load: %s: no value in the message, value when it loads", cases[k].name);
		oauth2_tokens_clear(&t);
	}

	unlink(path);
	err_init(&e);
	is_int(oauth2_store_load(path, &t, &e), 0, "load: a missing file is an empty store");
	ok(t.refresh_token == NULL && t.access_token == NULL, "load: nothing in it");

	/* A symbolic link is never followed, even to a good file. */
	{
		char target[PATH_MAX + 8];

		snprintf(target, sizeof target, "%s.target", path);
		write_text(target, "envoi-oauth2 1\n", 0600);
		(void)!symlink(target, path);
		err_init(&e);
		is_int(oauth2_store_load(path, &t, &e), -1, "load: a symlink is refused");
		ok(strstr(e.msg, "symbolic link") != NULL, "load: symlink: %s", e.msg);
		unlink(path);
		unlink(target);
	}

	/* Save, then load: the same values, mode 0600, no temporary left. */
	{
		struct oauth2_tokens s = { "https://t.example/token", "app", "R1", "A1", 1234567890 };
		struct stat st;

		err_init(&e);
		is_int(oauth2_store_save(path, &s, &e), 0, "save: %s", e.msg);
		ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600, "save: mode 0600");
		is_int(oauth2_store_load(path, &t, &e), 0, "save: loads again");
		ok(t.token_url && strcmp(t.token_url, s.token_url) == 0 &&
		    strcmp(t.client_id, "app") == 0 && strcmp(t.refresh_token, "R1") == 0 &&
		    strcmp(t.access_token, "A1") == 0 && t.expires == 1234567890,
		    "save: every field round-trips");
		oauth2_tokens_clear(&t);

		s.refresh_token = "bad\nline";
		err_init(&e);
		is_int(oauth2_store_save(path, &s, &e), -1, "save: a value with a newline is refused");
		ok(strstr(e.msg, "refresh_token") && !strstr(e.msg, "bad"), "save: names the field only: %s",
		    e.msg);
		is_int(oauth2_store_load(path, &t, &e), 0, "save: the old store is intact");
		ok(t.refresh_token && strcmp(t.refresh_token, "R1") == 0, "save: old refresh token");
		oauth2_tokens_clear(&t);
	}
}

static void
test_policy(void)
{
	struct oauth2_store s;
	struct oauth2_tokens t;
	struct fake f;
	struct err e;
	char *tok;

	setup_store(&s, &f);
	write_store("app", "R1", "A1", 3600);
	err_init(&e);
	is_int(oauth2_token(&s, NULL, &tok, &e), 0, "valid: token");
	is_str(tok, "A1", "valid: the stored access token");
	is_int(count_calls(count_file), 0, "valid: no refresh");
	free(tok);

	setup_store(&s, &f);
	write_store("app", "R1", "A1", OAUTH2_MIN_VALIDITY - 5);
	is_int(oauth2_token(&s, NULL, &tok, &e), 0, "almost expired: refreshed");
	is_str(tok, "new-access", "almost expired: the new token");
	is_int(count_calls(count_file), 1, "almost expired: one refresh");
	is_str(f.seen, "R1", "almost expired: with the stored refresh token");
	free(tok);
	is_int(oauth2_store_load(path, &t, &e), 0, "refreshed: store loads");
	ok(t.access_token && strcmp(t.access_token, "new-access") == 0 &&
	    strcmp(t.refresh_token, "R1") == 0 && t.expires >= time(NULL) + 3590,
	    "refreshed: new access token saved, refresh token kept (not rotated)");
	oauth2_tokens_clear(&t);

	setup_store(&s, &f);
	f.rotate = "R2";
	write_store("app", "R1", "A1", -10);
	is_int(oauth2_token(&s, NULL, &tok, &e), 0, "rotation: refreshed");
	free(tok);
	is_int(oauth2_store_load(path, &t, &e), 0, "rotation: store loads");
	ok(t.refresh_token && strcmp(t.refresh_token, "R2") == 0, "rotation: the new refresh token is saved");
	oauth2_tokens_clear(&t);

	/* The server refused A1: refresh once. */
	setup_store(&s, &f);
	write_store("app", "R1", "A1", 3600);
	is_int(oauth2_token(&s, "A1", &tok, &e), 0, "refused: refreshed");
	is_str(tok, "new-access", "refused: a new token");
	is_int(count_calls(count_file), 1, "refused: one refresh");
	free(tok);
	/* ...but another process had already replaced it: use that. */
	setup_store(&s, &f);
	is_int(oauth2_token(&s, "A1", &tok, &e), 0, "refused, replaced meanwhile");
	is_str(tok, "new-access", "refused, replaced: the stored one");
	is_int(count_calls(count_file), 0, "refused, replaced: no refresh");
	free(tok);

	/* expires_in not given: used for this run only. */
	setup_store(&s, &f);
	f.expires_in = 0;
	write_store("app", "R1", "A1", -10);
	is_int(oauth2_token(&s, NULL, &tok, &e), 0, "no expires_in: token");
	free(tok);
	is_int(oauth2_store_load(path, &t, &e), 0, "no expires_in: store loads");
	ok(t.expires <= time(NULL) + OAUTH2_MIN_VALIDITY, "no expires_in: not reused later");
	oauth2_tokens_clear(&t);
}

static void
test_failures(void)
{
	struct oauth2_store s;
	struct oauth2_tokens t;
	struct fake f;
	struct err e;
	char *tok = NULL;

	setup_store(&s, &f);
	f.ex = EX_NOPERM;
	write_store("app", "Rsecret", "Asecret", -10);
	err_init(&e);
	is_int(oauth2_token(&s, NULL, &tok, &e), -1, "invalid_grant: fails");
	is_int(e.ex, EX_NOPERM, "invalid_grant: 77");
	ok(strstr(e.msg, "account work: ") == e.msg && strstr(e.msg, "invalid_grant") &&
	    strstr(e.msg, "; run: envoi --oauth2-login work") != NULL,
	    "invalid_grant: one line naming the login command: %s", e.msg);
	ok(strstr(e.msg, "secret") == NULL, "invalid_grant: no token in the message");
	ok(tok == NULL, "invalid_grant: no token");

	setup_store(&s, &f);
	f.ex = EX_TEMPFAIL;
	write_store("app", "R1", "A1", -10);
	err_init(&e);
	is_int(oauth2_token(&s, NULL, &tok, &e), -1, "endpoint down: fails");
	is_int(e.ex, EX_TEMPFAIL, "endpoint down: temporary");
	ok(strstr(e.msg, "account work: token refresh: ") == e.msg, "endpoint down: %s", e.msg);
	is_int(oauth2_store_load(path, &t, &e), 0, "endpoint down: store loads");
	ok(t.refresh_token && strcmp(t.refresh_token, "R1") == 0 && strcmp(t.access_token, "A1") == 0,
	    "endpoint down: store unchanged");
	oauth2_tokens_clear(&t);

	setup_store(&s, &f);
	write_store("other-app", "R1", "A1", 3600);
	err_init(&e);
	is_int(oauth2_token(&s, NULL, &tok, &e), -1, "other client: refused");
	ok(e.ex == EX_NOPERM && strstr(e.msg, "another client") &&
	    strstr(e.msg, "envoi --oauth2-login work"), "other client: %s", e.msg);
	is_int(count_calls(count_file), 0, "other client: no refresh with its grant");

	setup_store(&s, &f);
	unlink(path);
	err_init(&e);
	is_int(oauth2_token(&s, NULL, &tok, &e), -1, "no store: fails");
	ok(e.ex == EX_NOPERM && strstr(e.msg, "account work: not logged in; run: envoi "
	    "--oauth2-login work"), "no store: %s", e.msg);

	setup_store(&s, &f);
	write_store("app", "R1", "A1", 3600);
	chmod(path, 0644);
	err_init(&e);
	is_int(oauth2_token(&s, NULL, &tok, &e), -1, "loose store: refused");
	is_int(e.ex, EX_CONFIG, "loose store: 78");
	is_int(count_calls(count_file), 0, "loose store: nothing sent");
}

static void
test_login_and_lock(void)
{
	struct oauth2_grant g = { "LA", "LR", 3600 };
	struct oauth2_store s;
	struct fake f;
	struct err e;
	char *tok;
	int fd;

	setup_store(&s, &f);
	unlink(path);
	err_init(&e);
	is_int(oauth2_store_login(&s, &g, &e), 0, "login: saved: %s", e.msg);
	is_int(oauth2_token(&s, NULL, &tok, &e), 0, "login: token");
	is_str(tok, "LA", "login: its access token, without a refresh");
	is_int(count_calls(count_file), 0, "login: no refresh");
	free(tok);
	g.refresh_token = NULL;
	err_init(&e);
	is_int(oauth2_store_login(&s, &g, &e), -1, "login without refresh token: refused");
	ok(e.ex == EX_PROTOCOL && strstr(e.msg, "refresh_token"), "login: names the field: %s", e.msg);

	/* flock is per open file: a second lock in this process waits too. */
	fd = oauth2_lock(path, 1, &e);
	ok(fd >= 0, "lock: taken");
	err_init(&e);
	is_int(oauth2_lock(path, 1, &e), -1, "lock: a second taker times out");
	is_int(e.ex, EX_TEMPFAIL, "lock: timeout is temporary");
	oauth2_unlock(fd);
	fd = oauth2_lock(path, 1, &e);
	ok(fd >= 0, "lock: free again after unlock");
	oauth2_unlock(fd);
}

/* Twenty cron jobs find the same expired token: one refresh. */
static void
test_concurrency(void)
{
	enum { N = 20 };
	struct oauth2_store s;
	struct fake f;
	pid_t pids[N];
	int go[2], good = 0;

	setup_store(&s, &f);
	f.delay_ms = 200;
	f.rotate = "R2";
	write_store("app", "R1", "A1", -10);
	if (pipe(go) < 0) {
		printf("Bail out! pipe\n");
		exit(1);
	}
	/* The children must not print the parent's buffered lines again
	 * (valgrind's __libc_freeres flushes stdio even on _exit). */
	fflush(stdout);
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			struct err e;
			char c, *tok;

			close(go[1]);
			(void)!read(go[0], &c, 1);      /* all start together */
			err_init(&e);
			if (oauth2_token(&s, NULL, &tok, &e) < 0)
				_exit(2);
			_exit(strcmp(tok, "new-access") == 0 ? 0 : 3);
		}
	}
	close(go[0]);
	close(go[1]);
	for (int i = 0; i < N; i++) {
		int st;

		if (waitpid(pids[i], &st, 0) == pids[i] && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			good++;
	}
	is_int(good, N, "concurrency: all %d processes got the new token", N);
	is_int(count_calls(count_file), 1, "concurrency: exactly one refresh request");
}

int
main(void)
{
	const char *t = getenv("TMPDIR");
	char cmd[PATH_MAX + 16];

	snprintf(tmpdir, sizeof tmpdir, "%s/envoi-oauth2-XXXXXX", t && *t ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(path, sizeof path, "%s/work", tmpdir);
	snprintf(count_file, sizeof count_file, "%s/calls", tmpdir);
	test_path();
	test_store_file();
	test_policy();
	test_failures();
	test_login_and_lock();
	test_concurrency();
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	(void)!system(cmd);
	return done_testing();
}
