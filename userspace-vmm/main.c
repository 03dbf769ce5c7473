// SPDX-License-Identifier: GPL-2.0
/*
 * kvnet-vmm: the command line, bringing the machine up in order, waiting
 * for the guest or a signal to end it, and tearing it down in reverse.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/boot.h"
#include "vmm/bus.h"
#include "vmm/cpu.h"
#include "vmm/firmware.h"
#include "vmm/kvm.h"
#include "vmm/legacy.h"
#include "vmm/machine.h"
#include "vmm/net.h"
#include "vmm/serial.h"
#include "vmm/util.h"

#define VMM_MAX_CPUS		64
#define VMM_DEFAULT_MEM		(512 * SZ_1M)
#define VMM_MIN_MEM		(64 * SZ_1M)
#define VMM_MAX_MEM		(1024 * SZ_1G)

/*
 * The console on the UART; reboot through the keyboard controller; a
 * panic reboots at once (the VMM turns that into status 1); PCI probed
 * with conf1 because the ACPI tables describe no host bridge, and no
 * early scans of every bus for chipset quirks (there is no chipset: they
 * cost some 17000 port exits); only the one UART there is.
 */
#define VMM_DEFAULT_CMDLINE \
	"console=ttyS0 reboot=k panic=-1 pci=noacpi,noearly 8250.nr_uarts=1"

/* Sent to the main thread when the machine must stop. */
#define SIG_MACHINE_STOP	SIGUSR2

struct vmm_opts {
	const char *kernel;
	const char *initrd;
	const char *append;
	unsigned int cpus;
	uint64_t mem;
	bool have_net;
	struct net_opts net;
	bool stats;
};

/* The machine's fate. Protected by machine_lock; stopping also atomic. */
static pthread_mutex_t machine_lock = PTHREAD_MUTEX_INITIALIZER;
static bool machine_stop;
static int machine_status;
static char machine_msg[640];
static bool machine_msg_is_error;
static char panic_line[512];
static pthread_t main_thread;

static void usage(FILE *out)
{
	fprintf(out,
"Usage: kvnet-vmm --kernel BZIMAGE [options]\n"
"\n"
"Boot a Linux guest on KVM with its console on stdin/stdout and, with\n"
"--net, a virtio-net device whose rings a kernel backend (kvnet, vhost-net)\n"
"or the VMM itself serves.\n"
"\n"
"Options:\n"
"  -k, --kernel BZIMAGE  the kernel (a 64-bit bzImage, boot protocol 2.12+)\n"
"  -i, --initrd FILE     an initramfs to go with it\n"
"  -a, --append ARGS     added to the guest command line after the default\n"
"  -c, --cpus N          vCPUs, 1 to min(KVM's limit, %d); default 1\n"
"  -m, --mem SIZE        guest memory: a number with a K, M, G or T suffix\n"
"                        (binary units), or a bare number of MiB; a whole\n"
"                        number of MiB from 64M to 1T; default 512M\n"
"  -n, --net SPEC        a virtio-net device (at most one):\n"
"                          tap=NAME[,mac=XX:XX:XX:XX:XX:XX][,backend=B]\n"
"                              [,poll-us=N]\n"
"                          macvtap=NAME or macvtap=/dev/tapN, same options\n"
"                        B is user, vhost or kvnet; the default is kvnet if\n"
"                        /dev/kvnet exists, else vhost, else user. N: how\n"
"                        long (microseconds, at most 1000000) the kernel\n"
"                        backend busy polls a queue before it sleeps, as\n"
"                        QEMU's -netdev tap,poll-us=; default 0\n"
"  -s, --stats           on exit, print to stderr the KVM exits by reason,\n"
"                        the port and MMIO accesses, and the device's counters\n"
"  -q, --quiet           no informational messages, only errors\n"
"  -h, --help            this text\n"
"\n"
"Default guest command line:\n"
"  %s\n"
"\n"
"Console: the guest's ttyS0 (a 16550A UART) is on stdin/stdout. On a\n"
"terminal, stdin is in raw mode (every key goes to the guest) and Ctrl-A x\n"
"stops the VMM as SIGINT would; Ctrl-A Ctrl-A sends a Ctrl-A. stdin may be\n"
"a pipe; its end is not the end of the guest.\n"
"\n"
"Exit status:\n"
"  0        the guest powered off or rebooted\n"
"  1        the guest panicked (\"guest panicked: <the panic line>\"), triple\n"
"           faulted, or KVM or a device failed; or the VM could not be\n"
"           set up (no /dev/kvm, tap not available, ...)\n"
"  2        bad command line (unknown option, missing or unreadable\n"
"           --kernel, not a bzImage, bad size or count, bad --net): nothing\n"
"           was started\n"
"  128+N    stopped by signal N (SIGINT 130, SIGTERM 143, SIGHUP 129)\n",
		VMM_MAX_CPUS, VMM_DEFAULT_CMDLINE);
}

/* Stop the machine with @status; the first request wins. */
static void machine__request_stop(int status, bool is_error, const char *msg)
{
	pthread_mutex_lock(&machine_lock);
	if (!machine_stop) {
		machine_status = status;
		machine_msg_is_error = is_error;
		snprintf(machine_msg, sizeof(machine_msg), "%s", msg);
		__atomic_store_n(&machine_stop, true, __ATOMIC_SEQ_CST);
		pthread_kill(main_thread, SIG_MACHINE_STOP);
	}
	pthread_mutex_unlock(&machine_lock);
}

bool machine__stopping(void)
{
	return __atomic_load_n(&machine_stop, __ATOMIC_SEQ_CST);
}

void machine__poweroff(void)
{
	machine__request_stop(VMM_EXIT_OK, false, "guest powered off");
}

static void machine__panic_stop(void)
{
	char msg[sizeof(machine_msg)];

	pthread_mutex_lock(&machine_lock);
	snprintf(msg, sizeof(msg), "guest panicked: %s", panic_line);
	pthread_mutex_unlock(&machine_lock);
	machine__request_stop(VMM_EXIT_GUEST, true, msg);
}

/* Whether the console has shown a panic line. */
static bool machine__panicked(void)
{
	bool panicked;

	pthread_mutex_lock(&machine_lock);
	panicked = panic_line[0];
	pthread_mutex_unlock(&machine_lock);
	return panicked;
}

void machine__reset(void)
{
	if (machine__panicked())
		machine__panic_stop();
	else
		machine__request_stop(VMM_EXIT_OK, false, "guest rebooted");
}

void machine__note_panic(const char *line)
{
	pthread_mutex_lock(&machine_lock);
	if (!panic_line[0])
		snprintf(panic_line, sizeof(panic_line), "%s", line);
	pthread_mutex_unlock(&machine_lock);
}

void machine__panic_done(void)
{
	if (machine__panicked())
		machine__panic_stop();
}

void machine__fail(const char *fmt, ...)
{
	char msg[sizeof(machine_msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	machine__request_stop(VMM_EXIT_GUEST, true, msg);
}

/* "512M", "1G", "2048" (MiB): bytes, or 0 if it is not a size. */
static uint64_t parse_size(const char *s)
{
	unsigned long long n;
	unsigned int shift = 20;
	char *end;

	if (*s < '0' || *s > '9')
		return 0;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno)
		return 0;
	switch (*end) {
	case 'k': case 'K':
		shift = 10;
		end++;
		break;
	case 'm': case 'M':
		shift = 20;
		end++;
		break;
	case 'g': case 'G':
		shift = 30;
		end++;
		break;
	case 't': case 'T':
		shift = 40;
		end++;
		break;
	}
	if (*end || n > (UINT64_MAX >> shift))
		return 0;
	return (uint64_t)n << shift;
}

static int parse_cpus(const char *s, unsigned int *cpus)
{
	unsigned long n;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || *end || n < 1 || n > VMM_MAX_CPUS)
		return -EINVAL;
	*cpus = n;
	return 0;
}

static int parse_args(int argc, char **argv, struct vmm_opts *o)
{
	static const struct option longopts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "append", required_argument, NULL, 'a' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "mem", required_argument, NULL, 'm' },
		{ "net", required_argument, NULL, 'n' },
		{ "stats", no_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->cpus = 1;
	o->mem = VMM_DEFAULT_MEM;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":k:i:a:c:m:n:sqh", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'k':
			o->kernel = optarg;
			break;
		case 'i':
			o->initrd = optarg;
			break;
		case 'a':
			o->append = optarg;
			break;
		case 'c':
			if (parse_cpus(optarg, &o->cpus)) {
				pr_err("--cpus %s: not a number from 1 to %d",
				       optarg, VMM_MAX_CPUS);
				return -EINVAL;
			}
			break;
		case 'm':
			o->mem = parse_size(optarg);
			if (!o->mem || o->mem % SZ_1M || o->mem < VMM_MIN_MEM ||
			    o->mem > VMM_MAX_MEM) {
				pr_err("--mem %s: not a whole number of MiB from 64M to 1T",
				       optarg);
				return -EINVAL;
			}
			break;
		case 'n':
			if (o->have_net) {
				pr_err("--net: only one network device");
				return -EINVAL;
			}
			if (net__parse(optarg, &o->net))
				return -EINVAL;
			o->have_net = true;
			break;
		case 's':
			o->stats = true;
			break;
		case 'q':
			vmm_quiet = true;
			break;
		case 'h':
			usage(stdout);
			exit(VMM_EXIT_OK);
		case ':':
			pr_err("%s needs an argument (see --help)",
			       argv[optind - 1]);
			return -EINVAL;
		default:
			pr_err("unknown option %s (see --help)",
			       argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		pr_err("unexpected argument '%s' (see --help)", argv[optind]);
		return -EINVAL;
	}
	if (!o->kernel) {
		pr_err("--kernel is required (see --help)");
		return -EINVAL;
	}
	return 0;
}

static char *build_cmdline(const char *append)
{
	size_t len = strlen(VMM_DEFAULT_CMDLINE) + 1;
	char *cmdline;

	if (append)
		len += 1 + strlen(append);
	cmdline = malloc(len);
	if (!cmdline)
		return NULL;
	if (append && *append)
		snprintf(cmdline, len, "%s %s", VMM_DEFAULT_CMDLINE, append);
	else
		snprintf(cmdline, len, "%s", VMM_DEFAULT_CMDLINE);
	return cmdline;
}

/*
 * Every thread starts with these blocked: the main thread takes them with
 * sigwaitinfo(), so a Ctrl-C or kill never lands in a vCPU or device thread.
 */
static void block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIG_MACHINE_STOP);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	/* A closed stdout must not kill the VMM: writes just fail. */
	signal(SIGPIPE, SIG_IGN);
}

/* Until the machine stops or a signal says so; the exit status. */
static int wait_for_end(const sigset_t *set)
{
	int sig;

	for (;;) {
		sig = sigwaitinfo(set, NULL);
		if (sig < 0) {
			if (errno == EINTR)
				continue;
			machine__fail("sigwaitinfo: %s", strerror(errno));
			break;
		}
		if (sig == SIG_MACHINE_STOP)
			break;
		if (!machine__stopping()) {
			char msg[64];

			snprintf(msg, sizeof(msg), "stopped by SIG%s",
				 sigabbrev_np(sig));
			machine__request_stop(128 + sig, false, msg);
		}
		break;
	}
	pthread_mutex_lock(&machine_lock);
	sig = machine_status;
	pthread_mutex_unlock(&machine_lock);
	return sig;
}

static void print_stats(const struct vcpu *vcpus, unsigned int nr)
{
	fprintf(stderr, "kvnet-vmm statistics\n");
	vcpu__print_stats(stderr, vcpus, nr);
	bus__print_stats(stderr);
	net__print_stats(stderr);
}

/* Bring the devices up and lay out guest memory. 0 or -errno. */
static int setup_machine(struct vm *vm, const struct vmm_opts *o,
			 struct boot_kernel *k, const char *cmdline)
{
	uint64_t rsdp;
	int ret;

	ret = legacy__init();
	if (ret)
		return ret;
	ret = serial__init(vm);
	if (ret)
		return ret;
	rsdp = acpi__setup(vm, o->cpus);
	if (!rsdp)
		return -EINVAL;
	ret = mptable__setup(vm, o->cpus);
	if (ret) {
		pr_err("cannot write the MP table: %s", strerror(-ret));
		return ret;
	}
	return boot__setup(vm, k, cmdline, rsdp);
}

int main(int argc, char **argv)
{
	struct boot_kernel kernel;
	struct vcpu *vcpus = NULL;
	unsigned int nr_vcpus = 0, i;
	int status = VMM_EXIT_GUEST;
	struct vmm_opts opts;
	bool net_up = false;
	char *cmdline;
	struct vm vm;
	sigset_t set;
	int max_cpus;

	main_thread = pthread_self();
	if (parse_args(argc, argv, &opts))
		return VMM_EXIT_USAGE;
	if (boot__read_kernel(&kernel, opts.kernel))
		return VMM_EXIT_USAGE;
	if (opts.initrd && boot__open_initrd(&kernel, opts.initrd))
		goto err_usage;
	cmdline = build_cmdline(opts.append);
	if (!cmdline) {
		pr_err("out of memory");
		goto err_release;
	}
	if (boot__check_cmdline(&kernel, cmdline) ||
	    boot__check_memory(&kernel, opts.mem))
		goto err_usage_cmdline;

	max_cpus = kvm__max_vcpus();
	if (max_cpus < 0)
		goto err_free_cmdline;
	if ((int)opts.cpus > max_cpus) {
		pr_err("--cpus %u: this KVM allows at most %d", opts.cpus,
		       max_cpus);
		goto err_usage_cmdline;
	}

	/* Before any thread exists, so that all of them inherit it. */
	block_signals(&set);

	if (vm__init(&vm, opts.mem))
		goto err_free_cmdline;
	if (setup_machine(&vm, &opts, &kernel, cmdline))
		goto err_vm;
	if (opts.have_net) {
		if (net__init(&vm, &opts.net))
			goto err_vm;
		net_up = true;
	}

	vcpus = calloc(opts.cpus, sizeof(*vcpus));
	if (!vcpus) {
		pr_err("out of memory");
		goto err_net;
	}
	for (nr_vcpus = 0; nr_vcpus < opts.cpus; nr_vcpus++)
		if (vcpu__init(&vcpus[nr_vcpus], &vm, nr_vcpus, opts.cpus))
			goto err_vcpus;
	if (vcpu__set_boot_state(&vcpus[0]))
		goto err_vcpus;

	pr_info("booting %s: %u vCPU%s, %" PRIu64 " MiB, command line: %s",
		opts.kernel, opts.cpus, opts.cpus > 1 ? "s" : "",
		(uint64_t)(opts.mem / SZ_1M), cmdline);
	if (serial__start_input())
		goto err_vcpus;
	for (i = 0; i < nr_vcpus; i++)
		if (vcpu__start(&vcpus[i]))
			break;
	if (i == nr_vcpus)
		status = wait_for_end(&set);
	else
		machine__fail("cannot start the vCPUs");

err_vcpus:
	/* Make sure nothing still runs before tearing anything down. */
	if (!machine__stopping())
		machine__request_stop(VMM_EXIT_GUEST, false, "");
	for (i = 0; i < nr_vcpus; i++)
		vcpu__stop(&vcpus[i]);
	serial__exit();
	/* The device stops before the counters are read: final numbers. */
	if (net_up)
		net__exit();
	net_up = false;
	if (opts.stats && vcpus)
		print_stats(vcpus, nr_vcpus);
	for (i = 0; i < nr_vcpus; i++)
		vcpu__exit(&vcpus[i]);
	free(vcpus);
err_net:
	if (net_up)
		net__exit();
err_vm:
	vm__exit(&vm);
err_free_cmdline:
	free(cmdline);
	boot__release(&kernel);
	pthread_mutex_lock(&machine_lock);
	if (machine_msg[0]) {
		if (machine_msg_is_error)
			pr_err("%s", machine_msg);
		else
			pr_info("%s", machine_msg);
	}
	pthread_mutex_unlock(&machine_lock);
	return status;

err_usage_cmdline:
	free(cmdline);
err_usage:
	boot__release(&kernel);
	return VMM_EXIT_USAGE;
err_release:
	boot__release(&kernel);
	return VMM_EXIT_GUEST;
}
