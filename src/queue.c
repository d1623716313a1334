/* queue.c - see queue.h for the on-disk format, the crash-safety
 * argument and the locking rules. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_GETRANDOM
#include <sys/random.h>
#endif

#include "buf.h"
#include "conf.h"
#include "queue.h"

/* Longest path we build under the queue directory. */
#define QUEUE_PATH_MAX 4096

/* Shortest id we accept from outside: ours are 22 characters; anything
 * much shorter is a typo, not an entry. */
#define QUEUE_ID_MIN 8

/* DIR[/SUB][/NAME][EXT] into out, with no allocation: what removes an
 * entry after the server took the message must not fail for want of
 * memory (the entry would stay: a duplicate). -1 when it does not fit. */
static int
path_fmt(char out[QUEUE_PATH_MAX], const char *dir, const char *sub, const char *name,
         const char *ext)
{
	int n = snprintf(out, QUEUE_PATH_MAX, "%s%s%s%s%s%s", dir, sub ? "/" : "",
	                 sub ? sub : "", name ? "/" : "", name ? name : "", ext ? ext : "");

	if (n < 0 || n >= QUEUE_PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static char *
path_join(const char *dir, const char *sub, const char *name, const char *ext)
{
	char p[QUEUE_PATH_MAX];

	return path_fmt(p, dir, sub, name, ext) < 0 ? NULL : str_dup(p);
}

/* DIR/ID.ext or DIR/failed/ID.ext */
static char *
entry_path(const char *dir, int failed, const char *id, const char *ext)
{
	return path_join(dir, failed ? "failed" : NULL, id, ext);
}

char *
queue_default_dir(const char *configured, const char *home)
{
	char *state, *dir;

	if (configured && *configured)
		return str_dup(configured);
	if (getuid() == 0)
		return str_dup(LOCALSTATEDIR "/spool/envoi");
	/* $XDG_STATE_HOME only when it is the caller's own directory (su
	 * without "-" keeps another user's): as conf.c rules for HOME. */
	state = conf_xdg_dir("XDG_STATE_HOME", home, ".local/state");
	if (state == NULL)
		return NULL;
	dir = path_join(state, "envoi", "queue", NULL);
	free(state);
	return dir;
}

int
queue_id_valid(const char *s)
{
	size_t n = 0;

	if (s == NULL)
		return 0;
	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'z') ||
		      (s[n] >= 'A' && s[n] <= 'Z')))
			return 0;
	return n >= QUEUE_ID_MIN && n < QUEUE_ID_MAX;
}

/* For a failed rename: out of space (a directory that must grow), over
 * quota or a failing disk is EX_IOERR like a failed write; anything else
 * is EX_CANTCREAT (permissions, missing directory, ...). Failures to
 * create or open a file are always EX_CANTCREAT. */
static int
create_ex(int errnum)
{
	return errnum == ENOSPC || errnum == EDQUOT || errnum == EIO ? EX_IOERR : EX_CANTCREAT;
}

/* mkdir -p with mode 0700 for the directories we create. */
static int
mkdirs(const char *path, struct err *e)
{
	char tmp[QUEUE_PATH_MAX];
	struct stat st;
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof tmp)
		return err_set(e, EX_CANTCREAT, "queue directory name too long: %s", path);
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char saved = *p;
			*p = '\0';
			if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
				return err_set(e, EX_CANTCREAT, "cannot create queue directory %s: %s",
				               tmp, strerror(errno));
			*p = saved;
			if (saved == '\0')
				break;
		}
	}
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return err_set(e, EX_CANTCREAT, "queue directory %s is not a directory", path);
	return 0;
}

/* One subdirectory (tmp, failed) of an existing queue. */
static int
mksub(const char *dir, const char *sub, struct err *e)
{
	char *p = path_join(dir, sub, NULL, NULL);
	int r = 0;

	if (p == NULL)
		return err_set(e, EX_CANTCREAT, "queue directory name too long: %s", dir);
	if (mkdir(p, 0700) < 0 && errno != EEXIST)
		r = err_set(e, EX_CANTCREAT, "cannot create %s: %s", p, strerror(errno));
	free(p);
	return r;
}

static void
make_id(char *id, size_t size)
{
	unsigned int rnd = 0;
	time_t now = time(NULL);
	struct tm tm;
	char stamp[20];

#ifdef HAVE_GETRANDOM
	if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
#endif
		rnd = (unsigned int)getpid() ^ (unsigned int)clock() ^ (unsigned int)now;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm);
	snprintf(id, size, "%s%08x", stamp, rnd);
}

/* flock without waiting: 1 locked, 0 busy, -1 error (errno). */
static int
try_lock(int fd)
{
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 1;
		if (errno == EWOULDBLOCK)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/* Does DIR/ID.msg or DIR/ID.env exist (or can we not tell)? */
static int
id_in_use(const char *dir, const char *id)
{
	static const char *const exts[] = { ".msg", ".env" };
	struct stat st;

	for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
		char *p = entry_path(dir, 0, id, exts[i]);
		int used = p == NULL || stat(p, &st) == 0 || errno != ENOENT;
		free(p);
		if (used)
			return 1;
	}
	return 0;
}

int
queue_entry_create(struct queue_entry *q, const char *dir, struct err *e)
{
	memset(q, 0, sizeof *q);
	q->msg_fd = -1;
	q->dir = str_dup(dir);
	if (q->dir == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	char *tmpdir = path_join(dir, "tmp", NULL, NULL);
	if (tmpdir == NULL)
		return err_set(e, EX_CANTCREAT, "queue directory name too long: %s", dir);
	int r = mkdirs(tmpdir, e);
	free(tmpdir);
	if (r < 0)
		return -1;
	for (int tries = 0; tries < 10; tries++) {
		make_id(q->id, sizeof q->id);
		free(q->tmp_msg);
		q->tmp_msg = path_join(dir, "tmp", q->id, ".msg");
		if (q->tmp_msg == NULL)
			return err_set(e, EX_CANTCREAT, "queue directory name too long: %s", dir);
		/* The random part makes a clash unlikely, but renaming onto a
		 * live entry would destroy it: check the queue too. */
		if (id_in_use(dir, q->id))
			continue;
		q->msg_fd = open(q->tmp_msg, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (q->msg_fd >= 0)
			break;
		if (errno != EEXIST)
			return err_set(e, EX_CANTCREAT, "cannot create %s: %s", q->tmp_msg,
			               strerror(errno));
	}
	if (q->msg_fd < 0)
		return err_set(e, EX_CANTCREAT, "cannot create a unique queue file in %s", dir);
	/* Locked before anyone can see it: a queue run must not pick up a
	 * message its submitter is about to deliver itself. */
	if (try_lock(q->msg_fd) != 1) {
		int saved = errno;
		err_set(e, EX_OSERR, "cannot lock %s: %s", q->tmp_msg, strerror(saved));
		goto undo;
	}
	q->tmp_env = path_join(dir, "tmp", q->id, ".env");
	q->msg_path = path_join(dir, q->id, NULL, ".msg");
	q->env_path = path_join(dir, q->id, NULL, ".env");
	if (!q->tmp_env || !q->msg_path || !q->env_path) {
		err_set(e, EX_OSERR, "out of memory");
		goto undo;
	}
	return 0;
undo:
	close(q->msg_fd);
	q->msg_fd = -1;
	unlink(q->tmp_msg);
	return -1;
}

int
queue_scratch(const char *dir, struct err *e)
{
	char *tmpdir = path_join(dir, "tmp", NULL, NULL);
	char *path = path_join(dir, "tmp", "scratch.XXXXXX", NULL);
	int fd = -1;

	if (tmpdir == NULL || path == NULL) {
		err_set(e, EX_CANTCREAT, "queue directory name too long: %s", dir);
		goto out;
	}
	if (mkdirs(tmpdir, e) < 0)
		goto out;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		err_set(e, create_ex(errno), "cannot create a scratch file in %s: %s", tmpdir,
		        strerror(errno));
		goto out;
	}
	/* Nameless from now on: nothing to clean up after a crash. */
	unlink(path);
out:
	free(tmpdir);
	free(path);
	return fd;
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
queue_fsync(int fd)
{
	int r;

	do
		r = fsync(fd);
	while (r < 0 && errno == EINTR);
	return r;
}

static int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return -1;
	r = queue_fsync(fd);
	if (r < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	close(fd);
	return 0;
}

/* Envelope values must stay on one line: addresses were checked for
 * control characters already, this is the last line of defence. */
static int
clean_value(const char *s)
{
	for (; s && *s; s++)
		if (*s == '\n' || *s == '\r')
			return 0;
	return 1;
}

/* The text of ID.env (format in queue.h). -1 for a value that would
 * break the line format, or past QUEUE_ENV_MAX. */
static int
env_format(struct buf *b, const struct queue_envelope *env, long long created)
{
	int r = 0;

	if (env->nrcpts == 0)
		return -1;
	r |= buf_printf(b, "version 1\naccount %s\nfrom %s\n",
	                env->account ? env->account : "default", env->from ? env->from : "");
	r |= clean_value(env->account) && clean_value(env->from) ? 0 : -1;
	for (size_t i = 0; i < env->nrcpts; i++) {
		r |= buf_printf(b, "rcpt %s\n", env->rcpts[i]);
		r |= clean_value(env->rcpts[i]) && env->rcpts[i][0] ? 0 : -1;
	}
	if (env->has_config) {
		r |= buf_printf(b, "config %s\nconfig-id %llu:%llu\n",
		                env->config_file ? env->config_file : "-", env->config_dev,
		                env->config_ino);
		r |= clean_value(env->config_file) &&
		     (env->config_file == NULL || env->config_file[0] == '/') ? 0 : -1;
	}
	if (env->uid >= 0)
		r |= buf_printf(b, "submitter-uid %lld\n", env->uid);
	r |= buf_printf(b, "message-id %s\nsize %llu\n8bit %d\ncreated %lld\n",
	                env->message_id && clean_value(env->message_id) ? env->message_id : "",
	                env->size, env->has_8bit ? 1 : 0, created);
	/* envelope.c validated the values: printable, one line each. */
	r |= envelope_format(&env->opts, b);
	return r < 0 ? -1 : 0;
}

/* Undo a failed commit so nothing partial stays visible. */
static void
commit_undo(struct queue_entry *q)
{
	const char *paths[] = { q->env_path, q->msg_path, q->tmp_env, q->tmp_msg };

	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
		if (paths[i])
			unlink(paths[i]);
}

int
queue_entry_commit(struct queue_entry *q, const struct queue_envelope *env, struct err *e)
{
	struct buf b;
	int fd;

	if (queue_fsync(q->msg_fd) < 0) {
		err_set(e, EX_IOERR, "cannot write %s: %s", q->tmp_msg, strerror(errno));
		goto undo;
	}
	buf_init(&b, QUEUE_ENV_MAX);
	errno = 0;
	if (env_format(&b, env, (long long)time(NULL)) < 0) {
		/* Memory is the machine's trouble (the pickup keeps the drop
		 * file for it); anything else is the envelope's. */
		if (errno == ENOMEM)
			err_set(e, EX_OSERR, "out of memory");
		else
			err_set(e, EX_SOFTWARE, "cannot build the envelope for %s (no recipients, "
			        "a line break in a value, or over %u bytes)", q->id, QUEUE_ENV_MAX);
		buf_free(&b);
		goto undo;
	}
	fd = open(q->tmp_env, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		buf_free(&b);
		err_set(e, EX_CANTCREAT, "cannot create %s: %s", q->tmp_env, strerror(errno));
		goto undo;
	}
	if (write_all(fd, b.data, b.len) < 0 || queue_fsync(fd) < 0) {
		int saved = errno;
		close(fd);
		buf_free(&b);
		err_set(e, EX_IOERR, "cannot write %s: %s", q->tmp_env, strerror(saved));
		goto undo;
	}
	buf_free(&b);
	/* close can report a deferred write error (NFS). */
	if (close(fd) < 0) {
		err_set(e, EX_IOERR, "cannot write %s: %s", q->tmp_env, strerror(errno));
		goto undo;
	}
	/* Data first: an .env never names a missing .msg. */
	if (rename(q->tmp_msg, q->msg_path) < 0) {
		err_set(e, create_ex(errno), "cannot move %s into the queue: %s", q->tmp_msg,
		        strerror(errno));
		goto undo;
	}
	if (rename(q->tmp_env, q->env_path) < 0) {
		err_set(e, create_ex(errno), "cannot move %s into the queue: %s", q->tmp_env,
		        strerror(errno));
		goto undo;
	}
	/* Until the directory is synced the renames may not survive a crash;
	 * if it fails we cannot promise durability, so the entry goes and
	 * the caller reports the error instead of exit 0. */
	if (fsync_dir(q->dir) < 0) {
		err_set(e, EX_IOERR, "cannot sync queue directory %s: %s", q->dir,
		        strerror(errno));
		goto undo;
	}
	q->committed = 1;
	return 0;
undo:
	commit_undo(q);
	return -1;
}

/* An entry (its message accepted) whose envelope cannot be removed:
 * left as it is, the next queue run would send it again. A rename into
 * tmp/ (whose old files queue_clean_tmp removes) takes it out of the
 * queue too; errno is unlink's again if that fails as well. */
static int
env_set_aside(const char *dir, const char *id, const char *env)
{
	int saved = errno;
	char aside[QUEUE_PATH_MAX];
	int r = path_fmt(aside, dir, "tmp", id, ".env.sent") < 0 ? -1 : rename(env, aside);

	if (r < 0)
		errno = saved;
	return r;
}

int
queue_entry_remove(struct queue_entry *q, struct err *e)
{
	if (q->committed) {
		/* Envelope first: without it the entry no longer exists. */
		if (unlink(q->env_path) < 0 && errno != ENOENT &&
		    env_set_aside(q->dir, q->id, q->env_path) < 0)
			return err_set(e, EX_IOERR, "cannot remove %s: %s", q->env_path,
			               strerror(errno));
		char st[QUEUE_PATH_MAX];
		if (path_fmt(st, q->dir, NULL, q->id, ".st") == 0)
			unlink(st);
		unlink(q->msg_path);
		q->committed = 0;
		/* A removal lost in a crash means a second delivery. */
		if (fsync_dir(q->dir) < 0)
			return err_set(e, EX_IOERR, "cannot sync queue directory %s: %s", q->dir,
			               strerror(errno));
	} else {
		if (q->tmp_env)
			unlink(q->tmp_env);
		if (q->tmp_msg)
			unlink(q->tmp_msg);
	}
	return 0;
}

void
queue_entry_free(struct queue_entry *q)
{
	if (q->msg_fd >= 0)
		close(q->msg_fd);
	q->msg_fd = -1;
	free(q->dir);
	free(q->tmp_msg);
	free(q->tmp_env);
	free(q->msg_path);
	free(q->env_path);
	q->dir = q->tmp_msg = q->tmp_env = q->msg_path = q->env_path = NULL;
}

/* ------------------------------------------------------------ the store */

/* Read a whole small file into b (bounded by max). ENOENT gives
 * EX_NOINPUT so callers can tell "no such entry" from a read error. */
static int
read_file(const char *path, size_t max, struct buf *b, struct err *e)
{
	char chunk[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	buf_init(b, max);
	if (fd < 0)
		return err_set(e, errno == ENOENT ? EX_NOINPUT : EX_IOERR, "cannot open %s: %s",
		               path, strerror(errno));
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;
			close(fd);
			return err_set(e, EX_IOERR, "cannot read %s: %s", path, strerror(saved));
		}
		if (n == 0)
			break;
		if (buf_append(b, chunk, (size_t)n) < 0) {
			int saved = errno;
			close(fd);
			if (saved == ENOSPC)
				return err_set(e, EX_DATAERR, "%s is larger than %zu bytes", path, max);
			return err_set(e, EX_OSERR, "out of memory");
		}
	}
	close(fd);
	return 0;
}

/*
 * Replace `final` atomically with data: write tmp (in the queue's tmp/,
 * same file system), fsync, rename over final, fsync final's directory
 * `syncdir`. The caller should hold the entry's lock; the tmp name carries
 * the pid anyway, so a caller that does not can only lose a race (last
 * rename wins), never write a mixed file. A leftover from a crash is
 * truncated on reuse or cleared by queue_clean_tmp.
 */
static int
replace_file(const char *tmp, const char *final, const char *syncdir, const char *data,
             size_t len, struct err *e)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		return err_set(e, EX_CANTCREAT, "cannot create %s: %s", tmp, strerror(errno));
	if (write_all(fd, data, len) < 0 || queue_fsync(fd) < 0) {
		int saved = errno;
		close(fd);
		unlink(tmp);
		return err_set(e, EX_IOERR, "cannot write %s: %s", tmp, strerror(saved));
	}
	if (close(fd) < 0) {
		int saved = errno;
		unlink(tmp);
		return err_set(e, EX_IOERR, "cannot write %s: %s", tmp, strerror(saved));
	}
	if (rename(tmp, final) < 0) {
		int saved = errno;
		unlink(tmp);
		return err_set(e, create_ex(saved), "cannot replace %s: %s", final,
		               strerror(saved));
	}
	if (fsync_dir(syncdir) < 0)
		return err_set(e, EX_IOERR, "cannot sync directory %s: %s", syncdir,
		               strerror(errno));
	return 0;
}

/* A copy of s on one line, control characters turned into spaces, cut
 * with "..." at QUEUE_ERROR_MAX. NULL for NULL or out of memory. */
static char *
one_line(const char *s)
{
	size_t n;
	char *d;

	if (s == NULL)
		return NULL;
	n = strlen(s);
	if (n >= QUEUE_ERROR_MAX)
		n = QUEUE_ERROR_MAX - 1;
	d = malloc(n + 1);
	if (d == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		d[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	d[n] = '\0';
	if (n == QUEUE_ERROR_MAX - 1)
		memcpy(d + n - 3, "...", 3);
	return d;
}

static int
parse_time(const char *v, long long *out)
{
	long x;

	if (parse_long(v, 0, LONG_MAX, &x) < 0)
		return -1;
	*out = x;
	return 0;
}

/* Store a value once; a key given twice is a sign of corruption. */
static int
set_once(char **slot, const char *v, const char **why)
{
	if (*slot != NULL) {
		*why = "key given twice";
		return -1;
	}
	*slot = str_dup(v);
	if (*slot == NULL) {
		*why = "out of memory";
		return -1;
	}
	return 0;
}

static int
add_rcpt(struct queue_item *it, const char *v, const char **why)
{
	if (*v == '\0') {
		*why = "empty recipient";
		return -1;
	}
	char **nv = realloc(it->rcpts, (it->nrcpts + 1) * sizeof *nv);
	if (nv == NULL) {
		*why = "out of memory";
		return -1;
	}
	it->rcpts = nv;
	it->rcpts[it->nrcpts] = str_dup(v);
	if (it->rcpts[it->nrcpts] == NULL) {
		*why = "out of memory";
		return -1;
	}
	it->nrcpts++;
	return 0;
}

/* Split "key value\n" lines in place; calls fn for each. A file that
 * does not end with a newline was cut short: refused. */
typedef int (*line_fn)(void *ctx, const char *key, const char *val, const char **why);

static int
parse_lines(char *text, size_t len, void *ctx, line_fn fn, size_t *lineno,
            const char **why)
{
	char *p = text, *end = text + len;

	*lineno = 0;
	if (len > 0 && text[len - 1] != '\n') {
		*why = "last line incomplete";
		return -1;
	}
	if (memchr(text, '\0', len) != NULL) {
		*why = "NUL byte";
		return -1;
	}
	/* envoi never writes a CR (values are one line each): a CR would
	 * reach an address or a log line as part of a value. */
	if (memchr(text, '\r', len) != NULL) {
		*why = "CR byte";
		return -1;
	}
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *sp;
		(*lineno)++;
		*nl = '\0';
		sp = strchr(p, ' ');
		if (sp)
			*sp = '\0';
		if (*p == '\0') {
			*why = "empty key";
			return -1;
		}
		if (fn(ctx, p, sp ? sp + 1 : "", why) < 0)
			return -1;
		p = nl + 1;
	}
	return 0;
}

/* Parse state for the keys whose presence is required. */
#define ENV_SEEN_VERSION  0x01
#define ENV_SEEN_SIZE     0x02
#define ENV_SEEN_8BIT     0x04
#define ENV_SEEN_CREATED  0x08

/* "config PATH" (absolute) or "config -" (the system file alone). */
static int
env_config(struct queue_item *it, const char *v, const char **why)
{
	if (it->has_config) {
		*why = "config given twice";
		return -1;
	}
	it->has_config = 1;
	if (strcmp(v, "-") == 0)
		return 0;
	if (*v != '/') {
		*why = "config is not an absolute path";
		return -1;
	}
	return set_once(&it->config_file, v, why);
}

/* "config-id DEV:INO", two decimal numbers. */
static int
env_config_id(struct queue_item *it, const char *v, const char **why)
{
	char *end;

	errno = 0;
	if (*v < '0' || *v > '9')
		goto bad;
	it->config_dev = strtoull(v, &end, 10);
	if (errno || *end != ':' || end[1] < '0' || end[1] > '9')
		goto bad;
	it->config_ino = strtoull(end + 1, &end, 10);
	if (errno || *end != '\0')
		goto bad;
	return 0;
bad:
	*why = "bad config-id";
	return -1;
}

struct env_ctx {
	struct queue_item *it;
	int seen;               /* ENV_SEEN_* */
};

static int
env_line(void *ctx, const char *key, const char *v, const char **why)
{
	struct env_ctx *c = ctx;
	struct queue_item *it = c->it;
	int *seen = &c->seen;
	long x;

	if (strcmp(key, "version") == 0) {
		if (strcmp(v, "1") != 0) {
			*why = "unknown version";
			return -1;
		}
		*seen |= ENV_SEEN_VERSION;
	} else if (strcmp(key, "account") == 0) {
		return set_once(&it->account, v, why);
	} else if (strcmp(key, "from") == 0) {
		return set_once(&it->from, v, why);
	} else if (strcmp(key, "rcpt") == 0) {
		return add_rcpt(it, v, why);
	} else if (strcmp(key, "message-id") == 0) {
		return *v ? set_once(&it->message_id, v, why) : 0;
	} else if (strcmp(key, "size") == 0) {
		if (parse_long(v, 0, LONG_MAX, &x) < 0) {
			*why = "bad size";
			return -1;
		}
		it->size = (unsigned long long)x;
		*seen |= ENV_SEEN_SIZE;
	} else if (strcmp(key, "8bit") == 0) {
		if (parse_long(v, 0, 1, &x) < 0) {
			*why = "bad 8bit";
			return -1;
		}
		it->has_8bit = (int)x;
		*seen |= ENV_SEEN_8BIT;
	} else if (strcmp(key, "created") == 0) {
		if (parse_time(v, &it->created) < 0) {
			*why = "bad created";
			return -1;
		}
		*seen |= ENV_SEEN_CREATED;
	} else if (strcmp(key, "config") == 0) {
		return env_config(it, v, why);
	} else if (strcmp(key, "config-id") == 0) {
		return env_config_id(it, v, why);
	} else if (strcmp(key, "submitter-uid") == 0) {
		if (parse_long(v, 0, LONG_MAX, &x) < 0) {
			*why = "bad submitter-uid";
			return -1;
		}
		it->uid = x;
	} else if (envelope_read(&it->opts, key, v, why) < 0) {
		return -1;
	}
	/* Unknown keys are ignored: a later envoi may add optional ones. */
	return 0;
}

static int
st_line(void *ctx, const char *key, const char *v, const char **why)
{
	struct queue_item *it = ctx;
	long x;

	if (strcmp(key, "attempts") == 0) {
		if (parse_long(v, 0, INT_MAX, &x) < 0) {
			*why = "bad attempts";
			return -1;
		}
		it->attempts = (int)x;
	} else if (strcmp(key, "first-attempt") == 0) {
		if (parse_time(v, &it->first_attempt) < 0) {
			*why = "bad first-attempt";
			return -1;
		}
	} else if (strcmp(key, "last-attempt") == 0) {
		if (parse_time(v, &it->last_attempt) < 0) {
			*why = "bad last-attempt";
			return -1;
		}
	} else if (strcmp(key, "next-attempt") == 0) {
		if (parse_time(v, &it->next_attempt) < 0) {
			*why = "bad next-attempt";
			return -1;
		}
	} else if (strcmp(key, "last-error") == 0) {
		return set_once(&it->last_error, v, why);
	} else if (strcmp(key, "failed-reason") == 0) {
		return set_once(&it->failed_reason, v, why);
	}
	return 0;
}

static void
item_clear_state(struct queue_item *it)
{
	free(it->last_error);
	free(it->failed_reason);
	it->last_error = it->failed_reason = NULL;
	it->attempts = 0;
	it->first_attempt = it->last_attempt = it->next_attempt = 0;
}

/* Read ID.st into it's state fields. A missing file is "never tried".
 * Errors: EX_DATAERR (unparsable), EX_IOERR, EX_OSERR. */
static int
load_state(const char *dir, int failed, const char *id, struct queue_item *it,
           struct err *e)
{
	struct buf b;
	char *path = entry_path(dir, failed, id, ".st");
	const char *why = NULL;
	size_t lineno;
	int r;

	item_clear_state(it);
	if (path == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	r = read_file(path, QUEUE_ST_MAX, &b, e);
	if (r < 0 && e->ex == EX_NOINPUT) {
		buf_free(&b);
		free(path);
		return 0;
	}
	if (r == 0 && b.len > 0 && parse_lines(b.data, b.len, it, st_line, &lineno, &why) < 0)
		r = err_set(e, EX_DATAERR, "%s: line %zu: %s", path, lineno, why);
	buf_free(&b);
	free(path);
	if (r < 0)
		item_clear_state(it);
	return r;
}

void
queue_item_free(struct queue_item *it)
{
	free(it->account);
	free(it->config_file);
	free(it->from);
	free(it->message_id);
	for (size_t i = 0; i < it->nrcpts; i++)
		free(it->rcpts[i]);
	free(it->rcpts);
	free(it->last_error);
	free(it->failed_reason);
	memset(it, 0, sizeof *it);
}

/* Load one entry; see queue_item_load. Errors that mean "the entry is
 * damaged" are EX_DATAERR with a message starting "damaged: ". */
static int
load_item(const char *dir, int failed, const char *id, struct queue_item *it,
          struct err *e)
{
	struct buf b;
	struct stat st;
	char *env = NULL, *msg = NULL;
	const char *why = NULL;
	size_t lineno = 0;
	int r = -1;

	memset(it, 0, sizeof *it);
	it->uid = -1;
	it->failed = failed;
	if (!queue_id_valid(id))
		return err_set(e, EX_USAGE, "not a queue id: %s", id);
	snprintf(it->id, sizeof it->id, "%s", id);
	env = entry_path(dir, failed, id, ".env");
	msg = entry_path(dir, failed, id, ".msg");
	if (env == NULL || msg == NULL) {
		free(env);
		free(msg);
		return err_set(e, EX_OSERR, "out of memory");
	}
	if (read_file(env, QUEUE_ENV_MAX, &b, e) < 0) {
		buf_free(&b);
		if (e->ex == EX_NOINPUT)
			err_set(e, EX_NOINPUT, "no queue entry %s in %s%s", id, dir,
			        failed ? "/failed" : "");
		else if (e->ex != EX_OSERR)
			err_prefix(e, "damaged");
		goto out;
	}
	struct env_ctx c = { it, 0 };
	if (b.len == 0) {
		why = "empty";
	} else if (parse_lines(b.data, b.len, &c, env_line, &lineno, &why) == 0) {
		const int all = ENV_SEEN_VERSION | ENV_SEEN_SIZE | ENV_SEEN_8BIT |
		                ENV_SEEN_CREATED;
		lineno = 0;
		if ((c.seen & all) != all || !it->account || !it->from)
			why = "a required key (version, account, from, size, 8bit, created) "
			      "is missing";
		else if (it->nrcpts == 0)
			why = "no recipients";
	}
	buf_free(&b);
	if (why) {
		if (strcmp(why, "out of memory") == 0)
			err_set(e, EX_OSERR, "out of memory");
		else if (lineno)
			err_set(e, EX_DATAERR, "damaged: %s: line %zu: %s", env, lineno, why);
		else
			err_set(e, EX_DATAERR, "damaged: %s: %s", env, why);
		goto out;
	}
	if (stat(msg, &st) < 0) {
		err_set(e, EX_DATAERR, "damaged: %s: %s", msg, strerror(errno));
		goto out;
	}
	/* The envelope is good: a broken state file loses the schedule, not
	 * the message; the entry stays deliverable and the problem shows. */
	if (load_state(dir, failed, id, it, e) < 0) {
		if (e->ex == EX_OSERR)
			goto out;
		err_prefix(e, "damaged state (the retry schedule starts again)");
		it->last_error = one_line(e->msg);
		if (it->last_error == NULL) {
			err_set(e, EX_OSERR, "out of memory");
			goto out;
		}
		err_init(e);
	}
	r = 0;
out:
	free(env);
	free(msg);
	return r;
}

int
queue_item_load(const char *dir, const char *id, struct queue_item *it, struct err *e)
{
	return load_item(dir, 0, id, it, e);
}

void
queue_items_free(struct queue_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		queue_item_free(&items[i]);
	free(items);
}

/* Append the ids of ".env" files in dir (or dir/failed) to *items. */
static int
scan_dir(const char *dir, int failed, struct queue_item **items, size_t *n, size_t *cap,
         struct err *e)
{
	char *path = failed ? path_join(dir, "failed", NULL, NULL) : str_dup(dir);
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (path == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	d = opendir(path);
	if (d == NULL) {
		if (errno == ENOENT) {
			free(path);
			return 0;
		}
		r = err_set(e, EX_IOERR, "cannot read queue directory %s: %s", path,
		            strerror(errno));
		free(path);
		return r;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			if (errno)
				r = err_set(e, EX_IOERR, "cannot read queue directory %s: %s", path,
				            strerror(errno));
			break;
		}
		size_t len = strlen(de->d_name);
		if (len <= 4 || strcmp(de->d_name + len - 4, ".env") != 0 ||
		    len - 4 >= QUEUE_ID_MAX)
			continue;
		char id[QUEUE_ID_MAX];
		memcpy(id, de->d_name, len - 4);
		id[len - 4] = '\0';
		if (!queue_id_valid(id))
			continue;
		if (*n == *cap) {
			size_t ncap = *cap ? *cap * 2 : 16;
			struct queue_item *nv = realloc(*items, ncap * sizeof *nv);
			if (nv == NULL) {
				r = err_set(e, EX_OSERR, "out of memory");
				break;
			}
			*items = nv;
			*cap = ncap;
		}
		memset(&(*items)[*n], 0, sizeof **items);
		snprintf((*items)[*n].id, QUEUE_ID_MAX, "%s", id);
		(*items)[*n].failed = failed;
		(*n)++;
	}
	closedir(d);
	free(path);
	return r;
}

static int
item_cmp(const void *a, const void *b)
{
	const struct queue_item *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	return c ? c : x->failed - y->failed;
}

int
queue_list(const char *dir, int include_failed, struct queue_item **items, size_t *n,
           struct err *e)
{
	struct queue_item *v = NULL;
	size_t nv = 0, cap = 0, out = 0;

	*items = NULL;
	*n = 0;
	if (scan_dir(dir, 0, &v, &nv, &cap, e) < 0 ||
	    (include_failed && scan_dir(dir, 1, &v, &nv, &cap, e) < 0)) {
		queue_items_free(v, nv);
		return -1;
	}
	for (size_t i = 0; i < nv; i++) {
		char id[QUEUE_ID_MAX];
		int failed = v[i].failed;
		struct err le;

		memcpy(id, v[i].id, sizeof id);
		err_init(&le);
		if (load_item(dir, failed, id, &v[out], &le) == 0) {
			out++;
			continue;
		}
		queue_item_free(&v[out]);
		if (le.ex == EX_NOINPUT)
			continue;        /* removed since we read the directory */
		if (le.ex == EX_OSERR) {
			*e = le;
			for (size_t j = i + 1; j < nv; j++)
				queue_item_free(&v[j]);
			queue_items_free(v, out);
			return -1;
		}
		/* Damaged: listed, so an admin sees it, never hidden. */
		snprintf(v[out].id, sizeof v[out].id, "%s", id);
		v[out].failed = failed;
		v[out].damaged = 1;
		v[out].last_error = one_line(le.msg);
		if (v[out].last_error == NULL) {
			for (size_t j = i + 1; j < nv; j++)
				queue_item_free(&v[j]);
			queue_items_free(v, out);
			return err_set(e, EX_OSERR, "out of memory");
		}
		out++;
	}
	if (out == 0) {
		free(v);
		return 0;
	}
	qsort(v, out, sizeof *v, item_cmp);
	*items = v;
	*n = out;
	return 0;
}

int
queue_lock(const char *dir, const char *id, struct queue_lock *lk, struct err *e)
{
	struct stat held, now;
	char *msg, *env;
	int r, gone;

	lk->fd = -1;
	lk->id[0] = '\0';
	if (!queue_id_valid(id))
		return err_set(e, EX_USAGE, "not a queue id: %s", id);
	msg = entry_path(dir, 0, id, ".msg");
	env = entry_path(dir, 0, id, ".env");
	if (msg == NULL || env == NULL) {
		free(msg);
		free(env);
		return err_set(e, EX_OSERR, "out of memory");
	}
	lk->fd = open(msg, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (lk->fd < 0) {
		r = errno == ENOENT ? 0 : err_set(e, EX_IOERR, "cannot open %s: %s", msg,
		                                  strerror(errno));
		goto out;
	}
	r = try_lock(lk->fd);
	if (r < 0)
		err_set(e, EX_IOERR, "cannot lock %s: %s", msg, strerror(errno));
	if (r != 1)
		goto out;
	/* We may have waited for nothing: the holder removed the entry or
	 * moved it to failed/ before unlocking. Then the path no longer names
	 * the inode we locked, or the envelope is gone. */
	if (fstat(lk->fd, &held) < 0) {
		r = err_set(e, EX_IOERR, "cannot stat %s: %s", msg, strerror(errno));
		goto out;
	}
	gone = held.st_nlink == 0 || stat(msg, &now) < 0 || now.st_ino != held.st_ino ||
	       now.st_dev != held.st_dev;
	/* An ID.msg without ID.env is an interrupted commit or removal:
	 * never delivered. */
	if (!gone && stat(env, &now) < 0) {
		if (errno != ENOENT) {
			r = err_set(e, EX_IOERR, "cannot stat %s: %s", env, strerror(errno));
			goto out;
		}
		gone = 1;
	}
	if (gone) {
		r = 0;
		goto out;
	}
	snprintf(lk->id, sizeof lk->id, "%s", id);
	r = 1;
out:
	if (r != 1 && lk->fd >= 0) {
		close(lk->fd);
		lk->fd = -1;
	}
	free(msg);
	free(env);
	return r;
}

void
queue_unlock(struct queue_lock *lk)
{
	if (lk->fd >= 0)
		close(lk->fd);
	lk->fd = -1;
	lk->id[0] = '\0';
}

int
queue_open_msg(const char *dir, const char *id, struct err *e)
{
	char *msg;
	int fd;

	if (!queue_id_valid(id))
		return err_set(e, EX_USAGE, "not a queue id: %s", id);
	msg = entry_path(dir, 0, id, ".msg");
	if (msg == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	fd = open(msg, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		err_set(e, errno == ENOENT ? EX_NOINPUT : EX_IOERR, "cannot open %s: %s", msg,
		        strerror(errno));
	free(msg);
	return fd < 0 ? -1 : fd;
}

long long
queue_backoff(int attempts)
{
	long long d = QUEUE_BACKOFF_MIN;

	if (attempts <= 0)
		return 0;
	for (int i = 1; i < attempts && d < QUEUE_BACKOFF_MAX; i++)
		d *= 2;
	return d < QUEUE_BACKOFF_MAX ? d : QUEUE_BACKOFF_MAX;
}

static int
st_format(struct buf *b, const struct queue_item *it)
{
	int r = buf_printf(b, "attempts %d\n", it->attempts);

	if (it->first_attempt)
		r |= buf_printf(b, "first-attempt %lld\n", it->first_attempt);
	if (it->last_attempt)
		r |= buf_printf(b, "last-attempt %lld\n", it->last_attempt);
	if (it->next_attempt)
		r |= buf_printf(b, "next-attempt %lld\n", it->next_attempt);
	if (it->last_error)
		r |= buf_printf(b, "last-error %s\n", it->last_error);
	if (it->failed_reason)
		r |= buf_printf(b, "failed-reason %s\n", it->failed_reason);
	return r < 0 ? -1 : 0;
}

/* Does DIR/ID.env exist? 0 yes, -1 with EX_NOINPUT or EX_IOERR. */
static int
entry_exists(const char *dir, const char *id, struct err *e)
{
	struct stat st;
	char *env;
	int r = 0;

	if (!queue_id_valid(id))
		return err_set(e, EX_USAGE, "not a queue id: %s", id);
	env = entry_path(dir, 0, id, ".env");
	if (env == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	if (stat(env, &st) < 0)
		r = err_set(e, errno == ENOENT ? EX_NOINPUT : EX_IOERR, "no queue entry %s: %s",
		            env, strerror(errno));
	free(env);
	return r;
}

/* Write the state `it` as DIR[/failed]/ID.st through tmp/ID.st.PID. */
static int
write_state(const char *dir, int failed, const char *id, const struct queue_item *it,
            struct err *e)
{
	struct buf b;
	char *tmp = NULL, *final = NULL, *syncdir = NULL;
	char name[QUEUE_ID_MAX + 32];
	int r;

	if (mksub(dir, "tmp", e) < 0)
		return -1;
	buf_init(&b, QUEUE_ST_MAX);
	snprintf(name, sizeof name, "%s.st.%ld", id, (long)getpid());
	tmp = path_join(dir, "tmp", name, NULL);
	final = entry_path(dir, failed, id, ".st");
	syncdir = failed ? path_join(dir, "failed", NULL, NULL) : str_dup(dir);
	if (!tmp || !final || !syncdir)
		r = err_set(e, EX_OSERR, "out of memory");
	else if (st_format(&b, it) < 0)
		r = err_set(e, EX_SOFTWARE, "cannot build the state for %s", id);
	else
		r = replace_file(tmp, final, syncdir, b.data, b.len, e);
	buf_free(&b);
	free(tmp);
	free(final);
	free(syncdir);
	return r;
}

/* The current state of an entry; a damaged ID.st starts afresh (the
 * schedule is lost, the message is not). */
static int
current_state(const char *dir, const char *id, struct queue_item *st, struct err *e)
{
	memset(st, 0, sizeof *st);
	if (load_state(dir, 0, id, st, e) < 0 && e->ex == EX_OSERR)
		return -1;
	return 0;
}

int
queue_record_failure(const char *dir, const char *id, const char *error, struct err *e)
{
	struct queue_item st;
	long long now = (long long)time(NULL);
	int r;

	if (entry_exists(dir, id, e) < 0 || current_state(dir, id, &st, e) < 0)
		return -1;
	if (st.attempts < INT_MAX)
		st.attempts++;
	if (st.first_attempt == 0)
		st.first_attempt = now;
	st.last_attempt = now;
	st.next_attempt = now + queue_backoff(st.attempts);
	free(st.last_error);
	st.last_error = one_line(error ? error : "unknown error");
	if (st.last_error == NULL)
		r = err_set(e, EX_OSERR, "out of memory");
	else
		r = write_state(dir, 0, id, &st, e);
	queue_item_free(&st);
	return r;
}

int
queue_set_rcpts(const char *dir, const char *id, const char *const *rcpts, size_t n,
                struct err *e)
{
	struct queue_item it;
	struct queue_envelope env;
	struct buf b;
	char *tmp = NULL, *final = NULL;
	char name[QUEUE_ID_MAX + 32];
	int r;

	if (n == 0)
		return err_set(e, EX_SOFTWARE, "queue entry %s: no recipients left to keep", id);
	if (load_item(dir, 0, id, &it, e) < 0) {
		queue_item_free(&it);
		return -1;
	}
	memset(&env, 0, sizeof env);
	env.account = it.account;
	env.has_config = it.has_config;
	env.config_file = it.config_file;
	env.config_dev = it.config_dev;
	env.config_ino = it.config_ino;
	env.uid = it.uid;
	env.from = it.from;
	env.rcpts = rcpts;
	env.nrcpts = n;
	env.message_id = it.message_id;
	env.size = it.size;
	env.has_8bit = it.has_8bit;
	env.opts = it.opts;
	buf_init(&b, QUEUE_ENV_MAX);
	snprintf(name, sizeof name, "%s.env.%ld", id, (long)getpid());
	if (mksub(dir, "tmp", e) < 0) {
		r = -1;
	} else if ((tmp = path_join(dir, "tmp", name, NULL)) == NULL ||
	           (final = entry_path(dir, 0, id, ".env")) == NULL) {
		r = err_set(e, EX_OSERR, "out of memory");
	} else if (env_format(&b, &env, it.created) < 0) {
		r = err_set(e, EX_SOFTWARE, "queue entry %s: a recipient is empty or has a "
		            "line break", id);
	} else {
		r = replace_file(tmp, final, dir, b.data, b.len, e);
	}
	buf_free(&b);
	free(tmp);
	free(final);
	queue_item_free(&it);
	return r;
}

int
queue_move_failed(const char *dir, const char *id, const char *reason, struct err *e)
{
	struct queue_item st;
	char *msg = NULL, *env = NULL, *stp = NULL, *fmsg = NULL, *fenv = NULL, *fdir = NULL;
	int r = -1, linked = 0;

	if (entry_exists(dir, id, e) < 0)
		return -1;
	if (mksub(dir, "failed", e) < 0)
		return -1;
	if (current_state(dir, id, &st, e) < 0)
		return -1;
	msg = entry_path(dir, 0, id, ".msg");
	env = entry_path(dir, 0, id, ".env");
	stp = entry_path(dir, 0, id, ".st");
	fmsg = entry_path(dir, 1, id, ".msg");
	fenv = entry_path(dir, 1, id, ".env");
	fdir = path_join(dir, "failed", NULL, NULL);
	free(st.failed_reason);
	st.failed_reason = one_line(reason ? reason : "failed");
	if (!msg || !env || !stp || !fmsg || !fenv || !fdir || !st.failed_reason) {
		err_set(e, EX_OSERR, "out of memory");
		goto out;
	}
	/* 1. The state (harmless alone: failed/ID.st without ID.env is not an
	 * entry). */
	if (write_state(dir, 1, id, &st, e) < 0)
		goto out;
	/* 2. A second name for the data, so the entry is complete in QUEUE_DIR
	 * until step 3 and complete in failed/ from then on. A leftover link
	 * from an interrupted earlier move is replaced. */
	if (unlink(fmsg) < 0 && errno != ENOENT) {
		err_set(e, EX_CANTCREAT, "cannot replace %s: %s", fmsg, strerror(errno));
		goto out;
	}
	if (link(msg, fmsg) == 0) {
		linked = 1;
		if (fsync_dir(fdir) < 0) {
			err_set(e, EX_IOERR, "cannot sync directory %s: %s", fdir, strerror(errno));
			unlink(fmsg);
			goto out;
		}
	} else if (errno == EPERM || errno == EOPNOTSUPP || errno == ENOSYS ||
	           errno == EMLINK) {
		/* No hard links here: move the data first, so a crash between
		 * the renames leaves a visible (damaged) entry, not a lost one. */
		if (rename(msg, fmsg) < 0) {
			err_set(e, create_ex(errno), "cannot move %s to %s: %s", msg, fdir,
			        strerror(errno));
			goto out;
		}
	} else {
		err_set(e, create_ex(errno), "cannot link %s into %s: %s", msg, fdir,
		        strerror(errno));
		goto out;
	}
	/* 3. The switch: the entry now lives in failed/. */
	if (rename(env, fenv) < 0) {
		int saved = errno;
		if (linked)
			unlink(fmsg);
		else
			rename(fmsg, msg);
		err_set(e, create_ex(saved), "cannot move %s to %s: %s", env, fdir,
		        strerror(saved));
		goto out;
	}
	if (fsync_dir(fdir) < 0) {
		err_set(e, EX_IOERR, "cannot sync directory %s: %s", fdir, strerror(errno));
		goto out;
	}
	/* 4. Tidy the old names. */
	if (linked)
		unlink(msg);
	unlink(stp);
	if (fsync_dir(dir) < 0) {
		err_set(e, EX_IOERR, "cannot sync directory %s: %s", dir, strerror(errno));
		goto out;
	}
	r = 0;
out:
	queue_item_free(&st);
	free(msg);
	free(env);
	free(stp);
	free(fmsg);
	free(fenv);
	free(fdir);
	return r;
}

int
queue_remove(const char *dir, const char *id, int failed, struct err *e)
{
	/* On the stack: this runs after a delivery (see path_fmt). */
	char env[QUEUE_PATH_MAX], st[QUEUE_PATH_MAX], msg[QUEUE_PATH_MAX];
	char syncdir[QUEUE_PATH_MAX];
	const char *sub = failed ? "failed" : NULL;
	int r = 0;

	if (!queue_id_valid(id))
		return err_set(e, EX_USAGE, "not a queue id: %s", id);
	if (path_fmt(env, dir, sub, id, ".env") < 0 || path_fmt(st, dir, sub, id, ".st") < 0 ||
	    path_fmt(msg, dir, sub, id, ".msg") < 0 || path_fmt(syncdir, dir, sub, NULL, NULL) < 0)
		return err_set(e, EX_OSERR, "queue path too long: %s", dir);
	/* Envelope first: without it the entry no longer exists. */
	if (unlink(env) < 0 && (errno == ENOENT || env_set_aside(dir, id, env) < 0))
		return err_set(e, errno == ENOENT ? EX_NOINPUT : EX_IOERR, "cannot remove %s: %s",
		               env, strerror(errno));
	if (unlink(st) < 0 && errno != ENOENT)
		r = err_set(e, EX_IOERR, "cannot remove %s: %s", st, strerror(errno));
	if (unlink(msg) < 0 && errno != ENOENT)
		r = err_set(e, EX_IOERR, "cannot remove %s: %s", msg, strerror(errno));
	/* A removal lost in a crash would mean a second delivery. */
	if (r == 0 && fsync_dir(syncdir) < 0)
		r = err_set(e, EX_IOERR, "cannot sync directory %s: %s", syncdir,
		            strerror(errno));
	return r;
}

int
queue_item_due(const struct queue_item *it, long long now)
{
	if (it->damaged || it->failed)
		return 0;
	return it->attempts == 0 || it->next_attempt <= now;
}

int
queue_item_expired(const struct queue_item *it, long long now, long long lifetime)
{
	if (it->damaged)
		return 0;
	return it->created <= now - lifetime;
}

int
queue_clean_tmp(const char *dir, struct err *e)
{
	char *path = path_join(dir, "tmp", NULL, NULL);
	long long now = (long long)time(NULL);
	DIR *d;
	struct dirent *de;
	int removed = 0;

	if (path == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	d = opendir(path);
	if (d == NULL) {
		int saved = errno;
		int r = saved == ENOENT ? 0 : err_set(e, EX_IOERR, "cannot read %s: %s", path,
		                                      strerror(saved));
		free(path);
		return r;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || (long long)st.st_mtime + QUEUE_TMP_MAX_AGE > now)
			continue;
		/* A data file still locked belongs to a live submission. */
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		if (try_lock(fd) == 1 && unlinkat(dirfd(d), de->d_name, 0) == 0)
			removed++;
		close(fd);
	}
	closedir(d);
	free(path);
	return removed;
}

/* When the failed/ entry id failed (queue_expire_failed), or -1. */
static long long
failed_time(int dfd, const char *id)
{
	char name[QUEUE_ID_MAX + 8];
	struct stat st;

	snprintf(name, sizeof name, "%s.st", id);
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return (long long)st.st_mtime;
	snprintf(name, sizeof name, "%s.env", id);
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return (long long)st.st_mtime;
	return -1;
}

int
queue_expire_failed(const char *dir, long long max_age, long long now, struct err *e)
{
	char *path = path_join(dir, "failed", NULL, NULL);
	DIR *d;
	struct dirent *de;
	int removed = 0, r = 0;

	if (path == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	d = opendir(path);
	if (d == NULL) {
		if (errno != ENOENT)
			r = err_set(e, EX_IOERR, "cannot read %s: %s", path, strerror(errno));
		free(path);
		return r;
	}
	while (r == 0 && (de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		char id[QUEUE_ID_MAX];
		long long t;

		if (len <= 4 || len - 4 >= QUEUE_ID_MAX || strcmp(de->d_name + len - 4, ".env") != 0)
			continue;
		memcpy(id, de->d_name, len - 4);
		id[len - 4] = '\0';
		if (!queue_id_valid(id) || (t = failed_time(dirfd(d), id)) < 0 || t > now - max_age)
			continue;
		if (queue_remove(dir, id, 1, e) == 0)
			removed++;
		else if (e->ex != EX_NOINPUT)   /* gone meanwhile: --rmqueue */
			r = -1;
	}
	closedir(d);
	free(path);
	return r < 0 ? -1 : removed;
}
