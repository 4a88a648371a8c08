/*
 * fake_gateway.h - a small stand-in for etcd's JSON gateway for the etcd
 * backend's unit tests: an HTTP/1.1 server on 127.0.0.1 (ephemeral port,
 * a thread per connection) over an in-memory multi-version key space, so
 * that tests choose what a member answers: how far behind its
 * serializable reads are, whether it answers at all or only late,
 * whether it wants a login, which revisions are compacted. It counts
 * what it was asked.
 */
#ifndef KVFS_FAKE_GATEWAY_H
#define KVFS_FAKE_GATEWAY_H

#include <stdbool.h>
#include <stdint.h>

struct fake_gateway;

enum fake_mode {
	FAKE_NORMAL = 0,
	FAKE_HANG,      /* read requests, never answer */
	FAKE_NO_LEADER, /* answer every kv request "no leader" (503) */
	FAKE_READ_ONLY, /* serve reads, answer writes "no leader" (503) */
};

struct fake_counts {
	uint64_t requests;
	uint64_t serializable_reads;   /* read-only txns/ranges, serializable */
	uint64_t linearizable_reads;   /* read-only txns/ranges, linearizable */
	uint64_t writes;               /* txns or requests that wrote */
	uint64_t logins;
	uint64_t rejected_tokens;
};

#define FAKE_CLUSTER_ID 7777

/* Start a gateway; NULL on failure. */
struct fake_gateway *fake_start(void);
/* Stop it and free everything; accepts NULL. */
void fake_stop(struct fake_gateway *f);
/* "http://127.0.0.1:PORT" (borrowed). */
const char *fake_url(const struct fake_gateway *f);

/* Serializable reads see the key space as of `lag` revisions ago. */
void fake_set_lag(struct fake_gateway *f, uint64_t lag);
void fake_set_mode(struct fake_gateway *f, enum fake_mode mode);
/* Require a login as user/password; a token stays valid for
 * `token_uses` requests (0: forever). */
void fake_set_auth(struct fake_gateway *f, const char *user,
		   const char *password, unsigned int token_uses);

/* Answer every request `ms` milliseconds late. */
void fake_set_delay(struct fake_gateway *f, unsigned int ms);
/* Compact at the current revision: a read at an older revision fails
 * as etcd's does ("required revision has been compacted"). */
void fake_compact(struct fake_gateway *f);
/* Before each of the next n requests that read at a revision of their
 * own, another client writes a key outside kvfs/ and the key space is
 * compacted at that write: as a compaction that comes just then. */
void fake_compact_on_read(struct fake_gateway *f, unsigned int n);
/* Apply each of the next n transactions that write, then answer it as
 * etcd answers a proposal it could not see applied in time ("request
 * timed out", code 14): the client cannot tell it took effect. */
void fake_apply_unanswered(struct fake_gateway *f, unsigned int n);

void fake_counts(struct fake_gateway *f, struct fake_counts *out);
void fake_reset_counts(struct fake_gateway *f);
uint64_t fake_revision(struct fake_gateway *f);

/* Direct access to the key space, as another client would write. */
void fake_put(struct fake_gateway *f, const char *key, const void *value,
	      size_t len);
/* The latest value of key: malloc'd copy and its length, or NULL. */
char *fake_get(struct fake_gateway *f, const char *key, size_t *len);

#endif
