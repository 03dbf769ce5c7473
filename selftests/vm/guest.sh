#!/bin/bash
# Inside the test VM, chrooted into the host root (started by init): load
# the modules, then run the test binaries or an interactive shell.
# Everything the host reads back goes to $KVNET_RESULTS; the host side
# (check.sh) turns it into TAP. Usage: guest.sh VM.CONF
set -uo pipefail	# no -e: a failing test must not stop the run

# shellcheck source=/dev/null # written by vm.sh for this run
. "$1"
export KVNET_KO KVNET_REPO
R=$KVNET_RESULTS

# Markers in the kernel log: check.sh looks at dmesg after "start" only,
# and they tell which test was running when the kernel complained.
kmsg() {
	echo "kvnet-vm: $*" >/dev/kmsg
}

# Nested KVM for the guests that kvnet-vmm and QEMU boot in here: the
# test VM's CPU (QEMU -cpu max) offers SVM. Not fatal: tests that need
# /dev/kvm say so themselves.
load_kvm() {
	local hold=$KVNET_REPO/selftests/out/kvm_hold

	modprobe kvm_amd 2>/dev/null || modprobe kvm_intel 2>/dev/null || {
		echo "kvnet-vm: no nested KVM (kvm_amd and kvm_intel failed)"
		return 0
	}
	# KVM's static keys stay put while VMMs come and go: see kvm_hold.c.
	if [[ -x $hold ]]; then
		"$hold" </dev/null &
	else
		echo "kvnet-vm: no $hold: KVM's static keys will flip (make selftests)"
	fi
}

load_modules() {
	load_kvm
	modprobe -a tun tap vhost_net macvtap veth && insmod "$KVNET_KO"
}

# Output goes to the console too, so the console log interleaves each
# test's output with what the kernel printed meanwhile.
# The filter uses the flags of kselftest_harness.h in newer kernels: -r for
# fixture[.variant].test, -t for a bare test name.
run_test() {
	local name=$1 rc args=()

	case "$KVNET_FILTER" in
	"") ;;
	*.*) args=(-r "$KVNET_FILTER") ;;
	*) args=(-t "$KVNET_FILTER") ;;
	esac
	kmsg "running $name"
	echo "kvnet-vm: running $name ${args[*]}"
	(cd "$KVNET_TESTDIR" && timeout -k 10 "$KVNET_TEST_TIMEOUT" "./$name" "${args[@]}") \
		</dev/null 2>&1 | tee "$R/$name.out"
	rc=${PIPESTATUS[0]}
	echo "$rc" >"$R/$name.rc"
	echo "kvnet-vm: $name exited with status $rc"
}

# Unloading last catches references and objects the module failed to drop.
unload_kvnet() {
	[[ -d /sys/module/kvnet ]] || return 0
	timeout 60 rmmod kvnet
}

# For the host's watch (watchdog.sh): a kernel wedged with interrupts off
# stops the heartbeat, and the host names addresses from kallsyms.
start_heartbeat() {
	grep -E '^[0-9a-f]+ [tT] ' /proc/kallsyms >"$R/kallsyms" &
	while :; do
		date +%s >"$R/heartbeat"
		sleep 5
	done &
}

run_tests() {
	local name

	start_heartbeat
	load_modules >"$R/load.log" 2>&1
	echo $? >"$R/load.rc"
	for name in $KVNET_TESTS; do
		run_test "$name"
	done
	unload_kvnet >"$R/unload.log" 2>&1
	echo $? >"$R/unload.rc"
	kmsg "done"
	dmesg >"$R/dmesg.txt"
	cat /proc/sys/kernel/tainted >"$R/tainted"
	touch "$R/done"
}

run_shell() {
	load_modules || echo "kvnet-vm: loading the modules failed"
	stty -F /dev/ttyS0 rows "$KVNET_ROWS" cols "$KVNET_COLS" 2>/dev/null
	echo "kvnet-vm: modules loaded, KVNET_KO=$KVNET_KO; exit the shell to power off"
	cd "$KVNET_REPO" || true
	PS1='kvnet-vm:\w# ' setsid --ctty --wait bash --norc -i \
		</dev/ttyS0 >/dev/ttyS0 2>&1
}

kmsg "start"
case "$KVNET_MODE" in
run) run_tests ;;
shell) run_shell ;;
esac
