/* submit.c - see submit.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "proc.h"
#include "runq.h"
#include "submit.h"

void
submit_init(struct submission *s)
{
	memset(s, 0, sizeof *s);
	s->dot_ends_input = 1;
	s->delivery_mode = 'i';
	s->fate = -1;
	s->uid = -1;
	addr_list_init(&s->rcpts);
	msg_info_init(&s->info);
}

void
submit_free(struct submission *s)
{
	if (s->have_q)
		queue_entry_free(&s->q);
	s->have_q = 0;
	msg_info_free(&s->info);
	addr_list_free(&s->rcpts);
	if (s->have_actx)
		alias_ctx_free(&s->actx);
	s->have_actx = 0;
	alias_table_free(s->aliases);
	s->aliases = NULL;
	free(s->from);
	free(s->user_addr);
	s->from = s->user_addr = NULL;
}

int
submit_sender(struct submission *s, struct err *e)
{
	const struct account *a = s->acct;

	/* A wildcard from only selects the account for matching -f values. */
	int usable = a->from && *a->from && !a->from_is_pattern;

	s->user_addr = usable ? str_dup(a->from) : addr_qualify(s->user, a->domain);
	if (s->user_addr == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	if (a->force_from != FORCE_FROM_OFF) {
		/* The provider accepts only the login's address (553 sender
		 * must equal the login): -f and a -bs MAIL FROM give way. */
		if (!usable)
			return err_set(e, EX_CONFIG, "%s:%d: account %s: force_from needs a `from` "
			               "address (not a pattern)", a->source_file ? a->source_file : "",
			               a->source_line, a->name);
		if (s->req_from && strcasecmp(s->req_from, a->from) != 0)
			log_event(s->log, 0, "envelope sender <%s> replaced by <%s> (force_from)",
			          s->req_from, a->from);
		s->from = str_dup(a->from);
	} else {
		s->from = str_dup(s->req_from ? s->req_from : s->user_addr);
	}
	if (s->from == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	if (addr_check(s->from, 1, e) < 0) {
		e->ex = EX_USAGE;
		return err_prefix(e, "envelope sender <%s>", s->from);
	}
	return 0;
}

/* The aliases file (when the account names one) and the local-address
 * test, made once per submission. */
static int
alias_ready(struct submission *s, struct err *e)
{
	const struct account *a = s->acct;

	if (s->have_actx)
		return 0;
	if (a->aliases && *a->aliases && alias_load(a->aliases, &s->aliases, e) < 0)
		return -1;
	s->have_actx = 1;
	return alias_ctx_init(&s->actx, s->aliases, a->domain, NULL, NULL, e);
}

/* rewrite_headers: message.c's callback for each header address. */
static int
header_rewrite(void *ctx, const char *addr, struct addr_list *out, struct err *e)
{
	struct submission *s = ctx;

	if (alias_ready(s, e) < 0)
		return -1;
	return alias_resolve(&s->actx, addr, out, e);
}

static int
add_rcpt(struct submission *s, const char *addr, int ex_bad, struct err *e)
{
	if (addr_check(addr, 0, e) < 0) {
		e->ex = ex_bad;
		return err_prefix(e, "recipient <%s>", addr);
	}
	return addr_list_add(&s->rcpts, addr, e);
}

int
submit_rcpt(struct submission *s, const char *addr, int ex_bad, struct err *e)
{
	struct addr_list l;
	char *q;
	int ret;

	/* Without an aliases file, recipients are only qualified. */
	if (s->acct->aliases && *s->acct->aliases) {
		int local;

		if (alias_ready(s, e) < 0)
			return -1;
		addr_list_init(&l);
		ret = local = alias_resolve(&s->actx, addr, &l, e);
		if (local > 0) {
			log_debug(s->log, "recipient %s: %zu address%s after aliasing", addr, l.n,
			          l.n == 1 ? "" : "es");
			for (size_t i = 0; i < l.n && ret >= 0; i++)
				ret = add_rcpt(s, l.v[i], ex_bad, e);
		}
		addr_list_free(&l);
		if (ret < 0)
			return -1;
		if (local > 0)
			return 0;
	}
	if ((q = addr_qualify(addr, s->acct->domain)) == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	ret = add_rcpt(s, q, ex_bad, e);
	free(q);
	return ret;
}

int
submit_rcpt_arg(struct submission *s, const char *arg, struct err *e)
{
	struct addr_list l;
	int ret = 0;

	/* Command-line recipients may be "Name <a@b>" lists, as in sendmail. */
	addr_list_init(&l);
	if (addr_parse_list(&l, arg, strlen(arg), e) < 0) {
		addr_list_free(&l);
		if (e->ex != EX_OSERR)  /* out of memory stays the machine's */
			e->ex = EX_USAGE;
		return err_prefix(e, "recipient argument \"%s\"", arg);
	}
	for (size_t i = 0; i < l.n && ret == 0; i++)
		ret = submit_rcpt(s, l.v[i], EX_USAGE, e);
	addr_list_free(&l);
	return ret;
}

/* The entry's delivery options: the caller's (checked where they came
 * in), and the account's DSN defaults for what the caller left unset
 * (checked by conf.c, and here again: one rule). */
static int
envelope_of(const struct submission *s, struct envelope *o, struct err *e)
{
	const struct account *a = s->acct;

	*o = s->opts;
	if (!o->notify && a->dsn_notify && envelope_notify_parse(a->dsn_notify, &o->notify) < 0)
		return err_set(e, EX_CONFIG, "account %s: invalid dsn_notify %s", a->name,
		               a->dsn_notify);
	if (o->ret == ENVELOPE_RET_UNSET && a->dsn_return &&
	    envelope_ret_parse(a->dsn_return, &o->ret) < 0)
		return err_set(e, EX_CONFIG, "account %s: invalid dsn_return %s", a->name,
		               a->dsn_return);
	return 0;
}

static int
spool(struct submission *s, int fd, struct err *e)
{
	const struct account *a = s->acct;
	struct msg_opts mo;
	struct queue_envelope env;

	memset(&env, 0, sizeof env);
	if (envelope_of(s, &env.opts, e) < 0)
		return -1;
	if (!s->extract_rcpts && s->rcpts.n == 0)
		return err_set(e, EX_USAGE, "no recipients given (name them as arguments, or use -t)");

	/* Ours to free from here on, even if creating it fails half-way. */
	s->have_q = 1;
	if (queue_entry_create(&s->q, s->queue_dir, e) < 0)
		return -1;

	memset(&mo, 0, sizeof mo);
	mo.dot_ends_input = s->dot_ends_input;
	mo.extract_rcpts = s->extract_rcpts;
	mo.remove_bcc = a->remove_bcc_headers != 0;
	mo.set_from = (int)a->set_from_header;
	mo.set_date = (int)a->set_date_header;
	mo.set_msgid = (int)a->set_msgid_header;
	/* A null envelope sender (-f '<>') still needs a From header. */
	mo.from_addr = s->from;
	mo.default_from = s->user_addr;
	mo.full_name = s->full_name ? s->full_name : a->from_full_name;
	mo.domain = a->domain;
	if (a->rewrite_headers) {
		mo.rewrite = header_rewrite;
		mo.rewrite_ctx = s;
	}
	mo.prefix = s->prefix;
	mo.prefix_len = s->prefix_len;
	mo.set_sender = (int)a->set_sender_header;
	mo.sender_addr = s->from;
	if (a->force_from == FORCE_FROM_HEADER)
		mo.force_from = a->from;
	if (message_read(fd, s->q.msg_fd, &mo, &s->info, e) < 0)
		return -1;

	for (size_t i = 0; i < s->info.rcpts.n; i++)
		if (submit_rcpt(s, s->info.rcpts.v[i], EX_DATAERR, e) < 0)
			return -1;
	if (s->rcpts.n == 0)
		return err_set(e, EX_USAGE, "no recipients: none given as arguments and none found "
		               "in the To, Cc or Bcc headers");

	env.account = a->name;
	/* The entry is delivered only through this configuration (runq.h). */
	runq_envelope_config(&env, s->conf);
	env.uid = s->uid;
	env.from = s->from;
	env.rcpts = (const char *const *)s->rcpts.v;
	env.nrcpts = s->rcpts.n;
	env.message_id = s->info.message_id;
	env.size = s->info.size;
	env.has_8bit = s->info.has_8bit;
	return queue_entry_commit(&s->q, &env, e);
}

/* Where the header block ends in the bytes read so far: just after its
 * empty line, or 0 when it has not ended yet. */
static size_t
header_end(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && p[i - 1] != '\n')
			continue;
		if (p[i] == '\n')
			return i + 1;
		if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')
			return i + 2;
	}
	return 0;
}

/* The first From field's first address in a header block of n bytes
 * (NUL-terminated) into *from, or NULL. Returns 0, or -1 on ENOMEM. */
static int
first_from(const char *p, size_t n, char **from)
{
	struct addr_list l;
	struct err e;
	size_t i = 0, start, end;
	int r = 0;

	*from = NULL;
	while (i < n && strncasecmp(p + i, "From:", 5) != 0) {
		const char *nl = memchr(p + i, '\n', n - i);
		if (nl == NULL)
			return 0;
		i = (size_t)(nl - p) + 1;
	}
	if (i >= n)
		return 0;
	/* The field runs on over continuation lines. */
	start = end = i + 5;
	while (end < n) {
		const char *nl = memchr(p + end, '\n', n - end);
		end = nl ? (size_t)(nl - p) + 1 : n;
		if (end >= n || (p[end] != ' ' && p[end] != '\t'))
			break;
	}
	addr_list_init(&l);
	err_init(&e);
	if (addr_parse_list(&l, p + start, end - start, &e) == 0 && l.n > 0 &&
	    strchr(l.v[0], '@') != NULL && (*from = str_dup(l.v[0])) == NULL)
		r = -1;
	if (e.ex == EX_OSERR)
		r = -1;
	addr_list_free(&l);
	return r;
}

int
submit_peek_from(int fd, struct buf *prefix, char **from, struct err *e)
{
	char chunk[MSG_IO_CHUNK];
	size_t end = 0;

	*from = NULL;
	while (prefix->len <= MSG_HEADER_MAX) {
		ssize_t n = read(fd, chunk, sizeof chunk);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(e, EX_IOERR, "reading the message: %s", strerror(errno));
		if (n == 0)
			break;
		if (buf_append(prefix, chunk, (size_t)n) < 0)
			return err_set(e, EX_OSERR, "out of memory");
		if ((end = header_end(buf_cstr(prefix), prefix->len)) > 0)
			break;
	}
	/* A header block past the limit is message.c's to refuse. */
	if (prefix->len > 0 &&
	    first_from(buf_cstr(prefix), end ? end : prefix->len, from) < 0)
		return err_set(e, EX_OSERR, "out of memory");
	return 0;
}

int
submit_spool(struct submission *s, int fd, struct err *e)
{
	struct err rm;

	if (spool(s, fd, e) == 0)
		return 0;
	if (s->have_q) {
		err_init(&rm);
		queue_entry_remove(&s->q, &rm);
		queue_entry_free(&s->q);
		s->have_q = 0;
	}
	return -1;
}

/* -odb: the caller gets its answer now; a detached child delivers. */
int
submit_detach(struct err *e)
{
	return proc_detach(e);
}

int
submit_deliver(struct submission *s, int *detached, struct err *e)
{
	const struct account *a = s->acct;
	struct runq_stats st;
	int fate;

	*detached = 0;
	if (s->delivery_mode == 'q' && a->queue) {
		log_event(s->log, 0, "id=%s queued (-odq) recipients=%zu size=%llu",
		          s->q.id, s->rcpts.n, s->info.size);
		return 0;
	}
	if (s->delivery_mode == 'b' && a->queue) {
		int d = submit_detach(e);
		if (d != 0)
			return d > 0 ? 0 : -1;
		*detached = 1;
	}
	/* The entry is committed; the runner locks it by id. */
	close(s->q.msg_fd);
	s->q.msg_fd = -1;
	memset(&st, 0, sizeof st);
	fate = runq_submit(s->conf, a, s->queue_dir, s->q.id, s->error_mode, s->log, &st, e);
	s->fate = fate;
	switch (fate) {
	case RUNQ_DELIVERED:
	case RUNQ_BUSY:
	case RUNQ_FAILED:
		if (e->ex == 0)
			return 0;
		/* -oee: the bounce is the report (sendmail's "BerkNet"
		 * mode); say so once and exit 0. */
		if (s->error_mode == 'e' && st.bounced > 0) {
			log_error(s->log, "%s (reported to <%s> by mail)", e->msg, s->from);
			err_init(e);
			return 0;
		}
		return -1;
	case RUNQ_DEFERRED:
	default:
		break;
	}
	if (!a->queue) {
		/* msmtp-style direct mode: the caller retries, nothing kept. */
		struct err rm;
		err_init(&rm);
		if (queue_remove(s->queue_dir, s->q.id, 0, &rm) < 0)
			log_warn(s->log, "%s", rm.msg);
		/* A protocol violation keeps msmtp's 76 (envoi(1)). */
		if (e->ex != EX_PROTOCOL)
			e->ex = EX_TEMPFAIL;
		return -1;
	}
	/* Safely queued: exit 0 is the promise that it will be delivered or
	 * bounced. One line says so (not with -oeq). */
	if (s->error_mode != 'q')
		log_error(s->log, "queued %s: %s; will retry", s->q.id, e->msg);
	err_init(e);
	return 0;
}
