/* SPDX-License-Identifier: GPL-2.0 */
/* Small helpers every file of kvnet-vmm uses. */
#ifndef VMM__UTIL_H
#define VMM__UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif
#define ALIGN_UP(x, a)	(((x) + (a) - 1) & ~((__typeof__(x))(a) - 1))
#define SZ_1K		0x400ULL
#define SZ_1M		0x100000ULL
#define SZ_1G		0x40000000ULL

/* Exit statuses of kvnet-vmm (see --help). */
enum vmm_exit {
	VMM_EXIT_OK = 0,	/* the guest shut down */
	VMM_EXIT_GUEST = 1,	/* guest panic, triple fault, KVM or device error */
	VMM_EXIT_USAGE = 2,	/* bad command line: nothing was started */
};

/* "kvnet-vmm: <message>\n" on stderr. */
void pr_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same, with ": strerror(errno)" appended. */
void pr_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "kvnet-vmm: <message>\n" on stderr unless --quiet. */
void pr_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern bool vmm_quiet;

#endif /* VMM__UTIL_H */
