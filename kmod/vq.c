// SPDX-License-Identifier: GPL-2.0
/*
 * The virtqueue engine: ring configuration from the vhost ioctls, the kick
 * hook, and the call and error eventfds.
 */
#include <linux/eventfd.h>
#include <linux/file.h>
#include <linux/nospec.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vhost.h>

#include "compat.h"
#include "kvnet.h"

/* The split ring's size limit: a power of two that fits a 16-bit index. */
#define KVNET_VQ_NUM_MAX 32768

void kvnet_vq_init(struct kvnet_vq *vq, struct kvnet_dev *dev,
		   unsigned int index, kvnet_work_fn_t handle_kick)
{
	vq->dev = dev;
	vq->index = index;
	vq->handle_kick = handle_kick;
	vq->quiesce = NULL;
	mutex_init(&vq->mutex);
	vq->kick = NULL;
	vq->call_ctx = NULL;
	vq->err_ctx = NULL;
	vq->private = NULL;
	kvnet_vq_reset(vq);
}

/*
 * Back to the state of a fresh open. The caller has put the files and
 * detached the backend, and nothing can run the handler any more.
 */
void kvnet_vq_reset(struct kvnet_vq *vq)
{
	vq->num = 0;
	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
	vq->last_avail_idx = 0;
	vq->avail_idx = 0;
	vq->last_used_idx = 0;
	vq->consumed = false;
	vq->stopped = false;
	vq->broken = false;
	vq->endian = VHOST_VRING_LITTLE_ENDIAN;
	vq->busyloop_timeout = 0;
	vq->features = 0;
	vq->mem = NULL;
	memset(&vq->stats, 0, sizeof(vq->stats));
	kvnet_poll_init(&vq->poll, vq->handle_kick, EPOLLIN, vq->dev);
}

/* Drop the kick file and the eventfds. The kick poll must be stopped. */
void kvnet_vq_put_files(struct kvnet_vq *vq)
{
	if (vq->kick) {
		fput(vq->kick);
		vq->kick = NULL;
	}
	if (vq->call_ctx) {
		eventfd_ctx_put(vq->call_ctx);
		vq->call_ctx = NULL;
	}
	if (vq->err_ctx) {
		eventfd_ctx_put(vq->err_ctx);
		vq->err_ctx = NULL;
	}
}

/* A queue runs while it has a backend and GET_VRING_BASE has not stopped it. */
bool kvnet_vq_running(const struct kvnet_vq *vq)
{
	return vq->private && !vq->stopped;
}

/*
 * The VMM re-armed the queue: forget a stop and a broken ring, and look
 * at what the guest queued meanwhile, since it will not kick for that.
 */
void kvnet_vq_restart(struct kvnet_vq *vq)
{
	vq->stopped = false;
	vq->broken = false;
	if (vq->private)
		kvnet_work_queue(vq->dev, &vq->poll.work);
}

/* The event index fields are counted whether or not EVENT_IDX is on. */
static bool kvnet_ring_access_ok(unsigned int num, const void __user *desc,
				 const void __user *avail,
				 const void __user *used)
{
	size_t desc_size = num * sizeof(struct vring_desc);
	size_t avail_size = sizeof(struct vring_avail) +
			    (num + 1) * sizeof(__virtio16);
	size_t used_size = sizeof(struct vring_used) +
			   num * sizeof(struct vring_used_elem) +
			   sizeof(__virtio16);

	return access_ok(desc, desc_size) && access_ok(avail, avail_size) &&
	       access_ok(used, used_size);
}

/* Ready to be given a backend: size and addresses set, and still valid. */
bool kvnet_vq_ring_ok(const struct kvnet_vq *vq)
{
	return vq->num && vq->desc &&
	       kvnet_ring_access_ok(vq->num, vq->desc, vq->avail, vq->used);
}

void kvnet_vq_signal(struct kvnet_vq *vq)
{
	lockdep_assert_held(&vq->mutex);

	if (vq->call_ctx) {
		kvnet_eventfd_signal(vq->call_ctx);
		vq->stats.calls++;
	}
}

static long kvnet_vq_set_num(struct kvnet_vq *vq, void __user *argp)
{
	struct vhost_vring_state s;

	if (copy_from_user(&s, argp, sizeof(s)))
		return -EFAULT;
	if (!s.num || s.num > KVNET_VQ_NUM_MAX || (s.num & (s.num - 1)))
		return -EINVAL;
	vq->num = s.num;
	return 0;
}

static long kvnet_vq_set_base(struct kvnet_vq *vq, void __user *argp)
{
	struct vhost_vring_state s;

	if (copy_from_user(&s, argp, sizeof(s)))
		return -EFAULT;
	if (s.num > 0xffff)
		return -EINVAL;
	vq->last_avail_idx = s.num;
	vq->avail_idx = s.num;
	vq->consumed = false;
	kvnet_vq_restart(vq);
	return 0;
}

/* Hand the position back to the VMM and stop until it restarts the queue. */
static long kvnet_vq_get_base(struct kvnet_vq *vq, void __user *argp)
{
	struct vhost_vring_state s = {
		.index = vq->index,
		.num = vq->last_avail_idx,
	};

	if (vq->quiesce && !vq->stopped)
		vq->quiesce(vq);
	vq->stopped = true;
	vq->consumed = false;
	if (copy_to_user(argp, &s, sizeof(s)))
		return -EFAULT;
	return 0;
}

static long kvnet_vq_set_addr(struct kvnet_vq *vq, void __user *argp)
{
	struct vhost_vring_addr a;
	void __user *desc, *avail, *used;

	if (copy_from_user(&a, argp, sizeof(a)))
		return -EFAULT;
	/* No dirty logging: VHOST_VRING_F_LOG is not offered. */
	if (a.flags)
		return -EOPNOTSUPP;
	if ((u64)(unsigned long)a.desc_user_addr != a.desc_user_addr ||
	    (u64)(unsigned long)a.avail_user_addr != a.avail_user_addr ||
	    (u64)(unsigned long)a.used_user_addr != a.used_user_addr)
		return -EFAULT;

	/* Alignment required by the virtio spec for split rings. */
	if ((a.desc_user_addr & (16 - 1)) || (a.avail_user_addr & (2 - 1)) ||
	    (a.used_user_addr & (4 - 1)))
		return -EINVAL;

	desc = u64_to_user_ptr(a.desc_user_addr);
	avail = u64_to_user_ptr(a.avail_user_addr);
	used = u64_to_user_ptr(a.used_user_addr);
	if (!kvnet_ring_access_ok(vq->num ? vq->num : 1, desc, avail, used))
		return -EFAULT;

	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	return 0;
}

static long kvnet_vq_set_kick(struct kvnet_vq *vq, void __user *argp,
			      struct file **old)
{
	struct vhost_vring_file f;
	struct file *kick;
	long ret = 0;

	if (copy_from_user(&f, argp, sizeof(f)))
		return -EFAULT;
	kick = f.fd == VHOST_FILE_UNBIND ? NULL : eventfd_fget(f.fd);
	if (IS_ERR(kick))
		return PTR_ERR(kick);

	/* Setting the kick re-arms the queue, even with the same file. */
	kvnet_vq_restart(vq);
	if (kick == vq->kick) {
		/* Just drop the reference we took. */
		*old = kick;
		return 0;
	}

	kvnet_poll_stop(&vq->poll);
	*old = vq->kick;
	vq->kick = kick;
	if (kick)
		ret = kvnet_poll_start(&vq->poll, kick);
	return ret;
}

static long kvnet_vq_set_eventfd(struct eventfd_ctx **slot, void __user *argp)
{
	struct vhost_vring_file f;
	struct eventfd_ctx *ctx;

	if (copy_from_user(&f, argp, sizeof(f)))
		return -EFAULT;
	ctx = f.fd == VHOST_FILE_UNBIND ? NULL : eventfd_ctx_fdget(f.fd);
	if (IS_ERR(ctx))
		return PTR_ERR(ctx);

	swap(*slot, ctx);
	if (ctx)
		eventfd_ctx_put(ctx);
	return 0;
}

static long kvnet_vq_set_endian(struct kvnet_vq *vq, void __user *argp)
{
	struct vhost_vring_state s;
	bool big;

	if (copy_from_user(&s, argp, sizeof(s)))
		return -EFAULT;
	if (s.num != VHOST_VRING_LITTLE_ENDIAN &&
	    s.num != VHOST_VRING_BIG_ENDIAN)
		return -EINVAL;
	/* Legacy rings are in the guest's byte order; only ours is handled. */
	big = s.num == VHOST_VRING_BIG_ENDIAN;
	if (big != IS_ENABLED(CONFIG_CPU_BIG_ENDIAN))
		return -EOPNOTSUPP;
	vq->endian = s.num;
	return 0;
}

static long kvnet_vq_get_u32(struct kvnet_vq *vq, u32 val, void __user *argp)
{
	struct vhost_vring_state s = { .index = vq->index, .num = val };

	if (copy_to_user(argp, &s, sizeof(s)))
		return -EFAULT;
	return 0;
}

static long kvnet_vq_set_busyloop(struct kvnet_vq *vq, void __user *argp)
{
	struct vhost_vring_state s;

	if (copy_from_user(&s, argp, sizeof(s)))
		return -EFAULT;
	vq->busyloop_timeout = s.num;
	return 0;
}

static bool kvnet_vq_ioctl_changes_ring(unsigned int ioctl)
{
	return ioctl == VHOST_SET_VRING_NUM || ioctl == VHOST_SET_VRING_BASE ||
	       ioctl == VHOST_SET_VRING_ADDR || ioctl == VHOST_SET_VRING_ENDIAN;
}

static bool kvnet_vq_ioctl_known(unsigned int ioctl)
{
	switch (ioctl) {
	case VHOST_SET_VRING_NUM:
	case VHOST_SET_VRING_BASE:
	case VHOST_GET_VRING_BASE:
	case VHOST_SET_VRING_ADDR:
	case VHOST_SET_VRING_KICK:
	case VHOST_SET_VRING_CALL:
	case VHOST_SET_VRING_ERR:
	case VHOST_SET_VRING_ENDIAN:
	case VHOST_GET_VRING_ENDIAN:
	case VHOST_SET_VRING_BUSYLOOP_TIMEOUT:
	case VHOST_GET_VRING_BUSYLOOP_TIMEOUT:
		return true;
	}
	return false;
}

/* Every vring ioctl argument starts with the queue index. */
static struct kvnet_vq *kvnet_vq_from_user(struct kvnet_dev *dev,
					   void __user *argp)
{
	u32 idx;

	if (get_user(idx, (u32 __user *)argp))
		return ERR_PTR(-EFAULT);
	if (idx >= dev->nvqs)
		return ERR_PTR(-ENOBUFS);
	return dev->vqs[array_index_nospec(idx, dev->nvqs)];
}

/**
 * kvnet_vq_ioctl() - the VHOST_*_VRING_* ioctls
 * @dev: the device
 * @ioctl: the command
 * @argp: its argument
 *
 * Context: process context, owner checked, device mutex held.
 * Return: 0 or a value for the caller, -ENOIOCTLCMD for a command that is
 * not a vring ioctl, or a negative errno.
 */
long kvnet_vq_ioctl(struct kvnet_dev *dev, unsigned int ioctl,
		    void __user *argp)
{
	struct file *old_kick = NULL;
	struct kvnet_vq *vq;
	long ret;

	lockdep_assert_held(&dev->mutex);

	if (!kvnet_vq_ioctl_known(ioctl))
		return -ENOIOCTLCMD;
	vq = kvnet_vq_from_user(dev, argp);
	if (IS_ERR(vq))
		return PTR_ERR(vq);

	mutex_lock(&vq->mutex);

	/* The ring belongs to the worker while the queue runs. */
	if (kvnet_vq_ioctl_changes_ring(ioctl) && kvnet_vq_running(vq)) {
		ret = -EBUSY;
		goto out;
	}

	switch (ioctl) {
	case VHOST_SET_VRING_NUM:
		ret = kvnet_vq_set_num(vq, argp);
		break;
	case VHOST_SET_VRING_BASE:
		ret = kvnet_vq_set_base(vq, argp);
		break;
	case VHOST_GET_VRING_BASE:
		ret = kvnet_vq_get_base(vq, argp);
		break;
	case VHOST_SET_VRING_ADDR:
		ret = kvnet_vq_set_addr(vq, argp);
		break;
	case VHOST_SET_VRING_KICK:
		ret = kvnet_vq_set_kick(vq, argp, &old_kick);
		break;
	case VHOST_SET_VRING_CALL:
		ret = kvnet_vq_set_eventfd(&vq->call_ctx, argp);
		break;
	case VHOST_SET_VRING_ERR:
		ret = kvnet_vq_set_eventfd(&vq->err_ctx, argp);
		break;
	case VHOST_SET_VRING_ENDIAN:
		ret = kvnet_vq_set_endian(vq, argp);
		break;
	case VHOST_GET_VRING_ENDIAN:
		ret = kvnet_vq_get_u32(vq, vq->endian, argp);
		break;
	case VHOST_SET_VRING_BUSYLOOP_TIMEOUT:
		ret = kvnet_vq_set_busyloop(vq, argp);
		break;
	default: /* VHOST_GET_VRING_BUSYLOOP_TIMEOUT */
		ret = kvnet_vq_get_u32(vq, vq->busyloop_timeout, argp);
		break;
	}
out:
	mutex_unlock(&vq->mutex);

	if (old_kick) {
		/* A kick from the old file may still be queued. */
		kvnet_dev_flush(dev);
		fput(old_kick);
	}
	return ret;
}

/* A snapshot of @vq's counters, taken between two handler runs. */
void kvnet_vq_read_stats(struct kvnet_vq *vq, struct kvnet_vring_stats *st)
{
	kvnet_busy_poll_wait_begin(vq->dev);
	mutex_lock(&vq->mutex);
	*st = vq->stats;
	mutex_unlock(&vq->mutex);
	kvnet_busy_poll_wait_end(vq->dev);
	st->index = vq->index;
	st->kicks = atomic64_read(&vq->poll.wakeups);
}

/* KVNET_GET_VRING_STATS. Context: owner checked, device mutex held. */
long kvnet_vq_get_stats(struct kvnet_dev *dev, void __user *argp)
{
	struct kvnet_vring_stats stats;
	struct kvnet_vq *vq;

	if (copy_from_user(&stats, argp, sizeof(stats)))
		return -EFAULT;
	if (stats.flags)
		return -EINVAL;
	vq = kvnet_vq_from_user(dev, argp);
	if (IS_ERR(vq))
		return PTR_ERR(vq);

	kvnet_vq_read_stats(vq, &stats);
	if (copy_to_user(argp, &stats, sizeof(stats)))
		return -EFAULT;
	return 0;
}
