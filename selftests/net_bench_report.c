// SPDX-License-Identifier: GPL-2.0
/*
 * net_bench's report: from the runs of each configuration, the medians
 * with their spread, the ratios to vhost-net under the same VMM, and
 * three forms of them: the tables on the terminal, the data of the ratio
 * chart for gnuplot, and the JSON with every run.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "kvnet_util.h"
#include "net_bench.h"

struct nb_column {
	enum nb_metric metric;
	const char *head;
};

/* The count columns of the table, after the rate and the latencies. */
static const struct nb_column nb_count_columns[] = {
	{ NB_M_COUNT + NB_C_EXITS, "exits" },
	{ NB_M_COUNT + NB_C_HALT_EXITS, "halts" },
	{ NB_M_COUNT + NB_C_IRQ_INJECTIONS, "injs" },
	{ NB_M_COUNT + NB_C_INSN_EMULATION, "emul" },
	{ NB_M_GUEST_IRQS, "g-irqs" },
	{ NB_M_KICKS, "kicks" },
	{ NB_M_CALLS, "calls" },
};

/* A metric's name in the JSON. */
static const char *nb_metric_name(enum nb_metric m)
{
	switch (m) {
	case NB_M_RATE:
		return "rate";
	case NB_M_P50:
		return "p50_us";
	case NB_M_P99:
		return "p99_us";
	case NB_M_GUEST_IRQS:
		return "guest_irqs";
	case NB_M_KICKS:
		return "kvnet_kicks";
	case NB_M_CALLS:
		return "kvnet_calls";
	default:
		return nb_count_names[m - NB_M_COUNT];
	}
}

/* ---- statistics --------------------------------------------------------- */

static int nb_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

void nb_stats(struct nb_result *r)
{
	double v[NB_MAX_REPS];
	unsigned int t, m, i, n;

	for (t = 0; t < NB_TEST_MAX; t++)
		for (m = 0; m < NB_M_MAX; m++) {
			struct nb_stat *st = &r->stats[t][m];

			for (i = n = 0; i < r->reps_done; i++) {
				const struct nb_sample *s = &r->samples[t][i];

				if (s->ok && !isnan(s->m[m]))
					v[n++] = s->m[m];
			}
			st->n = n;
			if (!n) {
				*st = (struct nb_stat){ NAN, NAN, NAN, 0 };
				continue;
			}
			qsort(v, n, sizeof(v[0]), nb_cmp_double);
			st->min = v[0];
			st->max = v[n - 1];
			st->med = n % 2 ? v[n / 2] :
				  (v[n / 2 - 1] + v[n / 2]) / 2;
		}
}

/* @r's median of metric @m of test @t over its baseline's; NAN if none. */
static double nb_ratio(const struct nb_result *res, const struct nb_result *r,
		       unsigned int t, unsigned int m)
{
	const struct nb_result *base;

	if (r->cfg->baseline < 0)
		return NAN;
	base = &res[r->cfg->baseline];
	if (!(base->stats[t][m].med > 0))
		return NAN;
	return r->stats[t][m].med / base->stats[t][m].med;
}

/* ---- the table ---------------------------------------------------------- */

/*
 * A number (never negative) in @width columns, with as many decimals as
 * suit its size.
 */
static void nb_print_num(double v, int width)
{
	if (isnan(v))
		printf(" %*s", width, "-");
	else if (v >= 1000)
		printf(" %*.0f", width, v);
	else if (v >= 10)
		printf(" %*.1f", width, v);
	else
		printf(" %*.*f", width, v >= 1 ? 2 : 3, v);
}

static const char *nb_spread(const struct nb_stat *st, bool gbps)
{
	if (!st->n)
		return "-";
	if (gbps)
		return kvnet_fmt("%.3f [%.3f..%.3f]", st->med, st->min,
				 st->max);
	return kvnet_fmt("%.0f [%.0f..%.0f]", st->med, st->min, st->max);
}

/* KVM's exits by reason, per unit: a row per test and configuration. */
static void nb_print_exit_table(const struct nb_result *res)
{
	static const char *const heads[] = {
		"npf", "msr", "hlt", "intr", "vintr", "io", "other",
	};
	unsigned int t, c, k;
	bool head = false;

	static_assert(ARRAY_SIZE(heads) ==
		      NB_C_EXIT_OTHER - NB_C_EXIT_FIRST + 1,
		      "a column per class of exits");
	for (t = 0; t < NB_TEST_MAX; t++)
		for (c = 0; c < NB_CFG_MAX; c++) {
			const struct nb_stat *st =
				res[c].stats[t] + NB_M_COUNT + NB_C_EXIT_FIRST;

			if (!res[c].selected || !st->n)
				continue;
			if (!head) {
				printf("\nKVM exits by reason, per transaction "
				       "(TCP_RR) or 64 KiB (streams)\n");
				printf("%-11s %-16s", "test", "config");
				for (k = 0; k < ARRAY_SIZE(heads); k++)
					printf(" %6s", heads[k]);
				printf("\n");
				head = true;
			}
			printf("%-11s %-16s", nb_tests[t].name,
			       res[c].cfg->name);
			for (k = 0; k < ARRAY_SIZE(heads); k++)
				nb_print_num(st[k].med, 6);
			printf("\n");
		}
}

static const char *nb_ratio_str(double ratio)
{
	return isnan(ratio) ? "-" : kvnet_fmt("%.2fx", ratio);
}

/*
 * A row of test @t's table: @name, @rate, then the latencies (TCP_RR) and
 * the counts, @r's medians or (@ratio) their ratios to its baseline's.
 */
static void nb_print_row(const struct nb_result *res,
			 const struct nb_result *r, unsigned int t,
			 bool ratio, const char *name, const char *rate)
{
	static const enum nb_metric latencies[] = { NB_M_P50, NB_M_P99 };
	enum nb_metric m;
	unsigned int k;

	printf("%-16s %-26s", name, rate);
	for (k = 0; t == NB_TEST_RR && k < ARRAY_SIZE(latencies); k++)
		nb_print_num(ratio ? nb_ratio(res, r, t, latencies[k]) :
			     r->stats[t][latencies[k]].med, 7);
	for (k = 0; k < ARRAY_SIZE(nb_count_columns); k++) {
		m = nb_count_columns[k].metric;
		nb_print_num(ratio ? nb_ratio(res, r, t, m) :
			     r->stats[t][m].med, 6);
	}
	printf("\n");
}

void nb_print_table(const struct nb_bench *b)
{
	const struct nb_result *res = b->res;
	const struct nb_opts *o = &b->opts;
	const struct nb_result *r, *base;
	unsigned int t, c, k;

	for (t = 0; t < NB_TEST_MAX; t++) {
		const struct nb_test *test = &nb_tests[t];
		bool rr = t == NB_TEST_RR;

		printf("%s%s\n", t ? "\n" : "", test->title);
		printf("%-16s %-26s", "config",
		       kvnet_fmt("%s [min..max]", test->rate_unit));
		if (rr)
			printf(" %7s %7s", "p50 us", "p99 us");
		for (k = 0; k < ARRAY_SIZE(nb_count_columns); k++)
			printf(" %6s", nb_count_columns[k].head);
		printf("\n");
		for (c = 0; c < NB_CFG_MAX; c++) {
			r = &res[c];
			if (r->selected)
				nb_print_row(res, r, t, false, r->cfg->name,
					     r->stats[t][NB_M_RATE].n ?
					     nb_spread(&r->stats[t][NB_M_RATE],
						       !rr) : "failed");
		}
		for (c = 0; c < NB_CFG_MAX; c++) {
			r = &res[c];
			if (!r->selected || r->cfg->baseline < 0)
				continue;
			base = &res[r->cfg->baseline];
			if (base->selected)
				nb_print_row(res, r, t, true,
					     kvnet_fmt("%s/%s", r->cfg->name,
						       base->cfg->backend),
					     nb_ratio_str(nb_ratio(res, r, t,
								   NB_M_RATE)));
		}
	}
	nb_print_exit_table(res);
	printf("\nMedians of %u run%s of %.1f s, counts per transaction "
	       "(TCP_RR) or per 64 KiB received:\n"
	       "  exits halts injs emul  KVM's exits, HLT exits, injected "
	       "interrupts, emulated\n"
	       "                         instructions (on AMD: MMIO the "
	       "kernel handled, notifies)\n"
	       "  g-irqs                 the guest's virtio-net interrupts "
	       "(its /proc/interrupts)\n"
	       "  kicks calls            kvnet's, both queues (debugfs)\n"
	       "  npf msr hlt intr vintr io  exits by reason: nested page "
	       "fault (MMIO), MSR,\n"
	       "                         HLT, host interrupt, interrupt "
	       "window, port I/O\n"
	       "  X/vhost                X's medians over vhost-net's, the "
	       "same VMM\n",
	       o->reps, o->reps > 1 ? "s" : "", o->secs);
	for (c = 0; c < NB_CFG_MAX; c++) {
		const struct nb_result *r = &res[c];

		if (!r->selected)
			continue;
		if (r->error[0])
			printf("%s: %s\n", r->cfg->name, r->error);
		for (t = 0; t < NB_TEST_MAX; t++)
			for (k = 0; k < r->reps_done; k++)
				if (!r->samples[t][k].ok)
					printf("%s: %s run %u failed: %s\n",
					       r->cfg->name, nb_tests[t].name,
					       k + 1, r->samples[t][k].error);
		if (r->features[0])
			printf("%s: guest features %s%s\n", r->cfg->name,
			       r->features,
			       r->cfg->baseline >= 0 &&
			       res[r->cfg->baseline].features[0] &&
			       strcmp(r->features,
				      res[r->cfg->baseline].features) ?
			       kvnet_fmt(" (not %s's!)",
					 res[r->cfg->baseline].cfg->name) :
			       "");
		if (r->cfg->kind != NB_KVNET_VMM || !r->ran)
			continue;
		if (isnan(r->vmm_rx.packets)) {
			printf("%s: kvnet-vmm --stats: no queue counters "
			       "(backend %s)\n", r->cfg->name,
			       r->cfg->backend);
			continue;
		}
		printf("%s: kvnet-vmm --stats, the whole session: rx %.0f "
		       "packets, %.3f kicks and %.3f calls per packet; tx "
		       "%.0f packets, %.3f kicks and %.3f calls per packet\n",
		       r->cfg->name, r->vmm_rx.packets,
		       r->vmm_rx.kicks / r->vmm_rx.packets,
		       r->vmm_rx.calls / r->vmm_rx.packets, r->vmm_tx.packets,
		       r->vmm_tx.kicks / r->vmm_tx.packets,
		       r->vmm_tx.calls / r->vmm_tx.packets);
	}
	if (!b->have_netperf)
		printf("netperf: not on PATH (not in Debian), not run\n");
}

/*
 * The data of the ratio chart, for gnuplot: a row per metric, a column
 * per configuration that has a baseline; "?" where there is no ratio.
 */
void nb_print_plot(const struct nb_bench *b)
{
	const struct nb_result *res = b->res;
	static const struct {
		unsigned int test;
		enum nb_metric metric;
		const char *label;
	} rows[] = {
		{ NB_TEST_RR, NB_M_RATE, "RR rate" },
		{ NB_TEST_STREAM, NB_M_RATE, "STREAM rate" },
		{ NB_TEST_MAERTS, NB_M_RATE, "MAERTS rate" },
		{ NB_TEST_RR, NB_M_P99, "RR p99" },
		{ NB_TEST_RR, NB_M_COUNT + NB_C_EXITS, "RR exits" },
		{ NB_TEST_STREAM, NB_M_COUNT + NB_C_EXITS, "STREAM exits" },
		{ NB_TEST_MAERTS, NB_M_COUNT + NB_C_EXITS, "MAERTS exits" },
		{ NB_TEST_RR, NB_M_GUEST_IRQS, "RR g-irqs" },
	};
	bool col[NB_CFG_MAX] = { false };
	unsigned int i, c, ncols = 0;
	double v;

	/* Only configurations with a ratio: gnuplot warns of empty ones. */
	for (c = 0; c < NB_CFG_MAX; c++)
		for (i = 0; i < ARRAY_SIZE(rows) && res[c].selected; i++)
			if (!isnan(nb_ratio(res, &res[c], rows[i].test,
					    rows[i].metric)))
				col[c] = true;
	for (c = 0; c < NB_CFG_MAX; c++)
		ncols += col[c];
	if (!ncols)
		return;
	printf("metric");
	for (c = 0; c < NB_CFG_MAX; c++)
		if (col[c])
			printf("\t%s/%s", res[c].cfg->name,
			       res[res[c].cfg->baseline].cfg->backend);
	printf("\n");
	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		printf("%s", rows[i].label);
		for (c = 0; c < NB_CFG_MAX; c++) {
			if (!col[c])
				continue;
			v = nb_ratio(res, &res[c], rows[i].test,
				     rows[i].metric);
			if (isnan(v))
				printf("\t?");
			else
				printf("\t%.4f", v);
		}
		printf("\n");
	}
}

/* ---- JSON --------------------------------------------------------------- */

static void nb_json_num_out(FILE *f, const char *key, double v, bool comma)
{
	if (isnan(v) || isinf(v))
		fprintf(f, "\"%s\":null%s", key, comma ? "," : "");
	else
		fprintf(f, "\"%s\":%.6g%s", key, v, comma ? "," : "");
}

/* A string with JSON's escapes for quotes, backslashes and controls. */
static void nb_json_str_out(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void nb_json_sample(FILE *f, const struct nb_sample *s)
{
	unsigned int i;

	fprintf(f, "{\"ok\":%s,", s->ok ? "true" : "false");
	if (!s->ok) {
		fprintf(f, "\"error\":");
		nb_json_str_out(f, s->error);
		fprintf(f, "}");
		return;
	}
	nb_json_num_out(f, "rate", s->m[NB_M_RATE], true);
	nb_json_num_out(f, "p50_us", s->m[NB_M_P50], true);
	nb_json_num_out(f, "p99_us", s->m[NB_M_P99], true);
	nb_json_num_out(f, "units", s->units, true);
	if (!isnan(s->netperf_rate))
		nb_json_num_out(f, "netperf_rate", s->netperf_rate, true);
	fprintf(f, "\"counts\":{");
	for (i = 0; i < NB_C_MAX; i++)
		nb_json_num_out(f, nb_count_names[i], s->count[i],
				i + 1 < NB_C_MAX);
	fprintf(f, "}}");
}

static void nb_json_test(FILE *f, const struct nb_result *res,
			 const struct nb_result *r, unsigned int t)
{
	const struct nb_test *test = &nb_tests[t];
	unsigned int i, m;

	fprintf(f, "\"%s\":{\"rate_unit\":\"%s\",\"per\":\"%s\",\"runs\":[",
		test->name, test->rate_unit, test->unit);
	for (i = 0; i < r->reps_done; i++) {
		fprintf(f, "%s\n      ", i ? "," : "");
		nb_json_sample(f, &r->samples[t][i]);
	}
	fprintf(f, "],\n     \"median\":{");
	for (m = 0; m < NB_M_MAX; m++)
		nb_json_num_out(f, nb_metric_name(m), r->stats[t][m].med,
				m + 1 < NB_M_MAX);
	fprintf(f, "},\n     \"min\":{");
	for (m = 0; m < NB_M_MAX; m++)
		nb_json_num_out(f, nb_metric_name(m), r->stats[t][m].min,
				m + 1 < NB_M_MAX);
	fprintf(f, "},\n     \"max\":{");
	for (m = 0; m < NB_M_MAX; m++)
		nb_json_num_out(f, nb_metric_name(m), r->stats[t][m].max,
				m + 1 < NB_M_MAX);
	fprintf(f, "}");
	if (r->cfg->baseline >= 0) {
		fprintf(f, ",\n     \"ratio_to\":\"%s\",\"ratio\":{",
			res[r->cfg->baseline].cfg->name);
		for (m = 0; m < NB_M_MAX; m++)
			nb_json_num_out(f, nb_metric_name(m),
					nb_ratio(res, r, t, m),
					m + 1 < NB_M_MAX);
		fprintf(f, "}");
	}
	fprintf(f, "}");
}

static void nb_json_vmm_queue(FILE *f, const char *name,
			      const struct nb_vmm_queue *q, bool comma)
{
	fprintf(f, "\"%s\":{", name);
	nb_json_num_out(f, "packets", q->packets, true);
	nb_json_num_out(f, "kicks", q->kicks, true);
	nb_json_num_out(f, "calls", q->calls, false);
	fprintf(f, "}%s", comma ? "," : "");
}

void nb_json(FILE *f, const struct nb_bench *b)
{
	const struct nb_result *res = b->res;
	const struct nb_opts *o = &b->opts;
	struct utsname u;
	unsigned int c, t;
	bool first = true;

	uname(&u);
	fprintf(f, "{\"tool\":\"net_bench\",\"date\":\"%s\","
		"\"kernel\":\"%s\",\n"
		" \"quick\":%s,\"duration_s\":%.1f,\"repetitions\":%u,\n"
		" \"poll_us\":%u,\n"
		" \"guest\":{\"cpus\":1,\"mem_mib\":%u,\"queue_pairs\":1},\n"
		" \"netperf\":%s,\n \"configs\":[", b->date, u.release,
		o->quick ? "true" : "false", o->secs, o->reps, o->poll_us,
		NB_GUEST_MEM_MIB, b->have_netperf ? "true" : "false");
	for (c = 0; c < NB_CFG_MAX; c++) {
		const struct nb_result *r = &res[c];

		if (!r->selected)
			continue;
		fprintf(f, "%s\n  {\"name\":\"%s\",\"ran\":%s,\"error\":",
			first ? "" : ",", r->cfg->name,
			r->ran ? "true" : "false");
		first = false;
		if (r->error[0])
			nb_json_str_out(f, r->error);
		else
			fprintf(f, "null");
		fprintf(f, ",");
		nb_json_num_out(f, "boot_s", r->ran && r->cfg->kind != NB_VETH ?
				r->boot_s : NAN, true);
		fprintf(f, "\"rounds\":%u,\"guest_features\":", r->reps_done);
		nb_json_str_out(f, r->features);
		fprintf(f, ",");
		if (r->cfg->kind == NB_KVNET_VMM && r->ran) {
			fprintf(f, "\n   \"vmm_stats\":{");
			nb_json_vmm_queue(f, "rx", &r->vmm_rx, true);
			nb_json_vmm_queue(f, "tx", &r->vmm_tx, true);
			nb_json_num_out(f, "user_exits", r->vmm_user_exits,
					false);
			fprintf(f, "},");
		}
		fprintf(f, "\n   \"tests\":{");
		for (t = 0; t < NB_TEST_MAX; t++) {
			fprintf(f, "%s\n    ", t ? "," : "");
			nb_json_test(f, res, r, t);
		}
		fprintf(f, "}}");
	}
	fprintf(f, "]}\n");
}

bool nb_all_ok(const struct nb_bench *b)
{
	const struct nb_result *res = b->res;
	const struct nb_opts *o = &b->opts;
	unsigned int c, t, i;

	for (c = 0; c < NB_CFG_MAX; c++) {
		if (!res[c].selected)
			continue;
		if (res[c].error[0] || res[c].reps_done != o->reps)
			return false;
		for (t = 0; t < NB_TEST_MAX; t++)
			for (i = 0; i < res[c].reps_done; i++)
				if (!res[c].samples[t][i].ok)
					return false;
	}
	return true;
}
