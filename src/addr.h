/*
 * addr.h - mail addresses: RFC 5322 address-list syntax (for -t and for
 * command-line recipients), RFC 5321 envelope checks, and international
 * domain names through libidn2 (UTS#46 non-transitional, IDNA2008).
 *
 * Owns: the recipient list type (deduplicated), the tokenizer and parser
 * for address lists (display names, quoted strings, nested comments, groups,
 * folding whitespace, obsolete routes and spacing), qualification of bare
 * local names, and the two envelope forms of an address (A-label ASCII and
 * UTF-8) from which the SMTP engine makes its SMTPUTF8 decision.
 *
 * Never: performs I/O, prints, exits, or decides policy about which domain
 * to use (callers pass it). Parsers take (pointer, length) and never read
 * past it. Every failure fills the struct err and returns -1.
 *
 * RFCs: 5322 section 3.4 and 4.4 (address syntax, obsolete forms),
 * 5321 section 4.1.2 and 4.5.3.1 (envelope syntax and size limits),
 * 6531/6532 (UTF-8 in addresses), 5890-5893 and UTS#46 (IDN).
 */
#ifndef ENVOI_ADDR_H
#define ENVOI_ADDR_H

#include <stddef.h>

#include "err.h"

/* RFC 5321 4.5.3.1.1-3: the sizes every server must accept; anything
 * longer may be refused, so we refuse it first with a clear message.
 * The path limit is 256 octets including the angle brackets. */
#define ADDR_LOCAL_MAX 64
#define ADDR_DOMAIN_MAX 255
#define ADDR_PATH_MAX 254

/* The most recipients one message may have. Postfix's default
 * smtpd_recipient_limit is 1000, so a list ten times longer is a runaway
 * script, not mail; the bound also keeps the linear dedup cheap. */
#define ADDR_LIST_MAX 10000

struct addr_list {
	char **v;       /* malloc'd strings, in the order first seen */
	size_t n, cap;
};

void addr_list_init(struct addr_list *l);
void addr_list_free(struct addr_list *l);

/*
 * Append a copy of addr unless an equal address is already present: the
 * local part is compared exactly (RFC 5321 2.4: it is case-sensitive), the
 * domain case-insensitively (ASCII). Errors: EX_OSERR (no memory),
 * EX_DATAERR (more than ADDR_LIST_MAX addresses).
 */
int addr_list_add(struct addr_list *l, const char *addr, struct err *e);

/*
 * Parse an RFC 5322 address-list (a To/Cc/Bcc field body, which may still
 * hold its CRLF folds, or a command-line recipient such as "Bob <bob@x>")
 * and append each addr-spec to l, deduplicated. Display names, comments
 * (nested), groups ("undisclosed-recipients:;"), quoted strings, obsolete
 * routes ("<@relay:bob@x>"), spaces around dots and empty list elements
 * are accepted. Each address is stored without comments or folding; a
 * quoted local part that needs no quoting is unquoted ("\"bob\"@x" ->
 * "bob@x"). A bare local name ("root") is kept as is: the caller qualifies
 * it. "<>" is refused (not a mailbox). Bytes >= 0x80 are taken as UTF-8
 * text (RFC 6532). Errors: EX_DATAERR with the reason and the text near the
 * fault (a caller parsing argv may relabel it EX_USAGE), EX_OSERR.
 */
int addr_parse_list(struct addr_list *l, const char *text, size_t len, struct err *e);

/*
 * Rewrite an address-list so that every addr-spec without a domain gets
 * "@domain" appended right after its local part, keeping everything else
 * (display names, comments, spacing, folds) byte for byte:
 * "root (Cron Daemon)" -> "root@example.org (Cron Daemon)".
 * *out is a malloc'd NUL-terminated string the caller frees (a plain copy
 * when nothing needed qualifying; with a NULL or empty domain the text is
 * copied without being parsed). Returns the number of addresses
 * qualified, or -1: EX_DATAERR (syntax, as addr_parse_list), EX_OSERR.
 */
int addr_qualify_list(const char *text, size_t len, const char *domain, char **out,
    struct err *e);

/*
 * Called by addr_rewrite_list for each addr-spec, as addr_parse_list would
 * store it, and whether it stood in angle brackets. Set *repl to a
 * malloc'd replacement text (taken over by the caller) or leave it NULL to
 * keep the address; return 0, or -1 with e filled.
 */
typedef int (*addr_rewrite_fn)(void *ctx, const char *addr, int in_angle, char **repl,
    struct err *e);

/* The longest text addr_rewrite_list produces: a field rewritten past it is
 * a runaway expansion, not a header. */
#define ADDR_REWRITE_MAX (256 * 1024)

/*
 * Rewrite an address-list: each addr-spec's text (from its first to its
 * last token) is replaced by what fn returns, everything else (display
 * names, comments, spacing, folds) kept byte for byte:
 * "Cron <root>" -> "Cron <admin@example.org>". *out is malloc'd for the
 * caller. Returns the number of addresses replaced, or -1: EX_DATAERR
 * (syntax, as addr_parse_list; or the result would pass ADDR_REWRITE_MAX),
 * EX_OSERR, or fn's error.
 */
int addr_rewrite_list(const char *text, size_t len, addr_rewrite_fn fn, void *ctx,
    char **out, struct err *e);

/*
 * Check that one bare addr-spec (no display name, no brackets) is usable
 * in an SMTP envelope: a dot-string or quoted-string local part, "@", and a
 * domain of dot-separated labels or an address literal "[...]"; no control
 * characters, no spaces outside quotes, no '<' or '>' anywhere; local part
 * at most ADDR_LOCAL_MAX, domain ADDR_DOMAIN_MAX, whole ADDR_PATH_MAX
 * octets. A bare local name fails (qualify it first with addr_qualify).
 * "" passes only when allow_empty (the null sender "<>").
 * Errors: EX_DATAERR naming the address and the problem.
 */
int addr_check(const char *addr, int allow_empty, struct err *e);

/*
 * A malloc'd "addr@domain" when addr has no '@' outside quotes and domain
 * is non-empty, else a malloc'd copy of addr. NULL only on ENOMEM.
 */
char *addr_qualify(const char *addr, const char *domain);

/*
 * The domain of a bare addr-spec: the text after the '@' that separates it
 * from the local part (the last '@' outside a quoted string), or NULL when
 * there is none ("root", "\"a@b\""). Points into addr.
 */
const char *addr_domain(const char *addr);

/* 1 when s has no octet >= 0x80. */
int addr_is_ascii(const char *s);

/*
 * The two envelope forms of an address, both malloc'd for the caller:
 * *ascii = the local part + the domain in A-labels (libidn2,
 * idn2_to_ascii_8z with IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT), or NULL
 * when the local part is not ASCII (such an address cannot be sent without
 * SMTPUTF8); *utf8 = the address with its domain as U-labels in NFC (the
 * UTS#46-mapped, lowercased form of a non-ASCII domain). An ASCII domain,
 * including one already in A-labels, and an address literal are left as
 * they are in both forms. The address must be valid UTF-8.
 * Errors: EX_DATAERR (invalid UTF-8, or an invalid IDN, with libidn2's
 * reason), EX_OSERR. On error both outputs are NULL.
 */
int addr_envelope_forms(const char *addr, char **ascii, char **utf8, struct err *e);

/*
 * The A-label form of a possibly non-ASCII host name, for DNS and for the
 * certificate name check; *out is malloc'd (an ASCII name is copied as is).
 * Errors: EX_CONFIG (host names come from the configuration or the command
 * line: an invalid IDN there is a configuration error), EX_OSERR.
 */
int addr_host_to_ascii(const char *host, char **out, struct err *e);

#endif
