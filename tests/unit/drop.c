/* Unit tests for src/drop.c: the option block (format, parse, and the
 * garbage a user could write instead), drop_write's file and its errors
 * (nothing left behind), and, when run as root, the pickup of a file owned
 * by another uid into a queue. Each test works in its own mkdtemp
 * directory. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "buf.h"
#include "cli.h"
#include "conf.h"
#include "drop.h"
#include "envelope.h"
#include "err.h"
#include "log.h"
#include "message.h"
#include "queue.h"
#include "tap.h"

static char base[64];

static int
rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP || type == FTW_D)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static void
start(void)
{
	snprintf(base, sizeof base, "/tmp/envoi-drop.XXXXXX");
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
}

static void
end(void)
{
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *
path(const char *sub)
{
	static char p[256];

	snprintf(p, sizeof p, "%s/%s", base, sub);
	return p;
}

static int
count(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

static char *
slurp(const char *p)
{
	static char buf[8192];
	int fd = open(p, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);

	if (fd >= 0)
		close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

/* A file holding text, opened for reading (the message on "stdin"). */
static int
input(const char *text, size_t len)
{
	int fd;

	fd = open(path("in"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) < 0) {
		perror("input");
		exit(1);
	}
	return fd;
}

/* ------------------------------------------------------------ format */

static void
test_roundtrip(void)
{
	char *rc[] = { "bob@example.org", "Carol <carol@example.org>, dave" };
	struct drop_opts o, p;
	struct buf b;
	struct err e;

	memset(&o, 0, sizeof o);
	o.from = "";
	o.full_name = "Cron Daemon";
	o.read_rcpts = 1;
	o.opts.notify = ENVELOPE_NOTIFY_SUCCESS | ENVELOPE_NOTIFY_FAILURE;
	o.opts.ret = ENVELOPE_RET_HDRS;
	envelope_set_envid(&o.opts, "x1");
	o.opts.body = ENVELOPE_BODY_8BITMIME;
	o.opts.smtputf8 = ENVELOPE_UTF8_NO;
	o.opts.requiretls = 1;
	o.rcpts = rc;
	o.nrcpts = 2;
	err_init(&e);
	buf_init(&b, DROP_HEADER_MAX);
	is_int(drop_format(&o, &b, &e), 0, "format");
	is_str(buf_cstr(&b), "envoi-maildrop 1\nfrom \nfull-name Cron Daemon\nread-recipients\n"
	    "dsn-notify SUCCESS,FAILURE\ndsn-ret HDRS\nenvid x1\nbody 8BITMIME\nsmtputf8 no\n"
	    "requiretls yes\nrcpt bob@example.org\n"
	    "rcpt Carol <carol@example.org>, dave\n\n", "... the documented layout");
	is_int(drop_parse(b.data, b.len - 1, &p, &e), 0, "parse it back");
	is_str(p.from, "", "... null sender");
	is_str(p.full_name, "Cron Daemon", "... full name");
	is_int(p.read_rcpts, 1, "... -t");
	ok(memcmp(&p.opts, &o.opts, sizeof o.opts) == 0,
	    "... the delivery options (-N -R -V -B -O), as the queue keeps them");
	is_int(p.nrcpts, 2, "... two recipient arguments");
	is_str(p.nrcpts == 2 ? p.rcpts[1] : NULL, "Carol <carol@example.org>, dave", "... as given");
	drop_opts_free(&p);
	buf_free(&b);

	/* A drop file of an earlier build names DSN options notify and ret. */
	{
		static const char old[] = "envoi-maildrop 1\nnotify SUCCESS\nret FULL\n"
		    "rcpt bob@example.org";
		static const char twice[] = "envoi-maildrop 1\nnotify SUCCESS\n"
		    "dsn-notify NEVER\nrcpt bob@example.org";

		is_int(drop_parse(old, sizeof old - 1, &p, &e), 0, "an older drop file parses");
		is_int(p.opts.notify, ENVELOPE_NOTIFY_SUCCESS, "... its notify");
		is_int(p.opts.ret, ENVELOPE_RET_FULL, "... its ret");
		drop_opts_free(&p);
		is_int(drop_parse(twice, sizeof twice - 1, &p, &e), -1,
		    "notify and dsn-notify together: repeated");
		is_int(e.ex, EX_DATAERR, "... EX_DATAERR");
		drop_opts_free(&p);
	}

	memset(&o, 0, sizeof o);
	o.full_name = "a\nrcpt evil@example.org";
	buf_init(&b, DROP_HEADER_MAX);
	is_int(drop_format(&o, &b, &e), -1, "a newline in a value cannot add a line");
	is_int(e.ex, EX_USAGE, "... EX_USAGE");
	buf_free(&b);
}

static void
test_parse_garbage(void)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
		{ "", "empty" },
		{ "envoi-maildrop 2\n", "another version" },
		{ "ENVOI-MAILDROP 1\n", "magic is exact" },
		{ "#!/bin/sh\nrm -rf /\n", "a script" },
		{ "envoi-maildrop 1\nexec /bin/sh\n", "unknown option" },
		{ "envoi-maildrop 1\nfrom a@b\nfrom c@d\n", "from twice" },
		{ "envoi-maildrop 1\nread-recipients\nread-recipients\n", "-t twice" },
		{ "envoi-maildrop 1\nread-recipients yes\n", "-t with a value" },
		{ "envoi-maildrop 1\nrcpt\n", "rcpt without a value" },
		{ "envoi-maildrop 1\nrcpt a@b\r\n", "a CR" },
		{ "envoi-maildrop 1\nfull-name a\033[2Jb\n", "an escape sequence" },
	};
	struct drop_opts o;
	struct err e;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err_init(&e);
		is_int(drop_parse(bad[i].text, strlen(bad[i].text), &o, &e), -1, "refused: %s",
		    bad[i].why);
		is_int(e.ex, EX_DATAERR, "... EX_DATAERR (%s)", e.msg);
		drop_opts_free(&o);
	}
	is_int(drop_parse("envoi-maildrop 1\0rcpt x\n", 24, &o, &e), -1, "a NUL byte");
	drop_opts_free(&o);
}

/* ------------------------------------------------------------ writer */

static void
test_write(void)
{
	static const char msg[] = "To: bob@example.org\r\r\nSubject: hi\n\nline\n.\nafter\n";
	char *rc[] = { "bob@example.org" };
	char id[DROP_ID_MAX];
	struct drop_opts o;
	struct err e;
	int in;

	start();
	memset(&o, 0, sizeof o);
	o.rcpts = rc;
	o.nrcpts = 1;
	err_init(&e);
	in = input(msg, sizeof msg - 1);
	is_int(drop_write(base, &o, 1, in, id, &e), -1, "no maildrop/ yet");
	is_int(e.ex, EX_UNAVAILABLE, "... EX_UNAVAILABLE: %s", e.msg);
	close(in);

	mkdir(path("maildrop"), 0700);
	in = input(msg, sizeof msg - 1);
	err_init(&e);
	is_int(drop_write(base, &o, 1, in, id, &e), 0, "written");
	close(in);
	is_int(strlen(id), 32, "id d.<14 digits><16 hex>");
	is_int(strncmp(id, "d.", 2), 0, "... starting d.");
	is_int(count(path("maildrop"), "t."), 0, "no t. file left");
	{
		char p[256];

		snprintf(p, sizeof p, "%s/maildrop/%s", base, id);
		is_str(slurp(p), "envoi-maildrop 1\nrcpt bob@example.org\n\nTo: bob@example.org\r\n"
		    "Subject: hi\r\n\r\nline\r\n", "the drop file: options, then the message "
		    "as message.c normalises it, cut at the \".\" line, nothing added");
	}

	/* Errors leave nothing behind. */
	o.nrcpts = 0;
	in = input(msg, sizeof msg - 1);
	is_int(drop_write(base, &o, 1, in, id, &e), -1, "no recipients");
	is_int(e.ex, EX_USAGE, "... EX_USAGE");
	close(in);
	o.read_rcpts = 1;
	in = input("Subject: none\n\nx\n", 17);
	is_int(drop_write(base, &o, 1, in, id, &e), -1, "-t and no recipient fields");
	is_int(e.ex, EX_USAGE, "... EX_USAGE: %s", e.msg);
	close(in);
	in = input("To: bob@example.org\n\nnul\0byte\n", 30);
	is_int(drop_write(base, &o, 1, in, id, &e), -1, "a NUL byte");
	is_int(e.ex, EX_DATAERR, "... EX_DATAERR (message.c's check, in the caller's run)");
	close(in);
	o.read_rcpts = 0;
	rc[0] = "bob@@example.org";
	o.nrcpts = 1;
	in = input(msg, sizeof msg - 1);
	is_int(drop_write(base, &o, 1, in, id, &e), -1, "a bad recipient");
	is_int(e.ex, EX_USAGE, "... EX_USAGE");
	close(in);
	is_int(count(path("maildrop"), ""), 1, "only the one good file in maildrop/");
	end();
}

/* The writer makes every check a direct submission makes, with the same
 * exit codes: the user hears of a problem now, not root's corrupt/. */
static void
test_write_checks(void)
{
	static const char msg[] = "Subject: hi\n\nline\n";
	/* (-N, -R and -V are parsed, and refused, by cli_parse before
	 * either path: tests/unit/cli.c.) */
	static const struct {
		const char *what, *full_name;
		int ex;
	} t[] = {
		{ "-F over 256 octets", NULL, EX_USAGE },
		{ "-F with a line break", "a\nBcc: x", EX_USAGE },
		{ "all valid", "Web Server", 0 },
	};
	char *rc[] = { "bob@example.org" }, **many;
	char longname[MSG_FULL_NAME_MAX + 2];
	char id[DROP_ID_MAX];
	struct drop_opts o;
	struct err e;
	int in;

	start();
	mkdir(path("maildrop"), 0700);
	memset(longname, 'n', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		memset(&o, 0, sizeof o);
		o.rcpts = rc;
		o.nrcpts = 1;
		o.full_name = i == 0 ? longname : t[i].full_name;
		o.opts.notify = ENVELOPE_NOTIFY_SUCCESS | ENVELOPE_NOTIFY_DELAY;
		envelope_set_envid(&o.opts, "id-1");
		err_init(&e);
		in = input(msg, sizeof msg - 1);
		is_int(drop_write(base, &o, 1, in, id, &e), t[i].ex ? -1 : 0, "writer, %s: %s",
		    t[i].what, t[i].ex ? "refused" : "written");
		is_int(e.ex, t[i].ex, "... exit code %d (%s)", t[i].ex, e.msg);
		close(in);
	}
	/* More recipient arguments than a drop file may carry. */
	many = calloc(ADDR_LIST_MAX + 1, sizeof *many);
	for (size_t i = 0; many && i <= ADDR_LIST_MAX; i++)
		many[i] = rc[0];
	memset(&o, 0, sizeof o);
	o.rcpts = many;
	o.nrcpts = ADDR_LIST_MAX + 1;
	err_init(&e);
	in = input(msg, sizeof msg - 1);
	is_int(drop_write(base, &o, 1, in, id, &e), -1, "writer: %d recipient arguments refused",
	    ADDR_LIST_MAX + 1);
	is_int(e.ex, EX_DATAERR, "... EX_DATAERR, as for the direct path (%s)", e.msg);
	close(in);
	free(many);
	is_int(count(path("maildrop"), "d."), 1, "only the valid one is in maildrop/");
	end();
}

/* ------------------------------------------------------------ pickup */

/* Root's side, as a hostile local user (nobody) would meet it. */
struct pk {
	struct conf c;
	struct log log;
	uid_t uid;
	char user[64], owner_addr[128];
};

static int
pk_start(struct pk *k)
{
	struct passwd *pw = getpwnam("nobody");
	char conf_path[256];
	struct err e;
	FILE *f;

	if (getuid() != 0 || pw == NULL) {
		ok(1, "# SKIP the pickup test needs root and a user nobody");
		return -1;
	}
	k->uid = pw->pw_uid;
	snprintf(k->user, sizeof k->user, "%s", pw->pw_name);
	snprintf(k->owner_addr, sizeof k->owner_addr, "%s@client.example", pw->pw_name);
	start();
	chmod(base, 0755);
	log_init(&k->log, "envoi");
	k->log.err = fopen("/dev/null", "w");
	log_configure(&k->log, path("log"), NULL);
	conf_init(&k->c);
	snprintf(conf_path, sizeof conf_path, "%s/conf", base);
	f = fopen(conf_path, "w");
	fprintf(f, "account default\nhost 127.0.0.1\ndomain client.example\nqueue_dir %s/queue\n",
	    base);
	fclose(f);
	err_init(&e);
	is_int(conf_load_file(&k->c, conf_path, 0, &k->log, &e), 0, "config%s%s",
	    e.ex ? ": " : "", e.msg);
	return e.ex ? -1 : 0;
}

static void
pk_end(struct pk *k)
{
	conf_free(&k->c);
	log_close(&k->log);
	fclose(k->log.err);
	end();
}

/* Root's pickup; it must succeed (what: the test's words). */
static void
pk_run(struct pk *k, struct drop_stats *st, const char *what)
{
	struct err e;

	err_init(&e);
	is_int(drop_pickup(path("spool"), &k->c, "/root", &k->log, st, &e), 0, "%s: no error%s%s",
	    what, e.ex ? ": " : "", e.msg);
}

/* A file in maildrop/ as its owner could make it. */
static void
plant(const char *name, const char *text, size_t len, mode_t mode, uid_t uid)
{
	char p[512];
	int fd;

	snprintf(p, sizeof p, "%s/spool/maildrop/%s", base, name);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len || fchown(fd, uid, uid) < 0 ||
	    fchmod(fd, mode) < 0) {
		perror(p);
		exit(1);
	}
	close(fd);
}


static void
test_pickup(void)
{
	char *rc[] = { "bob@example.org" };
	char id[DROP_ID_MAX], p[512];
	struct drop_opts o;
	struct drop_stats st;
	struct pk k;
	struct err e;
	int in;

	if (pk_start(&k) < 0)
		return;
	pk_run(&k, &st, "pickup of nothing");
	is_int(st.imported + st.refused, 0, "... nothing done");
	snprintf(p, sizeof p, "%s/spool/maildrop", base);
	{
		struct stat sb;

		is_int(stat(p, &sb), 0, "maildrop/ made");
		is_int(sb.st_mode & 07777, 01733, "... mode 1733");
	}

	memset(&o, 0, sizeof o);
	o.rcpts = rc;
	o.nrcpts = 1;
	o.from = "app@example.org";
	in = input("Subject: s\n\nbody\n", 17);
	is_int(drop_write(path("spool"), &o, 1, in, id, &e), 0, "a drop file");
	close(in);
	snprintf(p, sizeof p, "%s/spool/maildrop/%s", base, id);
	pk_run(&k, &st, "owned by root");
	is_int(st.refused, 1, "... but refused");
	is_int(count(path("spool/corrupt"), ""), 1, "... moved to corrupt/");

	o.opts.body = ENVELOPE_BODY_8BITMIME;
	o.opts.smtputf8 = ENVELOPE_UTF8_YES;
	o.opts.requiretls = 1;
	in = input("Subject: s\n\nbody\n", 17);
	is_int(drop_write(path("spool"), &o, 1, in, id, &e), 0, "another drop file");
	close(in);
	snprintf(p, sizeof p, "%s/spool/maildrop/%s", base, id);
	is_int(chown(p, k.uid, k.uid), 0, "... given to nobody");
	pk_run(&k, &st, "owned by nobody");
	is_int(st.imported, 1, "... imported");
	is_int(count(path("spool/maildrop"), ""), 0, "... the maildrop is empty");
	is_int(count(path("queue"), ""), 3, "... one queue entry (tmp/, ID.msg, ID.env)");
	{
		DIR *d = opendir(path("queue"));
		struct dirent *de;
		char env[8192] = "";

		while (d && (de = readdir(d)) != NULL)
			if (strstr(de->d_name, ".env")) {
				snprintf(p, sizeof p, "%s/queue/%s", base, de->d_name);
				snprintf(env, sizeof env, "%s", slurp(p));
			}
		if (d)
			closedir(d);
		ok(strstr(env, "\nfrom app@example.org\n") != NULL, "... -f kept as the sender");
		ok(strstr(env, "\nrcpt bob@example.org\n") != NULL, "... the recipient");
		ok(strstr(env, "\nbody 8BITMIME\n") != NULL, "... -B 8BITMIME kept for delivery");
		ok(strstr(env, "\nsmtputf8 yes\n") != NULL, "... -O SMTPUTF8=yes kept");
		ok(strstr(env, "\nrequiretls yes\n") != NULL, "... -O REQUIRETLS=yes kept");
	}
	pk_end(&k);
}


/* ------------------------------------------------ the hostile pickup */

/* How many queue entries (in dir, not failed/) hold `what` in their
 * ID.env (ext ".env") or ID.msg (".msg"). */
static int
entries_with(const char *ext, const char *what)
{
	DIR *d = opendir(path("queue"));
	struct dirent *de;
	char p[512];
	int n = 0;

	while (d && (de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len < 4 || strcmp(de->d_name + len - 4, ext) != 0)
			continue;
		snprintf(p, sizeof p, "%s/queue/%s", base, de->d_name);
		if (strstr(slurp(p), what) != NULL)
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

#define GOOD_BLOCK "envoi-maildrop 1\nrcpt bob@example.org\n\n"
#define DROP_NAME(n) "d.20250101000000" "00000000000000" n

/* Issue 8, 5.1: a value that passes the parser but not the queue, or
 * breaks RFC 3461, is the file's fault: refused, reported, and the
 * others go on. */
static void
test_pickup_poison(void)
{
	static const char good[] = GOOD_BLOCK "Subject: good\n\nbody\n";
	static const char *const bad[] = {
		"envoi-maildrop 1\nnotify sometimes\nrcpt bob@example.org\n\nSubject: n\n\nx\n",
		"envoi-maildrop 1\nret everything\nrcpt bob@example.org\n\nSubject: r\n\nx\n",
		"envoi-maildrop 1\nenvid caf\xc3\xa9\nrcpt bob@example.org\n\nSubject: v\n\nx\n",
	};
	const size_t big = DROP_HEADER_MAX - 100;
	char name[DROP_ID_MAX], *poison;
	struct drop_stats st;
	struct pk k;
	size_t n = 0;

	if (pk_start(&k) < 0)
		return;
	pk_run(&k, &st, "the first pickup makes the maildrop");
	poison = malloc(big + 100);
	n += (size_t)snprintf(poison, 40, "envoi-maildrop 1\nenvid ");
	memset(poison + n, 'A', big - n - 40);
	n = big - 40;
	n += (size_t)snprintf(poison + n, 100, "\nrcpt bob@example.org\n\nSubject: p\n\nx\n");
	plant(DROP_NAME("aa"), poison, n, 0600, k.uid);
	free(poison);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(name, sizeof name, DROP_NAME("b%zu"), i);
		plant(name, bad[i], strlen(bad[i]), 0600, k.uid);
	}
	plant(DROP_NAME("ff"), good, sizeof good - 1, 0600, k.uid);
	pk_run(&k, &st, "a pickup with poison files in it");
	is_int(st.imported, 1, "... the good file imported");
	is_int(st.refused, 4, "... the 4 MB envid, NOTIFY, RET and non-ASCII ENVID refused");
	is_int(count(path("spool/maildrop"), ""), 0, "... none left behind to stop the next run");
	is_int(count(path("spool/corrupt"), ""), 4, "... all four in corrupt/");
	is_int(entries_with(".msg", "Subject: good"), 1, "... the good one queued");
	is_int(entries_with(".env", "\nfrom \n"), 4, "... and four bounces (null sender)");
	{
		char rcpt[160];

		snprintf(rcpt, sizeof rcpt, "\nrcpt %s\n", k.owner_addr);
		is_int(entries_with(".env", rcpt), 4, "... to the owner, %s", k.owner_addr);
	}
	is_int(entries_with(".msg", "multipart/report; report-type=delivery-status"), 4,
	    "... RFC 3464 reports");
	is_int(entries_with(".msg", "Reason: the system queue refused it: option line 2: bad DSN notify value"),
	    1, "... saying why");
	is_int(entries_with(".env", "\nsubmitter-uid "), 5, "... all counted for their owner");
	pk_end(&k);
}

/* 5.9: only d.ID names are imported, and only files no one else may
 * write; 5.10: refusing never fails for want of a name. */
static void
test_pickup_names(void)
{
	static const char good[] = GOOD_BLOCK "Subject: spoof\n\nx\n";
	struct drop_stats st;
	struct pk k;
	char name[64];

	if (pk_start(&k) < 0)
		return;
	pk_run(&k, &st, "the first pickup makes the maildrop");
	plant("x.spoof", good, sizeof good - 1, 0600, k.uid);
	plant("d.2025", good, sizeof good - 1, 0600, k.uid);
	plant(DROP_NAME("0A"), good, sizeof good - 1, 0600, k.uid);   /* upper-case hex */
	plant(DROP_NAME("01"), good, sizeof good - 1, 0666, k.uid);
	plant(DROP_NAME("02"), good, sizeof good - 1, 0620, k.uid);
	for (int i = 0; i < 1100; i++) {
		snprintf(name, sizeof name, "odd name %d", i);
		plant(name, "x", 1, 0600, k.uid);
	}
	pk_run(&k, &st, "odd names, writable files and 1100 refusals in a second");
	is_int(st.imported, 0, "... nothing imported");
	is_int(st.refused, 1105, "... all refused");
	is_int(count(path("spool/maildrop"), ""), 0, "... the maildrop is empty");
	is_int(count(path("spool/corrupt"), ""), 1105, "... each under a name of its own");
	is_int(entries_with(".env", "\nfrom \n"), 0, "... and no bounce: envoi never wrote them");
	pk_end(&k);
}

/* 5.3: the imported message names the local user; 5.1: what message.c
 * would take as a header continuation or an empty message cannot ride
 * on the trace field. */
static void
test_pickup_trace(void)
{
	static const char plain[] = GOOD_BLOCK "Subject: traced\n\nbody\n";
	static const char indented[] = GOOD_BLOCK " indented first line\nsecond\n";
	static const char empty[] = GOOD_BLOCK;
	struct drop_stats st;
	struct pk k;
	char want[200];

	if (pk_start(&k) < 0)
		return;
	pk_run(&k, &st, "the first pickup makes the maildrop");
	plant(DROP_NAME("01"), plain, sizeof plain - 1, 0600, k.uid);
	plant(DROP_NAME("02"), indented, sizeof indented - 1, 0600, k.uid);
	plant(DROP_NAME("03"), empty, sizeof empty - 1, 0600, k.uid);
	pk_run(&k, &st, "pickup");
	is_int(st.imported, 2, "... two imported");
	is_int(st.refused, 1, "... the empty message refused");
	snprintf(want, sizeof want, "Received: by ");
	is_int(entries_with(".msg", want), 3, "... each queued message (and the bounce's copy) "
	    "carries a Received field");
	snprintf(want, sizeof want, " (envoi maildrop, from userid %lu (%s));\r\n\t",
	    (unsigned long)k.uid, k.user);
	is_int(entries_with(".msg", want), 3, "... naming uid %lu and login %s",
	    (unsigned long)k.uid, k.user);
	is_int(entries_with(".msg", "\r\n\r\n indented first line\r\nsecond\r\n"), 1,
	    "... an indented first line stays in the body, not in the trace field");
	{
		char log[512];

		snprintf(log, sizeof log, "%s", slurp(path("log")));
		snprintf(want, sizeof want, "uid %lu (%s) queued as id=", (unsigned long)k.uid,
		    k.user);
		ok(strstr(log, want) != NULL, "the log names uid and login of each import");
	}
	pk_end(&k);
}

/* 5.8: one uid's share of root's queue and failed/ is capped; failed/
 * expires. */
static void
test_pickup_quota(void)
{
	static const char good[] = GOOD_BLOCK "Subject: quota\n\nx\n";
	struct drop_stats st;
	struct pk k;
	char p[512];
	FILE *f;

	if (pk_start(&k) < 0)
		return;
	pk_run(&k, &st, "the first pickup makes the maildrop");
	/* A failed entry of nobody's that fills the byte quota. */
	mkdir(path("queue"), 0700);
	mkdir(path("queue/failed"), 0700);
	snprintf(p, sizeof p, "%s/queue/failed/20200101000000abcdef01.env", base);
	f = fopen(p, "w");
	fprintf(f, "version 1\naccount default\nfrom a@example.org\nrcpt b@example.org\n"
	    "submitter-uid %lu\nmessage-id x@y\nsize %llu\n8bit 0\ncreated 1577836800\n",
	    (unsigned long)k.uid, (unsigned long long)DROP_QUOTA_BYTES);
	fclose(f);
	snprintf(p, sizeof p, "%s/queue/failed/20200101000000abcdef01.msg", base);
	fclose(fopen(p, "w"));
	snprintf(p, sizeof p, "%s/queue/failed/20200101000000abcdef01.st", base);
	f = fopen(p, "w");
	fprintf(f, "attempts 1\nfailed-reason 550 no\n");
	fclose(f);

	plant(DROP_NAME("01"), good, sizeof good - 1, 0600, k.uid);
	pk_run(&k, &st, "owner over quota");
	is_int(st.imported + st.refused, 0, "... the file neither imported nor refused");
	is_int(st.held, 1, "... but held");
	is_int(count(path("spool/maildrop"), "d."), 1, "... it waits in the maildrop, still theirs");
	ok(strstr(slurp(path("log")), "over its quota") != NULL, "... the log says why");

	/* A month later failed/ forgets it, and the file goes. */
	{
		struct timespec ts[2] = { { time(NULL) - QUEUE_FAILED_MAX_AGE - 60, 0 },
					  { time(NULL) - QUEUE_FAILED_MAX_AGE - 60, 0 } };

		utimensat(AT_FDCWD, p, ts, 0);
	}
	pk_run(&k, &st, "a month later");
	is_int(count(path("queue/failed"), ""), 0, "... the failed entry expired");
	is_int(st.imported, 1, "... and the file imported");
	pk_end(&k);
}

int
main(void)
{
	test_roundtrip();
	test_parse_garbage();
	test_write();
	test_write_checks();
	test_pickup();
	test_pickup_poison();
	test_pickup_names();
	test_pickup_trace();
	test_pickup_quota();
	return done_testing();
}
