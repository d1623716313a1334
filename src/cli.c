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
		/* envelope.c holds RFC 3461's rules; only the words are ours. */
		if (envelope_notify_parse(v, &c->opts.notify) < 0)
			return err_set(e, EX_USAGE, "the DSN notify value given with -N (\"%.40s\") "
			    "is not NEVER or a list of SUCCESS, FAILURE and DELAY (RFC 3461)", v);
		return 0;
	case 'R':
		if (check_line("the DSN return value given with -R", v, e) < 0)
			return -1;
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
	default:
		/* X D h p A e: accepted, never honoured. -X and -D name
		 * files sendmail would write the traffic or debug output
		 * to. */
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

/*
 * A long option; *i may advance when the value is the next word.
 * Returns 0 or -1.
 */
static int
parse_long_opt(struct cli *c, int argc, char **argv, int *i, struct err *e)
{
	static const struct {
		const char *name;
		char letter;    /* the short option it equals; 0 = special */
		int has_arg;
	} longs[] = {
		{ "account", 'a', 1 },
		{ "file", 'C', 1 },
		{ "from", 'f', 1 },
		{ "read-recipients", 't', 0 },
		{ "debug", 'v', 0 },
		{ "version", 0, 0 },
		{ "help", 0, 0 },
		{ "queue", 0, 0 },      /* = -bp */
		{ "flush", 0, 0 },      /* = -qf */
		{ "retry", 0, 0 },      /* -q honouring the backoff */
		{ "rmqueue", 0, 1 },
		{ "serverinfo", 0, 0 },
		{ "pretend", 'P', 0 },
	};
	const char *arg = argv[*i] + 2, *eq = strchr(arg, '=');
	size_t n = eq ? (size_t)(eq - arg) : strlen(arg);

	for (size_t k = 0; k < sizeof longs / sizeof longs[0]; k++) {
		const char *v;

		if (strlen(longs[k].name) != n ||
		    strncmp(longs[k].name, arg, n) != 0)
			continue;
		if (!longs[k].has_arg) {
			if (eq)
				return err_set(e, EX_USAGE, "option --%s takes "
				    "no argument", longs[k].name);
			if (strcmp(longs[k].name, "version") == 0)
				set_mode(c, CLI_VERSION);
			else if (strcmp(longs[k].name, "queue") == 0)
				set_mode(c, CLI_LIST_QUEUE);
			else if (strcmp(longs[k].name, "flush") == 0) {
				set_mode(c, CLI_RUN_QUEUE);
				c->queue_arg = "f";
			} else if (strcmp(longs[k].name, "retry") == 0) {
				set_mode(c, CLI_RUN_QUEUE);
				c->queue_arg = "";
				c->retry_due = 1;
			}
			else if (strcmp(longs[k].name, "help") == 0)
				set_mode(c, CLI_HELP);
			else if (strcmp(longs[k].name, "serverinfo") == 0)
				set_mode(c, CLI_SERVERINFO);
			else if (longs[k].letter == 'P')
				c->pretend = 1;
			else if (longs[k].letter == 't')
				c->read_recipients = 1;
			else
				c->verbose++;
			return 0;
		}
		if (eq) {
			v = eq + 1;
		} else {
			if (*i + 1 >= argc)
				return err_set(e, EX_USAGE, "option --%s needs "
				    "an argument", longs[k].name);
			v = argv[++*i];
		}
		if (longs[k].letter == 'f')
			return set_from(c, "--from", v, e);
		if (longs[k].letter == 0) {     /* --rmqueue */
			set_mode(c, CLI_REMOVE);
			c->rmqueue_arg = v;
			return 0;
		}
		return apply_arg(c, longs[k].letter, v, 0, e);
	}
	return err_set(e, EX_USAGE, "unknown option --%.*s (see --help)",
	    (int)(n > 64 ? 64 : n), arg);
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
				 * -dX.Y debug flags are ignored. */
				if (*rest == '\0')
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
	return cli_check_full_name(c->full_name, e);
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
	};

	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
		fprintf(out, "%s\n", lines[i]);
}
