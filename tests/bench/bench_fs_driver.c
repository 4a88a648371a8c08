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
 * Prints one line per workload: "ROW name rate unit p50_us p99_us".
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* Print a row: rate = count / total seconds (times `scale` for MB/s). */
static void row(const char *name, double *lat, size_t n, double total_us,
		double units, const char *unit)
{
	qsort(lat, n, sizeof(*lat), cmp_double);
	printf("ROW %s %.1f %s %.1f %.1f\n", name, units / (total_us / 1e6),
	       unit, lat[n / 2], lat[(size_t)((double)(n - 1) * 0.99)]);
	fflush(stdout);
}

/* With BENCH_FS_MARK set, touch the name ".phase-NAME" (a failing
 * lookup) before each workload, so that a daemon's debug log can be split
 * by workload. */
static void mark(const char *dir, const char *phase)
{
	char p[4096];
	struct stat st;

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
