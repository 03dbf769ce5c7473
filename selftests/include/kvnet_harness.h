/* SPDX-License-Identifier: GPL-2.0 */
/*
 * main() for the kvnet selftests: TEST_HARNESS_MAIN of the 6.1
 * kselftest_harness.h plus the test selection options of newer harnesses,
 * which the VM runner passes (6.1 ignores its arguments):
 *
 *   -l                          list fixture.variant.test and exit
 *   -f fixture, -v variant, -t test
 *   -r fixture.variant.test     (fixture.test for a fixture without variants)
 *
 * Options of one kind combine with "or", kinds with "and".
 *
 * Include this instead of kselftest_harness.h, once per test binary, and
 * end the file with KVNET_HARNESS_MAIN instead of TEST_HARNESS_MAIN.
 */
#ifndef KVNET_HARNESS_H
#define KVNET_HARNESS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The 6.1 harness itself is not -Wextra clean (an unused parameter). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#pragma GCC diagnostic pop

#define KVNET_HARNESS_MAX_FILTERS 16

struct kvnet_harness_filter {
	const char *fixture[KVNET_HARNESS_MAX_FILTERS];
	const char *variant[KVNET_HARNESS_MAX_FILTERS];
	const char *test[KVNET_HARNESS_MAX_FILTERS];
	int nfixture, nvariant, ntest;
};

static bool kvnet_harness_match(const char *const *names, int n,
				const char *name)
{
	int i;

	if (!n)
		return true;
	for (i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return true;
	return false;
}

static void kvnet_harness_add(const char **names, int *n, const char *name)
{
	if (*n == KVNET_HARNESS_MAX_FILTERS) {
		fprintf(stderr, "too many filters of one kind (max %d)\n",
			KVNET_HARNESS_MAX_FILTERS);
		exit(KSFT_FAIL);
	}
	names[(*n)++] = name;
}

/* -r fixture.variant.test or fixture.test; the strings stay in argv. */
static void kvnet_harness_add_full(struct kvnet_harness_filter *flt,
				   char *spec)
{
	char *dot1 = strchr(spec, '.'), *dot2;

	if (!dot1) {
		fprintf(stderr, "-r wants fixture[.variant].test, not '%s'\n",
			spec);
		exit(KSFT_FAIL);
	}
	*dot1 = '\0';
	kvnet_harness_add(flt->fixture, &flt->nfixture, spec);
	dot2 = strchr(dot1 + 1, '.');
	if (dot2) {
		*dot2 = '\0';
		kvnet_harness_add(flt->variant, &flt->nvariant, dot1 + 1);
		kvnet_harness_add(flt->test, &flt->ntest, dot2 + 1);
	} else {
		kvnet_harness_add(flt->test, &flt->ntest, dot1 + 1);
	}
}

/* Unlink what the filter rejects from the harness's lists. */
#define KVNET_HARNESS_PRUNE(head, keep) do {				\
	__typeof__(head) __item = (head), __next, __last = NULL;	\
	(head) = NULL;							\
	for (; __item; __item = __next) {				\
		__next = __item->next;					\
		if (!(keep))						\
			continue;					\
		__item->next = NULL;					\
		if (__last) {						\
			__last->next = __item;				\
			__item->prev = __last;				\
		} else {						\
			(head) = __item;				\
		}							\
		__last = __item;					\
		(head)->prev = __last;					\
	}								\
} while (0)

static void kvnet_harness_select(const struct kvnet_harness_filter *flt)
{
	struct __fixture_metadata *f;

	for (f = __fixture_list; f; f = f->next) {
		bool had_variants = f->variant != NULL;

		if (!kvnet_harness_match(flt->fixture, flt->nfixture,
					 f->name)) {
			f->tests = NULL;
			continue;
		}
		KVNET_HARNESS_PRUNE(f->tests,
			kvnet_harness_match(flt->test, flt->ntest,
					    __item->name));
		if (had_variants) {
			KVNET_HARNESS_PRUNE(f->variant,
				kvnet_harness_match(flt->variant,
						    flt->nvariant,
						    __item->name));
			/* No variant left: the harness would run a NULL one. */
			if (!f->variant)
				f->tests = NULL;
		} else if (flt->nvariant) {
			f->tests = NULL;
		}
	}
}

static void kvnet_harness_list(void)
{
	struct __fixture_metadata *f;
	struct __fixture_variant_metadata *v, no_variant = { .name = "" };
	struct __test_metadata *t;

	for (f = __fixture_list; f; f = f->next)
		for (v = f->variant ?: &no_variant; v; v = v->next)
			for (t = f->tests; t; t = t->next)
				printf("%s%s%s.%s\n", f->name,
				       v->name[0] ? "." : "", v->name, t->name);
}

static int kvnet_harness_main(int argc, char **argv)
{
	struct kvnet_harness_filter flt = { .nfixture = 0 };
	bool list = false;
	int opt;

	while ((opt = getopt(argc, argv, "lf:v:t:r:")) != -1) {
		switch (opt) {
		case 'l':
			list = true;
			break;
		case 'f':
			kvnet_harness_add(flt.fixture, &flt.nfixture, optarg);
			break;
		case 'v':
			kvnet_harness_add(flt.variant, &flt.nvariant, optarg);
			break;
		case 't':
			kvnet_harness_add(flt.test, &flt.ntest, optarg);
			break;
		case 'r':
			kvnet_harness_add_full(&flt, optarg);
			break;
		default:
			fprintf(stderr,
				"usage: %s [-l] [-f fixture] [-v variant] [-t test] [-r fixture.variant.test]\n",
				argv[0]);
			return KSFT_FAIL;
		}
	}
	kvnet_harness_select(&flt);
	if (list) {
		kvnet_harness_list();
		return KSFT_PASS;
	}
	return test_harness_run(argc, argv);
}

#define KVNET_HARNESS_MAIN						\
	static void __attribute__((constructor))			\
	__constructor_order_last(void)					\
	{								\
		if (!__constructor_order)				\
			__constructor_order = _CONSTRUCTOR_ORDER_BACKWARD; \
	}								\
	int main(int argc, char **argv)					\
	{								\
		return kvnet_harness_main(argc, argv);			\
	}

#endif /* KVNET_HARNESS_H */
