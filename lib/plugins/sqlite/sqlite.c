/*
 * sqlite.c - kvfs-sqlite.so, the example backend plugin: every key in one
 * SQLite database file (plugin_opts db=PATH), for millions of tiny keys
 * where one file per key wastes space.
 *
 * Tables: nodes (one row per value or directory, the root is the row "";
 * `parent` indexed so that a listing pages through one directory by key
 * range) and xattrs (key, name, value). The database runs in WAL mode;
 * every change is one transaction, so put, rename of a whole directory
 * tree and delete are atomic. Every row carries `version`, a counter bumped
 * by each transaction that changes it (the cache revalidates by it).
 *
 * Locking: one mutex (struct sq.lock) serializes every use of the
 * connection and its prepared statements; it is taken for a whole
 * operation (or one page of a listing) and no other lock is taken inside
 * it. Other processes opening the same file wait up to busy_timeout.
 *
 * The plugin links libsqlite3 but not libkvfs: kvfs_buf_set,
 * kvfs_error_set, kvfs_options_take* resolve to the loading process.
 * Every level is served strongly (a single database is linearizable).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include <kvfs/backend.h>

#define PLUGIN_EXPORT __attribute__((visibility("default")))

#define LIST_PAGE 256
#define DEFAULT_MAX_VALUE (16u << 20)
#define DEFAULT_FILE_MODE 0644
#define DEFAULT_DIR_MODE 0755

enum stmt_id {
	S_KIND, S_GET, S_STAT, S_INSERT_DIR, S_UPSERT_FILE, S_DELETE,
	S_DEL_XATTRS, S_HAS_CHILD, S_LIST_PAGE, S_TOUCH, S_SET_MODE,
	S_SET_MTIME, S_NEXT_VERSION, S_XGET, S_XSET, S_XLIST, S_XDEL,
	S_TREE, S_MOVE, S_MOVE_XATTRS, S_BEGIN, S_COMMIT, S_ROLLBACK,
	S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
	[S_KIND] = "SELECT kind FROM nodes WHERE key = ?1",
	[S_GET] = "SELECT kind, value FROM nodes WHERE key = ?1",
	[S_STAT] = "SELECT kind, length(value), mode, mtime_ns, version "
		   "FROM nodes WHERE key = ?1",
	[S_INSERT_DIR] = "INSERT INTO nodes(key, parent, kind, value, mode, "
			 "mtime_ns, version) VALUES (?1, ?2, 2, NULL, ?3, ?4, ?5)",
	[S_UPSERT_FILE] = "INSERT INTO nodes(key, parent, kind, value, mode, "
			  "mtime_ns, version) VALUES (?1, ?2, 1, ?3, 0, ?4, ?5) "
			  "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
			  "mtime_ns = excluded.mtime_ns, version = excluded.version",
	[S_DELETE] = "DELETE FROM nodes WHERE key = ?1",
	[S_DEL_XATTRS] = "DELETE FROM xattrs WHERE key = ?1",
	[S_HAS_CHILD] = "SELECT 1 FROM nodes WHERE parent = ?1 LIMIT 1",
	[S_LIST_PAGE] = "SELECT key, kind FROM nodes WHERE parent = ?1 "
			"AND key > ?2 ORDER BY key LIMIT ?3",
	[S_TOUCH] = "UPDATE nodes SET mtime_ns = ?2, version = ?3 "
		    "WHERE key = ?1",
	[S_SET_MODE] = "UPDATE nodes SET mode = ?2 WHERE key = ?1",
	[S_SET_MTIME] = "UPDATE nodes SET mtime_ns = ?2 WHERE key = ?1",
	[S_NEXT_VERSION] = "UPDATE meta SET value = value + 1 "
			   "WHERE name = 'version' RETURNING value",
	[S_XGET] = "SELECT value FROM xattrs WHERE key = ?1 AND name = ?2",
	[S_XSET] = "INSERT OR REPLACE INTO xattrs(key, name, value) "
		   "VALUES (?1, ?2, ?3)",
	[S_XLIST] = "SELECT name FROM xattrs WHERE key = ?1 ORDER BY name",
	[S_XDEL] = "DELETE FROM xattrs WHERE key = ?1 AND name = ?2",
	[S_TREE] = "SELECT key FROM nodes WHERE key > ?1 AND key < ?2",
	[S_MOVE] = "UPDATE nodes SET key = ?2, parent = ?3, version = ?4 "
		   "WHERE key = ?1",
	[S_MOVE_XATTRS] = "UPDATE xattrs SET key = ?2 WHERE key = ?1",
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
};

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS nodes ("
	"  key TEXT PRIMARY KEY,"       /* "" is the root */
	"  parent TEXT,"                /* NULL for the root */
	"  kind INTEGER NOT NULL,"      /* 1 value, 2 directory */
	"  value BLOB,"
	"  mode INTEGER NOT NULL DEFAULT 0,"
	"  mtime_ns INTEGER NOT NULL,"
	"  version INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS nodes_by_parent ON nodes(parent, key);"
	"CREATE TABLE IF NOT EXISTS xattrs ("
	"  key TEXT NOT NULL, name TEXT NOT NULL, value BLOB,"
	"  PRIMARY KEY (key, name)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER);"
	"INSERT OR IGNORE INTO meta VALUES ('version', 1);"
	"INSERT OR IGNORE INTO nodes VALUES ('', NULL, 2, NULL, 0, 0, 1);";

struct sq {
	struct kvfs_backend base;
	uint64_t max_value;
	pthread_mutex_t lock;       /* serializes db and stmts; see above */
	sqlite3 *db;
	sqlite3_stmt *stmts[S_COUNT];
};

static struct sq *sq_of(struct kvfs_backend *b)
{
	return (struct sq *)b;
}

/* ------------------------------------------------------------- helpers */

/* The KVFS_E* code for a SQLite result, with its message. */
static int db_error(struct sq *s, int rc, const char *what)
{
	int code = KVFS_EFAIL;

	switch (rc & 0xff) {
	case SQLITE_FULL: code = KVFS_ENOSPACE; break;
	case SQLITE_TOOBIG: code = KVFS_ETOOLARGE; break;
	case SQLITE_BUSY: case SQLITE_LOCKED: code = KVFS_ETIMEDOUT; break;
	case SQLITE_CANTOPEN: code = KVFS_EUNAVAILABLE; break;
	}
	return kvfs_error_set(code, "sqlite %s: %s", what,
			      s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
}

/* The statement `id`, reset, with its parameters cleared. Lock held. */
static sqlite3_stmt *stmt(struct sq *s, enum stmt_id id)
{
	sqlite3_stmt *st = s->stmts[id];

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

static void bind_key(sqlite3_stmt *st, int i, const char *key)
{
	sqlite3_bind_text(st, i, key, -1, SQLITE_STATIC);
}

/* Step a statement that returns no row: 0 or a KVFS_E* code. */
static int exec(struct sq *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : db_error(s, rc, what);
}

static int exec_id(struct sq *s, enum stmt_id id, const char *what)
{
	return exec(s, stmt(s, id), what);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Kind of key: 0 absent, KVFS_KIND_FILE, KVFS_KIND_DIR, or an error. */
static int kind_of(struct sq *s, const char *key)
{
	sqlite3_stmt *st = stmt(s, S_KIND);
	int rc;

	bind_key(st, 1, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = sqlite3_column_int(st, 0);
	else if (rc == SQLITE_DONE)
		rc = 0;
	else
		rc = db_error(s, rc, "lookup");
	sqlite3_reset(st);
	return rc;
}

/* The parent of key into buf ("" for a top-level key). */
static void parent_of(const char *key, char *buf)
{
	const char *slash = strrchr(key, '/');
	size_t len = slash ? (size_t)(slash - key) : 0;

	memcpy(buf, key, len);
	buf[len] = '\0';
}

/* Kind of key's ancestor made of its first len bytes (copied into
 * prefix): 0 absent, KVFS_KIND_DIR, KVFS_ENOTDIR when it is a value, or
 * another error. */
static int ancestor_kind(struct sq *s, const char *key, size_t len,
			 char *prefix)
{
	int kind;

	memcpy(prefix, key, len);
	prefix[len] = '\0';
	kind = kind_of(s, prefix);
	if (kind == KVFS_KIND_FILE)
		return kvfs_error_set(KVFS_ENOTDIR,
			"%s: %s is not a directory", key, prefix);
	return kind;
}

/* Why key is absent: KVFS_ENOTDIR when an ancestor is a value, else
 * KVFS_ENOTFOUND. */
static int absent(struct sq *s, const char *key)
{
	char prefix[KVFS_KEY_MAX + 1];

	for (const char *p = strchr(key, '/'); p; p = strchr(p + 1, '/')) {
		int kind = ancestor_kind(s, key, (size_t)(p - key), prefix);

		if (kind < 0)
			return kind;
		if (kind == 0)
			break;
	}
	return kvfs_error_set(KVFS_ENOTFOUND, "%s: no such key", key);
}

/* A fresh version for the current transaction. */
static int next_version(struct sq *s, int64_t *out)
{
	sqlite3_stmt *st = stmt(s, S_NEXT_VERSION);
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = 0;
	} else {
		rc = db_error(s, rc, "version");
	}
	sqlite3_reset(st);
	return rc;
}

/* Set a directory's mtime and version (it gained or lost a child). */
static int touch(struct sq *s, const char *key, int64_t now, int64_t version)
{
	sqlite3_stmt *st = stmt(s, S_TOUCH);

	bind_key(st, 1, key);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, version);
	return exec(s, st, "touch");
}

static int touch_parent(struct sq *s, const char *key, int64_t now,
			int64_t version)
{
	char parent[KVFS_KEY_MAX + 1];

	parent_of(key, parent);
	return touch(s, parent, now, version);
}

static int insert_dir(struct sq *s, const char *key, uint32_t mode,
		      int64_t now, int64_t version)
{
	char parent[KVFS_KEY_MAX + 1];
	sqlite3_stmt *st = stmt(s, S_INSERT_DIR);
	int rc;

	parent_of(key, parent);
	bind_key(st, 1, key);
	bind_key(st, 2, parent);
	sqlite3_bind_int(st, 3, (int)mode);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_int64(st, 5, version);
	rc = exec(s, st, "mkdir");
	return rc ? rc : touch(s, parent, now, version);
}

/* mkdir -p of key's parents; KVFS_ENOTDIR when one is a value. */
static int make_parents(struct sq *s, const char *key, int64_t now,
			int64_t version)
{
	char prefix[KVFS_KEY_MAX + 1];

	for (const char *p = strchr(key, '/'); p; p = strchr(p + 1, '/')) {
		int rc, kind = ancestor_kind(s, key, (size_t)(p - key), prefix);

		if (kind < 0)
			return kind;
		if (kind == 0 && (rc = insert_dir(s, prefix, 0, now, version)))
			return rc;
	}
	return 0;
}

/* Delete key's row and its attributes; what names the operation in an
 * error message. */
static int delete_row(struct sq *s, const char *key, const char *what)
{
	sqlite3_stmt *st = stmt(s, S_DELETE);
	int rc;

	bind_key(st, 1, key);
	rc = exec(s, st, what);
	if (rc)
		return rc;
	st = stmt(s, S_DEL_XATTRS);
	bind_key(st, 1, key);
	return exec(s, st, what);
}

/* 0 when directory key has no child, else KVFS_ENOTEMPTY or an error. */
static int must_be_empty(struct sq *s, const char *key, const char *what)
{
	sqlite3_stmt *st = stmt(s, S_HAS_CHILD);
	int rc;

	bind_key(st, 1, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = kvfs_error_set(KVFS_ENOTEMPTY, "%s is not empty", key);
	else
		rc = rc == SQLITE_DONE ? 0 : db_error(s, rc, what);
	sqlite3_reset(st);
	return rc;
}

static int begin(struct sq *s, int64_t *version)
{
	int rc = exec_id(s, S_BEGIN, "begin");

	if (rc)
		return rc;
	rc = next_version(s, version);
	if (rc)
		exec_id(s, S_ROLLBACK, "rollback");
	return rc;
}

/* Commit when rc is 0, else roll back; returns the outcome. */
static int end(struct sq *s, int rc)
{
	if (rc == 0) {
		rc = exec_id(s, S_COMMIT, "commit");
		if (rc == 0)
			return 0;
	}
	exec_id(s, S_ROLLBACK, "rollback");
	return rc;
}

/* Run the one-key query id for key. Found: 0 with *out the statement on
 * its row (read the columns, then sqlite3_reset it). Else the statement
 * is reset and the result is absent()'s code or the database error. Lock
 * held. */
static int lookup(struct sq *s, enum stmt_id id, const char *key,
		  const char *what, sqlite3_stmt **out)
{
	sqlite3_stmt *st = stmt(s, id);
	int rc;

	bind_key(st, 1, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = st;
		return 0;
	}
	rc = rc == SQLITE_DONE ? 0 : db_error(s, rc, what);
	sqlite3_reset(st);
	return rc ? rc : absent(s, key);
}

/* ------------------------------------------------------ value operations */

static int sq_get(struct kvfs_backend *b, const char *key,
		  enum kvfs_consistency level, struct kvfs_buf *out)
{
	struct sq *s = sq_of(b);
	sqlite3_stmt *st = NULL;
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = lookup(s, S_GET, key, "get", &st);
	if (rc == 0) {
		if (sqlite3_column_int(st, 0) == KVFS_KIND_DIR)
			rc = kvfs_error_set(KVFS_EISDIR, "%s is a directory", key);
		else
			rc = kvfs_buf_set(out, sqlite3_column_blob(st, 1),
					  (size_t)sqlite3_column_bytes(st, 1));
		sqlite3_reset(st);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int put_locked(struct sq *s, const char *key, const void *value,
		      size_t len)
{
	char parent[KVFS_KEY_MAX + 1];
	int64_t version, now = now_ns();
	sqlite3_stmt *st = NULL;
	int kind, rc = begin(s, &version);

	if (rc)
		return rc;
	kind = kind_of(s, key);
	if (kind < 0)
		return end(s, kind);
	if (kind == KVFS_KIND_DIR)
		return end(s, kvfs_error_set(KVFS_EISDIR, "%s is a directory",
					     key));
	rc = make_parents(s, key, now, version);
	if (rc)
		return end(s, rc);
	parent_of(key, parent);
	st = stmt(s, S_UPSERT_FILE);
	bind_key(st, 1, key);
	bind_key(st, 2, parent);
	sqlite3_bind_blob64(st, 3, len ? value : "", len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_int64(st, 5, version);
	rc = exec(s, st, "put");
	if (rc == 0 && kind == 0)
		rc = touch(s, parent, now, version);
	return end(s, rc);
}

static int sq_put(struct kvfs_backend *b, const char *key, const void *value,
		  size_t len, enum kvfs_consistency level)
{
	struct sq *s = sq_of(b);
	int rc;

	if (len > s->max_value)
		return kvfs_error_set(KVFS_ETOOLARGE,
			"%s: %zu bytes is over this database's max_value of "
			"%llu", key, len, (unsigned long long)s->max_value);
	pthread_mutex_lock(&s->lock);
	rc = put_locked(s, key, value, len);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Remove key's row and attributes: a value (want_dir false) or an empty
 * directory. Lock held. */
static int remove_locked(struct sq *s, const char *key, bool want_dir)
{
	int64_t version;
	int kind, rc = begin(s, &version);

	if (rc)
		return rc;
	kind = kind_of(s, key);
	if (kind < 0)
		return end(s, kind);
	if (kind == 0)
		return end(s, absent(s, key));
	if (kind == KVFS_KIND_DIR && !want_dir)
		return end(s, kvfs_error_set(KVFS_EISDIR, "%s is a directory",
					     key));
	if (kind == KVFS_KIND_FILE && want_dir)
		return end(s, kvfs_error_set(KVFS_ENOTDIR,
					     "%s is not a directory", key));
	if (want_dir && (rc = must_be_empty(s, key, "rmdir")))
		return end(s, rc);
	rc = delete_row(s, key, "delete");
	if (rc == 0)
		rc = touch_parent(s, key, now_ns(), version);
	return end(s, rc);
}

static int sq_del(struct kvfs_backend *b, const char *key,
		  enum kvfs_consistency level)
{
	struct sq *s = sq_of(b);
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = remove_locked(s, key, false);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* ------------------------------------------------- filesystem operations */

static int sq_stat(struct kvfs_backend *b, const char *key,
		   enum kvfs_consistency level, struct kvfs_stat *out)
{
	struct sq *s = sq_of(b);
	sqlite3_stmt *st = NULL;
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = lookup(s, S_STAT, key, "stat", &st);
	if (rc == 0) {
		int64_t ns = sqlite3_column_int64(st, 3);
		uint32_t mode = (uint32_t)sqlite3_column_int(st, 2);

		memset(out, 0, sizeof(*out));
		out->kind = sqlite3_column_int(st, 0) == KVFS_KIND_DIR ?
			    KVFS_KIND_DIR : KVFS_KIND_FILE;
		out->size = out->kind == KVFS_KIND_FILE ?
			    (uint64_t)sqlite3_column_int64(st, 1) : 0;
		out->mtime.tv_sec = ns / 1000000000;
		out->mtime.tv_nsec = ns % 1000000000;
		out->mode = mode ? mode : out->kind == KVFS_KIND_DIR ?
			    DEFAULT_DIR_MODE : DEFAULT_FILE_MODE;
		out->version = (uint64_t)sqlite3_column_int64(st, 4);
		sqlite3_reset(st);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int mkdir_locked(struct sq *s, const char *key, uint32_t mode)
{
	char parent[KVFS_KEY_MAX + 1];
	int64_t version;
	int kind, rc = begin(s, &version);

	if (rc)
		return rc;
	kind = kind_of(s, key);
	if (kind < 0)
		return end(s, kind);
	if (kind)
		return end(s, kvfs_error_set(KVFS_EEXISTS, "%s exists", key));
	parent_of(key, parent);
	kind = kind_of(s, parent);
	if (kind < 0)
		return end(s, kind);
	if (kind == 0)
		return end(s, absent(s, parent));
	if (kind == KVFS_KIND_FILE)
		return end(s, kvfs_error_set(KVFS_ENOTDIR,
					     "%s is not a directory", parent));
	return end(s, insert_dir(s, key, mode & 07777, now_ns(), version));
}

static int sq_mkdir(struct kvfs_backend *b, const char *key, uint32_t mode,
		    enum kvfs_consistency level)
{
	struct sq *s = sq_of(b);
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = mkdir_locked(s, key, mode);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int sq_rmdir(struct kvfs_backend *b, const char *key,
		    enum kvfs_consistency level)
{
	struct sq *s = sq_of(b);
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = remove_locked(s, key, true);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Move one row and its attributes from `from` to `to`. */
static int move_row(struct sq *s, const char *from, const char *to,
		    int64_t version)
{
	char parent[KVFS_KEY_MAX + 1];
	sqlite3_stmt *st = stmt(s, S_MOVE);
	int rc;

	parent_of(to, parent);
	bind_key(st, 1, from);
	bind_key(st, 2, to);
	bind_key(st, 3, parent);
	sqlite3_bind_int64(st, 4, version);
	rc = exec(s, st, "rename");
	if (rc)
		return rc;
	st = stmt(s, S_MOVE_XATTRS);
	bind_key(st, 1, from);
	bind_key(st, 2, to);
	return exec(s, st, "rename");
}

/* Move every key below directory `from` to below `to`. The keys are read
 * first (the range "from/" .. "from0" in key order), then moved. */
static int move_tree(struct sq *s, const char *from, const char *to,
		     int64_t version)
{
	char lo[KVFS_KEY_MAX + 2], hi[KVFS_KEY_MAX + 2], moved[2 * KVFS_KEY_MAX + 2];
	size_t flen = strlen(from), n = 0, cap = 0;
	char **keys = NULL;
	sqlite3_stmt *st = NULL;
	int rc = 0;

	snprintf(lo, sizeof(lo), "%s/", from);
	snprintf(hi, sizeof(hi), "%s0", from);
	st = stmt(s, S_TREE);
	bind_key(st, 1, lo);
	bind_key(st, 2, hi);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			char **grown;

			cap = cap ? cap * 2 : 64;
			grown = realloc(keys, cap * sizeof(*keys));
			if (!grown) {
				rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
				goto out_free_keys;
			}
			keys = grown;
		}
		keys[n] = strdup((const char *)sqlite3_column_text(st, 0));
		if (!keys[n]) {
			rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
			goto out_free_keys;
		}
		n++;
	}
	rc = rc == SQLITE_DONE ? 0 : db_error(s, rc, "rename");
	sqlite3_reset(st);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (strlen(to) + strlen(keys[i]) - flen > KVFS_KEY_MAX) {
			rc = kvfs_error_set(KVFS_ENAMETOOLONG,
				"%s would be over %d bytes under %s", keys[i],
				KVFS_KEY_MAX, to);
			break;
		}
		snprintf(moved, sizeof(moved), "%s%s", to, keys[i] + flen);
		rc = move_row(s, keys[i], moved, version);
	}
out_free_keys:
	sqlite3_reset(st);
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	return rc;
}

static int rename_locked(struct sq *s, const char *from, const char *to,
			 unsigned int flags)
{
	size_t flen = strlen(from);
	int64_t version, now = now_ns();
	int kfrom, kto, rc = begin(s, &version);

	if (rc)
		return rc;
	kfrom = kind_of(s, from);
	if (kfrom <= 0)
		return end(s, kfrom < 0 ? kfrom : absent(s, from));
	if (!strcmp(from, to))
		return end(s, (flags & KVFS_RENAME_NOREPLACE) ?
			   kvfs_error_set(KVFS_EEXISTS, "%s exists", to) : 0);
	if (kfrom == KVFS_KIND_DIR && !strncmp(to, from, flen) &&
	    to[flen] == '/')
		return end(s, kvfs_error_set(KVFS_EINVAL,
			"cannot move %s into itself (%s)", from, to));
	rc = make_parents(s, to, now, version);
	if (rc)
		return end(s, rc);
	kto = kind_of(s, to);
	if (kto < 0)
		return end(s, kto);
	if (kto && (flags & KVFS_RENAME_NOREPLACE))
		return end(s, kvfs_error_set(KVFS_EEXISTS, "%s exists", to));
	if (kto == KVFS_KIND_DIR && kfrom == KVFS_KIND_FILE)
		return end(s, kvfs_error_set(KVFS_EISDIR, "%s is a directory",
					     to));
	if (kto == KVFS_KIND_FILE && kfrom == KVFS_KIND_DIR)
		return end(s, kvfs_error_set(KVFS_ENOTDIR,
					     "%s is not a directory", to));
	if (kto == KVFS_KIND_DIR && (rc = must_be_empty(s, to, "rename")))
		return end(s, rc);
	if (kto)
		rc = delete_row(s, to, "rename");
	if (rc == 0)
		rc = move_row(s, from, to, version);
	if (rc == 0 && kfrom == KVFS_KIND_DIR)
		rc = move_tree(s, from, to, version);
	if (rc == 0)
		rc = touch_parent(s, from, now, version);
	if (rc == 0)
		rc = touch_parent(s, to, now, version);
	return end(s, rc);
}

static int sq_rename(struct kvfs_backend *b, const char *from, const char *to,
		     unsigned int flags, enum kvfs_consistency level)
{
	struct sq *s = sq_of(b);
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = rename_locked(s, from, to, flags);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int sq_set_attr(struct kvfs_backend *b, const char *key,
		       unsigned int fields, uint32_t mode,
		       const struct timespec *mtime,
		       enum kvfs_consistency level)
{
	struct sq *s = sq_of(b);
	sqlite3_stmt *st = NULL;
	int kind, rc = 0;

	pthread_mutex_lock(&s->lock);
	kind = kind_of(s, key);
	if (kind <= 0) {
		rc = kind < 0 ? kind : absent(s, key);
		goto out_unlock;
	}
	if (fields & KVFS_ATTR_MODE) {
		st = stmt(s, S_SET_MODE);
		bind_key(st, 1, key);
		sqlite3_bind_int(st, 2, (int)(mode & 07777));
		rc = exec(s, st, "set mode");
	}
	if (rc == 0 && (fields & KVFS_ATTR_MTIME)) {
		st = stmt(s, S_SET_MTIME);
		bind_key(st, 1, key);
		sqlite3_bind_int64(st, 2, (int64_t)mtime->tv_sec * 1000000000 +
					  mtime->tv_nsec);
		rc = exec(s, st, "set mtime");
	}
out_unlock:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* -------------------------------------------------------------- xattrs */

/* 0 when key exists, else its absent() code. Lock held. */
static int must_exist(struct sq *s, const char *key)
{
	int kind = kind_of(s, key);

	if (kind < 0)
		return kind;
	return kind ? 0 : absent(s, key);
}

static int sq_getxattr(struct kvfs_backend *b, const char *key,
		       const char *name, struct kvfs_buf *out)
{
	struct sq *s = sq_of(b);
	sqlite3_stmt *st = NULL;
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = must_exist(s, key);
	if (rc)
		goto out_unlock;
	st = stmt(s, S_XGET);
	bind_key(st, 1, key);
	bind_key(st, 2, name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = kvfs_buf_set(out, sqlite3_column_blob(st, 0),
				  (size_t)sqlite3_column_bytes(st, 0));
	else if (rc == SQLITE_DONE)
		rc = kvfs_error_set(KVFS_ENODATA, "%s has no attribute %s",
				    key, name);
	else
		rc = db_error(s, rc, "getxattr");
	sqlite3_reset(st);
out_unlock:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int sq_setxattr(struct kvfs_backend *b, const char *key,
		       const char *name, const void *value, size_t len,
		       unsigned int flags)
{
	struct sq *s = sq_of(b);
	sqlite3_stmt *st = NULL;
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = must_exist(s, key);
	if (rc)
		goto out_unlock;
	if (flags & (KVFS_XATTR_CREATE | KVFS_XATTR_REPLACE)) {
		st = stmt(s, S_XGET);
		bind_key(st, 1, key);
		bind_key(st, 2, name);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc == SQLITE_ROW && (flags & KVFS_XATTR_CREATE)) {
			rc = kvfs_error_set(KVFS_EEXISTS,
				"%s already has attribute %s", key, name);
			goto out_unlock;
		}
		if (rc == SQLITE_DONE && (flags & KVFS_XATTR_REPLACE)) {
			rc = kvfs_error_set(KVFS_ENODATA,
				"%s has no attribute %s", key, name);
			goto out_unlock;
		}
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			rc = db_error(s, rc, "setxattr");
			goto out_unlock;
		}
	}
	st = stmt(s, S_XSET);
	bind_key(st, 1, key);
	bind_key(st, 2, name);
	sqlite3_bind_blob64(st, 3, len ? value : "", len, SQLITE_STATIC);
	rc = exec(s, st, "setxattr");
out_unlock:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int sq_listxattr(struct kvfs_backend *b, const char *key,
			struct kvfs_buf *out)
{
	struct sq *s = sq_of(b);
	char *names = NULL;
	size_t len = 0;
	sqlite3_stmt *st = NULL;
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = must_exist(s, key);
	if (rc)
		goto out_unlock;
	st = stmt(s, S_XLIST);
	bind_key(st, 1, key);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(st, 0) + 1;
		char *grown = realloc(names, len + n);

		if (!grown) {
			rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
			break;
		}
		names = grown;
		memcpy(names + len, sqlite3_column_text(st, 0), n);
		len += n;
	}
	if (rc == SQLITE_DONE)
		rc = kvfs_buf_set(out, names ? names : "", len);
	else if (rc > 0)
		rc = db_error(s, rc, "listxattr");
	sqlite3_reset(st);
out_unlock:
	pthread_mutex_unlock(&s->lock);
	free(names);
	return rc;
}

static int sq_removexattr(struct kvfs_backend *b, const char *key,
			  const char *name)
{
	struct sq *s = sq_of(b);
	sqlite3_stmt *st = NULL;
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = must_exist(s, key);
	if (rc)
		goto out_unlock;
	st = stmt(s, S_XDEL);
	bind_key(st, 1, key);
	bind_key(st, 2, name);
	rc = exec(s, st, "removexattr");
	if (rc == 0 && sqlite3_changes(s->db) == 0)
		rc = kvfs_error_set(KVFS_ENODATA, "%s has no attribute %s",
				    key, name);
out_unlock:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* ------------------------------------------------------------- listing */

/* A listing reads one page of LIST_PAGE children at a time, each page
 * starting after the last key returned, so a directory of any size never
 * sits in memory at once. */
struct sq_lister {
	struct kvfs_lister base;
	struct sq *sq;
	char *dir;
	char last[KVFS_KEY_MAX + 1];   /* last key returned; "" at start */
	struct kvfs_dirent page[LIST_PAGE];
	char page_keys_last[KVFS_KEY_MAX + 1];
	size_t n, i;
	bool done;
};

static int fetch_page(struct sq_lister *l)
{
	struct sq *s = l->sq;
	size_t dlen = strlen(l->dir), skip = dlen ? dlen + 1 : 0;
	sqlite3_stmt *st = NULL;
	int rc;

	pthread_mutex_lock(&s->lock);
	st = stmt(s, S_LIST_PAGE);
	bind_key(st, 1, l->dir);
	bind_key(st, 2, l->last);
	sqlite3_bind_int(st, 3, LIST_PAGE);
	l->n = l->i = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 0);
		struct kvfs_dirent *ent = &l->page[l->n++];

		snprintf(ent->name, sizeof(ent->name), "%s", key + skip);
		ent->kind = sqlite3_column_int(st, 1) == KVFS_KIND_DIR ?
			    KVFS_KIND_DIR : KVFS_KIND_FILE;
		snprintf(l->page_keys_last, sizeof(l->page_keys_last), "%s",
			 key);
	}
	rc = rc == SQLITE_DONE ? 0 : db_error(s, rc, "list");
	sqlite3_reset(st);
	pthread_mutex_unlock(&s->lock);
	if (rc)
		return rc;
	if (l->n < LIST_PAGE)
		l->done = true;
	memcpy(l->last, l->page_keys_last, sizeof(l->last));
	return 0;
}

static int sq_lister_next(struct kvfs_lister *base, struct kvfs_dirent *ent)
{
	struct sq_lister *l = (struct sq_lister *)base;

	if (l->i == l->n) {
		int rc;

		if (l->done)
			return 0;
		rc = fetch_page(l);
		if (rc)
			return rc;
		if (l->n == 0)
			return 0;
	}
	*ent = l->page[l->i++];
	return 1;
}

static void sq_lister_close(struct kvfs_lister *base)
{
	struct sq_lister *l = (struct sq_lister *)base;

	free(l->dir);
	free(l);
}

static const struct kvfs_lister_ops sq_lister_ops = {
	.next = sq_lister_next,
	.close = sq_lister_close,
};

static int sq_list(struct kvfs_backend *b, const char *key,
		   enum kvfs_consistency level, struct kvfs_lister **out)
{
	struct sq *s = sq_of(b);
	struct sq_lister *l;
	int kind;

	pthread_mutex_lock(&s->lock);
	kind = kind_of(s, key);
	if (kind == 0)
		kind = absent(s, key);
	else if (kind == KVFS_KIND_FILE)
		kind = kvfs_error_set(KVFS_ENOTDIR, "%s is not a directory",
				      key);
	pthread_mutex_unlock(&s->lock);
	if (kind < 0)
		return kind;
	l = calloc(1, sizeof(*l));
	if (!l)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	l->dir = strdup(key);
	if (!l->dir) {
		free(l);
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	}
	l->base.ops = &sq_lister_ops;
	l->sq = s;
	*out = &l->base;
	return 0;
}

/* ------------------------------------------------------ open and close */

static void sq_destroy(struct kvfs_backend *b)
{
	struct sq *s = sq_of(b);

	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(s->stmts[i]);
	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static const struct kvfs_backend_ops sq_ops = {
	.version = KVFS_BACKEND_VERSION,
	.name = "sqlite",
	.get = sq_get,
	.put = sq_put,
	.del = sq_del,
	.destroy = sq_destroy,
	.stat = sq_stat,
	.list = sq_list,
	.rename = sq_rename,
	.mkdir = sq_mkdir,
	.rmdir = sq_rmdir,
	.set_attr = sq_set_attr,
	.getxattr = sq_getxattr,
	.setxattr = sq_setxattr,
	.listxattr = sq_listxattr,
	.removexattr = sq_removexattr,
	/* open_reader, open_writer: the library's fallbacks (values are
	 * bounded by max_value); space, control: not offered. */
};

static int open_db(struct sq *s, const char *path, bool sync, bool exclusive)
{
	char pragmas[160];
	int rc;

	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
			     SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc)
		return kvfs_error_set(KVFS_EUNAVAILABLE,
			"sqlite db=%s: %s", path,
			s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
	sqlite3_busy_timeout(s->db, 5000);
	/* Exclusive locking must be chosen before WAL mode starts. */
	snprintf(pragmas, sizeof(pragmas),
		 "PRAGMA locking_mode=%s; PRAGMA journal_mode=WAL; "
		 "PRAGMA synchronous=%s;", exclusive ? "EXCLUSIVE" : "NORMAL",
		 sync ? "FULL" : "NORMAL");
	rc = sqlite3_exec(s->db, pragmas, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return kvfs_error_set(rc == SQLITE_NOTADB ? KVFS_EINVAL :
				      KVFS_EFAIL, "sqlite db=%s: %s", path,
				      sqlite3_errmsg(s->db));
	for (int i = 0; i < S_COUNT; i++) {
		rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1,
					SQLITE_PREPARE_PERSISTENT,
					&s->stmts[i], NULL);
		if (rc != SQLITE_OK)
			return kvfs_error_set(KVFS_EFAIL,
				"sqlite db=%s: preparing \"%s\": %s", path,
				stmt_sql[i], sqlite3_errmsg(s->db));
	}
	return 0;
}

/*
 * The plugin entry point. Options (from plugin_opts): db=PATH (required;
 * created if missing), sync=true|false (default true: synchronous=FULL,
 * every commit reaches the disk; false: NORMAL, a power loss may lose the
 * last commits but never corrupts), max_value=SIZE (default 16M),
 * exclusive=true|false (default false: other processes may open the file
 * too; true: this backend holds the file's lock from its first write on,
 * which saves the lock calls of every transaction).
 */
PLUGIN_EXPORT int kvfs_plugin_init(unsigned int host_version,
				   struct kvfs_options *opts,
				   struct kvfs_backend **out)
{
	const char *path = kvfs_options_take(opts, "db");
	struct sq *s;
	bool sync, exclusive;
	int rc;

	if (host_version < KVFS_BACKEND_VERSION)
		return kvfs_error_set(KVFS_EINVAL,
			"kvfs-sqlite needs backend interface version %d, the "
			"host has %u", KVFS_BACKEND_VERSION, host_version);
	if (!path || !*path)
		return kvfs_error_set(KVFS_EINVAL,
			"kvfs-sqlite needs plugin_opts=db=/path/to/file.db");
	s = calloc(1, sizeof(*s));
	if (!s)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	s->base.ops = &sq_ops;
	pthread_mutex_init(&s->lock, NULL);
	rc = kvfs_options_take_bool(opts, "sync", true, &sync);
	if (rc == 0)
		rc = kvfs_options_take_size(opts, "max_value",
					    DEFAULT_MAX_VALUE, &s->max_value);
	if (rc == 0)
		rc = kvfs_options_take_bool(opts, "exclusive", false,
					    &exclusive);
	if (rc == 0)
		rc = open_db(s, path, sync, exclusive);
	if (rc) {
		sq_destroy(&s->base);
		return rc;
	}
	*out = &s->base;
	return 0;
}
