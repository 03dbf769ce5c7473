/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The I/O port and MMIO buses: devices register address ranges, the vCPU
 * loop dispatches exits to them. Ranges may be moved or removed at run time
 * (a guest moving a BAR); the bus's rwlock makes that safe against vCPUs.
 */
#ifndef VMM__BUS_H
#define VMM__BUS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum bus_type { BUS_PIO, BUS_MMIO };

/*
 * Called with @offset relative to the range base, @len 1, 2, 4 or 8 and
 * @data in guest (little-endian) byte order. Reads fill @data.
 *
 * Handlers run with the bus's read lock held, possibly on several vCPUs at
 * once. Changing a bus's ranges takes its write lock, so it waits for the
 * handlers in flight on that bus: a handler may add, move or remove ranges
 * of the other bus, never of its own, and nobody may change a bus's ranges
 * while holding a lock that one of that bus's handlers takes.
 */
typedef void (*bus_handler_t)(void *opaque, uint64_t offset, uint8_t *data,
			      unsigned int len, bool is_write);

/* 0, -EINVAL for an empty or wrapping range, -EEXIST for an overlap. */
int bus__register(enum bus_type bus, uint64_t base, uint64_t len,
		  bus_handler_t fn, void *opaque);
int bus__unregister(enum bus_type bus, uint64_t base);
/* Move a registered range (BAR reprogrammed). 0 or -errno. */
int bus__move(enum bus_type bus, uint64_t old_base, uint64_t new_base);

/*
 * Dispatch one access; false if nothing is mapped there (reads then return
 * all ones, writes are dropped, as on real hardware).
 */
bool bus__access(enum bus_type bus, uint64_t addr, uint8_t *data,
		 unsigned int len, bool is_write);

/* --stats: accesses per I/O port, per MMIO range, and to nothing. */
void bus__print_stats(FILE *out);

#endif /* VMM__BUS_H */
