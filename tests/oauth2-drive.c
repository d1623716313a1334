/*
 * oauth2-drive - asks src/oauth2http.c for an account's access token as a
 * send does before AUTH, against a real authorization server
 * (tests/cases/oauth2-server.sh), so that the policy is tested without an
 * SMTP server in the way:
 *
 *   oauth2-drive token CONFIG ACCOUNT [REFUSED]
 *       the access token (refreshed when due, or when it is REFUSED, as
 *       a re-AUTH will ask), printed on stdout
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
#include "oauth2http.h"

static int
fail(const struct err *e)
{
	fprintf(stderr, "oauth2-drive: %s\n", e->msg);
	return e->ex ? e->ex : 70;
}

int
main(int argc, char **argv)
{
	struct account *a;
	struct conf c;
	struct err e;
	char *tok = NULL;
	int r;

	if (argc < 4 || strcmp(argv[1], "token") != 0) {
		fprintf(stderr, "usage: oauth2-drive token CONFIG ACCOUNT [REFUSED]\n");
		return 64;
	}
	err_init(&e);
	conf_init(&c);
	if (conf_load(&c, argv[2], NULL, &e) < 0 ||
	    (a = conf_select(&c, argv[3], NULL, &e)) == NULL)
		return fail(&e);
	r = oauth2http_account_token(a, cred_oauth2_client_secret,
	    argc > 4 ? argv[4] : NULL, &tok, NULL, &e);
	if (r == 0)
		printf("%s\n", tok);
	cred_free(tok);
	account_free(a);
	conf_free(&c);
	return r < 0 ? fail(&e) : 0;
}
