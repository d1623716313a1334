/*
 * Fuzz target: aliases files (alias.h). Input: the file's text.
 * Checks: alias_parse loads it or refuses it with EX_CONFIG naming
 * "FILE:LINE:"; a loaded table resolves a few local names without a
 * crash, and what it yields never exceeds ALIAS_EXPANSION_MAX addresses.
 */
#include "fuzz.h"

#include "alias.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "root", "postmaster", "bob@localhost",
		"nobody@host.example", "x" };
	struct alias_table *t = NULL;
	struct alias_ctx c;
	struct err e;

	err_init(&e);
	if (alias_parse("aliases", (const char *)data, size, &t, &e) < 0) {
		FUZZ_CHECK(e.ex == EX_CONFIG || e.ex == EX_OSERR, "ex %d: %s", e.ex, e.msg);
		alias_table_free(t);
		return 0;
	}
	FUZZ_CHECK(alias_ctx_init(&c, t, "example.org", "host", "host.example", &e) == 0,
	    "ctx");
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		struct addr_list out;

		addr_list_init(&out);
		err_init(&e);
		if (alias_resolve(&c, names[i], &out, &e) >= 0)
			FUZZ_CHECK(out.n <= ALIAS_EXPANSION_MAX, "%zu addresses", out.n);
		else
			FUZZ_CHECK(e.ex != 0 && e.msg[0], "error without a message");
		addr_list_free(&out);
	}
	alias_ctx_free(&c);
	alias_table_free(t);
	return 0;
}
