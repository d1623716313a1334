/*
 * drop.h - the maildrop: how a user who may not read the system
 * configuration (/etc/envoi.conf, mode 0600 root) still sends mail.
 *
 * Owns: the maildrop directory and its file format; writing a drop file as
 * the unprivileged submitter (drop_write), and root's pickup (drop_pickup),
 * which validates each drop file and submits it through submit.c exactly
 * as the sendmail command line would, so aliases, qualification, header
 * completion and the sender policy are applied the same way. Also the
 * rule that decides when a run uses the maildrop (drop_wanted).
 *
 * Never: is set-uid or set-gid, or needs any privilege to write (the
 * directory's permissions do the work); trusts a drop file's content (it is
 * input from another user: every byte is checked, its size is bounded, and
 * its submitter is the file's owner as the kernel records it, never a name
 * written inside); deletes a drop file it could not import (it moves to
 * corrupt/); touches the network (the queue run after the pickup does).
 *
 * Directories (DROP_SPOOL_DIR is root's queue, LOCALSTATEDIR/spool/envoi):
 *
 *   DROP_SPOOL_DIR/          root's queue; mode 0711 so that others can
 *                            reach maildrop/ but list nothing
 *     maildrop/              mode 1733 root:root: anyone may create a file,
 *                            only root may list or read it, and the sticky
 *                            bit stops users removing or renaming each
 *                            other's files. An admin may restrict who
 *                            submits with a group: chgrp G; chmod 1730.
 *       t.ID                 a drop file being written (by its owner)
 *       d.ID                 a complete drop file, ready for the pickup
 *     corrupt/               mode 0700: drop files the pickup refused,
 *                            renamed here (never deleted), with the reason
 *                            logged, as TIME.uidUID.NAME (NAME "odd-name"
 *                            when the original has characters outside
 *                            [A-Za-z0-9._-] or is over 64 octets), or
 *                            TIME.uidUID.iINODE.N.NAME when that is taken
 *                            (N counts up until a name is free: refusing
 *                            never fails for want of a name)
 *
 * ID is the UTC time (YYYYMMDDhhmmss) and 16 random lower-case hex digits;
 * the pickup imports only files named exactly so (d.ID).
 *
 * Drop file format (written by envoi as the submitter, read by root):
 *
 *   envoi-maildrop 1          magic and version
 *   from ADDR                 -f/-r; an empty value is the null sender
 *   full-name TEXT            -F
 *   read-recipients           -t
 *   dsn-notify VALUE          -N   } the delivery options in envelope.h's
 *   dsn-ret FULL|HDRS         -R   } text form, as queue entries keep them
 *   envid VALUE               -V   } (files of earlier builds say "notify"
 *   body 7BIT|8BITMIME        -B   } and "ret", which still read)
 *   smtputf8 yes|no           -O SMTPUTF8=
 *   requiretls yes            -O REQUIRETLS=yes
 *   rcpt ARG                  one line per recipient argument, as given
 *                             (it may be a list: "Bob <bob@x>, carol")
 *   (an empty line)
 *   the message
 *
 * Every option line is optional and appears at most once, except rcpt.
 * Values are the command-line strings: no control characters (cli.c
 * refuses them already); full-name as cli_check_full_name (cli.h) accepts
 * it (at most 256 octets); the delivery options as envelope_read does (RFC
 * 3461's NEVER or SUCCESS,FAILURE,DELAY list; FULL or HDRS; 1 to 100
 * printable ASCII octets). The option block is at most DROP_HEADER_MAX octets. The message has CRLF line ends and is what message.c produced
 * from the submitter's input with no header completed: line ends
 * normalised, the "." line already honoured (so the pickup never applies
 * it again), NUL bytes, over-long lines and header blocks refused by the
 * submitter's own run, where the caller sees the error. The pickup reads
 * it again through message.c with the account's settings, which is
 * idempotent on such input, after a trace field it puts first:
 *
 *   Received: by HOST (envoi maildrop, from userid UID (LOGIN));
 *   \tDATE
 *
 * (and an empty line after it when the message's first line starts with
 * a blank, which message.c would otherwise read as a continuation of the
 * trace field: such a message has no header block). -a is not recorded: a maildrop message always
 * uses the system configuration's default account (see drop_pickup). -i
 * is not recorded: the "." line was handled by the writer.
 *
 * Durability: the writer fsyncs the file, renames t.ID to d.ID and fsyncs
 * the file again. A user cannot open the directory to fsync it (it is not
 * readable), but the rename changes the file's inode (its ctime), so on a
 * journalling file system (ext4, xfs, btrfs) the second fsync commits the
 * rename too. Only then does the writer exit 0. When that fsync fails the
 * writer removes d.ID again and fails (nothing will be sent); if it cannot
 * remove it, root will import it, and the writer exits 0.
 *
 * Pickup and local faults: a file that cannot be opened for what it is
 * (a symbolic link, a socket, a device) is refused; for the machine's
 * trouble (EIO, ENOMEM, EMFILE) it waits. A file imported into the queue
 * but then not removable from the maildrop has its queue entry taken
 * back, so the drop file stays the message's one copy.
 */
#ifndef ENVOI_DROP_H
#define ENVOI_DROP_H

#include <stddef.h>

#include "conf.h"
#include "envelope.h"
#include "err.h"
#include "log.h"

#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/usr/local/var"
#endif
/* Root's queue, where queue_default_dir puts it. */
#define DROP_SPOOL_DIR LOCALSTATEDIR "/spool/envoi"

/* Largest drop file. Providers stop at 25 to 50 MB; twice the largest of
 * those leaves room for base64 growth, and one bound keeps a user from
 * making root copy an endless file into root's own disk space. */
#define DROP_FILE_MAX (100ul * 1024 * 1024)

/* The option block: ADDR_LIST_MAX recipients of ADDR_PATH_MAX octets and
 * then some, as for queue.h's QUEUE_ENV_MAX. */
#define DROP_HEADER_MAX (4u * 1024 * 1024)

/* A t.ID file older than this belongs to a writer that died (seconds):
 * it moves to corrupt/. A day, because a cron job may stream its output
 * into envoi for hours. */
#define DROP_TMP_MAX_AGE (24 * 60 * 60)

/* "d." + 14 + 16 hex digits + NUL is 33. */
#define DROP_ID_MAX 40

/* The options a drop file carries (NULL / 0 = not given). The writer
 * fills it with borrowed strings (argv's); drop_parse sets `owned`, and
 * drop_opts_free then frees them. */
struct drop_opts {
	const char *from;       /* "" = the null sender */
	const char *full_name;
	int read_rcpts;         /* -t */
	struct envelope opts;   /* -N -R -V -B -O (envelope.h) */
	char **rcpts;           /* recipient arguments */
	size_t nrcpts;
	int owned;
};

void drop_opts_free(struct drop_opts *o);

/*
 * Does this run hand its message to the maildrop? Yes when the caller is
 * not root, gave no -C file, has no configuration file of their own, and
 * the system file exists but is not readable to them (conf_load noted it
 * in c->sys_unreadable).
 */
int drop_wanted(const struct conf *c, const char *cli_file);

/*
 * The option block for o, written into *out (initialised by the caller with
 * a maximum of DROP_HEADER_MAX; the empty separator line is included).
 * Errors: EX_USAGE (a control character or newline in a value, which cli.c
 * already refuses), EX_DATAERR (too large), EX_OSERR.
 */
struct buf;
int drop_format(const struct drop_opts *o, struct buf *out, struct err *e);

/*
 * Parse an option block (the bytes before the empty line, without it) into
 * *o (zeroed by this function; free with drop_opts_free even on error).
 * Unknown keys, repeated options, a missing or wrong magic line, control
 * characters and more than ADDR_LIST_MAX recipients are EX_DATAERR.
 */
int drop_parse(const char *text, size_t len, struct drop_opts *o, struct err *e);

/*
 * The submitter's side: make every check a direct submission makes, with
 * the same exit codes (cli_check_values on -F -N -R -V, the addresses
 * parse, at most ADDR_LIST_MAX recipients), so that a file the pickup
 * would refuse is never acknowledged with exit 0; copy the message from
 * in_fd through message.c (nothing completed, dot_ends_input honoured
 * here, -t fields checked) into SPOOL/maildrop/t.ID, fsync, rename to
 * d.ID, fsync. id (DROP_ID_MAX bytes) gets "d.ID". On error nothing is
 * left behind. dot_ends_input: no -i. Errors: EX_USAGE (bad -f, -F, -N,
 * -R, -V or recipient, no recipients), message.c's EX_DATAERR, EX_DATAERR
 * for a message over DROP_FILE_MAX or more than ADDR_LIST_MAX recipients,
 * EX_UNAVAILABLE (no maildrop: root's envoi -q creates it), EX_NOPERM (not
 * allowed to write there), EX_CANTCREAT, EX_IOERR, EX_OSERR.
 */
int drop_write(const char *spool, const struct drop_opts *o, int dot_ends_input,
    int in_fd, char *id, struct err *e);

/* One recipient address as a drop file may carry it: a bare local name
 * or an address, as submit.c will accept it at pickup (qualified with
 * root's domain). Errors: EX_USAGE naming the address, EX_OSERR. */
int drop_check_addr(const char *addr, struct err *e);

/*
 * For root's mailq: how many complete drop files (d.*) wait in
 * SPOOL/maildrop for the next pickup, and their size. No maildrop yet is
 * 0 files. Reads only; symbolic links and other non-files are not
 * counted. Errors: EX_NOPERM / EX_OSERR when the directory cannot be
 * read (a user's mailq never calls this).
 */
int drop_count(const char *spool, size_t *n, unsigned long long *bytes, struct err *e);

/* What one uid may have in root's queue and its failed/ together
 * (submitter-uid): messages, and octets. The byte cap is twice
 * DROP_FILE_MAX, so the largest message always fits an empty share. */
#define DROP_QUOTA_MSGS 10000
#define DROP_QUOTA_BYTES (2ull * DROP_FILE_MAX)

struct drop_stats {
	size_t imported, refused, waiting;  /* waiting: t.ID still being written */
	size_t held;    /* left in the maildrop: the owner is over quota, or
	                 * the disk is too full for the file */
};

/*
 * Root's pickup: create maildrop/ (1733) and corrupt/ (0700) if missing and
 * make the spool directory searchable (0711); remove the entries of the
 * queue's failed/ older than QUEUE_FAILED_MAX_AGE (queue_expire_failed);
 * then, under an exclusive lock on maildrop/ (concurrent runners take
 * turns), for each entry:
 *  - a t.* file is left alone (being written) unless older than
 *    DROP_TMP_MAX_AGE;
 *  - open with O_NOFOLLOW|O_NONBLOCK; it must be a regular file with one
 *    link, owned by a uid other than 0 that has a password database entry,
 *    writable by nobody but its owner (no group or other write bit: else
 *    the owner is not necessarily its author), of at most DROP_FILE_MAX
 *    octets, named d.ID exactly, with a valid option block;
 *  - the owner's share of the queue (DROP_QUOTA_MSGS, DROP_QUOTA_BYTES,
 *    failed/ included; entries count by their submitter-uid) must have
 *    room for the file, and the disk twice its size beyond root's
 *    reserve; else it waits in the maildrop (held), still the owner's
 *    file, with a log line;
 *  - the owner's login name becomes the submitter (submission.user, and
 *    the uid submission.uid), the account is the configuration's default
 *    one (conf_select with no -a and no -f: a user without the secret does
 *    not choose among root's accounts; -f still asks for an envelope
 *    sender, subject to the account's force_from), and the message is
 *    copied (the trace field first, then at most the size seen at open)
 *    and submitted through submit.c into that account's queue (queue
 *    only; the queue run that follows delivers it), with a log line
 *    naming uid and login;
 *  - after the entry is committed the drop file is removed (a crash in
 *    between gives one duplicate later);
 *  - a file any check refuses moves to corrupt/ with a log line and the
 *    pass goes on. A d.ID file with an option block is what drop_write
 *    makes, and its owner was told exit 0: when it is refused for its
 *    content (its options, an empty message, or anything submit.c refuses
 *    that is not a local fault) its owner gets a bounce (bounce.h), to the
 *    login as submit.c resolves a recipient (qualified with the account's
 *    domain, through the aliases), queued in root's queue under the
 *    owner's uid (none when the owner is over quota). Other refused files
 *    (links, odd names, devices, writable ones) were never acknowledged
 *    by envoi: no bounce.
 * Nothing a file contains ends the pass; only a local fault does (memory,
 * I/O, a full disk, the configuration: EX_OSERR, EX_IOERR, EX_TEMPFAIL,
 * EX_CANTCREAT, EX_CONFIG, EX_NOPERM), and its error names the file. With
 * no logfile or syslog in log, the pickup logs to syslog (LOG_MAIL).
 * home is root's home (for the queue directory), conf root's loaded
 * configuration. Returns 0, or -1 when the maildrop cannot be used at
 * all, a local fault ended the pass, or a file waits for disk space
 * (EX_TEMPFAIL, after the others were imported); the files left wait for
 * the next run.
 */
int drop_pickup(const char *spool, const struct conf *conf, const char *home,
    struct log *log, struct drop_stats *st, struct err *e);

#endif
