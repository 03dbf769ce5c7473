/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The virtio-pci transport, modern (virtio 1.x) only: the common, notify,
 * ISR and device configuration structures in BAR 0, MSI-X in BAR 1, a
 * KVM ioeventfd per queue on its notify address. The device model (e.g.
 * virtio-net) gives the configuration to show and starts and stops the
 * rings when the driver sets DRIVER_OK and resets the device.
 */
#ifndef VMM__VIRTIO_PCI_H
#define VMM__VIRTIO_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/msix.h"
#include "vmm/pci.h"

#define VIRTIO_PCI_MAX_QUEUES	4

struct vm;
struct virtio_pci;

struct virtio_queue {
	uint16_t max_size;
	int kick_fd;		/* ioeventfd on the queue's notify address */

	/* As the driver set them; under the device lock. */
	uint16_t size;
	uint16_t msix_vector;
	bool enabled;
	uint64_t desc_gpa;
	uint64_t avail_gpa;
	uint64_t used_gpa;

	/* Host addresses, set (checked) at DRIVER_OK for enabled queues. */
	void *desc;
	void *avail;
	void *used;
};

struct virtio_pci_ops {
	/*
	 * DRIVER_OK: serve the enabled queues with the negotiated features.
	 * 0, or -errno after a message: the device then needs a reset.
	 */
	int (*start)(struct virtio_pci *vp);
	/* Reset (after a successful start): stop touching the rings. */
	void (*stop)(struct virtio_pci *vp);
};

struct virtio_pci {
	struct pci_device pci;	/* first: the PCI hooks get this pointer */
	struct msix msix;
	struct vm *vm;
	const char *name;	/* for messages */
	const struct virtio_pci_ops *ops;
	void *priv;		/* the device model's */
	const uint8_t *dev_config;
	size_t dev_config_len;
	unsigned int nr_queues;
	uint64_t device_features;	/* offered */

	/*
	 * Driver-visible state. lock serialises the guest's accesses (from
	 * any vCPU) with each other and with ops->start and ops->stop.
	 */
	pthread_mutex_t lock;
	uint64_t driver_features;
	uint32_t device_feature_select;
	uint32_t driver_feature_select;
	uint16_t config_vector;
	uint16_t queue_select;
	uint8_t status;
	bool started;		/* ops->start succeeded, ops->stop not yet run */
	struct virtio_queue vq[VIRTIO_PCI_MAX_QUEUES];

	/* Raised from any thread without the lock (atomics). */
	bool needs_reset;
	uint8_t isr;
	unsigned int reports;	/* guest errors reported so far */

	unsigned int cfg_cap;	/* offset of the PCI_CFG access window */
};

/*
 * Build the device (PCI IDs from the virtio device type @device_type) and
 * put it on the PCI bus: @nr_queues queues of at most @queue_max entries,
 * @features offered, @config shown read-only as device configuration (it
 * must stay valid). 0 or -errno, with a message.
 */
int virtio_pci__init(struct virtio_pci *vp, struct vm *vm, const char *name,
		     uint16_t device_type, uint32_t class_code,
		     unsigned int nr_queues, uint16_t queue_max,
		     uint64_t features, const uint8_t *config,
		     size_t config_len, const struct virtio_pci_ops *ops,
		     void *priv);

/* Reset the device if it runs (ops->stop), take it off the bus. */
void virtio_pci__exit(struct virtio_pci *vp);

/* The eventfd that interrupts the guest for queue @q; -1 if none. */
int virtio_pci__call_fd(struct virtio_pci *vp, unsigned int q);

/*
 * The device hit an error it cannot get past (a broken ring): set
 * DEVICE_NEEDS_RESET and tell the driver with a configuration interrupt.
 * Callable from any thread, also while the device lock is held elsewhere.
 */
void virtio_pci__needs_reset(struct virtio_pci *vp);

/*
 * Report something the guest did wrong, "<name>: <message>": the first
 * few only, so that a guest cannot flood the VMM's stderr. Thread-safe.
 */
void virtio_pci__report(struct virtio_pci *vp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static inline bool virtio_pci__negotiated(const struct virtio_pci *vp,
					  unsigned int bit)
{
	return vp->driver_features & (1ULL << bit);
}

#endif /* VMM__VIRTIO_PCI_H */
