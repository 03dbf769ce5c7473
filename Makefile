# SPDX-License-Identifier: GPL-2.0
# Build the module, the VMM and the selftests; lint; run the tests in the
# test VM. See "Building and testing" in README.md.

# Kernel tree to build against. The default is the newest installed Debian
# kernel that the test VM can boot (never `uname -r`, see kdir.sh).
KDIR ?= $(shell selftests/vm/kdir.sh)
SELFTESTS ?= selftests
VM := selftests/vm

# Knobs of `make check` and `make vm-shell`, passed on to the scripts.
VM_ENV = KDIR='$(KDIR)' SELFTESTS='$(abspath $(SELFTESTS))' T='$(T)' \
	 LINT='$(LINT)' TEST_TIMEOUT='$(TEST_TIMEOUT)' \
	 VM_TIMEOUT='$(VM_TIMEOUT)' V='$(V)'

MAKEFLAGS += --no-print-directory
# deps must finish before anything uses what it installs.
.NOTPARALLEL:

.PHONY: all deps module vmm selftests lint check vm-shell bench-harness bench \
	clean

all: deps module vmm selftests

deps:
	@$(VM)/deps.sh

module: deps
	$(if $(KDIR),,$(error no kernel headers found: run 'make deps' or pass KDIR=))
	$(MAKE) -C $(KDIR) M=$(CURDIR)

vmm: deps
	$(if $(wildcard userspace-vmm/Makefile),$(MAKE) -C userspace-vmm)
	$(MAKE) -C userspace-vmm/guest KDIR=$(KDIR)

selftests: deps
	$(if $(wildcard $(SELFTESTS)/Makefile),$(MAKE) -C $(SELFTESTS) all)

lint: deps
	@$(VM)/lint.sh '$(KDIR)'

check: all
	@$(VM_ENV) $(VM)/check.sh

vm-shell: all
	@$(VM_ENV) $(VM)/vm.sh $(CURDIR)/selftests/out/vm/shell shell

# The README's demo: in the test VM, a guest of kvnet-vmm whose network
# device kvnet serves pings its peer and moves data (selftests/demo/).
.PHONY: demo
demo: all
	$(MAKE) -C selftests/demo
	@$(VM_ENV) selftests/demo/run.sh

# dp_bench against /dev/kvnet and /dev/vhost-net in one test VM run: the
# table of README.md's "Harness throughput", and BENCH_JSON.
bench-harness: all
	$(MAKE) -C selftests/bench
	@$(VM_ENV) BENCH_JSON='$(BENCH_JSON)' selftests/bench/run.sh

# The guest benchmarks, every backend in one test VM run: the table of
# README.md's "Guest benchmarks", BENCH_JSON and BENCH_PNG. QUICK=1: one
# short run per test.
bench: all
	$(MAKE) -C selftests/bench-net
	@$(VM_ENV) QUICK='$(QUICK)' BENCH_JSON='$(BENCH_JSON)' \
		BENCH_PNG='$(BENCH_PNG)' selftests/bench-net/run.sh

clean:
	$(if $(wildcard $(KDIR)/Makefile),$(MAKE) -C $(KDIR) M=$(CURDIR) clean)
	$(if $(wildcard userspace-vmm/Makefile),$(MAKE) -C userspace-vmm clean)
	$(MAKE) -C userspace-vmm/guest clean
	$(if $(wildcard $(SELFTESTS)/Makefile),$(MAKE) -C $(SELFTESTS) clean)
	rm -rf selftests/out/vm selftests/out/lint
