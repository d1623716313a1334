#!/bin/bash
# bench/big-message.sh [MB...]: peak resident memory of envoi sending a
# message of each size (default 10 100 1000 MB) over STARTTLS to the
# scripted test server on loopback. Prints figures; never fails on them.
# Run from a build tree after `make check` (needs tests/smtpd-script).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
sizes=${*:-10 100 1000}
CONF=$TESTDIR/conf
for mb in $sizes; do
	start_server - -T 600 <<'EOF'
tls starttls
auth PLAIN
user alice secret
cap SIZE 0
EOF
	std_config "$CONF"
	INPUT=$TESTDIR/big
	{ printf 'Subject: %s MB\n\n' "$mb"
	  yes 'The quick brown fox jumps over the lazy dog, 0123456789 abcdefghij.' |
	      head -c $((mb * 1024 * 1024)); } >"$INPUT"
	t0=$(date +%s.%N)
	"$ENVOI" -C "$CONF" bob@example.org <"$INPUT" &
	pid=$!
	peak=0
	while kill -0 "$pid" 2>/dev/null; do
		v=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
		[ -n "$v" ] && [ "$v" -gt "$peak" ] && peak=$v
		sleep 0.02
	done
	wait "$pid"; rc=$?
	t1=$(date +%s.%N)
	wait_server 30
	rm -f "$MAILDIR"/msg-*.eml "$INPUT"
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	diag "$(printf '%5d MB: exit %d, peak RSS %d kB, %s s' "$mb" "$rc" "$peak" "$secs")"
	pass "$mb MB sent (figures above)"
done
done_testing
