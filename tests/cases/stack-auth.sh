#!/bin/sh
# Integration: SASL against the real Postfix + Dovecot stack (tests/stack).
# Every mechanism Dovecot offers there authenticates and delivers (Postfix's
# log names the mechanism actually used); `auth on` picks the strongest
# (SCRAM-SHA-256); a wrong password ends in EX_NOPERM with the server's 535
# reply on stderr and nothing delivered.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/stack/functions.sh"

MECHS="plain login cram-md5 scram-sha-1 scram-sha-256"

stack_up
tap_plan 22
conf=$stack_tmp/envoi.conf
msg=$stack_tmp/message

# Dovecot advertises exactly what start.sh configured; the loop below
# relies on that list.
grep -q "^auth_mechanisms = $MECHS\$" "$STACK_DIR/dovecot/dovecot.conf"
tap_ok $? "the stack offers: $MECHS"

for mech in $MECHS; do
	MECH=$(echo "$mech" | tr 'a-z' 'A-Z')
	s=$(stack_subject "auth-$mech")
	stack_config "$conf" starttls "auth $mech"
	stack_msg "$s" >"$msg"
	stack_envoi "auth-$mech" "$msg" -C "$conf" bob@example.org
	tap_is "$envoi_rc" 0 "auth $mech: exit 0" || tap_diag "stderr: $envoi_err"
	f=$(stack_wait bob@example.org "$s")
	tap_is "$(stack_sasl_method "$f")" "$MECH" "auth $mech: delivered, Postfix logged $MECH"
done

# auth on: the strongest mechanism both sides have.
s=$(stack_subject auth-on)
stack_config "$conf" starttls "auth on"
stack_msg "$s" >"$msg"
stack_envoi auth-on "$msg" -C "$conf" bob@example.org
tap_is "$envoi_rc" 0 "auth on: exit 0" || tap_diag "stderr: $envoi_err"
f=$(stack_wait bob@example.org "$s")
tap_is "$(stack_sasl_method "$f")" SCRAM-SHA-256 "auth on: chose SCRAM-SHA-256"

# Same over implicit TLS.
s=$(stack_subject auth-on-smtps)
stack_config "$conf" smtps "auth on"
stack_msg "$s" >"$msg"
stack_envoi auth-on-smtps "$msg" -C "$conf" bob@example.org
tap_is "$envoi_rc" 0 "auth on, implicit TLS: exit 0" || tap_diag "stderr: $envoi_err"
f=$(stack_wait bob@example.org "$s")
tap_is "$(stack_sasl_method "$f")" SCRAM-SHA-256 "auth on, implicit TLS: chose SCRAM-SHA-256"

# Wrong password: EX_NOPERM, the server's reply, nothing delivered.
for mech in plain on; do
	auths=$(stack_auth_count)
	s=$(stack_subject "wrong-password-$mech")
	stack_config "$conf" starttls "auth $mech" "password not-$STACK_PASSWORD"
	stack_msg "$s" >"$msg"
	stack_envoi "wrong-$mech" "$msg" -C "$conf" bob@example.org
	tap_is "$envoi_rc" 77 "wrong password, auth $mech: exit 77 (EX_NOPERM)"
	printf '%s\n' "$envoi_err" | grep -q '535 5\.7\.8 Error: authentication failed'
	tap_ok $? "wrong password, auth $mech: stderr has the server's 535 reply" ||
		tap_diag "stderr: $envoi_err"
	stack_absent bob@example.org "$s" && [ "$(stack_auth_count)" = "$auths" ]
	tap_ok $? "wrong password, auth $mech: nothing delivered"
done

# The password never appears in envoi's output, even with -v.
s=$(stack_subject verbose)
stack_config "$conf" starttls "auth plain"
stack_msg "$s" >"$msg"
stack_envoi verbose "$msg" -C "$conf" -v bob@example.org
! grep -qF -e "$STACK_PASSWORD" "$stack_tmp/verbose.out" "$stack_tmp/verbose.err" &&
	[ "$envoi_rc" -eq 0 ]
tap_ok $? "-v transcript with AUTH PLAIN: exit 0, password not shown"
