/*
 * tls.h - the GnuTLS client: trust store, certificate verification with
 * one clear message per failure, SNI, pinning, client certificates, and
 * channel binding data for SCRAM-PLUS.
 *
 * Implements: RFC 8446 / RFC 5246 (TLS 1.3 / 1.2, via GnuTLS), RFC 6125
 * (server identity check, via GnuTLS), RFC 6066 (SNI), RFC 5929
 * (tls-unique), RFC 9266 (tls-exporter), RFC 5891 / UTS#46 (IDN host names,
 * via libidn2).
 *
 * Owns: one struct tls per connection (the GnuTLS session and its
 * credentials), the decision "is this certificate acceptable", the
 * wording of every verification failure, and a certificate's description
 * for people (tls_cert_describe, struct tls_peer: --serverinfo).
 *
 * Never: opens or closes sockets (the caller owns the fd), knows anything
 * about SMTP, prints, exits, or keeps global state of its own (GnuTLS
 * initialises itself from its library constructor). Never lets a
 * connection continue past a failed verification when certcheck is on.
 *
 * The fd given to tls_client_start must be non-blocking: every operation
 * waits with poll() against a deadline (the whole handshake against one,
 * reads and writes against the caller's), so a stalled or dripping server
 * cannot hold it past that.
 *
 * Exit codes: certificate verification failures are EX_NOPERM (the
 * documented choice: the peer is not who it claims to be, retrying will not
 * help); unreadable trust/cert/key files EX_NOINPUT, files GnuTLS cannot
 * parse and bad tls_priorities / tls_fingerprint values EX_CONFIG; handshake
 * and transport failures EX_TEMPFAIL.
 */
#ifndef ENVOI_TLS_H
#define ENVOI_TLS_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/* TLS 1.2 minimum, 1.3 preferred (GnuTLS prefers the highest enabled).
 * NORMAL's key exchange groups, X25519 moved first: GnuTLS sends key
 * shares for the first groups and servers take the first they support,
 * and an X25519 exchange costs the client about a million instructions
 * less than SECP256R1 (callgrind, one submission: 8.06 M -> 7.60 M). */
#define TLS_DEFAULT_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-GROUP-ALL:" \
	"+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1:+GROUP-X448:" \
	"+GROUP-FFDHE2048:+GROUP-FFDHE3072:+GROUP-FFDHE4096:+GROUP-FFDHE6144:+GROUP-FFDHE8192"

struct tls;

/* A certificate as a person (--serverinfo) sees it. Every text field is
 * NUL-terminated, stripped of control characters (it is server-controlled)
 * and cut to size when longer. */
#define TLS_CERT_TEXT_MAX 512
#define TLS_FPR_MAX (3 * 32)        /* "AB:CD:...:EF" and the NUL */
struct tls_cert_info {
	char subject[TLS_CERT_TEXT_MAX];    /* RFC 4514 DN, "CN=mx.example.org,O=..." */
	char issuer[TLS_CERT_TEXT_MAX];
	char not_before[40], not_after[40]; /* "2025-01-31 12:00:00 UTC" */
	long long not_before_t, not_after_t;/* the same as time_t; -1 unknown */
	char names[1024];           /* subjectAltNames, "DNS:a.example, IP:192.0.2.1",
	                             * or "" when there are none */
	char sha256[TLS_FPR_MAX];   /* "AB:CD:...": exactly the form tls_fingerprint
	                             * takes (envoi.conf(5)), for pinning */
};

/* What a handshake showed, for --serverinfo: filled as soon as the
 * handshake is done, before (and whether or not) the certificate is
 * accepted, so that a refusal can show what was refused. */
struct tls_peer {
	char version[32];           /* "TLS1.3" */
	char suite[160];            /* "(TLS1.3-X.509)-(ECDHE-X25519)-(RSA-PSS-...)-(AES-256-GCM)" */
	int have_cert;              /* the server sent an X.509 certificate ... */
	size_t chain_len;           /* ... in a chain this long */
	struct tls_cert_info cert;  /* the server's own (the chain's first) */
	char verdict[TLS_CERT_TEXT_MAX + 320];  /* how it was accepted; "" if not */
};

/*
 * Describe one certificate, DER (pem 0) or PEM (pem 1). Pure (no session
 * needed). Returns 0, or -1 with EX_DATAERR when it cannot be parsed.
 */
int tls_cert_describe(const void *data, size_t len, int pem, struct tls_cert_info *ci,
                      struct err *e);

struct tls_opts {
	const char *host;          /* name to verify and send as SNI; UTF-8 (IDN) allowed;
	                            * an IP literal gets no SNI and is checked against IP SANs */
	const char *trust_file;    /* PEM CA file; NULL = the system trust store */
	const char *fingerprint;   /* SHA-256 hex, colons optional: pin, replaces CA and name checks */
	const char *cert_file, *key_file;   /* client certificate, both or neither */
	int certcheck;             /* 0 disables verification (dangerous, documented so) */
	const char *priorities;    /* GnuTLS priority string; NULL = TLS_DEFAULT_PRIORITIES */
	int timeout_ms;            /* for the whole handshake; 0 = none */
	struct tls_peer *peer;     /* NULL, or filled as struct tls_peer says */
	/* A TLS 1.3 session to resume (tls_session_export's data from an
	 * earlier connection under these same options), or NULL. When the
	 * server resumes it, the server has proven it holds that session's
	 * secret, so it is the server verified then: the certificate is
	 * neither sent nor checked again. Data the server does not take,
	 * or that GnuTLS refuses, just means a full handshake. */
	const void *resume;
	size_t resume_len;
};

/*
 * Handshake on `fd` (connected, non-blocking) and verify the server as `o`
 * says. On success *t is a new session the caller releases with tls_close;
 * on failure *t is NULL and everything is freed (the fd stays open).
 */
int tls_client_start(struct tls **t, int fd, const struct tls_opts *o, struct err *e);

/* Returned by tls_recv and tls_send when the deadline passed first; *e
 * is left alone (the caller knows which deadline it was and words it). */
#define TLS_TIMEOUT (-2)

/*
 * Read up to n bytes by `deadline` (sock_now_ms clock; 0 = wait forever).
 * Returns the count (> 0), 0 when the server closed the connection,
 * TLS_TIMEOUT, or -1 with *e set (EX_TEMPFAIL: a broken connection). Data
 * GnuTLS has already decrypted is returned without waiting on the fd.
 */
ssize_t tls_recv(struct tls *t, void *buf, size_t n, long long deadline, struct err *e);

/* Send all n bytes by deadline. 0, TLS_TIMEOUT, or -1 with *e set
 * (EX_TEMPFAIL). */
int tls_send(struct tls *t, const void *buf, size_t n, long long deadline, struct err *e);

/*
 * Channel binding for SCRAM-PLUS: "tls-exporter" on TLS 1.3, "tls-unique"
 * on TLS 1.2 (only with the extended master secret, without which
 * tls-unique can be forwarded by a man in the middle: RFC 7627). *type is a
 * static string; *data is malloc'd raw bytes the caller frees. Returns 0,
 * or -1 when no binding is available (then SCRAM-PLUS must not be used).
 */
int tls_channel_binding(struct tls *t, const char **type, unsigned char **data, size_t *len);

/* "TLS1.3", "TLS1.2". Static string. */
const char *tls_version_name(const struct tls *t);

/* One line for -v: "TLS1.3 AES-256-GCM, server certificate for HOST
 * verified (issuer: ...)". Always NUL-terminated, cut to size. */
void tls_describe(const struct tls *t, char *dst, size_t size);

/*
 * The session's resumption data for a later connection: 0 with *data
 * (malloc'd, *len octets; secret: wipe and free it), or -1 when there is
 * none worth keeping: not TLS 1.3, no ticket received from the server, or
 * the server was not verified (tls_certcheck off).
 */
int tls_session_export(struct tls *t, void **data, size_t *len);

/* Was the session resumed (tls_opts.resume)? */
int tls_resumed(const struct tls *t);

/* Send close_notify without waiting for the server's, free the session.
 * Does not close the fd. NULL is allowed. */
void tls_close(struct tls *t);

#endif
