/* SPDX-License-Identifier: GPL-2.0 */
/*
 * PCI bus 0 behind a host bridge, reached with configuration mechanism #1
 * (ports 0xcf8/0xcfc). A device owns a 256-byte configuration space and up
 * to six 32-bit memory BARs, placed in the PCI hole and movable by the
 * guest. There is no INTx (interrupt pin 0): devices use MSI-X.
 */
#ifndef VMM__PCI_H
#define VMM__PCI_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/pci_regs.h>

#include "vmm/bus.h"

#define PCI_NUM_BARS	6

struct pci_device;

struct pci_bar {
	uint32_t size;		/* a power of two >= 4 KiB; 0: not implemented */
	bus_handler_t fn;	/* accesses to the BAR, offset from its base */
	void *opaque;
	uint32_t mapped_at;	/* base registered on the MMIO bus; 0: none */
	bool warned;		/* a collision was reported */
};

/* Called with the PCI lock held; must not call back into pci__*. */
struct pci_device_ops {
	/* Before a read of config bytes [off, off + len): refresh them. */
	void (*cfg_read)(struct pci_device *dev, unsigned int off,
			 unsigned int len);
	/* After a write of config bytes [off, off + len), masked by wmask. */
	void (*cfg_write)(struct pci_device *dev, unsigned int off,
			  unsigned int len);
	/*
	 * BAR @bar is now decoded at @new_base (0: no longer decoded), was
	 * at @old_base (0: was not): move what hangs off it (ioeventfds).
	 */
	void (*bar_moved)(struct pci_device *dev, int bar, uint32_t old_base,
			  uint32_t new_base);
};

struct pci_device {
	uint8_t cfg[PCI_CFG_SPACE_SIZE];
	uint8_t wmask[PCI_CFG_SPACE_SIZE];	/* bits the guest may write */
	struct pci_bar bar[PCI_NUM_BARS];
	uint8_t cap_end;		/* where the next capability goes */
	uint8_t cap_last;		/* offset of the last capability, 0: none */
	int slot;			/* device number on bus 0, -1: none */
	const struct pci_device_ops *ops;
};

/* A type-0 header with no BARs and no capabilities yet. */
void pci__device_init(struct pci_device *dev, uint16_t vendor,
		      uint16_t device, uint32_t class_code, uint8_t revision,
		      uint16_t subsys_vendor, uint16_t subsys_id,
		      const struct pci_device_ops *ops);

/*
 * Declare 32-bit non-prefetchable memory BAR @bar of @size bytes (a power
 * of two, at least 4 KiB) whose accesses go to @fn. 0 or -EINVAL.
 */
int pci__add_bar(struct pci_device *dev, int bar, uint32_t size,
		 bus_handler_t fn, void *opaque);

/*
 * Append capability @cap of @len bytes (its ID first, the next pointer is
 * filled in) to the capability list. Returns its offset in config space,
 * or -ENOSPC.
 */
int pci__add_cap(struct pci_device *dev, const void *cap, unsigned int len);

/*
 * Put @dev on bus 0 (the host bridge and the config ports are set up on
 * first use) and give its BARs addresses in the PCI hole. Memory decoding
 * stays off until the guest enables it. 0 or -errno, with a message.
 */
int pci__register(struct pci_device *dev);

/* Take @dev off the bus, its BARs off the MMIO bus. */
void pci__unregister(struct pci_device *dev);

/* Config space accessors for the device's own use, little endian. */
static inline uint16_t pci__cfg_read16(const struct pci_device *dev,
				       unsigned int off)
{
	return dev->cfg[off] | dev->cfg[off + 1] << 8;
}

static inline void pci__cfg_write16(struct pci_device *dev, unsigned int off,
				    uint16_t val)
{
	dev->cfg[off] = val;
	dev->cfg[off + 1] = val >> 8;
}

static inline uint32_t pci__cfg_read32(const struct pci_device *dev,
				       unsigned int off)
{
	return (uint32_t)pci__cfg_read16(dev, off) |
	       (uint32_t)pci__cfg_read16(dev, off + 2) << 16;
}

static inline void pci__cfg_write32(struct pci_device *dev, unsigned int off,
				    uint32_t val)
{
	pci__cfg_write16(dev, off, val);
	pci__cfg_write16(dev, off + 2, val >> 16);
}

#endif /* VMM__PCI_H */
