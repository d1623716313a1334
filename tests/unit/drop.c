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
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "drop.h"
#include "err.h"
#include "log.h"
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
	o.notify = "SUCCESS,FAILURE";
	o.ret = "HDRS";
	o.envid = "x1";
	o.body = "8BITMIME";
	o.smtputf8 = "no";
	o.requiretls = "yes";
	o.rcpts = rc;
	o.nrcpts = 2;
	err_init(&e);
	buf_init(&b, DROP_HEADER_MAX);
	is_int(drop_format(&o, &b, &e), 0, "format");
	is_str(buf_cstr(&b), "envoi-maildrop 1\nfrom \nfull-name Cron Daemon\nread-recipients\n"
	    "notify SUCCESS,FAILURE\nret HDRS\nenvid x1\nbody 8BITMIME\nsmtputf8 no\n"
	    "requiretls yes\nrcpt bob@example.org\n"
	    "rcpt Carol <carol@example.org>, dave\n\n", "... the documented layout");
	is_int(drop_parse(b.data, b.len - 1, &p, &e), 0, "parse it back");
	is_str(p.from, "", "... null sender");
	is_str(p.full_name, "Cron Daemon", "... full name");
	is_int(p.read_rcpts, 1, "... -t");
	is_str(p.notify, "SUCCESS,FAILURE", "... notify");
	is_str(p.ret, "HDRS", "... ret");
	is_str(p.envid, "x1", "... envid");
	is_str(p.body, "8BITMIME", "... body");
	is_str(p.smtputf8, "no", "... -O SMTPUTF8=");
	is_str(p.requiretls, "yes", "... -O REQUIRETLS=");
	is_int(p.nrcpts, 2, "... two recipient arguments");
	is_str(p.nrcpts == 2 ? p.rcpts[1] : NULL, "Carol <carol@example.org>, dave", "... as given");
	drop_opts_free(&p);
	buf_free(&b);

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

/* ------------------------------------------------------------ pickup */

static void
test_pickup(void)
{
	char *rc[] = { "bob@example.org" };
	char id[DROP_ID_MAX], conf_path[256], p[512];
	struct drop_opts o;
	struct drop_stats st;
	struct conf c;
	struct log log;
	struct err e;
	struct passwd *pw = getpwnam("nobody");
	FILE *f;
	int in;

	if (getuid() != 0 || pw == NULL) {
		ok(1, "# SKIP the pickup test needs root and a user nobody");
		return;
	}
	start();
	chmod(base, 0755);
	log_init(&log, "envoi");
	log.err = fopen("/dev/null", "w");
	conf_init(&c);
	snprintf(conf_path, sizeof conf_path, "%s/conf", base);
	f = fopen(conf_path, "w");
	fprintf(f, "account default\nhost 127.0.0.1\ndomain client.example\nqueue_dir %s/queue\n",
	    base);
	fclose(f);
	err_init(&e);
	is_int(conf_load_file(&c, conf_path, 0, &log, &e), 0, "config");

	is_int(drop_pickup(path("spool"), &c, "/root", &log, &st, &e), 0, "pickup of nothing");
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
	is_int(drop_pickup(path("spool"), &c, "/root", &log, &st, &e), 0, "owned by root: no error");
	is_int(st.refused, 1, "... but refused");
	is_int(count(path("spool/corrupt"), ""), 1, "... moved to corrupt/");

	o.body = "8BITMIME";
	o.smtputf8 = "yes";
	o.requiretls = "yes";
	in = input("Subject: s\n\nbody\n", 17);
	is_int(drop_write(path("spool"), &o, 1, in, id, &e), 0, "another drop file");
	close(in);
	snprintf(p, sizeof p, "%s/spool/maildrop/%s", base, id);
	is_int(chown(p, pw->pw_uid, pw->pw_gid), 0, "... given to nobody");
	is_int(drop_pickup(path("spool"), &c, "/root", &log, &st, &e), 0, "pickup (%s)", e.msg);
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
	conf_free(&c);
	fclose(log.err);
	end();
}

int
main(void)
{
	test_roundtrip();
	test_parse_garbage();
	test_write();
	test_pickup();
	return done_testing();
}
