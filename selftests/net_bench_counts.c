// SPDX-License-Identifier: GPL-2.0
/*
 * net_bench's counters, read around each run: KVM's per-VM counters in
 * debugfs, KVM's exits by reason from a histogram of the kvm:kvm_exit
 * tracepoint, kvnet's per-queue counters in debugfs, and the guest's
 * virtio-net interrupts as its /proc/interrupts shows them.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "kvnet_util.h"
#include "net_bench.h"

#define NB_KVM_DEBUGFS		"/sys/kernel/debug/kvm"

/*
 * Interrupts of the virtio-net queues in /proc/interrupts lines such as
 * " 25:  1234  PCI-MSI 49153-edge  virtio0-input.0": the counts of all
 * CPUs on the lines of "virtioN-input.Q" (RX) and "virtioN-output.Q" (TX)
 * added up; NAN where there was no such line.
 */
void nb_parse_irqs(const char *text, double *rx, double *tx)
{
	char line[512], *p, *end, *name;
	double sum, *total;
	size_t len;

	*rx = *tx = NAN;
	for (; *text; text += len + !!text[len]) {
		len = strcspn(text, "\n");
		if (len >= sizeof(line))
			continue;
		memcpy(line, text, len);
		line[len] = '\0';
		p = strchr(line, ':');
		if (!p)
			continue;
		for (sum = 0, p++;; p = end) {
			double v = strtod(p, &end);

			if (end == p)
				break;
			sum += v;
		}
		/* The name is the line's last word. */
		for (end = line + len; end > line &&
		     isspace((unsigned char)end[-1]); end--)
			;
		*end = '\0';
		for (name = end; name > line &&
		     !isspace((unsigned char)name[-1]); name--)
			;
		if (strncmp(name, "virtio", 6))
			continue;
		if (strstr(name, "-input."))
			total = rx;
		else if (strstr(name, "-output."))
			total = tx;
		else
			continue;
		*total = (isnan(*total) ? 0 : *total) + sum;
	}
}

/* ---- counters on the host ----------------------------------------------- */

/*
 * KVM's counters of the VMs process @pid created, added up (a VMM that
 * probed with a scratch VM has two directories): 0, or -ENOENT.
 */
static int nb_kvm_counts(pid_t pid, double count[NB_C_MAX])
{
	char prefix[32], path[PATH_MAX];
	struct dirent *de;
	unsigned int i;
	int found = 0;
	long long v;
	DIR *d;

	for (i = 0; i < NB_C_KVM_MAX; i++)
		count[i] = NAN;
	d = opendir(NB_KVM_DEBUGFS);
	if (!d)
		return -errno;
	snprintf(prefix, sizeof(prefix), "%d-", pid);
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, prefix, strlen(prefix)))
			continue;
		found++;
		for (i = 0; i < NB_C_KVM_MAX; i++) {
			snprintf(path, sizeof(path), "%s/%s/%s",
				 NB_KVM_DEBUGFS, de->d_name,
				 nb_count_names[i]);
			v = kvnet_read_ll(path);
			if (v < 0)
				continue;
			count[i] = (isnan(count[i]) ? 0 : count[i]) + v;
		}
	}
	closedir(d);
	return found ? 0 : -ENOENT;
}

/* ---- KVM's exits by reason ---------------------------------------------- */

/*
 * A histogram trigger on the kvm:kvm_exit tracepoint counts every exit of
 * every VM in the test VM by its reason, without the cost of recording
 * events; only the guest under test runs there.
 */
#define NB_EXIT_TRIGGER	"hist:keys=exit_reason:vals=hitcount:size=256"
#define NB_EXIT_EVENT	"events/kvm/kvm_exit"

struct nb_exit_code {
	unsigned int code;
	enum nb_count count;
};

/* AMD's exit codes (<asm/svm.h>); npf: nested page faults, MMIO. */
static const struct nb_exit_code nb_svm_exits[] = {
	{ 0x400, NB_C_EXIT_NPF }, { 0x07c, NB_C_EXIT_MSR },
	{ 0x078, NB_C_EXIT_HLT }, { 0x060, NB_C_EXIT_INTR },
	{ 0x061, NB_C_EXIT_INTR }, { 0x064, NB_C_EXIT_VINTR },
	{ 0x07b, NB_C_EXIT_IO },
};

/* Intel's basic exit reasons (<asm/vmx.h>); npf: EPT violation, misconfig. */
static const struct nb_exit_code nb_vmx_exits[] = {
	{ 48, NB_C_EXIT_NPF }, { 49, NB_C_EXIT_NPF }, { 31, NB_C_EXIT_MSR },
	{ 32, NB_C_EXIT_MSR }, { 12, NB_C_EXIT_HLT }, { 1, NB_C_EXIT_INTR },
	{ 2, NB_C_EXIT_INTR }, { 7, NB_C_EXIT_VINTR }, { 30, NB_C_EXIT_IO },
};

/* The tracepoint's directory once the trigger is set, else "". */
static char nb_exit_dir[PATH_MAX];
static const struct nb_exit_code *nb_exit_codes;
static unsigned int nb_nr_exit_codes;

/* Set the trigger: 0, or -errno with @err saying why not. */
int nb_exit_trace_start(char *err, size_t errlen)
{
	static const char *const roots[] = {
		"/sys/kernel/tracing", "/sys/kernel/debug/tracing",
	};
	char dir[PATH_MAX];
	unsigned int i;
	int ret = -ENOENT;

	if (!access("/sys/module/kvm_amd", F_OK)) {
		nb_exit_codes = nb_svm_exits;
		nb_nr_exit_codes = ARRAY_SIZE(nb_svm_exits);
	} else if (!access("/sys/module/kvm_intel", F_OK)) {
		nb_exit_codes = nb_vmx_exits;
		nb_nr_exit_codes = ARRAY_SIZE(nb_vmx_exits);
	} else {
		snprintf(err, errlen, "neither kvm_amd nor kvm_intel loaded");
		return -ENOENT;
	}
	/* Our mount namespace has a /sys of its own: tracefs may be absent. */
	mount("tracefs", roots[0], "tracefs", 0, NULL);
	for (i = 0; i < ARRAY_SIZE(roots); i++) {
		snprintf(dir, sizeof(dir), "%s/" NB_EXIT_EVENT, roots[i]);
		ret = kvnet_write_file(kvnet_fmt("%s/trigger", dir),
				       NB_EXIT_TRIGGER);
		if (!ret) {
			snprintf(nb_exit_dir, sizeof(nb_exit_dir), "%s", dir);
			return 0;
		}
	}
	snprintf(err, errlen, "a hist trigger on kvm:kvm_exit: %s",
		 kvnet_errname(-ret));
	return ret;
}

void nb_exit_trace_stop(void)
{
	if (!nb_exit_dir[0])
		return;
	kvnet_write_file(kvnet_fmt("%s/trigger", nb_exit_dir),
			 "!" NB_EXIT_TRIGGER);
	nb_exit_dir[0] = '\0';
}

/* The exits counted so far, by class, into @count. */
static void nb_exit_counts(double count[NB_C_MAX])
{
	unsigned long long hits;
	unsigned int code, i;
	char line[256];
	FILE *f;

	if (!nb_exit_dir[0])
		return;
	f = fopen(kvnet_fmt("%s/hist", nb_exit_dir), "re");
	if (!f)
		return;
	for (i = NB_C_EXIT_FIRST; i <= NB_C_EXIT_OTHER; i++)
		count[i] = 0;
	/* "{ exit_reason:       1024 } hitcount:        100" */
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "{ exit_reason: %u } hitcount: %llu", &code,
			   &hits) != 2)
			continue;
		for (i = 0; i < nb_nr_exit_codes; i++)
			if (nb_exit_codes[i].code == code)
				break;
		count[i < nb_nr_exit_codes ? nb_exit_codes[i].count :
		      NB_C_EXIT_OTHER] += hits;
	}
	fclose(f);
}

/* ---- all of them ------------------------------------------------------- */

void nb_host_counts(pid_t vmm, const char *kvnet_dir,
		    double count[NB_C_MAX])
{
	struct kvnet_vring_stats rx, tx;
	unsigned int i;

	for (i = 0; i < NB_C_MAX; i++)
		count[i] = NAN;
	if (!vmm)
		return;
	nb_kvm_counts(vmm, count);
	nb_exit_counts(count);
	if (!kvnet_dir[0] || __kvnet_debugfs_stats(kvnet_dir, "rx", &rx) ||
	    __kvnet_debugfs_stats(kvnet_dir, "tx", &tx))
		return;
	count[NB_C_KVNET_RX_KICKS] = rx.kicks;
	count[NB_C_KVNET_TX_KICKS] = tx.kicks;
	count[NB_C_KVNET_RX_CALLS] = rx.calls;
	count[NB_C_KVNET_TX_CALLS] = tx.calls;
}
