#!/bin/bash
# server-implicit.sh - implicit TLS (TLS from the first byte, "smtps"):
# no STARTTLS, the exact commands, the body byte for byte, exit 0, and the
# round trips (protocol minimum 7 with TLS 1.3; see smtpd-script.c), then
# the same over TLS 1.2 and a STARTTLS run over TLS 1.2 for comparison.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

CONF=$TESTDIR/conf
INPUT=$TESTDIR/message
std_message implicit >"$INPUT"

for v in 1.3 1.2; do
	start_server - <<EOF
tls implicit
tlsversion $v
auth PLAIN
user alice secret
EOF
	std_config "$CONF" "tls_starttls off" "domain client.example"
	run_envoi -C "$CONF" bob@example.org
	wait_server
	is_status 0 "implicit TLS $v: exit 0"
	like "$(grep '^I: TLS established' "$TRANSCRIPT")" "TLS${v//./\\.}\$" \
	    "implicit TLS $v: TLS $v negotiated"
	cmds=$(commands | sed 's/^\(AUTH PLAIN\) .*/\1/; s/ SIZE=[0-9]*$//')
	is "$cmds" "EHLO client.example
AUTH PLAIN
MAIL FROM:<sender@example.org>
RCPT TO:<bob@example.org>
DATA
.
QUIT" "implicit TLS $v: EHLO, AUTH, MAIL, RCPT, DATA, end of data, QUIT"
	crlf <"$INPUT" | file_is "$MAILDIR/msg-1.eml" \
	    "implicit TLS $v: body byte-identical"
	rt=$(round_trips)
	diag "round trips, implicit TLS $v + AUTH PLAIN, one message: $rt"
	ok "implicit TLS $v: round trips at the protocol minimum (7), got $rt" \
	    test "${rt:-99}" -le 7
done

# STARTTLS over TLS 1.2: the handshake costs one more round trip.
start_server - <<'EOF'
tls starttls
tlsversion 1.2
auth PLAIN
user alice secret
EOF
std_config "$CONF"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 0 "STARTTLS over TLS 1.2: exit 0"
rt=$(round_trips)
diag "round trips, STARTTLS over TLS 1.2, one message: $rt"
ok "STARTTLS over TLS 1.2: round trips at the minimum (10), got $rt" \
    test "${rt:-99}" -le 10

# Implicit TLS against a plaintext server fails cleanly.
start_server - <<'EOF'
tls none
EOF
std_config "$CONF" "tls_starttls off" "timeout 5"
run_envoi -C "$CONF" bob@example.org
wait_server
ok "implicit TLS to a plaintext server: fails (exit $STATUS)" \
    test "$STATUS" -ne 0
unlike "$(commands)" '^(AUTH|MAIL)' \
    "implicit TLS to a plaintext server: no AUTH or MAIL in the clear"

done_testing
