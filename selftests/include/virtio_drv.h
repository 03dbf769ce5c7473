/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A userspace virtio-net driver for the kvnet selftests, in the spirit of
 * the kernel's tools/virtio: it plays the guest (and the VMM) against any
 * device that speaks the vhost-net ioctl ABI, /dev/kvnet or /dev/vhost-net.
 *
 * The guest's RAM is anonymous memory of this process, registered with
 * VHOST_SET_MEM_TABLE at a guest-physical base far from its host address
 * and split in regions that are contiguous in guest-physical space but not
 * in the host's, so a buffer can straddle two regions. Two one-page regions
 * sit at guest-physical 0 and at the top of the 64-bit space, so that a
 * range wrapping past 2^64 would land in mapped memory if a device missed
 * the wrap. Both split rings are laid out in that RAM; descriptors carry
 * guest-physical addresses, the device gets the rings' host addresses.
 *
 * The driver keeps what a guest driver keeps (tools/virtio and
 * drivers/virtio/virtio_ring.c): a descriptor free list, a token per
 * chain in flight, the shadow avail index, the last used index seen, and
 * with VIRTIO_RING_F_EVENT_IDX the avail_event/used_event protocol.
 *
 * Calls that can fail come in pairs as in kvnet_util.h: __vdrv_x() returns
 * 0 or -errno, vdrv_x() asserts (harness tests only).
 */
#ifndef VIRTIO_DRV_H
#define VIRTIO_DRV_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/if_ether.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "kvnet_util.h"

#define VDRV_RX			KVNET_VQ_RX
#define VDRV_TX			KVNET_VQ_TX
#define VDRV_NUM_VQS		2

/* Guest RAM: regions of VDRV_REGION_SIZE, contiguous from VDRV_RAM_GPA. */
#define VDRV_RAM_GPA		0x100000000ULL
#define VDRV_REGION_SIZE	(1024 * 1024UL)
#define VDRV_RAM_REGIONS	4
#define VDRV_RAM_SIZE		(VDRV_RAM_REGIONS * VDRV_REGION_SIZE)
/* The extra one-page regions at the bottom and the top of the space. */
#define VDRV_LOW_GPA		0x0ULL
#define VDRV_HIGH_GPA		(0ULL - KVNET_PAGE_SIZE)
#define VDRV_MAX_REGIONS	(VDRV_RAM_REGIONS + 2)

/* Ring entries, and segments one chain may have (an indirect table's). */
#define VDRV_RING_NUM		256
#define VDRV_MAX_SG		16

/* One guest buffer: guest-physical address and length. */
struct vdrv_sg {
	uint64_t gpa;
	uint32_t len;
};

struct vdrv_region {
	uint64_t gpa;
	uint64_t size;
	void *hva;
};

struct vdrv;

/*
 * One split virtqueue, driver side. Everything but the ring itself is
 * private driver memory the device never sees.
 */
struct vdrv_vq {
	struct vdrv *drv;
	unsigned int index;
	unsigned int num;
	struct vring vring;
	/*
	 * Indirect tables, VDRV_MAX_SG entries for each head, in guest RAM;
	 * a test may move them while nothing is in flight.
	 */
	uint64_t indirect_gpa;
	bool event_idx;
	bool indirect;
	/* The avail index published last, and at the last kick decision. */
	uint16_t avail_idx;
	uint16_t kicked_idx;
	uint16_t last_used_idx;
	uint16_t avail_flags;
	/* Free descriptors, linked through free_next[]. */
	uint16_t free_head;
	unsigned int num_free;
	uint16_t free_next[VDRV_RING_NUM];
	/* Chain of each head in flight: its descriptors, its token. */
	struct {
		void *token;
		uint16_t ndesc;
		uint16_t desc[VDRV_MAX_SG];
	} inflight[VDRV_RING_NUM];
	unsigned int num_inflight;
	int kick;
	int call;
	int err;
	/* Notifications sent and saved, calls waited for. */
	uint64_t kicks;
	uint64_t kicks_saved;
	uint64_t calls;
};

struct vdrv {
	int fd;
	uint64_t features;
	/* The virtio-net header the features imply: 10 or 12 bytes. */
	size_t hdr_len;
	void *map;
	size_t map_size;
	struct vdrv_region regions[VDRV_MAX_REGIONS];
	unsigned int nregions;
	/* Bump allocator over guest RAM. */
	uint64_t brk;
	struct vdrv_vq vqs[VDRV_NUM_VQS];
	/* What the device did wrong, when a call returns -EPROTO. */
	char error[256];
};

static inline bool vdrv_has(const struct vdrv *d, unsigned int feature)
{
	return d->features & (1ULL << feature);
}

/* The virtio-net header length of a feature set (QEMU's rule). */
size_t vdrv_hdr_len(uint64_t features);

/* Nothing open: every fd -1, as after vdrv_close(). */
void vdrv_init(struct vdrv *d);
/*
 * Open @path, ack @features (SET_FEATURES before SET_OWNER, as QEMU does:
 * vhost-net learns the header length there only), SET_OWNER, register the
 * memory table, and set up both rings with kick, call and error eventfds.
 * No backend. 0 or -errno, @failed naming the step; vdrv_close() after
 * either.
 */
int __vdrv_open(struct vdrv *d, const char *path, uint64_t features,
		const char **failed);
void vdrv_close(struct vdrv *d);

/*
 * A tap for the device: IFF_TAP | IFF_NO_PI | IFF_VNET_HDR and
 * TUNSETVNETHDRSZ @hdr_len, as QEMU sets it up. Needs a private netns.
 * An fd or -errno; its name in @name.
 */
int __vdrv_tap_create(size_t hdr_len, char name[IFNAMSIZ]);

/* What the device at @path offers (VHOST_GET_FEATURES): 0 or -errno. */
int __vdrv_offered(const char *path, uint64_t *features);
/*
 * The tap offloads (TUN_F_*) for a guest that negotiated @features, as
 * QEMU derives them: checksum with GUEST_CSUM, and only then TSO4/6 and
 * ECN with GUEST_TSO4/6 and GUEST_ECN.
 */
unsigned int vdrv_tap_offloads(uint64_t features);
/* TUNSETOFFLOAD of vdrv_tap_offloads(@features) on tap or macvtap @fd. */
int __vdrv_set_offloads(int fd, uint64_t features);

/* ---- guest memory --------------------------------------------------------- */

/* @size bytes of guest RAM aligned to @align (a power of two); 0 if full. */
uint64_t vdrv_alloc(struct vdrv *d, size_t size, size_t align);
/* Host address of [@gpa, @gpa + @len) if one region holds it all, or NULL. */
void *vdrv_hva(const struct vdrv *d, uint64_t gpa, size_t len);
/* Copy to or from guest memory, across regions: 0 or -EFAULT. */
int vdrv_write(struct vdrv *d, uint64_t gpa, const void *src, size_t len);
int vdrv_read(const struct vdrv *d, uint64_t gpa, void *dst, size_t len);

/* ---- the driver's side of a ring ------------------------------------------ */

/*
 * Make a chain available: @out device-readable segments then @in
 * device-writable ones, as one indirect table if @indirect. @token comes
 * back from vdrv_get_buf(). The head, -ENOSPC if the free descriptors do
 * not suffice, -EINVAL if the chain is empty or too long.
 */
int vdrv_add(struct vdrv_vq *vq, const struct vdrv_sg *sg, unsigned int out,
	     unsigned int in, bool indirect, void *token);
/*
 * Does the device want a notification for what was added since the last
 * decision? VRING_USED_F_NO_NOTIFY, or avail_event with EVENT_IDX.
 */
bool vdrv_kick_prepare(struct vdrv_vq *vq);
/* Signal the kick eventfd: 0 or -errno. */
int vdrv_notify(struct vdrv_vq *vq);
/* vdrv_kick_prepare() and, if wanted, vdrv_notify(): 0 or -errno. */
int vdrv_kick(struct vdrv_vq *vq);

/* The used index as the device published it. */
uint16_t vdrv_used_idx(const struct vdrv_vq *vq);
/* Entries in the used ring the driver has not taken yet. */
bool vdrv_more_used(const struct vdrv_vq *vq);
/*
 * Take one used entry: 1 with its token and length, 0 if there is none,
 * -EPROTO if the device returned a head that is not in flight (the
 * message in drv->error). With EVENT_IDX, asks for a call at the next
 * entry (used_event), as virtqueue_get_buf() does.
 */
int vdrv_get_buf(struct vdrv_vq *vq, void **token, uint32_t *len);
/*
 * Ask for a call at the next used entry; false if entries arrived
 * meanwhile (the caller takes them before waiting).
 */
bool vdrv_enable_cb(struct vdrv_vq *vq);
/*
 * With EVENT_IDX, ask for a call only when the @n-th entry from now is
 * used (used_event); false if that many are there already. Calls taken
 * with vdrv_get_buf() meanwhile move used_event back to the next entry.
 */
bool vdrv_enable_cb_delayed(struct vdrv_vq *vq, uint16_t n);
/* Ask for no calls (VRING_AVAIL_F_NO_INTERRUPT; with EVENT_IDX a hint). */
void vdrv_disable_cb(struct vdrv_vq *vq);
/*
 * Wait up to @timeout_ms for a used entry, blocking on the call eventfd
 * as a guest waits for its interrupt: 0 when there is one, -ETIMEDOUT,
 * or -EPROTO when entries are there but no call came for them.
 */
int vdrv_wait_used(struct vdrv_vq *vq, int timeout_ms);

/* ---- virtio-net packets ---------------------------------------------------- */

/*
 * How a TX packet or an RX buffer is cut into descriptors: @nseg segments
 * of @len[i] bytes, segment i starting @gap[i] bytes after the end of the
 * one before (the first, @gap[0] bytes after the start), all in one
 * indirect table if @indirect.
 */
struct vdrv_layout {
	unsigned int nseg;
	uint32_t len[VDRV_MAX_SG];
	uint32_t gap[VDRV_MAX_SG];
	bool indirect;
};

/* Bytes the layout covers, from its start to the end of its last segment. */
size_t vdrv_layout_span(const struct vdrv_layout *l);
/* Its segments when it starts at @gpa; their count. */
unsigned int vdrv_layout_sg(const struct vdrv_layout *l, uint64_t gpa,
			    struct vdrv_sg *sg);

/*
 * Post a TX packet: the virtio-net header @hdr (drv->hdr_len bytes) and
 * the @len bytes of @frame, written from @gpa on into the segments of @l,
 * whose lengths add up to both. The head, or -ENOSPC, -EINVAL, -EFAULT.
 */
int vdrv_tx_post(struct vdrv_vq *vq, uint64_t gpa, const void *hdr,
		 const void *frame, size_t len, const struct vdrv_layout *l,
		 void *token);
/* Post an RX buffer, the segments of @l from @gpa on: as vdrv_add(). */
int vdrv_rx_post(struct vdrv_vq *vq, uint64_t gpa,
		 const struct vdrv_layout *l, void *token);
/* Read the first @len bytes of the @n segments @sg: 0 or -EFAULT. */
int vdrv_sg_read(const struct vdrv *d, const struct vdrv_sg *sg,
		 unsigned int n, void *dst, size_t len);

/*
 * Test frames: Ethernet from @src to @dst with ethertype VDRV_ETHERTYPE,
 * then @seq and @len (big endian) and bytes that follow from both, so
 * that a frame tells whether it is whole. 18 to 65535 bytes.
 */
#define VDRV_ETHERTYPE		0x88b5	/* IEEE 802 local experimental */
#define VDRV_FRAME_MIN		(ETH_HLEN + 4 + 2)
void vdrv_frame(uint8_t *f, const uint8_t *dst, const uint8_t *src,
		uint32_t seq, unsigned int len);
/*
 * Is @f (@n bytes) a whole test frame? Its seq in @seq; NULL if whole,
 * else what is wrong with it.
 */
const char *vdrv_frame_diff(const uint8_t *f, size_t n, uint32_t *seq);

/* Read an eventfd's count, waiting up to @timeout_ms: 0 if none came. */
uint64_t vdrv_eventfd_wait(int efd, int timeout_ms);

/*
 * Restart idle queue @index at avail and used index @base (so a test can
 * see the 16-bit indices wrap): detach, GET_VRING_BASE, set both indices
 * in the ring and the driver, SET_VRING_BASE, attach @backend. 0 or -errno
 * with @failed naming the step.
 */
int __vdrv_vq_rebase(struct vdrv *d, unsigned int index, uint16_t base,
		     int backend, const char **failed);

/* ---- raw ring access, for malformed rings ---------------------------------- */

/* Take a descriptor off the free list: its index, or -ENOSPC. */
int vdrv_desc_get(struct vdrv_vq *vq);
void vdrv_desc_put(struct vdrv_vq *vq, uint16_t i);
/* Publish @head in the avail ring, tracked by nothing. */
void vdrv_avail_push(struct vdrv_vq *vq, uint16_t head);
/* Store @idx as the avail index without changing the driver's own. */
void vdrv_avail_idx_set(struct vdrv_vq *vq, uint16_t idx);

/*
 * Reset queue @index as a VMM does after a malformed ring: detach the
 * backend, GET_VRING_BASE, fix the ring by dropping the @drop avail
 * entries at the base (raw entries; the driver's tracked chains after them
 * move down and stay in flight) and republishing the avail index,
 * SET_VRING_BASE, then attach @backend. The base is stored in @base.
 * 0 or -errno with @failed naming the step.
 */
int __vdrv_vq_reset(struct vdrv *d, unsigned int index, int backend,
		    unsigned int drop, uint16_t *base, const char **failed);

/* ---- asserting forms, inside harness tests only ------------------------- */
#ifdef __KSELFTEST_HARNESS_H

/* Open @path with @features; skip if the device does not exist. */
#define vdrv_open(d, path, features) do {				\
	const char *__failed = "?", *__p = (path);			\
	int __r = __vdrv_open(d, __p, features, &__failed);		\
	if (__r && !strcmp(__failed, "open"))				\
		kvnet_skip_if_no_dev(__p, __r);				\
	ASSERT_EQ(0, __r) TH_LOG("%s: %s failed: %s", __p, __failed,	\
				 kvnet_errname(-__r));			\
} while (0)

/* A backend tap (needs kvnet_enter_netns() first); its fd. */
#define vdrv_tap_create(hdr_len, name) ({				\
	int __fd = __vdrv_tap_create(hdr_len, name);			\
	if (__fd == -ENOENT || __fd == -ENODEV)				\
		KVNET_SKIP("no /dev/net/tun: %s (modprobe tun)",		\
			   strerror(-__fd));				\
	ASSERT_LE(0, __fd) TH_LOG("tap with a %zu-byte header: %s",	\
				  (size_t)(hdr_len), kvnet_errname(-__fd)); \
	__fd;								\
})

#define vdrv_vq_reset(d, index, backend, drop, base) do {		\
	const char *__failed = "?";					\
	int __r = __vdrv_vq_reset(d, index, backend, drop, base, &__failed); \
	ASSERT_EQ(0, __r) TH_LOG("reset of q%u: %s failed: %s",		\
				 (unsigned int)(index), __failed,	\
				 kvnet_errname(-__r));			\
} while (0)

#define vdrv_vq_rebase(d, index, base, backend) do {			\
	const char *__failed = "?";					\
	int __r = __vdrv_vq_rebase(d, index, base, backend, &__failed);	\
	ASSERT_EQ(0, __r) TH_LOG("rebase of q%u at %u: %s failed: %s",	\
				 (unsigned int)(index), (unsigned int)(base), \
				 __failed, kvnet_errname(-__r));	\
} while (0)

#endif /* __KSELFTEST_HARNESS_H */

#endif /* VIRTIO_DRV_H */
