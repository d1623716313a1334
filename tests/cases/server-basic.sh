#!/bin/bash
# server-basic.sh - one message over STARTTLS + AUTH PLAIN with PIPELINING,
# against tests/smtpd-script: the exact command sequence, the body received
# byte for byte (LF -> CRLF, dot-stuffing undone), the envelope, exit 0,
# and the round trips (the protocol minimum is 9; see smtpd-script.c).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

CONF=$TESTDIR/conf
INPUT=$TESTDIR/message


# --- the standard case
std_server
std_config "$CONF" "domain client.example"
std_message basic >"$INPUT"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 0 "STARTTLS + AUTH PLAIN: exit 0"
is "$STDOUT" "" "nothing on stdout"
is "$SRVSTATUS" 0 "server saw one complete connection"

cmds=$(commands)
first=$(printf '%s\n' "$cmds" | sed -n '1,3p')
is "$first" "EHLO client.example
STARTTLS
EHLO client.example" "EHLO, STARTTLS, EHLO again (domain from the config)"
like "$(printf '%s\n' "$cmds" | sed -n 4p)" \
    '^AUTH PLAIN (AGFsaWNlAHNlY3JldA==|YWxpY2UAYWxpY2UAc2VjcmV0)$' \
    "AUTH PLAIN with the initial response on the command line"
like "$(printf '%s\n' "$cmds" | sed -n 5p)" \
    '^MAIL FROM:<sender@example.org> SIZE=[0-9]+$' \
    "MAIL FROM with SIZE (the server offers SIZE)"
rest=$(printf '%s\n' "$cmds" | sed -n '6,$p')
is "$rest" "RCPT TO:<bob@example.org>
DATA
.
QUIT" "RCPT, DATA, end of data, QUIT, nothing else"
if grep -q '^ERR:' "$TRANSCRIPT"; then
	fail "no protocol errors seen by the server"
	diag "$(grep '^ERR:' "$TRANSCRIPT")"
else
	pass "no protocol errors seen by the server"
fi
like "$(grep '^I: TLS established' "$TRANSCRIPT")" 'TLS1\.3' "TLS 1.3 negotiated"

crlf <"$INPUT" | file_is "$MAILDIR/msg-1.eml" \
    "body received byte-identical (CRLF, dots un-stuffed)"
like "$(sed -n 1p "$MAILDIR/env-1.txt" 2>/dev/null)" \
    '^MAIL FROM:<sender@example.org>' "envelope sender"
is "$(sed -n '2,$p' "$MAILDIR/env-1.txt" 2>/dev/null)" \
    "RCPT TO:<bob@example.org>" "envelope recipient"
size=$(sed -n 's/.* SIZE=\([0-9]*\).*/\1/p' "$MAILDIR/env-1.txt" 2>/dev/null)
got=$(wc -c <"$MAILDIR/msg-1.eml" 2>/dev/null || echo 0)
ok "SIZE=${size:-none} is at least the $got octets sent" \
    test "${size:-0}" -ge "$got"

rt=$(round_trips)
diag "round trips, STARTTLS + AUTH PLAIN, one message: $rt"
ok "round trips at the protocol minimum (9), got $rt" test "${rt:-99}" -le 9

# --- the same without PIPELINING: still delivered, same commands
start_server - <<'EOF'
tls starttls
auth PLAIN
user alice secret
nocap PIPELINING
EOF
std_config "$CONF" "domain client.example"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 0 "without PIPELINING: exit 0"
is "$(commands | sed -n '5,$p' | sed 's/ SIZE=[0-9]*//')" \
    "MAIL FROM:<sender@example.org>
RCPT TO:<bob@example.org>
DATA
.
QUIT" "without PIPELINING: MAIL, RCPT, DATA, end of data, QUIT"
crlf <"$INPUT" | file_is "$MAILDIR/msg-1.eml" \
    "without PIPELINING: body byte-identical"
diag "round trips without PIPELINING: $(round_trips)"

# --- several recipients, -f, mixed line ends, no final newline
std_server
std_config "$CONF"
printf 'From: sender@example.org\r\nSubject: mixed\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <mixed@example.org>\r\n\r\nCRLF line\r\nLF line\n.\n..\nno newline at the end' >"$INPUT"
run_envoi -C "$CONF" -i -f other@example.org bob@example.org carol@example.org
wait_server
is_status 0 "-f, two recipients, -i: exit 0"
is "$(cat "$MAILDIR/env-1.txt" 2>/dev/null | sed 's/ SIZE=[0-9]*//;s/ BODY=[A-Z0-9]*//')" \
    "MAIL FROM:<other@example.org>
RCPT TO:<bob@example.org>
RCPT TO:<carol@example.org>" "envelope: -f sender and both recipients in order"
printf 'From: sender@example.org\r\nSubject: mixed\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <mixed@example.org>\r\n\r\nCRLF line\r\nLF line\r\n.\r\n..\r\nno newline at the end\r\n' |
    file_is "$MAILDIR/msg-1.eml" "mixed CRLF/LF normalised, lone dot kept with -i, final CRLF supplied"

# --- without -i a lone dot ends the input (sendmail)
std_server
std_config "$CONF"
printf 'Subject: dot\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <dot@example.org>\nFrom: sender@example.org\n\nbefore\n.\nafter\n' >"$INPUT"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 0 "lone dot without -i: exit 0"
printf 'Subject: dot\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <dot@example.org>\r\nFrom: sender@example.org\r\n\r\nbefore\r\n' |
    file_is "$MAILDIR/msg-1.eml" "lone dot without -i: the message ends there"

# --- missing headers are added: From, Date, Message-ID
std_server
std_config "$CONF" "domain client.example"
printf 'Subject: bare\n\nbody\n' >"$INPUT"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 0 "message without From/Date/Message-ID: exit 0"
hdrs=$(sed '/^\r$/q' "$MAILDIR/msg-1.eml" 2>/dev/null)
like "$hdrs" '^From: .*sender@example\.org' "From added from the config"
like "$hdrs" '^Date: ' "Date added"
like "$hdrs" '^Message-ID: <[^>]+@[^>]+>' "Message-ID added"
like "$hdrs" '^Subject: bare' "Subject kept"

done_testing
