#!/bin/bash
# Install the Debian packages that building and testing kvnet needs.
# Quick when everything is present: only dpkg-query runs then.
set -euo pipefail

PACKAGES=(
	make gcc libc6-dev perl xz-utils	# build, checkpatch, source tarball
	linux-image-amd64 linux-headers-amd64	# test VM kernel and its headers
	linux-source				# checkpatch.pl, kselftest headers
	sparse
	qemu-system-x86 busybox-static cpio kmod	# test VM
	iproute2 iperf3 sockperf gnuplot-nox	# tests and benchmarks
)

missing_packages() {
	local pkg status

	for pkg in "${PACKAGES[@]}"; do
		status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
		[[ $status == ii* ]] || echo "$pkg"
	done
}

main() {
	local missing

	if ! command -v dpkg-query >/dev/null; then
		echo "deps: not a Debian system; install the equivalent of: ${PACKAGES[*]}" >&2
		return 0
	fi
	missing=$(missing_packages)
	[[ -n $missing ]] || return 0

	echo "deps: installing ${missing//$'\n'/ }"
	[[ $(id -u) == 0 ]] || { echo "deps: need root to install packages" >&2; return 1; }
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086 # one package per word
	apt-get install -y -q --no-install-recommends $missing
}

main "$@"
