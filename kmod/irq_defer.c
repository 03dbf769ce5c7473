// SPDX-License-Identifier: GPL-2.0
/*
 * Deferred TX completion interrupts.
 *
 * A Linux guest's virtio-net driver reaps its TX completions from its RX
 * poll as well as from the TX interrupt. While packets also flow towards
 * the guest (TCP's ACK clock, a request/response exchange), the RX
 * interrupt comes anyway, so the TX one is mostly redundant, and in a VM
 * every interrupt costs exits: the injection and the EOI. So while RX is
 * active, a TX interrupt waits until tx_irq_defer_us after the next RX
 * delivery (at most KVNET_DEFER_MAX_WAITS times that from the start);
 * when the wait ends, the guest is asked again, and one that has reaped
 * meanwhile (it moved used_event past the entries) gets no interrupt at
 * all. Without RX traffic, or without EVENT_IDX (which is how we learn
 * that the guest reaped), the interrupt goes at once, as vhost-net sends
 * it.
 */
#include <linux/hrtimer.h>
#include <linux/jiffies.h>
#include <linux/moduleparam.h>

#include "kvnet.h"

static unsigned int tx_irq_defer_us = 2000;
module_param(tx_irq_defer_us, uint, 0644);
MODULE_PARM_DESC(tx_irq_defer_us,
		 "Wait of a TX completion interrupt after the next RX delivery, while RX is active; 0 sends it at once (default 2000)");

/* RX counts as active for this long after it last delivered a packet. */
#define KVNET_RX_ACTIVE_MS 10
/* The longest wait, in units of tx_irq_defer_us. */
#define KVNET_DEFER_MAX_WAITS 8

static enum hrtimer_restart kvnet_irq_defer_expired(struct hrtimer *timer)
{
	struct kvnet_irq_defer *d = container_of(timer, struct kvnet_irq_defer,
						 timer);

	kvnet_work_queue(d->vq->dev, &d->work);
	return HRTIMER_NORESTART;
}

static void kvnet_irq_defer_work(struct kvnet_work *work)
{
	struct kvnet_irq_defer *d = container_of(work, struct kvnet_irq_defer,
						 work);

	mutex_lock(&d->vq->mutex);
	kvnet_irq_defer_flush(d);
	mutex_unlock(&d->vq->mutex);
}

void kvnet_irq_defer_init(struct kvnet_irq_defer *d, struct kvnet_vq *vq)
{
	d->vq = vq;
	d->pending = false;
	d->deadline = 0;
	d->rx_active_until = jiffies;
	hrtimer_init(&d->timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL);
	d->timer.function = kvnet_irq_defer_expired;
	kvnet_work_init(&d->work, kvnet_irq_defer_work);
}

/*
 * Called by the RX side when it delivered packets: a wait in progress
 * now ends after the guest has had time to poll them. Without the TX vq
 * mutex: re-arming a wait that just ended only runs the work for nothing.
 */
void kvnet_irq_defer_rx_active(struct kvnet_irq_defer *d)
{
	u64 us = READ_ONCE(tx_irq_defer_us);
	ktime_t end;

	WRITE_ONCE(d->rx_active_until,
		   jiffies + msecs_to_jiffies(KVNET_RX_ACTIVE_MS));
	if (!READ_ONCE(d->pending))
		return;
	end = ktime_add_us(ktime_get(), us);
	hrtimer_start(&d->timer, min(end, READ_ONCE(d->deadline)),
		      HRTIMER_MODE_ABS);
}

/*
 * End a wait without interrupting; a timer that fires meanwhile only runs
 * the work for nothing. Whether one was pending. Context: vq mutex held.
 */
static bool kvnet_irq_defer_end(struct kvnet_irq_defer *d)
{
	if (!d->pending)
		return false;
	WRITE_ONCE(d->pending, false);
	hrtimer_try_to_cancel(&d->timer);
	return true;
}

/**
 * kvnet_irq_defer_notify() - used entries were added: interrupt now or later
 * @d: the TX queue's deferral
 *
 * Context: vq mutex held, in the worker.
 */
void kvnet_irq_defer_notify(struct kvnet_irq_defer *d)
{
	struct kvnet_vq *vq = d->vq;
	u64 us = READ_ONCE(tx_irq_defer_us);

	if (!us || !kvnet_vq_has(vq, VIRTIO_RING_F_EVENT_IDX) ||
	    time_after(jiffies, READ_ONCE(d->rx_active_until))) {
		/* One notify covers a wait in progress too. */
		kvnet_irq_defer_end(d);
		kvnet_vq_notify(vq);
		return;
	}
	/* Entries added while one wait runs go with it: no later deadline. */
	if (d->pending)
		return;
	/* Until the next RX delivery shortens it. */
	WRITE_ONCE(d->deadline,
		   ktime_add_us(ktime_get(), us * KVNET_DEFER_MAX_WAITS));
	WRITE_ONCE(d->pending, true);
	hrtimer_start(&d->timer, d->deadline, HRTIMER_MODE_ABS);
}

/**
 * kvnet_irq_defer_flush() - end a wait: interrupt if the guest still wants it
 * @d: the TX queue's deferral
 *
 * Context: vq mutex held, in the worker.
 */
void kvnet_irq_defer_flush(struct kvnet_irq_defer *d)
{
	struct kvnet_vq *vq = d->vq;

	if (kvnet_irq_defer_end(d) && vq->private && !vq->stopped &&
	    !vq->broken)
		kvnet_vq_notify(vq);
}

/*
 * Forget a wait without interrupting: the queue is being reset. A queued
 * work item finds nothing pending.
 *
 * Context: vq mutex held.
 */
void kvnet_irq_defer_cancel(struct kvnet_irq_defer *d)
{
	WRITE_ONCE(d->pending, false);
	hrtimer_cancel(&d->timer);
}
