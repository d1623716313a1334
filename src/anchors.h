/*
 * anchors.h - the trust anchors a server's chain can use, picked out of a
 * PEM bundle without parsing the bundle.
 *
 * Why: GnuTLS parses every certificate of a trust file when it is loaded.
 * For the system store (about 150 certificates) that costs some 60
 * million instructions, four times everything else a submission does,
 * while a chain is only ever checked against the one or two anchors whose
 * name it gives as its issuer. tls.c therefore loads the store after the
 * handshake, and only the certificates this module picks.
 *
 * How: each CERTIFICATE block is base64-decoded and its subject Name is
 * found by walking the outer DER structure (RFC 5280 4.1: Certificate,
 * TBSCertificate, then past version, serialNumber, signature, issuer and
 * validity). A certificate is picked when that subject, byte for byte,
 * equals one of the names asked for: the issuers and subjects of the
 * peer's chain (GnuTLS finds a chain's anchor by the same raw comparison,
 * and trusts a chain certificate that is itself in the store).
 *
 * Safety: this module only chooses what GnuTLS is given; GnuTLS still
 * parses the chosen anchors and does the whole verification. A block that
 * does not decode or whose structure is not understood is skipped, so a
 * mistake here can only leave an anchor out (a verification failure,
 * never a false success).
 *
 * Owns: reading PEM certificate blocks and the subject of a DER
 * certificate; the choice of anchors, never their verification.
 *
 * Never: allocates beyond one decoded block at a time, prints, or exits.
 */
#ifndef ENVOI_ANCHORS_H
#define ENVOI_ANCHORS_H

#include <stddef.h>

#include "err.h"

/* DER Names to look for (each a complete SEQUENCE, tag and length). */
struct anchor_names {
	const unsigned char *const *dn;
	const size_t *len;
	size_t n;
};

/* Called for each certificate picked, with its DER: 0, or -1 with *e to
 * stop the scan. */
typedef int (*anchor_add_fn)(void *ctx, const unsigned char *der, size_t len, struct err *e);

/*
 * Scan pem (len octets, need not be NUL-terminated) for CERTIFICATE
 * blocks and call add for every one whose subject is in names. Returns the
 * number of CERTIFICATE blocks seen (0: the data holds none), or -1 with
 * *e: memory ran out (EX_OSERR), or add failed. *picked (may be NULL)
 * counts the certificates given to add.
 */
int anchors_pick(const char *pem, size_t len, const struct anchor_names *names,
                 anchor_add_fn add, void *ctx, size_t *picked, struct err *e);

/* The subject Name of a DER certificate: *dn points into der. 0, or -1
 * when the structure is not a certificate's. */
int anchors_subject(const unsigned char *der, size_t len, const unsigned char **dn,
                    size_t *dn_len);

#endif
