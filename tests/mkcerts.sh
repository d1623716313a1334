#!/bin/sh
# mkcerts.sh DIR - make the throw-away certificates the tests use.
#
# Creates in DIR (with certtool from gnutls-bin):
#   ca.pem, ca-key.pem              test CA (trusted by the tests' clients)
#   server.pem, server-key.pem      "localhost": DNS:localhost, IP:127.0.0.1,
#                                   IP:::1, DNS:mail.xn--bcher-kva.example
#   expired.pem, expired-key.pem    signed by the CA, valid 2020 only
#   wrongname.pem, wrongname-key.pem  signed by the CA, DNS:wrong.example only
#   selfsigned.pem, selfsigned-key.pem  self-signed "localhost" (untrusted)
#   client.pem, client-key.pem      client certificate signed by the CA
#                                   (CN=alice, for SASL EXTERNAL)
#   server.sha256                   SHA-256 fingerprint of server.pem,
#                                   upper-case hex with colons (AB:CD:...)
#   server.sha256.plain             the same, lower-case hex, no colons
#
# Idempotent: when DIR/server.sha256 exists (it is written last) nothing is
# done, so concurrent test scripts can each call this on one directory
# (a mkdir lock serialises them). Quiet unless something fails.
# ECDSA P-256 keys keep it fast.
set -eu

dir=${1:?usage: mkcerts.sh DIR}
mkdir -p "$dir"
cd "$dir"
[ -s server.sha256 ] && exit 0

command -v certtool >/dev/null 2>&1 || {
	echo "mkcerts.sh: certtool not found (install gnutls-bin)" >&2
	exit 1
}

# Serialise concurrent callers; a stale lock older than a minute is broken.
tries=0
while ! mkdir .mkcerts.lock 2>/dev/null; do
	[ -s server.sha256 ] && exit 0
	tries=$((tries + 1))
	if [ "$tries" -gt 600 ]; then
		rmdir .mkcerts.lock 2>/dev/null || true
		tries=0
	fi
	sleep 0.1
done
trap 'rmdir .mkcerts.lock 2>/dev/null || true' EXIT
[ -s server.sha256 ] && exit 0

log=$(mktemp "${TMPDIR:-/tmp}/mkcerts.XXXXXX")
run() {
	if ! "$@" >"$log" 2>&1; then
		echo "mkcerts.sh: failed: $*" >&2
		cat "$log" >&2
		rm -f "$log"
		exit 1
	fi
}

key() {
	run certtool --generate-privkey --key-type ecdsa --curve secp256r1 \
		--outfile "$1"
}

# A template; validity of about ten years from now unless overridden.
tmpl() {
	cat >"$1.tmpl"
}

key ca-key.pem
tmpl ca <<'EOF'
cn = "envoi test CA"
organization = "envoi tests"
serial = 1
ca
cert_signing_key
crl_signing_key
expiration_days = 3650
EOF
run certtool --generate-self-signed --load-privkey ca-key.pem \
	--template ca.tmpl --outfile ca.pem

signed() {
	# signed NAME TEMPLATE-NAME: key + certificate signed by the CA
	key "$1-key.pem"
	run certtool --generate-certificate --load-privkey "$1-key.pem" \
		--load-ca-certificate ca.pem --load-ca-privkey ca-key.pem \
		--template "$2.tmpl" --outfile "$1.pem"
}

tmpl server <<'EOF'
cn = "localhost"
organization = "envoi tests"
serial = 2
dns_name = "localhost"
dns_name = "mail.xn--bcher-kva.example"
ip_address = "127.0.0.1"
ip_address = "::1"
tls_www_server
signing_key
encryption_key
expiration_days = 3650
EOF
# The server key is called server-key.pem, matching the other pairs.
signed server server

tmpl expired <<'EOF'
cn = "localhost"
organization = "envoi tests"
serial = 3
dns_name = "localhost"
ip_address = "127.0.0.1"
ip_address = "::1"
tls_www_server
signing_key
encryption_key
activation_date = "2020-01-01 00:00:00"
expiration_date = "2021-01-01 00:00:00"
EOF
signed expired expired

tmpl wrongname <<'EOF'
cn = "wrong.example"
organization = "envoi tests"
serial = 4
dns_name = "wrong.example"
tls_www_server
signing_key
encryption_key
expiration_days = 3650
EOF
signed wrongname wrongname

tmpl client <<'EOF'
cn = "alice"
organization = "envoi tests"
serial = 5
email = "alice@example.org"
tls_www_client
signing_key
encryption_key
expiration_days = 3650
EOF
signed client client

tmpl selfsigned <<'EOF'
cn = "localhost"
organization = "envoi untrusted"
serial = 6
dns_name = "localhost"
ip_address = "127.0.0.1"
ip_address = "::1"
tls_www_server
signing_key
encryption_key
expiration_days = 3650
EOF
key selfsigned-key.pem
run certtool --generate-self-signed --load-privkey selfsigned-key.pem \
	--template selfsigned.tmpl --outfile selfsigned.pem

run certtool --fingerprint --hash sha256 --infile server.pem
plain=$(tr -d ' \n' <"$log")
printf '%s\n' "$plain" >server.sha256.plain
printf '%s\n' "$plain" | tr 'a-f' 'A-F' | sed 's/../&:/g; s/:$//' >server.sha256.tmp
rm -f ./*.tmpl "$log"
chmod 600 ./*-key.pem
mv server.sha256.tmp server.sha256
