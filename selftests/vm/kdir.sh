#!/bin/bash
# Print the default KDIR: the headers of the newest installed kernel that the
# test VM can also boot (a /lib/modules/<kver>/build with a /boot/vmlinuz-<kver>).
# Never `uname -r`: that is the machine's own kernel, which has no headers.
set -euo pipefail

newest_bootable_kdir() {
	local build kver

	for build in /lib/modules/*/build; do
		kver=${build#/lib/modules/}
		kver=${kver%/build}
		[[ -f $build/Makefile && -f /boot/vmlinuz-$kver ]] && echo "$kver"
	done | sort -V | tail -n 1
}

kver=$(newest_bootable_kdir)
[[ -n $kver ]] || exit 1
echo "/lib/modules/$kver/build"
