#!/bin/bash
# Integration: TLS against the real Postfix + Dovecot stack (tests/stack).
# STARTTLS on the submission port and implicit TLS on the smtps port
# deliver; an untrusted certificate (another trust anchor, or the system
# store) is refused with EX_NOPERM before any credentials are sent; a
# pinned SHA-256 fingerprint overrides the CAs when right and refuses the
# server when wrong.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"
. "$top_srcdir/tests/stack/functions.sh"

stack_up
plan 19
CONF=$TESTDIR/envoi.conf
INPUT=$TESTDIR/message

tls_received() { grep -q 'using TLSv1\.3' "$1" && grep -q 'Authenticated sender: alice' "$1"; }
nothing_sent() { stack_absent bob@example.org "$1" && [ "$(stack_auth_count)" = "$2" ]; }

# refused WHAT SUBJECT AUTHS: refused for a certificate reason, and neither
# mail nor credentials went out (AUTHS: stack_auth_count before the run).
refused() {
	is_status 77 "$1: exit 77 (EX_NOPERM)"
	like "$STDERR" '[Cc]ertific|[Ff]ingerprint|[Tt]rust|[Vv]erif' "$1: stderr says why"
	ok "$1: nothing delivered, no AUTH sent" nothing_sent "$2" "$3"
}

# --- STARTTLS on the submission port
s=$(stack_subject starttls)
stack_config "$CONF" starttls
stack_msg "$s" >"$INPUT"
run_envoi -C "$CONF" bob@example.org
is_status 0 "STARTTLS: exit 0"
f=$(stack_wait bob@example.org "$s")
ok "STARTTLS: delivered to bob" [ -n "$f" ]
ok "STARTTLS: Received shows TLS 1.3" grep -q 'using TLSv1\.3' "$f"
ok "STARTTLS: Received shows the authenticated user" grep -q 'Authenticated sender: alice' "$f"

# --- implicit TLS on the smtps port
s=$(stack_subject smtps)
stack_config "$CONF" smtps
stack_msg "$s" >"$INPUT"
run_envoi -C "$CONF" bob@example.org
is_status 0 "implicit TLS: exit 0"
f=$(stack_wait bob@example.org "$s")
ok "implicit TLS: delivered to bob" [ -n "$f" ]
ok "implicit TLS: Received shows TLS 1.3 and the authenticated user" tls_received "$f"

# --- a trust anchor that did not issue the server's certificate
auths=$(stack_auth_count)
s=$(stack_subject untrusted)
stack_config "$CONF" starttls "tls_trust_file $STACK_DIR/certs/selfsigned.pem"
stack_msg "$s" >"$INPUT"
run_envoi -C "$CONF" bob@example.org
refused "untrusted CA" "$s" "$auths"

# --- the system trust store does not know the throw-away CA
auths=$(stack_auth_count)
s=$(stack_subject system-store)
stack_config "$CONF" smtps "tls_trust_file system"
stack_msg "$s" >"$INPUT"
run_envoi -C "$CONF" bob@example.org
refused "system trust store" "$s" "$auths"

# --- pinned fingerprint, right: accepted although no CA trusts the server
s=$(stack_subject pin-good)
stack_config "$CONF" starttls "tls_trust_file system" "tls_fingerprint $STACK_FPR"
stack_msg "$s" >"$INPUT"
run_envoi -C "$CONF" bob@example.org
is_status 0 "good pin: exit 0"
ok "good pin: delivered" stack_delivered bob@example.org "$s"

# --- pinned fingerprint, wrong: refused although the CA trusts the server
case $STACK_FPR in
00*) bad=FF${STACK_FPR#??} ;;
*) bad=00${STACK_FPR#??} ;;
esac
auths=$(stack_auth_count)
s=$(stack_subject pin-bad)
stack_config "$CONF" starttls "tls_fingerprint $bad"
stack_msg "$s" >"$INPUT"
run_envoi -C "$CONF" bob@example.org
refused "wrong pin" "$s" "$auths"

# --- the right pin over implicit TLS
s=$(stack_subject pin-smtps)
stack_config "$CONF" smtps "tls_trust_file system" "tls_fingerprint $STACK_FPR"
stack_msg "$s" >"$INPUT"
run_envoi -C "$CONF" bob@example.org
is_status 0 "good pin, implicit TLS: exit 0"
