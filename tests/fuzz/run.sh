#!/bin/sh
# Run each fuzz target for SECONDS: run.sh FUZZDIR SRCDIR SECONDS TARGET...
# (make fuzz; see tests/fuzz/README). The committed corpus SRCDIR/corpus/T
# is only read: libFuzzer writes new inputs into the first corpus
# directory, FUZZDIR/corpus/T, and crash artifacts into FUZZDIR/artifacts.
# Prints per target its CPU seconds, executions and final coverage, and
# fails when any target found a crash, leak, timeout or failed property.
set -u
fuzzdir=$1 srcdir=$2 secs=$3
shift 3
failed=
hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
mkdir -p "$fuzzdir/artifacts" || exit 1
# Per target: the longest input worth trying, and the dictionary.
maxlen() {
	case $1 in
	reply|addr|drop|alias) echo 4096 ;;
	smtp|lsmtp|dotstuff|queue|conf) echo 8192 ;;
	message|bounce) echo 16384 ;;
	*) echo 4096 ;;
	esac
}
dict() {
	case $1 in
	reply|smtp|lsmtp|dotstuff) echo "$srcdir/smtp.dict" ;;
	*) echo "$srcdir/headers.dict" ;;
	esac
}
printf '%-9s %8s %10s  %s\n' target cpu-s execs coverage
for t in "$@"; do
	mkdir -p "$fuzzdir/corpus/$t"
	log=$fuzzdir/$t.log
	start=$(cut -d' ' -f14,15,16,17 /proc/$$/stat 2>/dev/null)
	# -timeout=1: an input that takes over a second is a hang (issue 10).
	ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	"$fuzzdir/fuzz-$t" -max_total_time="$secs" -timeout=1 -rss_limit_mb=2048 \
		-max_len="$(maxlen "$t")" -dict="$(dict "$t")" -print_final_stats=1 \
		-artifact_prefix="$fuzzdir/artifacts/$t-" \
		"$fuzzdir/corpus/$t" "$srcdir/corpus/$t" >"$log" 2>&1
	rc=$?
	end=$(cut -d' ' -f14,15,16,17 /proc/$$/stat 2>/dev/null)
	cpu=$(echo "$start $end" | awk '{ printf "%.1f", (($5+$6+$7+$8)-($1+$2+$3+$4))/'"$hz"' }')
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1 | sed 's/.*cov:/cov:/')
	printf '%-9s %8s %10s  %s\n' "$t" "$cpu" "${execs:-?}" "${cov:-?}"
	if [ "$rc" -ne 0 ]; then
		echo "fuzz: $t FAILED (exit $rc); see $log and $fuzzdir/artifacts/" >&2
		grep -E 'ERROR:|fuzz property failed|runtime error|Test unit written' "$log" |
			head -n 5 >&2
		failed="$failed $t"
	fi
done
if [ -n "$failed" ]; then
	echo "fuzz: failed:$failed" >&2
	exit 1
fi
