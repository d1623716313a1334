/*
 * main.c - envoi's entry point: sendmail, mailq, newaliases and envoi.
 *
 * Calls the phases in order and is the only place that exits:
 *   argv -> options (cli) -> account (conf) -> stdin into the spool
 *   (message, queue: fsync'd, only now is the message safe) -> delivery
 *   (session) -> outcome -> spool removal or retention -> exit code.
 * Every failure arrives here as a struct err and leaves as one line on
 * stderr plus the sysexits code from err.h's table.
 */
#include "config.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gsasl.h>
#include <idn2.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "alias.h"
#include "cli.h"
#include "conf.h"
#include "cred.h"
#include "drop.h"
#include "err.h"
#include "info.h"
#include "log.h"
#include "lsmtp.h"
#include "oauth2http.h"
#include "proc.h"
#include "queue.h"
#include "runq.h"
#include "session.h"
#include "submit.h"

struct run {
	struct log log;
	struct cli cli;
	struct conf conf;
	struct account *acct;
	struct submission sub;
	char *queue_dir;
	int use_drop;          /* load_account: this caller sends through
	                        * root's maildrop (drop.h) */
	char *user;
	char *home;
	int options_reported;
	struct buf peeked;     /* --read-envelope-from: the message's first
	                        * bytes, read before the account is chosen */
	char *header_from;     /* ... and its From address, if any */
};

/*
 * Options outside sendmail's vocabulary: the caller may expect something
 * envoi does not do, so say so where an admin looks (the log: logfile or
 * syslog once the account configured them) and, when a person is
 * watching (stderr is a terminal, or -v), on stderr. Never fatal:
 * refusing an option is how cron mail gets lost. Called once the log is
 * configured, or at the end for modes that never read the configuration.
 */
static void
report_options(struct run *r)
{
	int show = r->cli.verbose || isatty(STDERR_FILENO);

	if (r->options_reported)
		return;
	r->options_reported = 1;
	for (size_t i = 0; i < r->cli.nunknown; i++) {
		log_event(&r->log, 1, "warning: option %s is not a sendmail option envoi knows; "
		          "ignored", r->cli.unknown[i]);
		if (show)
			log_warn(&r->log, "option %s is not a sendmail option envoi knows; ignored",
			         r->cli.unknown[i]);
	}
}

static void
print_version(void)
{
	printf("envoi %s\n", PACKAGE_VERSION);
	printf("TLS: GnuTLS %s; SASL: GNU SASL %s; IDN: libidn2 %s\n",
	       gnutls_check_version(NULL), gsasl_check_version(NULL),
	       idn2_check_version(NULL));
	/* Where an admin (and the system test) finds the system-wide files. */
	printf("System configuration: %s/envoi.conf; system queue: %s (maildrop: %s/maildrop)\n",
	       SYSCONFDIR, DROP_SPOOL_DIR, DROP_SPOOL_DIR);
}

/* The login name and home directory of the real uid (conf_home: $HOME
 * only when it is a real home, since sudo runs mailers with HOME=/). */
static int
identify_user(struct run *r, struct err *e)
{
	struct passwd *pw = getpwuid(getuid());

	if (pw == NULL)
		return err_set(e, EX_OSERR, "no password database entry for uid %u",
		               (unsigned)getuid());
	r->user = str_dup(pw->pw_name);
	r->home = conf_home();
	if (r->user == NULL || r->home == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	return 0;
}

/* msmtp's --read-envelope-from, when a message is sent: the From
 * header's address is the envelope sender and chooses the account, as
 * -f would (submit_peek_from; the bytes read go to the spool first). */
static int
peek_envelope_from(struct run *r, struct err *e)
{
	if (!r->cli.read_envelope_from || r->cli.mode != CLI_SEND)
		return 0;
	buf_init(&r->peeked, MSG_HEADER_MAX + MSG_IO_CHUNK);
	if (submit_peek_from(STDIN_FILENO, &r->peeked, &r->header_from, e) < 0)
		return -1;
	r->sub.prefix = buf_cstr(&r->peeked);
	r->sub.prefix_len = r->peeked.len;
	if (r->header_from)
		r->cli.from = r->header_from;
	else
		log_debug(&r->log, "--read-envelope-from: no From address with a domain in "
		          "the message; the usual sender");
	return 0;
}

/*
 * A log file named on the command line (--logfile, msmtp-mode -X) is
 * appended to only when it exists, is a regular file and is the
 * caller's: envoi never creates a file where argv says. A web
 * application's argument injection (PHPMailer, CVE-2016-10033) wrote a
 * PHP script under the web root with sendmail's -X; PHP installs often
 * name msmtp as their sendmail. "-" (stderr) is always fine.
 */
static int
check_cli_logfile(struct run *r, struct err *e)
{
	const char *path = r->acct->logfile;
	struct stat st;
	int named = 0;

	for (size_t i = 0; i < r->cli.nsettings; i++)
		named |= strcmp(r->cli.settings[i].directive, "logfile") == 0;
	if (!named || path == NULL || strcmp(path, "-") == 0)
		return 0;
	if (lstat(path, &st) < 0)
		return err_set(e, EX_USAGE, "log file %s: %s; envoi appends only to an existing "
		               "file of yours when the command line names it (create it, or "
		               "set logfile in the configuration)", path, strerror(errno));
	if (!S_ISREG(st.st_mode) || st.st_uid != getuid())
		return err_set(e, EX_USAGE, "log file %s: not a regular file of yours; refusing "
		               "to write to it from the command line", path);
	return 0;
}

/* 0 with r->acct chosen, or -1. With no configuration of the caller's
 * own and the system's unreadable (drop.h), the error says so and sets
 * r->use_drop: the modes that can go through root's maildrop (sending,
 * mailq, -q) check it; any other mode just reports the error. */
static int
load_account(struct run *r, struct err *e)
{
	/* msmtp's --host: the command line is the whole configuration. A
	 * -C beside it is not read (msmtp ignores it too); say so rather
	 * than let its settings silently not apply. */
	if (r->cli.config_free && r->cli.config_file)
		log_warn(&r->log, "-C %s is not read: --host uses no configuration file",
		    r->cli.config_file);
	if (!r->cli.config_free && conf_load(&r->conf, r->cli.config_file, &r->log, e) < 0)
		return -1;
	if (!r->cli.config_free && drop_wanted(&r->conf, r->cli.config_file)) {
		r->use_drop = 1;
		return err_set(e, EX_CONFIG, "the system configuration is root's and you have "
		               "none of your own: this mode cannot use it (sending and -bs "
		               "go through the system queue)");
	}
	if (peek_envelope_from(r, e) < 0)
		return -1;
	r->acct = conf_select_cli(&r->conf, r->cli.account, r->cli.from, r->cli.settings,
	                          r->cli.nsettings, r->cli.config_free, &r->log, e);
	if (r->acct == NULL || check_cli_logfile(r, e) < 0)
		return -1;
	if (!r->cli.pretend)     /* --pretend writes no log */
		log_configure(&r->log, r->acct->logfile, r->acct->syslog);
	report_options(r);
	r->queue_dir = queue_default_dir(r->acct->queue_dir, r->home);
	if (r->queue_dir == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	return 0;
}

/* Hand the message to root's queue through the maildrop (drop.h). */
static int
run_drop(struct run *r, struct err *e)
{
	struct drop_opts o;
	char id[DROP_ID_MAX];

	if (r->cli.account)
		log_warn(&r->log, "-a %s ignored: the system queue sends with its default "
		         "account", r->cli.account);
	if (r->cli.nsettings > 0 || r->cli.read_envelope_from)
		log_warn(&r->log, "%s ignored: the system queue sends with its default account",
		         r->cli.nsettings ? r->cli.settings[0].option : "--read-envelope-from");
	memset(&o, 0, sizeof o);
	o.from = r->cli.from;
	o.full_name = r->cli.full_name;
	o.read_rcpts = r->cli.read_recipients;
	o.opts = r->cli.opts;
	o.rcpts = r->cli.rcpts;
	o.nrcpts = r->cli.nrcpts;
	if (drop_write(DROP_SPOOL_DIR, &o, r->cli.dot_ends_input, STDIN_FILENO, id, e) < 0)
		return -1;
	log_debug(&r->log, "handed to the system queue as %s", id);
	return 0;
}

/* The submission settings the caller chose on the command line; they
 * need no account, so a maildrop -bs session takes them too. */
static void
caller_fields(struct run *r)
{
	struct submission *s = &r->sub;

	s->log = &r->log;
	s->user = r->user;
	s->uid = (long long)getuid();
	s->req_from = r->cli.from;
	s->full_name = r->cli.full_name;
	s->extract_rcpts = r->cli.read_recipients;
	s->dot_ends_input = r->cli.dot_ends_input;
	s->opts = r->cli.opts;
	s->delivery_mode = r->cli.delivery_mode;
	s->error_mode = r->cli.error_mode;
	/* -B: Debian cron passes -B8BITMIME; no value may ever fail. */
	if (r->cli.body_type && s->opts.body == ENVELOPE_BODY_UNSET)
		log_debug(&r->log, "-B %s is not a body type envoi knows (7BIT, 8BITMIME); "
		          "ignored", r->cli.body_type);
}

/* The submission settings from the command line and the account, for
 * the message on stdin or for each message of a -bs session. */
static int
submit_setup(struct run *r, struct err *e)
{
	if (load_account(r, e) < 0)
		return -1;
	r->sub.conf = &r->conf;
	r->sub.acct = r->acct;
	r->sub.queue_dir = r->queue_dir;
	caller_fields(r);
	return 0;
}

static int
run_send(struct run *r, struct err *e)
{
	struct submission *s = &r->sub;
	int detached;

	if (submit_setup(r, e) < 0) {
		if (!r->use_drop)
			return -1;
		err_init(e);
		return run_drop(r, e);
	}
	if (submit_sender(s, e) < 0)
		return -1;
	for (size_t i = 0; i < r->cli.nrcpts; i++)
		if (submit_rcpt_arg(s, r->cli.rcpts[i], e) < 0)
			return -1;
	if (submit_spool(s, STDIN_FILENO, e) < 0)
		return -1;
	/* A detached -odb child's status and stderr reach nobody; the log
	 * and the queue entry record its outcome. */
	return submit_deliver(s, &detached, e);
}

/* newaliases / -bi: envoi reads its aliases file at every submission, so
 * there is nothing to rebuild; the file is checked instead, so that a
 * mistake shows now and not on the next cron mail. Package scripts run
 * newaliases blindly, so with no configuration at all it succeeds. */
static int
run_newaliases(struct run *r, struct err *e)
{
	struct alias_table *t = NULL;

	if (conf_load(&r->conf, r->cli.config_file, &r->log, e) < 0)
		return -1;
	if (r->conf.nfiles == 0) {
		printf("no configuration found; no aliases file to check\n");
		return 0;
	}
	if ((r->acct = conf_select(&r->conf, r->cli.account, r->cli.from, e)) == NULL)
		return -1;
	if (r->acct->aliases == NULL || *r->acct->aliases == '\0') {
		printf("no aliases file configured\n");
		return 0;
	}
	if (alias_load(r->acct->aliases, &t, e) < 0)
		return -1;
	printf("%s: %zu aliases\n", alias_file(t), alias_count(t));
	alias_table_free(t);
	return 0;
}

/* -bs: SMTP on stdin/stdout; each message submitted as run_send does. */
static int
run_smtp_stdio(struct run *r, struct err *e)
{
	int detached;

	if (submit_setup(r, e) < 0) {
		if (!r->use_drop)
			return -1;
		/* Symfony's or alpine's -bs as a user without the secret:
		 * each message goes to root's maildrop, as run_drop does. */
		err_init(e);
		caller_fields(r);
		return lsmtp_serve(&r->sub, DROP_SPOOL_DIR, STDIN_FILENO, STDOUT_FILENO, &detached, e);
	}
	/* The SMTP replies are the error report; alpine's -oem must not
	 * add a bounce for a refusal its user has just been shown. */
	r->sub.error_mode = 0;
	return lsmtp_serve(&r->sub, NULL, STDIN_FILENO, STDOUT_FILENO, &detached, e);
}

/* One -bv verdict line; returns the verdict's weight for the exit code:
 * 0 deliverable, 1 unknown (temporary), 2 refused. */
static int
print_verdict(const char *arg, const char *addr, const struct session_rcpt *sr,
              const struct err *why)
{
	const char *sep = strcmp(arg, addr) != 0 ? " -> " : "";

	if (arg == addr || !*sep)
		arg = "";
	if (sr && sr->ex == 0) {
		printf("%s%s%s: deliverable (%s)\n", arg, sep, addr, sr->text);
		return 0;
	}
	if (sr && sr->ex > 0 && sr->ex != EX_TEMPFAIL) {
		printf("%s%s%s: undeliverable: %s\n", arg, sep, addr, sr->text);
		return 2;
	}
	printf("%s%s%s: unknown (temporary: %s)\n", arg, sep, addr,
	       sr && sr->ex > 0 ? sr->text : why->msg);
	return 1;
}

/* --serverinfo: connect as the account would, print what the server
 * offers and its certificate, send no message. What was seen is
 * printed on failure too (a refused certificate above all), then the
 * error line. */
static int
run_serverinfo(struct run *r, struct err *e)
{
	struct session_info *si;
	int ret;

	if (load_account(r, e) < 0)
		return -1;
	si = malloc(sizeof *si);
	if (si == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	ret = session_serverinfo(r->acct, &r->log, si, e);
	if (ret == 0 || *si->host)
		info_serverinfo(stdout, r->acct->name, si);
	free(si);
	return ret;
}

/* Where the user approves an OAuth 2.0 login (oauth2http_login). */
static void
show_login(void *ctx, const char *uri, const char *code, const char *complete)
{
	if (code == NULL)       /* the browser login: its redirect comes here */
		printf("To sign in, open this URL in a browser on this machine:"
		    "\n\n  %s\n\n", uri);
	else
		printf("To sign in, open %s and enter the code %s\n", uri, code);
	if (complete)
		printf("(or open %s)\n", complete);
	printf("Waiting for the sign-in...\n");
	fflush(stdout);
}

/* --oauth2-login [ACCOUNT]: the one-time login; the account is -a or the
 * operand, else chosen as for sending. */
static int
run_oauth2_login(struct run *r, struct err *e)
{
	if (r->cli.nrcpts > 1 || (r->cli.nrcpts == 1 && r->cli.account))
		return err_set(e, EX_USAGE, "--oauth2-login takes one account");
	if (r->cli.nrcpts == 1)
		r->cli.account = r->cli.rcpts[0];
	if (load_account(r, e) < 0)
		return -1;
	if (r->acct->oauth2_provider == NULL)
		return err_set(e, EX_CONFIG, "account %s has no oauth2_provider "
		    "(envoi.conf(5))", r->acct->name);
	if (oauth2http_login(r->acct, cred_oauth2_client_secret, show_login, NULL,
	    e) < 0)
		return -1;
	printf("Signed in: account %s sends with OAuth 2.0 from now on.\n",
	    r->acct->name);
	return 0;
}

/* --rmqs NODE: ETRN over a connection set up as for sending. */
static int
run_rmqs(struct run *r, struct err *e)
{
	struct session *s = NULL;
	char reply[512];
	int ret;

	if (load_account(r, e) < 0 || session_open(&s, r->acct, &r->log, e) < 0)
		return -1;
	ret = session_etrn(s, r->cli.rmqs_arg, reply, sizeof reply, e);
	session_close(s);
	if (*reply)
		printf("%s\n", reply);
	return ret;
}

/* How the account of run_pretend was chosen, as conf_select does. */
static const char *
pretend_why(const struct run *r, char *dst, size_t size)
{
	const struct account *a = r->acct;

	if (r->cli.config_free)
		return "config-free: --host and the other options of the command line";
	if (r->cli.account)
		snprintf(dst, size, "named with -a %s", r->cli.account);
	else if (r->cli.from && *r->cli.from && a->from && strcmp(a->name, "default") != 0)
		snprintf(dst, size, "its from %s matches -f %s", a->from, r->cli.from);
	else if (r->cli.from && *r->cli.from)
		snprintf(dst, size, "the default account: -f %s matches no other account's from",
		         r->cli.from);
	else
		snprintf(dst, size, "the default account");
	return dst;
}

/* -P / --pretend: the configuration and envelope a send would use,
 * every problem seen as a warning; no connection, no queue, stdin not
 * read. EX_CONFIG when sending would fail on the configuration. */
static int
run_pretend(struct run *r, struct err *e)
{
	struct info_pretend p;
	struct err re;
	char why[512];
	unsigned problems;

	r->conf.lenient = 1;
	/* No account (none matches, no host, ...): main says why, and it
	 * is EX_CONFIG like the problems warned about while reading. */
	if (submit_setup(r, e) < 0)
		return -1;
	problems = r->conf.problems;
	err_init(&re);
	if (submit_sender(&r->sub, &re) < 0) {
		log_warn(&r->log, "%s", re.msg);
		problems++;
	}
	for (size_t i = 0; i < r->cli.nrcpts; i++)
		if (submit_rcpt_arg(&r->sub, r->cli.rcpts[i], &re) < 0) {
			log_warn(&r->log, "%s", re.msg);
			problems++;
		}
	memset(&p, 0, sizeof p);
	p.conf = &r->conf;
	p.acct = r->acct;
	p.why = pretend_why(r, why, sizeof why);
	p.from = r->sub.from;
	p.rcpts = (const char *const *)r->sub.rcpts.v;
	p.nrcpts = r->sub.rcpts.n;
	p.read_rcpts = r->cli.read_recipients;
	p.queue_dir = r->queue_dir;
	problems += (unsigned)info_pretend(stdout, &p, &r->log);
	if (problems > 0)
		return err_set(e, EX_CONFIG, "--pretend: %u problem%s found (see the warnings "
		               "above)", problems, problems == 1 ? "" : "s");
	return 0;
}

/* -bv: resolve each address as a submission would, then ask the
 * smarthost with RCPT in a transaction that is reset (never DATA). */
static int
run_verify(struct run *r, struct err *e)
{
	struct submission *s = &r->sub;
	struct session *ss = NULL;
	struct session_msg m;
	struct session_result res;
	struct err why;
	size_t *origin;
	int worst = 0, w;

	if (submit_setup(r, e) < 0 || submit_sender(s, e) < 0)
		return -1;
	if (r->cli.nrcpts == 0)
		return err_set(e, EX_USAGE, "-bv needs the addresses to verify as arguments");
	origin = calloc(ADDR_LIST_MAX + 1, sizeof *origin);
	if (origin == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	err_init(&why);
	for (size_t i = 0; i < r->cli.nrcpts; i++) {
		size_t before = s->rcpts.n;
		if (submit_rcpt_arg(s, r->cli.rcpts[i], &why) < 0) {
			printf("%s: undeliverable: %s\n", r->cli.rcpts[i], why.msg);
			worst = 2;
			continue;
		}
		for (size_t k = before; k < s->rcpts.n; k++)
			origin[k] = i;
	}
	memset(&m, 0, sizeof m);
	memset(&res, 0, sizeof res);
	m.fd = -1;
	m.from = s->from;
	m.rcpts = (const char *const *)s->rcpts.v;
	m.nrcpts = s->rcpts.n;
	if (m.nrcpts > 0 && session_open_route(&ss, &r->conf, r->acct, &r->log, &why) < 0 &&
	    why.ex != EX_TEMPFAIL) {
		/* A configuration or security refusal (certificate, AUTH):
		 * not a verdict on any address. */
		*e = why;
		free(origin);
		return -1;
	}
	if (ss && session_verify(ss, &m, &res, &why) < 0 && why.ex == 0)
		err_set(&why, EX_TEMPFAIL, "the server could not be asked");
	session_close(ss);
	for (size_t k = 0; k < m.nrcpts; k++) {
		w = print_verdict(r->cli.rcpts[origin[k]], m.rcpts[k],
		                  res.rcpts && k < res.nrcpts ? &res.rcpts[k] : NULL, &why);
		worst = w > worst ? w : worst;
	}
	session_result_free(&res);
	free(origin);
	if (worst == 2)
		return err_set(e, EX_NOUSER, "some addresses are not deliverable");
	if (worst == 1)
		return err_set(e, EX_TEMPFAIL, "some addresses could not be verified now");
	return 0;
}

/* Whether nothing waits where an unconfigured envoi would queue: the
 * default queue, and for root the maildrop. Errors count as "something":
 * the caller then reports the configuration error. */
static int
nothing_waiting(const struct run *r)
{
	struct queue_item *items = NULL;
	struct err qe;
	size_t n = 0, dn = 1;
	unsigned long long db;
	char *dir = queue_default_dir(NULL, r->home);

	err_init(&qe);
	/* failed/ is not waiting: nothing there is ever retried. */
	if (dir != NULL && queue_list(dir, 0, &items, &n, &qe) == 0)
		queue_items_free(items, n);
	else
		n = 1;
	free(dir);
	if (getuid() != 0)
		dn = 0;
	else if (drop_count(DROP_SPOOL_DIR, &dn, &db, &qe) < 0)
		dn = 1;
	return n == 0 && dn == 0;
}

/* mailq, -q and --rmqueue work on the queue of the selected account (the
 * default one unless -a), which is where this user's messages wait. */
static int
run_queue(struct run *r, struct err *e)
{
	struct runq_opts o;
	struct runq_stats st;
	struct drop_stats ds;
	struct err de;
	int picked = 0;

	if (load_account(r, e) < 0) {
		/* The timer's --retry on a machine whose configuration is not
		 * written yet (the package's commented template): nothing can
		 * be lost, so no failed unit every five minutes. Mail that
		 * waits, and every other mode, report the error. */
		if (r->cli.retry_due && e->ex == EX_CONFIG && nothing_waiting(r)) {
			log_debug(&r->log, "nothing queued: %s", e->msg);
			err_init(e);
			return 0;
		}
		if (!r->use_drop)
			return -1;
		/* Not an error: this user's mail is in root's queue. */
		err_init(e);
		if (r->cli.mode == CLI_REMOVE)
			return err_set(e, EX_NOPERM, "your messages are in the system queue "
			               "(%s); only root can remove them", DROP_SPOOL_DIR);
		printf("Your messages go to the system queue (%s), which only root can "
		       "list (mailq) and run (envoi -q).\n", DROP_SPOOL_DIR);
		return 0;
	}
	switch (r->cli.mode) {
	case CLI_LIST_QUEUE: {
		size_t dn = 0;
		unsigned long long db = 0;

		/* Root's mailq shows users' mail still in the maildrop too
		 * (the pickup's condition: root, the system configuration). */
		if (getuid() == 0 && r->cli.config_file == NULL &&
		    drop_count(DROP_SPOOL_DIR, &dn, &db, &de) < 0)
			log_warn(&r->log, "%s", de.msg);
		return runq_list(r->queue_dir, dn, db, stdout, e);
	}
	case CLI_REMOVE:
		return runq_remove(r->queue_dir, r->cli.rmqueue_arg, stdout, e);
	default:
		break;
	}
	if (runq_parse_arg(r->cli.queue_arg, &o, e) < 0)
		return -1;
	if (r->cli.retry_due)
		o.force = 0;
	/* Root with the system's own configuration (no -C) takes the
	 * maildrop's messages into the queue first, so this run sends them. */
	if (getuid() == 0 && r->cli.config_file == NULL) {
		err_init(&de);
		picked = drop_pickup(DROP_SPOOL_DIR, &r->conf, r->home, &r->log, &ds, &de);
		log_debug(&r->log, "maildrop: %zu imported, %zu refused, %zu being written",
		          ds.imported, ds.refused, ds.waiting);
	}
	memset(&st, 0, sizeof st);
	if (runq_run(&r->conf, r->queue_dir, &o, NULL, NULL, &r->log, &st, e) < 0)
		return -1;
	log_debug(&r->log, "queue run: %zu selected, %zu delivered, %zu deferred, %zu failed, "
	          "%zu bounces, %zu busy, %zu connection(s)", st.seen, st.delivered, st.deferred,
	          st.failed, st.bounced, st.busy, st.connections);
	if (picked < 0) {
		/* After the run: the queue is delivered even when the maildrop
		 * needs the admin; the exit code tells the timer or path unit. */
		*e = de;
		return -1;
	}
	return 0;
}

/*
 * "will retry" must hold with nothing else set up: when entries of this
 * queue wait for a retry and no retrier runs for it, leave one behind
 * (runq.h). Returns 1 in that detached child, after its life, so that
 * main ends it quietly; 0 in the caller.
 */
static int
leave_retrier(struct run *r)
{
	struct err e;
	int fd, pid;

	/* --retry is the timers' run: they are the retry mechanism there,
	 * and systemd would kill a child left in the service's cgroup. */
	if (r->acct == NULL || r->queue_dir == NULL || !r->acct->queue ||
	    !r->acct->queue_retrier || r->cli.retry_due)
		return 0;
	err_init(&e);
	if (runq_retrier_lock(r->queue_dir, &fd, &e) <= 0) {
		if (e.ex)
			log_warn(&r->log, "no retrier: %s", e.msg);
		return 0;
	}
	pid = proc_detach(&e);
	if (pid != 0) {
		if (pid > 0)
			runq_retrier_note_pid(fd, (long)pid);
		else
			log_warn(&r->log, "no retrier: %s", e.msg);
		close(fd);
		return 0;
	}
	/* The child: nothing of the caller's (its pipes, a queue entry's
	 * lock) stays open; the log is opened again where envoi logs. */
	log_close(&r->log);
	proc_close_fds(fd);
	log_init(&r->log, "envoi");
	log_configure(&r->log, r->acct->logfile, r->acct->syslog);
	runq_retrier(r->cli.config_file, r->queue_dir, fd, &r->log);
	return 1;
}

static void
run_free(struct run *r)
{
	submit_free(&r->sub);
	if (r->acct)
		account_free(r->acct);
	conf_free(&r->conf);
	cli_free(&r->cli);
	log_close(&r->log);
	free(r->queue_dir);
	free(r->user);
	free(r->home);
	buf_free(&r->peeked);
	free(r->header_from);
}

/* The modes that act for the calling user: who that is comes first. */
static int
run_as_user(struct run *r, struct err *e)
{
	if (identify_user(r, e) < 0)
		return -1;
	switch (r->cli.mode) {
	case CLI_LIST_QUEUE:
	case CLI_RUN_QUEUE:
	case CLI_REMOVE:
		return run_queue(r, e);
	case CLI_SMTP_STDIO:
		return run_smtp_stdio(r, e);
	case CLI_VERIFY:
		return run_verify(r, e);
	case CLI_SERVERINFO:
		return run_serverinfo(r, e);
	case CLI_RMQS:
		return run_rmqs(r, e);
	case CLI_OAUTH2_LOGIN:
		return run_oauth2_login(r, e);
	case CLI_SEND:
		return r->cli.pretend ? run_pretend(r, e) : run_send(r, e);
	case CLI_VERSION:
	case CLI_HELP:
	case CLI_CONFIGURE:
	case CLI_NEWALIASES:
	case CLI_NOOP:
		break;          /* run_mode's own */
	}
	return 0;
}

/* Do what the command line asked for; the outcome is in *e. */
static void
run_mode(struct run *r, struct err *e)
{
	switch (r->cli.mode) {
	case CLI_VERSION:
		print_version();
		break;
	case CLI_HELP:
		cli_usage(stdout);
		break;
	case CLI_CONFIGURE:
		cli_configure(stdout, r->cli.configure_addr, e);
		break;
	case CLI_NEWALIASES:
		run_newaliases(r, e);
		break;
	case CLI_NOOP:
		/* Nothing to rebuild: envoi reads its files at each run. */
		break;
	default:
		(void)run_as_user(r, e);
		break;
	}
}

int
main(int argc, char **argv)
{
	struct run r;
	struct err e;
	int ex = EX_OK;

	/* A server that drops the connection must produce an error we
	 * report, not a silent death by SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	umask(077);
	memset(&r, 0, sizeof r);
	err_init(&e);
	log_init(&r.log, "envoi");
	conf_init(&r.conf);
	submit_init(&r.sub);

	if (cli_parse(&r.cli, argc, argv, &e) < 0)
		goto finish;
	r.log.verbose = r.cli.verbose;
	if (r.cli.syslog_tag)
		r.log.tag = r.cli.syslog_tag;
	for (size_t i = 0; i < r.cli.nignored; i++)
		log_debug(&r.log, "option %s accepted and ignored", r.cli.ignored[i]);

	run_mode(&r, &e);
	report_options(&r);
	if ((r.cli.mode == CLI_SEND || r.cli.mode == CLI_SMTP_STDIO ||
	     r.cli.mode == CLI_RUN_QUEUE) && leave_retrier(&r)) {
		err_init(&e);   /* the caller reported its own outcome */
		r.cli.error_mode = 'q';
	}
finish:
	if (e.ex != EX_OK) {
		/* -oeq: the exit code alone reports it. */
		if (r.cli.error_mode != 'q')
			log_error(&r.log, "%s", e.msg);
		ex = e.ex;
	}
	run_free(&r);
	if (fflush(stdout) != 0 && ex == EX_OK)
		ex = EX_IOERR;
	return ex;
}
