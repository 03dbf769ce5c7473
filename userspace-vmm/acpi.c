// SPDX-License-Identifier: GPL-2.0
/*
 * Hardware-reduced ACPI, just enough for Linux to power the machine off and
 * find its CPUs: RSDP, XSDT, FADT (HW_REDUCED_ACPI, sleep control and
 * status registers and a reset register on I/O ports), a DSDT holding only
 * \_S5, and a MADT. A hardware-reduced platform needs no PM1 blocks, no
 * SCI and no PM timer.
 *
 * Linux then runs without a legacy PIC and PIT (acpi_generic_reduced_hw_init)
 * and uses the LAPIC timer. The kernel command line carries pci=noacpi so
 * that PCI is probed with conf1 (there is no host bridge in the DSDT); that
 * also sets acpi_noirq, which makes Linux skip the MADT's IOAPIC and take
 * it, with the ISA interrupts, from the MP table (mptable.c).
 */
#include <string.h>

#include "vmm/bus.h"
#include "vmm/firmware.h"
#include "vmm/kvm.h"
#include "vmm/machine.h"
#include "vmm/util.h"

/* The I/O ports of the FADT's registers. */
#define ACPI_SLEEP_CONTROL_PORT	0x600
#define ACPI_SLEEP_STATUS_PORT	0x601
#define ACPI_RESET_PORT		0x602
#define ACPI_PORTS		3
#define ACPI_RESET_VALUE	0x01

/* Sleep control register: SLP_TYP in bits 2-4, SLP_EN bit 5. */
#define ACPI_SLP_TYP(v)		(((v) >> 2) & 7)
#define ACPI_SLP_EN		0x20
#define ACPI_S5_TYP		5	/* the value \_S5 gives */

/* FADT flags and IA-PC boot architecture flags. */
#define FADT_F_PWR_BUTTON	(1U << 4)	/* no fixed power button */
#define FADT_F_SLP_BUTTON	(1U << 5)	/* no fixed sleep button */
#define FADT_F_RESET_REG_SUP	(1U << 10)
#define FADT_F_HW_REDUCED_ACPI	(1U << 20)
#define IAPC_BOOT_NO_VGA	(1U << 2)
#define IAPC_BOOT_NO_CMOS_RTC	(1U << 5)

#define ACPI_SPACE_SYSTEM_IO	1
#define ACPI_ACCESS_BYTE	1

#define MADT_TYPE_LAPIC		0
#define MADT_TYPE_IOAPIC	1
#define MADT_TYPE_LAPIC_NMI	4
#define MADT_LAPIC_ENABLED	1

#define ACPI_OEM_ID		"KVNET "
#define ACPI_OEM_TABLE_ID	"KVNETVMM"
#define ACPI_CREATOR_ID		"KVNT"

struct acpi_rsdp {
	char signature[8];
	uint8_t checksum;		/* over the first 20 bytes */
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt_address;
	uint32_t length;
	uint64_t xsdt_address;
	uint8_t extended_checksum;	/* over all 36 bytes */
	uint8_t reserved[3];
} __attribute__((packed));

struct acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));

struct acpi_gas {
	uint8_t space_id;
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;
	uint64_t address;
} __attribute__((packed));

/* FADT revision 6 (ACPI 6.0), 276 bytes. */
struct acpi_fadt {
	struct acpi_header hdr;
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved0;
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable;
	uint8_t acpi_disable;
	uint8_t s4bios_req;
	uint8_t pstate_cnt;
	uint32_t pm1a_evt_blk;
	uint32_t pm1b_evt_blk;
	uint32_t pm1a_cnt_blk;
	uint32_t pm1b_cnt_blk;
	uint32_t pm2_cnt_blk;
	uint32_t pm_tmr_blk;
	uint32_t gpe0_blk;
	uint32_t gpe1_blk;
	uint8_t pm1_evt_len;
	uint8_t pm1_cnt_len;
	uint8_t pm2_cnt_len;
	uint8_t pm_tmr_len;
	uint8_t gpe0_blk_len;
	uint8_t gpe1_blk_len;
	uint8_t gpe1_base;
	uint8_t cst_cnt;
	uint16_t p_lvl2_lat;
	uint16_t p_lvl3_lat;
	uint16_t flush_size;
	uint16_t flush_stride;
	uint8_t duty_offset;
	uint8_t duty_width;
	uint8_t day_alrm;
	uint8_t mon_alrm;
	uint8_t century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_revision;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk;
	struct acpi_gas x_pm1b_evt_blk;
	struct acpi_gas x_pm1a_cnt_blk;
	struct acpi_gas x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk;
	struct acpi_gas x_pm_tmr_blk;
	struct acpi_gas x_gpe0_blk;
	struct acpi_gas x_gpe1_blk;
	struct acpi_gas sleep_control;
	struct acpi_gas sleep_status;
	uint64_t hypervisor_id;
} __attribute__((packed));

struct acpi_madt {
	struct acpi_header hdr;
	uint32_t lapic_address;
	uint32_t flags;
} __attribute__((packed));

struct madt_lapic {
	uint8_t type;
	uint8_t length;
	uint8_t processor_uid;
	uint8_t apic_id;
	uint32_t flags;
} __attribute__((packed));

struct madt_ioapic {
	uint8_t type;
	uint8_t length;
	uint8_t id;
	uint8_t reserved;
	uint32_t address;
	uint32_t gsi_base;
} __attribute__((packed));

struct madt_lapic_nmi {
	uint8_t type;
	uint8_t length;
	uint8_t processor_uid;		/* 0xff: all */
	uint16_t flags;
	uint8_t lint;
} __attribute__((packed));

_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP layout");
_Static_assert(sizeof(struct acpi_header) == 36, "SDT header layout");
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT layout");

/*
 * DefinitionBlock body: Name (_S5, Package () { 5, 0, 0, 0 }), in AML:
 * NameOp "_S5_" PackageOp PkgLength(7) NumElements(4) BytePrefix 5,
 * ZeroOp, ZeroOp, ZeroOp.
 */
static const uint8_t dsdt_aml[] = {
	0x08, '_', 'S', '5', '_', 0x12, 0x07, 0x04, 0x0a, ACPI_S5_TYP,
	0x00, 0x00, 0x00,
};

static uint8_t acpi__checksum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint8_t sum = 0;

	while (len--)
		sum += *p++;
	return -sum;
}

static void acpi__header(struct acpi_header *hdr, const char *sig,
			 uint32_t length, uint8_t revision)
{
	memcpy(hdr->signature, sig, 4);
	hdr->length = length;
	hdr->revision = revision;
	memcpy(hdr->oem_id, ACPI_OEM_ID, 6);
	memcpy(hdr->oem_table_id, ACPI_OEM_TABLE_ID, 8);
	hdr->oem_revision = 1;
	memcpy(hdr->creator_id, ACPI_CREATOR_ID, 4);
	hdr->creator_revision = 1;
}

/* Checksum a table whose header says how long it is. */
static void acpi__seal(struct acpi_header *hdr)
{
	hdr->checksum = 0;
	hdr->checksum = acpi__checksum(hdr, hdr->length);
}

static struct acpi_gas acpi__io_reg(uint16_t port)
{
	return (struct acpi_gas){
		.space_id = ACPI_SPACE_SYSTEM_IO,
		.bit_width = 8,
		.access_size = ACPI_ACCESS_BYTE,
		.address = port,
	};
}

static void acpi__pm_io(void *opaque, uint64_t offset, uint8_t *data,
			unsigned int len, bool is_write)
{
	(void)opaque;
	if (!is_write) {
		/* WAK_STS stays clear: the machine never comes back from S5. */
		memset(data, 0, len);
		return;
	}
	switch (ACPI_SLEEP_CONTROL_PORT + offset) {
	case ACPI_SLEEP_CONTROL_PORT:
		if ((data[0] & ACPI_SLP_EN) &&
		    ACPI_SLP_TYP(data[0]) == ACPI_S5_TYP)
			machine__poweroff();
		break;
	case ACPI_RESET_PORT:
		if (data[0] == ACPI_RESET_VALUE)
			machine__reset();
		break;
	}
}

/* Place @size bytes at *@next (16-byte aligned) in guest memory. */
static void *acpi__alloc(struct vm *vm, uint64_t *next, size_t size,
			 uint64_t *gpa)
{
	void *p;

	*gpa = ALIGN_UP(*next, 16);
	if (*gpa + size > FW_ACPI_END)
		return NULL;
	p = vm__gpa_to_hva(vm, *gpa, size);
	if (p)
		memset(p, 0, size);
	*next = *gpa + size;
	return p;
}

static void acpi__fill_fadt(struct acpi_fadt *fadt, uint64_t dsdt)
{
	acpi__header(&fadt->hdr, "FACP", sizeof(*fadt), 6);
	fadt->dsdt = dsdt;
	fadt->x_dsdt = dsdt;
	fadt->flags = FADT_F_HW_REDUCED_ACPI | FADT_F_RESET_REG_SUP |
		      FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON;
	/*
	 * No VGA, no CMOS RTC for the guest to drive (the time comes from
	 * kvmclock), and no 8042 flag: Linux leaves the keyboard controller
	 * alone (its reset command still works for reboot=k).
	 */
	fadt->iapc_boot_arch = IAPC_BOOT_NO_VGA | IAPC_BOOT_NO_CMOS_RTC;
	fadt->reset_reg = acpi__io_reg(ACPI_RESET_PORT);
	fadt->reset_value = ACPI_RESET_VALUE;
	fadt->sleep_control = acpi__io_reg(ACPI_SLEEP_CONTROL_PORT);
	fadt->sleep_status = acpi__io_reg(ACPI_SLEEP_STATUS_PORT);
	acpi__seal(&fadt->hdr);
}

static void acpi__fill_madt(struct acpi_madt *madt, size_t size,
			    unsigned int nr_cpus)
{
	struct madt_lapic_nmi *nmi;
	struct madt_ioapic *ioapic;
	uint8_t *p = (uint8_t *)(madt + 1);
	unsigned int i;

	acpi__header(&madt->hdr, "APIC", size, 4);
	madt->lapic_address = FW_LAPIC_ADDR;
	for (i = 0; i < nr_cpus; i++) {
		struct madt_lapic *lapic = (struct madt_lapic *)p;

		lapic->type = MADT_TYPE_LAPIC;
		lapic->length = sizeof(*lapic);
		lapic->processor_uid = i;
		lapic->apic_id = i;
		lapic->flags = MADT_LAPIC_ENABLED;
		p += sizeof(*lapic);
	}
	ioapic = (struct madt_ioapic *)p;
	ioapic->type = MADT_TYPE_IOAPIC;
	ioapic->length = sizeof(*ioapic);
	ioapic->id = nr_cpus;
	ioapic->address = FW_IOAPIC_ADDR;
	ioapic->gsi_base = 0;
	p += sizeof(*ioapic);
	nmi = (struct madt_lapic_nmi *)p;
	nmi->type = MADT_TYPE_LAPIC_NMI;
	nmi->length = sizeof(*nmi);
	nmi->processor_uid = 0xff;
	nmi->lint = 1;
	acpi__seal(&madt->hdr);
}

uint64_t acpi__setup(struct vm *vm, unsigned int nr_cpus)
{
	uint64_t next = FW_ACPI_START, rsdp_gpa, xsdt_gpa, fadt_gpa, dsdt_gpa;
	uint64_t madt_gpa;
	size_t madt_size = sizeof(struct acpi_madt) +
			   nr_cpus * sizeof(struct madt_lapic) +
			   sizeof(struct madt_ioapic) +
			   sizeof(struct madt_lapic_nmi);
	size_t xsdt_size = sizeof(struct acpi_header) + 2 * sizeof(uint64_t);
	struct acpi_header *xsdt, *dsdt;
	struct acpi_madt *madt;
	struct acpi_fadt *fadt;
	struct acpi_rsdp *rsdp;
	uint64_t *entries;
	int ret;

	rsdp = acpi__alloc(vm, &next, sizeof(*rsdp), &rsdp_gpa);
	xsdt = acpi__alloc(vm, &next, xsdt_size, &xsdt_gpa);
	fadt = acpi__alloc(vm, &next, sizeof(*fadt), &fadt_gpa);
	dsdt = acpi__alloc(vm, &next, sizeof(*dsdt) + sizeof(dsdt_aml),
			   &dsdt_gpa);
	madt = acpi__alloc(vm, &next, madt_size, &madt_gpa);
	if (!rsdp || !xsdt || !fadt || !dsdt || !madt) {
		pr_err("the ACPI tables do not fit below %#llx",
		       (unsigned long long)FW_ACPI_END);
		return 0;
	}

	acpi__header(dsdt, "DSDT", sizeof(*dsdt) + sizeof(dsdt_aml), 2);
	memcpy(dsdt + 1, dsdt_aml, sizeof(dsdt_aml));
	acpi__seal(dsdt);

	acpi__fill_fadt(fadt, dsdt_gpa);
	acpi__fill_madt(madt, madt_size, nr_cpus);

	acpi__header(xsdt, "XSDT", xsdt_size, 1);
	entries = (uint64_t *)(xsdt + 1);
	entries[0] = fadt_gpa;
	entries[1] = madt_gpa;
	acpi__seal(xsdt);

	memcpy(rsdp->signature, "RSD PTR ", 8);
	memcpy(rsdp->oem_id, ACPI_OEM_ID, 6);
	rsdp->revision = 2;
	rsdp->length = sizeof(*rsdp);
	rsdp->xsdt_address = xsdt_gpa;
	rsdp->checksum = acpi__checksum(rsdp, 20);
	rsdp->extended_checksum = acpi__checksum(rsdp, sizeof(*rsdp));

	ret = bus__register(BUS_PIO, ACPI_SLEEP_CONTROL_PORT, ACPI_PORTS,
			    acpi__pm_io, NULL);
	if (ret) {
		pr_err("cannot register the ACPI ports: %s", strerror(-ret));
		return 0;
	}
	return rsdp_gpa;
}
