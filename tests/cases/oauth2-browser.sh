#!/bin/bash
# oauth2-browser.sh - envoi --oauth2-login for a provider without a device
# endpoint (google; custom with oauth2_auth_url only): the authorization
# code grant with PKCE (RFC 7636) and a loopback redirect (RFC 8252),
# against the real authorization server (oidc-provider, tests/oauth).
# envoi prints the URL to open; "the browser" (curl, following redirects
# through the server's own interaction pages) brings the code back to
# 127.0.0.1; a stray request and one with a wrong state are turned away
# without ending the wait; the code is exchanged with the verifier (the
# server requires PKCE of a native client) and the grant stored; the
# stored grant refreshes (through https_proxy when set, unless no_proxy
# says otherwise); the listener is gone afterwards; a provider's
# error redirect (the user refused) gives 77; nothing secret is printed.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"
. "$top_srcdir/tests/oauth/functions.sh"

command -v curl >/dev/null 2>&1 || skip_all "curl missing"
DRIVE=$top_builddir/tests/oauth2-drive
[ -x "$DRIVE" ] || bail_out "no $DRIVE (make check builds it)"
oauth_start
CA=$OAUTH_CA
oauth_store web
CONF=$TESTDIR/conf
write_config "$CONF" <<CONF
account web
host 127.0.0.1
user alice@example.test
oauth2_provider custom
oauth2_client_id envoi-test
oauth2_token_url $URL/token
oauth2_auth_url $URL/auth
oauth2_scope "openid offline_access"
tls_trust_file $CA
timeout 30
CONF
store_value() { sed -n "s/^$1 //p" "$STORE"; }
param() { sed -n "s/.*[?&]$1=\\([^&]*\\).*/\\1/p" <<<"$LOGIN_URL"; }

# login_start: envoi --oauth2-login web in the background (LOGIN_PID),
# once it has printed the URL to open (LOGIN_URL) and the port it waits
# on (PORT).
login_start() {
	oauth_login_start "$CONF" web '^Waiting'
	LOGIN_URL=$(sed -n 's/^  \(https:.*\)$/\1/p' "$TESTDIR/login.out")
	PORT=$(param redirect_uri | sed -n 's/^http%3A%2F%2F127\.0\.0\.1%3A\([0-9]*\)%2F$/\1/p')
}
# loop URL-PATH: what envoi's listener answers (the status code), 000
# when nothing listens.
loop() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT$1"; }

# ---- the login
login_start
like "$(head -1 "$TESTDIR/login.out")" "^To sign in, open this URL in a browser on this machine:" \
    "login: says what to open"
like "$LOGIN_URL" "^$URL/auth\\?response_type=code&client_id=envoi-test&" "login: the authorization endpoint"
like "$PORT" '^[0-9]+$' "login: redirect_uri is http://127.0.0.1:PORT/ (RFC 8252)"
is "$(param code_challenge_method)" S256 "login: PKCE with S256"
like "$(param code_challenge)" '^[A-Za-z0-9_-]{43}$' "login: a 43-character challenge"
like "$(param state)" '^[A-Za-z0-9_-]{43}$' "login: a 43-character state"
is "$(loop /favicon.ico)" 404 "stray request: 404"
is "$(loop "/?code=forged&state=wrong")" 400 "forged redirect (wrong state): 400"
ok "the wait goes on after both" kill -0 "$LOGIN_PID"

# The browser: the server's pages sign in and consent at once
# (server.mjs), then redirect to envoi's listener.
page=$(curl -sS --cacert "$CA" -c "$TESTDIR/jar" -b "$TESTDIR/jar" -L "$LOGIN_URL")
like "$page" "envoi: signed in" "browser: envoi's page after the redirect"
wait "$LOGIN_PID"
is "$?" 0 "login: exit 0 ($(cat "$TESTDIR/login.err"))"
like "$(tail -1 "$TESTDIR/login.out")" "^Signed in: account web sends with OAuth 2.0" "login: says so"
is "$(loop /)" 000 "the listener is gone after the one redirect"
is "$(stat -c %a "$STORE" 2>/dev/null)" 600 "login: the store is private"
RT=$(store_value refresh_token)
AT=$(store_value access_token)
isnt "$RT" "" "login: a refresh token is stored"
is "$(oauth_active "$AT")" True "login: the server considers the access token active"
unlike "$(cat "$TESTDIR/login.out" "$TESTDIR/login.err")" "$RT|$AT" "login: prints no token"

# ---- the grant refreshes like a device-flow one
before=$(oauth_refreshes)
sed -i 's/^expires .*/expires 1/' "$STORE"
TOKEN=$("$DRIVE" token "$CONF" web 2>"$TESTDIR/err")
is "$?" 0 "refresh: a token ($(cat "$TESTDIR/err"))"
is "$(oauth_refreshes)" $((before + 1)) "refresh: one request"
isnt "$(store_value refresh_token)" "$RT" "refresh: the rotated refresh token is saved"
is "$(oauth_active "$TOKEN")" True "refresh: the new token is active"

# ---- https_proxy is honoured for the token endpoint (envoi.conf(5)),
# and no_proxy with it: a proxy that is not there is a temporary failure
sed -i 's/^expires .*/expires 1/' "$STORE"
https_proxy=http://127.0.0.1:9 no_proxy= "$DRIVE" token "$CONF" web >/dev/null 2>"$TESTDIR/err"
is "$?" 75 "https_proxy: the token request goes to the proxy: 75 ($(cat "$TESTDIR/err"))"
https_proxy=http://127.0.0.1:9 no_proxy=127.0.0.1 "$DRIVE" token "$CONF" web >/dev/null 2>"$TESTDIR/err"
is "$?" 0 "no_proxy: the endpoint is reached directly ($(cat "$TESTDIR/err"))"

# ---- the user refuses: the provider redirects with error=access_denied
login_start
is "$(loop "/?error=access_denied&state=$(param state)")" 200 "refused: envoi answers the browser"
wait "$LOGIN_PID"
is "$?" 77 "refused: exit 77"
like "$(cat "$TESTDIR/login.err")" "the sign-in did not succeed \\(access_denied\\)" "refused: says why"
is "$(loop /)" 000 "refused: the listener is gone"

done_testing
