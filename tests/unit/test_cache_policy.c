/*
 * test_cache_policy.c - fs/cache_policy.c: which path an open takes, what
 * a publish tells the kernel, whose size an attribute reply carries and
 * how long the kernel keeps names and attributes, for every fact that
 * decides it, each alone and against the others.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "cache_policy.h"

static const struct policy_mount sole = { .sole_writer = true,
					  .page_cache = true };

/* A reader that opens a node nobody else has open, of the latest value,
 * whose pages came from its snapshot. */
static struct open_facts quiet_reader(void)
{
	return (struct open_facts){ .pages_ours = true };
}

static void test_quiet_reader_keeps_pages(void **state)
{
	struct open_facts f = quiet_reader();
	struct open_choice c = kvfs_policy_open(&sole, &f);

	(void)state;
	assert_int_equal(c.path, OPEN_PAGE_CACHE);
	assert_true(c.keep_pages);
	assert_int_equal(c.pages, PAGES_AS_BEFORE);
}

/* Pages of another snapshot, or suspect ones, are dropped at open and
 * become this snapshot's. */
static void test_reader_drops_foreign_pages(void **state)
{
	struct open_facts f = quiet_reader();
	struct open_choice c;

	(void)state;
	f.pages_ours = false;
	c = kvfs_policy_open(&sole, &f);
	assert_int_equal(c.path, OPEN_PAGE_CACHE);
	assert_false(c.keep_pages);
	assert_int_equal(c.pages, PAGES_THIS_SNAPSHOT);

	f = quiet_reader();
	f.pages_suspect = true;
	c = kvfs_policy_open(&sole, &f);
	assert_int_equal(c.path, OPEN_PAGE_CACHE);
	assert_false(c.keep_pages);
	assert_int_equal(c.pages, PAGES_THIS_SNAPSHOT);
}

/* Each fact that may make the kernel's size or pages disagree with this
 * reader's snapshot sends it to direct I/O on its own. */
static void test_each_fact_sends_a_reader_direct(void **state)
{
	static const size_t facts[] = {
		offsetof(struct open_facts, writer_open),
		offsetof(struct open_facts, pushing),
		offsetof(struct open_facts, size_suspect),
		offsetof(struct open_facts, snapshot_behind),
		offsetof(struct open_facts, other_snapshot),
		offsetof(struct open_facts, shared_lately),
		offsetof(struct open_facts, moved_lately),
	};

	(void)state;
	for (size_t i = 0; i < sizeof(facts) / sizeof(facts[0]); i++) {
		struct open_facts f = quiet_reader();
		struct open_choice c;

		*(bool *)((char *)&f + facts[i]) = true;
		c = kvfs_policy_open(&sole, &f);
		assert_int_equal(c.path, OPEN_DIRECT);
		assert_false(c.keep_pages);
		/* Its snapshot's pages are there: nothing to suspect. */
		assert_int_equal(c.pages, PAGES_AS_BEFORE);
	}
}

/* A direct reader of another snapshot may fill the page cache through a
 * private map: the next page-cache open must not keep those pages. */
static void test_direct_reader_of_other_pages_makes_them_suspect(void **state)
{
	struct open_facts f = quiet_reader();
	struct open_choice c;

	(void)state;
	f.pages_ours = false;
	f.snapshot_behind = true;
	c = kvfs_policy_open(&sole, &f);
	assert_int_equal(c.path, OPEN_DIRECT);
	assert_int_equal(c.pages, PAGES_SUSPECT);
}

/* Readers sharing a snapshot share the page cache: another reader open
 * is no reason for direct I/O. */
static void test_readers_of_one_snapshot_share(void **state)
{
	struct open_facts f = quiet_reader();
	struct open_choice c;

	(void)state;
	f.others_open = true;
	f.cached_reader = true;
	c = kvfs_policy_open(&sole, &f);
	assert_int_equal(c.path, OPEN_PAGE_CACHE);
	assert_true(c.keep_pages);
}

/* Where others write, or -o no_page_cache, every open is direct. */
static void test_mount_without_page_cache(void **state)
{
	const struct policy_mount shared = { .sole_writer = false,
					     .page_cache = true };
	const struct policy_mount off = { .sole_writer = true,
					  .page_cache = false };
	struct open_facts f = quiet_reader();

	(void)state;
	assert_int_equal(kvfs_policy_open(&shared, &f).path, OPEN_DIRECT);
	assert_int_equal(kvfs_policy_open(&off, &f).path, OPEN_DIRECT);
	f.writer = true;
	assert_int_equal(kvfs_policy_open(&shared, &f).path, OPEN_DIRECT);
	assert_int_equal(kvfs_policy_open(&off, &f).path, OPEN_DIRECT);
}

/* A writer alone writes through the page cache; with anyone else open,
 * or appending, directly. */
static void test_writer_paths(void **state)
{
	struct open_facts f = { .writer = true };
	struct open_choice c;

	(void)state;
	c = kvfs_policy_open(&sole, &f);
	assert_int_equal(c.path, OPEN_PAGE_CACHE);
	assert_int_equal(c.pages, PAGES_THIS_SNAPSHOT);

	f.others_open = true; /* direct I/O readers */
	c = kvfs_policy_open(&sole, &f);
	assert_int_equal(c.path, OPEN_DIRECT);
	/* A writer fills no pages of another snapshot. */
	assert_int_equal(c.pages, PAGES_AS_BEFORE);

	f = (struct open_facts){ .writer = true, .append = true };
	assert_int_equal(kvfs_policy_open(&sole, &f).path, OPEN_DIRECT);

	f = (struct open_facts){ .writer = true, .writer_open = true,
				 .others_open = true };
	assert_int_equal(kvfs_policy_open(&sole, &f).path, OPEN_DIRECT);
}

/* A writer never joins page-cache readers or a node whose name moved:
 * it gets a new node, whatever else holds, on any mount. */
static void test_writer_gets_new_node(void **state)
{
	const struct policy_mount shared = { 0 };
	struct open_facts f = { .writer = true, .cached_reader = true,
				.others_open = true };

	(void)state;
	assert_int_equal(kvfs_policy_open(&sole, &f).path, OPEN_NEW_NODE);
	assert_int_equal(kvfs_policy_open(&shared, &f).path, OPEN_NEW_NODE);
	f = (struct open_facts){ .writer = true, .name_moved = true };
	assert_int_equal(kvfs_policy_open(&sole, &f).path, OPEN_NEW_NODE);
	/* Readers of a moved node keep reading it. */
	f.writer = false;
	assert_int_not_equal(kvfs_policy_open(&sole, &f).path, OPEN_NEW_NODE);
}

/* ------------------------------------------------------------ publish */

/* A writer alone at close, through direct I/O, of a 1 KiB value. */
static struct publish_facts lone_close(void)
{
	return (struct publish_facts){ .published = true, .at_close = true,
				       .reader_wanted = true, .alone = true,
				       .size = 1024 };
}

static void test_lone_close_pushes_whole_value(void **state)
{
	struct publish_facts f = lone_close();
	struct publish_choice c = kvfs_policy_publish(&sole, &f);

	(void)state;
	assert_int_equal(c.push, PUSH_WHOLE);
	assert_false(c.drop_attrs);
	assert_false(c.drop_pages);
}

/* A page writer's pages hold its value but for the last partial page. */
static void test_page_writer_pushes_tail(void **state)
{
	struct publish_facts f = lone_close();

	(void)state;
	f.page_writer = true;
	f.pages_current = true;
	assert_int_equal(kvfs_policy_publish(&sole, &f).push, PUSH_TAIL);
	/* ... also when large: only a page goes. */
	f.size = POLICY_PUSH_MAX + 1;
	assert_int_equal(kvfs_policy_publish(&sole, &f).push, PUSH_TAIL);
	/* Pages not current (dropped meanwhile): the whole value. */
	f.size = 1024;
	f.pages_current = false;
	assert_int_equal(kvfs_policy_publish(&sole, &f).push, PUSH_WHOLE);
}

static void test_push_size_bound(void **state)
{
	struct publish_facts f = lone_close();

	(void)state;
	f.size = POLICY_PUSH_MAX;
	assert_int_equal(kvfs_policy_publish(&sole, &f).push, PUSH_WHOLE);
	f.size = POLICY_PUSH_MAX + 1;
	assert_int_equal(kvfs_policy_publish(&sole, &f).push, PUSH_NONE);
}

/* Each fact that makes a push pointless or unsafe stops it alone. */
static void test_each_fact_stops_the_push(void **state)
{
	struct publish_facts f;

	(void)state;
	f = lone_close(); f.published = false;
	assert_int_equal(kvfs_policy_publish(&sole, &f).push, PUSH_NONE);
	f = lone_close(); f.at_close = false; /* fsync, release */
	assert_int_equal(kvfs_policy_publish(&sole, &f).push, PUSH_NONE);
	f = lone_close(); f.pushing = true;
	assert_int_equal(kvfs_policy_publish(&sole, &f).push, PUSH_NONE);
	f = lone_close(); f.reader_wanted = false;
	assert_int_equal(kvfs_policy_publish(&sole, &f).push, PUSH_NONE);
	f = lone_close(); f.alone = false;
	assert_int_equal(kvfs_policy_publish(&sole, &f).push, PUSH_NONE);
	f = lone_close(); f.shared_lately = true;
	assert_int_equal(kvfs_policy_publish(&sole, &f).push, PUSH_NONE);
	f = lone_close(); f.pages_current = true; /* there already */
	assert_int_equal(kvfs_policy_publish(&sole, &f).push, PUSH_NONE);
	f = lone_close();
	{
		const struct policy_mount off = { .sole_writer = true };

		assert_int_equal(kvfs_policy_publish(&off, &f).push,
				 PUSH_NONE);
	}
}

/* Raced writers: attributes and pages dropped, nothing pushed. A stale
 * attribute reply: attributes dropped, the push still made. */
static void test_invalidations(void **state)
{
	struct publish_facts f = lone_close();
	struct publish_choice c;

	(void)state;
	f.raced = true;
	c = kvfs_policy_publish(&sole, &f);
	assert_true(c.drop_attrs);
	assert_true(c.drop_pages);
	assert_int_equal(c.push, PUSH_NONE);

	f = lone_close();
	f.attrs_stale = true;
	c = kvfs_policy_publish(&sole, &f);
	assert_true(c.drop_attrs);
	assert_false(c.drop_pages);
	assert_int_equal(c.push, PUSH_WHOLE);

	/* A failed publish that raced still drops what the other left. */
	f = lone_close();
	f.published = false;
	f.raced = true;
	c = kvfs_policy_publish(&sole, &f);
	assert_true(c.drop_attrs);
	assert_true(c.drop_pages);
}

/* Where others write, the kernel caches nothing a publish could leave
 * stale: nothing to drop, nothing to push. */
static void test_shared_store_publish(void **state)
{
	const struct policy_mount shared = { .page_cache = true };
	struct publish_facts f = lone_close();
	struct publish_choice c;

	(void)state;
	f.raced = true;
	f.attrs_stale = true;
	c = kvfs_policy_publish(&shared, &f);
	assert_false(c.drop_attrs);
	assert_false(c.drop_pages);
	assert_int_equal(c.push, PUSH_NONE);
}

/* --------------------------------------------------- attribute replies */

/* Nothing open: the stored size, which may differ from the kernel's
 * (another open's publish since), so the reply counts. */
static void test_attr_nothing_open(void **state)
{
	struct attr_facts f = { 0 };
	struct attr_choice c = kvfs_policy_attr(&f);

	(void)state;
	assert_int_equal(c.size, ATTR_SIZE_STORED);
	assert_true(c.moves_size);
}

/* The one open file, unwritten and of the latest value: its size is the
 * stored one and the kernel's already. */
static void test_attr_one_current_reader(void **state)
{
	struct attr_facts f = { .open = 1, .only_current = true };
	struct attr_choice c = kvfs_policy_attr(&f);

	(void)state;
	assert_int_equal(c.size, ATTR_SIZE_STORED);
	assert_false(c.moves_size);
	f.open = 2;
	assert_true(kvfs_policy_attr(&f).moves_size);
}

/* The owner's size is what the kernel holds, whoever else is open. */
static void test_attr_owner(void **state)
{
	struct attr_facts f = { .owner_view = true, .open = 3 };
	struct attr_choice c = kvfs_policy_attr(&f);

	(void)state;
	assert_int_equal(c.size, ATTR_SIZE_OWNER);
	assert_false(c.moves_size);
}

/* The asker's own view beats the owner's; it moves the kernel's size
 * unless the asker is the only open file. */
static void test_attr_asker(void **state)
{
	struct attr_facts f = { .asker_view = true, .owner_view = true,
				.open = 2 };
	struct attr_choice c = kvfs_policy_attr(&f);

	(void)state;
	assert_int_equal(c.size, ATTR_SIZE_ASKER);
	assert_true(c.moves_size);
	f = (struct attr_facts){ .asker_view = true, .open = 1,
				 .only_asker = true };
	c = kvfs_policy_attr(&f);
	assert_int_equal(c.size, ATTR_SIZE_ASKER);
	assert_false(c.moves_size);
	/* An asker that is the one open file but has written since: its
	 * view still, and the kernel was given it. */
	f.only_current = false;
	assert_false(kvfs_policy_attr(&f).moves_size);
}

/* An owner without a size of its own: the stored size, counted unless
 * the one open file is current. */
static void test_attr_owner_without_view(void **state)
{
	struct attr_facts f = { .open = 1 };

	(void)state;
	assert_int_equal(kvfs_policy_attr(&f).size, ATTR_SIZE_STORED);
	assert_true(kvfs_policy_attr(&f).moves_size);
}

/* ------------------------------------------------------------ timeouts */

static void test_timeouts_sole_writer(void **state)
{
	const struct policy_mount m = { .sole_writer = true, .timeout = 86400,
					.weak_timeout = 1 };

	(void)state;
	/* The daemon invalidates what it changes: a day, whatever the level,
	 * which then need not be looked up. */
	assert_false(kvfs_policy_attrs_by_level(&m));
	assert_true(kvfs_policy_attr_timeout(&m, true) == 86400);
	assert_true(kvfs_policy_attr_timeout(&m, false) == 86400);
	assert_true(kvfs_policy_entry_timeout(&m) == 86400);
	assert_true(kvfs_policy_unstored_entry_timeout(&m) == 86400);
}

static void test_timeouts_shared_store(void **state)
{
	const struct policy_mount m = { .timeout = 86400, .weak_timeout = 1.5 };

	(void)state;
	assert_true(kvfs_policy_attrs_by_level(&m));
	/* Every stat of a strong file asks the store. */
	assert_true(kvfs_policy_attr_timeout(&m, true) == 0);
	assert_true(kvfs_policy_attr_timeout(&m, false) == 1.5);
	assert_true(kvfs_policy_entry_timeout(&m) == 1.5);
	/* A name not yet stored may vanish with a failed first publish. */
	assert_true(kvfs_policy_unstored_entry_timeout(&m) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quiet_reader_keeps_pages),
		cmocka_unit_test(test_reader_drops_foreign_pages),
		cmocka_unit_test(test_each_fact_sends_a_reader_direct),
		cmocka_unit_test(test_direct_reader_of_other_pages_makes_them_suspect),
		cmocka_unit_test(test_readers_of_one_snapshot_share),
		cmocka_unit_test(test_mount_without_page_cache),
		cmocka_unit_test(test_writer_paths),
		cmocka_unit_test(test_writer_gets_new_node),
		cmocka_unit_test(test_lone_close_pushes_whole_value),
		cmocka_unit_test(test_page_writer_pushes_tail),
		cmocka_unit_test(test_push_size_bound),
		cmocka_unit_test(test_each_fact_stops_the_push),
		cmocka_unit_test(test_invalidations),
		cmocka_unit_test(test_shared_store_publish),
		cmocka_unit_test(test_attr_nothing_open),
		cmocka_unit_test(test_attr_one_current_reader),
		cmocka_unit_test(test_attr_owner),
		cmocka_unit_test(test_attr_asker),
		cmocka_unit_test(test_attr_owner_without_view),
		cmocka_unit_test(test_timeouts_sole_writer),
		cmocka_unit_test(test_timeouts_shared_store),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
