// SPDX-License-Identifier: GPL-2.0
/*
 * Backends "vhost" and "kvnet": a kernel device with the vhost-net ABI
 * (/dev/vhost-net or /dev/kvnet) serves the rings. At DRIVER_OK the VMM
 * hands it the features, the memory table, each ring, the queue's
 * ioeventfd as kick and its MSI-X irqfd as call, then the tap; at reset
 * it takes them back with GET_VRING_BASE, so the next DRIVER_OK starts
 * from index 0 again. No packet and no interrupt passes through the VMM.
 *
 * A ring the kernel finds broken is reported on the queue's error
 * eventfd: a watcher thread turns that into DEVICE_NEEDS_RESET.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include <linux/kvnet.h>
#include <linux/vhost.h>

#include "vmm/kvm.h"
#include "vmm/net_backend.h"
#include "vmm/util.h"

struct net_vhost {
	struct net_dev *nd;
	const char *path;
	bool kvnet;
	int fd;
	uint64_t features;		/* VHOST_GET_FEATURES */
	bool started[NET_VQ_MAX];	/* ring handed over */
	int err_fd[NET_VQ_MAX];
	int stop_fd;
	pthread_t watcher;
	bool watching;
};

static int net_vhost__ioctl(struct net_vhost *nv, unsigned long req,
			    const char *name, int q, void *arg)
{
	int err;

	if (!ioctl(nv->fd, req, arg))
		return 0;
	err = errno;
	if (q < 0)
		pr_err("net: %s: %s: %s", nv->path, name, strerror(err));
	else
		pr_err("net: %s: %s (%s queue): %s", nv->path, name,
		       net__queue_name(q), strerror(err));
	return -err;
}

#define VHOST_IOCTL(nv, req, q, arg) \
	net_vhost__ioctl(nv, req, #req, q, arg)

/* Waits on the error eventfds: the kernel stopped a queue. */
static void *net_vhost__watch(void *arg)
{
	struct net_vhost *nv = arg;
	struct pollfd pfd[NET_VQ_MAX + 1];
	eventfd_t n;
	unsigned int q;

	for (q = 0; q < NET_VQ_MAX; q++)
		pfd[q] = (struct pollfd){ .fd = nv->err_fd[q],
					  .events = POLLIN };
	pfd[NET_VQ_MAX] = (struct pollfd){ .fd = nv->stop_fd,
					   .events = POLLIN };
	for (;;) {
		if (poll(pfd, ARRAY_SIZE(pfd), -1) < 0)
			continue;
		if (pfd[NET_VQ_MAX].revents)
			return NULL;
		for (q = 0; q < NET_VQ_MAX; q++) {
			if (!pfd[q].revents || eventfd_read(pfd[q].fd, &n))
				continue;
			virtio_pci__report(&nv->nd->vp, "%s stopped the %s queue: the guest broke its ring (the kernel log says how); the device needs a reset",
					   nv->path, net__queue_name(q));
			virtio_pci__needs_reset(&nv->nd->vp);
		}
	}
}

static int net_vhost__set_mem_table(struct net_vhost *nv)
{
	struct vm *vm = nv->nd->vm;
	struct vhost_memory *mem;
	int i, ret;

	mem = calloc(1, sizeof(*mem) +
			vm->nr_mem * sizeof(struct vhost_memory_region));
	if (!mem)
		return -ENOMEM;
	mem->nregions = vm->nr_mem;
	for (i = 0; i < vm->nr_mem; i++) {
		mem->regions[i].guest_phys_addr = vm->mem[i].gpa;
		mem->regions[i].memory_size = vm->mem[i].size;
		mem->regions[i].userspace_addr = (uintptr_t)vm->mem[i].hva;
	}
	ret = VHOST_IOCTL(nv, VHOST_SET_MEM_TABLE, -1, mem);
	free(mem);
	return ret;
}

static int net_vhost__set_ring(struct net_vhost *nv, unsigned int q)
{
	struct virtio_pci *vp = &nv->nd->vp;
	struct virtio_queue *vq = &vp->vq[q];
	struct vhost_vring_state num = { .index = q, .num = vq->size };
	struct vhost_vring_state base = { .index = q, .num = 0 };
	struct vhost_vring_addr addr = {
		.index = q,
		.desc_user_addr = (uintptr_t)vq->desc,
		.avail_user_addr = (uintptr_t)vq->avail,
		.used_user_addr = (uintptr_t)vq->used,
	};
	struct vhost_vring_file kick = { .index = q, .fd = vq->kick_fd };
	struct vhost_vring_file call = {
		.index = q,
		.fd = virtio_pci__call_fd(vp, q),
	};
	struct vhost_vring_file err = { .index = q, .fd = nv->err_fd[q] };
	struct vhost_vring_state poll_us = {
		.index = q,
		.num = nv->nd->opts.poll_us,
	};
	int ret;

	ret = VHOST_IOCTL(nv, VHOST_SET_VRING_NUM, q, &num);
	if (!ret)
		ret = VHOST_IOCTL(nv, VHOST_SET_VRING_BASE, q, &base);
	if (!ret)
		ret = VHOST_IOCTL(nv, VHOST_SET_VRING_ADDR, q, &addr);
	if (!ret)
		ret = VHOST_IOCTL(nv, VHOST_SET_VRING_KICK, q, &kick);
	if (!ret)
		ret = VHOST_IOCTL(nv, VHOST_SET_VRING_CALL, q, &call);
	if (!ret)
		ret = VHOST_IOCTL(nv, VHOST_SET_VRING_ERR, q, &err);
	if (!ret && nv->nd->opts.poll_us)
		ret = VHOST_IOCTL(nv, VHOST_SET_VRING_BUSYLOOP_TIMEOUT, q,
				  &poll_us);
	return ret;
}

/* Detach the tap and take each ring back. */
static void net_vhost__stop(struct net_dev *nd)
{
	struct net_vhost *nv = nd->backend;
	unsigned int q;

	for (q = 0; q < NET_VQ_MAX; q++) {
		struct vhost_vring_file off = { .index = q, .fd = -1 };
		struct vhost_vring_state base = { .index = q };

		if (!nv->started[q])
			continue;
		VHOST_IOCTL(nv, VHOST_NET_SET_BACKEND, q, &off);
		VHOST_IOCTL(nv, VHOST_GET_VRING_BASE, q, &base);
		nv->started[q] = false;
	}
}

static int net_vhost__start(struct net_dev *nd)
{
	struct net_vhost *nv = nd->backend;
	/* The kernel sees only its own bits: not MAC, STATUS, offloads. */
	uint64_t features = nd->vp.driver_features & nv->features;
	unsigned int q;
	int ret;

	ret = VHOST_IOCTL(nv, VHOST_SET_FEATURES, -1, &features);
	if (!ret)
		ret = net_vhost__set_mem_table(nv);
	for (q = 0; q < NET_VQ_MAX && !ret; q++) {
		if (!nd->vp.vq[q].enabled)
			continue;
		ret = net_vhost__set_ring(nv, q);
		nv->started[q] = !ret;
	}
	for (q = 0; q < NET_VQ_MAX && !ret; q++) {
		struct vhost_vring_file tap = { .index = q, .fd = nd->tap_fd };

		if (nv->started[q])
			ret = VHOST_IOCTL(nv, VHOST_NET_SET_BACKEND, q, &tap);
	}
	if (ret)
		net_vhost__stop(nd);
	return ret;
}

static void net_vhost__stop_watcher(struct net_vhost *nv)
{
	if (!nv->watching)
		return;
	eventfd_write(nv->stop_fd, 1);
	pthread_join(nv->watcher, NULL);
	nv->watching = false;
}

static void net_vhost__free(struct net_vhost *nv)
{
	unsigned int q;

	net_vhost__stop_watcher(nv);
	for (q = 0; q < NET_VQ_MAX; q++)
		if (nv->err_fd[q] >= 0)
			close(nv->err_fd[q]);
	if (nv->stop_fd >= 0)
		close(nv->stop_fd);
	if (nv->fd >= 0)
		close(nv->fd);
	free(nv);
}

static int net_vhost__open_dev(struct net_dev *nd, uint64_t *features,
			       const char *path, bool kvnet)
{
	struct net_vhost *nv;
	sigset_t all, old;
	unsigned int q;
	int ret;

	nv = calloc(1, sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	nv->nd = nd;
	nv->path = path;
	nv->kvnet = kvnet;
	for (q = 0; q < NET_VQ_MAX; q++)
		nv->err_fd[q] = -1;
	nv->stop_fd = -1;

	nv->fd = open(path, O_RDWR | O_CLOEXEC);
	if (nv->fd < 0) {
		ret = -errno;
		if (errno == ENOENT)
			pr_err("net: backend %s: %s does not exist (is the %s module loaded?)",
			       nd->ops->name, path,
			       kvnet ? "kvnet" : "vhost_net");
		else
			pr_errno("net: backend %s: cannot open %s",
				 nd->ops->name, path);
		goto err;
	}
	/* Once per open: binds the device to this process's memory. */
	ret = VHOST_IOCTL(nv, VHOST_SET_OWNER, -1, NULL);
	if (!ret)
		ret = VHOST_IOCTL(nv, VHOST_GET_FEATURES, -1, &nv->features);
	if (ret)
		goto err;

	for (q = 0; q < NET_VQ_MAX; q++) {
		nv->err_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (nv->err_fd[q] < 0)
			goto err_errno;
	}
	nv->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (nv->stop_fd < 0)
		goto err_errno;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&nv->watcher, NULL, net_vhost__watch, nv);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		pr_err("net: cannot start the error watcher: %s",
		       strerror(ret));
		ret = -ret;
		goto err;
	}
	nv->watching = true;

	/*
	 * kvnet lists the offloads it carries. vhost-net does not know
	 * them: it passes the header between ring and tap untouched, so
	 * they are the tap's to grant (as QEMU has it).
	 */
	*features = nv->features & (NET_RING_FEATURES | NET_OFFLOADS);
	if (!kvnet)
		*features |= NET_OFFLOADS;
	nd->backend = nv;
	return 0;

err_errno:
	ret = -errno;
	pr_errno("net: eventfd");
err:
	net_vhost__free(nv);
	return ret;
}

static int net_vhost__open(struct net_dev *nd, uint64_t *features)
{
	return net_vhost__open_dev(nd, features, "/dev/vhost-net", false);
}

static int net_kvnet__open(struct net_dev *nd, uint64_t *features)
{
	return net_vhost__open_dev(nd, features, "/dev/kvnet", true);
}

static void net_vhost__close(struct net_dev *nd)
{
	struct net_vhost *nv = nd->backend;

	net_vhost__stop(nd);
	net_vhost__free(nv);
	nd->backend = NULL;
}

static bool net_vhost__stats(struct net_dev *nd, struct net_queue_stats *st)
{
	(void)nd;
	(void)st;
	return false;
}

static bool net_kvnet__stats(struct net_dev *nd, struct net_queue_stats *st)
{
	struct net_vhost *nv = nd->backend;
	unsigned int q;

	for (q = 0; q < NET_VQ_MAX; q++) {
		struct kvnet_vring_stats s = { .index = q };

		if (ioctl(nv->fd, KVNET_GET_VRING_STATS, &s))
			return false;
		st[q] = (struct net_queue_stats){
			.packets = s.packets,
			.bytes = s.bytes,
			.kicks = s.kicks,
			.calls = s.calls,
			.errors = s.errors,
		};
	}
	return true;
}

const struct net_backend_ops net_vhost_ops = {
	.name = "vhost",
	.open = net_vhost__open,
	.start = net_vhost__start,
	.stop = net_vhost__stop,
	.close = net_vhost__close,
	.stats = net_vhost__stats,
};

const struct net_backend_ops net_kvnet_ops = {
	.name = "kvnet",
	.open = net_kvnet__open,
	.start = net_vhost__start,
	.stop = net_vhost__stop,
	.close = net_vhost__close,
	.stats = net_kvnet__stats,
};
