/*
 * config.c - the configuration file (libconfig syntax): every setting
 * becomes an option unless a mount option already set it, and `rules`
 * give consistency levels by key prefix. The list of known option names
 * lives here, in one table. Format and decisions: lib/docs/config.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libconfig.h>

#include <kvfs/kvfs.h>

/*
 * Every option a mount or a config file may set. `group` is the backend
 * it belongs to (its settings may also sit in a group of that name), NULL
 * for options of the library and the daemon. Add new options here.
 */
static const struct known_option {
	const char *name;
	const char *group;
} known_options[] = {
	/* library */
	{ "backend", NULL },
	{ "consistency", NULL },
	{ "cache", NULL },
	{ "cache_ttl", NULL },
	/* daemon (fs/main.c); its kernel-cache options are -o only */
	{ "log_level", NULL },
	{ "log", NULL },
	/* local backend */
	{ "root", "local" },
	{ "sync", "local" },
	{ "lock_wait", "local" },
	/* etcd backend (lib/src/etcd/etcd.c) */
	{ "endpoints", "etcd" },
	{ "prefix", "etcd" },
	{ "timeout", "etcd" },
	{ "cacert", "etcd" },
	{ "cert", "etcd" },
	{ "key", "etcd" },
	{ "user", "etcd" },
	{ "password_file", "etcd" },
	{ "journal", "etcd" },
	{ "lock_wait", "etcd" },
	{ "max_value", "etcd" },
	{ "max_request", "etcd" },
	{ "max_txn_ops", "etcd" },
	{ "quota", "etcd" },
	{ "prefer", "etcd" },
	{ "lazy", "etcd" },
	/* plugin loader */
	{ "plugin", "plugin" },
	{ "plugin_opts", "plugin" },
};

#define KNOWN_COUNT (sizeof(known_options) / sizeof(known_options[0]))

/* Is `name` an option, at top level (group NULL: any option) or inside
 * the group of backend `group`? */
static bool is_known(const char *name, const char *group)
{
	for (size_t i = 0; i < KNOWN_COUNT; i++) {
		const struct known_option *k = &known_options[i];

		if (strcmp(k->name, name))
			continue;
		if (!group || (k->group && !strcmp(k->group, group)))
			return true;
	}
	return false;
}

static bool is_backend_group(const char *name)
{
	for (size_t i = 0; i < KNOWN_COUNT; i++)
		if (known_options[i].group &&
		    !strcmp(known_options[i].group, name))
			return true;
	return false;
}

/* --------------------------------------------------------------- rules */

struct rule {
	char *prefix;      /* without a trailing '/'; "" is the root */
	size_t len;
	size_t weight;     /* length as written: longer wins */
	bool inside_only;  /* written with a trailing '/' */
	enum kvfs_consistency level;
};

struct kvfs_rules {
	struct rule *rules;
	size_t count;
};

void kvfs_rules_free(struct kvfs_rules *rules)
{
	if (!rules)
		return;
	for (size_t i = 0; i < rules->count; i++)
		free(rules->rules[i].prefix);
	free(rules->rules);
	free(rules);
}

static bool rule_matches(const struct rule *r, const char *key)
{
	size_t klen = strlen(key);

	if (r->len == 0)
		return !r->inside_only || klen > 0;
	if (klen < r->len || memcmp(key, r->prefix, r->len))
		return false;
	if (key[r->len] == '/')
		return true;
	return key[r->len] == '\0' && !r->inside_only;
}

int kvfs_rules_match(const struct kvfs_rules *rules, const char *key,
		     enum kvfs_consistency *out)
{
	const struct rule *best = NULL;

	for (size_t i = 0; rules && key && i < rules->count; i++) {
		const struct rule *r = &rules->rules[i];

		if (rule_matches(r, key) && (!best || r->weight > best->weight))
			best = r;
	}
	if (!best)
		return kvfs_error_set(KVFS_ENOTFOUND,
			"no consistency rule matches '%s'", key ? key : "");
	*out = best->level;
	return 0;
}

/* ------------------------------------------------------------- loading */

/* A setting's place in the file, for messages. */
static const char *file_of(const config_setting_t *s, const char *path)
{
	const char *f = config_setting_source_file(s);

	return f ? f : path;
}

#define AT(s, path) file_of(s, path), config_setting_source_line(s)

/* The value of a scalar setting as option text into buf. A value that
 * does not fit is refused rather than cut short. */
static int scalar_text(const config_setting_t *s, const char *path,
		       char *buf, size_t size)
{
	const char *name = config_setting_name(s) ? config_setting_name(s)
						  : "?";
	int n;

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_STRING:
		n = snprintf(buf, size, "%s", config_setting_get_string(s));
		break;
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		n = snprintf(buf, size, "%lld", config_setting_get_int64(s));
		break;
	case CONFIG_TYPE_FLOAT:
		n = snprintf(buf, size, "%g", config_setting_get_float(s));
		break;
	case CONFIG_TYPE_BOOL:
		n = snprintf(buf, size, "%s",
			     config_setting_get_bool(s) ? "true" : "false");
		break;
	default:
		return kvfs_error_set(KVFS_EINVAL,
			"%s:%d: setting '%s' must be a string, number or "
			"boolean", AT(s, path), name);
	}
	if (n < 0 || (size_t)n >= size)
		return kvfs_error_set(KVFS_EINVAL,
			"%s:%d: value of setting '%s' is longer than %zu bytes",
			AT(s, path), name, size - 1);
	return 0;
}

/* Append to a growing string; *text is malloc'd. */
static int append(char **text, const char *sep, const char *item)
{
	size_t old = *text ? strlen(*text) : 0;
	char *grown = realloc(*text, old + strlen(sep) + strlen(item) + 1);

	if (!grown)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	if (!old)
		grown[0] = '\0';
	else
		strcat(grown, sep);
	strcat(grown, item);
	*text = grown;
	return 0;
}

/* A list or array of scalars becomes "a,b,c". */
static int list_text(const config_setting_t *s, const char *path,
		     char **out)
{
	char item[4096];
	int n = config_setting_length(s), rc = 0;

	*out = NULL;
	for (int i = 0; rc == 0 && i < n; i++) {
		rc = scalar_text(config_setting_get_elem(s, i), path, item,
				 sizeof(item));
		if (rc == 0)
			rc = append(out, ",", item);
	}
	if (rc == 0 && !*out)
		rc = append(out, "", "");
	if (rc) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

/* plugin_opts = { db = "/x.db"; sync = false; } becomes "db=/x.db;sync=
 * false", with ';' and '\' in values escaped as the loader expects. */
static int plugin_opts_text(const config_setting_t *g, const char *path,
			    char **out)
{
	char value[4096], escaped[8200];
	int n = config_setting_length(g), rc = 0;

	*out = NULL;
	for (int i = 0; rc == 0 && i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(g, i);
		size_t w = 0;

		rc = scalar_text(s, path, value, sizeof(value));
		if (rc)
			break;
		for (const char *r = value; *r; r++) {
			if (*r == ';' || *r == '\\')
				escaped[w++] = '\\';
			escaped[w++] = *r;
		}
		escaped[w] = '\0';
		rc = append(out, ";", config_setting_name(s));
		if (rc == 0)
			rc = append(out, "=", escaped);
	}
	if (rc == 0 && !*out)
		rc = append(out, "", "");
	if (rc) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

/* Record one option from setting s into found (later ones replace). */
static int take_setting(const config_setting_t *s, const char *path,
			const char *group, struct kvfs_options *found)
{
	const char *name = config_setting_name(s);
	char scalar[4096];
	char *text = NULL;
	int rc;

	if (!is_known(name, group)) {
		if (group)
			return kvfs_error_set(KVFS_EINVAL,
				"%s:%d: unknown setting '%s' in group '%s'",
				AT(s, path), name, group);
		return kvfs_error_set(KVFS_EINVAL,
			"%s:%d: unknown setting '%s'", AT(s, path), name);
	}
	if (!strcmp(name, "plugin_opts") && config_setting_is_group(s))
		rc = plugin_opts_text(s, path, &text);
	else if (config_setting_is_array(s) || config_setting_is_list(s))
		rc = list_text(s, path, &text);
	else if (config_setting_is_group(s))
		rc = kvfs_error_set(KVFS_EINVAL,
			"%s:%d: setting '%s' must be a value, not a group",
			AT(s, path), name);
	else
		rc = scalar_text(s, path, scalar, sizeof(scalar));
	if (rc == 0)
		rc = kvfs_options_set(found, name, text ? text : scalar);
	free(text);
	return rc;
}

static int add_rule(struct kvfs_rules *rules, const config_setting_t *g,
		    const char *path)
{
	const config_setting_t *s;
	const char *prefix = NULL, *level_text = NULL;
	enum kvfs_consistency level = KVFS_STRONG;
	struct rule *grown, *r;
	bool inside_only;
	size_t len;

	if (!config_setting_is_group(g))
		return kvfs_error_set(KVFS_EINVAL,
			"%s:%d: each rule must be a group such as "
			"{ prefix = \"metrics/\"; consistency = \"eventual\"; }",
			AT(g, path));
	for (int i = 0; (s = config_setting_get_elem(g, i)); i++) {
		const char *name = config_setting_name(s);

		if (strcmp(name, "prefix") && strcmp(name, "consistency"))
			return kvfs_error_set(KVFS_EINVAL,
				"%s:%d: unknown setting '%s' in a rule "
				"(a rule has prefix and consistency)",
				AT(s, path), name);
		if (config_setting_type(s) != CONFIG_TYPE_STRING)
			return kvfs_error_set(KVFS_EINVAL,
				"%s:%d: rule setting '%s' must be a string",
				AT(s, path), name);
		if (!strcmp(name, "prefix"))
			prefix = config_setting_get_string(s);
		else
			level_text = config_setting_get_string(s);
	}
	if (!prefix || !level_text)
		return kvfs_error_set(KVFS_EINVAL,
			"%s:%d: a rule needs both prefix and consistency",
			AT(g, path));
	if (kvfs_consistency_parse(level_text, &level))
		return kvfs_error_set(KVFS_EINVAL,
			"%s:%d: rule for prefix '%s': unknown consistency "
			"level '%s' (use strong, eventual, read-your-writes "
			"or causal)", AT(g, path), prefix, level_text);
	len = strlen(prefix);
	inside_only = len && prefix[len - 1] == '/';
	if (inside_only)
		len--;
	if (len && prefix[0] == '/')
		return kvfs_error_set(KVFS_EINVAL,
			"%s:%d: rule prefix '%s' must not start with '/' "
			"(prefixes are keys relative to the mount)",
			AT(g, path), prefix);
	for (size_t i = 0; i < rules->count; i++)
		if (rules->rules[i].inside_only == inside_only &&
		    rules->rules[i].len == len &&
		    !memcmp(rules->rules[i].prefix, prefix, len))
			return kvfs_error_set(KVFS_EINVAL,
				"%s:%d: a second rule for prefix '%s'",
				AT(g, path), prefix);
	grown = realloc(rules->rules, (rules->count + 1) * sizeof(*grown));
	if (!grown)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	rules->rules = grown;
	r = &rules->rules[rules->count];
	r->prefix = strndup(prefix, len);
	if (!r->prefix)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	if (len && kvfs_key_check(r->prefix)) {
		int rc = kvfs_error_set(KVFS_EINVAL,
			"%s:%d: rule prefix '%s': %s", AT(g, path), prefix,
			kvfs_error_message());

		free(r->prefix);
		return rc;
	}
	r->len = len;
	r->weight = strlen(prefix);
	r->inside_only = inside_only;
	r->level = level;
	rules->count++;
	return 0;
}

static int read_rules(const config_setting_t *list, const char *path,
		      struct kvfs_rules *rules)
{
	const config_setting_t *g;
	int rc = 0;

	if (!config_setting_is_list(list) && !config_setting_is_array(list))
		return kvfs_error_set(KVFS_EINVAL,
			"%s:%d: rules must be a list: rules = ( { prefix = "
			"\"...\"; consistency = \"...\"; } );",
			AT(list, path));
	for (int i = 0; rc == 0 && (g = config_setting_get_elem(list, i)); i++)
		rc = add_rule(rules, g, path);
	return rc;
}

/* Read the parsed file into found (options) and rules. Settings of the
 * group of the backend in use are applied; other backends' groups are
 * checked and skipped. */
static int read_settings(config_t *cfg, const char *path,
			 const struct kvfs_options *opts,
			 struct kvfs_options *found, struct kvfs_rules *rules)
{
	const config_setting_t *top = config_root_setting(cfg), *s;
	const char *backend = kvfs_options_peek(opts, "backend");
	const char *file_backend = NULL;
	int rc = 0;

	if (config_lookup_string(cfg, "backend", &file_backend) != CONFIG_TRUE)
		file_backend = NULL;
	if (!backend)
		backend = file_backend ? file_backend : "local";

	/* Flat settings first, then the group of the backend in use, so
	 * that a group's value replaces a flat one. */
	for (int i = 0; rc == 0 && (s = config_setting_get_elem(top, i)); i++) {
		const char *name = config_setting_name(s);

		if (!strcmp(name, "rules"))
			rc = read_rules(s, path, rules);
		else if (config_setting_is_group(s) && is_backend_group(name))
			continue;
		else if (is_backend_group(name) && !is_known(name, NULL))
			rc = kvfs_error_set(KVFS_EINVAL,
				"%s:%d: setting '%s' must be a group of %s "
				"options: %s = { ... };", AT(s, path), name,
				name, name);
		else
			rc = take_setting(s, path, NULL, found);
	}
	for (int i = 0; rc == 0 && (s = config_setting_get_elem(top, i)); i++) {
		const char *name = config_setting_name(s);
		const config_setting_t *inner;
		struct kvfs_options *dest = found;
		struct kvfs_options *skipped = NULL;

		if (!config_setting_is_group(s) || !is_backend_group(name))
			continue;
		if (strcmp(name, backend)) {
			rc = kvfs_options_new(&skipped);
			dest = skipped;
		}
		for (int j = 0; rc == 0 && (inner = config_setting_get_elem(s, j));
		     j++)
			rc = take_setting(inner, path, name, dest);
		kvfs_options_free(skipped);
	}
	return rc;
}

int kvfs_config_load(const char *path, struct kvfs_options *opts,
		     struct kvfs_rules **rules)
{
	struct kvfs_options *found = NULL;
	struct kvfs_rules *parsed = NULL;
	const char *name, *value;
	char dir[4096], *slash;
	config_t cfg;
	FILE *f;
	int rc;

	f = fopen(path, "r");
	if (!f)
		return kvfs_error_set(KVFS_EINVAL, "%s: cannot read: %s", path,
				      strerror(errno));
	fclose(f);
	config_init(&cfg);
	/* @include "x.conf" is relative to the file's own directory. */
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash) {
		slash[slash == dir ? 1 : 0] = '\0';
		config_set_include_dir(&cfg, dir);
	}
	if (config_read_file(&cfg, path) != CONFIG_TRUE) {
		rc = kvfs_error_set(KVFS_EINVAL, "%s:%d: %s",
			config_error_file(&cfg) ? config_error_file(&cfg) : path,
			config_error_line(&cfg), config_error_text(&cfg));
		goto out_destroy_cfg;
	}
	rc = kvfs_options_new(&found);
	if (rc)
		goto out_destroy_cfg;
	parsed = calloc(1, sizeof(*parsed));
	if (!parsed) {
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_free_found;
	}
	rc = read_settings(&cfg, path, opts, found, parsed);
	if (rc)
		goto out_free_rules;
	/* Mount options win: only settings opts does not have yet. */
	for (size_t i = 0; rc == 0 && kvfs_options_at(found, i, &name, &value);
	     i++)
		if (!kvfs_options_peek(opts, name))
			rc = kvfs_options_set(opts, name, value);
	if (rc)
		goto out_free_rules;
	if (rules)
		*rules = parsed;
	else
		kvfs_rules_free(parsed);
	parsed = NULL;
out_free_rules:
	kvfs_rules_free(parsed);
out_free_found:
	kvfs_options_free(found);
out_destroy_cfg:
	config_destroy(&cfg);
	return rc;
}

int kvfs_config_apply(struct kvfs_options *opts, struct kvfs_rules **rules)
{
	const char *path = kvfs_options_take(opts, "config");
	char *copy;
	int rc;

	if (rules)
		*rules = NULL;
	if (!path) {
		if (access(KVFS_CONFIG_DEFAULT_PATH, F_OK))
			goto out_empty;
		path = KVFS_CONFIG_DEFAULT_PATH;
	}
	/* opts may grow while loading; keep the path stable. */
	copy = strdup(path);
	if (!copy)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	rc = kvfs_config_load(copy, opts, rules);
	free(copy);
	return rc;

out_empty:
	if (rules) {
		*rules = calloc(1, sizeof(**rules));
		if (!*rules)
			return kvfs_error_set(KVFS_EFAIL, "out of memory");
	}
	return 0;
}
