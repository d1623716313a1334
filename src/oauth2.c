/*
 * oauth2.c - the OAuth 2.0 token store and refresh policy (oauth2.h).
 *
 * RFC 6749 (refresh_token grant, section 6: a rotated refresh token
 * replaces the old one), RFC 8628 and RFC 7636 for the login (to come).
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "oauth2.h"

#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/usr/local/var"
#endif

#define STORE_MAGIC "envoi-oauth2 1"

/* ------------------------------------------------------------------ */
/* Where. */

static int
name_byte_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr("_.@+-", c) != NULL;
}

/* mkdir each missing component of path below an existing prefix, 0700. */
static int
make_dirs(const char *path, struct err *e)
{
	char *tmp = str_dup(path);
	struct stat st;
	int r = 0;

	if (tmp == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	for (char *p = tmp + 1; r == 0; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;

		*p = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			r = err_set(e, EX_CANTCREAT, "cannot create the token store "
			    "directory %s: %s", tmp, strerror(errno));
		*p = saved;
		if (saved == '\0')
			break;
	}
	if (r == 0 && (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)))
		r = err_set(e, EX_CANTCREAT, "token store directory %s is not a "
		    "directory", path);
	free(tmp);
	return r;
}

char *
oauth2_store_path(const char *name, const char *home, int create,
    struct err *e)
{
	char *dir = NULL, *state = NULL;
	struct buf b;

	if (getuid() == 0) {
		dir = str_dup(LOCALSTATEDIR "/lib/envoi/oauth2");
	} else if ((state = conf_xdg_dir("XDG_STATE_HOME", home,
	    ".local/state")) != NULL) {
		buf_init(&b, PATH_MAX);
		buf_printf(&b, "%s/envoi/oauth2", state);
		dir = buf_take(&b);
		free(state);
	} else {
		err_set(e, EX_OSERR, "no home directory for the OAuth 2.0 token "
		    "store");
		return NULL;
	}
	if (dir == NULL) {
		err_set(e, EX_OSERR, "out of memory");
		return NULL;
	}
	if (create && make_dirs(dir, e) < 0) {
		free(dir);
		return NULL;
	}
	buf_init(&b, PATH_MAX);
	buf_printf(&b, "%s/", dir);
	free(dir);
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (name_byte_ok(*p) && !(p == (const unsigned char *)name &&
		    *p == '.'))
			buf_putc(&b, (char)*p);
		else
			buf_printf(&b, "%%%02X", *p);
	}
	if ((dir = buf_take(&b)) == NULL)
		err_set(e, EX_OSERR, "out of memory");
	return dir;
}

/* ------------------------------------------------------------------ */
/* Reading. */

static const struct {
	const char *key;
	size_t off;
} store_keys[] = {
	{ "token_url", offsetof(struct oauth2_tokens, token_url) },
	{ "client_id", offsetof(struct oauth2_tokens, client_id) },
	{ "refresh_token", offsetof(struct oauth2_tokens, refresh_token) },
	{ "access_token", offsetof(struct oauth2_tokens, access_token) },
};
#define NSTORE_KEYS (sizeof store_keys / sizeof store_keys[0])

static char **
tok_field(struct oauth2_tokens *t, size_t k)
{
	return (char **)(void *)((char *)t + store_keys[k].off);
}

static const char *
tok_value(const struct oauth2_tokens *t, size_t k)
{
	return *(char *const *)(const void *)((const char *)t + store_keys[k].off);
}

/* Wipe and free a secret, leaving NULL behind. */
static void
drop(char **p)
{
	if (*p)
		mem_wipe(*p, strlen(*p));
	free(*p);
	*p = NULL;
}

/* Values are printable ASCII: tokens are VSCHAR strings (RFC 6749
 * appendix A), URLs and client ids likewise. */
static int
value_ok(const char *v, size_t len)
{
	if (len == 0 || len > OAUTH2_TOKEN_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (v[i] < 0x20 || v[i] > 0x7e)
			return 0;
	return 1;
}

/* One "KEY VALUE" line (NUL-terminated, no LF). */
static int
parse_line(struct oauth2_tokens *t, const char *path, int lineno,
    char *line, struct err *e)
{
	char *v = strchr(line, ' ');
	long long n;
	char *end;

	if (v == NULL || !value_ok(v + 1, strlen(v + 1)))
		return err_set(e, EX_CONFIG, "%s:%d: not a token store line",
		    path, lineno);
	*v++ = '\0';
	if (strcmp(line, "expires") == 0) {
		errno = 0;
		n = strtoll(v, &end, 10);
		if (errno || *end || n < 0 || t->expires)
			return err_set(e, EX_CONFIG, "%s:%d: bad expires",
			    path, lineno);
		t->expires = n;
		return 0;
	}
	for (size_t k = 0; k < NSTORE_KEYS; k++) {
		char **f = tok_field(t, k);

		if (strcmp(line, store_keys[k].key) != 0)
			continue;
		if (*f)
			return err_set(e, EX_CONFIG, "%s:%d: %s given twice",
			    path, lineno, line);
		if ((*f = str_dup(v)) == NULL)
			return err_set(e, EX_OSERR, "out of memory");
		return 0;
	}
	return 0;               /* a later version's key */
}

static int
parse_store(struct oauth2_tokens *t, const char *path, char *text,
    struct err *e)
{
	int lineno = 1;
	char *nl = strchr(text, '\n');

	if (nl == NULL || (size_t)(nl - text) != strlen(STORE_MAGIC) ||
	    memcmp(text, STORE_MAGIC, strlen(STORE_MAGIC)) != 0)
		return err_set(e, EX_CONFIG, "%s:1: not an envoi token store "
		    "(format \"%s\")", path, STORE_MAGIC);
	for (char *p = nl + 1; *p; p = nl + 1) {
		lineno++;
		if ((nl = strchr(p, '\n')) == NULL)
			return err_set(e, EX_CONFIG, "%s:%d: truncated line",
			    path, lineno);
		*nl = '\0';
		if (parse_line(t, path, lineno, p, e) < 0)
			return -1;
	}
	return 0;
}

/* The file must be ours alone: see oauth2.h. */
static int
check_store_file(const char *path, const struct stat *st, struct err *e)
{
	if (!S_ISREG(st->st_mode))
		return err_set(e, EX_CONFIG, "token store %s is not a regular "
		    "file", path);
	if (st->st_uid != geteuid())
		return err_set(e, EX_CONFIG, "token store %s is owned by uid %lu, "
		    "not by you (uid %lu)", path, (unsigned long)st->st_uid,
		    (unsigned long)geteuid());
	if (st->st_mode & 077)
		return err_set(e, EX_CONFIG, "token store %s is accessible by "
		    "others (mode %04o); run: chmod 600 %s", path,
		    (unsigned)(st->st_mode & 07777), path);
	return 0;
}

/* Read the whole (small) file from fd into a NUL-terminated buffer. */
static int
read_store(int fd, const char *path, struct buf *b, struct err *e)
{
	char chunk[4096];
	ssize_t n;

	while ((n = read(fd, chunk, sizeof chunk)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(e, EX_IOERR, "cannot read %s: %s", path,
			    strerror(errno));
		if (memchr(chunk, '\0', (size_t)n) != NULL)
			return err_set(e, EX_CONFIG, "%s: not an envoi token store "
			    "(NUL byte)", path);
		if (buf_append(b, chunk, (size_t)n) < 0)
			return err_set(e, EX_CONFIG, "%s: larger than %d bytes: "
			    "not an envoi token store", path, OAUTH2_STORE_MAX);
	}
	return 0;
}

int
oauth2_store_load(const char *path, struct oauth2_tokens *t, struct err *e)
{
	struct stat st;
	struct buf b;
	int fd, r;

	memset(t, 0, sizeof *t);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0 && errno == ELOOP)
		return err_set(e, EX_CONFIG, "token store %s is a symbolic link",
		    path);
	if (fd < 0)
		return err_set(e, EX_IOERR, "cannot open %s: %s", path,
		    strerror(errno));
	if (fstat(fd, &st) < 0) {
		r = err_set(e, EX_IOERR, "cannot stat %s: %s", path,
		    strerror(errno));
		close(fd);
		return r;
	}
	buf_init(&b, OAUTH2_STORE_MAX);
	r = check_store_file(path, &st, e);
	if (r == 0)
		r = read_store(fd, path, &b, e);
	close(fd);
	if (r == 0 && buf_putc(&b, '\0') < 0)
		r = err_set(e, EX_CONFIG, "%s: too large", path);
	if (r == 0)
		r = parse_store(t, path, b.data, e);
	buf_wipe(&b);
	if (r < 0)
		oauth2_tokens_clear(t);
	return r;
}

/* ------------------------------------------------------------------ */
/* Writing. */

static int
format_store(const struct oauth2_tokens *t, struct buf *b, struct err *e)
{
	buf_printf(b, "%s\n", STORE_MAGIC);
	for (size_t k = 0; k < NSTORE_KEYS; k++) {
		const char *v = tok_value(t, k);

		if (v == NULL)
			continue;
		/* Nothing the reader would refuse may be written. */
		if (!value_ok(v, strlen(v)))
			return err_set(e, EX_SOFTWARE, "token store: the %s "
			    "cannot be stored (empty, too long or not printable)",
			    store_keys[k].key);
		buf_printf(b, "%s %s\n", store_keys[k].key, v);
	}
	if (t->access_token)
		buf_printf(b, "expires %lld\n", t->expires);
	return 0;
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
fsync_parent(const char *path)
{
	char *dir = str_dup(path);
	char *slash = dir ? strrchr(dir, '/') : NULL;
	int fd, r;

	if (slash == NULL) {
		free(dir);
		return dir ? 0 : -1;
	}
	*slash = '\0';
	fd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

int
oauth2_store_save(const char *path, const struct oauth2_tokens *t,
    struct err *e)
{
	struct buf b, tmp;
	int fd, r = 0;

	buf_init(&b, OAUTH2_STORE_MAX);
	buf_init(&tmp, PATH_MAX);
	if (format_store(t, &b, e) < 0 || buf_printf(&tmp, "%s.XXXXXX", path) < 0) {
		buf_wipe(&b);
		buf_free(&tmp);
		return e->ex ? -1 : err_set(e, EX_OSERR, "out of memory");
	}
	fd = mkostemp(tmp.data, O_CLOEXEC);     /* 0600 */
	if (fd < 0) {
		r = err_set(e, errno == ENOSPC || errno == EDQUOT ? EX_IOERR :
		    EX_CANTCREAT, "cannot create %s: %s", tmp.data, strerror(errno));
	} else {
		if (write_all(fd, b.data, b.len) < 0 || fsync(fd) < 0)
			r = err_set(e, EX_IOERR, "cannot write %s: %s", tmp.data,
			    strerror(errno));
		if (close(fd) < 0 && r == 0)
			r = err_set(e, EX_IOERR, "cannot write %s: %s", tmp.data,
			    strerror(errno));
		if (r == 0 && rename(tmp.data, path) < 0)
			r = err_set(e, EX_CANTCREAT, "cannot rename %s to %s: %s",
			    tmp.data, path, strerror(errno));
		if (r < 0)
			unlink(tmp.data);
		else if (fsync_parent(path) < 0)
			r = err_set(e, EX_IOERR, "cannot sync the directory of "
			    "%s: %s", path, strerror(errno));
	}
	buf_wipe(&b);
	buf_free(&tmp);
	return r;
}

/* ------------------------------------------------------------------ */
/* Locking. */

int
oauth2_lock(const char *path, long wait, struct err *e)
{
	struct timespec poll = { 0, OAUTH2_LOCK_POLL_MS * 1000000L };
	time_t deadline = time(NULL) + wait;
	struct buf b;
	int fd, r = 0;

	buf_init(&b, PATH_MAX);
	if (buf_printf(&b, "%s.lock", path) < 0) {
		buf_free(&b);
		return err_set(e, EX_OSERR, "out of memory");
	}
	fd = open(b.data, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		err_set(e, EX_CANTCREAT, "cannot open %s: %s", b.data,
		    strerror(errno));
		buf_free(&b);
		return -1;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			r = err_set(e, EX_CANTCREAT, "cannot lock %s: %s",
			    b.data, strerror(errno));
			break;
		}
		if (time(NULL) >= deadline) {
			r = err_set(e, EX_TEMPFAIL, "another envoi has held %s "
			    "for %ld s (refreshing the OAuth 2.0 token?)", b.data,
			    wait);
			break;
		}
		nanosleep(&poll, NULL);
	}
	buf_free(&b);
	if (r < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

void
oauth2_unlock(int fd)
{
	if (fd >= 0)
		close(fd);      /* releases the flock */
}

/* ------------------------------------------------------------------ */
/* Policy. */

void
oauth2_tokens_clear(struct oauth2_tokens *t)
{
	for (size_t k = 0; k < NSTORE_KEYS; k++)
		drop(tok_field(t, k));
	t->expires = 0;
}

void
oauth2_grant_clear(struct oauth2_grant *g)
{
	drop(&g->access_token);
	drop(&g->refresh_token);
	g->expires_in = 0;
}

static int
login_hint(const struct oauth2_store *s, struct err *e, const char *why)
{
	return err_set(e, EX_NOPERM, "account %s: %s; run: envoi --oauth2-login "
	    "%s", s->account, why, s->account);
}

/* Is the stored grant the configured client's at the configured
 * provider? A grant is bound to both (oauth2.h). */
static int
same_owner(const struct oauth2_store *s, const struct oauth2_tokens *t)
{
	return t->token_url && t->client_id &&
	    strcmp(t->token_url, s->token_url) == 0 &&
	    strcmp(t->client_id, s->client_id) == 0;
}

/* Can t's access token be sent now (and is it not the refused one)? */
static int
usable(const struct oauth2_store *s, const struct oauth2_tokens *t,
    const char *refused)
{
	return same_owner(s, t) && t->access_token &&
	    t->expires - (long long)time(NULL) >= OAUTH2_MIN_VALIDITY &&
	    (refused == NULL || strcmp(refused, t->access_token) != 0);
}

static int
take_token(struct oauth2_tokens *t, char **token, struct err *e)
{
	*token = t->access_token;
	t->access_token = NULL;
	oauth2_tokens_clear(t);
	return 0;
}

/* Under the lock: t has just been read; refresh, save, hand out. */
static int
refresh_and_save(const struct oauth2_store *s, struct oauth2_tokens *t,
    char **token, struct err *e)
{
	struct oauth2_grant g;

	if (!same_owner(s, t) || t->refresh_token == NULL)
		return login_hint(s, e, t->refresh_token ? "the stored login is "
		    "for another client or token endpoint" : "not logged in");
	memset(&g, 0, sizeof g);
	if (s->refresh(s->refresh_ctx, t->refresh_token, &g, e) < 0) {
		char why[ERR_MSG_MAX];

		oauth2_grant_clear(&g);
		if (e->ex != EX_NOPERM)
			return err_prefix(e, "account %s: token refresh",
			    s->account);
		snprintf(why, sizeof why, "%s", e->msg);
		return login_hint(s, e, why);
	}
	drop(&t->access_token);
	t->access_token = g.access_token;
	g.access_token = NULL;
	if (g.refresh_token) {          /* rotated: the old one is dead */
		drop(&t->refresh_token);
		t->refresh_token = g.refresh_token;
		g.refresh_token = NULL;
	}
	t->expires = (long long)time(NULL) + (g.expires_in > 0 ? g.expires_in :
	    OAUTH2_MIN_VALIDITY);
	oauth2_grant_clear(&g);
	/* Saved before used: a rotated refresh token must survive us. */
	if (oauth2_store_save(s->path, t, e) < 0)
		return -1;
	return take_token(t, token, e);
}

int
oauth2_token(const struct oauth2_store *s, const char *refused, char **token,
    struct err *e)
{
	struct oauth2_tokens t;
	int fd, r;

	*token = NULL;
	if (oauth2_store_load(s->path, &t, e) < 0)
		return -1;
	if (usable(s, &t, refused))
		return take_token(&t, token, e);
	oauth2_tokens_clear(&t);
	if ((fd = oauth2_lock(s->path, s->lock_wait, e)) < 0)
		return -1;
	/* Another process may have refreshed while we waited. */
	r = oauth2_store_load(s->path, &t, e);
	if (r == 0 && usable(s, &t, refused))
		r = take_token(&t, token, e);
	else if (r == 0)
		r = refresh_and_save(s, &t, token, e);
	oauth2_tokens_clear(&t);
	oauth2_unlock(fd);
	return r;
}

int
oauth2_store_login(const struct oauth2_store *s, const struct oauth2_grant *g,
    struct err *e)
{
	struct oauth2_tokens t;
	int fd, r;

	if (g->access_token == NULL || g->refresh_token == NULL)
		return err_set(e, EX_PROTOCOL, "account %s: the login gave no "
		    "%s", s->account, g->access_token ? "refresh_token" :
		    "access_token");
	if ((fd = oauth2_lock(s->path, s->lock_wait, e)) < 0)
		return -1;
	memset(&t, 0, sizeof t);
	/* Borrowed, not copied: t is not cleared but zeroed below. */
	t.token_url = (char *)(uintptr_t)s->token_url;
	t.client_id = (char *)(uintptr_t)s->client_id;
	t.refresh_token = g->refresh_token;
	t.access_token = g->access_token;
	t.expires = (long long)time(NULL) + (g->expires_in > 0 ? g->expires_in :
	    OAUTH2_MIN_VALIDITY);
	r = oauth2_store_save(s->path, &t, e);
	memset(&t, 0, sizeof t);
	oauth2_unlock(fd);
	return r;
}
