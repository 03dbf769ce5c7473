#!/bin/bash
# Boot the test VM: QEMU TCG, the Debian kernel that KDIR was built for, a
# busybox initramfs, the host root read-only over 9p and RUNDIR/results
# writable. Modes: "run TEST..." runs test binaries and powers off (bounded
# by VM_TIMEOUT); "shell" gives an interactive shell on the console.
# Usage: vm.sh RUNDIR run|shell [TEST...]
# Env: KDIR, TESTDIR (where the binaries are), TEST_FILTER, TEST_TIMEOUT,
#      VM_TIMEOUT, V=1 (show the console while running).
# Exits with QEMU's status (124 when VM_TIMEOUT killed it).
set -euo pipefail

# shellcheck source=selftests/vm/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=selftests/vm/watchdog.sh
. "$(dirname "$0")/watchdog.sh"

REPO=$(cd "$(dirname "$0")/../.." && pwd)
RUNDIR=${1:?usage: vm.sh RUNDIR run|shell [TEST...]}
MODE=${2:?usage: vm.sh RUNDIR run|shell [TEST...]}
shift 2
KVER=$(kver_of_kdir "${KDIR:?KDIR not set}")
VMLINUZ=/boot/vmlinuz-$KVER
TESTDIR=${TESTDIR:-$REPO/selftests/out}

# panic=-1 with -no-reboot turns any panic into a QEMU exit; the *_panic
# options turn a wedge or a WARN into a panic with a trace on the console.
CMDLINE=(console=ttyS0 panic=-1 oops=panic panic_on_warn=1 softlockup_panic=1
	hung_task_panic=1 slub_debug=FZPU page_poison=1 printk.devkmsg=on
	nokaslr)

quote() {
	printf "'%s'" "${1//\'/\'\\\'\'}"
}

# Read by init (busybox sh) and guest.sh (bash): plain NAME='value' lines.
write_conf() {
	local rows=24 cols=80

	[[ $MODE == shell ]] && read -r rows cols < <(stty size 2>/dev/null || echo 24 80)
	{
		echo "KVNET_MODE=$(quote "$MODE")"
		echo "KVNET_REPO=$(quote "$REPO")"
		echo "KVNET_RESULTS=$(quote "$RUNDIR/results")"
		echo "KVNET_KO=$(quote "$REPO/kmod/kvnet.ko")"
		echo "KVNET_TESTDIR=$(quote "$TESTDIR")"
		echo "KVNET_TESTS=$(quote "$*")"
		echo "KVNET_FILTER=$(quote "${TEST_FILTER:-}")"
		echo "KVNET_TEST_TIMEOUT=$(quote "$TEST_TIMEOUT")"
		echo "KVNET_TERM=$(quote "${TERM:-vt100}")"
		echo "KVNET_ROWS=$rows KVNET_COLS=$cols"
	} >"$RUNDIR/results/vm.conf"
}

# shellcheck disable=SC2054 # the commas belong to QEMU's option syntax
QEMU=(qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 2048
	-nodefaults -no-reboot -display none
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap)

# The console goes to console.log; stdio only shows it (V=1, as TAP
# comments: tests print ok/not ok lines there too) or, for the shell, is
# the terminal (Ctrl-A X quits QEMU).
boot() {
	local log=$RUNDIR/console.log rc=0 watch

	QEMU+=(-kernel "$VMLINUZ" -initrd "$RUNDIR/initramfs.cpio.gz"
		-append "${CMDLINE[*]}" -serial chardev:con
		-virtfs "local,path=$RUNDIR/results,mount_tag=results,security_model=none")
	if [[ $MODE == shell ]]; then
		"${QEMU[@]}" -chardev "stdio,id=con,mux=on,signal=off,logfile=$log" -mon chardev=con
		return
	fi
	# shellcheck disable=SC2207 # option words without blanks
	QEMU+=($(monitor_args))
	watch_heartbeat >/dev/null 2>&1 &
	watch=$!
	if [[ ${V:-0} == 1 ]]; then
		timeout -k 10 "$VM_TIMEOUT" "${QEMU[@]}" -chardev "stdio,id=con,logfile=$log" </dev/null |
			sed -u 's/^/# /'
		rc=${PIPESTATUS[0]}
	else
		timeout -k 10 "$VM_TIMEOUT" "${QEMU[@]}" -chardev "file,id=con,path=$log" </dev/null || rc=$?
	fi
	kill "$watch" 2>/dev/null || true
	return "$rc"
}

main() {
	[[ -f $VMLINUZ ]] || die "no $VMLINUZ to boot the module's kernel $KVER in the test VM"
	[[ $MODE != shell || -t 0 ]] || die "vm-shell needs a terminal on stdin"
	rm -rf "$RUNDIR/results"
	mkdir -p "$RUNDIR/results"
	write_conf "$@"
	"$(dirname "$0")/mkinitramfs.sh" "$KVER" "$RUNDIR/initramfs.cpio.gz"
	boot
}

main "$@"
