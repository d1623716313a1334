# tests/stack/functions.sh - sourced by tests/cases/stack-*.sh after
# tests/lib.sh (TAP, run_envoi, TESTDIR, _tap_failed).
#
# Helpers for integration tests against the private Postfix + Dovecot stack
# (tests/stack/start.sh): start it in a temporary directory and stop it on
# exit, write envoi configurations for it, find delivered mail, and read
# Postfix's log. STACK_KEEP=1 keeps the stack directory after the script
# (it is kept anyway when a test failed).

stack_bin=$top_srcdir/tests/stack

# stack_up: skip the whole script unless root and the packages are there;
# start the stack in a fresh directory (STACK_DIR etc. from its env file);
# stop it again when the script exits, before lib.sh's own cleanup.
stack_up() {
	local prog
	[ "$(id -u)" = 0 ] ||
		skip_all "needs root to run a private Postfix + Dovecot"
	for prog in postfix dovecot certtool; do
		PATH=/usr/sbin:/sbin:$PATH command -v $prog >/dev/null 2>&1 ||
			skip_all "$prog not installed"
	done
	# Not inside TESTDIR: that stays private (mode 0700), while
	# Postfix's and Dovecot's unprivileged processes must reach this.
	stack_tmp=$(mktemp -d /tmp/envoi-stack.XXXXXX) || bail_out "mktemp failed"
	chmod 755 "$stack_tmp"
	trap '_stack_rc=$?; stack_down; (exit $_stack_rc); _cleanup' EXIT
	sh "$stack_bin/start.sh" "$stack_tmp/s" >"$stack_tmp/start.log" 2>&1 || {
		diag "$(cat "$stack_tmp/start.log")"
		bail_out "the Postfix + Dovecot stack did not start"
	}
	. "$stack_tmp/s/env"
	stack_seq=0
}
stack_down() {
	[ -n "${stack_tmp:-}" ] || return 0
	sh "$stack_bin/stop.sh" "$stack_tmp/s"
	# lib.sh keeps its counters in a file (checks may run in subshells).
	if declare -F _tap_read >/dev/null; then
		_tap_read
	fi
	if [ -n "${STACK_KEEP:-}" ] || [ "$_tap_failed" -ne 0 ]; then
		echo "# stack files kept in $stack_tmp (s/maillog, s/dovecot.log)"
	else
		rm -rf "$stack_tmp"
	fi
	stack_tmp=
}

# stack_config FILE starttls|smtps [DIRECTIVE...]: an envoi account for the
# stack (alice, trusting the stack's CA), mode 0600; each extra argument is
# one more config line, appended last so it overrides.
stack_config() {
	local f=$1 mode=$2 port starttls line
	shift 2
	case $mode in
	starttls) port=$SUBMISSION_PORT starttls=on ;;
	smtps) port=$SMTPS_PORT starttls=off ;;
	*) bail_out "stack_config: bad mode $mode" ;;
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
			[ -z "$ENVOI_QUEUE_DIRECTIVE" ] ||
				echo "$ENVOI_QUEUE_DIRECTIVE"
			for line in "$@"; do
				printf '%s\n' "$line"
			done
			echo "account default : stack"
		} >"$f"
	)
}

# stack_subject: a unique subject line for one test's message.
stack_subject() {
	stack_seq=$((stack_seq + 1))
	echo "envoi stack test $$-$stack_seq $1"
}

# stack_msg SUBJECT [EXTRA-HEADER...]: a small message (LF line endings)
# without From/Date/Message-ID unless given as extra headers.
stack_msg() {
	local subj=$1 h
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

# stack_delivered ADDRESS TEXT [SECONDS]: the same as a quiet status.
stack_delivered() {
	stack_wait "$@" >/dev/null
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
	local id
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
