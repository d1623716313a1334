#!/bin/sh
# tests/stack/start.sh DIR
#
# Starts a private Postfix (submission with STARTTLS + smtps with implicit
# TLS, SASL through Dovecot, delivery into Maildirs) and a private Dovecot
# (SASL auth only), both living entirely under DIR and listening only on
# 127.0.0.1 at ports picked now. The system's own Postfix and Dovecot
# configuration is never read, written, started or stopped.
#
# On success DIR/env is a sourceable shell file (see the end of this script)
# and the exit code is 0. If something does not come up, a message naming
# the log to read goes to stderr and the exit code is 1 (anything already
# started is stopped again). Not root, or Postfix/Dovecot/certtool missing:
# exit 77, which automake reports as SKIP.
#
# With STACK_OAUTH2_INTROSPECTION set (an https:// URL with the
# introspecting client's id and secret as its user and password), Dovecot
# also validates OAuth 2.0 bearer tokens (XOAUTH2, OAUTHBEARER) through
# that RFC 7662 introspection endpoint, whose certificate is checked
# against STACK_OAUTH2_CA (a CA file; default the stack's own,
# DIR/certs/ca.pem; copied to DIR/dovecot/oauth2-ca.pem, where Dovecot's
# unprivileged auth process can read it). The token's
# `sub` is the user name; a token the server says is not active is
# refused. Without it, nothing changes: the passwords are the only passdb
# (tests/cases/stack-oauth2.sh is the one test that sets it).
#
# Layout of DIR:
#   env                  sourceable settings for tests
#   certs/               throw-away CA and server certificate (tests/mkcerts.sh)
#   postfix/             main.cf, master.cf (Postfix's config_directory)
#   spool/               Postfix queue_directory (private/auth: Dovecot's socket)
#   data/                Postfix data_directory
#   dovecot/             dovecot.conf, users (passwd-file), run/ (base_dir),
#                        oauth2.conf.ext (with STACK_OAUTH2_INTROSPECTION)
#   mail/DOMAIN/LOCAL/   Maildirs; the IDN domain is stored under its A-label
#   maillog, dovecot.log logs

set -u

me=stack/start.sh
die() { echo "$me: $*" >&2; exit 1; }
skip() { echo "$me: SKIP: $*" >&2; exit 77; }

[ $# -eq 1 ] || { echo "usage: $me DIR" >&2; exit 64; }

# The stack needs root: Postfix's master and Dovecot's master start as root
# and drop privileges per service, and delivery changes uid.
[ "$(id -u)" = 0 ] || skip "the Postfix + Dovecot stack needs root"
PATH=/usr/sbin:/sbin:$PATH
export PATH
for prog in postfix postconf dovecot certtool; do
	command -v $prog >/dev/null 2>&1 ||
		skip "$prog not installed (apt-get install postfix dovecot-core gnutls-bin)"
done
for u in postfix dovecot dovenull nobody; do
	id "$u" >/dev/null 2>&1 || skip "system user $u missing"
done

here=$(cd "$(dirname "$0")" && pwd) || die "cannot find my own directory"
mkcerts=$here/../mkcerts.sh
[ -f "$mkcerts" ] || die "$mkcerts not found"

mkdir -p "$1" || die "cannot create $1"
DIR=$(cd "$1" && pwd) || die "cannot enter $1"
# Unix socket paths are limited to 108 bytes; keep ours well inside.
[ ${#DIR} -le 60 ] ||
	die "$DIR is too long for unix socket paths; use a shorter DIR (e.g. under /tmp)"
if [ -e "$DIR/env" ] || [ -e "$DIR/postfix" ] || [ -e "$DIR/dovecot" ]; then
	die "$DIR is in use (stop it with tests/stack/stop.sh $DIR, or pick an empty directory)"
fi
case $DIR in
*[!A-Za-z0-9/._-]*) die "DIR must contain only [A-Za-z0-9/._-]: $DIR" ;;
esac

# Postfix and Dovecot services run as unprivileged users and need to traverse
# DIR; Maildir delivery runs as nobody.
chmod 755 "$DIR"
if command -v runuser >/dev/null 2>&1 && ! runuser -u nobody -- test -x "$DIR"; then
	die "$DIR is not reachable by unprivileged users (a parent directory has mode 0700?)"
fi

# ------------------------------------------------------------------ ports
# A port is free if no IPv4/IPv6 socket of any state uses it locally. There
# is a window between choosing and binding; if Postfix loses that race, its
# listener does not come up and we fail clearly below.
used_ports() {
	cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
		awk 'NR > 1 { split($2, a, ":"); print a[2] }' | sort -u
}
pick_port() {
	used=$(used_ports)
	n=0
	while [ $n -lt 200 ]; do
		n=$((n + 1))
		# od gives randomness without bash's $RANDOM.
		r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
		p=$((20000 + r % 40000))
		hex=$(printf '%04X' $p)
		case " $used $* " in
		*" $hex "* | *" $p "*) continue ;;
		esac
		echo $p
		return 0
	done
	return 1
}
SUBMISSION_PORT=$(pick_port) || die "no free port found"
SMTPS_PORT=$(pick_port "$SUBMISSION_PORT") || die "no free port found"

# ------------------------------------------------------------------ certs
sh "$mkcerts" "$DIR/certs" >"$DIR/mkcerts.log" 2>&1 ||
	die "tests/mkcerts.sh failed; see $DIR/mkcerts.log"
for f in ca.pem server.pem server-key.pem server.sha256; do
	[ -s "$DIR/certs/$f" ] || die "tests/mkcerts.sh did not produce certs/$f"
done
STACK_FPR=$(cat "$DIR/certs/server.sha256")

# ------------------------------------------------------------------ users
STACK_USER=alice
STACK_PASSWORD=$(od -An -N9 -tx1 /dev/urandom | tr -d ' \n')
STACK_USER2=bob
STACK_PASSWORD2=$(od -An -N9 -tx1 /dev/urandom | tr -d ' \n')

# ------------------------------------------------------------------ dovecot
mkdir -p "$DIR/dovecot/run" "$DIR/dovecot/state" "$DIR/mail" \
	"$DIR/postfix" "$DIR/spool" "$DIR/data" ||
	die "cannot create directories under $DIR"
# queue_directory belongs to root, data_directory to mail_owner.
chown postfix:postfix "$DIR/data" && chmod 700 "$DIR/data" ||
	die "cannot chown $DIR/data"
# Plaintext passwords, so that every mechanism (CRAM-MD5 and SCRAM need the
# secret or a mechanism-specific hash) works from one entry.
{
	echo "$STACK_USER:{PLAIN}$STACK_PASSWORD"
	echo "$STACK_USER2:{PLAIN}$STACK_PASSWORD2"
} >"$DIR/dovecot/users"
chown root:dovecot "$DIR/dovecot/users"
chmod 640 "$DIR/dovecot/users"
chmod 755 "$DIR/dovecot"

# Postfix's smtpd talks to Dovecot through a socket in Postfix's queue
# directory (private/ is created by `postfix start`; Dovecot creates the
# socket itself, so it starts after Postfix).
AUTH_SOCKET=$DIR/spool/private/auth

# OAuth 2.0 bearer tokens, only when asked for: a passdb consulted for the
# token mechanisms only, so the password mechanisms stay as they are.
MECHS="plain login cram-md5 scram-sha-1 scram-sha-256"
OAUTH2_PASSDB=
if [ -n "${STACK_OAUTH2_INTROSPECTION:-}" ]; then
	MECHS="$MECHS xoauth2 oauthbearer"
	oauth2_ca=${STACK_OAUTH2_CA:-$DIR/certs/ca.pem}
	cp "$oauth2_ca" "$DIR/dovecot/oauth2-ca.pem" &&
		chmod 644 "$DIR/dovecot/oauth2-ca.pem" || die "cannot copy $oauth2_ca"
	cat >"$DIR/dovecot/oauth2.conf.ext" <<EOF
introspection_mode = post
introspection_url = $STACK_OAUTH2_INTROSPECTION
force_introspection = yes
username_attribute = sub
active_attribute = active
active_value = true
tls_ca_cert_file = $DIR/dovecot/oauth2-ca.pem
timeout_msecs = 10000
EOF
	# It holds the introspecting client's secret.
	chown root:dovecot "$DIR/dovecot/oauth2.conf.ext" &&
		chmod 640 "$DIR/dovecot/oauth2.conf.ext" ||
		die "cannot write $DIR/dovecot/oauth2.conf.ext"
	OAUTH2_PASSDB="passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $DIR/dovecot/oauth2.conf.ext
}"
fi

cat >"$DIR/dovecot/dovecot.conf" <<EOF
# Private Dovecot for the envoi test stack: SASL authentication only.
base_dir = $DIR/dovecot/run
state_dir = $DIR/dovecot/state
instance_name = envoi-stack-$$
protocols = none
ssl = no
log_path = $DIR/dovecot.log
info_log_path = $DIR/dovecot.log
debug_log_path = $DIR/dovecot.log
auth_verbose = yes
# Postfix tells Dovecot whether the client used TLS; the submission ports
# only offer AUTH after TLS anyway, and the password mechanisms must be
# offered by Dovecot for Postfix to list them.
disable_plaintext_auth = no
auth_mechanisms = $MECHS
$OAUTH2_PASSDB
passdb {
  driver = passwd-file
  args = scheme=PLAIN $DIR/dovecot/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent allow_all_users=yes
}
# No brute-force protection in a test stack: Dovecot's anvil penalty grows
# to 15 s per attempt after a few wrong passwords, beyond Postfix's
# 10-second wait for its auth server (smtpd then says 454 "Connection lost
# to authentication server"), and the failure delay only slows tests.
auth_failure_delay = 0
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service auth {
  unix_listener $AUTH_SOCKET {
    mode = 0660
    user = postfix
    group = postfix
  }
}
service stats {
  unix_listener stats-reader {
    mode = 0600
  }
  unix_listener stats-writer {
    mode = 0600
  }
}
EOF

# ------------------------------------------------------------------ postfix
cat >"$DIR/postfix/main.cf" <<EOF
# Private Postfix for the envoi test stack. Loopback only, no DNS, no
# outbound delivery: mail for the test domains goes into Maildirs under
# $DIR/mail, everything else is refused.
compatibility_level = 3.6
queue_directory = $DIR/spool
data_directory = $DIR/data
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-envoi-stack
maillog_file = $DIR/maillog
maillog_file_prefixes = $DIR
import_environment = MAIL_CONFIG MAIL_DEBUG TZ LANG=C

myhostname = localhost
mydomain = localdomain
myorigin = \$myhostname
mydestination =
mynetworks = 127.0.0.0/8
# Show exactly what the client sent: Postfix adds no Date, Message-ID or
# From and rewrites no headers for SMTP clients (envoi must do that).
local_header_rewrite_clients =
always_add_missing_headers = no
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
biff = no
append_dot_mydomain = no
alias_maps =
alias_database =
local_recipient_maps =

# No DNS and no outbound relay at all.
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtpd_peername_lookup = no
relayhost =
default_transport = error:outbound mail is disabled in the envoi test stack
relay_transport = error:outbound mail is disabled in the envoi test stack
# Bounces and notices could only go nowhere.
notify_classes =
bounce_notice_recipient = postmaster@example.org

# Delivery into Maildirs for the users listed in mailboxes (alice, bob,
# carol, dave, postmaster) at the test domains.
virtual_mailbox_domains = example.org, example.net, xn--bcher-kva.example, bücher.example
virtual_mailbox_base = $DIR/mail
virtual_mailbox_maps = texthash:$DIR/postfix/mailboxes
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
virtual_minimum_uid = 100
smtputf8_enable = yes

# Room for the 100 MB test message.
message_size_limit = 209715200
mailbox_size_limit = 0
virtual_mailbox_limit = 0
header_size_limit = 1024000

# TLS (OpenSSL in Postfix; TLS 1.3 enabled, 1.2 minimum).
smtpd_tls_cert_file = $DIR/certs/server.pem
smtpd_tls_key_file = $DIR/certs/server-key.pem
smtpd_tls_protocols = >=TLSv1.2
smtpd_tls_mandatory_protocols = >=TLSv1.2
smtpd_tls_received_header = yes
smtpd_tls_loglevel = 1
smtpd_tls_session_cache_database =

# SASL through the private Dovecot.
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
smtpd_sasl_auth_enable = no
smtpd_sasl_authenticated_header = yes
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
broken_sasl_auth_clients = no
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions =
# Quick failures in tests, not tarpits.
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 100
smtpd_hard_error_limit = 100
EOF

# Mailboxes: local@domain -> Maildir, relative to virtual_mailbox_base (the
# trailing slash selects Maildir format). virtual(8) allows no regexp
# substitution here, so the users are listed; the IDN domain in either form
# lands under its A-label.
STACK_LOCALPARTS="alice bob carol dave postmaster"
for d in example.org example.net xn--bcher-kva.example bücher.example; do
	case $d in
	*.org | *.net) dd=$d ;;
	*) dd=xn--bcher-kva.example ;;
	esac
	for l in $STACK_LOCALPARTS; do
		printf '%s@%s\t%s/%s/\n' "$l" "$d" "$dd" "$l"
	done
done >"$DIR/postfix/mailboxes"
# Delivery runs as nobody, which creates the Maildirs below this.
chown 65534:65534 "$DIR/mail"

cat >"$DIR/postfix/master.cf" <<EOF
# service type private unpriv chroot wakeup maxproc command
127.0.0.1:$SUBMISSION_PORT inet n - n - - smtpd
  -o syslog_name=postfix-envoi-stack/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_auth_only=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
127.0.0.1:$SMTPS_PORT inet n - n - - smtpd
  -o syslog_name=postfix-envoi-stack/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_auth_only=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
tlsmgr    unix - - n 1000? 1 tlsmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
flush     unix n - n 1000? 0 flush
proxymap  unix - - n - - proxymap
proxywrite unix - - n - 1 proxymap
showq     unix n - n - - showq
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
virtual   unix - n n - - virtual
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF

stop_all() {
	postfix -c "$DIR/postfix" stop >/dev/null 2>&1
	if [ -s "$DIR/dovecot/run/master.pid" ]; then
		kill "$(cat "$DIR/dovecot/run/master.pid")" 2>/dev/null
	fi
}
fail() {
	stop_all
	die "$*"
}

# `postfix check` (run by start) creates the missing queue and data
# directories with the right owners.
postfix -c "$DIR/postfix" start >"$DIR/postfix-start.log" 2>&1 ||
	fail "postfix did not start; see $DIR/postfix-start.log and $DIR/maillog"
dovecot -c "$DIR/dovecot/dovecot.conf" >"$DIR/dovecot-start.log" 2>&1 ||
	fail "dovecot did not start; see $DIR/dovecot-start.log and $DIR/dovecot.log"

# ------------------------------------------------------------------ wait
# "Accepts connections" = a listening socket on 127.0.0.1:PORT (state 0A in
# /proc/net/tcp); Postfix's master binds and listens before it detaches.
listening() {
	hex=$(printf '%04X' "$1")
	grep -q "^ *[0-9]*: 0100007F:$hex [0-9A-F:]* 0A " /proc/net/tcp
}
i=0
while :; do
	if listening "$SUBMISSION_PORT" && listening "$SMTPS_PORT" &&
		[ -S "$AUTH_SOCKET" ] && [ -s "$DIR/spool/pid/master.pid" ]; then
		break
	fi
	i=$((i + 1))
	[ $i -le 100 ] || {
		listening "$SUBMISSION_PORT" || echo "$me: port $SUBMISSION_PORT (submission) not listening" >&2
		listening "$SMTPS_PORT" || echo "$me: port $SMTPS_PORT (smtps) not listening" >&2
		[ -S "$AUTH_SOCKET" ] || echo "$me: Dovecot auth socket $AUTH_SOCKET missing" >&2
		fail "stack did not come up within 10 s; see $DIR/maillog and $DIR/dovecot.log"
	}
	sleep 0.1
done

POSTFIX_PID=$(tr -d ' ' <"$DIR/spool/pid/master.pid")
DOVECOT_PID=$(cat "$DIR/dovecot/run/master.pid")

cat >"$DIR/env" <<EOF
# Written by tests/stack/start.sh; source it. Stop with tests/stack/stop.sh $DIR
STACK_DIR='$DIR'
STACK_HOST=127.0.0.1
SUBMISSION_PORT=$SUBMISSION_PORT
SMTPS_PORT=$SMTPS_PORT
STACK_USER='$STACK_USER'
STACK_PASSWORD='$STACK_PASSWORD'
STACK_USER2='$STACK_USER2'
STACK_PASSWORD2='$STACK_PASSWORD2'
STACK_CA='$DIR/certs/ca.pem'
STACK_FPR='$STACK_FPR'
STACK_MAIL='$DIR/mail'
STACK_MAILLOG='$DIR/maillog'
POSTFIX_CONFIG='$DIR/postfix'
POSTFIX_PID=$POSTFIX_PID
DOVECOT_PID=$DOVECOT_PID
EOF
chmod 600 "$DIR/env"
echo "$me: stack up in $DIR (submission 127.0.0.1:$SUBMISSION_PORT, smtps 127.0.0.1:$SMTPS_PORT)"
