// SPDX-License-Identifier: GPL-2.0
/*
 * The console: a 16550A UART at 0x3f8 on IRQ 4. What the guest transmits
 * goes to stdout at once (the transmitter is always empty); stdin feeds a
 * 16-byte receive FIFO from a thread. The interrupt output follows the
 * 16550's priorities and is driven as a level on the ISA line: each new
 * reason to interrupt after the guest cleared the last one is a fresh
 * rising edge for the edge-triggered IOAPIC pin.
 *
 * The VMM owns the console, so it also watches it for the kernel's panic
 * message: that is how a guest panic becomes exit status 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <linux/serial_reg.h>

#include "vmm/bus.h"
#include "vmm/kvm.h"
#include "vmm/machine.h"
#include "vmm/serial.h"
#include "vmm/util.h"

#define SERIAL_PORTS		8
#define SERIAL_FIFO_SIZE	16
#define SERIAL_LINE_MAX		512

/* The terminal escape: Ctrl-A x quits (SIGINT), Ctrl-A Ctrl-A sends one. */
#define SERIAL_ESCAPE		0x01

#define PANIC_MARK		"Kernel panic - not syncing"
#define PANIC_END_MARK		"---[ end Kernel panic"

struct serial {
	struct vm *vm;

	/* Everything below. Taken by vCPUs (port accesses) and the reader. */
	pthread_mutex_t lock;
	pthread_cond_t rx_ready;	/* FIFO space, or the guest listens */

	uint8_t ier;
	uint8_t lcr;
	uint8_t mcr;
	uint8_t msr_delta;		/* MSR bits 0-3 since the last read */
	uint8_t scr;
	uint8_t dll;
	uint8_t dlm;
	bool fifo_enabled;
	bool thre_pending;		/* THRE interrupt not yet acknowledged */
	bool irq_level;			/* what the ISA line carries now */

	uint8_t rx[SERIAL_FIFO_SIZE];
	unsigned int rx_head;
	unsigned int rx_count;

	/* The line being printed, for the panic watch. */
	char line[SERIAL_LINE_MAX];
	size_t line_len;

	bool stopping;
};

static struct serial com1 = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.rx_ready = PTHREAD_COND_INITIALIZER,
};

static pthread_t input_thread;
static bool input_running;
static int input_wake[2] = { -1, -1 };

static struct termios saved_tty;
static bool tty_raw;

/* The interrupt the IIR reports now, by the 16550's priorities. */
static uint8_t serial__iir(const struct serial *s)
{
	if ((s->ier & UART_IER_RDI) && s->rx_count)
		return UART_IIR_RDI;
	if ((s->ier & UART_IER_THRI) && s->thre_pending)
		return UART_IIR_THRI;
	if ((s->ier & UART_IER_MSI) && s->msr_delta)
		return UART_IIR_MSI;
	return UART_IIR_NO_INT;
}

static void serial__update_irq(struct serial *s)
{
	bool level = serial__iir(s) != UART_IIR_NO_INT;

	if (level == s->irq_level)
		return;
	s->irq_level = level;
	vm__irq_line(s->vm, SERIAL_COM1_IRQ, level);
}

/* MSR status bits: wired to MCR in loopback, else a present, ready line. */
static uint8_t serial__msr_status(const struct serial *s)
{
	uint8_t mcr = s->mcr, msr = 0;

	if (!(mcr & UART_MCR_LOOP))
		return UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
	if (mcr & UART_MCR_DTR)
		msr |= UART_MSR_DSR;
	if (mcr & UART_MCR_RTS)
		msr |= UART_MSR_CTS;
	if (mcr & UART_MCR_OUT1)
		msr |= UART_MSR_RI;
	if (mcr & UART_MCR_OUT2)
		msr |= UART_MSR_DCD;
	return msr;
}

static void serial__rx_push(struct serial *s, uint8_t c)
{
	if (s->rx_count == SERIAL_FIFO_SIZE)
		return;		/* loopback overrun: the byte is lost */
	s->rx[(s->rx_head + s->rx_count) % SERIAL_FIFO_SIZE] = c;
	s->rx_count++;
}

static uint8_t serial__rx_pop(struct serial *s)
{
	uint8_t c;

	if (!s->rx_count)
		return 0;
	c = s->rx[s->rx_head];
	s->rx_head = (s->rx_head + 1) % SERIAL_FIFO_SIZE;
	s->rx_count--;
	pthread_cond_signal(&s->rx_ready);
	return c;
}

static void serial__watch_line(struct serial *s)
{
	char *mark;

	s->line[s->line_len] = '\0';
	s->line_len = 0;
	mark = strstr(s->line, PANIC_MARK);
	if (mark)
		machine__note_panic(mark);	/* the first one counts */
	/* The end line repeats the message; with panic=0 nothing follows. */
	if (strstr(s->line, PANIC_END_MARK))
		machine__panic_done();
}

static void serial__output(struct serial *s, uint8_t c)
{
	ssize_t n;

	/*
	 * Nobody reading stdout is no reason to stop the guest, but a full
	 * pipe blocks the vCPU here until the VMM is told to stop.
	 */
	do
		n = write(STDOUT_FILENO, &c, 1);
	while (n < 0 && errno == EINTR && !machine__stopping());

	if (c == '\n') {
		serial__watch_line(s);
	} else if (c != '\r' && s->line_len < SERIAL_LINE_MAX - 1) {
		s->line[s->line_len++] = c;
	}
}

static uint8_t serial__read(struct serial *s, unsigned int reg)
{
	uint8_t val, msr;

	switch (reg) {
	case UART_RX:
		if (s->lcr & UART_LCR_DLAB)
			return s->dll;
		return serial__rx_pop(s);
	case UART_IER:
		if (s->lcr & UART_LCR_DLAB)
			return s->dlm;
		return s->ier;
	case UART_IIR:
		val = serial__iir(s);
		/* Reading the IIR acknowledges a THRE interrupt it reports. */
		if (val == UART_IIR_THRI)
			s->thre_pending = false;
		if (s->fifo_enabled)
			val |= 0xc0;
		return val;
	case UART_LCR:
		return s->lcr;
	case UART_MCR:
		return s->mcr;
	case UART_LSR:
		val = UART_LSR_THRE | UART_LSR_TEMT;
		if (s->rx_count)
			val |= UART_LSR_DR;
		return val;
	case UART_MSR:
		msr = serial__msr_status(s) | s->msr_delta;
		s->msr_delta = 0;
		return msr;
	default:
		return s->scr;
	}
}

static void serial__write(struct serial *s, unsigned int reg, uint8_t val)
{
	uint8_t old_msr;

	switch (reg) {
	case UART_TX:
		if (s->lcr & UART_LCR_DLAB) {
			s->dll = val;
			break;
		}
		if (s->mcr & UART_MCR_LOOP)
			serial__rx_push(s, val);
		else
			serial__output(s, val);
		/* Sent at once: the holding register is empty again. */
		s->thre_pending = true;
		break;
	case UART_IER:
		if (s->lcr & UART_LCR_DLAB) {
			s->dlm = val;
			break;
		}
		/* Enabling THRE interrupts with an empty THR raises one. */
		if ((val & UART_IER_THRI) && !(s->ier & UART_IER_THRI))
			s->thre_pending = true;
		s->ier = val & 0x0f;
		pthread_cond_signal(&s->rx_ready);
		break;
	case UART_FCR:
		s->fifo_enabled = val & UART_FCR_ENABLE_FIFO;
		if (val & UART_FCR_CLEAR_RCVR) {
			s->rx_count = 0;
			pthread_cond_signal(&s->rx_ready);
		}
		break;
	case UART_LCR:
		s->lcr = val;
		break;
	case UART_MCR:
		old_msr = serial__msr_status(s);
		s->mcr = val & 0x1f;
		/* Delta bits: CTS, DSR changed, RI went away, DCD changed. */
		old_msr ^= serial__msr_status(s);
		s->msr_delta |= (old_msr & (UART_MSR_CTS | UART_MSR_DSR |
					    UART_MSR_DCD)) >> 4;
		if ((old_msr & UART_MSR_RI) && !(serial__msr_status(s) &
						 UART_MSR_RI))
			s->msr_delta |= UART_MSR_TERI;
		pthread_cond_signal(&s->rx_ready);
		break;
	case UART_LSR:
	case UART_MSR:
		break;		/* read-only */
	default:
		s->scr = val;
		break;
	}
}

static void serial__io(void *opaque, uint64_t offset, uint8_t *data,
		       unsigned int len, bool is_write)
{
	struct serial *s = opaque;
	unsigned int i;

	pthread_mutex_lock(&s->lock);
	/* A wider access is byte accesses to consecutive registers. */
	for (i = 0; i < len && offset + i < SERIAL_PORTS; i++) {
		if (is_write)
			serial__write(s, offset + i, data[i]);
		else
			data[i] = serial__read(s, offset + i);
	}
	serial__update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

int serial__init(struct vm *vm)
{
	int ret;

	com1.vm = vm;
	com1.fifo_enabled = false;
	ret = bus__register(BUS_PIO, SERIAL_COM1_BASE, SERIAL_PORTS,
			    serial__io, &com1);
	if (ret)
		pr_err("cannot register the UART ports: %s", strerror(-ret));
	return ret;
}

/*
 * Does a driver listen? Linux probes the UART (clearing its FIFO, reading
 * RBR) at boot and again when the console is opened, long before a shell
 * reads: stdin that arrived early would be lost, as on a real line. So
 * input waits in the pipe until receive interrupts are on, OUT2 (which
 * gates a PC UART's interrupt) is up, and the UART is not in loopback.
 */
static bool serial__listening(const struct serial *s)
{
	return (s->ier & UART_IER_RDI) && (s->mcr & UART_MCR_OUT2) &&
	       !(s->mcr & UART_MCR_LOOP);
}

/* Queue one byte from stdin; waits for FIFO space and a listening guest. */
static bool serial__input_byte(struct serial *s, uint8_t c)
{
	bool queued = false;

	pthread_mutex_lock(&s->lock);
	while ((s->rx_count == SERIAL_FIFO_SIZE || !serial__listening(s)) &&
	       !s->stopping)
		pthread_cond_wait(&s->rx_ready, &s->lock);
	if (!s->stopping) {
		serial__rx_push(s, c);
		serial__update_irq(s);
		queued = true;
	}
	pthread_mutex_unlock(&s->lock);
	return queued;
}

/* Ctrl-A x: leave as on SIGINT. Returns false when @c is swallowed. */
static bool serial__escape(uint8_t c, bool *escaped)
{
	if (!*escaped) {
		if (c != SERIAL_ESCAPE)
			return true;
		*escaped = true;
		return false;
	}
	*escaped = false;
	if (c == 'x' || c == 'X') {
		kill(getpid(), SIGINT);
		return false;
	}
	if (c != SERIAL_ESCAPE)
		serial__input_byte(&com1, SERIAL_ESCAPE);
	return true;
}

static void *serial__input(void *arg)
{
	struct pollfd fds[2] = {
		{ .fd = STDIN_FILENO, .events = POLLIN },
		{ .fd = input_wake[0], .events = POLLIN },
	};
	bool escaped = false;
	uint8_t buf[256];

	(void)arg;
	pthread_setname_np(pthread_self(), "console");
	for (;;) {
		ssize_t n, i;

		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[1].revents)
			break;
		if (!fds[0].revents)
			continue;
		n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		/* EOF (or a broken stdin): the guest just gets no more input. */
		if (n <= 0)
			break;
		for (i = 0; i < n; i++) {
			if (tty_raw && !serial__escape(buf[i], &escaped))
				continue;
			if (!serial__input_byte(&com1, buf[i]))
				return NULL;
		}
	}
	return NULL;
}

static void serial__restore_tty(void)
{
	if (tty_raw) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
		tty_raw = false;
	}
}

int serial__start_input(void)
{
	int ret;

	if (pipe2(input_wake, O_CLOEXEC)) {
		pr_errno("pipe");
		return -errno;
	}
	if (isatty(STDIN_FILENO) && !tcgetattr(STDIN_FILENO, &saved_tty)) {
		struct termios raw = saved_tty;

		/* Every key goes to the guest, Ctrl-C included. */
		cfmakeraw(&raw);
		if (!tcsetattr(STDIN_FILENO, TCSANOW, &raw)) {
			tty_raw = true;
			atexit(serial__restore_tty);
		}
	}
	ret = pthread_create(&input_thread, NULL, serial__input, NULL);
	if (ret) {
		errno = ret;
		pr_errno("pthread_create");
		serial__restore_tty();
		return -ret;
	}
	input_running = true;
	return 0;
}

void serial__exit(void)
{
	if (input_running) {
		pthread_mutex_lock(&com1.lock);
		com1.stopping = true;
		pthread_cond_broadcast(&com1.rx_ready);
		pthread_mutex_unlock(&com1.lock);
		if (write(input_wake[1], "", 1) < 0)
			pr_errno("waking the console thread");
		pthread_join(input_thread, NULL);
		input_running = false;
	}
	serial__restore_tty();
	if (input_wake[0] >= 0) {
		close(input_wake[0]);
		close(input_wake[1]);
		input_wake[0] = input_wake[1] = -1;
	}
}
