/*
 * bench_cache.c - reads of a working set that fits the cache: eventual
 * reads through cache-over-X beside strong reads of X without a cache, in
 * the same run. X is etcd when an etcd binary is on PATH (a single member
 * started here on 127.0.0.1:26379/26380 with a temporary data directory,
 * stopped again by its pid), and the local backend in any case. Target:
 * cached eventual reads at least 10x faster than uncached strong reads;
 * reported, not asserted.
 *
 *   bench_cache [--quick]      (or KVFS_BENCH_QUICK=1)
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include <kvfs/backend.h>

#include "testutil.h"

#define ETCD_CLIENT "http://127.0.0.1:26379"
#define ETCD_PEER "http://127.0.0.1:26380"

static pid_t etcd_pid = -1;
static char *etcd_dir;

struct params {
	int keys;       /* working set */
	int value_size;
	int rounds;     /* reads of the whole working set */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ etcd */

static void stop_etcd(void)
{
	if (etcd_pid > 0) {
		int status;

		kill(etcd_pid, SIGTERM);
		for (int i = 0; i < 100; i++) {
			if (waitpid(etcd_pid, &status, WNOHANG) == etcd_pid)
				goto out_reaped;
			usleep(50000);
		}
		kill(etcd_pid, SIGKILL);
		waitpid(etcd_pid, &status, 0);
out_reaped:
		etcd_pid = -1;
	}
	if (etcd_dir) {
		kvfs_test_rmtree(etcd_dir);
		free(etcd_dir);
		etcd_dir = NULL;
	}
}

static void on_signal(int sig)
{
	stop_etcd();
	signal(sig, SIG_DFL);
	raise(sig);
}

static bool have_etcd_binary(void)
{
	return system("command -v etcd >/dev/null 2>&1") == 0;
}

/* Start a single-member etcd; false (with the reason printed) if not. */
static bool start_etcd(void)
{
	char data[600], log[600];

	etcd_dir = kvfs_test_mkdtemp("bench-cache-etcd");
	if (!etcd_dir)
		return false;
	snprintf(data, sizeof(data), "%s/data", etcd_dir);
	snprintf(log, sizeof(log), "%s/etcd.log", etcd_dir);
	etcd_pid = fork();
	if (etcd_pid < 0)
		return false;
	if (etcd_pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execlp("etcd", "etcd", "--name", "bench", "--data-dir", data,
		       "--listen-client-urls", ETCD_CLIENT,
		       "--advertise-client-urls", ETCD_CLIENT,
		       "--listen-peer-urls", ETCD_PEER,
		       "--initial-advertise-peer-urls", ETCD_PEER,
		       "--initial-cluster", "bench=" ETCD_PEER,
		       "--log-level", "error", (char *)NULL);
		_exit(127);
	}
	atexit(stop_etcd);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	return true;
}

/* ---------------------------------------------------------------- stores */

static int open_store(const char *backend, const char *where,
		      const char *cache, struct kvfs_store **out)
{
	struct kvfs_options *opts = NULL;
	int rc = kvfs_options_new(&opts);

	if (rc == 0)
		rc = kvfs_options_set(opts, "backend", backend);
	if (rc == 0 && !strcmp(backend, "local"))
		rc = kvfs_options_set(opts, "root", where);
	if (rc == 0 && !strcmp(backend, "local")) /* reads are measured */
		rc = kvfs_options_set(opts, "sync", "false");
	if (rc == 0 && !strcmp(backend, "etcd"))
		rc = kvfs_options_set(opts, "endpoints", where);
	if (rc == 0 && !strcmp(backend, "etcd"))
		rc = kvfs_options_set(opts, "prefix", "/bench-cache");
	if (rc == 0 && !strcmp(backend, "etcd")) {
		/* Each open store has its own eventual journal. */
		static int journals;
		char journal[700];

		snprintf(journal, sizeof(journal), "%s/journal-%d", etcd_dir,
			 journals++);
		rc = kvfs_options_set(opts, "journal", journal);
	}
	if (rc == 0 && cache)
		rc = kvfs_options_set(opts, "cache", cache);
	/* Long enough that the working set stays fresh for the whole run,
	 * even when the backend fills it slowly. */
	if (rc == 0 && cache)
		rc = kvfs_options_set(opts, "cache_ttl", "600s");
	if (rc == 0)
		rc = kvfs_store_open(opts, out);
	if (rc == 0 && (rc = kvfs_options_check_all_taken(opts)))
		kvfs_store_close(*out);
	kvfs_options_free(opts);
	return rc;
}

static void key_of(char *buf, size_t size, int i)
{
	snprintf(buf, size, "bench/k%05d", i);
}

static int fill(struct kvfs_store *s, const struct params *p)
{
	char key[64];
	char *value = malloc((size_t)p->value_size);
	int rc = 0;

	if (!value)
		return -1;
	memset(value, 'v', (size_t)p->value_size);
	for (int i = 0; rc == 0 && i < p->keys; i++) {
		key_of(key, sizeof(key), i);
		rc = kvfs_store_put(s, key, value, (size_t)p->value_size,
				    KVFS_STRONG);
	}
	free(value);
	return rc;
}

/* Reads per second over `rounds` passes of the working set at level. */
static double read_rate(struct kvfs_store *s, const struct params *p,
			enum kvfs_consistency level, int rounds)
{
	struct kvfs_buf out = { 0 };
	char key[64];
	double t0 = now_s(), dt;
	long n = 0;

	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < p->keys; i++, n++) {
			key_of(key, sizeof(key), i);
			if (kvfs_store_get(s, key, level, &out)) {
				fprintf(stderr, "get %s: %s\n", key,
					kvfs_error_message());
				return -1;
			}
			kvfs_buf_free(&out);
		}
	}
	dt = now_s() - t0;
	return dt > 0 ? (double)n / dt : 0;
}

/* One comparison: X at strong without cache, cache-over-X at eventual
 * (and at strong, revalidating by version). The two stores are open one
 * after the other: a local root takes one store at a time. Returns 0, or
 * -1. */
static int compare(const char *backend, const char *where,
		   const struct params *p)
{
	struct kvfs_store *plain = NULL, *cached = NULL;
	double plain_rate, eventual_rate, strong_rate, ratio;
	struct kvfs_buf stats = { 0 };
	int rc;

	rc = open_store(backend, where, NULL, &plain);
	if (rc) {
		fprintf(stderr, "%s: %s\n", backend, kvfs_error_message());
		return -1;
	}
	rc = fill(plain, p);
	if (rc) {
		fprintf(stderr, "fill %s: %s\n", backend, kvfs_error_message());
		kvfs_store_close(plain);
		return -1;
	}
	/* Warm first (the kernel's page cache for local, connections for
	 * etcd, the cache for cache-over-X). */
	read_rate(plain, p, KVFS_STRONG, 1);
	plain_rate = read_rate(plain, p, KVFS_STRONG, p->rounds);
	kvfs_store_close(plain);
	rc = open_store(backend, where, "64M", &cached);
	if (rc) {
		fprintf(stderr, "cache-over-%s: %s\n", backend,
			kvfs_error_message());
		return -1;
	}
	read_rate(cached, p, KVFS_EVENTUAL, 1);
	eventual_rate = read_rate(cached, p, KVFS_EVENTUAL, p->rounds);
	strong_rate = read_rate(cached, p, KVFS_STRONG, p->rounds);
	if (plain_rate <= 0 || eventual_rate <= 0 || strong_rate <= 0) {
		rc = -1;
		goto out_close;
	}
	ratio = eventual_rate / plain_rate;
	printf("%-6s  %d keys of %d bytes, %d rounds\n", backend, p->keys,
	       p->value_size, p->rounds);
	printf("  %-34s %12.0f reads/s\n", "uncached strong", plain_rate);
	printf("  %-34s %12.0f reads/s\n", "cached eventual (64M, ttl 600s)",
	       eventual_rate);
	printf("  %-34s %12.0f reads/s\n", "cached strong (revalidated)",
	       strong_rate);
	printf("  ratio cached eventual / uncached strong: %.1fx (target "
	       ">= 10x: %s)\n", ratio, ratio >= 10 ? "met" : "NOT met");
	printf("  ratio cached strong / uncached strong:   %.1fx\n",
	       strong_rate / plain_rate);
	if (kvfs_store_control(cached, KVFS_CTL_STATS_TEXT, &stats) == 0) {
		char *hits = strstr(stats.data, "cache_hits");
		char *bytes = strstr(stats.data, "cache_bytes");

		if (hits && bytes)
			printf("  %.*s, %.*s\n", (int)strcspn(hits, "\n"), hits,
			       (int)strcspn(bytes, "\n"), bytes);
	}
	kvfs_buf_free(&stats);
out_close:
	kvfs_store_close(cached);
	return rc;
}

/* Wait until etcd answers a put, up to 10 s. */
static bool etcd_ready(void)
{
	for (int i = 0; i < 100; i++) {
		struct kvfs_store *s = NULL;
		int status;

		if (waitpid(etcd_pid, &status, WNOHANG) == etcd_pid) {
			etcd_pid = -1;
			return false;
		}
		if (open_store("etcd", ETCD_CLIENT, NULL, &s) == 0) {
			int rc = kvfs_store_put(s, "bench/ready", "1", 1,
						KVFS_STRONG);

			kvfs_store_close(s);
			if (rc == 0)
				return true;
		}
		usleep(100000);
	}
	return false;
}

int main(int argc, char **argv)
{
	const char *env = getenv("KVFS_BENCH_QUICK");
	bool quick = env && *env && strcmp(env, "0");
	struct params p = { .keys = 2000, .value_size = 1024, .rounds = 10 };
	char *root;
	int failures = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			quick = true;
		} else {
			fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
			return 2;
		}
	}
	if (quick)
		p = (struct params){ .keys = 50, .value_size = 256, .rounds = 2 };
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("bench_cache%s: eventual reads through the cache beside strong "
	       "reads without it\n\n", quick ? " (quick)" : "");

	if (!have_etcd_binary()) {
		printf("etcd    SKIPPED: no etcd binary on PATH\n");
	} else if (!start_etcd() || !etcd_ready()) {
		printf("etcd    SKIPPED: a single-member etcd on %s did not "
		       "start (port in use?)\n", ETCD_CLIENT);
		stop_etcd();
	} else {
		if (compare("etcd", ETCD_CLIENT, &p))
			failures++;
		stop_etcd();
	}
	printf("\n");

	root = kvfs_test_mkdtemp("bench-cache-local");
	if (!root)
		return 1;
	if (compare("local", root, &p))
		failures++;
	kvfs_test_rmtree(root);
	free(root);
	return failures ? 1 : 0;
}
