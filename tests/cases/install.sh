#!/bin/bash
# install.sh - the sendmail names: `make install-links` (into a DESTDIR)
# creates sbin/sendmail, lib/sendmail, bin/mailq and bin/newaliases as
# relative symlinks to bin/envoi; through them envoi acts by its name
# (mailq = -bp, newaliases = -bi, sendmail = send); an existing non-link
# file is never replaced; `make uninstall-links` removes only the links.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

[ -f "$top_builddir/Makefile" ] || skip_all "no configured build tree at $top_builddir"

D=$TESTDIR/root
QUEUE=$TESTDIR/queue
# The layout of a Debian admin's ./configure --prefix=/usr.
dirs=(prefix=/usr exec_prefix=/usr bindir=/usr/bin sbindir=/usr/sbin)

# -o src/envoi: the installed binary is the one built, never one remade
# here with prefix=/usr (sources edited since the build would be compiled
# with /usr/etc, and every later test would use that binary).
install_into() {  # install_into TARGET...: make TARGET into $D, output kept
	make -s -C "$top_builddir" -o src/envoi "$@" DESTDIR="$D" "${dirs[@]}" >"$TESTDIR/make.out" 2>&1
}

ok "make install into a DESTDIR" install_into install-exec
ok "... the binary is there" test -x "$D/usr/bin/envoi"
ok "make install-links" install_into install-links
is "$(readlink "$D/usr/sbin/sendmail")" "../bin/envoi" "sbin/sendmail -> ../bin/envoi"
is "$(readlink "$D/usr/lib/sendmail")" "../bin/envoi" "lib/sendmail -> ../bin/envoi"
is "$(readlink "$D/usr/bin/mailq")" "envoi" "bin/mailq -> envoi"
is "$(readlink "$D/usr/bin/newaliases")" "envoi" "bin/newaliases -> envoi"
ok "make install-links again (replaces its own links)" install_into install-links

# --- argv[0] dispatch through the installed links
mkdir -p "$XDG_CONFIG_HOME/envoi"
write_config "$XDG_CONFIG_HOME/envoi/config" <<EOF
account default
host 127.0.0.1
port 1
from sender@example.org
queue_dir $QUEUE
EOF
INPUT=/dev/null
ENVOI=$D/usr/bin/mailq run_envoi
is_status 0 "mailq exits 0"
like "$STDOUT" "^Queue: $QUEUE" "mailq lists the queue (as -bp)"
like "$STDOUT" 'Mail queue is empty' "... which is empty"
ENVOI=$D/usr/bin/newaliases run_envoi
is_status 0 "newaliases exits 0 (as -bi)"
like "$STDOUT" 'aliases' "... and reports on the aliases file, as -bi does"
ENVOI=$D/usr/sbin/sendmail run_envoi -bi
is "$STDOUT" "$(ENVOI=$D/usr/bin/newaliases run_envoi; printf '%s' "$STDOUT")" "... the same output as sendmail -bi"
ENVOI=$D/usr/lib/sendmail run_envoi -bp
like "$STDOUT" 'Mail queue is empty' "/usr/lib/sendmail -bp lists the queue"
INPUT=$TESTDIR/message
std_message links >"$INPUT"
ENVOI=$D/usr/sbin/sendmail run_envoi -oi bob@example.org
is_status 0 "/usr/sbin/sendmail sends (here: queued, nothing listens)"
like "$STDERR" '^envoi: queued [0-9a-f]+: cannot connect' "... through the queue"
INPUT=/dev/null
ENVOI=$D/usr/bin/mailq run_envoi
like "$STDOUT" '<sender@example.org> -> bob@example.org' "mailq shows what sendmail queued"

# --- never over another MTA's binary
rm -f "$D/usr/sbin/sendmail"
printf '#!/bin/sh\necho other MTA\n' >"$D/usr/sbin/sendmail"
chmod 755 "$D/usr/sbin/sendmail"
install_into install-links
isnt "$?" 0 "install-links refuses to replace a file that is not a link"
like "$(cat "$TESTDIR/make.out")" 'sbin/sendmail exists and is not a symlink' "... saying which"
is "$(cat "$D/usr/sbin/sendmail")" $'#!/bin/sh\necho other MTA' "... and leaves it alone"

# --- uninstall-links removes the links, nothing else
ok "make uninstall-links" install_into uninstall-links
ok "... bin/mailq is gone" test ! -e "$D/usr/bin/mailq" -a ! -L "$D/usr/bin/mailq"
ok "... lib/sendmail is gone" test ! -L "$D/usr/lib/sendmail"
ok "... the other MTA's file stays" test -f "$D/usr/sbin/sendmail"
ok "... envoi stays" test -x "$D/usr/bin/envoi"

done_testing
