// SPDX-License-Identifier: GPL-2.0
/*
 * Unmodified QEMU drives /dev/kvnet as it drives /dev/vhost-net.
 *
 * Debian's QEMU boots the guest image of userspace-vmm/guest/ with nested
 * KVM and a virtio-net-pci device on
 *
 *   -netdev tap,ifname=TAP,script=no,downscript=no,vhost=on,vhostfd=N
 *
 * where N is /dev/kvnet, opened here and inherited by QEMU. vhost_net is
 * not loaded meanwhile (QEMU never opens /dev/vhost-net with vhostfd=, and
 * this makes sure of it), so the traffic that moves kvnet's counters in
 * debugfs went through kvnet; if QEMU could not start its vhost backend it
 * would fall back to serving the rings itself, and the counters would
 * stand still. The guest's peer is a tap in a network namespace of this
 * test's own.
 *
 * Few boots: each one runs several checks.
 */
#include <stdio.h>
#include <stdlib.h>

#include "kvnet_harness.h"
#include "kvnet_util.h"
#include "guest.h"

#define QEMU			"qemu-system-x86_64"
#define MAX_MEM_REGIONS	"/sys/module/kvnet/parameters/max_mem_regions"
#define QEMU_MEM		"256"
/*
 * Nested KVM in an emulated machine: a boot takes 15 s, over a minute
 * when other VMs load the host (most of it before the kernel starts).
 */
#define QEMU_BOOT_MS		120000
#define QEMU_POWEROFF_MS	30000
#define STREAM_PORT		12871
#define STREAM_BYTES		(64ULL << 20)
#define STREAM_MS		60000
/* Bytes moved after a device reset: enough to show the queues run. */
#define RESET_STREAM_BYTES	(8ULL << 20)

/* The console ends up in the test's output only when something failed. */
#define CONSOLE_TAIL_LINES	60

/*
 * A TAP comment, out at once: a test's child ends with _exit(), which
 * would drop what stdout still buffers.
 */
#define note(fmt, ...) do {						\
	ksft_print_msg(fmt, ##__VA_ARGS__);				\
	fflush(stdout);							\
} while (0)

/* vhost_net was loaded when the test started: load it again at the end. */
static bool vhost_net_was_loaded;

static bool module_loaded(const char *name)
{
	char path[64];

	snprintf(path, sizeof(path), "/sys/module/%s", name);
	return !access(path, F_OK);
}

/*
 * In the harness's parent, which alone returns from main(): the tests'
 * children end with _exit().
 */
static void reload_vhost_net(void)
{
	if (vhost_net_was_loaded && !module_loaded("vhost_net"))
		kvnet_run(NULL, 0, "modprobe vhost_net");
}

static void __attribute__((constructor)) remember_vhost_net(void)
{
	vhost_net_was_loaded = module_loaded("vhost_net");
	atexit(reload_vhost_net);
}

static void unload_module(struct __test_metadata *_metadata,
			  const char *name)
{
	char out[256];

	if (module_loaded(name))
		ASSERT_EQ(0, kvnet_run(out, sizeof(out), "rmmod %s", name))
			TH_LOG("rmmod %s: %s", name, out);
}

struct qemu_vm {
	struct kvnet_peer peer;
	struct kvnet_guest guest;
	int kvnet_fd;
	/* kvnet's debugfs directory of the device QEMU owns. */
	char debugfs[PATH_MAX];
};

static void qemu_vm_init(struct __test_metadata *_metadata,
			 struct qemu_vm *vm)
{
	vm->kvnet_fd = -1;
	vm->guest.pid = 0;
	vm->guest.in_fd = vm->guest.out_fd = vm->guest.log_fd = -1;
	if (access("/dev/kvm", R_OK | W_OK))
		KVNET_SKIP("no /dev/kvm: %s (nested KVM not loaded)",
			   strerror(errno));
	if (kvnet_run(NULL, 0, "command -v " QEMU))
		KVNET_SKIP("no %s (apt-get install qemu-system-x86)", QEMU);
	vm->kvnet_fd = kvnet_open_dev(KVNET_DEV_PATH);
	/* No vhost-net anywhere near: whatever moves, kvnet moved it. */
	unload_module(_metadata, "vhost_net");
	unload_module(_metadata, "vhost");
	kvnet_peer_setup(&vm->peer);
	/*
	 * QEMU sends at most as many memory regions as vhost's
	 * max_mem_regions allows, 64 when vhost is not loaded (as here).
	 */
	EXPECT_LE(64, kvnet_read_ll(MAX_MEM_REGIONS))
		TH_LOG("kvnet's max_mem_regions is below what QEMU may send");
}

static void qemu_vm_fini(struct __test_metadata *_metadata,
			 struct qemu_vm *vm)
{
	if (!_metadata->passed && vm->guest.log_path[0])
		kvnet_guest_log_tail(&vm->guest, CONSOLE_TAIL_LINES);
	kvnet_guest_close(&vm->guest);
	if (vm->kvnet_fd >= 0)
		close(vm->kvnet_fd);
}

/* Boot QEMU with machine type @machine until the guest's shell answers. */
static void qemu_vm_boot(struct __test_metadata *_metadata,
			 struct qemu_vm *vm, const char *machine)
{
	char kernel[PATH_MAX], initrd[PATH_MAX], netdev[256], log[PATH_MAX];
	uint64_t start = kvnet_now_ms();
	char *argv[] = {
		QEMU, "-L", "/usr/share/qemu", "-accel", "kvm", "-cpu", "host",
		"-M", (char *)machine, "-smp", "1", "-m", QEMU_MEM,
		"-nodefaults", "-no-user-config", "-no-reboot",
		"-display", "none", "-serial", "stdio",
		"-kernel", kernel, "-initrd", initrd,
		/* Each console byte is a VM exit: keep the boot quiet. */
		"-append", "console=ttyS0 panic=-1 quiet kvnet.ip=10.0.0.2/24",
		"-netdev", netdev,
		/* No option ROM: the kernel is loaded directly. */
		"-device", "virtio-net-pci,netdev=n0,romfile=",
		NULL
	};
	int ret;

	kvnet_guest_image(kernel, initrd);
	snprintf(netdev, sizeof(netdev),
		 "tap,id=n0,ifname=%s,script=no,downscript=no,"
		 "vhost=on,vhostfd=%d", vm->peer.tap, vm->kvnet_fd);
	snprintf(log, sizeof(log), "/tmp/qemu_test-%s-%d.log", machine,
		 getpid());
	kvnet_guest_start(&vm->guest, log, argv, &vm->kvnet_fd, 1);
	ret = kvnet_guest_wait_ready(&vm->guest, QEMU_BOOT_MS);
	EXPECT_EQ(1, ret);
	ASSERT_STREQ("10.0.0.2/24", vm->guest.ip);
	note("%s: guest ready after %.1f s\n", machine,
	     (kvnet_now_ms() - start) / 1000.0);

	/* QEMU owns the device once the guest's driver set DRIVER_OK. */
	ASSERT_TRUE(kvnet_wait_until(!__kvnet_debugfs_dir(vm->guest.pid,
				vm->debugfs, sizeof(vm->debugfs)), 5000))
		TH_LOG("no kvnet device owned by QEMU (pid %d) in %s",
		       vm->guest.pid, KVNET_DEBUGFS_PATH);
}

static void qemu_vm_stats(struct __test_metadata *_metadata,
			  struct qemu_vm *vm, struct kvnet_vring_stats *rx,
			  struct kvnet_vring_stats *tx)
{
	ASSERT_EQ(0, __kvnet_debugfs_stats(vm->debugfs, "rx", rx));
	ASSERT_EQ(0, __kvnet_debugfs_stats(vm->debugfs, "tx", tx));
}

static void guest_ping(struct __test_metadata *_metadata, struct qemu_vm *vm)
{
	char out[1024];

	kvnet_guest_run(&vm->guest, 20000, out, sizeof(out),
			"ping -c 3 -W 5 %s", KVNET_PEER_ADDR);
}

/*
 * @bytes from the guest to the peer (@to_guest: the other way) with
 * tcp_stream -V: the receiver checks every byte against the seeded
 * stream; both ends report what it found.
 */
static void stream(struct __test_metadata *_metadata, struct qemu_vm *vm,
		   unsigned long long bytes, bool to_guest)
{
	struct kvnet_guest_stream r;
	uint64_t start = kvnet_now_ms();
	char verified[64];
	int ret;

	ret = __kvnet_guest_stream(&vm->guest, STREAM_PORT, bytes, to_guest,
				   STREAM_MS, &r);
	ASSERT_EQ(0, ret) TH_LOG("tcp_stream -s does not listen: %s: %s",
				 kvnet_errname(-ret), r.host_out);
	snprintf(verified, sizeof(verified), "verified %llu bytes", bytes);
	EXPECT_EQ(0, r.guest_status)
		TH_LOG("guest tcp_stream: %s", r.guest_out);
	EXPECT_EQ(0, r.host_status)
		TH_LOG("host tcp_stream: %s", r.host_out);
	EXPECT_NE(NULL, strstr(to_guest ? r.guest_out : r.host_out, verified))
		TH_LOG("the %s did not verify %llu bytes: %s",
		       to_guest ? "guest" : "host", bytes,
		       to_guest ? r.guest_out : r.host_out);
	note("%llu MiB %s in %.1f s\n", bytes >> 20,
	     to_guest ? "host -> guest" : "guest -> host",
	     (kvnet_now_ms() - start) / 1000.0);
}

/*
 * kvnet served traffic in both directions between @before and now: the
 * guest's TX carried at least @tx_bytes, its RX at least @rx_bytes, both
 * queues ran and signalled the guest, and neither saw a ring error.
 */
static void expect_served(struct __test_metadata *_metadata,
			  struct qemu_vm *vm,
			  const struct kvnet_vring_stats before[2],
			  unsigned long long rx_bytes,
			  unsigned long long tx_bytes)
{
	struct kvnet_vring_stats now[2];
	static const char *const names[] = { "rx", "tx" };
	unsigned long long want[] = { rx_bytes, tx_bytes };
	unsigned int q;

	qemu_vm_stats(_metadata, vm, &now[0], &now[1]);
	for (q = 0; q < 2; q++) {
		EXPECT_LE(before[q].bytes + want[q], now[q].bytes)
			TH_LOG("%s bytes %llu -> %llu", names[q],
			       before[q].bytes, now[q].bytes);
		EXPECT_LT(before[q].packets, now[q].packets);
		EXPECT_LT(before[q].handler_runs, now[q].handler_runs);
		EXPECT_LT(before[q].calls, now[q].calls)
			TH_LOG("%s: no interrupt signalled", names[q]);
		EXPECT_EQ(0ULL, now[q].errors)
			TH_LOG("%s: ring errors", names[q]);
	}
	/*
	 * Sending takes kicks; RX may take none: the guest refills its
	 * buffers while kvnet still has plenty, and kvnet asks for no kick.
	 */
	EXPECT_LT(before[1].kicks, now[1].kicks);
	for (q = 0; q < 2; q++)
		note("kvnet %s: %llu packets, %llu bytes, %llu kicks, "
		     "%llu calls\n", names[q],
		     now[q].packets - before[q].packets,
		     now[q].bytes - before[q].bytes,
		     now[q].kicks - before[q].kicks,
		     now[q].calls - before[q].calls);
}

/*
 * QEMU says what went wrong with its vhost backend on stderr, which is in
 * the console log: a refused ioctl shows there as "vhost ...".
 */
static void expect_no_vhost_complaint(struct __test_metadata *_metadata,
				      struct qemu_vm *vm)
{
	char cmd[PATH_MAX + 64], out[1024];

	snprintf(cmd, sizeof(cmd), "grep -i '^" QEMU ":.*vhost' %s",
		 vm->guest.log_path);
	EXPECT_NE(0, kvnet_run(out, sizeof(out), "%s", cmd))
		TH_LOG("QEMU complained: %s", out);
}

/* Power the guest off: QEMU exits 0 and kvnet's device goes with it. */
static void poweroff(struct __test_metadata *_metadata, struct qemu_vm *vm)
{
	char dir[PATH_MAX];
	int ret;

	ret = __kvnet_guest_poweroff(&vm->guest, QEMU_POWEROFF_MS);
	EXPECT_EQ(0, ret) TH_LOG("QEMU exit: %s", ret < 0 ?
				 kvnet_errname(-ret) : kvnet_fmt("%d", ret));
	/*
	 * QEMU's copy of the fd went with QEMU; with this one the device
	 * and its debugfs directory go.
	 */
	close(vm->kvnet_fd);
	vm->kvnet_fd = -1;
	EXPECT_EQ(-ENOENT,
		  __kvnet_debugfs_dir(vm->guest.pid, dir, sizeof(dir)));
}

FIXTURE(qemu) {
	struct qemu_vm vm;
};

FIXTURE_VARIANT(qemu) {
	const char *machine;
};

FIXTURE_VARIANT_ADD(qemu, q35) {
	.machine = "q35",
};

FIXTURE_VARIANT_ADD(qemu, pc) {
	.machine = "pc",
};

FIXTURE_SETUP(qemu)
{
	qemu_vm_init(_metadata, &self->vm);
}

FIXTURE_TEARDOWN(qemu)
{
	qemu_vm_fini(_metadata, &self->vm);
}

/*
 * The guest pings its peer and moves 64 MiB each way, verified by the
 * receiver, all of it through kvnet.
 */
TEST_F_TIMEOUT(qemu, ping_and_stream, 240)
{
	struct kvnet_vring_stats before[2];

	qemu_vm_boot(_metadata, &self->vm, variant->machine);
	qemu_vm_stats(_metadata, &self->vm, &before[0], &before[1]);
	guest_ping(_metadata, &self->vm);
	stream(_metadata, &self->vm, STREAM_BYTES, false);
	stream(_metadata, &self->vm, STREAM_BYTES, true);
	expect_served(_metadata, &self->vm, before, STREAM_BYTES,
		      STREAM_BYTES);
	expect_no_vhost_complaint(_metadata, &self->vm);
	poweroff(_metadata, &self->vm);
}

FIXTURE(qemu_reset) {
	struct qemu_vm vm;
};

FIXTURE_SETUP(qemu_reset)
{
	qemu_vm_init(_metadata, &self->vm);
}

FIXTURE_TEARDOWN(qemu_reset)
{
	qemu_vm_fini(_metadata, &self->vm);
}

/*
 * The guest resets the device (rmmod and modprobe virtio_net): QEMU stops
 * its vhost backend (GET_VRING_BASE) and starts it again on the next
 * DRIVER_OK, on the same kvnet device, and traffic resumes through kvnet.
 */
TEST_F_TIMEOUT(qemu_reset, virtio_net_reload, 240)
{
	struct kvnet_vring_stats before[2];
	char dir[PATH_MAX];
	int i;

	qemu_vm_boot(_metadata, &self->vm, "q35");
	guest_ping(_metadata, &self->vm);
	for (i = 0; i < 2; i++) {
		kvnet_guest_run(&self->vm.guest, 30000, NULL, 0,
				"rmmod virtio_net && modprobe virtio_net && "
				"ip addr add 10.0.0.2/24 dev eth0 && "
				"ip link set eth0 up");
		/* The same device, still QEMU's. */
		ASSERT_EQ(0, __kvnet_debugfs_dir(self->vm.guest.pid, dir,
						 sizeof(dir)));
		ASSERT_STREQ(self->vm.debugfs, dir);
		qemu_vm_stats(_metadata, &self->vm, &before[0], &before[1]);
		guest_ping(_metadata, &self->vm);
		stream(_metadata, &self->vm, RESET_STREAM_BYTES, false);
		stream(_metadata, &self->vm, RESET_STREAM_BYTES, true);
		expect_served(_metadata, &self->vm, before,
			      RESET_STREAM_BYTES, RESET_STREAM_BYTES);
	}
	expect_no_vhost_complaint(_metadata, &self->vm);
	poweroff(_metadata, &self->vm);
}

KVNET_HARNESS_MAIN
