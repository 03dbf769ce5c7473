/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one place where kvnet adapts to kernel API changes. Everything else
 * calls these helpers and stays free of version checks.
 */
#ifndef KVNET_COMPAT_H
#define KVNET_COMPAT_H

#include <linux/eventfd.h>
#include <linux/skbuff.h>
#include <linux/version.h>

/* eventfd_signal() lost its count argument in 6.8. */
static inline void kvnet_eventfd_signal(struct eventfd_ctx *ctx)
{
#if KERNEL_VERSION(6, 8, 0) <= LINUX_VERSION_CODE
	eventfd_signal(ctx);
#else
	eventfd_signal(ctx, 1);
#endif
}

/*
 * Zero-copy completion: 6.7 moved the ubuf_info callback into an ops
 * table. kvnet uses a table everywhere; before 6.7 it is our own.
 */
#if KERNEL_VERSION(6, 7, 0) <= LINUX_VERSION_CODE
#define kvnet_ubuf_ops ubuf_info_ops
#else
struct kvnet_ubuf_ops {
	void (*complete)(struct sk_buff *skb, struct ubuf_info *ubuf,
			 bool success);
};
#endif

/* A fresh zero-copy ubuf_info holding one reference. */
static inline void kvnet_ubuf_init(struct ubuf_info *ubuf,
				   const struct kvnet_ubuf_ops *ops)
{
#if KERNEL_VERSION(6, 7, 0) <= LINUX_VERSION_CODE
	ubuf->ops = ops;
#else
	ubuf->callback = ops->complete;
#endif
	refcount_set(&ubuf->refcnt, 1);
	ubuf->flags = SKBFL_ZEROCOPY_FRAG;
}

#endif /* KVNET_COMPAT_H */
