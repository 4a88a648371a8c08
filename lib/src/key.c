/*
 * key.c - the key rules, in one place for every backend: keys are
 * '/'-separated components; no empty key or component, no leading '/',
 * no "." or "..", no NUL, at most KVFS_NAME_MAX bytes a component and
 * KVFS_KEY_MAX bytes in all.
 */
#include <string.h>

#include <kvfs/kvfs.h>

enum kvfs_key_problem kvfs_key_problem_of(const char *key, size_t len)
{
	size_t start = 0;

	if (len == 0)
		return KVFS_KEY_EMPTY;
	if (memchr(key, '\0', len))
		return KVFS_KEY_NUL_BYTE;
	if (len > KVFS_KEY_MAX)
		return KVFS_KEY_TOO_LONG;
	if (key[0] == '/')
		return KVFS_KEY_LEADING_SLASH;
	while (start <= len) {
		const char *slash = memchr(key + start, '/', len - start);
		size_t end = slash ? (size_t)(slash - key) : len;
		size_t clen = end - start;

		if (clen == 0)
			return KVFS_KEY_EMPTY_COMPONENT;
		if (clen == 1 && key[start] == '.')
			return KVFS_KEY_DOT_COMPONENT;
		if (clen == 2 && key[start] == '.' && key[start + 1] == '.')
			return KVFS_KEY_DOTDOT_COMPONENT;
		if (clen > KVFS_NAME_MAX)
			return KVFS_KEY_COMPONENT_TOO_LONG;
		start = end + 1;
	}
	return KVFS_KEY_OK;
}

const char *kvfs_key_problem_text(enum kvfs_key_problem problem)
{
	switch (problem) {
	case KVFS_KEY_OK: return "valid";
	case KVFS_KEY_EMPTY: return "key is empty";
	case KVFS_KEY_LEADING_SLASH: return "key starts with '/'";
	case KVFS_KEY_EMPTY_COMPONENT: return "key has an empty component";
	case KVFS_KEY_DOT_COMPONENT: return "key has a '.' component";
	case KVFS_KEY_DOTDOT_COMPONENT: return "key has a '..' component";
	case KVFS_KEY_NUL_BYTE: return "key contains a NUL byte";
	case KVFS_KEY_COMPONENT_TOO_LONG:
		return "key has a component over 255 bytes";
	case KVFS_KEY_TOO_LONG: return "key is over 4096 bytes";
	}
	return "invalid key";
}

static int refuse(const char *key, enum kvfs_key_problem problem)
{
	int code = (problem == KVFS_KEY_COMPONENT_TOO_LONG ||
		    problem == KVFS_KEY_TOO_LONG)
		? KVFS_ENAMETOOLONG : KVFS_EINVALKEY;

	return kvfs_error_set(code, "%s: '%.64s%s'", kvfs_key_problem_text(problem),
			      key, strlen(key) > 64 ? "..." : "");
}

int kvfs_key_check(const char *key)
{
	enum kvfs_key_problem problem;

	if (!key)
		return kvfs_error_set(KVFS_EINVALKEY, "key is NULL");
	problem = kvfs_key_problem_of(key, strlen(key));
	return problem == KVFS_KEY_OK ? 0 : refuse(key, problem);
}

int kvfs_key_check_dir(const char *key)
{
	if (key && key[0] == '\0')
		return 0;
	return kvfs_key_check(key);
}

int kvfs_key_check_name(const char *name)
{
	if (name && strchr(name, '/'))
		return kvfs_error_set(KVFS_EINVALKEY, "name contains '/': '%.64s'",
				      name);
	return kvfs_key_check(name);
}
