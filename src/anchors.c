/* anchors.c - see anchors.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "anchors.h"

#define PEM_BEGIN "-----BEGIN CERTIFICATE-----"
#define PEM_END "-----END CERTIFICATE-----"
/* Base64 characters decoded first (8 lines of 64 and their newlines): 384
 * octets, past the subject of nearly every certificate (8 of the 150 of
 * Debian's bundle need the rest decoded too). */
#define PEM_PREFIX 520

/* Value of each octet as a base64 character; -1 for whitespace (skipped),
 * -2 for anything else (the block is not valid base64). A table: the
 * decoder's loop is most of the time spent on a bundle. */
static const signed char b64val[256] = {
	-2, -2, -2, -2, -2, -2, -2, -2, -2, -1, -1, -2, -2, -1, -2, -2,
	-2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2,
	-1, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, 62, -2, -2, -2, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -2, -2, -2, -2, -2, -2,
	-2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -2, -2, -2, -2, -2,
	-2, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -2, -2, -2, -2, -2,
	-2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2,
	-2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2,
	-2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2,
	-2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2,
	-2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2,
	-2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2,
	-2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2,
	-2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2,
};

/* Decode base64 text (whitespace allowed, '=' padding ends it) into out,
 * which has room for 3/4 of n. Returns the octet count, or -1. */
static long
b64decode(const char *in, size_t n, unsigned char *out)
{
	unsigned long acc = 0;
	int bits = 0;
	long o = 0;

	for (size_t i = 0; i < n; i++) {
		int v;

		if (in[i] == '=')
			break;
		if ((v = b64val[(unsigned char)in[i]]) == -1)
			continue;
		if (v < 0)
			return -1;
		acc = (acc << 6 | (unsigned)v) & 0xffffff;
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	return o;
}

/* One DER element at *p (before end): tag, and the content's bounds.
 * Definite lengths up to 4 octets only, as certificates use. */
static int
der_head(const unsigned char **p, const unsigned char *end, unsigned *tag, size_t *clen)
{
	const unsigned char *q = *p;
	size_t len;

	if (end - q < 2 || (q[0] & 0x1f) == 0x1f)
		return -1;
	*tag = q[0];
	len = q[1];
	q += 2;
	if (len & 0x80) {
		size_t k = len & 0x7f;

		if (k == 0 || k > 4 || (size_t)(end - q) < k)
			return -1;
		len = 0;
		while (k--)
			len = len << 8 | *q++;
	}
	*clen = len;
	*p = q;
	return 0;
}

static int
der_next(const unsigned char **p, const unsigned char *end, unsigned *tag,
         const unsigned char **content, size_t *clen)
{
	const unsigned char *q = *p;

	if (der_head(&q, end, tag, clen) < 0 || (size_t)(end - q) < *clen)
		return -1;
	*content = q;
	*p = q + *clen;
	return 0;
}

/* Enter a constructed element of tag `want` at *p: *p moves to its first
 * child and *end to its end, or stays at the data's end when only a
 * prefix of the element is at hand (a certificate decoded in part). */
static int
der_enter(const unsigned char **p, const unsigned char **end, unsigned want)
{
	unsigned tag;
	size_t len;

	if (der_head(p, *end, &tag, &len) < 0 || tag != want)
		return -1;
	if ((size_t)(*end - *p) > len)
		*end = *p + len;
	return 0;
}

int
anchors_subject(const unsigned char *der, size_t len, const unsigned char **dn,
                size_t *dn_len)
{
	const unsigned char *p = der, *end = der + len, *c, *start;
	unsigned tag;
	size_t clen;

	/* Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { ... } ... } */
	if (der_enter(&p, &end, 0x30) < 0 || der_enter(&p, &end, 0x30) < 0)
		return -1;
	/* [0] version (optional), serialNumber, signature, issuer, validity */
	start = p;
	if (der_next(&p, end, &tag, &c, &clen) < 0)
		return -1;
	if (tag != 0xa0)
		p = start;
	if (der_next(&p, end, &tag, &c, &clen) < 0 || tag != 0x02)
		return -1;
	for (int i = 0; i < 3; i++)
		if (der_next(&p, end, &tag, &c, &clen) < 0 || tag != 0x30)
			return -1;
	start = p;
	if (der_next(&p, end, &tag, &c, &clen) < 0 || tag != 0x30)
		return -1;
	*dn = start;
	*dn_len = (size_t)(p - start);
	return 0;
}

static int
wanted(const struct anchor_names *names, const unsigned char *dn, size_t len)
{
	for (size_t i = 0; i < names->n; i++)
		if (names->len[i] == len && memcmp(names->dn[i], dn, len) == 0)
			return 1;
	return 0;
}

/* The next occurrence of the NUL-free string s in [p, end), or NULL. */
static const char *
find(const char *p, const char *end, const char *s)
{
	size_t n = strlen(s);

	while ((size_t)(end - p) >= n) {
		const char *q = memchr(p, s[0], (size_t)(end - p) - n + 1);

		if (q == NULL)
			return NULL;
		if (memcmp(q, s, n) == 0)
			return q;
		p = q + 1;
	}
	return NULL;
}

int
anchors_pick(const char *pem, size_t len, const struct anchor_names *names,
             anchor_add_fn add, void *ctx, size_t *picked, struct err *e)
{
	const char *p = pem, *end = pem + len, *b, *z;
	unsigned char *der = NULL;
	size_t cap = 0;
	int blocks = 0;

	if (picked)
		*picked = 0;
	while ((b = find(p, end, PEM_BEGIN)) != NULL &&
	       (z = find(b + sizeof PEM_BEGIN - 1, end, PEM_END)) != NULL) {
		const char *body = b + sizeof PEM_BEGIN - 1;
		size_t n = (size_t)(z - body);
		const unsigned char *dn;
		size_t dn_len;
		long dlen;

		p = z + sizeof PEM_END - 1;
		blocks++;
		if (n / 4 * 3 + 3 > cap) {
			unsigned char *nd = realloc(der, n / 4 * 3 + 3);
			if (nd == NULL) {
				free(der);
				return err_set(e, EX_OSERR, "out of memory");
			}
			der = nd;
			cap = n / 4 * 3 + 3;
		}
		/* The subject comes within the first few hundred octets:
		 * decode that much first, and the rest only when needed. */
		dlen = b64decode(body, n < PEM_PREFIX ? n : PEM_PREFIX, der);
		if (dlen <= 0 || anchors_subject(der, (size_t)dlen, &dn, &dn_len) < 0) {
			if (n <= PEM_PREFIX || (dlen = b64decode(body, n, der)) <= 0 ||
			    anchors_subject(der, (size_t)dlen, &dn, &dn_len) < 0)
				continue;
		}
		if (!wanted(names, dn, dn_len))
			continue;
		if (n > PEM_PREFIX && (dlen = b64decode(body, n, der)) <= 0)
			continue;
		{
			/* the whole certificate, not only its subject's prefix */
			const unsigned char *q = der, *c;
			unsigned tag;
			size_t clen;

			if (der_next(&q, der + dlen, &tag, &c, &clen) < 0)
				continue;
		}
		if (add(ctx, der, (size_t)dlen, e) < 0) {
			free(der);
			return -1;
		}
		if (picked)
			(*picked)++;
	}
	free(der);
	return blocks;
}
