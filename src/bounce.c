/* bounce.c - see bounce.h. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "bounce.h"
#include "buf.h"
#include "message.h"
#include "queue.h"

/* read() and write() chunk: the same reasoning as MSG_IO_CHUNK. */
#define BOUNCE_IO_CHUNK MSG_IO_CHUNK
/* A headers-only copy stops at the blank line. The spool's header block is
 * at most MSG_HEADER_MAX plus the fields envoi added; a spool file without
 * a blank line that early is damaged, and a bounce with its first megabyte
 * of headers is still more useful than none. */
#define BOUNCE_HEADERS_MAX (MSG_HEADER_MAX + 64 * 1024)
/* One field value we print (an address in either form, a diagnostic, the
 * reason): RFC 5322 2.1.1 allows 998 octets per line, and the field name
 * and indentation need the rest. Longer values end in "...": a reply or an
 * address that long is garbage, and the report must stay valid. */
#define BOUNCE_VALUE_MAX 900
/* Random bits in the boundary and the Message-ID: 128 bits cannot be
 * guessed, so no one can plant a boundary in a message in advance. */
#define BOUNCE_RANDOM 16
/* Tries to find a boundary that does not occur in the original. With 128
 * random bits one try suffices unless the original quotes our boundary;
 * a second random one cannot be quoted. */
#define BOUNCE_BOUNDARY_TRIES 4
/* The longest host name worth naming in prose (RFC 1035: 253 octets). */
#define BOUNCE_HOST_MAX 253

/* ---------------------------------------------------------------- writer */

/* Buffered output that counts the bytes that reached the descriptor. */
struct writer {
	int fd;
	char *buf;
	size_t len;
	unsigned long long total;
};

static int
write_all(struct writer *w, const char *p, size_t n, struct err *e)
{
	while (n > 0) {
		ssize_t got = write(w->fd, p, n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return err_set(e, EX_IOERR, "cannot write the bounce: %s",
			    got < 0 ? strerror(errno) : "nothing written");
		p += got;
		n -= (size_t)got;
		w->total += (size_t)got;
	}
	return 0;
}

static int
w_flush(struct writer *w, struct err *e)
{
	int ret = write_all(w, w->buf, w->len, e);

	w->len = 0;
	return ret;
}

static int
w_put(struct writer *w, const char *p, size_t n, struct err *e)
{
	if (n > BOUNCE_IO_CHUNK - w->len) {
		if (w_flush(w, e) < 0)
			return -1;
		if (n >= BOUNCE_IO_CHUNK)
			return write_all(w, p, n, e);
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
	return 0;
}

static int
w_puts(struct writer *w, const char *s, struct err *e)
{
	return w_put(w, s, strlen(s), e);
}

/* Every line we compose fits BOUNCE_VALUE_MAX plus its field name; the
 * buffer leaves room to spare, and vsnprintf cannot overrun it. */
ENVOI_PRINTF(3, 4) static int
w_printf(struct writer *w, struct err *e, const char *fmt, ...)
{
	char line[2 * BOUNCE_VALUE_MAX + 256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof line)
		return err_set(e, EX_SOFTWARE, "bounce line too long");
	return w_put(w, line, (size_t)n, e);
}

/* ---------------------------------------------------------------- text */

/* A bounded output string: characters past BOUNCE_VALUE_MAX are dropped
 * and "..." marks the cut. Never splits a UTF-8 sequence or \x{...}. */
struct val {
	char s[BOUNCE_VALUE_MAX + 4];
	size_t len;
	int cut;
};

static void
val_init(struct val *v)
{
	v->s[0] = '\0';
	v->len = 0;
	v->cut = 0;
}

static void
val_add(struct val *v, const char *p, size_t n)
{
	if (v->cut)
		return;
	if (n > BOUNCE_VALUE_MAX - v->len) {
		memcpy(v->s + v->len, "...", 4);
		v->len += 3;
		v->cut = 1;
		return;
	}
	memcpy(v->s + v->len, p, n);
	v->len += n;
	v->s[v->len] = '\0';
}

/* Decode one UTF-8 character at p (n bytes available): its length, or 0
 * when the bytes are not well-formed UTF-8 (overlong, surrogate, past
 * U+10FFFF, truncated). */
static size_t
utf8_decode(const unsigned char *p, size_t n, unsigned long *cp)
{
	size_t len;
	unsigned long c, min;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	} else if ((p[0] & 0xe0) == 0xc0) {
		len = 2, c = p[0] & 0x1f, min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3, c = p[0] & 0x0f, min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4, c = p[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

static int
is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Server text, the reason, host names, the envelope id: one line of
 * printable US-ASCII. Tabs become spaces; any other control character or
 * 8-bit octet becomes '?' so the report part stays 7-bit and one line. */
static void
clean_ascii(struct val *v, const char *in)
{
	val_init(v);
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		char c = *p == '\t' ? ' ' : is_ctl(*p) || *p >= 0x80 ? '?' : (char)*p;
		val_add(v, &c, 1);
	}
}

/* An address for people and for the bounce's own headers: well-formed
 * UTF-8 kept, control characters (CR and LF above all: they would start a
 * new header field) and malformed octets become '?'. */
static void
clean_utf8(struct val *v, const char *in)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t n = strlen(in);

	val_init(v);
	while (n > 0) {
		unsigned long cp;
		size_t len = utf8_decode(p, n, &cp);

		if (len == 0 || (len == 1 && is_ctl(*p)) || (cp >= 0x80 && cp < 0xa0)) {
			val_add(v, "?", 1);
			len = 1;
		} else {
			val_add(v, (const char *)p, len);
		}
		p += len;
		n -= len;
	}
}

/* The address field of the report: "rfc822; addr" for an ASCII address,
 * else "utf-8; " with RFC 6533's 7-bit utf-8-addr-xtext, where every
 * character outside QCHAR (non-ASCII, '+', '=', '\', controls) is
 * \x{HEX}. Malformed UTF-8 octets become U+FFFD. */
static void
dsn_addr(struct val *v, const char *in)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t n = strlen(in);
	int ascii = 1;

	for (size_t i = 0; i < n; i++)
		if (p[i] >= 0x80)
			ascii = 0;
	val_init(v);
	if (ascii) {
		struct val c;

		clean_ascii(&c, in);
		val_add(v, "rfc822; ", 8);
		val_add(v, c.s, c.len);
		return;
	}
	val_add(v, "utf-8; ", 7);
	while (n > 0) {
		unsigned long cp;
		size_t len = utf8_decode(p, n, &cp);
		char hex[16];

		if (len == 0) {
			cp = 0xfffd;
			len = 1;
		}
		if (cp > 0x20 && cp < 0x7f && cp != '+' && cp != '=' && cp != '\\') {
			char c = (char)cp;
			val_add(v, &c, 1);
		} else {
			int k = snprintf(hex, sizeof hex, "\\x{%lX}", cp);
			val_add(v, hex, (size_t)k);
		}
		p += len;
		n -= len;
	}
}

/* A valid enhanced status code (RFC 3463): class 2, 4 or 5, then two
 * numbers of 1 to 3 digits. */
static int
status_ok(const char *s)
{
	size_t digits;

	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return 0;
	s += 2;
	for (int part = 0; part < 2; part++) {
		for (digits = 0; *s >= '0' && *s <= '9'; s++)
			digits++;
		if (digits < 1 || digits > 3)
			return 0;
		if (part == 0 && *s++ != '.')
			return 0;
	}
	return *s == '\0';
}

static const char *
rcpt_action(const struct bounce_rcpt *r)
{
	static const char *const known[] = { "failed", "delayed", "delivered", "relayed",
		"expanded" };

	if (r->action)
		for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
			if (strcmp(r->action, known[i]) == 0)
				return known[i];
	return "failed";
}

static const char *
rcpt_status(const struct bounce_rcpt *r)
{
	if (status_ok(r->status))
		return r->status;
	return strcmp(rcpt_action(r), "delayed") == 0 ? "4.0.0" : "5.0.0";
}

int
bounce_date(long long when, char *out, size_t size)
{
	static const char *const wday[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)when;
	struct tm tm;
	long off;

	if (localtime_r(&t, &tm) == NULL || tm.tm_wday < 0 || tm.tm_wday > 6 ||
	    tm.tm_mon < 0 || tm.tm_mon > 11)
		return -1;
	off = tm.tm_gmtoff / 60;
	snprintf(out, size, "%s, %d %s %04d %02d:%02d:%02d %c%02ld%02ld",
	    wday[tm.tm_wday], tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+',
	    labs(off) / 60, labs(off) % 60);
	return 0;
}

static int
random_hex(char out[2 * BOUNCE_RANDOM + 1], struct err *e)
{
	unsigned char rnd[BOUNCE_RANDOM];
	ssize_t got;

	do
		got = getrandom(rnd, sizeof rnd, 0);
	while (got < 0 && errno == EINTR);
	if (got != (ssize_t)sizeof rnd)
		return err_set(e, EX_OSERR, "getrandom: %s", got < 0 ? strerror(errno) :
		    "short read");
	for (size_t i = 0; i < sizeof rnd; i++)
		snprintf(out + 2 * i, 3, "%02x", rnd[i]);
	return 0;
}

/* A host name usable on the right of a Message-ID: A-labels, and none of
 * the characters that would end or break the field. malloc'd or NULL. */
static char *
msgid_host(const char *host)
{
	struct err ignored;
	char *a;

	if (host == NULL || *host == '\0' || addr_host_to_ascii(host, &a, &ignored) < 0)
		return NULL;
	for (const char *p = a; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || strchr("<>@()\",;:\\[]", *p)) {
			free(a);
			return NULL;
		}
	if (*a == '\0') {
		free(a);
		return NULL;
	}
	return a;
}

/* ---------------------------------------------------------------- original */

/*
 * Where the included part of the original ends, and the line-ending
 * repair, as a byte-at-a-time machine so that lines and the blank line
 * may straddle reads. Used both to scan (boundary, 8-bit) and to copy, so
 * the scan sees exactly the bytes that will be written.
 */
struct cut {
	int headers_only;
	int at_bol;               /* at the start of a line */
	int held_cr;              /* a CR at the start of a line: the blank line, or data? */
	int last;                 /* last byte emitted, -1 before any */
	int done;                 /* the included part has ended */
	unsigned long long emitted;
	int eightbit;
};

static void
cut_init(struct cut *c, int headers_only)
{
	c->headers_only = headers_only;
	c->at_bol = 1;
	c->held_cr = 0;
	c->last = -1;
	c->done = 0;
	c->emitted = 0;
	c->eightbit = 0;
}

static size_t
cut_emit(struct cut *c, unsigned char ch, char *out)
{
	size_t k = 0;

	/* A bare LF becomes CRLF: the bounce has CRLF lines throughout. */
	if (ch == '\n' && c->last != '\r')
		out[k++] = '\r';
	out[k++] = (char)ch;
	if (ch >= 0x80)
		c->eightbit = 1;
	c->last = ch;
	c->at_bol = ch == '\n';
	c->emitted += k;
	return k;
}

/* Feed in[0..n); out needs room for 2n bytes. Returns the bytes put in
 * out; sets c->done when the part ends (the rest of in is ignored). */
static size_t
cut_run(struct cut *c, const char *in, size_t n, char *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n && !c->done; i++) {
		unsigned char ch = (unsigned char)in[i];

		if (c->held_cr) {
			c->held_cr = 0;
			if (ch == '\n') {
				c->done = 1;
				break;
			}
			k += cut_emit(c, '\r', out + k);
		}
		if (c->headers_only) {
			if (c->emitted >= BOUNCE_HEADERS_MAX &&
			    (c->at_bol || c->emitted >= BOUNCE_HEADERS_MAX + MSG_LINE_MAX)) {
				c->done = 1;
				break;
			}
			if (c->at_bol && ch == '\n') {
				c->done = 1;
				break;
			}
			if (c->at_bol && ch == '\r') {
				c->held_cr = 1;
				continue;
			}
		}
		k += cut_emit(c, ch, out + k);
	}
	return k;
}

/* At the end: complete the last line. out has room for 2 bytes. */
static size_t
cut_finish(struct cut *c, char *out)
{
	size_t k = 0;

	c->held_cr = 0;        /* a CR at the start of a line at EOF: nothing follows */
	if (c->last == '\r')
		out[k++] = '\n';
	else if (c->last != -1 && c->last != '\n')
		out[k++] = '\r', out[k++] = '\n';
	c->last = '\n';
	c->emitted += k;
	return k;
}

static ssize_t
read_some(int fd, char *p, size_t n, long long offset)
{
	ssize_t got;

	do
		got = offset < 0 ? read(fd, p, n) : pread(fd, p, n, (off_t)offset);
	while (got < 0 && errno == EINTR);
	return got;
}

int
bounce_part_contains(int orig_fd, long long offset, int headers_only,
    const char *needle, int *found, int *eightbit, struct err *e)
{
	size_t nlen = strlen(needle), keep = nlen ? nlen - 1 : 0, have = 0;
	char *in = malloc(BOUNCE_IO_CHUNK);
	char *win = malloc(keep + 2 * BOUNCE_IO_CHUNK + 2);
	struct cut c;
	int ret = 0;

	*found = 0;
	if (in == NULL || win == NULL) {
		ret = err_set(e, EX_OSERR, "out of memory");
		goto out;
	}
	cut_init(&c, headers_only);
	while (!*found) {
		ssize_t got = 0;
		size_t k;

		if (!c.done) {
			got = read_some(orig_fd, in, BOUNCE_IO_CHUNK, offset);
			if (got < 0) {
				ret = err_set(e, EX_IOERR, "cannot read the queued message: %s",
				    strerror(errno));
				goto out;
			}
			offset += got;
		}
		if (got > 0)
			k = cut_run(&c, in, (size_t)got, win + have);
		else
			k = cut_finish(&c, win + have);
		have += k;
		if (nlen && memmem(win, have, needle, nlen) != NULL)
			*found = 1;
		if (got == 0)
			break;
		/* Keep the tail that could be the start of a match. */
		if (have > keep) {
			memmove(win, win + have - keep, keep);
			have = keep;
		}
	}
	if (eightbit)
		*eightbit = c.eightbit;
out:
	free(in);
	free(win);
	return ret;
}

/* Copy the included part from orig_fd's current offset to the writer. */
static int
copy_original(struct writer *w, int orig_fd, int headers_only, struct err *e)
{
	char *in = malloc(BOUNCE_IO_CHUNK);
	char *out = malloc(2 * BOUNCE_IO_CHUNK + 2);
	struct cut c;
	int ret = 0;

	if (in == NULL || out == NULL) {
		ret = err_set(e, EX_OSERR, "out of memory");
		goto out;
	}
	cut_init(&c, headers_only);
	while (!c.done) {
		ssize_t got = read_some(orig_fd, in, BOUNCE_IO_CHUNK, -1);

		if (got < 0) {
			ret = err_set(e, EX_IOERR, "cannot read the queued message: %s",
			    strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		if ((ret = w_put(w, out, cut_run(&c, in, (size_t)got, out), e)) < 0)
			goto out;
	}
	ret = w_put(w, out, cut_finish(&c, out), e);
out:
	free(in);
	free(out);
	return ret;
}

/* ---------------------------------------------------------------- the bounce */

int
bounce_is_null_sender(const char *from)
{
	return from == NULL || from[0] == '\0' || strcmp(from, "<>") == 0;
}

static int
check_info(const struct bounce_info *b, struct err *e)
{
	if (b == NULL || b->from_addr == NULL || *b->from_addr == '\0')
		return err_set(e, EX_SOFTWARE, "bounce: no From address");
	if (bounce_is_null_sender(b->to_addr))
		return err_set(e, EX_SOFTWARE, "bounce: refusing to send a bounce to the null sender");
	if (b->rcpts == NULL || b->nrcpts == 0)
		return err_set(e, EX_SOFTWARE, "bounce: no recipients to report");
	for (size_t i = 0; i < b->nrcpts; i++)
		if (b->rcpts[i].addr == NULL)
			return err_set(e, EX_SOFTWARE, "bounce: recipient %zu has no address", i + 1);
	return 0;
}

/* Is every recipient only delayed? Then this is a warning, not a bounce. */
static int
all_delayed(const struct bounce_info *b)
{
	for (size_t i = 0; i < b->nrcpts; i++)
		if (strcmp(rcpt_action(&b->rcpts[i]), "delayed") != 0)
			return 0;
	return 1;
}

static int
has_8bit(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
		if (*p >= 0x80)
			return 1;
	return 0;
}

static int
any_utf8_rcpt(const struct bounce_info *b)
{
	for (size_t i = 0; i < b->nrcpts; i++)
		if (has_8bit(b->rcpts[i].addr))
			return 1;
	return 0;
}

int
bounce_is_8bit(const struct bounce_info *b, int orig_8bit)
{
	return orig_8bit || has_8bit(b->from_addr) || has_8bit(b->to_addr) ||
	    (b->rcpts && any_utf8_rcpt(b));
}

static int
put_headers(struct writer *w, const struct bounce_info *b, const char *boundary,
    int eightbit, struct err *e)
{
	char hex[2 * BOUNCE_RANDOM + 1], date[64];
	char *host = msgid_host(b->domain);
	struct val v;
	int ret;

	if (host == NULL)
		host = msgid_host(b->reporting_mta);
	if (random_hex(hex, e) < 0) {
		free(host);
		return -1;
	}
	if (bounce_date((long long)time(NULL), date, sizeof date) < 0) {
		free(host);
		return err_set(e, EX_OSERR, "cannot convert the current time");
	}
	clean_utf8(&v, b->from_addr);
	ret = w_printf(w, e, "From: Mail Delivery System <%s>\r\n", v.s);
	clean_utf8(&v, b->to_addr);
	if (ret == 0)
		ret = w_printf(w, e, "To: <%s>\r\n", v.s);
	if (ret == 0)
		ret = w_printf(w, e, "Subject: %s\r\n", all_delayed(b) ?
		    "Delayed Mail (still being retried)" : "Undelivered Mail Returned to Sender");
	if (ret == 0)
		ret = w_printf(w, e, "Date: %s\r\nMessage-ID: <%s.%lld.bounce@%s>\r\n", date, hex,
		    (long long)time(NULL), host ? host : "localhost");
	free(host);
	if (ret == 0)
		ret = w_printf(w, e, "Auto-Submitted: auto-replied\r\n"
		    "MIME-Version: 1.0\r\n"
		    "Content-Type: multipart/report; report-type=delivery-status;\r\n"
		    "\tboundary=\"%s\"\r\n"
		    "Content-Transfer-Encoding: %s\r\n"
		    "\r\n"
		    "This is a MIME-encapsulated delivery status notification (RFC 3464).\r\n",
		    boundary, eightbit ? "8bit" : "7bit");
	return ret;
}

/* Part 1, for people. */
static int
put_human(struct writer *w, const struct bounce_info *b, const char *boundary,
    int headers_only, struct err *e)
{
	int utf8 = any_utf8_rcpt(b), warn = all_delayed(b);
	struct val v, d;
	int ret;

	clean_ascii(&v, b->reporting_mta);
	ret = w_printf(w, e, "\r\n--%s\r\n"
	    "Content-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=%s\r\n"
	    "%s"
	    "\r\n"
	    "This is envoi, the mail submission program on %s.\r\n"
	    "\r\n",
	    boundary, utf8 ? "utf-8" : "us-ascii",
	    utf8 ? "Content-Transfer-Encoding: 8bit\r\n" : "", v.s);
	if (ret == 0)
		ret = w_puts(w, warn ?
		    "Your message has not been delivered yet to the recipients below.\r\n"
		    "envoi keeps trying; there is no need to send it again.\r\n" :
		    "Your message could not be delivered to the recipients below,\r\n"
		    "and envoi has given up on it.\r\n", e);
	if (ret == 0 && b->reason) {
		clean_ascii(&v, b->reason);
		ret = w_printf(w, e, "Reason: %s.\r\n", v.s);
	}
	if (ret == 0)
		ret = w_puts(w, "\r\n", e);
	for (size_t i = 0; ret == 0 && i < b->nrcpts; i++) {
		const struct bounce_rcpt *r = &b->rcpts[i];

		clean_utf8(&v, r->addr);
		ret = w_printf(w, e, "<%s>: %s (%s)\r\n", v.s, rcpt_action(r), rcpt_status(r));
		if (ret == 0 && r->diagnostic) {
			clean_ascii(&d, r->diagnostic);
			/* A real host name is at most 253 octets; anything longer
			 * would push the line past RFC 5322's limit. */
			clean_ascii(&v, b->smarthost && strlen(b->smarthost) <= BOUNCE_HOST_MAX ?
			    b->smarthost : "the mail server");
			ret = w_printf(w, e, "    %s said: %s\r\n", v.s, d.s);
		}
	}
	if (ret == 0)
		ret = w_printf(w, e, "\r\nA delivery report and %s follow.\r\n",
		    headers_only ? "the headers of your message" : "your message");
	if (ret == 0 && b->queue_id) {
		clean_ascii(&v, b->queue_id);
		ret = w_printf(w, e, "Queue ID: %s\r\n", v.s);
	}
	return ret;
}

/* Part 2, for programs: RFC 3464 2.2 and 2.3. */
static int
put_report(struct writer *w, const struct bounce_info *b, const char *boundary,
    struct err *e)
{
	char *mta = msgid_host(b->reporting_mta);
	char date[64];
	struct val v;
	int ret;

	clean_ascii(&v, mta ? mta : b->reporting_mta);
	free(mta);
	ret = w_printf(w, e, "\r\n--%s\r\n"
	    "Content-Description: Delivery report\r\n"
	    "Content-Type: message/delivery-status\r\n"
	    "\r\n"
	    "Reporting-MTA: dns; %s\r\n", boundary, v.s);
	if (ret == 0 && b->queue_id) {
		clean_ascii(&v, b->queue_id);
		ret = w_printf(w, e, "X-Envoi-Queue-ID: %s\r\n", v.s);
	}
	if (ret == 0 && b->envid) {
		clean_ascii(&v, b->envid);
		ret = w_printf(w, e, "Original-Envelope-Id: %s\r\n", v.s);
	}
	if (ret == 0 && b->arrival > 0 && bounce_date(b->arrival, date, sizeof date) == 0)
		ret = w_printf(w, e, "Arrival-Date: %s\r\n", date);
	for (size_t i = 0; ret == 0 && i < b->nrcpts; i++) {
		const struct bounce_rcpt *r = &b->rcpts[i];

		dsn_addr(&v, r->addr);
		ret = w_printf(w, e, "\r\nFinal-Recipient: %s\r\nAction: %s\r\nStatus: %s\r\n",
		    v.s, rcpt_action(r), rcpt_status(r));
		if (ret == 0 && b->smarthost) {
			char *h = msgid_host(b->smarthost);

			clean_ascii(&v, h ? h : b->smarthost);
			free(h);
			ret = w_printf(w, e, "Remote-MTA: dns; %s\r\n", v.s);
		}
		if (ret == 0 && r->diagnostic) {
			clean_ascii(&v, r->diagnostic);
			ret = w_printf(w, e, "Diagnostic-Code: smtp; %s\r\n", v.s);
		}
	}
	return ret;
}

int
bounce_write(int out_fd, int orig_fd, unsigned long long orig_size,
    unsigned long long full_max, const struct bounce_info *b_in,
    unsigned long long *size, struct err *e)
{
	/* A copy, so a missing reporting_mta can be filled in. */
	struct bounce_info bi;
	const struct bounce_info *b = &bi;
	char host[BOUNCE_HOST_MAX + 2];
	int headers_only = orig_size > full_max;
	char boundary[2 * BOUNCE_RANDOM + 16];
	int orig_8bit = 1;     /* unknown (a pipe): label the part 8bit, always valid */
	struct writer w = { .fd = out_fd };
	long long offset;
	int ret = -1;

	*size = 0;
	if (check_info(b_in, e) < 0)
		return -1;
	bi = *b_in;
	if (bi.reporting_mta == NULL || *bi.reporting_mta == '\0') {
		if (gethostname(host, sizeof host) == 0 && host[0] != '\0') {
			host[sizeof host - 1] = '\0';
			bi.reporting_mta = host;
		} else {
			bi.reporting_mta = "localhost";
		}
	}
	offset = (long long)lseek(orig_fd, 0, SEEK_CUR);
	for (int tries = 0;; tries++) {
		char hex[2 * BOUNCE_RANDOM + 1];
		int found = 0;

		if (tries == BOUNCE_BOUNDARY_TRIES)
			return err_set(e, EX_SOFTWARE, "bounce: no MIME boundary that the "
			    "message does not contain");
		if (random_hex(hex, e) < 0)
			return -1;
		/* "=_" cannot occur in quoted-printable or base64 text. */
		snprintf(boundary, sizeof boundary, "=_envoi_%s", hex);
		if (offset < 0)
			break;
		if (bounce_part_contains(orig_fd, offset, headers_only, boundary, &found,
		    &orig_8bit, e) < 0)
			return -1;
		if (!found)
			break;
	}
	if ((w.buf = malloc(BOUNCE_IO_CHUNK)) == NULL)
		return err_set(e, EX_OSERR, "out of memory");
	if (put_headers(&w, b, boundary, orig_8bit || any_utf8_rcpt(b), e) < 0 ||
	    put_human(&w, b, boundary, headers_only, e) < 0 ||
	    put_report(&w, b, boundary, e) < 0)
		goto out;
	if (w_printf(&w, e, "\r\n--%s\r\n"
	    "Content-Description: %s\r\n"
	    "Content-Type: %s\r\n"
	    "%s"
	    "\r\n", boundary,
	    headers_only ? "Undelivered message headers" : "Undelivered message",
	    headers_only ? "text/rfc822-headers" : "message/rfc822",
	    orig_8bit ? "Content-Transfer-Encoding: 8bit\r\n" : "") < 0)
		goto out;
	if (copy_original(&w, orig_fd, headers_only, e) < 0)
		goto out;
	if (w_printf(&w, e, "\r\n--%s--\r\n", boundary) < 0 || w_flush(&w, e) < 0)
		goto out;
	ret = 0;
out:
	*size = w.total;
	free(w.buf);
	return ret;
}

int
bounce_queue(const char *dir, const struct queue_envelope *tmpl, int orig_fd,
    unsigned long long orig_size, int orig_8bit, const struct bounce_info *b, char *id,
    struct err *e)
{
	struct queue_envelope env = *tmpl;
	struct queue_entry q;
	struct err ignore;
	unsigned long long size = 0;
	long long offset = (long long)lseek(orig_fd, 0, SEEK_CUR);
	int found, ret = -1;

	if (check_info(b, e) < 0)
		return -1;
	if (orig_8bit < 0) {
		/* Unknown: 8bit unless the part the bounce includes is not. */
		orig_8bit = 1;
		if (offset >= 0 && bounce_part_contains(orig_fd, offset,
		    orig_size > BOUNCE_FULL_MAX_DEFAULT, "", &found, &orig_8bit, e) < 0)
			return -1;
	}
	if (queue_entry_create(&q, dir, e) < 0) {
		queue_entry_free(&q);
		return -1;
	}
	if (bounce_write(q.msg_fd, orig_fd, orig_size, BOUNCE_FULL_MAX_DEFAULT, b, &size,
	    e) < 0) {
		queue_entry_remove(&q, &ignore);
		goto out;
	}
	env.from = "";
	if (env.nrcpts == 0) {
		env.rcpts = &b->to_addr;
		env.nrcpts = 1;
	}
	env.size = size;
	env.has_8bit = bounce_is_8bit(b, orig_8bit);
	if (queue_entry_commit(&q, &env, e) < 0)
		goto out;
	snprintf(id, QUEUE_ID_MAX, "%s", q.id);
	ret = 0;
out:
	queue_entry_free(&q);
	return ret;
}
