/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kvnet: in-kernel virtio-net backend.
 *
 * /dev/kvnet speaks the vhost-net ioctl ABI of <linux/vhost.h>; this header
 * only adds kvnet's own extensions. They use their own ioctl magic so that
 * no future vhost ioctl can be mistaken for one of them.
 */
#ifndef _UAPI_LINUX_KVNET_H
#define _UAPI_LINUX_KVNET_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define KVNET_IOC_MAGIC 0xB8

/* Virtqueue indexes of one queue pair, as in vhost-net. */
#define KVNET_VQ_RX	0
#define KVNET_VQ_TX	1

/**
 * struct kvnet_vring_stats - counters of one virtqueue
 * @index: virtqueue index (in)
 * @flags: must be zero (in)
 * @kicks: wakeups from the kick eventfd
 * @handler_runs: times the worker ran the queue handler
 * @calls: signals sent to the call eventfd
 * @packets: packets moved through the queue
 * @bytes: payload bytes moved (virtio-net header excluded)
 * @zerocopy_packets: TX packets sent without copying
 * @errors: times the queue stopped on a malformed ring
 * @requeues: handler runs that ended on the work budget and requeued
 * @busy_polls: spins for guest buffers (VHOST_SET_VRING_BUSYLOOP_TIMEOUT)
 * @busy_poll_hits: spins that ended with buffers, which needed no kick
 * @reserved: zero; room for new counters
 *
 * Counters only grow, from the device's open or its last
 * VHOST_RESET_OWNER; they are read without stopping the queue.
 */
struct kvnet_vring_stats {
	__u32 index;
	__u32 flags;
	__u64 kicks;
	__u64 handler_runs;
	__u64 calls;
	__u64 packets;
	__u64 bytes;
	__u64 zerocopy_packets;
	__u64 errors;
	__u64 requeues;
	__u64 busy_polls;
	__u64 busy_poll_hits;
	__u64 reserved[5];
};

/* Read the counters of the virtqueue named by @index. Owner only. */
#define KVNET_GET_VRING_STATS _IOWR(KVNET_IOC_MAGIC, 0x00, \
				    struct kvnet_vring_stats)

#endif /* _UAPI_LINUX_KVNET_H */
