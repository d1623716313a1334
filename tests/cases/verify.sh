#!/bin/bash
# verify.sh - `sendmail -bv ADDR...`: each address resolved as a
# submission would (qualification, aliases), then asked of the smarthost
# with RCPT in a transaction that is reset (MAIL, RCPT..., RSET, QUIT;
# never DATA). One verdict line per address; exit 0 / 67 / 75.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

CONF=$TESTDIR/conf
INPUT=/dev/null
ENVOI_QUEUE_ON=1

server() {
	start_server - < <(printf '%s\n' "tls starttls" "auth PLAIN" "user alice secret" "$@")
	std_config "$CONF" "domain client.example"
}

# --- one deliverable, one refused
server "on RCPT#2 reply 550 5.1.1 <nobody@example.org>: no such user"
run_envoi -C "$CONF" -bv bob@example.org nobody@example.org
wait_server
is_status 67 "a refused address: exit 67 (EX_NOUSER)"
is "$STDOUT" "bob@example.org: deliverable (250 2.1.5 Ok)
nobody@example.org: undeliverable: 550 5.1.1 <nobody@example.org>: no such user (in reply to RCPT TO)" \
    "one verdict line per address, with the server's reply"
is "$(verbs | tr '\n' ' ')" "EHLO STARTTLS EHLO AUTH PLAIN MAIL RCPT RCPT RSET QUIT " \
    "MAIL, RCPTs, RSET, QUIT over the account's TLS and AUTH; never DATA"
like "$(commands | grep '^MAIL')" '^MAIL FROM:<sender@example.org>$' \
    "MAIL FROM the account's address, no SIZE or BODY"
is "$(ls "$MAILDIR" | wc -l)" 0 "no message reached the server"
is "$(find "$TESTDIR/queue" -name '*.env' | wc -l)" 0 "nothing queued"

# --- all deliverable; a bare local name is qualified first
server
run_envoi -C "$CONF" -bv root "Carol <carol@example.org>"
wait_server
is_status 0 "all deliverable: exit 0"
is "$STDOUT" "root -> root@client.example: deliverable (250 2.1.5 Ok)
Carol <carol@example.org> -> carol@example.org: deliverable (250 2.1.5 Ok)" \
    "the resolved address is the one asked about"
like "$(commands | grep '^RCPT' | head -1)" '^RCPT TO:<root@client\.example>$' \
    "RCPT for the qualified address"

# --- a temporary refusal is not a verdict
server "on RCPT reply 450 4.2.1 mailbox busy"
run_envoi -C "$CONF" -bv bob@example.org
wait_server
is_status 75 "4xx: exit 75 (EX_TEMPFAIL)"
is "$STDOUT" "bob@example.org: unknown (temporary: 450 4.2.1 mailbox busy (in reply to RCPT TO))" \
    "4xx: unknown, with the reason"

# --- the server cannot be asked
server
stop_server
run_envoi -C "$CONF" -bv bob@example.org
is_status 75 "server down: exit 75"
like "$STDOUT" '^bob@example\.org: unknown \(temporary: cannot connect' \
    "server down: unknown, why"

# --- a syntax error is a verdict without asking anyone
server
run_envoi -C "$CONF" -bv "bob@@example.org" carol@example.org
wait_server
is_status 67 "bad syntax: exit 67"
like "$STDOUT" '^bob@@example\.org: undeliverable: ' "bad syntax: undeliverable"
like "$STDOUT" $'\ncarol@example\\.org: deliverable' "... the other address is still asked"

# --- no address at all
run_envoi -C "$CONF" -bv
is_status 64 "-bv without addresses: EX_USAGE"

done_testing
