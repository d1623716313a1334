/*
 * buf.h - the one bounded, growable byte buffer, and checked number parsing.
 *
 * Owns: struct buf, whose maximum size is fixed at init so that no protocol
 * or file input can make envoi's memory grow without bound; crossing the
 * maximum is an error the caller reports, never a silent truncation.
 * The data is always NUL-terminated (data[len] == '\0') so it can be used as
 * a C string when it holds text.
 *
 * Never: performs I/O, prints, or exits.
 *
 * Out of memory, decided once for all of envoi: an allocation that fails
 * is an error like any other. The function that saw it returns -1 with
 * EX_OSERR ("out of memory") or its own NULL, and the failure travels up
 * in struct err to main, which reports it in one line; a message already
 * in the queue stays there and a submission not yet queued fails with a
 * non-zero exit, so nothing is lost and nothing half-done is sent. We do
 * not abort in an allocator wrapper instead: the fault-injection matrix
 * (tests/cases/faults.sh) fails envoi's own allocations one at a time and
 * checks exactly these outcomes (in CI every allocation of a submission
 * and samples of the other scenarios; FAULT_MATRIX=every all of them),
 * and an abort would lose the one-line diagnostic principle 2 asks for.
 * Hence no x-prefixed "never fails" helpers: str_dup below may return NULL
 * and every caller checks.
 */
#ifndef ENVOI_BUF_H
#define ENVOI_BUF_H

#include <stddef.h>

#include "err.h"

struct buf {
	char *data;     /* NULL until the first append; always NUL-terminated after */
	size_t len;
	size_t cap;
	size_t max;     /* the most len may ever be */
};

/* An empty buffer that may hold at most `max` bytes. Allocates nothing. */
void buf_init(struct buf *b, size_t max);

/* Append; -1 with errno ENOSPC past max, ENOMEM if allocation fails
 * (the buffer is unchanged then). */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) ENVOI_PRINTF(2, 3);

/* Make room for n more bytes now, so that appending up to n bytes later
 * cannot fail for want of memory: for a reply that must be read after
 * the point of no return. -1 with errno ENOSPC past max, ENOMEM. */
int buf_reserve(struct buf *b, size_t n);

/* Drop the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);

/* Forget the contents, keep the memory. */
void buf_reset(struct buf *b);

/* Release the memory; b may be reused after buf_init. */
void buf_free(struct buf *b);

/* Like buf_free, but overwrite the contents first: for secrets. */
void buf_wipe(struct buf *b);

/* The contents as a C string ("" when empty). Owned by b. */
const char *buf_cstr(const struct buf *b);

/* Detach the contents as a malloc'd C string the caller frees; b is left
 * empty. Returns NULL on allocation failure. */
char *buf_take(struct buf *b);

/* Overwrite memory in a way the compiler may not optimise away. */
void mem_wipe(void *p, size_t n);

/* strdup that accepts NULL: NULL when s is NULL, and NULL when memory
 * runs out (see above), so callers check. */
char *str_dup(const char *s);

/*
 * Checked decimal parsing: the whole of s must be a number in [min, max].
 * Returns 0 and sets *out, or -1 (and leaves *out alone).
 * Use this instead of atoi/strtol everywhere.
 */
int parse_long(const char *s, long min, long max, long *out);

#endif
