#!/bin/bash
# server-faults.sh - the server misbehaves or refuses; envoi must give the
# documented exit code, one clear line, and send nothing it should not:
#   greeting 421 -> 75; RCPT 550 for one of two -> 67 and delivered to the
#   other; all RCPT refused -> 67, no body; MAIL 451 -> 75, no body;
#   end of data 554 -> 69; 452 to end of data -> 75; disconnect after DATA
#   -> 75; a server that never answers the end of data -> 75 within the
#   configured timeout; AUTH 535 -> 77; AUTH 454 -> 75; tls on without
#   STARTTLS offered -> 69 and no AUTH; EHLO refused -> HELO works;
#   slow greeting is waited for; no reply to QUIT is not an error;
#   connection refused -> 75.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

CONF=$TESTDIR/conf
INPUT=$TESTDIR/message
std_message faults >"$INPUT"

BASE='tls starttls
auth PLAIN
user alice secret'

# scenario "OVERRIDES" [config directives...]: run one delivery to bob.
scenario() {
	local rules=$1
	shift
	start_server - <<<"$BASE
$rules"
	std_config "$CONF" "$@"
	run_envoi -C "$CONF" bob@example.org
	wait_server
}

no_body() {
	if grep -q '^D: ' "$TRANSCRIPT" || [ -e "$MAILDIR/msg-1.eml" ]; then
		fail "$1: no message body sent"
		return 1
	fi
	pass "$1: no message body sent"
}

# --- greeting 421
scenario 'greeting 421 4.3.2 Service not available, try later'
is_status 75 "greeting 421: exit 75 (EX_TEMPFAIL)"
like "$STDERR" '421' "greeting 421: the reply is reported"
is "$(commands | grep -cv '^QUIT$')" 0 "greeting 421: no command but QUIT sent"

# --- one of two recipients refused
start_server - <<<"$BASE
on RCPT#2 reply 550 5.1.1 <carol@example.org>: no such user"
std_config "$CONF"
run_envoi -C "$CONF" bob@example.org carol@example.org
wait_server
is_status 67 "RCPT 550 for one of two: exit 67 (EX_NOUSER)"
like "$STDERR" 'carol@example\.org.*550 5\.1\.1.*RCPT' \
    "RCPT 550: stderr names the recipient, the reply and the command"
unlike "$STDERR" 'bob@example\.org' "RCPT 550: the accepted recipient is not reported"
is "$(sed -n '2,$p' "$MAILDIR/env-1.txt" 2>/dev/null)" "RCPT TO:<bob@example.org>" \
    "RCPT 550: delivered to the accepted recipient"
crlf <"$INPUT" | file_is "$MAILDIR/msg-1.eml" "RCPT 550: body intact"

# --- every recipient refused
scenario 'on RCPT reply 550 5.1.1 no such user'
is_status 67 "all RCPT refused: exit 67"
no_body "all RCPT refused"
like "$STDERR" 'bob@example\.org.*550' "all RCPT refused: stderr says which and why"

# --- MAIL 451
scenario 'on MAIL reply 451 4.3.0 Try again later'
is_status 75 "MAIL 451: exit 75"
like "$STDERR" '451 4\.3\.0.*MAIL' "MAIL 451: reply and command reported"
no_body "MAIL 451"

# --- end of data 554
scenario 'on DOT reply 554 5.6.0 Message rejected'
is_status 69 "end of data 554: exit 69 (EX_UNAVAILABLE)"
like "$STDERR" '554 5\.6\.0' "end of data 554: reply reported"
ok "end of data 554: message not stored" test ! -e "$MAILDIR/msg-1.eml"

# --- end of data 452
scenario 'on DOT reply 452 4.3.1 Insufficient system storage'
is_status 75 "end of data 452: exit 75"

# --- DATA 554 (all pipelined, after two 250s)
scenario 'on DATA reply 554 5.5.1 No valid recipients'
is_status 69 "DATA 554: exit 69"
no_body "DATA 554"

# --- disconnect instead of answering DATA
scenario 'on DATA disconnect'
is_status 75 "disconnect after DATA: exit 75"
isnt "$STDERR" "" "disconnect after DATA: something said on stderr"

# --- disconnect after the body
scenario 'on DOT disconnect'
is_status 75 "disconnect instead of the end-of-data reply: exit 75"

# --- the server never answers the end of data
scenario 'on DOT hang' "timeout 5"
is_status 75 "no reply to the end of data: exit 75"
limit=8
[ -z "$ENVOI_WRAP" ] || limit=30
ok "no reply to the end of data: gave up after ${ELAPSED}s (timeout 5)" \
    awk -v e="$ELAPSED" -v l="$limit" 'BEGIN { exit !(e >= 4.5 && e < l) }'
like "$STDERR" '[Tt]ime' "no reply: stderr mentions the timeout"

# --- AUTH refused
scenario 'on AUTH reply 535 5.7.8 Authentication credentials invalid'
is_status 77 "AUTH 535: exit 77 (EX_NOPERM)"
like "$STDERR" '535' "AUTH 535: reply reported"
unlike "$(commands)" '^MAIL' "AUTH 535: no MAIL sent"

scenario 'on AUTH reply 454 4.7.0 Temporary authentication failure'
is_status 75 "AUTH 454: exit 75"
unlike "$(commands)" '^MAIL' "AUTH 454: no MAIL sent"

# --- tls on, but the server offers no STARTTLS
start_server - <<'EOF'
tls none
auth PLAIN
user alice secret
EOF
std_config "$CONF"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 69 "no STARTTLS offered with tls on: exit 69"
like "$STDERR" 'STARTTLS|TLS' "no STARTTLS: stderr says so"
unlike "$(commands)" '^(AUTH|MAIL)' "no STARTTLS: neither AUTH nor MAIL sent"

# --- STARTTLS refused by the server
scenario 'on STARTTLS reply 454 4.7.0 TLS not available due to temporary reason'
is_status 75 "STARTTLS 454: exit 75"
unlike "$(commands)" '^(AUTH|MAIL)' "STARTTLS 454: neither AUTH nor MAIL sent"

# --- EHLO refused: HELO fallback (no extensions, so no TLS, no AUTH)
start_server - <<'EOF'
tls none
on EHLO reply 502 5.5.1 EHLO not implemented
EOF
std_config "$CONF" "tls off" "auth off" "domain client.example"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 0 "EHLO 502: HELO fallback delivers"
is "$(commands | sed -n '1,3p')" "EHLO client.example
HELO client.example
MAIL FROM:<sender@example.org>" "EHLO 502: HELO, then MAIL without parameters"
crlf <"$INPUT" | file_is "$MAILDIR/msg-1.eml" "EHLO 502: body intact"

# --- a slow greeting and slow replies are waited for
scenario 'on CONNECT delay 1500
on MAIL delay 1000'
is_status 0 "slow greeting and MAIL reply: exit 0"

# --- no reply to QUIT: the message was accepted, that is success
scenario 'on QUIT noreply'
is_status 0 "no reply to QUIT: exit 0"
ok "no reply to QUIT: message stored" test -e "$MAILDIR/msg-1.eml"

# --- an ERR line in any transcript above would be a protocol error
errs=$(cat "$TESTDIR"/srv*/transcript | grep '^ERR:' | sort -u)
is "$errs" "" "no server-detected protocol errors in any scenario"

# --- nobody listening
start_server - <<'EOF'
tls starttls
EOF
stop_server
std_config "$CONF" "timeout 5"
run_envoi -C "$CONF" bob@example.org
is_status 75 "connection refused: exit 75"
isnt "$STDERR" "" "connection refused: stderr says so"

done_testing
