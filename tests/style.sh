#!/bin/sh
# tests/style.sh - the rules of ../shared/STYLE.md that a machine can
# check, over src/ (TAP; run by `make check`):
#   1. no strcpy, strcat, sprintf, vsprintf, gets, atoi, atol, atoll (every
#      copy is bounded, every number parsed with a range: buf.h's parse_*);
#   2. no exit or _exit outside main.c (errors travel up in struct err;
#      only main decides how to exit);
#   3. every header opens with its contract: what the module owns and what
#      it must never do ("Owns" and "Never");
#   4. the modules' include graph has no cycle (X uses Y when X.c or X.h
#      includes Y.h): each module can be read knowing only those below it;
#   5. no function longer than FUNC_MAX lines, but for the ones listed in
#      ALLOW with the reason;
#   6. in a git checkout, every commit subject since the rule was checked
#      (HISTORY_BASE) is one line of at most 72 characters, so that
#      `git log --oneline` reads as a changelog (older ones stay as they
#      are: history is not rewritten).
# Functions are found by the project's layout: the name at the start of a
# line, followed by "(", the body ending at the first "}" in column 0.
[ -n "${top_srcdir:-}" ] || top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
src=$top_srcdir/src
n=0
failed=0
ok() {  # ok COND-STATUS DESCRIPTION [DETAIL]
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=1
		[ -z "${3:-}" ] || printf '%s\n' "$3" | sed 's/^/#   /'
	fi
}

FUNC_MAX=120
# name: why it may be longer (keep this list short)
ALLOW='cli_parse: the getopt loop; each option is one case that sets one field, read top to bottom'

# --- 1. unbounded copies and unchecked number parsing
hits=$(grep -n -E '(^|[^_a-z0-9])(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atoll)[ ]*\(' \
    "$src"/*.c "$src"/*.h | sed "s|^$src/||")
ok "$([ -z "$hits" ]; echo $?)" "no strcpy, strcat, sprintf, gets or atoi in src/" "$hits"

# --- 2. exits only in main.c
hits=$(grep -n -E '(^|[^_a-z0-9])_?exit[ ]*\(' "$src"/*.c | grep -v "^$src/main\.c:" |
    sed "s|^$src/||")
ok "$([ -z "$hits" ]; echo $?)" "exit and _exit only in main.c" "$hits"

# --- 3. every header states its contract in its opening comment
bad=
for h in "$src"/*.h; do
	head=$(awk 'NR == 1 && !/^\/\*/ { exit } { print } /\*\// { exit }' "$h")
	case $head in
	*Owns*Never* | *Never*Owns*) ;;
	*) bad="$bad ${h##*/}" ;;
	esac
done
ok "$([ -z "$bad" ]; echo $?)" "every header opens with Owns and Never" "${bad:+missing in:$bad}"

# --- 4. the include graph of the modules is acyclic
deps=$(for f in "$src"/*.c "$src"/*.h; do
	m=${f##*/}
	m=${m%.*}
	sed -n 's/^#include "\([a-z0-9_]*\)\.h".*/\1/p' "$f" | while read -r d; do
		[ "$d" = "$m" ] || [ "$d" = config ] || [ ! -e "$src/$d.h" ] || echo "$m $d"
	done
done | sort -u)
cycle=$(printf '%s\n' "$deps" | tsort 2>&1 >/dev/null | sed -n 's/^tsort: //p' |
    grep -v 'input contains a loop' | paste -sd ' ')
ok "$([ -z "$cycle" ]; echo $?)" "the modules' include graph has no cycle" \
    "${cycle:+a cycle through: $cycle}"

# --- 5. function length
long=$(awk -v max=$FUNC_MAX '
	FNR == 1 { fn = "" }
	/^[a-z_][a-z0-9_]*\(/ { fn = $0; sub(/\(.*/, "", fn); start = FNR }
	/^}/ && fn != "" { len = FNR - start + 1
		if (len > max) { f = FILENAME; sub(/.*\//, "", f); print fn " " f " " len }
		fn = "" }' "$src"/*.c)
over=
echo "$long" | while read -r fn file len; do
	[ -n "$fn" ] || continue
	echo "# $file $fn: $len lines"
done
for fn in $(echo "$long" | awk '{ print $1 }'); do
	printf '%s\n' "$ALLOW" | grep -q "^$fn:" || over="$over $fn"
done
ok "$([ -z "$over" ]; echo $?)" "no function over $FUNC_MAX lines but the allowed ones" \
    "${over:+over the limit and not allowed:$over}"
for fn in $(printf '%s\n' "$ALLOW" | sed 's/:.*//'); do
	echo "$long" | grep -q "^$fn " ||
	    ok 1 "the allow-list names only long functions" "$fn is no longer over $FUNC_MAX lines: remove it"
done

# --- 6. commit subjects
HISTORY_BASE=ab49851
if command -v git >/dev/null 2>&1 && git -C "$top_srcdir" rev-parse -q --verify \
    "$HISTORY_BASE^{commit}" >/dev/null 2>&1; then
	long=$(git -C "$top_srcdir" log --format=%h' '%s "$HISTORY_BASE..HEAD" |
	    awk 'length($0) - index($0, " ") > 72')
	ok "$([ -z "$long" ]; echo $?)" "commit subjects since $HISTORY_BASE: at most 72 characters" "$long"
else
	n=$((n + 1))
	echo "ok $n - commit subjects # SKIP not a git checkout holding $HISTORY_BASE"
fi

echo "1..$n"
exit 0
