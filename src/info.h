/*
 * info.h - what envoi prints about a server and a configuration, for
 * people: --serverinfo, --pretend (-P) and --rmqs (msmtp's options).
 *
 * Owns: the wording and layout of those reports on stdout, and the
 * checks --pretend makes of a chosen account (files it names that cannot
 * be read, AUTH without TLS, certificate checks off), each reported as one
 * "envoi: warning: ..." line through log_warn.
 *
 * Never: connects (session.c gathered what serverinfo shows), reads a
 * secret or runs a command (passwordeval is shown as "set"), touches the
 * queue, or decides exit codes (main does, from what these return).
 */
#ifndef ENVOI_INFO_H
#define ENVOI_INFO_H

#include <stdio.h>

#include "conf.h"
#include "log.h"
#include "session.h"

/*
 * The --serverinfo report of what session_serverinfo saw, as far as it
 * got (a refused certificate is still described, so that it can be
 * checked and pinned). account names the account used.
 */
void info_serverinfo(FILE *out, const char *account, const struct session_info *si);

/* What --pretend was asked to show besides the account. */
struct info_pretend {
	const struct conf *conf;         /* the files read */
	const struct account *acct;      /* the chosen, finalised account */
	const char *why;                 /* how it was chosen ("-a work", ...) */
	const char *from;                /* envelope sender; "" = <> */
	const char *const *rcpts;        /* recipients from the command line */
	size_t nrcpts;
	int read_rcpts;                  /* -t: more come from the headers */
	const char *queue_dir;           /* where a message would be queued */
};

/*
 * Print the account's every setting (conf_describe: secrets only as "set"
 * or "unset") and the envelope, then check the account (see the top).
 * Returns the number of problems that would make sending fail (a file the
 * account needs and cannot be read); warnings about risky but working
 * settings do not count.
 */
int info_pretend(FILE *out, const struct info_pretend *p, struct log *log);

/* "10485760 bytes (10 MiB)": a SIZE limit for people. */
void info_size(unsigned long long bytes, char *dst, size_t size);

#endif
