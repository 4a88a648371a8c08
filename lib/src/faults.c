/*
 * faults.c - fault injection, a testing aid: with the store option
 * faults=PATH, the store's wrappers (store.c) ask this module before each
 * backend call whether to fail it instead, so that tests can make a
 * backend fail where real ones rarely do (a full disk in the middle of a
 * publish, a timeout on stat) and check what the user then sees.
 *
 * PATH holds rules, one a line, read again whenever the file changes
 * (lib/docs/faults.md):
 *
 *   OP CODE [COUNT [KEY]]
 *
 * OP is a wrapper's name (put, writer_commit, ...), CODE a library error
 * code (ENOSPACE or KVFS_ENOSPACE, ...), COUNT how many of the next
 * matching calls fail ("*" or nothing: all of them), KEY the exact key a
 * call must name (calls on readers and writers name none). Off, and
 * costing one NULL test per call, unless the option is given.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store_internal.h"

struct rule {
	const char *op;   /* one of ops[] */
	int code;
	long count;       /* calls still to fail; -1: every call */
	char *key;        /* NULL: any key */
};

struct kvfs_faults {
	char *path;
	/* Protects everything below: the daemon calls from many threads. */
	pthread_mutex_t lock;
	struct rule *rules;
	size_t nrules;
	bool seen;        /* the identity below is of a file read */
	struct stat id;   /* of the file the rules came from */
};

static const char *const ops[] = {
	"get", "put", "delete", "stat", "mkdir", "rmdir", "rename",
	"set_attr", "getxattr", "setxattr", "listxattr", "removexattr",
	"list", "open_reader", "open_writer", "writer_pwrite",
	"writer_truncate", "writer_commit", "space",
};

static const struct {
	const char *name;
	int code;
} codes[] = {
	{ "EFAIL", KVFS_EFAIL },
	{ "ENOTFOUND", KVFS_ENOTFOUND },
	{ "EEXISTS", KVFS_EEXISTS },
	{ "ENOTEMPTY", KVFS_ENOTEMPTY },
	{ "EISDIR", KVFS_EISDIR },
	{ "ENOTDIR", KVFS_ENOTDIR },
	{ "EINVALKEY", KVFS_EINVALKEY },
	{ "ENAMETOOLONG", KVFS_ENAMETOOLONG },
	{ "ETOOLARGE", KVFS_ETOOLARGE },
	{ "EUNAVAILABLE", KVFS_EUNAVAILABLE },
	{ "ETIMEDOUT", KVFS_ETIMEDOUT },
	{ "ECONFLICT", KVFS_ECONFLICT },
	{ "ENOTSUPPORTED", KVFS_ENOTSUPPORTED },
	{ "EINVAL", KVFS_EINVAL },
	{ "ENOSPACE", KVFS_ENOSPACE },
	{ "ENODATA", KVFS_ENODATA },
	{ "EREADONLY", KVFS_EREADONLY },
	{ "ECROSS", KVFS_ECROSS },
};

static const char *op_named(const char *name)
{
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(name, ops[i]))
			return ops[i];
	return NULL;
}

static bool code_named(const char *name, int *code)
{
	if (!strncmp(name, "KVFS_", 5))
		name += 5;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (!strcmp(name, codes[i].name)) {
			*code = codes[i].code;
			return true;
		}
	return false;
}

static void drop_rules(struct kvfs_faults *f)
{
	for (size_t i = 0; i < f->nrules; i++)
		free(f->rules[i].key);
	free(f->rules);
	f->rules = NULL;
	f->nrules = 0;
}

/* Parse one line into *r: true, or false when it holds no rule (blank, a
 * comment, or wrong, which is logged). */
static bool parse_rule(const struct kvfs_faults *f, char *line,
		       unsigned int lineno, struct rule *r)
{
	char *save = NULL, *op, *code, *count, *key, *end;

	line[strcspn(line, "\n")] = '\0';
	op = strtok_r(line, " \t", &save);
	if (!op || op[0] == '#')
		return false;
	code = strtok_r(NULL, " \t", &save);
	count = strtok_r(NULL, " \t", &save);
	key = strtok_r(NULL, "", &save);
	*r = (struct rule){ .op = op_named(op), .count = -1 };
	if (!r->op || !code || !code_named(code, &r->code)) {
		kvfs_log(KVFS_LOG_WARNING,
			 "faults=%s line %u: want OP CODE [COUNT [KEY]] with "
			 "a store call and a library error code; ignored",
			 f->path, lineno);
		return false;
	}
	if (count && strcmp(count, "*")) {
		errno = 0;
		r->count = strtol(count, &end, 10);
		if (errno || *end || r->count < 0) {
			kvfs_log(KVFS_LOG_WARNING,
				 "faults=%s line %u: count '%s' is not a "
				 "number or *; ignored", f->path, lineno, count);
			return false;
		}
	}
	while (key && isspace((unsigned char)*key))
		key++;
	if (key && *key && !(r->key = strdup(key)))
		return false;
	return true;
}

/* Read the rules again when the file changed (lock held). A missing file
 * means no rules. */
static void reload(struct kvfs_faults *f)
{
	struct stat st;
	struct rule *grown, r;
	char line[4608];
	unsigned int lineno = 0;
	FILE *in;

	if (stat(f->path, &st)) {
		drop_rules(f);
		f->seen = false;
		return;
	}
	if (f->seen && st.st_dev == f->id.st_dev && st.st_ino == f->id.st_ino &&
	    st.st_size == f->id.st_size &&
	    st.st_mtim.tv_sec == f->id.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == f->id.st_mtim.tv_nsec)
		return;
	drop_rules(f);
	f->seen = true;
	f->id = st;
	in = fopen(f->path, "re");
	if (!in)
		return;
	while (fgets(line, sizeof(line), in)) {
		if (!parse_rule(f, line, ++lineno, &r))
			continue;
		grown = realloc(f->rules, (f->nrules + 1) * sizeof(*grown));
		if (!grown) {
			free(r.key);
			break;
		}
		f->rules = grown;
		f->rules[f->nrules++] = r;
	}
	fclose(in);
}

int kvfs_faults_open(const char *path, struct kvfs_faults **out)
{
	struct kvfs_faults *f;

	if (!path || !path[0])
		return kvfs_error_set(KVFS_EINVAL,
			"option faults needs the path of a rules file");
	f = calloc(1, sizeof(*f));
	if (!f || !(f->path = strdup(path))) {
		free(f);
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	}
	pthread_mutex_init(&f->lock, NULL);
	*out = f;
	return 0;
}

void kvfs_faults_close(struct kvfs_faults *f)
{
	if (!f)
		return;
	drop_rules(f);
	pthread_mutex_destroy(&f->lock);
	free(f->path);
	free(f);
}

int kvfs_faults_hit(struct kvfs_faults *f, const char *op, const char *key)
{
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	reload(f);
	for (size_t i = 0; i < f->nrules && !rc; i++) {
		struct rule *r = &f->rules[i];

		if (r->count == 0 || strcmp(r->op, op) ||
		    (r->key && (!key || strcmp(r->key, key))))
			continue;
		if (r->count > 0)
			r->count--;
		rc = kvfs_error_set(r->code, "%s%s%.200s: %s, injected by "
				    "faults=%s", op, key ? " " : "",
				    key ? key : "", kvfs_error_name(r->code),
				    f->path);
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}
