/* conf.c - see conf.h. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "cmd.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/usr/local/etc"
#endif

/* Debian's mail name, for %M. */
#define CONF_MAILNAME_FILE "/etc/mailname"

/* Longest host name we take from gethostname or /etc/mailname (a DNS
 * name is at most 253 octets). */
#define CONF_HOSTNAME_MAX 255

/* Longest account name: a name is typed on command lines, not stored. */
#define CONF_NAME_MAX 128

/* ------------------------------------------------------------------ */
/* Account fields, described once so copying and freeing are generic. */

enum ftype { FT_STR, FT_LONG, FT_INT, FT_HDR };

static const struct {
	enum ftype type;
	size_t off;
} fields[AF_COUNT] = {
#define F(f, t, m) [f] = { t, offsetof(struct account, m) }
	F(AF_HOST, FT_STR, host),
	F(AF_PORT, FT_LONG, port),
	F(AF_TLS, FT_INT, tls),
	F(AF_TLS_STARTTLS, FT_INT, tls_starttls),
	F(AF_TLS_CERTCHECK, FT_INT, tls_certcheck),
	F(AF_TLS_TRUST_FILE, FT_STR, tls_trust_file),
	F(AF_TLS_FINGERPRINT, FT_STR, tls_fingerprint),
	F(AF_TLS_CERT_FILE, FT_STR, tls_cert_file),
	F(AF_TLS_KEY_FILE, FT_STR, tls_key_file),
	F(AF_TLS_PRIORITIES, FT_STR, tls_priorities),
	F(AF_TLS_HOST_OVERRIDE, FT_STR, tls_host_override),
	F(AF_AUTH, FT_STR, auth),
	F(AF_USER, FT_STR, user),
	F(AF_PASSWORD, FT_STR, password),
	F(AF_PASSWORDEVAL, FT_STR, passwordeval),
	F(AF_FROM, FT_STR, from),
	F(AF_FROM_FULL_NAME, FT_STR, from_full_name),
	F(AF_DOMAIN, FT_STR, domain),
	F(AF_TIMEOUT, FT_LONG, timeout),
	F(AF_SET_FROM_HEADER, FT_HDR, set_from_header),
	F(AF_SET_DATE_HEADER, FT_HDR, set_date_header),
	F(AF_SET_MSGID_HEADER, FT_HDR, set_msgid_header),
	F(AF_REMOVE_BCC_HEADERS, FT_INT, remove_bcc_headers),
	F(AF_LOGFILE, FT_STR, logfile),
	F(AF_SYSLOG, FT_STR, syslog),
	F(AF_DSN_NOTIFY, FT_STR, dsn_notify),
	F(AF_DSN_RETURN, FT_STR, dsn_return),
	F(AF_QUEUE_DIR, FT_STR, queue_dir),
	F(AF_QUEUE, FT_INT, queue),
	F(AF_QUEUE_LIFETIME, FT_LONG, queue_lifetime),
	F(AF_ALIASES, FT_STR, aliases),
	F(AF_REWRITE_HEADERS, FT_INT, rewrite_headers),
	F(AF_SET_SENDER_HEADER, FT_HDR, set_sender_header),
	F(AF_FORCE_FROM, FT_INT, force_from),
	F(AF_FALLBACK_ACCOUNT, FT_STR, fallback_account),
	F(AF_QUEUE_RETRIER, FT_INT, queue_retrier),
	F(AF_CHUNKING, FT_INT, chunking),
	F(AF_TLS_SESSION_CACHE, FT_INT, tls_session_cache),
	F(AF_OAUTH2_PROVIDER, FT_STR, oauth2_provider),
	F(AF_OAUTH2_CLIENT_ID, FT_STR, oauth2_client_id),
	F(AF_OAUTH2_CLIENT_SECRET, FT_STR, oauth2_client_secret),
	F(AF_OAUTH2_CLIENT_SECRET_EVAL, FT_STR, oauth2_client_secret_eval),
	F(AF_OAUTH2_TENANT, FT_STR, oauth2_tenant),
	F(AF_OAUTH2_SCOPE, FT_STR, oauth2_scope),
	F(AF_OAUTH2_TOKEN_URL, FT_STR, oauth2_token_url),
	F(AF_OAUTH2_DEVICE_URL, FT_STR, oauth2_device_url),
	F(AF_OAUTH2_AUTH_URL, FT_STR, oauth2_auth_url),
#undef F
};

static char **
str_field(struct account *a, int f)
{
	return (char **)(void *)((char *)a + fields[f].off);
}

/* Fields whose value is a secret: wiped before it is freed. */
static int
is_secret(int f)
{
	return f == AF_PASSWORD || f == AF_OAUTH2_CLIENT_SECRET;
}

/* Fields that are shown by --pretend only as set or unset: the secrets,
 * and the commands that print one (which may hold one as an argument). */
static int
is_hidden(int f)
{
	return is_secret(f) || f == AF_PASSWORDEVAL ||
	    f == AF_OAUTH2_CLIENT_SECRET_EVAL;
}

static void
free_str(char *s, int is_secret)
{
	if (s && is_secret)
		mem_wipe(s, strlen(s));
	free(s);
}

/* Set a string field (taking ownership of v, which may be NULL). */
static void
set_str(struct account *a, int f, char *v)
{
	char **p = str_field(a, f);

	free_str(*p, is_secret(f));
	*p = v;
	a->set |= 1ULL << f;
}

static void
set_num(struct account *a, int f, long v)
{
	char *p = (char *)a + fields[f].off;

	switch (fields[f].type) {
	case FT_LONG:
		*(long *)(void *)p = v;
		break;
	case FT_INT:
		*(int *)(void *)p = (int)v;
		break;
	case FT_HDR:
		*(enum hdr_mode *)(void *)p = (enum hdr_mode)v;
		break;
	case FT_STR:
		break;
	}
	a->set |= 1ULL << f;
}

static struct account *
account_new(const char *name, const char *file, int line)
{
	struct account *a = calloc(1, sizeof *a);

	if (a == NULL)
		return NULL;
	a->tls = a->tls_starttls = a->tls_certcheck = -1;
	a->remove_bcc_headers = 1;
	a->queue = 1;
	a->queue_retrier = 1;
	a->chunking = 1;
	a->tls_session_cache = 1;
	a->queue_lifetime = CONF_QUEUE_LIFETIME_DEFAULT;
	a->source_line = line;
	a->name = str_dup(name);
	a->source_file = str_dup(file);
	if ((name && a->name == NULL) || (file && a->source_file == NULL)) {
		account_free(a);
		return NULL;
	}
	return a;
}

void
account_free(struct account *a)
{
	if (a == NULL)
		return;
	for (int f = 0; f < AF_COUNT; f++)
		if (fields[f].type == FT_STR)
			free_str(*str_field(a, f), is_secret(f));
	free(a->name);
	free(a->source_file);
	mem_wipe(a, sizeof *a);
	free(a);
}

/* Copy the fields src set explicitly into dst: `defaults` and parents. */
static int
account_inherit(struct account *dst, const struct account *src)
{
	for (int f = 0; f < AF_COUNT; f++) {
		if (!ACCOUNT_IS_SET(src, f))
			continue;
		if (fields[f].type == FT_STR) {
			const char *v = *str_field((struct account *)src, f);
			char *copy = str_dup(v);

			if (v && copy == NULL)
				return -1;
			set_str(dst, f, copy);
		} else {
			const char *p = (const char *)src + fields[f].off;
			long v = fields[f].type == FT_LONG ?
			    *(const long *)(const void *)p :
			    fields[f].type == FT_INT ?
			    *(const int *)(const void *)p :
			    (long)*(const enum hdr_mode *)(const void *)p;
			set_num(dst, f, v);
		}
	}
	return 0;
}

struct account *
account_dup(const struct account *a)
{
	struct account *d = malloc(sizeof *d);

	if (d == NULL)
		return NULL;
	memcpy(d, a, sizeof *d);
	/* No pointer may still point into a before it is duplicated, or an
	 * allocation failure half-way would free a's strings. */
	for (int f = 0; f < AF_COUNT; f++)
		if (fields[f].type == FT_STR)
			*str_field(d, f) = NULL;
	d->name = d->source_file = NULL;
	for (int f = 0; f < AF_COUNT; f++) {
		const char *v;

		if (fields[f].type != FT_STR)
			continue;
		v = *str_field((struct account *)a, f);
		if (v && (*str_field(d, f) = str_dup(v)) == NULL)
			goto fail;
	}
	if ((a->name && (d->name = str_dup(a->name)) == NULL) ||
	    (a->source_file &&
	    (d->source_file = str_dup(a->source_file)) == NULL))
		goto fail;
	return d;
fail:
	account_free(d);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* The directives. */

enum vkind {
	V_STR,          /* a string; empty = unset (NULL) */
	V_PASSWORD,     /* kept as given, even empty; marks the file */
	V_HOST,         /* a non-empty string */
	V_PATH,         /* a file name; leading ~ expanded; empty = unset */
	V_TRUST,        /* V_PATH, and "system" = the system store */
	V_ONOFF,        /* on/off; empty = on */
	V_ONOFF_INV,    /* on/off, stored inverted (keepbcc) */
	V_NOARG_OFF,    /* no argument; sets the field off (tls_nocertcheck) */
	V_PORT,
	V_TIMEOUT,
	V_DURATION,     /* seconds, or a number with s, m, h or d */
	V_WORDS,        /* one of the words of the directive's list */
	V_HDR_ADD,      /* on = auto, off = off (add_missing_*_header) */
	V_FINGERPRINT,
	V_DSN_NOTIFY,
	V_UNIMPL,       /* not implemented: warn unless the argument is empty */
	V_UNIMPL_ON,    /* not implemented: warn unless the argument is off */
	V_FROM_OVERRIDE,/* off = force_from envelope */
	V_OBSOLETE,     /* a no-op in msmtp too (tls_force_sslv3) */
	V_HTTPS_URL,    /* an https:// URL; empty = unset */
	V_DEFAULTS,
	V_ACCOUNT,
	V_EVAL,
};

/*
 * A directive that takes one of a few words: each word says what it
 * stores (a number, or a string: NULL unsets the field) and whether it
 * only warns that it is not implemented. The first non-empty word with a
 * value is how --pretend shows that value; "" is the directive given
 * without an argument.
 */
struct word {
	const char *in;
	int nocase;             /* matched ignoring case */
	long num;               /* for a number field */
	const char *str;        /* for a string field */
	int unimplemented;      /* accepted with a warning, stores nothing */
};

struct words {
	const struct word *w;
	size_t n;
	const char *expected;   /* the words, for the error */
	const char *unset;      /* how --pretend shows a NULL string field */
	const char *noun;       /* "unknown NOUN" in the error, if not NULL */
};

#define WORDS_NOUN(list, expected, unset, noun) \
	{ list, sizeof list / sizeof list[0], expected, unset, noun }
#define WORDS(list, expected, unset) WORDS_NOUN(list, expected, unset, NULL)
/* A word matched ignoring case and stored in this canonical spelling. */
#define ITSELF(word) { word, 1, 0, word, 0 }

static const struct word hdr_words[] = {
	{ "auto", 0, HDR_AUTO, NULL, 0 }, { "on", 0, HDR_ON, NULL, 0 },
	{ "off", 0, HDR_OFF, NULL, 0 }, { "", 0, HDR_ON, NULL, 0 },
};
static const struct words hdr_list = WORDS(hdr_words,
    "auto, on or off", NULL);

static const struct word force_from_words[] = {
	{ "off", 0, FORCE_FROM_OFF, NULL, 0 },
	{ "envelope", 0, FORCE_FROM_ENVELOPE, NULL, 0 },
	{ "header", 0, FORCE_FROM_HEADER, NULL, 0 },
	{ "on", 0, FORCE_FROM_HEADER, NULL, 0 }, { "", 0, FORCE_FROM_HEADER, NULL, 0 },
};
static const struct words force_from_list = WORDS(force_from_words,
    "off, envelope or header", NULL);

static const struct word syslog_words[] = {
	{ "off", 0, 0, NULL, 0 }, { "on", 0, 0, "on", 0 }, { "", 0, 0, "on", 0 },
	ITSELF("LOG_USER"), ITSELF("LOG_MAIL"), ITSELF("LOG_LOCAL0"),
	ITSELF("LOG_LOCAL1"), ITSELF("LOG_LOCAL2"), ITSELF("LOG_LOCAL3"),
	ITSELF("LOG_LOCAL4"), ITSELF("LOG_LOCAL5"), ITSELF("LOG_LOCAL6"),
	ITSELF("LOG_LOCAL7"),
};
static const struct words syslog_list = WORDS(syslog_words,
    "on, off, LOG_USER, LOG_MAIL or LOG_LOCAL0..7", "off");

static const struct word dsn_return_words[] = {
	{ "off", 0, 0, NULL, 0 }, { "headers", 1, 0, "HDRS", 0 },
	{ "hdrs", 1, 0, "HDRS", 0 }, { "full", 1, 0, "FULL", 0 },
};
static const struct words dsn_return_list = WORDS(dsn_return_words,
    "off, headers or full", "off");

static const struct word protocol_words[] = {
	{ "smtp", 0, 0, NULL, 0 }, { "lmtp", 0, 0, NULL, 1 },
};
static const struct words protocol_list = WORDS(protocol_words,
    "smtp or lmtp", NULL);

/* `auth`: on, off, or a SASL mechanism msmtp accepts (sasl.c decides
 * which work), stored by its canonical name. */
static const struct word auth_words[] = {
	{ "on", 0, 0, "on", 0 }, { "", 0, 0, "on", 0 }, { "off", 0, 0, "off", 0 },
	ITSELF("PLAIN"), ITSELF("LOGIN"), ITSELF("CRAM-MD5"), ITSELF("DIGEST-MD5"),
	ITSELF("NTLM"), ITSELF("GSSAPI"), ITSELF("EXTERNAL"), ITSELF("SCRAM-SHA-1"),
	ITSELF("SCRAM-SHA-1-PLUS"), ITSELF("SCRAM-SHA-256"),
	ITSELF("SCRAM-SHA-256-PLUS"), ITSELF("OAUTHBEARER"), ITSELF("XOAUTH2"),
};
static const struct words auth_list = WORDS_NOUN(auth_words, "on, off, plain, "
    "login, cram-md5, scram-sha-256, scram-sha-256-plus, external, "
    "oauthbearer, xoauth2, ...", "(unset)", "method");

/* The OAuth 2.0 provider: its endpoints and login flow (oauth2http.c);
 * no argument turns OAuth 2.0 off for the account. */
static const struct word oauth2_provider_words[] = {
	{ "microsoft", 0, 0, "microsoft", 0 }, { "google", 0, 0, "google", 0 },
	{ "custom", 0, 0, "custom", 0 }, { "", 0, 0, NULL, 0 },
};
static const struct words oauth2_provider_list = WORDS(oauth2_provider_words,
    "microsoft, google or custom", "(unset)");

static const struct directive {
	const char *name;
	enum vkind kind;
	int field;
	const struct words *words;      /* V_WORDS */
} directives[] = {
	{ "defaults", V_DEFAULTS, -1, NULL },
	{ "account", V_ACCOUNT, -1, NULL },
	{ "eval", V_EVAL, -1, NULL },
	{ "host", V_HOST, AF_HOST, NULL },
	{ "port", V_PORT, AF_PORT, NULL },
	{ "timeout", V_TIMEOUT, AF_TIMEOUT, NULL },
	{ "connect_timeout", V_TIMEOUT, AF_TIMEOUT, NULL },
	{ "domain", V_STR, AF_DOMAIN, NULL },
	{ "auth", V_WORDS, AF_AUTH, &auth_list },
	{ "user", V_STR, AF_USER, NULL },
	{ "password", V_PASSWORD, AF_PASSWORD, NULL },
	{ "passwordeval", V_STR, AF_PASSWORDEVAL, NULL },
	{ "tls", V_ONOFF, AF_TLS, NULL },
	{ "tls_starttls", V_ONOFF, AF_TLS_STARTTLS, NULL },
	{ "tls_nostarttls", V_NOARG_OFF, AF_TLS_STARTTLS, NULL },
	{ "tls_trust_file", V_TRUST, AF_TLS_TRUST_FILE, NULL },
	{ "tls_fingerprint", V_FINGERPRINT, AF_TLS_FINGERPRINT, NULL },
	{ "tls_key_file", V_PATH, AF_TLS_KEY_FILE, NULL },
	{ "tls_cert_file", V_PATH, AF_TLS_CERT_FILE, NULL },
	{ "tls_certcheck", V_ONOFF, AF_TLS_CERTCHECK, NULL },
	{ "tls_nocertcheck", V_NOARG_OFF, AF_TLS_CERTCHECK, NULL },
	{ "tls_priorities", V_STR, AF_TLS_PRIORITIES, NULL },
	{ "tls_host_override", V_STR, AF_TLS_HOST_OVERRIDE, NULL },
	{ "tls_force_sslv3", V_OBSOLETE, -1, NULL },
	{ "from", V_STR, AF_FROM, NULL },
	{ "from_full_name", V_STR, AF_FROM_FULL_NAME, NULL },
	{ "dsn_notify", V_DSN_NOTIFY, AF_DSN_NOTIFY, NULL },
	{ "dsn_return", V_WORDS, AF_DSN_RETURN, &dsn_return_list },
	{ "set_from_header", V_WORDS, AF_SET_FROM_HEADER, &hdr_list },
	{ "add_missing_from_header", V_HDR_ADD, AF_SET_FROM_HEADER, NULL },
	{ "set_date_header", V_WORDS, AF_SET_DATE_HEADER, &hdr_list },
	{ "add_missing_date_header", V_HDR_ADD, AF_SET_DATE_HEADER, NULL },
	{ "set_msgid_header", V_WORDS, AF_SET_MSGID_HEADER, &hdr_list },
	{ "remove_bcc_headers", V_ONOFF, AF_REMOVE_BCC_HEADERS, NULL },
	{ "keepbcc", V_ONOFF_INV, AF_REMOVE_BCC_HEADERS, NULL },
	{ "logfile", V_PATH, AF_LOGFILE, NULL },
	{ "syslog", V_WORDS, AF_SYSLOG, &syslog_list },
	{ "queue_dir", V_PATH, AF_QUEUE_DIR, NULL },
	{ "queue", V_ONOFF, AF_QUEUE, NULL },
	{ "queue_lifetime", V_DURATION, AF_QUEUE_LIFETIME, NULL },
	{ "queue_retrier", V_ONOFF, AF_QUEUE_RETRIER, NULL },
	{ "aliases", V_PATH, AF_ALIASES, NULL },
	{ "rewrite_headers", V_ONOFF, AF_REWRITE_HEADERS, NULL },
	{ "set_sender_header", V_WORDS, AF_SET_SENDER_HEADER, &hdr_list },
	{ "force_from", V_WORDS, AF_FORCE_FROM, &force_from_list },
	{ "fallback_account", V_STR, AF_FALLBACK_ACCOUNT, NULL },
	{ "chunking", V_ONOFF, AF_CHUNKING, NULL },
	{ "tls_session_cache", V_ONOFF, AF_TLS_SESSION_CACHE, NULL },
	{ "oauth2_provider", V_WORDS, AF_OAUTH2_PROVIDER, &oauth2_provider_list },
	{ "oauth2_client_id", V_STR, AF_OAUTH2_CLIENT_ID, NULL },
	{ "oauth2_client_secret", V_PASSWORD, AF_OAUTH2_CLIENT_SECRET, NULL },
	{ "oauth2_client_secret_eval", V_STR, AF_OAUTH2_CLIENT_SECRET_EVAL, NULL },
	{ "oauth2_tenant", V_STR, AF_OAUTH2_TENANT, NULL },
	{ "oauth2_scope", V_STR, AF_OAUTH2_SCOPE, NULL },
	{ "oauth2_token_url", V_HTTPS_URL, AF_OAUTH2_TOKEN_URL, NULL },
	{ "oauth2_device_url", V_HTTPS_URL, AF_OAUTH2_DEVICE_URL, NULL },
	{ "oauth2_auth_url", V_HTTPS_URL, AF_OAUTH2_AUTH_URL, NULL },
	/* msmtp directives envoi does not implement (yet). */
	{ "source_ip", V_UNIMPL, -1, NULL },
	{ "proxy_host", V_UNIMPL, -1, NULL },
	{ "proxy_port", V_UNIMPL, -1, NULL },
	{ "socket", V_UNIMPL, -1, NULL },
	{ "ntlmdomain", V_UNIMPL, -1, NULL },
	{ "tls_crl_file", V_UNIMPL, -1, NULL },
	{ "tls_min_dh_prime_bits", V_UNIMPL, -1, NULL },
	{ "logfile_time_format", V_UNIMPL, -1, NULL },
	{ "maildomain", V_UNIMPL, -1, NULL },
	{ "auto_from", V_UNIMPL_ON, -1, NULL },
	{ "set_to_header", V_UNIMPL_ON, -1, NULL },
	{ "undisclosed_recipients", V_UNIMPL_ON, -1, NULL },
	{ "protocol", V_WORDS, -1, &protocol_list },
	{ "allow_from_override", V_FROM_OVERRIDE, AF_FORCE_FROM, NULL },
};

#define NDIRECTIVES (sizeof directives / sizeof directives[0])
_Static_assert(NDIRECTIVES <= 128, "conf.warned has 128 bits");
_Static_assert(AF_COUNT <= 64, "account.set has 64 bits");

/* ------------------------------------------------------------------ */
/* Describing an account (--pretend): the table above is walked, so a new
 * directive is described without anyone remembering to. */

static const char *
describe_word(const struct words *l, int is_str, const char *str, long n)
{
	if (is_str && str == NULL)
		return l->unset;
	for (size_t k = 0; k < l->n; k++)
		if (l->w[k].in[0] && (is_str ? l->w[k].str && strcmp(l->w[k].str, str) == 0 :
		    l->w[k].num == n))
			return is_str ? l->w[k].str : l->w[k].in;
	return is_str ? str : "?";
}

static const char *
describe_value(const struct account *a, const struct directive *d, char *tmp,
    size_t size)
{
	const char *p = (const char *)a + fields[d->field].off;
	const char *str = fields[d->field].type == FT_STR ?
	    *(char *const *)(const void *)p : NULL;
	long n = fields[d->field].type == FT_LONG ? *(const long *)(const void *)p :
	    fields[d->field].type == FT_INT ? *(const int *)(const void *)p :
	    fields[d->field].type == FT_HDR ? (long)*(const enum hdr_mode *)(const void *)p : 0;

	/* Secrets: whether, never what (a passwordeval command may hold
	 * a token or a password as an argument). */
	if (is_hidden(d->field))
		return str ? "set" : "unset";
	switch (d->kind) {
	case V_TRUST:
		return str == NULL ? "system" : *str ? str : "(none)";
	case V_WORDS:
		return describe_word(d->words, fields[d->field].type == FT_STR, str, n);
	case V_DSN_NOTIFY:
		return str ? str : "off";
	case V_ONOFF:
		return n < 0 ? "(unset)" : n ? "on" : "off";
	case V_TIMEOUT:
		if (n == 0)
			return "off";
		break;
	default:
		break;
	}
	if (fields[d->field].type == FT_STR)
		return str ? str : "(unset)";
	if (n == 0 && d->kind == V_PORT)
		return "(unset)";
	snprintf(tmp, size, "%ld%s", n, d->kind == V_DURATION ? " s" : "");
	return tmp;
}

void
conf_describe(const struct account *a,
    void (*emit)(void *ctx, const char *directive, const char *value, int explicit),
    void *ctx)
{
	unsigned long long done = 0;
	char tmp[64];

	for (size_t i = 0; i < NDIRECTIVES; i++) {
		const struct directive *d = &directives[i];

		/* The first directive naming a field speaks for it; its
		 * aliases (connect_timeout, keepbcc, tls_nocertcheck, ...)
		 * come later in the table. */
		if (d->field < 0 || (done >> d->field) & 1ULL)
			continue;
		done |= 1ULL << d->field;
		emit(ctx, d->name, describe_value(a, d, tmp, sizeof tmp),
		    (int)ACCOUNT_IS_SET(a, d->field));
	}
}

/* ------------------------------------------------------------------ */
/* Parsing one file. */

struct parser {
	struct conf *c;
	struct log *log;
	const char *path;
	int lineno;
	int user_file;
	int has_password;
	const char *distrust;       /* why this file may run no command (eval,
	                             * passwordeval); NULL = it may */
	char distrust_buf[160];
	char *home;                 /* for ~; NULL until needed */
	int home_looked;
	struct account *defaults;
	struct account *cur;        /* where directives go; NULL at first */
	struct account **accts;     /* this file's accounts */
	size_t naccts;
};

static int
perr(struct parser *p, struct err *e, const char *fmt, ...)
    ENVOI_PRINTF(3, 4);

static int
perr(struct parser *p, struct err *e, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (p->lineno == 0)     /* a command-line setting */
		return err_set(e, EX_CONFIG, "%s: %s", p->path, msg);
	return err_set(e, EX_CONFIG, "%s:%d: %s", p->path, p->lineno, msg);
}

static int
oom(struct err *e)
{
	return err_set(e, EX_OSERR, "out of memory");
}

static const char *
parser_home(struct parser *p)
{
	if (!p->home_looked) {
		p->home = p->c->home ? str_dup(p->c->home) : conf_home();
		p->home_looked = 1;
	}
	return p->home;
}

/* "~" and "~/x" become the home directory; "~user" is left alone. */
static int
expand_path(struct parser *p, const char *v, char **out, struct err *e)
{
	const char *home;
	struct buf b;

	*out = NULL;
	if (v[0] != '~' || (v[1] != '\0' && v[1] != '/')) {
		*out = str_dup(v);
		return *out ? 0 : oom(e);
	}
	home = parser_home(p);
	if (home == NULL)
		return perr(p, e, "cannot expand ~ in %s: no home directory", v);
	buf_init(&b, PATH_MAX);
	if (buf_puts(&b, home) < 0 || buf_puts(&b, v + 1) < 0) {
		buf_free(&b);
		return perr(p, e, "file name too long after expanding ~");
	}
	*out = buf_take(&b);
	return *out ? 0 : oom(e);
}

static int
parse_onoff(struct parser *p, const char *name, const char *v, int *out,
    struct err *e)
{
	if (*v == '\0' || strcmp(v, "on") == 0)
		*out = 1;
	else if (strcmp(v, "off") == 0)
		*out = 0;
	else
		return perr(p, e, "%s: expected on or off, not \"%s\"", name, v);
	return 0;
}

static void
warn_unimplemented(struct parser *p, size_t idx)
{
	unsigned long long bit = 1ULL << (idx % 64);

	if (p->c->warned[idx / 64] & bit)
		return;
	p->c->warned[idx / 64] |= bit;
	if (p->log)
		log_warn(p->log, "%s:%d: directive %s is not implemented by "
		    "envoi and is ignored", p->path, p->lineno,
		    directives[idx].name);
}

/* "AB:cd:..." or "abcd..." -> "AB:CD:...". */
static int
parse_fingerprint(struct parser *p, const char *v, char **out,
    struct err *e)
{
	char hex[129];
	size_t n = 0;
	struct buf b;

	for (const char *s = v; *s; s++) {
		if (*s == ':')
			continue;
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
		    (*s >= 'A' && *s <= 'F')))
			return perr(p, e, "tls_fingerprint: \"%s\" is not a "
			    "hexadecimal fingerprint", v);
		if (n + 1 >= sizeof hex)
			return perr(p, e, "tls_fingerprint is too long");
		hex[n++] = (char)(*s >= 'a' ? *s - 'a' + 'A' : *s);
	}
	if (n == 40 || n == 32)
		return perr(p, e, "tls_fingerprint: only SHA-256 fingerprints "
		    "are supported, this looks like %s; get the SHA-256 one "
		    "with: openssl x509 -noout -fingerprint -sha256",
		    n == 40 ? "SHA-1" : "MD5");
	if (n != 64)
		return perr(p, e, "tls_fingerprint must be a SHA-256 "
		    "fingerprint (64 hex digits, colons optional)");
	buf_init(&b, 3 * 32);
	for (size_t i = 0; i < n; i += 2)
		if (buf_printf(&b, "%s%c%c", i ? ":" : "", hex[i],
		    hex[i + 1]) < 0) {
			buf_free(&b);
			return oom(e);
		}
	*out = buf_take(&b);
	return *out ? 0 : oom(e);
}

static int
parse_dsn_notify(struct parser *p, const char *v, char **out, struct err *e)
{
	static const char *const conds[] = { "success", "delay", "failure" };
	char tmp[64];
	struct buf b;
	int seen = 0;

	*out = NULL;
	if (strcmp(v, "off") == 0)
		return 0;
	if (strcasecmp(v, "never") == 0) {
		*out = str_dup("NEVER");
		return *out ? 0 : oom(e);
	}
	if (strlen(v) >= sizeof tmp)
		return perr(p, e, "dsn_notify: \"%s\" is not off, never or a "
		    "list of success, delay and failure", v);
	buf_init(&b, sizeof tmp);
	for (const char *s = v; *s;) {
		size_t n = strcspn(s, ",");
		size_t k;

		for (k = 0; k < 3; k++)
			if (strlen(conds[k]) == n &&
			    strncasecmp(s, conds[k], n) == 0)
				break;
		if (k == 3 || (seen & (1 << k))) {
			buf_free(&b);
			return perr(p, e, "dsn_notify: \"%s\" is not off, never "
			    "or a list of success, delay and failure", v);
		}
		seen |= 1 << k;
		buf_printf(&b, "%s", b.len ? "," : "");
		for (size_t i = 0; i < n; i++)
			buf_putc(&b, (char)(s[i] >= 'a' ? s[i] - 'a' + 'A' : s[i]));
		s += n;
		if (*s == ',' && *++s == '\0') {
			buf_free(&b);
			return perr(p, e, "dsn_notify: trailing comma in \"%s\"", v);
		}
	}
	if (!seen) {
		buf_free(&b);
		return perr(p, e, "dsn_notify needs an argument");
	}
	*out = buf_take(&b);
	return *out ? 0 : oom(e);
}

/* A word from the directive's list (struct words). */
static int
apply_word(struct parser *p, size_t idx, const char *v, struct err *e)
{
	const struct directive *d = &directives[idx];
	const struct words *l = d->words;
	const struct word *w = NULL;
	char *s = NULL;

	for (size_t k = 0; k < l->n && w == NULL; k++)
		if (l->w[k].nocase ? strcasecmp(v, l->w[k].in) == 0 :
		    strcmp(v, l->w[k].in) == 0)
			w = &l->w[k];
	if (w == NULL && l->noun != NULL)
		return perr(p, e, "%s: unknown %s \"%s\" (use %s)", d->name, l->noun,
		    v, l->expected);
	if (w == NULL)
		return perr(p, e, "%s: expected %s, not \"%s\"", d->name, l->expected, v);
	if (w->unimplemented)
		warn_unimplemented(p, idx);
	if (d->field < 0 || w->unimplemented)
		return 0;
	if (fields[d->field].type != FT_STR) {
		set_num(p->cur, d->field, w->num);
		return 0;
	}
	if (w->str && (s = str_dup(w->str)) == NULL)
		return oom(e);
	set_str(p->cur, d->field, s);
	return 0;
}

/* Strings (V_STR, V_PASSWORD, V_HOST) and file names (V_PATH, V_TRUST). */
static int
apply_string(struct parser *p, const struct directive *d, const char *v,
    int from_eval, struct err *e)
{
	char *s = NULL;

	if (d->kind == V_HOST && *v == '\0')
		return perr(p, e, "%s needs an argument", d->name);
	if (d->kind == V_TRUST && strcmp(v, "system") == 0) {
		set_str(p->cur, d->field, NULL);
		return 0;
	}
	if ((d->kind == V_PATH || d->kind == V_TRUST) && *v) {
		if (expand_path(p, v, &s, e) < 0)
			return -1;
	} else if ((*v || d->kind == V_PASSWORD || d->kind == V_TRUST) &&
	    (s = str_dup(v)) == NULL) {
		return oom(e);
	}
	set_str(p->cur, d->field, s);
	/* A password produced by eval is not stored in this file. */
	if (d->kind == V_PASSWORD && !from_eval)
		p->has_password = 1;
	return 0;
}

/* on/off and their variants (V_ONOFF, V_ONOFF_INV, V_HDR_ADD,
 * V_NOARG_OFF, V_FROM_OVERRIDE). */
static int
apply_bool(struct parser *p, const struct directive *d, const char *v,
    struct err *e)
{
	struct account *a = p->cur;
	int b = 0;

	if (d->kind == V_NOARG_OFF) {
		if (*v)
			return perr(p, e, "%s takes no argument", d->name);
	} else if (parse_onoff(p, d->name, v, &b, e) < 0) {
		return -1;
	}
	switch (d->kind) {
	case V_ONOFF_INV:
		set_num(a, d->field, !b);
		break;
	case V_HDR_ADD:
		set_num(a, d->field, b ? HDR_AUTO : HDR_OFF);
		break;
	case V_FROM_OVERRIDE:
		/* msmtp's "-f may not override from" is force_from envelope;
		 * on leaves a stronger force_from given earlier alone. */
		if (!b)
			set_num(a, d->field, FORCE_FROM_ENVELOPE);
		else if (!ACCOUNT_IS_SET(a, AF_FORCE_FROM))
			set_num(a, d->field, FORCE_FROM_OFF);
		break;
	default:        /* V_ONOFF, V_NOARG_OFF */
		set_num(a, d->field, b);
		break;
	}
	return 0;
}

/* A duration: seconds, or a number with s, m, h or d. */
static int
parse_duration(struct parser *p, const char *name, const char *v, long *out,
    struct err *e)
{
	static const struct { char unit; long mult; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
	};
	char num[32];
	size_t len = strlen(v);
	long mult = 1, n;

	if (len == 0 || len >= sizeof num)
		return perr(p, e, "%s: expected a duration such as 5d, 12h "
		    "or 3600, not \"%s\"", name, v);
	memcpy(num, v, len + 1);
	for (size_t k = 0; k < sizeof units / sizeof units[0]; k++)
		if (num[len - 1] == units[k].unit) {
			mult = units[k].mult;
			num[len - 1] = '\0';
		}
	if (parse_long(num, 1, CONF_QUEUE_LIFETIME_MAX / mult, &n) < 0)
		return perr(p, e, "%s: expected a duration such as 5d, 12h "
		    "or 3600 (at most 366d), not \"%s\"", name, v);
	*out = n * mult;
	return 0;
}

/* Numbers (V_PORT, V_TIMEOUT, V_DURATION). */
static int
apply_number(struct parser *p, const struct directive *d, const char *v,
    struct err *e)
{
	long n;

	if (d->kind == V_PORT) {
		if (parse_long(v, 1, 65535, &n) < 0)
			return perr(p, e, "port: \"%s\" is not a port number "
			    "(1-65535)", v);
	} else if (d->kind == V_DURATION) {
		if (parse_duration(p, d->name, v, &n, e) < 0)
			return -1;
	} else if (strcmp(v, "off") == 0) {
		n = 0;
	} else if (parse_long(v, 0, CONF_TIMEOUT_MAX, &n) < 0) {
		return perr(p, e, "%s: \"%s\" is not off or a number "
		    "of seconds (at most %d)", d->name, v, CONF_TIMEOUT_MAX);
	}
	set_num(p->cur, d->field, n);
	return 0;
}

/* Apply one value directive to p->cur: one parser per kind of value. */
static int
apply(struct parser *p, size_t idx, const char *v, int from_eval,
    struct err *e)
{
	const struct directive *d = &directives[idx];
	char *s = NULL;

	switch (d->kind) {
	case V_WORDS:
		return apply_word(p, idx, v, e);
	case V_STR: case V_PASSWORD: case V_HOST: case V_PATH: case V_TRUST:
		return apply_string(p, d, v, from_eval, e);
	case V_ONOFF: case V_ONOFF_INV: case V_HDR_ADD: case V_NOARG_OFF:
	case V_FROM_OVERRIDE:
		return apply_bool(p, d, v, e);
	case V_PORT: case V_TIMEOUT: case V_DURATION:
		return apply_number(p, d, v, e);
	case V_FINGERPRINT:
		if (*v && parse_fingerprint(p, v, &s, e) < 0)
			return -1;
		set_str(p->cur, d->field, s);
		return 0;
	case V_DSN_NOTIFY:
		if (parse_dsn_notify(p, v, &s, e) < 0)
			return -1;
		set_str(p->cur, d->field, s);
		return 0;
	case V_HTTPS_URL:
		/* Tokens and client secrets travel to this URL: never in
		 * clear, and certificates are checked (oauth2.h). */
		if (*v && (strncasecmp(v, "https://", 8) != 0 || v[8] == '\0' ||
		    strpbrk(v, " \t\"<>\\^`{|}") != NULL))
			return perr(p, e, "%s: \"%s\" is not an https:// URL",
			    d->name, v);
		if (*v && (s = str_dup(v)) == NULL)
			return oom(e);
		set_str(p->cur, d->field, s);
		return 0;
	case V_UNIMPL:
	case V_UNIMPL_ON:
		if (d->kind == V_UNIMPL ? *v != '\0' : strcmp(v, "off") != 0)
			warn_unimplemented(p, idx);
		return 0;
	case V_OBSOLETE:
		/* msmtp ignores it too; it once forced SSLv3. */
		return 0;
	case V_DEFAULTS:
	case V_ACCOUNT:
	case V_EVAL:
		break;
	}
	return perr(p, e, "internal error: directive %s", d->name);
}

static struct account *
find_account(struct account *const *list, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (list[i]->name && strcmp(list[i]->name, name) == 0)
			return list[i];
	return NULL;
}

static int
add_account(struct parser *p, struct account *a, struct err *e)
{
	struct account **l;

	if (p->naccts + p->c->naccounts >= CONF_ACCOUNTS_MAX) {
		account_free(a);
		return perr(p, e, "more than %d accounts", CONF_ACCOUNTS_MAX);
	}
	l = realloc(p->accts, (p->naccts + 1) * sizeof *l);
	if (l == NULL) {
		account_free(a);
		return oom(e);
	}
	p->accts = l;
	p->accts[p->naccts++] = a;
	p->cur = a;
	return 0;
}

static int
valid_name(const char *s, size_t n)
{
	if (n == 0 || n > CONF_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] == ' ' || s[i] == '\t' || s[i] == ':' || s[i] == ',' ||
		    s[i] == '"')
			return 0;
	return 1;
}

/* "NAME" or "NAME : PARENT, PARENT" */
static int
start_account(struct parser *p, const char *arg, struct err *e)
{
	char name[CONF_NAME_MAX + 1];
	const char *s = arg, *colon = strchr(arg, ':');
	size_t n = colon ? (size_t)(colon - arg) : strlen(arg);
	struct account *a, *prev;

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (!valid_name(s, n))
		return perr(p, e, "account needs a name without spaces, colons "
		    "or commas (at most %d characters)", CONF_NAME_MAX);
	memcpy(name, s, n);
	name[n] = '\0';
	if ((prev = find_account(p->accts, p->naccts, name)) != NULL)
		return perr(p, e, "account %s is already defined at line %d",
		    name, prev->source_line);
	a = account_new(name, p->path, p->lineno);
	if (a == NULL)
		return oom(e);
	if (p->defaults && account_inherit(a, p->defaults) < 0) {
		account_free(a);
		return oom(e);
	}
	for (s = colon ? colon + 1 : NULL; s != NULL;) {
		const char *end = strchr(s, ',');
		size_t len;
		struct account *parent;

		while (*s == ' ' || *s == '\t')
			s++;
		len = end ? (size_t)(end - s) : strlen(s);
		while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		if (!valid_name(s, len)) {
			account_free(a);
			return perr(p, e, "account %s: expected a list of account "
			    "names after the colon", name);
		}
		memcpy(name, s, len);
		name[len] = '\0';
		parent = find_account(p->accts, p->naccts, name);
		if (parent == NULL)
			parent = find_account(p->c->accounts, p->c->naccounts,
			    name);
		if (parent == NULL) {
			int r = perr(p, e, "account %s: cannot inherit from "
			    "account %s: it is not defined above", a->name,
			    name);
			account_free(a);
			return r;
		}
		if (account_inherit(a, parent) < 0) {
			account_free(a);
			return oom(e);
		}
		s = end ? end + 1 : NULL;
	}
	return add_account(p, a, e);
}

static int parse_line(struct parser *p, char *line, int from_eval,
    struct err *e);

static int
run_eval(struct parser *p, const char *cmd, struct err *e)
{
	struct cmd_result res;
	char how[CMD_ERRLINE_MAX + 64];
	char *out;
	int r;

	if (*cmd == '\0')
		return perr(p, e, "eval needs a command");
	if (p->distrust)
		return perr(p, e, "refusing to run eval: %s", p->distrust);
	if (cmd_run(cmd, CONF_LINE_MAX, &out, &res, e) < 0)
		return perr(p, e, "eval: %s", e->msg);
	if (!WIFEXITED(res.status) || WEXITSTATUS(res.status) != 0) {
		free_str(out, 1);
		return perr(p, e, "eval: the command failed (%s)",
		    cmd_describe(&res, how, sizeof how));
	}
	r = parse_line(p, out, 1, e);
	free_str(out, 1);   /* it may have been a password line */
	return r;
}

/*
 * One line, without its line end. The argument is the rest of the line
 * after the directive, trimmed; when it starts with a double quote it
 * runs to the closing quote, with \" and \\ as escapes.
 */
static int
parse_line(struct parser *p, char *line, int from_eval, struct err *e)
{
	char *cmd, *arg, *end;
	size_t idx;
	int r;

	for (char *s = line; *s; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return perr(p, e, "control character in line");
	while (*line == ' ' || *line == '\t')
		line++;
	end = line + strlen(line);
	while (end > line && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	if (*line == '\0' || *line == '#')
		return 0;
	cmd = line;
	arg = cmd + strcspn(cmd, " \t");
	if (*arg) {
		*arg++ = '\0';
		while (*arg == ' ' || *arg == '\t')
			arg++;
	}
	for (idx = 0; idx < NDIRECTIVES; idx++)
		if (strcmp(directives[idx].name, cmd) == 0)
			break;
	if (idx == NDIRECTIVES)
		return perr(p, e, "unknown directive \"%s\"", cmd);

	switch (directives[idx].kind) {
	case V_DEFAULTS:
		if (*arg)
			return perr(p, e, "defaults takes no argument");
		p->cur = p->defaults;
		return 0;
	case V_ACCOUNT:
		return start_account(p, arg, e);
	case V_EVAL:
		if (from_eval)
			return perr(p, e, "eval: the command printed another "
			    "eval line");
		break;
	default:
		break;
	}

	if (*arg == '"') {
		char *w = arg, *s = arg + 1;

		for (; *s && *s != '"'; s++) {
			if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
				s++;
			*w++ = *s;
		}
		if (*s != '"')
			return perr(p, e, "%s: missing closing quote", cmd);
		*w = '\0';
		for (s++; *s == ' ' || *s == '\t'; s++)
			;
		if (*s)
			return perr(p, e, "%s: text after the closing quote",
			    cmd);
	}
	if (directives[idx].kind == V_EVAL)
		return run_eval(p, arg, e);

	if (p->cur == NULL) {
		/* Lines before any account or defaults form the account
		 * "default", as in msmtp. */
		struct account *a = account_new("default", p->path, p->lineno);

		if (a == NULL)
			return oom(e);
		if (add_account(p, a, e) < 0)
			return -1;
	}
	r = apply(p, idx, arg, from_eval, e);
	return r;
}

/*
 * A file holding a literal password must be private (see conf.h).
 * The check uses the open descriptor, so it is about the file read.
 */
static int
check_permissions(const char *path, const struct stat *st, int user_file,
    struct err *e)
{
	uid_t me = getuid();

	if (user_file) {
		if (st->st_uid != me)
			return err_set(e, EX_CONFIG, "%s contains a password but "
			    "is owned by uid %lu, not by you (uid %lu); refusing "
			    "to use it", path, (unsigned long)st->st_uid,
			    (unsigned long)me);
		if (st->st_mode & 077)
			return err_set(e, EX_CONFIG, "%s contains a password and "
			    "is readable by others; run: chmod 600 %s", path,
			    path);
		return 0;
	}
	if (st->st_uid != 0 && st->st_uid != me)
		return err_set(e, EX_CONFIG, "%s contains a password but is "
		    "owned by uid %lu, not by root or you; refusing to use it",
		    path, (unsigned long)st->st_uid);
	if (st->st_mode & 007)
		return err_set(e, EX_CONFIG, "%s contains a password and is "
		    "readable by others; run: chmod o-rwx %s", path, path);
	return 0;
}

/*
 * Commands in a file (eval while it is read, passwordeval when its account
 * authenticates) run as the caller, so the file must be one only the
 * caller or root can change: owned by either, and writable by neither
 * group nor others. Otherwise sudo -E or su without - would have root run
 * a command another user wrote. Sets p->distrust to the reason, if any.
 */
static void
check_trust(struct parser *p, const struct stat *st)
{
	uid_t me = getuid();

	p->distrust = NULL;
	if (st->st_uid != 0 && st->st_uid != me)
		snprintf(p->distrust_buf, sizeof p->distrust_buf, "the file is owned "
		    "by uid %lu, not by you (uid %lu) or root", (unsigned long)st->st_uid,
		    (unsigned long)me);
	else if (st->st_mode & 022)
		snprintf(p->distrust_buf, sizeof p->distrust_buf, "the file is "
		    "writable by %s; run: chmod go-w %s", st->st_mode & 020 ?
		    "its group" : "others", p->path);
	else
		return;
	p->distrust = p->distrust_buf;
}

/* An untrusted file may hold no passwordeval, not even one its accounts
 * inherit (through defaults or from another file's account): the file
 * would decide where the secret goes. The whole file is refused, as for a
 * readable password: half a configuration would send mail elsewhere. */
static int
check_commands(const struct parser *p, struct err *e)
{
	if (p->distrust == NULL)
		return 0;
	for (size_t i = 0; i < p->naccts; i++) {
		const struct account *a = p->accts[i];

		if (a->passwordeval || a->oauth2_client_secret_eval)
			return err_set(e, EX_CONFIG, "%s:%d: account %s: refusing to "
			    "run its %s command: %s", p->path, a->source_line,
			    a->name, a->passwordeval ? "passwordeval" :
			    "oauth2_client_secret_eval", p->distrust);
	}
	return 0;
}

static int
add_file(struct conf *c, const char *path, const char *note, struct err *e)
{
	char **l = realloc(c->files, (c->nfiles + 1) * sizeof *l);
	struct buf b;

	if (l == NULL)
		return oom(e);
	c->files = l;
	buf_init(&b, PATH_MAX + 64);
	if (buf_printf(&b, "%s%s", path, note) < 0 ||
	    (c->files[c->nfiles] = buf_take(&b)) == NULL) {
		buf_free(&b);
		return oom(e);
	}
	c->nfiles++;
	return 0;
}

/* Remember the user (or -C) file by its canonical name, so that a queue
 * entry names it the same way whatever path reached it. */
static int
note_user_file(struct conf *c, const char *path, const struct stat *st,
    struct err *e)
{
	char *real = realpath(path, NULL);

	if (real == NULL && errno == ENOMEM)
		return oom(e);
	free(c->user_file);
	c->user_file = real ? real : str_dup(path);
	if (c->user_file == NULL)
		return oom(e);
	c->user_dev = (unsigned long long)st->st_dev;
	c->user_ino = (unsigned long long)st->st_ino;
	return 0;
}

static void
parser_free(struct parser *p)
{
	for (size_t i = 0; i < p->naccts; i++)
		account_free(p->accts[i]);
	free(p->accts);
	account_free(p->defaults);
	free(p->home);
}

/* conf.lenient (--pretend): a problem is reported and counted, and the
 * reading goes on, so that one run shows every problem. */
static int
tolerate(struct conf *c, struct log *log, int r, struct err *e)
{
	if (r == 0 || !c->lenient || e->ex != EX_CONFIG)
		return r;
	if (log)
		log_warn(log, "%s", e->msg);
	c->problems++;
	err_init(e);
	return 0;
}

static int
read_lines(struct parser *p, FILE *f, struct err *e)
{
	struct buf line;
	int ch, r = 0, eof = 0;

	buf_init(&line, CONF_LINE_MAX);
	while (!eof && r == 0) {
		buf_reset(&line);
		p->lineno++;
		for (;;) {
			ch = getc(f);
			if (ch == EOF) {
				if (ferror(f))
					r = err_set(e, EX_CONFIG, "%s: read "
					    "error: %s", p->path,
					    strerror(errno));
				eof = 1;
				break;
			}
			if (ch == '\n')
				break;
			if (ch == '\0') {
				r = perr(p, e, "NUL byte in line");
				break;
			}
			if (buf_putc(&line, (char)ch) < 0) {
				r = perr(p, e, "line longer than %d bytes",
				    CONF_LINE_MAX);
				break;
			}
		}
		if (r < 0 || (eof && line.len == 0))
			break;
		/* CRLF files are common when edited on Windows. */
		if (line.len > 0 && line.data[line.len - 1] == '\r')
			line.data[--line.len] = '\0';
		if (line.len > 0)
			r = tolerate(p->c, p->log, parse_line(p, line.data, 0, e), e);
	}
	buf_wipe(&line);    /* a password line may be in it */
	return r;
}

int
conf_load_file(struct conf *c, const char *path, int is_user_file,
    struct log *log, struct err *e)
{
	struct parser p;
	struct stat st;
	FILE *f;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return err_set(e, EX_CONFIG, "cannot read %s: %s", path,
		    strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(e, EX_CONFIG, "%s is not a regular file", path);
	}
	f = fdopen(fd, "r");
	if (f == NULL) {
		close(fd);
		return oom(e);
	}
	memset(&p, 0, sizeof p);
	p.c = c;
	p.log = log;
	p.path = path;
	p.user_file = is_user_file;
	p.defaults = account_new(NULL, path, 0);
	if (p.defaults == NULL) {
		fclose(f);
		return oom(e);
	}
	check_trust(&p, &st);
	r = read_lines(&p, f, e);
	fclose(f);
	if (r == 0)
		r = tolerate(c, log, check_commands(&p, e), e);
	if (r == 0 && p.has_password)
		r = tolerate(c, log, check_permissions(path, &st, is_user_file, e), e);
	if (r == 0)
		r = add_file(c, path, "", e);
	if (r == 0 && is_user_file)
		r = note_user_file(c, path, &st, e);
	if (r == 0 && p.naccts > 0) {
		struct account **l = realloc(c->accounts,
		    (c->naccounts + p.naccts) * sizeof *l);

		if (l == NULL) {
			r = oom(e);
		} else {
			c->accounts = l;
			for (size_t i = 0; i < p.naccts; i++) {
				struct account *a = p.accts[i], *old;
				size_t k;

				a->from_user_file = is_user_file;
				old = NULL;
				for (k = 0; k < c->naccounts; k++)
					if (strcmp(c->accounts[k]->name,
					    a->name) == 0) {
						old = c->accounts[k];
						break;
					}
				if (old) {
					account_free(old);
					c->accounts[k] = a;
				} else {
					c->accounts[c->naccounts++] = a;
				}
				p.accts[i] = NULL;
			}
			p.naccts = 0;
		}
	}
	parser_free(&p);
	return r;
}

/* ------------------------------------------------------------------ */
/* Where the files are. */

/* An absolute path naming a directory owned by the real uid: the test a
 * directory from the environment must pass, since sudo -E and su without
 * - pass on another user's. */
static int
dir_is_own(const char *path)
{
	struct stat st;

	return path && *path == '/' && stat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
	    st.st_uid == getuid();
}

char *
conf_home(void)
{
	const char *h = getenv("HOME");
	struct passwd *pw;

	if (h && strcmp(h, "/") != 0 && dir_is_own(h))
		return str_dup(h);
	pw = getpwuid(getuid());
	if (pw && pw->pw_dir && *pw->pw_dir)
		return str_dup(pw->pw_dir);
	return NULL;
}

char *
conf_xdg_dir(const char *var, const char *home, const char *dflt)
{
	const char *v = getenv(var);
	struct buf b;

	if (dir_is_own(v))
		return str_dup(v);
	if (home == NULL)
		return NULL;
	buf_init(&b, PATH_MAX);
	if (buf_printf(&b, "%s/%s", home, dflt) < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_take(&b);
}

/* dir + rel, malloc'd; NULL when too long or out of memory (the file is
 * then not looked for). */
static char *
path_cat(const char *dir, const char *rel)
{
	struct buf b;

	buf_init(&b, PATH_MAX);
	if (buf_puts(&b, dir) < 0 || buf_puts(&b, rel) < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_take(&b);
}

/* 1 exists, 0 absent, -1 with errno for anything else. */
static int
file_exists(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0)
		return 1;
	if (errno == ENOENT || errno == ENOTDIR)
		return 0;
	return -1;
}

int
conf_load(struct conf *c, const char *cli_file, struct log *log,
    struct err *e)
{
	const char *sys = c->sysconfdir ? c->sysconfdir : SYSCONFDIR;
	static const char *const sysnames[] = { "envoi.conf", "msmtprc" };
	char path[PATH_MAX], *home = NULL, *base, *cands[4] = { 0 };
	const char *xdg;
	int r = 0;

	for (size_t i = 0; i < 2; i++) {
		int x;

		snprintf(path, sizeof path, "%s/%s", sys, sysnames[i]);
		x = file_exists(path);
		if (x == 0)
			continue;
		/* A system file only root may read (0600, for root's cron
		 * mail) is not this caller's: skip it, but name it when no
		 * account is found. */
		if (x < 0 || access(path, R_OK) < 0) {
			if (log)
				log_debug(log, "skipping unreadable %s", path);
			if (add_file(c, path, " (not readable)", e) < 0)
				return -1;
			c->sys_unreadable = 1;
			break;
		}
		if (conf_load_file(c, path, 0, log, e) < 0)
			return -1;
		break;
	}

	if (cli_file) {
		struct stat st;

		/*
		 * -C names only a file of the caller's own (root may name
		 * any): a user must never get envoi to use root's
		 * /etc/envoi.conf (or another user's file, with its
		 * passwordeval) through -C, whatever its mode bits say;
		 * sendmail drops privileges for -C for the same reason.
		 * envoi has no privilege beyond its caller's, so the gap
		 * between this stat and the open gives nothing away.
		 * Root may name another user's file, but its commands
		 * do not run (check_trust).
		 */
		if (stat(cli_file, &st) == 0 && getuid() != 0 &&
		    st.st_uid != getuid())
			return err_set(e, EX_CONFIG, "-C %s: refusing a "
			    "configuration file owned by uid %u (not yours)",
			    cli_file, (unsigned)st.st_uid);
		return conf_load_file(c, cli_file, 1, log, e);
	}
	if (c->system_only)
		return 0;

	home = c->home ? str_dup(c->home) : conf_home();
	base = conf_xdg_dir("XDG_CONFIG_HOME", home, ".config");
	if (base == NULL && home) {
		free(home);
		return oom(e);
	}
	xdg = getenv("XDG_CONFIG_HOME");
	if (log && xdg && file_exists(xdg) == 1 && !dir_is_own(xdg))
		log_debug(log, "ignoring $XDG_CONFIG_HOME %s: not a directory of "
		    "yours", xdg);
	if (base) {
		cands[0] = path_cat(base, "/envoi/config");
		cands[3] = path_cat(base, "/msmtp/config");
	}
	if (home) {
		cands[1] = path_cat(home, "/.envoirc");
		cands[2] = path_cat(home, "/.msmtprc");
	}
	free(base);
	free(home);
	for (size_t i = 0; i < 4; i++) {
		int x;

		if (cands[i] == NULL)
			continue;
		x = file_exists(cands[i]);
		if (x == 0)
			continue;
		if (x < 0)
			r = err_set(e, EX_CONFIG, "cannot read %s: %s", cands[i],
			    strerror(errno));
		else
			r = conf_load_file(c, cands[i], 1, log, e);
		break;
	}
	for (size_t i = 0; i < 4; i++)
		free(cands[i]);
	return r;
}

/* ------------------------------------------------------------------ */
/* Finalising and choosing. */

/* Commas never occur in host names, so "a, b c" is three hosts. */
#define HOST_SEPARATORS ", \t"

char **
conf_hosts(const char *host, size_t *n)
{
	size_t cap = 1, k = 0;
	char **v;

	*n = 0;
	for (const char *s = host; *s; s++)
		if (strchr(HOST_SEPARATORS, *s))
			cap++;
	v = calloc(cap + 1, sizeof *v);
	if (v == NULL)
		return NULL;
	for (const char *s = host; *s;) {
		size_t len = strcspn(s, HOST_SEPARATORS);

		if (len > 0) {
			v[k] = strndup(s, len);
			if (v[k] == NULL) {
				conf_hosts_free(v);
				return NULL;
			}
			k++;
		}
		s += len;
		s += strspn(s, HOST_SEPARATORS);
	}
	*n = k;
	return v;
}

void
conf_hosts_free(char **v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

/* Every host of the list is loopback. */
static int
hosts_all_loopback(const char *host)
{
	size_t n;
	char **v = conf_hosts(host, &n);
	int all = v != NULL && n > 0;

	for (size_t i = 0; all && i < n; i++)
		all = conf_host_is_loopback(v[i]);
	conf_hosts_free(v);
	return all;
}

int
conf_host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	char tmp[64];
	size_t n;

	if (host == NULL)
		return 0;
	if (strcasecmp(host, "localhost") == 0 ||
	    strcasecmp(host, "localhost.") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	n = strlen(host);
	if (n >= 2 && n < sizeof tmp && host[0] == '[' && host[n - 1] == ']') {
		memcpy(tmp, host + 1, n - 2);
		tmp[n - 2] = '\0';
		host = tmp;
	}
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		    (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return 0;
}

static void
host_name(char *out, size_t size)
{
	if (gethostname(out, size) < 0 || out[0] == '\0') {
		snprintf(out, size, "localhost");
		return;
	}
	out[size - 1] = '\0';
}

/* First line of /etc/mailname, else the host name. */
static void
mail_name(char *out, size_t size)
{
	FILE *f = fopen(CONF_MAILNAME_FILE, "re");

	out[0] = '\0';
	if (f) {
		if (fgets(out, (int)size, f) == NULL)
			out[0] = '\0';
		fclose(f);
		out[strcspn(out, "\r\n \t")] = '\0';
	}
	if (out[0] == '\0')
		host_name(out, size);
}

/* %U %H %C %M %% in s; other % sequences stay as they are (%F names the
 * From header's address, which only the message knows). */
static int
substitute(const char *s, char **out, const char *what, struct err *e)
{
	char hn[CONF_HOSTNAME_MAX + 1];
	struct buf b;
	int r = 0;

	*out = NULL;
	buf_init(&b, CONF_LINE_MAX + 1024);
	for (; *s && r == 0; s++) {
		if (*s != '%' || s[1] == '\0') {
			r = buf_putc(&b, *s);
			continue;
		}
		switch (*++s) {
		case 'U': {
			struct passwd *pw = getpwuid(getuid());
			const char *u = pw ? pw->pw_name : getenv("LOGNAME");

			if (u == NULL || *u == '\0') {
				buf_free(&b);
				return err_set(e, EX_OSERR, "%s: %%U: no user "
				    "name for uid %lu", what,
				    (unsigned long)getuid());
			}
			r = buf_puts(&b, u);
			break;
		}
		case 'H':
		case 'C':
			/* %C is the canonical name in msmtp; envoi does not
			 * query DNS before it must, so it is the host name. */
			host_name(hn, sizeof hn);
			r = buf_puts(&b, hn);
			break;
		case 'M':
			mail_name(hn, sizeof hn);
			r = buf_puts(&b, hn);
			break;
		case '%':
			r = buf_putc(&b, '%');
			break;
		default:
			r = buf_putc(&b, '%');
			if (r == 0)
				r = buf_putc(&b, *s);
			break;
		}
	}
	if (r < 0) {
		buf_free(&b);
		return err_set(e, EX_CONFIG, "%s is too long after "
		    "substitution", what);
	}
	*out = buf_take(&b);
	return *out ? 0 : oom(e);
}

static int
aerr(const struct account *a, struct err *e, int ex, const char *fmt, ...)
    ENVOI_PRINTF(4, 5);

static int
aerr(const struct account *a, struct err *e, int ex, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (a->source_file)
		return err_set(e, ex, "%s:%d: account %s: %s", a->source_file,
		    a->source_line, a->name ? a->name : "?", msg);
	return err_set(e, ex, "account %s: %s", a->name ? a->name : "?", msg);
}

/*
 * OAuth 2.0 settings hang together: they need a provider, the provider
 * needs a client id and a user (the mailbox XOAUTH2 names), and the
 * token comes from envoi's store, so a password or passwordeval beside
 * it would be a second, contradictory source of the secret.
 */
static int
finalize_oauth2(struct account *a, struct err *e)
{
	static const int urls[] = {
		AF_OAUTH2_TOKEN_URL, AF_OAUTH2_DEVICE_URL, AF_OAUTH2_AUTH_URL,
	};
	int custom;

	if (a->oauth2_provider == NULL) {
		for (int f = AF_OAUTH2_CLIENT_ID; f <= AF_OAUTH2_AUTH_URL; f++)
			if (*str_field(a, f))
				return aerr(a, e, EX_CONFIG, "oauth2_* settings need "
				    "oauth2_provider (microsoft, google or custom)");
		return 0;
	}
	custom = strcmp(a->oauth2_provider, "custom") == 0;
	if (a->oauth2_client_id == NULL)
		return aerr(a, e, EX_CONFIG, "oauth2_provider needs "
		    "oauth2_client_id (the application's id at the provider)");
	if (a->user == NULL)
		return aerr(a, e, EX_CONFIG, "oauth2_provider needs user "
		    "(the mailbox's address)");
	if (a->password || a->passwordeval)
		return aerr(a, e, EX_CONFIG, "oauth2_provider and %s exclude "
		    "each other: the token comes from envoi --oauth2-login",
		    a->password ? "password" : "passwordeval");
	if (a->oauth2_client_secret && a->oauth2_client_secret_eval)
		return aerr(a, e, EX_CONFIG, "oauth2_client_secret and "
		    "oauth2_client_secret_eval exclude each other");
	if (a->oauth2_tenant && strcmp(a->oauth2_provider, "microsoft") != 0)
		return aerr(a, e, EX_CONFIG, "oauth2_tenant is for "
		    "oauth2_provider microsoft only");
	for (size_t i = 0; !custom && i < sizeof urls / sizeof urls[0]; i++)
		if (*str_field(a, urls[i]))
			return aerr(a, e, EX_CONFIG, "oauth2_*_url settings are "
			    "for oauth2_provider custom only");
	if (custom && a->oauth2_token_url == NULL)
		return aerr(a, e, EX_CONFIG, "oauth2_provider custom needs "
		    "oauth2_token_url");
	if (custom && !a->oauth2_device_url && !a->oauth2_auth_url)
		return aerr(a, e, EX_CONFIG, "oauth2_provider custom needs "
		    "oauth2_device_url or oauth2_auth_url (how to log in)");
	if (strcmp(a->auth, "on") != 0 && strcmp(a->auth, "OAUTHBEARER") != 0 &&
	    strcmp(a->auth, "XOAUTH2") != 0)
		return aerr(a, e, EX_CONFIG, "oauth2_provider needs auth on, "
		    "oauthbearer or xoauth2, not %s", a->auth);
	return 0;
}

int
conf_finalize(struct account *a, struct err *e)
{
	int auths;
	char *s;

	if (a->host == NULL || a->host[strspn(a->host, HOST_SEPARATORS)] == '\0')
		return aerr(a, e, EX_CONFIG, "no host set (add: host "
		    "smtp.example.org)");

	/* msmtp's default is auth off; a user name or password with no
	 * `auth` line can only mean "log in". */
	if (a->auth == NULL) {
		s = str_dup(a->user || a->password || a->passwordeval ||
		    a->oauth2_provider ? "on" : "off");
		if (s == NULL)
			return oom(e);
		a->auth = s;
	}
	auths = strcmp(a->auth, "off") != 0;
	if (finalize_oauth2(a, e) < 0)
		return -1;

	/* Secure default: credentials never go out in clear unless asked. */
	if (a->tls < 0)
		a->tls = auths ? 1 : 0;
	if (a->tls_starttls < 0)
		a->tls_starttls = a->port == 465 ? 0 : 1;
	if (a->tls_certcheck < 0)
		a->tls_certcheck = 1;
	if (a->port == 0)
		a->port = a->tls && !a->tls_starttls ? 465 : 25;

	if (!a->tls && auths && strcmp(a->auth, "EXTERNAL") != 0 &&
	    !hosts_all_loopback(a->host))
		return aerr(a, e, EX_CONFIG, "refusing to send a password "
		    "without TLS to %s; set tls on", a->host);
	if ((a->tls_cert_file == NULL) != (a->tls_key_file == NULL))
		return aerr(a, e, EX_CONFIG, "tls_cert_file and tls_key_file "
		    "must be given together");

	if (!ACCOUNT_IS_SET(a, AF_TIMEOUT))
		a->timeout = CONF_TIMEOUT_DEFAULT;

	if (a->from) {
		if (substitute(a->from, &s, "from", e) < 0)
			return aerr(a, e, e->ex, "%s", e->msg);
		free(a->from);
		a->from = s;
		a->from_is_pattern = strpbrk(s, "*?[") != NULL;
	}
	/* msmtp defaults domain to "localhost", which receivers reject in
	 * EHLO and which makes Message-IDs collide across machines; envoi
	 * uses this machine's name (gethostname; no DNS lookup). */
	if (substitute(a->domain ? a->domain : "%H", &s, "domain", e) < 0)
		return aerr(a, e, e->ex, "%s", e->msg);
	free(a->domain);
	a->domain = s;
	return 0;
}

/* "user+detail@x" -> "user@x"; NULL when there is no detail. */
static char *
strip_detail(const char *addr)
{
	const char *at = strrchr(addr, '@');
	const char *plus = strchr(addr, '+');
	struct buf b;

	if (plus == NULL || (at && plus > at))
		return NULL;
	buf_init(&b, strlen(addr));
	buf_append(&b, addr, (size_t)(plus - addr));
	if (at)
		buf_puts(&b, at);
	return buf_take(&b);
}

static int
files_list(const struct conf *c, char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < c->nfiles && n < size; i++)
		n += (size_t)snprintf(out + n, size - n, "%s%s", i ? ", " : "",
		    c->files[i]);
	return c->nfiles > 0;
}

/* Does account a's from (after substitution) match the sender? -1 on
 * error (e set). */
static int
from_matches(const struct account *a, const char *from,
    const char *stripped, struct err *e)
{
	char *pat;
	int m;

	if (a->from == NULL)
		return 0;
	if (substitute(a->from, &pat, "from", e) < 0)
		return -1;
	/* Addresses compare without regard to case in practice (domains
	 * always, local parts at every real provider). */
	m = fnmatch(pat, from, FNM_CASEFOLD) == 0 ||
	    (stripped && fnmatch(pat, stripped, FNM_CASEFOLD) == 0);
	free(pat);
	return m;
}

/*
 * The fallback_account chain from pick must name existing accounts and
 * must not come back to an account already on it. An account naming
 * itself has no fallback (that happens through `defaults`).
 */
static int
check_fallbacks(const struct conf *c, const struct account *pick,
    struct err *e)
{
	const struct account *cur = pick;
	size_t steps = 0;

	while (cur->fallback_account && *cur->fallback_account &&
	    strcmp(cur->fallback_account, cur->name) != 0) {
		const struct account *next = find_account(c->accounts,
		    c->naccounts, cur->fallback_account);

		if (next == NULL)
			return aerr(cur, e, EX_CONFIG, "fallback_account %s: no "
			    "such account", cur->fallback_account);
		/* A chain longer than the number of accounts revisits one. */
		if (++steps > c->naccounts || next == pick)
			return aerr(cur, e, EX_CONFIG, "fallback_account %s "
			    "leads back to account %s: a loop",
			    cur->fallback_account, next == pick ?
			    pick->name : next->name);
		cur = next;
	}
	return 0;
}

/* The account conf_select chooses, not yet copied; NULL with e set. */
static const struct account *
pick_account(const struct conf *c, const char *name, const char *env_from,
    struct err *e)
{
	const struct account *pick = NULL;
	char files[ERR_MSG_MAX / 2];
	int have_files = files_list(c, files, sizeof files);

	if (c->naccounts == 0) {
		if (have_files)
			err_set(e, EX_CONFIG, "no account is defined in %s; "
			    "add an account with a host (see envoi.conf(5))",
			    files);
		else
			err_set(e, EX_CONFIG, "no configuration found: create "
			    "~/.config/envoi/config or %s/envoi.conf with an "
			    "account (see envoi.conf(5)); ~/.msmtprc works too",
			    c->sysconfdir ? c->sysconfdir : SYSCONFDIR);
		return NULL;
	}
	if (name) {
		pick = find_account(c->accounts, c->naccounts, name);
		if (pick == NULL) {
			err_set(e, EX_CONFIG, "account %s not found in %s",
			    name, files);
			return NULL;
		}
	}
	if (pick == NULL && env_from && *env_from) {
		char *stripped = strip_detail(env_from);

		/* User accounts first: they override the system's. */
		for (int pass = 1; pass >= 0 && pick == NULL; pass--) {
			for (size_t i = 0; i < c->naccounts; i++) {
				int m;

				if (c->accounts[i]->from_user_file != pass)
					continue;
				m = from_matches(c->accounts[i], env_from,
				    stripped, e);
				if (m < 0) {
					free(stripped);
					return NULL;
				}
				if (m) {
					pick = c->accounts[i];
					break;
				}
			}
		}
		free(stripped);
	}
	if (pick == NULL) {
		pick = find_account(c->accounts, c->naccounts, "default");
		if (pick == NULL) {
			err_set(e, EX_CONFIG, "no account to use: no -a option, "
			    "%s%s%sand no account named default in %s; add "
			    "\"account default : NAME\"",
			    env_from && *env_from ? "no account's from matches " : "",
			    env_from && *env_from ? env_from : "",
			    env_from && *env_from ? ", " : "", files);
			return NULL;
		}
	}
	if (check_fallbacks(c, pick, e) < 0)
		return NULL;
	return pick;
}

struct account *
conf_select(const struct conf *c, const char *name, const char *env_from,
    struct err *e)
{
	const struct account *pick = pick_account(c, name, env_from, e);
	struct account *a;

	if (pick == NULL)
		return NULL;
	a = account_dup(pick);
	if (a == NULL) {
		oom(e);
		return NULL;
	}
	if (conf_finalize(a, e) < 0) {
		account_free(a);
		return NULL;
	}
	return a;
}

/* ------------------------------------------------------------------ */
/* Settings from the command line (msmtp's long options). */

/* One setting, through the same directive code as a file line; errors
 * read "--port: port: ..." and are EX_USAGE: the command line is wrong. */
static int
apply_setting(struct conf *c, struct account *a, const struct conf_setting *s,
    struct log *log, struct err *e)
{
	struct parser p;
	size_t idx;
	int r;

	for (idx = 0; idx < NDIRECTIVES; idx++)
		if (strcmp(directives[idx].name, s->directive) == 0)
			break;
	/* No option may name a password (it would be visible in ps) or
	 * restructure the file. */
	if (idx == NDIRECTIVES || directives[idx].kind == V_DEFAULTS ||
	    directives[idx].kind == V_ACCOUNT || directives[idx].kind == V_EVAL ||
	    directives[idx].kind == V_PASSWORD)
		return err_set(e, EX_SOFTWARE, "%s: no such setting %s",
		    s->option, s->directive);
	memset(&p, 0, sizeof p);
	p.c = c;
	p.log = log;
	p.path = s->option;     /* lineno 0: perr writes "OPTION: ..." */
	p.user_file = 1;
	p.cur = a;
	r = apply(&p, idx, s->value, 0, e);
	/* The command given now is the secret asked for, over the file's. */
	if (r == 0 && directives[idx].field == AF_PASSWORDEVAL)
		set_str(a, AF_PASSWORD, NULL);
	free(p.home);
	if (r < 0 && e->ex == EX_CONFIG)
		e->ex = EX_USAGE;
	return r;
}

/* Does this directive act only while the message is taken in (headers,
 * recipients, the log), so that a queued retry, which uses the file's
 * account, still sends it as asked? */
static int
submission_only(const char *directive)
{
	static const char *const names[] = {
		"set_from_header", "set_date_header", "set_msgid_header",
		"add_missing_from_header", "add_missing_date_header",
		"remove_bcc_headers", "keepbcc", "set_to_header",
		"undisclosed_recipients", "auto_from", "maildomain", "aliases",
		"dsn_notify", "dsn_return", "logfile", "logfile_time_format",
		"syslog",
	};

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(names[i], directive) == 0)
			return 1;
	return 0;
}

struct account *
conf_select_cli(struct conf *c, const char *name, const char *env_from,
    const struct conf_setting *set, size_t nset, int config_free,
    struct log *log, struct err *e)
{
	const struct account *pick = NULL;
	struct account *a;
	char *label;
	struct buf b;

	if (nset == 0 && !config_free)
		return conf_select(c, name, env_from, e);
	if (!config_free && (pick = pick_account(c, name, env_from, e)) == NULL)
		return NULL;
	a = pick ? account_dup(pick) : account_new(NULL, NULL, 0);
	if (a == NULL) {
		oom(e);
		return NULL;
	}
	for (size_t i = 0; i < nset; i++) {
		if (apply_setting(c, a, &set[i], log, e) < 0) {
			account_free(a);
			return NULL;
		}
		config_free |= !submission_only(set[i].directive);
	}
	if (!config_free)
		goto finalize;
	/* A name no file can define (files refuse blanks in names): no
	 * queued entry of the file's account rides on this connection,
	 * and a runner never takes this one for the file's. Nothing is
	 * kept for later either: a retry would not have these settings. */
	buf_init(&b, CONF_NAME_MAX + 32);
	buf_printf(&b, "%s%s(command line)", pick ? pick->name : "",
	    pick ? " " : "");
	if ((label = buf_take(&b)) == NULL) {
		account_free(a);
		oom(e);
		return NULL;
	}
	free(a->name);
	a->name = label;
	a->queue = 0;
	a->queue_retrier = 0;
finalize:
	if (conf_finalize(a, e) < 0) {
		account_free(a);
		return NULL;
	}
	return a;
}

void
conf_init(struct conf *c)
{
	memset(c, 0, sizeof *c);
}

void
conf_free(struct conf *c)
{
	for (size_t i = 0; i < c->naccounts; i++)
		account_free(c->accounts[i]);
	free(c->accounts);
	for (size_t i = 0; i < c->nfiles; i++)
		free(c->files[i]);
	free(c->files);
	free(c->user_file);
	c->user_file = NULL;
	c->accounts = NULL;
	c->files = NULL;
	c->naccounts = c->nfiles = 0;
}
