/* tests/unit/cert.h - one fixed certificate for the unit tests that
 * read certificates (tls.c, anchors.c). Include once per test. */
#ifndef ENVOI_TEST_CERT_H
#define ENVOI_TEST_CERT_H

/* Self-signed, made once with certtool: CN and O set, SANs DNS:mx.example.org,
 * DNS:smtp.example.org, IP:192.0.2.25, valid 2024-01-02 03:04:05 to
 * 2034-01-02 03:04:05 UTC. `certtool -i` gives its SHA-256 fingerprint as
 * 7238a05b...c4d1. */
static const char cert_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIB0zCCAXqgAwIBAgIBBzAKBggqhkjOPQQDAjAuMRMwEQYDVQQKEwplbnZvaSB1\n"
	"bml0MRcwFQYDVQQDEw5teC5leGFtcGxlLm9yZzAeFw0yNDAxMDIwMzA0MDVaFw0z\n"
	"NDAxMDIwMzA0MDVaMC4xEzARBgNVBAoTCmVudm9pIHVuaXQxFzAVBgNVBAMTDm14\n"
	"LmV4YW1wbGUub3JnMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEr+U1MzS/E1/m\n"
	"k9Dw1Eeoi4nznKgr9kaHpMRiLnzfo8E3cwqzWogliWckuchgoDKumsPvGT1WAlZI\n"
	"vIuzPC5Ut6OBiDCBhTAMBgNVHRMBAf8EAjAAMDEGA1UdEQQqMCiCDm14LmV4YW1w\n"
	"bGUub3JnghBzbXRwLmV4YW1wbGUub3JnhwTAAAIZMBMGA1UdJQQMMAoGCCsGAQUF\n"
	"BwMBMA4GA1UdDwEB/wQEAwIHgDAdBgNVHQ4EFgQUoU77r3eFyjh/vvyVoYdarHKZ\n"
	"XuAwCgYIKoZIzj0EAwIDRwAwRAIgCiWbd2s+J4j7EtIhkhUsGINh4TeAexoGUGKw\n"
	"8qaAyR0CID4S3W8cMUIDMGbaCdPLW/KXQ+rW7UbpcRUzC+SFE+lQ\n"
	"-----END CERTIFICATE-----\n";

#endif
