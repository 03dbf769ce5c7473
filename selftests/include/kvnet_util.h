/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvnet selftest library, in the spirit of the KVM selftests' kvm_util.
 *
 * Calls that can fail come in pairs: __kvnet_x() returns the raw result
 * (an fd, 0, or -errno) and kvnet_x() asserts success with a message that
 * names the call and strerror(). The asserting forms are macros over the
 * harness's ASSERT_* and SKIP(), so they work only in TEST/TEST_F/FIXTURE_*
 * bodies: include kselftest_harness.h before this header to get them.
 * The __ forms work anywhere, for instance in a forked child.
 */
#ifndef KVNET_UTIL_H
#define KVNET_UTIL_H

#include <assert.h>
#include <errno.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/if_tun.h>
#include <linux/kvnet.h>
#include <linux/vhost.h>
#include <linux/virtio_ring.h>

#define KVNET_DEV_PATH		"/dev/kvnet"
#define VHOST_NET_DEV_PATH	"/dev/vhost-net"
#define KVNET_NUM_VQS		2
#define KVNET_PAGE_SIZE		4096UL
/* Page alignment of the used ring in the legacy split-ring layout. */
#define KVNET_VRING_ALIGN	4096UL
/* Never a user address on x86-64, with 4- or 5-level page tables. */
#define KVNET_KERNEL_ADDR	0xffff800000000000ULL

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#endif

/* ---- ioctl wrappers ---------------------------------------------------- */

/* The argument must have the size encoded in the command. */
#define __kvnet_ioctl(fd, cmd, arg) ({					\
	static_assert(!_IOC_SIZE(cmd) || sizeof(*(arg)) == _IOC_SIZE(cmd), \
		      "argument size of " #cmd);			\
	ioctl(fd, cmd, arg);						\
})

/* For _IO() commands, which take no argument. */
#define __kvnet_ioctl_noarg(fd, cmd) ({					\
	static_assert(!_IOC_SIZE(cmd), #cmd " takes an argument");	\
	ioctl(fd, cmd, 0);						\
})

/* 0 when the ioctl succeeded, its errno when it failed. */
#define kvnet_ioctl_errno(fd, cmd, arg)					\
	(__kvnet_ioctl(fd, cmd, arg) < 0 ? errno : 0)
#define kvnet_ioctl_noarg_errno(fd, cmd)				\
	(__kvnet_ioctl_noarg(fd, cmd) < 0 ? errno : 0)

/* "EINVAL (Invalid argument)", "success" for 0; valid until 8 more calls. */
const char *kvnet_errname(int err);
/* printf into a rotating static buffer, for assertion messages. */
const char *kvnet_fmt(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* ---- /proc, /sys and time ------------------------------------------------ */

uint64_t kvnet_now_ms(void);
void kvnet_sleep_ms(unsigned int ms);

/*
 * Evaluate @cond every 10 ms until it holds or @timeout_ms passed;
 * the value of the last evaluation.
 */
#define kvnet_wait_until(cond, timeout_ms) ({				\
	uint64_t __deadline = kvnet_now_ms() + (timeout_ms);		\
	bool __ok;							\
	while (!(__ok = (cond)) && kvnet_now_ms() < __deadline)		\
		kvnet_sleep_ms(10);					\
	__ok;								\
})

/* A number from a one-line file; -errno if unreadable. */
long long kvnet_read_ll(const char *path);
/* Write @val to a file such as a sysctl or a parameter: 0 or -errno. */
int kvnet_write_file(const char *path, const char *val);
/* Write the number @val to such a file: 0 or -errno. */
int kvnet_write_ll(const char *path, long long val);
/* A "Field:  N kB" line of /proc/meminfo, in kB; -1 if absent. */
long long kvnet_meminfo_kb(const char *field);
/* Allocated file handles, the first number of /proc/sys/fs/file-nr. */
long long kvnet_file_nr(void);
/* /sys/module/<module>/refcnt; -1 if the module is not loaded. */
long long kvnet_module_refcnt(const char *module);
/* Tasks (kernel threads included) whose comm starts with @prefix. */
int kvnet_count_threads(const char *prefix);
/* Tasks whose comm is exactly @comm. */
int kvnet_count_comm(const char *comm);
/* The pid of the one task named @comm: > 0, -ENOENT or -EEXIST. */
pid_t kvnet_task_named(const char *comm);
/* One past the highest user address (TASK_SIZE_MAX) of the running kernel. */
uint64_t kvnet_user_addr_limit(void);

/* ---- devices --------------------------------------------------------------- */

/* Open a vhost-style character device: an fd or -errno. */
int __kvnet_open_dev(const char *path);

/* ---- guest memory, memory tables and rings ------------------------------ */

/* A "guest RAM" region: anonymous memory of this process at @gpa. */
struct kvnet_guest_mem {
	void *hva;
	uint64_t gpa;
	size_t size;
};

/* mmap @size bytes; MAP_POPULATE when @touch. 0 or -errno. */
int __kvnet_guest_mem_alloc(struct kvnet_guest_mem *mem, uint64_t gpa,
			    size_t size, bool touch);
void kvnet_guest_mem_free(struct kvnet_guest_mem *mem);
/* Host address of @gpa, or NULL if @gpa is not in @mem. */
void *kvnet_gpa_to_hva(const struct kvnet_guest_mem *mem, uint64_t gpa);

/* A zeroed struct vhost_memory with room for @nregions; free() it. */
struct vhost_memory *kvnet_mem_table_alloc(unsigned int nregions);
void kvnet_mem_table_set(struct vhost_memory *table, unsigned int i,
			 uint64_t gpa, uint64_t size, uint64_t uaddr);
/* A one-region table that maps @mem. */
struct vhost_memory *kvnet_mem_table_of(const struct kvnet_guest_mem *mem);

/*
 * A split virtqueue as the driver sees it: the legacy layout (descriptor
 * table, avail ring, then the used ring on the next KVNET_VRING_ALIGN
 * boundary) in guest memory. The device is given the host addresses.
 */
struct kvnet_ring {
	unsigned int index;
	unsigned int num;
	struct vring vring;
	/* Driver state: the next avail index to publish. */
	uint16_t avail_idx;
};

/* Bytes the layout of @num entries takes. */
size_t kvnet_ring_size(unsigned int num);
/* Lay out (and zero) a ring of @num entries at @mem, KVNET_VRING_ALIGN-ed. */
void kvnet_ring_init(struct kvnet_ring *ring, unsigned int index,
		     unsigned int num, void *mem);
/* The VHOST_SET_VRING_ADDR argument for @ring. */
struct vhost_vring_addr kvnet_ring_addr(const struct kvnet_ring *ring);
/*
 * The driver side, one descriptor per chain, used in ring order: make
 * (@gpa, @len) available, device-writable if @device_writes; its head.
 */
uint16_t kvnet_ring_add(struct kvnet_ring *ring, uint64_t gpa, uint32_t len,
			bool device_writes);
/* The used index the device last published. */
uint16_t kvnet_ring_used_idx(const struct kvnet_ring *ring);

/*
 * A configured device: owner set, a memory table over @mem, and both rings
 * laid out in @mem with kick and call eventfds (ERR left unset). No
 * features, no backend.
 */
struct kvnet_dev {
	int fd;
	struct kvnet_guest_mem mem;
	struct kvnet_ring rings[KVNET_NUM_VQS];
	int kick[KVNET_NUM_VQS];
	int call[KVNET_NUM_VQS];
};

#define KVNET_DEV_MEM_SIZE	(256 * 1024UL)
#define KVNET_DEV_RING_NUM	256

/*
 * Open @path and map the guest memory, nothing else: 0 or -errno. On
 * failure and after kvnet_dev_close(), every fd in @dev is -1.
 */
int __kvnet_dev_open(struct kvnet_dev *dev, const char *path);
/*
 * SET_OWNER, then a memory table over @dev->mem: 0 or -errno, @failed
 * naming the ioctl that failed.
 */
int __kvnet_dev_own(struct kvnet_dev *dev, const char **failed);
/*
 * Queue @index: lay out its ring in @dev->mem, then NUM, BASE 0, ADDR,
 * KICK and CALL (creating the eventfds on first use).
 */
int __kvnet_dev_setup_ring(struct kvnet_dev *dev, unsigned int index,
			   const char **failed);
/* All of the above, for both queues. */
int __kvnet_dev_setup(struct kvnet_dev *dev, const char *path,
		      const char **failed);
void kvnet_dev_close(struct kvnet_dev *dev);

/* NET_SET_BACKEND of @fd (-1 detaches) on queue @index: 0 or -errno. */
int __kvnet_set_backend(int dev_fd, unsigned int index, int fd);
/* KVNET_GET_VRING_STATS of queue @index into @stats: 0 or -errno. */
int __kvnet_get_stats(int dev_fd, unsigned int index,
		      struct kvnet_vring_stats *stats);
/*
 * kvnet's debugfs directory of the device owned by process @owner (0: not
 * owned) into @dir: 0, -ENOENT if none, -EEXIST if several match.
 */
#define KVNET_DEBUGFS_PATH	"/sys/kernel/debug/kvnet"
int __kvnet_debugfs_dir(pid_t owner, char *dir, size_t size);
/* The counters in debugfs file @dir/@queue ("rx", "tx"): 0 or -errno. */
int __kvnet_debugfs_stats(const char *dir, const char *queue,
			  struct kvnet_vring_stats *stats);
/*
 * Signal @kick, the kick eventfd of queue @index, and wait up to 5 s for
 * the queue handler to run (its handler_runs to grow): 0, -ETIMEDOUT or
 * -errno. kvnet only: it reads KVNET_GET_VRING_STATS.
 */
int __kvnet_kick_served(int dev_fd, unsigned int index, int kick);

/* ---- the whole ioctl surface, as a table ----------------------------------- */

/* One ioctl and an argument of the size its command encodes. */
struct kvnet_call {
	const char *name;
	unsigned long cmd;
	void *arg;
	unsigned int flags;
#define KVNET_CALL_NO_OWNER	(1U << 0)	/* works before SET_OWNER */
#define KVNET_CALL_KVNET	(1U << 1)	/* kvnet's own, not vhost's */
#define KVNET_CALL_OWNERSHIP	(1U << 2)	/* SET_OWNER or RESET_OWNER */
};

#define KVNET_CALL(cmd, argp, fl) { #cmd, cmd, ({			\
	static_assert(!_IOC_SIZE(cmd) || sizeof(*(argp)) == _IOC_SIZE(cmd), \
		      "argument size of " #cmd);			\
	(void *)(argp);							\
}), fl }
#define KVNET_CALL_NOARG(cmd, fl) { #cmd, cmd, NULL, fl }

/* 0 if the call succeeded, else its errno. */
int kvnet_call_errno(const struct kvnet_call *call, int fd);

/* Storage for the arguments of kvnet_valid_calls(). */
struct kvnet_valid_args {
	struct vhost_memory *table;
	struct vhost_vring_state num, base, out, endian, busyloop;
	struct vhost_vring_addr addr;
	struct vhost_vring_file efd, unbind;
	struct kvnet_vring_stats stats;
	uint64_t features, zero, log_base;
	int log_fd;
};

#define KVNET_MAX_CALLS 24

/*
 * Every ioctl /dev/kvnet answers, each with an argument that is valid for
 * queue 0 of @dev (ring laid out in @dev->mem, @efd as eventfd) and that
 * changes nothing a running device would notice: features 0, backend -1.
 * Returns the number of @calls; free with kvnet_valid_calls_free().
 */
unsigned int kvnet_valid_calls(struct kvnet_dev *dev, int efd,
			       struct kvnet_valid_args *args,
			       struct kvnet_call calls[KVNET_MAX_CALLS]);
void kvnet_valid_calls_free(struct kvnet_valid_args *args);

/* ---- file descriptors for the eventfd and backend slots ------------------ */

/* A non-blocking eventfd: fd or -errno. */
int __kvnet_eventfd(void);
/* Add 1 to an eventfd's counter (a kick): 0 or -errno. */
int kvnet_eventfd_signal(int efd);
/* A number that is not an open fd in this process. */
int kvnet_closed_fd(void);
/* A regular file (memfd): fd or -errno. */
int __kvnet_regular_file(void);

/*
 * Move this process into a new network and mount namespace with its own
 * /sys, so that links the test creates are private, vanish with it, and
 * show in /sys/class/net. 0 or -errno.
 */
int __kvnet_enter_netns(void);

/*
 * A network namespace held open by a child that unshared it and waits to
 * be killed (it dies with the caller too): its pid, whose
 * /proc/<pid>/ns/net others can enter, or -errno.
 */
pid_t kvnet_hold_netns(void);
/* Whether something in this network namespace listens on TCP @port. */
bool kvnet_tcp_listening(unsigned int port);

/*
 * Create a tap: tun with @flags (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR for a
 * backend) named after @name_fmt ("kvt%d"); fd or -errno, name in @name.
 */
int __kvnet_tap_create(unsigned int flags, const char *name_fmt,
		       char name[IFNAMSIZ]);
#define KVNET_TAP_FLAGS		(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)

/*
 * A macvtap on a veth pair, opened through its character device. Needs a
 * private network namespace (__kvnet_enter_netns) and the veth and macvtap
 * modules.
 */
struct kvnet_macvtap {
	char lower[IFNAMSIZ];
	char name[IFNAMSIZ];
	int fd;
};

/* 0 or -errno; on failure @err (if given) holds what went wrong. */
int __kvnet_macvtap_create(struct kvnet_macvtap *m, char *err, size_t errlen);
void kvnet_macvtap_destroy(struct kvnet_macvtap *m);

/* Set IFF_UP on link @name: 0 or -errno. */
int __kvnet_link_up(const char *name);
/*
 * An AF_PACKET socket that receives the frames of @ethertype that link
 * @name receives (what a backend sends into the host): fd or -errno.
 */
int __kvnet_packet_socket(const char *name, uint16_t ethertype);

/*
 * One legacy ethtool feature of link @name (@cmd: ETHTOOL_STXCSUM,
 * ETHTOOL_STSO, ETHTOOL_SGSO, ETHTOOL_SGRO, ...) on or off: 0 or -errno.
 */
int __kvnet_link_feature(const char *name, uint32_t cmd, bool on);
/* The MAC address of link @name: 0 or -errno. */
int __kvnet_link_mac(const char *name, uint8_t mac[6]);

/* Run a shell command quietly; its exit status, its output in @out. */
int kvnet_run(char *out, size_t outlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- asserting forms, inside harness tests only ------------------------- */
#ifdef __KSELFTEST_HARNESS_H

/*
 * SKIP() that also works in FIXTURE_SETUP: the 6.1 harness runs the test
 * body even after its setup skipped, so end the test process here (255 is
 * the harness's "skipped" exit code); the kernel releases what it held.
 */
#define KVNET_SKIP(fmt, ...)						\
	SKIP({ fflush(NULL); _exit(255); }, fmt, ##__VA_ARGS__)

#define __KVNET_CALL_MSG(name, ret, err)				\
	"%s failed: ret %lld, %s", (name), (long long)(ret), kvnet_errname(err)

/* Assert that ioctl @cmd succeeds; its return value. */
#define kvnet_ioctl(fd, cmd, arg) ({					\
	int __r = __kvnet_ioctl(fd, cmd, arg), __e = errno;		\
	ASSERT_LE(0, __r) TH_LOG(__KVNET_CALL_MSG(#cmd, __r, __e));	\
	__r;								\
})
#define kvnet_ioctl_noarg(fd, cmd) ({					\
	int __r = __kvnet_ioctl_noarg(fd, cmd), __e = errno;		\
	ASSERT_LE(0, __r) TH_LOG(__KVNET_CALL_MSG(#cmd, __r, __e));	\
	__r;								\
})

/*
 * Expect ioctl @cmd to fail with errno @err (0: to succeed). The optional
 * printf arguments say what was passed, for the failure message.
 */
#define __KVNET_IOCTL_ERRNO(_assert, err, got_expr, name, ...) do {	\
	int __want = (err), __got = (got_expr);				\
	if (__want != __got)						\
		TH_LOG("%s%s: expected %s, got %s", name,		\
		       kvnet_fmt(" " __VA_ARGS__), kvnet_errname(__want),	\
		       kvnet_errname(__got));				\
	if (_assert) {							\
		ASSERT_EQ(__want, __got);				\
	} else {							\
		EXPECT_EQ(__want, __got);				\
	}								\
} while (0)

#define EXPECT_IOCTL_ERRNO(err, fd, cmd, arg, ...)			\
	__KVNET_IOCTL_ERRNO(0, err, kvnet_ioctl_errno(fd, cmd, arg), #cmd, \
			    ##__VA_ARGS__)
#define ASSERT_IOCTL_ERRNO(err, fd, cmd, arg, ...)			\
	__KVNET_IOCTL_ERRNO(1, err, kvnet_ioctl_errno(fd, cmd, arg), #cmd, \
			    ##__VA_ARGS__)
#define EXPECT_IOCTL_NOARG_ERRNO(err, fd, cmd, ...)			\
	__KVNET_IOCTL_ERRNO(0, err, kvnet_ioctl_noarg_errno(fd, cmd), #cmd, \
			    ##__VA_ARGS__)
#define ASSERT_IOCTL_NOARG_ERRNO(err, fd, cmd, ...)			\
	__KVNET_IOCTL_ERRNO(1, err, kvnet_ioctl_noarg_errno(fd, cmd), #cmd, \
			    ##__VA_ARGS__)

/* Assert that a __kvnet_x() call returned >= 0; its value. */
#define kvnet_check(call) ({						\
	__typeof__(call) __r = (call);					\
	ASSERT_LE(0, __r) TH_LOG(__KVNET_CALL_MSG(#call, __r,		\
				 __r < 0 ? (int)-__r : 0));		\
	__r;								\
})

/* Skip the test if opening @path failed with -@err for want of a device. */
#define kvnet_skip_if_no_dev(path, err) do {				\
	if ((err) == -ENOENT || (err) == -ENODEV || (err) == -ENXIO)	\
		KVNET_SKIP("%s: %s (module not loaded?)", (path),	\
			   strerror(-(err)));				\
} while (0)

/* Open @path; skip the test if the device does not exist. */
#define kvnet_open_dev(path) ({						\
	const char *__p = (path);					\
	int __fd = __kvnet_open_dev(__p);				\
	kvnet_skip_if_no_dev(__p, __fd);				\
	ASSERT_LE(0, __fd) TH_LOG("open %s: %s", __p, strerror(-__fd));	\
	__fd;								\
})

/* __kvnet_dev_open(); skip the test if the device does not exist. */
#define kvnet_dev_open(dev, path) do {					\
	const char *__p = (path);					\
	int __r = __kvnet_dev_open(dev, __p);				\
	kvnet_skip_if_no_dev(__p, __r);					\
	ASSERT_EQ(0, __r) TH_LOG("open %s: %s", __p, kvnet_errname(-__r)); \
} while (0)

#define __kvnet_dev_step(call) do {					\
	const char *__failed = "?";					\
	int __r = (call);						\
	ASSERT_EQ(0, __r) TH_LOG("%s failed: %s", __failed,		\
				 kvnet_errname(-__r));			\
} while (0)
#define kvnet_dev_own(dev) __kvnet_dev_step(__kvnet_dev_own(dev, &__failed))
#define kvnet_dev_setup_ring(dev, index)				\
	__kvnet_dev_step(__kvnet_dev_setup_ring(dev, index, &__failed))
#define kvnet_dev_setup(dev, path) do {					\
	kvnet_dev_open(dev, path);					\
	kvnet_dev_own(dev);						\
	kvnet_dev_setup_ring(dev, 0);					\
	kvnet_dev_setup_ring(dev, 1);					\
} while (0)

#define kvnet_set_backend(dev_fd, index, fd) do {			\
	int __r = __kvnet_set_backend(dev_fd, index, fd);		\
	ASSERT_EQ(0, __r) TH_LOG("VHOST_NET_SET_BACKEND(index=%u, fd=%d): %s", \
				 (unsigned int)(index), (int)(fd),	\
				 kvnet_errname(-__r));			\
} while (0)

#define kvnet_get_stats(dev_fd, index, stats) do {			\
	int __r = __kvnet_get_stats(dev_fd, index, stats);		\
	ASSERT_EQ(0, __r) TH_LOG("KVNET_GET_VRING_STATS(index=%u): %s",	\
				 (unsigned int)(index), kvnet_errname(-__r)); \
} while (0)

/* Expect a kick on queue @index to run its handler; @what for the log. */
#define EXPECT_KICK_SERVED(dev_fd, index, kick, what) do {		\
	int __r = __kvnet_kick_served(dev_fd, index, kick);		\
	EXPECT_EQ(0, __r) TH_LOG("%s: a kick on q%u was not handled: %s", \
				 (what), (unsigned int)(index),		\
				 kvnet_errname(-__r));			\
} while (0)

#define kvnet_enter_netns() do {					\
	int __r = __kvnet_enter_netns();				\
	ASSERT_EQ(0, __r) TH_LOG("private netns: %s", kvnet_errname(-__r)); \
} while (0)

/* A backend tap (needs kvnet_enter_netns() first); its fd. */
#define kvnet_tap_create(name) ({					\
	int __fd = __kvnet_tap_create(KVNET_TAP_FLAGS, "kvt%d", name);	\
	if (__fd == -ENOENT || __fd == -ENODEV)				\
		KVNET_SKIP("no /dev/net/tun: %s (modprobe tun)",		\
			   strerror(-__fd));				\
	ASSERT_LE(0, __fd) TH_LOG("tap: %s", kvnet_errname(-__fd));	\
	__fd;								\
})

/* A macvtap (needs kvnet_enter_netns() first); skip if unsupported. */
#define kvnet_macvtap_create(m) do {					\
	char __err[256] = "";						\
	int __r = __kvnet_macvtap_create(m, __err, sizeof(__err));	\
	if (__r == -EOPNOTSUPP)						\
		KVNET_SKIP("no macvtap (modprobe veth macvtap): %s", __err); \
	ASSERT_EQ(0, __r) TH_LOG("macvtap: %s", __err);			\
} while (0)

#define kvnet_eventfd() kvnet_check(__kvnet_eventfd())

#endif /* __KSELFTEST_HARNESS_H */

#endif /* KVNET_UTIL_H */
