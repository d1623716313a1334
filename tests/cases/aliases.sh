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


# The envelope recipients the server saw, one per line.
rcpts() { sed -n 's/^RCPT TO:<\([^>]*\)>.*/\1/p' "$MAILDIR/env-1.txt" 2>/dev/null; }
# One header field of the received message (first occurrence), without CR.
header() {
	sed '/^\r*$/q' "$MAILDIR/msg-1.eml" 2>/dev/null | grep -i -m1 "^$1:" | tr -d '\r'
}
mail_from() { sed -n 's/^MAIL FROM:<\([^>]*\)>.*/\1/p' "$MAILDIR/env-1.txt" 2>/dev/null; }

cat >"$ALIASES" <<EOF
# system aliases
root: admin@example.org
cron: root, ops@example.net
www-data: Web Team <web@example.org>
postmaster: root
EOF

# --- command-line recipients
std_server
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
std_server
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
std_server
std_config "$CONF" "domain client.example"
std_message plain >"$INPUT"
run_envoi -C "$CONF" root root@localhost
wait_server
is_status 0 "no aliases file: exit 0"
is "$(rcpts)" "root@client.example
root@localhost" "no aliases file: bare names qualified, root@localhost kept"

# --- default: catches every other local name
printf '%s\n' "root: admin@example.org" "default: catchall@example.org" >"$TESTDIR/aliases2"
std_server
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

# --- rewrite_headers on: From/To/Cc of local users get their aliases
std_server
std_config "$CONF" "domain client.example" "aliases $ALIASES" "rewrite_headers on"
printf '%s\n' "From: root (Cron Daemon)" "To: root" "Cc: Web <www-data@$HOST>, carol" \
    "Subject: cron" "" "body" >"$INPUT"
run_envoi -C "$CONF" -t
wait_server
is_status 0 "rewrite_headers: exit 0"
is "$(header From)" "From: admin@example.org (Cron Daemon)" "From: root rewritten, comment kept"
is "$(header To)" "To: admin@example.org" "To: root rewritten"
is "$(header Cc)" "Cc: Web <web@example.org>, carol@client.example" \
    "Cc: aliased inside the angle brackets, unaliased name qualified"
is "$(rcpts)" "admin@example.org
web@example.org
carol@client.example" "envelope recipients as before"

# --- force_from envelope: -f gives way to the account's from
std_server
std_config "$CONF" "domain client.example" "force_from envelope"
printf '%s\n' "From: Other <other@example.net>" "To: bob@example.net" "Subject: f" "" "b" >"$INPUT"
run_envoi -C "$CONF" -f other@example.net bob@example.net
wait_server
is_status 0 "force_from envelope: exit 0"
is "$(mail_from)" "sender@example.org" "MAIL FROM is the account's from despite -f"
is "$(header From)" "From: Other <other@example.net>" "the From header is left alone"
is "$(header Reply-To)" "" "no Reply-To added"

# --- force_from header: the From address too, the original in Reply-To
std_server
std_config "$CONF" "domain client.example" "force_from header"
run_envoi -C "$CONF" -f other@example.net bob@example.net
wait_server
is_status 0 "force_from header: exit 0"
is "$(mail_from)" "sender@example.org" "force_from header: MAIL FROM forced"
is "$(header From)" "From: Other <sender@example.org>" "From: the account's address, display name kept"
is "$(header Reply-To)" "Reply-To: Other <other@example.net>" "the original From is in Reply-To"

# --- allow_from_override off is msmtp's spelling of force_from envelope
std_server
std_config "$CONF" "domain client.example" "allow_from_override off"
run_envoi -C "$CONF" -f other@example.net bob@example.net
wait_server
is_status 0 "allow_from_override off: exit 0"
is "$(mail_from)" "sender@example.org" "allow_from_override off: MAIL FROM forced"

# --- force_from with a wildcard from: a configuration error
std_config "$CONF" "domain client.example" "from *@example.org" "force_from envelope"
run_envoi -C "$CONF" bob@example.net
is_status 78 "force_from with a pattern from: EX_CONFIG"
like "$STDERR" "force_from needs a .from. address" "... saying why"

# --- set_sender_header on: Sender when the envelope sender differs
std_server
std_config "$CONF" "domain client.example" "set_sender_header on"
printf '%s\n' "From: alice@example.org" "Sender: stale@example.org" "To: bob@example.net" \
    "Subject: s" "" "b" >"$INPUT"
run_envoi -C "$CONF" -f bounces@example.org bob@example.net
wait_server
is_status 0 "set_sender_header on: exit 0"
is "$(header Sender)" "Sender: bounces@example.org" "Sender: the envelope sender, the old one replaced"
is "$(grep -ci '^Sender:' "$MAILDIR/msg-1.eml")" 1 "exactly one Sender field"

std_server
std_config "$CONF" "domain client.example" "set_sender_header on"
run_envoi -C "$CONF" -f alice@example.org bob@example.net
wait_server
is "$(header Sender)" "" "set_sender_header on: no Sender when it equals From"

std_server
std_config "$CONF" "domain client.example" "set_sender_header off"
run_envoi -C "$CONF" -f bounces@example.org bob@example.net
wait_server
is_status 0 "set_sender_header off: exit 0"
is "$(header Sender)" "" "set_sender_header off: Sender removed"

std_server
std_config "$CONF" "domain client.example"
run_envoi -C "$CONF" -f bounces@example.org bob@example.net
wait_server
is "$(header Sender)" "Sender: stale@example.org" "set_sender_header auto: Sender left alone"

# --- newaliases / -bi: check the file, count the entries
std_config "$CONF" "domain client.example" "aliases $ALIASES"
run_envoi -C "$CONF" -bi
is_status 0 "-bi: exit 0"
is "$STDOUT" "$ALIASES: 4 aliases" "-bi: the file and its number of aliases"
mkdir -p "$TESTDIR/bin"
ln -sf "$ENVOI" "$TESTDIR/bin/newaliases"
ENVOI="$TESTDIR/bin/newaliases" run_envoi -C "$CONF"
is_status 0 "newaliases (argv[0]): exit 0"
is "$STDOUT" "$ALIASES: 4 aliases" "newaliases: the same line"
std_config "$CONF" "domain client.example" "aliases $TESTDIR/bad"
run_envoi -C "$CONF" -bi
is_status 78 "-bi with a bad file: EX_CONFIG"
like "$STDERR" "$TESTDIR/bad:2: expected \"name: address, \.\.\.\"" "-bi names file:line"
std_config "$CONF" "domain client.example"
run_envoi -C "$CONF" -bi
is_status 0 "-bi without an aliases file: exit 0"
is "$STDOUT" "no aliases file configured" "-bi says there is none"

done_testing
