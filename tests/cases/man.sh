#!/bin/bash
# man.sh - the manual pages cannot silently fall behind the code: every
# directive in src/conf.c's directive table is documented in envoi.conf.5,
# every option cli.c parses (short letters, -b modes, -od/-oe modes, long
# options) in envoi.1, and both pages render without groff warnings.
# Reads sources only; runs no envoi.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib.sh"

CONF_C=$top_srcdir/src/conf.c
CLI_C=$top_srcdir/src/cli.c
MAN1=$top_srcdir/man/envoi.1
MAN5=$top_srcdir/man/envoi.conf.5

# The roff source with the escapes that can sit inside a name undone:
# "\-" is a minus, "\fB" and friends switch fonts, "\&" is nothing.
plain() {
	sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\f(..//g' -e 's/\\&//g' "$1"
}
MAN1_TEXT=$(plain "$MAN1")
MAN5_TEXT=$(plain "$MAN5")

# --- directives: the { "name", V_KIND, ... } lines of the table
directives=$(sed -n '/^} directives\[\] = {/,/^};/p' "$CONF_C" |
    sed -n 's/^[[:space:]]*{ *"\([a-z0-9_]*\)",.*/\1/p')
n=$(printf '%s\n' "$directives" | grep -c .)
ok "conf.c's directive table was found ($n directives)" test "$n" -ge 40

# A directive is documented when it is set in bold on a macro line
# (.B / .BR / .BI / .TP argument), not merely mentioned in running text.
bold_lines5=$(printf '%s\n' "$MAN5_TEXT" | grep -E '^\.(B|BR|BI|RB|IB)[[:space:]]')
for d in $directives; do
	if printf '%s\n' "$bold_lines5" | grep -qw -- "$d"; then
		pass "envoi.conf.5 documents directive $d"
	else
		fail "envoi.conf.5 documents directive $d"
	fi
done

# --- short options: letters taking a value, plain flags, flags with a
# glued value, and the letters cli_parse switches on itself.
arg_letters=$(sed -n 's/^static const char arg_letters\[\] = "\([^"]*\)";/\1/p' "$CLI_C")
flag_letters=$(sed -n 's/^static const char ignored_flags\[\] = "\([^"]*\)";/\1/p' "$CLI_C")
glued_letters=$(sed -n 's/^static const char ignored_glued\[\] = "\([^"]*\)";/\1/p' "$CLI_C")
case_letters=$(sed -n '/^cli_parse(/,/^}/p' "$CLI_C" |
    grep -o "case '[A-Za-z]':" | sed "s/case '\(.\)':/\1/" | tr -d '\n')
letters=$(printf '%s%s%s%s' "$arg_letters" "$flag_letters" "$glued_letters" "$case_letters" |
    fold -w1 | sort -u | tr -d '\n')
ok "cli.c's option letters were found ($letters)" test "${#letters}" -ge 25

opt_doc() {  # opt_doc OPTION: OPTION appears in envoi.1 as a word
	printf '%s\n' "$MAN1_TEXT" | grep -qE -- "(^|[^A-Za-z0-9-])$1([^A-Za-z]|$)" ||
	    printf '%s\n' "$MAN1_TEXT" | grep -qE -- "(^|[^A-Za-z0-9-])$1[A-Z]"
}
check_opt() {
	if opt_doc "$1"; then
		pass "envoi.1 documents $1"
	else
		fail "envoi.1 documents $1"
	fi
}
for ((k = 0; k < ${#letters}; k++)); do
	check_opt "-${letters:k:1}"
done

# -b modes: the case labels of apply_b.
bmodes=$(sed -n '/^apply_b(/,/^}/p' "$CLI_C" |
    grep -o "case '[A-Za-z]':" | sed "s/case '\(.\)':/\1/" | tr -d '\n')
ok "cli.c's -b modes were found ($bmodes)" test "${#bmodes}" -ge 8
for ((k = 0; k < ${#bmodes}; k++)); do
	check_opt "-b${bmodes:k:1}"
done

# -o modes: in apply_o, each `v[0] == 'X'` followed by strchr("LETTERS",
# v[1]) gives -oX<letter>; a plain strcmp(v, "i") gives -oi.
omodes=$(sed -n '/^apply_o(/,/^}/p' "$CLI_C" | awk '
	{
		if (match($0, /v\[0\] == \x27[a-z]\x27/))
			lead = substr($0, RSTART + 9, 1)
		if (lead != "" && match($0, /strchr\("[a-z]+"/)) {
			s = substr($0, RSTART + 8, RLENGTH - 9)
			for (i = 1; i <= length(s); i++)
				print lead substr(s, i, 1)
			lead = ""
		}
		if (match($0, /strcmp\(v, "[a-z]+"\)/))
			print substr($0, RSTART + 11, RLENGTH - 13)
	}' | sort -u)
n=$(printf '%s\n' "$omodes" | grep -c .)
ok "cli.c's -o modes were found ($n)" test "$n" -ge 9
for m in $omodes; do
	check_opt "-o$m"
done

# Long options: the { "--name", ... } table longs[] of cli.c.
longs=$(sed -n '/^} longs\[\] = {$/,/^};$/p' "$CLI_C" |
    sed -n 's/^[[:space:]]*{ *"--\([a-z0-9-]*\)", .*/\1/p')
n=$(printf '%s\n' "$longs" | grep -c .)
ok "cli.c's long options were found ($n)" test "$n" -ge 8
for l in $longs; do
	check_opt "--$l"
done

# --- both pages render cleanly
if command -v groff >/dev/null 2>&1; then
	for page in "$MAN1" "$MAN5"; do
		out=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
		is "$out" "" "groff -ww renders $(basename "$page") without warnings"
	done
else
	skip "groff renders the pages without warnings" "groff is not installed"
fi
if command -v mandoc >/dev/null 2>&1; then
	for page in "$MAN1" "$MAN5"; do
		# STYLE-level notes (e.g. "useless macro") are advice, not errors.
		out=$(mandoc -Tlint -Wwarning "$page" 2>&1)
		is "$out" "" "mandoc -Tlint finds no warnings in $(basename "$page")"
	done
fi

done_testing
