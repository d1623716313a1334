/*
 * tlscache.h - TLS 1.3 session resumption across invocations: one ticket
 * per server and verification policy, kept in the user's queue directory.
 *
 * Why: every envoi run is a new process, so without a cache each one
 * does a full handshake: the server's certificate chain is sent, parsed
 * and verified and its signature checked again (about 4 M of the 14 M
 * instructions of a submission). A resumed session proves the server is
 * the one verified before (tls.h) without any of that.
 *
 * Where: QUEUE_DIR/tls/ (the account's queue_dir, else the user's queue
 * directory, queue.h), mode 0700; one file per server, named by a hash
 * of its key. Losing it costs one full handshake, so every failure here
 * is silent: the connection goes on without resumption.
 *
 * File format (each file):
 *   envoi-tls-session 1\n
 *   KEY\n          host, port and every option that decides how the
 *                  server is verified (tls_trust_file, tls_fingerprint,
 *                  tls_host_override, tls_cert_file, tls_priorities):
 *                  a ticket is used only under the policy that verified
 *                  the session it resumes
 *   DATA           GnuTLS's session data (to the end of the file)
 *
 * Safety: the data is a secret (it resumes the session, with a client
 * certificate's authentication if one was used): written 0600 through a
 * temporary file and rename, read only from a regular file of the
 * caller's own with no group or other permission (else ignored, and
 * replaced at the end). Only a verified TLS 1.3 session is saved
 * (tls_session_export). Off with `tls_session_cache off`.
 *
 * Owns: the ticket files under QUEUE_DIR/tls/ and their format.
 *
 * Never: fails a connection, prints (log_debug only), or keeps anything
 * between calls but what struct tlscache holds.
 */
#ifndef ENVOI_TLSCACHE_H
#define ENVOI_TLSCACHE_H

#include <stddef.h>

#include "conf.h"
#include "log.h"
#include "tls.h"

/* Largest session data kept; GnuTLS's is well under 2 KiB. */
#define TLSCACHE_DATA_MAX 16384

struct tlscache {
	char *file;             /* NULL: no caching for this connection */
	char *key;
	void *data;             /* loaded for tls_opts.resume; NULL = none */
	size_t len;
};

/*
 * Look up a's server (host as connected to, in ASCII; port) under the
 * verification options o; when a ticket is found, point o->resume at it.
 * Does nothing when a->tls_session_cache is off or verification is.
 */
void tlscache_open(struct tlscache *c, const struct account *a, const char *host, long port,
                   struct tls_opts *o, struct log *log);

/* At the end of a connection: save t's newest ticket (NULL t: none), wipe
 * and free what c holds. */
void tlscache_close(struct tlscache *c, struct tls *t, struct log *log);

#endif
