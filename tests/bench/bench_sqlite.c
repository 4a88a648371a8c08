/*
 * bench_sqlite.c - the SQLite plugin beside the local backend on many tiny
 * keys (100,000 values of 100 bytes in 100 directories; --quick: 1,000):
 * put and get rates, and the disk space each uses (blocks allocated under
 * the local root, against the database file with its WAL). Both run with
 * sync=false, so neither waits for the disk on every put; SQLite runs
 * twice, with the default locking and with exclusive=true.
 *
 *   bench_sqlite [--quick] [--keys N]     (or KVFS_BENCH_QUICK=1)
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include <kvfs/backend.h>

#include "testutil.h"

#define VALUE_SIZE 100

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long long du_bytes;

static int add_blocks(const char *path, const struct stat *st, int flag,
		      struct FTW *ftw)
{
	(void)path;
	(void)flag;
	(void)ftw;
	du_bytes += (unsigned long long)st->st_blocks * 512;
	return 0;
}

/* Bytes allocated on disk under path (what du reports). */
static unsigned long long du(const char *path)
{
	du_bytes = 0;
	nftw(path, add_blocks, 32, FTW_PHYS);
	return du_bytes;
}

static void key_of(char *buf, size_t size, int i)
{
	snprintf(buf, size, "d%03d/k%07d", i % 100, i);
}

struct result {
	double put_rate;
	double get_rate;
	unsigned long long bytes;
};

static int run(struct kvfs_store *s, int keys, struct result *r)
{
	char key[64], value[VALUE_SIZE];
	struct kvfs_buf out = { 0 };
	double t0;
	unsigned int seed = 42;

	for (int i = 0; i < VALUE_SIZE; i++)
		value[i] = (char)('a' + i % 26);
	t0 = now_s();
	for (int i = 0; i < keys; i++) {
		key_of(key, sizeof(key), i);
		if (kvfs_store_put(s, key, value, VALUE_SIZE, KVFS_STRONG)) {
			fprintf(stderr, "put %s: %s\n", key, kvfs_error_message());
			return -1;
		}
	}
	r->put_rate = keys / (now_s() - t0);
	t0 = now_s();
	for (int i = 0; i < keys; i++) {
		key_of(key, sizeof(key), (int)(rand_r(&seed) % (unsigned)keys));
		if (kvfs_store_get(s, key, KVFS_STRONG, &out) ||
		    out.len != VALUE_SIZE) {
			fprintf(stderr, "get %s: %s\n", key, kvfs_error_message());
			return -1;
		}
		kvfs_buf_free(&out);
	}
	r->get_rate = keys / (now_s() - t0);
	return 0;
}

static int open_store(struct kvfs_options *opts, struct kvfs_store **out)
{
	int rc = kvfs_store_open(opts, out);

	if (rc == 0 && (rc = kvfs_options_check_all_taken(opts)))
		kvfs_store_close(*out);
	if (rc)
		fprintf(stderr, "open: %s\n", kvfs_error_message());
	kvfs_options_free(opts);
	return rc;
}

static int bench_local(const char *dir, int keys, struct result *r)
{
	struct kvfs_options *opts = NULL;
	struct kvfs_store *s = NULL;
	char root[600];
	int rc;

	snprintf(root, sizeof(root), "%s/local", dir);
	if (mkdir(root, 0700))
		return -1;
	if (kvfs_options_new(&opts) ||
	    kvfs_options_parse(opts, "backend=local,sync=false") ||
	    kvfs_options_set(opts, "root", root) || open_store(opts, &s))
		return -1;
	rc = run(s, keys, r);
	kvfs_store_close(s);
	r->bytes = du(root);
	return rc;
}

static int bench_sqlite(const char *dir, int keys, bool exclusive,
			struct result *r)
{
	struct kvfs_options *opts = NULL;
	struct kvfs_store *s = NULL;
	char popts[700], sub[600];
	int rc;

	snprintf(sub, sizeof(sub), "%s/sqlite%s", dir, exclusive ? "-x" : "");
	if (mkdir(sub, 0700))
		return -1;
	snprintf(popts, sizeof(popts), "db=%s/kv.db;sync=false%s", sub,
		 exclusive ? ";exclusive=true" : "");
	if (kvfs_options_new(&opts) ||
	    kvfs_options_parse(opts, "backend=plugin") ||
	    kvfs_options_set(opts, "plugin", SQLITE_PLUGIN) ||
	    kvfs_options_set(opts, "plugin_opts", popts) ||
	    open_store(opts, &s))
		return -1;
	rc = run(s, keys, r);
	/* Measured while open: the database file plus its WAL. */
	r->bytes = du(sub);
	kvfs_store_close(s);
	return rc;
}

int main(int argc, char **argv)
{
	const char *env = getenv("KVFS_BENCH_QUICK");
	bool quick = env && *env && strcmp(env, "0");
	struct result local = { 0 }, sqlite = { 0 }, sqlite_x = { 0 };
	int keys = 100000, rc;
	char *dir;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			quick = true;
		} else if (!strcmp(argv[i], "--keys") && i + 1 < argc) {
			keys = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: %s [--quick] [--keys N]\n",
				argv[0]);
			return 2;
		}
	}
	if (quick)
		keys = 1000;
	if (keys < 1)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	dir = kvfs_test_mkdtemp("bench-sqlite");
	if (!dir)
		return 1;
	printf("bench_sqlite%s: %d keys of %d bytes in 100 directories, "
	       "sync=false\n\n", quick ? " (quick)" : "", keys, VALUE_SIZE);
	rc = bench_local(dir, keys, &local);
	if (rc == 0)
		rc = bench_sqlite(dir, keys, false, &sqlite);
	if (rc == 0)
		rc = bench_sqlite(dir, keys, true, &sqlite_x);
	if (rc == 0) {
		printf("%-8s %12s %12s %14s %12s\n", "backend", "puts/s",
		       "gets/s", "disk bytes", "bytes/key");
		printf("%-8s %12.0f %12.0f %14llu %12.0f\n", "local",
		       local.put_rate, local.get_rate, local.bytes,
		       (double)local.bytes / keys);
		printf("%-8s %12.0f %12.0f %14llu %12.0f\n", "sqlite",
		       sqlite.put_rate, sqlite.get_rate, sqlite.bytes,
		       (double)sqlite.bytes / keys);
		printf("%-8s %12.0f %12.0f %14llu %12.0f   (exclusive=true)\n",
		       "sqlite", sqlite_x.put_rate, sqlite_x.get_rate,
		       sqlite_x.bytes, (double)sqlite_x.bytes / keys);
		printf("\nsqlite / local: puts %.2fx, gets %.2fx, disk %.3fx "
		       "(%.1fx less space)\n",
		       sqlite.put_rate / local.put_rate,
		       sqlite.get_rate / local.get_rate,
		       (double)sqlite.bytes / (double)local.bytes,
		       (double)local.bytes / (double)sqlite.bytes);
	}
	kvfs_test_rmtree(dir);
	free(dir);
	return rc ? 1 : 0;
}
