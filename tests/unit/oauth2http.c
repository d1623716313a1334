/*
 * Unit tests for src/oauth2http.c: token and device authorization
 * responses (RFC 6749 5.1/5.2, RFC 8628 3.2/3.5) to grants, poll states
 * and exit codes, table-driven; the provider table. The requests
 * themselves go to a real authorization server in the scenario tests.
 */
#include "config.h"

#include <stdlib.h>

#include "conf.h"
#include "err.h"
#include "oauth2http.h"
#include "tap.h"

/* Table rows name only the columns their case needs. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

static void
test_token(void)
{
	static const struct {
		const char *name;
		long status;
		const char *body;
		int ret, ex;            /* ret 0/-1/PENDING/SLOW_DOWN; ex when -1 */
		const char *msg_has;
		const char *access, *refresh;
		long expires_in;
	} cases[] = {
		{ "refresh, not rotated", 200,
		  "{\"access_token\":\"AT\",\"token_type\":\"Bearer\",\"expires_in\":3599}",
		  0, 0, NULL, "AT", NULL, 3599 },
		{ "rotated, bearer in lower case", 200,
		  "{\"access_token\":\"AT\",\"token_type\":\"bearer\",\"expires_in\":60,"
		  "\"refresh_token\":\"RT2\",\"scope\":\"x\",\"id_token\":\"z\"}",
		  0, 0, NULL, "AT", "RT2", 60 },
		{ "expires_in as a string (Azure AD v1)", 200,
		  "{\"access_token\":\"AT\",\"token_type\":\"Bearer\",\"expires_in\":\"3600\"}",
		  0, 0, NULL, "AT", NULL, 3600 },
		{ "no expires_in", 200, "{\"access_token\":\"AT\",\"token_type\":\"Bearer\"}",
		  0, 0, NULL, "AT", NULL, 0 },
		{ "no access_token", 200, "{\"token_type\":\"Bearer\",\"expires_in\":1}",
		  -1, EX_PROTOCOL, "malformed token response: access_token is missing" },
		{ "access_token a number", 200, "{\"access_token\":7,\"token_type\":\"Bearer\"}",
		  -1, EX_PROTOCOL, "access_token is not a non-empty string" },
		{ "access_token empty", 200, "{\"access_token\":\"\",\"token_type\":\"Bearer\"}",
		  -1, EX_PROTOCOL, "access_token is not a non-empty string" },
		{ "access_token with NUL", 200, "{\"access_token\":\"a\\u0000b\",\"token_type\":\"Bearer\"}",
		  -1, EX_PROTOCOL, "not JSON (line 1, column" },
		{ "no token text in a syntax error", 200, "{\"access_token\":\"SECRET\" \"token_type\":1}",
		  -1, EX_PROTOCOL, "not JSON" },
		{ "token_type mac", 200, "{\"access_token\":\"AT\",\"token_type\":\"mac\"}",
		  -1, EX_PROTOCOL, "token_type is not Bearer" },
		{ "no token_type", 200, "{\"access_token\":\"AT\"}", -1, EX_PROTOCOL, "token_type" },
		{ "negative expires_in", 200,
		  "{\"access_token\":\"AT\",\"token_type\":\"Bearer\",\"expires_in\":-5}",
		  -1, EX_PROTOCOL, "expires_in is not a number of seconds" },
		{ "refresh_token not a string", 200,
		  "{\"access_token\":\"AT\",\"token_type\":\"Bearer\",\"refresh_token\":null}",
		  -1, EX_PROTOCOL, "refresh_token is not a non-empty string" },
		{ "duplicate member", 200,
		  "{\"access_token\":\"AT\",\"access_token\":\"AU\",\"token_type\":\"Bearer\"}",
		  -1, EX_PROTOCOL, "not JSON" },
		{ "not JSON", 200, "<html>login</html>", -1, EX_PROTOCOL, "token response: not JSON (line 1" },
		{ "an array", 200, "[1]", -1, EX_PROTOCOL, "not a JSON object" },
		{ "empty body", 200, "", -1, EX_PROTOCOL, "not JSON" },
		{ "invalid_grant", 400,
		  "{\"error\":\"invalid_grant\",\"error_description\":\"grant request is invalid\"}",
		  -1, EX_NOPERM, "the provider refused the grant (invalid_grant: grant request is invalid)" },
		{ "invalid_grant, control bytes in the description", 400,
		  "{\"error\":\"invalid_grant\",\"error_description\":\"a\\r\\nb\"}",
		  -1, EX_NOPERM, "(invalid_grant: a??b)" },
		{ "invalid_client", 401, "{\"error\":\"invalid_client\"}", -1, EX_CONFIG,
		  "refused the client (oauth2_client_id, oauth2_client_secret) (invalid_client)" },
		{ "invalid_scope", 400, "{\"error\":\"invalid_scope\"}", -1, EX_CONFIG, "oauth2_scope" },
		{ "authorization_pending", 400, "{\"error\":\"authorization_pending\"}", OAUTH2_PENDING, 0 },
		{ "slow_down", 400, "{\"error\":\"slow_down\"}", OAUTH2_SLOW_DOWN, 0 },
		{ "expired_token", 400, "{\"error\":\"expired_token\"}", -1, EX_NOPERM, "expired" },
		{ "access_denied", 400, "{\"error\":\"access_denied\"}", -1, EX_NOPERM, "refused" },
		{ "unknown error code", 400, "{\"error\":\"weird\"}", -1, EX_PROTOCOL,
		  "token endpoint error weird (HTTP 400)" },
		{ "400 without error", 400, "{}", -1, EX_PROTOCOL, "HTTP 400 without an error code" },
		{ "400 HTML", 400, "<h1>Bad</h1>", -1, EX_PROTOCOL, "not JSON" },
		{ "503", 503, "<h1>down</h1>", -1, EX_TEMPFAIL, "token endpoint: HTTP 503" },
		{ "500 with JSON", 500, "{\"error\":\"invalid_grant\"}", -1, EX_TEMPFAIL, "HTTP 500" },
		{ "429", 429, "", -1, EX_TEMPFAIL, "HTTP 429" },
	};

	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		struct oauth2_grant g;
		struct err e;
		int r;

		err_init(&e);
		r = oauth2http_parse_token(cases[k].status, cases[k].body,
		    strlen(cases[k].body), &g, &e);
		is_int(r, cases[k].ret, "token: %s: result", cases[k].name);
		if (r < 0) {
			is_int(e.ex, cases[k].ex, "token: %s: exit code", cases[k].name);
			ok(strstr(e.msg, cases[k].msg_has) != NULL, "token: %s: %s",
			    cases[k].name, e.msg);
			ok(strstr(e.msg, "SECRET") == NULL && strstr(e.msg, "u0000") == NULL,
			    "token: %s: no response text but the description", cases[k].name);
		}
		if (cases[k].ret == 0 && r == 0) {
			is_str(g.access_token, cases[k].access, "token: %s: access", cases[k].name);
			is_str(g.refresh_token, cases[k].refresh, "token: %s: refresh", cases[k].name);
			is_int(g.expires_in, cases[k].expires_in, "token: %s: expires_in", cases[k].name);
		}
		oauth2_grant_clear(&g);
	}
}

static void
test_device(void)
{
	static const struct {
		const char *name;
		long status;
		const char *body;
		int ex;
		const char *msg_has, *uri;
		long interval;
	} cases[] = {
		{ "RFC 8628 example", 200,
		  "{\"device_code\":\"GmRh\",\"user_code\":\"WDJB-MJHT\",\"verification_uri\":"
		  "\"https://example.com/device\",\"verification_uri_complete\":\"https://example.com/"
		  "device?user_code=WDJB-MJHT\",\"expires_in\":1800,\"interval\":5}",
		  0, NULL, "https://example.com/device", 5 },
		{ "Google's verification_url, no interval", 200,
		  "{\"device_code\":\"d\",\"user_code\":\"u\",\"verification_url\":\"https://g/d\","
		  "\"expires_in\":1800}", 0, NULL, "https://g/d", 5 },
		{ "no device_code", 200,
		  "{\"user_code\":\"u\",\"verification_uri\":\"https://x\",\"expires_in\":9}",
		  EX_PROTOCOL, "device authorization response: device_code is missing" },
		{ "no verification_uri", 200,
		  "{\"device_code\":\"d\",\"user_code\":\"u\",\"expires_in\":9}",
		  EX_PROTOCOL, "verification_uri is missing" },
		{ "no expires_in", 200,
		  "{\"device_code\":\"d\",\"user_code\":\"u\",\"verification_uri\":\"https://x\"}",
		  EX_PROTOCOL, "expires_in is missing" },
		{ "client refused", 401, "{\"error\":\"invalid_client\"}", EX_CONFIG, "invalid_client" },
		{ "503", 503, "", EX_TEMPFAIL, "HTTP 503" },
	};

	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		struct oauth2_device d;
		struct err e;
		int r;

		err_init(&e);
		r = oauth2http_parse_device(cases[k].status, cases[k].body,
		    strlen(cases[k].body), &d, &e);
		is_int(r < 0 ? e.ex : r, cases[k].ex, "device: %s: %s", cases[k].name,
		    r < 0 ? e.msg : "ok");
		if (r < 0 && cases[k].msg_has)
			ok(strstr(e.msg, cases[k].msg_has) != NULL, "device: %s: message",
			    cases[k].name);
		if (r == 0) {
			is_str(d.verification_uri, cases[k].uri, "device: %s: uri", cases[k].name);
			is_int(d.interval, cases[k].interval, "device: %s: interval", cases[k].name);
		}
		oauth2_device_free(&d);
	}
}

static void
test_providers(void)
{
	struct account a;
	struct oauth2http h;
	struct err e;

	memset(&a, 0, sizeof a);
	a.name = "m";
	a.oauth2_provider = "microsoft";
	a.oauth2_client_id = "cid";
	a.oauth2_tenant = "contoso.onmicrosoft.com";
	err_init(&e);
	is_int(oauth2http_init(&h, &a, &e), 0, "microsoft: init");
	is_str(h.token_url, "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
	    "microsoft: token URL with the tenant");
	is_str(h.device_url, "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/devicecode",
	    "microsoft: device URL");
	is_str(h.scope, "https://outlook.office.com/SMTP.Send offline_access", "microsoft: scope");
	oauth2http_free(&h);
	a.oauth2_tenant = NULL;
	is_int(oauth2http_init(&h, &a, &e), 0, "microsoft: init without tenant");
	ok(h.token_url && strstr(h.token_url, "/common/oauth2/v2.0/token") != NULL,
	    "microsoft: tenant common by default");
	oauth2http_free(&h);
	a.oauth2_tenant = "x/../y?";
	is_int(oauth2http_init(&h, &a, &e), -1, "microsoft: a tenant with / and ? is refused");
	is_int(e.ex, EX_CONFIG, "microsoft: bad tenant: 78");

	a.oauth2_tenant = NULL;
	a.oauth2_provider = "google";
	is_int(oauth2http_init(&h, &a, &e), 0, "google: init");
	is_str(h.token_url, "https://oauth2.googleapis.com/token", "google: token URL");
	ok(h.device_url == NULL, "google: no device flow for mail");
	is_str(h.scope, "https://mail.google.com/", "google: scope");
	oauth2http_free(&h);

	a.oauth2_provider = "custom";
	a.oauth2_token_url = "https://127.0.0.1:9/token";
	a.oauth2_device_url = "https://127.0.0.1:9/device";
	a.oauth2_scope = "openid offline_access";
	a.tls_trust_file = "/ca.pem";
	a.timeout = 7;
	is_int(oauth2http_init(&h, &a, &e), 0, "custom: init");
	ok(strcmp(h.token_url, a.oauth2_token_url) == 0 && strcmp(h.device_url, a.oauth2_device_url) == 0 &&
	    h.auth_url == NULL && strcmp(h.scope, a.oauth2_scope) == 0 &&
	    strcmp(h.ca_file, "/ca.pem") == 0 && h.timeout == 7, "custom: the account's settings");
	oauth2http_free(&h);
}

/* The transport: nothing listens on port 9 of loopback, so the request
 * fails to connect: a temporary failure naming the URL (and libcurl was
 * loaded on demand). */
static void
test_unreachable(void)
{
	struct oauth2http h;
	struct oauth2_grant g;
	struct account a;
	struct err e;

	memset(&a, 0, sizeof a);
	a.name = "c";
	a.oauth2_provider = "custom";
	a.oauth2_client_id = "cid";
	a.oauth2_token_url = "https://127.0.0.1:9/token";
	a.timeout = 5;
	err_init(&e);
	is_int(oauth2http_init(&h, &a, &e), 0, "unreachable: init");
	memset(&g, 0, sizeof g);
	is_int(oauth2http_refresh(&h, "RTsecret", &g, &e), -1, "unreachable: fails");
	is_int(e.ex, EX_TEMPFAIL, "unreachable: temporary: %s", e.msg);
	ok(strstr(e.msg, "https://127.0.0.1:9/token: ") == e.msg && strstr(e.msg, "RTsecret") == NULL,
	    "unreachable: names the URL, not the token");
	oauth2http_free(&h);
}

int
main(void)
{
	test_token();
	test_device();
	test_providers();
	test_unreachable();
	return done_testing();
}
