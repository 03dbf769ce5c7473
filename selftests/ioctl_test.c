// SPDX-License-Identifier: GPL-2.0
/*
 * The ioctl surface of /dev/kvnet: every argument class with good values
 * and each bad value of the contract with its errno, and calls in the
 * wrong order.
 *
 * Each test runs against /dev/kvnet and against /dev/vhost-net, the
 * reference. Where the two differ, the variant carries each device's
 * expected errno, with a comment saying whether the contract marks the
 * difference as kvnet's own ([kvnet]) or only vhost-net does it differently
 * (a "spec gap": vhost-net 6.1 behaviour the contract does not describe,
 * see drivers/vhost/).
 */
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include "kvnet_harness.h"
#include "kvnet_util.h"

FIXTURE(ioctl) {
	struct kvnet_dev dev;
	/* Backends, created on demand in a private netns. */
	int tap;
	char tap_name[IFNAMSIZ];
	struct kvnet_macvtap macvtap;
};

FIXTURE_VARIANT(ioctl) {
	const char *path;
	const char *param_module;	/* has parameters/max_mem_regions */
	bool kvnet;			/* kvnet's own ioctls exist */
	/* Expected errno (0: success) where the devices differ. */
	int mem_padding;
	int mem_flags_padding;
	int mem_zero_size;
	int mem_gpa_overflow;
	int mem_bad_uaddr_idle;
	int mem_overlap;
	int addr_log_flag;
	int addr_desc_misaligned;
	int addr_not_user_idle;
	int addr_running;
	int endian;		/* whole ioctl unsupported: ENOTTY */
	int log_ioctls;
	int backend_before_addr;
	int backend_bad_fd;
	int backend_tun;
	int backend_packet_socket;
	int ring_change_stopped;
	int format_change_consumed;
};

FIXTURE_VARIANT_ADD(ioctl, kvnet) {
	.path = KVNET_DEV_PATH,
	.param_module = "kvnet",
	.kvnet = true,
	.mem_padding = EINVAL,
	.mem_flags_padding = EINVAL,
	.mem_zero_size = EINVAL,
	.mem_gpa_overflow = EINVAL,
	.mem_bad_uaddr_idle = EFAULT,
	.mem_overlap = EINVAL,
	.addr_log_flag = EOPNOTSUPP,
	.addr_desc_misaligned = EINVAL,
	.addr_not_user_idle = EFAULT,
	.addr_running = EBUSY,
	.endian = 0,
	.log_ioctls = EOPNOTSUPP,
	.backend_before_addr = EINVAL,
	.backend_bad_fd = EBADF,
	/*
	 * The exported tun helper cannot tell IFF_TUN from IFF_TAP: kvnet
	 * takes any tun file, as vhost-net does.
	 */
	.backend_tun = 0,
	.backend_packet_socket = ENOTSOCK,
	.ring_change_stopped = 0,
	.format_change_consumed = EBUSY,
};

FIXTURE_VARIANT_ADD(ioctl, vhost_net) {
	.path = VHOST_NET_DEV_PATH,
	.param_module = "vhost",
	.kvnet = false,
	/* [kvnet] padding non-zero: vhost says EOPNOTSUPP (vhost.c:1473). */
	.mem_padding = EOPNOTSUPP,
	/* [kvnet] vhost never looks at a region's flags_padding. */
	.mem_flags_padding = 0,
	/* Spec gap: vhost's iotlb refuses last < start with EFAULT. */
	.mem_zero_size = EFAULT,
	.mem_gpa_overflow = EFAULT,
	/* Spec gap: vhost checks user ranges only while a queue has a backend. */
	.mem_bad_uaddr_idle = 0,
	/* Spec gap: vhost's interval tree takes overlapping regions. */
	.mem_overlap = 0,
	/* vhost offers dirty logging, so VHOST_VRING_F_LOG is accepted. */
	.addr_log_flag = 0,
	/* Spec gap: vhost checks the alignment of avail and used only. */
	.addr_desc_misaligned = 0,
	/* Spec gap: vhost checks ring ranges when a backend is attached. */
	.addr_not_user_idle = 0,
	/* Spec gap: vhost lets a running ring move (for dirty logging). */
	.addr_running = 0,
	/* [kvnet] no CONFIG_VHOST_CROSS_ENDIAN_LEGACY in Debian's 6.1. */
	.endian = ENOTTY,
	/* vhost offers VHOST_F_LOG_ALL. */
	.log_ioctls = 0,
	/*
	 * [kvnet] vhost takes a NULL ring as a user address and fails
	 * writing its used flags.
	 */
	.backend_before_addr = EFAULT,
	/* Spec gap: vhost's get_socket() maps every failure to ENOTSOCK. */
	.backend_bad_fd = ENOTSOCK,
	/* vhost takes any tun file and raw packet sockets as backends. */
	.backend_tun = 0,
	.backend_packet_socket = 0,
	/* Spec gap: vhost's GET_VRING_BASE does not stop the queue. */
	.ring_change_stopped = EBUSY,
	/* [kvnet] vhost applies any feature change at any time. */
	.format_change_consumed = 0,
};

/* Offloads a backend with IFF_VNET_HDR takes from the guest's header. */
static const uint64_t offloads = (1ULL << VIRTIO_NET_F_CSUM) |
				 (1ULL << VIRTIO_NET_F_GUEST_CSUM) |
				 (1ULL << VIRTIO_NET_F_GUEST_TSO4) |
				 (1ULL << VIRTIO_NET_F_GUEST_TSO6) |
				 (1ULL << VIRTIO_NET_F_GUEST_ECN) |
				 (1ULL << VIRTIO_NET_F_HOST_TSO4) |
				 (1ULL << VIRTIO_NET_F_HOST_TSO6) |
				 (1ULL << VIRTIO_NET_F_HOST_ECN);

/* Features that change how a ring's buffers are read (the contract's list). */
static const unsigned int format_features[] = {
	VIRTIO_F_VERSION_1,
	VIRTIO_RING_F_EVENT_IDX,
	VIRTIO_NET_F_MRG_RXBUF,
	VHOST_NET_F_VIRTIO_NET_HDR,
};

FIXTURE_SETUP(ioctl)
{
	self->tap = -1;
	self->macvtap.fd = -1;
	kvnet_dev_open(&self->dev, variant->path);
}

FIXTURE_TEARDOWN(ioctl)
{
	kvnet_dev_close(&self->dev);
	if (self->tap >= 0)
		close(self->tap);
	kvnet_macvtap_destroy(&self->macvtap);
}

/* SET_OWNER and a memory table over the fixture's guest memory. */
static void own(struct __test_metadata *_metadata, FIXTURE_DATA(ioctl) *self)
{
	kvnet_dev_own(&self->dev);
}

/* Owned, both rings configured, with kick and call eventfds. */
static void own_with_rings(struct __test_metadata *_metadata,
			   FIXTURE_DATA(ioctl) *self)
{
	own(_metadata, self);
	kvnet_dev_setup_ring(&self->dev, 0);
	kvnet_dev_setup_ring(&self->dev, 1);
}

/* A tap for backends, in a private network namespace. */
static int tap(struct __test_metadata *_metadata, FIXTURE_DATA(ioctl) *self)
{
	if (self->tap < 0) {
		kvnet_enter_netns();
		self->tap = kvnet_tap_create(self->tap_name);
	}
	return self->tap;
}

/* own_with_rings() and a tap on both queues: both queues run. */
static void start(struct __test_metadata *_metadata, FIXTURE_DATA(ioctl) *self)
{
	own_with_rings(_metadata, self);
	kvnet_set_backend(self->dev.fd, 0, tap(_metadata, self));
	kvnet_set_backend(self->dev.fd, 1, tap(_metadata, self));
}

static uint64_t get_features(struct __test_metadata *_metadata,
			     FIXTURE_DATA(ioctl) *self)
{
	uint64_t features;

	kvnet_ioctl(self->dev.fd, VHOST_GET_FEATURES, &features);
	return features;
}

/* ---- ownership and unknown commands ----------------------------------- */

TEST_F(ioctl, unknown_ioctl)
{
	/* vring ioctls start with an index: give one, so only cmd is wrong. */
	struct vhost_vring_state s = { 0, 0 };
	struct kvnet_vring_stats stats = { 0 };

	own(_metadata, self);
	EXPECT_IOCTL_ERRNO(ENOTTY, self->dev.fd,
			   _IOWR(VHOST_VIRTIO, 0x7f, struct vhost_vring_state),
			   &s);
	EXPECT_IOCTL_ERRNO(ENOTTY, self->dev.fd,
			   _IOW('x', 0x01, struct vhost_vring_state), &s);
	/* vhost-net: kvnet's own magic must not reach any vhost ioctl. */
	if (!variant->kvnet)
		EXPECT_IOCTL_ERRNO(ENOTTY, self->dev.fd,
				   KVNET_GET_VRING_STATS, &stats);
}

TEST_F(ioctl, before_owner_eperm)
{
	struct kvnet_call calls[KVNET_MAX_CALLS];
	struct kvnet_valid_args args;
	unsigned int i, n;
	int efd = kvnet_eventfd();

	n = kvnet_valid_calls(&self->dev, efd, &args, calls);
	for (i = 0; i < n; i++) {
		int err;

		if (calls[i].flags & KVNET_CALL_NO_OWNER)
			continue;	/* before_owner_allowed */
		err = kvnet_call_errno(&calls[i], self->dev.fd);
		EXPECT_EQ(EPERM, err)
			TH_LOG("%s before SET_OWNER: expected EPERM, got %s",
			       calls[i].name, kvnet_errname(err));
	}

	/* The refusals were about the owner: once owned, none is EPERM. */
	kvnet_ioctl_noarg(self->dev.fd, VHOST_SET_OWNER);
	for (i = 0; i < n; i++) {
		int err;

		if (calls[i].flags & KVNET_CALL_OWNERSHIP)
			continue;
		err = kvnet_call_errno(&calls[i], self->dev.fd);
		EXPECT_NE(EPERM, err) TH_LOG("%s by the owner: EPERM",
					     calls[i].name);
	}
	kvnet_valid_calls_free(&args);
	close(efd);
}

TEST_F(ioctl, before_owner_allowed)
{
	uint64_t features, backend_features, zero = 0;

	EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_GET_FEATURES, &features);
	EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_SET_FEATURES, &zero);
	/* Offloads exclude VHOST_NET_F_VIRTIO_NET_HDR (bit 27). */
	if (features & offloads)
		features &= ~(1ULL << VHOST_NET_F_VIRTIO_NET_HDR);
	EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_SET_FEATURES, &features,
			   "features=%#llx", (unsigned long long)features);
	EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_GET_BACKEND_FEATURES,
			   &backend_features);
	EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_SET_BACKEND_FEATURES, &zero);
	EXPECT_IOCTL_NOARG_ERRNO(0, self->dev.fd, VHOST_SET_OWNER);
}

TEST_F(ioctl, set_owner_twice)
{
	struct vhost_memory *t = kvnet_mem_table_of(&self->dev.mem);

	kvnet_ioctl_noarg(self->dev.fd, VHOST_SET_OWNER);
	EXPECT_IOCTL_NOARG_ERRNO(EBUSY, self->dev.fd, VHOST_SET_OWNER);
	/* Still the owner: owner-only ioctls work. */
	EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_SET_MEM_TABLE, t);
	EXPECT_IOCTL_NOARG_ERRNO(EBUSY, self->dev.fd, VHOST_SET_OWNER,
				 "after SET_MEM_TABLE");
	free(t);
}

/* ---- features ---------------------------------------------------------- */

TEST_F(ioctl, features)
{
	uint64_t features = get_features(_metadata, self), again, bit, all;
	unsigned int b;

	kvnet_ioctl(self->dev.fd, VHOST_GET_FEATURES, &again);
	EXPECT_EQ(features, again) TH_LOG("GET_FEATURES is not stable");
	if (variant->kvnet) {
		EXPECT_EQ(0ULL, features & (1ULL << VHOST_F_LOG_ALL))
			TH_LOG("kvnet offers VHOST_F_LOG_ALL but has no dirty log");
		EXPECT_EQ(0ULL, features & (1ULL << VIRTIO_F_ACCESS_PLATFORM))
			TH_LOG("kvnet offers ACCESS_PLATFORM but has no IOTLB");
		EXPECT_EQ(offloads, features & offloads)
			TH_LOG("kvnet passes every offload through the header");
	}
	all = features;
	if (all & offloads) {
		/* kvnet: offloads need the header to reach the backend. */
		EXPECT_IOCTL_ERRNO(EINVAL, self->dev.fd, VHOST_SET_FEATURES,
				   &all, "offloads with VIRTIO_NET_HDR");
		all &= ~(1ULL << VHOST_NET_F_VIRTIO_NET_HDR);
	}
	EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_SET_FEATURES, &all,
			   "all offered %#llx", (unsigned long long)all);
	for (b = 0; b < 64; b++) {
		bit = 1ULL << b;
		if (features & bit) {
			EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_SET_FEATURES,
					   &bit, "offered bit %u", b);
			continue;
		}
		EXPECT_IOCTL_ERRNO(EOPNOTSUPP, self->dev.fd,
				   VHOST_SET_FEATURES, &bit, "bit %u", b);
		/* One unknown bit spoils an otherwise good set. */
		bit |= all;
		EXPECT_IOCTL_ERRNO(EOPNOTSUPP, self->dev.fd,
				   VHOST_SET_FEATURES, &bit,
				   "offered + bit %u", b);
	}
}

TEST_F(ioctl, backend_features)
{
	uint64_t offered, bit, zero = 0;
	unsigned int b;

	kvnet_ioctl(self->dev.fd, VHOST_GET_BACKEND_FEATURES, &offered);
	if (variant->kvnet)
		EXPECT_EQ(0ULL, offered) TH_LOG("kvnet has no IOTLB: no backend features");
	EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_SET_BACKEND_FEATURES, &zero);
	EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_SET_BACKEND_FEATURES,
			   &offered);
	for (b = 0; b < 64; b++) {
		bit = 1ULL << b;
		if (offered & bit)
			continue;
		EXPECT_IOCTL_ERRNO(EOPNOTSUPP, self->dev.fd,
				   VHOST_SET_BACKEND_FEATURES, &bit,
				   "bit %u", b);
	}
}

/* ---- memory table ------------------------------------------------------ */

static int set_mem(int fd, struct vhost_memory *table)
{
	return kvnet_ioctl_errno(fd, VHOST_SET_MEM_TABLE, table);
}

/*
 * A table of @n regions, region i = page i of the fixture's memory at gpa
 * 1 MiB * i: distinct, valid, non-overlapping.
 */
static struct vhost_memory *pages_table(FIXTURE_DATA(ioctl) *self,
					unsigned int n)
{
	struct vhost_memory *t = kvnet_mem_table_alloc(n);
	unsigned int i;

	for (i = 0; t && i < n; i++)
		kvnet_mem_table_set(t, i, (uint64_t)i << 20, KVNET_PAGE_SIZE,
				    (uintptr_t)self->dev.mem.hva +
				    (i % (KVNET_DEV_MEM_SIZE / KVNET_PAGE_SIZE)) *
				    KVNET_PAGE_SIZE);
	return t;
}

static long long max_mem_regions(struct __test_metadata *_metadata,
				 const FIXTURE_VARIANT(ioctl) *variant)
{
	char path[128];
	long long max;

	snprintf(path, sizeof(path), "/sys/module/%s/parameters/max_mem_regions",
		 variant->param_module);
	max = kvnet_read_ll(path);
	ASSERT_LT(0, max) TH_LOG("%s: %s", path, kvnet_errname(-max));
	return max;
}

TEST_F(ioctl, mem_table_valid)
{
	long long max = max_mem_regions(_metadata, variant);
	struct vhost_memory *t;

	kvnet_ioctl_noarg(self->dev.fd, VHOST_SET_OWNER);
	t = kvnet_mem_table_alloc(0);
	EXPECT_EQ(0, set_mem(self->dev.fd, t)) TH_LOG("nregions 0");
	free(t);

	t = kvnet_mem_table_of(&self->dev.mem);
	EXPECT_EQ(0, set_mem(self->dev.fd, t)) TH_LOG("one region");
	free(t);

	t = pages_table(self, max);
	ASSERT_NE(NULL, t);
	EXPECT_EQ(0, set_mem(self->dev.fd, t))
		TH_LOG("max_mem_regions = %lld regions", max);
	free(t);

	/* Adjacent regions, last first: touching is not overlapping. */
	t = kvnet_mem_table_alloc(2);
	kvnet_mem_table_set(t, 0, 0x2000, 0x1000, (uintptr_t)self->dev.mem.hva);
	kvnet_mem_table_set(t, 1, 0x1000, 0x1000,
			    (uintptr_t)self->dev.mem.hva + 0x1000);
	EXPECT_EQ(0, set_mem(self->dev.fd, t)) TH_LOG("adjacent regions");

	/* A region that ends exactly at the top of the guest address space. */
	kvnet_mem_table_set(t, 1, UINT64_MAX - 0xfff, 0x1000,
			    (uintptr_t)self->dev.mem.hva + 0x1000);
	EXPECT_EQ(0, set_mem(self->dev.fd, t)) TH_LOG("region ending at 2^64-1");
	free(t);
}

TEST_F(ioctl, mem_table_e2big)
{
	long long max = max_mem_regions(_metadata, variant);
	struct vhost_memory *t;

	kvnet_ioctl_noarg(self->dev.fd, VHOST_SET_OWNER);
	t = pages_table(self, max + 1);
	ASSERT_NE(NULL, t);
	EXPECT_EQ(E2BIG, set_mem(self->dev.fd, t))
		TH_LOG("max_mem_regions + 1 = %lld regions", max + 1);
	free(t);

	/* Refused on the count alone, before any region is read. */
	t = kvnet_mem_table_alloc(0);
	t->nregions = UINT32_MAX;
	EXPECT_EQ(E2BIG, set_mem(self->dev.fd, t)) TH_LOG("nregions 2^32-1");
	free(t);
}

TEST_F(ioctl, mem_table_padding)
{
	struct vhost_memory *t = kvnet_mem_table_of(&self->dev.mem);

	kvnet_ioctl_noarg(self->dev.fd, VHOST_SET_OWNER);
	t->padding = 1;
	EXPECT_EQ(variant->mem_padding, set_mem(self->dev.fd, t))
		TH_LOG("padding 1: expected %s", kvnet_errname(variant->mem_padding));
	t->padding = 0;
	t->regions[0].flags_padding = 1ULL << 63;
	EXPECT_EQ(variant->mem_flags_padding, set_mem(self->dev.fd, t))
		TH_LOG("flags_padding: expected %s",
		       kvnet_errname(variant->mem_flags_padding));
	free(t);
}

TEST_F(ioctl, mem_table_zero_size)
{
	struct vhost_memory *t = kvnet_mem_table_of(&self->dev.mem);

	kvnet_ioctl_noarg(self->dev.fd, VHOST_SET_OWNER);
	/* Not at gpa 0: vhost reads size 0 at gpa 0 as all of [0, 2^64). */
	t->regions[0].guest_phys_addr = 0x100000;
	t->regions[0].memory_size = 0;
	EXPECT_EQ(variant->mem_zero_size, set_mem(self->dev.fd, t))
		TH_LOG("memory_size 0: expected %s",
		       kvnet_errname(variant->mem_zero_size));
	free(t);
}

TEST_F(ioctl, mem_table_gpa_overflow)
{
	struct vhost_memory *t = kvnet_mem_table_of(&self->dev.mem);

	kvnet_ioctl_noarg(self->dev.fd, VHOST_SET_OWNER);
	t->regions[0].guest_phys_addr = UINT64_MAX - 0xfff;
	t->regions[0].memory_size = 0x2000;
	EXPECT_EQ(variant->mem_gpa_overflow, set_mem(self->dev.fd, t))
		TH_LOG("gpa 2^64-4096 + 8192: expected %s",
		       kvnet_errname(variant->mem_gpa_overflow));
	t->regions[0].guest_phys_addr = 2;
	t->regions[0].memory_size = UINT64_MAX;
	EXPECT_EQ(variant->mem_gpa_overflow, set_mem(self->dev.fd, t))
		TH_LOG("gpa 2 + 2^64-1: expected %s",
		       kvnet_errname(variant->mem_gpa_overflow));
	free(t);
}

/* User ranges that wrap, cross the end of user space, or are the kernel's. */
static void check_bad_uaddrs(struct __test_metadata *_metadata,
			     FIXTURE_DATA(ioctl) *self, int expected,
			     const char *when)
{
	uint64_t limit = kvnet_user_addr_limit();
	struct {
		uint64_t uaddr, size;
	} bad[] = {
		{ UINT64_MAX - 0xfff, 0x2000 },		/* wraps */
		{ limit - 0x1000, 0x2000 },		/* crosses TASK_SIZE */
		{ KVNET_KERNEL_ADDR, 0x1000 },		/* kernel */
		{ 0x1000, UINT64_MAX - 0xfff },		/* huge */
	};
	struct vhost_memory *t = kvnet_mem_table_alloc(1);
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		kvnet_mem_table_set(t, 0, 0, bad[i].size, bad[i].uaddr);
		EXPECT_EQ(expected, set_mem(self->dev.fd, t))
			TH_LOG("%s: uaddr %#llx size %#llx: expected %s", when,
			       (unsigned long long)bad[i].uaddr,
			       (unsigned long long)bad[i].size,
			       kvnet_errname(expected));
	}
	/* The last page below the limit is fine. */
	kvnet_mem_table_set(t, 0, 0, 0x1000, limit - 0x1000);
	EXPECT_EQ(0, set_mem(self->dev.fd, t))
		TH_LOG("%s: the last user page %#llx", when,
		       (unsigned long long)(limit - 0x1000));
	free(t);
}

TEST_F(ioctl, mem_table_bad_uaddr)
{
	own_with_rings(_metadata, self);
	check_bad_uaddrs(_metadata, self, variant->mem_bad_uaddr_idle, "idle");
	/* With queues running both devices check the new table. */
	kvnet_set_backend(self->dev.fd, 0, tap(_metadata, self));
	kvnet_set_backend(self->dev.fd, 1, self->tap);
	check_bad_uaddrs(_metadata, self, EFAULT, "running");
}

TEST_F(ioctl, mem_table_overlap)
{
	struct {
		uint64_t gpa0, size0, gpa1, size1;
	} cases[] = {
		{ 0x0000, 0x2000, 0x1000, 0x2000 },	/* tail overlaps head */
		{ 0x1000, 0x2000, 0x0000, 0x2000 },	/* same, listed backwards */
		{ 0x1000, 0x1000, 0x1000, 0x1000 },	/* identical */
		{ 0x0000, 0x4000, 0x1000, 0x1000 },	/* contained */
	};
	struct vhost_memory *t = kvnet_mem_table_alloc(2);
	uint64_t hva = (uintptr_t)self->dev.mem.hva;
	unsigned int i;

	kvnet_ioctl_noarg(self->dev.fd, VHOST_SET_OWNER);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t size0 = cases[i].size0;

		/* Valid user ranges: only the guest ranges are wrong. */
		kvnet_mem_table_set(t, 0, cases[i].gpa0, size0, hva);
		kvnet_mem_table_set(t, 1, cases[i].gpa1, cases[i].size1, hva);
		EXPECT_EQ(variant->mem_overlap, set_mem(self->dev.fd, t))
			TH_LOG("[%#llx +%#llx] and [%#llx +%#llx]: expected %s",
			       (unsigned long long)cases[i].gpa0,
			       (unsigned long long)size0,
			       (unsigned long long)cases[i].gpa1,
			       (unsigned long long)cases[i].size1,
			       kvnet_errname(variant->mem_overlap));
	}
	free(t);
}

/* Two pages: the first read-write, the second PROT_NONE. */
static char *guard_pages(struct __test_metadata *_metadata)
{
	char *p = mmap(NULL, 2 * KVNET_PAGE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, mprotect(p + KVNET_PAGE_SIZE, KVNET_PAGE_SIZE, PROT_NONE));
	return p;
}

TEST_F(ioctl, mem_table_bad_pointer)
{
	char *pages = guard_pages(_metadata);
	struct vhost_memory *hdr;

	kvnet_ioctl_noarg(self->dev.fd, VHOST_SET_OWNER);
	EXPECT_EQ(EFAULT, ioctl(self->dev.fd, VHOST_SET_MEM_TABLE, NULL) ? errno : 0);
	EXPECT_EQ(EFAULT, ioctl(self->dev.fd, VHOST_SET_MEM_TABLE,
				pages + KVNET_PAGE_SIZE) ? errno : 0);
	EXPECT_EQ(EFAULT, ioctl(self->dev.fd, VHOST_SET_MEM_TABLE,
				(void *)KVNET_KERNEL_ADDR) ? errno : 0);
	/* A good header whose region lies in the PROT_NONE page. */
	hdr = (void *)(pages + KVNET_PAGE_SIZE - sizeof(*hdr));
	hdr->nregions = 1;
	hdr->padding = 0;
	EXPECT_EQ(EFAULT, set_mem(self->dev.fd, hdr)) TH_LOG("regions unreadable");
	munmap(pages, 2 * KVNET_PAGE_SIZE);
}

/* ---- a refused table leaves the old one in force ---------------------- */

#define TX_ETHERTYPE	0x88b5		/* IEEE 802 local experimental */
#define TX_FRAME_LEN	64
#define TX_BUF_GPA	0x20000ULL	/* in the fixture's guest memory */

/* Write, at @hva, a virtio-net header and a frame whose payload is @fill. */
static void put_tx_frame(void *hva, unsigned char fill)
{
	static const unsigned char eth[ETH_HLEN] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff,	/* broadcast */
		0x02, 0x00, 0x00, 0x00, 0x00, 0x01,	/* local */
		TX_ETHERTYPE >> 8, TX_ETHERTYPE & 0xff,
	};
	unsigned char *p = hva;

	/* No features acked: the 10-byte header, no offloads. */
	memset(p, 0, sizeof(struct virtio_net_hdr));
	p += sizeof(struct virtio_net_hdr);
	memcpy(p, eth, ETH_HLEN);
	memset(p + ETH_HLEN, fill, TX_FRAME_LEN - ETH_HLEN);
}

/* Make the chain at TX_BUF_GPA available on the TX queue and kick it. */
static void tx_post(struct __test_metadata *_metadata, FIXTURE_DATA(ioctl) *self)
{
	kvnet_ring_add(&self->dev.rings[KVNET_VQ_TX], TX_BUF_GPA,
		       sizeof(struct virtio_net_hdr) + TX_FRAME_LEN, false);
	ASSERT_EQ(0, kvnet_eventfd_signal(self->dev.kick[KVNET_VQ_TX]));
}

/* Wait for the TX used index to pass @used; the payload byte of the frame. */
static int tx_receive(struct __test_metadata *_metadata,
		      FIXTURE_DATA(ioctl) *self, int psock, uint16_t used)
{
	struct kvnet_ring *tx = &self->dev.rings[KVNET_VQ_TX];
	struct pollfd pfd = { .fd = psock, .events = POLLIN };
	unsigned char frame[2048];
	ssize_t n;

	ASSERT_TRUE(kvnet_wait_until(kvnet_ring_used_idx(tx) != used, 5000))
		TH_LOG("the TX buffer was never used");
	ASSERT_EQ(1, poll(&pfd, 1, 5000)) TH_LOG("no frame came out of the tap");
	n = recv(psock, frame, sizeof(frame), 0);
	ASSERT_EQ(TX_FRAME_LEN, n) TH_LOG("frame of %zd bytes", n);
	return frame[ETH_HLEN];
}

/* One frame through TX; the payload byte that came out of the tap. */
static int tx_frame(struct __test_metadata *_metadata,
		    FIXTURE_DATA(ioctl) *self, int psock)
{
	uint16_t used = kvnet_ring_used_idx(&self->dev.rings[KVNET_VQ_TX]);

	tx_post(_metadata, self);
	return tx_receive(_metadata, self, psock, used);
}

/*
 * A running TX queue on the fixture's tap, which is up, and a socket that
 * sees what the TX queue sends: its fd. The buffer at TX_BUF_GPA holds a
 * frame with payload @fill.
 */
static int start_tx(struct __test_metadata *_metadata,
		    FIXTURE_DATA(ioctl) *self, unsigned char fill)
{
	uint64_t no_features = 0;

	put_tx_frame(kvnet_gpa_to_hva(&self->dev.mem, TX_BUF_GPA), fill);
	/* vhost-net learns the header length only from SET_FEATURES. */
	kvnet_ioctl(self->dev.fd, VHOST_SET_FEATURES, &no_features);
	own_with_rings(_metadata, self);
	kvnet_set_backend(self->dev.fd, KVNET_VQ_TX, tap(_metadata, self));
	ASSERT_EQ(0, __kvnet_link_up(self->tap_name));
	return kvnet_check(__kvnet_packet_socket(self->tap_name, TX_ETHERTYPE));
}

/*
 * A refused table leaves the old one in force: TX reads its buffer through
 * the table, so after each refused table (whose first region would map
 * the buffer to other memory) the frame must still come from the old one.
 * A good table swapped in while the queue runs does take over.
 */
TEST_F(ioctl, mem_table_failed_keeps_old)
{
	struct kvnet_guest_mem other;
	struct vhost_memory *t, *good, *big;
	uint64_t hva = (uintptr_t)self->dev.mem.hva, ohva;
	long long max = max_mem_regions(_metadata, variant);
	int psock, i;
	struct {
		const char *what;
		uint64_t gpa, size, uaddr, flags_padding;
		uint32_t padding;
		int expected;
	} bad[] = {
		{ "user range in the kernel", 1ULL << 40, 0x1000,
		  KVNET_KERNEL_ADDR, 0, 0, EFAULT },
		{ "header padding", 1ULL << 40, 0x1000, 0, 0, 1,
		  variant->mem_padding },
		{ "flags_padding", 1ULL << 40, 0x1000, 0, 1, 0,
		  variant->mem_flags_padding },
		{ "empty region", 1ULL << 40, 0, 0, 0, 0,
		  variant->mem_zero_size },
		{ "guest range wraps", UINT64_MAX - 0xfff, 0x2000, 0, 0, 0,
		  variant->mem_gpa_overflow },
		{ "overlap", 0x1000, 0x1000, 0, 0, 0, variant->mem_overlap },
	};

	ASSERT_EQ(0, __kvnet_guest_mem_alloc(&other, 0, KVNET_DEV_MEM_SIZE,
					     false));
	ohva = (uintptr_t)other.hva;
	put_tx_frame(kvnet_gpa_to_hva(&other, TX_BUF_GPA), 'B');
	psock = start_tx(_metadata, self, 'A');
	ASSERT_EQ('A', tx_frame(_metadata, self, psock));

	big = pages_table(self, max + 1);
	EXPECT_EQ(E2BIG, set_mem(self->dev.fd, big));
	EXPECT_EQ('A', tx_frame(_metadata, self, psock)) TH_LOG("after E2BIG");

	/* First region good (the buffer's gpa in other memory), then a bad one. */
	t = kvnet_mem_table_alloc(2);
	for (i = 0; i < (int)ARRAY_SIZE(bad); i++) {
		if (!bad[i].expected)
			continue;	/* this device takes it */
		kvnet_mem_table_set(t, 0, 0, KVNET_DEV_MEM_SIZE, ohva);
		kvnet_mem_table_set(t, 1, bad[i].gpa, bad[i].size,
				    bad[i].uaddr ?: ohva);
		t->regions[1].flags_padding = bad[i].flags_padding;
		t->padding = bad[i].padding;
		EXPECT_EQ(bad[i].expected, set_mem(self->dev.fd, t))
			TH_LOG("%s: expected %s", bad[i].what,
			       kvnet_errname(bad[i].expected));
		EXPECT_EQ('A', tx_frame(_metadata, self, psock))
			TH_LOG("after a refused table (%s) the frame came from its memory",
			       bad[i].what);
	}

	/* A good table replaces the old one under the running queue ... */
	good = kvnet_mem_table_of(&other);
	EXPECT_EQ(0, set_mem(self->dev.fd, good));
	EXPECT_EQ('B', tx_frame(_metadata, self, psock))
		TH_LOG("the new table is not in force");
	/* ... and back. */
	kvnet_mem_table_set(good, 0, 0, KVNET_DEV_MEM_SIZE, hva);
	EXPECT_EQ(0, set_mem(self->dev.fd, good));
	EXPECT_EQ('A', tx_frame(_metadata, self, psock));

	close(psock);
	free(t);
	free(good);
	free(big);
	kvnet_guest_mem_free(&other);
}

/* ---- per-vring ioctls -------------------------------------------------- */

TEST_F(ioctl, vring_index_enobufs)
{
	static const uint32_t bad_index[] = { 2, 3, 0x80000000u, UINT32_MAX };
	struct vhost_vring_state s;
	struct vhost_vring_addr addr;
	struct vhost_vring_file f;
	struct kvnet_vring_stats stats;
	unsigned int i, j;
	int efd;

	own(_metadata, self);
	efd = kvnet_eventfd();
	for (i = 0; i < ARRAY_SIZE(bad_index); i++) {
		uint32_t idx = bad_index[i];
		struct kvnet_call calls[] = {
			KVNET_CALL(VHOST_SET_VRING_NUM, &s, 0),
			KVNET_CALL(VHOST_SET_VRING_BASE, &s, 0),
			KVNET_CALL(VHOST_GET_VRING_BASE, &s, 0),
			KVNET_CALL(VHOST_SET_VRING_ADDR, &addr, 0),
			KVNET_CALL(VHOST_SET_VRING_KICK, &f, 0),
			KVNET_CALL(VHOST_SET_VRING_CALL, &f, 0),
			KVNET_CALL(VHOST_SET_VRING_ERR, &f, 0),
			KVNET_CALL(VHOST_SET_VRING_ENDIAN, &s, 0),
			KVNET_CALL(VHOST_GET_VRING_ENDIAN, &s, 0),
			KVNET_CALL(VHOST_SET_VRING_BUSYLOOP_TIMEOUT, &s, 0),
			KVNET_CALL(VHOST_GET_VRING_BUSYLOOP_TIMEOUT, &s, 0),
			KVNET_CALL(VHOST_NET_SET_BACKEND, &f, 0),
			KVNET_CALL(KVNET_GET_VRING_STATS, &stats, 0),
		};

		for (j = 0; j < ARRAY_SIZE(calls); j++) {
			int err;

			if (calls[j].cmd == KVNET_GET_VRING_STATS &&
			    !variant->kvnet)
				continue;
			/* Otherwise valid arguments: only the index is bad. */
			s = (struct vhost_vring_state) { idx, 256 };
			f = (struct vhost_vring_file) { idx, efd };
			if (calls[j].cmd == VHOST_NET_SET_BACKEND)
				f.fd = -1;
			addr = kvnet_ring_addr(&self->dev.rings[0]);
			addr.index = idx;
			memset(&stats, 0, sizeof(stats));
			stats.index = idx;
			err = kvnet_call_errno(&calls[j], self->dev.fd);
			EXPECT_EQ(ENOBUFS, err)
				TH_LOG("%s(index=%u): expected ENOBUFS, got %s",
				       calls[j].name, idx, kvnet_errname(err));
		}
	}
}

TEST_F(ioctl, vring_num)
{
	static const uint32_t good[] = { 1, 2, 256, 1024, 32768 };
	static const uint32_t bad[] = {
		0, 3, 255, 257, 32767, 65535, 65536, 1u << 31, UINT32_MAX,
	};
	struct vhost_vring_state s;
	unsigned int i, q;

	own(_metadata, self);
	for (q = 0; q < KVNET_NUM_VQS; q++) {
		for (i = 0; i < ARRAY_SIZE(good); i++) {
			s = (struct vhost_vring_state) { q, good[i] };
			EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_SET_VRING_NUM,
					   &s, "q%u num=%u", q, good[i]);
		}
		for (i = 0; i < ARRAY_SIZE(bad); i++) {
			s = (struct vhost_vring_state) { q, bad[i] };
			EXPECT_IOCTL_ERRNO(EINVAL, self->dev.fd,
					   VHOST_SET_VRING_NUM, &s,
					   "q%u num=%u", q, bad[i]);
		}
	}
}

TEST_F(ioctl, vring_base)
{
	static const uint32_t good[] = { 0, 1, 0x7fff, 0xffff };
	static const uint32_t bad[] = { 0x10000, 0x12345, UINT32_MAX };
	struct vhost_vring_state s;
	unsigned int i, q;

	own(_metadata, self);
	for (q = 0; q < KVNET_NUM_VQS; q++) {
		for (i = 0; i < ARRAY_SIZE(good); i++) {
			s = (struct vhost_vring_state) { q, good[i] };
			EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_SET_VRING_BASE,
					   &s, "q%u num=%#x", q, good[i]);
			s = (struct vhost_vring_state) { q, 0xdead };
			EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_GET_VRING_BASE,
					   &s);
			EXPECT_EQ(q, s.index);
			EXPECT_EQ(good[i], s.num) TH_LOG("q%u: GET after SET %#x",
							 q, good[i]);
		}
		for (i = 0; i < ARRAY_SIZE(bad); i++) {
			s = (struct vhost_vring_state) { q, bad[i] };
			EXPECT_IOCTL_ERRNO(EINVAL, self->dev.fd,
					   VHOST_SET_VRING_BASE, &s,
					   "q%u num=%#x", q, bad[i]);
		}
		/* The refused values changed nothing. */
		s = (struct vhost_vring_state) { q, 0xdead };
		EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_GET_VRING_BASE, &s);
		EXPECT_EQ(0xffffU, s.num) TH_LOG("q%u after refused bases", q);
	}
	/* Queues are independent. */
	s = (struct vhost_vring_state) { 0, 5 };
	kvnet_ioctl(self->dev.fd, VHOST_SET_VRING_BASE, &s);
	s = (struct vhost_vring_state) { 1, 7 };
	kvnet_ioctl(self->dev.fd, VHOST_SET_VRING_BASE, &s);
	s = (struct vhost_vring_state) { 0, 0 };
	kvnet_ioctl(self->dev.fd, VHOST_GET_VRING_BASE, &s);
	EXPECT_EQ(5U, s.num);
	s = (struct vhost_vring_state) { 1, 0 };
	kvnet_ioctl(self->dev.fd, VHOST_GET_VRING_BASE, &s);
	EXPECT_EQ(7U, s.num);
}

/* The ring of queue 0 laid out in guest memory, and NUM set. */
static struct vhost_vring_addr ring0(struct __test_metadata *_metadata,
				     FIXTURE_DATA(ioctl) *self,
				     unsigned int num)
{
	struct vhost_vring_state s = { 0, num };

	kvnet_ring_init(&self->dev.rings[0], 0, num, self->dev.mem.hva);
	kvnet_ioctl(self->dev.fd, VHOST_SET_VRING_NUM, &s);
	return kvnet_ring_addr(&self->dev.rings[0]);
}

TEST_F(ioctl, vring_addr_flags)
{
	struct vhost_vring_addr a;

	own(_metadata, self);
	a = ring0(_metadata, self, 256);
	EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_SET_VRING_ADDR, &a);
	a.flags = 1 << VHOST_VRING_F_LOG;
	EXPECT_IOCTL_ERRNO(variant->addr_log_flag, self->dev.fd,
			   VHOST_SET_VRING_ADDR, &a, "VHOST_VRING_F_LOG");
	a.flags = 2;
	EXPECT_IOCTL_ERRNO(EOPNOTSUPP, self->dev.fd, VHOST_SET_VRING_ADDR, &a,
			   "flags=2");
	a.flags = 1u << 31;
	EXPECT_IOCTL_ERRNO(EOPNOTSUPP, self->dev.fd, VHOST_SET_VRING_ADDR, &a,
			   "flags=1<<31");
}

TEST_F(ioctl, vring_addr_alignment)
{
	struct vhost_vring_addr good, a;
	unsigned int i;
	struct {
		const char *what;
		__u64 *field;
		uint64_t delta;
		int expected;
	} cases[] = {
		{ "desc+8", &a.desc_user_addr, 8, variant->addr_desc_misaligned },
		{ "desc+1", &a.desc_user_addr, 1, variant->addr_desc_misaligned },
		{ "desc+16", &a.desc_user_addr, 16, 0 },
		{ "avail+1", &a.avail_user_addr, 1, EINVAL },
		{ "avail+2", &a.avail_user_addr, 2, 0 },
		{ "used+1", &a.used_user_addr, 1, EINVAL },
		{ "used+2", &a.used_user_addr, 2, EINVAL },
		{ "used+4", &a.used_user_addr, 4, 0 },
	};

	own(_metadata, self);
	good = ring0(_metadata, self, 256);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		a = good;
		*cases[i].field += cases[i].delta;
		EXPECT_IOCTL_ERRNO(cases[i].expected, self->dev.fd,
				   VHOST_SET_VRING_ADDR, &a, "%s", cases[i].what);
	}
}

TEST_F(ioctl, vring_addr_not_user)
{
	uint64_t limit = kvnet_user_addr_limit();
	struct vhost_vring_addr good, a;

	own(_metadata, self);
	good = ring0(_metadata, self, 256);

	a = good;
	a.desc_user_addr = KVNET_KERNEL_ADDR;
	EXPECT_IOCTL_ERRNO(variant->addr_not_user_idle, self->dev.fd,
			   VHOST_SET_VRING_ADDR, &a, "desc in the kernel");
	a = good;
	a.avail_user_addr = KVNET_KERNEL_ADDR;
	EXPECT_IOCTL_ERRNO(variant->addr_not_user_idle, self->dev.fd,
			   VHOST_SET_VRING_ADDR, &a, "avail in the kernel");
	a = good;
	a.used_user_addr = KVNET_KERNEL_ADDR;
	EXPECT_IOCTL_ERRNO(variant->addr_not_user_idle, self->dev.fd,
			   VHOST_SET_VRING_ADDR, &a, "used in the kernel");

	/* The check uses the ring size of the current num. */
	a = good;
	a.desc_user_addr = limit - 16;
	EXPECT_IOCTL_ERRNO(variant->addr_not_user_idle, self->dev.fd,
			   VHOST_SET_VRING_ADDR, &a,
			   "num 256, desc 16 bytes below %#llx",
			   (unsigned long long)limit);
	ring0(_metadata, self, 1);
	EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_SET_VRING_ADDR, &a,
			   "num 1, desc 16 bytes below %#llx",
			   (unsigned long long)limit);
}

TEST_F(ioctl, vring_endian)
{
	struct vhost_vring_state s = { 0, VHOST_VRING_LITTLE_ENDIAN };

	own(_metadata, self);
	if (variant->endian) {
		EXPECT_IOCTL_ERRNO(variant->endian, self->dev.fd,
				   VHOST_SET_VRING_ENDIAN, &s);
		EXPECT_IOCTL_ERRNO(variant->endian, self->dev.fd,
				   VHOST_GET_VRING_ENDIAN, &s);
		return;
	}
	s.num = 0xdead;
	EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_GET_VRING_ENDIAN, &s);
	EXPECT_EQ(0U, s.num) TH_LOG("default endianness");
	EXPECT_EQ(0U, s.index);

	s = (struct vhost_vring_state) { 1, VHOST_VRING_LITTLE_ENDIAN };
	EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_SET_VRING_ENDIAN, &s);
	s = (struct vhost_vring_state) { 1, VHOST_VRING_BIG_ENDIAN };
	EXPECT_IOCTL_ERRNO(EOPNOTSUPP, self->dev.fd, VHOST_SET_VRING_ENDIAN, &s,
			   "big endian on a little-endian host");
	s = (struct vhost_vring_state) { 1, 2 };
	EXPECT_IOCTL_ERRNO(EINVAL, self->dev.fd, VHOST_SET_VRING_ENDIAN, &s,
			   "num=2");
	s = (struct vhost_vring_state) { 1, UINT32_MAX };
	EXPECT_IOCTL_ERRNO(EINVAL, self->dev.fd, VHOST_SET_VRING_ENDIAN, &s,
			   "num=2^32-1");
	s = (struct vhost_vring_state) { 1, 0xdead };
	EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_GET_VRING_ENDIAN, &s);
	EXPECT_EQ((unsigned int)VHOST_VRING_LITTLE_ENDIAN, s.num) TH_LOG("after refused sets");
	EXPECT_EQ(1U, s.index);
}

TEST_F(ioctl, vring_busyloop)
{
	struct vhost_vring_state s = { 0, 1234 };

	own(_metadata, self);
	EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_SET_VRING_BUSYLOOP_TIMEOUT, &s);
	s = (struct vhost_vring_state) { 1, UINT32_MAX };
	EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_SET_VRING_BUSYLOOP_TIMEOUT, &s);
	s = (struct vhost_vring_state) { 0, 0 };
	EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_GET_VRING_BUSYLOOP_TIMEOUT, &s);
	EXPECT_EQ(0U, s.index);
	EXPECT_EQ(1234U, s.num);
	s = (struct vhost_vring_state) { 1, 0 };
	EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_GET_VRING_BUSYLOOP_TIMEOUT, &s);
	EXPECT_EQ(1U, s.index);
	EXPECT_EQ(UINT32_MAX, s.num);
}

/* Every class of fd for the KICK, CALL and ERR slots of queue @q. */
static void check_eventfd_slots(struct __test_metadata *_metadata,
				FIXTURE_DATA(ioctl) *self, unsigned int q)
{
	static const unsigned long cmds[] = {
		VHOST_SET_VRING_KICK, VHOST_SET_VRING_CALL, VHOST_SET_VRING_ERR,
	};
	static const char *const names[] = { "KICK", "CALL", "ERR" };
	int pipefd[2], efd, file, sock, closed = kvnet_closed_fd();
	unsigned int i, j;

	ASSERT_EQ(0, pipe2(pipefd, O_CLOEXEC));
	efd = kvnet_eventfd();
	file = kvnet_check(__kvnet_regular_file());
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, sock);

	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		struct {
			const char *what;
			int fd, expected;
		} cases[] = {
			{ "-1, nothing attached", -1, 0 },
			{ "eventfd", efd, 0 },
			{ "the same eventfd", efd, 0 },
			{ "pipe read end", pipefd[0], EINVAL },
			{ "pipe write end", pipefd[1], EINVAL },
			{ "regular file", file, EINVAL },
			{ "UDP socket", sock, EINVAL },
			{ "the device itself", self->dev.fd, EINVAL },
			{ "closed fd", closed, EBADF },
			{ "fd -2", -2, EBADF },
			{ "fd INT_MIN", INT_MIN, EBADF },
			{ "-1 detaches", -1, 0 },
			{ "eventfd again", efd, 0 },
		};

		for (j = 0; j < ARRAY_SIZE(cases); j++) {
			struct vhost_vring_file f = { q, cases[j].fd };
			int err = ioctl(self->dev.fd, cmds[i], &f) ? errno : 0;

			EXPECT_EQ(cases[j].expected, err)
				TH_LOG("SET_VRING_%s(q%u, %s): expected %s, got %s",
				       names[i], q, cases[j].what,
				       kvnet_errname(cases[j].expected),
				       kvnet_errname(err));
		}
	}
	close(pipefd[0]);
	close(pipefd[1]);
	close(efd);
	close(file);
	close(sock);
}

TEST_F(ioctl, vring_eventfds)
{
	own(_metadata, self);
	check_eventfd_slots(_metadata, self, 0);
	check_eventfd_slots(_metadata, self, 1);
}

TEST_F(ioctl, vring_eventfds_while_running)
{
	start(_metadata, self);
	check_eventfd_slots(_metadata, self, 0);
	check_eventfd_slots(_metadata, self, 1);
}

TEST_F(ioctl, log_ioctls)
{
	uint64_t base = (uintptr_t)self->dev.mem.hva;
	int fd;

	own(_metadata, self);
	fd = kvnet_eventfd();
	EXPECT_IOCTL_ERRNO(variant->log_ioctls, self->dev.fd, VHOST_SET_LOG_BASE,
			   &base);
	EXPECT_IOCTL_ERRNO(variant->log_ioctls, self->dev.fd, VHOST_SET_LOG_FD,
			   &fd);
	fd = -1;
	EXPECT_IOCTL_ERRNO(variant->log_ioctls, self->dev.fd, VHOST_SET_LOG_FD,
			   &fd, "fd -1");
}

/* Pointer arguments that cannot be read (or written) give EFAULT. */
TEST_F(ioctl, bad_pointers)
{
	char *pages = guard_pages(_metadata);
	char *none = pages + KVNET_PAGE_SIZE;
	static const struct {
		const char *name;
		unsigned long cmd;
		bool kvnet_only;
	} cmds[] = {
		/* Both devices, unless marked kvnet only. */
		{ "VHOST_GET_FEATURES", VHOST_GET_FEATURES, false },
		{ "VHOST_SET_FEATURES", VHOST_SET_FEATURES, false },
		{ "VHOST_GET_BACKEND_FEATURES", VHOST_GET_BACKEND_FEATURES, false },
		{ "VHOST_SET_BACKEND_FEATURES", VHOST_SET_BACKEND_FEATURES, false },
		{ "VHOST_SET_MEM_TABLE", VHOST_SET_MEM_TABLE, false },
		{ "VHOST_SET_VRING_NUM", VHOST_SET_VRING_NUM, false },
		{ "VHOST_SET_VRING_ADDR", VHOST_SET_VRING_ADDR, false },
		{ "VHOST_SET_VRING_BASE", VHOST_SET_VRING_BASE, false },
		{ "VHOST_GET_VRING_BASE", VHOST_GET_VRING_BASE, false },
		{ "VHOST_SET_VRING_KICK", VHOST_SET_VRING_KICK, false },
		{ "VHOST_SET_VRING_CALL", VHOST_SET_VRING_CALL, false },
		{ "VHOST_SET_VRING_ERR", VHOST_SET_VRING_ERR, false },
		{ "VHOST_SET_VRING_ENDIAN", VHOST_SET_VRING_ENDIAN, false },
		{ "VHOST_GET_VRING_ENDIAN", VHOST_GET_VRING_ENDIAN, false },
		{ "VHOST_SET_VRING_BUSYLOOP_TIMEOUT", VHOST_SET_VRING_BUSYLOOP_TIMEOUT, false },
		{ "VHOST_GET_VRING_BUSYLOOP_TIMEOUT", VHOST_GET_VRING_BUSYLOOP_TIMEOUT, false },
		{ "VHOST_NET_SET_BACKEND", VHOST_NET_SET_BACKEND, false },
		{ "KVNET_GET_VRING_STATS", KVNET_GET_VRING_STATS, true },
	};
	void *ptrs[] = {
		NULL, none, (void *)KVNET_KERNEL_ADDR,
		/* Only the first 4 bytes (an index of 0) are readable. */
		none - 4,
	};
	unsigned int i, j;

	own(_metadata, self);
	memset(pages, 0, KVNET_PAGE_SIZE);
	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		if (cmds[i].kvnet_only && !variant->kvnet)
			continue;
		for (j = 0; j < ARRAY_SIZE(ptrs); j++) {
			int err, expected = EFAULT;

			/* A partly written result may have left an index. */
			memset(none - 4, 0, 4);
			/* With a readable index, vhost knows ENDIAN is off. */
			if (j == 3 && (cmds[i].cmd == VHOST_SET_VRING_ENDIAN ||
				       cmds[i].cmd == VHOST_GET_VRING_ENDIAN))
				expected = variant->endian ?: EFAULT;
			err = ioctl(self->dev.fd, cmds[i].cmd, ptrs[j]) ? errno : 0;
			EXPECT_EQ(expected, err)
				TH_LOG("%s(%p): expected %s, got %s",
				       cmds[i].name, ptrs[j],
				       kvnet_errname(expected), kvnet_errname(err));
		}
	}

	/* Results written to read-only memory. */
	ASSERT_EQ(0, mprotect(pages, KVNET_PAGE_SIZE, PROT_READ));
	EXPECT_EQ(EFAULT, ioctl(self->dev.fd, VHOST_GET_FEATURES, pages) ? errno : 0);
	EXPECT_EQ(EFAULT, ioctl(self->dev.fd, VHOST_GET_VRING_BASE, pages) ? errno : 0);
	if (variant->kvnet)
		EXPECT_EQ(EFAULT, ioctl(self->dev.fd, KVNET_GET_VRING_STATS,
					pages) ? errno : 0);
	munmap(pages, 2 * KVNET_PAGE_SIZE);
}

/* ---- backends ------------------------------------------------------------ */

TEST_F(ioctl, backend_tap)
{
	own_with_rings(_metadata, self);
	/* One tap on both queues, as QEMU does with a single queue pair. */
	EXPECT_EQ(0, __kvnet_set_backend(self->dev.fd, 0, tap(_metadata, self)));
	EXPECT_EQ(0, __kvnet_set_backend(self->dev.fd, 1, self->tap));
	/* Again: replacing a backend by itself. */
	EXPECT_EQ(0, __kvnet_set_backend(self->dev.fd, 1, self->tap));
	EXPECT_EQ(0, __kvnet_set_backend(self->dev.fd, 0, -1));
	EXPECT_EQ(0, __kvnet_set_backend(self->dev.fd, 1, -1));
}

TEST_F(ioctl, backend_macvtap)
{
	own_with_rings(_metadata, self);
	kvnet_enter_netns();
	kvnet_macvtap_create(&self->macvtap);
	EXPECT_EQ(0, __kvnet_set_backend(self->dev.fd, 0, self->macvtap.fd));
	EXPECT_EQ(0, __kvnet_set_backend(self->dev.fd, 1, self->macvtap.fd));
	EXPECT_EQ(0, __kvnet_set_backend(self->dev.fd, 0, -1));
	EXPECT_EQ(0, __kvnet_set_backend(self->dev.fd, 1, -1));
}

TEST_F(ioctl, backend_detach)
{
	own(_metadata, self);
	/* -1 with nothing attached, even before any ring is set up. */
	EXPECT_EQ(0, __kvnet_set_backend(self->dev.fd, 0, -1));
	EXPECT_EQ(0, __kvnet_set_backend(self->dev.fd, 1, -1));
	kvnet_dev_setup_ring(&self->dev, 0);
	EXPECT_EQ(0, __kvnet_set_backend(self->dev.fd, 0, tap(_metadata, self)));
	EXPECT_EQ(0, __kvnet_set_backend(self->dev.fd, 0, -1));
	EXPECT_EQ(0, __kvnet_set_backend(self->dev.fd, 0, -1));
}

TEST_F(ioctl, backend_not_a_tap)
{
	int pipefd[2], udp, tcp, unixsk, file, efd, null;
	unsigned int i, q;

	own_with_rings(_metadata, self);
	ASSERT_EQ(0, pipe2(pipefd, O_CLOEXEC));
	udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unixsk = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, udp);
	ASSERT_LE(0, tcp);
	ASSERT_LE(0, unixsk);
	file = kvnet_check(__kvnet_regular_file());
	efd = kvnet_eventfd();
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, null);

	struct {
		const char *what;
		int fd;
	} cases[] = {
		{ "UDP socket", udp },
		{ "TCP socket", tcp },
		{ "unix socket", unixsk },
		{ "pipe", pipefd[0] },
		{ "regular file", file },
		{ "eventfd", efd },
		{ "/dev/null", null },
		{ "the device itself", self->dev.fd },
	};

	for (q = 0; q < KVNET_NUM_VQS; q++) {
		for (i = 0; i < ARRAY_SIZE(cases); i++) {
			int err = -__kvnet_set_backend(self->dev.fd, q,
						       cases[i].fd);

			EXPECT_EQ(ENOTSOCK, err)
				TH_LOG("q%u: %s: expected ENOTSOCK, got %s", q,
				       cases[i].what, kvnet_errname(err));
		}
	}
	close(pipefd[0]);
	close(pipefd[1]);
	close(udp);
	close(tcp);
	close(unixsk);
	close(file);
	close(efd);
	close(null);
}

/*
 * A tun in IFF_TUN mode carries IP packets, not frames. Neither device can
 * tell it from a tap through tun_get_socket(); both take it.
 */
TEST_F(ioctl, backend_tun_mode)
{
	char name[IFNAMSIZ];
	int tun, err;

	own_with_rings(_metadata, self);
	kvnet_enter_netns();
	tun = __kvnet_tap_create(IFF_TUN | IFF_NO_PI | IFF_VNET_HDR, "kvtun%d",
				 name);
	ASSERT_LE(0, tun) TH_LOG("tun: %s", kvnet_errname(-tun));
	err = -__kvnet_set_backend(self->dev.fd, 0, tun);
	EXPECT_EQ(variant->backend_tun, err)
		TH_LOG("IFF_TUN: expected %s, got %s",
		       kvnet_errname(variant->backend_tun), kvnet_errname(err));
	__kvnet_set_backend(self->dev.fd, 0, -1);
	close(tun);
}

TEST_F(ioctl, backend_packet_socket)
{
	int sock, err;

	own_with_rings(_metadata, self);
	sock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	ASSERT_LE(0, sock) TH_LOG("AF_PACKET socket: %s", strerror(errno));
	err = -__kvnet_set_backend(self->dev.fd, 0, sock);
	EXPECT_EQ(variant->backend_packet_socket, err)
		TH_LOG("AF_PACKET raw socket: expected %s, got %s",
		       kvnet_errname(variant->backend_packet_socket),
		       kvnet_errname(err));
	__kvnet_set_backend(self->dev.fd, 0, -1);
	close(sock);
}

TEST_F(ioctl, backend_bad_fd)
{
	int fds[] = { kvnet_closed_fd(), -2, INT_MIN };
	unsigned int i;

	own_with_rings(_metadata, self);
	for (i = 0; i < ARRAY_SIZE(fds); i++) {
		int err = -__kvnet_set_backend(self->dev.fd, 0, fds[i]);

		EXPECT_EQ(variant->backend_bad_fd, err)
			TH_LOG("fd %d: expected %s, got %s", fds[i],
			       kvnet_errname(variant->backend_bad_fd),
			       kvnet_errname(err));
	}
}

TEST_F(ioctl, backend_before_ring_addr)
{
	struct vhost_vring_state num = { 0, KVNET_DEV_RING_NUM };
	int err;

	own(_metadata, self);
	err = -__kvnet_set_backend(self->dev.fd, 0, tap(_metadata, self));
	EXPECT_EQ(variant->backend_before_addr, err)
		TH_LOG("nothing set up: expected %s, got %s",
		       kvnet_errname(variant->backend_before_addr),
		       kvnet_errname(err));
	/* A size alone is not a ring either. */
	kvnet_ioctl(self->dev.fd, VHOST_SET_VRING_NUM, &num);
	err = -__kvnet_set_backend(self->dev.fd, 0, self->tap);
	EXPECT_EQ(variant->backend_before_addr, err)
		TH_LOG("only SET_VRING_NUM: expected %s, got %s",
		       kvnet_errname(variant->backend_before_addr),
		       kvnet_errname(err));
	/* Once the address is set the same call works. */
	kvnet_dev_setup_ring(&self->dev, 0);
	EXPECT_EQ(0, __kvnet_set_backend(self->dev.fd, 0, self->tap));
}

/* ---- a running queue ----------------------------------------------------- */

/* The ring-changing ioctls on queue @q: EBUSY while it runs. */
static void check_ring_changes(struct __test_metadata *_metadata,
			       FIXTURE_DATA(ioctl) *self,
			       const FIXTURE_VARIANT(ioctl) *variant,
			       unsigned int q, int expected, const char *when)
{
	struct vhost_vring_state num = { q, KVNET_DEV_RING_NUM };
	struct vhost_vring_state base = { q, 0 };
	struct vhost_vring_state endian = { q, VHOST_VRING_LITTLE_ENDIAN };
	struct vhost_vring_addr addr = kvnet_ring_addr(&self->dev.rings[q]);

	EXPECT_IOCTL_ERRNO(expected, self->dev.fd, VHOST_SET_VRING_NUM, &num,
			   "q%u %s", q, when);
	EXPECT_IOCTL_ERRNO(expected, self->dev.fd, VHOST_SET_VRING_BASE, &base,
			   "q%u %s", q, when);
	EXPECT_IOCTL_ERRNO(expected == EBUSY ? variant->addr_running : expected,
			   self->dev.fd, VHOST_SET_VRING_ADDR, &addr,
			   "q%u %s", q, when);
	EXPECT_IOCTL_ERRNO(variant->endian ?: expected, self->dev.fd,
			   VHOST_SET_VRING_ENDIAN, &endian, "q%u %s", q, when);
}

TEST_F(ioctl, ring_changes_while_running)
{
	own_with_rings(_metadata, self);
	kvnet_set_backend(self->dev.fd, 0, tap(_metadata, self));
	check_ring_changes(_metadata, self, variant, 0, EBUSY, "running");
	/* Queue 1 has no backend: it does not run. */
	check_ring_changes(_metadata, self, variant, 1, 0, "no backend");
	kvnet_set_backend(self->dev.fd, 1, self->tap);
	check_ring_changes(_metadata, self, variant, 1, EBUSY, "running");
	/* Detached, queue 0 may be reconfigured again. */
	kvnet_set_backend(self->dev.fd, 0, -1);
	check_ring_changes(_metadata, self, variant, 0, 0, "detached");
}

/* GET_VRING_BASE on queue 0, which must have been at base 0. */
static void stop_queue0(struct __test_metadata *_metadata,
			FIXTURE_DATA(ioctl) *self)
{
	struct vhost_vring_state s = { 0, 0xdead };

	kvnet_ioctl(self->dev.fd, VHOST_GET_VRING_BASE, &s);
	EXPECT_EQ(0U, s.index);
	EXPECT_EQ(0U, s.num) TH_LOG("nothing was consumed: base stays 0");
}

TEST_F(ioctl, get_vring_base_stops)
{
	struct vhost_vring_state num = { 0, KVNET_DEV_RING_NUM };
	struct vhost_vring_state base = { 0, 0 };
	struct vhost_vring_file kick = { 0, -1 };
	int stopped = variant->ring_change_stopped;

	start(_metadata, self);
	EXPECT_IOCTL_ERRNO(EBUSY, self->dev.fd, VHOST_SET_VRING_NUM, &num,
			   "running");

	/* Stopped: the ring may change; SET_VRING_BASE restarts it. */
	stop_queue0(_metadata, self);
	EXPECT_IOCTL_ERRNO(stopped, self->dev.fd, VHOST_SET_VRING_NUM, &num,
			   "after GET_VRING_BASE");
	EXPECT_IOCTL_ERRNO(stopped, self->dev.fd, VHOST_SET_VRING_BASE, &base,
			   "after GET_VRING_BASE");
	EXPECT_IOCTL_ERRNO(EBUSY, self->dev.fd, VHOST_SET_VRING_NUM, &num,
			   "restarted by SET_VRING_BASE");
	/* Queue 1 kept running all along. */
	num.index = 1;
	EXPECT_IOCTL_ERRNO(EBUSY, self->dev.fd, VHOST_SET_VRING_NUM, &num,
			   "q1 while q0 was stopped");
	num.index = 0;

	/* SET_VRING_KICK restarts it, with the same eventfd ... */
	stop_queue0(_metadata, self);
	EXPECT_IOCTL_ERRNO(stopped, self->dev.fd, VHOST_SET_VRING_NUM, &num,
			   "stopped again");
	kick.fd = self->dev.kick[0];
	kvnet_ioctl(self->dev.fd, VHOST_SET_VRING_KICK, &kick);
	EXPECT_IOCTL_ERRNO(EBUSY, self->dev.fd, VHOST_SET_VRING_NUM, &num,
			   "restarted by SET_VRING_KICK, same eventfd");

	/* ... and with a new one. */
	stop_queue0(_metadata, self);
	kick.fd = kvnet_eventfd();
	kvnet_ioctl(self->dev.fd, VHOST_SET_VRING_KICK, &kick);
	EXPECT_IOCTL_ERRNO(EBUSY, self->dev.fd, VHOST_SET_VRING_NUM, &num,
			   "restarted by SET_VRING_KICK, new eventfd");
	close(kick.fd);

	/* NET_SET_BACKEND with an fd restarts it. */
	stop_queue0(_metadata, self);
	kvnet_set_backend(self->dev.fd, 0, self->tap);
	EXPECT_IOCTL_ERRNO(EBUSY, self->dev.fd, VHOST_SET_VRING_NUM, &num,
			   "restarted by NET_SET_BACKEND");

	/* Detaching after a stop leaves it stopped and free to change. */
	stop_queue0(_metadata, self);
	kvnet_set_backend(self->dev.fd, 0, -1);
	EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_SET_VRING_NUM, &num,
			   "stopped and detached");
}

/* With the data path: the base is the avail index, and a stop is a stop. */
TEST_F(ioctl, get_vring_base_stops_processing)
{
	struct kvnet_ring *tx = &self->dev.rings[KVNET_VQ_TX];
	struct vhost_vring_state s = { KVNET_VQ_TX, 0 };
	struct pollfd pfd;
	uint16_t used;
	int psock, i;

	psock = start_tx(_metadata, self, 'A');
	for (i = 0; i < 3; i++)
		ASSERT_EQ('A', tx_frame(_metadata, self, psock));
	kvnet_ioctl(self->dev.fd, VHOST_GET_VRING_BASE, &s);
	EXPECT_EQ(3U, s.num) TH_LOG("the base is the next avail index to take");

	if (variant->ring_change_stopped) {
		/* vhost-net's GET_VRING_BASE does not stop the queue. */
		close(psock);
		return;
	}
	/* Stopped: a new buffer and a kick are not processed ... */
	used = kvnet_ring_used_idx(tx);
	tx_post(_metadata, self);
	kvnet_sleep_ms(500);
	EXPECT_EQ(used, kvnet_ring_used_idx(tx)) TH_LOG("a stopped queue used a buffer");
	pfd = (struct pollfd) { .fd = psock, .events = POLLIN };
	EXPECT_EQ(0, poll(&pfd, 1, 0)) TH_LOG("a stopped queue sent a frame");

	/* ... until SET_VRING_BASE restarts it from the base it returned. */
	kvnet_ioctl(self->dev.fd, VHOST_SET_VRING_BASE, &s);
	ASSERT_EQ(0, kvnet_eventfd_signal(self->dev.kick[KVNET_VQ_TX]));
	EXPECT_EQ('A', tx_receive(_metadata, self, psock, used));
	EXPECT_EQ(4, kvnet_ring_used_idx(tx));
	close(psock);
}

/* Read an eventfd's count without blocking: 0 when it was not signalled. */
static uint64_t eventfd_count(int efd)
{
	uint64_t n = 0;

	if (read(efd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

/*
 * The worker signals the call eventfd when it returns a buffer, unless the
 * driver asked for no interrupts (without EVENT_IDX: the avail flag).
 */
TEST_F(ioctl, call_signalled_as_the_guest_asks)
{
	struct kvnet_ring *tx = &self->dev.rings[KVNET_VQ_TX];
	int psock, flags, call;

	psock = start_tx(_metadata, self, 0x11);
	call = self->dev.call[KVNET_VQ_TX];
	flags = fcntl(call, F_GETFL);
	ASSERT_EQ(0, fcntl(call, F_SETFL, flags | O_NONBLOCK));
	eventfd_count(call);

	ASSERT_EQ(0x11, tx_frame(_metadata, self, psock));
	EXPECT_TRUE(kvnet_wait_until(eventfd_count(call) > 0, 5000))
		TH_LOG("no call after a used buffer");

	tx->vring.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	__sync_synchronize();
	ASSERT_EQ(0x11, tx_frame(_metadata, self, psock));
	/* A call follows the used index closely: give a wrong one time. */
	kvnet_sleep_ms(300);
	EXPECT_EQ(0ULL, eventfd_count(call))
		TH_LOG("call signalled although the driver asked for none");
	close(psock);
}

/*
 * A malformed ring stops the queue and signals its error eventfd; the
 * queue works again once the VMM resets it.
 */
TEST_F(ioctl, malformed_ring_signals_err)
{
	struct kvnet_ring *tx = &self->dev.rings[KVNET_VQ_TX];
	struct vhost_vring_state base = { KVNET_VQ_TX, 0 };
	struct vhost_vring_file err = { KVNET_VQ_TX, -1 };
	uint16_t used;
	int psock;

	psock = start_tx(_metadata, self, 0x22);
	err.fd = kvnet_eventfd();
	ASSERT_EQ(0, fcntl(err.fd, F_SETFL, O_NONBLOCK));
	kvnet_ioctl(self->dev.fd, VHOST_SET_VRING_ERR, &err);
	ASSERT_EQ(0x22, tx_frame(_metadata, self, psock));

	/* A head index past the ring. */
	used = kvnet_ring_used_idx(tx);
	tx->vring.avail->ring[tx->avail_idx % tx->num] = tx->num + 7;
	__sync_synchronize();
	tx->vring.avail->idx = ++tx->avail_idx;
	ASSERT_EQ(0, kvnet_eventfd_signal(self->dev.kick[KVNET_VQ_TX]));
	EXPECT_TRUE(kvnet_wait_until(eventfd_count(err.fd) > 0, 5000))
		TH_LOG("no error signal for a head out of range");
	EXPECT_EQ(used, kvnet_ring_used_idx(tx)) TH_LOG("bad head was used");

	/* Reset as a VMM does: stop, rewind the driver, restart. */
	kvnet_set_backend(self->dev.fd, KVNET_VQ_TX, -1);
	kvnet_ioctl(self->dev.fd, VHOST_GET_VRING_BASE, &base);
	tx->avail_idx--;
	tx->vring.avail->idx = tx->avail_idx;
	base.num = tx->avail_idx;
	kvnet_ioctl(self->dev.fd, VHOST_SET_VRING_BASE, &base);
	kvnet_set_backend(self->dev.fd, KVNET_VQ_TX, self->tap);
	ASSERT_EQ(0x22, tx_frame(_metadata, self, psock))
		TH_LOG("queue dead after the reset");
	close(err.fd);
	close(psock);
}

/*
 * kvmtool acks features at DRIVER_OK, after NET_SET_BACKEND: until a queue
 * has taken a buffer, any feature may change on both devices.
 */
TEST_F(ioctl, features_before_first_buffer)
{
	uint64_t offered = get_features(_metadata, self), f = 0, g;
	unsigned int i, tested = 0;

	for (i = 0; i < ARRAY_SIZE(format_features); i++)
		f |= offered & (1ULL << format_features[i]);
	start(_metadata, self);

	EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_SET_FEATURES, &f,
			   "first SET_FEATURES after NET_SET_BACKEND");
	EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_SET_FEATURES, &f,
			   "same value again");
	for (i = 0; i < ARRAY_SIZE(format_features); i++) {
		uint64_t bit = 1ULL << format_features[i];

		if (!(offered & bit))
			continue;
		tested++;
		g = f ^ bit;
		EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_SET_FEATURES, &g,
				   "toggling format feature %u, nothing consumed",
				   format_features[i]);
		kvnet_ioctl(self->dev.fd, VHOST_SET_FEATURES, &f);
	}
	ASSERT_LT(0U, tested) TH_LOG("no ring format feature offered: %#llx",
				    (unsigned long long)offered);
}

/*
 * [kvnet] Once a queue has taken a buffer, the features that decide how
 * its buffers are laid out stay until the queue is stopped: a change then
 * would reinterpret buffers in flight. vhost-net applies any change.
 */
TEST_F(ioctl, features_after_buffer_consumed)
{
	uint64_t offered, f = 0, g;
	uint64_t other;
	struct vhost_vring_state base = { KVNET_VQ_TX, 0 };
	unsigned int i, tested = 0;
	int psock;

	psock = start_tx(_metadata, self, 0x5a);
	offered = get_features(_metadata, self);
	/*
	 * Not VIRTIO_F_ANY_LAYOUT: for vhost it is bit 27, which is also
	 * VHOST_NET_F_VIRTIO_NET_HDR, a format feature.
	 */
	other = offered & ((1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
			   (1ULL << VIRTIO_F_NOTIFY_ON_EMPTY));
	ASSERT_EQ(0x5a, tx_frame(_metadata, self, psock));

	EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_SET_FEATURES, &f,
			   "same value after a buffer was consumed");
	for (i = 0; i < ARRAY_SIZE(format_features); i++) {
		uint64_t bit = 1ULL << format_features[i];

		if (!(offered & bit))
			continue;
		tested++;
		g = f ^ bit;
		EXPECT_IOCTL_ERRNO(variant->format_change_consumed,
				   self->dev.fd, VHOST_SET_FEATURES, &g,
				   "toggling format feature %u after a buffer",
				   format_features[i]);
		kvnet_ioctl(self->dev.fd, VHOST_SET_FEATURES, &f);
	}
	ASSERT_LT(0U, tested) TH_LOG("no ring format feature offered: %#llx",
				    (unsigned long long)offered);

	/* Features that do not touch the layout may change under the locks. */
	if (other) {
		g = f | other;
		EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_SET_FEATURES, &g,
				   "adding %#llx after a buffer",
				   (unsigned long long)other);
		EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_SET_FEATURES, &f,
				   "removing %#llx after a buffer",
				   (unsigned long long)other);
	}

	/* The queue still works with its features intact. */
	ASSERT_EQ(0x5a, tx_frame(_metadata, self, psock));

	/* Stopped by GET_VRING_BASE: any change goes again. */
	kvnet_ioctl(self->dev.fd, VHOST_GET_VRING_BASE, &base);
	g = f ^ (offered & (1ULL << VIRTIO_NET_F_MRG_RXBUF));
	EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_SET_FEATURES, &g,
			   "TX stopped by GET_VRING_BASE");
	close(psock);
}

TEST_F(ioctl, backend_swap_while_running)
{
	struct vhost_vring_state num = { 0, KVNET_DEV_RING_NUM };
	unsigned int round, q;
	int backends[3];

	start(_metadata, self);
	kvnet_macvtap_create(&self->macvtap);
	backends[0] = self->tap;
	backends[1] = self->macvtap.fd;
	backends[2] = -1;

	for (round = 0; round < 10; round++) {
		for (q = 0; q < KVNET_NUM_VQS; q++) {
			int fd = backends[(round + q) % 3], err;

			/* A kick in flight while the backend changes. */
			ASSERT_EQ(0, kvnet_eventfd_signal(self->dev.kick[q]));
			err = -__kvnet_set_backend(self->dev.fd, q, fd);
			EXPECT_EQ(0, err) TH_LOG("round %u q%u fd %d: %s", round,
						 q, fd, kvnet_errname(err));
		}
	}
	/* Ends with a backend on both: running. */
	kvnet_set_backend(self->dev.fd, 0, self->macvtap.fd);
	kvnet_set_backend(self->dev.fd, 1, self->tap);
	EXPECT_IOCTL_ERRNO(EBUSY, self->dev.fd, VHOST_SET_VRING_NUM, &num);
	num.index = 1;
	EXPECT_IOCTL_ERRNO(EBUSY, self->dev.fd, VHOST_SET_VRING_NUM, &num);

	if (!variant->kvnet)
		return;
	/* And the queue is still served. */
	EXPECT_KICK_SERVED(self->dev.fd, 1, self->dev.kick[1], "after the swaps");
}

/* ---- KVNET_GET_VRING_STATS ----------------------------------------------- */

/* kvnet's own ioctl: /dev/kvnet only (unknown_ioctl sees vhost refuse it). */
FIXTURE(stats) {
	struct kvnet_dev dev;
};

FIXTURE_SETUP(stats)
{
	kvnet_dev_open(&self->dev, KVNET_DEV_PATH);
	kvnet_dev_own(&self->dev);
}

FIXTURE_TEARDOWN(stats)
{
	kvnet_dev_close(&self->dev);
}

TEST_F(stats, stats_count_kicks)
{
	struct kvnet_vring_stats rx0, tx0, s;
	const unsigned int n = 5;
	unsigned int i;

	kvnet_dev_setup_ring(&self->dev, 0);
	kvnet_dev_setup_ring(&self->dev, 1);
	kvnet_get_stats(self->dev.fd, KVNET_VQ_RX, &rx0);
	kvnet_get_stats(self->dev.fd, KVNET_VQ_TX, &tx0);
	EXPECT_EQ((unsigned int)KVNET_VQ_RX, rx0.index);
	EXPECT_EQ((unsigned int)KVNET_VQ_TX, tx0.index);

	/* No backend: the kicks are still counted and handled. */
	for (i = 1; i <= n; i++) {
		ASSERT_EQ(0, kvnet_eventfd_signal(self->dev.kick[KVNET_VQ_TX]));
		/* Wait for each, so no two kicks merge into one wakeup. */
		ASSERT_TRUE(kvnet_wait_until(
			!__kvnet_get_stats(self->dev.fd, KVNET_VQ_TX, &s) &&
			s.kicks >= tx0.kicks + i &&
			s.handler_runs >= tx0.handler_runs + i, 5000))
			TH_LOG("kick %u: kicks %llu -> %llu, handler_runs %llu -> %llu",
			       i, (unsigned long long)tx0.kicks,
			       (unsigned long long)s.kicks,
			       (unsigned long long)tx0.handler_runs,
			       (unsigned long long)s.handler_runs);
	}
	EXPECT_EQ(tx0.kicks + n, s.kicks) TH_LOG("one count per kick");
	EXPECT_EQ((unsigned int)KVNET_VQ_TX, s.index);

	/* The other queue saw none of it. */
	kvnet_get_stats(self->dev.fd, KVNET_VQ_RX, &s);
	EXPECT_EQ(rx0.kicks, s.kicks);
	EXPECT_EQ(rx0.handler_runs, s.handler_runs);
}

TEST_F(stats, stats_bad_args)
{
	struct kvnet_vring_stats s;

	memset(&s, 0, sizeof(s));
	s.flags = 1;
	EXPECT_IOCTL_ERRNO(EINVAL, self->dev.fd, KVNET_GET_VRING_STATS, &s,
			   "flags=1");
	s.flags = 1u << 31;
	EXPECT_IOCTL_ERRNO(EINVAL, self->dev.fd, KVNET_GET_VRING_STATS, &s,
			   "flags=1<<31");
	s.flags = 0;
	s.index = 2;
	EXPECT_IOCTL_ERRNO(ENOBUFS, self->dev.fd, KVNET_GET_VRING_STATS, &s,
			   "index=2");
	s.index = UINT32_MAX;
	EXPECT_IOCTL_ERRNO(ENOBUFS, self->dev.fd, KVNET_GET_VRING_STATS, &s,
			   "index=2^32-1");
	s.index = 1;
	EXPECT_IOCTL_ERRNO(0, self->dev.fd, KVNET_GET_VRING_STATS, &s);
	EXPECT_EQ(1U, s.index);
	EXPECT_EQ(0U, s.flags);
}

KVNET_HARNESS_MAIN
