/*
 * options.c - an ordered list of name=value settings. Mount options, the
 * config file and plugin options all become one; each consumer takes what
 * it understands, and what nobody took is reported as unknown by name.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <kvfs/kvfs.h>

struct option_entry {
	char *name;
	char *value;
	bool taken;
};

struct kvfs_options {
	struct option_entry *entries;
	size_t count;
	size_t capacity;
};

int kvfs_options_new(struct kvfs_options **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : kvfs_error_set(KVFS_EFAIL, "out of memory");
}

void kvfs_options_free(struct kvfs_options *opts)
{
	if (!opts)
		return;
	for (size_t i = 0; i < opts->count; i++) {
		free(opts->entries[i].name);
		free(opts->entries[i].value);
	}
	free(opts->entries);
	free(opts);
}

static struct option_entry *find(const struct kvfs_options *opts,
				 const char *name)
{
	for (size_t i = 0; i < opts->count; i++)
		if (!strcmp(opts->entries[i].name, name))
			return &opts->entries[i];
	return NULL;
}

int kvfs_options_set(struct kvfs_options *opts, const char *name,
		     const char *value)
{
	struct option_entry *e = find(opts, name);
	char *copy = strdup(value ? value : "");

	if (!copy)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	if (e) {
		free(e->value);
		e->value = copy;
		e->taken = false;
		return 0;
	}
	if (opts->count == opts->capacity) {
		size_t cap = opts->capacity ? opts->capacity * 2 : 8;
		struct option_entry *grown =
			realloc(opts->entries, cap * sizeof(*grown));

		if (!grown)
			goto out_free_copy;
		opts->entries = grown;
		opts->capacity = cap;
	}
	e = &opts->entries[opts->count];
	e->name = strdup(name);
	if (!e->name)
		goto out_free_copy;
	e->value = copy;
	e->taken = false;
	opts->count++;
	return 0;

out_free_copy:
	free(copy);
	return kvfs_error_set(KVFS_EFAIL, "out of memory");
}

/*
 * "a=1,b,endpoints=http://x:1,http://y:2": a comma followed by text that
 * has no '=' before the next comma continues the previous value when that
 * value is a list (endpoints=URL,URL as DESIGN.md shows); "\," is a literal
 * comma in any value.
 */
int kvfs_options_parse(struct kvfs_options *opts, const char *text)
{
	char *copy = strdup(text ? text : "");
	char *item = copy, *next, *eq;
	char *last_name = NULL;
	int rc = 0;

	if (!copy)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	while (item && *item) {
		char *w = item, *r = item;

		/* Find the end of this item, honouring "\," escapes. */
		while (*r && *r != ',') {
			if (r[0] == '\\' && r[1] == ',')
				r++;
			*w++ = *r++;
		}
		next = *r ? r + 1 : NULL;
		*w = '\0';
		eq = strchr(item, '=');
		if (!eq && last_name && strstr(item, "://")) {
			/* Continuation of a URL list such as endpoints=. */
			const char *prev = kvfs_options_peek(opts, last_name);
			size_t n = strlen(prev) + strlen(item) + 2;
			char *joined = malloc(n);

			if (!joined) {
				rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
				break;
			}
			snprintf(joined, n, "%s,%s", prev, item);
			rc = kvfs_options_set(opts, last_name, joined);
			free(joined);
		} else if (*item) {
			if (eq)
				*eq = '\0';
			rc = kvfs_options_set(opts, item, eq ? eq + 1 : "");
			free(last_name);
			last_name = strdup(item);
		}
		if (rc)
			break;
		item = next;
	}
	free(last_name);
	free(copy);
	return rc;
}

const char *kvfs_options_take(struct kvfs_options *opts, const char *name)
{
	struct option_entry *e = find(opts, name);

	if (!e)
		return NULL;
	e->taken = true;
	return e->value;
}

const char *kvfs_options_peek(const struct kvfs_options *opts,
			      const char *name)
{
	struct option_entry *e = find(opts, name);

	return e ? e->value : NULL;
}

int kvfs_options_take_bool(struct kvfs_options *opts, const char *name,
			   bool dflt, bool *out)
{
	static const char *const yes[] = { "", "1", "yes", "true", "on" };
	static const char *const no[] = { "0", "no", "false", "off" };
	const char *v = kvfs_options_take(opts, name);

	if (!v) {
		*out = dflt;
		return 0;
	}
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!strcasecmp(v, yes[i]))
			return *out = true, 0;
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (!strcasecmp(v, no[i]))
			return *out = false, 0;
	return kvfs_error_set(KVFS_EINVAL,
		"option %s=%s: expected true or false", name, v);
}

/* Parse a non-negative decimal number and the text after it. */
static int parse_number(const char *name, const char *v, uint64_t *num,
			const char **rest)
{
	char *end = NULL;

	if (!isdigit((unsigned char)v[0]))
		return kvfs_error_set(KVFS_EINVAL,
			"option %s=%s: expected a number", name, v);
	errno = 0;
	*num = strtoull(v, &end, 10);
	if (errno)
		return kvfs_error_set(KVFS_EINVAL,
			"option %s=%s: number out of range", name, v);
	*rest = end;
	return 0;
}

int kvfs_options_take_size(struct kvfs_options *opts, const char *name,
			   uint64_t dflt, uint64_t *out)
{
	const char *v = kvfs_options_take(opts, name), *rest = NULL;
	uint64_t num = 0, mult = 1;
	int rc;

	if (!v) {
		*out = dflt;
		return 0;
	}
	rc = parse_number(name, v, &num, &rest);
	if (rc)
		return rc;
	if (!strcasecmp(rest, "k") || !strcasecmp(rest, "kib"))
		mult = 1ull << 10;
	else if (!strcasecmp(rest, "m") || !strcasecmp(rest, "mib"))
		mult = 1ull << 20;
	else if (!strcasecmp(rest, "g") || !strcasecmp(rest, "gib"))
		mult = 1ull << 30;
	else if (*rest)
		return kvfs_error_set(KVFS_EINVAL,
			"option %s=%s: expected a size such as 64M", name, v);
	if (num > UINT64_MAX / mult)
		return kvfs_error_set(KVFS_EINVAL,
			"option %s=%s: size out of range", name, v);
	*out = num * mult;
	return 0;
}

int kvfs_options_take_ms(struct kvfs_options *opts, const char *name,
			 uint64_t dflt_ms, uint64_t *out_ms)
{
	const char *v = kvfs_options_take(opts, name), *rest = NULL;
	uint64_t num = 0;
	int rc;

	if (!v) {
		*out_ms = dflt_ms;
		return 0;
	}
	rc = parse_number(name, v, &num, &rest);
	if (rc)
		return rc;
	if (!strcmp(rest, "ms"))
		*out_ms = num;
	else if ((!*rest || !strcmp(rest, "s")) && num > UINT64_MAX / 1000)
		return kvfs_error_set(KVFS_EINVAL,
			"option %s=%s: duration out of range", name, v);
	else if (!*rest || !strcmp(rest, "s"))
		*out_ms = num * 1000;
	else
		return kvfs_error_set(KVFS_EINVAL,
			"option %s=%s: expected a duration such as 5s or 500ms",
			name, v);
	return 0;
}

int kvfs_options_check_all_taken(const struct kvfs_options *opts)
{
	for (size_t i = 0; i < opts->count; i++)
		if (!opts->entries[i].taken)
			return kvfs_error_set(KVFS_EINVAL, "unknown option '%s'",
					      opts->entries[i].name);
	return 0;
}

bool kvfs_options_at(const struct kvfs_options *opts, size_t i,
		     const char **name, const char **value)
{
	if (i >= opts->count)
		return false;
	*name = opts->entries[i].name;
	*value = opts->entries[i].value;
	return true;
}
