#!/bin/bash
# failover.sh - smarthost failover: `host a, b` tries the next host when
# one fails temporarily before any transaction (nothing listening, a 421
# greeting), but never after a certificate failure; when every host failed
# temporarily, fallback_account's server is used with that account's own
# credentials; with nothing reachable the message is queued (exit 0) and a
# queue run fails over the same way. fallback_account loops and unknown
# names are configuration errors.
#
# The hosts of one account share its port, so the servers listen on two
# loopback addresses (127.0.0.1 and 127.0.0.2) with the same port. The
# test certificate names 127.0.0.1 only: a server on 127.0.0.2 that gets
# as far as TLS fails the certificate check.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

CONF=$TESTDIR/conf
INPUT=$TESTDIR/message
QUEUE=$TESTDIR/queue
LOG=$TESTDIR/envoi.log
ENVOI_QUEUE_ON=1

# Several servers at once: lib.sh tracks one (SRVPID); the others are
# kept here and stopped at exit.
declare -A SPID SDIR
named_pids=()
_stop_named() {
	local p
	for p in "${named_pids[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
}
trap 'rc=$?; _stop_named; (exit $rc); _cleanup' EXIT

# start_named NAME [smtpd-script args...] <script: a server kept as NAME.
start_named() {
	local name=$1
	shift
	SRVPID=
	start_server - "$@"
	SPID[$name]=$SRVPID
	SDIR[$name]=$SRVDIR
	named_pids+=("$SRVPID")
	SRVPID=
}
# use NAME: make NAME lib.sh's current server (for wait_server, commands).
use() {
	SRVPID=${SPID[$1]}
	SRVDIR=${SDIR[$1]}
	TRANSCRIPT=$SRVDIR/transcript
	MAILDIR=$SRVDIR/mail
}
connections() { grep -c '^I: connection [0-9]' "${SDIR[$1]}/transcript"; }
messages() { find "${SDIR[$1]}/mail" -name 'msg-*.eml' | wc -l; }
auth_script() { printf '%s\n' "tls starttls" "auth PLAIN" "$@"; }
free_port() {  # P: a port where nothing listens any more
	start_server - </dev/null
	stop_server
	P=$PORT
}
# config HOSTS [directive...]: the standard account on $P with HOSTS.
config() {
	local hosts=$1
	shift
	PORT=$P std_config "$CONF" "host $hosts" "domain client.example" "logfile $LOG" "$@"
}

# --- first host down: the second is used, over one connection
start_named b -n 1 < <(auth_script "user alice secret")
P=$PORT
config "127.0.0.2, 127.0.0.1"
std_message down1 >"$INPUT"
: >"$LOG"
run_envoi -C "$CONF" bob@example.org
is_status 0 "first host down: delivered, exit 0"
is "$STDERR" "" "... nothing on stderr"
use b
wait_server
is "$(connections b)" 1 "... one connection to the second host"
is "$(messages b)" 1 "... the message arrived there"
is "$(entries)" 0 "... nothing left in the queue"
like "$(cat "$LOG")" 'account=default host=127\.0\.0\.2 unusable \(trying the next host\): cannot connect' \
    "log: the first host was given up on, and why"
like "$(cat "$LOG")" 'id=[0-9a-f]+ account=default host=127\.0\.0\.1 message-id=<test-down1@example\.org>' \
    "log: the delivery names the host that took it"

# --- first host greets with 421: the second is used
start_named b -n 1 < <(auth_script "user alice secret")
P=$PORT
start_named a -n 1 -b 127.0.0.2 -P "$P" < <(auth_script "user alice secret" "greeting 421 4.3.2 too busy")
config "127.0.0.2, 127.0.0.1"
std_message busy >"$INPUT"
run_envoi -C "$CONF" bob@example.org
is_status 0 "first host 421: delivered, exit 0"
use a
wait_server
is "$(connections a)" 1 "... the first host was asked"
unlike "$(commands)" 'EHLO|MAIL' "... and got no EHLO or MAIL"
use b
wait_server
is "$(messages b)" 1 "... the second host took the message"

# --- first host fails the certificate check: no failover, exit 77
start_named b -n 1 < <(auth_script "user alice secret")
P=$PORT
start_named a -n 1 -b 127.0.0.2 -P "$P" < <(auth_script "user alice secret")
config "127.0.0.2, 127.0.0.1"
std_message cert >"$INPUT"
run_envoi -C "$CONF" bob@example.org
is_status 77 "first host's certificate fails: exit 77 (EX_NOPERM), not failed over"
like "$STDERR" 'certificate .*127\.0\.0\.2' "... stderr names the certificate problem"
use a
wait_server
unlike "$(commands)" '^AUTH' "... no credentials went to the first host"
use b
stop_server
is "$(connections b)" 0 "... the second host was never contacted"
is "$(entries)" 0 "... nothing queued (the caller has the message and the exit code)"
like "$(cat "$LOG")" 'host=127\.0\.0\.2 unusable \(not trying other hosts\): certificate' \
    "log: why the other hosts were not tried"

backup_config() {  # the primary's hosts down, then account backup on $FBPORT
	config "127.0.0.2, 127.0.0.1" "fallback_account backup"
	cat >>"$CONF" <<EOF
account backup
host 127.0.0.1
port $FBPORT
tls on
tls_starttls on
tls_trust_file $CERTDIR/ca.pem
auth on
user bob
password backup-secret
from sender@example.org
domain client.example
queue_dir $QUEUE
logfile $LOG
EOF
}

# --- every host down: fallback_account, with its own credentials
start_named fb -n 1 < <(auth_script "user bob backup-secret")
FBPORT=$PORT
free_port
backup_config
std_message fallback >"$INPUT"
: >"$LOG"
run_envoi -C "$CONF" bob@example.org
is_status 0 "all hosts down: delivered through fallback_account, exit 0"
use fb
wait_server
is "$(messages fb)" 1 "... the fallback's server took the message"
like "$(cat "$TRANSCRIPT")" 'I: authenticated bob with PLAIN' "... with the fallback account's own credentials"
like "$(cat "$LOG")" 'account=default failed \(.*\); trying fallback_account backup' "log: the switch to the fallback"
like "$(cat "$LOG")" 'account=default fallback=backup host=127\.0\.0\.1 message-id=<test-fallback@' \
    "log: the entry's account, the fallback that delivered it, and its host"

# --- the primary is only down, the fallback refuses for good (its password
# is wrong): the message stays queued for the primary, the fallback's fault
# is named
start_named fbbad -n 1 < <(auth_script "user bob another-secret")
FBPORT=$PORT
free_port
backup_config
std_message fbbad >"$INPUT"
: >"$LOG"
run_envoi -C "$CONF" bob@example.org
is_status 0 "primary down, fallback refuses AUTH: exit 0 (queued for the primary)"
like "$STDERR" '^envoi: queued [0-9a-f]+: .*fallback account backup: .*; will retry$' \
    "... one line naming the fallback's failure"
like "$(cat "$LOG")" 'deferred: .*fallback account backup: authentication failed: 535' \
    "log: the entry deferred, naming the fallback's refusal"
is "$(entries)" 1 "... the entry is kept"
use fbbad
wait_server
run_envoi -C "$CONF" --rmqueue all

# --- everything down, no fallback: queued, exit 0
free_port
config "127.0.0.2, 127.0.0.1"
std_message alldown >"$INPUT"
run_envoi -C "$CONF" bob@example.org
is_status 0 "all hosts down: exit 0 (queued)"
like "$STDERR" '^envoi: queued [0-9a-f]+: none of the 2 hosts of account default could be used; the last one said: cannot connect to 127\.0\.0\.1.*; will retry$' \
    "... one line: queued, every host failed"
is "$(entries)" 1 "... one queue entry"

# --- a queue run fails over too: first host still down, second back
start_named b -n 1 -P "$P" < <(auth_script "user alice secret")
: >"$LOG"
INPUT=/dev/null
run_envoi -C "$CONF" -qf
is_status 0 "queue run: exit 0"
use b
wait_server
is "$(messages b)" 1 "queue run: the second host took the queued message"
is "$(connections b)" 1 "... over one connection"
is "$(entries)" 0 "... the queue is empty"
like "$(cat "$LOG")" 'host=127\.0\.0\.2 unusable \(trying the next host\)' "log: the queue run skipped the first host"

# --- fallback_account must name an account, without loops
INPUT=$TESTDIR/message
free_port
config "127.0.0.1" "fallback_account nosuch"
run_envoi -C "$CONF" bob@example.org
is_status 78 "fallback_account naming no account: EX_CONFIG"
like "$STDERR" 'account default: fallback_account nosuch: no such account' "... says which"
config "127.0.0.1" "fallback_account b1"
printf '%s\n' "account b1 : default" "fallback_account b2" "account b2 : default" \
    "fallback_account default" >>"$CONF"
run_envoi -C "$CONF" bob@example.org
is_status 78 "fallback_account loop: EX_CONFIG"
like "$STDERR" 'fallback_account default leads back to account default: a loop' "... says so"
config "127.0.0.1" "fallback_account default"
run_envoi -C "$CONF" -odq bob@example.org
is_status 0 "an account naming itself (e.g. through defaults) just has no fallback"

done_testing
