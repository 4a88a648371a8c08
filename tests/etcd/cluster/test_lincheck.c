/*
 * test_lincheck.c - unit tests of the linearizability checker itself: small
 * linearizable histories are accepted, deliberately broken ones rejected
 * with a witness, unknown-outcome writes handled as "maybe applied", the
 * search bounded, and the history file format parsed strictly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <kvfs/kvfs.h>

#include "lincheck.h"
#include "testutil.h"

#define P KVFS_LINCHECK_PENDING

static int setup(void **state)
{
	struct kvfs_lincheck_history *h = NULL;

	if (kvfs_lincheck_history_new(&h) < 0)
		return -1;
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	kvfs_lincheck_history_free(*state);
	return 0;
}

static void w(struct kvfs_lincheck_history *h, const char *proc,
	      const char *value, int64_t call, int64_t ret)
{
	assert_int_equal(kvfs_lincheck_history_add(h, proc, "k",
						   KVFS_LINCHECK_WRITE, value,
						   call, ret),
			 0);
}

static void r(struct kvfs_lincheck_history *h, const char *proc,
	      const char *value, int64_t call, int64_t ret)
{
	assert_int_equal(kvfs_lincheck_history_add(h, proc, "k",
						   KVFS_LINCHECK_READ, value,
						   call, ret),
			 0);
}

/* Check key "k" (the only key), print the witness, return the verdict. */
static int check(struct kvfs_lincheck_history *h,
		 struct kvfs_lincheck_report *rep)
{
	int v;

	assert_int_equal(kvfs_lincheck_key_count(h), 1);
	assert_string_equal(kvfs_lincheck_key_name(h, 0), "k");
	v = kvfs_lincheck_check_key(h, 0, 0, rep);
	print_message("  verdict %d: %s\n", v, rep->witness);
	return v;
}

static void test_empty(void **state)
{
	struct kvfs_lincheck_history *h = *state;

	assert_int_equal(kvfs_lincheck_key_count(h), 0);
	assert_int_equal(kvfs_lincheck_check_all(h, 0, NULL),
			 KVFS_LINCHECK_LINEARIZABLE);
}

static void test_sequential_ok(void **state)
{
	struct kvfs_lincheck_history *h = *state;
	struct kvfs_lincheck_report rep;

	r(h, "p1", "-", 0, 5);
	w(h, "p1", "a", 10, 20);
	r(h, "p2", "a", 30, 40);
	w(h, "p2", "b", 50, 60);
	r(h, "p1", "b", 70, 80);
	w(h, "p1", "-", 90, 95); /* delete */
	r(h, "p2", "-", 96, 99);
	assert_int_equal(check(h, &rep), KVFS_LINCHECK_LINEARIZABLE);
	assert_int_equal(rep.ops, 7);
	assert_non_null(strstr(rep.witness, "order:"));
}

static void test_concurrent_ok(void **state)
{
	struct kvfs_lincheck_history *h = *state;
	struct kvfs_lincheck_report rep;

	/* A read overlapping a write may see the old or the new value. */
	w(h, "p1", "a", 0, 100);
	r(h, "p2", "-", 10, 20);
	r(h, "p3", "a", 30, 40);
	/* Two overlapping writes: readers during them may see either
	 * order, as long as one order explains every read. */
	w(h, "p1", "b", 200, 400);
	w(h, "p2", "c", 200, 400);
	r(h, "p3", "c", 210, 220);
	r(h, "p4", "b", 230, 240);
	r(h, "p3", "b", 500, 510);
	assert_int_equal(check(h, &rep), KVFS_LINCHECK_LINEARIZABLE);
}

static void test_equal_times_overlap(void **state)
{
	struct kvfs_lincheck_history *h = *state;
	struct kvfs_lincheck_report rep;

	/* A read calling at the very instant a write returns overlaps it. */
	w(h, "p1", "a", 0, 10);
	r(h, "p2", "-", 10, 20);
	assert_int_equal(check(h, &rep), KVFS_LINCHECK_LINEARIZABLE);
}

static void test_stale_read_rejected(void **state)
{
	struct kvfs_lincheck_history *h = *state;
	struct kvfs_lincheck_report rep;

	w(h, "p1", "a", 0, 10);
	w(h, "p1", "b", 20, 30);
	r(h, "p2", "a", 40, 50); /* b was completely written before */
	assert_int_equal(check(h, &rep), KVFS_LINCHECK_VIOLATION);
	assert_non_null(strstr(rep.witness, "p2 read k=a"));
	assert_non_null(strstr(rep.witness, "value is b"));
}

static void test_stale_initial_read_rejected(void **state)
{
	struct kvfs_lincheck_history *h = *state;
	struct kvfs_lincheck_report rep;

	w(h, "p1", "a", 0, 10);
	r(h, "p2", "-", 20, 30);
	assert_int_equal(check(h, &rep), KVFS_LINCHECK_VIOLATION);
	assert_non_null(strstr(rep.witness, "k=(none)"));
}

static void test_phantom_read_rejected(void **state)
{
	struct kvfs_lincheck_history *h = *state;
	struct kvfs_lincheck_report rep;

	w(h, "p1", "a", 0, 10);
	r(h, "p2", "zzz", 5, 30);
	assert_int_equal(check(h, &rep), KVFS_LINCHECK_VIOLATION);
	assert_non_null(strstr(rep.witness, "no operation ever wrote"));
}

static void test_writes_read_out_of_order_rejected(void **state)
{
	struct kvfs_lincheck_history *h = *state;
	struct kvfs_lincheck_report rep;

	/* Two sequential writes, seen by one reader in the wrong order. */
	w(h, "p1", "a", 0, 10);
	w(h, "p1", "b", 20, 30);
	r(h, "p2", "b", 15, 35);
	r(h, "p2", "a", 40, 50);
	assert_int_equal(check(h, &rep), KVFS_LINCHECK_VIOLATION);
}

static void test_readers_disagree_rejected(void **state)
{
	struct kvfs_lincheck_history *h = *state;
	struct kvfs_lincheck_report rep;

	/* Concurrent writes; afterwards two sequential reads must agree. */
	w(h, "p1", "a", 0, 100);
	w(h, "p2", "b", 0, 100);
	r(h, "p3", "a", 200, 210);
	r(h, "p4", "b", 220, 230);
	assert_int_equal(check(h, &rep), KVFS_LINCHECK_VIOLATION);
}

static void test_maybe_write_never_applied(void **state)
{
	struct kvfs_lincheck_history *h = *state;
	struct kvfs_lincheck_report rep;

	w(h, "p1", "a", 0, 10);
	w(h, "p2", "b", 20, P); /* timed out */
	r(h, "p3", "a", 30, 40);
	r(h, "p3", "a", 1000, 1010);
	assert_int_equal(check(h, &rep), KVFS_LINCHECK_LINEARIZABLE);
}

static void test_maybe_write_applied_late(void **state)
{
	struct kvfs_lincheck_history *h = *state;
	struct kvfs_lincheck_report rep;

	w(h, "p1", "a", 0, 10);
	w(h, "p2", "b", 20, P);
	r(h, "p3", "a", 30, 40);
	r(h, "p3", "b", 5000, 5010); /* took effect long after it failed */
	assert_int_equal(check(h, &rep), KVFS_LINCHECK_LINEARIZABLE);
}

static void test_maybe_write_cannot_unhappen(void **state)
{
	struct kvfs_lincheck_history *h = *state;
	struct kvfs_lincheck_report rep;

	w(h, "p1", "a", 0, 10);
	w(h, "p2", "b", 20, P);
	r(h, "p3", "b", 30, 40);
	r(h, "p3", "a", 50, 60); /* a cannot come back */
	assert_int_equal(check(h, &rep), KVFS_LINCHECK_VIOLATION);
}

static void test_maybe_write_not_before_call(void **state)
{
	struct kvfs_lincheck_history *h = *state;
	struct kvfs_lincheck_report rep;

	r(h, "p3", "b", 0, 5);
	w(h, "p2", "b", 10, P);
	assert_int_equal(check(h, &rep), KVFS_LINCHECK_VIOLATION);
}

static void test_unknown_read_dropped(void **state)
{
	struct kvfs_lincheck_history *h = *state;
	struct kvfs_lincheck_report rep;

	w(h, "p1", "a", 0, 10);
	r(h, "p2", "zzz", 20, P); /* failed read: observed nothing */
	assert_int_equal(check(h, &rep), KVFS_LINCHECK_LINEARIZABLE);
	assert_int_equal(rep.ops, 1);
}

static void test_keys_independent(void **state)
{
	struct kvfs_lincheck_history *h = *state;
	struct kvfs_lincheck_report rep;

	assert_int_equal(kvfs_lincheck_history_add(h, "p1", "x",
						   KVFS_LINCHECK_WRITE, "1", 0,
						   10),
			 0);
	assert_int_equal(kvfs_lincheck_history_add(h, "p2", "y",
						   KVFS_LINCHECK_READ, "1", 20,
						   30),
			 0);
	assert_int_equal(kvfs_lincheck_history_add(h, "p2", "x",
						   KVFS_LINCHECK_READ, "1", 20,
						   30),
			 0);
	assert_int_equal(kvfs_lincheck_key_count(h), 2);
	assert_int_equal(kvfs_lincheck_check_key(h, 0, 0, &rep),
			 KVFS_LINCHECK_LINEARIZABLE);
	/* y was never written as "1": the value 1 of x does not count. */
	assert_int_equal(kvfs_lincheck_check_key(h, 1, 0, &rep),
			 KVFS_LINCHECK_VIOLATION);
	assert_int_equal(kvfs_lincheck_check_all(h, 0, stdout),
			 KVFS_LINCHECK_VIOLATION);
}

/* Many fully overlapping writes and a read of each value afterwards in
 * an impossible pattern: the search must give up at the bound. */
static void test_search_bounded(void **state)
{
	struct kvfs_lincheck_history *h = *state;
	struct kvfs_lincheck_report rep;
	char v[16];

	for (int i = 0; i < 16; i++) {
		char p[16];

		snprintf(p, sizeof(p), "w%d", i);
		snprintf(v, sizeof(v), "v%d", i);
		w(h, p, v, 0, 1000);
	}
	for (int i = 0; i < 16; i++) {
		snprintf(v, sizeof(v), "v%d", i);
		r(h, "r", v, 2000 + 10 * i, 2005 + 10 * i);
	}
	assert_int_equal(kvfs_lincheck_check_key(h, 0, 500, &rep),
			 KVFS_LINCHECK_UNDECIDED);
	assert_true(rep.states > 500);
	assert_non_null(strstr(rep.witness, "bound"));
}

/* A long history generated from a real register whose operations take
 * effect at a random instant inside [call, return]: linearizable by
 * construction, and memoization keeps the search small. */
static void test_generated_history_ok(void **state)
{
	struct kvfs_lincheck_history *h = *state;
	struct kvfs_lincheck_report rep;
	enum { PROCS = 6, OPS = 1800 };
	int64_t busy_until[PROCS] = { 0 };
	unsigned int seed = 12345;
	char reg[32] = "-";
	int64_t clock = 0;
	int done = 0, written = 0;

	/* The clock steps by 10; at each step one idle process issues an
	 * operation that takes effect exactly then; its call lies up to 40
	 * before and its return up to 40 after, so operations overlap. */
	while (done < OPS) {
		int p = rand_r(&seed) % PROCS;
		int64_t call, ret, earliest;
		char proc[16], v[32];

		clock += 10;
		if (busy_until[p] >= clock)
			continue;
		earliest = clock - 40 > busy_until[p] ? clock - 40
						       : busy_until[p] + 1;
		call = earliest + rand_r(&seed) % (clock - earliest + 1);
		ret = clock + rand_r(&seed) % 41;
		busy_until[p] = ret;
		snprintf(proc, sizeof(proc), "p%d", p);
		if (rand_r(&seed) % 3 == 0) {
			snprintf(v, sizeof(v), "v%d", written++);
			strcpy(reg, v);
			w(h, proc, v, call, ret);
		} else {
			r(h, proc, reg, call, ret);
		}
		done++;
	}
	assert_int_equal(check(h, &rep), KVFS_LINCHECK_LINEARIZABLE);
	assert_int_equal(rep.ops, OPS);
	print_message("  %zu ops, %zu states\n", rep.ops, rep.states);
	assert_true(rep.states < 100 * rep.ops);

	/* The same history with one late read turned stale: rejected. */
	w(h, "p0", "late", clock + 100, clock + 110);
	r(h, "p1", reg, clock + 200, clock + 210);
	assert_int_equal(check(h, &rep), KVFS_LINCHECK_VIOLATION);
}

static void test_parse_lines(void **state)
{
	struct kvfs_lincheck_history *h = *state;
	struct kvfs_lincheck_report rep;

	assert_int_equal(kvfs_lincheck_history_add_line(h, "", "t:1"), 0);
	assert_int_equal(kvfs_lincheck_history_add_line(h, "# comment", "t:2"),
			 0);
	assert_int_equal(kvfs_lincheck_history_add_line(
				 h, "A0 k write a 100 200\n", "t:3"),
			 0);
	assert_int_equal(kvfs_lincheck_history_add_line(
				 h, "B1\tk\tread\ta\t300\t400", "t:4"),
			 0);
	assert_int_equal(kvfs_lincheck_history_add_line(
				 h, "B1 k write b 500 ?", "t:5"),
			 0);
	assert_int_equal(kvfs_lincheck_history_add_line(
				 h, "B1 k read - 600 ?", "t:6"),
			 0);
	assert_int_equal(check(h, &rep), KVFS_LINCHECK_LINEARIZABLE);
	assert_int_equal(rep.ops, 3);

	assert_int_equal(kvfs_lincheck_history_add_line(h, "A k read a 1",
							"t:7"),
			 KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "t:7"));
	assert_int_equal(kvfs_lincheck_history_add_line(
				 h, "A k cas a 1 2", "t:8"),
			 KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "cas"));
	assert_int_equal(kvfs_lincheck_history_add_line(
				 h, "A k read a 5 2", "t:9"),
			 KVFS_EINVAL);
	assert_int_equal(kvfs_lincheck_history_add_line(
				 h, "A k read a x1 2", "t:10"),
			 KVFS_EINVAL);
	assert_int_equal(kvfs_lincheck_history_add_line(
				 h, "A k read a 1 2 3", "t:11"),
			 KVFS_EINVAL);
}

static void test_load_file(void **state)
{
	struct kvfs_lincheck_history *h = *state;
	struct kvfs_lincheck_report rep;
	char *dir = kvfs_test_mkdtemp("lincheck");
	char path[4096];
	FILE *f;

	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/history", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "# process key op value call return\n"
		   "p1 k write a 0 10\np1 k write b 20 30\np2 k read a 40 50\n");
	fclose(f);
	assert_int_equal(kvfs_lincheck_history_load(h, path), 0);
	assert_int_equal(check(h, &rep), KVFS_LINCHECK_VIOLATION);
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_not_equal(kvfs_lincheck_history_load(h, path), 0);
	kvfs_test_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_empty),
		T(test_sequential_ok),
		T(test_concurrent_ok),
		T(test_equal_times_overlap),
		T(test_stale_read_rejected),
		T(test_stale_initial_read_rejected),
		T(test_phantom_read_rejected),
		T(test_writes_read_out_of_order_rejected),
		T(test_readers_disagree_rejected),
		T(test_maybe_write_never_applied),
		T(test_maybe_write_applied_late),
		T(test_maybe_write_cannot_unhappen),
		T(test_maybe_write_not_before_call),
		T(test_unknown_read_dropped),
		T(test_keys_independent),
		T(test_search_bounded),
		T(test_generated_history_ok),
		T(test_parse_lines),
		T(test_load_file),
#undef T
	};

	return cmocka_run_group_tests_name("lincheck", tests, NULL, NULL);
}
