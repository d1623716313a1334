#!/bin/bash
# aliases.sh - local recipients against tests/smtpd-script: an msmtp-style
# aliases file maps root, user@localhost and user@$(hostname) on the
# command line and under -t; unaliased local names are qualified; a
# missing file and a loop are configuration errors (78); newaliases checks
# the file. Then the header policy: rewrite_headers, force_from and
# set_sender_header.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

CONF=$TESTDIR/conf
ALIASES=$TESTDIR/aliases
INPUT=$TESTDIR/message
HOST=$(hostname)

server() {
	start_server - "$@" <<'EOF'
tls starttls
auth PLAIN
user alice secret
EOF
}

# The envelope recipients the server saw, one per line.
rcpts() { sed -n 's/^RCPT TO:<\([^>]*\)>.*/\1/p' "$MAILDIR/env-1.txt" 2>/dev/null; }
# One header field of the received message (first occurrence, unfolded).
header() {
	awk -v n="$1" 'BEGIN { IGNORECASE = 1 } /^\r?$/ { exit }
	    tolower(substr($0, 1, length(n) + 1)) == tolower(n) ":" { sub(/\r$/, ""); print; exit }' \
	    "$MAILDIR/msg-1.eml" 2>/dev/null
}

cat >"$ALIASES" <<EOF
# system aliases
root: admin@example.org
cron: root, ops@example.net
www-data: Web Team <web@example.org>
postmaster: root
EOF

# --- command-line recipients
server
std_config "$CONF" "domain client.example" "aliases $ALIASES"
std_message aliases >"$INPUT"
run_envoi -C "$CONF" root www-data@localhost cron "nobody@$HOST" bob@example.net
wait_server
is_status 0 "aliased command-line recipients: exit 0"
is "$(rcpts)" "admin@example.org
web@example.org
ops@example.net
nobody@client.example
bob@example.net" "root, www-data@localhost, cron aliased; nobody@\$(hostname) qualified; others kept"

# --- -t: the header recipients go through the same aliases
server
std_config "$CONF" "domain client.example" "aliases $ALIASES"
printf '%s\n' "From: root" "To: postmaster@$HOST" "Cc: Cron <cron@localhost>, carol" \
    "Subject: t" "" "body" >"$INPUT"
run_envoi -C "$CONF" -t
wait_server
is_status 0 "-t with local recipients: exit 0"
is "$(rcpts)" "admin@example.org
ops@example.net
carol@client.example" "-t recipients aliased and qualified"
is "$(header From)" "From: root@client.example" "From: root only qualified without rewrite_headers"
is "$(header To)" "To: postmaster@$HOST" "To header untouched without rewrite_headers"

# --- no aliases file: only qualification, as before
server
std_config "$CONF" "domain client.example"
std_message plain >"$INPUT"
run_envoi -C "$CONF" root root@localhost
wait_server
is_status 0 "no aliases file: exit 0"
is "$(rcpts)" "root@client.example
root@localhost" "no aliases file: bare names qualified, root@localhost kept"

# --- default: catches every other local name
printf '%s\n' "root: admin@example.org" "default: catchall@example.org" >"$TESTDIR/aliases2"
server
std_config "$CONF" "domain client.example" "aliases $TESTDIR/aliases2"
run_envoi -C "$CONF" root daemon "backup@$HOST" someone@example.net
wait_server
is_status 0 "default alias: exit 0"
is "$(rcpts)" "admin@example.org
catchall@example.org
someone@example.net" "default: catches local names without their own line"

# --- errors: nothing is sent, exit 78 (EX_CONFIG)
std_config "$CONF" "domain client.example" "aliases $TESTDIR/missing"
std_message err >"$INPUT"
run_envoi -C "$CONF" root
is_status 78 "missing aliases file: EX_CONFIG"
like "$STDERR" "aliases file $TESTDIR/missing: No such file" "the message names the path"

printf '%s\n' "a: b" "b: a" >"$TESTDIR/loop"
std_config "$CONF" "domain client.example" "aliases $TESTDIR/loop"
run_envoi -C "$CONF" a
is_status 78 "alias loop: EX_CONFIG"
like "$STDERR" "$TESTDIR/loop:2: alias loop: a -> b -> a" "the loop is named with file:line"
printf '%s\n' "root: admin@example.org" "cron root" >"$TESTDIR/bad"
std_config "$CONF" "domain client.example" "aliases $TESTDIR/bad"
run_envoi -C "$CONF" bob@example.net
is_status 78 "a bad aliases file stops every submission (it is configuration)"
like "$STDERR" "$TESTDIR/bad:2: expected" "the syntax error is named with file:line"

done_testing
