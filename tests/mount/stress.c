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
 *
 * Rename-replace and in-place rewrites, with values of 1 KiB up to SIZE
 * bytes (sizes spread over every power of two in between):
 *   stress renamer DIR NKEYS ID SECONDS SIZE [ACKLOG]
 *        write each new value to DIR/tmpW<ID>, close it, and rename(2) it
 *        over the key; a rename that returned 0 is acknowledged
 *   stress rewriter DIR NKEYS ID SECONDS SIZE [ACKLOG]
 *        open the existing key without O_TRUNC, pwrite the whole new value
 *        from offset 0, ftruncate to its length, close; a close that
 *        returned 0 is acknowledged
 *   stress check DIR NKEYS SECONDS read|mmap|cat
 *        like reader, but counts instead of stopping: whole values, bad
 *        ones (torn, mixed, cut short, SIGBUS in a map, or an open failing
 *        with ESTALE) and other errors by errno; "read" calls fstat and
 *        reads to the end (as cat, cp and Python do), "mmap" maps the
 *        whole file read-only (MAP_SHARED) after fstat, "cat" runs cat(1);
 *        exits 1 when anything was bad or failed; a map the kernel
 *        refuses (ENODEV, a file opened for direct I/O) is counted apart
 *
 * Single files:
 *   stress watch FILE EXPECT STOPFILE SECONDS [absent-ok]
 *        read FILE over and over until STOPFILE exists (or SECONDS pass)
 *        and count the reads that differ from the contents of EXPECT:
 *        empty, other contents, errors; with absent-ok a missing FILE is
 *        counted apart and is no error
 *   stress chunked FILE SIZE CHUNK ID SEQ
 *        write one value of exactly SIZE bytes (writer ID, sequence SEQ)
 *        through open(O_WRONLY | O_TRUNC) in CHUNK-byte writes, stopping at
 *        the first failed write, then close; prints what failed; exits 0
 *        when every call returned success, 3 when one failed
 *   stress ident FILE
 *        print "W<writer> S<seq> L<len>" of the whole value FILE holds;
 *        exits 1 (printing what it found) when it is not one
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
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

/* 0 when buf[0..len) is one whole value; fills *w, *s. Reads nothing
 * past buf + len (a map may end there). */
static int check_value(const char *buf, size_t len, long *w, long *s)
{
	char head[96], tail[64];
	size_t l, body, hl, n = len < sizeof(head) - 1 ? len : sizeof(head) - 1;
	const char *nl;
	int tl;

	if (len == 0)
		return -1;
	memcpy(head, buf, n);
	head[n] = '\0';
	if (sscanf(head, "kvfs W%ld S%ld L%zu\n", w, s, &l) != 3)
		return -1;
	if (l != len)
		return -1;
	nl = memchr(buf, '\n', n);
	if (!nl)
		return -1;
	hl = (size_t)(nl - buf) + 1;
	tl = snprintf(tail, sizeof(tail), "\nend W%ld S%ld\n", *w, *s);
	if (hl + (size_t)tl > len ||
	    memcmp(buf + len - (size_t)tl, tail, (size_t)tl))
		return -1;
	body = len - (size_t)tl;
	for (size_t i = hl; i < body; i++)
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

/* The errors a writer sees once the mount has gone away under it. */
static int daemon_gone(int err)
{
	return err == ENOTCONN || err == ECONNABORTED || err == ENOENT ||
	       err == EIO;
}

/* Append "key writer seq" to the acknowledgement log and sync it. */
static int acknowledge(int ack, int k, long id, long seq)
{
	char line[64];
	int n;

	if (ack < 0)
		return 0;
	n = snprintf(line, sizeof(line), "%d %ld %ld\n", k, id, seq);
	return write(ack, line, (size_t)n) != n || fdatasync(ack) ? -1 : 0;
}

/* A size from 1 KiB up to max: a power-of-two band [b, 2b) first, then a
 * point in it, so that small and large values are equally common. */
static size_t mixed_size(unsigned int *seed, size_t max)
{
	size_t lo = 1024, base, size;
	unsigned int bands = 0;

	if (max <= lo)
		return max;
	while ((lo << (bands + 1)) <= max)
		bands++;
	base = lo << (rand_r(seed) % (bands + 1));
	size = base + (size_t)rand_r(seed) % base;
	return size > max ? max : size;
}

/* Write all of buf at offset 0 of fd with pwrite; 0 or -1 (errno). */
static int pwrite_all(int fd, const char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		size_t chunk = len - off > 262144 ? 262144 : len - off;
		ssize_t n = pwrite(fd, buf + off, chunk, (off_t)off);

		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}

/* One new value for key k: through a temporary name and rename(2), or
 * in place (open without O_TRUNC, pwrite, ftruncate, close). */
static int replace_value(const char *path, const char *tmp, const char *buf,
			 size_t len)
{
	int fd, saved;

	if (tmp)
		return write_value(tmp, buf, len) || rename(tmp, path) ? -1 : 0;
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	if (pwrite_all(fd, buf, len) || ftruncate(fd, (off_t)len)) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return close(fd);
}

static int cmd_replacer(const char *mode, const char *dir, int nkeys, long id,
			double secs, size_t size, const char *acklog)
{
	char path[4096], tmp[4096], *buf = malloc(size + 128);
	int renaming = !strcmp(mode, "renamer");
	int ack = acklog ? open(acklog, O_WRONLY | O_CREAT | O_APPEND, 0644)
			 : -1;
	double end = now() + secs;
	long seq = 1;
	unsigned int seed = (unsigned int)id * 2246822519u + 1;

	if (!buf)
		return 1;
	snprintf(tmp, sizeof(tmp), "%s/tmpW%ld", dir, id);
	while (now() < end) {
		int k = (int)(seq % nkeys);
		size_t len = make_value(buf, mixed_size(&seed, size), id, seq);

		key_path(path, sizeof(path), dir, k);
		if (replace_value(path, renaming ? tmp : NULL, buf, len)) {
			if (daemon_gone(errno))
				break;
			perror(path);
			return 1;
		}
		if (acknowledge(ack, k, id, seq))
			return 1;
		seq++;
	}
	printf("%s %ld: %ld values\n", mode, id, seq - 1);
	free(buf);
	return 0;
}

/* Read fd to its end into a new buffer, in reads of at most 128 KiB as
 * cat(1) makes them; NULL with errno on failure. */
static char *read_fd(int fd, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);

	if (!buf)
		return NULL;
	for (;;) {
		ssize_t r;

		if (n == cap) {
			char *grown = realloc(buf, cap *= 2);

			if (!grown) {
				free(buf);
				errno = ENOMEM;
				return NULL;
			}
			buf = grown;
		}
		r = read(fd, buf + n, cap - n > 131072 ? 131072 : cap - n);
		if (r < 0) {
			int saved = errno;

			free(buf);
			errno = saved;
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	return buf;
}

/* What the check readers count. */
struct tally {
	long reads, whole, torn, estale, sigbus, errors;
	long refused; /* maps refused with ENODEV */
	long by_errno[256];
	char cat_error[256]; /* the first message cat printed */
};

static void tally_error(struct tally *t, int err)
{
	if (err == ESTALE) {
		t->estale++;
		return;
	}
	t->errors++;
	t->by_errno[err > 0 && err < 256 ? err : 0]++;
}

static void tally_value(struct tally *t, const char *path, const char *buf,
			size_t len)
{
	long w, s;

	if (!check_value(buf, len, &w, &s)) {
		t->whole++;
		return;
	}
	if (t->torn < 5) {
		char head[41];
		size_t n = len < 40 ? len : 40;

		memcpy(head, buf, n);
		head[n] = '\0';
		for (size_t i = 0; i < n; i++)
			if (head[i] == '\n')
				head[i] = '|';
		fprintf(stderr, "bad value in %s (%zu bytes): %s\n", path, len,
			head);
	}
	t->torn++;
}

/* Open, fstat (as cat, cp and Python do before reading) and read to the
 * end. */
static void check_read(struct tally *t, const char *path)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	size_t len = 0;
	char *buf;

	if (fd < 0) {
		tally_error(t, errno);
		return;
	}
	if (fstat(fd, &st)) {
		tally_error(t, errno);
		close(fd);
		return;
	}
	buf = read_fd(fd, &len);
	if (!buf)
		tally_error(t, errno);
	else
		tally_value(t, path, buf, len);
	free(buf);
	close(fd);
}

static sigjmp_buf bus_jump;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(bus_jump, 1);
}

static void check_mmap(struct tally *t, const char *path)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	char *map;

	if (fd < 0) {
		tally_error(t, errno);
		return;
	}
	if (fstat(fd, &st)) {
		tally_error(t, errno);
		close(fd);
		return;
	}
	if (st.st_size == 0) {
		tally_value(t, path, "", 0);
		close(fd);
		return;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		/* The kernel maps no file it was told to read with direct
		 * I/O: a refusal, counted apart from failed reads. */
		if (errno == ENODEV)
			t->refused++;
		else
			tally_error(t, errno);
		close(fd);
		return;
	}
	if (sigsetjmp(bus_jump, 1) == 0)
		tally_value(t, path, map, (size_t)st.st_size);
	else
		t->sigbus++;
	munmap(map, (size_t)st.st_size);
	close(fd);
}

static void check_cat(struct tally *t, const char *path)
{
	int out[2], err[2], st;
	char msg[256];
	size_t len = 0;
	ssize_t m;
	char *buf;
	pid_t pid;

	if (pipe(out)) {
		tally_error(t, errno);
		return;
	}
	if (pipe(err)) {
		tally_error(t, errno);
		close(out[0]);
		close(out[1]);
		return;
	}
	pid = fork();
	if (pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		close(out[0]);
		close(err[0]);
		execlp("cat", "cat", path, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	buf = pid < 0 ? NULL : read_fd(out[0], &len);
	m = read(err[0], msg, sizeof(msg) - 1);
	msg[m > 0 ? m : 0] = '\0';
	close(out[0]);
	close(err[0]);
	if (pid < 0 || waitpid(pid, &st, 0) != pid) {
		tally_error(t, ECHILD);
		free(buf);
		return;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		if (strstr(msg, strerror(ESTALE))) {
			t->estale++;
		} else {
			t->errors++;
			if (!t->cat_error[0])
				snprintf(t->cat_error, sizeof(t->cat_error),
					 "%s", msg[0] ? msg : "cat failed\n");
		}
	} else if (buf) {
		tally_value(t, path, buf, len);
	}
	free(buf);
}

static int cmd_check(const char *dir, int nkeys, double secs,
		     const char *method)
{
	static struct tally t;
	struct sigaction sa = { .sa_handler = on_sigbus };
	void (*check)(struct tally *, const char *);
	double end = now() + secs;
	char path[4096];

	if (!strcmp(method, "read"))
		check = check_read;
	else if (!strcmp(method, "mmap"))
		check = check_mmap;
	else if (!strcmp(method, "cat"))
		check = check_cat;
	else
		return 2;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	while (now() < end) {
		for (int k = 0; k < nkeys; k++) {
			key_path(path, sizeof(path), dir, k);
			check(&t, path);
			t.reads++;
		}
	}
	printf("check %s: %ld reads, %ld whole, %ld bad (%ld torn, %ld ESTALE, "
	       "%ld SIGBUS), %ld errors\n",
	       method, t.reads, t.whole, t.torn + t.estale + t.sigbus, t.torn,
	       t.estale, t.sigbus, t.errors);
	for (int e = 0; e < 256; e++)
		if (t.by_errno[e])
			printf("check %s: %ld reads failed with %s\n", method,
			       t.by_errno[e], e ? strerror(e) : "another error");
	if (t.refused)
		printf("check %s: %ld maps refused (ENODEV: the file was open "
		       "for direct I/O)\n", method, t.refused);
	if (t.cat_error[0])
		printf("check %s: cat said: %s", method, t.cat_error);
	return t.torn + t.estale + t.sigbus + t.errors ? 1 : 0;
}

static int cmd_watch(const char *file, const char *expect, const char *stop,
		     double secs, int absent_ok)
{
	long reads = 0, whole = 0, empty = 0, other = 0, errors = 0,
	     absent = 0;
	double end = now() + secs;
	size_t elen = 0;
	char *want;
	int fd;

	fd = open(expect, O_RDONLY);
	want = fd < 0 ? NULL : read_fd(fd, &elen);
	if (fd >= 0)
		close(fd);
	if (!want) {
		perror(expect);
		return 2;
	}
	while (access(stop, F_OK) != 0 && now() < end) {
		size_t len = 0;
		char *buf;

		reads++;
		fd = open(file, O_RDONLY);
		if (fd < 0) {
			if (errno == ENOENT && absent_ok) {
				absent++;
			} else {
				if (!errors)
					perror(file);
				errors++;
			}
			continue;
		}
		buf = read_fd(fd, &len);
		close(fd);
		if (!buf) {
			if (!errors)
				perror(file);
			errors++;
		} else if (len == 0) {
			empty++;
		} else if (len != elen || memcmp(buf, want, len)) {
			if (!other)
				fprintf(stderr, "%s: %zu bytes, not the %zu "
					"written\n", file, len, elen);
			other++;
		} else {
			whole++;
		}
		free(buf);
	}
	printf("watch %s: %ld reads, %ld whole, %ld empty, %ld other, "
	       "%ld errors", file, reads, whole, empty, other, errors);
	if (absent_ok)
		printf(", %ld absent", absent);
	printf("\n");
	free(want);
	return empty + other + errors ? 1 : 0;
}

static int cmd_chunked(const char *file, size_t size, size_t chunk, long id,
		       long seq)
{
	char *buf = malloc(size + 128);
	int fd, werr = 0, cerr = 0;
	size_t len, off = 0;

	if (!buf || chunk == 0)
		return 2;
	len = make_value(buf, size, id, seq);
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		printf("chunked: open: %s\n", strerror(errno));
		free(buf);
		return 3;
	}
	while (off < len) {
		ssize_t n = write(fd, buf + off,
				  len - off > chunk ? chunk : len - off);

		if (n <= 0) {
			werr = n < 0 ? errno : EIO;
			break;
		}
		off += (size_t)n;
	}
	if (close(fd))
		cerr = errno;
	printf("chunked: wrote %zu of %zu bytes; write: %s; close: %s\n", off,
	       len, werr ? strerror(werr) : "ok", cerr ? strerror(cerr) : "ok");
	free(buf);
	return werr || cerr ? 3 : 0;
}

static int cmd_ident(const char *file)
{
	size_t len = 0;
	char *buf = read_all(file, &len);
	long w, s;

	if (!buf) {
		printf("unreadable: %s\n", strerror(errno));
		return 1;
	}
	if (check_value(buf, len, &w, &s)) {
		printf("not whole (%zu bytes)\n", len);
		free(buf);
		return 1;
	}
	printf("W%ld S%ld L%zu\n", w, s, len);
	free(buf);
	return 0;
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
	if (argc >= 7 && (!strcmp(argv[1], "renamer") ||
			  !strcmp(argv[1], "rewriter")))
		return cmd_replacer(argv[1], argv[2], atoi(argv[3]),
				    atol(argv[4]), atof(argv[5]),
				    (size_t)atol(argv[6]),
				    argc > 7 ? argv[7] : NULL);
	if (argc >= 6 && !strcmp(argv[1], "check"))
		return cmd_check(argv[2], atoi(argv[3]), atof(argv[4]),
				 argv[5]);
	if (argc >= 6 && !strcmp(argv[1], "watch"))
		return cmd_watch(argv[2], argv[3], argv[4], atof(argv[5]),
				 argc > 6 && !strcmp(argv[6], "absent-ok"));
	if (argc >= 7 && !strcmp(argv[1], "chunked"))
		return cmd_chunked(argv[2], (size_t)atol(argv[3]),
				   (size_t)atol(argv[4]), atol(argv[5]),
				   atol(argv[6]));
	if (argc >= 3 && !strcmp(argv[1], "ident"))
		return cmd_ident(argv[2]);
	fprintf(stderr, "usage: see the comment atop stress.c\n");
	return 2;
}
