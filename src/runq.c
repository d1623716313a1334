/* runq.c - see runq.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "bounce.h"
#include "buf.h"
#include "queue.h"
#include "runq.h"
#include "session.h"

/* One line of mailq output for a recipient list is cut here; the entry's
 * envelope file has them all. */
#define RUNQ_LIST_RCPTS_MAX 200

/* Every form of -q runs its entries now, whatever their retry schedule,
 * as in Postfix and Sendmail: an admin types `sendmail -q` right after
 * fixing the network. Only --retry (the timers, the retrier) waits for
 * each entry's next attempt. */
int
runq_parse_arg(const char *arg, struct runq_opts *o, struct err *e)
{
	memset(o, 0, sizeof *o);
	o->force = 1;
	if (arg == NULL || *arg == '\0')
		return 0;
	switch (arg[0]) {
	case 'f':
	case '!':
		if (arg[1] == '\0')
			return 0;
		break;
	case 'I':
		o->id_sub = arg + 1;
		return 0;
	case 'R':
		o->rcpt_sub = arg + 1;
		return 0;
	case 'S':
		o->sender_sub = arg + 1;
		return 0;
	default:
		/* -q30m: sendmail's daemon interval. There is no daemon: run
		 * the queue once, now (a timer or cron repeats it). */
		if (arg[0] >= '0' && arg[0] <= '9')
			return 0;
		break;
	}
	return err_set(e, EX_USAGE, "unknown queue option -q%s (use -q, -qf, -qIID, "
	               "-qRRECIPIENT or -qSSENDER)", arg);
}

int
runq_same_config(const struct queue_item *it, const struct conf *c)
{
	if (!it->has_config)
		return 0;
	if (it->config_file == NULL || c->user_file == NULL)
		return it->config_file == c->user_file;
	return strcmp(it->config_file, c->user_file) == 0;
}

void
runq_envelope_config(struct queue_envelope *env, const struct conf *c)
{
	env->has_config = 1;
	env->config_file = c->user_file;
	env->config_dev = c->user_dev;
	env->config_ino = c->user_ino;
}

static int
selected(const struct queue_item *it, const struct runq_opts *o, long long now)
{
	if (it->failed)
		return 0;
	if (o->skip_id && strcmp(it->id, o->skip_id) == 0)
		return 0;
	if (o->only_account && strcmp(it->account ? it->account : "", o->only_account) != 0)
		return 0;
	if (o->only_conf && !runq_same_config(it, o->only_conf))
		return 0;
	if (o->id_sub && strstr(it->id, o->id_sub) == NULL)
		return 0;
	if (o->sender_sub && strcasestr(it->from ? it->from : "", o->sender_sub) == NULL)
		return 0;
	if (o->rcpt_sub) {
		size_t i;
		for (i = 0; i < it->nrcpts; i++)
			if (strcasestr(it->rcpts[i], o->rcpt_sub))
				break;
		if (i == it->nrcpts)
			return 0;
	}
	return o->force || queue_item_due(it, now);
}

/* "42s", "17m", "3h", "2d" */
static void
age(char *dst, size_t size, long long secs)
{
	if (secs < 0)
		secs = 0;
	if (secs < 120)
		snprintf(dst, size, "%llds", secs);
	else if (secs < 7200)
		snprintf(dst, size, "%lldm", secs / 60);
	else if (secs < 2 * 86400)
		snprintf(dst, size, "%lldh", secs / 3600);
	else
		snprintf(dst, size, "%lldd", secs / 86400);
}

/* The submission's own entry, sent first in its account's window, ahead
 * of the due entries it drains (runq_submit). */
struct lead {
	const struct account *a;
	const char *id;
	int sent;                 /* attempted: fate and *why are final */
	enum runq_fate fate;
	struct err *why;
};

struct run {
	const struct conf *conf;
	const char *dir;
	struct log *log;
	struct runq_stats *st;
	char error_mode;          /* the submission's -oe mode (runq_submit) */
	char bounce_id[QUEUE_ID_MAX];   /* the last bounce queued, "" = none */
};

/* -oem / -oee: the submission's own refusal is also mailed back. */
static int
mails_errors(const struct run *r)
{
	return r->error_mode == 'm' || r->error_mode == 'e';
}

/* Queue a bounce for the given recipients to the entry's sender. */
static void
bounce(struct run *r, const struct account *a, const struct queue_item *it, int orig_fd,
       const struct bounce_rcpt *br, size_t n, const char *reason)
{
	struct queue_envelope env;
	struct bounce_info bi;
	struct err e;
	char from[512], id[QUEUE_ID_MAX];
	const char *to = it->from ? it->from : "";

	err_init(&e);
	if (bounce_is_null_sender(to)) {
		log_event(r->log, 1, "id=%s status=failed no bounce: the sender is <>", it->id);
		return;
	}
	snprintf(from, sizeof from, "MAILER-DAEMON@%s", a->domain ? a->domain : "localhost");
	memset(&bi, 0, sizeof bi);
	bi.reporting_mta = a->domain;
	bi.smarthost = a->host;
	bi.from_addr = from;
	bi.to_addr = to;
	bi.queue_id = it->id;
	bi.envid = it->opts.envid[0] ? it->opts.envid : NULL;
	bi.arrival = it->created;
	bi.reason = reason;
	bi.rcpts = br;
	bi.nrcpts = n;
	bi.domain = a->domain;
	memset(&env, 0, sizeof env);
	env.account = a->name;
	/* The report leaves through the configuration that tried the
	 * message (the runner's own when the entry's is unusable). */
	runq_envelope_config(&env, r->conf);
	env.uid = -1;
	if (lseek(orig_fd, 0, SEEK_SET) < 0) {
		err_set(&e, EX_IOERR, "cannot read %s: %s", it->id, strerror(errno));
	} else if (bounce_queue(r->dir, &env, orig_fd, it->size, it->has_8bit, &bi, id,
	                        &e) == 0) {
		log_event(r->log, 0, "id=%s bounce=%s to=<%s> reason='%s'", it->id, id, to,
		          reason);
		r->st->bounced++;
		snprintf(r->bounce_id, sizeof r->bounce_id, "%s", id);
		return;
	}
	log_error(r->log, "cannot create a bounce for %s: %s", it->id, e.msg);
}

/* Enhanced status for a bounce: the server's, else derived from the code. */
static void
status_of(const struct session_rcpt *sr, char *dst, size_t size)
{
	const char *t = sr->text;

	/* "550 5.1.1 ..." -> "5.1.1" */
	if (strlen(t) > 9 && t[3] == ' ' && (t[4] == '4' || t[4] == '5') && t[5] == '.') {
		size_t n = strcspn(t + 4, " ");
		snprintf(dst, size, "%.*s", (int)n, t + 4);
		return;
	}
	snprintf(dst, size, "%s", sr->ex == EX_TEMPFAIL ? "4.0.0" : "5.0.0");
}

/* Per recipient, what the attempt means: done, kept for a retry (a 4xx to
 * its RCPT, or never reached), or refused for good (to bounce). Pure. */
struct outcome {
	size_t nb, nk;
	struct bounce_rcpt *br;   /* nb refused, with their status and reply */
	char (*status)[16];
	const char **keep;        /* nk addresses to keep */
};

static void
outcome_free(struct outcome *oc)
{
	free(oc->br);
	free(oc->status);
	free(oc->keep);
}

/* Room for every recipient's outcome, taken before the message goes out:
 * once the server may have accepted it, recording its answer must not
 * need memory (a failure there would keep the entry: a duplicate). */
static int
outcome_alloc(struct outcome *oc, const struct queue_item *it)
{
	size_t cnt = it->nrcpts ? it->nrcpts : 1;

	memset(oc, 0, sizeof *oc);
	oc->br = calloc(cnt, sizeof *oc->br);
	oc->status = calloc(cnt, sizeof *oc->status);
	oc->keep = calloc(cnt, sizeof *oc->keep);
	if (!oc->br || !oc->status || !oc->keep) {
		outcome_free(oc);
		memset(oc, 0, sizeof *oc);
		return -1;
	}
	return 0;
}

/*
 * An entry under our lock, read again under it, with its spool open:
 * everything a session needs to send it. Held from before it goes out
 * (possibly in a window, behind others still unanswered) until its fate
 * is recorded.
 */
struct entry {
	int held;                 /* lk is ours; it, fd and m are set */
	const char *id;           /* borrowed */
	struct queue_lock lk;
	struct queue_item it;
	int fd;
	struct session_msg m;
	/* in a window (run_group): room for its outcome, taken before it
	 * was sent, and what carried it, for the log */
	struct outcome oc;
	char via_host[256], via_acct[128];
	const struct account *a;  /* its account */
	struct lead *lead;        /* the submission's own entry: its fate goes there */
};

enum take { TAKE_OK, TAKE_BUSY, TAKE_LOCK_ERR, TAKE_LOAD_ERR, TAKE_OPEN_ERR };

static void
entry_release(struct entry *en)
{
	outcome_free(&en->oc);
	if (en->held) {
		if (en->fd >= 0)
			close(en->fd);
		queue_item_free(&en->it);
		queue_unlock(&en->lk);
	}
	memset(en, 0, sizeof *en);
	en->fd = -1;
}

/* Lock id, read it again under the lock (another run may have changed
 * it) and open its spool. Anything but TAKE_OK leaves en released, with
 * *e filled for the _ERR kinds. */
static enum take
entry_take(struct run *r, const char *id, struct entry *en, struct err *e)
{
	int l;

	entry_release(en);
	l = queue_lock(r->dir, id, &en->lk, e);
	if (l <= 0)
		return l < 0 ? TAKE_LOCK_ERR : TAKE_BUSY;
	en->held = 1;
	en->id = id;
	if (queue_item_load(r->dir, id, &en->it, e) < 0) {
		memset(&en->it, 0, sizeof en->it);
		entry_release(en);
		return TAKE_LOAD_ERR;
	}
	en->fd = queue_open_msg(r->dir, id, e);
	if (en->fd < 0) {
		entry_release(en);
		return TAKE_OPEN_ERR;
	}
	memset(&en->m, 0, sizeof en->m);
	en->m.fd = en->fd;
	en->m.size = en->it.size;
	en->m.has_8bit = en->it.has_8bit;
	en->m.from = en->it.from ? en->it.from : "";
	en->m.rcpts = (const char *const *)en->it.rcpts;
	en->m.nrcpts = en->it.nrcpts;
	/* The delivery options recorded at submission (DSN, -B, -O). */
	en->m.opts = en->it.opts;
	return TAKE_OK;
}

/* An entry that outlived queue_lifetime: a bounce for every recipient
 * (never for <>), then failed/. */
static enum runq_fate
expire(struct run *r, const struct account *a, struct entry *en, struct err *why)
{
	const struct queue_item *it = &en->it;
	struct bounce_rcpt *br = calloc(it->nrcpts ? it->nrcpts : 1, sizeof *br);
	long long now = (long long)time(NULL);
	char reason[256], waited[24];
	struct err e;

	err_init(&e);
	age(waited, sizeof waited, now - it->created);
	snprintf(reason, sizeof reason, "it could not be delivered for %s (queue_lifetime; "
	         "last error: %s)", waited, it->last_error ? it->last_error : "none");
	for (size_t i = 0; br && i < it->nrcpts; i++) {
		br[i].addr = it->rcpts[i];
		br[i].status = "4.4.7";
		br[i].diagnostic = it->last_error;
		br[i].action = "failed";
	}
	if (br)
		bounce(r, a, it, en->fd, br, it->nrcpts, reason);
	free(br);
	if (queue_move_failed(r->dir, it->id, reason, &e) < 0)
		log_warn(r->log, "%s", e.msg);
	err_set(why, EX_UNAVAILABLE, "%s", reason);
	r->st->failed++;
	return RUNQ_FAILED;
}

/* Worth another attempt later: a temporary failure, or a server that broke
 * the protocol (a garbled, endless or overlong reply). That is the server's
 * fault, not the message's, and it may have taken the message before
 * garbling its answer: a retry risks a duplicate, a bounce a loss. */
static int
retryable(const struct err *e)
{
	/* Nor is this machine's trouble (memory, a failing read of the
	 * spool) with no reply from the server behind it, nor envoi's own
	 * inconsistency (EX_SOFTWARE): a bug of ours is no reason to bounce
	 * a message that may well go out on the next attempt. */
	if (e->smtp_code == 0 && (e->ex == EX_OSERR || e->ex == EX_IOERR || e->ex == EX_SOFTWARE))
		return 1;
	return e->ex == EX_TEMPFAIL || e->ex == EX_PROTOCOL;
}

/* A temporary failure of the whole message: it stays, with e as its last
 * error and the next attempt after the backoff. */
static enum runq_fate
record_deferred(struct run *r, const struct account *a, const char *id, const struct err *e,
                struct err *why)
{
	struct err e2;

	*why = *e;
	err_init(&e2);
	if (queue_record_failure(r->dir, id, e->msg, &e2) < 0)
		log_warn(r->log, "%s", e2.msg);
	log_event(r->log, 1, "id=%s account=%s host=%s deferred: %s", id, a->name, a->host,
	          e->msg);
	r->st->deferred++;
	return RUNQ_DEFERRED;
}

/* Refused for good: on the submission's own attempt the caller is told
 * (the entry goes: the caller still has the message); in a queue run it
 * moves to failed/ (its bounce was queued by the caller of this). */
static enum runq_fate
record_failed(struct run *r, const char *id, int first, const struct err *e, struct err *why)
{
	struct err e2;

	err_init(&e2);
	if (first ? queue_remove(r->dir, id, 0, &e2) < 0 :
	            queue_move_failed(r->dir, id, e->msg, &e2) < 0)
		log_warn(r->log, "%s", e2.msg);
	*why = *e;
	r->st->failed++;
	return RUNQ_FAILED;
}

/* Fill oc (from outcome_alloc) from the attempt's result. */
static void
classify(const struct queue_item *it, int ret, const struct session_result *res,
         const struct err *e, struct outcome *oc)
{
	oc->nb = oc->nk = 0;
	for (size_t i = 0; i < it->nrcpts; i++) {
		const struct session_rcpt *sr = res->rcpts && i < res->nrcpts ? &res->rcpts[i] : NULL;
		struct bounce_rcpt *b = &oc->br[oc->nb];

		if (ret == 0 && sr && sr->ex == 0)
			continue;
		if (ret == 0 && (sr == NULL || sr->ex == EX_TEMPFAIL || sr->ex < 0)) {
			oc->keep[oc->nk++] = it->rcpts[i];
			continue;
		}
		if (sr && sr->ex > 0) {
			status_of(sr, oc->status[oc->nb], sizeof oc->status[oc->nb]);
			b->diagnostic = sr->text;
		} else {
			snprintf(oc->status[oc->nb], sizeof oc->status[oc->nb], "5.0.0");
			b->diagnostic = e->msg;
		}
		b->addr = it->rcpts[i];
		b->status = oc->status[oc->nb];
		b->action = "failed";
		oc->nb++;
	}
}

/* The delivery log line, naming the host (and fallback account) that
 * carried it. */
static void
log_delivered(struct run *r, const struct account *a, const struct entry *en,
              const struct session_result *res, const char *via_host, const char *via_acct)
{
	const struct queue_item *it = &en->it;
	char list[1024];
	size_t off = 0;
	int fb = strcmp(via_acct, a->name) != 0;

	list[0] = '\0';
	for (size_t k = 0; k < it->nrcpts && off < sizeof list; k++) {
		int w = snprintf(list + off, sizeof list - off, "%s%s", k ? "," : "", it->rcpts[k]);
		if (w < 0)
			break;
		off += (size_t)w;
	}
	log_event(r->log, 0, "id=%s account=%s%s%s host=%s message-id=<%s> from=<%s> "
	          "recipients=%s size=%llu delivered=%zu/%zu reply='%s'", it->id, a->name,
	          fb ? " fallback=" : "", fb ? via_acct : "", via_host,
	          it->message_id ? it->message_id : "", en->m.from, list, it->size,
	          res->naccepted, res->nrcpts, res->reply);
}

/*
 * Record what the server said about a message it answered (accepted for
 * some recipients, or refused for good): refused recipients are reported
 * (stderr on the first try, a bounce otherwise or when others wait or
 * -oem asks), deferred ones kept, and the entry removed once nobody is
 * left to try.
 */
static enum runq_fate
record_answer(struct run *r, const struct account *a, struct entry *en, int first, int ret,
              const struct session_result *res, const struct err *e, const char *via_host,
              const char *via_acct, struct outcome *oc, struct err *why)
{
	const struct queue_item *it = &en->it;
	struct err e2;

	err_init(&e2);
	classify(it, ret, res, e, oc);
	if (first && r->error_mode != 'q')
		for (size_t k = 0; k < oc->nb; k++)
			if (oc->br[k].diagnostic != e->msg)
				log_error(r->log, "<%s>: %s", oc->br[k].addr, oc->br[k].diagnostic);
	/* A bounce also on the first try when -oem/-oee ask for one, or when
	 * others wait for a retry: then the caller gets exit 0 (the message
	 * is queued) and many callers (cron) never show stderr, so only a
	 * bounce reliably reports the refused ones. */
	if (oc->nb && (!first || oc->nk || mails_errors(r)))
		bounce(r, a, it, en->fd, oc->br, oc->nb, ret == 0 ?
		       "the server refused some recipients permanently" :
		       "the server refused the message permanently");
	if (oc->nk) {
		char note[256];
		snprintf(note, sizeof note, "%zu recipient(s) refused temporarily, will retry", oc->nk);
		if (queue_set_rcpts(r->dir, it->id, oc->keep, oc->nk, &e2) < 0 ||
		    queue_record_failure(r->dir, it->id, note, &e2) < 0)
			log_warn(r->log, "%s", e2.msg);
		err_set(why, EX_TEMPFAIL, "%s", note);
		r->st->deferred++;
		return RUNQ_DEFERRED;
	}
	if (ret < 0) {
		return record_failed(r, it->id, first, e, why);
	}
	if (queue_remove(r->dir, it->id, 0, &e2) < 0)
		log_warn(r->log, "%s", e2.msg);
	if (first && oc->nb)
		err_set(why, EX_NOUSER, "message delivered to %zu of %zu recipients; the others "
		        "were refused (see above)", res->naccepted, it->nrcpts);
	r->st->delivered++;
	log_delivered(r, a, en, res, via_host, via_acct);
	return RUNQ_DELIVERED;
}

/* Lock and load an entry that the previous attempt did not take already.
 * TAKE_OK, or the fate to report (busy, or deferred when unreadable). */
static int
take_for_attempt(struct run *r, const char *id, struct entry *en, enum runq_fate *fate)
{
	struct err e;

	err_init(&e);
	switch (entry_take(r, id, en, &e)) {
	case TAKE_OK:
		return 0;
	case TAKE_LOCK_ERR:
		log_warn(r->log, "%s", e.msg);
		/* FALLTHROUGH */
	case TAKE_BUSY:
		r->st->busy++;
		*fate = RUNQ_BUSY;
		return -1;
	case TAKE_LOAD_ERR:
		log_warn(r->log, "%s", e.msg);
		*fate = RUNQ_BUSY;
		return -1;
	case TAKE_OPEN_ERR:
	default:
		log_warn(r->log, "%s", e.msg);
		*fate = RUNQ_DEFERRED;
		return -1;
	}
}

/*
 * Take the entry id into en for an attempt over *sp (opened here when
 * NULL): 0 when it may be sent; -1 when its fate is decided already
 * (*fate: busy, expired, or deferred because the connection could not be
 * opened, *down then set), en released.
 */
static int
attempt_start(struct run *r, const struct account *a, const char *id, struct entry *en,
              struct session **sp, int *down, int first, enum runq_fate *fate, struct err *why)
{
	struct err e;

	err_init(&e);
	if (take_for_attempt(r, id, en, fate) < 0)
		return -1;
	r->st->tried++;
	if (queue_item_expired(&en->it, (long long)time(NULL), a->queue_lifetime)) {
		*fate = expire(r, a, en, why);
		goto out;
	}
	if (*sp == NULL) {
		r->st->connections++;
		if (session_open_route(sp, r->conf, a, r->log, &e) < 0) {
			*sp = NULL;
			*down = 1;
			/* A refusal that will not go away by itself (certificate,
			 * AUTH 535, no STARTTLS) on the submission's own try goes
			 * to the caller's exit code. In a queue run it is the
			 * configuration's fault, not the message's: keep the entry
			 * (fixing the configuration sends it; queue_lifetime
			 * bounces it). */
			*fate = first && !retryable(&e) ? record_failed(r, id, 1, &e, why) :
			        record_deferred(r, a, id, &e, why);
			goto out;
		}
	}
	if (outcome_alloc(&en->oc, &en->it) < 0) {
		err_set(&e, EX_OSERR, "out of memory");
		*fate = record_deferred(r, a, id, &e, why);
		goto out;
	}
	/* Which host (and fallback account) carries it, for the log: the
	 * session may be gone by the time the outcome is logged. */
	snprintf(en->via_host, sizeof en->via_host, "%s", session_host(*sp));
	snprintf(en->via_acct, sizeof en->via_acct, "%s", session_account(*sp));
	return 0;
out:
	entry_release(en);
	return -1;
}

/* Record the answer (or failure) ret/res/e of the attempt at en. */
static enum runq_fate
attempt_end(struct run *r, const struct account *a, struct entry *en, int first, int ret,
            const struct session_result *res, const struct err *e, struct err *why)
{
	if (ret < 0 && retryable(e))
		return record_deferred(r, a, en->id, e, why);
	return record_answer(r, a, en, first, ret, res, e, en->via_host, en->via_acct, &en->oc,
	                     why);
}

/*
 * One attempt at one entry over *sp (opened here when NULL): the
 * submission's own. Decides and records the entry's fate. On a
 * connection-level failure *sp is closed and set to NULL and *down set.
 * en is released here.
 */
static enum runq_fate
attempt(struct run *r, const struct account *a, const char *id, struct entry *en,
        struct session **sp, int *down, int first, int last, struct err *why)
{
	struct session_result res;
	struct err e;
	enum runq_fate fate = RUNQ_DEFERRED;
	int ret;

	err_init(&e);
	if (attempt_start(r, a, id, en, sp, down, first, &fate, why) < 0)
		return fate;
	ret = session_send(*sp, &en->m, last, &res, &e);
	if (!session_usable(*sp)) {
		session_close(*sp);
		*sp = NULL;
		if (ret < 0)
			*down = 1;
	}
	fate = attempt_end(r, a, en, first, ret, &res, &e, why);
	session_result_free(&res);
	entry_release(en);
	return fate;
}

/* The account name an entry asks for ("default" when it names none). */
static const char *
item_account(const struct queue_item *it)
{
	return it->account ? it->account : "default";
}

/* Do two entries leave the same way (configuration file and account)? */
static int
same_route(const struct queue_item *x, const struct queue_item *y)
{
	if (x->has_config != y->has_config)
		return 0;
	if (x->has_config && (x->config_file == NULL || y->config_file == NULL ?
	                      x->config_file != y->config_file :
	                      strcmp(x->config_file, y->config_file) != 0))
		return 0;
	return strcmp(item_account(x), item_account(y)) == 0;
}

/*
 * How a group of entries leaves: the configuration file each was
 * submitted with, loaded under -C's rules (owned by the caller; root:
 * any), and its account of the entry's name; never the runner's own file
 * unless it is that same file. An older build's entry records no file:
 * the runner's configuration sends it, as before.
 */
struct route {
	const struct conf *conf;  /* the run's, or &own */
	struct conf own;
	int have_own;
	struct account *a;        /* NULL: unusable now, `why` says why */
	struct err why;
};

static void
route_open(struct route *rt, const struct conf *run_conf, const struct queue_item *it,
           struct log *log)
{
	memset(rt, 0, sizeof *rt);
	err_init(&rt->why);
	rt->conf = run_conf;
	if (it->has_config && !runq_same_config(it, run_conf)) {
		conf_init(&rt->own);
		rt->have_own = 1;
		rt->own.system_only = it->config_file == NULL;
		if (conf_load(&rt->own, it->config_file, log, &rt->why) < 0) {
			err_prefix(&rt->why, "its configuration %s cannot be used",
			           it->config_file ? it->config_file : "(the system file)");
			return;
		}
		rt->conf = &rt->own;
	}
	rt->a = conf_select(rt->conf, item_account(it), NULL, &rt->why);
	if (rt->a == NULL && rt->have_own)
		err_prefix(&rt->why, "its configuration %s",
		           it->config_file ? it->config_file : "(the system file)");
}

static void
route_close(struct route *rt)
{
	if (rt->a)
		account_free(rt->a);
	if (rt->have_own)
		conf_free(&rt->own);
	memset(rt, 0, sizeof *rt);
}

/*
 * An entry whose configuration or account cannot be used now waits:
 * fixing the file sends it, and mailq shows why. Once it outlived the
 * queue lifetime (the runner's default account's) it is bounced through
 * the runner's configuration, like any expired entry.
 */
static void
route_wait(struct run *r, const struct route *rt, const char *id)
{
	struct entry en;
	struct account *ra;
	struct err e;
	long long now = (long long)time(NULL);

	memset(&en, 0, sizeof en);
	en.fd = -1;
	err_init(&e);
	if (entry_take(r, id, &en, &e) != TAKE_OK)
		return;
	ra = conf_select(r->conf, NULL, NULL, &e);
	if (ra && queue_item_expired(&en.it, now, ra->queue_lifetime)) {
		expire(r, ra, &en, &e);
	} else {
		if (queue_record_failure(r->dir, id, rt->why.msg, &e) < 0)
			log_warn(r->log, "%s", e.msg);
		log_warn(r->log, "%s: %s", id, rt->why.msg);
		r->st->deferred++;
	}
	account_free(ra);
	entry_release(&en);
}

/*
 * A route's entries handed to its connection and not answered yet, oldest
 * first (a ring): each taken (locked, its spool open, its outcome's memory
 * allocated) before it was submitted, and released once its fate is
 * recorded. The session sends them as a window (session.h).
 */
struct flight {
	struct entry ents[SESSION_WINDOW];
	size_t first, n;
	struct session *s;
	int down;                 /* the server is unreachable: no more attempts */
};

/* Record the oldest entry's fate, from its result (read now if need be). */
static void
flight_land(struct run *r, struct flight *fl)
{
	struct entry *en = &fl->ents[fl->first];
	struct lead *lead = en->lead;
	const struct session_msg *m;
	struct session_result res;
	struct err e, why;
	enum runq_fate fate;
	int ret;

	err_init(&e);
	err_init(&why);
	ret = session_collect(fl->s, &m, &res, &e);
	if (m != &en->m && ret == 0) {
		/* Never happens; should it, nothing may be recorded as sent. */
		ret = -1;
		err_set(&e, EX_SOFTWARE, "queue run: result for another message");
	}
	/* A failed connection: the route's other entries wait. */
	if (ret < 0 && !session_usable(fl->s))
		fl->down = 1;
	fate = attempt_end(r, en->a, en, lead != NULL, ret, &res, &e, lead ? lead->why : &why);
	if (lead)
		lead->fate = fate;
	session_result_free(&res);
	entry_release(en);
	fl->first = (fl->first + 1) % SESSION_WINDOW;
	fl->n--;
	if (fl->n == 0 && !session_usable(fl->s)) {
		session_close(fl->s);
		fl->s = NULL;
	}
}

/* Record every entry's fate; then nothing is in flight. */
static void
flight_land_all(struct run *r, struct flight *fl)
{
	while (fl->n > 0)
		flight_land(r, fl);
}

/* Hand the entry id (of account a; lead: the submission's own) to the
 * connection (opened if need be); record the fates of those answered
 * meanwhile. */
static void
flight_launch(struct run *r, const struct account *a, struct flight *fl, const char *id,
              int last, struct lead *lead)
{
	struct entry *en;
	enum runq_fate fate;
	struct err why0;
	struct err *why = lead ? lead->why : &why0;
	enum runq_fate *fp = lead ? &lead->fate : &fate;

	/* A connection that can take no more: its answers first, then a
	 * new one (unless the server is down). */
	if (fl->s && !session_usable(fl->s))
		flight_land_all(r, fl);
	if (fl->n == SESSION_WINDOW)
		flight_land(r, fl);
	if (fl->down)
		return;
	if (lead)
		lead->sent = 1;
	err_init(why);
	en = &fl->ents[(fl->first + fl->n) % SESSION_WINDOW];
	memset(en, 0, sizeof *en);
	en->fd = -1;
	if (attempt_start(r, a, id, en, &fl->s, &fl->down, lead != NULL, fp, why) < 0)
		return;
	en->a = a;
	en->lead = lead;
	if (session_submit(fl->s, &en->m, last) < 0) {
		err_set(&why0, EX_SOFTWARE, "the connection refused another message");
		*fp = record_deferred(r, a, id, &why0, why);
		entry_release(en);
		return;
	}
	fl->n++;
	/* Each fate as soon as it is known, in order. */
	while (fl->n > 0 && session_result_ready(fl->s))
		flight_land(r, fl);
}

/* Send the group of entries that leave like items[i] (same_route), over
 * one connection: `open` when it is the submission's connection for
 * this very route; lead (NULL: none) goes first. */
static void
run_group(struct run *r, struct queue_item *items, size_t n, size_t i, char *done,
          struct session *s, struct lead *lead)
{
	const struct conf *run_conf = r->conf;
	struct route rt;
	struct flight *fl = calloc(1, sizeof *fl);

	route_open(&rt, run_conf, &items[i], r->log);
	r->conf = rt.a ? rt.conf : run_conf;
	if (fl == NULL) {
		/* Not one attempt: the entries wait for the next run. */
		log_warn(r->log, "queue run: out of memory");
		for (size_t j = i; j < n; j++)
			if (same_route(&items[i], &items[j]))
				done[j] = 1;
		goto out;
	}
	fl->s = s;
	s = NULL;
	if (lead)
		flight_launch(r, lead->a, fl, lead->id, 0, lead);
	for (size_t j = i; j < n; j++) {
		size_t next = n;

		if (done[j] || !same_route(&items[i], &items[j]))
			continue;
		done[j] = 1;
		if (rt.a == NULL) {
			route_wait(r, &rt, items[j].id);
			continue;
		}
		/* QUIT rides behind the group's last message. */
		for (size_t k = j + 1; k < n && next == n; k++)
			if (!done[k] && same_route(&items[i], &items[k]))
				next = k;
		flight_launch(r, rt.a, fl, items[j].id, next == n, NULL);
	}
	flight_land_all(r, fl);
	/* The connection first: no entry is unlocked while it may still be
	 * in flight (flight_land_all released them all, answered). */
	s = fl->s;
	free(fl);
out:
	if (s)
		session_close(s);
	route_close(&rt);
	r->conf = run_conf;
}

/* Does items[i] leave through the submission's configuration and its
 * account `account`? */
static int
submission_route(const struct run *r, const struct queue_item *it, const char *account)
{
	return account && runq_same_config(it, r->conf) && strcmp(item_account(it), account) == 0;
}

/* runq_run for r; lead (NULL: none): the submission's own entry, sent
 * first, ahead of its route's group, with that group's connection. */
static int
run_queue(struct run *r, const struct runq_opts *o, struct session *open,
          const char *open_account, struct lead *lead, struct err *e)
{
	struct queue_item *items = NULL;
	size_t n = 0;
	long long now = (long long)time(NULL);
	char *done;

	if (queue_list(r->dir, 0, &items, &n, e) < 0)
		return -1;
	done = calloc(n ? n : 1, 1);
	if (done == NULL) {
		queue_items_free(items, n);
		return err_set(e, EX_OSERR, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		if (!selected(&items[i], o, now))
			done[i] = 1;
		else
			r->st->seen++;
	/* The submission's own entry first, with its route's group. */
	for (size_t i = 0; lead && i < n; i++)
		if (!done[i] && submission_route(r, &items[i], lead->a->name)) {
			run_group(r, items, n, i, done, NULL, lead);
			break;
		}
	/* One route at a time, over one connection, oldest entry first. The
	 * submission's open connection carries only entries submitted through
	 * its own configuration file and account. */
	for (size_t i = 0; i < n; i++) {
		struct session *s = NULL;

		if (done[i])
			continue;
		if (open && submission_route(r, &items[i], open_account)) {
			s = open;
			open = NULL;
		}
		run_group(r, items, n, i, done, s, NULL);
	}
	if (open)
		session_close(open);
	free(done);
	queue_items_free(items, n);
	return 0;
}

int
runq_run(const struct conf *conf, const char *dir, const struct runq_opts *o,
         struct session *open, const char *open_account, struct log *log,
         struct runq_stats *st, struct err *e)
{
	struct run r = { conf, dir, log, st, 0, "" };

	return run_queue(&r, o, open, open_account, NULL, e);
}

/* s made printable (log_sanitize) into dst; "" for NULL. */
static const char *
clean(char *dst, size_t size, const char *s)
{
	return s ? log_sanitize(dst, size, s, strlen(s)) : "";
}

int
runq_list(const char *dir, size_t drop_n, unsigned long long drop_bytes, FILE *out,
          struct err *e)
{
	struct queue_item *items = NULL;
	size_t n = 0;
	unsigned long long bytes = 0;
	long long now = (long long)time(NULL);
	size_t nfailed = 0;

	if (queue_list(dir, 1, &items, &n, e) < 0)
		return -1;
	fprintf(out, "Queue: %s\n", dir);
	if (drop_n > 0)
		fprintf(out, "Maildrop: %zu message%s from users (%llu bytes) waiting for the next "
		        "envoi -q\n", drop_n, drop_n == 1 ? "" : "s", drop_bytes);
	if (n == 0 && drop_n == 0) {
		fprintf(out, "Mail queue is empty\n");
		queue_items_free(items, n);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		const struct queue_item *it = &items[i];
		char a[24], next[32], rcpts[RUNQ_LIST_RCPTS_MAX + 4];
		char from[512], text[QUEUE_ERROR_MAX + 8];
		size_t off = 0;

		age(a, sizeof a, now - it->created);
		if (it->failed) {
			snprintf(next, sizeof next, "FAILED");
			nfailed++;
		} else if (queue_item_due(it, now)) {
			snprintf(next, sizeof next, "now");
		} else {
			char in[24];
			age(in, sizeof in, it->next_attempt - now);
			snprintf(next, sizeof next, "in %s", in);
		}
		rcpts[0] = '\0';
		for (size_t k = 0; k < it->nrcpts && off < RUNQ_LIST_RCPTS_MAX; k++) {
			int w = snprintf(rcpts + off, sizeof rcpts - off, "%s%s", k ? "," : "",
			                 it->rcpts[k]);
			if (w < 0)
				break;
			off += (size_t)w;
		}
		if (off >= RUNQ_LIST_RCPTS_MAX)
			memcpy(rcpts + RUNQ_LIST_RCPTS_MAX, "...", 4);
		/* Addresses from drop files and stored server replies are other
		 * people's bytes: no control character reaches the terminal. */
		fprintf(out, "%s %8llu %5s attempts=%d next=%s <%s> -> %s", it->id, it->size, a,
		        it->attempts, next, clean(from, sizeof from, it->from),
		        log_sanitize(rcpts, sizeof rcpts, rcpts, strlen(rcpts)));
		if (it->failed)
			fprintf(out, " | failed: %s", it->failed_reason ?
			        clean(text, sizeof text, it->failed_reason) : "?");
		else if (it->last_error && *it->last_error)
			fprintf(out, " | last error: %s", clean(text, sizeof text, it->last_error));
		if (!it->failed && !it->damaged && !it->has_config)
			fprintf(out, " | no configuration recorded (an older envoi's entry): "
			        "the queue runner's configuration sends it");
		fputc('\n', out);
		bytes += it->size;
	}
	/* Postfix's summary line, which monitoring checks parse. */
	bytes += drop_bytes;
	fprintf(out, "-- %llu Kbytes in %zu Request%s.%s\n", (bytes + 1023) / 1024, n + drop_n,
	        n + drop_n == 1 ? "" : "s",
	        nfailed ? " (some failed: envoi --rmqueue ID removes one)" : "");
	queue_items_free(items, n);
	return 0;
}

int
runq_remove(const char *dir, const char *arg, FILE *out, struct err *e)
{
	struct queue_item *items = NULL;
	size_t n = 0, removed = 0;
	int all = strcmp(arg, "all") == 0;

	if (queue_list(dir, 1, &items, &n, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct queue_lock lk;
		struct err le;
		int l;

		if (!all && strcmp(items[i].id, arg) != 0)
			continue;
		err_init(&le);
		/* Never pull an entry from under a running delivery. */
		l = items[i].failed ? 1 : queue_lock(dir, items[i].id, &lk, &le);
		if (l <= 0) {
			fprintf(out, "%s: busy (being delivered), not removed\n", items[i].id);
			continue;
		}
		if (queue_remove(dir, items[i].id, items[i].failed, &le) < 0)
			fprintf(out, "%s: %s\n", items[i].id, le.msg);
		else {
			fprintf(out, "%s: removed\n", items[i].id);
			removed++;
		}
		if (!items[i].failed)
			queue_unlock(&lk);
	}
	queue_items_free(items, n);
	if (!all && removed == 0)
		return err_set(e, EX_NOINPUT, "no queue entry %s in %s", arg, dir);
	return 0;
}

int
runq_submit(const struct conf *conf, const struct account *a, const char *dir, const char *id,
            char error_mode, struct log *log, struct runq_stats *st, struct err *why)
{
	struct run r = { conf, dir, log, st, error_mode, "" };
	struct runq_opts o;
	struct session *s = NULL;
	struct queue_item *items = NULL;
	size_t n = 0, others = 0;
	long long now = (long long)time(NULL);
	enum runq_fate fate;
	struct entry en;
	struct lead ld = { a, id, 0, RUNQ_DEFERRED, why };
	struct err e;
	int down = 0;

	/* Other due entries of this account ride on the same connection;
	 * without any, QUIT goes behind the end of data. */
	memset(&o, 0, sizeof o);
	o.only_account = a->name;
	o.skip_id = id;
	if (queue_list(dir, 0, &items, &n, why) == 0) {
		for (size_t i = 0; i < n; i++)
			others += selected(&items[i], &o, now);
		queue_items_free(items, n);
	}
	err_init(why);
	err_init(&e);
	/* With others, its own message leads the window they follow (it
	 * is not waited for: they go whatever its fate; should it fail,
	 * each still gets its own verdict). */
	if (others > 0 && run_queue(&r, &o, NULL, NULL, &ld, &e) < 0)
		log_warn(log, "%s", e.msg);
	if (ld.sent) {
		fate = ld.fate;
	} else {
		memset(&en, 0, sizeof en);
		en.fd = -1;
		fate = attempt(&r, a, id, &en, &s, &down, 1, 1, why);
	}
	/* A bounce for -oem goes now, over a new connection (the server
	 * was answering a moment ago, it refused for good). */
	if (r.bounce_id[0]) {
		err_init(&e);
		if (runq_run(conf, dir, &o, s, a->name, log, st, &e) < 0)
			log_warn(log, "%s", e.msg);
		s = NULL;   /* runq_run closed it */
	}
	if (s)
		session_close(s);
	return (int)fate;
}

/* ------------------------------------------------------------ retrier */

/* When the next entry of dir is due (unix time; never tried = now), or
 * -1 when none waits. *deferred counts entries that failed before. */
static long long
next_due(const char *dir, size_t *deferred)
{
	struct queue_item *items = NULL;
	size_t n = 0;
	long long now = (long long)time(NULL), next = -1;
	struct err e;

	*deferred = 0;
	err_init(&e);
	if (queue_list(dir, 0, &items, &n, &e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		long long t = items[i].attempts > 0 ? items[i].next_attempt : now;

		if (items[i].damaged || items[i].failed)
			continue;
		*deferred += items[i].attempts > 0;
		if (next < 0 || t < next)
			next = t;
	}
	queue_items_free(items, n);
	return next;
}

int
runq_retrier_lock(const char *dir, int *lock_fd, struct err *e)
{
	char path[4096];
	size_t deferred;
	int fd;

	*lock_fd = -1;
	if (next_due(dir, &deferred) < 0 || deferred == 0)
		return 0;
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, RUNQ_RETRIER_LOCK) >= sizeof path)
		return err_set(e, EX_CANTCREAT, "%s: path too long", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd < 0)
		return err_set(e, EX_CANTCREAT, "cannot open %s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int busy = errno == EWOULDBLOCK;
		close(fd);
		return busy ? 0 : err_set(e, EX_IOERR, "cannot lock %s: %s", path, strerror(errno));
	}
	*lock_fd = fd;
	return 1;
}

void
runq_retrier_note_pid(int fd, long pid)
{
	char line[32];
	int len = snprintf(line, sizeof line, "%ld\n", pid);

	if (ftruncate(fd, 0) < 0 || pwrite(fd, line, (size_t)len, 0) != len)
		return;   /* only informative */
}

/* One pass: the due entries, each through its own configuration. */
static void
retrier_pass(const char *cli_file, const char *dir, struct log *log)
{
	struct conf c;
	struct runq_opts o;
	struct runq_stats st;
	struct err e;

	conf_init(&c);
	err_init(&e);
	memset(&o, 0, sizeof o);
	memset(&st, 0, sizeof st);
	if (conf_load(&c, cli_file, log, &e) < 0 || runq_run(&c, dir, &o, NULL, NULL, log,
	                                                     &st, &e) < 0)
		log_warn(log, "retrier: %s", e.msg);
	else if (st.seen)
		log_event(log, 0, "retrier: %zu due, %zu delivered, %zu deferred, %zu failed",
		          st.seen, st.delivered, st.deferred, st.failed);
	conf_free(&c);
}

void
runq_retrier(const char *cli_file, const char *dir, int lock_fd, struct log *log)
{
	size_t deferred;

	log_event(log, 0, "retrier started for %s (pid %ld)", dir, (long)getpid());
	for (;;) {
		long long now, next, nap;

		retrier_pass(cli_file, dir, log);
		next = next_due(dir, &deferred);
		if (next < 0) {
			/* Unlock, then look once more: a submission that queued
			 * while we held the lock relied on us. */
			flock(lock_fd, LOCK_UN);
			if (next_due(dir, &deferred) < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) < 0)
				break;
			continue;
		}
		now = (long long)time(NULL);
		/* Still due right after a pass: busy (another process holds
		 * it) or its configuration would not load; do not spin. */
		nap = next <= now ? RUNQ_RETRIER_NAP_BUSY : next - now;
		if (nap < RUNQ_RETRIER_NAP_MIN)
			nap = RUNQ_RETRIER_NAP_MIN;
		if (nap > RUNQ_RETRIER_NAP_MAX)
			nap = RUNQ_RETRIER_NAP_MAX;
		sleep((unsigned)nap);
	}
	log_event(log, 0, "retrier for %s: queue empty, exiting", dir);
	close(lock_fd);
}
