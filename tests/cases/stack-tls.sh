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
plan 49
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

# --- TLS 1.3 session resumption across runs (tlscache.h). A queue
# directory of its own, so that the runs above left no ticket in it.
QD=$TESTDIR/resume-queue
send_resume() {  # NAME [directives...]: one message, -v, delivered?
	local name=$1
	shift
	s=$(stack_subject "$name")
	stack_config "$CONF" starttls "queue_dir $QD" "$@"
	stack_msg "$s" >"$INPUT"
	run_envoi -C "$CONF" -v bob@example.org
	is_status 0 "$name: exit 0"
	ok "$name: delivered" stack_delivered bob@example.org "$s"
}
ticket() { find "$QD/tls" -type f 2>/dev/null; }
full='server certificate for 127\.0\.0\.1 verified'
resumed='session resumed: 127\.0\.0\.1 proved it is the server verified before'

send_resume resume-first
like "$STDERR" "$full" "first run: a full handshake, the certificate verified"
like "$STDERR" 'TLS session cache: saved' "... and Postfix's ticket saved"
t=$(ticket)
ok "... in one file under queue_dir/tls" [ -n "$t" ] && [ "$(ticket | wc -l)" = 1 ]
is "$(stat -c %a "$QD/tls") $(stat -c %a "$t")" "700 600" "... directory 0700, file 0600"
without_password() { ! grep -qaF "$STACK_PASSWORD" "$1"; }
ok "... and the password is not in it" without_password "$t"

send_resume resume-second
like "$STDERR" "$resumed" "second run: the session resumed, no certificate checked"
unlike "$STDERR" "$full" "... no full verification"

chmod 644 "$t"
send_resume resume-readable
like "$STDERR" 'ignored: not a private file' "a ticket file others may read is ignored"
like "$STDERR" "$full" "... a full handshake instead"
is "$(stat -c %a "$t")" 600 "... and it is replaced by a private one"

# damage the session data, keep the header: GnuTLS refuses it, full handshake
head -n 2 "$t" >"$t.x" && printf 'garbage, not a session' >>"$t.x" && mv "$t.x" "$t"
chmod 600 "$t"
send_resume resume-garbage
like "$STDERR" "$full" "damaged session data: a full handshake, delivered"

# another verification policy never uses this ticket
cp "$STACK_CA" "$TESTDIR/ca-copy.pem"
send_resume resume-policy "tls_trust_file $TESTDIR/ca-copy.pem"
like "$STDERR" "$full" "another tls_trust_file: a full handshake"
is "$(ticket | wc -l)" 2 "... and a ticket of its own"

# off: no lookup, nothing saved
rm -rf "$QD/tls"
send_resume resume-off "tls_session_cache off"
unlike "$STDERR" 'TLS session cache' "tls_session_cache off: not looked up, not saved"
ok "... no ticket file" [ -z "$(ticket)" ]

# tls_certcheck off: nothing was verified, nothing is kept
send_resume resume-nocheck "tls_certcheck off"
ok "tls_certcheck off: no ticket kept" [ -z "$(ticket)" ]
