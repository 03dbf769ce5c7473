/* SPDX-License-Identifier: GPL-2.0 */
/*
 * How the machine ends. Devices and vCPUs report what the guest did; the
 * first report decides the exit status and message, main.c then stops the
 * vCPUs and tears everything down.
 */
#ifndef VMM__MACHINE_H
#define VMM__MACHINE_H

#include <stdbool.h>

/* The guest powered off (ACPI S5): status 0. */
void machine__poweroff(void);

/*
 * The guest asked for a reset (keyboard controller, ACPI reset register,
 * port 0x92): status 0, or 1 if it panicked first.
 */
void machine__reset(void);

/* The console showed "Kernel panic - not syncing...": remember the line. */
void machine__note_panic(const char *line);

/* The panic report is complete on the console: status 1 now. */
void machine__panic_done(void);

/* Triple fault, KVM error, broken device...: status 1 with this message. */
void machine__fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* Has anything asked the machine to stop? */
bool machine__stopping(void);

#endif /* VMM__MACHINE_H */
