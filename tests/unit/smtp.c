/*
 * Unit tests for src/smtp.c: the state machine fed with canned replies.
 * Each scenario names the account's parameters, then the steps: a server
 * reply (lines separated by '|'), the TLS handshake finishing, or the body
 * finishing; and after each step the action the engine must return and
 * the exact bytes it must have queued. Then the outcome: exit class, words
 * the error must contain, the reply code behind it, recipient statuses.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "reply.h"
#include "smtp.h"
#include "tap.h"

/* ------------------------------------------------------------ fake SASL */

/* A test double of the session's SASL glue: a scripted exchange. */
struct fake_sasl {
	const char *mech;
	const char *initial;            /* NULL = none */
	const char *responses[4];       /* one per challenge */
	int fail_start, fail_step;      /* 1 = return -1 there */
	int retry;                      /* what retry answers (0: fail) */
	int nretries;                   /* times retry was asked */
	/* what the engine told us */
	char mechs[CAPS_AUTH_MAX];
	char challenges[4][64];
	int nsteps;
};

static int
fake_start(void *ctx, const char *server_mechs, const char **mech, char **initial,
           struct err *e)
{
	struct fake_sasl *f = ctx;

	snprintf(f->mechs, sizeof f->mechs, "%s", server_mechs);
	if (f->fail_start)
		return err_set(e, EX_UNAVAILABLE, "no usable mechanism among %s", server_mechs);
	*mech = f->mech;
	*initial = f->initial ? str_dup(f->initial) : NULL;
	return 0;
}

static int
fake_step(void *ctx, const char *challenge, char **response, struct err *e)
{
	struct fake_sasl *f = ctx;

	if (f->nsteps < 4)
		snprintf(f->challenges[f->nsteps], sizeof f->challenges[0], "%s", challenge);
	if (f->fail_step || f->nsteps >= 4 || f->responses[f->nsteps] == NULL)
		return err_set(e, EX_NOPERM, "SASL step failed");
	*response = str_dup(f->responses[f->nsteps++]);
	return 0;
}

static int
loop_step(void *ctx, const char *challenge, char **response, struct err *e)
{
	*response = str_dup("YQ==");
	return 0;
}

static int
refuse_finish(void *ctx, struct err *e)
{
	return err_set(e, EX_PROTOCOL, "server claimed success without proof");
}

/* The session refreshes a refused OAuth token and asks for AUTH again. */
static int
fake_retry(void *ctx, struct err *e)
{
	struct fake_sasl *f = ctx;

	f->nretries++;
	return f->retry;
}

static const struct smtp_auth_ops fake_ops = { fake_start, fake_step, NULL, fake_retry };

/* ------------------------------------------------------------ scenarios */

enum kind { END = 0, R, TLS, BODY };

struct step {
	enum kind kind;
	const char *reply;              /* R: lines separated by '|' */
	enum smtp_action act;
	const char *out;                /* exact bytes queued by this step */
	int secret;                     /* smtp_output_is_secret() expected */
};

#define MAXSTEPS 16
#define MAXRCPT 3

struct scenario {
	const char *name;
	int tls, auth, has_8bit;
	unsigned long long size;
	struct smtp_addr from;
	struct smtp_addr rcpts[MAXRCPT];
	size_t nrcpts;
	struct envelope opts;
	struct fake_sasl sasl;
	struct step steps[MAXSTEPS];
	/* outcome */
	int ex;
	const char *msg[3];             /* substrings of the error message */
	int smtp_code;
	size_t accepted;
	int rcpt_code[MAXRCPT];         /* per recipient, as recorded */
	int rcpt_ex[MAXRCPT];
	enum smtp_state state;          /* final state */
};

#define A(x) { x, x }                           /* an ASCII address */
#define FROM A("a@x.example")
#define B A("b@y.example")
#define C A("c@z.example")

#define GREET "220 mx.example.org ESMTP"
#define EHLO_OUT "EHLO client.example\r\n"
#define QUIT "QUIT\r\n"

static const struct scenario scenarios[] = {
	{
		.name = "STARTTLS + AUTH PLAIN with PIPELINING, two recipients",
		.tls = SMTP_TLS_STARTTLS, .auth = 1, .size = 1234,
		.from = FROM, .rcpts = { B, C }, .nrcpts = 2,
		.sasl = { .mech = "PLAIN", .initial = "AHVzZXIAcGFzcw==" },
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx.example.org|250-PIPELINING|250-STARTTLS|250 8BITMIME",
			  SMTP_SEND, "STARTTLS\r\n", 0 },
			{ R, "220 2.0.0 Ready to start TLS", SMTP_STARTTLS, "", 0 },
			{ TLS, NULL, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx.example.org|250-PIPELINING|250-SIZE 1000000|250-AUTH PLAIN LOGIN|"
			     "250 ENHANCEDSTATUSCODES",
			  SMTP_SEND, "AUTH PLAIN AHVzZXIAcGFzcw==\r\n", 1 },
			{ R, "235 2.7.0 Authentication successful", SMTP_SEND,
			  "MAIL FROM:<a@x.example> SIZE=1234\r\nRCPT TO:<b@y.example>\r\n"
			  "RCPT TO:<c@z.example>\r\nDATA\r\n", 0 },
			{ R, "250 2.1.0 Ok", SMTP_READ, "", 0 },
			{ R, "250 2.1.5 Ok", SMTP_READ, "", 0 },
			{ R, "250 2.1.5 Ok", SMTP_READ, "", 0 },
			{ R, "354 End data with <CR><LF>.<CR><LF>", SMTP_BODY, "", 0 },
			{ BODY, NULL, SMTP_SEND, ".\r\n" QUIT, 0 },
			{ R, "250 2.0.0 Ok: queued as 4AbC", SMTP_DONE, "", 0 },
		},
		.accepted = 2, .rcpt_code = { 250, 250 }, .state = SMTP_STATE_QUIT,
	},
	{
		.name = "no PIPELINING: one command per round trip, QUIT after the end of data",
		.size = 10,
		.from = FROM, .rcpts = { B, C }, .nrcpts = 2,
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx.example.org|250 SIZE", SMTP_SEND,
			  "MAIL FROM:<a@x.example> SIZE=10\r\n", 0 },
			{ R, "250 ok", SMTP_SEND, "RCPT TO:<b@y.example>\r\n", 0 },
			{ R, "250 ok", SMTP_SEND, "RCPT TO:<c@z.example>\r\n", 0 },
			{ R, "251 will forward", SMTP_SEND, "DATA\r\n", 0 },
			{ R, "354 go ahead", SMTP_BODY, "", 0 },
			{ BODY, NULL, SMTP_SEND, ".\r\n", 0 },
			{ R, "250 queued", SMTP_DONE, QUIT, 0 },
			/* a session that reads the 221 anyway */
			{ R, "221 bye", SMTP_DONE, "", 0 },
		},
		.accepted = 2, .rcpt_code = { 250, 251 }, .state = SMTP_STATE_DONE,
	},
	{
		.name = "implicit TLS, multi-step AUTH LOGIN",
		.tls = SMTP_TLS_IMPLICIT, .auth = 1,
		.from = FROM, .rcpts = { B }, .nrcpts = 1,
		.sasl = { .mech = "LOGIN", .responses = { "dXNlcg==", "cGFzcw==" } },
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx.example.org|250-AUTH=LOGIN|250 AUTH LOGIN PLAIN", SMTP_SEND,
			  "AUTH LOGIN\r\n", 1 },
			{ R, "334 VXNlcm5hbWU6", SMTP_SEND, "dXNlcg==\r\n", 1 },
			{ R, "334 UGFzc3dvcmQ6", SMTP_SEND, "cGFzcw==\r\n", 1 },
			{ R, "235 ok", SMTP_SEND, "MAIL FROM:<a@x.example>\r\n", 0 },
			{ R, "250 ok", SMTP_SEND, "RCPT TO:<b@y.example>\r\n", 0 },
			{ R, "250 ok", SMTP_SEND, "DATA\r\n", 0 },
			{ R, "354 go", SMTP_BODY, "", 0 },
			{ BODY, NULL, SMTP_SEND, ".\r\n", 0 },
			{ R, "250 ok", SMTP_DONE, QUIT, 0 },
		},
		.accepted = 1, .rcpt_code = { 250 }, .state = SMTP_STATE_QUIT,
	},
	{
		.name = "empty initial response is sent as '='",
		.tls = SMTP_TLS_IMPLICIT, .auth = 1,
		.from = FROM, .rcpts = { B }, .nrcpts = 1,
		.sasl = { .mech = "EXTERNAL", .initial = "" },
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx|250 AUTH EXTERNAL", SMTP_SEND, "AUTH EXTERNAL =\r\n", 1 },
			{ R, "235 ok", SMTP_SEND, "MAIL FROM:<a@x.example>\r\n", 0 },
		},
		.state = SMTP_STATE_MAIL,
	},
	{
		.name = "HELO fallback when EHLO is not understood",
		.has_8bit = 1, .size = 99,
		.from = A(""), .rcpts = { B }, .nrcpts = 1,
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "502 5.5.2 Error: command not recognized", SMTP_SEND,
			  "HELO client.example\r\n", 0 },
			{ R, "250 mx.example.org", SMTP_SEND, "MAIL FROM:<>\r\n", 0 },
			{ R, "250 ok", SMTP_SEND, "RCPT TO:<b@y.example>\r\n", 0 },
		},
		.state = SMTP_STATE_RCPT,
	},
	{
		.name = "no HELO fallback when STARTTLS is required",
		.tls = SMTP_TLS_STARTTLS,
		.from = FROM, .rcpts = { B }, .nrcpts = 1,
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "500 5.5.1 what?", SMTP_FAIL, QUIT, 0 },
		},
		.ex = EX_UNAVAILABLE, .smtp_code = 500,
		.msg = { "cannot offer the required STARTTLS", "500 5.5.1 what? (in reply to EHLO)" },
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "no HELO fallback when AUTH is required",
		.tls = SMTP_TLS_IMPLICIT, .auth = 1,
		.from = FROM, .rcpts = { B }, .nrcpts = 1,
		.sasl = { .mech = "PLAIN", .initial = "x" },
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "502 no", SMTP_FAIL, QUIT, 0 },
		},
		.ex = EX_UNAVAILABLE, .smtp_code = 502,
		.msg = { "server mx.example.org does not support EHLO", "AUTH", "(in reply to EHLO)" },
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "HELO refused",
		.from = FROM, .rcpts = { B }, .nrcpts = 1,
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "500 no", SMTP_SEND, "HELO client.example\r\n", 0 },
			{ R, "501 5.5.4 bad name", SMTP_FAIL, QUIT, 0 },
		},
		.ex = EX_UNAVAILABLE, .smtp_code = 501,
		.msg = { "501 5.5.4 bad name (in reply to HELO)" },
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "STARTTLS required but not offered: never plaintext",
		.tls = SMTP_TLS_STARTTLS, .auth = 1,
		.from = FROM, .rcpts = { B }, .nrcpts = 1,
		.sasl = { .mech = "PLAIN", .initial = "x" },
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx|250-PIPELINING|250 AUTH PLAIN", SMTP_FAIL, QUIT, 0 },
		},
		.ex = EX_UNAVAILABLE,
		.msg = { "server mx.example.org does not offer STARTTLS" },
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "STARTTLS refused with 454",
		.tls = SMTP_TLS_STARTTLS,
		.from = FROM, .rcpts = { B }, .nrcpts = 1,
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx|250 STARTTLS", SMTP_SEND, "STARTTLS\r\n", 0 },
			{ R, "454 4.7.0 TLS not available", SMTP_FAIL, QUIT, 0 },
		},
		.ex = EX_TEMPFAIL, .smtp_code = 454,
		.msg = { "454 4.7.0 TLS not available (in reply to STARTTLS)" },
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "capabilities are forgotten after STARTTLS",
		.tls = SMTP_TLS_STARTTLS, .auth = 1,
		.from = FROM, .rcpts = { B }, .nrcpts = 1,
		.sasl = { .mech = "PLAIN", .initial = "x" },
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx|250-STARTTLS|250 AUTH PLAIN", SMTP_SEND, "STARTTLS\r\n", 0 },
			{ R, "220 go", SMTP_STARTTLS, "", 0 },
			{ TLS, NULL, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx|250 PIPELINING", SMTP_FAIL, QUIT, 0 },
		},
		.ex = EX_UNAVAILABLE,
		.msg = { "does not offer AUTH" },
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "SIZE exceeded: refused before MAIL",
		.size = 2000,
		.from = FROM, .rcpts = { B }, .nrcpts = 1,
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx|250-PIPELINING|250 SIZE 1000", SMTP_FAIL, QUIT, 0 },
		},
		.ex = EX_UNAVAILABLE,
		.msg = { "message is 2000 bytes, server limit is 1000" },
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "SIZE 0 means no limit; 8BITMIME not offered: no BODY=; DSN not offered",
		.size = 2000, .has_8bit = 1,
		.from = FROM, .rcpts = { B }, .nrcpts = 1,
		.opts = { .notify = ENVELOPE_NOTIFY_FAILURE, .ret = ENVELOPE_RET_HDRS, .envid = "abc" },
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx|250-PIPELINING|250 SIZE 0", SMTP_SEND,
			  "MAIL FROM:<a@x.example> SIZE=2000\r\nRCPT TO:<b@y.example>\r\nDATA\r\n", 0 },
		},
		.state = SMTP_STATE_MAIL,
	},
	{
		.name = "SIZE=, BODY=8BITMIME, SMTPUTF8 and DSN parameters",
		.size = 1234, .has_8bit = 1,
		.from = { "j\xc3\xb6rg@x.example", NULL },
		.rcpts = { { "b@b\xc3\xbc" "cher.example", "b@xn--bcher-kva.example" } }, .nrcpts = 1,
		.opts = { .notify = ENVELOPE_NOTIFY_FAILURE | ENVELOPE_NOTIFY_DELAY,
		          .ret = ENVELOPE_RET_HDRS, .envid = "id+1=x y" },
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx|250-PIPELINING|250-SIZE 0|250-8BITMIME|250-SMTPUTF8|250 DSN", SMTP_SEND,
			  "MAIL FROM:<j\xc3\xb6rg@x.example> SIZE=1234 BODY=8BITMIME SMTPUTF8 RET=HDRS "
			  "ENVID=id+2B1+3Dx+20y\r\n"
			  "RCPT TO:<b@b\xc3\xbc" "cher.example> NOTIFY=FAILURE,DELAY\r\nDATA\r\n", 0 },
		},
		.state = SMTP_STATE_MAIL,
	},
	{
		.name = "IDN domain without SMTPUTF8: the A-label form is sent",
		.from = FROM,
		.rcpts = { { "b@b\xc3\xbc" "cher.example", "b@xn--bcher-kva.example" } }, .nrcpts = 1,
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx|250-PIPELINING|250 8BITMIME", SMTP_SEND,
			  "MAIL FROM:<a@x.example>\r\nRCPT TO:<b@xn--bcher-kva.example>\r\nDATA\r\n", 0 },
		},
		.state = SMTP_STATE_MAIL,
	},
	{
		.name = "partial recipients: one refused, one accepted, body sent",
		.from = FROM, .rcpts = { B, C }, .nrcpts = 2,
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx|250 PIPELINING", SMTP_SEND,
			  "MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nRCPT TO:<c@z.example>\r\n"
			  "DATA\r\n", 0 },
			{ R, "250 ok", SMTP_READ, "", 0 },
			{ R, "550 5.1.1 <b@y.example>: user unknown", SMTP_READ, "", 0 },
			{ R, "250 ok", SMTP_READ, "", 0 },
			{ R, "354 go", SMTP_BODY, "", 0 },
			{ BODY, NULL, SMTP_SEND, ".\r\n" QUIT, 0 },
			{ R, "250 queued", SMTP_DONE, "", 0 },
		},
		.accepted = 1, .rcpt_code = { 550, 250 }, .rcpt_ex = { EX_NOUSER, 0 },
		.state = SMTP_STATE_QUIT,
	},
	{
		.name = "all recipients refused (pipelined): no body, EX_NOUSER",
		.from = FROM, .rcpts = { B, C }, .nrcpts = 2,
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx|250 PIPELINING", SMTP_SEND,
			  "MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nRCPT TO:<c@z.example>\r\n"
			  "DATA\r\n", 0 },
			{ R, "250 ok", SMTP_READ, "", 0 },
			{ R, "550 5.1.1 user unknown", SMTP_READ, "", 0 },
			{ R, "553 5.1.3 bad address", SMTP_READ, "", 0 },
			{ R, "554 5.5.1 Error: no valid recipients", SMTP_FAIL, QUIT, 0 },
		},
		.ex = EX_NOUSER, .smtp_code = 550,
		.msg = { "all 2 recipients refused, e.g. <b@y.example>: 550 5.1.1 user unknown "
		         "(in reply to RCPT TO)" },
		.rcpt_code = { 550, 553 }, .rcpt_ex = { EX_NOUSER, EX_NOUSER },
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "all refused, one temporarily: EX_TEMPFAIL",
		.from = FROM, .rcpts = { B, C }, .nrcpts = 2,
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250 mx", SMTP_SEND, "MAIL FROM:<a@x.example>\r\n", 0 },
			{ R, "250 ok", SMTP_SEND, "RCPT TO:<b@y.example>\r\n", 0 },
			{ R, "550 5.1.1 user unknown", SMTP_SEND, "RCPT TO:<c@z.example>\r\n", 0 },
			{ R, "450 4.2.0 mailbox busy", SMTP_FAIL, QUIT, 0 },
		},
		.ex = EX_TEMPFAIL, .smtp_code = 450,
		.msg = { "<c@z.example>: 450 4.2.0 mailbox busy (in reply to RCPT TO)" },
		.rcpt_code = { 550, 450 }, .rcpt_ex = { EX_NOUSER, EX_TEMPFAIL },
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "the only recipient refused without PIPELINING: DATA never sent",
		.from = FROM, .rcpts = { B }, .nrcpts = 1,
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250 mx", SMTP_SEND, "MAIL FROM:<a@x.example>\r\n", 0 },
			{ R, "250 ok", SMTP_SEND, "RCPT TO:<b@y.example>\r\n", 0 },
			{ R, "550 5.1.1 user unknown", SMTP_FAIL, QUIT, 0 },
		},
		.ex = EX_NOUSER, .smtp_code = 550,
		.msg = { "<b@y.example>: 550 5.1.1 user unknown (in reply to RCPT TO)" },
		.rcpt_code = { 550 }, .rcpt_ex = { EX_NOUSER },
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "all refused but pipelined DATA got 354: only the terminator is sent",
		.from = FROM, .rcpts = { B }, .nrcpts = 1,
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx|250 PIPELINING", SMTP_SEND,
			  "MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\n", 0 },
			{ R, "250 ok", SMTP_READ, "", 0 },
			{ R, "550 5.1.1 user unknown", SMTP_READ, "", 0 },
			{ R, "354 go ahead anyway", SMTP_FAIL, ".\r\n" QUIT, 0 },
		},
		.ex = EX_NOUSER, .smtp_code = 550,
		.msg = { "<b@y.example>: 550 5.1.1 user unknown (in reply to RCPT TO)" },
		.rcpt_code = { 550 }, .rcpt_ex = { EX_NOUSER },
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "421 greeting: EX_TEMPFAIL, no QUIT",
		.from = FROM, .rcpts = { B }, .nrcpts = 1,
		.steps = {
			{ R, "421 4.3.2 mx.example.org busy, try later", SMTP_FAIL, "", 0 },
		},
		.ex = EX_TEMPFAIL, .smtp_code = 421,
		.msg = { "421 4.3.2 mx.example.org busy, try later (in reply to greeting)" },
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "554 greeting: EX_UNAVAILABLE, QUIT",
		.from = FROM, .rcpts = { B }, .nrcpts = 1,
		.steps = {
			{ R, "554-mx.example.org no SMTP service here|554 go away", SMTP_FAIL, QUIT, 0 },
		},
		.ex = EX_UNAVAILABLE, .smtp_code = 554,
		.msg = { "554 mx.example.org no SMTP service here; go away (in reply to greeting)" },
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "AUTH 535: EX_NOPERM",
		.tls = SMTP_TLS_IMPLICIT, .auth = 1,
		.from = FROM, .rcpts = { B }, .nrcpts = 1,
		.sasl = { .mech = "PLAIN", .initial = "AHUAcA==" },
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx|250 AUTH PLAIN", SMTP_SEND, "AUTH PLAIN AHUAcA==\r\n", 1 },
			{ R, "535 5.7.8 Error: authentication failed", SMTP_FAIL, QUIT, 0 },
		},
		.ex = EX_NOPERM, .smtp_code = 535,
		.msg = { "authentication failed: 535 5.7.8 Error: authentication failed "
		         "(in reply to AUTH)" },
		.state = SMTP_STATE_FAILED,
	},
	{
		/* RFC 7628 3.2.2: the error challenge, the client's dummy
		 * reply, 535; the token is refreshed and AUTH runs again on
		 * the same connection. */
		.name = "OAUTHBEARER refused, then AUTH again with a refreshed token",
		.tls = 2, .auth = 1,
		.from = FROM, .rcpts = { B }, .nrcpts = 1,
		.sasl = { .mech = "OAUTHBEARER", .initial = "bixhPWE=", .responses = { "AQ==" },
		          .retry = 1 },
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx|250 AUTH OAUTHBEARER", SMTP_SEND, "AUTH OAUTHBEARER bixhPWE=\r\n", 1 },
			{ R, "334 eyJzdGF0dXMiOiI0MDEifQ==", SMTP_SEND, "AQ==\r\n", 1 },
			{ R, "535 5.7.8 token expired", SMTP_SEND, "AUTH OAUTHBEARER bixhPWE=\r\n", 1 },
			{ R, "235 2.7.0 ok", SMTP_SEND, "MAIL FROM:<a@x.example>\r\n", 0 },
			{ R, "553 5.7.1 no", SMTP_FAIL, QUIT, 0 },
		},
		.ex = EX_UNAVAILABLE, .smtp_code = 553, .msg = { "(in reply to MAIL FROM)" },
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "XOAUTH2 refused twice: AUTH runs again once only",
		.tls = 2, .auth = 1,
		.from = FROM, .rcpts = { B }, .nrcpts = 1,
		.sasl = { .mech = "XOAUTH2", .initial = "dXNlcj1h", .retry = 1 },
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx|250 AUTH XOAUTH2", SMTP_SEND, "AUTH XOAUTH2 dXNlcj1h\r\n", 1 },
			{ R, "535 5.7.8 no", SMTP_SEND, "AUTH XOAUTH2 dXNlcj1h\r\n", 1 },
			{ R, "535 5.7.8 still no", SMTP_FAIL, QUIT, 0 },
		},
		.ex = EX_NOPERM, .smtp_code = 535,
		.msg = { "authentication failed: 535 5.7.8 still no (in reply to AUTH)" },
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "AUTH 454: EX_TEMPFAIL",
		.tls = SMTP_TLS_IMPLICIT, .auth = 1,
		.from = FROM, .rcpts = { B }, .nrcpts = 1,
		.sasl = { .mech = "PLAIN", .initial = "AHUAcA==" },
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx|250 AUTH PLAIN", SMTP_SEND, "AUTH PLAIN AHUAcA==\r\n", 1 },
			{ R, "454 4.7.0 Temporary authentication failure", SMTP_FAIL, QUIT, 0 },
		},
		.ex = EX_TEMPFAIL, .smtp_code = 454,
		.msg = { "authentication failed: 454 4.7.0 Temporary authentication failure "
		         "(in reply to AUTH)" },
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "SASL step fails: the exchange is cancelled with '*'",
		.tls = SMTP_TLS_IMPLICIT, .auth = 1,
		.from = FROM, .rcpts = { B }, .nrcpts = 1,
		.sasl = { .mech = "LOGIN", .fail_step = 1 },
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx|250 AUTH LOGIN", SMTP_SEND, "AUTH LOGIN\r\n", 1 },
			{ R, "334 VXNlcm5hbWU6", SMTP_FAIL, "*\r\n" QUIT, 0 },
		},
		.ex = EX_NOPERM, .msg = { "SASL step failed" },
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "no usable mechanism: the callback's error travels up",
		.tls = SMTP_TLS_IMPLICIT, .auth = 1,
		.from = FROM, .rcpts = { B }, .nrcpts = 1,
		.sasl = { .fail_start = 1 },
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx|250 AUTH GSSAPI", SMTP_FAIL, QUIT, 0 },
		},
		.ex = EX_UNAVAILABLE, .msg = { "no usable mechanism among GSSAPI" },
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "non-ASCII local part without SMTPUTF8: that recipient fails, the rest go",
		.from = FROM, .rcpts = { { "\xc3\xbc@y.example", NULL }, B }, .nrcpts = 2,
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx|250 PIPELINING", SMTP_SEND,
			  "MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\n", 0 },
			{ R, "250 ok", SMTP_READ, "", 0 },
			{ R, "250 ok", SMTP_READ, "", 0 },
			{ R, "354 go", SMTP_BODY, "", 0 },
		},
		.accepted = 1, .rcpt_code = { 0, 250 }, .rcpt_ex = { EX_UNAVAILABLE, 0 },
		.state = SMTP_STATE_BODY,
	},
	{
		.name = "non-ASCII local part, the only recipient: nothing is sent",
		.from = FROM, .rcpts = { { "\xc3\xbc@y.example", NULL } }, .nrcpts = 1,
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx|250 PIPELINING", SMTP_FAIL, QUIT, 0 },
		},
		.ex = EX_UNAVAILABLE,
		.msg = { "<\xc3\xbc@y.example>: non-ASCII local part needs SMTPUTF8, which the server "
		         "does not offer" },
		.rcpt_ex = { EX_UNAVAILABLE },
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "non-ASCII sender without SMTPUTF8: the message fails",
		.from = { "j\xc3\xb6rg@x.example", NULL }, .rcpts = { B }, .nrcpts = 1,
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx|250 8BITMIME", SMTP_FAIL, QUIT, 0 },
		},
		.ex = EX_UNAVAILABLE,
		.msg = { "sender <j\xc3\xb6rg@x.example>: non-ASCII local part needs SMTPUTF8" },
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "MAIL refused",
		.from = FROM, .rcpts = { B }, .nrcpts = 1,
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250 mx", SMTP_SEND, "MAIL FROM:<a@x.example>\r\n", 0 },
			{ R, "553 5.7.1 <a@x.example>: Sender address rejected", SMTP_FAIL, QUIT, 0 },
		},
		.ex = EX_UNAVAILABLE, .smtp_code = 553,
		.msg = { "553 5.7.1 <a@x.example>: Sender address rejected (in reply to MAIL FROM)" },
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "DATA refused temporarily",
		.from = FROM, .rcpts = { B }, .nrcpts = 1,
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250 mx", SMTP_SEND, "MAIL FROM:<a@x.example>\r\n", 0 },
			{ R, "250 ok", SMTP_SEND, "RCPT TO:<b@y.example>\r\n", 0 },
			{ R, "250 ok", SMTP_SEND, "DATA\r\n", 0 },
			{ R, "451 4.3.0 try later", SMTP_FAIL, QUIT, 0 },
		},
		.ex = EX_TEMPFAIL, .smtp_code = 451, .accepted = 1,
		.msg = { "451 4.3.0 try later (in reply to DATA)" },
		.rcpt_code = { 250 },
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "end of data refused (QUIT already pipelined)",
		.from = FROM, .rcpts = { B }, .nrcpts = 1,
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx|250 PIPELINING", SMTP_SEND,
			  "MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\n", 0 },
			{ R, "250 ok", SMTP_READ, "", 0 },
			{ R, "250 ok", SMTP_READ, "", 0 },
			{ R, "354 go", SMTP_BODY, "", 0 },
			{ BODY, NULL, SMTP_SEND, ".\r\n" QUIT, 0 },
			{ R, "554 5.7.1 spam", SMTP_FAIL, "", 0 },
		},
		.ex = EX_UNAVAILABLE, .smtp_code = 554, .accepted = 1,
		.msg = { "554 5.7.1 spam (in reply to end of data)" },
		.rcpt_code = { 250 },
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "421 in the middle of the recipients: EX_TEMPFAIL, no QUIT",
		.from = FROM, .rcpts = { B, C }, .nrcpts = 2,
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx|250 PIPELINING", SMTP_SEND,
			  "MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nRCPT TO:<c@z.example>\r\n"
			  "DATA\r\n", 0 },
			{ R, "250 ok", SMTP_READ, "", 0 },
			{ R, "250 ok", SMTP_READ, "", 0 },
			{ R, "421 4.4.2 timeout, closing", SMTP_FAIL, "", 0 },
		},
		.ex = EX_TEMPFAIL, .smtp_code = 421, .accepted = 1,
		.msg = { "421 4.4.2 timeout, closing (in reply to RCPT TO)" },
		.rcpt_code = { 250, 0 },
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "the single mode never stops in READY, never sends RSET",
		.from = FROM, .rcpts = { B }, .nrcpts = 1,
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx|250 PIPELINING", SMTP_SEND,
			  "MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\n", 0 },
			{ R, "250 ok", SMTP_READ, "", 0 },
			{ R, "250 ok", SMTP_READ, "", 0 },
			{ R, "451 4.3.0 try later", SMTP_FAIL, QUIT, 0 },
		},
		.ex = EX_TEMPFAIL, .smtp_code = 451, .accepted = 1,
		.msg = { "451 4.3.0 try later (in reply to DATA)" },
		.rcpt_code = { 250 },
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "a reply while the body is being sent is a protocol error",
		.from = FROM, .rcpts = { B }, .nrcpts = 1,
		.steps = {
			{ R, GREET, SMTP_SEND, EHLO_OUT, 0 },
			{ R, "250-mx|250 PIPELINING", SMTP_SEND,
			  "MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\n", 0 },
			{ R, "250 ok", SMTP_READ, "", 0 },
			{ R, "250 ok", SMTP_READ, "", 0 },
			{ R, "354 go", SMTP_BODY, "", 0 },
			{ R, "554 stop", SMTP_FAIL, "", 0 },
		},
		.ex = EX_PROTOCOL, .smtp_code = 554, .accepted = 1,
		.msg = { "while the message body was being sent: 554 stop" },
		.rcpt_code = { 250 },
		.state = SMTP_STATE_FAILED,
	},
};

/* Feed a canned reply given as '|'-separated lines. */
static int
make_reply(struct reply *r, const char *lines)
{
	struct err e;
	const char *p = lines;

	reply_reset(r);
	for (;;) {
		size_t n = strcspn(p, "|");
		int ret = reply_feed(r, p, n, &e);
		if (ret != 0 || p[n] == '\0')
			return ret;
		p += n + 1;
	}
}

static const char *
action_name(enum smtp_action a)
{
	static const char *const names[] = { "SEND", "READ", "STARTTLS", "BODY", "DONE", "FAIL",
	                                     "READY", "CHUNK" };

	return (size_t)a < sizeof names / sizeof names[0] ? names[a] : "?";
}

static void
run(const struct scenario *sc)
{
	struct fake_sasl sasl = sc->sasl;
	struct smtp_params p;
	struct smtp s;
	struct reply r;
	enum smtp_action act;

	memset(&p, 0, sizeof p);
	p.helo = "client.example";
	p.host = "mx.example.org";
	p.tls = sc->tls;
	p.auth = sc->auth;
	p.auth_ops = &fake_ops;
	p.auth_ctx = &sasl;
	p.msg.from = sc->from;
	p.msg.rcpts = sc->rcpts;
	p.msg.nrcpts = sc->nrcpts;
	p.msg.size = sc->size;
	p.msg.has_8bit = sc->has_8bit;
	p.msg.opts = sc->opts;

	printf("# %s\n", sc->name);
	reply_init(&r);
	smtp_init(&s, &p);
	is_int(smtp_start(&s), SMTP_READ, "%s: start awaits the greeting", sc->name);
	for (int i = 0; i < MAXSTEPS && sc->steps[i].kind != END; i++) {
		const struct step *st = &sc->steps[i];
		const char *what = st->kind == TLS ? "TLS done" : st->kind == BODY ? "body done" :
		                   st->reply ? st->reply : "?";

		if (st->kind == R) {
			if (make_reply(&r, st->reply) != 1) {
				ok(0, "canned reply \"%s\" parses", st->reply);
				break;
			}
			act = smtp_on_reply(&s, &r);
		} else if (st->kind == TLS) {
			act = smtp_tls_done(&s);
		} else {
			act = smtp_body_done(&s);
		}
		if (act != st->act)
			printf("#   error: %s\n", smtp_error(&s)->msg);
		is_int(act, st->act, "  step %d (%s) -> %s", i + 1, what, action_name(st->act));
		is_str(buf_cstr(smtp_output(&s)), st->out, "  step %d output", i + 1);
		is_int(smtp_output_is_secret(&s), st->secret, "  step %d output %s", i + 1,
		       st->secret ? "is secret" : "is not secret");
		buf_reset(smtp_output(&s));
	}
	is_int(smtp_error(&s)->ex, sc->ex, "%s: exit class %s", sc->name, err_ex_name(sc->ex));
	for (int i = 0; i < 3 && sc->msg[i]; i++)
		if (!ok(strstr(smtp_error(&s)->msg, sc->msg[i]) != NULL, "  message has \"%s\"",
		        sc->msg[i]))
			printf("#   message: %s\n", smtp_error(&s)->msg);
	if (sc->ex)
		ok(strchr(smtp_error(&s)->msg, '\n') == NULL, "  message is one line");
	is_int(smtp_error(&s)->smtp_code, sc->smtp_code, "  reply code recorded");
	is_int(smtp_accepted(&s), sc->accepted, "  %zu recipients accepted", sc->accepted);
	for (size_t i = 0; i < sc->nrcpts; i++) {
		const struct smtp_rcpt_status *rs = smtp_rcpt_status(&s, i);
		is_int(rs->code, sc->rcpt_code[i], "  recipient %zu reply code", i + 1);
		is_int(rs->ex, sc->rcpt_ex[i], "  recipient %zu class", i + 1);
		ok((rs->text != NULL) == (sc->rcpt_code[i] != 0 || sc->rcpt_ex[i] != 0),
		   "  recipient %zu text %s", i + 1, rs->text ? rs->text : "(none)");
	}
	ok(smtp_rcpt_status(&s, sc->nrcpts) == NULL, "  status past the end is NULL");
	is_str(smtp_state_name(smtp_state(&s)), smtp_state_name(sc->state), "  final state");
	smtp_free(&s);
	reply_free(&r);
}

/* Details the scenario table does not show. */
static void
test_details(void)
{
	struct fake_sasl sasl = { .mech = "PLAIN", .initial = "AHUAcA==" };
	struct smtp_addr rc[] = { B }, bad[] = { { "b@y\r\nRSET", "b@y\r\nRSET" } };
	struct smtp_params p;
	struct smtp s;
	struct reply r;
	struct log log;
	char *trace = NULL;
	size_t tlen = 0;
	FILE *mem = open_memstream(&trace, &tlen);

	reply_init(&r);
	memset(&p, 0, sizeof p);
	p.helo = "client.example";
	p.tls = SMTP_TLS_IMPLICIT;
	p.auth = 1;
	p.auth_ops = &fake_ops;
	p.auth_ctx = &sasl;
	p.msg.from = (struct smtp_addr)FROM;
	p.msg.rcpts = rc;
	p.msg.nrcpts = 1;
	log_init(&log, "envoi");
	log.verbose = 1;
	log.err = mem;
	p.log = &log;

	/* transitions are traced; the mechanism list reaches the callback */
	smtp_init(&s, &p);
	smtp_start(&s);
	make_reply(&r, GREET);
	smtp_on_reply(&s, &r);
	make_reply(&r, "250-mx|250-AUTH login PLAIN|250 AUTH=LOGIN");
	smtp_on_reply(&s, &r);
	is_str(sasl.mechs, "LOGIN PLAIN", "start() gets the server's mechanisms, upper case, once each");
	is_str(smtp_caps(&s)->auth, "LOGIN PLAIN", "smtp_caps exposes them");
	fflush(mem);
	ok(trace && strstr(trace, "smtp: GREETING -> EHLO\n") != NULL, "GREETING -> EHLO traced");
	ok(trace && strstr(trace, "smtp: EHLO -> AUTH\n") != NULL, "EHLO -> AUTH traced");
	ok(trace && strstr(trace, "AHUAcA") == NULL, "the trace never shows AUTH data");
	/* a reply when the engine has failed changes nothing */
	make_reply(&r, "535 no");
	is_int(smtp_on_reply(&s, &r), SMTP_FAIL, "535 fails");
	buf_reset(smtp_output(&s));
	is_int(smtp_on_reply(&s, &r), SMTP_FAIL, "a later reply keeps FAIL");
	is_int(smtp_output(&s)->len, 0, "... and queues nothing");
	smtp_free(&s);
	fclose(mem);
	free(trace);

	/* challenges reach step() verbatim, including an empty one */
	struct fake_sasl login = { .mech = "LOGIN", .responses = { "dQ==", "cA==" } };
	p.auth_ctx = &login;
	p.log = NULL;
	smtp_init(&s, &p);
	smtp_start(&s);
	make_reply(&r, GREET);
	smtp_on_reply(&s, &r);
	make_reply(&r, "250-mx|250 AUTH LOGIN");
	smtp_on_reply(&s, &r);
	make_reply(&r, "334 VXNlcm5hbWU6");
	smtp_on_reply(&s, &r);
	make_reply(&r, "334");
	smtp_on_reply(&s, &r);
	is_str(login.challenges[0], "VXNlcm5hbWU6", "first challenge passed to step()");
	is_str(login.challenges[1], "", "empty challenge passed as \"\"");
	smtp_free(&s);

	/* command injection through an address is refused */
	p.auth = 0;
	p.msg.rcpts = bad;
	smtp_init(&s, &p);
	is_int(smtp_start(&s), SMTP_FAIL, "CR/LF in a recipient is refused at start");
	is_int(smtp_error(&s)->ex, EX_SOFTWARE, "... as an internal error");
	is_int(smtp_output(&s)->len, 0, "... before anything is queued");
	smtp_free(&s);

	/* (DSN values are checked once, by envelope.c, where they enter.) */
	p.msg.rcpts = rc;

	/* no recipients */
	p.msg.nrcpts = 0;
	smtp_init(&s, &p);
	is_int(smtp_start(&s), SMTP_FAIL, "no recipients fails");
	is_int(smtp_error(&s)->ex, EX_USAGE, "... with EX_USAGE");
	smtp_free(&s);
	p.msg.nrcpts = 1;

	/* calls in the wrong state */
	smtp_init(&s, &p);
	smtp_start(&s);
	is_int(smtp_tls_done(&s), SMTP_FAIL, "tls_done before STARTTLS fails");
	is_int(smtp_error(&s)->ex, EX_SOFTWARE, "... as an internal error");
	smtp_free(&s);
	smtp_init(&s, &p);
	smtp_start(&s);
	is_int(smtp_body_done(&s), SMTP_FAIL, "body_done before DATA fails");
	smtp_free(&s);

	/* an incomplete reply is never consumed */
	smtp_init(&s, &p);
	smtp_start(&s);
	make_reply(&r, "220-mx");
	is_int(smtp_on_reply(&s, &r), SMTP_FAIL, "an incomplete reply is refused");
	smtp_free(&s);

	/* a server that keeps challenging is cut off */
	static const struct smtp_auth_ops loop_ops = { fake_start, loop_step, NULL, NULL };
	struct fake_sasl x = { .mech = "X" };
	int n = 0;
	enum smtp_action act;

	p.auth = 1;
	p.auth_ops = &loop_ops;
	p.auth_ctx = &x;
	smtp_init(&s, &p);
	smtp_start(&s);
	make_reply(&r, GREET);
	smtp_on_reply(&s, &r);
	make_reply(&r, "250-mx|250 AUTH X");
	smtp_on_reply(&s, &r);
	make_reply(&r, "334 ");
	do {
		buf_reset(smtp_output(&s));
		act = smtp_on_reply(&s, &r);
		n++;
	} while (act == SMTP_SEND && n < 100);
	is_int(n, SMTP_AUTH_STEPS_MAX + 1, "a 334 storm ends after %d challenges", SMTP_AUTH_STEPS_MAX);
	is_int(act, SMTP_FAIL, "... with a failure");
	is_int(smtp_error(&s)->ex, EX_PROTOCOL, "... EX_PROTOCOL");
	is_str(buf_cstr(smtp_output(&s)), "*\r\nQUIT\r\n", "... cancelling the exchange");
	smtp_free(&s);
	p.auth = 0;

	/* a 235 the mechanism cannot confirm (finish refuses) stops the session */
	static const struct smtp_auth_ops fin_ops = { fake_start, fake_step, refuse_finish, NULL };
	struct fake_sasl y = { .mech = "PLAIN", .initial = "AGEAYg==" };

	p.auth = 1;
	p.auth_ops = &fin_ops;
	p.auth_ctx = &y;
	smtp_init(&s, &p);
	smtp_start(&s);
	make_reply(&r, GREET);
	smtp_on_reply(&s, &r);
	make_reply(&r, "250-mx|250 AUTH PLAIN");
	smtp_on_reply(&s, &r);
	buf_reset(smtp_output(&s));
	make_reply(&r, "235 2.7.0 ok");
	is_int(smtp_on_reply(&s, &r), SMTP_FAIL, "finish refusing a 235 fails the session");
	is_int(smtp_error(&s)->ex, EX_PROTOCOL, "... with the finish hook's error");
	ok(strstr(buf_cstr(smtp_output(&s)), "MAIL") == NULL, "... and no MAIL FROM is queued");
	smtp_free(&s);
	p.auth = 0;

	/* names */
	is_str(smtp_state_name(SMTP_STATE_EHLO_TLS), "EHLO_TLS", "state name");
	is_str(smtp_state_name(SMTP_STATE_FAILED), "FAILED", "last state name");
	is_str(smtp_state_name(-1), "?", "negative state");
	is_str(smtp_state_name(SMTP_STATE_FAILED + 1), "?", "state past the end");
	reply_free(&r);
}


/* ------------------------------------------------------------ several messages */

/*
 * Multi-mode scenarios: the same steps, plus NEXT (smtp_next_message with
 * message `msg`, `last`), FINISH (smtp_finish) and CHECK (the transaction
 * just ended: its error class, reply code, words of its message, accepted
 * count, recipient statuses, and whether the next envelope is in flight);
 * BODYN is smtp_body_done_next with message `msg` as the next one.
 */
enum mkind { M_END = 0, M_R, M_TLS, M_BODY, M_NEXT, M_FINISH, M_CHECK, M_BODYN, M_VERIFY,
             M_ETRN, M_CHUNK, M_AHEAD, M_TAKE, M_ROOM };

struct mstep {
	enum mkind kind;
	const char *reply;
	enum smtp_action act;
	const char *out;
	int secret;
	int msg, last;                  /* NEXT */
	int ex, code;                   /* CHECK */
	const char *has;
	size_t accepted;
	int rcpt_code[MAXRCPT], rcpt_ex[MAXRCPT];
	int nostatus;                   /* CHECK: an invalid message has no statuses */
	int inflight;                   /* CHECK: smtp_next_in_flight */
	enum smtp_state state;          /* NEXT, FINISH, CHECK: state after (0 = unchecked) */
	const char *node;               /* ETRN: smtp_etrn's argument */
	unsigned long long coff, clen;  /* CHUNK: what smtp_chunk must name first */
	int room;                       /* ROOM: smtp_window_room(msg) */
	size_t ahead;                   /* CHECK: smtp_ahead */
};

#define MMAXSTEPS 40
#define MMAXMSG 3

struct mscenario {
	const char *name;
	int tls, auth;
	int tls_verified;
	int nochunking;                 /* the account's `chunking off` */
	struct fake_sasl sasl;
	struct smtp_msg msgs[MMAXMSG];
	struct mstep steps[MMAXSTEPS];
	int ex;                         /* the connection's error class at the end */
	const char *has;
	enum smtp_state state;
};

static const struct smtp_addr rc_b[] = { B }, rc_c[] = { C }, rc_bc[] = { B, C };
static const struct smtp_addr rc_bad[] = { { "b@y\r\nRSET", "b@y\r\nRSET" } };

#define MSG_B { .from = FROM, .rcpts = rc_b, .nrcpts = 1, .size = 100 }
#define MSG_C { .from = FROM, .rcpts = rc_c, .nrcpts = 1, .size = 200 }
#define MSG_BC { .from = FROM, .rcpts = rc_bc, .nrcpts = 2, .size = 300 }

#define ENV_B "MAIL FROM:<a@x.example> SIZE=100\r\nRCPT TO:<b@y.example>\r\nDATA\r\n"
#define ENV_C "MAIL FROM:<a@x.example> SIZE=200\r\nRCPT TO:<c@z.example>\r\nDATA\r\n"
#define ENV_BC "MAIL FROM:<a@x.example> SIZE=300\r\nRCPT TO:<b@y.example>\r\n" \
               "RCPT TO:<c@z.example>\r\nDATA\r\n"
#define RSET "RSET\r\n"
#define CAPS_P "250-mx.example.org|250-PIPELINING|250 SIZE 1000"
#define CAPS_NOP "250-mx.example.org|250 SIZE 1000"
#define CAPS_ETRN "250-mx.example.org|250-PIPELINING|250 ETRN"

/* Greeting and EHLO of a plain connection, ending READY. */
#define SETUP(caps) \
	{ M_R, GREET, SMTP_SEND, EHLO_OUT }, \
	{ M_R, caps, SMTP_READY, "", .state = SMTP_STATE_READY }

/* One accepted pipelined message (its envelope was just sent), not last. */
#define ACCEPT_1 \
	{ M_R, "250 2.1.0 ok", SMTP_READ, "" }, \
	{ M_R, "250 2.1.5 ok", SMTP_READ, "" }, \
	{ M_R, "354 go", SMTP_BODY, "" }, \
	{ M_BODY, NULL, SMTP_SEND, ".\r\n" }, \
	{ M_R, "250 2.0.0 queued", SMTP_READY, "" }, \
	{ M_CHECK, .accepted = 1, .rcpt_code = { 250 }, .state = SMTP_STATE_READY }

static const struct smtp_addr rc_u[] = { { "j\303\274rgen@y.example", NULL } };

/* Greeting, EHLO, STARTTLS, handshake and EHLO again with caps, READY. */
#define SETUP_TLS(caps) \
	{ M_R, GREET, SMTP_SEND, EHLO_OUT }, \
	{ M_R, "250-mx.example.org|250 STARTTLS", SMTP_SEND, "STARTTLS\r\n" }, \
	{ M_R, "220 go", SMTP_STARTTLS, "" }, \
	{ M_TLS, NULL, SMTP_SEND, EHLO_OUT }, \
	{ M_R, caps, SMTP_READY, "", .state = SMTP_STATE_READY }

#define MSG_RT { .from = FROM, .rcpts = rc_b, .nrcpts = 1, .opts = { .requiretls = 1 } }
#define CAPS_RT "250-mx.example.org|250-PIPELINING|250 REQUIRETLS"

/* CHUNKING */
#define CAPS_CH "250-mx.example.org|250-PIPELINING|250-CHUNKING|250 SIZE 100000000"
#define CAPS_CH_NOP "250-mx.example.org|250-CHUNKING|250 SIZE 100000000"
#define MSG_BIG { .from = FROM, .rcpts = rc_b, .nrcpts = 1, .size = 2500000 }
#define MAIL_BIG "MAIL FROM:<a@x.example> SIZE=2500000\r\nRCPT TO:<b@y.example>\r\n"
#define MIB 1048576ULL
#define BDAT_B "MAIL FROM:<a@x.example> SIZE=100\r\nRCPT TO:<b@y.example>\r\nBDAT 100 LAST\r\n"
#define BDAT_C "MAIL FROM:<a@x.example> SIZE=200\r\nRCPT TO:<c@z.example>\r\nBDAT 200 LAST\r\n"
/* B sent, C sent ahead: the window's first two messages in flight. */
#define WINDOW_B_C \
	SETUP(CAPS_CH), \
	{ M_NEXT, NULL, SMTP_CHUNK, BDAT_B, .msg = 0 }, \
	{ M_CHUNK, NULL, SMTP_SEND, "", .coff = 0, .clen = 100 }, \
	{ M_AHEAD, NULL, SMTP_CHUNK, RSET BDAT_C, .msg = 1 }, \
	{ M_CHUNK, NULL, SMTP_SEND, "", .coff = 0, .clen = 200 }
/* The first message's replies: accepted. */
#define WINDOW_HEAD_OK(n) \
	{ M_R, "250 ok", SMTP_READ, "" }, \
	{ M_R, "250 ok", SMTP_READ, "" }, \
	{ M_R, "250 2.0.0 queued 1", SMTP_READY, "" }, \
	{ M_CHECK, .accepted = 1, .rcpt_code = { 250 }, .ahead = (n) }
#define BDAT_BC "MAIL FROM:<a@x.example> SIZE=300\r\nRCPT TO:<b@y.example>\r\n" \
                "RCPT TO:<c@z.example>\r\nBDAT 300 LAST\r\n"

static const struct mscenario mscenarios[] = {
	{
		.name = "CHUNKING + PIPELINING: BDAT LAST in the MAIL/RCPT group, body at once, "
		        "QUIT behind it, no 354",
		.msgs = { MSG_B },
		.steps = {
			SETUP(CAPS_CH),
			{ M_NEXT, NULL, SMTP_CHUNK, BDAT_B, .msg = 0, .last = 1,
			  .state = SMTP_STATE_CHUNK },
			{ M_CHUNK, NULL, SMTP_SEND, QUIT, .coff = 0, .clen = 100,
			  .state = SMTP_STATE_MAIL },
			{ M_R, "250 2.1.0 ok", SMTP_READ, "" },
			{ M_R, "250 2.1.5 ok", SMTP_READ, "", .state = SMTP_STATE_BDAT },
			{ M_R, "250 2.0.0 Ok: 100 octets, queued", SMTP_DONE, "",
			  .state = SMTP_STATE_QUIT },
			{ M_CHECK, .accepted = 1, .rcpt_code = { 250 } },
		},
		.state = SMTP_STATE_QUIT,
	},
	{
		.name = "CHUNKING + PIPELINING, 2.5 MB: three chunks streamed without waiting, "
		        "replies read afterwards",
		.msgs = { MSG_BIG, MSG_C },
		.steps = {
			SETUP(CAPS_CH),
			{ M_NEXT, NULL, SMTP_CHUNK, MAIL_BIG "BDAT 1048576\r\n", .msg = 0 },
			{ M_CHUNK, NULL, SMTP_CHUNK, "BDAT 1048576\r\n", .coff = 0, .clen = MIB },
			{ M_CHUNK, NULL, SMTP_CHUNK, "BDAT 402848 LAST\r\n", .coff = MIB, .clen = MIB },
			{ M_CHUNK, NULL, SMTP_SEND, "", .coff = 2 * MIB, .clen = 402848,
			  .state = SMTP_STATE_MAIL },
			{ M_R, "250 2.1.0 ok", SMTP_READ, "" },
			{ M_R, "250 2.1.5 ok", SMTP_READ, "", .state = SMTP_STATE_BDAT },
			{ M_R, "250 2.0.0 1048576 octets", SMTP_READ, "" },
			{ M_R, "250 2.0.0 2097152 octets", SMTP_READ, "" },
			{ M_R, "250 2.0.0 queued", SMTP_READY, "", .state = SMTP_STATE_READY },
			{ M_CHECK, .accepted = 1, .rcpt_code = { 250 } },
			/* the connection goes on with the next message, no RSET */
			{ M_NEXT, NULL, SMTP_CHUNK, BDAT_C, .msg = 1, .last = 1 },
		},
		.state = SMTP_STATE_CHUNK,
	},
	{
		.name = "CHUNKING without PIPELINING: BDAT after the RCPT replies (no 354), each "
		        "chunk waits for the previous one's reply",
		.msgs = { MSG_BIG },
		.steps = {
			SETUP(CAPS_CH_NOP),
			{ M_NEXT, NULL, SMTP_SEND, "MAIL FROM:<a@x.example> SIZE=2500000\r\n", .msg = 0,
			  .last = 1 },
			{ M_R, "250 2.1.0 ok", SMTP_SEND, "RCPT TO:<b@y.example>\r\n" },
			{ M_R, "250 2.1.5 ok", SMTP_CHUNK, "BDAT 1048576\r\n", .state = SMTP_STATE_CHUNK },
			{ M_CHUNK, NULL, SMTP_SEND, "", .coff = 0, .clen = MIB, .state = SMTP_STATE_BDAT },
			{ M_R, "250 2.0.0 ok", SMTP_CHUNK, "BDAT 1048576\r\n" },
			{ M_CHUNK, NULL, SMTP_SEND, "", .coff = MIB, .clen = MIB },
			{ M_R, "250 2.0.0 ok", SMTP_CHUNK, "BDAT 402848 LAST\r\n" },
			{ M_CHUNK, NULL, SMTP_SEND, "", .coff = 2 * MIB, .clen = 402848 },
			{ M_R, "250 2.0.0 queued", SMTP_DONE, QUIT, .state = SMTP_STATE_QUIT },
		},
		.state = SMTP_STATE_QUIT,
	},
	{
		.name = "CHUNKING without PIPELINING: every RCPT refused, no BDAT at all",
		.msgs = { MSG_B, MSG_C },
		.steps = {
			SETUP(CAPS_CH_NOP),
			{ M_NEXT, NULL, SMTP_SEND, "MAIL FROM:<a@x.example> SIZE=100\r\n", .msg = 0 },
			{ M_R, "250 2.1.0 ok", SMTP_SEND, "RCPT TO:<b@y.example>\r\n" },
			{ M_R, "550 5.1.1 no such user", SMTP_READY, "" },
			{ M_CHECK, .ex = EX_NOUSER, .code = 550, .has = "<b@y.example>: 550 5.1.1 no such "
			  "user (in reply to RCPT TO)", .rcpt_code = { 550 }, .rcpt_ex = { EX_NOUSER } },
			{ M_NEXT, NULL, SMTP_SEND, RSET, .msg = 1, .last = 1 },
		},
		.state = SMTP_STATE_RSET,
	},
	{
		.name = "CHUNKING + PIPELINING: every RCPT refused; the server consumes the chunk and "
		        "refuses it; the message fails with the RCPT errors; RSET next",
		.msgs = { MSG_BC, MSG_B },
		.steps = {
			SETUP(CAPS_CH),
			{ M_NEXT, NULL, SMTP_CHUNK, "MAIL FROM:<a@x.example> SIZE=300\r\nRCPT TO:<b@y.example>\r\n"
			  "RCPT TO:<c@z.example>\r\nBDAT 300 LAST\r\n", .msg = 0 },
			{ M_CHUNK, NULL, SMTP_SEND, "", .coff = 0, .clen = 300 },
			{ M_R, "250 2.1.0 ok", SMTP_READ, "" },
			{ M_R, "550 5.1.1 no such user", SMTP_READ, "" },
			{ M_R, "450 4.2.1 try later", SMTP_READ, "", .state = SMTP_STATE_DRAIN },
			{ M_R, "554 5.5.1 Error: no valid recipients", SMTP_READY, "",
			  .state = SMTP_STATE_READY },
			{ M_CHECK, .ex = EX_TEMPFAIL, .code = 450, .has = "all 2 recipients refused, e.g. "
			  "<c@z.example>: 450 4.2.1 try later (in reply to RCPT TO)",
			  .rcpt_code = { 550, 450 }, .rcpt_ex = { EX_NOUSER, EX_TEMPFAIL } },
			{ M_NEXT, NULL, SMTP_CHUNK, RSET BDAT_B, .msg = 1, .last = 1 },
			{ M_CHUNK, NULL, SMTP_SEND, QUIT, .coff = 0, .clen = 100,
			  .state = SMTP_STATE_RSET },
			{ M_R, "250 2.0.0 reset", SMTP_READ, "", .state = SMTP_STATE_MAIL },
			{ M_R, "250 2.1.0 ok", SMTP_READ, "" },
			{ M_R, "250 2.1.5 ok", SMTP_READ, "" },
			{ M_R, "250 2.0.0 queued", SMTP_DONE, "" },
		},
		.state = SMTP_STATE_QUIT,
	},
	{
		.name = "CHUNKING: BDAT LAST refused 4xx fails the message only (temporary); "
		        "the next one starts with RSET",
		.msgs = { MSG_B, MSG_C },
		.steps = {
			SETUP(CAPS_CH),
			{ M_NEXT, NULL, SMTP_CHUNK, BDAT_B, .msg = 0 },
			{ M_CHUNK, NULL, SMTP_SEND, "", .coff = 0, .clen = 100 },
			{ M_R, "250 2.1.0 ok", SMTP_READ, "" },
			{ M_R, "250 2.1.5 ok", SMTP_READ, "" },
			{ M_R, "451 4.3.0 queue file write error", SMTP_READY, "" },
			{ M_CHECK, .ex = EX_TEMPFAIL, .code = 451, .has = "451 4.3.0 queue file write "
			  "error (in reply to BDAT)", .accepted = 1, .rcpt_code = { 250 } },
			{ M_NEXT, NULL, SMTP_CHUNK, RSET BDAT_C, .msg = 1, .last = 1 },
		},
		.state = SMTP_STATE_CHUNK,
	},
	{
		.name = "CHUNKING: BDAT LAST refused 5xx on the last message fails it for good",
		.msgs = { MSG_B },
		.steps = {
			SETUP(CAPS_CH),
			{ M_NEXT, NULL, SMTP_CHUNK, BDAT_B, .msg = 0, .last = 1 },
			{ M_CHUNK, NULL, SMTP_SEND, QUIT, .coff = 0, .clen = 100 },
			{ M_R, "250 2.1.0 ok", SMTP_READ, "" },
			{ M_R, "250 2.1.5 ok", SMTP_READ, "" },
			{ M_R, "554 5.7.1 message refused", SMTP_FAIL, "", .state = SMTP_STATE_FAILED },
			{ M_CHECK, .ex = EX_UNAVAILABLE, .code = 554, .has = "554 5.7.1 message refused "
			  "(in reply to BDAT)", .accepted = 1, .rcpt_code = { 250 } },
		},
		.ex = EX_UNAVAILABLE, .has = "(in reply to BDAT)", .state = SMTP_STATE_FAILED,
	},
	{
		.name = "CHUNKING + PIPELINING: the first of three chunks refused; the other "
		        "chunks' replies are dropped",
		.msgs = { MSG_BIG },
		.steps = {
			SETUP(CAPS_CH),
			{ M_NEXT, NULL, SMTP_CHUNK, MAIL_BIG "BDAT 1048576\r\n", .msg = 0 },
			{ M_CHUNK, NULL, SMTP_CHUNK, "BDAT 1048576\r\n", .coff = 0, .clen = MIB },
			{ M_CHUNK, NULL, SMTP_CHUNK, "BDAT 402848 LAST\r\n", .coff = MIB, .clen = MIB },
			{ M_CHUNK, NULL, SMTP_SEND, "", .coff = 2 * MIB, .clen = 402848 },
			{ M_R, "250 2.1.0 ok", SMTP_READ, "" },
			{ M_R, "250 2.1.5 ok", SMTP_READ, "" },
			{ M_R, "552 5.3.4 message too big", SMTP_READ, "", .state = SMTP_STATE_DRAIN },
			{ M_R, "552 5.3.4 message too big", SMTP_READ, "" },
			{ M_R, "421 4.3.2 going down", SMTP_FAIL, "" },
			{ M_CHECK, .ex = EX_UNAVAILABLE, .code = 552, .has = "552 5.3.4 message too big "
			  "(in reply to BDAT)", .accepted = 1, .rcpt_code = { 250 } },
		},
		.ex = EX_TEMPFAIL, .has = "421 4.3.2 going down (in reply to BDAT)",
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "CHUNKING + PIPELINING: MAIL refused; RCPT and BDAT replies dropped, RSET next",
		.msgs = { MSG_B, MSG_C },
		.steps = {
			SETUP(CAPS_CH),
			{ M_NEXT, NULL, SMTP_CHUNK, BDAT_B, .msg = 0 },
			{ M_CHUNK, NULL, SMTP_SEND, "", .coff = 0, .clen = 100 },
			{ M_R, "553 5.7.1 sender refused", SMTP_READ, "", .state = SMTP_STATE_DRAIN },
			{ M_R, "503 5.5.1 need MAIL", SMTP_READ, "" },
			{ M_R, "503 5.5.1 need MAIL", SMTP_READY, "" },
			{ M_CHECK, .ex = EX_UNAVAILABLE, .code = 553, .has = "(in reply to MAIL FROM)" },
			{ M_NEXT, NULL, SMTP_CHUNK, RSET BDAT_C, .msg = 1, .last = 1 },
		},
		.state = SMTP_STATE_CHUNK,
	},
	{
		.name = "CHUNKING: behind a DATA message the next envelope rides with DATA, "
		        "committed before its replies",
		.msgs = { { .from = FROM, .rcpts = rc_b, .nrcpts = 1, .size = 100, .data_only = 1 },
		          MSG_C },
		.steps = {
			SETUP(CAPS_CH),
			{ M_NEXT, NULL, SMTP_SEND, ENV_B, .msg = 0 },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "354 go", SMTP_BODY, "" },
			{ M_BODYN, NULL, SMTP_SEND, ".\r\n" ENV_C, .msg = 1 },
			{ M_R, "250 queued", SMTP_READY, "" },
			{ M_CHECK, .accepted = 1, .rcpt_code = { 250 }, .inflight = 1 },
			{ M_NEXT, NULL, SMTP_READ, "", .msg = 1, .last = 1 },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "354 go", SMTP_BODY, "" },
			{ M_BODY, NULL, SMTP_SEND, ".\r\n" QUIT },
		},
		.state = SMTP_STATE_DOT,
	},
	{
		.name = "window: three BDAT transactions in one flight, each sent ahead starting "
		        "with RSET, QUIT behind the last; results in order",
		.msgs = { MSG_B, MSG_C, MSG_BC },
		.steps = {
			SETUP(CAPS_CH),
			{ M_ROOM, .msg = 0, .room = 0 },        /* nothing in flight to go behind */
			{ M_NEXT, NULL, SMTP_CHUNK, BDAT_B, .msg = 0 },
			{ M_CHUNK, NULL, SMTP_SEND, "", .coff = 0, .clen = 100, .state = SMTP_STATE_MAIL },
			{ M_ROOM, .msg = 1, .room = 1 },
			{ M_AHEAD, NULL, SMTP_CHUNK, RSET BDAT_C, .msg = 1, .state = SMTP_STATE_MAIL },
			{ M_CHUNK, NULL, SMTP_SEND, "", .coff = 0, .clen = 200 },
			{ M_AHEAD, NULL, SMTP_CHUNK, RSET BDAT_BC, .msg = 2, .last = 1 },
			{ M_CHUNK, NULL, SMTP_SEND, QUIT, .coff = 0, .clen = 300 },
			{ M_ROOM, .msg = 0, .room = 0 },        /* nothing behind the last */
			{ M_R, "250 2.1.0 ok", SMTP_READ, "" },
			{ M_R, "250 2.1.5 ok", SMTP_READ, "", .state = SMTP_STATE_BDAT },
			{ M_R, "250 2.0.0 queued 1", SMTP_READY, "", .state = SMTP_STATE_READY },
			{ M_CHECK, .accepted = 1, .rcpt_code = { 250 }, .ahead = 2 },
			{ M_TAKE, NULL, SMTP_READ, "", .msg = 1, .state = SMTP_STATE_RSET },
			{ M_CHECK, .rcpt_code = { 0 }, .ahead = 1, .state = SMTP_STATE_RSET },
			{ M_R, "250 2.0.0 reset", SMTP_READ, "", .state = SMTP_STATE_MAIL },
			{ M_R, "250 2.1.0 ok", SMTP_READ, "" },
			{ M_R, "251 will forward", SMTP_READ, "" },
			{ M_R, "250 2.0.0 queued 2", SMTP_READY, "" },
			{ M_CHECK, .accepted = 1, .rcpt_code = { 251 }, .ahead = 1 },
			{ M_TAKE, NULL, SMTP_READ, "", .msg = 2 },
			{ M_R, "250 2.0.0 reset", SMTP_READ, "" },
			{ M_R, "250 2.1.0 ok", SMTP_READ, "" },
			{ M_R, "250 2.1.5 ok", SMTP_READ, "" },
			{ M_R, "550 5.1.1 no such user", SMTP_READ, "" },
			{ M_R, "250 2.0.0 queued 3", SMTP_DONE, "", .state = SMTP_STATE_QUIT },
			{ M_CHECK, .accepted = 1, .rcpt_code = { 250, 550 }, .rcpt_ex = { 0, EX_NOUSER },
			  .state = SMTP_STATE_QUIT },
		},
		.state = SMTP_STATE_QUIT,
	},
	{
		.name = "window: the middle message's MAIL refused; it fails alone, its RCPT and "
		        "BDAT replies dropped, the next one clean behind its RSET",
		.msgs = { MSG_B, MSG_C, MSG_B },
		.steps = {
			WINDOW_B_C,
			{ M_AHEAD, NULL, SMTP_CHUNK, RSET BDAT_B, .msg = 2, .last = 1 },
			{ M_CHUNK, NULL, SMTP_SEND, QUIT, .coff = 0, .clen = 100 },
			WINDOW_HEAD_OK(2),
			{ M_TAKE, NULL, SMTP_READ, "", .msg = 1 },
			{ M_R, "250 2.0.0 reset", SMTP_READ, "" },
			{ M_R, "550 5.7.1 sender refused", SMTP_READ, "", .state = SMTP_STATE_DRAIN },
			{ M_R, "503 5.5.1 need MAIL", SMTP_READ, "" },
			{ M_R, "503 5.5.1 need MAIL", SMTP_READY, "", .state = SMTP_STATE_READY },
			{ M_CHECK, .ex = EX_UNAVAILABLE, .code = 550, .ahead = 1,
			  .has = "550 5.7.1 sender refused (in reply to MAIL FROM)" },
			{ M_TAKE, NULL, SMTP_READ, "", .msg = 2, .state = SMTP_STATE_RSET },
			{ M_R, "250 2.0.0 reset", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 2.0.0 queued 3", SMTP_DONE, "" },
			{ M_CHECK, .accepted = 1, .rcpt_code = { 250 }, .state = SMTP_STATE_QUIT },
		},
		.state = SMTP_STATE_QUIT,
	},
	{
		.name = "window: BDAT LAST refused 4xx in the first message; it alone is "
		        "deferred, the others go",
		.msgs = { MSG_B, MSG_C },
		.steps = {
			SETUP(CAPS_CH),
			{ M_NEXT, NULL, SMTP_CHUNK, BDAT_B, .msg = 0 },
			{ M_CHUNK, NULL, SMTP_SEND, "", .coff = 0, .clen = 100 },
			{ M_AHEAD, NULL, SMTP_CHUNK, RSET BDAT_C, .msg = 1, .last = 1 },
			{ M_CHUNK, NULL, SMTP_SEND, QUIT, .coff = 0, .clen = 200 },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "451 4.3.0 try again later", SMTP_READY, "" },
			{ M_CHECK, .ex = EX_TEMPFAIL, .code = 451, .accepted = 1, .rcpt_code = { 250 },
			  .ahead = 1, .has = "451 4.3.0 try again later (in reply to BDAT)" },
			{ M_TAKE, NULL, SMTP_READ, "", .msg = 1 },
			{ M_R, "250 2.0.0 reset", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 2.0.0 queued 2", SMTP_DONE, "" },
			{ M_CHECK, .accepted = 1, .rcpt_code = { 250 }, .state = SMTP_STATE_QUIT },
		},
		.state = SMTP_STATE_QUIT,
	},
	{
		.name = "window: a 421 mid-window ends the connection; the current message "
		        "fails temporarily, the one still ahead is never taken up",
		.msgs = { MSG_B, MSG_C, MSG_B },
		.steps = {
			WINDOW_B_C,
			{ M_AHEAD, NULL, SMTP_CHUNK, RSET BDAT_B, .msg = 2 },
			{ M_CHUNK, NULL, SMTP_SEND, "", .coff = 0, .clen = 100 },
			WINDOW_HEAD_OK(2),
			{ M_TAKE, NULL, SMTP_READ, "", .msg = 1 },
			{ M_R, "250 2.0.0 reset", SMTP_READ, "" },
			{ M_R, "421 4.3.2 shutting down", SMTP_FAIL, "", .state = SMTP_STATE_FAILED },
			{ M_CHECK, .ex = EX_TEMPFAIL, .code = 421, .ahead = 1,
			  .has = "421 4.3.2 shutting down", .state = SMTP_STATE_FAILED },
			{ M_TAKE, NULL, SMTP_FAIL, "", .msg = 2 },
			{ M_FINISH, NULL, SMTP_FAIL, "" },
		},
		.ex = EX_TEMPFAIL, .has = "421 4.3.2 shutting down (in reply to MAIL FROM)",
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "window: none without CHUNKING (DATA), with chunking off, behind a DATA "
		        "message, for a data_only message, or before the server's replies",
		.nochunking = 0,
		.msgs = { MSG_B, MSG_C, { .from = FROM, .rcpts = rc_c, .nrcpts = 1, .size = 200,
		                          .data_only = 1 } },
		.steps = {
			SETUP(CAPS_CH),
			{ M_NEXT, NULL, SMTP_CHUNK, BDAT_B, .msg = 0 },
			{ M_ROOM, .msg = 1, .room = 0 },        /* its chunk is not out yet */
			{ M_CHUNK, NULL, SMTP_SEND, "", .coff = 0, .clen = 100 },
			{ M_ROOM, .msg = 2, .room = 0 },        /* data_only */
			{ M_ROOM, .msg = 1, .room = 1 },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 2.0.0 queued 1", SMTP_READY, "" },
			{ M_ROOM, .msg = 1, .room = 0 },        /* READY, nothing ahead */
			{ M_NEXT, NULL, SMTP_SEND, "MAIL FROM:<a@x.example> SIZE=200\r\n"
			  "RCPT TO:<c@z.example>\r\nDATA\r\n", .msg = 2 },
			{ M_ROOM, .msg = 1, .room = 0 },        /* a DATA transaction in flight */
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "354 go", SMTP_BODY, "" },
			{ M_ROOM, .msg = 1, .room = 0 },
		},
		.state = SMTP_STATE_BODY,
	},
	{
		.name = "window: none without CHUNKING, or with chunking off",
		.nochunking = 1,
		.msgs = { MSG_B, MSG_C },
		.steps = {
			SETUP(CAPS_CH),
			{ M_NEXT, NULL, SMTP_SEND, ENV_B, .msg = 0 },
			{ M_ROOM, .msg = 1, .room = 0 },
			{ M_AHEAD, NULL, SMTP_FAIL, "", .msg = 1 },
			{ M_CHECK, .ex = EX_SOFTWARE, .has = "without room", .rcpt_code = { 0 },
			  .state = SMTP_STATE_FAILED },
		},
		.ex = EX_SOFTWARE, .state = SMTP_STATE_FAILED,
	},
	{
		.name = "chunking off: DATA although the server offers CHUNKING",
		.nochunking = 1,
		.msgs = { MSG_B },
		.steps = {
			SETUP(CAPS_CH),
			{ M_NEXT, NULL, SMTP_SEND, ENV_B, .msg = 0, .last = 1 },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "354 go", SMTP_BODY, "" },
			{ M_BODY, NULL, SMTP_SEND, ".\r\n" QUIT },
			{ M_R, "250 queued", SMTP_DONE, "" },
		},
		.state = SMTP_STATE_QUIT,
	},
	{
		.name = "CHUNKING: a message whose size is not exact (data_only) goes with DATA; "
		        "so does a verification; a chunk done out of turn is a bug",
		.msgs = { { .from = FROM, .rcpts = rc_b, .nrcpts = 1, .size = 100, .data_only = 1 },
		          MSG_B },
		.steps = {
			SETUP(CAPS_CH),
			{ M_VERIFY, NULL, SMTP_SEND, "MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\n"
			  "RSET\r\n", .msg = 1 },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READY, "" },
			{ M_CHECK, .accepted = 1, .rcpt_code = { 250 } },
			{ M_NEXT, NULL, SMTP_SEND, ENV_B, .msg = 0 },
			{ M_CHUNK, NULL, SMTP_FAIL, QUIT, .state = SMTP_STATE_FAILED },
		},
		.ex = EX_SOFTWARE, .has = "chunk finished in state MAIL", .state = SMTP_STATE_FAILED,
	},
	{
		.name = "REQUIRETLS over verified STARTTLS to a server offering it",
		.tls = SMTP_TLS_STARTTLS, .tls_verified = 1,
		.msgs = { MSG_RT },
		.steps = {
			SETUP_TLS(CAPS_RT),
			{ M_NEXT, NULL, SMTP_SEND, "MAIL FROM:<a@x.example> REQUIRETLS\r\n"
			  "RCPT TO:<b@y.example>\r\nDATA\r\n", .msg = 0, .last = 1 },
		},
		.state = SMTP_STATE_MAIL,
	},
	{
		.name = "REQUIRETLS, the server does not offer it: refused before MAIL (5.7.30)",
		.tls = SMTP_TLS_STARTTLS, .tls_verified = 1,
		.msgs = { MSG_RT },
		.steps = {
			SETUP_TLS("250-mx.example.org|250 PIPELINING"),
			{ M_NEXT, NULL, SMTP_READY, "", .msg = 0 },
			{ M_CHECK, .ex = EX_UNAVAILABLE, .has = "does not offer REQUIRETLS; not sending "
			  "(5.7.30)", .nostatus = 0, .state = SMTP_STATE_READY },
		},
		.state = SMTP_STATE_READY,
	},
	{
		.name = "REQUIRETLS over TLS that is not verified: refused",
		.tls = SMTP_TLS_STARTTLS, .tls_verified = 0,
		.msgs = { MSG_RT },
		.steps = {
			SETUP_TLS(CAPS_RT),
			{ M_NEXT, NULL, SMTP_READY, "", .msg = 0 },
			{ M_CHECK, .ex = EX_UNAVAILABLE, .has = "certificate is not verified" },
		},
		.state = SMTP_STATE_READY,
	},
	{
		.name = "REQUIRETLS in plaintext: refused, even if the server offers it",
		.tls_verified = 1,
		.msgs = { MSG_RT },
		.steps = {
			SETUP(CAPS_RT),
			{ M_NEXT, NULL, SMTP_READY, "", .msg = 0 },
			{ M_CHECK, .ex = EX_UNAVAILABLE, .has = "not TLS-protected" },
		},
		.state = SMTP_STATE_READY,
	},
	{
		.name = "SMTPUTF8=yes: requested for an ASCII envelope; =no: never, and a "
		        "non-ASCII local part fails as EX_DATAERR",
		.msgs = { { .from = FROM, .rcpts = rc_b, .nrcpts = 1, .opts = { .smtputf8 = ENVELOPE_UTF8_YES } },
		          { .from = FROM, .rcpts = rc_u, .nrcpts = 1, .opts = { .smtputf8 = ENVELOPE_UTF8_NO } },
		          { .from = FROM, .rcpts = rc_u, .nrcpts = 1 } },
		.steps = {
			SETUP("250-mx.example.org|250-PIPELINING|250 SMTPUTF8"),
			{ M_NEXT, NULL, SMTP_SEND, "MAIL FROM:<a@x.example> SMTPUTF8\r\n"
			  "RCPT TO:<b@y.example>\r\nDATA\r\n", .msg = 0 },
			ACCEPT_1,
			{ M_NEXT, NULL, SMTP_READY, "", .msg = 1 },
			{ M_CHECK, .ex = EX_DATAERR, .has = "-O SMTPUTF8=no forbids",
			  .rcpt_ex = { EX_DATAERR } },
			/* without the option, the same envelope uses SMTPUTF8 */
			{ M_NEXT, NULL, SMTP_SEND, "MAIL FROM:<a@x.example> SMTPUTF8\r\n"
			  "RCPT TO:<j\303\274rgen@y.example>\r\nDATA\r\n", .msg = 2, .last = 1 },
		},
		.state = SMTP_STATE_MAIL,
	},
	{
		.name = "-B: BODY=7BIT, BODY=8BITMIME forced, 8-bit content wins over 7BIT",
		.msgs = { { .from = FROM, .rcpts = rc_b, .nrcpts = 1,
		            .opts = { .body = ENVELOPE_BODY_7BIT } },
		          { .from = FROM, .rcpts = rc_b, .nrcpts = 1,
		            .opts = { .body = ENVELOPE_BODY_8BITMIME } },
		          { .from = FROM, .rcpts = rc_b, .nrcpts = 1,
		            .opts = { .body = ENVELOPE_BODY_7BIT }, .has_8bit = 1 } },
		.steps = {
			SETUP("250-mx.example.org|250-PIPELINING|250 8BITMIME"),
			{ M_NEXT, NULL, SMTP_SEND, "MAIL FROM:<a@x.example> BODY=7BIT\r\n"
			  "RCPT TO:<b@y.example>\r\nDATA\r\n", .msg = 0 },
			ACCEPT_1,
			{ M_NEXT, NULL, SMTP_SEND, "MAIL FROM:<a@x.example> BODY=8BITMIME\r\n"
			  "RCPT TO:<b@y.example>\r\nDATA\r\n", .msg = 1 },
			ACCEPT_1,
			{ M_NEXT, NULL, SMTP_SEND, "MAIL FROM:<a@x.example> BODY=8BITMIME\r\n"
			  "RCPT TO:<b@y.example>\r\nDATA\r\n", .msg = 2, .last = 1 },
		},
		.state = SMTP_STATE_MAIL,
	},
	{
		.name = "-B without 8BITMIME offered: no BODY parameter",
		.msgs = { { .from = FROM, .rcpts = rc_b, .nrcpts = 1,
		            .opts = { .body = ENVELOPE_BODY_8BITMIME } } },
		.steps = {
			SETUP("250-mx.example.org|250 PIPELINING"),
			{ M_NEXT, NULL, SMTP_SEND, "MAIL FROM:<a@x.example>\r\n"
			  "RCPT TO:<b@y.example>\r\nDATA\r\n", .msg = 0, .last = 1 },
		},
		.state = SMTP_STATE_MAIL,
	},
	{
		.name = "verify (-bv), pipelined: MAIL, RCPTs and RSET in one group, never DATA",
		.msgs = { MSG_BC, MSG_B },
		.steps = {
			SETUP(CAPS_P),
			{ M_VERIFY, NULL, SMTP_SEND, "MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\n"
			  "RCPT TO:<c@z.example>\r\nRSET\r\n", .msg = 0, .state = SMTP_STATE_MAIL },
			{ M_R, "250 2.1.0 ok", SMTP_READ, "" },
			{ M_R, "250 2.1.5 ok", SMTP_READ, "" },
			{ M_R, "550 5.1.1 no such user", SMTP_READ, "", .state = SMTP_STATE_VRSET },
			{ M_R, "250 2.0.0 reset", SMTP_READY, "", .state = SMTP_STATE_READY },
			{ M_CHECK, .accepted = 1, .rcpt_code = { 250, 550 }, .rcpt_ex = { 0, EX_NOUSER } },
			/* the connection takes a real message afterwards, SIZE and all */
			{ M_NEXT, NULL, SMTP_SEND, ENV_B, .msg = 1, .last = 1 },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "354 go", SMTP_BODY, "" },
			{ M_BODY, NULL, SMTP_SEND, ".\r\n" QUIT },
			{ M_R, "250 queued", SMTP_DONE, "" },
		},
		.state = SMTP_STATE_QUIT,
	},
	{
		.name = "verify without PIPELINING: one command at a time, RSET after the last RCPT",
		.msgs = { MSG_B },
		.steps = {
			SETUP(CAPS_NOP),
			{ M_VERIFY, NULL, SMTP_SEND, "MAIL FROM:<a@x.example>\r\n", .msg = 0 },
			{ M_R, "250 ok", SMTP_SEND, "RCPT TO:<b@y.example>\r\n" },
			{ M_R, "450 4.2.0 try later", SMTP_SEND, RSET, .state = SMTP_STATE_VRSET },
			{ M_R, "250 reset", SMTP_READY, "" },
			{ M_CHECK, .rcpt_code = { 450 }, .rcpt_ex = { EX_TEMPFAIL } },
			{ M_FINISH, NULL, SMTP_DONE, QUIT },
		},
		.state = SMTP_STATE_QUIT,
	},
	{
		.name = "verify with MAIL refused: the pipelined replies dropped, no extra RSET",
		.msgs = { MSG_BC, MSG_C },
		.steps = {
			SETUP(CAPS_P),
			{ M_VERIFY, NULL, SMTP_SEND, "MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\n"
			  "RCPT TO:<c@z.example>\r\nRSET\r\n", .msg = 0 },
			{ M_R, "553 5.7.1 sender rejected", SMTP_READ, "", .state = SMTP_STATE_DRAIN },
			{ M_R, "503 5.5.1 need MAIL", SMTP_READ, "" },
			{ M_R, "503 5.5.1 need MAIL", SMTP_READ, "" },
			{ M_R, "250 2.0.0 reset", SMTP_READY, "" },
			{ M_CHECK, .ex = EX_UNAVAILABLE, .code = 553,
			  .has = "553 5.7.1 sender rejected (in reply to MAIL FROM)" },
			{ M_NEXT, NULL, SMTP_SEND, ENV_C, .msg = 1, .last = 1 },
		},
		.state = SMTP_STATE_MAIL,
	},
	{
		.name = "verify: a 421 to RSET ends the connection, the verdicts stay",
		.msgs = { MSG_B },
		.steps = {
			SETUP(CAPS_P),
			{ M_VERIFY, NULL, SMTP_SEND, "MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\n"
			  "RSET\r\n", .msg = 0 },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "421 4.3.2 shutting down", SMTP_FAIL, "" },
			{ M_CHECK, .ex = EX_TEMPFAIL, .code = 421, .accepted = 1, .rcpt_code = { 250 } },
		},
		.ex = EX_TEMPFAIL, .has = "421 4.3.2 shutting down (in reply to RSET)",
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "PIPELINING: each next envelope rides behind the previous end of data",
		.msgs = { MSG_B, MSG_C, MSG_BC },
		.steps = {
			SETUP(CAPS_P),
			{ M_NEXT, NULL, SMTP_SEND, ENV_B, .msg = 0, .state = SMTP_STATE_MAIL },
			{ M_R, "250 2.1.0 ok", SMTP_READ, "" },
			{ M_R, "250 2.1.5 ok", SMTP_READ, "" },
			{ M_R, "354 go", SMTP_BODY, "" },
			{ M_BODYN, NULL, SMTP_SEND, ".\r\n" ENV_C, .msg = 1, .state = SMTP_STATE_DOT },
			/* the first message's result is final before any reply of
			 * the second is read */
			{ M_R, "250 2.0.0 queued 1", SMTP_READY, "", .state = SMTP_STATE_READY },
			{ M_CHECK, .accepted = 1, .rcpt_code = { 250 }, .inflight = 1,
			  .state = SMTP_STATE_READY },
			{ M_NEXT, NULL, SMTP_READ, "", .msg = 1, .state = SMTP_STATE_MAIL },
			{ M_CHECK, .inflight = 0, .rcpt_code = { 0 }, .state = SMTP_STATE_MAIL },
			{ M_R, "250 2.1.0 ok", SMTP_READ, "", .state = SMTP_STATE_RCPT },
			{ M_R, "251 will forward", SMTP_READ, "", .state = SMTP_STATE_DATA },
			{ M_R, "354 go", SMTP_BODY, "" },
			{ M_BODYN, NULL, SMTP_SEND, ".\r\n" ENV_BC, .msg = 2 },
			{ M_R, "250 2.0.0 queued 2", SMTP_READY, "" },
			{ M_CHECK, .accepted = 1, .rcpt_code = { 251 }, .inflight = 1 },
			{ M_NEXT, NULL, SMTP_READ, "", .msg = 2, .last = 1 },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "354 go", SMTP_BODY, "" },
			/* the last message: QUIT rides behind, whatever next is */
			{ M_BODYN, NULL, SMTP_SEND, ".\r\n" QUIT, .msg = 0 },
			{ M_R, "250 2.0.0 queued 3", SMTP_DONE, "" },
			{ M_CHECK, .accepted = 2, .rcpt_code = { 250, 250 }, .state = SMTP_STATE_QUIT },
		},
		.state = SMTP_STATE_QUIT,
	},
	{
		.name = "pipelined: end of data 451 fails that message only, the next is accepted",
		.msgs = { MSG_B, MSG_C },
		.steps = {
			SETUP(CAPS_P),
			{ M_NEXT, NULL, SMTP_SEND, ENV_B, .msg = 0 },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "354 go", SMTP_BODY, "" },
			{ M_BODYN, NULL, SMTP_SEND, ".\r\n" ENV_C, .msg = 1 },
			{ M_R, "451 4.3.0 queue file write error", SMTP_READY, "" },
			{ M_CHECK, .ex = EX_TEMPFAIL, .code = 451,
			  .has = "451 4.3.0 queue file write error (in reply to end of data)",
			  .accepted = 1, .rcpt_code = { 250 }, .inflight = 1, .state = SMTP_STATE_READY },
			/* no RSET: the end of data closed the server's transaction */
			{ M_NEXT, NULL, SMTP_READ, "", .msg = 1, .last = 1, .state = SMTP_STATE_MAIL },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "354 go", SMTP_BODY, "" },
			{ M_BODY, NULL, SMTP_SEND, ".\r\n" QUIT },
			{ M_R, "250 queued", SMTP_DONE, "" },
			{ M_CHECK, .accepted = 1, .rcpt_code = { 250 } },
		},
		.state = SMTP_STATE_QUIT,
	},
	{
		.name = "pipelined: the next one's RCPT refused fails it only, RSET before the third",
		.msgs = { MSG_B, MSG_C, MSG_B },
		.steps = {
			SETUP(CAPS_P),
			{ M_NEXT, NULL, SMTP_SEND, ENV_B, .msg = 0 },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "354 go", SMTP_BODY, "" },
			{ M_BODYN, NULL, SMTP_SEND, ".\r\n" ENV_C, .msg = 1 },
			{ M_R, "250 2.0.0 queued", SMTP_READY, "" },
			{ M_CHECK, .accepted = 1, .rcpt_code = { 250 }, .inflight = 1 },
			{ M_NEXT, NULL, SMTP_READ, "", .msg = 1 },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "550 5.1.1 user unknown", SMTP_READ, "" },
			{ M_R, "554 5.5.1 no valid recipients", SMTP_READY, "" },
			{ M_CHECK, .ex = EX_NOUSER, .code = 550,
			  .has = "<c@z.example>: 550 5.1.1 user unknown (in reply to RCPT TO)",
			  .rcpt_code = { 550 }, .rcpt_ex = { EX_NOUSER }, .state = SMTP_STATE_READY },
			{ M_NEXT, NULL, SMTP_SEND, RSET ENV_B, .msg = 2, .last = 1,
			  .state = SMTP_STATE_RSET },
		},
		.state = SMTP_STATE_RSET,
	},
	{
		.name = "pipelined: 421 to the end of data ends everything",
		.msgs = { MSG_B, MSG_C },
		.steps = {
			SETUP(CAPS_P),
			{ M_NEXT, NULL, SMTP_SEND, ENV_B, .msg = 0 },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "354 go", SMTP_BODY, "" },
			{ M_BODYN, NULL, SMTP_SEND, ".\r\n" ENV_C, .msg = 1 },
			{ M_R, "421 4.3.2 shutting down", SMTP_FAIL, "" },
			{ M_CHECK, .ex = EX_TEMPFAIL, .code = 421,
			  .has = "421 4.3.2 shutting down (in reply to end of data)",
			  .accepted = 1, .rcpt_code = { 250 }, .inflight = 1, .state = SMTP_STATE_FAILED },
			{ M_NEXT, NULL, SMTP_FAIL, "", .msg = 1, .state = SMTP_STATE_FAILED },
			{ M_FINISH, NULL, SMTP_FAIL, "", .state = SMTP_STATE_FAILED },
		},
		.ex = EX_TEMPFAIL, .has = "421 4.3.2 shutting down", .state = SMTP_STATE_FAILED,
	},
	{
		.name = "without PIPELINING, body done with a next message is plain body done",
		.msgs = { MSG_B, MSG_C },
		.steps = {
			SETUP(CAPS_NOP),
			{ M_NEXT, NULL, SMTP_SEND, "MAIL FROM:<a@x.example> SIZE=100\r\n", .msg = 0 },
			{ M_R, "250 ok", SMTP_SEND, "RCPT TO:<b@y.example>\r\n" },
			{ M_R, "250 ok", SMTP_SEND, "DATA\r\n" },
			{ M_R, "354 go", SMTP_BODY, "" },
			{ M_BODYN, NULL, SMTP_SEND, ".\r\n", .msg = 1 },
			{ M_R, "250 queued", SMTP_READY, "" },
			{ M_CHECK, .accepted = 1, .rcpt_code = { 250 }, .inflight = 0 },
			{ M_NEXT, NULL, SMTP_SEND, "MAIL FROM:<a@x.example> SIZE=200\r\n", .msg = 1,
			  .last = 1 },
		},
		.state = SMTP_STATE_MAIL,
	},
	{
		.name = "a next message refused locally is not pipelined; it fails on its own",
		.msgs = { MSG_B, { .from = FROM, .rcpts = rc_c, .nrcpts = 1, .size = 5000 },
		          { .from = FROM, .rcpts = rc_bad, .nrcpts = 1 } },
		.steps = {
			SETUP(CAPS_P),
			{ M_NEXT, NULL, SMTP_SEND, ENV_B, .msg = 0 },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "354 go", SMTP_BODY, "" },
			{ M_BODYN, NULL, SMTP_SEND, ".\r\n", .msg = 1 },
			{ M_R, "250 queued", SMTP_READY, "" },
			{ M_CHECK, .accepted = 1, .rcpt_code = { 250 }, .inflight = 0 },
			{ M_NEXT, NULL, SMTP_READY, "", .msg = 1, .state = SMTP_STATE_READY },
			{ M_CHECK, .ex = EX_UNAVAILABLE, .has = "server limit is 1000" },
			{ M_NEXT, NULL, SMTP_SEND, ENV_B, .msg = 0 },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "354 go", SMTP_BODY, "" },
			/* an envelope with CR/LF is never sent, pipelined or not */
			{ M_BODYN, NULL, SMTP_SEND, ".\r\n", .msg = 2 },
			{ M_R, "250 queued", SMTP_READY, "" },
			{ M_NEXT, NULL, SMTP_READY, "", .msg = 2 },
			{ M_CHECK, .ex = EX_SOFTWARE, .has = "control character", .nostatus = 1 },
		},
		.state = SMTP_STATE_READY,
	},
	{
		.name = "giving up with the next envelope in flight: no QUIT (DATA may be open)",
		.msgs = { MSG_B, MSG_C },
		.steps = {
			SETUP(CAPS_P),
			{ M_NEXT, NULL, SMTP_SEND, ENV_B, .msg = 0 },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "354 go", SMTP_BODY, "" },
			{ M_BODYN, NULL, SMTP_SEND, ".\r\n" ENV_C, .msg = 1 },
			{ M_R, "250 queued", SMTP_READY, "" },
			{ M_FINISH, NULL, SMTP_FAIL, "", .state = SMTP_STATE_FAILED },
		},
		.ex = EX_SOFTWARE, .has = "next envelope in flight", .state = SMTP_STATE_FAILED,
	},
	{
		.name = "another message than the pipelined one is refused",
		.msgs = { MSG_B, MSG_C, MSG_BC },
		.steps = {
			SETUP(CAPS_P),
			{ M_NEXT, NULL, SMTP_SEND, ENV_B, .msg = 0 },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "354 go", SMTP_BODY, "" },
			{ M_BODYN, NULL, SMTP_SEND, ".\r\n" ENV_C, .msg = 1 },
			{ M_R, "250 queued", SMTP_READY, "" },
			{ M_NEXT, NULL, SMTP_FAIL, "", .msg = 2, .state = SMTP_STATE_FAILED },
		},
		.ex = EX_SOFTWARE, .has = "not the one whose envelope was sent",
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "two messages over STARTTLS + AUTH, PIPELINING: QUIT only behind the last",
		.tls = SMTP_TLS_STARTTLS, .auth = 1,
		.sasl = { .mech = "PLAIN", .initial = "AHUAcA==" },
		.msgs = { MSG_B, MSG_BC },
		.steps = {
			{ M_R, GREET, SMTP_SEND, EHLO_OUT },
			{ M_R, "250-mx|250-PIPELINING|250 STARTTLS", SMTP_SEND, "STARTTLS\r\n" },
			{ M_R, "220 go", SMTP_STARTTLS, "" },
			{ M_TLS, NULL, SMTP_SEND, EHLO_OUT },
			{ M_R, "250-mx|250-PIPELINING|250-SIZE 1000|250 AUTH PLAIN", SMTP_SEND,
			  "AUTH PLAIN AHUAcA==\r\n", 1 },
			{ M_R, "235 2.7.0 ok", SMTP_READY, "", .state = SMTP_STATE_READY },
			{ M_NEXT, NULL, SMTP_SEND, ENV_B, .msg = 0, .last = 0, .state = SMTP_STATE_MAIL },
			ACCEPT_1,
			{ M_NEXT, NULL, SMTP_SEND, ENV_BC, .msg = 1, .last = 1 },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "354 go", SMTP_BODY, "" },
			{ M_BODY, NULL, SMTP_SEND, ".\r\n" QUIT },
			{ M_R, "250 2.0.0 queued", SMTP_DONE, "" },
			{ M_CHECK, .accepted = 2, .rcpt_code = { 250, 250 }, .state = SMTP_STATE_QUIT },
			{ M_FINISH, NULL, SMTP_DONE, "", .state = SMTP_STATE_QUIT },
		},
		.state = SMTP_STATE_QUIT,
	},
	{
		.name = "three messages without PIPELINING, QUIT from smtp_finish",
		.msgs = { MSG_B, MSG_C, MSG_B },
		.steps = {
			SETUP(CAPS_NOP),
			{ M_NEXT, NULL, SMTP_SEND, "MAIL FROM:<a@x.example> SIZE=100\r\n", .msg = 0 },
			{ M_R, "250 ok", SMTP_SEND, "RCPT TO:<b@y.example>\r\n" },
			{ M_R, "250 ok", SMTP_SEND, "DATA\r\n" },
			{ M_R, "354 go", SMTP_BODY, "" },
			{ M_BODY, NULL, SMTP_SEND, ".\r\n" },
			{ M_R, "250 queued 1", SMTP_READY, "" },
			{ M_CHECK, .accepted = 1, .rcpt_code = { 250 } },
			{ M_NEXT, NULL, SMTP_SEND, "MAIL FROM:<a@x.example> SIZE=200\r\n", .msg = 1 },
			{ M_R, "250 ok", SMTP_SEND, "RCPT TO:<c@z.example>\r\n" },
			{ M_R, "251 will forward", SMTP_SEND, "DATA\r\n" },
			{ M_R, "354 go", SMTP_BODY, "" },
			{ M_BODY, NULL, SMTP_SEND, ".\r\n" },
			{ M_R, "250 queued 2", SMTP_READY, "" },
			{ M_CHECK, .accepted = 1, .rcpt_code = { 251 } },
			{ M_NEXT, NULL, SMTP_SEND, "MAIL FROM:<a@x.example> SIZE=100\r\n", .msg = 2 },
			{ M_R, "250 ok", SMTP_SEND, "RCPT TO:<b@y.example>\r\n" },
			{ M_R, "250 ok", SMTP_SEND, "DATA\r\n" },
			{ M_R, "354 go", SMTP_BODY, "" },
			{ M_BODY, NULL, SMTP_SEND, ".\r\n" },
			{ M_R, "250 queued 3", SMTP_READY, "" },
			{ M_FINISH, NULL, SMTP_DONE, QUIT, .state = SMTP_STATE_QUIT },
			{ M_R, "221 bye", SMTP_DONE, "" },
		},
		.state = SMTP_STATE_DONE,
	},
	{
		.name = "every RCPT of the first refused: RSET leads the second's group",
		.msgs = { MSG_BC, MSG_C },
		.steps = {
			SETUP(CAPS_P),
			{ M_NEXT, NULL, SMTP_SEND, ENV_BC, .msg = 0 },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "550 5.1.1 user unknown", SMTP_READ, "" },
			{ M_R, "450 4.2.0 mailbox busy", SMTP_READ, "" },
			{ M_R, "554 5.5.1 Error: no valid recipients", SMTP_READY, "" },
			{ M_CHECK, .ex = EX_TEMPFAIL, .code = 450,
			  .has = "all 2 recipients refused, e.g. <c@z.example>: 450 4.2.0 mailbox busy "
			         "(in reply to RCPT TO)",
			  .rcpt_code = { 550, 450 }, .rcpt_ex = { EX_NOUSER, EX_TEMPFAIL },
			  .state = SMTP_STATE_READY },
			{ M_NEXT, NULL, SMTP_SEND, RSET ENV_C, .msg = 1, .last = 1,
			  .state = SMTP_STATE_RSET },
			{ M_R, "250 2.0.0 reset", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "354 go", SMTP_BODY, "" },
			{ M_BODY, NULL, SMTP_SEND, ".\r\n" QUIT },
			{ M_R, "250 queued", SMTP_DONE, "" },
			{ M_CHECK, .accepted = 1, .rcpt_code = { 250 } },
		},
		.state = SMTP_STATE_QUIT,
	},
	{
		.name = "end of data 451 for the first: the second follows without RSET",
		.msgs = { MSG_B, MSG_C },
		.steps = {
			SETUP(CAPS_P),
			{ M_NEXT, NULL, SMTP_SEND, ENV_B, .msg = 0 },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "354 go", SMTP_BODY, "" },
			{ M_BODY, NULL, SMTP_SEND, ".\r\n" },
			{ M_R, "451 4.3.0 queue file write error", SMTP_READY, "" },
			{ M_CHECK, .ex = EX_TEMPFAIL, .code = 451,
			  .has = "451 4.3.0 queue file write error (in reply to end of data)",
			  .accepted = 1, .rcpt_code = { 250 }, .state = SMTP_STATE_READY },
			{ M_NEXT, NULL, SMTP_SEND, ENV_C, .msg = 1, .last = 1, .state = SMTP_STATE_MAIL },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "354 go", SMTP_BODY, "" },
			{ M_BODY, NULL, SMTP_SEND, ".\r\n" QUIT },
			{ M_R, "250 queued", SMTP_DONE, "" },
		},
		.state = SMTP_STATE_QUIT,
	},
	{
		.name = "421 in the second transaction ends the connection: no QUIT, no third",
		.msgs = { MSG_B, MSG_BC, MSG_C },
		.steps = {
			SETUP(CAPS_P),
			{ M_NEXT, NULL, SMTP_SEND, ENV_B, .msg = 0 },
			ACCEPT_1,
			{ M_NEXT, NULL, SMTP_SEND, ENV_BC, .msg = 1 },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "421 4.4.2 mx.example.org closing", SMTP_FAIL, "" },
			{ M_CHECK, .ex = EX_TEMPFAIL, .code = 421,
			  .has = "421 4.4.2 mx.example.org closing (in reply to RCPT TO)",
			  .accepted = 1, .rcpt_code = { 250, 0 }, .state = SMTP_STATE_FAILED },
			{ M_NEXT, NULL, SMTP_FAIL, "", .msg = 2, .state = SMTP_STATE_FAILED },
			{ M_FINISH, NULL, SMTP_FAIL, "", .state = SMTP_STATE_FAILED },
		},
		.ex = EX_TEMPFAIL, .has = "421 4.4.2",
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "MAIL refused (pipelined): RCPT and DATA replies dropped, then RSET",
		.msgs = { MSG_BC, MSG_B },
		.steps = {
			SETUP(CAPS_P),
			{ M_NEXT, NULL, SMTP_SEND, ENV_BC, .msg = 0 },
			{ M_R, "553 5.7.1 sender rejected", SMTP_READ, "", .state = SMTP_STATE_DRAIN },
			{ M_R, "503 5.5.1 need MAIL", SMTP_READ, "" },
			{ M_R, "503 5.5.1 need MAIL", SMTP_READ, "" },
			{ M_R, "503 5.5.1 need RCPT", SMTP_READY, "" },
			{ M_CHECK, .ex = EX_UNAVAILABLE, .code = 553,
			  .has = "553 5.7.1 sender rejected (in reply to MAIL FROM)",
			  .state = SMTP_STATE_READY },
			{ M_NEXT, NULL, SMTP_SEND, RSET ENV_B, .msg = 1, .last = 1 },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "354 go", SMTP_BODY, "" },
			{ M_BODY, NULL, SMTP_SEND, ".\r\n" QUIT },
			{ M_R, "250 queued", SMTP_DONE, "" },
		},
		.state = SMTP_STATE_QUIT,
	},
	{
		.name = "a 421 while draining names the command it answered",
		.msgs = { MSG_BC },
		.steps = {
			SETUP(CAPS_P),
			{ M_NEXT, NULL, SMTP_SEND, ENV_BC, .msg = 0 },
			{ M_R, "451 4.3.0 try later", SMTP_READ, "" },
			{ M_R, "503 need MAIL", SMTP_READ, "" },
			{ M_R, "421 4.3.2 shutting down", SMTP_FAIL, "" },
			/* the message's own refusal stays its error */
			{ M_CHECK, .ex = EX_TEMPFAIL, .code = 451, .has = "(in reply to MAIL FROM)",
			  .state = SMTP_STATE_FAILED },
		},
		.ex = EX_TEMPFAIL, .has = "421 4.3.2 shutting down (in reply to RCPT TO)",
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "all RCPTs refused but DATA got 354: the empty message is ended, no RSET",
		.msgs = { MSG_B, MSG_C },
		.steps = {
			SETUP(CAPS_P),
			{ M_NEXT, NULL, SMTP_SEND, ENV_B, .msg = 0 },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "550 5.1.1 user unknown", SMTP_READ, "" },
			{ M_R, "354 go ahead anyway", SMTP_SEND, ".\r\n", .state = SMTP_STATE_DRAIN },
			{ M_R, "554 5.5.1 no valid recipients", SMTP_READY, "" },
			{ M_CHECK, .ex = EX_NOUSER, .code = 550,
			  .has = "<b@y.example>: 550 5.1.1 user unknown (in reply to RCPT TO)",
			  .rcpt_code = { 550 }, .rcpt_ex = { EX_NOUSER } },
			{ M_NEXT, NULL, SMTP_SEND, ENV_C, .msg = 1, .last = 1 },
		},
		.state = SMTP_STATE_MAIL,
	},
	{
		.name = "DATA 451 without PIPELINING: RSET alone, then MAIL after its reply",
		.msgs = { MSG_B, MSG_C },
		.steps = {
			SETUP(CAPS_NOP),
			{ M_NEXT, NULL, SMTP_SEND, "MAIL FROM:<a@x.example> SIZE=100\r\n", .msg = 0 },
			{ M_R, "250 ok", SMTP_SEND, "RCPT TO:<b@y.example>\r\n" },
			{ M_R, "250 ok", SMTP_SEND, "DATA\r\n" },
			{ M_R, "451 4.3.0 try later", SMTP_READY, "" },
			{ M_CHECK, .ex = EX_TEMPFAIL, .code = 451,
			  .has = "451 4.3.0 try later (in reply to DATA)",
			  .accepted = 1, .rcpt_code = { 250 } },
			{ M_NEXT, NULL, SMTP_SEND, RSET, .msg = 1, .last = 1, .state = SMTP_STATE_RSET },
			{ M_R, "250 ok", SMTP_SEND, "MAIL FROM:<a@x.example> SIZE=200\r\n",
			  .state = SMTP_STATE_MAIL },
			{ M_R, "250 ok", SMTP_SEND, "RCPT TO:<c@z.example>\r\n" },
			{ M_R, "250 ok", SMTP_SEND, "DATA\r\n" },
			{ M_R, "354 go", SMTP_BODY, "" },
			{ M_BODY, NULL, SMTP_SEND, ".\r\n" },
			{ M_R, "250 queued", SMTP_DONE, QUIT },
		},
		.state = SMTP_STATE_QUIT,
	},
	{
		.name = "local refusals send nothing and keep a pending RSET",
		.msgs = { MSG_B, { .from = FROM, .rcpts = rc_c, .nrcpts = 1, .size = 5000 },
		          { .from = FROM, .rcpts = rc_bad, .nrcpts = 1 } },
		.steps = {
			SETUP(CAPS_P),
			{ M_NEXT, NULL, SMTP_SEND, ENV_B, .msg = 0 },
			{ M_R, "452 4.3.1 insufficient system storage", SMTP_READ, "" },
			{ M_R, "503 need MAIL", SMTP_READ, "" },
			{ M_R, "503 need MAIL", SMTP_READY, "" },
			{ M_CHECK, .ex = EX_TEMPFAIL, .code = 452, .has = "(in reply to MAIL FROM)" },
			/* too big for SIZE 1000: refused before anything is sent */
			{ M_NEXT, NULL, SMTP_READY, "", .msg = 1, .state = SMTP_STATE_READY },
			{ M_CHECK, .ex = EX_UNAVAILABLE, .has = "message is 5000 bytes, server limit is 1000",
			  .state = SMTP_STATE_READY },
			/* CR/LF in an address: refused, the connection goes on */
			{ M_NEXT, NULL, SMTP_READY, "", .msg = 2, .last = 0, .state = SMTP_STATE_READY },
			{ M_CHECK, .ex = EX_SOFTWARE, .has = "control character", .nostatus = 1,
			  .state = SMTP_STATE_READY },
			{ M_NEXT, NULL, SMTP_SEND, RSET ENV_B, .msg = 0, .last = 1 },
		},
		.state = SMTP_STATE_RSET,
	},
	{
		.name = "the last message refused ends the connection with QUIT",
		.msgs = { MSG_B, MSG_C },
		.steps = {
			SETUP(CAPS_NOP),
			{ M_NEXT, NULL, SMTP_SEND, "MAIL FROM:<a@x.example> SIZE=100\r\n", .msg = 0 },
			{ M_R, "250 ok", SMTP_SEND, "RCPT TO:<b@y.example>\r\n" },
			{ M_R, "550 5.1.1 no such user", SMTP_READY, "" },
			{ M_CHECK, .ex = EX_NOUSER, .code = 550, .rcpt_code = { 550 },
			  .rcpt_ex = { EX_NOUSER } },
			{ M_NEXT, NULL, SMTP_SEND, RSET, .msg = 1, .last = 1 },
			{ M_R, "250 ok", SMTP_SEND, "MAIL FROM:<a@x.example> SIZE=200\r\n" },
			{ M_R, "250 ok", SMTP_SEND, "RCPT TO:<c@z.example>\r\n" },
			{ M_R, "550 5.1.1 no such user either", SMTP_FAIL, QUIT },
			{ M_CHECK, .ex = EX_NOUSER, .code = 550, .has = "no such user either",
			  .rcpt_code = { 550 }, .rcpt_ex = { EX_NOUSER }, .state = SMTP_STATE_FAILED },
		},
		.ex = EX_NOUSER, .has = "<c@z.example>: 550 5.1.1 no such user either",
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "the last message's end of data refused with QUIT behind it",
		.msgs = { MSG_B },
		.steps = {
			SETUP(CAPS_P),
			{ M_NEXT, NULL, SMTP_SEND, ENV_B, .msg = 0, .last = 1 },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "354 go", SMTP_BODY, "" },
			{ M_BODY, NULL, SMTP_SEND, ".\r\n" QUIT },
			{ M_R, "554 5.7.1 spam", SMTP_FAIL, "" },
			{ M_CHECK, .ex = EX_UNAVAILABLE, .code = 554, .accepted = 1, .rcpt_code = { 250 },
			  .has = "554 5.7.1 spam (in reply to end of data)" },
		},
		.ex = EX_UNAVAILABLE, .state = SMTP_STATE_FAILED,
	},
	{
		.name = "RSET refused: the connection is not trusted with more",
		.msgs = { MSG_B, MSG_C },
		.steps = {
			SETUP(CAPS_P),
			{ M_NEXT, NULL, SMTP_SEND, ENV_B, .msg = 0 },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_R, "554 5.3.0 no", SMTP_READY, "" },
			{ M_NEXT, NULL, SMTP_SEND, RSET ENV_C, .msg = 1 },
			{ M_R, "500 5.5.1 what?", SMTP_FAIL, QUIT },
			{ M_CHECK, .ex = EX_UNAVAILABLE, .code = 500, .has = "(in reply to RSET)" },
		},
		.ex = EX_UNAVAILABLE, .has = "500 5.5.1 what? (in reply to RSET)",
		.state = SMTP_STATE_FAILED,
	},
	{
		.name = "QUIT right after setup; nothing more after",
		.tls = SMTP_TLS_IMPLICIT, .auth = 1,
		.sasl = { .mech = "PLAIN", .initial = "AHUAcA==" },
		.msgs = { MSG_B },
		.steps = {
			{ M_R, GREET, SMTP_SEND, EHLO_OUT },
			{ M_R, "250-mx|250 AUTH PLAIN", SMTP_SEND, "AUTH PLAIN AHUAcA==\r\n", 1 },
			{ M_R, "235 ok", SMTP_READY, "", .state = SMTP_STATE_READY },
			{ M_FINISH, NULL, SMTP_DONE, QUIT, .state = SMTP_STATE_QUIT },
			{ M_FINISH, NULL, SMTP_DONE, "" },
			/* misuse: fails, and QUIT is not said twice */
			{ M_NEXT, NULL, SMTP_FAIL, "", .msg = 0 },
		},
		.ex = EX_SOFTWARE, .has = "next message in state QUIT", .state = SMTP_STATE_FAILED,
	},
	{
		.name = "giving up mid-transaction fails the connection with QUIT",
		.msgs = { MSG_B },
		.steps = {
			SETUP(CAPS_P),
			{ M_NEXT, NULL, SMTP_SEND, ENV_B, .msg = 0 },
			{ M_R, "250 ok", SMTP_READ, "" },
			{ M_FINISH, NULL, SMTP_FAIL, QUIT, .state = SMTP_STATE_FAILED },
			{ M_CHECK, .ex = EX_SOFTWARE, .has = "given up in state RCPT",
			  .state = SMTP_STATE_FAILED },
		},
		.ex = EX_SOFTWARE, .state = SMTP_STATE_FAILED,
	},
	{
		.name = "ETRN (--rmqs) offered and accepted: the exact line, READY again, QUIT",
		.steps = {
			SETUP(CAPS_ETRN),
			{ M_ETRN, NULL, SMTP_SEND, "ETRN @relay.example\r\n", .node = "@relay.example",
			  .state = SMTP_STATE_ETRN },
			{ M_R, "250 2.0.0 Queuing for node relay.example started", SMTP_READY, "",
			  .state = SMTP_STATE_READY },
			{ M_CHECK },
			{ M_FINISH, NULL, SMTP_DONE, QUIT },
		},
		.state = SMTP_STATE_QUIT,
	},
	{
		.name = "ETRN refused for now (458): temporary, the connection stays",
		.steps = {
			SETUP(CAPS_ETRN),
			{ M_ETRN, NULL, SMTP_SEND, "ETRN relay.example\r\n", .node = "relay.example" },
			{ M_R, "458 Unable to queue messages for node relay.example", SMTP_READY, "" },
			{ M_CHECK, .ex = EX_TEMPFAIL, .code = 458,
			  .has = "458 Unable to queue messages for node relay.example (in reply to ETRN)" },
			{ M_FINISH, NULL, SMTP_DONE, QUIT },
		},
		.state = SMTP_STATE_QUIT,
	},
	{
		.name = "ETRN refused for good (502): EX_UNAVAILABLE",
		.steps = {
			SETUP(CAPS_ETRN),
			{ M_ETRN, NULL, SMTP_SEND, "ETRN relay.example\r\n", .node = "relay.example" },
			{ M_R, "502 5.5.1 Command not implemented", SMTP_READY, "" },
			{ M_CHECK, .ex = EX_UNAVAILABLE, .code = 502, .has = "(in reply to ETRN)" },
		},
		.state = SMTP_STATE_READY,
	},
	{
		.name = "ETRN not offered: nothing sent, EX_UNAVAILABLE",
		.steps = {
			SETUP(CAPS_P),
			{ M_ETRN, NULL, SMTP_READY, "", .node = "relay.example",
			  .state = SMTP_STATE_READY },
			{ M_CHECK, .ex = EX_UNAVAILABLE, .has = "does not offer ETRN" },
			{ M_ETRN, NULL, SMTP_READY, "", .node = "a b\r\nRSET" },
			{ M_CHECK, .ex = EX_USAGE, .has = "without spaces" },
			{ M_FINISH, NULL, SMTP_DONE, QUIT },
		},
		.state = SMTP_STATE_QUIT,
	},
	{
		.name = "ETRN answered with 421: the connection ends",
		.steps = {
			SETUP(CAPS_ETRN),
			{ M_ETRN, NULL, SMTP_SEND, "ETRN relay.example\r\n", .node = "relay.example" },
			{ M_R, "421 4.3.2 shutting down", SMTP_FAIL, "", .state = SMTP_STATE_FAILED },
		},
		.ex = EX_TEMPFAIL, .has = "421 4.3.2 shutting down (in reply to ETRN)",
		.state = SMTP_STATE_FAILED,
	},
};

static const char *
mkind_name(enum mkind k)
{
	static const char *const names[] = { "end", "reply", "TLS done", "body done", "next",
	                                     "finish", "check", "body done, next", "verify",
	                                     "ETRN", "chunk done", "send ahead", "take up ahead",
	                                     "window room" };

	return (size_t)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

static void
mcheck(const struct smtp *s, const struct smtp_msg *m, const struct mstep *st, int i)
{
	const struct err *me = smtp_msg_error(s);

	is_int(me->ex, st->ex, "  step %d: message class %s", i + 1, err_ex_name(st->ex));
	is_int(me->smtp_code, st->code, "  step %d: message reply code", i + 1);
	if (st->has && !ok(strstr(me->msg, st->has) != NULL, "  step %d: message has \"%s\"",
	                   i + 1, st->has))
		printf("#   message: %s\n", me->msg);
	is_int(smtp_accepted(s), st->accepted, "  step %d: %zu accepted", i + 1, st->accepted);
	is_int(smtp_next_in_flight(s), st->inflight, "  step %d: next envelope %s", i + 1,
	       st->inflight ? "in flight" : "not in flight");
	is_int(smtp_ahead(s), st->ahead, "  step %d: %zu sent ahead", i + 1, st->ahead);
	for (size_t k = 0; m && k < m->nrcpts; k++) {
		const struct smtp_rcpt_status *rs = smtp_rcpt_status(s, k);
		if (st->nostatus) {
			ok(rs == NULL, "  step %d: recipient %zu has no status", i + 1, k + 1);
			continue;
		}
		if (!ok(rs != NULL, "  step %d: recipient %zu has a status", i + 1, k + 1))
			continue;
		is_int(rs->code, st->rcpt_code[k], "  step %d: recipient %zu code", i + 1, k + 1);
		is_int(rs->ex, st->rcpt_ex[k], "  step %d: recipient %zu class", i + 1, k + 1);
	}
}

static void
mrun(const struct mscenario *sc)
{
	struct fake_sasl sasl = sc->sasl;
	const struct smtp_msg *cur = NULL;
	struct smtp_params p;
	struct smtp s;
	struct reply r;
	enum smtp_action act;

	memset(&p, 0, sizeof p);
	p.multi = 1;
	p.helo = "client.example";
	p.host = "mx.example.org";
	p.tls = sc->tls;
	p.tls_verified = sc->tls_verified;
	p.chunking = !sc->nochunking;
	p.auth = sc->auth;
	p.auth_ops = &fake_ops;
	p.auth_ctx = &sasl;

	printf("# %s\n", sc->name);
	reply_init(&r);
	smtp_init(&s, &p);
	is_int(smtp_start(&s), SMTP_READ, "%s: start awaits the greeting", sc->name);
	for (int i = 0; i < MMAXSTEPS && sc->steps[i].kind != M_END; i++) {
		const struct mstep *st = &sc->steps[i];
		const char *what = st->kind == M_R ? st->reply : mkind_name(st->kind);

		switch (st->kind) {
		case M_CHECK:
			mcheck(&s, cur, st, i);
			if (st->state)
				is_str(smtp_state_name(smtp_state(&s)), smtp_state_name(st->state),
				       "  step %d: state", i + 1);
			continue;
		case M_R:
			if (make_reply(&r, st->reply) != 1) {
				ok(0, "canned reply \"%s\" parses", st->reply);
				goto out;
			}
			act = smtp_on_reply(&s, &r);
			break;
		case M_TLS:
			act = smtp_tls_done(&s);
			break;
		case M_BODY:
			act = smtp_body_done(&s);
			break;
		case M_BODYN:
			act = smtp_body_done_next(&s, &sc->msgs[st->msg]);
			break;
		case M_NEXT:
			cur = &sc->msgs[st->msg];
			act = smtp_next_message(&s, cur, st->last);
			break;
		case M_FINISH:
			act = smtp_finish(&s);
			break;
		case M_VERIFY:
			cur = &sc->msgs[st->msg];
			act = smtp_verify(&s, cur);
			break;
		case M_ETRN:
			cur = NULL;
			act = smtp_etrn(&s, st->node);
			break;
		case M_AHEAD:
			act = smtp_send_ahead(&s, &sc->msgs[st->msg], st->last);
			break;
		case M_TAKE:
			cur = &sc->msgs[st->msg];
			act = smtp_next_ahead(&s);
			break;
		case M_ROOM:
			is_int(smtp_window_room(&s, &sc->msgs[st->msg]), st->room,
			       "  step %d: %s room for message %d", i + 1, st->room ? "" : "no",
			       st->msg + 1);
			continue;
		case M_CHUNK: {
			unsigned long long off = 0, len = 0;
			if (st->clen || st->coff) {
				is_int(smtp_chunk(&s, &off, &len), 0, "  step %d: a chunk is due", i + 1);
				ok(off == st->coff && len == st->clen, "  step %d: chunk of %llu "
				   "octets at %llu (got %llu at %llu)", i + 1, st->clen, st->coff, len,
				   off);
			}
			act = smtp_chunk_done(&s);
			break;
		}
		default:
			act = SMTP_FAIL;
			break;
		}
		if (act != st->act)
			printf("#   error: %s / %s\n", smtp_error(&s)->msg, smtp_msg_error(&s)->msg);
		is_int(act, st->act, "  step %d (%s) -> %s", i + 1, what, action_name(st->act));
		is_str(buf_cstr(smtp_output(&s)), st->out, "  step %d output", i + 1);
		is_int(smtp_output_is_secret(&s), st->secret, "  step %d output %s", i + 1,
		       st->secret ? "is secret" : "is not secret");
		if (st->state)
			is_str(smtp_state_name(smtp_state(&s)), smtp_state_name(st->state),
			       "  step %d: state", i + 1);
		buf_reset(smtp_output(&s));
	}
	is_int(smtp_error(&s)->ex, sc->ex, "%s: connection class %s", sc->name, err_ex_name(sc->ex));
	if (sc->has && !ok(strstr(smtp_error(&s)->msg, sc->has) != NULL,
	                   "  connection error has \"%s\"", sc->has))
		printf("#   message: %s\n", smtp_error(&s)->msg);
	is_str(smtp_state_name(smtp_state(&s)), smtp_state_name(sc->state), "  final state");
out:
	smtp_free(&s);
	reply_free(&r);
}

/* Multi-mode details: traces, misuse, and the single mode refusing NEXT. */
static void
test_multi_details(void)
{
	struct smtp_params p;
	struct smtp s;
	struct reply r;
	struct log log;
	struct smtp_msg m = MSG_B;
	struct err e;
	char *trace = NULL;
	size_t tlen = 0;
	FILE *mem = open_memstream(&trace, &tlen);

	reply_init(&r);
	memset(&p, 0, sizeof p);
	p.multi = 1;
	p.helo = "client.example";
	log_init(&log, "envoi");
	log.verbose = 1;
	log.err = mem;
	p.log = &log;

	/* transitions through READY and RSET are traced */
	smtp_init(&s, &p);
	is_int(smtp_start(&s), SMTP_READ, "multi: start needs no message");
	make_reply(&r, GREET);
	smtp_on_reply(&s, &r);
	buf_reset(smtp_output(&s));
	make_reply(&r, CAPS_P);
	is_int(smtp_on_reply(&s, &r), SMTP_READY, "multi: READY after EHLO");
	is_int(smtp_msg_error(&s)->ex, 0, "... with no message error");
	is_int(smtp_output(&s)->len, 0, "... and nothing queued");
	make_reply(&r, "250 stray");
	is_int(smtp_on_reply(&s, &r), SMTP_FAIL, "a reply in READY (nothing asked) fails");
	smtp_free(&s);

	smtp_init(&s, &p);
	smtp_start(&s);
	make_reply(&r, GREET);
	smtp_on_reply(&s, &r);
	make_reply(&r, CAPS_P);
	smtp_on_reply(&s, &r);
	smtp_next_message(&s, &m, 0);
	make_reply(&r, "550 no");
	smtp_on_reply(&s, &r);
	smtp_on_reply(&s, &r);
	is_int(smtp_on_reply(&s, &r), SMTP_READY, "refused MAIL drained");
	buf_reset(smtp_output(&s));
	smtp_next_message(&s, &m, 1);
	make_reply(&r, "250 ok");
	smtp_on_reply(&s, &r);
	fflush(mem);
	ok(trace && strstr(trace, "smtp: EHLO -> READY\n") != NULL, "EHLO -> READY traced");
	ok(trace && strstr(trace, "smtp: READY -> MAIL\n") != NULL, "READY -> MAIL traced");
	ok(trace && strstr(trace, "smtp: MAIL -> DRAIN\n") != NULL, "MAIL -> DRAIN traced");
	ok(trace && strstr(trace, "smtp: DRAIN -> READY\n") != NULL, "DRAIN -> READY traced");
	ok(trace && strstr(trace, "smtp: READY -> RSET\n") != NULL, "READY -> RSET traced");
	ok(trace && strstr(trace, "smtp: RSET -> MAIL\n") != NULL, "RSET -> MAIL traced");
	smtp_free(&s);
	fclose(mem);
	free(trace);

	/* NEXT in single mode, or mid-transaction, is a bug */
	{
		struct smtp_params q = p;
		q.multi = 0;
		q.log = NULL;
		q.msg.from = m.from;
		q.msg.rcpts = m.rcpts;
		q.msg.nrcpts = m.nrcpts;
		smtp_init(&s, &q);
		smtp_start(&s);
		is_int(smtp_next_message(&s, &m, 1), SMTP_FAIL, "smtp_next_message in single mode fails");
		is_int(smtp_error(&s)->ex, EX_SOFTWARE, "... as an internal error");
		smtp_free(&s);
	}
	p.log = NULL;
	smtp_init(&s, &p);
	smtp_start(&s);
	is_int(smtp_next_message(&s, &m, 1), SMTP_FAIL, "smtp_next_message before READY fails");
	ok(strstr(smtp_error(&s)->msg, "state GREETING") != NULL, "... naming the state");
	smtp_free(&s);

	/* smtp_msg_check on its own */
	err_init(&e);
	is_int(smtp_msg_check(&m, &e), 0, "smtp_msg_check accepts a plain message");
	m.nrcpts = 0;
	is_int(smtp_msg_check(&m, &e), -1, "... refuses no recipients");
	is_int(e.ex, EX_USAGE, "... as EX_USAGE");
	m.nrcpts = 1;
	m.from = (struct smtp_addr){ "a@x\nb", "a@x\nb" };
	is_int(smtp_msg_check(&m, &e), -1, "... refuses LF in the sender");
	is_int(e.ex, EX_SOFTWARE, "... as EX_SOFTWARE");

	is_str(smtp_state_name(SMTP_STATE_READY), "READY", "READY has a name");
	is_str(smtp_state_name(SMTP_STATE_RSET), "RSET", "RSET has a name");
	is_str(smtp_state_name(SMTP_STATE_DRAIN), "DRAIN", "DRAIN has a name");
	is_str(smtp_state_name(SMTP_STATE_VRSET), "VRSET", "VRSET has a name");
	is_str(smtp_state_name(SMTP_STATE_ETRN), "ETRN", "ETRN has a name");
	p.log = NULL;
	smtp_init(&s, &p);
	smtp_start(&s);
	is_int(smtp_verify(&s, &m), SMTP_FAIL, "smtp_verify before READY fails");
	ok(strstr(smtp_error(&s)->msg, "verification in state GREETING") != NULL,
	   "... naming the state");
	smtp_free(&s);
	reply_free(&r);
}

/* Feed the canned reply text to s; its action. */
static enum smtp_action
feed(struct smtp *s, struct reply *r, const char *text)
{
	make_reply(r, text);
	return smtp_on_reply(s, r);
}

/* Send m ahead and its one chunk; the output that went. */
static int
ahead_one(struct smtp *s, const struct smtp_msg *m, int last)
{
	int ok1 = smtp_send_ahead(s, m, last) == SMTP_CHUNK && smtp_chunk_done(s) == SMTP_SEND;

	buf_reset(smtp_output(s));
	return ok1;
}

/* The window's bounds: SMTP_WINDOW transactions, SMTP_WINDOW_REPLIES
 * replies; once the head's replies are read, room again. */
static void
test_window_bounds(void)
{
	static struct smtp_addr many[100];
	struct smtp_msg m = MSG_B, big = { .from = FROM, .rcpts = many, .nrcpts = 100,
	                                   .size = 100 };
	struct smtp_params p;
	struct smtp s;
	struct reply r;
	int sent = 0;

	for (size_t i = 0; i < 100; i++)
		many[i] = (struct smtp_addr)B;
	reply_init(&r);
	memset(&p, 0, sizeof p);
	p.multi = 1;
	p.chunking = 1;
	p.helo = "client.example";
	smtp_init(&s, &p);
	smtp_start(&s);
	feed(&s, &r, GREET);
	feed(&s, &r, CAPS_CH);
	is_int(smtp_next_message(&s, &m, 0), SMTP_CHUNK, "window bounds: the first message");
	is_int(smtp_chunk_done(&s), SMTP_SEND, "... its chunk out");
	while (smtp_window_room(&s, &m) && sent < 2 * SMTP_WINDOW)
		sent += ahead_one(&s, &m, 0);
	is_int(sent, SMTP_WINDOW - 1, "%d sent ahead of the first: %d in flight", SMTP_WINDOW - 1,
	       SMTP_WINDOW);
	is_int(smtp_ahead(&s), SMTP_WINDOW - 1, "... all of them ahead");
	/* the head's replies: then there is room for one more */
	feed(&s, &r, "250 ok");
	feed(&s, &r, "250 ok");
	is_int(feed(&s, &r, "250 queued"), SMTP_READY, "the head's verdict read");
	is_int(smtp_window_room(&s, &m), 1, "... room again in READY with others ahead");
	is_int(smtp_next_message(&s, &m, 0), SMTP_FAIL, "a new transaction with others "
	       "ahead is a bug");
	smtp_free(&s);

	/* replies: 103 per 100-recipient message, at most 256 ahead */
	smtp_init(&s, &p);
	smtp_start(&s);
	feed(&s, &r, GREET);
	feed(&s, &r, CAPS_CH);
	smtp_next_message(&s, &big, 0);
	smtp_chunk_done(&s);
	buf_reset(smtp_output(&s));
	sent = 0;
	while (smtp_window_room(&s, &big) && sent < 10)
		sent += ahead_one(&s, &big, 0);
	is_int(sent, 2, "window bounds: two 100-recipient messages ahead (206 replies), not "
	       "a third (309 > %d)", SMTP_WINDOW_REPLIES);
	is_int(smtp_window_room(&s, &m), 1, "... a 1-recipient one still fits (210)");
	smtp_free(&s);
	reply_free(&r);
}

/* Which exit code a failure reply means (smtp_ex_from_reply). */
static void
test_reply_codes(void)
{
	static const struct {
		int code;
		const char *enh;
		enum smtp_phase phase;
		int ex;
	} cases[] = {
		{ 450, "4.2.0", PHASE_RCPT, EX_TEMPFAIL },
		{ 550, "5.1.1", PHASE_RCPT, EX_NOUSER },
		{ 550, NULL, PHASE_MAIL, EX_UNAVAILABLE },
		{ 554, "5.7.1", PHASE_DOT, EX_UNAVAILABLE },
		{ 535, "5.7.8", PHASE_AUTH, EX_NOPERM },
		{ 454, "4.7.0", PHASE_AUTH, EX_TEMPFAIL },
		{ 550, "4.2.2", PHASE_RCPT, EX_TEMPFAIL },  /* enhanced class wins */
		{ 421, NULL, PHASE_CONNECT, EX_TEMPFAIL },
		{ 354, NULL, PHASE_DATA, EX_PROTOCOL },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		is_int(smtp_ex_from_reply(cases[i].code, cases[i].enh, cases[i].phase),
		    cases[i].ex, "%d %s in reply to %s -> %s", cases[i].code,
		    cases[i].enh ? cases[i].enh : "-", smtp_phase_name(cases[i].phase),
		    err_ex_name(cases[i].ex));
}

int
main(void)
{
	for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
		run(&scenarios[i]);
	test_details();
	for (size_t i = 0; i < sizeof mscenarios / sizeof mscenarios[0]; i++)
		mrun(&mscenarios[i]);
	test_multi_details();
	test_window_bounds();
	test_reply_codes();
	return done_testing();
}
