/*
 * envelope.h - the delivery options that travel with a message from its
 * submission to the MAIL and RCPT commands: DSN NOTIFY, RET and ENVID (RFC
 * 3461), BODY (RFC 6152, sendmail's -B), SMTPUTF8 (RFC 6531) and
 * REQUIRETLS (RFC 8689).
 *
 * Owns: one value type for them (enums, and ENVID in a fixed buffer, so a
 * struct envelope is copied by assignment, never field by field); their
 * validation, the one place RFC 3461's syntax and the ENVID limit are
 * checked (the command line, -bs, the configuration and root's maildrop
 * pickup all ask here); and their one text form, "key value" lines, which
 * queue entries (queue.h) and drop files (drop.h) share:
 *
 *   dsn-notify NEVER|SUCCESS,FAILURE,DELAY   (any non-empty subset)
 *   dsn-ret FULL|HDRS
 *   envid TEXT          printable US-ASCII, 1 to 100 octets
 *   body 7BIT|8BITMIME
 *   smtputf8 yes|no
 *   requiretls yes
 *
 * A line appears only for an option that was given. The reader also takes
 * the drop file's older names "notify" and "ret" (files written by earlier
 * builds load unchanged).
 *
 * Never: allocates, performs I/O, or decides which defaults apply (the
 * account's dsn_notify is submit.c's business).
 */
#ifndef ENVOI_ENVELOPE_H
#define ENVOI_ENVELOPE_H

#include <stddef.h>

struct buf;

/* RFC 3461 4.4: "The ENVID parameter ... MUST NOT exceed 100 characters". */
#define ENVELOPE_ENVID_MAX 100

/* DSN NOTIFY conditions: a bit set; 0 = not given (the server's default). */
enum envelope_notify {
	ENVELOPE_NOTIFY_NEVER = 1,
	ENVELOPE_NOTIFY_SUCCESS = 2,
	ENVELOPE_NOTIFY_FAILURE = 4,
	ENVELOPE_NOTIFY_DELAY = 8,
};

enum envelope_ret { ENVELOPE_RET_UNSET = 0, ENVELOPE_RET_FULL, ENVELOPE_RET_HDRS };

/* -B: UNSET lets the content decide; 7BIT never mislabels 8-bit content. */
enum envelope_body { ENVELOPE_BODY_UNSET = 0, ENVELOPE_BODY_7BIT, ENVELOPE_BODY_8BITMIME };

/* -O SMTPUTF8=: UNSET = when the addresses need it, YES = whenever the
 * server offers it, NO = never (a non-ASCII local part then fails). */
enum envelope_utf8 { ENVELOPE_UTF8_UNSET = 0, ENVELOPE_UTF8_YES, ENVELOPE_UTF8_NO };

struct envelope {
	unsigned notify;                       /* enum envelope_notify bits */
	enum envelope_ret ret;
	char envid[ENVELOPE_ENVID_MAX + 1];    /* "" = none */
	enum envelope_body body;
	enum envelope_utf8 smtputf8;
	int requiretls;                        /* 1: REQUIRETLS (RFC 8689) */
};

/* All unset. */
void envelope_init(struct envelope *env);

/* "NEVER" or a comma list of SUCCESS, FAILURE, DELAY, any case, each at
 * most once, NEVER alone: *out gets the bits. 0, or -1 (invalid). */
int envelope_notify_parse(const char *s, unsigned *out);

/* The canonical text of notify bits ("SUCCESS,FAILURE,DELAY" order) in
 * dst, or "" for 0. Returns dst. */
const char *envelope_notify_text(unsigned notify, char *dst, size_t size);

/* "FULL" or "HDRS", any case (also "headers", the configuration's word).
 * 0, or -1 (invalid). */
int envelope_ret_parse(const char *s, enum envelope_ret *out);
const char *envelope_ret_text(enum envelope_ret ret);   /* NULL when unset */

/* Store an ENVID given as plain text: 1 to ENVELOPE_ENVID_MAX octets of
 * printable US-ASCII (0x20-0x7e). 0, or -1 (invalid; env unchanged). */
int envelope_set_envid(struct envelope *env, const char *s);

/* -B's value: 7BIT or 8BITMIME in any case; anything else is UNSET, never
 * an error (cron passes -B8BITMIME, others pass what they like). */
enum envelope_body envelope_body_parse(const char *s);
const char *envelope_body_text(enum envelope_body body);   /* NULL when unset */

/* Append the text form (format above) of the options that are set.
 * 0, or -1 when b is full. */
int envelope_format(const struct envelope *env, struct buf *b);

/*
 * One "key value" line of the text form: 1 when key is an envelope key and
 * value valid (stored), 0 when key is not an envelope key (env unchanged),
 * -1 when the value is invalid (*why, set only then, says which key; env
 * unchanged).
 * Unknown body values are stored as UNSET, as on the command line.
 */
int envelope_read(struct envelope *env, const char *key, const char *value, const char **why);

#endif
