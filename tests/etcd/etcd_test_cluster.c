/*
 * etcd_test_cluster.c - start and stop a local etcd cluster for tests
 * (see etcd_test_cluster.h), and a few direct gateway calls with curl.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "etcd_test_cluster.h"
#include "testutil.h"

static char *cluster_dir;

void etcd_test_require_etcd(void)
{
	if (system("command -v etcd >/dev/null 2>&1 && "
		   "command -v etcdctl >/dev/null 2>&1")) {
		printf("SKIPPED: etcd or etcdctl not installed (Debian "
		       "packages etcd-server, etcd-client)\n");
		exit(77);
	}
}

/* A process that outlives nothing: it waits until the test process is
 * gone (its end of the pipe closes), then stops the cluster by pid and
 * removes its directory. */
static void start_guard(const char *dir)
{
	int fds[2];
	pid_t pid;

	if (pipe(fds))
		return;
	pid = fork();
	if (pid == 0) {
		char cmd[1024], c;

		close(fds[1]);
		setsid();
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		while (read(fds[0], &c, 1) < 0 && errno == EINTR)
			;
		snprintf(cmd, sizeof(cmd), "'%s' stop --dir '%s' --timeout 5 "
			 ">/dev/null 2>&1", KVFS_ETCD_CLUSTER_SCRIPT, dir);
		if (system(cmd))
			fprintf(stderr, "etcd test cluster: stop failed\n");
		kvfs_test_rmtree(dir);
		_exit(0);
	}
	close(fds[0]);
	/* The write end stays open, not inherited by what we exec. */
	fcntl(fds[1], F_SETFD, FD_CLOEXEC);
}

char *etcd_test_cluster_start(const char *tag, int members, int base_port)
{
	char cmd[1024], line[1024];
	FILE *p;
	size_t n;

	cluster_dir = kvfs_test_mkdtemp(tag);
	if (!cluster_dir)
		return NULL;
	start_guard(cluster_dir);
	snprintf(cmd, sizeof(cmd), "'%s' start --members %d --base-port %d "
		 "--dir '%s' --timeout 40", KVFS_ETCD_CLUSTER_SCRIPT, members,
		 base_port, cluster_dir);
	p = popen(cmd, "r");
	if (!p)
		return NULL;
	line[0] = '\0';
	if (!fgets(line, sizeof(line), p))
		line[0] = '\0';
	if (pclose(p) != 0 || !line[0])
		return NULL;
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	return strdup(line);
}

int etcd_test_cluster_cmd(const char *cmd, const char *args)
{
	char text[1024];
	int rc;

	snprintf(text, sizeof(text), "'%s' %s --dir '%s' %s >/dev/null",
		 KVFS_ETCD_CLUSTER_SCRIPT, cmd, cluster_dir, args);
	rc = system(text);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static char *b64(const char *s)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
				"tuvwxyz0123456789+/";
	size_t len = strlen(s);
	char *out = malloc(len / 3 * 4 + 8), *o = out;

	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)(unsigned char)s[i] << 16;

		if (i + 1 < len)
			v |= (unsigned)(unsigned char)s[i + 1] << 8;
		if (i + 2 < len)
			v |= (unsigned char)s[i + 2];
		*o++ = t[v >> 18];
		*o++ = t[(v >> 12) & 63];
		*o++ = i + 1 < len ? t[(v >> 6) & 63] : '=';
		*o++ = i + 2 < len ? t[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

struct answer {
	char buf[4096];
	size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *ctx)
{
	struct answer *a = ctx;
	size_t add = size * n, room = sizeof(a->buf) - 1 - a->len;

	memcpy(a->buf + a->len, p, add < room ? add : room);
	a->len += add < room ? add : room;
	a->buf[a->len] = '\0';
	return add;
}

/* POST {"key": prefix, "range_end": prefix+1 ...extra} to path. */
static int prefix_call(const char *endpoint, const char *path,
		       const char *prefix, const char *extra,
		       struct answer *a)
{
	char *end = strdup(prefix), *kb, *eb, url[512], body[2048];
	CURL *h = curl_easy_init();
	long status = 0;
	CURLcode cc;

	end[strlen(end) - 1]++;
	kb = b64(prefix);
	eb = b64(end);
	snprintf(body, sizeof(body), "{\"key\":\"%s\",\"range_end\":\"%s\"%s}",
		 kb, eb, extra);
	snprintf(url, sizeof(url), "%s%s", endpoint, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	free(end);
	free(kb);
	free(eb);
	return cc == CURLE_OK && status == 200 ? 0 : -1;
}

int etcd_test_delete_prefix(const char *endpoint, const char *prefix)
{
	struct answer a = { .len = 0 };

	return prefix_call(endpoint, "/v3/kv/deleterange", prefix, "", &a);
}

long etcd_test_count_prefix(const char *endpoint, const char *prefix)
{
	struct answer a = { .len = 0 };
	const char *c;

	if (prefix_call(endpoint, "/v3/kv/range", prefix,
			",\"count_only\":true", &a))
		return -1;
	c = strstr(a.buf, "\"count\":\"");
	return c ? strtol(c + 9, NULL, 10) : 0;
}
