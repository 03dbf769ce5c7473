// SPDX-License-Identifier: GPL-2.0
/*
 * Stress: a VMM process drives both queues at full rate while its other
 * thread detaches and reattaches the backend and replaces the memory
 * table with an equivalent one, and the host floods the tap and drains
 * it; then the VMM is SIGKILLed in the middle of it all. Every frame that
 * gets through, either way, must be whole and in order (frames may be
 * dropped: the host sends faster than the guest takes), and no queue may
 * sit idle with work for a second (a lost wakeup). Afterwards nothing
 * may be left: no worker, no module reference, no tap, no memory, slab or
 * file beyond the noise; and a fresh device still moves frames byte for
 * byte.
 *
 * /dev/kvnet for 20 s, /dev/vhost-net (the reference) for 10 s;
 * KVNET_STRESS_SECONDS sets both (run by hand, e.g. in make vm-shell).
 * Every wait is bounded.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>

#include "kvnet_harness.h"
#include "kvnet_util.h"
#include "virtio_drv.h"

#define ST_WAIT_MS		5000
#define ST_RELEASE_MS		10000
#define ST_SLOT			2048
#define ST_TX_WINDOW		128
#define ST_RX_BUFS		128
#define ST_MAX_FRAME		1514
/*
 * A queue with work that long without a used entry or a call has lost a
 * wakeup: far beyond the scheduling noise of the test VM (20 ms gaps are
 * common there, 500 ms never seen).
 */
#define ST_STALL_MS		1000
/*
 * More guest RAM, touched, in the memory table: were the device to keep
 * the VMM's memory after its death, this much would not come back.
 */
#define ST_BIG_GPA		0x200000000ULL
#define ST_BIG_SIZE		(128UL << 20)
#define ST_FEATURES		((1ULL << VIRTIO_F_VERSION_1) |		\
				 (1ULL << VIRTIO_RING_F_EVENT_IDX) |	\
				 (1ULL << VIRTIO_NET_F_MRG_RXBUF) |	\
				 (1ULL << VIRTIO_RING_F_INDIRECT_DESC))

static const uint8_t st_guest_mac[ETH_ALEN] = { 0x02, 'k', 'v', 'n', 'e', 1 };
static const uint8_t st_host_mac[ETH_ALEN] = { 0x02, 'k', 'v', 'n', 'e', 2 };

/* What the VMM process tells the test, in memory they share. */
struct st_shared {
	int ready;
	int failed;
	char tap_name[IFNAMSIZ];
	char error[256];
	/* Progress, each counted by one thread of the VMM. */
	uint64_t tx_used;
	uint64_t rx_frames;
	uint64_t rx_gaps;
	uint64_t detaches;
	uint64_t mem_tables;
	/* Times a queue sat idle with work for ST_STALL_MS, per queue. */
	uint64_t tx_stalls;
	uint64_t rx_stalls;
};

FIXTURE(stress) {
	struct st_shared *sh;
	pid_t vmm;
	int psock;
	int ssock;
	int ifindex;
	/* The host's sender thread. */
	pthread_t sender;
	bool sender_running;
	bool stop;		/* read and written with __atomic */
	uint32_t rx_sent;
};

FIXTURE_VARIANT(stress) {
	const char *path;
	const char *module;
	const char *worker;
	int seconds;
};

FIXTURE_VARIANT_ADD(stress, kvnet) {
	.path = KVNET_DEV_PATH,
	.module = "kvnet",
	.worker = "kvnet-",
	.seconds = 20,
};

FIXTURE_VARIANT_ADD(stress, vhost_net) {
	.path = VHOST_NET_DEV_PATH,
	.module = "vhost_net",
	.worker = "vhost-",
	/* Slower to tear down under TCG (RCU grace periods). */
	.seconds = 10,
};

/* As lifecycle_test: file-nr may be off by a per-CPU batch per CPU. */
static long long st_file_nr_slack(void)
{
	long long cpus = sysconf(_SC_NPROCESSORS_CONF);
	long long batch = 2 * cpus > 32 ? 2 * cpus : 32;

	return 2 * batch * cpus;
}

struct st_sample {
	long long avail_kb, sunreclaim_kb, files, refcnt;
};

static void st_sample(const char *module, struct st_sample *s)
{
	sync();
	kvnet_write_file("/proc/sys/vm/drop_caches", "3");
	kvnet_sleep_ms(200);
	s->avail_kb = kvnet_meminfo_kb("MemAvailable");
	s->sunreclaim_kb = kvnet_meminfo_kb("SUnreclaim");
	s->files = kvnet_file_nr();
	s->refcnt = kvnet_module_refcnt(module);
}

/* Packet sockets on tap @name: one that receives, one that sends. */
static int st_host_sockets(const char *name, int *psock, int *ssock)
{
	int rcvbuf = 8 << 20;

	*psock = __kvnet_packet_socket(name, VDRV_ETHERTYPE);
	if (*psock < 0)
		return *psock;
	if (setsockopt(*psock, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
		       sizeof(rcvbuf)))
		return -errno;
	*ssock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	return *ssock < 0 ? -errno : 0;
}

static ssize_t st_host_send(int ssock, int ifindex, uint32_t seq,
			    unsigned int len)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(VDRV_ETHERTYPE),
		.sll_ifindex = ifindex,
		.sll_halen = ETH_ALEN,
	};
	uint8_t f[ST_MAX_FRAME];

	memcpy(sll.sll_addr, st_guest_mac, ETH_ALEN);
	vdrv_frame(f, st_guest_mac, st_host_mac, seq, len);
	return sendto(ssock, f, len, MSG_DONTWAIT, (struct sockaddr *)&sll,
		      sizeof(sll));
}

static unsigned int st_rand(unsigned int *rng)
{
	*rng = *rng * 1103515245 + 12345;
	return *rng >> 8;
}

static unsigned int st_len(unsigned int *rng)
{
	return 60 + st_rand(rng) % (ST_MAX_FRAME - 60 + 1);
}

/* ---- the VMM: a driver that owns the device and drives its rings -------- */

struct st_vmm {
	struct vdrv drv;
	int tap;
	struct st_shared *sh;
	struct vhost_memory *tables[2];
	uint64_t tx_slots, rx_slots;
	bool tx_busy[ST_TX_WINDOW];
	uint32_t tx_seq;
	bool rx_seen;
	uint32_t rx_last;
	unsigned int rng;
};

/* The first error wins; the VMM goes on, the test reads it at the end. */
static void st_fail(struct st_shared *sh, const char *what)
{
	if (__atomic_exchange_n(&sh->failed, 1, __ATOMIC_SEQ_CST))
		return;
	snprintf(sh->error, sizeof(sh->error), "%s", what);
}

/* The other VMM thread: backends off and on, memory tables replaced. */
static void *st_chaos(void *arg)
{
	struct st_vmm *v = arg;
	unsigned int i, q, rng = 7;
	int r;

	for (i = 0;; i++) {
		q = i % VDRV_NUM_VQS;
		r = __kvnet_set_backend(v->drv.fd, q, -1);
		if (!r)
			r = __kvnet_set_backend(v->drv.fd, q, v->tap);
		if (r) {
			st_fail(v->sh, kvnet_fmt("VHOST_NET_SET_BACKEND on q%u: %s",
						 q, kvnet_errname(-r)));
			return NULL;
		}
		__atomic_add_fetch(&v->sh->detaches, 1, __ATOMIC_RELAXED);
		kvnet_sleep_ms(1 + st_rand(&rng) % 4);
		if (__kvnet_ioctl(v->drv.fd, VHOST_SET_MEM_TABLE,
				  v->tables[i % 2]) < 0) {
			st_fail(v->sh, kvnet_fmt("VHOST_SET_MEM_TABLE: %s",
						 kvnet_errname(errno)));
			return NULL;
		}
		__atomic_add_fetch(&v->sh->mem_tables, 1, __ATOMIC_RELAXED);
		kvnet_sleep_ms(1 + st_rand(&rng) % 4);
	}
	return NULL;
}

/*
 * The driver's guest memory and @big, in the driver's order of regions or
 * the reverse: the same memory either way.
 */
static struct vhost_memory *st_table(const struct vdrv *d,
				     const struct kvnet_guest_mem *big,
				     bool reversed)
{
	struct vhost_memory *t = kvnet_mem_table_alloc(d->nregions + 1);
	unsigned int i, k;

	if (!t)
		return NULL;
	for (i = 0; i < d->nregions; i++) {
		k = reversed ? d->nregions - 1 - i : i;
		kvnet_mem_table_set(t, i, d->regions[k].gpa, d->regions[k].size,
				    (uintptr_t)d->regions[k].hva);
	}
	kvnet_mem_table_set(t, reversed ? d->nregions : 0, big->gpa, big->size,
			    (uintptr_t)big->hva);
	if (!reversed)
		kvnet_mem_table_set(t, d->nregions, d->regions[0].gpa,
				    d->regions[0].size,
				    (uintptr_t)d->regions[0].hva);
	return t;
}

static bool st_tx(struct st_vmm *v)
{
	struct vdrv_vq *tx = &v->drv.vqs[VDRV_TX];
	struct virtio_net_hdr_mrg_rxbuf hdr = { 0 };
	uint8_t f[ST_MAX_FRAME];
	struct vdrv_layout l;
	bool progress = false;
	unsigned int s, len;
	uint32_t ulen;
	void *tok;
	int r;

	while ((r = vdrv_get_buf(tx, &tok, &ulen)) == 1) {
		v->tx_busy[(bool *)tok - v->tx_busy] = false;
		__atomic_add_fetch(&v->sh->tx_used, 1, __ATOMIC_RELAXED);
		progress = true;
	}
	if (r < 0)
		st_fail(v->sh, v->drv.error);
	for (;;) {
		s = v->tx_seq % ST_TX_WINDOW;
		if (v->tx_busy[s] || tx->num_free < 2)
			break;
		len = st_len(&v->rng);
		vdrv_frame(f, st_host_mac, st_guest_mac, v->tx_seq, len);
		l = (struct vdrv_layout) {
			.nseg = 2, .len = { v->drv.hdr_len, len },
			.indirect = v->tx_seq % 3 == 0,
		};
		r = vdrv_tx_post(tx, v->tx_slots + s * ST_SLOT, &hdr, f, len,
				 &l, &v->tx_busy[s]);
		if (r < 0) {
			st_fail(v->sh, kvnet_fmt("vdrv_tx_post: %s",
						 kvnet_errname(-r)));
			break;
		}
		v->tx_busy[s] = true;
		v->tx_seq++;
		progress = true;
	}
	vdrv_kick(tx);
	return progress;
}

static bool st_rx(struct st_vmm *v)
{
	struct vdrv_vq *rx = &v->drv.vqs[VDRV_RX];
	uint8_t buf[ST_SLOT];
	bool progress = false;
	struct vdrv_sg sg;
	const char *diff;
	uint32_t ulen, seq;
	void *tok;
	int r;

	while ((r = vdrv_get_buf(rx, &tok, &ulen)) == 1) {
		sg.gpa = (uint64_t)(uintptr_t)tok;
		sg.len = ST_SLOT;
		progress = true;
		if (ulen < v->drv.hdr_len || ulen > ST_SLOT ||
		    vdrv_read(&v->drv, sg.gpa, buf, ulen))
			diff = kvnet_fmt("a used length of %u", ulen);
		else
			diff = vdrv_frame_diff(buf + v->drv.hdr_len,
					       ulen - v->drv.hdr_len, &seq);
		if (diff) {
			st_fail(v->sh, kvnet_fmt("RX: %s", diff));
		} else if (v->rx_seen && seq <= v->rx_last) {
			st_fail(v->sh, kvnet_fmt("RX: frame %u after frame %u",
						 seq, v->rx_last));
		} else {
			if (v->rx_seen && seq != v->rx_last + 1)
				__atomic_add_fetch(&v->sh->rx_gaps, 1,
						   __ATOMIC_RELAXED);
			v->rx_seen = true;
			v->rx_last = seq;
			__atomic_add_fetch(&v->sh->rx_frames, 1,
					   __ATOMIC_RELAXED);
		}
		if (vdrv_add(rx, &sg, 0, 1, false, tok) < 0)
			st_fail(v->sh, "RX: no room to put a buffer back");
	}
	if (r < 0)
		st_fail(v->sh, v->drv.error);
	vdrv_kick(rx);
	return progress;
}

/* The VMM process: never returns; the test kills it. */
static void st_vmm(const char *path, struct st_shared *sh)
{
	struct st_vmm v = { .sh = sh, .rng = 1 };
	struct kvnet_guest_mem big;
	uint64_t idle_since = 0;
	struct pollfd pfd[2];
	const char *failed = "?";
	pthread_t chaos;
	struct vdrv_sg sg;
	unsigned int i;
	int r;

	r = __vdrv_open(&v.drv, path, ST_FEATURES, &failed);
	if (r) {
		st_fail(sh, kvnet_fmt("%s: %s failed: %s", path, failed,
				      kvnet_errname(-r)));
		_exit(1);
	}
	v.tap = __vdrv_tap_create(v.drv.hdr_len, sh->tap_name);
	if (v.tap < 0 || __kvnet_link_up(sh->tap_name) ||
	    __kvnet_set_backend(v.drv.fd, VDRV_RX, v.tap) ||
	    __kvnet_set_backend(v.drv.fd, VDRV_TX, v.tap)) {
		st_fail(sh, "the tap as backend");
		_exit(1);
	}
	if (__kvnet_guest_mem_alloc(&big, ST_BIG_GPA, ST_BIG_SIZE, true)) {
		st_fail(sh, "out of memory");
		_exit(1);
	}
	v.tables[0] = st_table(&v.drv, &big, false);
	v.tables[1] = st_table(&v.drv, &big, true);
	v.tx_slots = vdrv_alloc(&v.drv, ST_TX_WINDOW * ST_SLOT, 64);
	v.rx_slots = vdrv_alloc(&v.drv, ST_RX_BUFS * ST_SLOT, 64);
	if (!v.tables[0] || !v.tables[1] || !v.tx_slots || !v.rx_slots) {
		st_fail(sh, "out of memory");
		_exit(1);
	}
	if (__kvnet_ioctl(v.drv.fd, VHOST_SET_MEM_TABLE, v.tables[0]) < 0) {
		st_fail(sh, kvnet_fmt("VHOST_SET_MEM_TABLE: %s",
				      kvnet_errname(errno)));
		_exit(1);
	}
	for (i = 0; i < ST_RX_BUFS; i++) {
		sg = (struct vdrv_sg) { v.rx_slots + i * ST_SLOT, ST_SLOT };
		if (vdrv_add(&v.drv.vqs[VDRV_RX], &sg, 0, 1, false,
			     (void *)(uintptr_t)sg.gpa) < 0) {
			st_fail(sh, "RX buffers");
			_exit(1);
		}
	}
	vdrv_kick(&v.drv.vqs[VDRV_RX]);
	if (pthread_create(&chaos, NULL, st_chaos, &v)) {
		st_fail(sh, "pthread_create");
		_exit(1);
	}
	__atomic_store_n(&sh->ready, 1, __ATOMIC_RELEASE);

	pfd[0] = (struct pollfd) { .fd = v.drv.vqs[VDRV_TX].call, .events = POLLIN };
	pfd[1] = (struct pollfd) { .fd = v.drv.vqs[VDRV_RX].call, .events = POLLIN };
	for (;;) {
		bool progress = st_tx(&v);

		progress |= st_rx(&v);
		if (progress) {
			idle_since = 0;
			continue;
		}
		if (!idle_since)
			idle_since = kvnet_now_ms();
		/* Calls wanted from here on; entries may have come meanwhile. */
		if (!vdrv_enable_cb(&v.drv.vqs[VDRV_TX]) ||
		    !vdrv_enable_cb(&v.drv.vqs[VDRV_RX]))
			continue;
		if (poll(pfd, 2, 20) > 0) {
			vdrv_eventfd_wait(pfd[0].fd, 0);
			vdrv_eventfd_wait(pfd[1].fd, 0);
			continue;
		}
		if (kvnet_now_ms() - idle_since < ST_STALL_MS)
			continue;
		/*
		 * No used entry and no call for that long, with frames in
		 * flight and the host flooding the tap: a wakeup was lost.
		 * Count it, and kick both queues as a guest's watchdog would.
		 */
		if (v.drv.vqs[VDRV_TX].num_inflight)
			__atomic_add_fetch(&sh->tx_stalls, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&sh->rx_stalls, 1, __ATOMIC_RELAXED);
		vdrv_notify(&v.drv.vqs[VDRV_TX]);
		vdrv_notify(&v.drv.vqs[VDRV_RX]);
		idle_since = 0;
	}
}

/* ---- the host ------------------------------------------------------------- */

static void *st_sender(void *arg)
{
	FIXTURE_DATA(stress) *self = arg;
	unsigned int rng = 3;

	while (!__atomic_load_n(&self->stop, __ATOMIC_RELAXED)) {
		if (st_host_send(self->ssock, self->ifindex, self->rx_sent,
				 st_len(&rng)) < 0) {
			kvnet_sleep_ms(1);
			continue;
		}
		self->rx_sent++;
	}
	return NULL;
}

/*
 * A small byte-exact exchange on a fresh device: @n frames each way, one
 * at a time, each checked whole on the other side.
 */
static void st_exchange(struct __test_metadata *_metadata, const char *path,
			unsigned int n)
{
	struct virtio_net_hdr_mrg_rxbuf hdr = { 0 };
	uint8_t f[ST_MAX_FRAME + 64], got[ST_SLOT];
	char name[IFNAMSIZ];
	unsigned int i, len, rng = 5;
	int psock, ssock, tap, r;
	const char *diff;
	struct vdrv d;
	struct vdrv_sg sg;
	struct vdrv_layout l;
	uint64_t tx_gpa, rx_gpa;
	uint32_t seq, ulen;
	struct pollfd pfd;
	void *tok;
	ssize_t got_len;

	vdrv_open(&d, path, ST_FEATURES);
	tap = vdrv_tap_create(d.hdr_len, name);
	ASSERT_EQ(0, __kvnet_link_up(name));
	kvnet_set_backend(d.fd, VDRV_RX, tap);
	kvnet_set_backend(d.fd, VDRV_TX, tap);
	r = st_host_sockets(name, &psock, &ssock);
	ASSERT_EQ(0, r) TH_LOG("packet sockets on %s: %s", name,
			       kvnet_errname(-r));
	tx_gpa = vdrv_alloc(&d, ST_SLOT, 64);
	rx_gpa = vdrv_alloc(&d, ST_SLOT, 64);
	ASSERT_TRUE(tx_gpa && rx_gpa);

	for (i = 0; i < n; i++) {
		len = st_len(&rng);
		/* Guest to host. */
		vdrv_frame(f, st_host_mac, st_guest_mac, i, len);
		l = (struct vdrv_layout) { .nseg = 1,
					   .len = { d.hdr_len + len } };
		ASSERT_LE(0, vdrv_tx_post(&d.vqs[VDRV_TX], tx_gpa, &hdr, f,
					  len, &l, &d));
		ASSERT_EQ(0, vdrv_kick(&d.vqs[VDRV_TX]));
		pfd = (struct pollfd) { .fd = psock, .events = POLLIN };
		ASSERT_EQ(1, poll(&pfd, 1, ST_WAIT_MS))
			TH_LOG("fresh device: TX frame %u did not come out", i);
		got_len = recv(psock, got, sizeof(got), MSG_TRUNC);
		diff = vdrv_frame_diff(got, got_len, &seq);
		ASSERT_EQ(NULL, diff) TH_LOG("fresh device, TX: %s", diff);
		ASSERT_EQ(i, seq);
		ASSERT_EQ(0, memcmp(got, f, len));
		r = vdrv_wait_used(&d.vqs[VDRV_TX], ST_WAIT_MS);
		ASSERT_EQ(0, r) TH_LOG("fresh device: TX frame %u not used", i);
		ASSERT_EQ(1, vdrv_get_buf(&d.vqs[VDRV_TX], &tok, &ulen));

		/* Host to guest. */
		sg = (struct vdrv_sg) { rx_gpa, ST_SLOT };
		ASSERT_LE(0, vdrv_add(&d.vqs[VDRV_RX], &sg, 0, 1, false, &d));
		ASSERT_EQ(0, vdrv_kick(&d.vqs[VDRV_RX]));
		ASSERT_EQ((ssize_t)len, st_host_send(ssock,
						     if_nametoindex(name), i,
						     len));
		r = vdrv_wait_used(&d.vqs[VDRV_RX], ST_WAIT_MS);
		ASSERT_EQ(0, r) TH_LOG("fresh device: RX frame %u: %s", i,
				       r == -EPROTO ? d.error : "not received");
		ASSERT_EQ(1, vdrv_get_buf(&d.vqs[VDRV_RX], &tok, &ulen));
		ASSERT_EQ(d.hdr_len + len, ulen);
		ASSERT_EQ(0, vdrv_read(&d, rx_gpa, got, ulen));
		diff = vdrv_frame_diff(got + d.hdr_len, len, &seq);
		ASSERT_EQ(NULL, diff) TH_LOG("fresh device, RX: %s", diff);
		ASSERT_EQ(i, seq);
	}
	close(psock);
	close(ssock);
	vdrv_close(&d);
	close(tap);
}

FIXTURE_SETUP(stress)
{
	self->vmm = -1;
	self->psock = self->ssock = -1;
	self->sh = mmap(NULL, sizeof(*self->sh), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->sh);
	if (access(variant->path, F_OK))
		KVNET_SKIP("%s: %s (module not loaded?)", variant->path,
			   strerror(errno));
	kvnet_enter_netns();
	/* No IPv6 chatter on the taps. */
	kvnet_write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
}

FIXTURE_TEARDOWN(stress)
{
	__atomic_store_n(&self->stop, true, __ATOMIC_RELAXED);
	if (self->sender_running)
		pthread_join(self->sender, NULL);
	if (self->vmm > 0) {
		kill(self->vmm, SIGKILL);
		waitpid(self->vmm, NULL, 0);
	}
	if (self->psock >= 0)
		close(self->psock);
	if (self->ssock >= 0)
		close(self->ssock);
	munmap(self->sh, sizeof(*self->sh));
}

/* Frames out of the tap until @deadline: each whole, in order. */
static void st_drain(struct __test_metadata *_metadata,
		     FIXTURE_DATA(stress) *self, uint64_t deadline,
		     uint64_t *frames, uint64_t *gaps)
{
	struct pollfd pfd = { .fd = self->psock, .events = POLLIN };
	uint8_t buf[ST_SLOT];
	bool seen = false;
	uint32_t seq, last = 0;
	const char *diff;
	ssize_t n;

	while (kvnet_now_ms() < deadline) {
		n = recv(self->psock, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			ASSERT_EQ(EAGAIN, errno);
			poll(&pfd, 1, 50);
			continue;
		}
		diff = vdrv_frame_diff(buf, n, &seq);
		ASSERT_EQ(NULL, diff) TH_LOG("TX: %s", diff);
		ASSERT_TRUE(!seen || seq > last)
			TH_LOG("TX: frame %u after frame %u", seq, last);
		*gaps += seen && seq != last + 1;
		seen = true;
		last = seq;
		(*frames)++;
	}
}

TEST_F_TIMEOUT(stress, traffic_swaps_and_kill, 150)
{
	const char *s = getenv("KVNET_STRESS_SECONDS");
	int seconds = s && *s ? atoi(s) : variant->seconds;
	struct st_sample before, after;
	uint64_t tx_frames = 0, tx_gaps = 0, deadline;
	struct st_shared *sh = self->sh;
	const char *worker;
	char tap[IFNAMSIZ];
	int status, r;

	/* Warm up, and be sure a device works before blaming the stress. */
	st_exchange(_metadata, variant->path, 4);
	st_sample(variant->module, &before);

	self->vmm = fork();
	ASSERT_LE(0, self->vmm);
	if (!self->vmm)
		st_vmm(variant->path, sh);
	worker = kvnet_fmt("%s%d", variant->worker, self->vmm);
	ASSERT_TRUE(kvnet_wait_until(__atomic_load_n(&sh->ready, __ATOMIC_ACQUIRE) ||
				     sh->failed, ST_WAIT_MS))
		TH_LOG("the VMM did not come up");
	ASSERT_EQ(0, sh->failed) TH_LOG("VMM: %s", sh->error);
	memcpy(tap, sh->tap_name, IFNAMSIZ);
	tap[IFNAMSIZ - 1] = '\0';
	EXPECT_EQ(1, kvnet_count_comm(worker)) TH_LOG("worker %s", worker);

	r = st_host_sockets(tap, &self->psock, &self->ssock);
	ASSERT_EQ(0, r) TH_LOG("packet sockets on %s: %s", tap,
			       kvnet_errname(-r));
	self->ifindex = if_nametoindex(tap);
	ASSERT_EQ(0, pthread_create(&self->sender, NULL, st_sender, self));
	self->sender_running = true;

	TH_LOG("%s: %d s of traffic, backend swaps and memory tables",
	       variant->path, seconds);
	deadline = kvnet_now_ms() + seconds * 1000ULL;
	st_drain(_metadata, self, deadline, &tx_frames, &tx_gaps);

	/* Mid-traffic: the VMM dies with everything attached and running. */
	ASSERT_EQ(0, kill(self->vmm, SIGKILL));
	__atomic_store_n(&self->stop, true, __ATOMIC_RELAXED);
	pthread_join(self->sender, NULL);
	self->sender_running = false;
	close(self->psock);
	close(self->ssock);
	self->psock = self->ssock = -1;
	ASSERT_TRUE(kvnet_wait_until(waitpid(self->vmm, &status, WNOHANG) ==
				     self->vmm, 30000))
		TH_LOG("the killed VMM did not exit in 30 s (stuck in the device?)");
	self->vmm = -1;

	TH_LOG("TX %llu frames used, %llu out of the tap (%llu gaps); RX %llu sent, %llu received (%llu gaps); %llu backend swaps, %llu memory tables, stalls: %llu TX, %llu RX",
	       (unsigned long long)sh->tx_used, (unsigned long long)tx_frames,
	       (unsigned long long)tx_gaps, (unsigned long long)self->rx_sent,
	       (unsigned long long)sh->rx_frames,
	       (unsigned long long)sh->rx_gaps,
	       (unsigned long long)sh->detaches,
	       (unsigned long long)sh->mem_tables,
	       (unsigned long long)sh->tx_stalls,
	       (unsigned long long)sh->rx_stalls);
	EXPECT_EQ(0, sh->failed) TH_LOG("VMM: %s", sh->error);
	EXPECT_LT(100ULL, tx_frames) TH_LOG("TX hardly moved");
	EXPECT_LT(100ULL, sh->rx_frames) TH_LOG("RX hardly moved");
	EXPECT_LT(10ULL, sh->detaches) TH_LOG("too few backend swaps");
	EXPECT_LT(10ULL, sh->mem_tables) TH_LOG("too few memory tables");
	EXPECT_EQ(0ULL, sh->tx_stalls)
		TH_LOG("TX sat %d ms with frames in flight, no used entry and no call, %llu times: a lost wakeup",
		       ST_STALL_MS, (unsigned long long)sh->tx_stalls);
	EXPECT_EQ(0ULL, sh->rx_stalls)
		TH_LOG("RX sat %d ms with buffers and a flooded tap, no used entry and no call, %llu times: a lost wakeup",
		       ST_STALL_MS, (unsigned long long)sh->rx_stalls);

	/* Nothing of the VMM's device is left. */
	EXPECT_TRUE(kvnet_wait_until(!kvnet_count_comm(worker), ST_RELEASE_MS))
		TH_LOG("worker %s outlived the VMM", worker);
	EXPECT_TRUE(kvnet_wait_until(!if_nametoindex(tap), ST_RELEASE_MS))
		TH_LOG("tap %s outlived the VMM", tap);
	EXPECT_TRUE(kvnet_wait_until(kvnet_module_refcnt(variant->module) ==
				     before.refcnt, ST_RELEASE_MS))
		TH_LOG("%s refcnt %lld, was %lld", variant->module,
		       kvnet_module_refcnt(variant->module), before.refcnt);
	/*
	 * The VMM's touched guest memory is more than 128 MiB, its device
	 * holds more than 100 kB of slab. After such a run MemAvailable was
	 * seen up to 21 MiB off either way (the network stack's caches):
	 * allow 48 MiB, sampled again for a while if it is beyond, and
	 * 2 MiB of slab.
	 */
	st_sample(variant->module, &after);
	TH_LOG("MemAvailable %lld -> %lld kB, SUnreclaim %lld -> %lld kB, file-nr %lld -> %lld",
	       before.avail_kb, after.avail_kb, before.sunreclaim_kb,
	       after.sunreclaim_kb, before.files, after.files);
	EXPECT_LE(after.sunreclaim_kb, before.sunreclaim_kb + 2048)
		TH_LOG("unreclaimable slab grew by %lld kB",
		       after.sunreclaim_kb - before.sunreclaim_kb);
	EXPECT_TRUE(after.avail_kb >= before.avail_kb - 48 * 1024 ||
		    kvnet_wait_until((st_sample(variant->module, &after),
				      after.avail_kb >=
				      before.avail_kb - 48 * 1024),
				     ST_RELEASE_MS))
		TH_LOG("MemAvailable fell by %lld kB: the VMM's memory held?",
		       before.avail_kb - after.avail_kb);
	EXPECT_LE(after.files, before.files + st_file_nr_slack());

	/* And a new device works. */
	st_exchange(_metadata, variant->path, 16);
}

KVNET_HARNESS_MAIN
