/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one place where kvnet adapts to kernel API changes. Everything else
 * calls these helpers and stays free of version checks.
 */
#ifndef KVNET_COMPAT_H
#define KVNET_COMPAT_H

#include <linux/eventfd.h>
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

#endif /* KVNET_COMPAT_H */
