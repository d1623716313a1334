#!/bin/bash
# tests/sentinel.sh plant|check|clean STATE [ENVOI] - proof that the test
# suite never touched the machine it ran on (tests/isolate.sh).
#
#   plant  Before the suite, as root: put a sentinel in envoi's compiled-in
#          system paths (ENVOI --version; default ENVOI: $ENVOI, else
#          src/envoi): a queued message (ID.env, ID.msg, ID.st in the
#          format of src/queue.h) in the system queue, a drop file in the
#          maildrop (only when the maildrop is the sentinel's own, see
#          below), and a system envoi.conf and msmtprc where there are none.
#          Every file and directory it creates is recorded in the new
#          directory STATE, with a copy of each file. The planted files'
#          access and modification times are set to 2000-01-01, so that a
#          read moves the access time (relatime, the default, does then).
#   check  After the suite: every planted file is still there, byte for
#          byte, with its mode, owner and times (nothing read it, where the
#          file system keeps access times); every directory the sentinel
#          made is unchanged (nothing listed, added or removed); a system
#          file that was already there is unchanged. Then as clean. Exit 1,
#          naming each difference, if anything changed.
#   clean  Remove what plant created, and STATE: a file only if it is
#          still the one planted (same inode), a directory only if empty.
#          Nothing else is ever deleted.
#
# The sentinel can never leave the machine: its account and configuration
# file do not exist, its next attempt is in 2100, its sender is the null
# sender and its recipient is at .invalid. On a machine where envoi is in
# use, its own runs may read the sentinel entry (check then says so); the
# drop file is planted only in a maildrop the sentinel made, so that no
# running envoi-maildrop.path imports it.
set -u
me=tests/sentinel.sh
usage() { echo "usage: $me plant|check|clean STATE [ENVOI]" >&2; exit 64; }
[ $# -ge 2 ] || usage
action=$1 STATE=$2
ENVOI=${3:-${ENVOI:-src/envoi}}
. "$(dirname "$0")/isolate.sh"
OLD=946684800 # 2000-01-01, as the planted files' times
NAME=envoi-sentinel

die() { echo "$me: $*" >&2; exit 1; }

# made KIND PATH: record a created file or directory (with its inode).
made() { printf '%s %s %s\n' "$1" "$(stat -c %i "$2")" "$2" >>"$STATE/created"; }

mkdir_made() {  # mkdir_made MODE DIR: DIR and its missing parents, recorded
	[ -d "$2" ] && return 0
	mkdir_made 0755 "$(dirname "$2")" || return 1
	mkdir -m "$1" "$2" && chmod "$1" "$2" && made dir "$2"
}

put() {  # put MODE FILE: stdin into the new FILE, recorded, copied
	[ ! -e "$2" ] && [ ! -L "$2" ] || return 1
	(umask 077 && cat >"$2") && chmod "$1" "$2" && made file "$2" &&
		cp -p "$2" "$STATE/copy.$(wc -l <"$STATE/created")"
}

hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

plant() {
	local spool sys id now drop f kind ino path created_md=""
	[ "$(id -u)" = 0 ] || die "plant needs root (the system queue is root's)"
	iso_dirs || die "$_iso_why"
	mkdir "$STATE" || die "cannot make $STATE (left from an earlier run? $me clean $STATE)"
	: >"$STATE/created"
	spool=$ENVOI_LOCALSTATEDIR/spool/envoi sys=$ENVOI_SYSCONFDIR
	# The spool as make install makes it (drop.h).
	[ -d "$spool/maildrop" ] || created_md=1
	mkdir_made 0711 "$spool" && mkdir_made 1733 "$spool/maildrop" &&
		mkdir_made 0700 "$spool/corrupt" || die "cannot make $spool"
	now=$(date +%s)
	id=$(date -u -d "@$now" +%Y%m%d%H%M%S)$(hex 4)
	printf '%s\r\n' "From: <sentinel@$NAME.invalid>" "To: <sentinel@$NAME.invalid>" \
	    "Subject: envoi test suite sentinel, never to be sent" \
	    "Message-ID: <$id@$NAME.invalid>" "Date: $(date -R -d "@$now")" "" \
	    "Planted by $me in the system queue while envoi's test suite ran;" \
	    "no test may read or send it. $me check removes it." |
		put 0600 "$spool/$id.msg" &&
	printf '%s\n' "version 1" "account $NAME" "from " "rcpt sentinel@$NAME.invalid" \
	    "config /nonexistent/$NAME.conf" "config-id 0:0" "submitter-uid 0" \
	    "message-id $id@$NAME.invalid" "size $(wc -c <"$spool/$id.msg")" "8bit 0" \
	    "created $now" | put 0600 "$spool/$id.env" &&
	printf '%s\n' "attempts 1" "first-attempt $now" "last-attempt $now" \
	    "next-attempt 4102444800" \
	    "last-error planted by $me: the test suite must never see this entry" |
		put 0600 "$spool/$id.st" || die "cannot plant in $spool"
	if [ -n "$created_md" ]; then
		drop=$spool/maildrop/d.$(date -u -d "@$now" +%Y%m%d%H%M%S)$(hex 8)
		{ printf '%s\n' "envoi-maildrop 1" "from " "rcpt sentinel@$NAME.invalid" ""
		  printf '%s\r\n' "Subject: envoi test suite sentinel (maildrop)" "" \
		      "Planted by $me; no test may import it."; } | put 0600 "$drop" ||
			die "cannot plant in $spool/maildrop"
	fi
	mkdir_made 0755 "$sys" || die "cannot make $sys"
	for f in envoi.conf msmtprc; do
		if [ -e "$sys/$f" ] || [ -L "$sys/$f" ]; then
			# Not ours: only checked, never touched.
			sha256sum "$sys/$f" >>"$STATE/existing" 2>/dev/null
			continue
		fi
		printf '%s\n' "# Planted by $me while envoi's test suite runs, and removed" \
		    "# after it: no test may read this file. It sets nothing." |
			put 0644 "$sys/$f" || die "cannot plant $sys/$f"
	done
	# Old times on everything planted, then: does a read show?
	while read -r kind ino path; do
		touch -h -d "@$OLD" "$path"
	done <"$STATE/created"
	cat "$spool/$id.env" >/dev/null
	if [ "$(stat -c %X "$spool/$id.env")" != "$OLD" ]; then
		echo atime >"$STATE/reads"
		touch -d "@$OLD" "$spool/$id.env"
	fi
	while read -r kind ino path; do
		stat -c '%a %u %g %Y %n' "$path" >>"$STATE/stat"
		stat -c '%X %n' "$path" >>"$STATE/atime"
	done <"$STATE/created"
	echo "$me: planted $id in $spool${drop:+, ${drop##*/} in its maildrop}, and" \
	    "$(grep -c . "$STATE/created") files and directories in all" \
	    "($([ -f "$STATE/reads" ] && echo "reads show" || echo "reads do not show: no access times here"))"
}

# check: the differences, one line each, on stdout; status 1 if any.
check() {
	local kind ino path n=0 a u g t bad=""
	[ -f "$STATE/created" ] || die "no $STATE/created: nothing was planted"
	# Times first: reading the files below would move them.
	if [ -f "$STATE/reads" ]; then
		while read -r t path; do
			[ "$(stat -c %X "$path" 2>/dev/null)" = "$t" ] ||
				{ echo "$me: something read $path ($(stat -c %x "$path" 2>&1))"; bad=1; }
		done <"$STATE/atime"
	fi
	while read -r a u g t path; do
		[ "$(stat -c '%a %u %g %Y' "$path" 2>/dev/null)" = "$a $u $g $t" ] ||
			{ echo "$me: $path was changed (now mode, owner, group, time: $(stat -c '%a %u %g %y' "$path" 2>&1))"; bad=1; }
	done <"$STATE/stat"
	while read -r kind ino path; do
		n=$((n + 1))
		[ "$kind" = file ] || continue
		cmp -s "$STATE/copy.$n" "$path" ||
			{ echo "$me: $path is not byte for byte as planted"; bad=1; }
	done <"$STATE/created"
	if [ -f "$STATE/existing" ] && ! sha256sum --quiet -c "$STATE/existing" >/dev/null 2>&1; then
		echo "$me: a system file that was there before changed: $(cut -c67- "$STATE/existing" | tr '\n' ' ')"
		bad=1
	fi
	[ -z "$bad" ]
}

clean() {
	local kind ino path rc=0
	[ -d "$STATE" ] || return 0
	[ -f "$STATE/created" ] || die "$STATE is not a sentinel's record"
	# Newest first: files before their directories.
	tac "$STATE/created" | while read -r kind ino path; do
		if [ "$(stat -c %i "$path" 2>/dev/null)" != "$ino" ]; then
			echo "$me: $path is no longer what was planted; left alone" >&2
		elif [ "$kind" = dir ]; then
			rmdir "$path" || echo "$me: $path left in place (not empty)" >&2
		else
			rm -f "$path"
		fi
	done
	# STATE holds only what plant wrote.
	rm -f "$STATE"/created "$STATE"/stat "$STATE"/atime "$STATE"/reads "$STATE"/existing \
		"$STATE"/copy.* &&
		rmdir "$STATE" || rc=1
	return $rc
}

case $action in
plant) plant ;;
check)
	if check; then
		echo "$me: the sentinel is untouched"
		clean
	else
		clean
		exit 1
	fi ;;
clean) clean ;;
*) usage ;;
esac
