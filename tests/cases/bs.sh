#!/bin/bash
# bs.sh - `sendmail -bs`: SMTP on stdin/stdout for local programs (alpine,
# Symfony Mailer). Two messages and RSET in one pipelined session, the
# body un-stuffed byte for byte, 250 only once the entry is committed, a
# smarthost's 5xx as the reply to the end of data, server down -> 250
# queued, -odb delivering after QUIT, protocol errors.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

CONF=$TESTDIR/conf
INPUT=$TESTDIR/session
QUEUE=$TESTDIR/queue
ENVOI_QUEUE_ON=1

server() {  # server [extra script lines...]; then the config points at it
	std_server -n "${CONNS:-1}" "$@"
	std_config "$CONF" "domain client.example"
}
# The reply lines envoi wrote, without CR.
replies_of() { tr -d '\r' <<<"$STDOUT"; }
code_list() { replies_of | sed -n 's/^\([0-9][0-9][0-9]\) .*/\1/p' | tr '\n' ' ' | sed 's/ $//'; }

# A session as one write (every command pipelined, as a file is read).
{
	printf '%s\r\n' "EHLO app.example" \
	    "MAIL FROM:<first@example.org>" "RCPT TO:<nobody@example.org>" "RSET" \
	    "MAIL FROM:<app@example.org> BODY=8BITMIME" "RCPT TO:<bob@example.org>" \
	    "RCPT TO:<carol@example.org>" "DATA" \
	    "From: app@example.org" "To: bob@example.org" "Subject: one" \
	    "Message-ID: <bs-one@example.org>" "Date: Mon, 1 Jan 2024 00:00:00 +0000" "" \
	    "..leading dot" "..." "QUIT" "last line" "." \
	    "MAIL FROM:<app@example.org>" "RCPT TO:<dave@example.org>" "DATA" \
	    "Subject: two" "" "second" "." "QUIT"
} >"$INPUT"

# --- two messages in one session, delivered at once (-odi)
CONNS=2 server
run_envoi -C "$CONF" -bs
wait_server
is_status 0 "-bs session: exit 0"
is "$(code_list)" "220 250 250 250 250 250 250 250 354 250 250 250 354 250 221" \
    "replies in order: greeting, EHLO, MAIL, RCPT, RSET, MAIL, RCPT x2, DATA, end, ..., QUIT"
like "$(replies_of | sed -n 1p)" '^220 client\.example ESMTP' "greeting names the account's domain"
like "$(replies_of)" $'250-PIPELINING\n' "EHLO offers PIPELINING"
n=$(replies_of | grep -c '^250 2\.0\.0 Ok: delivered as [0-9a-f]\{22\}$')
is "$n" 2 "both messages: 250 delivered as ID"
is "$(ls "$MAILDIR"/msg-*.eml 2>/dev/null | wc -l)" 2 "the smarthost received two messages"
is "$(sed -n '2,$p' "$MAILDIR/env-1.txt")" "RCPT TO:<bob@example.org>
RCPT TO:<carol@example.org>" "first message: both recipients, the RSET one forgotten"
like "$(sed -n 1p "$MAILDIR/env-1.txt")" '^MAIL FROM:<app@example.org>' "first message: its sender"
printf '%s\r\n' "From: app@example.org" "To: bob@example.org" "Subject: one" \
    "Message-ID: <bs-one@example.org>" "Date: Mon, 1 Jan 2024 00:00:00 +0000" "" \
    ".leading dot" ".." "QUIT" "last line" | file_is "$MAILDIR/msg-1.eml" \
    "first body byte for byte: un-stuffed here, re-stuffed on the wire, a QUIT line is text"
like "$(cat "$MAILDIR/msg-2.eml")" 'Message-ID: <' "second message got a Message-ID (header completion)"
like "$(cat "$MAILDIR/msg-2.eml")" 'From: app@example.org' "... and a From from MAIL FROM"
is "$(entries)" 0 "nothing left in the queue"

# --- replies come one at a time to a client that waits for each: the
# 250 to the end of data arrives only once the entry is committed.
server
coproc BS { exec $ENVOI_WRAP "$ENVOI" -C "$CONF" -bs -odq 2>"$TESTDIR/coproc.err"; }
bs_pid=$BS_PID
read_reply() {  # the last line of the next reply, CR removed
	local line
	while IFS= read -r -t 20 line <&"${BS[0]}"; do
		line=${line%$'\r'}
		case $line in [0-9][0-9][0-9]-*) continue ;; esac
		REPLY_LINE=$line
		return 0
	done
	REPLY_LINE="(no reply)"
	return 1
}
send() { printf '%s\r\n' "$@" >&"${BS[1]}"; }
read_reply; like "$REPLY_LINE" '^220 ' "interactive: greeting first"
send "EHLO app.example"; read_reply; is "$REPLY_LINE" "250 DSN" "interactive: EHLO"
send "MAIL FROM:<app@example.org>" "RCPT TO:<bob@example.org>" "DATA"
read_reply; is "$REPLY_LINE" "250 2.1.0 Ok" "interactive: pipelined MAIL"
read_reply; is "$REPLY_LINE" "250 2.1.5 Ok" "... RCPT"
read_reply; like "$REPLY_LINE" '^354 ' "... DATA (flushed before envoi waits for the body)"
is "$(entries)" 0 "nothing queued before the end of data"
send "Subject: interactive" "" "hello" "."
read_reply
like "$REPLY_LINE" '^250 2\.0\.0 Ok: queued as [0-9a-f]{22}$' "-odq: 250 queued as ID"
id=${REPLY_LINE##* }
ok "the entry is committed when the 250 arrives" test -f "$QUEUE/$id.env"
send "QUIT"; read_reply; like "$REPLY_LINE" '^221 ' "QUIT: 221"
wait "$bs_pid"
is "$?" 0 "interactive session: exit 0"
stop_server
is "$(grep -c '^C: ' "$TRANSCRIPT" 2>/dev/null)" 0 "-odq: the smarthost was not contacted"
rm -f "$QUEUE"/*.env "$QUEUE"/*.msg "$QUEUE"/*.st

# --- a permanent refusal by the smarthost is the reply to the end of data
server "on DOT reply 554 5.7.1 Message looks like spam"
printf '%s\r\n' "EHLO app.example" "MAIL FROM:<app@example.org>" "RCPT TO:<bob@example.org>" \
    "DATA" "Subject: spam" "" "buy" "." "QUIT" >"$INPUT"
run_envoi -C "$CONF" -bs
wait_server
is_status 0 "refused message: the session itself still exits 0"
like "$(replies_of | sed -n '/^354/{n;p}')" '^554 5\.7\.1 Message looks like spam' \
    "end of data: the smarthost's 554 5.7.1 and its text"
is "$(entries)" 0 "refused: no entry kept (the client has the refusal)"

# --- server down: 250 queued, with the reason
server
stop_server
printf '%s\r\n' "EHLO app.example" "MAIL FROM:<app@example.org>" "RCPT TO:<bob@example.org>" \
    "DATA" "Subject: later" "" "later" "." "QUIT" >"$INPUT"
run_envoi -C "$CONF" -bs
is_status 0 "server down: exit 0"
like "$(replies_of | sed -n '/^354/{n;p}')" \
    '^250 2\.0\.0 Ok: queued as [0-9a-f]{22} \(will retry: cannot connect' \
    "server down: 250 queued as ID (will retry: why)"
is "$(entries)" 1 "... and the entry is in the queue"
rm -f "$QUEUE"/*.env "$QUEUE"/*.msg "$QUEUE"/*.st

# --- alpine's way: -bs -odb -oem; the child delivers after QUIT
server
run_envoi -C "$CONF" -bs -odb -oem
is_status 0 "-bs -odb -oem: exit 0"
like "$(replies_of | sed -n '/^354/{n;p}')" '^250 2\.0\.0 Ok: queued as [0-9a-f]{22}$' \
    "-odb: 250 queued as ID at once"
for _ in $(seq 1 100); do
	[ "$(entries)" = 0 ] && break
	sleep 0.1
done
wait_server
is "$(ls "$MAILDIR"/msg-*.eml 2>/dev/null | wc -l)" 1 "-odb: delivered by the detached child after QUIT"
is "$(entries)" 0 "-odb: queue empty afterwards"

# --- protocol errors, sequence errors, limits on the client side
printf '%s\r\n' "HELO app.example" "RCPT TO:<bob@example.org>" "DATA" \
    "MAIL FROM:<not an address>" "MAIL FROM:<app@example.org> AUTH=<>" \
    "MAIL FROM:<app@example.org>" "RCPT TO:<bob@@example.org>" "DATA" "XYZZY" \
    "VRFY root" "NOOP" "QUIT" >"$INPUT"
run_envoi -C "$CONF" -bs
is_status 0 "errors: exit 0"
is "$(code_list)" "220 250 503 503 553 555 250 501 554 502 252 250 221" \
    "RCPT/DATA before MAIL 503, bad sender 553, unknown parameter 555, bad recipient 501, DATA without recipients 554, unknown 502, VRFY 252"

# --- end of input without QUIT, mid-message: nothing queued, exit 0
printf '%s\r\n' "EHLO app.example" "MAIL FROM:<app@example.org>" "RCPT TO:<bob@example.org>" \
    "DATA" "Subject: cut" "" "half" >"$INPUT"
run_envoi -C "$CONF" -bs
is_status 0 "end of input mid-message: exit 0"
is "$(entries)" 0 "... nothing queued"
ls "$QUEUE/tmp" >"$TESTDIR/tmpfiles" 2>/dev/null
is "$(wc -l <"$TESTDIR/tmpfiles")" 0 "... and no scratch file left in tmp/"

done_testing
