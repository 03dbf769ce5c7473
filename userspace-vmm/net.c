// SPDX-License-Identifier: GPL-2.0
/* Placeholder until the virtio-net device lands: --net is refused. */
#include <errno.h>

#include "vmm/net.h"
#include "vmm/util.h"

int net__parse(const char *arg, struct net_opts *opts)
{
	(void)arg;
	(void)opts;
	pr_err("--net: the network device is not built yet");
	return -EINVAL;
}

int net__init(struct vm *vm, const struct net_opts *opts)
{
	(void)vm;
	(void)opts;
	return -ENOSYS;
}

void net__exit(void)
{
}

void net__print_stats(FILE *out)
{
	(void)out;
}
