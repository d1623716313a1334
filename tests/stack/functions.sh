# tests/stack/functions.sh - sourced by tests/cases/stack-*.sh.
#
# Helpers for integration tests against the private Postfix + Dovecot stack
# (tests/stack/start.sh): start it in a temporary directory and stop it on
# exit, write envoi configurations for it, run envoi, find delivered mail,
# and read Postfix's log. Plus a few TAP helpers (tap_*), self-contained so
# these scripts do not depend on anything else's names.
#
# Environment: ENVOI (the binary; default: src/envoi of the build tree),
# ENVOI_WRAP (a command envoi runs under, e.g. valgrind), top_srcdir,
# STACK_KEEP=1 keeps the stack directory after the script.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${ENVOI:=$top_builddir/src/envoi}"
: "${ENVOI_WRAP:=}"
stack_bin=$top_srcdir/tests/stack

# ------------------------------------------------------------------- TAP
tap_n=0
tap_failed=0
tap_plan() { echo "1..$1"; }
tap_diag() { printf '%s\n' "$@" | sed 's/^/# /'; }
# tap_ok STATUS DESCRIPTION: passes when STATUS is 0 (pass $? of a check).
tap_ok() {
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_failed=$((tap_failed + 1))
	fi
	return "$1"
}
# tap_is GOT WANT DESCRIPTION
tap_is() {
	if [ "$1" = "$2" ]; then
		tap_ok 0 "$3"
	else
		tap_ok 1 "$3" || true
		tap_diag "got: '$1'" "expected: '$2'"
		return 1
	fi
}
# tap_skip N REASON: N tests skipped.
tap_skip() {
	i=0
	while [ $i -lt "$1" ]; do
		i=$((i + 1))
		tap_n=$((tap_n + 1))
		echo "ok $tap_n # SKIP $2"
	done
}
tap_skip_all() {
	echo "1..0 # SKIP $1"
	exit 77
}
tap_bail() {
	tap_failed=$((tap_failed + 1))
	echo "Bail out! $1"
	exit 99
}

# ------------------------------------------------------------------- stack
# stack_up: skip the whole script unless root and the packages are there;
# start the stack in a fresh directory (STACK_DIR etc. from its env file);
# stop it again when the script exits.
stack_up() {
	[ "$(id -u)" = 0 ] ||
		tap_skip_all "needs root to run a private Postfix + Dovecot"
	for prog in postfix dovecot certtool; do
		PATH=/usr/sbin:/sbin:$PATH command -v $prog >/dev/null 2>&1 ||
			tap_skip_all "$prog not installed"
	done
	[ -x "$ENVOI" ] || tap_bail "no envoi binary at $ENVOI"
	stack_tmp=$(mktemp -d "/tmp/envoi-stack.XXXXXX") || tap_bail "mktemp failed"
	# Postfix's and Dovecot's unprivileged processes work below it.
	chmod 755 "$stack_tmp"
	trap 'stack_down' EXIT
	trap 'exit 130' INT TERM
	sh "$stack_bin/start.sh" "$stack_tmp/s" >"$stack_tmp/start.log" 2>&1 || {
		sed 's/^/# /' "$stack_tmp/start.log"
		tap_bail "the Postfix + Dovecot stack did not start"
	}
	. "$stack_tmp/s/env"
	stack_seq=0
}
stack_down() {
	[ -n "${stack_tmp:-}" ] || return 0
	sh "$stack_bin/stop.sh" "$stack_tmp/s"
	if [ -n "${STACK_KEEP:-}" ] || [ "$tap_failed" -ne 0 ]; then
		echo "# stack files kept in $stack_tmp (maillog, dovecot.log, envoi output)"
	else
		rm -rf "$stack_tmp"
	fi
	stack_tmp=
}

# stack_config FILE starttls|smtps [DIRECTIVE...]: an envoi account for the
# stack (alice, trusting the stack's CA), mode 0600; each extra argument is
# one more config line, appended last so it overrides.
stack_config() {
	f=$1 mode=$2
	shift 2
	case $mode in
	starttls) port=$SUBMISSION_PORT starttls=on ;;
	smtps) port=$SMTPS_PORT starttls=off ;;
	*) tap_bail "stack_config: bad mode $mode" ;;
	esac
	(
		umask 077
		{
			echo "account stack"
			echo "host 127.0.0.1"
			echo "port $port"
			echo "tls on"
			echo "tls_starttls $starttls"
			echo "tls_trust_file $STACK_CA"
			echo "auth on"
			echo "user $STACK_USER"
			echo "password $STACK_PASSWORD"
			echo "from alice@example.org"
			echo "timeout 30"
			for line in "$@"; do
				printf '%s\n' "$line"
			done
			echo "account default : stack"
		} >"$f"
	)
}

# stack_envoi NAME INPUT ARGS...: runs envoi (under $ENVOI_WRAP) with ARGS
# and stdin from the file INPUT; stdout and stderr go to $stack_tmp/NAME.out
# and NAME.err; sets envoi_rc (exit code) and envoi_err (stderr text).
# (Not in a pipeline: the variables must survive in this shell.)
stack_envoi() {
	name=$1 input=$2
	shift 2
	# shellcheck disable=SC2086
	$ENVOI_WRAP "$ENVOI" "$@" <"$input" >"$stack_tmp/$name.out" 2>"$stack_tmp/$name.err"
	envoi_rc=$?
	envoi_err=$(cat "$stack_tmp/$name.err")
	return 0
}

# stack_subject: a unique subject line for one test's message.
stack_subject() {
	stack_seq=$((stack_seq + 1))
	echo "envoi stack test $$-$stack_seq $1"
}

# stack_msg SUBJECT [EXTRA-HEADER...]: a small message (LF line endings)
# without From/Date/Message-ID unless given as extra headers.
stack_msg() {
	subj=$1
	shift
	for h in "$@"; do
		printf '%s\n' "$h"
	done
	printf 'Subject: %s\n\nHello from the envoi stack tests.\n.leading dot line\nLast line.\n' "$subj"
}

# stack_wait ADDRESS TEXT [SECONDS]: path of the delivered message for
# ADDRESS containing TEXT, or status 1 after SECONDS (default 20).
stack_wait() {
	sh "$stack_bin/wait-mail.sh" "$STACK_DIR" "$1" "$2" "${3:-20}" 2>/dev/null
}

# stack_absent ADDRESS TEXT: status 0 when nothing containing TEXT arrives
# for ADDRESS. Call it after envoi returned: whatever Postfix accepted is
# in the Maildir well within a second, and combined with an unchanged
# stack_auth_count (no AUTH, so no MAIL was possible) it is conclusive.
stack_absent() {
	! sh "$stack_bin/wait-mail.sh" "$STACK_DIR" "$1" "$2" 1 >/dev/null 2>&1
}

# stack_queue_id FILE: Postfix's queue id from the delivered copy's own
# Received header ("... with ESMTPSA id 3F2A1A7221B").
stack_queue_id() {
	[ -f "$1" ] || return 0
	sed -n 's/.* with E\{0,1\}SMTP[A-Z]* id \([0-9A-Za-z]*\).*/\1/p' "$1" | head -1
}

# stack_sasl_method FILE: the SASL mechanism Postfix logged for the
# message delivered as FILE (empty if it logged none).
stack_sasl_method() {
	id=$(stack_queue_id "$1")
	[ -n "$id" ] || return 0
	sed -n "s/.* $id: client=.*sasl_method=\([^,]*\),.*/\1/p" "$STACK_MAILLOG" | head -1
}

# stack_auth_count: how many successful AUTHs Postfix has logged so far;
# compare before and after a run to show that credentials were not
# accepted. Postfix logs through postlogd (a datagram socket), so give it
# a moment to land first.
stack_auth_count() {
	sleep 0.3
	grep -c 'sasl_method=' "$STACK_MAILLOG"
}

# stack_body FILE: the message body (after the first empty line).
stack_body() {
	awk 'body { print; next } /^\r?$/ { body = 1 }' "$1"
}

# stack_header FILE NAME: the unfolded values of header NAME in FILE's
# header block, one per line.
stack_header() {
	awk -v want="$2" '
		/^\r?$/ { exit }
		/^[ \t]/ { if (keep) cur = cur $0; next }
		{ if (keep) print cur; keep = 0
		  n = index($0, ":")
		  if (n && tolower(substr($0, 1, n - 1)) == tolower(want)) {
			keep = 1; cur = substr($0, n + 1); sub(/^[ \t]+/, "", cur)
		  } }
		END { if (keep) print cur }' "$1"
}
