/* Unit tests for src/envelope.c: DSN, BODY, SMTPUTF8 and REQUIRETLS
 * values, their validation and their one text form. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "envelope.h"
#include "tap.h"

static void
test_notify(void)
{
	static const struct {
		const char *in;
		int ok;
		const char *canon;
	} cases[] = {
		{ "NEVER", 0, "NEVER" },
		{ "never", 0, "NEVER" },
		{ "SUCCESS", 0, "SUCCESS" },
		{ "failure,success", 0, "SUCCESS,FAILURE" },
		{ "DELAY,FAILURE,SUCCESS", 0, "SUCCESS,FAILURE,DELAY" },
		{ "", -1, NULL },
		{ "SUCCESS,", -1, NULL },
		{ ",SUCCESS", -1, NULL },
		{ "SUCCESS,,DELAY", -1, NULL },
		{ "SUCCESS,SUCCESS", -1, NULL },     /* each keyword once */
		{ "NEVER,SUCCESS", -1, NULL },       /* NEVER alone */
		{ "SUCCESS FAILURE", -1, NULL },
		{ "SUCCES", -1, NULL },
		{ "SUCCESSX", -1, NULL },
	};
	char text[64];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		unsigned bits = 99;
		int r = envelope_notify_parse(cases[i].in, &bits);

		is_int(r, cases[i].ok, "notify '%s': %s", cases[i].in, r ? "invalid" : "valid");
		if (r == 0)
			is_str(envelope_notify_text(bits, text, sizeof text), cases[i].canon,
			       "... canonical form");
		else
			is_int(bits, 99, "... output untouched");
	}
	ok(envelope_notify_parse(NULL, &(unsigned){ 0 }) == -1, "notify NULL: invalid");
	is_str(envelope_notify_text(0, text, sizeof text), "", "no bits: empty text");
}

static void
test_ret_body_envid(void)
{
	enum envelope_ret ret = ENVELOPE_RET_UNSET;
	struct envelope env;
	char long_id[ENVELOPE_ENVID_MAX + 2];

	is_int(envelope_ret_parse("full", &ret), 0, "ret full");
	is_int(ret, ENVELOPE_RET_FULL, "... FULL");
	is_int(envelope_ret_parse("HDRS", &ret), 0, "ret HDRS");
	is_int(envelope_ret_parse("headers", &ret), 0, "ret headers (the configuration's word)");
	is_int(ret, ENVELOPE_RET_HDRS, "... HDRS");
	is_int(envelope_ret_parse("BODY", &ret), -1, "ret BODY: invalid");
	is_str(envelope_ret_text(ENVELOPE_RET_UNSET), NULL, "unset ret has no text");

	is_int(envelope_body_parse("8bitmime"), ENVELOPE_BODY_8BITMIME, "-B 8bitmime");
	is_int(envelope_body_parse("7BIT"), ENVELOPE_BODY_7BIT, "-B 7BIT");
	is_int(envelope_body_parse("BINARYMIME"), ENVELOPE_BODY_UNSET, "-B BINARYMIME: unset, no error");
	is_int(envelope_body_parse(NULL), ENVELOPE_BODY_UNSET, "-B absent: unset");

	envelope_init(&env);
	is_int(envelope_set_envid(&env, "QQ314159"), 0, "envid QQ314159");
	is_str(env.envid, "QQ314159", "... stored");
	is_int(envelope_set_envid(&env, "a b+c=d"), 0, "envid with space, + and = (xtext-encoded on the wire)");
	is_int(envelope_set_envid(&env, ""), -1, "empty envid: invalid");
	is_int(envelope_set_envid(&env, "bad\nline"), -1, "envid with a line break: invalid");
	is_int(envelope_set_envid(&env, "caf\xc3\xa9"), -1, "non-ASCII envid: invalid");
	memset(long_id, 'x', sizeof long_id - 1);
	long_id[ENVELOPE_ENVID_MAX] = '\0';
	is_int(envelope_set_envid(&env, long_id), 0, "100-octet envid: valid");
	long_id[ENVELOPE_ENVID_MAX] = 'x';
	long_id[ENVELOPE_ENVID_MAX + 1] = '\0';
	is_int(envelope_set_envid(&env, long_id), -1, "101-octet envid: invalid");
	is_int((int)strlen(env.envid), ENVELOPE_ENVID_MAX, "... the previous one kept");
}

/* Every option set, written and read back through envelope_read: the same
 * value; the drop file's older key names still read. */
static void
test_text_form(void)
{
	struct envelope a, b;
	struct buf out;
	const char *why = NULL;
	char *text, *save = NULL;

	envelope_init(&a);
	a.notify = ENVELOPE_NOTIFY_SUCCESS | ENVELOPE_NOTIFY_DELAY;
	a.ret = ENVELOPE_RET_HDRS;
	envelope_set_envid(&a, "id 42");
	a.body = ENVELOPE_BODY_8BITMIME;
	a.smtputf8 = ENVELOPE_UTF8_NO;
	a.requiretls = 1;
	buf_init(&out, 4096);
	is_int(envelope_format(&a, &out), 0, "format");
	is_str(buf_cstr(&out), "dsn-notify SUCCESS,DELAY\ndsn-ret HDRS\nenvid id 42\n"
	       "body 8BITMIME\nsmtputf8 no\nrequiretls yes\n", "the text form");
	text = buf_take(&out);
	envelope_init(&b);
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');
		*sp = '\0';
		is_int(envelope_read(&b, line, sp + 1, &why), 1, "read back %s", line);
	}
	ok(memcmp(&a, &b, sizeof a) == 0, "the same options after the round trip");
	free(text);

	envelope_init(&b);
	buf_init(&out, 64);
	is_int(envelope_format(&b, &out), 0, "nothing set: format");
	is_int((int)out.len, 0, "... writes nothing");
	buf_free(&out);

	is_int(envelope_read(&b, "notify", "FAILURE", &why), 1, "older drop key notify");
	is_int(b.notify, ENVELOPE_NOTIFY_FAILURE, "... read");
	is_int(envelope_read(&b, "ret", "FULL", &why), 1, "older drop key ret");
	is_int(envelope_read(&b, "rcpt", "x@y", &why), 0, "not an envelope key: 0");
	is_int(envelope_read(&b, "dsn-notify", "SOMETIMES", &why), -1, "bad notify: -1");
	ok(why && strstr(why, "notify"), "... why names it: %s", why ? why : "");
	is_int(b.notify, ENVELOPE_NOTIFY_FAILURE, "... the value kept");
	is_int(envelope_read(&b, "envid", "", &why), -1, "empty envid in a file: -1");
	is_int(envelope_read(&b, "smtputf8", "maybe", &why), -1, "smtputf8 maybe: -1");
	is_int(envelope_read(&b, "body", "BINARYMIME", &why), 1, "unknown body: read as unset");
	is_int(b.body, ENVELOPE_BODY_UNSET, "... unset");
	is_int(envelope_read(&b, "requiretls", "garbled", &why), 1, "requiretls garbled");
	is_int(b.requiretls, 1, "... keeps the request (failing safe)");
	is_int(envelope_read(&b, "requiretls", "no", &why), 1, "requiretls no");
	is_int(b.requiretls, 0, "... off");
}

int
main(void)
{
	test_notify();
	test_ret_body_envid();
	test_text_form();
	return done_testing();
}
