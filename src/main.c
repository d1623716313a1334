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
#include "err.h"
#include "log.h"
#include "queue.h"
#include "runq.h"
#include "submit.h"

struct run {
	struct log log;
	struct cli cli;
	struct conf conf;
	struct account *acct;
	struct submission sub;
	char *queue_dir;
	char *user;
	char *home;
};

static void
print_version(void)
{
	printf("envoi %s\n", PACKAGE_VERSION);
	printf("TLS: GnuTLS %s; SASL: GNU SASL %s; IDN: libidn2 %s\n",
	       gnutls_check_version(NULL), gsasl_check_version(NULL),
	       idn2_check_version(NULL));
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
	r->user = xstrdup(pw->pw_name);
	r->home = conf_home();
	if (r->user == NULL || r->home == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	return 0;
}

static int
load_account(struct run *r, struct err *e)
{
	if (conf_load(&r->conf, r->cli.config_file, &r->log, e) < 0)
		return -1;
	r->acct = conf_select(&r->conf, r->cli.account, r->cli.from, e);
	if (r->acct == NULL)
		return -1;
	log_configure(&r->log, r->acct->logfile, r->acct->syslog);
	r->queue_dir = queue_default_dir(r->acct->queue_dir, r->home);
	if (r->queue_dir == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	return 0;
}

static int
run_send(struct run *r, struct err *e)
{
	struct submission *s = &r->sub;
	int detached;

	if (load_account(r, e) < 0)
		return -1;
	s->conf = &r->conf;
	s->acct = r->acct;
	s->queue_dir = r->queue_dir;
	s->log = &r->log;
	s->user = r->user;
	s->req_from = r->cli.from;
	s->full_name = r->cli.full_name;
	s->extract_rcpts = r->cli.read_recipients;
	s->dot_ends_input = r->cli.dot_ends_input;
	s->dsn_notify = r->cli.dsn_notify;
	s->dsn_return = r->cli.dsn_return;
	s->envid = r->cli.envid;
	s->delivery_mode = r->cli.delivery_mode;
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

/* mailq, -q and --rmqueue work on the queue of the selected account (the
 * default one unless -a), which is where this user's messages wait. */
static int
run_queue(struct run *r, struct err *e)
{
	struct runq_opts o;
	struct runq_stats st;

	if (load_account(r, e) < 0)
		return -1;
	switch (r->cli.mode) {
	case CLI_LIST_QUEUE:
		return runq_list(r->queue_dir, stdout, e);
	case CLI_REMOVE:
		return runq_remove(r->queue_dir, r->cli.rmqueue_arg, stdout, e);
	default:
		break;
	}
	if (runq_parse_arg(r->cli.queue_arg, &o, e) < 0)
		return -1;
	memset(&st, 0, sizeof st);
	if (runq_run(&r->conf, r->queue_dir, &o, NULL, NULL, &r->log, &st, e) < 0)
		return -1;
	log_debug(&r->log, "queue run: %zu selected, %zu delivered, %zu deferred, %zu failed, "
	          "%zu bounces, %zu busy, %zu connection(s)", st.seen, st.delivered, st.deferred,
	          st.failed, st.bounced, st.busy, st.connections);
	return 0;
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

	switch (r.cli.mode) {
	case CLI_VERSION:
		print_version();
		break;
	case CLI_HELP:
		cli_usage(stdout);
		break;
	case CLI_NEWALIASES:
		run_newaliases(&r, &e);
		break;
	case CLI_NOOP:
		/* Nothing to rebuild: envoi reads its files at each run. */
		break;
	case CLI_LIST_QUEUE:
	case CLI_RUN_QUEUE:
	case CLI_REMOVE:
		if (identify_user(&r, &e) == 0)
			run_queue(&r, &e);
		break;
	case CLI_SMTP_STDIO:
	case CLI_VERIFY:
		err_set(&e, EX_UNAVAILABLE, "this mode is not supported yet");
		break;
	case CLI_SEND:
		if (identify_user(&r, &e) == 0)
			run_send(&r, &e);
		break;
	}
finish:
	if (e.ex != EX_OK) {
		log_error(&r.log, "%s", e.msg);
		ex = e.ex;
	}
	run_free(&r);
	if (fflush(stdout) != 0 && ex == EX_OK)
		ex = EX_IOERR;
	return ex;
}
