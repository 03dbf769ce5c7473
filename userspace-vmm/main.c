// SPDX-License-Identifier: GPL-2.0
/*
 * kvnet-vmm entry point. For now: create the VM and its memory, then stop;
 * the vCPUs, the boot protocol and the console come next.
 */
#include <stdlib.h>

#include "vmm/kvm.h"
#include "vmm/net.h"
#include "vmm/util.h"

int main(void)
{
	struct vm vm;

	if (vm__init(&vm, 512 * SZ_1M))
		return VMM_EXIT_GUEST;
	pr_err("booting a guest is not implemented yet");
	vm__exit(&vm);
	return VMM_EXIT_GUEST;
}
