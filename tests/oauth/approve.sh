#!/bin/sh
# approve.sh URL CAFILE - approve a device code as the user's browser
# would: URL is the verification_uri_complete (https://.../device?
# user_code=CODE). The server's pages are forms of hidden inputs (the
# code, its xsrf token, the confirmation); each is posted back until the
# server says the sign-in succeeded (its /interaction/ pages sign in and
# consent by themselves, server.mjs). Exits 0 on success.
set -eu
url=${1:?usage: approve.sh URL CAFILE}
ca=${2:?usage: approve.sh URL CAFILE}
jar=$(mktemp "${TMPDIR:-/tmp}/envoi-approve.XXXXXX")
trap 'rm -f "$jar"' EXIT
page=$(curl -sS --cacert "$ca" -c "$jar" -b "$jar" -L "$url")
for step in 1 2 3 4; do
	case $page in *"Sign-in Success"*) exit 0 ;; esac
	action=$(printf '%s\n' "$page" | sed -n 's/.*<form[^>]* action="\([^"]*\)".*/\1/p' | head -1)
	[ -n "$action" ] || break
	set --
	for input in $(printf '%s\n' "$page" |
	    sed -n 's/.*<input type="hidden" name="\([^"]*\)" value="\([^"]*\)".*/\1=\2/p'); do
		set -- "$@" --data-urlencode "$input"
	done
	page=$(curl -sS --cacert "$ca" -c "$jar" -b "$jar" -L "$@" "$action")
done
echo "approve.sh: no sign-in success after $step steps" >&2
exit 1
