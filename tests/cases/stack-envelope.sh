#!/bin/sh
# Integration: envelope and headers against the real Postfix + Dovecot
# stack (tests/stack). -t with To/Cc/Bcc (every recipient gets it, no copy
# shows Bcc), argument recipients added to -t, -f (Return-Path), an IDN
# recipient, headers envoi must add (Postfix is set up not to add any),
# -i against a lone "." line, and a refused recipient (EX_NOUSER, 550).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/stack/functions.sh"

stack_up
tap_plan 26
conf=$stack_tmp/envoi.conf
msg=$stack_tmp/message
stack_config "$conf" starttls

# --- -t: To, Cc and Bcc, plus one recipient on the command line
s=$(stack_subject dash-t)
stack_msg "$s" "From: Alice <alice@example.org>" "To: Alice <alice@example.org>" \
	"Cc: carol@example.net," "	postmaster@example.org" \
	"Bcc: Dave <dave@example.org>" >"$msg"
stack_envoi dash-t "$msg" -C "$conf" -t bob@example.org
tap_is "$envoi_rc" 0 "-t: exit 0" || tap_diag "stderr: $envoi_err"
for r in alice@example.org carol@example.net postmaster@example.org dave@example.org bob@example.org; do
	f=$(stack_wait "$r" "$s")
	tap_ok $? "-t: $r got it"
	[ -n "$f" ] && [ -z "$(stack_header "$f" Bcc)" ]
	tap_ok $? "-t: $r's copy has no Bcc header"
done
f=$(stack_wait carol@example.net "$s")
tap_is "$(stack_header "$f" Cc)" "carol@example.net,	postmaster@example.org" \
	"-t: folded Cc header kept as sent"

# --- -f: envelope sender
s=$(stack_subject dash-f)
stack_msg "$s" "From: alice@example.org" >"$msg"
stack_envoi dash-f "$msg" -C "$conf" -f other@example.org bob@example.org
tap_is "$envoi_rc" 0 "-f: exit 0" || tap_diag "stderr: $envoi_err"
f=$(stack_wait bob@example.org "$s")
tap_is "$(stack_header "$f" Return-Path)" "<other@example.org>" "-f: Return-Path shows it"

# --- IDN recipient
s=$(stack_subject idn)
stack_msg "$s" >"$msg"
stack_envoi idn "$msg" -C "$conf" "bob@bücher.example"
tap_is "$envoi_rc" 0 "IDN recipient: exit 0" || tap_diag "stderr: $envoi_err"
f=$(stack_wait "bob@bücher.example" "$s")
tap_ok $? "IDN recipient: delivered to bob@bücher.example"
d=$(stack_header "$f" Delivered-To)
case $d in
"bob@bücher.example" | "bob@xn--bcher-kva.example") r=0 ;;
*) r=1 ;;
esac
tap_ok $r "IDN recipient: Delivered-To is the U-label or A-label form" || tap_diag "Delivered-To: $d"

# --- headers envoi adds (the stack's Postfix adds none for SMTP clients)
s=$(stack_subject added-headers)
stack_msg "$s" >"$msg"
stack_envoi added "$msg" -C "$conf" bob@example.org
tap_is "$envoi_rc" 0 "no From/Date/Message-ID in input: exit 0" || tap_diag "stderr: $envoi_err"
f=$(stack_wait bob@example.org "$s")
for h in From Date Message-ID; do
	[ -n "$f" ] && [ "$(stack_header "$f" $h | wc -l)" -eq 1 ]
	tap_ok $? "envoi added exactly one $h header"
done

# --- -i: a lone "." line is data
s=$(stack_subject dash-i)
printf 'Subject: %s\n\nbefore\n.\nafter the dot line\n' "$s" >"$msg"
stack_envoi dash-i "$msg" -C "$conf" -i bob@example.org
tap_is "$envoi_rc" 0 "-i with a lone dot line: exit 0" || tap_diag "stderr: $envoi_err"
f=$(stack_wait bob@example.org "$s")
[ -n "$f" ] && [ "$(stack_body "$f")" = "$(printf 'before\n.\nafter the dot line')" ]
tap_ok $? "-i: body delivered intact, dot line included"

# --- a refused recipient, alone and next to an accepted one
s=$(stack_subject unknown)
stack_msg "$s" >"$msg"
stack_envoi unknown "$msg" -C "$conf" nobody@example.org
tap_is "$envoi_rc" 67 "unknown recipient: exit 67 (EX_NOUSER)"
printf '%s\n' "$envoi_err" | grep -q '<nobody@example.org>.*550 5\.1\.1'
tap_ok $? "unknown recipient: stderr names it with the 550 reply" || tap_diag "stderr: $envoi_err"

s=$(stack_subject partial)
stack_msg "$s" >"$msg"
stack_envoi partial "$msg" -C "$conf" nobody@example.org bob@example.org
stack_wait bob@example.org "$s" >/dev/null && [ "$envoi_rc" -ne 0 ]
tap_ok $? "one refused, one accepted: accepted one delivered, exit code non-zero" ||
	tap_diag "exit $envoi_rc, stderr: $envoi_err"
