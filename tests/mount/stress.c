/*
 * stress.c - the workloads of the crash and concurrency mount tests.
 *
 * Every value it writes is self-describing, so that a reader can tell a
 * whole value from a torn or mixed one:
 *   "kvfs W<writer> S<seq> L<len>\n", then filler bytes derived from
 *   (writer, seq), then "\nend W<writer> S<seq>\n"; L is the total length.
 *
 *   stress fill DIR NKEYS SIZE            write one valid value per key
 *   stress writer DIR NKEYS ID SECONDS SIZE [ACKLOG]
 *        rewrite keys in turn; after each close that returned 0, append
 *        "key writer seq" to ACKLOG (fsync'd), so the crash test knows what was
 *        acknowledged; stops quietly when the mount goes away
 *   stress reader DIR NKEYS SECONDS       read keys, check every value
 *   stress verify DIR NKEYS ACKLOG        each key whole and at least as
 *        new as its last acknowledged write (a higher writer id is newer)
 *   stress sharedfd DIR SECONDS SIZE      one open file shared with a child
 *        (fork): the parent writes SIZE bytes and closes, while the child
 *        keeps rewriting a byte and calling fsync through the same open
 *        file; then the value must be whole (every close and fsync may
 *        publish, so the last of them wins)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void key_path(char *out, size_t n, const char *dir, int k)
{
	snprintf(out, n, "%s/key%02d", dir, k);
}

static char filler(long w, long s, size_t i)
{
	return (char)('a' + (int)((w * 7 + s * 13 + (long)(i / 4096)) % 26));
}

/* Build a value of about `size` bytes into buf; returns its length. */
static size_t make_value(char *buf, size_t size, long w, long s)
{
	char head[64], tail[64];
	int hl, tl;
	size_t len;

	tl = snprintf(tail, sizeof(tail), "\nend W%ld S%ld\n", w, s);
	/* L counts the whole value; find a fixed point for its digits. */
	len = size;
	hl = snprintf(head, sizeof(head), "kvfs W%ld S%ld L%zu\n", w, s, len);
	if ((size_t)(hl + tl) > len)
		len = (size_t)(hl + tl) + 16;
	hl = snprintf(head, sizeof(head), "kvfs W%ld S%ld L%zu\n", w, s, len);
	memcpy(buf, head, (size_t)hl);
	for (size_t i = (size_t)hl; i < len - (size_t)tl; i++)
		buf[i] = filler(w, s, i);
	memcpy(buf + len - (size_t)tl, tail, (size_t)tl);
	return len;
}

/* 0 when buf[0..len) is one whole value; fills *w, *s. */
static int check_value(const char *buf, size_t len, long *w, long *s)
{
	char tail[64];
	size_t l, body;
	int hl, tl;

	if (len == 0 || sscanf(buf, "kvfs W%ld S%ld L%zu\n", w, s, &l) != 3)
		return -1;
	if (l != len)
		return -1;
	hl = (int)(strchr(buf, '\n') - buf) + 1;
	tl = snprintf(tail, sizeof(tail), "\nend W%ld S%ld\n", *w, *s);
	if ((size_t)(hl + tl) > len ||
	    memcmp(buf + len - (size_t)tl, tail, (size_t)tl))
		return -1;
	body = len - (size_t)tl;
	for (size_t i = (size_t)hl; i < body; i++)
		if (buf[i] != filler(*w, *s, i))
			return -1;
	return 0;
}

static int write_value(const char *path, const char *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	size_t off = 0;

	if (fd < 0)
		return -1;
	while (off < len) {
		size_t chunk = len - off > 262144 ? 262144 : len - off;
		ssize_t n = write(fd, buf + off, chunk);

		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	return close(fd);
}

static char *read_all(const char *path, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	int fd = open(path, O_RDONLY);

	if (fd < 0 || !buf) {
		if (fd >= 0)
			close(fd);
		free(buf);
		return NULL;
	}
	for (;;) {
		ssize_t r;

		if (n == cap) {
			char *grown = realloc(buf, cap *= 2);

			if (!grown)
				break;
			buf = grown;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0) {
			free(buf);
			close(fd);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	*len = n;
	return buf;
}

static int cmd_fill(const char *dir, int nkeys, size_t size)
{
	char path[4096], *buf = malloc(size + 128);

	for (int k = 0; k < nkeys; k++) {
		size_t len = make_value(buf, size, 0, k);

		key_path(path, sizeof(path), dir, k);
		if (write_value(path, buf, len)) {
			perror(path);
			return 1;
		}
	}
	free(buf);
	return 0;
}

static int cmd_writer(const char *dir, int nkeys, long id, double secs,
		      size_t size, const char *acklog)
{
	char path[4096], *buf = malloc(size * 2 + 128);
	int ack = acklog ? open(acklog, O_WRONLY | O_CREAT | O_APPEND, 0644)
			 : -1;
	double end = now() + secs;
	long seq = 1;
	unsigned int seed = (unsigned int)id * 2654435761u;

	while (now() < end) {
		int k = (int)(seq % nkeys);
		size_t want = size / 2 + (size_t)(rand_r(&seed) % (size + 1));
		size_t len = make_value(buf, want, id, seq);

		key_path(path, sizeof(path), dir, k);
		if (write_value(path, buf, len)) {
			if (errno == ENOTCONN || errno == ECONNABORTED ||
			    errno == ENOENT || errno == EIO)
				break; /* the daemon is gone */
			perror(path);
			return 1;
		}
		if (ack >= 0) {
			char line[64];
			int n = snprintf(line, sizeof(line), "%d %ld %ld\n", k,
					 id, seq);

			if (write(ack, line, (size_t)n) != n || fdatasync(ack))
				return 1;
		}
		seq++;
	}
	printf("writer %ld: %ld values\n", id, seq - 1);
	free(buf);
	return 0;
}

static int cmd_reader(const char *dir, int nkeys, double secs)
{
	char path[4096];
	double end = now() + secs;
	long reads = 0, bad = 0;

	while (now() < end) {
		for (int k = 0; k < nkeys; k++) {
			size_t len = 0;
			long w, s;
			char *buf;

			key_path(path, sizeof(path), dir, k);
			buf = read_all(path, &len);
			if (!buf) {
				perror(path);
				return 1;
			}
			if (check_value(buf, len, &w, &s)) {
				fprintf(stderr, "torn value in %s (%zu bytes): "
					"%.40s\n", path, len, buf);
				bad++;
			}
			reads++;
			free(buf);
		}
	}
	printf("reader: %ld reads, %ld bad\n", reads, bad);
	return bad ? 1 : 0;
}

static int cmd_verify(const char *dir, int nkeys, const char *acklog)
{
	long last[1000] = { 0 }, lastw[1000] = { 0 };
	FILE *f = fopen(acklog, "r");
	char path[4096];
	int k, bad = 0;
	long s, wr;

	/* The last line for a key is its last acknowledged write; a later
	 * writer (a higher id) is newer than any earlier one. */
	if (f) {
		while (fscanf(f, "%d %ld %ld", &k, &wr, &s) == 3)
			if (k >= 0 && k < 1000) {
				lastw[k] = wr;
				last[k] = s;
			}
		fclose(f);
	}
	for (k = 0; k < nkeys; k++) {
		size_t len = 0;
		long w, seq;
		char *buf;

		key_path(path, sizeof(path), dir, k);
		buf = read_all(path, &len);
		if (!buf || check_value(buf, len, &w, &seq)) {
			fprintf(stderr, "%s: not a whole value\n", path);
			bad++;
		} else if (last[k] > 0 &&
			   (w < lastw[k] || (w == lastw[k] && seq < last[k]))) {
			fprintf(stderr, "%s: holds W%ld S%ld, acknowledged "
				"W%ld S%ld\n", path, w, seq, lastw[k], last[k]);
			bad++;
		} else {
			printf("%s: S%ld (last acknowledged S%ld)\n", path, seq,
			       last[k]);
		}
		free(buf);
	}
	return bad ? 1 : 0;
}

static int cmd_sharedfd(const char *dir, double secs, size_t size)
{
	char path[4096];
	char *buf = malloc(size), *back;
	double end = now() + secs;
	long rounds = 0;
	int failed = 0;

	if (!buf)
		return 1;
	memset(buf, 'v', size);
	snprintf(path, sizeof(path), "%s/shared", dir);
	while (!failed && now() < end) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		size_t len = 0;
		pid_t child;

		if (fd < 0) {
			perror(path);
			failed = 1;
			break;
		}
		child = fork();
		if (child == 0) {
			for (;;) {
				if (pwrite(fd, "v", 1, 0) != 1 || fsync(fd))
					_exit(1);
			}
		}
		if (write(fd, buf, size) != (ssize_t)size) {
			perror("write");
			failed = 1;
		}
		if (close(fd)) {
			perror("close");
			failed = 1;
		}
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		back = read_all(path, &len);
		if (!back || (len != size && len != 1) ||
		    memcmp(back, buf, len)) {
			fprintf(stderr, "round %ld: value of %zu bytes, want %zu "
				"(or 1)\n", rounds, len, size);
			failed = 1;
		}
		free(back);
		rounds++;
	}
	free(buf);
	printf("sharedfd: %ld rounds%s\n", rounds, failed ? ", FAILED" : "");
	return failed;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && !strcmp(argv[1], "fill"))
		return cmd_fill(argv[2], atoi(argv[3]),
				(size_t)atol(argv[4]));
	if (argc >= 7 && !strcmp(argv[1], "writer"))
		return cmd_writer(argv[2], atoi(argv[3]), atol(argv[4]),
				  atof(argv[5]), (size_t)atol(argv[6]),
				  argc > 7 ? argv[7] : NULL);
	if (argc >= 5 && !strcmp(argv[1], "reader"))
		return cmd_reader(argv[2], atoi(argv[3]), atof(argv[4]));
	if (argc >= 5 && !strcmp(argv[1], "verify"))
		return cmd_verify(argv[2], atoi(argv[3]), argv[4]);
	if (argc >= 5 && !strcmp(argv[1], "sharedfd"))
		return cmd_sharedfd(argv[2], atof(argv[3]),
				    (size_t)atol(argv[4]));
	fprintf(stderr, "usage: see the comment atop stress.c\n");
	return 2;
}
