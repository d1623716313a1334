/*
 * cli.h - the sendmail command line, turned into a plain struct.
 *
 * Owns: the one permissive parser for sendmail-style options (bundled
 * "-ti", glued "-fuser@x" / "-FCronDaemon" / "-B8BITMIME", separate
 * "-f user@x" / "-B 8BITMIME", "-o"/"-b" mode letters, "--" and a few long
 * options), and the one list of options that are accepted but ignored.
 * Rejecting an option a caller passes loses mail (cron drops its output
 * when the mailer fails), so every sendmail option parses; only unknown
 * "--long" options, a missing required argument, and control characters in
 * addresses or names are errors (EX_USAGE). Options outside sendmail's
 * vocabulary (an unknown letter, an unknown -b mode) are accepted too, but
 * listed apart so that main can warn about them: the caller may expect
 * something envoi does not do. Unknown "--long" options stay errors: no
 * sendmail caller passes long options, only people typing envoi's own, and
 * a typo such as "--acount work" must not send mail to "work".
 *
 * Options and recipients may be mixed, as with glibc getopt (which msmtp
 * and most Linux sendmails use); "--" ends the options.
 *
 * msmtp's command line (msmtp 1.8's documented options, so that muttrc,
 * git and scripts written for msmtp keep working): every long option
 * msmtp has parses, "--opt=value" and "--opt value" for those that need a
 * value, only "--opt=value" for those whose value is optional (--tls,
 * --auth, --syslog, ...: with getopt_long, as in msmtp, "--tls on" is
 * --tls and a recipient "on"). Options that stand for configuration
 * directives become a list of settings that conf_select_cli applies over
 * the chosen account, through conf.c's own checks; --host also means "no
 * configuration file" and cannot go with -a. --password does not exist
 * (a password in argv is visible to every user), --proxy-host,
 * --proxy-port and --socket are refused (ignoring them would send mail
 * some other way than asked), --read-envelope-from cannot go with -f.
 * When argv[0]'s basename is "msmtp" (msmtp mode), three sendmail options
 * take msmtp's meaning: the input is always read to its end (-i makes no
 * difference), -X FILE is --logfile FILE (a user's option, not
 * sendmail's traffic log), and -d with any value is debug output (-d0.1
 * also prints the version). -b modes and -q stay envoi's in both modes: a
 * superset breaks no msmtp caller.
 *
 * Never: opens files (not even -X's, which sendmail would write to: that is
 * how PHPMailer's argument injection became code execution), prints (only
 * cli_usage and cli_configure write, to the stream they are given), or
 * exits.
 */
#ifndef ENVOI_CLI_H
#define ENVOI_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "conf.h"
#include "envelope.h"
#include "err.h"

enum cli_mode {
	CLI_SEND,          /* the default: read a message on stdin and send it */
	CLI_VERSION,       /* --version */
	CLI_HELP,          /* --help */
	CLI_LIST_QUEUE,    /* -bp, or argv[0] "mailq" */
	CLI_NEWALIASES,    /* -bi, -I, or argv[0] "newaliases" */
	CLI_RUN_QUEUE,     /* -q, -q30m, -qf, -qR..., -qS..., -qI..., --retry */
	CLI_SMTP_STDIO,    /* -bs */
	CLI_VERIFY,        /* -bv */
	CLI_NOOP,          /* -bd -bD -bh -bH -bt -ba -bl: accepted, do nothing */
	CLI_REMOVE,        /* --rmqueue ID|all */
	CLI_SERVERINFO,    /* --serverinfo: connect, print what the server
	                    * offers and its certificate, send nothing */
	CLI_CONFIGURE,     /* --configure ADDR: print a configuration
	                    * template for the address (cli_configure) */
	CLI_OAUTH2_LOGIN,  /* --oauth2-login [ACCOUNT]: the one-time OAuth
	                    * 2.0 login (oauth2.h); the account is -a or
	                    * the operand, else the default */
	CLI_RMQS,          /* --rmqs NODE: ETRN, ask the server to run its
	                    * queue for NODE */
};

struct cli {
	enum cli_mode mode;
	int read_recipients;      /* -t, --read-recipients */
	int dot_ends_input;       /* 1 unless -i or -oi */
	const char *from;         /* -f/-r/--from; NULL if not given; "<>" and ""
	                           * both mean the null sender and are stored as "" */
	const char *full_name;    /* -F */
	const char *config_file;  /* -C, --file */
	const char *account;      /* -a, --account */
	int verbose;              /* count of -v, --debug and a bare -d */
	int pretend;              /* -P, --pretend: print the configuration
	                           * and envelope that would be used; never
	                           * connect, never queue */
	struct envelope opts;     /* -N, -R, -V (checked: envelope.h), -B,
	                           * -O SMTPUTF8=yes|no, -O REQUIRETLS=yes|no */
	const char *body_type;    /* -B as given: any value is accepted (an
	                           * unknown one leaves opts.body unset) */
	char delivery_mode;       /* -od[biqd]: 'i' (default), 'b', 'q' ('d' = 'q') */
	char error_mode;          /* -oe[mpqwe]; 0 if absent */
	const char *syslog_tag;   /* -L */
	const char *queue_arg;    /* -q: the text after q ("" for plain -q);
	                           * --flush gives "f", --retry "" */
	int retry_due;            /* --retry: only entries whose next attempt
	                           * is due (the backoff is honoured) */
	const char *rmqueue_arg;  /* --rmqueue: a queue id, or "all" */
	const char *rmqs_arg;     /* --rmqs: host, @domain or #queue (ETRN) */
	char **rcpts;             /* malloc'd array of pointers into argv */
	size_t nrcpts;
	char **ignored;           /* malloc'd array of malloc'd strings: the
	                           * sendmail options accepted and ignored, as
	                           * given ("-oem" is not here: it is error_mode) */
	size_t nignored;
	char **unknown;           /* the same for options sendmail does not
	                           * have either ("-Z", "-bz"): accepted with a
	                           * warning */
	size_t nunknown;

	/* msmtp's command line (see "msmtp mode" above). */
	int msmtp;                /* argv[0]'s basename is "msmtp" */
	int as_sendmail;          /* argv[0]'s basename is "sendmail": the
	                           * name programs call, whose arguments may
	                           * carry injected options (PHP mail()), so
	                           * --passwordeval is refused under it */
	struct conf_setting *settings;  /* malloc'd array, in argv order: the
	                           * configuration settings given as options
	                           * (--port=2525, --tls=off, -X in msmtp mode),
	                           * values pointing into argv; for
	                           * conf_select_cli */
	size_t nsettings;
	int config_free;          /* --host: no configuration file is read */
	int read_envelope_from;   /* --read-envelope-from: the envelope sender
	                           * (and account choice) from the From header */
	const char *configure_addr;  /* --configure ADDR */
};

/*
 * Parse argv into *c (which need not be initialised). argv[0]'s basename
 * "mailq" gives CLI_LIST_QUEUE and "newaliases" CLI_NEWALIASES; any other
 * name parses normally. The strings in *c point into argv (except the
 * ignored list), so argv must outlive *c.
 *
 * Returns 0, or -1 with EX_USAGE (unknown --long option, missing argument,
 * control character in -f/-r/-F/-N/-R/-V/-B/-a or a recipient, a value
 * cli_check_values refuses) or EX_OSERR (out of memory). Call cli_free in
 * both cases.
 */
int cli_parse(struct cli *c, int argc, char **argv, struct err *e);

/*
 * The rule for -F, whether from this command line or from a drop file
 * (drop.c's writer and pickup, where it is another user's input): at most
 * MSG_FULL_NAME_MAX (256) octets, no control character (message.c puts it
 * in a From header). NULL is "not given". Pure. Returns 0, or -1 with
 * EX_USAGE. (-N, -R and -V are checked by envelope.h as they are parsed,
 * here and in drop files alike.)
 */
int cli_check_full_name(const char *full_name, struct err *e);

/* Release what cli_parse allocated; *c may be parsed again afterwards. */
void cli_free(struct cli *c);

/* The --help text: every option on one line, saying which are ignored. */
void cli_usage(FILE *out);

/*
 * --configure ADDR: write a configuration template for the address to
 * out: the submission server, port and TLS of its provider when the
 * domain is one of a built-in table of well-known providers (no DNS
 * lookup: the table is the whole knowledge), otherwise a template with
 * the host to fill in. Returns 0, or -1 with EX_USAGE when ADDR is not
 * local@domain.
 */
int cli_configure(FILE *out, const char *addr, struct err *e);

#endif
