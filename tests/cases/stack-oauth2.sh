#!/bin/bash
# Integration: OAuth 2.0 against the real Postfix + Dovecot stack, whose
# Dovecot validates bearer tokens through the test authorization server's
# introspection endpoint (tests/stack/start.sh with
# STACK_OAUTH2_INTROSPECTION; tests/oauth/server.mjs): so a token the
# authorization server does not consider valid is refused by Postfix for
# real. envoi logs in with the device flow (approved through the server's
# own pages), sends over STARTTLS and implicit TLS with XOAUTH2 and
# OAUTHBEARER; an access token expired at the server is refreshed before
# AUTH; one refused by Dovecot (expired or revoked at the server while
# the store thinks it valid) is refreshed once and AUTH runs again on the
# same connection; with the refresh token revoked too, envoi exits 77
# naming `envoi --oauth2-login stack`; the token endpoint answering 503
# queues the message, and a queue run delivers it once it is back; -v
# shows no token.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"
. "$top_srcdir/tests/stack/functions.sh"

command -v curl >/dev/null 2>&1 || skip_all "curl missing"
# The authorization server's port is fixed before the stack starts, so
# that Dovecot's configuration names it; the server itself starts after
# the stack, with the stack's certificate (one CA for envoi to trust).
OAUTH_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') ||
	bail_out "no free port"
URL=https://127.0.0.1:$OAUTH_PORT
export STACK_OAUTH2_INTROSPECTION="https://dovecot:dovecot-test-secret@127.0.0.1:$OAUTH_PORT/token/introspection"
stack_up
unset STACK_OAUTH2_INTROSPECTION
out=$(OAUTH_PORT=$OAUTH_PORT OAUTH_ACCOUNT=alice@example.org \
    sh "$top_srcdir/tests/oauth/start.sh" "$top_builddir/tests/oauth" "$STACK_DIR/certs")
case $? in
0) ;;
77) skip_all "node or npm missing" ;;
*) bail_out "the authorization server did not start" ;;
esac
read -r OAUTH_PID _ <<<"$out"
trap '_stack_rc=$?; kill "$OAUTH_PID" 2>/dev/null; stack_down; (exit $_stack_rc); _cleanup' EXIT
CA=$STACK_CA

. "$top_srcdir/tests/oauth/functions.sh"
oauth_store stack
CONF=$TESTDIR/envoi.conf
INPUT=$TESTDIR/message

# oauth_config starttls|smtps [DIRECTIVE...]: the stack's account as
# alice@example.org with her token instead of a password.
oauth_config() {
	local mode=$1
	shift
	stack_config "$CONF" "$mode" "oauth2_provider custom" \
	    "oauth2_client_id envoi-test" "oauth2_token_url $URL/token" \
	    "oauth2_device_url $URL/device/auth" \
	    "oauth2_scope \"openid offline_access\"" "$@"
	sed -i -e '/^password /d' -e 's/^user .*/user alice@example.org/' "$CONF"
}
store_value() { sed -n "s/^$1 //p" "$STORE"; }
set_expires() { sed -i "s/^expires .*/expires $1/" "$STORE"; }
OAUTH_URL=$URL OAUTH_CA=$CA
refreshes() { oauth_refreshes; }
active() { oauth_active "$1"; }
set_ttl() { oauth_ttl "$1"; }
revoke() { oauth_revoke "$1" "$2"; }
# secrets: every token the store has held, for the -v checks.
SECRETS=$TESTDIR/secrets
remember() { { store_value access_token; store_value refresh_token; } | grep . >>"$SECRETS"; }
no_secret() { ! grep -qF -f "$SECRETS" "$TESTDIR"/envoi*.out "$TESTDIR"/envoi*.err; }

ok "Dovecot offers the token mechanisms" \
	grep -q '^auth_mechanisms = .* xoauth2 oauthbearer$' "$STACK_DIR/dovecot/dovecot.conf"

# ---- the device-flow login, approved as a browser would
oauth_config starttls
oauth_login_start "$CONF" stack
ok "login: approved through the server's pages" sh "$top_srcdir/tests/oauth/approve.sh" "$VERIFY" "$CA"
wait "$LOGIN_PID"
is "$?" 0 "login: signed in ($(cat "$TESTDIR/login.err"))"
is "$(stat -c %a "$STORE" 2>/dev/null)" 600 "login: the store is private"
remember

# ---- each mechanism on each port, with the stored token
before=$(refreshes)
for mode in starttls smtps; do
	for mech in oauthbearer xoauth2; do
		s=$(stack_subject "oauth2-$mode-$mech")
		oauth_config $mode "auth $mech"
		stack_msg "$s" >"$INPUT"
		run_envoi -C "$CONF" -a stack -v bob@example.org
		is_status 0 "$mode, $mech: exit 0"
		f=$(stack_wait bob@example.org "$s")
		is "$(stack_sasl_method "$f")" "${mech^^}" "$mode, $mech: delivered, Postfix logged ${mech^^}"
	done
done
is "$(refreshes)" "$before" "a valid stored token: no refresh request"

# ---- the access token expired at the server (a 1-second lifetime):
# refreshed before AUTH, silently, and delivered
# short_token: a send that refreshes, getting a token that lives 1 s.
short_token() {
	set_ttl 1
	set_expires 1
	stack_msg "$(stack_subject "$1")" >"$INPUT"
	run_envoi -C "$CONF" -a stack bob@example.org
	remember
	set_ttl 3600
	sleep 2
}
oauth_config starttls "auth oauthbearer"
short_token prime
SHORT=$(store_value access_token)
is "$(active "$SHORT")" False "expired: the server no longer accepts the 1-second token"
# sent_refreshed LABEL MECH MODE AUTHS: a message sent with -v after
# exactly one refresh request, with AUTHS AUTH commands on one
# connection: 1 when the store knew the token had expired (refreshed
# before AUTH), 2 when Dovecot refused it for real (refreshed, AUTH again).
sent_refreshed() {
	local s
	before=$(refreshes)
	s=$(stack_subject "$1")
	oauth_config "$3" "auth $2"
	stack_msg "$s" >"$INPUT"
	run_envoi -C "$CONF" -a stack -v bob@example.org
	remember
	is_status 0 "$1: exit 0"
	ok "$1: delivered" stack_delivered bob@example.org "$s"
	is "$(refreshes)" $((before + 1)) "$1: one refresh request"
	if [ "$4" = 1 ]; then
		like "$STDERR" "oauth2: the stored access token expires within 60 s: refreshed it" \
			"$1: -v tells of the refresh before AUTH"
	else
		like "$STDERR" "535 5\\.7\\.8 .*authentication failed" "$1: Dovecot refused the first token (535)"
		like "$STDERR" "oauth2: the server refused the access token; refreshed it, AUTH again" \
			"$1: -v tells of the refresh after the refusal"
	fi
	is "$(grep -c "AUTH ${2^^}" "$TESTDIR/envoi$_envoi_n.err")" "$4" "$1: AUTH $4 time(s)"
	is "$(grep -c '^<-- 220 .*ESMTP' "$TESTDIR/envoi$_envoi_n.err")" 1 "$1: on one connection (one greeting)"
}
sent_refreshed expired oauthbearer starttls 1

# ---- expired at the server while the store says it is valid: Dovecot
# refuses it for real; envoi refreshes once and runs AUTH again on the
# same connection
short_token prime2
set_expires $(( $(date +%s) + 3000 ))
sent_refreshed "expired, store says valid" xoauth2 smtps 2
cp "$TESTDIR/envoi$_envoi_n.err" "$TESTDIR/transcript-refused"

# ---- the access token revoked at the server
AT=$(store_value access_token)
revoke "$AT" access_token
is "$(active "$AT")" False "revoked: the server no longer accepts the token"
sent_refreshed "access token revoked" oauthbearer starttls 2

# ---- the token endpoint in trouble (503) when a refresh is due: the
# message is queued (exit 0) with the reason, and a queue run delivers it
# once the endpoint answers again
oauth_down 1
set_expires 1
s=$(stack_subject endpoint-down)
oauth_config starttls "auth oauthbearer" "queue_retrier off"
stack_msg "$s" >"$INPUT"
run_envoi -C "$CONF" -a stack bob@example.org
is_status 0 "endpoint down: exit 0, queued"
like "$STDERR" "queued .*token endpoint: HTTP 503" "endpoint down: says why"
ok "endpoint down: not delivered yet" stack_absent bob@example.org "$s"
oauth_down 0
run_envoi -C "$CONF" -a stack -q
remember
is_status 0 "endpoint back: the queue run succeeds"
ok "endpoint back: delivered" stack_delivered bob@example.org "$s"
run_envoi -C "$CONF" -a stack -bp
like "$STDOUT" "empty" "endpoint back: the queue is empty"

# ---- the refresh token revoked too: 77 naming the login command
revoke "$(store_value access_token)" access_token
revoke "$(store_value refresh_token)" refresh_token
s=$(stack_subject grant-revoked)
auths=$(stack_auth_count)
oauth_config starttls "auth xoauth2"
stack_msg "$s" >"$INPUT"
run_envoi -C "$CONF" -a stack -v bob@example.org
is_status 77 "grant revoked: exit 77"
like "$(tail -1 <<<"$STDERR")" "account stack: the provider refused the grant .*; run: envoi --oauth2-login stack\$" \
	"grant revoked: one line naming the login command"
ok "grant revoked: nothing delivered" \
	eval 'stack_absent bob@example.org "$s" && [ "$(stack_auth_count)" = "$auths" ]'

ok "nothing secret in any output (-v included)" no_secret
# The transcript of the refusal, the refresh and the second AUTH.
diag "$(grep -E 'AUTH|^envoi: oauth2|oauth2:|535|334|235' "$TESTDIR/transcript-refused" | head -20)"
done_testing
