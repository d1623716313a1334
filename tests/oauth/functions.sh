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
# oauth_down 1|0: the token endpoint answers 503 from now on, or again
# as it should.
oauth_down() {
	curl -sS --cacert "$OAUTH_CA" "$OAUTH_URL/test/down?on=$1" >/dev/null
}
# oauth_ttl SECONDS: the lifetime of the access tokens issued from now on.
oauth_ttl() {
	curl -sS --cacert "$OAUTH_CA" "$OAUTH_URL/test/ttl?seconds=$1" >/dev/null
}
# oauth_login_start CONF ACCOUNT [READY]: envoi --oauth2-login in the
# background (LOGIN_PID; its output in $TESTDIR/login.out and login.err),
# once it has printed a line matching READY (default: the device flow's
# "(or open URL)"): VERIFY is that URL.
oauth_login_start() {
	"$ENVOI" -C "$1" --oauth2-login "$2" >"$TESTDIR/login.out" 2>"$TESTDIR/login.err" &
	LOGIN_PID=$!
	for _ in $(seq 100); do
		grep -q "${3:-^(or open }" "$TESTDIR/login.out" && break
		sleep 0.1
	done
	VERIFY=$(sed -n 's/^(or open \(.*\))$/\1/p' "$TESTDIR/login.out")
}

# oauth_start [CERTDIR]: start the server (tests/oauth/start.sh) with
# CERTDIR's certificate (default lib.sh's), stopped when the test exits:
# OAUTH_PID, URL (= OAUTH_URL), OAUTH_CA. Skips without node or npm.
oauth_start() {
	local out certs=${1:-$CERTDIR}
	out=$(sh "$top_srcdir/tests/oauth/start.sh" "$top_builddir/tests/oauth" "$certs")
	case $? in
	0) ;;
	77) skip_all "node or npm missing" ;;
	*) bail_out "the authorization server did not start" ;;
	esac
	read -r OAUTH_PID URL <<<"$out"
	trap 'kill "$OAUTH_PID" 2>/dev/null; _cleanup' EXIT
	OAUTH_URL=$URL OAUTH_CA=$certs/ca.pem
}

# oauth_store ACCOUNT: STORE, the account's token store file (root's is
# under the test's private state dir, tests/isolate.sh).
oauth_store() {
	if [ "$(id -u)" = 0 ]; then
		iso_hide "$ENVOI_LOCALSTATEDIR/lib/envoi" || bail_out "cannot hide the state dir"
		STORE=$ENVOI_LOCALSTATEDIR/lib/envoi/oauth2/$1
	else
		STORE=$XDG_STATE_HOME/envoi/oauth2/$1
	fi
}
