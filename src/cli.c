/* cli.c - see cli.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "envelope.h"
#include "message.h"

/*
 * No input limit is needed here: argv is bounded by the kernel (ARG_MAX),
 * and every array below grows by at most one entry per argv character.
 */

static int
has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/*
 * Append an option as the caller wrote it to a list: "-m", "-h5" (value
 * glued), "-h 5" (separate), "-X f". arg may be NULL.
 */
static int
add_option(char ***listp, size_t *np, const char *opt, const char *arg,
    int separate, struct err *e)
{
	size_t n = strlen(opt) + (arg ? 1 + strlen(arg) : 0) + 1;
	char **list, *s;

	list = realloc(*listp, (*np + 1) * sizeof *list);
	if (list == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	*listp = list;
	s = malloc(n);
	if (s == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	snprintf(s, n, "%s%s%s", opt, arg && separate ? " " : "",
	    arg ? arg : "");
	list[(*np)++] = s;
	return 0;
}

/* A sendmail option that means nothing to envoi. */
static int
add_ignored(struct cli *c, const char *opt, const char *arg, int separate,
    struct err *e)
{
	return add_option(&c->ignored, &c->nignored, opt, arg, separate, e);
}

/* An option sendmail does not have either. */
static int
add_unknown(struct cli *c, const char *opt, const char *arg, int separate,
    struct err *e)
{
	return add_option(&c->unknown, &c->nunknown, opt, arg, separate, e);
}

/* "-X": the letter as an option name for messages and the list. */
static void
optname(char *dst, size_t size, char letter)
{
	snprintf(dst, size, "-%c", letter);
}

/* --help and --version win over any mode given with them; otherwise the
 * last mode option wins, as with sendmail. */
static void
set_mode(struct cli *c, enum cli_mode m)
{
	if (c->mode == CLI_HELP || c->mode == CLI_VERSION)
		if (m != CLI_HELP && m != CLI_VERSION)
			return;
	if (c->mode == CLI_HELP && m == CLI_VERSION)
		return;
	c->mode = m;
}

/* Values that end up in a header or an SMTP command must be one line. */
static int
check_line(const char *what, const char *v, struct err *e)
{
	if (has_control(v))
		return err_set(e, EX_USAGE, "%s contains a control character "
		    "(CR, LF or similar); refusing it, it could inject "
		    "headers or SMTP commands", what);
	return 0;
}

static int
set_from(struct cli *c, const char *opt, const char *v, struct err *e)
{
	char what[64];

	snprintf(what, sizeof what, "the sender address given with %s", opt);
	if (check_line(what, v, e) < 0)
		return -1;
	c->from = strcmp(v, "<>") == 0 ? "" : v;
	return 0;
}

static int add_setting(struct cli *c, const char *option,
    const char *directive, const char *v, struct err *e);

/* -o VALUE: -oi, -od?, -oe? mean something; everything else is ignored. */
static int
apply_o(struct cli *c, const char *v, int separate, struct err *e)
{
	if (strcmp(v, "i") == 0) {
		c->dot_ends_input = 0;
		return 0;
	}
	if (v[0] == 'd' && v[1] != '\0' && v[2] == '\0' &&
	    strchr("biqd", v[1]) != NULL) {
		/* -odd defers DNS lookups until the queue runs: for a
		 * forwarder that is queue-only delivery. */
		c->delivery_mode = v[1] == 'd' ? 'q' : v[1];
		return 0;
	}
	if (v[0] == 'e' && v[1] != '\0' && v[2] == '\0' &&
	    strchr("mpqwe", v[1]) != NULL) {
		c->error_mode = v[1];
		return 0;
	}
	return add_ignored(c, "-o", v, separate, e);
}

/* yes/no in the spellings sendmail's boolean options take; -1 otherwise. */
static int
boolean(const char *v)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return 1;
		if (strcasecmp(v, no[i]) == 0)
			return 0;
	}
	return -1;
}

/* -O NAME=VALUE: SMTPUTF8 and REQUIRETLS mean something (RFC 6531, RFC
 * 8689); every other long option, and these with a value that is not a
 * boolean, is accepted and ignored. */
static int
apply_O(struct cli *c, const char *v, int separate, struct err *e)
{
	const char *eq = strchr(v, '=');
	int b = eq ? boolean(eq + 1) : -1;

	if (b >= 0 && (size_t)(eq - v) == 8 && strncasecmp(v, "SMTPUTF8", 8) == 0) {
		c->opts.smtputf8 = b ? ENVELOPE_UTF8_YES : ENVELOPE_UTF8_NO;
		return 0;
	}
	if (b >= 0 && (size_t)(eq - v) == 10 && strncasecmp(v, "REQUIRETLS", 10) == 0) {
		c->opts.requiretls = b;
		return 0;
	}
	return add_ignored(c, "-O", v, separate, e);
}

/* -b MODE */
static int
apply_b(struct cli *c, const char *v, int separate, struct err *e)
{
	if (v[0] != '\0' && v[1] == '\0') {
		switch (v[0]) {
		case 'm': set_mode(c, CLI_SEND); return 0;
		case 'p': set_mode(c, CLI_LIST_QUEUE); return 0;
		case 'i': set_mode(c, CLI_NEWALIASES); return 0;
		case 's': set_mode(c, CLI_SMTP_STDIO); return 0;
		case 'v': set_mode(c, CLI_VERIFY); return 0;
		case 'd': case 'D': case 'h': case 'H':
		case 't': case 'a': case 'l':
			set_mode(c, CLI_NOOP);
			return 0;
		case 'P':       /* sendmail 8.13: queue statistics */
			set_mode(c, CLI_LIST_QUEUE);
			return 0;
		default:
			break;
		}
	}
	return add_unknown(c, "-b", v, separate, e);
}

/*
 * One letter that takes an argument, with its value (glued or separate).
 * Returns 0 or -1.
 */
static int
apply_arg(struct cli *c, char letter, const char *v, int separate,
    struct err *e)
{
	char name[8];

	optname(name, sizeof name, letter);
	switch (letter) {
	case 'f':
	case 'r':
		return set_from(c, name, v, e);
	case 'F':
		if (check_line("the full name given with -F", v, e) < 0)
			return -1;
		c->full_name = v;
		return 0;
	case 'C':
		c->config_file = v;
		return 0;
	case 'a':
		if (check_line("the account name given with -a", v, e) < 0)
			return -1;
		c->account = v;
		return 0;
	case 'N':
		if (check_line("the DSN notify value given with -N", v, e) < 0)
			return -1;
		/* msmtp's "off": no DSN request, whatever the account says. */
		if (strcmp(v, "off") == 0)
			return add_setting(c, "-N", "dsn_notify", v, e);
		/* envelope.c holds RFC 3461's rules; only the words are ours. */
		if (envelope_notify_parse(v, &c->opts.notify) < 0)
			return err_set(e, EX_USAGE, "the DSN notify value given with -N (\"%.40s\") "
			    "is not NEVER or a list of SUCCESS, FAILURE and DELAY (RFC 3461)", v);
		return 0;
	case 'R':
		if (check_line("the DSN return value given with -R", v, e) < 0)
			return -1;
		if (strcmp(v, "off") == 0)      /* msmtp's, as for -N */
			return add_setting(c, "-R", "dsn_return", v, e);
		if (strcasecmp(v, "headers") == 0)      /* msmtp's spelling */
			v = "HDRS";
		if (envelope_ret_parse(v, &c->opts.ret) < 0)
			return err_set(e, EX_USAGE, "the DSN return value given with -R (\"%.40s\") "
			    "is not FULL or HDRS (RFC 3461)", v);
		return 0;
	case 'V':
		if (check_line("the envelope id given with -V", v, e) < 0)
			return -1;
		if (envelope_set_envid(&c->opts, v) < 0)
			return err_set(e, EX_USAGE, "the envelope id given with -V must be 1 to %d "
			    "printable ASCII characters (RFC 3461)", ENVELOPE_ENVID_MAX);
		return 0;
	case 'B':
		if (check_line("the body type given with -B", v, e) < 0)
			return -1;
		c->body_type = v;
		c->opts.body = envelope_body_parse(v);
		return 0;
	case 'L':
		if (check_line("the syslog tag given with -L", v, e) < 0)
			return -1;
		c->syslog_tag = v;
		return 0;
	case 'o':
		return apply_o(c, v, separate, e);
	case 'O':
		return apply_O(c, v, separate, e);
	case 'b':
		return apply_b(c, v, separate, e);
	case 'X':
		/* msmtp's -X is its --logfile, and a user typed it; sendmail's
		 * -X names a file for the SMTP traffic, which is how
		 * PHPMailer's argument injection wrote a script (never
		 * honoured). */
		if (c->msmtp)
			return add_setting(c, "-X", "logfile", v, e);
		return add_ignored(c, name, v, separate, e);
	default:
		/* D h p A e: accepted, never honoured. -D names a file
		 * sendmail would write its debug output to. */
		return add_ignored(c, name, v, separate, e);
	}
}

/* Letters whose argument is the rest of the word or else the next word. */
static const char arg_letters[] = "BCDFLNORVXafhprobAe";

/* Letters that are plain flags with no meaning for envoi. */
static const char ignored_flags[] = "GUmnxcs";

/* Sendmail letters whose (optional) value is glued: -Mxvalue (macro),
 * -Q[reason] (quarantine). The rest of the word goes with them. */
static const char ignored_glued[] = "MQ";

static int
add_rcpt(struct cli *c, char *a, struct err *e)
{
	if (check_line("a recipient argument", a, e) < 0)
		return -1;
	c->rcpts[c->nrcpts++] = a;
	return 0;
}

/* A configuration setting from the command line, applied by
 * conf_select_cli after the files. */
static int
add_setting(struct cli *c, const char *option, const char *directive,
    const char *v, struct err *e)
{
	struct conf_setting *l;
	char what[64];

	snprintf(what, sizeof what, "the value given with %s", option);
	if (check_line(what, v, e) < 0)
		return -1;
	l = realloc(c->settings, (c->nsettings + 1) * sizeof *l);
	if (l == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	c->settings = l;
	l[c->nsettings].directive = directive;
	l[c->nsettings].value = v;
	l[c->nsettings].option = option;
	c->nsettings++;
	return 0;
}

/* How a long option takes its value. */
enum long_arg {
	LONG_NONE,      /* "--opt=x" is an error */
	LONG_REQUIRED,  /* "--opt=x" or "--opt x" */
	LONG_OPTIONAL,  /* only "--opt=x": as with getopt_long (and msmtp),
	                 * "--tls on" is --tls and a recipient "on" */
};

/* What a long option does. */
enum long_act {
	LONG_LETTER,    /* the same as the short option `letter` */
	LONG_SETTING,   /* the configuration directive `directive` */
	LONG_HOST,      /* --host: a setting, and no configuration file */
	LONG_ENVFROM,   /* --read-envelope-from */
	LONG_CONFIGURE,
	LONG_VERSION, LONG_HELP, LONG_QUEUE, LONG_FLUSH, LONG_RETRY,
	LONG_RMQUEUE, LONG_SERVERINFO, LONG_RMQS, LONG_OAUTH2_LOGIN,
	LONG_REFUSED,   /* parsed, then refused: see refused_why */
};

static const struct long_opt {
	const char *opt;        /* as typed, "--port"; the name is opt + 2 */
	enum long_arg arg;
	enum long_act act;
	char letter;            /* LONG_LETTER */
	const char *directive;  /* LONG_SETTING, LONG_HOST */
} longs[] = {
	/* sendmail letters under msmtp's long names */
	{ "--account", LONG_REQUIRED, LONG_LETTER, 'a', NULL },
	{ "--file", LONG_REQUIRED, LONG_LETTER, 'C', NULL },
	{ "--from", LONG_REQUIRED, LONG_LETTER, 'f', NULL },
	{ "--read-recipients", LONG_NONE, LONG_LETTER, 't', NULL },
	{ "--debug", LONG_NONE, LONG_LETTER, 'v', NULL },
	{ "--pretend", LONG_NONE, LONG_LETTER, 'P', NULL },
	{ "--dsn-notify", LONG_REQUIRED, LONG_LETTER, 'N', NULL },
	{ "--dsn-return", LONG_REQUIRED, LONG_LETTER, 'R', NULL },
	/* modes */
	{ "--version", LONG_NONE, LONG_VERSION, 0, NULL },
	{ "--help", LONG_NONE, LONG_HELP, 0, NULL },
	{ "--queue", LONG_NONE, LONG_QUEUE, 0, NULL },          /* = -bp */
	{ "--flush", LONG_NONE, LONG_FLUSH, 0, NULL },          /* = -qf */
	{ "--retry", LONG_NONE, LONG_RETRY, 0, NULL },
	{ "--rmqueue", LONG_REQUIRED, LONG_RMQUEUE, 0, NULL },
	{ "--serverinfo", LONG_NONE, LONG_SERVERINFO, 0, NULL },
	{ "--oauth2-login", LONG_NONE, LONG_OAUTH2_LOGIN, 0, NULL },
	{ "--rmqs", LONG_REQUIRED, LONG_RMQS, 0, NULL },        /* ETRN */
	{ "--configure", LONG_REQUIRED, LONG_CONFIGURE, 0, NULL },
	/* msmtp's settings: each overrides the configuration's directive */
	{ "--host", LONG_REQUIRED, LONG_HOST, 0, "host" },
	{ "--port", LONG_REQUIRED, LONG_SETTING, 0, "port" },
	{ "--timeout", LONG_REQUIRED, LONG_SETTING, 0, "timeout" },
	{ "--connect-timeout", LONG_REQUIRED, LONG_SETTING, 0, "timeout" },
	{ "--protocol", LONG_REQUIRED, LONG_SETTING, 0, "protocol" },
	{ "--domain", LONG_REQUIRED, LONG_SETTING, 0, "domain" },
	{ "--auth", LONG_OPTIONAL, LONG_SETTING, 0, "auth" },
	{ "--user", LONG_REQUIRED, LONG_SETTING, 0, "user" },
	{ "--passwordeval", LONG_REQUIRED, LONG_SETTING, 0, "passwordeval" },
	{ "--tls", LONG_OPTIONAL, LONG_SETTING, 0, "tls" },
	{ "--tls-starttls", LONG_OPTIONAL, LONG_SETTING, 0, "tls_starttls" },
	{ "--tls-trust-file", LONG_REQUIRED, LONG_SETTING, 0, "tls_trust_file" },
	{ "--tls-crl-file", LONG_REQUIRED, LONG_SETTING, 0, "tls_crl_file" },
	{ "--tls-fingerprint", LONG_REQUIRED, LONG_SETTING, 0, "tls_fingerprint" },
	{ "--tls-key-file", LONG_REQUIRED, LONG_SETTING, 0, "tls_key_file" },
	{ "--tls-cert-file", LONG_REQUIRED, LONG_SETTING, 0, "tls_cert_file" },
	{ "--tls-certcheck", LONG_OPTIONAL, LONG_SETTING, 0, "tls_certcheck" },
	{ "--tls-priorities", LONG_REQUIRED, LONG_SETTING, 0, "tls_priorities" },
	{ "--tls-host-override", LONG_REQUIRED, LONG_SETTING, 0, "tls_host_override" },
	{ "--tls-min-dh-prime-bits", LONG_REQUIRED, LONG_SETTING, 0, "tls_min_dh_prime_bits" },
	{ "--tls-force-sslv3", LONG_OPTIONAL, LONG_SETTING, 0, "tls_force_sslv3" },
	{ "--logfile", LONG_REQUIRED, LONG_SETTING, 0, "logfile" },
	{ "--logfile-time-format", LONG_REQUIRED, LONG_SETTING, 0, "logfile_time_format" },
	{ "--syslog", LONG_OPTIONAL, LONG_SETTING, 0, "syslog" },
	{ "--aliases", LONG_REQUIRED, LONG_SETTING, 0, "aliases" },
	{ "--source-ip", LONG_REQUIRED, LONG_SETTING, 0, "source_ip" },
	{ "--proxy-host", LONG_REQUIRED, LONG_REFUSED, 0, NULL },
	{ "--proxy-port", LONG_REQUIRED, LONG_REFUSED, 0, NULL },
	{ "--socket", LONG_REQUIRED, LONG_REFUSED, 0, NULL },
	{ "--set-from-header", LONG_OPTIONAL, LONG_SETTING, 0, "set_from_header" },
	{ "--set-date-header", LONG_OPTIONAL, LONG_SETTING, 0, "set_date_header" },
	{ "--set-msgid-header", LONG_OPTIONAL, LONG_SETTING, 0, "set_msgid_header" },
	{ "--set-to-header", LONG_OPTIONAL, LONG_SETTING, 0, "set_to_header" },
	{ "--remove-bcc-headers", LONG_OPTIONAL, LONG_SETTING, 0, "remove_bcc_headers" },
	{ "--read-envelope-from", LONG_NONE, LONG_ENVFROM, 0, NULL },
	{ "--auto-from", LONG_OPTIONAL, LONG_SETTING, 0, "auto_from" },
	{ "--maildomain", LONG_REQUIRED, LONG_SETTING, 0, "maildomain" },
	{ "--undisclosed-recipients", LONG_OPTIONAL, LONG_SETTING, 0, "undisclosed_recipients" },
	{ "--keepbcc", LONG_OPTIONAL, LONG_SETTING, 0, "keepbcc" },
	{ "--add-missing-from-header", LONG_OPTIONAL, LONG_SETTING, 0, "add_missing_from_header" },
	{ "--add-missing-date-header", LONG_OPTIONAL, LONG_SETTING, 0, "add_missing_date_header" },
};

/* Why a LONG_REFUSED option is refused rather than ignored: ignoring it
 * would send the mail some other way than the caller asked. */
static int
refused_why(const struct long_opt *o, struct err *e)
{
	if (strcmp(o->opt, "--socket") == 0)
		return err_set(e, EX_USAGE, "--socket: envoi does not connect to "
		    "Unix sockets; refusing rather than sending to another "
		    "server (use --host and --port)");
	return err_set(e, EX_USAGE, "%s: envoi does not implement SOCKS "
	    "proxies; refusing rather than connecting directly, around "
	    "the proxy", o->opt);
}

/* A --long option without a value: the modes and the flags. */
static int
long_flag(struct cli *c, const struct long_opt *o, struct err *e)
{
	switch (o->act) {
	case LONG_VERSION: set_mode(c, CLI_VERSION); return 0;
	case LONG_HELP: set_mode(c, CLI_HELP); return 0;
	case LONG_QUEUE: set_mode(c, CLI_LIST_QUEUE); return 0;
	case LONG_SERVERINFO: set_mode(c, CLI_SERVERINFO); return 0;
	case LONG_OAUTH2_LOGIN: set_mode(c, CLI_OAUTH2_LOGIN); return 0;
	case LONG_FLUSH:
		set_mode(c, CLI_RUN_QUEUE);
		c->queue_arg = "f";
		return 0;
	case LONG_RETRY:
		set_mode(c, CLI_RUN_QUEUE);
		c->queue_arg = "";
		c->retry_due = 1;
		return 0;
	case LONG_ENVFROM:
		c->read_envelope_from = 1;
		return 0;
	case LONG_LETTER:
		if (o->letter == 'P')
			c->pretend = 1;
		else if (o->letter == 't')
			c->read_recipients = 1;
		else
			c->verbose++;
		return 0;
	default:
		return err_set(e, EX_SOFTWARE, "option %s: internal error", o->opt);
	}
}

/* A --long option with its value v. */
static int
long_value(struct cli *c, const struct long_opt *o, const char *v,
    struct err *e)
{
	switch (o->act) {
	case LONG_LETTER:
		if (o->letter == 'f')
			return set_from(c, o->opt, v, e);
		return apply_arg(c, o->letter, v, 0, e);
	case LONG_HOST:
		c->config_free = 1;
		/* FALLTHROUGH */
	case LONG_SETTING:
		return add_setting(c, o->opt, o->directive, v, e);
	case LONG_RMQUEUE:
		set_mode(c, CLI_REMOVE);
		c->rmqueue_arg = v;
		return 0;
	case LONG_RMQS:
		if (check_line("the node given with --rmqs", v, e) < 0)
			return -1;
		set_mode(c, CLI_RMQS);
		c->rmqs_arg = v;
		return 0;
	case LONG_CONFIGURE:
		if (check_line("the address given with --configure", v, e) < 0)
			return -1;
		set_mode(c, CLI_CONFIGURE);
		c->configure_addr = v;
		return 0;
	case LONG_REFUSED:
		return refused_why(o, e);
	default:
		return err_set(e, EX_SOFTWARE, "option %s: internal error", o->opt);
	}
}

/* An unknown --name: always an error (see cli.h), with a pointer for the
 * password option people look for. */
static int
long_unknown(const char *arg, size_t n, struct err *e)
{
	if (n == 8 && strncmp(arg, "password", 8) == 0)
		return err_set(e, EX_USAGE, "there is no --password option (nor in "
		    "msmtp): a password in argv is visible to every user through "
		    "ps; use --passwordeval='COMMAND' or the configuration file");
	return err_set(e, EX_USAGE, "unknown option --%.*s (see --help)",
	    (int)(n > 64 ? 64 : n), arg);
}

/*
 * A long option; *i may advance when the value is the next word.
 * Returns 0 or -1.
 */
static int
parse_long_opt(struct cli *c, int argc, char **argv, int *i, struct err *e)
{
	const char *arg = argv[*i] + 2, *eq = strchr(arg, '=');
	size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
	const struct long_opt *o = NULL;

	for (size_t k = 0; k < sizeof longs / sizeof longs[0]; k++)
		if (strlen(longs[k].opt + 2) == n &&
		    strncmp(longs[k].opt + 2, arg, n) == 0)
			o = &longs[k];
	if (o == NULL)
		return long_unknown(arg, n, e);
	switch (o->arg) {
	case LONG_NONE:
		if (eq)
			return err_set(e, EX_USAGE, "option %s takes no argument",
			    o->opt);
		return long_flag(c, o, e);
	case LONG_OPTIONAL:
		return long_value(c, o, eq ? eq + 1 : "", e);
	case LONG_REQUIRED:
		break;
	}
	if (eq)
		return long_value(c, o, eq + 1, e);
	if (*i + 1 >= argc)
		return err_set(e, EX_USAGE, "option %s needs an argument", o->opt);
	return long_value(c, o, argv[++*i], e);
}

/* What may not go together, as in msmtp; and msmtp's reading to EOF. */
static int
check_combinations(struct cli *c, struct err *e)
{
	/* msmtp reads the whole input: a line holding a dot is text. */
	if (c->msmtp)
		c->dot_ends_input = 0;
	if (c->config_free && c->account)
		return err_set(e, EX_USAGE, "--host and --account (-a) cannot be "
		    "used together: --host uses no configuration file at all");
	if (c->read_envelope_from && c->from)
		return err_set(e, EX_USAGE, "--read-envelope-from and --from (-f) "
		    "cannot be used together: both set the envelope sender");
	/* An option that runs a command is code execution for whoever can
	 * slip a word into a program's sendmail call (PHPMailer's -f with
	 * spaces, CVE-2016-10033). Only people and scripts call envoi or
	 * msmtp by name; programs call "sendmail". */
	for (size_t k = 0; c->as_sendmail && k < c->nsettings; k++)
		if (strcmp(c->settings[k].directive, "passwordeval") == 0)
			return err_set(e, EX_USAGE, "--passwordeval is refused when "
			    "called as sendmail (an injected argument would run a "
			    "command); put passwordeval in the configuration file, "
			    "or call envoi or msmtp by that name");
	return cli_check_full_name(c->full_name, e);
}

int
cli_parse(struct cli *c, int argc, char **argv, struct err *e)
{
	const char *base;
	int only_rcpts = 0;

	memset(c, 0, sizeof *c);
	c->mode = CLI_SEND;
	c->dot_ends_input = 1;
	c->delivery_mode = 'i';

	if (argc > 0 && argv[0] != NULL) {
		base = strrchr(argv[0], '/');
		base = base ? base + 1 : argv[0];
		if (strcmp(base, "mailq") == 0)
			c->mode = CLI_LIST_QUEUE;
		else if (strcmp(base, "newaliases") == 0)
			c->mode = CLI_NEWALIASES;
		else if (strcmp(base, "msmtp") == 0)
			c->msmtp = 1;
		else if (strcmp(base, "sendmail") == 0)
			c->as_sendmail = 1;
	}
	c->rcpts = calloc(argc > 0 ? (size_t)argc : 1, sizeof *c->rcpts);
	if (c->rcpts == NULL)
		return err_set(e, EX_OSERR, "out of memory");

	for (int i = 1; i < argc; i++) {
		char *arg = argv[i];

		if (only_rcpts || arg[0] != '-' || arg[1] == '\0') {
			if (add_rcpt(c, arg, e) < 0)
				return -1;
			continue;
		}
		if (arg[1] == '-') {
			if (arg[2] == '\0') {
				only_rcpts = 1;
				continue;
			}
			if (parse_long_opt(c, argc, argv, &i, e) < 0)
				return -1;
			continue;
		}
		/* A cluster of letters: "-ti", "-FCronDaemon", "-oem". */
		for (size_t j = 1; arg[j] != '\0'; j++) {
			char ch = arg[j];
			const char *rest = arg + j + 1;
			char name[8];

			if (strchr(arg_letters, ch) != NULL) {
				int separate = 0;
				const char *v = rest;

				if (*rest == '\0') {
					if (i + 1 >= argc)
						return err_set(e, EX_USAGE,
						    "option -%c needs an argument",
						    ch);
					v = argv[++i];
					separate = 1;
				}
				if (apply_arg(c, ch, v, separate, e) < 0)
					return -1;
				break;
			}
			switch (ch) {
			case 't':
				c->read_recipients = 1;
				continue;
			case 'i':
				c->dot_ends_input = 0;
				continue;
			case 'v':
				c->verbose++;
				continue;
			case 'I':
				set_mode(c, CLI_NEWALIASES);
				continue;
			case 'P':       /* msmtp's --pretend */
				c->pretend = 1;
				continue;
			case 'q':
				/* -q, -q30m, -qf, -qRsite, -qSsite, -qIid:
				 * the rest of the word is the argument. */
				set_mode(c, CLI_RUN_QUEUE);
				c->queue_arg = rest;
				break;
			case 'd':
				/* A bare -d is msmtp's --debug; sendmail's
				 * -dX.Y debug flags are ignored. msmtp's
				 * -d takes any glued value as debug, and
				 * -d0.1 prints the version as sendmail's. */
				if (c->msmtp && strcmp(rest, "0.1") == 0)
					set_mode(c, CLI_VERSION);
				if (*rest == '\0' || c->msmtp)
					c->verbose++;
				else if (add_ignored(c, "-d", rest, 0, e) < 0)
					return -1;
				break;
			default:
				if (strchr(ignored_flags, ch) != NULL) {
					optname(name, sizeof name, ch);
					if (add_ignored(c, name, NULL, 0, e) < 0)
						return -1;
					continue;
				}
				if (strchr(ignored_glued, ch) != NULL) {
					if (add_ignored(c, "-", arg + j, 0, e) < 0)
						return -1;
					break;
				}
				/* An unknown letter may take a glued value we
				 * do not know about, so the rest of the word
				 * goes with it rather than being read as
				 * flags (a stray 't' would change delivery). */
				if (add_unknown(c, "-", arg + j, 0, e) < 0)
					return -1;
				break;
			}
			break;  /* the cases that consumed the rest */
		}
	}
	return check_combinations(c, e);
}

int
cli_check_full_name(const char *full_name, struct err *e)
{
	if (full_name && strlen(full_name) > MSG_FULL_NAME_MAX)
		return err_set(e, EX_USAGE, "the full name given with -F is longer than %d "
		    "octets", MSG_FULL_NAME_MAX);
	if (full_name && has_control(full_name))
		return err_set(e, EX_USAGE, "the full name given with -F contains a control "
		    "character");
	return 0;
}

void
cli_free(struct cli *c)
{
	for (size_t i = 0; i < c->nignored; i++)
		free(c->ignored[i]);
	free(c->ignored);
	for (size_t i = 0; i < c->nunknown; i++)
		free(c->unknown[i]);
	free(c->unknown);
	free(c->rcpts);
	free(c->settings);
	c->settings = NULL;
	c->nsettings = 0;
	c->ignored = c->unknown = NULL;
	c->rcpts = NULL;
	c->nignored = c->nunknown = c->nrcpts = 0;
}

void
cli_usage(FILE *out)
{
	static const char *const lines[] = {
		"usage: envoi [options] [--] [recipient ...]",
		"       mailq | newaliases | envoi -q",
		"",
		"Delivery:",
		"  -t, --read-recipients  also take recipients from To/Cc/Bcc (or the first Resent- block)",
		"  -i, -oi                a line with a single dot does not end the message",
		"  -f ADDR, -r ADDR, --from=ADDR",
		"                         envelope sender; -f '<>' or -f '' is the null sender",
		"  -F NAME                display name for a From header envoi writes",
		"  -C FILE, --file=FILE   configuration file instead of the user's",
		"  -a NAME, --account=NAME",
		"                         use this account of the configuration",
		"  -N LIST                DSN notify: never, or success,delay,failure",
		"  -R RET                 DSN return: hdrs or full",
		"  -V ENVID               DSN envelope id",
		"  -B TYPE                body type: 7BIT or 8BITMIME (other values are ignored)",
		"  -O SMTPUTF8=yes|no     always (when offered) / never request SMTPUTF8",
		"  -O REQUIRETLS=yes      RFC 8689: only over verified TLS to a REQUIRETLS server",
		"  -L TAG                 syslog tag",
		"  -odi, -odb, -odq, -odd delivery mode: interactive (default), background, queue only",
		"  -oep, -oew             errors: one line on stderr and the exit code (the default)",
		"  -oem                   ... and a bounce mailed to the sender when refused for good",
		"  -oee                   ... the same, but exit 0 once the bounce is queued",
		"  -oeq                   errors: the exit code only",
		"  -v, --debug, -d        print the SMTP transcript on stderr (AUTH redacted)",
		"  --                     end of options; the rest are recipients",
		"",
		"Modes:",
		"  -bm                    deliver a message (the default)",
		"  -bp, -bP, mailq, --queue  list the queue",
		"  -q[ARG]                run the queue now: -q, -q30m, -qf, --flush every entry,",
		"                         -qISUBSTR by id, -qRSUBSTR by recipient, -qSSUBSTR by sender",
		"  --retry                run the entries whose retry time has come (timers use it)",
		"  --rmqueue ID|all       remove queued (and failed) entries",
		"  --oauth2-login [ACCOUNT]  log in once to the account's OAuth 2.0 provider",
		"  -bi, -I, newaliases    check the aliases file and count its entries",
		"  -bs                    speak SMTP on stdin and stdout",
		"  -bv                    verify recipients",
		"  -bd -bD -bh -bH -bt -ba -bl",
		"                         accepted; they do nothing",
		"  --version, --help      print the version or this text",
		"",
		"Accepted and ignored, so no caller breaks (listed with -v):",
		"  -A X, -e X, -h N, -p PROTO, -O OPT=VAL and -o OPT (other than the above),",
		"  -G, -U, -m, -n, -s, -x, -c, -dX.Y, -MXvalue, -Q[REASON],",
		"  -X FILE, -D FILE (sendmail's traffic and debug logs: never written)",
		"Any other option letter is accepted too, with a warning in the log (and",
		"on stderr when it is a terminal): rejecting options loses cron mail.",
		"Unknown --long options are errors: only envoi's own users type those.",
		"",
		"msmtp's options (envoi(1), \"msmtp compatibility\"): called as msmtp, the",
		"input is read to its end, -X FILE is --logfile and -d is --debug.",
		"  --host=HOST            no configuration file: the account is these options",
		"  --configure=ADDR       print a configuration template for ADDR",
		"  --serverinfo, -P/--pretend  show the server, or the configuration and envelope",
		"  --read-envelope-from   envelope sender (and account) from the From header",
		"  --dsn-notify=LIST, --dsn-return=RET  as -N and -R (also: off, headers)",
		"  Each overrides its configuration directive (--tls-trust-file is tls_trust_file):",
		"  --port --timeout --connect-timeout --protocol --domain --auth[=on|off|METHOD]",
		"  --user --passwordeval --tls[=on|off] --tls-starttls[=on|off] --tls-trust-file",
		"  --tls-crl-file --tls-fingerprint --tls-key-file --tls-cert-file",
		"  --tls-certcheck[=on|off] --tls-priorities --tls-host-override",
		"  --tls-min-dh-prime-bits --tls-force-sslv3 --logfile --logfile-time-format",
		"  --syslog[=on|off|FACILITY] --aliases --source-ip --set-from-header[=auto|on|off]",
		"  --set-date-header --set-msgid-header --set-to-header --remove-bcc-headers",
		"  --auto-from --maildomain --undisclosed-recipients --keepbcc",
		"  --add-missing-from-header --add-missing-date-header",
		"  [=VALUE] options take their value only after \"=\"; the others also as a",
		"  separate word. With settings that change delivery, nothing is queued: a",
		"  temporary failure exits 75, as msmtp does.",
		"  Refused: --password (use --passwordeval), --proxy-host, --proxy-port, --socket,",
		"  --host with -a, --read-envelope-from with -f.",
	};

	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
		fprintf(out, "%s\n", lines[i]);
}

/*
 * Well-known providers' submission servers, for --configure. A table and
 * not DNS (RFC 6186 SRV records, which msmtp asks for): few providers
 * publish them, and an answer that arrives over unauthenticated DNS
 * would decide where a password goes.
 */
static const struct provider {
	const char *domains;    /* blank-separated */
	const char *name;
	const char *host;
	int port;               /* 465: implicit TLS; else STARTTLS */
	const char *note;       /* NULL or one comment line */
} providers[] = {
	{ "gmail.com googlemail.com", "Gmail", "smtp.gmail.com", 587,
	  "Gmail takes an app password (Google account, Security) or OAuth" },
	{ "outlook.com hotmail.com live.com msn.com", "Outlook.com",
	  "smtp-mail.outlook.com", 587, NULL },
	{ "yahoo.com ymail.com", "Yahoo", "smtp.mail.yahoo.com", 465,
	  "Yahoo takes an app password (Account security)" },
	{ "aol.com", "AOL", "smtp.aol.com", 465, NULL },
	{ "icloud.com me.com mac.com", "iCloud", "smtp.mail.me.com", 587,
	  "iCloud takes an app-specific password (appleid.apple.com)" },
	{ "gmx.de gmx.net gmx.at gmx.ch", "GMX", "mail.gmx.net", 587, NULL },
	{ "gmx.com", "GMX", "mail.gmx.com", 587, NULL },
	{ "web.de", "WEB.DE", "smtp.web.de", 587, NULL },
	{ "fastmail.com fastmail.fm", "Fastmail", "smtp.fastmail.com", 465,
	  "Fastmail takes an app password (Settings, Privacy & Security)" },
	{ "posteo.de posteo.net", "Posteo", "posteo.de", 587, NULL },
	{ "mailbox.org", "mailbox.org", "smtp.mailbox.org", 465, NULL },
	{ "zoho.com", "Zoho", "smtp.zoho.com", 465, NULL },
	{ "yandex.ru yandex.com", "Yandex", "smtp.yandex.com", 465, NULL },
	{ "mail.ru", "Mail.ru", "smtp.mail.ru", 465, NULL },
	{ "t-online.de", "Telekom", "securesmtp.t-online.de", 465, NULL },
	{ "riseup.net", "Riseup", "mail.riseup.net", 465, NULL },
	{ "disroot.org", "Disroot", "disroot.org", 587, NULL },
};

static const struct provider *
provider_of(const char *domain)
{
	size_t n = strlen(domain);

	for (size_t i = 0; i < sizeof providers / sizeof providers[0]; i++)
		for (const char *d = providers[i].domains; *d;) {
			size_t len = strcspn(d, " ");

			if (len == n && strncasecmp(d, domain, n) == 0)
				return &providers[i];
			d += len + (d[len] == ' ');
		}
	return NULL;
}

int
cli_configure(FILE *out, const char *addr, struct err *e)
{
	const char *at = strrchr(addr, '@');
	const struct provider *p;

	/* It goes into a file unquoted and is a user and account name. */
	if (at == NULL || at == addr || at[1] == '\0' ||
	    addr[strcspn(addr, " \t\"\\:,#")] != '\0' || has_control(addr))
		return err_set(e, EX_USAGE, "--configure needs a mail address "
		    "(user@example.org), not \"%.80s\"", addr);
	p = provider_of(at + 1);
	fprintf(out, "# envoi configuration for %s (envoi --configure)\n", addr);
	fprintf(out, "# Copy it to ~/.config/envoi/config (or ~/.msmtprc) and "
	    "give the password\n# command; the file then holds no secret.\n");
	if (p == NULL)
		fprintf(out, "# envoi does not know the provider of %s: put its "
		    "submission server\n# below (its documentation names it; "
		    "port 465 means implicit TLS).\n", at + 1);
	else if (p->note)
		fprintf(out, "# %s\n", p->note);
	fprintf(out, "account %s\n", addr);
	fprintf(out, "host %s%s\nport %d\n", p ? "" : "smtp.",
	    p ? p->host : at + 1, p ? p->port : 587);
	fprintf(out, "tls on\ntls_starttls %s\nauth on\nuser %s\nfrom %s\n",
	    p && p->port == 465 ? "off" : "on", addr, addr);
	fprintf(out, "passwordeval \"secret-tool lookup host %s%s user %s\"\n",
	    p ? "" : "smtp.", p ? p->host : at + 1, addr);
	fprintf(out, "\naccount default : %s\n", addr);
	return 0;
}
