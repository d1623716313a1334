/*
 * message.h - the message from stdin into the spool, and the dot-stuffer
 * that puts the spooled message on the wire.
 *
 * Owns: a streaming reader that copies the message from one descriptor to
 * another, normalising every line ending to CRLF, enforcing the input
 * limits below, holding only the header block in memory (bounded), and
 * completing the headers (From, Date, Message-ID; Bcc removal; -t
 * recipient extraction; qualification of a domainless From). Also the
 * streaming dot-stuffer for DATA (RFC 5321 4.5.2).
 *
 * Never: slurps the message (memory is constant in the message size),
 * fsyncs or names files (the queue does), touches the network, prints or
 * exits. The spool copy is NOT dot-stuffed; that happens on the wire.
 *
 * Input policy (each violation is EX_DATAERR with the input line number):
 *  - empty input (no bytes at all) is refused;
 *  - a NUL byte is refused (RFC 5322 forbids it; SMTP servers mangle it);
 *  - a line longer than MSG_LINE_MAX octets, line ending excluded, is
 *    refused (RFC 5322 2.1.1). envoi does not fold or re-encode: folding a
 *    body line would change the content, and the caller can fix it by
 *    encoding the body (quoted-printable or base64);
 *  - a header block longer than MSG_HEADER_MAX is refused.
 * Line endings: LF, CRLF and any run of CRs before an LF ("\r\r\n") each
 * end a line, so PHP's CRLF headers with an LF body come out uniform; CRs
 * at the very end of input end the last line. A missing final newline is
 * supplied. A lone CR (one not followed, through a run of CRs, by LF)
 * never reaches the spool, so no server downstream can find a line end
 * that envoi did not write (RFC 5321 2.3.8: a client must not send a
 * bare CR; "line1\r.\r\n" must not be read as an end of data):
 *  - in the header block it becomes a space: a CR can neither end a field
 *    nor start a new one (no Bcc smuggled into a Subject reaches -t);
 *  - in the body it ends a line (CRLF), as the old Mac text and the
 *    progress meters of cron jobs ("10%\r20%\r...") that carry one mean
 *    it; a line begun after a lone CR is never the "." that ends the
 *    input (dot_ends_input), so nothing after it is silently dropped.
 * The spool therefore holds CRLF lines only, every CR and LF part of one.
 * Header block: the lines up to the first empty line. If the first line is
 * not a header field (`echo hi | sendmail bob`), all input is body and the
 * generated headers plus a blank line go before it (an mbox "From " line is
 * not a field either, so it too makes the whole input body). A line that is neither
 * a field nor a continuation after some fields starts the body, and the
 * blank separator is inserted before it (as Postfix does); input that ends
 * inside the header block gets the separator too.
 *
 * RFCs: 5322 (message format, Date and Message-ID syntax), 2047 (encoded
 * display names), 5321 4.5.2 (transparency), 6532 (UTF-8 headers).
 */
#ifndef ENVOI_MESSAGE_H
#define ENVOI_MESSAGE_H

#include <stddef.h>

#include "addr.h"
#include "err.h"

/* RFC 5322 2.1.1: a line MUST be no more than 998 characters without CRLF. */
#define MSG_LINE_MAX 998
/* The header block is held in memory to be completed before it is
 * written. 1 MiB is hundreds of times a real header block (long Received
 * chains and DKIM signatures stay under 64 KiB) yet small enough to hold. */
#define MSG_HEADER_MAX (1024 * 1024)
/* read() and write() chunk sizes: large enough that syscalls do not
 * dominate, small and fixed so memory does not follow the message size. */
#define MSG_IO_CHUNK (64 * 1024)
/* A display name from -F or from_full_name; anything longer is not a name. */
#define MSG_FULL_NAME_MAX 256

struct msg_opts {
	int dot_ends_input;      /* without -i: a line holding only "." ends the input */
	int extract_rcpts;       /* -t: To/Cc/Bcc, or the first Resent- block's Resent-To/Cc/Bcc */
	int remove_bcc;          /* drop Bcc and Resent-Bcc fields, continuations included */
	int set_from;            /* 0 auto (add From if missing), 1 on (replace any From), 2 off */
	int set_date;            /* 0 auto (add if missing), 2 off; 1 is taken as auto */
	int set_msgid;           /* 0 auto (add if missing), 2 off; 1 is taken as auto */
	const char *from_addr;   /* address for a generated From; NULL or "" -> default_from */
	const char *default_from;/* used when from_addr is NULL or "" (the null sender): user@domain */
	const char *full_name;   /* display name for a generated From, may be NULL */
	const char *domain;      /* qualifies domainless From addresses; Message-ID's right side */
	/* rewrite_headers: called for each address of From, Sender, Reply-To,
	 * To, Cc, Resent-From, Resent-Sender, Resent-To and Resent-Cc. Returns
	 * 1 with the address's replacements appended to *out when it is a
	 * local address, 0 to keep it, -1 on error (which fails the message).
	 * NULL = off (only a domainless From is qualified, as above). */
	int (*rewrite)(void *ctx, const char *addr, struct addr_list *out, struct err *e);
	void *rewrite_ctx;
	int set_sender;          /* 0 auto (leave Sender alone), 1 on, 2 off (remove) */
	const char *sender_addr; /* set_sender on: the envelope sender ("" = <>: none) */
	const char *force_from;  /* force_from header: the address every From carries */
	const char *prefix;      /* bytes already read from in_fd (submit_peek_from), */
	size_t prefix_len;       /* taken as its first bytes; NULL/0 = none */
};

struct msg_info {
	struct addr_list rcpts;  /* from the headers when extract_rcpts */
	char *message_id;        /* the message's own or the generated one, without <>; NULL if none */
	char *header_from;       /* first address of the From header after completion, NULL if none */
	unsigned long long size; /* bytes written to out_fd */
	int has_8bit;            /* any octet >= 0x80 in the message */
	unsigned long long lines;/* lines written to out_fd */
};

void msg_info_init(struct msg_info *i);
void msg_info_free(struct msg_info *i);

/*
 * Read the whole message from in_fd and write it to out_fd, normalised as
 * described at the top, with the headers completed as `o` says:
 *  - From: with set_from on, existing From fields are dropped and one is
 *    generated; in auto mode one is generated only when none exists. The
 *    generated field is "From: Full Name <addr>" or "From: addr" (addr =
 *    from_addr, else default_from, qualified with domain); a non-ASCII name
 *    is RFC 2047 encoded, one with specials is quoted. With no address at
 *    all, no From is generated (and set_from on keeps the existing ones).
 *    In every mode, a From address without a domain (cron's
 *    "From: root (Cron Daemon)") is qualified with `domain`, the rest of
 *    the field kept as it was.
 *  - Date (local time, numeric zone, C-locale names) and Message-ID
 *    ("<32 hex random digits.unix time@domain>", random from getrandom();
 *    domain falls back to the From domain, then "localhost"; a non-ASCII
 *    domain is written in A-labels) are added when missing and not off.
 *  - Generated fields are appended at the end of the header block, after
 *    trace and Resent- fields. All other fields are kept byte for byte.
 *  - With extract_rcpts, info->rcpts gets the To/Cc/Bcc addresses; when any
 *    Resent- field exists, only the Resent-To/Cc/Bcc of the first Resent-
 *    block (the topmost run of Resent- fields, ended by another field or by
 *    a Resent- field name repeating) are used. Extraction sees the fields
 *    as the author wrote them (the envelope recipients are aliased by the
 *    caller).
 *  - rewrite: each address the callback calls local is replaced by its
 *    expansion ("Root <root>" -> "Root <admin@x>"; several addresses in
 *    angle brackets become "<a@x>, <b@y>"); From, Sender, Resent-From and
 *    Resent-Sender take only the first. Display names, comments and
 *    everything else are kept byte for byte; a field that does not parse
 *    is kept as it is. A line the rewriting makes longer than
 *    MSG_LINE_MAX is folded at a blank (or the field is kept unchanged).
 *  - force_from: each From with one mailbox keeps its display name and
 *    comments around force_from; any other From is replaced by a
 *    generated one. The original From (after rewriting) is kept in a new
 *    Reply-To unless the message has one or it was force_from already.
 *    Resent-From is forced the same way (one mailbox keeps its name,
 *    anything else becomes "Resent-From: force_from"; no Reply-To for
 *    it), and Sender and Resent-Sender are dropped: the account is the
 *    sender, and a user's Sender would name someone else as the one
 *    who sent it (set_sender on adds none: the envelope is force_from).
 *  - set_sender on: Sender fields are dropped and "Sender: sender_addr"
 *    is added when sender_addr is not "" and differs (ignoring case) from
 *    the final From address; off: Sender fields are dropped.
 *  - With dot_ends_input, a line holding only "." ends the input; it is not
 *    written and the rest of in_fd is left unread.
 * info must have been msg_info_init'ed; the caller frees it (also on error).
 * Does not fsync out_fd. On error, out_fd may hold a partial copy: the
 * caller discards the spool file.
 * Errors: EX_DATAERR (the input policy above, a To/Cc/Bcc syntax error
 * under -t, an invalid generated From address), EX_IOERR (read or write
 * failure), EX_TEMPFAIL (the spool's file system is full), EX_USAGE (a
 * full name over MSG_FULL_NAME_MAX), EX_CONFIG (invalid IDN domain),
 * EX_OSERR (no memory, no randomness).
 */
int message_read(int in_fd, int out_fd, const struct msg_opts *o, struct msg_info *info,
    struct err *e);

/*
 * Streaming dot-stuffer for the DATA phase. Input is spool data (CRLF
 * lines); every '.' at the start of a line is doubled. "At line start" is
 * carried across calls, so lines split across chunks are handled. A line
 * starts after CRLF only (message_read leaves no lone CR or LF; a spool
 * written by an older build may hold them, and they stay data).
 */
struct dotstuff {
	int at_line_start;
	int last_was_cr;
};

void dotstuff_init(struct dotstuff *d);

/* out must have room for 2*n bytes. Returns the bytes written to out. */
size_t dotstuff_run(struct dotstuff *d, const char *in, size_t n, char *out);

/* Complete the last line: "\r\n" if the data did not end with CRLF (empty
 * data needs none). The end-of-data ".\r\n" itself is protocol and is
 * queued by the SMTP engine (smtp_body_done), never here. out has room for
 * 2 bytes. Returns the bytes written. */
size_t dotstuff_finish(struct dotstuff *d, char *out);

#endif
