/*
 * test_config.c - the configuration file: settings become options unless
 * a mount option already set them, backend groups, prefix rules (whole
 * components, longest wins), and refusals that name the file and line,
 * the unknown setting or the unknown level.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <kvfs/kvfs.h>

#include "testutil.h"

struct fixture {
	char *dir;
	char path[512];
	struct kvfs_options *opts;
	struct kvfs_rules *rules;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->dir = kvfs_test_mkdtemp("config");
	if (!f->dir || kvfs_options_new(&f->opts))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/kvfs.conf", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	kvfs_rules_free(f->rules);
	kvfs_options_free(f->opts);
	kvfs_test_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static void write_file(struct fixture *f, const char *text)
{
	FILE *fp = fopen(f->path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static int load(struct fixture *f, const char *text)
{
	write_file(f, text);
	return kvfs_config_load(f->path, f->opts, &f->rules);
}

static void expect_option(struct fixture *f, const char *name,
			  const char *want)
{
	const char *got = kvfs_options_peek(f->opts, name);

	if (!want) {
		assert_null(got);
		return;
	}
	if (!got)
		fail_msg("option %s missing, want '%s'", name, want);
	assert_string_equal(got, want);
}

static void expect_level(struct fixture *f, const char *key,
			 enum kvfs_consistency want)
{
	enum kvfs_consistency got = KVFS_STRONG;

	if (kvfs_rules_match(f->rules, key, &got))
		fail_msg("no rule for '%s': %s", key, kvfs_error_message());
	if (got != want)
		fail_msg("'%s': level %s, want %s", key,
			 kvfs_consistency_name(got), kvfs_consistency_name(want));
}

static void expect_no_rule(struct fixture *f, const char *key)
{
	enum kvfs_consistency got;

	assert_int_equal(kvfs_rules_match(f->rules, key, &got), KVFS_ENOTFOUND);
}

/* The message names each fragment. */
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

static const char example[] =
	"# kvfs configuration\n"
	"backend = \"local\";\n"
	"root = \"/var/lib/kv\";\n"
	"consistency = \"eventual\";\n"
	"cache = \"64M\";\n"
	"cache_ttl = \"500ms\";\n"
	"etcd = {\n"
	"  endpoints = [\"http://10.0.0.1:2379\", \"http://10.0.0.2:2379\"];\n"
	"  prefix = \"/fs1\";\n"
	"};\n"
	"rules = (\n"
	"  { prefix = \"metrics/\"; consistency = \"eventual\"; },\n"
	"  { prefix = \"metrics/critical\"; consistency = \"strong\"; },\n"
	"  { prefix = \"identity\"; consistency = \"Causal\"; },\n"
	"  { prefix = \"sessions/\"; consistency = \"read-your-writes\"; }\n"
	");\n";

static void test_settings_become_options(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, example), 0);
	expect_option(f, "backend", "local");
	expect_option(f, "root", "/var/lib/kv");
	expect_option(f, "consistency", "eventual");
	expect_option(f, "cache", "64M");
	expect_option(f, "cache_ttl", "500ms");
	/* The etcd group is checked but not applied with backend local. */
	expect_option(f, "endpoints", NULL);
	expect_option(f, "prefix", NULL);
	expect_option(f, "rules", NULL);
}

static void test_backend_group_applies(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(kvfs_options_parse(f->opts, "backend=etcd"), 0);
	assert_int_equal(load(f, example), 0);
	expect_option(f, "backend", "etcd");
	expect_option(f, "endpoints",
		      "http://10.0.0.1:2379,http://10.0.0.2:2379");
	expect_option(f, "prefix", "/fs1");
}

static void test_mount_options_override(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(kvfs_options_parse(f->opts,
			 "root=/srv/mine,consistency=strong"), 0);
	assert_int_equal(load(f, example), 0);
	expect_option(f, "root", "/srv/mine");
	expect_option(f, "consistency", "strong");
	expect_option(f, "cache", "64M");
}

static void test_value_types(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f,
		"sync = false;\n"
		"lock_wait = \"500ms\";\n"
		"cache = 1048576;\n"
		"timeout = 2.5;\n"
		"plugin = {\n"
		"  plugin = \"/usr/lib/kvfs/kvfs-sqlite.so\";\n"
		"  plugin_opts = { db = \"/var/lib/a;b.db\"; sync = true; };\n"
		"};\n"
		"backend = \"plugin\";\n"), 0);
	expect_option(f, "sync", "false");
	expect_option(f, "lock_wait", "500ms");
	expect_option(f, "cache", "1048576");
	expect_option(f, "timeout", "2.5");
	expect_option(f, "plugin", "/usr/lib/kvfs/kvfs-sqlite.so");
	expect_option(f, "plugin_opts", "db=/var/lib/a\\;b.db;sync=true");
}

static void test_rules(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, example), 0);
	/* "metrics/" covers what is inside the directory ... */
	expect_level(f, "metrics/cpu", KVFS_EVENTUAL);
	expect_level(f, "metrics/a/b/c", KVFS_EVENTUAL);
	/* ... not the directory itself, nor look-alike names. */
	expect_no_rule(f, "metrics");
	expect_no_rule(f, "metricsfoo");
	expect_no_rule(f, "metricsfoo/x");
	/* The longest prefix wins. */
	expect_level(f, "metrics/critical", KVFS_STRONG);
	expect_level(f, "metrics/critical/disk", KVFS_STRONG);
	expect_level(f, "metrics/criticality", KVFS_EVENTUAL);
	/* "identity" (no slash) covers itself and what is below. */
	expect_level(f, "identity", KVFS_CAUSAL);
	expect_level(f, "identity/users/alice", KVFS_CAUSAL);
	expect_no_rule(f, "identityx");
	expect_level(f, "sessions/s1", KVFS_READ_YOUR_WRITES);
	expect_no_rule(f, "other/key");
	expect_no_rule(f, "");
}

static void test_root_rule(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f,
		"rules = ( { prefix = \"\"; consistency = \"eventual\"; },\n"
		"          { prefix = \"a\"; consistency = \"strong\"; } );\n"),
		0);
	expect_level(f, "", KVFS_EVENTUAL);
	expect_level(f, "x/y", KVFS_EVENTUAL);
	expect_level(f, "a/b", KVFS_STRONG);
	assert_int_equal(kvfs_rules_match(NULL, "a", &(enum kvfs_consistency){
					  KVFS_STRONG }), KVFS_ENOTFOUND);
}

static void test_syntax_error_names_line(void **state)
{
	struct fixture *f = *state;
	char where[600];

	assert_int_equal(kvfs_options_parse(f->opts, "root=/keep"), 0);
	assert_int_equal(load(f,
		"backend = \"local\";\n"
		"cache = \"64M\";\n"
		"root = \"/x\"\n"
		"consistency = ;\n"), KVFS_EINVAL);
	snprintf(where, sizeof(where), "%s:4:", f->path);
	expect_message(where, NULL);
	assert_null(f->rules);
	/* Nothing was applied. */
	expect_option(f, "backend", NULL);
	expect_option(f, "root", "/keep");
}

static void test_unknown_setting(void **state)
{
	struct fixture *f = *state;
	char where[600];

	assert_int_equal(load(f, "backend = \"local\";\n\ncolour = \"blue\";\n"),
			 KVFS_EINVAL);
	snprintf(where, sizeof(where), "%s:3:", f->path);
	expect_message(where, "'colour'", NULL);
	expect_option(f, "backend", NULL);

	assert_int_equal(load(f, "etcd = { endpoints = \"http://a:1\";\n"
				 "  root = \"/x\"; };\n"), KVFS_EINVAL);
	expect_message("'root'", "etcd", NULL);

	assert_int_equal(load(f, "config = \"/etc/other.conf\";\n"),
			 KVFS_EINVAL);
	expect_message("'config'", NULL);

	assert_int_equal(load(f, "etcd = \"http://a:1\";\n"), KVFS_EINVAL);
	expect_message("'etcd'", "group", NULL);

	assert_int_equal(load(f, "root = { dir = \"/x\"; };\n"), KVFS_EINVAL);
	expect_message("'root'", "not a group", NULL);
}

static void test_unknown_level(void **state)
{
	struct fixture *f = *state;
	char where[600];

	assert_int_equal(load(f,
		"rules = (\n"
		"  { prefix = \"a/\"; consistency = \"strong\"; },\n"
		"  { prefix = \"b/\"; consistency = \"lightning\"; }\n"
		");\n"), KVFS_EINVAL);
	snprintf(where, sizeof(where), "%s:3:", f->path);
	expect_message(where, "'lightning'", "b/", NULL);
	assert_null(f->rules);

	assert_int_equal(load(f,
		"rules = ( { prefix = \"a/\"; level = \"strong\"; } );\n"),
		KVFS_EINVAL);
	expect_message("'level'", NULL);

	assert_int_equal(load(f,
		"rules = ( { prefix = \"/abs\"; consistency = \"strong\"; } );\n"),
		KVFS_EINVAL);
	expect_message("'/abs'", NULL);

	assert_int_equal(load(f,
		"rules = ( { prefix = \"a\"; consistency = \"strong\"; },\n"
		"          { prefix = \"a\"; consistency = \"eventual\"; } );\n"),
		KVFS_EINVAL);
	expect_message("second rule", NULL);
}

static void test_unreadable_file(void **state)
{
	struct fixture *f = *state;
	char path[600];

	snprintf(path, sizeof(path), "%s/missing.conf", f->dir);
	assert_int_equal(kvfs_config_load(path, f->opts, &f->rules),
			 KVFS_EINVAL);
	expect_message(path, "No such file", NULL);
}

static void test_apply_config_option(void **state)
{
	struct fixture *f = *state;
	char text[700];

	write_file(f, example);
	snprintf(text, sizeof(text), "config=%s,consistency=causal", f->path);
	assert_int_equal(kvfs_options_parse(f->opts, text), 0);
	assert_int_equal(kvfs_config_apply(f->opts, &f->rules), 0);
	expect_option(f, "consistency", "causal");
	expect_option(f, "root", "/var/lib/kv");
	expect_level(f, "metrics/x", KVFS_EVENTUAL);
	/* config= was taken: the mount does not report it as unknown. */
	kvfs_options_take(f->opts, "consistency");
	kvfs_options_take(f->opts, "root");
	kvfs_options_take(f->opts, "backend");
	kvfs_options_take(f->opts, "cache");
	kvfs_options_take(f->opts, "cache_ttl");
	assert_int_equal(kvfs_options_check_all_taken(f->opts), 0);
}

/* Rules that are not written as rules are refused with what is wrong. */
static void test_malformed_rules(void **state)
{
	struct fixture *f = *state;
	char where[600];

	assert_int_equal(load(f, "\nrules = \"metrics/\";\n"), KVFS_EINVAL);
	snprintf(where, sizeof(where), "%s:2:", f->path);
	expect_message(where, "rules must be a list", NULL);
	assert_null(f->rules);

	assert_int_equal(load(f, "rules = ( \"metrics/\" );\n"), KVFS_EINVAL);
	expect_message("each rule must be a group", NULL);

	assert_int_equal(load(f,
		"rules = ( { prefix = 7; consistency = \"strong\"; } );\n"),
		KVFS_EINVAL);
	expect_message("'prefix'", "must be a string", NULL);

	assert_int_equal(load(f, "rules = ( { prefix = \"a/\"; } );\n"),
			 KVFS_EINVAL);
	expect_message("needs both prefix and consistency", NULL);

	assert_int_equal(load(f,
		"rules = ( { consistency = \"eventual\"; } );\n"), KVFS_EINVAL);
	expect_message("needs both prefix and consistency", NULL);

	/* A prefix must be a valid key. */
	assert_int_equal(load(f,
		"rules = ( { prefix = \"a/../b\"; consistency = \"strong\"; } );\n"),
		KVFS_EINVAL);
	expect_message("'a/../b'", NULL);
	assert_null(f->rules);
}

/* Values that are neither scalars nor lists of scalars are refused;
 * empty lists and groups become empty options. */
static void test_list_values(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(kvfs_options_parse(f->opts, "backend=etcd"), 0);
	assert_int_equal(load(f,
		"etcd = { endpoints = ( { host = \"a\"; } ); };\n"),
		KVFS_EINVAL);
	expect_message("must be a string, number or boolean", NULL);
	expect_option(f, "endpoints", NULL);

	assert_int_equal(load(f, "etcd = { endpoints = [ ]; };\n"), 0);
	expect_option(f, "endpoints", "");
	kvfs_rules_free(f->rules);
	f->rules = NULL;

	assert_int_equal(kvfs_options_set(f->opts, "backend", "plugin"), 0);
	assert_int_equal(load(f, "plugin = { plugin_opts = { }; };\n"), 0);
	expect_option(f, "plugin_opts", "");
	kvfs_rules_free(f->rules);
	f->rules = NULL;

	assert_int_equal(load(f,
		"plugin = { plugin_opts = { db = [ \"x\" ]; }; };\n"),
		KVFS_EINVAL);
	expect_message("'db'", "must be a string, number or boolean", NULL);
}

/* A value too long for an option is refused by name, never cut short. */
static void test_long_value_refused(void **state)
{
	struct fixture *f = *state;
	char *text = malloc(6000);

	assert_non_null(text);
	memcpy(text, "root = \"", 8);
	memset(text + 8, 'r', 5000);
	strcpy(text + 5008, "\";\n");
	assert_int_equal(load(f, text), KVFS_EINVAL);
	expect_message(":1:", "'root'", "longer than", NULL);
	expect_option(f, "root", NULL);
	free(text);
}

/* Without config= and without the default file, nothing is loaded and
 * no rule applies. */
static void test_apply_without_file(void **state)
{
	struct fixture *f = *state;
	enum kvfs_consistency level;

	if (access(KVFS_CONFIG_DEFAULT_PATH, F_OK) == 0) {
		print_message("SKIPPED: %s exists here\n",
			      KVFS_CONFIG_DEFAULT_PATH);
		skip();
	}
	assert_int_equal(kvfs_options_parse(f->opts, "root=/x"), 0);
	assert_int_equal(kvfs_config_apply(f->opts, &f->rules), 0);
	assert_non_null(f->rules);
	assert_int_equal(kvfs_rules_match(f->rules, "a/b", &level),
			 KVFS_ENOTFOUND);
	expect_option(f, "root", "/x");
	expect_option(f, "backend", NULL);
	/* rules may be NULL when the caller does not want them. */
	assert_int_equal(kvfs_config_apply(f->opts, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_settings_become_options,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_group_applies,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_mount_options_override,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_value_types, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syntax_error_names_line,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_setting, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unknown_level, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_malformed_rules, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_long_value_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_list_values, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_apply_without_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_apply_config_option, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
