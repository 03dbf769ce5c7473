#!/bin/bash
# Lint the kernel module: a W=1 build, sparse, and checkpatch --strict.
# Prints each tool's findings and exits non-zero if any tool found anything.
# Usage: lint.sh KDIR [OUTDIR]
set -euo pipefail

# shellcheck source=selftests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

REPO=$(cd "$(dirname "$0")/../.." && pwd)
KDIR=${1:?usage: lint.sh KDIR [OUTDIR]}
OUT=${2:-$REPO/selftests/out/lint}
TARBALL=${LINUX_SOURCE_TARBALL:-$(printf '%s\n' /usr/src/linux-source-*.tar.xz | sort -V | tail -n 1)}

# Lint a fresh copy of the sources: an in-tree build that is already up to
# date would compile nothing and so report nothing. Files .gitignore names
# are build output; *.mod.c is generated even where it was committed.
copy_sources() {
	rm -rf "$OUT/src"
	mkdir -p "$OUT/src"
	(cd "$REPO" && git ls-files -co --exclude-standard -z Kbuild kmod uapi ':!:*.mod.c' |
		xargs -0 cp --parents -t "$OUT/src")
}

# checkpatch.pl wants spelling.txt and const_structs.checkpatch beside it.
extract_checkpatch() {
	local top

	[[ -x $OUT/checkpatch/checkpatch.pl ]] && return
	[[ -f $TARBALL ]] || die "no linux-source tarball in /usr/src; run 'make deps'"
	top=$(basename "$TARBALL" .tar.xz)	# linux-source-6.1/...
	mkdir -p "$OUT/checkpatch"
	tar -xJf "$TARBALL" -C "$OUT/checkpatch" --strip-components=2 --occurrence \
		"$top/scripts/checkpatch.pl" "$top/scripts/spelling.txt" \
		"$top/scripts/const_structs.checkpatch"
}

# Run a kbuild pass quietly: whatever it still prints is a finding.
kbuild_findings() {
	local log rc=0

	log=$(make -s --no-print-directory -C "$KDIR" M="$OUT/src" W=1 "$@" 2>&1) || rc=$?
	grep -v '^Skipping BTF generation' <<<"$log" | sed "s|$OUT/src/||g" || true
	[[ $rc == 0 ]] || echo "lint: kbuild exited with status $rc"
}

checkpatch() {
	(cd "$REPO" && "$OUT/checkpatch/checkpatch.pl" --strict --no-tree --quiet \
		--no-summary --color=never "$@") || true
}

# kmod/compat.h is the one file allowed to test LINUX_VERSION_CODE: the
# module builds on several kernels and keeps every such guard there.
checkpatch_findings() {
	local files

	files=$(cd "$REPO" && git ls-files -co --exclude-standard \
		'kmod/*.[ch]' 'uapi/linux/*.h' ':!:*.mod.c' ':!:kmod/compat.h')
	# shellcheck disable=SC2086 # one file per word, names have no spaces
	[[ -z $files ]] || checkpatch -f $files
	[[ ! -f $REPO/kmod/compat.h ]] ||
		checkpatch --ignore LINUX_VERSION_CODE -f kmod/compat.h
}

# Print one tool's findings under a header line; remember if it had any.
report() {
	local tool=$1 findings=$2

	if [[ -z $findings ]]; then
		echo "lint: $tool: clean"
		return
	fi
	echo "lint: $tool: findings:"
	sed 's/^/    /' <<<"$findings"
	failed=1
}

main() {
	local failed=0

	copy_sources
	extract_checkpatch
	# The first pass compiles everything with W=1; the second finds the
	# objects up to date, so C=2 runs only sparse over every file.
	report "gcc W=1" "$(kbuild_findings)"
	report "sparse" "$(kbuild_findings C=2)"
	report "checkpatch --strict" "$(checkpatch_findings)"
	return "$failed"
}

main "$@"
