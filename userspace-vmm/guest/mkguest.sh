#!/bin/bash
# Assemble the guest's initramfs from Debian packages: static busybox
# (busybox-static), the virtio-net driver and its module dependencies from
# the kernel KVER (linux-image-*), this directory's init, and the given
# tools (statically linked) in /bin.
# Usage: mkguest.sh KVER OUTPUT.cpio.gz [TOOL...]
set -euo pipefail

KVER=${1:?usage: mkguest.sh KVER OUTPUT.cpio.gz [TOOL...]}
OUTPUT=${2:?usage: mkguest.sh KVER OUTPUT.cpio.gz [TOOL...]}
shift 2
BUSYBOX=/bin/busybox
# virtio_pci brings virtio-net-pci devices up; modprobe in the guest loads
# virtio_net again after a rmmod (device reset tests).
GUEST_MODULES=(virtio_pci virtio_net)

die() {
	echo "${0##*/}: $*" >&2
	exit 1
}

# The .ko files GUEST_MODULES need, dependencies first, each once.
module_paths() {
	local m

	for m in "${GUEST_MODULES[@]}"; do
		modprobe -S "$KVER" --show-depends "$m" ||
			die "no module $m for $KVER"
	done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }'
}

# A dynamically linked tool would not run: the guest has no libc.
is_static() {
	! readelf -l "$1" 2>/dev/null | grep -q 'program interpreter'
}

install_busybox() {
	local dir=$1 applet

	"$BUSYBOX" --list | grep -qx sh || die "$BUSYBOX is not busybox (apt-get install busybox-static)"
	is_static "$BUSYBOX" || die "$BUSYBOX is not statically linked (apt-get install busybox-static)"
	cp "$BUSYBOX" "$dir/bin/busybox"
	for applet in $("$BUSYBOX" --list); do
		case "$applet" in
		busybox | init | linuxrc) ;;
		*) ln -s busybox "$dir/bin/$applet" ;;
		esac
	done
}

# Under the same paths as on the host, with a modules.dep of their own,
# so that the guest's busybox modprobe finds them and their dependencies.
install_modules() {
	local dir=$1 path mods=/lib/modules/$KVER

	[[ -d $mods ]] || die "no modules for $KVER in $mods"
	for path in $(module_paths); do
		mkdir -p "$dir$(dirname "$path")"
		cp "$path" "$dir$path"
	done
	cp "$mods"/modules.{builtin,builtin.modinfo,order} "$dir$mods/"
	depmod -b "$dir" "$KVER"
}

install_tools() {
	local dir=$1 tool

	shift
	for tool in "$@"; do
		is_static "$tool" || die "$tool is not statically linked"
		install -m 755 "$tool" "$dir/bin/"
	done
}

main() {
	local dir

	dir=$(mktemp -d)
	# shellcheck disable=SC2064 # expand now: $dir is local
	trap "rm -rf '$dir'" EXIT
	mkdir -p "$dir"/{bin,dev,proc,sys,tmp,root}
	install -m 755 "$(dirname "$0")/init" "$dir/init"
	# The kernel opens it for init's stdio before devtmpfs is mounted.
	mknod "$dir/dev/console" c 5 1
	install_busybox "$dir"
	install_modules "$dir"
	install_tools "$dir" "$@"
	(cd "$dir" && find . | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --reproducible --quiet) | gzip -9 >"$OUTPUT.tmp"
	mv "$OUTPUT.tmp" "$OUTPUT"
}

main "$@"
