#!/bin/bash
# `make check`: lint, then every selftest binary in the test VM, as TAP.
# Closes with one line "N passed, N failed, N skipped" counting test cases,
# plus the points of its own: lint, module load and unload, kernel log.
# Exits non-zero on any failure, including a test VM that panicked, wedged
# (hung or timed out) or died before the results were written.
# Env: KDIR, LINT=0 (no lint), T=binary[:test], SELFTESTS (the directory
#      whose Makefile has print-tests), TEST_TIMEOUT, VM_TIMEOUT, V=1.
set -euo pipefail

# shellcheck source=selftests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SELFTESTS=${SELFTESTS:-$REPO/selftests}
T=${T:-}
FILTER=""
[[ $T != *:* ]] || FILTER=${T#*:}
VMOUT=$REPO/selftests/out/vm
KEEP_RUNS=10

# Kernel log lines that mean the kernel found a bug or got stuck.
# Specific phrases only: the module's own messages must not match.
OOPS_RE='Kernel panic|Oops|BUG[: ]|WARNING:|Call Trace|general protection'
OOPS_RE+='|list_(add|del) corruption|Slab corruption|UBSAN:|refcount_t:'
OOPS_RE+='|INFO: task .* blocked|rcu: INFO|hard LOCKUP|Bad page'
OOPS_RE+='|Poison overwritten|Redzone|Freepointer|unable to handle'
OOPS_RE+='|double fault|stack-protector|invalid opcode'

passed=0 failed=0 skipped=0 point=0 vm_rc=0

# One top-level TAP point; STATUS is ok, fail or skip. The caller counts.
tap() {
	local status=$1 desc=$2

	point=$((point + 1))
	case $status in
	ok) echo "ok $point $desc" ;;
	skip) echo "ok $point $desc # SKIP" ;;
	fail) echo "not ok $point $desc" ;;
	esac
}

# A point that is one test case of its own.
tap_counted() {
	case $1 in
	ok) passed=$((passed + 1)) ;;
	skip) skipped=$((skipped + 1)) ;;
	fail) failed=$((failed + 1)) ;;
	esac
	tap "$@"
}

diag() {
	sed 's/^/# /'
}

list_tests() {
	local all

	[[ -f $SELFTESTS/Makefile ]] || die "no $SELFTESTS/Makefile: nothing to test"
	all=$(make -s --no-print-directory -C "$SELFTESTS" print-tests)
	[[ -n $all ]] || die "$SELFTESTS: print-tests names no test binary"
	if [[ -z $T ]]; then
		echo "$all"
		return
	fi
	grep -qxF "${T%%:*}" <<<"$all" || die "T=$T: no test binary '${T%%:*}'; there are: ${all//$'\n'/ }"
	echo "${T%%:*}"
}

run_lint() {
	local log rc=0

	if [[ ${LINT:-1} == 0 ]]; then
		tap_counted skip "lint (LINT=0)"
		return
	fi
	log=$("$HERE/lint.sh" "$KDIR" 2>&1) || rc=$?
	diag <<<"$log"
	if ((rc)); then tap_counted fail lint; else tap_counted ok lint; fi
}

# A new directory per run, so every run's console log is kept; "latest"
# and console.log point at the newest.
new_run_dir() {
	local run

	run=$VMOUT/run-$(date +%Y%m%d-%H%M%S)
	mkdir -p "$run"
	ln -sfn "${run##*/}" "$VMOUT/latest"
	ln -sfn "latest/console.log" "$VMOUT/console.log"
	# shellcheck disable=SC2012 # our own names, no odd characters
	ls -d "$VMOUT"/run-* | sort | head -n -"$KEEP_RUNS" | xargs -r rm -rf
	echo "$run"
}

# Test cases in one binary's output: "pass fail skip". The harness's
# Totals line wins; otherwise count its own (unindented) TAP lines.
count_cases() {
	[[ -f $1 ]] || { echo 0 0 0; return; }
	awk '
	/^# Totals: / {
		for (i = 3; i <= NF; i++) { split($i, kv, ":"); tot[kv[1]] = kv[2] }
		totals = 1
	}
	/^ok / { if (/# *[Ss][Kk][Ii][Pp]/) s++; else p++ }
	/^not ok / { if (/# *[Ss][Kk][Ii][Pp]/) s++; else if (/# *TODO/) p++; else f++ }
	END {
		if (totals)
			print tot["pass"] + tot["xfail"], tot["fail"] + tot["xpass"] + tot["error"], tot["skip"]
		else
			print p + 0, f + 0, s + 0
	}' "$1"
}

# With T=binary:test, say so if the binary ran other tests anyway (the 6.1
# kselftest_harness.h ignores -t/-r).
check_filter() {
	local out=$1 others

	[[ -n $FILTER && -f $out ]] || return 0
	others=$(sed -nE 's/^(not )?ok [0-9]+ ([^#]*[^ #]).*/\2/p' "$out" |
		grep -cvxE "(.*\.)?${FILTER//./\\.}" || true)
	((others == 0)) || echo "# warning: $(basename "$out" .out) ran $others tests besides '$FILTER'"
}

report_binary() {
	local name=$1 res=$RUN/results p f s rc note=""

	echo "# selftests: kvnet: $name"
	[[ -f $res/$name.out ]] && diag <"$res/$name.out"
	check_filter "$res/$name.out"
	read -r p f s < <(count_cases "$res/$name.out")
	if [[ ! -f $res/$name.rc ]]; then
		note=" # test VM died before it finished"
		[[ -f $res/$name.out ]] || note=" # not run: test VM died"
		f=$((f + 1))
	else
		rc=$(<"$res/$name.rc")
		case $rc in
		0) ((p + f + s)) || p=1 ;;
		4) ((p + f + s)) || s=1 ;;	# KSFT_SKIP
		124 | 137)
			note=" # TIMEOUT $TEST_TIMEOUT seconds"
			f=$((f + 1))
			;;
		*)
			note=" # exit=$rc"
			((f)) || f=1
			;;
		esac
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	if ((f)); then
		tap fail "selftests: kvnet: $name$note"
	elif ((p == 0 && s)); then
		tap skip "selftests: kvnet: $name"
	else
		tap ok "selftests: kvnet: $name"
	fi
}

# Module load or unload inside the VM: guest.sh left NAME.rc and NAME.log.
report_step() {
	local name=$1 desc=$2 res=$RUN/results

	if [[ ! -f $res/$name.rc ]]; then
		tap_counted fail "$desc # not run: test VM died"
	elif [[ $(<"$res/$name.rc") == 0 ]]; then
		tap_counted ok "$desc"
	else
		diag <"$res/$name.log"
		tap_counted fail "$desc # exit=$(<"$res/$name.rc")"
	fi
}

# Console or dmesg lines from the runner's start on, without timestamps.
since_start() {
	[[ -f $1 ]] || return 0
	tr -d '\r' <"$1" | sed 's/^\[ *[0-9.]*\] //' |
		awk '/^kvnet-vm: start$/ { n = NR } { line[NR] = $0 }
		END { for (i = n ? n : 1; i <= NR; i++) print line[i] }'
}

taint_findings() {
	local taint bit

	taint=$(<"$RUN/results/tainted")
	# M machine check, B bad page, D died (oops), W warning, L soft lockup.
	for bit in 4 5 7 9 14; do
		((taint >> bit & 1)) && echo "kernel tainted: flag bit $bit set (/proc/sys/kernel/tainted = $taint)"
	done
	return 0
}

# The kernel's first report on stdin: its first line and what follows,
# up to the stack's end; or the console's last lines if there is none.
first_report() {
	awk -v re="$OOPS_RE" '
	{ tail[NR % 20] = $0 }
	!n && $0 ~ re { n = NR }
	n && NR - n < 80 { print; if (/<\/TASK>/ && NR - n > 8) exit }
	END {
		if (n)
			exit
		for (i = NR - 19; i <= NR; i++)
			if (i > 0)
				print tail[i % 20]
	}'
}

# Why the VM ended without writing its results.
vm_failure() {
	local con=$RUN/console.log trace panic last

	trace=$(since_start "$con" | grep -m 1 -E "$OOPS_RE" || true)
	panic=$(since_start "$con" | grep -m 1 'Kernel panic - not syncing' || true)
	last=$(since_start "$con" | grep -v '^$' | tail -n 1)
	if [[ -f $RUN/wedged.txt ]]; then
		echo "test VM wedged: $(head -n 1 "$RUN/wedged.txt"); where its vCPUs were: ${RUN#"$REPO"/}/wedged.txt"
	elif ((vm_rc == 124 || vm_rc == 137)); then
		echo "test VM wedged: no result after ${VM_TIMEOUT}s: ${trace:-last console line: $last}"
	elif [[ $panic =~ lockup|hung|blocked|stall ]]; then
		echo "test VM wedged: $trace"
	elif [[ -n $panic ]]; then
		echo "test VM panicked: $trace"
	else
		echo "test VM died: exit status $vm_rc before the results were written: $last"
	fi
}

report_kernel() {
	local res=$RUN/results findings

	if [[ ! -f $res/done ]]; then
		# CI shows only this output: give it the report, not one line.
		since_start "$RUN/console.log" | first_report | diag
		[[ -f $RUN/wedged.txt ]] &&
			grep -v -e '^[A-Z][A-Z0-9 ]*=' -e '^QEMU .*monitor' -e '^$' "$RUN/wedged.txt" | diag
		tap_counted fail "kernel: $(vm_failure)"
		return
	fi
	findings=$(
		since_start "$res/dmesg.txt" | grep -E "$OOPS_RE" | head -n 40 || true
		taint_findings
	)
	if [[ -z $findings ]]; then
		tap_counted ok "kernel: no oops, WARN or BUG in dmesg"
		return
	fi
	diag <<<"$findings"
	tap_counted fail "kernel: $(head -n 1 <<<"$findings")"
}

main() {
	local tests name

	tests=$(list_tests)
	echo "TAP version 13"
	echo "1..$(($(wc -w <<<"$tests") + 4))"
	run_lint
	RUN=$(new_run_dir)
	echo "# test VM: console log in ${RUN#"$REPO"/}/console.log"
	# shellcheck disable=SC2086 # one test name per word
	TESTDIR=$SELFTESTS/out TEST_FILTER=$FILTER "$HERE/vm.sh" "$RUN" run $tests || vm_rc=$?
	report_step load "load modules (tun tap vhost_net macvtap veth kvnet)"
	for name in $tests; do
		report_binary "$name"
	done
	report_step unload "unload kvnet"
	report_kernel
	echo "$passed passed, $failed failed, $skipped skipped"
	((failed == 0))
}

main "$@"
