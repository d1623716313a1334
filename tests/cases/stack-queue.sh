#!/bin/bash
# Integration: a queue of many messages flushed against the real Postfix +
# Dovecot stack over ONE authenticated connection. ENVOI_QUEUE_N messages
# (default 500; 40 under valgrind) are queued with -odq, then `envoi -qf`
# delivers them all; the time and the number of connections (Postfix's
# "disconnect from" lines, which also count each session's commands) are
# printed as diagnostics.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"
. "$top_srcdir/tests/stack/functions.sh"

stack_up
plan 6
CONF=$TESTDIR/envoi.conf
QUEUE=$TESTDIR/queue
stack_config "$CONF" starttls
if [ -n "$ENVOI_WRAP" ] || [ -n "${ENVOI_UNDER_VALGRIND:-}" ]; then
	n=${ENVOI_QUEUE_N:-40}
else
	n=${ENVOI_QUEUE_N:-500}
fi
s=$(stack_subject queue)
bad=0
for i in $(seq 1 "$n"); do
	printf '%s\n' "From: alice@example.org" "To: bob@example.org" "Subject: $s $i" "" \
	    "message $i of $n" | $ENVOI_WRAP "$ENVOI" -C "$CONF" -odq bob@example.org || bad=$((bad + 1))
done
is "$bad" 0 "$n messages queued with -odq"
is "$(find "$QUEUE" -maxdepth 1 -name '*.env' | wc -l)" "$n" "... all in the queue"
disconnects() { sleep 0.3; grep -c ' disconnect from ' "$STACK_MAILLOG"; }
before=$(disconnects)
t0=$(date +%s.%N)
INPUT=/dev/null run_envoi -C "$CONF" -qf -v
t1=$(date +%s.%N)
is_status 0 "envoi -qf: exit 0"
got=0
for i in $(seq 1 200); do
	got=$(grep -l "Subject: $s " "$STACK_MAIL/example.org/bob/new/"* 2>/dev/null | wc -l)
	[ "$got" -ge "$n" ] && break
	sleep 0.1
done
is "$got" "$n" "all $n delivered"
conns=$(( $(disconnects) - before ))
is "$conns" 1 "over one connection"
diag "$(grep ' disconnect from ' "$STACK_MAILLOG" | tail -n 1 | sed 's/.*disconnect from/postfix: disconnect from/')"
is "$(find "$QUEUE" -maxdepth 1 -name '*.env' | wc -l)" 0 "the queue is empty"
diag "$(awk -v a="$t0" -v b="$t1" -v n="$n" -v c="$conns" \
    'BEGIN { printf "queue flush: %d messages in %.2f s (%.1f ms each) over %d connection(s)", n, b - a, (b - a) * 1000 / n, c }')"
diag "$(grep 'queue run:' <<<"$STDERR")"
