/*
 * bench_fs_driver.c - the filesystem workloads of bench_fs.sh, run in one
 * process so that fork costs do not hide the filesystem:
 *
 *   create  open(O_CREAT) + write 1 KiB + close, for N files
 *   read    open + read 1 KiB + close of each
 *   stat    stat of each
 *   readdir a full listing of the N files (repeated, per listing)
 *   unlink  unlink of each
 *   seqwrite / seqread   one file of M MiB in 1 MiB blocks
 *
 *   bench_fs_driver DIR N M
 *
 * Prints one line per workload: "ROW name rate unit p50_us p99_us". On a
 * kvfs mount (DIR has user.kvfs.stats) also "REQS name ops KIND=n ...
 * store=n": the kernel's requests of each kind the workload cost the
 * daemon (its GETXATTRs of the stats themselves left out) and the calls
 * it made to the store, for ops operations.
 */
#include <dirent.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The daemon's counters: the kernel's requests by kind and the store
 * calls, from user.kvfs.stats ("kernel: KIND=n ..." and "LEVEL: ops=n"). */
#define MAX_KINDS 64
struct counters {
	int kinds;
	char name[MAX_KINDS][24];
	unsigned long count[MAX_KINDS];
	unsigned long store;
};

static const char *stats_dir;
static struct counters before;

/* Read the counters of DIR's mount; false when it has none (not kvfs). */
static bool read_counters(const char *dir, struct counters *c)
{
	static char text[1 << 16];
	ssize_t len = getxattr(dir, "user.kvfs.stats", text, sizeof(text) - 1);
	char *line, *save = NULL;

	if (len < 0)
		return false;
	text[len] = '\0';
	memset(c, 0, sizeof(*c));
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *ops = strstr(line, " ops=");
		char *tok, *tsave = NULL;

		if (ops && strchr(line, ':') < ops)
			c->store += strtoul(ops + 5, NULL, 10);
		if (strncmp(line, "kernel:", 7) != 0)
			continue;
		for (tok = strtok_r(line + 7, " ", &tsave);
		     tok && c->kinds < MAX_KINDS;
		     tok = strtok_r(NULL, " ", &tsave)) {
			char *eq = strchr(tok, '=');

			if (!eq || eq - tok >= (long)sizeof(c->name[0]))
				continue;
			memcpy(c->name[c->kinds], tok, (size_t)(eq - tok));
			c->count[c->kinds++] = strtoul(eq + 1, NULL, 10);
		}
	}
	return true;
}

static unsigned long count_of(const struct counters *c, const char *name)
{
	for (int i = 0; i < c->kinds; i++)
		if (strcmp(c->name[i], name) == 0)
			return c->count[i];
	return 0;
}

/* Print what the workload since the last mark() cost the daemon. */
static void requests_row(const char *name, double ops)
{
	struct counters after;

	if (!stats_dir || !read_counters(stats_dir, &after))
		return;
	printf("REQS %s %.0f", name, ops);
	for (int i = 0; i < after.kinds; i++) {
		unsigned long d = after.count[i] - count_of(&before, after.name[i]);

		/* the GETXATTR that read these counters */
		if (strcmp(after.name[i], "GETXATTR") == 0)
			d--;
		if (d)
			printf(" %s=%lu", after.name[i], d);
	}
	printf(" store=%lu\n", after.store - before.store);
	fflush(stdout);
}

/* Print a row: rate = count / total seconds (times `scale` for MB/s),
 * then what it cost in requests. */
static void row(const char *name, double *lat, size_t n, double total_us,
		double units, const char *unit)
{
	qsort(lat, n, sizeof(*lat), cmp_double);
	printf("ROW %s %.1f %s %.1f %.1f\n", name, units / (total_us / 1e6),
	       unit, lat[n / 2], lat[(size_t)((double)(n - 1) * 0.99)]);
	requests_row(name, strcmp(name, "readdir") == 0 ? (double)n : units);
	fflush(stdout);
}

/* Before each workload: note the daemon's counters; with BENCH_FS_MARK
 * set, also touch the name ".phase-NAME" (a failing lookup), so that a
 * daemon's debug log can be split by workload. */
static void mark(const char *dir, const char *phase)
{
	char p[4096];
	struct stat st;

	if (stats_dir && !read_counters(stats_dir, &before))
		stats_dir = NULL;
	if (!getenv("BENCH_FS_MARK"))
		return;
	snprintf(p, sizeof(p), "%s/.phase-%s", dir, phase);
	stat(p, &st);
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

int main(int argc, char **argv)
{
	const char *dir;
	size_t n, mib, reps = 5;
	char path[4096], buf[1024];
	char *big;
	double *lat, t0, total, t;

	if (argc != 4) {
		fprintf(stderr, "usage: bench_fs_driver DIR NFILES MIB\n");
		return 2;
	}
	dir = argv[1];
	n = (size_t)atol(argv[2]);
	mib = (size_t)atol(argv[3]);
	lat = calloc(n > mib ? n : mib, sizeof(*lat));
	big = malloc(1 << 20);
	if (!lat || !big)
		die("malloc");
	memset(buf, 'k', sizeof(buf));
	memset(big, 'b', 1 << 20);
	stats_dir = dir; /* kept while it has counters (mark) */

	mark(dir, "create");
	total = 0;
	for (size_t i = 0; i < n; i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/f%06zu", dir, i);
		t0 = now_us();
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, buf, sizeof(buf)) != sizeof(buf) ||
		    close(fd))
			die(path);
		t = now_us() - t0;
		lat[i] = t;
		total += t;
	}
	row("create", lat, n, total, (double)n, "ops/s");

	mark(dir, "read");
	total = 0;
	for (size_t i = 0; i < n; i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/f%06zu", dir, i);
		t0 = now_us();
		fd = open(path, O_RDONLY);
		if (fd < 0 || read(fd, buf, sizeof(buf)) != sizeof(buf))
			die(path);
		close(fd);
		t = now_us() - t0;
		lat[i] = t;
		total += t;
	}
	row("read", lat, n, total, (double)n, "ops/s");

	mark(dir, "stat");
	total = 0;
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		snprintf(path, sizeof(path), "%s/f%06zu", dir, i);
		t0 = now_us();
		if (stat(path, &st))
			die(path);
		t = now_us() - t0;
		lat[i] = t;
		total += t;
	}
	row("stat", lat, n, total, (double)n, "ops/s");

	mark(dir, "readdir");
	total = 0;
	for (size_t r = 0; r < reps; r++) {
		DIR *d;
		size_t seen = 0;

		t0 = now_us();
		d = opendir(dir);
		if (!d)
			die(dir);
		while (readdir(d))
			seen++;
		closedir(d);
		t = now_us() - t0;
		if (seen < n)
			die("readdir saw too few entries");
		lat[r] = t;
		total += t;
	}
	row("readdir", lat, reps, total, (double)(n * reps), "entries/s");

	mark(dir, "unlink");
	total = 0;
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/f%06zu", dir, i);
		t0 = now_us();
		if (unlink(path))
			die(path);
		t = now_us() - t0;
		lat[i] = t;
		total += t;
	}
	row("unlink", lat, n, total, (double)n, "ops/s");

	mark(dir, "seq");
	snprintf(path, sizeof(path), "%s/big", dir);
	{
		int fd;
		double start = now_us();

		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			die(path);
		for (size_t i = 0; i < mib; i++) {
			t0 = now_us();
			if (write(fd, big, 1 << 20) != 1 << 20)
				die("write");
			lat[i] = now_us() - t0;
		}
		if (close(fd))
			die("close");
		row("seqwrite", lat, mib, now_us() - start, (double)mib,
		    "MiB/s");

		mark(dir, "seqread");
		start = now_us();
		fd = open(path, O_RDONLY);
		if (fd < 0)
			die(path);
		for (size_t i = 0; i < mib; i++) {
			t0 = now_us();
			if (read(fd, big, 1 << 20) != 1 << 20)
				die("read");
			lat[i] = now_us() - t0;
		}
		close(fd);
		row("seqread", lat, mib, now_us() - start, (double)mib,
		    "MiB/s");
		unlink(path);
	}
	free(lat);
	free(big);
	return 0;
}
