/*
 * test_sqlite.c - what the SQLite plugin promises beyond the conformance
 * suite: listings page through directories larger than a page, a
 * directory rename moves the whole tree with its attributes, values
 * survive a reopen, every key lives in the one database file, versions
 * change with values, and concurrent threads share one connection safely.
 */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <kvfs/backend.h>

#include "testutil.h"

struct fixture {
	char *dir;
	char db[512];
	struct kvfs_store *store;
};

static struct kvfs_store *open_db(const char *db)
{
	struct kvfs_options *opts = NULL;
	struct kvfs_store *store = NULL;
	char popts[600];

	snprintf(popts, sizeof(popts), "db=%s;sync=false", db);
	assert_int_equal(kvfs_options_new(&opts), 0);
	assert_int_equal(kvfs_options_set(opts, "backend", "plugin"), 0);
	assert_int_equal(kvfs_options_set(opts, "plugin", SQLITE_PLUGIN), 0);
	assert_int_equal(kvfs_options_set(opts, "plugin_opts", popts), 0);
	if (kvfs_store_open(opts, &store))
		fail_msg("open %s: %s", db, kvfs_error_message());
	kvfs_options_free(opts);
	return store;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->dir = kvfs_test_mkdtemp("sqlite");
	if (!f->dir)
		return -1;
	snprintf(f->db, sizeof(f->db), "%s/kv.db", f->dir);
	f->store = open_db(f->db);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	kvfs_store_close(f->store);
	kvfs_test_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static void put(struct kvfs_store *s, const char *key, const char *value)
{
	if (kvfs_store_put(s, key, value, strlen(value), KVFS_STRONG))
		fail_msg("put %s: %s", key, kvfs_error_message());
}

static void expect(struct kvfs_store *s, const char *key, const char *want)
{
	struct kvfs_buf out = { 0 };

	if (kvfs_store_get(s, key, KVFS_STRONG, &out))
		fail_msg("get %s: %s", key, kvfs_error_message());
	assert_int_equal(out.len, strlen(want));
	assert_memory_equal(out.data, want, out.len);
	kvfs_buf_free(&out);
}

static void test_list_pages(void **state)
{
	struct fixture *f = *state;
	enum { N = 1500 };
	static bool seen[N];
	struct kvfs_lister *l = NULL;
	struct kvfs_dirent ent;
	char key[64];
	int n = 0, rc, dirs = 0;

	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "big/%05d", i);
		put(f->store, key, "x");
	}
	put(f->store, "big/sub/deeper", "y");
	put(f->store, "bigger", "not a child");
	assert_int_equal(kvfs_store_list(f->store, "big", KVFS_STRONG, &l), 0);
	while ((rc = kvfs_lister_next(l, &ent)) == 1) {
		if (ent.kind == KVFS_KIND_DIR) {
			assert_string_equal(ent.name, "sub");
			dirs++;
			continue;
		}
		int i = atoi(ent.name);

		assert_true(i >= 0 && i < N);
		assert_false(seen[i]);
		seen[i] = true;
		n++;
	}
	assert_int_equal(rc, 0);
	kvfs_lister_close(l);
	assert_int_equal(n, N);
	assert_int_equal(dirs, 1);
}

static void test_rename_tree(void **state)
{
	struct fixture *f = *state;
	struct kvfs_buf out = { 0 };
	struct kvfs_stat st;

	put(f->store, "src/a", "1");
	put(f->store, "src/d/b", "2");
	put(f->store, "src/d/e/c", "3");
	put(f->store, "srcx", "sibling");
	assert_int_equal(kvfs_store_setxattr(f->store, "src/d/b", "user.tag",
					     "t", 1, 0), 0);
	assert_int_equal(kvfs_store_rename(f->store, "src", "dst/moved", 0,
					   KVFS_STRONG), 0);
	expect(f->store, "dst/moved/a", "1");
	expect(f->store, "dst/moved/d/b", "2");
	expect(f->store, "dst/moved/d/e/c", "3");
	expect(f->store, "srcx", "sibling");
	assert_int_equal(kvfs_store_stat(f->store, "src", KVFS_STRONG, &st),
			 KVFS_ENOTFOUND);
	assert_int_equal(kvfs_store_stat(f->store, "dst/moved/d/e", KVFS_STRONG,
					 &st), 0);
	assert_int_equal(st.kind, KVFS_KIND_DIR);
	assert_int_equal(kvfs_store_getxattr(f->store, "dst/moved/d/b",
					     "user.tag", &out), 0);
	assert_memory_equal(out.data, "t", 1);
	kvfs_buf_free(&out);
	assert_int_equal(kvfs_store_getxattr(f->store, "src/d/b", "user.tag",
					     &out), KVFS_ENOTFOUND);
	/* Into itself: refused, nothing moved. */
	assert_int_equal(kvfs_store_rename(f->store, "dst", "dst/moved/x", 0,
					   KVFS_STRONG), KVFS_EINVAL);
	expect(f->store, "dst/moved/a", "1");
}

static void test_survives_reopen(void **state)
{
	struct fixture *f = *state;
	struct kvfs_buf out = { 0 };

	put(f->store, "kept/value", "still here");
	assert_int_equal(kvfs_store_setxattr(f->store, "kept", "user.x", "1", 1,
					     0), 0);
	kvfs_store_close(f->store);
	f->store = open_db(f->db);
	expect(f->store, "kept/value", "still here");
	assert_int_equal(kvfs_store_getxattr(f->store, "kept", "user.x", &out),
			 0);
	kvfs_buf_free(&out);
}

static void test_one_file(void **state)
{
	struct fixture *f = *state;
	struct dirent *de;
	char key[64];
	DIR *d;

	for (int i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "d%d/k%d", i % 7, i);
		put(f->store, key, "v");
	}
	d = opendir(f->dir);
	assert_non_null(d);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (strcmp(de->d_name, "kv.db") && strcmp(de->d_name, "kv.db-wal") &&
		    strcmp(de->d_name, "kv.db-shm"))
			fail_msg("unexpected file %s beside the database",
				 de->d_name);
	}
	closedir(d);
}

static void test_versions(void **state)
{
	struct fixture *f = *state;
	struct kvfs_stat a, b;

	put(f->store, "v", "1");
	assert_int_equal(kvfs_store_stat(f->store, "v", KVFS_STRONG, &a), 0);
	assert_true(a.version != 0);
	assert_int_equal(kvfs_store_stat(f->store, "v", KVFS_STRONG, &b), 0);
	assert_true(a.version == b.version);
	put(f->store, "v", "2");
	assert_int_equal(kvfs_store_stat(f->store, "v", KVFS_STRONG, &b), 0);
	assert_true(a.version != b.version);
	assert_int_equal(b.mode, 0644);
}

static void test_two_connections(void **state)
{
	struct fixture *f = *state;
	struct kvfs_store *other = open_db(f->db);

	put(f->store, "shared", "from one");
	expect(other, "shared", "from one");
	put(other, "shared", "from two");
	expect(f->store, "shared", "from two");
	kvfs_store_close(other);
}

struct worker {
	struct kvfs_store *store;
	int id;
	int failures;
};

static void *work(void *p)
{
	struct worker *w = p;
	struct kvfs_buf out = { 0 };
	char key[64], value[64];

	for (int i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "t%d/k%d", w->id, i);
		snprintf(value, sizeof(value), "%d-%d", w->id, i);
		if (kvfs_store_put(w->store, key, value, strlen(value),
				   KVFS_STRONG) ||
		    kvfs_store_get(w->store, key, KVFS_STRONG, &out) ||
		    out.len != strlen(value) || memcmp(out.data, value, out.len))
			w->failures++;
		kvfs_buf_free(&out);
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct fixture *f = *state;
	struct worker w[4];
	pthread_t t[4];

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ f->store, i, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
}

static void test_too_large(void **state)
{
	struct fixture *f = *state;
	size_t len = (16u << 20) + 1;
	char *big = calloc(1, len);

	assert_non_null(big);
	assert_int_equal(kvfs_store_put(f->store, "big", big, len, KVFS_STRONG),
			 KVFS_ETOOLARGE);
	free(big);
}

/* Moves and directory operations that cannot be done are refused with
 * the error a filesystem gives, and change nothing. */
static void test_refusals(void **state)
{
	struct fixture *f = *state;
	struct kvfs_store *s = f->store;

	put(s, "file", "v");
	put(s, "dir/inner", "i");
	assert_int_equal(kvfs_store_rename(s, "file", "dir", 0, KVFS_STRONG),
			 KVFS_EISDIR);
	assert_int_equal(kvfs_store_rename(s, "dir", "file", 0, KVFS_STRONG),
			 KVFS_ENOTDIR);
	assert_int_equal(kvfs_store_rename(s, "missing", "x", 0, KVFS_STRONG),
			 KVFS_ENOTFOUND);
	assert_int_equal(kvfs_store_rename(s, "file", "file/below", 0,
					   KVFS_STRONG), KVFS_ENOTDIR);
	/* Onto itself: nothing to do, unless it must not exist. */
	assert_int_equal(kvfs_store_rename(s, "file", "file", 0, KVFS_STRONG),
			 0);
	assert_int_equal(kvfs_store_rename(s, "file", "file",
					   KVFS_RENAME_NOREPLACE, KVFS_STRONG),
			 KVFS_EEXISTS);
	assert_int_equal(kvfs_store_put(s, "file/x", "y", 1, KVFS_STRONG),
			 KVFS_ENOTDIR);
	assert_int_equal(kvfs_store_put(s, "dir", "y", 1, KVFS_STRONG),
			 KVFS_EISDIR);
	assert_int_equal(kvfs_store_mkdir(s, "dir", 0755, KVFS_STRONG),
			 KVFS_EEXISTS);
	assert_int_equal(kvfs_store_mkdir(s, "no/such", 0755, KVFS_STRONG),
			 KVFS_ENOTFOUND);
	assert_int_equal(kvfs_store_mkdir(s, "file/sub", 0755, KVFS_STRONG),
			 KVFS_ENOTDIR);
	assert_int_equal(kvfs_store_rmdir(s, "dir", KVFS_STRONG),
			 KVFS_ENOTEMPTY);
	assert_int_equal(kvfs_store_rmdir(s, "file", KVFS_STRONG),
			 KVFS_ENOTDIR);
	expect(s, "file", "v");
	expect(s, "dir/inner", "i");
}

/* The plugin's own options: each bad one is refused with a message. */
static void test_bad_options(void **state)
{
	struct fixture *f = *state;
	struct {
		const char *popts;
		int code;
		const char *fragment;
	} cases[] = {
		{ "sync=false", KVFS_EINVAL, "db=" },
		{ "db=", KVFS_EINVAL, "db=" },
		{ "db=%s/no/such/dir/kv.db", KVFS_EUNAVAILABLE, "no/such/dir" },
		{ "db=%s/text.db", KVFS_EINVAL, "text.db" },
		{ "db=%s/ok.db;sync=maybe", KVFS_EINVAL, "sync=maybe" },
		{ "db=%s/ok.db;max_value=big", KVFS_EINVAL, "max_value=big" },
	};
	char path[600], popts[700];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/text.db", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	for (int i = 0; i < 200; i++)
		fputs("this is not a database\n", fp);
	fclose(fp);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kvfs_options *opts = NULL;
		struct kvfs_store *store = NULL;
		int rc;

		snprintf(popts, sizeof(popts), cases[i].popts, f->dir);
		assert_int_equal(kvfs_options_new(&opts), 0);
		assert_int_equal(kvfs_options_set(opts, "backend", "plugin"), 0);
		assert_int_equal(kvfs_options_set(opts, "plugin", SQLITE_PLUGIN),
				 0);
		assert_int_equal(kvfs_options_set(opts, "plugin_opts", popts), 0);
		rc = kvfs_store_open(opts, &store);
		kvfs_options_free(opts);
		print_message("%s: %s\n", popts, kvfs_error_message());
		if (rc != cases[i].code)
			fail_msg("plugin_opts=%s: %s, want %s", popts,
				 kvfs_error_name(rc),
				 kvfs_error_name(cases[i].code));
		assert_null(store);
		if (!strstr(kvfs_error_message(), cases[i].fragment))
			fail_msg("message '%s' lacks '%s'", kvfs_error_message(),
				 cases[i].fragment);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_list_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_survives_reopen, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_one_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_versions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_connections, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_options, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("sqlite plugin", tests, NULL, NULL);
}
