// SPDX-License-Identifier: GPL-2.0
/*
 * Zero-copy TX, and that it is safe to leave on.
 *
 * A packet keeps the guest's pages only while the host holds its skb
 * without copying it: the local stack and packet sockets copy on delivery.
 * So the tap here is bridged to a dummy device whose netem qdisc holds
 * every frame for ZC_HOLD_MS, and frames go to a static FDB entry behind
 * it (a unicast forward, never cloned). That is the case zero-copy is
 * for, a guest bridged to a NIC, with a slow NIC.
 *
 * kvnet only: vhost-net's zero-copy is off unless the module is loaded
 * with experimental_zcopytx=1, which a test cannot change.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_ether.h>

#include "kvnet_harness.h"
#include "kvnet_util.h"
#include "virtio_drv.h"

#define ZC_HOLD_MS	1500
#define ZC_PARAM	"/sys/module/kvnet/parameters/zerocopy_threshold"
#define ZC_THRESHOLD	1024
#define ZC_BIG		1400	/* sent without copying */
#define ZC_SMALL	100	/* copied */
#define ZC_SMALLS	8
#define ZC_ETHERTYPE	0x88b5

static const unsigned char zc_dst[ETH_ALEN] = { 2, 0, 0, 0, 0, 0x99 };
static const unsigned char zc_src[ETH_ALEN] = { 2, 0, 0, 0, 0, 0x01 };

FIXTURE(zerocopy) {
	struct vdrv drv;
	int tap;
	char tap_name[IFNAMSIZ];
	long long saved_threshold;
};

/* Run a shell command; fail the test with its output if it fails. */
#define zc_sh(...) do {							\
	char __out[1024];						\
	ASSERT_EQ(0, kvnet_run(__out, sizeof(__out), __VA_ARGS__))	\
		TH_LOG("%s", __out);					\
} while (0)

FIXTURE_SETUP(zerocopy)
{
	vdrv_init(&self->drv);
	self->tap = -1;
	self->saved_threshold = kvnet_read_ll(ZC_PARAM);
	if (self->saved_threshold < 0)
		KVNET_SKIP("%s: kvnet not loaded", ZC_PARAM);
	ASSERT_EQ(0, kvnet_write_ll(ZC_PARAM, ZC_THRESHOLD));
	/* Loaded here: the kernel's own modprobe may not see our root. */
	zc_sh("modprobe -a bridge dummy sch_netem");

	kvnet_enter_netns();
	vdrv_open(&self->drv, KVNET_DEV_PATH, 1ULL << VIRTIO_F_VERSION_1);
	self->tap = vdrv_tap_create(self->drv.hdr_len, self->tap_name);

	zc_sh("ip link add zcbr type bridge");
	zc_sh("ip link add zcdum type dummy");
	zc_sh("ip link set %s master zcbr", self->tap_name);
	zc_sh("ip link set zcdum master zcbr");
	zc_sh("tc qdisc add dev zcdum root netem delay %ums", ZC_HOLD_MS);
	zc_sh("bridge fdb add 02:00:00:00:00:99 dev zcdum master static");
	zc_sh("ip link set zcdum up");
	zc_sh("ip link set %s up", self->tap_name);
	zc_sh("ip link set zcbr up");
	kvnet_set_backend(self->drv.fd, VDRV_TX, self->tap);
}

FIXTURE_TEARDOWN(zerocopy)
{
	vdrv_close(&self->drv);
	if (self->tap >= 0)
		close(self->tap);
	if (self->saved_threshold >= 0)
		kvnet_write_ll(ZC_PARAM, self->saved_threshold);
}

/* Post one frame of @len bytes (header excluded) on TX; its head. */
static int zc_send(struct __test_metadata *_metadata, struct vdrv *d,
		   size_t len, void *token)
{
	struct vdrv_vq *tx = &d->vqs[VDRV_TX];
	unsigned char frame[2048] = { 0 };
	struct vdrv_sg sg;
	int head;

	memcpy(frame + d->hdr_len, zc_dst, ETH_ALEN);
	memcpy(frame + d->hdr_len + ETH_ALEN, zc_src, ETH_ALEN);
	frame[d->hdr_len + 12] = ZC_ETHERTYPE >> 8;
	frame[d->hdr_len + 13] = ZC_ETHERTYPE & 0xff;
	memset(frame + d->hdr_len + ETH_HLEN, 0x5a, len - ETH_HLEN);

	sg.len = d->hdr_len + len;
	sg.gpa = vdrv_alloc(d, sg.len, 64);
	ASSERT_NE(0ULL, sg.gpa) TH_LOG("guest RAM full");
	ASSERT_EQ(0, vdrv_write(d, sg.gpa, frame, sg.len));
	head = vdrv_add(tx, &sg, 1, 0, false, token);
	ASSERT_LE(0, head) TH_LOG("vdrv_add: %s", kvnet_errname(-head));
	ASSERT_EQ(0, vdrv_notify(tx));
	return head;
}

/* Take the used entries there are; count them, noting whether @big was. */
static unsigned int zc_reap(struct vdrv *d, void *big, bool *big_done)
{
	unsigned int n = 0;
	uint32_t len;
	void *token;

	while (vdrv_get_buf(&d->vqs[VDRV_TX], &token, &len) == 1) {
		if (token == big)
			*big_done = true;
		else
			n++;
	}
	return n;
}

/*
 * A large frame the host holds does not hold back the small ones sent
 * after it: they are on the used ring long before it is, and it arrives
 * as a true zero-copy once the host lets go.
 */
TEST_F_TIMEOUT(zerocopy, no_head_of_line_blocking, 60)
{
	struct kvnet_vring_stats st;
	static char big_token, small_token;
	bool big_done = false;
	unsigned int smalls = 0, i;
	uint64_t start;

	kvnet_get_stats(self->drv.fd, VDRV_TX, &st);
	ASSERT_EQ(0ULL, st.zerocopy_packets);

	start = kvnet_now_ms();
	zc_send(_metadata, &self->drv, ZC_BIG, &big_token);
	for (i = 0; i < ZC_SMALLS; i++)
		zc_send(_metadata, &self->drv, ZC_SMALL, &small_token);

	ASSERT_TRUE(kvnet_wait_until((smalls += zc_reap(&self->drv, &big_token,
						       &big_done)) == ZC_SMALLS,
				     ZC_HOLD_MS / 2))
		TH_LOG("%u of %u small frames used within %u ms", smalls,
		       ZC_SMALLS, ZC_HOLD_MS / 2);
	EXPECT_FALSE(big_done)
		TH_LOG("the large frame was used at once: it was copied");

	ASSERT_TRUE(kvnet_wait_until((zc_reap(&self->drv, &big_token, &big_done),
				      big_done), ZC_HOLD_MS + 5000))
		TH_LOG("the large frame never came back");
	EXPECT_LE(start + ZC_HOLD_MS * 9 / 10, kvnet_now_ms())
		TH_LOG("the large frame came back before the host let it go");

	kvnet_get_stats(self->drv.fd, VDRV_TX, &st);
	EXPECT_EQ(1ULL, st.zerocopy_packets)
		TH_LOG("zero-copy packets: %llu", st.zerocopy_packets);
	EXPECT_EQ(1ULL + ZC_SMALLS, st.packets);
}

/* Small frames are copied: nothing waits for the host. */
TEST_F(zerocopy, small_frames_copied)
{
	struct kvnet_vring_stats st;
	static char token;
	bool unused = false;
	unsigned int smalls = 0, i;

	for (i = 0; i < ZC_SMALLS; i++)
		zc_send(_metadata, &self->drv, ZC_THRESHOLD - 1, &token);
	ASSERT_TRUE(kvnet_wait_until((smalls += zc_reap(&self->drv, NULL,
						       &unused)) == ZC_SMALLS,
				     ZC_HOLD_MS / 2))
		TH_LOG("%u of %u frames below the threshold used at once",
		       smalls, ZC_SMALLS);
	kvnet_get_stats(self->drv.fd, VDRV_TX, &st);
	EXPECT_EQ(0ULL, st.zerocopy_packets);
}

/*
 * Stopping the queue with a frame in flight waits for the host to let go
 * and then puts it on the used ring, before GET_VRING_BASE returns: nothing
 * reaches the ring after the VMM took it back.
 */
TEST_F_TIMEOUT(zerocopy, stop_waits_for_the_host, 60)
{
	struct vhost_vring_state base = { VDRV_TX, 0 };
	static char big_token;
	bool big_done = false;
	uint16_t used;

	zc_send(_metadata, &self->drv, ZC_BIG, &big_token);
	kvnet_sleep_ms(100);
	EXPECT_EQ(0, vdrv_used_idx(&self->drv.vqs[VDRV_TX]))
		TH_LOG("used before the host let go");
	kvnet_ioctl(self->drv.fd, VHOST_GET_VRING_BASE, &base);
	used = vdrv_used_idx(&self->drv.vqs[VDRV_TX]);
	EXPECT_EQ(1, used) TH_LOG("GET_VRING_BASE returned with the frame out");
	EXPECT_EQ(1U, base.num);
	zc_reap(&self->drv, &big_token, &big_done);
	EXPECT_TRUE(big_done);
}

/* Closing with a frame in flight waits for it and leaks nothing. */
TEST_F_TIMEOUT(zerocopy, close_in_flight, 60)
{
	static char big_token;
	uint64_t start;

	zc_send(_metadata, &self->drv, ZC_BIG, &big_token);
	kvnet_sleep_ms(100);
	start = kvnet_now_ms();
	vdrv_close(&self->drv);
	EXPECT_GT(start + ZC_HOLD_MS + 5000, kvnet_now_ms())
		TH_LOG("close took %llu ms",
		       (unsigned long long)(kvnet_now_ms() - start));
	EXPECT_TRUE(kvnet_wait_until(kvnet_module_refcnt("kvnet") == 0, 5000))
		TH_LOG("refcnt %lld after close", kvnet_module_refcnt("kvnet"));
}

KVNET_HARNESS_MAIN
