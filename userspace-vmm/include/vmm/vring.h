/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The device side of a split virtqueue, for the backend that serves rings
 * in the VMM. Everything read from the ring is the guest's and is checked
 * before use: a ring that breaks a rule is reported and refused for good
 * (until the device is reset), never followed.
 */
#ifndef VMM__VRING_H
#define VMM__VRING_H

#include <stdbool.h>
#include <stdint.h>

#include <sys/uio.h>

#include <linux/virtio_ring.h>

struct vm;

struct vring_queue {
	struct vm *vm;
	uint16_t num;			/* a power of two */
	struct vring_desc *desc;	/* host addresses of the guest's ring */
	struct vring_avail *avail;
	struct vring_used *used;
	bool event_idx;			/* VIRTIO_RING_F_EVENT_IDX */
	bool indirect;			/* VIRTIO_RING_F_INDIRECT_DESC */
	bool broken;			/* a rule was broken: pop refuses */
	char error[160];		/* which rule, for the device to report */

	uint16_t last_avail;		/* next avail entry to take */
	uint16_t used_idx;		/* next used entry to fill */
	uint16_t published;		/* used->idx as last written */
	uint16_t signalled_used;	/* published at the last call check */
	bool signalled_valid;
};

/* One descriptor chain: @nr_out readable iovecs, then @nr_in writable. */
struct vring_chain {
	uint16_t head;
	unsigned int nr_out;
	unsigned int nr_in;
	uint64_t out_len;
	uint64_t in_len;
};

/*
 * Start serving a ring whose three parts the transport has already
 * checked to lie in guest memory (sizes for @num entries, event fields
 * included), at host addresses @desc, @avail and @used.
 */
void vring__init(struct vring_queue *vr, struct vm *vm, uint16_t num,
		 void *desc, void *avail, void *used, bool event_idx,
		 bool indirect);

/*
 * Take the next available chain into @iov (at most @max_iov entries):
 * 1 and @chain filled, 0 if the ring is empty, -EIO if the ring is broken
 * (vr->error says how; the ring is refused from then on).
 */
int vring__pop(struct vring_queue *vr, struct iovec *iov, unsigned int max_iov,
	       struct vring_chain *chain);

/*
 * A chain breaks a rule of the device (e.g. a writable buffer on TX):
 * the ring is broken, for the reason given. Returns -EIO.
 */
int vring__error(struct vring_queue *vr, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Give back the last @n chains taken, unused (most recent first). */
void vring__unpop(struct vring_queue *vr, unsigned int n);

/* Record that chain @head is done, @len bytes written into it. */
void vring__push(struct vring_queue *vr, uint16_t head, uint32_t len);

/* Make the pushed entries visible to the driver. */
void vring__publish(struct vring_queue *vr);

/* After a publish: does the driver want an interrupt for it? */
bool vring__need_call(struct vring_queue *vr);

/*
 * Kick suppression while the device drains the ring. After enabling,
 * true means chains arrived meanwhile and the caller must drain again.
 */
void vring__disable_kicks(struct vring_queue *vr);
bool vring__enable_kicks(struct vring_queue *vr);
/*
 * The same for a device that has looked at the chains up to avail index
 * @seen and needs more than those: a kick once the driver adds one more;
 * true if it already has.
 */
bool vring__enable_kicks_after(struct vring_queue *vr, uint16_t seen);
/* The driver's avail index now (to pass to vring__enable_kicks_after). */
uint16_t vring__avail_seen(const struct vring_queue *vr);

#endif /* VMM__VRING_H */
