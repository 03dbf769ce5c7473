// SPDX-License-Identifier: GPL-2.0
/*
 * The guest memory table: guest-physical ranges and where they live in the
 * owner's address space. Built from VHOST_SET_MEM_TABLE, checked whole,
 * then published; a table is never modified, only replaced.
 */
#include <linux/moduleparam.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/uaccess.h>

#include "kvnet.h"

#define KVNET_MEM_REGIONS_LIMIT 4096

static unsigned int max_mem_regions = 64;

static int kvnet_set_max_mem_regions(const char *val,
				     const struct kernel_param *kp)
{
	unsigned int n;
	int ret;

	ret = kstrtouint(val, 0, &n);
	if (ret)
		return ret;
	if (!n || n > KVNET_MEM_REGIONS_LIMIT)
		return -EINVAL;
	*(unsigned int *)kp->arg = n;
	return 0;
}

static const struct kernel_param_ops kvnet_max_mem_regions_ops = {
	.set = kvnet_set_max_mem_regions,
	.get = param_get_uint,
};

module_param_cb(max_mem_regions, &kvnet_max_mem_regions_ops,
		&max_mem_regions, 0444);
MODULE_PARM_DESC(max_mem_regions,
		 "Most regions a guest memory table may have (1-4096, default 64)");

static int kvnet_mem_region_cmp(const void *a, const void *b)
{
	const struct kvnet_mem_region *ra = a, *rb = b;

	if (ra->gpa < rb->gpa)
		return -1;
	return ra->gpa > rb->gpa;
}

static int kvnet_mem_region_check(const struct vhost_memory_region *r)
{
	u64 last;

	if (r->flags_padding || !r->memory_size)
		return -EINVAL;
	if (check_add_overflow(r->guest_phys_addr, r->memory_size - 1, &last))
		return -EINVAL;
	if (check_add_overflow(r->userspace_addr, r->memory_size - 1, &last) ||
	    (u64)(unsigned long)r->userspace_addr != r->userspace_addr ||
	    (u64)(unsigned long)r->memory_size != r->memory_size)
		return -EFAULT;
	if (!access_ok((void __user *)(unsigned long)r->userspace_addr,
		       r->memory_size))
		return -EFAULT;
	return 0;
}

/**
 * kvnet_mem_from_user() - copy and check a VHOST_SET_MEM_TABLE argument
 * @m: the caller's struct vhost_memory
 *
 * Return: a new table sorted by guest address, or an ERR_PTR: -E2BIG for
 * too many regions, -EINVAL for non-zero padding, an empty region, a guest
 * range that wraps or overlaps another, -EFAULT for a user range that wraps
 * or is not user memory, or an unreadable @m.
 */
struct kvnet_mem *kvnet_mem_from_user(struct vhost_memory __user *m)
{
	struct vhost_memory_region r;
	struct vhost_memory hdr;
	struct kvnet_mem *mem;
	u32 i;
	int ret;

	if (copy_from_user(&hdr, m, sizeof(hdr)))
		return ERR_PTR(-EFAULT);
	if (hdr.padding)
		return ERR_PTR(-EINVAL);
	if (hdr.nregions > max_mem_regions)
		return ERR_PTR(-E2BIG);

	mem = kvzalloc(struct_size(mem, regions, hdr.nregions),
		       GFP_KERNEL_ACCOUNT);
	if (!mem)
		return ERR_PTR(-ENOMEM);
	mem->nregions = hdr.nregions;

	for (i = 0; i < hdr.nregions; i++) {
		if (copy_from_user(&r, &m->regions[i], sizeof(r))) {
			ret = -EFAULT;
			goto err_free;
		}
		ret = kvnet_mem_region_check(&r);
		if (ret)
			goto err_free;
		mem->regions[i].gpa = r.guest_phys_addr;
		mem->regions[i].size = r.memory_size;
		mem->regions[i].uaddr = r.userspace_addr;
	}

	sort(mem->regions, mem->nregions, sizeof(mem->regions[0]),
	     kvnet_mem_region_cmp, NULL);
	for (i = 1; i < mem->nregions; i++) {
		const struct kvnet_mem_region *prev = &mem->regions[i - 1];

		/* Sorted, so only the neighbour can overlap. */
		if (mem->regions[i].gpa - prev->gpa < prev->size) {
			ret = -EINVAL;
			goto err_free;
		}
	}
	return mem;

err_free:
	kvfree(mem);
	return ERR_PTR(ret);
}

void kvnet_mem_free(struct kvnet_mem *mem)
{
	kvfree(mem);
}

/* The region holding @gpa, or NULL. The table is sorted and disjoint. */
static const struct kvnet_mem_region *
kvnet_mem_find(const struct kvnet_mem *mem, u64 gpa)
{
	u32 lo = 0, hi = mem->nregions;

	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;
		const struct kvnet_mem_region *r = &mem->regions[mid];

		if (gpa < r->gpa)
			hi = mid;
		else if (gpa - r->gpa >= r->size)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

/**
 * kvnet_mem_translate() - map a guest range to the owner's addresses
 * @mem: the memory table, or NULL if none was set
 * @gpa: guest-physical start, from the guest
 * @len: length, from the guest
 * @iov: filled with one entry per region the range crosses
 * @iov_max: room in @iov
 *
 * Return: the number of entries used (0 for an empty range), -EFAULT if
 * any byte of the range is outside the table or the range wraps, or
 * -ENOBUFS if it needs more than @iov_max entries.
 */
int kvnet_mem_translate(const struct kvnet_mem *mem, u64 gpa, u32 len,
			struct iovec *iov, unsigned int iov_max)
{
	unsigned int n = 0;
	u64 last;

	if (!len)
		return 0;
	if (!mem || check_add_overflow(gpa, (u64)len - 1, &last))
		return -EFAULT;

	while (len) {
		const struct kvnet_mem_region *r = kvnet_mem_find(mem, gpa);
		u64 off, chunk;

		if (!r)
			return -EFAULT;
		if (n == iov_max)
			return -ENOBUFS;
		off = gpa - r->gpa;
		chunk = min_t(u64, len, r->size - off);
		iov[n].iov_base = u64_to_user_ptr(r->uaddr + off);
		iov[n].iov_len = chunk;
		n++;
		gpa += chunk;
		len -= chunk;
	}
	return n;
}
