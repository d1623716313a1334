# tests/oauth/functions.sh - sourced by the tests that run the test
# authorization server (tests/oauth/start.sh): its counters and controls,
# as curl calls with OAUTH_URL (its issuer) and OAUTH_CA (the CA of its
# certificate) set by the caller.

# oauth_refreshes: successful refresh_token grants the server has counted.
oauth_refreshes() {
	curl -sS --cacert "$OAUTH_CA" "$OAUTH_URL/test/stats" | python3 -c \
	    'import json,sys; print(json.load(sys.stdin).get("refresh_token", {}).get("success", 0))'
}
# oauth_active TOKEN: what introspection (as Dovecot's passdb asks) says
# of it: True or False.
oauth_active() {
	curl -sS --cacert "$OAUTH_CA" -u dovecot:dovecot-test-secret -d "token=$1" \
	    "$OAUTH_URL/token/introspection" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["active"])'
}
# oauth_revoke TOKEN access_token|refresh_token: RFC 7009 revocation, as
# the client (envoi-test) may do for its own tokens.
oauth_revoke() {
	curl -sS --cacert "$OAUTH_CA" -d client_id=envoi-test -d "token=$1" \
	    -d "token_type_hint=$2" "$OAUTH_URL/token/revocation" >/dev/null
}
# oauth_ttl SECONDS: the lifetime of the access tokens issued from now on.
oauth_ttl() {
	curl -sS --cacert "$OAUTH_CA" "$OAUTH_URL/test/ttl?seconds=$1" >/dev/null
}
# oauth_login_start CONF ACCOUNT: envoi --oauth2-login in the background
# (LOGIN_PID; its output in $TESTDIR/login.out and login.err), once it
# has printed where to sign in: VERIFY is the URL with the code.
oauth_login_start() {
	"$ENVOI" -C "$1" --oauth2-login "$2" >"$TESTDIR/login.out" 2>"$TESTDIR/login.err" &
	LOGIN_PID=$!
	for _ in $(seq 100); do
		grep -q '^(or open ' "$TESTDIR/login.out" && break
		sleep 0.1
	done
	VERIFY=$(sed -n 's/^(or open \(.*\))$/\1/p' "$TESTDIR/login.out")
}
