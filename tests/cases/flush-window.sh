#!/bin/bash
# flush-window.sh - a queue run over a server with CHUNKING and PIPELINING
# sends its messages as a window: the commands and chunks of several
# messages reach the server before it answers the first one; each message's
# fate stays its own (refused ones fail alone and are bounced, the others
# are delivered exactly once and leave the queue); a connection lost
# mid-window keeps every message whose verdict was not read, and the next
# run delivers each of them exactly once. A submission's own message leads
# the window of the due entries it drains.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

CONF=$TESTDIR/conf
QUEUE=$TESTDIR/queue
ENVOI_QUEUE_ON=1
N=6
# "I: round trip" in the transcript wherever the server flushed its
# replies and then had to wait for the client.
export SMTPD_SCRIPT_DEBUG=1

failed_entries() { find "$QUEUE/failed" -maxdepth 1 -name '*.env' 2>/dev/null | wc -l; }
# The queue run's order is the queue's, not the submission's: nth K says
# which message (its number) was the Kth sent over the connection.
nth() { sed -n 's/^C: RCPT TO:<rcpt\([0-9]*\)@example.org>$/\1/p' "$TRANSCRIPT" | sed -n "${1}p"; }
# How many received messages are message w-$1.
copies() { grep -l "Message-ID: <test-w-$1@example.org>" "$MAILDIR"/msg-*.eml 2>/dev/null | wc -l; }
# Entries still waiting for recipient rcpt$1 (bounces go to the sender).
waiting() { grep -l "rcpt$1@example.org" "$QUEUE"/*.env 2>/dev/null | wc -l; }
# The server's waits for the client between the first BDAT and the last
# MAIL: none when every message was sent before any verdict was read.
waits() {
	local last_mail first_bdat
	last_mail=$(grep -n "^C: MAIL FROM:" "$TRANSCRIPT" | tail -n 1 | cut -d: -f1)
	first_bdat=$(grep -n "^C: BDAT" "$TRANSCRIPT" | head -n 1 | cut -d: -f1)
	sed -n "${first_bdat},${last_mail}p" "$TRANSCRIPT" | grep -c "^I: round trip"
}
# A server that holds its first BDAT reply a second: with the window the
# whole flight is in meanwhile; without it the client would wait for that
# reply before sending the second message. The config points at it.
slow_first_verdict() {
	start_server - < <(printf '%s\n' "tls starttls" "auth PLAIN" "user alice secret" \
	    "cap CHUNKING" "on BDAT#1 delay 1000")
	std_config "$CONF" "domain client.example"
}
queue_n() {  # N messages w-1..w-N to rcpt1..rcptN, queued only
	for i in $(seq 1 $N); do
		std_message "w-$i" >"$TESTDIR/m$i"
		INPUT=$TESTDIR/m$i run_envoi -C "$CONF" -odq "rcpt$i@example.org"
	done
	is "$(entries)" $N "$N messages queued"
}

# --- the window: every message's commands and chunk before any verdict.
slow_first_verdict
queue_n
INPUT=/dev/null run_envoi -C "$CONF" -q
wait_server
is_status 0 "window: -q exits 0"
is "$(waits)" 0 "window: no reply went out between the first BDAT and the last message's MAIL"
is "$(grep -c '^C: MAIL' "$TRANSCRIPT")" $N "window: $N MAIL commands over one connection"
is "$(grep -c '^C: RSET' "$TRANSCRIPT")" $((N - 1)) "window: RSET before each message sent ahead"
is "$(grep -c '^I: connection' "$TRANSCRIPT")" 1 "window: one connection"
is "$(commands | tail -n 1)" "QUIT" "window: QUIT behind the last chunk"
diag "round trips, STARTTLS + AUTH, $N queued messages: $(round_trips)"
is "$(round_trips)" 8 "window: 8 round trips for $N messages, as for one"
n=0
for i in $(seq 1 $N); do
	[ "$(copies "$i")" = 1 ] && n=$((n + 1))
done
is "$n" $N "window: each message delivered exactly once"
is "$(entries)" 0 "window: the queue is empty"

# --- refusals mid-window: the second message's BDAT and the fifth's MAIL
# refused for good. Those two fail alone (failed/, a bounce each), the
# others go.
rm -rf "$QUEUE"
start_server - <<'EOF'
tls starttls
auth PLAIN
user alice secret
cap CHUNKING
on BDAT#1 delay 500
on BDAT#2 reply 554 5.6.0 message refused
on MAIL#5 reply 550 5.7.1 sender refused
EOF
std_config "$CONF" "domain client.example"
queue_n
INPUT=/dev/null run_envoi -C "$CONF" -q
wait_server
is_status 0 "refusals: -q exits 0"
for k in 1 3 4 6; do
	i=$(nth $k)
	is "$(copies "$i")" 1 "refusals: message $k (w-$i) delivered once"
	is "$(waiting "$i")" 0 "refusals: message $k (w-$i) left the queue"
done
for k in 2 5; do
	i=$(nth $k)
	is "$(copies "$i")" 0 "refusals: message $k (w-$i) not delivered"
	is "$(waiting "$i")" 0 "refusals: message $k (w-$i) not waiting for a retry"
done
is "$(failed_entries)" 2 "refusals: the two refused messages in failed/"
is "$(grep -c '^C: MAIL' "$TRANSCRIPT")" $N "refusals: one MAIL per message, one connection"
# why an entry in failed/ failed (its .st), by recipient
why_failed() { f=$(grep -l "rcpt$1@example.org" "$QUEUE"/failed/*.env); cat "${f%.env}.st"; }
like "$(why_failed "$(nth 2)")" '554 5\.6\.0 message refused \(in reply to BDAT\)' \
    "refusals: message 2 failed with its BDAT refusal"
like "$(why_failed "$(nth 5)")" '550 5\.7\.1 sender refused \(in reply to MAIL FROM\)' \
    "refusals: message 5 failed with its MAIL refusal"
unlike "$(cat "$TRANSCRIPT")" '^ERR:' "refusals: no protocol error"
# the scripted server's own count of each saved message is its file's
# size (a refused transaction's chunks once leaked into the next count)
sizes_right() {
	local n k
	while read -r n k; do
		[ "$(stat -c %s "$MAILDIR/msg-$n.eml")" = "$k" ] || return 1
	done < <(sed -n 's/^I: message \([0-9]*\) saved, \([0-9]*\) octets$/\1 \2/p' "$TRANSCRIPT")
}
ok "refusals: the server's octet counts are the saved files' sizes" sizes_right

# --- the connection cut mid-window: the server answers the first two
# messages, then closes instead of answering the third's chunk (what the
# client sent behind it is never read). The first two are done; the other
# four were sent but never answered: they stay queued (nothing is removed
# unless its acceptance was read), and the next run delivers each of them
# exactly once.
rm -rf "$QUEUE"
start_server - <<'EOF'
tls none
cap CHUNKING
on BDAT#1 delay 500
on BDAT#3 cut 25
EOF
std_config "$CONF" "tls off" "auth off" "domain client.example"
queue_n
INPUT=/dev/null run_envoi -C "$CONF" -q
wait_server
is_status 0 "cut: -q exits 0 (the messages are safe in the queue)"
like "$(cat "$TRANSCRIPT")" 'S: \[cut\]' "cut: the server cut the connection"
done_first=" $(nth 1) $(nth 2) "
for i in $(seq 1 $N); do
	case $done_first in
	*" $i "*)
		is "$(copies "$i")" 1 "cut: w-$i (answered) delivered"
		is "$(waiting "$i")" 0 "cut: w-$i (answered) left the queue" ;;
	*)
		is "$(copies "$i")" 0 "cut: w-$i (unanswered) not taken by the server"
		is "$(waiting "$i")" 1 "cut: w-$i (unanswered) still queued" ;;
	esac
done
is "$(failed_entries)" 0 "cut: nothing failed for good"
is "$(entries)" 4 "cut: four entries wait (no bounce)"
start_server - <<'EOF'
tls none
cap CHUNKING
EOF
std_config "$CONF" "tls off" "auth off" "domain client.example"
INPUT=/dev/null run_envoi -C "$CONF" -q
wait_server
is_status 0 "cut, next run: exit 0"
for i in $(seq 1 $N); do
	case $done_first in
	*" $i "*) is "$(copies "$i")" 0 "cut, next run: w-$i not sent again" ;;
	*) is "$(copies "$i")" 1 "cut, next run: w-$i delivered once" ;;
	esac
done
is "$(entries)" 0 "cut, next run: the queue is empty"

# --- a submission drains the queue in the same window: its own message
# goes first, the due entries of its account ride behind it without
# waiting for its verdict.
rm -rf "$QUEUE"
slow_first_verdict
N=3 queue_n
std_message "w-9" >"$TESTDIR/m9"
INPUT=$TESTDIR/m9 run_envoi -C "$CONF" rcpt9@example.org
wait_server
is_status 0 "submission: exit 0"
is "$(nth 1)" 9 "submission: its own message first"
is "$(waits)" 0 "submission: the drained entries did not wait for its verdict"
is "$(round_trips)" 8 "submission: 8 round trips for its message and 3 drained"
for i in 1 2 3 9; do
	is "$(copies "$i")" 1 "submission: w-$i delivered once"
done
is "$(entries)" 0 "submission: the queue is empty"

done_testing
