#!/bin/bash
# `make bench-harness`: dp_bench against /dev/kvnet and /dev/vhost-net in
# one run of the test VM. Prints the table, writes the JSON; exits
# non-zero if the run or the VM failed, showing check.sh's report then.
# Env: KDIR, BENCH_JSON (where the JSON goes), TEST_TIMEOUT (seconds for
#      dp_bench, default 120), VM_TIMEOUT (for the VM, default 170), V=1.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
OUT=$REPO/selftests/out/bench
JSON=${BENCH_JSON:-$OUT/dp_bench.json}
RUN=dp_bench-vm

# The run directory check.sh made: it names it in its output. Not the
# "latest" link, which another `make check` may have moved meanwhile.
run_dir() {
	sed -n 's|^# test VM: console log in \(.*\)/console\.log$|\1|p' "$1" |
		sed "s|^\([^/]\)|$REPO/\1|"
}

main() {
	local log=$OUT/check.log rc=0 run out

	mkdir -p "$OUT"
	echo "bench-harness: dp_bench in the test VM, $(date -u '+%Y-%m-%d %H:%M UTC')"
	SELFTESTS=$HERE T='' LINT=0 TEST_TIMEOUT=${TEST_TIMEOUT:-120} \
		VM_TIMEOUT=${VM_TIMEOUT:-170} "$REPO/selftests/vm/check.sh" \
		>"$log" 2>&1 || rc=$?
	run=$(run_dir "$log")
	out=$run/results/$RUN.out
	if [[ -n $run && -f $out ]]; then
		# The table and its notes: from the header to the JSON.
		awk '/^{$/ { exit } /^dir / { on = 1 } on' "$out"
		sed -n '/^{$/,/^}$/p' "$out" >"$JSON.tmp"
		if [[ -s $JSON.tmp ]]; then
			mv "$JSON.tmp" "$JSON"
			echo "bench-harness: JSON in ${JSON#"$REPO"/}"
		fi
		rm -f "$JSON.tmp"
		echo "bench-harness: the whole run in ${run#"$REPO"/}/"
	fi
	if ((rc)); then
		echo "bench-harness: the run failed; check.sh said:"
		cat "$log"
		return 1
	fi
}

main "$@"
