#!/bin/bash
# cli.sh - the sendmail command line and message intake, end to end with
# the real binary: real callers' argv (Debian cron, PHP, mutt, -t with Bcc),
# injection through arguments, -X never honoured, bad input refused with
# EX_DATAERR and nothing left in the spool, config errors, unknown options
# warned about, -oem/-oee/-oeq error modes, -C ownership, server down.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

CONF=$TESTDIR/conf
INPUT=$TESTDIR/message
QUEUE=$TESTDIR/queue

# A fresh scripted server (new port) and the standard config pointing at it.
server() {
	start_server - <<'EOF'
tls starttls
auth PLAIN SCRAM-SHA-256
user alice secret
EOF
	std_config "$CONF" "domain cron.example"
}
queue_entries() { find "$QUEUE" -maxdepth 1 -name '*.env' 2>/dev/null | wc -l; }
queue_files() { find "$QUEUE" -type f 2>/dev/null | wc -l; }

# --- informational modes
INPUT=/dev/null
run_envoi --version
is_status 0 "--version exits 0"
like "$STDOUT" '^envoi [0-9]' "--version names envoi"
like "$STDOUT" 'GnuTLS' "--version names the TLS library"
run_envoi --help
is_status 0 "--help exits 0"
like "$STDOUT" '-t' "--help lists options"

# --- Debian cron: sendmail -FCronDaemon -i -B8BITMIME -oem user
INPUT=$TESTDIR/message
server
printf '%s\n' "From: root (Cron Daemon)" "To: bob" "Subject: Cron <root@host> ls" \
    "MIME-Version: 1.0" "Content-Type: text/plain; charset=UTF-8" "" \
    "total 0" "." "after the dot" >"$INPUT"
run_envoi -C "$CONF" -FCronDaemon -i -B8BITMIME -oem bob@example.org
wait_server
is_status 0 "Debian cron's argv delivers"
msg=$(cat "$MAILDIR/msg-1.eml" 2>/dev/null | tr -d '\r')
like "$msg" $'\nFrom: root@cron.example \\(Cron Daemon\\)\n' "cron's domainless From is qualified, comment kept"
like "$msg" $'\nDate: [A-Z][a-z]{2}, ' "a Date header was added"
like "$msg" $'\nMessage-ID: <[^>]+@cron.example>' "a Message-ID was added with the account's domain"
like "$msg" $'\n\\.\nafter the dot' "with -i a lone dot line is data"
is "$(queue_entries)" 0 "delivered message left the spool"

# --- without -i, a lone dot ends the message (sendmail semantics)
server
printf '%s\n' "Subject: dot" "" "before" "." "after" >"$INPUT"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 0 "without -i: delivered"
msg=$(tr -d '\r' <"$MAILDIR/msg-1.eml" 2>/dev/null)
like "$msg" 'before' "text before the dot line arrives"
unlike "$msg" 'after' "text after the dot line does not (input ended there)"

# --- PHP mail(): sendmail -t -i -fbounce@x, CRLF headers with an LF body
server
printf 'To: bob@example.org\r\nSubject: php\r\nBcc: carol@example.org\r\n\r\nline one\nline two\n' >"$INPUT"
run_envoi -C "$CONF" -t -i -fbounce@example.org
wait_server
is_status 0 "PHP's argv with mixed line endings delivers"
is "$(sed -n 1p "$MAILDIR/env-1.txt" | sed 's/ SIZE=.*//')" "MAIL FROM:<bounce@example.org>" "glued -f sets the envelope sender"
is "$(sed -n '2,$p' "$MAILDIR/env-1.txt")" "RCPT TO:<bob@example.org>
RCPT TO:<carol@example.org>" "-t takes To and Bcc recipients"
unlike "$(cat "$MAILDIR/msg-1.eml")" 'Bcc:' "the Bcc header is removed"
is "$(grep -c $'^line [a-z]*\r$' "$MAILDIR/msg-1.eml")" 2 "the LF body lines go out as CRLF"

# --- mutt: -oem -oi -f from -- rcpts, argv recipients with display names
server
std_message mutt >"$INPUT"
run_envoi -C "$CONF" -oem -oi -f sender@example.org -- "Bob <bob@example.org>" carol@example.org
wait_server
is_status 0 "mutt's argv with -- and a display-name recipient delivers"
is "$(sed -n '2,$p' "$MAILDIR/env-1.txt")" "RCPT TO:<bob@example.org>
RCPT TO:<carol@example.org>" "recipients parsed from argv"

# --- null sender and the -X trap
server
std_message null >"$INPUT"
run_envoi -C "$CONF" -f '<>' -X "$TESTDIR/xlog" bob@example.org
wait_server
is_status 0 "-f '<>' with -X delivers"
like "$(sed -n 1p "$MAILDIR/env-1.txt")" '^MAIL FROM:<>' "null envelope sender"
ok "-X FILE is never honoured (no file written)" test ! -e "$TESTDIR/xlog"

# --- -v: transcript on stderr, credentials redacted
server
std_message verbose >"$INPUT"
run_envoi -C "$CONF" -v bob@example.org
wait_server
is_status 0 "-v delivers"
like "$STDERR" '--> MAIL FROM:<sender@example.org>' "-v shows the commands"
like "$STDERR" 'AUTH [A-Z0-9-]+ \[redacted\]' "-v shows AUTH with its payload redacted"
unlike "$STDERR" 'secret|AGFsaWNlAHNlY3JldA|YWxpY2UAc2VjcmV0' "the password never appears, not even base64"

# --- logfile: one line per message with queue id, Message-ID, size, reply
server
std_config "$CONF" "logfile $TESTDIR/envoi.log"
std_message logged >"$INPUT"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 0 "delivered with a logfile"
logline=$(cat "$TESTDIR/envoi.log" 2>/dev/null)
like "$logline" 'id=[0-9]{14}[0-9a-f]{8} ' "the log line names the queue id"
like "$logline" 'message-id=<test-logged@example.org>' "... the Message-ID"
like "$logline" 'recipients=bob@example.org ' "... the recipients"
like "$logline" 'size=[0-9]+ ' "... the size"
like "$logline" "reply='250 " "... and the server's reply"
unlike "$logline" 'secret' "... and never the password"

# --- injection through arguments: refused before anything is read or sent
std_message inject >"$INPUT"
run_envoi -C "$CONF" -f $'evil@example.org\r\nRCPT TO:<x@y>' bob@example.org
is_status 64 "CR/LF in -f is EX_USAGE"
run_envoi -C "$CONF" -F $'Name\nBcc: victim@example.org' bob@example.org
is_status 64 "LF in -F is EX_USAGE"
run_envoi -C "$CONF" $'bob@example.org\r\nDATA'
is_status 64 "CR/LF in a recipient is EX_USAGE"
is "$(queue_files)" 0 "nothing spooled for refused arguments"

# --- bad input: EX_DATAERR, a clear line, nothing left in the spool
: >"$INPUT"
run_envoi -C "$CONF" bob@example.org
is_status 65 "empty input is EX_DATAERR"
like "$STDERR" '^envoi: .*empty' "... and says the message is empty"
printf 'Subject: x\n\nnul\0byte\n' >"$INPUT"
run_envoi -C "$CONF" bob@example.org
is_status 65 "a NUL byte is EX_DATAERR"
like "$STDERR" 'line 3' "... naming the line"
{ printf 'Subject: x\n\n'; head -c 999 /dev/zero | tr '\0' a; printf '\n'; } >"$INPUT"
run_envoi -C "$CONF" bob@example.org
is_status 65 "a 999-octet line is EX_DATAERR"
like "$STDERR" 'line 3.*998' "... naming the line and the limit"
INPUT=$TESTDIR/norcpt; printf 'Subject: none\n\nbody\n' >"$INPUT"
run_envoi -C "$CONF" -t
is_status 64 "-t with no recipient headers is EX_USAGE"
run_envoi -C "$CONF"
is_status 64 "no recipients at all is EX_USAGE"
INPUT=$TESTDIR/message
run_envoi -C "$CONF" 'bob@@example.org'
is_status 64 "a malformed recipient argument is EX_USAGE"
is "$(queue_files)" 0 "no partial spool entry after any refusal"

# --- configuration errors: FILE:LINE, EX_CONFIG
std_message conf >"$INPUT"
write_config "$TESTDIR/bad.conf" <<EOF
account default
host 127.0.0.1
no_such_directive yes
EOF
run_envoi -C "$TESTDIR/bad.conf" bob@example.org
is_status 78 "an unknown directive is EX_CONFIG"
like "$STDERR" 'bad.conf:3:' "... reported as FILE:LINE"
std_config "$TESTDIR/open.conf"
chmod 644 "$TESTDIR/open.conf"
run_envoi -C "$TESTDIR/open.conf" bob@example.org
is_status 78 "a password in a group/world-readable file is EX_CONFIG"
like "$STDERR" 'chmod 600' "... and says how to fix it"
write_config "$TESTDIR/msmtp.conf" <<EOF
defaults
tls_nocertcheck
add_missing_date_header on
proxy_host 127.0.0.1
account default
host 127.0.0.1
port 1
queue_dir $QUEUE
queue off
EOF
run_envoi -C "$TESTDIR/msmtp.conf" bob@example.org
like "$STDERR" 'proxy_host.*not implemented' "an unimplemented msmtp directive only warns"
is "$STATUS" 75 "... and the file still works (here: nothing listens, so 75)"

# --- options sendmail does not have: accepted, warned about in the log;
# stderr stays quiet when it is not a terminal (cron mails stderr)
server
std_config "$CONF" "logfile $TESTDIR/opts.log"
std_message unknown >"$INPUT"
run_envoi -C "$CONF" -Z -m -h 5 bob@example.org
wait_server
is_status 0 "an unknown option (-Z) does not stop the mail"
is "$STDERR" "" "... and stderr (not a terminal) stays quiet"
like "$(cat "$TESTDIR/opts.log")" 'warning: option -Z is not a sendmail option envoi knows; ignored' \
    "... the log says which option was ignored"
unlike "$(cat "$TESTDIR/opts.log")" 'option -(m|h)' "known sendmail options (-m, -h 5) are not warned about"
server
std_message unknown-v >"$INPUT"
run_envoi -C "$CONF" -v -Z -m bob@example.org
wait_server
like "$STDERR" 'envoi: warning: option -Z is not a sendmail option envoi knows; ignored' "with -v the warning is on stderr too"
like "$STDERR" 'option -m accepted and ignored' "... and -v lists the known ignored ones"
if [ -z "$ENVOI_WRAP" ] && script -qec true /dev/null >/dev/null 2>&1; then
	server
	std_message unknown-tty >"$INPUT"
	out=$(script -qec "$(printf '%q ' "$ENVOI" -C "$CONF" -Z bob@example.org) <$(printf '%q' "$INPUT")" /dev/null 2>&1)
	wait_server
	like "$out" 'warning: option -Z is not a sendmail option envoi knows' "on a terminal, the warning is on stderr"
else
	skip "on a terminal, the warning is on stderr" "no script(1), or under valgrind"
fi

# --- -oem / -oee / -oeq: a permanent refusal of the submission's own try
oe_server() {  # the first RCPT is refused; a bounce may follow
	start_server - -n 2 <<'EOF'
tls starttls
auth PLAIN
user alice secret
on RCPT#1@1 reply 550 5.1.1 <nobody@example.org>: no such user
EOF
	std_config "$CONF" "domain client.example"
}
oe_server
std_message oem >"$INPUT"
run_envoi -C "$CONF" -oem nobody@example.org
wait_server 5
is_status 67 "-oem: the exit code still reports the refusal (EX_NOUSER)"
like "$STDERR" '550 5\.1\.1' "... and the one line on stderr"
is "$(sed -n 1p "$MAILDIR/env-1.txt" | sed 's/ SIZE=.*//;s/ BODY=.*//')" "MAIL FROM:<>" "-oem: a bounce was sent, from <>"
is "$(sed -n 2p "$MAILDIR/env-1.txt" | sed 's/ NOTIFY=.*//')" "RCPT TO:<sender@example.org>" "... to the envelope sender, through the same server"
bounce=$(tr -d '\r' <"$MAILDIR/msg-1.eml" 2>/dev/null)
like "$bounce" 'report-type=delivery-status' "... an RFC 3464 report"
like "$bounce" $'Final-Recipient: rfc822; ?nobody@example.org\nAction: failed\nStatus: 5\\.1\\.1' "... naming the refused recipient and status"
like "$bounce" 'Message-ID: <test-oem@example.org>' "... with the original's headers"
is "$(queue_entries)" 0 "... and nothing is left in the queue"

oe_server
std_message oee >"$INPUT"
run_envoi -C "$CONF" -oee nobody@example.org
wait_server 5
is_status 0 "-oee: exit 0 once the error went back by mail"
like "$STDERR" 'reported to <sender@example.org> by mail' "... saying so on stderr"
ok "... the bounce was delivered" test -s "$MAILDIR/msg-1.eml"

oe_server
std_message oeq >"$INPUT"
run_envoi -C "$CONF" -oeq nobody@example.org
wait_server 1
is_status 67 "-oeq: the exit code reports the refusal"
is "$STDERR" "" "... and nothing is printed"
ok "... no bounce" test ! -e "$MAILDIR/msg-1.eml"

oe_server
std_message oem-null >"$INPUT"
run_envoi -C "$CONF" -oem -f '<>' nobody@example.org
wait_server 1
is_status 67 "-oem with the null sender: exit code only"
ok "... never a bounce to <>" test ! -e "$MAILDIR/msg-1.eml"

# --- -C: only the caller's own file (root may use any)
# (without a password: a file holding one must be the caller's anyway)
printf '%s\n' "account default" "host 127.0.0.1" "queue_dir $QUEUE" >"$TESTDIR/other.conf"
chown 65534 "$TESTDIR/other.conf"
INPUT=/dev/null
run_envoi -C "$TESTDIR/other.conf" -bp
is_status 0 "root may use a -C file owned by someone else"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	pub=$(mktemp -d /tmp/envoi-cflag.XXXXXX)
	chmod 755 "$pub"
	mkdir "$pub/q" && chown 65534 "$pub/q"
	printf '%s\n' "account default" "host 127.0.0.1" "queue_dir $pub/q" >"$pub/root.conf"
	cp "$pub/root.conf" "$pub/nobody.conf"
	chmod 644 "$pub/root.conf" "$pub/nobody.conf"
	chown 65534 "$pub/nobody.conf"
	as_nobody() {
		# shellcheck disable=SC2086 # ENVOI_WRAP is a command prefix
		setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$pub" \
		    $ENVOI_WRAP "$ENVOI" "$@" </dev/null >"$pub/out" 2>"$pub/err"
		STATUS=$?
		STDERR=$(cat "$pub/err")
	}
	as_nobody -C "$pub/root.conf" -bp
	is_status 78 "-C with a file owned by another uid: EX_CONFIG"
	like "$STDERR" "-C $pub/root.conf: refusing a configuration file owned by uid 0 \\(not yours\\)" "... saying why"
	as_nobody -C "$pub/nobody.conf" -bp
	is_status 0 "-C with the caller's own file works"
	rm -rf "$pub"
else
	skip "-C ownership as another user" "needs root and setpriv"
fi
INPUT=$TESTDIR/message

# --- server down: with the queue on (the default), queued and exit 0
ENVOI_QUEUE_ON=1 std_config "$CONF" "port 1"
run_envoi -C "$CONF" bob@example.org
is_status 0 "connection refused, queue on: exit 0"
like "$STDERR" '^envoi: queued [0-9a-f]+: cannot connect to 127.0.0.1 port 1: .*; will retry$' "one line: queued, the cause, will retry"
std_config "$CONF" "port 1"
run_envoi -C "$CONF" bob@example.org
is_status 75 "connection refused, queue off: EX_TEMPFAIL"
like "$STDERR" '^envoi: cannot connect to 127.0.0.1 port 1: ' "one line naming the cause"
done_testing
