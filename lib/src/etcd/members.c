/*
 * members.c - which members of the cluster answer. A member that let a
 * request go without any answer for its whole share of the time (a
 * stopped process, a hung machine: its kernel may still accept
 * connections, and nothing ever comes back) is marked suspect. Requests
 * then try the other members first, and a suspect one only when no
 * other can be reached at all, so that a hung member costs one request
 * its share of the time, not every request. A probe thread asks each
 * suspect member for its status (which needs neither a quorum nor
 * credentials) every PROBE_INTERVAL_MS; a member that answers that, or
 * any request, is trusted again.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "etcd_internal.h"

#define PROBE_INTERVAL_MS 500
#define PROBE_TIMEOUT_MS 1000

int etcd_members_open(struct etcd *e)
{
	pthread_condattr_t attr;

	e->suspect = calloc(e->n_endpoints, sizeof(*e->suspect));
	if (!e->suspect)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	for (size_t i = 0; i < e->n_endpoints; i++)
		atomic_init(&e->suspect[i], false);
	pthread_mutex_init(&e->probe_lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&e->probe_cond, &attr);
	pthread_condattr_destroy(&attr);
	return 0;
}

void etcd_members_close(struct etcd *e)
{
	bool running;

	if (!e->suspect)
		return;
	pthread_mutex_lock(&e->probe_lock);
	e->probe_stop = true;
	running = e->probe_running;
	e->probe_running = false;
	pthread_cond_broadcast(&e->probe_cond);
	pthread_mutex_unlock(&e->probe_lock);
	if (running)
		pthread_join(e->probe_thread, NULL);
	pthread_cond_destroy(&e->probe_cond);
	pthread_mutex_destroy(&e->probe_lock);
	free((void *)e->suspect);
	e->suspect = NULL;
}

bool etcd_member_suspect(struct etcd *e, size_t ep)
{
	return e->suspect && atomic_load(&e->suspect[ep]);
}

size_t etcd_members_count_suspect(struct etcd *e)
{
	size_t n = 0;

	for (size_t i = 0; i < e->n_endpoints; i++)
		n += etcd_member_suspect(e, i);
	return n;
}

size_t etcd_member_next(struct etcd *e, size_t ep)
{
	for (size_t i = 0; i < e->n_endpoints; i++) {
		size_t m = (ep + i) % e->n_endpoints;

		if (!etcd_member_suspect(e, m))
			return m;
	}
	return ep;
}

size_t etcd_members_order(struct etcd *e, size_t first, size_t *order)
{
	size_t n = e->n_endpoints, front = 0, back = n;

	/* Each flag read once: the members answering to the front, the
	 * suspect ones to the back (reversed, then turned round). */
	for (size_t i = 0; i < n; i++) {
		size_t ep = (first + i) % n;

		if (etcd_member_suspect(e, ep))
			order[--back] = ep;
		else
			order[front++] = ep;
	}
	for (size_t i = front, j = n - 1; i < j; i++, j--) {
		size_t t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	return front;
}

void etcd_member_answered(struct etcd *e, size_t ep)
{
	if (e->suspect && atomic_exchange(&e->suspect[ep], false))
		kvfs_log(KVFS_LOG_WARNING, "etcd: %s answers again",
			 e->endpoints[ep]);
}

/* ------------------------------------------------------------ probing */

static size_t discard(char *data, size_t size, size_t n, void *ctx)
{
	return size * n;
}

/* Does member ep answer a status request within PROBE_TIMEOUT_MS (or
 * the mount's timeout, when shorter)? Any HTTP answer will do: the
 * process runs. Without a handle every member counts as answering, so
 * that requests try them again as they would without probes. */
static bool probe(struct etcd *e, CURL *h, size_t ep)
{
	long ms = (long)(e->timeout_ms < PROBE_TIMEOUT_MS ? e->timeout_ms
							  : PROBE_TIMEOUT_MS);
	long http = 0;
	char url[512];

	if (!h)
		return true;
	snprintf(url, sizeof(url), "%s/v3/maintenance/status",
		 e->endpoints[ep]);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ms);
	atomic_fetch_add(&e->n_probes, 1);
	if (curl_easy_perform(h) != CURLE_OK)
		return false;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &http);
	return http > 0;
}

static CURL *probe_handle(struct etcd *e, struct curl_slist *headers)
{
	CURL *h = headers ? curl_easy_init() : NULL;

	if (!h)
		return NULL;
	etcd_handle_setup(e, h);
	/* Its own connections: one to a hung member is never handed on. */
	curl_easy_setopt(h, CURLOPT_SHARE, NULL);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, "{}");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	return h;
}

static void wait_interval(struct etcd *e)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_nsec += PROBE_INTERVAL_MS * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&e->probe_cond, &e->probe_lock, &until);
}

static void *probe_main(void *arg)
{
	struct etcd *e = arg;
	struct curl_slist *headers =
		curl_slist_append(NULL, "Content-Type: application/json");
	CURL *h = probe_handle(e, headers);

	pthread_mutex_lock(&e->probe_lock);
	while (!e->probe_stop) {
		if (!etcd_members_count_suspect(e)) {
			pthread_cond_wait(&e->probe_cond, &e->probe_lock);
			continue;
		}
		pthread_mutex_unlock(&e->probe_lock);
		for (size_t i = 0; i < e->n_endpoints; i++)
			if (etcd_member_suspect(e, i) && probe(e, h, i))
				etcd_member_answered(e, i);
		pthread_mutex_lock(&e->probe_lock);
		if (!e->probe_stop && etcd_members_count_suspect(e))
			wait_interval(e);
	}
	pthread_mutex_unlock(&e->probe_lock);
	if (h)
		curl_easy_cleanup(h);
	curl_slist_free_all(headers);
	return NULL;
}

int etcd_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int err;

	/* The signals that end a session (as libfuse's own threads do);
	 * faults such as SIGSEGV stay deliverable where they happen. */
	sigemptyset(&all);
	sigaddset(&all, SIGTERM);
	sigaddset(&all, SIGINT);
	sigaddset(&all, SIGHUP);
	sigaddset(&all, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(thread, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

/* Start the probe thread unless it runs; caller holds probe_lock. */
static int start_prober(struct etcd *e)
{
	int err;

	if (e->probe_running || e->probe_stop)
		return 0;
	err = etcd_thread_start(&e->probe_thread, probe_main, e);
	e->probe_running = err == 0;
	return err;
}

void etcd_member_silent(struct etcd *e, size_t ep, uint64_t waited_ms)
{
	int err;

	if (!e->suspect || atomic_exchange(&e->suspect[ep], true))
		return;
	atomic_fetch_add(&e->n_suspected, 1);
	kvfs_log(KVFS_LOG_WARNING, "etcd: %s did not answer within %" PRIu64
		 " ms; requests go to the other members until it answers "
		 "again", e->endpoints[ep], waited_ms);
	pthread_mutex_lock(&e->probe_lock);
	err = start_prober(e);
	pthread_cond_broadcast(&e->probe_cond);
	pthread_mutex_unlock(&e->probe_lock);
	/* Nobody would find out that it answers again: leave it in turn. */
	if (err)
		atomic_store(&e->suspect[ep], false);
}
