// SPDX-License-Identifier: GPL-2.0
/*
 * A userspace virtio-net driver over the vhost ioctl ABI: guest memory,
 * split rings, the descriptor free list, notifications both ways and the
 * VMM's queue reset. See virtio_drv.h.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "virtio_drv.h"

/* Pairs with the device's barriers: the ring is shared memory. */
#define vdrv_mb()	__atomic_thread_fence(__ATOMIC_SEQ_CST)
#define vdrv_load_acquire(p)	__atomic_load_n(p, __ATOMIC_ACQUIRE)
#define vdrv_store_release(p, v) __atomic_store_n(p, v, __ATOMIC_RELEASE)
#define vdrv_load(p)		__atomic_load_n(p, __ATOMIC_RELAXED)
#define vdrv_store(p, v)	__atomic_store_n(p, v, __ATOMIC_RELAXED)

size_t vdrv_hdr_len(uint64_t features)
{
	if (features & ((1ULL << VIRTIO_F_VERSION_1) |
			(1ULL << VIRTIO_NET_F_MRG_RXBUF)))
		return sizeof(struct virtio_net_hdr_mrg_rxbuf);
	return sizeof(struct virtio_net_hdr);
}

/* ---- guest memory --------------------------------------------------------- */

/*
 * One mapping: each RAM region followed by an inaccessible page, so that
 * regions adjacent in guest-physical space are never adjacent in ours,
 * then the low and the high page.
 */
static int vdrv_mem_map(struct vdrv *d)
{
	size_t stride = VDRV_REGION_SIZE + KVNET_PAGE_SIZE;
	char *p;
	unsigned int i;

	d->map_size = VDRV_RAM_REGIONS * stride + 2 * KVNET_PAGE_SIZE;
	p = mmap(NULL, d->map_size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	d->map = p;
	for (i = 0; i < VDRV_RAM_REGIONS; i++) {
		d->regions[i] = (struct vdrv_region) {
			.gpa = VDRV_RAM_GPA + i * VDRV_REGION_SIZE,
			.size = VDRV_REGION_SIZE,
			.hva = p + i * stride,
		};
		if (mprotect(p + i * stride + VDRV_REGION_SIZE,
			     KVNET_PAGE_SIZE, PROT_NONE))
			return -errno;
	}
	p += VDRV_RAM_REGIONS * stride;
	d->regions[i++] = (struct vdrv_region) {
		.gpa = VDRV_LOW_GPA, .size = KVNET_PAGE_SIZE, .hva = p,
	};
	d->regions[i++] = (struct vdrv_region) {
		.gpa = VDRV_HIGH_GPA, .size = KVNET_PAGE_SIZE,
		.hva = p + KVNET_PAGE_SIZE,
	};
	d->nregions = i;
	d->brk = VDRV_RAM_GPA;
	return 0;
}

uint64_t vdrv_alloc(struct vdrv *d, size_t size, size_t align)
{
	uint64_t gpa = (d->brk + align - 1) & ~(uint64_t)(align - 1);

	if (gpa + size > VDRV_RAM_GPA + VDRV_RAM_SIZE)
		return 0;
	d->brk = gpa + size;
	return gpa;
}

static const struct vdrv_region *vdrv_region_of(const struct vdrv *d,
						uint64_t gpa)
{
	unsigned int i;

	for (i = 0; i < d->nregions; i++)
		if (gpa - d->regions[i].gpa < d->regions[i].size)
			return &d->regions[i];
	return NULL;
}

void *vdrv_hva(const struct vdrv *d, uint64_t gpa, size_t len)
{
	const struct vdrv_region *r = vdrv_region_of(d, gpa);

	if (!r || len > r->size - (gpa - r->gpa))
		return NULL;
	return (char *)r->hva + (gpa - r->gpa);
}

/* Copy between @buf and guest memory, @to_guest or from it. */
static int vdrv_copy(const struct vdrv *d, uint64_t gpa, void *buf,
		     size_t len, bool to_guest)
{
	char *p = buf;

	while (len) {
		const struct vdrv_region *r = vdrv_region_of(d, gpa);
		size_t off, chunk;

		if (!r)
			return -EFAULT;
		off = gpa - r->gpa;
		chunk = r->size - off < len ? r->size - off : len;
		if (to_guest)
			memcpy((char *)r->hva + off, p, chunk);
		else
			memcpy(p, (char *)r->hva + off, chunk);
		p += chunk;
		gpa += chunk;
		len -= chunk;
	}
	return 0;
}

int vdrv_write(struct vdrv *d, uint64_t gpa, const void *src, size_t len)
{
	return vdrv_copy(d, gpa, (void *)src, len, true);
}

int vdrv_read(const struct vdrv *d, uint64_t gpa, void *dst, size_t len)
{
	return vdrv_copy(d, gpa, dst, len, false);
}

/* ---- device setup ------------------------------------------------------- */

#define VDRV_STEP(call, name) do {					\
	if ((call) < 0) {						\
		*failed = (name);					\
		return -errno;						\
	}								\
} while (0)

static int vdrv_set_mem_table(struct vdrv *d)
{
	struct vhost_memory *table = kvnet_mem_table_alloc(d->nregions);
	unsigned int i;
	int ret;

	if (!table)
		return -ENOMEM;
	for (i = 0; i < d->nregions; i++)
		kvnet_mem_table_set(table, i, d->regions[i].gpa,
				    d->regions[i].size,
				    (uintptr_t)d->regions[i].hva);
	ret = __kvnet_ioctl(d->fd, VHOST_SET_MEM_TABLE, table) < 0 ? -errno : 0;
	free(table);
	return ret;
}

static void vdrv_vq_init_free(struct vdrv_vq *vq)
{
	unsigned int i;

	for (i = 0; i < vq->num; i++)
		vq->free_next[i] = i + 1;
	vq->free_head = 0;
	vq->num_free = vq->num;
	memset(vq->inflight, 0, sizeof(vq->inflight));
	vq->num_inflight = 0;
}

static int vdrv_vq_setup(struct vdrv *d, unsigned int index,
			 const char **failed)
{
	struct vdrv_vq *vq = &d->vqs[index];
	struct vhost_vring_state num = { index, VDRV_RING_NUM };
	struct vhost_vring_state base = { index, 0 };
	struct vhost_vring_addr addr;
	struct vhost_vring_file f;
	uint64_t ring_gpa;
	size_t size = vring_size(VDRV_RING_NUM, KVNET_VRING_ALIGN);
	void *ring;

	vq->drv = d;
	vq->index = index;
	vq->num = VDRV_RING_NUM;
	vq->event_idx = vdrv_has(d, VIRTIO_RING_F_EVENT_IDX);
	vq->indirect = vdrv_has(d, VIRTIO_RING_F_INDIRECT_DESC);
	/* The ring must be one host range: within one region. */
	ring_gpa = vdrv_alloc(d, size, KVNET_PAGE_SIZE);
	ring = ring_gpa ? vdrv_hva(d, ring_gpa, size) : NULL;
	vq->indirect_gpa = vdrv_alloc(d, VDRV_RING_NUM * VDRV_MAX_SG *
				      sizeof(struct vring_desc),
				      KVNET_PAGE_SIZE);
	if (!ring || !vq->indirect_gpa) {
		*failed = "guest memory for the ring";
		return -ENOMEM;
	}
	memset(ring, 0, size);
	vring_init(&vq->vring, vq->num, ring, KVNET_VRING_ALIGN);
	vdrv_vq_init_free(vq);

	VDRV_STEP(vq->kick = __kvnet_eventfd(), "eventfd");
	VDRV_STEP(vq->call = __kvnet_eventfd(), "eventfd");
	VDRV_STEP(vq->err = __kvnet_eventfd(), "eventfd");

	addr = (struct vhost_vring_addr) {
		.index = index,
		.desc_user_addr = (uintptr_t)vq->vring.desc,
		.avail_user_addr = (uintptr_t)vq->vring.avail,
		.used_user_addr = (uintptr_t)vq->vring.used,
	};
	VDRV_STEP(__kvnet_ioctl(d->fd, VHOST_SET_VRING_NUM, &num),
		  "VHOST_SET_VRING_NUM");
	VDRV_STEP(__kvnet_ioctl(d->fd, VHOST_SET_VRING_BASE, &base),
		  "VHOST_SET_VRING_BASE");
	VDRV_STEP(__kvnet_ioctl(d->fd, VHOST_SET_VRING_ADDR, &addr),
		  "VHOST_SET_VRING_ADDR");
	f = (struct vhost_vring_file) { index, vq->kick };
	VDRV_STEP(__kvnet_ioctl(d->fd, VHOST_SET_VRING_KICK, &f),
		  "VHOST_SET_VRING_KICK");
	f.fd = vq->call;
	VDRV_STEP(__kvnet_ioctl(d->fd, VHOST_SET_VRING_CALL, &f),
		  "VHOST_SET_VRING_CALL");
	f.fd = vq->err;
	VDRV_STEP(__kvnet_ioctl(d->fd, VHOST_SET_VRING_ERR, &f),
		  "VHOST_SET_VRING_ERR");
	return 0;
}

void vdrv_init(struct vdrv *d)
{
	unsigned int i;

	memset(d, 0, sizeof(*d));
	d->fd = -1;
	for (i = 0; i < VDRV_NUM_VQS; i++)
		d->vqs[i].kick = d->vqs[i].call = d->vqs[i].err = -1;
}

int __vdrv_open(struct vdrv *d, const char *path, uint64_t features,
		const char **failed)
{
	unsigned int i;
	int ret;

	vdrv_init(d);
	d->features = features;
	d->hdr_len = vdrv_hdr_len(features);
	d->fd = __kvnet_open_dev(path);
	if (d->fd < 0) {
		*failed = "open";
		return d->fd;
	}
	ret = vdrv_mem_map(d);
	if (ret) {
		*failed = "mmap";
		return ret;
	}
	VDRV_STEP(__kvnet_ioctl(d->fd, VHOST_SET_FEATURES, &features),
		  "VHOST_SET_FEATURES");
	VDRV_STEP(__kvnet_ioctl_noarg(d->fd, VHOST_SET_OWNER),
		  "VHOST_SET_OWNER");
	ret = vdrv_set_mem_table(d);
	if (ret) {
		*failed = "VHOST_SET_MEM_TABLE";
		return ret;
	}
	for (i = 0; i < VDRV_NUM_VQS; i++) {
		ret = vdrv_vq_setup(d, i, failed);
		if (ret)
			return ret;
	}
	return 0;
}

void vdrv_close(struct vdrv *d)
{
	unsigned int i;

	for (i = 0; i < VDRV_NUM_VQS; i++) {
		struct vdrv_vq *vq = &d->vqs[i];

		if (vq->kick >= 0)
			close(vq->kick);
		if (vq->call >= 0)
			close(vq->call);
		if (vq->err >= 0)
			close(vq->err);
		vq->kick = vq->call = vq->err = -1;
	}
	/* The device first: it must not outlive the memory it maps. */
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
	if (d->map)
		munmap(d->map, d->map_size);
	d->map = NULL;
}

int __vdrv_tap_create(size_t hdr_len, char name[IFNAMSIZ])
{
	int fd, sz = hdr_len, err;

	fd = __kvnet_tap_create(KVNET_TAP_FLAGS, "kvt%d", name);
	if (fd < 0)
		return fd;
	if (ioctl(fd, TUNSETVNETHDRSZ, &sz)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int __vdrv_offered(const char *path, uint64_t *features)
{
	int fd = __kvnet_open_dev(path), ret = 0;

	if (fd < 0)
		return fd;
	if (__kvnet_ioctl(fd, VHOST_GET_FEATURES, features) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

unsigned int vdrv_tap_offloads(uint64_t features)
{
	unsigned int off = 0;

	if (!(features & (1ULL << VIRTIO_NET_F_GUEST_CSUM)))
		return 0;
	off |= TUN_F_CSUM;
	if (features & (1ULL << VIRTIO_NET_F_GUEST_TSO4))
		off |= TUN_F_TSO4;
	if (features & (1ULL << VIRTIO_NET_F_GUEST_TSO6))
		off |= TUN_F_TSO6;
	if (features & (1ULL << VIRTIO_NET_F_GUEST_ECN))
		off |= TUN_F_TSO_ECN;
	return off;
}

int __vdrv_set_offloads(int fd, uint64_t features)
{
	return ioctl(fd, TUNSETOFFLOAD, vdrv_tap_offloads(features)) ?
		-errno : 0;
}

/* ---- the driver's side of a ring ------------------------------------------ */

static uint16_t vdrv_desc_take(struct vdrv_vq *vq)
{
	uint16_t i = vq->free_head;

	vq->free_head = vq->free_next[i];
	vq->num_free--;
	return i;
}

int vdrv_desc_get(struct vdrv_vq *vq)
{
	return vq->num_free ? vdrv_desc_take(vq) : -ENOSPC;
}

void vdrv_desc_put(struct vdrv_vq *vq, uint16_t i)
{
	vq->free_next[i] = vq->free_head;
	vq->free_head = i;
	vq->num_free++;
}

/* Publish @head at the driver's avail index and move the index on. */
static void vdrv_avail_publish(struct vdrv_vq *vq, uint16_t head)
{
	vq->vring.avail->ring[vq->avail_idx & (vq->num - 1)] = head;
	vq->avail_idx++;
	/* The entry and its descriptors before the index that covers them. */
	vdrv_store_release(&vq->vring.avail->idx, vq->avail_idx);
}

int vdrv_add(struct vdrv_vq *vq, const struct vdrv_sg *sg, unsigned int out,
	     unsigned int in, bool indirect, void *token)
{
	unsigned int n = out + in, i;
	struct vring_desc table[VDRV_MAX_SG];
	uint16_t head, d = 0, prev = 0;

	if (!n || n > VDRV_MAX_SG || !token)
		return -EINVAL;
	if (vq->num_free < (indirect ? 1 : n))
		return -ENOSPC;

	if (indirect) {
		uint64_t table_gpa;

		table_gpa = vq->indirect_gpa +
			    vq->free_head * VDRV_MAX_SG * sizeof(*table);
		for (i = 0; i < n; i++)
			table[i] = (struct vring_desc) {
				.addr = sg[i].gpa,
				.len = sg[i].len,
				.flags = (i >= out ? VRING_DESC_F_WRITE : 0) |
					 (i + 1 < n ? VRING_DESC_F_NEXT : 0),
				.next = i + 1 < n ? i + 1 : 0,
			};
		/* The table may straddle two regions. */
		if (vdrv_write(vq->drv, table_gpa, table, n * sizeof(*table)))
			return -EFAULT;
		head = vdrv_desc_take(vq);
		vq->vring.desc[head] = (struct vring_desc) {
			.addr = table_gpa,
			.len = n * sizeof(*table),
			.flags = VRING_DESC_F_INDIRECT,
		};
		vq->inflight[head].ndesc = 1;
		vq->inflight[head].desc[0] = head;
	} else {
		head = 0;
		for (i = 0; i < n; i++) {
			d = vdrv_desc_take(vq);
			if (!i)
				head = d;
			else
				vq->vring.desc[prev].next = d;
			vq->vring.desc[d] = (struct vring_desc) {
				.addr = sg[i].gpa,
				.len = sg[i].len,
				.flags = (i >= out ? VRING_DESC_F_WRITE : 0) |
					 (i + 1 < n ? VRING_DESC_F_NEXT : 0),
			};
			vq->inflight[head].desc[i] = d;
			prev = d;
		}
		vq->inflight[head].ndesc = n;
	}
	vq->inflight[head].token = token;
	vq->num_inflight++;
	vdrv_avail_publish(vq, head);
	return head;
}

void vdrv_avail_push(struct vdrv_vq *vq, uint16_t head)
{
	vdrv_avail_publish(vq, head);
}

void vdrv_avail_idx_set(struct vdrv_vq *vq, uint16_t idx)
{
	vdrv_store_release(&vq->vring.avail->idx, idx);
}

/* ---- virtio-net packets ---------------------------------------------------- */

size_t vdrv_layout_span(const struct vdrv_layout *l)
{
	size_t span = 0;
	unsigned int i;

	for (i = 0; i < l->nseg; i++)
		span += l->gap[i] + l->len[i];
	return span;
}

unsigned int vdrv_layout_sg(const struct vdrv_layout *l, uint64_t gpa,
			    struct vdrv_sg *sg)
{
	unsigned int i;

	for (i = 0; i < l->nseg && i < VDRV_MAX_SG; i++) {
		gpa += l->gap[i];
		sg[i] = (struct vdrv_sg) { gpa, l->len[i] };
		gpa += l->len[i];
	}
	return i;
}

int vdrv_tx_post(struct vdrv_vq *vq, uint64_t gpa, const void *hdr,
		 const void *frame, size_t len, const struct vdrv_layout *l,
		 void *token)
{
	size_t hlen = vq->drv->hdr_len, off = 0, chunk, total = hlen + len;
	struct vdrv_sg sg[VDRV_MAX_SG];
	const char *src;
	unsigned int n, i;
	uint32_t done;

	n = vdrv_layout_sg(l, gpa, sg);
	if (n != l->nseg)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		/* A segment may hold the end of the header and the frame. */
		for (done = 0; done < sg[i].len; done += chunk, off += chunk) {
			if (off >= total)
				return -EINVAL;
			if (off < hlen) {
				src = (const char *)hdr + off;
				chunk = hlen - off;
			} else {
				src = (const char *)frame + (off - hlen);
				chunk = total - off;
			}
			if (chunk > sg[i].len - done)
				chunk = sg[i].len - done;
			if (vdrv_write(vq->drv, sg[i].gpa + done, src, chunk))
				return -EFAULT;
		}
	}
	if (off != total)
		return -EINVAL;
	return vdrv_add(vq, sg, n, 0, l->indirect, token);
}

int vdrv_rx_post(struct vdrv_vq *vq, uint64_t gpa,
		 const struct vdrv_layout *l, void *token)
{
	struct vdrv_sg sg[VDRV_MAX_SG];
	unsigned int n = vdrv_layout_sg(l, gpa, sg);

	if (n != l->nseg)
		return -EINVAL;
	return vdrv_add(vq, sg, 0, n, l->indirect, token);
}

int vdrv_sg_read(const struct vdrv *d, const struct vdrv_sg *sg,
		 unsigned int n, void *dst, size_t len)
{
	char *p = dst;
	unsigned int i;
	size_t chunk;

	for (i = 0; i < n && len; i++) {
		chunk = sg[i].len < len ? sg[i].len : len;
		if (vdrv_read(d, sg[i].gpa, p, chunk))
			return -EFAULT;
		p += chunk;
		len -= chunk;
	}
	return len ? -EFAULT : 0;
}

static uint8_t vdrv_frame_byte(uint32_t seq, unsigned int i)
{
	uint32_t x = seq * 0x9e3779b1U ^ i * 0x85ebca6bU;

	x ^= x >> 15;
	x *= 0x2c1b3c6dU;
	return x ^ (x >> 12) ^ (x >> 24);
}

void vdrv_frame(uint8_t *f, const uint8_t *dst, const uint8_t *src,
		uint32_t seq, unsigned int len)
{
	unsigned int i;

	memcpy(f, dst, ETH_ALEN);
	memcpy(f + ETH_ALEN, src, ETH_ALEN);
	f[12] = VDRV_ETHERTYPE >> 8;
	f[13] = VDRV_ETHERTYPE & 0xff;
	f[14] = seq >> 24;
	f[15] = seq >> 16;
	f[16] = seq >> 8;
	f[17] = seq;
	f[18] = len >> 8;
	f[19] = len;
	for (i = VDRV_FRAME_MIN; i < len; i++)
		f[i] = vdrv_frame_byte(seq, i);
}

const char *vdrv_frame_diff(const uint8_t *f, size_t n, uint32_t *seq)
{
	unsigned int len, i;

	if (n < VDRV_FRAME_MIN)
		return kvnet_fmt("a %zu-byte frame", n);
	if ((f[12] << 8 | f[13]) != VDRV_ETHERTYPE)
		return kvnet_fmt("ethertype %#06x", f[12] << 8 | f[13]);
	*seq = (uint32_t)f[14] << 24 | f[15] << 16 | f[16] << 8 | f[17];
	len = f[18] << 8 | f[19];
	if (len != n)
		return kvnet_fmt("frame %u: %zu bytes, it says %u", *seq, n, len);
	for (i = VDRV_FRAME_MIN; i < len; i++)
		if (f[i] != vdrv_frame_byte(*seq, i))
			return kvnet_fmt("frame %u (%u bytes): byte %u is %#04x, expected %#04x",
					 *seq, len, i, f[i],
					 vdrv_frame_byte(*seq, i));
	return NULL;
}

bool vdrv_kick_prepare(struct vdrv_vq *vq)
{
	uint16_t old = vq->kicked_idx, new = vq->avail_idx;
	bool need;

	/* The new avail index before we look at what the device wants. */
	vdrv_mb();
	vq->kicked_idx = new;
	if (old == new)
		return false;
	if (vq->event_idx)
		need = vring_need_event(vdrv_load(&vring_avail_event(&vq->vring)),
					new, old);
	else
		need = !(vdrv_load(&vq->vring.used->flags) &
			 VRING_USED_F_NO_NOTIFY);
	if (!need)
		vq->kicks_saved++;
	return need;
}

int vdrv_notify(struct vdrv_vq *vq)
{
	vq->kicks++;
	return kvnet_eventfd_signal(vq->kick);
}

int vdrv_kick(struct vdrv_vq *vq)
{
	return vdrv_kick_prepare(vq) ? vdrv_notify(vq) : 0;
}

uint16_t vdrv_used_idx(const struct vdrv_vq *vq)
{
	return vdrv_load_acquire(&vq->vring.used->idx);
}

bool vdrv_more_used(const struct vdrv_vq *vq)
{
	return vdrv_used_idx(vq) != vq->last_used_idx;
}

/* Forget the chain at @head and free its descriptors. */
static void vdrv_detach(struct vdrv_vq *vq, uint16_t head)
{
	unsigned int i;

	for (i = 0; i < vq->inflight[head].ndesc; i++)
		vdrv_desc_put(vq, vq->inflight[head].desc[i]);
	vq->inflight[head].token = NULL;
	vq->inflight[head].ndesc = 0;
	vq->num_inflight--;
}

int vdrv_get_buf(struct vdrv_vq *vq, void **token, uint32_t *len)
{
	struct vring_used_elem e;
	uint16_t used = vdrv_used_idx(vq);

	if (used == vq->last_used_idx)
		return 0;
	if ((uint16_t)(used - vq->last_used_idx) > vq->num) {
		snprintf(vq->drv->error, sizeof(vq->drv->error),
			 "q%u: used index moved from %u to %u, more than the ring size %u",
			 vq->index, vq->last_used_idx, used, vq->num);
		return -EPROTO;
	}
	/* The acquire load of the index orders the entry's read after it. */
	e = vq->vring.used->ring[vq->last_used_idx & (vq->num - 1)];
	if (e.id >= vq->num || !vq->inflight[e.id].token) {
		snprintf(vq->drv->error, sizeof(vq->drv->error),
			 "q%u: used entry %u has head %u, which is not in flight",
			 vq->index, vq->last_used_idx, e.id);
		return -EPROTO;
	}
	*token = vq->inflight[e.id].token;
	*len = e.len;
	vdrv_detach(vq, e.id);
	vq->last_used_idx++;
	/* Ask for a call at the next entry, before looking for it. */
	if (!(vq->avail_flags & VRING_AVAIL_F_NO_INTERRUPT)) {
		vdrv_store(&vring_used_event(&vq->vring), vq->last_used_idx);
		vdrv_mb();
	}
	return 1;
}

bool vdrv_enable_cb(struct vdrv_vq *vq)
{
	if (vq->avail_flags & VRING_AVAIL_F_NO_INTERRUPT) {
		vq->avail_flags &= ~VRING_AVAIL_F_NO_INTERRUPT;
		if (!vq->event_idx)
			vdrv_store(&vq->vring.avail->flags, vq->avail_flags);
	}
	vdrv_store(&vring_used_event(&vq->vring), vq->last_used_idx);
	/* Published before we look at the used index once more. */
	vdrv_mb();
	return !vdrv_more_used(vq);
}

bool vdrv_enable_cb_delayed(struct vdrv_vq *vq, uint16_t n)
{
	if (vq->avail_flags & VRING_AVAIL_F_NO_INTERRUPT) {
		vq->avail_flags &= ~VRING_AVAIL_F_NO_INTERRUPT;
		if (!vq->event_idx)
			vdrv_store(&vq->vring.avail->flags, vq->avail_flags);
	}
	vdrv_store(&vring_used_event(&vq->vring),
		   (uint16_t)(vq->last_used_idx + n - 1));
	vdrv_mb();
	return (uint16_t)(vdrv_used_idx(vq) - vq->last_used_idx) < n;
}

void vdrv_disable_cb(struct vdrv_vq *vq)
{
	if (vq->avail_flags & VRING_AVAIL_F_NO_INTERRUPT)
		return;
	vq->avail_flags |= VRING_AVAIL_F_NO_INTERRUPT;
	if (!vq->event_idx)
		vdrv_store(&vq->vring.avail->flags, vq->avail_flags);
}

uint64_t vdrv_eventfd_wait(int efd, int timeout_ms)
{
	struct pollfd pfd = { .fd = efd, .events = POLLIN };
	uint64_t n = 0;

	if (poll(&pfd, 1, timeout_ms) != 1)
		return 0;
	if (read(efd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

int vdrv_wait_used(struct vdrv_vq *vq, int timeout_ms)
{
	uint64_t deadline = kvnet_now_ms() + timeout_ms, now;
	uint64_t n;

	for (;;) {
		if (vdrv_more_used(vq) || !vdrv_enable_cb(vq))
			return 0;
		now = kvnet_now_ms();
		if (now >= deadline)
			break;
		n = vdrv_eventfd_wait(vq->call, deadline - now);
		vq->calls += n;
	}
	if (vdrv_more_used(vq)) {
		snprintf(vq->drv->error, sizeof(vq->drv->error),
			 "q%u: used index %u, %u entries new, but no call in %d ms",
			 vq->index, vdrv_used_idx(vq),
			 (uint16_t)(vdrv_used_idx(vq) - vq->last_used_idx),
			 timeout_ms);
		return -EPROTO;
	}
	return -ETIMEDOUT;
}

/* ---- the VMM's queue reset ------------------------------------------------- */

/* Take queue @s->index back as a VMM does: detach, then its base in @s. */
static int vdrv_vq_stop(struct vdrv *d, struct vhost_vring_state *s,
			const char **failed)
{
	int ret;

	ret = __kvnet_set_backend(d->fd, s->index, -1);
	if (ret) {
		*failed = "VHOST_NET_SET_BACKEND(-1)";
		return ret;
	}
	VDRV_STEP(__kvnet_ioctl(d->fd, VHOST_GET_VRING_BASE, s),
		  "VHOST_GET_VRING_BASE");
	return 0;
}

/* Give it back from base @s->num, with @backend attached. */
static int vdrv_vq_start(struct vdrv *d, struct vhost_vring_state *s,
			 int backend, const char **failed)
{
	int ret;

	VDRV_STEP(__kvnet_ioctl(d->fd, VHOST_SET_VRING_BASE, s),
		  "VHOST_SET_VRING_BASE");
	ret = __kvnet_set_backend(d->fd, s->index, backend);
	if (ret) {
		*failed = "VHOST_NET_SET_BACKEND";
		return ret;
	}
	return 0;
}

int __vdrv_vq_reset(struct vdrv *d, unsigned int index, int backend,
		    unsigned int drop, uint16_t *base, const char **failed)
{
	struct vdrv_vq *vq = &d->vqs[index];
	struct vhost_vring_state s = { index, 0 };
	uint16_t pending, i, h;
	int ret;

	ret = vdrv_vq_stop(d, &s, failed);
	if (ret)
		return ret;
	*base = s.num;

	/* Fix the ring: drop the bad entries, keep the good ones after. */
	pending = vq->avail_idx - *base;
	if (s.num > 0xffff || drop > pending || pending > vq->num) {
		*failed = "fixing the ring (base outside what was made available)";
		return -ERANGE;
	}
	for (i = 0; i < drop; i++) {
		h = vq->vring.avail->ring[(uint16_t)(*base + i) & (vq->num - 1)];
		if (h < vq->num && vq->inflight[h].token)
			vdrv_detach(vq, h);
	}
	for (i = drop; i < pending; i++)
		vq->vring.avail->ring[(uint16_t)(*base + i - drop) & (vq->num - 1)] =
			vq->vring.avail->ring[(uint16_t)(*base + i) & (vq->num - 1)];
	vq->avail_idx -= drop;
	vdrv_store_release(&vq->vring.avail->idx, vq->avail_idx);
	/* What follows the base is new to the device. */
	vq->kicked_idx = *base;

	return vdrv_vq_start(d, &s, backend, failed);
}

int __vdrv_vq_rebase(struct vdrv *d, unsigned int index, uint16_t base,
		     int backend, const char **failed)
{
	struct vdrv_vq *vq = &d->vqs[index];
	struct vhost_vring_state s = { index, 0 };
	int ret;

	if (vq->num_inflight || vdrv_more_used(vq)) {
		*failed = "an idle queue";
		return -EBUSY;
	}
	ret = vdrv_vq_stop(d, &s, failed);
	if (ret)
		return ret;
	vq->avail_idx = vq->kicked_idx = vq->last_used_idx = base;
	vdrv_store(&vq->vring.used->idx, base);
	vdrv_store(&vring_avail_event(&vq->vring), base);
	vdrv_store(&vring_used_event(&vq->vring), base);
	vdrv_store_release(&vq->vring.avail->idx, base);
	s.num = base;
	return vdrv_vq_start(d, &s, backend, failed);
}
