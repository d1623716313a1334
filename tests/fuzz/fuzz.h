/*
 * fuzz.h - what the libFuzzer targets in tests/fuzz share: a property
 * check that stops the run with a message, input split into option bytes
 * and pieces, and input as a file descriptor for modules that read one.
 * Header-only: each target is one .c file linked with the fuzz build of
 * src/ (Makefile.am, "fuzzing").
 */
#ifndef ENVOI_FUZZ_H
#define ENVOI_FUZZ_H

#define _GNU_SOURCE 1
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* A failed property is a crash for libFuzzer: the input is saved. */
#define FUZZ_CHECK(cond, ...) do { \
		if (!(cond)) { \
			fprintf(stderr, "fuzz property failed: %s (%s:%d): ", #cond, \
			    __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__); \
			fputc('\n', stderr); \
			abort(); \
		} \
	} while (0)

/* The input read front to back: option bytes first, then the rest. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

/* One byte (0 once the input is used up). */
static inline unsigned
fuzz_byte(struct fuzz_in *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

/* Up to `max` bytes up to (and without) the next `sep`, or to the end.
 * *len gets the length; the separator is consumed. */
static inline const char *
fuzz_field(struct fuzz_in *in, char sep, size_t *len)
{
	const char *s = (const char *)in->p;
	const uint8_t *q = memchr(in->p, sep, in->n);
	size_t l = q ? (size_t)(q - in->p) : in->n;

	*len = l;
	in->p += l + (q != NULL);
	in->n -= l + (q != NULL);
	return s;
}

/* A malloc'd NUL-terminated copy of a field ("" when exhausted). */
static inline char *
fuzz_str(struct fuzz_in *in, char sep)
{
	size_t l;
	const char *s = fuzz_field(in, sep, &l);
	char *c = malloc(l + 1);

	if (c == NULL)
		abort();
	memcpy(c, s, l);
	c[l] = '\0';
	return c;
}

/* A memory file holding p[0..n), positioned at its start. */
static inline int
fuzz_memfd(const void *p, size_t n)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);
	const char *c = p;

	if (fd < 0)
		abort();
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w <= 0)
			abort();
		c += w;
		n -= (size_t)w;
	}
	if (lseek(fd, 0, SEEK_SET) != 0)
		abort();
	return fd;
}

/* Everything in fd from its start, malloc'd and NUL-terminated. */
static inline char *
fuzz_slurp(int fd, size_t *n)
{
	off_t end = lseek(fd, 0, SEEK_END);
	char *b;

	if (end < 0 || (b = malloc((size_t)end + 1)) == NULL)
		abort();
	if (pread(fd, b, (size_t)end, 0) != end)
		abort();
	b[end] = '\0';
	*n = (size_t)end;
	return b;
}

static char fuzz_dir[64];

static inline int
fuzz_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)remove(path);     /* best effort: go on with the rest */
	return 0;
}

/* At exit: the directory goes, whatever the module left in it. */
static inline void
fuzz_tmpdir_remove(void)
{
	nftw(fuzz_dir, fuzz_rm, 8, FTW_DEPTH | FTW_PHYS);
}

/* A private directory for file-reading targets, made once per process
 * and removed at exit. */
static inline const char *
fuzz_tmpdir(void)
{
	if (fuzz_dir[0] == '\0') {
		const char *t = getenv("TMPDIR");
		snprintf(fuzz_dir, sizeof fuzz_dir, "%s/envoi-fuzz-XXXXXX",
		    t && *t && strlen(t) < 40 ? t : "/tmp");
		if (mkdtemp(fuzz_dir) == NULL)
			abort();
		atexit(fuzz_tmpdir_remove);
	}
	return fuzz_dir;
}

#endif
