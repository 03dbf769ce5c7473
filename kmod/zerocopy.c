// SPDX-License-Identifier: GPL-2.0
/*
 * Zero-copy TX: a large packet goes to the backend with the guest's pages
 * pinned into the skb instead of copied, and the skb's ubuf_info callback
 * says when the host is done with them.
 *
 * Completions go back to the used ring in the order they come, which the
 * split ring allows: a packet the host holds long does not hold back the
 * ones behind it (vhost-net returns them in ring order, hence its
 * head-of-line blocking). With every slot in flight, packets are copied:
 * the ring never waits on the host.
 */
#include <linux/moduleparam.h>
#include <linux/rcupdate.h>
#include <linux/skbuff.h>

#include "compat.h"
#include "kvnet.h"

static unsigned int zerocopy_threshold = 16384;
module_param(zerocopy_threshold, uint, 0644);
MODULE_PARM_DESC(zerocopy_threshold,
		 "TX packets of at least this many bytes are sent without copying; 0 turns zero-copy off (default 16384)");

void kvnet_zc_init(struct kvnet_zc *zc, struct kvnet_vq *vq)
{
	unsigned int i;

	zc->vq = vq;
	init_llist_head(&zc->done);
	atomic_set(&zc->inflight, 0);
	zc->callbacks = false;
	init_waitqueue_head(&zc->idle);
	for (i = 0; i < KVNET_ZC_SLOTS; i++) {
		zc->slots[i].zc = zc;
		zc->free[i] = i;
	}
	zc->nfree = KVNET_ZC_SLOTS;
	zc->window_packets = 0;
	zc->window_sent = 0;
	zc->window_copied = 0;
}

/* Context: any; the last reference to the skb's frags was dropped. */
static void kvnet_zc_complete(struct sk_buff *skb, struct ubuf_info *ubuf,
			      bool success)
{
	struct kvnet_zc_slot *slot = container_of(ubuf, struct kvnet_zc_slot,
						  ubuf);
	struct kvnet_zc *zc = slot->zc;

	/* Clones share the ubuf: only the last one completes it. */
	if (!refcount_dec_and_test(&ubuf->refcnt))
		return;

	slot->success = success;
	/* Seen by kvnet_zc_taken() when the backend failed after all. */
	WRITE_ONCE(slot->released, true);
	WRITE_ONCE(zc->callbacks, true);

	/* kvnet_zc_wait_idle() frees nothing before this section ends. */
	rcu_read_lock();
	llist_add(&slot->node, &zc->done);
	kvnet_work_queue(zc->vq->dev, &zc->vq->poll.work);
	if (atomic_dec_and_test(&zc->inflight))
		wake_up(&zc->idle);
	rcu_read_unlock();
}

static const struct kvnet_ubuf_ops kvnet_zc_ops = {
	.complete = kvnet_zc_complete,
};

/**
 * kvnet_zc_get() - a ubuf_info for sending chain @head without copying
 * @zc: the TX queue's zero-copy state
 * @head: the chain's head, for its used entry
 * @len: the packet's length
 *
 * Context: vq mutex held.
 * Return: the ubuf_info to pass in a TUN_MSG_UBUF, or NULL to copy.
 */
struct ubuf_info *kvnet_zc_get(struct kvnet_zc *zc, u16 head, size_t len)
{
	unsigned int threshold = READ_ONCE(zerocopy_threshold);
	struct kvnet_zc_slot *slot;

	if (!threshold || len < threshold)
		return NULL;

	/*
	 * When the host copies what we send anyway (local delivery, packet
	 * taps, too many fragments), pinning is pure cost: copy while more
	 * than 1 in KVNET_ZC_COPIED_RATIO came back copied, and try again
	 * every KVNET_ZC_WINDOW packets, as vhost-net does with its error
	 * count.
	 */
	if (++zc->window_packets >= KVNET_ZC_WINDOW) {
		zc->window_packets = 0;
		zc->window_sent = 0;
		zc->window_copied = 0;
	}
	if (zc->window_copied * KVNET_ZC_COPIED_RATIO > zc->window_sent)
		return NULL;
	if (!zc->nfree)
		return NULL;
	zc->window_sent++;

	slot = &zc->slots[zc->free[--zc->nfree]];
	slot->head = head;
	slot->released = false;
	kvnet_ubuf_init(&slot->ubuf, &kvnet_zc_ops);
	atomic_inc(&zc->inflight);
	return &slot->ubuf;
}

static void kvnet_zc_free_slot(struct kvnet_zc *zc, struct kvnet_zc_slot *slot)
{
	zc->free[zc->nfree++] = slot - zc->slots;
}

/**
 * kvnet_zc_taken() - did the backend take the packet sent with @ubuf?
 * @zc: the TX queue's zero-copy state
 * @ubuf: from kvnet_zc_get()
 * @sent: what sendmsg() returned
 *
 * A backend can fail after it attached @ubuf to an skb (tun does, for a
 * device that is down): its callback has then run already.
 *
 * Context: vq mutex held.
 * Return: true if the callback has run or will, and the chain reaches the
 * used ring through kvnet_zc_reap(); false if the slot was freed here and
 * the caller deals with the chain.
 */
bool kvnet_zc_taken(struct kvnet_zc *zc, struct ubuf_info *ubuf, int sent)
{
	struct kvnet_zc_slot *slot = container_of(ubuf, struct kvnet_zc_slot,
						  ubuf);

	if (sent >= 0 || READ_ONCE(slot->released))
		return true;
	kvnet_zc_free_slot(zc, slot);
	atomic_dec(&zc->inflight);
	return false;
}

/**
 * kvnet_zc_reap() - collect completed packets
 * @zc: the TX queue's zero-copy state
 * @heads: gets the completed chains' heads
 * @max: room in @heads
 *
 * Context: vq mutex held.
 * Return: how many heads were stored.
 */
unsigned int kvnet_zc_reap(struct kvnet_zc *zc, u16 *heads, unsigned int max)
{
	struct kvnet_zc_slot *slot, *next;
	struct llist_node *done;
	unsigned int n = 0;

	done = llist_del_all(&zc->done);
	llist_for_each_entry_safe(slot, next, done, node) {
		if (n == max) {
			/* Keep the rest for the next call. */
			llist_add(&slot->node, &zc->done);
			continue;
		}
		heads[n++] = slot->head;
		if (slot->success)
			zc->vq->stats.zerocopy_packets++;
		else
			zc->window_copied++;
		kvnet_zc_free_slot(zc, slot);
	}
	return n;
}

static bool kvnet_zc_pending(struct kvnet_zc *zc)
{
	return !llist_empty(&zc->done);
}

/* Every slot is out but some came back: reaping would free them. */
bool kvnet_zc_full(struct kvnet_zc *zc)
{
	return !zc->nfree && kvnet_zc_pending(zc);
}

/*
 * Wait until the host has released every packet sent without copying.
 * vhost-net waits the same way: until then the pages stay pinned and the
 * callbacks still reference @zc.
 *
 * Context: process context.
 */
void kvnet_zc_wait_idle(struct kvnet_zc *zc)
{
	wait_event(zc->idle, !atomic_read(&zc->inflight));
	/* Pairs with the full barrier of atomic_dec_and_test() above. */
	smp_rmb();
	if (READ_ONCE(zc->callbacks)) {
		/* Let the last callbacks leave their read-side section. */
		synchronize_rcu();
		WRITE_ONCE(zc->callbacks, false);
	}
}
