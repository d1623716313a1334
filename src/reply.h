/*
 * reply.h - SMTP replies and EHLO capabilities: parsing and validation.
 *
 * Implements: RFC 5321 section 4.2 (reply syntax, multi-line replies),
 * RFC 2034 and RFC 3463 (enhanced status codes), and the EHLO keywords of
 * RFC 3207 (STARTTLS), RFC 4954 (AUTH), RFC 1870 (SIZE), RFC 6152
 * (8BITMIME), RFC 6531 (SMTPUTF8), RFC 3461 (DSN), RFC 2920 (PIPELINING),
 * RFC 3030 (CHUNKING), RFC 1985 (ETRN).
 *
 * Owns: struct reply (one complete, validated server reply) and struct caps
 * (what the server said it supports in its EHLO reply). Every line is
 * checked (three digits in 200-599, a valid separator, the same code on
 * every line, the length and line-count limits below) before anyone else
 * sees the reply: server text is untrusted.
 *
 * Never: performs I/O, logs, or exits. Pure functions over memory.
 */
#ifndef ENVOI_REPLY_H
#define ENVOI_REPLY_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

/*
 * Bytes per reply line, without the CRLF. RFC 5321 4.5.3.1.5 says 512
 * including CRLF, but real servers exceed it: long AUTH lists, policy
 * rejections with URLs, Exchange's multi-sentence texts. 4096 is eight
 * times the standard, far above anything seen in practice, and still
 * bounds what one hostile line can cost us. A longer line is an error,
 * never truncated.
 */
#define REPLY_LINE_MAX 4096

/*
 * Lines per reply. An EHLO reply has one line per extension (typically
 * 8-20); greetings with a legal banner run to a few dozen. 128 leaves
 * ample room and, with REPLY_LINE_MAX, caps a reply at 512 KiB.
 */
#define REPLY_LINES_MAX 128

/* Enhanced status code "class.subject.detail": at most "5.999.999". */
#define REPLY_ENH_MAX 16

struct reply {
	int code;                /* 3 digits, 200-599; 0 before the first line */
	char enh[REPLY_ENH_MAX]; /* enhanced status code "5.1.1" or "" */
	struct buf text;         /* the lines' text after "NNN-"/"NNN ", joined with
	                          * '\n' (the enhanced code is kept in the text) */
	int nlines;
	int complete;            /* the last line ("NNN " or "NNN") was seen */
};

/* An empty reply. Allocates nothing. */
void reply_init(struct reply *r);

/* Forget the contents (keep the memory) to receive the next reply. */
void reply_reset(struct reply *r);

/* Release the memory; r may be reused after reply_init. */
void reply_free(struct reply *r);

/*
 * Feed one received line WITHOUT its CRLF. Returns 1 when the reply is
 * complete, 0 when continuation lines are awaited, and -1 when the line is
 * malformed (EX_PROTOCOL; the message quotes the sanitised line): not
 * three digits, a code outside 200-599, a separator other than ' ', '-' or
 * the end of the line, a code differing from the previous lines', a line
 * over REPLY_LINE_MAX or a reply over REPLY_LINES_MAX lines (EX_OSERR if
 * memory runs out). Feeding a line to a complete reply starts a new one.
 * The enhanced code is taken from the first line's text when it has the
 * RFC 3463 shape, whether or not ENHANCEDSTATUSCODES was advertised.
 */
int reply_feed(struct reply *r, const char *line, size_t len, struct err *e);

/*
 * "550 5.1.1 user unknown": a one-line summary for messages and logs.
 * Lines of a multi-line reply are joined with "; " (an enhanced code
 * repeated at the start of a continuation line is dropped); control
 * characters become '?'. A summary that does not fit ends in "...".
 * Writes into dst (size > 0) and returns dst.
 */
const char *reply_summary(const struct reply *r, char *dst, size_t size);

/* Room for the AUTH mechanism list: a dozen names of up to 20 chars. */
#define CAPS_AUTH_MAX 512

struct caps {
	int pipelining, starttls, eightbitmime, smtputf8, dsn, enhancedstatuscodes, chunking;
	int requiretls;              /* RFC 8689 */
	int etrn;                    /* RFC 1985 (--rmqs) */
	int size_set;                /* SIZE was advertised */
	unsigned long long size;     /* its limit in bytes; 0 = no limit given */
	char auth[CAPS_AUTH_MAX];    /* space-separated upper-case mechanisms from
	                              * AUTH (and old "AUTH=") lines, each once;
	                              * "" if none */
};

/*
 * Fill c (cleared first) from an EHLO reply. Keywords are case-insensitive;
 * the first line (the server's name) is skipped; unknown keywords, junk
 * lines and invalid mechanism names are ignored rather than fatal, since a
 * server's odd extension must not stop mail. A SIZE parameter that is not
 * a number is taken as "no limit given". A non-2xx reply gives no caps.
 */
void caps_parse(struct caps *c, const struct reply *ehlo);

#endif
