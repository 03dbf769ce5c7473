/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What a BIOS would leave in memory for Linux: the ACPI tables and the MP
 * table, in the BIOS area below 1 MiB (e820 reserved), where Linux scans.
 */
#ifndef VMM__FIRMWARE_H
#define VMM__FIRMWARE_H

#include <stdint.h>

struct vm;

/* The reserved BIOS area: [FW_AREA_START, 1 MiB). */
#define FW_AREA_START	0xe0000ULL
#define FW_ACPI_START	0xe0000ULL	/* RSDP here, the tables after it */
#define FW_ACPI_END	0xf0000ULL
#define FW_MPTABLE_START 0xf0000ULL
#define FW_AREA_END	0x100000ULL

/* The interrupt controllers' addresses and the IOAPIC's ID (after CPUs). */
#define FW_LAPIC_ADDR	0xfee00000U
#define FW_IOAPIC_ADDR	0xfec00000U
#define FW_IOAPIC_PINS	24

/*
 * Hardware-reduced ACPI (RSDP, XSDT, FADT, DSDT with \_S5, MADT) for
 * @nr_cpus, and the I/O ports of its sleep and reset registers. Returns
 * the RSDP's address, or 0 with a message.
 */
uint64_t acpi__setup(struct vm *vm, unsigned int nr_cpus);

/*
 * The MP table for @nr_cpus: processors, buses, IOAPIC, ISA interrupts.
 * Linux takes the IOAPIC from it when ACPI's interrupt setup is off
 * (pci=noacpi), and everything with acpi=off. 0 or -errno.
 */
int mptable__setup(struct vm *vm, unsigned int nr_cpus);

#endif /* VMM__FIRMWARE_H */
