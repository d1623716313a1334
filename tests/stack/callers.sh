# tests/stack/callers.sh - sourced by tests/cases/callers-*.sh (bash).
#
# envoi installed as the system's sendmail for real callers (cron, at,
# mail(1), mutt, PHP, sudo, monitoring checks...) without touching the
# real system. tests/lib.sh runs the script in a private mount namespace
# where envoi's compiled-in system configuration and queue do not exist
# (see its "isolation"); here, as root,
#   - /etc, /run, /root and /var/spool get a private writable layer too
#     (iso_private: overlayfs over a tmpfs): what the test writes there
#     (envoi.conf, the aliases file, crontabs, sudoers.d, at jobs, pid
#     files, envoi's system queue) exists only inside the namespace and
#     vanishes with it;
#   - /usr/sbin/sendmail is the built envoi, bind-mounted; Debian's
#     symlinks /usr/lib/sendmail, /usr/bin/mailq and /usr/bin/newaliases
#     point at it, so argv[0] dispatch is exercised as installed. Under a
#     checker (valgrind through ENVOI_WRAP, or an ASan build) it is a small
#     wrapper that runs envoi under the checker with the report going to a
#     file, because a caller such as cron discards the mailer's stderr;
#     callers_checker_clean then turns any report into a failed test.
#
# A test script sources this file instead of tests/lib.sh: it skips the
# script unless root, then sources lib.sh and functions.sh. The script then
# calls stack_up and callers_setup.
#
# After callers_setup: CALLERS_CONF (the system envoi.conf, mode 0600,
# for the stack's alice with aliases and header rewriting), CALLERS_ALIASES
# (its aliases file), CALLERS_QUEUE (root's queue directory), CALLERS_RUN
# (a private directory under /run for pid files and logs), CALLERS_PIDS
# (daemons started by the script: stopped by PID at exit) and the helpers
# below.

# callers_root: skip the whole script unless root (the namespace is
# lib.sh's).
callers_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "1..0 # SKIP needs root (mount namespace, Postfix stack, daemons)"
		exit 0
	fi
}

# callers_need PROGRAM...: skip the whole script unless every PROGRAM is
# installed (tools/install-deps installs them all).
callers_need() {
	local p
	for p in "$@"; do
		PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH command -v "$p" >/dev/null 2>&1 ||
			skip_all "$p not installed (see tools/install-deps)"
	done
}

# callers_setup: the private layers, envoi as /usr/sbin/sendmail, the
# system configuration and aliases. Call after stack_up, inside the
# namespace.
callers_setup() {
	local target san f d
	# Daemons the script starts (CALLERS_PIDS) stop before the stack
	# does; the rest is functions.sh's and lib.sh's cleanup.
	CALLERS_PIDS=
	trap '_stack_rc=$?; callers_stop $CALLERS_PIDS; stack_down; (exit $_stack_rc); _cleanup' EXIT
	# Daemons and the callers write below /etc, /run and /var/spool; mail
	# programs write dead.letter, sent folders, history into the real
	# home of the user they run as (/root), whatever HOME says.
	for d in /etc /run /root /var/spool; do
		iso_private "$d" || bail_out "cannot make $d private (overlayfs needed)"
	done

	CALLERS_RUN=/run/envoi-callers
	# san/ takes checker reports from envoi runs of any user.
	mkdir -p "$CALLERS_RUN/bin" "$CALLERS_RUN/san" && chmod 755 "$CALLERS_RUN" &&
		chmod 1777 "$CALLERS_RUN/san" && : >"$CALLERS_RUN/san/status" &&
		chmod 666 "$CALLERS_RUN/san/status" || bail_out "cannot make $CALLERS_RUN"

	# The checker passes: valgrind (ENVOI_WRAP) or an ASan/UBSan build.
	CALLERS_CHECKER=
	if [ -n "$ENVOI_WRAP" ]; then
		CALLERS_CHECKER=valgrind
	elif grep -qa __asan_init "$ENVOI"; then
		CALLERS_CHECKER=asan
	fi
	target=$ENVOI
	if [ -n "$CALLERS_CHECKER" ]; then
		san=$CALLERS_RUN/san
		for n in sendmail mailq newaliases; do
			ln -s "$ENVOI" "$CALLERS_RUN/bin/$n"
		done
		target=$CALLERS_RUN/sendmail-wrapper
		{
			echo '#!/bin/sh'
			echo "# envoi under $CALLERS_CHECKER as /usr/sbin/sendmail (tests/stack/callers.sh)"
			echo 'PATH=/usr/sbin:/usr/bin:/sbin:/bin; export PATH'
			echo 'name=${0##*/}'
			echo 'case $name in mailq|newaliases) ;; *) name=sendmail ;; esac'
			echo "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=98:log_path=$san/asan"
			echo "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$san/ubsan"
			echo 'export ASAN_OPTIONS UBSAN_OPTIONS'
			if [ "$CALLERS_CHECKER" = valgrind ]; then
				echo "$ENVOI_WRAP --log-file=$san/valgrind.%p $CALLERS_RUN/bin/\$name \"\$@\""
			else
				echo "$CALLERS_RUN/bin/\$name \"\$@\""
			fi
			echo 'rc=$?'
			echo "echo \"\$name \$rc\" >>$san/status"
			echo 'exit $rc'
		} >"$target"
		chmod 755 "$target"
	fi
	[ -e /usr/sbin/sendmail ] || bail_out "/usr/sbin/sendmail missing (postfix provides one)"
	mount --bind "$target" /usr/sbin/sendmail ||
		bail_out "cannot bind-mount envoi on /usr/sbin/sendmail"
	# Debian: /usr/lib/sendmail -> ../sbin/sendmail. Where it is a file of
	# its own, cover it too.
	if [ -e /usr/lib/sendmail ] && [ ! -L /usr/lib/sendmail ]; then
		mount --bind "$target" /usr/lib/sendmail ||
			bail_out "cannot bind-mount envoi on /usr/lib/sendmail"
	fi

	CALLERS_ALIASES=$ENVOI_SYSCONFDIR/aliases
	CALLERS_CONF=$ENVOI_SYSCONFDIR/envoi.conf
	CALLERS_QUEUE=$ENVOI_LOCALSTATEDIR/spool/envoi
	mkdir -p "$ENVOI_SYSCONFDIR" || bail_out "cannot make $ENVOI_SYSCONFDIR"
	# Local names as cron, at, sudo and PHP use them. dave has no entry:
	# he is qualified with the account's domain.
	cat >"$CALLERS_ALIASES" <<-EOF
		# envoi test aliases (tests/stack/callers.sh)
		root: alice@example.org
		postmaster: root
		www-data: carol@example.net
		nobody: root
	EOF
	# The system configuration: root-only, envoi's default system queue,
	# a log to read back.
	ENVOI_QUEUE_DIRECTIVE= stack_config "$CALLERS_CONF" starttls \
		"domain example.org" "aliases $CALLERS_ALIASES" "rewrite_headers on" \
		"logfile $CALLERS_RUN/envoi.log"
	chmod 600 "$CALLERS_CONF"
	# Other users reach the maildrop below the queue. Installed, its
	# parents exist (make install, or the system's /var/spool) and are
	# 0755; a parent made by a root process with umask 077 is not, and
	# neither are the ones root's first run makes (system.sh's TODO): the
	# private layer gets the installed modes.
	(umask 022 && mkdir -p "$(dirname "$CALLERS_QUEUE")") &&
		iso_searchable "$(dirname "$CALLERS_QUEUE")" ||
		bail_out "cannot make the spool's parents reachable"
	# Root's first queue run creates the maildrop, as the timer or
	# envoi-maildrop.path would soon after installation.
	/usr/sbin/sendmail -q >"$TESTDIR/first-q.log" 2>&1 ||
		diag "first sendmail -q:" "$(cat "$TESTDIR/first-q.log")"
	# Nothing from the real root's home: HOME points into TESTDIR
	# (lib.sh) for the callers run here, but daemons use root's own home,
	# where a real ~/.envoirc would win over the system file.
	for f in /root/.envoirc /root/.msmtprc /root/.config/envoi/config /root/.config/msmtp/config; do
		[ ! -e "$f" ] || skip_all "$f exists and would override the test's system configuration"
	done
}

# callers_from_ok FILE [ADDRESS]: the delivered message has one From
# header whose address is ADDRESS (default alice@example.org, root's
# alias), i.e. no bare or host-local sender escaped.
callers_from_ok() {
	local from want
	[ -f "$1" ] || return 1
	want=$(printf '%s' "${2:-alice@example.org}" | sed 's/\./\\./g')
	from=$(stack_header "$1" From)
	[ "$(printf '%s\n' "$from" | wc -l)" -eq 1 ] || return 1
	printf '%s\n' "$from" | grep -Eq "(^|[<( ])$want([>) ]|\$)"
}

# callers_headers_ok FILE: exactly one Date and one Message-ID, both
# well-formed enough for a mail client (Date has a numeric zone,
# Message-ID is <left@right>).
callers_headers_ok() {
	local d m
	[ -f "$1" ] || return 1
	d=$(stack_header "$1" Date)
	m=$(stack_header "$1" Message-ID)
	[ "$(printf '%s\n' "$d" | wc -l)" -eq 1 ] &&
		[ "$(printf '%s\n' "$m" | wc -l)" -eq 1 ] &&
		printf '%s\n' "$d" | grep -Eq '[0-9]{1,2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}(:[0-9]{2})? [-+][0-9]{4}' &&
		printf '%s\n' "$m" | grep -Eq '^<[^<>@ ]+@[^<>@ ]+>$'
}

# callers_check_delivery LABEL ADDRESS TEXT [FROM]: three assertions: a
# message containing TEXT arrived for ADDRESS, its From is FROM (default
# alice@example.org, root's alias), and it has a Date and a Message-ID.
# Sets CALLERS_FILE to the delivered file.
callers_check_delivery() {
	local label=$1 from=${4:-alice@example.org}
	CALLERS_FILE=$(stack_wait "$2" "$3" "${CALLERS_WAIT:-20}")
	ok "$label: the message arrived for $2" [ -n "$CALLERS_FILE" ]
	ok "$label: From is qualified and rewritten ($from)" \
		callers_from_ok "$CALLERS_FILE" "$from" ||
		diag "From: $([ -f "$CALLERS_FILE" ] && stack_header "$CALLERS_FILE" From)"
	ok "$label: one Date and one Message-ID" callers_headers_ok "$CALLERS_FILE" ||
		diag "$([ -f "$CALLERS_FILE" ] && sed '/^$/q' "$CALLERS_FILE")"
}

# callers_as USER CMD...: run CMD as USER with a clean environment, as a
# daemon would start it (no TESTDIR paths it could not read).
callers_as() {
	local u=$1 home
	shift
	home=$(getent passwd "$u" | cut -d: -f6)
	runuser -u "$u" -- env -i PATH=/usr/local/bin:/usr/bin:/bin \
		HOME="${home:-/}" LOGNAME="$u" USER="$u" LC_ALL=C.UTF-8 "$@"
}

# callers_flush_until ADDRESS TEXT [SECONDS]: a non-root user's mail waits
# in the maildrop until root's queue run picks it up (on a real system the
# envoi-maildrop.path unit starts it); run `sendmail -q` as root until a
# message containing TEXT arrives for ADDRESS (default 20 s). Prints the
# delivered file like stack_wait; status 1 if none came.
callers_flush_until() {
	local end=$((SECONDS + ${3:-20})) f
	while :; do
		/usr/sbin/sendmail -q >>"$TESTDIR/flush.log" 2>&1
		f=$(stack_wait "$1" "$2" 1) && { printf '%s\n' "$f"; return 0; }
		[ "$SECONDS" -lt "$end" ] || return 1
	done
}

# callers_stop PID...: stop processes this script started, by PID.
callers_stop() {
	local p i
	for p in "$@"; do
		[ -n "$p" ] || continue
		kill "$p" 2>/dev/null || continue
		i=0
		while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	return 0
}

# callers_checker_clean: under valgrind or ASan, one assertion that no
# envoi run (whoever started it) produced a report or a checker exit
# status; a no-op in the plain pass.
callers_checker_clean() {
	local san=$CALLERS_RUN/san f bad= runs
	[ -n "$CALLERS_CHECKER" ] || return 0
	for f in "$san"/valgrind.* "$san"/asan* "$san"/ubsan*; do
		[ -s "$f" ] || continue
		bad=1
		diag "$f:" "$(head -40 "$f")"
	done
	if [ -f "$san/status" ] && grep -Eq ' (98|99)$' "$san/status"; then
		bad=1
		diag "checker exit statuses:" "$(grep -E ' (98|99)$' "$san/status")"
	fi
	runs=$(cat "$san/status" 2>/dev/null | wc -l)
	# valgrind leaves one (empty) log per run: proof that it ran at all.
	if [ "$CALLERS_CHECKER" = valgrind ] &&
		[ "$(ls "$san" | grep -c '^valgrind\.')" -lt "$runs" ]; then
		bad=1
		diag "fewer valgrind logs than envoi runs ($runs): was valgrind used?"
	fi
	if [ -n "$bad" ]; then
		fail "no $CALLERS_CHECKER report from any envoi run"
	else
		pass "no $CALLERS_CHECKER report from any envoi run ($runs runs)"
	fi
}

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
callers_root
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/stack/functions.sh"
