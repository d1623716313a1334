/* Unit tests for src/bounce.c: the RFC 3464 bounce, its MIME structure, the
 * report fields, what of the original is included, CRLF, streaming, errors. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bounce.h"
#include "buf.h"
#include "err.h"
#include "queue.h"
#include "tap.h"

/* ---------------------------------------------------------------- helpers */

/* An unlinked temporary file holding s, positioned at 0. */
static int
file_with(const char *s, size_t n)
{
	char path[] = "/tmp/envoi-bounce-XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0)
		exit(99);
	unlink(path);
	if (write(fd, s, n) != (ssize_t)n || lseek(fd, 0, SEEK_SET) != 0)
		exit(99);
	return fd;
}

/* A pipe whose read end yields s (small enough for the pipe buffer). */
static int
pipe_with(const char *s)
{
	int p[2];

	if (pipe(p) < 0 || write(p[1], s, strlen(s)) != (ssize_t)strlen(s))
		exit(99);
	close(p[1]);
	return p[0];
}

struct out {
	int ret;
	struct err e;
	unsigned long long size;
	int eightbit;        /* an octet >= 0x80 was written */
	char *text;          /* the whole bounce, NUL-terminated */
	size_t len;
};

/* Run bounce_write from orig_fd (closed afterwards) and collect the output. */
static void
run(int orig_fd, unsigned long long orig_size, unsigned long long full_max,
    const struct bounce_info *b, struct out *o)
{
	int fd = file_with("", 0);
	off_t end;

	err_init(&o->e);
	o->ret = bounce_write(fd, orig_fd, orig_size, full_max, b, &o->size, &o->e);
	close(orig_fd);
	end = lseek(fd, 0, SEEK_END);
	o->len = end > 0 ? (size_t)end : 0;
	o->text = calloc(1, o->len + 1);
	if (o->text == NULL || pread(fd, o->text, o->len, 0) != (ssize_t)o->len)
		exit(99);
	close(fd);
	o->eightbit = 0;
	for (size_t i = 0; i < o->len; i++)
		if ((unsigned char)o->text[i] >= 0x80)
			o->eightbit = 1;
}

/* The value of header field `name` in the block text[0..hlen) (unfolded,
 * one space for each fold), malloc'd, or NULL. */
static char *
field(const char *text, size_t hlen, const char *name)
{
	size_t nl = strlen(name);
	const char *p = text, *end = text + hlen;

	while (p < end) {
		const char *eol = strstr(p, "\r\n");

		if (eol == NULL || eol > end)
			break;
		if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			struct buf b;
			const char *v = p + nl + 1;

			buf_init(&b, 1 << 16);
			while (*v == ' ')
				v++;
			buf_append(&b, v, (size_t)(eol - v));
			while (eol + 2 < end && (eol[2] == ' ' || eol[2] == '\t')) {
				const char *s = eol + 2, *e2 = strstr(s, "\r\n");
				while (*s == ' ' || *s == '\t')
					s++;
				buf_putc(&b, ' ');
				buf_append(&b, s, (size_t)(e2 - s));
				eol = e2;
			}
			return buf_take(&b);
		}
		p = eol + 2;
	}
	return NULL;
}

/* The field names of a header block, in order, joined by ",". */
static char *
field_names(const char *text, size_t hlen)
{
	struct buf b;
	const char *p = text, *end = text + hlen;

	buf_init(&b, 1 << 16);
	while (p < end) {
		const char *eol = strstr(p, "\r\n"), *colon = strchr(p, ':');

		if (eol == NULL || eol >= end)
			break;
		if (*p != ' ' && *p != '\t' && colon && colon < eol) {
			if (b.len)
				buf_putc(&b, ',');
			buf_append(&b, p, (size_t)(colon - p));
		}
		p = eol + 2;
	}
	if (b.data == NULL)
		buf_puts(&b, "");
	return buf_take(&b);
}

/* The bounce split at its boundary. */
struct mime {
	char *boundary;
	size_t hlen;                  /* top-level header block, through its last CRLF */
	int nparts;
	const char *part[8];          /* each part, from after the delimiter line */
	size_t plen[8];               /* up to the CRLF that belongs to the next delimiter */
	const char *after_close;      /* what follows "--B--" */
};

static int
split(const struct out *o, struct mime *m)
{
	char *ct, *q, delim[128];
	const char *p, *hdr_end;

	memset(m, 0, sizeof *m);
	if ((hdr_end = strstr(o->text, "\r\n\r\n")) == NULL)
		return -1;
	m->hlen = (size_t)(hdr_end - o->text) + 2;
	if ((ct = field(o->text, m->hlen, "Content-Type")) == NULL)
		return -1;
	if ((q = strstr(ct, "boundary=\"")) == NULL) {
		free(ct);
		return -1;
	}
	m->boundary = strdup(q + 10);
	free(ct);
	if ((q = strchr(m->boundary, '"')) == NULL)
		return -1;
	*q = '\0';
	snprintf(delim, sizeof delim, "\r\n--%s", m->boundary);
	p = strstr(o->text, delim);
	while (p) {
		const char *after = p + strlen(delim), *next;

		if (strncmp(after, "--\r\n", 4) == 0) {
			m->after_close = after + 4;
			return 0;
		}
		if (strncmp(after, "\r\n", 2) != 0 || m->nparts == 8)
			return -1;
		after += 2;
		if ((next = strstr(after, delim)) == NULL)
			return -1;
		m->part[m->nparts] = after;
		m->plen[m->nparts] = (size_t)(next - after);
		m->nparts++;
		p = next;
	}
	return -1;
}

/* Part i's header block length (through the CRLF before the blank line)
 * and its body. */
static size_t
part_hlen(const struct mime *m, int i, const char **body, size_t *blen)
{
	const char *p = m->part[i], *sep = strstr(p, "\r\n\r\n");

	if (sep == NULL || sep > p + m->plen[i]) {
		*body = "";
		*blen = 0;
		return 0;
	}
	*body = sep + 4;
	*blen = m->plen[i] - (size_t)(*body - p);
	return (size_t)(sep - p) + 2;
}

static char *
part_field(const struct mime *m, int i, const char *name)
{
	const char *body;
	size_t blen, h = part_hlen(m, i, &body, &blen);

	return field(m->part[i], h, name);
}

static char *
part_body(const struct mime *m, int i)
{
	const char *body;
	size_t blen;
	char *s;

	part_hlen(m, i, &body, &blen);
	s = strndup(body, blen);
	return s;
}

/* Every LF is preceded by CR, and no line is longer than 998 octets. */
static int
crlf_only(const char *s, size_t n, size_t *longest)
{
	size_t start = 0;

	*longest = 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\n') {
			if (i == 0 || s[i - 1] != '\r')
				return 0;
			if (i - 1 - start > *longest)
				*longest = i - 1 - start;
			start = i + 1;
		}
	return 1;
}

static void
out_free(struct out *o)
{
	free(o->text);
}

static void
mime_free(struct mime *m)
{
	free(m->boundary);
}

static const char orig_small[] =
	"From: Alice <alice@example.org>\r\n"
	"To: bob@example.net\r\n"
	"Subject: hello\r\n"
	"Message-ID: <1@example.org>\r\n"
	"\r\n"
	"Hi Bob,\r\n"
	"--not a boundary\r\n"
	"\r\n"
	"bye\r\n";

static const char orig_headers[] =
	"From: Alice <alice@example.org>\r\n"
	"To: bob@example.net\r\n"
	"Subject: hello\r\n"
	"Message-ID: <1@example.org>\r\n";

static struct bounce_info
info_one(const struct bounce_rcpt *r, size_t n)
{
	struct bounce_info b = {
		.reporting_mta = "host.example.org",
		.smarthost = "smtp.example.net",
		.from_addr = "MAILER-DAEMON@example.org",
		.to_addr = "alice@example.org",
		.queue_id = "20231114221320abcdef01",
		.envid = "env-42",
		.arrival = 1700000000,
		.reason = "the server refused the message permanently",
		.rcpts = r,
		.nrcpts = n,
		.domain = "example.org",
	};
	return b;
}

/* ---------------------------------------------------------------- tests */

static void
test_null_sender(void)
{
	static const struct {
		const char *in;
		int want;
	} cases[] = {
		{ "", 1 }, { "<>", 1 }, { NULL, 1 }, { "a@b", 0 }, { "<a@b>", 0 }, { "< >", 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		is_int(bounce_is_null_sender(cases[i].in), cases[i].want,
		    "bounce_is_null_sender(\"%s\") = %d", cases[i].in ? cases[i].in : "NULL",
		    cases[i].want);
}

static void
test_headers_and_structure(void)
{
	struct bounce_rcpt r = { "bob@example.net", "5.1.1", "550 5.1.1 user unknown", "failed" };
	struct bounce_info b = info_one(&r, 1);
	struct out o;
	struct mime m;
	char *v, *names;
	size_t longest;

	run(file_with(orig_small, strlen(orig_small)), strlen(orig_small),
	    BOUNCE_FULL_MAX_DEFAULT, &b, &o);
	is_int(o.ret, 0, "a bounce is written (%s)", o.ret ? o.e.msg : "");
	is_int(o.size, o.len, "*size is the bytes written");
	is_int(o.eightbit, 0, "an ASCII bounce is not 8bit");
	ok(crlf_only(o.text, o.len, &longest), "CRLF line endings throughout");
	ok(longest <= 998, "no line longer than 998 octets (longest %zu)", longest);
	is_int(split(&o, &m), 0, "the bounce splits at its boundary");

	names = field_names(o.text, m.hlen);
	is_str(names, "From,To,Subject,Date,Message-ID,Auto-Submitted,MIME-Version,"
	    "Content-Type,Content-Transfer-Encoding", "the exact header set, in order");
	free(names);
	v = field(o.text, m.hlen, "From");
	is_str(v, "Mail Delivery System <MAILER-DAEMON@example.org>", "From");
	free(v);
	v = field(o.text, m.hlen, "To");
	is_str(v, "<alice@example.org>", "To is the original envelope sender");
	free(v);
	v = field(o.text, m.hlen, "Subject");
	is_str(v, "Undelivered Mail Returned to Sender", "Subject");
	free(v);
	v = field(o.text, m.hlen, "Date");
	ok(v && strlen(v) > 25 && strstr(v, ", ") == v + 3 &&
	    (v[strlen(v) - 5] == '+' || v[strlen(v) - 5] == '-'), "Date is RFC 5322 (%s)",
	    v ? v : "");
	free(v);
	v = field(o.text, m.hlen, "Message-ID");
	ok(v && v[0] == '<' && strstr(v, "@example.org>") != NULL &&
	    v[strlen(v) - 1] == '>', "Message-ID on the domain (%s)", v ? v : "");
	free(v);
	v = field(o.text, m.hlen, "Auto-Submitted");
	is_str(v, "auto-replied", "Auto-Submitted: auto-replied (RFC 3834)");
	free(v);
	v = field(o.text, m.hlen, "MIME-Version");
	is_str(v, "1.0", "MIME-Version");
	free(v);
	v = field(o.text, m.hlen, "Content-Type");
	ok(v && strncmp(v, "multipart/report; report-type=delivery-status; boundary=\"",
	    strlen("multipart/report; report-type=delivery-status; boundary=\"")) == 0,
	    "Content-Type multipart/report; report-type=delivery-status (%s)", v ? v : "");
	free(v);
	v = field(o.text, m.hlen, "Content-Transfer-Encoding");
	is_str(v, "7bit", "7bit when nothing is 8-bit");
	free(v);

	ok(m.boundary && strlen(m.boundary) >= 30 && strlen(m.boundary) <= 70,
	    "boundary of 30..70 characters");
	ok(strstr(orig_small, m.boundary) == NULL, "the boundary is not in the original");
	is_int(m.nparts, 3, "three parts");
	ok(m.after_close && *m.after_close == '\0', "the closing delimiter ends the bounce");
	ok(strncmp(o.text + m.hlen, "\r\nThis is a MIME", 16) == 0,
	    "a preamble for non-MIME readers");

	v = part_field(&m, 0, "Content-Type");
	is_str(v, "text/plain; charset=us-ascii", "part 1 is text/plain");
	free(v);
	v = part_body(&m, 0);
	ok(v && strstr(v, "<bob@example.net>: failed (5.1.1)\r\n") &&
	    strstr(v, "    smtp.example.net said: 550 5.1.1 user unknown\r\n") &&
	    strstr(v, "Reason: the server refused the message permanently.\r\n") &&
	    strstr(v, "Queue ID: 20231114221320abcdef01\r\n") &&
	    strstr(v, "A delivery report and your message follow."),
	    "part 1 names the recipient, the server's reply, the reason and the queue id");
	free(v);
	v = part_field(&m, 1, "Content-Type");
	is_str(v, "message/delivery-status", "part 2 is message/delivery-status");
	free(v);
	v = part_body(&m, 1);
	is_str(v,
	    "Reporting-MTA: dns; host.example.org\r\n"
	    "X-Envoi-Queue-ID: 20231114221320abcdef01\r\n"
	    "Original-Envelope-Id: env-42\r\n"
	    "Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
	    "\r\n"
	    "Final-Recipient: rfc822; bob@example.net\r\n"
	    "Action: failed\r\n"
	    "Status: 5.1.1\r\n"
	    "Remote-MTA: dns; smtp.example.net\r\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n",
	    "part 2: the delivery-status fields for one recipient");
	free(v);
	v = part_field(&m, 2, "Content-Type");
	is_str(v, "message/rfc822", "part 3 is message/rfc822 when small");
	free(v);
	v = part_field(&m, 2, "Content-Transfer-Encoding");
	is_str(v, NULL, "... no 8bit label for a 7-bit original");
	free(v);
	v = part_body(&m, 2);
	is_str(v, orig_small, "... holding the whole original, byte for byte");
	free(v);
	mime_free(&m);
	out_free(&o);
}

static void
test_three_recipients(void)
{
	struct bounce_rcpt r[3] = {
		{ "bob@example.net", "5.1.1", "550 5.1.1 user unknown", "failed" },
		{ "j\xc3\xb6rg+x@b\xc3\xbc" "cher.example", NULL, "554 no\r\nSuch\tthing\x01", NULL },
		{ "carol@example.net\r\nBcc: evil@x", "4.4.7", NULL, "failed" },
	};
	struct bounce_info b = info_one(r, 3);
	struct out o;
	struct mime m;
	char *v;
	size_t longest;

	b.envid = NULL;
	b.arrival = 0;
	b.smarthost = NULL;
	b.queue_id = NULL;
	run(file_with(orig_small, strlen(orig_small)), strlen(orig_small),
	    BOUNCE_FULL_MAX_DEFAULT, &b, &o);
	is_int(o.ret, 0, "three recipients (%s)", o.ret ? o.e.msg : "");
	ok(crlf_only(o.text, o.len, &longest), "CRLF throughout, CR/LF in fields neutralised");
	is_int(split(&o, &m), 0, "... splits into parts");
	is_int(m.nparts, 3, "... three parts");
	v = part_body(&m, 1);
	is_str(v,
	    "Reporting-MTA: dns; host.example.org\r\n"
	    "\r\n"
	    "Final-Recipient: rfc822; bob@example.net\r\n"
	    "Action: failed\r\n"
	    "Status: 5.1.1\r\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
	    "\r\n"
	    "Final-Recipient: utf-8; j\\x{F6}rg\\x{2B}x@b\\x{FC}cher.example\r\n"
	    "Action: failed\r\n"
	    "Status: 5.0.0\r\n"
	    "Diagnostic-Code: smtp; 554 no??Such thing?\r\n"
	    "\r\n"
	    "Final-Recipient: rfc822; carol@example.net??Bcc: evil@x\r\n"
	    "Action: failed\r\n"
	    "Status: 4.4.7\r\n",
	    "part 2: fields for three recipients, utf-8 xtext, derived status, one-line text");
	free(v);
	v = part_field(&m, 0, "Content-Type");
	is_str(v, "text/plain; charset=utf-8", "a non-ASCII recipient makes part 1 utf-8");
	free(v);
	v = part_field(&m, 0, "Content-Transfer-Encoding");
	is_str(v, "8bit", "... labelled 8bit");
	free(v);
	v = part_body(&m, 0);
	ok(v && strstr(v, "<j\xc3\xb6rg+x@b\xc3\xbc" "cher.example>: failed (5.0.0)\r\n") &&
	    strstr(v, "    the mail server said: 554 no??Such thing?\r\n") &&
	    strstr(v, "<carol@example.net??Bcc: evil@x>: failed (4.4.7)\r\n"),
	    "part 1 shows the UTF-8 address as is and each reply on one line");
	free(v);
	v = field(o.text, m.hlen, "Content-Transfer-Encoding");
	is_str(v, "8bit", "the whole bounce is labelled 8bit");
	free(v);
	is_int(o.eightbit, 1, "... and reported as 8bit");
	ok(strstr(o.text, "\nBcc:") == NULL, "no header injection through an address");
	mime_free(&m);
	out_free(&o);
}

static void
test_headers_only(void)
{
	struct bounce_rcpt r = { "bob@example.net", "5.7.1", "554 5.7.1 rejected", "failed" };
	struct bounce_info b = info_one(&r, 1);
	static const struct {
		const char *name;
		int pipe;
	} how[] = { { "file", 0 }, { "pipe", 1 } };

	for (size_t i = 0; i < sizeof how / sizeof how[0]; i++) {
		struct out o;
		struct mime m;
		char *v;
		size_t longest;
		int fd = how[i].pipe ? pipe_with(orig_small) :
		    file_with(orig_small, strlen(orig_small));

		run(fd, strlen(orig_small), 20, &b, &o);
		is_int(o.ret, 0, "%s: over full_max (%s)", how[i].name, o.ret ? o.e.msg : "");
		ok(crlf_only(o.text, o.len, &longest), "%s: CRLF throughout", how[i].name);
		is_int(split(&o, &m), 0, "%s: splits", how[i].name);
		is_int(m.nparts, 3, "%s: three parts", how[i].name);
		v = part_field(&m, 2, "Content-Type");
		is_str(v, "text/rfc822-headers", "%s: part 3 is text/rfc822-headers", how[i].name);
		free(v);
		v = part_body(&m, 2);
		is_str(v, orig_headers, "%s: ... the header block, ending at the blank line",
		    how[i].name);
		free(v);
		ok(strstr(o.text, "Hi Bob") == NULL, "%s: no body text", how[i].name);
		v = part_body(&m, 0);
		ok(v && strstr(v, "the headers of your message follow"),
		    "%s: part 1 says only headers follow", how[i].name);
		free(v);
		/* From a pipe nothing can be scanned in advance: 8bit is the
		 * label that is valid whatever comes. */
		v = part_field(&m, 2, "Content-Transfer-Encoding");
		is_str(v, how[i].pipe ? "8bit" : NULL, "%s: part 3 CTE %s", how[i].name,
		    how[i].pipe ? "8bit (unknown in advance)" : "absent (7bit)");
		free(v);
		is_int(o.eightbit, 0, "%s: nothing 8-bit was written", how[i].name);
		ok(strstr(orig_small, m.boundary) == NULL, "%s: boundary not in the original",
		    how[i].name);
		mime_free(&m);
		out_free(&o);
	}
}

/* Originals that need repair, and 8-bit originals. */
static void
test_original_forms(void)
{
	static const struct {
		const char *name;
		const char *in;
		unsigned long long full_max;
		const char *want;        /* part 3's body */
		int eightbit;
	} cases[] = {
		{ "bare LF becomes CRLF", "Subject: x\n\nbody\n", 1000,
		  "Subject: x\r\n\r\nbody\r\n", 0 },
		{ "missing final line ending", "Subject: x\r\n\r\nbody", 1000,
		  "Subject: x\r\n\r\nbody\r\n", 0 },
		{ "headers only with bare LF", "Subject: x\nTo: y\n\nbody\n", 5,
		  "Subject: x\r\nTo: y\r\n", 0 },
		{ "headers only, lone CR at a line start is data", "A: b\r\n\rC: d\r\n\r\nbody\r\n", 5,
		  "A: b\r\n\rC: d\r\n", 0 },
		{ "headers only, no body at all", "A: b\r\n", 5, "A: b\r\n", 0 },
		{ "8-bit body", "Subject: x\r\n\r\nGr\xc3\xbc\xc3\x9f" "e\r\n", 1000,
		  "Subject: x\r\n\r\nGr\xc3\xbc\xc3\x9f" "e\r\n", 1 },
		{ "8-bit body left out with headers only", "Subject: x\r\n\r\n\xc3\xbc\r\n", 5,
		  "Subject: x\r\n", 0 },
	};
	struct bounce_rcpt r = { "bob@example.net", "5.1.1", "550 5.1.1 no", "failed" };
	struct bounce_info b = info_one(&r, 1);

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct out o;
		struct mime m;
		char *v, *cte;
		size_t longest;

		run(file_with(cases[i].in, strlen(cases[i].in)), strlen(cases[i].in),
		    cases[i].full_max, &b, &o);
		if (o.ret != 0 || split(&o, &m) != 0 || m.nparts != 3) {
			ok(0, "%s: bounce written and split (%s)", cases[i].name, o.e.msg);
			out_free(&o);
			continue;
		}
		ok(crlf_only(o.text, o.len, &longest), "%s: CRLF throughout", cases[i].name);
		v = part_body(&m, 2);
		is_str(v, cases[i].want, "%s: included part", cases[i].name);
		free(v);
		is_int(o.eightbit, cases[i].eightbit, "%s: eightbit = %d", cases[i].name,
		    cases[i].eightbit);
		v = field(o.text, m.hlen, "Content-Transfer-Encoding");
		cte = part_field(&m, 2, "Content-Transfer-Encoding");
		is_str(v, cases[i].eightbit ? "8bit" : "7bit", "%s: top-level CTE", cases[i].name);
		is_str(cte, cases[i].eightbit ? "8bit" : NULL, "%s: part 3 CTE", cases[i].name);
		free(v);
		free(cte);
		mime_free(&m);
		out_free(&o);
	}
}

/* The scan behind the boundary choice: finds a needle anywhere in the part
 * that will be included, across read boundaries, and only there. */
static void
test_part_contains(void)
{
	size_t big = 3 * 65536 + 100;
	char *s = malloc(big + 1);
	static const char hdr[] = "Subject: x\r\nX-Mark: =_here\r\n\r\n";
	const char *needle = "=_envoi_0123456789abcdef";
	struct err e;
	int found, eightbit, fd;

	if (s == NULL)
		exit(99);
	memset(s, 'a', big);
	memcpy(s, hdr, strlen(hdr));
	for (size_t i = 100; i < big; i += 100)
		s[i] = '\n';
	/* Straddle the first 64 KiB read. */
	memcpy(s + 65536 - 7, needle, strlen(needle));
	s[big - 1] = '\xe9';
	s[big] = '\0';
	fd = file_with(s, big);

	is_int(bounce_part_contains(fd, 0, 0, needle, &found, &eightbit, &e), 0, "scan a file");
	is_int(found, 1, "a needle across a read boundary is found");
	is_int(bounce_part_contains(fd, 0, 0, "=_absent", &found, &eightbit, &e), 0,
	    "scan a file for an absent needle");
	is_int(found, 0, "... not found");
	is_int(eightbit, 1, "... and an 8-bit octet at the very end is noticed");
	is_int(bounce_part_contains(fd, 0, 1, needle, &found, &eightbit, &e), 0,
	    "scan the headers only");
	is_int(found, 0, "a needle in the body is not in the header part");
	is_int(eightbit, 0, "... nor is the 8-bit octet");
	is_int(bounce_part_contains(fd, 0, 1, "=_here", &found, NULL, &e), 0,
	    "scan the headers for a header needle");
	is_int(found, 1, "a needle in the headers is found");
	is_int(bounce_part_contains(fd, 20, 1, "Subject", &found, NULL, &e), 0,
	    "scan from an offset");
	is_int(found, 0, "... bytes before the offset are not scanned");
	is_int(lseek(fd, 0, SEEK_CUR), 0, "the descriptor's offset is left alone");
	is_int(bounce_part_contains(fd, 0, 0, "aaaa\r\naaa", &found, NULL, &e), 0,
	    "scan for a repaired line ending");
	is_int(found, 1, "the scan sees the CRLF the copy will write");
	close(fd);
	is_int(bounce_part_contains(fd, 0, 0, needle, &found, NULL, &e), -1,
	    "a closed descriptor fails");
	is_int(e.ex, EX_IOERR, "... with EX_IOERR");
	free(s);
}

/* A damaged spool file whose header block never ends is cut after about
 * a megabyte, at a line end when there is one, and the part stays valid. */
static void
test_endless_headers(void)
{
	static const struct {
		const char *name;
		int lines;            /* 100-byte header lines, else one endless line */
	} cases[] = { { "endless header lines", 1 }, { "one endless line", 0 } };
	size_t n = 3u << 20;
	char *s = malloc(n);
	struct bounce_rcpt r = { "bob@example.net", "5.1.1", NULL, "failed" };
	struct bounce_info b = info_one(&r, 1);

	if (s == NULL)
		exit(99);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct out o;
		struct mime m;
		const char *body;
		size_t blen, longest;
		int crlf;

		memset(s, 'h', n);
		if (cases[i].lines)
			for (size_t k = 0; k + 100 <= n; k += 100)
				memcpy(s + k, "X-H: ", 5), memcpy(s + k + 98, "\r\n", 2);
		run(file_with(s, n), n, 1000, &b, &o);
		is_int(o.ret, 0, "%s: bounce written (%s)", cases[i].name, o.ret ? o.e.msg : "");
		if (o.ret != 0 || split(&o, &m) != 0 || m.nparts != 3) {
			ok(0, "%s: splits", cases[i].name);
			out_free(&o);
			continue;
		}
		part_hlen(&m, 2, &body, &blen);
		ok(blen >= (1u << 20) && blen < (1u << 20) + 128 * 1024,
		    "%s: about a megabyte of headers kept (%zu)", cases[i].name, blen);
		ok(blen >= 2 && body[blen - 2] == '\r' && body[blen - 1] == '\n',
		    "%s: the part ends with a complete line", cases[i].name);
		if (cases[i].lines)
			is_int(blen % 100, 0, "%s: cut at a line end", cases[i].name);
		crlf = crlf_only(o.text, o.len, &longest);
		ok(crlf, "%s: CRLF throughout", cases[i].name);
		mime_free(&m);
		out_free(&o);
	}
	free(s);
}

/* The original is read from the descriptor's current offset. */
static void
test_offset(void)
{
	static const char junk[] = "JUNK\r\n";
	struct bounce_rcpt r = { "bob@example.net", "5.1.1", NULL, "failed" };
	struct bounce_info b = info_one(&r, 1);
	struct buf in;
	struct out o;
	struct mime m;
	char *v;
	int fd;

	buf_init(&in, 4096);
	buf_puts(&in, junk);
	buf_puts(&in, orig_small);
	fd = file_with(in.data, in.len);
	if (lseek(fd, (off_t)strlen(junk), SEEK_SET) < 0)
		exit(99);
	run(fd, strlen(orig_small), BOUNCE_FULL_MAX_DEFAULT, &b, &o);
	is_int(o.ret, 0, "from an offset (%s)", o.ret ? o.e.msg : "");
	is_int(split(&o, &m), 0, "... splits");
	v = part_body(&m, 2);
	is_str(v, orig_small, "... the original starts at the offset");
	free(v);
	v = part_body(&m, 1);
	ok(v && strstr(v, "Diagnostic-Code") == NULL, "no Diagnostic-Code without a reply");
	free(v);
	mime_free(&m);
	out_free(&o);
	buf_free(&in);
}

/* Defaults for the optional fields, and the 8bit decision. */
static void
test_defaults(void)
{
	struct bounce_rcpt r = { "bob@example.net", "5.1.1", NULL, "failed" };
	struct bounce_rcpt ru = { "b\xc3\xb6" "b@example.net", "5.1.1", NULL, "failed" };
	struct bounce_info b = info_one(&r, 1);
	struct out o;
	struct mime m;
	char host[256] = "", want[300], *v;

	b.reporting_mta = NULL;
	b.domain = NULL;
	run(file_with(orig_small, strlen(orig_small)), strlen(orig_small),
	    BOUNCE_FULL_MAX_DEFAULT, &b, &o);
	is_int(o.ret, 0, "no reporting MTA or domain (%s)", o.ret ? o.e.msg : "");
	is_int(split(&o, &m), 0, "... splits");
	if (gethostname(host, sizeof host - 1) < 0 || host[0] == '\0')
		snprintf(host, sizeof host, "localhost");
	snprintf(want, sizeof want, "Reporting-MTA: dns; %s\r\n", host);
	v = part_body(&m, 1);
	ok(v && strncmp(v, want, strlen(want)) == 0, "... Reporting-MTA is the host name (%s)",
	    host);
	free(v);
	v = field(o.text, m.hlen, "Message-ID");
	ok(v && v[strlen(v) - 1] == '>' && strchr(v, '@') != NULL,
	    "... a Message-ID all the same (%s)", v ? v : "");
	free(v);
	mime_free(&m);
	out_free(&o);

	b = info_one(&r, 1);
	is_int(bounce_is_8bit(&b, 0), 0, "ASCII everything: 7bit");
	is_int(bounce_is_8bit(&b, 1), 1, "an 8-bit original: 8bit");
	b.to_addr = "j\xc3\xb6rg@example.org";
	is_int(bounce_is_8bit(&b, 0), 1, "a UTF-8 sender: 8bit");
	b = info_one(&ru, 1);
	is_int(bounce_is_8bit(&b, 0), 1, "a UTF-8 recipient: 8bit");
}

static void
test_delayed(void)
{
	struct bounce_rcpt r = { "bob@example.net", NULL, "451 4.3.0 try later", "delayed" };
	struct bounce_info b = info_one(&r, 1);
	struct out o;
	struct mime m;
	char *v;

	run(file_with(orig_small, strlen(orig_small)), strlen(orig_small),
	    BOUNCE_FULL_MAX_DEFAULT, &b, &o);
	is_int(o.ret, 0, "a delay warning (%s)", o.ret ? o.e.msg : "");
	is_int(split(&o, &m), 0, "... splits");
	v = field(o.text, m.hlen, "Subject");
	is_str(v, "Delayed Mail (still being retried)", "... with its own Subject");
	free(v);
	v = part_body(&m, 1);
	ok(v && strstr(v, "Action: delayed\r\nStatus: 4.0.0\r\n"),
	    "... Action delayed, status derived as 4.0.0");
	free(v);
	mime_free(&m);
	out_free(&o);
}

static void
test_long_values(void)
{
	struct bounce_rcpt r = { "bob@example.net", "5.1.1", NULL, "failed" };
	struct bounce_info b = info_one(&r, 1);
	char *diag = malloc(5001), *addr = malloc(3001);
	struct out o;
	size_t longest;
	int crlf;

	if (diag == NULL || addr == NULL)
		exit(99);
	memset(diag, 'd', 5000);
	memcpy(diag, "550 ", 4);
	diag[5000] = '\0';
	for (size_t i = 0; i < 3000; i += 2)
		memcpy(addr + i, "\xc3\xa9", 2);
	memcpy(addr + 2990, "@x.example", 11);
	r.diagnostic = diag;
	r.addr = addr;
	b.smarthost = diag;
	run(file_with(orig_small, strlen(orig_small)), strlen(orig_small),
	    BOUNCE_FULL_MAX_DEFAULT, &b, &o);
	is_int(o.ret, 0, "huge diagnostic and address (%s)", o.ret ? o.e.msg : "");
	crlf = crlf_only(o.text, o.len, &longest);
	ok(crlf && longest <= 998, "... every line stays within 998 octets (longest %zu)",
	    longest);
	ok(strstr(o.text, "Diagnostic-Code: smtp; 550 dddd") != NULL &&
	    strstr(o.text, "ddd...\r\n") != NULL, "... a long reply is cut with \"...\"");
	out_free(&o);
	free(diag);
	free(addr);
}

static void
test_errors(void)
{
	struct bounce_rcpt r = { "bob@example.net", "5.1.1", "550 x", "failed" };
	struct bounce_info b = info_one(&r, 1);
	static const struct {
		const char *name;
		int which;
	} bad[] = {
		{ "null to_addr", 0 }, { "to_addr <>", 1 }, { "no recipients", 2 },
		{ "recipient without address", 3 }, { "no From address", 4 },
	};
	unsigned long long size;
	int fd, devnull = open("/dev/null", O_WRONLY);
	struct err e;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct bounce_info x = b;
		struct bounce_rcpt nr = r;

		switch (bad[i].which) {
		case 0: x.to_addr = ""; break;
		case 1: x.to_addr = "<>"; break;
		case 2: x.nrcpts = 0; break;
		case 3: nr.addr = NULL; x.rcpts = &nr; break;
		case 4: x.from_addr = NULL; break;
		}
		fd = file_with(orig_small, strlen(orig_small));
		is_int(bounce_write(devnull, fd, strlen(orig_small), BOUNCE_FULL_MAX_DEFAULT, &x,
		    &size, &e), -1, "%s is refused", bad[i].name);
		is_int(e.ex, EX_SOFTWARE, "... with EX_SOFTWARE");
		close(fd);
	}

	/* A closed output descriptor. */
	{
		int out;

		fd = file_with(orig_small, strlen(orig_small));
		out = open("/dev/null", O_WRONLY);
		close(out);
		is_int(bounce_write(out, fd, strlen(orig_small), BOUNCE_FULL_MAX_DEFAULT, &b,
		    &size, &e), -1, "a closed out_fd fails");
		is_int(e.ex, EX_IOERR, "... with EX_IOERR");
		ok(strstr(e.msg, "write") != NULL, "... saying it could not write (%s)", e.msg);
		close(fd);
	}
	/* A closed original (read failure, after the headers were written). */
	{
		int orig = open("/dev/null", O_RDONLY);

		close(orig);
		is_int(bounce_write(devnull, orig, 100, BOUNCE_FULL_MAX_DEFAULT, &b, &size,
		    &e), -1, "a closed orig_fd fails");
		is_int(e.ex, EX_IOERR, "... with EX_IOERR");
		ok(strstr(e.msg, "read") != NULL, "... saying it could not read (%s)", e.msg);
	}
	/* A reader that went away: EPIPE, not a signal (the caller ignores
	 * SIGPIPE as envoi does for network I/O). */
	{
		int p[2];

		signal(SIGPIPE, SIG_IGN);
		if (pipe(p) < 0)
			exit(99);
		close(p[0]);
		fd = file_with(orig_small, strlen(orig_small));
		is_int(bounce_write(p[1], fd, strlen(orig_small), BOUNCE_FULL_MAX_DEFAULT, &b,
		    &size, &e), -1, "a broken pipe fails");
		is_int(e.ex, EX_IOERR, "... with EX_IOERR");
		close(fd);
		close(p[1]);
		signal(SIGPIPE, SIG_DFL);
	}
	close(devnull);
}

/* A big original through a pipe, included whole (full_max raised), with
 * memory that does not follow its size. */
static void
test_streaming(void)
{
	int vg = getenv("ENVOI_UNDER_VALGRIND") != NULL;
	unsigned long long lines = vg ? 20000 : 50000;        /* 100 bytes each: 2 or 5 MB */
	const char *hdr = "Subject: big\r\n\r\n";
	struct bounce_rcpt r = { "bob@example.net", "5.3.4", "552 5.3.4 too big", "failed" };
	struct bounce_info b = info_one(&r, 1);
	struct rusage before, after;
	struct err e;
	unsigned long long size, orig = strlen(hdr) + lines * 100;
	int p[2], status, ret, out = file_with("", 0);
	pid_t pid;
	off_t end;

	/* Unflushed TAP output would be written twice if the child flushed it
	 * (valgrind's exit does). */
	fflush(stdout);
	getrusage(RUSAGE_SELF, &before);
	if (pipe(p) < 0 || (pid = fork()) < 0)
		exit(99);
	if (pid == 0) {
		char line[100];

		close(p[0]);
		memset(line, 'x', 98);
		line[98] = '\r';
		line[99] = '\n';
		if (write(p[1], hdr, strlen(hdr)) < 0)
			_exit(1);
		for (unsigned long long i = 0; i < lines; i++)
			if (write(p[1], line, 100) != 100)
				_exit(1);
		_exit(0);
	}
	close(p[1]);
	ret = bounce_write(out, p[0], orig, 1ULL << 30, &b, &size, &e);
	close(p[0]);
	waitpid(pid, &status, 0);
	getrusage(RUSAGE_SELF, &after);
	is_int(ret, 0, "a %llu MB original is streamed (%s)", orig >> 20, ret ? e.msg : "");
	is_int(WIFEXITED(status) && WEXITSTATUS(status) == 0, 1, "... the writer finished");
	end = lseek(out, 0, SEEK_END);
	is_int((long long)end, (long long)size, "... *size matches the file");
	ok(size > orig && size < orig + 4096, "... the whole original is in it (%llu bytes)",
	    size);
	if (!vg)
		ok(after.ru_maxrss - before.ru_maxrss < 4096,
		    "... with flat memory: peak RSS grew by %ld kB",
		    after.ru_maxrss - before.ru_maxrss);
	close(out);
}


/* bounce_date: RFC 5322 3.3 in C-locale names, whatever the locale. */
static void
test_date(void)
{
	char d[64];

	is_int(bounce_date(0, d, sizeof d), 0, "bounce_date of the epoch");
	is_str(d, "Thu, 1 Jan 1970 00:00:00 +0000", "... RFC 5322 form (TZ=UTC)");
	is_int(bounce_date(1796394446LL, d, sizeof d), 0, "bounce_date of a 2026 time");
	is_str(d, "Fri, 4 Dec 2026 14:27:26 +0000", "... day and month names from our tables");
}

static int
rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

/* The queue entries (ID.env) in dir. */
static int
envs_in(const char *dir, char *last_env, size_t size)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len > 4 && strcmp(de->d_name + len - 4, ".env") == 0) {
			n++;
			snprintf(last_env, size, "%s/%s", dir, de->d_name);
		}
	}
	if (d)
		closedir(d);
	return n;
}

/* bounce_queue: the bounce as a committed entry from the null sender, to
 * the template's recipients or to_addr; nothing left behind on error. */
static void
test_queue(void)
{
	static const char orig[] = "Subject: caf\xc3\xa9\r\n\r\nbody\r\n";
	const char *owners[] = { "admin@example.org", "ops@example.org" };
	struct bounce_rcpt r = { .addr = "bob@example.org", .status = "5.6.0" };
	struct bounce_info b = { .from_addr = "MAILER-DAEMON@example.org",
				 .to_addr = "www-data@example.org", .rcpts = &r, .nrcpts = 1,
				 .reason = "refused", .queue_id = "d.1" };
	struct queue_envelope env;
	char dir[] = "/tmp/envoi-bq-XXXXXX", id[QUEUE_ID_MAX], envp[512], text[2048];
	struct err e;
	int fd, n;

	if (mkdtemp(dir) == NULL)
		exit(99);
	memset(&env, 0, sizeof env);
	env.account = "default";
	env.uid = 33;
	fd = file_with(orig, sizeof orig - 1);
	err_init(&e);
	is_int(bounce_queue(dir, &env, fd, sizeof orig - 1, -1, &b, id, &e), 0,
	    "bounce_queue: queued (%s)", e.msg);
	is_int(queue_id_valid(id), 1, "... id %s is a queue id", id);
	is_int(envs_in(dir, envp, sizeof envp), 1, "... one entry");
	{
		int efd = open(envp, O_RDONLY);
		ssize_t got = efd < 0 ? -1 : read(efd, text, sizeof text - 1);

		text[got < 0 ? 0 : got] = '\0';
		if (efd >= 0)
			close(efd);
	}
	ok(strstr(text, "\nfrom \n") != NULL, "... from the null sender");
	ok(strstr(text, "\nrcpt www-data@example.org\n") != NULL, "... to to_addr (no rcpts given)");
	ok(strstr(text, "\nsubmitter-uid 33\n") != NULL, "... the template's uid");
	ok(strstr(text, "\n8bit 1\n") != NULL, "... 8bit learned from the original (-1)");
	close(fd);

	env.rcpts = owners;
	env.nrcpts = 2;
	fd = file_with("Subject: x\r\n\r\nascii\r\n", 21);
	is_int(bounce_queue(dir, &env, fd, 21, -1, &b, id, &e), 0, "a second, to two owners");
	close(fd);
	n = envs_in(dir, envp, sizeof envp);
	is_int(n, 2, "... two entries");

	b.to_addr = "";
	fd = file_with(orig, sizeof orig - 1);
	is_int(bounce_queue(dir, &env, fd, sizeof orig - 1, 0, &b, id, &e), -1,
	    "no bounce to the null sender");
	is_int(e.ex, EX_SOFTWARE, "... EX_SOFTWARE");
	is_int(envs_in(dir, envp, sizeof envp), 2, "... and nothing left in the queue");
	close(fd);
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

int
main(void)
{
	/* Fixed zone so Arrival-Date can be compared exactly. */
	setenv("TZ", "UTC", 1);
	tzset();
	test_null_sender();
	test_headers_and_structure();
	test_three_recipients();
	test_headers_only();
	test_original_forms();
	test_part_contains();
	test_endless_headers();
	test_offset();
	test_defaults();
	test_delayed();
	test_long_values();
	test_errors();
	test_streaming();
	test_date();
	test_queue();
	return done_testing();
}
