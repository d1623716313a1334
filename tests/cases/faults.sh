#!/bin/bash
# faults.sh - failing system calls (issue 10, part 2): for each scenario
# (a submission with the server up and down, a queue run of three
# entries, -bs with two messages, a maildrop write by uid 33 and root's
# pickup of two drop files) count envoi's calls of each function the
# shim tests/fault/fault.c wraps, then rerun failing one call at a time and
# check, for every run: no crash and no sanitizer report, a documented exit
# code (0 or a sysexits code), and the invariant: exit 0 only if the
# message was delivered or a complete entry is queued; non-zero only if
# nothing is sent later; no partial message is ever delivered; a later
# `envoi -q` without faults delivers every queued message exactly once.
# An injected EINTR must be retried, never reported: that run must end as
# a clean run does.
#
# Sampling, to stay within CI's budget (a run costs about half a second,
# a server start and a clean queue run included): per function, the call
# numbers failed are SAMPLE_NS (MALLOC_SAMPLES for malloc and realloc)
# spread evenly from 1 to the count, or all of them when there are fewer;
# the errno of a run is taken in turn from the list of those relevant to
# the function (errnos_for), starting at a different place per scenario,
# so consecutive samples see different errnos. The full matrix (6 call
# numbers per function) runs where sanitizer reports matter, under ASan;
# the plain pass (and distcheck) runs 2, and for malloc and realloc,
# which are injected in that pass only (see ASAN_LIB), every call of the
# submission, 12 of the queue run and 6 of the others (FAULT_MATRIX=every
# FAULT_FUNCS="malloc realloc" runs all of them: 293 runs, 10 minutes); the maildrop
# scenarios at most 3 call numbers per function; valgrind 1 for the
# submission and -bs only. FAULT_MATRIX=sample|full|every overrides (every: each
# call number of each function, for a run by hand); FAULT_FUNCS="malloc
# realloc" limits the matrix to those functions, FAULT_SCENARIOS to those
# scenarios, FAULT_ONLY=FUNC:N:ERRNO to one run, and ENVOI_FAULT_TRACE=1
# prints where each fault hit (in the failures' diagnostics). Under valgrind malloc
# and realloc are not injected: valgrind replaces the allocator itself,
# so the shim never sees those calls.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

SHIM=$top_builddir/tests/fault/libfault.so
[ -f "$SHIM" ] || skip_all "no $SHIM (make check builds it)"
CONF=$TESTDIR/conf
QUEUE=$TESTDIR/queue
ENVOI_QUEUE_ON=1
BASE_WRAP=$ENVOI_WRAP
PRELOAD=$SHIM NOALLOC=0
ASAN_LIB=$(ldd "$ENVOI" 2>/dev/null | awk '$1 ~ /^libasan/ { print $3 }')
if [ -n "$ASAN_LIB" ]; then
	# The ASan runtime must come first; then envoi's malloc is ASan's
	# and never the shim's (a shim before ASan cannot even find the real
	# allocator: ASan's dlsym is not ready while ASan starts), so the
	# allocation faults run in the plain pass only.
	PRELOAD="$ASAN_LIB:$SHIM" NOALLOC=1
	: "${FAULT_MATRIX:=full}"
fi
: "${FAULT_MATRIX:=sample}"
MALLOC_SAMPLES=6 SAMPLE_NS=2
[ "$FAULT_MATRIX" = full ] && MALLOC_SAMPLES=6 SAMPLE_NS=6
[ "$FAULT_MATRIX" = every ] && MALLOC_SAMPLES=1000000 SAMPLE_NS=1000000
case $BASE_WRAP in *valgrind*) VALGRIND=1 ;; *) VALGRIND=0 ;; esac
# valgrind costs a second or two a run: one call number per function
# for the submission and -bs only.
[ "$VALGRIND" = 1 ] && [ "$FAULT_MATRIX" = sample ] && SAMPLE_NS=1

# The errnos each function can return here. No EINTR for open, mkdir,
# rename, link or unlink: envoi opens only regular files and directories
# on local filesystems, where Linux does not interrupt them.
errnos_for() {
	case $1 in
	open|openat) echo "EACCES ENOSPC EIO ENOMEM" ;;
	read) echo "EIO EINTR EAGAIN" ;;
	write) echo "ENOSPC EINTR EIO EAGAIN" ;;
	fsync|fdatasync) echo "EIO EINTR ENOSPC" ;;
	rename|link|unlink|mkdir) echo "EACCES EIO ENOSPC" ;;
	flock) echo "EINTR ENOMEM" ;;
	ftruncate) echo "EIO EINTR" ;;
	malloc|realloc) echo "ENOMEM" ;;
	socket) echo "EACCES ENOMEM" ;;
	connect) echo "EINTR ECONNREFUSED EACCES" ;;
	getaddrinfo) echo "EAGAIN ENOMEM EIO" ;;
	send) echo "EINTR EAGAIN EPIPE" ;;
	recv) echo "EINTR EAGAIN ECONNRESET" ;;
	esac
}

# faulty ENVOI_FAULT-SPEC|count:FILE ARGS...: run_envoi under the shim
faulty() {
	local spec=$1 var
	shift
	case $spec in
	count:*) var="ENVOI_FAULT_COUNT=${spec#count:}" ;;
	*) var="ENVOI_FAULT=$spec" ;;
	esac
	ENVOI_WRAP="env LD_PRELOAD=$PRELOAD $var $BASE_WRAP" run_envoi "$@"
}

server() {  # a server for up to 3 connections; the config points at it
	std_server -n 3
	std_config "$CONF" "domain client.example"
}
reset() {
	rm -rf "$QUEUE"
	mkdir -m 700 "$QUEUE"
	server
}
delivered() {  # delivered SUBJECT: how many copies the server has
	grep -l "^Subject: $1"$'\r$' "$MAILDIR"/msg-*.eml 2>/dev/null | wc -l
}
total() { ls "$MAILDIR"/msg-*.eml 2>/dev/null | wc -l; }
# every message the server has is whole: its last line arrived
whole() {
	local f
	for f in "$MAILDIR"/msg-*.eml; do
		[ -e "$f" ] || continue
		[ "$(tail -n 1 "$f")" = $'last line\r' ] || return 1
	done
}
clean_q() {  # the later queue run, faults off
	INPUT=/dev/null run_envoi -C "$CONF" -q
	Q_STATUS=$STATUS
}

# dup_ok BEFORE AFTER: is a second copy the one duplicate no client can
# avoid? A receive failing (ECONNRESET) after the end of data went out
# leaves unknowable whether the server took the message: the entry stays
# queued and goes again (RFC 5321 6.1: a duplicate rather than a loss).
# Allowed for that fault only, for a message the server had before the
# clean run. Which recv is the end of data's reply varies from run to run
# (TLS records), so the matrix hits it only now and then.
DUPS=0
dup_ok() {
	case $SPEC in recv:*:ECONNRESET) ;; *) return 1 ;; esac
	[ "$1" = 1 ] && [ "$2" = 2 ] || return 1
	DUPS=$((DUPS + 1))
	diag "$SPEC: a copy before the failure and one after (unknowable, allowed)"
}

# ---------------------------------------------------------------- scenarios
# Each has NAME_setup (before the counted or faulty run), NAME_run (the
# run, with the shim spec as $1) and NAME_check, which runs the clean
# queue run and says what is wrong, if anything (WHY), given STATUS.
msg() { std_message "$1" | sed '$d'; echo "last line"; }

up_setup() { reset; msg m1 >"$TESTDIR/msg"; }
up_run() { INPUT=$TESTDIR/msg faulty "$1" -C "$CONF" bob@example.org; }
up_check() {
	local before after
	before=$(delivered m1)
	clean_q
	after=$(delivered m1)
	if [ "$RUN_STATUS" = 0 ]; then
		[ "$after" = 1 ] || dup_ok "$before" "$after" || WHY="exit 0 but delivered $after times"
	else
		[ "$before" = "$after" ] || WHY="exit $RUN_STATUS but a later run sent it"
		[ "$after" -le 1 ] || WHY="delivered $after times"
	fi
	CLEAN_BEFORE=$before
}
up_clean() { [ "$CLEAN_BEFORE" = 1 ]; }

down_setup() {
	reset
	stop_server          # the config names a port where nothing listens
	msg m1 >"$TESTDIR/msg"
}
down_run() { up_run "$@"; }
down_check() {
	local q
	q=$(entries)
	[ "$(total)" = 0 ] || WHY="delivered with the server down?"
	server               # now it is up again (a new port)
	up_check
	CLEAN_BEFORE=$q
}
down_clean() { [ "$CLEAN_BEFORE" = 1 ]; }

queue_setup() {
	local i
	reset
	for i in q1 q2 q3; do
		msg "$i" >"$TESTDIR/msg"
		INPUT=$TESTDIR/msg run_envoi -C "$CONF" -odq bob@example.org
		[ "$STATUS" = 0 ] || bail_out "cannot queue $i: $STDERR"
	done
}
queue_run() { INPUT=/dev/null faulty "$1" -C "$CONF" -q; }
queue_check() {
	local i n
	local -A had
	for i in q1 q2 q3; do had[$i]=$(delivered "$i"); done
	CLEAN_BEFORE=$(total)
	clean_q
	for i in q1 q2 q3; do
		n=$(delivered "$i")
		[ "$n" = 1 ] || dup_ok "${had[$i]}" "$n" || WHY="$i delivered $n times"
	done
	[ "$(entries)" = 0 ] || WHY="entries left after a clean -q"
}
queue_clean() { [ "$CLEAN_BEFORE" = 3 ]; }

bs_setup() {
	reset
	{
		printf '%s\r\n' "EHLO app.example" "MAIL FROM:<app@example.org>" \
		    "RCPT TO:<bob@example.org>" "DATA"
		msg b1 | sed 's/^\./../; s/$/\r/'
		printf '%s\r\n' "." "MAIL FROM:<app@example.org>" \
		    "RCPT TO:<bob@example.org>" "DATA"
		msg b2 | sed 's/^\./../; s/$/\r/'
		printf '%s\r\n' "." "QUIT"
	} >"$TESTDIR/session"
}
bs_run() { INPUT=$TESTDIR/session faulty "$1" -C "$CONF" -bs; }
bs_check() {
	local ok before after
	local i n dups=0
	local -A had
	ok=$(tr -d '\r' <<<"$STDOUT" | grep -c '^250 2\.0\.0 Ok: \(delivered\|queued\) as')
	for i in b1 b2; do had[$i]=$(delivered "$i"); done
	before=$(total)
	clean_q
	for i in b1 b2; do
		n=$(delivered "$i")
		if [ "$n" -gt 1 ]; then
			dup_ok "${had[$i]}" "$n" && dups=$((dups + 1)) ||
				WHY="a message delivered twice"
		fi
	done
	after=$(total)
	[ "$after" = "$((ok + dups))" ] || WHY="${WHY:-$ok accepted, $after delivered}"
	CLEAN_BEFORE=$before
}
bs_clean() { [ "$CLEAN_BEFORE" = 2 ] && [ "$RUN_STATUS" = 0 ]; }

# ---------------------------------------------------------------- maildrop
# Root only (uid 33 writes the drop, root picks it up), in lib.sh's mount
# namespace, where the compiled-in configuration and spool are the test's
# own. dropw: uid 33's submission, which writes a drop file (no
# configuration of its own); pickup: root's `envoi -q` importing two drop
# files and sending them. Each runs a copy of envoi and of the shim from a
# directory uid 33 can reach.
DROP_UID=33
SYSCONF=$ENVOI_SYSCONFDIR
SPOOL=$ENVOI_LOCALSTATEDIR/spool/envoi
md_ready=
md_prepare() {
	[ -z "$md_ready" ] || return 0
	md_ready=1
	chmod 711 "$TESTDIR"
	PUB=$TESTDIR/pub
	mkdir -p "$PUB" "$TESTDIR/u$DROP_UID" "$SYSCONF" || bail_out "cannot make $PUB"
	cp "$ENVOI" "$SHIM" "$PUB/" && chmod 755 "$PUB" "$PUB/envoi" "$PUB/libfault.so" ||
		bail_out "cannot copy envoi and the shim to $PUB"
	chown "$DROP_UID:$DROP_UID" "$TESTDIR/u$DROP_UID"
	iso_searchable "$(dirname "$SPOOL")" || bail_out "cannot make the spool's parents reachable"
	PUB_PRELOAD=${PRELOAD/$SHIM/$PUB/libfault.so}
}
md_reset() {
	md_prepare
	rm -rf "$SPOOL"
	server
	ENVOI_QUEUE_DIRECTIVE= std_config "$SYSCONF/envoi.conf" "domain client.example"
	INPUT=/dev/null run_envoi -q
	[ "$STATUS" = 0 ] && [ -d "$SPOOL/maildrop" ] ||
		bail_out "root's envoi -q made no maildrop: $STDERR"
}
# as_drop SPEC|"" ARGS...: run_envoi as uid 33, under the shim when SPEC
as_drop() {
	local spec=$1 h=$TESTDIR/u$DROP_UID var=
	shift
	case $spec in
	count:*) var="LD_PRELOAD=$PUB_PRELOAD ENVOI_FAULT_COUNT=${spec#count:}"
		# uid 33 appends to it
		: >"${spec#count:}" && chmod 666 "${spec#count:}" ;;
	?*) var="LD_PRELOAD=$PUB_PRELOAD ENVOI_FAULT=$spec" ;;
	esac
	ENVOI_WRAP="setpriv --reuid=$DROP_UID --regid=$DROP_UID --clear-groups env HOME=$h XDG_CONFIG_HOME=$h/.config XDG_STATE_HOME=$h/.state $var $BASE_WRAP" \
	    ENVOI=$PUB/envoi run_envoi "$@"
}
drop_files() { find "$SPOOL/maildrop" -maxdepth 1 -name "${1:-d}.*" | wc -l; }
corrupt_files() { find "$SPOOL/corrupt" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
sys_entries() { find "$SPOOL" -maxdepth 1 -name '*.env' | wc -l; }
sys_clean_q() {  # root's later queue run, faults off: imports and sends
	INPUT=/dev/null run_envoi -q
	Q_STATUS=$STATUS
}

dropw_setup() { md_reset; msg m1 >"$TESTDIR/msg"; chmod 644 "$TESTDIR/msg"; }
dropw_run() { INPUT=$TESTDIR/msg as_drop "$1" bob@example.org; }
dropw_check() {
	local d t n
	d=$(drop_files d) t=$(drop_files t)
	CLEAN_BEFORE=$d
	if [ "$RUN_STATUS" = 0 ]; then
		[ "$d" = 1 ] || WHY="exit 0 but $d complete drop files"
	else
		[ "$d" = 0 ] || WHY="exit $RUN_STATUS but a complete drop file is left"
	fi
	[ "$t" = 0 ] || WHY="${WHY:-a half-written drop file (t.*) is left}"
	sys_clean_q
	n=$(delivered m1)
	[ "$RUN_STATUS" != 0 ] || [ "$n" = 1 ] || WHY="${WHY:-exit 0 but delivered $n times}"
	[ "$RUN_STATUS" = 0 ] || [ "$n" = 0 ] || WHY="${WHY:-exit $RUN_STATUS but a later run sent it}"
	[ "$(drop_files d)" = 0 ] || WHY="${WHY:-a drop file stays after the clean -q by root}"
	[ "$(corrupt_files)" = 0 ] || WHY="${WHY:-a drop file went to corrupt/}"
}
dropw_clean() { [ "$CLEAN_BEFORE" = 1 ]; }

pickup_setup() {
	local i
	md_reset
	for i in p1 p2; do
		msg "$i" >"$TESTDIR/msg"
		chmod 644 "$TESTDIR/msg"
		INPUT=$TESTDIR/msg as_drop "" bob@example.org
		[ "$STATUS" = 0 ] || bail_out "uid $DROP_UID cannot drop $i: $STDERR"
	done
}
pickup_run() { INPUT=/dev/null faulty "$1" -q; }
pickup_check() {
	local i n
	local -A had
	for i in p1 p2; do had[$i]=$(delivered "$i"); done
	CLEAN_BEFORE=$(total)
	sys_clean_q
	for i in p1 p2; do
		n=$(delivered "$i")
		[ "$n" = 1 ] || dup_ok "${had[$i]}" "$n" || WHY="$i delivered $n times"
	done
	[ "$(drop_files d)" = 0 ] || WHY="${WHY:-a drop file stays after a clean -q}"
	[ "$(corrupt_files)" = 0 ] || WHY="${WHY:-a good drop file went to corrupt/}"
	[ "$(sys_entries)" = 0 ] || WHY="${WHY:-entries left after a clean -q}"
}
pickup_clean() { [ "$CLEAN_BEFORE" = 2 ]; }

# ---------------------------------------------------------------- the matrix
RUNS=0 SITES=0
# check_run SCENARIO SPEC: after NAME_run, the checks common to all runs
check_run() {
	local s=$1 spec=$2
	WHY=
	case $STATUS in
	0|6[4-9]|7[0-8]) ;;
	*) WHY="exit $STATUS (a crash, a sanitizer report or an undocumented code)" ;;
	esac
	if grep -qE 'AddressSanitizer|runtime error:|LeakSanitizer|^==[0-9]+== ' <<<"$STDERR"; then
		WHY="a sanitizer report"
	fi
	RUN_STATUS=$STATUS RUN_ERR=$STDERR SPEC=$spec
	"${s}_check"
	STATUS=$RUN_STATUS
	[ -z "$WHY" ] && ! whole && WHY="a partial message was delivered"
	[ "$Q_STATUS" = 0 ] || WHY="${WHY:-the later queue run exits $Q_STATUS}"
	if [ -z "$WHY" ] && [ "${spec##*:}" = EINTR ] && ! "${s}_clean"; then
		WHY="EINTR was not retried: exit $STATUS"
	fi
	stop_server
	RUNS=$((RUNS + 1))
	if [ -z "$WHY" ]; then
		pass "$s $spec: exit $STATUS"
	else
		fail "$s $spec: $WHY"
		diag "envoi stderr: $RUN_ERR"
	fi
}

matrix() {  # matrix SCENARIO OFFSET
	local s=$1 off=$2 counts=$TESTDIR/counts fn c k ns n list err i
	"${s}_setup"
	rm -f "$counts"
	"${s}_run" "count:$counts"
	[ "$STATUS" = 0 ] || diag "$s: the counting run exits $STATUS: $STDERR"
	stop_server
	diag "$s: calls: $(tr '\n' ' ' <"$counts")"
	while read -r fn c; do
		case " ${FAULT_FUNCS:-$fn} " in *" $fn "*) ;; *) continue ;; esac
		case $fn in malloc|realloc)
			[ "$VALGRIND" = 1 ] || [ "$NOALLOC" = 1 ] && continue
			k=$MALLOC_SAMPLES
			# every one for a submission, 12 for a queue run: an
			# allocation after the end of data must never cost a
			# duplicate (see SESSION_REPLY_RESERVE, outcome_alloc)
			case $s in up) k=$c ;; queue) k=12 ;; esac ;;
		*) k=$SAMPLE_NS
			# the maildrop scenarios cost two or three times as
			# much a run (two uids, a pickup): 3 at most
			case $s in dropw|pickup) [ "$k" -le 3 ] || k=3 ;; esac ;;
		esac
		[ "$k" -lt "$c" ] || k=$c
		read -r -a list <<<"$(errnos_for "$fn")"
		ns=$(awk -v c="$c" -v k="$k" 'BEGIN { for (i = 0; i < k; i++) print 1 + int(i * c / k) }' | uniq)
		i=$off
		for n in $ns; do
			err=${list[$((i % ${#list[@]}))]}
			i=$((i + 1))
			[ -z "${FAULT_ONLY:-}" ] || [ "$FAULT_ONLY" = "$fn:$n:$err" ] || continue
			"${s}_setup"
			"${s}_run" "$fn:$n:$err"
			check_run "$s" "$fn:$n:$err"
			SITES=$((SITES + 1))
		done
	done <"$counts"
}

# The scenarios of this run: FAULT_SCENARIOS (make check runs them as
# three tests, faults-submit.sh, faults-queue.sh and faults-maildrop.sh,
# side by side), or all of them. The maildrop needs root and another uid,
# and not valgrind (its launcher would run as uid 33 with the build's
# logs out of reach); valgrind's sampled pass runs the submission and
# -bs only.
SCEN=
for s in ${FAULT_SCENARIOS:-up down queue bs dropw pickup}; do
	case $s in
	dropw|pickup)
		if [ "$(id -u)" != 0 ] || [ "$VALGRIND" = 1 ] || ! command -v setpriv >/dev/null ||
		   ! getent passwd "$DROP_UID" >/dev/null; then
			diag "$s skipped (needs root, setpriv, uid $DROP_UID; not valgrind)"
			continue
		fi ;;
	down|queue)
		[ "$VALGRIND" = 1 ] && [ "$FAULT_MATRIX" = sample ] && continue ;;
	esac
	SCEN="$SCEN $s"
done
[ -n "$SCEN" ] || skip_all "none of the scenarios ${FAULT_SCENARIOS:-} runs here"
wanted() { case " $SCEN " in *" $1 "*) return 0 ;; esac; return 1; }
# regress SCENARIO SPEC: one run, whatever the matrix samples: the bugs
# the matrix found, each fixed in src/ (when SCENARIO is of this run).
regress() {
	wanted "$1" || return 0
	"${1}_setup"
	"${1}_run" "$2"
	check_run "$1" "$2"
}
# queue.c: fsync retried on EINTR (was EX_IOERR, "cannot sync").
regress up fsync:3:EINTR
regress up fsync:1:EINTR
# queue.c: an envelope that cannot be unlinked after delivery is moved
# aside into tmp/ (was: left, and the next run delivered it again).
regress up unlink:1:EIO
# runq.c: memory running out in a queue run defers (was: a bounce, and
# the message moved to failed/, "partial" here: the bounce is no copy).
[ "$NOALLOC" = 1 ] || [ "$VALGRIND" = 1 ] || regress queue malloc:20:ENOMEM
if wanted dropw || wanted pickup; then
	# drop.c: the fsync after the rename failing took the drop file back
	# (was: exit 74 with the file left, sent later: a duplicate).
	regress dropw fsync:2:EIO
	# drop.c: a drop file that cannot be opened for EIO waits (was:
	# refused to corrupt/ and bounced, never delivered).
	regress pickup openat:1:EIO
	# drop.c: a drop file not removable after its import has the queue
	# entry taken back (was: "it will be sent twice", and it was).
	regress pickup unlink:1:EACCES
	# submit.c, queue.c: memory running out while a drop file's
	# recipients are parsed or its envelope is written keeps the file
	# (was: refused to corrupt/ as a bad recipient or envelope).
	[ "$NOALLOC" = 1 ] || regress pickup realloc:18:ENOMEM
	[ "$NOALLOC" = 1 ] || regress pickup realloc:29:ENOMEM
fi

t0=$(date +%s)
for s in $SCEN; do
	ts=$(date +%s)
	matrix "$s" "${#s}"
	diag "$s: $(( $(date +%s) - ts )) s"
done
diag "$FAULT_MATRIX matrix: $RUNS runs in $(( $(date +%s) - t0 )) s ($DUPS unknowable duplicates)"
done_testing
