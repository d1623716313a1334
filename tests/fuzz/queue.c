/*
 * Fuzz target: queue entries read back from disk (queue.h), which a crash
 * or a person may have damaged. Input: ID.env, a NUL byte, then ID.st;
 * they are written into a private queue directory with an ID.msg.
 * Checks: queue_item_load either loads the entry or refuses it with
 * EX_DATAERR/EX_IOERR/EX_OSERR; a loaded entry has its recipients and no
 * line break in any string; queue_list lists it, damaged or not, once.
 */
#include "fuzz.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "queue.h"

#define ID "20260101000000abcdef01"

static void
put(const char *dir, const char *name, const char *p, size_t n)
{
	char path[256];
	int fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, p, n) != (ssize_t)n)
		abort();
	close(fd);
}

static void
one_line(const char *what, const char *s)
{
	if (s)
		FUZZ_CHECK(strpbrk(s, "\r\n") == NULL, "line break in %s", what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	const char *dir = fuzz_tmpdir();
	const char *env, *st;
	size_t envlen, stlen;
	struct queue_item it, *items = NULL;
	size_t n = 0;
	struct err e;

	env = fuzz_field(&in, '\0', &envlen);
	st = fuzz_field(&in, '\0', &stlen);
	put(dir, ID ".msg", "Subject: x\r\n\r\nbody\r\n", 20);
	put(dir, ID ".env", env, envlen);
	put(dir, ID ".st", st, stlen);
	memset(&it, 0, sizeof it);
	err_init(&e);
	if (queue_item_load(dir, ID, &it, &e) == 0) {
		FUZZ_CHECK(it.nrcpts > 0, "loaded without recipients");
		one_line("account", it.account);
		one_line("from", it.from);
		one_line("message-id", it.message_id);
		one_line("last-error", it.last_error);
		for (size_t i = 0; i < it.nrcpts; i++)
			one_line("rcpt", it.rcpts[i]);
	} else {
		FUZZ_CHECK(e.ex == EX_DATAERR || e.ex == EX_IOERR || e.ex == EX_OSERR,
		    "ex %d: %s", e.ex, e.msg);
	}
	queue_item_free(&it);
	err_init(&e);
	FUZZ_CHECK(queue_list(dir, 1, &items, &n, &e) == 0, "list: %s", e.msg);
	FUZZ_CHECK(n == 1 && strcmp(items[0].id, ID) == 0, "%zu entries listed", n);
	(void)queue_item_due(&items[0], 1767225600);
	(void)queue_item_expired(&items[0], 1767225600, 432000);
	queue_items_free(items, n);
	return 0;
}
