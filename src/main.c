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
#include <fcntl.h>
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

#include "addr.h"
#include "buf.h"
#include "cli.h"
#include "conf.h"
#include "err.h"
#include "log.h"
#include "message.h"
#include "queue.h"
#include "runq.h"

struct run {
	struct log log;
	struct cli cli;
	struct conf conf;
	struct account *acct;
	struct addr_list rcpts;
	struct msg_info info;
	struct queue_entry q;
	int have_q;
	char *from;
	char *queue_dir;
	char *user;
	char *user_addr;   /* user@domain: the fallback sender */
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

/* Envelope sender: -f/-r, else the account's from, else user@domain. */
static int
choose_sender(struct run *r, struct err *e)
{
	const struct account *a = r->acct;

	/* A wildcard from only selects the account for matching -f values. */
	int usable = a->from && *a->from && !a->from_is_pattern;

	r->user_addr = usable ? xstrdup(a->from) : addr_qualify(r->user, a->domain);
	if (r->user_addr == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	if (r->cli.from)
		r->from = xstrdup(r->cli.from);
	else
		r->from = xstrdup(r->user_addr);
	if (r->from == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	if (addr_check(r->from, 1, e) < 0) {
		e->ex = EX_USAGE;
		return err_prefix(e, "envelope sender <%s>", r->from);
	}
	return 0;
}

static int
add_recipient(struct run *r, const char *addr, int ex_bad, struct err *e)
{
	char *q = addr_qualify(addr, r->acct->domain);
	int ret;

	if (q == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	ret = addr_check(q, 0, e);
	if (ret < 0) {
		e->ex = ex_bad;
		err_prefix(e, "recipient <%s>", q);
	} else {
		ret = addr_list_add(&r->rcpts, q, e);
	}
	free(q);
	return ret;
}

/* Read stdin into a new spool entry and make it durable. */
static int
spool_message(struct run *r, struct err *e)
{
	const struct account *a = r->acct;
	struct msg_opts mo;
	struct addr_list argv_rcpts;
	struct queue_envelope env;

	/* Command-line recipients may be "Name <a@b>" lists, as in sendmail. */
	addr_list_init(&argv_rcpts);
	for (size_t i = 0; i < r->cli.nrcpts; i++) {
		const char *arg = r->cli.rcpts[i];
		if (addr_parse_list(&argv_rcpts, arg, strlen(arg), e) < 0) {
			addr_list_free(&argv_rcpts);
			e->ex = EX_USAGE;
			return err_prefix(e, "recipient argument \"%s\"", arg);
		}
	}
	for (size_t i = 0; i < argv_rcpts.n; i++)
		if (add_recipient(r, argv_rcpts.v[i], EX_USAGE, e) < 0) {
			addr_list_free(&argv_rcpts);
			return -1;
		}
	addr_list_free(&argv_rcpts);
	if (!r->cli.read_recipients && r->rcpts.n == 0)
		return err_set(e, EX_USAGE, "no recipients given (name them as arguments, or use -t)");

	/* Ours to free from here on, even if creating it fails half-way. */
	r->have_q = 1;
	if (queue_entry_create(&r->q, r->queue_dir, e) < 0)
		return -1;

	memset(&mo, 0, sizeof mo);
	mo.dot_ends_input = r->cli.dot_ends_input;
	mo.extract_rcpts = r->cli.read_recipients;
	mo.remove_bcc = a->remove_bcc_headers != 0;
	mo.set_from = (int)a->set_from_header;
	mo.set_date = (int)a->set_date_header;
	mo.set_msgid = (int)a->set_msgid_header;
	/* A null envelope sender (-f '<>') still needs a From header. */
	mo.from_addr = r->from;
	mo.default_from = r->user_addr;
	mo.full_name = r->cli.full_name ? r->cli.full_name : a->from_full_name;
	mo.domain = a->domain;
	if (message_read(STDIN_FILENO, r->q.msg_fd, &mo, &r->info, e) < 0)
		return -1;

	for (size_t i = 0; i < r->info.rcpts.n; i++)
		if (add_recipient(r, r->info.rcpts.v[i], EX_DATAERR, e) < 0)
			return -1;
	if (r->rcpts.n == 0)
		return err_set(e, EX_USAGE, "no recipients: none given as arguments and none found "
		               "in the To, Cc or Bcc headers");

	memset(&env, 0, sizeof env);
	env.account = a->name;
	env.from = r->from;
	env.rcpts = (const char *const *)r->rcpts.v;
	env.nrcpts = r->rcpts.n;
	env.message_id = r->info.message_id;
	env.size = r->info.size;
	env.has_8bit = r->info.has_8bit;
	env.dsn_notify = r->cli.dsn_notify ? r->cli.dsn_notify : a->dsn_notify;
	env.dsn_return = r->cli.dsn_return ? r->cli.dsn_return : a->dsn_return;
	env.envid = r->cli.envid;
	return queue_entry_commit(&r->q, &env, e);
}

/* -odb: the caller gets its exit status now; a detached child delivers.
 * Returns 1 in the parent (done), 0 in the child (go on), -1 on error. */
static int
detach(struct err *e)
{
	pid_t pid;
	int fd;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return err_set(e, EX_OSERR, "cannot fork: %s", strerror(errno));
	if (pid > 0)
		return 1;
	setsid();
	/* Nobody reads our output any more; the log and the queue entry
	 * record what happens. */
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return 0;
}

/* Deliver the entry just queued, per the delivery mode. */
static int
deliver(struct run *r, struct err *e)
{
	const struct account *a = r->acct;
	struct runq_stats st;
	int fate;

	if (r->cli.delivery_mode == 'q' && a->queue) {
		log_event(&r->log, 0, "id=%s queued (-odq) recipients=%zu size=%llu",
		          r->q.id, r->rcpts.n, r->info.size);
		return 0;
	}
	if (r->cli.delivery_mode == 'b' && a->queue) {
		int d = detach(e);
		if (d != 0)
			return d > 0 ? 0 : -1;
	}
	/* The entry is committed; the runner locks it by id. */
	close(r->q.msg_fd);
	r->q.msg_fd = -1;
	memset(&st, 0, sizeof st);
	fate = runq_submit(&r->conf, a, r->queue_dir, r->q.id, &r->log, &st, e);
	switch (fate) {
	case RUNQ_DELIVERED:
	case RUNQ_BUSY:
		return e->ex ? -1 : 0;
	case RUNQ_FAILED:
		return -1;
	case RUNQ_DEFERRED:
	default:
		break;
	}
	if (!a->queue) {
		/* msmtp-style direct mode: the caller retries, nothing kept. */
		struct err rm;
		err_init(&rm);
		if (queue_remove(r->queue_dir, r->q.id, 0, &rm) < 0)
			log_warn(&r->log, "%s", rm.msg);
		e->ex = EX_TEMPFAIL;
		return -1;
	}
	/* Safely queued: exit 0 is the promise that it will be delivered or
	 * bounced. One line says so. */
	log_error(&r->log, "queued %s: %s; will retry", r->q.id, e->msg);
	err_init(e);
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
	struct err rm;

	if (load_account(r, e) < 0 || choose_sender(r, e) < 0)
		return -1;
	if (spool_message(r, e) < 0) {
		if (r->have_q) {
			err_init(&rm);
			queue_entry_remove(&r->q, &rm);
		}
		return -1;
	}
	return deliver(r, e);
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
	if (r->have_q)
		queue_entry_free(&r->q);
	msg_info_free(&r->info);
	addr_list_free(&r->rcpts);
	if (r->acct)
		account_free(r->acct);
	conf_free(&r->conf);
	cli_free(&r->cli);
	log_close(&r->log);
	free(r->from);
	free(r->queue_dir);
	free(r->user);
	free(r->user_addr);
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
	addr_list_init(&r.rcpts);
	msg_info_init(&r.info);

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
