/*
 * runq.h - the queue runner: decides the fate of queued messages.
 *
 * Owns: choosing entries (due, or all with -qf; -qI/-qR/-qS filters),
 * grouping them by account so each account's entries go over ONE SMTP
 * connection as a window (session_submit: with CHUNKING and PIPELINING up
 * to SMTP_WINDOW messages in flight before their verdicts are read; with
 * DATA the next entry's envelope behind the previous end of data); every
 * entry is locked, its spool open and its outcome's memory allocated
 * before it is sent, and its fate is recorded in order as the verdicts
 * come, an entry whose verdict was never read staying queued), and what
 * happens after each attempt: removal only after the server accepted the
 * message; on a temporary failure (a server that
 * breaks the protocol, EX_PROTOCOL, counts as one) the entry stays
 * with its attempt count, last error and next attempt (exponential
 * backoff); on a permanent failure or when the entry outlived
 * queue_lifetime, a bounce (RFC 3464) goes to the envelope sender (never
 * for the null sender) and the entry moves to failed/. Nothing is ever
 * deleted silently. Also the mailq listing and --rmqueue.
 *
 * Never: reads stdin or decides the process's exit code (main does). The
 * storage is queue.c's, the protocol session.c's, the report bounce.c's.
 */
#ifndef ENVOI_RUNQ_H
#define ENVOI_RUNQ_H

#include <stdio.h>

#include "conf.h"
#include "err.h"
#include "log.h"

struct session;
struct queue_item;
struct queue_envelope;

struct runq_opts {
	int force;                /* every -q form: ignore the schedule;
	                           * 0 for --retry (only due entries) */
	const char *id_sub;       /* -qI: queue id contains */
	const char *rcpt_sub;     /* -qR: some recipient contains */
	const char *sender_sub;   /* -qS: the sender contains */
	const char *only_account; /* only this account's entries */
	const struct conf *only_conf; /* only entries submitted through this
	                           * configuration (runq_same_config) */
	const char *skip_id;      /* leave this entry alone */
};

struct runq_stats {
	size_t seen, tried, delivered, deferred, failed, bounced, busy, connections;
};

/*
 * Was the entry submitted through the configuration c (the same user or
 * -C file, by canonical path, or both the system file alone)? Never for
 * an older build's entry, which records none.
 */
int runq_same_config(const struct queue_item *it, const struct conf *c);

/* Record c as the configuration of a new entry (queue.h's config keys). */
void runq_envelope_config(struct queue_envelope *env, const struct conf *c);

/* Parse sendmail's -q argument ("", "f", "Isub", "Rsub", "Ssub", "30m")
 * into o; every form sets force (run now). EX_USAGE for an unknown form. */
int runq_parse_arg(const char *arg, struct runq_opts *o, struct err *e);

/*
 * Deliver the selected entries. With `open` (an established session for
 * account `open_account`), that account's entries use it first; it is
 * closed by the caller. Per-entry problems are logged and recorded in the
 * entry, never returned: the return is -1 only when the queue itself
 * cannot be read.
 */
int runq_run(const struct conf *conf, const char *dir, const struct runq_opts *o,
             struct session *open, const char *open_account, struct log *log,
             struct runq_stats *st, struct err *e);

/*
 * The retrier: "will retry" must be true with no timer or cron line set
 * up. When a message is queued after a failed attempt (or a run finds
 * deferred entries) and no retrier holds the queue's lock file
 * (QUEUE_DIR/retrier.lock, which holds its pid), main forks one (proc.h):
 * it sleeps until the next entry is due, runs the queue as --retry does,
 * and exits once no entry is left; at most one per queue directory.
 *
 * runq_retrier_lock: 1 with *lock_fd holding the lock when a retrier is
 * wanted and none runs (the caller forks; the child keeps the lock, the
 * parent closes its descriptor); 0 when one runs already or no entry
 * waits for a retry; -1 on error (EX_CANTCREAT, EX_IOERR).
 */
#define RUNQ_RETRIER_LOCK "retrier.lock"
int runq_retrier_lock(const char *dir, int *lock_fd, struct err *e);

/* Write the retrier's pid into its lock file: the parent does, before it
 * returns, so that admins (and the tests, which stop the retriers they
 * caused) can read it at once. Best effort. */
void runq_retrier_note_pid(int fd, long pid);

/*
 * The retrier's life, in the detached child (its parent wrote its pid into
 * the lock file): runs the queue (only due entries; each entry through its own
 * configuration; cli_file, the -C file or NULL, is reloaded every pass so
 * an edited file is followed) and sleeps until the next entry is due
 * (waking at least every RUNQ_RETRIER_NAP_MAX seconds, so a removed queue
 * directory ends it) until nothing is left, then releases the lock and
 * returns. Never returns an error: problems go to the log.
 */
#define RUNQ_RETRIER_NAP_MIN 2
#define RUNQ_RETRIER_NAP_BUSY 30
#define RUNQ_RETRIER_NAP_MAX 300
void runq_retrier(const char *cli_file, const char *dir, int lock_fd, struct log *log);

/* mailq: one line per entry, then a Postfix-style summary line that
 * monitoring checks parse ("-- N Kbytes in M Requests."). drop_n and
 * drop_bytes are root's maildrop files still waiting for the pickup
 * (drop.h): one line says so, and the summary counts them, so a monitor
 * sees users' mail too. */
int runq_list(const char *dir, size_t drop_n, unsigned long long drop_bytes, FILE *out,
              struct err *e);

/* --rmqueue ID|all: remove entries (also from failed/), one line each. */
int runq_remove(const char *dir, const char *arg, FILE *out, struct err *e);

/*
 * What to do with one entry after an attempt; shared by the queue run and
 * the submission path in main. `first_try` marks the submission's own
 * attempt, whose permanent failure the caller reports through the exit
 * code instead of a bounce.
 */
enum runq_fate { RUNQ_DELIVERED, RUNQ_DEFERRED, RUNQ_FAILED, RUNQ_BUSY };

/*
 * The submission's own attempt at the entry it just queued (sendmail's
 * -odi). The other due entries of the account (same configuration) follow
 * it over the same connection, in the same window: they do not wait for
 * its verdict, so they go whatever its fate (each with its own).
 * Delivered: the entry is removed. Refused for good: one line per
 * refused recipient on stderr, the entry removed, *why has the exit class
 * (the caller still has the message; no bounce). Temporary: the entry
 * stays with its retry schedule and *why says why. Returns a runq_fate.
 *
 * error_mode is sendmail's -oe letter (0 when not given): 'q' prints
 * nothing; 'm' and 'e' also queue an RFC 3464 bounce to the envelope
 * sender (never to <>) for what the server refused for good, message or
 * recipients, and deliver it at once (st->bounced counts it). A session
 * that could not be set up (certificate, AUTH) bounces nothing: the
 * report could not travel either, and the exit code says it.
 */
int runq_submit(const struct conf *conf, const struct account *a, const char *dir,
                const char *id, char error_mode, struct log *log, struct runq_stats *st,
                struct err *why);

#endif
