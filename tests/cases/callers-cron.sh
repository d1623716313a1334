#!/bin/bash
# Real callers, part 1: the daemons that mail job output, with envoi as
# /usr/sbin/sendmail inside a private mount namespace (tests/stack/
# callers.sh) and the real Postfix + Dovecot stack behind it:
#   - Debian cron: a private `cron -f` reads a test crontab for root (the
#     private /etc/crontab and /etc/cron.d are emptied, so no real system
#     job runs); a job without MAILTO mails the crontab owner (root ->
#     alice@example.org through the aliases file), a job after
#     MAILTO=dave mails dave (no alias: qualified with the account's
#     domain). Cron calls "sendmail -FCronDaemon -i -B8BITMIME -oem root"
#     and sends "From: root (Cron Daemon)". www-data's crontab mails
#     www-data (carol@example.net by alias) through the maildrop: www-data
#     cannot read the root-only envoi.conf; root's `sendmail -q` sends it.
#   - at: a job queued with `at now` before a private `atd -f` starts, so
#     atd runs it at once and mails its output to root.
# Cron runs jobs on minute boundaries: the one wait here is up to ~70 s.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/stack/callers.sh"

callers_need cron atd at
stack_up
callers_setup

# --- cron: only our crontab
: >/etc/crontab
rm -f /etc/cron.d/* /var/spool/cron/crontabs/*
s_owner=$(stack_subject cron-owner)
s_mailto=$(stack_subject cron-mailto)
cat >/var/spool/cron/crontabs/root <<EOF
# envoi test crontab (private mount namespace)
* * * * * echo "$s_owner"
MAILTO=dave
* * * * * echo "$s_mailto"; echo "second line of output"
EOF
chown root:crontab /var/spool/cron/crontabs/root
chmod 600 /var/spool/cron/crontabs/root
# A system user's job: its mail goes through the maildrop.
s_www=$(stack_subject cron-www-data)
printf '* * * * * echo "%s"\n' "$s_www" >/var/spool/cron/crontabs/www-data
chown www-data:crontab /var/spool/cron/crontabs/www-data
chmod 600 /var/spool/cron/crontabs/www-data
# Daemons start with init's clean environment, not the test's.
daemon_env="env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8"
$daemon_env cron -f -L 15 >"$TESTDIR/cron.out" 2>&1 &
CRON_PID=$!
CALLERS_PIDS="$CALLERS_PIDS $CRON_PID"

# --- at: queue the job first, so atd runs it as soon as it starts
s_at=$(stack_subject at)
rm -f /var/spool/cron/atjobs/[!.]* /run/atd.pid
out=$(echo "echo '$s_at'" | at now 2>&1)
like "$out" 'job [0-9]+ at' "at now: the job is queued" || diag "$out"
$daemon_env atd -f >"$TESTDIR/atd.out" 2>&1 &
ATD_PID=$!
CALLERS_PIDS="$CALLERS_PIDS $ATD_PID"
callers_check_delivery at alice@example.org "$s_at"
like "$([ -f "$CALLERS_FILE" ] && stack_body "$CALLERS_FILE")" "^$s_at\$" \
	"at: the job's output is the body"
like "$([ -f "$CALLERS_FILE" ] && stack_header "$CALLERS_FILE" To)" 'alice@example\.org' \
	"at: To: root rewritten to root's alias"

# --- cron: both jobs run at the next minute boundary
CALLERS_WAIT=75 callers_check_delivery "cron, crontab owner" alice@example.org "$s_owner"
f=$CALLERS_FILE
like "$([ -f "$f" ] && stack_header "$f" From)" '^alice@example\.org \(Cron Daemon\)$' \
	"cron: From: root (Cron Daemon) rewritten, display name kept"
like "$([ -f "$f" ] && stack_header "$f" Subject)" '^Cron <root@' "cron: cron's own Subject"
CALLERS_WAIT=10 callers_check_delivery "cron, MAILTO=dave" dave@example.org "$s_mailto"
like "$([ -f "$CALLERS_FILE" ] && stack_body "$CALLERS_FILE" | tr '\n' '|')" \
	"^$s_mailto\\|second line of output\\|\$" "cron: the whole output is the body"
# www-data's job ran in the same minute; root's queue run picks it up.
callers_flush_until carol@example.net "$s_www" >/dev/null
# Debian cron writes "From: root (Cron Daemon)" for every user's jobs.
callers_check_delivery "cron, www-data's crontab" carol@example.net "$s_www"
ok "cron: no complaint from cron about the mailer" \
	eval '! grep -Ei "status|mta|error" "$TESTDIR/cron.out"' || diag "$(cat "$TESTDIR/cron.out")"
callers_stop $CALLERS_PIDS
CALLERS_PIDS=

callers_checker_clean
done_testing
