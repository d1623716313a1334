#!/bin/bash
# retrier.sh - "will retry" is true with nothing else set up (issue 8 §2):
# with no timer, no cron line and no later submission, a message queued
# while the server was down is delivered once the server is back, by the
# retrier that envoi leaves behind; one retrier per queue however many
# submissions; it keeps no caller's pipe open, lives in its own session,
# and exits once the queue is empty. Takes about a minute: the first retry
# is due 60 s after the failure (queue.h's QUEUE_BACKOFF_MIN).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

QUEUE=$TESTDIR/queue
CONF=$TESTDIR/conf
ENVOI_QUEUE_ON=1
ENVOI_RETRIER=1
LOCK=$QUEUE/retrier.lock
delivered() { ls "$MAILDIR"/msg-*.eml 2>/dev/null | wc -l; }
# The envoi processes of this test (their command line names $CONF) still
# alive after every submission returned: the retriers.
retriers() { pgrep -f -- "-C $CONF" | wc -l; }
retrier_pid() { flock -n "$LOCK" true 2>/dev/null || cat "$LOCK" 2>/dev/null; }

# --- the server is down: exit 0, and a retrier is left behind
start_server - < <(printf '%s\n' "tls starttls" "auth PLAIN" "user alice secret")
std_config "$CONF"
stop_server
INPUT=$TESTDIR/message
std_message retry >"$INPUT"
t0=$(date +%s)
if [ -n "${ENVOI_UNDER_VALGRIND:-}" ]; then
	# valgrind keeps a copy of the caller's stderr in the retrier (its
	# own log descriptor, which the program may not close).
	$ENVOI_WRAP "$ENVOI" -C "$CONF" bob@example.org <"$INPUT" >"$TESTDIR/piped.out" 2>&1
	is "$?" 0 "server down: exit 0"
	like "$(cat "$TESTDIR/piped.out")" 'queued [0-9a-f]+: cannot connect.*will retry' "... queued"
	skip "... the caller's pipe closed at once" "valgrind holds its own copy of stderr"
else
	# Through a pipe, as cron and PHP read the mailer's output: the
	# pipeline must end when envoi does, not when its retrier does.
	timeout 20 bash -c "\"$ENVOI\" -C \"$CONF\" bob@example.org <\"$INPUT\" 2>&1 | cat" \
		>"$TESTDIR/piped.out"
	is "$?" 0 "server down: exit 0 through a pipe"
	like "$(cat "$TESTDIR/piped.out")" 'queued [0-9a-f]+: cannot connect.*will retry' "... queued"
	ok "... the caller's pipe closed at once (no retrier holds it)" \
	    test $(( $(date +%s) - t0 )) -lt 15
fi
pid=$(retrier_pid)
like "$pid" '^[0-9]+$' "a retrier holds $LOCK, with its pid in it"
ok "... it is alive" kill -0 "${pid:-0}"
is "$(ps -o sid= -p "${pid:-0}" | tr -d ' ')" "$pid" "... in a session of its own (not killed with the caller)"
is "$(readlink "/proc/${pid:-0}/fd/0")" /dev/null "... with stdin on /dev/null"
is "$(readlink "/proc/${pid:-0}/fd/1")" /dev/null "... stdout too"
if [ -n "${ENVOI_UNDER_VALGRIND:-}" ]; then
	skip "... and no descriptor but stdio and its lock" "valgrind keeps descriptors of its own"
else
	is "$(ls "/proc/${pid:-0}/fd" 2>/dev/null | wc -l)" 4 "... and no descriptor but stdio and its lock"
fi

# --- 20 concurrent submissions: still one retrier for the queue
for i in $(seq 1 20); do
	std_message "many$i" >"$TESTDIR/m$i"
	$ENVOI_WRAP "$ENVOI" -C "$CONF" -oeq bob@example.org <"$TESTDIR/m$i" &
done
wait
is "$(entries)" 21 "21 messages queued"
is "$(retriers)" 1 "one retrier for the queue"
is "$(retrier_pid)" "$pid" "... the same one"

# --- the server comes back (on another port: the file is edited, which
# the retrier follows). Nobody runs -q: the retrier delivers each message
# exactly once within the backoff, then exits.
start_server - -n 5 -T 220 < <(printf '%s\n' "tls starttls" "auth PLAIN" "user alice secret")
std_config "$CONF"
for i in $(seq 1 200); do
	[ "$(entries)" = 0 ] && break
	sleep 1
done
is "$(entries)" 0 "the queue drained with no -q, no timer (after $i s)"
# Each entry is due 60 s after its own failure. The bound is what
# separates "the retrier woke for the first retry" from "it slept a second
# backoff (120 s more) or its longest nap (300 s)", with room for a loaded
# machine: there the 20 submissions and 21 TLS deliveries take tens of
# seconds (87 s was seen with four test suites on two cores), and valgrind
# multiplies that.
limit=120
[ -z "${ENVOI_UNDER_VALGRIND:-}" ] || limit=170
ok "... within the first backoff (60 s), before a second one (at most $limit s)" test "$i" -le "$limit"
for i in $(seq 1 20); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.5
done
ok "the retrier exited once the queue was empty" test "$(retriers)" = 0
stop_server
is "$(delivered)" 21 "21 messages delivered"
is "$(cat "$MAILDIR"/msg-*.eml | grep -c '^Message-ID: ')" 21 "... each exactly once"
is "$(cat "$MAILDIR"/msg-*.eml | grep '^Message-ID: ' | sort -u | wc -l)" 21 "... no duplicates"

# --- queue_retrier off: none is left behind
start_server - < <(printf '%s\n' "tls starttls")
std_config "$CONF" "queue_retrier off"
stop_server
run_envoi -C "$CONF" bob@example.org
is_status 0 "queue_retrier off, server down: queued, exit 0"
sleep 0.5
is "$(retriers)" 0 "... and no retrier"
run_envoi -C "$CONF" --rmqueue all

done_testing
