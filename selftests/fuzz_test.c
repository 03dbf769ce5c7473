// SPDX-License-Identifier: GPL-2.0
/*
 * Random ioctls, bounded in time and seeded: the vhost and kvnet ioctls
 * with random or partly valid arguments (ring addresses and memory tables
 * inside or just outside the guest memory, fds of every kind), in random
 * orders, from forked children too, with devices closed and reopened under
 * way. It passes if nothing crashed and a device still works afterwards;
 * the VM runner checks the kernel log separately.
 *
 * KVNET_SEED=n repeats a run; KVNET_FUZZ_SECONDS=n changes its length.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <linux/if_ether.h>

#include "kvnet_harness.h"
#include "kvnet_util.h"

#define FUZZ_DEVS	4
#define FUZZ_EVENTFDS	4
#define FUZZ_MEM_SIZE	(64 * 1024UL)
#define FUZZ_ARG_SIZE	(8 * 1024UL)
#define FUZZ_TIMEOUT	150	/* seconds, harness */

/* Everything a run plays with. */
struct fuzz {
	int devs[FUZZ_DEVS];
	int eventfds[FUZZ_EVENTFDS];
	/* Backends and other fds: taps, sockets, pipe, files. */
	int others[12];
	unsigned int nothers;
	/* The taps and the macvtap among them. */
	int backends[3];
	unsigned int nbackends;
	struct kvnet_macvtap macvtap;
	struct kvnet_guest_mem mem[2];
	/* An address range of ours that faults: PROT_NONE. */
	char *hole;
	/* Arguments live here, with a PROT_NONE page right after. */
	char *arg;
	uint64_t offered;
	unsigned long long ioctls, ok, forks, reopens, started;
	const char *path;
};

FIXTURE(fuzz) {
	struct fuzz f;
};

FIXTURE_VARIANT(fuzz) {
	const char *path;
	const char *worker;	/* comm prefix of the workers */
	const char *module;
	int seconds;	/* default length */
	bool kvnet;
};

FIXTURE_VARIANT_ADD(fuzz, kvnet) {
	.path = KVNET_DEV_PATH,
	.worker = "kvnet-",
	.module = "kvnet",
	.seconds = 20,
	.kvnet = true,
};

/* The reference, briefly: shows the fuzzer itself is sound. */
FIXTURE_VARIANT_ADD(fuzz, vhost_net) {
	.path = VHOST_NET_DEV_PATH,
	.worker = "vhost-",
	.module = "vhost_net",
	.seconds = 5,
	.kvnet = false,
};

static uint64_t rnd(void)
{
	return (uint64_t)random() << 33 ^ (uint64_t)random() << 11 ^ random();
}

/* true with probability 1/n */
static bool one_in(unsigned int n)
{
	return random() % n == 0;
}

static uint32_t rnd_index(void)
{
	switch (random() % 8) {
	case 0:
		return 2;
	case 1:
		return rnd();
	default:
		return random() % KVNET_NUM_VQS;
	}
}

static int rnd_fd(struct fuzz *f)
{
	switch (random() % 10) {
	case 0:
		return -1;
	case 1:
		return kvnet_closed_fd();
	case 2:
		return (int)rnd();
	case 3:
		return f->devs[random() % FUZZ_DEVS];
	case 4: case 5: case 6:
		return f->eventfds[random() % FUZZ_EVENTFDS];
	default:
		return f->others[random() % f->nothers];
	}
}

/*
 * An address for the kernel to use as ring or guest memory: inside our
 * guest memory (aligned or not), in the unmapped hole, or not a user
 * address. Never our heap or stack: with a backend attached a data path
 * writes to these.
 */
static uint64_t rnd_uaddr(struct fuzz *f, size_t *room)
{
	struct kvnet_guest_mem *m = &f->mem[random() % 2];
	uint64_t off = random() % m->size;

	*room = m->size;
	switch (random() % 8) {
	case 0:
		*room = FUZZ_MEM_SIZE;
		return (uintptr_t)f->hole + (off & ~15UL);
	case 1:
		return KVNET_KERNEL_ADDR + (off & ~15UL);
	case 2:
		return 0;
	case 3:
		*room = m->size - off;
		return (uintptr_t)m->hva + off;
	default:
		/* Aligned, as a driver would place a ring. */
		off &= ~(KVNET_PAGE_SIZE - 1);
		*room = m->size - off;
		return (uintptr_t)m->hva + off;
	}
}

static void fill_state(struct vhost_vring_state *s)
{
	s->index = rnd_index();
	switch (random() % 5) {
	case 0:
		s->num = rnd();
		break;
	case 1:
		s->num = random() % 0x10002;
		break;
	default:
		s->num = 1U << (random() % 17);
		break;
	}
}

static void fill_addr(struct fuzz *f, struct vhost_vring_addr *a)
{
	size_t room;

	a->index = rnd_index();
	a->flags = one_in(8) ? rnd() : 0;
	a->desc_user_addr = rnd_uaddr(f, &room);
	if (one_in(4)) {
		a->avail_user_addr = rnd_uaddr(f, &room);
		a->used_user_addr = rnd_uaddr(f, &room);
	} else {
		/* The legacy layout of a small ring, used at +4 kB. */
		a->avail_user_addr = a->desc_user_addr + 16 * 64;
		a->used_user_addr = a->desc_user_addr + KVNET_PAGE_SIZE;
	}
	a->log_guest_addr = one_in(8) ? rnd() : 0;
}

static void fill_mem_table(struct fuzz *f, struct vhost_memory *t)
{
	size_t max = (FUZZ_ARG_SIZE - sizeof(*t)) / sizeof(t->regions[0]);
	unsigned int i, n;

	switch (random() % 6) {
	case 0:
		n = rnd();
		break;
	case 1:
		n = 64 + random() % 3;	/* around the default max */
		break;
	default:
		n = random() % 4;
		break;
	}
	t->nregions = n;
	t->padding = one_in(16) ? rnd() : 0;
	for (i = 0; i < n && i < max; i++) {
		struct vhost_memory_region *r = &t->regions[i];
		size_t room;

		r->userspace_addr = rnd_uaddr(f, &room);
		r->memory_size = one_in(8) ? rnd() : room;
		r->guest_phys_addr = one_in(8) ? rnd() :
				     (uint64_t)(random() % 8) << 16;
		r->flags_padding = one_in(16) ? rnd() : 0;
	}
}

static void fill_features(struct fuzz *f, uint64_t *v)
{
	*v = one_in(8) ? rnd() : rnd() & f->offered;
}

/* The ioctls of the device, and what their argument is. */
enum arg_kind { ARG_NONE, ARG_U64, ARG_INT, ARG_STATE, ARG_ADDR, ARG_FILE,
		ARG_MEM, ARG_STATS };

static const struct {
	unsigned long cmd;
	enum arg_kind kind;
} cmds[] = {
	{ VHOST_GET_FEATURES, ARG_U64 },
	{ VHOST_SET_FEATURES, ARG_U64 },
	{ VHOST_GET_BACKEND_FEATURES, ARG_U64 },
	{ VHOST_SET_BACKEND_FEATURES, ARG_U64 },
	{ VHOST_SET_OWNER, ARG_NONE },
	{ VHOST_RESET_OWNER, ARG_NONE },
	{ VHOST_SET_MEM_TABLE, ARG_MEM },
	{ VHOST_SET_LOG_BASE, ARG_U64 },
	{ VHOST_SET_LOG_FD, ARG_INT },
	{ VHOST_SET_VRING_NUM, ARG_STATE },
	{ VHOST_SET_VRING_ADDR, ARG_ADDR },
	{ VHOST_SET_VRING_BASE, ARG_STATE },
	{ VHOST_GET_VRING_BASE, ARG_STATE },
	{ VHOST_SET_VRING_KICK, ARG_FILE },
	{ VHOST_SET_VRING_CALL, ARG_FILE },
	{ VHOST_SET_VRING_ERR, ARG_FILE },
	{ VHOST_SET_VRING_ENDIAN, ARG_STATE },
	{ VHOST_GET_VRING_ENDIAN, ARG_STATE },
	{ VHOST_SET_VRING_BUSYLOOP_TIMEOUT, ARG_STATE },
	{ VHOST_GET_VRING_BUSYLOOP_TIMEOUT, ARG_STATE },
	{ VHOST_NET_SET_BACKEND, ARG_FILE },
	{ KVNET_GET_VRING_STATS, ARG_STATS },
};

/* A pointer the kernel cannot use, or that ends in an unmapped page. */
static void *bad_pointer(struct fuzz *f, unsigned long cmd)
{
	switch (random() % 4) {
	case 0:
		return NULL;
	case 1:
		return (void *)KVNET_KERNEL_ADDR;
	case 2:
		return f->hole + random() % KVNET_PAGE_SIZE;
	default:
		/* Only the first bytes are there. */
		return f->arg + FUZZ_ARG_SIZE -
		       1 - random() % (_IOC_SIZE(cmd) ?: 1);
	}
}

static void random_ioctl(struct fuzz *f, int fd)
{
	unsigned int c = random() % ARRAY_SIZE(cmds), i;
	unsigned long cmd = cmds[c].cmd;
	void *arg = f->arg;

	if (one_in(50)) {
		/* Someone else's command, or a made-up one. */
		cmd = one_in(2) ? (unsigned long)(uint32_t)rnd() :
		      _IOC(random() % 4, random() % 2 ? VHOST_VIRTIO :
			   KVNET_IOC_MAGIC, random() % 256, random() % 256);
	}
	if (one_in(4)) {
		/* Garbage of the right size. */
		for (i = 0; i < 64; i++)
			((uint64_t *)f->arg)[i] = rnd();
	} else {
		memset(f->arg, 0, 512);
		switch (cmds[c].kind) {
		case ARG_NONE:
			arg = NULL;
			break;
		case ARG_U64:
			fill_features(f, (uint64_t *)f->arg);
			break;
		case ARG_INT:
			*(int *)f->arg = rnd_fd(f);
			break;
		case ARG_STATE:
			fill_state((void *)f->arg);
			break;
		case ARG_ADDR:
			fill_addr(f, (void *)f->arg);
			break;
		case ARG_FILE:
			((struct vhost_vring_file *)f->arg)->index = rnd_index();
			((struct vhost_vring_file *)f->arg)->fd = rnd_fd(f);
			break;
		case ARG_MEM:
			fill_mem_table(f, (void *)f->arg);
			break;
		case ARG_STATS:
			((struct kvnet_vring_stats *)f->arg)->index = rnd_index();
			((struct kvnet_vring_stats *)f->arg)->flags =
				one_in(8) ? rnd() : 0;
			break;
		}
	}
	if (one_in(16))
		arg = bad_pointer(f, cmd);

	f->ioctls++;
	if (!ioctl(fd, cmd, arg))
		f->ok++;
}

/* Scribble on the guest memory: rings with random indexes and descriptors. */
static void scribble(struct fuzz *f)
{
	struct kvnet_guest_mem *m = &f->mem[random() % 2];
	size_t off = random() % (m->size - 64);
	unsigned int i;

	for (i = 0; i < 8; i++)
		((uint64_t *)((char *)m->hva + (off & ~7UL)))[i] = rnd();
}

static int dev_slot(void)
{
	return random() % FUZZ_DEVS;
}

/* A child on the inherited fds: another mm, so mostly refusals. */
static void fuzz_child(struct fuzz *f, unsigned int seed)
{
	unsigned int i, n = 1 + random() % 16;

	srandom(seed);
	for (i = 0; i < n; i++) {
		int fd = f->devs[dev_slot()];

		/* Now and then it steals a device nobody owns. */
		if (one_in(16))
			ioctl(fd, VHOST_SET_OWNER, NULL);
		else
			random_ioctl(f, fd);
	}
	if (one_in(2))
		close(f->devs[dev_slot()]);
	_exit(0);
}

/*
 * A valid setup of one queue, from wherever the device is: random calls
 * alone seldom get a queue running, and a running queue is where the
 * interesting refusals (and a data path) are.
 */
static void guided_setup(struct fuzz *f, int fd)
{
	struct kvnet_dev d = { .fd = fd, .mem = f->mem[random() % 2] };
	unsigned int q = random() % KVNET_NUM_VQS, i;
	struct vhost_memory *t;
	const char *failed;

	for (i = 0; i < KVNET_NUM_VQS; i++) {
		d.kick[i] = f->eventfds[random() % FUZZ_EVENTFDS];
		d.call[i] = f->eventfds[random() % FUZZ_EVENTFDS];
	}
	ioctl(fd, VHOST_SET_OWNER, NULL);
	t = kvnet_mem_table_of(&d.mem);
	if (t)
		ioctl(fd, VHOST_SET_MEM_TABLE, t);
	free(t);
	__kvnet_dev_setup_ring(&d, q, &failed);
	if (!__kvnet_set_backend(fd, q, f->backends[random() % f->nbackends]))
		f->started++;
}

static void fuzz_step(struct __test_metadata *_metadata, struct fuzz *f)
{
	unsigned int r = random() % 100;
	int slot = dev_slot();
	pid_t pid;

	if (r < 75) {
		random_ioctl(f, f->devs[slot]);
	} else if (r < 80) {
		guided_setup(f, f->devs[slot]);
	} else if (r < 83) {
		ioctl(f->devs[slot], one_in(2) ? VHOST_SET_OWNER :
			VHOST_RESET_OWNER, NULL);
	} else if (r < 90) {
		kvnet_eventfd_signal(f->eventfds[random() % FUZZ_EVENTFDS]);
	} else if (r < 94) {
		scribble(f);
	} else if (r < 96) {
		/* The device may keep the old eventfd, we get a new one. */
		slot = random() % FUZZ_EVENTFDS;
		close(f->eventfds[slot]);
		f->eventfds[slot] = kvnet_eventfd();
	} else if (r < 98) {
		close(f->devs[slot]);
		f->devs[slot] = kvnet_open_dev(f->path);
		f->reopens++;
	} else {
		unsigned int seed = random();

		fflush(NULL);
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid)
			fuzz_child(f, seed);
		ASSERT_EQ(pid, waitpid(pid, NULL, 0));
		f->forks++;
	}
}

static void add_other(struct __test_metadata *_metadata, struct fuzz *f,
		      int fd, const char *what)
{
	ASSERT_LE(0, fd) TH_LOG("%s: %s", what, strerror(errno));
	ASSERT_LT(f->nothers, ARRAY_SIZE(f->others));
	f->others[f->nothers++] = fd;
}

static void add_backend(struct __test_metadata *_metadata, struct fuzz *f,
			int fd, const char *what)
{
	add_other(_metadata, f, fd, what);
	ASSERT_LT(f->nbackends, ARRAY_SIZE(f->backends));
	f->backends[f->nbackends++] = fd;
}

FIXTURE_SETUP(fuzz)
{
	struct fuzz *f = &self->f;
	char name[IFNAMSIZ], err[256];
	int pipefd[2], i;

	memset(f, 0, sizeof(*f));
	f->path = variant->path;
	f->macvtap.fd = -1;
	for (i = 0; i < FUZZ_DEVS; i++)
		f->devs[i] = kvnet_open_dev(variant->path);
	for (i = 0; i < FUZZ_EVENTFDS; i++)
		f->eventfds[i] = kvnet_eventfd();
	kvnet_ioctl(f->devs[0], VHOST_GET_FEATURES, &f->offered);

	kvnet_enter_netns();
	add_backend(_metadata, f, __kvnet_tap_create(KVNET_TAP_FLAGS, "kvt%d", name),
		    "tap");
	add_backend(_metadata, f, __kvnet_tap_create(KVNET_TAP_FLAGS, "kvt%d", name),
		    "second tap");
	add_other(_metadata, f, __kvnet_tap_create(IFF_TUN | IFF_NO_PI, "kvtun%d",
						   name), "tun");
	/* Opened, never attached to a tun device. */
	add_other(_metadata, f, open("/dev/net/tun", O_RDWR | O_CLOEXEC),
		  "/dev/net/tun");
	if (!__kvnet_macvtap_create(&f->macvtap, err, sizeof(err)))
		add_backend(_metadata, f, f->macvtap.fd, "macvtap");
	else
		TH_LOG("no macvtap in the mix: %s", err);
	ASSERT_EQ(0, pipe2(pipefd, O_CLOEXEC));
	add_other(_metadata, f, pipefd[0], "pipe");
	add_other(_metadata, f, pipefd[1], "pipe");
	add_other(_metadata, f, socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0),
		  "UDP socket");
	add_other(_metadata, f, socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC,
				       htons(ETH_P_ALL)), "packet socket");
	add_other(_metadata, f, __kvnet_regular_file(), "memfd");

	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, __kvnet_guest_mem_alloc(&f->mem[i], i << 20,
						     FUZZ_MEM_SIZE, true));
	f->hole = mmap(NULL, FUZZ_MEM_SIZE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, f->hole);
	f->arg = mmap(NULL, FUZZ_ARG_SIZE + KVNET_PAGE_SIZE,
		      PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, f->arg);
	ASSERT_EQ(0, mprotect(f->arg + FUZZ_ARG_SIZE, KVNET_PAGE_SIZE,
			      PROT_NONE));
}

static void close_all(struct fuzz *f)
{
	unsigned int i;

	for (i = 0; i < FUZZ_DEVS; i++) {
		if (f->devs[i] >= 0)
			close(f->devs[i]);
		f->devs[i] = -1;
	}
	for (i = 0; i < FUZZ_EVENTFDS; i++) {
		if (f->eventfds[i] >= 0)
			close(f->eventfds[i]);
		f->eventfds[i] = -1;
	}
	for (i = 0; i < f->nothers; i++)
		if (f->others[i] != f->macvtap.fd)
			close(f->others[i]);
	f->nothers = f->nbackends = 0;
	kvnet_macvtap_destroy(&f->macvtap);
}

FIXTURE_TEARDOWN(fuzz)
{
	close_all(&self->f);
}

TEST_F_TIMEOUT(fuzz, random_ioctls, FUZZ_TIMEOUT)
{
	struct fuzz *f = &self->f;
	long long seconds = variant->seconds, refcnt0;
	int workers0;
	unsigned int seed = getenv("KVNET_SEED") ?
			    (unsigned int)atoi(getenv("KVNET_SEED")) :
			    (unsigned int)(time(NULL) ^ getpid());
	char tap_name[IFNAMSIZ];
	struct kvnet_dev dev;
	uint64_t deadline;
	int tap;

	if (getenv("KVNET_FUZZ_SECONDS"))
		seconds = atoll(getenv("KVNET_FUZZ_SECONDS"));
	ASSERT_LT(seconds, FUZZ_TIMEOUT - 30)
		TH_LOG("KVNET_FUZZ_SECONDS must leave time for the checks");
	TH_LOG("seed %u (repeat with KVNET_SEED=%u), %lld s", seed, seed, seconds);
	srandom(seed);
	/* Ours are open: the baseline counts them. */
	refcnt0 = kvnet_module_refcnt(variant->module) - FUZZ_DEVS;
	/* Children become owners too: count every worker, whoever's. */
	workers0 = kvnet_count_threads(variant->worker);

	deadline = kvnet_now_ms() + seconds * 1000;
	while (kvnet_now_ms() < deadline) {
		unsigned int i;

		for (i = 0; i < 32; i++)
			fuzz_step(_metadata, f);
	}
	TH_LOG("%llu ioctls (%llu succeeded), %llu queues started, %llu forks, %llu reopens",
	       f->ioctls, f->ok, f->started, f->forks, f->reopens);
	EXPECT_LT(0ULL, f->ok) TH_LOG("nothing ever succeeded: a useless run");

	/* Everything goes back ... */
	close_all(f);
	EXPECT_TRUE(kvnet_wait_until(kvnet_count_threads(variant->worker) ==
				     workers0, 10000))
		TH_LOG("%d %s* workers after closing everything, %d before",
		       kvnet_count_threads(variant->worker), variant->worker,
		       workers0);
	EXPECT_TRUE(kvnet_wait_until(kvnet_module_refcnt(variant->module) ==
				     refcnt0, 10000))
		TH_LOG("refcnt %lld, expected %lld",
		       kvnet_module_refcnt(variant->module), refcnt0);

	/* ... and a new device still works. */
	kvnet_dev_setup(&dev, variant->path);
	tap = kvnet_tap_create(tap_name);
	kvnet_set_backend(dev.fd, 0, tap);
	kvnet_set_backend(dev.fd, 1, tap);
	if (variant->kvnet)
		EXPECT_KICK_SERVED(dev.fd, 1, dev.kick[1], "after the fuzzing");
	kvnet_dev_close(&dev);
	close(tap);
}

KVNET_HARNESS_MAIN
