/*
 * lin_client.c - one client process of the linearizability test: for a
 * given time it reads and writes a few files (keys) of a kvfs mount, each
 * operation a whole-file get (open, read, close) or put (open with O_TRUNC,
 * write, close), and records every operation with its CLOCK_MONOTONIC call
 * and return times in the history format of lincheck.h.
 *
 *   kvfs-lin-client --dir DIR --process NAME --out FILE
 *                   [--keys N] [--duration-ms MS] [--write-percent P]
 *                   [--seed S] [--init]
 *
 * --init writes every key once, one after the other, records those
 * writes and exits: run it before the clients so that no client sees a
 * file that is being created (an empty file, as on any filesystem).
 * A write that fails is recorded with return "?" (it may or may not have
 * taken effect); a read that fails is counted and left out. A read value
 * that is empty or holds blanks is recorded in a visible form ("(empty)",
 * "x:HEX") so that the checker names it. Exit 0, or 1 on bad usage or when
 * no operation at all succeeded.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_VALUE 4096

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Read the whole file; the value in buf (NUL-terminated), its length, or
 * -ENOENT when absent, or another negative errno. */
static int get_value(const char *path, char *buf, size_t cap)
{
	size_t len = 0;
	int fd = open(path, O_RDONLY);
	int err = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == cap - 1)
			break;
	}
	if (close(fd) < 0 && !err)
		err = -errno;
	buf[len] = '\0';
	return err ? err : (int)len;
}

/* Replace the file's contents; 0 or a negative errno. */
static int put_value(const char *path, const char *value)
{
	size_t len = strlen(value), done = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int err = 0;

	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t n = write(fd, value + done, len - done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		done += (size_t)n;
	}
	if (close(fd) < 0 && !err)
		err = -errno;
	return err;
}

/* Write `value` as a history token: no blanks, never empty. */
static void print_token(FILE *out, const char *value, int len)
{
	bool plain = len > 0;

	for (int i = 0; i < len && plain; i++)
		plain = value[i] > ' ' && value[i] < 127;
	if (len == 0) {
		fputs("(empty)", out);
	} else if (plain) {
		fwrite(value, 1, (size_t)len, out);
	} else {
		fputs("x:", out);
		for (int i = 0; i < len; i++)
			fprintf(out, "%02x", (unsigned char)value[i]);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: kvfs-lin-client --dir DIR --process NAME --out FILE "
		   "[--keys N] [--duration-ms MS]\n"
		   "                       [--write-percent P] [--seed S] "
		   "[--init]\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "process", required_argument, NULL, 'p' },
		{ "out", required_argument, NULL, 'o' },
		{ "keys", required_argument, NULL, 'k' },
		{ "duration-ms", required_argument, NULL, 't' },
		{ "write-percent", required_argument, NULL, 'w' },
		{ "seed", required_argument, NULL, 's' },
		{ "init", no_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *process = NULL, *outpath = NULL;
	long keys = 3, duration_ms = 3000, write_percent = 50;
	unsigned int seed = (unsigned int)getpid();
	unsigned long reads = 0, writes = 0, failed_reads = 0,
		      failed_writes = 0, seq = 0;
	char buf[MAX_VALUE];
	int64_t end;
	FILE *out = NULL;
	bool init = false;
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'p': process = optarg; break;
		case 'o': outpath = optarg; break;
		case 'k': keys = strtol(optarg, NULL, 10); break;
		case 't': duration_ms = strtol(optarg, NULL, 10); break;
		case 'w': write_percent = strtol(optarg, NULL, 10); break;
		case 's': seed = (unsigned int)strtoul(optarg, NULL, 10); break;
		case 'i': init = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (!dir || !process || !outpath || keys < 1 || keys > 100 ||
	    duration_ms < 1 || write_percent < 0 || write_percent > 100) {
		usage(stderr);
		return 1;
	}
	out = fopen(outpath, "w");
	if (!out) {
		fprintf(stderr, "kvfs-lin-client: %s: %s\n", outpath,
			strerror(errno));
		return 1;
	}
	end = now_ns() + (int64_t)duration_ms * 1000000;
	for (long k = 0; init && k < keys; k++) {
		char path[4096], value[64];
		int64_t call, ret;
		int rc;

		snprintf(path, sizeof(path), "%s/k%ld", dir, k);
		snprintf(value, sizeof(value), "%s.init%ld", process, k);
		call = now_ns();
		rc = put_value(path, value);
		ret = now_ns();
		if (rc < 0) {
			fprintf(stderr, "kvfs-lin-client: %s: %s\n", path,
				strerror(-rc));
			fclose(out);
			return 1;
		}
		writes++;
		fprintf(out, "%s k%ld write %s %" PRId64 " %" PRId64 "\n",
			process, k, value, call, ret);
	}
	while (!init && now_ns() < end) {
		char path[4096], key[16], value[64];
		int64_t call, ret;
		int rc;

		snprintf(key, sizeof(key), "k%ld", (long)(rand_r(&seed) % keys));
		snprintf(path, sizeof(path), "%s/%s", dir, key);
		if ((long)(rand_r(&seed) % 100) < write_percent) {
			snprintf(value, sizeof(value), "%s.%lu", process, ++seq);
			call = now_ns();
			rc = put_value(path, value);
			ret = now_ns();
			if (rc < 0) {
				failed_writes++;
				fprintf(out, "%s %s write %s %" PRId64 " ?\n",
					process, key, value, call);
			} else {
				writes++;
				fprintf(out, "%s %s write %s %" PRId64 " %" PRId64 "\n",
					process, key, value, call, ret);
			}
		} else {
			call = now_ns();
			rc = get_value(path, buf, sizeof(buf));
			ret = now_ns();
			if (rc == -ENOENT) {
				reads++;
				fprintf(out, "%s %s read - %" PRId64 " %" PRId64 "\n",
					process, key, call, ret);
			} else if (rc < 0) {
				failed_reads++;
			} else {
				reads++;
				fprintf(out, "%s %s read ", process, key);
				print_token(out, buf, rc);
				fprintf(out, " %" PRId64 " %" PRId64 "\n", call, ret);
			}
		}
	}
	if (fclose(out) != 0) {
		fprintf(stderr, "kvfs-lin-client: %s: %s\n", outpath,
			strerror(errno));
		return 1;
	}
	printf("%s: %lu reads, %lu writes, %lu failed reads, %lu failed "
	       "writes\n",
	       process, reads, writes, failed_reads, failed_writes);
	return reads + writes > 0 ? 0 : 1;
}
