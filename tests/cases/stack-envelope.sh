#!/bin/bash
# Integration: envelope and headers against the real Postfix + Dovecot
# stack (tests/stack). -t with To/Cc/Bcc (every recipient gets it, no copy
# shows Bcc), argument recipients added to -t, -f (Return-Path), an IDN
# recipient, the headers envoi must add (this Postfix adds none for SMTP
# clients), -i against a lone "." line, and refused recipients (EX_NOUSER
# with the server's 550 reply).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"
. "$top_srcdir/tests/stack/functions.sh"

stack_up
plan 27
CONF=$TESTDIR/envoi.conf
INPUT=$TESTDIR/message
stack_config "$CONF" starttls

no_bcc() { [ -f "$1" ] && [ -z "$(stack_header "$1" Bcc)" ]; }
one_header() { [ -f "$1" ] && [ "$(stack_header "$1" "$2" | wc -l)" -eq 1 ]; }

# --- -t: To, Cc (folded) and Bcc, plus one recipient on the command line
s=$(stack_subject dash-t)
stack_msg "$s" "From: Alice <alice@example.org>" "To: Alice <alice@example.org>" \
	"Cc: carol@example.net," "	postmaster@example.org" \
	"Bcc: Dave <dave@example.org>" >"$INPUT"
run_envoi -C "$CONF" -t bob@example.org
is_status 0 "-t: exit 0"
for r in alice@example.org carol@example.net postmaster@example.org dave@example.org bob@example.org; do
	f=$(stack_wait "$r" "$s")
	ok "-t: $r got it" [ -n "$f" ]
	ok "-t: $r's copy has no Bcc header" no_bcc "$f"
done
f=$(stack_wait carol@example.net "$s")
is "$(stack_header "$f" Cc)" "carol@example.net,	postmaster@example.org" \
	"-t: folded Cc header kept as sent"

# --- -f: envelope sender
s=$(stack_subject dash-f)
stack_msg "$s" "From: alice@example.org" >"$INPUT"
run_envoi -C "$CONF" -f other@example.org bob@example.org
is_status 0 "-f: exit 0"
f=$(stack_wait bob@example.org "$s")
is "$(stack_header "$f" Return-Path)" "<other@example.org>" "-f: Return-Path shows it"

# --- IDN recipient (Postfix offers SMTPUTF8 and accepts both forms)
s=$(stack_subject idn)
stack_msg "$s" >"$INPUT"
run_envoi -C "$CONF" "bob@bücher.example"
is_status 0 "IDN recipient: exit 0"
f=$(stack_wait "bob@bücher.example" "$s")
ok "IDN recipient: delivered to bob@bücher.example" [ -n "$f" ]
like "$(stack_header "$f" Delivered-To)" '^bob@(bücher|xn--bcher-kva)\.example$' \
	"IDN recipient: Delivered-To is its U-label or A-label form"

# --- headers envoi adds
s=$(stack_subject added-headers)
stack_msg "$s" >"$INPUT"
run_envoi -C "$CONF" bob@example.org
is_status 0 "no From/Date/Message-ID in the input: exit 0"
f=$(stack_wait bob@example.org "$s")
for h in From Date Message-ID; do
	ok "envoi added exactly one $h header" one_header "$f" $h
done

# --- -i: a lone "." line is data
s=$(stack_subject dash-i)
printf 'Subject: %s\n\nbefore\n.\nafter the dot line\n' "$s" >"$INPUT"
run_envoi -C "$CONF" -i bob@example.org
is_status 0 "-i with a lone dot line: exit 0"
f=$(stack_wait bob@example.org "$s")
is "$([ -f "$f" ] && stack_body "$f")" "$(printf 'before\n.\nafter the dot line')" \
	"-i: body delivered intact, dot line included"

# --- a refused recipient, alone and next to an accepted one
s=$(stack_subject unknown)
stack_msg "$s" >"$INPUT"
run_envoi -C "$CONF" nobody@example.org
is_status 67 "unknown recipient: exit 67 (EX_NOUSER)"
like "$STDERR" '<nobody@example.org>.*550 5\.1\.1' \
	"unknown recipient: stderr names it with the 550 reply"

s=$(stack_subject partial)
stack_msg "$s" >"$INPUT"
run_envoi -C "$CONF" nobody@example.org bob@example.org
ok "one refused, one accepted: the accepted one got it" stack_delivered bob@example.org "$s"
isnt "$STATUS" 0 "one refused, one accepted: exit code says so" || diag "$STDERR"
