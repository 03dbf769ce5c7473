#!/bin/bash
# `make demo`: demo-vm in one run of the test VM (QEMU TCG), where
# kvnet-vmm boots a guest on nested KVM whose network device kvnet serves.
# Shows the demo's part of the test VM's console as it comes, and ends
# with the demo's summary line. Exits non-zero if the demo, the test VM,
# or check.sh's checks around it (module load and unload, kernel log)
# failed, showing check.sh's verdict then.
# Env: KDIR, TEST_TIMEOUT (seconds for demo-vm, default 240), VM_TIMEOUT
#      (for the test VM, default 300).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
LOG=$REPO/selftests/out/demo-check.log
RUN=demo-vm

say() {
	echo "demo: $*"
}

# The console log of the run check.sh started, once it names it in $LOG
# (after a few seconds at most; 60 here).
console_log() {
	local path="" deadline=$((SECONDS + 60))

	until [[ -n $path ]] || ((SECONDS >= deadline)); do
		sleep 0.2
		[[ -f $LOG ]] || continue
		path=$(sed -n 's|^# test VM: console log in \(.*\)$|\1|p' "$LOG")
	done
	[[ -z $path || $path == /* ]] || path=$REPO/$path
	echo "$path"
}

# The console from guest.sh's "running demo-vm" to its "demo-vm exited",
# as it is written. The test VM's kernel messages stay in, as on a
# console. tail ends with this script at the latest. (A shell loop, not
# awk: mawk reads a pipe a block at a time, which holds lines back.)
show_console() {
	local console line on=""

	console=$(console_log)
	[[ -n $console ]] || return 0
	tail -n +1 -F --pid=$$ "$console" 2>/dev/null |
		while IFS= read -r line; do
			line=${line%$'\r'}
			if [[ $line == *"kvnet-vm: running $RUN"* ]]; then
				[[ -n $on ]] || say "test VM up, modules loaded"
				on=1
			elif [[ $line == *"kvnet-vm: $RUN exited with status"* ]]; then
				break
			elif [[ -n $on ]]; then
				printf '%s\n' "$line"
			fi
		done || true	# tail's SIGPIPE, once the loop is done
}

main() {
	local follower rc=0 console i start=$SECONDS

	mkdir -p "$(dirname "$LOG")"
	rm -f "$LOG"
	say "booting the test VM (QEMU TCG; the guest runs on nested KVM inside it), $(date -u '+%Y-%m-%d %H:%M UTC')"
	# The console in the background: check.sh stays in the foreground,
	# where a ^C reaches it and the test VM.
	show_console &
	follower=$!
	SELFTESTS=$HERE T='' LINT=0 TEST_TIMEOUT=${TEST_TIMEOUT:-240} \
		VM_TIMEOUT=${VM_TIMEOUT:-300} "$REPO/selftests/vm/check.sh" \
		>"$LOG" 2>&1 || rc=$?
	# The console is whole now: a moment to show the rest of it.
	for ((i = 0; i < 30; i++)); do
		kill -0 "$follower" 2>/dev/null || break
		sleep 0.1
	done
	kill "$follower" 2>/dev/null || true
	wait "$follower" || true
	console=$(sed -n 's|^# test VM: console log in \(.*\)$|\1|p' "$LOG")
	if ((rc == 0)); then
		say "ok in $((SECONDS - start)) s, test VM boot included; console log in $console"
		return
	fi
	# check.sh's own points (lint skipped, load, the demo, unload, kernel
	# log), without the demo's output again.
	say "the run failed; check.sh said:"
	grep -v '^# ' "$LOG" || true
	say "check.sh's whole report in ${LOG#"$REPO"/}"
	return "$rc"
}

main "$@"
