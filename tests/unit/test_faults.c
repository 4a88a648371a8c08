/*
 * test_faults.c - the fault-injection layer (faults=PATH, lib/src/faults.c,
 * lib/docs/faults.md) over the local backend: every store call it names
 * fails with the code a rule gives, as many times as the rule says, only
 * for the key it names, and then works again; nothing stored changes by
 * a failed call; rules are read again when the file changes and dropped
 * when it goes; wrong lines are skipped; injected failures count in the
 * store's statistics; with cache=SIZE the faults sit below the cache.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <kvfs/backend.h>

#include "testutil.h"

struct fixture {
	char *base;  /* holds root/ and the rules file */
	char *root;
	char *rules;
	struct kvfs_store *store;
};

static int open_store(struct fixture *fx, const char *extra,
		      struct kvfs_store **out)
{
	struct kvfs_options *opts = NULL;
	int rc = kvfs_options_new(&opts);

	if (rc == 0)
		rc = kvfs_options_set(opts, "root", fx->root);
	if (rc == 0)
		rc = kvfs_options_set(opts, "faults", fx->rules);
	if (rc == 0 && extra)
		rc = kvfs_options_parse(opts, extra);
	if (rc == 0)
		rc = kvfs_store_open(opts, out);
	if (rc == 0 && kvfs_options_check_all_taken(opts)) {
		kvfs_store_close(*out);
		rc = KVFS_EINVAL;
	}
	kvfs_options_free(opts);
	return rc;
}

/* Replace the rules file as tests are told to: a new file renamed over. */
static void set_rules(struct fixture *fx, const char *text)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.new", fx->rules);
	f = fopen(tmp, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, fx->rules), 0);
}

static void assert_stored(struct kvfs_store *s, const char *key,
			  const char *want)
{
	struct kvfs_buf got = { 0 };

	assert_int_equal(kvfs_store_get(s, key, KVFS_STRONG, &got), 0);
	assert_int_equal(got.len, strlen(want));
	assert_memory_equal(got.data, want, got.len);
	kvfs_buf_free(&got);
}

static void put(struct kvfs_store *s, const char *key, const char *value)
{
	assert_int_equal(kvfs_store_put(s, key, value, strlen(value),
					KVFS_STRONG), 0);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	fx->base = kvfs_test_mkdtemp("faults");
	if (!fx->base || asprintf(&fx->root, "%s/root", fx->base) < 0 ||
	    asprintf(&fx->rules, "%s/rules", fx->base) < 0 ||
	    mkdir(fx->root, 0755))
		return -1;
	if (open_store(fx, NULL, &fx->store)) {
		print_message("cannot open the store: %s\n",
			      kvfs_error_message());
		return -1;
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	kvfs_store_close(fx->store);
	kvfs_test_rmtree(fx->base);
	free(fx->base);
	free(fx->root);
	free(fx->rules);
	free(fx);
	return 0;
}

/* No rules file, or an empty one: the store works as without the option. */
static void test_no_rules_no_faults(void **state)
{
	struct fixture *fx = *state;

	put(fx->store, "k", "v");
	assert_stored(fx->store, "k", "v");
	set_rules(fx, "# nothing\n\n");
	put(fx->store, "k", "w");
	assert_stored(fx->store, "k", "w");
}

/* "put ENOSPACE 1": the next put fails with that code and a message that
 * says it was injected; the old value stays; the put after it works. */
static void test_count_then_works_again(void **state)
{
	struct fixture *fx = *state;

	put(fx->store, "k", "old");
	set_rules(fx, "put ENOSPACE 1\n");
	assert_int_equal(kvfs_store_put(fx->store, "k", "new", 3, KVFS_STRONG),
			 KVFS_ENOSPACE);
	assert_non_null(strstr(kvfs_error_message(), "put k"));
	assert_non_null(strstr(kvfs_error_message(), "injected by faults="));
	assert_stored(fx->store, "k", "old");
	put(fx->store, "k", "new");
	assert_stored(fx->store, "k", "new");

	/* A count of 2 fails two calls; KVFS_ prefixes are accepted. */
	set_rules(fx, "delete KVFS_ETIMEDOUT 2\n");
	assert_int_equal(kvfs_store_delete(fx->store, "k", KVFS_STRONG),
			 KVFS_ETIMEDOUT);
	assert_int_equal(kvfs_store_delete(fx->store, "k", KVFS_STRONG),
			 KVFS_ETIMEDOUT);
	assert_stored(fx->store, "k", "new");
	assert_int_equal(kvfs_store_delete(fx->store, "k", KVFS_STRONG), 0);
}

/* Without a count (or with "*"), every matching call fails, until the
 * file changes; a rule with a key fails only calls naming that key. */
static void test_always_and_by_key(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_stat st;

	put(fx->store, "a", "1");
	put(fx->store, "dir/b c", "2");
	set_rules(fx, "stat EUNAVAILABLE * dir/b c\nget ECONFLICT\n");
	for (int i = 0; i < 3; i++)
		assert_int_equal(kvfs_store_stat(fx->store, "dir/b c",
						 KVFS_STRONG, &st),
				 KVFS_EUNAVAILABLE);
	assert_int_equal(kvfs_store_stat(fx->store, "a", KVFS_STRONG, &st), 0);
	assert_int_equal(st.size, 1);
	for (int i = 0; i < 3; i++) {
		struct kvfs_buf got = { 0 };

		assert_int_equal(kvfs_store_get(fx->store, "a", KVFS_STRONG,
						&got), KVFS_ECONFLICT);
	}
	/* The rules go with the file. */
	assert_int_equal(unlink(fx->rules), 0);
	assert_int_equal(kvfs_store_stat(fx->store, "dir/b c", KVFS_STRONG,
					 &st), 0);
	assert_stored(fx->store, "a", "1");
}

/* A failed commit (the publish of a writer) leaves the old value and no
 * trace in the listing; the writer is freed; the next writer works. A
 * failed pwrite and truncate of a writer fail that call only. */
static void test_writer_faults(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_writer *w = NULL;
	struct kvfs_lister *l = NULL;
	struct kvfs_dirent ent;
	int names = 0;

	put(fx->store, "v", "old");
	set_rules(fx, "writer_commit EFAIL 1\nwriter_pwrite ENOSPACE 1\n"
		      "writer_truncate ETOOLARGE 1\n");
	assert_int_equal(kvfs_store_open_writer(fx->store, "v", KVFS_STRONG,
						NULL, &w), 0);
	assert_int_equal(kvfs_writer_pwrite(w, "new", 3, 0), KVFS_ENOSPACE);
	assert_int_equal(kvfs_writer_pwrite(w, "new", 3, 0), 3);
	assert_int_equal(kvfs_writer_truncate(w, 100), KVFS_ETOOLARGE);
	assert_int_equal(kvfs_writer_size(w), 3);
	assert_int_equal(kvfs_writer_commit(w), KVFS_EFAIL);
	assert_stored(fx->store, "v", "old");
	assert_int_equal(kvfs_store_list(fx->store, "", KVFS_STRONG, &l), 0);
	while (kvfs_lister_next(l, &ent) == 1) {
		assert_string_equal(ent.name, "v");
		names++;
	}
	kvfs_lister_close(l);
	assert_int_equal(names, 1);

	assert_int_equal(kvfs_store_open_writer(fx->store, "v", KVFS_STRONG,
						NULL, &w), 0);
	assert_int_equal(kvfs_writer_pwrite(w, "new", 3, 0), 3);
	assert_int_equal(kvfs_writer_commit(w), 0);
	assert_stored(fx->store, "v", "new");
}

/* Every store call a rule can name fails through its wrapper, once. */
static void test_every_call(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_store *s = fx->store;
	struct kvfs_buf buf = { 0 };
	struct kvfs_stat st;
	struct kvfs_reader *r = NULL;
	struct kvfs_writer *w = NULL;
	struct kvfs_lister *l = NULL;
	struct kvfs_space space;
	struct timespec t = { 1000000000, 0 };

	put(s, "f", "x");
	assert_int_equal(kvfs_store_mkdir(s, "d", 0755, KVFS_STRONG), 0);
	assert_int_equal(kvfs_store_setxattr(s, "f", "user.a", "1", 1, 0), 0);
	set_rules(fx, "mkdir EFAIL 1\nrmdir EFAIL 1\nrename EFAIL 1\n"
		      "set_attr EFAIL 1\ngetxattr EFAIL 1\nsetxattr EFAIL 1\n"
		      "listxattr EFAIL 1\nremovexattr EFAIL 1\nlist EFAIL 1\n"
		      "open_reader EFAIL 1\nopen_writer EFAIL 1\n"
		      "space EFAIL 1\n");
	for (int round = 0; round < 2; round++) {
		int want = round == 0 ? KVFS_EFAIL : 0;

		assert_int_equal(kvfs_store_mkdir(s, "e", 0755, KVFS_STRONG),
				 want);
		assert_int_equal(kvfs_store_rmdir(s, "d", KVFS_STRONG), want);
		assert_int_equal(kvfs_store_rename(s, "f", "g", 0, KVFS_STRONG),
				 want);
		assert_int_equal(kvfs_store_rename(s, "g", "f", 0, KVFS_STRONG),
				 round == 0 ? KVFS_ENOTFOUND : 0);
		assert_int_equal(kvfs_store_set_attr(s, "f", KVFS_ATTR_MTIME, 0,
						     &t, KVFS_STRONG), want);
		assert_int_equal(kvfs_store_getxattr(s, "f", "user.a", &buf),
				 want);
		kvfs_buf_free(&buf);
		assert_int_equal(kvfs_store_setxattr(s, "f", "user.b", "2", 1,
						     0), want);
		assert_int_equal(kvfs_store_listxattr(s, "f", &buf), want);
		kvfs_buf_free(&buf);
		assert_int_equal(kvfs_store_removexattr(s, "f", "user.a"),
				 want);
		assert_int_equal(kvfs_store_list(s, "", KVFS_STRONG, &l), want);
		kvfs_lister_close(l);
		l = NULL;
		assert_int_equal(kvfs_store_open_reader(s, "f", KVFS_STRONG,
							&r), want);
		kvfs_reader_close(r);
		r = NULL;
		assert_int_equal(kvfs_store_open_writer(s, "f", KVFS_STRONG,
							NULL, &w), want);
		kvfs_writer_abort(w);
		w = NULL;
		assert_int_equal(kvfs_store_space(s, &space), want);
	}
	/* What the failed calls would have changed is unchanged by them:
	 * the second round made "e", removed "d", moved f to g and back. */
	assert_int_equal(kvfs_store_stat(s, "e", KVFS_STRONG, &st), 0);
	assert_int_equal(kvfs_store_stat(s, "d", KVFS_STRONG, &st),
			 KVFS_ENOTFOUND);
	assert_int_equal(kvfs_store_stat(s, "f", KVFS_STRONG, &st), 0);
	assert_int_equal(st.mtime.tv_sec, t.tv_sec);
	assert_int_equal(kvfs_store_getxattr(s, "f", "user.a", &buf),
			 KVFS_ENODATA);
	assert_int_equal(kvfs_store_getxattr(s, "f", "user.b", &buf), 0);
	kvfs_buf_free(&buf);
}

/* Wrong lines are skipped with a warning; the good ones still apply. */
static void test_wrong_lines_skipped(void **state)
{
	struct fixture *fx = *state;

	put(fx->store, "k", "old");
	set_rules(fx, "frobnicate EFAIL 1\nput ENOSUCH 1\nput EFAIL many\n"
		      "put EFAIL -1\nput\n  \nput ENOSPACE 1 k\n");
	assert_int_equal(kvfs_store_put(fx->store, "other", "x", 1,
					KVFS_STRONG), 0);
	assert_int_equal(kvfs_store_put(fx->store, "k", "new", 3, KVFS_STRONG),
			 KVFS_ENOSPACE);
	put(fx->store, "k", "new");
	assert_stored(fx->store, "k", "new");
}

/* Injected failures count as errors of the call's level, as a
 * backend's failures do (user.kvfs.stats shows them). */
static void test_counted_in_stats(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_level_stats before, after;

	kvfs_store_level_stats(fx->store, KVFS_EVENTUAL, &before);
	set_rules(fx, "put EUNAVAILABLE 1\n");
	assert_int_equal(kvfs_store_put(fx->store, "k", "v", 1, KVFS_EVENTUAL),
			 KVFS_EUNAVAILABLE);
	kvfs_store_level_stats(fx->store, KVFS_EVENTUAL, &after);
	assert_int_equal(after.ops, before.ops + 1);
	assert_int_equal(after.errors, before.errors + 1);
}

/* With cache=SIZE the faults are those of the backend below the cache:
 * a put that fails there fails, and the cache serves no value of it. */
static void test_below_the_cache(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_store *s = NULL;

	kvfs_store_close(fx->store);
	fx->store = NULL;
	assert_int_equal(open_store(fx, "cache=64K", &s), 0);
	fx->store = s;
	assert_string_equal(kvfs_store_backend_name(s), "cache");
	put(s, "k", "old");
	set_rules(fx, "put ENOSPACE 1 k\n");
	assert_int_equal(kvfs_store_put(s, "k", "new", 3, KVFS_READ_YOUR_WRITES),
			 KVFS_ENOSPACE);
	assert_stored(s, "k", "old");
	{
		struct kvfs_buf got = { 0 };

		assert_int_equal(kvfs_store_get(s, "k", KVFS_READ_YOUR_WRITES,
						&got), 0);
		assert_int_equal(got.len, 3);
		assert_memory_equal(got.data, "old", 3);
		kvfs_buf_free(&got);
	}
}

/* The cache passes the failures of the backend below it through, and
 * what it serves after them is what the backend holds: a reader, a
 * writer, a publish and space figures that fail there fail here. */
static void test_cache_passes_failures_on(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_store *s = NULL;
	struct kvfs_reader *r = NULL;
	struct kvfs_writer *w = NULL;
	struct kvfs_space space;
	char path[4096], buf[16];
	FILE *f;

	kvfs_store_close(fx->store);
	fx->store = NULL;
	assert_int_equal(open_store(fx, "cache=64K", &s), 0);
	fx->store = s;
	/* Written behind the cache, as another writer would. */
	snprintf(path, sizeof(path), "%s/other", fx->root);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("theirs", f);
	assert_int_equal(fclose(f), 0);
	set_rules(fx, "open_reader EUNAVAILABLE 1 other\n");
	assert_int_equal(kvfs_store_open_reader(s, "other", KVFS_STRONG, &r),
			 KVFS_EUNAVAILABLE);
	assert_int_equal(kvfs_store_open_reader(s, "other", KVFS_STRONG, &r),
			 0);
	assert_int_equal(kvfs_reader_pread(r, buf, sizeof(buf), 0), 6);
	assert_memory_equal(buf, "theirs", 6);
	kvfs_reader_close(r);

	put(s, "k", "old");
	set_rules(fx, "open_writer ENOSPACE 1 k\n");
	assert_int_equal(kvfs_store_open_writer(s, "k", KVFS_READ_YOUR_WRITES,
						NULL, &w), KVFS_ENOSPACE);
	set_rules(fx, "writer_commit ENOSPACE 1\n");
	assert_int_equal(kvfs_store_open_writer(s, "k", KVFS_READ_YOUR_WRITES,
						NULL, &w), 0);
	assert_int_equal(kvfs_writer_pwrite(w, "new", 3, 0), 3);
	assert_int_equal(kvfs_writer_commit(w), KVFS_ENOSPACE);
	assert_stored(s, "k", "old");

	set_rules(fx, "space ETIMEDOUT 1\n");
	assert_int_equal(kvfs_store_space(s, &space), KVFS_ETIMEDOUT);
	assert_int_equal(kvfs_store_space(s, &space), 0);
	assert_true(space.blocks > 0);
}

/* faults= without a path is refused at open, naming the option. */
static void test_empty_path_refused(void **state)
{
	struct fixture *fx = *state;
	struct kvfs_options *opts = NULL;
	struct kvfs_store *s = NULL;

	assert_int_equal(kvfs_options_new(&opts), 0);
	assert_int_equal(kvfs_options_set(opts, "root", fx->root), 0);
	assert_int_equal(kvfs_options_set(opts, "faults", ""), 0);
	assert_int_equal(kvfs_store_open(opts, &s), KVFS_EINVAL);
	assert_non_null(strstr(kvfs_error_message(), "faults"));
	kvfs_options_free(opts);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_no_rules_no_faults),
		T(test_count_then_works_again),
		T(test_always_and_by_key),
		T(test_writer_faults),
		T(test_every_call),
		T(test_wrong_lines_skipped),
		T(test_counted_in_stats),
		T(test_below_the_cache),
		T(test_cache_passes_failures_on),
		T(test_empty_path_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
