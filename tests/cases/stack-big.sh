#!/bin/bash
# Integration: a big message (ENVOI_BIG_MB, default 100; 10 when envoi runs
# under a wrapper such as valgrind) through the real Postfix + Dovecot stack
# (tests/stack), delivered byte-identical: the delivered copy minus the trace
# headers Postfix prepends (Return-Path, X-Original-To, Delivered-To, its own
# Received) equals the input, which carries all its headers so envoi adds
# none. Every 1000th body line starts with "." (dot-stuffing on the wire).
# envoi's peak RSS is printed as a diagnostic and must stay small
# (streaming, not slurping).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"
. "$top_srcdir/tests/stack/functions.sh"

if [ -n "$ENVOI_WRAP" ] || [ -n "${ENVOI_UNDER_VALGRIND:-}" ]; then
	mb=${ENVOI_BIG_MB:-10}
else
	mb=${ENVOI_BIG_MB:-100}
fi
# Peak RSS allowed, in kB: the point is that it does not grow with the
# message; 64 MB leaves room for GnuTLS and libc arenas.
rss_max=${ENVOI_BIG_RSS_MAX_KB:-65536}

# The input, envoi's spool copy, Postfix's queue file and the Maildir copy.
for d in "$TESTDIR" /tmp; do
	avail=$(df -Pk "$d" | awk 'NR == 2 { print $4 }')
	[ "$avail" -gt $((mb * 1024 * 5)) ] ||
		skip_all "needs $((mb * 5)) MB free in $d for a $mb MB message"
done

stack_up
plan 6
CONF=$TESTDIR/envoi.conf
INPUT=$TESTDIR/big
stack_config "$CONF" starttls

# --- the message: all headers, then 76-column base64 lines
s=$(stack_subject "big ${mb}MB")
t0=$(date +%s)
{
	printf 'From: Alice <alice@example.org>\nTo: Bob <bob@example.org>\n'
	printf 'Subject: %s\nDate: Mon, 02 Jan 2023 03:04:05 +0000\n' "$s"
	printf 'Message-ID: <big-%s@example.org>\nMIME-Version: 1.0\n' "$$"
	printf 'Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n'
	head -c $((mb * 1024 * 1024 * 3 / 4)) /dev/urandom | base64 -w 76 |
		awk 'NR % 1000 == 0 { $0 = "." $0 } { print }'
} >"$INPUT"
diag "input: $(wc -c <"$INPUT") bytes, $(wc -l <"$INPUT") lines, made in $(($(date +%s) - t0)) s"

# --- send it, measuring envoi's peak RSS: GNU time when envoi runs bare,
# else VmHWM polled from /proc (of the wrapper, if any).
rss=
how=
if [ -z "$ENVOI_WRAP" ] && /usr/bin/time -f %M true >/dev/null 2>&1; then
	ENVOI_WRAP="/usr/bin/time -o $TESTDIR/time -f %M"
	run_envoi -C "$CONF" -i bob@example.org
	ENVOI_WRAP=
	rss=$(tail -n 1 "$TESTDIR/time")
	how="GNU time"
else
	t0=$(date +%s.%N)
	# shellcheck disable=SC2086
	$ENVOI_WRAP "$ENVOI" -C "$CONF" -i bob@example.org \
		<"$INPUT" >"$TESTDIR/big.out" 2>"$TESTDIR/big.err" &
	pid=$!
	while kill -0 $pid 2>/dev/null; do
		v=$(awk '/^VmHWM:/ { print $2 }' /proc/$pid/status 2>/dev/null)
		[ -n "$v" ] && rss=$v
		sleep 0.05
	done
	wait $pid
	STATUS=$?
	STDERR=$(cat "$TESTDIR/big.err")
	ELAPSED=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
	how="VmHWM polling${ENVOI_WRAP:+ of ${ENVOI_WRAP%% *}}"
fi
is_status 0 "${mb} MB message: exit 0"
diag "envoi: ${mb} MB in ${ELAPSED} s, peak RSS ${rss:-unknown} kB ($how)"

f=$(stack_wait bob@example.org "$s" 120)
ok "${mb} MB message: delivered" [ -n "$f" ]

# --- compare
body_sum() { [ -f "$1" ] && stack_body "$1" | sha256sum | cut -d' ' -f1; }
# The delivered file minus Postfix's leading trace headers.
strip_trace() {
	[ -f "$1" ] && awk 'done { print; next }
		/^(Return-Path|X-Original-To|Delivered-To):/ { next }
		/^Received:/ && !seen { seen = 1; inrcv = 1; next }
		inrcv && /^[ \t]/ { next }
		{ done = 1; print }' "$1"
}
is "$(body_sum "$f")" "$(body_sum "$INPUT")" "${mb} MB message: body byte-identical"
is "$(strip_trace "$f" | sha256sum)" "$(sha256sum <"$INPUT")" \
	"${mb} MB message: whole message byte-identical (headers untouched)"
is "$(stack_header "$f" Return-Path)" "<alice@example.org>" \
	"${mb} MB message: envelope sender from the account"

# --- memory: flat, not proportional to the message
if [ -n "$ENVOI_WRAP" ] || [ -z "$rss" ]; then
	skip "peak RSS bound" "not meaningful under ${ENVOI_WRAP:-an unmeasured run}"
elif grep -qa __asan_init "$ENVOI"; then
	# ASan's shadow memory and quarantine measure the sanitizer.
	skip "peak RSS bound" "not meaningful under AddressSanitizer"
else
	ok "peak RSS ${rss} kB <= ${rss_max} kB" [ "$rss" -le "$rss_max" ]
fi
# The input and the delivered copy are big; keep neither on success.
rm -f "$INPUT"
