#!/bin/bash
# `make bench`: net_bench in one run of the test VM (README.md, "Guest
# benchmarks"). Prints the table, writes the JSON and a PNG bar chart of
# the ratios to vhost-net (gnuplot); exits non-zero if a run, the VM or
# the chart failed, showing check.sh's report for the first two.
# Env: KDIR, QUICK=1 (one run of 2 s per test), BENCH_JSON, BENCH_PNG
#      (where they go), TEST_TIMEOUT (seconds for net_bench), VM_TIMEOUT
#      (for the VM), V=1.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
OUT=$REPO/selftests/out/bench
JSON=${BENCH_JSON:-$OUT/net_bench.json}
PNG=${BENCH_PNG:-$OUT/net_bench.png}
QUICK=${QUICK:-}

# The run directory check.sh made: it names it in its output. Not the
# "latest" link, which another `make check` may have moved meanwhile.
run_dir() {
	sed -n 's|^# test VM: console log in \(.*\)/console\.log$|\1|p' "$1" |
		sed "s|^\([^/]\)|$REPO/\1|"
}

# The lines of file $1 after marker line "--- net_bench $2 ---", up to the
# next marker.
block() {
	awk -v mark="--- net_bench $2 ---" '
		$0 == mark { on = 1; next }
		/^--- net_bench [a-z]+ ---$/ { on = 0 }
		on' "$1"
}

# The bar chart of data file $1 (a row per metric, a column per
# configuration, tab-separated, "?" for no value) into $PNG.
plot() {
	local data=$1 cols title

	cols=$(awk -F'\t' 'NR == 1 { print NF; exit }' "$data")
	title="net_bench $(date -u '+%Y-%m-%d'): ratio to vhost-net under the same VMM"
	gnuplot <<-GNUPLOT
	set terminal png size 1240,560 noenhanced
	set output "$PNG.tmp"
	set title "$title\nrates: higher is better; latency and exits: lower is better"
	set datafile separator "\t"
	set datafile missing "?"
	set style data histograms
	set style histogram clustered gap 1
	set style fill solid 0.8 border -1
	set boxwidth 0.9
	set ylabel "ratio to vhost-net"
	set yrange [0:*]
	set grid ytics
	set key below horizontal
	set arrow from graph 0, first 1 to graph 1, first 1 nohead linewidth 2
	plot for [i=2:$cols] "$data" using i:xtic(1) title columnheader(i)
	GNUPLOT
	mv "$PNG.tmp" "$PNG"
}

main() {
	local log=$OUT/net_bench-check.log data=$OUT/net_bench-ratios.dat
	local test=net_bench-vm timeout=840 vm_timeout=930 rc=0 plot_rc=0
	local run out

	if [[ $QUICK == 1 ]]; then
		test=net_bench-quick timeout=390 vm_timeout=470
	fi
	mkdir -p "$OUT"
	echo "bench: net_bench in the test VM${QUICK:+ (QUICK=$QUICK)}, $(date -u '+%Y-%m-%d %H:%M UTC')"
	SELFTESTS=$HERE T='' LINT=0 QUICK=$QUICK \
		TEST_TIMEOUT=${TEST_TIMEOUT:-$timeout} \
		VM_TIMEOUT=${VM_TIMEOUT:-$vm_timeout} \
		"$REPO/selftests/vm/check.sh" >"$log" 2>&1 || rc=$?
	run=$(run_dir "$log")
	out=$run/results/$test.out
	if [[ -n $run && -f $out ]]; then
		# check.sh keeps only the last runs: keep this one's output.
		cp "$out" "$OUT/net_bench.out"
		block "$out" table
		block "$out" json >"$JSON.tmp"
		if [[ -s $JSON.tmp ]]; then
			mv "$JSON.tmp" "$JSON"
			echo "bench: JSON in ${JSON#"$REPO"/}"
		fi
		rm -f "$JSON.tmp"
		block "$out" plot >"$data"
		if [[ $(wc -l <"$data") -gt 1 ]]; then
			if plot "$data"; then
				echo "bench: chart in ${PNG#"$REPO"/}"
			else
				echo "bench: gnuplot failed on $data"
				plot_rc=1
			fi
		fi
		echo "bench: its output in ${OUT#"$REPO"/}/net_bench.out, the whole run in ${run#"$REPO"/}/"
	fi
	if ((rc)); then
		echo "bench: the run failed; check.sh said (the JSON left out):"
		awk '/--- net_bench json ---$/ { skip = 1 }
		     /--- net_bench end ---$/ { skip = 0 } !skip' "$log"
		return 1
	fi
	return "$plot_rc"
}

main "$@"
