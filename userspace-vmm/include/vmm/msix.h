/* SPDX-License-Identifier: GPL-2.0 */
/*
 * MSI-X for a PCI device: the capability, the vector table and the
 * pending-bit array in a BAR of their own. Each vector has an eventfd that
 * raises it: while the vector is enabled and unmasked the eventfd is a KVM
 * irqfd on a GSI routed to the vector's message, so whoever writes it (a
 * kernel backend, or the VMM) interrupts the guest without a VM exit.
 */
#ifndef VMM__MSIX_H
#define VMM__MSIX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define MSIX_MAX_VECTORS	8
#define MSIX_BAR_SIZE		4096
#define MSIX_PBA_OFFSET		2048

struct vm;
struct pci_device;

struct msix_vector {
	uint32_t addr_lo;
	uint32_t addr_hi;
	uint32_t data;
	uint32_t ctrl;		/* PCI_MSIX_ENTRY_CTRL_MASKBIT */
	int efd;		/* raises the vector */
	int gsi;		/* KVM route of the message, -1: none yet */
	bool route_stale;	/* message changed since the route was set */
	bool irqfd;		/* efd is an irqfd on gsi */
	bool warned;		/* a route or irqfd failure was reported */
};

struct msix {
	struct vm *vm;
	struct pci_device *pci;
	unsigned int cap;	/* offset of the capability in config space */
	unsigned int nr;
	/* All below under lock; taken after the PCI lock, never before. */
	pthread_mutex_t lock;
	bool enabled;		/* message control: MSI-X enable */
	bool masked;		/* message control: function mask */
	struct msix_vector vec[MSIX_MAX_VECTORS];
};

/*
 * Give @pci an MSI-X capability with @nr vectors, all masked, whose table
 * and PBA live in BAR @bar. 0 or -errno, with a message.
 */
int msix__init(struct msix *mx, struct vm *vm, struct pci_device *pci,
	       unsigned int nr, int bar);
void msix__exit(struct msix *mx);

/* The device's pci cfg_write hook passes every config write on to this. */
void msix__cfg_write(struct msix *mx, unsigned int off, unsigned int len);

/* The eventfd of @vector, -1 if there is no such vector. */
int msix__eventfd(const struct msix *mx, unsigned int vector);

/* Raise @vector (left pending while it is masked). Thread-safe. */
void msix__signal(const struct msix *mx, unsigned int vector);

#endif /* VMM__MSIX_H */
