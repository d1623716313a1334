/*
 * Fuzz target: message intake, message_read on arbitrary stdin.
 * Input: one option byte (-i or not, -t or not, Bcc removal, the From,
 * Date and Message-ID modes, a display name), then the message.
 * Checks, on success: the spool copy has CRLF line ends only (no bare CR,
 * no bare LF), no line over 998 octets, no NUL, no Bcc or Resent-Bcc field
 * left when Bcc removal is on, a size and line count that match, and with
 * -t every extracted recipient is one line of text.
 */
#include "fuzz.h"

#include <strings.h>

#include "addr.h"
#include "message.h"

/* Is the header line a Bcc or Resent-Bcc field (name, optional blanks,
 * colon)? */
static int
is_bcc(const char *p, size_t len)
{
	size_t n = 0;

	while (n < len && p[n] != ':' && p[n] > 0x20 && p[n] < 0x7f)
		n++;
	size_t name = n;
	while (n < len && (p[n] == ' ' || p[n] == '\t'))
		n++;
	if (n >= len || p[n] != ':')
		return 0;
	return (name == 3 && strncasecmp(p, "bcc", 3) == 0) ||
	    (name == 10 && strncasecmp(p, "resent-bcc", 10) == 0);
}

static void
check_spool(const char *s, size_t n, const struct msg_opts *o, const struct msg_info *info)
{
	int in_header = 1;
	unsigned long long lines = 0;

	FUZZ_CHECK(n == info->size, "size %llu, wrote %zu", info->size, n);
	FUZZ_CHECK(n >= 2 && s[n - 2] == '\r' && s[n - 1] == '\n', "does not end in CRLF");
	FUZZ_CHECK(memchr(s, '\0', n) == NULL, "NUL in the spool");
	for (size_t i = 0; i < n;) {
		const char *lf = memchr(s + i, '\n', n - i);
		size_t len;

		FUZZ_CHECK(lf != NULL, "last line without LF");
		len = (size_t)(lf - (s + i));
		FUZZ_CHECK(len >= 1 && s[i + len - 1] == '\r', "bare LF at %zu", i + len);
		len--;
		FUZZ_CHECK(memchr(s + i, '\r', len) == NULL, "bare CR in line at %zu", i);
		FUZZ_CHECK(len <= MSG_LINE_MAX, "line of %zu octets at %zu", len, i);
		if (in_header && len == 0)
			in_header = 0;
		else if (in_header && o->remove_bcc)
			FUZZ_CHECK(!is_bcc(s + i, len), "Bcc left: %.*s", (int)len, s + i);
		lines++;
		i += len + 2;
	}
	FUZZ_CHECK(lines == info->lines, "lines %llu, counted %llu", info->lines, lines);
	for (size_t k = 0; k < info->rcpts.n; k++)
		FUZZ_CHECK(strpbrk(info->rcpts.v[k], "\r\n") == NULL && info->rcpts.v[k][0],
		    "recipient '%s'", info->rcpts.v[k]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	unsigned opt = fuzz_byte(&in), opt2 = fuzz_byte(&in);
	struct msg_opts o;
	struct msg_info info;
	struct err e;
	int in_fd, out_fd, rc;

	memset(&o, 0, sizeof o);
	o.dot_ends_input = opt & 1;
	o.extract_rcpts = (opt >> 1) & 1;
	o.remove_bcc = !((opt >> 2) & 1);
	o.set_from = (opt >> 3) & 3;
	o.set_date = (opt >> 5) & 1 ? 2 : 0;
	o.set_msgid = (opt >> 6) & 1 ? 2 : 0;
	o.default_from = "user@example.org";
	o.from_addr = (opt >> 7) & 1 ? "sender@b\xc3\xbc" "cher.example" : NULL;
	o.full_name = opt2 & 1 ? "Jos\xc3\xa9 \"Q\" Public, Esq." : NULL;
	o.domain = opt2 & 2 ? "example.org" : "xn--bcher-kva.example";
	o.set_sender = (opt2 >> 2) & 3;
	o.sender_addr = "envelope@example.org";
	o.force_from = opt2 & 0x10 ? "forced@example.org" : NULL;
	in_fd = fuzz_memfd(in.p, in.n);
	out_fd = fuzz_memfd("", 0);
	msg_info_init(&info);
	err_init(&e);
	rc = message_read(in_fd, out_fd, &o, &info, &e);
	if (rc == 0) {
		size_t n;
		char *s = fuzz_slurp(out_fd, &n);
		check_spool(s, n, &o, &info);
		free(s);
	} else {
		FUZZ_CHECK(rc == -1 && e.ex != 0 && e.msg[0], "rc %d ex %d", rc, e.ex);
		FUZZ_CHECK(e.ex != EX_SOFTWARE, "EX_SOFTWARE: %s", e.msg);
	}
	msg_info_free(&info);
	close(in_fd);
	close(out_fd);
	return 0;
}
