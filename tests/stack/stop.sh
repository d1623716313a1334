#!/bin/sh
# tests/stack/stop.sh DIR
#
# Stops exactly the Postfix and Dovecot started by tests/stack/start.sh DIR:
# Postfix through its own config directory (postfix -c DIR/postfix), Dovecot by the PID in its own
# base_dir. Touches no other instance. Waits (bounded) until both masters
# are gone so that DIR can be removed afterwards. Safe to run twice.

set -u
me=stack/stop.sh
[ $# -eq 1 ] || { echo "usage: $me DIR" >&2; exit 64; }
PATH=/usr/sbin:/sbin:$PATH
DIR=$1
[ -d "$DIR" ] || exit 0

rc=0
pids=
# Signal both first, then wait: Dovecot's master takes a few seconds to
# wind down, Postfix's about one.
if [ -s "$DIR/dovecot/run/master.pid" ]; then
	pid=$(cat "$DIR/dovecot/run/master.pid")
	# Only a process that is a dovecot master for this config is ours.
	if [ -r "/proc/$pid/cmdline" ] &&
		tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$DIR/dovecot/dovecot.conf"; then
		kill "$pid" 2>/dev/null
		pids="$pids $pid"
	fi
fi
# Postfix leaves its pid file behind; a master that is gone needs nothing.
if [ -f "$DIR/postfix/main.cf" ] && [ -s "$DIR/spool/pid/master.pid" ] &&
	kill -0 "$(tr -d ' ' <"$DIR/spool/pid/master.pid")" 2>/dev/null; then
	pids="$pids $(tr -d ' ' <"$DIR/spool/pid/master.pid")"
	# `abort` is `stop` without its one-second polling: both SIGTERM the
	# master, which takes its children down; we wait for it below.
	postfix -c "$DIR/postfix" abort >/dev/null 2>&1 || {
		echo "$me: postfix -c $DIR/postfix abort failed" >&2
		rc=1
	}
fi

# Wait up to 10 s for the masters (they take their children with them).
i=0
for pid in $pids; do
	while kill -0 "$pid" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			echo "$me: process $pid did not exit" >&2
			rc=1
			break
		fi
		sleep 0.1
	done
done
exit $rc
