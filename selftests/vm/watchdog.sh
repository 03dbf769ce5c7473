# shellcheck shell=bash
# The host's watch on a running test VM (sourced by vm.sh).
#
# guest.sh rewrites results/heartbeat every few seconds. A kernel wedged
# with interrupts off stops it and prints nothing, and would hold the run
# until VM_TIMEOUT. When the heartbeat is older than HEARTBEAT_STALE
# seconds, the watch asks QEMU's monitor where each vCPU is, writes that to
# RUNDIR/wedged.txt with the kernel addresses found on each stack, named
# from results/kallsyms (the kernel boots with nokaslr), and quits QEMU.

: "${HEARTBEAT_STALE:=180}"

# QEMU's human monitor on the FIFO pair RUNDIR/monitor.{in,out}.
monitor_args() {
	rm -f "$RUNDIR/monitor.in" "$RUNDIR/monitor.out"
	mkfifo "$RUNDIR/monitor.in" "$RUNDIR/monitor.out"
	echo -chardev "pipe,id=mon,path=$RUNDIR/monitor" -mon chardev=mon
}

# Send one command; print the lines that came back within 2 s, without
# the echo of what was typed.
monitor_cmd() {
	local line

	echo "$1" >"$RUNDIR/monitor.in"
	while IFS= read -r -t 2 line; do
		line=${line//$'\r'/}
		[[ $line == *$'\e'* ]] || echo "$line"
	done <"$RUNDIR/monitor.out"
}

# Names of the kernel text addresses among the words read on stdin.
symbolize() {
	local syms=$RUNDIR/results/kallsyms

	[[ -s $syms ]] || return 0
	sed 's/^0x//' | grep -E '^ffffffff[89a-f][0-9a-f]{7}$' | awk -v syms="$syms" '
	function low(h,   i, v) {
		v = 0
		for (i = 9; i <= 16; i++)
			v = v * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1
		return v
	}
	BEGIN {
		while ((getline l < syms) > 0) {
			split(l, f, " ")
			n++; addr[n] = f[1]; name[n] = f[3] (f[4] ? " " f[4] : "")
		}
	}
	{
		best = 0
		for (i = 1; i <= n; i++)
			if (addr[i] <= $0 && (!best || addr[i] > addr[best]))
				best = i
		# Farther than any function is long: data, not a return address.
		if (best && low($0) - low(addr[best]) < 16384)
			printf "  %s %s+0x%x\n", $0, name[best], low($0) - low(addr[best])
	}'
}

# Where the vCPUs are: registers, and a stack guess for each.
vcpu_report() {
	local regs cpu rip rsp

	regs=$(monitor_cmd "info registers -a")
	echo "$regs"
	while read -r cpu rip rsp; do
		echo "CPU#$cpu RIP and stack, named:"
		{
			echo "$rip"
			monitor_cmd "cpu $cpu" >/dev/null
			[[ -n $rsp ]] && monitor_cmd "x /96gx 0x$rsp" | cut -d: -f2
		} | tr ' ' '\n' | symbolize
	done < <(awk '
		function out() { if (cpu != "") print cpu, rip, rsp }
		/^CPU#/ { out(); cpu = substr($1, 5); rip = rsp = ""; next }
		{
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^RIP=/) rip = substr($i, 5)
				if ($i ~ /^RSP=/) rsp = substr($i, 5)
			}
		}
		END { out() }' <<<"$regs")
}

# Run in the background while QEMU runs.
watch_heartbeat() {
	local beat=$RUNDIR/results/heartbeat age

	for (( ; ; )); do
		sleep 15
		[[ -f $beat ]] || continue
		age=$(($(date +%s) - $(stat -c %Y "$beat")))
		((age > HEARTBEAT_STALE)) || continue
		{
			echo "no heartbeat from the test VM for ${age}s"
			vcpu_report
		} >"$RUNDIR/wedged.txt" 2>&1
		monitor_cmd quit >/dev/null
		return
	done
}
