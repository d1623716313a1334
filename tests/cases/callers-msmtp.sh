#!/bin/bash
# Real callers written for msmtp, against the real Postfix + Dovecot stack,
# with envoi as a link named msmtp (what `make install-msmtp-link` makes)
# and the user's ~/.msmtprc:
#   - mutt in batch mode with `set sendmail="<link> -a work
#     --read-envelope-from"`: the envelope sender is the From header mutt
#     writes (Return-Path shows it), To and Cc both get the message;
#   - git send-email with sendemail.smtpserver pointing at the link and
#     sendemail.envelopeSender set (git then runs `msmtp -i -f ADDR ...`,
#     -f choosing the account whose from matches, +detail stripped).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"
. "$top_srcdir/tests/stack/functions.sh"

for p in mutt git; do
	command -v "$p" >/dev/null 2>&1 || skip_all "$p not installed (see tools/install-deps)"
done
[ -x "$(git --exec-path)/git-send-email" ] ||
	skip_all "git send-email not installed (git-email)"
stack_up

# The link, as installed; under valgrind a script of that name runs envoi
# through a second link, so that argv[0] is still msmtp.
mkdir -p "$TESTDIR/bin" "$TESTDIR/real"
ln -s "$ENVOI" "$TESTDIR/real/msmtp"
MSMTP=$TESTDIR/bin/msmtp
if [ -n "$ENVOI_WRAP" ]; then
	printf '#!/bin/sh\nexec %s --log-file=%s/valgrind.%%p %s "$@"\n' \
	    "$ENVOI_WRAP" "$TESTDIR" "$TESTDIR/real/msmtp" >"$MSMTP"
	chmod 755 "$MSMTP"
else
	ln -s "$TESTDIR/real/msmtp" "$MSMTP"
fi

# ~/.msmtprc: the stack account, and "work" on top of it. The default
# account's port is closed, so delivery proves which account was used.
mkdir -p "$HOME"
stack_config "$HOME/.msmtprc.stack" starttls "queue off" "queue_retrier off"
{
	sed '/^account default/d' "$HOME/.msmtprc.stack"
	printf '%s\n' "account work : stack" "account default : stack" "port 1"
} >"$HOME/.msmtprc"
chmod 600 "$HOME/.msmtprc"
rm -f "$HOME/.msmtprc.stack"
return_path() { [ -f "$1" ] && stack_header "$1" Return-Path; }

# --- mutt: set sendmail="msmtp -a work --read-envelope-from"
s=$(stack_subject mutt-msmtp)
cat >"$TESTDIR/muttrc" <<EOF
set sendmail="$MSMTP -a work --read-envelope-from"
set from="Alice Mutt <alice+mutt@example.org>"
set use_envelope_from=no
set record=""
set charset="utf-8"
EOF
out=$(printf 'Hello from mutt through msmtp.\n.\nAfter a dot line.\n' |
	mutt -F "$TESTDIR/muttrc" -s "$s" -c carol@example.net bob@example.org 2>&1)
is "$?" 0 "mutt with sendmail=\"msmtp -a work --read-envelope-from\": exit 0" || diag "$out"
f=$(stack_wait bob@example.org "$s")
ok "mutt: bob (To) got it" [ -n "$f" ]
is "$(return_path "$f")" "<alice+mutt@example.org>" \
	"mutt: the envelope sender is the From header's address"
like "$([ -f "$f" ] && stack_body "$f")" 'After a dot line' \
	"mutt: the text after a lone dot line arrived (msmtp reads to EOF)"
ok "mutt: carol (Cc) got it" stack_delivered carol@example.net "$s"

# --- git send-email: sendemail.smtpserver is the msmtp link
s=$(stack_subject git-msmtp)
repo=$TESTDIR/repo
git init -q "$repo" &&
	git -C "$repo" config user.name "Alice Git" &&
	git -C "$repo" config user.email alice@example.org &&
	git -C "$repo" config sendemail.smtpserver "$MSMTP" &&
	git -C "$repo" config sendemail.envelopeSender alice+git@example.org &&
	echo "$s" >"$repo/file" && git -C "$repo" add file &&
	git -C "$repo" commit -q -m "$s" &&
	git -C "$repo" format-patch -q -1 -o "$TESTDIR/patches" ||
	bail_out "cannot make a git patch"
out=$(cd "$repo" && git send-email --confirm=never --to=bob@example.org \
	--cc=carol@example.net --suppress-cc=self "$TESTDIR"/patches/*.patch 2>&1)
is "$?" 0 "git send-email with sendemail.smtpserver=<msmtp link>: exit 0" || diag "$out"
like "$out" 'OK\. Log says:' "git send-email: it says OK"
f=$(stack_wait bob@example.org "$s")
ok "git send-email: bob got it" [ -n "$f" ]
is "$(return_path "$f")" "<alice+git@example.org>" \
	"git send-email: the envelope sender is sendemail.envelopeSender (-f)"
like "$([ -f "$f" ] && stack_header "$f" From)" '^Alice Git <alice@example\.org>$' \
	"git send-email: From as git wrote it"
ok "git send-email: carol (Cc) got it" stack_delivered carol@example.net "$s"

if [ -n "$ENVOI_WRAP" ] && grep -l 'ERROR SUMMARY: [1-9]' "$TESTDIR"/valgrind.* >/dev/null 2>&1; then
	fail "valgrind: no errors in the msmtp runs"
else
	pass "no checker reports from the msmtp runs"
fi
done_testing
