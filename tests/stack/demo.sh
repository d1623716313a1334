#!/bin/sh
# tests/stack/demo.sh [ENVOI]
#
# The README's demo: starts the private Postfix + Dovecot stack in a
# temporary directory, sends one message with envoi over STARTTLS + AUTH
# (auth on: the strongest mechanism both sides offer), prints the
# copy delivered into bob's Maildir, and stops the stack again.
# ENVOI: the envoi binary (argument, else $ENVOI, else src/envoi of the
# source tree this script lives in). Needs root (Postfix and Dovecot).

set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
ENVOI=${1:-${ENVOI:-$root/src/envoi}}

step() { printf '\n==> %s\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (the demo starts a private Postfix and Dovecot)"
[ -x "$ENVOI" ] || die "no envoi binary at $ENVOI (build first, or pass its path)"

DIR=$(mktemp -d "${TMPDIR:-/tmp}/envoi-demo.XXXXXX") || die "mktemp failed"
keep=
cleanup() {
	sh "$here/stop.sh" "$DIR"
	if [ -n "$keep" ]; then
		echo "demo: logs kept in $DIR (maillog, dovecot.log)" >&2
	else
		rm -rf "$DIR"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "Starting a private Postfix (submission + smtps) and Dovecot (SASL) on 127.0.0.1"
sh "$here/start.sh" "$DIR" || { keep=1; die "the demo smarthost did not start"; }
. "$DIR/env"
echo "    submission (STARTTLS): 127.0.0.1:$SUBMISSION_PORT"
echo "    smtps (implicit TLS):  127.0.0.1:$SMTPS_PORT"
echo "    throw-away CA:         $STACK_CA"
echo "    server certificate:    sha256 $STACK_FPR"
echo "    mailboxes:             $STACK_MAIL/DOMAIN/USER/"

step "Writing an envoi configuration (msmtp syntax, mode 0600)"
conf=$DIR/envoi.conf
(
	umask 077
	cat >"$conf" <<EOF
defaults
tls on
tls_starttls on
tls_trust_file $STACK_CA

account demo
host 127.0.0.1
port $SUBMISSION_PORT
auth on
user $STACK_USER
password $STACK_PASSWORD
from alice@example.org

account default : demo
EOF
)
sed 's/^password .*/password ********/; s/^/    /' "$conf"

step "Sending a message: $ENVOI -C $conf -v bob@example.org"
subject="Hello from envoi ($(date '+%H:%M:%S'))"
printf 'To: Bob <bob@example.org>\nSubject: %s\n\nHi Bob,\n\nthis message went through a real Postfix over STARTTLS with SASL\nauthentication, submitted by envoi.\n' \
	"$subject" | "$ENVOI" -C "$conf" -v bob@example.org
rc=$?
echo "    envoi exit code: $rc"
[ $rc -eq 0 ] || { keep=1; die "envoi failed (exit $rc)"; }

step "Waiting for delivery into bob's Maildir"
file=$(sh "$here/wait-mail.sh" "$DIR" bob@example.org "$subject" 20) || {
	keep=1
	die "the message did not arrive"
}
echo "    $file"

step "The delivered copy (Received: shows TLS and the authenticated user)"
sed 's/^/    | /' "$file"

step "Stopping the demo smarthost"
trap - EXIT
cleanup
echo "Done: envoi delivered a message over STARTTLS + AUTH."
