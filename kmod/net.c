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

/* What the ring engine implements; offloads join as the data path does. */
#define KVNET_NET_FEATURES (BIT_ULL(VIRTIO_F_VERSION_1) |		\
			    BIT_ULL(VIRTIO_F_ANY_LAYOUT) |		\
			    BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC) |	\
			    BIT_ULL(VIRTIO_RING_F_EVENT_IDX) |		\
			    BIT_ULL(VIRTIO_NET_F_MRG_RXBUF) |		\
			    BIT_ULL(VHOST_NET_F_VIRTIO_NET_HDR))

/* Features that change how buffers already in a ring are read. */
#define KVNET_NET_FORMAT_FEATURES (BIT_ULL(VIRTIO_F_VERSION_1) |	\
				   BIT_ULL(VIRTIO_RING_F_EVENT_IDX) |	\
				   BIT_ULL(VIRTIO_NET_F_MRG_RXBUF) |	\
				   BIT_ULL(VHOST_NET_F_VIRTIO_NET_HDR))

/* No IOTLB, so no backend features. */
#define KVNET_NET_BACKEND_FEATURES 0ULL

struct kvnet_net {
	struct kvnet_dev dev;
	struct kvnet_vq vqs[KVNET_NET_VQ_MAX];
	struct kvnet_vq *vq_ptrs[KVNET_NET_VQ_MAX];
};

static void kvnet_net_handle(struct kvnet_work *work)
{
	struct kvnet_vq *vq = container_of(work, struct kvnet_vq, poll.work);

	mutex_lock(&vq->mutex);
	vq->stats.handler_runs++;
	mutex_unlock(&vq->mutex);
}

static int kvnet_net_open(struct inode *inode, struct file *f)
{
	struct kvnet_net *n;
	unsigned int i;

	n = kvzalloc(sizeof(*n), GFP_KERNEL_ACCOUNT);
	if (!n)
		return -ENOMEM;

	for (i = 0; i < KVNET_NET_VQ_MAX; i++) {
		n->vq_ptrs[i] = &n->vqs[i];
		kvnet_vq_init(&n->vqs[i], &n->dev, i, kvnet_net_handle);
	}
	kvnet_dev_init(&n->dev, n->vq_ptrs, KVNET_NET_VQ_MAX);
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
		struct kvnet_vq *vq = &n->vqs[i];

		mutex_lock(&vq->mutex);
		socks[i] = vq->private;
		vq->private = NULL;
		mutex_unlock(&vq->mutex);
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

	kvnet_net_reset(n);
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
	struct vhost_vring_file f;
	struct kvnet_vq *vq;
	long ret = 0;

	if (copy_from_user(&f, argp, sizeof(f)))
		return -EFAULT;
	if (f.index >= KVNET_NET_VQ_MAX)
		return -ENOBUFS;
	vq = &n->vqs[array_index_nospec(f.index, KVNET_NET_VQ_MAX)];

	if (f.fd != VHOST_FILE_UNBIND) {
		sock = kvnet_net_get_socket(f.fd);
		if (IS_ERR(sock))
			return PTR_ERR(sock);
	}

	mutex_lock(&vq->mutex);
	if (sock && !kvnet_vq_ring_ok(vq)) {
		ret = -EINVAL;
		goto err_unlock;
	}
	old = vq->private;
	vq->private = sock;
	if (sock) {
		kvnet_vq_restart(vq);
		/* Pick up whatever the guest queued before we were attached. */
		kvnet_work_queue(&n->dev, &vq->poll.work);
	}
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

	mutex_lock(&n->dev.mutex);
	ret = kvnet_dev_check_owner(&n->dev, ioctl);
	if (!ret)
		ret = kvnet_net_ioctl_locked(n, ioctl, (void __user *)arg);
	mutex_unlock(&n->dev.mutex);
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
module_misc_device(kvnet_net_misc);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kvnet: in-kernel virtio-net backend with the vhost-net ABI");
