/* tests/unit/anchors.c - anchors_subject and anchors_pick: the subject
 * found by the DER walk is GnuTLS's own raw subject for every certificate
 * of the system bundle (when there is one) and of a fixed certificate;
 * the scan picks exactly the certificates named, skips what does not
 * decode, and stops when the callback fails. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "anchors.h"
#include "tap.h"

#include "cert.h"

struct seen {
	int calls, fail_at;
	unsigned char last[4096];
	size_t last_len;
};

static int
count_add(void *ctx, const unsigned char *der, size_t len, struct err *e)
{
	struct seen *s = ctx;

	if (++s->calls == s->fail_at)
		return err_set(e, EX_CONFIG, "stop");
	s->last_len = len < sizeof s->last ? len : 0;
	memcpy(s->last, der, s->last_len);
	return 0;
}

/* GnuTLS's raw subject of DER cert d. 0 or -1. */
static int
gnutls_subject(const gnutls_datum_t *d, gnutls_datum_t *dn)
{
	gnutls_x509_crt_t crt;
	int r;

	if (gnutls_x509_crt_init(&crt) < 0)
		return -1;
	r = gnutls_x509_crt_import(crt, d, GNUTLS_X509_FMT_DER) == 0 &&
	    gnutls_x509_crt_get_raw_dn(crt, dn) == 0 ? 0 : -1;
	gnutls_x509_crt_deinit(crt);
	return r;
}

static void
test_fixed(void)
{
	gnutls_datum_t pem = { (unsigned char *)cert_pem, sizeof cert_pem - 1 }, der, dn;
	const unsigned char *ours;
	size_t ours_len;
	struct anchor_names names;
	struct seen s;
	struct err e;
	char *two;
	const unsigned char *dnp[1];
	size_t dnl[1], picked;

	err_init(&e);
	if (!ok(gnutls_pem_base64_decode2("CERTIFICATE", &pem, &der) == 0 &&
	        gnutls_subject(&der, &dn) == 0, "GnuTLS reads the fixed certificate"))
		return;
	ours_len = 0;
	if (anchors_subject(der.data, der.size, &ours, &ours_len) < 0)
		ours_len = 0;
	ok(ours_len == dn.size && memcmp(ours, dn.data, dn.size) == 0,
	   "its subject is GnuTLS's raw subject (%zu octets)", ours_len);
	{
		size_t cut, past = 0;
		for (cut = 0; cut < der.size; cut++)
			if (anchors_subject(der.data, cut, &ours, &ours_len) == 0 &&
			    ours + ours_len > der.data + cut)
				past++;
		ok(past == 0, "cut anywhere, no subject reaches past the data (%zu did)", past);
	}
	ok(anchors_subject((const unsigned char *)"\x30\x84\xff\xff\xff\xff", 6, &ours,
	                   &ours_len) < 0, "a length past the data is refused");

	dnp[0] = dn.data;
	dnl[0] = dn.size;
	names.dn = dnp;
	names.len = dnl;
	names.n = 1;
	memset(&s, 0, sizeof s);
	picked = 99;
	is_int(anchors_pick(cert_pem, sizeof cert_pem - 1, &names, count_add, &s, &picked, &e), 1,
	       "one block seen");
	is_int(picked, 1, "... and picked");
	ok(s.last_len == der.size && memcmp(s.last, der.data, der.size) == 0,
	   "... given to the callback as its exact DER");

	/* the same twice, the second copy damaged; then one BEGIN without END */
	two = malloc(3 * sizeof cert_pem + 64);
	snprintf(two, 3 * sizeof cert_pem + 64, "junk before\n%s%s-----BEGIN CERTIFICATE-----\nAAAA\n",
	         cert_pem, cert_pem);
	/* not base64: the second block is skipped */
	strstr(strstr(two, "-----END") + 1, "MIIB")[10] = '*';
	memset(&s, 0, sizeof s);
	is_int(anchors_pick(two, strlen(two), &names, count_add, &s, &picked, &e), 2,
	       "two complete blocks seen (an unterminated one is not a block)");
	is_int(picked, 1, "... the damaged one not picked");

	names.n = 0;
	is_int(anchors_pick(two, strlen(two), &names, count_add, &s, &picked, &e), 2,
	       "no names: blocks still counted");
	is_int(picked, 0, "... nothing picked");
	is_int(anchors_pick("", 0, &names, count_add, &s, &picked, &e), 0, "empty data: no block");

	names.n = 1;
	snprintf(two, 3 * sizeof cert_pem + 64, "%s%s", cert_pem, cert_pem);
	memset(&s, 0, sizeof s);
	s.fail_at = 2;
	is_int(anchors_pick(two, strlen(two), &names, count_add, &s, &picked, &e), -1,
	       "the callback failing stops the scan with -1");
	ok(s.calls == 2 && strcmp(e.msg, "stop") == 0, "... its error kept");
	free(two);
	gnutls_free(der.data);
	gnutls_free(dn.data);
}

/* Every certificate of the system bundle: our subject is GnuTLS's. */
static void
test_system_bundle(void)
{
	const char *path = "/etc/ssl/certs/ca-certificates.crt";
	FILE *f = fopen(path, "r");
	char *data = NULL, *p;
	size_t len = 0, n = 0, same = 0, found = 0;
	long size;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) <= 0) {
		ok(1, "system bundle # SKIP %s not readable", path);
		if (f)
			fclose(f);
		return;
	}
	rewind(f);
	data = malloc((size_t)size + 1);
	len = fread(data, 1, (size_t)size, f);
	fclose(f);
	data[len] = '\0';
	for (p = data; (p = strstr(p, "-----BEGIN CERTIFICATE-----")) != NULL; p++) {
		char *end = strstr(p, "-----END CERTIFICATE-----");
		gnutls_datum_t pem, der, dn;
		const unsigned char *ours;
		size_t ours_len;

		if (end == NULL)
			break;
		pem.data = (unsigned char *)p;
		pem.size = (unsigned)(end - p + 25);
		n++;
		if (gnutls_pem_base64_decode2("CERTIFICATE", &pem, &der) < 0)
			continue;
		if (gnutls_subject(&der, &dn) == 0) {
			const unsigned char *dnp[1] = { dn.data };
			size_t dnl[1] = { dn.size }, picked = 0;
			struct anchor_names names = { dnp, dnl, 1 };
			struct seen sn;
			struct err e;

			if (anchors_subject(der.data, der.size, &ours, &ours_len) == 0 &&
			    ours_len == dn.size && memcmp(ours, dn.data, dn.size) == 0)
				same++;
			/* picked by its subject from its PEM text: the first
			 * lines decoded alone, or the whole block after them */
			memset(&sn, 0, sizeof sn);
			err_init(&e);
			if (anchors_pick(p, pem.size, &names, count_add, &sn, &picked, &e) == 1 &&
			    picked == 1 && sn.last_len == der.size &&
			    memcmp(sn.last, der.data, der.size) == 0)
				found++;
			gnutls_free(dn.data);
		}
		gnutls_free(der.data);
	}
	ok(n > 0 && same == n, "system bundle: the subject of all %zu certificates is "
	   "GnuTLS's (%zu the same)", n, same);
	ok(found == n, "... and each is picked by its subject, whole (%zu of %zu)", found, n);
	free(data);
}

int
main(void)
{
	test_fixed();
	test_system_bundle();
	return done_testing();
}
