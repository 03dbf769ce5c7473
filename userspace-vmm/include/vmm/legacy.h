/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The PC ports Linux touches besides the in-kernel PIC, PIT and the UART:
 * POST delay (0x80), CMOS/RTC (0x70/0x71), keyboard controller
 * (0x60/0x64, whose 0xfe command resets), system control port A (0x92).
 */
#ifndef VMM__LEGACY_H
#define VMM__LEGACY_H

int legacy__init(void);

#endif /* VMM__LEGACY_H */
