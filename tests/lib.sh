# tests/lib.sh - helpers for the scenario tests in tests/cases/server-*.sh.
# Sourced by bash scripts; produces TAP on stdout.
#
# Environment from the harness (Makefile.am AM_TESTS_ENVIRONMENT):
#   ENVOI         the envoi binary          SMTPD_SCRIPT  the test server
#   top_srcdir    source tree               top_builddir  build tree
#   ENVOI_WRAP    command prefix for envoi (valgrind under check-valgrind)
# Sensible defaults apply when a script is run by hand from the build dir.
#
# TAP:      plan N | done_testing | ok DESC CMD... | is GOT WANT DESC |
#           isnt GOT WANT DESC | like GOT ERE DESC | unlike GOT ERE DESC |
#           file_is FILE DESC <WANT | pass DESC | fail DESC | diag TEXT... |
#           skip DESC REASON | skip_all REASON | bail_out REASON |
#           TODO=REASON (checks become TAP TODO tests until unset)
# Server:   start_server SCRIPT|- [smtpd-script args]   (- = script on stdin)
#             sets PORT SRVPID SRVDIR TRANSCRIPT MAILDIR
#           wait_server [SECONDS]  wait for the server to exit by itself
#             (it does after its -n connections), else stop it; sets SRVSTATUS
#           stop_server            kill $SRVPID (only) and reap it
#           commands               the "C: " lines of the transcript
#           replies                the "S: " lines
#           round_trips [N]        the RT of connection N (default: last)
# Envoi:    write_config FILE <<EOF ... EOF      (mode 600)
#           std_config FILE [directive...]  the standard account for $PORT
#             (STARTTLS, CA trust, AUTH alice/secret); extra directives are
#             appended and so override the defaults
#           run_envoi ARGS...   runs $ENVOI_WRAP $ENVOI ARGS with stdin from
#             $INPUT if set, else the caller's stdin; sets STATUS STDOUT
#             STDERR ELAPSED (seconds, decimals)
# Files:    TESTDIR (private temp dir, removed at exit unless KEEP_TESTDIR=1
#           or a test failed), CERTDIR (tests/mkcerts.sh output).
# System:   the script runs where envoi's compiled-in system files and
#           queue do not exist and writes to them stay private (see
#           tests/isolate.sh); ENVOI_SYSCONFDIR, ENVOI_LOCALSTATEDIR name
#           them. iso_private DIR: DIR privately writable too (root).
#           iso_searchable DIR: DIR and its ancestors o+x, privately.

if [ -z "${BASH_VERSION:-}" ]; then
	echo "Bail out! tests/lib.sh needs bash"
	exit 1
fi
set -u

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${top_builddir:=$(pwd)}"
: "${ENVOI:=$top_builddir/src/envoi}"
: "${SMTPD_SCRIPT:=$top_builddir/tests/smtpd-script}"
: "${ENVOI_WRAP:=}"

# The script goes on in a mount namespace where envoi's system files and
# queue are private and empty (tests/isolate.sh), before anything else.
. "$top_srcdir/tests/isolate.sh"
iso_enter "$@"

# The counters live in a file: a check run inside a pipeline or $(...)
# (e.g. `crlf <in | file_is ...`) is in a subshell, whose variables vanish.
_tap_state=$(mktemp "${TMPDIR:-/tmp}/envoi-tap.XXXXXX") || exit 1
echo "0 0" >"$_tap_state"
_tap_planned=0
_tap_count() {  # _tap_count PASS|FAIL: bump the counters, set _tap_n _tap_failed
	read -r _tap_n _tap_failed <"$_tap_state"
	_tap_n=$((_tap_n + 1))
	[ "$1" = PASS ] || _tap_failed=$((_tap_failed + 1))
	echo "$_tap_n $_tap_failed" >"$_tap_state"
}
_tap_read() { read -r _tap_n _tap_failed <"$_tap_state"; }

diag() {
	local line
	printf '%s\n' "$*" | while IFS= read -r line; do
		printf '# %s\n' "$line"
	done
}

# While TODO is set (to the reason), checks are TAP "TODO" tests: a known
# bug, reported as XFAIL; once it passes (XPASS, a failure for automake)
# the TODO is due for removal.
pass() {
	_tap_count PASS
	printf 'ok %d - %s%s\n' "$_tap_n" "$1" "${TODO:+ # TODO $TODO}"
}

fail() {
	if [ -n "${TODO:-}" ]; then
		_tap_count PASS
	else
		_tap_count FAIL
	fi
	printf 'not ok %d - %s%s\n' "$_tap_n" "$1" "${TODO:+ # TODO $TODO}"
	return 1
}

plan() {
	_tap_planned=1
	printf '1..%d\n' "$1"
}

done_testing() {
	_tap_read
	[ "$_tap_planned" = 1 ] || printf '1..%d\n' "$_tap_n"
	_tap_planned=1
}

skip() {
	_tap_count PASS
	printf 'ok %d - %s # SKIP %s\n' "$_tap_n" "$1" "${2:-}"
}

skip_all() {
	printf '1..0 # SKIP %s\n' "$1"
	_tap_planned=1
	exit 0
}

bail_out() {
	printf 'Bail out! %s\n' "$1"
	_tap_planned=1
	_tap_count FAIL
	exit 1
}

# ok DESC CMD...: passes when CMD succeeds.
ok() {
	local desc=$1
	shift
	if "$@"; then
		pass "$desc"
	else
		fail "$desc"
	fi
}

is() {
	if [ "$1" = "$2" ]; then
		pass "$3"
	else
		fail "$3"
		diag "     got: '$1'" "expected: '$2'"
		return 1
	fi
}

isnt() {
	if [ "$1" != "$2" ]; then
		pass "$3"
	else
		fail "$3"
		diag "got '$1', expected anything else"
		return 1
	fi
}

like() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		pass "$3"
	else
		fail "$3"
		diag "'$1'" "does not match /$2/"
		return 1
	fi
}

unlike() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		fail "$3"
		diag "'$1'" "matches /$2/"
		return 1
	else
		pass "$3"
	fi
}

# file_is FILE DESC < EXPECTED: FILE's exact bytes equal stdin's.
file_is() {
	local want="$TESTDIR/.want"
	cat >"$want"
	if [ -f "$1" ] && cmp -s "$want" "$1"; then
		pass "$2"
	else
		fail "$2"
		if [ -f "$1" ]; then
			diag "got:" "$(od -c "$1" | head -20)" \
			    "expected:" "$(od -c "$want" | head -20)"
		else
			diag "$1 does not exist"
		fi
		return 1
	fi
}

# ---------------------------------------------------------------- files

TESTDIR=$(mktemp -d "${TMPDIR:-/tmp}/envoi-test.XXXXXX") ||
	bail_out "cannot make a temporary directory"
_srv_n=0
SRVPID=
# Retriers (runq.h) that this test's envoi runs left behind: each holds
# QUEUE/retrier.lock, which names its pid; only a held lock is trusted.
stop_retriers() {
	local f pid
	while IFS= read -r f; do
		pid=$(cat "$f" 2>/dev/null)
		case $pid in ''|*[!0-9]*) continue ;; esac
		flock -n "$f" true 2>/dev/null && continue
		kill "$pid" 2>/dev/null
	done < <(find "${1:-$TESTDIR}" -name retrier.lock 2>/dev/null)
}
_cleanup() {
	local rc=$?
	stop_retriers
	# Root's own queue is the test's private copy of the system queue
	# (tests/isolate.sh); outside that isolation it is the machine's, and
	# its retrier is not ours to stop.
	if [ "${ENVOI_TEST_ISO:-}" = run ] && [ -n "${ENVOI_LOCALSTATEDIR:-}" ]; then
		stop_retriers "$ENVOI_LOCALSTATEDIR/spool/envoi"
	fi
	if [ -n "$SRVPID" ]; then
		stop_server
	fi
	_tap_read
	rm -f "$_tap_state"
	if [ "$_tap_planned" = 0 ]; then
		printf '1..%d\n' "$_tap_n"
	fi
	if [ "$_tap_failed" = 0 ] && [ "${KEEP_TESTDIR:-0}" != 1 ]; then
		rm -rf "$TESTDIR"
	else
		printf '# test files kept in %s\n' "$TESTDIR"
	fi
	[ "$_tap_failed" = 0 ] || rc=1
	exit "$rc"
}
trap _cleanup EXIT
trap 'exit 1' INT TERM HUP

# A user's script with no namespace to hide the system files in (see
# tests/isolate.sh) runs only where there are none.
if [ "${ENVOI_TEST_ISO:-}" = none ]; then
	for _f in "$ENVOI_SYSCONFDIR/envoi.conf" "$ENVOI_SYSCONFDIR/msmtprc"; do
		if [ -e "$_f" ] || [ -L "$_f" ] ||
		    { [ -d "$ENVOI_SYSCONFDIR" ] && [ ! -x "$ENVOI_SYSCONFDIR" ]; }; then
			skip_all "$_f exists and no private layer can hide it from envoi here (no user namespace, or one that cannot mount it): run as root"
		fi
	done
fi

# envoi must touch nothing of the real user's: home, config, queue.
mkdir -p "$TESTDIR/home" "$TESTDIR/queue"
chmod 700 "$TESTDIR/home" "$TESTDIR/queue"
export HOME="$TESTDIR/home"
export XDG_CONFIG_HOME="$TESTDIR/home/.config"
export XDG_STATE_HOME="$TESTDIR/home/.local/state"
export XDG_DATA_HOME="$TESTDIR/home/.local/share"
export XDG_CACHE_HOME="$TESTDIR/home/.cache"
export LC_ALL=C.UTF-8

# Certificates: made once per build tree (mkcerts.sh is idempotent and
# locks), else once per test directory.
if [ -d "$top_builddir/tests" ] && [ -w "$top_builddir/tests" ]; then
	CERTDIR="$top_builddir/tests/certs"
else
	CERTDIR="$TESTDIR/certs"
fi
sh "$top_srcdir/tests/mkcerts.sh" "$CERTDIR" >&2 ||
	bail_out "tests/mkcerts.sh failed (is gnutls-bin installed?)"

[ -x "$SMTPD_SCRIPT" ] || bail_out "no test server at $SMTPD_SCRIPT"
[ -x "$ENVOI" ] || bail_out "no envoi binary at $ENVOI"

# ---------------------------------------------------------------- server

# start_server SCRIPT|- [extra smtpd-script args]: the extra arguments come
# after the defaults (server certificate, client CA, 30 s), so -c/-k given
# there replace the certificate.
start_server() {
	local script=$1 i
	shift
	[ -z "$SRVPID" ] || stop_server
	_srv_n=$((_srv_n + 1))
	SRVDIR="$TESTDIR/srv$_srv_n"
	mkdir -p "$SRVDIR/mail"
	if [ "$script" = - ]; then
		cat >"$SRVDIR/script"
	else
		cp "$script" "$SRVDIR/script"
	fi
	TRANSCRIPT="$SRVDIR/transcript"
	MAILDIR="$SRVDIR/mail"
	PORT=
	"$SMTPD_SCRIPT" -s "$SRVDIR/script" -p "$SRVDIR/port" \
		-t "$TRANSCRIPT" -m "$MAILDIR" \
		-c "$CERTDIR/server.pem" -k "$CERTDIR/server-key.pem" \
		-a "$CERTDIR/ca.pem" -T 30 "$@" \
		2>"$SRVDIR/stderr" &
	SRVPID=$!
	for i in $(seq 1 200); do
		if [ -s "$SRVDIR/port" ]; then
			PORT=$(cat "$SRVDIR/port")
			return 0
		fi
		if ! kill -0 "$SRVPID" 2>/dev/null; then
			wait "$SRVPID" 2>/dev/null
			SRVPID=
			diag "smtpd-script failed to start:" \
			    "$(cat "$SRVDIR/stderr")"
			bail_out "test server did not start"
		fi
		sleep 0.05
	done
	bail_out "test server wrote no port file in 10 s"
}

_srv_alive() {
	local state
	kill -0 "$SRVPID" 2>/dev/null || return 1
	# A zombie is done, just not reaped yet.
	state=$(awk '{print $3}' "/proc/$SRVPID/stat" 2>/dev/null) || return 0
	[ "$state" != Z ]
}

# wait_server [SECONDS]: the server exits by itself after its connections;
# give it that long (default 10 s), then stop it. SRVSTATUS is its exit
# status (0 normal, 3 its own -T timeout, 2 usage, >128 killed).
wait_server() {
	local limit=$(( ${1:-10} * 20 )) i=0
	SRVSTATUS=
	[ -n "$SRVPID" ] || return 0
	while _srv_alive && [ "$i" -lt "$limit" ]; do
		sleep 0.05
		i=$((i + 1))
	done
	if _srv_alive; then
		kill "$SRVPID" 2>/dev/null
	fi
	wait "$SRVPID" 2>/dev/null
	SRVSTATUS=$?
	SRVPID=
	_srv_check
}

stop_server() {
	[ -n "$SRVPID" ] || return 0
	kill "$SRVPID" 2>/dev/null
	wait "$SRVPID" 2>/dev/null
	SRVSTATUS=$?
	SRVPID=
	_srv_check
}

# A server crash or sanitizer report (ASan exits 98 in the check-asan
# tree) is a test failure; 0, 3 (its own timeout) and 143 (our SIGTERM)
# are not.
_srv_check() {
	case $SRVSTATUS in
	0|3|143) ;;
	*)	fail "smtpd-script exited with status $SRVSTATUS"
		diag "smtpd-script stderr:" "$(cat "$SRVDIR/stderr")" ;;
	esac
}

# std_server [-n CONNECTIONS] [SCRIPT LINE...]: the scripted server with
# the standard script (STARTTLS, AUTH PLAIN, user alice, password secret:
# what std_config points at) and any further script lines.
std_server() {
	local opts=()
	if [ "${1:-}" = -n ]; then
		opts=(-n "$2")
		shift 2
	fi
	start_server - "${opts[@]}" < <(printf '%s\n' "tls starttls" "auth PLAIN" \
	    "user alice secret" "$@")
}

# The number of entries in the queue directory $QUEUE (0 if it is missing).
entries() { find "$QUEUE" -maxdepth 1 -name '*.env' 2>/dev/null | wc -l; }

commands() { sed -n 's/^C: //p' "$TRANSCRIPT"; }
replies() { sed -n 's/^S: //p' "$TRANSCRIPT"; }

# The verbs of the commands, one per line (AUTH payload lines omitted
# except the AUTH verb and mechanism).
verbs() {
	commands | awk '/^[A-Za-z]+( |$)/ { v = toupper($1);
		if (v == "AUTH") print v " " toupper($2); else print v }'
}

round_trips() {
	if [ $# -gt 0 ]; then
		sed -n 's/^RT: //p' "$TRANSCRIPT" | sed -n "${1}p"
	else
		sed -n 's/^RT: //p' "$TRANSCRIPT" | tail -n 1
	fi
}

# ---------------------------------------------------------------- envoi

write_config() {
	(umask 077 && cat >"$1")
	chmod 600 "$1"
}

# Directive that keeps envoi's spool inside TESTDIR (envoi extension;
# empty it to rely on XDG_STATE_HOME instead).
: "${ENVOI_QUEUE_DIRECTIVE=queue_dir $TESTDIR/queue}"

std_config() {
	local file=$1 d
	shift
	{
		printf '%s\n' "account default" "host 127.0.0.1" "port $PORT" \
		    "tls on" "tls_starttls on" \
		    "tls_trust_file $CERTDIR/ca.pem" \
		    "auth on" "user alice" "password secret" \
		    "from sender@example.org" "timeout 20"
		[ -z "$ENVOI_QUEUE_DIRECTIVE" ] ||
			printf '%s\n' "$ENVOI_QUEUE_DIRECTIVE"
		# The protocol scenarios check the exit code of each failure,
		# which msmtp's direct mode reports; queue tests set
		# ENVOI_QUEUE_ON=1 for envoi's default (queue and exit 0).
		[ "${ENVOI_QUEUE_ON:-0}" = 1 ] || printf '%s\n' "queue off"
		# A retrier would retry queued entries behind the scenario's
		# back; tests/cases/retrier.sh sets ENVOI_RETRIER=1.
		[ "${ENVOI_RETRIER:-0}" = 1 ] || printf '%s\n' "queue_retrier off"
		for d in "$@"; do
			printf '%s\n' "$d"
		done
	} | write_config "$file"
}

_envoi_n=0
run_envoi() {
	local t0 t1 out err
	_envoi_n=$((_envoi_n + 1))
	out="$TESTDIR/envoi$_envoi_n.out"
	err="$TESTDIR/envoi$_envoi_n.err"
	t0=$(date +%s.%N)
	if [ -n "${INPUT:-}" ]; then
		# shellcheck disable=SC2086 # ENVOI_WRAP is a command prefix
		$ENVOI_WRAP "$ENVOI" "$@" <"$INPUT" >"$out" 2>"$err"
	else
		# shellcheck disable=SC2086
		$ENVOI_WRAP "$ENVOI" "$@" >"$out" 2>"$err"
	fi
	STATUS=$?
	t1=$(date +%s.%N)
	ELAPSED=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	STDOUT=$(cat "$out")
	STDERR=$(cat "$err")
}

# is_status WANT DESC: envoi's exit status, with its stderr on failure.
is_status() {
	is "$STATUS" "$1" "$2" || diag "envoi stderr:" "$STDERR"
}

# A standard test message with LF line ends, a dot line and a lone "."
# further down is not used: sendmail semantics would end input there.
std_message() {
	printf '%s\n' "From: sender@example.org" "To: bob@example.org" \
	    "Subject: ${1:-test}" "Message-ID: <test-${1:-test}@example.org>" \
	    "Date: Mon, 1 Jan 2024 00:00:00 +0000" "" "Hello Bob." \
	    ".leading dot" "..two dots" "last line"
}

# The message as the server must receive it: CRLF, dot-stuffing undone
# (the server's copy is after un-stuffing, so equal to the input).
crlf() { sed 's/$/\r/'; }
