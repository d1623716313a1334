#!/bin/bash
# Real callers, part 2: command-line mail programs, with envoi as
# /usr/sbin/sendmail inside a private mount namespace (tests/stack/
# callers.sh) and the real Postfix + Dovecot stack behind it. Each sends to
# the local name root (alice@example.org through the aliases file) with its
# own defaults, and each reports a failed sendmail in its exit status:
#   - bsd-mailx `mail -s SUBJECT root` (no From: envoi adds one);
#   - s-nail `s-nail -s SUBJECT root`;
#   - mutt in batch mode (`mutt -s SUBJECT root < body`) with its default
#     sendmail setting ("/usr/sbin/sendmail -oem -oi"); its From is
#     root@<this host>, which header rewriting must turn into root's alias;
#   - git send-email without --smtp-server (it then runs /usr/sbin/sendmail
#     -i), the patch's author being root@localhost.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/stack/callers.sh"

callers_need bsd-mailx s-nail mutt git
[ -x "$(git --exec-path)/git-send-email" ] ||
	skip_all "git send-email not installed (git-email)"
stack_up
callers_setup
body() { printf 'Hello from %s.\n\nSecond paragraph.\n' "$1"; }

# --- bsd-mailx
s=$(stack_subject bsd-mailx)
out=$(body bsd-mailx | bsd-mailx -s "$s" root 2>&1)
is "$?" 0 "bsd-mailx mail -s: exit 0" || diag "$out"
callers_check_delivery bsd-mailx alice@example.org "$s"
like "$([ -f "$CALLERS_FILE" ] && stack_body "$CALLERS_FILE" | head -1)" '^Hello from bsd-mailx\.$' \
	"bsd-mailx: body intact"

# --- s-nail (its own defaults, no user configuration)
s=$(stack_subject s-nail)
out=$(body s-nail | MAILRC=/dev/null s-nail -s "$s" root 2>&1)
is "$?" 0 "s-nail -s: exit 0" || diag "$out"
callers_check_delivery s-nail alice@example.org "$s"

# --- mutt, batch mode, default sendmail setting
s=$(stack_subject mutt)
is "$(mutt -F /dev/null -Q sendmail 2>&1)" 'sendmail="/usr/sbin/sendmail -oem -oi"' \
	"mutt: its default sendmail setting"
out=$(body mutt | mutt -F /dev/null -s "$s" root 2>&1)
is "$?" 0 "mutt batch mode: exit 0" || diag "$out"
callers_check_delivery mutt alice@example.org "$s"
unlike "$([ -f "$CALLERS_FILE" ] && stack_header "$CALLERS_FILE" From)" 'root@' \
	"mutt: its root@$(hostname) From did not escape"

# --- git send-email through sendmail
s=$(stack_subject git-send-email)
repo=$TESTDIR/repo
git init -q "$repo" &&
	git -C "$repo" config user.name "Release Bot" &&
	git -C "$repo" config user.email root@localhost &&
	echo "$s" >"$repo/file" && git -C "$repo" add file &&
	git -C "$repo" commit -q -m "$s" &&
	git -C "$repo" format-patch -q -1 -o "$TESTDIR/patches" ||
	bail_out "cannot make a git patch"
out=$(cd "$repo" && git send-email --confirm=never \
	--to=root --suppress-cc=all "$TESTDIR"/patches/*.patch 2>&1)
is "$?" 0 "git send-email through sendmail: exit 0" || diag "$out"
like "$out" 'OK\. Log says:' "git send-email: it says OK"
callers_check_delivery "git send-email" alice@example.org "$s"
like "$([ -f "$CALLERS_FILE" ] && stack_header "$CALLERS_FILE" From)" '^Release Bot <alice@example\.org>$' \
	"git send-email: display name kept, root@localhost rewritten"

callers_checker_clean
done_testing
