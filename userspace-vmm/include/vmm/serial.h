/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The console: a 16550A UART at 0x3f8, IRQ 4, its output on stdout, stdin
 * as its input (raw mode on a terminal, Ctrl-A x quits).
 */
#ifndef VMM__SERIAL_H
#define VMM__SERIAL_H

struct vm;

#define SERIAL_COM1_BASE	0x3f8
#define SERIAL_COM1_IRQ		4

int serial__init(struct vm *vm);

/* Start reading stdin into the UART. 0 or -errno with a message. */
int serial__start_input(void);

/* Stop the input thread and give the terminal back as it was. */
void serial__exit(void);

#endif /* VMM__SERIAL_H */
