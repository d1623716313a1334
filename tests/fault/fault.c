/* tests/fault/fault.c - an LD_PRELOAD shim that makes the Nth call of a
 * chosen libc function fail with a chosen errno, for tests/cases/faults.sh.
 *
 * Environment, read once by the constructor of the program named
 * ENVOI_FAULT_PROG (default envoi) and then removed from its
 * environment, so that children (passwordeval's sh, a retrier envoi
 * re-executes) run without faults; a fork()ed child is switched off too:
 *   ENVOI_FAULT=FUNC:N:ERRNO[,FUNC:N:ERRNO...]   fail FUNC's Nth call
 *       (counted from 1 in this process) with ERRNO (a name such as EIO,
 *       or a number). For getaddrinfo, EAGAIN gives EAI_AGAIN, ENOMEM
 *       EAI_MEMORY and any other errno EAI_SYSTEM with that errno.
 *   ENVOI_FAULT_COUNT=FILE   at exit, append "FUNC COUNT" per function
 *       called at least once.
 *   ENVOI_FAULT_TRACE=1   print a backtrace on stderr where a fault hits
 *       (to find the call site a failing matrix run names).
 * FUNC is one of the family names in names[] below; each family counts the
 * entry points that do its job (open counts open, open64 and the
 * fortified __open_2; send counts send, sendto, sendmsg and writev; recv
 * counts recv, recvfrom, recvmsg, readv and __recv_chk), because which one
 * a library calls (GnuTLS pushes with sendmsg or send) is its business.
 *
 * malloc, calloc (counted as malloc) and realloc count and fail only when
 * called from the program itself (the return address is in its text):
 * an allocation failing deep inside GnuTLS is the library's to survive
 * (libtasn1 does not: it crashes on one), and envoi's own call sites are
 * what the matrix tests; the thousands of library calls would also blow
 * its time budget. They are replaced with free,
 * and free must be: while dlsym resolves the real allocator it may itself
 * allocate, and those few bytes come from a static arena that free and
 * realloc recognise. Under ASan the ASan runtime comes first in
 * LD_PRELOAD: envoi's allocations are then ASan's and never reach the
 * shim (a shim before ASan would call ASan's dlsym before ASan is ready).
 * The shim is
 * built without sanitizers or fortification (Makefile.am): it defines the
 * very functions those rewrite. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <link.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum fam { F_OPEN, F_OPENAT, F_READ, F_WRITE, F_FSYNC, F_FDATASYNC, F_RENAME,
	F_LINK, F_UNLINK, F_MKDIR, F_FLOCK, F_FTRUNCATE, F_MALLOC, F_REALLOC,
	F_SOCKET, F_CONNECT, F_GETADDRINFO, F_SEND, F_RECV, F_N };
static const char *const names[F_N] = { "open", "openat", "read", "write",
	"fsync", "fdatasync", "rename", "link", "unlink", "mkdir", "flock",
	"ftruncate", "malloc", "realloc", "socket", "connect", "getaddrinfo",
	"send", "recv" };

#define MAX_RULES 16
static struct rule { int fam; unsigned long n; int err; } rules[MAX_RULES];
static int nrules;
static int active;           /* set by the constructor, cleared in a child */
static int trace;            /* ENVOI_FAULT_TRACE: say where each fault hit */
static unsigned long counts[F_N];
static char countfile[4096];

static const struct { const char *name; int err; } errnos[] = {
	{ "ENOSPC", ENOSPC }, { "EIO", EIO }, { "EINTR", EINTR },
	{ "EAGAIN", EAGAIN }, { "ENOMEM", ENOMEM }, { "EACCES", EACCES },
	{ "EPERM", EPERM }, { "EDQUOT", EDQUOT }, { "EMFILE", EMFILE },
	{ "ECONNREFUSED", ECONNREFUSED }, { "ECONNRESET", ECONNRESET },
	{ "EPIPE", EPIPE }, { "ETIMEDOUT", ETIMEDOUT }, { "EROFS", EROFS },
};

/* fault(F): the errno to fail this call of F with, or 0 to let it run. */
static int fault(enum fam f)
{
	unsigned long c;
	int i;

	if (!active)
		return 0;
	c = __atomic_add_fetch(&counts[f], 1, __ATOMIC_RELAXED);
	for (i = 0; i < nrules; i++)
		if (rules[i].fam == (int)f && rules[i].n == c) {
			if (trace) {
				void *frames[24];

				backtrace_symbols_fd(frames, backtrace(frames, 24), 2);
			}
			return rules[i].err;
		}
	return 0;
}

static int parse_errno(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof errnos / sizeof errnos[0]; i++)
		if (strcmp(s, errnos[i].name) == 0)
			return errnos[i].err;
	return (int)strtol(s, NULL, 10);
}

/* One "FUNC:N:ERRNO" item; a malformed one is said and ignored. */
static void parse_rule(char *item)
{
	char *n = strchr(item, ':'), *e;
	int f;

	if (!n || !(e = strchr(n + 1, ':')) || nrules == MAX_RULES)
		goto bad;
	*n++ = '\0';
	*e++ = '\0';
	for (f = 0; f < F_N; f++)
		if (strcmp(item, names[f]) == 0)
			break;
	if (f == F_N || strtoul(n, NULL, 10) == 0 || parse_errno(e) <= 0)
		goto bad;
	rules[nrules].fam = f;
	rules[nrules].n = strtoul(n, NULL, 10);
	rules[nrules++].err = parse_errno(e);
	return;
bad:
	fprintf(stderr, "fault.so: ignoring ENVOI_FAULT item '%s'\n", item);
}

static void child(void) { active = 0; }

/* The program's executable segments, where envoi's own calls come from. */
static uintptr_t text_lo, text_hi;

static int find_text(struct dl_phdr_info *info, size_t size, void *data)
{
	int i;

	(void)size;
	(void)data;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		if (!text_lo || lo < text_lo)
			text_lo = lo;
		if (lo + ph->p_memsz > text_hi)
			text_hi = lo + ph->p_memsz;
	}
	return 1;       /* the first object is the program */
}

static int from_program(const void *ret)
{
	return (uintptr_t)ret >= text_lo && (uintptr_t)ret < text_hi;
}

static void write_counts(void)
{
	FILE *f;
	int i;

	if (!active || !countfile[0])
		return;
	active = 0;
	if (!(f = fopen(countfile, "a")))
		return;
	for (i = 0; i < F_N; i++)
		if (counts[i])
			fprintf(f, "%s %lu\n", names[i], counts[i]);
	fclose(f);
}

__attribute__((constructor)) static void fault_init(void)
{
	const char *spec = getenv("ENVOI_FAULT"), *cf = getenv("ENVOI_FAULT_COUNT");
	const char *prog = getenv("ENVOI_FAULT_PROG");
	char buf[1024], *item, *save;

	/* Only the program under test: not env(1) or valgrind's launcher on
	 * the way to it, which would otherwise take the variables away. */
	if (strcmp(program_invocation_short_name, prog ? prog : "envoi") != 0)
		return;
	if (spec && strlen(spec) < sizeof buf) {
		memcpy(buf, spec, strlen(spec) + 1);
		for (item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save))
			parse_rule(item);
	}
	if (cf && strlen(cf) < sizeof countfile)
		memcpy(countfile, cf, strlen(cf) + 1);
	trace = getenv("ENVOI_FAULT_TRACE") != NULL;
	unsetenv("ENVOI_FAULT");
	unsetenv("ENVOI_FAULT_COUNT");
	unsetenv("ENVOI_FAULT_TRACE");
	if (nrules == 0 && !countfile[0])
		return;
	dl_iterate_phdr(find_text, NULL);
	pthread_atfork(NULL, NULL, child);
	atexit(write_counts);
	active = 1;
}

/* The real function NAME, found once. */
#define REAL(name) \
	static __typeof__(name) *real_##name; \
	if (!real_##name) \
		real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

/* Fail with the injected errno (ret -1) when the rule says so. */
#define FAIL_IF(fam) do { \
	int err_ = fault(fam); \
	if (err_) { errno = err_; return -1; } \
} while (0)

/* ---------------------------------------------------------------- files */
ssize_t __read_chk(int fd, void *b, size_t n, size_t bl);
ssize_t __recv_chk(int fd, void *b, size_t n, size_t bl, int f);

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

/* OPEN_LIKE(fam, name, (params ending in flags, ...), (args)) */
#define OPEN_LIKE(fam, name, params, args) \
int name params \
{ \
	va_list ap; \
	mode_t mode; \
	REAL(name); \
	va_start(ap, flags); \
	mode = mode_arg(flags, ap); \
	va_end(ap); \
	FAIL_IF(fam); \
	return real_##name args; \
}
OPEN_LIKE(F_OPEN, open, (const char *path, int flags, ...), (path, flags, mode))
OPEN_LIKE(F_OPEN, open64, (const char *path, int flags, ...), (path, flags, mode))
OPEN_LIKE(F_OPENAT, openat, (int dir, const char *path, int flags, ...), (dir, path, flags, mode))
OPEN_LIKE(F_OPENAT, openat64, (int dir, const char *path, int flags, ...),
    (dir, path, flags, mode))

int __open_2(const char *path, int flags);
int __open_2(const char *path, int flags)
{
	FAIL_IF(F_OPEN);
	return open(path, flags);
}
int __openat_2(int dir, const char *path, int flags);
int __openat_2(int dir, const char *path, int flags)
{
	FAIL_IF(F_OPENAT);
	return openat(dir, path, flags);
}

/* WRAP(fam, ret, name, (params), (args)): a plain errno-returning wrapper. */
#define WRAP(fam, ret, name, params, args) \
ret name params \
{ \
	REAL(name); \
	FAIL_IF(fam); \
	return real_##name args; \
}
WRAP(F_READ, ssize_t, read, (int fd, void *b, size_t n), (fd, b, n))
WRAP(F_READ, ssize_t, __read_chk, (int fd, void *b, size_t n, size_t bl), (fd, b, n, bl))
WRAP(F_WRITE, ssize_t, write, (int fd, const void *b, size_t n), (fd, b, n))
WRAP(F_FSYNC, int, fsync, (int fd), (fd))
WRAP(F_FDATASYNC, int, fdatasync, (int fd), (fd))
WRAP(F_RENAME, int, rename, (const char *a, const char *b), (a, b))
WRAP(F_RENAME, int, renameat, (int d1, const char *a, int d2, const char *b), (d1, a, d2, b))
WRAP(F_RENAME, int, renameat2, (int d1, const char *a, int d2, const char *b,
    unsigned f), (d1, a, d2, b, f))
WRAP(F_LINK, int, link, (const char *a, const char *b), (a, b))
WRAP(F_LINK, int, linkat, (int d1, const char *a, int d2, const char *b, int f),
    (d1, a, d2, b, f))
WRAP(F_UNLINK, int, unlink, (const char *p), (p))
WRAP(F_UNLINK, int, unlinkat, (int d, const char *p, int f), (d, p, f))
WRAP(F_MKDIR, int, mkdir, (const char *p, mode_t m), (p, m))
WRAP(F_MKDIR, int, mkdirat, (int d, const char *p, mode_t m), (d, p, m))
WRAP(F_FLOCK, int, flock, (int fd, int op), (fd, op))
WRAP(F_FTRUNCATE, int, ftruncate, (int fd, off_t len), (fd, len))
WRAP(F_FTRUNCATE, int, ftruncate64, (int fd, off_t len), (fd, len))

/* ---------------------------------------------------------------- network */
WRAP(F_SOCKET, int, socket, (int d, int t, int p), (d, t, p))
/* An interrupted connect goes on in the background, as a real one does:
 * the shim connects, then says EINTR. */
int connect(int fd, const struct sockaddr *a, socklen_t l)
{
	int err, r;

	REAL(connect);
	err = fault(F_CONNECT);
	if (err && err != EINTR) {
		errno = err;
		return -1;
	}
	r = real_connect(fd, a, l);
	if (err && (r == 0 || errno == EINPROGRESS)) {
		errno = EINTR;
		return -1;
	}
	return r;
}
WRAP(F_SEND, ssize_t, send, (int fd, const void *b, size_t n, int f), (fd, b, n, f))
WRAP(F_SEND, ssize_t, sendto, (int fd, const void *b, size_t n, int f,
    const struct sockaddr *a, socklen_t l), (fd, b, n, f, a, l))
WRAP(F_SEND, ssize_t, sendmsg, (int fd, const struct msghdr *m, int f), (fd, m, f))
WRAP(F_SEND, ssize_t, writev, (int fd, const struct iovec *v, int n), (fd, v, n))
WRAP(F_RECV, ssize_t, recv, (int fd, void *b, size_t n, int f), (fd, b, n, f))
WRAP(F_RECV, ssize_t, __recv_chk, (int fd, void *b, size_t n, size_t bl, int f),
    (fd, b, n, bl, f))
WRAP(F_RECV, ssize_t, recvfrom, (int fd, void *b, size_t n, int f,
    struct sockaddr *a, socklen_t *l), (fd, b, n, f, a, l))
WRAP(F_RECV, ssize_t, recvmsg, (int fd, struct msghdr *m, int f), (fd, m, f))
WRAP(F_RECV, ssize_t, readv, (int fd, const struct iovec *v, int n), (fd, v, n))

int getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
	int err;

	REAL(getaddrinfo);
	err = fault(F_GETADDRINFO);
	if (err == EAGAIN || err == EINTR)
		return EAI_AGAIN;
	if (err == ENOMEM)
		return EAI_MEMORY;
	if (err) {
		errno = err;
		return EAI_SYSTEM;
	}
	return real_getaddrinfo(node, service, hints, res);
}

/* ---------------------------------------------------------------- memory */
static _Alignas(16) char arena[8192];
static size_t arena_used;
static __thread int resolving;

static int in_arena(const void *p)
{
	return (const char *)p >= arena && (const char *)p < arena + sizeof arena;
}

static void *arena_alloc(size_t n)
{
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (n > sizeof arena - arena_used)
		return NULL;
	p = arena + arena_used;
	arena_used += n;
	return p;
}

/* The real allocator's NAME; NULL while dlsym is finding it (dlsym may
 * allocate: the caller then takes arena memory). */
static void *real_alloc_fn(const char *name, void **slot)
{
	if (!*slot && !resolving) {
		resolving = 1;
		*slot = dlsym(RTLD_NEXT, name);
		resolving = 0;
	}
	return *slot;
}

static void *r_malloc, *r_calloc, *r_realloc, *r_free;

void *malloc(size_t n)
{
	void *(*fn)(size_t) = (void *(*)(size_t))real_alloc_fn("malloc", &r_malloc);

	if (!fn)
		return arena_alloc(n);
	if (from_program(__builtin_return_address(0)) && fault(F_MALLOC)) {
		errno = ENOMEM;
		return NULL;
	}
	return fn(n);
}

void *calloc(size_t k, size_t n)
{
	void *(*fn)(size_t, size_t) =
	    (void *(*)(size_t, size_t))real_alloc_fn("calloc", &r_calloc);
	void *p;

	if (!fn) {
		if (n && k > (size_t)-1 / n)
			return NULL;
		p = arena_alloc(k * n);
		return p ? memset(p, 0, k * n) : NULL;
	}
	if (from_program(__builtin_return_address(0)) && fault(F_MALLOC)) {
		errno = ENOMEM;
		return NULL;
	}
	return fn(k, n);
}

void *realloc(void *old, size_t n)
{
	void *(*fn)(void *, size_t) =
	    (void *(*)(void *, size_t))real_alloc_fn("realloc", &r_realloc);
	void *p;

	if (in_arena(old) || !fn) {
		/* Arena blocks are never freed; their old size is unknown, so
		 * copy what the arena can still hold (they are tiny). */
		p = fn ? malloc(n) : arena_alloc(n);
		if (p && old)
			memcpy(p, old, n < (size_t)(arena + sizeof arena - (char *)old)
			    ? n : (size_t)(arena + sizeof arena - (char *)old));
		return p;
	}
	if (from_program(__builtin_return_address(0)) && fault(F_REALLOC)) {
		errno = ENOMEM;
		return NULL;
	}
	return fn(old, n);
}

void free(void *p)
{
	void (*fn)(void *) = (void (*)(void *))real_alloc_fn("free", &r_free);

	if (!p || in_arena(p) || !fn)
		return;
	fn(p);
}
