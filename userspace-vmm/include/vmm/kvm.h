/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The virtual machine: /dev/kvm, guest memory, the in-kernel irqchip and
 * PIT, the GSI routing table (MSI routes for irqfds) and ioeventfds.
 */
#ifndef VMM__KVM_H
#define VMM__KVM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <linux/kvm.h>

/* Guest RAM: [0, low_size) and, above the PCI hole, [4 GiB, +high_size). */
#define VMM_PCI_HOLE_START	0xc0000000ULL	/* 32-bit BARs live here */
#define VMM_PCI_HOLE_END	0x100000000ULL
#define VMM_MAX_MEM_REGIONS	2

struct vm_mem_region {
	uint64_t gpa;
	uint64_t size;
	void *hva;
};

struct vm {
	int kvm_fd;
	int vm_fd;
	int vcpu_mmap_size;

	uint64_t ram_size;
	struct vm_mem_region mem[VMM_MAX_MEM_REGIONS];
	int nr_mem;

	/* GSI routing: the irqchip's pins plus MSI routes. Protected by lock. */
	pthread_mutex_t gsi_lock;
	struct kvm_irq_routing *routing;
	unsigned int next_gsi;
};

/*
 * How many vCPUs this host's KVM allows in one VM (KVM_CAP_MAX_VCPUS), or
 * -errno (with a message) when /dev/kvm cannot be used.
 */
int kvm__max_vcpus(void);

/*
 * Open /dev/kvm, create the VM with irqchip, PIT and @ram_size of memory.
 * 0 or -errno, with a message printed.
 */
int vm__init(struct vm *vm, uint64_t ram_size);
void vm__exit(struct vm *vm);

/* Host address of guest range [gpa, gpa+len) or NULL if not all in RAM. */
void *vm__gpa_to_hva(struct vm *vm, uint64_t gpa, uint64_t len);

/* Raise or lower an IOAPIC/PIC input (KVM_IRQ_LINE). */
int vm__irq_line(struct vm *vm, unsigned int irq, int level);

/*
 * MSI routing: allocate a GSI routed to an MSI, change its message, free it.
 * The table is committed with KVM_SET_GSI_ROUTING on every change.
 * Return 0 or -errno; vm__msi_route_add returns the GSI (>= 0) or -errno.
 */
int vm__msi_route_add(struct vm *vm, uint64_t addr, uint32_t data);
int vm__msi_route_update(struct vm *vm, unsigned int gsi, uint64_t addr,
			 uint32_t data);
void vm__msi_route_del(struct vm *vm, unsigned int gsi);

/* KVM_IRQFD: @efd raises @gsi; the deassign form undoes it. 0 or -errno. */
int vm__irqfd(struct vm *vm, int efd, unsigned int gsi, bool assign);

/* KVM_IOEVENTFD on MMIO [addr, addr+len) (no datamatch). 0 or -errno. */
int vm__ioeventfd(struct vm *vm, int efd, uint64_t addr, unsigned int len,
		  bool assign);

#endif /* VMM__KVM_H */
