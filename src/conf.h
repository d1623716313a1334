/*
 * conf.h - msmtp-syntax configuration: files, accounts, the chosen account.
 *
 * Owns: reading configuration files in msmtp's format (so an existing
 * ~/.msmtprc works unchanged): `defaults`, `account NAME [: PARENT, ...]`,
 * `#` comments, double-quoted arguments, `~` in file names, `eval CMD`;
 * the layering of the system file under the user (or -C) file; the
 * permission check on files holding a password; account selection (-a,
 * then `from` matching -f, then "default"); settings given on the command
 * line over the chosen account (conf_select_cli); and the finalised,
 * read-only account with envoi's secure defaults applied.
 *
 * Errors are one line, "FILE:LINE: message", with EX_CONFIG. Directives
 * msmtp knows but envoi does not implement yet are accepted with one
 * warning per directive name per run (through log_warn), never a failure:
 * refusing them would break working msmtp files.
 *
 * Never: connects, reads a secret from a command (passwordeval is run by
 * cred.c, when authentication needs it), prints except through log_warn,
 * or exits. `eval` lines do run a command while the file is read, because
 * that is what the msmtp format means, but only from a file that no one
 * but the caller or root can change (conf_load_file).
 */
#ifndef ENVOI_CONF_H
#define ENVOI_CONF_H

#include <stddef.h>

#include "err.h"
#include "log.h"

/*
 * Longest configuration line, in bytes without the line end. msmtp allows
 * 500, so every msmtp file fits; envoi allows more because passwordeval
 * pipelines, GnuTLS priority strings and eval output can be long, while a
 * binary file named by mistake (-C /bin/ls) still fails on its first
 * "line" instead of being read into memory.
 */
#define CONF_LINE_MAX 4096

/* Most accounts across all files: far above any real setup, low enough
 * that account lookup by linear search stays trivial. */
#define CONF_ACCOUNTS_MAX 1000

/* Longest timeout: a day. Longer is certainly a typo (ms for s). */
#define CONF_TIMEOUT_MAX 86400

/* Default per-connect and per-read timeout, in seconds. */
#define CONF_TIMEOUT_DEFAULT 60
/* How long a message may wait in the queue: Postfix's default too. */
#define CONF_QUEUE_LIFETIME_DEFAULT (5L * 24 * 3600)
/* A year: anything longer is surely a typo. */
#define CONF_QUEUE_LIFETIME_MAX (366L * 24 * 3600)

enum hdr_mode { HDR_AUTO = 0, HDR_ON = 1, HDR_OFF = 2 };

/* force_from: whose address the envelope sender and From header carry. */
enum force_from {
	FORCE_FROM_OFF = 0,      /* -f, MAIL FROM and the message decide */
	FORCE_FROM_ENVELOPE = 1, /* MAIL FROM is always the account's from
	                          * (msmtp's allow_from_override off) */
	FORCE_FROM_HEADER = 2,   /* also the From header; the original From
	                          * is kept in Reply-To (when there is none) */
};

/* One bit per directive in struct account's `set` mask. */
enum account_field {
	AF_HOST, AF_PORT, AF_TLS, AF_TLS_STARTTLS, AF_TLS_CERTCHECK,
	AF_TLS_TRUST_FILE, AF_TLS_FINGERPRINT, AF_TLS_CERT_FILE,
	AF_TLS_KEY_FILE, AF_TLS_PRIORITIES, AF_TLS_HOST_OVERRIDE,
	AF_AUTH, AF_USER, AF_PASSWORD, AF_PASSWORDEVAL,
	AF_FROM, AF_FROM_FULL_NAME, AF_DOMAIN, AF_TIMEOUT,
	AF_SET_FROM_HEADER, AF_SET_DATE_HEADER, AF_SET_MSGID_HEADER,
	AF_REMOVE_BCC_HEADERS, AF_LOGFILE, AF_SYSLOG,
	AF_DSN_NOTIFY, AF_DSN_RETURN, AF_QUEUE_DIR, AF_QUEUE, AF_QUEUE_LIFETIME,
	AF_ALIASES, AF_REWRITE_HEADERS, AF_SET_SENDER_HEADER, AF_FORCE_FROM,
	AF_FALLBACK_ACCOUNT, AF_QUEUE_RETRIER, AF_CHUNKING, AF_TLS_SESSION_CACHE,
	AF_OAUTH2_PROVIDER, AF_OAUTH2_CLIENT_ID, AF_OAUTH2_CLIENT_SECRET,
	AF_OAUTH2_CLIENT_SECRET_EVAL, AF_OAUTH2_TENANT, AF_OAUTH2_SCOPE,
	AF_OAUTH2_TOKEN_URL, AF_OAUTH2_DEVICE_URL, AF_OAUTH2_AUTH_URL,
	AF_COUNT
};
#define ACCOUNT_IS_SET(a, f) (((a)->set >> (f)) & 1ULL)

struct account {
	char *name;
	char *host;                 /* one smarthost, or several separated by
	                             * commas or blanks, tried in order
	                             * (conf_hosts splits them) */
	long port;                  /* 0 = unset; 25 or 465 after finalize */
	int tls, tls_starttls, tls_certcheck;  /* -1 unset, 0 off, 1 on;
	                                        * never -1 after finalize */
	char *tls_trust_file;       /* NULL = system trust store; "" = no CA
	                             * file at all (msmtp's empty value:
	                             * only useful with tls_fingerprint) */
	char *tls_fingerprint;      /* SHA-256, normalised "AB:CD:...:EF" */
	char *tls_cert_file, *tls_key_file;  /* both or neither (finalize) */
	char *tls_priorities, *tls_host_override;
	char *auth;                 /* NULL unset; "on", "off", or a mechanism
	                             * name upper-cased ("SCRAM-SHA-256");
	                             * never NULL after finalize */
	char *user, *password, *passwordeval;
	char *from;                 /* %U %H %C %M substituted by finalize */
	int from_is_pattern;        /* from holds * ? or [ (set by finalize):
	                             * it selects accounts for -f and must not
	                             * be used as an envelope sender itself */
	char *from_full_name;
	char *domain;               /* EHLO and Message-ID domain */
	long timeout;               /* seconds; 0 = off */
	enum hdr_mode set_from_header, set_date_header, set_msgid_header;
	int remove_bcc_headers;     /* default 1 */
	char *logfile;              /* NULL = none; "-" = stderr */
	char *syslog;               /* NULL/"off", "on", or "LOG_MAIL" etc. */
	char *dsn_notify;           /* NULL or "NEVER" / "SUCCESS,DELAY,FAILURE" */
	char *dsn_return;           /* NULL, "HDRS" or "FULL" */
	char *queue_dir;            /* envoi extension; NULL = default */
	int queue;                  /* envoi: 1 (default) keeps a message whose
	                             * delivery failed temporarily and exits 0;
	                             * 0 = msmtp-style direct mode (exit 75) */
	int queue_retrier;          /* envoi: 1 (default) starts a detached
	                             * retrier when a message is queued and
	                             * none runs for the queue (runq.h) */
	long queue_lifetime;        /* envoi: seconds before a queued message is
	                             * bounced (default 5 days) */
	char *aliases;              /* msmtp: aliases file for local recipients
	                             * ("local: a@x, b@y", "default: ..."); envoi
	                             * also aliases user@localhost and
	                             * user@<this host's names> */
	int rewrite_headers;        /* envoi: apply the aliasing/qualification
	                             * of local addresses to From, To, Cc (and
	                             * Reply-To, Sender) too; default 0 */
	enum hdr_mode set_sender_header; /* envoi: auto = leave Sender alone;
	                             * on = Sender: the envelope sender when it
	                             * differs from From; off = remove Sender */
	int force_from;             /* enum force_from (envoi);
	                             * allow_from_override off sets
	                             * FORCE_FROM_ENVELOPE */
	char *fallback_account;     /* envoi: account tried when every host of
	                             * this one fails temporarily, before the
	                             * message is queued */
	int chunking;               /* envoi: 1 (default) sends the body with
	                             * BDAT when the server offers CHUNKING */
	int tls_session_cache;      /* envoi: 1 (default) resumes TLS 1.3
	                             * sessions across runs (tlscache.h) */
	/* envoi: OAuth 2.0 (oauth2.h). oauth2_provider NULL = off (a token
	 * comes from passwordeval, as before); else "microsoft", "google"
	 * or "custom". The client secret, like password, is wiped on free
	 * and shown by --pretend only as set/unset; the *_url are https
	 * URLs (checked when read). */
	char *oauth2_provider, *oauth2_client_id;
	char *oauth2_client_secret, *oauth2_client_secret_eval;
	char *oauth2_tenant, *oauth2_scope;
	char *oauth2_token_url, *oauth2_device_url, *oauth2_auth_url;
	char *source_file;          /* where the account was defined */
	int source_line;
	int from_user_file;         /* defined in the user (or -C) file */
	unsigned long long set;     /* bit AF_x: directive given explicitly */
};

struct conf {
	struct account **accounts;  /* in definition order, system file first */
	size_t naccounts;
	char **files;               /* the files read, for messages */
	size_t nfiles;
	unsigned long long warned[2];  /* unimplemented directives warned about */
	/* The user (or -C) file read, if any: its canonical path
	 * (realpath) and identity. A queue entry records them, so that it
	 * is delivered through the same file (queue.h, runq.h). */
	char *user_file;
	unsigned long long user_dev, user_ino;
	int sys_unreadable;         /* the system file exists but this caller
	                             * may not read it (drop.h: the maildrop) */
	/* Set before conf_load: with no cli_file, read the system file
	 * alone (a queue entry submitted with no file of the user's). */
	int system_only;
	/* Set before conf_load for --pretend: a problem in a file (a line
	 * it cannot use, an unknown directive, a readable file holding a
	 * password, an untrusted passwordeval) is reported with log_warn
	 * and counted in problems, and reading goes on, so that one run
	 * shows them all. The result must not be used to send. */
	int lenient;
	unsigned problems;
	/* Where to look; NULL = the real ones. Tests set these. */
	const char *sysconfdir;     /* default SYSCONFDIR */
	const char *home;           /* default: see conf_home() */
};

void conf_init(struct conf *c);

/*
 * Read one file and merge its accounts into *c; an account replaces a
 * same-named account from an earlier file (so user accounts override
 * system ones). `defaults` apply to the following accounts of this file
 * only. A file containing a literal `password` directive is refused unless
 * it is private: a user file must be owned by the real uid with no
 * group/other permission bits; a system file (is_user_file 0) must be owned
 * by root or the caller and not be world-readable. A file with `eval`, or
 * whose accounts have `passwordeval`, is refused (before any command runs)
 * unless it is owned by root or the caller and neither group nor others
 * may write it: its commands run as the caller.
 * Returns 0, or -1 with EX_CONFIG ("FILE:LINE: ..." for syntax and values;
 * a missing file is an error here) or EX_OSERR. On error *c is unchanged.
 */
int conf_load_file(struct conf *c, const char *path, int is_user_file,
    struct log *log, struct err *e);

/*
 * The lookup order: the system file SYSCONFDIR/envoi.conf, else
 * SYSCONFDIR/msmtprc (either optional); then cli_file (-C, which must
 * exist) or else the first existing of $XDG_CONFIG_HOME/envoi/config,
 * ~/.envoirc, ~/.msmtprc, $XDG_CONFIG_HOME/msmtp/config, where ~ and
 * $XDG_CONFIG_HOME must be the caller's own (conf_home, conf_xdg_dir).
 * Finding no file at all is not an error here; conf_select says how to
 * configure.
 * cli_file must be owned by the real uid unless that is root (EX_CONFIG
 * "-C FILE: refusing a configuration file owned by uid N (not yours)").
 */
int conf_load(struct conf *c, const char *cli_file, struct log *log,
    struct err *e);

/*
 * Choose the account: `name` (-a) if given, else the first account whose
 * `from` (after %-substitution, with fnmatch wildcards, ignoring case)
 * matches env_from (-f) as given or with a "+detail" removed from its
 * local part, user-file accounts before system ones; else "default".
 * Returns a finalised deep copy the caller releases with account_free, or
 * NULL with EX_CONFIG (no such account, nothing configured, or a
 * finalize error) or EX_OSERR.
 */
struct account *conf_select(const struct conf *c, const char *name,
    const char *env_from, struct err *e);

/*
 * One setting given on the command line (msmtp's --port=2525, --tls=off):
 * a directive of this file format and its value, applied after the files
 * exactly as a line of the chosen account would be, with the same checks.
 * option is the option as typed, for messages ("--port").
 */
struct conf_setting {
	const char *directive;   /* "port", "tls_starttls", ... */
	const char *value;       /* "" = no value (on, for on/off ones) */
	const char *option;
};

/*
 * conf_select, then the command line's settings in order (a later one
 * wins), then conf_finalize, so that --tls=off with a password to a
 * remote host is refused as the same line in a file would be. With
 * config_free (msmtp's --host), no account of c is used: the account is
 * built from the settings alone. With config_free, or a setting that acts
 * on delivery (host, port, TLS, auth, ...; not the header, recipient and
 * log ones, which are done once the message is spooled), the account is
 * named "NAME (command line)" or "(command line)", a name no file can
 * define, and has queue and queue_retrier off: a retry could not know
 * the settings, so a temporary failure is the caller's (EX_TEMPFAIL), as
 * with msmtp, and no entry queued through the file rides on the
 * connection. c is not const: warnings about unimplemented directives are
 * remembered in it. Errors: conf_select's and conf_finalize's; a bad
 * value is EX_USAGE "OPTION: directive: reason"; a directive that is not
 * a setting (account, eval, password) EX_SOFTWARE. A passwordeval setting
 * drops the file's password: the command given is the secret asked for.
 */
struct account *conf_select_cli(struct conf *c, const char *name,
    const char *env_from, const struct conf_setting *set, size_t nset,
    int config_free, struct log *log, struct err *e);

/*
 * Apply defaults and the secure-default rules to *a in place:
 * - host is required;
 * - auth unset: "on" if user, password or passwordeval is set, else "off";
 * - an account that authenticates and leaves tls unset gets tls on, with
 *   STARTTLS and certificate checks (unless tls_starttls or tls_certcheck
 *   say otherwise);
 * - tls_starttls unset: on, except implicit TLS when the port is 465;
 * - tls off with any mechanism but EXTERNAL to a non-loopback host is
 *   refused: credentials never travel in clear;
 * - tls_cert_file and tls_key_file go together;
 * - port 25, or 465 with implicit TLS; timeout 60 s; remove_bcc_headers on;
 * - from: %U user, %H and %C host name, %M /etc/mailname (else host
 *   name), %% a percent sign; domain likewise, default the host name.
 * Returns 0 or -1 with EX_CONFIG ("FILE:LINE: account NAME: ...") or
 * EX_OSERR.
 */
int conf_finalize(struct account *a, struct err *e);

/*
 * Every setting of a (for --pretend), in the directive table's order, one
 * call per setting: emit(ctx, directive, value, explicit), explicit 1
 * when a file (or an inherited account, or defaults) set it, 0 for a
 * default. Secrets (password, passwordeval) are given only as "set" or
 * "unset", never their value. Aliases of a directive (connect_timeout,
 * keepbcc, tls_nocertcheck, ...) are not repeated. value lives for the
 * call only. Pure.
 */
void conf_describe(const struct account *a,
    void (*emit)(void *ctx, const char *directive, const char *value, int explicit),
    void *ctx);

/* Deep copy (NULL on ENOMEM). */
struct account *account_dup(const struct account *a);

/* Frees everything, wiping the password first. NULL is fine. */
void account_free(struct account *a);

void conf_free(struct conf *c);

/*
 * The caller's home directory: $HOME when it is set, is not "/", and is a
 * directory owned by the real uid (sudo runs mailers with HOME=/);
 * otherwise the password database's entry for the real uid. Returns a
 * malloc'd string or NULL when there is none.
 */
char *conf_home(void);

/*
 * An XDG base directory (var is "XDG_CONFIG_HOME", "XDG_STATE_HOME", ...):
 * the variable's value when it is an absolute path to a directory owned by
 * the real uid, the rule conf_home applies to $HOME (sudo -E and su
 * without - pass on another user's values); otherwise home/dflt
 * ("~/.config"), or NULL when home is NULL. malloc'd; NULL also on ENOMEM.
 */
char *conf_xdg_dir(const char *var, const char *home, const char *dflt);

/*
 * Split an account's host list ("a.example, b.example c.example") into a
 * NULL-terminated malloc'd array of malloc'd names; *n gets the count
 * (at least 1 for a finalised account). NULL on ENOMEM. Free with
 * conf_hosts_free.
 */
char **conf_hosts(const char *host, size_t *n);
void conf_hosts_free(char **v);

/* Is host a loopback name or address (localhost, 127.0.0.0/8, ::1)? */
int conf_host_is_loopback(const char *host);

#endif
