// SPDX-License-Identifier: GPL-2.0
/*
 * kvnet-vmm end to end: it boots the guest image of userspace-vmm/guest/
 * with nested KVM, its virtio-net device on a tap whose other side is the
 * guest's peer (guest.h), the rings served in turn by the VMM itself
 * (user), by vhost-net and by kvnet.
 *
 *   cmdline.*
 *	bad command lines exit with 2 and a message, and open nothing (the
 *	tap they name is not created); --help names every flag. No boot, no
 *	/dev/kvm needed.
 *   machine.two_cpus
 *	--cpus 2 and the default backend: the guest sees 2 CPUs, both ran,
 *	poweroff ends the VMM with 0; --stats printed the exits of each
 *	vCPU and the device's counters.
 *   vmm.<backend>.traffic_reset_kill
 *	the VMM names its backend; ping; 64 MiB each way, verified by the
 *	receiver; the backend's own evidence (kvnet's debugfs counters,
 *	vhost_net's refcnt, neither for user); twice, under a ping flood,
 *	the guest reloads virtio_net and traffic resumes; streams both ways
 *	at once, and SIGKILL when 8 of the 64 MiB to the host went; then
 *	the tap can be attached again, no kvnet device names the dead VMM,
 *	kvnet's and vhost_net's refcnts are back, and kvnet unloads and
 *	loads back (KVNET_KO).
 *
 * A boot costs 15 to 50 s here (KVM nested in an emulated machine): each
 * one runs several checks. A note names each step as it starts, and a
 * failure ends with the step it happened in and the console's tail.
 */
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "kvnet_harness.h"
#include "kvnet_util.h"
#include "guest.h"

#define VMM_PATH		"userspace-vmm/kvnet-vmm"
#define TOOLS_DIR		"selftests/out"
#define GUEST_MEM		"256M"
/* Each console byte is a VM exit: keep the boot quiet. */
#define GUEST_APPEND		"quiet"
#define GUEST_CIDR		"10.0.0.2/24"
/* Nested KVM in an emulated machine: a boot takes 15 to 50 s. */
#define BOOT_MS			90000
#define POWEROFF_MS		30000
#define PING_MS			20000
#define RELOAD_MS		30000
#define STREAM_BYTES		(64ULL << 20)
#define STREAM_MS		120000
/* After a device reset: enough to show that the queues run again. */
#define RESET_STREAM_BYTES	(4ULL << 20)
#define STREAM_PORT		12871
#define STREAM_PORT_REV		12872
/* The kill lands once this much went each way: mid-transfer. */
#define KILL_AFTER_BYTES	(8LL << 20)
/* A stream that moved no byte for this long is stuck. */
#define STALL_MS		5000
/* How long the kernel may take to let go of a dead VMM's things. */
#define RELEASE_MS		10000
#define CONSOLE_TAIL_LINES	60
/* A bad command line is refused at once; a run this long booted. */
#define CMDLINE_MS		10000
#define NOBODY			65534

/*
 * A TAP comment, out at once: a test's child ends with _exit(), which
 * would drop what stdout still buffers.
 */
#define note(fmt, ...) do {						\
	ksft_print_msg(fmt, ##__VA_ARGS__);				\
	fflush(stdout);							\
} while (0)

/* <repo>/@rel into @path, asserting it fits. */
#define repo_path(path, rel) do {					\
	int __r = __kvnet_repo_path(path, rel);				\
	ASSERT_EQ(0, __r) TH_LOG("path of %s: %s", rel,		\
				 kvnet_errname(-__r));			\
} while (0)

/* The whole of file @path, NUL-terminated (free() it), or NULL. */
static char *read_text(const char *path)
{
	struct stat st;
	char *text;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	text = fstat(fd, &st) ? NULL : malloc(st.st_size + 1);
	if (!text) {
		close(fd);
		return NULL;
	}
	n = pread(fd, text, st.st_size, 0);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	return text;
}

/* A counter of link @tap in /sys/class/net/@tap/statistics; -errno. */
static long long tap_stat(const char *tap, const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", tap,
		 name);
	return kvnet_read_ll(path);
}

/* ---- a VMM booted with the guest image ---------------------------------- */

struct vmm_vm {
	struct kvnet_peer peer;
	struct kvnet_guest guest;
	char vmm[PATH_MAX], tools[PATH_MAX];
	char kernel[PATH_MAX], initrd[PATH_MAX];
	/* The step running now, for the failure report; when it all began. */
	const char *step;
	uint64_t start_ms;
	/* The VMM's pid, kept after it was reaped. */
	pid_t pid;
	/* kvnet's debugfs directory of the VMM's device (kvnet backend). */
	char debugfs[PATH_MAX];
	/* Module refcnts before the boot; -1 when not loaded. */
	long long kvnet_refcnt, vhost_refcnt;
};

static void vm_step(struct vmm_vm *vm, const char *step)
{
	vm->step = step;
	note("step: %s (at %.1f s)\n", step,
	     (kvnet_now_ms() - vm->start_ms) / 1000.0);
}

static void vm_init(struct __test_metadata *_metadata, struct vmm_vm *vm)
{
	vm->guest.pid = 0;
	vm->guest.in_fd = vm->guest.out_fd = vm->guest.log_fd = -1;
	vm->step = "setup";
	vm->start_ms = kvnet_now_ms();
	if (access("/dev/kvm", F_OK) && errno == ENOENT)
		KVNET_SKIP("no /dev/kvm (nested KVM not loaded)");
	ASSERT_EQ(0, access("/dev/kvm", R_OK | W_OK))
		TH_LOG("/dev/kvm: %s", strerror(errno));
	repo_path(vm->vmm, VMM_PATH);
	ASSERT_EQ(0, access(vm->vmm, X_OK))
		TH_LOG("%s: %s (make -C userspace-vmm)", vm->vmm,
		       strerror(errno));
	repo_path(vm->tools, TOOLS_DIR);
	kvnet_guest_image(vm->kernel, vm->initrd);
	kvnet_peer_setup(&vm->peer);
}

static void vm_fini(struct __test_metadata *_metadata, struct vmm_vm *vm)
{
	if (!_metadata->passed) {
		note("failed in step: %s\n", vm->step);
		if (vm->guest.log_path[0])
			kvnet_guest_log_tail(&vm->guest, CONSOLE_TAIL_LINES);
	}
	kvnet_guest_close(&vm->guest);
	/* A failure's log stays, for a closer look. */
	if (_metadata->passed && vm->guest.log_path[0])
		unlink(vm->guest.log_path);
}

/* The backend kvnet-vmm picks when --net names none, as --help says. */
static const char *vm_default_backend(void)
{
	if (!access(KVNET_DEV_PATH, F_OK))
		return "kvnet";
	if (!access(VHOST_NET_DEV_PATH, F_OK))
		return "vhost";
	return "user";
}

/* Whether the console log (VMM messages included) has @needle. */
static bool vm_log_has(struct vmm_vm *vm, const char *needle)
{
	char *log = read_text(vm->guest.log_path);
	bool found = log && strstr(log, needle);

	free(log);
	return found;
}

/*
 * Boot with @cpus vCPUs and --stats, the device on the peer's tap served
 * by @backend (NULL: the VMM's default), until the guest's shell answers;
 * the VMM said which backend it uses.
 */
static void vm_boot(struct __test_metadata *_metadata, struct vmm_vm *vm,
		    const char *name, const char *backend, unsigned int cpus)
{
	char net[128], ncpus[16], log[PATH_MAX], said[128];
	uint64_t start = kvnet_now_ms();
	char *argv[] = {
		vm->vmm, "--kernel", vm->kernel, "--initrd", vm->initrd,
		"--mem", GUEST_MEM, "--cpus", ncpus, "--append", GUEST_APPEND,
		"--net", net, "--stats", NULL
	};
	int ret;

	vm_step(vm, "boot");
	vm->kvnet_refcnt = kvnet_module_refcnt("kvnet");
	vm->vhost_refcnt = kvnet_module_refcnt("vhost_net");
	snprintf(ncpus, sizeof(ncpus), "%u", cpus);
	if (backend)
		snprintf(net, sizeof(net), "tap=%s,backend=%s", vm->peer.tap,
			 backend);
	else
		snprintf(net, sizeof(net), "tap=%s", vm->peer.tap);
	snprintf(log, sizeof(log), "/tmp/vmm_test-%s-%d.log", name, getpid());
	kvnet_guest_start(&vm->guest, log, argv, NULL, 0);
	vm->pid = vm->guest.pid;
	ret = kvnet_guest_wait_ready(&vm->guest, BOOT_MS);
	EXPECT_EQ((int)cpus, ret) TH_LOG("CPUs the guest saw");
	ASSERT_STREQ(GUEST_CIDR, vm->guest.ip);
	note("%s: guest ready after %.1f s\n", name,
	     (kvnet_now_ms() - start) / 1000.0);

	vm_step(vm, "the VMM names its backend");
	snprintf(said, sizeof(said), "kvnet-vmm: net: tap %s, backend %s%s",
		 vm->peer.tap, backend ? backend : vm_default_backend(),
		 backend ? "," : " (the default here),");
	EXPECT_TRUE(vm_log_has(vm, said)) TH_LOG("no '%s' in %s", said, log);
}

static void vm_ping(struct __test_metadata *_metadata, struct vmm_vm *vm)
{
	char out[1024];

	vm_step(vm, "ping the peer");
	kvnet_guest_run(&vm->guest, PING_MS, out, sizeof(out),
			"ping -c 3 -i 0.2 -W 5 %s", KVNET_PEER_ADDR);
}

/*
 * @bytes from the guest to the peer (@to_guest: the other way) with
 * tcp_stream -V; both ends say how many bytes the receiver verified.
 */
static void vm_stream(struct __test_metadata *_metadata, struct vmm_vm *vm,
		      unsigned long long bytes, bool to_guest)
{
	struct kvnet_guest_stream r;
	uint64_t start = kvnet_now_ms();
	char verified[64];
	int ret;

	vm_step(vm, to_guest ? "verified stream host -> guest"
			     : "verified stream guest -> host");
	ret = __kvnet_guest_stream(&vm->guest, STREAM_PORT, bytes, to_guest,
				   STREAM_MS, &r);
	ASSERT_EQ(0, ret) TH_LOG("tcp_stream -s does not listen: %s: %s",
				 kvnet_errname(-ret), r.host_out);
	snprintf(verified, sizeof(verified), "verified %llu bytes", bytes);
	EXPECT_EQ(0, r.guest_status)
		TH_LOG("guest tcp_stream: %s", r.guest_out);
	EXPECT_EQ(0, r.host_status)
		TH_LOG("host tcp_stream: %s", r.host_out);
	EXPECT_NE(NULL, strstr(r.guest_out, verified))
		TH_LOG("the guest does not say '%s': %s", verified,
		       r.guest_out);
	EXPECT_NE(NULL, strstr(r.host_out, verified))
		TH_LOG("the host does not say '%s': %s", verified, r.host_out);
	ASSERT_TRUE(_metadata->passed);
	note("%llu MiB %s in %.1f s\n", bytes >> 20,
	     to_guest ? "host -> guest" : "guest -> host",
	     (kvnet_now_ms() - start) / 1000.0);
}

/* kvnet: find the VMM's device in debugfs. */
static void vm_find_kvnet(struct __test_metadata *_metadata,
			  struct vmm_vm *vm)
{
	ASSERT_TRUE(kvnet_wait_until(!__kvnet_debugfs_dir(vm->pid, vm->debugfs,
							  sizeof(vm->debugfs)),
				     5000))
		TH_LOG("no kvnet device owned by the VMM (pid %d) in %s",
		       vm->pid, KVNET_DEBUGFS_PATH);
}

/* kvnet's counters, and the frames the host received from the guest. */
struct kvnet_sample {
	struct kvnet_vring_stats q[2];	/* rx, tx */
	long long tap_rx_packets;
};

static void vm_kvnet_sample(struct __test_metadata *_metadata,
			    struct vmm_vm *vm, struct kvnet_sample *s)
{
	s->tap_rx_packets = tap_stat(vm->peer.tap, "rx_packets");
	ASSERT_EQ(0, __kvnet_debugfs_stats(vm->debugfs, "rx", &s->q[0]));
	ASSERT_EQ(0, __kvnet_debugfs_stats(vm->debugfs, "tx", &s->q[1]));
	ASSERT_LE(0, s->tap_rx_packets);
}

/*
 * kvnet served both directions since @then: its RX carried at least
 * @rx_bytes to the guest, its TX at least @tx_bytes from it and every
 * frame the host received, both queues signalled the guest, and neither
 * saw a ring error.
 */
static void vm_kvnet_served(struct __test_metadata *_metadata,
			    struct vmm_vm *vm,
			    const struct kvnet_sample *then,
			    unsigned long long rx_bytes,
			    unsigned long long tx_bytes)
{
	static const char *const names[] = { "rx", "tx" };
	unsigned long long want[] = { rx_bytes, tx_bytes };
	const struct kvnet_vring_stats *before = then->q;
	struct kvnet_vring_stats *now;
	struct kvnet_sample sample;
	unsigned int q;

	vm_step(vm, "kvnet's counters moved");
	vm_kvnet_sample(_metadata, vm, &sample);
	now = sample.q;
	/* Each TX chain is one write to the tap: no frame went another way. */
	EXPECT_LE(sample.tap_rx_packets - then->tap_rx_packets,
		  (long long)(now[1].packets - before[1].packets))
		TH_LOG("the host received %lld frames, kvnet sent %llu",
		       sample.tap_rx_packets - then->tap_rx_packets,
		       now[1].packets - before[1].packets);
	for (q = 0; q < 2; q++) {
		EXPECT_LE(before[q].bytes + want[q], now[q].bytes)
			TH_LOG("%s bytes %llu -> %llu", names[q],
			       before[q].bytes, now[q].bytes);
		/* At most a 64 KiB GSO frame a packet. */
		EXPECT_LE(before[q].packets + want[q] / 65536, now[q].packets)
			TH_LOG("%s packets %llu -> %llu", names[q],
			       before[q].packets, now[q].packets);
		EXPECT_LT(before[q].calls, now[q].calls)
			TH_LOG("%s: no interrupt signalled", names[q]);
		EXPECT_EQ(0ULL, now[q].errors)
			TH_LOG("%s: ring errors", names[q]);
	}
	EXPECT_LT(before[1].kicks, now[1].kicks) TH_LOG("tx: no kick");
	for (q = 0; q < 2; q++)
		note("kvnet %s: %llu packets, %llu bytes, %llu kicks, "
		     "%llu calls\n", names[q],
		     now[q].packets - before[q].packets,
		     now[q].bytes - before[q].bytes,
		     now[q].kicks - before[q].kicks,
		     now[q].calls - before[q].calls);
}

/*
 * Which kernel backend holds a device while the guest runs: kvnet's or
 * vhost_net's refcnt is up for the one in use, the other one's is not
 * (neither for user, which serves the rings in the VMM).
 */
static void vm_expect_holders(struct __test_metadata *_metadata,
			      struct vmm_vm *vm, const char *backend)
{
	long long kvnet = kvnet_module_refcnt("kvnet");
	long long vhost = kvnet_module_refcnt("vhost_net");

	vm_step(vm, "the backend's module holds the device");
	/* Braces: EXPECT_*() is more than one statement. */
	if (!strcmp(backend, "kvnet")) {
		EXPECT_LT(vm->kvnet_refcnt, kvnet);
	} else {
		EXPECT_EQ(vm->kvnet_refcnt, kvnet);
	}
	if (!strcmp(backend, "vhost")) {
		EXPECT_LT(vm->vhost_refcnt, vhost);
	} else {
		EXPECT_EQ(vm->vhost_refcnt, vhost);
	}
	TH_LOG("kvnet refcnt %lld -> %lld, vhost_net %lld -> %lld",
	       vm->kvnet_refcnt, kvnet, vm->vhost_refcnt, vhost);
}

/*
 * The guest unloads and reloads virtio_net, which resets the device,
 * while the peer floods it with pings; then ping and a verified stream
 * (to the guest if @to_guest) work again.
 */
static void vm_reload_virtio_net(struct __test_metadata *_metadata,
				 struct vmm_vm *vm, const char *backend,
				 bool to_guest)
{
	struct kvnet_sample before;
	struct kvnet_host_cmd flood;
	char out[1024], dir[PATH_MAX];
	long long replies;
	pid_t ended;
	int ret;

	vm_step(vm, "reload virtio_net under a ping flood");
	replies = tap_stat(vm->peer.tap, "rx_packets");
	ASSERT_LE(0, replies);
	/*
	 * Busybox's ping (busybox-static is there for the guest image): the
	 * next ping as soon as a reply came, or after 10 ms without one.
	 */
	kvnet_host_spawn(&flood, "exec busybox ping -q -A -i 0.01 -s 1400 "
			 "-w 120 %s", KVNET_GUEST_ADDR);
	/* The flood runs when the guest answers it. */
	EXPECT_TRUE(kvnet_wait_until(tap_stat(vm->peer.tap, "rx_packets") >=
				     replies + 50, 10000))
		TH_LOG("the guest answered %lld packets of the flood",
		       tap_stat(vm->peer.tap, "rx_packets") - replies);
	ret = __kvnet_guest_run(&vm->guest, RELOAD_MS, out, sizeof(out),
				"rmmod virtio_net && modprobe virtio_net && "
				"ip addr add %s dev eth0 && ip link set eth0 up",
				GUEST_CIDR);
	EXPECT_EQ(0, ret) TH_LOG("reloading virtio_net: %s: %s",
				 ret < 0 ? kvnet_errname(-ret) :
					   kvnet_fmt("exit status %d", ret),
				 out);
	/* The flood was still on through the reset. */
	ended = waitpid(flood.pid, NULL, WNOHANG);
	__kvnet_host_collect(&flood, 0, out, sizeof(out));
	EXPECT_EQ(0, ended) TH_LOG("the ping flood ended before the reload "
				   "did: %s", out);
	ASSERT_TRUE(_metadata->passed);

	if (!strcmp(backend, "kvnet")) {
		vm_step(vm, "kvnet: the same device after the reset");
		ASSERT_EQ(0, __kvnet_debugfs_dir(vm->pid, dir, sizeof(dir)));
		ASSERT_STREQ(vm->debugfs, dir);
		vm_kvnet_sample(_metadata, vm, &before);
	}
	vm_ping(_metadata, vm);
	vm_stream(_metadata, vm, RESET_STREAM_BYTES, to_guest);
	if (!strcmp(backend, "kvnet"))
		vm_kvnet_served(_metadata, vm, &before,
				to_guest ? RESET_STREAM_BYTES : 0,
				to_guest ? 0 : RESET_STREAM_BYTES);
}

/*
 * From --stats: the counters of queue @q ("rx", "tx") that the VMM printed
 * on exit: 0, or -ENOENT when it printed none.
 */
static int vm_exit_counters(struct vmm_vm *vm, const char *q,
			    unsigned long long *packets,
			    unsigned long long *bytes)
{
	char *log = read_text(vm->guest.log_path), *line, want[32];
	int ret = -ENOENT;

	snprintf(want, sizeof(want), "net: %s packets ", q);
	for (line = log; line && (line = strstr(line, want)); line++)
		if (sscanf(line + strlen(want), "%llu bytes %llu", packets,
			   bytes) == 2)
			ret = 0;
	free(log);
	return ret;
}

/* Power the guest off: the VMM exits with 0 and --stats says its piece. */
static void vm_poweroff(struct __test_metadata *_metadata, struct vmm_vm *vm)
{
	int ret;

	vm_step(vm, "poweroff");
	ret = __kvnet_guest_poweroff(&vm->guest, POWEROFF_MS);
	ASSERT_EQ(0, ret) TH_LOG("VMM exit: %s", ret < 0 ?
				 kvnet_errname(-ret) : kvnet_fmt("%d", ret));
	vm_step(vm, "--stats printed the exits");
	EXPECT_TRUE(vm_log_has(vm, "kvnet-vmm statistics\n"));
	EXPECT_TRUE(vm_log_has(vm, "KVM exits by reason:\n"));
	EXPECT_TRUE(vm_log_has(vm, "  total: "));
}

/* ---- the command line --------------------------------------------------- */

/* What a VMM that should not start did. */
struct vmm_exit {
	int status;	/* exit status, 128 + signal, -ETIMEDOUT */
	char out[4096], err[4096];
};

/* Read memfd @fd into @buf. */
static void read_memfd(int fd, char *buf, size_t size)
{
	ssize_t n = pread(fd, buf, size - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
}

/*
 * Run the VMM with @argv, stdin /dev/null, as uid/gid @uid if not 0,
 * for up to CMDLINE_MS (then SIGKILL). 0 or -errno.
 */
static int run_vmm(char *const argv[], uid_t uid, struct vmm_exit *e)
{
	int out = memfd_create("vmm_test-out", MFD_CLOEXEC);
	int err = memfd_create("vmm_test-err", MFD_CLOEXEC);
	pid_t parent = getpid(), pid;
	int status = 0, null;
	bool done;

	if (out < 0 || err < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
			_exit(127);
		null = open("/dev/null", O_RDONLY);
		if (null < 0 || dup2(null, STDIN_FILENO) < 0 ||
		    dup2(out, STDOUT_FILENO) < 0 ||
		    dup2(err, STDERR_FILENO) < 0)
			_exit(127);
		if (uid && (setgroups(0, NULL) || setresgid(uid, uid, uid) ||
			    setresuid(uid, uid, uid)))
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execv(argv[0], argv);
		_exit(127);
	}
	done = kvnet_wait_until(waitpid(pid, &status, WNOHANG) == pid,
				CMDLINE_MS);
	if (!done) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		e->status = -ETIMEDOUT;
	} else {
		e->status = WIFEXITED(status) ? WEXITSTATUS(status) :
			    128 + WTERMSIG(status);
	}
	read_memfd(out, e->out, sizeof(e->out));
	read_memfd(err, e->err, sizeof(e->err));
	close(out);
	close(err);
	return 0;
}

/*
 * A bad command line. In @args and @says, @K is the guest's bzImage, @I
 * its initramfs, @T a tap name of this case's own, @D a scratch directory
 * with a file "notbz" (not a bzImage), "empty" and "noread" (mode 0).
 */
struct bad_cmdline {
	const char *what;
	const char *args[12];
	/* The message names this. */
	const char *says;
	/* Run as nobody: root reads files of mode 0. */
	bool as_nobody;
};

/* A bad command line @args[], whose message names @says. */
#define BAD(what, says, ...) { what, { __VA_ARGS__ }, says, false }
/* The same, run as nobody. */
#define BAD_AS_NOBODY(what, says, ...) { what, { __VA_ARGS__ }, says, true }

static const struct bad_cmdline bad_cmdlines[] = {
	BAD("no --kernel", "--kernel",
	    "--net", "tap=@T"),
	BAD("--kernel that does not exist", "@D/nosuch",
	    "--kernel", "@D/nosuch", "--net", "tap=@T"),
	BAD("--kernel a directory", "@D",
	    "-k", "@D", "--net", "tap=@T"),
	BAD_AS_NOBODY("--kernel unreadable", "@D/noread",
	    "--kernel", "@D/noread", "--net", "tap=@T"),
	BAD("--kernel not a bzImage", "bzImage",
	    "--kernel", "@D/notbz", "--net", "tap=@T"),
	BAD("--kernel empty", "@D/empty",
	    "--kernel", "@D/empty", "--net", "tap=@T"),
	BAD("--kernel an initramfs", "bzImage",
	    "--kernel", "@I", "--net", "tap=@T"),
	BAD("--initrd that does not exist", "--initrd",
	    "-k", "@K", "--initrd", "@D/nosuch", "--net", "tap=@T"),
	BAD("--mem garbage", "--mem lots",
	    "-k", "@K", "--mem", "lots", "--net", "tap=@T"),
	BAD("--mem empty", "--mem",
	    "-k", "@K", "--mem", "", "--net", "tap=@T"),
	BAD("--mem negative", "--mem -1G",
	    "-k", "@K", "--mem", "-1G", "--net", "tap=@T"),
	BAD("--mem too small", "--mem 32M",
	    "-k", "@K", "--mem", "32M", "--net", "tap=@T"),
	BAD("--mem 0", "--mem 0",
	    "-k", "@K", "-m", "0", "--net", "tap=@T"),
	BAD("--mem below what the kernel needs", "--mem 64",
	    "-k", "@K", "--mem", "64M", "--net", "tap=@T"),
	BAD("--mem too big", "--mem 2T",
	    "-k", "@K", "--mem", "2T", "--net", "tap=@T"),
	BAD("--mem not whole MiB", "--mem 100000K",
	    "-k", "@K", "--mem", "100000K", "--net", "tap=@T"),
	BAD("--mem with no value", "--mem",
	    "-k", "@K", "--net", "tap=@T", "--mem"),
	BAD("--cpus 0", "--cpus 0",
	    "-k", "@K", "--cpus", "0", "--net", "tap=@T"),
	BAD("--cpus too many", "--cpus 65",
	    "-k", "@K", "--cpus", "65", "--net", "tap=@T"),
	BAD("--cpus far too many", "--cpus 4294967297",
	    "-k", "@K", "-c", "4294967297", "--net", "tap=@T"),
	BAD("--cpus garbage", "--cpus two",
	    "-k", "@K", "--cpus", "two", "--net", "tap=@T"),
	BAD("--cpus negative", "--cpus -1",
	    "-k", "@K", "--cpus", "-1", "--net", "tap=@T"),
	BAD("--cpus trailing garbage", "--cpus 2x",
	    "-k", "@K", "--cpus", "2x", "--net", "tap=@T"),
	BAD("unknown long option", "--bogus",
	    "-k", "@K", "--net", "tap=@T", "--bogus"),
	BAD("unknown short option", "-z",
	    "-k", "@K", "-z", "--net", "tap=@T"),
	BAD("stray argument", "stray",
	    "-k", "@K", "--net", "tap=@T", "stray"),
	BAD("--net without tap=", "tap=",
	    "-k", "@K", "--net", "backend=user"),
	BAD("--net empty", "--net",
	    "-k", "@K", "--net", ""),
	BAD("--net tap= empty", "tap",
	    "-k", "@K", "--net", "tap="),
	BAD("--net bad mac", "mac=02:00:00:zz:00:01",
	    "-k", "@K", "--net", "tap=@T,mac=02:00:00:zz:00:01"),
	BAD("--net short mac", "mac=02:00:00:00:01",
	    "-k", "@K", "--net", "tap=@T,mac=02:00:00:00:01"),
	BAD("--net multicast mac", "mac=01:00:5e:00:00:01",
	    "-k", "@K", "--net", "tap=@T,mac=01:00:5e:00:00:01"),
	BAD("--net unknown backend", "backend=qemu",
	    "-k", "@K", "--net", "tap=@T,backend=qemu"),
	BAD("--net unknown key", "speed",
	    "-k", "@K", "--net", "tap=@T,speed=10"),
	BAD("--net key without value", "mac",
	    "-k", "@K", "--net", "tap=@T,mac"),
	BAD("--net backend twice", "backend",
	    "-k", "@K", "--net", "tap=@T,backend=user,backend=vhost"),
	BAD("--net tap name too long", "tap=",
	    "-k", "@K", "--net", "tap=@T-0123456789abcdef"),
	BAD("--net tap name with a slash", "tap=@T/x",
	    "-k", "@K", "--net", "tap=@T/x"),
	BAD("--net poll-us garbage", "poll-us=soon",
	    "-k", "@K", "--net", "tap=@T,poll-us=soon"),
	BAD("--net poll-us negative", "poll-us=-1",
	    "-k", "@K", "--net", "tap=@T,poll-us=-1"),
	BAD("--net poll-us too long", "poll-us=1000001",
	    "-k", "@K", "--net", "tap=@T,poll-us=1000001"),
	BAD("--net poll-us twice", "poll-us",
	    "-k", "@K", "--net", "tap=@T,poll-us=50,poll-us=60"),
	BAD("--net poll-us with the user backend", "poll-us",
	    "-k", "@K", "--net", "tap=@T,backend=user,poll-us=50"),
	BAD("two --net", "--net",
	    "-k", "@K", "--net", "tap=@T", "--net", "tap=@T"),
};

/* @in with @K, @I, @T and @D replaced, into @out (@size bytes). */
static void expand(char *out, size_t size, const char *in, const char *tap,
		   const char *dir, const struct vmm_vm *vm)
{
	size_t len = 0;
	const char *sub;

	for (; *in && len + 1 < size; in++) {
		sub = NULL;
		if (in[0] == '@' && in[1] == 'K')
			sub = vm->kernel;
		else if (in[0] == '@' && in[1] == 'I')
			sub = vm->initrd;
		else if (in[0] == '@' && in[1] == 'T')
			sub = tap;
		else if (in[0] == '@' && in[1] == 'D')
			sub = dir;
		if (!sub) {
			out[len++] = *in;
			continue;
		}
		len += snprintf(out + len, size - len, "%s", sub);
		if (len >= size)
			len = size - 1;
		in++;
	}
	out[len] = '\0';
}

FIXTURE(cmdline) {
	struct vmm_vm vm;
	char dir[32];
	/* Hears of the taps that should not appear. */
	int links;
};

/*
 * A socket that hears of every link created, changed or deleted in this
 * network namespace: fd or -errno. A tap that a VMM creates is gone
 * again when it exits, but not from here.
 */
static int link_monitor_open(void)
{
	struct sockaddr_nl sa = {
		.nl_family = AF_NETLINK,
		.nl_groups = RTMGRP_LINK,
	};
	int fd, err;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/*
 * Whether @fd heard of link @name since the last call (it reads all there
 * is); a lost message (ENOBUFS) counts as heard.
 */
static bool link_monitor_heard(int fd, const char *name)
{
	char buf[16384];
	struct nlmsghdr *nh;
	struct ifinfomsg *ifi;
	struct rtattr *rta;
	bool heard = false;
	ssize_t n;
	int len;

	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0 || errno == ENOBUFS) {
		if (n < 0) {
			heard = true;
			continue;
		}
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, n);
		     nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_type != RTM_NEWLINK &&
			    nh->nlmsg_type != RTM_DELLINK)
				continue;
			ifi = NLMSG_DATA(nh);
			len = IFLA_PAYLOAD(nh);
			for (rta = IFLA_RTA(ifi); RTA_OK(rta, len);
			     rta = RTA_NEXT(rta, len))
				if (rta->rta_type == IFLA_IFNAME &&
				    !strcmp(RTA_DATA(rta), name))
					heard = true;
		}
	}
	return heard;
}

/* A file @dir/@name of @len bytes of @byte, mode @mode: 0 or -errno. */
static int scratch_file(const char *dir, const char *name, size_t len,
			int byte, mode_t mode)
{
	char path[PATH_MAX], buf[4096];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	memset(buf, byte, sizeof(buf));
	for (; len && !ret; len -= len < sizeof(buf) ? len : sizeof(buf))
		if (write(fd, buf, len < sizeof(buf) ? len : sizeof(buf)) < 0)
			ret = -errno;
	close(fd);
	return ret;
}

FIXTURE_SETUP(cmdline)
{
	struct vmm_vm *vm = &self->vm;

	self->links = -1;
	vm->guest.in_fd = vm->guest.out_fd = vm->guest.log_fd = -1;
	repo_path(vm->vmm, VMM_PATH);
	ASSERT_EQ(0, access(vm->vmm, X_OK))
		TH_LOG("%s: %s (make -C userspace-vmm)", vm->vmm,
		       strerror(errno));
	kvnet_guest_image(vm->kernel, vm->initrd);
	/* The taps that should not appear would appear here. */
	kvnet_enter_netns();
	self->links = link_monitor_open();
	ASSERT_LE(0, self->links) TH_LOG("rtnetlink: %s",
					 kvnet_errname(-self->links));
	snprintf(self->dir, sizeof(self->dir), "/tmp/vmm_test-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir)) TH_LOG("mkdtemp: %s",
						   strerror(errno));
	/* Searchable by nobody, who still cannot read "noread". */
	ASSERT_EQ(0, chmod(self->dir, 0755));
	/* 64 KiB, no "HdrS" in its setup header. */
	ASSERT_EQ(0, scratch_file(self->dir, "notbz", 65536, 0x5a, 0644));
	ASSERT_EQ(0, scratch_file(self->dir, "empty", 0, 0, 0644));
	ASSERT_EQ(0, scratch_file(self->dir, "noread", 4096, 0, 0));
}

FIXTURE_TEARDOWN(cmdline)
{
	static const char *const files[] = { "notbz", "empty", "noread" };
	unsigned int i;

	if (self->links >= 0)
		close(self->links);
	if (!self->dir[0])
		return;
	for (i = 0; i < ARRAY_SIZE(files); i++)
		unlink(kvnet_fmt("%s/%s", self->dir, files[i]));
	rmdir(self->dir);
}

/*
 * Each bad command line: exit status 2, a "kvnet-vmm: " message on
 * stderr that names what was wrong, nothing on stdout (no guest ran),
 * and the tap it names was never created, not even for a moment.
 */
TEST_F_TIMEOUT(cmdline, bad_exits_2_opens_nothing, 120)
{
	const struct vmm_vm *vm = &self->vm;
	char args[ARRAY_SIZE(bad_cmdlines[0].args)][PATH_MAX];
	char *argv[ARRAY_SIZE(bad_cmdlines[0].args) + 2];
	char tap[IFNAMSIZ], says[PATH_MAX];
	struct vmm_exit e;
	unsigned int i, j;

	for (i = 0; i < ARRAY_SIZE(bad_cmdlines); i++) {
		const struct bad_cmdline *c = &bad_cmdlines[i];

		snprintf(tap, sizeof(tap), "vmmbad%u", i);
		argv[0] = (char *)vm->vmm;
		for (j = 0; c->args[j]; j++) {
			expand(args[j], sizeof(args[j]), c->args[j], tap,
			       self->dir, vm);
			argv[j + 1] = args[j];
		}
		argv[j + 1] = NULL;
		expand(says, sizeof(says), c->says, tap, self->dir, vm);
		ASSERT_EQ(0, run_vmm(argv, c->as_nobody ? NOBODY : 0, &e));

		EXPECT_EQ(2, e.status) TH_LOG("%s: exit status %d, stderr: %s",
					      c->what, e.status, e.err);
		EXPECT_EQ(0, strncmp(e.err, "kvnet-vmm: ", 11))
			TH_LOG("%s: stderr: '%s'", c->what, e.err);
		EXPECT_NE(NULL, strstr(e.err, says))
			TH_LOG("%s: the message does not name '%s': %s",
			       c->what, says, e.err);
		EXPECT_STREQ("", e.out) TH_LOG("%s: stdout", c->what);
		EXPECT_FALSE(link_monitor_heard(self->links, tap))
			TH_LOG("%s: tap %s was created", c->what, tap);
	}
}

/*
 * --help: exit status 0, the text on stdout names every flag in both
 * forms, and every --flag it names is one the VMM takes.
 */
TEST_F(cmdline, help_names_every_flag)
{
	static const char *const flags[] = {
		"-k, --kernel", "-i, --initrd", "-a, --append", "-c, --cpus",
		"-m, --mem", "-n, --net", "-s, --stats", "-q, --quiet",
		"-h, --help", "tap=", "macvtap=", "mac=", "backend=",
	};
	char *argv[3] = { self->vm.vmm, "--help", NULL };
	char help[sizeof(((struct vmm_exit *)0)->out)], flag[64];
	struct vmm_exit e;
	const char *p;
	unsigned int i;

	ASSERT_EQ(0, run_vmm(argv, 0, &e));
	EXPECT_EQ(0, e.status);
	EXPECT_STREQ("", e.err);
	for (i = 0; i < ARRAY_SIZE(flags); i++) {
		EXPECT_TRUE(strstr(e.out, flags[i]) != NULL)
			TH_LOG("--help does not name '%s'", flags[i]);
	}
	memcpy(help, e.out, sizeof(help));

	/* Without --kernel each is refused, but not as unknown. */
	for (p = strstr(help, "--"); p; p = strstr(p + 2, "--")) {
		if (sscanf(p, "%63[-a-z]", flag) != 1 || !strcmp(flag, "--"))
			continue;
		argv[1] = flag;
		ASSERT_EQ(0, run_vmm(argv, 0, &e));
		EXPECT_EQ(NULL, strstr(e.err, "unknown option"))
			TH_LOG("--help names %s, the VMM does not take it",
			       flag);
	}
}

/* ---- the machine -------------------------------------------------------- */

FIXTURE(machine) {
	struct vmm_vm vm;
};

FIXTURE_SETUP(machine)
{
	vm_init(_metadata, &self->vm);
}

FIXTURE_TEARDOWN(machine)
{
	vm_fini(_metadata, &self->vm);
}

/*
 * --cpus 2 with the default backend (kvnet here): the guest sees both CPUs
 * online and both run; poweroff ends the VMM with 0; --stats printed the
 * exits of each vCPU and the device's counters.
 */
TEST_F_TIMEOUT(machine, two_cpus, 150)
{
	const char *backend = vm_default_backend();
	struct vmm_vm *vm = &self->vm;
	unsigned long long packets, bytes, exits;
	char out[256], *log, *line;
	unsigned int cpu;

	vm_boot(_metadata, vm, "two_cpus", NULL, 2);
	vm_step(vm, "the guest has 2 CPUs online");
	kvnet_guest_run(&vm->guest, PING_MS, out, sizeof(out),
			"cat /sys/devices/system/cpu/online");
	out[strcspn(out, "\n")] = '\0';
	EXPECT_STREQ("0-1", out);
	vm_ping(_metadata, vm);
	vm_poweroff(_metadata, vm);

	vm_step(vm, "--stats: exits of both vCPUs, the device's counters");
	log = read_text(vm->guest.log_path);
	ASSERT_NE(NULL, log);
	for (cpu = 0; cpu < 2; cpu++) {
		char want[16];

		snprintf(want, sizeof(want), "  vcpu%u: ", cpu);
		line = strstr(log, want);
		exits = 0;
		EXPECT_NE(NULL, line) TH_LOG("no '%s' line", want);
		if (line)
			exits = strtoull(line + strlen(want), NULL, 10);
		EXPECT_LT(0ULL, exits) TH_LOG("vCPU %u never exited", cpu);
	}
	free(log);
	EXPECT_TRUE(vm_log_has(vm, kvnet_fmt("net: tap %s, backend %s\n",
					     vm->peer.tap, backend)));
	if (!strcmp(backend, "vhost")) {
		EXPECT_TRUE(vm_log_has(vm, "net: backend vhost exposes no "
				       "per-queue counters\n"));
		return;
	}
	ASSERT_EQ(0, vm_exit_counters(vm, "rx", &packets, &bytes));
	EXPECT_LE(3ULL, packets) TH_LOG("the pings' replies");
	ASSERT_EQ(0, vm_exit_counters(vm, "tx", &packets, &bytes));
	EXPECT_LE(3ULL, packets) TH_LOG("the pings");
}

/* ---- per backend -------------------------------------------------------- */

FIXTURE(vmm) {
	struct vmm_vm vm;
	/* KVNET_KO, to load kvnet back after unloading it. */
	int kofd;
};

FIXTURE_VARIANT(vmm) {
	const char *backend;
};

FIXTURE_VARIANT_ADD(vmm, user) {
	.backend = "user",
};

FIXTURE_VARIANT_ADD(vmm, vhost) {
	.backend = "vhost",
};

FIXTURE_VARIANT_ADD(vmm, kvnet) {
	.backend = "kvnet",
};

FIXTURE_SETUP(vmm)
{
	self->kofd = -1;
	vm_init(_metadata, &self->vm);
}

FIXTURE_TEARDOWN(vmm)
{
	vm_fini(_metadata, &self->vm);
	if (self->kofd >= 0)
		close(self->kofd);
}

/*
 * In the guest's background, verified streams to the host (@bytes) and
 * from it for 2 minutes: both ways at once the guest receives faster than
 * it sends, and a stream to it of @bytes would end first.
 */
static void vm_stream_background(struct __test_metadata *_metadata,
				 struct vmm_vm *vm,
				 struct kvnet_host_cmd servers[2],
				 unsigned long long bytes)
{
	kvnet_host_spawn(&servers[0], "exec %s/tcp_stream -s -1 -p %u",
			 vm->tools, STREAM_PORT);
	kvnet_host_spawn(&servers[1], "exec %s/tcp_stream -s -1 -p %u",
			 vm->tools, STREAM_PORT_REV);
	kvnet_guest_run(&vm->guest, PING_MS, NULL, 0,
			"tcp_stream -c %s -p %u -n %llu -V >/tmp/up.out 2>&1 & "
			"tcp_stream -c %s -p %u -l 120 -V -R >/tmp/down.out 2>&1 &",
			KVNET_PEER_ADDR, STREAM_PORT, bytes,
			KVNET_PEER_ADDR, STREAM_PORT_REV);
}

/*
 * Wait for the tap's counters to pass @rx (guest -> host) and @tx: true,
 * or false when they stood still for STALL_MS or STREAM_MS passed.
 */
static bool vm_wait_tap_bytes(struct vmm_vm *vm, long long rx, long long tx)
{
	uint64_t deadline = kvnet_now_ms() + STREAM_MS, moved = kvnet_now_ms();
	long long last = -1, now;

	while (kvnet_now_ms() < deadline && kvnet_now_ms() < moved + STALL_MS) {
		if (tap_stat(vm->peer.tap, "rx_bytes") >= rx &&
		    tap_stat(vm->peer.tap, "tx_bytes") >= tx)
			return true;
		now = tap_stat(vm->peer.tap, "rx_bytes") +
		      tap_stat(vm->peer.tap, "tx_bytes");
		if (now != last)
			moved = kvnet_now_ms();
		last = now;
		kvnet_sleep_ms(100);
	}
	return false;
}

/* The background streams stalled: say what they did, and fail. */
static void vm_streams_stuck(struct __test_metadata *_metadata,
			     struct vmm_vm *vm,
			     struct kvnet_host_cmd servers[2],
			     long long rx0, long long tx0)
{
	char out[2048];

	TH_LOG("the streams stalled after %lld bytes in, %lld out",
	       tap_stat(vm->peer.tap, "rx_bytes") - rx0,
	       tap_stat(vm->peer.tap, "tx_bytes") - tx0);
	__kvnet_guest_run(&vm->guest, PING_MS, out, sizeof(out),
			  "cat /tmp/up.out /tmp/down.out; "
			  "grep eth0 /proc/net/dev; ping -c 2 -W 3 %s",
			  KVNET_PEER_ADDR);
	TH_LOG("guest: %s", out);
	/* A backend thread that spins shows as R. */
	kvnet_run(out, sizeof(out),
		  "for t in /proc/%d/task/*; do echo $(cat $t/comm) "
		  "$(cut -d' ' -f3 $t/stat) $(cat $t/wchan); done",
		  vm->guest.pid);
	TH_LOG("VMM threads (name, state, wchan): %s", out);
	__kvnet_host_collect(&servers[0], 0, out, sizeof(out));
	TH_LOG("host, guest -> host: %s", out);
	__kvnet_host_collect(&servers[1], 0, out, sizeof(out));
	TH_LOG("host, host -> guest: %s", out);
	ASSERT_TRUE(false);
}

/* SIGKILL the VMM in the middle of 64 MiB to the host, with RX busy too. */
static void vm_kill_mid_transfer(struct __test_metadata *_metadata,
				 struct vmm_vm *vm)
{
	struct kvnet_host_cmd servers[2];
	long long rx0, tx0;
	int ret;

	vm_step(vm, "streams both ways at once");
	rx0 = tap_stat(vm->peer.tap, "rx_bytes");
	tx0 = tap_stat(vm->peer.tap, "tx_bytes");
	ASSERT_LE(0, rx0);
	ASSERT_LE(0, tx0);
	vm_stream_background(_metadata, vm, servers, STREAM_BYTES);
	if (!vm_wait_tap_bytes(vm, rx0 + KILL_AFTER_BYTES,
			       tx0 + KILL_AFTER_BYTES))
		vm_streams_stuck(_metadata, vm, servers, rx0, tx0);

	vm_step(vm, "SIGKILL mid-transfer");
	/* Both transfers are still on: the kill lands in their middle. */
	EXPECT_EQ(0, waitpid(servers[0].pid, NULL, WNOHANG))
		TH_LOG("guest -> host ended before the kill");
	EXPECT_EQ(0, waitpid(servers[1].pid, NULL, WNOHANG))
		TH_LOG("host -> guest ended before the kill");
	ret = kvnet_guest_kill(&vm->guest);
	EXPECT_EQ(128 + SIGKILL, ret) TH_LOG("VMM exit: %s", ret < 0 ?
			kvnet_errname(-ret) : kvnet_fmt("%d", ret));
	note("killed after %lld bytes in, %lld out\n",
	     tap_stat(vm->peer.tap, "rx_bytes") - rx0,
	     tap_stat(vm->peer.tap, "tx_bytes") - tx0);
	__kvnet_host_collect(&servers[0], 0, NULL, 0);
	__kvnet_host_collect(&servers[1], 0, NULL, 0);
	ASSERT_TRUE(_metadata->passed);
}

/*
 * After the VMM died: its tap can be attached again (@ifindex: the tap it
 * had), no kvnet device names it, and the modules' refcnts are back.
 */
static void vm_expect_released(struct __test_metadata *_metadata,
			       struct vmm_vm *vm, long long ifindex)
{
	char dir[PATH_MAX], tap[IFNAMSIZ];
	const char *name = vm->peer.tap;
	int fd = -EBUSY;

	vm_step(vm, "the tap is free: TUNSETIFF attaches to it");
	EXPECT_TRUE(kvnet_wait_until((fd = __kvnet_tap_create(KVNET_TAP_FLAGS,
							       name, tap)) >= 0,
				     RELEASE_MS))
		TH_LOG("TUNSETIFF %s: %s", name, kvnet_errname(-fd));
	if (fd >= 0) {
		/* The same persistent tap, not a new one of that name. */
		EXPECT_EQ(ifindex, (long long)if_nametoindex(tap));
		close(fd);
	}

	vm_step(vm, "no kvnet device names the dead VMM");
	EXPECT_TRUE(kvnet_wait_until(__kvnet_debugfs_dir(vm->pid, dir,
							 sizeof(dir)) == -ENOENT,
				     RELEASE_MS))
		TH_LOG("%s still names pid %d", dir, vm->pid);

	vm_step(vm, "kvnet's and vhost_net's refcnts are back");
	EXPECT_TRUE(kvnet_wait_until(kvnet_module_refcnt("kvnet") ==
				     vm->kvnet_refcnt, RELEASE_MS))
		TH_LOG("kvnet refcnt %lld, was %lld before the boot",
		       kvnet_module_refcnt("kvnet"), vm->kvnet_refcnt);
	EXPECT_TRUE(kvnet_wait_until(kvnet_module_refcnt("vhost_net") ==
				     vm->vhost_refcnt, RELEASE_MS))
		TH_LOG("vhost_net refcnt %lld, was %lld before the boot",
		       kvnet_module_refcnt("vhost_net"), vm->vhost_refcnt);
}

/* Unload kvnet and load it back from @kofd (KVNET_KO). */
static void kvnet_reload(struct __test_metadata *_metadata,
			 struct vmm_vm *vm, int kofd)
{
	vm_step(vm, "kvnet unloads and loads back");
	ASSERT_EQ(0, syscall(SYS_delete_module, "kvnet", O_NONBLOCK))
		TH_LOG("delete_module: %s", kvnet_errname(errno));
	ASSERT_EQ(0, syscall(SYS_finit_module, kofd, "", 0))
		TH_LOG("finit_module(%s): %s", getenv("KVNET_KO"),
		       kvnet_errname(errno));
	EXPECT_TRUE(kvnet_wait_until(!access(KVNET_DEV_PATH, F_OK), 5000))
		TH_LOG("no %s after loading kvnet back", KVNET_DEV_PATH);
}

/*
 * One boot: traffic, two device resets, then SIGKILL in the middle of a
 * transfer and the host clean afterwards.
 */
TEST_F_TIMEOUT(vmm, traffic_reset_kill, 280)
{
	struct vmm_vm *vm = &self->vm;
	const char *backend = variant->backend;
	bool kvnet = !strcmp(backend, "kvnet");
	struct kvnet_sample before;
	const char *ko = getenv("KVNET_KO");
	long long ifindex;
	int round;

	/* Before anything is unloaded: a wrong path fails here. */
	if (kvnet && ko && *ko) {
		self->kofd = open(ko, O_RDONLY | O_CLOEXEC);
		ASSERT_LE(0, self->kofd) TH_LOG("KVNET_KO=%s: %s", ko,
						strerror(errno));
	}
	ifindex = if_nametoindex(vm->peer.tap);
	vm_boot(_metadata, vm, backend, backend, 1);
	vm_expect_holders(_metadata, vm, backend);
	if (kvnet) {
		vm_find_kvnet(_metadata, vm);
		vm_kvnet_sample(_metadata, vm, &before);
	}
	vm_ping(_metadata, vm);
	vm_stream(_metadata, vm, STREAM_BYTES, false);
	vm_stream(_metadata, vm, STREAM_BYTES, true);
	if (kvnet)
		vm_kvnet_served(_metadata, vm, &before, STREAM_BYTES,
				STREAM_BYTES);
	/* A stream one way after the first reset, the other after the second. */
	for (round = 0; round < 2; round++)
		vm_reload_virtio_net(_metadata, vm, backend, round);
	vm_kill_mid_transfer(_metadata, vm);
	vm_expect_released(_metadata, vm, ifindex);
	if (kvnet && self->kofd >= 0)
		kvnet_reload(_metadata, vm, self->kofd);
	else if (kvnet)
		note("KVNET_KO is not set: kvnet not unloaded\n");
}

KVNET_HARNESS_MAIN
