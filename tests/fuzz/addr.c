/*
 * Fuzz target: address lists (addr.h). Input: the text of a To/Cc field
 * body or a command-line recipient.
 * Checks: a list that parses, written back as "<a>, <b>, ...", parses to
 * the same list; qualification and rewriting of a list that parses give
 * text that parses again with as many addresses, each qualified one with
 * a domain; the envelope forms of every address addr_check accepts are
 * the UTF-8 one and an A-label one in ASCII only.
 */
#include "fuzz.h"

#include "addr.h"
#include "buf.h"

static int
rewrite_cb(void *ctx, const char *addr, int in_angle, char **repl, struct err *e)
{
	if (addr_domain(addr) == NULL)
		*repl = str_dup(in_angle ? "a@b.example" : "Some One <a@b.example>");
	return 0;
}

static void
same_list(const struct addr_list *a, const struct addr_list *b, const char *what)
{
	FUZZ_CHECK(a->n == b->n, "%s: %zu addresses, then %zu", what, a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		FUZZ_CHECK(strcmp(a->v[i], b->v[i]) == 0, "%s: '%s' became '%s'", what, a->v[i],
		    b->v[i]);
}

static void
check_forms(const char *a)
{
	struct err e;
	char *ascii = NULL, *utf8 = NULL;

	/* Callers check an address before they ask for its forms. */
	err_init(&e);
	if (addr_check(a, 0, &e) < 0)
		return;
	err_init(&e);
	if (addr_envelope_forms(a, &ascii, &utf8, &e) == 0) {
		FUZZ_CHECK(utf8 != NULL, "no UTF-8 form for '%s'", a);
		if (ascii)
			FUZZ_CHECK(addr_is_ascii(ascii), "A-label form of '%s' is '%s'", a, ascii);
		if (addr_is_ascii(a))
			FUZZ_CHECK(ascii && strcmp(ascii, a) == 0, "ASCII '%s' changed to '%s'", a,
			    ascii ? ascii : "(null)");
	} else {
		FUZZ_CHECK(ascii == NULL && utf8 == NULL, "outputs left on error");
	}
	free(ascii);
	free(utf8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct addr_list l, l2;
	struct err e;
	struct buf b;
	char *out = NULL;
	int rc, q;

	addr_list_init(&l);
	addr_list_init(&l2);
	err_init(&e);
	rc = addr_parse_list(&l, (const char *)data, size, &e);
	/* Qualify and rewrite whether or not it parsed: they parse it too. */
	err_init(&e);
	q = addr_qualify_list((const char *)data, size, "example.org", &out, &e);
	FUZZ_CHECK((q >= 0) == (rc == 0), "qualify %d but parse %d: %s", q, rc, e.msg);
	if (q >= 0) {
		err_init(&e);
		FUZZ_CHECK(addr_parse_list(&l2, out, strlen(out), &e) == 0,
		    "qualified text does not parse: %s", e.msg);
		FUZZ_CHECK(l2.n <= l.n, "qualifying added addresses");
		for (size_t i = 0; i < l2.n; i++)
			FUZZ_CHECK(addr_domain(l2.v[i]) != NULL, "'%s' not qualified", l2.v[i]);
		addr_list_free(&l2);
		addr_list_init(&l2);
	}
	free(out);
	out = NULL;
	err_init(&e);
	q = addr_rewrite_list((const char *)data, size, rewrite_cb, NULL, &out, &e);
	if (q >= 0) {
		err_init(&e);
		FUZZ_CHECK(addr_parse_list(&l2, out, strlen(out), &e) == 0,
		    "rewritten text does not parse: %s", e.msg);
		addr_list_free(&l2);
		addr_list_init(&l2);
	}
	free(out);
	if (rc == 0) {
		buf_init(&b, 64 * 1024 * 1024);
		for (size_t i = 0; i < l.n; i++) {
			FUZZ_CHECK(buf_printf(&b, "%s<%s>", i ? ", " : "", l.v[i]) == 0, "buf");
			check_forms(l.v[i]);
		}
		err_init(&e);
		FUZZ_CHECK(addr_parse_list(&l2, buf_cstr(&b), b.len, &e) == 0,
		    "'%s' does not parse again: %s", buf_cstr(&b), e.msg);
		same_list(&l, &l2, buf_cstr(&b));
		buf_free(&b);
	}
	addr_list_free(&l);
	addr_list_free(&l2);
	return 0;
}
