/*
 * submit.h - one message handed to envoi: envelope, spool, first attempt.
 *
 * Owns: what happens between "a caller gives envoi a message" and "the
 * message is safely queued (and perhaps already delivered)": choosing the
 * envelope sender (-f or MAIL FROM, the account's from, user@domain),
 * resolving recipients (argument lists, qualification of bare local
 * names, aliases), reading the message through message.c into a committed
 * queue entry, and the first delivery attempt per the -od mode through
 * runq_submit. The sendmail command line (main), the -bs server and the
 * maildrop pickup all submit through here, so every entry point applies
 * the same policy.
 *
 * Never: decides the process's exit code or prints (errors travel up in
 * struct err; the "queued ID: ...; will retry" line is logged through
 * log.c), touches the network except through runq_submit.
 */
#ifndef ENVOI_SUBMIT_H
#define ENVOI_SUBMIT_H

#include <stddef.h>

#include "addr.h"
#include "alias.h"
#include "buf.h"
#include "conf.h"
#include "err.h"
#include "log.h"
#include "message.h"
#include "queue.h"

struct submission {
	/* Set by the caller before submit_sender (all borrowed). */
	const struct conf *conf;
	const struct account *acct;  /* finalised */
	const char *queue_dir;
	struct log *log;
	const char *user;            /* the submitter's login name */
	long long uid;               /* and uid (recorded in the entry) */
	const char *req_from;        /* -f / MAIL FROM as asked; NULL = none,
	                              * "" = the null sender */
	const char *full_name;       /* -F, or NULL for the account's */
	int extract_rcpts;           /* -t */
	int dot_ends_input;          /* no -i */
	struct envelope opts;        /* -N -R -V -B -O (checked: envelope.h); an
	                              * unset notify or ret takes the account's */
	char delivery_mode;          /* 'i', 'b' or 'q' */
	char error_mode;             /* -oe: 0 (= 'p'), 'p', 'w', 'q', 'm', 'e' */
	const char *prefix;          /* what submit_peek_from read of the */
	size_t prefix_len;           /* message already; NULL/0 = nothing */

	/* Filled in (owned; submit_free releases them). */
	char *from;                  /* the envelope sender chosen; "" = <> */
	char *user_addr;             /* user@domain or the account's from */
	struct addr_list rcpts;      /* resolved envelope recipients */
	struct msg_info info;
	struct queue_entry q;
	int have_q;
	/* The account's aliases file, read at the first recipient (once per
	 * submission), and the local-address test that goes with it. */
	struct alias_table *aliases;
	struct alias_ctx actx;
	int have_actx;
	int fate;                    /* submit_deliver: the first attempt's enum
	                              * runq_fate, or -1 when none was made now */
};

/* Zero *s, ready for the caller's fields. */
void submit_init(struct submission *s);

/* Release everything; a committed entry stays on disk. */
void submit_free(struct submission *s);

/*
 * Choose the envelope sender: req_from, else the account's from (unless
 * it is a wildcard), else user@domain. Errors: EX_USAGE (bad address),
 * EX_OSERR.
 */
int submit_sender(struct submission *s, struct err *e);

/*
 * Add one recipient: a bare address ("root", "bob@x"). With an aliases
 * file, a local address (alias.h: "root", "bob@localhost",
 * "bob@<this host>") is replaced by its expansion; otherwise a bare name is
 * qualified with the account's domain. ex_bad is the class for a syntax
 * error (EX_USAGE for argv, EX_DATAERR for headers). Returns 0 or -1
 * (EX_CONFIG: the aliases file is missing or bad, or loops).
 */
int submit_rcpt(struct submission *s, const char *addr, int ex_bad, struct err *e);

/* Add a command-line recipient argument, which may be an address list
 * ("Bob <bob@x>, carol"). Errors: EX_USAGE, EX_OSERR. */
int submit_rcpt_arg(struct submission *s, const char *arg, struct err *e);

/*
 * msmtp's --read-envelope-from, before any account is chosen: read fd up
 * to the end of the header block (at most MSG_HEADER_MAX and one read
 * beyond) into *prefix (buf_init'ed by the caller, who then hands it to
 * submit_spool as s->prefix), and set *from to the first address of the
 * first From field (malloc'd), or NULL when there is none, it does not
 * parse, or it has no domain (then the usual sender rule applies).
 * Returns 0, or -1 with EX_IOERR or EX_OSERR.
 */
int submit_peek_from(int fd, struct buf *prefix, char **from, struct err *e);

/*
 * Read the message from fd into a new queue entry (message.c completes
 * the headers), add -t recipients, and commit it: on return 0 the message
 * is durable. On error no entry is left behind. Errors: message.c's and
 * queue.c's classes, EX_USAGE for no recipients at all.
 */
int submit_spool(struct submission *s, int fd, struct err *e);

/*
 * The first attempt, per delivery_mode: 'q' only logs; 'b' forks a
 * detached child that tries (the parent returns 0 at once, *detached = 0;
 * the child returns with *detached = 1 after its attempt); 'i' tries now.
 * Returns 0 when the message was delivered or is safely queued (a
 * temporary failure was logged as "queued ID: ...; will retry"), or -1
 * when it was refused for good (the entry is gone; e says why, with
 * runq_submit's class) or, for a `queue off` account, failed temporarily
 * (EX_TEMPFAIL, nothing kept).
 *
 * error_mode (sendmail's -oe): 'm' also mails a bounce to the envelope
 * sender when the message is refused for good (the return stays -1);
 * 'e' does the same and returns 0 once the bounce is queued, since the
 * error has then been reported; 'q' logs no "queued" line; 'p', 'w' and
 * 0 are the default.
 */
int submit_deliver(struct submission *s, int *detached, struct err *e);

/* -odb's detachment: fork a child in a new session with stdin, stdout and
 * stderr on /dev/null (nobody reads them any more; the log and the queue
 * record what happens). Returns the child's pid in the parent, 0 in the
 * child, -1 when fork fails (EX_OSERR). */
int submit_detach(struct err *e);

#endif
