#!/bin/bash
# server-multi.sh - several queued messages of one account go over ONE SMTP
# connection (`envoi -qf`): EHLO, STARTTLS, EHLO and AUTH once, then one
# MAIL/RCPT/DATA/. group per message, one QUIT at the end; a refused
# transaction fails its message only (RSET before the next MAIL when the
# server may still hold part of it, none after an end-of-data reply); a 421
# ends the connection and the rest stays queued for the next run, which
# delivers it exactly once.
#
# Messages are queued first with -odq (queue only). Until envoi has that
# mode and the queue run, every check is skipped rather than failed.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

CONF=$TESTDIR/conf
INPUT=$TESTDIR/message
# envoi's default delivery (queue, then send) rather than direct mode.
ENVOI_QUEUE_ON=1
# The server marks each wait for the client ("I: round trip N"), which
# shows whether a group went out in one write.
export SMTPD_SCRIPT_DEBUG=1

# Each case gets a queue of its own, so that one case's leftovers (a
# deferred entry, a bounce) cannot show up in the next one's transcript.
new_queue() {
	QUEUE=$TESTDIR/queue-$1
	mkdir -p "$QUEUE"
	chmod 700 "$QUEUE"
	ENVOI_QUEUE_DIRECTIVE="queue_dir $QUEUE"
}

server() {  # server [extra script lines...]: one connection, config for it
	start_server - -n "${CONNS:-1}" < <(printf '%s\n' "tls starttls" "auth PLAIN" \
	    "user alice secret" "$@")
	std_config "$CONF" "domain client.example"
}

received() { find "$MAILDIR" -maxdepth 1 -name 'msg-*.eml' 2>/dev/null | wc -l; }
connections() { grep -c '^RT: ' "$TRANSCRIPT"; }
# The Message-IDs the server accepted, sorted.
message_ids() {
	cat "$MAILDIR"/msg-*.eml 2>/dev/null | sed -n 's/^Message-ID: \(.*\)\r$/\1/p' | sort
}

# The commands as verbs, one per line: AUTH with its mechanism, "." for
# the end of data, nothing for AUTH payload lines.
cmd_verbs() {
	commands | awk '/^[A-Za-z]+( |$)/ { v = toupper($1);
		if (v == "AUTH") print v " " toupper($2); else print v; next }
		/^\.$/ { print "." }'
}

# How many envelope groups (RSET or MAIL up to DATA) the server had to
# wait inside: with PIPELINING each must arrive in one write, so 0.
split_groups() {
	awk '/^C: (RSET|MAIL)/ && !g { g = 1; waited = 0 }
		g && /^I: round trip/ { waited = 1 }
		/^C: DATA/ && g { n += waited; g = 0 }
		END { print n + 0 }' "$TRANSCRIPT"
}

# queue_messages FIRST LAST TAG [options]: messages FIRST..LAST queued
# with -odq, message i to rcptTAGi with Message-ID <test-TAG-i@example.org>.
queue_messages() {
	local i first=$1 last=$2 tag=$3 INPUT=$TESTDIR/message
	shift 3
	for i in $(seq "$first" "$last"); do
		std_message "$tag-$i" >"$INPUT"
		run_envoi -C "$CONF" -odq "$@" "rcpt$tag$i@example.org"
		[ "$STATUS" = 0 ] || return 1
	done
}

# --- can this envoi queue without sending? If not, skip everything.
new_queue basic
server
if ! queue_messages 1 1 probe || [ "$(entries)" != 1 ]; then
	stop_server
	skip "three queued messages over one connection" "envoi -odq not available ($STATUS)"
	skip "a refused transaction fails its message only" "envoi -odq not available"
	skip "421 mid-run: the rest waits, then goes exactly once" "envoi -odq not available"
	done_testing
	exit 0
fi
is "$(grep -c '^C: ' "$TRANSCRIPT")" 0 "-odq did not touch the network"
queue_messages 2 3 probe
is "$(entries)" 3 "three messages queued"

# --- three queued messages: one connection, one setup, three groups, one QUIT
INPUT=/dev/null
run_envoi -C "$CONF" -qf
wait_server
is_status 0 "-qf with three entries: exit 0"
is "$(connections)" 1 "one connection for three messages"
is "$(cmd_verbs | tr '\n' ' ')" \
    "EHLO STARTTLS EHLO AUTH PLAIN MAIL RCPT DATA . MAIL RCPT DATA . MAIL RCPT DATA . QUIT " \
    "EHLO/STARTTLS/EHLO/AUTH once, three MAIL/RCPT/DATA/. groups, one QUIT"
is "$(split_groups)" 0 "each MAIL/RCPT/DATA group in one write (PIPELINING)"
is "$(received)" 3 "three messages received"
is "$(message_ids | tr '\n' ' ')" \
    "<test-probe-1@example.org> <test-probe-2@example.org> <test-probe-3@example.org> " \
    "... each of the three once"
for i in 1 2 3; do
	std_message "probe-$i" | crlf >"$TESTDIR/want-$i"
done
same=0
for f in "$MAILDIR"/msg-*.eml; do
	for i in 1 2 3; do
		cmp -s "$f" "$TESTDIR/want-$i" && same=$((same + 1))
	done
done
is "$same" 3 "the three bodies byte-identical"
is "$(cat "$MAILDIR"/env-*.txt 2>/dev/null | sed -n 's/^RCPT TO://p' | sort | tr '\n' ' ')" \
    "<rcptprobe1@example.org> <rcptprobe2@example.org> <rcptprobe3@example.org> " \
    "each envelope kept its own recipient"
is "$(entries)" 0 "the queue is empty afterwards"
if grep -q '^ERR:' "$TRANSCRIPT"; then
	fail "no protocol errors seen by the server"
	diag "$(grep '^ERR:' "$TRANSCRIPT")"
else
	pass "no protocol errors seen by the server"
fi
# 9 for the first message (see smtpd-script.c), 1 for each further one:
# its envelope group rides behind the previous end of data (RFC 2920),
# so only its body waits for a reply; QUIT rides behind the last one.
rt=$(round_trips)
diag "round trips, three messages over one STARTTLS + AUTH connection: $rt"
ok "round trips at most 9 + 1 + 1, got $rt" test "${rt:-99}" -le 11
is "$(grep -c '^C: \.$' "$TRANSCRIPT")" 3 "three ends of data"
ok "each further envelope arrives in the same write as the previous end of data" \
    awk '/^C: \.$/ { d = 1; next } d && /^I: round trip/ { bad = 1 }
	d && /^C: (MAIL|QUIT)/ { d = 0 } END { exit bad }' "$TRANSCRIPT"

# --- a refused transaction fails its message only
#   first message: its only RCPT refused -> no body; RSET before the next
#   second: end of data 451 -> stays queued; no RSET before the next
#   third: delivered
# The null sender: a permanent refusal bounces to nobody, so no bounce
# joins the run.
new_queue refuse
server 'on RCPT#1 reply 550 5.1.1 no such user' 'on DOT#1 reply 451 4.3.0 try again later'
queue_messages 1 3 refuse -f '<>'
INPUT=/dev/null
run_envoi -C "$CONF" -qf
wait_server
diag "exit status of the run with refusals: $STATUS"
is "$(connections)" 1 "refusals: still one connection"
is "$(cmd_verbs | tr '\n' ' ')" \
    "EHLO STARTTLS EHLO AUTH PLAIN MAIL RCPT DATA RSET MAIL RCPT DATA . MAIL RCPT DATA . QUIT " \
    "refusals: RSET only after the refused envelope, not after the refused end of data"
is "$(split_groups)" 0 "refusals: RSET goes in one write with the next MAIL/RCPT/DATA"
is "$(received)" 1 "refusals: only the third message was accepted"
is "$(entries)" 1 "refusals: the 451 one stays queued, the 550 one left for failed/"
if grep -q '^ERR:' "$TRANSCRIPT"; then
	fail "refusals: no protocol errors seen by the server"
	diag "$(grep '^ERR:' "$TRANSCRIPT")"
else
	pass "refusals: no protocol errors seen by the server"
fi

# --- 421 to the first end of data, with the second envelope behind it: all
# three stay queued (the second's envelope was in flight, its lock held),
# and the next run delivers each exactly once
new_queue dot421
server 'on DOT#1 reply 421 4.3.2 shutting down'
queue_messages 1 3 dot
INPUT=/dev/null
run_envoi -C "$CONF" -qf
wait_server
is_status 0 "421 to the end of data: exit 0"
is "$(cmd_verbs | tr '\n' ' ')" \
    "EHLO STARTTLS EHLO AUTH PLAIN MAIL RCPT DATA . MAIL RCPT DATA " \
    "421 to the end of data: the next envelope was behind it, nothing after"
is "$(received)" 0 "421 to the end of data: nothing accepted"
is "$(entries)" 3 "421 to the end of data: all three stay queued"
server
INPUT=/dev/null
run_envoi -C "$CONF" -qf
wait_server
is_status 0 "421 to the end of data, next run: exit 0"
is "$(message_ids | tr '\n' ' ')" \
    "<test-dot-1@example.org> <test-dot-2@example.org> <test-dot-3@example.org> " \
    "421 to the end of data, next run: each of the three delivered once"
is "$(entries)" 0 "421 to the end of data: the queue is empty at the end"

# --- 421 in the middle: the connection ends, the rest waits for the next run
new_queue cut
server 'on MAIL#2 reply 421 4.3.2 shutting down'
queue_messages 1 3 cut
INPUT=/dev/null
run_envoi -C "$CONF" -qf
wait_server
is "$(connections)" 1 "421: one connection"
is "$(cmd_verbs | tr '\n' ' ')" \
    "EHLO STARTTLS EHLO AUTH PLAIN MAIL RCPT DATA . MAIL RCPT DATA " \
    "421: nothing after it, not even QUIT"
is "$(received)" 1 "421: the first message was delivered"
is "$(entries)" 2 "421: the two others stay queued"
first=$(message_ids)

server
INPUT=/dev/null
run_envoi -C "$CONF" -qf
wait_server
is_status 0 "next run: exit 0"
is "$(connections)" 1 "next run: one connection"
is "$(received)" 2 "next run: the two others delivered"
is "$( { printf '%s\n' "$first"; message_ids; } | sort | tr '\n' ' ')" \
    "<test-cut-1@example.org> <test-cut-2@example.org> <test-cut-3@example.org> " \
    "over both runs: each of the three delivered exactly once"
is "$(entries)" 0 "the queue is empty at the end"

done_testing
