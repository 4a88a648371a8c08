/*
 * cache_policy.h - what the kernel may cache of a file: pure decisions,
 * taken from facts that the caller gathers under the inode's lock and
 * applied by the caller. Nothing here locks, allocates or talks to the
 * kernel, so every state and transition is unit-tested without /dev/fuse
 * (tests/unit/test_cache_policy.c).
 *
 * The kernel keeps one page cache and one size per node, while open files
 * see different values (close-to-open). So only open files that agree on
 * the value may share the page cache; every other one uses direct I/O,
 * and a writer never joins page-cache readers on a node (the name moves
 * to a new node instead). fs/README.md, "Kernel caching rule", says the
 * same for users.
 */
#ifndef KVFS_CACHE_POLICY_H
#define KVFS_CACHE_POLICY_H

#include <stdbool.h>
#include <stdint.h>

/* What holds for the whole mount. */
struct policy_mount {
	bool sole_writer;    /* the store's only writer (KVFS_CAP_SOLE_WRITER) */
	bool page_cache;     /* -o page_cache (the default) */
	double timeout;      /* attr_timeout= */
	double weak_timeout; /* weak_timeout= */
};

/* How long the kernel may keep what it was told of names and attributes.
 * Where the daemon is the only writer it invalidates what it changes, so
 * both keep for attr_timeout=. Elsewhere another client may change a file
 * at any time: a strong file's attributes are not kept at all (every stat
 * asks the store), other levels' for weak_timeout=, and names for
 * weak_timeout= at every level, since every open and getattr still asks
 * the store and answers ESTALE for a key that vanished or changed kind
 * (the kernel then looks the name up again). Finding a file's level may
 * read xattrs from the store, so callers ask for it only when
 * kvfs_policy_attrs_by_level says it matters. */
bool kvfs_policy_attrs_by_level(const struct policy_mount *m);
double kvfs_policy_attr_timeout(const struct policy_mount *m, bool strong);
double kvfs_policy_entry_timeout(const struct policy_mount *m);
/* The name of a file created here and not yet in the store: kept only
 * where the daemon is the only writer, since elsewhere its first publish
 * may fail (EFBIG) and leave no file. */
double kvfs_policy_unstored_entry_timeout(const struct policy_mount *m);

/* An open of a node, as it stands when the new open file joins it. */
struct open_facts {
	bool writer;          /* the new open file may write */
	bool append;          /* ... with O_APPEND: the daemon finds the end */
	bool name_moved;      /* the node's name has moved to a new node */
	bool moved_lately;    /* the name moved within the retry window */
	bool cached_reader;   /* a page-cache reader has the node open */
	bool others_open;     /* other open files of the node */
	bool writer_open;     /* a writer is among them */
	bool pushing;         /* a publish is filling the page cache */
	bool size_suspect;    /* the kernel's size of the node may be wrong */
	bool snapshot_behind; /* the snapshot may predate the latest publish */
	bool other_snapshot;  /* an open file of the node has another one */
	bool shared_lately;   /* a writer and another open file overlapped
	                         within quiet= seconds */
	bool pages_ours;      /* the page cache was filled from this snapshot */
	bool pages_suspect;   /* ... but may hold an older value */
};

enum open_path {
	OPEN_NEW_NODE,   /* refuse with ESTALE; the name moves to a new node
	                    and the kernel retries there */
	OPEN_DIRECT,     /* direct I/O: every read and write asks the daemon */
	OPEN_PAGE_CACHE, /* through the kernel's page cache */
};

/* What the node's page cache holds once the open file has joined. */
enum pages_after {
	PAGES_AS_BEFORE,
	PAGES_SUSPECT,   /* it may fill them with another snapshot (private
	                    maps of a direct I/O file are served from the
	                    page cache): the next page-cache open drops them */
	PAGES_THIS_SNAPSHOT, /* dropped at open, refilled from this one */
};

struct open_choice {
	enum open_path path;
	bool keep_pages;        /* page cache: keep what is cached (keep_cache) */
	enum pages_after pages;
};

struct open_choice kvfs_policy_open(const struct policy_mount *m,
				    const struct open_facts *f);

/* A publish, as it stands right after the commit. */
struct publish_facts {
	bool published;     /* the commit succeeded and carried writes */
	bool raced;         /* another open file published meanwhile */
	bool attrs_stale;   /* an attribute reply during the session may have
	                       given the kernel another size */
	bool at_close;      /* a flush: the close waits for the push */
	bool pushing;       /* a push is running already */
	bool reader_wanted; /* the handle will read again what it published */
	bool pages_current; /* the page cache holds the published value */
	bool page_writer;   /* the writer wrote through the page cache */
	bool alone;         /* the only open file of the node */
	bool shared_lately; /* as in open_facts */
	uint64_t size;      /* of the published value */
};

enum push {
	PUSH_NONE,
	PUSH_TAIL,  /* the last partial page only: the writer's pages hold
	               the rest */
	PUSH_WHOLE, /* the whole value, read from the store */
};

struct publish_choice {
	bool drop_attrs;  /* tell the kernel to forget the node's attributes */
	bool drop_pages;  /* ... and its cached pages */
	enum push push;   /* what goes into the page cache before close returns */
};

/* The largest value a publish copies into the kernel's page cache whole;
 * larger ones are read on demand. */
#define POLICY_PUSH_MAX (64ull << 20)

struct publish_choice kvfs_policy_publish(const struct policy_mount *m,
					  const struct publish_facts *f);

/* An attribute reply for a file's node, as it stands before the store is
 * read. The open file whose size every reply must carry, if any, is the
 * size owner (kvfs_fs_size_owner: a writer through the page cache, else
 * the only open file that has written since its open or last publish). */
struct attr_facts {
	bool asker_view;   /* the asking open file (lseek, fstat with a
	                      handle) is not the owner and sees a size of its
	                      own: an uncommitted writer, an older snapshot */
	bool owner_view;   /* the owner sees a size of its own */
	unsigned int open; /* open files of the node: 0, 1, or more */
	bool only_asker;   /* the one open file is the asker */
	bool only_current; /* ... has not written and saw the latest publish */
};

enum attr_size {
	ATTR_SIZE_STORED, /* the stored value's */
	ATTR_SIZE_ASKER,  /* the asking open file's view: its own, so the
	                     reply must not be cached (a time of 0) */
	ATTR_SIZE_OWNER,  /* the owner's: the kernel's size and pages are
	                     its own */
};

struct attr_choice {
	enum attr_size size;
	/* The reply may give the kernel a size other than the one it holds
	 * (count it in inode->size_events): only a reply with the owner's
	 * size, or the view of the one open file, leaves it as it is. */
	bool moves_size;
};

struct attr_choice kvfs_policy_attr(const struct attr_facts *f);

#endif
