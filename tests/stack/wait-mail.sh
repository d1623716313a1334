#!/bin/sh
# tests/stack/wait-mail.sh DIR ADDRESS [TEXT [SECONDS]]
#
# Waits until a message for ADDRESS (one of the stack's mailboxes, e.g.
# bob@example.org or bob@bücher.example) that contains TEXT (a fixed
# string, e.g. a unique Subject; empty = any message) is delivered into
# its Maildir under DIR/mail, and prints the file's path. Gives up after
# SECONDS (default 20) with a message on stderr and exit 1.

set -u
me=stack/wait-mail.sh
[ $# -ge 2 ] && [ $# -le 4 ] || {
	echo "usage: $me DIR ADDRESS [TEXT [SECONDS]]" >&2
	exit 64
}
dir=$1 addr=$2 text=${3-} secs=${4:-20}

local=${addr%@*}
domain=$(printf '%s' "${addr##*@}" | tr 'A-Z' 'a-z')
case $domain in
bücher.example | xn--bcher-kva.example) domain=xn--bcher-kva.example ;;
esac
local=$(printf '%s' "$local" | tr 'A-Z' 'a-z')
box=$dir/mail/$domain/$local/new

i=0
limit=$((secs * 10))
while :; do
	if [ -d "$box" ]; then
		for f in "$box"/*; do
			[ -f "$f" ] || continue
			# A Maildir file in new/ is complete: virtual(8) writes in
			# tmp/ and renames.
			if [ -z "$text" ] || grep -qF -e "$text" "$f"; then
				printf '%s\n' "$f"
				exit 0
			fi
		done
	fi
	i=$((i + 1))
	if [ $i -gt $limit ]; then
		echo "$me: no message for $addr${text:+ containing \"$text\"} in $box after ${secs}s" >&2
		exit 1
	fi
	sleep 0.1
done
