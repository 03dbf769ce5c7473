// SPDX-License-Identifier: GPL-2.0
/*
 * dp_bench: the throughput the selftests' userspace virtio-net driver
 * (virtio_drv.h) reaches through /dev/kvnet and through /dev/vhost-net in
 * the same run. A benchmark tool, not a test: it asserts nothing about
 * speed.
 *
 * TX: the guest posts frames of one size as fast as the ring takes them
 * and takes the used entries back; the tap is up in a private network
 * namespace where nothing listens, so the host drops each frame as soon
 * as it arrives. Counted: the used entries.
 *
 * RX: sender threads write frames into the tap with sendmmsg() on AF_PACKET
 * sockets, as fast as they can; the guest keeps its buffers posted and
 * takes them back. Counted: the frames the guest received.
 *
 * The driver negotiates VERSION_1, EVENT_IDX and MRG_RXBUF and behaves as
 * Linux's virtio-net does: callbacks off while it has work, a kick only
 * where the device asks for one (avail_event), and a sleep on the call
 * eventfd (the guest's interrupt) only when there is nothing to do. TX
 * sleeps when the ring is full, until 3/4 of it is used; RX polls with a
 * budget of 64 and refills once more than 32 buffers are free (NAPI).
 *
 * Per packet, besides packets/s and Gbit/s: the kicks and calls the
 * driver saw (kicks it sent, signals it read from the call eventfd), the
 * same from the device's side on kvnet (KVNET_GET_VRING_STATS), and
 * kvnet's handler runs. Counts per packet do not scale with the
 * machine's speed the way rates do.
 *
 * In the test VM (TCG) rates are 10-100x below hardware, and the load of
 * the machine under it changes by the second. So all devices of one
 * direction and size are set up at once and measured in turns: short
 * slices, in rounds that alternate the order (ABBA), each device's slices
 * added up. Both see the same weather; the quartiles of the per-round
 * ratios say how steady it was. At a switch the device left behind still
 * finishes what it was given (at most a ring, 256 packets, against
 * thousands per slice); the next slice of its own counts it.
 *
 * Besides kvnet and vhost-net, "kvnet-copy" is kvnet with zero-copy TX
 * off (zerocopy_threshold 0 during its slices, put back after): it tells
 * what zero-copy costs or gains where the host drops what it receives.
 */
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>

#include "kvnet_util.h"
#include "virtio_drv.h"

#define BENCH_FEATURES	((1ULL << VIRTIO_F_VERSION_1) |			\
			 (1ULL << VIRTIO_RING_F_EVENT_IDX) |		\
			 (1ULL << VIRTIO_NET_F_MRG_RXBUF))
#define BENCH_ETHERTYPE	0x88b5		/* IEEE 802 local experimental */
/* One buffer per ring entry, each in a slot of its own. */
#define BENCH_SLOT	2048
/* Linux's NAPI budget; also the senders' sendmmsg() batch. */
#define BENCH_BUDGET	64
/* Without offloads a frame is 60 to 1514 bytes (the tap's MTU is 1500). */
#define BENCH_MIN_FRAME	ETH_ZLEN
#define BENCH_MAX_FRAME	ETH_FRAME_LEN
#define BENCH_MAX_SIZES	4
#define BENCH_MAX_SENDERS 8
#define BENCH_MAX_ROUNDS 100
#define BENCH_ZC_PARAM	"/sys/module/kvnet/parameters/zerocopy_threshold"

enum bench_dir { BENCH_TX, BENCH_RX, BENCH_NR_DIRS };

static const char *const bench_dir_name[BENCH_NR_DIRS] = { "TX", "RX" };

struct bench_device {
	const char *name;
	const char *path;
	bool kvnet;
	/* kvnet with zerocopy_threshold 0: TX only, RX has no zero-copy. */
	bool copy_only;
	/* Measured unless --devices says otherwise. */
	bool by_default;
};

/* The reference last: the ratios are each device / vhost-net. */
static const struct bench_device bench_devices[] = {
	{ "kvnet", KVNET_DEV_PATH, .kvnet = true, .by_default = true },
	{ "kvnet-copy", KVNET_DEV_PATH, .kvnet = true, .copy_only = true },
	{ "vhost-net", VHOST_NET_DEV_PATH, .by_default = true },
};

#define BENCH_NR_DEVICES ARRAY_SIZE(bench_devices)
#define BENCH_REF	(BENCH_NR_DEVICES - 1)

/* Counters at one instant; what a slice moved is the difference of two. */
struct bench_counts {
	uint64_t ns;
	uint64_t packets;
	uint64_t bytes;		/* frames, without the virtio-net header */
	uint64_t kicks;		/* the driver sent */
	uint64_t calls;		/* signals the driver read from the call eventfd */
	uint64_t sleeps;	/* times the driver waited for a call */
	/*
	 * RX: frames the tap queued for the device, and frames it dropped
	 * with its queue full (sendmmsg() got ENOBUFS for those).
	 */
	uint64_t sent;
	uint64_t dropped;
	struct kvnet_vring_stats dev;	/* kvnet only */
};

/* What one device moved in one direction and size, all rounds added. */
struct bench_result {
	enum bench_dir dir;
	unsigned int size;
	const struct bench_device *dev;
	bool done;
	unsigned int rounds;
	struct bench_counts d;
	double round_pps[BENCH_MAX_ROUNDS];
};

struct bench_opts {
	double duration;
	double warmup;
	double slice;
	unsigned int sizes[BENCH_MAX_SIZES];
	unsigned int nsizes;
	bool dirs[BENCH_NR_DIRS];
	bool devices[BENCH_NR_DEVICES];
	unsigned int senders;
	const char *json;
};

struct bench_match;

/* One device with a tap as the backend of both queues. */
struct bench {
	struct bench_match *m;
	struct bench_result *r;
	bool up;
	struct vdrv drv;
	int tap;
	char tap_name[IFNAMSIZ];
	int ifindex;
	/* The buffers: slot i at slots + i * BENCH_SLOT. */
	uint64_t slots;
	uint16_t free_slot[VDRV_RING_NUM];
	unsigned int nfree;
	struct bench_counts now;
	/* The end of the slice being run. */
	uint64_t t_end;
	/* RX: frames the senders queued on our tap; they add to it. */
	uint64_t sent;
};

struct bench_sender {
	struct bench_match *m;
	pthread_t thread;
	bool started;
	int fd;
	int err;
};

/* The devices measured in turns on one direction and size. */
struct bench_match {
	enum bench_dir dir;
	unsigned int size;
	struct bench devs[BENCH_NR_DEVICES];
	/* RX: the device whose tap the senders feed. */
	struct bench *active;
	bool stop;
	struct bench_sender senders[BENCH_MAX_SENDERS];
	unsigned int nsenders;
	/* kvnet's zerocopy_threshold while kvnet-copy takes part, or "". */
	char zc_saved[32];
};

static uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * No IPv6 on link @name, so that nothing but our frames (no router
 * solicitations) crosses the tap: "default" covers links made later.
 */
static int bench_quiet_ipv6(const char *name)
{
	char path[128];
	int ret;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6",
		 name);
	ret = kvnet_write_file(path, "1");
	return ret == -ENOENT ? 0 : ret;	/* a kernel without IPv6 */
}

/* Frames the tap dropped on their way to its reader, the device. */
static uint64_t bench_tap_dropped(struct bench *b)
{
	char path[128];
	long long n;

	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/tx_dropped",
		 b->tap_name);
	n = kvnet_read_ll(path);
	return n < 0 ? 0 : n;
}

/*
 * A frame of @len bytes from @src to a unicast address that is nobody's:
 * the host stack drops it at once (unknown ethertype, not for us).
 */
static void bench_frame(uint8_t *f, unsigned int len, char src)
{
	static const uint8_t dst[ETH_ALEN] = { 0x02, 'k', 'v', 'd', 's', 't' };
	unsigned int i;

	memcpy(f, dst, ETH_ALEN);
	memcpy(f + ETH_ALEN, (uint8_t[ETH_ALEN]){ 0x02, 'k', 'v', 'b', 'n', src },
	       ETH_ALEN);
	f[12] = BENCH_ETHERTYPE >> 8;
	f[13] = BENCH_ETHERTYPE & 0xff;
	for (i = ETH_HLEN; i < len; i++)
		f[i] = i;
}

static void *bench_token(unsigned int slot)
{
	return (void *)(uintptr_t)(slot + 1);
}

static unsigned int bench_slot(void *token)
{
	return (uintptr_t)token - 1;
}

static uint64_t bench_slot_gpa(struct bench *b, unsigned int slot)
{
	return b->slots + (uint64_t)slot * BENCH_SLOT;
}

/* ---- counting ------------------------------------------------------------- */

static struct vdrv_vq *bench_vq(struct bench *b)
{
	return &b->drv.vqs[b->m->dir == BENCH_TX ? VDRV_TX : VDRV_RX];
}

/* Everything counted up to now; calls not waited for are read here. */
static int bench_snapshot(struct bench *b, struct bench_counts *c)
{
	struct vdrv_vq *vq = bench_vq(b);

	vq->calls += vdrv_eventfd_wait(vq->call, 0);
	b->now.ns = bench_now_ns();
	b->now.kicks = vq->kicks;
	b->now.calls = vq->calls;
	if (b->m->dir == BENCH_RX) {
		b->now.sent = __atomic_load_n(&b->sent, __ATOMIC_RELAXED);
		b->now.dropped = bench_tap_dropped(b);
	}
	*c = b->now;
	if (!b->r->dev->kvnet)
		return 0;
	return __kvnet_get_stats(b->drv.fd, vq->index, &c->dev);
}

/* @d = @a + @b, or @a - @b with @sign -1: every counter. */
static void bench_counts_combine(struct bench_counts *d,
				 const struct bench_counts *a,
				 const struct bench_counts *b, int sign)
{
#define BENCH_COMBINE(f) (d->f = sign > 0 ? a->f + b->f : a->f - b->f)
	BENCH_COMBINE(ns);
	BENCH_COMBINE(packets);
	BENCH_COMBINE(bytes);
	BENCH_COMBINE(kicks);
	BENCH_COMBINE(calls);
	BENCH_COMBINE(sleeps);
	BENCH_COMBINE(sent);
	BENCH_COMBINE(dropped);
	BENCH_COMBINE(dev.kicks);
	BENCH_COMBINE(dev.handler_runs);
	BENCH_COMBINE(dev.calls);
	BENCH_COMBINE(dev.packets);
	BENCH_COMBINE(dev.bytes);
	BENCH_COMBINE(dev.zerocopy_packets);
	BENCH_COMBINE(dev.errors);
	BENCH_COMBINE(dev.requeues);
#undef BENCH_COMBINE
}

/* Milliseconds to the end of the slice, at least 1. */
static int bench_ms_left(struct bench *b)
{
	uint64_t now = bench_now_ns();

	return now >= b->t_end ? 1 : (b->t_end - now) / 1000000 + 1;
}

/* Sleep on the call eventfd as a guest waits for its interrupt. */
static void bench_wait_call(struct bench *b, struct vdrv_vq *vq)
{
	vq->calls += vdrv_eventfd_wait(vq->call, bench_ms_left(b));
	b->now.sleeps++;
}

/* Take up to @max used entries back: how many, or -EPROTO. */
static int bench_reap(struct bench *b, struct vdrv_vq *vq, unsigned int max)
{
	size_t hdr_len = b->drv.hdr_len;
	unsigned int n = 0;
	void *token;
	uint32_t len;
	int r = 0;

	while (n < max && (r = vdrv_get_buf(vq, &token, &len)) == 1) {
		b->free_slot[b->nfree++] = bench_slot(token);
		b->now.packets++;
		/* The used length counts what the device wrote: none on TX. */
		b->now.bytes += b->m->dir == BENCH_TX ? b->m->size :
				len > hdr_len ? len - hdr_len : 0;
		n++;
	}
	return n < max && r < 0 ? r : (int)n;
}

/* ---- TX: guest to host ---------------------------------------------------- */

/* Header and frame are written once: every post reuses its slot as is. */
static int bench_tx_prepare(struct bench *b)
{
	struct virtio_net_hdr_mrg_rxbuf hdr = { 0 };
	uint8_t buf[BENCH_SLOT];
	unsigned int i;

	memcpy(buf, &hdr, b->drv.hdr_len);
	bench_frame(buf + b->drv.hdr_len, b->m->size, 'T');
	for (i = 0; i < b->nfree; i++)
		if (vdrv_write(&b->drv, bench_slot_gpa(b, b->free_slot[i]), buf,
			       b->drv.hdr_len + b->m->size))
			return -EFAULT;
	vdrv_disable_cb(&b->drv.vqs[VDRV_TX]);
	return 0;
}

static int bench_tx(struct bench *b)
{
	struct vdrv_vq *vq = &b->drv.vqs[VDRV_TX];
	struct vdrv_sg sg = { .len = b->drv.hdr_len + b->m->size };
	unsigned int slot;
	int n, ret;

	while (bench_now_ns() < b->t_end) {
		while (b->nfree && vq->num_free) {
			slot = b->free_slot[--b->nfree];
			sg.gpa = bench_slot_gpa(b, slot);
			ret = vdrv_add(vq, &sg, 1, 0, false, bench_token(slot));
			if (ret < 0)
				return ret;
		}
		ret = vdrv_kick(vq);
		if (ret)
			return ret;
		n = bench_reap(b, vq, vq->num);
		if (n < 0)
			return n;
		if (n || b->nfree)
			continue;
		/* Ring full: stop the queue until 3/4 of it is used. */
		if (vdrv_enable_cb_delayed(vq, vq->num_inflight * 3 / 4))
			bench_wait_call(b, vq);
		vdrv_disable_cb(vq);
	}
	return 0;
}

/* ---- RX: host to guest ---------------------------------------------------- */

static void *bench_sender_run(void *arg)
{
	struct bench_sender *s = arg;
	struct bench_match *m = s->m;
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(BENCH_ETHERTYPE),
		.sll_halen = ETH_ALEN,
	};
	struct mmsghdr msgs[BENCH_BUDGET];
	uint8_t frame[BENCH_MAX_FRAME];
	struct iovec iov = { frame, m->size };
	struct bench *b;
	unsigned int i;
	int n;

	bench_frame(frame, m->size, 'R');
	memcpy(sll.sll_addr, frame, ETH_ALEN);
	for (i = 0; i < BENCH_BUDGET; i++)
		msgs[i] = (struct mmsghdr) {
			.msg_hdr = {
				.msg_name = &sll,
				.msg_namelen = sizeof(sll),
				.msg_iov = &iov,
				.msg_iovlen = 1,
			},
		};
	/*
	 * The tap never pushes back: it drops what its queue cannot hold
	 * (ENOBUFS). A device that failed takes its tap along (ENXIO) until
	 * the next turn moves us on.
	 */
	while (!__atomic_load_n(&m->stop, __ATOMIC_RELAXED)) {
		b = __atomic_load_n(&m->active, __ATOMIC_RELAXED);
		sll.sll_ifindex = b->ifindex;
		n = sendmmsg(s->fd, msgs, BENCH_BUDGET, 0);
		if (n > 0) {
			__atomic_fetch_add(&b->sent, n, __ATOMIC_RELAXED);
		} else if (n < 0 && errno != ENOBUFS && errno != EAGAIN &&
			   errno != EINTR && errno != ENXIO &&
			   errno != ENODEV && errno != ENETDOWN) {
			s->err = errno;
			break;
		}
	}
	return NULL;
}

/* Senders for the taps of @m, feeding @m->active: 0 or -errno. */
static int bench_senders_start(struct bench_match *m, unsigned int n)
{
	int one = 1, ret;
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct bench_sender *s = &m->senders[i];

		s->m = m;
		/* Protocol 0: it sends only. */
		s->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
		if (s->fd < 0)
			return -errno;
		m->nsenders++;
		/* Straight to the tap's xmit: its qdisc would only add work. */
		if (setsockopt(s->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one,
			       sizeof(one)))
			return -errno;
		ret = pthread_create(&s->thread, NULL, bench_sender_run, s);
		if (ret)
			return -ret;
		s->started = true;
	}
	return 0;
}

/* Stop and join the senders: the first error one of them met, or 0. */
static int bench_senders_stop(struct bench_match *m)
{
	unsigned int i;
	int err = 0;

	__atomic_store_n(&m->stop, true, __ATOMIC_RELAXED);
	for (i = 0; i < m->nsenders; i++) {
		struct bench_sender *s = &m->senders[i];

		if (s->started)
			pthread_join(s->thread, NULL);
		s->started = false;
		if (s->fd >= 0)
			close(s->fd);
		s->fd = -1;
		if (s->err && !err)
			err = -s->err;
	}
	m->nsenders = 0;
	return err;
}

/* Make every free buffer available, then kick if the device asks. */
static int bench_rx_refill(struct bench *b, struct vdrv_vq *vq)
{
	struct vdrv_sg sg = { .len = BENCH_SLOT };
	unsigned int slot;
	int ret;

	while (b->nfree) {
		slot = b->free_slot[--b->nfree];
		sg.gpa = bench_slot_gpa(b, slot);
		ret = vdrv_add(vq, &sg, 0, 1, false, bench_token(slot));
		if (ret < 0)
			return ret;
	}
	return vdrv_kick(vq);
}

static int bench_rx_prepare(struct bench *b)
{
	struct vdrv_vq *vq = &b->drv.vqs[VDRV_RX];
	int ret;

	ret = bench_rx_refill(b, vq);
	vdrv_disable_cb(vq);
	return ret;
}

static int bench_rx(struct bench *b)
{
	struct vdrv_vq *vq = &b->drv.vqs[VDRV_RX];
	int n, ret;

	while (bench_now_ns() < b->t_end) {
		n = bench_reap(b, vq, BENCH_BUDGET);
		if (n < 0)
			return n;
		if (b->nfree > BENCH_BUDGET / 2) {
			ret = bench_rx_refill(b, vq);
			if (ret)
				return ret;
		}
		if (n == BENCH_BUDGET)
			continue;
		/* Under budget: NAPI completes and waits for the interrupt. */
		if (vdrv_enable_cb(vq))
			bench_wait_call(b, vq);
		vdrv_disable_cb(vq);
	}
	return 0;
}

/* ---- one direction and size, every device --------------------------------- */

/* Device, tap and buffers; @failed names the step that failed. */
static int bench_setup(struct bench *b, const char **failed)
{
	unsigned int i;
	int ret;

	ret = __vdrv_open(&b->drv, b->r->dev->path, BENCH_FEATURES, failed);
	if (ret)
		return ret;
	*failed = "guest memory for the buffers";
	b->slots = vdrv_alloc(&b->drv, VDRV_RING_NUM * BENCH_SLOT, BENCH_SLOT);
	if (!b->slots)
		return -ENOMEM;
	for (i = 0; i < VDRV_RING_NUM; i++)
		b->free_slot[b->nfree++] = VDRV_RING_NUM - 1 - i;

	*failed = "tap";
	b->tap = __vdrv_tap_create(b->drv.hdr_len, b->tap_name);
	if (b->tap < 0)
		return b->tap;
	*failed = "IPv6 off on the tap";
	ret = bench_quiet_ipv6(b->tap_name);
	if (ret)
		return ret;
	*failed = "link up";
	ret = __kvnet_link_up(b->tap_name);
	if (ret)
		return ret;
	b->ifindex = if_nametoindex(b->tap_name);
	*failed = "VHOST_NET_SET_BACKEND";
	for (i = 0; i < VDRV_NUM_VQS; i++) {
		ret = __kvnet_set_backend(b->drv.fd, i, b->tap);
		if (ret)
			return ret;
	}
	*failed = "the first buffers";
	return b->m->dir == BENCH_TX ? bench_tx_prepare(b) :
	       bench_rx_prepare(b);
}

static void bench_teardown(struct bench *b)
{
	vdrv_close(&b->drv);
	if (b->tap >= 0)
		close(b->tap);
	b->tap = -1;
	b->up = false;
}

/* Print why @b failed at @failed; 1 instead if its device is missing. */
static int bench_failed(struct bench *b, const char *failed, int err)
{
	const struct bench_result *r = b->r;

	if (!strcmp(failed, "open") &&
	    (err == -ENOENT || err == -ENODEV || err == -ENXIO))
		return 1;
	if (err == -EPROTO)
		fprintf(stderr, "dp_bench: %s %u %s: %s\n", bench_dir_name[r->dir],
			r->size, r->dev->name, b->drv.error);
	else
		fprintf(stderr, "dp_bench: %s %u %s: %s failed: %s\n",
			bench_dir_name[r->dir], r->size, r->dev->name, failed,
			kvnet_errname(-err));
	return err;
}

/*
 * kvnet's zero-copy as device @b wants it, if kvnet-copy takes part:
 * off for kvnet-copy, as it was for kvnet. 0 or -errno.
 */
static int bench_zerocopy_for(struct bench *b)
{
	if (!*b->m->zc_saved || !b->r->dev->kvnet)
		return 0;
	return kvnet_write_file(BENCH_ZC_PARAM, b->r->dev->copy_only ?
				"0" : b->m->zc_saved);
}

/* Turns each device takes: the duration over the slice, rounded up. */
static unsigned int bench_rounds(const struct bench_opts *o)
{
	unsigned int n = o->duration / o->slice;

	return n * o->slice < o->duration * 0.999 ? n + 1 : n ?: 1;
}

/* Run @b for @ns; add what it moved to its result if @counted. */
static int bench_slice(struct bench *b, uint64_t ns, bool counted)
{
	struct bench_counts start, end, d;
	struct bench_result *r = b->r;
	int ret;

	ret = bench_zerocopy_for(b);
	if (ret)
		return bench_failed(b, "zerocopy_threshold", ret);
	if (b->m->dir == BENCH_RX)
		__atomic_store_n(&b->m->active, b, __ATOMIC_RELAXED);
	ret = bench_snapshot(b, &start);
	if (ret)
		return bench_failed(b, "KVNET_GET_VRING_STATS", ret);
	b->t_end = start.ns + ns;
	ret = b->m->dir == BENCH_TX ? bench_tx(b) : bench_rx(b);
	if (ret)
		return bench_failed(b, bench_dir_name[b->m->dir], ret);
	ret = bench_snapshot(b, &end);
	if (ret)
		return bench_failed(b, "KVNET_GET_VRING_STATS", ret);
	if (!counted)
		return 0;
	bench_counts_combine(&d, &end, &start, -1);
	bench_counts_combine(&r->d, &r->d, &d, 1);
	r->round_pps[r->rounds++] = d.packets / (d.ns / 1e9);
	return 0;
}

/* One round: a slice of each device, in the order @round says. */
static unsigned int bench_round(struct bench_match *m, unsigned int round,
				uint64_t ns, bool counted)
{
	unsigned int j, i, failed = 0;
	struct bench *b;

	for (j = 0; j < BENCH_NR_DEVICES; j++) {
		i = round % 2 ? BENCH_NR_DEVICES - 1 - j : j;
		b = &m->devs[i];
		if (!b->up)
			continue;
		if (bench_slice(b, ns, counted)) {
			bench_teardown(b);
			failed++;
		}
	}
	return failed;
}

/*
 * Every device @o asks for, on @dir and @size, into @res (indexed like
 * bench_devices): how many failed. A device found missing is marked in
 * @missing and not tried again.
 */
static unsigned int bench_match(const struct bench_opts *o, enum bench_dir dir,
				unsigned int size, struct bench_result *res,
				bool *missing)
{
	unsigned int i, k, rounds, up = 0, failed = 0;
	struct bench_match *m;
	const char *failed_at;
	struct bench *b;
	long long zc;
	uint64_t ns;
	int ret;

	m = calloc(1, sizeof(*m));
	if (!m)
		return 1;
	m->dir = dir;
	m->size = size;
	for (i = 0; i < BENCH_NR_DEVICES; i++) {
		const struct bench_device *dev = &bench_devices[i];

		b = &m->devs[i];
		b->m = m;
		b->r = &res[i];
		b->tap = -1;
		vdrv_init(&b->drv);
		*b->r = (struct bench_result) {
			.dir = dir, .size = size, .dev = dev,
		};
		if (!o->devices[i] || missing[i] ||
		    (dev->copy_only && dir != BENCH_TX))
			continue;
		failed_at = "?";
		ret = bench_setup(b, &failed_at);
		if (ret) {
			bench_teardown(b);
			ret = bench_failed(b, failed_at, ret);
			if (ret == 1) {
				printf("dp_bench: no %s (module not loaded?): %s skipped\n",
				       dev->path, dev->name);
				missing[i] = true;
			} else {
				failed++;
			}
			continue;
		}
		b->up = true;
		m->active = m->active ?: b;
		up++;
		if (dev->copy_only) {
			zc = kvnet_read_ll(BENCH_ZC_PARAM);
			if (zc >= 0)
				snprintf(m->zc_saved, sizeof(m->zc_saved),
					 "%lld", zc);
		}
	}
	if (!up)
		goto out;
	if (dir == BENCH_RX) {
		ret = bench_senders_start(m, o->senders);
		if (ret) {
			fprintf(stderr, "dp_bench: RX senders: %s\n",
				kvnet_errname(-ret));
			failed++;
			goto out;
		}
	}
	rounds = bench_rounds(o);
	ns = o->duration * 1e9 / rounds;
	printf("dp_bench: %s %u bytes: %u round%s of %.2f s slices\n",
	       bench_dir_name[dir], size, rounds, rounds > 1 ? "s" : "",
	       ns / 1e9);
	/* The warm-up slices count for nothing; each device has one. */
	if (o->warmup > 0)
		failed += bench_round(m, 0, o->warmup * 1e9, false);
	for (k = 0; k < rounds; k++)
		failed += bench_round(m, k, ns, true);
	for (i = 0; i < BENCH_NR_DEVICES; i++) {
		b = &m->devs[i];
		b->r->done = b->up && b->r->rounds == rounds;
	}
out:
	ret = bench_senders_stop(m);
	if (ret) {
		fprintf(stderr, "dp_bench: sendmmsg: %s\n", kvnet_errname(-ret));
		failed++;
		for (i = 0; i < BENCH_NR_DEVICES; i++)
			res[i].done = false;
	}
	for (i = 0; i < BENCH_NR_DEVICES; i++)
		if (m->devs[i].up)
			bench_teardown(&m->devs[i]);
	if (*m->zc_saved && kvnet_write_file(BENCH_ZC_PARAM, m->zc_saved))
		fprintf(stderr, "dp_bench: could not put zerocopy_threshold back to %s\n",
			m->zc_saved);
	free(m);
	return failed;
}

/* ---- report --------------------------------------------------------------- */

/* The columns of the table and the keys of the JSON. */
enum bench_metric {
	BENCH_PPS,
	BENCH_GBPS,
	BENCH_KICKS,		/* device side: kvnet's counter, else the driver's */
	BENCH_CALLS,
	BENCH_RUNS,		/* kvnet only */
	BENCH_DRV_KICKS,
	BENCH_DRV_CALLS,
	BENCH_SLEEPS,
	BENCH_NR_METRICS,
};

static const struct {
	const char *head;
	const char *key;
	const char *fmt;
} bench_metrics[BENCH_NR_METRICS] = {
	[BENCH_PPS] = { "pkt/s", "packets_per_s", "%.0f" },
	[BENCH_GBPS] = { "Gbit/s", "gbit_per_s", "%.4f" },
	[BENCH_KICKS] = { "kicks/pkt", "kicks_per_packet", "%.4f" },
	[BENCH_CALLS] = { "calls/pkt", "calls_per_packet", "%.4f" },
	[BENCH_RUNS] = { "runs/pkt", "handler_runs_per_packet", "%.4f" },
	[BENCH_DRV_KICKS] = { "drv-kicks", "driver_kicks_per_packet", "%.4f" },
	[BENCH_DRV_CALLS] = { "drv-calls", "driver_calls_per_packet", "%.4f" },
	[BENCH_SLEEPS] = { "sleeps/pkt", "driver_sleeps_per_packet", "%.4f" },
};

/* A metric of a result; NAN where the device has no such count. */
static double bench_metric(const struct bench_result *r, enum bench_metric m)
{
	const struct bench_counts *d = &r->d;
	double s = d->ns / 1e9, p = d->packets;
	bool kvnet = r->dev->kvnet;

	if (!r->done || !p)
		return NAN;
	switch (m) {
	case BENCH_PPS:
		return p / s;
	case BENCH_GBPS:
		return d->bytes * 8 / s / 1e9;
	case BENCH_KICKS:
		return (kvnet ? d->dev.kicks : d->kicks) / p;
	case BENCH_CALLS:
		return (kvnet ? d->dev.calls : d->calls) / p;
	case BENCH_RUNS:
		return kvnet ? d->dev.handler_runs / p : NAN;
	case BENCH_DRV_KICKS:
		return d->kicks / p;
	case BENCH_DRV_CALLS:
		return d->calls / p;
	case BENCH_SLEEPS:
		return d->sleeps / p;
	case BENCH_NR_METRICS:
		break;
	}
	return NAN;
}

static double bench_ratio(const struct bench_result *a,
			  const struct bench_result *b, enum bench_metric m)
{
	double x = bench_metric(a, m), y = bench_metric(b, m);

	return isnan(x) || isnan(y) || y == 0 ? NAN : x / y;
}

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* First and third quartile of the per-round pkt/s ratios of @a to @b. */
static void bench_round_quartiles(const struct bench_result *a,
				  const struct bench_result *b,
				  double *q1, double *q3)
{
	double v[BENCH_MAX_ROUNDS];
	unsigned int i, n = 0;

	*q1 = *q3 = NAN;
	if (!a->done || !b->done)
		return;
	for (i = 0; i < a->rounds && i < b->rounds; i++)
		if (b->round_pps[i] > 0)
			v[n++] = a->round_pps[i] / b->round_pps[i];
	if (n < 4)
		return;
	qsort(v, n, sizeof(v[0]), bench_cmp_double);
	*q1 = v[(n - 1) / 4];
	*q3 = v[(3 * (n - 1) + 3) / 4];
}

#define BENCH_NAME_W	16

static void bench_print_cell(FILE *f, const char *fmt, double v, int width)
{
	char buf[32];

	if (isnan(v))
		snprintf(buf, sizeof(buf), "-");
	else
		snprintf(buf, sizeof(buf), fmt, v);
	fprintf(f, " %*s", width, buf);
}

static int bench_width(enum bench_metric m)
{
	return m == BENCH_PPS ? 9 : 10;
}

static void bench_print_result(FILE *f, const struct bench_result *r)
{
	unsigned int m;

	fprintf(f, "%-3s %5u %-*s", bench_dir_name[r->dir], r->size,
		BENCH_NAME_W, r->dev->name);
	for (m = 0; m < BENCH_NR_METRICS; m++)
		bench_print_cell(f, bench_metrics[m].fmt, bench_metric(r, m),
				 bench_width(m));
	fputc('\n', f);
}

static void bench_print_ratio(FILE *f, const struct bench_result *r,
			      const struct bench_result *ref)
{
	char name[32], q[32] = "-";
	double q1, q3;
	unsigned int m;

	snprintf(name, sizeof(name), "%s/vhost", r->dev->name);
	fprintf(f, "%-3s %5u %-*s", bench_dir_name[r->dir], r->size,
		BENCH_NAME_W, name);
	for (m = 0; m < BENCH_NR_METRICS; m++)
		bench_print_cell(f, "%.3f", bench_ratio(r, ref, m),
				 bench_width(m));
	bench_round_quartiles(r, ref, &q1, &q3);
	if (!isnan(q1))
		snprintf(q, sizeof(q), "%.2f..%.2f", q1, q3);
	fprintf(f, " %13s\n", q);
}

/* Notes under the table: what the columns do not show. */
static void bench_print_notes(FILE *f, const struct bench_result *r)
{
	const struct bench_counts *d = &r->d;
	double offered = d->sent + d->dropped;
	const char *name = r->dev->name;

	if (!r->done)
		return;
	if (r->dir == BENCH_RX && offered)
		fprintf(f, "RX %u %s: the senders offered %.0f frames/s, the tap dropped %.1f%%%s\n",
			r->size, name, offered / (d->ns / 1e9),
			100 * d->dropped / offered,
			d->dropped < offered / 100 ?
			" (the device kept up: the rate is the senders')" : "");
	if (r->dir == BENCH_TX && r->dev->kvnet && d->packets)
		fprintf(f, "TX %u %s: %.1f%% of the packets sent without copying, %.4f requeues/pkt\n",
			r->size, name,
			100.0 * d->dev.zerocopy_packets / d->packets,
			(double)d->dev.requeues / d->packets);
	if (r->dev->kvnet && d->dev.errors)
		fprintf(f, "%s %u %s: %llu malformed-ring errors\n",
			bench_dir_name[r->dir], r->size, name,
			(unsigned long long)d->dev.errors);
}

/* @res: BENCH_NR_DEVICES results for each direction and size. */
static void bench_print_table(FILE *f, const struct bench_result *res,
			      unsigned int nres)
{
	const struct bench_result *set, *ref;
	unsigned int i, j, m;

	fprintf(f, "%-3s %5s %-*s", "dir", "size", BENCH_NAME_W, "device");
	for (m = 0; m < BENCH_NR_METRICS; m++)
		fprintf(f, " %*s", bench_width(m), bench_metrics[m].head);
	fprintf(f, " %13s\n", "rounds q1..q3");
	for (i = 0; i < nres; i += BENCH_NR_DEVICES) {
		set = &res[i];
		ref = &set[BENCH_REF];
		for (j = 0; j < BENCH_NR_DEVICES; j++)
			if (set[j].done)
				bench_print_result(f, &set[j]);
		for (j = 0; ref->done && j < BENCH_REF; j++)
			if (set[j].done)
				bench_print_ratio(f, &set[j], ref);
	}
	fprintf(f, "\n"
		"kicks, calls: per packet, as the device counts them (kvnet: KVNET_GET_VRING_STATS;\n"
		"  vhost-net: the kicks the driver sent, the signals it read from the call eventfd)\n"
		"drv-kicks, drv-calls: the same from the driver's side, on both devices\n"
		"sleeps: times per packet the driver waited for a call (its interrupts)\n"
		"rounds q1..q3: quartiles of the per-round pkt/s ratios\n");
	for (i = 0; i < nres; i++)
		bench_print_notes(f, &res[i]);
}

static void bench_json_num(FILE *f, const char *key, double v, bool last)
{
	if (isnan(v))
		fprintf(f, "\"%s\": null%s", key, last ? "" : ", ");
	else
		fprintf(f, "\"%s\": %.6g%s", key, v, last ? "" : ", ");
}

static void bench_json_result(FILE *f, const struct bench_result *r)
{
	const struct bench_counts *d = &r->d;
	unsigned int m, k;

	fprintf(f, "    {\"dir\": \"%s\", \"size\": %u, \"device\": \"%s\", \"rounds\": %u,\n",
		bench_dir_name[r->dir], r->size, r->dev->name, r->rounds);
	fprintf(f, "     \"seconds\": %.3f, \"packets\": %llu, \"bytes\": %llu, \"driver_kicks\": %llu, \"driver_calls\": %llu, \"driver_sleeps\": %llu,\n",
		d->ns / 1e9, (unsigned long long)d->packets,
		(unsigned long long)d->bytes, (unsigned long long)d->kicks,
		(unsigned long long)d->calls, (unsigned long long)d->sleeps);
	if (r->dir == BENCH_RX)
		fprintf(f, "     \"tap_queued\": %llu, \"tap_dropped\": %llu,\n",
			(unsigned long long)d->sent,
			(unsigned long long)d->dropped);
	if (r->dev->kvnet)
		fprintf(f, "     \"device_stats\": {\"kicks\": %llu, \"handler_runs\": %llu, \"calls\": %llu, \"packets\": %llu, \"bytes\": %llu, \"zerocopy_packets\": %llu, \"errors\": %llu, \"requeues\": %llu},\n",
			(unsigned long long)d->dev.kicks,
			(unsigned long long)d->dev.handler_runs,
			(unsigned long long)d->dev.calls,
			(unsigned long long)d->dev.packets,
			(unsigned long long)d->dev.bytes,
			(unsigned long long)d->dev.zerocopy_packets,
			(unsigned long long)d->dev.errors,
			(unsigned long long)d->dev.requeues);
	fprintf(f, "     \"round_packets_per_s\": [");
	for (k = 0; k < r->rounds; k++)
		fprintf(f, "%s%.0f", k ? ", " : "", r->round_pps[k]);
	fprintf(f, "],\n     ");
	for (m = 0; m < BENCH_NR_METRICS; m++)
		bench_json_num(f, bench_metrics[m].key, bench_metric(r, m),
			       m + 1 == BENCH_NR_METRICS);
	fprintf(f, "}");
}

static void bench_json_ratio(FILE *f, const struct bench_result *r,
			     const struct bench_result *ref)
{
	double q1, q3;
	unsigned int m;

	fprintf(f, "    {\"dir\": \"%s\", \"size\": %u, \"device\": \"%s\", ",
		bench_dir_name[r->dir], r->size, r->dev->name);
	for (m = 0; m < BENCH_NR_METRICS; m++)
		bench_json_num(f, bench_metrics[m].key, bench_ratio(r, ref, m),
			       false);
	bench_round_quartiles(r, ref, &q1, &q3);
	bench_json_num(f, "packets_per_s_round_q1", q1, false);
	bench_json_num(f, "packets_per_s_round_q3", q3, true);
	fprintf(f, "}");
}

static void bench_json(FILE *f, const struct bench_opts *o,
		       const struct bench_result *res, unsigned int nres)
{
	const struct bench_result *set;
	struct utsname u = { 0 };
	char date[32] = "?";
	time_t t = time(NULL);
	const char *sep = "";
	unsigned int i, j;
	struct tm tm;

	uname(&u);
	if (gmtime_r(&t, &tm))
		strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(f, "{\n  \"tool\": \"dp_bench\", \"date\": \"%s\", \"kernel\": \"%s\", \"cpus\": %ld,\n",
		date, u.release, sysconf(_SC_NPROCESSORS_ONLN));
	fprintf(f, "  \"duration_s\": %.3f, \"warmup_s\": %.3f, \"slice_s\": %.3f, \"ring\": %u, \"senders\": %u,\n",
		o->duration, o->warmup, o->slice, VDRV_RING_NUM, o->senders);
	fprintf(f, "  \"features\": [\"VERSION_1\", \"EVENT_IDX\", \"MRG_RXBUF\"],\n");
	fprintf(f, "  \"results\": [\n");
	for (i = 0; i < nres; i++) {
		if (!res[i].done)
			continue;
		fprintf(f, "%s", sep);
		bench_json_result(f, &res[i]);
		sep = ",\n";
	}
	fprintf(f, "\n  ],\n  \"ratios_to_vhost_net\": [\n");
	sep = "";
	for (i = 0; i < nres; i += BENCH_NR_DEVICES) {
		set = &res[i];
		for (j = 0; set[BENCH_REF].done && j < BENCH_REF; j++) {
			if (!set[j].done)
				continue;
			fprintf(f, "%s", sep);
			bench_json_ratio(f, &set[j], &set[BENCH_REF]);
			sep = ",\n";
		}
	}
	fprintf(f, "\n  ]\n}\n");
}

static int bench_write_json(const struct bench_opts *o,
			    const struct bench_result *res, unsigned int nres)
{
	FILE *f = stdout;

	if (strcmp(o->json, "-")) {
		f = fopen(o->json, "we");
		if (!f) {
			fprintf(stderr, "dp_bench: %s: %s\n", o->json,
				strerror(errno));
			return -errno;
		}
	} else {
		fputc('\n', f);
	}
	bench_json(f, o, res, nres);
	if (f != stdout && fclose(f)) {
		fprintf(stderr, "dp_bench: %s: %s\n", o->json, strerror(errno));
		return -EIO;
	}
	return 0;
}

/* ---- options -------------------------------------------------------------- */

static void bench_usage(FILE *f)
{
	fprintf(f,
		"usage: dp_bench [options]\n"
		"  -d, --duration SEC   measured seconds per device, direction and size (default 5)\n"
		"  -l, --slice SEC      the devices take turns this long (default 0.5)\n"
		"  -w, --warmup SEC     an unmeasured first turn this long (default 0.5)\n"
		"  -s, --sizes LIST     frame sizes in bytes, %u to %u (default 1514,64)\n"
		"  -D, --dir tx|rx|both (default both)\n"
		"  -e, --devices LIST   of kvnet, kvnet-copy, vhost-net (default kvnet,vhost-net)\n"
		"  -S, --senders N      RX sender threads, 1 to %u (default 2)\n"
		"  -j, --json PATH      also write the results as JSON; - for stdout\n"
		"At most %u turns (duration / slice). Needs root: a private network\n"
		"namespace, taps, packet sockets; kvnet-copy writes %s.\n",
		BENCH_MIN_FRAME, BENCH_MAX_FRAME, BENCH_MAX_SENDERS,
		BENCH_MAX_ROUNDS, BENCH_ZC_PARAM);
}

static bool bench_parse_list(const char *arg, bool (*one)(const char *, void *),
			     void *ctx)
{
	char buf[256], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", arg);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save))
		if (!one(tok, ctx))
			return false;
	return true;
}

static bool bench_parse_size(const char *tok, void *ctx)
{
	struct bench_opts *o = ctx;
	char *end;
	unsigned long v = strtoul(tok, &end, 0);

	if (*end || v < BENCH_MIN_FRAME || v > BENCH_MAX_FRAME ||
	    o->nsizes == BENCH_MAX_SIZES)
		return false;
	o->sizes[o->nsizes++] = v;
	return true;
}

static bool bench_parse_device(const char *tok, void *ctx)
{
	struct bench_opts *o = ctx;
	unsigned int i;

	for (i = 0; i < BENCH_NR_DEVICES; i++) {
		if (!strcmp(tok, bench_devices[i].name)) {
			o->devices[i] = true;
			return true;
		}
	}
	return false;
}

/* A number in [@min, @max], or -1. */
static double bench_parse_num(const char *arg, double min, double max)
{
	char *end;
	double v = strtod(arg, &end);

	return *end || !(v >= min && v <= max) ? -1 : v;
}

static int bench_parse(int argc, char **argv, struct bench_opts *o)
{
	static const struct option longopts[] = {
		{ "duration", required_argument, NULL, 'd' },
		{ "slice", required_argument, NULL, 'l' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "sizes", required_argument, NULL, 's' },
		{ "dir", required_argument, NULL, 'D' },
		{ "devices", required_argument, NULL, 'e' },
		{ "senders", required_argument, NULL, 'S' },
		{ "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	unsigned int i;
	double v;
	int c;

	*o = (struct bench_opts) {
		.duration = 5, .slice = 0.5, .warmup = 0.5, .senders = 2,
	};
	while ((c = getopt_long(argc, argv, "d:l:w:s:D:e:S:j:h", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'd':
			o->duration = bench_parse_num(optarg, 0.01, 3600);
			if (o->duration < 0)
				goto bad;
			break;
		case 'l':
			o->slice = bench_parse_num(optarg, 0.01, 3600);
			if (o->slice < 0)
				goto bad;
			break;
		case 'w':
			o->warmup = bench_parse_num(optarg, 0, 3600);
			if (o->warmup < 0)
				goto bad;
			break;
		case 's':
			o->nsizes = 0;
			if (!bench_parse_list(optarg, bench_parse_size, o))
				goto bad;
			break;
		case 'D':
			o->dirs[BENCH_TX] = !strcmp(optarg, "tx") ||
					    !strcmp(optarg, "both");
			o->dirs[BENCH_RX] = !strcmp(optarg, "rx") ||
					    !strcmp(optarg, "both");
			if (!o->dirs[BENCH_TX] && !o->dirs[BENCH_RX])
				goto bad;
			break;
		case 'e':
			memset(o->devices, 0, sizeof(o->devices));
			if (!bench_parse_list(optarg, bench_parse_device, o))
				goto bad;
			break;
		case 'S':
			v = bench_parse_num(optarg, 1, BENCH_MAX_SENDERS);
			if (v != (unsigned int)v)
				goto bad;
			o->senders = v;
			break;
		case 'j':
			o->json = optarg;
			break;
		case 'h':
			bench_usage(stdout);
			exit(0);
		default:
			goto bad;
		}
	}
	if (optind != argc || bench_rounds(o) > BENCH_MAX_ROUNDS)
		goto bad;
	if (!o->nsizes) {
		o->sizes[o->nsizes++] = 1514;
		o->sizes[o->nsizes++] = 64;
	}
	if (!o->dirs[BENCH_TX] && !o->dirs[BENCH_RX])
		o->dirs[BENCH_TX] = o->dirs[BENCH_RX] = true;
	for (i = 0; i < BENCH_NR_DEVICES && !o->devices[i]; i++)
		;
	if (i == BENCH_NR_DEVICES)
		for (i = 0; i < BENCH_NR_DEVICES; i++)
			o->devices[i] = bench_devices[i].by_default;
	return 0;
bad:
	bench_usage(stderr);
	return -EINVAL;
}

/* ---- main ----------------------------------------------------------------- */

int main(int argc, char **argv)
{
	static struct bench_result res[BENCH_NR_DIRS * BENCH_MAX_SIZES *
				       BENCH_NR_DEVICES];
	bool missing[BENCH_NR_DEVICES] = { false };
	unsigned int nres = 0, failed = 0, done = 0, d, s, i;
	struct bench_opts o;
	int ret;

	if (bench_parse(argc, argv, &o))
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	ret = __kvnet_enter_netns();
	if (ret) {
		fprintf(stderr, "dp_bench: a private network namespace: %s (needs root)\n",
			kvnet_errname(-ret));
		return 1;
	}
	ret = bench_quiet_ipv6("default");
	if (ret)
		fprintf(stderr, "dp_bench: IPv6 stays on for new links: %s\n",
			kvnet_errname(-ret));

	printf("dp_bench: %.1f s per device after %.1f s of warm-up, in turns of %.2f s; VERSION_1 EVENT_IDX MRG_RXBUF, ring %u, %u RX sender%s\n",
	       o.duration, o.warmup, o.slice, VDRV_RING_NUM, o.senders,
	       o.senders > 1 ? "s" : "");
	for (d = 0; d < BENCH_NR_DIRS; d++) {
		for (s = 0; s < o.nsizes && o.dirs[d]; s++) {
			failed += bench_match(&o, d, o.sizes[s], &res[nres],
					      missing);
			nres += BENCH_NR_DEVICES;
		}
	}
	for (i = 0; i < nres; i++)
		done += res[i].done;
	if (!done && !failed) {
		printf("dp_bench: no device to measure\n");
		return 4;	/* KSFT_SKIP */
	}
	printf("\n");
	bench_print_table(stdout, res, nres);
	if (o.json && bench_write_json(&o, res, nres))
		failed++;
	return failed ? 1 : 0;
}
