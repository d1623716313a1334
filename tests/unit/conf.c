/*
 * Unit tests for src/conf.c: msmtp-format parsing (quotes,
 * comments, ~, CRLF, eval, inheritance, defaults), every msmtp directive
 * name, errors with FILE:LINE, the permission check, the lookup order and
 * user-over-system layering, account selection and the secure defaults.
 * Where secrets come from is tests/unit/cred.c.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "err.h"
#include "log.h"
#include "tap.h"

static char tmpdir[1024];     /* short, so paths built on it fit PATH_MAX */
static int nfile;

static void
write_file(const char *path, const char *text, size_t len, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
	fwrite(text, 1, len, f);
	fclose(f);
	chmod(path, mode);
}

/* A fresh file in tmpdir holding text; returns its path (static). */
static const char *
new_file(const char *text, mode_t mode)
{
	static char path[PATH_MAX + 32];

	snprintf(path, sizeof path, "%s/rc%d", tmpdir, ++nfile);
	write_file(path, text, strlen(text), mode);
	return path;
}

/* The value of a field as text, for table-driven comparison. */
static const char *
field(const struct account *a, const char *f, char *buf, size_t size)
{
	static const char *const hdr[] = { "auto", "on", "off" };
	const char *s = NULL;
	long n = 0;
	int num = 1;

	if (strcmp(f, "host") == 0) { s = a->host; num = 0; }
	else if (strcmp(f, "port") == 0) n = a->port;
	else if (strcmp(f, "tls") == 0) n = a->tls;
	else if (strcmp(f, "tls_starttls") == 0) n = a->tls_starttls;
	else if (strcmp(f, "tls_certcheck") == 0) n = a->tls_certcheck;
	else if (strcmp(f, "tls_trust_file") == 0) { s = a->tls_trust_file; num = 0; }
	else if (strcmp(f, "tls_fingerprint") == 0) { s = a->tls_fingerprint; num = 0; }
	else if (strcmp(f, "tls_cert_file") == 0) { s = a->tls_cert_file; num = 0; }
	else if (strcmp(f, "tls_key_file") == 0) { s = a->tls_key_file; num = 0; }
	else if (strcmp(f, "tls_priorities") == 0) { s = a->tls_priorities; num = 0; }
	else if (strcmp(f, "tls_host_override") == 0) { s = a->tls_host_override; num = 0; }
	else if (strcmp(f, "auth") == 0) { s = a->auth; num = 0; }
	else if (strcmp(f, "user") == 0) { s = a->user; num = 0; }
	else if (strcmp(f, "password") == 0) { s = a->password; num = 0; }
	else if (strcmp(f, "passwordeval") == 0) { s = a->passwordeval; num = 0; }
	else if (strcmp(f, "from") == 0) { s = a->from; num = 0; }
	else if (strcmp(f, "from_full_name") == 0) { s = a->from_full_name; num = 0; }
	else if (strcmp(f, "domain") == 0) { s = a->domain; num = 0; }
	else if (strcmp(f, "timeout") == 0) n = a->timeout;
	else if (strcmp(f, "queue") == 0) n = a->queue;
	else if (strcmp(f, "queue_lifetime") == 0) n = a->queue_lifetime;
	else if (strcmp(f, "set_from_header") == 0) { s = hdr[a->set_from_header]; num = 0; }
	else if (strcmp(f, "set_date_header") == 0) { s = hdr[a->set_date_header]; num = 0; }
	else if (strcmp(f, "set_msgid_header") == 0) { s = hdr[a->set_msgid_header]; num = 0; }
	else if (strcmp(f, "remove_bcc_headers") == 0) n = a->remove_bcc_headers;
	else if (strcmp(f, "logfile") == 0) { s = a->logfile; num = 0; }
	else if (strcmp(f, "syslog") == 0) { s = a->syslog; num = 0; }
	else if (strcmp(f, "dsn_notify") == 0) { s = a->dsn_notify; num = 0; }
	else if (strcmp(f, "dsn_return") == 0) { s = a->dsn_return; num = 0; }
	else if (strcmp(f, "queue_dir") == 0) { s = a->queue_dir; num = 0; }
	else if (strcmp(f, "source_line") == 0) n = a->source_line;
	else if (strcmp(f, "from_is_pattern") == 0) n = a->from_is_pattern;
	else if (strcmp(f, "oauth2_provider") == 0) { s = a->oauth2_provider; num = 0; }
	else if (strcmp(f, "oauth2_client_id") == 0) { s = a->oauth2_client_id; num = 0; }
	else if (strcmp(f, "oauth2_client_secret") == 0) { s = a->oauth2_client_secret; num = 0; }
	else if (strcmp(f, "oauth2_tenant") == 0) { s = a->oauth2_tenant; num = 0; }
	else if (strcmp(f, "oauth2_scope") == 0) { s = a->oauth2_scope; num = 0; }
	else if (strcmp(f, "oauth2_token_url") == 0) { s = a->oauth2_token_url; num = 0; }
	else { printf("Bail out! unknown field %s\n", f); exit(1); }
	if (num) {
		snprintf(buf, size, "%ld", n);
		return buf;
	}
	return s ? s : "(null)";
}

static const struct account *
find(const struct conf *c, const char *name)
{
	for (size_t i = 0; i < c->naccounts; i++)
		if (strcmp(c->accounts[i]->name, name) == 0)
			return c->accounts[i];
	return NULL;
}

struct expect {
	const char *account, *field, *value;    /* value "~" or "~/..." = under home */
};

/* ------------------------------------------------------------------ */
static const struct {
	const char *name;
	const char *text;
	int ex;                 /* 0 = loads */
	int line;               /* error line expected in "FILE:LINE:" */
	const char *msg_has;
	struct expect exp[8];
} parse_cases[] = {
	{ "basic account", "account a\nhost smtp.example.org\nport 587\n", 0, 0, NULL,
	  { { "a", "host", "smtp.example.org" }, { "a", "port", "587" }, { "a", "tls", "-1" },
	    { "a", "source_line", "1" } } },
	{ "comments, blank lines, indentation",
	  "# a comment\n\n   # indented comment\naccount a\n\thost   h1   \n  port\t2525\n", 0, 0, NULL,
	  { { "a", "host", "h1" }, { "a", "port", "2525" }, { "a", "source_line", "4" } } },
	{ "hash inside a value is not a comment", "account a\nhost h\npassword ab#cd\n", 0, 0, NULL,
	  { { "a", "password", "ab#cd" } } },
	{ "quoted argument with escapes",
	  "account a\nhost h\npassword \"a \\\"b\\\" \\\\ c\"\nfrom_full_name \"  Spaced  Name \"\n", 0, 0, NULL,
	  { { "a", "password", "a \"b\" \\ c" }, { "a", "from_full_name", "  Spaced  Name " } } },
	{ "quoted empty password", "account a\nhost h\npassword \"\"\n", 0, 0, NULL,
	  { { "a", "password", "" } } },
	{ "other backslashes are literal", "account a\nhost h\nuser \"dom\\user\"\n", 0, 0, NULL,
	  { { "a", "user", "dom\\user" } } },
	{ "tilde in file names", "account a\nhost h\nlogfile ~/envoi.log\ntls_trust_file \"~/ca.pem\"\n"
	  "tls_cert_file ~\ntls_key_file ~/k\nqueue_dir ~/q\n", 0, 0, NULL,
	  { { "a", "logfile", "~/envoi.log" }, { "a", "tls_trust_file", "~/ca.pem" },
	    { "a", "tls_cert_file", "~" }, { "a", "tls_key_file", "~/k" }, { "a", "queue_dir", "~/q" } } },
	{ "tilde elsewhere is literal", "account a\nhost h\npassword ~secret\nfrom ~x@y\nlogfile ~other/x\n",
	  0, 0, NULL,
	  { { "a", "password", "~secret" }, { "a", "from", "~x@y" }, { "a", "logfile", "~other/x" } } },
	{ "CRLF line ends", "account a\r\nhost h\r\nport 465\r\n\r\n", 0, 0, NULL,
	  { { "a", "host", "h" }, { "a", "port", "465" } } },
	{ "no final newline", "account a\nhost last", 0, 0, NULL, { { "a", "host", "last" } } },
	{ "inheritance", "account a\nhost h\nport 2525\nuser u\naccount b : a\nport 26\n", 0, 0, NULL,
	  { { "b", "host", "h" }, { "b", "port", "26" }, { "b", "user", "u" }, { "a", "port", "2525" } } },
	{ "several parents, later wins", "account a\nhost ha\nport 1\naccount c\nhost hc\nuser u\n"
	  "account b : a , c\n", 0, 0, NULL,
	  { { "b", "host", "hc" }, { "b", "port", "1" }, { "b", "user", "u" } } },
	{ "parent's unset fields do not clear the child's defaults",
	  "defaults\nport 2525\naccount a\nhost h\naccount b : a\n", 0, 0, NULL,
	  { { "b", "port", "2525" }, { "b", "host", "h" } } },
	{ "defaults affect only following accounts",
	  "account early\nhost e\ndefaults\nport 2525\ntls on\naccount late\nhost l\n", 0, 0, NULL,
	  { { "early", "port", "0" }, { "early", "tls", "-1" }, { "late", "port", "2525" },
	    { "late", "tls", "1" } } },
	{ "a later defaults block changes only later accounts",
	  "defaults\nuser one\naccount a\nhost h\ndefaults\nuser two\naccount b\nhost h\n", 0, 0, NULL,
	  { { "a", "user", "one" }, { "b", "user", "two" } } },
	{ "account default : x", "account work\nhost w\nfrom me@work\naccount default : work\n", 0, 0, NULL,
	  { { "default", "host", "w" }, { "default", "from", "me@work" } } },
	{ "lines before any account form the default account", "host h0\nport 1025\naccount b\nhost hb\n",
	  0, 0, NULL, { { "default", "host", "h0" }, { "default", "port", "1025" }, { "b", "port", "0" } } },
	{ "empty on/off argument means on", "account a\nhost h\ntls\ntls_starttls off\nremove_bcc_headers\n",
	  0, 0, NULL,
	  { { "a", "tls", "1" }, { "a", "tls_starttls", "0" }, { "a", "remove_bcc_headers", "1" } } },
	{ "deprecated aliases", "account a\nhost h\ntls_nocertcheck\ntls_nostarttls\nkeepbcc on\n"
	  "add_missing_from_header off\nadd_missing_date_header off\nconnect_timeout 30\n"
	  "tls_force_sslv3 on\n", 0, 0, NULL,
	  { { "a", "tls_certcheck", "0" }, { "a", "tls_starttls", "0" }, { "a", "remove_bcc_headers", "0" },
	    { "a", "set_from_header", "off" }, { "a", "set_date_header", "off" }, { "a", "timeout", "30" } } },
	{ "deprecated aliases, other direction", "account a\nhost h\nkeepbcc off\n"
	  "add_missing_from_header on\nadd_missing_date_header\n", 0, 0, NULL,
	  { { "a", "remove_bcc_headers", "1" }, { "a", "set_from_header", "auto" },
	    { "a", "set_date_header", "auto" } } },
	{ "header modes", "account a\nhost h\nset_from_header on\nset_date_header off\nset_msgid_header auto\n",
	  0, 0, NULL, { { "a", "set_from_header", "on" }, { "a", "set_date_header", "off" },
	    { "a", "set_msgid_header", "auto" } } },
	{ "fingerprint with colons, lower case",
	  "account a\nhost h\ntls_fingerprint 00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:"
	  "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff\n", 0, 0, NULL,
	  { { "a", "tls_fingerprint", "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
	      "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF" } } },
	{ "fingerprint without colons",
	  "account a\nhost h\ntls_fingerprint 00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF\n",
	  0, 0, NULL,
	  { { "a", "tls_fingerprint", "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
	      "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF" } } },
	{ "empty fingerprint unsets", "account a\nhost h\ntls_fingerprint\n", 0, 0, NULL,
	  { { "a", "tls_fingerprint", "(null)" } } },
	{ "auth values", "account a\nhost h\nauth\naccount b\nhost h\nauth scram-sha-256-plus\n"
	  "account c\nhost h\nauth off\naccount d\nhost h\nauth Plain\n", 0, 0, NULL,
	  { { "a", "auth", "on" }, { "b", "auth", "SCRAM-SHA-256-PLUS" }, { "c", "auth", "off" },
	    { "d", "auth", "PLAIN" } } },
	{ "trust file system is the default", "account a\nhost h\ntls_trust_file /x\naccount b : a\n"
	  "tls_trust_file system\naccount c\nhost h\ntls_trust_file\n", 0, 0, NULL,
	  { { "a", "tls_trust_file", "/x" }, { "b", "tls_trust_file", "(null)" },
	    { "c", "tls_trust_file", "" } } },
	{ "dsn values", "account a\nhost h\ndsn_notify failure,delay\ndsn_return headers\n"
	  "account b\nhost h\ndsn_notify never\ndsn_return full\naccount c : a\ndsn_notify off\ndsn_return off\n",
	  0, 0, NULL,
	  { { "a", "dsn_notify", "FAILURE,DELAY" }, { "a", "dsn_return", "HDRS" },
	    { "b", "dsn_notify", "NEVER" }, { "b", "dsn_return", "FULL" },
	    { "c", "dsn_notify", "(null)" }, { "c", "dsn_return", "(null)" } } },
	{ "syslog values", "account a\nhost h\nsyslog\naccount b\nhost h\nsyslog log_mail\n"
	  "account c : b\nsyslog off\n", 0, 0, NULL,
	  { { "a", "syslog", "on" }, { "b", "syslog", "LOG_MAIL" }, { "c", "syslog", "(null)" } } },
	{ "timeout values", "account a\nhost h\ntimeout off\naccount b\nhost h\ntimeout 15\n", 0, 0, NULL,
	  { { "a", "timeout", "0" }, { "b", "timeout", "15" } } },
	{ "strings", "account a\nhost h\nuser bob\npasswordeval pass show mail\nfrom bob@x\n"
	  "from_full_name Bob B\ndomain client.example\ntls_priorities NORMAL:-VERS-TLS1.2\n"
	  "tls_host_override mx.example\n", 0, 0, NULL,
	  { { "a", "user", "bob" }, { "a", "passwordeval", "pass show mail" },
	    { "a", "from_full_name", "Bob B" }, { "a", "domain", "client.example" },
	    { "a", "tls_priorities", "NORMAL:-VERS-TLS1.2" },
	    { "a", "tls_host_override", "mx.example" } } },
	{ "eval replaces the line", "account a\neval echo host evalhost.example\neval printf 'port 2626\\n'\n",
	  0, 0, NULL, { { "a", "host", "evalhost.example" }, { "a", "port", "2626" } } },
	{ "eval printing nothing is an empty line", "account a\nhost h\neval true\n", 0, 0, NULL,
	  { { "a", "host", "h" } } },

	/* ---- errors, with the line they name ---- */
	{ "unknown directive", "account a\nfrobnicate yes\n", EX_CONFIG, 2, "unknown directive \"frobnicate\"", { { NULL, NULL, NULL } } },
	{ "directive names are case sensitive", "account a\nHOST h\n", EX_CONFIG, 2, "HOST", { { NULL, NULL, NULL } } },
	{ "bad port", "account a\nhost h\nport 0\n", EX_CONFIG, 3, "port", { { NULL, NULL, NULL } } },
	{ "bad port text", "account a\nhost h\nport smtp\n", EX_CONFIG, 3, "port", { { NULL, NULL, NULL } } },
	{ "oauth2_provider unknown", "account a\nhost h\noauth2_provider yahoo\n", EX_CONFIG, 3,
	  "expected microsoft, google or custom, not \"yahoo\"", { { NULL, NULL, NULL } } },
	{ "oauth2 URL in clear", "account a\nhost h\noauth2_token_url http://t.example/token\n",
	  EX_CONFIG, 3, "oauth2_token_url: \"http://t.example/token\" is not an https:// URL",
	  { { NULL, NULL, NULL } } },
	{ "oauth2 URL with a space", "account a\nhost h\noauth2_auth_url \"https://a b/\"\n",
	  EX_CONFIG, 3, "is not an https:// URL", { { NULL, NULL, NULL } } },
	{ "oauth2 client secret kept", "account a\nhost h\noauth2_client_secret \"s p\"\n", 0, 0, NULL,
	  { { "a", "oauth2_client_secret", "s p" } } },
	{ "port too large", "account a\nport 65536\n", EX_CONFIG, 2, "port", { { NULL, NULL, NULL } } },
	{ "bad on/off", "account a\ntls maybe\n", EX_CONFIG, 2, "on or off", { { NULL, NULL, NULL } } },
	{ "queue directives", "defaults\nqueue_lifetime 2d\naccount a\nhost h\nqueue off\n"
	  "account b\nhost h\nqueue_lifetime 90m\naccount c\nhost h\nqueue_lifetime 3600\n"
	  "account d\nhost h\n", 0, 0, NULL,
	  { { "a", "queue", "0" }, { "a", "queue_lifetime", "172800" }, { "b", "queue", "1" },
	    { "b", "queue_lifetime", "5400" }, { "c", "queue_lifetime", "3600" },
	    { "d", "queue_lifetime", "172800" } } },
	{ "bad queue_lifetime", "account a\nqueue_lifetime forever\n", EX_CONFIG, 2, "queue_lifetime", { { NULL, NULL, NULL } } },
	{ "queue_lifetime too long", "account a\nqueue_lifetime 400d\n", EX_CONFIG, 2, "366d", { { NULL, NULL, NULL } } },
	{ "bad timeout", "account a\ntimeout soon\n", EX_CONFIG, 2, "timeout", { { NULL, NULL, NULL } } },
	{ "timeout too long", "account a\ntimeout 86401\n", EX_CONFIG, 2, "timeout", { { NULL, NULL, NULL } } },
	{ "bad header mode", "account a\nset_date_header sometimes\n", EX_CONFIG, 2, "auto, on or off", { { NULL, NULL, NULL } } },
	{ "unknown auth method", "account a\nauth rot13\n", EX_CONFIG, 2, "rot13", { { NULL, NULL, NULL } } },
	{ "SHA-1 fingerprint refused", "account a\ntls_fingerprint "
	  "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33\n", EX_CONFIG, 2, "SHA-1", { { NULL, NULL, NULL } } },
	{ "non-hex fingerprint", "account a\ntls_fingerprint zz\n", EX_CONFIG, 2, "hexadecimal", { { NULL, NULL, NULL } } },
	{ "short fingerprint", "account a\ntls_fingerprint 0011\n", EX_CONFIG, 2, "64 hex digits", { { NULL, NULL, NULL } } },
	{ "bad dsn_notify", "account a\ndsn_notify failure,sometimes\n", EX_CONFIG, 2, "dsn_notify", { { NULL, NULL, NULL } } },
	{ "repeated dsn_notify condition", "account a\ndsn_notify delay,delay\n", EX_CONFIG, 2, "dsn_notify", { { NULL, NULL, NULL } } },
	{ "trailing comma in dsn_notify", "account a\ndsn_notify delay,\n", EX_CONFIG, 2, "dsn_notify", { { NULL, NULL, NULL } } },
	{ "bad dsn_return", "account a\ndsn_return some\n", EX_CONFIG, 2, "dsn_return", { { NULL, NULL, NULL } } },
	{ "bad syslog", "account a\nsyslog LOG_KERN\n", EX_CONFIG, 2, "syslog", { { NULL, NULL, NULL } } },
	{ "bad protocol", "account a\nprotocol uucp\n", EX_CONFIG, 2, "protocol", { { NULL, NULL, NULL } } },
	{ "empty host", "account a\nhost\n", EX_CONFIG, 2, "host", { { NULL, NULL, NULL } } },
	{ "account without a name", "\naccount\n", EX_CONFIG, 2, "name", { { NULL, NULL, NULL } } },
	{ "account name with a space", "account a b\n", EX_CONFIG, 1, "name", { { NULL, NULL, NULL } } },
	{ "undefined parent", "account a\nhost h\naccount b : nothere\n", EX_CONFIG, 3, "nothere", { { NULL, NULL, NULL } } },
	{ "empty parent list", "account a\nhost h\naccount b :\n", EX_CONFIG, 3, "account names", { { NULL, NULL, NULL } } },
	{ "parent defined later", "account b : a\naccount a\nhost h\n", EX_CONFIG, 1, "not defined above", { { NULL, NULL, NULL } } },
	{ "duplicate account", "account a\nhost h\naccount a\n", EX_CONFIG, 3, "already defined at line 1", { { NULL, NULL, NULL } } },
	{ "implicit default then account default", "host h\naccount default\n", EX_CONFIG, 2, "already defined", { { NULL, NULL, NULL } } },
	{ "defaults with an argument", "defaults x\n", EX_CONFIG, 1, "no argument", { { NULL, NULL, NULL } } },
	{ "tls_nocertcheck with an argument", "account a\ntls_nocertcheck off\n", EX_CONFIG, 2, "no argument", { { NULL, NULL, NULL } } },
	{ "unterminated quote", "account a\npassword \"abc\n", EX_CONFIG, 2, "closing quote", { { NULL, NULL, NULL } } },
	{ "text after the quote", "account a\npassword \"abc\" def\n", EX_CONFIG, 2, "after the closing quote", { { NULL, NULL, NULL } } },
	{ "control character", "account a\nhost h\x01x\n", EX_CONFIG, 2, "control character", { { NULL, NULL, NULL } } },
	{ "failing eval", "account a\neval exit 3\n", EX_CONFIG, 2, "exit status 3", { { NULL, NULL, NULL } } },
	{ "eval printing eval", "account a\neval echo eval echo host x\n", EX_CONFIG, 2, "another eval", { { NULL, NULL, NULL } } },
	{ "eval printing an unknown directive", "account a\n\neval echo bogus 1\n", EX_CONFIG, 3, "bogus", { { NULL, NULL, NULL } } },
	{ "eval without a command", "eval\n", EX_CONFIG, 1, "needs a command", { { NULL, NULL, NULL } } },
	{ "error on a CRLF line counts lines", "account a\r\nhost h\r\nport x\r\n", EX_CONFIG, 3, "port", { { NULL, NULL, NULL } } },
};

static void
test_parse(void)
{
	char home[PATH_MAX + 16];

	snprintf(home, sizeof home, "%s/home", tmpdir);
	for (size_t k = 0; k < sizeof parse_cases / sizeof parse_cases[0]; k++) {
		const char *name = parse_cases[k].name;
		const char *path = new_file(parse_cases[k].text, 0600);
		struct conf c;
		struct err e;
		int r;

		conf_init(&c);
		c.home = home;
		err_init(&e);
		r = conf_load_file(&c, path, 1, NULL, &e);
		if (parse_cases[k].ex) {
			char prefix[PATH_MAX + 64];

			snprintf(prefix, sizeof prefix, "%s:%d: ", path, parse_cases[k].line);
			is_int(r, -1, "%s: refused", name);
			is_int(e.ex, parse_cases[k].ex, "%s: exit code", name);
			ok(strncmp(e.msg, prefix, strlen(prefix)) == 0,
			    "%s: message \"%s\" starts with FILE:%d:", name, e.msg, parse_cases[k].line);
			ok(strstr(e.msg, parse_cases[k].msg_has) != NULL,
			    "%s: message mentions \"%s\"", name, parse_cases[k].msg_has);
			is_int(c.naccounts, 0, "%s: nothing merged on error", name);
		} else {
			is_int(r, 0, "%s: loads%s%s", name, r ? ": " : "", r ? e.msg : "");
			for (size_t i = 0; i < 8 && parse_cases[k].exp[i].account; i++) {
				const struct expect *x = &parse_cases[k].exp[i];
				const struct account *a = find(&c, x->account);
				char buf[64], want[PATH_MAX + 64];

				if (x->value[0] == '~' && (x->value[1] == '\0' || x->value[1] == '/'))
					snprintf(want, sizeof want, "%s%s", home, x->value + 1);
				else
					snprintf(want, sizeof want, "%s", x->value);
				if (!ok(a != NULL, "%s: account %s exists", name, x->account))
					continue;
				is_str(field(a, x->field, buf, sizeof buf), want, "%s: %s.%s",
				    name, x->account, x->field);
			}
		}
		conf_free(&c);
	}
}

static void
test_limits(void)
{
	char *text;
	const char *path;
	struct conf c;
	struct err e;
	size_t n = CONF_LINE_MAX + 20;

	/* A line one byte over the limit fails; one at the limit loads. */
	{
		const char *head = "account a\nhost h\nfrom ";
		size_t hl = strlen(head), fill = CONF_LINE_MAX - strlen("from ");

		text = malloc(n + 64);
		memcpy(text, head, hl);
		memset(text + hl, 'x', fill);
		memcpy(text + hl + fill, "\n", 2);
		path = new_file(text, 0600);
		conf_init(&c);
		is_int(conf_load_file(&c, path, 1, NULL, &e), 0,
		    "a line of exactly CONF_LINE_MAX bytes loads");
		conf_free(&c);
		memcpy(text + hl + fill, "x\n", 3);
		path = new_file(text, 0600);
		conf_init(&c);
		is_int(conf_load_file(&c, path, 1, NULL, &e), -1, "a longer line is refused");
		ok(strstr(e.msg, ":3: line longer than") != NULL, "... naming line 3: %s", e.msg);
		conf_free(&c);
		free(text);
	}

	{
		static const char nul[] = "account a\nhost h\0x\n";
		char p2[PATH_MAX + 32];

		snprintf(p2, sizeof p2, "%s/nul", tmpdir);
		write_file(p2, nul, sizeof nul - 1, 0600);
		conf_init(&c);
		is_int(conf_load_file(&c, p2, 1, NULL, &e), -1, "a NUL byte is refused");
		ok(strstr(e.msg, ":2: NUL byte") != NULL, "... on line 2: %s", e.msg);
		conf_free(&c);
	}

	conf_init(&c);
	is_int(conf_load_file(&c, "/nonexistent/rc", 1, NULL, &e), -1, "a missing file is an error");
	is_int(e.ex, EX_CONFIG, "... EX_CONFIG");
	is_int(conf_load_file(&c, tmpdir, 1, NULL, &e), -1, "a directory is refused");
	ok(strstr(e.msg, "not a regular file") != NULL, "... %s", e.msg);
	conf_free(&c);
}

/* Every directive msmtp 1.8 accepts, with a valid value: all must load. */
static void
test_all_msmtp_directives(void)
{
	static const struct {
		const char *line;
		int warns;      /* expect a not-implemented warning */
	} lines[] = {
		{ "host smtp.example.org", 0 }, { "port 587", 0 }, { "source_ip 192.0.2.1", 1 },
		{ "proxy_host 127.0.0.1", 1 }, { "proxy_port 1080", 1 }, { "socket /run/smtp", 1 },
		{ "timeout 30", 0 }, { "connect_timeout 30", 0 }, { "protocol smtp", 0 },
		{ "protocol lmtp", 1 }, { "domain example.org", 0 }, { "auth on", 0 },
		{ "auth digest-md5", 0 }, { "auth ntlm", 0 }, { "auth gssapi", 0 }, { "auth xoauth2", 0 },
		{ "auth oauthbearer", 0 }, { "auth external", 0 }, { "auth cram-md5", 0 },
		{ "auth login", 0 }, { "auth scram-sha-1", 0 }, { "auth scram-sha-1-plus", 0 },
		{ "auth scram-sha-256", 0 },
		{ "user bob", 0 }, { "password x", 0 }, { "passwordeval echo x", 0 },
		{ "ntlmdomain CORP", 1 }, { "tls on", 0 }, { "tls_starttls on", 0 },
		{ "tls_trust_file system", 0 }, { "tls_crl_file /x.crl", 1 },
		{ "tls_fingerprint 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", 0 },
		{ "tls_key_file /k", 0 }, { "tls_cert_file /c", 0 }, { "tls_certcheck on", 0 },
		{ "tls_priorities NORMAL", 0 }, { "tls_host_override mx", 0 },
		{ "tls_min_dh_prime_bits 2048", 1 }, { "from a@b", 0 }, { "from_full_name A B", 0 },
		{ "allow_from_override on", 0 }, { "allow_from_override off", 0 },
		{ "dsn_notify success", 0 }, { "dsn_return full", 0 },
		{ "set_from_header auto", 0 }, { "set_date_header auto", 0 }, { "set_msgid_header off", 0 },
		{ "set_to_header on", 1 }, { "set_to_header off", 0 }, { "set_to_header undisclosed_recipients", 1 },
		{ "remove_bcc_headers on", 0 }, { "undisclosed_recipients on", 1 },
		{ "undisclosed_recipients off", 0 }, { "logfile /tmp/envoi-test.log", 0 },
		{ "logfile_time_format %Y", 1 }, { "syslog LOG_LOCAL3", 0 }, { "aliases /etc/aliases", 0 },
		{ "auto_from on", 1 }, { "auto_from off", 0 }, { "maildomain example.org", 1 },
		{ "add_missing_from_header on", 0 }, { "add_missing_date_header on", 0 },
		{ "keepbcc off", 0 }, { "tls_nocertcheck", 0 }, { "tls_nostarttls", 0 },
		{ "tls_force_sslv3 on", 0 }, { "queue_dir /var/spool/envoi", 0 },
		{ "eval echo port 25", 0 }, { "defaults", 0 }, { "account x", 0 },
		{ "account default : x", 0 },
	};

	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		char text[512], *out = NULL;
		size_t outlen = 0;
		struct conf c;
		struct err e;
		struct log l;
		const char *path;
		int r;

		/* "account default : x" needs x defined first. */
		snprintf(text, sizeof text, "%s%s\n",
		    strncmp(lines[i].line, "account default", 15) == 0 ? "account x\n" : "",
		    lines[i].line);
		path = new_file(text, 0600);
		conf_init(&c);
		log_init(&l, "envoi");
		l.err = open_memstream(&out, &outlen);
		r = conf_load_file(&c, path, 1, &l, &e);
		fclose(l.err);
		for (char *q = out; q && *q; q++)
			if (*q == '\n')
				*q = ' ';
		is_int(r, 0, "msmtp directive \"%s\" is accepted%s%s", lines[i].line,
		    r ? ": " : "", r ? e.msg : "");
		if (lines[i].warns)
			ok(out && strstr(out, "is not implemented by envoi and is ignored") &&
			    strstr(out, ":1: directive "),
			    "\"%s\" warns with FILE:LINE: %s", lines[i].line, out ? out : "");
		else
			ok(outlen == 0, "\"%s\" does not warn: %s", lines[i].line, out ? out : "");
		free(out);
		conf_free(&c);
	}
}

static void
test_warn_once(void)
{
	const char *p1, *p2;
	char keep[PATH_MAX + 32];
	char *out = NULL;
	size_t len = 0;
	struct conf c;
	struct err e;
	struct log l;
	const char *s;
	int n = 0;

	p1 = new_file("account a\nhost h\nproxy_host p\nproxy_host q\nsocket /x\naccount b\nproxy_host r\n", 0600);
	snprintf(keep, sizeof keep, "%s", p1);
	p2 = new_file("account c\nhost h\nproxy_host p\n", 0600);
	conf_init(&c);
	log_init(&l, "envoi");
	l.err = open_memstream(&out, &len);
	is_int(conf_load_file(&c, keep, 0, &l, &e), 0, "file with unimplemented directives loads");
	is_int(conf_load_file(&c, p2, 1, &l, &e), 0, "second file loads");
	fclose(l.err);
	for (s = out; s && (s = strstr(s, "directive proxy_host")) != NULL; s++)
		n++;
	is_int(n, 1, "proxy_host warned about once per run, across files");
	for (char *q = out; q && *q; q++)
		if (*q == '\n')
			*q = ' ';
	ok(out && strstr(out, ":3: directive proxy_host is not implemented by envoi and is ignored"),
	    "the warning names the first line: %s", out ? out : "");
	ok(out && strstr(out, ":5: directive socket"), "socket warned about separately");
	ok(out && strncmp(out, "envoi: warning: ", 16) == 0, "through log_warn");
	free(out);
	conf_free(&c);
}

/* ------------------------------------------------------------------ */
static void
test_permissions(void)
{
	static const struct {
		const char *name;
		const char *text;
		mode_t mode;
		int user_file;
		int ret;
		const char *msg_has;
	} cases[] = {
		{ "user file 0600 with password", "account a\nhost h\npassword p\n", 0600, 1, 0, NULL },
		{ "user file 0400 with password", "account a\nhost h\npassword p\n", 0400, 1, 0, NULL },
		{ "user file 0644 with password", "account a\nhost h\npassword p\n", 0644, 1, -1, "chmod 600" },
		{ "user file 0640 with password", "account a\nhost h\npassword p\n", 0640, 1, -1, "readable by others" },
		{ "user file 0604 with password", "account a\nhost h\npassword p\n", 0604, 1, -1, "chmod 600" },
		{ "user file 0644 without password", "account a\nhost h\nuser u\n", 0644, 1, 0, NULL },
		{ "passwordeval alone does not trigger", "account a\nhost h\npasswordeval echo x\n", 0644, 1, 0, NULL },
		{ "password from eval does not trigger", "account a\nhost h\neval echo password x\n", 0644, 1, 0, NULL },
		{ "system file 0640 with password", "account a\nhost h\npassword p\n", 0640, 0, 0, NULL },
		{ "system file 0644 with password", "account a\nhost h\npassword p\n", 0644, 0, -1, "chmod o-rwx" },
		{ "system file 0644 without password", "account a\nhost h\n", 0644, 0, 0, NULL },
		{ "user file 0644 with oauth2_client_secret",
		  "account a\nhost h\noauth2_client_secret s\n", 0644, 1, -1, "chmod 600" },
		{ "user file 0600 with oauth2_client_secret",
		  "account a\nhost h\noauth2_client_secret s\n", 0600, 1, 0, NULL },
	};

	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		const char *path = new_file(cases[k].text, cases[k].mode);
		struct conf c;
		struct err e;
		int r;

		conf_init(&c);
		err_init(&e);
		r = conf_load_file(&c, path, cases[k].user_file, NULL, &e);
		is_int(r, cases[k].ret, "%s", cases[k].name);
		if (cases[k].ret) {
			is_int(e.ex, EX_CONFIG, "%s: EX_CONFIG", cases[k].name);
			ok(strstr(e.msg, cases[k].msg_has) && strstr(e.msg, path) == e.msg,
			    "%s: message \"%s\"", cases[k].name, e.msg);
			is_int(c.naccounts, 0, "%s: no account kept", cases[k].name);
		}
		conf_free(&c);
	}

	/* Ownership needs root to set up. */
	if (getuid() == 0) {
		const char *path = new_file("account a\nhost h\npassword p\n", 0600);
		struct conf c;
		struct err e;

		if (chown(path, 65534, 65534) == 0) {
			conf_init(&c);
			is_int(conf_load_file(&c, path, 1, NULL, &e), -1, "user file owned by someone else");
			ok(strstr(e.msg, "owned by uid 65534") != NULL, "... says the owner: %s", e.msg);
			is_int(conf_load_file(&c, path, 0, NULL, &e), -1, "system file owned by someone else");
			ok(strstr(e.msg, "not by root or you") != NULL, "... says the owner: %s", e.msg);
			conf_free(&c);
		}
	} else {
		printf("ok %d # skip ownership checks need root\n", ++tap_n);
	}
}

/* ------------------------------------------------------------------ */
static const char *
user_name(void)
{
	struct passwd *pw = getpwuid(getuid());
	return pw ? pw->pw_name : "unknown";
}

static const char *
host(void)
{
	static char h[256];

	if (gethostname(h, sizeof h) < 0 || h[0] == '\0')
		snprintf(h, sizeof h, "localhost");
	return h;
}

/* Finalised values of the account selected from a one-file config. */
static const struct {
	const char *name;
	const char *text;
	const char *select;         /* -a */
	int ex;
	const char *msg_has;
	struct expect exp[8];       /* account field ignored; "%U"/"%H" in value substituted */
} final_cases[] = {
	{ "plain relay: no auth, no TLS", "account default\nhost relay.example\n", NULL, 0, NULL,
	  { { "", "auth", "off" }, { "", "tls", "0" }, { "", "port", "25" }, { "", "tls_starttls", "1" },
	    { "", "tls_certcheck", "1" }, { "", "timeout", "60" }, { "", "remove_bcc_headers", "1" },
	    { "", "domain", "%H" } } },
	{ "auth without tls gets STARTTLS with checks",
	  "account default\nhost smtp.example\nauth on\nuser u\npassword p\n", NULL, 0, NULL,
	  { { "", "tls", "1" }, { "", "tls_starttls", "1" }, { "", "tls_certcheck", "1" },
	    { "", "port", "25" } } },
	{ "user and password without auth mean auth on",
	  "account default\nhost smtp.example\nport 587\nuser u\npassword p\n", NULL, 0, NULL,
	  { { "", "auth", "on" }, { "", "tls", "1" }, { "", "tls_starttls", "1" }, { "", "port", "587" } } },
	{ "passwordeval alone means auth on",
	  "account default\nhost smtp.example\npasswordeval echo x\n", NULL, 0, NULL,
	  { { "", "auth", "on" }, { "", "tls", "1" } } },
	{ "auth with port 465 and tls unset is implicit TLS",
	  "account default\nhost smtp.example\nport 465\nauth plain\nuser u\n", NULL, 0, NULL,
	  { { "", "tls", "1" }, { "", "tls_starttls", "0" }, { "", "port", "465" } } },
	{ "tls on, starttls off: port 465",
	  "account default\nhost smtp.example\ntls on\ntls_starttls off\n", NULL, 0, NULL,
	  { { "", "port", "465" }, { "", "tls", "1" }, { "", "tls_starttls", "0" } } },
	{ "tls on: port 25 with STARTTLS",
	  "account default\nhost smtp.example\ntls on\n", NULL, 0, NULL,
	  { { "", "port", "25" }, { "", "tls_starttls", "1" } } },
	{ "explicit certcheck off is kept",
	  "account default\nhost smtp.example\nauth on\ntls_certcheck off\n", NULL, 0, NULL,
	  { { "", "tls", "1" }, { "", "tls_certcheck", "0" } } },
	{ "tls off + password to a remote host is refused",
	  "account default\nhost smtp.example\ntls off\nauth plain\nuser u\npassword p\n", NULL,
	  EX_CONFIG, "refusing to send a password without TLS to smtp.example; set tls on", { { NULL, NULL, NULL } } },
	{ "tls off + auth on to a remote host is refused",
	  "account default\nhost smtp.example\ntls off\nauth on\n", NULL, EX_CONFIG, "without TLS", { { NULL, NULL, NULL } } },
	{ "tls off + scram to a remote host is refused",
	  "account default\nhost smtp.example\ntls off\nauth scram-sha-256\n", NULL, EX_CONFIG, "without TLS", { { NULL, NULL, NULL } } },
	{ "tls off + password in the defaults is refused",
	  "defaults\ntls off\nuser u\npassword p\naccount default\nhost 128.0.0.1\n", NULL,
	  EX_CONFIG, "without TLS", { { NULL, NULL, NULL } } },
	{ "localhost.example is not loopback",
	  "account default\nhost localhost.example\ntls off\nauth on\n", NULL, EX_CONFIG, "without TLS", { { NULL, NULL, NULL } } },
	{ "tls off + password to localhost is allowed",
	  "account default\nhost localhost\ntls off\nauth plain\nuser u\npassword p\n", NULL, 0, NULL,
	  { { "", "tls", "0" }, { "", "auth", "PLAIN" } } },
	{ "tls off + password to 127.0.0.1 is allowed",
	  "account default\nhost 127.0.0.1\ntls off\nuser u\npassword p\n", NULL, 0, NULL,
	  { { "", "tls", "0" }, { "", "auth", "on" } } },
	{ "tls off + password to 127.5.6.7 is allowed",
	  "account default\nhost 127.5.6.7\ntls off\nauth on\n", NULL, 0, NULL, { { "", "tls", "0" } } },
	{ "tls off + password to ::1 is allowed",
	  "account default\nhost ::1\ntls off\nauth login\n", NULL, 0, NULL, { { "", "tls", "0" } } },
	{ "tls off + EXTERNAL to a remote host is allowed",
	  "account default\nhost smtp.example\ntls off\nauth external\n", NULL, 0, NULL,
	  { { "", "auth", "EXTERNAL" } } },
	{ "no host", "account default\nport 25\n", NULL, EX_CONFIG, "no host", { { NULL, NULL, NULL } } },
	{ "no host names the file and line", "\n\naccount default\nport 25\n", NULL, EX_CONFIG, ":3: account default: no host", { { NULL, NULL, NULL } } },
	{ "cert without key", "account default\nhost h\ntls on\ntls_cert_file /c\n", NULL, EX_CONFIG,
	  "tls_cert_file and tls_key_file", { { NULL, NULL, NULL } } },
	{ "key without cert", "account default\nhost h\ntls on\ntls_key_file /k\n", NULL, EX_CONFIG,
	  "tls_cert_file and tls_key_file", { { NULL, NULL, NULL } } },
	{ "timeout off stays off", "account default\nhost h\ntimeout off\n", NULL, 0, NULL,
	  { { "", "timeout", "0" } } },
	{ "from substitutions", "account default\nhost h\nfrom %U@%H\ndomain mail.%H\n", NULL, 0, NULL,
	  { { "", "from", "%U@%H" }, { "", "domain", "mail.%H" }, { "", "from_is_pattern", "0" } } },
	{ "a wildcard from is marked", "account default\nhost h\nfrom *@example.org\n", NULL, 0, NULL,
	  { { "", "from", "*@example.org" }, { "", "from_is_pattern", "1" } } },
	{ "from %C and %% and unknown", "account default\nhost h\nfrom 100%%-%C-%F-%\n", NULL, 0, NULL,
	  { { "", "from", "100%-%H-%F-%" } } },
	{ "-a picks the account", "account default\nhost d\naccount other\nhost o\n", "other", 0, NULL,
	  { { "", "host", "o" } } },
	{ "-a with a missing account", "account default\nhost d\n", "nope", EX_CONFIG,
	  "account nope not found in ", { { NULL, NULL, NULL } } },
	{ "finalize error from the selected account only",
	  "account default\nhost d\naccount broken\nport 1\n", NULL, 0, NULL, { { "", "host", "d" } } },
	/* OAuth 2.0 (oauth2.h) */
	{ "oauth2: microsoft means auth on over TLS",
	  "account default\nhost smtp.office365.com\nport 587\nuser u@x\noauth2_provider microsoft\n"
	  "oauth2_client_id abc\noauth2_tenant common\n", NULL, 0, NULL,
	  { { "", "auth", "on" }, { "", "tls", "1" }, { "", "oauth2_provider", "microsoft" },
	    { "", "oauth2_client_id", "abc" }, { "", "oauth2_tenant", "common" } } },
	{ "oauth2: custom with token and device URLs",
	  "account default\nhost h\nuser u\nauth xoauth2\noauth2_provider custom\noauth2_client_id c\n"
	  "oauth2_token_url https://127.0.0.1:8443/token\noauth2_device_url https://127.0.0.1:8443/device\n"
	  "oauth2_scope \"openid offline_access\"\n", NULL, 0, NULL,
	  { { "", "auth", "XOAUTH2" }, { "", "oauth2_token_url", "https://127.0.0.1:8443/token" },
	    { "", "oauth2_scope", "openid offline_access" } } },
	{ "oauth2: settings without a provider",
	  "account default\nhost h\nuser u\noauth2_client_id c\n", NULL, EX_CONFIG,
	  "oauth2_* settings need oauth2_provider", { { NULL, NULL, NULL } } },
	{ "oauth2: no client id",
	  "account default\nhost h\nuser u\noauth2_provider google\n", NULL, EX_CONFIG,
	  "needs oauth2_client_id", { { NULL, NULL, NULL } } },
	{ "oauth2: no user",
	  "account default\nhost h\noauth2_provider google\noauth2_client_id c\n", NULL, EX_CONFIG,
	  "needs user", { { NULL, NULL, NULL } } },
	{ "oauth2: not with passwordeval",
	  "account default\nhost h\nuser u\npasswordeval echo t\noauth2_provider google\n"
	  "oauth2_client_id c\n", NULL, EX_CONFIG,
	  "oauth2_provider and passwordeval exclude each other", { { NULL, NULL, NULL } } },
	{ "oauth2: secret and secret_eval",
	  "account default\nhost h\nuser u\noauth2_provider google\noauth2_client_id c\n"
	  "oauth2_client_secret s\noauth2_client_secret_eval echo s\n", NULL, EX_CONFIG,
	  "exclude each other", { { NULL, NULL, NULL } } },
	{ "oauth2: tenant is microsoft's",
	  "account default\nhost h\nuser u\noauth2_provider google\noauth2_client_id c\n"
	  "oauth2_tenant t\n", NULL, EX_CONFIG, "microsoft only", { { NULL, NULL, NULL } } },
	{ "oauth2: URLs are for custom",
	  "account default\nhost h\nuser u\noauth2_provider google\noauth2_client_id c\n"
	  "oauth2_token_url https://t.example/\n", NULL, EX_CONFIG, "custom only", { { NULL, NULL, NULL } } },
	{ "oauth2: custom needs a token URL",
	  "account default\nhost h\nuser u\noauth2_provider custom\noauth2_client_id c\n"
	  "oauth2_device_url https://t.example/d\n", NULL, EX_CONFIG, "needs oauth2_token_url",
	  { { NULL, NULL, NULL } } },
	{ "oauth2: custom needs a way to log in",
	  "account default\nhost h\nuser u\noauth2_provider custom\noauth2_client_id c\n"
	  "oauth2_token_url https://t.example/t\n", NULL, EX_CONFIG, "oauth2_device_url or oauth2_auth_url",
	  { { NULL, NULL, NULL } } },
	{ "oauth2: a password mechanism is refused",
	  "account default\nhost h\nuser u\nauth plain\noauth2_provider google\noauth2_client_id c\n",
	  NULL, EX_CONFIG, "needs auth on, oauthbearer or xoauth2, not PLAIN", { { NULL, NULL, NULL } } },
	{ "oauth2: auth off is refused",
	  "account default\nhost h\nuser u\nauth off\noauth2_provider google\noauth2_client_id c\n",
	  NULL, EX_CONFIG, "not off", { { NULL, NULL, NULL } } },
};

/* "%U" and "%H" in an expected value become the real ones. */
static void
expand_want(const char *in, char *out, size_t size)
{
	size_t n = 0;

	for (; *in && n + 1 < size; in++) {
		if (in[0] == '%' && (in[1] == 'U' || in[1] == 'H')) {
			n += (size_t)snprintf(out + n, size - n, "%s", in[1] == 'U' ? user_name() : host());
			in++;
		} else {
			out[n++] = *in;
		}
	}
	out[n < size ? n : size - 1] = '\0';
}

static void
test_finalize(void)
{
	for (size_t k = 0; k < sizeof final_cases / sizeof final_cases[0]; k++) {
		const char *name = final_cases[k].name;
		const char *path = new_file(final_cases[k].text, 0600);
		struct account *a;
		struct conf c;
		struct err e;

		conf_init(&c);
		err_init(&e);
		if (conf_load_file(&c, path, 1, NULL, &e) < 0) {
			ok(0, "%s: loads: %s", name, e.msg);
			conf_free(&c);
			continue;
		}
		a = conf_select(&c, final_cases[k].select, NULL, &e);
		if (final_cases[k].ex) {
			ok(a == NULL, "%s: refused", name);
			is_int(e.ex, final_cases[k].ex, "%s: exit code", name);
			ok(strstr(e.msg, final_cases[k].msg_has) != NULL, "%s: message \"%s\"", name, e.msg);
		} else if (ok(a != NULL, "%s: selected%s%s", name, a ? "" : ": ", a ? "" : e.msg)) {
			for (size_t i = 0; i < 8 && final_cases[k].exp[i].field; i++) {
				const struct expect *x = &final_cases[k].exp[i];
				char buf[64], want[512];

				expand_want(x->value, want, sizeof want);
				is_str(field(a, x->field, buf, sizeof buf), want, "%s: %s", name, x->field);
			}
		}
		account_free(a);
		conf_free(&c);
	}
}

static void
test_select(void)
{
	static const struct {
		const char *name;
		const char *account;
		const char *from;
		const char *want;       /* host of the chosen account; NULL = error */
		const char *msg_has;
	} cases[] = {
		{ "nothing given: default", NULL, NULL, "d.example", NULL },
		{ "empty -f: default", NULL, "", "d.example", NULL },
		{ "-a wins over -f", "work", "me@home.example", "w.example", NULL },
		{ "-f matches a wildcard", NULL, "anyone@work.example", "w.example", NULL },
		{ "-f matches ignoring case", NULL, "ANYONE@Work.Example", "w.example", NULL },
		{ "-f matches exactly", NULL, "me@home.example", "h.example", NULL },
		{ "-f with +detail matches", NULL, "me+lists@home.example", "h.example", NULL },
		{ "-f with %U in from", NULL, "%U@unix.example", "u.example", NULL },
		{ "-f matching nothing: default", NULL, "stranger@else.example", "d.example", NULL },
		{ "-a missing", "nope", NULL, NULL, "account nope not found in " },
		{ "user account first", NULL, "x@both.example", "user-both", NULL },
	};
	const char *sys = new_file("account sysboth\nhost sys-both\nfrom *@both.example\n", 0600);
	char syspath[PATH_MAX + 32];
	const char *user;
	struct conf c;
	struct err e;

	snprintf(syspath, sizeof syspath, "%s", sys);
	user = new_file("account default\nhost d.example\n"
	    "account work\nhost w.example\nfrom *@work.example\n"
	    "account home\nhost h.example\nfrom me@home.example\n"
	    "account unix\nhost u.example\nfrom %U@unix.example\n"
	    "account userboth\nhost user-both\nfrom *@both.example\n", 0600);
	conf_init(&c);
	is_int(conf_load_file(&c, syspath, 0, NULL, &e), 0, "system file loads");
	is_int(conf_load_file(&c, user, 1, NULL, &e), 0, "user file loads");
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		char from[256];
		struct account *a;

		if (cases[k].from)
			expand_want(cases[k].from, from, sizeof from);
		err_init(&e);
		a = conf_select(&c, cases[k].account, cases[k].from ? from : NULL, &e);
		if (cases[k].want) {
			is_str(a ? a->host : e.msg, cases[k].want, "%s", cases[k].name);
		} else {
			ok(a == NULL && e.ex == EX_CONFIG, "%s: refused", cases[k].name);
			ok(strstr(e.msg, cases[k].msg_has) && strstr(e.msg, user),
			    "%s: message names the files: %s", cases[k].name, e.msg);
		}
		account_free(a);
	}
	conf_free(&c);

	/* No default and no match. */
	conf_init(&c);
	is_int(conf_load_file(&c, new_file("account work\nhost w\nfrom *@work.example\n", 0600), 1, NULL, &e),
	    0, "file without a default loads");
	ok(conf_select(&c, NULL, "a@b.example", &e) == NULL, "no default, no match: refused");
	ok(strstr(e.msg, "account default") && strstr(e.msg, "a@b.example"),
	    "... says how to fix it: %s", e.msg);
	ok(conf_select(&c, NULL, NULL, &e) == NULL, "no default, no -f: refused");
	conf_free(&c);

	/* Nothing configured. */
	conf_init(&c);
	c.sysconfdir = "/nonexistent-etc";
	ok(conf_select(&c, NULL, NULL, &e) == NULL, "empty configuration: refused");
	is_int(e.ex, EX_CONFIG, "... EX_CONFIG");
	ok(strstr(e.msg, "no configuration found") && strstr(e.msg, "/nonexistent-etc/envoi.conf"),
	    "... says how to configure: %s", e.msg);
	conf_free(&c);
}

/*
 * Commands a file runs (eval while it is read, passwordeval when its
 * account authenticates) run as the caller: only a file of the caller's
 * or root's that nobody else may write may hold them (issue 8 §5.7).
 */
static void
test_command_trust(void)
{
	static const struct {
		const char *name;
		const char *text;       /* an eval creates the file $MARK */
		mode_t mode;
		int user_file, ret;
		const char *msg_has;
	} cases[] = {
		{ "own 0644 file with passwordeval", "account a\nhost h\npasswordeval echo x\n",
		  0644, 1, 0, NULL },
		{ "own 0644 file with eval", "account a\neval touch \"$MARK\"; echo host h\n", 0644, 1, 0,
		  NULL },
		{ "group-writable file with passwordeval",
		  "account a\nhost h\npasswordeval echo x\n", 0664, 1, -1, "chmod go-w" },
		{ "world-writable file with passwordeval",
		  "account a\nhost h\npasswordeval echo x\n", 0646, 1, -1, "writable by" },
		{ "group-writable system file with passwordeval",
		  "account a\nhost h\npasswordeval echo x\n", 0660, 0, -1, "writable by" },
		{ "passwordeval through defaults",
		  "defaults\npasswordeval echo x\naccount a\nhost h\n", 0620, 1, -1, "account a" },
		{ "group-writable file with oauth2_client_secret_eval",
		  "account a\nhost h\noauth2_client_secret_eval echo x\n", 0664, 1, -1,
		  "run its oauth2_client_secret_eval command" },
		{ "group-writable file with eval", "account a\neval touch \"$MARK\"; echo host h\n", 0664,
		  1, -1, "eval" },
		{ "group-writable file without commands", "account a\nhost h\nuser u\n", 0664, 1,
		  0, NULL },
	};
	char mark[PATH_MAX + 16];

	snprintf(mark, sizeof mark, "%s/eval-ran", tmpdir);
	setenv("MARK", mark, 1);
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		const char *path;
		struct conf c;
		struct err e;
		int r;

		unlink(mark);
		path = new_file(cases[k].text, cases[k].mode);
		conf_init(&c);
		err_init(&e);
		r = conf_load_file(&c, path, cases[k].user_file, NULL, &e);
		is_int(r, cases[k].ret, "%s: %s", cases[k].name, r ? e.msg : "loaded");
		if (cases[k].ret) {
			ok(e.ex == EX_CONFIG && strstr(e.msg, cases[k].msg_has) &&
			    strstr(e.msg, path) == e.msg, "%s: EX_CONFIG naming the file and why",
			    cases[k].name);
			is_int(c.naccounts, 0, "%s: no account kept", cases[k].name);
			ok(access(mark, F_OK) < 0, "%s: the eval command did not run",
			    cases[k].name);
		}
		conf_free(&c);
	}

	/* A file of another user's (sudo -E, su without -, root's -C). */
	if (getuid() == 0) {
		const char *path;
		struct conf c;
		struct err e;

		unlink(mark);
		path = new_file("account a\nhost h\npasswordeval echo x\n", 0644);
		conf_init(&c);
		if (chown(path, 65534, 65534) == 0) {
			is_int(conf_load_file(&c, path, 1, NULL, &e), -1,
			    "another user's file with passwordeval is refused");
			ok(e.ex == EX_CONFIG && strstr(e.msg, "owned by uid 65534") &&
			    strstr(e.msg, path) == e.msg, "... naming the file and its owner: %s",
			    e.msg);
		}
		path = new_file("account a\neval touch \"$MARK\"; echo host h\n", 0644);
		if (chown(path, 65534, 65534) == 0) {
			is_int(conf_load_file(&c, path, 1, NULL, &e), -1,
			    "another user's file with eval is refused");
			ok(access(mark, F_OK) < 0 && strstr(e.msg, "owned by uid 65534"),
			    "... before the command runs: %s", e.msg);
		}
		path = new_file("account a\nhost h\n", 0644);
		if (chown(path, 65534, 65534) == 0)
			is_int(conf_load_file(&c, path, 1, NULL, &e), 0,
			    "another user's file without commands still loads");
		conf_free(&c);
	} else {
		printf("ok %d # skip ownership checks need root\n", ++tap_n);
	}

	/* A command inherited from a trusted file's account is refused in
	 * an untrusted one: there it would send the secret where that file
	 * says. */
	{
		const char *sys = new_file("account base\nhost h\npasswordeval echo x\n", 0644);
		const char *path;
		struct conf c;
		struct err e;

		conf_init(&c);
		is_int(conf_load_file(&c, sys, 0, NULL, &e), 0, "a trusted file with passwordeval");
		path = new_file("account a : base\nhost elsewhere\n", 0666);
		is_int(conf_load_file(&c, path, 1, NULL, &e), -1,
		    "an untrusted file inheriting passwordeval is refused");
		ok(strstr(e.msg, "account a") != NULL, "... %s", e.msg);
		conf_free(&c);
	}
}

/* ------------------------------------------------------------------ */
static void
mkdirs(const char *path)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof tmp, "%s", path);
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(tmp, 0700);
			*p = '/';
		}
	mkdir(tmp, 0700);
}

static void
put(const char *dir, const char *rel, const char *text)
{
	char path[PATH_MAX], d[PATH_MAX];
	char *slash;

	snprintf(path, sizeof path, "%s/%s", dir, rel);
	snprintf(d, sizeof d, "%s", path);
	slash = strrchr(d, '/');
	*slash = '\0';
	mkdirs(d);
	write_file(path, text, strlen(text), 0600);
}

static void
rm(const char *dir, const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/%s", dir, rel);
	unlink(path);
}

/* The host of account "default" after conf_load, or the error. */
static void
load_and_check(const char *home, const char *sys, const char *cli, const char *want,
    const char *name)
{
	struct conf c;
	struct err e;
	struct account *a;

	conf_init(&c);
	c.home = home;
	c.sysconfdir = sys;
	err_init(&e);
	if (conf_load(&c, cli, NULL, &e) < 0) {
		is_str(e.msg, want, "%s", name);
		conf_free(&c);
		return;
	}
	a = conf_select(&c, NULL, NULL, &e);
	is_str(a ? a->host : e.msg, want, "%s", name);
	account_free(a);
	conf_free(&c);
}

static void
test_lookup(void)
{
	char home[1100], sys[1100], xdg[1100], cli[1100];
	struct conf c;
	struct err e;

	snprintf(home, sizeof home, "%s/lookup-home", tmpdir);
	snprintf(sys, sizeof sys, "%s/lookup-etc", tmpdir);
	snprintf(xdg, sizeof xdg, "%s/lookup-xdg", tmpdir);
	mkdirs(home);
	mkdirs(sys);
	unsetenv("XDG_CONFIG_HOME");

	put(sys, "msmtprc", "account default\nhost sys-msmtprc\naccount sysonly\nhost so\n");
	load_and_check(home, sys, NULL, "sys-msmtprc", "system msmtprc alone");
	put(sys, "envoi.conf", "account default\nhost sys-envoi\naccount sysonly\nhost so\n");
	load_and_check(home, sys, NULL, "sys-envoi", "envoi.conf wins over msmtprc");
	put(home, ".config/msmtp/config", "account default\nhost xdg-msmtp\n");
	load_and_check(home, sys, NULL, "xdg-msmtp", "user file overrides the system's default");
	put(home, ".msmtprc", "account default\nhost dot-msmtprc\n");
	load_and_check(home, sys, NULL, "dot-msmtprc", "~/.msmtprc before $XDG/msmtp/config");
	put(home, ".envoirc", "account default\nhost dot-envoirc\n");
	load_and_check(home, sys, NULL, "dot-envoirc", "~/.envoirc before ~/.msmtprc");
	put(home, ".config/envoi/config", "account default\nhost xdg-envoi\n");
	load_and_check(home, sys, NULL, "xdg-envoi", "~/.config/envoi/config first");

	put(xdg, "envoi/config", "account default\nhost env-xdg\n");
	setenv("XDG_CONFIG_HOME", xdg, 1);
	load_and_check(home, sys, NULL, "env-xdg", "$XDG_CONFIG_HOME is honoured");
	setenv("XDG_CONFIG_HOME", "relative/dir", 1);
	load_and_check(home, sys, NULL, "xdg-envoi", "a relative $XDG_CONFIG_HOME is ignored");
	{
		char file[sizeof xdg + 16];

		snprintf(file, sizeof file, "%s/envoi/config", xdg);
		setenv("XDG_CONFIG_HOME", file, 1);
	}
	load_and_check(home, sys, NULL, "xdg-envoi", "a $XDG_CONFIG_HOME that is a file is ignored");
	if (getuid() == 0) {
		/* sudo -E, su without -: another user's directory. */
		setenv("XDG_CONFIG_HOME", xdg, 1);
		if (chown(xdg, 65534, 65534) == 0)
			load_and_check(home, sys, NULL, "xdg-envoi",
			    "a $XDG_CONFIG_HOME owned by someone else is not trusted");
		if (chown(xdg, 0, 0) != 0)
			printf("# chown %s: %s\n", xdg, strerror(errno));
	} else {
		printf("ok %d # skip ownership checks need root\n", ++tap_n);
	}
	unsetenv("XDG_CONFIG_HOME");

	snprintf(cli, sizeof cli, "%s/cli.rc", tmpdir);
	write_file(cli, "account default\nhost from-cli\n", strlen("account default\nhost from-cli\n"), 0600);
	load_and_check(home, sys, cli, "from-cli", "-C replaces the user file");
	load_and_check(home, sys, "/nonexistent/cli.rc",
	    "cannot read /nonexistent/cli.rc: No such file or directory", "-C file must exist");

	/* The system accounts are still there under a user file. */
	conf_init(&c);
	c.home = home;
	c.sysconfdir = sys;
	is_int(conf_load(&c, NULL, NULL, &e), 0, "system + user load");
	ok(find(&c, "sysonly") != NULL, "system-only account kept");
	is_int(c.naccounts, 2, "the user's default replaced the system's, not added");
	ok(c.nfiles == 2 && strstr(c.files[0], "envoi.conf") && strstr(c.files[1], "envoi/config"),
	    "files listed system first");
	{
		struct account *a = conf_select(&c, "sysonly", NULL, &e);
		ok(a && !a->from_user_file, "system account is marked as such");
		account_free(a);
	}
	conf_free(&c);

	/* A user file whose syntax is broken is an error, not skipped. */
	put(home, ".config/envoi/config", "account default\nbogus\n");
	conf_init(&c);
	c.home = home;
	c.sysconfdir = sys;
	is_int(conf_load(&c, NULL, NULL, &e), -1, "a broken user file is an error");
	ok(strstr(e.msg, "envoi/config:2: unknown directive") != NULL, "... %s", e.msg);
	conf_free(&c);

	/* Nothing anywhere is not an error until selection. */
	rm(sys, "envoi.conf");
	rm(sys, "msmtprc");
	rm(home, ".config/envoi/config");
	rm(home, ".envoirc");
	rm(home, ".msmtprc");
	rm(home, ".config/msmtp/config");
	conf_init(&c);
	c.home = home;
	c.sysconfdir = sys;
	is_int(conf_load(&c, NULL, NULL, &e), 0, "no files at all loads nothing");
	is_int(c.naccounts, 0, "... and no accounts");
	conf_free(&c);
}

static void
test_home(void)
{
	const char *old = getenv("HOME");
	char *saved = old ? strdup(old) : NULL;
	struct passwd *pw = getpwuid(getuid());
	char *h;

	setenv("HOME", tmpdir, 1);
	h = conf_home();
	is_str(h, tmpdir, "$HOME is used when it is our directory");
	free(h);
	setenv("HOME", "/", 1);
	h = conf_home();
	is_str(h, pw ? pw->pw_dir : NULL, "HOME=/ (sudo) falls back to the password database");
	free(h);
	setenv("HOME", "/nonexistent-home", 1);
	h = conf_home();
	is_str(h, pw ? pw->pw_dir : NULL, "a missing $HOME falls back too");
	free(h);
	unsetenv("HOME");
	h = conf_home();
	is_str(h, pw ? pw->pw_dir : NULL, "no $HOME falls back too");
	free(h);
	if (getuid() == 0) {
		char other[PATH_MAX + 16];

		snprintf(other, sizeof other, "%s/notmine", tmpdir);
		mkdir(other, 0755);
		if (chown(other, 65534, 65534) == 0) {
			setenv("HOME", other, 1);
			h = conf_home();
			is_str(h, pw ? pw->pw_dir : NULL, "a $HOME owned by someone else is not trusted");
			free(h);
		}
		rmdir(other);
	}
	if (saved) {
		setenv("HOME", saved, 1);
		free(saved);
	}
}

static void
test_loopback(void)
{
	static const struct {
		const char *host;
		int want;
	} cases[] = {
		{ "localhost", 1 }, { "LOCALHOST", 1 }, { "localhost.", 1 }, { "127.0.0.1", 1 },
		{ "127.255.0.9", 1 }, { "::1", 1 }, { "[::1]", 1 }, { "::ffff:127.0.0.1", 1 },
		{ "128.0.0.1", 0 }, { "10.0.0.1", 0 }, { "localhost.example", 0 }, { "mylocalhost", 0 },
		{ "::2", 0 }, { "127.1", 0 }, { "", 0 }, { "smtp.example", 0 },
	};

	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
		is_int(conf_host_is_loopback(cases[k].host), cases[k].want, "loopback(\"%s\")",
		    cases[k].host);
	is_int(conf_host_is_loopback(NULL), 0, "loopback(NULL)");
}

static void
test_dup(void)
{
	const char *path = new_file("account a\nhost h\nuser u\npassword p\nfrom f@x\nport 1\n", 0600);
	struct conf c;
	struct err e;
	struct account *d;

	conf_init(&c);
	conf_load_file(&c, path, 1, NULL, &e);
	d = account_dup(c.accounts[0]);
	ok(d && d->host != c.accounts[0]->host && strcmp(d->host, "h") == 0,
	    "account_dup copies strings");
	ok(d && d->port == 1 && strcmp(d->password, "p") == 0 && strcmp(d->name, "a") == 0,
	    "account_dup copies values and the name");
	ok(d && d->set == c.accounts[0]->set && ACCOUNT_IS_SET(d, AF_PORT) && !ACCOUNT_IS_SET(d, AF_TLS),
	    "account_dup keeps the set mask");
	account_free(d);
	account_free(NULL);
	conf_free(&c);
}

/* conf_describe (--pretend): one line per field, secrets as set/unset. */
struct described {
	char text[4096];
	int n;
};

static void
describe_one(void *ctx, const char *directive, const char *value, int explicit)
{
	struct described *d = ctx;
	size_t used = strlen(d->text);

	snprintf(d->text + used, sizeof d->text - used, "%s=%s%s\n", directive, value,
	    explicit ? "" : "*");
	d->n++;
}

static void
test_describe(void)
{
	const char *path = new_file("account a\nhost h\nuser u\npassword hunter2\n"
	    "passwordeval echo tok3n\nconnect_timeout 7\nkeepbcc on\n"
	    "tls_trust_file \"\"\nsyslog LOG_MAIL\noauth2_client_secret cl1ent\n"
	    "oauth2_client_secret_eval \"echo s3cret\"\noauth2_client_id myapp\n", 0600);
	struct described d;
	struct conf c;
	struct err e;

	conf_init(&c);
	is_int(conf_load_file(&c, path, 1, NULL, &e), 0, "describe: file loads");
	memset(&d, 0, sizeof d);
	conf_describe(c.accounts[0], describe_one, &d);
	is_int(d.n, AF_COUNT, "describe: every field once (%d), aliases not repeated", AF_COUNT);
	ok(strstr(d.text, "password=set\n") != NULL, "describe: password is 'set'");
	ok(strstr(d.text, "passwordeval=set\n") != NULL, "describe: passwordeval is 'set'");
	ok(strstr(d.text, "hunter2") == NULL && strstr(d.text, "tok3n") == NULL,
	    "describe: no secret, no command");
	ok(strstr(d.text, "oauth2_client_secret=set\n") != NULL &&
	    strstr(d.text, "oauth2_client_secret_eval=set\n") != NULL &&
	    strstr(d.text, "cl1ent") == NULL && strstr(d.text, "s3cret") == NULL,
	    "describe: oauth2 client secret and its command: set, never shown");
	ok(strstr(d.text, "oauth2_client_id=myapp\n") != NULL &&
	    strstr(d.text, "oauth2_provider=(unset)*\n") != NULL,
	    "describe: oauth2 client id shown, provider unset");
	ok(strstr(d.text, "timeout=7\n") != NULL, "describe: connect_timeout under timeout");
	ok(strstr(d.text, "remove_bcc_headers=off\n") != NULL, "describe: keepbcc as its field");
	ok(strstr(d.text, "keepbcc") == NULL && strstr(d.text, "connect_timeout") == NULL,
	    "describe: aliases are not listed");
	ok(strstr(d.text, "tls_trust_file=(none)\n") != NULL, "describe: empty trust file");
	ok(strstr(d.text, "syslog=LOG_MAIL\n") != NULL, "describe: syslog facility");
	ok(strstr(d.text, "port=(unset)*\n") != NULL, "describe: unset port, not explicit");
	ok(strstr(d.text, "tls=(unset)*\n") != NULL, "describe: tls unset before finalize");
	ok(strstr(d.text, "queue_lifetime=432000 s*\n") != NULL, "describe: a default duration");
	ok(strstr(d.text, "set_from_header=auto*\n") != NULL, "describe: a header mode");
	conf_free(&c);

	/* The word-list directives: each value shown by its canonical word. */
	path = new_file("account w\nhost h\nauth scram-sha-256\nsyslog off\n"
	    "dsn_return headers\nforce_from\nset_date_header off\n"
	    "set_msgid_header\nprotocol smtp\n", 0600);
	conf_init(&c);
	is_int(conf_load_file(&c, path, 1, NULL, &e), 0, "describe words: file loads");
	memset(&d, 0, sizeof d);
	conf_describe(c.accounts[0], describe_one, &d);
	{
		static const char *const want[] = {
			"auth=SCRAM-SHA-256\n", "syslog=off\n", "dsn_return=HDRS\n",
			"force_from=header\n", "set_date_header=off\n",
			"set_msgid_header=on\n", "dsn_notify=off*\n",
			"set_sender_header=auto*\n",
		};
		for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
			ok(strstr(d.text, want[k]) != NULL, "describe words: %.*s",
			    (int)strlen(want[k]) - 1, want[k]);
	}
	conf_free(&c);
	path = new_file("account w\nhost h\nforce_from envelope\nauth\n", 0600);
	conf_init(&c);
	is_int(conf_load_file(&c, path, 1, NULL, &e), 0, "describe words 2: file loads");
	memset(&d, 0, sizeof d);
	conf_describe(c.accounts[0], describe_one, &d);
	ok(strstr(d.text, "force_from=envelope\n") != NULL, "describe words: force_from=envelope");
	ok(strstr(d.text, "auth=on\n") != NULL, "describe words: auth without argument is on");
	conf_free(&c);

	/* --pretend's lenient reading: every problem counted, none fatal */
	path = new_file("account a\nhost h\nfrobnicate 1\nport x\nbogus\npassword p\n", 0644);
	conf_init(&c);
	c.lenient = 1;
	is_int(conf_load_file(&c, path, 1, NULL, &e), 0, "lenient: the file still loads");
	is_int(c.problems, 4, "lenient: 2 unknown, 1 bad value, 1 readable password file");
	is_int(c.naccounts, 1, "lenient: the account is there");
	conf_free(&c);
	conf_init(&c);
	is_int(conf_load_file(&c, path, 1, NULL, &e), -1, "strict: the same file fails");
	conf_free(&c);
}

/* Load text as a user file into *c (conf_free it) and select account
 * "a": the account, or NULL with *e; *r is the load's result. */
static struct account *
load_select_a(struct conf *c, const char *text, int *r, struct err *e)
{
	const char *path = new_file(text, 0600);

	conf_init(c);
	err_init(e);
	*r = conf_load_file(c, path, 1, NULL, e);
	return *r == 0 ? conf_select(c, "a", NULL, e) : NULL;
}

/* chunking (envoi): on by default, off per account or in defaults. */
static void
test_chunking_directive(void)
{
	static const struct {
		const char *text;
		int want;       /* -1: the load fails */
	} cases[] = {
		{ "account a\nhost h\n", 1 },
		{ "account a\nhost h\nchunking off\n", 0 },
		{ "defaults\nchunking off\naccount a\nhost h\n", 0 },
		{ "defaults\nchunking off\naccount a\nhost h\nchunking on\n", 1 },
		{ "account a\nhost h\nchunking maybe\n", -1 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct conf c;
		struct err e;
		int r;
		struct account *a = load_select_a(&c, cases[i].text, &r, &e);

		if (cases[i].want < 0)
			ok(r < 0 && e.ex == EX_CONFIG, "chunking case %zu refused: %s", i, e.msg);
		else
			ok(a != NULL && a->chunking == cases[i].want, "chunking case %zu: %s", i,
			   cases[i].want ? "on" : "off");
		account_free(a);
		conf_free(&c);
	}
}

/* envoi's directives of the sendmail-interface work: parsed, inherited,
 * and the host list split. */
static void
test_envoi_directives(void)
{
	static const struct {
		const char *text;
		int force_from, rewrite, sender;
		const char *fallback, *aliases;
		const char *err;   /* substring of the error, or NULL */
	} cases[] = {
		{ "account a\nhost h\n", FORCE_FROM_OFF, 0, HDR_AUTO, NULL, NULL, NULL },
		{ "account a\nhost h\nforce_from envelope\n", FORCE_FROM_ENVELOPE, 0, HDR_AUTO,
		  NULL, NULL, NULL },
		{ "account a\nhost h\nforce_from header\n", FORCE_FROM_HEADER, 0, HDR_AUTO, NULL,
		  NULL, NULL },
		{ "account a\nhost h\nallow_from_override off\n", FORCE_FROM_ENVELOPE, 0, HDR_AUTO,
		  NULL, NULL, NULL },
		{ "account a\nhost h\nforce_from header\nallow_from_override on\n",
		  FORCE_FROM_HEADER, 0, HDR_AUTO, NULL, NULL, NULL },
		{ "defaults\nrewrite_headers on\nset_sender_header on\naliases /etc/aliases\n"
		  "account a\nhost h\nfallback_account b\naccount b\nhost h2\n",
		  FORCE_FROM_OFF, 1, HDR_ON, "b", "/etc/aliases", NULL },
		/* through defaults, b names itself: it simply has no fallback */
		{ "defaults\nfallback_account b\naccount a\nhost h\naccount b\nhost h2\n",
		  FORCE_FROM_OFF, 0, HDR_AUTO, "b", NULL, NULL },
		{ "account a\nhost h\nfallback_account x\n", 0, 0, 0, NULL, NULL,
		  ":1: account a: fallback_account x: no such account" },
		{ "account a\nhost h\nfallback_account b\naccount b\nhost h\nfallback_account c\n"
		  "account c\nhost h\nfallback_account a\n", 0, 0, 0, NULL, NULL,
		  ":7: account c: fallback_account a leads back to account a: a loop" },
		{ "account a\nhost h\nfallback_account b\naccount b\nhost h\nfallback_account c\n"
		  "account c\nhost h\nfallback_account b\n", 0, 0, 0, NULL, NULL,
		  "leads back to account" },
		{ "account b\nhost h\nset_sender_header off\nrewrite_headers off\n"
		  "account a : b\n", FORCE_FROM_OFF, 0, HDR_OFF, NULL, NULL, NULL },
		{ "account a\nhost h\nforce_from always\n", 0, 0, 0, NULL, NULL,
		  ":3: force_from: expected off, envelope or header" },
		{ "account a\nhost h\nset_sender_header maybe\n", 0, 0, 0, NULL, NULL,
		  ":3: set_sender_header: expected auto, on or off" },
	};
	static const struct {
		const char *host;
		size_t n;
		const char *joined;
	} hosts[] = {
		{ "a", 1, "a|" },
		{ "a.example, b.example", 2, "a.example|b.example|" },
		{ "  a,b\tc ,, d ", 4, "a|b|c|d|" },
		{ "", 0, "" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct conf c;
		struct err e;
		int r;
		struct account *a = load_select_a(&c, cases[i].text, &r, &e);

		if (cases[i].err) {
			/* syntax fails the load, a bad fallback chain the selection */
			ok((r < 0 || a == NULL) && strstr(e.msg, cases[i].err) != NULL &&
			    e.ex == EX_CONFIG,
			    "envoi directive error %zu: %s", i, e.msg);
		} else if (a == NULL) {
			ok(0, "envoi directives %zu load: %s", i, e.msg);
		} else {
			is_int(a->force_from, cases[i].force_from, "force_from %zu", i);
			is_int(a->rewrite_headers, cases[i].rewrite, "rewrite_headers %zu", i);
			is_int((int)a->set_sender_header, cases[i].sender, "set_sender_header %zu", i);
			is_str(a->fallback_account ? a->fallback_account : "(null)",
			    cases[i].fallback ? cases[i].fallback : "(null)", "fallback_account %zu", i);
			is_str(a->aliases ? a->aliases : "(null)",
			    cases[i].aliases ? cases[i].aliases : "(null)", "aliases %zu", i);
		}
		account_free(a);
		conf_free(&c);
	}
	for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
		size_t n = 99;
		char **v = conf_hosts(hosts[i].host, &n);
		char joined[256] = "";

		for (size_t k = 0; v && v[k]; k++) {
			strncat(joined, v[k], sizeof joined - strlen(joined) - 2);
			strcat(joined, "|");
		}
		is_int((int)n, (int)hosts[i].n, "conf_hosts(\"%s\") count", hosts[i].host);
		is_str(joined, hosts[i].joined, "conf_hosts(\"%s\") names", hosts[i].host);
		conf_hosts_free(v);
	}
	{
		const char *path = new_file("account a\nhost smtp.example.org, 127.0.0.1\n"
		    "user u\npassword p\ntls off\n", 0600);
		struct conf c;
		struct err e;
		struct account *a;

		conf_init(&c);
		err_init(&e);
		conf_load_file(&c, path, 1, NULL, &e);
		a = conf_select(&c, "a", NULL, &e);
		ok(a == NULL && strstr(e.msg, "without TLS") != NULL,
		    "a password without TLS is refused when any host of the list is remote: %s",
		    e.msg);
		account_free(a);
		conf_free(&c);
	}
}

static void
cleanup(void)
{
	char cmd[PATH_MAX + 16];

	if (tmpdir[0]) {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", tmpdir);
	}
}

int
main(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmpdir, sizeof tmpdir, "%s/envoi-conf-XXXXXX", t && *t ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_parse();
	test_limits();
	test_all_msmtp_directives();
	test_warn_once();
	test_permissions();
	test_command_trust();
	test_finalize();
	test_select();
	test_lookup();
	test_home();
	test_loopback();
	test_dup();
	test_envoi_directives();
	test_chunking_directive();
	test_describe();
	cleanup();
	return done_testing();
}
