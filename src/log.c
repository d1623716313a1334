/* log.c - see log.h. */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#include "buf.h"
#include "log.h"

void
log_init(struct log *l, const char *prog)
{
	memset(l, 0, sizeof *l);
	l->prog = prog;
	l->tag = prog;
	l->facility = LOG_MAIL;
	l->err = stderr;
}

static const struct {
	const char *name;
	int value;
} facilities[] = {
	{ "LOG_USER", LOG_USER },     { "LOG_MAIL", LOG_MAIL },
	{ "LOG_LOCAL0", LOG_LOCAL0 }, { "LOG_LOCAL1", LOG_LOCAL1 },
	{ "LOG_LOCAL2", LOG_LOCAL2 }, { "LOG_LOCAL3", LOG_LOCAL3 },
	{ "LOG_LOCAL4", LOG_LOCAL4 }, { "LOG_LOCAL5", LOG_LOCAL5 },
	{ "LOG_LOCAL6", LOG_LOCAL6 }, { "LOG_LOCAL7", LOG_LOCAL7 },
};

void
log_configure(struct log *l, const char *logfile, const char *syslog_arg)
{
	if (syslog_arg && strcmp(syslog_arg, "off") != 0) {
		l->use_syslog = 1;
		l->facility = LOG_USER;     /* msmtp's default for "on" */
		for (size_t i = 0; i < sizeof facilities / sizeof facilities[0]; i++)
			if (strcasecmp(syslog_arg, facilities[i].name) == 0)
				l->facility = facilities[i].value;
		openlog(l->tag, LOG_PID, l->facility);
	}
	if (logfile && *logfile) {
		if (strcmp(logfile, "-") == 0) {
			l->logfile = l->err;
		} else {
			l->logfile = fopen(logfile, "ae");
			if (l->logfile == NULL)
				log_warn(l, "cannot open logfile %s: %m", logfile);
		}
		free(l->logfile_path);
		l->logfile_path = str_dup(logfile);
	}
}

void
log_close(struct log *l)
{
	if (l->logfile && l->logfile != l->err)
		fclose(l->logfile);
	l->logfile = NULL;
	free(l->logfile_path);
	l->logfile_path = NULL;
	if (l->use_syslog)
		closelog();
	l->use_syslog = 0;
}

static void
vline(struct log *l, const char *kind, const char *fmt, va_list ap)
{
	char msg[ERR_MSG_MAX], clean[ERR_MSG_MAX];

	vsnprintf(msg, sizeof msg, fmt, ap);
	log_sanitize(clean, sizeof clean, msg, strlen(msg));
	fprintf(l->err, "%s: %s%s\n", l->prog, kind, clean);
	fflush(l->err);
}

void
log_warn(struct log *l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(l, "warning: ", fmt, ap);
	va_end(ap);
}

void
log_error(struct log *l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(l, "", fmt, ap);
	va_end(ap);
}

void
log_debug(struct log *l, const char *fmt, ...)
{
	va_list ap;

	if (!l->verbose)
		return;
	va_start(ap, fmt);
	vline(l, "", fmt, ap);
	va_end(ap);
}

/* The length of the well-formed UTF-8 sequence at p (RFC 3629 3: no
 * overlong forms, no surrogates, nothing past U+10FFFF), or 0. */
static size_t
utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t k;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		k = 2;
	else if (c >= 0xe0 && c <= 0xef)
		k = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		k = 4;
	else
		return 0;
	/* The second byte's range is what rules out the bad forms. */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < k || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < k; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return k;
}

char *
log_sanitize(char *dst, size_t size, const char *src, size_t len)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, o = 0;

	if (size == 0)
		return dst;
	while (i < len && o + 1 < size) {
		size_t k = utf8_seq(s + i, len - i);

		if (k == 0 || (k == 1 && ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)) ||
		    (k == 2 && s[i] == 0xc2 && s[i + 1] <= 0x9f)) {
			/* A control, or a byte no terminal may read as text
			 * (alone, 0x80-0x9f are C1 controls to a Latin-1 one). */
			dst[o++] = '?';
			i += k ? k : 1;
			continue;
		}
		if (o + k >= size)
			break;          /* never half a character */
		for (size_t j = 0; j < k; j++)
			dst[o++] = (char)s[i++];
	}
	dst[o] = '\0';
	return dst;
}

/* How much of a secret line may be shown: "AUTH MECH", nothing else. */
static size_t
secret_visible(const char *line, size_t len)
{
	size_t i = 0, words = 0;

	if (len < 5 || strncasecmp(line, "AUTH ", 5) != 0)
		return 0;
	while (i < len && words < 2) {
		while (i < len && line[i] == ' ')
			i++;
		while (i < len && line[i] != ' ')
			i++;
		words++;
	}
	return i;
}

void
log_proto(struct log *l, enum log_dir dir, const char *data, size_t len)
{
	const char *arrow = dir == LOG_RECV ? "<--" : "-->";
	char clean[1024];

	if (!l->verbose)
		return;
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t linelen = nl ? (size_t)(nl - data) + 1 : len;
		size_t show = linelen;

		while (show > 0 && (data[show - 1] == '\n' || data[show - 1] == '\r'))
			show--;
		if (dir == LOG_SEND_SECRET) {
			size_t vis = secret_visible(data, show);
			log_sanitize(clean, sizeof clean, data, vis);
			fprintf(l->err, "%s %s%s[redacted]\n", arrow, clean, vis ? " " : "");
		} else {
			log_sanitize(clean, sizeof clean, data, show);
			fprintf(l->err, "%s %s%s\n", arrow, clean,
			        show >= sizeof clean ? "..." : "");
		}
		data += linelen;
		len -= linelen;
	}
	fflush(l->err);
}

void
log_event(struct log *l, int failed, const char *fmt, ...)
{
	char msg[4096], clean[4096];
	va_list ap;

	if (!l->logfile && !l->use_syslog)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_sanitize(clean, sizeof clean, msg, strlen(msg));
	if (l->use_syslog)
		syslog(failed ? LOG_ERR : LOG_INFO, "%s", clean);
	if (l->logfile) {
		char stamp[64];
		time_t now = time(NULL);
		struct tm tm;

		localtime_r(&now, &tm);
		strftime(stamp, sizeof stamp, "%b %d %H:%M:%S", &tm);
		if (fprintf(l->logfile, "%s %s\n", stamp, clean) < 0 ||
		    fflush(l->logfile) != 0) {
			if (!l->logfile_failed)
				log_warn(l, "cannot write logfile %s: %m",
				         l->logfile_path ? l->logfile_path : "-");
			l->logfile_failed = 1;
		}
	}
}
