// SPDX-License-Identifier: GPL-2.0
/*
 * MSI-X: the guest programs each vector's message in the table and masks
 * or unmasks it; the VMM keeps a KVM MSI route per vector in step and
 * attaches the vector's eventfd to it as an irqfd only while the vector
 * may fire. A signal that comes while the vector is masked stays in the
 * eventfd: the PBA shows it, and KVM delivers it when the irqfd is
 * attached again (it checks the eventfd on assignment).
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <sys/eventfd.h>

#include "vmm/kvm.h"
#include "vmm/msix.h"
#include "vmm/pci.h"
#include "vmm/util.h"

static bool msix__vector_live(const struct msix *mx,
			      const struct msix_vector *v)
{
	return mx->enabled && !mx->masked &&
	       !(v->ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

static uint64_t msix__vector_addr(const struct msix_vector *v)
{
	return (uint64_t)v->addr_hi << 32 | v->addr_lo;
}

/* Attach or detach @v's irqfd as its state asks. Called with mx->lock. */
static void msix__sync_vector(struct msix *mx, struct msix_vector *v)
{
	bool live = msix__vector_live(mx, v);
	int ret;

	if (live == v->irqfd)
		return;
	if (!live) {
		vm__irqfd(mx->vm, v->efd, v->gsi, false);
		v->irqfd = false;
		return;
	}

	if (v->gsi < 0) {
		ret = vm__msi_route_add(mx->vm, msix__vector_addr(v), v->data);
		if (ret >= 0)
			v->gsi = ret;
	} else if (v->route_stale) {
		ret = vm__msi_route_update(mx->vm, v->gsi,
					   msix__vector_addr(v), v->data);
	} else {
		ret = 0;
	}
	if (ret >= 0) {
		v->route_stale = false;
		ret = vm__irqfd(mx->vm, v->efd, v->gsi, true);
	}
	if (ret < 0) {
		if (!v->warned)
			pr_err("msix: vector %u: cannot route it: %s",
			       (unsigned int)(v - mx->vec), strerror(-ret));
		v->warned = true;
		return;
	}
	v->irqfd = true;
}

static void msix__sync_all(struct msix *mx)
{
	unsigned int i;

	for (i = 0; i < mx->nr; i++)
		msix__sync_vector(mx, &mx->vec[i]);
}

void msix__cfg_write(struct msix *mx, unsigned int off, unsigned int len)
{
	unsigned int flags = mx->cap + PCI_MSIX_FLAGS;
	uint16_t ctrl;

	if (off + len <= flags || off >= flags + 2)
		return;
	ctrl = pci__cfg_read16(mx->pci, flags);
	pthread_mutex_lock(&mx->lock);
	mx->enabled = ctrl & PCI_MSIX_FLAGS_ENABLE;
	mx->masked = ctrl & PCI_MSIX_FLAGS_MASKALL;
	msix__sync_all(mx);
	pthread_mutex_unlock(&mx->lock);
}

static bool msix__eventfd_pending(int efd)
{
	struct pollfd pfd = { .fd = efd, .events = POLLIN };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

/* One dword of the PBA: a vector is pending when masked with a signal. */
static uint32_t msix__pba_read(struct msix *mx, unsigned int dword)
{
	uint32_t bits = 0;
	unsigned int i;

	for (i = 0; i < 32 && dword * 32 + i < mx->nr; i++) {
		struct msix_vector *v = &mx->vec[dword * 32 + i];

		if (!v->irqfd && msix__eventfd_pending(v->efd))
			bits |= 1u << i;
	}
	return bits;
}

static uint32_t msix__entry_read(const struct msix_vector *v,
				 unsigned int field)
{
	switch (field) {
	case PCI_MSIX_ENTRY_LOWER_ADDR:
		return v->addr_lo;
	case PCI_MSIX_ENTRY_UPPER_ADDR:
		return v->addr_hi;
	case PCI_MSIX_ENTRY_DATA:
		return v->data;
	default:
		return v->ctrl;
	}
}

static void msix__entry_write(struct msix *mx, struct msix_vector *v,
			      unsigned int field, uint32_t val)
{
	switch (field) {
	case PCI_MSIX_ENTRY_LOWER_ADDR:
		v->addr_lo = val & ~3u;
		break;
	case PCI_MSIX_ENTRY_UPPER_ADDR:
		v->addr_hi = val;
		break;
	case PCI_MSIX_ENTRY_DATA:
		v->data = val;
		break;
	default:
		v->ctrl = val & PCI_MSIX_ENTRY_CTRL_MASKBIT;
		msix__sync_vector(mx, v);
		return;
	}
	/*
	 * Linux masks a vector around a message change, but the spec lets
	 * the driver change an unmasked one too: then the route follows at
	 * once.
	 */
	if (!v->irqfd) {
		v->route_stale = true;
		return;
	}
	if (vm__msi_route_update(mx->vm, v->gsi, msix__vector_addr(v),
				 v->data) < 0)
		v->route_stale = true;
}

/* One aligned dword of the table or the PBA. Called with mx->lock. */
static void msix__dword(struct msix *mx, unsigned int off, uint32_t *val,
			bool is_write)
{
	unsigned int table_end = mx->nr * PCI_MSIX_ENTRY_SIZE;
	unsigned int pba_end = MSIX_PBA_OFFSET + ALIGN_UP(mx->nr, 64) / 8;

	if (off < table_end) {
		struct msix_vector *v = &mx->vec[off / PCI_MSIX_ENTRY_SIZE];
		unsigned int field = off % PCI_MSIX_ENTRY_SIZE;

		if (is_write)
			msix__entry_write(mx, v, field, *val);
		else
			*val = msix__entry_read(v, field);
	} else if (off >= MSIX_PBA_OFFSET && off < pba_end) {
		if (!is_write)
			*val = msix__pba_read(mx, (off - MSIX_PBA_OFFSET) / 4);
	} else if (!is_write) {
		*val = 0;
	}
}

/*
 * The spec allows aligned dword and qword accesses; anything else reads
 * as zero and is ignored on write.
 */
static void msix__bar_access(void *opaque, uint64_t offset, uint8_t *data,
			     unsigned int len, bool is_write)
{
	struct msix *mx = opaque;
	unsigned int i;
	uint32_t val;

	if ((len != 4 && len != 8) || (offset & (len - 1)) ||
	    offset + len > MSIX_BAR_SIZE) {
		if (!is_write)
			memset(data, 0, len);
		return;
	}
	pthread_mutex_lock(&mx->lock);
	for (i = 0; i < len; i += 4) {
		memcpy(&val, data + i, 4);
		val = le32toh(val);
		msix__dword(mx, offset + i, &val, is_write);
		val = htole32(val);
		if (!is_write)
			memcpy(data + i, &val, 4);
	}
	pthread_mutex_unlock(&mx->lock);
}

int msix__init(struct msix *mx, struct vm *vm, struct pci_device *pci,
	       unsigned int nr, int bar)
{
	uint8_t cap[PCI_CAP_MSIX_SIZEOF] = { PCI_CAP_ID_MSIX };
	unsigned int i;
	int ret;

	if (!nr || nr > MSIX_MAX_VECTORS)
		return -EINVAL;
	memset(mx, 0, sizeof(*mx));
	mx->vm = vm;
	mx->pci = pci;
	mx->nr = nr;
	pthread_mutex_init(&mx->lock, NULL);
	for (i = 0; i < MSIX_MAX_VECTORS; i++) {
		mx->vec[i].efd = -1;
		mx->vec[i].gsi = -1;
		mx->vec[i].ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT;
	}
	for (i = 0; i < nr; i++) {
		mx->vec[i].efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (mx->vec[i].efd < 0) {
			ret = -errno;
			pr_errno("msix: eventfd");
			goto err_close;
		}
	}

	cap[PCI_MSIX_FLAGS] = nr - 1;
	cap[PCI_MSIX_TABLE] = bar;
	cap[PCI_MSIX_PBA] = bar;
	cap[PCI_MSIX_PBA + 1] = MSIX_PBA_OFFSET >> 8;
	ret = pci__add_bar(pci, bar, MSIX_BAR_SIZE, msix__bar_access, mx);
	if (ret)
		goto err_close;
	ret = pci__add_cap(pci, cap, sizeof(cap));
	if (ret < 0)
		goto err_close;
	mx->cap = ret;
	/* Only MSI-X enable and function mask are the guest's to write. */
	pci->wmask[mx->cap + PCI_MSIX_FLAGS + 1] =
		(PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8;
	return 0;

err_close:
	for (i = 0; i < nr; i++)
		if (mx->vec[i].efd >= 0)
			close(mx->vec[i].efd);
	return ret;
}

void msix__exit(struct msix *mx)
{
	unsigned int i;

	pthread_mutex_lock(&mx->lock);
	for (i = 0; i < mx->nr; i++) {
		struct msix_vector *v = &mx->vec[i];

		if (v->irqfd)
			vm__irqfd(mx->vm, v->efd, v->gsi, false);
		v->irqfd = false;
		if (v->gsi >= 0)
			vm__msi_route_del(mx->vm, v->gsi);
		v->gsi = -1;
		close(v->efd);
		v->efd = -1;
	}
	pthread_mutex_unlock(&mx->lock);
}

int msix__eventfd(const struct msix *mx, unsigned int vector)
{
	return vector < mx->nr ? mx->vec[vector].efd : -1;
}

void msix__signal(const struct msix *mx, unsigned int vector)
{
	/* Only EAGAIN can fail: the counter is full, the vector pending. */
	if (vector < mx->nr)
		eventfd_write(mx->vec[vector].efd, 1);
}
