/*
 * sock.h - waiting on a socket against a deadline, the layer under both
 * net.c (plain reads and writes, connect) and tls.c (the handshake and
 * the records), so every wait of a session is measured the same way.
 *
 * Owns: the session clock (milliseconds on the monotonic clock; a
 * deadline of 0 means none), poll() with a deadline and EINTR retried,
 * and the prompt-ACK socket option.
 *
 * Never: reads or writes data, knows about connections, TLS or SMTP,
 * prints, or exits.
 */
#ifndef ENVOI_SOCK_H
#define ENVOI_SOCK_H

long long sock_now_ms(void);

/* The deadline timeout_ms from now; 0 (none) when timeout_ms <= 0. */
long long sock_deadline_after(int timeout_ms);

/* Timeouts are configured in seconds; messages report them that way. */
int sock_timeout_secs(int timeout_ms);

/* Acknowledge what the server sends next at once (TCP_QUICKACK). Linux
 * drops back to delayed ACKs as the connection goes on, so every read
 * re-arms it. Without it a server write that expects no answer (Postfix's
 * TLS 1.3 session tickets) waits up to 40 ms for our delayed ACK, and the
 * server's Nagle holds its next reply behind it. No-op where TCP_QUICKACK
 * does not exist; errors are ignored (an optimisation only). */
void sock_quickack(int fd);

/* Wait until fd is ready for `events` or the deadline passes: 1 ready (or
 * in error: the next I/O call says which), 0 timed out, -1 poll failed. */
int sock_wait_fd(int fd, short events, long long deadline);

#endif
