// SPDX-License-Identifier: GPL-2.0
/*
 * net_bench: the guest network benchmark of `make bench` (README.md,
 * "Guest benchmarks"). A tool, not a test: it asserts nothing about
 * speed. It runs in the test VM, where nested KVM boots the guest image
 * of userspace-vmm/guest/ (1 vCPU, 256 MiB, one queue pair, default
 * offloads) once per configuration:
 *
 *   veth        no guest: the tools between two network namespaces over a
 *               veth pair, the most this machine's network stack gives
 *   vmm-user    kvnet-vmm --net tap=T,backend=user (the VMM serves rings)
 *   vmm-vhost   kvnet-vmm --net tap=T,backend=vhost (/dev/vhost-net)
 *   vmm-kvnet   kvnet-vmm --net tap=T,backend=kvnet (/dev/kvnet)
 *   qemu-vhost  QEMU -netdev tap,vhost=on: QEMU opens /dev/vhost-net
 *   qemu-kvnet  QEMU -netdev tap,vhost=on,vhostfd=N, N opened here on
 *               /dev/kvnet
 *
 * and in each runs TCP_RR (tcp_rr, 1/1 bytes), TCP_STREAM guest -> host
 * and TCP_MAERTS host -> guest (tcp_stream, -R): the client in the guest,
 * the server in the peer's network namespace, which holds the tap. Each
 * run lasts a fixed time; the runs go in rounds (RR, STREAM, MAERTS, then
 * again), and each number is the median of the rounds, with the spread.
 *
 * Counts that do not depend on the machine's speed, per transaction or
 * per 64 KiB received, over the window of each run (net_bench_counts.c):
 * - KVM's per-VM counters in debugfs (/sys/kernel/debug/kvm/<pid>-<fd>/):
 *   exits, halt exits, injected interrupts, emulated instructions (on AMD
 *   every MMIO access the kernel handles, a queue notify among them);
 * - KVM's exits by reason (nested page fault: MMIO such as a notify; MSR;
 *   HLT; host interrupt; interrupt window; port I/O; other), from a
 *   histogram trigger on the kvm:kvm_exit tracepoint;
 * - the guest's own interrupt counts of its virtio-net queues, read from
 *   its /proc/interrupts just before and after the tool runs;
 * - kvnet's kicks and calls from its debugfs (the kvnet configurations);
 * - kvnet-vmm's --stats, printed when it exits: per packet over the whole
 *   session (the user backend counts only there).
 *
 * The counting window: the guest's console is the VMM's UART, where every
 * byte costs exits. So the client starts in the background, after a short
 * sleep, with its output in a file; the host reads KVM's counters once the
 * command that started it returned, and again as soon as the server (on
 * the host, no console) exits at the end of the test. The results are read
 * from the guest after that.
 *
 * Output on stdout: progress lines, then the report (net_bench_report.c)
 * in blocks between marker lines for selftests/bench-net/run.sh: the
 * table, the data of the ratio chart, the JSON.
 */
#include <ctype.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include "kvnet_util.h"
#include "guest.h"
#include "net_bench.h"

#define NB_QEMU			"qemu-system-x86_64"
#define NB_GUEST_APPEND		"quiet kvnet.ip=10.0.0.2/24"

/* Nested KVM in an emulated machine: a boot takes 15 to 90 s. */
#define NB_BOOT_MS		150000
#define NB_POWEROFF_MS		30000
#define NB_CMD_MS		20000
/* Between the start command's return and the client's start. */
#define NB_CLIENT_DELAY_US	500000
/* How long after its duration a run may take to end. */
#define NB_RUN_SLACK_MS		30000
/*
 * For the time budget: the least a boot takes, the time a run takes
 * besides its duration, and what a poweroff usually takes.
 */
#define NB_MIN_BOOT_MS		30000
#define NB_RUN_OVERHEAD_MS	4000
#define NB_USUAL_POWEROFF_MS	10000

/*
 * veth: the peer's end in its namespace, beside the tap, on a subnet of
 * its own; the client's end in a namespace of its own.
 */
#define NB_VETH_PEER		"nbv0"
#define NB_VETH_CLIENT		"nbv1"
#define NB_VETH_PEER_ADDR	"10.0.1.1"
#define NB_VETH_CLIENT_CIDR	"10.0.1.2/24"

#define NB_CONSOLE_TAIL		40

const struct nb_config nb_configs[NB_CFG_MAX] = {
	[NB_CFG_VETH] = { "veth", NB_VETH, NULL, -1, false },
	[NB_CFG_VMM_USER] = { "vmm-user", NB_KVNET_VMM, "user",
			      NB_CFG_VMM_VHOST, false },
	[NB_CFG_VMM_VHOST] = { "vmm-vhost", NB_KVNET_VMM, "vhost", -1, false },
	[NB_CFG_VMM_KVNET] = { "vmm-kvnet", NB_KVNET_VMM, "kvnet",
			       NB_CFG_VMM_VHOST, true },
	[NB_CFG_QEMU_VHOST] = { "qemu-vhost", NB_QEMU_VMM, "vhost", -1, false },
	[NB_CFG_QEMU_KVNET] = { "qemu-kvnet", NB_QEMU_VMM, "kvnet",
				NB_CFG_QEMU_VHOST, true },
};

/*
 * The order they run in: the pairs compared first, so that a run out of
 * time still has ratios; the user backend last.
 */
static const unsigned int nb_run_order[NB_CFG_MAX] = {
	NB_CFG_VETH, NB_CFG_VMM_VHOST, NB_CFG_VMM_KVNET, NB_CFG_QEMU_VHOST,
	NB_CFG_QEMU_KVNET, NB_CFG_VMM_USER,
};

const struct nb_test nb_tests[NB_TEST_MAX] = {
	[NB_TEST_RR] = { "TCP_RR", "TCP_RR, 1/1 bytes, per transaction",
			 "tcp_rr", "", "trans/s", "transaction", 12870,
			 "TCP_RR" },
	[NB_TEST_STREAM] = { "TCP_STREAM",
			     "TCP_STREAM guest->host, per 64 KiB received",
			     "tcp_stream", "", "Gbit/s", "64 KiB", 12871,
			     "TCP_STREAM" },
	[NB_TEST_MAERTS] = { "TCP_MAERTS",
			     "TCP_MAERTS host->guest, per 64 KiB received",
			     "tcp_stream", " -R", "Gbit/s", "64 KiB", 12871,
			     "TCP_MAERTS" },
};

const char *const nb_count_names[NB_C_MAX] = {
	[NB_C_EXITS] = "exits",
	[NB_C_HALT_EXITS] = "halt_exits",
	[NB_C_IRQ_INJECTIONS] = "irq_injections",
	[NB_C_INSN_EMULATION] = "insn_emulation",
	[NB_C_IO_EXITS] = "io_exits",
	[NB_C_MMIO_EXITS] = "mmio_exits",
	[NB_C_GUEST_IRQ_RX] = "guest_irq_rx",
	[NB_C_GUEST_IRQ_TX] = "guest_irq_tx",
	[NB_C_KVNET_RX_KICKS] = "kvnet_rx_kicks",
	[NB_C_KVNET_TX_KICKS] = "kvnet_tx_kicks",
	[NB_C_KVNET_RX_CALLS] = "kvnet_rx_calls",
	[NB_C_KVNET_TX_CALLS] = "kvnet_tx_calls",
	[NB_C_EXIT_NPF] = "exit_npf",
	[NB_C_EXIT_MSR] = "exit_msr",
	[NB_C_EXIT_HLT] = "exit_hlt",
	[NB_C_EXIT_INTR] = "exit_intr",
	[NB_C_EXIT_VINTR] = "exit_vintr",
	[NB_C_EXIT_IO] = "exit_io",
	[NB_C_EXIT_OTHER] = "exit_other",
};

/*
 * The host side, set up once for all configurations: this process in the
 * peer's network namespace, with the tap every VMM attaches to in turn
 * and the veth to the namespace of the veth configuration's client.
 */
struct nb_host {
	struct kvnet_peer peer;
	/* The child that holds the veth client's namespace. */
	pid_t veth_holder;
};

/* The state of the configuration being run. */
struct nb_target {
	const struct nb_config *cfg;
	const struct nb_host *host;
	struct kvnet_guest guest;
	bool booted;
	/* The end of the console log is in the output already. */
	bool log_shown;
	int kvnet_fd;
	char kvnet_dir[PATH_MAX];
};

static char nb_repo[PATH_MAX];
static char nb_tool_dir[PATH_MAX];
static uint64_t nb_start_ms, nb_deadline_ms;
/* -p: the kernel backends busy poll this long (poll-us=); 0 by default. */
static unsigned int nb_poll_us;

/* A progress line, out at once. */
__attribute__((format(printf, 1, 2)))
static void nb_note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("net_bench: [%5.0f s] ",
	       (kvnet_now_ms() - nb_start_ms) / 1000.0);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
}

/* Why something failed, into @err: the message may be cut short. */
__attribute__((format(printf, 3, 4)))
static void nb_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* The end of @t's console log, into the output once. */
static void nb_show_log(struct nb_target *t)
{
	if (!t->booted || t->log_shown)
		return;
	kvnet_guest_log_tail(&t->guest, NB_CONSOLE_TAIL);
	t->log_shown = true;
}

/* ---- paths and parsing -------------------------------------------------- */

/* The repository: KVNET_REPO (the VM runner sets it), else ../.. of us. */
static int nb_find_repo(void)
{
	const char *repo = getenv("KVNET_REPO");
	char exe[PATH_MAX];
	ssize_t n;

	if (repo && *repo) {
		snprintf(nb_repo, sizeof(nb_repo), "%s", repo);
	} else {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n < 0)
			return -errno;
		exe[n] = '\0';
		*strrchr(exe, '/') = '\0';
		if (snprintf(nb_repo, sizeof(nb_repo), "%s/../..", exe) >=
		    (int)sizeof(nb_repo))
			return -ENAMETOOLONG;
	}
	if (snprintf(nb_tool_dir, sizeof(nb_tool_dir), "%s/selftests/out",
		     nb_repo) >= (int)sizeof(nb_tool_dir))
		return -ENAMETOOLONG;
	return 0;
}

/* The number after "@key": in the JSON object in @text; NAN if absent. */
static double nb_json_num(const char *text, const char *key)
{
	char pat[64];
	const char *at;
	char *end;
	double v;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	at = strstr(text, pat);
	if (!at)
		return NAN;
	at += strlen(pat);
	v = strtod(at, &end);
	return end == at ? NAN : v;
}

/* The tool's JSON line for @test in @text, or NULL. */
static const char *nb_json_line(const char *text, const char *test)
{
	char pat[64];

	snprintf(pat, sizeof(pat), "{\"test\":\"%s\"", test);
	return strstr(text, pat);
}

/* The first line of @text into @buf, for error messages. */
static const char *nb_first_line(const char *text, char *buf, size_t size)
{
	size_t len = strcspn(text, "\n");

	if (len >= size)
		len = size - 1;
	memcpy(buf, text, len);
	buf[len] = '\0';
	return buf;
}

/* ---- the client's side: a guest, or a network namespace ----------------- */

/* The peer's namespace and tap, and a veth to the client's namespace. */
static int nb_host_setup(struct nb_host *h, char *err, size_t errlen)
{
	char out[512];
	int ret;

	ret = __kvnet_peer_setup(&h->peer, err, errlen);
	if (ret)
		return ret;
	h->veth_holder = kvnet_hold_netns();
	if (h->veth_holder < 0) {
		ret = h->veth_holder;
		nb_errf(err, errlen, "the veth client's network namespace: %s",
			kvnet_errname(-ret));
		return ret;
	}
	if (kvnet_run(out, sizeof(out),
		      "ip link add " NB_VETH_PEER " type veth peer name "
		      NB_VETH_CLIENT " && ip link set " NB_VETH_CLIENT
		      " netns %d && ip addr add " NB_VETH_PEER_ADDR "/24 dev "
		      NB_VETH_PEER " && ip link set " NB_VETH_PEER " up && "
		      "nsenter --net=/proc/%d/ns/net sh -c 'ip link set lo up"
		      " && ip addr add " NB_VETH_CLIENT_CIDR " dev "
		      NB_VETH_CLIENT " && ip link set " NB_VETH_CLIENT " up'",
		      h->veth_holder, h->veth_holder)) {
		nb_errf(err, errlen, "veth: %s", out);
		return -EIO;
	}
	return 0;
}

static void nb_host_teardown(struct nb_host *h)
{
	if (h->veth_holder > 0) {
		kill(h->veth_holder, SIGKILL);
		waitpid(h->veth_holder, NULL, 0);
	}
	h->veth_holder = 0;
}

/* The command line of kvnet-vmm or QEMU, and the strings it points to. */
struct nb_argv {
	char *argv[40];
	char kernel[PATH_MAX], initrd[PATH_MAX], vmm[PATH_MAX];
	char net[256], mem[32];
};

static void nb_vmm_argv(struct nb_target *t, struct nb_argv *a)
{
	char **v = a->argv;
	char poll[32] = "";

	/* Both VMMs take QEMU's netdev key; the user backend has no poll. */
	if (nb_poll_us && strcmp(t->cfg->backend, "user"))
		snprintf(poll, sizeof(poll), ",poll-us=%u", nb_poll_us);

	if (t->cfg->kind == NB_KVNET_VMM) {
		snprintf(a->net, sizeof(a->net), "tap=%s,backend=%s%s",
			 t->host->peer.tap, t->cfg->backend, poll);
		snprintf(a->mem, sizeof(a->mem), "%uM", NB_GUEST_MEM_MIB);
		*v++ = a->vmm;
		*v++ = "--kernel";
		*v++ = a->kernel;
		*v++ = "--initrd";
		*v++ = a->initrd;
		*v++ = "--cpus";
		*v++ = "1";
		*v++ = "--mem";
		*v++ = a->mem;
		*v++ = "--net";
		*v++ = a->net;
		*v++ = "--append";
		*v++ = NB_GUEST_APPEND;
		/* Its counters, printed when it exits. */
		*v++ = "--stats";
	} else {
		snprintf(a->net, sizeof(a->net),
			 "tap,id=n0,ifname=%s,script=no,downscript=no,vhost=on%s",
			 t->host->peer.tap, poll);
		if (t->kvnet_fd >= 0)
			snprintf(a->net + strlen(a->net),
				 sizeof(a->net) - strlen(a->net),
				 ",vhostfd=%d", t->kvnet_fd);
		snprintf(a->mem, sizeof(a->mem), "%u", NB_GUEST_MEM_MIB);
		*v++ = NB_QEMU;
		*v++ = "-L";
		*v++ = "/usr/share/qemu";
		*v++ = "-accel";
		*v++ = "kvm";
		*v++ = "-cpu";
		*v++ = "host";
		*v++ = "-M";
		*v++ = "q35";
		*v++ = "-smp";
		*v++ = "1";
		*v++ = "-m";
		*v++ = a->mem;
		*v++ = "-nodefaults";
		*v++ = "-no-user-config";
		*v++ = "-no-reboot";
		*v++ = "-display";
		*v++ = "none";
		*v++ = "-serial";
		*v++ = "stdio";
		*v++ = "-kernel";
		*v++ = a->kernel;
		*v++ = "-initrd";
		*v++ = a->initrd;
		*v++ = "-append";
		*v++ = "console=ttyS0 panic=-1 " NB_GUEST_APPEND;
		*v++ = "-netdev";
		*v++ = a->net;
		/* No option ROM: the kernel is loaded directly. */
		*v++ = "-device";
		*v++ = "virtio-net-pci,netdev=n0,romfile=";
	}
	*v = NULL;
}

/* Boot the guest of @t until its shell answers: 0 or -errno. */
static int nb_guest_boot(struct nb_target *t, unsigned int boot_ms,
			 double *boot_s, char *err, size_t errlen)
{
	struct nb_argv a;
	char log[PATH_MAX];
	uint64_t start;
	int ret;

	ret = __kvnet_guest_image(a.kernel, a.initrd);
	if (ret) {
		nb_errf(err, errlen, "no guest image %s: run make", a.kernel);
		return ret;
	}
	if (snprintf(a.vmm, sizeof(a.vmm), "%s/userspace-vmm/kvnet-vmm",
		     nb_repo) >= (int)sizeof(a.vmm))
		return -ENAMETOOLONG;
	if (t->cfg->kind == NB_KVNET_VMM && access(a.vmm, X_OK)) {
		nb_errf(err, errlen, "no %s: run make", a.vmm);
		return -ENOENT;
	}
	if (!strcmp(t->cfg->backend, "vhost") &&
	    access(VHOST_NET_DEV_PATH, R_OK | W_OK)) {
		ret = -errno;
		nb_errf(err, errlen, "%s: %s (modprobe vhost_net)",
			VHOST_NET_DEV_PATH, strerror(errno));
		return ret;
	}
	if (t->cfg->kind == NB_QEMU_VMM && t->cfg->kvnet) {
		t->kvnet_fd = __kvnet_open_dev(KVNET_DEV_PATH);
		if (t->kvnet_fd < 0) {
			ret = t->kvnet_fd;
			nb_errf(err, errlen, "%s: %s", KVNET_DEV_PATH,
				kvnet_errname(-ret));
			return ret;
		}
	}
	nb_vmm_argv(t, &a);
	snprintf(log, sizeof(log), "/tmp/net_bench-%s-%d.log", t->cfg->name,
		 getpid());
	start = kvnet_now_ms();
	ret = __kvnet_guest_start(&t->guest, log, a.argv, &t->kvnet_fd,
				  t->kvnet_fd >= 0);
	if (ret) {
		nb_errf(err, errlen, "starting %s: %s", a.argv[0],
			kvnet_errname(-ret));
		return ret;
	}
	t->booted = true;
	ret = __kvnet_guest_wait_ready(&t->guest, boot_ms);
	if (ret == -EPIPE) {
		nb_errf(err, errlen, "%s exited during the boot", a.argv[0]);
		return ret;
	}
	if (ret < 0) {
		nb_errf(err, errlen, "guest not ready within %u s%s: %s",
			boot_ms / 1000, boot_ms < NB_BOOT_MS ?
			" (what the --budget left)" : "", kvnet_errname(-ret));
		return ret;
	}
	*boot_s = (kvnet_now_ms() - start) / 1000.0;
	if (ret != 1 || strcmp(t->guest.ip, "10.0.0.2/24")) {
		nb_errf(err, errlen, "guest has %d CPUs and address %s, not "
			"1 and 10.0.0.2/24", ret, t->guest.ip);
		return -EPROTO;
	}
	if (t->cfg->kvnet &&
	    !kvnet_wait_until(!__kvnet_debugfs_dir(t->guest.pid, t->kvnet_dir,
						   sizeof(t->kvnet_dir)),
			      5000)) {
		t->kvnet_dir[0] = '\0';
		nb_errf(err, errlen, "no kvnet device owned by %s (pid %d)",
			a.argv[0], t->guest.pid);
		return -ENOENT;
	}
	return 0;
}

/*
 * net_bench's side in the guest, installed once per boot as /tmp/nb.sh,
 * so that each run sends few bytes through the console: "start CMD..."
 * runs CMD in the background after a short sleep, its output, exit status
 * and the virtio-net interrupt counts before and after it in files;
 * "result" waits for it and prints them between marker lines.
 */
#define NB_GUEST_SCRIPT							\
	"irqs() { grep -E 'virtio[0-9]+-(input|output)' "		\
	"/proc/interrupts | tr -s ' '; }\n"				\
	"case $1 in\n"							\
	"start)\n"							\
	"shift\n"							\
	"rm -f /tmp/nb.o /tmp/nb.i0 /tmp/nb.i1 /tmp/nb.rc\n"		\
	"(usleep %u; irqs >/tmp/nb.i0; \"$@\" >/tmp/nb.o 2>&1; r=$?\n"	\
	"irqs >/tmp/nb.i1; echo $r >/tmp/nb.r && "			\
	"mv /tmp/nb.r /tmp/nb.rc) </dev/null >/dev/null 2>&1 &\n"	\
	";;\n"								\
	"result)\n"							\
	"i=0\n"								\
	"while [ ! -e /tmp/nb.rc ]; do\n"				\
	"[ $i -ge %u ] && exit 3\n"					\
	"usleep 100000\n"						\
	"i=$((i + 1))\n"						\
	"done\n"							\
	"echo @o; cat /tmp/nb.o; echo; echo @i0; cat /tmp/nb.i0\n"	\
	"echo @i1; cat /tmp/nb.i1; echo \"@rc $(cat /tmp/nb.rc)\"\n"	\
	";;\n"								\
	"esac\n"

/* @len bytes of @in as base64 into @out (4 * ceil(len / 3) + 1 bytes). */
static void nb_base64(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				     "abcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t v;
	size_t i;

	for (i = 0; i < len; i += 3) {
		v = in[i] << 16;
		if (i + 1 < len)
			v |= in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		*out++ = digits[v >> 18 & 63];
		*out++ = digits[v >> 12 & 63];
		*out++ = i + 1 < len ? digits[v >> 6 & 63] : '=';
		*out++ = i + 2 < len ? digits[v & 63] : '=';
	}
	*out = '\0';
}

/* Install NB_GUEST_SCRIPT in the guest (base64: no quoting): 0 or -errno. */
static int nb_guest_install(struct nb_target *t, char *err, size_t errlen)
{
	char script[1024], b64[sizeof(script) / 3 * 4 + 8], out[256];
	int len, ret;

	len = snprintf(script, sizeof(script), NB_GUEST_SCRIPT,
		       NB_CLIENT_DELAY_US, NB_RUN_SLACK_MS / 100);
	if (len < 0 || len >= (int)sizeof(script))
		return -EOVERFLOW;
	nb_base64((const unsigned char *)script, len, b64);
	ret = __kvnet_guest_run(&t->guest, NB_CMD_MS, out, sizeof(out),
				"echo %s | base64 -d >/tmp/nb.sh", b64);
	if (ret)
		nb_errf(err, errlen, "installing /tmp/nb.sh in the guest: %s%s",
			ret < 0 ? kvnet_errname(-ret) : "failed: ", out);
	return ret ? (ret < 0 ? ret : -EIO) : 0;
}

/*
 * The features the guest's driver negotiated, the network ones by name:
 * the configurations are compared with the same ones, or the notes say.
 */
static void nb_guest_features(struct nb_target *t, char *names, size_t len)
{
	static const struct {
		unsigned int bit;
		const char *name;
	} bits[] = {
		{ VIRTIO_NET_F_CSUM, "csum" },
		{ VIRTIO_NET_F_GUEST_CSUM, "guest_csum" },
		{ VIRTIO_NET_F_GUEST_TSO4, "guest_tso4" },
		{ VIRTIO_NET_F_GUEST_TSO6, "guest_tso6" },
		{ VIRTIO_NET_F_GUEST_ECN, "guest_ecn" },
		{ VIRTIO_NET_F_HOST_TSO4, "host_tso4" },
		{ VIRTIO_NET_F_HOST_TSO6, "host_tso6" },
		{ VIRTIO_NET_F_HOST_ECN, "host_ecn" },
		{ VIRTIO_NET_F_MRG_RXBUF, "mrg_rxbuf" },
		{ VIRTIO_NET_F_CTRL_VQ, "ctrl_vq" },
		{ VIRTIO_NET_F_MQ, "mq" },
		{ VIRTIO_RING_F_INDIRECT_DESC, "indirect_desc" },
		{ VIRTIO_RING_F_EVENT_IDX, "event_idx" },
		{ VIRTIO_F_VERSION_1, "version_1" },
	};
	char out[256], *p;
	size_t used = 0;
	unsigned int i;

	names[0] = '\0';
	/* One character per bit, bit 0 first. */
	if (__kvnet_guest_run(&t->guest, NB_CMD_MS, out, sizeof(out),
			      "cat /sys/bus/virtio/devices/virtio*/features"))
		return;
	p = out + strspn(out, "\n");
	if (strspn(p, "01") < 64)
		return;
	for (i = 0; i < ARRAY_SIZE(bits); i++)
		if (p[bits[i].bit] == '1' && used < len)
			used += snprintf(names + used, len - used, "%s%s",
					 used ? " " : "", bits[i].name);
}

/* Set up the client's side of @t: boot its guest, or the veth. */
static int nb_target_setup(struct nb_target *t, unsigned int boot_ms,
			   double *boot_s, char *features, size_t featlen,
			   char *err, size_t errlen)
{
	char out[1024];
	int ret;

	if (t->cfg->kind == NB_VETH)
		return 0;
	ret = nb_guest_boot(t, boot_ms, boot_s, err, errlen);
	if (ret)
		return ret;
	/* ARP and a first round trip before anything is measured. */
	ret = __kvnet_guest_run(&t->guest, NB_CMD_MS, out, sizeof(out),
				"ping -c 2 -W 5 %s", KVNET_PEER_ADDR);
	if (ret) {
		nb_errf(err, errlen, "guest ping: %s: %s",
			ret < 0 ? kvnet_errname(-ret) : "failed", out);
		return ret < 0 ? ret : -EIO;
	}
	nb_guest_features(t, features, featlen);
	return nb_guest_install(t, err, errlen);
}

/* kvnet-vmm's --stats, in its console log once it exited. */
static void nb_parse_vmm_stats(struct nb_result *r, const char *log_path)
{
	unsigned long long pk, by, ki, ca, dr, er, total;
	char line[1024], q[8];
	bool in_exits = false;
	FILE *f;

	r->vmm_rx = (struct nb_vmm_queue){ NAN, NAN, NAN };
	r->vmm_tx = r->vmm_rx;
	r->vmm_user_exits = NAN;
	f = fopen(log_path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "KVM exits by reason:"))
			in_exits = true;
		if (in_exits &&
		    sscanf(line, " total: %llu", &total) == 1) {
			r->vmm_user_exits = total;
			in_exits = false;
		}
		if (sscanf(line, "net: %7s packets %llu bytes %llu kicks %llu "
			   "calls %llu dropped %llu errors %llu", q, &pk, &by,
			   &ki, &ca, &dr, &er) != 7)
			continue;
		if (!strcmp(q, "rx"))
			r->vmm_rx = (struct nb_vmm_queue){ pk, ki, ca };
		else if (!strcmp(q, "tx"))
			r->vmm_tx = (struct nb_vmm_queue){ pk, ki, ca };
	}
	fclose(f);
}

/*
 * QEMU falls back to serving the rings itself when its vhost backend
 * fails, and says so on stderr, in the console log: the first such line
 * into @line, or false.
 */
static bool nb_qemu_vhost_complaint(const char *log_path, char *line,
				    size_t len)
{
	bool found = false;
	FILE *f;

	f = fopen(log_path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, len, f))
		found = !strncmp(line, NB_QEMU ":", strlen(NB_QEMU ":")) &&
			strstr(line, "vhost");
	fclose(f);
	if (found)
		line[strcspn(line, "\r\n")] = '\0';
	return found;
}

/* Power the guest off, take the VMM's counters; @r's error if it failed. */
static void nb_target_teardown(struct nb_target *t, struct nb_result *r)
{
	char line[200];
	int ret;

	if (t->booted) {
		ret = __kvnet_guest_poweroff(&t->guest, NB_POWEROFF_MS);
		if (ret) {
			if (!r->error[0])
				nb_errf(r->error, sizeof(r->error),
					"the guest did not power off: %s",
					ret < 0 ? kvnet_errname(-ret) :
					kvnet_fmt("exit status %d", ret));
			nb_note("%s: the guest did not power off cleanly "
				"(%s)", t->cfg->name, ret < 0 ?
				kvnet_errname(-ret) :
				kvnet_fmt("exit status %d", ret));
			nb_show_log(t);
		}
		kvnet_guest_close(&t->guest);
		if (t->cfg->kind == NB_KVNET_VMM)
			nb_parse_vmm_stats(r, t->guest.log_path);
		if (t->cfg->kind == NB_QEMU_VMM &&
		    nb_qemu_vhost_complaint(t->guest.log_path, line,
					    sizeof(line))) {
			nb_errf(r->error, sizeof(r->error),
				"QEMU's vhost backend failed: %s", line);
			nb_note("%s: %s", t->cfg->name, r->error);
		}
		unlink(t->guest.log_path);
		t->booted = false;
	}
	if (t->kvnet_fd >= 0) {
		close(t->kvnet_fd);
		t->kvnet_fd = -1;
	}
}

/* ---- one run ------------------------------------------------------------ */

/* Start @cmd in the guest (/tmp/nb.sh start): 0 or -errno. */
static int nb_guest_launch(struct nb_target *t, const char *cmd, char *err,
			   size_t errlen)
{
	char out[512];
	int ret;

	ret = __kvnet_guest_run(&t->guest, NB_CMD_MS, out, sizeof(out),
				"sh /tmp/nb.sh start %s", cmd);
	if (ret)
		nb_errf(err, errlen, "starting the client in the guest: %s%s",
			ret < 0 ? kvnet_errname(-ret) : "failed: ", out);
	return ret ? (ret < 0 ? ret : -EIO) : 0;
}

/*
 * Wait for the guest's client to end and take what it left (/tmp/nb.sh
 * result): its output (in @out, *@tool_out where it starts), exit status
 * and the interrupts it saw. The exit status, or -errno.
 */
static int nb_guest_collect(struct nb_target *t, char *out, size_t outlen,
			    char **tool_out, double count[NB_C_MAX])
{
	double rx0, tx0, rx1, tx1;
	char *o, *i0, *i1, *rc;
	int ret, status;

	*tool_out = out;
	ret = __kvnet_guest_run(&t->guest, NB_RUN_SLACK_MS + 5000, out, outlen,
				"sh /tmp/nb.sh result");
	if (ret)
		return ret < 0 ? ret : -ETIMEDOUT;
	o = strstr(out, "@o\n");
	i0 = strstr(out, "\n@i0\n");
	i1 = strstr(out, "\n@i1\n");
	rc = strstr(out, "\n@rc ");
	if (!o || !i0 || !i1 || !rc || i0 < o || i1 < i0 || rc < i1)
		return -EPROTO;
	*tool_out = o + 3;
	status = atoi(rc + 5);
	*rc = *i1 = *i0 = '\0';
	nb_parse_irqs(i0 + 5, &rx0, &tx0);
	nb_parse_irqs(i1 + 5, &rx1, &tx1);
	count[NB_C_GUEST_IRQ_RX] = rx1 - rx0;
	count[NB_C_GUEST_IRQ_TX] = tx1 - tx0;
	return status;
}

/*
 * The client's command line for @test, @secs long, against the peer at
 * @addr; the tool in @dir, or found in PATH.
 */
static const char *nb_client_cmd(const struct nb_test *test, double secs,
				 const char *dir, const char *addr)
{
	return kvnet_fmt("%s%s%s -c %s -l %.1f -j%s", dir ? dir : "",
			 dir ? "/" : "", test->tool, addr, secs, test->flags);
}

/* Fill the metrics of @s from the client's JSON in @text. */
static int nb_sample_parse(struct nb_sample *s, const struct nb_test *test,
			   const char *text)
{
	const char *json = nb_json_line(text, test->name);
	unsigned int i;

	if (!json)
		return -EPROTO;
	if (test == &nb_tests[NB_TEST_RR]) {
		s->m[NB_M_RATE] = nb_json_num(json, "trans_per_s");
		s->m[NB_M_P50] = nb_json_num(json, "p50_us");
		s->m[NB_M_P99] = nb_json_num(json, "p99_us");
		s->units = nb_json_num(json, "transactions");
	} else {
		s->m[NB_M_RATE] = nb_json_num(json, "gbps");
		s->units = nb_json_num(json, "received_bytes") / 65536;
	}
	if (isnan(s->m[NB_M_RATE]) || !(s->units > 0))
		return -EPROTO;
	for (i = 0; i < NB_C_MAX; i++)
		s->m[NB_M_COUNT + i] = s->count[i] / s->units;
	s->m[NB_M_GUEST_IRQS] = (s->count[NB_C_GUEST_IRQ_RX] +
				 s->count[NB_C_GUEST_IRQ_TX]) / s->units;
	s->m[NB_M_KICKS] = (s->count[NB_C_KVNET_RX_KICKS] +
			    s->count[NB_C_KVNET_TX_KICKS]) / s->units;
	s->m[NB_M_CALLS] = (s->count[NB_C_KVNET_RX_CALLS] +
			    s->count[NB_C_KVNET_TX_CALLS]) / s->units;
	return 0;
}

/*
 * netperf's @test between the veth namespaces, for comparison: its rate
 * (trans/s, or Gbit/s), NAN on any failure.
 */
static double nb_netperf(struct nb_target *t, const struct nb_test *test,
			 double secs)
{
	struct kvnet_host_cmd server;
	char out[1024], *last;
	double v;

	if (__kvnet_host_spawn(&server, "exec netserver -D"))
		return NAN;
	kvnet_sleep_ms(300);
	if (kvnet_run(out, sizeof(out),
		      "nsenter --net=/proc/%d/ns/net netperf -P 0 -H %s -l %u"
		      " -t %s -- -o THROUGHPUT,THROUGHPUT_UNITS",
		      t->host->veth_holder, NB_VETH_PEER_ADDR,
		      (unsigned int)(secs + 0.5), test->netperf)) {
		v = NAN;
	} else {
		last = strrchr(out, '\n');
		last = last && last[1] ? last + 1 : out;
		v = strtod(last, NULL);
		/* netperf's streams report 10^6 bits/s. */
		if (strstr(last, "10^6bits"))
			v /= 1000;
	}
	__kvnet_host_collect(&server, 0, NULL, 0);
	return v;
}

/* One run of @test: the sample, s->ok and s->error saying how it went. */
static void nb_run_once(struct nb_target *t, const struct nb_test *test,
			double secs, struct nb_sample *s)
{
	unsigned int timeout = secs * 1000 + NB_RUN_SLACK_MS, i;
	struct kvnet_host_cmd server, client;
	double before[NB_C_MAX], after[NB_C_MAX];
	char sout[1024], cout[4096], line[120], *tool_out = cout;
	const char *cmd;
	int sret, cret, ret;
	pid_t vmm;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < NB_M_MAX; i++)
		s->m[i] = NAN;
	s->netperf_rate = NAN;
	ret = __kvnet_host_spawn(&server, "exec %s/%s -s -1 -j", nb_tool_dir,
				 test->tool);
	if (ret) {
		nb_errf(s->error, sizeof(s->error), "server: %s",
			kvnet_errname(-ret));
		return;
	}
	/*
	 * The client gives up after 5 s of refused connections: a server
	 * that a loaded machine starts late must not make that happen.
	 */
	if (!kvnet_wait_until(kvnet_tcp_listening(test->port), NB_CMD_MS)) {
		__kvnet_host_collect(&server, 0, sout, sizeof(sout));
		nb_errf(s->error, sizeof(s->error),
			"the server does not listen on port %u: %s",
			test->port, nb_first_line(sout, line, sizeof(line)));
		return;
	}
	if (t->cfg->kind == NB_VETH) {
		cmd = nb_client_cmd(test, secs, nb_tool_dir,
				    NB_VETH_PEER_ADDR);
		ret = __kvnet_host_spawn(&client, "exec nsenter "
					 "--net=/proc/%d/ns/net %s",
					 t->host->veth_holder, cmd);
		if (ret)
			nb_errf(s->error, sizeof(s->error), "client: %s",
				kvnet_errname(-ret));
	} else {
		ret = nb_guest_launch(t, nb_client_cmd(test, secs, NULL,
						       KVNET_PEER_ADDR),
				      s->error, sizeof(s->error));
	}
	if (ret) {
		__kvnet_host_collect(&server, 0, NULL, 0);
		return;
	}
	vmm = t->booted ? t->guest.pid : 0;
	nb_host_counts(vmm, t->kvnet_dir, before);
	/* The server ends with the test: the window closes at once. */
	sret = __kvnet_host_collect(&server, timeout, sout, sizeof(sout));
	nb_host_counts(vmm, t->kvnet_dir, after);
	for (i = 0; i < NB_C_MAX; i++)
		s->count[i] = after[i] - before[i];

	if (t->cfg->kind == NB_VETH)
		cret = __kvnet_host_collect(&client, NB_RUN_SLACK_MS, cout,
					    sizeof(cout));
	else
		cret = nb_guest_collect(t, cout, sizeof(cout), &tool_out,
					s->count);
	if (cret) {
		nb_errf(s->error, sizeof(s->error), "client: %s: %s",
			cret < 0 ? kvnet_errname(-cret) :
			kvnet_fmt("exit status %d", cret),
			nb_first_line(tool_out, line, sizeof(line)));
		return;
	}
	if (sret) {
		nb_errf(s->error, sizeof(s->error), "server: %s: %s",
			sret < 0 ? kvnet_errname(-sret) :
			kvnet_fmt("exit status %d", sret),
			nb_first_line(sout, line, sizeof(line)));
		return;
	}
	if (nb_sample_parse(s, test, tool_out)) {
		nb_errf(s->error, sizeof(s->error), "no result in: %s",
			nb_first_line(tool_out, line, sizeof(line)));
		return;
	}
	s->ok = true;
}

/* ---- a configuration ---------------------------------------------------- */

/* Milliseconds left of the --budget (UINT64_MAX: none). */
static uint64_t nb_ms_left(void)
{
	uint64_t now = kvnet_now_ms();

	if (!nb_deadline_ms)
		return UINT64_MAX;
	return now < nb_deadline_ms ? nb_deadline_ms - now : 0;
}

/* What one round of the tests takes, about. */
static uint64_t nb_round_ms(const struct nb_opts *o)
{
	return NB_TEST_MAX * (o->secs * 1000 + NB_RUN_OVERHEAD_MS);
}

static void nb_print_sample(const struct nb_config *cfg,
			    const struct nb_test *test, unsigned int rep,
			    const struct nb_sample *s)
{
	bool rr = test == &nb_tests[NB_TEST_RR];
	char counts[160] = "";

	if (!s->ok) {
		nb_note("%s %s #%u: failed: %s", cfg->name, test->name,
			rep + 1, s->error);
		return;
	}
	if (!isnan(s->m[NB_M_COUNT + NB_C_EXITS]))
		nb_errf(counts, sizeof(counts),
			"; per %s %.2f exits, %.2f guest irqs", test->unit,
			s->m[NB_M_COUNT + NB_C_EXITS], s->m[NB_M_GUEST_IRQS]);
	nb_note("%s %s #%u: %.*f %s%s, %.0f %s%s", cfg->name, test->name,
		rep + 1, rr ? 0 : 3, s->m[NB_M_RATE], test->rate_unit,
		rr ? kvnet_fmt(" (p50 %.0f us, p99 %.0f us)", s->m[NB_M_P50],
			       s->m[NB_M_P99]) : "",
		s->units, rr ? "transactions" : "x 64 KiB", counts);
	if (!isnan(s->netperf_rate))
		nb_note("%s %s #%u: netperf says %.*f %s", cfg->name,
			test->name, rep + 1, rr ? 0 : 3, s->netperf_rate,
			test->rate_unit);
}

/* Boot @r's guest, run the tests in rounds, power it off. */
static void nb_config_run(struct nb_result *r, const struct nb_host *host,
			  const struct nb_opts *o, bool netperf)
{
	struct nb_target t = { .cfg = r->cfg, .host = host, .kvnet_fd = -1 };
	uint64_t boot_ms = NB_BOOT_MS, left = nb_ms_left();
	unsigned int rep, i;
	int ret;

	/* A boot that would leave no time for a round is not worth it. */
	if (left < UINT64_MAX) {
		left = left > nb_round_ms(o) + NB_USUAL_POWEROFF_MS ?
		       left - nb_round_ms(o) - NB_USUAL_POWEROFF_MS : 0;
		if (left < boot_ms)
			boot_ms = left;
	}
	if (r->cfg->kind != NB_VETH && boot_ms < NB_MIN_BOOT_MS) {
		nb_errf(r->error, sizeof(r->error),
			"not run: out of time (--budget)");
		nb_note("%s: %s", r->cfg->name, r->error);
		return;
	}
	nb_note("%s: setting up", r->cfg->name);
	r->ran = true;
	ret = nb_target_setup(&t, boot_ms, &r->boot_s, r->features,
			      sizeof(r->features), r->error, sizeof(r->error));
	if (ret) {
		nb_note("%s: failed: %s", r->cfg->name, r->error);
		nb_show_log(&t);
		goto out;
	}
	if (t.booted)
		nb_note("%s: guest ready after %.1f s, features: %s",
			r->cfg->name, r->boot_s,
			r->features[0] ? r->features : "unknown");
	for (rep = 0; rep < o->reps; rep++) {
		if (nb_ms_left() < nb_round_ms(o) + NB_USUAL_POWEROFF_MS) {
			nb_errf(r->error, sizeof(r->error),
				"%u of %u rounds: out of time (--budget)",
				rep, o->reps);
			nb_note("%s: %s", r->cfg->name, r->error);
			break;
		}
		for (i = 0; i < NB_TEST_MAX; i++) {
			struct nb_sample *s = &r->samples[i][rep];

			nb_run_once(&t, &nb_tests[i], o->secs, s);
			if (netperf && t.cfg->kind == NB_VETH && !rep)
				s->netperf_rate = nb_netperf(&t, &nb_tests[i],
							     o->secs);
			nb_print_sample(r->cfg, &nb_tests[i], rep, s);
		}
		r->reps_done = rep + 1;
		/* A guest that died takes every later run with it. */
		if (t.booted &&
		    __kvnet_guest_wait_exit(&t.guest, 0) != -ETIMEDOUT) {
			nb_errf(r->error, sizeof(r->error),
				"the guest's VMM exited during the runs");
			nb_show_log(&t);
			break;
		}
	}
out:
	nb_target_teardown(&t, r);
}

/* ---- main --------------------------------------------------------------- */

static void nb_usage(FILE *f)
{
	fprintf(f,
		"usage: net_bench [-q] [-l SECS] [-n RUNS] [-c CONFIG,...] "
		"[-j PATH|-] [-b SECS]\n"
		"  -q, --quick       one run of 2 s per test (-l and -n "
		"given later win)\n"
		"  -l, --length SECS each run's duration (default 5)\n"
		"  -n, --runs N      runs per test, the median reported "
		"(default 3, at most %u)\n"
		"  -c, --configs L   of veth, vmm-user, vmm-vhost, vmm-kvnet, "
		"qemu-vhost, qemu-kvnet\n"
		"                    (default all)\n"
		"  -j, --json PATH   the JSON there, or between marker lines "
		"on stdout with -\n"
		"  -b, --budget SECS skip what would not end within SECS\n"
		"  -p, --poll-us N   the kernel backends busy poll N us "
		"(poll-us=; default 0)\n"
		"Runs in the test VM as root (kvnet loaded, nested KVM); "
		"see README.md,\n\"Guest benchmarks\". Exit status: 0 if "
		"every run of every configuration\nworked, 1 if not, 2 bad "
		"usage.\n", NB_MAX_REPS);
}

static int nb_select_configs(struct nb_result *res, char *list)
{
	char *name, *save;
	unsigned int c;

	for (c = 0; c < NB_CFG_MAX; c++)
		res[c].selected = false;
	for (name = strtok_r(list, ",", &save); name;
	     name = strtok_r(NULL, ",", &save)) {
		for (c = 0; c < NB_CFG_MAX; c++)
			if (!strcmp(name, nb_configs[c].name))
				break;
		if (c == NB_CFG_MAX) {
			fprintf(stderr, "net_bench: no configuration '%s'\n",
				name);
			return -EINVAL;
		}
		res[c].selected = true;
	}
	return 0;
}

static int nb_parse_opts(int argc, char **argv, struct nb_opts *o,
			 struct nb_result *res)
{
	static const struct option longopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "length", required_argument, NULL, 'l' },
		{ "runs", required_argument, NULL, 'n' },
		{ "configs", required_argument, NULL, 'c' },
		{ "json", required_argument, NULL, 'j' },
		{ "budget", required_argument, NULL, 'b' },
		{ "poll-us", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	char *end;
	int opt;

	*o = (struct nb_opts){ .secs = 5, .reps = 3 };
	while ((opt = getopt_long(argc, argv, "ql:n:c:j:b:p:h", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 'q':
			o->quick = true;
			o->secs = 2;
			o->reps = 1;
			break;
		case 'l':
			o->secs = strtod(optarg, &end);
			if (*end || !(o->secs >= 0.5 && o->secs <= 600))
				goto bad;
			break;
		case 'n':
			o->reps = strtoul(optarg, &end, 10);
			if (*end || !o->reps || o->reps > NB_MAX_REPS)
				goto bad;
			break;
		case 'c':
			if (nb_select_configs(res, optarg))
				return -EINVAL;
			break;
		case 'j':
			o->json = optarg;
			break;
		case 'b':
			o->budget_s = strtoul(optarg, &end, 10);
			if (*end || !o->budget_s)
				goto bad;
			break;
		case 'p':
			o->poll_us = strtoul(optarg, &end, 10);
			if (*end || !isdigit((unsigned char)*optarg) ||
			    o->poll_us > 1000000)
				goto bad;
			nb_poll_us = o->poll_us;
			break;
		case 'h':
			nb_usage(stdout);
			exit(0);
		default:
			nb_usage(stderr);
			return -EINVAL;
		}
	}
	if (optind == argc)
		return 0;
bad:
	fprintf(stderr, "net_bench: bad argument '%s'\n",
		optind < argc ? argv[optind] : optarg);
	nb_usage(stderr);
	return -EINVAL;
}

int main(int argc, char **argv)
{
	static struct nb_bench b;
	struct nb_host host = { .veth_holder = 0 };
	char err[256], exit_err[256] = "";
	struct nb_opts *o = &b.opts;
	struct nb_result *res = b.res;
	unsigned int c, i;
	time_t now;
	FILE *f;
	int ret;

	for (c = 0; c < NB_CFG_MAX; c++) {
		res[c].cfg = &nb_configs[c];
		res[c].selected = true;
	}
	if (nb_parse_opts(argc, argv, o, res))
		return 2;
	ret = nb_find_repo();
	if (ret) {
		fprintf(stderr, "net_bench: the repository: %s\n",
			kvnet_errname(-ret));
		return 1;
	}
	for (i = 0; i < NB_TEST_MAX; i++)
		if (access(kvnet_fmt("%s/%s", nb_tool_dir, nb_tests[i].tool),
			   X_OK)) {
			fprintf(stderr, "net_bench: no %s in %s: run make\n",
				nb_tests[i].tool, nb_tool_dir);
			return 1;
		}
	nb_start_ms = kvnet_now_ms();
	if (o->budget_s)
		nb_deadline_ms = nb_start_ms + o->budget_s * 1000ULL;
	now = time(NULL);
	strftime(b.date, sizeof(b.date), "%Y-%m-%d %H:%M UTC", gmtime(&now));
	b.have_netperf = !kvnet_run(NULL, 0, "command -v netperf && "
				    "command -v netserver");
	nb_note("%s, %.1f s per run, %u run%s per test, busy poll %u us",
		b.date, o->secs, o->reps, o->reps > 1 ? "s" : "", o->poll_us);

	ret = nb_host_setup(&host, err, sizeof(err));
	if (!ret && nb_exit_trace_start(exit_err, sizeof(exit_err)))
		nb_note("no exits by reason: %s", exit_err);
	for (i = 0; i < NB_CFG_MAX; i++) {
		struct nb_result *r = &res[nb_run_order[i]];

		if (!r->selected)
			continue;
		if (ret)
			nb_errf(r->error, sizeof(r->error),
				"not run: the host side: %s", err);
		else
			nb_config_run(r, &host, o, b.have_netperf);
	}
	nb_exit_trace_stop();
	nb_host_teardown(&host);
	for (c = 0; c < NB_CFG_MAX; c++)
		nb_stats(&res[c]);

	printf("%s\n", NB_MARK_TABLE);
	nb_print_table(&b);
	printf("%s\n", NB_MARK_PLOT);
	nb_print_plot(&b);
	if (o->json && !strcmp(o->json, "-")) {
		printf("%s\n", NB_MARK_JSON);
		nb_json(stdout, &b);
	}
	printf("%s\n", NB_MARK_END);
	fflush(stdout);
	if (o->json && strcmp(o->json, "-")) {
		f = fopen(o->json, "we");
		if (!f) {
			fprintf(stderr, "net_bench: %s: %s\n", o->json,
				strerror(errno));
			return 1;
		}
		nb_json(f, &b);
		fclose(f);
	}
	return nb_all_ok(&b) ? 0 : 1;
}
