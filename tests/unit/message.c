/* Unit tests for src/message.c: line-ending normalisation, limits, header
 * completion, -t extraction, the dot-stuffer, and constant memory. */
#include "config.h"

#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "message.h"
#include "tap.h"

/* A printable rendering for test descriptions (TAP lines must not break). */
static const char *
show(const char *s, size_t n)
{
	static char bufs[4][160];
	static int next;
	char *out = bufs[next++ % 4];
	size_t o = 0;

	for (size_t i = 0; i < n && o + 6 < sizeof bufs[0]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r')
			o += (size_t)snprintf(out + o, sizeof bufs[0] - o, "\\r");
		else if (c == '\n')
			o += (size_t)snprintf(out + o, sizeof bufs[0] - o, "\\n");
		else if (c < 0x20 || c >= 0x7f)
			o += (size_t)snprintf(out + o, sizeof bufs[0] - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

struct result {
	int ret;
	struct err e;
	struct msg_info info;
	char *out;              /* what was written, NUL-terminated */
	size_t out_len;
};

/* Run message_read with `in` on a temporary file and collect the output. */
static void
run(const char *in, size_t in_len, const struct msg_opts *o, struct result *r)
{
	FILE *fi = tmpfile(), *fo = tmpfile();
	long n;

	err_init(&r->e);
	msg_info_init(&r->info);
	if (fi == NULL || fo == NULL || fwrite(in, 1, in_len, fi) != in_len || fflush(fi) != 0) {
		perror("tmpfile");
		exit(99);
	}
	rewind(fi);
	r->ret = message_read(fileno(fi), fileno(fo), o, &r->info, &r->e);
	n = lseek(fileno(fo), 0, SEEK_END);
	r->out = malloc((size_t)n + 1);
	if (r->out == NULL || pread(fileno(fo), r->out, (size_t)n, 0) != n) {
		perror("pread");
		exit(99);
	}
	r->out[n] = '\0';
	r->out_len = (size_t)n;
	fclose(fi);
	fclose(fo);
}

static void
runs(const char *in, const struct msg_opts *o, struct result *r)
{
	run(in, strlen(in), o, r);
}

static void
result_free(struct result *r)
{
	msg_info_free(&r->info);
	free(r->out);
}

/* Options that add nothing, so outputs can be compared exactly. */
static struct msg_opts
plain_opts(void)
{
	struct msg_opts o = { 0 };

	o.set_from = 2;
	o.set_date = 2;
	o.set_msgid = 2;
	o.domain = "example.org";
	return o;
}

static size_t
count_lf(const char *s, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += s[i] == '\n';
	return c;
}

static void
test_normalise(void)
{
	static const struct {
		const char *in;
		int dot;
		const char *want;
	} cases[] = {
		{ "Subject: x\n\nbody\n", 0, "Subject: x\r\n\r\nbody\r\n" },
		{ "Subject: x\r\n\r\nbody\r\n", 0, "Subject: x\r\n\r\nbody\r\n" },
		/* PHP mail(): CRLF headers, LF body */
		{ "To: a@x.org\r\nSubject: s\r\n\r\nline1\nline2\n", 0,
		  "To: a@x.org\r\nSubject: s\r\n\r\nline1\r\nline2\r\n" },
		{ "Subject: x\r\r\n\r\nbody\r\r\r\n", 0, "Subject: x\r\n\r\nbody\r\n" },
		{ "Subject: x\n\nbody", 0, "Subject: x\r\n\r\nbody\r\n" },
		{ "Subject: x\n\nbody\r", 0, "Subject: x\r\n\r\nbody\r\n" },
		/* a lone CR never reaches the spool (RFC 5321 2.3.8): in the
		 * body each ends a line, so a "." after one is a line of text
		 * that the dot-stuffer doubles, never an end of data */
		{ "Subject: x\n\na\rb\r\rc\n", 0, "Subject: x\r\n\r\na\r\nb\r\n\r\nc\r\n" },
		{ "Subject: x\n\nline1\r.\r\nline3\n", 0,
		  "Subject: x\r\n\r\nline1\r\n.\r\nline3\r\n" },
		/* ... and is not the "." that ends the input without -i */
		{ "Subject: x\n\nline1\r.\r\nline3\n", 1,
		  "Subject: x\r\n\r\nline1\r\n.\r\nline3\r\n" },
		/* a progress meter's CRs (cron output): lines of their own */
		{ "Subject: x\n\n10%\r50%\r100%\n", 0, "Subject: x\r\n\r\n10%\r\n50%\r\n100%\r\n" },
		/* in the header block a CR is a space: it can neither end a
		 * field nor start one (no Bcc injected through -t) */
		{ "Subject: a\rBcc: evil@x.org\n\nb\n", 0, "Subject: a Bcc: evil@x.org\r\n\r\nb\r\n" },
		{ "Subject: a\r\r\tb\nX: y\r\n\nb\n", 0, "Subject: a  \tb\r\nX: y\r\n\r\nb\r\n" },
		{ "line1\r.\r\n", 0, "\r\nline1 .\r\n" },
		{ "Subject: a\n\tb\n c\n\nx\n", 0, "Subject: a\r\n\tb\r\n c\r\n\r\nx\r\n" },
		{ "Subject : obsolete space\n\nx\n", 0, "Subject : obsolete space\r\n\r\nx\r\n" },
		/* body only: the separator goes first */
		{ "hello\n", 0, "\r\nhello\r\n" },
		{ "hello: world and more\n", 0, "hello: world and more\r\n\r\n" },
		{ "hello world: x\n", 0, "\r\nhello world: x\r\n" },
		{ " indented\nSubject: x\n", 0, "\r\n indented\r\nSubject: x\r\n" },
		{ "From me to you\n", 0, "\r\nFrom me to you\r\n" },
		/* a non-header line after headers starts the body */
		{ "Subject: x\nhello world\nmore\n", 0, "Subject: x\r\n\r\nhello world\r\nmore\r\n" },
		/* input ending inside the header block */
		{ "Subject: x\n", 0, "Subject: x\r\n\r\n" },
		{ "Subject: x", 0, "Subject: x\r\n\r\n" },
		{ "\n", 0, "\r\n" },
		{ "\n\n", 0, "\r\n\r\n" },
		/* dots: data without dot_ends_input */
		{ "Subject: x\n\na\n.\nb\n", 0, "Subject: x\r\n\r\na\r\n.\r\nb\r\n" },
		{ "Subject: x\n\na\n.\nb\n", 1, "Subject: x\r\n\r\na\r\n" },
		{ "Subject: x\n\na\r\n.\r\nb\n", 1, "Subject: x\r\n\r\na\r\n" },
		{ "Subject: x\n\n..\n. \n.x\n", 1, "Subject: x\r\n\r\n..\r\n. \r\n.x\r\n" },
		{ "Subject: x\n.\nb\n", 1, "Subject: x\r\n\r\n" },
		{ "Subject: x\n\nend\n.", 1, "Subject: x\r\n\r\nend\r\n" },
		{ ".\n", 1, "\r\n" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct msg_opts o = plain_opts();
		struct result r;
		size_t inlen = strlen(cases[i].in);

		o.dot_ends_input = cases[i].dot;
		run(cases[i].in, inlen, &o, &r);
		is_int(r.ret, 0, "read \"%s\"%s (%s)", show(cases[i].in, inlen),
		    cases[i].dot ? " with dot_ends_input" : "", r.e.msg);
		is_str(r.out, cases[i].want, "... gives \"%s\"", show(cases[i].want,
		    strlen(cases[i].want)));
		is_int(r.info.size, r.out_len, "... size counts the bytes written");
		is_int(r.info.lines, count_lf(r.out, r.out_len), "... lines counts them");
		result_free(&r);
	}
}

/* A dot line ends the input: message_read returns without waiting for
 * EOF (the writer keeps the pipe open), and what follows stays unread. */
static void
test_dot_leaves_rest(void)
{
	const char *in = "Subject: x\n\nbody\n.\n";
	struct msg_opts o = plain_opts();
	struct msg_info info;
	struct err e;
	int p[2];
	char rest[32] = "";
	ssize_t n;
	int devnull = open("/dev/null", O_WRONLY);

	o.dot_ends_input = 1;
	if (pipe(p) < 0 || write(p[1], in, strlen(in)) != (ssize_t)strlen(in))
		exit(99);
	msg_info_init(&info);
	alarm(20);      /* a reader that waits for EOF hangs here: fail, don't hang */
	is_int(message_read(p[0], devnull, &o, &info, &e), 0, "read up to the dot line, no EOF");
	alarm(0);
	is_int(info.size, strlen("Subject: x\r\n\r\nbody\r\n"), "... the dot is not written");
	if (write(p[1], "after\n", 6) != 6)
		exit(99);
	n = read(p[0], rest, sizeof rest - 1);
	is_str(n == 6 ? rest : "", "after\n", "... the rest of the input is left to the caller");
	msg_info_free(&info);
	close(p[0]);
	close(p[1]);
	close(devnull);
}

static char *
repeat(char c, size_t n, const char *prefix, const char *suffix)
{
	size_t pl = strlen(prefix), sl = strlen(suffix);
	char *s = malloc(pl + n + sl + 1);

	if (s == NULL)
		exit(99);
	memcpy(s, prefix, pl);
	memset(s + pl, c, n);
	memcpy(s + pl + n, suffix, sl + 1);
	return s;
}

static void
test_bad_input(void)
{
	char *l998 = repeat('x', 998, "Subject: x\n\n", "\n");
	char *l999 = repeat('x', 999, "Subject: x\n\n", "\n");
	char *l998cr = repeat('x', 998, "Subject: x\n\n", "\r\r\r\n");
	char *l998lone = repeat('h', 993, "X: ", "\r\rx\n\nbody\n");
	char *l998body = repeat('x', 997, "Subject: x\n\n", "\r\rx\n");
	char *h999 = repeat('h', 996, "X: ", "\n\nbody\n");
	char *nofinal = repeat('x', 999, "Subject: x\n\n", "");
	struct buf big;
	struct {
		const char *in;
		size_t len;
		const char *err;        /* NULL: accepted */
	} cases[] = {
		{ "", 0, "empty message" },
		{ "Subject: x\n\nab\0c\n", 17, "line 3: NUL byte" },
		{ "\0", 1, "line 1: NUL byte" },
		{ "Subject: x\0\n", 12, "line 1: NUL byte" },
		{ l998, strlen(l998), NULL },
		{ l999, strlen(l999), "line 3: longer than 998 octets" },
		{ l998cr, strlen(l998cr), NULL },
		/* lone CRs in a header are spaces and count; in the body they
		 * end lines */
		{ l998lone, strlen(l998lone), "line 1: longer than 998 octets" },
		{ l998body, strlen(l998body), NULL },
		{ h999, strlen(h999), "line 1: longer than 998 octets" },
		{ nofinal, strlen(nofinal), "line 3: longer than 998 octets" },
		{ NULL, 0, "header block longer than" },
	};

	/* A header block just over the limit, in 100-octet fields. */
	buf_init(&big, 2 * MSG_HEADER_MAX);
	while (big.len <= MSG_HEADER_MAX)
		buf_printf(&big, "X-Filler: %088d\n", 0);
	buf_puts(&big, "\nbody\n");
	cases[sizeof cases / sizeof cases[0] - 1].in = big.data;
	cases[sizeof cases / sizeof cases[0] - 1].len = big.len;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct msg_opts o = plain_opts();
		struct result r;

		run(cases[i].in, cases[i].len, &o, &r);
		if (cases[i].err == NULL) {
			is_int(r.ret, 0, "accept \"%s\" (%s)", show(cases[i].in, cases[i].len < 40 ? cases[i].len : 40), r.e.msg);
		} else {
			is_int(r.ret, -1, "refuse \"%s\"", show(cases[i].in, cases[i].len < 40 ? cases[i].len : 40));
			is_int(r.e.ex, EX_DATAERR, "... EX_DATAERR");
			ok(strstr(r.e.msg, cases[i].err) != NULL, "... \"%s\" in: %s", cases[i].err,
			    r.e.msg);
		}
		result_free(&r);
	}
	{
		struct msg_opts o = plain_opts();
		struct result r;
		run(big.data, 100 * 1000, &o, &r);
		is_int(r.ret, 0, "a 100 kB header block is fine (%s)", r.e.msg);
		result_free(&r);
	}
	buf_free(&big);
	free(l998);
	free(l999);
	free(l998cr);
	free(l998lone);
	free(l998body);
	free(h999);
	free(nofinal);
}

static void
test_io_errors(void)
{
	struct msg_opts o = plain_opts();
	struct msg_info info;
	struct err e;
	int rd = open("/dev/null", O_RDONLY), dir = open(".", O_RDONLY | O_DIRECTORY);
	int p[2];

	msg_info_init(&info);
	err_init(&e);
	is_int(message_read(dir, rd, &o, &info, &e), -1, "a read error fails");
	is_int(e.ex, EX_IOERR, "... EX_IOERR (%s)", e.msg);
	if (pipe(p) < 0 || write(p[1], "x\n", 2) != 2)
		exit(99);
	close(p[1]);
	is_int(message_read(p[0], rd, &o, &info, &e), -1, "a write error fails");
	is_int(e.ex, EX_IOERR, "... EX_IOERR (%s)", e.msg);
	ok(strstr(e.msg, "spool") != NULL, "... and says where");
	msg_info_free(&info);
	close(p[0]);
	close(rd);
	close(dir);
}

static void
test_headers(void)
{
	static const struct {
		const char *in;
		int set_from, remove_bcc;
		const char *from_addr, *default_from, *full_name;
		const char *want;
		const char *header_from;
	} cases[] = {
		/* From added when missing, at the end of the header block */
		{ "Subject: s\n\nb\n", 0, 0, "bob@example.org", NULL, NULL,
		  "Subject: s\r\nFrom: bob@example.org\r\n\r\nb\r\n", "bob@example.org" },
		{ "Subject: s\n\nb\n", 0, 0, "bob@example.org", NULL, "Bob Smith",
		  "Subject: s\r\nFrom: Bob Smith <bob@example.org>\r\n\r\nb\r\n", "bob@example.org" },
		{ "Subject: s\n\nb\n", 0, 0, "bob@example.org", NULL, "Smith, Bob \"B\"",
		  "Subject: s\r\nFrom: \"Smith, Bob \\\"B\\\"\" <bob@example.org>\r\n\r\nb\r\n",
		  "bob@example.org" },
		{ "Subject: s\n\nb\n", 0, 0, "bob@example.org", NULL, "J\xc3\xb6rg",
		  "Subject: s\r\nFrom: =?UTF-8?B?SsO2cmc=?= <bob@example.org>\r\n\r\nb\r\n",
		  "bob@example.org" },
		{ "Subject: s\n\nb\n", 0, 0, "", "user@example.org", NULL,
		  "Subject: s\r\nFrom: user@example.org\r\n\r\nb\r\n", "user@example.org" },
		{ "Subject: s\n\nb\n", 0, 0, NULL, "user@example.org", "Cron\nDaemon",
		  "Subject: s\r\nFrom: Cron Daemon <user@example.org>\r\n\r\nb\r\n",
		  "user@example.org" },
		{ "Subject: s\n\nb\n", 0, 0, "root", NULL, NULL,
		  "Subject: s\r\nFrom: root@example.org\r\n\r\nb\r\n", "root@example.org" },
		{ "Subject: s\n\nb\n", 0, 0, NULL, NULL, NULL, "Subject: s\r\n\r\nb\r\n", NULL },
		{ "body only\n", 0, 0, "bob@example.org", NULL, NULL,
		  "From: bob@example.org\r\n\r\nbody only\r\n", "bob@example.org" },
		/* an existing From is kept in auto mode */
		{ "From: Alice <alice@x.org>\nSubject: s\n\nb\n", 0, 0, "bob@example.org", NULL,
		  NULL, "From: Alice <alice@x.org>\r\nSubject: s\r\n\r\nb\r\n", "alice@x.org" },
		{ "from: alice@x.org\n\nb\n", 0, 0, "bob@example.org", NULL, NULL,
		  "from: alice@x.org\r\n\r\nb\r\n", "alice@x.org" },
		/* ... and replaced, continuation and all, with set_from on */
		{ "From: Alice\n <alice@x.org>\nSubject: s\n\nb\n", 1, 0, "bob@example.org", NULL,
		  NULL, "Subject: s\r\nFrom: bob@example.org\r\n\r\nb\r\n", "bob@example.org" },
		/* ... unless there is nothing to replace it with */
		{ "From: alice@x.org\n\nb\n", 1, 0, NULL, NULL, NULL,
		  "From: alice@x.org\r\n\r\nb\r\n", "alice@x.org" },
		/* off: never added */
		{ "Subject: s\n\nb\n", 2, 0, "bob@example.org", NULL, NULL,
		  "Subject: s\r\n\r\nb\r\n", NULL },
		/* cron's domainless From is qualified, comment kept */
		{ "From: root (Cron Daemon)\nTo: root\n\nb\n", 0, 0, "root", NULL, NULL,
		  "From: root@example.org (Cron Daemon)\r\nTo: root\r\n\r\nb\r\n",
		  "root@example.org" },
		{ "From: Cron Daemon <root>\n\nb\n", 2, 0, NULL, NULL, NULL,
		  "From: Cron Daemon <root@example.org>\r\n\r\nb\r\n", "root@example.org" },
		{ "From: root\n (systemd-cron)\n\nb\n", 0, 0, NULL, NULL, NULL,
		  "From: root@example.org\r\n (systemd-cron)\r\n\r\nb\r\n", "root@example.org" },
		/* a From that does not parse is left alone */
		{ "From: <<broken\n\nb\n", 0, 0, "bob@example.org", NULL, NULL,
		  "From: <<broken\r\n\r\nb\r\n", NULL },
		/* Bcc removal, folded continuation included */
		{ "To: a@x.org\nBcc: b@x.org,\n c@x.org\nSubject: s\n\nb\n", 2, 1, NULL, NULL, NULL,
		  "To: a@x.org\r\nSubject: s\r\n\r\nb\r\n", NULL },
		{ "To: a@x.org\nBCC: b@x.org\n\tc@x.org\n", 2, 1, NULL, NULL, NULL,
		  "To: a@x.org\r\n\r\n", NULL },
		{ "Resent-Bcc: b@x.org\nResent-To: r@x.org\nTo: a@x.org\n\nb\n", 2, 1, NULL, NULL,
		  NULL, "Resent-To: r@x.org\r\nTo: a@x.org\r\n\r\nb\r\n", NULL },
		{ "To: a@x.org\nBcc: b@x.org\n\nb\n", 2, 0, NULL, NULL, NULL,
		  "To: a@x.org\r\nBcc: b@x.org\r\n\r\nb\r\n", NULL },
		/* Bcc in the body is body */
		{ "To: a@x.org\n\nBcc: b@x.org\n", 2, 1, NULL, NULL, NULL,
		  "To: a@x.org\r\n\r\nBcc: b@x.org\r\n", NULL },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct msg_opts o = plain_opts();
		struct result r;
		size_t n = strlen(cases[i].in);

		o.set_from = cases[i].set_from;
		o.remove_bcc = cases[i].remove_bcc;
		o.from_addr = cases[i].from_addr;
		o.default_from = cases[i].default_from;
		o.full_name = cases[i].full_name;
		run(cases[i].in, n, &o, &r);
		is_int(r.ret, 0, "headers of \"%s\" (set_from %d) (%s)", show(cases[i].in, n),
		    cases[i].set_from, r.e.msg);
		is_str(r.out, cases[i].want, "... gives \"%s\"", show(r.out, r.out_len));
		is_str(r.info.header_from, cases[i].header_from, "... header_from");
		result_free(&r);
	}
}

static void
test_long_name(void)
{
	struct msg_opts o = plain_opts();
	char *name = repeat('n', MSG_FULL_NAME_MAX + 1, "", "");
	char *utf = malloc(2 * 100 + 1);
	struct result r;
	regex_t re;

	o.set_from = 0;
	o.from_addr = "bob@example.org";
	o.full_name = name;
	runs("x\n", &o, &r);
	is_int(r.ret, -1, "a full name over the limit is refused");
	is_int(r.e.ex, EX_USAGE, "... EX_USAGE (%s)", r.e.msg);
	result_free(&r);

	/* 100 two-octet characters: several encoded words, folded, none
	 * longer than 75 octets, no character split. */
	for (int i = 0; i < 100; i++)
		memcpy(utf + 2 * i, "\xc3\xa9", 2);
	utf[200] = '\0';
	o.full_name = utf;
	runs("x\n", &o, &r);
	is_int(r.ret, 0, "a long non-ASCII name is encoded (%s)", r.e.msg);
	regcomp(&re, "^From: (=\\?UTF-8\\?B\\?[A-Za-z0-9+/=]{1,63}\\?=\r\n )+"
	    "=\\?UTF-8\\?B\\?[A-Za-z0-9+/=]{1,63}\\?= <bob@example.org>\r\n\r\nx\r\n$",
	    REG_EXTENDED);
	ok(regexec(&re, r.out, 0, NULL, 0) == 0, "... as folded encoded words: %s",
	    show(r.out, r.out_len));
	ok(strstr(r.out, "=?UTF-8?B?w6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOp"
	    "w6nDqcOpw6nDqcOpw6k=?=") != NULL, "... 22 whole characters (44 octets) in the first word");
	regfree(&re);
	result_free(&r);
	free(name);
	free(utf);
}

static void
test_date_msgid(void)
{
	struct msg_opts o = plain_opts();
	struct result r, r2;
	regex_t date, mid, id;

	regcomp(&date, "^Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{1,2} "
	    "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
	    "[0-2][0-9]:[0-5][0-9]:[0-6][0-9] [+-][0-9]{4}\r$", REG_EXTENDED | REG_NEWLINE);
	regcomp(&mid, "^Message-ID: <[0-9a-f]{32}\\.[0-9]+@example\\.org>\r$",
	    REG_EXTENDED | REG_NEWLINE);
	regcomp(&id, "^[0-9a-f]{32}\\.[0-9]+@example\\.org$", REG_EXTENDED);

	o.set_date = 0;
	o.set_msgid = 0;
	runs("Subject: s\n\nb\n", &o, &r);
	is_int(r.ret, 0, "Date and Message-ID added (%s)", r.e.msg);
	ok(regexec(&date, r.out, 0, NULL, 0) == 0, "... Date is RFC 5322: %s",
	    show(r.out, r.out_len));
	ok(regexec(&mid, r.out, 0, NULL, 0) == 0, "... Message-ID is <hex.time@domain>");
	ok(r.info.message_id && regexec(&id, r.info.message_id, 0, NULL, 0) == 0,
	    "... info has the id without <>: %s", r.info.message_id ? r.info.message_id : "NULL");
	ok(strncmp(r.out, "Subject: s\r\n", 12) == 0 &&
	    strstr(r.out, "\r\n\r\nb\r\n") != NULL, "... after the existing fields");
	runs("Subject: s\n\nb\n", &o, &r2);
	ok(r.info.message_id && r2.info.message_id &&
	    strcmp(r.info.message_id, r2.info.message_id) != 0, "two ids differ");
	result_free(&r);
	result_free(&r2);

	runs("Date: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID:\n <abc.1@x.org> (c)\n\nb\n",
	    &o, &r);
	is_str(r.out, "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID:\r\n <abc.1@x.org> "
	    "(c)\r\n\r\nb\r\n", "existing Date and Message-ID kept, none added");
	is_str(r.info.message_id, "abc.1@x.org", "... the message's own id is reported");
	result_free(&r);

	runs("message-id: <first@x>\nMessage-Id: <second@x>\n\n", &o, &r);
	is_str(r.info.message_id, "first@x", "the first Message-ID field counts");
	result_free(&r);

	o.set_date = 2;
	runs("Subject: s\n\nb\n", &o, &r);
	ok(strstr(r.out, "Date:") == NULL, "set_date off adds no Date");
	ok(strstr(r.out, "Message-ID:") != NULL, "... but Message-ID is still added");
	result_free(&r);
	o.set_msgid = 2;
	runs("Subject: s\n\nb\n", &o, &r);
	ok(strstr(r.out, "Message-ID:") == NULL, "set_msgid off adds no Message-ID");
	ok(r.info.message_id == NULL, "... and reports none");
	result_free(&r);

	/* The id's domain: opts->domain, else the From domain, else localhost;
	 * a non-ASCII domain in A-labels. */
	o.set_msgid = 0;
	o.domain = "b\xc3\xbc" "cher.example";
	runs("x\n", &o, &r);
	ok(r.info.message_id && strstr(r.info.message_id, "@xn--bcher-kva.example"),
	    "IDN domain in A-labels: %s", r.info.message_id ? r.info.message_id : "NULL");
	result_free(&r);
	o.domain = NULL;
	runs("From: a@from.example\n\nx\n", &o, &r);
	ok(r.info.message_id && strstr(r.info.message_id, "@from.example"),
	    "no domain: the From domain: %s", r.info.message_id ? r.info.message_id : "NULL");
	result_free(&r);
	runs("x\n", &o, &r);
	ok(r.info.message_id && strstr(r.info.message_id, "@localhost"),
	    "no domain, no From: localhost");
	result_free(&r);
	o.domain = "bad domain";
	runs("x\n", &o, &r);
	is_int(r.ret, -1, "an unusable configured domain is an error");
	is_int(r.e.ex, EX_CONFIG, "... EX_CONFIG (%s)", r.e.msg);
	result_free(&r);

	regfree(&date);
	regfree(&mid);
	regfree(&id);
}

static void
test_extract(void)
{
	static const struct {
		const char *in;
		const char *want;       /* NULL: error */
		const char *err;
	} cases[] = {
		{ "To: a@x.org, B <b@x.org>\nCc: c@x.org\nBcc: d@x.org\nSubject: s\n\nbody\n",
		  "a@x.org|b@x.org|c@x.org|d@x.org", NULL },
		{ "TO: a@x.org\ncc: b@x.org\nbcc: c@x.org\n\n", "a@x.org|b@x.org|c@x.org", NULL },
		{ "To: a@x.org,\n b@x.org,\r\n\t(c) c@x.org\n\n", "a@x.org|b@x.org|c@x.org", NULL },
		{ "To: a@x.org\nCc: a@X.ORG, \"a\"@x.org\n\n", "a@x.org", NULL },
		{ "To: undisclosed-recipients:;\nBcc: b@x.org\n\n", "b@x.org", NULL },
		{ "To: root\n\n", "root", NULL },
		{ "Subject: s\n\nTo: z@x.org\n", "", NULL },
		{ "Subject: s\nnot a header\nTo: z@x.org\n", "", NULL },
		{ "Reply-To: r@x.org\nFrom: f@x.org\nSender: s@x.org\n\n", "", NULL },
		/* Resent-: only the first block counts, not To/Cc/Bcc */
		{ "Resent-From: r@x.org\nResent-To: new@x.org\nResent-Bcc: hidden@x.org\n"
		  "Resent-Date: Mon, 1 Jan 2024 00:00:00 +0000\n"
		  "Resent-From: old@x.org\nResent-To: older@x.org\n"
		  "To: orig@x.org\n\nb\n", "new@x.org|hidden@x.org", NULL },
		{ "Received: by x\nResent-To: n1@x.org\nResent-Cc: n2@x.org\nReceived: by y\n"
		  "Resent-To: o1@x.org\nTo: orig@x.org\n\n", "n1@x.org|n2@x.org", NULL },
		{ "Resent-Date: Mon, 1 Jan 2024 00:00:00 +0000\nResent-From: r@x.org\n"
		  "To: orig@x.org\n\n", "", NULL },
		{ "resent-to: n@x.org\nRESENT-CC: m@x.org\nTo: o@x.org\n\n", "n@x.org|m@x.org", NULL },
		/* syntax errors name the line and the field */
		{ "To: a@x.org b@x.org\n\n", NULL, "line 1: To: bad address syntax" },
		{ "Subject: s\nX: y\nCc: bad <\n\n", NULL, "line 3: Cc:" },
		{ "Subject: s\nTo: a@x.org,\n b@x.org\nBcc: <<\n\n", NULL, "line 4: Bcc:" },
		{ "Resent-To: ok@x.org, (\nTo: fine@x.org\n\n", NULL, "line 1: Resent-To:" },
		/* ... but only in the fields -t reads */
		{ "To: ok@x.org\nResent-Sender: ((\nCc: c@x.org\n\n", "", NULL },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct msg_opts o = plain_opts();
		struct result r;
		char got[512] = "";
		size_t n = strlen(cases[i].in), off = 0;

		o.extract_rcpts = 1;
		o.remove_bcc = 1;
		run(cases[i].in, n, &o, &r);
		if (cases[i].want == NULL) {
			is_int(r.ret, -1, "-t refuses \"%s\"", show(cases[i].in, n));
			is_int(r.e.ex, EX_DATAERR, "... EX_DATAERR");
			ok(strstr(r.e.msg, cases[i].err) != NULL, "... \"%s\" in: %s", cases[i].err,
			    r.e.msg);
		} else {
			is_int(r.ret, 0, "-t on \"%s\" (%s)", show(cases[i].in, n), r.e.msg);
			for (size_t k = 0; k < r.info.rcpts.n; k++)
				off += (size_t)snprintf(got + off, sizeof got - off, "%s%s",
				    k ? "|" : "", r.info.rcpts.v[k]);
			is_str(got, cases[i].want, "... finds \"%s\"", cases[i].want);
			ok(strstr(r.out, "Bcc:") == NULL && strstr(r.out, "bcc:") == NULL &&
			    strstr(r.out, "hidden@") == NULL, "... and no Bcc is written");
		}
		result_free(&r);
	}
	{
		/* Without -t nothing is parsed, even a broken To. */
		struct msg_opts o = plain_opts();
		struct result r;
		runs("To: a@x.org b@x.org\n\n", &o, &r);
		is_int(r.ret, 0, "without -t a bad To is passed through");
		is_int(r.info.rcpts.n, 0, "... and nothing is extracted");
		result_free(&r);
	}
}

static void
test_8bit(void)
{
	static const struct {
		const char *in;
		const char *full_name;
		int want;
	} cases[] = {
		{ "Subject: x\n\nplain\n", NULL, 0 },
		{ "Subject: x\n\nJ\xc3\xb6rg\n", NULL, 1 },
		{ "Subject: J\xc3\xb6rg\n\nplain\n", NULL, 1 },
		{ "Subject: x\n\nplain\n", "J\xc3\xb6rg", 0 },  /* the name is encoded */
		{ "Subject: x\n\n\x7f\n", NULL, 0 },
		{ "Subject: x\n\n\xff", NULL, 1 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct msg_opts o = plain_opts();
		struct result r;
		size_t n = strlen(cases[i].in);

		o.set_from = 0;
		o.from_addr = "bob@example.org";
		o.full_name = cases[i].full_name;
		run(cases[i].in, n, &o, &r);
		is_int(r.info.has_8bit, cases[i].want, "8-bit of \"%s\"%s", show(cases[i].in, n),
		    cases[i].full_name ? " with a UTF-8 name" : "");
		result_free(&r);
	}
}

static void
test_dotstuff(void)
{
	static const struct {
		const char *in, *want, *finish;
	} cases[] = {
		{ "a\r\n.b\r\n..c\r\n.\r\n", "a\r\n..b\r\n...c\r\n..\r\n", "" },
		{ ".x\r\n", "..x\r\n", "" },
		{ "", "", "" },
		{ "a", "a", "\r\n" },
		{ "a\r", "a\r", "\r\n" },
		{ "a\n.b\r\n", "a\n.b\r\n", "" },          /* LF alone is no line end */
		{ "a\r.b\r\n", "a\r.b\r\n", "" },          /* nor CR alone */
		{ "a\r\n.", "a\r\n..", "\r\n" },
		{ "\r\n.\r\n\r\n.", "\r\n..\r\n\r\n..", "\r\n" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *in = cases[i].in;
		size_t n = strlen(in), wl = strlen(cases[i].want);
		char out[128], fin[8];
		struct dotstuff d;
		size_t o, f;
		int bad = 0;

		dotstuff_init(&d);
		o = dotstuff_run(&d, in, n, out);
		f = dotstuff_finish(&d, fin);
		ok(o == wl && memcmp(out, cases[i].want, wl) == 0, "dot-stuff \"%s\" -> \"%s\"",
		    show(in, n), show(out, o));
		ok(f == strlen(cases[i].finish) && memcmp(fin, cases[i].finish, f) == 0,
		    "... finish \"%s\"", show(fin, f));
		/* Every split into two and three chunks gives the same bytes. */
		for (size_t a = 0; a <= n; a++) {
			for (size_t b = a; b <= n; b++) {
				dotstuff_init(&d);
				o = dotstuff_run(&d, in, a, out);
				o += dotstuff_run(&d, in + a, b - a, out + o);
				o += dotstuff_run(&d, in + b, n - b, out + o);
				f = dotstuff_finish(&d, fin);
				if (o != wl || memcmp(out, cases[i].want, wl) != 0 ||
				    f != strlen(cases[i].finish) ||
				    memcmp(fin, cases[i].finish, f) != 0)
					bad++;
			}
		}
		is_int(bad, 0, "... the same for every split into chunks");
	}
}

/* The spool copy of a big message, fed through a pipe in odd-sized writes,
 * must come out right with memory that does not follow its size. */
static void
test_streaming(void)
{
	/* Under valgrind the RSS says nothing and 50 MB takes minutes. */
	int vg = getenv("ENVOI_UNDER_VALGRIND") != NULL;
	unsigned long long body = vg ? 2ULL << 20 : 50ULL << 20;
	unsigned long long lines = body / 100;
	const char *hdr = "Subject: big\n\n";
	struct msg_opts o = plain_opts();
	struct msg_info info;
	struct rusage before, after;
	struct err e;
	int p[2], devnull = open("/dev/null", O_WRONLY);
	pid_t pid;
	int status, ret;

	/* Warm up so that one-time allocations are not counted. */
	{
		struct result r;
		runs("Subject: s\n\nb\n", &o, &r);
		result_free(&r);
	}
	getrusage(RUSAGE_SELF, &before);
	if (pipe(p) < 0 || (pid = fork()) < 0)
		exit(99);
	if (pid == 0) {
		char line[100], chunk[7 * 100 + 37];
		size_t fill = 0;

		close(p[0]);
		memset(line, 'x', 99);
		line[99] = '\n';
		if (write(p[1], hdr, strlen(hdr)) < 0)
			_exit(1);
		for (unsigned long long i = 0; i < lines; i++) {
			memcpy(chunk + fill, line, 100);
			fill += 100;
			/* Flush at an odd size so lines straddle reads. */
			if (fill > sizeof chunk - 100) {
				if (write(p[1], chunk, 333) != 333)
					_exit(1);
				memmove(chunk, chunk + 333, fill - 333);
				fill -= 333;
			}
		}
		if (fill && write(p[1], chunk, fill) != (ssize_t)fill)
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	msg_info_init(&info);
	ret = message_read(p[0], devnull, &o, &info, &e);
	close(p[0]);
	waitpid(pid, &status, 0);
	getrusage(RUSAGE_SELF, &after);
	is_int(ret, 0, "a %llu MB message is read (%s)", body >> 20, ret ? e.msg : "");
	is_int(WIFEXITED(status) && WEXITSTATUS(status) == 0, 1, "... the writer finished");
	is_int(info.size, strlen("Subject: big\r\n\r\n") + lines * 101, "... every byte spooled");
	is_int(info.lines, 2 + lines, "... every line");
	if (!vg)
		ok(after.ru_maxrss - before.ru_maxrss < 4096,
		    "... with flat memory: peak RSS grew by %ld kB", after.ru_maxrss -
		    before.ru_maxrss);
	msg_info_free(&info);
	close(devnull);
}

/* A stand-in for the aliases: root -> admin, team -> two addresses,
 * loop -> a configuration error; anything with a domain is not local. */
static int
fake_rewrite(void *ctx, const char *addr, struct addr_list *out, struct err *e)
{
	(void)ctx;
	if (strcmp(addr, "root") == 0 || strcmp(addr, "root@localhost") == 0)
		return addr_list_add(out, "admin@example.org", e) < 0 ? -1 : 1;
	if (strcmp(addr, "team") == 0)
		return addr_list_add(out, "a@x.org", e) < 0 || addr_list_add(out, "b@x.org", e) < 0 ?
		    -1 : 1;
	if (strcmp(addr, "loop") == 0)
		return err_set(e, EX_CONFIG, "aliases:1: alias loop: loop -> loop2 -> loop");
	if (strchr(addr, '@') == NULL)
		return addr_list_add(out, "x@example.org", e) < 0 ? -1 : 1;
	return 0;
}

/* rewrite_headers, force_from and set_sender_header. */
static void
test_policy(void)
{
	static const struct {
		const char *in;
		int rewrite, set_sender;
		const char *force, *sender;
		const char *want, *header_from;
	} cases[] = {
		/* rewrite: local addresses replaced, names and comments kept */
		{ "From: root (Cron Daemon)\nTo: root\nCc: team, bob@x.org\nSubject: root\n\nb\n",
		  1, 0, NULL, NULL,
		  "From: admin@example.org (Cron Daemon)\r\nTo: admin@example.org\r\n"
		  "Cc: a@x.org, b@x.org, bob@x.org\r\nSubject: root\r\n\r\nb\r\n",
		  "admin@example.org" },
		{ "To: Team <team>, \"R\" <root@localhost>\n\nb\n", 1, 0, NULL, NULL,
		  "To: Team <a@x.org>, <b@x.org>, \"R\" <admin@example.org>\r\n\r\nb\r\n", NULL },
		/* From and Sender take only the first address */
		{ "From: Team <team>\nSender: team\nReply-To: team\n\nb\n", 1, 0, NULL, NULL,
		  "From: Team <a@x.org>\r\nSender: a@x.org\r\nReply-To: a@x.org, b@x.org\r\n\r\nb\r\n",
		  "a@x.org" },
		{ "Resent-From: root\nResent-To: team\nTo: bob@x.org\n\nb\n", 1, 0, NULL, NULL,
		  "Resent-From: admin@example.org\r\nResent-To: a@x.org, b@x.org\r\n"
		  "To: bob@x.org\r\n\r\nb\r\n", NULL },
		/* a field that does not parse is kept; folds are kept */
		{ "To: <<broken root\nCc: bob@x.org,\n root\n\nb\n", 1, 0, NULL, NULL,
		  "To: <<broken root\r\nCc: bob@x.org,\r\n admin@example.org\r\n\r\nb\r\n", NULL },
		/* off: only a domainless From is qualified */
		{ "From: root\nTo: root\n\nb\n", 0, 0, NULL, NULL,
		  "From: root@example.org\r\nTo: root\r\n\r\nb\r\n", "root@example.org" },
		/* force_from: the address changes, the name stays, the
		 * original goes to Reply-To */
		{ "From: Cron Daemon <root@host.example>\nTo: x@y.org\n\nb\n", 0, 0,
		  "acct@example.org", NULL,
		  "From: Cron Daemon <acct@example.org>\r\nTo: x@y.org\r\n"
		  "Reply-To: Cron Daemon <root@host.example>\r\n\r\nb\r\n", "acct@example.org" },
		{ "From: alice@x.org\nReply-To: list@x.org\n\nb\n", 0, 0, "acct@example.org", NULL,
		  "From: acct@example.org\r\nReply-To: list@x.org\r\n\r\nb\r\n", "acct@example.org" },
		{ "From: Me <ACCT@example.org>\n\nb\n", 0, 0, "acct@example.org", NULL,
		  "From: Me <acct@example.org>\r\n\r\nb\r\n", "acct@example.org" },
		/* force_from: Sender and Resent-Sender go (the account is the
		 * sender now), Resent-From is forced as From is */
		{ "From: a@x.org, b@y.org\nSender: a@x.org\n\nb\n", 0, 0, "acct@example.org", NULL,
		  "From: acct@example.org\r\nReply-To: a@x.org, b@y.org\r\n\r\nb\r\n",
		  "acct@example.org" },
		{ "Resent-From: Ops <ops@x.org>\nResent-Sender: bot@x.org\nResent-To: c@y.org\n"
		  "From: Alice <alice@x.org>\nSender: Bot <bot@x.org>\n\nb\n", 0, 0, "acct@example.org",
		  NULL, "Resent-From: Ops <acct@example.org>\r\nResent-To: c@y.org\r\n"
		  "From: Alice <acct@example.org>\r\nReply-To: Alice <alice@x.org>\r\n\r\nb\r\n",
		  "acct@example.org" },
		{ "Resent-From: a@x.org, b@x.org\nFrom: acct@example.org\n\nb\n", 0, 0,
		  "acct@example.org", NULL,
		  "Resent-From: acct@example.org\r\nFrom: acct@example.org\r\n\r\nb\r\n",
		  "acct@example.org" },
		/* with set_sender_header on too: no Sender, the envelope is
		 * the forced From */
		{ "From: alice@x.org\nSender: old@x.org\n\nb\n", 0, 1, "acct@example.org",
		  "acct@example.org", "From: acct@example.org\r\nReply-To: alice@x.org\r\n\r\nb\r\n",
		  "acct@example.org" },
		{ "From: <<broken\n\nb\n", 0, 0, "acct@example.org", NULL,
		  "From: acct@example.org\r\n\r\nb\r\n", "acct@example.org" },
		/* rewrite and force together: Reply-To gets the alias */
		{ "From: root (Cron Daemon)\n\nb\n", 1, 0, "acct@example.org", NULL,
		  "From: acct@example.org (Cron Daemon)\r\n"
		  "Reply-To: admin@example.org (Cron Daemon)\r\n\r\nb\r\n", "acct@example.org" },
		/* set_sender_header on: one Sender when it differs from From */
		{ "From: alice@x.org\nSender: old@x.org\nSubject: s\n\nb\n", 0, 1, NULL,
		  "bounce@example.org",
		  "From: alice@x.org\r\nSubject: s\r\nSender: bounce@example.org\r\n\r\nb\r\n",
		  "alice@x.org" },
		{ "From: Alice <ALICE@x.org>\nSender: old@x.org\n\nb\n", 0, 1, NULL, "alice@x.org",
		  "From: Alice <ALICE@x.org>\r\n\r\nb\r\n", "ALICE@x.org" },
		{ "From: alice@x.org\n\nb\n", 0, 1, NULL, "",
		  "From: alice@x.org\r\n\r\nb\r\n", "alice@x.org" },
		/* off removes Sender; auto leaves it */
		{ "From: alice@x.org\nSender: old@x.org\n\nb\n", 0, 2, NULL, "bounce@example.org",
		  "From: alice@x.org\r\n\r\nb\r\n", "alice@x.org" },
		{ "From: alice@x.org\nSender: old@x.org\n\nb\n", 0, 0, NULL, "bounce@example.org",
		  "From: alice@x.org\r\nSender: old@x.org\r\n\r\nb\r\n", "alice@x.org" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct msg_opts o = plain_opts();
		struct result r;
		size_t n = strlen(cases[i].in);

		if (cases[i].rewrite)
			o.rewrite = fake_rewrite;
		o.set_sender = cases[i].set_sender;
		o.sender_addr = cases[i].sender;
		o.force_from = cases[i].force;
		run(cases[i].in, n, &o, &r);
		is_int(r.ret, 0, "policy %zu: \"%s\" (%s)", i, show(cases[i].in, n), r.e.msg);
		is_str(r.out, cases[i].want, "... gives \"%s\"", show(r.out, r.out_len));
		is_str(r.info.header_from, cases[i].header_from, "... header_from");
		result_free(&r);
	}
}

/* The callback's own error fails the message; a rewritten line that grows
 * past MSG_LINE_MAX is folded. */
static void
test_policy_limits(void)
{
	struct msg_opts o = plain_opts();
	struct result r;
	struct buf in;
	const char *p, *line;
	size_t longest = 0, commas = 0;

	o.rewrite = fake_rewrite;
	runs("To: bob@x.org, loop\n\nb\n", &o, &r);
	is_int(r.ret, -1, "a rewrite error fails the message");
	is_int(r.e.ex, EX_CONFIG, "... with its class (%s)", r.e.msg);
	result_free(&r);

	/* 150 bare names on one 900-octet line, each qualified to 13 more
	 * octets: the line must be folded, every address kept. */
	buf_init(&in, 4096);
	buf_puts(&in, "To: ");
	for (int i = 0; i < 150; i++)
		buf_printf(&in, "%sn%02d", i ? ", " : "", i % 100);
	buf_puts(&in, "\n\nb\n");
	runs(in.data, &o, &r);
	is_int(r.ret, 0, "a long rewritten To (%s)", r.e.msg);
	for (line = p = r.out; *p; p++) {
		if (*p == '\n') {
			if ((size_t)(p - line) > longest)
				longest = (size_t)(p - line);
			line = p + 1;
		}
		commas += *p == ',';
	}
	ok(longest <= MSG_LINE_MAX + 1, "... is folded: longest line %zu octets", longest);
	is_int(commas, 149, "... keeps every address");
	ok(strstr(r.out, "x@example.org,\r\n ") != NULL || strstr(r.out, "\r\n x@") != NULL,
	   "... folded at a blank");
	result_free(&r);
	buf_free(&in);
}

int
main(void)
{
	/* First, while the peak RSS is still low, so its growth means something. */
	test_streaming();
	test_normalise();
	test_dot_leaves_rest();
	test_bad_input();
	test_io_errors();
	test_headers();
	test_policy();
	test_policy_limits();
	test_long_name();
	test_date_msgid();
	test_extract();
	test_8bit();
	test_dotstuff();
	return done_testing();
}
