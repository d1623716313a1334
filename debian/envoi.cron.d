# envoi: root's mail queue and maildrop every 5 minutes on machines that
# do not run systemd. With systemd, envoi-queue.timer and
# envoi-maildrop.path do this, and this line does nothing. It also does
# nothing once the package is removed (this file stays until purge).
# Output goes to syslog, not to a cron mail that would join the queue.
SHELL=/bin/sh
PATH=/usr/sbin:/usr/bin:/sbin:/bin
*/5 * * * *	root	[ -d /run/systemd/system ] || [ ! -x /usr/bin/envoi ] || envoi --retry 2>&1 | logger -t envoi -p mail.notice
