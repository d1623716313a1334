/*
 * queue.h - the on-disk spool: a message is durable here before envoi
 * touches the network, and leaves only after a server accepted it (or,
 * after a permanent failure, it moves to failed/; nothing is deleted
 * silently).
 *
 * Owns: the on-disk format below, writing entries durably (write + fsync
 * + rename + directory fsync), per-entry delivery state, listing, per-entry
 * locking, moving to failed/ and removal.
 *
 * Never: talks to the network, decides what a failure means (temporary or
 * permanent: the caller says), prints, or decides exit codes.
 *
 * On-disk format (an admin can inspect or recover an entry by hand):
 *
 *   QUEUE_DIR/            mode 0700, one per user (or /var/spool/envoi)
 *     tmp/                files being written; never delivered from
 *                         (also ID.env.sent: the envelope of a delivered
 *                         entry that could not be unlinked; old files
 *                         in tmp/ are removed by queue runs)
 *     tls/                TLS session tickets, mode 0700, not queue
 *                         entries: tlscache.h owns them (deleting them
 *                         costs one full handshake each)
 *     ID.msg              the message exactly as it goes on the wire,
 *                         CRLF line endings, NOT dot-stuffed
 *     ID.env              the envelope, text, one "key value" per line:
 *                           version 1
 *                           account NAME
 *                           from ADDR          (empty value = null sender)
 *                           rcpt ADDR          (one line per recipient
 *                                               still to be delivered)
 *                           message-id ID
 *                           size N             (octets of ID.msg)
 *                           8bit 0|1
 *                           created UNIX-TIME
 *                           config PATH|-      the configuration file the
 *                                              message was submitted with
 *                                              (canonical path of the -C or
 *                                              user file; "-" = the system
 *                                              file alone): delivered only
 *                                              through that file's account
 *                           config-id DEV:INO  that file's identity then
 *                           submitter-uid N    the local user who submitted
 *                                              it (for the maildrop: the
 *                                              drop file's owner)
 *                         (the three are absent in entries of older builds,
 *                         which any configuration may send, as before)
 *                         and, only when given at submission, the
 *                         delivery options in envelope.h's text form:
 *                           dsn-notify NEVER|SUCCESS,FAILURE,DELAY
 *                           dsn-ret FULL|HDRS
 *                           envid TEXT
 *                           body 7BIT|8BITMIME      (-B)
 *                           smtputf8 yes|no         (-O SMTPUTF8=)
 *                           requiretls yes          (-O REQUIRETLS=yes)
 *                         (readers ignore keys they do not know, so older
 *                         entries load unchanged and newer keys are optional)
 *     ID.st               delivery state, text, "key value" lines; missing
 *                         means never tried (due now):
 *                           attempts N
 *                           first-attempt UNIX-TIME
 *                           last-attempt UNIX-TIME
 *                           next-attempt UNIX-TIME
 *                           last-error TEXT    (one line)
 *     failed/             mode 0700: entries that failed for good (5xx or
 *                         older than queue_lifetime); same three files,
 *                         and ID.st gains "failed-reason TEXT". Never
 *                         delivered from; removed by --rmqueue, and
 *                         in root's queue after QUEUE_FAILED_MAX_AGE
 *                         (queue_expire_failed, at each maildrop pickup).
 *
 * ID is the creation time (YYYYMMDDhhmmss, UTC) plus 8 random hex digits,
 * so `ls` sorts entries by age.
 *
 * Crash safety. An entry exists once ID.env exists: the data file is
 * written and fsync'd in tmp/, the envelope likewise, then both are renamed
 * into place (data first) and the directory is fsync'd. So a crash leaves
 * either nothing visible or a complete entry. An ID.msg without ID.env in
 * QUEUE_DIR is an interrupted commit (or an interrupted removal, which
 * unlinks ID.env first): it is never listed and never delivered, and left
 * for the admin. Leftovers in tmp/ are garbage (queue_clean_tmp). ID.env
 * and ID.st are only ever replaced whole (write in tmp/, fsync, rename,
 * directory fsync), so they are always either the old or the new version.
 *
 * Locking. A process working on an entry holds flock(LOCK_EX) on its
 * ID.msg. ID.msg is the one file never replaced while the entry lives
 * (ID.env is rewritten by queue_set_rcpts, which gives it a new inode, so
 * a lock on it would not survive). The lock is taken on the fresh data
 * file in queue_entry_create, before the entry is visible, so a
 * concurrent queue run can never pick up a message that its submitter is
 * still delivering. The kernel drops an flock when the last descriptor of
 * the open file goes away, in particular when the process dies, so a
 * killed envoi never leaves a stale lock behind. A child forked for -odb
 * shares the lock (same open file description) and keeps it after the
 * parent closes its copy.
 */
#ifndef ENVOI_QUEUE_H
#define ENVOI_QUEUE_H

#include <stddef.h>

#include "envelope.h"
#include "err.h"

/* "YYYYMMDDhhmmss" + 8 hex digits + NUL is 23; room to spare. */
#define QUEUE_ID_MAX 32

/* Largest ID.env we read or write: ADDR_LIST_MAX (10000) recipients of at
 * most ADDR_PATH_MAX (254) octets plus "rcpt \n" is about 2.6 MB; a file
 * larger than this was not written by envoi. */
#define QUEUE_ENV_MAX (4u * 1024 * 1024)

/* Largest ID.st: a handful of numbers and two one-line texts. */
#define QUEUE_ST_MAX (16u * 1024)

/* A stored error or failure reason is cut (with "...") to this: it is a
 * diagnostic for humans, like err.h's ERR_MSG_MAX. */
#define QUEUE_ERROR_MAX 1024

/* tmp/ files older than this are leftovers of a crash (seconds). */
#define QUEUE_TMP_MAX_AGE (24 * 60 * 60)

/* Retry schedule: QUEUE_BACKOFF_MIN after the first failure, doubling up
 * to QUEUE_BACKOFF_MAX (seconds). A minute first, because most failures
 * are a smarthost restarting; an hour at most, so a queue drains within
 * the hour after an outage even without a flush. */
#define QUEUE_BACKOFF_MIN 60
#define QUEUE_BACKOFF_MAX 3600

struct queue_entry {
	char *dir;                 /* the queue directory */
	char id[QUEUE_ID_MAX];
	char *tmp_msg, *tmp_env;   /* paths under tmp/ while being written */
	char *msg_path;            /* QUEUE_DIR/ID.msg */
	char *env_path;            /* QUEUE_DIR/ID.env */
	int msg_fd;                /* the data file, open read/write, and
	                              holding the entry's lock (flock) */
	int committed;
};

/* The default queue directory for the real uid: queue_dir from the
 * config if set, else /var/spool/envoi for root, else
 * $XDG_STATE_HOME/envoi/queue (~/.local/state/envoi/queue). malloc'd;
 * NULL when out of memory. */
char *queue_default_dir(const char *configured, const char *home);

/* Create (mkdir -p, mode 0700) the queue and a new entry in tmp/ whose
 * data file is open in q->msg_fd for the caller to fill, and locked.
 * Errors: EX_CANTCREAT with the path and reason (nothing is left behind),
 * EX_OSERR (out of memory, or the file system cannot lock). Call
 * queue_entry_free in every case. */
int queue_entry_create(struct queue_entry *q, const char *dir, struct err *e);

struct queue_envelope {
	const char *account;
	/* The configuration the submission used: has_config 1 with
	 * config_file the user or -C file (canonical) or NULL for the system
	 * file alone, and its device and inode. uid: the submitter (-1 =
	 * unknown: not written). */
	int has_config;
	const char *config_file;
	unsigned long long config_dev, config_ino;
	long long uid;
	const char *from;          /* "" = null sender */
	const char *const *rcpts;
	size_t nrcpts;
	const char *message_id;
	unsigned long long size;
	int has_8bit;
	/* The submission's delivery options, kept so that a retry from the
	 * queue sends the same ones. */
	struct envelope opts;
};

/* fsync the data, write + fsync the envelope, rename both into place and
 * fsync the directory. Only after this returns 0 is the message safe.
 * The data file stays open and locked in q->msg_fd.
 * Errors: EX_IOERR (write/fsync failed: disk full, quota, I/O error),
 * EX_CANTCREAT (cannot create or move a file), EX_SOFTWARE (a value with
 * a line break, no recipients); the message names the path and the
 * reason. On error nothing partial is left visible: the tmp/ files and
 * any half-moved entry are removed, and q is good only for
 * queue_entry_free. */
int queue_entry_commit(struct queue_entry *q, const struct queue_envelope *env,
                       struct err *e);

/* An anonymous scratch file in DIR/tmp (created 0700 like the queue),
 * open read/write and already unlinked, so a crash leaves nothing: for
 * data that must be on disk before it can become an entry (the body of a
 * -bs message, read before message.c spools it). Returns the descriptor
 * (close-on-exec), or -1: EX_CANTCREAT, EX_IOERR (disk full). */
int queue_scratch(const char *dir, struct err *e);

/* fsync(fd), again when a signal interrupted it (EINTR is no failure):
 * how the queue and the maildrop make a file durable. */
int queue_fsync(int fd);

/* Remove the entry (after the server accepted it, or before commit).
 * Errors: EX_IOERR when ID.env cannot be unlinked (the entry remains). */
int queue_entry_remove(struct queue_entry *q, struct err *e);

/* Close files (dropping the lock) and free memory; the entry stays on
 * disk if committed. Safe to call twice. */
void queue_entry_free(struct queue_entry *q);

/* ------------------------------------------------------------ the store */

/* One entry as read back from disk. All strings are malloc'd and owned by
 * the item (queue_item_free); absent optional values are NULL. */
struct queue_item {
	char id[QUEUE_ID_MAX];
	char *account, *from, *message_id;  /* from ID.env; from "" = <> */
	int has_config;                     /* 0: an older build's entry */
	char *config_file;                  /* NULL: the system file alone */
	unsigned long long config_dev, config_ino;
	long long uid;                      /* -1 when not recorded */
	char **rcpts;
	size_t nrcpts;
	unsigned long long size;
	int has_8bit;
	long long created;                  /* unix time */
	struct envelope opts;               /* as in queue_envelope */
	/* from ID.st (zero/NULL when never tried) */
	int attempts;
	long long first_attempt, last_attempt, next_attempt;
	char *last_error;
	int failed;                         /* lives in failed/ */
	char *failed_reason;
	/* ID.env is unreadable or unparsable, or ID.msg is missing: listed so
	 * an admin sees it (last_error says "damaged: ..."), never delivered,
	 * never deleted. Only id, failed and last_error are meaningful. */
	int damaged;
};

/*
 * All entries of dir, sorted by id (= age), skipping tmp/ and ID.msg
 * files without ID.env; with include_failed, failed/ entries too (failed
 * set). A damaged entry is listed with damaged = 1. A queue directory
 * that does not exist yet is an empty queue. *items is malloc'd (NULL
 * when *n is 0); free it with queue_items_free. No locks are taken: the
 * listing is a snapshot, lock and reload an entry before acting on it.
 * Errors: EX_IOERR (cannot read the directory), EX_OSERR (memory).
 */
int queue_list(const char *dir, int include_failed, struct queue_item **items,
               size_t *n, struct err *e);
void queue_items_free(struct queue_item *items, size_t n);

/* Read one entry of dir (not failed/) into *it, which the caller frees
 * with queue_item_free also on error. A damaged ID.env is an error here.
 * Errors: EX_NOINPUT (no such entry), EX_DATAERR (damaged; e says why),
 * EX_IOERR, EX_OSERR. */
int queue_item_load(const char *dir, const char *id, struct queue_item *it,
                    struct err *e);
void queue_item_free(struct queue_item *it);

/*
 * Take the exclusive lock on an entry of dir (not failed/) without
 * waiting: flock(LOCK_EX|LOCK_NB) on ID.msg, held until queue_unlock or
 * the process exits (the kernel releases it when the process dies, so a
 * killed process never leaves a stale lock). Returns 1 when locked; 0
 * when busy (another process holds it) or gone (no ID.env, or the entry
 * was removed or moved to failed/ by the time we got the lock: the path
 * no longer names the inode we locked); -1 on error (EX_IOERR, EX_OSERR,
 * EX_USAGE for an id that is not a queue id). lk->fd is ID.msg open
 * read-only; reload the entry (queue_item_load) after locking.
 */
struct queue_lock {
	int fd;
	char id[QUEUE_ID_MAX];
};
int queue_lock(const char *dir, const char *id, struct queue_lock *lk, struct err *e);
/* Release (close); safe on a lock that was not taken or already released.
 * The functions below that change an entry expect the caller to hold its
 * lock (queue_entry_create's msg_fd or queue_lock). */
void queue_unlock(struct queue_lock *lk);

/* Open ID.msg read-only (for sending); the caller closes the descriptor.
 * Errors: EX_NOINPUT (no such entry), EX_IOERR. */
int queue_open_msg(const char *dir, const char *id, struct err *e);

/* Seconds to wait after the attempts-th failed attempt: 0 for none, then
 * 60, 120, 240, ... capped at 3600. */
long long queue_backoff(int attempts);

/*
 * After a temporary failure (the caller holds the lock): attempts + 1,
 * first-attempt (if unset) and last-attempt = now, last-error = error
 * (control characters become spaces, cut at QUEUE_ERROR_MAX), next-attempt
 * = now + queue_backoff(attempts). ID.st is replaced atomically.
 * Errors: EX_NOINPUT (no such entry), EX_IOERR, EX_CANTCREAT, EX_OSERR.
 */
int queue_record_failure(const char *dir, const char *id, const char *error,
                         struct err *e);

/* Some recipients are done (delivered, or bounced): rewrite ID.env
 * atomically listing only the n remaining ones, every other field kept
 * (the caller holds the lock). n must be > 0: with none left, remove the
 * entry instead. Errors: EX_SOFTWARE (n == 0, a line break in an
 * address), EX_NOINPUT, EX_DATAERR (damaged), EX_IOERR, EX_CANTCREAT. */
int queue_set_rcpts(const char *dir, const char *id, const char *const *rcpts,
                    size_t n, struct err *e);

/*
 * Permanent failure or expiry (the caller holds the lock): move the entry
 * into DIR/failed/ (created 0700) with "failed-reason REASON" added to its
 * ID.st; nothing is deleted. ID.msg is hard-linked first and ID.env
 * renamed next, so a crash leaves the entry complete in one place (at
 * worst with an extra link of ID.msg, without ID.env, in QUEUE_DIR). The
 * lock travels with ID.msg's inode.
 * Errors: EX_NOINPUT, EX_CANTCREAT, EX_IOERR, EX_OSERR.
 */
int queue_move_failed(const char *dir, const char *id, const char *reason,
                      struct err *e);

/* Remove an entry (delivered, or --rmqueue): ID.env first (after that the
 * entry no longer exists), then ID.st and ID.msg; with failed, the entry
 * in failed/. Errors: EX_NOINPUT (no such entry), EX_IOERR. */
int queue_remove(const char *dir, const char *id, int failed, struct err *e);

/* Is the entry due at `now`? Never tried, or next_attempt <= now; never
 * for a damaged or failed entry. */
int queue_item_due(const struct queue_item *it, long long now);

/* Has the entry outlived `lifetime` seconds (created + lifetime <= now)?
 * Never for a damaged entry (its creation time is unknown). */
int queue_item_expired(const struct queue_item *it, long long now, long long lifetime);

/* Delete regular files in DIR/tmp older than QUEUE_TMP_MAX_AGE that no
 * process holds locked (a submission still reading a slow stdin keeps its
 * data file locked). Returns the number deleted, or -1 (EX_IOERR) when
 * tmp/ cannot be read; a missing tmp/ is 0. */
int queue_clean_tmp(const char *dir, struct err *e);

/* Is s a well-formed queue id (what make_id produces)? Used to refuse
 * ids with '/' or ".." from the command line. */
int queue_id_valid(const char *s);

/* ---------------------------------------------------- failed/ expiry */

/* How long failed/ keeps an entry (seconds): its bounce went out when it
 * failed, so the copy is for an admin who looks within a month; after
 * that it only takes space (in root's queue, space that users' mail from
 * the maildrop would otherwise be able to hold for ever). */
#define QUEUE_FAILED_MAX_AGE (30 * 24 * 60 * 60)

/*
 * Remove the entries of DIR/failed that failed at least max_age seconds
 * before now. When an entry failed is the modification time of its
 * failed/ID.st (written by queue_move_failed), or of failed/ID.env when
 * it has no ID.st. Removal is queue_remove's (ID.env first). Returns the
 * number removed (a missing failed/ is 0), or -1: EX_IOERR (failed/
 * cannot be read, an entry cannot be removed; the entries removed before
 * stay removed), EX_OSERR.
 */
int queue_expire_failed(const char *dir, long long max_age, long long now, struct err *e);

#endif
