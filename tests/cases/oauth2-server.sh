#!/bin/bash
# oauth2-server.sh - the OAuth 2.0 token store and endpoint client
# (src/oauth2.c, src/oauth2http.c) against a real authorization server
# (oidc-provider, tests/oauth/server.mjs) on loopback over TLS with the
# test CA: a device-flow login approved through the server's own pages;
# a valid token reused without a request; an expired one refreshed, the
# rotated refresh token saved; a refused one refreshed; envoi sending
# with the stored token (STARTTLS and implicit TLS, OAUTHBEARER and
# XOAUTH2, nothing secret in -v) and refreshing an expired one before
# AUTH; twenty concurrent runs on an expired token making one refresh
# request; the SMTP server refusing a token: refreshed, AUTH again on the
# same connection; a revoked grant giving 77 with the login command; the
# endpoint down giving 75, or with the queue on exit 0 and the entry
# queued with its reason; a queue run against a server that forgot the
# grant keeping the entry; a store others can read refused (78). tests/oauth2-drive
# asks the store for a token directly, as a send does before AUTH.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

DRIVE=$top_builddir/tests/oauth2-drive
[ -x "$DRIVE" ] || bail_out "no $DRIVE (make check builds it)"
. "$top_srcdir/tests/oauth/functions.sh"
oauth_start
CA=$OAUTH_CA
oauth_store work

CONF=$TESTDIR/conf
write_config "$CONF" <<CONF
account work
host 127.0.0.1
user alice@example.test
oauth2_provider custom
oauth2_client_id envoi-test
oauth2_token_url $URL/token
oauth2_device_url $URL/device/auth
oauth2_scope "openid offline_access"
tls_trust_file $CA
timeout 30
CONF

refreshes() { oauth_refreshes; }
active() { oauth_active "$1"; }
store_value() { sed -n "s/^$1 //p" "$STORE"; }
expire() { sed -i 's/^expires .*/expires 1/' "$STORE"; }
token() {  # token [REFUSED]: sets STATUS TOKEN ERR
	TOKEN=$("$DRIVE" token "$CONF" work "$@" 2>"$TESTDIR/err")
	STATUS=$?
	ERR=$(cat "$TESTDIR/err")
}

# ---- envoi --oauth2-login: the device authorization grant, approved by
# "the user" through the server's pages
oauth_login_start "$CONF" work
like "$(head -1 "$TESTDIR/login.out")" "^To sign in, open $URL/device and enter the code [A-Z]{4}-[A-Z]{4}\$" \
    "login: tells where to go and the code"
like "$VERIFY" "^$URL/device\\?user_code=" "login: and the URL with the code"
ok "login: approved through the server's pages" sh "$top_srcdir/tests/oauth/approve.sh" "$VERIFY" "$CA"
wait "$LOGIN_PID"
is "$?" 0 "login: the poll gets the grant ($(cat "$TESTDIR/login.err"))"
like "$(tail -1 "$TESTDIR/login.out")" "^Signed in: account work sends with OAuth 2.0" "login: says so"
is "$(stat -c %a "$STORE" 2>/dev/null)" 600 "login: the store is private"
RT1=$(store_value refresh_token)
isnt "$RT1" "" "login: a refresh token is stored"
unlike "$(cat "$TESTDIR/login.out" "$TESTDIR/login.err")" "$RT1|$(store_value access_token)" \
    "login: prints no token"

# ---- a valid token: no request
before=$(refreshes)
token
is "$STATUS" 0 "valid: token ($ERR)"
is "$TOKEN" "$(store_value access_token)" "valid: the stored access token"
is "$(refreshes)" "$before" "valid: no refresh request"
is "$(active "$TOKEN")" True "valid: the server considers it active"

# ---- expired: refreshed, the rotated refresh token saved
OLD=$TOKEN
expire
token
is "$STATUS" 0 "expired: token ($ERR)"
isnt "$TOKEN" "$OLD" "expired: a new access token"
is "$(refreshes)" $((before + 1)) "expired: one refresh request"
RT2=$(store_value refresh_token)
isnt "$RT2" "$RT1" "expired: the rotated refresh token is saved"
is "$(active "$TOKEN")" True "expired: the new token is active"
now=$(date +%s)
exp=$(store_value expires)
ok "expired: the new expiry is about an hour ahead" [ "$exp" -gt $((now + 3500)) ]

# ---- the server refused the token: refreshed once
token "$TOKEN"
is "$STATUS" 0 "refused: token ($ERR)"
is "$(refreshes)" $((before + 2)) "refused: one refresh request"

# ---- envoi itself: the stored token over STARTTLS and implicit TLS, with
# each mechanism, then an expired one refreshed at send time
INPUT=$TESTDIR/message
std_message oauth2 >"$INPUT"
SMTPCONF=$TESTDIR/smtpconf
# envoi_conf [DIRECTIVE...]: std_config's account, as "work", with OAuth.
envoi_conf() {
	std_config "$SMTPCONF" "user alice@example.test" "oauth2_provider custom" \
	    "oauth2_client_id envoi-test" "oauth2_token_url $URL/token" \
	    "oauth2_device_url $URL/device/auth" "$@"
	sed -i -e '/^password /d' -e 's/^account default$/account work/' "$SMTPCONF"
}
before=$(refreshes)
for mode in starttls implicit; do
	for mech in OAUTHBEARER XOAUTH2; do
		start_server - <<SRV
tls $mode
auth PLAIN $mech
token alice@example.test $(store_value access_token)
SRV
		if [ "$mode" = implicit ]; then
			envoi_conf "tls_starttls off"
		else
			envoi_conf
		fi
		run_envoi -C "$SMTPCONF" -a work -v bob@example.org <"$INPUT"
		wait_server
		is "$STATUS" 0 "envoi, $mode, server offers $mech: sent ($(tail -1 <<<"$STDERR"))"
		like "$(grep '^I: authenticated' "$TRANSCRIPT")" "alice@example.test with $mech\$" \
		    "envoi, $mode: the server accepted the stored token with $mech"
		unlike "$STDERR" "$(store_value access_token)|$(store_value refresh_token)" \
		    "envoi, $mode, $mech: no token in the -v output"
	done
done
is "$(refreshes)" "$before" "envoi: a valid stored token, no refresh request"

# send_accepting TOKEN: one message through a STARTTLS server that
# accepts TOKEN (only) with OAUTHBEARER.
serve_token() {  # serve_token TOKEN: that server, and the config for it
	start_server - <<SRV
tls starttls
auth OAUTHBEARER
token alice@example.test $1
SRV
	envoi_conf
}
send_accepting() {
	serve_token "$1"
	run_envoi -C "$SMTPCONF" -a work -v bob@example.org <"$INPUT"
	wait_server
}
expire
OLD=$(store_value access_token)
# (this server takes only the old token: the refreshed one is refused, so
# envoi refreshes once more and runs AUTH again, see below)
send_accepting "$OLD"
is "$(refreshes)" $((before + 2)) "envoi, expired token: refreshed before AUTH (and after the refusal)"
NEW=$(store_value access_token)
isnt "$NEW" "$OLD" "envoi, expired token: the new token is stored"
unlike "$(grep '^I: authenticated' "$TRANSCRIPT")" . "envoi, expired token: the old token was not sent"
like "$STDERR" "oauth2: the stored access token expires within 60 s: refreshed it" \
    "envoi, expired token: -v says it was refreshed"
unlike "$STDERR" "$OLD|$NEW|$(store_value refresh_token)" "envoi, expired token: no token in -v"
send_accepting "$NEW"
is "$STATUS" 0 "envoi, refreshed token: accepted by the server ($(tail -1 <<<"$STDERR"))"
is "$(refreshes)" $((before + 2)) "envoi, refreshed token: reused, no further refresh"

# ---- the SMTP server refuses a token the store thinks valid (RFC 7628's
# error challenge, then 535): refreshed once, AUTH again on the same
# connection (the scripted server takes one connection); refused again,
# the failure is the server's 535 (77)
before=$(refreshes)
OLD=$(store_value access_token)
send_accepting not-the-token
is "$STATUS" 77 "refused at AUTH: 77 after the second refusal"
is "$(refreshes)" $((before + 1)) "refused at AUTH: one refresh request"
is "$(commands | grep -c '^AUTH OAUTHBEARER ')" 2 "refused at AUTH: AUTH again on the same connection"
like "$STDERR" "oauth2: the server refused the access token; refreshed it, AUTH again" \
    "refused at AUTH: -v says so"
isnt "$(store_value access_token)" "$OLD" "refused at AUTH: the refreshed token is stored"
like "$STDERR" "535" "refused at AUTH: the server's reply is reported"

# ---- twenty concurrent runs on an expired token: one refresh
expire
before=$(refreshes)
pids=()
for i in $(seq 20); do
	"$DRIVE" token "$CONF" work >"$TESTDIR/c$i.out" 2>"$TESTDIR/c$i.err" &
	pids+=($!)
done
good=0
for p in "${pids[@]}"; do wait "$p" && good=$((good + 1)); done
is "$good" 20 "concurrency: all twenty got a token"
is "$(refreshes)" $((before + 1)) "concurrency: exactly one refresh request"
is "$(sort -u "$TESTDIR"/c*.out | wc -l)" 1 "concurrency: all twenty use the same token"

# ---- revoked at the server: 77 naming the login command, no secret
RT=$(store_value refresh_token)
oauth_revoke "$RT" refresh_token
expire
token
is "$STATUS" 77 "revoked: exit 77"
like "$ERR" "account work: the provider refused the grant \\(invalid_grant.*; run: envoi --oauth2-login work$" \
    "revoked: one line naming the login command"
unlike "$ERR" "$RT" "revoked: no refresh token in the message"

# ... and envoi's own submission says the same (77), with the queue on
ENVOI_QUEUE_ON=1
send_accepting unused
is "$STATUS" 77 "revoked, envoi: exit 77"
like "$STDERR" "; run: envoi --oauth2-login work$" "revoked, envoi: names the login command"
run_envoi -C "$SMTPCONF" -a work -bp
like "$STDOUT" "Mail queue is empty" "revoked, envoi: nothing queued: the caller has the message (as for AUTH 535)"
ENVOI_QUEUE_ON=0

# ---- the token endpoint down: temporary
kill "$OAUTH_PID"
wait "$OAUTH_PID" 2>/dev/null
token
is "$STATUS" 75 "endpoint down: exit 75 ($ERR)"
like "$ERR" "token refresh: $URL/token: " "endpoint down: names the endpoint"

# ... and a message sent meanwhile is queued (exit 0), with the reason
ENVOI_QUEUE_ON=1
serve_token unused
run_envoi -C "$SMTPCONF" -a work bob@example.org <"$INPUT"
stop_server
is "$STATUS" 0 "endpoint down: the message is queued, exit 0 ($(tail -1 <<<"$STDERR"))"
run_envoi -C "$SMTPCONF" -a work -bp
like "$STDOUT" "bob@example.org" "endpoint down: mailq lists it"
like "$STDOUT" "token refresh: $URL/token" "endpoint down: with the reason"

# ... the server returns (on the same port) knowing nothing of the grant:
# a queue run keeps the entry, with the login command as the reason
out=$(OAUTH_PORT=${URL##*:} sh "$top_srcdir/tests/oauth/start.sh" "$top_builddir/tests/oauth" "$CERTDIR") ||
	bail_out "the authorization server did not restart"
read -r OAUTH_PID _ <<<"$out"
serve_token unused
run_envoi -C "$SMTPCONF" -a work -q
stop_server
run_envoi -C "$SMTPCONF" -a work -bp
like "$STDOUT" "bob@example.org" "queue run, grant unknown: the entry is kept"
like "$STDOUT" "envoi --oauth2-login work" "queue run, grant unknown: the reason names the login command"
kill "$OAUTH_PID"
ENVOI_QUEUE_ON=0

# ---- a store others can read is refused
chmod 644 "$STORE"
token
is "$STATUS" 78 "loose store: exit 78"
like "$ERR" "chmod 600" "loose store: says how to fix it"

done_testing
