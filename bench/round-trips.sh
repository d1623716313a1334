#!/bin/bash
# bench/round-trips.sh: round trips for one message, counted by the scripted
# test server (see tests/smtpd-script.c for the definition), for STARTTLS
# and implicit TLS, TLS 1.3 and 1.2, with and without PIPELINING.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
CONF=$TESTDIR/conf
INPUT=$TESTDIR/msg
std_message rt >"$INPUT"
for tls in starttls implicit; do
	for ver in 1.3 1.2; do
		for pipe in yes no; do
			# (not a pipeline: start_server must set PORT in this shell)
			start_server - < <(
			  echo "tls $tls"; echo "tlsversion $ver"; echo "auth PLAIN"
			  echo "user alice secret"
			  [ $pipe = yes ] || { echo nocaps; echo "cap 8BITMIME"; echo "cap ENHANCEDSTATUSCODES"; })
			if [ $tls = implicit ]; then
				std_config "$CONF" "tls_starttls off"
			else
				std_config "$CONF"
			fi
			run_envoi -C "$CONF" bob@example.org
			wait_server
			diag "$(printf '%-8s TLS %s pipelining %-3s: %s round trips (exit %s)' \
			    "$tls" "$ver" "$pipe" "$(round_trips)" "$STATUS")"
			pass "$tls $ver $pipe measured"
		done
	done
done
done_testing
