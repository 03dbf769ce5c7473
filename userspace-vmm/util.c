// SPDX-License-Identifier: GPL-2.0
/* Messages on stderr, all prefixed with the program name. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vmm/util.h"

bool vmm_quiet;

static void vmm__vmsg(const char *fmt, va_list ap, int errnum)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One fprintf so lines from several threads do not interleave. */
	if (errnum)
		fprintf(stderr, "kvnet-vmm: %s: %s\n", msg, strerror(errnum));
	else
		fprintf(stderr, "kvnet-vmm: %s\n", msg);
}

void pr_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmm__vmsg(fmt, ap, 0);
	va_end(ap);
}

void pr_errno(const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	vmm__vmsg(fmt, ap, errnum);
	va_end(ap);
}

void pr_info(const char *fmt, ...)
{
	va_list ap;

	if (vmm_quiet)
		return;
	va_start(ap, fmt);
	vmm__vmsg(fmt, ap, 0);
	va_end(ap);
}
