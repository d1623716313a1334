#!/bin/bash
# Real callers, part 3: programs and scripts that run /usr/sbin/sendmail
# themselves, with envoi installed there inside a private mount namespace
# (tests/stack/callers.sh) and the real Postfix + Dovecot stack behind it:
#   - Python's subprocess.run(["/usr/sbin/sendmail", "-t", "-oi"]) with
#     "From: root" and "To: root" (aliases, header rewriting);
#   - an old Perl script writing to "|/usr/lib/sendmail -t -oi" (To:
#     postmaster, an alias of root);
#   - PHP's mail() with the default sendmail_path ("sendmail -t -i"), as
#     root and as www-data (who cannot read the root-only envoi.conf: the
#     message goes through the maildrop and root's `sendmail -q`);
#   - a Symfony-Mailer-style `sendmail -bs` session (symfony-bs.php), as
#     root and as www-data (through the maildrop), From: USER@localhost;
#   - sudo's mailer (Defaults mail_always in a private sudoers.d; sudo runs
#     "sendmail -t" as root, detached);
#   - Debian's check_mailq (monitoring-plugins) with -M postfix over envoi's
#     mailq while three messages wait in the queue, and after `sendmail -q`.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/stack/callers.sh"

callers_need python3 perl php sudo
CHECK_MAILQ=/usr/lib/nagios/plugins/check_mailq
[ -x "$CHECK_MAILQ" ] || skip_all "$CHECK_MAILQ missing (monitoring-plugins-standard)"
stack_up
callers_setup

# --- Python: subprocess with -t -oi, exit status checked by the script
s=$(stack_subject python)
cat >"$TESTDIR/send.py" <<'EOF'
import subprocess, sys
msg = ("From: root\nTo: root\nSubject: %s\n\n"
       "Report from a Python script.\n.\nThe dot above is data (-oi).\n" % sys.argv[1])
r = subprocess.run(["/usr/sbin/sendmail", "-t", "-oi"], input=msg.encode(),
                   capture_output=True, timeout=120)
sys.stderr.write(r.stderr.decode(errors="replace"))
sys.exit(r.returncode)
EOF
out=$(python3 "$TESTDIR/send.py" "$s" 2>&1)
is "$?" 0 "python subprocess sendmail -t -oi: exit 0" || diag "$out"
callers_check_delivery python alice@example.org "$s"
f=$CALLERS_FILE
like "$([ -f "$f" ] && stack_header "$f" To)" '^alice@example\.org$' \
	"python: To: root rewritten to root's alias"
like "$([ -f "$f" ] && stack_body "$f" | tr '\n' '|')" '^Report from a Python script\.\|\.\|The dot' \
	"python: -oi kept the lone dot line"

# --- an old Perl script: open(MAIL, "|/usr/lib/sendmail -t"), as mdadm,
# logwatch-era tools and CGI scripts do; close() reports the status
s=$(stack_subject perl-usr-lib)
out=$(perl -e '
	open(MAIL, "|/usr/lib/sendmail -t -oi") or die "cannot run sendmail: $!";
	print MAIL "To: postmaster\nSubject: $ARGV[0]\n\nDisk report.\n";
	close(MAIL) or die "sendmail failed: status $?\n";' "$s" 2>&1)
is "$?" 0 "perl | /usr/lib/sendmail -t -oi: close() reports success" || diag "$out"
callers_check_delivery "perl /usr/lib/sendmail" alice@example.org "$s"

# --- PHP mail() with the default sendmail_path
is "$(php -r 'echo ini_get("sendmail_path");')" "/usr/sbin/sendmail -t -i" \
	"php: the default sendmail_path is /usr/sbin/sendmail -t -i"
s=$(stack_subject php)
out=$(php -r 'exit(mail("root", $argv[1], "Sent by PHP mail().\n") ? 0 : 1);' -- "$s" 2>&1)
is "$?" 0 "php: mail() returned true" || diag "$out"
callers_check_delivery php alice@example.org "$s"

# --- PHP as www-data (a web application): the system configuration is
# root's, so the message goes through the maildrop to root's queue
s=$(stack_subject php-www-data)
out=$(callers_as www-data php -r 'exit(mail("root", $argv[1], "Sent by PHP as www-data.\n") ? 0 : 1);' -- "$s" 2>&1)
is "$?" 0 "php as www-data: mail() returned true (handed to the system queue)" || diag "$out"
ok "php as www-data: it cannot read the system configuration" \
	callers_as www-data sh -c "! cat '$CALLERS_CONF' 2>/dev/null"
callers_flush_until alice@example.org "$s" >/dev/null
callers_check_delivery "php as www-data" alice@example.org "$s"

# --- Symfony Mailer's SendmailTransport in -bs mode
s=$(stack_subject symfony-bs)
out=$(php "$top_srcdir/tests/stack/symfony-bs.php" root@localhost root "$s" 2>&1)
is "$?" 0 "symfony -bs: every reply as Symfony expects, exit 0" || diag "$out"
like "$out" 'S: 250 2\.0\.0 Ok: delivered as [0-9A-Za-z]+' "symfony -bs: end of data answered 250 delivered as ID"
callers_check_delivery "symfony -bs" alice@example.org "$s"
like "$([ -f "$CALLERS_FILE" ] && stack_body "$CALLERS_FILE")" '^\.a line with a leading dot' \
	"symfony -bs: the dot-stuffed line arrived unstuffed"

# --- the same Symfony application as www-data: -bs through the maildrop
s=$(stack_subject symfony-bs-www-data)
out=$(callers_as www-data php "$top_srcdir/tests/stack/symfony-bs.php" www-data@localhost root "$s" 2>&1)
is "$?" 0 "symfony -bs as www-data: every reply as Symfony expects, exit 0" || diag "$out"
like "$out" 'S: 250 2\.0\.0 Ok: handed to the system queue as [0-9A-Za-z]+' \
	"symfony -bs as www-data: 250 once handed to the system queue"
callers_flush_until alice@example.org "$s" >/dev/null
callers_check_delivery "symfony -bs as www-data" alice@example.org "$s" carol@example.net

# --- sudo: mail_always makes every use mail the mailto (root)
s=$(stack_subject sudo)
printf 'Defaults mail_always\nDefaults mailsub="%s"\n' "$s" >/etc/sudoers.d/envoi-test
chmod 440 /etc/sudoers.d/envoi-test
out=$(sudo -n true 2>&1)
is "$?" 0 "sudo with mail_always: exit 0" || diag "$out"
callers_check_delivery sudo alice@example.org "$s"
like "$([ -f "$CALLERS_FILE" ] && stack_header "$CALLERS_FILE" To)" 'alice@example\.org' \
	"sudo: To: root rewritten to root's alias"
rm -f /etc/sudoers.d/envoi-test

# --- check_mailq over envoi's mailq (Postfix format)
s=$(stack_subject mailq)
for i in 1 2 3; do
	printf 'Subject: %s %s\n\nqueued for check_mailq\n' "$s" "$i" |
		/usr/sbin/sendmail -odq bob@example.org ||
		fail "sendmail -odq (message $i)"
done
out=$("$CHECK_MAILQ" -M postfix -w 2 -c 10 2>&1)
rc=$?
is "$rc" 1 "check_mailq -M postfix -w 2: WARNING (exit 1) with 3 waiting" || diag "$out"
like "$out" '^WARNING: postfix mailq is 3 \(threshold w = 2\)' "check_mailq counts 3 messages"
out=$("$CHECK_MAILQ" -M postfix -w 5 -c 10 2>&1)
is "$?" 0 "check_mailq -w 5: OK (exit 0)" || diag "$out"
like "$out" '^OK: postfix mailq \(3\) is below threshold' "check_mailq: 3 below the threshold"
out=$(/usr/sbin/sendmail -q 2>&1)
is "$?" 0 "sendmail -q: queue flushed, exit 0" || diag "$out"
ok "the queued messages arrived" stack_delivered bob@example.org "$s 3"
out=$("$CHECK_MAILQ" -M postfix -w 2 -c 10 2>&1)
is "$?" 0 "check_mailq on the empty queue: exit 0" || diag "$out"
like "$out" '^OK: postfix mailq reports queue is empty' "check_mailq: queue is empty"

callers_checker_clean
done_testing
