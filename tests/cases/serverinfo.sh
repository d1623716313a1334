#!/bin/bash
# serverinfo.sh - msmtp's --serverinfo, -P/--pretend and --rmqs against
# tests/smtpd-script.
# --serverinfo connects as the account would (plain, STARTTLS, implicit
# TLS), never AUTH or MAIL, QUITs, and prints the greeting, the
# capabilities (before STARTTLS too), TLS version and suite, and the
# certificate: subject, issuer, validity, names, and the SHA-256
# fingerprint exactly as certtool computes it and in the form
# tls_fingerprint takes (pasting it pins: mail goes through with no CA
# file); a certificate that does not verify is shown, then refused (77).
# --pretend prints the files, the account and why, every setting (secrets
# as set/unset, never their value) and the envelope; it warns about a
# readable file with a password, an unreadable trust file, unknown
# directives (all of them, not just the first); exit 0 usable, 78 not; it
# never connects, never queues, never reads stdin.
# --rmqs sends ETRN: 250 -> 0, 458 -> 75, 502 -> 69, not offered -> 69.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

CONF=$TESTDIR/conf

# certtool's SHA-256 fingerprint of a certificate, in tls_fingerprint's
# form (upper-case hex, colons).
certtool_sha256() {
	certtool -i --infile "$1" | sed -n 's/^[[:space:]]*sha256:\([0-9a-f]*\)$/\1/p' |
	    head -1 | tr 'a-f' 'A-F' | sed 's/../&:/g; s/:$//'
}
printed_fpr() { printf '%s\n' "$STDOUT" | sed -n 's/^ *SHA-256 fingerprint: //p'; }

# ------------------------------------------------------------- STARTTLS
start_server - <<'EOF'
tls starttls
auth PLAIN LOGIN
user alice secret
cap SMTPUTF8
cap DSN
cap CHUNKING
cap REQUIRETLS
EOF
std_config "$CONF"
run_envoi -C "$CONF" --serverinfo </dev/null
wait_server
is_status 0 "STARTTLS: --serverinfo exits 0"
like "$STDOUT" "^SMTP server 127\.0\.0\.1 port $PORT \(account default, STARTTLS\)$" \
    "STARTTLS: the server, port, account and TLS mode"
like "$STDOUT" '^Greeting: 220 localhost ESMTP smtpd-script$' "STARTTLS: the greeting"
like "$STDOUT" '^Before STARTTLS: SIZE PIPELINING CHUNKING 8BITMIME SMTPUTF8 DSN REQUIRETLS ENHANCEDSTATUSCODES STARTTLS$' \
    "STARTTLS: what was offered in plaintext (no AUTH there)"
like "$STDOUT" 'AUTH is offered only inside TLS' "STARTTLS: AUTH only inside TLS is said"
like "$STDOUT" '^TLS: TLS1\.[23], \(TLS1\.[23]' "STARTTLS: TLS version and suite"
like "$STDOUT" '^TLS verification: server certificate for 127\.0\.0\.1 verified' \
    "STARTTLS: how the certificate was accepted"
like "$STDOUT" '^    Subject: CN=localhost,O=envoi tests$' "STARTTLS: subject"
like "$STDOUT" '^    Issuer: CN=envoi test CA,O=envoi tests$' "STARTTLS: issuer"
like "$STDOUT" '^    Not before: 20[0-9][0-9]-[0-9-]{5} [0-9:]{8} UTC$' "STARTTLS: not before"
like "$STDOUT" '^    Not after: 20[0-9][0-9]-[0-9-]{5} [0-9:]{8} UTC$' "STARTTLS: not after"
like "$STDOUT" '^    Names: DNS:localhost, DNS:mail\.xn--bcher-kva\.example, IP:127\.0\.0\.1, IP:::1$' \
    "STARTTLS: every subjectAltName"
want=$(certtool_sha256 "$CERTDIR/server.pem")
is "$(printed_fpr)" "$want" "STARTTLS: the fingerprint is certtool's SHA-256 one"
is "$(printed_fpr)" "$(cat "$CERTDIR/server.sha256")" "... and mkcerts.sh's"
like "$STDOUT" "^    To pin it, in the account: tls_fingerprint $want\$" "STARTTLS: the pin line"
like "$STDOUT" '^    SIZE: 10240000 bytes \(9\.8 MiB\) maximum message size$' "STARTTLS: SIZE, human"
like "$STDOUT" '^    AUTH: PLAIN LOGIN$' "STARTTLS: AUTH mechanisms (inside TLS)"
for c in PIPELINING CHUNKING SMTPUTF8 DSN REQUIRETLS 8BITMIME; do
	like "$STDOUT" "^    $c: yes" "STARTTLS: $c offered"
done
like "$STDOUT" '^    STARTTLS: no$' "STARTTLS: not offered again inside TLS"
like "$STDOUT" '^    ETRN: no' "STARTTLS: ETRN not offered"
is "$(commands | tr '\n' ' ')" 'EHLO '"$(hostname)"' STARTTLS EHLO '"$(hostname)"' QUIT ' \
    "STARTTLS: EHLO, STARTTLS, EHLO, QUIT: no AUTH, no MAIL"

# Copy and paste the pin, with no CA file at all: mail goes through.
start_server - <<'EOF'
tls starttls
auth PLAIN
user alice secret
EOF
std_config "$CONF" "tls_fingerprint $(printed_fpr)"
sed -i '/^tls_trust_file/d' "$CONF"
std_message pin >"$TESTDIR/message"
INPUT=$TESTDIR/message run_envoi -C "$CONF" bob@example.org
wait_server
is_status 0 "the printed fingerprint pasted as tls_fingerprint, no trust file: exit 0"
ok "... and the message was delivered" test -s "$MAILDIR/msg-1.eml"

# -------------------------------------------------------- implicit TLS
start_server - <<'EOF'
tls implicit
auth PLAIN
user alice secret
EOF
std_config "$CONF" "tls_starttls off"
run_envoi -C "$CONF" --serverinfo </dev/null
wait_server
is_status 0 "implicit TLS: --serverinfo exits 0"
like "$STDOUT" "\(account default, implicit TLS\)$" "implicit TLS: the mode"
unlike "$STDOUT" 'Before STARTTLS' "implicit TLS: nothing before TLS"
like "$STDOUT" '^TLS: TLS1\.[23]' "implicit TLS: version"
is "$(printed_fpr)" "$want" "implicit TLS: certtool's fingerprint"
like "$STDOUT" '^    AUTH: PLAIN$' "implicit TLS: AUTH"
is "$(commands | tr '\n' ' ')" 'EHLO '"$(hostname)"' QUIT ' "implicit TLS: EHLO, QUIT"

# ---------------------------------------------------------------- plain
start_server - <<'EOF'
tls none
cap ETRN
EOF
write_config "$CONF" <<EOF
account default
host 127.0.0.1
port $PORT
from sender@example.org
queue off
EOF
run_envoi -C "$CONF" --serverinfo </dev/null
wait_server
is_status 0 "plain: --serverinfo exits 0"
like "$STDOUT" "\(account default, no TLS\)$" "plain: the mode"
unlike "$STDOUT" '^TLS|certificate' "plain: no TLS, no certificate"
like "$STDOUT" '^    ETRN: yes' "plain: ETRN offered"
like "$STDOUT" '^    AUTH: not offered$' "plain: no AUTH"

# ------------------------------------------- a certificate that fails
start_server - -c "$CERTDIR/selfsigned.pem" -k "$CERTDIR/selfsigned-key.pem" <<'EOF'
tls starttls
EOF
std_config "$CONF"
run_envoi -C "$CONF" --serverinfo </dev/null
wait_server
is_status 77 "self-signed: --serverinfo exits 77 (EX_NOPERM)"
like "$STDERR" 'not signed by a trusted authority' "self-signed: the one-line reason"
like "$STDOUT" '^TLS verification: FAILED' "self-signed: the verdict is shown"
is "$(printed_fpr)" "$(certtool_sha256 "$CERTDIR/selfsigned.pem")" \
    "self-signed: what was refused is described, certtool's fingerprint"
unlike "$(commands)" '^(AUTH|MAIL)' "self-signed: no AUTH, no MAIL"

# ------------------------------------------------ unreachable server
start_server - <<<'tls none'
p=$PORT
stop_server
std_config "$CONF" "port $p"
run_envoi -C "$CONF" --serverinfo </dev/null
is_status 75 "connection refused: --serverinfo exits 75"
like "$STDERR" 'cannot connect' "... saying so"

# -------------------------------------------------------------- --rmqs
rmqs() {   # rmqs WANT-STATUS DESC [script lines...]
	local want=$1 desc=$2
	shift 2
	start_server - <<<"$(printf '%s\n' "tls starttls" "auth PLAIN" "user alice secret" "$@")"
	std_config "$CONF"
	run_envoi -C "$CONF" --rmqs=@relay.example </dev/null
	wait_server
	is_status "$want" "--rmqs, $desc: exit $want"
}
rmqs 0 "250" "cap ETRN"
like "$STDOUT" '^250 Queuing started$' "--rmqs 250: the reply is printed"
like "$(commands | tr '\n' ' ')" 'STARTTLS EHLO [^ ]+ AUTH PLAIN [^ ]+ ETRN @relay\.example QUIT $' \
    "--rmqs: STARTTLS and AUTH as configured, then ETRN NODE, QUIT"
rmqs 75 "458" "cap ETRN" "on ETRN reply 458 Unable to queue messages for node relay.example"
like "$STDOUT" '^458 Unable to queue' "--rmqs 458: the reply is printed"
like "$STDERR" '458 Unable to queue messages for node relay\.example \(in reply to ETRN\)' \
    "--rmqs 458: the error line quotes it"
rmqs 69 "502" "cap ETRN" "on ETRN reply 502 5.5.1 Command not implemented"
like "$STDERR" '502 5\.5\.1 Command not implemented' "--rmqs 502: the error line quotes it"
rmqs 69 "not offered"
like "$STDERR" 'does not offer ETRN' "--rmqs, not offered: said so"
unlike "$(commands)" '^ETRN' "--rmqs, not offered: nothing sent"

# ------------------------------------------------------------ --pretend
# A server that must see no connection at all.
start_server - <<<'tls starttls'
QDIR=$TESTDIR/pretend-queue
pretend_conf() {   # pretend_conf [directives...]: std_config, own queue
	std_config "$CONF" "queue_dir $QDIR" "$@"
}
pretend_conf
printf 'Subject: must not be read\n\nbody\n' >"$TESTDIR/stdin"
INPUT=$TESTDIR/stdin run_envoi -C "$CONF" -P -f sender@example.org bob@example.org root
is_status 0 "pretend, usable configuration: exit 0"
like "$STDOUT" "^Configuration files: .*$CONF" "pretend: names the file read"
like "$STDOUT" '^Account: default \(the default account: -f sender@example\.org matches no other' \
    "pretend: the account and why"
like "$STDOUT" '^    host +127\.0\.0\.1$' "pretend: host"
like "$STDOUT" "^    port +$PORT\$" "pretend: port"
like "$STDOUT" '^    password +set$' "pretend: the password is 'set'"
like "$STDOUT" '^    passwordeval +unset$' "pretend: passwordeval unset"
like "$STDOUT" '^    timeout +20$' "pretend: timeout as set"
like "$STDOUT" '^    tls_certcheck +on  \(default\)$' "pretend: a default is marked as one"
like "$STDOUT" '^    queue_lifetime +432000 s  \(default\)$' "pretend: queue_lifetime"
unlike "$STDOUT$STDERR" '(^|[^_a-z])secret([^_a-z]|$)' "pretend: the password's value is never shown"
like "$STDOUT" '^    sender: <sender@example\.org>$' "pretend: envelope sender"
like "$STDOUT" '^    recipient: bob@example\.org$' "pretend: recipient"
like "$STDOUT" '^    recipient: root@' "pretend: a bare name qualified as it would be"
ok "pretend: nothing queued" test -z "$(ls -A "$QDIR" 2>/dev/null)"
sleep 0.3
stop_server
unlike "$(cat "$TRANSCRIPT")" '^(I|C|S):' "pretend: the server saw no connection"

# every line of the directive table is described (none forgotten)
n_directives=$(printf '%s\n' "$STDOUT" | sed -n '/^Settings/,/^Envelope/p' | grep -c '^    ')
ok "pretend: at least 36 settings listed ($n_directives)" test "$n_directives" -ge 36

pretend_conf "passwordeval echo topsecret"
run_envoi -C "$CONF" -P -a default -t </dev/null
is_status 0 "pretend with passwordeval: exit 0"
like "$STDOUT" '^    passwordeval +set$' "pretend: passwordeval shown as set"
unlike "$STDOUT$STDERR" 'topsecret|echo' "pretend: its command is never shown (nor run)"
like "$STDOUT" '^Account: default \(named with -a default\)$' "pretend: -a is the reason"
like "$STDOUT" 'recipients: also those of the message.s To, Cc and Bcc headers \(-t' \
    "pretend -t: recipients come from the headers, not read"

{
	printf '%s\n' "account work" "host 127.0.0.1" "from *@work.example" "queue_dir $QDIR"
	printf '%s\n' "account default" "host 127.0.0.1" "from me@home.example" "queue_dir $QDIR"
} | write_config "$CONF"
run_envoi -C "$CONF" --pretend -f boss@work.example bob@example.org </dev/null
is_status 0 "pretend -f: exit 0"
like "$STDOUT" '^Account: work \(its from \*@work\.example matches -f boss@work\.example\)$' \
    "pretend: chosen by -f matching from"

pretend_conf
chmod 644 "$CONF"
run_envoi -C "$CONF" -P bob@example.org </dev/null
is_status 78 "pretend, 0644 file with a password: exit 78"
like "$STDERR" 'warning: .*contains a password and is readable by others' \
    "pretend: the permission problem is a warning"
like "$STDOUT" '^    password +set$' "pretend: ... and the settings are still shown"

pretend_conf "tls_trust_file $TESTDIR/no-such-ca.pem"
run_envoi -C "$CONF" -P bob@example.org </dev/null
is_status 78 "pretend, unreadable trust file: exit 78"
like "$STDERR" "warning: account default: tls_trust_file $TESTDIR/no-such-ca\.pem cannot be read" \
    "pretend: the unreadable trust file is a warning"

pretend_conf "frobnicate yes" "port notaport" "tls_shiny on"
run_envoi -C "$CONF" -P bob@example.org </dev/null
is_status 78 "pretend, unknown directives: exit 78"
like "$STDERR" 'warning: .*unknown directive "frobnicate"' "pretend: the first unknown directive"
like "$STDERR" 'warning: .*port: "notaport" is not a port number' "pretend: a bad value"
like "$STDERR" 'warning: .*unknown directive "tls_shiny"' "pretend: ... and the one after it"
like "$STDERR" '3 problems found' "pretend: the count"

write_config "$CONF" <<EOF
account default
from me@example.org
queue_dir $QDIR
EOF
run_envoi -C "$CONF" -P bob@example.org </dev/null
is_status 78 "pretend, no host: exit 78"
like "$STDERR" 'no host set' "pretend: the missing host is named"

write_config "$CONF" <<EOF
account default
host 127.0.0.1
auth plain
user alice
password x
tls off
queue_dir $QDIR
EOF
run_envoi -C "$CONF" -P bob@example.org </dev/null
is_status 0 "pretend, AUTH without TLS to loopback: usable, exit 0"
like "$STDERR" 'warning: account default: AUTH without TLS' "pretend: ... with a warning"
ok "pretend: still nothing queued" test -z "$(ls -A "$QDIR" 2>/dev/null)"

done_testing
