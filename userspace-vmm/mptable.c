// SPDX-License-Identifier: GPL-2.0
/*
 * The Intel MultiProcessor Specification 1.4 table: the floating pointer
 * and the configuration table, at the start of the BIOS ROM area, where
 * Linux scans for it. The CPUs (used only with acpi=off: the MADT wins),
 * a PCI and an ISA bus, the IOAPIC, and ISA IRQ n on IOAPIC pin n, which is
 * how KVM's default routing wires the in-kernel irqchip.
 */
#include <errno.h>
#include <string.h>

#include "vmm/firmware.h"
#include "vmm/kvm.h"
#include "vmm/util.h"

#define MP_PROCESSOR		0
#define MP_BUS			1
#define MP_IOAPIC		2
#define MP_INTSRC		3
#define MP_LINTSRC		4

#define MP_CPU_ENABLED		1
#define MP_CPU_BOOTPROCESSOR	2
#define MP_APIC_VERSION		0x14	/* KVM's LAPIC */
#define MP_IOAPIC_VERSION	0x11	/* KVM's IOAPIC */
#define MP_IOAPIC_USABLE	1
#define MP_IRQ_INT		0
#define MP_IRQ_NMI		1
#define MP_IRQ_EXTINT		3
#define MP_IRQ_CONFORMING	0	/* the bus's default polarity/trigger */

#define MP_BUS_PCI		0
#define MP_BUS_ISA		1
#define MP_ISA_IRQS		16
#define MP_ALL_LAPICS		0xff

/* CPUID family 6 and the FPU and APIC feature bits, for the table only. */
#define MP_CPU_SIGNATURE	0x600
#define MP_CPU_FEATURES		0x201

struct mpf_intel {
	char signature[4];		/* "_MP_" */
	uint32_t physptr;
	uint8_t length;			/* in 16-byte units */
	uint8_t specification;
	uint8_t checksum;
	uint8_t feature1;		/* 0: a configuration table follows */
	uint8_t feature2;
	uint8_t feature3;
	uint8_t feature4;
	uint8_t feature5;
} __attribute__((packed));

struct mpc_table {
	char signature[4];		/* "PCMP" */
	uint16_t length;
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char productid[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t oemcount;		/* number of entries */
	uint32_t lapic;
	uint32_t reserved;
} __attribute__((packed));

struct mpc_cpu {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t cpuflag;
	uint32_t cpufeature;
	uint32_t featureflag;
	uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type;
	uint8_t busid;
	char bustype[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t flags;
	uint32_t apicaddr;
} __attribute__((packed));

struct mpc_intsrc {
	uint8_t type;
	uint8_t irqtype;
	uint16_t irqflag;
	uint8_t srcbus;
	uint8_t srcbusirq;
	uint8_t dstapic;
	uint8_t dstirq;
} __attribute__((packed));

_Static_assert(sizeof(struct mpf_intel) == 16, "MP floating pointer");
_Static_assert(sizeof(struct mpc_table) == 44, "MP table header");
_Static_assert(sizeof(struct mpc_cpu) == 20, "MP processor entry");

static uint8_t mp__checksum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint8_t sum = 0;

	while (len--)
		sum += *p++;
	return -sum;
}

static void *mp__put(uint8_t **p, struct mpc_table *mpc, size_t size)
{
	void *entry = *p;

	*p += size;
	mpc->oemcount++;
	return entry;
}

static void mp__bus(uint8_t **p, struct mpc_table *mpc, uint8_t id,
		    const char *type)
{
	struct mpc_bus *bus = mp__put(p, mpc, sizeof(*bus));

	bus->type = MP_BUS;
	bus->busid = id;
	memcpy(bus->bustype, type, 6);
}

static void mp__intsrc(uint8_t **p, struct mpc_table *mpc, uint8_t type,
		       uint8_t irqtype, uint8_t bus, uint8_t irq, uint8_t dst,
		       uint8_t pin)
{
	/* mpc_lintsrc has the same layout as mpc_intsrc. */
	struct mpc_intsrc *src = mp__put(p, mpc, sizeof(*src));

	src->type = type;
	src->irqtype = irqtype;
	src->irqflag = MP_IRQ_CONFORMING;
	src->srcbus = bus;
	src->srcbusirq = irq;
	src->dstapic = dst;
	src->dstirq = pin;
}

int mptable__setup(struct vm *vm, unsigned int nr_cpus)
{
	size_t size = sizeof(struct mpf_intel) + sizeof(struct mpc_table) +
		      nr_cpus * sizeof(struct mpc_cpu) +
		      2 * sizeof(struct mpc_bus) + sizeof(struct mpc_ioapic) +
		      (MP_ISA_IRQS + 2) * sizeof(struct mpc_intsrc);
	uint8_t ioapic_id = nr_cpus;	/* after the LAPIC IDs */
	struct mpc_ioapic *ioapic;
	struct mpc_table *mpc;
	struct mpf_intel *mpf;
	unsigned int i;
	uint8_t *base, *p;

	if (FW_MPTABLE_START + size > FW_AREA_END)
		return -E2BIG;
	base = vm__gpa_to_hva(vm, FW_MPTABLE_START, size);
	if (!base)
		return -EFAULT;
	memset(base, 0, size);

	mpf = (struct mpf_intel *)base;
	mpc = (struct mpc_table *)(mpf + 1);
	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = FW_MPTABLE_START + sizeof(*mpf);
	mpf->length = 1;
	mpf->specification = 4;
	mpf->checksum = mp__checksum(mpf, sizeof(*mpf));

	memcpy(mpc->signature, "PCMP", 4);
	mpc->spec = 4;
	memcpy(mpc->oem, "KVNET   ", 8);
	memcpy(mpc->productid, "KVNET-VMM   ", 12);
	mpc->lapic = FW_LAPIC_ADDR;
	p = (uint8_t *)(mpc + 1);

	for (i = 0; i < nr_cpus; i++) {
		struct mpc_cpu *cpu = mp__put(&p, mpc, sizeof(*cpu));

		cpu->type = MP_PROCESSOR;
		cpu->apicid = i;
		cpu->apicver = MP_APIC_VERSION;
		cpu->cpuflag = MP_CPU_ENABLED |
			       (i == 0 ? MP_CPU_BOOTPROCESSOR : 0);
		cpu->cpufeature = MP_CPU_SIGNATURE;
		cpu->featureflag = MP_CPU_FEATURES;
	}
	mp__bus(&p, mpc, MP_BUS_PCI, "PCI   ");
	mp__bus(&p, mpc, MP_BUS_ISA, "ISA   ");

	ioapic = mp__put(&p, mpc, sizeof(*ioapic));
	ioapic->type = MP_IOAPIC;
	ioapic->apicid = ioapic_id;
	ioapic->apicver = MP_IOAPIC_VERSION;
	ioapic->flags = MP_IOAPIC_USABLE;
	ioapic->apicaddr = FW_IOAPIC_ADDR;

	for (i = 0; i < MP_ISA_IRQS; i++)
		mp__intsrc(&p, mpc, MP_INTSRC, MP_IRQ_INT, MP_BUS_ISA, i,
			   ioapic_id, i);
	mp__intsrc(&p, mpc, MP_LINTSRC, MP_IRQ_EXTINT, MP_BUS_ISA, 0,
		   MP_ALL_LAPICS, 0);
	mp__intsrc(&p, mpc, MP_LINTSRC, MP_IRQ_NMI, MP_BUS_ISA, 0,
		   MP_ALL_LAPICS, 1);

	mpc->length = p - (uint8_t *)mpc;
	mpc->checksum = mp__checksum(mpc, mpc->length);
	return 0;
}
