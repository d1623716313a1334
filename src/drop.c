/* drop.c - see drop.h. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_GETRANDOM
#include <sys/random.h>
#endif

#include "addr.h"
#include "buf.h"
#include "drop.h"
#include "message.h"
#include "queue.h"
#include "submit.h"

#define DROP_MAGIC "envoi-maildrop 1"

/* Longest path we build under the spool directory. */
#define DROP_PATH_MAX 4096

/* Passes over maildrop/ per pickup: files that arrive while a pass runs
 * are caught by the next one; the path unit starts another run for any
 * that arrive later still. */
#define DROP_PASSES 4

/* Root keeps this much of the queue file system free beyond twice the
 * file being imported: a user's drop files must never eat the space
 * reserved for root (statvfs f_bavail, not f_bfree, is what we test). */
#define DROP_MINFREE (16ul * 1024 * 1024)

static int
oom(struct err *e)
{
	return err_set(e, EX_OSERR, "out of memory");
}

void
drop_opts_free(struct drop_opts *o)
{
	if (o->owned) {
		free((char *)o->from);
		free((char *)o->full_name);
		free((char *)o->notify);
		free((char *)o->ret);
		free((char *)o->envid);
		free((char *)o->body);
		free((char *)o->smtputf8);
		free((char *)o->requiretls);
		for (size_t i = 0; i < o->nrcpts; i++)
			free(o->rcpts[i]);
		free(o->rcpts);
	}
	memset(o, 0, sizeof *o);
}

int
drop_wanted(const struct conf *c, const char *cli_file)
{
	/* nfiles == 1: the unreadable system file is the only one named; a
	 * user file of one's own (even without accounts) is used as usual. */
	return getuid() != 0 && cli_file == NULL && c->naccounts == 0 &&
	    c->sys_unreadable && c->nfiles == 1;
}

/* ---------------------------------------------------------------- format */

static int
has_ctl(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 1;
	return 0;
}

static int
put_opt(struct buf *b, const char *key, const char *v, struct err *e)
{
	if (v == NULL)
		return 0;
	if (has_ctl(v, strlen(v)))
		return err_set(e, EX_USAGE, "control character in the %s option", key);
	if (buf_printf(b, "%s %s\n", key, v) < 0)
		return errno == ENOSPC ? err_set(e, EX_DATAERR, "options longer than %u bytes",
		    DROP_HEADER_MAX) : oom(e);
	return 0;
}

int
drop_format(const struct drop_opts *o, struct buf *out, struct err *e)
{
	if (buf_puts(out, DROP_MAGIC "\n") < 0)
		return oom(e);
	if (put_opt(out, "from", o->from, e) < 0 ||
	    put_opt(out, "full-name", o->full_name, e) < 0 ||
	    (o->read_rcpts && buf_puts(out, "read-recipients\n") < 0 && oom(e)) ||
	    put_opt(out, "notify", o->notify, e) < 0 ||
	    put_opt(out, "ret", o->ret, e) < 0 ||
	    put_opt(out, "envid", o->envid, e) < 0 ||
	    put_opt(out, "body", o->body, e) < 0 ||
	    put_opt(out, "smtputf8", o->smtputf8, e) < 0 ||
	    put_opt(out, "requiretls", o->requiretls, e) < 0)
		return -1;
	for (size_t i = 0; i < o->nrcpts; i++)
		if (put_opt(out, "rcpt", o->rcpts[i], e) < 0)
			return -1;
	if (buf_putc(out, '\n') < 0)
		return errno == ENOSPC ? err_set(e, EX_DATAERR, "options longer than %u bytes",
		    DROP_HEADER_MAX) : oom(e);
	return 0;
}

int
drop_parse(const char *text, size_t len, struct drop_opts *o, struct err *e)
{
	struct {
		const char *key;
		const char **field;
	} opts[] = {
		{ "from", &o->from }, { "full-name", &o->full_name },
		{ "notify", &o->notify }, { "ret", &o->ret },
		{ "envid", &o->envid }, { "body", &o->body },
		{ "smtputf8", &o->smtputf8 }, { "requiretls", &o->requiretls },
	};
	size_t pos = 0, lineno = 0;

	memset(o, 0, sizeof *o);
	o->owned = 1;
	while (pos < len) {
		const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;
		const char *sp, *val;
		size_t klen, vlen, k;

		pos += n + (nl != NULL);
		lineno++;
		if (has_ctl(line, n))
			return err_set(e, EX_DATAERR, "option line %zu: control character", lineno);
		if (lineno == 1) {
			if (n != strlen(DROP_MAGIC) || memcmp(line, DROP_MAGIC, n) != 0)
				return err_set(e, EX_DATAERR, "not a drop file (no \"%s\" line)",
				    DROP_MAGIC);
			continue;
		}
		sp = memchr(line, ' ', n);
		klen = sp ? (size_t)(sp - line) : n;
		val = sp ? sp + 1 : line + n;
		vlen = (size_t)(line + n - val);
		if (klen == 15 && memcmp(line, "read-recipients", 15) == 0 && sp == NULL) {
			if (o->read_rcpts)
				return err_set(e, EX_DATAERR, "option line %zu: repeated", lineno);
			o->read_rcpts = 1;
			continue;
		}
		if (klen == 4 && memcmp(line, "rcpt", 4) == 0 && sp != NULL) {
			char **v;

			if (o->nrcpts >= ADDR_LIST_MAX)
				return err_set(e, EX_DATAERR, "more than %d recipients",
				    ADDR_LIST_MAX);
			v = realloc(o->rcpts, (o->nrcpts + 1) * sizeof *v);
			if (v == NULL)
				return oom(e);
			o->rcpts = v;
			if ((v[o->nrcpts] = strndup(val, vlen)) == NULL)
				return oom(e);
			o->nrcpts++;
			continue;
		}
		for (k = 0; k < sizeof opts / sizeof opts[0]; k++)
			if (strlen(opts[k].key) == klen && memcmp(line, opts[k].key, klen) == 0)
				break;
		if (k == sizeof opts / sizeof opts[0])
			return err_set(e, EX_DATAERR, "option line %zu: unknown option \"%.*s\"",
			    lineno, (int)(klen > 40 ? 40 : klen), line);
		if (*opts[k].field)
			return err_set(e, EX_DATAERR, "option line %zu: %s repeated", lineno,
			    opts[k].key);
		if ((*opts[k].field = strndup(val, vlen)) == NULL)
			return oom(e);
	}
	if (lineno == 0)
		return err_set(e, EX_DATAERR, "not a drop file (empty option block)");
	return 0;
}

/* ---------------------------------------------------------------- writer */

/* "P.YYYYMMDDhhmmss" + 16 hex digits into id (DROP_ID_MAX bytes). */
static int
make_name(char *id, char prefix, struct err *e)
{
	unsigned char rnd[8];
	time_t now = time(NULL);
	struct tm tm;
	char stamp[20];
	ssize_t got = -1;

#ifdef HAVE_GETRANDOM
	do
		got = getrandom(rnd, sizeof rnd, 0);
	while (got < 0 && errno == EINTR);
#endif
	if (got != (ssize_t)sizeof rnd)
		return err_set(e, EX_OSERR, "no random numbers for a drop file name");
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm);
	snprintf(id, DROP_ID_MAX, "%c.%s%02x%02x%02x%02x%02x%02x%02x%02x", prefix, stamp,
	    rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	return 0;
}

/* The checks submit.c will make at pickup time, made now so the caller
 * sees a bad address in its own exit code rather than in root's log. */
int
drop_check_addr(const char *a, struct err *e)
{
	/* Qualification only lengthens the address; the real domain is
	 * root's to know. */
	char *q = addr_qualify(a, "localhost");
	int r;

	if (q == NULL)
		return oom(e);
	r = addr_check(q, 0, e);
	free(q);
	if (r < 0)
		e->ex = EX_USAGE;
	return r < 0 ? err_prefix(e, "recipient <%s>", a) : 0;
}

static int
check_opts(const struct drop_opts *o, struct err *e)
{
	if (o->from && addr_check(o->from, 1, e) < 0) {
		e->ex = EX_USAGE;
		return err_prefix(e, "envelope sender <%s>", o->from);
	}
	for (size_t i = 0; i < o->nrcpts; i++) {
		struct addr_list l;
		int r = 0;

		addr_list_init(&l);
		if (addr_parse_list(&l, o->rcpts[i], strlen(o->rcpts[i]), e) < 0) {
			e->ex = EX_USAGE;
			r = err_prefix(e, "recipient argument \"%s\"", o->rcpts[i]);
		}
		for (size_t k = 0; k < l.n && r == 0; k++)
			r = drop_check_addr(l.v[k], e);
		addr_list_free(&l);
		if (r < 0)
			return -1;
	}
	if (!o->read_rcpts && o->nrcpts == 0)
		return err_set(e, EX_USAGE, "no recipients given (name them as arguments, or use -t)");
	return 0;
}

static int
write_all(int fd, const char *p, size_t n, struct err *e)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return err_set(e, errno == EFBIG ? EX_DATAERR : EX_IOERR,
			    "writing the drop file: %s", strerror(errno));
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
open_error(const char *what, const char *path, int errnum, struct err *e)
{
	int ex;

	switch (errnum) {
	case ENOENT:
		return err_set(e, EX_UNAVAILABLE, "the system maildrop %s does not exist "
		    "(root's envoi -q creates it)", path);
	case EACCES:
	case EPERM:
		ex = EX_NOPERM;
		break;
	case ENOSPC:
	case EDQUOT:
	case EIO:
		ex = EX_IOERR;
		break;
	default:
		ex = EX_CANTCREAT;
		break;
	}
	return err_set(e, ex, "cannot %s %s: %s", what, path, strerror(errnum));
}

/* Copy the message into fd, no bigger than DROP_FILE_MAX in all: the
 * file size limit makes the kernel stop message.c's writes. */
static int
copy_message(int in_fd, int fd, const struct drop_opts *o, int dot_ends_input,
    struct err *e)
{
	struct rlimit old, lim;
	struct sigaction ign, oldsa;
	struct msg_opts mo;
	struct msg_info info;
	struct stat st;
	int r, limited;

	memset(&mo, 0, sizeof mo);
	mo.dot_ends_input = dot_ends_input;
	mo.extract_rcpts = o->read_rcpts;
	/* Nothing completed or removed: root's pass does that with the
	 * account's settings (Bcc stays for its -t). */
	mo.set_from = mo.set_date = mo.set_msgid = 2;
	msg_info_init(&info);

	memset(&ign, 0, sizeof ign);
	ign.sa_handler = SIG_IGN;
	sigaction(SIGXFSZ, &ign, &oldsa);
	limited = getrlimit(RLIMIT_FSIZE, &old) == 0 &&
	    (old.rlim_cur == RLIM_INFINITY || old.rlim_cur > DROP_FILE_MAX + 1);
	if (limited) {
		lim = old;
		lim.rlim_cur = DROP_FILE_MAX + 1;
		limited = setrlimit(RLIMIT_FSIZE, &lim) == 0;
	}
	r = message_read(in_fd, fd, &mo, &info, e);
	if (limited)
		setrlimit(RLIMIT_FSIZE, &old);
	sigaction(SIGXFSZ, &oldsa, NULL);
	if (fstat(fd, &st) == 0 && (unsigned long long)st.st_size > DROP_FILE_MAX)
		r = err_set(e, EX_DATAERR, "message larger than %lu bytes: too large for the "
		    "system queue", DROP_FILE_MAX);
	if (r == 0 && o->read_rcpts && o->nrcpts == 0 && info.rcpts.n == 0)
		r = err_set(e, EX_USAGE, "no recipients: none given as arguments and none "
		    "found in the To, Cc or Bcc headers");
	for (size_t i = 0; r == 0 && i < info.rcpts.n; i++)
		if (drop_check_addr(info.rcpts.v[i], e) < 0) {
			e->ex = EX_DATAERR;
			r = -1;
		}
	msg_info_free(&info);
	return r;
}

int
drop_write(const char *spool, const struct drop_opts *o, int dot_ends_input,
    int in_fd, char *id, struct err *e)
{
	char md[DROP_PATH_MAX], tname[DROP_ID_MAX];
	struct buf hdr;
	int dfd = -1, fd = -1, ret = -1, tries;

	if (check_opts(o, e) < 0)
		return -1;
	buf_init(&hdr, DROP_HEADER_MAX);
	if (drop_format(o, &hdr, e) < 0)
		goto out;
	if ((size_t)snprintf(md, sizeof md, "%s/maildrop", spool) >= sizeof md) {
		err_set(e, EX_CANTCREAT, "maildrop path too long");
		goto out;
	}
	/* O_PATH: the directory is searchable and writable to us, but not
	 * readable; that is enough to create files in it. */
	dfd = open(md, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		open_error("use", md, errno, e);
		goto out;
	}
	for (tries = 0; fd < 0 && tries < 5; tries++) {
		if (make_name(tname, 't', e) < 0)
			goto out;
		fd = openat(dfd, tname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    0600);
		if (fd < 0 && errno != EEXIST) {
			open_error("create a file in", md, errno, e);
			goto out;
		}
	}
	if (fd < 0) {
		err_set(e, EX_CANTCREAT, "cannot create a file in %s: names taken", md);
		goto out;
	}
	if (write_all(fd, hdr.data, hdr.len, e) < 0 ||
	    copy_message(in_fd, fd, o, dot_ends_input, e) < 0)
		goto unlink;
	if (fsync(fd) < 0) {
		err_set(e, EX_IOERR, "fsync of the drop file: %s", strerror(errno));
		goto unlink;
	}
	memcpy(id, tname, DROP_ID_MAX);
	id[0] = 'd';
	if (renameat(dfd, tname, dfd, id) < 0) {
		open_error("rename a file in", md, errno, e);
		goto unlink;
	}
	/* The rename changed the inode's ctime: this fsync commits it (see
	 * drop.h, Durability). */
	if (fsync(fd) < 0) {
		/* The file is complete and visible; root will take it. */
		err_set(e, EX_IOERR, "fsync of the drop file: %s", strerror(errno));
		goto out;
	}
	ret = 0;
	goto out;
unlink:
	unlinkat(dfd, tname, 0);
out:
	if (fd >= 0 && close(fd) < 0 && ret == 0)
		ret = err_set(e, EX_IOERR, "closing the drop file: %s", strerror(errno));
	if (dfd >= 0)
		close(dfd);
	buf_free(&hdr);
	return ret;
}

/* ---------------------------------------------------------------- pickup */

struct pickup {
	const char *spool;
	const struct conf *conf;
	const char *home;
	struct log *log;
	struct drop_stats *st;
	int dfd, cfd;               /* maildrop/, corrupt/ */
	struct account *acct;       /* selected at the first file */
	char *queue_dir;
	time_t now;
};

/* mkdir -p for the spool's ancestors (0755: system directories). */
static int
mkparents(const char *path, struct err *e)
{
	char tmp[DROP_PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof tmp)
		return err_set(e, EX_CANTCREAT, "path too long: %s", path);
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return err_set(e, EX_CANTCREAT, "cannot create %s: %s", tmp,
			    strerror(errno));
		*p = '/';
	}
	return 0;
}

/* A directory we create with mode, or an existing one that must be a
 * root-owned directory (with the sticky bit when sticky). */
static int
make_dir(const char *path, mode_t mode, int sticky, struct err *e)
{
	struct stat st;

	if (mkdir(path, mode) == 0) {
		/* mkdir's mode went through the umask. */
		if (chmod(path, mode) < 0)
			return err_set(e, EX_CANTCREAT, "chmod %s: %s", path, strerror(errno));
		return 0;
	}
	if (errno != EEXIST)
		return err_set(e, EX_CANTCREAT, "cannot create %s: %s", path, strerror(errno));
	if (lstat(path, &st) < 0)
		return err_set(e, EX_CANTCREAT, "%s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (sticky && !(st.st_mode & S_ISVTX)))
		return err_set(e, EX_CONFIG, "refusing to use %s: not a directory owned by root%s",
		    path, sticky ? " with the sticky bit (chmod 1733)" : "");
	return 0;
}

/* Users reach maildrop/ through every ancestor: say so when one is shut. */
static void
check_reachable(const char *spool, struct log *log)
{
	char tmp[DROP_PATH_MAX];
	struct stat st;
	size_t len = strlen(spool);

	if (len >= sizeof tmp)
		return;
	memcpy(tmp, spool, len + 1);
	for (char *p = tmp + len; p > tmp; p--) {
		if (*p != '/' && p != tmp + len)
			continue;
		*p = '\0';
		if (stat(tmp[0] ? tmp : "/", &st) == 0 && !(st.st_mode & S_IXOTH)) {
			log_warn(log, "users cannot reach the maildrop: %s has mode %04o "
			    "(needs o+x)", tmp, (unsigned)(st.st_mode & 07777));
			return;
		}
	}
}

static int
prepare(struct pickup *p, struct err *e)
{
	char md[DROP_PATH_MAX], cd[DROP_PATH_MAX];
	struct stat st;

	if ((size_t)snprintf(md, sizeof md, "%s/maildrop", p->spool) >= sizeof md ||
	    (size_t)snprintf(cd, sizeof cd, "%s/corrupt", p->spool) >= sizeof cd)
		return err_set(e, EX_CANTCREAT, "spool path too long: %s", p->spool);
	if (mkparents(p->spool, e) < 0)
		return -1;
	if (mkdir(p->spool, 0711) < 0 && errno != EEXIST)
		return err_set(e, EX_CANTCREAT, "cannot create %s: %s", p->spool, strerror(errno));
	if (lstat(p->spool, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0)
		return err_set(e, EX_CONFIG, "refusing to use %s: not a directory owned by root",
		    p->spool);
	/* Searchable, never listable: the queue's own files are 0600. */
	if ((st.st_mode & 0011) != 0011) {
		if (chmod(p->spool, (st.st_mode & 07777) | 0011) < 0)
			return err_set(e, EX_CANTCREAT, "chmod %s: %s", p->spool, strerror(errno));
		log_debug(p->log, "made %s searchable for the maildrop", p->spool);
	}
	if (make_dir(md, 01733, 1, e) < 0 || make_dir(cd, 0700, 0, e) < 0)
		return -1;
	check_reachable(p->spool, p->log);
	p->dfd = open(md, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	p->cfd = open(cd, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (p->dfd < 0 || p->cfd < 0)
		return err_set(e, EX_CANTCREAT, "cannot open %s: %s",
		    p->dfd < 0 ? md : cd, strerror(errno));
	/* Users cannot open maildrop/ for reading, so only root runners
	 * take this lock; they take turns. */
	while (flock(p->dfd, LOCK_EX) < 0)
		if (errno != EINTR)
			return err_set(e, EX_OSERR, "cannot lock %s: %s", md, strerror(errno));
	return 0;
}

/* A name as it may appear in a log line. */
static const char *
shown(const char *name, char *out, size_t size)
{
	return log_sanitize(out, size, name, strnlen(name, size - 1));
}

/* Move a refused entry to corrupt/, under a name of ours (the user chose
 * the original one: it could be anything but '/'). Returns 1 (progress)
 * or -1 when it cannot be moved. */
static int
refuse(struct pickup *p, const char *name, long uid, const char *why, struct err *e)
{
	char nm[100], to[160];
	struct tm tm;
	struct stat st;
	char stamp[20];
	int ok = strlen(name) <= 64;

	for (const char *c = name; ok && *c; c++)
		ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || *c == '.' || *c == '-' || *c == '_';
	gmtime_r(&p->now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm);
	/* Only root writes into corrupt/, and we hold the maildrop lock, so
	 * "free, then rename" cannot race. */
	for (int n = 0; ; n++) {
		if (n == 0)
			snprintf(to, sizeof to, "%s.uid%ld.%s", stamp, uid, ok ? name : "odd-name");
		else
			snprintf(to, sizeof to, "%s.uid%ld.%s.%d", stamp, uid,
			    ok ? name : "odd-name", n);
		if (fstatat(p->cfd, to, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
			break;
		if (n >= 1000)
			return err_set(e, EX_CANTCREAT, "%s/corrupt: no free name", p->spool);
	}
	if (renameat(p->dfd, name, p->cfd, to) < 0) {
		if (errno == ENOENT)
			return 1;
		return err_set(e, EX_CANTCREAT, "cannot move maildrop entry %s to %s/corrupt: %s",
		    shown(name, nm, sizeof nm), p->spool, strerror(errno));
	}
	/* stderr reaches the journal of the timer or path unit; the event
	 * line the account's logfile or syslog. */
	log_warn(p->log, "maildrop %s (uid %ld) refused: %s; moved to %s/corrupt/%s",
	    shown(name, nm, sizeof nm), uid, why, p->spool, to);
	log_event(p->log, 1, "maildrop %s (uid %ld) refused: %s; moved to %s/corrupt/%s",
	    shown(name, nm, sizeof nm), uid, why, p->spool, to);
	p->st->refused++;
	err_init(e);    /* why may have been e->msg: the file's fault, not ours */
	return 1;
}

/* Read the option block into hdr: up to and including the empty line.
 * Returns the length of the option block (without the empty line), 0 when
 * the file has no complete block, -1 on a read error. */
static long
read_block(int fd, off_t size, struct buf *hdr, struct err *e)
{
	char chunk[MSG_IO_CHUNK];
	off_t left = size;

	while (left > 0) {
		size_t want = left < (off_t)sizeof chunk ? (size_t)left : sizeof chunk;
		ssize_t n = read(fd, chunk, want);
		const char *sep;
		size_t from = hdr->len > 0 ? hdr->len - 1 : 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(e, EX_IOERR, "read: %s", strerror(errno));
		if (n == 0)
			break;
		left -= n;
		if (hdr->len == 0 && (size_t)n >= 1 && chunk[0] != DROP_MAGIC[0])
			return 0;
		if (buf_append(hdr, chunk, (size_t)n) < 0) {
			if (errno != ENOSPC)
				return oom(e);
			return 0;
		}
		sep = hdr->len - from >= 2 ? memmem(hdr->data + from, hdr->len - from, "\n\n", 2) :
		    NULL;
		if (sep)
			return (long)(sep - hdr->data) + 1;
	}
	return 0;
}

/* A private copy of the message (the rest of hdr, then the file up to the
 * size seen at open): the owner may still write to the file, but what root
 * submits is fixed and bounded. */
static int
snapshot(struct pickup *p, int fd, off_t size, const struct buf *hdr, size_t body_off,
    struct err *e)
{
	char chunk[MSG_IO_CHUNK];
	off_t left = size - (off_t)hdr->len;
	int t = open(p->spool, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (t < 0) {
		char tmpl[DROP_PATH_MAX];

		snprintf(tmpl, sizeof tmpl, "%s/.pickup.XXXXXX", p->spool);
		t = mkstemp(tmpl);
		if (t >= 0)
			unlink(tmpl);
	}
	if (t < 0)
		return err_set(e, EX_CANTCREAT, "cannot create a temporary file in %s: %s",
		    p->spool, strerror(errno));
	if (write_all(t, hdr->data + body_off, hdr->len - body_off, e) < 0)
		goto fail;
	while (left > 0) {
		ssize_t n = read(fd, chunk, left < (off_t)sizeof chunk ? (size_t)left :
		    sizeof chunk);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set(e, EX_IOERR, "reading the drop file: %s", strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		if (write_all(t, chunk, (size_t)n, e) < 0)
			goto fail;
		left -= n;
	}
	if (lseek(t, 0, SEEK_SET) < 0) {
		err_set(e, EX_IOERR, "lseek: %s", strerror(errno));
		goto fail;
	}
	return t;
fail:
	e->ex = EX_IOERR;
	close(t);
	return -1;
}

/* Is submit.c's refusal the drop file's fault? */
static int
content_error(int ex)
{
	return ex == EX_USAGE || ex == EX_DATAERR || ex == EX_NOUSER;
}

static int
enough_space(struct pickup *p, off_t size, struct err *e)
{
	struct statvfs vfs;

	if (statvfs(p->queue_dir, &vfs) < 0 && statvfs(p->spool, &vfs) < 0)
		return 0;       /* cannot tell: the writes will say */
	if ((unsigned long long)vfs.f_bavail * vfs.f_frsize <
	    2ull * (unsigned long long)size + DROP_MINFREE)
		return err_set(e, EX_TEMPFAIL, "not importing the maildrop: the queue's file "
		    "system is nearly full (the rest is root's reserve)");
	return 0;
}

/* Submit one checked drop file: 1 imported, 1 refused (moved), -1 error
 * (left in place). */
static int
import(struct pickup *p, const char *name, int fd, const struct stat *st, const char *user,
    struct err *e)
{
	struct drop_opts o;
	struct submission s;
	struct buf hdr;
	struct stat now;
	char nm[100];
	long blk;
	int t = -1, r = -1;

	buf_init(&hdr, DROP_HEADER_MAX + MSG_IO_CHUNK);
	memset(&o, 0, sizeof o);
	submit_init(&s);
	blk = read_block(fd, st->st_size, &hdr, e);
	if (blk < 0)
		goto out;
	if (blk == 0) {
		r = refuse(p, name, (long)st->st_uid, "not a drop file (no option block)", e);
		goto out;
	}
	if (drop_parse(hdr.data, (size_t)blk, &o, e) < 0) {
		r = e->ex == EX_OSERR ? -1 : refuse(p, name, (long)st->st_uid, e->msg, e);
		goto out;
	}
	if (p->acct == NULL) {
		p->acct = conf_select(p->conf, NULL, NULL, e);
		if (p->acct == NULL) {
			err_prefix(e, "maildrop");
			goto out;
		}
		p->queue_dir = queue_default_dir(p->acct->queue_dir, p->home);
		if (p->queue_dir == NULL) {
			oom(e);
			goto out;
		}
	}
	if (enough_space(p, st->st_size, e) < 0)
		goto out;
	t = snapshot(p, fd, st->st_size, &hdr, (size_t)blk + 1, e);
	if (t < 0)
		goto out;
	s.conf = p->conf;
	s.acct = p->acct;
	s.queue_dir = p->queue_dir;
	s.log = p->log;
	s.user = user;
	s.uid = (long long)st->st_uid;
	s.req_from = o.from;
	s.full_name = o.full_name;
	s.extract_rcpts = o.read_rcpts;
	s.dot_ends_input = 0;           /* the writer honoured the "." line */
	s.dsn_notify = o.notify;
	s.dsn_return = o.ret;
	s.envid = o.envid;
	s.delivery_mode = 'q';
	/* As main's submit_setup reads -B and -O: unknown values are no error. */
	s.body = submit_body_type(o.body);
	if (o.smtputf8)
		s.smtputf8 = strcmp(o.smtputf8, "yes") == 0 ? 1 : strcmp(o.smtputf8, "no") == 0 ? 2 : 0;
	s.requiretls = o.requiretls && strcmp(o.requiretls, "yes") == 0;
	if (submit_sender(&s, e) < 0)
		goto bad;
	for (size_t i = 0; i < o.nrcpts; i++)
		if (submit_rcpt_arg(&s, o.rcpts[i], e) < 0)
			goto bad;
	if (submit_spool(&s, t, e) < 0)
		goto bad;
	log_debug(p->log, "maildrop %s: uid %ld (%s) queued as %s", shown(name, nm, sizeof nm),
	    (long)st->st_uid, user, s.q.id);
	log_event(p->log, 0, "maildrop %s: uid %ld (%s) queued as id=%s from=<%s> "
	    "recipients=%zu size=%llu", shown(name, nm, sizeof nm), (long)st->st_uid, user,
	    s.q.id, s.from, s.rcpts.n, s.info.size);
	p->st->imported++;
	r = 1;
	/* Remove the name only if it is still this file: a sticky directory
	 * lets nobody but its owner (or root) replace it meanwhile. */
	if (fstatat(p->dfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
	    now.st_ino == st->st_ino && now.st_dev == st->st_dev) {
		if (unlinkat(p->dfd, name, 0) < 0)
			log_warn(p->log, "maildrop %s: cannot remove it after import: %s; it "
			    "will be sent twice", shown(name, nm, sizeof nm), strerror(errno));
	}
	goto out;
bad:
	r = content_error(e->ex) ? refuse(p, name, (long)st->st_uid, e->msg, e) : -1;
out:
	if (t >= 0)
		close(t);
	submit_free(&s);
	drop_opts_free(&o);
	buf_free(&hdr);
	return r;
}

/* One maildrop entry: 1 progress, 0 skipped, -1 error. */
static int
pick_one(struct pickup *p, const char *name, struct err *e)
{
	struct stat st;
	struct passwd *pw;
	char why[160], *user;
	int fd, r;

	if (fstatat(p->dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : err_set(e, EX_IOERR, "maildrop: stat: %s",
		    strerror(errno));
	if (name[0] == 't' && name[1] == '.' && S_ISREG(st.st_mode)) {
		/* Being written; or, after a day, left by a writer that died:
		 * maybe cut short, so never imported. */
		if (p->now - st.st_mtime < DROP_TMP_MAX_AGE) {
			p->st->waiting++;
			return 0;
		}
		return refuse(p, name, (long)st.st_uid, "unfinished (its writer died)", e);
	}
	/* O_NONBLOCK: a FIFO must not stall the runner; O_NOFOLLOW: a
	 * symbolic link is refused, never followed. */
	fd = openat(p->dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(why, sizeof why, "cannot open it: %s", errno == ELOOP ?
		    "a symbolic link" : errno == ENXIO ? "a socket" : strerror(errno));
		return refuse(p, name, (long)st.st_uid, why, e);
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		return err_set(e, EX_IOERR, "maildrop: fstat: %s", strerror(errno));
	}
	why[0] = '\0';
	pw = NULL;
	if (!S_ISREG(st.st_mode))
		snprintf(why, sizeof why, "not a regular file");
	else if (st.st_nlink != 1)
		snprintf(why, sizeof why, "%lu links (a hard link to another file)",
		    (unsigned long)st.st_nlink);
	else if (st.st_uid == 0)
		snprintf(why, sizeof why, "owned by root (root reads the configuration itself)");
	else if (st.st_size > (off_t)DROP_FILE_MAX)
		snprintf(why, sizeof why, "%lld bytes: larger than %lu", (long long)st.st_size,
		    DROP_FILE_MAX);
	else if ((pw = getpwuid(st.st_uid)) == NULL)
		snprintf(why, sizeof why, "its owner has no password database entry");
	if (why[0]) {
		close(fd);
		return refuse(p, name, (long)st.st_uid, why, e);
	}
	/* The kernel says who wrote it: that is the submitter. */
	user = xstrdup(pw->pw_name);
	if (user == NULL) {
		close(fd);
		return oom(e);
	}
	r = import(p, name, fd, &st, user, e);
	free(user);
	close(fd);
	return r;
}

int
drop_count(const char *spool, size_t *n, unsigned long long *bytes, struct err *e)
{
	char md[PATH_MAX];
	DIR *d;
	struct dirent *de;

	*n = 0;
	*bytes = 0;
	if ((size_t)snprintf(md, sizeof md, "%s/maildrop", spool) >= sizeof md)
		return err_set(e, EX_OSERR, "maildrop path too long");
	d = opendir(md);
	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		return err_set(e, errno == EACCES ? EX_NOPERM : EX_OSERR, "cannot read %s: %s",
		    md, strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (de->d_name[0] != 'd' || de->d_name[1] != '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		(*n)++;
		*bytes += (unsigned long long)st.st_size;
	}
	closedir(d);
	return 0;
}

int
drop_pickup(const char *spool, const struct conf *conf, const char *home,
    struct log *log, struct drop_stats *st, struct err *e)
{
	struct pickup p;
	int ret = 0;

	memset(&p, 0, sizeof p);
	p.spool = spool;
	p.conf = conf;
	p.home = home;
	p.log = log;
	p.st = st;
	p.dfd = p.cfd = -1;
	memset(st, 0, sizeof *st);
	if (prepare(&p, e) < 0) {
		ret = -1;
		goto out;
	}
	for (int pass = 0; pass < DROP_PASSES && ret == 0; pass++) {
		int dup_fd = dup(p.dfd), progress = 0;
		DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
		struct dirent *de;

		if (d == NULL) {
			if (dup_fd >= 0)
				close(dup_fd);
			ret = err_set(e, EX_OSERR, "maildrop: %s", strerror(errno));
			break;
		}
		rewinddir(d);
		p.now = time(NULL);
		while (ret == 0 && (de = readdir(d)) != NULL) {
			int r;

			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			r = pick_one(&p, de->d_name, e);
			if (r < 0)
				ret = -1;
			else
				progress |= r;
		}
		closedir(d);
		if (!progress)
			break;
		if (pass + 1 < DROP_PASSES)
			st->waiting = 0;
	}
out:
	if (p.dfd >= 0)
		close(p.dfd);
	if (p.cfd >= 0)
		close(p.cfd);
	if (p.acct)
		account_free(p.acct);
	free(p.queue_dir);
	return ret;
}
