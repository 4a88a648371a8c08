/*
 * cache_policy.c - what the kernel may cache of a file (cache_policy.h).
 */
#include "cache_policy.h"

bool kvfs_policy_attrs_by_level(const struct policy_mount *m)
{
	return !m->sole_writer;
}

double kvfs_policy_attr_timeout(const struct policy_mount *m, bool strong)
{
	if (m->sole_writer)
		return m->timeout;
	return strong ? 0.0 : m->weak_timeout;
}

double kvfs_policy_entry_timeout(const struct policy_mount *m)
{
	return m->sole_writer ? m->timeout : m->weak_timeout;
}

double kvfs_policy_unstored_entry_timeout(const struct policy_mount *m)
{
	return m->sole_writer ? m->timeout : 0.0;
}

/*
 * A writer never joins page-cache readers, nor a node whose name moved
 * on: the kernel would change the readers' size under them (O_TRUNC at
 * open, writes past the end). Everyone else uses the page cache only when
 * every open file of the node sees the same value as the kernel's size
 * and pages do: no writer open or pushing, a size the kernel has right, a
 * snapshot of the latest publish that all open files share, and nothing
 * that says another writer is about (quiet=, a name moved lately, whose
 * writer retries within microseconds). A writer through the page cache
 * must agree with the kernel on the end of the file, so it must have the
 * node to itself and not append (O_APPEND puts its bytes where the
 * daemon, not the kernel, says the end is).
 */
struct open_choice kvfs_policy_open(const struct policy_mount *m,
				    const struct open_facts *f)
{
	struct open_choice c = { .path = OPEN_DIRECT,
				 .pages = PAGES_AS_BEFORE };
	bool direct;

	if (f->writer && (f->name_moved || f->cached_reader)) {
		c.path = OPEN_NEW_NODE;
		return c;
	}
	direct = !m->sole_writer || !m->page_cache || f->writer_open ||
		 f->pushing || f->size_suspect || f->snapshot_behind ||
		 f->other_snapshot || f->shared_lately || f->moved_lately ||
		 (f->writer && (f->others_open || f->append));
	if (direct) {
		if (!f->writer && !f->pages_ours)
			c.pages = PAGES_SUSPECT;
		return c;
	}
	c.path = OPEN_PAGE_CACHE;
	c.keep_pages = f->pages_ours && !f->pages_suspect;
	if (!c.keep_pages)
		c.pages = PAGES_THIS_SNAPSHOT;
	return c;
}

/*
 * Two writers that raced leave the kernel's pages and size to neither:
 * forget both. An attribute reply during the session may have given the
 * kernel the size from before: forget the attributes. A writer that had
 * the node to itself at close (and nobody about lately) hands its value
 * to the kernel's page cache, so that later readers keep it instead of
 * reading it again: the tail page its own writes left short when it wrote
 * through the page cache, else the whole value up to POLICY_PUSH_MAX (the
 * push costs the close its size in copying, a sparse value's holes too).
 * Only where the daemon is the only writer: elsewhere nothing is cached
 * that could go stale this way.
 */
struct publish_choice kvfs_policy_publish(const struct policy_mount *m,
					  const struct publish_facts *f)
{
	struct publish_choice c = { .push = PUSH_NONE };

	if (!m->sole_writer)
		return c;
	c.drop_attrs = f->raced || f->attrs_stale;
	c.drop_pages = f->raced;
	if (!f->published || f->raced || !f->at_close || !m->page_cache ||
	    f->pushing || !f->reader_wanted || !f->alone ||
	    f->shared_lately || (f->pages_current && !f->page_writer))
		return c;
	if (f->page_writer && f->pages_current)
		c.push = PUSH_TAIL;
	else if (f->size <= POLICY_PUSH_MAX)
		c.push = PUSH_WHOLE;
	return c;
}

/*
 * The asker's own view first (lseek to the end by a second writer), else
 * the owner's, whose pages the kernel holds (fstat does not say who
 * asks), else what is stored. tar and cp -p set times and modes while
 * writing, and `cat >>` asks before it appends: a reply that carries the
 * owner's size, or the view of the only open file (which is what the
 * kernel was given at its open), changes nothing the kernel holds.
 */
struct attr_choice kvfs_policy_attr(const struct attr_facts *f)
{
	struct attr_choice c = { .size = ATTR_SIZE_STORED };
	bool sole;

	if (f->asker_view)
		c.size = ATTR_SIZE_ASKER;
	else if (f->owner_view)
		c.size = ATTR_SIZE_OWNER;
	if (c.size == ATTR_SIZE_OWNER)
		return c;
	sole = f->open == 1 &&
	       (c.size == ATTR_SIZE_ASKER ? f->only_asker : f->only_current);
	c.moves_size = !sole;
	return c;
}
