/*
 * log.h - where envoi's words go: stderr, syslog, the logfile, and the -v
 * protocol transcript.
 *
 * Owns: the logger state (one struct log, created by main and passed down);
 * redaction of secrets in the transcript; stripping of control characters
 * from untrusted (server) text before it reaches a terminal or a log.
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
 * "--> line". Control characters are shown as '?'. Secret sends print only
 * their first two words (AUTH MECH) or "[redacted]".
 */
void log_proto(struct log *l, enum log_dir dir, const char *data, size_t len);

/* One line per message event to the logfile (with a timestamp) and to
 * syslog (at LOG_INFO, or LOG_ERR when failed != 0). */
void log_event(struct log *l, int failed, const char *fmt, ...) ENVOI_PRINTF(3, 4);

/* Copy src into dst (size bytes), replacing control characters and
 * non-UTF-8-safe bytes below 0x20 and 0x7f with '?'. Returns dst. */
char *log_sanitize(char *dst, size_t size, const char *src, size_t len);

#endif
