#!/bin/bash
# server-tls.sh - certificate verification against tests/smtpd-script:
# a wrong name, a self-signed (untrusted) and an expired certificate are
# refused with exit 77 and a message naming the problem, before any AUTH;
# a right SHA-256 pin delivers (and overrides the CA check), a wrong pin is
# refused; tls_certcheck off accepts anything; the name is checked against
# the host (127.0.0.1 as an IP SAN, "localhost" as a DNS SAN) or
# tls_host_override, IDN-aware (bücher -> xn--bcher-kva); a client
# certificate is presented when configured.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

CONF=$TESTDIR/conf
INPUT=$TESTDIR/message
std_message tls >"$INPUT"

SCRIPT='tls starttls
auth PLAIN
user alice secret'

# with_cert NAME [config directives...]: serve certificate NAME, deliver.
with_cert() {
	local name=$1
	shift
	start_server - -c "$CERTDIR/$name.pem" -k "$CERTDIR/$name-key.pem" \
	    <<<"$SCRIPT"
	std_config "$CONF" "$@"
	run_envoi -C "$CONF" bob@example.org
	wait_server
}

# refused WHAT ERE: exit 77, stderr matches ERE, no credentials, no mail.
refused() {
	is_status 77 "$1: exit 77 (EX_NOPERM)"
	like "$STDERR" "$2" "$1: stderr names the problem"
	unlike "$(commands)" '^(AUTH|MAIL)' "$1: no AUTH or MAIL sent"
	ok "$1: nothing delivered" test ! -e "$MAILDIR/msg-1.eml"
}

fingerprint() {
	certtool --fingerprint --hash sha256 --infile "$1" |
	    tr -d ' \n' | tr 'a-f' 'A-F' | sed 's/../&:/g; s/:$//'
}

# --- the good certificate, by IP address and by name
with_cert server
is_status 0 "trusted certificate for 127.0.0.1 (IP SAN): exit 0"

start_server - <<<"$SCRIPT"
std_config "$CONF" "host localhost"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 0 "host localhost (DNS SAN; IPv6 first may be refused): exit 0"

# --- the failures
with_cert wrongname
refused "wrong name" '[Nn]ame|[Hh]ost|is for wrong\.example'

with_cert selfsigned
refused "self-signed" '[Tt]rust|[Ii]ssuer|[Ss]elf|[Ss]igner|CA'

with_cert expired
refused "expired" '[Ee]xpired'

# --- the system trust store does not know the test CA
start_server - <<<"$SCRIPT"
std_config "$CONF"
sed -i '/^tls_trust_file/d' "$CONF"
run_envoi -C "$CONF" bob@example.org
wait_server
refused "system trust store" '[Tt]rust|[Ii]ssuer|[Ss]igner|CA'

# --- a bundle as the trust file: only the anchors the chain names are
# loaded (tls.c load_anchors); the result is the whole file's
BUNDLE=$TESTDIR/bundle.pem
{ [ ! -r /etc/ssl/certs/ca-certificates.crt ] || cat /etc/ssl/certs/ca-certificates.crt
  cat "$CERTDIR/selfsigned.pem" "$CERTDIR/expired.pem" "$CERTDIR/ca.pem" \
      "$CERTDIR/wrongname.pem"; } >"$BUNDLE"
nblocks=$(grep -c -- '-----BEGIN CERTIFICATE-----' "$BUNDLE")
start_server - <<<"$SCRIPT"
std_config "$CONF" "tls_trust_file $BUNDLE"
run_envoi -C "$CONF" -v bob@example.org
wait_server
is_status 0 "a bundle of $nblocks certificates holding the CA: exit 0"
# The CA, and expired.pem and wrongname.pem where they bear the
# server's own subject (a chain certificate in the store is trusted).
like "$STDERR" "verified .*; [1-3] of $nblocks trust anchors of $BUNDLE used" \
    "... and only the CA (and the server's namesakes) loaded from it (-v says so)"

# the same bundle without the CA: refused as by the whole file
grep -v -F -f <(sed '1d;$d' "$CERTDIR/ca.pem") "$BUNDLE" >"$BUNDLE.noca"
start_server - <<<"$SCRIPT"
std_config "$CONF" "tls_trust_file $BUNDLE.noca"
run_envoi -C "$CONF" bob@example.org
wait_server
refused "a bundle without the CA" 'not signed by a trusted authority'

# the CA's block damaged (one base64 line changed): it is not picked,
# and nothing is trusted for that chain
awk -v ca="$(sed -n 3p "$CERTDIR/ca.pem")" '$0 == ca { print "!!!!" substr($0, 5); next }
    { print }' "$BUNDLE" >"$BUNDLE.bad"
start_server - <<<"$SCRIPT"
std_config "$CONF" "tls_trust_file $BUNDLE.bad"
run_envoi -C "$CONF" bob@example.org
wait_server
refused "the CA's block damaged" 'not signed by a trusted authority'

# a trust file with no certificate at all: the configuration's fault
echo "not a certificate" >"$TESTDIR/junk.pem"
start_server - <<<"$SCRIPT"
std_config "$CONF" "tls_trust_file $TESTDIR/junk.pem"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 78 "a trust file with no certificate: exit 78 (EX_CONFIG)"
like "$STDERR" "tls_trust_file $TESTDIR/junk.pem holds no PEM certificates" \
    "... naming the file"
unlike "$(commands)" '^(AUTH|MAIL)' "... no AUTH or MAIL sent"

# --- pinning
with_cert server "tls_fingerprint $(cat "$CERTDIR/server.sha256")"
is_status 0 "matching SHA-256 pin: exit 0"

with_cert selfsigned "tls_fingerprint $(fingerprint "$CERTDIR/selfsigned.pem")"
is_status 0 "pin of a self-signed certificate overrides the CA: exit 0"

lower=$(tr -d ':\n' <"$CERTDIR/server.sha256" | tr 'A-F' 'a-f' |
    sed 's/../&:/g; s/:$//')
with_cert server "tls_fingerprint $lower"
is_status 0 "pin in lower case: exit 0"

with_cert server "tls_fingerprint $(fingerprint "$CERTDIR/wrongname.pem")"
refused "mismatched pin" '[Ff]ingerprint|[Pp]in'

# --- tls_certcheck off
with_cert selfsigned "tls_certcheck off"
is_status 0 "tls_certcheck off accepts a self-signed certificate"

# --- IDN-aware name check through tls_host_override
with_cert server "tls_host_override mail.bücher.example"
is_status 0 "tls_host_override with an IDN name matches its A-label SAN"

with_cert server "tls_host_override other.example"
refused "tls_host_override with a name not in the certificate" \
    '[Nn]ame|[Hh]ost|other\.example'

# --- TLS 1.2 only server
start_server - <<<"$SCRIPT
tlsversion 1.2"
std_config "$CONF"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 0 "TLS 1.2-only server: exit 0"
like "$(grep '^I: TLS established' "$TRANSCRIPT")" 'TLS1\.2' \
    "TLS 1.2-only server: TLS 1.2 negotiated"

# --- client certificate presented when configured
start_server - <<<"$SCRIPT"
std_config "$CONF" "tls_cert_file $CERTDIR/client.pem" \
    "tls_key_file $CERTDIR/client-key.pem"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 0 "with a client certificate: exit 0"
like "$(cat "$TRANSCRIPT")" 'I: client certificate verified: CN=alice' \
    "with a client certificate: the server verified it"

done_testing
