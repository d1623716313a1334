/* alias.c - see alias.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "alias.h"
#include "buf.h"

/* Room for a host name: POSIX's HOST_NAME_MAX is 255 on Linux. */
#define ALIAS_HOST_MAX 256

struct alias_entry {
	char *name;
	struct addr_list targets;
	int line;
};

struct alias_table {
	char *file;
	struct alias_entry *v;   /* sorted by name, ignoring case */
	size_t n;
	long dflt;               /* index of `default`, or -1 */
};

static int
oom(struct err *e)
{
	return err_set(e, EX_OSERR, "out of memory");
}

/* ---------------------------------------------------------------- table */

void
alias_table_free(struct alias_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].name);
		addr_list_free(&t->v[i].targets);
	}
	free(t->v);
	free(t->file);
	free(t);
}

size_t
alias_count(const struct alias_table *t)
{
	return t ? t->n : 0;
}

const char *
alias_file(const struct alias_table *t)
{
	return t ? t->file : NULL;
}

static int
entry_cmp(const void *a, const void *b)
{
	return strcasecmp(((const struct alias_entry *)a)->name,
	    ((const struct alias_entry *)b)->name);
}

/* The entry named name[0..len), ignoring case, or -1. */
static long
find(const struct alias_table *t, const char *name, size_t len)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *k = t->v[mid].name;
		int c = strncasecmp(name, k, len);

		if (c == 0 && k[len] != '\0')
			c = -1;         /* name is a proper prefix of k */
		if (c == 0)
			return (long)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

static int
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* A name is a local part as people write it in aliases files: no blanks,
 * controls or the characters that would make it a list or an address. */
static int
name_ok(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c == 0x7f || strchr("@,:<>\"()[]\\;", c))
			return 0;
	}
	return 1;
}

/* One non-comment line: "name: targets". */
static int
parse_line(struct alias_table *t, const char *s, size_t n, int line, struct err *e)
{
	const char *colon = memchr(s, ':', n);
	struct alias_entry *en;
	size_t klen;

	if (colon == NULL)
		return err_set(e, EX_CONFIG, "%s:%d: expected \"name: address, ...\"", t->file,
		    line);
	klen = (size_t)(colon - s);
	while (klen > 0 && is_blank(s[klen - 1]))
		klen--;
	if (!name_ok(s, klen))
		return err_set(e, EX_CONFIG, "%s:%d: \"%.*s\" is not a local name (an alias is "
		    "a name without '@', blanks or quotes)", t->file, line, (int)klen, s);
	if (t->n >= ALIAS_ENTRIES_MAX)
		return err_set(e, EX_CONFIG, "%s:%d: more than %d aliases", t->file, line,
		    ALIAS_ENTRIES_MAX);
	en = &t->v[t->n];
	memset(en, 0, sizeof *en);
	addr_list_init(&en->targets);
	en->line = line;
	if ((en->name = malloc(klen + 1)) == NULL)
		return oom(e);
	memcpy(en->name, s, klen);
	en->name[klen] = '\0';
	t->n++;         /* owned by the table from here, even half-filled */
	colon++;
	if (addr_parse_list(&en->targets, colon, n - (size_t)(colon - s), e) < 0) {
		if (e->ex == EX_DATAERR)
			e->ex = EX_CONFIG;
		return err_prefix(e, "%s:%d: alias %s", t->file, line, en->name);
	}
	if (en->targets.n == 0)
		return err_set(e, EX_CONFIG, "%s:%d: alias %s has no addresses", t->file, line,
		    en->name);
	for (size_t i = 0; i < en->targets.n; i++) {
		const char *a = en->targets.v[i];
		if (addr_domain(a) != NULL && addr_check(a, 0, e) < 0) {
			e->ex = EX_CONFIG;
			return err_prefix(e, "%s:%d: alias %s", t->file, line, en->name);
		}
	}
	return 0;
}

/* Sort, refuse duplicates, find `default`. */
static int
finish_table(struct alias_table *t, struct err *e)
{
	if (t->n > 1)
		qsort(t->v, t->n, sizeof *t->v, entry_cmp);
	for (size_t i = 1; i < t->n; i++) {
		const struct alias_entry *a = &t->v[i - 1], *b = &t->v[i];
		if (strcasecmp(a->name, b->name) == 0)
			return err_set(e, EX_CONFIG, "%s:%d: alias %s is already defined on line %d",
			    t->file, a->line > b->line ? a->line : b->line, b->name,
			    a->line < b->line ? a->line : b->line);
	}
	t->dflt = find(t, "default", 7);
	return 0;
}

int
alias_parse(const char *name, const char *text, size_t len, struct alias_table **out,
    struct err *e)
{
	struct alias_table *t;
	size_t pos = 0, cap = 0;
	int line = 0;

	*out = NULL;
	if ((t = calloc(1, sizeof *t)) == NULL)
		return oom(e);
	t->dflt = -1;
	if ((t->file = str_dup(name)) == NULL)
		goto nomem;
	while (pos < len) {
		const char *s = text + pos, *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;

		pos += n + (nl != NULL);
		line++;
		if (n > ALIAS_LINE_MAX) {
			err_set(e, EX_CONFIG, "%s:%d: line longer than %d octets", t->file, line,
			    ALIAS_LINE_MAX);
			goto fail;
		}
		if (memchr(s, '\0', n) != NULL) {
			err_set(e, EX_CONFIG, "%s:%d: NUL byte (not a text file?)", t->file, line);
			goto fail;
		}
		while (n > 0 && is_blank(*s)) {
			s++;
			n--;
		}
		while (n > 0 && is_blank(s[n - 1]))
			n--;
		if (n == 0 || *s == '#')
			continue;
		if (t->n == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			struct alias_entry *v = realloc(t->v, ncap * sizeof *v);
			if (v == NULL)
				goto nomem;
			t->v = v;
			cap = ncap;
		}
		if (parse_line(t, s, n, line, e) < 0)
			goto fail;
	}
	if (finish_table(t, e) < 0)
		goto fail;
	*out = t;
	return 0;
nomem:
	oom(e);
fail:
	alias_table_free(t);
	return -1;
}

int
alias_load(const char *path, struct alias_table **out, struct err *e)
{
	struct stat st;
	struct buf b;
	char chunk[8192];
	int fd, ret;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, EX_CONFIG, "aliases file %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(e, EX_CONFIG, "aliases file %s: not a regular file", path);
	}
	buf_init(&b, ALIAS_FILE_MAX);
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set(e, EX_CONFIG, "aliases file %s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		if (buf_append(&b, chunk, (size_t)n) < 0) {
			if (errno == ENOSPC)
				err_set(e, EX_CONFIG, "aliases file %s: larger than %d octets", path,
				    ALIAS_FILE_MAX);
			else
				oom(e);
			goto fail;
		}
	}
	close(fd);
	ret = alias_parse(path, buf_cstr(&b), b.len, out, e);
	buf_free(&b);
	return ret;
fail:
	close(fd);
	buf_free(&b);
	return -1;
}

/* ---------------------------------------------------------------- local */

int
alias_ctx_init(struct alias_ctx *c, const struct alias_table *t, const char *domain,
    const char *host, const char *fqdn, struct err *e)
{
	char name[ALIAS_HOST_MAX + 1];

	memset(c, 0, sizeof *c);
	c->table = t;
	c->domain = domain;
	if (host == NULL) {
		memset(name, 0, sizeof name);
		if (gethostname(name, ALIAS_HOST_MAX) == 0 && name[0] != '\0')
			host = name;
	}
	if (host && *host && (c->host = str_dup(host)) == NULL)
		return oom(e);
	if (fqdn) {
		c->fqdn_known = 1;
		if (*fqdn && (c->fqdn = str_dup(fqdn)) == NULL)
			return oom(e);
	}
	return 0;
}

void
alias_ctx_free(struct alias_ctx *c)
{
	free(c->host);
	free(c->fqdn);
	memset(c, 0, sizeof *c);
}

/* d[0..n) equals name, ignoring case and one final dot on d. */
static int
domain_is(const char *d, size_t n, const char *name)
{
	if (name == NULL)
		return 0;
	if (n > 0 && d[n - 1] == '.')
		n--;
	return strlen(name) == n && strncasecmp(d, name, n) == 0;
}

static size_t
first_label(const char *s, size_t n)
{
	const char *dot = memchr(s, '.', n);

	return dot ? (size_t)(dot - s) : n;
}

/* hostname -f: the resolver's canonical name for the host name. */
static void
lookup_fqdn(struct alias_ctx *c)
{
	struct addrinfo hints, *res = NULL;

	c->fqdn_known = 1;
	if (c->host == NULL)
		return;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_CANONNAME;
	if (getaddrinfo(c->host, NULL, &hints, &res) == 0 && res && res->ai_canonname)
		c->fqdn = str_dup(res->ai_canonname);
	if (res)
		freeaddrinfo(res);
}

int
alias_is_local(struct alias_ctx *c, const char *addr)
{
	const char *d = addr_domain(addr);
	size_t n, hl;

	if (d == NULL)
		return 1;
	n = strlen(d);
	if (domain_is(d, n, "localhost") || domain_is(d, n, "localhost.localdomain") ||
	    domain_is(d, n, c->host) || domain_is(d, n, c->fqdn))
		return 1;
	if (c->fqdn_known || c->host == NULL)
		return 0;
	/* Only a name starting with the host's own first label can be its
	 * canonical name: other domains never cost a resolver query. */
	hl = first_label(c->host, strlen(c->host));
	if (first_label(d, n) != hl || strncasecmp(d, c->host, hl) != 0)
		return 0;
	lookup_fqdn(c);
	return domain_is(d, n, c->fqdn);
}

/* ---------------------------------------------------------------- expansion */

struct expansion {
	struct alias_ctx *c;
	const struct alias_table *t;
	struct addr_list *out;
	unsigned char *active;           /* per entry: on the path now */
	long path[ALIAS_DEPTH_MAX + 1];  /* entries being expanded */
	int depth;
	size_t added;
};

static int
add(struct expansion *x, const char *addr, struct err *e)
{
	if (++x->added > ALIAS_EXPANSION_MAX) {
		const struct alias_entry *top = &x->t->v[x->path[0]];
		return err_set(e, EX_CONFIG, "%s:%d: alias %s expands to more than %d addresses "
		    "(repeats included)",
		    x->t->file, top->line, top->name, ALIAS_EXPANSION_MAX);
	}
	return addr_list_add(x->out, addr, e);
}

/* A local address nothing expands: its local part at the account's
 * domain, or as it was when there is no domain. */
static int
add_leaf(struct expansion *x, const char *addr, struct err *e)
{
	const char *d = addr_domain(addr);
	size_t llen = d ? (size_t)(d - 1 - addr) : strlen(addr);
	struct buf b;
	int ret;

	if (x->c->domain == NULL || *x->c->domain == '\0')
		return add(x, addr, e);
	buf_init(&b, llen + strlen(x->c->domain) + 1);
	if (buf_append(&b, addr, llen) < 0 || buf_putc(&b, '@') < 0 ||
	    buf_puts(&b, x->c->domain) < 0) {
		buf_free(&b);
		return oom(e);
	}
	ret = add(x, buf_cstr(&b), e);
	buf_free(&b);
	return ret;
}

/* The entry named by a local address's local part, or -1. */
static long
entry_of(const struct alias_table *t, const char *addr)
{
	const char *d = addr_domain(addr);

	return find(t, addr, d ? (size_t)(d - 1 - addr) : strlen(addr));
}

static int
loop_error(struct expansion *x, long to, struct err *e)
{
	const struct alias_entry *cur = &x->t->v[x->path[x->depth - 1]];
	struct buf b;
	int start = 0;

	buf_init(&b, ERR_MSG_MAX);
	while (x->path[start] != to)
		start++;
	for (int i = start; i < x->depth; i++)
		if (buf_puts(&b, x->t->v[x->path[i]].name) < 0 || buf_puts(&b, " -> ") < 0)
			break;
	buf_puts(&b, x->t->v[to].name);
	err_set(e, EX_CONFIG, "%s:%d: alias loop: %s", x->t->file, cur->line, buf_cstr(&b));
	buf_free(&b);
	return -1;
}

static int
expand_entry(struct expansion *x, long idx, struct err *e)
{
	const struct alias_entry *en = &x->t->v[idx];

	if (x->depth >= ALIAS_DEPTH_MAX)
		return err_set(e, EX_CONFIG, "%s:%d: alias %s: expansion deeper than %d levels",
		    x->t->file, en->line, en->name, ALIAS_DEPTH_MAX);
	x->path[x->depth++] = idx;
	x->active[idx] = 1;
	for (size_t i = 0; i < en->targets.n; i++) {
		const char *a = en->targets.v[i];
		long j, dflt = x->t->dflt;
		int ret;

		if (!alias_is_local(x->c, a)) {
			ret = add(x, a, e);
		} else if ((j = entry_of(x->t, a)) == idx ||
		    (j < 0 && (dflt < 0 || x->active[dflt]))) {
			/* The name in its own entry, or a name with no line
			 * of its own and no `default` to fall to (or reached
			 * from inside `default`): that mailbox itself. */
			ret = add_leaf(x, a, e);
		} else {
			if (j < 0)
				j = dflt;
			/* Not memoised: an entry's expansion depends on
			 * whether `default` is on the path, and the work is
			 * bounded by ALIAS_EXPANSION_MAX anyway. */
			ret = x->active[j] ? loop_error(x, j, e) : expand_entry(x, j, e);
		}
		if (ret < 0)
			return -1;
	}
	x->active[idx] = 0;
	x->depth--;
	return 0;
}

int
alias_resolve(struct alias_ctx *c, const char *addr, struct addr_list *out, struct err *e)
{
	struct expansion x;
	long idx;
	int ret;

	if (!alias_is_local(c, addr))
		return 0;
	memset(&x, 0, sizeof x);
	x.c = c;
	x.t = c->table;
	x.out = out;
	if (x.t != NULL && (idx = entry_of(x.t, addr)) < 0)
		idx = x.t->dflt;
	if (x.t == NULL || idx < 0) {
		struct alias_table none = { NULL, NULL, 0, -1 };
		x.t = &none;
		return add_leaf(&x, addr, e) < 0 ? -1 : 1;
	}
	if ((x.active = calloc(x.t->n, 1)) == NULL)
		return oom(e);
	ret = expand_entry(&x, idx, e);
	free(x.active);
	return ret < 0 ? -1 : 1;
}
