/*
 * test_plugin_load.c - the plugin loader through kvfs_store_open with
 * backend=plugin: a good plugin loads and is named after its backend;
 * a missing file, a text file named .so, a plugin without the init
 * symbol, one with an unknown vtable version, one whose init fails and
 * unknown plugin options are each refused with a one-line message.
 */
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
	char *dir;  /* temporary directory for databases and fake plugins */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->dir = kvfs_test_mkdtemp("plugin");
	*state = f;
	return f->dir ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	kvfs_test_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* kvfs_store_open with "backend=plugin" plus the given settings (name,
 * value pairs, NULL-terminated); returns its code, *out set on success. */
static int open_plugin(struct kvfs_store **out, const char *plugin,
		       const char *plugin_opts)
{
	struct kvfs_options *opts = NULL;
	int rc;

	assert_int_equal(kvfs_options_new(&opts), 0);
	assert_int_equal(kvfs_options_set(opts, "backend", "plugin"), 0);
	if (plugin)
		assert_int_equal(kvfs_options_set(opts, "plugin", plugin), 0);
	if (plugin_opts)
		assert_int_equal(kvfs_options_set(opts, "plugin_opts",
						  plugin_opts), 0);
	*out = NULL;
	rc = kvfs_store_open(opts, out);
	if (rc == 0)
		assert_int_equal(kvfs_options_check_all_taken(opts), 0);
	kvfs_options_free(opts);
	return rc;
}

/* The message is one line and contains each of the given fragments. */
static void expect_message(const char *first, ...)
{
	const char *msg = kvfs_error_message();
	va_list ap;

	print_message("refused: %s\n", msg);
	assert_null(strchr(msg, '\n'));
	va_start(ap, first);
	for (const char *frag = first; frag; frag = va_arg(ap, const char *))
		if (!strstr(msg, frag))
			fail_msg("message '%s' lacks '%s'", msg, frag);
	va_end(ap);
}

static void test_sqlite_loads(void **state)
{
	struct fixture *f = *state;
	struct kvfs_store *store = NULL;
	struct kvfs_buf out = { 0 };
	char opts[512];

	snprintf(opts, sizeof(opts), "db=%s/kv.db;sync=false", f->dir);
	assert_int_equal(open_plugin(&store, SQLITE_PLUGIN, opts), 0);
	assert_string_equal(kvfs_store_backend_name(store), "sqlite");
	assert_int_equal(kvfs_store_put(store, "a/b", "hello", 5, KVFS_STRONG),
			 0);
	assert_int_equal(kvfs_store_get(store, "a/b", KVFS_EVENTUAL, &out), 0);
	assert_int_equal(out.len, 5);
	assert_memory_equal(out.data, "hello", 5);
	kvfs_buf_free(&out);
	/* What the plugin lacks is answered for it, by its name. */
	{
		struct kvfs_space space;

		assert_int_equal(kvfs_store_space(store, &space),
				 KVFS_ENOTSUPPORTED);
		expect_message("sqlite", "space", NULL);
	}
	kvfs_store_close(store);
}

static void test_plugin_under_cache(void **state)
{
	struct fixture *f = *state;
	struct kvfs_options *opts = NULL;
	struct kvfs_store *store = NULL;
	char popts[512];

	snprintf(popts, sizeof(popts), "db=%s/cached.db", f->dir);
	assert_int_equal(kvfs_options_new(&opts), 0);
	assert_int_equal(kvfs_options_set(opts, "backend", "plugin"), 0);
	assert_int_equal(kvfs_options_set(opts, "plugin", SQLITE_PLUGIN), 0);
	assert_int_equal(kvfs_options_set(opts, "plugin_opts", popts), 0);
	assert_int_equal(kvfs_options_set(opts, "cache", "1M"), 0);
	assert_int_equal(kvfs_store_open(opts, &store), 0);
	assert_int_equal(kvfs_options_check_all_taken(opts), 0);
	assert_string_equal(kvfs_store_backend_name(store), "cache");
	assert_int_equal(kvfs_store_put(store, "k", "v", 1, KVFS_STRONG), 0);
	kvfs_store_close(store);
	kvfs_options_free(opts);
}

static void test_missing_file(void **state)
{
	struct kvfs_store *store;

	assert_int_equal(open_plugin(&store, "/nonexistent/kvfs-nope.so", NULL),
			 KVFS_EINVAL);
	assert_null(store);
	expect_message("plugin /nonexistent/kvfs-nope.so",
		       "No such file or directory", NULL);
}

static void test_no_plugin_option(void **state)
{
	struct kvfs_store *store;

	assert_int_equal(open_plugin(&store, NULL, NULL), KVFS_EINVAL);
	expect_message("plugin=", NULL);
}

static void test_text_file(void **state)
{
	struct fixture *f = *state;
	struct kvfs_store *store;
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/notes.so", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("this is a text file, not a shared object\n", fp);
	fclose(fp);
	assert_int_equal(open_plugin(&store, path, NULL), KVFS_EINVAL);
	assert_null(store);
	expect_message(path, "cannot load it as a shared object", NULL);
}

static void test_no_init_symbol(void **state)
{
	struct kvfs_store *store;

	assert_int_equal(open_plugin(&store, NO_INIT_PLUGIN, NULL), KVFS_EINVAL);
	assert_null(store);
	expect_message(NO_INIT_PLUGIN, "no kvfs_plugin_init symbol", NULL);
}

static void test_wrong_version(void **state)
{
	struct kvfs_store *store;

	assert_int_equal(open_plugin(&store, BAD_VERSION_PLUGIN, NULL),
			 KVFS_EINVAL);
	assert_null(store);
	expect_message(BAD_VERSION_PLUGIN, "version 99", NULL);
}

static void test_init_fails(void **state)
{
	struct kvfs_store *store;

	assert_int_equal(open_plugin(&store, INIT_FAILS_PLUGIN, NULL),
			 KVFS_EUNAVAILABLE);
	assert_null(store);
	expect_message(INIT_FAILS_PLUGIN, "init failed",
		       "cannot reach the frobnicator", NULL);
}

static void test_unknown_plugin_option(void **state)
{
	struct fixture *f = *state;
	struct kvfs_store *store;
	char opts[512];

	assert_int_equal(open_plugin(&store, MINIMAL_PLUGIN, "colour=blue"),
			 KVFS_EINVAL);
	expect_message(MINIMAL_PLUGIN, "'colour'", NULL);

	snprintf(opts, sizeof(opts), "db=%s/x.db;sync=false;bogus=1", f->dir);
	assert_int_equal(open_plugin(&store, SQLITE_PLUGIN, opts), KVFS_EINVAL);
	expect_message("'bogus'", NULL);

	/* The plugin's own refusal of a bad value is passed on. */
	snprintf(opts, sizeof(opts), "db=%s/x.db;sync=maybe", f->dir);
	assert_int_equal(open_plugin(&store, SQLITE_PLUGIN, opts), KVFS_EINVAL);
	expect_message("init failed", "sync=maybe", NULL);

	/* No db= at all. */
	assert_int_equal(open_plugin(&store, SQLITE_PLUGIN, NULL), KVFS_EINVAL);
	expect_message("db=", NULL);
}

static void test_plugin_opts_escapes(void **state)
{
	struct fixture *f = *state;
	struct kvfs_store *store = NULL;
	char opts[512], path[512];
	FILE *fp;

	/* "\;" is a ';' inside a value: the database file is "a;b.db". */
	snprintf(opts, sizeof(opts), "db=%s/a\\;b.db;;sync=false;", f->dir);
	assert_int_equal(open_plugin(&store, SQLITE_PLUGIN, opts), 0);
	kvfs_store_close(store);
	snprintf(path, sizeof(path), "%s/a;b.db", f->dir);
	fp = fopen(path, "r");
	assert_non_null(fp);
	fclose(fp);
	/* A setting without a name is refused. */
	snprintf(opts, sizeof(opts), "db=%s/c.db;=x", f->dir);
	assert_int_equal(open_plugin(&store, SQLITE_PLUGIN, opts), KVFS_EINVAL);
	expect_message("plugin_opts: a setting has no name", NULL);
}

static void test_minimal_plugin_falls_back(void **state)
{
	struct kvfs_store *store = NULL;
	struct kvfs_stat st;

	assert_int_equal(open_plugin(&store, MINIMAL_PLUGIN, NULL), 0);
	assert_string_equal(kvfs_store_backend_name(store), "minimal");
	assert_int_equal(kvfs_store_mkdir(store, "d", 0755, KVFS_STRONG),
			 KVFS_ENOTSUPPORTED);
	assert_int_equal(kvfs_store_stat(store, "k", KVFS_STRONG, &st),
			 KVFS_ENOTFOUND);
	kvfs_store_close(store);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sqlite_loads),
		cmocka_unit_test(test_plugin_under_cache),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_no_plugin_option),
		cmocka_unit_test(test_text_file),
		cmocka_unit_test(test_no_init_symbol),
		cmocka_unit_test(test_wrong_version),
		cmocka_unit_test(test_init_fails),
		cmocka_unit_test(test_unknown_plugin_option),
		cmocka_unit_test(test_plugin_opts_escapes),
		cmocka_unit_test(test_minimal_plugin_falls_back),
	};

	return cmocka_run_group_tests_name("plugin loader", tests, setup,
					   teardown);
}
