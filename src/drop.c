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
#include "bounce.h"
#include "buf.h"
#include "cli.h"
#include "drop.h"
#include "message.h"
#include "queue.h"
#include "runq.h"
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
	    (o->read_rcpts && buf_puts(out, "read-recipients\n") < 0 && oom(e)))
		return -1;
	if (envelope_format(&o->opts, out) < 0)
		return errno == ENOSPC ? err_set(e, EX_DATAERR, "options longer than %u bytes",
		    DROP_HEADER_MAX) : oom(e);
	for (size_t i = 0; i < o->nrcpts; i++)
		if (put_opt(out, "rcpt", o->rcpts[i], e) < 0)
			return -1;
	if (buf_putc(out, '\n') < 0)
		return errno == ENOSPC ? err_set(e, EX_DATAERR, "options longer than %u bytes",
		    DROP_HEADER_MAX) : oom(e);
	return 0;
}

/* A delivery option line (envelope.h's text form, which checks the
 * value), each option at most once; anything else is unknown. */
static int
parse_envelope_line(struct drop_opts *o, const char *line, size_t klen, const char *val,
    size_t vlen, unsigned *seen, size_t lineno, struct err *e)
{
	static const char *const keys[] = { "dsn-notify", "notify", "dsn-ret", "ret", "envid",
	    "body", "smtputf8", "requiretls" };
	/* notify and ret are the older names of dsn-notify and dsn-ret. */
	static const unsigned bit[] = { 1, 1, 2, 2, 4, 8, 16, 32 };
	const char *why = NULL;
	char key[16], *v;
	size_t k;
	int r;

	for (k = 0; k < sizeof keys / sizeof keys[0]; k++)
		if (strlen(keys[k]) == klen && memcmp(line, keys[k], klen) == 0)
			break;
	if (k == sizeof keys / sizeof keys[0])
		return err_set(e, EX_DATAERR, "option line %zu: unknown option \"%.*s\"",
		    lineno, (int)(klen > 40 ? 40 : klen), line);
	if (*seen & bit[k])
		return err_set(e, EX_DATAERR, "option line %zu: %s repeated", lineno, keys[k]);
	*seen |= bit[k];
	snprintf(key, sizeof key, "%s", keys[k]);
	if ((v = strndup(val, vlen)) == NULL)
		return oom(e);
	r = envelope_read(&o->opts, key, v, &why);
	free(v);
	if (r < 0)
		return err_set(e, EX_DATAERR, "option line %zu: %s", lineno, why);
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
	};
	size_t pos = 0, lineno = 0;
	unsigned env_seen = 0;

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
		if (k == sizeof opts / sizeof opts[0]) {
			if (parse_envelope_line(o, line, klen, val, vlen, &env_seen, lineno, e) < 0)
				return -1;
			continue;
		}
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

/* Every check a direct submission makes before reading the message
 * (cli.c's values, submit.c's addresses and recipient count), with the
 * same exit codes: what root's pickup would refuse, the user hears of
 * now instead of being told exit 0. */
static int
check_opts(const struct drop_opts *o, struct err *e)
{
	struct addr_list all;
	int r = 0;

	if (cli_check_full_name(o->full_name, e) < 0)
		return -1;
	if (o->from && addr_check(o->from, 1, e) < 0) {
		e->ex = EX_USAGE;
		return err_prefix(e, "envelope sender <%s>", o->from);
	}
	/* drop_parse takes at most ADDR_LIST_MAX arguments. */
	if (o->nrcpts > ADDR_LIST_MAX)
		return err_set(e, EX_DATAERR, "more than %d recipients", ADDR_LIST_MAX);
	addr_list_init(&all);
	for (size_t i = 0; i < o->nrcpts && r == 0; i++) {
		struct addr_list l;

		addr_list_init(&l);
		if (addr_parse_list(&l, o->rcpts[i], strlen(o->rcpts[i]), e) < 0) {
			e->ex = EX_USAGE;
			r = err_prefix(e, "recipient argument \"%s\"", o->rcpts[i]);
		}
		for (size_t k = 0; k < l.n && r == 0; k++)
			if ((r = drop_check_addr(l.v[k], e)) == 0)
				r = addr_list_add(&all, l.v[k], e);
		addr_list_free(&l);
	}
	addr_list_free(&all);
	if (r < 0)
		return -1;
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
	if (queue_fsync(fd) < 0) {
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
	 * drop.h, Durability). Failing, the file is taken back so that the
	 * error means nothing will be sent; one that cannot be taken back is
	 * complete and visible, and root will take it: that is success. */
	if (queue_fsync(fd) < 0) {
		int saved = errno;

		if (unlinkat(dfd, id, 0) == 0) {
			err_set(e, EX_IOERR, "fsync of the drop file: %s", strerror(saved));
			goto out;
		}
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

/* What one uid has in root's queue and failed/ (the quota, drop.h). */
struct usage {
	long long uid;
	size_t n;
	unsigned long long bytes;
	int warned;                 /* said so once in this pickup */
};

struct pickup {
	const char *spool;
	const struct conf *conf;
	const char *home;
	struct log *log;
	struct drop_stats *st;
	int dfd, cfd;               /* maildrop/, corrupt/ */
	struct account *acct;       /* selected once (ready) */
	char *queue_dir;
	time_t now;
	struct usage *use;          /* read at the first file that needs it */
	size_t nuse;
	int use_loaded;
	struct err held;            /* the first file left for want of disk space */
};

/* One maildrop entry on its way through the checks. */
struct entry {
	const char *name;
	char shown[100];            /* the name as a log line may show it */
	struct stat st;
	const char *user;           /* the owner's login; NULL until known */
	int fd;                     /* the drop file; -1 when not open */
	int snap;                   /* root's private copy; -1 until made */
	unsigned long long snap_size;
	int empty;                  /* no message after the option block */
	struct drop_opts o;
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
		/* Searchable by the users who drop mail below it: main's
		 * umask 077 would make it 0700, so chmod what we created. */
		if (mkdir(tmp, 0755) == 0)
			(void)chmod(tmp, 0755);
		else if (errno != EEXIST)
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

/* Is name what make_name makes with this prefix: "P." + 14 digits + 16
 * lower-case hex digits? */
static int
is_drop_name(const char *name, char prefix)
{
	if (name[0] != prefix || name[1] != '.')
		return 0;
	for (size_t i = 2; i < 32; i++)
		if (!(name[i] >= '0' && name[i] <= '9') &&
		    !(i >= 16 && name[i] >= 'a' && name[i] <= 'f'))
			return 0;
	return name[32] == '\0';
}

/* A local fault (disk, memory, configuration: nothing the file did) while
 * on this entry: the pass ends, the entry waits for the next run, and the
 * error names it. Returns -1. */
static int
fault(const struct entry *en, struct err *e)
{
	return err_prefix(e, "maildrop %s (uid %lu%s%s)", en->shown,
	    (unsigned long)en->st.st_uid, en->user ? ", " : "", en->user ? en->user : "");
}

/* Is this failure the machine's rather than the file's? Then it ends the
 * pass (fault); anything else a file causes is that file's to bear. */
static int
local_fault(int ex)
{
	return ex == EX_OSERR || ex == EX_IOERR || ex == EX_TEMPFAIL || ex == EX_CANTCREAT ||
	    ex == EX_CONFIG || ex == EX_NOPERM;
}

/* The account and queue that maildrop messages go to: the
 * configuration's default account (drop.h), chosen once per pickup. */
static int
ready(struct pickup *p, struct err *e)
{
	if (p->acct)
		return 0;
	p->acct = conf_select(p->conf, NULL, NULL, e);
	if (p->acct == NULL)
		return err_prefix(e, "maildrop");
	p->queue_dir = queue_default_dir(p->acct->queue_dir, p->home);
	return p->queue_dir ? 0 : oom(e);
}

/* ------------------------------------------------------------- refusals */

/* Move a refused entry into corrupt/ under a name of ours (the user chose
 * the original: it could be anything but '/'): TIME.uidUID.NAME, or with
 * the inode number and then a counter added when that is taken, so a
 * name is always found (only root writes into corrupt/, and we hold the
 * maildrop lock, so "free, then rename" cannot race). to gets the name.
 * Returns 1 moved, 0 gone meanwhile, -1 error. */
static int
move_corrupt(struct pickup *p, const struct entry *en, char *to, size_t size, struct err *e)
{
	const char *c = en->name;
	char stamp[20];
	struct tm tm;
	struct stat st;
	int ok = strlen(en->name) <= 64;

	for (; ok && *c; c++)
		ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || *c == '.' || *c == '-' || *c == '_';
	c = ok ? en->name : "odd-name";
	gmtime_r(&p->now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm);
	for (unsigned long n = 0;; n++) {
		if (n == 0)
			snprintf(to, size, "%s.uid%lu.%s", stamp, (unsigned long)en->st.st_uid, c);
		else
			snprintf(to, size, "%s.uid%lu.i%llu.%lu.%s", stamp,
			    (unsigned long)en->st.st_uid, (unsigned long long)en->st.st_ino, n, c);
		if (fstatat(p->cfd, to, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				break;
			return err_set(e, EX_IOERR, "%s/corrupt: %s", p->spool, strerror(errno));
		}
	}
	if (renameat(p->dfd, en->name, p->cfd, to) < 0) {
		if (errno == ENOENT)
			return 0;
		return err_set(e, EX_CANTCREAT, "cannot move it to %s/corrupt: %s", p->spool,
		    strerror(errno));
	}
	return 1;
}

static int send_bounce(struct pickup *p, const struct entry *en, const char *why,
    struct err *e);

/* Refuse an entry: with bounce (an entry that looks like drop_write's
 * own, whose owner was told exit 0), first report it to the owner; then
 * move it to corrupt/ with a log line. Returns 1 (progress), or -1 (a
 * local fault: the entry stays). */
static int
refuse(struct pickup *p, const struct entry *en, const char *why, int bounce, struct err *e)
{
	char reason[ERR_MSG_MAX], to[200];
	int r;

	snprintf(reason, sizeof reason, "%s", why);     /* why may be e->msg */
	err_init(e);
	if (bounce && en->snap >= 0 && send_bounce(p, en, reason, e) < 0)
		return fault(en, e);
	r = move_corrupt(p, en, to, sizeof to, e);
	if (r <= 0)
		return r < 0 ? fault(en, e) : 1;
	/* stderr reaches the journal of the timer or path unit; the event
	 * line the account's logfile or syslog. */
	log_warn(p->log, "maildrop %s (uid %lu) refused: %s; moved to %s/corrupt/%s%s%s",
	    en->shown, (unsigned long)en->st.st_uid, reason, p->spool, to,
	    en->user ? "; login " : "", en->user ? en->user : "");
	log_event(p->log, 1, "maildrop %s (uid %lu) refused: %s; moved to %s/corrupt/%s%s%s",
	    en->shown, (unsigned long)en->st.st_uid, reason, p->spool, to,
	    en->user ? "; login " : "", en->user ? en->user : "");
	p->st->refused++;
	return 1;
}

/* ---------------------------------------------------------------- quota */

static struct usage *
usage_of(struct pickup *p, long long uid)
{
	struct usage *u;

	for (size_t i = 0; i < p->nuse; i++)
		if (p->use[i].uid == uid)
			return &p->use[i];
	u = realloc(p->use, (p->nuse + 1) * sizeof *u);
	if (u == NULL)
		return NULL;
	p->use = u;
	u = &p->use[p->nuse++];
	memset(u, 0, sizeof *u);
	u->uid = uid;
	return u;
}

/* One more message of `bytes` in uid's share. */
static int
usage_add(struct pickup *p, long long uid, unsigned long long bytes, struct err *e)
{
	struct usage *u = usage_of(p, uid);

	if (u == NULL)
		return oom(e);
	u->n++;
	u->bytes += bytes;
	return 0;
}

/* Each uid's share of the queue and failed/, read once per pickup and
 * kept up to date as entries are added. */
static int
usage_load(struct pickup *p, struct err *e)
{
	struct queue_item *items = NULL;
	size_t n = 0;
	int r = 0;

	if (p->use_loaded)
		return 0;
	if (queue_list(p->queue_dir, 1, &items, &n, e) < 0)
		return -1;
	for (size_t i = 0; i < n && r == 0; i++)
		if (!items[i].damaged && items[i].uid >= 0)
			r = usage_add(p, items[i].uid, items[i].size, e);
	queue_items_free(items, n);
	p->use_loaded = r == 0;
	return r;
}

/* Would one more message of `bytes` take uid past its quota? NULL when
 * not (or out of memory: e says so), else the share. */
static struct usage *
over_quota(struct pickup *p, uid_t uid, unsigned long long bytes, struct err *e)
{
	struct usage *u;

	if (usage_load(p, e) < 0)
		return NULL;
	if ((u = usage_of(p, (long long)uid)) == NULL) {
		oom(e);
		return NULL;
	}
	return u->n + 1 > DROP_QUOTA_MSGS || u->bytes + bytes > DROP_QUOTA_BYTES ? u : NULL;
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

/* The trace field of a maildrop message (RFC 5322 3.6.7), naming the
 * local account that handed it in, as Postfix's "from userid N" does:
 * whatever From and -f the user chose, the message says who sent it.
 * The login is a comment: characters outside a plain login's set become
 * '?', so nothing in it can close the comment or the field. */
static void
trace_field(char *out, size_t size, const struct entry *en, time_t now)
{
	char host[256], login[72], date[64];
	size_t k = 0;

	if (gethostname(host, sizeof host) < 0)
		host[0] = '\0';
	host[sizeof host - 1] = '\0';
	for (const char *c = host; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || *c == '.' || *c == '-')) {
			host[0] = '\0';
			break;
		}
	for (const char *c = en->user; *c && k < 64; c++)
		login[k++] = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || strchr("._-$@+", *c) ? *c : '?';
	login[k] = '\0';
	if (bounce_date((long long)now, date, sizeof date) < 0)
		snprintf(date, sizeof date, "Thu, 1 Jan 1970 00:00:00 +0000");
	snprintf(out, size, "Received: by %s (envoi maildrop, from userid %lu (%s%s));\r\n\t%s\r\n",
	    host[0] ? host : "localhost", (unsigned long)en->st.st_uid, login,
	    en->user[k] ? "..." : "", date);
}

/* Write the trace field, then what message.c must read after it. A
 * message whose first line starts with a blank has no header block
 * (message.c would make it all body): a blank line keeps that line out
 * of the trace field, where it would be a continuation. */
static int
put_trace(struct pickup *p, struct entry *en, int t, off_t body_off, struct err *e)
{
	char trace[512], first;
	ssize_t got;

	do
		got = pread(en->fd, &first, 1, body_off);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return err_set(e, EX_IOERR, "reading the drop file: %s", strerror(errno));
	en->empty = got == 0;
	trace_field(trace, sizeof trace, en, p->now);
	if (got == 1 && (first == ' ' || first == '\t'))
		snprintf(trace + strlen(trace), sizeof trace - strlen(trace), "\r\n");
	en->snap_size = strlen(trace);
	return write_all(t, trace, strlen(trace), e);
}

/* A private copy of the message (the trace field, the rest of hdr, then
 * the file up to the size seen at open) into en->snap: the owner may
 * still write to the file, but what root submits is fixed and bounded. */
static int
snapshot(struct pickup *p, struct entry *en, const struct buf *hdr, size_t body_off,
    struct err *e)
{
	char chunk[MSG_IO_CHUNK];
	off_t left = en->st.st_size - (off_t)hdr->len;
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
	en->snap = t;
	if (put_trace(p, en, t, (off_t)body_off, e) < 0 ||
	    write_all(t, hdr->data + body_off, hdr->len - body_off, e) < 0)
		goto fail;
	en->snap_size += hdr->len - body_off;
	while (left > 0) {
		ssize_t n = read(en->fd, chunk, left < (off_t)sizeof chunk ? (size_t)left :
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
		en->snap_size += (unsigned long long)n;
		left -= n;
	}
	if (lseek(t, 0, SEEK_SET) < 0) {
		err_set(e, EX_IOERR, "lseek: %s", strerror(errno));
		goto fail;
	}
	return 0;
fail:
	e->ex = EX_IOERR;       /* write_all's EX_DATAERR for EFBIG is ours here */
	return -1;
}

static int
enough_space(struct pickup *p, off_t size, struct err *e)
{
	struct statvfs vfs;

	if (statvfs(p->queue_dir, &vfs) < 0 && statvfs(p->spool, &vfs) < 0)
		return 0;       /* cannot tell: the writes will say */
	if ((unsigned long long)vfs.f_bavail * vfs.f_frsize <
	    2ull * (unsigned long long)size + DROP_MINFREE)
		return err_set(e, EX_TEMPFAIL, "not imported: the queue's file system is nearly "
		    "full (what is left is root's reserve)");
	return 0;
}

/* May the entry go into the queue now? 1 yes; 0 it waits in the maildrop,
 * still its owner's file (the owner is over quota, or the disk too full
 * for it: logged, once per uid for the quota); -1 error. */
static int
admit(struct pickup *p, const struct entry *en, struct err *e)
{
	struct usage *u = over_quota(p, en->st.st_uid, (unsigned long long)en->st.st_size, e);

	if (u == NULL && e->ex)
		return -1;
	if (u) {
		if (!u->warned) {
			log_warn(p->log, "maildrop: uid %lu (%s) is over its quota in %s (%zu "
			    "messages, %llu bytes; the limit is %d and %llu): its files wait in "
			    "the maildrop", (unsigned long)en->st.st_uid, en->user, p->queue_dir,
			    u->n, u->bytes, DROP_QUOTA_MSGS, DROP_QUOTA_BYTES);
			log_event(p->log, 1, "maildrop: uid %lu (%s) is over its quota in %s (%zu "
			    "messages, %llu bytes): its files wait in the maildrop",
			    (unsigned long)en->st.st_uid, en->user, p->queue_dir, u->n, u->bytes);
		}
		u->warned = 1;
		p->st->held++;
		return 0;
	}
	if (enough_space(p, en->st.st_size, e) < 0) {
		log_warn(p->log, "maildrop %s (uid %lu, %s) waits: %s", en->shown,
		    (unsigned long)en->st.st_uid, en->user, e->msg);
		if (p->held.ex == 0) {
			p->held = *e;
			err_prefix(&p->held, "maildrop %s", en->shown);
		}
		err_init(e);
		p->st->held++;
		return 0;
	}
	return 1;
}

/* --------------------------------------------------------------- bounce */

/* The original's recipients as far as the drop file names them (the
 * arguments; -t's are in the message), for the report. */
static void
orig_rcpts(const struct drop_opts *o, struct addr_list *l)
{
	struct err ignore;

	for (size_t i = 0; i < o->nrcpts; i++) {
		struct addr_list one;

		addr_list_init(&one);
		if (addr_parse_list(&one, o->rcpts[i], strlen(o->rcpts[i]), &ignore) == 0)
			for (size_t k = 0; k < one.n; k++)
				addr_list_add(l, one.v[k], &ignore);
		addr_list_free(&one);
	}
}

/* The bounce for en (bounce.h), into root's queue through the
 * configuration's default account, to the owner's addresses in s->rcpts
 * (to: the qualified login, its To), counted in the owner's share. */
static int
queue_bounce(struct pickup *p, const struct entry *en, const char *why,
    const struct submission *s, const char *to, struct err *e)
{
	struct addr_list orig;
	struct bounce_rcpt *br;
	struct bounce_info bi;
	struct queue_envelope env;
	char from[300], reason[ERR_MSG_MAX + 40], id[QUEUE_ID_MAX];
	static const char unknown[] = "unknown";
	int r = -1;

	addr_list_init(&orig);
	orig_rcpts(&en->o, &orig);
	br = calloc(orig.n ? orig.n : 1, sizeof *br);
	if (br == NULL) {
		addr_list_free(&orig);
		return oom(e);
	}
	for (size_t i = 0; i < orig.n; i++)
		br[i].addr = orig.v[i];
	if (orig.n == 0)
		br[0].addr = unknown;       /* -t: only the message names them */
	for (size_t i = 0; i < (orig.n ? orig.n : 1); i++)
		br[i].status = "5.6.0";
	snprintf(from, sizeof from, "MAILER-DAEMON@%s", p->acct->domain ? p->acct->domain :
	    "localhost");
	snprintf(reason, sizeof reason, "the system queue refused it: %s", why);
	memset(&bi, 0, sizeof bi);
	bi.reporting_mta = p->acct->domain;
	bi.from_addr = from;
	bi.to_addr = to;
	bi.queue_id = en->name;     /* what the user's -v said: "as d.ID" */
	bi.envid = en->o.opts.envid[0] ? en->o.opts.envid : NULL;
	err_init(e);
	bi.arrival = (long long)en->st.st_mtime;
	bi.reason = reason;
	bi.rcpts = br;
	bi.nrcpts = orig.n ? orig.n : 1;
	bi.domain = p->acct->domain;
	memset(&env, 0, sizeof env);
	env.account = p->acct->name;
	runq_envelope_config(&env, p->conf);
	env.uid = (long long)en->st.st_uid;
	env.rcpts = (const char *const *)s->rcpts.v;
	env.nrcpts = s->rcpts.n;
	if (lseek(en->snap, 0, SEEK_SET) == 0 &&
	    bounce_queue(p->queue_dir, &env, en->snap, en->snap_size, -1, &bi, id, e) == 0) {
		log_event(p->log, 0, "maildrop %s: uid %lu (%s) refused; bounce=%s to=<%s>",
		    en->shown, (unsigned long)en->st.st_uid, en->user, id, to);
		r = usage_add(p, (long long)en->st.st_uid, en->snap_size, e);
	} else if (e->ex == 0) {
		err_set(e, EX_IOERR, "lseek: %s", strerror(errno));
	}
	free(br);
	addr_list_free(&orig);
	return r;
}

/* Report a refused entry to its owner, who was told exit 0: a bounce to
 * the login as submit.c would address it (qualified with the account's
 * domain, through the aliases). None when the owner is over quota or has
 * no usable address (logged). Returns 0, or -1 on a local fault. */
static int
send_bounce(struct pickup *p, const struct entry *en, const char *why, struct err *e)
{
	struct submission s;
	char *to = NULL;
	int r = -1;

	if (ready(p, e) < 0)
		return -1;
	if (over_quota(p, en->st.st_uid, BOUNCE_FULL_MAX_DEFAULT, e) != NULL || e->ex) {
		if (e->ex)
			return -1;
		log_event(p->log, 1, "maildrop %s: uid %lu (%s) over its quota: no bounce",
		    en->shown, (unsigned long)en->st.st_uid, en->user);
		return 0;
	}
	submit_init(&s);
	s.conf = p->conf;
	s.acct = p->acct;
	s.log = p->log;
	s.user = en->user;
	if ((to = addr_qualify(en->user, p->acct->domain)) == NULL) {
		oom(e);
	} else if (submit_rcpt(&s, en->user, EX_DATAERR, e) == 0) {
		r = queue_bounce(p, en, why, &s, to, e);
	} else if (!local_fault(e->ex)) {
		log_warn(p->log, "maildrop %s (uid %lu): no bounce to %s: %s", en->shown,
		    (unsigned long)en->st.st_uid, en->user, e->msg);
		err_init(e);
		r = 0;
	}
	free(to);
	submit_free(&s);
	return r;
}

/* --------------------------------------------------------------- import */

/* The drop file could not be removed after its import (unlink's errno
 * err): take the queue entry back, so that the drop file stays the
 * message's one copy and the next pass imports it. -1, a local fault; 0
 * when the entry cannot be taken back either (both copies will go). */
static int
undo_import(struct pickup *p, const struct entry *en, struct submission *s, int err,
    struct err *e)
{
	struct err e2;

	err_init(&e2);
	if (queue_entry_remove(&s->q, &e2) == 0)
		return err_set(e, EX_IOERR, "cannot remove the drop file after its import: "
		    "%s; import undone, it waits", strerror(err));
	log_warn(p->log, "maildrop %s: cannot remove it after import: %s; nor the queue "
	    "entry %s: %s; it will be sent twice", en->shown, strerror(err), s->q.id, e2.msg);
	return 0;
}

/* Submit a checked entry through submit.c as its owner would have: 1
 * imported (the drop file removed), 1 refused (its fault: reported,
 * moved), -1 a local fault (it stays). */
static int
submit_entry(struct pickup *p, struct entry *en, struct err *e)
{
	const struct drop_opts *o = &en->o;
	struct submission s;
	struct stat now;
	struct err ignore;
	int r;

	submit_init(&s);
	s.conf = p->conf;
	s.acct = p->acct;
	s.queue_dir = p->queue_dir;
	s.log = p->log;
	s.user = en->user;
	s.uid = (long long)en->st.st_uid;
	s.req_from = o->from;
	s.full_name = o->full_name;
	s.extract_rcpts = o->read_rcpts;
	s.dot_ends_input = 0;           /* the writer honoured the "." line */
	s.opts = o->opts;               /* checked by drop_parse */
	s.delivery_mode = 'q';
	r = submit_sender(&s, e);
	for (size_t i = 0; r == 0 && i < o->nrcpts; i++)
		r = submit_rcpt_arg(&s, o->rcpts[i], e);
	if (r == 0)
		r = submit_spool(&s, en->snap, e);
	if (r == 0) {
		/* Remove the name only if it is still this file: a sticky
		 * directory lets nobody but its owner (or root) replace it. */
		if (fstatat(p->dfd, en->name, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
		    now.st_ino == en->st.st_ino && now.st_dev == en->st.st_dev &&
		    unlinkat(p->dfd, en->name, 0) < 0)
			r = undo_import(p, en, &s, errno, e);
	}
	if (r == 0) {
		log_debug(p->log, "maildrop %s: uid %lu (%s) queued as %s", en->shown,
		    (unsigned long)en->st.st_uid, en->user, s.q.id);
		log_event(p->log, 0, "maildrop %s: uid %lu (%s) queued as id=%s from=<%s> "
		    "recipients=%zu size=%llu", en->shown, (unsigned long)en->st.st_uid, en->user,
		    s.q.id, s.from, s.rcpts.n, s.info.size);
		p->st->imported++;
		usage_add(p, s.uid, s.info.size, &ignore);
	}
	submit_free(&s);
	if (r == 0)
		return 1;
	return local_fault(e->ex) ? fault(en, e) : refuse(p, en, e->msg, 1, e);
}

/* A drop file that passed pick_one's checks: read, check and submit it.
 * 1 progress (imported or refused), 0 it waits, -1 a local fault. */
static int
import(struct pickup *p, struct entry *en, struct err *e)
{
	const struct drop_opts *o = &en->o;
	char why[ERR_MSG_MAX] = "";
	struct buf hdr;
	long blk;
	int r;

	buf_init(&hdr, DROP_HEADER_MAX + MSG_IO_CHUNK);
	blk = read_block(en->fd, en->st.st_size, &hdr, e);
	if (blk <= 0) {
		r = blk < 0 ? fault(en, e) : refuse(p, en, "not a drop file (no option block)", 0, e);
		goto out;
	}
	if (drop_parse(hdr.data, (size_t)blk, &en->o, e) < 0) {
		if (e->ex == EX_OSERR) {
			r = fault(en, e);
			goto out;
		}
		snprintf(why, sizeof why, "%s", e->msg);
		err_init(e);    /* the file's fault, kept in why */
	}
	/* drop_write makes only d.ID names: anything else was made by hand,
	 * and its owner heard no exit 0 from envoi, so it is not reported. */
	if (!is_drop_name(en->name, 'd')) {
		r = refuse(p, en, why[0] ? why : "not a drop file name (d.ID)", 0, e);
		goto out;
	}
	if (ready(p, e) < 0 || (r = admit(p, en, e)) < 0 ||
	    (r == 1 && snapshot(p, en, &hdr, (size_t)blk + 1, e) < 0)) {
		r = fault(en, e);
		goto out;
	}
	if (r == 0)
		goto out;
	if (!why[0] && en->empty)
		snprintf(why, sizeof why, "no message after the option block");
	if (!why[0] && cli_check_full_name(o->full_name, e) < 0)
		snprintf(why, sizeof why, "%s", e->msg);
	r = why[0] ? refuse(p, en, why, 1, e) : submit_entry(p, en, e);
out:
	buf_free(&hdr);
	return r;
}

/* What makes a drop file unacceptable before its content is read ("" if
 * nothing); *pw gets the owner's password entry. */
static void
structure(const struct stat *st, struct passwd **pw, char *why, size_t size)
{
	why[0] = '\0';
	*pw = NULL;
	if (!S_ISREG(st->st_mode))
		snprintf(why, size, "not a regular file");
	else if (st->st_nlink != 1)
		snprintf(why, size, "%lu links (a hard link to another file)",
		    (unsigned long)st->st_nlink);
	else if (st->st_uid == 0)
		snprintf(why, size, "owned by root (root reads the configuration itself)");
	else if (st->st_mode & (S_IWGRP | S_IWOTH))
		/* Someone else could have written it: the owner is not
		 * necessarily its author (a link to a world-writable file). */
		snprintf(why, size, "mode %04o: writable by group or others",
		    (unsigned)(st->st_mode & 07777));
	else if (st->st_size > (off_t)DROP_FILE_MAX)
		snprintf(why, size, "%lld bytes: larger than %lu", (long long)st->st_size,
		    DROP_FILE_MAX);
	else if ((*pw = getpwuid(st->st_uid)) == NULL)
		snprintf(why, size, "its owner has no password database entry");
}

/* One maildrop entry: 1 progress, 0 skipped (being written, or waiting),
 * -1 a local fault. */
static int
pick_one(struct pickup *p, const char *name, struct err *e)
{
	struct entry en;
	struct passwd *pw;
	char why[160], *user = NULL;
	int r;

	memset(&en, 0, sizeof en);
	en.name = name;
	en.fd = en.snap = -1;
	shown(name, en.shown, sizeof en.shown);
	if (fstatat(p->dfd, name, &en.st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : err_set(e, EX_IOERR, "maildrop: stat %s: %s",
		    en.shown, strerror(errno));
	if (name[0] == 't' && name[1] == '.' && S_ISREG(en.st.st_mode)) {
		/* Being written; or, after a day, left by a writer that died:
		 * maybe cut short, so never imported. */
		if (p->now - en.st.st_mtime < DROP_TMP_MAX_AGE) {
			p->st->waiting++;
			return 0;
		}
		return refuse(p, &en, "unfinished (its writer died)", 0, e);
	}
	/* O_NONBLOCK: a FIFO must not stall the runner; O_NOFOLLOW: a
	 * symbolic link is refused, never followed. */
	en.fd = openat(p->dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (en.fd < 0) {
		if (errno == ENOENT)
			return 0;
		/* What the file is (a link, a socket, a device) is its own
		 * fault; anything else (EIO, ENOMEM, EMFILE) is the machine's:
		 * the file waits for the next pass. */
		if (errno != ELOOP && errno != ENXIO && errno != ENODEV && errno != EOPNOTSUPP)
			return err_set(e, EX_IOERR, "maildrop: cannot open %s: %s", en.shown,
			    strerror(errno));
		snprintf(why, sizeof why, "cannot open it: %s", errno == ELOOP ?
		    "a symbolic link" : errno == ENXIO ? "a socket" : strerror(errno));
		return refuse(p, &en, why, 0, e);
	}
	if (fstat(en.fd, &en.st) < 0) {
		r = err_set(e, EX_IOERR, "maildrop: fstat %s: %s", en.shown, strerror(errno));
		goto out;
	}
	structure(&en.st, &pw, why, sizeof why);
	if (why[0]) {
		r = refuse(p, &en, why, 0, e);
		goto out;
	}
	/* The kernel says who wrote it: that is the submitter. */
	if ((user = str_dup(pw->pw_name)) == NULL) {
		r = oom(e);
		goto out;
	}
	en.user = user;
	r = import(p, &en, e);
out:
	close(en.fd);
	if (en.snap >= 0)
		close(en.snap);
	drop_opts_free(&en.o);
	free(user);
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

/* failed/ forgets entries after QUEUE_FAILED_MAX_AGE (queue.h), so that
 * users' refused mail does not hold root's disk for ever. Problems are
 * logged; they never stop the pickup. */
static void
expire_failed(struct pickup *p)
{
	struct err e;
	int n;

	err_init(&e);
	if (ready(p, &e) < 0)
		return;         /* said again at the first drop file, if any */
	n = queue_expire_failed(p->queue_dir, QUEUE_FAILED_MAX_AGE, (long long)time(NULL), &e);
	if (n < 0)
		log_warn(p->log, "%s", e.msg);
	else if (n > 0)
		log_event(p->log, 0, "removed %d entr%s of %s/failed that failed over %d days ago",
		    n, n == 1 ? "y" : "ies", p->queue_dir, QUEUE_FAILED_MAX_AGE / 86400);
}

/* One pass over maildrop/: *progress when a file was imported or
 * refused. -1 on a local fault, which ends it. */
static int
one_pass(struct pickup *p, int *progress, struct err *e)
{
	int dup_fd = dup(p->dfd), r = 0;
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	struct dirent *de;

	*progress = 0;
	if (d == NULL) {
		if (dup_fd >= 0)
			close(dup_fd);
		return err_set(e, EX_OSERR, "maildrop: %s", strerror(errno));
	}
	rewinddir(d);
	p->now = time(NULL);
	p->st->waiting = p->st->held = 0;
	while (r >= 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		r = pick_one(p, de->d_name, e);
		*progress |= r > 0;
	}
	closedir(d);
	return r < 0 ? -1 : 0;
}

int
drop_pickup(const char *spool, const struct conf *conf, const char *home,
    struct log *log, struct drop_stats *st, struct err *e)
{
	struct pickup p;
	struct log own;
	int ret = 0, progress = 1;

	memset(&p, 0, sizeof p);
	p.spool = spool;
	p.conf = conf;
	p.home = home;
	p.log = log;
	p.st = st;
	p.dfd = p.cfd = -1;
	memset(st, 0, sizeof *st);
	/* Every pickup leaves a trace naming who handed what in, also when
	 * the account configures no logfile or syslog. */
	if (!log->use_syslog && log->logfile == NULL) {
		log_init(&own, log->prog);
		own.tag = log->tag;
		own.verbose = log->verbose;
		own.err = log->err;
		log_configure(&own, NULL, "LOG_MAIL");
		p.log = &own;
	}
	if (prepare(&p, e) < 0) {
		ret = -1;
		goto out;
	}
	expire_failed(&p);
	for (int pass = 0; pass < DROP_PASSES && progress && ret == 0; pass++)
		ret = one_pass(&p, &progress, e);
	if (ret == 0 && p.held.ex) {
		/* The files behind it went; this one waits for disk space. */
		*e = p.held;
		ret = -1;
	}
out:
	if (p.dfd >= 0)
		close(p.dfd);
	if (p.cfd >= 0)
		close(p.cfd);
	if (p.acct)
		account_free(p.acct);
	free(p.queue_dir);
	free(p.use);
	if (p.log == &own)
		log_close(&own);
	return ret;
}
