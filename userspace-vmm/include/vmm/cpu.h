/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vCPUs: creation with CPUID, MSRs and LAPIC set up, one thread each
 * running KVM_RUN and dispatching exits to the buses.
 */
#ifndef VMM__CPU_H
#define VMM__CPU_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <linux/kvm.h>

struct vm;

/* Exit reasons counted one by one for --stats; the rest as "other". */
#define VCPU_EXIT_REASONS	64

struct vcpu {
	struct vm *vm;
	unsigned int id;		/* also its APIC ID */
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool running;			/* the thread was started */
	/* --stats, written only by the vCPU's thread. */
	uint64_t exits[VCPU_EXIT_REASONS];
	uint64_t exits_other;
	uint64_t exits_eintr;		/* KVM_RUN interrupted by a signal */
};

/*
 * Create vCPU @id of @nr_cpus: CPUID (topology: one package, one core per
 * vCPU), the MSRs Linux expects, LAPIC LINT0/LINT1. 0 or -errno with a
 * message.
 */
int vcpu__init(struct vcpu *vcpu, struct vm *vm, unsigned int id,
	       unsigned int nr_cpus);

/* Registers of the boot vCPU at the kernel's 64-bit entry (see boot.h). */
int vcpu__set_boot_state(struct vcpu *vcpu);

/*
 * Start the vCPU's thread. Application processors wait in the in-kernel
 * LAPIC for INIT/SIPI from the boot vCPU.
 */
int vcpu__start(struct vcpu *vcpu);

/* Make the vCPU leave KVM_RUN and its thread end; then join it. */
void vcpu__stop(struct vcpu *vcpu);

void vcpu__exit(struct vcpu *vcpu);

/* --stats: KVM exits by reason, summed over @vcpus. */
void vcpu__print_stats(FILE *out, const struct vcpu *vcpus, unsigned int nr);

#endif /* VMM__CPU_H */
