/*
 * bench_journal.c - reads of eventual writes still pending in the etcd
 * backend's journal, with 1 and with N entries pending (N = 10,000; 300
 * with --quick), in the same run: get and stat of one pending key, and a
 * listing of the directory that holds them. The cluster is the etcd unit
 * tests' fake gateway (tests/etcd/fake_gateway.c), on 127.0.0.1, in a mode
 * that serves reads and refuses writes, as a cluster without a leader
 * does, so the entries stay pending. Target: a get or stat of one of
 * 10,000 pending entries under a millisecond, and no slower than with one
 * (ratio near 1). Figures, not assertions; the etcd reads each operation
 * sent are printed beside them.
 *
 *   bench_journal [--quick]      (or KVFS_BENCH_QUICK=1)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <kvfs/kvfs.h>

#include "fake_gateway.h"
#include "testutil.h"

struct figures {
	double get_us, stat_us, list_ms;
	double get_reads, stat_reads, list_reads;
	size_t listed;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t reads(struct fake_gateway *f)
{
	struct fake_counts c;

	fake_counts(f, &c);
	return c.serializable_reads + c.linearizable_reads;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_journal: %s: %s\n", what, kvfs_error_message());
	exit(1);
}

/* A store over a fresh fake cluster with `pending` eventual puts
 * waiting in its journal, measured. */
static void measure(size_t pending, int rounds, const char *tmp,
		    struct figures *out)
{
	struct fake_gateway *f = fake_start();
	struct kvfs_options *opts = NULL;
	struct kvfs_store *s = NULL;
	char *journal = NULL, *text = NULL, key[64];
	uint64_t r0;
	double t0;

	if (!f)
		die("fake gateway");
	if (asprintf(&journal, "%s/journal-%zu", tmp, pending) < 0 ||
	    asprintf(&text, "backend=etcd,journal=%s,timeout=300ms,collect=0",
		     journal) < 0)
		die("asprintf");
	if (kvfs_options_new(&opts) || kvfs_options_parse(opts, text) ||
	    kvfs_options_set(opts, "endpoints", fake_url(f)) ||
	    kvfs_store_open(opts, &s))
		die("open");
	kvfs_options_free(opts);
	fake_set_mode(f, FAKE_READ_ONLY);
	for (size_t i = 0; i < pending; i++) {
		snprintf(key, sizeof(key), "dir/k%06zu", i);
		if (kvfs_store_put(s, key, "v", 1, KVFS_EVENTUAL))
			die("eventual put");
	}

	r0 = reads(f);
	t0 = now_s();
	for (int i = 0; i < rounds; i++) {
		struct kvfs_buf got = { 0 };

		snprintf(key, sizeof(key), "dir/k%06zu",
			 (size_t)rand() % pending);
		if (kvfs_store_get(s, key, KVFS_EVENTUAL, &got))
			die("get of a pending key");
		kvfs_buf_free(&got);
	}
	out->get_us = (now_s() - t0) * 1e6 / rounds;
	out->get_reads = (double)(reads(f) - r0) / rounds;

	r0 = reads(f);
	t0 = now_s();
	for (int i = 0; i < rounds; i++) {
		struct kvfs_stat st;

		snprintf(key, sizeof(key), "dir/k%06zu",
			 (size_t)rand() % pending);
		if (kvfs_store_stat(s, key, KVFS_EVENTUAL, &st))
			die("stat of a pending key");
	}
	out->stat_us = (now_s() - t0) * 1e6 / rounds;
	out->stat_reads = (double)(reads(f) - r0) / rounds;

	r0 = reads(f);
	t0 = now_s();
	for (int i = 0; i < 3; i++) {
		struct kvfs_lister *l = NULL;
		struct kvfs_dirent ent;

		if (kvfs_store_list(s, "dir", KVFS_EVENTUAL, &l))
			die("listing");
		out->listed = 0;
		while (kvfs_lister_next(l, &ent) == 1)
			out->listed++;
		kvfs_lister_close(l);
	}
	out->list_ms = (now_s() - t0) * 1e3 / 3;
	out->list_reads = (double)(reads(f) - r0) / 3;

	kvfs_store_close(s);
	fake_stop(f);
	kvfs_test_rmtree(journal);
	free(journal);
	free(text);
}

int main(int argc, char **argv)
{
	bool quick = (argc > 1 && !strcmp(argv[1], "--quick")) ||
		     getenv("KVFS_BENCH_QUICK");
	size_t big = quick ? 300 : 10000;
	int rounds = quick ? 200 : 5000;
	struct figures one, many;
	char *tmp;

	/* The journal fsyncs each entry: on tmpfs that costs little, so the
	 * setup of 10,000 entries takes seconds, not minutes. */
	if (!getenv("TMPDIR") && access("/dev/shm", W_OK) == 0)
		setenv("TMPDIR", "/dev/shm", 1);
	tmp = kvfs_test_mkdtemp("bench-journal");
	if (!tmp)
		die("mkdtemp");
	kvfs_log_set_level(KVFS_LOG_ERROR);
	measure(1, rounds, tmp, &one);
	measure(big, rounds, tmp, &many);
	printf("eventual reads of keys pending in the etcd journal "
	       "(fake cluster refusing writes)%s\n", quick ? " [quick]" : "");
	printf("%-28s %14s %14s %8s %18s\n", "operation", "1 pending",
	       "N pending", "ratio", "etcd reads/op (N)");
	printf("%-28s %11.1f us %11.1f us %8.2f %18.2f\n", "get of a pending key",
	       one.get_us, many.get_us, many.get_us / one.get_us,
	       many.get_reads);
	printf("%-28s %11.1f us %11.1f us %8.2f %18.2f\n",
	       "stat of a pending key", one.stat_us, many.stat_us,
	       many.stat_us / one.stat_us, many.stat_reads);
	printf("%-28s %11.2f ms %11.2f ms %8.2f %18.2f\n", "listing of their dir",
	       one.list_ms, many.list_ms, many.list_ms / one.list_ms,
	       many.list_reads);
	printf("N = %zu pending entries (%zu names listed); target: get and "
	       "stat under 1 ms at N = 10,000\n", big, many.listed);
	kvfs_test_rmtree(tmp);
	free(tmp);
	return 0;
}
