/*
 * bench_lib.c - what the library costs over raw system calls: put, get
 * and delete operations per second for 1 KiB and 1 MiB values at each
 * consistency level through libkvfs's local backend (default sync=true),
 * each beside the same work done with open, write, fsync, rename and a
 * directory fsync in the same run; then a 1 GiB value written and read
 * through the streaming writer and reader, with the process's peak RSS.
 *
 * Usage: bench_lib [--quick] [--dir DIR]
 *   --quick (or KVFS_BENCH_QUICK=1): a few operations and an 8 MiB value.
 *   --dir: where to work (a fresh directory is made inside it); default
 *          $TMPDIR or /tmp.
 * Prints figures only; asserts nothing about speed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <kvfs/kvfs.h>

#include "testutil.h"

#define KIB 1024u
#define MIB (1024u * 1024u)

struct phase_rates {
	double put, get, del; /* operations per second */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_lib: %s: %s\n", what, kvfs_error_message());
	exit(1);
}

static void die_errno(const char *what)
{
	fprintf(stderr, "bench_lib: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* ------------------------------------------------------ through the lib */

static struct phase_rates bench_library(struct kvfs_store *s, size_t size,
					int ops, enum kvfs_consistency level,
					const char *value)
{
	struct phase_rates r;
	char key[64];
	double t0;

	t0 = now_s();
	for (int i = 0; i < ops; i++) {
		snprintf(key, sizeof(key), "lib/k%d", i);
		if (kvfs_store_put(s, key, value, size, level))
			die("put");
	}
	r.put = ops / (now_s() - t0);
	t0 = now_s();
	for (int i = 0; i < ops; i++) {
		struct kvfs_buf got = { 0 };

		snprintf(key, sizeof(key), "lib/k%d", i);
		if (kvfs_store_get(s, key, level, &got) || got.len != size)
			die("get");
		kvfs_buf_free(&got);
	}
	r.get = ops / (now_s() - t0);
	t0 = now_s();
	for (int i = 0; i < ops; i++) {
		snprintf(key, sizeof(key), "lib/k%d", i);
		if (kvfs_store_delete(s, key, level))
			die("delete");
	}
	r.del = ops / (now_s() - t0);
	return r;
}

/* ------------------------------------------------------ raw syscalls */

static void write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0)
			die_errno("write");
		p += n;
		len -= (size_t)n;
	}
}

/* The same work as the library's put, get and delete, by hand: a
 * temporary file, fsync, rename, fsync of the directory; open and read;
 * unlink and fsync of the directory. */
static struct phase_rates bench_raw(const char *dir, size_t size, int ops,
				    const char *value)
{
	struct phase_rates r;
	char path[4096], tmp[4096];
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	double t0;

	if (dfd < 0)
		die_errno(dir);
	t0 = now_s();
	for (int i = 0; i < ops; i++) {
		int fd;

		snprintf(tmp, sizeof(tmp), "%s/.tmp.%d", dir, i);
		snprintf(path, sizeof(path), "%s/k%d", dir, i);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0)
			die_errno(tmp);
		write_all(fd, value, size);
		if (fsync(fd) || close(fd) || rename(tmp, path) || fsync(dfd))
			die_errno("raw put");
	}
	r.put = ops / (now_s() - t0);
	t0 = now_s();
	for (int i = 0; i < ops; i++) {
		struct stat st;
		char *buf;
		size_t got = 0;
		int fd;

		snprintf(path, sizeof(path), "%s/k%d", dir, i);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st))
			die_errno(path);
		buf = malloc((size_t)st.st_size + 1);
		if (!buf)
			die_errno("malloc");
		while (got < (size_t)st.st_size) {
			ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

			if (n <= 0)
				die_errno("read");
			got += (size_t)n;
		}
		if (got != size)
			die_errno("short read");
		free(buf);
		close(fd);
	}
	r.get = ops / (now_s() - t0);
	t0 = now_s();
	for (int i = 0; i < ops; i++) {
		snprintf(path, sizeof(path), "%s/k%d", dir, i);
		if (unlink(path) || fsync(dfd))
			die_errno("raw delete");
	}
	r.del = ops / (now_s() - t0);
	close(dfd);
	return r;
}

/* ------------------------------------------------------ streaming */

static long peak_rss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static inline uint64_t word_at(uint64_t off)
{
	return (off + 1) * 0x9E3779B97F4A7C15ull;
}

static void fill_chunk(uint64_t *chunk, size_t words, uint64_t off)
{
	for (size_t i = 0; i < words; i++)
		chunk[i] = word_at(off + i * 8);
}

/* Write then read back `size` bytes through the writer and reader in
 * 1 MiB chunks, checking every word. Returns 0 or exits. */
static void bench_streaming(struct kvfs_store *s, uint64_t size)
{
	const size_t words = MIB / 8;
	uint64_t *chunk = malloc(MIB);
	struct kvfs_writer *w = NULL;
	struct kvfs_reader *r = NULL;
	double t0, wsecs, rsecs;

	if (!chunk)
		die_errno("malloc");
	t0 = now_s();
	if (kvfs_store_open_writer(s, "stream/big", KVFS_STRONG, NULL, &w))
		die("open_writer");
	for (uint64_t off = 0; off < size; off += MIB) {
		fill_chunk(chunk, words, off);
		if (kvfs_writer_pwrite(w, chunk, MIB, off) != (ssize_t)MIB)
			die("pwrite");
	}
	if (kvfs_writer_commit(w))
		die("commit");
	wsecs = now_s() - t0;

	t0 = now_s();
	if (kvfs_store_open_reader(s, "stream/big", KVFS_STRONG, &r))
		die("open_reader");
	if (kvfs_reader_size(r) != size)
		die("reader size");
	for (uint64_t off = 0; off < size; off += MIB) {
		if (kvfs_reader_pread(r, chunk, MIB, off) != (ssize_t)MIB)
			die("pread");
		for (size_t i = 0; i < words; i++)
			if (chunk[i] != word_at(off + i * 8)) {
				fprintf(stderr, "bench_lib: value differs at "
					"%llu\n", (unsigned long long)off);
				exit(1);
			}
	}
	kvfs_reader_close(r);
	rsecs = now_s() - t0;
	if (kvfs_store_delete(s, "stream/big", KVFS_STRONG))
		die("delete");
	free(chunk);
	printf("streamed %llu MiB through the writer: %.0f MiB/s; read back "
	       "and checked: %.0f MiB/s\n", (unsigned long long)(size / MIB),
	       (double)size / MIB / wsecs, (double)size / MIB / rsecs);
}

/* ------------------------------------------------------------- main */

#define REPEATS 5

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median_of(double v[REPEATS])
{
	qsort(v, REPEATS, sizeof(v[0]), cmp_double);
	return v[REPEATS / 2];
}

static struct phase_rates median_rates(const struct phase_rates r[REPEATS])
{
	double put[REPEATS], get[REPEATS], del[REPEATS];
	struct phase_rates m;

	for (int i = 0; i < REPEATS; i++) {
		put[i] = r[i].put;
		get[i] = r[i].get;
		del[i] = r[i].del;
	}
	m.put = median_of(put);
	m.get = median_of(get);
	m.del = median_of(del);
	return m;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_lib [--quick] [--dir DIR]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *env = getenv("KVFS_BENCH_QUICK");
	bool quick = env && *env && strcmp(env, "0");
	const char *parent = NULL;
	char *work, *raw_dir = NULL, *root = NULL;
	struct kvfs_options *opts = NULL;
	struct kvfs_store *s = NULL;
	static const size_t sizes[] = { KIB, MIB };
	long rss_stream;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			quick = true;
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			parent = argv[++i];
		else
			usage();
	}
	if (parent)
		setenv("TMPDIR", parent, 1);
	work = kvfs_test_mkdtemp("bench-lib");
	if (!work)
		die_errno("cannot make a work directory");
	if (asprintf(&raw_dir, "%s/raw", work) < 0 ||
	    asprintf(&root, "%s/store", work) < 0 || mkdir(raw_dir, 0755) ||
	    mkdir(root, 0755))
		die_errno("work directories");
	if (kvfs_options_new(&opts) || kvfs_options_set(opts, "root", root) ||
	    kvfs_store_open(opts, &s))
		die("opening the local store");
	kvfs_options_free(opts);

	printf("kvfs library benchmark (%s mode) in %s\n",
	       quick ? "quick" : "full", work);
	printf("local backend, default sync (fsync of file and directory); "
	       "raw = open+write+fsync+rename+fsync(dir) / open+read / "
	       "unlink+fsync(dir)\n\n");

	/* Streaming first, so that the peak RSS below is its own. */
	bench_streaming(s, quick ? 8ull * MIB : 1024ull * MIB);
	rss_stream = peak_rss_kib();
	printf("peak RSS after the streamed value: %.1f MiB (target under 64 "
	       "MiB%s): %s\n\n", rss_stream / 1024.0,
	       quick ? ", meaningful for the full 1 GiB run only" : "",
	       rss_stream < 64 * 1024 ? "ok" : "OVER");

	printf("%-6s %-17s %9s %9s %6s %9s %9s %6s %9s %9s %6s\n", "value",
	       "level", "put/s", "raw", "ratio", "get/s", "raw", "ratio",
	       "delete/s", "raw", "ratio");
	for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		size_t size = sizes[z];
		int ops = quick ? 3 : size == KIB ? 200 : 20;
		char *value = malloc(size);

		if (!value)
			die_errno("malloc");
		memset(value, 'v', size);
		for (int l = 0; l < KVFS_CONSISTENCY_COUNT; l++) {
			enum kvfs_consistency level = (enum kvfs_consistency)l;
			struct phase_rates raws[REPEATS], libs[REPEATS], raw,
					   lib;

			/* Alternate so that each ratio compares neighbours;
			 * report the median of REPEATS rounds. */
			for (int rep = 0; rep < REPEATS; rep++) {
				raws[rep] = bench_raw(raw_dir, size, ops, value);
				libs[rep] = bench_library(s, size, ops, level,
							  value);
			}
			raw = median_rates(raws);
			lib = median_rates(libs);
			printf("%-6s %-17s %9.0f %9.0f %6.2f %9.0f %9.0f %6.2f "
			       "%9.0f %9.0f %6.2f\n",
			       size == KIB ? "1 KiB" : "1 MiB",
			       kvfs_consistency_name(level), lib.put, raw.put,
			       lib.put / raw.put, lib.get, raw.get,
			       lib.get / raw.get, lib.del, raw.del,
			       lib.del / raw.del);
		}
		free(value);
	}
	printf("\nratio = library / raw (1.00 = no overhead); each figure is "
	       "the median of %d rounds of %d ops (1 KiB) or %d ops (1 MiB)\n",
	       REPEATS, quick ? 3 : 200, quick ? 3 : 20);
	printf("peak RSS at the end: %.1f MiB\n", peak_rss_kib() / 1024.0);

	kvfs_store_close(s);
	kvfs_test_rmtree(work);
	free(work);
	free(raw_dir);
	free(root);
	return 0;
}
