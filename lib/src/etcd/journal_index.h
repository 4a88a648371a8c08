/*
 * journal_index.h - the pending entries of the eventual journal
 * (journal.c) by key, so that a read of one key costs the entries of that
 * key, not a scan of the journal: a hash table of each key's newest
 * entry, each entry linked to the older one of its key, and per directory
 * the number of keys below it whose newest put or delete is a put.
 *
 * Entries join newest first (jindex_add) and leave oldest first
 * (jindex_remove_oldest), as the journal appends and replicates them.
 * The caller serialises every call (the journal's lock).
 */
#ifndef KVFS_ETCD_JOURNAL_INDEX_H
#define KVFS_ETCD_JOURNAL_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "etcd_internal.h"

struct jentry {
	struct jentry *next;     /* the journal's list, oldest first */
	struct jentry *older;    /* the previous entry of the same key */
	struct jentry *hnext;    /* the index's bucket: newest of each key */
	uint64_t seq;
	enum etcd_journal_op op;
	char *key;
	uint64_t size;
	struct timespec mtime;   /* when the write was made (wall clock) */
	/* ETCD_JOURNAL_ATTR: which attributes, and their new values. */
	unsigned int attr_fields;
	uint32_t attr_mode;
	struct timespec attr_mtime;
	struct timespec attr_atime;
};

struct jindex;

struct jindex *jindex_new(void);
void jindex_free(struct jindex *ix);

/* ent is now the newest entry of its key. Never fails: without memory
 * for a directory's count, jindex_put_under answers by a scan. */
void jindex_add(struct jindex *ix, struct jentry *ent);
/* ent, the oldest entry of its key, leaves. */
void jindex_remove_oldest(struct jindex *ix, struct jentry *ent);

/* The newest entry of key (then ->older), or NULL. */
struct jentry *jindex_newest(const struct jindex *ix, const char *key);
/* The newest put or delete of key, or NULL. */
struct jentry *jindex_latest(const struct jindex *ix, const char *key);
/* Is some key below dir ("a" for "a/...") put by its latest entry? */
bool jindex_put_under(const struct jindex *ix, const char *dir);
/* fn for the latest put or delete of every key that has one. */
int jindex_each_latest(const struct jindex *ix,
		       int (*fn)(void *ctx, const struct jentry *latest),
		       void *ctx);

#endif
