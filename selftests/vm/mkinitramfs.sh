#!/bin/bash
# Build the test VM's initramfs: static busybox, init, and the kernel modules
# needed to reach the host root over virtio 9p, in dependency order.
# Usage: mkinitramfs.sh KVER OUTPUT.cpio.gz
set -euo pipefail

# shellcheck source=selftests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

KVER=${1:?usage: mkinitramfs.sh KVER OUTPUT}
OUTPUT=${2:?usage: mkinitramfs.sh KVER OUTPUT}
ROOT_MODULES=(virtio_pci 9pnet_virtio 9p)

# modprobe resolves dependencies for us; the list keeps first occurrences.
module_paths() {
	local m

	for m in "${ROOT_MODULES[@]}"; do
		modprobe -S "$KVER" --show-depends "$m"
	done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }'
}

main() {
	local dir path

	[[ -d /lib/modules/$KVER ]] || die "no modules for $KVER in /lib/modules"
	dir=$(mktemp -d)
	# shellcheck disable=SC2064 # expand now: $dir is local
	trap "rm -rf '$dir'" EXIT
	mkdir -p "$dir"/{bin,dev,proc,sys,modules}
	cp /bin/busybox "$dir/bin/busybox"
	install -m 755 "$(dirname "$0")/init" "$dir/init"
	mknod "$dir/dev/console" c 5 1
	for path in $(module_paths); do
		cp "$path" "$dir/modules/"
		basename "$path" >>"$dir/modules/order"
	done
	(cd "$dir" && find . | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$OUTPUT"
}

main "$@"
