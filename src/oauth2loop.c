/*
 * oauth2loop.c - PKCE and the loopback redirect (oauth2loop.h).
 *
 * RFC 7636 (PKCE, S256), RFC 8252 section 7.3 (loopback interface
 * redirection), RFC 6749 section 4.1.2 (the authorization response),
 * RFC 4648 section 5 (base64url), RFC 9112 (only the request line).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "buf.h"
#include "oauth2loop.h"

void
oauth2loop_b64url(const unsigned char *in, size_t n, char *out)
{
	static const char abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		unsigned long v = (unsigned long)in[i] << 16;
		size_t left = n - i;

		if (left > 1)
			v |= (unsigned long)in[i + 1] << 8;
		if (left > 2)
			v |= in[i + 2];
		out[o++] = abc[(v >> 18) & 63];
		out[o++] = abc[(v >> 12) & 63];
		if (left > 1)
			out[o++] = abc[(v >> 6) & 63];
		if (left > 2)
			out[o++] = abc[v & 63];
	}
	out[o] = '\0';
}

int
oauth2loop_challenge(const char *verifier, char *out)
{
	unsigned char h[32];

	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, verifier, strlen(verifier), h) < 0)
		return -1;
	oauth2loop_b64url(h, sizeof h, out);
	return 0;
}

/* 32 random bytes, base64url. */
static int
random_b64(char *out)
{
	unsigned char r[32];

	if (gnutls_rnd(GNUTLS_RND_KEY, r, sizeof r) < 0)
		return -1;
	oauth2loop_b64url(r, sizeof r, out);
	mem_wipe(r, sizeof r);
	return 0;
}

int
oauth2loop_open(struct oauth2_loop *l, struct err *e)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;

	memset(l, 0, sizeof *l);
	l->fd = -1;
	if (random_b64(l->state) < 0 || random_b64(l->verifier) < 0 ||
	    oauth2loop_challenge(l->verifier, l->challenge) < 0)
		return err_set(e, EX_OSERR, "no random bytes for the login");
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = 0;
	l->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (l->fd < 0 || bind(l->fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(l->fd, 8) < 0 ||
	    getsockname(l->fd, (struct sockaddr *)&sa, &len) < 0) {
		err_set(e, EX_OSERR, "cannot listen on 127.0.0.1 for the "
		    "login's redirect: %s", strerror(errno));
		oauth2loop_close(l);
		return -1;
	}
	l->port = ntohs(sa.sin_port);
	return 0;
}

void
oauth2loop_close(struct oauth2_loop *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	mem_wipe(l->state, sizeof l->state);
	mem_wipe(l->verifier, sizeof l->verifier);
}

/* The value of key in a query string (s up to end), percent-decoded
 * ('+' is a space, as forms encode it); NULL when absent or malformed
 * (a bad %XX or an encoded NUL). *nomem on allocation failure. */
static char *
query_get(const char *s, const char *end, const char *key, int *nomem)
{
	size_t klen = strlen(key);

	while (s < end) {
		const char *amp = memchr(s, '&', (size_t)(end - s));
		const char *stop = amp ? amp : end;

		if ((size_t)(stop - s) > klen && memcmp(s, key, klen) == 0 &&
		    s[klen] == '=') {
			char *v = malloc((size_t)(stop - s)), *o = v;

			if (v == NULL) {
				*nomem = 1;
				return NULL;
			}
			for (const char *p = s + klen + 1; p < stop; p++) {
				char hex[3];

				if (*p != '%') {
					*o++ = *p == '+' ? ' ' : *p;
					continue;
				}
				if (p + 2 >= stop || !isxdigit((unsigned char)p[1]) ||
				    !isxdigit((unsigned char)p[2]) ||
				    (p[1] == '0' && p[2] == '0')) {
					free(v);
					return NULL;
				}
				memcpy(hex, p + 1, 2);
				hex[2] = '\0';
				*o++ = (char)strtol(hex, NULL, 16);
				p += 2;
			}
			*o = '\0';
			return v;
		}
		s = stop + 1;
	}
	return NULL;
}

enum oauth2loop_verdict
oauth2loop_parse(const char *req, const char *state, char **out)
{
	const char *path, *sp, *q;
	char *got, *v;
	int nomem = 0, same;

	*out = NULL;
	if (strncmp(req, "GET ", 4) != 0)
		return OAUTH2LOOP_BAD_REQUEST;
	path = req + 4;
	sp = strchr(path, ' ');
	if (sp == NULL || strncmp(sp, " HTTP/1.", 8) != 0)
		return OAUTH2LOOP_BAD_REQUEST;
	q = memchr(path, '?', (size_t)(sp - path));
	if ((q ? q : sp) - path != 1 || path[0] != '/')
		return OAUTH2LOOP_NOT_FOUND;
	if (q == NULL)
		return OAUTH2LOOP_BAD_STATE;
	got = query_get(q + 1, sp, "state", &nomem);
	same = got && strcmp(got, state) == 0;
	free(got);
	if (nomem)
		return OAUTH2LOOP_NOMEM;
	if (!same)
		return OAUTH2LOOP_BAD_STATE;
	if ((v = query_get(q + 1, sp, "code", &nomem)) != NULL && *v) {
		*out = v;
		return OAUTH2LOOP_CODE;
	}
	free(v);
	if ((v = query_get(q + 1, sp, "error", &nomem)) != NULL && *v) {
		*out = v;
		return OAUTH2LOOP_ERROR;
	}
	free(v);
	return nomem ? OAUTH2LOOP_NOMEM : OAUTH2LOOP_BAD_REQUEST;
}

/* Wait for fd to be ready for events until deadline_ms (monotonic-free:
 * wall seconds are enough at this scale). 1 ready, 0 timed out, -1 error. */
static int
wait_fd(int fd, short events, time_t deadline)
{
	struct pollfd p = { fd, events, 0 };
	time_t now = time(NULL);
	int r;

	if (now >= deadline)
		return 0;
	do
		r = poll(&p, 1, (int)(deadline - now) * 1000);
	while (r < 0 && errno == EINTR);
	return r;
}

/* Read a request head (up to the blank line) from c into b, NUL-ended. */
static int
read_head(int c, char *b, size_t size, time_t deadline)
{
	size_t n = 0;

	while (n + 1 < size) {
		ssize_t r;

		if (wait_fd(c, POLLIN, deadline) <= 0)
			return -1;
		r = read(c, b + n, size - 1 - n);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			return -1;
		n += (size_t)r;
		b[n] = '\0';
		if (strstr(b, "\r\n\r\n") || strstr(b, "\n\n"))
			return 0;
	}
	return -1;              /* longer than OAUTH2LOOP_REQUEST_MAX */
}

/* The answer to the browser: a status and one sentence. */
static void
answer(int c, const char *status, const char *text)
{
	char page[512];
	int n = snprintf(page, sizeof page, "HTTP/1.1 %s\r\n"
	    "Content-Type: text/html; charset=utf-8\r\n"
	    "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
	    "<!DOCTYPE html><html><head><title>envoi</title></head>"
	    "<body><p>%s</p></body></html>\n", status, text);

	if (n > 0 && (size_t)n < sizeof page)
		(void)send(c, page, (size_t)n, MSG_NOSIGNAL);
}

/* Serve one connection: 1 with *code or *error set, 0 to keep waiting,
 * -1 out of memory. */
static int
serve_one(struct oauth2_loop *l, int c, time_t deadline, char **code,
    char **error)
{
	char *req = malloc(OAUTH2LOOP_REQUEST_MAX);
	time_t until = time(NULL) + OAUTH2LOOP_CONN_TIMEOUT;
	char *v = NULL;
	int r = 0;

	if (req == NULL)
		return -1;
	if (read_head(c, req, OAUTH2LOOP_REQUEST_MAX, until < deadline ? until :
	    deadline) < 0) {
		answer(c, "400 Bad Request", "envoi: not a request it understands.");
	} else {
		switch (oauth2loop_parse(req, l->state, &v)) {
		case OAUTH2LOOP_CODE:
			answer(c, "200 OK", "envoi: signed in. You can close this "
			    "window and return to the terminal.");
			*code = v;
			r = 1;
			break;
		case OAUTH2LOOP_ERROR:
			answer(c, "200 OK", "envoi: the sign-in did not succeed; "
			    "the terminal says why.");
			*error = v;
			r = 1;
			break;
		case OAUTH2LOOP_NOT_FOUND:
			answer(c, "404 Not Found", "envoi: nothing here.");
			break;
		case OAUTH2LOOP_NOMEM:
			r = -1;
			break;
		default:
			answer(c, "400 Bad Request", "envoi: this is not the "
			    "redirect of the sign-in it started.");
			break;
		}
	}
	mem_wipe(req, OAUTH2LOOP_REQUEST_MAX);
	free(req);
	return r;
}

/* The provider's error code, cut to printable characters for a message. */
static int
provider_error(const char *error, struct err *e)
{
	char clean[64];
	size_t i;

	for (i = 0; error[i] && i + 1 < sizeof clean; i++)
		clean[i] = error[i] > ' ' && error[i] < 0x7f ? error[i] : '?';
	clean[i] = '\0';
	return err_set(e, EX_NOPERM, "the sign-in did not succeed (%s)", clean);
}

int
oauth2loop_wait(struct oauth2_loop *l, time_t deadline, char **code,
    struct err *e)
{
	char *error = NULL;
	int r = 0;

	*code = NULL;
	while (r == 0) {
		int c, ready = wait_fd(l->fd, POLLIN, deadline);

		if (ready == 0)
			return err_set(e, EX_NOPERM, "no sign-in came back in time; "
			    "run envoi --oauth2-login again");
		if (ready < 0)
			return err_set(e, EX_OSERR, "waiting for the login's "
			    "redirect: %s", strerror(errno));
		c = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (c < 0)
			continue;       /* the client went away; keep waiting */
		r = serve_one(l, c, deadline, code, &error);
		close(c);
	}
	/* Exactly one redirect: nobody else gets an answer. The verifier
	 * stays for the code exchange (oauth2loop_close wipes it). */
	close(l->fd);
	l->fd = -1;
	if (r < 0)
		return err_set(e, EX_OSERR, "out of memory");
	if (error) {
		provider_error(error, e);
		free(error);
		return -1;
	}
	return 0;
}
