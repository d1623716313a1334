/*
 * Unit tests for src/cli.c: every real caller's argv from
 * shared/reference/sendmail-interface.md section 2, bundling, glued and
 * separate arguments, the ignored list, and the EX_USAGE cases; msmtp's
 * long options (msmtp-format.md 1.2) in both value forms, what each sets
 * on an account through conf_select_cli, msmtp mode, and the refusals.
 */
#include "config.h"

#include <stdlib.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "err.h"
#include "tap.h"

#define MAXARGS 24

/* The limits: RFC 3461 4.4's 100 octets of ENVID, message.h's
 * MSG_FULL_NAME_MAX (256) for -F. */
#define X10 "0123456789"
#define ENVID100 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10
#define NAME256 ENVID100 ENVID100 X10 X10 X10 X10 X10 "abcdef"

/* Expected values; zero/NULL fields mean the parser's default, except
 * where the field is named for the non-default (no_dot, dmode). */
struct want {
	int ex;                     /* 0 = cli_parse succeeds */
	enum cli_mode mode;
	int t, no_dot, verbose;
	const char *from, *full_name, *account, *config, *body;
	const char *notify, *ret, *envid, *tag, *queue;
	char dmode;                 /* 0 = 'i' */
	char emode;
	size_t nrcpts;
	const char *rcpt[3];
	size_t nignored;
	const char *ign[3];
	size_t nunknown;            /* options sendmail does not have either */
	const char *unk[2];
	const char *msg_has;        /* substring of the error message */
};

/* The delivery options cli_parse stored, against the wanted text. */
static int
same_opts(const struct envelope *got, const struct want *w)
{
	struct envelope x;

	envelope_init(&x);
	if (w->notify)
		envelope_notify_parse(w->notify, &x.notify);
	if (w->ret)
		envelope_ret_parse(w->ret, &x.ret);
	if (w->envid)
		envelope_set_envid(&x, w->envid);
	return got->notify == x.notify && got->ret == x.ret && strcmp(got->envid, x.envid) == 0;
}

static const struct {
	const char *name;
	const char *argv[MAXARGS];
	struct want w;
} cases[] = {
	/* ---- real callers (section 2) ---- */
	{ "Debian cron", { "/usr/sbin/sendmail", "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root" },
	  { .full_name = "CronDaemon", .no_dot = 1, .body = "8BITMIME", .emode = 'm',
	    .nrcpts = 1, .rcpt = { "root" } } },
	{ "Debian cron, older order", { "sendmail", "-i", "-FCronDaemon", "-B8BITMIME", "-oem", "bob" },
	  { .full_name = "CronDaemon", .no_dot = 1, .body = "8BITMIME", .emode = 'm',
	    .nrcpts = 1, .rcpt = { "bob" } } },
	{ "cronie", { "sendmail", "-FCronDaemon", "-i", "-odi", "-oem", "-oi", "-t", "-f", "root" },
	  { .full_name = "CronDaemon", .no_dot = 1, .t = 1, .emode = 'm', .dmode = 'i', .from = "root" } },
	{ "vixie cron", { "sendmail", "-FCronDaemon", "-odi", "-oem", "-oi", "-t" },
	  { .full_name = "CronDaemon", .no_dot = 1, .t = 1, .emode = 'm' } },
	{ "busybox crond", { "sendmail", "-ti" }, { .t = 1, .no_dot = 1 } },
	{ "busybox crond, old", { "sendmail", "-t", "-oem", "-i" }, { .t = 1, .no_dot = 1, .emode = 'm' } },
	{ "dma -it", { "sendmail", "-it" }, { .t = 1, .no_dot = 1 } },
	{ "systemd-cron split -B", { "/usr/lib/sendmail", "-i", "-B", "8BITMIME", "alice" },
	  { .no_dot = 1, .body = "8BITMIME", .nrcpts = 1, .rcpt = { "alice" } } },
	{ "bsd-mailx", { "sendmail", "-i", "-t" }, { .t = 1, .no_dot = 1 } },
	{ "bsd-mailx -r", { "sendmail", "-i", "-t", "-f", "me@example.org" },
	  { .t = 1, .no_dot = 1, .from = "me@example.org" } },
	{ "mailutils", { "sendmail", "-oi", "-f", "root@awkward", "-t" },
	  { .t = 1, .no_dot = 1, .from = "root@awkward" } },
	{ "s-nail", { "sendmail", "-i", "-m", "-v", "-f", "a@b", "--", "x@y", "-weird@z" },
	  { .no_dot = 1, .verbose = 1, .from = "a@b", .nrcpts = 2, .rcpt = { "x@y", "-weird@z" },
	    .nignored = 1, .ign = { "-m" } } },
	{ "mutt", { "/usr/sbin/sendmail", "-oem", "-oi", "-B8BITMIME", "-f", "me@x", "-N",
	    "failure,delay", "-R", "hdrs", "--", "to@x", "cc@y", "bcc@z" },
	  { .emode = 'm', .no_dot = 1, .body = "8BITMIME", .from = "me@x",
	    .notify = "failure,delay", .ret = "hdrs", .nrcpts = 3,
	    .rcpt = { "to@x", "cc@y", "bcc@z" } } },
	{ "alpine -bs", { "sendmail", "-bs", "-odb", "-oem" },
	  { .mode = CLI_SMTP_STDIO, .dmode = 'b', .emode = 'm' } },
	{ "git send-email", { "sendmail", "-i", "a@x", "b@y" },
	  { .no_dot = 1, .nrcpts = 2, .rcpt = { "a@x", "b@y" } } },
	{ "git send-email with envelope sender", { "sendmail", "-f", "me@x", "-i", "a@x" },
	  { .no_dot = 1, .from = "me@x", .nrcpts = 1, .rcpt = { "a@x" } } },
	{ "PHP mail() with 5th argument", { "sendmail", "-t", "-i", "-fbounce@x" },
	  { .t = 1, .no_dot = 1, .from = "bounce@x" } },
	{ "PHPMailer", { "sendmail", "-oi", "-fsender@x", "-t" },
	  { .t = 1, .no_dot = 1, .from = "sender@x" } },
	{ "Ruby mail gem", { "sendmail", "-i", "-f", "app@x", "--", "u@y" },
	  { .no_dot = 1, .from = "app@x", .nrcpts = 1, .rcpt = { "u@y" } } },
	{ "Ruby mail gem, old", { "sendmail", "-i", "-t", "-f", "app@x", "u@y" },
	  { .t = 1, .no_dot = 1, .from = "app@x", .nrcpts = 1, .rcpt = { "u@y" } } },
	{ "sudo", { "/usr/sbin/sendmail", "-t" }, { .t = 1 } },
	{ "logwatch / mdadm", { "/usr/lib/sendmail", "-t" }, { .t = 1 } },
	{ "unattended-upgrades", { "sendmail", "-oi", "-t" }, { .t = 1, .no_dot = 1 } },
	{ "fail2ban", { "sendmail", "-f", "fail2ban@host", "root@host" },
	  { .from = "fail2ban@host", .nrcpts = 1, .rcpt = { "root@host" } } },
	{ "atd", { "sendmail", "-i", "jobowner" },
	  { .no_dot = 1, .nrcpts = 1, .rcpt = { "jobowner" } } },
	{ "atd, old", { "sendmail", "jobowner" }, { .nrcpts = 1, .rcpt = { "jobowner" } } },
	{ "send-mail name", { "/usr/sbin/send-mail", "-t" }, { .t = 1 } },

	/* ---- argv[0] ---- */
	{ "mailq", { "/usr/bin/mailq" }, { .mode = CLI_LIST_QUEUE } },
	{ "mailq -v", { "mailq", "-v" }, { .mode = CLI_LIST_QUEUE, .verbose = 1 } },
	{ "newaliases", { "/usr/bin/newaliases" }, { .mode = CLI_NEWALIASES } },
	{ "sendmail named envoi", { "envoi", "x@y" }, { .nrcpts = 1, .rcpt = { "x@y" } } },

	/* ---- modes ---- */
	{ "-bp", { "sendmail", "-bp" }, { .mode = CLI_LIST_QUEUE } },
	{ "-bi", { "sendmail", "-bi" }, { .mode = CLI_NEWALIASES } },
	{ "-I", { "sendmail", "-I" }, { .mode = CLI_NEWALIASES } },
	{ "-bv", { "sendmail", "-bv", "x@y" }, { .mode = CLI_VERIFY, .nrcpts = 1, .rcpt = { "x@y" } } },
	{ "-bm", { "sendmail", "-bm", "x@y" }, { .nrcpts = 1, .rcpt = { "x@y" } } },
	{ "-b m separate", { "sendmail", "-b", "p" }, { .mode = CLI_LIST_QUEUE } },
	{ "-bd", { "sendmail", "-bd" }, { .mode = CLI_NOOP } },
	{ "-bD", { "sendmail", "-bD" }, { .mode = CLI_NOOP } },
	{ "-bh", { "sendmail", "-bh" }, { .mode = CLI_NOOP } },
	{ "-bH", { "sendmail", "-bH" }, { .mode = CLI_NOOP } },
	{ "-bt", { "sendmail", "-bt" }, { .mode = CLI_NOOP } },
	{ "-ba", { "sendmail", "-ba" }, { .mode = CLI_NOOP } },
	{ "-bl", { "sendmail", "-bl" }, { .mode = CLI_NOOP } },
	{ "-bz unknown", { "sendmail", "-bz", "x" },
	  { .nrcpts = 1, .rcpt = { "x" }, .nunknown = 1, .unk = { "-bz" } } },
	{ "-bP queue statistics", { "sendmail", "-bP" }, { .mode = CLI_LIST_QUEUE } },
	{ "-b d separate", { "sendmail", "-b", "d" }, { .mode = CLI_NOOP } },
	{ "-q", { "sendmail", "-q" }, { .mode = CLI_RUN_QUEUE, .queue = "" } },
	{ "-q30m", { "sendmail", "-q30m" }, { .mode = CLI_RUN_QUEUE, .queue = "30m" } },
	{ "-qf", { "sendmail", "-qf" }, { .mode = CLI_RUN_QUEUE, .queue = "f" } },
	{ "--flush", { "envoi", "--flush" }, { .mode = CLI_RUN_QUEUE, .queue = "f" } },
	{ "--queue", { "envoi", "--queue" }, { .mode = CLI_LIST_QUEUE } },
	{ "--rmqueue ID", { "envoi", "--rmqueue", "20261123aabbccdd" },
	  { .mode = CLI_REMOVE, .queue = "20261123aabbccdd" } },
	{ "--rmqueue=all", { "envoi", "--rmqueue=all" }, { .mode = CLI_REMOVE, .queue = "all" } },
	{ "--rmqueue without an argument", { "envoi", "--rmqueue" }, { .ex = EX_USAGE, .msg_has = "rmqueue" } },
	{ "-qRsite", { "sendmail", "-qRexample.org" }, { .mode = CLI_RUN_QUEUE, .queue = "Rexample.org" } },
	{ "-qSsite", { "sendmail", "-qSfoo" }, { .mode = CLI_RUN_QUEUE, .queue = "Sfoo" } },
	{ "-qIid", { "sendmail", "-qIABC123" }, { .mode = CLI_RUN_QUEUE, .queue = "IABC123" } },
	{ "-v -q", { "sendmail", "-v", "-q" }, { .mode = CLI_RUN_QUEUE, .queue = "", .verbose = 1 } },
	{ "--version", { "sendmail", "--version" }, { .mode = CLI_VERSION } },
	{ "--help", { "sendmail", "--help" }, { .mode = CLI_HELP } },
	{ "--help wins over -bp", { "sendmail", "--help", "-bp" }, { .mode = CLI_HELP } },

	/* ---- glued, separate, bundled ---- */
	{ "-f separate", { "s", "-f", "a@b" }, { .from = "a@b" } },
	{ "-r", { "s", "-r", "a@b" }, { .from = "a@b" } },
	{ "-r glued", { "s", "-ra@b" }, { .from = "a@b" } },
	{ "-f <>", { "s", "-f", "<>" }, { .from = "" } },
	{ "-f empty", { "s", "-f", "" }, { .from = "" } },
	{ "-f<> glued", { "s", "-f<>" }, { .from = "" } },
	{ "last -f wins", { "s", "-fa@b", "-f", "c@d" }, { .from = "c@d" } },
	{ "-F separate", { "s", "-F", "Cron Daemon" }, { .full_name = "Cron Daemon" } },
	{ "bundle ending in an argument letter", { "s", "-tif", "a@b" },
	  { .t = 1, .no_dot = 1, .from = "a@b" } },
	{ "bundle with glued value", { "s", "-tfa@b" }, { .t = 1, .from = "a@b" } },
	{ "-vvv", { "s", "-vvv" }, { .verbose = 3 } },
	{ "-v -v", { "s", "-v", "--debug" }, { .verbose = 2 } },
	{ "bare -d is debug", { "s", "-d" }, { .verbose = 1 } },
	{ "-d0.1 ignored", { "s", "-d0.1" }, { .nignored = 1, .ign = { "-d0.1" } } },
	{ "-C and -a", { "s", "-C", "/tmp/rc", "-awork" }, { .config = "/tmp/rc", .account = "work" } },
	{ "-Cfile glued", { "s", "-C/tmp/rc" }, { .config = "/tmp/rc" } },
	{ "-N -R -V", { "s", "-Nnever", "-Rfull", "-V", "envid1" },
	  { .notify = "never", .ret = "full", .envid = "envid1" } },
	{ "-L tag", { "s", "-L", "mytag" }, { .tag = "mytag" } },
	{ "-Ltag glued", { "s", "-Lmytag" }, { .tag = "mytag" } },
	{ "-B any value", { "s", "-BBINARYMIME" }, { .body = "BINARYMIME" } },
	{ "-odb", { "s", "-odb" }, { .dmode = 'b' } },
	{ "-odq", { "s", "-odq" }, { .dmode = 'q' } },
	{ "-odd is queue", { "s", "-odd" }, { .dmode = 'q' } },
	{ "-od i separate", { "s", "-o", "di" }, { .dmode = 'i' } },
	{ "-o i separate", { "s", "-o", "i" }, { .no_dot = 1 } },
	{ "-oep", { "s", "-oep" }, { .emode = 'p' } },
	{ "-oeq", { "s", "-oeq" }, { .emode = 'q' } },
	{ "-oew", { "s", "-oew" }, { .emode = 'w' } },
	{ "-oee", { "s", "-oee" }, { .emode = 'e' } },
	{ "recipients mixed with options", { "s", "a@x", "-t", "b@y" },
	  { .t = 1, .nrcpts = 2, .rcpt = { "a@x", "b@y" } } },
	{ "-- keeps later options as recipients", { "s", "--", "-t", "-fx" },
	  { .nrcpts = 2, .rcpt = { "-t", "-fx" } } },
	{ "lone dash is a recipient", { "s", "-" }, { .nrcpts = 1, .rcpt = { "-" } } },
	{ "--account=X", { "s", "--account=work" }, { .account = "work" } },
	{ "--account X", { "s", "--account", "work" }, { .account = "work" } },
	{ "--file=X", { "s", "--file=/etc/x" }, { .config = "/etc/x" } },
	{ "--from=X", { "s", "--from=a@b" }, { .from = "a@b" } },
	{ "--from=<>", { "s", "--from=<>" }, { .from = "" } },
	{ "--read-recipients", { "s", "--read-recipients" }, { .t = 1 } },

	/* ---- Postfix sendmail(1), option by option, as callers write them ---- */
	{ "-Am", { "sendmail", "-Am", "a@b" },
	  { .nrcpts = 1, .rcpt = { "a@b" }, .nignored = 1, .ign = { "-Am" } } },
	{ "-A m separate", { "sendmail", "-A", "m", "a@b" },
	  { .nrcpts = 1, .rcpt = { "a@b" }, .nignored = 1, .ign = { "-A m" } } },
	{ "-Ac", { "sendmail", "-Ac" }, { .nignored = 1, .ign = { "-Ac" } } },
	{ "-B 7BIT", { "sendmail", "-B", "7BIT", "a@b" },
	  { .body = "7BIT", .nrcpts = 1, .rcpt = { "a@b" } } },
	{ "-G", { "sendmail", "-G", "a@b" },
	  { .nrcpts = 1, .rcpt = { "a@b" }, .nignored = 1, .ign = { "-G" } } },
	{ "-L tag, separate", { "sendmail", "-L", "cron-mail", "a@b" },
	  { .tag = "cron-mail", .nrcpts = 1, .rcpt = { "a@b" } } },
	{ "-N never", { "sendmail", "-N", "never", "a@b" },
	  { .notify = "never", .nrcpts = 1, .rcpt = { "a@b" } } },
	{ "-N success,delay,failure", { "sendmail", "-Nsuccess,delay,failure" },
	  { .notify = "success,delay,failure" } },
	{ "-R hdrs", { "sendmail", "-R", "hdrs", "a@b" },
	  { .ret = "hdrs", .nrcpts = 1, .rcpt = { "a@b" } } },
	{ "-U", { "sendmail", "-U", "a@b" },
	  { .nrcpts = 1, .rcpt = { "a@b" }, .nignored = 1, .ign = { "-U" } } },
	{ "-V envid", { "sendmail", "-V", "envid-42", "a@b" },
	  { .envid = "envid-42", .nrcpts = 1, .rcpt = { "a@b" } } },
	{ "-XV (Postfix VERP)", { "sendmail", "-XV", "a@b" },
	  { .nrcpts = 1, .rcpt = { "a@b" }, .nignored = 1, .ign = { "-XV" } } },
	{ "-X file", { "sendmail", "-X", "/tmp/traffic.log", "a@b" },
	  { .nrcpts = 1, .rcpt = { "a@b" }, .nignored = 1, .ign = { "-X /tmp/traffic.log" } } },
	{ "-bd -bh -bt: the last mode wins", { "sendmail", "-bd", "-bh", "-bt" }, { .mode = CLI_NOOP } },
	{ "-bs", { "sendmail", "-bs" }, { .mode = CLI_SMTP_STDIO } },
	{ "-h 5", { "sendmail", "-h", "5", "a@b" },
	  { .nrcpts = 1, .rcpt = { "a@b" }, .nignored = 1, .ign = { "-h 5" } } },
	{ "-h5 glued", { "sendmail", "-h5" }, { .nignored = 1, .ign = { "-h5" } } },
	{ "-n -m", { "sendmail", "-n", "-m", "a@b" },
	  { .nrcpts = 1, .rcpt = { "a@b" }, .nignored = 2, .ign = { "-n", "-m" } } },
	{ "-oA/etc/aliases", { "sendmail", "-oA/etc/aliases" },
	  { .nignored = 1, .ign = { "-oA/etc/aliases" } } },
	{ "-O x=y", { "sendmail", "-O", "QueueSortOrder=host", "a@b" },
	  { .nrcpts = 1, .rcpt = { "a@b" }, .nignored = 1, .ign = { "-O QueueSortOrder=host" } } },
	{ "-p proto glued", { "sendmail", "-pesmtp:client" }, { .nignored = 1, .ign = { "-pesmtp:client" } } },
	{ "-q30m interval", { "sendmail", "-bd", "-q30m" }, { .mode = CLI_RUN_QUEUE, .queue = "30m" } },
	{ "-I", { "sendmail", "-I" }, { .mode = CLI_NEWALIASES } },

	/* ---- accepted and ignored ---- */
	{ "-X FILE never honoured", { "s", "-X", "/var/www/shell.php", "a@b" },
	  { .nrcpts = 1, .rcpt = { "a@b" }, .nignored = 1, .ign = { "-X /var/www/shell.php" } } },
	{ "-Xfile glued", { "s", "-X/tmp/log" }, { .nignored = 1, .ign = { "-X/tmp/log" } } },
	{ "-h N", { "s", "-h", "5" }, { .nignored = 1, .ign = { "-h 5" } } },
	{ "-p proto", { "s", "-p", "smtp" }, { .nignored = 1, .ign = { "-p smtp" } } },
	{ "-O x=y", { "s", "-O", "DeliveryMode=b" }, { .nignored = 1, .ign = { "-O DeliveryMode=b" } } },
	{ "-o x=y", { "s", "-o", "x=y" }, { .nignored = 1, .ign = { "-o x=y" } } },
	{ "-om", { "s", "-om" }, { .nignored = 1, .ign = { "-om" } } },
	{ "-o7 -o8", { "s", "-o7", "-o8" }, { .nignored = 2, .ign = { "-o7", "-o8" } } },
	{ "-odx unknown delivery", { "s", "-odx" }, { .nignored = 1, .ign = { "-odx" } } },
	{ "-Am", { "s", "-Am" }, { .nignored = 1, .ign = { "-Am" } } },
	{ "-G -U -n -x -c", { "s", "-GU", "-n", "-xc" },
	  { .nignored = 5, .ign = { "-G", "-U", "-n" } } },
	{ "unknown letter keeps the rest of its word", { "s", "-Zti", "a@b" },
	  { .nrcpts = 1, .rcpt = { "a@b" }, .nunknown = 1, .unk = { "-Zti" } } },
	{ "unknown letters and ignored ones apart", { "s", "-m", "-W", "-h", "3", "-y1", "a@b" },
	  { .nrcpts = 1, .rcpt = { "a@b" }, .nignored = 2, .ign = { "-m", "-h 3" },
	    .nunknown = 2, .unk = { "-W", "-y1" } } },
	{ "digit option is unknown", { "s", "-9", "a@b" },
	  { .nrcpts = 1, .rcpt = { "a@b" }, .nunknown = 1, .unk = { "-9" } } },
	{ "-D FILE never written", { "s", "-D", "/tmp/debug", "a@b" },
	  { .nrcpts = 1, .rcpt = { "a@b" }, .nignored = 1, .ign = { "-D /tmp/debug" } } },
	{ "-Q quarantine, -s", { "s", "-Qreason", "-s" },
	  { .nignored = 2, .ign = { "-Qreason", "-s" } } },
	{ "-MXvalue", { "s", "-Mrfoo" }, { .nignored = 1, .ign = { "-Mrfoo" } } },
	{ "-ex", { "s", "-eq", "a@b" }, { .nrcpts = 1, .rcpt = { "a@b" }, .nignored = 1, .ign = { "-eq" } } },

	/* ---- errors ---- */
	{ "-f at the end", { "s", "-t", "-f" }, { .ex = EX_USAGE, .msg_has = "-f needs an argument" } },
	{ "-F at the end", { "s", "-F" }, { .ex = EX_USAGE, .msg_has = "-F" } },
	{ "-B at the end", { "s", "-i", "-B" }, { .ex = EX_USAGE, .msg_has = "-B" } },
	{ "-o at the end", { "s", "-o" }, { .ex = EX_USAGE, .msg_has = "-o" } },
	{ "-X at the end", { "s", "-X" }, { .ex = EX_USAGE, .msg_has = "-X" } },
	{ "--from at the end", { "s", "--from" }, { .ex = EX_USAGE, .msg_has = "--from" } },
	{ "unknown long option", { "s", "--frobnicate" }, { .ex = EX_USAGE, .msg_has = "--frobnicate" } },
	{ "--help=x", { "s", "--help=x" }, { .ex = EX_USAGE, .msg_has = "no argument" } },
	{ "LF in -f", { "s", "-f", "a@b\nRCPT TO:<x@y>" }, { .ex = EX_USAGE, .msg_has = "control character" } },
	{ "CR in glued -f", { "s", "-fa@b\r" }, { .ex = EX_USAGE, .msg_has = "-f" } },
	{ "LF in -r", { "s", "-r", "a\n" }, { .ex = EX_USAGE, .msg_has = "-r" } },
	{ "LF in --from", { "s", "--from=a\n" }, { .ex = EX_USAGE, .msg_has = "--from" } },
	{ "LF in -F", { "s", "-FCron\nBcc: victim@x" }, { .ex = EX_USAGE, .msg_has = "-F" } },
	{ "tab in -F", { "s", "-F", "a\tb" }, { .ex = EX_USAGE, .msg_has = "-F" } },
	{ "CR in a recipient", { "s", "a@b\r\nDATA" }, { .ex = EX_USAGE, .msg_has = "recipient" } },
	{ "LF in a recipient after --", { "s", "--", "a@b\n" }, { .ex = EX_USAGE, .msg_has = "recipient" } },
	{ "DEL in a recipient", { "s", "a@b\x7f" }, { .ex = EX_USAGE, .msg_has = "recipient" } },
	{ "LF in -N", { "s", "-N", "never\nQUIT" }, { .ex = EX_USAGE, .msg_has = "-N" } },
	{ "LF in -B", { "s", "-B8BIT\n" }, { .ex = EX_USAGE, .msg_has = "-B" } },

	/* ---- DSN values (RFC 3461) and -F: refused here, as the maildrop
	 * pickup refuses them in a drop file (envelope.h, cli_check_full_name) ---- */
	{ "-N bogus", { "s", "-N", "sometimes", "a@b" }, { .ex = EX_USAGE, .msg_has = "-N" } },
	{ "-N empty", { "s", "-N", "", "a@b" }, { .ex = EX_USAGE, .msg_has = "-N" } },
	{ "-N trailing comma", { "s", "-Nsuccess,", "a@b" }, { .ex = EX_USAGE, .msg_has = "-N" } },
	{ "-N empty item", { "s", "-Nsuccess,,delay", "a@b" }, { .ex = EX_USAGE, .msg_has = "-N" } },
	{ "-N never with others", { "s", "-Nnever,success", "a@b" }, { .ex = EX_USAGE, .msg_has = "-N" } },
	{ "-N with a blank", { "s", "-N", "success, delay", "a@b" }, { .ex = EX_USAGE, .msg_has = "-N" } },
	{ "-N mixed case", { "s", "-N", "Success,DELAY", "a@b" },
	  { .notify = "Success,DELAY", .nrcpts = 1, .rcpt = { "a@b" } } },
	{ "-R bogus", { "s", "-R", "all", "a@b" }, { .ex = EX_USAGE, .msg_has = "-R" } },
	{ "-R empty", { "s", "-R", "", "a@b" }, { .ex = EX_USAGE, .msg_has = "-R" } },
	{ "-R HDRS", { "s", "-RHDRS" }, { .ret = "HDRS" } },
	{ "-V of 100 octets", { "s", "-V", ENVID100 }, { .envid = ENVID100 } },
	{ "-V of 101 octets", { "s", "-V", ENVID100 "x" }, { .ex = EX_USAGE, .msg_has = "-V" } },
	{ "-V not ASCII", { "s", "-V", "caf\xc3\xa9" }, { .ex = EX_USAGE, .msg_has = "-V" } },
	{ "-V with a blank", { "s", "-V", "id 1" }, { .envid = "id 1" } },
	{ "-F of 256 octets", { "s", "-F", NAME256 }, { .full_name = NAME256 } },
	{ "-F of 257 octets", { "s", "-F", NAME256 "x" }, { .ex = EX_USAGE, .msg_has = "-F" } },
	{ "--from then a long -F", { "s", "--from=a@b", "-F" NAME256 "x" },
	  { .ex = EX_USAGE, .msg_has = "256" } },
};

static int
streq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void
check_one(const char *name, const char *const *args, const struct want *w)
{
	char *argv[MAXARGS + 1];
	int argc = 0;
	struct cli c;
	struct err e;
	int r;

	/* The parser takes char **, as main's argv is. */
	while (argc < MAXARGS && args[argc] != NULL) {
		argv[argc] = (char *)args[argc];
		argc++;
	}
	argv[argc] = NULL;
	err_init(&e);
	r = cli_parse(&c, argc, argv, &e);
	if (w->ex) {
		is_int(r, -1, "%s: refused", name);
		is_int(e.ex, w->ex, "%s: exit code", name);
		ok(w->msg_has && strstr(e.msg, w->msg_has) != NULL,
		    "%s: message \"%s\" mentions \"%s\"", name, e.msg, w->msg_has);
		cli_free(&c);
		return;
	}
	is_int(r, 0, "%s: parses%s%s", name, r ? ": " : "", r ? e.msg : "");
	is_int(c.mode, w->mode, "%s: mode", name);
	ok(c.read_recipients == w->t && c.dot_ends_input == !w->no_dot &&
	    c.verbose == w->verbose,
	    "%s: -t %d, dot ends input %d, verbose %d", name,
	    c.read_recipients, c.dot_ends_input, c.verbose);
	ok(streq(c.from, w->from) && streq(c.full_name, w->full_name) &&
	    streq(c.account, w->account) && streq(c.config_file, w->config) &&
	    streq(c.body_type, w->body),
	    "%s: from \"%s\", full name \"%s\", account \"%s\", config \"%s\", body \"%s\"",
	    name, c.from ? c.from : "(null)", c.full_name ? c.full_name : "(null)",
	    c.account ? c.account : "(null)", c.config_file ? c.config_file : "(null)",
	    c.body_type ? c.body_type : "(null)");
	ok(same_opts(&c.opts, w) && streq(c.syslog_tag, w->tag) &&
	    streq(c.mode == CLI_REMOVE ? c.rmqueue_arg : c.queue_arg, w->queue),
	    "%s: -N -R -V -L -q values", name);
	ok(c.delivery_mode == (w->dmode ? w->dmode : 'i') && c.error_mode == w->emode,
	    "%s: delivery mode '%c', error mode '%c'", name, c.delivery_mode,
	    c.error_mode ? c.error_mode : '0');
	is_int(c.nrcpts, w->nrcpts, "%s: recipient count", name);
	for (size_t i = 0; i < w->nrcpts && i < 3; i++)
		is_str(i < c.nrcpts ? c.rcpts[i] : NULL, w->rcpt[i], "%s: recipient %zu", name, i);
	is_int(c.nignored, w->nignored, "%s: ignored count", name);
	for (size_t i = 0; i < w->nignored && i < 3; i++)
		is_str(i < c.nignored ? c.ignored[i] : NULL, w->ign[i], "%s: ignored %zu", name, i);
	is_int(c.nunknown, w->nunknown, "%s: unknown count", name);
	for (size_t i = 0; i < w->nunknown && i < 2; i++)
		is_str(i < c.nunknown ? c.unknown[i] : NULL, w->unk[i], "%s: unknown %zu", name, i);
	cli_free(&c);
}

static void
check(size_t k)
{
	check_one(cases[k].name, cases[k].argv, &cases[k].w);
}

/* Parse a NULL-terminated argv literal. */
static int
parse(struct cli *c, const char *const *args, struct err *e)
{
	char *argv[MAXARGS + 1];
	int argc = 0;

	while (argc < MAXARGS && args[argc] != NULL) {
		argv[argc] = (char *)args[argc];
		argc++;
	}
	argv[argc] = NULL;
	err_init(e);
	return cli_parse(c, argc, argv, e);
}

/* Every msmtp option that stands for a directive: the directive and value
 * it becomes, given as "--opt=V" and (when the value is required) as
 * "--opt V"; the optional ones also bare ("" = on). */
static void
test_msmtp_settings(void)
{
	static const struct {
		const char *opt, *value, *directive;
		int optional;           /* value only after '=' */
	} t[] = {
		{ "--host", "mail.example.org", "host", 0 },
		{ "--port", "2525", "port", 0 },
		{ "--timeout", "30", "timeout", 0 },
		{ "--connect-timeout", "off", "timeout", 0 },
		{ "--protocol", "smtp", "protocol", 0 },
		{ "--domain", "client.example.org", "domain", 0 },
		{ "--auth", "scram-sha-256", "auth", 1 },
		{ "--user", "alice", "user", 0 },
		{ "--passwordeval", "pass show mail", "passwordeval", 0 },
		{ "--tls", "off", "tls", 1 },
		{ "--tls-starttls", "off", "tls_starttls", 1 },
		{ "--tls-trust-file", "/etc/ssl/ca.pem", "tls_trust_file", 0 },
		{ "--tls-crl-file", "/etc/ssl/crl.pem", "tls_crl_file", 0 },
		{ "--tls-fingerprint", "AB:CD", "tls_fingerprint", 0 },
		{ "--tls-key-file", "/k.pem", "tls_key_file", 0 },
		{ "--tls-cert-file", "/c.pem", "tls_cert_file", 0 },
		{ "--tls-certcheck", "off", "tls_certcheck", 1 },
		{ "--tls-priorities", "NORMAL:-VERS-TLS1.2", "tls_priorities", 0 },
		{ "--tls-host-override", "mx.example.org", "tls_host_override", 0 },
		{ "--tls-min-dh-prime-bits", "2048", "tls_min_dh_prime_bits", 0 },
		{ "--tls-force-sslv3", "off", "tls_force_sslv3", 1 },
		{ "--logfile", "/tmp/log", "logfile", 0 },
		{ "--logfile-time-format", "%F %T", "logfile_time_format", 0 },
		{ "--syslog", "LOG_MAIL", "syslog", 1 },
		{ "--aliases", "/etc/aliases", "aliases", 0 },
		{ "--source-ip", "192.0.2.1", "source_ip", 0 },
		{ "--set-from-header", "on", "set_from_header", 1 },
		{ "--set-date-header", "off", "set_date_header", 1 },
		{ "--set-msgid-header", "off", "set_msgid_header", 1 },
		{ "--set-to-header", "off", "set_to_header", 1 },
		{ "--remove-bcc-headers", "off", "remove_bcc_headers", 1 },
		{ "--auto-from", "off", "auto_from", 1 },
		{ "--maildomain", "example.org", "maildomain", 0 },
		{ "--undisclosed-recipients", "off", "undisclosed_recipients", 1 },
		{ "--keepbcc", "on", "keepbcc", 1 },
		{ "--add-missing-from-header", "off", "add_missing_from_header", 1 },
		{ "--add-missing-date-header", "off", "add_missing_date_header", 1 },
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		char glued[128];
		struct cli c;
		struct err e;
		int r;

		snprintf(glued, sizeof glued, "%s=%s", t[i].opt, t[i].value);
		r = parse(&c, (const char *const[]){ "msmtp", glued, "a@b", NULL }, &e);
		is_int(r, 0, "%s: parses (%s)", glued, e.msg);
		ok(c.nsettings == 1 && streq(c.settings[0].directive, t[i].directive) &&
		    streq(c.settings[0].value, t[i].value) &&
		    streq(c.settings[0].option, t[i].opt) && c.nrcpts == 1,
		    "%s: setting %s \"%s\"", glued, t[i].directive, t[i].value);
		cli_free(&c);

		/* The value as the next word: taken, or (optional values, as
		 * getopt_long) a recipient. */
		r = parse(&c, (const char *const[]){ "msmtp", t[i].opt, t[i].value, "a@b", NULL }, &e);
		is_int(r, 0, "%s %s: parses (%s)", t[i].opt, t[i].value, e.msg);
		ok(c.nsettings == 1 && streq(c.settings[0].value, t[i].optional ? "" : t[i].value) &&
		    c.nrcpts == (t[i].optional ? 2u : 1u),
		    "%s %s: %s", t[i].opt, t[i].value, t[i].optional ?
		    "bare (on), and the word is a recipient" : "the word is the value");
		cli_free(&c);

		/* A required value at the end of argv is missing. */
		if (!t[i].optional) {
			r = parse(&c, (const char *const[]){ "msmtp", t[i].opt, NULL }, &e);
			ok(r < 0 && e.ex == EX_USAGE && strstr(e.msg, "needs an argument"),
			    "%s at the end: \"%s\"", t[i].opt, e.msg);
			cli_free(&c);
		}
	}
}

/* The msmtp options that are sendmail letters or modes, and flags. */
static const struct {
	const char *name;
	const char *argv[MAXARGS];
	struct want w;
} msmtp_cases[] = {
	{ "--account=", { "msmtp", "--account=work", "a@b" },
	  { .account = "work", .no_dot = 1, .nrcpts = 1, .rcpt = { "a@b" } } },
	{ "--account NAME", { "msmtp", "--account", "work", "a@b" },
	  { .account = "work", .no_dot = 1, .nrcpts = 1, .rcpt = { "a@b" } } },
	{ "--file FILE", { "msmtp", "--file", "/x/rc" }, { .config = "/x/rc", .no_dot = 1 } },
	{ "--file=FILE", { "msmtp", "--file=/x/rc" }, { .config = "/x/rc", .no_dot = 1 } },
	{ "--from ADDR", { "msmtp", "--from", "me@x" }, { .from = "me@x", .no_dot = 1 } },
	{ "--read-recipients", { "msmtp", "--read-recipients" }, { .t = 1, .no_dot = 1 } },
	{ "--debug", { "msmtp", "--debug" }, { .verbose = 1, .no_dot = 1 } },
	{ "-d", { "msmtp", "-d" }, { .verbose = 1, .no_dot = 1 } },
	{ "-d0.1 is the version", { "msmtp", "-d0.1" },
	  { .mode = CLI_VERSION, .verbose = 1, .no_dot = 1 } },
	{ "sendmail's -d0.1 is ignored", { "sendmail", "-d0.1" },
	  { .nignored = 1, .ign = { "-d0.1" } } },
	{ "--dsn-notify=", { "msmtp", "--dsn-notify=failure,delay" },
	  { .notify = "failure,delay", .no_dot = 1 } },
	{ "--dsn-notify LIST", { "msmtp", "--dsn-notify", "never" }, { .notify = "never", .no_dot = 1 } },
	{ "--dsn-return=headers", { "msmtp", "--dsn-return=headers" }, { .ret = "HDRS", .no_dot = 1 } },
	{ "--dsn-return full", { "msmtp", "--dsn-return", "full" }, { .ret = "FULL", .no_dot = 1 } },
	{ "-R headers", { "sendmail", "-R", "headers" }, { .ret = "HDRS" } },
	{ "--version", { "msmtp", "--version" }, { .mode = CLI_VERSION, .no_dot = 1 } },
	{ "--help", { "msmtp", "--help" }, { .mode = CLI_HELP, .no_dot = 1 } },
	{ "--serverinfo", { "msmtp", "--serverinfo" }, { .mode = CLI_SERVERINFO, .no_dot = 1 } },
	{ "--configure ADDR", { "msmtp", "--configure", "a@gmail.com" },
	  { .mode = CLI_CONFIGURE, .no_dot = 1 } },
	/* msmtp mode: the input is read to its end */
	{ "msmtp reads to EOF", { "/usr/bin/msmtp", "-t" }, { .t = 1, .no_dot = 1 } },
	{ "msmtp -i -oi", { "msmtp", "-i", "-oi", "a@b" },
	  { .no_dot = 1, .nrcpts = 1, .rcpt = { "a@b" } } },
	{ "sendmail stops at a dot", { "/usr/sbin/sendmail", "-t" }, { .t = 1 } },
	{ "envoi stops at a dot", { "envoi", "a@b" }, { .nrcpts = 1, .rcpt = { "a@b" } } },
	{ "msmtp -t adds to the arguments", { "msmtp", "-t", "a@b", "c@d" },
	  { .t = 1, .no_dot = 1, .nrcpts = 2, .rcpt = { "a@b", "c@d" } } },
	{ "msmtp keeps envoi's -bp", { "msmtp", "-bp" }, { .mode = CLI_LIST_QUEUE, .no_dot = 1 } },
	{ "mutt's call", { "msmtp", "-a", "work", "--read-envelope-from", "--", "bob@x" },
	  { .account = "work", .no_dot = 1, .nrcpts = 1, .rcpt = { "bob@x" } } },
	{ "git send-email's call", { "/usr/bin/msmtp", "-i", "bob@x", "carol@y" },
	  { .no_dot = 1, .nrcpts = 2, .rcpt = { "bob@x", "carol@y" } } },
	/* refusals */
	{ "--host with -a", { "msmtp", "--host=h", "-a", "work", "a@b" },
	  { .ex = EX_USAGE, .msg_has = "--host and --account" } },
	{ "-a with --host", { "msmtp", "--account=work", "--host", "h" },
	  { .ex = EX_USAGE, .msg_has = "--host and --account" } },
	{ "--read-envelope-from with -f", { "msmtp", "--read-envelope-from", "-f", "a@b" },
	  { .ex = EX_USAGE, .msg_has = "--read-envelope-from and --from" } },
	{ "--from with --read-envelope-from", { "msmtp", "--from=a@b", "--read-envelope-from" },
	  { .ex = EX_USAGE, .msg_has = "--read-envelope-from and --from" } },
	{ "--password", { "msmtp", "--password=secret", "a@b" },
	  { .ex = EX_USAGE, .msg_has = "--passwordeval" } },
	{ "--password WORD", { "msmtp", "--password", "secret" },
	  { .ex = EX_USAGE, .msg_has = "visible" } },
	{ "--socket", { "msmtp", "--socket=/run/smtp" }, { .ex = EX_USAGE, .msg_has = "--socket" } },
	{ "--proxy-host", { "msmtp", "--proxy-host", "p" }, { .ex = EX_USAGE, .msg_has = "SOCKS" } },
	{ "--proxy-port", { "msmtp", "--proxy-port=1080" }, { .ex = EX_USAGE, .msg_has = "--proxy-port" } },
	{ "--read-envelope-from=x", { "msmtp", "--read-envelope-from=x" },
	  { .ex = EX_USAGE, .msg_has = "no argument" } },
	{ "CR in --domain", { "msmtp", "--domain=x\r\nQUIT" }, { .ex = EX_USAGE, .msg_has = "--domain" } },
	{ "--passwordeval under the sendmail name (injection)",
	  { "/usr/sbin/sendmail", "-f", "x@y", "--passwordeval=touch /tmp/pwn", "a@b" },
	  { .ex = EX_USAGE, .msg_has = "refused when called as sendmail" } },
	{ "... the same under envoi's own name",
	  { "envoi", "--passwordeval=pass x", "a@b" }, { .nrcpts = 1, .rcpt = { "a@b" } } },
	{ "LF in --passwordeval", { "msmtp", "--passwordeval", "a\nb" },
	  { .ex = EX_USAGE, .msg_has = "--passwordeval" } },
	{ "LF in --configure", { "msmtp", "--configure=a@b\n" }, { .ex = EX_USAGE, .msg_has = "--configure" } },
	{ "unknown long option stays an error", { "msmtp", "--frobnicate" },
	  { .ex = EX_USAGE, .msg_has = "unknown option --frobnicate" } },
	{ "a typo of a msmtp option", { "msmtp", "--acount", "work" },
	  { .ex = EX_USAGE, .msg_has = "--acount" } },
};

static void
test_msmtp_cases(void)
{
	for (size_t k = 0; k < sizeof msmtp_cases / sizeof msmtp_cases[0]; k++)
		check_one(msmtp_cases[k].name, msmtp_cases[k].argv, &msmtp_cases[k].w);
}

/* The flags and -X, -N off, -R off, which become settings or fields. */
static void
test_msmtp_flags(void)
{
	struct cli c;
	struct err e;

	is_int(parse(&c, (const char *const[]){ "msmtp", "--read-envelope-from", "-t", NULL }, &e),
	    0, "--read-envelope-from parses");
	ok(c.read_envelope_from == 1 && c.msmtp == 1, "... sets read_envelope_from, msmtp mode");
	cli_free(&c);
	is_int(parse(&c, (const char *const[]){ "msmtp", "--host", "h.example", NULL }, &e), 0,
	    "--host parses");
	ok(c.config_free == 1 && c.nsettings == 1 && streq(c.settings[0].directive, "host"),
	    "... config-free, setting host");
	cli_free(&c);
	is_int(parse(&c, (const char *const[]){ "msmtp", "-X", "/tmp/l", "a@b", NULL }, &e), 0,
	    "msmtp -X parses");
	ok(c.nsettings == 1 && streq(c.settings[0].directive, "logfile") &&
	    streq(c.settings[0].value, "/tmp/l") && streq(c.settings[0].option, "-X") &&
	    c.nignored == 0, "msmtp -X FILE is --logfile FILE");
	cli_free(&c);
	is_int(parse(&c, (const char *const[]){ "sendmail", "-X", "/tmp/l", NULL }, &e), 0,
	    "sendmail -X parses");
	ok(c.nsettings == 0 && c.nignored == 1, "sendmail -X FILE stays ignored, never a log file");
	cli_free(&c);
	is_int(parse(&c, (const char *const[]){ "envoi", "--logfile=/tmp/l", NULL }, &e), 0,
	    "--logfile as envoi");
	ok(c.nsettings == 1 && !c.msmtp, "--logfile is msmtp's in every mode");
	cli_free(&c);
	is_int(parse(&c, (const char *const[]){ "msmtp", "-N", "off", "-R", "off", NULL }, &e), 0,
	    "-N off -R off parse");
	ok(c.nsettings == 2 && streq(c.settings[0].directive, "dsn_notify") &&
	    streq(c.settings[1].directive, "dsn_return") && !c.opts.notify,
	    "-N off and -R off turn the account's DSN off");
	cli_free(&c);
	is_int(parse(&c, (const char *const[]){ "msmtp", "--port=1", "--port=2", NULL }, &e), 0,
	    "a setting twice");
	ok(c.nsettings == 2 && streq(c.settings[1].value, "2"), "... both kept, in order (the last wins)");
	cli_free(&c);
}

/* What the settings do to an account: conf_select_cli with --host and
 * with a file's account; and conf's checks refusing a bad value. */
static void
test_msmtp_account(void)
{
	struct cli c;
	struct conf cf;
	struct account *a;
	struct err e;

	conf_init(&cf);
	parse(&c, (const char *const[]){ "msmtp", "--host=127.0.0.1", "--port", "2525",
	    "--tls", "--tls-starttls=off", "--tls-certcheck=off", "--auth=plain", "--user=u",
	    "--passwordeval=echo p", "--domain=me.example", "--timeout=7",
	    "--set-date-header=off", "--keepbcc", "--syslog=LOG_MAIL",
	    "--tls-fingerprint=" "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
	    "--tls-force-sslv3", NULL }, &e);
	a = conf_select_cli(&cf, c.account, c.from, c.settings, c.nsettings, c.config_free, NULL, &e);
	ok(a != NULL, "config-free account built (%s)", a ? "" : e.msg);
	if (a) {
		ok(streq(a->host, "127.0.0.1") && a->port == 2525 && a->tls == 1 &&
		    a->tls_starttls == 0 && a->tls_certcheck == 0, "host, port, tls, starttls, certcheck");
		ok(streq(a->auth, "PLAIN") && streq(a->user, "u") && streq(a->passwordeval, "echo p"),
		    "auth, user, passwordeval");
		ok(streq(a->domain, "me.example") && a->timeout == 7 &&
		    a->set_date_header == HDR_OFF && a->remove_bcc_headers == 0 &&
		    streq(a->syslog, "LOG_MAIL"), "domain, timeout, set_date_header, keepbcc, syslog");
		ok(a->tls_fingerprint && strncmp(a->tls_fingerprint, "01:02:03", 8) == 0,
		    "fingerprint normalised by conf's parser");
		ok(streq(a->name, "(command line)") && !a->queue && !a->queue_retrier,
		    "named (command line), nothing queued");
	}
	account_free(a);
	cli_free(&c);

	/* A bad value is conf's message, as EX_USAGE, naming the option. */
	static const struct {
		const char *args[4];
		int ex;
		const char *msg;
	} bad[] = {
		{ { "msmtp", "--host=h", "--port=0" }, EX_USAGE, "--port: port" },
		{ { "msmtp", "--host=h", "--tls=maybe" }, EX_USAGE, "--tls: tls: expected on or off" },
		{ { "msmtp", "--host=h", "--auth=magic" }, EX_USAGE, "unknown method" },
		{ { "msmtp", "--host=h", "--protocol=uucp" }, EX_USAGE, "--protocol" },
		{ { "msmtp", "--host=h", "--timeout=forever" }, EX_USAGE, "--timeout" },
		{ { "msmtp", "--host=h", "--tls-fingerprint=zz" }, EX_USAGE, "--tls-fingerprint" },
		{ { "msmtp", "--host=h", "--syslog=LOG_KERN" }, EX_USAGE, "--syslog" },
		{ { "msmtp", "--host=h", "--set-from-header=x" }, EX_USAGE, "--set-from-header" },
		{ { "msmtp", "--host=h", "-N", "off" }, 0, NULL },
		/* envoi's secure default, as from a file: no password in clear */
		{ { "msmtp", "--host=192.0.2.7", "--user=u", "--tls=off" }, EX_CONFIG,
		  "refusing to send a password without TLS" },
		{ { "msmtp", "--host=127.0.0.1", "--user=u", "--tls=off" }, 0, NULL },
		{ { "msmtp", "--port=25" }, EX_CONFIG, "no configuration found" },
		{ { "msmtp", "--host=h", "--tls-cert-file=/c" }, EX_CONFIG, "together" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *args[5] = { bad[i].args[0], bad[i].args[1], bad[i].args[2],
		    bad[i].args[3], NULL };

		is_int(parse(&c, args, &e), 0, "bad value %zu: parses", i);
		a = conf_select_cli(&cf, c.account, c.from, c.settings, c.nsettings,
		    c.config_free, NULL, &e);
		if (bad[i].ex == 0)
			ok(a != NULL, "%s %s: accepted (%s)", args[1], args[2], a ? "" : e.msg);
		else
			ok(a == NULL && e.ex == bad[i].ex && strstr(e.msg, bad[i].msg),
			    "%s %s: refused, %d, \"%s\"", args[1], args[2] ? args[2] : "",
			    e.ex, e.msg);
		account_free(a);
		cli_free(&c);
	}
	conf_free(&cf);
}

/* Settings over a file's account: they win, and only delivery ones
 * rename it and turn queueing off. */
static void
test_msmtp_over_file(void)
{
	char path[] = "/tmp/envoi-cli-test-XXXXXX";
	int fd = mkstemp(path);
	static const char rc[] = "account work\nhost smtp.example.org\nport 587\n"
	    "from me@example.org\nset_date_header auto\n"
	    "account default : work\n";
	struct conf cf;
	struct cli c;
	struct account *a;
	struct err e;

	ok(fd >= 0 && write(fd, rc, sizeof rc - 1) == (ssize_t)(sizeof rc - 1), "config written");
	close(fd);
	conf_init(&cf);
	err_init(&e);
	is_int(conf_load_file(&cf, path, 1, NULL, &e), 0, "config loads (%s)", e.msg);
	parse(&c, (const char *const[]){ "msmtp", "-a", "work", "--port=2525", NULL }, &e);
	a = conf_select_cli(&cf, c.account, c.from, c.settings, c.nsettings, 0, NULL, &e);
	ok(a && a->port == 2525 && streq(a->host, "smtp.example.org") &&
	    streq(a->name, "work (command line)") && !a->queue,
	    "--port beats the file's port; the rest is the file's; not queued");
	account_free(a);
	cli_free(&c);
	parse(&c, (const char *const[]){ "msmtp", "-a", "work", "--set-date-header=off", NULL }, &e);
	a = conf_select_cli(&cf, c.account, c.from, c.settings, c.nsettings, 0, NULL, &e);
	ok(a && a->set_date_header == HDR_OFF && streq(a->name, "work") && a->queue,
	    "a header setting keeps the account's name and queue");
	account_free(a);
	cli_free(&c);
	parse(&c, (const char *const[]){ "msmtp", "-f", "me@example.org", NULL }, &e);
	a = conf_select_cli(&cf, c.account, c.from, c.settings, c.nsettings, 0, NULL, &e);
	ok(a && streq(a->name, "work"), "-f chooses the account whose from matches");
	account_free(a);
	cli_free(&c);
	conf_free(&cf);
	unlink(path);
}

static void
test_configure(void)
{
	static const struct {
		const char *addr;
		const char *has[3];
	} t[] = {
		{ "alice@gmail.com", { "host smtp.gmail.com\nport 587\n", "tls_starttls on",
		  "user alice@gmail.com" } },
		{ "bob@Yahoo.com", { "host smtp.mail.yahoo.com\nport 465", "tls_starttls off",
		  "account default : bob@Yahoo.com" } },
		{ "carol@example.org", { "does not know", "host smtp.example.org", "passwordeval" } },
	};
	struct err e;

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);

		err_init(&e);
		is_int(cli_configure(f, t[i].addr, &e), 0, "--configure %s", t[i].addr);
		fclose(f);
		for (size_t k = 0; k < 3; k++)
			ok(text && strstr(text, t[i].has[k]), "... has \"%s\"", t[i].has[k]);
		ok(text && !strstr(text, "\npassword "), "... and no password line");
		free(text);
	}
	static const char *const badaddr[] = { "alice", "@gmail.com", "a@", "a b@c", "a\"@b" };
	for (size_t i = 0; i < sizeof badaddr / sizeof badaddr[0]; i++) {
		FILE *f = fopen("/dev/null", "w");

		err_init(&e);
		ok(cli_configure(f, badaddr[i], &e) < 0 && e.ex == EX_USAGE,
		    "--configure %s refused: %s", badaddr[i], e.msg);
		fclose(f);
	}
}

static void
test_usage(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	static const char *const must[] = {
		"-t", "-i", "-oi", "-f ADDR", "-F NAME", "-C FILE", "-a NAME",
		"-v", "--version", "--help", "-bs", "-bp", "-q", "-X FILE", "-B TYPE",
		"-N", "-R", "-L", "-odb", "-oem", "ignored",
		"--host", "--read-envelope-from", "--configure", "--tls-trust-file",
		"--passwordeval", "--add-missing-date-header", "--password", "exits 75",
	};

	cli_usage(f);
	fclose(f);
	for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
		ok(text && strstr(text, must[i]) != NULL, "--help mentions %s", must[i]);
	free(text);
}

static void
test_reuse(void)
{
	char *a1[] = { "s", "-X", "f", "-m", NULL };
	char *a2[] = { "s", "x@y", NULL };
	struct cli c;
	struct err e;

	is_int(cli_parse(&c, 4, a1, &e), 0, "first parse");
	cli_free(&c);
	ok(c.ignored == NULL && c.nignored == 0, "cli_free empties the ignored list");
	is_int(cli_parse(&c, 2, a2, &e), 0, "second parse of the same struct");
	is_int(c.nignored, 0, "no leftovers from the first parse");
	cli_free(&c);
	is_int(cli_parse(&c, 0, a2, &e), 0, "argc 0 is harmless");
	cli_free(&c);
}

/* -O SMTPUTF8= and REQUIRETLS= are honoured; a non-boolean value or
 * another name stays accepted-and-ignored. */
static void
test_O(void)
{
	static const struct {
		const char *argv[4];
		int smtputf8, requiretls;
		size_t nignored;
	} t[] = {
		{ { "s", "-O", "SMTPUTF8=yes" }, 1, 0, 0 },
		{ { "s", "-OSMTPUTF8=no" }, 2, 0, 0 },
		{ { "s", "-O", "smtputf8=TRUE" }, 1, 0, 0 },
		{ { "s", "-O", "REQUIRETLS=yes" }, 0, 1, 0 },
		{ { "s", "-O", "RequireTLS=off" }, 0, 0, 0 },
		{ { "s", "-O", "SMTPUTF8=maybe" }, 0, 0, 1 },
		{ { "s", "-O", "SMTPUTF8" }, 0, 0, 1 },
		{ { "s", "-O", "SMTPUTF8X=yes" }, 0, 0, 1 },
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		char *argv[4] = { NULL };
		int argc = 0;
		struct cli c;
		struct err e;

		while (argc < 3 && t[i].argv[argc]) {
			argv[argc] = (char *)t[i].argv[argc];
			argc++;
		}
		err_init(&e);
		is_int(cli_parse(&c, argc, argv, &e), 0, "-O %s: parses", argv[argc - 1]);
		is_int(c.opts.smtputf8, t[i].smtputf8, "-O %s: smtputf8", argv[argc - 1]);
		is_int(c.opts.requiretls, t[i].requiretls, "-O %s: requiretls", argv[argc - 1]);
		is_int(c.nignored, t[i].nignored, "-O %s: ignored count", argv[argc - 1]);
		cli_free(&c);
	}
}


/* cli_check_full_name: the rule for -F, which drop.c's writer and pickup
 * apply to a drop file as cli_parse does to argv. */
static void
test_check_full_name(void)
{
	static const struct {
		const char *full_name;
		int ok;
	} t[] = {
		{ NULL, 1 },
		{ "Cron Daemon", 1 },
		{ NAME256, 1 },
		{ NAME256 "x", 0 },
		{ "a\nBcc: x", 0 },
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct err e;
		int r;

		err_init(&e);
		r = cli_check_full_name(t[i].full_name, &e);
		if (t[i].ok) {
			is_int(r, 0, "cli_check_full_name case %zu: accepted (%s)", i, e.msg);
			continue;
		}
		is_int(r, -1, "cli_check_full_name case %zu: refused", i);
		is_int(e.ex, EX_USAGE, "... EX_USAGE");
		ok(strstr(e.msg, "-F") != NULL, "... \"%s\" names -F", e.msg);
	}
}

int
main(void)
{
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
		check(k);
	test_usage();
	test_reuse();
	test_O();
	test_check_full_name();
	test_msmtp_settings();
	test_msmtp_cases();
	test_msmtp_flags();
	test_msmtp_account();
	test_msmtp_over_file();
	test_configure();
	return done_testing();
}
