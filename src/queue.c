/* queue.c - see queue.h for the on-disk format. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_GETRANDOM
#include <sys/random.h>
#endif

#include "buf.h"
#include "queue.h"

/* Longest path we build under the queue directory. */
#define QUEUE_PATH_MAX 4096

static char *
path_join(const char *dir, const char *sub, const char *name, const char *ext)
{
	struct buf b;

	buf_init(&b, QUEUE_PATH_MAX);
	if (buf_printf(&b, "%s%s%s%s%s", dir, sub ? "/" : "", sub ? sub : "",
	               name ? "/" : "", name ? name : "") < 0 ||
	    (ext && buf_puts(&b, ext) < 0)) {
		buf_free(&b);
		return NULL;
	}
	return buf_take(&b);
}

char *
queue_default_dir(const char *configured, const char *home)
{
	const char *state = getenv("XDG_STATE_HOME");

	if (configured && *configured)
		return xstrdup(configured);
	if (getuid() == 0)
		return xstrdup(LOCALSTATEDIR "/spool/envoi");
	if (state && *state == '/')
		return path_join(state, "envoi", "queue", NULL);
	return path_join(home ? home : "/", ".local/state/envoi", "queue", NULL);
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

int
queue_entry_create(struct queue_entry *q, const char *dir, struct err *e)
{
	memset(q, 0, sizeof *q);
	q->msg_fd = -1;
	q->dir = xstrdup(dir);
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
		q->msg_fd = open(q->tmp_msg, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (q->msg_fd >= 0)
			break;
		if (errno != EEXIST)
			return err_set(e, EX_CANTCREAT, "cannot create %s: %s", q->tmp_msg,
			               strerror(errno));
	}
	if (q->msg_fd < 0)
		return err_set(e, EX_CANTCREAT, "cannot create a unique queue file in %s", dir);
	q->tmp_env = path_join(dir, "tmp", q->id, ".env");
	q->msg_path = path_join(dir, q->id, NULL, ".msg");
	q->env_path = path_join(dir, q->id, NULL, ".env");
	if (!q->tmp_env || !q->msg_path || !q->env_path)
		return err_set(e, EX_OSERR, "out of memory");
	return 0;
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

static int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
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

int
queue_entry_commit(struct queue_entry *q, const struct queue_envelope *env, struct err *e)
{
	struct buf b;
	int fd, r = 0;

	if (fsync(q->msg_fd) < 0)
		return err_set(e, EX_IOERR, "cannot write %s: %s", q->tmp_msg, strerror(errno));
	buf_init(&b, 16u << 20);
	r |= buf_printf(&b, "version 1\naccount %s\nfrom %s\n",
	                env->account ? env->account : "default", env->from ? env->from : "");
	r |= clean_value(env->account) && clean_value(env->from) ? 0 : -1;
	for (size_t i = 0; i < env->nrcpts; i++) {
		r |= buf_printf(&b, "rcpt %s\n", env->rcpts[i]);
		r |= clean_value(env->rcpts[i]) ? 0 : -1;
	}
	r |= buf_printf(&b, "message-id %s\nsize %llu\n8bit %d\ncreated %lld\n",
	                env->message_id && clean_value(env->message_id) ? env->message_id : "",
	                env->size, env->has_8bit ? 1 : 0, (long long)time(NULL));
	if (r < 0) {
		buf_free(&b);
		return err_set(e, EX_SOFTWARE, "cannot build the envelope for %s", q->id);
	}
	fd = open(q->tmp_env, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		buf_free(&b);
		return err_set(e, EX_CANTCREAT, "cannot create %s: %s", q->tmp_env, strerror(errno));
	}
	if (write_all(fd, b.data, b.len) < 0 || fsync(fd) < 0) {
		int saved = errno;
		close(fd);
		unlink(q->tmp_env);
		buf_free(&b);
		return err_set(e, EX_IOERR, "cannot write %s: %s", q->tmp_env, strerror(saved));
	}
	close(fd);
	buf_free(&b);
	/* Data first: an .env never names a missing .msg. */
	if (rename(q->tmp_msg, q->msg_path) < 0)
		return err_set(e, EX_CANTCREAT, "cannot move %s into the queue: %s", q->tmp_msg,
		               strerror(errno));
	if (rename(q->tmp_env, q->env_path) < 0) {
		int saved = errno;
		if (rename(q->msg_path, q->tmp_msg) < 0)
			unlink(q->msg_path);
		return err_set(e, EX_CANTCREAT, "cannot move %s into the queue: %s", q->tmp_env,
		               strerror(saved));
	}
	if (fsync_dir(q->dir) < 0)
		return err_set(e, EX_IOERR, "cannot sync queue directory %s: %s", q->dir,
		               strerror(errno));
	q->committed = 1;
	return 0;
}

int
queue_entry_remove(struct queue_entry *q, struct err *e)
{
	if (q->committed) {
		/* Envelope first: without it the entry no longer exists. */
		if (unlink(q->env_path) < 0 && errno != ENOENT)
			return err_set(e, EX_IOERR, "cannot remove %s: %s", q->env_path,
			               strerror(errno));
		unlink(q->msg_path);
		q->committed = 0;
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
