// SPDX-License-Identifier: GPL-2.0
/*
 * The virtio-net device: the --net option, the choice of backend, the
 * features and configuration the guest sees, and the driver's DRIVER_OK
 * and reset handed on to the backend.
 */
#include <ctype.h>
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/virtio_ids.h>

#include "vmm/kvm.h"
#include "vmm/net.h"
#include "vmm/net_backend.h"
#include "vmm/util.h"

#define PCI_CLASS_NETWORK_ETHERNET	0x020000
#define NET_KVNET_PATH			"/dev/kvnet"
#define NET_VHOST_PATH			"/dev/vhost-net"

/* Locally administered, unicast: 02 then "kvnet". */
static const uint8_t net_default_mac[6] = { 0x02, 0x6b, 0x76, 0x6e, 0x65,
					    0x74 };

/* The one device; net__print_stats may run after net__exit. */
static struct net_dev net_dev = { .tap_fd = -1 };
static bool net_active;
static bool net_have_stats;
static bool net_final_valid;
static struct net_queue_stats net_final[NET_VQ_MAX];

static int net__parse_mac(const char *s, uint8_t mac[6])
{
	static const uint8_t zero[6];
	unsigned int i;

	if (strlen(s) != 17)
		return -EINVAL;
	for (i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			return -EINVAL;
	for (i = 0; i < 6; i++) {
		char byte[3] = { s[3 * i], s[3 * i + 1], 0 };

		mac[i] = strtoul(byte, NULL, 16);
	}
	/* The guest's own address: unicast, not all zeros. */
	if ((mac[0] & 1) || !memcmp(mac, zero, 6))
		return -EINVAL;
	return 0;
}

/* An interface name as the kernel takes it (dev_valid_name). */
static bool net__valid_ifname(const char *name)
{
	const char *c;

	if (!*name || strlen(name) >= IFNAMSIZ || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return false;
	for (c = name; *c; c++)
		if (*c == '/' || *c == ':' || isspace((unsigned char)*c))
			return false;
	return true;
}

static int net__parse_tap(const char *key, const char *val,
			  struct net_opts *opts)
{
	bool macvtap = !strcmp(key, "macvtap");

	if (opts->ifname[0] || opts->tap_path[0]) {
		pr_err("--net: only one of tap= and macvtap=");
		return -EINVAL;
	}
	/* A path names a macvtap's character device, whatever the key. */
	if (val[0] == '/') {
		if (strlen(val) >= sizeof(opts->tap_path)) {
			pr_err("--net: %s=%s: path too long", key, val);
			return -EINVAL;
		}
		strcpy(opts->tap_path, val);
		opts->macvtap = true;
		return 0;
	}
	if (!net__valid_ifname(val)) {
		pr_err("--net: %s=%s: not an interface name (1 to %d characters, no '/', ':' or blanks)",
		       key, val, IFNAMSIZ - 1);
		return -EINVAL;
	}
	strcpy(opts->ifname, val);
	opts->macvtap = macvtap;
	return 0;
}

static int net__parse_backend(const char *val, struct net_opts *opts)
{
	if (!strcmp(val, "user")) {
		opts->backend = NET_BACKEND_USER;
	} else if (!strcmp(val, "vhost")) {
		opts->backend = NET_BACKEND_VHOST;
	} else if (!strcmp(val, "kvnet")) {
		opts->backend = NET_BACKEND_KVNET;
	} else {
		pr_err("--net: backend=%s: not one of user, vhost, kvnet", val);
		return -EINVAL;
	}
	return 0;
}

static int net__parse_poll_us(const char *val, struct net_opts *opts)
{
	unsigned long us;
	char *end;

	errno = 0;
	us = strtoul(val, &end, 10);
	if (!isdigit((unsigned char)val[0]) || *end || errno ||
	    us > NET_POLL_US_MAX) {
		pr_err("--net: poll-us=%s: expected microseconds, 0 to %d",
		       val, NET_POLL_US_MAX);
		return -EINVAL;
	}
	opts->poll_us = us;
	return 0;
}

int net__parse(const char *arg, struct net_opts *opts)
{
	char buf[256], *item, *save = NULL;
	bool have_backend = false;
	int ret = 0;

	memset(opts, 0, sizeof(*opts));
	opts->backend = NET_BACKEND_AUTO;
	if (strlen(arg) >= sizeof(buf)) {
		pr_err("--net: option too long");
		return -EINVAL;
	}
	strcpy(buf, arg);

	for (item = strtok_r(buf, ",", &save); item && !ret;
	     item = strtok_r(NULL, ",", &save)) {
		char *val = strchr(item, '=');

		if (!val || !val[1]) {
			pr_err("--net: '%s': expected key=value", item);
			return -EINVAL;
		}
		*val++ = 0;
		if (!strcmp(item, "tap") || !strcmp(item, "macvtap")) {
			ret = net__parse_tap(item, val, opts);
		} else if (!strcmp(item, "mac")) {
			if (opts->have_mac) {
				pr_err("--net: mac= given twice");
				return -EINVAL;
			}
			ret = net__parse_mac(val, opts->mac);
			if (ret)
				pr_err("--net: mac=%s: expected a unicast address xx:xx:xx:xx:xx:xx",
				       val);
			opts->have_mac = true;
		} else if (!strcmp(item, "backend")) {
			if (have_backend) {
				pr_err("--net: backend= given twice");
				return -EINVAL;
			}
			ret = net__parse_backend(val, opts);
			have_backend = true;
		} else if (!strcmp(item, "poll-us")) {
			if (opts->have_poll_us) {
				pr_err("--net: poll-us= given twice");
				return -EINVAL;
			}
			ret = net__parse_poll_us(val, opts);
			opts->have_poll_us = true;
		} else {
			pr_err("--net: unknown key '%s' (tap, macvtap, mac, backend, poll-us)",
			       item);
			return -EINVAL;
		}
	}
	if (ret)
		return -EINVAL;
	if (opts->poll_us && opts->backend == NET_BACKEND_USER) {
		pr_err("--net: poll-us= is for the kernel backends (vhost, kvnet)");
		return -EINVAL;
	}
	if (!opts->ifname[0] && !opts->tap_path[0]) {
		pr_err("--net: tap=NAME or macvtap=NAME|/dev/tapN is required");
		return -EINVAL;
	}
	return 0;
}

static const struct net_backend_ops *net__backend(enum net_backend_kind kind,
						  bool *by_default)
{
	*by_default = kind == NET_BACKEND_AUTO;
	if (kind == NET_BACKEND_AUTO) {
		if (!access(NET_KVNET_PATH, F_OK))
			kind = NET_BACKEND_KVNET;
		else if (!access(NET_VHOST_PATH, F_OK))
			kind = NET_BACKEND_VHOST;
		else
			kind = NET_BACKEND_USER;
	}
	switch (kind) {
	case NET_BACKEND_KVNET:
		return &net_kvnet_ops;
	case NET_BACKEND_VHOST:
		return &net_vhost_ops;
	default:
		return &net_user_ops;
	}
}

/* Drop the offloads whose prerequisites are gone (virtio 1.x, 5.1.3.1). */
static uint64_t net__consistent(uint64_t f)
{
	if (!(f & BIT_ULL(VIRTIO_NET_F_CSUM)))
		f &= ~(BIT_ULL(VIRTIO_NET_F_HOST_TSO4) |
		       BIT_ULL(VIRTIO_NET_F_HOST_TSO6));
	if (!(f & (BIT_ULL(VIRTIO_NET_F_HOST_TSO4) |
		   BIT_ULL(VIRTIO_NET_F_HOST_TSO6))))
		f &= ~BIT_ULL(VIRTIO_NET_F_HOST_ECN);
	if (!(f & BIT_ULL(VIRTIO_NET_F_GUEST_CSUM)))
		f &= ~(BIT_ULL(VIRTIO_NET_F_GUEST_TSO4) |
		       BIT_ULL(VIRTIO_NET_F_GUEST_TSO6));
	if (!(f & (BIT_ULL(VIRTIO_NET_F_GUEST_TSO4) |
		   BIT_ULL(VIRTIO_NET_F_GUEST_TSO6))))
		f &= ~BIT_ULL(VIRTIO_NET_F_GUEST_ECN);
	return f;
}

static int net__start(struct virtio_pci *vp)
{
	struct net_dev *nd = vp->priv;
	int ret;

	ret = net_tap__set_offload(nd, vp->driver_features);
	if (ret)
		return ret;
	return nd->ops->start(nd);
}

static void net__stop(struct virtio_pci *vp)
{
	struct net_dev *nd = vp->priv;

	nd->ops->stop(nd);
	/* No more GSO toward a driver that may not take it next time. */
	net_tap__set_offload(nd, 0);
}

static const struct virtio_pci_ops net_virtio_ops = {
	.start = net__start,
	.stop = net__stop,
};

int net__init(struct vm *vm, const struct net_opts *opts)
{
	struct net_dev *nd = &net_dev;
	uint64_t backend_features, tap_features, features;
	bool by_default;
	int ret;

	if (net_active) {
		pr_err("net: only one network device");
		return -EBUSY;
	}
	nd->vm = vm;
	nd->opts = *opts;
	nd->ops = net__backend(opts->backend, &by_default);
	if (opts->poll_us && nd->ops == &net_user_ops) {
		pr_err("net: poll-us=: no kernel backend here (%s, %s) to busy poll",
		       NET_KVNET_PATH, NET_VHOST_PATH);
		return -EOPNOTSUPP;
	}

	ret = net_tap__open(nd);
	if (ret)
		return ret;
	ret = nd->ops->open(nd, &backend_features);
	if (ret)
		goto err_tap;

	tap_features = NET_RING_FEATURES | NET_HOST_OFFLOADS |
		       (nd->tap_offloads ? NET_GUEST_OFFLOADS : 0);
	features = NET_CONFIG_FEATURES |
		   net__consistent(backend_features & tap_features &
				   (NET_RING_FEATURES | NET_OFFLOADS));
	if (!(features & BIT_ULL(VIRTIO_F_VERSION_1))) {
		pr_err("net: backend %s does not support VIRTIO_F_VERSION_1",
		       nd->ops->name);
		ret = -EOPNOTSUPP;
		goto err_backend;
	}

	memcpy(nd->config.mac, opts->have_mac ? opts->mac : net_default_mac,
	       sizeof(nd->config.mac));
	nd->config.status = htole16(VIRTIO_NET_S_LINK_UP);
	nd->config.max_virtqueue_pairs = htole16(1);
	ret = virtio_pci__init(&nd->vp, vm, NET_NAME, VIRTIO_ID_NET,
			       PCI_CLASS_NETWORK_ETHERNET, NET_VQ_MAX,
			       NET_QUEUE_SIZE, features,
			       (const uint8_t *)&nd->config,
			       offsetof(struct virtio_net_config, mtu),
			       &net_virtio_ops, nd);
	if (ret)
		goto err_backend;

	pr_info("net: %s, backend %s%s, mac %02x:%02x:%02x:%02x:%02x:%02x",
		nd->tap_desc, nd->ops->name,
		by_default ? " (the default here)" : "",
		nd->config.mac[0], nd->config.mac[1], nd->config.mac[2],
		nd->config.mac[3], nd->config.mac[4], nd->config.mac[5]);
	net_active = true;
	net_have_stats = true;
	return 0;

err_backend:
	nd->ops->close(nd);
err_tap:
	net_tap__close(nd);
	return ret;
}

void net__exit(void)
{
	struct net_dev *nd = &net_dev;

	if (!net_active)
		return;
	virtio_pci__exit(&nd->vp);
	/* The counters die with a kernel backend's fd: keep them. */
	net_final_valid = nd->ops->stats(nd, net_final);
	nd->ops->close(nd);
	net_tap__close(nd);
	net_active = false;
}

void net__print_stats(FILE *out)
{
	struct net_dev *nd = &net_dev;
	struct net_queue_stats live[NET_VQ_MAX], *st = net_final;
	bool valid = net_final_valid;
	unsigned int q;

	if (!net_have_stats)
		return;
	if (net_active) {
		memset(live, 0, sizeof(live));
		valid = nd->ops->stats(nd, live);
		st = live;
	}
	fprintf(out, "net: %s, backend %s\n", nd->tap_desc, nd->ops->name);
	if (!valid) {
		fprintf(out, "net: backend %s exposes no per-queue counters\n",
			nd->ops->name);
		return;
	}
	for (q = 0; q < NET_VQ_MAX; q++)
		fprintf(out, "net: %s packets %llu bytes %llu kicks %llu calls %llu dropped %llu errors %llu\n",
			net__queue_name(q),
			(unsigned long long)st[q].packets,
			(unsigned long long)st[q].bytes,
			(unsigned long long)st[q].kicks,
			(unsigned long long)st[q].calls,
			(unsigned long long)st[q].dropped,
			(unsigned long long)st[q].errors);
}
