/*
 * Unit tests for src/oauth2loop.c: base64url, the S256 challenge (RFC
 * 7636 appendix B's example), the judging of redirect requests, and one
 * real redirect over loopback.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "oauth2loop.h"
#include "tap.h"

static void
test_encoding(void)
{
	static const unsigned char bytes[] = { 0xfb, 0xff, 0x01, 'a' };
	char out[16], ch[OAUTH2LOOP_B64_32];

	oauth2loop_b64url(bytes, 0, out);
	is_str(out, "", "b64url: nothing");
	oauth2loop_b64url(bytes, 1, out);
	is_str(out, "-w", "b64url: one byte, no padding");
	oauth2loop_b64url(bytes, 3, out);
	is_str(out, "-_8B", "b64url: - and _ for 62 and 63");
	oauth2loop_b64url(bytes, 4, out);
	is_str(out, "-_8BYQ", "b64url: four bytes");
	is_int(oauth2loop_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", ch),
	    0, "challenge: computed");
	is_str(ch, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
	    "challenge: RFC 7636 appendix B");
}

static const struct {
	const char *req;
	enum oauth2loop_verdict want;
	const char *out;
} requests[] = {
	{ "GET /?code=abc&state=S1 HTTP/1.1\r\nHost: x\r\n\r\n", OAUTH2LOOP_CODE, "abc" },
	{ "GET /?state=S1&code=a%2Fb+c HTTP/1.1\r\n\r\n", OAUTH2LOOP_CODE, "a/b c" },
	{ "GET /?code=abc&state=S2 HTTP/1.1\r\n\r\n", OAUTH2LOOP_BAD_STATE, NULL },
	{ "GET /?code=abc HTTP/1.1\r\n\r\n", OAUTH2LOOP_BAD_STATE, NULL },
	{ "GET /?code=abc&state=S1x HTTP/1.1\r\n\r\n", OAUTH2LOOP_BAD_STATE, NULL },
	{ "GET /?code=abc&xstate=S1 HTTP/1.1\r\n\r\n", OAUTH2LOOP_BAD_STATE, NULL },
	{ "GET / HTTP/1.1\r\n\r\n", OAUTH2LOOP_BAD_STATE, NULL },
	{ "GET /favicon.ico HTTP/1.1\r\n\r\n", OAUTH2LOOP_NOT_FOUND, NULL },
	{ "GET /x?code=abc&state=S1 HTTP/1.1\r\n\r\n", OAUTH2LOOP_NOT_FOUND, NULL },
	{ "POST /?code=abc&state=S1 HTTP/1.1\r\n\r\n", OAUTH2LOOP_BAD_REQUEST, NULL },
	{ "GET /?code=abc&state=S1\r\n\r\n", OAUTH2LOOP_BAD_REQUEST, NULL },
	{ "GET /?state=S1&error=access_denied HTTP/1.1\r\n\r\n", OAUTH2LOOP_ERROR,
	  "access_denied" },
	{ "GET /?state=S1 HTTP/1.1\r\n\r\n", OAUTH2LOOP_BAD_REQUEST, NULL },
	{ "GET /?state=S1&code= HTTP/1.1\r\n\r\n", OAUTH2LOOP_BAD_REQUEST, NULL },
	{ "GET /?state=S1&code=a%00b HTTP/1.1\r\n\r\n", OAUTH2LOOP_BAD_REQUEST, NULL },
	{ "GET /?state=S1&code=a%4 HTTP/1.1\r\n\r\n", OAUTH2LOOP_BAD_REQUEST, NULL },
	{ "GET /?state=S%31&code=c HTTP/1.1\r\n\r\n", OAUTH2LOOP_CODE, "c" },
};

static void
test_parse(void)
{
	for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
		char *out = NULL;
		enum oauth2loop_verdict v = oauth2loop_parse(requests[i].req, "S1", &out);

		is_int(v, requests[i].want, "parse %zu: verdict", i);
		is_str(out, requests[i].out, "parse %zu: value", i);
		free(out);
	}
}

/* A child plays the browser: a stray request, one with a wrong state,
 * then the redirect. */
static void
browse(unsigned port, const char *state)
{
	const char *reqs[3] = { "GET /favicon.ico HTTP/1.1\r\n\r\n",
	    "GET /?code=forged&state=wrong HTTP/1.1\r\n\r\n", NULL };
	char right[256], answer[1024];

	snprintf(right, sizeof right, "GET /?code=the-code&state=%s HTTP/1.1\r\n"
	    "Host: 127.0.0.1\r\n\r\n", state);
	reqs[2] = right;
	for (int i = 0; i < 3; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET,
		    .sin_port = htons((unsigned short)port) };
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		ssize_t n;

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
		    write(fd, reqs[i], strlen(reqs[i])) < 0)
			_exit(10 + i);
		n = read(fd, answer, sizeof answer - 1);
		if (n < 12)
			_exit(20 + i);
		answer[n] = '\0';
		if (strncmp(answer + 9, i == 0 ? "404" : i == 1 ? "400" : "200", 3) != 0)
			_exit(30 + i);
		close(fd);
	}
	_exit(0);
}

static void
test_redirect(void)
{
	struct oauth2_loop l;
	struct err e;
	char *code = NULL;
	pid_t pid;
	int status = -1;

	err_init(&e);
	if (!ok(oauth2loop_open(&l, &e) == 0, "open: listening (%s)", e.msg))
		return;
	ok(l.port > 0 && strlen(l.state) == 43 && strlen(l.verifier) == 43,
	    "open: a port, a 43-character state and verifier");
	fflush(stdout);         /* the child must not print the TAP again */
	pid = fork();
	if (pid == 0)
		browse(l.port, l.state);
	is_int(oauth2loop_wait(&l, time(NULL) + 20, &code, &e), 0,
	    "wait: the redirect with the right state (%s)", e.msg);
	is_str(code, "the-code", "wait: its code, after a stray and a forged request");
	ok(l.fd < 0, "wait: the listener is closed after one redirect");
	waitpid(pid, &status, 0);
	is_int(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0,
	    "the browser got 404, 400, then 200");
	free(code);
	oauth2loop_close(&l);
	ok(l.verifier[0] == '\0', "close: the verifier is wiped");

	err_init(&e);
	if (oauth2loop_open(&l, &e) == 0) {
		is_int(oauth2loop_wait(&l, time(NULL) + 1, &code, &e), -1,
		    "wait: nothing came back");
		is_int(e.ex, EX_NOPERM, "wait: deadline passed: 77");
		oauth2loop_close(&l);
	}
}

int
main(void)
{
	test_encoding();
	test_parse();
	test_redirect();
	return done_testing();
}
