/* envelope.c - see envelope.h. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "envelope.h"

static const struct {
	const char *name;
	unsigned bit;
} notify_names[] = {
	{ "SUCCESS", ENVELOPE_NOTIFY_SUCCESS },
	{ "FAILURE", ENVELOPE_NOTIFY_FAILURE },
	{ "DELAY", ENVELOPE_NOTIFY_DELAY },
};
#define NNOTIFY (sizeof notify_names / sizeof notify_names[0])

void
envelope_init(struct envelope *env)
{
	memset(env, 0, sizeof *env);
}

int
envelope_notify_parse(const char *s, unsigned *out)
{
	unsigned bits = 0;

	if (s == NULL || *s == '\0')
		return -1;
	if (strcasecmp(s, "NEVER") == 0) {
		*out = ENVELOPE_NOTIFY_NEVER;
		return 0;
	}
	for (;;) {
		size_t n = strcspn(s, ","), k;

		for (k = 0; k < NNOTIFY; k++)
			if (strlen(notify_names[k].name) == n &&
			    strncasecmp(s, notify_names[k].name, n) == 0)
				break;
		/* Unknown, empty ("A,,B", "A,") or repeated: RFC 3461 4.1
		 * allows each keyword once. */
		if (k == NNOTIFY || (bits & notify_names[k].bit))
			return -1;
		bits |= notify_names[k].bit;
		if (s[n] == '\0')
			break;
		s += n + 1;
	}
	*out = bits;
	return 0;
}

const char *
envelope_notify_text(unsigned notify, char *dst, size_t size)
{
	size_t off = 0;

	if (size == 0)
		return dst;
	dst[0] = '\0';
	if (notify & ENVELOPE_NOTIFY_NEVER) {
		snprintf(dst, size, "NEVER");
		return dst;
	}
	for (size_t k = 0; k < NNOTIFY; k++) {
		int w;

		if (!(notify & notify_names[k].bit))
			continue;
		w = snprintf(dst + off, size - off, "%s%s", off ? "," : "", notify_names[k].name);
		if (w < 0 || (size_t)w >= size - off)
			break;
		off += (size_t)w;
	}
	return dst;
}

int
envelope_ret_parse(const char *s, enum envelope_ret *out)
{
	if (s && strcasecmp(s, "FULL") == 0)
		*out = ENVELOPE_RET_FULL;
	else if (s && (strcasecmp(s, "HDRS") == 0 || strcasecmp(s, "headers") == 0))
		*out = ENVELOPE_RET_HDRS;
	else
		return -1;
	return 0;
}

const char *
envelope_ret_text(enum envelope_ret ret)
{
	switch (ret) {
	case ENVELOPE_RET_FULL:
		return "FULL";
	case ENVELOPE_RET_HDRS:
		return "HDRS";
	case ENVELOPE_RET_UNSET:
	default:
		return NULL;
	}
}

int
envelope_set_envid(struct envelope *env, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > ENVELOPE_ENVID_MAX)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return -1;
	memcpy(env->envid, s, n + 1);
	return 0;
}

enum envelope_body
envelope_body_parse(const char *s)
{
	if (s && strcasecmp(s, "7BIT") == 0)
		return ENVELOPE_BODY_7BIT;
	if (s && strcasecmp(s, "8BITMIME") == 0)
		return ENVELOPE_BODY_8BITMIME;
	return ENVELOPE_BODY_UNSET;
}

const char *
envelope_body_text(enum envelope_body body)
{
	switch (body) {
	case ENVELOPE_BODY_7BIT:
		return "7BIT";
	case ENVELOPE_BODY_8BITMIME:
		return "8BITMIME";
	case ENVELOPE_BODY_UNSET:
	default:
		return NULL;
	}
}

int
envelope_format(const struct envelope *env, struct buf *b)
{
	char notify[64];
	int r = 0;

	if (env->notify)
		r |= buf_printf(b, "dsn-notify %s\n",
		                envelope_notify_text(env->notify, notify, sizeof notify));
	if (env->ret != ENVELOPE_RET_UNSET)
		r |= buf_printf(b, "dsn-ret %s\n", envelope_ret_text(env->ret));
	if (env->envid[0])
		r |= buf_printf(b, "envid %s\n", env->envid);
	if (env->body != ENVELOPE_BODY_UNSET)
		r |= buf_printf(b, "body %s\n", envelope_body_text(env->body));
	if (env->smtputf8 != ENVELOPE_UTF8_UNSET)
		r |= buf_printf(b, "smtputf8 %s\n", env->smtputf8 == ENVELOPE_UTF8_YES ? "yes" : "no");
	if (env->requiretls)
		r |= buf_puts(b, "requiretls yes\n");
	return r < 0 ? -1 : 0;
}

int
envelope_read(struct envelope *env, const char *key, const char *value, const char **why)
{
	const char *bad = NULL;

	if (strcmp(key, "dsn-notify") == 0 || strcmp(key, "notify") == 0) {
		if (envelope_notify_parse(value, &env->notify) < 0)
			bad = "bad DSN notify value (NEVER, or SUCCESS, FAILURE, DELAY)";
	} else if (strcmp(key, "dsn-ret") == 0 || strcmp(key, "ret") == 0) {
		if (envelope_ret_parse(value, &env->ret) < 0)
			bad = "bad DSN ret value (FULL or HDRS)";
	} else if (strcmp(key, "envid") == 0) {
		if (envelope_set_envid(env, value) < 0)
			bad = "bad envid (1 to 100 printable ASCII characters)";
	} else if (strcmp(key, "body") == 0) {
		env->body = envelope_body_parse(value);
	} else if (strcmp(key, "smtputf8") == 0) {
		if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0)
			bad = "bad smtputf8 value (yes or no)";
		else
			env->smtputf8 = value[0] == 'y' ? ENVELOPE_UTF8_YES : ENVELOPE_UTF8_NO;
	} else if (strcmp(key, "requiretls") == 0) {
		/* Anything but "no" keeps the request: failing safe. */
		env->requiretls = strcmp(value, "no") != 0;
	} else {
		return 0;
	}
	if (bad)
		*why = bad;
	return bad ? -1 : 1;
}
