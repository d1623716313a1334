#!/bin/sh
# Integration: a big message (ENVOI_BIG_MB, default 100; 10 under
# valgrind) through the real Postfix + Dovecot stack (tests/stack),
# delivered byte-identical: the delivered copy, minus the trace headers
# Postfix prepends (Return-Path, X-Original-To, Delivered-To, its own
# Received), equals the input (which has all its headers, so envoi adds
# none). The body has lines that need dot-stuffing. envoi's peak RSS is
# reported as a diagnostic and must stay small (streaming, not slurping).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/stack/functions.sh"

if [ -n "${ENVOI_UNDER_VALGRIND:-}" ] || [ -n "$ENVOI_WRAP" ]; then
	mb=${ENVOI_BIG_MB:-10}
else
	mb=${ENVOI_BIG_MB:-100}
fi
# Peak RSS allowed, in kB: the point is that it does not grow with the
# message; 64 MB leaves room for GnuTLS and a sanitizer's bookkeeping.
rss_max=${ENVOI_BIG_RSS_MAX_KB:-65536}

# Input, envoi's spool, Postfix's queue file and the Maildir copy.
avail=$(df -Pk /tmp | awk 'NR == 2 { print $4 }')
[ "$avail" -gt $((mb * 1024 * 5)) ] ||
	tap_skip_all "needs $((mb * 5)) MB free in /tmp for a $mb MB message"

stack_up
tap_plan 6
conf=$stack_tmp/envoi.conf
msg=$stack_tmp/big
stack_config "$conf" starttls

# --- the message: full headers, then base64 lines (76 columns) where every
# 1000th line starts with "." (dot-stuffing on the wire, unstuffing by
# Postfix). Deterministic content is not needed; the input is kept.
s=$(stack_subject "big ${mb}MB")
t0=$(date +%s)
{
	printf 'From: Alice <alice@example.org>\nTo: Bob <bob@example.org>\n'
	printf 'Subject: %s\nDate: Mon, 02 Jan 2023 03:04:05 +0000\n' "$s"
	printf 'Message-ID: <big-%s@example.org>\nMIME-Version: 1.0\n' "$$"
	printf 'Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n'
	head -c $((mb * 1024 * 1024 * 3 / 4)) /dev/urandom | base64 -w 76 |
		awk 'NR % 1000 == 0 { $0 = "." $0 } { print }'
} >"$msg"
tap_diag "input: $(wc -c <"$msg") bytes, $(wc -l <"$msg") lines, made in $(($(date +%s) - t0)) s"

# --- send it, measuring envoi's peak RSS: GNU time if present and envoi
# runs bare, else VmHWM polled from /proc (a lower bound, sampled).
rss=
t0=$(date +%s)
if [ -z "$ENVOI_WRAP" ] && /usr/bin/time -f %M true >/dev/null 2>&1; then
	/usr/bin/time -o "$stack_tmp/time" -f %M "$ENVOI" -C "$conf" -i bob@example.org \
		<"$msg" >"$stack_tmp/big.out" 2>"$stack_tmp/big.err"
	envoi_rc=$?
	rss=$(tail -1 "$stack_tmp/time")
	how="GNU time"
else
	# shellcheck disable=SC2086
	$ENVOI_WRAP "$ENVOI" -C "$conf" -i bob@example.org \
		<"$msg" >"$stack_tmp/big.out" 2>"$stack_tmp/big.err" &
	pid=$!
	while kill -0 $pid 2>/dev/null; do
		v=$(awk '/^VmHWM:/ { print $2 }' /proc/$pid/status 2>/dev/null)
		[ -n "$v" ] && rss=$v
		sleep 0.05
	done
	wait $pid
	envoi_rc=$?
	how="VmHWM polling"
	[ -n "$ENVOI_WRAP" ] && how="$how of the wrapper ($ENVOI_WRAP)"
fi
secs=$(($(date +%s) - t0))
envoi_err=$(cat "$stack_tmp/big.err")
tap_is "$envoi_rc" 0 "${mb} MB message: exit 0" || tap_diag "stderr: $envoi_err"
tap_diag "envoi: ${mb} MB in ${secs} s, peak RSS ${rss:-unknown} kB ($how)"

f=$(stack_wait bob@example.org "$s" 120)
tap_ok $? "${mb} MB message: delivered"

# --- compare
body_sum() { stack_body "$1" | sha256sum | cut -d' ' -f1; }
# The delivered file minus Postfix's leading trace headers.
strip_trace() {
	awk 'done { print; next }
		/^(Return-Path|X-Original-To|Delivered-To):/ { next }
		/^Received:/ && !seen { seen = 1; inrcv = 1; next }
		inrcv && /^[ \t]/ { next }
		{ done = 1; print }' "$1"
}
tap_is "$(body_sum "$f")" "$(body_sum "$msg")" "${mb} MB message: body byte-identical"
tap_is "$(strip_trace "$f" | sha256sum)" "$(sha256sum <"$msg")" \
	"${mb} MB message: whole message byte-identical (headers untouched)"
tap_is "$(stack_header "$f" Return-Path)" "<alice@example.org>" \
	"${mb} MB message: envelope sender from the account"

# --- memory: flat, not proportional to the message
if [ -n "$ENVOI_WRAP" ] || [ -z "$rss" ]; then
	tap_skip 1 "peak RSS not meaningful under ${ENVOI_WRAP:-an unmeasured run}"
elif grep -qa __asan_init "$ENVOI"; then
	# ASan's shadow memory and quarantine (up to 256 MB of freed blocks)
	# measure the sanitizer, not envoi.
	tap_skip 1 "peak RSS not meaningful under AddressSanitizer"
else
	[ "$rss" -le "$rss_max" ]
	tap_ok $? "peak RSS ${rss} kB <= ${rss_max} kB" || true
fi
