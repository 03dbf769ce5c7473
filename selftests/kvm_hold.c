// SPDX-License-Identifier: GPL-2.0
/*
 * kvm_hold: keep one KVM VM, with an in-kernel irqchip and one vCPU that
 * never runs, open until killed. guest.sh starts it in the test VM before
 * any test.
 *
 * Why: KVM flips static keys as VMs come and go: the preempt notifier key
 * (a branch in __schedule) when the first VM is created and the last one
 * dies, and its local APIC keys with each vCPU. Every flip patches kernel
 * text on a running system. In the TCG test VM such a patch, as a test
 * VMM died and the next one started, has wedged it: one vCPU kept
 * trapping on the stale int3 in __schedule while holding its runqueue
 * lock, the other spun for that lock with interrupts off. With this VM
 * held, the counts never reach zero and the keys stay as they are for the
 * whole run. It changes nothing the tests measure: a VM whose vCPU never
 * runs has no exits, and per-VMM counters are per process.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <linux/kvm.h>
#include <sys/ioctl.h>

static int kvm_hold_fail(const char *what)
{
	fprintf(stderr, "kvm_hold: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(void)
{
	int kvm, vm;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return kvm_hold_fail("/dev/kvm");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return kvm_hold_fail("KVM_CREATE_VM");
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0))
		return kvm_hold_fail("KVM_CREATE_IRQCHIP");
	if (ioctl(vm, KVM_CREATE_VCPU, 0) < 0)
		return kvm_hold_fail("KVM_CREATE_VCPU");
	fprintf(stderr, "kvm_hold: holding a VM (pid %d)\n", getpid());
	for (;;)
		pause();
}
