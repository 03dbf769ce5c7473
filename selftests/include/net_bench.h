/* SPDX-License-Identifier: GPL-2.0 */
/*
 * net_bench (`make bench`): what the runs (net_bench.c) and the report
 * (net_bench_report.c) share: the configurations, the tests, the counts
 * read around each run, and the results.
 */
#ifndef NET_BENCH_H
#define NET_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define NB_GUEST_MEM_MIB	256
#define NB_MAX_REPS		9

/* Lines around the report's blocks, for selftests/bench-net/run.sh. */
#define NB_MARK_TABLE		"--- net_bench table ---"
#define NB_MARK_PLOT		"--- net_bench plot ---"
#define NB_MARK_JSON		"--- net_bench json ---"
#define NB_MARK_END		"--- net_bench end ---"

enum nb_kind { NB_VETH, NB_KVNET_VMM, NB_QEMU_VMM };

struct nb_config {
	const char *name;
	enum nb_kind kind;
	const char *backend;
	/* The configuration its ratios divide by, -1 for none. */
	int baseline;
	/* kvnet serves its queues: its debugfs counters apply. */
	bool kvnet;
};

enum {
	NB_CFG_VETH, NB_CFG_VMM_USER, NB_CFG_VMM_VHOST, NB_CFG_VMM_KVNET,
	NB_CFG_QEMU_VHOST, NB_CFG_QEMU_KVNET, NB_CFG_MAX
};

extern const struct nb_config nb_configs[NB_CFG_MAX];

enum { NB_TEST_RR, NB_TEST_STREAM, NB_TEST_MAERTS, NB_TEST_MAX };

struct nb_test {
	const char *name;	/* as the tools say it */
	const char *title;
	const char *tool;
	const char *flags;
	const char *rate_unit;
	const char *unit;	/* what counts are divided by */
	/* The tool's default port, where its server listens. */
	unsigned int port;
	/* netperf's name for it, when netperf is there. */
	const char *netperf;
};

extern const struct nb_test nb_tests[NB_TEST_MAX];

/* Counters read before and after each run. */
enum nb_count {
	NB_C_EXITS, NB_C_HALT_EXITS, NB_C_IRQ_INJECTIONS, NB_C_INSN_EMULATION,
	NB_C_IO_EXITS, NB_C_MMIO_EXITS,
	NB_C_GUEST_IRQ_RX, NB_C_GUEST_IRQ_TX,
	NB_C_KVNET_RX_KICKS, NB_C_KVNET_TX_KICKS,
	NB_C_KVNET_RX_CALLS, NB_C_KVNET_TX_CALLS,
	/* KVM's exits by reason, from a histogram of kvm:kvm_exit. */
	NB_C_EXIT_NPF, NB_C_EXIT_MSR, NB_C_EXIT_HLT, NB_C_EXIT_INTR,
	NB_C_EXIT_VINTR, NB_C_EXIT_IO, NB_C_EXIT_OTHER,
	NB_C_MAX
};

#define NB_C_EXIT_FIRST	NB_C_EXIT_NPF

/* The first NB_C_KVM_MAX counts are files of KVM's per-VM directory. */
#define NB_C_KVM_MAX	(NB_C_MMIO_EXITS + 1)

/* Their names in the JSON; the KVM ones are also the files'. */
extern const char *const nb_count_names[NB_C_MAX];

/*
 * What each run yields: the rate, the latency (TCP_RR) and every count
 * per unit, plus sums the table shows in one column.
 */
enum nb_metric {
	NB_M_RATE, NB_M_P50, NB_M_P99,
	NB_M_COUNT,			/* NB_C_MAX of them, in that order */
	NB_M_GUEST_IRQS = NB_M_COUNT + NB_C_MAX,
	NB_M_KICKS, NB_M_CALLS,
	NB_M_MAX
};

struct nb_sample {
	bool ok;
	char error[256];
	double units;		/* transactions, or 64 KiB received */
	double count[NB_C_MAX];	/* over the window, NAN if unknown */
	double m[NB_M_MAX];
	/* netperf's rate beside the tool's, NAN if not run. */
	double netperf_rate;
};

struct nb_stat {
	double med, min, max;
	unsigned int n;
};

/* kvnet-vmm's --stats: whole-session counts of one queue. */
struct nb_vmm_queue {
	double packets, kicks, calls;
};

struct nb_result {
	const struct nb_config *cfg;
	bool selected, ran;
	/* Why the configuration did not run, or failed part way. */
	char error[256];
	double boot_s;
	/* What the guest's virtio-net driver negotiated, by name. */
	char features[256];
	unsigned int reps_done;
	struct nb_sample samples[NB_TEST_MAX][NB_MAX_REPS];
	struct nb_stat stats[NB_TEST_MAX][NB_M_MAX];
	/* kvnet-vmm --stats; NAN when absent. */
	struct nb_vmm_queue vmm_rx, vmm_tx;
	double vmm_user_exits;
};

struct nb_opts {
	double secs;
	unsigned int reps;
	bool quick;
	const char *json;
	unsigned int budget_s;
	unsigned int poll_us;	/* the kernel backends' busy poll */
};

/* The whole benchmark: how it ran and what it found. */
struct nb_bench {
	struct nb_opts opts;
	char date[64];
	bool have_netperf;
	struct nb_result res[NB_CFG_MAX];
};

/* ---- the counters (net_bench_counts.c) ---------------------------------- */

/*
 * Count KVM's exits by reason from now on (a kvm:kvm_exit histogram): 0,
 * or -errno with @err saying why not; the exit counts stay NAN then.
 */
int nb_exit_trace_start(char *err, size_t errlen);
void nb_exit_trace_stop(void);
/*
 * What the host counted so far for the guest of VMM process @vmm (0: no
 * guest, everything NAN): KVM's counters and exits by reason, and with
 * kvnet's debugfs directory @kvnet_dir (or "") kvnet's; NAN if unknown.
 */
void nb_host_counts(pid_t vmm, const char *kvnet_dir, double count[NB_C_MAX]);
/*
 * The virtio-net queue interrupts in lines of the guest's
 * /proc/interrupts, all CPUs: RX into @rx, TX into @tx; NAN if none.
 */
void nb_parse_irqs(const char *text, double *rx, double *tx);

/* ---- the report (net_bench_report.c) ------------------------------------ */

/* Medians, minimums and maximums of @r's runs, into r->stats. */
void nb_stats(struct nb_result *r);
/* The tables, their legend and the notes, on stdout. */
void nb_print_table(const struct nb_bench *b);
/* The ratio chart's data for gnuplot, on stdout (nothing if no ratio). */
void nb_print_plot(const struct nb_bench *b);
/* Everything, every run included, as one JSON object. */
void nb_json(FILE *f, const struct nb_bench *b);
/* Whether every selected configuration ran all its runs. */
bool nb_all_ok(const struct nb_bench *b);

#endif /* NET_BENCH_H */
