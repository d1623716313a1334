/* Unit tests for src/log.c: log_sanitize (C0, DEL, C1 controls and bytes
 * that are not UTF-8, issue 8 5.11) and that every line log.c prints goes
 * through it: stderr lines, the -v transcript, the logfile. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"

/* A printable rendering for test descriptions. */
static const char *
show(const char *s, size_t n)
{
	static char bufs[2][256];
	static int next;
	char *out = bufs[next++ % 2];
	size_t o = 0;

	for (size_t i = 0; i < n && o + 5 < sizeof bufs[0]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f)
			o += (size_t)snprintf(out + o, sizeof bufs[0] - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

static void
test_sanitize(void)
{
	static const struct {
		const char *in;
		size_t len;             /* 0: strlen */
		const char *want;
	} cases[] = {
		{ "250 2.0.0 Ok", 0, "250 2.0.0 Ok" },
		{ "a\tb", 0, "a\tb" },                          /* TAB is text */
		{ "a\r\nb", 0, "a??b" },
		{ "\x1b[31mred", 0, "?[31mred" },               /* ESC */
		{ "x\x7fy", 0, "x?y" },                         /* DEL */
		{ "a\0b", 3, "a?b" },                           /* NUL */
		/* C1 controls in UTF-8: CSI, the first and the last */
		{ "\xc2\x9b" "31mred\xc2\x9b" "0m", 0, "?31mred?0m" },
		{ "\xc2\x80|\xc2\x9f", 0, "?|?" },
		{ "\xc2\xa0nbsp", 0, "\xc2\xa0nbsp" },          /* U+00A0 is text */
		/* raw C1 bytes (a Latin-1 terminal's controls) */
		{ "\x9b" "31m", 0, "?31m" },
		{ "\x85\x90\x9d", 0, "???" },
		/* UTF-8 text is kept */
		{ "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x93\xa7", 0,
		  "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x93\xa7" },
		{ "\xe2\x80\xa8", 0, "\xe2\x80\xa8" },
		/* not UTF-8: each byte one '?' */
		{ "\xc3", 0, "?" },                              /* truncated */
		{ "\xc3(", 0, "?(" },
		{ "\xe6\x97", 0, "??" },
		{ "\xc0\xaf", 0, "??" },                         /* overlong '/' */
		{ "\xe0\x80\xaf", 0, "???" },
		{ "\xed\xa0\x80", 0, "???" },                    /* a surrogate */
		{ "\xf4\x90\x80\x80", 0, "????" },               /* past U+10FFFF */
		{ "\xff\xfe", 0, "??" },
		{ "", 0, "" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = cases[i].len ? cases[i].len : strlen(cases[i].in);
		char out[64], inplace[64];

		log_sanitize(out, sizeof out, cases[i].in, n);
		is_str(out, cases[i].want, "sanitize \"%s\" -> \"%s\"", show(cases[i].in, n),
		    show(cases[i].want, strlen(cases[i].want)));
		memcpy(inplace, cases[i].in, n);
		log_sanitize(inplace, sizeof inplace, inplace, n);
		is_str(inplace, cases[i].want, "... the same in place");
	}
}

static void
test_sanitize_size(void)
{
	char out[8];

	memset(out, 'x', sizeof out);
	log_sanitize(out, 5, "caf\xc3\xa9", 5);
	is_str(out, "caf", "a character that does not fit is left out whole");
	log_sanitize(out, 6, "caf\xc3\xa9", 5);
	is_str(out, "caf\xc3\xa9", "... and kept when it fits");
	log_sanitize(out, 3, "\xc2\x9b\xc2\x9b\xc2\x9b", 6);
	is_str(out, "??", "cut at size - 1 controls");
	out[0] = 'x';
	is_int(log_sanitize(out, 0, "abc", 3) == out, 1, "size 0 writes nothing");
	is_int(out[0], 'x', "... not even the NUL");
}

/* What a logger printed on its stderr stream. */
static char *
captured(FILE *f)
{
	long n;
	char *s;

	fflush(f);
	n = ftell(f);
	s = calloc(1, (size_t)n + 1);
	if (s == NULL)
		exit(99);
	rewind(f);
	if (fread(s, 1, (size_t)n, f) != (size_t)n)
		exit(99);
	return s;
}

static int
has_c1(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80 && (unsigned char)*s <= 0x9f)
			return 1;
	return 0;
}

static void
test_sinks(void)
{
	const char *hostile = "550 5.7.1 bad\xc2\x9b" "31mRED\x9b" "0m\x1b]0;title\x07";
	char logpath[] = "/tmp/envoi-log-test.XXXXXX";
	struct log l;
	FILE *err = tmpfile();
	char *got;
	int fd = mkstemp(logpath);

	if (err == NULL || fd < 0)
		exit(99);
	close(fd);
	log_init(&l, "envoi");
	l.err = err;
	l.verbose = 1;
	log_configure(&l, logpath, NULL);
	log_error(&l, "%s", hostile);
	log_warn(&l, "%s", hostile);
	log_debug(&l, "%s", hostile);
	log_proto(&l, LOG_RECV, hostile, strlen(hostile));
	log_event(&l, 1, "deferred: %s", hostile);
	log_close(&l);
	got = captured(err);
	ok(!has_c1(got) && strchr(got, '\x1b') == NULL && strchr(got, '\x07') == NULL,
	    "stderr (error, warning, debug, transcript): no control reaches it");
	ok(strstr(got, "envoi: 550 5.7.1 bad?31mRED?0m?]0;title?\n") != NULL,
	    "... each shown as ? (%s)", show(got, strlen(got)));
	ok(strstr(got, "<-- 550 5.7.1 bad?31mRED?0m?]0;title?\n") != NULL,
	    "... in the transcript too");
	free(got);
	fclose(err);
	{
		FILE *f = fopen(logpath, "r");
		char line[512] = "";

		if (f == NULL || fgets(line, sizeof line, f) == NULL)
			line[0] = '\0';
		if (f)
			fclose(f);
		ok(!has_c1(line) && strstr(line, "deferred: 550 5.7.1 bad?31mRED?0m?]0;title?\n"),
		    "logfile: the line sanitised (%s)", show(line, strlen(line)));
	}
	unlink(logpath);
}

int
main(void)
{
	test_sanitize();
	test_sanitize_size();
	test_sinks();
	return done_testing();
}
