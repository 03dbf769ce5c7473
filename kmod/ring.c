// SPDX-License-Identifier: GPL-2.0
/*
 * Split virtqueue access in guest memory. Everything read from a ring is
 * untrusted: this file is where it is checked, and a ring that breaks a
 * rule stops its own queue (kvnet_vq_fail()), never the host.
 */
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/virtio_byteorder.h>
#include <linux/virtio_config.h>

#include "compat.h"
#include "kvnet.h"

static u16 kvnet16_to_cpu(const struct kvnet_vq *vq, __virtio16 val)
{
	return __virtio16_to_cpu(kvnet_vq_is_le(vq), val);
}

static __virtio16 cpu_to_kvnet16(const struct kvnet_vq *vq, u16 val)
{
	return __cpu_to_virtio16(kvnet_vq_is_le(vq), val);
}

/**
 * kvnet_vq_fail() - stop a queue whose guest broke the ring
 * @vq: the queue
 * @reason: what was wrong, for the log
 *
 * The queue processes nothing until the VMM resets it; the error eventfd
 * tells the VMM. Other queues and devices are not affected.
 *
 * Context: vq mutex held.
 */
void kvnet_vq_fail(struct kvnet_vq *vq, const char *reason)
{
	lockdep_assert_held(&vq->mutex);

	vq->broken = true;
	vq->stats.errors++;
	if (vq->err_ctx)
		kvnet_eventfd_signal(vq->err_ctx);
	pr_warn_ratelimited("kvnet: device %u queue %u stopped: %s\n",
			    vq->dev->id, vq->index, reason);
}

/*
 * Called when a backend is attached: take the used index from the ring,
 * where a previous backend or the VMM left it.
 */
int kvnet_vq_start_access(struct kvnet_vq *vq)
{
	__virtio16 idx;

	vq->used_flags = 0;
	vq->signalled_used_valid = false;
	if (put_user(cpu_to_kvnet16(vq, 0), &vq->used->flags) ||
	    get_user(idx, &vq->used->idx))
		return -EFAULT;
	vq->last_used_idx = kvnet16_to_cpu(vq, idx);
	return 0;
}

/* New entries in the avail ring: a count, or -errno with the queue failed. */
static int kvnet_vq_avail_pending(struct kvnet_vq *vq)
{
	__virtio16 idx;
	u16 avail;

	/* Failed already, maybe in a busy poll: take nothing more. */
	if (unlikely(vq->broken))
		return -EIO;
	if (vq->avail_idx == vq->last_avail_idx) {
		if (get_user(idx, &vq->avail->idx)) {
			kvnet_vq_fail(vq, "avail index unreadable");
			return -EFAULT;
		}
		avail = kvnet16_to_cpu(vq, idx);
		if ((u16)(avail - vq->last_avail_idx) > vq->num) {
			kvnet_vq_fail(vq, "avail index moved past the ring size");
			return -EINVAL;
		}
		vq->avail_idx = avail;
		if (vq->avail_idx == vq->last_avail_idx)
			return 0;
		/* Read entries only after the index that covers them. */
		smp_rmb();
	}
	return (u16)(vq->avail_idx - vq->last_avail_idx);
}

/*
 * No new entries in the avail ring, for busy polling. A ring that cannot
 * be read counts as not empty: the caller then finds the queue failed.
 */
bool kvnet_vq_avail_empty(struct kvnet_vq *vq)
{
	lockdep_assert_held(&vq->mutex);

	return !kvnet_vq_avail_pending(vq);
}

/* Append the guest buffer of one descriptor to the chain's iovecs. */
static int kvnet_vq_add_desc(struct kvnet_vq *vq, const struct vring_desc *d,
			     struct kvnet_chain *c)
{
	bool le = kvnet_vq_is_le(vq);
	u16 flags = __virtio16_to_cpu(le, d->flags);
	u32 len = __virtio32_to_cpu(le, d->len);
	u64 addr = __virtio64_to_cpu(le, d->addr);
	unsigned int used = c->out + c->in;
	int n;

	n = kvnet_mem_translate(vq->mem, addr, len, c->iov + used,
				c->iov_max - used);
	if (n == -ENOBUFS) {
		kvnet_vq_fail(vq, "descriptor chain has too many segments");
		return n;
	}
	if (n < 0) {
		kvnet_vq_fail(vq, "descriptor outside guest memory");
		return n;
	}

	if (flags & VRING_DESC_F_WRITE) {
		c->in += n;
		c->in_len += len;
	} else {
		if (c->in) {
			kvnet_vq_fail(vq, "readable descriptor after a writable one");
			return -EINVAL;
		}
		c->out += n;
		c->out_len += len;
	}
	return 0;
}

/* Copy an indirect table into vq->indirect and walk it. */
static int kvnet_vq_walk_indirect(struct kvnet_vq *vq,
				  const struct vring_desc *ind,
				  struct kvnet_chain *c)
{
	bool le = kvnet_vq_is_le(vq);
	u32 len = __virtio32_to_cpu(le, ind->len);
	u64 addr = __virtio64_to_cpu(le, ind->addr);
	struct iovec table[KVNET_INDIRECT_SEGS];
	unsigned int count, i, steps = 0;
	struct iov_iter iter;
	int n;

	if (!len || len % sizeof(struct vring_desc)) {
		kvnet_vq_fail(vq, "indirect table size not a multiple of 16");
		return -EINVAL;
	}
	count = len / sizeof(struct vring_desc);
	if (count > KVNET_IOV_MAX) {
		kvnet_vq_fail(vq, "indirect table too large");
		return -EINVAL;
	}
	n = kvnet_mem_translate(vq->mem, addr, len, table, ARRAY_SIZE(table));
	if (n < 0) {
		kvnet_vq_fail(vq, "indirect table outside guest memory");
		return n;
	}
	iov_iter_init(&iter, ITER_SOURCE, table, n, len);
	if (copy_from_iter(vq->indirect, len, &iter) != len) {
		kvnet_vq_fail(vq, "indirect table unreadable");
		return -EFAULT;
	}

	for (i = 0;;) {
		const struct vring_desc *d = &vq->indirect[i];
		u16 flags = __virtio16_to_cpu(le, d->flags);
		int ret;

		if (++steps > count) {
			kvnet_vq_fail(vq, "indirect chain loops");
			return -EINVAL;
		}
		if (flags & VRING_DESC_F_INDIRECT) {
			kvnet_vq_fail(vq, "indirect descriptor in an indirect table");
			return -EINVAL;
		}
		ret = kvnet_vq_add_desc(vq, d, c);
		if (ret)
			return ret;
		if (!(flags & VRING_DESC_F_NEXT))
			return 0;
		i = __virtio16_to_cpu(le, d->next);
		if (i >= count) {
			kvnet_vq_fail(vq, "indirect next index out of range");
			return -EINVAL;
		}
	}
}

/**
 * kvnet_vq_get_chain() - take the next descriptor chain from the avail ring
 * @vq: the queue
 * @c: gets the chain's head and buffers; c->iov and c->iov_max set by the
 *     caller
 *
 * Device-readable buffers come first in c->iov (c->out entries), then the
 * writable ones (c->in entries).
 *
 * Context: the worker, vq mutex held.
 * Return: 1 with a chain, 0 if the ring is empty, or a negative errno if
 * the ring is malformed; the queue has then failed.
 */
int kvnet_vq_get_chain(struct kvnet_vq *vq, struct kvnet_chain *c)
{
	struct vring_desc d;
	unsigned int i, steps = 0;
	__virtio16 head;
	int ret;

	lockdep_assert_held(&vq->mutex);

	ret = kvnet_vq_avail_pending(vq);
	if (ret <= 0)
		return ret;

	if (get_user(head, &vq->avail->ring[vq->last_avail_idx &
					    (vq->num - 1)])) {
		kvnet_vq_fail(vq, "avail ring unreadable");
		return -EFAULT;
	}
	i = kvnet16_to_cpu(vq, head);
	if (i >= vq->num) {
		kvnet_vq_fail(vq, "avail ring head out of range");
		return -EINVAL;
	}
	c->head = i;
	c->out = 0;
	c->in = 0;
	c->out_len = 0;
	c->in_len = 0;

	for (;;) {
		u16 flags;

		if (++steps > vq->num) {
			kvnet_vq_fail(vq, "descriptor chain longer than the ring");
			return -EINVAL;
		}
		if (copy_from_user(&d, vq->desc + i, sizeof(d))) {
			kvnet_vq_fail(vq, "descriptor table unreadable");
			return -EFAULT;
		}
		flags = kvnet16_to_cpu(vq, d.flags);

		if (flags & VRING_DESC_F_INDIRECT) {
			if (!kvnet_vq_has(vq, VIRTIO_RING_F_INDIRECT_DESC) ||
			    (flags & VRING_DESC_F_NEXT)) {
				kvnet_vq_fail(vq, "unexpected indirect descriptor");
				return -EINVAL;
			}
			ret = kvnet_vq_walk_indirect(vq, &d, c);
			if (ret)
				return ret;
			break;
		}

		ret = kvnet_vq_add_desc(vq, &d, c);
		if (ret)
			return ret;
		if (!(flags & VRING_DESC_F_NEXT))
			break;
		i = kvnet16_to_cpu(vq, d.next);
		if (i >= vq->num) {
			kvnet_vq_fail(vq, "next descriptor index out of range");
			return -EINVAL;
		}
	}

	vq->last_avail_idx++;
	vq->consumed = true;
	return 1;
}

/* Give back the last @n chains taken, e.g. when the backend is full. */
void kvnet_vq_unget_chains(struct kvnet_vq *vq, unsigned int n)
{
	vq->last_avail_idx -= n;
}

void kvnet_vq_used_elem(const struct kvnet_vq *vq, struct vring_used_elem *e,
			u16 head, u32 len)
{
	e->id = __cpu_to_virtio32(kvnet_vq_is_le(vq), head);
	e->len = __cpu_to_virtio32(kvnet_vq_is_le(vq), len);
}

/**
 * kvnet_vq_add_used() - return chains to the guest
 * @vq: the queue
 * @elems: entries made with kvnet_vq_used_elem()
 * @count: how many, at most the ring size
 *
 * Context: vq mutex held.
 * Return: 0, or -EFAULT with the queue failed.
 */
int kvnet_vq_add_used(struct kvnet_vq *vq, const struct vring_used_elem *elems,
		      unsigned int count)
{
	unsigned int start = vq->last_used_idx & (vq->num - 1);
	unsigned int first = min(count, vq->num - start);
	u16 old = vq->last_used_idx;

	if (copy_to_user(&vq->used->ring[start], elems,
			 first * sizeof(*elems)) ||
	    copy_to_user(&vq->used->ring[0], elems + first,
			 (count - first) * sizeof(*elems)))
		goto fault;

	/* The entries must be visible before the index that publishes them. */
	smp_wmb();
	vq->last_used_idx += count;
	if (put_user(cpu_to_kvnet16(vq, vq->last_used_idx), &vq->used->idx))
		goto fault;

	/* The index wrapped past the last signal: that value is stale. */
	if (unlikely((u16)(vq->last_used_idx - vq->signalled_used) <
		     (u16)(vq->last_used_idx - old)))
		vq->signalled_used_valid = false;
	return 0;

fault:
	kvnet_vq_fail(vq, "used ring unwritable");
	return -EFAULT;
}

/* Does the guest want an interrupt for the entries just added? */
static bool kvnet_vq_need_signal(struct kvnet_vq *vq)
{
	__virtio16 flags, event;
	u16 old, new;
	bool valid;

	/* The used index must be visible before we read what the guest wants. */
	smp_mb();

	if (!kvnet_vq_has(vq, VIRTIO_RING_F_EVENT_IDX)) {
		if (get_user(flags, &vq->avail->flags))
			return true;
		return !(kvnet16_to_cpu(vq, flags) & VRING_AVAIL_F_NO_INTERRUPT);
	}

	old = vq->signalled_used;
	valid = vq->signalled_used_valid;
	new = vq->last_used_idx;
	vq->signalled_used = new;
	vq->signalled_used_valid = true;
	if (!valid)
		return true;
	if (get_user(event, &vq->avail->ring[vq->num]))
		return true;
	return vring_need_event(kvnet16_to_cpu(vq, event), new, old);
}

/* Signal the call eventfd if the guest asked for it. */
void kvnet_vq_notify(struct kvnet_vq *vq)
{
	if (kvnet_vq_need_signal(vq))
		kvnet_vq_signal(vq);
}

static int kvnet_vq_put_used_flags(struct kvnet_vq *vq)
{
	return put_user(cpu_to_kvnet16(vq, vq->used_flags), &vq->used->flags);
}

static int kvnet_vq_put_avail_event(struct kvnet_vq *vq, u16 event)
{
	__virtio16 __user *avail_event;

	avail_event = (__virtio16 __user *)&vq->used->ring[vq->num];
	return put_user(cpu_to_kvnet16(vq, event), avail_event);
}

/*
 * Ask the guest not to kick while we are draining the ring anyway. The
 * NO_NOTIFY bit of used_flags records that we asked, in either mode.
 */
void kvnet_vq_disable_notify(struct kvnet_vq *vq)
{
	int ret;

	if (vq->used_flags & VRING_USED_F_NO_NOTIFY)
		return;
	vq->used_flags |= VRING_USED_F_NO_NOTIFY;
	/*
	 * With EVENT_IDX, an avail_event behind the guest's index is one it
	 * has passed already: no kick until enable moves it forward again.
	 */
	if (kvnet_vq_has(vq, VIRTIO_RING_F_EVENT_IDX))
		ret = kvnet_vq_put_avail_event(vq, vq->avail_idx - 1);
	else
		ret = kvnet_vq_put_used_flags(vq);
	if (ret)
		kvnet_vq_fail(vq, "kick suppression unwritable");
}

/**
 * kvnet_vq_enable_notify() - ask for kicks again
 * @vq: the queue
 *
 * Return: true if the guest added buffers meanwhile, which it then may
 * not kick for: the caller must process them.
 */
bool kvnet_vq_enable_notify(struct kvnet_vq *vq)
{
	bool muted = vq->used_flags & VRING_USED_F_NO_NOTIFY;
	__virtio16 idx;

	vq->used_flags &= ~VRING_USED_F_NO_NOTIFY;
	if (kvnet_vq_has(vq, VIRTIO_RING_F_EVENT_IDX)) {
		/* Moved even if not muted: the guest's index may have. */
		if (kvnet_vq_put_avail_event(vq, vq->avail_idx)) {
			kvnet_vq_fail(vq, "avail event unwritable");
			return false;
		}
	} else if (muted && kvnet_vq_put_used_flags(vq)) {
		kvnet_vq_fail(vq, "used flags unwritable");
		return false;
	}

	/* Publish the request before looking for buffers once more. */
	smp_mb();
	if (get_user(idx, &vq->avail->idx)) {
		kvnet_vq_fail(vq, "avail index unreadable");
		return false;
	}
	return kvnet16_to_cpu(vq, idx) != vq->avail_idx;
}
