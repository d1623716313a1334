/*
 * Fuzz target: configuration files (conf.h), with eval unable to run:
 * the file is written group-writable, so conf.c distrusts it and refuses
 * eval and passwordeval, or, for a private file (which may then hold a
 * password), the input must not contain "eval" at all. Input: one option
 * byte (private or not, which account to select), then the file.
 * Checks: the file loads or is refused with EX_CONFIG/EX_OSERR and a
 * message; a loaded configuration selects and finalises an account or
 * refuses with EX_CONFIG; a selected account is complete (host, port,
 * auth set).
 */
#include "fuzz.h"

#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	unsigned opt = fuzz_byte(&in);
	int private = opt & 1;
	char path[128];
	struct conf c;
	struct account *a;
	struct err e;
	int fd;

	if (private) {
		for (size_t i = 0; i + 4 <= in.n; i++)
			if (strncasecmp((const char *)in.p + i, "eval", 4) == 0)
				return 0;
	}
	snprintf(path, sizeof path, "%s/conf", fuzz_tmpdir());
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, in.p, in.n) != (ssize_t)in.n ||
	    fchmod(fd, private ? 0600 : 0660) < 0)
		abort();
	close(fd);
	conf_init(&c);
	c.sysconfdir = fuzz_tmpdir();
	c.home = fuzz_tmpdir();
	err_init(&e);
	if (conf_load_file(&c, path, 1, NULL, &e) < 0) {
		FUZZ_CHECK((e.ex == EX_CONFIG || e.ex == EX_OSERR) && e.msg[0], "ex %d: %s", e.ex,
		    e.msg);
		conf_free(&c);
		return 0;
	}
	err_init(&e);
	a = conf_select(&c, opt & 2 ? "work" : NULL, opt & 4 ? "alice@example.org" : NULL, &e);
	if (a) {
		FUZZ_CHECK(a->host && a->port > 0 && a->auth && a->tls >= 0, "incomplete account");
		size_t n;
		char **hosts = conf_hosts(a->host, &n);
		FUZZ_CHECK(hosts && n >= 1, "no hosts in '%s'", a->host);
		conf_hosts_free(hosts);
		account_free(a);
	} else {
		FUZZ_CHECK((e.ex == EX_CONFIG || e.ex == EX_OSERR) && e.msg[0], "select ex %d: %s",
		    e.ex, e.msg);
	}
	conf_free(&c);
	return 0;
}
