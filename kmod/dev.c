// SPDX-License-Identifier: GPL-2.0
/*
 * The device core: ownership, the memory table and features, shared by
 * every kvnet device type.
 */
#include <linux/sched/mm.h>
#include <linux/uaccess.h>
#include <linux/vhost.h>

#include "kvnet.h"

static atomic_t kvnet_dev_ids = ATOMIC_INIT(0);

void kvnet_dev_init(struct kvnet_dev *dev, struct kvnet_vq **vqs,
		    unsigned int nvqs)
{
	mutex_init(&dev->mutex);
	dev->id = atomic_inc_return(&kvnet_dev_ids);
	dev->mm = NULL;
	dev->worker = NULL;
	init_llist_head(&dev->work_list);
	atomic_set(&dev->busy_poll_waiters, 0);
	dev->features = 0;
	dev->mem = NULL;
	dev->vqs = vqs;
	dev->nvqs = nvqs;
}

/* The ioctls a device answers before anyone owns it, as vhost does. */
static bool kvnet_dev_ioctl_needs_owner(unsigned int ioctl)
{
	switch (ioctl) {
	case VHOST_SET_OWNER:
	case VHOST_GET_FEATURES:
	case VHOST_SET_FEATURES:
	case VHOST_GET_BACKEND_FEATURES:
	case VHOST_SET_BACKEND_FEATURES:
		return false;
	}
	return true;
}

/**
 * kvnet_dev_check_owner() - may the caller issue @ioctl on @dev?
 * @dev: the device
 * @ioctl: the command
 *
 * Once owned, a device answers its owner's address space only: a process
 * that inherited the fd must not reach the owner's memory through it.
 *
 * Context: device mutex held.
 * Return: 0 or -EPERM.
 */
long kvnet_dev_check_owner(struct kvnet_dev *dev, unsigned int ioctl)
{
	lockdep_assert_held(&dev->mutex);

	if (dev->mm)
		return dev->mm == current->mm ? 0 : -EPERM;
	return kvnet_dev_ioctl_needs_owner(ioctl) ? -EPERM : 0;
}

static long kvnet_dev_set_owner(struct kvnet_dev *dev)
{
	if (dev->mm)
		return -EBUSY;
	return kvnet_worker_start(dev);
}

static long kvnet_dev_set_mem_table(struct kvnet_dev *dev,
				    struct vhost_memory __user *m)
{
	struct kvnet_mem *mem, *old;
	unsigned int i;

	mem = kvnet_mem_from_user(m);
	if (IS_ERR(mem))
		return PTR_ERR(mem);

	/* Each queue switches between two handler runs. */
	for (i = 0; i < dev->nvqs; i++) {
		struct kvnet_vq *vq = dev->vqs[i];

		mutex_lock(&vq->mutex);
		vq->mem = mem;
		mutex_unlock(&vq->mutex);
	}
	old = dev->mem;
	dev->mem = mem;
	kvnet_mem_free(old);
	return 0;
}

/**
 * kvnet_dev_set_features() - apply acked features to every queue
 * @dev: the device
 * @features: the new feature set, already checked against what is offered
 * @format_features: the features that change how a ring is read
 *
 * A queue that has consumed buffers since its base was set keeps its ring
 * format: changing @format_features then would reinterpret buffers the
 * guest already gave us.
 *
 * Context: device mutex held.
 * Return: 0 or -EBUSY, in which case nothing changed.
 */
long kvnet_dev_set_features(struct kvnet_dev *dev, u64 features,
			    u64 format_features)
{
	unsigned int i;
	long ret = 0;

	lockdep_assert_held(&dev->mutex);

	for (i = 0; i < dev->nvqs; i++)
		mutex_lock_nested(&dev->vqs[i]->mutex, i);

	for (i = 0; i < dev->nvqs; i++) {
		const struct kvnet_vq *vq = dev->vqs[i];

		if (vq->consumed &&
		    ((vq->features ^ features) & format_features)) {
			ret = -EBUSY;
			goto unlock;
		}
	}
	for (i = 0; i < dev->nvqs; i++)
		dev->vqs[i]->features = features;
	dev->features = features;
unlock:
	for (i = dev->nvqs; i-- > 0;)
		mutex_unlock(&dev->vqs[i]->mutex);
	return ret;
}

/* Stop every kick hook; the caller flushes afterwards. */
void kvnet_dev_stop_polls(struct kvnet_dev *dev)
{
	unsigned int i;

	for (i = 0; i < dev->nvqs; i++)
		kvnet_poll_stop(&dev->vqs[i]->poll);
}

/**
 * kvnet_dev_cleanup() - release everything the owner set up
 * @dev: the device, with backends detached, polls stopped and flushed
 *
 * Afterwards the device is as freshly opened: no owner, no worker, no
 * memory table, no eventfds, features cleared.
 *
 * Context: device mutex held, or the last reference is being dropped.
 */
void kvnet_dev_cleanup(struct kvnet_dev *dev)
{
	unsigned int i;

	kvnet_worker_stop(dev);
	for (i = 0; i < dev->nvqs; i++) {
		struct kvnet_vq *vq = dev->vqs[i];

		kvnet_vq_put_files(vq);
		kvnet_vq_reset(vq);
	}
	kvnet_mem_free(dev->mem);
	dev->mem = NULL;
	dev->features = 0;
}

/**
 * kvnet_dev_ioctl() - the device-wide vhost ioctls and the vring ioctls
 * @dev: the device
 * @ioctl: the command
 * @argp: its argument
 *
 * Context: device mutex held, owner checked.
 * Return: 0, -ENOIOCTLCMD for an unknown command, or a negative errno.
 */
long kvnet_dev_ioctl(struct kvnet_dev *dev, unsigned int ioctl,
		     void __user *argp)
{
	lockdep_assert_held(&dev->mutex);

	switch (ioctl) {
	case VHOST_SET_OWNER:
		return kvnet_dev_set_owner(dev);
	case VHOST_SET_MEM_TABLE:
		return kvnet_dev_set_mem_table(dev, argp);
	case VHOST_SET_LOG_BASE:
	case VHOST_SET_LOG_FD:
		/* VHOST_F_LOG_ALL is not offered. */
		return -EOPNOTSUPP;
	}
	return kvnet_vq_ioctl(dev, ioctl, argp);
}
