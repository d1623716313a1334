#!/bin/bash
# msmtp-cli.sh - envoi called as msmtp (a symlink named msmtp) with
# msmtp's long options, against the scripted server: config-free --host
# use, mutt's "-a work --read-envelope-from -t", the account chosen by the
# From header, command-line settings beating the file (and never queued),
# msmtp mode's EOF reading, -X and --logfile, --configure, and the
# refused combinations with their exit codes.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

CONF=$TESTDIR/conf
INPUT=$TESTDIR/message
mkdir -p "$TESTDIR/bin"
MSMTP=$TESTDIR/bin/msmtp
ln -s "$ENVOI" "$MSMTP"
SENDMAIL=$TESTDIR/bin/sendmail
ln -s "$ENVOI" "$SENDMAIL"

msmtp() { ENVOI=$MSMTP run_envoi "$@"; }
mail_from() { sed -n 1p "$MAILDIR/env-1.txt" 2>/dev/null; }
rcpts() { sed -n '2,$p' "$MAILDIR/env-1.txt" 2>/dev/null | tr '\n' ' '; }
no_server_errors() {
	if grep -q '^ERR:' "$TRANSCRIPT"; then
		fail "$1"
		diag "$(grep '^ERR:' "$TRANSCRIPT")"
	else
		pass "$1"
	fi
}
TLS_OPTS=(--tls --tls-starttls --tls-trust-file="$CERTDIR/ca.pem")

# An account "work" on the test server, and a default one on a port where
# nothing listens: a message that reaches the server went through work.
work_config() {
	write_config "$CONF" <<EOF
defaults
tls on
tls_trust_file $CERTDIR/ca.pem
timeout 20
queue_retrier off
account default
host 127.0.0.1
port 1
from nobody@example.net
queue off
account work
host 127.0.0.1
port $PORT
auth on
user alice
password secret
from alice@example.org
queue off
EOF
}

message() {  # message FROM-HEADER
	printf '%s\n' "From: $1" "To: Bob <bob@example.org>" "Cc: carol@example.org" \
	    "Subject: msmtp" "Date: Mon, 1 Jan 2024 00:00:00 +0000" \
	    "Message-ID: <msmtp-cli@example.org>" "" "first line" "." "after a dot line"
}

# --- config-free: the command line is the whole configuration
message "Sender <sender@example.org>" >"$INPUT"
# A broken user file proves that --host reads none.
mkdir -p "$HOME"
printf 'this is not a directive\n' >"$HOME/.msmtprc"
chmod 600 "$HOME/.msmtprc"
std_server
msmtp --host=127.0.0.1 --port="$PORT" "${TLS_OPTS[@]}" --auth=plain --user alice \
    --passwordeval='echo secret' --from=sender@example.org --timeout 20 -t
wait_server
is_status 0 "msmtp --host=127.0.0.1 --port=P ... -t: exit 0, no file read"
like "$(mail_from)" '^MAIL FROM:<sender@example.org>' "... envelope sender from --from"
is "$(rcpts)" "RCPT TO:<bob@example.org> RCPT TO:<carol@example.org> " "... recipients from To and Cc"
like "$(cat "$MAILDIR/msg-1.eml" 2>/dev/null)" 'after a dot line' \
    "... a line holding a dot does not end the input (msmtp reads to EOF)"
no_server_errors "... no protocol error at the server"
rm -f "$HOME/.msmtprc"

std_server
msmtp --host 127.0.0.1 --port "$PORT" "${TLS_OPTS[@]}" --user=alice \
    --passwordeval 'echo secret' -f sender@example.org extra@example.org -t
wait_server
is_status 0 "separate values (--host H --port P), -t with an argument"
is "$(rcpts)" "RCPT TO:<extra@example.org> RCPT TO:<bob@example.org> RCPT TO:<carol@example.org> " \
    "... -t adds the headers' recipients to the argument's (msmtp's rule)"

# -C beside --host is not read (as by msmtp), and envoi says so
printf 'this is not a directive\n' >"$TESTDIR/ignored.conf"
chmod 600 "$TESTDIR/ignored.conf"
std_server
msmtp -C "$TESTDIR/ignored.conf" --host 127.0.0.1 --port "$PORT" "${TLS_OPTS[@]}" \
    --user=alice --passwordeval 'echo secret' -f sender@example.org extra@example.org
wait_server
is_status 0 "-C FILE with --host: the file is not read, exit 0"
like "$STDERR" "warning: -C $TESTDIR/ignored.conf is not read: --host uses no configuration file" \
    "... and a warning says so"

# --- mutt: msmtp -a work --read-envelope-from -t
std_server
work_config
message "Alice <alice@example.org>" >"$INPUT"
msmtp -C "$CONF" -a work --read-envelope-from -t
wait_server
is_status 0 "msmtp -a work --read-envelope-from -t: exit 0"
like "$(mail_from)" '^MAIL FROM:<alice@example.org>' "... envelope sender from the From header"
is "$(rcpts)" "RCPT TO:<bob@example.org> RCPT TO:<carol@example.org> " "... recipients"
crlf <"$INPUT" | file_is "$MAILDIR/msg-1.eml" \
    "... the message arrives whole, the bytes read for the From header included"

# The From header chooses the account, as -f would (a +detail too).
std_server
work_config
message "Alice <alice+lists@example.org>" >"$INPUT"
msmtp -C "$CONF" --read-envelope-from bob@example.org
wait_server
is_status 0 "--read-envelope-from without -a: the account whose from matches"
like "$(mail_from)" '^MAIL FROM:<alice\+lists@example.org>' "... envelope sender as written"

# Without a From header the account's rule applies.
std_server
work_config
printf '%s\n' "To: bob@example.org" "Subject: no from" "" "body" >"$INPUT"
msmtp -C "$CONF" -a work --read-envelope-from -t
wait_server
is_status 0 "--read-envelope-from and no From header: exit 0"
like "$(mail_from)" '^MAIL FROM:<alice@example.org>' "... the account's from"

# --- command-line settings beat the file
std_server
work_config
message "Alice <alice@example.org>" >"$INPUT"
msmtp -C "$CONF" --port="$PORT" --user=alice --passwordeval='echo secret' -f alice@example.org bob@example.org
wait_server
is_status 0 "--port beats the default account's port 1"
like "$(mail_from)" '^MAIL FROM:<alice@example.org>' "... sent"

std_server
work_config
msmtp -C "$CONF" -a work --domain=client.example.net bob@example.org
wait_server
is_status 0 "--domain over account work"
like "$(commands | grep -m1 '^EHLO')" '^EHLO client.example.net$' "... EHLO names --domain"

std_server
work_config
msmtp -C "$CONF" -a work --passwordeval='echo wrong' --tls-certcheck=on bob@example.org
wait_server
is_status 77 "--passwordeval beats the file's password (the server refuses it)"

# A message sent with delivery settings is never queued, even where the
# file would queue: a retry could not know the settings.
sed -i 's/^queue off$/queue on/' "$CONF"
QDIR=$XDG_STATE_HOME/envoi/queue
msmtp -C "$CONF" -a work --port=1 bob@example.org
is_status 75 "--port to a closed port, queue on in the file: exit 75 (msmtp's direct mode)"
run_envoi -C "$CONF" -a work -bp
like "$STDOUT" 'empty' "... nothing left in the queue"

# --- msmtp -X is --logfile; envoi never creates a file argv names
message "Alice <alice@example.org>" >"$INPUT"
std_server
work_config
: >"$TESTDIR/msmtp.log"
msmtp -C "$CONF" -a work -X "$TESTDIR/msmtp.log" bob@example.org
wait_server
is_status 0 "msmtp -X FILE: exit 0"
like "$(cat "$TESTDIR/msmtp.log")" 'bob@example.org' "... FILE is the log file, as msmtp's --logfile"
msmtp -C "$CONF" -a work --logfile="$TESTDIR/new.log" bob@example.org
is_status 64 "--logfile naming a file that does not exist: 64"
like "$STDERR" 'appends only to an existing file' "... says why"
ok "... and creates nothing" test ! -e "$TESTDIR/new.log"
ENVOI=$SENDMAIL run_envoi -C "$CONF" -a work -odq -X "$TESTDIR/x.php" bob@example.org
ok "sendmail -X FILE is never written (PHPMailer's injection)" test ! -e "$TESTDIR/x.php"

# --- refusals and exit codes
msmtp --host=127.0.0.1 -a work bob@example.org
is_status 64 "--host with -a: 64"
like "$STDERR" '--host and --account' "... says which"
msmtp -C "$CONF" --read-envelope-from -f a@example.org bob@example.org
is_status 64 "--read-envelope-from with -f: 64"
msmtp --host=127.0.0.1 --password=secret bob@example.org
is_status 64 "--password: 64"
like "$STDERR" 'passwordeval' "... names --passwordeval"
msmtp --host=192.0.2.7 --user=alice --passwordeval='echo x' --tls=off bob@example.org
is_status 78 "--tls=off with a password to a remote host: 78, as in a file"
like "$STDERR" 'refusing to send a password without TLS' "... says why"
msmtp --host=127.0.0.1 --port=abc bob@example.org
is_status 64 "--port=abc: 64"
like "$STDERR" '^envoi: --port: port: "abc" is not a port number' "... conf's own message, naming the option"
msmtp --host=127.0.0.1 --socket=/run/x bob@example.org
is_status 64 "--socket: 64 rather than another server"
msmtp --host=127.0.0.1 --proxy-host=127.0.0.1 bob@example.org
is_status 64 "--proxy-host: 64 rather than around the proxy"
msmtp --frobnicate bob@example.org
is_status 64 "an unknown long option stays an error"

# --- --configure, --help, --version
msmtp --configure=alice@gmail.com
is_status 0 "--configure=ADDR: exit 0"
like "$STDOUT" 'host smtp.gmail.com' "... the provider's submission server"
printf '%s\n' "$STDOUT" >"$TESTDIR/generated"
chmod 600 "$TESTDIR/generated"
run_envoi -C "$TESTDIR/generated" -bp
is_status 0 "... and envoi reads the template it prints"
msmtp --configure notanaddress
is_status 64 "--configure without a mail address: 64"
msmtp --help
like "$STDOUT" '--read-envelope-from' "--help lists msmtp's options"
msmtp --version
like "$STDOUT" '^envoi ' "--version as msmtp"

# --- make install-msmtp-link: opt-in, never over a real msmtp
if [ -f "$top_builddir/Makefile" ] && command -v make >/dev/null; then
	dest=$TESTDIR/dest
	bindir=$(make -s -C "$top_builddir" --no-print-directory -f Makefile \
	    -f <(printf 'print-bindir:\n\t@echo $(bindir)\n') print-bindir)
	make -s -C "$top_builddir" install-msmtp-link DESTDIR="$dest" >"$TESTDIR/make.out" 2>&1
	ok "make install-msmtp-link: a symlink msmtp in bindir" test -L "$dest$bindir/msmtp"
	like "$(readlink "$dest$bindir/msmtp")" 'envoi$' "... to envoi"
	is "$(find "$dest" ! -type d | wc -l)" 1 "... and nothing else"
	make -s -C "$top_builddir" uninstall-msmtp-link DESTDIR="$dest" >>"$TESTDIR/make.out" 2>&1
	ok "make uninstall-msmtp-link removes it" test ! -e "$dest$bindir/msmtp"
	mkdir -p "$dest$bindir" && printf 'real msmtp\n' >"$dest$bindir/msmtp"
	make -s -C "$top_builddir" install-msmtp-link DESTDIR="$dest" >"$TESTDIR/make.out" 2>&1
	isnt "$?" 0 "install-msmtp-link over a real msmtp fails"
	is "$(cat "$dest$bindir/msmtp")" "real msmtp" "... and leaves it alone"
else
	skip "make install-msmtp-link" "no build tree Makefile"
fi

done_testing
