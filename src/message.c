/* message.c - see message.h. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "message.h"

/* Bytes of randomness in a generated Message-ID: 128 bits make a collision
 * as unlikely as a UUID's, without needing the host name or a counter. */
#define MSG_ID_RANDOM 16

void
msg_info_init(struct msg_info *i)
{
	memset(i, 0, sizeof *i);
	addr_list_init(&i->rcpts);
}

void
msg_info_free(struct msg_info *i)
{
	addr_list_free(&i->rcpts);
	free(i->message_id);
	free(i->header_from);
	msg_info_init(i);
}

static int
oom(struct err *e)
{
	return err_set(e, EX_OSERR, "out of memory");
}

/* ---------------------------------------------------------------- output */

struct writer {
	int fd;
	size_t len;
	unsigned long long size, lines;
	int has_8bit;
	char buf[MSG_IO_CHUNK];
};

static int
w_flush(struct writer *w, struct err *e)
{
	size_t off = 0;

	while (off < w->len) {
		ssize_t n = write(w->fd, w->buf + off, w->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;
			/* EX_IOERR, full disk included: the message is NOT
			 * stored, and 75 would tell callers it was queued. */
			return err_set(e, EX_IOERR, "writing the message to the spool: %s%s",
			    strerror(saved), saved == ENOSPC || saved == EDQUOT ?
			    " (the disk holding the queue is full)" : "");
		}
		off += (size_t)n;
	}
	w->len = 0;
	return 0;
}

static int
w_put(struct writer *w, const char *p, size_t n, struct err *e)
{
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)p[i] >= 0x80)
			w->has_8bit = 1;
		else if (p[i] == '\n')
			w->lines++;
	}
	w->size += n;
	while (n > 0) {
		size_t room = sizeof w->buf - w->len, k = n < room ? n : room;
		memcpy(w->buf + w->len, p, k);
		w->len += k;
		p += k;
		n -= k;
		if (w->len == sizeof w->buf && w_flush(w, e) < 0)
			return -1;
	}
	return 0;
}

static int
w_puts(struct writer *w, const char *s, struct err *e)
{
	return w_put(w, s, strlen(s), e);
}

/* ---------------------------------------------------------------- header fields */

struct field {
	size_t start, len;      /* the whole field in hdr, continuations and final CRLF included */
	const char *name;
	size_t name_len;
	const char *body;       /* after the ':', up to the final CRLF (folds kept) */
	size_t body_len;
	unsigned long long line;
};

/* RFC 5322 3.6.8: field-name = 1*ftext, ftext = %d33-57 / %d59-126;
 * obs-optional (4.5.8) allows whitespace before the colon. */
static int
is_field_line(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && s[i] >= 33 && s[i] <= 126 && s[i] != ':')
		i++;
	if (i == 0)
		return 0;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i < n && s[i] == ':';
}

/* The next field of the stored header block, which holds only whole
 * CRLF-terminated lines, the first of each field being a field line. */
static int
next_field(const struct buf *h, size_t *pos, unsigned long long *line, struct field *f)
{
	const char *d = h->data;
	size_t p = *pos, colon;

	if (p >= h->len)
		return 0;
	f->start = p;
	f->line = *line;
	f->name = d + p;
	colon = p;
	while (d[colon] != ':')
		colon++;
	f->name_len = colon - p;
	while (f->name_len > 0 && (f->name[f->name_len - 1] == ' ' ||
	    f->name[f->name_len - 1] == '\t'))
		f->name_len--;
	do {
		const char *nl = memchr(d + p, '\n', h->len - p);
		p = (size_t)(nl - d) + 1;
		(*line)++;
	} while (p < h->len && (d[p] == ' ' || d[p] == '\t'));
	f->len = p - f->start;
	f->body = d + colon + 1;
	f->body_len = p - 2 - (colon + 1);
	*pos = p;
	return 1;
}

static int
name_is(const struct field *f, const char *name)
{
	size_t n = strlen(name);

	return f->name_len == n && strncasecmp(f->name, name, n) == 0;
}

static int
is_resent(const struct field *f)
{
	return f->name_len > 7 && strncasecmp(f->name, "Resent-", 7) == 0;
}

/* The first Resent- block: the topmost run of Resent- fields. RFC 5322
 * 3.6.6 prepends one block per resend, so the run also ends where a field
 * name repeats (the next, older block begins). [*start, *end) in hdr, or
 * start == end when there are no Resent- fields. */
static void
find_resent_block(const struct buf *h, size_t *start, size_t *end)
{
	static const char *const names[] = {
		"Resent-Date", "Resent-From", "Resent-Sender", "Resent-To",
		"Resent-Cc", "Resent-Bcc", "Resent-Message-ID",
	};
	unsigned long long line = 1;
	unsigned seen = 0;
	size_t pos = 0;
	struct field f;
	int in_block = 0;

	*start = *end = 0;
	while (next_field(h, &pos, &line, &f)) {
		unsigned bit = 0;

		if (!is_resent(&f)) {
			if (in_block)
				return;
			continue;
		}
		if (!in_block) {
			in_block = 1;
			*start = f.start;
		}
		for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
			if (name_is(&f, names[i]))
				bit = 1u << i;
		if (seen & bit)
			return;
		seen |= bit;
		*end = f.start + f.len;
	}
}

/* The id inside a Message-ID field body, without <>, CFWS or folds. */
static char *
extract_msgid(const char *body, size_t n)
{
	const char *lt = memchr(body, '<', n), *gt = NULL;
	struct buf b;

	if (lt)
		gt = memchr(lt, '>', n - (size_t)(lt - body));
	if (lt && gt) {
		body = lt + 1;
		n = (size_t)(gt - body);
	}
	buf_init(&b, n + 1);
	for (size_t i = 0; i < n; i++) {
		if (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n')
			continue;
		if (buf_putc(&b, body[i]) < 0) {
			buf_free(&b);
			return NULL;
		}
	}
	if (b.len == 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_take(&b);
}

/* The first address of an address-list, malloc'd, or NULL. A From that
 * does not parse is passed through untouched; it just goes unnamed in logs. */
static char *
first_address(const char *body, size_t n)
{
	struct addr_list l;
	struct err ignored;
	char *first = NULL;

	addr_list_init(&l);
	if (addr_parse_list(&l, body, n, &ignored) == 0 && l.n > 0) {
		first = l.v[0];
		l.v[0] = NULL;
		for (size_t i = 1; i < l.n; i++)
			free(l.v[i]);
		l.n = 0;
	}
	addr_list_free(&l);
	return first;
}

/* ---------------------------------------------------------------- generated fields */

static void
base64(struct buf *b, const unsigned char *p, size_t n, int *fail)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (size_t i = 0; i < n; i += 3) {
		unsigned long v = (unsigned long)p[i] << 16;
		char q[4];

		if (i + 1 < n)
			v |= (unsigned long)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		q[0] = tab[(v >> 18) & 63];
		q[1] = tab[(v >> 12) & 63];
		q[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? tab[v & 63] : '=';
		if (buf_append(b, q, 4) < 0)
			*fail = 1;
	}
}

/* A display name as a phrase: atoms as they are, specials quoted, and
 * anything non-ASCII as RFC 2047 B encoded-words. */
static int
put_display_name(struct buf *b, const char *name, struct err *e)
{
	/* 75 octets per encoded word (RFC 2047 2) leave 63 for base64 after
	 * "=?UTF-8?B?" and "?=", which is 45 octets of text. */
	enum { EW_TEXT_MAX = 45 };
	size_t n = strlen(name);
	char clean[MSG_FULL_NAME_MAX + 1];
	int ascii = 1, atoms = 1, fail = 0;

	if (n > MSG_FULL_NAME_MAX)
		return err_set(e, EX_USAGE, "full name longer than %d octets", MSG_FULL_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		/* The command line refuses CR/LF already; never let one
		 * reach a header anyway. */
		if (c < 0x20 || c == 0x7f)
			c = ' ';
		clean[i] = (char)c;
		if (c >= 0x80)
			ascii = 0;
		else if (!(c == ' ' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("!#$%&'*+-/=?^_`{|}~", c)))
			atoms = 0;
	}
	clean[n] = '\0';
	if (!ascii) {
		for (size_t i = 0; i < n;) {
			size_t k = n - i > EW_TEXT_MAX ? EW_TEXT_MAX : n - i;
			/* Never split a UTF-8 sequence between two words. */
			while (i + k < n && k > 1 && ((unsigned char)clean[i + k] & 0xc0) == 0x80)
				k--;
			if ((i > 0 && buf_puts(b, "\r\n ") < 0) || buf_puts(b, "=?UTF-8?B?") < 0)
				fail = 1;
			base64(b, (const unsigned char *)clean + i, k, &fail);
			if (buf_puts(b, "?=") < 0)
				fail = 1;
			i += k;
		}
	} else if (atoms) {
		fail = buf_puts(b, clean) < 0;
	} else {
		fail = buf_putc(b, '"') < 0;
		for (size_t i = 0; i < n; i++)
			if (((clean[i] == '"' || clean[i] == '\\') && buf_putc(b, '\\') < 0) ||
			    buf_putc(b, clean[i]) < 0)
				fail = 1;
		if (buf_putc(b, '"') < 0)
			fail = 1;
	}
	return fail ? oom(e) : 0;
}

/* "From: Name <addr>\r\n" or "From: addr\r\n". */
static int
put_from(struct writer *w, const char *addr, const char *full_name, struct err *e)
{
	struct buf b;
	int ret = -1;

	/* The name's encoded words expand it by 4/3 plus framing. */
	buf_init(&b, 3 * MSG_FULL_NAME_MAX + strlen(addr) + 64);
	if (buf_puts(&b, "From: ") < 0)
		goto nomem;
	if (full_name && *full_name) {
		if (put_display_name(&b, full_name, e) < 0)
			goto out;
		if (buf_printf(&b, " <%s>\r\n", addr) < 0)
			goto nomem;
	} else if (buf_printf(&b, "%s\r\n", addr) < 0) {
		goto nomem;
	}
	ret = w_put(w, b.data, b.len, e);
	goto out;
nomem:
	oom(e);
out:
	buf_free(&b);
	return ret;
}

/* RFC 5322 3.3 date-time in local time with a numeric zone. The names come
 * from our own tables: strftime's %a/%b would follow the locale. */
static int
put_date(struct writer *w, struct err *e)
{
	static const char *const wday[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	char line[80];
	time_t now = time(NULL);
	struct tm tm;
	long off;

	if (localtime_r(&now, &tm) == NULL || tm.tm_wday < 0 || tm.tm_wday > 6 ||
	    tm.tm_mon < 0 || tm.tm_mon > 11)
		return err_set(e, EX_OSERR, "cannot convert the current time");
	off = tm.tm_gmtoff / 60;
	snprintf(line, sizeof line, "Date: %s, %d %s %04d %02d:%02d:%02d %c%02ld%02ld\r\n",
	    wday[tm.tm_wday], tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+',
	    labs(off) / 60, labs(off) % 60);
	return w_puts(w, line, e);
}

/* The msg-id's right side must be a dot-atom or literal without the
 * characters that would end or break the field. */
static int
msgid_domain_ok(const char *d)
{
	if (*d == '\0')
		return 0;
	for (; *d; d++)
		if ((unsigned char)*d <= 0x20 || *d == 0x7f || strchr("<>@()\",;:\\", *d))
			return 0;
	return 1;
}

/* "<hex.time@domain>": the domain is opts->domain (an error if unusable:
 * it is configuration), else the From address's domain, else localhost. */
static int
put_msgid(struct writer *w, const struct msg_opts *o, const char *from,
    struct msg_info *info, struct err *e)
{
	unsigned char rnd[MSG_ID_RANDOM];
	char hex[2 * MSG_ID_RANDOM + 1];
	char *dom = NULL;
	const char *at;
	struct buf b;
	ssize_t got;
	int ret;

	if (o->domain && *o->domain) {
		if (addr_host_to_ascii(o->domain, &dom, e) < 0)
			return -1;
		if (!msgid_domain_ok(dom)) {
			free(dom);
			return err_set(e, EX_CONFIG, "domain \"%s\" cannot be used in a Message-ID",
			    o->domain);
		}
	} else if (from && (at = strrchr(from, '@')) != NULL) {
		struct err ignored;
		if (addr_host_to_ascii(at + 1, &dom, &ignored) == 0 && !msgid_domain_ok(dom)) {
			free(dom);
			dom = NULL;
		}
	}
	do
		got = getrandom(rnd, sizeof rnd, 0);
	while (got < 0 && errno == EINTR);
	if (got != (ssize_t)sizeof rnd) {
		free(dom);
		return err_set(e, EX_OSERR, "getrandom: %s", got < 0 ? strerror(errno) :
		    "short read");
	}
	for (size_t i = 0; i < sizeof rnd; i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	buf_init(&b, 256 + (dom ? strlen(dom) : 0));
	if (buf_printf(&b, "%s.%lld@%s", hex, (long long)time(NULL),
	    dom ? dom : "localhost") < 0) {
		free(dom);
		buf_free(&b);
		return oom(e);
	}
	free(dom);
	free(info->message_id);
	if ((info->message_id = str_dup(b.data)) == NULL) {
		buf_free(&b);
		return oom(e);
	}
	ret = w_puts(w, "Message-ID: <", e);
	if (ret == 0)
		ret = w_put(w, b.data, b.len, e);
	if (ret == 0)
		ret = w_puts(w, ">\r\n", e);
	buf_free(&b);
	return ret;
}

/* ---------------------------------------------------------------- reader */

struct reader {
	const struct msg_opts *o;
	struct msg_info *info;
	struct buf hdr;                 /* the header block, CRLF lines */
	char line[MSG_LINE_MAX];        /* the current line, without its ending */
	size_t line_len;
	size_t pending_cr;              /* CRs seen after line[]: ending or data? */
	int after_cr;                   /* line[] began after a lone CR */
	unsigned long long lineno;      /* input line being read, from 1 */
	int in_headers;
	int seen_field;
	int done;                       /* the "." line was seen */
	struct writer w;
	char in[MSG_IO_CHUNK];
};

/* The address for a generated From, malloc'd into *out (NULL: none). */
static int
generated_from(const struct msg_opts *o, char **out, struct err *e)
{
	const char *src = o->from_addr && *o->from_addr ? o->from_addr : o->default_from;

	*out = NULL;
	if (src == NULL || *src == '\0')
		return 0;
	for (const char *p = src; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '<' || *p == '>')
			return err_set(e, EX_DATAERR, "invalid address \"%s\" for the From header",
			    src);
	if ((*out = addr_qualify(src, o->domain)) == NULL)
		return oom(e);
	return 0;
}

/* ---------------------------------------------------------------- rewriting */

struct rw {
	const struct msg_opts *o;
	const char *fixed;      /* force_from: every address becomes this */
	int first_only;         /* From and Sender: one address */
	int failed;             /* the callback's own error, not a syntax one */
};

static int
rw_one(void *ctx, const char *addr, int in_angle, char **repl, struct err *e)
{
	struct rw *rw = ctx;
	struct addr_list l;
	struct buf b;
	size_t n;
	int local;

	if (rw->fixed) {
		if ((*repl = str_dup(rw->fixed)) == NULL) {
			rw->failed = 1;
			return oom(e);
		}
		return 0;
	}
	addr_list_init(&l);
	if ((local = rw->o->rewrite(rw->o->rewrite_ctx, addr, &l, e)) < 0) {
		rw->failed = 1;
		addr_list_free(&l);
		return -1;
	}
	n = rw->first_only && l.n > 1 ? 1 : l.n;
	buf_init(&b, ADDR_REWRITE_MAX);
	for (size_t i = 0; local > 0 && i < n; i++) {
		/* Inside <...> each address gets its own brackets. */
		if ((i > 0 && buf_puts(&b, in_angle ? ">, <" : ", ") < 0) ||
		    buf_puts(&b, l.v[i]) < 0) {
			buf_free(&b);
			addr_list_free(&l);
			rw->failed = errno != ENOSPC;
			return errno == ENOSPC ? err_set(e, EX_DATAERR, "expansion too long") : oom(e);
		}
	}
	addr_list_free(&l);
	if (local > 0 && n > 0 && (*repl = buf_take(&b)) == NULL) {
		rw->failed = 1;
		return oom(e);
	}
	buf_free(&b);
	return 0;
}

/* The field body with its addresses rewritten, malloc'd into *out, or
 * NULL when nothing changed or the body does not parse (then it is the
 * author's text, kept). -1 only for the callback's own errors. */
static int
rewrite_body(const struct msg_opts *o, const char *body, size_t len, const char *fixed,
    int first_only, char **out, struct err *e)
{
	struct rw rw = { o, fixed, first_only, 0 };
	struct err local;
	int n;

	err_init(&local);
	n = addr_rewrite_list(body, len, rw_one, &rw, out, &local);
	if (n < 0 && rw.failed) {
		*e = local;
		return -1;
	}
	if (n <= 0) {
		free(*out);
		*out = NULL;
	}
	return 0;
}

/* Copy s (CRLF-separated lines, none at the end) to out, breaking any line
 * longer than MSG_LINE_MAX before its last blank within the limit (RFC
 * 5322 2.2.3 folding). Returns 0, 1 when a line has no blank to break at,
 * or -1 (no memory). */
static int
fold_lines(const char *s, size_t n, struct buf *out)
{
	while (n > 0) {
		const char *crlf = memmem(s, n, "\r\n", 2);
		size_t m = crlf ? (size_t)(crlf - s) : n;

		while (m > MSG_LINE_MAX) {
			size_t k = MSG_LINE_MAX;
			while (k > 0 && s[k] != ' ' && s[k] != '\t')
				k--;
			if (k == 0)
				return 1;
			if (buf_append(out, s, k) < 0 || buf_puts(out, "\r\n") < 0)
				return -1;
			s += k;
			n -= k;
			m -= k;
		}
		if (buf_append(out, s, m) < 0)
			return -1;
		s += m;
		n -= m;
		if (n > 0) {
			/* A stored field's lines end in CRLF. */
			if (buf_append(out, s, n >= 2 ? 2 : n) < 0)
				return -1;
			s += n >= 2 ? 2 : n;
			n -= n >= 2 ? 2 : n;
		}
	}
	return 0;
}

/* Write "Name:" + body + CRLF (name as the field had it), folded. When it
 * cannot be folded, the original field is written instead. */
static int
write_field_as(struct reader *r, const struct field *f, const char *name, size_t name_len,
    const char *body, size_t body_len, struct err *e)
{
	struct buf line, folded;
	int ret;

	buf_init(&line, name_len + body_len + 1);
	buf_init(&folded, 2 * (name_len + body_len) + 3);
	if (buf_append(&line, name, name_len) < 0 || buf_putc(&line, ':') < 0 ||
	    buf_append(&line, body, body_len) < 0 ||
	    (ret = fold_lines(line.data, line.len, &folded)) < 0) {
		ret = oom(e);
	} else if (ret > 0 && f != NULL) {
		ret = w_put(&r->w, f->name, f->len, e);
	} else {
		ret = w_put(&r->w, folded.data, folded.len, e);
		if (ret == 0)
			ret = w_put(&r->w, "\r\n", 2, e);
	}
	buf_free(&line);
	buf_free(&folded);
	return ret;
}

/* A field whose addresses rewrite_headers may replace. */
static int
write_rewritten(struct reader *r, const struct field *f, int first_only, struct err *e)
{
	char *b = NULL;
	int ret;

	if (rewrite_body(r->o, f->body, f->body_len, NULL, first_only, &b, e) < 0)
		return -1;
	if (b == NULL)
		return w_put(&r->w, f->name, f->len, e);
	ret = write_field_as(r, f, f->name, f->name_len, b, strlen(b), e);
	free(b);
	return ret;
}

static int
same_addr(const char *a, const char *b)
{
	return a && b && strcasecmp(a, b) == 0;
}

/* force_from on a From or Resent-From body: when it is one mailbox, *out
 * is the body with force_from as its address (display name and comments
 * kept); else *out is NULL and the caller writes a field of its own. */
static int
forced_body(const struct msg_opts *o, const char *body, size_t len, char **out,
    struct err *e)
{
	struct addr_list l;
	struct err ignored;
	size_t nmail = 0;

	*out = NULL;
	addr_list_init(&l);
	if (addr_parse_list(&l, body, len, &ignored) == 0)
		nmail = l.n;
	addr_list_free(&l);
	return nmail == 1 ? rewrite_body(o, body, len, o->force_from, 1, out, e) : 0;
}

/* One From field: local addresses rewritten (rewrite_headers) or
 * domainless ones qualified, then force_from; the body before forcing is
 * kept in *reply_src for a Reply-To. Dropped (after that) when set_from
 * on replaces it. A From that does not parse is the author's text: it is
 * written unchanged, unless force_from replaces it. */
static int
write_from_field(struct reader *r, const struct field *f, int qualify, int drop,
    char **reply_src, struct err *e)
{
	const struct msg_opts *o = r->o;
	const char *body = f->body;
	size_t blen = f->body_len;
	char *b1 = NULL, *b2 = NULL, *first;
	int ret = 0;

	if (o->rewrite) {
		if (rewrite_body(o, body, blen, NULL, 1, &b1, e) < 0)
			return -1;
	} else if (qualify) {
		struct err ignored;
		if (addr_qualify_list(body, blen, o->domain, &b1, &ignored) <= 0) {
			free(b1);
			b1 = NULL;
		}
	}
	if (b1) {
		body = b1;
		blen = strlen(b1);
	}
	first = first_address(body, blen);
	if (o->force_from && *o->force_from) {
		if (*reply_src == NULL && first && !same_addr(first, o->force_from) &&
		    (*reply_src = malloc(blen + 1)) != NULL) {
			memcpy(*reply_src, body, blen);
			(*reply_src)[blen] = '\0';
		}
		if (forced_body(o, body, blen, &b2, e) < 0) {
			ret = -1;
			goto out;
		}
		if (b2 == NULL && !drop) {
			/* Not one mailbox: a From of our own instead. */
			ret = put_from(&r->w, o->force_from, o->full_name, e);
			if (ret == 0 && r->info->header_from == NULL &&
			    (r->info->header_from = str_dup(o->force_from)) == NULL)
				ret = oom(e);
			goto out;
		}
		if (b2) {
			body = b2;
			blen = strlen(b2);
			free(first);
			first = first_address(body, blen);
		}
	}
	if (drop)
		goto out;
	if (body == f->body)
		ret = w_put(&r->w, f->name, f->len, e);
	else
		ret = write_field_as(r, f, f->name, f->name_len, body, blen, e);
	if (ret == 0 && r->info->header_from == NULL) {
		r->info->header_from = first;
		first = NULL;
	}
out:
	free(first);
	free(b1);
	free(b2);
	return ret;
}

/* Resent-From under force_from: one mailbox keeps its display name
 * around force_from (as From does); anything else becomes force_from
 * alone. Local addresses are not rewritten first: the result is
 * force_from either way. */
static int
write_forced(struct reader *r, const struct field *f, struct err *e)
{
	const struct msg_opts *o = r->o;
	char *b;
	int ret;

	if (forced_body(o, f->body, f->body_len, &b, e) < 0)
		return -1;
	if (b) {
		ret = write_field_as(r, f, f->name, f->name_len, b, strlen(b), e);
		free(b);
		return ret;
	}
	if (w_put(&r->w, f->name, f->name_len, e) < 0 || w_puts(&r->w, ": ", e) < 0 ||
	    w_puts(&r->w, o->force_from, e) < 0)
		return -1;
	return w_put(&r->w, "\r\n", 2, e);
}

static int
is_rewritten(const struct field *f, int *first_only)
{
	static const char *const lists[] = { "To", "Cc", "Reply-To", "Resent-To", "Resent-Cc" };
	static const char *const single[] = { "Sender", "Resent-From", "Resent-Sender" };

	for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
		if (name_is(f, lists[i])) {
			*first_only = 0;
			return 1;
		}
	for (size_t i = 0; i < sizeof single / sizeof single[0]; i++)
		if (name_is(f, single[i])) {
			*first_only = 1;
			return 1;
		}
	return 0;
}

/* The header block is complete: extract, drop, rewrite and add fields as
 * the options say, write it and the blank separator line. */
static int
finish_headers(struct reader *r, struct err *e)
{
	const struct msg_opts *o = r->o;
	struct msg_info *info = r->info;
	unsigned long long line = 1;
	size_t pos = 0, rb_start, rb_end;
	int seen_from = 0, seen_date = 0, seen_msgid = 0, seen_reply_to = 0, first_only;
	int qualify = o->domain && *o->domain;
	int forcing = o->force_from && *o->force_from;
	char *gen = NULL, *reply_src = NULL;
	struct field f;
	int ret = -1;

	r->in_headers = 0;
	if (generated_from(o, &gen, e) < 0)
		return -1;
	find_resent_block(&r->hdr, &rb_start, &rb_end);
	while (next_field(&r->hdr, &pos, &line, &f)) {
		int in_block = f.start >= rb_start && f.start < rb_end;

		if (o->extract_rcpts && (rb_start == rb_end ?
		    name_is(&f, "To") || name_is(&f, "Cc") || name_is(&f, "Bcc") :
		    in_block && (name_is(&f, "Resent-To") || name_is(&f, "Resent-Cc") ||
		    name_is(&f, "Resent-Bcc")))) {
			if (addr_parse_list(&info->rcpts, f.body, f.body_len, e) < 0) {
				err_prefix(e, "line %llu: %.*s", f.line, (int)f.name_len, f.name);
				goto out;
			}
		}
		if (o->remove_bcc && (name_is(&f, "Bcc") || name_is(&f, "Resent-Bcc")))
			continue;
		if (name_is(&f, "From")) {
			int drop = o->set_from == 1 && gen;
			seen_from |= !drop;
			if (write_from_field(r, &f, qualify, drop, &reply_src, e) < 0)
				goto out;
			continue;
		}
		if (name_is(&f, "Sender") && o->set_sender != 0)
			continue;       /* on: ours replaces it; off: removed */
		if (forcing && (name_is(&f, "Sender") || name_is(&f, "Resent-Sender")))
			continue;       /* the account is the sender now */
		if (forcing && name_is(&f, "Resent-From")) {
			if (write_forced(r, &f, e) < 0)
				goto out;
			continue;
		}
		if (name_is(&f, "Reply-To"))
			seen_reply_to = 1;
		if (name_is(&f, "Date"))
			seen_date = 1;
		if (name_is(&f, "Message-ID") && !seen_msgid) {
			seen_msgid = 1;
			free(info->message_id);
			info->message_id = extract_msgid(f.body, f.body_len);
		}
		if (o->rewrite && is_rewritten(&f, &first_only)) {
			if (write_rewritten(r, &f, first_only, e) < 0)
				goto out;
			continue;
		}
		if (w_put(&r->w, f.name, f.len, e) < 0)
			goto out;
	}
	if (!seen_from && gen && o->set_from != 2) {
		if (put_from(&r->w, gen, o->full_name, e) < 0)
			goto out;
		free(info->header_from);
		info->header_from = gen;
		gen = NULL;
	}
	if (reply_src && !seen_reply_to &&
	    write_field_as(r, NULL, "Reply-To", 8, reply_src, strlen(reply_src), e) < 0)
		goto out;
	if (o->set_sender == 1 && o->sender_addr && *o->sender_addr &&
	    !same_addr(o->sender_addr, info->header_from) &&
	    (w_puts(&r->w, "Sender: ", e) < 0 || w_puts(&r->w, o->sender_addr, e) < 0 ||
	    w_put(&r->w, "\r\n", 2, e) < 0))
		goto out;
	if (!seen_date && o->set_date != 2 && put_date(&r->w, e) < 0)
		goto out;
	if (!seen_msgid && o->set_msgid != 2 &&
	    put_msgid(&r->w, o, info->header_from, info, e) < 0)
		goto out;
	ret = w_put(&r->w, "\r\n", 2, e);
out:
	free(gen);
	free(reply_src);
	buf_free(&r->hdr);
	return ret;
}

static int
line_error(struct reader *r, struct err *e, const char *what)
{
	return err_set(e, EX_DATAERR, "line %llu: %s", r->lineno, what);
}

static int
put_line(struct reader *r, struct err *e)
{
	if (w_put(&r->w, r->line, r->line_len, e) < 0)
		return -1;
	return w_put(&r->w, "\r\n", 2, e);
}

/* One complete input line (its ending stripped) is in r->line; lf: it
 * ended at an LF (or the end of input), not at a lone CR. */
static int
end_line(struct reader *r, int lf, struct err *e)
{
	const char *s = r->line;
	size_t n = r->line_len;
	int after_cr = r->after_cr, ret = 0;

	r->pending_cr = 0;
	r->after_cr = !lf;
	/* sendmail's "." line is one the caller started on a new line: a
	 * "." behind a lone CR is text (the rest is never silently lost). */
	if (!after_cr && r->o->dot_ends_input && n == 1 && s[0] == '.') {
		r->done = 1;
		return 0;
	}
	if (!r->in_headers) {
		ret = put_line(r, e);
	} else if (n == 0) {
		ret = finish_headers(r, e);     /* this line is the separator */
	} else if ((s[0] == ' ' || s[0] == '\t') ? r->seen_field : is_field_line(s, n)) {
		r->seen_field = 1;
		if (buf_append(&r->hdr, s, n) < 0 || buf_append(&r->hdr, "\r\n", 2) < 0) {
			if (errno == ENOSPC)
				ret = err_set(e, EX_DATAERR, "line %llu: header block longer than "
				    "%d bytes", r->lineno, MSG_HEADER_MAX);
			else
				ret = oom(e);
		}
	} else {
		/* Not a header: the body starts here, after the separator. */
		ret = finish_headers(r, e);
		if (ret == 0)
			ret = put_line(r, e);
	}
	r->line_len = 0;
	r->lineno++;
	return ret;
}

/* Append n copies of c (n > 1 only for a run of lone CRs in the header
 * block, written as spaces) to the current line. */
static int
line_add(struct reader *r, char c, size_t n, struct err *e)
{
	if (n > MSG_LINE_MAX - r->line_len)
		return err_set(e, EX_DATAERR, "line %llu: longer than %d octets (RFC 5322 "
		    "2.1.1); envoi does not fold lines: encode the body (quoted-printable or "
		    "base64)", r->lineno, MSG_LINE_MAX);
	memset(r->line + r->line_len, c, n);
	r->line_len += n;
	return 0;
}

/* CRs that no LF followed: never passed on (message.h). In the header
 * block each is a space; in the body each ends a line. */
static int
lone_crs(struct reader *r, struct err *e)
{
	size_t n = r->pending_cr;

	r->pending_cr = 0;
	if (r->in_headers)
		return line_add(r, ' ', n, e);
	while (n-- > 0)
		if (end_line(r, 0, e) < 0)
			return -1;
	return 0;
}

static int
feed(struct reader *r, const char *p, size_t n, struct err *e)
{
	for (size_t i = 0; i < n && !r->done; i++) {
		char c = p[i];

		if (c == '\n') {
			if (end_line(r, 1, e) < 0)
				return -1;
		} else if (c == '\r') {
			r->pending_cr++;
		} else {
			if (c == '\0')
				return line_error(r, e, "NUL byte in the message");
			if (r->pending_cr && lone_crs(r, e) < 0)
				return -1;
			if (r->line_len < MSG_LINE_MAX)
				r->line[r->line_len++] = c;     /* the common case, inline */
			else if (line_add(r, c, 1, e) < 0)
				return -1;
		}
	}
	return 0;
}

int
message_read(int in_fd, int out_fd, const struct msg_opts *o, struct msg_info *info,
    struct err *e)
{
	struct reader *r;
	unsigned long long total = 0;
	int ret = -1;

	if ((r = calloc(1, sizeof *r)) == NULL)
		return oom(e);
	r->o = o;
	r->info = info;
	r->lineno = 1;
	r->in_headers = 1;
	r->w.fd = out_fd;
	buf_init(&r->hdr, MSG_HEADER_MAX);

	if (o->prefix_len > 0) {
		total = o->prefix_len;
		if (feed(r, o->prefix, o->prefix_len, e) < 0)
			goto out;
	}
	while (!r->done) {
		ssize_t n = read(in_fd, r->in, sizeof r->in);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set(e, EX_IOERR, "reading the message: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		total += (unsigned long long)n;
		if (feed(r, r->in, (size_t)n, e) < 0)
			goto out;
	}
	if (total == 0) {
		err_set(e, EX_DATAERR, "empty message: no input");
		goto out;
	}
	/* The last line had no LF: supply it (trailing CRs end it too). */
	if (!r->done && (r->line_len > 0 || r->pending_cr > 0) && end_line(r, 1, e) < 0)
		goto out;
	if (r->in_headers && finish_headers(r, e) < 0)
		goto out;
	if (w_flush(&r->w, e) < 0)
		goto out;
	info->size = r->w.size;
	info->lines = r->w.lines;
	info->has_8bit = r->w.has_8bit;
	ret = 0;
out:
	buf_free(&r->hdr);
	free(r);
	return ret;
}

/* ---------------------------------------------------------------- dot-stuffing */

void
dotstuff_init(struct dotstuff *d)
{
	d->at_line_start = 1;
	d->last_was_cr = 0;
}

size_t
dotstuff_run(struct dotstuff *d, const char *in, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = in[i];

		if (d->at_line_start && c == '.')
			out[o++] = '.';
		out[o++] = c;
		d->at_line_start = c == '\n' && d->last_was_cr;
		d->last_was_cr = c == '\r';
	}
	return o;
}

size_t
dotstuff_finish(struct dotstuff *d, char *out)
{
	size_t o = 0;

	if (!d->at_line_start) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	dotstuff_init(d);
	return o;
}
