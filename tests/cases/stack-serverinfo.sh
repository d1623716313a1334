#!/bin/bash
# Integration: --serverinfo against the real Postfix + Dovecot stack
# (tests/stack), on the submission port (STARTTLS) and the smtps port
# (implicit TLS): exit 0, no AUTH (Postfix logs none), Postfix's greeting
# and capabilities (AUTH only inside TLS, as smtpd_tls_auth_only says; its
# 200 MiB message_size_limit as SIZE), and the certificate as certtool
# sees it: subject, issuer, validity dates and the SHA-256 fingerprint,
# which pasted as tls_fingerprint (no CA file) sends mail.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"
. "$top_srcdir/tests/stack/functions.sh"

stack_up
CONF=$TESTDIR/envoi.conf
CERT=$STACK_DIR/certs/server.pem

# certtool's view of the stack's certificate.
info=$(certtool -i --infile "$CERT")
want_fpr=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*sha256:\([0-9a-f]*\)$/\1/p' |
    head -1 | tr 'a-f' 'A-F' | sed 's/../&:/g; s/:$//')
want_subject=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*Subject: //p' | head -1)
want_issuer=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*Issuer: //p' | head -1)
# "Not After: Mon Jan 02 03:04:05 UTC 2034" -> "2034-01-02 03:04:05 UTC"
certtool_date() {
	printf '%s\n' "$info" | sed -n "s/^[[:space:]]*$1: //p" | head -1 |
	    { read -r _ mon day time _ year; date -u -d "$mon $day $year $time" '+%Y-%m-%d %H:%M:%S UTC'; }
}
want_before=$(certtool_date 'Not Before')
want_after=$(certtool_date 'Not After')
printed() { printf '%s\n' "$STDOUT" | sed -n "s/^ *$1: //p"; }

for mode in starttls smtps; do
	auths=$(stack_auth_count)
	stack_config "$CONF" "$mode"
	run_envoi -C "$CONF" --serverinfo </dev/null
	is_status 0 "$mode: --serverinfo exits 0"
	like "$STDOUT" '^Greeting: 220 .*ESMTP' "$mode: Postfix's greeting"
	like "$STDOUT" '^TLS: TLS1\.3, \(TLS1\.3' "$mode: TLS 1.3 and the suite"
	is "$(printed 'SHA-256 fingerprint')" "$want_fpr" "$mode: certtool's SHA-256 fingerprint"
	is "$(printed 'SHA-256 fingerprint')" "$STACK_FPR" "$mode: ... the stack's too"
	is "$(printed Subject)" "$want_subject" "$mode: certtool's subject"
	is "$(printed Issuer)" "$want_issuer" "$mode: certtool's issuer"
	is "$(printed 'Not before')" "$want_before" "$mode: certtool's Not Before"
	is "$(printed 'Not after')" "$want_after" "$mode: certtool's Not After"
	like "$(printed Names)" 'DNS:localhost.*IP:127\.0\.0\.1' "$mode: the names"
	like "$STDOUT" '^    SIZE: 209715200 bytes \(200 MiB\) maximum message size$' \
	    "$mode: Postfix's message_size_limit"
	like "$STDOUT" '^    AUTH: .*PLAIN' "$mode: AUTH PLAIN inside TLS"
	for c in PIPELINING CHUNKING 8BITMIME SMTPUTF8 DSN ENHANCEDSTATUSCODES; do
		like "$STDOUT" "^    $c: yes" "$mode: $c"
	done
	like "$STDOUT" '^    STARTTLS: no' "$mode: no STARTTLS offered inside TLS"
	is "$(stack_auth_count)" "$auths" "$mode: no AUTH was sent"
done
# STARTTLS shows what Postfix offered before it: STARTTLS, but no AUTH.
stack_config "$CONF" starttls
run_envoi -C "$CONF" --serverinfo </dev/null
before=$(printf '%s\n' "$STDOUT" | sed -n 's/^Before STARTTLS: //p')
like "$before" 'STARTTLS' "starttls: STARTTLS offered in plaintext"
unlike "$before" 'AUTH' "starttls: no AUTH before TLS (smtpd_tls_auth_only)"
like "$STDOUT" 'AUTH is offered only inside TLS' "starttls: ... and that is said"

# The printed pin, pasted, with no CA file: mail goes through.
s=$(stack_subject pasted-pin)
stack_config "$CONF" starttls "tls_trust_file system" \
    "tls_fingerprint $(printed 'SHA-256 fingerprint')"
stack_msg "$s" >"$TESTDIR/message"
INPUT=$TESTDIR/message run_envoi -C "$CONF" bob@example.org
is_status 0 "the printed fingerprint as tls_fingerprint: exit 0"
ok "... delivered" [ -n "$(stack_wait bob@example.org "$s")" ]

done_testing
