#!/bin/bash
# crash.sh - kill -9 envoi at each stage of a submission, then run the
# queue: every message whose submission could have exited 0 is delivered
# at least once, and exactly once except when the kill fell between the
# end of data and the server's reply (the server may already have accepted
# it; see envoi(1), "The queue"). A kill during intake leaves nothing to
# deliver (envoi never exited 0 for it). The kernel drops a killed
# process's lock, so the next run is never blocked by a stale lock.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

CONF=$TESTDIR/conf
QUEUE=$TESTDIR/queue
ENVOI_QUEUE_ON=1
delivered() { ls "$MAILDIR"/msg-*.eml 2>/dev/null | wc -l; }

# wait_for REGEX: until the server's transcript has a matching line (10 s)
wait_for() {
	local i
	for i in $(seq 1 200); do
		grep -qE "$1" "$TRANSCRIPT" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# --- during intake: killed while reading stdin
start_server - <<'EOF'
tls starttls
auth PLAIN
user alice secret
EOF
std_config "$CONF"
fifo=$TESTDIR/fifo
mkfifo "$fifo"
"$ENVOI" -C "$CONF" bob@example.org <"$fifo" >/dev/null 2>&1 &
pid=$!
exec 7>"$fifo"
printf 'Subject: intake\n\nhalf a message\n' >&7
sleep 0.3
kill -9 "$pid"
wait "$pid" 2>/dev/null
exec 7>&-
is "$(entries)" 0 "killed during intake: no queue entry (it never exited 0)"
INPUT=/dev/null run_envoi -C "$CONF" -qf
is "$(delivered)" 0 "... and a queue run delivers nothing"
stop_server

# kill_at SCRIPT-LINE REGEX DESC: submit, kill -9 when the transcript
# matches REGEX, then -qf against a fresh connection of the same server.
kill_at() {
	local rule=$1 regex=$2 desc=$3 pid
	start_server - -n 2 < <(printf '%s\n' "tls starttls" "auth PLAIN" \
	    "user alice secret" "$rule")
	std_config "$CONF"
	std_message "$desc" >"$TESTDIR/msg"
	"$ENVOI" -C "$CONF" bob@example.org <"$TESTDIR/msg" >/dev/null 2>&1 &
	pid=$!
	if wait_for "$regex"; then
		pass "$desc: reached the point to kill at"
	else
		fail "$desc: reached the point to kill at"
	fi
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	is "$(entries)" 1 "$desc: killed -9, the message is still queued"
	INPUT=/dev/null run_envoi -C "$CONF" -qf
	is_status 0 "$desc: the queue run exits 0"
	wait_server 15
	is "$(entries)" 0 "$desc: the queue is empty afterwards"
}

kill_at "on CONNECT delay 8000" '^I: connection' "after fsync, before the greeting"
is "$(delivered)" 1 "after fsync, before the greeting: delivered exactly once"
kill_at "on EHLO#2@1 delay 8000" '^C: EHLO.*' "inside TLS, before AUTH"
is "$(delivered)" 1 "inside TLS, before AUTH: delivered exactly once"
kill_at "on RCPT#1@1 delay 8000" '^C: RCPT' "mid-session, at RCPT"
is "$(delivered)" 1 "mid-session, at RCPT: delivered exactly once"
kill_at "on DATA#1@1 delay 8000" '^C: DATA' "after DATA, before the body"
is "$(delivered)" 1 "after DATA, before the body: delivered exactly once"
kill_at "on DOT#1@1 delay 8000" '^C: \.$' "after the end of data, before the reply"
n=$(delivered)
ok "after the end of data, before the reply: delivered at least once ($n)" test "$n" -ge 1
ok "... and at most twice (the documented window)" test "$n" -le 2
done_testing
