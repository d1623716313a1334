#!/bin/bash
# server-ext.sh - SMTP extensions as envoi uses them, against
# tests/smtpd-script: SIZE (declared, at least the real size; a message
# over the server's limit is refused with 69 before MAIL), 8BITMIME
# (BODY=8BITMIME only for an 8-bit body, body kept byte for byte),
# SMTPUTF8 (a UTF-8 domain goes as UTF-8 when offered, as its A-label when
# not; a non-ASCII local part without SMTPUTF8 is a permanent error), DSN
# (NOTIFY/RET only when the server offers DSN).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

CONF=$TESTDIR/conf
INPUT=$TESTDIR/message

BASE='tls starttls
auth PLAIN
user alice secret'

mail_line() { commands | grep '^MAIL FROM:'; }
rcpt_lines() { commands | grep '^RCPT TO:'; }

# --- SIZE over the server's limit: refused before MAIL
start_server - <<<"$BASE
cap SIZE 200"
std_config "$CONF"
{ std_message size; for i in $(seq 1 20); do echo "line $i of padding"; done; } >"$INPUT"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 69 "message over the server's SIZE: exit 69"
like "$STDERR" '[Ss]ize|SIZE|too (big|large)' "SIZE: stderr says the message is too big"
unlike "$(commands)" '^MAIL' "SIZE: refused before MAIL"

# --- SIZE within the limit, declared honestly
start_server - <<<"$BASE
cap SIZE 100000"
std_message size >"$INPUT"
std_config "$CONF"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 0 "message within SIZE: exit 0"
declared=$(mail_line | sed -n 's/.* SIZE=\([0-9]*\).*/\1/p')
real=$(wc -c <"$MAILDIR/msg-1.eml" 2>/dev/null || echo 0)
ok "SIZE=${declared:-none} declared, at least the $real octets sent" \
    test "${declared:-0}" -ge "$real"

# --- no SIZE offered: no SIZE parameter
start_server - <<<"$BASE
nocap SIZE"
std_config "$CONF"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 0 "no SIZE offered: exit 0"
unlike "$(mail_line)" 'SIZE=' "no SIZE offered: no SIZE parameter"

# --- 8-bit body
printf 'From: sender@example.org\nSubject: 8bit\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <8bit@example.org>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGr\303\274\303\237e aus K\303\266ln\n' >"$INPUT"
start_server - <<<"$BASE"
std_config "$CONF"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 0 "8-bit body: exit 0"
like "$(mail_line)" ' BODY=8BITMIME( |$)' "8-bit body: BODY=8BITMIME"
crlf <"$INPUT" | file_is "$MAILDIR/msg-1.eml" "8-bit body: received byte for byte"

std_message seven >"$INPUT"
start_server - <<<"$BASE"
std_config "$CONF"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 0 "7-bit body: exit 0"
unlike "$(mail_line)" 'BODY=8BITMIME' "7-bit body: no BODY=8BITMIME"

# --- IDN domain: UTF-8 with SMTPUTF8 when offered
std_message idn >"$INPUT"
start_server - <<<"$BASE
cap SMTPUTF8"
std_config "$CONF"
run_envoi -C "$CONF" "bob@bücher.example"
wait_server
is_status 0 "UTF-8 domain, SMTPUTF8 offered: exit 0"
like "$(mail_line)" ' SMTPUTF8( |$)' "UTF-8 domain, SMTPUTF8 offered: MAIL has SMTPUTF8"
is "$(rcpt_lines)" "RCPT TO:<bob@bücher.example>" \
    "UTF-8 domain, SMTPUTF8 offered: RCPT in UTF-8"

# ... and as its A-label when not
start_server - <<<"$BASE"
std_config "$CONF"
run_envoi -C "$CONF" "bob@bücher.example"
wait_server
is_status 0 "UTF-8 domain, no SMTPUTF8: exit 0"
unlike "$(mail_line)" 'SMTPUTF8' "UTF-8 domain, no SMTPUTF8: no SMTPUTF8 parameter"
is "$(rcpt_lines)" "RCPT TO:<bob@xn--bcher-kva.example>" \
    "UTF-8 domain, no SMTPUTF8: RCPT with the A-label"

# ... an ASCII message to an ASCII address never uses SMTPUTF8
start_server - <<<"$BASE
cap SMTPUTF8"
std_config "$CONF"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 0 "ASCII address, SMTPUTF8 offered: exit 0"
unlike "$(mail_line)" 'SMTPUTF8' "ASCII address: no SMTPUTF8 parameter"

# --- non-ASCII local part without SMTPUTF8: permanent, clear, not sent
start_server - <<<"$BASE"
std_config "$CONF"
run_envoi -C "$CONF" "jürgen@example.org"
wait_server
case $STATUS in
65|67|69) pass "non-ASCII local part, no SMTPUTF8: permanent failure ($STATUS)" ;;
*) fail "non-ASCII local part, no SMTPUTF8: permanent failure (got $STATUS)"
   diag "$STDERR" ;;
esac
like "$STDERR" 'j.*rgen@example\.org' "non-ASCII local part: stderr names the address"
like "$STDERR" 'SMTPUTF8|UTF-8|non-ASCII' "non-ASCII local part: stderr says why"
unlike "$(rcpt_lines)" 'rgen' "non-ASCII local part: never sent in a RCPT"
ok "non-ASCII local part: nothing delivered" test ! -e "$MAILDIR/msg-1.eml"

# ... but it works with SMTPUTF8
start_server - <<<"$BASE
cap SMTPUTF8"
std_config "$CONF"
run_envoi -C "$CONF" "jürgen@example.org"
wait_server
is_status 0 "non-ASCII local part with SMTPUTF8: exit 0"
is "$(rcpt_lines)" "RCPT TO:<jürgen@example.org>" \
    "non-ASCII local part with SMTPUTF8: RCPT in UTF-8"

# --- DSN parameters only when offered
start_server - <<<"$BASE
cap DSN"
std_config "$CONF" "dsn_notify failure,delay" "dsn_return hdrs"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 0 "DSN offered: exit 0"
like "$(mail_line)" ' RET=HDRS( |$)' "DSN offered: MAIL has RET=HDRS"
like "$(rcpt_lines)" ' NOTIFY=(FAILURE,DELAY|DELAY,FAILURE)( |$)' \
    "DSN offered: RCPT has NOTIFY"

start_server - <<<"$BASE"
std_config "$CONF" "dsn_notify failure,delay" "dsn_return hdrs"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 0 "DSN configured, not offered: exit 0"
unlike "$(commands)" 'RET=|NOTIFY=' "DSN not offered: no DSN parameters"

done_testing
