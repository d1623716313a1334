#!/bin/bash
# hostile-wire.sh - what a hostile or broken peer can do on the wire
# (issue 8: 4, 5.4, 5.5, 5.6, 5.11), each reproduced as it was seen:
#   a greeting, a reply or a TLS handshake dripped a byte at a time holds
#   envoi no longer than its timeout (the message is queued, exit 0);
#   -bs body text with <LF>.<LF> and friends cannot smuggle a second
#   transaction; a lone CR in the body never reaches the server; C1
#   controls in a server's reply never reach the terminal or the log; a
#   smarthost name that does not exist queues the message and says to
#   check `host`, and failover still moves on to the next host.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

CONF=$TESTDIR/conf
QUEUE=$TESTDIR/queue
INPUT=$TESTDIR/message
std_message hostile >"$INPUT"
clear_queue() { find "$QUEUE" -maxdepth 1 -type f -delete; }
# under_secs SECONDS: envoi's last run took less than that
under_secs() { awk -v e="$ELAPSED" -v l="$1" 'BEGIN { exit !(e < l) }'; }
# body_of FILE: what follows the header block, byte for byte, into $TESTDIR/got
body_of() { awk 'f { printf "%s\n", $0 } /^\r?$/ { f = 1 }' "$1" >"$TESTDIR/got"; }

BASE='tls starttls
auth PLAIN
user alice secret'

# --- slow drip: one byte a second, `timeout 3` (issue 8 5.6). Each case:
# given up within ~4 s with a clear line, the message queued (exit 0).
# Under valgrind, with the suite's other tests running beside it, envoi's
# own start and TLS cost seconds more (5.2-6.7 s seen); still far from the
# server's 30 s cap, which is what a missing timeout would show.
drip_limit=5
[ -z "${ENVOI_UNDER_VALGRIND:-}" ] || drip_limit=10
drip_case() {  # drip_case NAME SCRIPT-LINES [config directives...]
	local name=$1 script=$2
	shift 2
	clear_queue
	start_server - <<<"$script"
	ENVOI_QUEUE_ON=1 std_config "$CONF" "timeout 3" "$@"
	run_envoi -C "$CONF" bob@example.org
	stop_server
	is_status 0 "$name: exit 0 (queued)"
	ok "$name: given up within ~4 s (took $ELAPSED s)" under_secs "$drip_limit"
	like "$STDERR" '^envoi: queued [0-9a-f]+: .*timed out.*; will retry$' \
	    "$name: one line: queued, timed out, will retry"
	is "$(entries)" 1 "$name: the queue keeps the message"
}

drip_case "greeting dripped" "$BASE
drip 1000"
like "$STDERR" 'timed out after 3 s waiting for the server' "... the reply's timeout named"

drip_case "EHLO reply dripped" "$BASE
on EHLO drip 1000"

drip_case "STARTTLS reply dripped (before TLS: any on-path attacker)" "$BASE
on STARTTLS drip 1000"

drip_case "TLS handshake dripped" "tls implicit
auth PLAIN
user alice secret
drip 300" "tls_starttls off"
like "$STDERR" 'TLS handshake' "... the handshake named"

drip_case "end of data reply dripped" "$BASE
on DOT drip 1000"

# --- -bs smuggling (issue 8 5.4): after DATA<CR><LF> only
# <CR><LF>.<CR><LF> ends the data; the rest is message text.
start_server - <<<"$BASE"
ENVOI_QUEUE_ON=1 std_config "$CONF" "domain client.example"
printf '%s' "EHLO app.example"$'\r\n' "MAIL FROM:<app@example.org>"$'\r\n' \
    "RCPT TO:<bob@example.org>"$'\r\n' "DATA"$'\r\n' \
    "From: app@example.org"$'\r\n' "Subject: smuggling"$'\r\n' $'\r\n' \
    "first"$'\n.\n' "MAIL FROM:<evil@example.org>"$'\r\n' "RCPT TO:<victim@example.org>"$'\r\n' \
    "DATA"$'\r\n' "second"$'\n.\r\n' "third"$'\r\n.\n' "From: ceo@example.org"$'\r\n' \
    "Subject: smuggled"$'\r\n' $'\r\n' "owned"$'\r\n' "."$'\r\n' "QUIT"$'\r\n' >"$TESTDIR/bs"
INPUT=$TESTDIR/bs run_envoi -C "$CONF" -bs
wait_server
is_status 0 "-bs smuggling: exit 0"
is "$(tr -d '\r' <<<"$STDOUT" | sed -n 's/^\([0-9][0-9][0-9]\) .*/\1/p' | tr '\n' ' ')" \
    "220 250 250 250 354 250 221 " "-bs smuggling: one transaction, one end of data"
is "$(ls "$MAILDIR"/msg-*.eml 2>/dev/null | wc -l)" 1 "-bs smuggling: the smarthost got one message"
is "$(sed -n '2,$p' "$MAILDIR/env-1.txt" 2>/dev/null)" "RCPT TO:<bob@example.org>" \
    "-bs smuggling: ... for the one recipient"
body_of "$MAILDIR/msg-1.eml"; file_is "$TESTDIR/got" \
    "-bs smuggling: the would-be commands are text of the first message, in CRLF lines" \
    < <(printf '%s\r\n' first . "MAIL FROM:<evil@example.org>" "RCPT TO:<victim@example.org>" \
        DATA second . third . "From: ceo@example.org" "Subject: smuggled" "" owned)
unlike "$(commands)" 'evil|victim' "-bs smuggling: nothing smuggled reached the smarthost's envelope"

# --- a lone CR in the body (issue 8 5.5): never sent alone
INPUT=$TESTDIR/cr
printf '%s\n' "From: sender@example.org" "To: bob@example.org" "Subject: cr" "" >"$INPUT"
printf 'line1\r.\r\nline3\nprogress 10%%\r50%%\r100%%\n' >>"$INPUT"
start_server - <<<"$BASE"
std_config "$CONF"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 0 "lone CR: delivered"
body_of "$MAILDIR/msg-1.eml"; file_is "$TESTDIR/got" \
    "lone CR: each became a line end (CRLF); the dot line went stuffed" \
    < <(printf '%s\r\n' line1 . line3 "progress 10%" 50% 100%)
unlike "$(grep -c 'ERR' "$TRANSCRIPT")" '^[1-9]' "lone CR: the server saw no protocol error"
INPUT=$TESTDIR/message

# --- C1 controls in a server's reply (issue 8 5.11): shown as '?', never
# reaching the terminal, the -v transcript or the logfile.
C1=$'\xc2\x9b'
RAW=$'\x9b'
clear_queue
start_server - <<<"$BASE
on MAIL reply 451 4.7.1 bad${C1}31mRED${RAW}0m sender"
ENVOI_QUEUE_ON=1 std_config "$CONF" "logfile $TESTDIR/log"
run_envoi -C "$CONF" -v bob@example.org
wait_server
is_status 0 "C1 in a reply: queued"
like "$STDERR" '451 4\.7\.1 bad\?31mRED\?0m sender' "C1 in a reply: each control shown as ?"
ok "C1 in a reply: no C1 control on stderr (transcript included)" \
    bash -c '! LC_ALL=C grep -q $'"'"'[\x80-\x9f]'"'"' "$1"' _ "$TESTDIR/envoi$_envoi_n.err"
ok "C1 in a reply: none in the logfile" \
    bash -c '! LC_ALL=C grep -q $'"'"'[\x80-\x9f]'"'"' "$1"' _ "$TESTDIR/log"
like "$(cat "$TESTDIR/log")" 'bad\?31mRED' "C1 in a reply: the logfile has the reply, sanitised"

# --- a smarthost name that does not exist (issue 8 4): queued, not lost
clear_queue
start_server - <<<"$BASE"
ENVOI_QUEUE_ON=1 std_config "$CONF" "host smtp.envoi-test.invalid"
run_envoi -C "$CONF" bob@example.org
stop_server
if grep -q 'Temporary failure' <<<"$STDERR"; then
	skip "unresolvable smarthost" "no resolver answers here"
else
	is_status 0 "unresolvable smarthost: exit 0 (queued, like a refused connection)"
	like "$STDERR" '^envoi: queued [0-9a-f]+: cannot resolve smtp\.envoi-test\.invalid: the name does not exist .*check it with `host smtp\.envoi-test\.invalid`; will retry$' \
	    "unresolvable smarthost: one line: the name does not exist, check it with host"
	is "$(entries)" 1 "unresolvable smarthost: the queue keeps the message"
	clear_queue
	std_config "$CONF" "host smtp.envoi-test.invalid"
	run_envoi -C "$CONF" bob@example.org
	is_status 75 "unresolvable smarthost, queue off: 75 (EX_TEMPFAIL), no longer 68"
fi

# ... and failover still goes on to the next host.
clear_queue
start_server - <<<"$BASE"
ENVOI_QUEUE_ON=1 std_config "$CONF" "host smtp.envoi-test.invalid,127.0.0.1"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 0 "unresolvable first host: exit 0"
ok "unresolvable first host: delivered through the second" test -e "$MAILDIR/msg-1.eml"
is "$(entries)" 0 "unresolvable first host: nothing queued"

done_testing
