/*
 * log.h - where envoi's words go: stderr, syslog, the logfile, and the -v
 * protocol transcript.
 *
 * Owns: the logger state (one struct log, created by main and passed down);
 * redaction of secrets in the transcript; the one sanitiser of untrusted
 * text (log_sanitize: C0 and C1 controls, DEL, bytes that are not UTF-8)
 * before it reaches a terminal or a log.
 *
 * Never: exits or decides exit codes. Logging failures are reported once on
 * stderr and otherwise ignored: a full log disk must not stop mail.
 *
 * Redaction is by design, not by discipline: anything sent while the
 * session is authenticating goes through log_proto(..., LOG_SEND_SECRET,...)
 * and only its leading verb ("AUTH PLAIN") is ever printed.
 */
#ifndef ENVOI_LOG_H
#define ENVOI_LOG_H

#include <stddef.h>
#include <stdio.h>

#include "err.h"

struct log {
	const char *prog;       /* prefix of stderr lines: "envoi" */
	int verbose;            /* -v count: >0 prints the transcript */
	int use_syslog;
	int facility;           /* LOG_USER, LOG_MAIL, ... */
	const char *tag;        /* syslog ident (-L), default prog */
	FILE *logfile;          /* NULL when no logfile */
	char *logfile_path;
	int logfile_failed;     /* warned already */
	FILE *err;              /* stderr, replaceable by tests */
};

enum log_dir {
	LOG_RECV,         /* server -> envoi */
	LOG_SEND,         /* envoi -> server */
	LOG_SEND_SECRET,  /* envoi -> server, carries credentials */
};

void log_init(struct log *l, const char *prog);

/*
 * Configure the logfile ("-" means stderr) and syslog ("on", "off", or a
 * facility name such as LOG_MAIL). NULL leaves that sink off. A logfile
 * that cannot be opened is a warning, not an error (mail matters more).
 */
void log_configure(struct log *l, const char *logfile, const char *syslog_arg);

void log_close(struct log *l);

/* "envoi: warning: ..." on stderr. */
void log_warn(struct log *l, const char *fmt, ...) ENVOI_PRINTF(2, 3);

/* "envoi: ..." on stderr: the bounce-style line for a problem. */
void log_error(struct log *l, const char *fmt, ...) ENVOI_PRINTF(2, 3);

/* Only with -v: "envoi: ..." on stderr. */
void log_debug(struct log *l, const char *fmt, ...) ENVOI_PRINTF(2, 3);

/*
 * The -v transcript. `data` may hold several CRLF-terminated lines (a
 * pipelined group, a multi-line reply); each is printed as "<-- line" or
 * "--> line", through log_sanitize. Secret sends print only
 * their first two words (AUTH MECH) or "[redacted]".
 */
void log_proto(struct log *l, enum log_dir dir, const char *data, size_t len);

/* One line per message event to the logfile (with a timestamp) and to
 * syslog (at LOG_INFO, or LOG_ERR when failed != 0). */
void log_event(struct log *l, int failed, const char *fmt, ...) ENVOI_PRINTF(3, 4);

/*
 * Text from outside (a server's reply, an address or a name from a user,
 * a certificate's names) made safe for a terminal or a log: src[0..len)
 * is copied to dst, NUL-terminated within size bytes, with each of these
 * replaced by one '?':
 *  - a C0 control (0x00-0x1f) other than TAB, and DEL (0x7f);
 *  - a C1 control (U+0080-U+009F, UTF-8 C2 80 .. C2 9F: CSI is C2 9B);
 *  - each byte that is not part of a well-formed UTF-8 sequence (RFC
 *    3629: stray or raw 0x80-0xff bytes, which a Latin-1 terminal would
 *    take as C1 controls; overlong forms, surrogates, truncated sequences).
 * Well-formed UTF-8 text, TAB included, is kept byte for byte. The output
 * is never longer than the input, so dst may be src (in place); when dst
 * is too small the copy ends before a whole character, never inside one.
 * Returns dst. Every line log.c prints (stderr, the -v transcript, the
 * logfile, syslog) goes through it; so must any other place that prints
 * such text (mailq's listing).
 */
char *log_sanitize(char *dst, size_t size, const char *src, size_t len);

#endif
