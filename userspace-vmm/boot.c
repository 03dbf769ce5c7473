// SPDX-License-Identifier: GPL-2.0
/*
 * The 64-bit Linux boot protocol (Documentation/x86/boot.rst, "64-bit
 * Boot Protocol"): no real-mode setup code runs. The protected-mode kernel
 * goes to 1 MiB, the zero page carries the image's setup header, the e820
 * map, the command line and initrd, and the boot vCPU starts in long mode
 * at the kernel's 64-bit entry (load address + 0x200) with %rsi pointing
 * at the zero page, on identity-mapped page tables and a flat GDT.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <asm/bootparam.h>
#include <asm/e820.h>

#include "vmm/boot.h"
#include "vmm/firmware.h"
#include "vmm/kvm.h"
#include "vmm/util.h"

/* Guest physical layout below 1 MiB, all inside the first e820 RAM range. */
#define BOOT_GDT_ADDR		0x500ULL
#define BOOT_STACK_TOP		0x8ff0ULL	/* the kernel sets its own */
#define BOOT_PARAMS_ADDR	0x7000ULL
#define BOOT_PML4_ADDR		0x9000ULL
#define BOOT_PDPT_ADDR		0xa000ULL
#define BOOT_PD_ADDR		0xb000ULL	/* four pages: 4 GiB in 2 MiB */
#define BOOT_CMDLINE_ADDR	0x20000ULL
#define BOOT_CMDLINE_MAX	0x10000ULL	/* up to BOOT_EBDA_START anyway */
#define BOOT_EBDA_START		0x9fc00ULL
#define BOOT_KERNEL_ADDR	0x100000ULL
#define BOOT_ENTRY_64		0x200ULL	/* startup_64 from the load address */

/* The boot protocol's selectors: __BOOT_CS and __BOOT_DS. */
#define BOOT_CS			0x10
#define BOOT_DS			0x18
#define BOOT_TSS		0x20

#define SETUP_HEADER_OFFSET	0x1f1
#define SETUP_MAGIC		0x53726448	/* "HdrS" */
#define BOOT_FLAG_MAGIC		0xaa55
#define BOOT_PROTO_MIN		0x020c	/* 2.12: xloadflags, 64-bit entry */
#define LOADER_TYPE_UNDEFINED	0xff

#define CR0_PE			(1ULL << 0)
#define CR0_ET			(1ULL << 4)
#define CR0_PG			(1ULL << 31)
#define CR4_PAE			(1ULL << 5)
#define EFER_LME		(1ULL << 8)
#define EFER_LMA		(1ULL << 10)

#define PTE_PRESENT		(1ULL << 0)
#define PTE_RW			(1ULL << 1)
#define PTE_PS			(1ULL << 7)

static const struct setup_header *boot__hdr(const struct boot_kernel *k)
{
	return (const struct setup_header *)(k->image + SETUP_HEADER_OFFSET);
}

/* Read the whole of @path (a regular file, at most @max bytes). */
static int boot__read_file(const char *opt, const char *path, size_t max,
			   uint8_t **data, size_t *size)
{
	struct stat st;
	ssize_t n;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		pr_errno("%s %s", opt, path);
		return ret;
	}
	if (fstat(fd, &st)) {
		ret = -errno;
		pr_errno("%s %s", opt, path);
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		pr_err("%s %s: %s", opt, path, S_ISREG(st.st_mode) ?
		       "too large" : "not a regular file");
		ret = -EINVAL;
		goto out;
	}
	*size = st.st_size;
	*data = malloc(*size ? *size : 1);
	if (!*data) {
		ret = -ENOMEM;
		pr_err("%s %s: out of memory", opt, path);
		goto out;
	}
	n = pread(fd, *data, *size, 0);
	if (n != (ssize_t)*size) {
		ret = n < 0 ? -errno : -EIO;
		errno = -ret;
		pr_errno("%s %s: read", opt, path);
		free(*data);
		*data = NULL;
		goto out;
	}
	ret = 0;
out:
	close(fd);
	return ret;
}

int boot__read_kernel(struct boot_kernel *k, const char *path)
{
	const struct setup_header *hdr;
	unsigned int setup_sects;
	int ret;

	memset(k, 0, sizeof(*k));
	k->initrd_fd = -1;

	/* A bzImage is a few MiB; refuse to slurp something huge. */
	ret = boot__read_file("--kernel", path, 256 * SZ_1M, &k->image,
			      &k->size);
	if (ret)
		return ret;

	hdr = boot__hdr(k);
	if (k->size < 1024 || hdr->boot_flag != BOOT_FLAG_MAGIC ||
	    hdr->header != SETUP_MAGIC) {
		pr_err("--kernel %s: not a bzImage (no Linux boot header)",
		       path);
		goto err_invalid;
	}
	if (hdr->version < BOOT_PROTO_MIN) {
		pr_err("--kernel %s: boot protocol %u.%02u, need 2.12 or later",
		       path, hdr->version >> 8, hdr->version & 0xff);
		goto err_invalid;
	}
	if (!(hdr->xloadflags & XLF_KERNEL_64) ||
	    !(hdr->loadflags & LOADED_HIGH)) {
		pr_err("--kernel %s: not a 64-bit bzImage", path);
		goto err_invalid;
	}
	setup_sects = hdr->setup_sects ? hdr->setup_sects : 4;
	k->setup_size = (setup_sects + 1) * 512;
	/* The setup header lies within the setup sectors it describes. */
	if (k->setup_size >= k->size ||
	    SETUP_HEADER_OFFSET + sizeof(*hdr) > k->setup_size) {
		pr_err("--kernel %s: truncated bzImage", path);
		goto err_invalid;
	}
	k->version = hdr->version;
	k->cmdline_max = hdr->cmdline_size;
	if (!k->cmdline_max || k->cmdline_max >= BOOT_CMDLINE_MAX)
		k->cmdline_max = BOOT_CMDLINE_MAX - 1;
	k->init_size = hdr->init_size;
	if (k->init_size < k->size - k->setup_size)
		k->init_size = k->size - k->setup_size;
	k->initrd_addr_max = hdr->initrd_addr_max;
	/*
	 * A relocatable kernel loaded at 1 MiB still decompresses itself to
	 * pref_address (LOAD_PHYSICAL_ADDR) or above: that, plus init_size,
	 * is the memory it needs.
	 */
	k->run_addr = hdr->pref_address > BOOT_KERNEL_ADDR ?
		      hdr->pref_address : BOOT_KERNEL_ADDR;
	if (k->run_addr > VMM_PCI_HOLE_START) {
		pr_err("--kernel %s: wants to run at %#llx, above the PCI hole",
		       path, (unsigned long long)k->run_addr);
		goto err_invalid;
	}
	return 0;

err_invalid:
	free(k->image);
	k->image = NULL;
	return -EINVAL;
}

int boot__open_initrd(struct boot_kernel *k, const char *path)
{
	struct stat st;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		pr_errno("--initrd %s", path);
		return ret;
	}
	if (fstat(fd, &st)) {
		ret = -errno;
		pr_errno("--initrd %s", path);
		goto err_close;
	}
	if (!S_ISREG(st.st_mode) || !st.st_size) {
		pr_err("--initrd %s: %s", path,
		       S_ISREG(st.st_mode) ? "empty" : "not a regular file");
		ret = -EINVAL;
		goto err_close;
	}
	k->initrd_fd = fd;
	k->initrd_size = st.st_size;
	return 0;

err_close:
	close(fd);
	return ret;
}

int boot__check_cmdline(const struct boot_kernel *k, const char *cmdline)
{
	if (strlen(cmdline) > k->cmdline_max) {
		pr_err("the kernel command line is %zu bytes, this kernel takes %u",
		       strlen(cmdline), k->cmdline_max);
		return -E2BIG;
	}
	return 0;
}

/* Where the low RAM ends: the kernel, initrd and tables must fit below. */
static uint64_t boot__low_ram_end(uint64_t ram_size)
{
	return ram_size < VMM_PCI_HOLE_START ? ram_size : VMM_PCI_HOLE_START;
}

/* Highest page-aligned start for the initrd, or 0 if it does not fit. */
static uint64_t boot__initrd_addr(const struct boot_kernel *k,
				  uint64_t ram_size)
{
	uint64_t top = boot__low_ram_end(ram_size);
	uint64_t kernel_end = k->run_addr + k->init_size;

	if (k->initrd_addr_max && (uint64_t)k->initrd_addr_max + 1 < top)
		top = (uint64_t)k->initrd_addr_max + 1;
	if (k->initrd_size > top)
		return 0;
	top = (top - k->initrd_size) & ~0xfffULL;
	return top >= kernel_end ? top : 0;
}

int boot__check_memory(const struct boot_kernel *k, uint64_t ram_size)
{
	uint64_t need = k->run_addr + k->init_size;

	if (need > boot__low_ram_end(ram_size)) {
		pr_err("--mem %llu MiB is too small: the kernel needs %llu MiB",
		       (unsigned long long)(ram_size / SZ_1M),
		       (unsigned long long)((need + SZ_1M - 1) / SZ_1M));
		return -E2BIG;
	}
	if (k->initrd_fd >= 0 && !boot__initrd_addr(k, ram_size)) {
		pr_err("--mem %llu MiB is too small for the kernel and its %llu MiB initrd",
		       (unsigned long long)(ram_size / SZ_1M),
		       (unsigned long long)(k->initrd_size / SZ_1M));
		return -E2BIG;
	}
	return 0;
}

static void e820__add(struct boot_params *bp, uint64_t addr, uint64_t size,
		      uint32_t type)
{
	struct boot_e820_entry *e = &bp->e820_table[bp->e820_entries++];

	e->addr = addr;
	e->size = size;
	e->type = type;
}

/*
 * RAM below the EBDA and from 1 MiB to the PCI hole, the BIOS area with
 * the firmware tables reserved, RAM above 4 GiB for what did not fit.
 */
static void boot__e820(struct vm *vm, struct boot_params *bp)
{
	int i;

	e820__add(bp, 0, BOOT_EBDA_START, E820_RAM);
	e820__add(bp, BOOT_EBDA_START, 0xa0000 - BOOT_EBDA_START,
		  E820_RESERVED);
	e820__add(bp, FW_AREA_START, FW_AREA_END - FW_AREA_START,
		  E820_RESERVED);
	for (i = 0; i < vm->nr_mem; i++) {
		uint64_t start = vm->mem[i].gpa, end = start + vm->mem[i].size;

		if (start < FW_AREA_END)
			start = FW_AREA_END;
		if (end > start)
			e820__add(bp, start, end - start, E820_RAM);
	}
}

/* Identity map of the first 4 GiB with 2 MiB pages. */
static void boot__page_tables(struct vm *vm)
{
	uint64_t *pml4 = vm__gpa_to_hva(vm, BOOT_PML4_ADDR, 4096);
	uint64_t *pdpt = vm__gpa_to_hva(vm, BOOT_PDPT_ADDR, 4096);
	uint64_t *pd = vm__gpa_to_hva(vm, BOOT_PD_ADDR, 4 * 4096);
	unsigned int i;

	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = BOOT_PDPT_ADDR | PTE_PRESENT | PTE_RW;
	for (i = 0; i < 4; i++)
		pdpt[i] = (BOOT_PD_ADDR + i * 4096) | PTE_PRESENT | PTE_RW;
	for (i = 0; i < 4 * 512; i++)
		pd[i] = (uint64_t)i << 21 | PTE_PRESENT | PTE_RW | PTE_PS;
}

/* A GDT descriptor from its flags (bits 8-15 and 20-23), base and limit. */
static uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000) << 32) |
	       ((uint64_t)(flags & 0xf0ff) << 40) |
	       ((uint64_t)(limit & 0xf0000) << 32) |
	       ((uint64_t)(base & 0xffffff) << 16) |
	       (limit & 0xffff);
}

/*
 * Null, null, __BOOT_CS (64-bit code), __BOOT_DS (flat data), TSS: the
 * selectors the boot protocol names. The kernel loads its own GDT soon.
 */
#define BOOT_GDT_ENTRIES	(BOOT_TSS / 8 + 1)

static void boot__gdt(struct vm *vm)
{
	uint64_t *gdt = vm__gpa_to_hva(vm, BOOT_GDT_ADDR,
				       BOOT_GDT_ENTRIES * sizeof(*gdt));

	memset(gdt, 0, BOOT_GDT_ENTRIES * sizeof(*gdt));
	gdt[BOOT_CS / 8] = gdt_entry(0xa09b, 0, 0xfffff);
	gdt[BOOT_DS / 8] = gdt_entry(0xc093, 0, 0xfffff);
	gdt[BOOT_TSS / 8] = gdt_entry(0x808b, 0, 0xfffff);
}

static int boot__load_initrd(struct vm *vm, struct boot_kernel *k,
			     struct boot_params *bp)
{
	uint64_t addr = boot__initrd_addr(k, vm->ram_size);
	uint8_t *dst = vm__gpa_to_hva(vm, addr, k->initrd_size);
	uint64_t done = 0;

	if (!addr || !dst) {
		pr_err("no room for the initrd below %#llx",
		       (unsigned long long)boot__low_ram_end(vm->ram_size));
		return -E2BIG;
	}
	while (done < k->initrd_size) {
		ssize_t n = pread(k->initrd_fd, dst + done,
				  k->initrd_size - done, done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!n)
				errno = EIO;
			pr_errno("--initrd: read");
			return -errno;
		}
		done += n;
	}
	bp->hdr.ramdisk_image = (uint32_t)addr;
	bp->ext_ramdisk_image = addr >> 32;
	bp->hdr.ramdisk_size = (uint32_t)k->initrd_size;
	bp->ext_ramdisk_size = k->initrd_size >> 32;
	return 0;
}

int boot__setup(struct vm *vm, struct boot_kernel *k, const char *cmdline,
		uint64_t rsdp)
{
	const struct setup_header *hdr = boot__hdr(k);
	size_t kernel_size = k->size - k->setup_size;
	size_t cmdline_len = strlen(cmdline) + 1;
	struct boot_params *bp;
	size_t hdr_end;
	void *dst;
	int ret;

	dst = vm__gpa_to_hva(vm, BOOT_KERNEL_ADDR, k->init_size);
	if (!dst) {
		pr_err("the kernel does not fit in guest memory");
		return -E2BIG;
	}
	memcpy(dst, k->image + k->setup_size, kernel_size);

	bp = vm__gpa_to_hva(vm, BOOT_PARAMS_ADDR, sizeof(*bp));
	memset(bp, 0, sizeof(*bp));
	/*
	 * The setup header ends at 0x202 + the byte at 0x201 (the jump's
	 * offset); copy what the image has, as boot.rst asks.
	 */
	hdr_end = 0x202 + k->image[0x201];
	if (hdr_end > SETUP_HEADER_OFFSET + sizeof(*hdr))
		hdr_end = SETUP_HEADER_OFFSET + sizeof(*hdr);
	memcpy((uint8_t *)bp + SETUP_HEADER_OFFSET, hdr,
	       hdr_end - SETUP_HEADER_OFFSET);

	bp->hdr.type_of_loader = LOADER_TYPE_UNDEFINED;
	bp->hdr.code32_start = BOOT_KERNEL_ADDR;
	bp->hdr.cmd_line_ptr = BOOT_CMDLINE_ADDR;
	bp->ext_cmd_line_ptr = 0;
	dst = vm__gpa_to_hva(vm, BOOT_CMDLINE_ADDR, cmdline_len);
	memcpy(dst, cmdline, cmdline_len);

	if (k->initrd_fd >= 0) {
		ret = boot__load_initrd(vm, k, bp);
		if (ret)
			return ret;
	}
	bp->acpi_rsdp_addr = rsdp;
	boot__e820(vm, bp);
	boot__page_tables(vm);
	boot__gdt(vm);
	return 0;
}

void boot__regs(struct kvm_regs *regs)
{
	regs->rflags = 2;	/* bit 1 is always set; interrupts off */
	regs->rip = BOOT_KERNEL_ADDR + BOOT_ENTRY_64;
	regs->rsi = BOOT_PARAMS_ADDR;
	regs->rsp = BOOT_STACK_TOP;
	regs->rbp = BOOT_STACK_TOP;
}

static void boot__segment(struct kvm_segment *seg, uint16_t selector,
			  uint8_t type, bool code)
{
	memset(seg, 0, sizeof(*seg));
	seg->selector = selector;
	seg->base = 0;
	seg->limit = 0xffffffff;
	seg->type = type;
	seg->present = 1;
	seg->s = selector != BOOT_TSS;
	seg->l = code;
	seg->db = !code && selector != BOOT_TSS;
	seg->g = 1;
}

void boot__sregs(struct kvm_sregs *sregs)
{
	boot__segment(&sregs->cs, BOOT_CS, 0xb, true);
	boot__segment(&sregs->ds, BOOT_DS, 0x3, false);
	sregs->es = sregs->ds;
	sregs->fs = sregs->ds;
	sregs->gs = sregs->ds;
	sregs->ss = sregs->ds;
	boot__segment(&sregs->tr, BOOT_TSS, 0xb, false);

	sregs->gdt.base = BOOT_GDT_ADDR;
	sregs->gdt.limit = BOOT_GDT_ENTRIES * 8 - 1;
	/* No IDT: interrupts stay off until the kernel installs its own. */
	sregs->idt.base = 0;
	sregs->idt.limit = 0;

	sregs->cr3 = BOOT_PML4_ADDR;
	sregs->cr4 |= CR4_PAE;
	sregs->cr0 |= CR0_PE | CR0_PG | CR0_ET;
	sregs->efer |= EFER_LME | EFER_LMA;
}

void boot__release(struct boot_kernel *k)
{
	free(k->image);
	k->image = NULL;
	if (k->initrd_fd >= 0)
		close(k->initrd_fd);
	k->initrd_fd = -1;
}
