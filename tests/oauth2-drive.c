/*
 * oauth2-drive - drives src/oauth2.c and src/oauth2http.c against a real
 * authorization server (tests/cases/oauth2-server.sh) until envoi's own
 * --oauth2-login and send-time refresh use them:
 *
 *   oauth2-drive login CONFIG ACCOUNT
 *       the device authorization grant: prints "verify URL" (the
 *       verification_uri_complete) on stdout, polls, saves the grant
 *   oauth2-drive token CONFIG ACCOUNT [REFUSED]
 *       the access token (oauth2_token: refreshed when due, or when it
 *       is REFUSED), printed on stdout
 *
 * Errors: one line on stderr, and the error's sysexits code.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "cred.h"
#include "err.h"
#include "oauth2.h"
#include "oauth2http.h"

static int
fail(const struct err *e)
{
	fprintf(stderr, "oauth2-drive: %s\n", e->msg);
	return e->ex ? e->ex : 70;
}

static int
login(struct oauth2http *h, const struct oauth2_store *s, struct err *e)
{
	struct oauth2_device d;
	struct oauth2_grant g;
	int r;

	if (oauth2http_device_start(h, &d, e) < 0)
		return -1;
	printf("verify %s\n", d.verification_uri_complete ?
	    d.verification_uri_complete : d.verification_uri);
	fflush(stdout);
	memset(&g, 0, sizeof g);
	r = oauth2http_device_poll(h, &d, &g, e);
	if (r == 0)
		r = oauth2_store_login(s, &g, e);
	oauth2_grant_clear(&g);
	oauth2_device_free(&d);
	return r;
}

int
main(int argc, char **argv)
{
	struct oauth2_store s;
	struct oauth2http h;
	struct account *a;
	struct conf c;
	struct err e;
	char *path, *home, *tok = NULL;
	int r;

	if (argc < 4 || (strcmp(argv[1], "login") && strcmp(argv[1], "token"))) {
		fprintf(stderr, "usage: oauth2-drive login|token CONFIG ACCOUNT [REFUSED]\n");
		return 64;
	}
	err_init(&e);
	conf_init(&c);
	if (conf_load(&c, argv[2], NULL, &e) < 0 ||
	    (a = conf_select(&c, argv[3], NULL, &e)) == NULL)
		return fail(&e);
	home = conf_home();
	if (a->oauth2_provider == NULL) {
		err_set(&e, EX_CONFIG, "account %s has no oauth2_provider", a->name);
		return fail(&e);
	}
	if (oauth2http_init(&h, a, &e) < 0 ||
	    (path = oauth2_store_path(a->name, home, 1, &e)) == NULL)
		return fail(&e);
	memset(&s, 0, sizeof s);
	s.path = path;
	s.account = a->name;
	s.token_url = h.token_url;
	s.client_id = h.client_id;
	s.lock_wait = a->timeout ? a->timeout : 60;
	s.refresh = oauth2http_refresh;
	s.refresh_ctx = &h;
	if (strcmp(argv[1], "login") == 0) {
		r = login(&h, &s, &e);
	} else {
		r = oauth2_token(&s, argc > 4 ? argv[4] : NULL, &tok, &e);
		if (r == 0)
			printf("%s\n", tok);
		cred_free(tok);
	}
	free(path);
	free(home);
	oauth2http_free(&h);
	account_free(a);
	conf_free(&c);
	return r < 0 ? fail(&e) : 0;
}
