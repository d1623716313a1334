#!/bin/bash
# isolation.sh - the test suite never touches the machine it runs on
# (tests/isolate.sh). On a machine whose compiled-in system paths hold a
# system envoi.conf and msmtprc, a queued message and a user's drop file
# (tests/sentinel.sh plants them), a scenario script (any script that
# sources tests/lib.sh), run as root, sees none of them: no system file,
# no queue, root's mailq empty, and a queue run with the test's own system
# configuration imports and sends nothing; run as a user, it sees no system
# file either. Afterwards the machine's files are as planted, byte for
# byte and unread (tests/sentinel.sh check).
#
# The machine is simulated: this script runs again (argument "machine") in
# a mount namespace of its own, where the layers lib.sh gave it are taken
# away and new ones (mount source envoi-machine, on a tmpfs) receive the
# sentinel, so nothing real is planted. Needs root.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"

if [ "${1:-}" = machine ]; then
	dir=$2
	. "$top_srcdir/tests/isolate.sh"
	iso_dirs || exit 1
	# Our layers, deepest first. One mount point may be listed twice:
	# where /usr/local/etc exists, its layer is set aside and put back
	# on top of /usr/local's, and the one below shows again only once
	# the one above is gone: so round after round until none is left.
	ours() {
		awk '{ for (i = 7; $i != "-"; i++); }
			$(i + 1) == "overlay" && $(i + 2) == "envoi-iso" { print $5 }' \
			/proc/self/mountinfo | sort -ru
	}
	for _ in 1 2 3 4 5 6 7 8; do
		[ -n "$(ours)" ] || break
		for m in $(ours); do
			umount -l "$m" 2>/dev/null
		done
	done
	[ -z "$(ours)" ] || exit 1
	ISO_SOURCE=envoi-machine ENVOI_TEST_ISO_DIR=$dir/machine
	mkdir "$ENVOI_TEST_ISO_DIR" && mount -t tmpfs envoi-machine "$ENVOI_TEST_ISO_DIR" &&
		{ _iso_paths && iso_hide "${_iso_p[@]}"; } || exit 1
	"$top_srcdir/tests/sentinel.sh" plant "$dir/sentinel" "$ENVOI" >"$dir/plant.out" 2>&1 ||
		exit 1
	# As a fresh `make check` would start it.
	unset ENVOI_TEST_ISO ENVOI_TEST_ISO_DIR ISO_SOURCE
	bash "$dir/pub/probe.sh" >"$dir/root.tap" 2>&1
	echo $? >"$dir/root.status"
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		env HOME=/nonexistent bash "$dir/pub/probe.sh" >"$dir/user.tap" 2>&1
	echo $? >"$dir/user.status"
	"$top_srcdir/tests/sentinel.sh" check "$dir/sentinel" "$ENVOI" >"$dir/check.out" 2>&1
	echo $? >"$dir/check.status"
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root (a simulated machine in a mount namespace)"
	exit 0
fi
. "$top_srcdir/tests/lib.sh"
command -v setpriv >/dev/null || skip_all "no setpriv (util-linux)"
[ "$(stat -f -c %T /)" != overlayfs ] ||
	skip_all "the layers would be three overlays deep on this overlayfs root"

# The probe: a scenario script like any other, readable by uid 65534.
chmod 711 "$TESTDIR"
mkdir -m 755 "$TESTDIR/pub"
cat >"$TESTDIR/pub/probe.sh" <<'EOF'
#!/bin/bash
. "$top_srcdir/tests/lib.sh"
SPOOL=$ENVOI_LOCALSTATEDIR/spool/envoi
who="uid $(id -u)"
ok "$who: no system envoi.conf" [ ! -e "$ENVOI_SYSCONFDIR/envoi.conf" ]
ok "$who: no system msmtprc" [ ! -e "$ENVOI_SYSCONFDIR/msmtprc" ]
[ "$(id -u)" = 0 ] || { done_testing; exit; }
ok "$who: no system queue" [ ! -e "$SPOOL" ]
mkdir -p "$ENVOI_SYSCONFDIR"
printf '%s\n' "account default" "host 127.0.0.1" "port 9" "from test@example.org" |
	write_config "$ENVOI_SYSCONFDIR/envoi.conf"
INPUT=/dev/null run_envoi -bp
like "$STDOUT" "^Mail queue is empty" "$who: root's mailq (the system queue) is empty"
unlike "$STDOUT$STDERR" "sentinel|Maildrop" "... and names nothing of the machine's"
INPUT=/dev/null run_envoi -q
is_status 0 "$who: root's queue run with the test's own system file"
INPUT=/dev/null run_envoi -bp
like "$STDOUT" "^Mail queue is empty" "... imported nothing"
ok "... into the test's own spool" [ -d "$SPOOL/maildrop" ]
done_testing
EOF
chmod 755 "$TESTDIR/pub/probe.sh"

export ENVOI SMTPD_SCRIPT top_srcdir top_builddir
unshare -m --propagation private bash "$0" machine "$TESTDIR" >"$TESTDIR/machine.out" 2>&1
is "$?" 0 "the simulated machine holds the sentinel" ||
	diag "$(cat "$TESTDIR/machine.out" "$TESTDIR/plant.out" 2>/dev/null)"
like "$(cat "$TESTDIR/plant.out" 2>/dev/null)" "planted [0-9a-f]+ in .*, d\\.[0-9a-f]+ in its maildrop" \
    "... a queued message and a drop file"
for who in root user; do
	is "$(cat "$TESTDIR/$who.status" 2>/dev/null)" 0 "the probe as $who passed" ||
		diag "$(cat "$TESTDIR/$who.tap" 2>/dev/null)"
done
is "$(grep -c '^ok' "$TESTDIR/root.tap" 2>/dev/null)" 8 "... with all its checks as root"
if grep -q '^1\.\.0 # SKIP' "$TESTDIR/user.tap"; then
	skip "... and as a user" "$(sed -n 's/^1\.\.0 # SKIP //p' "$TESTDIR/user.tap")"
else
	is "$(grep -c '^ok' "$TESTDIR/user.tap" 2>/dev/null)" 2 "... and as a user"
fi
is "$(cat "$TESTDIR/check.status" 2>/dev/null)" 0 "the sentinel is untouched, and removed" ||
	diag "$(cat "$TESTDIR/check.out" 2>/dev/null)"

done_testing
