// SPDX-License-Identifier: GPL-2.0
/*
 * vCPUs: what a Linux guest expects of a CPU at boot (CPUID with its own
 * APIC ID and the VM's topology, MSRs, LAPIC LINT pins), and the thread
 * that runs it: one switch on the exit reason, dispatching to the buses.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/boot.h"
#include "vmm/bus.h"
#include "vmm/cpu.h"
#include "vmm/kvm.h"
#include "vmm/machine.h"
#include "vmm/util.h"

/* Sent to a vCPU thread to make KVM_RUN return (see vcpu__stop). */
#define SIG_VCPU_KICK	SIGUSR1

#define CPUID_1_ECX_TSC_DEADLINE	(1U << 24)
#define CPUID_1_ECX_HYPERVISOR		(1U << 31)
#define CPUID_1_EDX_HTT			(1U << 28)

#define MSR_IA32_TSC			0x00000010
#define MSR_IA32_SYSENTER_CS		0x00000174
#define MSR_IA32_SYSENTER_ESP		0x00000175
#define MSR_IA32_SYSENTER_EIP		0x00000176
#define MSR_IA32_MISC_ENABLE		0x000001a0
#define MSR_MTRR_DEF_TYPE		0x000002ff
#define MSR_STAR			0xc0000081
#define MSR_LSTAR			0xc0000082
#define MSR_CSTAR			0xc0000083
#define MSR_SYSCALL_MASK		0xc0000084
#define MSR_KERNEL_GS_BASE		0xc0000102

#define MISC_ENABLE_FAST_STRING		(1ULL << 0)
#define MTRR_DEF_TYPE_ENABLE		(1ULL << 11)
#define MTRR_TYPE_WRBACK		6ULL

#define APIC_LVT0			0x350
#define APIC_LVT1			0x360
#define APIC_LVT_MASKED			(1U << 16)
#define APIC_MODE_NMI			(4U << 8)
#define APIC_MODE_EXTINT		(7U << 8)

/* What KVM can offer, fetched once; each vCPU gets an edited copy. */
static struct kvm_cpuid2 *cpuid_supported;
static bool cpuid_tsc_deadline;

static int cpu__get_supported_cpuid(struct vm *vm)
{
	unsigned int nent = 64;

	if (cpuid_supported)
		return 0;
	for (;;) {
		struct kvm_cpuid2 *c;

		c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
		if (!c)
			return -ENOMEM;
		c->nent = nent;
		if (!ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c)) {
			cpuid_supported = c;
			break;
		}
		free(c);
		if (errno != E2BIG || nent >= 4096) {
			pr_errno("KVM_GET_SUPPORTED_CPUID");
			return -errno;
		}
		nent *= 2;
	}
	cpuid_tsc_deadline = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION,
				   KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	return 0;
}

static struct kvm_cpuid_entry2 *cpuid__find(struct kvm_cpuid2 *c,
					    uint32_t function, uint32_t index)
{
	uint32_t i;

	for (i = 0; i < c->nent; i++)
		if (c->entries[i].function == function &&
		    c->entries[i].index == index)
			return &c->entries[i];
	return NULL;
}

static unsigned int order_base_2(unsigned int n)
{
	unsigned int bits = 0;

	while ((1U << bits) < n)
		bits++;
	return bits;
}

/* Drop every sub-leaf of @function. */
static void cpuid__remove(struct kvm_cpuid2 *c, uint32_t function)
{
	uint32_t i = 0;

	while (i < c->nent) {
		if (c->entries[i].function == function)
			c->entries[i] = c->entries[--c->nent];
		else
			i++;
	}
}

/*
 * Leaves 0xb and 0x1f: an SMT level of one thread, a core level of
 * @nr_cpus cores, each vCPU its own core. KVM may report only some
 * sub-leaves, so they are rebuilt; @c has room for three more entries.
 */
static void cpuid__set_ext_topology(struct kvm_cpuid2 *c, uint32_t function,
				    unsigned int apic_id, unsigned int nr_cpus)
{
	unsigned int level;

	cpuid__remove(c, function);
	for (level = 0; level < 3; level++) {
		struct kvm_cpuid_entry2 *e = &c->entries[c->nent++];

		memset(e, 0, sizeof(*e));
		e->function = function;
		e->index = level;
		e->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
		e->edx = apic_id;
		e->ecx = level;
		if (level == 0) {		/* SMT: one thread per core */
			e->eax = 0;
			e->ebx = 1;
			e->ecx |= 1 << 8;
		} else if (level == 1) {	/* core: all vCPUs */
			e->eax = order_base_2(nr_cpus);
			e->ebx = nr_cpus;
			e->ecx |= 2 << 8;
		}
	}
}

static bool cpuid__is_amd(struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 *e = cpuid__find(c, 0, 0);

	/* "AuthenticAMD" or "HygonGenuine": EBX "Auth" or "Hygo". */
	return e && (e->ebx == 0x68747541 || e->ebx == 0x6f677948);
}

static int vcpu__set_cpuid(struct vcpu *vcpu, unsigned int nr_cpus)
{
	unsigned int core_bits = order_base_2(nr_cpus);
	struct kvm_cpuid_entry2 *e;
	struct kvm_cpuid2 *c;
	uint32_t max_basic = 0;
	size_t size;
	uint32_t i;
	int ret = 0;

	size = sizeof(*c) + (cpuid_supported->nent + 6) * sizeof(c->entries[0]);
	c = calloc(1, size);
	if (!c)
		return -ENOMEM;
	memcpy(c, cpuid_supported, sizeof(*c) +
	       cpuid_supported->nent * sizeof(c->entries[0]));

	e = cpuid__find(c, 0, 0);
	if (e)
		max_basic = e->eax;

	e = cpuid__find(c, 1, 0);
	if (e) {
		/* APIC ID, addressable IDs in the package, CLFLUSH 64 bytes. */
		e->ebx = vcpu->id << 24 | (1U << core_bits) << 16 | 8 << 8 |
			 (e->ebx & 0xff);
		e->ecx |= CPUID_1_ECX_HYPERVISOR;
		if (cpuid_tsc_deadline)
			e->ecx |= CPUID_1_ECX_TSC_DEADLINE;
		if (nr_cpus > 1)
			e->edx |= CPUID_1_EDX_HTT;
		else
			e->edx &= ~CPUID_1_EDX_HTT;
	}

	/* Deterministic cache parameters: cores per package, sharing. */
	for (i = 0; i < c->nent; i++) {
		e = &c->entries[i];
		if (e->function != 4 || !(e->eax & 0x1f))
			continue;
		e->eax &= 0x3ff;
		e->eax |= ((1U << core_bits) - 1) << 26;
		/* L3 is shared by every core; L1 and L2 are per core. */
		if (((e->eax >> 5) & 7) == 3)
			e->eax |= (nr_cpus - 1) << 14;
	}

	if (max_basic >= 0xb)
		cpuid__set_ext_topology(c, 0xb, vcpu->id, nr_cpus);
	if (max_basic >= 0x1f)
		cpuid__set_ext_topology(c, 0x1f, vcpu->id, nr_cpus);

	if (cpuid__is_amd(c)) {
		e = cpuid__find(c, 0x80000008, 0);
		if (e)	/* cores - 1, and the APIC ID bits they take */
			e->ecx = (e->ecx & ~0xf0ffU) | core_bits << 12 |
				 (nr_cpus - 1);
		e = cpuid__find(c, 0x8000001e, 0);
		if (e) {	/* extended APIC ID, core ID, one node */
			e->eax = vcpu->id;
			e->ebx = vcpu->id & 0xff;
			e->ecx = 0;
		}
	}

	if (ioctl(vcpu->fd, KVM_SET_CPUID2, c)) {
		ret = -errno;
		pr_errno("vCPU %u: KVM_SET_CPUID2", vcpu->id);
	}
	free(c);
	return ret;
}

/*
 * XCR0 with every user state component the vCPU has (CPUID 0xd.0), as
 * firmware that enabled XSAVE would leave it; Linux writes the same value
 * again. KVM sizes CPUID 0xd.0 EBX (the XSAVE area for the enabled
 * components) from XCR0 as it last saw it: starting from x87 alone, a
 * guest whose XSETBV KVM does not see (nested under QEMU's TCG, which does
 * not intercept it) would size its XSAVE buffers for x87 and SSE only and
 * have XSAVE write past them.
 */
static int vcpu__set_xcr0(struct vcpu *vcpu)
{
	struct kvm_cpuid_entry2 *e = cpuid__find(cpuid_supported, 0xd, 0);
	struct kvm_xcrs xcrs;

	if (!e || !(e->eax | e->edx) ||
	    ioctl(vcpu->vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) <= 0)
		return 0;
	memset(&xcrs, 0, sizeof(xcrs));
	xcrs.nr_xcrs = 1;
	xcrs.xcrs[0].xcr = 0;
	xcrs.xcrs[0].value = e->eax | (uint64_t)e->edx << 32;
	if (ioctl(vcpu->fd, KVM_SET_XCRS, &xcrs)) {
		pr_errno("vCPU %u: KVM_SET_XCRS %#llx", vcpu->id,
			 (unsigned long long)xcrs.xcrs[0].value);
		return -errno;
	}
	return 0;
}

/* The MSRs Linux expects a BIOS to have set (as Firecracker does). */
static int vcpu__set_msrs(struct vcpu *vcpu)
{
	static const struct {
		uint32_t index;
		uint64_t data;
	} boot_msrs[] = {
		{ MSR_IA32_SYSENTER_CS, 0 },
		{ MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 },
		{ MSR_STAR, 0 },
		{ MSR_CSTAR, 0 },
		{ MSR_KERNEL_GS_BASE, 0 },
		{ MSR_SYSCALL_MASK, 0 },
		{ MSR_LSTAR, 0 },
		{ MSR_IA32_TSC, 0 },
		{ MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING },
		{ MSR_MTRR_DEF_TYPE, MTRR_DEF_TYPE_ENABLE | MTRR_TYPE_WRBACK },
	};
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry entries[ARRAY_SIZE(boot_msrs)];
	} msrs;
	unsigned int i;
	int n;

	memset(&msrs, 0, sizeof(msrs));
	msrs.hdr.nmsrs = ARRAY_SIZE(boot_msrs);
	for (i = 0; i < ARRAY_SIZE(boot_msrs); i++) {
		msrs.entries[i].index = boot_msrs[i].index;
		msrs.entries[i].data = boot_msrs[i].data;
	}
	n = ioctl(vcpu->fd, KVM_SET_MSRS, &msrs);
	if (n < 0) {
		pr_errno("vCPU %u: KVM_SET_MSRS", vcpu->id);
		return -errno;
	}
	if (n != (int)ARRAY_SIZE(boot_msrs)) {
		/* KVM stops at the first MSR it refuses. */
		pr_err("vCPU %u: KVM refused MSR %#x", vcpu->id,
		       boot_msrs[n].index);
		return -EINVAL;
	}
	return 0;
}

static void lapic__set_reg(struct kvm_lapic_state *lapic, unsigned int reg,
			   uint32_t val)
{
	memcpy(&lapic->regs[reg], &val, sizeof(val));
}

/*
 * LINT0 ExtINT but masked, LINT1 NMI. The guest has no 8259 to speak of
 * (hardware-reduced ACPI leaves it uninitialised); an unmasked LINT0
 * would let the in-kernel PIC, which also sees the ISA IRQ lines, inject
 * vectors nobody set up. Linux keeps LINT0 as it finds it.
 */
static int vcpu__set_lapic(struct vcpu *vcpu)
{
	struct kvm_lapic_state lapic;

	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic)) {
		pr_errno("vCPU %u: KVM_GET_LAPIC", vcpu->id);
		return -errno;
	}
	lapic__set_reg(&lapic, APIC_LVT0, APIC_MODE_EXTINT | APIC_LVT_MASKED);
	lapic__set_reg(&lapic, APIC_LVT1, APIC_MODE_NMI);
	if (ioctl(vcpu->fd, KVM_SET_LAPIC, &lapic)) {
		pr_errno("vCPU %u: KVM_SET_LAPIC", vcpu->id);
		return -errno;
	}
	return 0;
}

int vcpu__init(struct vcpu *vcpu, struct vm *vm, unsigned int id,
	       unsigned int nr_cpus)
{
	int ret;

	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->fd = -1;

	ret = cpu__get_supported_cpuid(vm);
	if (ret)
		return ret;

	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (vcpu->fd < 0) {
		pr_errno("KVM_CREATE_VCPU %u", id);
		return -errno;
	}
	vcpu->run = mmap(NULL, vm->vcpu_mmap_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		ret = -errno;
		pr_errno("vCPU %u: mmap of kvm_run", id);
		vcpu->run = NULL;
		goto err_close;
	}

	ret = vcpu__set_cpuid(vcpu, nr_cpus);
	if (!ret)
		ret = vcpu__set_xcr0(vcpu);
	if (!ret)
		ret = vcpu__set_msrs(vcpu);
	if (!ret)
		ret = vcpu__set_lapic(vcpu);
	if (ret)
		goto err_unmap;
	return 0;

err_unmap:
	munmap(vcpu->run, vm->vcpu_mmap_size);
	vcpu->run = NULL;
err_close:
	close(vcpu->fd);
	vcpu->fd = -1;
	return ret;
}

int vcpu__set_boot_state(struct vcpu *vcpu)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_fpu fpu;

	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs)) {
		pr_errno("KVM_GET_SREGS");
		return -errno;
	}
	boot__sregs(&sregs);
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs)) {
		pr_errno("KVM_SET_SREGS");
		return -errno;
	}

	memset(&regs, 0, sizeof(regs));
	boot__regs(&regs);
	if (ioctl(vcpu->fd, KVM_SET_REGS, &regs)) {
		pr_errno("KVM_SET_REGS");
		return -errno;
	}

	/* x87 and SSE as after FNINIT and a reset MXCSR. */
	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;
	fpu.mxcsr = 0x1f80;
	if (ioctl(vcpu->fd, KVM_SET_FPU, &fpu)) {
		pr_errno("KVM_SET_FPU");
		return -errno;
	}
	return 0;
}

static void vcpu__handle_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool out = run->io.direction == KVM_EXIT_IO_OUT;
	uint32_t i;

	/* rep ins/outs come as @count accesses in one exit. */
	for (i = 0; i < run->io.count; i++, data += run->io.size)
		bus__access(BUS_PIO, run->io.port, data, run->io.size, out);
}

static void vcpu__report_internal_error(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	char data[160] = "";
	size_t len = 0;
	uint32_t i;

	for (i = 0; i < run->internal.ndata && i < 4; i++)
		len += snprintf(data + len, sizeof(data) - len, " %#llx",
				(unsigned long long)run->internal.data[i]);
	machine__fail("vCPU %u: KVM internal error, suberror %u%s%s",
		      vcpu->id, run->internal.suberror,
		      len ? ", data" : "", data);
}

/* Handle one exit; false when the vCPU must stop. */
static bool vcpu__handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	if (run->exit_reason < VCPU_EXIT_REASONS)
		vcpu->exits[run->exit_reason]++;
	else
		vcpu->exits_other++;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		vcpu__handle_io(vcpu);
		return true;
	case KVM_EXIT_MMIO:
		bus__access(BUS_MMIO, run->mmio.phys_addr, run->mmio.data,
			    run->mmio.len, run->mmio.is_write);
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_SHUTDOWN:
		machine__fail("vCPU %u: triple fault (KVM_EXIT_SHUTDOWN)",
			      vcpu->id);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		machine__fail("vCPU %u: KVM_EXIT_FAIL_ENTRY, hardware reason %#llx",
			      vcpu->id, (unsigned long long)
			      run->fail_entry.hardware_entry_failure_reason);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		vcpu__report_internal_error(vcpu);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_SHUTDOWN:
			machine__poweroff();
			break;
		case KVM_SYSTEM_EVENT_RESET:
			machine__reset();
			break;
		default:
			machine__fail("vCPU %u: system event %u", vcpu->id,
				      run->system_event.type);
			break;
		}
		return false;
	case KVM_EXIT_HLT:
		/* Only without an in-kernel LAPIC: the guest stopped for good. */
		machine__fail("vCPU %u: halted with interrupts off", vcpu->id);
		return false;
	default:
		machine__fail("vCPU %u: unexpected KVM exit reason %u",
			      vcpu->id, run->exit_reason);
		return false;
	}
}

static void *vcpu__thread(void *arg)
{
	struct vcpu *vcpu = arg;
	char name[16];
	sigset_t set;

	snprintf(name, sizeof(name), "vcpu%u", vcpu->id);
	pthread_setname_np(pthread_self(), name);
	/* main.c blocked everything; this thread must hear the kick. */
	sigemptyset(&set);
	sigaddset(&set, SIG_VCPU_KICK);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	while (!machine__stopping()) {
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				vcpu->exits_eintr++;
				continue;
			}
			machine__fail("vCPU %u: KVM_RUN: %s", vcpu->id,
				      strerror(errno));
			break;
		}
		if (!vcpu__handle_exit(vcpu))
			break;
	}
	return NULL;
}

static void vcpu__kick_handler(int sig)
{
	(void)sig;	/* only there so that KVM_RUN returns EINTR */
}

int vcpu__start(struct vcpu *vcpu)
{
	static bool handler_installed;
	int ret;

	if (!handler_installed) {
		struct sigaction sa = { .sa_handler = vcpu__kick_handler };

		sigemptyset(&sa.sa_mask);
		if (sigaction(SIG_VCPU_KICK, &sa, NULL)) {
			pr_errno("sigaction");
			return -errno;
		}
		handler_installed = true;
	}
	ret = pthread_create(&vcpu->thread, NULL, vcpu__thread, vcpu);
	if (ret) {
		errno = ret;
		pr_errno("vCPU %u: pthread_create", vcpu->id);
		return -ret;
	}
	vcpu->running = true;
	return 0;
}

void vcpu__stop(struct vcpu *vcpu)
{
	if (!vcpu->running)
		return;
	/*
	 * immediate_exit makes every later KVM_RUN return EINTR at once, so a
	 * kick that lands while the thread is outside KVM_RUN is not lost.
	 */
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(vcpu->thread, SIG_VCPU_KICK);
	pthread_join(vcpu->thread, NULL);
	vcpu->running = false;
}

void vcpu__exit(struct vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, vcpu->vm->vcpu_mmap_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}

static const char *const exit_names[VCPU_EXIT_REASONS] = {
	[KVM_EXIT_UNKNOWN] = "unknown",
	[KVM_EXIT_EXCEPTION] = "exception",
	[KVM_EXIT_IO] = "io",
	[KVM_EXIT_HYPERCALL] = "hypercall",
	[KVM_EXIT_DEBUG] = "debug",
	[KVM_EXIT_HLT] = "hlt",
	[KVM_EXIT_MMIO] = "mmio",
	[KVM_EXIT_IRQ_WINDOW_OPEN] = "irq_window_open",
	[KVM_EXIT_SHUTDOWN] = "shutdown",
	[KVM_EXIT_FAIL_ENTRY] = "fail_entry",
	[KVM_EXIT_INTR] = "intr",
	[KVM_EXIT_SET_TPR] = "set_tpr",
	[KVM_EXIT_TPR_ACCESS] = "tpr_access",
	[KVM_EXIT_NMI] = "nmi",
	[KVM_EXIT_INTERNAL_ERROR] = "internal_error",
	[KVM_EXIT_SYSTEM_EVENT] = "system_event",
};

void vcpu__print_stats(FILE *out, const struct vcpu *vcpus, unsigned int nr)
{
	uint64_t total = 0, other = 0, eintr = 0;
	unsigned int reason, i;

	for (i = 0; i < nr; i++) {
		other += vcpus[i].exits_other;
		eintr += vcpus[i].exits_eintr;
	}
	fprintf(out, "KVM exits by reason:\n");
	for (reason = 0; reason < VCPU_EXIT_REASONS; reason++) {
		uint64_t n = 0;

		for (i = 0; i < nr; i++)
			n += vcpus[i].exits[reason];
		if (!n)
			continue;
		total += n;
		if (exit_names[reason])
			fprintf(out, "  %s: %" PRIu64 "\n", exit_names[reason], n);
		else
			fprintf(out, "  reason %u: %" PRIu64 "\n", reason, n);
	}
	if (other)
		fprintf(out, "  other: %" PRIu64 "\n", other);
	fprintf(out, "  total: %" PRIu64 " (and %" PRIu64
		" KVM_RUN calls interrupted by a signal)\n", total + other,
		eintr);
	for (i = 0; i < nr; i++) {
		uint64_t n = vcpus[i].exits_other;

		for (reason = 0; reason < VCPU_EXIT_REASONS; reason++)
			n += vcpus[i].exits[reason];
		fprintf(out, "  vcpu%u: %" PRIu64 "\n", vcpus[i].id, n);
	}
}
