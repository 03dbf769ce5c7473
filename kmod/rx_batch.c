// SPDX-License-Identifier: GPL-2.0
/*
 * RX batching: take packets from the backend's ptr_ring (tun and macvtap
 * both queue toward their reader in one) many at a time, instead of one
 * ring lock round trip per packet, and hand each to the backend's
 * recvmsg() through msg_control, which both backends accept.
 */
#include <linux/if_tap.h>
#include <linux/if_tun.h>
#include <linux/net.h>
#include <linux/skb_array.h>
#include <net/xdp.h>

#include "kvnet.h"

void kvnet_rx_batch_attach(struct kvnet_rx_batch *b, struct socket *sock)
{
	struct ptr_ring *ring;

	b->head = 0;
	b->tail = 0;
	b->ring = NULL;
	if (!sock)
		return;
	ring = tun_get_tx_ring(sock->file);
	if (IS_ERR(ring))
		ring = tap_get_ptr_ring(sock->file);
	b->ring = IS_ERR(ring) ? NULL : ring;
}

/* Give back what we took but did not receive, so nothing is lost. */
void kvnet_rx_batch_detach(struct kvnet_rx_batch *b)
{
	if (b->ring && b->head != b->tail)
		ptr_ring_unconsume(b->ring, b->queue + b->head,
				   b->tail - b->head, tun_ptr_free);
	b->head = 0;
	b->tail = 0;
	b->ring = NULL;
}

static int kvnet_rx_ptr_len(void *ptr)
{
	if (tun_is_xdp_frame(ptr))
		return tun_ptr_to_xdp(ptr)->len;
	/* The backend inserts a VLAN tag kept out of line. */
	return __skb_array_len_with_tag(ptr);
}

/* Length of the next packet, 0 when the backend has none. */
int kvnet_rx_batch_peek_len(struct kvnet_rx_batch *b, struct socket *sock)
{
	if (!b->ring)
		return sock->ops->peek_len(sock);

	if (b->head == b->tail) {
		b->head = 0;
		b->tail = ptr_ring_consume_batched(b->ring, b->queue,
						   ARRAY_SIZE(b->queue));
		if (!b->tail)
			return 0;
	}
	return kvnet_rx_ptr_len(b->queue[b->head]);
}

/*
 * The packet peek_len() described, for msg_control of the next recvmsg(),
 * which consumes it whatever it returns; NULL without a ring.
 */
void *kvnet_rx_batch_take(struct kvnet_rx_batch *b)
{
	if (!b->ring || b->head == b->tail)
		return NULL;
	return b->queue[b->head++];
}
