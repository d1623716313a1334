/* reply.c - see reply.h. RFC 5321 4.2, RFC 2034, RFC 3463, EHLO keywords. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "reply.h"

/* How much of an offending line an error message quotes. */
#define QUOTE_MAX 200

void
reply_init(struct reply *r)
{
	r->code = 0;
	r->enh[0] = '\0';
	/* Text of every line plus one '\n' between lines. */
	buf_init(&r->text, (size_t)REPLY_LINE_MAX * REPLY_LINES_MAX + REPLY_LINES_MAX);
	r->nlines = 0;
	r->complete = 0;
}

void
reply_reset(struct reply *r)
{
	r->code = 0;
	r->enh[0] = '\0';
	buf_reset(&r->text);
	r->nlines = 0;
	r->complete = 0;
}

void
reply_free(struct reply *r)
{
	buf_free(&r->text);
	reply_reset(r);
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Length of a run of 1-3 digits at s (within n bytes), 0 if none or more. */
static size_t
digits13(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && is_digit(s[i]))
		i++;
	return i >= 1 && i <= 3 ? i : 0;
}

/*
 * RFC 3463: class "." subject "." detail, class 2/4/5, subject and detail
 * 1-3 digits, then a space or the end. Returns its length, 0 if absent.
 */
static size_t
enh_length(const char *s, size_t n)
{
	size_t i, d;

	if (n < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return 0;
	i = 2;
	if ((d = digits13(s + i, n - i)) == 0)
		return 0;
	i += d;
	if (i >= n || s[i] != '.')
		return 0;
	i++;
	if ((d = digits13(s + i, n - i)) == 0)
		return 0;
	i += d;
	if (i < n && s[i] != ' ')
		return 0;
	return i;
}

static int
malformed(const char *line, size_t len, struct err *e, const char *why)
{
	char quote[QUOTE_MAX + 1];

	log_sanitize(quote, sizeof quote, line, len);
	return err_set(e, EX_PROTOCOL, "malformed server reply (%s): \"%s%s\"", why, quote,
	               len > QUOTE_MAX ? "..." : "");
}

int
reply_feed(struct reply *r, const char *line, size_t len, struct err *e)
{
	int code;
	size_t off;

	if (r->complete)
		reply_reset(r);
	if (len > REPLY_LINE_MAX)
		return malformed(line, len, e, "line too long");
	if (len < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]))
		return malformed(line, len, e, "no reply code");
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (code < 200 || code > 599)
		return malformed(line, len, e, "reply code out of range");
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return malformed(line, len, e, "bad separator");
	if (r->nlines > 0 && code != r->code)
		return malformed(line, len, e, "reply code changed within a reply");
	if (r->nlines >= REPLY_LINES_MAX)
		return malformed(line, len, e, "too many lines");

	off = len > 3 ? 4 : 3;
	if ((r->nlines > 0 && buf_putc(&r->text, '\n') < 0) ||
	    buf_append(&r->text, line + off, len - off) < 0)
		return err_set(e, errno == ENOMEM ? EX_OSERR : EX_PROTOCOL,
		               "server reply too large");
	if (r->nlines == 0) {
		size_t n = enh_length(line + off, len - off);

		r->code = code;
		if (n > 0 && n < sizeof r->enh) {
			memcpy(r->enh, line + off, n);
			r->enh[n] = '\0';
		}
	}
	r->nlines++;
	if (len == 3 || line[3] == ' ') {
		r->complete = 1;
		return 1;
	}
	return 0;
}

/* A bounded writer for reply_summary. */
struct out {
	char *dst;
	size_t size, len;
	int full;
};

static void
out_put(struct out *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n && !o->full; i++) {
		unsigned char c = (unsigned char)s[i];

		if (o->len + 1 >= o->size) {
			o->full = 1;
			break;
		}
		o->dst[o->len++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	o->dst[o->len] = '\0';
}

const char *
reply_summary(const struct reply *r, char *dst, size_t size)
{
	struct out o = { dst, size, 0, 0 };
	const char *p = buf_cstr(&r->text), *end = p + r->text.len;
	size_t enhlen = strlen(r->enh);
	char code[8];
	int first = 1;

	if (size == 0)
		return dst;
	dst[0] = '\0';
	snprintf(code, sizeof code, "%03d", r->code);
	out_put(&o, code, strlen(code));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *s = p;

		/* "550-5.1.1 a\n550 5.1.1 b" reads better as "550 5.1.1 a; b". */
		if (!first && enhlen > 0 && n >= enhlen && memcmp(s, r->enh, enhlen) == 0 &&
		    (n == enhlen || s[enhlen] == ' ')) {
			s += enhlen;
			n -= enhlen;
			while (n > 0 && *s == ' ') {
				s++;
				n--;
			}
		}
		if (n > 0) {
			out_put(&o, first ? " " : "; ", first ? 1 : 2);
			out_put(&o, s, n);
			first = 0;
		}
		p = nl ? nl + 1 : end;
	}
	if (o.full && size > 4)
		memcpy(dst + size - 4, "...", 4);
	return dst;
}

/* RFC 4422 mechanism names: 1-20 of [A-Z0-9-_]. */
static int
valid_mech(const char *s, size_t n)
{
	if (n == 0 || n > 20)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) ||
		      c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

/* Is the upper-cased mechanism m (length n) in the list already? */
static int
has_mech(const char *list, const char *m, size_t n)
{
	const char *p = list;

	while (*p) {
		size_t w = strcspn(p, " ");
		if (w == n && strncasecmp(p, m, n) == 0)
			return 1;
		p += w;
		while (*p == ' ')
			p++;
	}
	return 0;
}

static void
add_mech(struct caps *c, const char *m, size_t n)
{
	size_t len = strlen(c->auth);

	if (!valid_mech(m, n) || has_mech(c->auth, m, n))
		return;
	/* Mechanisms that do not fit are dropped: the list is generous and a
	 * server advertising dozens is broken; we still have the others. */
	if (len + (len ? 1 : 0) + n + 1 > sizeof c->auth)
		return;
	if (len)
		c->auth[len++] = ' ';
	for (size_t i = 0; i < n; i++) {
		char ch = m[i];
		c->auth[len++] = ch >= 'a' && ch <= 'z' ? (char)(ch - 'a' + 'A') : ch;
	}
	c->auth[len] = '\0';
}

/* Mechanisms from the space-separated parameters s[0..n). */
static void
add_mechs(struct caps *c, const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t start;

		while (i < n && s[i] == ' ')
			i++;
		start = i;
		while (i < n && s[i] != ' ')
			i++;
		if (i > start)
			add_mech(c, s + start, i - start);
	}
}

static void
parse_size(struct caps *c, const char *s, size_t n)
{
	char num[24];
	long v;

	c->size_set = 1;
	c->size = 0;
	while (n > 0 && *s == ' ') {
		s++;
		n--;
	}
	while (n > 0 && s[n - 1] == ' ')
		n--;
	/* Junk, or a limit beyond LONG_MAX, leaves "no limit known": the
	 * server will still say no at MAIL or end of data if it means it. */
	if (n == 0 || n >= sizeof num)
		return;
	memcpy(num, s, n);
	num[n] = '\0';
	if (parse_long(num, 0, LONG_MAX, &v) == 0)
		c->size = (unsigned long long)v;
}

static const struct {
	const char *kw;
	size_t off;
} flags[] = {
	{ "PIPELINING",          offsetof(struct caps, pipelining) },
	{ "STARTTLS",            offsetof(struct caps, starttls) },
	{ "8BITMIME",            offsetof(struct caps, eightbitmime) },
	{ "SMTPUTF8",            offsetof(struct caps, smtputf8) },
	{ "DSN",                 offsetof(struct caps, dsn) },
	{ "ENHANCEDSTATUSCODES", offsetof(struct caps, enhancedstatuscodes) },
	{ "CHUNKING",            offsetof(struct caps, chunking) },
	{ "REQUIRETLS",          offsetof(struct caps, requiretls) },
	{ "ETRN",                offsetof(struct caps, etrn) },
};

static void
parse_line(struct caps *c, const char *s, size_t n)
{
	size_t kw;

	while (n > 0 && *s == ' ') {
		s++;
		n--;
	}
	/* The old form "AUTH=LOGIN PLAIN" (pre-RFC 4954 Outlook clients). */
	if (n > 5 && strncasecmp(s, "AUTH=", 5) == 0) {
		add_mechs(c, s + 5, n - 5);
		return;
	}
	kw = 0;
	while (kw < n && s[kw] != ' ')
		kw++;
	if (kw == 4 && strncasecmp(s, "AUTH", 4) == 0) {
		add_mechs(c, s + kw, n - kw);
		return;
	}
	if (kw == 4 && strncasecmp(s, "SIZE", 4) == 0) {
		parse_size(c, s + kw, n - kw);
		return;
	}
	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
		if (strlen(flags[i].kw) == kw && strncasecmp(s, flags[i].kw, kw) == 0) {
			*(int *)((char *)c + flags[i].off) = 1;
			return;
		}
}

void
caps_parse(struct caps *c, const struct reply *ehlo)
{
	const char *p = buf_cstr(&ehlo->text), *end = p + ehlo->text.len;
	int first = 1;

	memset(c, 0, sizeof *c);
	if (ehlo->code / 100 != 2)
		return;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (!first)     /* the first line is the server's name and greeting */
			parse_line(c, p, n);
		first = 0;
		p = nl ? nl + 1 : end;
	}
}
