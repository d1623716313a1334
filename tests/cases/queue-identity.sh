#!/bin/bash
# queue-identity.sh - a queued message leaves under the identity it was
# submitted with, never another (issue 8 §1): each entry records its
# configuration file, and only that file's account of that name sends it,
# whatever -C the queue run was given; the drain after a successful
# submission takes only entries of the same file and account; a file that
# is gone or lost the account keeps the entry waiting (mailq says why) until
# queue_lifetime bounces it; editing the file is followed; entries of older
# builds, which record no file, go as before, with a note in mailq.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

QUEUE=$TESTDIR/queue
ENVOI_QUEUE_ON=1
RC_ALICE=$TESTDIR/rc-alice
RC_BOB=$TESTDIR/rc-bob
failed_entries() { find "$QUEUE/failed" -maxdepth 1 -name '*.env' 2>/dev/null | wc -l; }
delivered() { ls "$MAILDIR"/msg-*.eml 2>/dev/null | wc -l; }
mails() { grep -c '^C: MAIL FROM' "$TRANSCRIPT" 2>/dev/null; }

# An SMTP server accepting USER/PASSWORD over STARTTLS.
server_for() {  # server_for USER PASSWORD [connections]
	start_server - -n "${3:-1}" < <(printf '%s\n' "tls starttls" "auth PLAIN" "user $1 $2")
}
# bob's file: his own server, his own password (account "default" too).
bob_config() {  # bob_config PORT [extra directives]
	local port=$1
	shift
	PORT=$port std_config "$RC_BOB" "user bob" "password bobpw" \
	    "from bob@example.org" "$@"
}
due() { sed -i 's/^next-attempt .*/next-attempt 0/' "$QUEUE/$1.st"; }
dead_port() { server_for nobody x; DEAD_PORT=$PORT; stop_server; }

INPUT=$TESTDIR/message

# --- Seen: queued through rc-bob (server down); `-C rc-alice -q` must not
# send it as alice.
dead_port
bob_config "$DEAD_PORT"
std_message bob1 >"$INPUT"
run_envoi -C "$RC_BOB" carol@example.org
is_status 0 "bob's server down: queued, exit 0"
is "$(entries)" 1 "one entry"
id=$(sed -n 's/^envoi: queued \([0-9a-f]*\):.*/\1/p' <<<"$STDERR")
like "$(cat "$QUEUE/$id.env")" $'\nconfig '"$(realpath "$RC_BOB")"$'\n' \
    "the entry records bob's configuration file by its real path"
like "$(cat "$QUEUE/$id.env")" $'\nconfig-id [0-9]+:[0-9]+\n' "... and its device:inode"
like "$(cat "$QUEUE/$id.env")" $'\nsubmitter-uid '"$(id -u)"$'\n' "... and the submitter's uid"

server_for alice secret
std_config "$RC_ALICE"
due "$id"
INPUT=/dev/null
run_envoi -C "$RC_ALICE" -q
is_status 0 "alice's -q: exit 0"
sleep 0.3
stop_server
is "$(mails)" 0 "alice's -q did not send bob's message through alice's server"
unlike "$(cat "$TRANSCRIPT")" 'authenticated' "... nobody authenticated as alice for it"
is "$(entries)" 1 "bob's entry still waits"
run_envoi -C "$RC_ALICE" -bp
like "$STDOUT" "$id .*last error: cannot connect to 127.0.0.1" \
    "mailq: it was tried through bob's own server (still down)"

# --- bob's server back, under a new port: editing the file is followed,
# and alice's -q sends it through bob's file, authenticated as bob.
server_for bob bobpw
bob_config "$PORT"
run_envoi -C "$RC_ALICE" -q
is_status 0 "alice's -q after bob's server is back: exit 0"
wait_server
is "$(delivered)" 1 "delivered through bob's server"
like "$(cat "$TRANSCRIPT")" 'I: authenticated bob' "... authenticated as bob"
like "$(cat "$TRANSCRIPT")" "C: MAIL FROM:<bob@example.org>" "... from bob's address"
is "$(entries)" 0 "the queue is empty"

# --- Seen, worse: an entry queued through a file that requires TLS and
# AUTH is never carried by a plaintext submission through another file
# that shares the queue and names its account the same.
dead_port
bob_config "$DEAD_PORT"
INPUT=$TESTDIR/message; std_message bob2 >"$INPUT"
run_envoi -C "$RC_BOB" carol@example.org
is_status 0 "bob's TLS+AUTH server down: queued"
bob_id=$(sed -n 's/^envoi: queued \([0-9a-f]*\):.*/\1/p' <<<"$STDERR")
due "$bob_id"   # the drain after a success takes every due entry
start_server - -n 2 < <(printf '%s\n' "tls none")
write_config "$TESTDIR/rc-plain" <<EOF
account default
host 127.0.0.1
port $PORT
tls off
auth off
from plain@example.org
queue_dir $QUEUE
queue_retrier off
EOF
std_message plain >"$INPUT"
run_envoi -C "$TESTDIR/rc-plain" dave@example.org
is_status 0 "a plaintext submission through another file: exit 0"
sleep 0.3
stop_server
is "$(mails)" 1 "the plaintext connection carried only its own message"
unlike "$(cat "$MAILDIR"/msg-*.eml 2>/dev/null)" 'test-bob2@' "... never bob's queued one"
is "$(entries)" 1 "bob's entry still waits in the queue"
ok "... the same entry" test -f "$QUEUE/$bob_id.env"

# --- the drain after a success does take entries of the same file and
# account, over the same connection.
server_for bob bobpw
bob_config "$PORT"
due "$bob_id"
std_message bob3 >"$INPUT"
run_envoi -C "$RC_BOB" carol@example.org
is_status 0 "bob's next submission: exit 0"
wait_server
is "$(delivered)" 2 "it carried bob's queued message too"
is "$(grep -c '^I: connection ' "$TRANSCRIPT")" 1 "... over one connection"
is "$(entries)" 0 "the queue is empty"

# --- the file is gone: the entry waits, mailq says why, exit 0.
dead_port
bob_config "$DEAD_PORT"
std_message bob4 >"$INPUT"
run_envoi -C "$RC_BOB" carol@example.org
bob_id=$(sed -n 's/^envoi: queued \([0-9a-f]*\):.*/\1/p' <<<"$STDERR")
mv "$RC_BOB" "$RC_BOB.away"
server_for alice secret
std_config "$RC_ALICE"
INPUT=/dev/null
run_envoi -C "$RC_ALICE" -q
is_status 0 "-q with bob's file gone: exit 0"
sleep 0.3
stop_server
is "$(mails)" 0 "... nothing sent through alice's file"
is "$(entries)" 1 "... the entry waits"
run_envoi -C "$RC_ALICE" -bp
like "$STDOUT" "$bob_id .*last error: its configuration $(realpath "$TESTDIR")/rc-bob cannot be used: .*No such file" \
    "mailq names the file and why it cannot be used"

# --- the file is back but no longer has the account: still waits.
mv "$RC_BOB.away" "$RC_BOB"
sed -i 's/^account default$/account other/' "$RC_BOB"
run_envoi -C "$RC_ALICE" -q
is "$(entries)" 1 "the account is gone from bob's file: the entry waits"
run_envoi -C "$RC_ALICE" -bp
like "$STDOUT" "$bob_id .*last error: its configuration .*rc-bob.*default" \
    "mailq: the file no longer has the account"

# --- past queue_lifetime, such an entry is bounced (through the runner's
# configuration, since its own cannot be used) and moves to failed/.
sed -i 's/^created .*/created 1000000000/' "$QUEUE/$bob_id.env"
server_for alice secret
std_config "$RC_ALICE"
run_envoi -C "$RC_ALICE" -q
is_status 0 "expired, file unusable: -q exits 0"
is "$(failed_entries)" 1 "the entry moved to failed/"
run_envoi -C "$RC_ALICE" -q
wait_server
is "$(delivered)" 1 "a bounce went out through the runner's server"
like "$(cat "$MAILDIR/msg-1.eml" 2>/dev/null)" 'multipart/report' "... an RFC 3464 report"
run_envoi -C "$RC_ALICE" --rmqueue all

# --- an entry of an older build (no config line): any configuration
# sends it, as before, and mailq says so.
server_for alice secret
std_config "$RC_ALICE"
INPUT=$TESTDIR/message; std_message old >"$INPUT"
run_envoi -C "$RC_ALICE" -odq carol@example.org
old=$(ls "$QUEUE"/*.env | head -n 1)
sed -i '/^config /d; /^config-id /d; /^submitter-uid /d' "$old"
INPUT=/dev/null
run_envoi -C "$RC_ALICE" -bp
like "$STDOUT" 'no configuration recorded' "mailq notes an entry of an older build"
run_envoi -C "$RC_ALICE" -q
wait_server
is "$(delivered)" 1 "the older entry went through the runner's configuration"
is "$(entries)" 0 "the queue is empty"

done_testing
