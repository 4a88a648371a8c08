/*
 * bench_etcd.c - latency and throughput of 1 KiB puts and gets through a
 * kvfs mount of an etcd cluster at each consistency level, beside the same
 * operation sent straight to etcd's JSON gateway (/v3/kv/put, /v3/kv/range)
 * by a libcurl client that reuses its connection, and beside the local
 * backend's puts and gets through a mount. Prints p50/p99 latency, ops/s
 * and the ratios against those references, and for each mount row what
 * one operation cost in requests: the kernel's to the daemon, and the
 * daemon's to etcd (all, and linearizable reads), from the daemon's
 * counters in user.kvfs.stats at the mount's root; a direct row is one
 * request by construction.
 *
 *   bench_etcd --endpoint URL [--etcd-mount DIR] [--local-mount DIR]
 *              [--ops N] [--quick]
 *
 * --etcd-mount is a directory of an etcd-backed mount holding the
 * subdirectories strong, eventual, read-your-writes and causal, each with
 * its user.kvfs.consistency set; --local-mount a directory of a mount of
 * the local backend. Without them only the direct figures are measured.
 * (tests/bench/bench_etcd.sh sets all of this up.) Asserts nothing about
 * speed; exit 1 only when an operation fails.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define VALUE_SIZE 1024
#define KEYS 32

struct result {
	char name[48];
	size_t n;
	double p50_us, p99_us, ops_s;
	bool valid;
	bool counted;             /* the three below are known */
	double kernel, etcd, lin; /* requests per operation */
};

/* The daemon's counters (user.kvfs.stats): the kernel's requests (all
 * kinds), the requests it sent to etcd, its linearizable reads. */
struct counters {
	unsigned long kernel, etcd, lin;
};

/* The root of the mount that holds dir (user.kvfs.stats is there), into
 * root (PATH_MAX bytes); false when it cannot be told. */
static bool mount_root(const char *dir, char *root)
{
	struct stat st, up;
	char *slash;

	if (!realpath(dir, root) || stat(root, &st))
		return false;
	while ((slash = strrchr(root, '/')) && slash != root) {
		*slash = '\0';
		if (stat(root, &up) || up.st_dev != st.st_dev) {
			*slash = '/';
			return true;
		}
		*slash = '\0';
	}
	return false;
}

static unsigned long field(const char *text, const char *name)
{
	const char *p = strstr(text, name);

	return p ? strtoul(p + strlen(name), NULL, 10) : 0;
}

static bool read_counters(const char *root, struct counters *c)
{
	static char text[1 << 16];
	ssize_t len = getxattr(root, "user.kvfs.stats", text, sizeof(text) - 1);
	const char *kernel;

	if (len < 0)
		return false;
	text[len] = '\0';
	memset(c, 0, sizeof(*c));
	kernel = strstr(text, "\nkernel:");
	for (const char *p = kernel; p && *p && *++p != '\n';)
		if (*p == '=')
			c->kernel += strtoul(p + 1, NULL, 10);
	/* the GETXATTR that reads these counters */
	if (c->kernel)
		c->kernel--;
	c->etcd = field(text, "\netcd_requests: ");
	c->lin = field(text, "\netcd_reads_linearizable: ");
	return true;
}

static const char *levels[] = { "strong", "eventual", "read-your-writes",
				"causal" };

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Fill r from n latencies (sorted here) and the wall time of the run. */
static void summarize(struct result *r, const char *name, int64_t *lat,
		      size_t n, int64_t wall_ns)
{
	snprintf(r->name, sizeof(r->name), "%s", name);
	qsort(lat, n, sizeof(*lat), cmp_i64);
	r->n = n;
	r->p50_us = lat[n / 2] / 1000.0;
	r->p99_us = lat[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1000.0;
	r->ops_s = wall_ns > 0 ? n * 1e9 / (double)wall_ns : 0;
	r->valid = true;
}

/* ---------------------------------------------------- straight to etcd */

static void base64(const unsigned char *in, size_t len, char *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
			     in[i + 2];

		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = tab[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
}

struct response {
	char *data;
	size_t len;
};

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct response *r = userdata;
	size_t n = size * nmemb;
	char *grown = realloc(r->data, r->len + n + 1);

	if (!grown)
		return 0;
	r->data = grown;
	memcpy(r->data + r->len, ptr, n);
	r->len += n;
	r->data[r->len] = '\0';
	return n;
}

/* POST body to endpoint+path on the reused handle; 0 or -1 (printed). */
static int gateway_post(CURL *curl, const char *endpoint, const char *path,
			const char *body, struct response *resp)
{
	char url[512];
	long code = 0;
	CURLcode rc;

	snprintf(url, sizeof(url), "%s%s", endpoint, path);
	resp->len = 0;
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, resp);
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		fprintf(stderr, "bench_etcd: %s: %s\n", url,
			curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200) {
		fprintf(stderr, "bench_etcd: %s: HTTP %ld: %.200s\n", url, code,
			resp->data ? resp->data : "");
		return -1;
	}
	return 0;
}

/* Direct puts (1 KiB) and gets (linearizable, and serializable). */
static int bench_direct(const char *endpoint, size_t n, struct result *put,
			struct result *get, struct result *sget)
{
	unsigned char value[VALUE_SIZE];
	char value64[VALUE_SIZE * 2], key64[128], body[VALUE_SIZE * 3];
	struct response resp = { NULL, 0 };
	struct curl_slist *headers = NULL;
	int64_t *lat = calloc(n, sizeof(*lat));
	CURL *curl = curl_easy_init();
	int rc = -1;

	if (!lat || !curl)
		goto out;
	headers = curl_slist_append(headers, "Content-Type: application/json");
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
	memset(value, 'v', sizeof(value));
	base64(value, sizeof(value), value64);

	/* pass -1 writes every key once, untimed, as bench_files does. */
	for (int pass = -1; pass < 3; pass++) {
		int64_t start = now_ns();

		for (size_t i = 0; i < (pass < 0 ? (size_t)KEYS : n); i++) {
			char key[64];
			int64_t t0;

			snprintf(key, sizeof(key), "/bench-direct/k%zu", i % KEYS);
			base64((const unsigned char *)key, strlen(key), key64);
			if (pass <= 0)
				snprintf(body, sizeof(body),
					 "{\"key\":\"%s\",\"value\":\"%s\"}",
					 key64, value64);
			else
				snprintf(body, sizeof(body),
					 "{\"key\":\"%s\"%s}", key64,
					 pass == 2 ? ",\"serializable\":true"
						   : "");
			t0 = now_ns();
			if (gateway_post(curl, endpoint,
					 pass <= 0 ? "/v3/kv/put" : "/v3/kv/range",
					 body, &resp) < 0)
				goto out;
			if (pass < 0)
				continue;
			lat[i] = now_ns() - t0;
			if (pass > 0 && !strstr(resp.data, "\"kvs\"")) {
				fprintf(stderr, "bench_etcd: range found no "
						"value: %.200s\n",
					resp.data);
				goto out;
			}
		}
		if (pass < 0)
			continue;
		summarize(pass == 0 ? put : pass == 1 ? get : sget,
			  pass == 0   ? "direct put"
			  : pass == 1 ? "direct get (linearizable)"
				      : "direct get (serializable)",
			  lat, n, now_ns() - start);
	}
	rc = 0;
out:
	free(resp.data);
	curl_slist_free_all(headers);
	if (curl)
		curl_easy_cleanup(curl);
	free(lat);
	return rc;
}

/* -------------------------------------------------- through the mount */

static int put_file(const char *path, const char *value, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	size_t done = 0;

	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t w = write(fd, value + done, len - done);

		if (w < 0) {
			int err = errno;

			close(fd);
			return -err;
		}
		done += (size_t)w;
	}
	return close(fd) < 0 ? -errno : 0;
}

static int get_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	size_t len = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t r = read(fd, buf + len, cap - len);

		if (r < 0) {
			int err = errno;

			close(fd);
			return -err;
		}
		if (r == 0 || (len += (size_t)r) == cap)
			break;
	}
	if (close(fd) < 0)
		return -errno;
	return (int)len;
}

/* n puts then n gets of 1 KiB files in dir (KEYS files cycled). */
static int bench_files(const char *dir, const char *label, size_t n,
		       struct result *put, struct result *get)
{
	char value[VALUE_SIZE], buf[VALUE_SIZE + 16], path[4096], name[64];
	char root[PATH_MAX];
	bool counting = mount_root(dir, root);
	int64_t *lat = calloc(n, sizeof(*lat));
	int rc = -1;

	if (!lat)
		return -1;
	memset(value, 'f', sizeof(value));
	/* Create the files first, untimed: the rows measure overwrites. */
	for (size_t i = 0; i < KEYS; i++) {
		int r;

		snprintf(path, sizeof(path), "%s/k%zu", dir, i);
		r = put_file(path, value, sizeof(value));
		if (r < 0) {
			fprintf(stderr, "bench_etcd: create %s: %s\n", path,
				strerror(-r));
			goto out;
		}
	}
	for (int pass = 0; pass < 2; pass++) {
		struct result *res = pass ? get : put;
		struct counters c0, c1;
		int64_t start;

		counting = counting && read_counters(root, &c0);
		start = now_ns();
		for (size_t i = 0; i < n; i++) {
			int64_t t0;
			int r;

			snprintf(path, sizeof(path), "%s/k%zu", dir, i % KEYS);
			t0 = now_ns();
			if (pass == 0)
				r = put_file(path, value, sizeof(value));
			else
				r = get_file(path, buf, sizeof(buf));
			lat[i] = now_ns() - t0;
			if (r < 0) {
				fprintf(stderr, "bench_etcd: %s %s: %s\n",
					pass ? "get" : "put", path,
					strerror(-r));
				goto out;
			}
			if (pass == 1 && r != VALUE_SIZE) {
				fprintf(stderr, "bench_etcd: %s: read %d bytes, "
						"expected %d\n",
					path, r, VALUE_SIZE);
				goto out;
			}
		}
		snprintf(name, sizeof(name), "%s %s", label,
			 pass ? "get" : "put");
		summarize(res, name, lat, n, now_ns() - start);
		counting = counting && read_counters(root, &c1);
		if (counting) {
			res->counted = true;
			res->kernel = (double)(c1.kernel - c0.kernel) / (double)n;
			res->etcd = (double)(c1.etcd - c0.etcd) / (double)n;
			res->lin = (double)(c1.lin - c0.lin) / (double)n;
		}
	}
	rc = 0;
out:
	free(lat);
	return rc;
}

/* ------------------------------------------------------------- report */

static void print_row(const struct result *r)
{
	if (!r->valid)
		return;
	printf("%-34s %7zu %10.1f %10.1f %10.0f", r->name, r->n, r->p50_us,
	       r->p99_us, r->ops_s);
	if (r->counted)
		printf(" %8.2f %8.2f %8.2f", r->kernel, r->etcd, r->lin);
	printf("\n");
}

static void print_ratio(const char *what, const struct result *a,
			const struct result *b, const char *target)
{
	if (!a->valid || !b->valid || b->p50_us <= 0)
		return;
	printf("  %-52s %6.2fx p50, %6.2fx ops/s   (%s)\n", what,
	       a->p50_us / b->p50_us, b->ops_s > 0 ? a->ops_s / b->ops_s : 0,
	       target);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: bench_etcd --endpoint URL [--etcd-mount DIR] "
		   "[--local-mount DIR] [--ops N] [--quick]\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "endpoint", required_argument, NULL, 'e' },
		{ "etcd-mount", required_argument, NULL, 'm' },
		{ "local-mount", required_argument, NULL, 'l' },
		{ "ops", required_argument, NULL, 'n' },
		{ "quick", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *endpoint = NULL, *emount = NULL, *lmount = NULL;
	struct result dput = { 0 }, dget = { 0 }, dsget = { 0 };
	struct result lput = { 0 }, lget = { 0 };
	struct result put[4], get[4];
	const char *quick = getenv("KVFS_BENCH_QUICK");
	size_t n = 300;
	int c;

	memset(put, 0, sizeof(put));
	memset(get, 0, sizeof(get));
	if (quick && strcmp(quick, "1") == 0)
		n = 20;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'e': endpoint = optarg; break;
		case 'm': emount = optarg; break;
		case 'l': lmount = optarg; break;
		case 'n': n = strtoul(optarg, NULL, 10); break;
		case 'q': n = 20; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (!endpoint || n < 2) {
		usage(stderr);
		return 1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return 1;
	printf("1 KiB values, %zu ops per row, %d keys cycled (created "
	       "before timing); latency in microseconds\n", n, KEYS);
	if (bench_direct(endpoint, n, &dput, &dget, &dsget) < 0)
		return 1;
	if (lmount && bench_files(lmount, "local backend (mount)", n, &lput,
				  &lget) < 0)
		return 1;
	for (int i = 0; emount && i < 4; i++) {
		char dir[4096], label[48];

		snprintf(dir, sizeof(dir), "%s/%s", emount, levels[i]);
		snprintf(label, sizeof(label), "etcd %s (mount)", levels[i]);
		if (bench_files(dir, label, n, &put[i], &get[i]) < 0)
			return 1;
	}
	printf("\n%-34s %7s %10s %10s %10s %8s %8s %8s\n", "operation", "ops",
	       "p50 us", "p99 us", "ops/s", "kern/op", "etcd/op", "lin/op");
	print_row(&dput);
	print_row(&dget);
	print_row(&dsget);
	print_row(&lput);
	print_row(&lget);
	for (int i = 0; i < 4; i++) {
		print_row(&put[i]);
		print_row(&get[i]);
	}
	printf("\nratios (targets are reported, not asserted):\n");
	print_ratio("strong put / direct put", &put[0], &dput, "target <= 1.3");
	print_ratio("strong get / direct linearizable get", &get[0], &dget,
		    "target <= 1.3");
	print_ratio("eventual put / local backend put", &put[1], &lput,
		    "target <= 2");
	print_ratio("eventual get / strong get", &get[1], &get[0],
		    "target: much below 1");
	print_ratio("causal get / strong get", &get[3], &get[0],
		    "target: much below 1");
	print_ratio("read-your-writes get / strong get", &get[2], &get[0],
		    "for information");
	curl_global_cleanup();
	return 0;
}
