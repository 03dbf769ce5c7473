# shellcheck shell=bash
# Helpers shared by the host-side scripts in selftests/vm/ (sourced, not run).

die() {
	echo "${0##*/}: $*" >&2
	exit 1
}

# Kernel release a kernel tree was configured for: the test VM must boot
# exactly that kernel, or the module will not load.
kver_of_kdir() {
	local uts=$1/include/generated/utsrelease.h

	[[ -f $uts ]] || die "$1 is not a configured kernel tree (no $uts); run 'make deps' or pass KDIR="
	sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' "$uts"
}

# Per test binary, and for the whole VM run, in seconds.
: "${TEST_TIMEOUT:=300}" "${VM_TIMEOUT:=1800}"
