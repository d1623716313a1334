#!/bin/sh
# Integration: TLS against the real Postfix + Dovecot stack (tests/stack).
# STARTTLS on the submission port and implicit TLS on the smtps port
# deliver; an untrusted certificate (other trust anchor, or the system
# store) is refused with EX_NOPERM before any credentials are sent; a
# pinned SHA-256 fingerprint overrides the CAs when right and refuses the
# server when wrong.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/stack/functions.sh"

stack_up
tap_plan 19
conf=$stack_tmp/envoi.conf
msg=$stack_tmp/message

# refused NAME SUBJECT: the run was refused for a certificate reason and
# neither mail nor credentials went out.
refused() {
	tap_is "$envoi_rc" 77 "$1: exit 77 (EX_NOPERM)"
	printf '%s\n' "$envoi_err" | grep -qi 'certific\|fingerprint\|trust\|verif'
	tap_ok $? "$1: stderr says why" || tap_diag "stderr: $envoi_err"
	stack_absent bob@example.org "$2" && [ "$(stack_auth_count)" = "$auths" ]
	tap_ok $? "$1: nothing delivered, no AUTH sent"
}

# --- STARTTLS on the submission port
s=$(stack_subject starttls)
stack_config "$conf" starttls
stack_msg "$s" >"$msg"
stack_envoi starttls "$msg" -C "$conf" bob@example.org
tap_is "$envoi_rc" 0 "STARTTLS: exit 0" || tap_diag "stderr: $envoi_err"
f=$(stack_wait bob@example.org "$s")
tap_ok $? "STARTTLS: delivered to bob"
grep -q 'using TLSv1\.3' "$f" 2>/dev/null
tap_ok $? "STARTTLS: Received shows TLS 1.3"
grep -q 'Authenticated sender: alice' "$f" 2>/dev/null
tap_ok $? "STARTTLS: Received shows the authenticated user"

# --- implicit TLS on the smtps port
s=$(stack_subject smtps)
stack_config "$conf" smtps
stack_msg "$s" >"$msg"
stack_envoi smtps "$msg" -C "$conf" bob@example.org
tap_is "$envoi_rc" 0 "implicit TLS: exit 0" || tap_diag "stderr: $envoi_err"
f=$(stack_wait bob@example.org "$s")
tap_ok $? "implicit TLS: delivered to bob"
grep -q 'using TLSv1\.3' "$f" 2>/dev/null &&
	grep -q 'Authenticated sender: alice' "$f"
tap_ok $? "implicit TLS: Received shows TLS 1.3 and the authenticated user"

# --- a trust anchor that did not issue the server's certificate
auths=$(stack_auth_count)
s=$(stack_subject untrusted)
stack_config "$conf" starttls "tls_trust_file $STACK_DIR/certs/selfsigned.pem"
stack_msg "$s" >"$msg"
stack_envoi untrusted "$msg" -C "$conf" bob@example.org
refused "untrusted CA" "$s"

# --- the system trust store does not know the throw-away CA
auths=$(stack_auth_count)
s=$(stack_subject system-store)
stack_config "$conf" smtps "tls_trust_file system"
stack_msg "$s" >"$msg"
stack_envoi system "$msg" -C "$conf" bob@example.org
refused "system trust store" "$s"

# --- pinned fingerprint, right: accepted although no CA trusts the server
s=$(stack_subject pin-good)
stack_config "$conf" starttls "tls_trust_file system" "tls_fingerprint $STACK_FPR"
stack_msg "$s" >"$msg"
stack_envoi pin-good "$msg" -C "$conf" bob@example.org
tap_is "$envoi_rc" 0 "good pin: exit 0" || tap_diag "stderr: $envoi_err"
stack_wait bob@example.org "$s" >/dev/null
tap_ok $? "good pin: delivered"

# --- pinned fingerprint, wrong: refused although the CA trusts the server
case $STACK_FPR in
00*) bad=FF${STACK_FPR#??} ;;
*) bad=00${STACK_FPR#??} ;;
esac
auths=$(stack_auth_count)
s=$(stack_subject pin-bad)
stack_config "$conf" starttls "tls_fingerprint $bad"
stack_msg "$s" >"$msg"
stack_envoi pin-bad "$msg" -C "$conf" bob@example.org
refused "wrong pin" "$s"

# --- the same pin over implicit TLS
s=$(stack_subject pin-smtps)
stack_config "$conf" smtps "tls_trust_file system" "tls_fingerprint $STACK_FPR"
stack_msg "$s" >"$msg"
stack_envoi pin-smtps "$msg" -C "$conf" bob@example.org
tap_is "$envoi_rc" 0 "good pin, implicit TLS: exit 0" || tap_diag "stderr: $envoi_err"
