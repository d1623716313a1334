/* tlscache.c - see tlscache.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "buf.h"
#include "queue.h"
#include "tlscache.h"

#define TLSCACHE_MAGIC "envoi-tls-session 1\n"

/* The key: everything that decides whom a session may resume with. */
static char *
make_key(const char *host, long port, const struct tls_opts *o)
{
	struct buf b;

	buf_init(&b, 4096);
	if (buf_printf(&b, "host=%s port=%ld name=%s trust=%s pin=%s cert=%s prio=%s", host, port,
	               o->host ? o->host : "", o->trust_file ? o->trust_file : "system",
	               o->fingerprint ? o->fingerprint : "", o->cert_file ? o->cert_file : "",
	               o->priorities ? o->priorities : "") < 0 ||
	    memchr(buf_cstr(&b), '\n', b.len) != NULL) {
		buf_free(&b);
		return NULL;
	}
	return buf_take(&b);
}

/* DIR/tls/HASH for key, in the user's queue directory. */
static char *
make_path(const struct account *a, const char *key)
{
	unsigned char h[32];
	char hex[2 * 16 + 1], *home = NULL, *qdir, *path = NULL;
	struct buf b;

	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, key, strlen(key), h) < 0)
		return NULL;
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	if (a->queue_dir == NULL || *a->queue_dir == '\0')
		home = conf_home();
	qdir = queue_default_dir(a->queue_dir, home);
	free(home);
	if (qdir == NULL)
		return NULL;
	buf_init(&b, 8192);
	if (buf_printf(&b, "%s/tls/%s", qdir, hex) == 0)
		path = buf_take(&b);
	buf_free(&b);
	free(qdir);
	return path;
}

/* The file's data when it is ours, private, and for this key. */
static int
load(struct tlscache *c, struct log *log)
{
	char buf[sizeof TLSCACHE_MAGIC + 4096 + TLSCACHE_DATA_MAX];
	size_t head = strlen(TLSCACHE_MAGIC) + strlen(c->key) + 1, n = 0;
	struct stat st;
	ssize_t r;
	int fd = open(c->file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077) != 0) {
		log_debug(log, "TLS session cache %s ignored: not a private file of this user",
		          c->file);
		close(fd);
		return -1;
	}
	while (n < sizeof buf && ((r = read(fd, buf + n, sizeof buf - n)) > 0 ||
	                          (r < 0 && errno == EINTR)))
		n += r > 0 ? (size_t)r : 0;
	close(fd);
	if (n > head && n < sizeof buf && memcmp(buf, TLSCACHE_MAGIC, strlen(TLSCACHE_MAGIC)) == 0 &&
	    memcmp(buf + strlen(TLSCACHE_MAGIC), c->key, strlen(c->key)) == 0 &&
	    buf[head - 1] == '\n' && (c->data = malloc(n - head)) != NULL) {
		memcpy(c->data, buf + head, n - head);
		c->len = n - head;
	}
	mem_wipe(buf, n);       /* the session's secret, whatever became of it */
	return c->data ? 0 : -1;
}

void
tlscache_open(struct tlscache *c, const struct account *a, const char *host, long port,
              struct tls_opts *o, struct log *log)
{
	memset(c, 0, sizeof *c);
	if (!a->tls_session_cache || !o->certcheck)
		return;
	if ((c->key = make_key(host, port, o)) == NULL ||
	    (c->file = make_path(a, c->key)) == NULL) {
		tlscache_close(c, NULL, log);
		return;
	}
	if (load(c, log) == 0) {
		o->resume = c->data;
		o->resume_len = c->len;
		log_debug(log, "TLS session cache: trying to resume (%s)", c->file);
	}
}

/* Write data as c's file: temporary file, then rename. */
static int
save(const struct tlscache *c, const void *data, size_t len)
{
	char tmp[4096];
	char *slash = strrchr(c->file, '/');
	int fd, ok;

	if (slash == NULL || snprintf(tmp, sizeof tmp, "%s.%ld.tmp", c->file, (long)getpid()) >=
	    (int)sizeof tmp)
		return -1;
	*slash = '\0';
	ok = mkdir(c->file, 0700) == 0 || errno == EEXIST;
	*slash = '/';
	if (!ok || (fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	                      0600)) < 0)
		return -1;
	ok = write(fd, TLSCACHE_MAGIC, strlen(TLSCACHE_MAGIC)) == (ssize_t)strlen(TLSCACHE_MAGIC) &&
	     write(fd, c->key, strlen(c->key)) == (ssize_t)strlen(c->key) &&
	     write(fd, "\n", 1) == 1 && write(fd, data, len) == (ssize_t)len;
	if (close(fd) < 0 || !ok || rename(tmp, c->file) < 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

void
tlscache_close(struct tlscache *c, struct tls *t, struct log *log)
{
	void *data;
	size_t len;

	if (c->file && t && tls_session_export(t, &data, &len) == 0) {
		if (len <= TLSCACHE_DATA_MAX && save(c, data, len) == 0)
			log_debug(log, "TLS session cache: saved for the next connection (%s)",
			          c->file);
		mem_wipe(data, len);
		free(data);
	}
	if (c->data)
		mem_wipe(c->data, c->len);
	free(c->data);
	free(c->file);
	free(c->key);
	memset(c, 0, sizeof *c);
}
