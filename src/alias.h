/*
 * alias.h - the aliases file (msmtp's format) and local recipients.
 *
 * Owns: reading an aliases file into a table, deciding whether an address
 * is local to this host, and expanding a local address through the table
 * (recursively, with loops and runaway expansions refused) into the
 * addresses that really receive the mail.
 *
 * File format (msmtp's): one "name: address, address, ..." per line;
 * blank lines and lines whose first non-blank character is '#' are
 * ignored; leading and trailing blanks are ignored; CRLF line ends are
 * accepted; there are no continuation lines (a line starting with a blank
 * is an ordinary entry, as msmtp reads it). The addresses are an RFC 5322
 * address list ("Bob <bob@x>" works too). `default:` is the entry for every
 * local name without its own line. Names are local parts without '@',
 * compared ignoring ASCII case; each may be defined once.
 *
 * Local: an address is local when it has no '@', or its domain (ignoring
 * case and a final dot) is localhost, localhost.localdomain, this host's
 * gethostname() or its canonical name (hostname -f). The account's domain
 * is local exactly when it is one of those, so it needs no rule of its own.
 * The canonical name needs the resolver, so it is looked up only for a
 * domain whose first label is the host name's first label (every other
 * domain cannot be it), at most once per alias_ctx.
 *
 * Expansion of a local address: the entry for its local part, else the
 * `default:` entry, else nothing; each local address an entry yields is
 * expanded the same way, so `default` catches every local name without a
 * line of its own, in the file too ("root: bob" sends bob's mail to the
 * default). Two rules stop the natural self-references: a name in its own
 * entry ("root: root, admin@x") stands for itself, and so does a name
 * without a line that comes out of `default` itself ("default: me").
 * Any other cycle ("a: b", "b: a"; "default: x" with "x: y" when x is
 * addressed) is an error, as is an expansion deeper than ALIAS_DEPTH_MAX
 * or one yielding more than ALIAS_EXPANSION_MAX addresses, repeats
 * included (which also bounds the work: nothing is memoised).
 * A local address left unexpanded becomes local-part@domain (the
 * account's domain), so root@localhost reaches the smarthost as
 * root@example.org; with no domain configured it is kept as it was.
 *
 * Never: prints, exits, touches the network except through the resolver
 * for the canonical host name, or changes the table after loading (one
 * table may serve many submissions).
 */
#ifndef ENVOI_ALIAS_H
#define ENVOI_ALIAS_H

#include <stddef.h>

#include "addr.h"
#include "err.h"

/* Longest line, line end excluded. msmtp's config allows 500; an alias
 * for a team of a hundred people is about 3000 octets, and a binary file
 * named by mistake still fails on its first "line". */
#define ALIAS_LINE_MAX 16384
/* The whole file is read into memory to be parsed: a hundred times a big
 * /etc/aliases, and a bound on what a wrong path can make us read. */
#define ALIAS_FILE_MAX (4 * 1024 * 1024)
/* Entries in one file: far more than any real aliases file. */
#define ALIAS_ENTRIES_MAX 10000
/* Nested expansions (msmtp's limit too): real chains are 2 or 3 deep. */
#define ALIAS_DEPTH_MAX 16
/* Addresses one recipient may expand to: Postfix's default
 * smtpd_recipient_limit, so the smarthost would refuse more anyway. */
#define ALIAS_EXPANSION_MAX 1000

struct alias_table;

/*
 * Read and check an aliases file. Every target address is parsed and, when
 * it has a domain, checked as an envelope address, so a bad file fails
 * here (and at newaliases) rather than on some later message.
 * *out is the caller's (alias_table_free). Errors: EX_CONFIG, one line
 * "FILE:LINE: ..." for syntax and limits, "aliases file FILE: reason" when
 * it cannot be read; EX_OSERR (no memory).
 */
int alias_load(const char *path, struct alias_table **out, struct err *e);

/* The same from text in memory; name is used in messages ("FILE:LINE:"). */
int alias_parse(const char *name, const char *text, size_t len, struct alias_table **out,
    struct err *e);

/* Entries in the table, `default` included. */
size_t alias_count(const struct alias_table *t);

/* The file name given to alias_load/alias_parse (owned by the table). */
const char *alias_file(const struct alias_table *t);

void alias_table_free(struct alias_table *t);

/*
 * What one expansion needs: the table (may be NULL: local addresses are
 * then only qualified), the domain that qualifies local names, and this
 * host's names for the local test.
 */
struct alias_ctx {
	const struct alias_table *table;   /* borrowed; NULL = no aliases file */
	const char *domain;                /* borrowed; NULL or "" = none */
	char *host;                        /* gethostname(); NULL if unknown */
	char *fqdn;                        /* canonical name; NULL if unknown */
	int fqdn_known;                    /* fqdn was given or looked up */
};

/*
 * Fill *c. host NULL = gethostname(); fqdn NULL = looked up when first
 * needed (see the top). Tests pass both so results do not depend on the
 * machine. Returns 0 or -1 (EX_OSERR, no memory).
 */
int alias_ctx_init(struct alias_ctx *c, const struct alias_table *t, const char *domain,
    const char *host, const char *fqdn, struct err *e);
void alias_ctx_free(struct alias_ctx *c);

/* 1 when addr (a bare addr-spec or local name) is local, see the top. */
int alias_is_local(struct alias_ctx *c, const char *addr);

/*
 * Resolve one address. When it is local: append its expansion (or, with
 * no entry, its qualified form) to out, deduplicated, and return 1. When it
 * is not local: leave out alone and return 0 (the caller keeps addr).
 * Errors (-1): EX_CONFIG for a loop, ALIAS_DEPTH_MAX or
 * ALIAS_EXPANSION_MAX ("FILE:LINE: alias NAME: ..."), addr_list_add's
 * classes.
 */
int alias_resolve(struct alias_ctx *c, const char *addr, struct addr_list *out,
    struct err *e);

#endif
