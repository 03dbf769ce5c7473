// SPDX-License-Identifier: GPL-2.0
/*
 * Busy polling, as VHOST_SET_VRING_BUSYLOOP_TIMEOUT asks for: a queue
 * handler that ran dry spins a while before the worker sleeps, watching the
 * guest's TX ring with kicks muted, so that a packet the guest queues soon
 * is taken without a kick (a VM exit) and without a wakeup. A packet from
 * the backend or any other work ends the spin: the worker runs it at once.
 */
#include <linux/sched.h>
#include <linux/sched/clock.h>

#include "kvnet.h"

/**
 * kvnet_busy_poll() - spin until the guest adds buffers to @vq
 * @vq: the queue to watch, its mutex held and its kicks muted
 * @timeout_us: the longest spin, in microseconds
 *
 * Stops early when the worker has other work queued, another task wants
 * the CPU or a caller waits for a queue mutex: the spin only uses time
 * nothing else asked for.
 *
 * Return: true if @vq has new buffers (or failed meanwhile, which the
 * caller finds when it takes the next chain).
 */
bool kvnet_busy_poll(struct kvnet_vq *vq, u32 timeout_us)
{
	struct kvnet_dev *dev = vq->dev;
	u64 end = local_clock() + (u64)timeout_us * NSEC_PER_USEC;

	vq->stats.busy_polls++;
	for (;;) {
		if (!kvnet_vq_avail_empty(vq)) {
			if (!vq->broken)
				vq->stats.busy_poll_hits++;
			return true;
		}
		if (!llist_empty(&dev->work_list) || need_resched() ||
		    atomic_read(&dev->busy_poll_waiters) ||
		    local_clock() >= end)
			return false;
		cpu_relax();
	}
}

/*
 * Around taking a queue mutex from outside the worker (ioctls, release,
 * counters): a spin holding it gives way instead of making the caller
 * wait out its timeout.
 */
void kvnet_busy_poll_wait_begin(struct kvnet_dev *dev)
{
	atomic_inc(&dev->busy_poll_waiters);
}

void kvnet_busy_poll_wait_end(struct kvnet_dev *dev)
{
	atomic_dec(&dev->busy_poll_waiters);
}
