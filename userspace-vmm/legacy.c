// SPDX-License-Identifier: GPL-2.0
/*
 * The PC ports Linux touches that no other device answers. None of them
 * needs to do much; each is registered so that it does not count as an
 * access to nothing, and the two reset paths end the VM.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "vmm/bus.h"
#include "vmm/legacy.h"
#include "vmm/machine.h"
#include "vmm/util.h"

#define POST_PORT		0x80	/* io_delay writes here */
#define CMOS_PORT		0x70	/* index, then data at 0x71 */
#define I8042_DATA_PORT		0x60
#define I8042_CMD_PORT		0x64
#define PORT_A			0x92	/* system control port A */

#define I8042_STATUS_IDLE	0x1c	/* unlocked, command, selftest ok */
#define I8042_CMD_WRITE_OUTPUT	0xd1	/* next data byte: output port */
#define I8042_CMD_RESET		0xfe	/* pulse the CPU reset line */
#define I8042_OUT_RESET_LOW	0x01	/* output port bit 0: 0 resets */
#define PORT_A_RESET		0x01

#define CMOS_INDEX_MASK		0x7f	/* bit 7 masks NMIs */
#define RTC_SECONDS		0x00
#define RTC_MINUTES		0x02
#define RTC_HOURS		0x04
#define RTC_WEEKDAY		0x06
#define RTC_DAY			0x07
#define RTC_MONTH		0x08
#define RTC_YEAR		0x09
#define RTC_REG_A		0x0a
#define RTC_REG_B		0x0b
#define RTC_REG_C		0x0c
#define RTC_REG_D		0x0d
#define RTC_CENTURY		0x32
#define RTC_REG_A_DEFAULT	0x26	/* 32.768 kHz, 1024 Hz, no update */
#define RTC_REG_B_24H		0x02	/* 24-hour, BCD */
#define RTC_REG_D_VRT		0x80	/* the CMOS battery is fine */

/* Accessed by any vCPU without a lock: see legacy__cmos(). */
static uint8_t cmos_index;
static uint8_t cmos_ram[128];
static uint8_t i8042_pending_cmd;
static uint8_t port_a;

static uint8_t bcd(unsigned int v)
{
	return (v / 10) << 4 | (v % 10);
}

/* A read-only clock: the host's UTC time in BCD, 24-hour format. */
static uint8_t legacy__rtc_read(uint8_t reg)
{
	struct tm tm;
	time_t now;

	now = time(NULL);
	gmtime_r(&now, &tm);
	switch (reg) {
	case RTC_SECONDS:
		return bcd(tm.tm_sec);
	case RTC_MINUTES:
		return bcd(tm.tm_min);
	case RTC_HOURS:
		return bcd(tm.tm_hour);
	case RTC_WEEKDAY:
		return bcd(tm.tm_wday + 1);
	case RTC_DAY:
		return bcd(tm.tm_mday);
	case RTC_MONTH:
		return bcd(tm.tm_mon + 1);
	case RTC_YEAR:
		return bcd(tm.tm_year % 100);
	case RTC_CENTURY:
		return bcd(19 + tm.tm_year / 100);
	case RTC_REG_A:
		return RTC_REG_A_DEFAULT;
	case RTC_REG_B:
		return RTC_REG_B_24H;
	case RTC_REG_C:
		return 0;
	case RTC_REG_D:
		return RTC_REG_D_VRT;
	default:
		return cmos_ram[reg];
	}
}

/*
 * Several vCPUs may race on the index register as on real hardware; Linux
 * serialises CMOS accesses with its rtc_lock, so no lock here.
 */
static void legacy__cmos(void *opaque, uint64_t offset, uint8_t *data,
			 unsigned int len, bool is_write)
{
	(void)opaque;
	if (len != 1) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	if (offset == 0) {
		if (is_write)
			cmos_index = data[0] & CMOS_INDEX_MASK;
		else
			data[0] = cmos_index;
	} else if (is_write) {
		if (cmos_index > RTC_REG_D && cmos_index != RTC_CENTURY)
			cmos_ram[cmos_index] = data[0];
	} else {
		data[0] = legacy__rtc_read(cmos_index);
	}
}

/*
 * Just enough of an 8042 to reset the machine: Linux's reboot=k waits for
 * an empty input buffer (status bit 1 clear), then sends 0xfe. There is no
 * keyboard: the FADT tells Linux so, and its i8042 driver stays away.
 */
static void legacy__i8042_cmd(void *opaque, uint64_t offset, uint8_t *data,
			      unsigned int len, bool is_write)
{
	(void)opaque;
	(void)offset;
	if (!is_write) {
		memset(data, 0, len);
		data[0] = I8042_STATUS_IDLE;
		return;
	}
	i8042_pending_cmd = data[0];
	if (data[0] == I8042_CMD_RESET)
		machine__reset();
}

static void legacy__i8042_data(void *opaque, uint64_t offset, uint8_t *data,
			       unsigned int len, bool is_write)
{
	(void)opaque;
	(void)offset;
	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	/* The old way: write the output port with the reset line low. */
	if (i8042_pending_cmd == I8042_CMD_WRITE_OUTPUT &&
	    !(data[0] & I8042_OUT_RESET_LOW))
		machine__reset();
	i8042_pending_cmd = 0;
}

static void legacy__port_a(void *opaque, uint64_t offset, uint8_t *data,
			   unsigned int len, bool is_write)
{
	(void)opaque;
	(void)offset;
	if (!is_write) {
		memset(data, 0, len);
		data[0] = port_a;
		return;
	}
	/* Bit 0 is a reset strobe; bit 1 (A20) is always on anyway. */
	port_a = data[0] & ~PORT_A_RESET;
	if (data[0] & PORT_A_RESET)
		machine__reset();
}

static void legacy__post(void *opaque, uint64_t offset, uint8_t *data,
			 unsigned int len, bool is_write)
{
	(void)opaque;
	(void)offset;
	if (!is_write)
		memset(data, 0xff, len);
}

int legacy__init(void)
{
	static const struct {
		uint16_t port;
		uint16_t len;
		bus_handler_t fn;
		const char *name;
	} ports[] = {
		{ POST_PORT, 1, legacy__post, "POST" },
		{ CMOS_PORT, 2, legacy__cmos, "CMOS" },
		{ I8042_DATA_PORT, 1, legacy__i8042_data, "i8042 data" },
		{ I8042_CMD_PORT, 1, legacy__i8042_cmd, "i8042 command" },
		{ PORT_A, 1, legacy__port_a, "port A" },
	};
	unsigned int i;
	int ret;

	port_a = 0x02;	/* A20 enabled */
	for (i = 0; i < ARRAY_SIZE(ports); i++) {
		ret = bus__register(BUS_PIO, ports[i].port, ports[i].len,
				    ports[i].fn, NULL);
		if (ret) {
			pr_err("cannot register the %s ports: %s",
			       ports[i].name, strerror(-ret));
			return ret;
		}
	}
	return 0;
}
