// SPDX-License-Identifier: GPL-2.0
/*
 * Split virtqueue, device side. The guest writes the rings while we read
 * them, so each value is loaded once into a local, checked there and only
 * the local is used: an index against the ring size, a descriptor address
 * and length against guest memory as a whole range, a chain against a
 * step bound (it may loop), an indirect table against the rules of the
 * spec. The first broken rule stops the ring for good (the guest must
 * reset the device) and is kept for the device to report.
 */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "vmm/kvm.h"
#include "vmm/util.h"
#include "vmm/vring.h"

/* Loads and stores of memory the guest shares with us, done exactly once. */
#define GUEST_LOAD(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define GUEST_STORE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

void vring__init(struct vring_queue *vr, struct vm *vm, uint16_t num,
		 void *desc, void *avail, void *used, bool event_idx,
		 bool indirect)
{
	*vr = (struct vring_queue){
		.vm = vm,
		.num = num,
		.desc = desc,
		.avail = avail,
		.used = used,
		.event_idx = event_idx,
		.indirect = indirect,
	};
}

int vring__error(struct vring_queue *vr, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vr->error, sizeof(vr->error), fmt, ap);
	va_end(ap);
	vr->broken = true;
	return -EIO;
}

/* avail->idx, ordered before the reads of the entries it covers. */
static uint16_t vring__avail_idx(const struct vring_queue *vr)
{
	return le16toh(__atomic_load_n(&vr->avail->idx, __ATOMIC_ACQUIRE));
}

/* uapi's vring_used_event and vring_avail_event, as plain fields. */
static uint16_t *vring__used_event(const struct vring_queue *vr)
{
	return (uint16_t *)&vr->avail->ring[vr->num];
}

static uint16_t *vring__avail_event(const struct vring_queue *vr)
{
	return (uint16_t *)&vr->used->ring[vr->num];
}

static void vring__read_desc(const struct vring_desc *table, unsigned int i,
			     struct vring_desc *d)
{
	d->addr = le64toh(GUEST_LOAD(table[i].addr));
	d->len = le32toh(GUEST_LOAD(table[i].len));
	d->flags = le16toh(GUEST_LOAD(table[i].flags));
	d->next = le16toh(GUEST_LOAD(table[i].next));
}

/* Append one buffer to the chain, in its place (readable ones first). */
static int vring__add_buffer(struct vring_queue *vr, const struct vring_desc *d,
			     struct iovec *iov, unsigned int max_iov,
			     struct vring_chain *chain)
{
	unsigned int n = chain->nr_out + chain->nr_in;
	void *hva;

	if (d->flags & VRING_DESC_F_WRITE) {
		chain->nr_in++;
		chain->in_len += d->len;
	} else {
		if (chain->nr_in)
			return vring__error(vr, "chain %u: a readable buffer after a writable one",
					     chain->head);
		chain->nr_out++;
		chain->out_len += d->len;
	}
	if (n >= max_iov)
		return vring__error(vr, "chain %u: more than %u buffers",
				     chain->head, max_iov);
	hva = d->len ? vm__gpa_to_hva(vr->vm, d->addr, d->len) : NULL;
	if (d->len && !hva)
		return vring__error(vr, "chain %u: buffer %#llx+%u is not in guest memory",
				     chain->head, (unsigned long long)d->addr,
				     d->len);
	iov[n].iov_base = hva;
	iov[n].iov_len = d->len;
	return 0;
}

int vring__pop(struct vring_queue *vr, struct iovec *iov, unsigned int max_iov,
	       struct vring_chain *chain)
{
	const struct vring_desc *table = vr->desc;
	unsigned int table_size = vr->num, steps = 0, i;
	uint16_t avail_idx, pending;
	struct vring_desc d;
	int ret;

	if (vr->broken)
		return -EIO;
	avail_idx = vring__avail_idx(vr);
	pending = avail_idx - vr->last_avail;
	if (pending > vr->num)
		return vring__error(vr, "avail index %u is %u ahead of the device, the ring has %u entries",
				     avail_idx, pending, vr->num);
	if (!pending)
		return 0;

	*chain = (struct vring_chain){
		.head = le16toh(GUEST_LOAD(vr->avail->ring[vr->last_avail &
							   (vr->num - 1)])),
	};
	if (chain->head >= vr->num)
		return vring__error(vr, "avail entry %u names descriptor %u, the ring has %u",
				     vr->last_avail, chain->head, vr->num);

	for (i = chain->head;; i = d.next) {
		/* Each table has table_size entries: more steps is a loop. */
		if (++steps > table_size)
			return vring__error(vr, "chain %u loops or is longer than its table",
					     chain->head);
		vring__read_desc(table, i, &d);

		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (!vr->indirect)
				return vring__error(vr, "chain %u: indirect descriptor not negotiated",
						     chain->head);
			if (table != vr->desc)
				return vring__error(vr, "chain %u: nested indirect table",
						     chain->head);
			if (d.flags & VRING_DESC_F_NEXT)
				return vring__error(vr, "chain %u: indirect descriptor with a next",
						     chain->head);
			if (!d.len || d.len % sizeof(d) ||
			    d.len / sizeof(d) > vr->num)
				return vring__error(vr, "chain %u: indirect table of %u bytes",
						     chain->head, d.len);
			/* As the ring's own table: its fields are read whole. */
			if (d.addr % sizeof(d))
				return vring__error(vr, "chain %u: indirect table at %#llx is misaligned",
						     chain->head,
						     (unsigned long long)d.addr);
			table = vm__gpa_to_hva(vr->vm, d.addr, d.len);
			if (!table)
				return vring__error(vr, "chain %u: indirect table %#llx+%u is not in guest memory",
						     chain->head,
						     (unsigned long long)d.addr,
						     d.len);
			table_size = d.len / sizeof(d);
			steps = 0;
			d.next = 0;
			continue;
		}

		ret = vring__add_buffer(vr, &d, iov, max_iov, chain);
		if (ret)
			return ret;
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		if (d.next >= table_size)
			return vring__error(vr, "chain %u: next %u is outside its table of %u",
					     chain->head, d.next, table_size);
	}
	vr->last_avail++;
	return 1;
}

void vring__unpop(struct vring_queue *vr, unsigned int n)
{
	vr->last_avail -= n;
}

void vring__push(struct vring_queue *vr, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e = &vr->used->ring[vr->used_idx &
						     (vr->num - 1)];

	GUEST_STORE(e->id, htole32(head));
	GUEST_STORE(e->len, htole32(len));
	vr->used_idx++;
}

void vring__publish(struct vring_queue *vr)
{
	if (vr->published == vr->used_idx)
		return;
	/* The entries before the index that covers them. */
	__atomic_store_n(&vr->used->idx, htole16(vr->used_idx),
			 __ATOMIC_RELEASE);
	vr->published = vr->used_idx;
}

bool vring__need_call(struct vring_queue *vr)
{
	uint16_t old = vr->signalled_used, now = vr->published;
	bool valid = vr->signalled_valid;

	if (valid && old == now)
		return false;	/* nothing new since the last check */
	vr->signalled_used = now;
	vr->signalled_valid = true;
	/*
	 * The used index store before the read of the driver's wish: pairs
	 * with the driver's barrier between re-enabling callbacks and
	 * re-reading the used index, so one side sees the other.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vr->event_idx)
		return !(le16toh(GUEST_LOAD(vr->avail->flags)) &
			 VRING_AVAIL_F_NO_INTERRUPT);
	if (!valid)
		return true;
	return vring_need_event(le16toh(GUEST_LOAD(*vring__used_event(vr))),
				now, old);
}

void vring__disable_kicks(struct vring_queue *vr)
{
	/*
	 * With EVENT_IDX, avail_event stays where it was: the driver kicks
	 * at most once more, when it passes it.
	 */
	if (!vr->event_idx)
		GUEST_STORE(vr->used->flags, htole16(VRING_USED_F_NO_NOTIFY));
}

bool vring__enable_kicks(struct vring_queue *vr)
{
	return vring__enable_kicks_after(vr, vr->last_avail);
}

bool vring__enable_kicks_after(struct vring_queue *vr, uint16_t seen)
{
	if (vr->event_idx)
		GUEST_STORE(*vring__avail_event(vr), htole16(seen));
	else
		GUEST_STORE(vr->used->flags, 0);
	/* The store before the re-read: pairs with the driver's kick check. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return vring__avail_idx(vr) != seen;
}

uint16_t vring__avail_seen(const struct vring_queue *vr)
{
	return vring__avail_idx(vr);
}
