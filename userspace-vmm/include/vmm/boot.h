/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The 64-bit Linux boot protocol (Documentation/x86/boot.rst): the bzImage
 * at 1 MiB, the zero page with the setup header, e820 map, command line and
 * initrd, identity-mapped page tables and a GDT, and the boot vCPU's
 * registers at the 64-bit entry point.
 */
#ifndef VMM__BOOT_H
#define VMM__BOOT_H

#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

struct vm;

/* A bzImage read and checked, and the initrd to go with it. */
struct boot_kernel {
	uint8_t *image;		/* the whole file */
	size_t size;
	size_t setup_size;	/* real-mode part; the kernel proper follows */
	uint16_t version;	/* boot protocol version */
	uint32_t cmdline_max;	/* longest command line, without the NUL */
	uint32_t init_size;	/* memory the kernel needs from where it runs */
	uint64_t run_addr;	/* lowest address it decompresses itself to */
	uint32_t initrd_addr_max;

	int initrd_fd;		/* -1: no initrd */
	uint64_t initrd_size;
};

/*
 * Read @path and check it is a bzImage this VMM can boot (64-bit entry,
 * protocol 2.12 or later). 0 or -errno, with a message naming the file.
 */
int boot__read_kernel(struct boot_kernel *k, const char *path);

/* Open the initrd (read at boot__setup time). 0 or -errno, with a message. */
int boot__open_initrd(struct boot_kernel *k, const char *path);

/* Does @cmdline fit the kernel's limit? */
int boot__check_cmdline(const struct boot_kernel *k, const char *cmdline);

/* Does the kernel, with its initrd, fit in @ram_size? 0 or -E2BIG. */
int boot__check_memory(const struct boot_kernel *k, uint64_t ram_size);

/*
 * Write everything into guest memory: kernel, initrd, command line, zero
 * page with its e820 map (@rsdp: where the ACPI tables start, 0: none),
 * page tables and GDT. 0 or -errno, with a message.
 */
int boot__setup(struct vm *vm, struct boot_kernel *k, const char *cmdline,
		uint64_t rsdp);

/* The boot vCPU's registers at the 64-bit entry point. */
void boot__regs(struct kvm_regs *regs);
void boot__sregs(struct kvm_sregs *sregs);

void boot__release(struct boot_kernel *k);

#endif /* VMM__BOOT_H */
