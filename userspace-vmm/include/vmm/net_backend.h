/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inside the virtio-net device: the state net.c shares with the tap code
 * and with the three backends that serve the rings (user: the VMM itself;
 * vhost and kvnet: a kernel device with the vhost-net ABI).
 */
#ifndef VMM__NET_BACKEND_H
#define VMM__NET_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "vmm/net.h"
#include "vmm/virtio_pci.h"

/* One queue pair, numbered as in vhost-net and kvnet. */
enum net_queue {
	NET_VQ_RX,
	NET_VQ_TX,
	NET_VQ_MAX,
};

#define NET_QUEUE_SIZE		256
/* virtio 1.x: the header always has num_buffers. */
#define NET_HDR_LEN		sizeof(struct virtio_net_hdr_mrg_rxbuf)

#define BIT_ULL(nr)		(1ULL << (nr))

/* The layout of the ring and its buffers: a backend must know these. */
#define NET_RING_FEATURES	(BIT_ULL(VIRTIO_F_VERSION_1) | \
				 BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC) | \
				 BIT_ULL(VIRTIO_RING_F_EVENT_IDX) | \
				 BIT_ULL(VIRTIO_NET_F_MRG_RXBUF))
/* Offloads: they travel in the header, between the guest and the tap. */
#define NET_HOST_OFFLOADS	(BIT_ULL(VIRTIO_NET_F_CSUM) | \
				 BIT_ULL(VIRTIO_NET_F_HOST_TSO4) | \
				 BIT_ULL(VIRTIO_NET_F_HOST_TSO6) | \
				 BIT_ULL(VIRTIO_NET_F_HOST_ECN))
#define NET_GUEST_OFFLOADS	(BIT_ULL(VIRTIO_NET_F_GUEST_CSUM) | \
				 BIT_ULL(VIRTIO_NET_F_GUEST_TSO4) | \
				 BIT_ULL(VIRTIO_NET_F_GUEST_TSO6) | \
				 BIT_ULL(VIRTIO_NET_F_GUEST_ECN))
#define NET_OFFLOADS		(NET_HOST_OFFLOADS | NET_GUEST_OFFLOADS)
/* The device model's own: its configuration space. */
#define NET_CONFIG_FEATURES	(BIT_ULL(VIRTIO_NET_F_MAC) | \
				 BIT_ULL(VIRTIO_NET_F_STATUS))

/* Counters of one queue; a backend fills those it has. */
struct net_queue_stats {
	uint64_t packets;
	uint64_t bytes;		/* without the virtio-net header */
	uint64_t kicks;
	uint64_t calls;
	uint64_t dropped;	/* packets the device could not deliver */
	uint64_t errors;	/* kvnet: times the queue stopped on a bad ring */
};

struct net_dev;

/*
 * A backend. open/close once per VMM run; start at every DRIVER_OK and
 * stop at every reset after a successful start (both with the device
 * lock held, from a vCPU thread).
 */
struct net_backend_ops {
	const char *name;
	/* Open it: the features it can carry in *features. 0 or -errno. */
	int (*open)(struct net_dev *nd, uint64_t *features);
	/* Serve the enabled rings with the negotiated features. */
	int (*start)(struct net_dev *nd);
	/* Stop touching the rings; the next start begins afresh. */
	void (*stop)(struct net_dev *nd);
	void (*close)(struct net_dev *nd);
	/* false: the backend exposes no counters. */
	bool (*stats)(struct net_dev *nd, struct net_queue_stats *st);
};

extern const struct net_backend_ops net_user_ops;
extern const struct net_backend_ops net_vhost_ops;
extern const struct net_backend_ops net_kvnet_ops;

struct net_dev {
	struct virtio_pci vp;
	struct vm *vm;
	struct net_opts opts;
	char tap_desc[80];		/* the tap, for messages */
	int tap_fd;
	bool tap_offloads;		/* TUNSETOFFLOAD works: GUEST_* possible */
	const struct net_backend_ops *ops;
	void *backend;			/* the backend's own state */
	struct virtio_net_config config;
};

/* The device's name in messages. */
#define NET_NAME		"virtio-net"

static inline const char *net__queue_name(unsigned int q)
{
	return q == NET_VQ_RX ? "rx" : "tx";
}

/* net_tap.c: open the tap of nd->opts, set up for the virtio-net header. */
int net_tap__open(struct net_dev *nd);
/* The tap's offloads toward the guest, from the negotiated GUEST_* bits. */
int net_tap__set_offload(struct net_dev *nd, uint64_t features);
void net_tap__close(struct net_dev *nd);

#endif /* VMM__NET_BACKEND_H */
