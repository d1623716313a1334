#!/bin/sh
# start.sh DIR CERTDIR - install (once per build tree) and start the test
# authorization server (server.mjs) on 127.0.0.1 over TLS.
#
# DIR receives a copy of package.json and package-lock.json and, through
# `npm ci`, the exact versions the lock pins (only when DIR/node_modules
# is missing or older than the lock). The server's output goes to
# DIR/server.log; on success this prints "PID URL" (the server's process
# id and its issuer, https://127.0.0.1:PORT) and exits 0. Exits 77 (the
# harness's "skip") when node or npm is missing, 1 on any other failure;
# with ENVOI_REQUIRE_OAUTH=1 (CI: .ci/run) a missing node or npm is a
# failure too, so that the OAuth 2.0 tests cannot pass by not running.
# The server's versions (package-lock.json: oidc-provider 8) run on
# Debian 12's own Node.js 18 as well as on 20 and 22.
# Extra settings come from the environment (server.mjs: OAUTH_AT_TTL,
# OAUTH_ACCOUNT, OAUTH_PORT).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: start.sh DIR CERTDIR}
certs=${2:?usage: start.sh DIR CERTDIR}

for tool in node npm; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "start.sh: $tool not found (tools/install-deps installs it)" >&2
		[ "${ENVOI_REQUIRE_OAUTH:-0}" != 1 ] || exit 1
		exit 77
	}
done
mkdir -p "$dir"
# Serialise concurrent tests installing into one build tree.
while ! mkdir "$dir/.install.lock" 2>/dev/null; do sleep 0.2; done
trap 'rmdir "$dir/.install.lock" 2>/dev/null || true' EXIT
if [ ! -d "$dir/node_modules/oidc-provider" ] ||
   [ "$here/package-lock.json" -nt "$dir/node_modules/.envoi-installed" ]; then
	cp "$here/package.json" "$here/package-lock.json" "$dir/"
	(cd "$dir" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error >npm.log 2>&1) || {
		echo "start.sh: npm ci failed:" >&2
		tail -5 "$dir/npm.log" >&2
		exit 1
	}
	touch "$dir/node_modules/.envoi-installed"
fi
cp "$here/server.mjs" "$dir/"
rmdir "$dir/.install.lock"
trap - EXIT

log=$dir/server.log.$$
OAUTH_CERT=$certs/server.pem OAUTH_KEY=$certs/server-key.pem \
	node "$dir/server.mjs" >"$log" 2>&1 &
pid=$!
i=0
while ! grep -q '^listening ' "$log" 2>/dev/null; do
	i=$((i + 1))
	if [ "$i" -gt 150 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "start.sh: the server did not start:" >&2
		tail -5 "$log" >&2
		kill "$pid" 2>/dev/null || true
		exit 1
	fi
	sleep 0.1
done
echo "$pid $(sed -n 's/^listening //p' "$log")"
