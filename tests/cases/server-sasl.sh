#!/bin/bash
# server-sasl.sh - every SASL mechanism envoi implements, verified by
# libgsasl on the server side of tests/smtpd-script: PLAIN LOGIN CRAM-MD5
# SCRAM-SHA-1 SCRAM-SHA-256 and the -PLUS variants (tls-exporter on TLS
# 1.3, tls-unique on TLS 1.2), XOAUTH2 and OAUTHBEARER with a token from
# passwordeval, EXTERNAL with a client certificate. Each delivers, and the
# -v transcript never shows the password or any AUTH payload. `auth on`
# picks the strongest offered mechanism; a wrong password gives 77.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

CONF=$TESTDIR/conf
INPUT=$TESTDIR/message
std_message sasl >"$INPUT"

# The AUTH payloads the client sent (initial response and every line up to
# the final reply), from the server's transcript.
payloads() {
	awk '
		/^C: AUTH / { inauth = 1; if ($4 != "" && $4 != "=") print $4; next }
		inauth && /^C: / { if (length($0) > 3) print substr($0, 4); next }
		inauth && /^S: [245][0-9][0-9] / && !/^S: 334/ { inauth = 0 }
	' "$TRANSCRIPT"
}

# secrets_hidden WHAT: the password, its base64 forms and the payloads are
# absent from envoi's -v output.
secrets_hidden() {
	local p leaked=
	for p in secret c2VjcmV0 AHNlY3JldA TOKEN-alice-1234 $(payloads); do
		case $STDERR in
		*"$p"*) leaked="$leaked $p" ;;
		esac
	done
	is "$leaked" "" "$1: -v output shows no secret or AUTH payload"
}

# deliver MECH TLSVERSION: offer only MECH; `auth on` must use it.
deliver() {
	local mech=$1 v=$2
	start_server - <<EOF
tls starttls
tlsversion $v
auth $mech
user alice secret
EOF
	std_config "$CONF"
	run_envoi -C "$CONF" -v bob@example.org
	wait_server
	is_status 0 "$mech over TLS $v: exit 0"
	like "$(grep '^I: authenticated' "$TRANSCRIPT")" \
	    "alice with $mech\$" "$mech over TLS $v: server verified alice"
	ok "$mech over TLS $v: delivered" test -s "$MAILDIR/msg-1.eml"
	like "$STDERR" "AUTH $mech" "$mech over TLS $v: -v shows the AUTH command"
	secrets_hidden "$mech over TLS $v"
}

for v in 1.3 1.2; do
	for mech in PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256 \
	    SCRAM-SHA-1-PLUS SCRAM-SHA-256-PLUS; do
		deliver "$mech" "$v"
	done
done

# --- auth on picks the strongest both sides have
start_server - <<'EOF'
tls starttls
auth PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256 SCRAM-SHA-1-PLUS SCRAM-SHA-256-PLUS
user alice secret
EOF
std_config "$CONF"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 0 "all offered: exit 0"
is "$(commands | sed -n 's/^AUTH \([^ ]*\).*/\1/p')" "SCRAM-SHA-256-PLUS" \
    "auth on picks SCRAM-SHA-256-PLUS when everything is offered"

start_server - <<'EOF'
tls starttls
auth LOGIN PLAIN CRAM-MD5
user alice secret
EOF
std_config "$CONF"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 0 "PLAIN LOGIN CRAM-MD5 offered: exit 0"
like "$(commands | sed -n 's/^AUTH \([^ ]*\).*/\1/p')" '^(CRAM-MD5|PLAIN)$' \
    "auth on prefers CRAM-MD5 or PLAIN to LOGIN"

# --- an explicit mechanism is used even when a stronger one is offered
start_server - <<'EOF'
tls starttls
auth PLAIN SCRAM-SHA-256
user alice secret
EOF
std_config "$CONF" "auth plain"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 0 "auth plain with SCRAM offered: exit 0"
is "$(commands | sed -n 's/^AUTH \([^ ]*\).*/\1/p')" "PLAIN" \
    "auth plain uses PLAIN"

# --- wrong password, verified by the server
start_server - <<'EOF'
tls starttls
auth SCRAM-SHA-256
user alice secret
EOF
std_config "$CONF" "password wrong"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 77 "wrong password (SCRAM-SHA-256): exit 77"
like "$STDERR" '535' "wrong password: the server's reply is reported"
unlike "$(commands)" '^MAIL' "wrong password: no MAIL sent"

# --- OAuth 2 bearer tokens from passwordeval
for mech in XOAUTH2 OAUTHBEARER; do
	start_server - <<EOF
tls starttls
auth $mech
token alice TOKEN-alice-1234
EOF
	std_config "$CONF" "auth $(printf '%s' "$mech" | tr 'A-Z' 'a-z')" \
	    "passwordeval echo TOKEN-alice-1234"
	sed -i '/^password /d' "$CONF"
	run_envoi -C "$CONF" -v bob@example.org
	wait_server
	is_status 0 "$mech with a token from passwordeval: exit 0"
	like "$(grep '^I: authenticated' "$TRANSCRIPT")" "alice with $mech\$" \
	    "$mech: server accepted the token"
	secrets_hidden "$mech"
done

start_server - <<'EOF'
tls starttls
auth XOAUTH2
token alice TOKEN-alice-1234
EOF
std_config "$CONF" "auth xoauth2" "passwordeval echo expired-token"
sed -i '/^password /d' "$CONF"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 77 "XOAUTH2 with a refused token: exit 77"

# --- EXTERNAL with a client certificate
start_server - <<'EOF'
tls starttls
auth EXTERNAL
EOF
std_config "$CONF" "auth external" "tls_cert_file $CERTDIR/client.pem" \
    "tls_key_file $CERTDIR/client-key.pem"
sed -i '/^password /d' "$CONF"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 0 "EXTERNAL with a client certificate: exit 0"
like "$(grep '^I: authenticated' "$TRANSCRIPT")" 'alice with EXTERNAL$' \
    "EXTERNAL: the server authenticated the certificate's subject"

done_testing
