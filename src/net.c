/* net.c - see net.h. */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <idn2.h>

#include "net.h"
#include "sock.h"

/* Longest timeout accepted, so seconds * 1000 fits an int: ~24 days. */
#define NET_TIMEOUT_MAX_S (INT_MAX / 1000)

static int
clamp_secs(int s)
{
	return s < 0 ? 0 : s > NET_TIMEOUT_MAX_S ? NET_TIMEOUT_MAX_S : s;
}

void
conn_init(struct conn *c, int timeout_s, struct log *log)
{
	c->fd = -1;
	c->timeout_ms = clamp_secs(timeout_s) * 1000;
	c->limit = 0;
	c->limit_ms = 0;
	c->tls = NULL;
	c->rpos = c->rlen = 0;
	c->log = log;
}

void
conn_set_limit(struct conn *c, int limit_s)
{
	c->limit_ms = clamp_secs(limit_s) * 1000;
	c->limit = sock_deadline_after(c->limit_ms);
}

long long
conn_deadline(const struct conn *c)
{
	long long d = sock_deadline_after(c->timeout_ms);

	return c->limit && (d == 0 || c->limit < d) ? c->limit : d;
}

/* The deadline of an operation passed: the reply's own, or the session's. */
static int
timed_out(const struct conn *c, long long deadline, const char *what, struct err *e)
{
	if (c->limit && deadline == c->limit)
		return err_set(e, EX_TEMPFAIL, "timed out %s: the session went past its limit "
		    "of %d s (a server this slow is treated as down)", what,
		    sock_timeout_secs(c->limit_ms));
	return err_set(e, EX_TEMPFAIL, "timed out after %d s %s", sock_timeout_secs(c->timeout_ms),
	    what);
}

/* One address: 0 connected (fd in *out), else -1 with the reason in errno
 * (a timeout is reported as ETIMEDOUT). */
static int
connect_one(const struct addrinfo *ai, long long deadline, int *out)
{
	int fd, r, soerr = 0, saved;
	socklen_t len = sizeof soerr;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    ai->ai_protocol);
	if (fd < 0)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS && errno != EINTR)
			goto fail;
		r = sock_wait_fd(fd, POLLOUT, deadline);
		if (r == 0) {
			errno = ETIMEDOUT;
			goto fail;
		}
		if (r < 0)
			goto fail;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
			goto fail;
		if (soerr) {
			errno = soerr;
			goto fail;
		}
	}
	*out = fd;
	return 0;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

static void
address_text(const struct addrinfo *ai, char *dst, size_t size)
{
	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, dst, (socklen_t)size, NULL, 0,
	    NI_NUMERICHOST) != 0)
		snprintf(dst, size, "?");
}

int
net_connect(struct conn *c, const char *host, int port, struct err *e)
{
	struct addrinfo hints, *res = NULL, *ai;
	char service[16], where[INET6_ADDRSTRLEN + 8], *ascii = NULL;
	const unsigned char *p;
	int r, fd = -1, last_errno = 0, one = 1;

	if (port < 1 || port > 65535)
		return err_set(e, EX_CONFIG, "invalid port %d", port);
	snprintf(service, sizeof service, "%d", port);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	/* No AI_ADDRCONFIG: it hides ::1 and 127.0.0.1 on a machine whose
	 * only interface is loopback, which is exactly a test setup. */
	hints.ai_flags = AI_NUMERICSERV;
	/* The contract is an A-label, but a UTF-8 name slipping through is
	 * converted here rather than failing as "unknown host". */
	for (p = (const unsigned char *)host; *p && *p < 0x80; p++)
		;
	if (*p) {
		r = idn2_to_ascii_8z(host, &ascii, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
		if (r != IDN2_OK)
			return err_set(e, EX_NOHOST, "cannot resolve %s: %s", host,
			    idn2_strerror(r));
	}
	r = getaddrinfo(ascii ? ascii : host, service, &hints, &res);
	idn2_free(ascii);
	if (r != 0) {
		switch (r) {
		case EAI_NONAME:
			/* Configuration, not user input: the message waits
			 * (net.h), and the line says what to check. */
			return err_set(e, EX_TEMPFAIL, "cannot resolve %s: the name does not "
			    "exist (%s); check it with `host %s`", host, gai_strerror(r), host);
#ifdef EAI_NODATA
		case EAI_NODATA:
			return err_set(e, EX_TEMPFAIL, "cannot resolve %s: the name has no "
			    "address (%s); check it with `host %s`", host, gai_strerror(r), host);
#endif
		case EAI_SYSTEM:
			return err_set(e, EX_TEMPFAIL, "cannot resolve %s: %s", host,
			    strerror(errno));
		case EAI_MEMORY:
			return err_set(e, EX_OSERR, "cannot resolve %s: %s", host,
			    gai_strerror(r));
		default:        /* EAI_AGAIN, EAI_FAIL: the resolver may recover */
			return err_set(e, EX_TEMPFAIL, "cannot resolve %s: %s", host,
			    gai_strerror(r));
		}
	}
	for (ai = res; ai; ai = ai->ai_next) {
		if (c->log) {
			address_text(ai, where, sizeof where);
			log_debug(c->log, "connecting to %s port %d (%s)", host, port, where);
		}
		if (connect_one(ai, conn_deadline(c), &fd) == 0)
			break;
		last_errno = errno;
		if (c->log)
			log_debug(c->log, "%s: %s", where, strerror(last_errno));
	}
	freeaddrinfo(res);
	if (fd < 0) {
		if (last_errno == ETIMEDOUT && c->limit && sock_now_ms() >= c->limit)
			return err_set(e, EX_TEMPFAIL, "cannot connect to %s port %d: the session "
			    "went past its limit of %d s", host, port, sock_timeout_secs(c->limit_ms));
		if (last_errno == ETIMEDOUT)
			return err_set(e, EX_TEMPFAIL, "cannot connect to %s port %d: timed "
			    "out after %d s", host, port, sock_timeout_secs(c->timeout_ms));
		return err_set(e, EX_TEMPFAIL, "cannot connect to %s port %d: %s", host,
		    port, strerror(last_errno ? last_errno : ECONNREFUSED));
	}
	/* Writes are whole commands or pipelined groups already: Nagle would
	 * only hold them back waiting for an ACK. Failure is harmless. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->fd = fd;
	c->rpos = c->rlen = 0;
	return 0;
}

/* Refill rbuf after rlen by deadline. Returns bytes read, 0 on EOF, -1
 * with *e. */
static ssize_t
fill(struct conn *c, long long deadline, struct err *e)
{
	ssize_t r;
	int w;

	if (c->fd < 0)
		return err_set(e, EX_SOFTWARE, "read on a closed connection");
	if (c->tls) {
		r = tls_recv(c->tls, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen, deadline, e);
		return r == TLS_TIMEOUT ? timed_out(c, deadline, "waiting for the server", e) : r;
	}
	for (;;) {
		sock_quickack(c->fd);
		r = recv(c->fd, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen, 0);
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return err_set(e, EX_TEMPFAIL, "connection lost: %s", strerror(errno));
		w = sock_wait_fd(c->fd, POLLIN, deadline);
		if (w == 0)
			return timed_out(c, deadline, "waiting for the server", e);
		if (w < 0)
			return err_set(e, EX_TEMPFAIL, "connection lost: %s", strerror(errno));
	}
}

static int
append_line(struct buf *line, const char *p, size_t n, struct err *e)
{
	if (buf_append(line, p, n) < 0) {
		if (errno == ENOSPC)
			return err_set(e, EX_PROTOCOL, "line too long from the server "
			    "(more than %zu bytes)", line->max);
		return err_set(e, EX_OSERR, "out of memory");
	}
	return 0;
}

int
conn_read_line(struct conn *c, struct buf *line, long long deadline, struct err *e)
{
	buf_reset(line);
	for (;;) {
		char *start = c->rbuf + c->rpos;
		size_t avail = c->rlen - c->rpos;
		char *nl = avail ? memchr(start, '\n', avail) : NULL;
		ssize_t r;

		if (nl) {
			size_t n = (size_t)(nl - start);

			c->rpos += n + 1;
			if (n > 0 && start[n - 1] == '\r')
				n--;
			return append_line(line, start, n, e);
		}
		/* No end of line yet: keep what we have, except a final CR,
		 * which stays in rbuf so an LF in the next read can take it
		 * off without it ever counting against the line's limit. */
		if (avail > 0 && start[avail - 1] == '\r') {
			if (append_line(line, start, avail - 1, e) < 0)
				return -1;
			c->rbuf[0] = '\r';
			c->rpos = 0;
			c->rlen = 1;
		} else {
			if (append_line(line, start, avail, e) < 0)
				return -1;
			c->rpos = c->rlen = 0;
		}
		r = fill(c, deadline, e);
		if (r < 0)
			return -1;
		if (r == 0)
			return err_set(e, EX_TEMPFAIL, "connection closed by server");
		c->rlen += (size_t)r;
	}
}

int
conn_write(struct conn *c, const void *data, size_t len, struct err *e)
{
	const char *p = data;
	long long deadline;
	size_t off = 0;
	ssize_t r;
	int w;

	if (c->fd < 0)
		return err_set(e, EX_SOFTWARE, "write on a closed connection");
	deadline = conn_deadline(c);
	if (c->tls) {
		r = tls_send(c->tls, data, len, deadline, e);
		return r == TLS_TIMEOUT ? timed_out(c, deadline, "sending to the server", e) :
		    (int)r;
	}
	while (off < len) {
		r = send(c->fd, p + off, len - off, MSG_NOSIGNAL);
		if (r > 0) {
			off += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return err_set(e, EX_TEMPFAIL, "connection lost: %s", strerror(errno));
		w = sock_wait_fd(c->fd, POLLOUT, deadline);
		if (w == 0)
			return timed_out(c, deadline, "sending to the server", e);
		if (w < 0)
			return err_set(e, EX_TEMPFAIL, "connection lost: %s", strerror(errno));
	}
	return 0;
}

size_t
conn_pending(const struct conn *c)
{
	return c->rlen - c->rpos;
}

int
conn_start_tls(struct conn *c, const struct tls_opts *o, struct err *e)
{
	struct tls_opts opts = *o;

	if (c->fd < 0)
		return err_set(e, EX_SOFTWARE, "TLS on a closed connection");
	if (c->tls)
		return err_set(e, EX_SOFTWARE, "TLS is already active");
	if (conn_pending(c))
		return err_set(e, EX_PROTOCOL, "the server sent data after its STARTTLS "
		    "reply, before TLS started (possible command injection)");
	/* One deadline for the whole handshake, within the session's limit. */
	opts.timeout_ms = c->timeout_ms;
	if (c->limit) {
		long long left = c->limit - sock_now_ms();
		if (opts.timeout_ms == 0 || left < opts.timeout_ms)
			opts.timeout_ms = left > 0 ? (int)left : 1;
	}
	if (tls_client_start(&c->tls, c->fd, &opts, e) < 0)
		return -1;
	c->rpos = c->rlen = 0;
	return 0;
}

void
conn_close(struct conn *c)
{
	if (c->tls) {
		tls_close(c->tls);
		c->tls = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->rpos = c->rlen = 0;
}
