// SPDX-License-Identifier: GPL-2.0
/*
 * Device lifetime: who may use a device (the owner's address space only),
 * what RESET_OWNER and close() give back, and that nothing is left behind
 * by thousands of opens, by an owner killed with everything attached, or
 * by the module itself (rmmod is refused while a device is open).
 *
 * Runs against /dev/kvnet and /dev/vhost-net, the reference, except the
 * rmmod test, which needs KVNET_KO to put kvnet back.
 */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kvnet_harness.h"
#include "kvnet_util.h"

FIXTURE(lifecycle) {
	struct kvnet_dev dev;
	int tap;
	char tap_name[IFNAMSIZ];
};

FIXTURE_VARIANT(lifecycle) {
	const char *path;
	const char *module;	/* its refcnt counts the open devices */
	const char *worker;	/* worker comm: this prefix + the owner's tgid */
	bool kvnet;
	/* The open/close storm: at most this long, at least this many opens. */
	int storm_seconds;
	int storm_min_opens;
	/*
	 * [kvnet] A process with another mm gets EPERM for every ioctl;
	 * vhost lets GET/SET_(BACKEND_)FEATURES through and answers
	 * SET_OWNER with EBUSY.
	 */
	bool foreign_features_ok;
};

FIXTURE_VARIANT_ADD(lifecycle, kvnet) {
	.path = KVNET_DEV_PATH,
	.module = "kvnet",
	.worker = "kvnet-",
	.kvnet = true,
	.storm_seconds = 25,
	.storm_min_opens = 500,
	.foreign_features_ok = false,
};

FIXTURE_VARIANT_ADD(lifecycle, vhost_net) {
	.path = VHOST_NET_DEV_PATH,
	.module = "vhost_net",
	.worker = "vhost-",
	.kvnet = false,
	/* vhost-net's release waits for RCU grace periods: slow under TCG. */
	.storm_seconds = 8,
	.storm_min_opens = 100,
	.foreign_features_ok = true,
};

/* How long the kernel gets to release something, in ms. */
#define RELEASE_TIMEOUT_MS	10000
/*
 * /proc/sys/fs/file-nr reads a per-CPU counter without summing it: each
 * CPU may hold up to a batch (max(32, 2 * CPUs)) uncounted, either way,
 * so two readings may differ by twice that per CPU with nothing changed.
 */
static long long file_nr_slack(void)
{
	long long cpus = sysconf(_SC_NPROCESSORS_CONF);
	long long batch = 2 * cpus > 32 ? 2 * cpus : 32;

	return 2 * batch * cpus;
}

FIXTURE_SETUP(lifecycle)
{
	self->dev.fd = -1;
	self->tap = -1;
	if (access(variant->path, F_OK))
		KVNET_SKIP("%s: %s (module not loaded?)", variant->path,
			   strerror(errno));
	kvnet_enter_netns();
}

FIXTURE_TEARDOWN(lifecycle)
{
	kvnet_dev_close(&self->dev);
	if (self->tap >= 0)
		close(self->tap);
}

static const char *worker_name(const FIXTURE_VARIANT(lifecycle) *variant,
			       pid_t owner)
{
	return kvnet_fmt("%s%d", variant->worker, owner);
}

static bool link_exists(const char *name)
{
	return if_nametoindex(name) != 0;
}

/* A configured device with the fixture's tap on both queues. */
static void start(struct __test_metadata *_metadata,
		  FIXTURE_DATA(lifecycle) *self,
		  const FIXTURE_VARIANT(lifecycle) *variant)
{
	kvnet_dev_setup(&self->dev, variant->path);
	if (self->tap < 0)
		self->tap = kvnet_tap_create(self->tap_name);
	kvnet_set_backend(self->dev.fd, 0, self->tap);
	kvnet_set_backend(self->dev.fd, 1, self->tap);
}

/*
 * SET_OWNER from a process that is not the owner of an owned device:
 * vhost says EBUSY. The contract says both "every ioctl from another mm:
 * EPERM [kvnet]" and "second SET_OWNER (same fd or another process):
 * EBUSY", so kvnet may give either refusal.
 */
static bool owned_errno_ok(const FIXTURE_VARIANT(lifecycle) *variant, int err)
{
	return err == EBUSY || (err == EPERM && !variant->foreign_features_ok);
}

static pid_t wait_child(struct __test_metadata *_metadata, pid_t pid)
{
	int status;

	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("child status %#x", status);
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("child failed");
	return pid;
}

/* ---- the owner's mm only ----------------------------------------------- */

TEST_F(lifecycle, foreign_mm)
{
	struct kvnet_call calls[KVNET_MAX_CALLS];
	struct kvnet_valid_args args;
	struct vhost_vring_state num = { 0, KVNET_DEV_RING_NUM };
	unsigned int i, n;
	int *errs, efd;
	pid_t pid;

	start(_metadata, self, variant);
	efd = kvnet_eventfd();
	n = kvnet_valid_calls(&self->dev, efd, &args, calls);
	errs = mmap(NULL, n * sizeof(*errs), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, errs);

	/* The child inherits the fd: a process with another mm. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		for (i = 0; i < n; i++)
			errs[i] = kvnet_call_errno(&calls[i], self->dev.fd);
		close(self->dev.fd);
		_exit(0);
	}
	wait_child(_metadata, pid);

	for (i = 0; i < n; i++) {
		bool ok = errs[i] == EPERM;
		const char *want = "EPERM";

		if (variant->foreign_features_ok &&
		    calls[i].cmd == VHOST_SET_OWNER) {
			ok = errs[i] == EBUSY;
			want = "EBUSY";
		} else if (variant->foreign_features_ok &&
			   (calls[i].flags & KVNET_CALL_NO_OWNER)) {
			ok = errs[i] == 0;
			want = "success";
		} else if (calls[i].cmd == VHOST_SET_OWNER) {
			ok = owned_errno_ok(variant, errs[i]);
			want = "EPERM or EBUSY";
		}
		EXPECT_TRUE(ok) TH_LOG("%s from a forked child: expected %s, got %s",
				       calls[i].name, want,
				       kvnet_errname(errs[i]));
	}

	/* The owner is unaffected, its queues still run. */
	EXPECT_EQ(1, kvnet_count_comm(worker_name(variant, getpid())));
	EXPECT_IOCTL_ERRNO(EBUSY, self->dev.fd, VHOST_SET_VRING_NUM, &num,
			   "q0 still running");
	EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_SET_VRING_CALL, &args.efd);

	/* A child that just exits (closing its copy) changes nothing either. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(0);
	wait_child(_metadata, pid);
	EXPECT_EQ(1, kvnet_count_comm(worker_name(variant, getpid())));
	EXPECT_IOCTL_ERRNO(EBUSY, self->dev.fd, VHOST_SET_VRING_NUM, &num,
			   "after the child exited");
	if (variant->kvnet)
		EXPECT_KICK_SERVED(self->dev.fd, 1, self->dev.kick[1], "after the children");

	munmap(errs, n * sizeof(*errs));
	kvnet_valid_calls_free(&args);
	close(efd);
}

/* A child may become the owner; the device then answers it alone, even dead. */
TEST_F(lifecycle, owner_is_an_mm)
{
	int to_parent[2], to_child[2], err;
	struct vhost_memory *t;
	char c = 0;
	pid_t pid;

	kvnet_dev_open(&self->dev, variant->path);
	t = kvnet_mem_table_of(&self->dev.mem);
	ASSERT_EQ(0, pipe(to_parent));
	ASSERT_EQ(0, pipe(to_child));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		err = __kvnet_ioctl_noarg(self->dev.fd, VHOST_SET_OWNER);
		/* Stay alive until the parent has looked. */
		if (write(to_parent[1], &c, 1) != 1 ||
		    read(to_child[0], &c, 1) != 1)
			_exit(2);
		_exit(err ? 1 : 0);
	}
	ASSERT_EQ(1, read(to_parent[0], &c, 1));
	EXPECT_EQ(1, kvnet_count_comm(worker_name(variant, pid)))
		TH_LOG("no worker %s for the child owner", worker_name(variant, pid));
	EXPECT_IOCTL_ERRNO(EPERM, self->dev.fd, VHOST_SET_MEM_TABLE, t,
			   "the parent, while the child owns it");
	err = kvnet_ioctl_noarg_errno(self->dev.fd, VHOST_SET_OWNER);
	EXPECT_TRUE(owned_errno_ok(variant, err))
		TH_LOG("SET_OWNER of a device the child owns: %s",
		       kvnet_errname(err));
	ASSERT_EQ(1, write(to_child[1], &c, 1));
	wait_child(_metadata, pid);

	/* The owner is gone, its mm with it: still nobody else's device. */
	EXPECT_IOCTL_ERRNO(EPERM, self->dev.fd, VHOST_SET_MEM_TABLE, t,
			   "after the owner exited");
	/* Our close is the last reference: it ends the dead owner's worker. */
	kvnet_dev_close(&self->dev);
	EXPECT_TRUE(kvnet_wait_until(
		!kvnet_count_comm(worker_name(variant, pid)), RELEASE_TIMEOUT_MS))
		TH_LOG("worker %s outlived the last close", worker_name(variant, pid));
	free(t);
	close(to_parent[0]);
	close(to_parent[1]);
	close(to_child[0]);
	close(to_child[1]);
}

/* ---- RESET_OWNER ----------------------------------------------------------- */

TEST_F(lifecycle, reset_owner)
{
	struct vhost_vring_state busyloop = { 1, 777 };
	struct kvnet_call calls[KVNET_MAX_CALLS];
	struct kvnet_valid_args args;
	struct kvnet_vring_stats stats;
	const char *worker = worker_name(variant, getpid());
	int old_kick[KVNET_NUM_VQS], efd, err;
	unsigned int i, n, q;
	pid_t pid;

	start(_metadata, self, variant);
	kvnet_ioctl(self->dev.fd, VHOST_SET_VRING_BUSYLOOP_TIMEOUT, &busyloop);
	if (variant->kvnet)
		EXPECT_KICK_SERVED(self->dev.fd, 0, self->dev.kick[0], "before the reset");
	/* The device holds the only reference to the tap now. */
	close(self->tap);
	self->tap = -1;
	ASSERT_TRUE(link_exists(self->tap_name))
		TH_LOG("tap %s vanished while attached", self->tap_name);
	ASSERT_EQ(1, kvnet_count_comm(worker));

	kvnet_ioctl_noarg(self->dev.fd, VHOST_RESET_OWNER);
	EXPECT_TRUE(kvnet_wait_until(!kvnet_count_comm(worker), RELEASE_TIMEOUT_MS))
		TH_LOG("worker %s survived RESET_OWNER", worker);
	EXPECT_TRUE(kvnet_wait_until(!link_exists(self->tap_name),
				     RELEASE_TIMEOUT_MS))
		TH_LOG("tap %s: RESET_OWNER kept the backend", self->tap_name);

	/* As freshly opened: everything but the owner-less calls is EPERM. */
	efd = kvnet_eventfd();
	n = kvnet_valid_calls(&self->dev, efd, &args, calls);
	for (i = 0; i < n; i++) {
		int err;

		if (calls[i].flags & KVNET_CALL_NO_OWNER)
			continue;
		err = kvnet_call_errno(&calls[i], self->dev.fd);
		EXPECT_EQ(EPERM, err) TH_LOG("%s after RESET_OWNER: expected EPERM, got %s",
					     calls[i].name, kvnet_errname(err));
	}

	/* SET_OWNER works again, with a new worker. */
	kvnet_ioctl_noarg(self->dev.fd, VHOST_SET_OWNER);
	EXPECT_EQ(1, kvnet_count_comm(worker));
	busyloop.num = 0xdead;
	kvnet_ioctl(self->dev.fd, VHOST_GET_VRING_BUSYLOOP_TIMEOUT, &busyloop);
	EXPECT_EQ(0U, busyloop.num) TH_LOG("queue state survived RESET_OWNER");

	if (variant->kvnet) {
		/* The counters start again from the reset. */
		for (q = 0; q < KVNET_NUM_VQS; q++) {
			kvnet_get_stats(self->dev.fd, q, &stats);
			EXPECT_EQ(0ULL, stats.kicks) TH_LOG("q%u", q);
			EXPECT_EQ(0ULL, stats.handler_runs) TH_LOG("q%u", q);
		}
		/* New eventfds: the old kick is no longer attached. */
		EXPECT_IOCTL_ERRNO(0, self->dev.fd, VHOST_SET_MEM_TABLE,
				   args.table);
		for (q = 0; q < KVNET_NUM_VQS; q++) {
			old_kick[q] = self->dev.kick[q];
			self->dev.kick[q] = -1;
			kvnet_dev_setup_ring(&self->dev, q);
		}
		ASSERT_EQ(0, kvnet_eventfd_signal(old_kick[0]));
		kvnet_sleep_ms(300);
		kvnet_get_stats(self->dev.fd, 0, &stats);
		EXPECT_EQ(0ULL, stats.kicks) TH_LOG("the old kick eventfd still kicks");
		EXPECT_KICK_SERVED(self->dev.fd, 0, self->dev.kick[0], "new kick eventfd");
		for (q = 0; q < KVNET_NUM_VQS; q++)
			close(old_kick[q]);
	}

	/* After another reset, any process may become the owner. */
	kvnet_ioctl_noarg(self->dev.fd, VHOST_RESET_OWNER);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(__kvnet_ioctl_noarg(self->dev.fd, VHOST_SET_OWNER) ? 1 : 0);
	wait_child(_metadata, pid);
	err = kvnet_ioctl_noarg_errno(self->dev.fd, VHOST_SET_OWNER);
	EXPECT_TRUE(owned_errno_ok(variant, err))
		TH_LOG("SET_OWNER after the child took it: %s", kvnet_errname(err));
	kvnet_valid_calls_free(&args);
	close(efd);
}

/* ---- close() --------------------------------------------------------------- */

TEST_F_TIMEOUT(lifecycle, close_releases_everything, 120)
{
	const char *worker = worker_name(variant, getpid());
	long long files0, refcnt0, files;
	/* Enough that their kick eventfds alone stand out of the noise. */
	int n = file_nr_slack(), i;
	struct kvnet_dev *devs = calloc(n, sizeof(*devs));
	unsigned int q;

	files0 = kvnet_file_nr();
	refcnt0 = kvnet_module_refcnt(variant->module);
	ASSERT_LE(0, refcnt0) TH_LOG("no /sys/module/%s/refcnt", variant->module);
	ASSERT_NE(NULL, devs);
	ASSERT_EQ(0, kvnet_count_comm(worker));

	self->tap = kvnet_tap_create(self->tap_name);
	for (i = 0; i < n; i++) {
		kvnet_dev_setup(&devs[i], variant->path);
		kvnet_set_backend(devs[i].fd, 0, self->tap);
		kvnet_set_backend(devs[i].fd, 1, self->tap);
		/* The device keeps what it needs of the eventfds. */
		for (q = 0; q < KVNET_NUM_VQS; q++) {
			close(devs[i].kick[q]);
			close(devs[i].call[q]);
			devs[i].kick[q] = devs[i].call[q] = -1;
		}
	}
	close(self->tap);
	self->tap = -1;

	EXPECT_EQ(refcnt0 + n, kvnet_module_refcnt(variant->module))
		TH_LOG("refcnt should count the open devices");
	EXPECT_EQ(n, kvnet_count_comm(worker))
		TH_LOG("one worker %s per owned device", worker);
	EXPECT_TRUE(link_exists(self->tap_name))
		TH_LOG("tap %s vanished while attached", self->tap_name);
	TH_LOG("file-nr %lld -> %lld with %d devices open", files0,
	       kvnet_file_nr(), n);

	for (i = 0; i < n; i++)
		kvnet_dev_close(&devs[i]);
	free(devs);

	EXPECT_TRUE(kvnet_wait_until(kvnet_module_refcnt(variant->module) ==
				     refcnt0, RELEASE_TIMEOUT_MS))
		TH_LOG("refcnt %lld, was %lld", kvnet_module_refcnt(variant->module),
		       refcnt0);
	EXPECT_TRUE(kvnet_wait_until(!kvnet_count_comm(worker), RELEASE_TIMEOUT_MS))
		TH_LOG("%d workers %s left", kvnet_count_comm(worker), worker);
	EXPECT_TRUE(kvnet_wait_until(!link_exists(self->tap_name),
				     RELEASE_TIMEOUT_MS))
		TH_LOG("tap %s outlived the devices", self->tap_name);
	EXPECT_TRUE(kvnet_wait_until((files = kvnet_file_nr()) <=
				     files0 + file_nr_slack(), RELEASE_TIMEOUT_MS))
		TH_LOG("file-nr %lld, was %lld", files, files0);
}

/* ---- thousands of opens ------------------------------------------------------ */

struct storm_sample {
	long long avail_kb, sunreclaim_kb, files, refcnt;
	int workers;
};

/* Drop what the kernel would reclaim anyway, then sample. */
static void storm_sample(const FIXTURE_VARIANT(lifecycle) *variant,
			 const char *worker, struct storm_sample *s)
{
	int ret;

	sync();
	ret = kvnet_write_file("/proc/sys/vm/drop_caches", "3");
	if (ret && ret != -ENOENT)
		fprintf(stderr, "drop_caches: %s\n", strerror(-ret));
	kvnet_sleep_ms(200);
	s->avail_kb = kvnet_meminfo_kb("MemAvailable");
	s->sunreclaim_kb = kvnet_meminfo_kb("SUnreclaim");
	s->files = kvnet_file_nr();
	s->refcnt = kvnet_module_refcnt(variant->module);
	s->workers = kvnet_count_comm(worker);
}

/*
 * One open with a random part of a real setup, then close. Errors are
 * ignored: what matters is that whatever was set up is released.
 */
static void storm_one(const FIXTURE_VARIANT(lifecycle) *variant,
		      struct kvnet_dev *tmpl, const int taps[2])
{
	int depth = random() % 6, q = random() % KVNET_NUM_VQS;
	const char *failed;
	unsigned int i;

	tmpl->fd = __kvnet_open_dev(variant->path);
	if (tmpl->fd < 0)
		return;
	if (depth == 1)
		__kvnet_ioctl_noarg(tmpl->fd, VHOST_SET_OWNER);
	if (depth >= 2)
		__kvnet_dev_own(tmpl, &failed);
	if (depth >= 3)
		__kvnet_dev_setup_ring(tmpl, q, &failed);
	if (depth >= 4)
		__kvnet_set_backend(tmpl->fd, q, taps[random() % 2]);
	if (depth >= 5)
		kvnet_eventfd_signal(tmpl->kick[q]);

	/* Our eventfds go before or after the device. */
	if (random() % 2) {
		close(tmpl->fd);
		tmpl->fd = -1;
	}
	for (i = 0; i < KVNET_NUM_VQS; i++) {
		if (tmpl->kick[i] >= 0)
			close(tmpl->kick[i]);
		if (tmpl->call[i] >= 0)
			close(tmpl->call[i]);
		tmpl->kick[i] = tmpl->call[i] = -1;
	}
	if (tmpl->fd >= 0)
		close(tmpl->fd);
	tmpl->fd = -1;
}

TEST_F_TIMEOUT(lifecycle, open_close_storm, 150)
{
	const char *worker = worker_name(variant, getpid());
	long long iters = 3000, seconds = variant->storm_seconds, done;
	unsigned int seed = getenv("KVNET_SEED") ?
			    (unsigned int)atoi(getenv("KVNET_SEED")) :
			    (unsigned int)(time(NULL) ^ getpid());
	struct storm_sample before, after;
	char name[IFNAMSIZ];
	uint64_t deadline;
	int taps[2];

	if (getenv("KVNET_STORM_ITERS"))
		iters = atoll(getenv("KVNET_STORM_ITERS"));
	if (getenv("KVNET_STORM_SECONDS"))
		seconds = atoll(getenv("KVNET_STORM_SECONDS"));
	srandom(seed);
	TH_LOG("seed %u (KVNET_SEED), up to %lld opens in %lld s", seed, iters,
	       seconds);

	kvnet_dev_open(&self->dev, variant->path);
	close(self->dev.fd);
	self->dev.fd = -1;
	taps[0] = kvnet_tap_create(name);
	taps[1] = kvnet_tap_create(name);

	/* Warm the slab caches up before the baseline. */
	for (done = 0; done < 100; done++)
		storm_one(variant, &self->dev, taps);
	ASSERT_TRUE(kvnet_wait_until(!kvnet_count_comm(worker), RELEASE_TIMEOUT_MS));
	storm_sample(variant, worker, &before);

	deadline = kvnet_now_ms() + seconds * 1000;
	for (done = 0; done < iters && kvnet_now_ms() < deadline; done++)
		storm_one(variant, &self->dev, taps);

	EXPECT_TRUE(kvnet_wait_until(!kvnet_count_comm(worker), RELEASE_TIMEOUT_MS))
		TH_LOG("%d workers %s left", kvnet_count_comm(worker), worker);
	EXPECT_TRUE(kvnet_wait_until(kvnet_module_refcnt(variant->module) ==
				     before.refcnt, RELEASE_TIMEOUT_MS));
	storm_sample(variant, worker, &after);

	TH_LOG("%lld opens: MemAvailable %lld -> %lld kB, SUnreclaim %lld -> %lld kB, file-nr %lld -> %lld",
	       done, before.avail_kb, after.avail_kb, before.sunreclaim_kb,
	       after.sunreclaim_kb, before.files, after.files);
	ASSERT_LE(variant->storm_min_opens, done)
		TH_LOG("too few opens to see a leak");
	EXPECT_EQ(before.refcnt, after.refcnt);
	EXPECT_EQ(0, after.workers);
	EXPECT_LE(after.files, before.files + file_nr_slack());
	/*
	 * The noise measured in the test VM is about 100 kB either way. A
	 * device leaked per open is more than 512 bytes a time (a worker
	 * much more): allow 1 MiB plus 64 bytes an open.
	 */
	EXPECT_LE(after.sunreclaim_kb, before.sunreclaim_kb + 1024 + done / 16)
		TH_LOG("unreclaimable slab grew by %lld kB",
		       after.sunreclaim_kb - before.sunreclaim_kb);
	/* Pages (a kernel stack, pinned guest memory) leak 4 kB at a time. */
	EXPECT_GE(after.avail_kb, before.avail_kb - 4096 - done / 4)
		TH_LOG("MemAvailable fell by %lld kB",
		       before.avail_kb - after.avail_kb);
	close(taps[0]);
	close(taps[1]);
}

/* ---- an owner killed with everything attached ------------------------------ */

#define KILL_MEM_SIZE	(128UL << 20)

TEST_F_TIMEOUT(lifecycle, kill_owner, 120)
{
	long long avail0, refcnt0, avail;
	char tap_name[IFNAMSIZ] = "";
	const char *worker;
	int ready[2];
	pid_t pid;

	refcnt0 = kvnet_module_refcnt(variant->module);
	avail0 = kvnet_meminfo_kb("MemAvailable");
	ASSERT_EQ(0, pipe(ready));

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct kvnet_dev dev;
		struct vhost_memory *t;
		const char *failed;
		int tap;

		/* A big, touched guest memory, rings in it, a tap attached. */
		tap = __kvnet_tap_create(KVNET_TAP_FLAGS, "kvt%d", tap_name);
		if (tap < 0 || __kvnet_dev_setup(&dev, variant->path, &failed))
			_exit(1);
		if (__kvnet_guest_mem_alloc(&dev.mem, 1ULL << 32, KILL_MEM_SIZE,
					    true))
			_exit(2);
		t = kvnet_mem_table_of(&dev.mem);
		if (!t || __kvnet_ioctl(dev.fd, VHOST_SET_MEM_TABLE, t) ||
		    __kvnet_dev_setup_ring(&dev, 0, &failed) ||
		    __kvnet_dev_setup_ring(&dev, 1, &failed) ||
		    __kvnet_set_backend(dev.fd, 0, tap) ||
		    __kvnet_set_backend(dev.fd, 1, tap))
			_exit(3);
		if (write(ready[1], tap_name, IFNAMSIZ) != IFNAMSIZ)
			_exit(4);
		for (;;)
			pause();
	}
	close(ready[1]);
	ASSERT_EQ(IFNAMSIZ, read(ready[0], tap_name, IFNAMSIZ))
		TH_LOG("the child failed to set up its device");
	worker = worker_name(variant, pid);

	/* Everything is there ... */
	EXPECT_EQ(1, kvnet_count_comm(worker));
	EXPECT_TRUE(link_exists(tap_name));
	EXPECT_EQ(refcnt0 + 1, kvnet_module_refcnt(variant->module));
	avail = kvnet_meminfo_kb("MemAvailable");
	EXPECT_GE(avail0 - avail, 96 * 1024)
		TH_LOG("MemAvailable %lld -> %lld kB: the 128 MiB does not show",
		       avail0, avail);

	/* ... until the owner dies. */
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, NULL, 0));

	EXPECT_TRUE(kvnet_wait_until(!kvnet_count_comm(worker), RELEASE_TIMEOUT_MS))
		TH_LOG("worker %s outlived its owner", worker);
	EXPECT_TRUE(kvnet_wait_until(!link_exists(tap_name), RELEASE_TIMEOUT_MS))
		TH_LOG("tap %s outlived its owner", tap_name);
	EXPECT_TRUE(kvnet_wait_until(kvnet_module_refcnt(variant->module) ==
				     refcnt0, RELEASE_TIMEOUT_MS))
		TH_LOG("refcnt %lld, was %lld",
		       kvnet_module_refcnt(variant->module), refcnt0);
	EXPECT_TRUE(kvnet_wait_until((avail = kvnet_meminfo_kb("MemAvailable")) >=
				     avail0 - 32 * 1024, RELEASE_TIMEOUT_MS))
		TH_LOG("MemAvailable %lld kB, was %lld: the owner's memory is held",
		       avail, avail0);
	close(ready[0]);
}

/* ---- the module ---------------------------------------------------------------- */

/* Last in the file: it unloads and reloads kvnet. */
FIXTURE(module) {
	int kofd;
};

FIXTURE_SETUP(module)
{
	const char *ko = getenv("KVNET_KO");

	self->kofd = -1;
	if (!ko || !*ko)
		KVNET_SKIP("KVNET_KO is not set: could not put kvnet back");
	if (access(KVNET_DEV_PATH, F_OK))
		KVNET_SKIP("%s: %s (module not loaded?)", KVNET_DEV_PATH,
			   strerror(errno));
	/* Before anything is unloaded: a wrong path must fail here. */
	self->kofd = open(ko, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, self->kofd) TH_LOG("KVNET_KO=%s: %s", ko, strerror(errno));
}

FIXTURE_TEARDOWN(module)
{
	if (self->kofd >= 0)
		close(self->kofd);
}

static bool module_loaded(void)
{
	return !access("/sys/module/kvnet", F_OK);
}

/*
 * Each open device has a debugfs directory naming its owner, gone at
 * close: the way to watch a device that QEMU owns.
 */
TEST_F(module, debugfs_follows_the_owner)
{
	char dir[PATH_MAX], dir2[PATH_MAX];
	int fd, ret;

	if (access(KVNET_DEV_PATH, F_OK) || access(KVNET_DEBUGFS_PATH, F_OK))
		KVNET_SKIP("no %s or %s", KVNET_DEV_PATH, KVNET_DEBUGFS_PATH);
	ASSERT_EQ(-ENOENT, __kvnet_debugfs_dir(getpid(), dir, sizeof(dir)));
	fd = kvnet_open_dev(KVNET_DEV_PATH);
	kvnet_ioctl_noarg(fd, VHOST_SET_OWNER);
	ret = __kvnet_debugfs_dir(getpid(), dir, sizeof(dir));
	ASSERT_EQ(0, ret) TH_LOG("owned: %s", kvnet_errname(-ret));
	EXPECT_EQ(0, access(kvnet_fmt("%s/rx", dir), R_OK));
	EXPECT_EQ(0, access(kvnet_fmt("%s/tx", dir), R_OK));

	/* Not owned any more: the same directory says 0. */
	kvnet_ioctl_noarg(fd, VHOST_RESET_OWNER);
	EXPECT_EQ(-ENOENT, __kvnet_debugfs_dir(getpid(), dir2, sizeof(dir2)));
	EXPECT_EQ(0LL, kvnet_read_ll(kvnet_fmt("%s/owner", dir)));

	close(fd);
	EXPECT_NE(0, access(dir, F_OK)) TH_LOG("%s outlives the device", dir);
}

TEST_F_TIMEOUT(module, rmmod_refused_while_open, 60)
{
	uint64_t features;
	int fd, ret, err;

	fd = kvnet_open_dev(KVNET_DEV_PATH);
	kvnet_ioctl_noarg(fd, VHOST_SET_OWNER);
	ret = syscall(SYS_delete_module, "kvnet", O_NONBLOCK);
	err = errno;
	ASSERT_EQ(-1, ret) TH_LOG("kvnet unloaded under an open device");
	EXPECT_TRUE(err == EBUSY || err == EWOULDBLOCK)
		TH_LOG("delete_module: expected EBUSY or EWOULDBLOCK, got %s",
		       kvnet_errname(err));
	ASSERT_TRUE(module_loaded());
	EXPECT_IOCTL_ERRNO(0, fd, VHOST_GET_FEATURES, &features,
			   "after the refused rmmod");
	close(fd);

	ASSERT_TRUE(kvnet_wait_until(kvnet_module_refcnt("kvnet") == 0,
				     RELEASE_TIMEOUT_MS))
		TH_LOG("refcnt %lld after the last close",
		       kvnet_module_refcnt("kvnet"));
	ret = syscall(SYS_delete_module, "kvnet", O_NONBLOCK);
	ASSERT_EQ(0, ret) TH_LOG("delete_module after close: %s",
				 kvnet_errname(errno));
	EXPECT_TRUE(kvnet_wait_until(!module_loaded() &&
				     access(KVNET_DEV_PATH, F_OK), 5000))
		TH_LOG("kvnet or %s still there after rmmod", KVNET_DEV_PATH);

	/* Put it back for the tests that follow. */
	ret = syscall(SYS_finit_module, self->kofd, "", 0);
	ASSERT_EQ(0, ret) TH_LOG("finit_module(%s): %s", getenv("KVNET_KO"),
				 kvnet_errname(errno));
	ASSERT_TRUE(kvnet_wait_until(!access(KVNET_DEV_PATH, F_OK), 5000))
		TH_LOG("no %s after re-inserting kvnet", KVNET_DEV_PATH);
	fd = kvnet_open_dev(KVNET_DEV_PATH);
	EXPECT_IOCTL_ERRNO(0, fd, VHOST_GET_FEATURES, &features,
			   "after re-inserting kvnet");
	close(fd);
}

/* Unload kvnet, with every device closed. */
static void unload(struct __test_metadata *_metadata)
{
	ASSERT_TRUE(kvnet_wait_until(kvnet_module_refcnt("kvnet") == 0,
				     RELEASE_TIMEOUT_MS))
		TH_LOG("refcnt %lld", kvnet_module_refcnt("kvnet"));
	ASSERT_EQ(0, syscall(SYS_delete_module, "kvnet", O_NONBLOCK))
		TH_LOG("delete_module: %s", kvnet_errname(errno));
}

/* Load kvnet with @params: 0 or the errno finit_module gave. */
static int load(int kofd, const char *params)
{
	if (syscall(SYS_finit_module, kofd, params, 0))
		return errno;
	return kvnet_wait_until(!access(KVNET_DEV_PATH, F_OK), 5000) ? 0 : ENODEV;
}

/*
 * Every parameter has a description in modinfo and a value in sysfs, and
 * max_mem_regions is range-checked at load and limits SET_MEM_TABLE.
 */
TEST_F_TIMEOUT(module, parameters, 60)
{
	static const char * const params[] = {
		"max_mem_regions", "weight_packets", "weight_bytes",
		"zerocopy_threshold",
	};
	struct kvnet_guest_mem mem;
	struct vhost_memory *table;
	char out[4096], path[128], want[64];
	unsigned int i;
	int fd, err;

	ASSERT_EQ(0, kvnet_run(out, sizeof(out), "modinfo -F parm '%s'",
			       getenv("KVNET_KO")))
		TH_LOG("modinfo failed: %s", out);
	for (i = 0; i < ARRAY_SIZE(params); i++) {
		char *line;

		snprintf(want, sizeof(want), "%s:", params[i]);
		line = strstr(out, want);
		ASSERT_NE(NULL, line) TH_LOG("modinfo lacks %s: %s", params[i], out);
		/* "name:description (type)": something must describe it. */
		EXPECT_LT(strlen(want) + 8, strcspn(line, "\n"))
			TH_LOG("%s has no description", params[i]);
		snprintf(path, sizeof(path), "/sys/module/kvnet/parameters/%s",
			 params[i]);
		EXPECT_LT(0, kvnet_read_ll(path)) TH_LOG("%s unreadable or 0", path);
	}

	unload(_metadata);
	EXPECT_EQ(EINVAL, load(self->kofd, "max_mem_regions=0"));
	EXPECT_EQ(EINVAL, load(self->kofd, "max_mem_regions=5000"));
	ASSERT_EQ(0, load(self->kofd, "max_mem_regions=2"));
	EXPECT_EQ(2, kvnet_read_ll("/sys/module/kvnet/parameters/max_mem_regions"));

	fd = kvnet_open_dev(KVNET_DEV_PATH);
	kvnet_ioctl_noarg(fd, VHOST_SET_OWNER);
	ASSERT_EQ(0, __kvnet_guest_mem_alloc(&mem, 0, 3 * 4096, false));
	table = kvnet_mem_table_alloc(3);
	for (i = 0; i < 3; i++)
		kvnet_mem_table_set(table, i, i * 4096, 4096,
				    (uintptr_t)kvnet_gpa_to_hva(&mem, i * 4096));
	err = ioctl(fd, VHOST_SET_MEM_TABLE, table) ? errno : 0;
	EXPECT_EQ(E2BIG, err) TH_LOG("3 regions over a limit of 2: %s",
				     kvnet_errname(err));
	table->nregions = 2;
	EXPECT_IOCTL_ERRNO(0, fd, VHOST_SET_MEM_TABLE, table, "2 regions");
	free(table);
	close(fd);
	kvnet_guest_mem_free(&mem);

	unload(_metadata);
	ASSERT_EQ(0, load(self->kofd, ""));
	EXPECT_EQ(64, kvnet_read_ll("/sys/module/kvnet/parameters/max_mem_regions"));
}

KVNET_HARNESS_MAIN
