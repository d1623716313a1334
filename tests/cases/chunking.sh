#!/bin/bash
# chunking.sh - CHUNKING (RFC 3030): with the server offering it, envoi
# sends the body with BDAT (pipelined with MAIL and RCPT, no 354 round
# trip, no dot-stuffing), delivering the same octets as DATA; large bodies
# go in several chunks with flat memory; refusals of BDAT fail like the
# end of data's; `chunking off` keeps DATA.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

CONF=$TESTDIR/conf
INPUT=$TESTDIR/message
# Leading dots (stuffed by DATA, not by BDAT), a lone dot (-i: not the
# end of input), a line of 998 octets, an empty line at the end.
{
	std_message chunking
	printf '.\n..\n.x\n'
	head -c 998 /dev/zero | tr '\0' 'y'
	printf '\n\n'
} >"$INPUT"

# run_one MODE CAPS...: one message through a STARTTLS (MODE starttls) or
# implicit TLS (implicit) server offering the extra caps; sets RT.
run_one() {
	local mode=$1 c
	shift
	{
		echo "tls $mode"
		echo "tlsversion 1.3"
		echo "auth PLAIN"
		echo "user alice secret"
		for c in "$@"; do
			echo "$c"
		done
	} >"$TESTDIR/script"
	start_server "$TESTDIR/script"
	if [ "$mode" = implicit ]; then
		std_config "$CONF" "tls_starttls off" "domain client.example" ${EXTRA:+"$EXTRA"}
	else
		std_config "$CONF" "domain client.example" ${EXTRA:+"$EXTRA"}
	fi
	run_envoi -C "$CONF" -i bob@example.org
	wait_server
	RT=$(round_trips)
}

size=$(crlf <"$INPUT" | wc -c)
for mode in starttls implicit; do
	run_one "$mode"
	is_status 0 "$mode, DATA (no CHUNKING offered): exit 0"
	rt_data=$RT
	cp "$MAILDIR/msg-1.eml" "$TESTDIR/data-$mode.eml"

	run_one "$mode" "cap CHUNKING"
	is_status 0 "$mode, CHUNKING: exit 0"
	rt_bdat=$RT
	cmds=$(commands | sed -n '/^MAIL/,$p' | sed 's/ SIZE=[0-9]*//')
	is "$cmds" "MAIL FROM:<sender@example.org>
RCPT TO:<bob@example.org>
BDAT $(stat -c %s "$TESTDIR/data-$mode.eml") LAST
QUIT" "$mode, CHUNKING: MAIL, RCPT, one BDAT LAST, QUIT; no DATA"
	ok "$mode, CHUNKING: the server read $size octets in the chunk" \
	    grep -q "^D: $size octets\$" "$TRANSCRIPT"
	ok "$mode, CHUNKING: message byte-identical to the DATA path" \
	    cmp -s "$MAILDIR/msg-1.eml" "$TESTDIR/data-$mode.eml"
	crlf <"$INPUT" | file_is "$MAILDIR/msg-1.eml" "$mode, CHUNKING: body as given, CRLF"
	unlike "$(cat "$TRANSCRIPT")" '^ERR:' "$mode, CHUNKING: no protocol error"
	diag "round trips, $mode (TLS 1.3) + AUTH PLAIN, one message: DATA $rt_data, BDAT $rt_bdat"
	is "$rt_bdat" "$((rt_data - 1))" "$mode: BDAT saves the 354 round trip ($rt_data -> $rt_bdat)"
	printf -v "bdat_$mode" %s "$rt_bdat"
done
is "$bdat_starttls" 8 "STARTTLS: BDAT at 8 round trips"
is "$bdat_implicit" 6 "implicit TLS: BDAT at 6 round trips"

# Without PIPELINING: BDAT after the RCPT reply, still no 354.
run_one implicit "cap CHUNKING" "nocap PIPELINING"
is_status 0 "CHUNKING without PIPELINING: exit 0"
cmp -s "$MAILDIR/msg-1.eml" "$TESTDIR/data-implicit.eml"
ok "CHUNKING without PIPELINING: message byte-identical" test $? = 0
diag "round trips, implicit TLS, CHUNKING without PIPELINING: $RT"

# chunking off keeps DATA.
EXTRA="chunking off" run_one starttls "cap CHUNKING"
is_status 0 "chunking off: exit 0"
like "$(commands)" '^DATA$' "chunking off: DATA"
unlike "$(commands)" '^BDAT' "chunking off: no BDAT"
is "$RT" 9 "chunking off: DATA's 9 round trips"

# Refusals of BDAT LAST: temporary and permanent, as for the end of data.
run_one implicit "cap CHUNKING" "on BDAT reply 451 4.3.0 queue file write error"
is_status 75 "BDAT LAST refused 451: EX_TEMPFAIL (75)"
like "$STDERR" '451 4\.3\.0 queue file write error \(in reply to BDAT\)' \
    "BDAT 451: the server's reply, in reply to BDAT"
ok "BDAT 451: nothing saved" test ! -e "$MAILDIR/msg-1.eml"
run_one implicit "cap CHUNKING" "on BDAT reply 554 5.7.1 message refused"
is_status 69 "BDAT LAST refused 554: EX_UNAVAILABLE (69)"
like "$STDERR" '554 5\.7\.1 message refused \(in reply to BDAT\)' \
    "BDAT 554: the server's reply, in reply to BDAT"

# Every RCPT refused: the server still reads the chunk and refuses it;
# the message fails with the RCPT refusal, as with DATA.
run_one implicit "cap CHUNKING" "on RCPT reply 550 5.1.1 no such user"
is_status 67 "all recipients refused with BDAT: EX_NOUSER (67)"
like "$STDERR" '550 5\.1\.1 no such user \(in reply to RCPT TO\)' \
    "all recipients refused: the RCPT reply is the reason"
like "$(replies)" '^554 5\.5\.1 Error: no valid recipients$' \
    "all recipients refused: the server consumed the chunk and refused it"
unlike "$(cat "$TRANSCRIPT")" '^ERR:' "all recipients refused: no protocol error"

# A queue run: three messages over one connection in one flight (the
# window): MAIL/RCPT/BDAT and body, then RSET/MAIL/RCPT/BDAT and body for
# each further one, sent before any reply is read; QUIT behind the last.
# The server holds its first BDAT reply a moment, so that the whole flight
# is surely in before it answers: the round trips do not depend on timing.
ENVOI_QUEUE_DIRECTIVE="queue_dir $TESTDIR/queue-run"
mkdir -m 700 "$TESTDIR/queue-run"
start_server - <<'EOF'
tls starttls
tlsversion 1.3
auth PLAIN
user alice secret
cap CHUNKING
on BDAT#1 delay 300
EOF
ENVOI_QUEUE_ON=1 std_config "$CONF" "domain client.example"
for i in 1 2 3; do
	std_message "run-$i" >"$TESTDIR/m$i"
	INPUT=$TESTDIR/m$i run_envoi -C "$CONF" -odq "rcpt$i@example.org"
done
INPUT=/dev/null run_envoi -C "$CONF" -qf
wait_server
is_status 0 "queue run with CHUNKING: exit 0"
verbs=$(commands | awk '/^(EHLO|STARTTLS|AUTH|MAIL|RCPT|BDAT|DATA|RSET|QUIT)/ { print $1 }' |
    tr '\n' ' ')
is "$verbs" "EHLO STARTTLS EHLO AUTH MAIL RCPT BDAT RSET MAIL RCPT BDAT RSET MAIL RCPT BDAT QUIT " \
    "queue run: setup once, three MAIL/RCPT/BDAT (RSET before those sent ahead), one QUIT"
n=0
for i in 1 2 3; do
	for f in "$MAILDIR"/msg-*.eml; do
		crlf <"$TESTDIR/m$i" | cmp -s - "$f" && n=$((n + 1))
	done
done
is "$n" 3 "queue run: the three messages byte-identical"
diag "round trips, STARTTLS, three queued messages with BDAT: $(round_trips)"
is "$(round_trips)" 8 "queue run: 8, as for one message: the others ride in its flight"
ENVOI_QUEUE_DIRECTIVE="queue_dir $TESTDIR/queue"

# A 5 MB message: several chunks, sent without waiting, flat memory.
{
	std_message big
	head -c 3750000 /dev/urandom | base64 -w 76 |
		awk 'NR % 1000 == 0 { $0 = "." $0 } { print }'
} >"$INPUT"
big=$(crlf <"$INPUT" | wc -c)
start_server - <<'EOF'
tls implicit
tlsversion 1.3
auth PLAIN
user alice secret
cap CHUNKING
EOF
std_config "$CONF" "tls_starttls off" "domain client.example"
rss=
if [ -z "$ENVOI_WRAP" ] && /usr/bin/time -f %M true >/dev/null 2>&1; then
	ENVOI_WRAP="/usr/bin/time -o $TESTDIR/time -f %M"
	run_envoi -C "$CONF" bob@example.org
	ENVOI_WRAP=
	rss=$(tail -n 1 "$TESTDIR/time")
else
	run_envoi -C "$CONF" bob@example.org
fi
wait_server
is_status 0 "$big octets with BDAT: exit 0"
nb=$(commands | grep -c '^BDAT')
is "$nb" $((big / 1048576 + 1)) "$big octets: $((big / 1048576 + 1)) chunks (1 MiB each, then LAST)"
is "$(commands | grep '^BDAT' | tail -n 1)" "BDAT $((big % 1048576)) LAST" "... the last one LAST"
crlf <"$INPUT" | file_is "$MAILDIR/msg-1.eml" "$big octets: byte-identical"
diag "round trips, implicit TLS, $big octets in $nb chunks: $(round_trips); RSS ${rss:-unmeasured} kB"
is "$(round_trips)" 6 "$big octets: the chunks wait for no reply (6 round trips)"
if [ -z "$rss" ]; then
	skip "peak RSS bound" "not meaningful under ${ENVOI_WRAP:-an unmeasured run}"
elif grep -qa __asan_init "$ENVOI"; then
	skip "peak RSS bound" "not meaningful under AddressSanitizer"
else
	ok "peak RSS ${rss} kB <= 16384 kB for $big octets" [ "$rss" -le 16384 ]
fi
rm -f "$INPUT"

done_testing
