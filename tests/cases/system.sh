#!/bin/bash
# system.sh - system-wide use with a root-only configuration (drop.h): a
# system user (www-data, uid 33) with no configuration of its own cannot
# read the system file, not even through -C, yet its mail gets out: envoi
# hands it to the maildrop (exit 0, a drop file owned by uid 33), and
# root's `envoi -q` imports it with www-data as the submitter and delivers
# it. Garbage, symbolic links, hard links, FIFOs and directories planted
# in the maildrop are moved to corrupt/ without harm; users cannot list
# the maildrop nor remove each other's files.
#
# Needs root. tests/lib.sh runs it in a private mount namespace where the
# compiled-in system configuration and spool (see envoi --version) do not
# exist and what the test writes there stays private, so the real
# system's files are neither read nor written.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root (a mount namespace and uid 33)"
	exit 0
fi
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

command -v setpriv >/dev/null || skip_all "no setpriv (util-linux)"
WWW=33 OTHER=34
getent passwd "$WWW" >/dev/null && getent passwd "$OTHER" >/dev/null ||
	skip_all "no users with uid $WWW and $OTHER"
WWW_NAME=$(getent passwd "$WWW" | cut -d: -f1)
umask 022

# --- where this envoi keeps system-wide files (lib.sh made them private)
SYSCONF=$ENVOI_SYSCONFDIR
SPOOL=$ENVOI_LOCALSTATEDIR/spool/envoi
MAILDROP=$SPOOL/maildrop
mkdir -p "$SYSCONF" || bail_out "cannot make $SYSCONF"
ok "no system file and no spool: the test's own" \
    eval '[ ! -e "$SYSCONF/envoi.conf" ] && [ ! -e "$SYSCONF/msmtprc" ] && [ ! -e "$SPOOL" ]'
# A fresh machine, where envoi's spool is the first under LOCALSTATEDIR
# (as with /usr/local/var): root's first run makes LOCALSTATEDIR/spool too.
# The directories above that must let users through, as they do on a real
# system (in the namespace: the machine's modes stay).
SPOOL_PARENT=$(dirname "$SPOOL")
iso_hide "$SPOOL_PARENT" && iso_searchable "$SPOOL_PARENT" ||
	bail_out "cannot make a fresh place for the spool"

# uid 33 runs a copy of envoi from a directory it can reach, with a home
# of its own that holds no configuration.
chmod 711 "$TESTDIR"
PUB=$TESTDIR/pub
mkdir -p "$PUB" "$TESTDIR/www" "$TESTDIR/other"
cp "$ENVOI" "$PUB/envoi"
chmod 755 "$PUB" "$PUB/envoi"
chown "$WWW:$WWW" "$TESTDIR/www"
chown "$OTHER:$OTHER" "$TESTDIR/other"
ROOT_WRAP=$ENVOI_WRAP
as() {  # as UID CMD...: run CMD as UID (its own group, no others)
	local u=$1 h=$TESTDIR/www
	shift
	[ "$u" = "$WWW" ] || h=$TESTDIR/other
	setpriv --reuid="$u" --regid="$u" --clear-groups \
	    env HOME="$h" XDG_CONFIG_HOME="$h/.config" XDG_STATE_HOME="$h/.state" "$@"
}
as_www() {  # run_envoi as uid 33
	# shellcheck disable=SC2034 # read by run_envoi
	ENVOI_WRAP="setpriv --reuid=$WWW --regid=$WWW --clear-groups env HOME=$TESTDIR/www XDG_CONFIG_HOME=$TESTDIR/www/.config XDG_STATE_HOME=$TESTDIR/www/.state $ROOT_WRAP" \
	    ENVOI=$PUB/envoi run_envoi "$@"
}
like "$(as "$WWW" "$PUB/envoi" --version)" "^envoi " "uid $WWW can run the copy of envoi"

# --- the system configuration: root's only, with a password. The server
# waits through everything up to root's -q: under valgrind on a loaded
# machine that was more than its default 30 s (-T).
PASS=Pw-$RANDOM-s3cr3t-$RANDOM
start_server - -n 1 -T 300 < <(printf '%s\n' "tls starttls" "auth PLAIN" "user alice $PASS")
write_config "$SYSCONF/envoi.conf" <<EOF
account default
host 127.0.0.1
port $PORT
tls on
tls_starttls on
tls_trust_file $CERTDIR/ca.pem
user alice
password $PASS
domain client.example
timeout 20
EOF
is "$(stat -c '%a %u' "$SYSCONF/envoi.conf")" "600 0" "the system file is mode 600, owned by root"

INPUT=$TESTDIR/message
printf '%s\n' "To: bob@example.org" "Subject: from the web server" "" \
    "a line" ".leading dot" "." "after the dot: not sent" >"$INPUT"
chmod 644 "$INPUT"

# --- uid 33 cannot get at the secret
out=$(as "$WWW" cat "$SYSCONF/envoi.conf" 2>&1)
st=$?
isnt "$st" 0 "uid $WWW cannot read the system file (cat fails)"
unlike "$out" "$PASS" "... and sees no password"
as_www -C "$SYSCONF/envoi.conf" -v bob@example.org
isnt "$STATUS" 0 "envoi -C $SYSCONF/envoi.conf as uid $WWW fails"
like "$STDERR" "Permission denied|not yours|owned by uid 0" "... because the file is not theirs to read"
unlike "$STDOUT$STDERR" "$PASS" "... without a word of the password"

# --- no maildrop yet: the user is told, nothing is lost silently
as_www -v bob@example.org
is "$STATUS" 69 "before root's first run: EX_UNAVAILABLE"
like "$STDERR" "maildrop $MAILDROP does not exist \\(root's envoi -q creates it\\)" "... saying why"

# --- root's first run makes the maildrop (1733) and corrupt/ (0700)
INPUT=/dev/null run_envoi -q
is_status 0 "root's envoi -q with an empty maildrop: exit 0"
is "$(stat -c '%a %U' "$MAILDROP")" "1733 root" "maildrop/ is mode 1733, owned by root"
is "$(stat -c '%a %U' "$SPOOL/corrupt")" "700 root" "corrupt/ is mode 700"
is "$(( $(stat -c '0%a' "$SPOOL") & 0711 ))" "$((0711))" "the spool is searchable (and root's)"
# drop.c's mkparents creates missing parents under envoi's umask 077
# (0700), so users cannot reach the maildrop after all.
unreachable() {
	local d=$SPOOL_PARENT
	while [ "$d" != / ]; do
		[ "$(( $(stat -c '0%a' "$d") & 1 ))" = 1 ] || echo "$d $(stat -c '%a' "$d")"
		d=$(dirname "$d")
	done
}
is "$(unreachable)" "" "the parents root's first run made are searchable by users"
iso_searchable "$SPOOL_PARENT" || bail_out "cannot make the spool's parents reachable"

# --- the submission: exit 0, a drop file owned by uid 33, no secret in -v
INPUT=$TESTDIR/message as_www -v -F "Web Server" bob@example.org
is_status 0 "uid $WWW: envoi -v bob@... exits 0"
like "$STDERR" "handed to the system queue as d\\.[0-9]{14}[0-9a-f]{16}" "-v says where the message went"
unlike "$STDOUT$STDERR" "$PASS" "-v output holds no password"
drops() { find "$MAILDROP" -mindepth 1 -maxdepth 1 | wc -l; }
is "$(drops)" 1 "one drop file"
drop=$(find "$MAILDROP" -mindepth 1 -maxdepth 1 -name 'd.*')
is "$(stat -c '%a %u %h' "$drop")" "600 $WWW 1" "... mode 600, owned by uid $WWW, one link"
like "$(head -n 1 "$drop")" '^envoi-maildrop 1$' "... in the drop format"
unlike "$(cat "$drop")" "after the dot" "... cut at the \".\" line (no -i)"
cp "$drop" "$TESTDIR/valid.drop"

# a second one: -t (with a Bcc), -f, and -a (which is not the user's to choose)
INPUT=$TESTDIR/message2
printf '%s\n' "To: carol@example.org" "Bcc: dave@example.org" "Subject: second" "" "two" >"$INPUT"
chmod 644 "$INPUT"
as_www -t -i -f app@example.org -a other
is_status 0 "uid $WWW: envoi -t -f app@... -a other exits 0"
like "$STDERR" "warning: -a other ignored" "... -a: a warning"
is "$(drops)" 2 "two drop files"

# a third by -bs (Symfony's and alpine's way), pipelined, with a dot-led line
{ printf 'EHLO app\r\nMAIL FROM:<bs@example.org>\r\nRCPT TO:<erin@example.org>\r\nDATA\r\n'
  printf 'Subject: by -bs\r\n\r\n..dotted\r\nthree\r\n.\r\nQUIT\r\n'; } >"$TESTDIR/bs.in"
chmod 644 "$TESTDIR/bs.in"
INPUT=$TESTDIR/bs.in as_www -bs
is_status 0 "uid $WWW: envoi -bs exits 0"
like "$STDOUT" "250 2\\.0\\.0 Ok: handed to the system queue as d\\.[0-9]{14}[0-9a-f]{16}" \
    "-bs: 250 once the drop file is durable"
like "$STDOUT" $'\r\n221 ' "... and 221 to QUIT"
unlike "$STDOUT$STDERR" "$PASS" "-bs output holds no password"
is "$(drops)" 3 "three drop files"

out=$(as "$WWW" ls "$MAILDROP" 2>&1)
isnt "$?" 0 "uid $WWW cannot list the maildrop"
out=$(as "$OTHER" cat "$drop" 2>&1)
isnt "$?" 0 "another user cannot read it"
as "$OTHER" rm -f "$drop" 2>/dev/null
as "$OTHER" mv "$drop" "$MAILDROP/d.stolen" 2>/dev/null
is "$([ -f "$drop" ] && [ ! -e "$MAILDROP/d.stolen" ] && echo kept)" kept \
    "another user can neither remove nor rename it"
INPUT=/dev/null as_www -bp
is_status 0 "mailq as uid $WWW: exit 0"
like "$STDOUT" "system queue \\($SPOOL\\), which only root can list" "... one line: the mail is in root's queue"

# root's mailq counts users' mail still in the maildrop, so a monitor sees it
INPUT=/dev/null run_envoi -bp
is_status 0 "root's mailq: exit 0"
like "$STDOUT" "Maildrop: 3 messages from users \\([0-9]+ bytes\\) waiting for the next envoi -q" \
    "root's mailq names the maildrop's messages"
like "$STDOUT" "-- [0-9]+ Kbytes in 3 Requests\\." "... and counts them in the summary line"

# --- root's envoi -q imports and delivers it, as www-data
INPUT=/dev/null run_envoi -q -v
is_status 0 "root's envoi -q: exit 0"
wait_server
is "$(drops)" 0 "the maildrop is empty"
is "$(find "$SPOOL" -maxdepth 1 -name '*.env' | wc -l)" 0 "the queue is empty: delivered"
is "$(ls "$MAILDIR"/msg-*.eml 2>/dev/null | wc -l)" 3 "the server got three messages (over one connection)"
like "$(commands)" "MAIL FROM:<$WWW_NAME@client.example>" "envelope sender: $WWW_NAME@domain (the file's owner)"
like "$(commands)" "RCPT TO:<bob@example.org>" "the recipient"
like "$(commands)" "MAIL FROM:<app@example.org>" "-f: the envelope sender asked for (force_from off)"
like "$(commands | grep RCPT | sort | tr '\n' ' ')" "RCPT TO:<carol@example.org> RCPT TO:<dave@example.org>" "-t: To and Bcc recipients"
msg=$(cat "$(grep -l 'Subject: from the web' "$MAILDIR"/msg-*.eml)" 2>/dev/null)
msg2=$(cat "$(grep -l 'Subject: second' "$MAILDIR"/msg-*.eml)" 2>/dev/null)
unlike "$msg2" "Bcc:|dave" "-t: the Bcc header removed"
msg3=$(cat "$(grep -l 'Subject: by -bs' "$MAILDIR"/msg-*.eml)" 2>/dev/null)
like "$(commands)" "MAIL FROM:<bs@example.org>" "-bs: MAIL FROM kept (force_from off)"
like "$(commands)" "RCPT TO:<erin@example.org>" "-bs: the RCPT"
like "$msg3" $'\r\n\\.dotted\r\nthree\r\n' "-bs: the body un-stuffed once"
like "$msg3" "From: <?bs@example.org>?" "-bs: From completed from MAIL FROM"
like "$msg" "From: \"?Web Server\"? <$WWW_NAME@client.example>" "From: completed for $WWW_NAME with -F"
like "$msg" "Subject: from the web server" "the message itself"
unlike "$msg" "after the dot" "nothing after the \".\" line"
like "$msg" $'\r\n\\.\\.leading dot\r\n|\r\n\\.leading dot\r\n' "the dot-led line kept"

# --- planted entries: refused, moved to corrupt/, nothing sent or harmed
as "$WWW" sh -c "printf 'no drop file\n' >'$MAILDROP/d.garbage'"
as "$WWW" ln -s "$SYSCONF/envoi.conf" "$MAILDROP/d.symlink"
# two names for one valid drop file of the user's own
as "$WWW" sh -c "cat >'$MAILDROP/d.orig'" <"$TESTDIR/valid.drop"
as "$WWW" ln "$MAILDROP/d.orig" "$MAILDROP/d.hardlink"
as "$WWW" mkfifo "$MAILDROP/d.fifo"
as "$WWW" mkdir "$MAILDROP/d.dir"
as "$WWW" sh -c "{ printf 'envoi-maildrop 1\nrcpt bob@example.org\nexec /bin/sh\n\nhi\n'; } >'$MAILDROP/d.unknown'"
as "$WWW" sh -c "printf 'being written' >'$MAILDROP/t.inprogress'"
# a hard link to a file of root's (a valid drop file, even): the kernel
# may refuse it (fs.protected_hardlinks); if not, envoi must
cp "$TESTDIR/valid.drop" "$SPOOL/root-file"
chmod 600 "$SPOOL/root-file"
if as "$WWW" ln "$SPOOL/root-file" "$MAILDROP/d.rootlink" 2>/dev/null; then
	planted=9
else
	planted=8
	diag "the kernel refused a hard link to root's file (fs.protected_hardlinks)"
fi
is "$(drops)" "$planted" "planted: garbage, symlink, two hard links, FIFO, directory, unknown option, t.*"
start_server - -n 1 -T 300 < <(printf '%s\n' "tls starttls" "auth PLAIN" "user alice $PASS")
sed -i "s/^port .*/port $PORT/" "$SYSCONF/envoi.conf"
INPUT=/dev/null run_envoi -q
is_status 0 "root's envoi -q with planted entries: exit 0"
stop_server
is "$(commands | grep -c '^MAIL')" 0 "nothing was sent"
is "$(ls "$MAILDIR"/msg-*.eml 2>/dev/null | wc -l)" 0 "... no message at the server"
is "$(find "$MAILDROP" -mindepth 1 -maxdepth 1 -printf '%f\n')" "t.inprogress" \
    "the maildrop holds only the file still being written"
corrupt=$(find "$SPOOL/corrupt" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort)
names="garbage symlink hardlink orig fifo dir unknown"
[ "$planted" = 8 ] || names="$names rootlink"
for n in $names; do
	like "$corrupt" "\\.uid$WWW\\.d\\.$n$" "d.$n moved to corrupt/"
done
like "$STDERR" "d\\.symlink \\(uid $WWW\\) refused: cannot open it: a symbolic link" "the symlink: refused, named in the log"
like "$STDERR" "d\\.hardlink \\(uid $WWW\\) refused: 2 links" "the hard link: refused for its link count"
like "$STDERR" "d\\.fifo \\(uid $WWW\\) refused: not a regular file" "the FIFO: refused without blocking"
like "$STDERR" "d\\.unknown \\(uid $WWW\\) refused: option line 3: unknown option \"exec\"" "an unknown option: refused"
is "$(stat -c '%a %u %s' "$SYSCONF/envoi.conf")" "600 0 $(wc -c <"$SYSCONF/envoi.conf")" "root's file untouched"
cmp -s "$TESTDIR/valid.drop" "$SPOOL/root-file"
is "$?:$(stat -c '%a %u %h' "$SPOOL/root-file")" "0:600 0 1" "root's file untouched, one link again"
out=$(as "$OTHER" cat "$SPOOL"/corrupt/*.d.garbage 2>&1)
isnt "$?" 0 "corrupt/ is out of every user's reach"

done_testing
