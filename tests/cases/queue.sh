#!/bin/bash
# queue.sh - the durable queue: a message that cannot go now is kept and
# exit 0; mailq shows it; envoi -q delivers it exactly once; -odq queues
# only; queue off is msmtp's direct mode; a 5xx bounces to the sender and
# moves the entry to failed/; --rmqueue; one connection for many entries;
# 50 concurrent submissions and two concurrent runners deliver each message
# exactly once; a full disk is EX_IOERR with nothing left behind.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

CONF=$TESTDIR/conf
INPUT=$TESTDIR/message
QUEUE=$TESTDIR/queue
ENVOI_QUEUE_ON=1

server() {  # server [extra script lines...]; then the config points at it
	std_server -n "${CONNS:-1}" "$@"
	std_config "$CONF" "domain client.example"
}
server_down() {  # a port where nothing listens any more
	server
	stop_server
}
failed_entries() { find "$QUEUE/failed" -maxdepth 1 -name '*.env' 2>/dev/null | wc -l; }
mailq() { run_envoi -C "$CONF" -bp; }

# --- server down: queued, exit 0, one line on stderr
server_down
std_message down >"$INPUT"
run_envoi -C "$CONF" bob@example.org
is_status 0 "server down: exit 0 (the message is safe in the queue)"
like "$STDERR" '^envoi: queued [0-9a-f]{22}: cannot connect .*; will retry$' "one line: queued, why, will retry"
is "$(entries)" 1 "one queue entry"
id=$(sed -n 's/^envoi: queued \([0-9a-f]*\):.*/\1/p' <<<"$STDERR")
INPUT=/dev/null
mailq
is_status 0 "mailq exits 0"
like "$STDOUT" "^Queue: $QUEUE" "mailq names the queue directory"
like "$STDOUT" "$id +[0-9]+ +[0-9]+s attempts=1 next=in [0-9]+[sm] <sender@example.org> -> bob@example.org \\| last error: cannot connect" \
    "mailq: id, size, age, attempts, next attempt, sender, recipients, last error"
like "$STDOUT" $'\n-- [0-9]+ Kbytes in 1 Request\\.' "mailq: Postfix-style summary line"
run_envoi -C "$CONF" --retry
is_status 0 "--retry exits 0"
is "$(entries)" 1 "--retry (the timers' run) leaves an entry that is not due yet"

# --- server up: sendmail -q delivers it now, not due or not (as Postfix
# and Sendmail do: admins type it right after fixing the network), exactly
# once, and the queue is empty
server
run_envoi -C "$CONF" -q
is_status 0 "-q exits 0"
wait_server
is "$(ls "$MAILDIR"/msg-*.eml 2>/dev/null | wc -l)" 1 "delivered exactly once"
like "$(cat "$MAILDIR/msg-1.eml")" 'Message-ID: <test-down@example.org>' "... the queued message"
is "$(entries)" 0 "the entry left the queue after the server's 250"
mailq
like "$STDOUT" 'Mail queue is empty' "mailq: empty"

# --- -q30m (sendmail's daemon interval) runs the queue once, now
server_down
INPUT=$TESTDIR/message; std_message interval >"$INPUT"
run_envoi -C "$CONF" bob@example.org
is "$(entries)" 1 "-q30m: a deferred entry, next attempt not due"
server
INPUT=/dev/null
run_envoi -C "$CONF" -q30m
is_status 0 "-q30m exits 0"
wait_server
is "$(ls "$MAILDIR"/msg-*.eml 2>/dev/null | wc -l)" 1 "-q30m delivered it now"
is "$(entries)" 0 "... and the queue is empty"

# --- -odq queues without trying; -q delivers what is due
server
INPUT=$TESTDIR/message; std_message odq >"$INPUT"
run_envoi -C "$CONF" -odq bob@example.org
is_status 0 "-odq: exit 0"
is "$(entries)" 1 "-odq: queued"
is "$(cat "$TRANSCRIPT" 2>/dev/null | grep -c '^C: ')" 0 "-odq: the network was not touched"
INPUT=/dev/null
run_envoi -C "$CONF" -q
wait_server
is "$(ls "$MAILDIR"/msg-*.eml 2>/dev/null | wc -l)" 1 "-q delivers a never-tried entry"
is "$(entries)" 0 "... and removes it"

# --- queue off: msmtp's direct mode
server_down
std_config "$CONF" "queue off"
INPUT=$TESTDIR/message; std_message direct >"$INPUT"
run_envoi -C "$CONF" bob@example.org
is_status 75 "queue off + server down: exit 75"
is "$(entries)" 0 "queue off: nothing kept"

# --- several queued entries of one account: one connection
server_down
INPUT=$TESTDIR/message
for n in 1 2 3; do
	std_message "many$n" >"$INPUT"
	run_envoi -C "$CONF" -odq bob@example.org
done
is "$(entries)" 3 "three entries queued"
server
INPUT=/dev/null
run_envoi -C "$CONF" -q
wait_server
is "$SRVSTATUS" 0 "the server (serving ONE connection) saw a clean session"
is "$(ls "$MAILDIR"/msg-*.eml 2>/dev/null | wc -l)" 3 "all three delivered over one connection"
is "$(commands | grep -c '^EHLO')" 2 "one session: EHLO before and after STARTTLS only"
is "$(commands | grep -c '^MAIL FROM')" 3 "three transactions"
is "$(entries)" 0 "queue empty"

# --- 5xx for a queued entry: bounce to the sender, entry to failed/
server_down
INPUT=$TESTDIR/message; std_message bounced >"$INPUT"
run_envoi -C "$CONF" -odq nobody@example.org
CONNS=2 server "on RCPT#1@1 reply 550 5.1.1 <nobody@example.org>: no such user"
INPUT=/dev/null
run_envoi -C "$CONF" -q
is "$(failed_entries)" 1 "the refused entry moved to failed/"
is "$(entries)" 1 "a bounce is queued"
run_envoi -C "$CONF" -q
wait_server
is "$(sed -n 1p "$MAILDIR/env-1.txt" | sed 's/ SIZE=.*//')" "MAIL FROM:<>" "the bounce has the null sender"
is "$(sed -n 2p "$MAILDIR/env-1.txt")" "RCPT TO:<sender@example.org>" "... and goes to the envelope sender"
b=$(tr -d '\r' <"$MAILDIR/msg-1.eml" 2>/dev/null)
like "$b" 'Content-Type: multipart/report; report-type=delivery-status' "an RFC 3464 report"
like "$b" 'Final-Recipient: rfc822; ?nobody@example.org' "... naming the recipient"
like "$b" 'Status: 5\.1\.1' "... with the server's status"
like "$b" 'no such user' "... and its reply"
mailq
like "$STDOUT" 'next=FAILED <sender@example.org> -> nobody@example.org \| failed:' "mailq shows the failed entry"
run_envoi -C "$CONF" --rmqueue all
is_status 0 "--rmqueue all: exit 0"
is "$(failed_entries)" 0 "--rmqueue cleared failed/"

# --- first attempt: one recipient refused for good while another waits for
# a retry: exit 0 (queued), so a bounce must report the refused one (cron
# never shows stderr)
server "on RCPT#2@1 reply 550 5.1.1 <nobody@example.org>: no such user" \
    "on RCPT#3@1 reply 451 4.3.0 <later@example.org>: try again later"
INPUT=$TESTDIR/message; std_message mixed >"$INPUT"
run_envoi -C "$CONF" ok@example.org nobody@example.org later@example.org
wait_server
is_status 0 "5xx and 4xx recipients on the first attempt: exit 0 (queued for the 4xx one)"
like "$STDERR" '<nobody@example.org>: .*no such user' "... the refused recipient is named on stderr"
is "$(entries)" 2 "... the entry waits for later@ and a bounce for nobody@ is queued"
CONNS=1 server
INPUT=/dev/null
run_envoi -C "$CONF" -qf
wait_server
all_env=$(cat "$MAILDIR"/env-*.txt 2>/dev/null)
like "$all_env" 'RCPT TO:<later@example.org>' "the queue run retries later@"
unlike "$all_env" 'RCPT TO:<(ok|nobody)@example.org>' "... and neither ok@ (delivered) nor nobody@ (refused)"
b=$(cat "$MAILDIR"/msg-*.eml 2>/dev/null | tr -d '\r')
like "$b" 'Final-Recipient: rfc822; ?nobody@example.org' "the bounce names nobody@"
unlike "$b" 'Final-Recipient: rfc822; ?(ok|later)@example.org' "... and only nobody@"
is "$(entries)" 0 "queue empty"

# --- no bounce for the null sender
server_down
INPUT=$TESTDIR/message; std_message nullbounce >"$INPUT"
run_envoi -C "$CONF" -odq -f '<>' nobody@example.org
server "on RCPT reply 550 5.1.1 no such user"
INPUT=/dev/null
run_envoi -C "$CONF" -q
wait_server
is "$(entries)" 0 "no bounce queued for a message from <>"
is "$(failed_entries)" 1 "... but the entry is kept in failed/"
run_envoi -C "$CONF" --rmqueue all

# --- -qI / -qR / -qS select entries (and ignore the schedule)
server_down
INPUT=$TESTDIR/message
std_message sel1 >"$INPUT"; run_envoi -C "$CONF" -odq bob@example.org
std_message sel2 >"$INPUT"; run_envoi -C "$CONF" -odq -f other@example.org carol@example.org
std_message sel3 >"$INPUT"; run_envoi -C "$CONF" -odq dave@example.org
id3=$(basename "$(grep -l '^rcpt dave@example.org$' "$QUEUE"/*.env)" .env)
CONNS=2 server
INPUT=/dev/null
run_envoi -C "$CONF" -qRcarol
run_envoi -C "$CONF" -qSnomatch
run_envoi -C "$CONF" -qI"$id3"
wait_server
is "$(sed -n 's/^RCPT TO://p' "$MAILDIR"/env-*.txt | sort | tr '\n' ' ')" "<carol@example.org> <dave@example.org> " \
    "-qR and -qI delivered just their entries (over the one connection allowed, in turn)"
is "$(entries)" 1 "the unselected entry (and -qS with no match) stayed"
run_envoi -C "$CONF" --rmqueue all

# --- after a successful submission the account's queue drains too
server_down
INPUT=$TESTDIR/message
std_message old1 >"$INPUT"; run_envoi -C "$CONF" -odq bob@example.org
std_message old2 >"$INPUT"; run_envoi -C "$CONF" -odq bob@example.org
server
std_message fresh >"$INPUT"
run_envoi -C "$CONF" bob@example.org
is_status 0 "a submission with two entries waiting: exit 0"
wait_server
is "$(ls "$MAILDIR"/msg-*.eml 2>/dev/null | wc -l)" 3 "the new message and both queued ones went out"
is "$(commands | grep -c '^MAIL FROM')" 3 "... over the submission's one connection"
is "$(entries)" 0 "queue empty"

# --- -odb: exit at once, a detached child delivers
server
std_message odb >"$INPUT"
run_envoi -C "$CONF" -odb bob@example.org
is_status 0 "-odb: exit 0"
wait_server 15
is "$(ls "$MAILDIR"/msg-*.eml 2>/dev/null | wc -l)" 1 "-odb: the background child delivered it"
for i in $(seq 1 50); do [ "$(entries)" = 0 ] && break; sleep 0.1; done
is "$(entries)" 0 "-odb: and removed the entry"

# --- queue_lifetime: an entry that waited too long is bounced
server_down
std_config "$CONF" "queue_lifetime 1s"
std_message expired >"$INPUT"
run_envoi -C "$CONF" bob@example.org
is_status 0 "queued (server down)"
sleep 2
CONNS=2 server
std_config "$CONF" "queue_lifetime 1s"
INPUT=/dev/null
run_envoi -C "$CONF" -qf
is "$(failed_entries)" 1 "past queue_lifetime: moved to failed/"
# The bounce gets the default lifetime (under valgrind a second may pass).
std_config "$CONF"
run_envoi -C "$CONF" -qf
wait_server
b=$(tr -d '\r' <"$MAILDIR/msg-1.eml" 2>/dev/null)
like "$b" 'Status: 4\.4\.7' "the bounce says 4.4.7 (delivery time expired)"
like "$b" 'could not be delivered for [0-9]+s \(queue_lifetime' "... and why"
run_envoi -C "$CONF" --rmqueue all
std_config "$CONF"

# --- 50 concurrent submissions with the server down, then two runners
server_down
INPUT=$TESTDIR/message
pids=()
for n in $(seq 1 50); do
	std_message "c$n" >"$TESTDIR/m$n"
	$ENVOI_WRAP "$ENVOI" -C "$CONF" bob@example.org <"$TESTDIR/m$n" >/dev/null 2>"$TESTDIR/c$n.err" &
	pids+=($!)
done
bad=0
for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
is "$bad" 0 "50 concurrent submissions with the server down: all exit 0"
is "$(entries)" 50 "50 entries queued"
CONNS=2 server
INPUT=/dev/null
( $ENVOI_WRAP "$ENVOI" -C "$CONF" -qf >/dev/null 2>&1 ) &
r1=$!
( $ENVOI_WRAP "$ENVOI" -C "$CONF" -qf >/dev/null 2>&1 ) &
r2=$!
wait $r1; wait $r2
wait_server 30
ids=$(cat "$MAILDIR"/msg-*.eml 2>/dev/null | tr -d '\r' | sed -n 's/^Message-ID: <\(test-c[0-9]*\)@.*/\1/p')
is "$(sort <<<"$ids" | uniq | wc -l)" 50 "two concurrent runners: all 50 delivered"
is "$(wc -l <<<"$ids")" 50 "... each exactly once"
is "$(entries)" 0 "queue empty"

# --- mailq prints no control character that reached an entry (a drop
# file's address, a server's reply): C1 CSI (U+009B) and ESC become '?'
server_down
INPUT=$TESTDIR/message; std_message c1 >"$INPUT"
run_envoi -C "$CONF" bob@example.org
id=$(sed -n 's/^envoi: queued \([0-9a-f]*\):.*/\1/p' <<<"$STDERR")
csi=$(printf '\302\233')
sed -i "s/^from .*/from evil${csi}31m@example.org/; s/^rcpt .*/rcpt bob${csi}2J@example.org/" "$QUEUE/$id.env"
sed -i "s/^last-error .*/last-error 421 ${csi}1mbusy\x1b[0m/" "$QUEUE/$id.st"
INPUT=/dev/null
mailq
like "$STDOUT" "$id .*<evil\\?31m@example.org> -> bob\\?2J@example.org \\| last error: 421 \\?1mbusy" \
    "mailq: the entry listed with its controls replaced"
is "$(printf '%s' "$STDOUT" | LC_ALL=C grep -c $'\302\233\\|\033')" 0 "... no C1 or ESC byte in mailq's output"
run_envoi -C "$CONF" --rmqueue "$id"

# --- a user's queue is never under another user's $XDG_STATE_HOME (su
# without "-" keeps it): only a directory of the caller's own counts
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	chmod o+x "$TESTDIR"
	nb=$TESTDIR/nobody-home
	mkdir -p "$TESTDIR/root-state" "$nb"
	chmod 1777 "$TESTDIR/root-state"
	chown nobody "$nb"
	server_down
	std_config "$nb/rc" "queue_retrier off"
	sed -i '/^queue_dir /d' "$nb/rc"
	chown nobody "$nb/rc"
	std_message xdg >"$nb/msg"
	HOME=$nb XDG_STATE_HOME=$TESTDIR/root-state setpriv --reuid=nobody --regid=nogroup \
	    --clear-groups $ENVOI_WRAP "$ENVOI" -C "$nb/rc" -odq bob@example.org <"$nb/msg" \
	    >/dev/null 2>"$TESTDIR/xdg.err"
	is "$?" 0 "nobody with root's XDG_STATE_HOME: queued, exit 0"
	is "$(find "$TESTDIR/root-state" -name '*.env' | wc -l)" 0 "... not in the other user's state directory"
	is "$(find "$nb/.local/state/envoi/queue" -name '*.env' | wc -l)" 1 "... but in nobody's own"
else
	skip "another user's XDG_STATE_HOME" "needs root and setpriv"
fi

# --- a full disk: EX_IOERR, nothing left behind (root: a private tmpfs)
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
	small=$TESTDIR/small
	mkdir -p "$small"
	std_config "$CONF" "queue_dir $small/q"
	{ printf 'Subject: big\n\n'; head -c 400000 /dev/zero | tr '\0' 'x' | fold -w 70; } >"$TESTDIR/big"
	unshare -m sh -c "mount -t tmpfs -o size=128k tmpfs '$small' &&
		$ENVOI_WRAP '$ENVOI' -C '$CONF' bob@example.org <'$TESTDIR/big' >'$TESTDIR/full.out' 2>'$TESTDIR/full.err';
		echo \$? >'$TESTDIR/full.rc'; find '$small/q' -type f | wc -l >'$TESTDIR/full.left'"
	is "$(cat "$TESTDIR/full.rc")" 74 "full disk: exit 74 (EX_IOERR)"
	like "$(cat "$TESTDIR/full.err")" 'full' "... saying the disk is full"
	is "$(cat "$TESTDIR/full.left")" 0 "... and no partial entry left"
	# A queue directory that cannot be written (read-only mount): 73.
	std_message ro >"$TESTDIR/ro"
	unshare -m sh -c "mount -t tmpfs -o size=128k tmpfs '$small' && mkdir '$small/q' &&
		mount -o remount,ro '$small' &&
		$ENVOI_WRAP '$ENVOI' -C '$CONF' bob@example.org <'$TESTDIR/ro' >/dev/null 2>'$TESTDIR/ro.err';
		echo \$? >'$TESTDIR/ro.rc'"
	is "$(cat "$TESTDIR/ro.rc")" 73 "unwritable queue directory: exit 73 (EX_CANTCREAT)"
	like "$(cat "$TESTDIR/ro.err")" "$small/q" "... naming the directory"
else
	skip "full disk" "needs root for a private tmpfs"
fi
# --- --retry (the timers' run) before any account is written: nothing
# waits, so exit 0 (no failed unit every 5 minutes); mail that waits, and
# -q, still report the configuration error.
BLANK=$TESTDIR/blank.conf
write_config "$BLANK" <<EOF
# account default
# host smtp.example.org
EOF
INPUT=/dev/null
run_envoi -C "$BLANK" --retry
is_status 0 "--retry, no account defined, nothing queued: exit 0"
is "$STDERR" "" "... silently"
run_envoi -C "$BLANK" -q
is_status 78 "-q, no account defined: 78 (asked for by a person)"
write_config "$TESTDIR/defq.conf" <<EOF
account default
host 127.0.0.1
port 1
from sender@example.org
EOF
INPUT=$TESTDIR/m-defq
std_message defq >"$INPUT"
run_envoi -C "$TESTDIR/defq.conf" bob@example.org
# The default queue: the user's state directory, or for root the system
# queue (private to this test: tests/isolate.sh).
DEFQ=
for d in "$XDG_STATE_HOME/envoi/queue" "$ENVOI_LOCALSTATEDIR/spool/envoi"; do
	if ls "$d"/*.env >/dev/null 2>&1; then
		DEFQ=$d
		break
	fi
done
is "$(find "${DEFQ:-/nonexistent}" -maxdepth 1 -name '*.env' 2>/dev/null | wc -l)" 1 \
    "a message waits in the default queue (${DEFQ:-none found})"
INPUT=/dev/null
run_envoi -C "$BLANK" --retry
is_status 78 "--retry, no account, mail waiting: 78"
like "$STDERR" 'no account is defined' "... saying why"
# An entry that failed for good waits for nothing: quiet again.
if [ -n "$DEFQ" ]; then
	mkdir -p "$DEFQ/failed"
	chmod 700 "$DEFQ/failed"
	mv "$DEFQ"/*.env "$DEFQ"/*.msg "$DEFQ/failed/"
fi
run_envoi -C "$BLANK" --retry
is_status 0 "--retry, no account, only a failed/ entry: exit 0 (nothing to retry)"
is "$STDERR" "" "... silently"
done_testing
