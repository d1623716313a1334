#!/bin/bash
# options.sh - -B 7BIT|8BITMIME and -O SMTPUTF8=yes|no, -O REQUIRETLS=yes
# end to end: the MAIL parameters sent, the refusals (a non-ASCII local
# part under SMTPUTF8=no is EX_DATAERR; REQUIRETLS without a verified TLS
# peer or without the server's REQUIRETLS is a permanent failure naming
# 5.7.30), unknown values accepted, and the queue envelope keeping them so
# a retry sends the same parameters.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

CONF=$TESTDIR/conf
INPUT=$TESTDIR/message
QUEUE=$TESTDIR/queue

server() {  # server [extra script lines...]; then the config points at it
	std_server "$@"
	std_config "$CONF"
}
mail_line() { commands | grep '^MAIL FROM:'; }
rcpt_lines() { commands | grep '^RCPT TO:'; }
eight_bit() {
	printf 'From: sender@example.org\nSubject: 8bit\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGr\303\274\303\237e\n'
}

# --- -B
std_message seven >"$INPUT"
server
run_envoi -C "$CONF" -B8BITMIME bob@example.org
wait_server
is_status 0 "-B8BITMIME (Debian cron's spelling): exit 0"
like "$(mail_line)" ' BODY=8BITMIME( |$)' "-B 8BITMIME: BODY=8BITMIME even for a 7-bit body"

server
run_envoi -C "$CONF" -B 7BIT bob@example.org
wait_server
is_status 0 "-B 7BIT: exit 0"
like "$(mail_line)" ' BODY=7BIT( |$)' "-B 7BIT: BODY=7BIT"

eight_bit >"$INPUT"
server
run_envoi -C "$CONF" -B 7BIT bob@example.org
wait_server
is_status 0 "-B 7BIT with an 8-bit body: exit 0"
like "$(mail_line)" ' BODY=8BITMIME( |$)' "-B 7BIT with an 8-bit body: the content wins (BODY=8BITMIME)"
if grep -q '^ERR:' "$TRANSCRIPT"; then
	fail "... no protocol error at the server"
	diag "$(grep '^ERR:' "$TRANSCRIPT")"
else
	pass "... no protocol error at the server"
fi

std_message seven >"$INPUT"
server
run_envoi -C "$CONF" -B BINARYMIME -O DeliveryMode=b -O Timeout.queuereturn=5d bob@example.org
wait_server
is_status 0 "-B with an unknown value and other -O options: accepted, exit 0"
unlike "$(mail_line)" 'BODY=' "... no BODY parameter from an unknown -B"

server "nocap 8BITMIME"
run_envoi -C "$CONF" -B 8BITMIME bob@example.org
wait_server
is_status 0 "-B 8BITMIME, server without 8BITMIME: exit 0"
unlike "$(mail_line)" 'BODY=' "... no BODY parameter (RFC 6152: only when offered)"

# --- -O SMTPUTF8=
server "cap SMTPUTF8"
run_envoi -C "$CONF" -O SMTPUTF8=yes bob@example.org
wait_server
is_status 0 "-O SMTPUTF8=yes: exit 0"
like "$(mail_line)" ' SMTPUTF8( |$)' "-O SMTPUTF8=yes: requested for an ASCII envelope too"

server "cap SMTPUTF8"
run_envoi -C "$CONF" -O SMTPUTF8=no "bob@bücher.example"
wait_server
is_status 0 "-O SMTPUTF8=no, UTF-8 domain: exit 0"
unlike "$(mail_line)" 'SMTPUTF8' "-O SMTPUTF8=no: never requested, though offered"
is "$(rcpt_lines)" "RCPT TO:<bob@xn--bcher-kva.example>" "-O SMTPUTF8=no: the A-label"

server "cap SMTPUTF8"
run_envoi -C "$CONF" -O SMTPUTF8=no "jürgen@example.org"
wait_server
is_status 65 "-O SMTPUTF8=no, non-ASCII local part: EX_DATAERR"
like "$STDERR" 'SMTPUTF8=no' "... saying why"
is "$(mail_line)" "" "... and no MAIL was sent"

# --- -O REQUIRETLS=yes
server
run_envoi -C "$CONF" -O REQUIRETLS=yes bob@example.org
wait_server
is_status 69 "REQUIRETLS, server without it: permanent failure (EX_UNAVAILABLE)"
like "$STDERR" 'REQUIRETLS.*does not offer REQUIRETLS.*5\.7\.30' "... naming REQUIRETLS and 5.7.30"
is "$(mail_line)" "" "... and nothing was sent"

server "cap REQUIRETLS"
run_envoi -C "$CONF" -O REQUIRETLS=yes bob@example.org
wait_server
is_status 0 "REQUIRETLS over verified STARTTLS to a REQUIRETLS server: exit 0"
like "$(mail_line)" ' REQUIRETLS( |$)' "... MAIL FROM carries REQUIRETLS"
is "$(ls "$MAILDIR"/msg-*.eml 2>/dev/null | wc -l)" 1 "... delivered"

server "cap REQUIRETLS"
std_config "$CONF" "tls_certcheck off"
run_envoi -C "$CONF" -O REQUIRETLS=yes bob@example.org
wait_server
is_status 69 "REQUIRETLS with tls_certcheck off: refused"
like "$STDERR" 'not verified' "... because the peer is not authenticated"

server "cap REQUIRETLS"
run_envoi -C "$CONF" -O REQUIRETLS=no bob@example.org
wait_server
is_status 0 "-O REQUIRETLS=no: exit 0"
unlike "$(mail_line)" 'REQUIRETLS' "... no REQUIRETLS parameter"

# --- the queue keeps them for the retry
ENVOI_QUEUE_ON=1
server "cap REQUIRETLS" "cap SMTPUTF8"
stop_server
std_config "$CONF"
run_envoi -C "$CONF" -O REQUIRETLS=yes -O SMTPUTF8=yes -B 8BITMIME bob@example.org
is_status 0 "server down: queued, exit 0"
env=$(cat "$QUEUE"/*.env 2>/dev/null)
like "$env" $'\nrequiretls yes\n' "ID.env: requiretls yes"
like "$env" $'\nsmtputf8 yes\n' "ID.env: smtputf8 yes"
like "$env" $'\nbody 8BITMIME\n' "ID.env: body 8BITMIME"
start_server - < <(printf '%s\n' "tls starttls" "auth PLAIN" "user alice secret" \
    "cap REQUIRETLS" "cap SMTPUTF8")
std_config "$CONF"
INPUT=/dev/null
run_envoi -C "$CONF" -qf
wait_server
is_status 0 "-qf: exit 0"
like "$(mail_line)" ' BODY=8BITMIME' "retry: BODY=8BITMIME"
like "$(mail_line)" ' SMTPUTF8' "retry: SMTPUTF8"
like "$(mail_line)" ' REQUIRETLS' "retry: REQUIRETLS"
is "$(find "$QUEUE" -maxdepth 1 -name '*.env' | wc -l)" 0 "retry: delivered, queue empty"

# --- -bs: the client's BODY= reaches the smarthost
server
printf '%s\r\n' "EHLO app" "MAIL FROM:<sender@example.org> BODY=8BITMIME" \
    "RCPT TO:<bob@example.org>" "DATA" "Subject: x" "" "x" "." "QUIT" >"$TESTDIR/session"
INPUT=$TESTDIR/session
run_envoi -C "$CONF" -bs
wait_server
is_status 0 "-bs with BODY=8BITMIME: exit 0"
like "$(mail_line)" ' BODY=8BITMIME( |$)' "-bs: the client's BODY=8BITMIME passed on"

done_testing
