/*
 * queue.h - the on-disk spool: a message is durable here before envoi
 * touches the network, and leaves only after a server accepted it.
 *
 * On-disk format (an admin can inspect or recover an entry by hand):
 *
 *   QUEUE_DIR/            mode 0700, one per user (or /var/spool/envoi)
 *     tmp/                entries being written; never delivered from
 *     ID.msg              the message exactly as it goes on the wire,
 *                         CRLF line endings, NOT dot-stuffed
 *     ID.env              the envelope, text, one "key value" per line:
 *                           version 1
 *                           account NAME
 *                           from ADDR          (empty value = null sender)
 *                           rcpt ADDR          (one line per recipient)
 *                           message-id ID
 *                           size N
 *                           8bit 0|1
 *                           created UNIX-TIME
 *
 * ID is the creation time (YYYYMMDDhhmmss) plus 8 random hex digits, so
 * `ls` sorts entries by age. An entry exists once ID.env exists: the data
 * file is written and fsync'd in tmp/, the envelope likewise, then both are
 * renamed into place (data first) and the directory is fsync'd. A crash at
 * any point leaves either nothing visible or a complete entry; leftovers
 * in tmp/ are garbage.
 *
 * Never: talks to the network or decides exit codes.
 */
#ifndef ENVOI_QUEUE_H
#define ENVOI_QUEUE_H

#include <stddef.h>

#include "err.h"

#define QUEUE_ID_MAX 32

struct queue_entry {
	char *dir;                 /* the queue directory */
	char id[QUEUE_ID_MAX];
	char *tmp_msg, *tmp_env;   /* paths under tmp/ while being written */
	char *msg_path;            /* QUEUE_DIR/ID.msg */
	char *env_path;            /* QUEUE_DIR/ID.env */
	int msg_fd;                /* the data file, open read/write */
	int committed;
};

/* The default queue directory for the real uid: queue_dir from the
 * config if set, else /var/spool/envoi for root, else
 * $XDG_STATE_HOME/envoi/queue (~/.local/state/envoi/queue). malloc'd. */
char *queue_default_dir(const char *configured, const char *home);

/* Create (mkdir -p, mode 0700) the queue and a new entry in tmp/ whose
 * data file is open in q->msg_fd for the caller to fill.
 * Errors: EX_CANTCREAT with the path and reason. */
int queue_entry_create(struct queue_entry *q, const char *dir, struct err *e);

struct queue_envelope {
	const char *account;
	const char *from;
	const char *const *rcpts;
	size_t nrcpts;
	const char *message_id;
	unsigned long long size;
	int has_8bit;
};

/* fsync the data, write + fsync the envelope, rename both into place and
 * fsync the directory. Only after this returns 0 is the message safe.
 * Errors: EX_IOERR (fsync/write: disk full) or EX_CANTCREAT; nothing
 * partial is left visible. */
int queue_entry_commit(struct queue_entry *q, const struct queue_envelope *env,
                       struct err *e);

/* Remove the entry (after the server accepted it, or before commit). */
int queue_entry_remove(struct queue_entry *q, struct err *e);

/* Close files and free memory; the entry stays on disk if committed. */
void queue_entry_free(struct queue_entry *q);

#endif
