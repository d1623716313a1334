/*
 * bounce.h - the delivery status notification envoi sends back to the
 * envelope sender when a queued message fails permanently or expires.
 *
 * Owns: the text of a bounce. bounce_write produces a complete message
 * (headers and body, CRLF lines, not dot-stuffed, i.e. in spool form) in
 * the RFC 3464 / RFC 6522 format:
 *
 *   multipart/report; report-type=delivery-status; boundary="..."
 *     1. text/plain             for people: why, and each recipient with
 *                               the server's reply
 *     2. message/delivery-status  Reporting-MTA, Original-Envelope-Id,
 *                               Arrival-Date; per recipient Final-Recipient,
 *                               Action, Status, Remote-MTA, Diagnostic-Code
 *     3. message/rfc822         the whole original when it is at most
 *                               full_max bytes, else
 *        text/rfc822-headers    only its header block (without the blank
 *                               line that ends it)
 *
 * The report part is always 7-bit: a non-ASCII address is written with
 * the "utf-8" address type in its 7-bit xtext form (RFC 6533 3: each
 * non-ASCII character, and '+', '=' and '\', as \x{HEX}); an ASCII one as
 * "rfc822; addr". Server text is made one printable ASCII line. The human
 * part is us-ascii unless an address is non-ASCII (then utf-8, 8bit).
 *
 * Also bounce_queue, which puts a bounce into a queue as a new entry
 * through queue.c (create, write, commit), for any caller that reports a
 * message it will not send.
 *
 * Never: touches the network, reads or changes existing queue entries,
 * decides whether a bounce is due (the caller checks
 * bounce_is_null_sender so a bounce is never bounced), or holds the
 * original in memory: it is streamed through a fixed buffer, so memory is
 * flat for any size.
 *
 * RFCs: 3464 (DSN format), 6522 (multipart/report), 3461 (ENVID), 6533
 * (utf-8 address type), 3834 (Auto-Submitted), 2045/2046 (MIME), 5322.
 */
#ifndef ENVOI_BOUNCE_H
#define ENVOI_BOUNCE_H

#include <stddef.h>

#include "err.h"

/* Include the whole original up to this size: enough for every ordinary
 * text message, small enough that a bounce storm cannot double a disk. */
#define BOUNCE_FULL_MAX_DEFAULT (64u * 1024u)

struct bounce_rcpt {
	const char *addr;         /* original recipient (required) */
	const char *status;       /* enhanced status "5.1.1"; NULL or malformed gives
	                           * "4.0.0" for "delayed", "5.0.0" otherwise */
	const char *diagnostic;   /* the server's reply line ("550 5.1.1 user unknown"),
	                           * or NULL (no Diagnostic-Code, e.g. on expiry) */
	const char *action;       /* "failed" (default when NULL or unknown) or "delayed" */
};

struct bounce_info {
	const char *reporting_mta;   /* our host name: "Reporting-MTA: dns; NAME"; NULL or
	                              * "": gethostname(), else "localhost" */
	const char *smarthost;       /* "Remote-MTA: dns; HOST"; NULL to leave it out */
	const char *from_addr;       /* the bounce's From, e.g. "MAILER-DAEMON@domain" (required) */
	const char *to_addr;         /* the original envelope sender; must not be null */
	const char *queue_id;        /* named in the human part; may be NULL */
	const char *envid;           /* Original-Envelope-Id, may be NULL */
	long long arrival;           /* unix time the message was queued; <= 0 leaves
	                              * Arrival-Date out */
	const char *reason;          /* one line for people: "the server refused the
	                              * message permanently"; may be NULL */
	const struct bounce_rcpt *rcpts;
	size_t nrcpts;               /* at least 1 */
	const char *domain;          /* right side of the bounce's Message-ID (A-labels are
	                              * used for an IDN); NULL or unusable: reporting_mta,
	                              * then "localhost" */
};

/* Is this envelope sender the null sender ("" or "<>", or NULL)? A message
 * from the null sender is itself a notification and must never be
 * bounced (RFC 5321 4.5.5, RFC 3464 2). */
int bounce_is_null_sender(const char *from);

/*
 * Write the bounce for the message in orig_fd (spool form, read from its
 * current offset) to out_fd. orig_size (the spooled size) decides between
 * the whole original (orig_size <= full_max) and its headers only.
 * The MIME boundary is 128 random bits; when orig_fd is seekable the part
 * to be included is scanned first (with pread, so the offset is kept) and
 * a boundary that occurs in it is replaced. From a pipe the scan is
 * impossible and the randomness alone makes a clash unguessable.
 * Every line written ends in CRLF: a bare LF in the original is written as
 * CRLF, and a missing final line ending is supplied.
 * Outputs: *size = bytes written (also on error: what reached out_fd
 * before it, which the caller discards).
 * Errors: EX_IOERR (read or write failure, with the reason), EX_SOFTWARE
 * (no From address, a null to_addr, no recipients, a recipient without an
 * address), EX_OSERR (no memory or no randomness).
 */
int bounce_write(int out_fd, int orig_fd, unsigned long long orig_size,
    unsigned long long full_max, const struct bounce_info *b,
    unsigned long long *size, struct err *e);

/*
 * Must the bounce be queued as 8bit (sent with BODY=8BITMIME)? orig_8bit
 * is the original's own flag (the queue envelope's "8bit"). True when it
 * is set or an address written into the bounce is non-ASCII. This errs on
 * the safe side: an 8-bit body left out of a headers-only bounce still
 * counts, and declaring 8BITMIME for 7-bit data is harmless.
 * (To send to a non-ASCII to_addr the caller needs SMTPUTF8 anyway.)
 */
int bounce_is_8bit(const struct bounce_info *b, int orig_8bit);

/*
 * Does the part of the original that a bounce would include (the whole of
 * it, or with headers_only the header block without its ending blank line)
 * contain `needle`, after the same line-ending repair bounce_write does?
 * Reads orig_fd from `offset` with pread. Sets *found; *eightbit (may be
 * NULL) = 1 when that part holds an octet >= 0x80. Exposed so the boundary
 * check can be tested with a boundary that does clash.
 * Errors: EX_IOERR (read failure), EX_OSERR (no memory).
 */
int bounce_part_contains(int orig_fd, long long offset, int headers_only,
    const char *needle, int *found, int *eightbit, struct err *e);

/* RFC 5322 3.3 date-time of `when` in local time with a numeric zone
 * ("Tue, 1 Jul 2025 09:30:00 +0200"), the day and month names from fixed
 * tables (strftime's follow the locale). out: at least 40 bytes. Returns
 * 0, or -1 when the time cannot be converted. */
int bounce_date(long long when, char *out, size_t size);

/*
 * Queue a bounce for the message in orig_fd (spool form, from its current
 * offset, orig_size octets; the whole original up to
 * BOUNCE_FULL_MAX_DEFAULT, else its headers) as a new entry of the queue
 * in dir. tmpl gives the entry's account, configuration and submitter
 * uid, and its recipients (nrcpts 0: b->to_addr alone); the envelope
 * sender is the null sender, the size and 8bit flag are the bounce's
 * (orig_8bit: the original's "8bit" flag, or -1 to learn it by reading
 * the part included). id (QUEUE_ID_MAX bytes) gets the new entry's id.
 * On error nothing is left in the queue. Errors: bounce_write's and
 * queue.c's classes (EX_CANTCREAT, EX_IOERR, EX_OSERR, EX_SOFTWARE).
 */
struct queue_envelope;
int bounce_queue(const char *dir, const struct queue_envelope *tmpl, int orig_fd,
    unsigned long long orig_size, int orig_8bit, const struct bounce_info *b, char *id,
    struct err *e);

#endif
