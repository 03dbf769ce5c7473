// SPDX-License-Identifier: GPL-2.0
/*
 * Backend "user": the VMM serves the rings itself, the Firecracker way.
 * One thread waits in epoll on the two kick eventfds and the tap. TX
 * writes each chain to the tap as it is (header first); RX reads a packet
 * from the tap into a buffer of the device, then copies it into as many
 * guest buffers as it needs (mergeable RX buffers) or into one. Kicks and
 * interrupts follow the driver's wishes (EVENT_IDX or the flags); the
 * interrupt is the write of the queue's MSI-X eventfd, a KVM irqfd.
 *
 * A ring that breaks a rule stops that queue and asks the driver for a
 * reset (DEVICE_NEEDS_RESET); the other queue keeps going until then.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "vmm/kvm.h"
#include "vmm/net_backend.h"
#include "vmm/util.h"
#include "vmm/vring.h"

/* Chains a queue serves before the other queue gets its turn. */
#define NET_USER_BUDGET		256
/* The longest TX chain: as many buffers as the ring, at most UIO_MAXIOV. */
#define NET_USER_TX_IOV		NET_QUEUE_SIZE
/* All buffers one RX packet may take: room for four longest chains. */
#define NET_USER_RX_IOV		(4 * NET_QUEUE_SIZE)
/* The biggest packet a tap hands over: a 64 KiB GSO frame, its header. */
#define NET_USER_RX_BUF		(NET_HDR_LEN + 65536 + 256)

/* Counters: written by the thread only, read by anyone. */
#define STAT_ADD(field, n) \
	__atomic_store_n(&(field), (field) + (n), __ATOMIC_RELAXED)

enum net_user_event { EV_STOP, EV_KICK_RX, EV_KICK_TX, EV_TAP };

struct net_user_queue {
	struct vring_queue vr;
	bool active;			/* enabled by the driver */
	int kick_fd;
	int call_fd;			/* -1: the driver wants no interrupts */
	struct net_queue_stats st;	/* since the VMM started */
};

struct net_user_rx_chain {
	uint16_t head;
	unsigned int iov;		/* first iovec in rx_iov */
	unsigned int nr;
};

struct net_user {
	struct net_dev *nd;
	pthread_t thread;
	bool running;
	int stop_fd;
	int epoll_fd;
	bool tap_polled;
	bool mrg_rxbuf;
	uint64_t features;		/* negotiated */
	struct net_user_queue q[NET_VQ_MAX];

	/* A packet read from the tap that waits for guest buffers. */
	uint8_t *rx_pkt;
	size_t rx_len;
	bool read_error_reported;

	struct iovec tx_iov[NET_USER_TX_IOV];
	struct iovec rx_iov[NET_USER_RX_IOV];
	struct net_user_rx_chain rx_chain[NET_QUEUE_SIZE];
};

static void net_user__fail(struct net_user *nu, struct net_user_queue *q)
{
	virtio_pci__report(&nu->nd->vp, "%s queue: %s; the device needs a reset",
			   net__queue_name(q - nu->q), q->vr.error);
	STAT_ADD(q->st.errors, 1);
	virtio_pci__needs_reset(&nu->nd->vp);
}

static void net_user__poll_tap(struct net_user *nu, bool on)
{
	struct epoll_event ev = { .data.u32 = EV_TAP };

	/* Packets for a broken RX ring wait in the tap until the reset. */
	if (nu->q[NET_VQ_RX].vr.broken)
		on = false;
	if (on == nu->tap_polled)
		return;
	ev.events = on ? EPOLLIN : 0;
	epoll_ctl(nu->epoll_fd, EPOLL_CTL_MOD, nu->nd->tap_fd, &ev);
	nu->tap_polled = on;
}

static void net_user__call(struct net_user_queue *q)
{
	vring__publish(&q->vr);
	if (q->call_fd >= 0 && vring__need_call(&q->vr)) {
		eventfd_write(q->call_fd, 1);
		STAT_ADD(q->st.calls, 1);
	}
}

/* Guest -> tap. true when the budget ran out with chains left. */
static bool net_user__tx(struct net_user *nu)
{
	struct net_user_queue *q = &nu->q[NET_VQ_TX];
	struct vring_queue *vr = &q->vr;
	struct vring_chain c;
	unsigned int done = 0;
	bool more = false;
	ssize_t n;
	int ret;

	vring__disable_kicks(vr);
	for (;;) {
		if (done == NET_USER_BUDGET) {
			more = true;
			break;
		}
		ret = vring__pop(vr, nu->tx_iov, NET_USER_TX_IOV, &c);
		if (ret == 0) {
			if (!vring__enable_kicks(vr))
				break;
			vring__disable_kicks(vr);
			continue;
		}
		if (ret > 0 && c.nr_in)
			ret = vring__error(vr, "chain %u: a writable buffer on the transmit queue",
					   c.head);
		if (ret > 0 && c.out_len < NET_HDR_LEN)
			ret = vring__error(vr, "chain %u: %llu bytes, shorter than the header",
					   c.head, (unsigned long long)c.out_len);
		if (ret < 0) {
			net_user__fail(nu, q);
			break;
		}

		/* The tap checks the header and drops what it cannot take. */
		n = writev(nu->nd->tap_fd, nu->tx_iov, c.nr_out);
		if (n < 0) {
			STAT_ADD(q->st.dropped, 1);
		} else {
			STAT_ADD(q->st.packets, 1);
			STAT_ADD(q->st.bytes, c.out_len - NET_HDR_LEN);
		}
		vring__push(vr, c.head, 0);
		done++;
	}
	net_user__call(q);
	return more;
}

/* Read the next packet from the tap into rx_pkt: false if there is none. */
static bool net_user__rx_read(struct net_user *nu)
{
	struct net_user_queue *q = &nu->q[NET_VQ_RX];
	ssize_t n;

	for (;;) {
		n = read(nu->nd->tap_fd, nu->rx_pkt, NET_USER_RX_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno != EAGAIN && !nu->read_error_reported) {
				pr_errno("net: %s: read", nu->nd->tap_desc);
				nu->read_error_reported = true;
			}
			return false;
		}
		if ((size_t)n >= NET_HDR_LEN)
			break;
		STAT_ADD(q->st.dropped, 1);
	}
	nu->rx_len = n;
	return true;
}

/* Does the driver take what the header says (offloads it accepted)? */
static bool net_user__rx_acceptable(struct net_user *nu)
{
	const struct virtio_net_hdr *h = (const void *)nu->rx_pkt;
	uint64_t f = nu->features;

	if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	    !(f & BIT_ULL(VIRTIO_NET_F_GUEST_CSUM)))
		return false;
	switch (h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return true;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return f & BIT_ULL(VIRTIO_NET_F_GUEST_TSO4);
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return f & BIT_ULL(VIRTIO_NET_F_GUEST_TSO6);
	default:
		return false;
	}
}

/* Copy @len bytes from @src over the @nr iovecs at @iov; bytes copied. */
static size_t net_user__copy_out(const struct iovec *iov, unsigned int nr,
				 const uint8_t *src, size_t len)
{
	size_t done = 0, chunk;
	unsigned int i;

	for (i = 0; i < nr && done < len; i++) {
		chunk = iov[i].iov_len < len - done ? iov[i].iov_len :
						      len - done;
		memcpy(iov[i].iov_base, src + done, chunk);
		done += chunk;
	}
	return done;
}

/*
 * Hand the packet in rx_pkt to the guest: 1 when it is gone (delivered
 * or dropped), 0 when the guest has not posted enough buffers yet (the
 * packet waits), -EIO when the ring is broken.
 */
static int net_user__rx_deliver(struct net_user *nu)
{
	struct net_user_queue *q = &nu->q[NET_VQ_RX];
	struct virtio_net_hdr_mrg_rxbuf *hdr = (void *)nu->rx_pkt;
	struct vring_queue *vr = &q->vr;
	unsigned int nbufs = 0, niov = 0, max = nu->mrg_rxbuf ? vr->num : 1;
	uint64_t room = 0;
	struct vring_chain c;
	size_t off = 0;
	unsigned int i;
	int ret;

	if (!net_user__rx_acceptable(nu))
		goto drop;

	/* A chain has at most NET_QUEUE_SIZE buffers (the ring checks). */
	while (room < nu->rx_len && nbufs < max &&
	       niov + NET_QUEUE_SIZE <= NET_USER_RX_IOV) {
		ret = vring__pop(vr, nu->rx_iov + niov, NET_USER_RX_IOV - niov,
				 &c);
		if (ret <= 0) {
			vring__unpop(vr, nbufs);
			return ret;
		}
		if (c.nr_out)
			return vring__error(vr, "chain %u: a readable buffer on the receive queue",
					    c.head);
		nu->rx_chain[nbufs++] = (struct net_user_rx_chain){
			.head = c.head, .iov = niov, .nr = c.nr_in };
		niov += c.nr_in;
		room += c.in_len;
	}
	if (room < nu->rx_len) {
		/*
		 * One buffer without MRG_RXBUF, the whole ring, or more
		 * pieces than we gather: the packet will never fit. The
		 * buffers stay for the next one.
		 */
		vring__unpop(vr, nbufs);
		goto drop;
	}

	hdr->num_buffers = htole16(nbufs);
	for (i = 0; i < nbufs; i++) {
		struct net_user_rx_chain *rc = &nu->rx_chain[i];
		size_t n = net_user__copy_out(nu->rx_iov + rc->iov, rc->nr,
					      nu->rx_pkt + off,
					      nu->rx_len - off);

		vring__push(vr, rc->head, n);
		off += n;
	}
	STAT_ADD(q->st.packets, 1);
	STAT_ADD(q->st.bytes, nu->rx_len - NET_HDR_LEN);
	nu->rx_len = 0;
	return 1;

drop:
	STAT_ADD(q->st.dropped, 1);
	nu->rx_len = 0;
	return 1;
}

/* Tap -> guest. true when the budget ran out with packets left. */
static bool net_user__rx(struct net_user *nu)
{
	struct net_user_queue *q = &nu->q[NET_VQ_RX];
	unsigned int done = 0;
	bool more = false;
	uint16_t seen;
	int ret;

	/* Kicks matter only when the guest runs out of buffers. */
	vring__disable_kicks(&q->vr);
	for (;;) {
		if (done == NET_USER_BUDGET) {
			more = true;
			break;
		}
		if (!nu->rx_len && !net_user__rx_read(nu)) {
			net_user__poll_tap(nu, true);
			break;
		}
		seen = vring__avail_seen(&q->vr);
		ret = net_user__rx_deliver(nu);
		if (ret < 0) {
			net_user__fail(nu, q);
			net_user__poll_tap(nu, false);
			break;
		}
		if (ret > 0) {
			done++;
			continue;
		}
		/*
		 * Too few buffers for this packet, maybe some: give the guest
		 * what went so far, so it refills, and wait for it to add
		 * more than it had (not merely for buffers to be there).
		 */
		net_user__call(q);
		if (vring__enable_kicks_after(&q->vr, seen)) {
			vring__disable_kicks(&q->vr);
			continue;
		}
		net_user__poll_tap(nu, false);
		break;
	}
	net_user__call(q);
	return more;
}

static void net_user__kicked(struct net_user_queue *q)
{
	eventfd_t n;

	if (!eventfd_read(q->kick_fd, &n))
		STAT_ADD(q->st.kicks, n);
}

static void *net_user__thread(void *arg)
{
	struct net_user *nu = arg;
	struct net_user_queue *rx = &nu->q[NET_VQ_RX], *tx = &nu->q[NET_VQ_TX];
	/* Buffers may have been posted before DRIVER_OK: look once. */
	bool tx_work = tx->active, rx_work = rx->active;
	struct epoll_event ev[4];
	int i, n;

	for (;;) {
		n = epoll_wait(nu->epoll_fd, ev, ARRAY_SIZE(ev),
			       tx_work || rx_work ? 0 : -1);
		for (i = 0; i < n; i++) {
			switch (ev[i].data.u32) {
			case EV_STOP:
				return NULL;
			case EV_KICK_RX:
				net_user__kicked(rx);
				rx_work = rx->active;
				break;
			case EV_KICK_TX:
				net_user__kicked(tx);
				tx_work = tx->active;
				break;
			case EV_TAP:
				rx_work = rx->active;
				break;
			}
		}
		/* A broken ring is left alone: kicks are read, no more. */
		if (tx->vr.broken)
			tx_work = false;
		if (rx->vr.broken)
			rx_work = false;
		if (tx_work)
			tx_work = net_user__tx(nu);
		if (rx_work)
			rx_work = net_user__rx(nu);
	}
}

static int net_user__epoll_add(struct net_user *nu, int fd, uint32_t events,
			       enum net_user_event what)
{
	struct epoll_event ev = { .events = events, .data.u32 = what };

	return epoll_ctl(nu->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
}

static int net_user__start(struct net_dev *nd)
{
	struct net_user *nu = nd->backend;
	struct virtio_pci *vp = &nd->vp;
	bool event_idx, indirect;
	sigset_t all, old;
	eventfd_t stale;
	unsigned int i;
	int ret;

	event_idx = virtio_pci__negotiated(vp, VIRTIO_RING_F_EVENT_IDX);
	indirect = virtio_pci__negotiated(vp, VIRTIO_RING_F_INDIRECT_DESC);
	nu->features = vp->driver_features;
	nu->mrg_rxbuf = virtio_pci__negotiated(vp, VIRTIO_NET_F_MRG_RXBUF);
	nu->rx_len = 0;
	for (i = 0; i < NET_VQ_MAX; i++) {
		struct net_user_queue *q = &nu->q[i];
		struct virtio_queue *vq = &vp->vq[i];

		q->active = vq->enabled;
		q->kick_fd = vq->kick_fd;
		q->call_fd = virtio_pci__call_fd(vp, i);
		if (q->active)
			vring__init(&q->vr, nd->vm, vq->size, vq->desc,
				    vq->avail, vq->used, event_idx, indirect);
		else
			memset(&q->vr, 0, sizeof(q->vr));
		/* Kicks from before DRIVER_OK: the thread looks anyway. */
		eventfd_read(q->kick_fd, &stale);
	}
	eventfd_read(nu->stop_fd, &stale);

	nu->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (nu->epoll_fd < 0) {
		ret = -errno;
		pr_errno("net: epoll_create1");
		return ret;
	}
	nu->tap_polled = nu->q[NET_VQ_RX].active;
	if (net_user__epoll_add(nu, nu->stop_fd, EPOLLIN, EV_STOP) ||
	    net_user__epoll_add(nu, nu->q[NET_VQ_RX].kick_fd, EPOLLIN,
				EV_KICK_RX) ||
	    net_user__epoll_add(nu, nu->q[NET_VQ_TX].kick_fd, EPOLLIN,
				EV_KICK_TX) ||
	    net_user__epoll_add(nu, nd->tap_fd, nu->tap_polled ? EPOLLIN : 0,
				EV_TAP)) {
		ret = -errno;
		pr_errno("net: epoll_ctl");
		goto err_epoll;
	}

	/* Signals are for the VMM's own threads: the new one blocks them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&nu->thread, NULL, net_user__thread, nu);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		pr_err("net: cannot start the backend thread: %s",
		       strerror(ret));
		ret = -ret;
		goto err_epoll;
	}
	pthread_setname_np(nu->thread, "net-user");
	nu->running = true;
	return 0;

err_epoll:
	close(nu->epoll_fd);
	nu->epoll_fd = -1;
	return ret;
}

static void net_user__stop(struct net_dev *nd)
{
	struct net_user *nu = nd->backend;

	if (!nu->running)
		return;
	eventfd_write(nu->stop_fd, 1);
	pthread_join(nu->thread, NULL);
	nu->running = false;
	close(nu->epoll_fd);
	nu->epoll_fd = -1;
}

static int net_user__open(struct net_dev *nd, uint64_t *features)
{
	struct net_user *nu;

	nu = calloc(1, sizeof(*nu));
	if (!nu)
		return -ENOMEM;
	nu->rx_pkt = malloc(NET_USER_RX_BUF);
	nu->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!nu->rx_pkt || nu->stop_fd < 0) {
		pr_errno("net: backend user");
		if (nu->stop_fd >= 0)
			close(nu->stop_fd);
		free(nu->rx_pkt);
		free(nu);
		return -ENOMEM;
	}
	nu->nd = nd;
	nu->epoll_fd = -1;
	nd->backend = nu;
	*features = NET_RING_FEATURES | NET_OFFLOADS;
	return 0;
}

static void net_user__close(struct net_dev *nd)
{
	struct net_user *nu = nd->backend;

	net_user__stop(nd);
	close(nu->stop_fd);
	free(nu->rx_pkt);
	/* The counters outlive the backend: net__exit read them already. */
	free(nu);
	nd->backend = NULL;
}

static bool net_user__stats(struct net_dev *nd, struct net_queue_stats *st)
{
	struct net_user *nu = nd->backend;
	unsigned int i;

	for (i = 0; i < NET_VQ_MAX; i++) {
		const struct net_queue_stats *s = &nu->q[i].st;

		st[i].packets = __atomic_load_n(&s->packets, __ATOMIC_RELAXED);
		st[i].bytes = __atomic_load_n(&s->bytes, __ATOMIC_RELAXED);
		st[i].kicks = __atomic_load_n(&s->kicks, __ATOMIC_RELAXED);
		st[i].calls = __atomic_load_n(&s->calls, __ATOMIC_RELAXED);
		st[i].dropped = __atomic_load_n(&s->dropped, __ATOMIC_RELAXED);
		st[i].errors = __atomic_load_n(&s->errors, __ATOMIC_RELAXED);
	}
	return true;
}

const struct net_backend_ops net_user_ops = {
	.name = "user",
	.open = net_user__open,
	.start = net_user__start,
	.stop = net_user__stop,
	.close = net_user__close,
	.stats = net_user__stats,
};
