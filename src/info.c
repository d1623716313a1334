/* info.c - see info.h. */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "info.h"

/* The capabilities --serverinfo names, in the order it names them. */
static const struct {
	const char *name;
	size_t off;
	const char *what;
} cap_flags[] = {
	{ "PIPELINING", offsetof(struct caps, pipelining), "commands in groups" },
	{ "CHUNKING", offsetof(struct caps, chunking), "BDAT" },
	{ "8BITMIME", offsetof(struct caps, eightbitmime), "8-bit bodies" },
	{ "SMTPUTF8", offsetof(struct caps, smtputf8), "UTF-8 addresses" },
	{ "DSN", offsetof(struct caps, dsn), "delivery status notifications" },
	{ "REQUIRETLS", offsetof(struct caps, requiretls), "RFC 8689" },
	{ "ENHANCEDSTATUSCODES", offsetof(struct caps, enhancedstatuscodes), "" },
	{ "STARTTLS", offsetof(struct caps, starttls), "" },
	{ "ETRN", offsetof(struct caps, etrn), "remote queue starting, --rmqs" },
};

static int
cap_on(const struct caps *c, size_t i)
{
	return *(const int *)(const void *)((const char *)c + cap_flags[i].off);
}

void
info_size(unsigned long long bytes, char *dst, size_t size)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(dst, size, "%llu bytes", bytes);
		return;
	}
	v /= 1024;
	while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
		v /= 1024;
		u++;
	}
	snprintf(dst, size, "%llu bytes (%.*f %s)", bytes, v < 10 && v != (long long)v ? 1 : 0,
	         v, units[u]);
}

/* "PIPELINING SIZE AUTH(PLAIN LOGIN) STARTTLS": one line, for comparing
 * what was offered before STARTTLS with what is offered inside. */
static void
caps_line(const struct caps *c, char *dst, size_t size)
{
	size_t used = 0;

	dst[0] = '\0';
	if (c->size_set)
		used += (size_t)snprintf(dst + used, size - used, "SIZE");
	if (*c->auth && used < size)
		used += (size_t)snprintf(dst + used, size - used, "%sAUTH(%s)", used ? " " : "",
		                         c->auth);
	for (size_t i = 0; i < sizeof cap_flags / sizeof cap_flags[0] && used < size; i++)
		if (cap_on(c, i))
			used += (size_t)snprintf(dst + used, size - used, "%s%s", used ? " " : "",
			                         cap_flags[i].name);
	if (used == 0)
		snprintf(dst, size, "(nothing)");
}

static void
print_caps(FILE *out, const struct caps *c)
{
	char sz[64];

	fprintf(out, "Capabilities:\n");
	if (!c->size_set)
		fprintf(out, "    SIZE: not offered\n");
	else if (c->size == 0)
		fprintf(out, "    SIZE: offered, no limit given\n");
	else {
		info_size(c->size, sz, sizeof sz);
		fprintf(out, "    SIZE: %s maximum message size\n", sz);
	}
	fprintf(out, "    AUTH: %s\n", *c->auth ? c->auth : "not offered");
	for (size_t i = 0; i < sizeof cap_flags / sizeof cap_flags[0]; i++)
		fprintf(out, "    %s: %s%s%s%s\n", cap_flags[i].name, cap_on(c, i) ? "yes" : "no",
		        *cap_flags[i].what ? " (" : "", cap_flags[i].what,
		        *cap_flags[i].what ? ")" : "");
}

/* What changed with STARTTLS: the server's offer in plaintext is void
 * inside TLS (RFC 3207 4.2), but AUTH shown only inside is worth
 * knowing, and AUTH offered in plaintext is worth a word too. */
static void
print_plain_caps(FILE *out, const struct session_info *si)
{
	char line[CAPS_AUTH_MAX + 256];

	caps_line(&si->plain_caps, line, sizeof line);
	fprintf(out, "Before STARTTLS: %s\n", line);
	if (*si->plain_caps.auth && si->have_caps)
		fprintf(out, "    (AUTH was offered before TLS too; envoi never uses it there)\n");
	else if (!*si->plain_caps.auth && si->have_caps && *si->caps.auth)
		fprintf(out, "    (AUTH is offered only inside TLS)\n");
}

static void
print_cert(FILE *out, const struct tls_peer *tp)
{
	const struct tls_cert_info *c = &tp->cert;
	time_t now = time(NULL);

	fprintf(out, "Server certificate%s:\n", tp->chain_len > 1 ? " (first of a chain)" : "");
	fprintf(out, "    Subject: %s\n", c->subject);
	fprintf(out, "    Issuer: %s\n", c->issuer);
	fprintf(out, "    Not before: %s%s\n", c->not_before,
	        c->not_before_t > (long long)now ? " (NOT YET VALID)" : "");
	fprintf(out, "    Not after: %s%s\n", c->not_after,
	        c->not_after_t >= 0 && c->not_after_t < (long long)now ? " (EXPIRED)" : "");
	fprintf(out, "    Names: %s\n", *c->names ? c->names : "(no subjectAltName)");
	fprintf(out, "    SHA-256 fingerprint: %s\n", c->sha256);
	fprintf(out, "    To pin it, in the account: tls_fingerprint %s\n", c->sha256);
}

void
info_serverinfo(FILE *out, const char *account, const struct session_info *si)
{
	static const char *const modes[] = { "no TLS", "STARTTLS", "implicit TLS" };

	fprintf(out, "SMTP server %s port %ld (account %s, %s)\n", si->host, si->port,
	        account ? account : "?", modes[si->tls >= 0 && si->tls <= 2 ? si->tls : 0]);
	if (*si->greeting)
		fprintf(out, "Greeting: %s\n", si->greeting);
	if (si->tls == SMTP_TLS_STARTTLS && si->have_plain_caps)
		print_plain_caps(out, si);
	if (si->tls && *si->tls_peer.version) {
		fprintf(out, "TLS: %s, %s\n", si->tls_peer.version, si->tls_peer.suite);
		fprintf(out, "TLS verification: %s\n", *si->tls_peer.verdict ?
		        si->tls_peer.verdict : "FAILED (see the error below)");
		if (si->tls_peer.have_cert)
			print_cert(out, &si->tls_peer);
	}
	if (si->have_caps)
		print_caps(out, &si->caps);
	fflush(out);
}

/* ------------------------------------------------------------ --pretend */

static void
emit_setting(void *ctx, const char *directive, const char *value, int explicit)
{
	/* "(default)" marks a value envoi chose, not the absence of one. */
	int chosen = !explicit && strcmp(value, "(unset)") != 0 && strcmp(value, "unset") != 0;

	fprintf((FILE *)ctx, "    %-22s %s%s\n", directive, value, chosen ? "  (default)" : "");
}

/* A file the account names and envoi would have to read when sending. */
static int
check_file(struct log *log, const struct account *a, const char *directive, const char *path)
{
	if (path == NULL || *path == '\0' || access(path, R_OK) == 0)
		return 0;
	log_warn(log, "account %s: %s %s cannot be read: %m", a->name, directive, path);
	return 1;
}

static int
check_account(const struct account *a, struct log *log)
{
	int problems = 0, auth = a->auth && strcmp(a->auth, "off") != 0;

	if (a->tls == 1 && a->tls_certcheck && (a->tls_fingerprint == NULL ||
	    *a->tls_fingerprint == '\0') && (a->tls_trust_file == NULL ||
	    strcmp(a->tls_trust_file, "system") != 0))
		problems += check_file(log, a, "tls_trust_file", a->tls_trust_file);
	if (a->tls == 1) {
		problems += check_file(log, a, "tls_cert_file", a->tls_cert_file);
		problems += check_file(log, a, "tls_key_file", a->tls_key_file);
	}
	problems += check_file(log, a, "aliases", a->aliases);
	if (a->tls == 1 && a->tls_certcheck == 0)
		log_warn(log, "account %s: tls_certcheck off: the server's certificate is not "
		         "checked, anyone on the path can read the mail%s", a->name,
		         auth ? " and the password" : "");
	if (auth && a->tls != 1)
		log_warn(log, "account %s: AUTH without TLS (allowed only because %s is "
		         "loopback)", a->name, a->host);
	if (auth && a->password == NULL && a->passwordeval == NULL)
		log_debug(log, "account %s: no password or passwordeval: the secret comes from "
		          "~/.netrc or the keyring when AUTH needs it", a->name);
	return problems;
}

int
info_pretend(FILE *out, const struct info_pretend *p, struct log *log)
{
	const struct account *a = p->acct;

	fprintf(out, "Configuration files:");
	for (size_t i = 0; i < p->conf->nfiles; i++)
		fprintf(out, "%s%s", i ? ", " : " ", p->conf->files[i]);
	fprintf(out, "%s\n", p->conf->nfiles ? "" : " none");
	fprintf(out, "Account: %s (%s)\n", a->name, p->why);
	if (a->source_file && a->source_line > 0)
		fprintf(out, "    defined at %s:%d\n", a->source_file, a->source_line);
	fprintf(out, "Settings (after defaults and inheritance):\n");
	conf_describe(a, emit_setting, out);
	fprintf(out, "Envelope:\n");
	fprintf(out, "    sender: <%s>\n", p->from ? p->from : "");
	for (size_t i = 0; i < p->nrcpts; i++)
		fprintf(out, "    recipient: %s\n", p->rcpts[i]);
	if (p->read_rcpts)
		fprintf(out, "    recipients: also those of the message's To, Cc and Bcc "
		        "headers (-t; the message is not read by --pretend)\n");
	else if (p->nrcpts == 0)
		fprintf(out, "    recipients: none given\n");
	if (!a->queue)
		fprintf(out, "Queue: off (a temporary failure would exit 75, nothing kept)\n");
	else if (p->queue_dir)
		fprintf(out, "Queue: %s (nothing is queued by --pretend)\n", p->queue_dir);
	fflush(out);
	return check_account(a, log);
}
