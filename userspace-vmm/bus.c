// SPDX-License-Identifier: GPL-2.0
/*
 * The I/O port and MMIO buses: a sorted array of non-overlapping ranges per
 * bus, searched on every exit, changed rarely (device setup, BAR moves).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/bus.h"
#include "vmm/util.h"

#define BUS_MISS_SLOTS	32	/* distinct unmapped addresses counted */
#define PIO_PORTS	0x10000

struct bus_range {
	uint64_t base;
	uint64_t len;
	bus_handler_t fn;
	void *opaque;
	uint64_t accesses;	/* atomic: counted under the read lock */
};

struct bus_miss {
	uint64_t addr;
	uint64_t count;
};

struct bus {
	/*
	 * Readers: every access (held across the handler). Writers: register,
	 * unregister, move. Writers are preferred so that a guest hammering
	 * a device cannot starve a BAR move on another vCPU.
	 */
	pthread_rwlock_t lock;
	struct bus_range *ranges;	/* sorted by base, no overlaps */
	unsigned int nr;
	unsigned int cap;

	/* Accesses that hit nothing. Protected by miss_lock. */
	pthread_mutex_t miss_lock;
	struct bus_miss miss[BUS_MISS_SLOTS];
	uint64_t miss_other;		/* once every slot is taken */
};

static struct bus buses[2];
static pthread_once_t bus_once = PTHREAD_ONCE_INIT;

/* Per-port access counts for --stats, handled or not; atomic. */
static uint64_t pio_accesses[PIO_PORTS];

static void bus__init_locks(void)
{
	pthread_rwlockattr_t attr;
	unsigned int i;

	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
			PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	for (i = 0; i < ARRAY_SIZE(buses); i++) {
		pthread_rwlock_init(&buses[i].lock, &attr);
		pthread_mutex_init(&buses[i].miss_lock, NULL);
	}
	pthread_rwlockattr_destroy(&attr);
}

static struct bus *bus__get(enum bus_type type)
{
	pthread_once(&bus_once, bus__init_locks);
	return &buses[type == BUS_MMIO];
}

/* Index of the first range whose end is above @addr (nr if none). */
static unsigned int bus__search(const struct bus *bus, uint64_t addr)
{
	unsigned int lo = 0, hi = bus->nr;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		const struct bus_range *r = &bus->ranges[mid];

		if (addr - r->base < r->len || addr < r->base)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Would [base, base + len) overlap a range other than @skip? */
static bool bus__overlaps(const struct bus *bus, uint64_t base, uint64_t len,
			  const struct bus_range *skip)
{
	unsigned int i;

	for (i = 0; i < bus->nr; i++) {
		const struct bus_range *r = &bus->ranges[i];

		if (r == skip)
			continue;
		if (base < r->base + r->len && r->base < base + len)
			return true;
	}
	return false;
}

static bool bus__range_valid(uint64_t base, uint64_t len)
{
	return len && base + len > base;
}

static int bus__cmp_range(const void *a, const void *b)
{
	const struct bus_range *ra = a, *rb = b;

	return ra->base < rb->base ? -1 : ra->base > rb->base;
}

int bus__register(enum bus_type type, uint64_t base, uint64_t len,
		  bus_handler_t fn, void *opaque)
{
	struct bus *bus = bus__get(type);
	struct bus_range *r;
	int ret = 0;

	if (!fn || !bus__range_valid(base, len))
		return -EINVAL;
	if (type == BUS_PIO && base + len > PIO_PORTS)
		return -EINVAL;

	pthread_rwlock_wrlock(&bus->lock);
	if (bus__overlaps(bus, base, len, NULL)) {
		ret = -EEXIST;
		goto out;
	}
	if (bus->nr == bus->cap) {
		unsigned int cap = bus->cap ? bus->cap * 2 : 16;

		r = realloc(bus->ranges, cap * sizeof(*r));
		if (!r) {
			ret = -ENOMEM;
			goto out;
		}
		bus->ranges = r;
		bus->cap = cap;
	}
	r = &bus->ranges[bus->nr++];
	*r = (struct bus_range){ .base = base, .len = len, .fn = fn,
				 .opaque = opaque };
	qsort(bus->ranges, bus->nr, sizeof(*r), bus__cmp_range);
out:
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

/* The range starting exactly at @base. Call with the lock held. */
static struct bus_range *bus__find_base(struct bus *bus, uint64_t base)
{
	unsigned int i = bus__search(bus, base);

	if (i < bus->nr && bus->ranges[i].base == base)
		return &bus->ranges[i];
	return NULL;
}

int bus__unregister(enum bus_type type, uint64_t base)
{
	struct bus *bus = bus__get(type);
	struct bus_range *r;
	int ret = 0;

	pthread_rwlock_wrlock(&bus->lock);
	r = bus__find_base(bus, base);
	if (!r) {
		ret = -ENOENT;
		goto out;
	}
	memmove(r, r + 1, (bus->ranges + bus->nr - (r + 1)) * sizeof(*r));
	bus->nr--;
out:
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

int bus__move(enum bus_type type, uint64_t old_base, uint64_t new_base)
{
	struct bus *bus = bus__get(type);
	struct bus_range *r;
	int ret = 0;

	pthread_rwlock_wrlock(&bus->lock);
	r = bus__find_base(bus, old_base);
	if (!r) {
		ret = -ENOENT;
		goto out;
	}
	if (!bus__range_valid(new_base, r->len) ||
	    (type == BUS_PIO && new_base + r->len > PIO_PORTS)) {
		ret = -EINVAL;
		goto out;
	}
	if (bus__overlaps(bus, new_base, r->len, r)) {
		ret = -EEXIST;
		goto out;
	}
	r->base = new_base;
	qsort(bus->ranges, bus->nr, sizeof(*r), bus__cmp_range);
out:
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

static void bus__count_miss(struct bus *bus, uint64_t addr)
{
	unsigned int i;

	pthread_mutex_lock(&bus->miss_lock);
	for (i = 0; i < BUS_MISS_SLOTS; i++) {
		struct bus_miss *m = &bus->miss[i];

		if (m->count && m->addr != addr)
			continue;
		m->addr = addr;
		m->count++;
		break;
	}
	if (i == BUS_MISS_SLOTS)
		bus->miss_other++;
	pthread_mutex_unlock(&bus->miss_lock);
}

bool bus__access(enum bus_type type, uint64_t addr, uint8_t *data,
		 unsigned int len, bool is_write)
{
	struct bus *bus = bus__get(type);
	struct bus_range *r;
	bool found = false;
	unsigned int i;

	if (type == BUS_PIO && addr < PIO_PORTS)
		__atomic_fetch_add(&pio_accesses[addr], 1, __ATOMIC_RELAXED);

	pthread_rwlock_rdlock(&bus->lock);
	i = bus__search(bus, addr);
	if (i < bus->nr && len) {
		r = &bus->ranges[i];
		/* The whole access inside one range, or nothing. */
		if (addr >= r->base && addr - r->base + len <= r->len) {
			__atomic_fetch_add(&r->accesses, 1, __ATOMIC_RELAXED);
			r->fn(r->opaque, addr - r->base, data, len, is_write);
			found = true;
		}
	}
	pthread_rwlock_unlock(&bus->lock);

	if (!found) {
		if (!is_write)
			memset(data, 0xff, len);
		bus__count_miss(bus, addr);
	}
	return found;
}

static void bus__print_misses(FILE *out, struct bus *bus, const char *what)
{
	unsigned int i;

	pthread_mutex_lock(&bus->miss_lock);
	for (i = 0; i < BUS_MISS_SLOTS && bus->miss[i].count; i++)
		fprintf(out, "  %s %#" PRIx64 " (nothing there): %" PRIu64 "\n",
			what, bus->miss[i].addr, bus->miss[i].count);
	if (bus->miss_other)
		fprintf(out, "  %s elsewhere (nothing there): %" PRIu64 "\n",
			what, bus->miss_other);
	pthread_mutex_unlock(&bus->miss_lock);
}

void bus__print_stats(FILE *out)
{
	struct bus *pio = bus__get(BUS_PIO), *mmio = bus__get(BUS_MMIO);
	unsigned int i;

	fprintf(out, "PIO accesses by port:\n");
	for (i = 0; i < PIO_PORTS; i++) {
		uint64_t n = __atomic_load_n(&pio_accesses[i],
					     __ATOMIC_RELAXED);

		if (n)
			fprintf(out, "  port %#06x: %" PRIu64 "\n", i, n);
	}
	bus__print_misses(out, pio, "port");

	fprintf(out, "MMIO accesses by range:\n");
	pthread_rwlock_rdlock(&mmio->lock);
	for (i = 0; i < mmio->nr; i++) {
		const struct bus_range *r = &mmio->ranges[i];

		fprintf(out, "  mmio %#" PRIx64 "-%#" PRIx64 ": %" PRIu64 "\n",
			r->base, r->base + r->len - 1,
			__atomic_load_n(&r->accesses, __ATOMIC_RELAXED));
	}
	pthread_rwlock_unlock(&mmio->lock);
	bus__print_misses(out, mmio, "mmio");
}
