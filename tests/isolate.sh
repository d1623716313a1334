# shellcheck shell=bash
# tests/isolate.sh - the test suite never touches the machine it runs on.
# Sourced by tests/lib.sh (which calls iso_enter first thing), by
# tests/sentinel.sh (iso_dirs) and by tests/cases/isolation.sh; bash.
#
# envoi has compiled-in system paths (envoi --version): SYSCONFDIR/
# envoi.conf (else SYSCONFDIR/msmtprc), read by every run, and
# LOCALSTATEDIR/spool/envoi, which is root's own queue and holds the
# maildrop where users' mail waits for root. A test running envoi as root
# would list, send or import the machine's real mail there through the
# test's configuration. So every script that sources lib.sh runs in a
# private mount namespace in which those three paths do not exist (an
# overlay whiteout hides a real one without reading or changing it) and
# their directories have a private writable layer: an overlay whose upper
# layer is on a tmpfs, on the directory or, when it does not exist, on its
# nearest existing ancestor. What a test writes there (a system
# envoi.conf, root's queue and maildrop) lives and dies with the
# namespace. The rest of the directory stays visible, so a distribution
# build's SYSCONFDIR=/etc works as well as /usr/local/etc, and mounts below
# it (a container's /etc/hosts) are put back on top, except one on a
# hidden path (a container's bind-mounted /etc/envoi.conf stays hidden).
#
#   root    `unshare -m`. Without mount namespaces or overlayfs the script
#           bails out: it would run on the machine's own queue.
#   others  The same inside a user namespace (`unshare -U -r -m`), where
#           the script then runs under the caller's own uid again
#           (`unshare -U --map-user`), so envoi is the user it would have
#           been. Where user namespaces are not allowed nothing can be
#           hidden: the script runs only if neither system file exists,
#           and is skipped otherwise (lib.sh). It then reads nothing of
#           the machine's: a user's queue is under HOME (lib.sh points it
#           into TESTDIR), root's queue is out of users' reach and never
#           opened by their runs, and a user's run hands mail to the
#           maildrop only when a system file exists.
#
# How: iso_enter re-executes the script under `unshare`, where a supervisor
# (the script again, with ENVOI_TEST_ISO=setup:UID:GID) builds the layers,
# runs the script (ENVOI_TEST_ISO=run) and removes its tmpfs mount point
# afterwards. A script is inside once the directories of all three paths
# are on overlays of ours (mount source "envoi-iso", by device number);
# nothing in the environment can claim that for it.
#
# Functions: iso_enter "$@" (from lib.sh only), iso_dirs, iso_private DIR,
# iso_searchable DIR, iso_hide PATH... (with ENVOI_TEST_ISO_DIR, a tmpfs).

# Mount source of our layers, which iso_inside looks for.
: "${ISO_SOURCE:=envoi-iso}"

# iso_dirs: ENVOI_SYSCONFDIR and ENVOI_LOCALSTATEDIR, this envoi's system
# paths, from the binary itself, which must agree with the build's (the
# Makefile exports them): a binary partly compiled with other paths (make
# run with prefix=... over a tree whose sources had changed) would read
# files that no layer hides. Status 1, with the reason in _iso_why, when
# the paths are unknown or disagree.
iso_dirs() {
	local ver s='' l='' re='System configuration: (/[^;]*)/envoi\.conf; system queue: (/[^;]*)/spool/envoi \('
	ver=$("$ENVOI" --version 2>/dev/null)
	if [[ $ver =~ $re ]]; then
		s=${BASH_REMATCH[1]} l=${BASH_REMATCH[2]}
	fi
	if [ -n "$s" ] && [ "${ENVOI_SYSCONFDIR:-$s} ${ENVOI_LOCALSTATEDIR:-$l}" != "$s $l" ]; then
		_iso_why="$ENVOI was built for $s and $l, the build tree says $ENVOI_SYSCONFDIR and $ENVOI_LOCALSTATEDIR (rebuild it: make clean all)"
		return 1
	fi
	ENVOI_SYSCONFDIR=${s:-${ENVOI_SYSCONFDIR:-}}
	ENVOI_LOCALSTATEDIR=${l:-${ENVOI_LOCALSTATEDIR:-}}
	export ENVOI_SYSCONFDIR ENVOI_LOCALSTATEDIR
	_iso_why="$ENVOI --version names no system paths"
	[ "${ENVOI_SYSCONFDIR#/}" != "$ENVOI_SYSCONFDIR" ] &&
		[ "${ENVOI_LOCALSTATEDIR#/}" != "$ENVOI_LOCALSTATEDIR" ]
}

# _iso_paths: _iso_p, the paths that must not exist for a test.
_iso_paths() {
	_iso_p=("$ENVOI_LOCALSTATEDIR/spool/envoi"
	    "$ENVOI_SYSCONFDIR/envoi.conf" "$ENVOI_SYSCONFDIR/msmtprc")
}

# These helpers set variables rather than print, as a $(...) would cost a
# process each, and every test script runs them.

# _iso_dir PATH: _iso_d, the directory PATH is in.
_iso_dir() {
	_iso_d=${1%/*}
	_iso_d=${_iso_d:-/}
}

# _iso_root DIR: _iso_r, DIR or its nearest existing ancestor.
_iso_root() {
	_iso_r=$1
	while [ ! -d "$_iso_r" ]; do
		_iso_r=${_iso_r%/*}
		_iso_r=${_iso_r:-/}
	done
}

# _iso_covered DIR...: each DIR (or its nearest existing ancestor) is on
# one of our overlays: the file system that serves it, whatever is mounted
# where, is one whose mountinfo line says overlay from $ISO_SOURCE.
_iso_covered() {
	local d devs roots=()
	for d in "$@"; do
		_iso_root "$d"
		roots+=("$_iso_r")
	done
	devs=$(stat -c '%Hd:%Ld' "${roots[@]}") || return 1
	awk -v devs="$devs" -v src="$ISO_SOURCE" '
		{ for (i = 7; $i != "-"; i++); }
		$(i + 1) == "overlay" && $(i + 2) == src { ours[$3] = 1 }
		END { n = split(devs, want, "\n"); if (!n) exit 1
			for (d = 1; d <= n; d++) if (!(want[d] in ours)) exit 1 }' /proc/self/mountinfo
}

# iso_inside: the script runs where the system paths are ours.
iso_inside() {
	local p dirs=()
	[ -n "${ENVOI_SYSCONFDIR:-}" ] || return 1
	_iso_paths
	for p in "${_iso_p[@]}"; do
		_iso_dir "$p"
		dirs+=("$_iso_d")
	done
	_iso_covered "${dirs[@]}"
}

# _iso_layer DIR [NAME...]: an overlay on the existing DIR, upper layer on
# the tmpfs ENVOI_TEST_ISO_DIR, with each NAME of DIR hidden by a whiteout
# made beforehand. Mounts below DIR (a container's /etc/hosts, a deeper
# layer of ours) are set aside and put back on top, except those at or
# below a NAME.
_iso_layer() {
	local d=$1 n=0 sub=() l keep name hidden mp
	shift
	# A layer on / would not be seen: the process root stays the old one.
	[ "$d" != / ] || return 1
	# One directory per layer, numbered across the script's processes.
	while [ -e "$ENVOI_TEST_ISO_DIR/$n" ]; do
		n=$((n + 1))
	done
	n=$ENVOI_TEST_ISO_DIR/$n
	mkdir -p "$n/u" "$n/w" "$n/keep" || return 1
	# The merged directory takes the upper one's owner and mode. A user
	# namespace cannot give it root's: there it stays the caller's.
	chmod --reference="$d" "$n/u" || return 1
	chown --reference="$d" "$n/u" 2>/dev/null
	for name in "$@"; do
		mknod "$n/u/$name" c 0 0 || return 1
	done
	# Mount points below d, in mount order, so parents first (field 5 of
	# mountinfo, with octal escapes for blanks; such names are not expected
	# below these). One a user namespace cannot reach stays covered.
	while read -r _ _ _ _ mp _; do
		case $mp in "${d%/}"/*) sub+=("$mp") ;; esac
	done </proc/self/mountinfo
	for l in "${sub[@]}"; do
		keep=$n/keep/${l//\//_}
		if [ -d "$l" ]; then mkdir -p "$keep"; else : >"$keep"; fi
		mount --bind "$l" "$keep" 2>/dev/null || rm -rf "$keep"
	done
	mount -t overlay "$ISO_SOURCE" \
		-o "lowerdir=$d,upperdir=$n/u,workdir=$n/w" "$d" || return 1
	for l in "${sub[@]}"; do
		keep=$n/keep/${l//\//_}
		[ -e "$keep" ] || continue
		hidden=
		for name in "$@"; do
			case $l/ in "${d%/}/$name"/*) hidden=1 ;; esac
		done
		[ -n "$hidden" ] || mount --bind "$keep" "$l" 2>/dev/null ||
			echo "# could not put mount $l back in the namespace"
		# Nothing on our tmpfs may stay a window on the real system.
		umount -l "$keep"
	done
}

# iso_hide PATH...: each PATH absent, its directory privately writable.
# Layers go on the deepest directories first, so that a layer on an
# ancestor carries the deeper ones over.
iso_hide() {
	local p r s roots names
	roots=$(for p in "$@"; do
		_iso_dir "$p"
		_iso_root "$_iso_d"
		s=${_iso_r//[!\/]/}
		printf '%d %s\n' "${#s}" "$_iso_r"
	done | sort -rn | uniq | cut -d' ' -f2-)
	for r in $roots; do
		names=
		# A PATH whose directory is missing has nothing to hide.
		for p in "$@"; do
			_iso_dir "$p"
			[ "$_iso_d" != "$r" ] || names="$names ${p##*/}"
		done
		# shellcheck disable=SC2086 # names are single words
		_iso_layer "$r" $names || return 1
	done
}

# iso_private DIR: in the namespace, DIR (or its nearest existing
# ancestor) is privately writable, unless it already is.
iso_private() {
	_iso_root "$1"
	_iso_covered "$_iso_r" || _iso_layer "$_iso_r"
}

# iso_searchable DIR: every existing directory from DIR up to / lets others
# search it (o+x), as users need to reach the maildrop; one that does not
# is made private first, so the machine's own modes never change.
iso_searchable() {
	local d=$1
	while :; do
		if [ -d "$d" ] && [ "$(( $(stat -c '0%a' "$d") & 1 ))" = 0 ]; then
			{ _iso_covered "$d" || _iso_layer "$d"; } && chmod o+x "$d" || return 1
		fi
		[ "$d" != / ] || return 0
		_iso_dir "$d"
		d=$_iso_d
	done
}

# The supervisor: run as root in a new mount namespace, or as root of a
# new user namespace for the caller UID:GID.
_iso_supervise() {
	local spec=${ENVOI_TEST_ISO#setup:} uid gid child rc
	uid=${spec%%:*}
	gid=${spec#*:}
	# The mounts below go in a namespace of our own, never the machine's
	# (a parent we may not inspect is in another user namespace).
	if [ "$(readlink "/proc/$PPID/ns/mnt" 2>/dev/null)" = "$(readlink /proc/self/ns/mnt)" ]; then
		echo "Bail out! tests/isolate.sh: set up outside a namespace of its own"
		exit 1
	fi
	ENVOI_TEST_ISO=none
	ENVOI_TEST_ISO_DIR=$(mktemp -d "${TMPDIR:-/tmp}/envoi-iso.XXXXXX") || exit 1
	_iso_paths
	if mount -t tmpfs -o mode=0700 "$ISO_SOURCE" "$ENVOI_TEST_ISO_DIR" &&
		iso_hide "${_iso_p[@]}"; then
		ENVOI_TEST_ISO=run
	elif [ "$uid" = 0 ]; then
		echo "Bail out! tests/isolate.sh: cannot hide envoi's system configuration and queue (overlayfs on a tmpfs is needed)"
		exit 1
	fi
	export ENVOI_TEST_ISO ENVOI_TEST_ISO_DIR
	# In the background to outlive a signal; stdin stays the script's.
	if [ "$uid" = 0 ]; then
		bash "$0" "$@" <&0 &
	else
		unshare -U --map-user="$uid" --map-group="$gid" bash "$0" "$@" <&0 &
	fi
	child=$!
	trap 'kill "$child" 2>/dev/null' INT TERM HUP
	rc=
	while [ -z "$rc" ] || kill -0 "$child" 2>/dev/null; do
		wait "$child"
		rc=$?
	done
	umount -l "$ENVOI_TEST_ISO_DIR" && rmdir "$ENVOI_TEST_ISO_DIR"
	exit "$rc"
}

# Re-execute the script in a namespace of its own.
_iso_unshare() {
	local uid=$EUID gid
	if [ "$uid" = 0 ]; then
		unshare -m --propagation private true 2>/dev/null || {
			echo "Bail out! tests/isolate.sh: root's tests need a private mount namespace (unshare -m) to keep the machine's own mail queue and configuration out of reach; run them as another user, or with CAP_SYS_ADMIN"
			exit 1
		}
		ENVOI_TEST_ISO=setup:0:0 exec unshare -m --propagation private bash "$0" "$@"
	fi
	gid=$(id -g)
	if unshare -U -r -m --propagation private sh -c 'mount -t tmpfs envoi-probe /tmp &&
		exec unshare -U --map-user="$1" --map-group="$2" true' sh "$uid" "$gid" 2>/dev/null; then
		ENVOI_TEST_ISO=setup:$uid:$gid exec unshare -U -r -m --propagation private bash "$0" "$@"
	fi
	ENVOI_TEST_ISO=none
}

# iso_enter "$@": returns inside the namespace (ENVOI_TEST_ISO=run), or
# for a user where none can be had (ENVOI_TEST_ISO=none); else it
# re-executes the script, or bails out.
iso_enter() {
	case ${ENVOI_TEST_ISO:-} in
	setup:*) _iso_supervise "$@" ;;
	esac
	if ! iso_dirs; then
		echo "Bail out! tests/isolate.sh: $_iso_why"
		exit 1
	elif iso_inside; then
		ENVOI_TEST_ISO=run
	elif [ "${ENVOI_TEST_ISO:-}" = run ]; then
		_iso_paths
		echo "Bail out! tests/isolate.sh: the namespace does not hide ${_iso_p[*]}"
		exit 1
	elif [ "$EUID" = 0 ] || [ "${ENVOI_TEST_ISO:-}" != none ]; then
		_iso_unshare "$@"
	fi
}
