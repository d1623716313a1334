#!/bin/bash
# Integration: SASL against the real Postfix + Dovecot stack (tests/stack).
# Every mechanism Dovecot offers there authenticates and delivers (Postfix's
# log names the mechanism actually used); `auth on` picks the strongest
# (SCRAM-SHA-256; Dovecot 2.3 has no -PLUS variants); a wrong password ends
# in EX_NOPERM with the server's 535 reply on stderr and nothing delivered;
# -v never shows the password.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"
. "$top_srcdir/tests/stack/functions.sh"

MECHS="plain login cram-md5 scram-sha-1 scram-sha-256"

stack_up
plan 26
CONF=$TESTDIR/envoi.conf
INPUT=$TESTDIR/message

# The loop below relies on Dovecot offering exactly this list.
ok "the stack offers: $MECHS" \
	grep -q "^auth_mechanisms = $MECHS\$" "$STACK_DIR/dovecot/dovecot.conf"

for mech in $MECHS; do
	MECH=${mech^^}
	s=$(stack_subject "auth-$mech")
	stack_config "$CONF" starttls "auth $mech"
	stack_msg "$s" >"$INPUT"
	run_envoi -C "$CONF" bob@example.org
	is_status 0 "auth $mech: exit 0"
	f=$(stack_wait bob@example.org "$s")
	is "$(stack_sasl_method "$f")" "$MECH" "auth $mech: delivered, Postfix logged $MECH"
done

# auth on: the strongest mechanism both sides have, on both ports.
for mode in starttls smtps; do
	s=$(stack_subject "auth-on-$mode")
	stack_config "$CONF" $mode "auth on"
	stack_msg "$s" >"$INPUT"
	run_envoi -C "$CONF" bob@example.org
	is_status 0 "auth on, $mode: exit 0"
	f=$(stack_wait bob@example.org "$s")
	is "$(stack_sasl_method "$f")" SCRAM-SHA-256 "auth on, $mode: chose SCRAM-SHA-256"
done

# Wrong password: EX_NOPERM, the server's reply, nothing delivered.
nothing_sent() { stack_absent bob@example.org "$1" && [ "$(stack_auth_count)" = "$2" ]; }
for mech in plain scram-sha-256 on; do
	auths=$(stack_auth_count)
	s=$(stack_subject "wrong-password-$mech")
	stack_config "$CONF" starttls "auth $mech" "password not-$STACK_PASSWORD"
	stack_msg "$s" >"$INPUT"
	run_envoi -C "$CONF" bob@example.org
	is_status 77 "wrong password, auth $mech: exit 77 (EX_NOPERM)"
	like "$STDERR" '535 5\.7\.8 Error: authentication failed' \
		"wrong password, auth $mech: stderr has the server's 535 reply"
	ok "wrong password, auth $mech: nothing delivered" nothing_sent "$s" "$auths"
done

# The password never appears in envoi's output, even with -v.
no_password() { ! grep -qF -e "$STACK_PASSWORD" "$TESTDIR"/envoi*.out "$TESTDIR"/envoi*.err; }
sent_quietly() { [ "$STATUS" = 0 ] && no_password; }
for mech in plain login; do
	s=$(stack_subject "verbose-$mech")
	stack_config "$CONF" starttls "auth $mech"
	stack_msg "$s" >"$INPUT"
	run_envoi -C "$CONF" -v bob@example.org
	ok "-v with AUTH ${mech^^}: exit 0, the password is in no output" sent_quietly
done
