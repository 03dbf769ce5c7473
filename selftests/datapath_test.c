// SPDX-License-Identifier: GPL-2.0
/*
 * The data path end to end. A userspace virtio-net driver (virtio_drv.h)
 * plays the guest; the tap's host side is the network stack of a private
 * network namespace, seen through packet sockets: one receives what the
 * device sends into the tap, one sends frames into the tap for the device
 * to receive. Every frame carries a sequence number and a pattern derived
 * from it, and is compared byte for byte on the other side.
 *
 * The datapath fixtures move traffic: byte-exact TX and RX, mergeable
 * buffers, frames waiting for buffers, calls, index wrap, budgets and
 * queue restarts. The malformed fixtures break one ring at a time, on one
 * queue while the other carries traffic, and reset it as a VMM does.
 * The busy_poll fixtures set VHOST_SET_VRING_BUSYLOOP_TIMEOUT and watch
 * the worker take what the guest did not kick for while it spins, mute
 * and unmute kicks, survive a guest that breaks the ring mid-spin, and
 * give way to ioctls, close() and counter reads mid-spin.
 *
 * Each test runs against /dev/kvnet and against /dev/vhost-net, the
 * reference, with each of six feature sets it applies to: a fixture per
 * group of feature sets (datapath_mrg: with MRG_RXBUF, malformed_indirect:
 * with INDIRECT_DESC, ...), so that no combination is there only to be
 * skipped. Where vhost-net behaves differently, struct dp_device says how
 * and why (drivers/vhost/net.c).
 *
 * Knobs for longer runs: KVNET_DP_FRAMES (frames per byte-exact test) and
 * KVNET_DP_SEED (mixed into each test's seed; the sizes and layouts depend
 * only on the seed, the test and the feature set).
 */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>

#include "kvnet_harness.h"
#include "kvnet_util.h"
#include "virtio_drv.h"

#define DP_ETHERTYPE	0x88b5		/* IEEE 802 local experimental */
#define DP_MAGIC	0x6b766e74	/* "kvnt" */
/* Without offloads a frame is 60 to 1514 bytes (MTU 1500). */
#define DP_MIN_FRAME	60
#define DP_MAX_FRAME	1514
/* Ethernet header, then magic, sequence number, length and direction. */
#define DP_FRAME_HDR	(ETH_HLEN + 4 + 4 + 2 + 2)
#define DP_WAIT_MS	5000
#define DP_FRAMES	400

/* Each buffer of the driver lives in a slot of its own. */
#define DP_SLOT		4096UL
/* Both slot arrays straddle a region boundary (slot 127 does). */
#define DP_TX_SLOTS	(VDRV_RAM_GPA + 512 * 1024 + 2048)
#define DP_RX_SLOTS	(VDRV_RAM_GPA + 2560 * 1024 + 2048)
/* Indirect tables: the TX ones straddle the 2 MiB boundary (table 127). */
#define DP_TX_TABLES	(VDRV_RAM_GPA + 2048 * 1024 - 32 * 1024 - 128)
#define DP_RX_TABLES	(VDRV_RAM_GPA + 2048 * 1024 + 64 * 1024)
/* Buffers and tables of malformed chains. */
#define DP_SCRATCH	(VDRV_RAM_GPA + 3584 * 1024 + 4096)
#define DP_SCRATCH_TX	(DP_SCRATCH)
#define DP_SCRATCH_RX	(DP_SCRATCH + 4096)
#define DP_SCRATCH_TBL	(DP_SCRATCH + 8192)
#define DP_SCRATCH_TBL2	(DP_SCRATCH + 12288)

/* Frames in flight: within the packet socket's buffer, the tap's queue. */
#define DP_TX_WINDOW	128
#define DP_RX_WINDOW	32

/* Guest memory the device did not write keeps these bytes. */
#define DP_POISON	0xa5
#define DP_GAP_POISON	0xee

enum { DP_DIR_TX = 'T', DP_DIR_RX = 'R' };

/* What a device does with one kind of bad chain. */
struct dp_expect {
	/* The error eventfd fires. */
	bool err;
	/* Nothing after the bad chain is used until the VMM resets the queue. */
	bool stops;
	/* The chain is off the ring: GET_VRING_BASE is the index after it. */
	bool taken;
};

/* A ring the device cannot walk: both devices stop at the bad entry. */
static const struct dp_expect dp_broken = {
	.err = true, .stops = true, .taken = false,
};

/* How a device behaves where the tests look. */
struct dp_device {
	const char *path;
	bool kvnet;
	/* num_buffers is written whenever the header has it (version 1). */
	bool num_buffers_always;
	/* A chain for the other direction: writable on TX, read-only on RX. */
	struct dp_expect wrong_direction;
	/* A TX chain shorter than the virtio-net header. */
	struct dp_expect short_tx_hdr;
	/*
	 * An indirect descriptor without INDIRECT_DESC: as dp_broken if
	 * set, else used like any chain.
	 */
	bool err_indirect_unnegotiated;
	/* The worker thread's name: this prefix and the owner's pid. */
	const char *worker_prefix;
	/*
	 * Under EVENT_IDX, the RX handler's busy poll mutes TX kicks too,
	 * not only with VRING_USED_F_NO_NOTIFY.
	 */
	bool rx_poll_mutes_event_idx;
};

static const struct dp_device dp_kvnet = {
	.path = KVNET_DEV_PATH,
	.kvnet = true,
	.num_buffers_always = true,
	/*
	 * Found once the chain is read: it goes back on the ring and the
	 * queue stops at it, so GET_VRING_BASE points at the bad chain, as
	 * for every other malformed ring.
	 */
	.wrong_direction = { .err = true, .stops = true, .taken = false },
	.short_tx_hdr = { .err = true, .stops = true, .taken = false },
	.err_indirect_unnegotiated = true,
	.worker_prefix = "kvnet-",
	.rx_poll_mutes_event_idx = true,
};

static const struct dp_device dp_vhost_net = {
	.path = VHOST_NET_DEV_PATH,
	.kvnet = false,
	/*
	 * handle_rx() writes num_buffers only with MRG_RXBUF; tun skips the
	 * field, so it keeps what the guest memory held.
	 */
	.num_buffers_always = false,
	/*
	 * get_tx_bufs() and get_rx_bufs() look at the direction after
	 * vhost_get_vq_desc() took the chain: vq_err(), the chain is dropped
	 * unused, and the next kick goes on with the chains after it.
	 */
	.wrong_direction = { .err = true, .stops = false, .taken = true },
	/*
	 * vhost_net_build_xdp() returns -EFAULT for a chain shorter than the
	 * header and handle_tx_copy() puts the chain back without vq_err():
	 * the queue stalls on it until reset, but signals nothing.
	 */
	.short_tx_hdr = { .err = false, .stops = true, .taken = false },
	/*
	 * vhost_get_vq_desc() follows VRING_DESC_F_INDIRECT whether or not
	 * the feature was acked: the chain is used like any other.
	 */
	.err_indirect_unnegotiated = false,
	.worker_prefix = "vhost-",
	/*
	 * vhost_disable_notify() writes nothing under EVENT_IDX, so during
	 * vhost_net_busy_poll() from handle_rx() avail_event stays where the
	 * TX handler's last vhost_enable_notify() put it: the guest's next
	 * TX buffer asks for a kick the spin does not need.
	 */
	.rx_poll_mutes_event_idx = false,
};

#define F(bit)		(1ULL << (bit))

/* The feature sets the tests run with. */
#define DP_SET_none		0ULL
#define DP_SET_event_idx	F(VIRTIO_RING_F_EVENT_IDX)
#define DP_SET_indirect		F(VIRTIO_RING_F_INDIRECT_DESC)
#define DP_SET_mrg_rxbuf	F(VIRTIO_NET_F_MRG_RXBUF)
#define DP_SET_version_1	F(VIRTIO_F_VERSION_1)
#define DP_SET_all		(F(VIRTIO_F_VERSION_1) |			\
				 F(VIRTIO_RING_F_EVENT_IDX) |		\
				 F(VIRTIO_NET_F_MRG_RXBUF) |		\
				 F(VIRTIO_RING_F_INDIRECT_DESC))

/* Variant <device>_<set> of @fixture: feature set @set on @device. */
#define DP_VARIANT(fixture, device, set)				\
	FIXTURE_VARIANT_ADD(fixture, device##_##set) {			\
		.dev = &dp_##device, .features = DP_SET_##set,		\
	}

/*
 * Groups of feature sets: a test runs with every set it applies to and
 * with no other, so nothing is generated only to be skipped.
 */
#define DP_SETS_ALL(fixture, device)					\
	DP_VARIANT(fixture, device, none);				\
	DP_VARIANT(fixture, device, event_idx);				\
	DP_VARIANT(fixture, device, indirect);				\
	DP_VARIANT(fixture, device, mrg_rxbuf);				\
	DP_VARIANT(fixture, device, version_1);				\
	DP_VARIANT(fixture, device, all)
#define DP_SETS_MRG(fixture, device)					\
	DP_VARIANT(fixture, device, mrg_rxbuf);				\
	DP_VARIANT(fixture, device, all)
#define DP_SETS_NO_MRG(fixture, device)					\
	DP_VARIANT(fixture, device, none);				\
	DP_VARIANT(fixture, device, event_idx);				\
	DP_VARIANT(fixture, device, indirect);				\
	DP_VARIANT(fixture, device, version_1)
#define DP_SETS_INDIRECT(fixture, device)				\
	DP_VARIANT(fixture, device, indirect);				\
	DP_VARIANT(fixture, device, all)
#define DP_SETS_NO_INDIRECT(fixture, device)				\
	DP_VARIANT(fixture, device, none);				\
	DP_VARIANT(fixture, device, event_idx);				\
	DP_VARIANT(fixture, device, mrg_rxbuf);				\
	DP_VARIANT(fixture, device, version_1)
/* kvnet's own behaviour that needs EVENT_IDX: no vhost-net variant. */
#define DP_SETS_KVNET_EVENT_IDX(fixture, device)			\
	DP_SETS_KVNET_EVENT_IDX_##device(fixture)
#define DP_SETS_KVNET_EVENT_IDX_kvnet(fixture)				\
	DP_VARIANT(fixture, kvnet, event_idx);				\
	DP_VARIANT(fixture, kvnet, all)
#define DP_SETS_KVNET_EVENT_IDX_vhost_net(fixture)			\
	extern int dp_no_vhost_net_##fixture
/* Busy polling mutes kicks one way with EVENT_IDX, another without. */
#define DP_SETS_BUSY(fixture, device)					\
	DP_VARIANT(fixture, device, none);				\
	DP_VARIANT(fixture, device, event_idx)
/* The same on kvnet alone, where vhost-net is no reference. */
#define DP_SETS_KVNET_BUSY(fixture, device)				\
	DP_SETS_KVNET_BUSY_##device(fixture)
#define DP_SETS_KVNET_BUSY_kvnet(fixture)				\
	DP_SETS_BUSY(fixture, kvnet)
#define DP_SETS_KVNET_BUSY_vhost_net(fixture)				\
	extern int dp_no_vhost_net_##fixture

struct dp_txbuf {
	bool busy;
	uint32_t seq;
	uint16_t len;
};

struct dp_rxbuf {
	bool busy;
	uint32_t cap;
	unsigned int nseg;
	struct vdrv_sg seg[VDRV_MAX_SG];
};

/* What RX buffers look like. */
enum dp_rx_policy {
	DP_RX_FULL,	/* each holds a whole frame, in varied layouts */
	DP_RX_MIXED,	/* 64 B to 2 KiB, for mergeable buffers */
	DP_RX_SMALL,	/* 256 B each */
	DP_RX_MANY,	/* the header alone, then 4 x 400 B */
};

/* A driver on a device whose both queues have the tap as backend. */
struct dp {
	struct vdrv drv;
	const struct dp_device *dev;
	int tap;
	char tap_name[IFNAMSIZ];
	int ifindex;
	/* Receives what the device sends into the tap. */
	int psock;
	/* Sends frames into the tap, for the device to receive. */
	int ssock;
	uint64_t seed;
	uint64_t rng;
	struct dp_txbuf tx[VDRV_RING_NUM];
	struct dp_rxbuf rx[VDRV_RING_NUM];
	/* RX buffers in the order they were made available. */
	uint16_t rx_fifo[VDRV_RING_NUM];
	unsigned int rx_fifo_head;
	unsigned int rx_posted;
	unsigned int rx_next;
	enum dp_rx_policy rx_policy;
	/* Every chain as an indirect table, negotiated or not. */
	bool force_indirect;
	/* Sequence numbers of the next frame in each direction. */
	uint32_t tx_seq;
	uint32_t rx_seq;
	/*
	 * The VMM restarts TX every so many frames, RX after each window
	 * of frames sent (0: never).
	 */
	unsigned int tx_restart_every;
	unsigned int rx_restart;
	/* kvnet's weight_packets to put back at teardown, or -1. */
	long long saved_weight;
	/* Busy polling: the test is pinned, its workers go to this CPU. */
	bool spin_pinned;
	int spin_worker_cpu;
};

static bool dp_has(const struct dp *dp, unsigned int feature)
{
	return vdrv_has(&dp->drv, feature);
}

static unsigned int dp_env(const char *name, unsigned int def)
{
	const char *s = getenv(name);

	return s && *s ? strtoul(s, NULL, 0) : def;
}

/* xorshift64*: the sizes and layouts of a run follow from its seed. */
static uint32_t dp_rand(struct dp *dp)
{
	dp->rng ^= dp->rng >> 12;
	dp->rng ^= dp->rng << 25;
	dp->rng ^= dp->rng >> 27;
	return (dp->rng * 0x2545f4914f6cdd1dULL) >> 32;
}

static unsigned int dp_rand_len(struct dp *dp)
{
	return DP_MIN_FRAME + dp_rand(dp) % (DP_MAX_FRAME - DP_MIN_FRAME + 1);
}

static void dp_seed(struct dp *dp, const char *test)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *test; test++)
		h = (h ^ (unsigned char)*test) * 0x100000001b3ULL;
	dp->seed = h ^ dp->drv.features ^ dp_env("KVNET_DP_SEED", 0);
	dp->rng = dp->seed ?: 1;
}

/* ---- frames ----------------------------------------------------------------- */

static uint8_t dp_pattern(uint32_t seq, unsigned int i)
{
	uint32_t x = seq * 0x9e3779b1U ^ i * 0x85ebca6bU;

	x ^= x >> 15;
	x *= 0x2c1b3c6dU;
	return x ^ (x >> 12) ^ (x >> 24);
}

static void dp_put32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, sizeof(v));
}

static uint32_t dp_get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return ntohl(v);
}

/* Frame @seq of @len bytes going in direction @dir. */
static void dp_frame(uint8_t *f, unsigned int dir, uint32_t seq,
		     unsigned int len)
{
	unsigned int i;

	memset(f, 0xff, ETH_ALEN);
	f[6] = 0x02;			/* locally administered */
	memcpy(f + 7, "kvne", 4);
	f[11] = dir;
	f[12] = DP_ETHERTYPE >> 8;
	f[13] = DP_ETHERTYPE & 0xff;
	dp_put32(f + 14, DP_MAGIC);
	dp_put32(f + 18, seq);
	f[22] = len >> 8;
	f[23] = len & 0xff;
	f[24] = dir;
	f[25] = 0;
	for (i = DP_FRAME_HDR; i < len; i++)
		f[i] = dp_pattern(seq, i);
}

/*
 * Compare @got (@n bytes) with frame @seq of @len bytes: NULL if equal,
 * else what differs.
 */
static const char *dp_frame_diff(const uint8_t *got, size_t n,
				 unsigned int dir, uint32_t seq,
				 unsigned int len)
{
	uint8_t want[DP_MAX_FRAME];
	size_t i;

	unsigned int got_len = n >= DP_FRAME_HDR ? got[22] << 8 | got[23] : 0;

	/* Another frame of ours: say which, rather than where it differs. */
	if (n >= DP_FRAME_HDR && dp_get32(got + 14) == DP_MAGIC &&
	    (dp_get32(got + 18) != seq || got_len != len || got[24] != dir))
		return kvnet_fmt("got frame %u (%u bytes, dir %c), expected frame %u (%u bytes, dir %c)",
				 dp_get32(got + 18), got_len, got[24], seq, len,
				 dir);
	dp_frame(want, dir, seq, len);
	for (i = 0; i < n && i < len; i++)
		if (got[i] != want[i])
			return kvnet_fmt("frame %u (%u bytes): byte %zu is %#04x, expected %#04x",
					 seq, len, i, got[i], want[i]);
	if (n != len)
		return kvnet_fmt("frame %u: %zu bytes, expected %u", seq, n, len);
	return NULL;
}

/* ---- setup ------------------------------------------------------------------ */

/*
 * No IPv6 on the tap (its router solicitations would reach the guest):
 * nothing but the tests' frames goes through it. 0 or -errno; -ENOENT
 * without IPv6.
 */
static int dp_quiet_ipv6(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6",
		 name);
	return kvnet_write_file(path, "1");
}

static void dp_setup(struct __test_metadata *_metadata, struct dp *dp,
		     const struct dp_device *dev, uint64_t features)
{
	int rcvbuf = 8 << 20, r;
	struct timeval tv = { .tv_sec = DP_WAIT_MS / 1000 };

	memset(dp, 0, sizeof(*dp));
	vdrv_init(&dp->drv);
	dp->tap = dp->psock = dp->ssock = -1;
	dp->saved_weight = -1;
	dp->dev = dev;

	kvnet_enter_netns();
	/* Best effort: what counts is the tap's own setting, below. */
	dp_quiet_ipv6("default");
	vdrv_open(&dp->drv, dev->path, features);
	ASSERT_GE(DP_TX_SLOTS, dp->drv.brk) TH_LOG("rings overlap the slots");
	dp->drv.vqs[VDRV_TX].indirect_gpa = DP_TX_TABLES;
	dp->drv.vqs[VDRV_RX].indirect_gpa = DP_RX_TABLES;
	dp_seed(dp, _metadata->name);

	dp->tap = vdrv_tap_create(dp->drv.hdr_len, dp->tap_name);
	r = dp_quiet_ipv6(dp->tap_name);
	ASSERT_TRUE(!r || r == -ENOENT) TH_LOG("IPv6 off on %s: %s",
					      dp->tap_name, kvnet_errname(-r));
	ASSERT_EQ(0, __kvnet_link_up(dp->tap_name));
	dp->ifindex = if_nametoindex(dp->tap_name);
	ASSERT_LT(0, dp->ifindex);
	kvnet_set_backend(dp->drv.fd, VDRV_RX, dp->tap);
	kvnet_set_backend(dp->drv.fd, VDRV_TX, dp->tap);

	dp->psock = kvnet_check(__kvnet_packet_socket(dp->tap_name,
						      DP_ETHERTYPE));
	ASSERT_EQ(0, setsockopt(dp->psock, SOL_SOCKET, SO_RCVBUFFORCE,
				&rcvbuf, sizeof(rcvbuf)))
		TH_LOG("SO_RCVBUFFORCE: %s", strerror(errno));
	/* Protocol 0: it sends only. */
	dp->ssock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, dp->ssock) TH_LOG("AF_PACKET socket: %s", strerror(errno));
	ASSERT_EQ(0, setsockopt(dp->ssock, SOL_SOCKET, SO_SNDTIMEO, &tv,
				sizeof(tv)));
}

#define DP_WEIGHT_PACKETS "/sys/module/kvnet/parameters/weight_packets"

static void dp_teardown(struct dp *dp)
{
	if (dp->saved_weight >= 0)
		kvnet_write_ll(DP_WEIGHT_PACKETS, dp->saved_weight);
	dp->saved_weight = -1;
	if (dp->psock >= 0)
		close(dp->psock);
	if (dp->ssock >= 0)
		close(dp->ssock);
	vdrv_close(&dp->drv);
	if (dp->tap >= 0)
		close(dp->tap);
	dp->psock = dp->ssock = dp->tap = -1;
}

/* Frames the packet socket dropped for want of room. */
static unsigned int dp_psock_drops(struct dp *dp)
{
	struct tpacket_stats st = { 0 };
	socklen_t len = sizeof(st);

	if (getsockopt(dp->psock, SOL_PACKET, PACKET_STATISTICS, &st, &len))
		return 0;
	return st.tp_drops;
}

static void dp_stats(struct __test_metadata *_metadata, struct dp *dp,
		     unsigned int q, struct kvnet_vring_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (dp->dev->kvnet)
		kvnet_get_stats(dp->drv.fd, q, st);
}

/* ---- buffer layouts ------------------------------------------------------- */

/*
 * Cut @total bytes into segments with random gaps between them: the first
 * @first bytes (if any) as a segment of their own, the rest in @pieces
 * segments of random sizes; in an indirect table if @indirect.
 */
static void dp_layout(struct dp *dp, size_t total, size_t first,
		      unsigned int pieces, bool indirect,
		      struct vdrv_layout *l)
{
	size_t done = 0, left, len;
	unsigned int k;

	l->nseg = 0;
	l->indirect = indirect;
	if (first) {
		l->gap[0] = dp_rand(dp) % 64;
		l->len[l->nseg++] = first;
		done = first;
	}
	for (k = 0; done < total; k++) {
		left = total - done;
		if (k + 1 >= pieces || left == 1)
			len = left;
		else
			len = 1 + dp_rand(dp) % (left - 1);
		l->gap[l->nseg] = dp_rand(dp) % (l->nseg ? 48 : 64);
		l->len[l->nseg++] = len;
		done += len;
	}
}

/*
 * Without VERSION_1 (no ANY_LAYOUT) a driver gives the header a
 * descriptor of its own; a version 1 driver may lay a chain out freely.
 */
static size_t dp_hdr_alone(struct dp *dp)
{
	if (!dp_has(dp, VIRTIO_F_VERSION_1) || dp_rand(dp) % 2)
		return dp->drv.hdr_len;
	return 0;
}

static bool dp_use_indirect(struct dp *dp)
{
	if (dp->force_indirect)
		return true;
	return dp_has(dp, VIRTIO_RING_F_INDIRECT_DESC) && dp_rand(dp) % 2;
}

/* ---- TX: guest to host ---------------------------------------------------- */

/*
 * Make frame @seq of @len bytes available on the TX queue, after a zero
 * header (no offloads): 0, or -ENOSPC / -EBUSY when there is no room yet.
 */
static int dp_tx_post(struct __test_metadata *_metadata, struct dp *dp,
		      uint32_t seq, unsigned int len)
{
	struct vdrv_vq *tx = &dp->drv.vqs[VDRV_TX];
	unsigned int s = seq % tx->num;
	uint64_t slot = DP_TX_SLOTS + s * DP_SLOT;
	struct virtio_net_hdr_mrg_rxbuf hdr = { 0 };
	uint8_t frame[DP_SLOT];
	struct vdrv_layout l;
	int head;

	if (dp->tx[s].busy)
		return -EBUSY;
	dp_layout(dp, dp->drv.hdr_len + len, dp_hdr_alone(dp),
		  1 + dp_rand(dp) % 4, dp_use_indirect(dp), &l);
	if (tx->num_free < (l.indirect ? 1 : l.nseg))
		return -ENOSPC;

	/* Gaps between the segments hold bytes that must not be sent. */
	memset(frame, DP_GAP_POISON, sizeof(frame));
	ASSERT_EQ(0, vdrv_write(&dp->drv, slot, frame, DP_SLOT));
	dp_frame(frame, DP_DIR_TX, seq, len);
	head = vdrv_tx_post(tx, slot, &hdr, frame, len, &l, &dp->tx[s]);
	ASSERT_LE(0, head) TH_LOG("vdrv_tx_post: %s", kvnet_errname(-head));
	dp->tx[s] = (struct dp_txbuf) { .busy = true, .seq = seq, .len = len };
	return 0;
}

/* The next frame out of the tap, waiting up to @timeout_ms: bytes or -errno. */
static ssize_t dp_tap_recv(struct dp *dp, uint8_t *buf, size_t size,
			   int timeout_ms)
{
	struct pollfd pfd = { .fd = dp->psock, .events = POLLIN };
	ssize_t n;

	n = recv(dp->psock, buf, size, MSG_DONTWAIT | MSG_TRUNC);
	if (n >= 0 || errno != EAGAIN || !timeout_ms)
		return n < 0 ? -errno : n;
	if (poll(&pfd, 1, timeout_ms) != 1)
		return -ETIMEDOUT;
	n = recv(dp->psock, buf, size, MSG_DONTWAIT | MSG_TRUNC);
	return n < 0 ? -errno : n;
}

/* Take the TX used entries: how many. Each must be a frame in flight. */
static unsigned int dp_tx_reap(struct __test_metadata *_metadata,
			       struct dp *dp)
{
	struct vdrv_vq *tx = &dp->drv.vqs[VDRV_TX];
	unsigned int n = 0;
	void *token;
	uint32_t len;
	int r;

	while ((r = vdrv_get_buf(tx, &token, &len)) == 1) {
		struct dp_txbuf *b = token;

		/* The length counts bytes written: none on TX. */
		ASSERT_EQ(0U, len)
			TH_LOG("TX used entry of frame %u: length %u, expected 0",
			       b->seq, len);
		b->busy = false;
		n++;
	}
	ASSERT_EQ(0, r) TH_LOG("%s", dp->drv.error);
	return n;
}

/* Expect frame @seq of @len bytes out of the tap within DP_WAIT_MS. */
static void dp_tx_expect(struct __test_metadata *_metadata, struct dp *dp,
			 uint32_t seq, unsigned int len, const char *when)
{
	uint8_t buf[DP_SLOT];
	const char *diff;
	ssize_t n;

	n = dp_tap_recv(dp, buf, sizeof(buf), DP_WAIT_MS);
	ASSERT_LE(0, n) TH_LOG("%s: TX frame %u did not come out of the tap: %s",
			       when, seq, kvnet_errname(-n));
	diff = dp_frame_diff(buf, n, DP_DIR_TX, seq, len);
	ASSERT_EQ(NULL, diff) TH_LOG("%s: TX: %s", when, diff);
}

/*
 * Send @n frames of @lens through the TX queue, with up to DP_TX_WINDOW in
 * flight, and check each out of the tap, in order, and every used entry.
 */
static void dp_tx_run(struct __test_metadata *_metadata, struct dp *dp,
		      unsigned int n, const uint16_t *lens)
{
	struct vdrv_vq *tx = &dp->drv.vqs[VDRV_TX];
	unsigned int sent = 0, got = 0, used = 0, r;
	unsigned int restart = dp->tx_restart_every;
	uint32_t seq0 = dp->tx_seq;
	uint8_t buf[DP_SLOT];
	const char *diff;
	uint16_t base;
	ssize_t len;

	while (got < n || used < sent) {
		bool progress = false;

		while (sent < n && sent - got < DP_TX_WINDOW) {
			if (dp_tx_post(_metadata, dp, seq0 + sent, lens[sent]))
				break;
			sent++;
			progress = true;
		}
		ASSERT_EQ(0, vdrv_kick(tx));
		if (dp->tx_restart_every && sent >= restart) {
			/* Stopped and restarted with frames in flight. */
			restart = sent + dp->tx_restart_every;
			vdrv_vq_reset(&dp->drv, VDRV_TX, dp->tap, 0, &base);
			ASSERT_EQ(0, vdrv_notify(tx));
		}

		while ((len = dp_tap_recv(dp, buf, sizeof(buf), 0)) >= 0) {
			ASSERT_GT(sent, got) TH_LOG("TX: a frame nobody sent");
			diff = dp_frame_diff(buf, len, DP_DIR_TX, seq0 + got,
					     lens[got]);
			ASSERT_EQ(NULL, diff)
				TH_LOG("TX frame %u of %u (seed %#llx): %s",
				       got, n, (unsigned long long)dp->seed,
				       diff);
			got++;
			progress = true;
		}
		r = dp_tx_reap(_metadata, dp);
		used += r;
		if (progress || r)
			continue;

		/* Nothing moved: wait for a frame or a call. */
		if (vdrv_enable_cb(tx)) {
			struct pollfd pfd[2] = {
				{ .fd = dp->psock, .events = POLLIN },
				{ .fd = tx->call, .events = POLLIN },
			};

			ASSERT_LT(0, poll(pfd, 2, DP_WAIT_MS))
				TH_LOG("TX stalled: %u of %u frames made available, %u came out, %u used; %u dropped by the socket (seed %#llx)",
				       sent, n, got, used, dp_psock_drops(dp),
				       (unsigned long long)dp->seed);
			if (pfd[1].revents)
				tx->calls += vdrv_eventfd_wait(tx->call, 0);
		}
	}
	ASSERT_EQ(0U, tx->num_inflight);
	ASSERT_EQ(0U, dp_psock_drops(dp));
	dp->tx_seq += n;
}

/* One frame through an idle TX queue: out of the tap, and its buffer used. */
static void dp_tx_one(struct __test_metadata *_metadata, struct dp *dp,
		      const char *when)
{
	struct vdrv_vq *tx = &dp->drv.vqs[VDRV_TX];
	uint32_t seq = dp->tx_seq++;
	unsigned int len = dp_rand_len(dp);
	int r;

	ASSERT_EQ(0, dp_tx_post(_metadata, dp, seq, len)) TH_LOG("%s", when);
	ASSERT_EQ(0, vdrv_kick(tx));
	dp_tx_expect(_metadata, dp, seq, len, when);
	r = vdrv_wait_used(tx, DP_WAIT_MS);
	ASSERT_EQ(0, r) TH_LOG("%s: TX frame %u sent but not used: %s", when,
			       seq, r == -EPROTO ? dp->drv.error :
			       kvnet_errname(-r));
	ASSERT_EQ(1U, dp_tx_reap(_metadata, dp)) TH_LOG("%s", when);
}

/* ---- RX: host to guest ---------------------------------------------------- */

/* Send frame @seq of @len bytes into the tap, towards the device. */
static void dp_host_send(struct __test_metadata *_metadata, struct dp *dp,
			 uint32_t seq, unsigned int len)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(DP_ETHERTYPE),
		.sll_ifindex = dp->ifindex,
		.sll_halen = ETH_ALEN,
	};
	uint8_t f[DP_MAX_FRAME];
	ssize_t n;

	memset(sll.sll_addr, 0xff, ETH_ALEN);
	dp_frame(f, DP_DIR_RX, seq, len);
	n = sendto(dp->ssock, f, len, 0, (struct sockaddr *)&sll, sizeof(sll));
	ASSERT_EQ((ssize_t)len, n) TH_LOG("sendto on the tap, frame %u: %s",
					  seq, strerror(errno));
}

/* Capacity and layout of a new RX buffer in @b, by the policy. */
static void dp_rx_layout(struct dp *dp, struct dp_rxbuf *b,
			 struct vdrv_layout *l)
{
	size_t hlen = dp->drv.hdr_len;
	unsigned int k;

	switch (dp->rx_policy) {
	case DP_RX_FULL:
		b->cap = hlen + DP_MAX_FRAME + dp_rand(dp) % 256;
		dp_layout(dp, b->cap, dp_hdr_alone(dp), 1 + dp_rand(dp) % 3,
			  dp_use_indirect(dp), l);
		break;
	case DP_RX_MIXED:
		b->cap = 64 + dp_rand(dp) % (2048 - 64 + 1);
		dp_layout(dp, b->cap, 0, 1 + dp_rand(dp) % 3,
			  dp_use_indirect(dp), l);
		break;
	case DP_RX_MANY:
		b->cap = hlen + 1600;
		l->nseg = 5;
		l->indirect = false;
		l->len[0] = hlen;
		l->gap[0] = 0;
		for (k = 1; k < l->nseg; k++) {
			l->len[k] = 400;
			l->gap[k] = 16;
		}
		break;
	case DP_RX_SMALL:
		b->cap = 256;
		dp_layout(dp, b->cap,
			  dp_has(dp, VIRTIO_NET_F_MRG_RXBUF) ? 0 : dp_hdr_alone(dp),
			  1, dp_use_indirect(dp), l);
		break;
	}
}

/* Make one more RX buffer available: false if there is no room. */
static bool dp_rx_post_one(struct __test_metadata *_metadata, struct dp *dp)
{
	struct vdrv_vq *rx = &dp->drv.vqs[VDRV_RX];
	uint8_t poison[DP_SLOT];
	struct vdrv_layout l;
	struct dp_rxbuf *b;
	unsigned int i, k;
	uint64_t slot;
	int head;

	for (k = 0; k < rx->num; k++) {
		i = (dp->rx_next + k) % rx->num;
		if (!dp->rx[i].busy)
			break;
	}
	if (k == rx->num)
		return false;
	b = &dp->rx[i];
	slot = DP_RX_SLOTS + i * DP_SLOT;
	dp_rx_layout(dp, b, &l);
	if (rx->num_free < (l.indirect ? 1 : l.nseg))
		return false;
	memset(poison, DP_POISON, sizeof(poison));
	ASSERT_EQ(0, vdrv_write(&dp->drv, slot, poison, DP_SLOT));
	b->nseg = vdrv_layout_sg(&l, slot, b->seg);
	head = vdrv_rx_post(rx, slot, &l, b);
	ASSERT_LE(0, head) TH_LOG("vdrv_rx_post: %s", kvnet_errname(-head));
	b->busy = true;
	dp->rx_fifo[(dp->rx_fifo_head + dp->rx_posted) % rx->num] = i;
	dp->rx_posted++;
	dp->rx_next = i + 1;
	return true;
}

/* Make up to @max RX buffers available, then kick if the device wants it. */
static void dp_rx_fill(struct __test_metadata *_metadata, struct dp *dp,
		       unsigned int max)
{
	while (max-- && dp_rx_post_one(_metadata, dp))
		;
	ASSERT_EQ(0, vdrv_kick(&dp->drv.vqs[VDRV_RX]));
}

/*
 * Expect frame @seq of @len bytes in the next RX buffers, with a header
 * saying no offloads and the right num_buffers: the number of buffers.
 */
static unsigned int dp_rx_expect(struct __test_metadata *_metadata,
				 struct dp *dp, uint32_t seq,
				 unsigned int len, const char *when)
{
	struct vdrv_vq *rx = &dp->drv.vqs[VDRV_RX];
	size_t hlen = dp->drv.hdr_len, need = hlen + len, got = 0, cap = 0;
	static const uint8_t zero[sizeof(struct virtio_net_hdr)];
	uint8_t pkt[2048];
	unsigned int nbufs, k;
	const char *diff;

	/* The device fills buffers in the order they were made available. */
	for (nbufs = 0; cap < need && nbufs < dp->rx_posted; nbufs++)
		cap += dp->rx[dp->rx_fifo[(dp->rx_fifo_head + nbufs) %
					  rx->num]].cap;
	ASSERT_LE(need, cap) TH_LOG("%s: frame %u needs %zu bytes, %zu posted",
				    when, seq, need, cap);

	for (k = 0; k < nbufs; k++) {
		struct dp_rxbuf *b, *want;
		void *token;
		uint32_t ulen;
		int r;

		r = vdrv_wait_used(rx, DP_WAIT_MS);
		ASSERT_EQ(0, r)
			TH_LOG("%s: RX frame %u (%u bytes), buffer %u of %u: %s",
			       when, seq, len, k + 1, nbufs,
			       r == -EPROTO ? dp->drv.error : "no used entry");
		r = vdrv_get_buf(rx, &token, &ulen);
		ASSERT_EQ(1, r) TH_LOG("%s", dp->drv.error);
		b = token;
		want = &dp->rx[dp->rx_fifo[dp->rx_fifo_head]];
		ASSERT_EQ(want, b)
			TH_LOG("%s: RX frame %u: buffer %td used, expected %td, the next made available",
			       when, seq, b - dp->rx, want - dp->rx);
		ASSERT_GE(b->cap, ulen)
			TH_LOG("%s: RX frame %u: %u bytes used of a %u-byte buffer",
			       when, seq, ulen, b->cap);
		ASSERT_GE(need, got + ulen)
			TH_LOG("%s: RX frame %u: %zu bytes used, expected %zu",
			       when, seq, got + ulen, need);
		ASSERT_EQ(0, vdrv_sg_read(&dp->drv, b->seg, b->nseg,
					  pkt + got, ulen));
		got += ulen;
		b->busy = false;
		dp->rx_fifo_head = (dp->rx_fifo_head + 1) % rx->num;
		dp->rx_posted--;

		if (k || hlen != sizeof(struct virtio_net_hdr_mrg_rxbuf))
			continue;
		ASSERT_LE(hlen, ulen) TH_LOG("%s: RX frame %u: %u bytes in the first buffer",
					    when, seq, ulen);
		if (dp_has(dp, VIRTIO_NET_F_MRG_RXBUF) ||
		    dp->dev->num_buffers_always) {
			uint16_t nb = pkt[10] | pkt[11] << 8;

			ASSERT_EQ(nbufs, nb)
				TH_LOG("%s: RX frame %u (%u bytes): num_buffers %u, expected %u",
				       when, seq, len, nb, nbufs);
		}
	}
	ASSERT_EQ(need, got) TH_LOG("%s: RX frame %u: %zu bytes used, expected %zu",
				    when, seq, got, need);
	ASSERT_EQ(0, memcmp(pkt, zero, sizeof(zero)))
		TH_LOG("%s: RX frame %u: header %02x %02x %02x%02x %02x%02x %02x%02x %02x%02x, expected zeros (no offloads)",
		       when, seq, pkt[0], pkt[1], pkt[2], pkt[3], pkt[4],
		       pkt[5], pkt[6], pkt[7], pkt[8], pkt[9]);
	diff = dp_frame_diff(pkt + hlen, got - hlen, DP_DIR_RX, seq, len);
	ASSERT_EQ(NULL, diff) TH_LOG("%s: RX (seed %#llx): %s", when,
				     (unsigned long long)dp->seed, diff);
	return nbufs;
}

/*
 * Send @n frames of @lens into the tap, DP_RX_WINDOW at a time, and check
 * each in the guest's buffers, refilled as they are used.
 */
static void dp_rx_run(struct __test_metadata *_metadata, struct dp *dp,
		      unsigned int n, const uint16_t *lens)
{
	unsigned int i, j, w;
	uint16_t base;

	dp_rx_fill(_metadata, dp, VDRV_RING_NUM);
	for (i = 0; i < n; i += w) {
		w = n - i < DP_RX_WINDOW ? n - i : DP_RX_WINDOW;
		for (j = 0; j < w; j++)
			dp_host_send(_metadata, dp, dp->rx_seq + i + j,
				     lens[i + j]);
		if (dp->rx_restart) {
			/* Stopped and restarted with frames on their way. */
			vdrv_vq_reset(&dp->drv, VDRV_RX, dp->tap, 0, &base);
			ASSERT_EQ(0, vdrv_notify(&dp->drv.vqs[VDRV_RX]));
		}
		for (j = 0; j < w; j++) {
			dp_rx_expect(_metadata, dp, dp->rx_seq + i + j,
				     lens[i + j], kvnet_fmt("frame %u of %u", i + j, n));
			dp_rx_fill(_metadata, dp, VDRV_RING_NUM);
		}
	}
	dp->rx_seq += n;
}

/* One frame through an idle RX queue, into one buffer made available for it. */
static void dp_rx_one(struct __test_metadata *_metadata, struct dp *dp,
		      const char *when)
{
	uint32_t seq = dp->rx_seq++;
	unsigned int len = dp_rand_len(dp);

	ASSERT_EQ(0U, dp->rx_posted) TH_LOG("%s", when);
	dp_rx_fill(_metadata, dp, 1);
	dp_host_send(_metadata, dp, seq, len);
	dp_rx_expect(_metadata, dp, seq, len, when);
}

/* ---- byte-exact traffic ---------------------------------------------------- */

/*
 * A fixture @name whose tests run on both devices with the feature sets of
 * the group @sets. With @warm_up, one frame goes each way first, so that
 * the device has started both queues and the RX buffers are made
 * available one at a time.
 */
#define DP_FIXTURE(name, sets, warm_up)					\
	FIXTURE(name) {							\
		struct dp dp;						\
	};								\
	FIXTURE_VARIANT(name) {						\
		const struct dp_device *dev;				\
		uint64_t features;					\
	};								\
	sets(name, kvnet);						\
	sets(name, vhost_net);						\
	FIXTURE_SETUP(name)						\
	{								\
		dp_setup(_metadata, &self->dp, variant->dev,		\
			 variant->features);				\
		if (warm_up) {						\
			dp_tx_one(_metadata, &self->dp, "warm-up");	\
			dp_rx_one(_metadata, &self->dp, "warm-up");	\
		}							\
	}								\
	FIXTURE_TEARDOWN(name)						\
	{								\
		dp_teardown(&self->dp);					\
	}

/* Tests for every feature set, and those that need MRG_RXBUF or its absence. */
DP_FIXTURE(datapath, DP_SETS_ALL, false);
DP_FIXTURE(datapath_mrg, DP_SETS_MRG, false);
DP_FIXTURE(datapath_no_mrg, DP_SETS_NO_MRG, false);
DP_FIXTURE(datapath_defer, DP_SETS_KVNET_EVENT_IDX, false);

/* @n frame lengths: the extremes first, then random ones. */
static uint16_t *dp_lens(struct dp *dp, unsigned int n)
{
	uint16_t *lens = calloc(n, sizeof(*lens));
	unsigned int i;

	for (i = 0; lens && i < n; i++)
		lens[i] = i == 0 ? DP_MIN_FRAME : i == 1 ? DP_MAX_FRAME :
			  dp_rand_len(dp);
	return lens;
}

static uint64_t dp_sum(const uint16_t *lens, unsigned int n)
{
	uint64_t sum = 0;

	while (n--)
		sum += lens[n];
	return sum;
}

/*
 * What debugfs shows anyone equals what the owner's ioctl returned: the
 * queue is idle, so nothing moved in between.
 */
static void dp_check_debugfs(struct __test_metadata *_metadata, unsigned int q,
			     const struct kvnet_vring_stats *st)
{
	struct kvnet_vring_stats dbg;
	char dir[PATH_MAX];
	int ret;

	ret = __kvnet_debugfs_dir(getpid(), dir, sizeof(dir));
	ASSERT_EQ(0, ret) TH_LOG("debugfs directory of the device: %s",
				 kvnet_errname(-ret));
	ret = __kvnet_debugfs_stats(dir, q == VDRV_TX ? "tx" : "rx", &dbg);
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", dir, kvnet_errname(-ret));
	EXPECT_EQ(st->packets, dbg.packets) TH_LOG("q%u: debugfs packets", q);
	EXPECT_EQ(st->bytes, dbg.bytes) TH_LOG("q%u: debugfs bytes", q);
	EXPECT_EQ(st->calls, dbg.calls) TH_LOG("q%u: debugfs calls", q);
	EXPECT_EQ(st->kicks, dbg.kicks) TH_LOG("q%u: debugfs kicks", q);
	EXPECT_EQ(st->busy_polls, dbg.busy_polls)
		TH_LOG("q%u: debugfs busy_polls", q);
	EXPECT_EQ(st->busy_poll_hits, dbg.busy_poll_hits)
		TH_LOG("q%u: debugfs busy_poll_hits", q);
}

/* kvnet's counters of queue @q grew by @packets frames of @bytes. */
static void dp_check_counts(struct __test_metadata *_metadata, struct dp *dp,
			    unsigned int q, const struct kvnet_vring_stats *st0,
			    uint64_t packets, uint64_t bytes)
{
	struct kvnet_vring_stats st;

	if (!dp->dev->kvnet)
		return;		/* KVNET_GET_VRING_STATS is kvnet's own */
	dp_stats(_metadata, dp, q, &st);
	EXPECT_EQ(packets, st.packets - st0->packets)
		TH_LOG("q%u: packets counted", q);
	EXPECT_EQ(bytes, st.bytes - st0->bytes)
		TH_LOG("q%u: bytes counted (headers excluded)", q);
	EXPECT_EQ(0ULL, st.errors - st0->errors) TH_LOG("q%u: errors", q);
	dp_check_debugfs(_metadata, q, &st);
}

/*
 * Hundreds of frames of random sizes and layouts (split, header alone or
 * not, indirect) from the guest, out of the tap byte for byte and in
 * order, and every buffer given back.
 */
TEST_F_TIMEOUT(datapath, tx_byte_exact, 120)
{
	struct dp *dp = &self->dp;
	unsigned int n = dp_env("KVNET_DP_FRAMES", DP_FRAMES);
	struct kvnet_vring_stats st0;
	uint16_t *lens = dp_lens(dp, n);

	ASSERT_NE(NULL, lens);
	dp_stats(_metadata, dp, VDRV_TX, &st0);
	dp_tx_run(_metadata, dp, n, lens);
	dp_check_counts(_metadata, dp, VDRV_TX, &st0, n, dp_sum(lens, n));
	free(lens);
}

/*
 * Hundreds of frames of random sizes from the host into buffers of varied
 * layouts (mergeable ones of varied sizes with MRG_RXBUF): byte for byte,
 * in order, with a header saying no offloads and num_buffers right.
 */
TEST_F_TIMEOUT(datapath, rx_byte_exact, 120)
{
	struct dp *dp = &self->dp;
	unsigned int n = dp_env("KVNET_DP_FRAMES", DP_FRAMES);
	struct kvnet_vring_stats st0;
	uint16_t *lens = dp_lens(dp, n);

	ASSERT_NE(NULL, lens);
	if (dp_has(dp, VIRTIO_NET_F_MRG_RXBUF))
		dp->rx_policy = DP_RX_MIXED;
	dp_stats(_metadata, dp, VDRV_RX, &st0);
	dp_rx_run(_metadata, dp, n, lens);
	dp_check_counts(_metadata, dp, VDRV_RX, &st0, n, dp_sum(lens, n));
	free(lens);
}

/* With MRG_RXBUF and 256-byte buffers a frame spans as many as it needs. */
TEST_F(datapath_mrg, rx_mergeable_spans_buffers)
{
	struct dp *dp = &self->dp;
	size_t hlen = dp->drv.hdr_len;
	/* Exactly one buffer, one byte more, a full frame, the extremes. */
	unsigned int lens[] = { 256 - hlen, 256 - hlen + 1, 1500, DP_MAX_FRAME,
				DP_MIN_FRAME, 512 - hlen, 1000 };
	unsigned int i, nb, want;

	dp->rx_policy = DP_RX_SMALL;
	dp_rx_fill(_metadata, dp, VDRV_RING_NUM);
	for (i = 0; i < ARRAY_SIZE(lens); i++) {
		dp_host_send(_metadata, dp, dp->rx_seq, lens[i]);
		nb = dp_rx_expect(_metadata, dp, dp->rx_seq++, lens[i],
				  kvnet_fmt("%u-byte frame", lens[i]));
		want = (hlen + lens[i] + 255) / 256;
		EXPECT_EQ(want, nb) TH_LOG("%u-byte frame in 256-byte buffers",
					   lens[i]);
		dp_rx_fill(_metadata, dp, VDRV_RING_NUM);
	}
}

/*
 * The 16-bit ring indices wrap: the avail and used indices, and with
 * EVENT_IDX the event indices, from 2^16 - 150 on.
 */
TEST_F(datapath, indices_wrap)
{
	struct dp *dp = &self->dp;
	const uint16_t base = 0x10000 - 150;
	const unsigned int n = 300;
	uint16_t *lens = dp_lens(dp, n);

	ASSERT_NE(NULL, lens);
	vdrv_vq_rebase(&dp->drv, VDRV_TX, base, dp->tap);
	vdrv_vq_rebase(&dp->drv, VDRV_RX, base, dp->tap);
	dp_tx_run(_metadata, dp, n, lens);
	EXPECT_EQ((uint16_t)(base + n), vdrv_used_idx(&dp->drv.vqs[VDRV_TX]))
		TH_LOG("TX used index after %u frames from %u", n, base);
	if (dp_has(dp, VIRTIO_NET_F_MRG_RXBUF))
		dp->rx_policy = DP_RX_MIXED;
	dp_rx_run(_metadata, dp, n, lens);
	EXPECT_GT(base, vdrv_used_idx(&dp->drv.vqs[VDRV_RX]))
		TH_LOG("RX used index %u after %u frames from %u: no wrap",
		       vdrv_used_idx(&dp->drv.vqs[VDRV_RX]), n, base);
	free(lens);
}

/*
 * The VMM stops and restarts the queues (backend detached, GET and
 * SET_VRING_BASE, backend attached) in the middle of traffic, as for a
 * migration: every frame arrives once, in order, and every buffer comes
 * back, including what the device had taken from the tap meanwhile.
 */
TEST_F(datapath, vmm_restarts_mid_traffic)
{
	struct dp *dp = &self->dp;
	const unsigned int n = 200;
	struct kvnet_vring_stats tx0, rx0;
	uint16_t *lens = dp_lens(dp, n);

	ASSERT_NE(NULL, lens);
	dp_stats(_metadata, dp, VDRV_TX, &tx0);
	dp_stats(_metadata, dp, VDRV_RX, &rx0);
	dp->tx_restart_every = 16;
	dp->rx_restart = 1;
	if (dp_has(dp, VIRTIO_NET_F_MRG_RXBUF))
		dp->rx_policy = DP_RX_MIXED;
	dp_tx_run(_metadata, dp, n, lens);
	dp_rx_run(_metadata, dp, n, lens);
	dp_check_counts(_metadata, dp, VDRV_TX, &tx0, n, dp_sum(lens, n));
	dp_check_counts(_metadata, dp, VDRV_RX, &rx0, n, dp_sum(lens, n));
	free(lens);
}

/*
 * A queue out of its budget (kvnet's weight_packets, lowered to 4 here)
 * yields and comes back: nothing lost, nothing reordered. TX posts a
 * window of frames before it kicks; on RX a burst of frames waits in the
 * tap for buffers first, so that either queue has more than 4 packets in
 * one handler run whatever the timing.
 */
TEST_F(datapath, budget_requeue)
{
	struct dp *dp = &self->dp;
	const unsigned int n = 100, burst = 16;
	struct kvnet_vring_stats tx0, rx0, st;
	uint16_t *lens = dp_lens(dp, n);
	long long weight;
	unsigned int i;
	int r;

	ASSERT_NE(NULL, lens);
	if (dp->dev->kvnet) {
		weight = kvnet_read_ll(DP_WEIGHT_PACKETS);
		ASSERT_LT(0, weight) TH_LOG("%s: %s", DP_WEIGHT_PACKETS,
					    kvnet_errname(-weight));
		dp->saved_weight = weight;
		r = kvnet_write_ll(DP_WEIGHT_PACKETS, 4);
		ASSERT_EQ(0, r) TH_LOG("weight_packets = 4: %s",
				       kvnet_errname(-r));
	}
	dp_stats(_metadata, dp, VDRV_TX, &tx0);
	dp_stats(_metadata, dp, VDRV_RX, &rx0);
	dp_tx_run(_metadata, dp, n, lens);

	ASSERT_EQ(0U, dp->rx_posted);
	for (i = 0; i < burst; i++)
		dp_host_send(_metadata, dp, dp->rx_seq + i, lens[i]);
	if (dp->dev->kvnet)
		ASSERT_TRUE(kvnet_wait_until(
			!__kvnet_get_stats(dp->drv.fd, VDRV_RX, &st) &&
			st.handler_runs > rx0.handler_runs, DP_WAIT_MS))
			TH_LOG("the RX handler never ran for the burst");
	dp_rx_fill(_metadata, dp, VDRV_RING_NUM);
	for (i = 0; i < burst; i++)
		dp_rx_expect(_metadata, dp, dp->rx_seq + i, lens[i],
			     kvnet_fmt("burst frame %u of %u", i, burst));
	dp->rx_seq += burst;
	dp_rx_run(_metadata, dp, n, lens);

	dp_check_counts(_metadata, dp, VDRV_TX, &tx0, n, dp_sum(lens, n));
	dp_check_counts(_metadata, dp, VDRV_RX, &rx0, n + burst,
			dp_sum(lens, n) + dp_sum(lens, burst));
	if (dp->dev->kvnet) {
		dp_stats(_metadata, dp, VDRV_TX, &st);
		EXPECT_LT(tx0.requeues, st.requeues)
			TH_LOG("TX never ran out of a 4-packet budget");
		dp_stats(_metadata, dp, VDRV_RX, &st);
		EXPECT_LT(rx0.requeues, st.requeues)
			TH_LOG("RX never ran out of a 4-packet budget");
	}
	free(lens);
}

/* A frame that fills a buffer to the last byte, mergeable or not. */
TEST_F(datapath, rx_exact_fit)
{
	struct dp *dp = &self->dp;
	unsigned int len = 256 - dp->drv.hdr_len, i;

	dp->rx_policy = DP_RX_SMALL;
	dp_rx_fill(_metadata, dp, VDRV_RING_NUM);
	for (i = 0; i < 20; i++) {
		dp_host_send(_metadata, dp, dp->rx_seq, len);
		EXPECT_EQ(1U, dp_rx_expect(_metadata, dp, dp->rx_seq++, len,
					   kvnet_fmt("%u-byte frame %u", len, i)))
			TH_LOG("a %u-byte frame in more than one 256-byte buffer",
			       len);
		dp_rx_fill(_metadata, dp, VDRV_RING_NUM);
	}
}

/*
 * With MRG_RXBUF a frame that needs more buffers than there are waits,
 * holding none, until enough come.
 */
TEST_F(datapath_mrg, rx_mergeable_waits_for_enough)
{
	struct dp *dp = &self->dp;
	struct vdrv_vq *rx = &dp->drv.vqs[VDRV_RX];
	struct kvnet_vring_stats st0, st;
	uint32_t seq = dp->rx_seq++;

	dp->rx_policy = DP_RX_SMALL;
	dp_stats(_metadata, dp, VDRV_RX, &st0);
	dp_rx_fill(_metadata, dp, 2);
	dp_host_send(_metadata, dp, seq, 1500);
	if (dp->dev->kvnet)
		EXPECT_TRUE(kvnet_wait_until(
			!__kvnet_get_stats(dp->drv.fd, VDRV_RX, &st) &&
			st.handler_runs > st0.handler_runs, DP_WAIT_MS))
			TH_LOG("the RX handler never ran for the frame");
	kvnet_sleep_ms(200);
	EXPECT_EQ(0, vdrv_used_idx(rx))
		TH_LOG("a 1500-byte frame with two 256-byte buffers available");
	dp_rx_fill(_metadata, dp, VDRV_RING_NUM);
	EXPECT_EQ((dp->drv.hdr_len + 1500 + 255) / 256,
		  dp_rx_expect(_metadata, dp, seq, 1500, "once enough buffers came"));
}

/*
 * Without MRG_RXBUF a frame larger than the next buffer is dropped: the
 * buffer waits for the next frame, and the device writes nothing outside
 * the buffers it was given, not even where earlier buffers were.
 */
TEST_F(datapath_no_mrg, rx_too_big_dropped)
{
	struct dp *dp = &self->dp;
	struct vdrv_vq *rx = &dp->drv.vqs[VDRV_RX];
	uint8_t mem[DP_SLOT], poison[DP_SLOT];
	struct kvnet_vring_stats st0;
	unsigned int i, j, posted;
	uint32_t big, small;

	/* Traffic first, the last frame through a buffer of 5 segments. */
	dp_rx_one(_metadata, dp, "warm-up");
	dp->rx_policy = DP_RX_MANY;
	dp_rx_one(_metadata, dp, "warm-up, 5 segments");
	/* The guest has all its RX memory back: mark it. */
	memset(poison, DP_POISON, sizeof(poison));
	for (i = 0; i < VDRV_RING_NUM; i++)
		ASSERT_EQ(0, vdrv_write(&dp->drv, DP_RX_SLOTS + i * DP_SLOT,
					poison, DP_SLOT));

	dp->rx_policy = DP_RX_SMALL;
	dp_stats(_metadata, dp, VDRV_RX, &st0);
	dp_rx_fill(_metadata, dp, 1);
	posted = dp->rx_fifo[dp->rx_fifo_head];
	big = dp->rx_seq++;
	small = dp->rx_seq++;
	dp_host_send(_metadata, dp, big, 1000);
	dp_host_send(_metadata, dp, small, 200);
	ASSERT_TRUE(kvnet_wait_until(vdrv_more_used(rx), DP_WAIT_MS))
		TH_LOG("neither frame arrived");
	kvnet_sleep_ms(100);

	for (i = 0; i < VDRV_RING_NUM; i++) {
		if (i == posted)
			continue;
		ASSERT_EQ(0, vdrv_read(&dp->drv, DP_RX_SLOTS + i * DP_SLOT,
				       mem, DP_SLOT));
		for (j = 0; j < DP_SLOT && mem[j] == DP_POISON; j++)
			;
		EXPECT_EQ(DP_SLOT, j)
			TH_LOG("RX slot %u, not made available, written at offset %u",
			       i, j);
	}
	dp_rx_expect(_metadata, dp, small, 200,
		     "the frame after a 1000-byte one, 256-byte buffer");
	EXPECT_EQ(3, vdrv_used_idx(rx)) TH_LOG("RX used entries");
	dp_check_counts(_metadata, dp, VDRV_RX, &st0, 1, 200);
}

/*
 * Frames that arrive while the guest has no buffers wait in the tap; once
 * buffers come and the guest kicks, all of them arrive, in order.
 */
TEST_F(datapath, rx_waits_for_buffers)
{
	struct dp *dp = &self->dp;
	struct vdrv_vq *rx = &dp->drv.vqs[VDRV_RX];
	struct kvnet_vring_stats st0, st;
	const unsigned int burst = 16;
	uint16_t lens[16];
	unsigned int i;

	for (i = 0; i < burst; i++)
		lens[i] = dp_rand_len(dp);
	dp_stats(_metadata, dp, VDRV_RX, &st0);
	for (i = 0; i < burst; i++)
		dp_host_send(_metadata, dp, dp->rx_seq + i, lens[i]);

	/* The device looked (kvnet says when) and found nothing to fill. */
	if (dp->dev->kvnet)
		EXPECT_TRUE(kvnet_wait_until(
			!__kvnet_get_stats(dp->drv.fd, VDRV_RX, &st) &&
			st.handler_runs > st0.handler_runs, DP_WAIT_MS))
			TH_LOG("the RX handler never ran for the frames");
	kvnet_sleep_ms(200);
	EXPECT_EQ(0, vdrv_used_idx(rx)) TH_LOG("used entries without buffers");
	EXPECT_EQ(0ULL, vdrv_eventfd_wait(rx->call, 0))
		TH_LOG("a call without a used buffer");

	dp_rx_fill(_metadata, dp, VDRV_RING_NUM);
	for (i = 0; i < burst; i++)
		dp_rx_expect(_metadata, dp, dp->rx_seq + i, lens[i],
			     kvnet_fmt("burst frame %u of %u", i, burst));
	dp->rx_seq += burst;
	dp_check_counts(_metadata, dp, VDRV_RX, &st0, burst,
			dp_sum(lens, burst));
}

/* Both directions at once: neither queue waits for the other. */
TEST_F_TIMEOUT(datapath, both_directions, 120)
{
	struct dp *dp = &self->dp;
	unsigned int n = dp_env("KVNET_DP_FRAMES", DP_FRAMES) / 4, i;
	struct vdrv_vq *tx = &dp->drv.vqs[VDRV_TX];
	uint16_t *lens = dp_lens(dp, n);

	ASSERT_NE(NULL, lens);
	dp_rx_fill(_metadata, dp, VDRV_RING_NUM);
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, dp_tx_post(_metadata, dp, dp->tx_seq + i, lens[i]));
		ASSERT_EQ(0, vdrv_kick(tx));
		dp_host_send(_metadata, dp, dp->rx_seq + i, lens[n - 1 - i]);
		dp_tx_expect(_metadata, dp, dp->tx_seq + i, lens[i],
			     kvnet_fmt("frame %u of %u", i, n));
		dp_rx_expect(_metadata, dp, dp->rx_seq + i, lens[n - 1 - i],
			     kvnet_fmt("frame %u of %u", i, n));
		dp_rx_fill(_metadata, dp, VDRV_RING_NUM);
		dp_tx_reap(_metadata, dp);
	}
	while (tx->num_inflight) {
		int r = vdrv_wait_used(tx, DP_WAIT_MS);

		ASSERT_EQ(0, r) TH_LOG("%u TX buffers sent but not used: %s",
				       tx->num_inflight, r == -EPROTO ?
				       dp->drv.error : kvnet_errname(-r));
		dp_tx_reap(_metadata, dp);
	}
	free(lens);
}

/*
 * The device calls when the guest asks: with EVENT_IDX once the used
 * index passes used_event, without it unless VRING_AVAIL_F_NO_INTERRUPT.
 */
TEST_F(datapath, calls_follow_the_guest)
{
	struct dp *dp = &self->dp;
	struct vdrv_vq *tx = &dp->drv.vqs[VDRV_TX];
	bool event_idx = dp_has(dp, VIRTIO_RING_F_EVENT_IDX);
	const unsigned int quiet = 3;
	unsigned int i, len;
	uint16_t used;

	/* After a start a device calls once regardless: get past that. */
	dp_tx_one(_metadata, dp, "first frame");
	vdrv_eventfd_wait(tx->call, DP_WAIT_MS);
	if (event_idx) {
		ASSERT_TRUE(vdrv_enable_cb_delayed(tx, quiet + 1));
	} else {
		vdrv_disable_cb(tx);
	}

	/* Entries are only looked at, not taken: used_event stays. */
	used = vdrv_used_idx(tx);
	for (i = 0; i <= quiet; i++) {
		if (i == quiet) {
			/* A late call would show by now. */
			EXPECT_EQ(0ULL, vdrv_eventfd_wait(tx->call, 100))
				TH_LOG("a call after %u entries, the guest asked for none",
				       quiet);
			/* Without EVENT_IDX: calls again from now on. */
			if (!event_idx)
				vdrv_enable_cb(tx);
		}
		len = dp_rand_len(dp);
		ASSERT_EQ(0, dp_tx_post(_metadata, dp, dp->tx_seq, len));
		ASSERT_EQ(0, vdrv_kick(tx));
		dp_tx_expect(_metadata, dp, dp->tx_seq++, len,
			     kvnet_fmt("frame %u", i));
		ASSERT_TRUE(kvnet_wait_until(vdrv_used_idx(tx) != used,
					     DP_WAIT_MS))
			TH_LOG("frame %u sent, its buffer not used", i);
		used = vdrv_used_idx(tx);
	}
	EXPECT_LT(0ULL, vdrv_eventfd_wait(tx->call, DP_WAIT_MS))
		TH_LOG("no call after entry %u, the guest asked for one",
		       quiet + 1);
	EXPECT_EQ(quiet + 1, dp_tx_reap(_metadata, dp));
}

/*
 * kvnet holds a TX interrupt back while RX flows (tx_irq_defer_us): a
 * driver that takes the used entries meanwhile, as virtio_net's RX poll
 * does, gets no interrupt for them; one that does not still gets it.
 */
TEST_F(datapath_defer, tx_irq_waits_while_rx_flows)
{
	struct dp *dp = &self->dp;
	struct vdrv_vq *tx = &dp->drv.vqs[VDRV_TX];
	const char *param = "/sys/module/kvnet/parameters/tx_irq_defer_us";
	long long defer_ms = (kvnet_read_ll(param) + 999) / 1000;
	struct kvnet_vring_stats st0, st;
	unsigned int len;
	uint16_t used;

	ASSERT_LT(0, defer_ms) TH_LOG("%s", param);

	/* After a start a device calls once regardless: get past that. */
	dp_tx_one(_metadata, dp, "first frame");
	vdrv_eventfd_wait(tx->call, DP_WAIT_MS);

	/* RX active; the guest asks for a call at the next TX entry. */
	dp_rx_one(_metadata, dp, "RX traffic");
	vdrv_eventfd_wait(tx->call, 0);
	ASSERT_TRUE(vdrv_enable_cb(tx));
	dp_stats(_metadata, dp, VDRV_TX, &st0);

	used = vdrv_used_idx(tx);
	len = dp_rand_len(dp);
	ASSERT_EQ(0, dp_tx_post(_metadata, dp, dp->tx_seq, len));
	ASSERT_EQ(0, vdrv_kick(tx));
	dp_tx_expect(_metadata, dp, dp->tx_seq++, len, "frame 1");
	ASSERT_TRUE(kvnet_wait_until(vdrv_used_idx(tx) != used, DP_WAIT_MS))
		TH_LOG("frame 1 sent, its buffer not used");
	/* Taken at once: used_event moves past it, as the RX poll does. */
	ASSERT_EQ(1U, dp_tx_reap(_metadata, dp));
	EXPECT_EQ(0ULL, vdrv_eventfd_wait(tx->call, 8 * defer_ms + 200))
		TH_LOG("a TX call although the guest took the entry");
	dp_stats(_metadata, dp, VDRV_TX, &st);
	EXPECT_EQ(st0.calls, st.calls) TH_LOG("TX calls counted");

	/* Not taken: the call comes after all. */
	dp_rx_one(_metadata, dp, "RX traffic again");
	used = vdrv_used_idx(tx);
	len = dp_rand_len(dp);
	ASSERT_EQ(0, dp_tx_post(_metadata, dp, dp->tx_seq, len));
	ASSERT_EQ(0, vdrv_kick(tx));
	dp_tx_expect(_metadata, dp, dp->tx_seq++, len, "frame 2");
	EXPECT_LT(0ULL, vdrv_eventfd_wait(tx->call, DP_WAIT_MS))
		TH_LOG("no TX call for an entry the guest left on the ring");
	EXPECT_NE(used, vdrv_used_idx(tx));
	EXPECT_EQ(1U, dp_tx_reap(_metadata, dp));
}

/* ---- malformed rings ------------------------------------------------------ */

/* What a builder of a bad ring did. */
struct dp_bad {
	const char *what;
	/* Avail entries the reset drops: the bad chain's, or none. */
	unsigned int drop;
	/* A good chain after it would undo the damage: post none. */
	bool no_followup;
	/* Descriptors to give back once the queue is reset. */
	uint16_t desc[4];
	unsigned int ndesc;
};

typedef void (*dp_bad_fn)(struct __test_metadata *_metadata, struct dp *dp,
			  struct vdrv_vq *vq, struct dp_bad *bad);

/*
 * A buffer that would be good on its own: a frame to send on TX, room
 * for one on RX (device-writable).
 */
static struct vring_desc dp_bad_buf(struct __test_metadata *_metadata,
				    struct dp *dp, struct vdrv_vq *vq,
				    uint16_t flags)
{
	size_t hlen = dp->drv.hdr_len;
	uint8_t buf[DP_SLOT];

	if (vq->index == VDRV_RX)
		return (struct vring_desc) {
			.addr = DP_SCRATCH_RX, .len = 2048,
			.flags = flags | VRING_DESC_F_WRITE,
		};
	memset(buf, 0, hlen);
	dp_frame(buf + hlen, DP_DIR_TX, 0xbad00000, DP_MIN_FRAME);
	EXPECT_EQ(0, vdrv_write(&dp->drv, DP_SCRATCH_TX, buf,
				hlen + DP_MIN_FRAME));
	return (struct vring_desc) {
		.addr = DP_SCRATCH_TX, .len = hlen + DP_MIN_FRAME,
		.flags = flags,
	};
}

/* Put @d in a descriptor of @vq taken off the free list: its index. */
static uint16_t dp_bad_desc(struct __test_metadata *_metadata,
			    struct vdrv_vq *vq, struct dp_bad *bad,
			    struct vring_desc d)
{
	int i = vdrv_desc_get(vq);

	EXPECT_LE(0, i) TH_LOG("no free descriptor on an idle queue");
	if (i < 0 || bad->ndesc == ARRAY_SIZE(bad->desc))
		return 0;
	vq->vring.desc[i] = d;
	bad->desc[bad->ndesc++] = i;
	return i;
}

/* An indirect table of @n entries at @gpa. */
static void dp_bad_table(struct __test_metadata *_metadata, struct dp *dp,
			 uint64_t gpa, const struct vring_desc *table,
			 unsigned int n)
{
	EXPECT_EQ(0, vdrv_write(&dp->drv, gpa, table, n * sizeof(*table)));
}

static void dp_bad_head(struct __test_metadata *_metadata, struct dp *dp,
			struct vdrv_vq *vq, struct dp_bad *bad)
{
	(void)_metadata;
	(void)dp;
	bad->what = "a head index past the ring";
	vdrv_avail_push(vq, vq->num + 7);
}

static void dp_bad_next(struct __test_metadata *_metadata, struct dp *dp,
			struct vdrv_vq *vq, struct dp_bad *bad)
{
	struct vring_desc d = dp_bad_buf(_metadata, dp, vq, VRING_DESC_F_NEXT);

	bad->what = "a next index past the ring";
	d.next = vq->num + 3;
	vdrv_avail_push(vq, dp_bad_desc(_metadata, vq, bad, d));
}

static void dp_bad_loop(struct __test_metadata *_metadata, struct dp *dp,
			struct vdrv_vq *vq, struct dp_bad *bad)
{
	struct vring_desc d = dp_bad_buf(_metadata, dp, vq, VRING_DESC_F_NEXT);
	uint16_t a, b;

	bad->what = "a chain that loops";
	a = dp_bad_desc(_metadata, vq, bad, d);
	d.next = a;
	b = dp_bad_desc(_metadata, vq, bad, d);
	vq->vring.desc[a].next = b;
	vdrv_avail_push(vq, a);
}

static void dp_bad_indirect_len(struct __test_metadata *_metadata,
				struct dp *dp, struct vdrv_vq *vq,
				struct dp_bad *bad)
{
	struct vring_desc table[2], d = {
		.addr = DP_SCRATCH_TBL,
		.len = sizeof(table) + 8,
		.flags = VRING_DESC_F_INDIRECT,
	};

	bad->what = "an indirect table of 40 bytes";
	table[0] = dp_bad_buf(_metadata, dp, vq, VRING_DESC_F_NEXT);
	table[0].next = 1;
	table[1] = dp_bad_buf(_metadata, dp, vq, 0);
	/* Eight more bytes after the table, so that it is all readable. */
	dp_bad_table(_metadata, dp, DP_SCRATCH_TBL, table, ARRAY_SIZE(table));
	vdrv_avail_push(vq, dp_bad_desc(_metadata, vq, bad, d));
}

static void dp_bad_indirect_nested(struct __test_metadata *_metadata,
				   struct dp *dp, struct vdrv_vq *vq,
				   struct dp_bad *bad)
{
	struct vring_desc inner = dp_bad_buf(_metadata, dp, vq, 0);
	struct vring_desc outer = {
		.addr = DP_SCRATCH_TBL2,
		.len = sizeof(inner),
		.flags = VRING_DESC_F_INDIRECT,
	};
	struct vring_desc d = {
		.addr = DP_SCRATCH_TBL,
		.len = sizeof(outer),
		.flags = VRING_DESC_F_INDIRECT,
	};

	bad->what = "an indirect table in an indirect table";
	dp_bad_table(_metadata, dp, DP_SCRATCH_TBL2, &inner, 1);
	dp_bad_table(_metadata, dp, DP_SCRATCH_TBL, &outer, 1);
	vdrv_avail_push(vq, dp_bad_desc(_metadata, vq, bad, d));
}

/* A well-formed indirect table, bad only if INDIRECT_DESC is not acked. */
static void dp_bad_indirect_plain(struct __test_metadata *_metadata,
				  struct dp *dp, struct vdrv_vq *vq,
				  struct dp_bad *bad)
{
	struct vring_desc inner = dp_bad_buf(_metadata, dp, vq, 0);
	struct vring_desc d = {
		.addr = DP_SCRATCH_TBL,
		.len = sizeof(inner),
		.flags = VRING_DESC_F_INDIRECT,
	};

	bad->what = "an indirect descriptor without INDIRECT_DESC";
	dp_bad_table(_metadata, dp, DP_SCRATCH_TBL, &inner, 1);
	vdrv_avail_push(vq, dp_bad_desc(_metadata, vq, bad, d));
}

static void dp_bad_outside(struct __test_metadata *_metadata, struct dp *dp,
			   struct vdrv_vq *vq, struct dp_bad *bad)
{
	struct vring_desc d = dp_bad_buf(_metadata, dp, vq, 0);

	bad->what = "a buffer outside the memory table";
	d.addr = VDRV_RAM_GPA + VDRV_RAM_SIZE + 0x10000;
	vdrv_avail_push(vq, dp_bad_desc(_metadata, vq, bad, d));
}

static void dp_bad_past_end(struct __test_metadata *_metadata, struct dp *dp,
			    struct vdrv_vq *vq, struct dp_bad *bad)
{
	struct vring_desc d = dp_bad_buf(_metadata, dp, vq, 0);

	bad->what = "a buffer running past the end of guest memory";
	d.addr = VDRV_RAM_GPA + VDRV_RAM_SIZE - 32;
	vdrv_avail_push(vq, dp_bad_desc(_metadata, vq, bad, d));
}

/*
 * The last 16 bytes of the address space and on: with the pages at the
 * top and at 0 both mapped, only the wrap itself is wrong. On TX the
 * wrapped bytes even hold a good frame.
 */
static void dp_bad_wrap(struct __test_metadata *_metadata, struct dp *dp,
			struct vdrv_vq *vq, struct dp_bad *bad)
{
	struct vring_desc d = dp_bad_buf(_metadata, dp, vq, 0);
	uint8_t buf[DP_SLOT];

	bad->what = "a buffer whose address + length wraps past 2^64";
	d.addr = 0ULL - 16;
	if (vq->index == VDRV_TX) {
		EXPECT_EQ(0, vdrv_read(&dp->drv, DP_SCRATCH_TX, buf, d.len));
		EXPECT_EQ(0, vdrv_write(&dp->drv, d.addr, buf, d.len));
	}
	vdrv_avail_push(vq, dp_bad_desc(_metadata, vq, bad, d));
}

static void dp_bad_tx_writable(struct __test_metadata *_metadata,
			       struct dp *dp, struct vdrv_vq *vq,
			       struct dp_bad *bad)
{
	struct vring_desc d = dp_bad_buf(_metadata, dp, vq,
					 VRING_DESC_F_WRITE);

	bad->what = "a device-writable buffer on TX";
	vdrv_avail_push(vq, dp_bad_desc(_metadata, vq, bad, d));
}

static void dp_bad_rx_readonly(struct __test_metadata *_metadata,
			       struct dp *dp, struct vdrv_vq *vq,
			       struct dp_bad *bad)
{
	struct vring_desc d = dp_bad_buf(_metadata, dp, vq, 0);

	bad->what = "a device-readable buffer on RX";
	d.flags &= ~VRING_DESC_F_WRITE;
	vdrv_avail_push(vq, dp_bad_desc(_metadata, vq, bad, d));
}

static void dp_bad_avail_jump(struct __test_metadata *_metadata,
			      struct dp *dp, struct vdrv_vq *vq,
			      struct dp_bad *bad)
{
	(void)_metadata;
	(void)dp;
	bad->what = "an avail index more than the ring size ahead";
	bad->drop = 0;
	bad->no_followup = true;
	vdrv_avail_idx_set(vq, vq->avail_idx + vq->num + 1);
}

/* Two bytes short: with a 12-byte header, a whole legacy header. */
static void dp_bad_tx_short(struct __test_metadata *_metadata, struct dp *dp,
			    struct vdrv_vq *vq, struct dp_bad *bad)
{
	struct vring_desc d = dp_bad_buf(_metadata, dp, vq, 0);

	bad->what = "a TX buffer shorter than the virtio-net header";
	d.len = dp->drv.hdr_len - 2;
	vdrv_avail_push(vq, dp_bad_desc(_metadata, vq, bad, d));
}

/*
 * Queue @q (idle) meets the bad ring @make builds, with a good chain
 * behind it. As @e says: the error eventfd fires, the queue uses nothing
 * more (or drops the bad chain and goes on), and all the while the other
 * queue works. Once the VMM reset the queue around the fixed ring, what
 * waited and new traffic flow.
 */
static void dp_malformed(struct __test_metadata *_metadata, struct dp *dp,
			 unsigned int q, dp_bad_fn make,
			 const struct dp_expect *e)
{
	struct vdrv_vq *vq = &dp->drv.vqs[q];
	bool tx = q == VDRV_TX, followup_done = false;
	const char *qn = tx ? "TX" : "RX";
	uint16_t base0 = vq->avail_idx, used0 = vdrv_used_idx(vq), base, want;
	struct dp_bad bad = { .what = "?", .drop = 1 };
	struct kvnet_vring_stats st0, st;
	uint32_t seq1 = 0, seq2 = 0;
	unsigned int len1 = 0, len2 = 0, i;
	uint8_t buf[DP_SLOT];
	int r;

	ASSERT_EQ(0U, vq->num_inflight) TH_LOG("%s must be idle", qn);
	dp_stats(_metadata, dp, q, &st0);
	make(_metadata, dp, vq, &bad);

	/* A good chain behind the bad one, and a reason to look at both. */
	if (tx) {
		if (!bad.no_followup) {
			seq1 = dp->tx_seq++;
			len1 = dp_rand_len(dp);
			ASSERT_EQ(0, dp_tx_post(_metadata, dp, seq1, len1));
		}
	} else {
		if (!bad.no_followup)
			ASSERT_TRUE(dp_rx_post_one(_metadata, dp));
		seq1 = dp->rx_seq++;
		len1 = dp_rand_len(dp);
		dp_host_send(_metadata, dp, seq1, len1);
	}
	ASSERT_EQ(0, vdrv_notify(vq));
	if (e->err)
		ASSERT_LT(0ULL, vdrv_eventfd_wait(vq->err, DP_WAIT_MS))
			TH_LOG("%s on %s: no error signal in %d ms", bad.what,
			       qn, DP_WAIT_MS);

	/* Another kick, another frame ... */
	if (!tx) {
		seq2 = dp->rx_seq++;
		len2 = dp_rand_len(dp);
		dp_host_send(_metadata, dp, seq2, len2);
	}
	ASSERT_EQ(0, vdrv_notify(vq));
	/*
	 * ... while the other queue works. The device's one worker runs
	 * the queues' work in the order it was queued: once this round trip
	 * is done, the kick above has been handled.
	 */
	if (tx)
		dp_rx_one(_metadata, dp, kvnet_fmt("RX while TX met %s", bad.what));
	else
		dp_tx_one(_metadata, dp, kvnet_fmt("TX while RX met %s", bad.what));

	if (e->stops) {
		EXPECT_EQ(used0, vdrv_used_idx(vq))
			TH_LOG("%s on %s: the queue went on using buffers",
			       bad.what, qn);
		if (tx)
			EXPECT_EQ(-EAGAIN, dp_tap_recv(dp, buf, sizeof(buf), 0))
				TH_LOG("%s on TX: a frame went out", bad.what);
	} else if (!bad.no_followup) {
		/* The bad chain was dropped: the one after it is used. */
		if (tx) {
			dp_tx_expect(_metadata, dp, seq1, len1,
				     "the frame after the dropped chain");
			r = vdrv_wait_used(vq, DP_WAIT_MS);
			ASSERT_EQ(0, r) TH_LOG("%s", r == -EPROTO ? dp->drv.error :
					       "the frame's buffer not used");
			ASSERT_EQ(1U, dp_tx_reap(_metadata, dp));
		} else {
			dp_rx_expect(_metadata, dp, seq1, len1,
				     "the buffer after the dropped chain");
		}
		EXPECT_EQ((uint16_t)(used0 + 1), vdrv_used_idx(vq))
			TH_LOG("%s on %s: the bad chain was used", bad.what, qn);
		followup_done = true;
	}
	if (!e->err)
		EXPECT_EQ(0ULL, vdrv_eventfd_wait(vq->err, 0))
			TH_LOG("%s on %s: an error signal, which this device does not send",
			       bad.what, qn);
	if (dp->dev->kvnet) {
		dp_stats(_metadata, dp, q, &st);
		EXPECT_EQ(st0.errors + e->err, st.errors)
			TH_LOG("%s on %s: errors counted", bad.what, qn);
	}
	/* vhost-net signals again at each kick. */
	vdrv_eventfd_wait(vq->err, 0);

	/* The VMM resets the queue and fixes the ring: traffic flows. */
	if (e->taken)
		bad.drop = 0;
	vdrv_vq_reset(&dp->drv, q, dp->tap, bad.drop, &base);
	want = base0 + e->taken + followup_done;
	EXPECT_EQ(want, base)
		TH_LOG("%s on %s: GET_VRING_BASE %u, expected %u", bad.what, qn,
		       base, want);
	for (i = 0; i < bad.ndesc; i++)
		vdrv_desc_put(vq, bad.desc[i]);
	ASSERT_EQ(0, vdrv_notify(vq));
	if (tx) {
		if (!bad.no_followup && !followup_done) {
			dp_tx_expect(_metadata, dp, seq1, len1,
				     "after the reset, the frame that waited");
			r = vdrv_wait_used(vq, DP_WAIT_MS);
			ASSERT_EQ(0, r) TH_LOG("after the reset: %s",
					       r == -EPROTO ? dp->drv.error :
					       "the frame's buffer not used");
			ASSERT_EQ(1U, dp_tx_reap(_metadata, dp));
		}
		dp_tx_one(_metadata, dp, "after the reset");
	} else {
		if (!followup_done) {
			if (bad.no_followup)
				dp_rx_fill(_metadata, dp, 1);
			dp_rx_expect(_metadata, dp, seq1, len1,
				     "after the reset, the frame that met the bad ring");
		}
		dp_rx_fill(_metadata, dp, 1);
		dp_rx_expect(_metadata, dp, seq2, len2,
			     "after the reset, the frame sent while stopped");
		dp_rx_one(_metadata, dp, "after the reset");
	}
	EXPECT_EQ(0ULL, vdrv_eventfd_wait(vq->err, 0))
		TH_LOG("%s on %s: an error signal after the reset", bad.what,
		       qn);
}

/* Both queues, one after the other, each with the other still working. */
static void dp_malformed_both(struct __test_metadata *_metadata,
			      struct dp *dp, dp_bad_fn make)
{
	dp_malformed(_metadata, dp, VDRV_TX, make, &dp_broken);
	dp_malformed(_metadata, dp, VDRV_RX, make, &dp_broken);
}

/*
 * Rings every feature set can break, and the indirect tables that need
 * INDIRECT_DESC or its absence.
 */
DP_FIXTURE(malformed, DP_SETS_ALL, true);
DP_FIXTURE(malformed_indirect, DP_SETS_INDIRECT, true);
DP_FIXTURE(malformed_no_indirect, DP_SETS_NO_INDIRECT, true);

TEST_F(malformed, head_out_of_range)
{
	dp_malformed_both(_metadata, &self->dp, dp_bad_head);
}

TEST_F(malformed, next_out_of_range)
{
	dp_malformed_both(_metadata, &self->dp, dp_bad_next);
}

TEST_F(malformed, chain_loops)
{
	dp_malformed_both(_metadata, &self->dp, dp_bad_loop);
}

TEST_F(malformed_indirect, indirect_len_not_multiple_of_16)
{
	dp_malformed_both(_metadata, &self->dp, dp_bad_indirect_len);
}

TEST_F(malformed_indirect, indirect_nested)
{
	dp_malformed_both(_metadata, &self->dp, dp_bad_indirect_nested);
}

TEST_F(malformed_no_indirect, indirect_not_negotiated)
{
	struct dp *dp = &self->dp;

	if (dp->dev->err_indirect_unnegotiated) {
		dp_malformed_both(_metadata, dp, dp_bad_indirect_plain);
		return;
	}
	/* vhost-net takes the tables like any chain, both ways. */
	dp->force_indirect = true;
	dp_tx_one(_metadata, dp, "indirect TX chain without INDIRECT_DESC");
	dp_rx_one(_metadata, dp, "indirect RX chain without INDIRECT_DESC");
	EXPECT_EQ(0ULL, vdrv_eventfd_wait(dp->drv.vqs[VDRV_TX].err, 0));
	EXPECT_EQ(0ULL, vdrv_eventfd_wait(dp->drv.vqs[VDRV_RX].err, 0));
}

TEST_F(malformed, addr_outside_memory)
{
	dp_malformed_both(_metadata, &self->dp, dp_bad_outside);
	dp_malformed_both(_metadata, &self->dp, dp_bad_past_end);
}

TEST_F(malformed, addr_len_wraps)
{
	dp_malformed_both(_metadata, &self->dp, dp_bad_wrap);
}

TEST_F(malformed, tx_writable_desc)
{
	dp_malformed(_metadata, &self->dp, VDRV_TX, dp_bad_tx_writable,
		     &self->dp.dev->wrong_direction);
}

TEST_F(malformed, rx_readonly_desc)
{
	dp_malformed(_metadata, &self->dp, VDRV_RX, dp_bad_rx_readonly,
		     &self->dp.dev->wrong_direction);
}

TEST_F(malformed, avail_idx_jumps)
{
	dp_malformed_both(_metadata, &self->dp, dp_bad_avail_jump);
}

TEST_F(malformed, tx_shorter_than_header)
{
	struct dp *dp = &self->dp;

	dp_malformed(_metadata, dp, VDRV_TX, dp_bad_tx_short,
		     &dp->dev->short_tx_hdr);
}

/* ---- busy polling ----------------------------------------------------------- */

/*
 * VHOST_SET_VRING_BUSYLOOP_TIMEOUT (microseconds): a handler that ran dry
 * spins up to the timeout for more guest buffers, kicks muted, before the
 * worker sleeps. The TX handler spins on the TX ring; the RX handler, its
 * backend empty, spins on the TX ring too, for the guest's answer to what
 * it just received. Whatever ends a spin, a buffer made available while
 * the device said no kick was needed must be taken without one.
 */

/* Long enough that the driver acts while the worker spins, in TCG too. */
#define DP_SPIN_LONG_US		2000000U
#define DP_SPIN_LONG_MS		(DP_SPIN_LONG_US / 1000)
/* Over well before the driver looks again, DP_SPIN_AFTER_MS later. */
#define DP_SPIN_SHORT_US	100000U
#define DP_SPIN_AFTER_MS	500
/* How long an unkicked buffer must stay put when nothing spins. */
#define DP_SPIN_QUIET_MS	300
/* Tries at catching a spin, which other tasks may cut short. */
#define DP_SPIN_ATTEMPTS	5

static void dp_spin_timeout(struct __test_metadata *_metadata, struct dp *dp,
			    unsigned int q, uint32_t us)
{
	struct vhost_vring_state s = { q, us };

	kvnet_ioctl(dp->drv.fd, VHOST_SET_VRING_BUSYLOOP_TIMEOUT, &s);
}

/*
 * A spin ends as soon as another task wants the worker's CPU, and this
 * test, waking up to act on what it saw, would be one. So the test runs on
 * one CPU and the device's worker (a kernel thread named after the owner)
 * on another; called again for a new device, this pins its worker to the
 * same CPU. Other tasks (kworkers, the runner) may still cut a spin
 * short now and then: the tests that need a spin to last try
 * DP_SPIN_ATTEMPTS times, and fail only if no attempt caught one.
 */
static void dp_spin_pin(struct __test_metadata *_metadata, struct dp *dp)
{
	cpu_set_t allowed, one;
	int cpus[2], n = 0, cpu;
	char comm[32];
	pid_t worker;

	if (!dp->spin_pinned) {
		ASSERT_EQ(0, sched_getaffinity(0, sizeof(allowed), &allowed))
			TH_LOG("sched_getaffinity: %s", strerror(errno));
		for (cpu = 0; cpu < CPU_SETSIZE && n < 2; cpu++)
			if (CPU_ISSET(cpu, &allowed))
				cpus[n++] = cpu;
		if (n < 2)
			KVNET_SKIP("busy polling needs two CPUs: the worker's and ours");
		CPU_ZERO(&one);
		CPU_SET(cpus[0], &one);
		ASSERT_EQ(0, sched_setaffinity(0, sizeof(one), &one))
			TH_LOG("the test on CPU %d: %s", cpus[0],
			       strerror(errno));
		dp->spin_worker_cpu = cpus[1];
		dp->spin_pinned = true;
	}
	snprintf(comm, sizeof(comm), "%s%d", dp->dev->worker_prefix, getpid());
	worker = kvnet_task_named(comm);
	ASSERT_LT(0, worker) TH_LOG("the worker thread %s: %s", comm,
				    kvnet_errname(-worker));
	CPU_ZERO(&one);
	CPU_SET(dp->spin_worker_cpu, &one);
	ASSERT_EQ(0, sched_setaffinity(worker, sizeof(one), &one))
		TH_LOG("%s on CPU %d: %s", comm, dp->spin_worker_cpu,
		       strerror(errno));
}

/*
 * Would one more buffer on @vq need a kick? What vdrv_kick_prepare()
 * would answer, without deciding anything.
 */
static bool dp_kick_wanted(const struct vdrv_vq *vq)
{
	uint16_t idx = vq->avail_idx;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx)
		return vring_need_event(__atomic_load_n(&vring_avail_event(&vq->vring),
							__ATOMIC_RELAXED),
					idx + 1, idx);
	return !(__atomic_load_n(&vq->vring.used->flags, __ATOMIC_RELAXED) &
		 VRING_USED_F_NO_NOTIFY);
}

/* Make the next TX frame available, no kick decided: its seq and length. */
static void dp_spin_post(struct __test_metadata *_metadata, struct dp *dp,
			 uint32_t *seq, unsigned int *len)
{
	*seq = dp->tx_seq++;
	*len = dp_rand_len(dp);
	ASSERT_EQ(0, dp_tx_post(_metadata, dp, *seq, *len));
}

/* Wait until every TX buffer in flight is used, and take them. */
static void dp_tx_drain(struct __test_metadata *_metadata, struct dp *dp,
			const char *when)
{
	struct vdrv_vq *tx = &dp->drv.vqs[VDRV_TX];
	int r;

	while (tx->num_inflight) {
		r = vdrv_wait_used(tx, DP_WAIT_MS);
		ASSERT_EQ(0, r) TH_LOG("%s: %u TX buffers sent but not used: %s",
				       when, tx->num_inflight, r == -EPROTO ?
				       dp->drv.error : kvnet_errname(-r));
		dp_tx_reap(_metadata, dp);
	}
}

/* Kick for frame @seq, made available: out of the tap, and used. */
static void dp_spin_kick_out(struct __test_metadata *_metadata, struct dp *dp,
			     uint32_t seq, unsigned int len, const char *when)
{
	ASSERT_EQ(0, vdrv_notify(&dp->drv.vqs[VDRV_TX]));
	dp_tx_expect(_metadata, dp, seq, len, when);
	dp_tx_drain(_metadata, dp, when);
}

/* The sequence number of a test frame, for messages. */
static uint32_t dp_frame_seq(const uint8_t *f, ssize_t n)
{
	return n >= DP_FRAME_HDR ? dp_get32(f + 18) : UINT32_MAX;
}

/*
 * With no spin under way: the device asks for a kick for a new TX frame,
 * does not take it for DP_SPIN_QUIET_MS without one, and sends it kicked.
 */
static void dp_spin_needs_kick(struct __test_metadata *_metadata,
			       struct dp *dp, const char *when)
{
	struct vdrv_vq *tx = &dp->drv.vqs[VDRV_TX];
	uint16_t used = vdrv_used_idx(tx);
	uint8_t buf[DP_SLOT];
	unsigned int len;
	uint32_t seq;
	ssize_t n;

	dp_spin_post(_metadata, dp, &seq, &len);
	EXPECT_TRUE(vdrv_kick_prepare(tx))
		TH_LOG("%s: TX kicks muted, with nothing spinning", when);
	n = dp_tap_recv(dp, buf, sizeof(buf), DP_SPIN_QUIET_MS);
	ASSERT_EQ(-ETIMEDOUT, n)
		TH_LOG("%s: frame %u went out without a kick (%s)", when,
		       dp_frame_seq(buf, n), kvnet_errname(n < 0 ? -n : 0));
	EXPECT_EQ(used, vdrv_used_idx(tx))
		TH_LOG("%s: a TX buffer used without a kick", when);
	dp_spin_kick_out(_metadata, dp, seq, len, kvnet_fmt("%s, kicked", when));
}

/* What became of a TX frame made available without a kick. */
enum dp_spin_take {
	DP_SPIN_MUTED,		/* no kick asked for; taken */
	DP_SPIN_UNMUTED,	/* a kick asked for, yet taken without one */
	DP_SPIN_OVER,		/* a kick asked for and needed; sent kicked */
};

/*
 * Frame @seq was just made available, and nothing decided about a kick.
 * If the device says none is needed, it must take the frame regardless.
 * If it asks for one, a spin under way may still take the frame (one
 * that does not mute kicks, or that ended just then); if none does, the
 * frame is kicked out. Either way, every TX buffer is used afterwards.
 */
static enum dp_spin_take dp_spin_unkicked(struct __test_metadata *_metadata,
					  struct dp *dp, uint32_t seq,
					  unsigned int len)
{
	enum dp_spin_take how = DP_SPIN_MUTED;
	uint8_t buf[DP_SLOT];
	const char *diff;
	ssize_t n;

	if (!vdrv_kick_prepare(&dp->drv.vqs[VDRV_TX])) {
		dp_tx_expect(_metadata, dp, seq, len,
			     "an unkicked frame, TX kicks muted");
	} else {
		n = dp_tap_recv(dp, buf, sizeof(buf), DP_SPIN_QUIET_MS);
		if (n < 0) {
			dp_spin_kick_out(_metadata, dp, seq, len,
					 "an unkicked frame that stayed, kicked");
			return DP_SPIN_OVER;
		}
		diff = dp_frame_diff(buf, n, DP_DIR_TX, seq, len);
		ASSERT_EQ(NULL, diff) TH_LOG("an unkicked frame: %s", diff);
		how = DP_SPIN_UNMUTED;
	}
	dp_tx_drain(_metadata, dp, "an unkicked frame");
	return how;
}

/* Busy polling with each device, EVENT_IDX on and off. */
DP_FIXTURE(busy_poll, DP_SETS_BUSY, true);

/*
 * The control of the tests below: without a busyloop timeout nothing
 * takes a TX buffer the guest did not kick for, after a TX run or an RX
 * run, and the device asks for that kick.
 */
TEST_F(busy_poll, no_timeout_needs_kick)
{
	struct dp *dp = &self->dp;
	struct kvnet_vring_stats st0, st;

	dp_stats(_metadata, dp, VDRV_TX, &st0);
	dp_tx_one(_metadata, dp, "a kicked TX frame");
	dp_spin_needs_kick(_metadata, dp, "after a TX run");
	dp_rx_one(_metadata, dp, "an RX frame");
	dp_spin_needs_kick(_metadata, dp, "after an RX run");
	dp_stats(_metadata, dp, VDRV_TX, &st);
	EXPECT_EQ(st0.busy_polls, st.busy_polls)
		TH_LOG("TX spins without a busyloop timeout");
}

/*
 * The TX handler, out of buffers, spins with kicks muted and takes a
 * frame the guest made available without a kick meanwhile.
 */
TEST_F_TIMEOUT(busy_poll, tx_poll_takes_unkicked, 120)
{
	struct dp *dp = &self->dp;
	struct vdrv_vq *tx = &dp->drv.vqs[VDRV_TX];
	struct kvnet_vring_stats st0, st = { 0 };
	unsigned int attempt, len1, len2, unmuted = 0;
	enum dp_spin_take how;
	uint32_t seq1, seq2;
	bool hit = false;

	dp_spin_timeout(_metadata, dp, VDRV_TX, DP_SPIN_LONG_US);
	dp_spin_pin(_metadata, dp);
	for (attempt = 1; !hit && attempt <= DP_SPIN_ATTEMPTS; attempt++) {
		/* kvnet: ends the spin of the attempt before, if any. */
		dp_stats(_metadata, dp, VDRV_TX, &st0);
		dp_spin_post(_metadata, dp, &seq1, &len1);
		ASSERT_EQ(0, vdrv_kick(tx));
		dp_tx_expect(_metadata, dp, seq1, len1, "a kicked frame");

		/* The worker spins now, unless something cut the spin short. */
		dp_spin_post(_metadata, dp, &seq2, &len2);
		how = dp_spin_unkicked(_metadata, dp, seq2, len2);
		if (how == DP_SPIN_OVER) {
			TH_LOG("attempt %u of %u: TX kicks back on and the frame stayed: the spin was over",
			       attempt, DP_SPIN_ATTEMPTS);
			continue;
		}
		if (how == DP_SPIN_UNMUTED) {
			unmuted++;
			TH_LOG("attempt %u of %u: taken without a kick, but the device asked for one: TX kicks not muted in the spin, or it had just ended",
			       attempt, DP_SPIN_ATTEMPTS);
			continue;
		}
		/* Counted once the spin after the frame is over too. */
		dp_stats(_metadata, dp, VDRV_TX, &st);
		hit = !dp->dev->kvnet || st.busy_poll_hits > st0.busy_poll_hits;
		if (!hit)
			TH_LOG("attempt %u of %u: taken, but before the worker spun",
			       attempt, DP_SPIN_ATTEMPTS);
	}
	ASSERT_TRUE(hit)
		TH_LOG("no spin took an unkicked frame with TX kicks muted in %u attempts (%u taken with kicks on)",
		       DP_SPIN_ATTEMPTS, unmuted);
	if (dp->dev->kvnet) {
		EXPECT_LT(st0.busy_polls, st.busy_polls) TH_LOG("TX spins");
		dp_check_debugfs(_metadata, VDRV_TX, &st);
	}
}

/*
 * A spin does not hold back what the handler did before it: the used
 * entry and the call of a frame sent reach the guest while the worker
 * spins (vhost-net flushes them before it spins). Else a guest waiting
 * for TX completions to free ring space waits out the spin.
 */
TEST_F_TIMEOUT(busy_poll, tx_used_before_spin, 120)
{
	struct dp *dp = &self->dp;
	struct vdrv_vq *tx = &dp->drv.vqs[VDRV_TX];
	unsigned int attempt, len1, len2;
	struct kvnet_vring_stats st0;
	uint64_t t0, waited = 0;
	uint32_t seq1, seq2;
	bool spun = false;
	int r;

	dp_spin_timeout(_metadata, dp, VDRV_TX, DP_SPIN_LONG_US);
	dp_spin_pin(_metadata, dp);
	for (attempt = 1; !spun && attempt <= DP_SPIN_ATTEMPTS; attempt++) {
		/* kvnet: ends the spin of the attempt before, if any. */
		dp_stats(_metadata, dp, VDRV_TX, &st0);
		dp_spin_post(_metadata, dp, &seq1, &len1);
		ASSERT_EQ(0, vdrv_kick(tx));
		dp_tx_expect(_metadata, dp, seq1, len1, "a kicked frame");
		t0 = kvnet_now_ms();
		r = vdrv_wait_used(tx, DP_WAIT_MS);
		waited = kvnet_now_ms() - t0;
		ASSERT_EQ(0, r) TH_LOG("frame %u sent but not used: %s", seq1,
				       r == -EPROTO ? dp->drv.error :
				       kvnet_errname(-r));
		ASSERT_EQ(1U, dp_tx_reap(_metadata, dp));

		/* Still muted: the used entry came during the spin. */
		dp_spin_post(_metadata, dp, &seq2, &len2);
		spun = dp_spin_unkicked(_metadata, dp, seq2, len2) ==
		       DP_SPIN_MUTED;
		if (!spun)
			TH_LOG("attempt %u of %u: the used entry came %llu ms after the frame went out, with TX kicks back on: the spin (up to %u ms) was over",
			       attempt, DP_SPIN_ATTEMPTS,
			       (unsigned long long)waited, DP_SPIN_LONG_MS);
	}
	ASSERT_TRUE(spun)
		TH_LOG("in %u attempts the used entry of a sent frame came only once the spin was over (last after %llu ms): the spin holds back the handler's used entries and call",
		       DP_SPIN_ATTEMPTS, (unsigned long long)waited);
}

/*
 * The RX handler, its backend empty, spins on the TX ring with TX kicks
 * muted: the guest's answer to the frame it just received goes out
 * without a kick, with no TX busyloop timeout.
 */
TEST_F_TIMEOUT(busy_poll, rx_poll_takes_tx_answer, 120)
{
	struct dp *dp = &self->dp;
	bool mutes = !dp_has(dp, VIRTIO_RING_F_EVENT_IDX) ||
		     dp->dev->rx_poll_mutes_event_idx;
	struct kvnet_vring_stats st0, st = { 0 };
	unsigned int attempt, len, rx_len, unmuted = 0;
	enum dp_spin_take how;
	uint32_t seq, rx_seq;
	uint64_t t0, waited;
	bool hit = false;

	dp_spin_timeout(_metadata, dp, VDRV_RX, DP_SPIN_LONG_US);
	dp_spin_pin(_metadata, dp);
	for (attempt = 1; !hit && attempt <= DP_SPIN_ATTEMPTS; attempt++) {
		/* kvnet: ends the RX spin before, which holds TX. */
		dp_stats(_metadata, dp, VDRV_TX, &st0);
		ASSERT_EQ(0U, dp->rx_posted);
		dp_rx_fill(_metadata, dp, 1);
		rx_seq = dp->rx_seq++;
		rx_len = dp_rand_len(dp);
		t0 = kvnet_now_ms();
		dp_host_send(_metadata, dp, rx_seq, rx_len);
		dp_rx_expect(_metadata, dp, rx_seq, rx_len,
			     "the frame the guest answers");
		waited = kvnet_now_ms() - t0;

		dp_spin_post(_metadata, dp, &seq, &len);
		how = dp_spin_unkicked(_metadata, dp, seq, len);
		if (how == DP_SPIN_OVER) {
			TH_LOG("attempt %u of %u: TX kicks back on and the answer stayed: no RX spin when the guest had the RX frame, %llu ms after it was sent (a spin lasts up to %u ms)",
			       attempt, DP_SPIN_ATTEMPTS,
			       (unsigned long long)waited, DP_SPIN_LONG_MS);
			continue;
		}
		/* vhost-net under EVENT_IDX asks for a kick it does not need. */
		if (how == DP_SPIN_UNMUTED && mutes) {
			unmuted++;
			TH_LOG("attempt %u of %u: the answer went out without a kick, but the device asked for one: TX kicks not muted in the RX spin, or it had just ended",
			       attempt, DP_SPIN_ATTEMPTS);
			continue;
		}
		dp_stats(_metadata, dp, VDRV_TX, &st);
		hit = !dp->dev->kvnet || st.busy_poll_hits > st0.busy_poll_hits;
		if (!hit)
			TH_LOG("attempt %u of %u: taken, but not by the RX spin",
			       attempt, DP_SPIN_ATTEMPTS);
	}
	ASSERT_TRUE(hit)
		TH_LOG("no RX spin took an unkicked TX answer in %u attempts (%u taken with TX kicks on)",
		       DP_SPIN_ATTEMPTS, unmuted);
	if (dp->dev->kvnet)
		dp_check_debugfs(_metadata, VDRV_TX, &st);
}

/*
 * Once a spin on @q's handler timed out (an RX spin muted TX kicks),
 * nothing is left muted: a new TX buffer asks for a kick, stays until
 * kicked, and goes out when kicked.
 */
static void dp_spin_end_unmutes(struct __test_metadata *_metadata,
				struct dp *dp, unsigned int q)
{
	const char *name = q == VDRV_TX ? "TX" : "RX";
	struct kvnet_vring_stats st0, st;

	dp_spin_timeout(_metadata, dp, q, DP_SPIN_SHORT_US);
	dp_stats(_metadata, dp, VDRV_TX, &st0);
	if (q == VDRV_TX)
		dp_tx_one(_metadata, dp, "a kicked TX frame");
	else
		dp_rx_one(_metadata, dp, "an RX frame");
	kvnet_sleep_ms(DP_SPIN_AFTER_MS);
	dp_spin_needs_kick(_metadata, dp,
			   kvnet_fmt("%u ms after a %u ms %s spin",
				     DP_SPIN_AFTER_MS, DP_SPIN_SHORT_US / 1000,
				     name));
	if (!dp->dev->kvnet)
		return;
	dp_stats(_metadata, dp, VDRV_TX, &st);
	EXPECT_LT(st0.busy_polls, st.busy_polls)
		TH_LOG("the %s handler never spun on TX: nothing was tested",
		       name);
	EXPECT_EQ(st0.busy_poll_hits, st.busy_poll_hits)
		TH_LOG("a spin found buffers nobody made available");
}

TEST_F(busy_poll, tx_spin_end_unmutes)
{
	dp_spin_end_unmutes(_metadata, &self->dp, VDRV_TX);
}

TEST_F(busy_poll, rx_spin_end_unmutes_tx)
{
	dp_spin_end_unmutes(_metadata, &self->dp, VDRV_RX);
}

/* ---- a hostile guest during a spin ---- */

/*
 * Break the TX ring under a spin that watches it: an avail index more
 * than the ring size ahead. The error eventfd must fire without a kick if
 * TX kicks were muted when the index moved: the device then promised to
 * look. The milliseconds until it fired; -1 if the spin had ended, kicks
 * back on, before the index moved (a kick then found the ring broken).
 */
static long long dp_spin_break_tx(struct __test_metadata *_metadata,
				  struct dp *dp)
{
	struct vdrv_vq *tx = &dp->drv.vqs[VDRV_TX];
	uint64_t t0 = kvnet_now_ms();

	vdrv_avail_idx_set(tx, tx->avail_idx + tx->num + 1);
	if (vdrv_eventfd_wait(tx->err, DP_WAIT_MS))
		return kvnet_now_ms() - t0;
	ASSERT_TRUE(dp_kick_wanted(tx))
		TH_LOG("the TX ring broke with kicks muted, and the device never looked (%d ms)",
		       DP_WAIT_MS);
	ASSERT_EQ(0, vdrv_notify(tx));
	ASSERT_LT(0ULL, vdrv_eventfd_wait(tx->err, DP_WAIT_MS))
		TH_LOG("a kick on the broken TX ring: no error signal");
	return -1;
}

/*
 * After dp_spin_break_tx(): TX stopped cleanly, its used index at @used
 * (the frames sent before), one error counted (@tx0, @rx0: the counters
 * before); RX works on. A VMM resets TX around the fixed ring: its base
 * is @base, and TX works again.
 */
static void dp_spin_check_broken(struct __test_metadata *_metadata,
				 struct dp *dp,
				 const struct kvnet_vring_stats *tx0,
				 const struct kvnet_vring_stats *rx0,
				 uint16_t used, uint16_t base, const char *when)
{
	struct vdrv_vq *tx = &dp->drv.vqs[VDRV_TX];
	struct kvnet_vring_stats st;
	uint8_t buf[DP_SLOT];
	uint16_t got;
	ssize_t n;

	n = dp_tap_recv(dp, buf, sizeof(buf), DP_SPIN_QUIET_MS);
	EXPECT_EQ(-ETIMEDOUT, n)
		TH_LOG("%s: frame %u went out after the TX ring broke", when,
		       dp_frame_seq(buf, n));
	EXPECT_EQ(used, vdrv_used_idx(tx))
		TH_LOG("%s: TX used index %u after the ring broke, expected %u",
		       when, vdrv_used_idx(tx), used);
	/* Each used entry must be a frame the driver has in flight. */
	dp_tx_reap(_metadata, dp);
	dp_stats(_metadata, dp, VDRV_TX, &st);
	EXPECT_EQ(tx0->errors + 1, st.errors) TH_LOG("%s: TX errors", when);
	dp_stats(_metadata, dp, VDRV_RX, &st);
	EXPECT_EQ(rx0->errors, st.errors) TH_LOG("%s: RX errors", when);

	dp_rx_one(_metadata, dp, kvnet_fmt("%s: RX with TX broken", when));
	vdrv_vq_reset(&dp->drv, VDRV_TX, dp->tap, 0, &got);
	EXPECT_EQ(base, got) TH_LOG("%s: GET_VRING_BASE of the broken TX", when);
	dp_tx_one(_metadata, dp, kvnet_fmt("%s: TX after the reset", when));
	EXPECT_EQ(0ULL, vdrv_eventfd_wait(tx->err, 0))
		TH_LOG("%s: a TX error signal after the reset", when);
}

/* Where only kvnet is tested: see below. */
DP_FIXTURE(busy_poll_kvnet, DP_SETS_KVNET_BUSY, true);

/*
 * The guest breaks the TX ring while the TX handler spins on it: the
 * spin sees the index, the queue fails as for any malformed ring (error
 * signal, errors counted, nothing more taken), RX goes on, a reset brings
 * TX back. vhost-net of 6.1 is no reference: vhost_vq_avail_empty()
 * caches the bad index, and vhost_get_vq_desc() only checks an index it
 * reads itself.
 */
TEST_F_TIMEOUT(busy_poll_kvnet, avail_jump_in_tx_spin, 120)
{
	struct dp *dp = &self->dp;
	struct vdrv_vq *tx = &dp->drv.vqs[VDRV_TX];
	struct kvnet_vring_stats tx0, rx0;
	unsigned int attempt, len;
	bool in_spin = false;
	uint16_t base, used;
	long long ms;
	uint32_t seq;

	dp_spin_timeout(_metadata, dp, VDRV_TX, DP_SPIN_LONG_US);
	dp_spin_pin(_metadata, dp);
	for (attempt = 1; !in_spin && attempt <= DP_SPIN_ATTEMPTS; attempt++) {
		char when[32];

		snprintf(when, sizeof(when), "attempt %u of %u", attempt,
			 DP_SPIN_ATTEMPTS);

		/* Ends the spin of the attempt before, if any. */
		dp_stats(_metadata, dp, VDRV_TX, &tx0);
		dp_stats(_metadata, dp, VDRV_RX, &rx0);
		base = tx->avail_idx + 1;
		used = vdrv_used_idx(tx) + 1;
		dp_spin_post(_metadata, dp, &seq, &len);
		ASSERT_EQ(0, vdrv_kick(tx));
		dp_tx_expect(_metadata, dp, seq, len, "a kicked frame");
		if (dp_kick_wanted(tx)) {
			TH_LOG("%s: TX kicks back on: the spin was over", when);
			dp_tx_drain(_metadata, dp, when);
			continue;
		}
		ms = dp_spin_break_tx(_metadata, dp);
		/* Found at once, not by the look after a timed out spin. */
		in_spin = ms >= 0 && ms < DP_SPIN_LONG_MS / 2;
		if (!in_spin)
			TH_LOG("%s: the broken ring found after %lld ms: not during the spin",
			       when, ms);
		dp_spin_check_broken(_metadata, dp, &tx0, &rx0, used, base,
				     when);
	}
	ASSERT_TRUE(in_spin) TH_LOG("no TX spin saw the ring break in %u attempts",
				    DP_SPIN_ATTEMPTS);
}

/*
 * The same while the RX handler spins on the TX ring: TX fails, the RX
 * frame that started the spin arrives, and RX goes on.
 */
TEST_F_TIMEOUT(busy_poll_kvnet, avail_jump_in_rx_spin, 120)
{
	struct dp *dp = &self->dp;
	struct vdrv_vq *tx = &dp->drv.vqs[VDRV_TX];
	struct kvnet_vring_stats tx0, rx0;
	unsigned int attempt, rx_len;
	bool in_spin = false;
	uint16_t base, used;
	uint32_t rx_seq;
	long long ms;

	dp_spin_timeout(_metadata, dp, VDRV_RX, DP_SPIN_LONG_US);
	dp_spin_pin(_metadata, dp);
	for (attempt = 1; !in_spin && attempt <= DP_SPIN_ATTEMPTS; attempt++) {
		char when[32];

		snprintf(when, sizeof(when), "attempt %u of %u", attempt,
			 DP_SPIN_ATTEMPTS);

		/* Ends the RX spin before, which holds TX. */
		dp_stats(_metadata, dp, VDRV_TX, &tx0);
		dp_stats(_metadata, dp, VDRV_RX, &rx0);
		base = tx->avail_idx;
		used = vdrv_used_idx(tx);
		ASSERT_EQ(0U, dp->rx_posted);
		dp_rx_fill(_metadata, dp, 1);
		rx_seq = dp->rx_seq++;
		rx_len = dp_rand_len(dp);
		dp_host_send(_metadata, dp, rx_seq, rx_len);
		/* The RX handler spins once the frame is in: TX muted. */
		if (!kvnet_wait_until(!dp_kick_wanted(tx), DP_WAIT_MS)) {
			TH_LOG("%s: TX kicks never seen muted by an RX spin",
			       when);
			dp_rx_expect(_metadata, dp, rx_seq, rx_len, when);
			continue;
		}
		ms = dp_spin_break_tx(_metadata, dp);
		in_spin = ms >= 0 && ms < DP_SPIN_LONG_MS / 2;
		if (!in_spin)
			TH_LOG("%s: the broken ring found after %lld ms: not during the spin",
			       when, ms);
		dp_rx_expect(_metadata, dp, rx_seq, rx_len,
			     kvnet_fmt("%s: the frame before TX broke", when));
		dp_spin_check_broken(_metadata, dp, &tx0, &rx0, used, base,
				     when);
	}
	ASSERT_TRUE(in_spin) TH_LOG("no RX spin saw the TX ring break in %u attempts",
				    DP_SPIN_ATTEMPTS);
}

/* ---- a spin gives way ---- */

/*
 * A spin holds the mutex of the queue it runs for, and an RX spin the TX
 * queue's too. ioctls, close() and counter reads, which take those
 * mutexes, say that they wait (the device's busy_poll_waiters) and the
 * spin ends at once, however long its timeout: a VMM that stops a queue
 * must not wait out a spin of minutes. The tests below catch a spin whose
 * timeout is a minute or more, make such a call while it runs, and watch
 * the call. vhost-net of 6.1 is no reference: its callers wait.
 *
 * A spin that does not give way is not always slow to find: in the test
 * VM other tasks and RCU want the worker's CPU within 2 s or so, and its
 * spin ends then, whatever the timeout. A caller would wait that long,
 * well under any timeout worth setting. So a watchdog thread looks at the
 * caller and the TX ring while the call runs: a caller blocked in the
 * kernel while the spin goes on (TX kicks muted) for DP_GIVE_WAY_SEEN_MS
 * is held by a spin that does not give way.
 */

/* A spin that outlasts the test, unless something ends it. */
#define DP_SPIN_MINUTE_US	60000000U
/* The longest a call may take (typically a few ms). */
#define DP_GIVE_WAY_MS		5000
/*
 * How long a spin may go on while the caller is blocked: it should end
 * within microseconds; the margin is for the vCPU threads of the test
 * VM, which the host may not run for a while.
 */
#define DP_GIVE_WAY_SEEN_MS	50
/* How often the watchdog looks. */
#define DP_GIVE_WAY_POLL_MS	2
/* A queue whose kicks are still muted this long after its frame spins. */
#define DP_SPIN_SETTLE_MS	50
/*
 * Tries at that: in the test VM a spin often ends within 100 ms, when
 * RCU or a kworker wants the worker's CPU.
 */
#define DP_SPIN_CATCH_ATTEMPTS	20
/* Calls made mid-spin, one after the other. */
#define DP_SPIN_CALL_ROUNDS	2
#define DP_SPIN_CLOSE_ROUNDS	3
#define DP_SPIN_RESET_ROUNDS	4

/*
 * Once the watchdog knows the spin holds the caller, or the call took
 * DP_GIVE_WAY_MS, it ends the spin itself: it breaks the TX ring (an
 * avail index past the ring size), which every spin watches and sees at
 * once. Else the caller, in a state no signal ends, would wait out the
 * whole timeout, up to 71 minutes (UINT32_MAX us), or until the VM's
 * hung task check panics it.
 *
 * One thread watches every call of a test, started before any spin: a
 * new thread's stack is a new mapping, and khugepaged, woken by it,
 * queues work on every CPU (lru_add_drain_all()), which ends a spin.
 */
struct dp_spin_watchdog {
	pthread_t thread;
	/*
	 * eventfds: a call starts (1) or the test is over (2); the call
	 * returned; the watchdog is done with it.
	 */
	int start;
	int returned;
	int idle;
	/* /proc/self/task/<caller>/stat, open. */
	int caller_stat;
	struct vdrv_vq *tx;
	/* The call: when it started; ms into it: held since, ring broken. */
	uint64_t t0;
	long long held_since;
	long long broke;
};

/*
 * The state letter (R, S, D, ...) in the /proc stat file @fd of a task;
 * '?' if unreadable. Read again, not reopened: a /proc dentry freed at
 * each look would make RCU grace periods, which end spins.
 */
static char dp_task_state(int fd)
{
	char buf[256], *p;
	ssize_t n;

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return '?';
	buf[n] = '\0';
	/* "tid (comm) S ...": comm may hold anything, ')' included. */
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] ? p[2] : '?';
}

/* Watch one call until it returns, or end the spin that holds it. */
static void dp_spin_watchdog_look(struct dp_spin_watchdog *wd)
{
	struct pollfd pfd = { .fd = wd->returned, .events = POLLIN };
	long long ms, since = -1;

	for (;;) {
		if (poll(&pfd, 1, DP_GIVE_WAY_POLL_MS) > 0)
			return;
		ms = kvnet_now_ms() - wd->t0;
		/* Blocked in the kernel (D: a mutex), the spin still on. */
		if (dp_task_state(wd->caller_stat) != 'D' ||
		    dp_kick_wanted(wd->tx))
			since = -1;
		else if (since < 0)
			since = ms;
		if (since >= 0 && ms - since >= DP_GIVE_WAY_SEEN_MS) {
			wd->held_since = since;
			break;
		}
		if (ms >= DP_GIVE_WAY_MS)
			break;
	}
	vdrv_avail_idx_set(wd->tx, wd->tx->avail_idx + wd->tx->num + 1);
	wd->broke = kvnet_now_ms() - wd->t0;
}

static void *dp_spin_watchdog_run(void *arg)
{
	struct dp_spin_watchdog *wd = arg;
	eventfd_t v;

	while (!eventfd_read(wd->start, &v) && v == 1) {
		dp_spin_watchdog_look(wd);
		if (eventfd_read(wd->returned, &v) ||
		    eventfd_write(wd->idle, 1))
			break;
	}
	return NULL;
}

/* Start the watchdog of the test's calls, once the test is pinned. */
static void dp_spin_watchdog_start(struct __test_metadata *_metadata,
				   struct dp *dp, struct dp_spin_watchdog *wd)
{
	char path[64];
	int r;

	*wd = (struct dp_spin_watchdog) { .tx = &dp->drv.vqs[VDRV_TX] };
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", gettid());
	wd->caller_stat = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, wd->caller_stat) TH_LOG("%s: %s", path, strerror(errno));
	wd->start = eventfd(0, EFD_CLOEXEC);
	wd->returned = eventfd(0, EFD_CLOEXEC);
	wd->idle = eventfd(0, EFD_CLOEXEC);
	ASSERT_TRUE(wd->start >= 0 && wd->returned >= 0 && wd->idle >= 0)
		TH_LOG("eventfd: %s", strerror(errno));
	r = pthread_create(&wd->thread, NULL, dp_spin_watchdog_run, wd);
	ASSERT_EQ(0, r) TH_LOG("pthread_create: %s", strerror(r));
}

static void dp_spin_watchdog_stop(struct dp_spin_watchdog *wd)
{
	eventfd_write(wd->start, 2);
	pthread_join(wd->thread, NULL);
	close(wd->start);
	close(wd->returned);
	close(wd->idle);
	close(wd->caller_stat);
}

/* A call by this thread starts, which a spin may hold up. */
static void dp_spin_watch(struct __test_metadata *_metadata,
			  struct dp_spin_watchdog *wd)
{
	wd->held_since = -1;
	wd->broke = -1;
	wd->t0 = kvnet_now_ms();
	ASSERT_EQ(0, eventfd_write(wd->start, 1))
		TH_LOG("eventfd: %s", strerror(errno));
}

/*
 * The call that dp_spin_watch() announced returned. The spin (of up to
 * @spin_us) gave way to it: it never held the caller and is over (TX
 * kicks back on), and the call took less than DP_GIVE_WAY_MS.
 */
static void dp_spin_unwatch(struct __test_metadata *_metadata, struct dp *dp,
			    struct dp_spin_watchdog *wd, const char *call,
			    uint32_t spin_us)
{
	long long ms = kvnet_now_ms() - wd->t0;
	eventfd_t v;

	ASSERT_EQ(0, eventfd_write(wd->returned, 1))
		TH_LOG("eventfd: %s", strerror(errno));
	ASSERT_EQ(0, eventfd_read(wd->idle, &v))
		TH_LOG("eventfd: %s", strerror(errno));
	TH_LOG("%s during a spin of up to %u s: %lld ms", call,
	       spin_us / 1000000, ms);
	ASSERT_GT(0, wd->held_since)
		TH_LOG("%s blocked from %lld ms on, the spin going on: it did not give way (the watchdog broke the TX ring after %lld ms to end it)",
		       call, wd->held_since, wd->broke);
	ASSERT_GT(0, wd->broke)
		TH_LOG("%s took %d ms: the watchdog broke the TX ring to end the spin",
		       call, DP_GIVE_WAY_MS);
	ASSERT_GT(DP_GIVE_WAY_MS, ms) TH_LOG("%s took too long", call);
	EXPECT_TRUE(dp_kick_wanted(&dp->drv.vqs[VDRV_TX]))
		TH_LOG("TX kicks still muted after %s: the spin went on", call);
}

static const char *dp_q_name(unsigned int q)
{
	return q == VDRV_TX ? "TX" : "RX";
}

/*
 * Start a spin on the TX ring that lasts, for the call @call: a frame
 * through queue @q, after which the TX handler (@q TX) or the RX handler
 * (@q RX) spins, TX kicks muted. Caught when TX kicks are still muted
 * DP_SPIN_SETTLE_MS + @extra_ms later, in one of DP_SPIN_CATCH_ATTEMPTS.
 */
static void dp_spin_catch(struct __test_metadata *_metadata, struct dp *dp,
			  unsigned int q, unsigned int extra_ms,
			  const char *call)
{
	unsigned int attempt, settle_ms = DP_SPIN_SETTLE_MS + extra_ms;

	for (attempt = 1; attempt <= DP_SPIN_CATCH_ATTEMPTS; attempt++) {
		if (q == VDRV_TX)
			dp_tx_one(_metadata, dp, "the frame before a TX spin");
		else
			dp_rx_one(_metadata, dp, "the frame before an RX spin");
		kvnet_sleep_ms(settle_ms);
		if (!dp_kick_wanted(&dp->drv.vqs[VDRV_TX]))
			return;
		TH_LOG("before %s, attempt %u of %u: TX kicks back on %u ms after the frame: the %s spin was over",
		       call, attempt, DP_SPIN_CATCH_ATTEMPTS, settle_ms,
		       dp_q_name(q));
	}
	ASSERT_TRUE(false)
		TH_LOG("no %s spin lasted %u ms in %u attempts: %s untested",
		       dp_q_name(q), settle_ms, DP_SPIN_CATCH_ATTEMPTS, call);
}

/*
 * A new device in place of the one closed or reset: both queues on the
 * tap, nothing in flight, no busyloop timeout, its worker pinned.
 */
static void dp_spin_reopen(struct __test_metadata *_metadata, struct dp *dp)
{
	uint64_t features = dp->drv.features;
	char comm[32];

	vdrv_close(&dp->drv);
	snprintf(comm, sizeof(comm), "%s%d", dp->dev->worker_prefix, getpid());
	ASSERT_TRUE(kvnet_wait_until(kvnet_task_named(comm) == -ENOENT,
				     DP_WAIT_MS))
		TH_LOG("the worker %s of the device before is still there",
		       comm);
	memset(dp->tx, 0, sizeof(dp->tx));
	memset(dp->rx, 0, sizeof(dp->rx));
	dp->rx_fifo_head = dp->rx_posted = dp->rx_next = 0;
	vdrv_open(&dp->drv, dp->dev->path, features);
	dp->drv.vqs[VDRV_TX].indirect_gpa = DP_TX_TABLES;
	dp->drv.vqs[VDRV_RX].indirect_gpa = DP_RX_TABLES;
	kvnet_set_backend(dp->drv.fd, VDRV_RX, dp->tap);
	kvnet_set_backend(dp->drv.fd, VDRV_TX, dp->tap);
	dp_spin_pin(_metadata, dp);
}

/*
 * During a TX spin of a minute, KVNET_GET_VRING_STATS, a debugfs read of
 * the TX counters and a stop (GET_VRING_BASE) each return at once, and
 * end the spin: so each needs a spin of its own. The counters show the
 * spin they ended; the stop returns the right base and holds a kicked
 * frame, which the restart sends. DP_SPIN_CALL_ROUNDS times.
 */
TEST_F_TIMEOUT(busy_poll_kvnet, spin_gives_way_to_calls, 240)
{
	struct dp *dp = &self->dp;
	struct vdrv_vq *tx = &dp->drv.vqs[VDRV_TX];
	struct kvnet_vring_stats st0, st, dbg;
	struct vhost_vring_state s;
	struct dp_spin_watchdog wd;
	char dir[PATH_MAX];
	uint8_t buf[DP_SLOT];
	unsigned int round, len;
	uint16_t base;
	uint32_t seq;
	ssize_t n;
	int r;

	r = __kvnet_debugfs_dir(getpid(), dir, sizeof(dir));
	ASSERT_EQ(0, r) TH_LOG("debugfs directory of the device: %s",
			       kvnet_errname(-r));
	dp_spin_timeout(_metadata, dp, VDRV_TX, DP_SPIN_MINUTE_US);
	dp_spin_pin(_metadata, dp);
	dp_spin_watchdog_start(_metadata, dp, &wd);
	for (round = 1; round <= DP_SPIN_CALL_ROUNDS; round++) {
		dp_stats(_metadata, dp, VDRV_TX, &st0);
		dp_spin_catch(_metadata, dp, VDRV_TX, 0,
			      "KVNET_GET_VRING_STATS");
		dp_spin_watch(_metadata, &wd);
		r = __kvnet_get_stats(dp->drv.fd, VDRV_TX, &st);
		dp_spin_unwatch(_metadata, dp, &wd, "KVNET_GET_VRING_STATS",
				DP_SPIN_MINUTE_US);
		ASSERT_EQ(0, r) TH_LOG("KVNET_GET_VRING_STATS: %s",
				       kvnet_errname(-r));
		EXPECT_LT(st0.busy_polls, st.busy_polls)
			TH_LOG("KVNET_GET_VRING_STATS: the spin it ended not counted");

		dp_spin_catch(_metadata, dp, VDRV_TX, 0, "a debugfs read");
		dp_spin_watch(_metadata, &wd);
		r = __kvnet_debugfs_stats(dir, "tx", &dbg);
		dp_spin_unwatch(_metadata, dp, &wd,
				kvnet_fmt("a debugfs read of %s/tx", dir),
				DP_SPIN_MINUTE_US);
		ASSERT_EQ(0, r) TH_LOG("%s/tx: %s", dir, kvnet_errname(-r));
		EXPECT_LT(st.busy_polls, dbg.busy_polls)
			TH_LOG("debugfs: the spin it ended not counted");

		dp_spin_catch(_metadata, dp, VDRV_TX, 0,
			      "VHOST_GET_VRING_BASE");
		s = (struct vhost_vring_state) { .index = VDRV_TX };
		dp_spin_watch(_metadata, &wd);
		r = __kvnet_ioctl(dp->drv.fd, VHOST_GET_VRING_BASE, &s) ?
		    -errno : 0;
		dp_spin_unwatch(_metadata, dp, &wd,
				"VHOST_GET_VRING_BASE on TX",
				DP_SPIN_MINUTE_US);
		ASSERT_EQ(0, r) TH_LOG("VHOST_GET_VRING_BASE: %s",
				       kvnet_errname(-r));
		/* Every frame made available was sent, and used. */
		EXPECT_EQ(tx->avail_idx, s.num)
			TH_LOG("GET_VRING_BASE during a TX spin: %u, expected %u",
			       s.num, tx->avail_idx);
		EXPECT_EQ(tx->avail_idx, vdrv_used_idx(tx))
			TH_LOG("TX used index %u, expected %u",
			       vdrv_used_idx(tx), tx->avail_idx);

		/* Stopped: a kicked frame stays until the VMM restarts TX. */
		dp_spin_post(_metadata, dp, &seq, &len);
		ASSERT_EQ(0, vdrv_notify(tx));
		n = dp_tap_recv(dp, buf, sizeof(buf), DP_SPIN_QUIET_MS);
		EXPECT_EQ(-ETIMEDOUT, n)
			TH_LOG("frame %u went out of a stopped TX queue",
			       dp_frame_seq(buf, n));
		vdrv_vq_reset(&dp->drv, VDRV_TX, dp->tap, 0, &base);
		EXPECT_EQ(s.num, base) TH_LOG("GET_VRING_BASE again, stopped");
		dp_tx_expect(_metadata, dp, seq, len,
			     "the frame kicked while TX was stopped");
		dp_tx_drain(_metadata, dp, "after the restart");
	}
	dp_spin_watchdog_stop(&wd);
}

/*
 * After close() of the device, which kvnet's refcnt counted in @refcnt:
 * the refcnt is back, no debugfs directory names us, and the tap, held
 * by us alone now, attaches again once we close it (TUNSETIFF: the same
 * persistent tap, not a new one). Its new fd is dp->tap.
 */
static void dp_spin_check_released(struct __test_metadata *_metadata,
				   struct dp *dp, long long refcnt)
{
	int sz = dp->drv.hdr_len, fd, r;
	char dir[PATH_MAX], name[IFNAMSIZ];

	EXPECT_TRUE(kvnet_wait_until(kvnet_module_refcnt("kvnet") == refcnt - 1,
				     DP_WAIT_MS))
		TH_LOG("kvnet refcnt %lld after close(), expected %lld",
		       kvnet_module_refcnt("kvnet"), refcnt - 1);
	r = __kvnet_debugfs_dir(getpid(), dir, sizeof(dir));
	EXPECT_EQ(-ENOENT, r) TH_LOG("debugfs after close(): %s",
				     r ? kvnet_errname(-r) : dir);

	/* The control: our own fd still holds the tap. */
	fd = __kvnet_tap_create(KVNET_TAP_FLAGS, dp->tap_name, name);
	EXPECT_EQ(-EBUSY, fd) TH_LOG("TUNSETIFF %s while we hold it: %s",
				     dp->tap_name,
				     fd < 0 ? kvnet_errname(-fd) : "attached");
	if (fd >= 0)
		close(fd);
	close(dp->tap);
	dp->tap = -1;
	EXPECT_TRUE(kvnet_wait_until((fd = __kvnet_tap_create(KVNET_TAP_FLAGS,
							      dp->tap_name,
							      name)) >= 0,
				     DP_WAIT_MS))
		TH_LOG("TUNSETIFF %s after close(): %s: the device still holds it",
		       dp->tap_name, kvnet_errname(-fd));
	ASSERT_LE(0, fd);
	dp->tap = fd;
	EXPECT_EQ(dp->ifindex, (int)if_nametoindex(name))
		TH_LOG("%s is a new tap, not ours", name);
	ASSERT_EQ(0, ioctl(fd, TUNSETVNETHDRSZ, &sz))
		TH_LOG("TUNSETVNETHDRSZ: %s", strerror(errno));
}

/*
 * close() of the device during a TX spin of a minute returns at once, and
 * the device let go of everything. Then again with a new device.
 */
TEST_F_TIMEOUT(busy_poll_kvnet, spin_gives_way_to_close, 180)
{
	struct dp *dp = &self->dp;
	struct dp_spin_watchdog wd;
	unsigned int round;
	long long refcnt;
	int r;

	/* Persistent: what attaches to it afterwards can tell it is ours. */
	ASSERT_EQ(0, ioctl(dp->tap, TUNSETPERSIST, 1))
		TH_LOG("TUNSETPERSIST: %s", strerror(errno));
	dp_spin_pin(_metadata, dp);
	dp_spin_watchdog_start(_metadata, dp, &wd);
	for (round = 1; round <= DP_SPIN_CLOSE_ROUNDS; round++) {
		if (round > 1)
			dp_spin_reopen(_metadata, dp);
		dp_spin_timeout(_metadata, dp, VDRV_TX, DP_SPIN_MINUTE_US);
		refcnt = kvnet_module_refcnt("kvnet");
		ASSERT_LT(0, refcnt)
			TH_LOG("kvnet refcnt %lld with a device open", refcnt);
		dp_spin_catch(_metadata, dp, VDRV_TX, 0, "close()");
		dp_spin_watch(_metadata, &wd);
		r = close(dp->drv.fd) ? -errno : 0;
		dp->drv.fd = -1;
		dp_spin_unwatch(_metadata, dp, &wd,
				kvnet_fmt("close() of device %u of %u", round,
					  DP_SPIN_CLOSE_ROUNDS),
				DP_SPIN_MINUTE_US);
		ASSERT_EQ(0, r) TH_LOG("close(): %s", kvnet_errname(-r));
		dp_spin_check_released(_metadata, dp, refcnt);
	}
	dp_spin_watchdog_stop(&wd);
	EXPECT_EQ(0, ioctl(dp->tap, TUNSETPERSIST, 0))
		TH_LOG("TUNSETPERSIST off: %s", strerror(errno));
}

/* @n frames, each through TX or RX at random. */
static void dp_spin_traffic(struct __test_metadata *_metadata, struct dp *dp,
			    unsigned int n)
{
	while (n--) {
		if (dp_rand(dp) % 2)
			dp_tx_one(_metadata, dp, "traffic");
		else
			dp_rx_one(_metadata, dp, "traffic");
	}
}

/*
 * Fuzz-style: a device carries traffic both ways; a random huge busyloop
 * timeout (a minute up to UINT32_MAX us, 71 minutes) goes on TX or RX at
 * random, traffic goes on, and VHOST_RESET_OWNER comes at a random moment
 * of the spin that follows: it returns at once, and leaves the device
 * without owner or worker. Then again on a new device. The draws follow
 * from the seed (KVNET_DP_SEED).
 */
TEST_F_TIMEOUT(busy_poll_kvnet, reset_owner_in_huge_spin, 240)
{
	struct dp *dp = &self->dp;
	char dir[PATH_MAX], path[PATH_MAX + 8], comm[32], call[96];
	struct dp_spin_watchdog wd;
	unsigned int round, q;
	long long owner;
	uint32_t us;
	int r;

	snprintf(comm, sizeof(comm), "%s%d", dp->dev->worker_prefix, getpid());
	dp_spin_pin(_metadata, dp);
	dp_spin_watchdog_start(_metadata, dp, &wd);
	for (round = 1; round <= DP_SPIN_RESET_ROUNDS; round++) {
		if (round > 1)
			dp_spin_reopen(_metadata, dp);
		q = dp_rand(dp) % 2 ? VDRV_TX : VDRV_RX;
		/* The largest value once, whatever the seed. */
		us = round == 1 ? UINT32_MAX :
		     DP_SPIN_MINUTE_US +
		     dp_rand(dp) % (UINT32_MAX - DP_SPIN_MINUTE_US);
		snprintf(call, sizeof(call),
			 "VHOST_RESET_OWNER, round %u of %u (%s spin, %u us)",
			 round, DP_SPIN_RESET_ROUNDS, dp_q_name(q), us);
		r = __kvnet_debugfs_dir(getpid(), dir, sizeof(dir));
		ASSERT_EQ(0, r) TH_LOG("debugfs directory of the device: %s",
				       kvnet_errname(-r));

		dp_spin_traffic(_metadata, dp, 1 + dp_rand(dp) % 8);
		dp_spin_timeout(_metadata, dp, q, us);
		dp_spin_traffic(_metadata, dp, dp_rand(dp) % 8);
		dp_spin_catch(_metadata, dp, q, dp_rand(dp) % 50, call);
		dp_spin_watch(_metadata, &wd);
		r = __kvnet_ioctl_noarg(dp->drv.fd, VHOST_RESET_OWNER) ?
		    -errno : 0;
		dp_spin_unwatch(_metadata, dp, &wd, call, us);
		ASSERT_EQ(0, r) TH_LOG("%s: %s", call, kvnet_errname(-r));

		snprintf(path, sizeof(path), "%s/owner", dir);
		owner = kvnet_read_ll(path);
		EXPECT_EQ(0, owner) TH_LOG("%s: owner %lld after the reset",
					   path, owner);
		EXPECT_TRUE(kvnet_wait_until(kvnet_task_named(comm) == -ENOENT,
					     DP_WAIT_MS))
			TH_LOG("the worker %s outlived the reset", comm);
	}
	dp_spin_watchdog_stop(&wd);
}

KVNET_HARNESS_MAIN
