/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The virtio-net device as main.c sees it: parse a --net option, create
 * the device on the PCI bus, tear it down, print its statistics.
 */
#ifndef VMM__NET_H
#define VMM__NET_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <net/if.h>

struct vm;

enum net_backend_kind {
	NET_BACKEND_AUTO,	/* kvnet, else vhost, else user */
	NET_BACKEND_USER,	/* the VMM serves the rings */
	NET_BACKEND_VHOST,	/* /dev/vhost-net */
	NET_BACKEND_KVNET,	/* /dev/kvnet */
};

struct net_opts {
	char ifname[IFNAMSIZ];	/* tap=NAME or macvtap=NAME */
	char tap_path[64];	/* macvtap given as /dev/tapN */
	bool macvtap;
	bool have_mac;
	uint8_t mac[6];
	enum net_backend_kind backend;
	unsigned int poll_us;	/* kernel backends' busy poll, 0: none */
	bool have_poll_us;
};

/* The longest busy poll poll-us= takes, as a bound on typos. */
#define NET_POLL_US_MAX		1000000

/*
 * Parse "tap=NAME[,mac=xx:xx:xx:xx:xx:xx][,backend=user|vhost|kvnet]
 * [,poll-us=N]"
 * (or macvtap=NAME, or macvtap=/dev/tapN). Opens nothing. On error prints
 * what is wrong and returns -EINVAL.
 */
int net__parse(const char *arg, struct net_opts *opts);

/*
 * Open the tap and the backend, put the device on the PCI bus. Prints the
 * backend chosen. 0 or -errno, with a message printed.
 */
int net__init(struct vm *vm, const struct net_opts *opts);

/* Take the rings back from a kernel backend, close everything. */
void net__exit(void);

/* The --stats lines of the device: per queue packets/bytes, kicks, calls. */
void net__print_stats(FILE *out);

#endif /* VMM__NET_H */
