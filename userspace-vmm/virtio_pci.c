// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-pci, modern interface (virtio 1.x, section 4.1). Every register
 * the driver writes is checked before it takes effect (the selected queue
 * against the number of queues, a queue size against the maximum, a
 * vector against the MSI-X table) and the ring addresses where they are
 * used, at DRIVER_OK: a ring outside guest memory sets DEVICE_NEEDS_RESET,
 * it never reaches a backend.
 */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sys/eventfd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "vmm/kvm.h"
#include "vmm/util.h"
#include "vmm/virtio_pci.h"

#define PCI_VENDOR_ID_VIRTIO		0x1af4
#define VIRTIO_PCI_DEVICE_ID_BASE	0x1040
/* As QEMU: subsystem IDs of modern devices start at 0x40. */
#define VIRTIO_PCI_SUBSYS_ID		0x1100
#define VIRTIO_PCI_REVISION		1

/* BAR 0: one page per structure. BAR 1: MSI-X. */
#define VIRTIO_PCI_BAR			0
#define VIRTIO_PCI_MSIX_BAR		1
#define VIRTIO_PCI_BAR_SIZE		0x4000
#define VIRTIO_PCI_COMMON_OFF		0x0000
#define VIRTIO_PCI_ISR_OFF		0x1000
#define VIRTIO_PCI_DEVICE_OFF		0x2000
#define VIRTIO_PCI_NOTIFY_OFF		0x3000
#define VIRTIO_PCI_REGION_SIZE		0x1000
/* Queue n notifies at NOTIFY_OFF + n * 4, with a 16-bit write. */
#define VIRTIO_PCI_NOTIFY_MULTIPLIER	4
#define VIRTIO_PCI_NOTIFY_LEN		2

/* Guest errors reported per device before it goes quiet. */
#define VIRTIO_PCI_MAX_REPORTS		20

#define VIRTIO_COMMON(field)	offsetof(struct virtio_pci_common_cfg, field)

/* The driver-written status bits; NEEDS_RESET is the device's. */
#define VIRTIO_STATUS_DRIVER_BITS (VIRTIO_CONFIG_S_ACKNOWLEDGE | \
				   VIRTIO_CONFIG_S_DRIVER | \
				   VIRTIO_CONFIG_S_FEATURES_OK | \
				   VIRTIO_CONFIG_S_DRIVER_OK | \
				   VIRTIO_CONFIG_S_FAILED)

static struct virtio_queue *virtio_pci__selected(struct virtio_pci *vp)
{
	return vp->queue_select < vp->nr_queues ?
	       &vp->vq[vp->queue_select] : NULL;
}

static uint8_t virtio_pci__status(const struct virtio_pci *vp)
{
	return vp->status |
	       (__atomic_load_n(&vp->needs_reset, __ATOMIC_ACQUIRE) ?
		VIRTIO_CONFIG_S_NEEDS_RESET : 0);
}

/* Back to the state after power-on, but for the MSI-X table (PCI's). */
static void virtio_pci__reset(struct virtio_pci *vp)
{
	unsigned int i;

	if (vp->started)
		vp->ops->stop(vp);
	vp->started = false;
	vp->status = 0;
	vp->driver_features = 0;
	vp->device_feature_select = 0;
	vp->driver_feature_select = 0;
	__atomic_store_n(&vp->config_vector, VIRTIO_MSI_NO_VECTOR,
			 __ATOMIC_RELAXED);
	vp->queue_select = 0;
	for (i = 0; i < vp->nr_queues; i++) {
		struct virtio_queue *q = &vp->vq[i];

		q->size = q->max_size;
		q->msix_vector = VIRTIO_MSI_NO_VECTOR;
		q->enabled = false;
		q->desc_gpa = 0;
		q->avail_gpa = 0;
		q->used_gpa = 0;
	}
	__atomic_store_n(&vp->isr, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&vp->needs_reset, false, __ATOMIC_RELEASE);
}

void virtio_pci__report(struct virtio_pci *vp, const char *fmt, ...)
{
	unsigned int n = __atomic_add_fetch(&vp->reports, 1, __ATOMIC_RELAXED);
	char msg[256];
	va_list ap;

	if (n > VIRTIO_PCI_MAX_REPORTS)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_err("%s: %s%s", vp->name, msg,
	       n == VIRTIO_PCI_MAX_REPORTS ?
	       " (further guest errors are not reported)" : "");
}

void virtio_pci__needs_reset(struct virtio_pci *vp)
{
	uint16_t vector;

	if (__atomic_exchange_n(&vp->needs_reset, true, __ATOMIC_ACQ_REL))
		return;
	__atomic_or_fetch(&vp->isr, VIRTIO_PCI_ISR_CONFIG, __ATOMIC_RELEASE);
	vector = __atomic_load_n(&vp->config_vector, __ATOMIC_RELAXED);
	if (vector != VIRTIO_MSI_NO_VECTOR)
		msix__signal(&vp->msix, vector);
}

int virtio_pci__call_fd(struct virtio_pci *vp, unsigned int q)
{
	if (q >= vp->nr_queues)
		return -1;
	return msix__eventfd(&vp->msix, vp->vq[q].msix_vector);
}

/*
 * Split ring layout (virtio 1.x, 2.7): the descriptor table 16-byte
 * aligned, the driver area 2, the device area 4, each with its event
 * field. The checked host addresses go into @q.
 */
static int virtio_pci__map_queue(struct virtio_pci *vp, unsigned int i)
{
	struct virtio_queue *q = &vp->vq[i];
	uint64_t n = q->size;

	if (q->desc_gpa % 16 || q->avail_gpa % 2 || q->used_gpa % 4) {
		virtio_pci__report(vp, "queue %u: misaligned ring (desc %#llx, driver %#llx, device %#llx)",
				   i, (unsigned long long)q->desc_gpa,
				   (unsigned long long)q->avail_gpa,
				   (unsigned long long)q->used_gpa);
		return -EINVAL;
	}
	q->desc = vm__gpa_to_hva(vp->vm, q->desc_gpa,
				 n * sizeof(struct vring_desc));
	q->avail = vm__gpa_to_hva(vp->vm, q->avail_gpa, 6 + 2 * n);
	q->used = vm__gpa_to_hva(vp->vm, q->used_gpa,
				 6 + n * sizeof(struct vring_used_elem));
	if (!q->desc || !q->avail || !q->used) {
		virtio_pci__report(vp, "queue %u: ring of %u entries outside guest memory (desc %#llx, driver %#llx, device %#llx)",
				   i, q->size, (unsigned long long)q->desc_gpa,
				   (unsigned long long)q->avail_gpa,
				   (unsigned long long)q->used_gpa);
		return -EFAULT;
	}
	return 0;
}

static void virtio_pci__driver_ok(struct virtio_pci *vp)
{
	unsigned int i;

	if (!(vp->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
		virtio_pci__report(vp, "DRIVER_OK before FEATURES_OK");
		goto needs_reset;
	}
	for (i = 0; i < vp->nr_queues; i++)
		if (vp->vq[i].enabled && virtio_pci__map_queue(vp, i))
			goto needs_reset;
	if (vp->ops->start(vp))
		goto needs_reset;
	vp->started = true;
	return;

needs_reset:
	virtio_pci__report(vp, "the device needs a reset");
	virtio_pci__needs_reset(vp);
}

/* A feature set the device cannot accept leaves FEATURES_OK clear. */
static bool virtio_pci__features_ok(struct virtio_pci *vp)
{
	uint64_t extra = vp->driver_features & ~vp->device_features;

	if (extra) {
		virtio_pci__report(vp, "the driver accepted features %#llx that were not offered",
				   (unsigned long long)extra);
		return false;
	}
	if (!virtio_pci__negotiated(vp, VIRTIO_F_VERSION_1)) {
		virtio_pci__report(vp, "the driver did not accept VIRTIO_F_VERSION_1 (legacy drivers are not supported)");
		return false;
	}
	return true;
}

static void virtio_pci__set_status(struct virtio_pci *vp, uint8_t val)
{
	uint8_t old = vp->status, set;

	if (!val) {
		virtio_pci__reset(vp);
		return;
	}
	val &= VIRTIO_STATUS_DRIVER_BITS;
	/* Only a reset clears bits (virtio 1.x, 2.1.1). */
	if (old & ~val)
		return;
	set = val & ~old;
	if ((set & VIRTIO_CONFIG_S_FEATURES_OK) && !virtio_pci__features_ok(vp))
		val &= ~VIRTIO_CONFIG_S_FEATURES_OK;
	vp->status = val;
	if (set & VIRTIO_CONFIG_S_DRIVER_OK)
		virtio_pci__driver_ok(vp);
}

static void virtio_pci__common_read(struct virtio_pci *vp, uint64_t off,
				    uint8_t *data, unsigned int len)
{
	struct virtio_pci_common_cfg c = { 0 };
	struct virtio_queue *q = virtio_pci__selected(vp);
	uint32_t sel = vp->device_feature_select;

	c.device_feature_select = htole32(sel);
	c.device_feature = htole32(sel < 2 ? vp->device_features >> (32 * sel) :
				   0);
	sel = vp->driver_feature_select;
	c.guest_feature_select = htole32(sel);
	c.guest_feature = htole32(sel < 2 ? vp->driver_features >> (32 * sel) :
				  0);
	c.msix_config = htole16(vp->config_vector);
	c.num_queues = htole16(vp->nr_queues);
	c.device_status = virtio_pci__status(vp);
	c.config_generation = 0;	/* the device configuration never changes */
	c.queue_select = htole16(vp->queue_select);
	if (q) {
		c.queue_size = htole16(q->size);
		c.queue_msix_vector = htole16(q->msix_vector);
		c.queue_enable = htole16(q->enabled);
		c.queue_notify_off = htole16(vp->queue_select);
		c.queue_desc_lo = htole32(q->desc_gpa);
		c.queue_desc_hi = htole32(q->desc_gpa >> 32);
		c.queue_avail_lo = htole32(q->avail_gpa);
		c.queue_avail_hi = htole32(q->avail_gpa >> 32);
		c.queue_used_lo = htole32(q->used_gpa);
		c.queue_used_hi = htole32(q->used_gpa >> 32);
	}
	memset(data, 0, len);
	if (off < sizeof(c))
		memcpy(data, (uint8_t *)&c + off,
		       off + len > sizeof(c) ? sizeof(c) - off : len);
}

/* The low or high half of a 64-bit register, by the offset written. */
static void virtio_pci__set_half(uint64_t *reg, uint64_t off, uint64_t base,
				 uint32_t val)
{
	if (off == base)
		*reg = (*reg & ~0xffffffffULL) | val;
	else
		*reg = (*reg & 0xffffffffULL) | (uint64_t)val << 32;
}

static uint16_t virtio_pci__vector(const struct virtio_pci *vp, uint16_t v)
{
	/* A vector the table does not have reads back as NO_VECTOR. */
	return v < vp->msix.nr ? v : VIRTIO_MSI_NO_VECTOR;
}

static void virtio_pci__queue_write(struct virtio_pci *vp, uint64_t off,
				    uint32_t val)
{
	struct virtio_queue *q = virtio_pci__selected(vp);

	/* A queue's setup is frozen once it is enabled (virtio 1.x, 4.1.4.3.2). */
	if (!q || q->enabled)
		return;
	switch (off) {
	case VIRTIO_COMMON(queue_size):
		if (val && val <= q->max_size && !(val & (val - 1)))
			q->size = val;
		break;
	case VIRTIO_COMMON(queue_msix_vector):
		q->msix_vector = virtio_pci__vector(vp, val);
		break;
	case VIRTIO_COMMON(queue_enable):
		q->enabled = val == 1;
		break;
	case VIRTIO_COMMON(queue_desc_lo):
	case VIRTIO_COMMON(queue_desc_hi):
		virtio_pci__set_half(&q->desc_gpa, off,
				     VIRTIO_COMMON(queue_desc_lo), val);
		break;
	case VIRTIO_COMMON(queue_avail_lo):
	case VIRTIO_COMMON(queue_avail_hi):
		virtio_pci__set_half(&q->avail_gpa, off,
				     VIRTIO_COMMON(queue_avail_lo), val);
		break;
	case VIRTIO_COMMON(queue_used_lo):
	case VIRTIO_COMMON(queue_used_hi):
		virtio_pci__set_half(&q->used_gpa, off,
				     VIRTIO_COMMON(queue_used_lo), val);
		break;
	}
}

/* The width the spec gives the field at @off, 0 for none. */
static unsigned int virtio_pci__common_width(uint64_t off)
{
	switch (off) {
	case VIRTIO_COMMON(device_status):
		return 1;
	case VIRTIO_COMMON(msix_config):
	case VIRTIO_COMMON(queue_select):
	case VIRTIO_COMMON(queue_size):
	case VIRTIO_COMMON(queue_msix_vector):
	case VIRTIO_COMMON(queue_enable):
		return 2;
	case VIRTIO_COMMON(device_feature_select):
	case VIRTIO_COMMON(guest_feature_select):
	case VIRTIO_COMMON(guest_feature):
	case VIRTIO_COMMON(queue_desc_lo):
	case VIRTIO_COMMON(queue_desc_hi):
	case VIRTIO_COMMON(queue_avail_lo):
	case VIRTIO_COMMON(queue_avail_hi):
	case VIRTIO_COMMON(queue_used_lo):
	case VIRTIO_COMMON(queue_used_hi):
		return 4;
	default:
		return 0;	/* read-only or not a field */
	}
}

static void virtio_pci__common_write(struct virtio_pci *vp, uint64_t off,
				     const uint8_t *data, unsigned int len)
{
	uint32_t val = 0;
	uint32_t sel;

	/* A 64-bit register may be written whole: as its two halves. */
	if (len == 8 && off % 8 == 0 && off >= VIRTIO_COMMON(queue_desc_lo)) {
		virtio_pci__common_write(vp, off, data, 4);
		virtio_pci__common_write(vp, off + 4, data + 4, 4);
		return;
	}
	/* Other accesses than the field's own width are dropped. */
	if (len != virtio_pci__common_width(off))
		return;
	memcpy(&val, data, len);
	val = le32toh(val);

	switch (off) {
	case VIRTIO_COMMON(device_feature_select):
		vp->device_feature_select = val;
		break;
	case VIRTIO_COMMON(guest_feature_select):
		vp->driver_feature_select = val;
		break;
	case VIRTIO_COMMON(guest_feature):
		sel = vp->driver_feature_select;
		/* Fixed once FEATURES_OK is set. */
		if (sel >= 2 || (vp->status & VIRTIO_CONFIG_S_FEATURES_OK))
			break;
		vp->driver_features &= ~(0xffffffffULL << (32 * sel));
		vp->driver_features |= (uint64_t)val << (32 * sel);
		break;
	case VIRTIO_COMMON(msix_config):
		__atomic_store_n(&vp->config_vector,
				 virtio_pci__vector(vp, val),
				 __ATOMIC_RELAXED);
		break;
	case VIRTIO_COMMON(device_status):
		virtio_pci__set_status(vp, val);
		break;
	case VIRTIO_COMMON(queue_select):
		vp->queue_select = val;
		break;
	default:
		virtio_pci__queue_write(vp, off, val);
		break;
	}
}

static void virtio_pci__notify(struct virtio_pci *vp, uint64_t off)
{
	unsigned int q = off / VIRTIO_PCI_NOTIFY_MULTIPLIER;

	/*
	 * Only reached when the ioeventfd did not take the write (another
	 * width, or not registered): pass it on the same way.
	 */
	if (off % VIRTIO_PCI_NOTIFY_MULTIPLIER || q >= vp->nr_queues)
		return;
	/* Only EAGAIN can fail: the counter is full, a kick is pending. */
	eventfd_write(vp->vq[q].kick_fd, 1);
}

static void virtio_pci__bar_access(void *opaque, uint64_t offset,
				   uint8_t *data, unsigned int len,
				   bool is_write)
{
	struct virtio_pci *vp = opaque;
	uint64_t region = offset & ~(uint64_t)(VIRTIO_PCI_REGION_SIZE - 1);
	uint64_t off = offset - region;

	if (!is_write)
		memset(data, 0, len);
	if (off + len > VIRTIO_PCI_REGION_SIZE)
		return;

	switch (region) {
	case VIRTIO_PCI_COMMON_OFF:
		pthread_mutex_lock(&vp->lock);
		if (is_write)
			virtio_pci__common_write(vp, off, data, len);
		else
			virtio_pci__common_read(vp, off, data, len);
		pthread_mutex_unlock(&vp->lock);
		break;
	case VIRTIO_PCI_ISR_OFF:
		/* Reading the ISR status clears it. */
		if (!is_write && off == 0)
			data[0] = __atomic_exchange_n(&vp->isr, 0,
						      __ATOMIC_ACQ_REL);
		break;
	case VIRTIO_PCI_DEVICE_OFF:
		if (!is_write && off < vp->dev_config_len)
			memcpy(data, vp->dev_config + off,
			       off + len > vp->dev_config_len ?
			       vp->dev_config_len - off : len);
		break;
	case VIRTIO_PCI_NOTIFY_OFF:
		if (is_write)
			virtio_pci__notify(vp, off);
		break;
	}
}

/* Follow BAR 0 with the ioeventfds: a kick must never go to the old place. */
static void virtio_pci__bar_moved(struct pci_device *dev, int bar,
				  uint32_t old_base, uint32_t new_base)
{
	struct virtio_pci *vp = (struct virtio_pci *)dev;
	unsigned int i;
	int ret;

	if (bar != VIRTIO_PCI_BAR)
		return;
	for (i = 0; i < vp->nr_queues; i++) {
		uint64_t off = VIRTIO_PCI_NOTIFY_OFF +
			       i * VIRTIO_PCI_NOTIFY_MULTIPLIER;

		if (old_base)
			vm__ioeventfd(vp->vm, vp->vq[i].kick_fd, old_base + off,
				      VIRTIO_PCI_NOTIFY_LEN, false);
		if (!new_base)
			continue;
		ret = vm__ioeventfd(vp->vm, vp->vq[i].kick_fd, new_base + off,
				    VIRTIO_PCI_NOTIFY_LEN, true);
		if (ret)
			pr_err("%s: queue %u: ioeventfd at %#llx: %s; kicks exit to the VMM",
			       vp->name, i, (unsigned long long)(new_base + off),
			       strerror(-ret));
	}
}

/*
 * The VIRTIO_PCI_CAP_PCI_CFG window: the driver names a BAR, an offset and
 * a length in the capability, then reads or writes pci_cfg_data to access
 * the BAR through config space. Offsets of the window's fields:
 */
#define CFG_CAP_BAR	offsetof(struct virtio_pci_cfg_cap, cap.bar)
#define CFG_CAP_OFFSET	offsetof(struct virtio_pci_cfg_cap, cap.offset)
#define CFG_CAP_LENGTH	offsetof(struct virtio_pci_cfg_cap, cap.length)
#define CFG_CAP_DATA	offsetof(struct virtio_pci_cfg_cap, pci_cfg_data)

/* The window's target, if it is one the spec allows. */
static struct pci_bar *virtio_pci__cfg_window(struct virtio_pci *vp,
					      uint32_t *off, uint32_t *len)
{
	struct pci_device *dev = &vp->pci;
	unsigned int cap = vp->cfg_cap;
	unsigned int bar = dev->cfg[cap + CFG_CAP_BAR];

	*off = pci__cfg_read32(dev, cap + CFG_CAP_OFFSET);
	*len = pci__cfg_read32(dev, cap + CFG_CAP_LENGTH);
	if (bar >= PCI_NUM_BARS || !dev->bar[bar].size ||
	    (*len != 1 && *len != 2 && *len != 4) || *off % *len ||
	    *off >= dev->bar[bar].size)
		return NULL;
	return &dev->bar[bar];
}

static bool virtio_pci__in_window_data(const struct virtio_pci *vp,
				       unsigned int off, unsigned int len)
{
	unsigned int data = vp->cfg_cap + CFG_CAP_DATA;

	return vp->cfg_cap && off < data + 4 && off + len > data;
}

static void virtio_pci__cfg_read(struct pci_device *dev, unsigned int off,
				 unsigned int len)
{
	struct virtio_pci *vp = (struct virtio_pci *)dev;
	uint8_t *data = &dev->cfg[vp->cfg_cap + CFG_CAP_DATA];
	struct pci_bar *bar;
	uint32_t boff, blen;

	if (!virtio_pci__in_window_data(vp, off, len))
		return;
	memset(data, 0, 4);
	bar = virtio_pci__cfg_window(vp, &boff, &blen);
	if (bar)
		bar->fn(bar->opaque, boff, data, blen, false);
}

static void virtio_pci__cfg_write(struct pci_device *dev, unsigned int off,
				  unsigned int len)
{
	struct virtio_pci *vp = (struct virtio_pci *)dev;
	unsigned int data = vp->cfg_cap + CFG_CAP_DATA;
	struct pci_bar *bar;
	uint32_t boff, blen;

	msix__cfg_write(&vp->msix, off, len);
	if (!virtio_pci__in_window_data(vp, off, len))
		return;
	bar = virtio_pci__cfg_window(vp, &boff, &blen);
	/* The write must be the window's access: the data field, its length. */
	if (bar && off == data && len == blen)
		bar->fn(bar->opaque, boff, &dev->cfg[data], blen, true);
}

static const struct pci_device_ops virtio_pci__pci_ops = {
	.cfg_read = virtio_pci__cfg_read,
	.cfg_write = virtio_pci__cfg_write,
	.bar_moved = virtio_pci__bar_moved,
};

/* A virtio capability for the structure at [@offset, +@length) of BAR 0. */
static int virtio_pci__add_cap(struct virtio_pci *vp, uint8_t type,
			       uint32_t offset, uint32_t length)
{
	struct virtio_pci_cap cap = {
		.cap_vndr = PCI_CAP_ID_VNDR,
		.cap_len = sizeof(cap),
		.cfg_type = type,
		.bar = VIRTIO_PCI_BAR,
		.offset = htole32(offset),
		.length = htole32(length),
	};
	struct virtio_pci_notify_cap notify = {
		.cap = cap,
		.notify_off_multiplier = htole32(VIRTIO_PCI_NOTIFY_MULTIPLIER),
	};
	struct virtio_pci_cfg_cap window = {
		.cap = {
			.cap_vndr = PCI_CAP_ID_VNDR,
			.cap_len = sizeof(window),
			.cfg_type = type,
		},
	};

	switch (type) {
	case VIRTIO_PCI_CAP_NOTIFY_CFG:
		notify.cap.cap_len = sizeof(notify);
		return pci__add_cap(&vp->pci, &notify, sizeof(notify));
	case VIRTIO_PCI_CAP_PCI_CFG:
		/* The driver fills in which BAR, where and how wide. */
		return pci__add_cap(&vp->pci, &window, sizeof(window));
	default:
		return pci__add_cap(&vp->pci, &cap, sizeof(cap));
	}
}

static int virtio_pci__add_caps(struct virtio_pci *vp)
{
	int cfg;

	if (virtio_pci__add_cap(vp, VIRTIO_PCI_CAP_COMMON_CFG,
				VIRTIO_PCI_COMMON_OFF,
				sizeof(struct virtio_pci_common_cfg)) < 0 ||
	    virtio_pci__add_cap(vp, VIRTIO_PCI_CAP_NOTIFY_CFG,
				VIRTIO_PCI_NOTIFY_OFF,
				vp->nr_queues *
				VIRTIO_PCI_NOTIFY_MULTIPLIER) < 0 ||
	    virtio_pci__add_cap(vp, VIRTIO_PCI_CAP_ISR_CFG,
				VIRTIO_PCI_ISR_OFF, 1) < 0 ||
	    virtio_pci__add_cap(vp, VIRTIO_PCI_CAP_DEVICE_CFG,
				VIRTIO_PCI_DEVICE_OFF,
				vp->dev_config_len) < 0)
		return -ENOSPC;
	cfg = virtio_pci__add_cap(vp, VIRTIO_PCI_CAP_PCI_CFG, 0, 0);
	if (cfg < 0)
		return -ENOSPC;
	vp->cfg_cap = cfg;
	/* The window's BAR, offset, length and data are the driver's. */
	vp->pci.wmask[cfg + CFG_CAP_BAR] = 0xff;
	memset(&vp->pci.wmask[cfg + CFG_CAP_OFFSET], 0xff, 12);
	return 0;
}

int virtio_pci__init(struct virtio_pci *vp, struct vm *vm, const char *name,
		     uint16_t device_type, uint32_t class_code,
		     unsigned int nr_queues, uint16_t queue_max,
		     uint64_t features, const uint8_t *config,
		     size_t config_len, const struct virtio_pci_ops *ops,
		     void *priv)
{
	unsigned int i;
	int ret;

	if (!nr_queues || nr_queues > VIRTIO_PCI_MAX_QUEUES ||
	    config_len > VIRTIO_PCI_REGION_SIZE)
		return -EINVAL;
	memset(vp, 0, sizeof(*vp));
	vp->vm = vm;
	vp->name = name;
	vp->ops = ops;
	vp->priv = priv;
	vp->dev_config = config;
	vp->dev_config_len = config_len;
	vp->nr_queues = nr_queues;
	vp->device_features = features;
	pthread_mutex_init(&vp->lock, NULL);
	for (i = 0; i < VIRTIO_PCI_MAX_QUEUES; i++)
		vp->vq[i].kick_fd = -1;
	for (i = 0; i < nr_queues; i++) {
		vp->vq[i].max_size = queue_max;
		vp->vq[i].kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vp->vq[i].kick_fd < 0) {
			ret = -errno;
			pr_errno("%s: eventfd", name);
			goto err_close;
		}
	}
	virtio_pci__reset(vp);

	pci__device_init(&vp->pci, PCI_VENDOR_ID_VIRTIO,
			 VIRTIO_PCI_DEVICE_ID_BASE + device_type, class_code,
			 VIRTIO_PCI_REVISION, PCI_VENDOR_ID_VIRTIO,
			 VIRTIO_PCI_SUBSYS_ID, &virtio_pci__pci_ops);
	ret = pci__add_bar(&vp->pci, VIRTIO_PCI_BAR, VIRTIO_PCI_BAR_SIZE,
			   virtio_pci__bar_access, vp);
	if (ret)
		goto err_close;
	ret = msix__init(&vp->msix, vm, &vp->pci, nr_queues + 1,
			 VIRTIO_PCI_MSIX_BAR);
	if (ret)
		goto err_close;
	ret = virtio_pci__add_caps(vp);
	if (ret) {
		pr_err("%s: no room for the virtio capabilities", name);
		goto err_msix;
	}
	ret = pci__register(&vp->pci);
	if (ret)
		goto err_msix;
	return 0;

err_msix:
	msix__exit(&vp->msix);
err_close:
	for (i = 0; i < nr_queues; i++)
		if (vp->vq[i].kick_fd >= 0)
			close(vp->vq[i].kick_fd);
	return ret;
}

void virtio_pci__exit(struct virtio_pci *vp)
{
	unsigned int i;

	pthread_mutex_lock(&vp->lock);
	virtio_pci__reset(vp);
	pthread_mutex_unlock(&vp->lock);
	pci__unregister(&vp->pci);
	msix__exit(&vp->msix);
	for (i = 0; i < vp->nr_queues; i++) {
		close(vp->vq[i].kick_fd);
		vp->vq[i].kick_fd = -1;
	}
}
