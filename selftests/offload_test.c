// SPDX-License-Identifier: GPL-2.0
/*
 * Checksum and TSO offloads through the virtio-net header, over a tap and
 * over a macvtap, on /dev/kvnet and on /dev/vhost-net, the reference.
 *
 * The backend is set up as QEMU sets it up: IFF_VNET_HDR, TUNSETVNETHDRSZ
 * from the header the features imply, TUNSETOFFLOAD from the guest's
 * GUEST_* features. The device is told only the features it offers
 * (vhost-net offers no offload bits: QEMU keeps them to itself and the
 * header passes through), the guest uses all it negotiated.
 *
 * The host side, in a private network namespace:
 *
 *   tap:     guest - device - kvtN -[bridge]- olcN   (read from olcN's fd)
 *   macvtap: guest - device - macvtap on kvvN = kvpN (a packet socket on kvpN)
 *
 * The link that sends to the capture end (olcN, a tap without offloads;
 * kvvN, a veth with them turned off) has no checksum or segmentation
 * offload, so a TSO packet from the guest is cut into segments there, in
 * software, with every checksum computed: the test checks each segment's
 * headers, checksums and payload itself.
 * Toward the guest, an AF_PACKET socket with PACKET_VNET_HDR sends GSO
 * packets into the tap (or into kvpN, whence they reach the macvtap): with
 * the guest's TSO offloads the backend passes them whole, else it cuts
 * them into frames of the MTU.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <linux/ethtool.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>

#include "kvnet_harness.h"
#include "kvnet_util.h"
#include "virtio_drv.h"

#define OL_WAIT_MS	5000
/* The MSS of a 1500-byte MTU with TCP timestamps, as a guest would use. */
#define OL_MSS(v6)	(1500 - ((v6) ? 40 : 20) - 20 - 12)
/* A TSO packet: 44 full segments and a short one. */
#define OL_GSO_PAYLOAD	64000
#define OL_MAX_PACKET	(ETH_HLEN + 65535)
#define OL_RX_BUFS	64
#define OL_BYTE_EXACT_FRAMES 64
#define OL_SPORT	40000
#define OL_DPORT	5001

#define F(bit)		(1ULL << (bit))

static const uint8_t ol_guest_mac[ETH_ALEN] = { 0x02, 'k', 'v', 'n', 'e', 1 };
static const uint8_t ol_peer_mac[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x99 };

struct ol_rxbuf {
	uint64_t gpa;
	uint32_t cap;
	unsigned int nseg;
	struct vdrv_sg sg[VDRV_MAX_SG];
};

FIXTURE(offload) {
	struct vdrv drv;
	/* What the guest negotiated; the device got what it offers of it. */
	uint64_t guest_features;
	int backend;
	char tap_name[IFNAMSIZ];
	struct kvnet_macvtap macvtap;
	/* TX from the guest comes out of @cfd; RX toward it goes in there. */
	int cfd;
	int inject_ifindex;
	uint8_t rx_dst[ETH_ALEN];
	int isock;
	struct ol_rxbuf rx[OL_RX_BUFS];
	unsigned int nrx;
	uint8_t *pkt;
	uint8_t *frame;
};

FIXTURE_VARIANT(offload) {
	const char *path;
	bool macvtap;
};

FIXTURE_VARIANT_ADD(offload, kvnet_tap) {
	.path = KVNET_DEV_PATH, .macvtap = false,
};

FIXTURE_VARIANT_ADD(offload, vhost_net_tap) {
	.path = VHOST_NET_DEV_PATH, .macvtap = false,
};

FIXTURE_VARIANT_ADD(offload, kvnet_macvtap) {
	.path = KVNET_DEV_PATH, .macvtap = true,
};

FIXTURE_VARIANT_ADD(offload, vhost_net_macvtap) {
	.path = VHOST_NET_DEV_PATH, .macvtap = true,
};

/* Bridge ioctl @cmd: SIOCBRADDBR of @br, or SIOCBRADDIF of @port to it. */
static int ol_bridge(unsigned long cmd, const char *br, const char *port)
{
	struct ifreq ifr = { 0 };
	int fd, ret = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (cmd == SIOCBRADDBR) {
		ret = ioctl(fd, cmd, br) ? -errno : 0;
	} else {
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", br);
		ifr.ifr_ifindex = if_nametoindex(port);
		ret = ioctl(fd, cmd, &ifr) ? -errno : 0;
	}
	close(fd);
	return ret;
}

#define ol_link_up(name) do {						\
	int __r = __kvnet_link_up(name);				\
	ASSERT_EQ(0, __r) TH_LOG("%s up: %s", name, kvnet_errname(-__r)); \
} while (0)

#define ol_bridge_add(port) do {					\
	int __r = ol_bridge(SIOCBRADDIF, "olbr", port);			\
	ASSERT_EQ(0, __r) TH_LOG("%s into the bridge: %s", port,		\
				 kvnet_errname(-__r));			\
} while (0)

/*
 * No checksum or segmentation offload on @name: what it sends is cut and
 * checksummed in software.
 */
#define ol_offloads_off(name) do {					\
	int __r = __kvnet_link_feature(name, ETHTOOL_STXCSUM, false);	\
	ASSERT_EQ(0, __r) TH_LOG("%s: tx checksumming off: %s", name,	\
				 kvnet_errname(-__r));			\
	__r = __kvnet_link_feature(name, ETHTOOL_STSO, false);		\
	ASSERT_EQ(0, __r) TH_LOG("%s: TSO off: %s", name,		\
				 kvnet_errname(-__r));			\
} while (0)

FIXTURE_SETUP(offload)
{
	int rcvbuf = 8 << 20, one = 1, r;
	char name[IFNAMSIZ];

	vdrv_init(&self->drv);
	self->backend = self->cfd = self->isock = -1;
	self->macvtap.fd = -1;
	self->macvtap.lower[0] = '\0';
	self->pkt = malloc(2 * OL_MAX_PACKET + 64);
	self->frame = malloc(OL_MAX_PACKET + 64);
	ASSERT_TRUE(self->pkt && self->frame);
	if (access(variant->path, F_OK))
		KVNET_SKIP("%s: %s (module not loaded?)", variant->path,
			   strerror(errno));
	/* Loaded here: the kernel's own modprobe may not see our root. */
	if (!variant->macvtap && access("/sys/module/bridge", F_OK) &&
	    kvnet_run(NULL, 0, "modprobe bridge"))
		KVNET_SKIP("no bridge module");

	kvnet_enter_netns();
	/* Nothing but the tests' frames on the links: no IPv6 chatter. */
	kvnet_write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	kvnet_write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");

	if (variant->macvtap) {
		kvnet_macvtap_create(&self->macvtap);
		self->backend = self->macvtap.fd;
		snprintf(name, sizeof(name), "kvp%d", getpid());
		ol_offloads_off(self->macvtap.lower);
		ol_link_up(name);
		ol_link_up(self->macvtap.lower);
		ol_link_up(self->macvtap.name);
		r = __kvnet_link_mac(self->macvtap.name, self->rx_dst);
		ASSERT_EQ(0, r) TH_LOG("MAC of %s: %s", self->macvtap.name,
				       kvnet_errname(-r));
		/* No GRO where we capture: each segment as it was sent. */
		__kvnet_link_feature(name, ETHTOOL_SGRO, false);
		self->cfd = kvnet_check(__kvnet_packet_socket(name, ETH_P_ALL));
		ASSERT_EQ(0, setsockopt(self->cfd, SOL_SOCKET, SO_RCVBUFFORCE,
					&rcvbuf, sizeof(rcvbuf)));
		/* kvpN also carries what we send toward the macvtap. */
		ASSERT_EQ(0, setsockopt(self->cfd, SOL_PACKET,
					PACKET_IGNORE_OUTGOING, &one,
					sizeof(one)));
		self->inject_ifindex = if_nametoindex(name);
	} else {
		/* A tap without offloads is the far end: we read its fd. */
		self->cfd = kvnet_check(__kvnet_tap_create(IFF_TAP | IFF_NO_PI,
							   "olc%d", name));
		r = ol_bridge(SIOCBRADDBR, "olbr", NULL);
		ASSERT_EQ(0, r) TH_LOG("bridge: %s", kvnet_errname(-r));
		ol_bridge_add(name);
		ol_link_up(name);
		ol_link_up("olbr");
		memcpy(self->rx_dst, ol_guest_mac, ETH_ALEN);
	}
	ASSERT_EQ(0, fcntl(self->cfd, F_SETFL, O_NONBLOCK));
	self->isock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, self->isock) TH_LOG("AF_PACKET: %s", strerror(errno));
	ASSERT_EQ(0, setsockopt(self->isock, SOL_PACKET, PACKET_VNET_HDR,
				&one, sizeof(one)))
		TH_LOG("PACKET_VNET_HDR: %s", strerror(errno));
}

FIXTURE_TEARDOWN(offload)
{
	vdrv_close(&self->drv);
	if (self->cfd >= 0)
		close(self->cfd);
	if (self->isock >= 0)
		close(self->isock);
	if (self->backend >= 0 && self->backend != self->macvtap.fd)
		close(self->backend);
	kvnet_macvtap_destroy(&self->macvtap);
	free(self->pkt);
	free(self->frame);
}

/*
 * The guest negotiates @features: the device gets what it offers of them,
 * the backend its header size and the offloads they imply, on both queues.
 */
static void ol_start(struct __test_metadata *_metadata,
		     FIXTURE_DATA(offload) *self,
		     const FIXTURE_VARIANT(offload) *variant, uint64_t features)
{
	uint64_t offered = 0;
	int sz, r;

	r = __vdrv_offered(variant->path, &offered);
	ASSERT_EQ(0, r) TH_LOG("VHOST_GET_FEATURES: %s", kvnet_errname(-r));
	self->guest_features = features;
	vdrv_open(&self->drv, variant->path, features & offered);
	sz = self->drv.hdr_len;
	if (variant->macvtap) {
		ASSERT_EQ(0, ioctl(self->backend, TUNSETVNETHDRSZ, &sz))
			TH_LOG("TUNSETVNETHDRSZ on the macvtap: %s",
			       strerror(errno));
	} else {
		self->backend = vdrv_tap_create(sz, self->tap_name);
		ol_bridge_add(self->tap_name);
		ol_link_up(self->tap_name);
		self->inject_ifindex = if_nametoindex(self->tap_name);
	}
	r = __vdrv_set_offloads(self->backend, features);
	ASSERT_EQ(0, r) TH_LOG("TUNSETOFFLOAD %#x: %s",
			       vdrv_tap_offloads(features), kvnet_errname(-r));
	kvnet_set_backend(self->drv.fd, VDRV_RX, self->backend);
	kvnet_set_backend(self->drv.fd, VDRV_TX, self->backend);
}

/* ---- frames ----------------------------------------------------------------- */

static uint8_t ol_pattern(uint32_t seq, unsigned int i)
{
	uint32_t x = seq * 0x9e3779b1U ^ i * 0x85ebca6bU;

	x ^= x >> 15;
	x *= 0x2c1b3c6dU;
	return x ^ (x >> 12) ^ (x >> 24);
}

static uint32_t ol_sum(uint32_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += p[len - 1] << 8;
	return sum;
}

static uint16_t ol_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

static uint16_t ol_get16(const uint8_t *p)
{
	return p[0] << 8 | p[1];
}

static uint32_t ol_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

static void ol_put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void ol_put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* A TCP/IP packet as it was built, to compare segments with. */
struct ol_tcp {
	bool v6;
	size_t l3;		/* IP header length */
	size_t hlen;		/* Ethernet + IP + TCP headers */
	size_t payload;
	uint32_t seq;
	uint16_t ip_id;
	uint8_t flags;
	const uint8_t *frame;
};

#define OL_TCP_FIN	0x01
#define OL_TCP_PSH	0x08
#define OL_TCP_ACK	0x10
#define OL_TCP_CWR	0x80

/* Sum of the pseudo-header of a TCP segment of @tcp_len bytes in @f. */
static uint32_t ol_pseudo(const struct ol_tcp *t, const uint8_t *f,
			  size_t tcp_len)
{
	uint32_t sum;

	if (t->v6)
		sum = ol_sum(0, f + ETH_HLEN + 8, 32);
	else
		sum = ol_sum(0, f + ETH_HLEN + 12, 8);
	return sum + 6 + (uint32_t)tcp_len;
}

/*
 * A TCP segment of @payload bytes of pattern from @src to @dst in @f, over
 * IPv4 or IPv6, described in @t. Its TCP checksum is what a driver leaves
 * for the device to finish (VIRTIO_NET_HDR_F_NEEDS_CSUM): the sum of the
 * pseudo-header, not complemented.
 */
static size_t ol_tcp_frame(uint8_t *f, struct ol_tcp *t, bool v6,
			   const uint8_t *dst, const uint8_t *src,
			   size_t payload, uint8_t flags)
{
	uint8_t *ip = f + ETH_HLEN, *th;
	size_t i, len;

	*t = (struct ol_tcp) {
		.v6 = v6, .l3 = v6 ? 40 : 20, .payload = payload,
		.seq = 0x1000000, .ip_id = 0x4242, .flags = flags,
		.frame = f,
	};
	t->hlen = ETH_HLEN + t->l3 + 20;
	len = t->hlen + payload;
	memcpy(f, dst, ETH_ALEN);
	memcpy(f + ETH_ALEN, src, ETH_ALEN);
	ol_put16(f + 12, v6 ? ETH_P_IPV6 : ETH_P_IP);
	if (v6) {
		ol_put32(ip, 0x60012345);	/* version, flow label */
		ol_put16(ip + 4, 20 + payload);
		ip[6] = 6;			/* TCP */
		ip[7] = 64;
		memcpy(ip + 8, "\xfd\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
		memcpy(ip + 24, "\xfd\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x02", 16);
	} else {
		ip[0] = 0x45;
		ip[1] = 0;
		ol_put16(ip + 2, 20 + 20 + payload);
		ol_put16(ip + 4, t->ip_id);
		ol_put16(ip + 6, 0x4000);	/* DF */
		ip[8] = 64;
		ip[9] = 6;
		ol_put16(ip + 10, 0);
		memcpy(ip + 12, "\x0a\0\0\x01\x0a\0\0\x02", 8);
		ol_put16(ip + 10, ~ol_fold(ol_sum(0, ip, 20)));
	}
	th = ip + t->l3;
	ol_put16(th, OL_SPORT);
	ol_put16(th + 2, OL_DPORT);
	ol_put32(th + 4, t->seq);
	ol_put32(th + 8, 0x77);
	th[12] = 5 << 4;
	th[13] = flags;
	ol_put16(th + 14, 0xffff);
	ol_put16(th + 16, 0);
	ol_put16(th + 18, 0);
	for (i = t->hlen; i < len; i++)
		f[i] = ol_pattern(0x7c9, i - t->hlen);
	ol_put16(th + 16, ol_fold(ol_pseudo(t, f, 20 + payload)));
	return len;
}

/* The virtio-net header of a TSO or checksum-offloaded packet @t. */
static struct virtio_net_hdr_mrg_rxbuf ol_tcp_vnet_hdr(const struct ol_tcp *t,
						       bool gso)
{
	struct virtio_net_hdr_mrg_rxbuf h = { 0 };

	h.hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.hdr.csum_start = ETH_HLEN + t->l3;
	h.hdr.csum_offset = 16;
	if (gso) {
		h.hdr.gso_type = t->v6 ? VIRTIO_NET_HDR_GSO_TCPV6 :
					 VIRTIO_NET_HDR_GSO_TCPV4;
		h.hdr.gso_size = OL_MSS(t->v6);
		h.hdr.hdr_len = t->hlen;
	}
	return h;
}

/* Is @f (@n bytes) a segment of ours, by ethertype and ports? */
static bool ol_is_ours(const struct ol_tcp *t, const uint8_t *f, size_t n)
{
	if (n < t->hlen || ol_get16(f + 12) != (t->v6 ? ETH_P_IPV6 : ETH_P_IP))
		return false;
	return ol_get16(f + ETH_HLEN + t->l3) == OL_SPORT &&
	       ol_get16(f + ETH_HLEN + t->l3 + 2) == OL_DPORT;
}

/*
 * Segment @i of @t, @n bytes in @f, starting at payload offset @off: its
 * headers are those of @t adjusted as segmentation must, both checksums
 * are right, and its payload is the slice of @t's. NULL or what is wrong.
 */
static const char *ol_segment_diff(const struct ol_tcp *t, const uint8_t *f,
				   size_t n, unsigned int i, size_t off,
				   size_t mss)
{
	const uint8_t *ip = f + ETH_HLEN, *th = ip + t->l3;
	const uint8_t *oip = t->frame + ETH_HLEN, *oth = oip + t->l3;
	size_t seg = t->payload - off < mss ? t->payload - off : mss;
	bool first = !off, last = off + seg == t->payload;
	uint8_t flags = t->flags;
	size_t k;

	if (n != t->hlen + seg)
		return kvnet_fmt("segment %u: %zu bytes, expected %zu (%zu of payload)",
				 i, n, t->hlen + seg, seg);
	if (memcmp(f, t->frame, ETH_HLEN))
		return kvnet_fmt("segment %u: Ethernet header differs", i);
	if (t->v6) {
		if (memcmp(ip, oip, 4) || memcmp(ip + 6, oip + 6, 34))
			return kvnet_fmt("segment %u: IPv6 header differs", i);
		if (ol_get16(ip + 4) != 20 + seg)
			return kvnet_fmt("segment %u: IPv6 payload length %u, expected %zu",
					 i, ol_get16(ip + 4), 20 + seg);
	} else {
		if (ip[0] != 0x45 || ip[1] != oip[1] ||
		    memcmp(ip + 6, oip + 6, 4) || memcmp(ip + 12, oip + 12, 8))
			return kvnet_fmt("segment %u: IPv4 header differs", i);
		if (ol_get16(ip + 2) != 40 + seg)
			return kvnet_fmt("segment %u: IPv4 total length %u, expected %zu",
					 i, ol_get16(ip + 2), 40 + seg);
		if (ol_get16(ip + 4) != (uint16_t)(t->ip_id + i))
			return kvnet_fmt("segment %u: IP id %#x, expected %#x", i,
					 ol_get16(ip + 4),
					 (uint16_t)(t->ip_id + i));
		if (ol_fold(ol_sum(0, ip, 20)) != 0xffff)
			return kvnet_fmt("segment %u: bad IPv4 header checksum %#06x",
					 i, ol_get16(ip + 10));
	}
	if (memcmp(th, oth, 4) || memcmp(th + 8, oth + 8, 5) ||
	    memcmp(th + 14, oth + 14, 2) || memcmp(th + 18, oth + 18, 2))
		return kvnet_fmt("segment %u: TCP header differs", i);
	if (ol_get32(th + 4) != t->seq + off)
		return kvnet_fmt("segment %u: TCP sequence %#x, expected %#zx", i,
				 ol_get32(th + 4), t->seq + off);
	/* PSH and FIN go with the last segment, CWR with the first. */
	if (!last)
		flags &= ~(OL_TCP_PSH | OL_TCP_FIN);
	if (!first)
		flags &= ~OL_TCP_CWR;
	if (th[13] != flags)
		return kvnet_fmt("segment %u: TCP flags %#04x, expected %#04x", i,
				 th[13], flags);
	if (ol_fold(ol_pseudo(t, f, 20 + seg) + ol_sum(0, th, 20 + seg)) !=
	    0xffff)
		return kvnet_fmt("segment %u: bad TCP checksum %#06x", i,
				 ol_get16(th + 16));
	for (k = 0; k < seg; k++)
		if (f[t->hlen + k] != t->frame[t->hlen + off + k])
			return kvnet_fmt("segment %u: payload byte %zu is %#04x, expected %#04x",
					 i, off + k, f[t->hlen + k],
					 t->frame[t->hlen + off + k]);
	return NULL;
}

/* The first bytes of @p in hex, for a log line. */
static const char *ol_hex(const uint8_t *p, size_t n)
{
	char buf[3 * 64 + 1] = "";
	size_t i;

	for (i = 0; i < n && i < 64; i++)
		snprintf(buf + 3 * i, 4, "%02x ", p[i]);
	return kvnet_fmt("%zu bytes: %s", n, buf);
}

/* ---- the host side ------------------------------------------------------- */

/* The next frame at the capture end within @timeout_ms: bytes or -errno. */
static ssize_t ol_capture(FIXTURE_DATA(offload) *self, uint8_t *buf,
			  size_t size, int timeout_ms)
{
	struct pollfd pfd = { .fd = self->cfd, .events = POLLIN };
	ssize_t n;

	n = read(self->cfd, buf, size);
	if (n >= 0 || errno != EAGAIN)
		return n < 0 ? -errno : n;
	if (poll(&pfd, 1, timeout_ms) != 1)
		return -ETIMEDOUT;
	n = read(self->cfd, buf, size);
	return n < 0 ? -errno : n;
}

/* Send @frame toward the guest with the 10-byte virtio-net header @h. */
static void ol_inject(struct __test_metadata *_metadata,
		      FIXTURE_DATA(offload) *self, const struct virtio_net_hdr *h,
		      const uint8_t *frame, size_t len)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ol_get16(frame + 12)),
		.sll_ifindex = self->inject_ifindex,
		.sll_halen = ETH_ALEN,
	};
	struct iovec iov[2] = {
		{ (void *)h, sizeof(*h) }, { (void *)frame, len },
	};
	struct msghdr msg = {
		.msg_name = &sll, .msg_namelen = sizeof(sll),
		.msg_iov = iov, .msg_iovlen = 2,
	};
	ssize_t n;

	memcpy(sll.sll_addr, frame, ETH_ALEN);
	n = sendmsg(self->isock, &msg, 0);
	ASSERT_EQ((ssize_t)(sizeof(*h) + len), n)
		TH_LOG("sending %zu bytes toward the guest: %s", len,
		       strerror(errno));
}

/* ---- the guest side ------------------------------------------------------ */

/* Post @f (@len bytes) after @h on TX and kick; wait for its used entry. */
static void ol_tx(struct __test_metadata *_metadata,
		  FIXTURE_DATA(offload) *self,
		  const struct virtio_net_hdr_mrg_rxbuf *h, const uint8_t *f,
		  size_t len, bool wait_used)
{
	struct vdrv_vq *tx = &self->drv.vqs[VDRV_TX];
	size_t total = self->drv.hdr_len + len, done;
	struct vdrv_layout l = { .nseg = 0 };
	static char token;
	uint64_t gpa;
	int head;

	/* As Linux lays a packet out: the header, then pieces of 16 KiB. */
	l.len[l.nseg++] = self->drv.hdr_len;
	for (done = self->drv.hdr_len; done < total; done += l.len[l.nseg++])
		l.len[l.nseg] = total - done < 16384 ? total - done : 16384;
	gpa = vdrv_alloc(&self->drv, total, 64);
	ASSERT_NE(0ULL, gpa) TH_LOG("guest RAM full");
	head = vdrv_tx_post(tx, gpa, h, f, len, &l, &token);
	ASSERT_LE(0, head) TH_LOG("vdrv_tx_post: %s", kvnet_errname(-head));
	ASSERT_EQ(0, vdrv_kick(tx));
	if (wait_used) {
		void *tok;
		uint32_t ulen;
		int r = vdrv_wait_used(tx, OL_WAIT_MS);

		ASSERT_EQ(0, r) TH_LOG("TX packet of %zu bytes not used: %s",
				       len, r == -EPROTO ? self->drv.error :
				       kvnet_errname(-r));
		ASSERT_EQ(1, vdrv_get_buf(tx, &tok, &ulen));
	}
}

/* Reap the TX used entries; how many. */
static unsigned int ol_tx_reap(FIXTURE_DATA(offload) *self)
{
	unsigned int n = 0;
	uint32_t ulen;
	void *tok;

	while (vdrv_get_buf(&self->drv.vqs[VDRV_TX], &tok, &ulen) == 1)
		n++;
	return n;
}

static void ol_rx_repost(struct __test_metadata *_metadata,
			 FIXTURE_DATA(offload) *self, struct ol_rxbuf *b)
{
	int head = vdrv_add(&self->drv.vqs[VDRV_RX], b->sg, 0, b->nseg, false,
			    b);

	ASSERT_LE(0, head) TH_LOG("RX buffer: %s", kvnet_errname(-head));
}

/* Make @n RX buffers of @cap bytes available, in segments of @seg bytes. */
static void ol_rx_buffers(struct __test_metadata *_metadata,
			  FIXTURE_DATA(offload) *self, unsigned int n,
			  uint32_t cap, uint32_t seg)
{
	unsigned int i;
	uint32_t done;

	ASSERT_GE(OL_RX_BUFS, (int)n);
	for (i = 0; i < n; i++) {
		struct ol_rxbuf *b = &self->rx[i];

		b->cap = cap;
		b->gpa = vdrv_alloc(&self->drv, cap, 64);
		ASSERT_NE(0ULL, b->gpa) TH_LOG("guest RAM full");
		for (b->nseg = 0, done = 0; done < cap; b->nseg++) {
			ASSERT_GT(VDRV_MAX_SG, (int)b->nseg);
			b->sg[b->nseg].gpa = b->gpa + done;
			b->sg[b->nseg].len = cap - done < seg ? cap - done : seg;
			done += b->sg[b->nseg].len;
		}
		ol_rx_repost(_metadata, self, b);
	}
	self->nrx = n;
	ASSERT_EQ(0, vdrv_kick(&self->drv.vqs[VDRV_RX]));
}

/*
 * The next packet the guest receives: its header in @h, its frame in
 * self->frame (bytes returned), the buffers it took in @nbufs (num_buffers
 * with MRG_RXBUF, else 1). The buffers go back to the device.
 */
static size_t ol_rx_any(struct __test_metadata *_metadata,
			FIXTURE_DATA(offload) *self,
			struct virtio_net_hdr_mrg_rxbuf *h, unsigned int *nbufs)
{
	struct vdrv_vq *rx = &self->drv.vqs[VDRV_RX];
	bool mrg = vdrv_has(&self->drv, VIRTIO_NET_F_MRG_RXBUF);
	size_t hlen = self->drv.hdr_len, got = 0;
	struct ol_rxbuf *taken[OL_RX_BUFS];
	unsigned int want = 1, k;

	memset(h, 0, sizeof(*h));
	for (k = 0; k < want; k++) {
		struct ol_rxbuf *b;
		uint32_t ulen;
		void *tok;
		int r;

		r = vdrv_wait_used(rx, OL_WAIT_MS);
		ASSERT_EQ(0, r) TH_LOG("RX: buffer %u of %u: %s", k + 1, want,
				       r == -EPROTO ? self->drv.error :
				       "no used entry");
		ASSERT_EQ(1, vdrv_get_buf(rx, &tok, &ulen))
			TH_LOG("%s", self->drv.error);
		b = taken[k] = tok;
		ASSERT_GE(b->cap, ulen) TH_LOG("RX: %u bytes used of a %u-byte buffer",
					       ulen, b->cap);
		ASSERT_GE((size_t)2 * OL_MAX_PACKET, got + ulen);
		ASSERT_EQ(0, vdrv_sg_read(&self->drv, b->sg, b->nseg,
					  self->pkt + got, ulen));
		got += ulen;
		if (!k) {
			ASSERT_LE(hlen, ulen) TH_LOG("RX: %u bytes in the first buffer",
						    ulen);
			memcpy(h, self->pkt, hlen);
			if (mrg)
				want = h->num_buffers;
			ASSERT_LT(0U, want) TH_LOG("RX: num_buffers 0");
			ASSERT_GE(self->nrx, want)
				TH_LOG("RX: num_buffers %u, %u buffers posted",
				       want, self->nrx);
		}
	}
	for (k = 0; k < want; k++)
		ol_rx_repost(_metadata, self, taken[k]);
	ASSERT_EQ(0, vdrv_kick(rx));
	*nbufs = want;
	ASSERT_GE((size_t)OL_MAX_PACKET, got - hlen);
	memcpy(self->frame, self->pkt + hlen, got - hlen);
	return got - hlen;
}

/*
 * As ol_rx_any(), for the next packet the test sent: the tap is a bridge
 * port, and the bridge may flood a frame of the host's own (seen once in
 * many runs: 54 bytes right after the ports came up). What comes from
 * our peer's MAC address is checked, whatever it holds.
 */
static size_t ol_rx(struct __test_metadata *_metadata,
		    FIXTURE_DATA(offload) *self,
		    struct virtio_net_hdr_mrg_rxbuf *h, unsigned int *nbufs)
{
	unsigned int foreign;
	size_t n;

	for (foreign = 0; foreign < 16; foreign++) {
		n = ol_rx_any(_metadata, self, h, nbufs);
		if (n >= ETH_HLEN &&
		    !memcmp(self->frame + ETH_ALEN, ol_peer_mac, ETH_ALEN))
			return n;
		TH_LOG("RX: skipped a frame not from the peer, %s",
		       ol_hex(self->frame, n));
	}
	ASSERT_TRUE(false) TH_LOG("RX: 16 frames not from the peer");
	return 0;
}

/* ---- TX: guest to host ---------------------------------------------------- */

/*
 * The TSO packet @t the guest sent comes out of the host as MSS-sized
 * segments, in order, each checked by ol_segment_diff().
 */
static void ol_expect_segments(struct __test_metadata *_metadata,
			       FIXTURE_DATA(offload) *self,
			       const struct ol_tcp *t, size_t mss)
{
	size_t off = 0;
	unsigned int i = 0, others = 0;
	const char *diff;
	ssize_t n;

	while (off < t->payload) {
		n = ol_capture(self, self->pkt, OL_MAX_PACKET, OL_WAIT_MS);
		ASSERT_LE(0, n)
			TH_LOG("%zu of %zu payload bytes came out in %u segments (%u other frames), then: %s",
			       off, t->payload, i, others, kvnet_errname(-n));
		if (!ol_is_ours(t, self->pkt, n)) {
			others++;
			continue;
		}
		diff = ol_segment_diff(t, self->pkt, n, i, off, mss);
		ASSERT_EQ(NULL, diff) TH_LOG("%s (%u other frames before)",
					     diff, others);
		off += n - t->hlen;
		i++;
	}
	ASSERT_EQ((t->payload + mss - 1) / mss, i);
}

/* A 64 KiB TSO packet from the guest, with the features to send it. */
static void ol_tx_tso(struct __test_metadata *_metadata,
		      FIXTURE_DATA(offload) *self,
		      const FIXTURE_VARIANT(offload) *variant, bool v6,
		      uint8_t flags)
{
	struct virtio_net_hdr_mrg_rxbuf h;
	struct ol_tcp t;
	size_t len;

	ol_start(_metadata, self, variant,
		 F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_CSUM) |
		 F(v6 ? VIRTIO_NET_F_HOST_TSO6 : VIRTIO_NET_F_HOST_TSO4) |
		 (flags & OL_TCP_CWR ? F(VIRTIO_NET_F_HOST_ECN) : 0));
	len = ol_tcp_frame(self->frame, &t, v6, ol_peer_mac, ol_guest_mac,
			   OL_GSO_PAYLOAD, flags);
	h = ol_tcp_vnet_hdr(&t, true);
	if (flags & OL_TCP_CWR)
		h.hdr.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
	ol_tx(_metadata, self, &h, self->frame, len, false);
	ol_expect_segments(_metadata, self, &t, OL_MSS(v6));
	ASSERT_TRUE(kvnet_wait_until(ol_tx_reap(self), OL_WAIT_MS))
		TH_LOG("the TSO packet went out, its buffer was not used");
}

/*
 * HOST_TSO4: a 64 KiB TCP/IPv4 packet leaves the host as 1448-byte
 * segments with valid IP and TCP checksums, the payload byte for byte.
 */
TEST_F(offload, tx_tso4)
{
	ol_tx_tso(_metadata, self, variant, false,
		  OL_TCP_ACK | OL_TCP_PSH | OL_TCP_FIN);
}

/* HOST_TSO6: the same over IPv6. */
TEST_F(offload, tx_tso6)
{
	ol_tx_tso(_metadata, self, variant, true, OL_TCP_ACK | OL_TCP_PSH);
}

/* HOST_ECN: a TSO packet with CWR keeps it on its first segment only. */
TEST_F(offload, tx_tso4_ecn)
{
	ol_tx_tso(_metadata, self, variant, false,
		  OL_TCP_ACK | OL_TCP_CWR | OL_TCP_PSH);
}

/* CSUM: a frame whose TCP checksum the guest left to the host gets it. */
TEST_F(offload, tx_csum)
{
	struct virtio_net_hdr_mrg_rxbuf h;
	const char *diff;
	struct ol_tcp t;
	size_t len;
	ssize_t n;

	ol_start(_metadata, self, variant,
		 F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_CSUM));
	len = ol_tcp_frame(self->frame, &t, false, ol_peer_mac, ol_guest_mac,
			   1000, OL_TCP_ACK | OL_TCP_PSH);
	h = ol_tcp_vnet_hdr(&t, false);
	ol_tx(_metadata, self, &h, self->frame, len, true);
	do {
		n = ol_capture(self, self->pkt, OL_MAX_PACKET, OL_WAIT_MS);
		ASSERT_LE(0, n) TH_LOG("the frame did not come out: %s",
				       kvnet_errname(-n));
	} while (!ol_is_ours(&t, self->pkt, n));
	diff = ol_segment_diff(&t, self->pkt, n, 0, 0, 1000);
	ASSERT_EQ(NULL, diff) TH_LOG("%s", diff);
}

/* Plain frames of every size, out of the far end byte for byte and in order. */
TEST_F(offload, tx_byte_exact)
{
	static const struct virtio_net_hdr_mrg_rxbuf h;
	unsigned int i, lens[OL_BYTE_EXACT_FRAMES];
	uint32_t seq;
	ssize_t n;

	ol_start(_metadata, self, variant, F(VIRTIO_F_VERSION_1));
	srandom(1);
	for (i = 0; i < OL_BYTE_EXACT_FRAMES; i++) {
		lens[i] = i == 0 ? 60 : i == 1 ? 1514 : 60 + random() % 1455;
		vdrv_frame(self->frame, ol_peer_mac, ol_guest_mac, i, lens[i]);
		ol_tx(_metadata, self, &h, self->frame, lens[i], false);
	}
	for (i = 0; i < OL_BYTE_EXACT_FRAMES; i++) {
		do {
			n = ol_capture(self, self->pkt, OL_MAX_PACKET,
				       OL_WAIT_MS);
			ASSERT_LE(0, n) TH_LOG("TX frame %u did not come out: %s",
					       i, kvnet_errname(-n));
		} while (n < ETH_HLEN + 4 ||
			 ol_get16(self->pkt + 12) != VDRV_ETHERTYPE);
		seq = ol_get32(self->pkt + ETH_HLEN);
		ASSERT_EQ(i, seq) TH_LOG("TX frame %u out of order", seq);
		vdrv_frame(self->frame, ol_peer_mac, ol_guest_mac, i, lens[i]);
		ASSERT_EQ(lens[i], n) TH_LOG("TX frame %u: length", i);
		ASSERT_EQ(0, memcmp(self->pkt, self->frame, n))
			TH_LOG("TX frame %u: contents differ", i);
	}
	ASSERT_TRUE(kvnet_wait_until((ol_tx_reap(self),
				      !self->drv.vqs[VDRV_TX].num_inflight),
				     OL_WAIT_MS))
		TH_LOG("%u TX buffers not used",
		       self->drv.vqs[VDRV_TX].num_inflight);
}

/* ---- RX: host to guest ---------------------------------------------------- */

/* Plain frames from the host, in mergeable buffers, byte for byte. */
TEST_F(offload, rx_byte_exact)
{
	static const struct virtio_net_hdr zero;
	struct virtio_net_hdr_mrg_rxbuf h;
	unsigned int i, nb, len;
	uint8_t want[1514];
	size_t n;

	ol_start(_metadata, self, variant,
		 F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MRG_RXBUF));
	ol_rx_buffers(_metadata, self, OL_RX_BUFS, 1024, 1024);
	srandom(2);
	for (i = 0; i < OL_BYTE_EXACT_FRAMES; i++) {
		len = i == 0 ? 60 : i == 1 ? 1514 : 60 + random() % 1455;
		vdrv_frame(want, self->rx_dst, ol_peer_mac, i, len);
		ol_inject(_metadata, self, &zero, want, len);
		n = ol_rx(_metadata, self, &h, &nb);
		ASSERT_EQ(len, n) TH_LOG("RX frame %u: length; got %s", i,
					 ol_hex(self->frame, n));
		ASSERT_EQ(0, memcmp(self->frame, want, len))
			TH_LOG("RX frame %u: contents differ", i);
		ASSERT_EQ((12 + len + 1023) / 1024, nb)
			TH_LOG("RX frame %u of %u bytes: buffers", i, len);
		ASSERT_EQ(0, h.hdr.flags);
		ASSERT_EQ(VIRTIO_NET_HDR_GSO_NONE, h.hdr.gso_type);
	}
}

/* A 64 KiB GSO packet toward a guest with GUEST_TSO4/6 arrives whole. */
static void ol_rx_gso_whole(struct __test_metadata *_metadata,
			    FIXTURE_DATA(offload) *self,
			    const FIXTURE_VARIANT(offload) *variant, bool v6,
			    bool mrg)
{
	struct virtio_net_hdr_mrg_rxbuf h, want;
	size_t len, n, hlen;
	unsigned int nb, k;
	struct ol_tcp t;
	uint8_t *f;

	ol_start(_metadata, self, variant,
		 (mrg ? F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MRG_RXBUF) : 0) |
		 F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4) |
		 F(VIRTIO_NET_F_GUEST_TSO6));
	hlen = self->drv.hdr_len;
	if (mrg)
		/* Page-sized mergeable buffers, as Linux posts them. */
		ol_rx_buffers(_metadata, self, 40, 4096, 4096);
	else
		/* Without them, buffers for the largest packet. */
		ol_rx_buffers(_metadata, self, 2, hlen + OL_MAX_PACKET, 16384);

	f = malloc(OL_MAX_PACKET);
	ASSERT_NE(NULL, f);
	len = ol_tcp_frame(f, &t, v6, self->rx_dst, ol_peer_mac,
			   OL_GSO_PAYLOAD, OL_TCP_ACK | OL_TCP_PSH);
	want = ol_tcp_vnet_hdr(&t, true);
	ol_inject(_metadata, self, &want.hdr, f, len);
	n = ol_rx(_metadata, self, &h, &nb);

	ASSERT_EQ(len, n) TH_LOG("the GSO packet arrived as %zu bytes, expected %zu in one",
				 n, len);
	for (k = 0; k < len && self->frame[k] == f[k]; k++)
		;
	ASSERT_EQ(len, k) TH_LOG("byte %u of the GSO packet differs", k);
	EXPECT_EQ(mrg ? (hlen + len + 4095) / 4096 : 1, nb)
		TH_LOG("buffers for %zu bytes", hlen + len);
	EXPECT_EQ(VIRTIO_NET_HDR_F_NEEDS_CSUM, h.hdr.flags);
	EXPECT_EQ(want.hdr.gso_type, h.hdr.gso_type);
	EXPECT_EQ(OL_MSS(v6), h.hdr.gso_size);
	EXPECT_EQ(want.hdr.csum_start, h.hdr.csum_start);
	EXPECT_EQ(want.hdr.csum_offset, h.hdr.csum_offset);
	EXPECT_EQ(t.hlen, h.hdr.hdr_len) TH_LOG("hdr_len: the headers");
	/* The guest finishes the checksum as the header says: it is right. */
	ol_put16(self->frame + h.hdr.csum_start + h.hdr.csum_offset,
		 ~ol_fold(ol_sum(0, self->frame + h.hdr.csum_start,
				 len - h.hdr.csum_start)));
	EXPECT_EQ(0xffff, ol_fold(ol_pseudo(&t, self->frame, len - t.hlen + 20) +
				  ol_sum(0, self->frame + t.hlen - 20,
					 len - t.hlen + 20)));
	free(f);
}

/* GUEST_TSO4 with MRG_RXBUF: one packet in as many buffers as it needs. */
TEST_F(offload, rx_gso4_mergeable)
{
	ol_rx_gso_whole(_metadata, self, variant, false, true);
}

/* GUEST_TSO6 with MRG_RXBUF. */
TEST_F(offload, rx_gso6_mergeable)
{
	ol_rx_gso_whole(_metadata, self, variant, true, true);
}

/* GUEST_TSO4 without MRG_RXBUF (a legacy 10-byte header): one big buffer. */
TEST_F(offload, rx_gso4_big_buffers)
{
	ol_rx_gso_whole(_metadata, self, variant, false, false);
}

/*
 * Without GUEST_TSO4 (no tap offloads) the same packet reaches the guest
 * cut into MTU-sized frames, each with its checksums complete.
 */
TEST_F(offload, rx_gso4_segmented)
{
	struct virtio_net_hdr_mrg_rxbuf h, gso;
	unsigned int i = 0, nb;
	const char *diff;
	struct ol_tcp t;
	size_t len, n, off = 0;
	uint8_t *f;

	ol_start(_metadata, self, variant, F(VIRTIO_F_VERSION_1));
	ol_rx_buffers(_metadata, self, OL_RX_BUFS, 12 + 1514, 2048);
	f = malloc(OL_MAX_PACKET);
	ASSERT_NE(NULL, f);
	len = ol_tcp_frame(f, &t, false, self->rx_dst, ol_peer_mac,
			   OL_GSO_PAYLOAD, OL_TCP_ACK | OL_TCP_PSH);
	gso = ol_tcp_vnet_hdr(&t, true);
	ol_inject(_metadata, self, &gso.hdr, f, len);
	while (off < t.payload) {
		n = ol_rx(_metadata, self, &h, &nb);
		ASSERT_EQ(0, h.hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
			TH_LOG("frame %u: NEEDS_CSUM without GUEST_CSUM", i);
		ASSERT_EQ(VIRTIO_NET_HDR_GSO_NONE, h.hdr.gso_type)
			TH_LOG("frame %u: gso_type %u without GUEST_TSO4", i,
			       h.hdr.gso_type);
		ASSERT_GE(1514U, n) TH_LOG("frame %u: %zu bytes", i, n);
		diff = ol_segment_diff(&t, self->frame, n, i, off, OL_MSS(false));
		ASSERT_EQ(NULL, diff) TH_LOG("%s", diff);
		off += n - t.hlen;
		i++;
	}
	EXPECT_EQ((t.payload + OL_MSS(false) - 1) / OL_MSS(false), i);
	free(f);
}

KVNET_HARNESS_MAIN
