// SPDX-License-Identifier: GPL-2.0
/*
 * kvnet: an in-kernel virtio-net backend with the vhost-net ABI.
 *
 * Each open of /dev/kvnet is one virtio-net device with an RX and a TX
 * queue, served by the device's worker and connected to a tap or macvtap
 * socket.
 */
#include <linux/file.h>
#include <linux/if_tap.h>
#include <linux/if_tun.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/nospec.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include "kvnet.h"

enum {
	KVNET_NET_VQ_RX = KVNET_VQ_RX,
	KVNET_NET_VQ_TX = KVNET_VQ_TX,
	KVNET_NET_VQ_MAX,
};

/*
 * What the ring engine implements; offloads join as the data path does.
 * VIRTIO_F_ANY_LAYOUT is bit 27, which vhost reuses as
 * VHOST_NET_F_VIRTIO_NET_HDR: acked, it means kvnet adds and strips the
 * virtio-net header. Layout is free either way: chains are read as bytes.
 */
#define KVNET_NET_FEATURES (BIT_ULL(VIRTIO_F_VERSION_1) |		\
			    BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC) |	\
			    BIT_ULL(VIRTIO_RING_F_EVENT_IDX) |		\
			    BIT_ULL(VIRTIO_NET_F_MRG_RXBUF) |		\
			    BIT_ULL(VHOST_NET_F_VIRTIO_NET_HDR) |	\
			    KVNET_NET_OFFLOADS)

/*
 * Offloads travel in the virtio-net header between the guest and a tap
 * with IFF_VNET_HDR, whose offloads the VMM sets (TUNSETOFFLOAD) as QEMU
 * does for vhost-net. They need the header to reach the backend, so they
 * cannot be combined with VHOST_NET_F_VIRTIO_NET_HDR.
 */
#define KVNET_NET_OFFLOADS (BIT_ULL(VIRTIO_NET_F_CSUM) |		\
			    BIT_ULL(VIRTIO_NET_F_GUEST_CSUM) |		\
			    BIT_ULL(VIRTIO_NET_F_GUEST_TSO4) |		\
			    BIT_ULL(VIRTIO_NET_F_GUEST_TSO6) |		\
			    BIT_ULL(VIRTIO_NET_F_GUEST_ECN) |		\
			    BIT_ULL(VIRTIO_NET_F_HOST_TSO4) |		\
			    BIT_ULL(VIRTIO_NET_F_HOST_TSO6) |		\
			    BIT_ULL(VIRTIO_NET_F_HOST_ECN))

/* Features that change how buffers already in a ring are read. */
#define KVNET_NET_FORMAT_FEATURES (BIT_ULL(VIRTIO_F_VERSION_1) |	\
				   BIT_ULL(VIRTIO_RING_F_EVENT_IDX) |	\
				   BIT_ULL(VIRTIO_NET_F_MRG_RXBUF) |	\
				   BIT_ULL(VHOST_NET_F_VIRTIO_NET_HDR))

/* No IOTLB, so no backend features. */
#define KVNET_NET_BACKEND_FEATURES 0ULL

static unsigned int weight_packets = 256;
module_param(weight_packets, uint, 0644);
MODULE_PARM_DESC(weight_packets,
		 "Packets a queue may move per wakeup before yielding (default 256)");

static unsigned int weight_bytes = 0x80000;
module_param(weight_bytes, uint, 0644);
MODULE_PARM_DESC(weight_bytes,
		 "Bytes a queue may move per wakeup before yielding (default 512 KiB)");

/* Used entries gathered before they are published to the guest. */
#define KVNET_NET_USED_BATCH 64

/**
 * struct kvnet_net_vq - a virtio-net queue
 * @vq: the ring engine's queue
 * @sock_poll: wakes the queue when the backend socket becomes readable
 *	(RX) or writable again (TX)
 * @iov: buffers of the chains being processed
 * @heads: used entries not yet published
 * @nheads: how many
 * @rx_batch: packets taken from the backend (RX only)
 * @zc: packets sent without copying (TX only)
 * @irq_defer: the deferred completion interrupt (TX only)
 *
 * Everything is protected by the vq mutex.
 */
struct kvnet_net_vq {
	struct kvnet_vq vq;
	struct kvnet_poll sock_poll;
	struct iovec iov[KVNET_IOV_MAX];
	/* An RX packet's chains may join a batch that is almost full. */
	struct vring_used_elem heads[KVNET_IOV_MAX + KVNET_NET_USED_BATCH];
	unsigned int nheads;
	struct kvnet_rx_batch rx_batch;
	struct kvnet_zc zc;
	struct kvnet_irq_defer irq_defer;
};

struct kvnet_net {
	struct kvnet_dev dev;
	struct kvnet_net_vq vqs[KVNET_NET_VQ_MAX];
	struct kvnet_vq *vq_ptrs[KVNET_NET_VQ_MAX];
};

static struct kvnet_net_vq *kvnet_net_vq(struct kvnet_vq *vq)
{
	return container_of(vq, struct kvnet_net_vq, vq);
}

/* The virtio-net header the guest puts before every packet. */
static size_t kvnet_net_hdr_len(const struct kvnet_vq *vq)
{
	if (vq->features & (BIT_ULL(VIRTIO_NET_F_MRG_RXBUF) |
			    BIT_ULL(VIRTIO_F_VERSION_1)))
		return sizeof(struct virtio_net_hdr_mrg_rxbuf);
	return sizeof(struct virtio_net_hdr);
}

/*
 * With VHOST_NET_F_VIRTIO_NET_HDR we add and strip the header ourselves;
 * otherwise the backend (a tap with IFF_VNET_HDR) handles it.
 */
static size_t kvnet_net_own_hdr_len(const struct kvnet_vq *vq)
{
	if (vq->features & BIT_ULL(VHOST_NET_F_VIRTIO_NET_HDR))
		return kvnet_net_hdr_len(vq);
	return 0;
}

static struct kvnet_net *kvnet_net_of(struct kvnet_net_vq *nvq)
{
	return container_of(nvq->vq.dev, struct kvnet_net, dev);
}

/* The TX queue of @nvq's device. */
static struct kvnet_net_vq *kvnet_net_tx_of(struct kvnet_net_vq *nvq)
{
	return &kvnet_net_of(nvq)->vqs[KVNET_NET_VQ_TX];
}

static void kvnet_net_flush_used(struct kvnet_net_vq *nvq)
{
	struct kvnet_vq *vq = &nvq->vq;

	if (!nvq->nheads)
		return;
	if (!kvnet_vq_add_used(vq, nvq->heads, nvq->nheads)) {
		if (vq->index == KVNET_NET_VQ_TX)
			kvnet_irq_defer_notify(&nvq->irq_defer);
		else
			kvnet_vq_notify(vq);
	}
	nvq->nheads = 0;
}

/* Queue a TX chain's used entry; a full batch goes to the guest. */
static void kvnet_net_tx_used(struct kvnet_net_vq *nvq, u16 head)
{
	kvnet_vq_used_elem(&nvq->vq, &nvq->heads[nvq->nheads++], head, 0);
	if (nvq->nheads == KVNET_NET_USED_BATCH)
		kvnet_net_flush_used(nvq);
}

/* Out of budget: let other work run and come back. */
static bool kvnet_net_exceeds_weight(struct kvnet_vq *vq,
				     unsigned int packets, size_t bytes)
{
	if (packets < weight_packets && bytes < weight_bytes)
		return false;
	vq->stats.requeues++;
	kvnet_work_queue(vq->dev, &vq->poll.work);
	return true;
}

/*
 * Put the packets the host released onto the used ring; with !@publish
 * (not in the owner's context, or a broken ring) just forget them.
 */
static void kvnet_net_tx_reap(struct kvnet_net_vq *nvq, bool publish)
{
	u16 heads[KVNET_NET_USED_BATCH];
	unsigned int n, i;

	while ((n = kvnet_zc_reap(&nvq->zc, heads, ARRAY_SIZE(heads)))) {
		for (i = 0; publish && i < n; i++)
			kvnet_net_tx_used(nvq, heads[i]);
	}
	kvnet_net_flush_used(nvq);
}

/*
 * Before the queue stops or loses its backend: wait until the host is done
 * with every packet sent without copying, so that none reaches the ring
 * after the VMM took it back.
 */
static void kvnet_net_tx_quiesce(struct kvnet_net_vq *nvq, bool publish)
{
	kvnet_zc_wait_idle(&nvq->zc);
	kvnet_net_tx_reap(nvq, publish && !nvq->vq.broken);
	if (publish)
		kvnet_irq_defer_flush(&nvq->irq_defer);
	else
		kvnet_irq_defer_cancel(&nvq->irq_defer);
}

static void kvnet_net_quiesce_vq(struct kvnet_vq *vq)
{
	kvnet_net_tx_quiesce(kvnet_net_vq(vq), true);
}

static void kvnet_net_handle_tx(struct kvnet_net_vq *nvq, struct socket *sock)
{
	struct kvnet_vq *vq = &nvq->vq;
	size_t own_hlen = kvnet_net_own_hdr_len(vq);
	size_t hdr_len = kvnet_net_hdr_len(vq);
	struct kvnet_chain c = { .iov = nvq->iov, .iov_max = KVNET_IOV_MAX };
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT };
	struct tun_msg_ctl ctl = { .type = TUN_MSG_UBUF };
	unsigned int packets = 0;
	struct ubuf_info *ubuf;
	size_t bytes = 0;
	bool zerocopy;
	int ret;

	kvnet_poll_stop(&nvq->sock_poll);
	kvnet_net_tx_reap(nvq, true);
	kvnet_vq_disable_notify(vq);

	for (;;) {
		ret = kvnet_vq_get_chain(vq, &c);
		if (ret < 0)
			break;
		if (!ret) {
			if (vq->busyloop_timeout) {
				/* The guest gets what we did before we spin. */
				kvnet_net_flush_used(nvq);
				if (kvnet_busy_poll(vq, vq->busyloop_timeout))
					continue;
			}
			if (unlikely(kvnet_vq_enable_notify(vq))) {
				kvnet_vq_disable_notify(vq);
				continue;
			}
			break;
		}
		/* A bad chain stays on the ring: the base points at it. */
		if (unlikely(c.in)) {
			kvnet_vq_unget_chains(vq, 1);
			kvnet_vq_fail(vq, "writable descriptor on the TX queue");
			break;
		}
		if (unlikely(c.out_len < hdr_len)) {
			kvnet_vq_unget_chains(vq, 1);
			kvnet_vq_fail(vq, "TX buffer shorter than the virtio-net header");
			break;
		}

		iov_iter_init(&msg.msg_iter, ITER_SOURCE, c.iov, c.out,
			      c.out_len);
		iov_iter_advance(&msg.msg_iter, own_hlen);
		/* Slots the host released are reused within this run. */
		if (kvnet_zc_full(&nvq->zc))
			kvnet_net_tx_reap(nvq, true);
		ubuf = kvnet_zc_get(&nvq->zc, c.head, c.out_len - hdr_len);
		ctl.ptr = ubuf;
		msg.msg_control = ubuf ? &ctl : NULL;
		msg.msg_controllen = ubuf ? sizeof(ctl) : 0;
		ret = sock->ops->sendmsg(sock, &msg, c.out_len - own_hlen);
		/* Taken without copying: its used entry comes on release. */
		zerocopy = ubuf && kvnet_zc_taken(&nvq->zc, ubuf, ret);
		if (!zerocopy && unlikely(ret == -EAGAIN || ret == -ENOMEM ||
					  ret == -ENOBUFS)) {
			/* Backend full: retry this chain when it drains. */
			kvnet_vq_unget_chains(vq, 1);
			kvnet_poll_start(&nvq->sock_poll, sock->file);
			break;
		}
		/* Sent, or refused and dropped as a NIC would. */
		if (!zerocopy)
			kvnet_net_tx_used(nvq, c.head);
		packets++;
		bytes += c.out_len - hdr_len;
		if (kvnet_net_exceeds_weight(vq, packets, bytes))
			break;
	}
	kvnet_net_flush_used(nvq);
	vq->stats.packets += packets;
	vq->stats.bytes += bytes;
}

/*
 * Collect RX chains until they hold @need bytes, or @max_chains of them.
 * Their buffers go to nvq->iov (@niov entries holding @room bytes, which
 * may be less than @need), their used entries (lengths trimmed to what is
 * needed) to nvq->heads after the batch gathered so far.
 *
 * Return: the number of chains, 0 if the guest has too few buffers (none
 * is kept), or a negative errno with the queue failed.
 */
static int kvnet_net_get_rx_bufs(struct kvnet_net_vq *nvq, size_t need,
				 unsigned int max_chains, unsigned int *niov,
				 size_t *room)
{
	struct kvnet_vq *vq = &nvq->vq;
	struct kvnet_chain c;
	unsigned int chains = 0, iovs = 0;
	size_t got = 0;
	int ret;

	while (got < need && chains < max_chains) {
		c.iov = nvq->iov + iovs;
		c.iov_max = KVNET_IOV_MAX - iovs;
		ret = kvnet_vq_get_chain(vq, &c);
		if (ret < 0)
			return ret;
		if (!ret) {
			kvnet_vq_unget_chains(vq, chains);
			return 0;
		}
		if (unlikely(c.out)) {
			/* The bad chain and those before it stay on the ring. */
			kvnet_vq_unget_chains(vq, chains + 1);
			kvnet_vq_fail(vq, "readable descriptor on the RX queue");
			return -EINVAL;
		}
		kvnet_vq_used_elem(vq, &nvq->heads[nvq->nheads + chains],
				   c.head, min(c.in_len, need - got));
		got += c.in_len;
		iovs += c.in;
		chains++;
	}
	*niov = iovs;
	*room = got;
	return chains;
}

/* Drop the next packet (@ptr if batched): it can never fit. */
static void kvnet_net_discard_rx(struct socket *sock, void *ptr)
{
	struct msghdr msg = {
		.msg_flags = MSG_DONTWAIT | MSG_TRUNC,
		.msg_control = ptr,
	};
	struct kvec kv;
	u8 byte;

	kv.iov_base = &byte;
	kv.iov_len = sizeof(byte);
	iov_iter_kvec(&msg.msg_iter, ITER_DEST, &kv, 1, sizeof(byte));
	sock->ops->recvmsg(sock, &msg, sizeof(byte), MSG_DONTWAIT | MSG_TRUNC);
}

/* Write the header fields the backend did not: ours, and num_buffers. */
static int kvnet_net_fill_rx_hdr(struct kvnet_vq *vq, struct iov_iter *hdr,
				 size_t own_hlen, u16 chains)
{
	struct virtio_net_hdr gso = { .gso_type = VIRTIO_NET_HDR_GSO_NONE };
	__virtio16 num_buffers;

	if (own_hlen) {
		if (copy_to_iter(&gso, sizeof(gso), hdr) != sizeof(gso))
			return -EFAULT;
	} else {
		iov_iter_advance(hdr, sizeof(gso));
	}
	if (kvnet_net_hdr_len(vq) == sizeof(gso))
		return 0;

	/* Version 1 devices always set it; 1 without MRG_RXBUF. */
	num_buffers = __cpu_to_virtio16(kvnet_vq_is_le(vq), chains);
	if (copy_to_iter(&num_buffers, sizeof(num_buffers), hdr) !=
	    sizeof(num_buffers))
		return -EFAULT;
	return 0;
}

/*
 * The RX queue ran dry, likely with the guest about to answer what it just
 * received: mute the TX queue's kicks, so that the answer needs none, and
 * return it locked for kvnet_net_rx_busy_poll(); or NULL.
 */
static struct kvnet_vq *kvnet_net_rx_mute_tx(struct kvnet_net_vq *rx)
{
	struct kvnet_vq *tx = &kvnet_net_tx_of(rx)->vq;

	/* The TX handler may hold it and want ours later: never wait. */
	if (!mutex_trylock(&tx->mutex))
		return NULL;
	if (!kvnet_vq_running(tx) || tx->broken) {
		mutex_unlock(&tx->mutex);
		return NULL;
	}
	kvnet_vq_disable_notify(tx);
	return tx;
}

/* Spin on the muted TX ring for the answer; a backend packet ends it. */
static void kvnet_net_rx_busy_poll(struct kvnet_net_vq *rx,
				   struct kvnet_vq *tx)
{
	/* Still muted with buffers queued: the TX handler unmutes. */
	if (kvnet_busy_poll(tx, rx->vq.busyloop_timeout) ||
	    kvnet_vq_enable_notify(tx))
		kvnet_work_queue(tx->dev, &tx->poll.work);
	mutex_unlock(&tx->mutex);
}

static void kvnet_net_handle_rx(struct kvnet_net_vq *nvq, struct socket *sock)
{
	struct kvnet_vq *vq = &nvq->vq;
	size_t own_hlen = kvnet_net_own_hdr_len(vq);
	size_t hdr_len = kvnet_net_hdr_len(vq);
	bool mergeable = vq->features & BIT_ULL(VIRTIO_NET_F_MRG_RXBUF);
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT };
	unsigned int max_chains = mergeable ? min_t(unsigned int, vq->num,
						    KVNET_IOV_MAX) : 1;
	unsigned int packets = 0, moved = 0, niov;
	struct kvnet_vq *tx = NULL;
	struct iov_iter hdr;
	size_t bytes = 0, want, room;
	int len, chains, ret;

	kvnet_poll_stop(&nvq->sock_poll);
	kvnet_vq_disable_notify(vq);

	for (;;) {
		len = kvnet_rx_batch_peek_len(&nvq->rx_batch, sock);
		if (len <= 0) {
			/* Nothing to receive: wait for the backend. */
			kvnet_poll_start(&nvq->sock_poll, sock->file);
			if (vq->busyloop_timeout)
				tx = kvnet_net_rx_mute_tx(nvq);
			break;
		}

		chains = kvnet_net_get_rx_bufs(nvq, len + hdr_len, max_chains,
					       &niov, &room);
		if (chains < 0)
			break;
		if (!chains) {
			/* The packet waits in the backend for the next kick. */
			if (unlikely(kvnet_vq_enable_notify(vq))) {
				kvnet_vq_disable_notify(vq);
				continue;
			}
			break;
		}

		want = len + hdr_len - own_hlen;
		/* Only as far as the buffers go: the iovecs end there. */
		iov_iter_init(&msg.msg_iter, ITER_DEST, nvq->iov, niov,
			      min(room, len + hdr_len));
		hdr = msg.msg_iter;
		iov_iter_advance(&msg.msg_iter, own_hlen);
		msg.msg_control = kvnet_rx_batch_take(&nvq->rx_batch);
		if (iov_iter_count(&msg.msg_iter) < want) {
			/* The guest's buffers are too small for this packet. */
			kvnet_vq_unget_chains(vq, chains);
			kvnet_net_discard_rx(sock, msg.msg_control);
			/* Drops count against the budget: a flood is work. */
			if (kvnet_net_exceeds_weight(vq, ++packets, bytes))
				break;
			continue;
		}
		ret = sock->ops->recvmsg(sock, &msg, want,
					 MSG_DONTWAIT | MSG_TRUNC);
		if (unlikely(ret < 0 || ret != want)) {
			/* Raced with another reader, or a short packet. */
			kvnet_vq_unget_chains(vq, chains);
			if (kvnet_net_exceeds_weight(vq, ++packets, bytes))
				break;
			continue;
		}
		if (kvnet_net_fill_rx_hdr(vq, &hdr, own_hlen, chains)) {
			kvnet_vq_fail(vq, "RX buffer unwritable");
			break;
		}

		/* Published in batches, as TX: fewer interrupts. */
		nvq->nheads += chains;
		if (nvq->nheads >= KVNET_NET_USED_BATCH)
			kvnet_net_flush_used(nvq);
		moved++;
		bytes += len;
		if (kvnet_net_exceeds_weight(vq, ++packets, bytes))
			break;
	}
	/* With TX muted first: the guest may answer these at once. */
	kvnet_net_flush_used(nvq);
	if (moved)
		kvnet_irq_defer_rx_active(&kvnet_net_tx_of(nvq)->irq_defer);
	vq->stats.packets += moved;
	vq->stats.bytes += bytes;
	if (tx)
		kvnet_net_rx_busy_poll(nvq, tx);
}

/* The one entry for kicks and socket wakeups of a queue. */
static void kvnet_net_handle_vq(struct kvnet_net_vq *nvq)
{
	struct kvnet_vq *vq = &nvq->vq;
	struct socket *sock;

	mutex_lock(&vq->mutex);
	vq->stats.handler_runs++;
	sock = vq->private;
	if (!sock || vq->stopped || vq->broken)
		goto out;

	if (vq->index == KVNET_NET_VQ_TX)
		kvnet_net_handle_tx(nvq, sock);
	else
		kvnet_net_handle_rx(nvq, sock);
out:
	mutex_unlock(&vq->mutex);
}

static void kvnet_net_handle_kick(struct kvnet_work *work)
{
	struct kvnet_vq *vq = container_of(work, struct kvnet_vq, poll.work);

	kvnet_net_handle_vq(kvnet_net_vq(vq));
}

static void kvnet_net_handle_sock(struct kvnet_work *work)
{
	struct kvnet_net_vq *nvq = container_of(work, struct kvnet_net_vq,
						 sock_poll.work);

	kvnet_net_handle_vq(nvq);
}

static int kvnet_net_open(struct inode *inode, struct file *f)
{
	struct kvnet_net *n;
	unsigned int i;

	n = kvzalloc(sizeof(*n), GFP_KERNEL_ACCOUNT);
	if (!n)
		return -ENOMEM;

	for (i = 0; i < KVNET_NET_VQ_MAX; i++) {
		struct kvnet_net_vq *nvq = &n->vqs[i];

		n->vq_ptrs[i] = &nvq->vq;
		kvnet_vq_init(&nvq->vq, &n->dev, i, kvnet_net_handle_kick);
		kvnet_poll_init(&nvq->sock_poll, kvnet_net_handle_sock,
				i == KVNET_NET_VQ_TX ? EPOLLOUT : EPOLLIN,
				&n->dev);
		kvnet_zc_init(&nvq->zc, &nvq->vq);
		kvnet_irq_defer_init(&nvq->irq_defer, &nvq->vq);
		if (i == KVNET_NET_VQ_TX)
			nvq->vq.quiesce = kvnet_net_quiesce_vq;
	}
	kvnet_dev_init(&n->dev, n->vq_ptrs, KVNET_NET_VQ_MAX);
	kvnet_debugfs_add_dev(&n->dev);
	kvnet_debugfs_add_vq(&n->dev, &n->vqs[KVNET_NET_VQ_RX].vq, "rx");
	kvnet_debugfs_add_vq(&n->dev, &n->vqs[KVNET_NET_VQ_TX].vq, "tx");
	f->private_data = n;
	return 0;
}

/* Release a backend socket taken by kvnet_net_get_socket(). */
static void kvnet_net_put_socket(struct socket *sock)
{
	if (sock)
		fput(sock->file);
}

/* Detach every backend; returns them in @socks for the caller to put. */
static void kvnet_net_detach_all(struct kvnet_net *n,
				 struct socket *socks[KVNET_NET_VQ_MAX])
{
	unsigned int i;

	for (i = 0; i < KVNET_NET_VQ_MAX; i++) {
		struct kvnet_net_vq *nvq = &n->vqs[i];

		mutex_lock(&nvq->vq.mutex);
		kvnet_poll_stop(&nvq->sock_poll);
		kvnet_rx_batch_detach(&nvq->rx_batch);
		/* Maybe not the owner's context: nothing goes to the ring. */
		kvnet_net_tx_quiesce(nvq, false);
		socks[i] = nvq->vq.private;
		nvq->vq.private = NULL;
		nvq->nheads = 0;
		mutex_unlock(&nvq->vq.mutex);
	}
}

/* Stop all processing and return the device to its just-opened state. */
static void kvnet_net_reset(struct kvnet_net *n)
{
	struct socket *socks[KVNET_NET_VQ_MAX];
	unsigned int i;

	kvnet_net_detach_all(n, socks);
	kvnet_dev_stop_polls(&n->dev);
	kvnet_dev_flush(&n->dev);
	kvnet_dev_cleanup(&n->dev);
	for (i = 0; i < KVNET_NET_VQ_MAX; i++)
		kvnet_net_put_socket(socks[i]);
}

static int kvnet_net_release(struct inode *inode, struct file *f)
{
	struct kvnet_net *n = f->private_data;

	kvnet_debugfs_remove_dev(&n->dev);
	kvnet_busy_poll_wait_begin(&n->dev);
	kvnet_net_reset(n);
	kvnet_busy_poll_wait_end(&n->dev);
	kvfree(n);
	return 0;
}

/*
 * The backend: a tap (tun in IFF_TAP mode) or a macvtap queue. The
 * reference on its file keeps the socket alive.
 */
static struct socket *kvnet_net_get_socket(int fd)
{
	struct socket *sock;
	struct file *file;

	file = fget(fd);
	if (!file)
		return ERR_PTR(-EBADF);
	sock = tun_get_socket(file);
	if (!IS_ERR(sock))
		return sock;
	sock = tap_get_socket(file);
	if (!IS_ERR(sock))
		return sock;
	fput(file);
	return ERR_PTR(-ENOTSOCK);
}

static long kvnet_net_set_backend(struct kvnet_net *n, void __user *argp)
{
	struct socket *sock = NULL, *old;
	struct kvnet_net_vq *nvq;
	struct vhost_vring_file f;
	struct kvnet_vq *vq;
	long ret;

	if (copy_from_user(&f, argp, sizeof(f)))
		return -EFAULT;
	if (f.index >= KVNET_NET_VQ_MAX)
		return -ENOBUFS;
	nvq = &n->vqs[array_index_nospec(f.index, KVNET_NET_VQ_MAX)];
	vq = &nvq->vq;

	if (f.fd != VHOST_FILE_UNBIND) {
		sock = kvnet_net_get_socket(f.fd);
		if (IS_ERR(sock))
			return PTR_ERR(sock);
	}

	mutex_lock(&vq->mutex);
	if (sock) {
		if (!kvnet_vq_ring_ok(vq)) {
			ret = -EINVAL;
			goto err_unlock;
		}
		ret = kvnet_vq_start_access(vq);
		if (ret)
			goto err_unlock;
	}
	kvnet_poll_stop(&nvq->sock_poll);
	kvnet_rx_batch_detach(&nvq->rx_batch);
	if (vq->private && sock != vq->private)
		kvnet_net_tx_quiesce(nvq, true);
	old = vq->private;
	vq->private = sock;
	nvq->nheads = 0;
	if (f.index == KVNET_NET_VQ_RX)
		kvnet_rx_batch_attach(&nvq->rx_batch, sock);
	if (sock)
		kvnet_vq_restart(vq);
	mutex_unlock(&vq->mutex);

	if (old) {
		/* The worker may still be inside the old socket. */
		kvnet_dev_flush(&n->dev);
		kvnet_net_put_socket(old);
	}
	return 0;

err_unlock:
	mutex_unlock(&vq->mutex);
	kvnet_net_put_socket(sock);
	return ret;
}

static long kvnet_net_reset_owner(struct kvnet_net *n)
{
	kvnet_net_reset(n);
	return 0;
}

static long kvnet_net_set_features(struct kvnet_net *n, u64 __user *argp)
{
	u64 features;

	if (copy_from_user(&features, argp, sizeof(features)))
		return -EFAULT;
	if (features & ~KVNET_NET_FEATURES)
		return -EOPNOTSUPP;
	if ((features & BIT_ULL(VHOST_NET_F_VIRTIO_NET_HDR)) &&
	    (features & KVNET_NET_OFFLOADS))
		return -EINVAL;
	return kvnet_dev_set_features(&n->dev, features,
				      KVNET_NET_FORMAT_FEATURES);
}

static long kvnet_net_set_backend_features(u64 __user *argp)
{
	u64 features;

	if (copy_from_user(&features, argp, sizeof(features)))
		return -EFAULT;
	if (features & ~KVNET_NET_BACKEND_FEATURES)
		return -EOPNOTSUPP;
	return 0;
}

static long kvnet_net_ioctl_locked(struct kvnet_net *n, unsigned int ioctl,
				   void __user *argp)
{
	u64 features;
	long ret;

	switch (ioctl) {
	case VHOST_GET_FEATURES:
		features = KVNET_NET_FEATURES;
		return copy_to_user(argp, &features, sizeof(features)) ?
			-EFAULT : 0;
	case VHOST_SET_FEATURES:
		return kvnet_net_set_features(n, argp);
	case VHOST_GET_BACKEND_FEATURES:
		features = KVNET_NET_BACKEND_FEATURES;
		return copy_to_user(argp, &features, sizeof(features)) ?
			-EFAULT : 0;
	case VHOST_SET_BACKEND_FEATURES:
		return kvnet_net_set_backend_features(argp);
	case VHOST_RESET_OWNER:
		return kvnet_net_reset_owner(n);
	case VHOST_NET_SET_BACKEND:
		return kvnet_net_set_backend(n, argp);
	case KVNET_GET_VRING_STATS:
		return kvnet_vq_get_stats(&n->dev, argp);
	}

	ret = kvnet_dev_ioctl(&n->dev, ioctl, argp);
	return ret == -ENOIOCTLCMD ? -ENOTTY : ret;
}

static long kvnet_net_ioctl(struct file *f, unsigned int ioctl,
			    unsigned long arg)
{
	struct kvnet_net *n = f->private_data;
	long ret;

	kvnet_busy_poll_wait_begin(&n->dev);
	mutex_lock(&n->dev.mutex);
	ret = kvnet_dev_check_owner(&n->dev, ioctl);
	if (!ret)
		ret = kvnet_net_ioctl_locked(n, ioctl, (void __user *)arg);
	mutex_unlock(&n->dev.mutex);
	kvnet_busy_poll_wait_end(&n->dev);
	return ret;
}

static const struct file_operations kvnet_net_fops = {
	.owner		= THIS_MODULE,
	.open		= kvnet_net_open,
	.release	= kvnet_net_release,
	.unlocked_ioctl	= kvnet_net_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice kvnet_net_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "kvnet",
	.fops	= &kvnet_net_fops,
};

static int __init kvnet_net_init(void)
{
	int ret;

	kvnet_debugfs_init();
	ret = misc_register(&kvnet_net_misc);
	if (ret)
		kvnet_debugfs_exit();
	return ret;
}
module_init(kvnet_net_init);

static void __exit kvnet_net_exit(void)
{
	misc_deregister(&kvnet_net_misc);
	kvnet_debugfs_exit();
}
module_exit(kvnet_net_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kvnet: in-kernel virtio-net backend with the vhost-net ABI");
