/*
 * net.h - one connection to the server: resolve and connect with a
 * deadline, buffered line reading, whole writes, and TLS layered underneath
 * (STARTTLS or implicit TLS) so callers read and write the same way either
 * way.
 *
 * Owns: the socket (non-blocking from connect to close, so every wait is a
 * poll() against a deadline), the receive buffer, and the struct tls once
 * TLS is started.
 *
 * Never: knows SMTP (no commands, no reply codes), logs protocol data (the
 * session does that, with redaction), prints, or exits. A dead peer never
 * raises SIGPIPE: plain writes use MSG_NOSIGNAL and GnuTLS is told the same.
 *
 * Timeouts: conn.timeout_ms bounds each connect attempt, the whole TLS
 * handshake, each conn_write call, and whatever one deadline covers: the
 * session gives conn_read_line one deadline for all the lines of a reply,
 * so a server that drips a byte at a time cannot stretch a reply past it.
 * On top of that the caller may bound the whole session (conn_set_limit):
 * no wait goes past that limit either. Name resolution is left to the
 * system resolver's own timeouts.
 */
#ifndef ENVOI_NET_H
#define ENVOI_NET_H

#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "log.h"
#include "tls.h"

/* One receive buffer: a full TLS record (16 KiB) fits, so a pipelined
 * group of replies is usually taken in by one read. */
#define NET_RBUF_SIZE 16384

struct conn {
	int fd;                  /* -1 when not connected */
	int timeout_ms;          /* per operation (see above); 0 = none */
	long long limit;         /* the session's deadline (sock_now_ms); 0 = none */
	int limit_ms;            /* its length, for the message */
	struct tls *tls;         /* NULL while plaintext */
	char rbuf[NET_RBUF_SIZE];
	size_t rpos, rlen;       /* unread bytes are rbuf[rpos..rlen) */
	struct log *log;         /* may be NULL */
};

/* A closed connection with timeout_s seconds per operation (0 = none)
 * and no session limit. */
void conn_init(struct conn *c, int timeout_s, struct log *log);

/* From now on, the session must be over within limit_s seconds (0 = no
 * limit): every wait ends there, with EX_TEMPFAIL "timed out: ... limit
 * of N s". A later call replaces the limit (one per message). */
void conn_set_limit(struct conn *c, int limit_s);

/* The deadline of an operation (a whole reply) that starts now:
 * timeout_ms from now, or the session's limit if that comes first; 0 when
 * neither is set. */
long long conn_deadline(const struct conn *c);

/*
 * Connect to host (an A-label or an IP literal; a UTF-8 name is converted
 * with libidn2 as a safety net) on port, trying every address getaddrinfo
 * returns in turn, each with the full deadline.
 * Sets TCP_NODELAY: envoi coalesces its own writes, so Nagle only adds
 * latency. Errors are EX_TEMPFAIL: "cannot resolve HOST: the name does not
 * exist (...); check it with `host HOST`" (the smarthost is configuration:
 * a name that resolves only over a VPN, or a resolver that misbehaves,
 * must not lose the message, so it waits in the queue as for a refused
 * connection, and the session moves on to the account's next host), other
 * resolver failures, and "cannot connect to HOST port N: <reason>"
 * (refused, unreachable, timed out); EX_NOHOST only for a UTF-8 name that
 * is no valid international name; EX_CONFIG for a bad port.
 */
int net_connect(struct conn *c, const char *host, int port, struct err *e);

/*
 * Read one line into `line` (reset first), without its LF and the CR
 * before it, by `deadline` (conn_deadline; 0 = wait forever). The line may
 * not exceed line->max bytes: past that, EX_PROTOCOL "line too long". EOF
 * -> EX_TEMPFAIL "connection closed by server"; deadline -> EX_TEMPFAIL
 * "timed out after N s waiting for the server" (N = timeout_ms), or
 * "timed out: ... limit of N s" when the session's limit was the deadline.
 */
int conn_read_line(struct conn *c, struct buf *line, long long deadline, struct err *e);

/* Write all len bytes (through TLS when active) by conn_deadline().
 * EX_TEMPFAIL "connection lost: ..." or "timed out ...". */
int conn_write(struct conn *c, const void *data, size_t len, struct err *e);

/* Bytes received but not yet read. Must be 0 right after the reply to
 * STARTTLS: anything else was sent in plaintext before TLS and may be an
 * injection attempt (CVE-2011-0411 class). */
size_t conn_pending(const struct conn *c);

/*
 * Handshake on the connected socket, then reads and writes go through TLS.
 * o->timeout_ms is ignored: the whole handshake must be done within
 * c->timeout_ms (and the session's limit). Refuses (EX_PROTOCOL)
 * if plaintext bytes are still buffered. Errors as tls_client_start; on
 * failure the connection should be closed.
 */
int conn_start_tls(struct conn *c, const struct tls_opts *o, struct err *e);

/* Send TLS close_notify without waiting for the answer, close the socket,
 * free the TLS state. Safe to call twice or on a closed conn. */
void conn_close(struct conn *c);

#endif
