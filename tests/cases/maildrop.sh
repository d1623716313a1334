#!/bin/bash
# maildrop.sh - the maildrop (drop.h) against a hostile local user, issue 8
# section 5: a poison file does not stop the pickup for others (5.1);
# the writer applies the direct path's checks, and a file refused for its
# content is reported to its owner by a bounce (5.2); every pickup is
# logged, to syslog when nothing else is configured, and the message
# names the local user in a Received field (5.3); a uid's share of root's
# queue is capped and failed/ expires (5.8); only d.ID files that no one
# else may write are imported (5.9); a thousand refusals in a second never
# run out of names (5.10).
#
# Needs root (uid 33 and 34 submit, root picks up). tests/lib.sh runs it
# in a private mount namespace where the compiled-in system
# configuration and spool (see envoi --version) do not exist and what the
# test writes there stays private: the real ones are neither read nor
# written.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root (a mount namespace, uid 33 and 34)"
	exit 0
fi
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

command -v setpriv >/dev/null || skip_all "no setpriv (util-linux)"
WWW=33 OTHER=34
getent passwd "$WWW" >/dev/null && getent passwd "$OTHER" >/dev/null ||
	skip_all "no users with uid $WWW and $OTHER"
WWW_NAME=$(getent passwd "$WWW" | cut -d: -f1)
umask 022

# --- the system paths (lib.sh made them private)
SYSCONF=$ENVOI_SYSCONFDIR
SPOOL=$ENVOI_LOCALSTATEDIR/spool/envoi
MAILDROP=$SPOOL/maildrop
mkdir -p "$SYSCONF" || bail_out "cannot make $SYSCONF"
ok "no system file and no spool but the test's own" \
    eval '[ ! -e "$SYSCONF/envoi.conf" ] && [ ! -e "$SPOOL" ]'
# Users reach the maildrop through the spool's parents (in the
# namespace: the machine's own modes stay).
iso_searchable "$(dirname "$SPOOL")" || bail_out "cannot make the spool's parents reachable"

# uid 33 and 34 run a copy of envoi from a directory they can reach, each
# with a home of its own that holds no configuration.
chmod 711 "$TESTDIR"
PUB=$TESTDIR/pub
mkdir -p "$PUB" "$TESTDIR/u$WWW" "$TESTDIR/u$OTHER"
cp "$ENVOI" "$PUB/envoi"
chmod 755 "$PUB" "$PUB/envoi"
chown "$WWW:$WWW" "$TESTDIR/u$WWW"
chown "$OTHER:$OTHER" "$TESTDIR/u$OTHER"
ROOT_WRAP=$ENVOI_WRAP
as() {  # as UID CMD...: run CMD as UID (its own group, no others)
	local u=$1 h=$TESTDIR/u$1
	shift
	setpriv --reuid="$u" --regid="$u" --clear-groups \
	    env HOME="$h" XDG_CONFIG_HOME="$h/.config" XDG_STATE_HOME="$h/.state" "$@"
}
as_user() {  # as_user UID ARGS...: run_envoi as UID
	local u=$1 h=$TESTDIR/u$1
	shift
	# shellcheck disable=SC2034 # read by run_envoi
	ENVOI_WRAP="setpriv --reuid=$u --regid=$u --clear-groups env HOME=$h XDG_CONFIG_HOME=$h/.config XDG_STATE_HOME=$h/.state $ROOT_WRAP" \
	    ENVOI=$PUB/envoi run_envoi "$@"
}
drops() { find "$MAILDROP" -mindepth 1 -maxdepth 1 | wc -l; }
corrupt() { find "$SPOOL/corrupt" -mindepth 1 -maxdepth 1 | wc -l; }
queued() { find "$SPOOL" -maxdepth 1 -name '*.env' | wc -l; }
server() {      # a plain server for N connections
	start_server - -n "$1" < <(printf '%s\n' "tls none")
	sed -i "s/^port .*/port $PORT/" "$SYSCONF/envoi.conf"
}
# The message files the server received that hold TEXT.
received_with() { grep -l -- "$1" "$MAILDIR"/msg-*.eml 2>/dev/null; }

# --- root's configuration: no logfile, no syslog directive
write_config "$SYSCONF/envoi.conf" <<EOF
account default
host 127.0.0.1
port 1
tls off
domain client.example
queue_retrier off
EOF
INPUT=/dev/null run_envoi -q
is_status 0 "root's first envoi -q makes the maildrop"
is "$(stat -c '%a %U' "$MAILDROP")" "1733 root" "... mode 1733"

INPUT=$TESTDIR/message
printf '%s\n' "To: bob@example.org" "Subject: plain" "" "hello" >"$INPUT"
chmod 644 "$INPUT"

# --- 5.2: the writer applies every check of the direct path, same codes
long_name=$(printf 'n%.0s' $(seq 257))
long_id=$(printf 'i%.0s' $(seq 101))
as_user "$WWW" -F "$long_name" bob@example.org
is_status 64 "-F of 257 octets through the maildrop: EX_USAGE, as directly"
like "$STDERR" "full name .*longer than 256" "... saying why"
as_user "$WWW" -N sometimes bob@example.org
is_status 64 "-N sometimes: EX_USAGE"
like "$STDERR" "-N" "... naming -N"
as_user "$WWW" -R all bob@example.org
is_status 64 "-R all: EX_USAGE"
as_user "$WWW" -V "$long_id" bob@example.org
is_status 64 "-V of 101 octets: EX_USAGE"
is "$(drops)" 0 "nothing was handed in: the user was told, not root's corrupt/"
run_envoi -C "$SYSCONF/envoi.conf" -F "$long_name" bob@example.org
is_status 64 "... the same -F directly (root's own run): EX_USAGE too"

# --- 5.1 and 5.2: poison files, made by hand under drop_write's names
dname() { printf 'd.20250101000000%016x' "$1"; }
plant() {       # plant UID NAME: stdin becomes MAILDROP/NAME, owned by UID
	as "$1" sh -c "umask 077; cat >'$MAILDROP/$2'"
}
{ printf 'envoi-maildrop 1\nenvid '
  head -c 4194200 /dev/zero | tr '\0' A
  printf '\nrcpt bob@example.org\n\nSubject: poison\n\nx\n'; } | plant "$WWW" "$(dname 1)"
printf 'envoi-maildrop 1\nfull-name %s\nrcpt bob@example.org\n\nSubject: long name\n\nx\n' \
    "$long_name" | plant "$WWW" "$(dname 2)"
printf 'envoi-maildrop 1\nnotify sometimes\nrcpt bob@example.org\n\nSubject: notify\n\nx\n' |
    plant "$WWW" "$(dname 3)"
# and a good one of another user's, behind them
INPUT=$TESTDIR/message as_user "$OTHER" -f "backup@example.org" bob@example.org
is_status 0 "uid $OTHER submits: exit 0"
is "$(drops)" 4 "four drop files wait"
server 1
INPUT=/dev/null run_envoi -q
is_status 0 "root's envoi -q with poison files: exit 0"
unlike "$STDERR" "rolled|queue id" "... no error about a rolled-back queue entry"
like "$STDERR" "maildrop $(dname 1) \\(uid $WWW\\) refused: option line [0-9]+: bad envid" \
    "the 4 MB envid: refused, the file named"
like "$STDERR" "maildrop $(dname 2) \\(uid $WWW\\) refused: the full name" "the long -F: refused"
like "$STDERR" "maildrop $(dname 3) \\(uid $WWW\\) refused: option line [0-9]+: bad DSN notify" "the bad NOTIFY: refused"
wait_server
is "$(drops)" 0 "the maildrop is empty"
is "$(corrupt)" 3 "the three poison files are in corrupt/"
is "$(queued)" 0 "the queue is empty: all delivered"
is "$(received_with "Subject: plain" | wc -l)" 1 "the good message of uid $OTHER was delivered"
is "$(commands | grep -c "^RCPT TO:<$WWW_NAME@client.example>")" 3 \
    "three bounces, to the owner $WWW_NAME@client.example"
is "$(commands | grep -c '^MAIL FROM:<>')" 3 "... from the null sender"
b=$(received_with "Queue ID: $(dname 2)")
like "$(cat "$b" 2>/dev/null)" "Reason: the system queue refused it: the full name given with -F is longer" \
    "the bounce says which file and why"
like "$(cat "$b" 2>/dev/null)" "Content-Type: multipart/report; report-type=delivery-status" \
    "... an RFC 3464 report"
like "$(cat "$b" 2>/dev/null)" "Subject: long name" "... with the message"
INPUT=/dev/null run_envoi -q
is_status 0 "the next envoi -q: exit 0 (nothing stuck)"

# --- 5.3: the trace. No logfile or syslog configured: syslog all the same
# (a socket at /dev/log in a nested namespace, where python3 reads it).
INPUT=$TESTDIR/spoof
printf '%s\n' "From: Backup System <backup@example.org>" "To: bob@example.org" \
    "Subject: who sent this" "" "text" >"$INPUT"
chmod 644 "$INPUT"
as_user "$WWW" -f backup@example.org bob@example.org
is_status 0 "uid $WWW sends as backup@example.org: exit 0"
server 1
SYSLOG=$TESTDIR/syslog
if command -v python3 >/dev/null; then
	unshare -m --propagation private bash -c '
		d=$1; shift
		mkdir -p "$d/u" "$d/w"
		mount -t overlay overlay -o "lowerdir=/dev,upperdir=$d/u,workdir=$d/w" /dev || exit 90
		python3 -c "
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(\"/dev/log\")
f = open(sys.argv[1], \"ab\", 0)
while True:
    f.write(s.recv(65536) + b\"\\n\")
" "$d/log" &
		l=$!
		for i in $(seq 100); do [ -S /dev/log ] && break; sleep 0.05; done
		"$@" </dev/null >"$d/out" 2>"$d/err"
		rc=$?
		sleep 0.3
		kill "$l"
		exit "$rc"' bash "$TESTDIR/devlog" "$ENVOI" -q
	STATUS=$?
	is_status 0 "root's envoi -q (syslog listening): exit 0"
	like "$(cat "$TESTDIR/devlog/log" 2>/dev/null)" \
	    "<2[0-9]>.*envoi\\[[0-9]+\\]: maildrop d\\.[0-9]{14}[0-9a-f]{16}: uid $WWW \\($WWW_NAME\\) queued as id=" \
	    "syslog (mail facility) names the uid and login of the import"
else
	INPUT=/dev/null run_envoi -q
	skip "syslog names the uid and login of the import" "no python3 to listen on /dev/log"
fi
wait_server
m=$(received_with "Subject: who sent this")
like "$(commands)" "MAIL FROM:<backup@example.org>" "the envelope sender asked for (force_from off)"
like "$(head -n 1 "$m" 2>/dev/null)" \
    "^Received: by [^ ]+ \\(envoi maildrop, from userid $WWW \\($WWW_NAME\\)\\);"$'\r$' \
    "the message's first field: Received, naming userid $WWW ($WWW_NAME)"
like "$(sed -n 2p "$m" 2>/dev/null)" $'^\t[A-Z][a-z]{2}, [0-9]{1,2} [A-Z][a-z]{2} [0-9]{4} ' \
    "... and the date, on a continuation line"
like "$(cat "$m" 2>/dev/null)" "From: Backup System <backup@example.org>" "... whatever From it has"

# --- 5.8: a uid's share of root's queue and failed/; failed/ expires
mkdir -p "$SPOOL/failed"
F=$SPOOL/failed/20200101000000abcdef01
printf 'version 1\naccount default\nfrom a@example.org\nrcpt b@example.org\nsubmitter-uid %s\nmessage-id x@y\nsize %s\n8bit 0\ncreated 1577836800\n' \
    "$WWW" $((200 * 1024 * 1024)) >"$F.env"
: >"$F.msg"
printf 'attempts 1\nfailed-reason 550 no such user\n' >"$F.st"
chmod 600 "$F".*
INPUT=$TESTDIR/message as_user "$WWW" bob@example.org
is_status 0 "uid $WWW over its quota submits: exit 0 (the drop file is durable)"
INPUT=/dev/null run_envoi -q
is_status 0 "root's envoi -q: exit 0"
like "$STDERR" "uid $WWW \\($WWW_NAME\\) is over its quota" "... a warning names the user and the quota"
is "$(drops)" 1 "the file waits in the maildrop"
is "$(stat -c %u "$MAILDROP"/d.*)" "$WWW" "... still the user's own (their disk quota)"
touch -d '31 days ago' "$F.st"
server 1
INPUT=/dev/null run_envoi -q
is_status 0 "a month later: exit 0"
wait_server
is "$(find "$SPOOL/failed" -name '*.env' | wc -l)" 0 "the failed entry expired"
is "$(drops)" 0 "the waiting file went"
is "$(ls "$MAILDIR"/msg-*.eml 2>/dev/null | wc -l)" 1 "... and was delivered"

# --- 5.9: a hard link to someone else's writable file, under any name
VD=$(dirname "$SPOOL")/victim-$$
mkdir -p "$VD"
chown "$OTHER:$OTHER" "$VD"
printf 'envoi-maildrop 1\nrcpt bob@example.org\n\nSubject: spoofed\n\nx\n' >"$VD/drop"
chown "$OTHER:$OTHER" "$VD/drop"
chmod 666 "$VD/drop"
linked=0
if as "$WWW" ln "$VD/drop" "$MAILDROP/x.spoof" 2>/dev/null; then
	linked=1
	as "$OTHER" rm -f "$VD/drop"    # one link left: the one in the maildrop
fi
# and a file of uid 34's own, left writable to others, under a d.ID name
printf 'envoi-maildrop 1\nrcpt bob@example.org\n\nSubject: writable\n\nx\n' |
    plant "$OTHER" "$(dname 10)"
chmod 622 "$MAILDROP/$(dname 10)"
before=$(corrupt)
server 1
INPUT=/dev/null run_envoi -q
is_status 0 "root's envoi -q with spoofed files: exit 0"
stop_server
is "$(commands | grep -c '^MAIL')" 0 "nothing was sent"
like "$STDERR" "$(dname 10) \\(uid $OTHER\\) refused: mode 0622: writable by group or others" \
    "a d.ID file others may write: refused"
if [ "$linked" = 1 ]; then
	like "$STDERR" "x\\.spoof \\(uid $OTHER\\) refused: mode 0666" \
	    "a link to uid $OTHER's world-writable file (one link left): refused"
	is "$(( $(corrupt) - before ))" 2 "both in corrupt/"
else
	skip "a link to uid $OTHER's world-writable file: refused" "the kernel refused the link"
	is "$(( $(corrupt) - before ))" 1 "it is in corrupt/"
fi
is "$(drops)" 0 "the maildrop is empty"

# --- 5.10: over a thousand odd names in one second
as "$WWW" bash -c "for i in \$(seq 1100); do : >'$MAILDROP/odd name '\$i; done"
INPUT=$TESTDIR/message as_user "$OTHER" bob@example.org
is_status 0 "uid $OTHER submits behind 1100 odd names: exit 0"
before=$(corrupt)
server 1
INPUT=/dev/null run_envoi -q
is_status 0 "root's envoi -q: exit 0 (no \"no free name\")"
wait_server
unlike "$STDERR" "no free name" "... never short of a name"
is "$(( $(corrupt) - before ))" 1100 "all 1100 in corrupt/, each under its own name"
is "$(drops)" 0 "the maildrop is empty"
is "$(ls "$MAILDIR"/msg-*.eml 2>/dev/null | wc -l)" 1 "uid $OTHER's message was delivered"
is "$(commands | grep -c '^MAIL FROM:<>')" 0 "... and no bounce for files envoi never wrote"

done_testing
