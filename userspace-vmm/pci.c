// SPDX-License-Identifier: GPL-2.0
/*
 * PCI bus 0: configuration mechanism #1, a host bridge at 00:00.0 (Linux
 * probes for one before it trusts mechanism #1), devices in the other
 * slots, and their memory BARs on the MMIO bus wherever the guest puts
 * them.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "vmm/kvm.h"
#include "vmm/pci.h"
#include "vmm/util.h"

#define PCI_CONFIG_ADDRESS	0xcf8
#define PCI_CONFIG_DATA		0xcfc
#define PCI_CONFIG_ENABLE	0x80000000u
#define PCI_MAX_SLOTS		32

/*
 * BARs are handed out upwards from the start of the hole; the top of it
 * holds the IOAPIC (0xfec00000) and the local APICs (0xfee00000).
 */
#define PCI_BAR_AREA_END	0xfec00000ULL

#define PCI_CLASS_BRIDGE_HOST	0x0600

/* Red Hat's ID for a QEMU host bridge: no Linux driver binds to it. */
#define PCI_VENDOR_ID_REDHAT	0x1b36
#define PCI_DEVICE_ID_HOSTBRIDGE 0x0008

/*
 * pci.lock serialises configuration cycles: the address latch is shared
 * by all vCPUs (as on hardware; Linux takes its own lock around the two
 * port accesses) and config spaces change under it. It is taken before
 * any device lock, and it may take the MMIO bus's lock (bus__move): BAR
 * handlers never take it.
 */
static struct {
	pthread_mutex_t lock;
	uint32_t address;			/* CONFIG_ADDRESS latch */
	struct pci_device *slot[PCI_MAX_SLOTS];
	uint64_t next_bar;			/* next free address in the hole */
	bool ready;
} pci = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.next_bar = VMM_PCI_HOLE_START,
};

static struct pci_device host_bridge;

static uint32_t pci__bar_base(const struct pci_device *dev, int bar)
{
	return pci__cfg_read32(dev, PCI_BASE_ADDRESS_0 + 4 * bar) &
	       PCI_BASE_ADDRESS_MEM_MASK;
}

/*
 * Make the MMIO bus match the command register and the BAR registers:
 * a BAR is decoded when memory decoding is on and its base is not 0.
 * A base that collides with another range is left undecoded (the guest
 * sees all ones there), with one message.
 */
static void pci__update_bars(struct pci_device *dev)
{
	bool decode = pci__cfg_read16(dev, PCI_COMMAND) & PCI_COMMAND_MEMORY;
	int i;

	for (i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *bar = &dev->bar[i];
		uint32_t old = bar->mapped_at;
		uint32_t want = decode ? pci__bar_base(dev, i) : 0;
		int ret = 0;

		if (!bar->size || want == old)
			continue;
		if (old && want)
			ret = bus__move(BUS_MMIO, old, want);
		else if (old)
			bus__unregister(BUS_MMIO, old);
		else
			ret = bus__register(BUS_MMIO, want, bar->size, bar->fn,
					    bar->opaque);
		if (ret) {
			/* Once per BAR: the guest must not flood stderr. */
			if (!bar->warned)
				pr_err("pci: 00:%02x.0 BAR%d at %#x: %s; not decoded",
				       dev->slot, i, want, strerror(-ret));
			bar->warned = true;
			if (old && want)
				bus__unregister(BUS_MMIO, old);
			want = 0;
			if (want == old)
				continue;
		}
		bar->mapped_at = want;
		if (dev->ops && dev->ops->bar_moved)
			dev->ops->bar_moved(dev, i, old, want);
	}
}

static struct pci_device *pci__addressed_device(unsigned int *reg)
{
	uint32_t a = pci.address;
	unsigned int bus = (a >> 16) & 0xff;
	unsigned int slot = (a >> 11) & 0x1f;
	unsigned int function = (a >> 8) & 0x7;

	if (!(a & PCI_CONFIG_ENABLE) || bus || function)
		return NULL;
	*reg = a & 0xfc;
	return pci.slot[slot];
}

static void pci__config_data(void *opaque, uint64_t offset, uint8_t *data,
			     unsigned int len, bool is_write)
{
	struct pci_device *dev;
	unsigned int reg, i;

	(void)opaque;
	if (offset >= 4)
		return;
	if (len > 4 - offset)
		len = 4 - offset;

	pthread_mutex_lock(&pci.lock);
	dev = pci__addressed_device(&reg);
	reg += offset;
	if (!dev) {
		if (!is_write)
			memset(data, 0xff, len);
	} else if (!is_write) {
		if (dev->ops && dev->ops->cfg_read)
			dev->ops->cfg_read(dev, reg, len);
		memcpy(data, &dev->cfg[reg], len);
	} else {
		for (i = 0; i < len; i++)
			dev->cfg[reg + i] = (dev->cfg[reg + i] &
					     ~dev->wmask[reg + i]) |
					    (data[i] & dev->wmask[reg + i]);
		if (reg < PCI_BASE_ADDRESS_5 + 4 &&
		    reg + len > PCI_COMMAND)
			pci__update_bars(dev);
		if (dev->ops && dev->ops->cfg_write)
			dev->ops->cfg_write(dev, reg, len);
	}
	pthread_mutex_unlock(&pci.lock);
}

/* Only whole-dword accesses reach the address latch, as on hardware. */
static void pci__config_address(void *opaque, uint64_t offset, uint8_t *data,
				unsigned int len, bool is_write)
{
	uint32_t val;

	(void)opaque;
	if (offset || len != 4) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&pci.lock);
	if (is_write) {
		memcpy(&val, data, 4);
		pci.address = le32toh(val) & (PCI_CONFIG_ENABLE | 0x00fffffc);
	} else {
		val = htole32(pci.address);
		memcpy(data, &val, 4);
	}
	pthread_mutex_unlock(&pci.lock);
}

void pci__device_init(struct pci_device *dev, uint16_t vendor,
		      uint16_t device, uint32_t class_code, uint8_t revision,
		      uint16_t subsys_vendor, uint16_t subsys_id,
		      const struct pci_device_ops *ops)
{
	memset(dev, 0, sizeof(*dev));
	dev->slot = -1;
	dev->ops = ops;
	pci__cfg_write16(dev, PCI_VENDOR_ID, vendor);
	pci__cfg_write16(dev, PCI_DEVICE_ID, device);
	dev->cfg[PCI_REVISION_ID] = revision;
	dev->cfg[PCI_CLASS_PROG] = class_code;
	pci__cfg_write16(dev, PCI_CLASS_DEVICE, class_code >> 8);
	dev->cfg[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_NORMAL;
	pci__cfg_write16(dev, PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor);
	pci__cfg_write16(dev, PCI_SUBSYSTEM_ID, subsys_id);
	dev->cap_end = PCI_STD_HEADER_SIZEOF;

	/*
	 * The guest may turn memory decoding and bus mastering on and off
	 * and mask INTx (there is none); cache line size, latency timer and
	 * interrupt line are scratch registers for it. The rest of the
	 * header is read-only; BARs become writable in pci__add_bar.
	 */
	dev->wmask[PCI_COMMAND] = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	dev->wmask[PCI_COMMAND + 1] = PCI_COMMAND_INTX_DISABLE >> 8;
	dev->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	dev->wmask[PCI_LATENCY_TIMER] = 0xff;
	dev->wmask[PCI_INTERRUPT_LINE] = 0xff;
}

int pci__add_bar(struct pci_device *dev, int bar, uint32_t size,
		 bus_handler_t fn, void *opaque)
{
	unsigned int reg = PCI_BASE_ADDRESS_0 + 4 * bar;

	if (bar < 0 || bar >= PCI_NUM_BARS || size < 4096 ||
	    (size & (size - 1)) || !fn)
		return -EINVAL;
	dev->bar[bar] = (struct pci_bar){ .size = size, .fn = fn,
					  .opaque = opaque };
	/*
	 * 32-bit, non-prefetchable memory: the type bits read as 0 and the
	 * address bits below the size too, which is how the guest sizes it.
	 */
	pci__cfg_write32(dev, reg, 0);
	dev->wmask[reg] = ~(size - 1) & PCI_BASE_ADDRESS_MEM_MASK;
	dev->wmask[reg + 1] = ~(size - 1) >> 8;
	dev->wmask[reg + 2] = ~(size - 1) >> 16;
	dev->wmask[reg + 3] = ~(size - 1) >> 24;
	return 0;
}

int pci__add_cap(struct pci_device *dev, const void *cap, unsigned int len)
{
	unsigned int off = ALIGN_UP((unsigned int)dev->cap_end, 4);

	if (len < 2 || off + len > PCI_CFG_SPACE_SIZE)
		return -ENOSPC;
	memcpy(&dev->cfg[off], cap, len);
	dev->cfg[off + PCI_CAP_LIST_NEXT] = 0;
	if (dev->cap_last)
		dev->cfg[dev->cap_last + PCI_CAP_LIST_NEXT] = off;
	else
		dev->cfg[PCI_CAPABILITY_LIST] = off;
	pci__cfg_write16(dev, PCI_STATUS,
			 pci__cfg_read16(dev, PCI_STATUS) | PCI_STATUS_CAP_LIST);
	dev->cap_last = off;
	dev->cap_end = off + len;
	return off;
}

static int pci__bus_init(void)
{
	int ret;

	pci__device_init(&host_bridge, PCI_VENDOR_ID_REDHAT,
			 PCI_DEVICE_ID_HOSTBRIDGE, PCI_CLASS_BRIDGE_HOST << 8,
			 0, 0, 0, NULL);
	host_bridge.slot = 0;
	pci.slot[0] = &host_bridge;

	ret = bus__register(BUS_PIO, PCI_CONFIG_ADDRESS, 4,
			    pci__config_address, NULL);
	if (ret) {
		pr_err("pci: config address port %#x: %s", PCI_CONFIG_ADDRESS,
		       strerror(-ret));
		return ret;
	}
	ret = bus__register(BUS_PIO, PCI_CONFIG_DATA, 4, pci__config_data,
			    NULL);
	if (ret) {
		pr_err("pci: config data port %#x: %s", PCI_CONFIG_DATA,
		       strerror(-ret));
		bus__unregister(BUS_PIO, PCI_CONFIG_ADDRESS);
		return ret;
	}
	pci.ready = true;
	return 0;
}

int pci__register(struct pci_device *dev)
{
	uint64_t next;
	int slot, i, ret = 0;

	pthread_mutex_lock(&pci.lock);
	if (!pci.ready) {
		ret = pci__bus_init();
		if (ret)
			goto out;
	}
	for (slot = 1; slot < PCI_MAX_SLOTS && pci.slot[slot]; slot++)
		;
	if (slot == PCI_MAX_SLOTS) {
		pr_err("pci: bus 0 is full");
		ret = -ENOSPC;
		goto out;
	}

	/* Naturally aligned BARs, one after the other. */
	next = pci.next_bar;
	for (i = 0; i < PCI_NUM_BARS; i++) {
		uint32_t size = dev->bar[i].size;

		if (!size)
			continue;
		next = ALIGN_UP(next, (uint64_t)size);
		if (next + size > PCI_BAR_AREA_END) {
			pr_err("pci: no room left in the PCI hole for a BAR of %u bytes",
			       size);
			ret = -ENOSPC;
			goto out;
		}
		pci__cfg_write32(dev, PCI_BASE_ADDRESS_0 + 4 * i, next);
		next += size;
	}
	pci.next_bar = next;
	dev->slot = slot;
	pci.slot[slot] = dev;
out:
	pthread_mutex_unlock(&pci.lock);
	return ret;
}

void pci__unregister(struct pci_device *dev)
{
	pthread_mutex_lock(&pci.lock);
	if (dev->slot > 0 && pci.slot[dev->slot] == dev) {
		pci__cfg_write16(dev, PCI_COMMAND, 0);
		pci__update_bars(dev);
		pci.slot[dev->slot] = NULL;
		dev->slot = -1;
	}
	pthread_mutex_unlock(&pci.lock);
}
