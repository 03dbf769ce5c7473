// SPDX-License-Identifier: GPL-2.0
/*
 * The tap side of the device: a tap by name (/dev/net/tun) or a macvtap
 * (/dev/tapN, found from its interface name or given as a path), opened
 * with IFF_VNET_HDR so that the virtio-net header, and with it the
 * checksum and segmentation offloads, passes between guest and host.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <net/if.h>
#include <sys/ioctl.h>

#include <linux/if_tun.h>

#include "vmm/net_backend.h"
#include "vmm/util.h"

#define TUN_PATH	"/dev/net/tun"

/* Every offload of the tap toward the guest that virtio-net can express. */
#define TUN_OFFLOADS	(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)

static int net_tap__setiff(struct net_dev *nd, int fd, const char *name)
{
	struct ifreq ifr = { 0 };

	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (name)
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (!ioctl(fd, TUNSETIFF, &ifr))
		return 0;
	/* A persistent tap created multi-queue takes only that flag. */
	if (errno == EINVAL && name) {
		ifr.ifr_flags |= IFF_MULTI_QUEUE;
		if (!ioctl(fd, TUNSETIFF, &ifr))
			return 0;
		errno = EINVAL;
	}
	if (errno == EBUSY)
		pr_err("net: %s is attached to another process", nd->tap_desc);
	else if (errno == EPERM)
		pr_err("net: %s: not allowed to attach (CAP_NET_ADMIN, or the tap's owner)",
		       nd->tap_desc);
	else
		pr_errno("net: %s: TUNSETIFF", nd->tap_desc);
	return -1;
}

/* /dev/tapN of macvtap interface @name; 0 or -1 after a message. */
static int net_tap__macvtap_path(struct net_dev *nd, char *path, size_t size)
{
	unsigned int ifindex = if_nametoindex(nd->opts.ifname);

	if (!ifindex) {
		pr_err("net: %s: no such interface", nd->tap_desc);
		return -1;
	}
	snprintf(path, size, "/dev/tap%u", ifindex);
	return 0;
}

static int net_tap__open_fd(struct net_dev *nd)
{
	const struct net_opts *o = &nd->opts;
	char path[80];
	int fd;

	if (o->tap_path[0])
		snprintf(path, sizeof(path), "%s", o->tap_path);
	else if (o->macvtap && net_tap__macvtap_path(nd, path, sizeof(path)))
		return -1;
	else if (!o->macvtap)
		snprintf(path, sizeof(path), "%s", TUN_PATH);

	fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT && !o->macvtap && !o->tap_path[0])
			pr_err("net: %s: %s does not exist (is the tun module loaded?)",
			       nd->tap_desc, TUN_PATH);
		else if (errno == ENOENT)
			pr_err("net: %s: %s does not exist (is it a macvtap?)",
			       nd->tap_desc, path);
		else
			pr_errno("net: %s: cannot open %s", nd->tap_desc, path);
		return -1;
	}

	if (!o->macvtap && !o->tap_path[0] && !if_nametoindex(o->ifname))
		pr_info("net: %s does not exist: created for this run",
			nd->tap_desc);
	if (net_tap__setiff(nd, fd, o->macvtap || o->tap_path[0] ? NULL :
				    o->ifname)) {
		close(fd);
		return -1;
	}
	return fd;
}

int net_tap__open(struct net_dev *nd)
{
	const struct net_opts *o = &nd->opts;
	int hdr_len = NET_HDR_LEN;
	int fd;

	if (o->tap_path[0])
		snprintf(nd->tap_desc, sizeof(nd->tap_desc), "macvtap %s",
			 o->tap_path);
	else
		snprintf(nd->tap_desc, sizeof(nd->tap_desc), "%s %s",
			 o->macvtap ? "macvtap" : "tap", o->ifname);

	fd = net_tap__open_fd(nd);
	if (fd < 0)
		return -ENODEV;
	/* virtio 1.x: the 12-byte header, with num_buffers. */
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_len)) {
		pr_errno("net: %s: TUNSETVNETHDRSZ", nd->tap_desc);
		close(fd);
		return -ENODEV;
	}
	/*
	 * Can the tap hand the guest packets with a partial checksum and
	 * GSO? Then GUEST_* may be offered; until the guest accepts them
	 * the tap does all of it itself.
	 */
	nd->tap_offloads = !ioctl(fd, TUNSETOFFLOAD, TUN_OFFLOADS);
	if (ioctl(fd, TUNSETOFFLOAD, 0)) {
		pr_errno("net: %s: TUNSETOFFLOAD", nd->tap_desc);
		close(fd);
		return -ENODEV;
	}
	nd->tap_fd = fd;
	return 0;
}

int net_tap__set_offload(struct net_dev *nd, uint64_t features)
{
	unsigned int off = 0;

	if (features & BIT_ULL(VIRTIO_NET_F_GUEST_CSUM)) {
		off |= TUN_F_CSUM;
		if (features & BIT_ULL(VIRTIO_NET_F_GUEST_TSO4))
			off |= TUN_F_TSO4;
		if (features & BIT_ULL(VIRTIO_NET_F_GUEST_TSO6))
			off |= TUN_F_TSO6;
		if ((off & (TUN_F_TSO4 | TUN_F_TSO6)) &&
		    (features & BIT_ULL(VIRTIO_NET_F_GUEST_ECN)))
			off |= TUN_F_TSO_ECN;
	}
	if (ioctl(nd->tap_fd, TUNSETOFFLOAD, off)) {
		int err = errno;

		pr_errno("net: %s: TUNSETOFFLOAD %#x", nd->tap_desc, off);
		return -err;
	}
	return 0;
}

void net_tap__close(struct net_dev *nd)
{
	if (nd->tap_fd >= 0)
		close(nd->tap_fd);
	nd->tap_fd = -1;
}
