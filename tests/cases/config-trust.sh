#!/bin/bash
# config-trust.sh - which configuration envoi trusts, and what a failing
# passwordeval does (issue 8 §5.7 and §4).
#
# A command in a configuration file (eval, passwordeval) runs as the
# caller, so envoi runs it only from a file that no one but the caller or
# root can change. As root (sudo -E, su without -): an $XDG_CONFIG_HOME
# owned by another user is not used; another user's file named by -C, or
# a group-writable file of one's own, never gets its passwordeval or eval
# run (a marker file the command would create proves it); another user's
# $NETRC is refused. A passwordeval that fails is a configuration error:
# the submission exits 78 naming its exit status and the first line of its
# stderr and keeps nothing; a queue run keeps the entry and mailq says why.
#
# The root cases run in a private mount namespace (unshare -m) where the
# compiled-in system configuration directory is an empty test directory,
# so the machine's own files are not read; without root they are skipped.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
if [ "${ENVOI_TRUST_NS:-}" != 1 ] && [ "$(id -u)" = 0 ] &&
    unshare -m --propagation private true 2>/dev/null; then
	ENVOI_TRUST_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

CONF=$TESTDIR/conf
INPUT=$TESTDIR/message
MARK=$TESTDIR/command-ran
NOBODY=65534
std_message trust >"$INPUT"

# The server every delivery here goes to: STARTTLS, AUTH PLAIN alice/secret.
# std_config without its password, plus the directives given.
config_without_password() {
	local file=$1
	shift
	std_config "$file" "queue_retrier off" "$@"
	sed -i '/^password /d' "$file"
}
queued() { find "$TESTDIR/queue" -maxdepth 1 -name '*.env' 2>/dev/null | wc -l; }

# ---------------------------------------------------------------- root
as_root=
if [ "$(id -u)" = 0 ] && [ "${ENVOI_TRUST_NS:-}" = 1 ]; then
	sysconf=$(sed -n 's|^System configuration: \(.*\)/envoi\.conf; .*|\1|p' \
	    <<<"$("$ENVOI" --version)")
	mkdir -p "$TESTDIR/etc"
	if [ -z "$sysconf" ] || { [ -d "$sysconf" ] &&
	    ! mount --bind "$TESTDIR/etc" "$sysconf"; }; then
		diag "cannot hide the system configuration directory ${sysconf:-?}"
	else
		as_root=1
	fi
fi

if [ -n "$as_root" ]; then
	# --- $XDG_CONFIG_HOME owned by another user (sudo -E, su without -)
	std_server
	other=$TESTDIR/alice-config
	mkdir -p "$other/envoi"
	config_without_password "$other/envoi/config" \
	    "passwordeval \"touch $MARK; echo secret\""
	chmod 644 "$other/envoi/config"
	chown -R "$NOBODY:$NOBODY" "$other"
	std_config "$HOME/.envoirc" "queue_retrier off"   # root's own
	rm -f "$MARK"
	XDG_CONFIG_HOME=$other run_envoi bob@example.org
	wait_server
	is_status 0 "root, another user's \$XDG_CONFIG_HOME: delivered through root's own file"
	ok "... whose passwordeval never ran" test ! -e "$MARK"
	like "$(grep '^I: authenticated' "$TRANSCRIPT")" 'alice with PLAIN$' \
	    "... authenticated with root's own password"

	# --- -C another user's 0644 file with passwordeval
	std_server
	config_without_password "$TESTDIR/alice.rc" "passwordeval \"touch $MARK; echo secret\""
	chmod 644 "$TESTDIR/alice.rc"
	chown "$NOBODY:$NOBODY" "$TESTDIR/alice.rc"
	run_envoi -C "$TESTDIR/alice.rc" bob@example.org
	stop_server
	is_status 78 "root, -C another user's file with passwordeval: exit 78"
	ok "... the command never ran" test ! -e "$MARK"
	like "$STDERR" "alice\\.rc:[0-9]+: account default: refusing to run its passwordeval command: the file is owned by uid $NOBODY" \
	    "... one line naming the file and its owner"
	is "$(grep -c '^C: ' "$TRANSCRIPT")" 0 "... nothing was sent"
	is "$(queued)" 0 "... nothing was queued"

	# --- the same with eval: refused before it runs
	printf '%s\n' "account default" "eval touch $MARK; echo host 127.0.0.1" \
	    >"$TESTDIR/alice-eval.rc"
	chmod 644 "$TESTDIR/alice-eval.rc"
	chown "$NOBODY:$NOBODY" "$TESTDIR/alice-eval.rc"
	run_envoi -C "$TESTDIR/alice-eval.rc" bob@example.org
	is_status 78 "root, -C another user's file with eval: exit 78"
	ok "... the command never ran" test ! -e "$MARK"
	like "$STDERR" "alice-eval\\.rc:2: refusing to run eval: the file is owned by uid $NOBODY" \
	    "... naming the file, the line and the owner"

	# --- $NETRC of another user's
	std_server
	config_without_password "$CONF"
	printf 'machine 127.0.0.1 login alice password secret\n' >"$TESTDIR/alice.netrc"
	chmod 600 "$TESTDIR/alice.netrc"
	chown "$NOBODY:$NOBODY" "$TESTDIR/alice.netrc"
	NETRC=$TESTDIR/alice.netrc run_envoi -C "$CONF" bob@example.org
	stop_server
	is_status 78 "root, another user's \$NETRC: exit 78"
	like "$STDERR" "alice\\.netrc holds passwords but is owned by uid $NOBODY" \
	    "... naming the file and its owner"
	unlike "$(commands)" '^AUTH PLAIN .' "... its password was not sent"
else
	skip "root: another user's \$XDG_CONFIG_HOME, -C file, eval and \$NETRC" \
	    "needs root and a mount namespace"
fi

# ---------------------------------------------------------------- anyone
# --- a group-writable file of one's own with passwordeval
std_server
config_without_password "$CONF" "passwordeval \"touch $MARK; echo secret\""
chmod 664 "$CONF"
rm -f "$MARK"
run_envoi -C "$CONF" bob@example.org
stop_server
is_status 78 "a group-writable file with passwordeval: exit 78"
ok "... the command never ran" test ! -e "$MARK"
like "$STDERR" "conf:[0-9]+: account default: refusing to run its passwordeval command: the file is writable by its group; run: chmod go-w $CONF\$" \
    "... one line saying why and how to fix it"

# --- the same file, 0644: the command runs
std_server
config_without_password "$CONF" "passwordeval \"touch $MARK; echo secret\""
chmod 644 "$CONF"
run_envoi -C "$CONF" bob@example.org
wait_server
is_status 0 "a 0644 file of one's own with passwordeval: delivered"
ok "... the command ran" test -e "$MARK"

# --- a failing passwordeval on the submission's own attempt: exit 78
ENVOI_QUEUE_ON=1
std_server
config_without_password "$CONF" 'passwordeval "echo oops >&2; exit 3"'
run_envoi -C "$CONF" bob@example.org
stop_server
is_status 78 "a failing passwordeval: exit 78 (EX_CONFIG), not queued"
like "$STDERR" 'account default: the passwordeval command failed \(exit status 3: oops\)' \
    "... one line with its exit status and the first line of its stderr"
is "$(grep -c . <<<"$STDERR")" 1 "... and nothing else on stderr"
unlike "$STDERR" 'echo|queued|will retry' "... neither the command nor a promise to retry"
INPUT=/dev/null run_envoi -C "$CONF" -bp
like "$STDOUT" 'Mail queue is empty' "... mailq shows nothing kept"
is "$(queued)" 0 "... no queue entry"

# --- in a queue run the entry is kept (a configuration fault), with why
run_envoi -C "$CONF" -odq bob@example.org
is_status 0 "-odq: queued without trying"
is "$(queued)" 1 "... one entry"
std_server
config_without_password "$CONF" 'passwordeval "echo oops >&2; exit 3"'
INPUT=/dev/null run_envoi -C "$CONF" -q
wait_server
is "$(queued)" 1 "queue run, failing passwordeval: the entry is kept"
INPUT=/dev/null run_envoi -C "$CONF" -bp
like "$STDOUT" 'exit status 3: oops' "... and mailq shows it in the entry's line"

# --- fixed, the next run delivers it
std_server
config_without_password "$CONF" 'passwordeval "echo secret"'
INPUT=/dev/null run_envoi -C "$CONF" -q
wait_server
is_status 0 "passwordeval fixed: the queue run exits 0"
is "$(queued)" 0 "... and delivered the entry"
ok "... to the server" test -s "$MAILDIR/msg-1.eml"

done_testing
