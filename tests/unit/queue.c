/* Unit tests for src/queue.c: the durable store (write, list, state,
 * recipients, failed/, removal), locking across processes, crash
 * leftovers and damaged entries, and the error codes of a queue that
 * cannot be written. Every test works in its own mkdtemp directory. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "queue.h"
#include "tap.h"

/* ------------------------------------------------------------ helpers */

static char base[64];

static int
rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP || type == FTW_D)
		chmod(path, 0700), rmdir(path);
	else
		unlink(path);
	return 0;
}

static void
rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh queue directory path (not yet created) under a new base. */
static void
new_queue(char *dir, size_t size)
{
	snprintf(base, sizeof base, "/tmp/envoi-queue-test-XXXXXX");
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		exit(99);
	}
	snprintf(dir, size, "%s/q", base);
}

static void
end_queue(void)
{
	rm_rf(base);
}

static char *
sub_path(const char *dir, const char *sub, const char *id, const char *ext)
{
	static char p[4][512];
	static int k;

	k = (k + 1) % 4;
	snprintf(p[k], sizeof p[k], "%s%s%s/%s%s", dir, sub ? "/" : "", sub ? sub : "",
	         id ? id : "", ext ? ext : "");
	return p[k];
}

static int
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Names in a directory, "." and ".." excluded; -1 if it cannot be read. */
static int
count_files(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

static void
put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		perror(path);
		exit(99);
	}
	fputs(text, f);
	fclose(f);
}

static char *
slurp_fd(int fd)
{
	static char data[8192];
	ssize_t n = pread(fd, data, sizeof data - 1, 0);

	data[n < 0 ? 0 : n] = '\0';
	return data;
}

/* Create and commit one entry; its id goes to id. 0 or the exit code. */
static int
add_entry(const char *dir, const struct queue_envelope *env, const char *body, char *id)
{
	struct queue_entry q;
	struct err e;
	int r;

	err_init(&e);
	r = queue_entry_create(&q, dir, &e);
	if (r == 0 && write(q.msg_fd, body, strlen(body)) != (ssize_t)strlen(body))
		r = -1;
	if (r == 0)
		r = queue_entry_commit(&q, env, &e);
	if (r == 0 && id)
		snprintf(id, QUEUE_ID_MAX, "%s", q.id);
	if (r < 0)
		printf("# add_entry: %s\n", e.msg);
	queue_entry_free(&q);
	return r < 0 ? (e.ex ? e.ex : -1) : 0;
}

static const char *const one_rcpt[] = { "rcpt@example.org" };

static struct queue_envelope
simple_env(void)
{
	struct queue_envelope env;

	memset(&env, 0, sizeof env);
	env.account = "work";
	env.from = "me@example.org";
	env.rcpts = one_rcpt;
	env.nrcpts = 1;
	env.message_id = "abc@example.org";
	env.size = 6;
	return env;
}

/* Run queue_lock in a child process: its result (1 locked, 0 busy or
 * gone, -1 error). With keep, the child exits holding the lock without
 * unlocking: the kernel must release it. */
static int
child_lock(const char *dir, const char *id)
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -2;
	if (pid == 0) {
		struct queue_lock lk;
		struct err e;
		err_init(&e);
		int r = queue_lock(dir, id, &lk, &e);
		/* no queue_unlock: dying must be enough */
		_exit(r + 1);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -3;
	return WEXITSTATUS(status) - 1;
}

/* ------------------------------------------------------------ tests */

static const char *
nonempty(const char *s)
{
	return *s ? s : NULL;
}

static void
test_roundtrip(void)
{
	char notify[64];
	static const char *const r3[] = { "a@example.org", "b@example.net", "c@xn--bcher-kva.example" };
	static const char *const r1[] = { "only@example.com" };
	static const struct {
		const char *name;
		const char *account, *from;
		const char *const *rcpts;
		size_t nrcpts;
		const char *message_id;
		int has_8bit;
		const char *notify, *ret, *envid;
		const char *body;
	} cases[] = {
		{ "plain", "work", "me@example.org", r1, 1, "id1@example.org", 0, NULL, NULL,
		  NULL, "Subject: a\r\n\r\nhello\r\n" },
		{ "null sender, 3 rcpts, 8bit", "default", "", r3, 3, "id2@example.org", 1, NULL,
		  NULL, NULL, "Subject: b\r\n\r\nh\xc3\xa9llo\r\n" },
		{ "DSN parameters kept", "alt", "x@example.org", r3, 2, NULL, 0,
		  "SUCCESS,FAILURE", "HDRS", "env-42", "Subject: c\r\n\r\n.\r\n" },
	};
	size_t nc = sizeof cases / sizeof cases[0];
	char dir[256], ids[3][QUEUE_ID_MAX];
	struct queue_item *items;
	size_t n;
	struct err e;
	long long t0 = (long long)time(NULL), t1;

	new_queue(dir, sizeof dir);
	for (size_t i = 0; i < nc; i++) {
		struct queue_envelope env;
		memset(&env, 0, sizeof env);
		env.account = cases[i].account;
		env.from = cases[i].from;
		env.rcpts = cases[i].rcpts;
		env.nrcpts = cases[i].nrcpts;
		env.message_id = cases[i].message_id;
		env.size = strlen(cases[i].body);
		env.has_8bit = cases[i].has_8bit;
		if (cases[i].notify)
			envelope_notify_parse(cases[i].notify, &env.opts.notify);
		if (cases[i].ret)
			envelope_ret_parse(cases[i].ret, &env.opts.ret);
		if (cases[i].envid)
			envelope_set_envid(&env.opts, cases[i].envid);
		is_int(add_entry(dir, &env, cases[i].body, ids[i]), 0, "%s: committed",
		       cases[i].name);
		ok(queue_id_valid(ids[i]), "%s: id %s is a valid queue id", cases[i].name, ids[i]);
	}
	t1 = (long long)time(NULL);
	ok(exists(sub_path(dir, NULL, "tmp", NULL)), "tmp/ exists");
	is_int(count_files(sub_path(dir, NULL, "tmp", NULL)), 0, "tmp/ is empty after commits");
	{
		struct stat st;
		ok(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700, "queue dir is mode 0700");
	}

	err_init(&e);
	is_int(queue_list(dir, 0, &items, &n, &e), 0, "list");
	is_int(n, nc, "list has every entry");
	for (size_t i = 1; i < n; i++)
		ok(strcmp(items[i - 1].id, items[i].id) < 0, "sorted by id (%zu)", i);
	for (size_t i = 0; i < nc && i < n; i++) {
		const struct queue_item *it = NULL;
		for (size_t j = 0; j < n; j++)
			if (strcmp(items[j].id, ids[i]) == 0)
				it = &items[j];
		ok(it != NULL, "%s: listed", cases[i].name);
		if (it == NULL)
			continue;
		is_str(it->account, cases[i].account, "%s: account", cases[i].name);
		is_str(it->from, cases[i].from, "%s: from", cases[i].name);
		is_int(it->nrcpts, cases[i].nrcpts, "%s: nrcpts", cases[i].name);
		for (size_t k = 0; k < it->nrcpts && k < cases[i].nrcpts; k++)
			is_str(it->rcpts[k], cases[i].rcpts[k], "%s: rcpt %zu", cases[i].name, k);
		is_str(it->message_id, cases[i].message_id, "%s: message-id", cases[i].name);
		is_int(it->size, strlen(cases[i].body), "%s: size", cases[i].name);
		is_int(it->has_8bit, cases[i].has_8bit, "%s: 8bit", cases[i].name);
		is_str(nonempty(envelope_notify_text(it->opts.notify, notify, sizeof notify)),
		       cases[i].notify, "%s: dsn-notify", cases[i].name);
		is_str(envelope_ret_text(it->opts.ret), cases[i].ret, "%s: dsn-ret", cases[i].name);
		is_str(nonempty(it->opts.envid), cases[i].envid, "%s: envid", cases[i].name);
		ok(it->created >= t0 && it->created <= t1, "%s: created is now", cases[i].name);
		is_int(it->attempts, 0, "%s: never tried", cases[i].name);
		ok(it->last_error == NULL, "%s: no last error", cases[i].name);
		ok(!it->failed && !it->damaged, "%s: neither failed nor damaged", cases[i].name);
		ok(queue_item_due(it, t1), "%s: due now", cases[i].name);

		int fd = queue_open_msg(dir, it->id, &e);
		ok(fd >= 0, "%s: open the data", cases[i].name);
		if (fd >= 0) {
			is_str(slurp_fd(fd), cases[i].body, "%s: data byte for byte", cases[i].name);
			close(fd);
		}

		struct queue_item one;
		is_int(queue_item_load(dir, it->id, &one, &e), 0, "%s: load", cases[i].name);
		is_str(one.from, it->from, "%s: load agrees with list", cases[i].name);
		queue_item_free(&one);
	}
	queue_items_free(items, n);

	is_int(queue_open_msg(dir, "20990101000000deadbeef", &e), -1, "open a missing entry");
	is_int(e.ex, EX_NOINPUT, "... EX_NOINPUT");
	is_int(queue_open_msg(dir, "../../etc/passwd", &e), -1, "a path is not an id");
	is_int(e.ex, EX_USAGE, "... EX_USAGE");
	{
		struct queue_item it;
		is_int(queue_item_load(dir, "20990101000000deadbeef", &it, &e), -1,
		       "load a missing entry");
		is_int(e.ex, EX_NOINPUT, "... EX_NOINPUT");
		queue_item_free(&it);
	}
	end_queue();

	/* A queue that was never created is empty, not an error. */
	new_queue(dir, sizeof dir);
	items = (struct queue_item *)1;
	is_int(queue_list(dir, 1, &items, &n, &e), 0, "list a queue that does not exist");
	is_int(n, 0, "... empty");
	ok(items == NULL, "... no array");
	end_queue();
}

/* Hand-written entries in scrambled order, some in failed/: the list
 * comes back sorted by id whatever order the directory gives. */
static void
test_sorted(void)
{
	static const unsigned order[] = { 7, 2, 11, 0, 5, 9, 1, 10, 4, 8, 3, 6 };
	static const char env[] =
		"version 1\naccount a\nfrom \nrcpt x@example.org\nsize 1\n8bit 0\ncreated 5\n";
	char dir[256];
	struct queue_item *items;
	size_t n;
	struct err e;
	int sorted = 1;

	new_queue(dir, sizeof dir);
	err_init(&e);
	mkdir(dir, 0700);
	mkdir(sub_path(dir, NULL, "failed", NULL), 0700);
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
		char id[QUEUE_ID_MAX];
		const char *sub = order[i] % 3 == 0 ? "failed" : NULL;
		snprintf(id, sizeof id, "20220101000000%08x", order[i]);
		put_file(sub_path(dir, sub, id, ".env"), env);
		put_file(sub_path(dir, sub, id, ".msg"), "x");
	}
	is_int(queue_list(dir, 1, &items, &n, &e), 0, "list scrambled entries");
	is_int(n, 12, "... all twelve");
	for (size_t i = 0; i < n; i++) {
		char want[QUEUE_ID_MAX];
		snprintf(want, sizeof want, "20220101000000%08zx", i);
		sorted &= strcmp(items[i].id, want) == 0 && items[i].failed == (i % 3 == 0);
	}
	ok(sorted, "... in id order, failed ones in their place");
	queue_items_free(items, n);
	is_int(queue_list(dir, 0, &items, &n, &e), 0, "list without failed/");
	is_int(n, 8, "... eight");
	queue_items_free(items, n);
	end_queue();
}

static void
test_ids(void)
{
	static const struct {
		const char *id;
		int valid;
	} cases[] = {
		{ "20240101120000deadbeef", 1 },
		{ "abcdEFGH", 1 },
		{ "abc", 0 },
		{ "", 0 },
		{ "../20240101120000dead", 0 },
		{ "20240101120000dead.env", 0 },
		{ "2024 0101", 0 },
		{ "0123456789012345678901234567890", 1 },   /* 31 */
		{ "01234567890123456789012345678901", 0 },  /* 32 */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		is_int(queue_id_valid(cases[i].id), cases[i].valid, "queue_id_valid(\"%s\")",
		       cases[i].id);
	is_int(queue_id_valid(NULL), 0, "queue_id_valid(NULL)");
}

static void
test_backoff(void)
{
	static const struct {
		int attempts;
		long long want;
	} cases[] = {
		{ -1, 0 }, { 0, 0 }, { 1, 60 }, { 2, 120 }, { 3, 240 }, { 4, 480 }, { 5, 960 },
		{ 6, 1920 }, { 7, 3600 }, { 8, 3600 }, { 100, 3600 }, { INT_MAX, 3600 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		is_int(queue_backoff(cases[i].attempts), cases[i].want, "queue_backoff(%d)",
		       cases[i].attempts);
}

static void
test_record_failure(void)
{
	char dir[256], id[QUEUE_ID_MAX], longerr[3000];
	struct queue_envelope env = simple_env();
	struct queue_item it;
	struct err e;
	long long first = 0;

	new_queue(dir, sizeof dir);
	err_init(&e);
	is_int(add_entry(dir, &env, "hello\n", id), 0, "entry for failures");
	ok(!exists(sub_path(dir, NULL, id, ".st")), "no state file before the first attempt");
	for (int k = 1; k <= 9; k++) {
		char msg[64];
		snprintf(msg, sizeof msg, "connection refused #%d", k);
		long long before = (long long)time(NULL);
		is_int(queue_record_failure(dir, id, msg, &e), 0, "record failure %d", k);
		long long after = (long long)time(NULL);
		is_int(queue_item_load(dir, id, &it, &e), 0, "load after failure %d", k);
		is_int(it.attempts, k, "attempts = %d", k);
		is_str(it.last_error, msg, "last error after failure %d", k);
		ok(it.last_attempt >= before && it.last_attempt <= after, "last-attempt is now (%d)",
		   k);
		is_int(it.next_attempt - it.last_attempt, queue_backoff(k),
		       "next attempt %lld s later (%d)", queue_backoff(k), k);
		if (k == 1)
			first = it.first_attempt;
		is_int(it.first_attempt, first, "first-attempt kept (%d)", k);
		ok(!queue_item_due(&it, it.next_attempt - 1), "not due just before (%d)", k);
		ok(queue_item_due(&it, it.next_attempt), "due at next-attempt (%d)", k);
		queue_item_free(&it);
	}
	is_int(count_files(sub_path(dir, NULL, "tmp", NULL)), 0,
	       "no temporary state file left in tmp/");

	/* The error is one line, however the server phrased it. */
	is_int(queue_record_failure(dir, id, "421 bye\r\nX-Injected: 1\n", &e), 0,
	       "record a multi-line error");
	is_int(queue_item_load(dir, id, &it, &e), 0, "load");
	is_str(it.last_error, "421 bye  X-Injected: 1 ", "control characters became spaces");
	is_int(it.attempts, 10, "attempts counted on");
	queue_item_free(&it);
	memset(longerr, 'x', sizeof longerr - 1);
	longerr[sizeof longerr - 1] = '\0';
	is_int(queue_record_failure(dir, id, longerr, &e), 0, "record a huge error");
	is_int(queue_item_load(dir, id, &it, &e), 0, "load");
	is_int(it.last_error ? strlen(it.last_error) : 0, QUEUE_ERROR_MAX - 1,
	       "error cut to QUEUE_ERROR_MAX - 1");
	ok(it.last_error && strcmp(it.last_error + QUEUE_ERROR_MAX - 4, "...") == 0,
	   "... ending in \"...\"");
	queue_item_free(&it);

	is_int(queue_record_failure(dir, "20990101000000deadbeef", "x", &e), -1,
	       "record failure for a missing entry");
	is_int(e.ex, EX_NOINPUT, "... EX_NOINPUT");
	ok(!exists(sub_path(dir, NULL, "20990101000000deadbeef", ".st")),
	   "... and no state file made for it");
	end_queue();
}

static void
test_due_expired(void)
{
	static const struct {
		int attempts;
		long long next;
		int failed, damaged;
		long long now;
		int due;
	} due[] = {
		{ 0, 0, 0, 0, 1000, 1 },        /* never tried */
		{ 1, 1060, 0, 0, 1059, 0 },
		{ 1, 1060, 0, 0, 1060, 1 },
		{ 1, 1060, 0, 0, 5000, 1 },
		{ 3, 9999, 0, 0, 1000, 0 },
		{ 0, 0, 1, 0, 1000, 0 },        /* failed/ is never delivered */
		{ 0, 0, 0, 1, 1000, 0 },        /* nor a damaged entry */
	};
	static const struct {
		long long created, lifetime, now;
		int damaged, expired;
	} exp[] = {
		{ 1000, 432000, 1000, 0, 0 },
		{ 1000, 432000, 432999, 0, 0 },
		{ 1000, 432000, 433000, 0, 1 },
		{ 1000, 432000, 900000, 0, 1 },
		{ 1000, 0, 1000, 0, 1 },
		{ 0, 432000, 900000, 1, 0 },    /* damaged: age unknown */
	};
	for (size_t i = 0; i < sizeof due / sizeof due[0]; i++) {
		struct queue_item it;
		memset(&it, 0, sizeof it);
		it.attempts = due[i].attempts;
		it.next_attempt = due[i].next;
		it.failed = due[i].failed;
		it.damaged = due[i].damaged;
		is_int(queue_item_due(&it, due[i].now), due[i].due,
		       "due: attempts %d next %lld failed %d damaged %d at %lld", due[i].attempts,
		       due[i].next, due[i].failed, due[i].damaged, due[i].now);
	}
	for (size_t i = 0; i < sizeof exp / sizeof exp[0]; i++) {
		struct queue_item it;
		memset(&it, 0, sizeof it);
		it.created = exp[i].created;
		it.damaged = exp[i].damaged;
		is_int(queue_item_expired(&it, exp[i].now, exp[i].lifetime), exp[i].expired,
		       "expired: created %lld lifetime %lld at %lld", exp[i].created,
		       exp[i].lifetime, exp[i].now);
	}
}

static void
test_set_rcpts(void)
{
	static const char *const three[] = { "a@example.org", "b@example.org", "c@example.org" };
	static const char *const left[] = { "c@example.org" };
	static const char *const bad[] = { "c@example.org\nrcpt evil@example.org" };
	char dir[256], id[QUEUE_ID_MAX];
	struct queue_envelope env = simple_env();
	struct queue_item before, it;
	struct err e;

	new_queue(dir, sizeof dir);
	err_init(&e);
	env.rcpts = three;
	env.nrcpts = 3;
	env.opts.notify = ENVELOPE_NOTIFY_FAILURE;
	envelope_set_envid(&env.opts, "E1");
	is_int(add_entry(dir, &env, "hello\n", id), 0, "entry with three recipients");
	is_int(queue_item_load(dir, id, &before, &e), 0, "load before");
	is_int(queue_set_rcpts(dir, id, left, 1, &e), 0, "keep one recipient");
	is_int(queue_item_load(dir, id, &it, &e), 0, "load after");
	is_int(it.nrcpts, 1, "one recipient left");
	is_str(it.nrcpts ? it.rcpts[0] : NULL, "c@example.org", "... the right one");
	is_str(it.from, before.from, "from kept");
	is_str(it.account, before.account, "account kept");
	is_str(it.message_id, before.message_id, "message-id kept");
	is_int(it.created, before.created, "created kept (the lifetime still counts)");
	is_int(it.size, before.size, "size kept");
	is_int(it.opts.notify, ENVELOPE_NOTIFY_FAILURE, "dsn-notify kept");
	is_str(it.opts.envid, "E1", "envid kept");
	queue_item_free(&it);
	queue_item_free(&before);

	is_int(queue_set_rcpts(dir, id, left, 0, &e), -1, "no recipients at all is refused");
	is_int(e.ex, EX_SOFTWARE, "... EX_SOFTWARE");
	is_int(queue_set_rcpts(dir, id, bad, 1, &e), -1, "a line break in an address is refused");
	is_int(e.ex, EX_SOFTWARE, "... EX_SOFTWARE");
	is_int(queue_item_load(dir, id, &it, &e), 0, "load after the refusals");
	is_int(it.nrcpts, 1, "the envelope is unchanged");
	queue_item_free(&it);
	is_int(count_files(sub_path(dir, NULL, "tmp", NULL)), 0, "tmp/ is empty");
	is_int(queue_set_rcpts(dir, "20990101000000deadbeef", left, 1, &e), -1,
	       "set_rcpts on a missing entry");
	is_int(e.ex, EX_NOINPUT, "... EX_NOINPUT");
	end_queue();
}

static void
test_failed_and_remove(void)
{
	char dir[256], a[QUEUE_ID_MAX], b[QUEUE_ID_MAX];
	struct queue_envelope env = simple_env();
	struct queue_item *items;
	struct queue_lock lk;
	size_t n;
	struct err e;

	new_queue(dir, sizeof dir);
	err_init(&e);
	is_int(add_entry(dir, &env, "first\n", a), 0, "entry a");
	is_int(add_entry(dir, &env, "second\n", b), 0, "entry b");
	is_int(queue_record_failure(dir, a, "452 mailbox full", &e), 0, "a failed once");

	is_int(queue_lock(dir, a, &lk, &e), 1, "lock a");
	is_int(queue_move_failed(dir, a, "550 5.1.1 no such user\r\n", &e), 0, "a moves to failed/");
	ok(!exists(sub_path(dir, NULL, a, ".msg")) && !exists(sub_path(dir, NULL, a, ".env")) &&
	   !exists(sub_path(dir, NULL, a, ".st")), "a's files left the queue directory");
	ok(exists(sub_path(dir, "failed", a, ".msg")) && exists(sub_path(dir, "failed", a, ".env")) &&
	   exists(sub_path(dir, "failed", a, ".st")), "a's three files are in failed/");
	{
		struct stat st;
		ok(stat(sub_path(dir, NULL, "failed", NULL), &st) == 0 && (st.st_mode & 0777) == 0700,
		   "failed/ is mode 0700");
	}
	/* The lock travelled with the data file. */
	is_int(child_lock(dir, a), 0, "a is not lockable in the queue any more");
	queue_unlock(&lk);
	is_int(lk.fd, -1, "unlock resets the descriptor");
	queue_unlock(&lk);

	is_int(queue_list(dir, 0, &items, &n, &e), 0, "list without failed/");
	is_int(n, 1, "... only b");
	is_str(n ? items[0].id : NULL, b, "... which is b");
	queue_items_free(items, n);

	is_int(queue_list(dir, 1, &items, &n, &e), 0, "list with failed/");
	is_int(n, 2, "... both");
	for (size_t i = 0; i < n; i++) {
		if (strcmp(items[i].id, a) == 0) {
			ok(items[i].failed, "a is marked failed");
			is_str(items[i].failed_reason, "550 5.1.1 no such user  ", "a's failed reason");
			is_int(items[i].attempts, 1, "a's attempts kept");
			is_str(items[i].last_error, "452 mailbox full", "a's last error kept");
			is_str(items[i].from, "me@example.org", "a's envelope readable in failed/");
			ok(!queue_item_due(&items[i], LLONG_MAX), "a failed entry is never due");
		} else {
			ok(!items[i].failed, "b is not failed");
		}
	}
	queue_items_free(items, n);

	is_int(queue_move_failed(dir, a, "again", &e), -1, "move a missing entry");
	is_int(e.ex, EX_NOINPUT, "... EX_NOINPUT");

	is_int(queue_remove(dir, a, 1, &e), 0, "remove a from failed/");
	is_int(count_files(sub_path(dir, NULL, "failed", NULL)), 0, "failed/ is empty");
	is_int(queue_remove(dir, a, 1, &e), -1, "remove it again");
	is_int(e.ex, EX_NOINPUT, "... EX_NOINPUT");
	is_int(queue_remove(dir, b, 1, &e), -1, "b is not in failed/");
	is_int(e.ex, EX_NOINPUT, "... EX_NOINPUT");
	ok(exists(sub_path(dir, NULL, b, ".env")), "... and b is untouched");

	is_int(queue_record_failure(dir, b, "timeout", &e), 0, "b gets a state file");
	is_int(queue_remove(dir, b, 0, &e), 0, "remove b");
	ok(!exists(sub_path(dir, NULL, b, ".msg")) && !exists(sub_path(dir, NULL, b, ".env")) &&
	   !exists(sub_path(dir, NULL, b, ".st")), "b's three files are gone");
	is_int(queue_list(dir, 1, &items, &n, &e), 0, "list");
	is_int(n, 0, "the queue is empty");
	queue_items_free(items, n);
	is_int(queue_remove(dir, "x/../../y", 0, &e), -1, "remove refuses a path");
	is_int(e.ex, EX_USAGE, "... EX_USAGE");
	end_queue();
}

static void
test_entry_remove(void)
{
	char dir[256];
	struct queue_envelope env = simple_env();
	struct queue_entry q;
	struct err e;

	new_queue(dir, sizeof dir);
	err_init(&e);
	is_int(queue_entry_create(&q, dir, &e), 0, "create");
	is_int(queue_entry_remove(&q, &e), 0, "remove before commit");
	is_int(count_files(sub_path(dir, NULL, "tmp", NULL)), 0, "... tmp/ is empty");
	queue_entry_free(&q);
	queue_entry_free(&q);

	is_int(queue_entry_create(&q, dir, &e), 0, "create");
	is_int(queue_entry_commit(&q, &env, &e), 0, "commit");
	ok(q.committed, "committed");
	is_int(queue_record_failure(dir, q.id, "x", &e), 0, "with a state file");
	is_int(queue_entry_remove(&q, &e), 0, "remove after commit");
	is_int(count_files(dir), 1, "only tmp/ is left");
	queue_entry_free(&q);
	end_queue();
}

static void
test_lock(void)
{
	char dir[256], id[QUEUE_ID_MAX];
	struct queue_envelope env = simple_env();
	struct queue_entry q;
	struct queue_lock lk, lk2;
	struct err e;
	pid_t pid;
	int status;

	new_queue(dir, sizeof dir);
	err_init(&e);

	/* A fresh entry is locked by its submitter from the start. */
	is_int(queue_entry_create(&q, dir, &e), 0, "create");
	is_int(queue_entry_commit(&q, &env, &e), 0, "commit");
	snprintf(id, sizeof id, "%s", q.id);
	is_int(child_lock(dir, id), 0, "a committed entry is busy while its submitter holds it");
	queue_entry_free(&q);
	is_int(child_lock(dir, id), 1, "lockable once the submitter let go");

	is_int(queue_lock(dir, id, &lk, &e), 1, "parent locks");
	is_str(lk.id, id, "the lock names the entry");
	is_int(child_lock(dir, id), 0, "another process sees it busy");
	is_int(queue_lock(dir, id, &lk2, &e), 0, "a second lock in the same process is busy too");
	is_int(lk2.fd, -1, "... and holds no descriptor");
	queue_unlock(&lk);
	is_int(child_lock(dir, id), 1, "after unlock another process gets it");

	/* A holder that dies without unlocking leaves no stale lock. */
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct queue_lock l;
		struct err ce;
		err_init(&ce);
		_exit(queue_lock(dir, id, &l, &ce) == 1 ? 0 : 1);
	}
	ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	   WEXITSTATUS(status) == 0, "a child locked and exited without unlocking");
	is_int(queue_lock(dir, id, &lk, &e), 1, "the lock is free after the holder died");

	/* The holder removes the entry: whoever comes next finds it gone. */
	is_int(queue_remove(dir, id, 0, &e), 0, "holder removes the entry");
	is_int(child_lock(dir, id), 0, "locking a removed entry: gone");
	queue_unlock(&lk);
	is_int(queue_lock(dir, id, &lk, &e), 0, "still gone after the unlock");

	/* Moved to failed/ by its holder: not lockable in the queue. */
	is_int(add_entry(dir, &env, "x\n", id), 0, "another entry");
	is_int(queue_lock(dir, id, &lk, &e), 1, "lock it");
	is_int(queue_move_failed(dir, id, "550 no", &e), 0, "holder moves it to failed/");
	queue_unlock(&lk);
	is_int(queue_lock(dir, id, &lk, &e), 0, "the moved entry cannot be locked in the queue");

	is_int(queue_lock(dir, "../etc", &lk, &e), -1, "lock refuses a path");
	is_int(e.ex, EX_USAGE, "... EX_USAGE");
	end_queue();
}

static void
test_crash_leftovers(void)
{
	static const struct {
		const char *name;
		const char *env;
		int with_msg;
		const char *why;      /* expected in last_error */
	} damaged[] = {
		{ "garbage", "garbage\n", 1, "required key" },
		/* Found by tests/fuzz/queue.c: a CR was loaded into a value. */
		{ "CR in a value", "version 1\naccount \rvr\nfrom \nrcpt x@y\nsize 1\n8bit 0\n"
		  "created 5\n", 1, "CR byte" },
		{ "empty", "", 1, "empty" },
		{ "version 2", "version 2\naccount a\nfrom \nrcpt x@y\nsize 1\n8bit 0\ncreated 5\n", 1,
		  "unknown version" },
		{ "no recipients", "version 1\naccount a\nfrom \nsize 1\n8bit 0\ncreated 5\n", 1,
		  "no recipients" },
		{ "no created", "version 1\naccount a\nfrom \nrcpt x@y\nsize 1\n8bit 0\n", 1,
		  "required key" },
		{ "bad size", "version 1\naccount a\nfrom \nrcpt x@y\nsize -1\n8bit 0\ncreated 5\n", 1,
		  "line 5: bad size" },
		{ "cut short",
		  "version 1\naccount a\nfrom \nrcpt x@y\nsize 1\n8bit 0\ncreated 5", 1,
		  "last line incomplete" },
		{ "two froms",
		  "version 1\naccount a\nfrom a@b\nfrom c@d\nrcpt x@y\nsize 1\n8bit 0\ncreated 5\n", 1,
		  "twice" },
		{ "data file missing",
		  "version 1\naccount a\nfrom \nrcpt x@y\nsize 1\n8bit 0\ncreated 5\n", 0, ".msg" },
	};
	char dir[256], id[QUEUE_ID_MAX];
	struct queue_envelope env = simple_env();
	struct queue_item *items, it;
	struct queue_lock lk;
	size_t n;
	struct err e;

	new_queue(dir, sizeof dir);
	err_init(&e);
	is_int(add_entry(dir, &env, "ok\n", id), 0, "one good entry");

	/* An interrupted commit: ID.msg without ID.env. */
	put_file(sub_path(dir, NULL, "20200101000000aaaaaaaa", ".msg"), "half\n");
	is_int(queue_list(dir, 1, &items, &n, &e), 0, "list");
	is_int(n, 1, "an ID.msg without ID.env is not listed");
	queue_items_free(items, n);
	is_int(queue_lock(dir, "20200101000000aaaaaaaa", &lk, &e), 0, "... nor lockable");
	ok(exists(sub_path(dir, NULL, "20200101000000aaaaaaaa", ".msg")), "... and left alone");
	/* Files that are not entries. */
	put_file(sub_path(dir, NULL, "README", NULL), "notes\n");
	put_file(sub_path(dir, NULL, "x.y", ".env"), "version 1\n");

	for (size_t i = 0; i < sizeof damaged / sizeof damaged[0]; i++) {
		char did[QUEUE_ID_MAX];
		snprintf(did, sizeof did, "20210101000000%08zx", i);
		put_file(sub_path(dir, NULL, did, ".env"), damaged[i].env);
		if (damaged[i].with_msg)
			put_file(sub_path(dir, NULL, did, ".msg"), "x");
		is_int(queue_list(dir, 0, &items, &n, &e), 0, "%s: list", damaged[i].name);
		is_int(n, 2, "%s: listed with the good one", damaged[i].name);
		for (size_t j = 0; j < n; j++) {
			if (strcmp(items[j].id, did) != 0)
				continue;
			ok(items[j].damaged, "%s: marked damaged", damaged[i].name);
			ok(items[j].last_error && strncmp(items[j].last_error, "damaged: ", 9) == 0,
			   "%s: last error starts \"damaged: \"", damaged[i].name);
			ok(items[j].last_error && strstr(items[j].last_error, damaged[i].why),
			   "%s: says \"%s\"", damaged[i].name, damaged[i].why);
			if (items[j].last_error)
				printf("#   %s\n", items[j].last_error);
			ok(!queue_item_due(&items[j], LLONG_MAX), "%s: never due", damaged[i].name);
		}
		queue_items_free(items, n);
		is_int(queue_item_load(dir, did, &it, &e), -1, "%s: load refuses it", damaged[i].name);
		is_int(e.ex, EX_DATAERR, "%s: ... EX_DATAERR", damaged[i].name);
		queue_item_free(&it);
		ok(exists(sub_path(dir, NULL, did, ".env")), "%s: nothing deleted", damaged[i].name);
		/* out of the way for the next case */
		unlink(sub_path(dir, NULL, did, ".env"));
		unlink(sub_path(dir, NULL, did, ".msg"));
	}

	/* A damaged state file loses the schedule, not the message. */
	put_file(sub_path(dir, NULL, id, ".st"), "attempts many\n");
	is_int(queue_item_load(dir, id, &it, &e), 0, "a damaged ID.st still loads");
	ok(!it.damaged, "... the entry is not damaged");
	ok(it.last_error && strstr(it.last_error, "damaged state"), "... the problem shows");
	ok(queue_item_due(&it, 0), "... and it is due");
	queue_item_free(&it);
	is_int(queue_record_failure(dir, id, "again", &e), 0, "recording a failure repairs it");
	is_int(queue_item_load(dir, id, &it, &e), 0, "load");
	is_int(it.attempts, 1, "... counting from 1");
	queue_item_free(&it);
	end_queue();
}

static void
test_clean_tmp(void)
{
	char dir[256];
	struct timespec old[2];
	struct err e;
	int held;

	new_queue(dir, sizeof dir);
	err_init(&e);
	is_int(queue_clean_tmp(dir, &e), 0, "no tmp/ yet: nothing to do");
	{
		struct queue_entry q;
		is_int(queue_entry_create(&q, dir, &e), 0, "create makes tmp/");
		queue_entry_remove(&q, &e);
		queue_entry_free(&q);
	}
	clock_gettime(CLOCK_REALTIME, &old[0]);
	old[0].tv_sec -= QUEUE_TMP_MAX_AGE + 60;
	old[1] = old[0];
	put_file(sub_path(dir, "tmp", "old1", ".msg"), "x");
	put_file(sub_path(dir, "tmp", "old2", ".env.123"), "x");
	put_file(sub_path(dir, "tmp", "held", ".msg"), "x");
	put_file(sub_path(dir, "tmp", "new", ".msg"), "x");
	utimensat(AT_FDCWD, sub_path(dir, "tmp", "old1", ".msg"), old, 0);
	utimensat(AT_FDCWD, sub_path(dir, "tmp", "old2", ".env.123"), old, 0);
	utimensat(AT_FDCWD, sub_path(dir, "tmp", "held", ".msg"), old, 0);
	held = open(sub_path(dir, "tmp", "held", ".msg"), O_RDONLY);
	ok(held >= 0 && flock(held, LOCK_EX) == 0, "a live submission holds one old file");
	is_int(queue_clean_tmp(dir, &e), 2, "two old leftovers removed");
	ok(!exists(sub_path(dir, "tmp", "old1", ".msg")), "old data file gone");
	ok(!exists(sub_path(dir, "tmp", "old2", ".env.123")), "old envelope gone");
	ok(exists(sub_path(dir, "tmp", "held", ".msg")), "the locked one stays");
	ok(exists(sub_path(dir, "tmp", "new", ".msg")), "the recent one stays");
	close(held);
	end_queue();
}

/* queue_entry_create in a child that cannot write (as nobody when we
 * are root). Exit code: the error's ex when the message names tmp/ and
 * says "Permission denied", 0 on success, 1 otherwise. */
static int
create_unprivileged(const char *dir)
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct queue_entry q;
		struct err e;
		int r;

		err_init(&e);
		if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
			_exit(2);
		r = queue_entry_create(&q, dir, &e);
		r = r == 0 ? 0 : strstr(e.msg, "Permission denied") && strstr(e.msg, "/tmp/") ?
		    e.ex : 1;
		if (r == 1)
			fprintf(stderr, "%s\n", e.msg);
		queue_entry_free(&q);
		_exit(r);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* In a child with a tiny file size limit: the envelope write fails the
 * way a full disk does. Exit code: the error's ex, 0 on success, 1 when
 * the message lacks the path. */
static int
commit_with_fsize_limit(const char *dir)
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct queue_envelope env = simple_env();
		struct queue_entry q;
		struct rlimit rl = { 16, 16 };
		struct err e;
		int r;

		err_init(&e);
		signal(SIGXFSZ, SIG_IGN);
		r = queue_entry_create(&q, dir, &e);
		if (r == 0 && write(q.msg_fd, "hello\n", 6) != 6)
			r = -1;
		if (r == 0 && setrlimit(RLIMIT_FSIZE, &rl) < 0)
			r = -1;
		if (r == 0)
			r = queue_entry_commit(&q, &env, &e);
		r = r == 0 ? 0 : strstr(e.msg, "/tmp/") && strstr(e.msg, "large") ? e.ex : 1;
		queue_entry_free(&q);
		_exit(r);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* The configuration and submitter recorded in an entry (issue 8 §1):
 * written, read back, kept by queue_set_rcpts; an older entry has none. */
static void
test_config_record(void)
{
	static const char *const two[] = { "a@example.org", "b@example.org" };
	static const char *const left[] = { "b@example.org" };
	char dir[256], id[QUEUE_ID_MAX], id2[QUEUE_ID_MAX], path[400];
	struct queue_envelope env = simple_env();
	struct queue_item it;
	struct err e;
	FILE *f;

	new_queue(dir, sizeof dir);
	err_init(&e);
	env.rcpts = two;
	env.nrcpts = 2;
	env.has_config = 1;
	env.config_file = "/home/bob/.config/envoi/config";
	env.config_dev = 2049;
	env.config_ino = 123456789012ULL;
	env.uid = 1000;
	is_int(add_entry(dir, &env, "hello\n", id), 0, "entry with a configuration");
	is_int(queue_set_rcpts(dir, id, left, 1, &e), 0, "keep one recipient");
	is_int(queue_item_load(dir, id, &it, &e), 0, "load");
	is_int(it.has_config, 1, "has a configuration");
	is_str(it.config_file, "/home/bob/.config/envoi/config", "config path kept");
	is_int(it.config_dev, 2049, "config device kept");
	ok(it.config_ino == 123456789012ULL, "config inode kept");
	is_int(it.uid, 1000, "submitter uid kept");
	queue_item_free(&it);

	env.config_file = NULL;
	env.uid = -1;
	is_int(add_entry(dir, &env, "hello\n", id2), 0, "entry with the system file alone");
	is_int(queue_item_load(dir, id2, &it, &e), 0, "load");
	is_int(it.has_config, 1, "... has a configuration");
	is_str(it.config_file, NULL, "... the system file alone");
	is_int(it.uid, -1, "... no submitter uid");
	queue_item_free(&it);

	env.config_file = "relative/path";
	is_int(add_entry(dir, &env, "hello\n", id2), EX_SOFTWARE, "a relative config path is refused");
	end_queue();

	/* An older build's entry: no config line. */
	new_queue(dir, sizeof dir);
	env.has_config = 0;
	is_int(add_entry(dir, &env, "hello\n", id), 0, "entry without a configuration");
	is_int(queue_item_load(dir, id, &it, &e), 0, "load");
	is_int(it.has_config, 0, "... none recorded");
	queue_item_free(&it);
	/* Damaged values are refused, not guessed. */
	snprintf(path, sizeof path, "%s/%s.env", dir, id);
	f = fopen(path, "a");
	fputs("config-id 12:x\n", f);
	fclose(f);
	is_int(queue_item_load(dir, id, &it, &e), -1, "a bad config-id is damage");
	queue_item_free(&it);
	end_queue();
}

static void
test_errors(void)
{
	char dir[256], path[300];
	struct queue_envelope env = simple_env();
	struct queue_entry q;
	struct err e;

	/* The queue's parent is a file: cannot create. */
	new_queue(dir, sizeof dir);
	err_init(&e);
	put_file(dir, "not a directory\n");
	snprintf(path, sizeof path, "%s/queue", dir);
	is_int(queue_entry_create(&q, path, &e), -1, "queue under a regular file");
	is_int(e.ex, EX_CANTCREAT, "... EX_CANTCREAT");
	ok(strstr(e.msg, dir) != NULL, "... naming the path: %s", e.msg);
	queue_entry_free(&q);
	end_queue();

	/* An unwritable queue directory. Root ignores modes, so then the
	 * child drops to nobody first. */
	new_queue(dir, sizeof dir);
	chmod(base, 0755);
	mkdir(dir, 0755);
	mkdir(sub_path(dir, NULL, "tmp", NULL), 0500);
	is_int(create_unprivileged(dir), EX_CANTCREAT,
	       "unwritable tmp/: EX_CANTCREAT naming the path and the reason");
	is_int(count_files(sub_path(dir, NULL, "tmp", NULL)), 0, "... nothing created");
	end_queue();

	/* The envelope cannot be written (as on a full disk): EX_IOERR and
	 * nothing left behind. */
	new_queue(dir, sizeof dir);
	is_int(commit_with_fsize_limit(dir), EX_IOERR,
	       "a write failure during commit is EX_IOERR, with the path");
	is_int(count_files(dir), 1, "... only tmp/ in the queue directory");
	is_int(count_files(sub_path(dir, NULL, "tmp", NULL)), 0, "... and tmp/ is empty");
	end_queue();

	/* A bad envelope: refused, and the data file is not left behind. */
	new_queue(dir, sizeof dir);
	is_int(queue_entry_create(&q, dir, &e), 0, "create");
	env.nrcpts = 0;
	is_int(queue_entry_commit(&q, &env, &e), -1, "commit without recipients");
	is_int(e.ex, EX_SOFTWARE, "... EX_SOFTWARE");
	env.nrcpts = 1;
	env.from = "a@b\nrcpt evil@example.org";
	is_int(queue_entry_commit(&q, &env, &e), -1, "commit with a line break in from");
	is_int(e.ex, EX_SOFTWARE, "... EX_SOFTWARE");
	is_int(count_files(dir), 1, "... no entry in the queue");
	is_int(count_files(sub_path(dir, NULL, "tmp", NULL)), 0, "... nothing in tmp/");
	queue_entry_free(&q);
	end_queue();
}

int
main(void)
{
	test_ids();
	test_roundtrip();
	test_sorted();
	test_backoff();
	test_record_failure();
	test_due_expired();
	test_set_rcpts();
	test_failed_and_remove();
	test_entry_remove();
	test_lock();
	test_crash_leftovers();
	test_clean_tmp();
	test_config_record();
	test_errors();
	return done_testing();
}
