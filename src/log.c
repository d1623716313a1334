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
		l->logfile_path = xstrdup(logfile);
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

char *
log_sanitize(char *dst, size_t size, const char *src, size_t len)
{
	size_t i;

	if (size == 0)
		return dst;
	for (i = 0; i < len && i + 1 < size; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = (c < 0x20 && c != '\t') || c == 0x7f ? '?' : (char)c;
	}
	dst[i] = '\0';
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
