/*
 * xattr.c - extended attributes through the mount.
 *
 *   user.kvfs.consistency            file, dir: the level; set, get, remove;
 *                                    a value that is not a level: EINVAL
 *   user.kvfs.consistency.effective  file, dir: read-only level in force
 *   user.kvfs.causal-token           mount root: the backend's causal token
 *   user.kvfs.stats                  mount root: read-only figures
 *   other user.*                     stored with the key like any xattr
 *   other namespaces                 ENOTSUP
 *
 * Read-only names refuse set and remove with EPERM. The other user.kvfs.*
 * names are reserved: get gives ENODATA, set ENOTSUP. The names computed
 * here are not listed, so that cp -a and rsync -X copy only what is stored.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>

#include "kvfs_fs.h"

static struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A reserved name: user.kvfs.* other than the level (the computed names
 * are handled before this is asked). */
static bool is_reserved(const char *name)
{
	return starts_with(name, KVFS_XATTR_PREFIX) &&
	       strcmp(name, KVFS_XATTR_LEVEL);
}

/* The store's KVFS_XATTR_* flags for setxattr(2)'s XATTR_* flags. */
static unsigned int store_flags(int flags)
{
	return ((flags & XATTR_CREATE) ? KVFS_XATTR_CREATE : 0) |
	       ((flags & XATTR_REPLACE) ? KVFS_XATTR_REPLACE : 0);
}

/* Reply to getxattr with `len` bytes of value, or its size. */
static void reply_value(fuse_req_t req, const void *value, size_t len,
			size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, value, len);
}

/* Bytes the stats text may grow by between a size probe and a read. */
#define STATS_SLACK 1024

/* Since when the figures count: the mount's start (UTC, ISO 8601) and
 * the seconds since (a monotonic clock, so that a clock change does not
 * move it). */
static int since_line(struct fs *fs, struct kvfs_buf *out)
{
	struct timespec now;
	char stamp[32];
	struct tm tm;

	gmtime_r(&fs->started, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	clock_gettime(CLOCK_BOOTTIME, &now);
	return kvfs_buf_appendf(out, "since: %s uptime_s=%lld\n", stamp,
				(long long)(now.tv_sec - fs->started_boot));
}

/* What the backend said it can be relied on for, which decides what the
 * kernel may cache ("Kernel caching rule" in fs/README.md). */
static int caps_line(struct fs *fs, struct kvfs_buf *out)
{
	return kvfs_buf_appendf(out, "backend_caps:%s%s%s%s\n",
		fs->caps & KVFS_CAP_SOLE_WRITER ? " sole_writer" : "",
		fs->caps & KVFS_CAP_LENDS_FDS ? " lends_fds" : "",
		fs->caps & KVFS_CAP_LOCAL_FILES ? " local_files" : "",
		fs->caps ? "" : " none");
}

/* The user.kvfs.stats text: per level figures (since the mount began),
 * then the backend's. */
static int stats_text(struct fs *fs, struct kvfs_buf *out)
{
	int rc = 0;

	for (int l = 0; l < KVFS_CONSISTENCY_COUNT && rc == 0; l++) {
		struct kvfs_level_stats st;

		kvfs_store_level_stats(fs->store, (enum kvfs_consistency)l, &st);
		rc = kvfs_buf_appendf(out,
			"%s: ops=%llu errors=%llu not_found=%llu refused=%llu "
			"p50_us=%llu p99_us=%llu max_us=%llu\n",
			kvfs_consistency_name((enum kvfs_consistency)l),
			(unsigned long long)st.ops,
			(unsigned long long)st.errors,
			(unsigned long long)st.not_found,
			(unsigned long long)st.refused,
			(unsigned long long)st.latency_us_p50,
			(unsigned long long)st.latency_us_p99,
			(unsigned long long)st.latency_us_max);
	}
	if (rc == 0)
		rc = kvfs_buf_appendf(out, "writes: spliced=%lu copied=%lu\n",
			__atomic_load_n(&fs->writes_spliced, __ATOMIC_RELAXED),
			__atomic_load_n(&fs->writes_copied, __ATOMIC_RELAXED));
	if (rc == 0)
		rc = caps_line(fs, out);
	if (rc == 0)
		rc = kvfs_fs_requests_text(out);
	if (rc == 0)
		rc = since_line(fs, out);
	if (rc == 0)
		rc = kvfs_fs_health_line(fs, out);
	if (rc == 0) {
		rc = kvfs_store_control(fs->store, KVFS_CTL_STATS_TEXT, out);
		if (rc == KVFS_ENOTSUPPORTED)
			rc = 0;
	}
	return rc;
}

void kvfs_fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		      size_t size)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *inode = kvfs_fs_inode(fs, ino);
	char key[KVFS_KEY_MAX + 1];
	struct kvfs_buf buf = { 0 };
	int err, rc;

	if (!starts_with(name, "user.")) {
		fuse_reply_err(req, ENOTSUP);
		return;
	}
	if (!strcmp(name, KVFS_XATTR_EFFECTIVE)) {
		const char *text =
			kvfs_consistency_name(kvfs_fs_level(fs, inode));

		reply_value(req, text, strlen(text), size);
		return;
	}
	if (ino == FUSE_ROOT_ID && !strcmp(name, KVFS_XATTR_STATS)) {
		err = kvfs_fs_errno(fs, stats_text(fs, &buf), "stats");
		if (!err && size == 0) {
			/* The figures grow between the size probe and the
			 * read (getfattr allocates exactly the probed size):
			 * promise room for that; the read gives the length. */
			fuse_reply_xattr(req, buf.len + STATS_SLACK);
			kvfs_buf_free(&buf);
			return;
		}
		goto out;
	}
	if (ino == FUSE_ROOT_ID && !strcmp(name, KVFS_XATTR_TOKEN)) {
		rc = kvfs_store_control(fs->store, KVFS_CTL_CAUSAL_TOKEN_GET,
					&buf);
		/* A backend without tokens has none to give. */
		err = rc == KVFS_ENOTSUPPORTED ? ENODATA
					       : kvfs_fs_errno(fs, rc, name);
		goto out;
	}
	if (is_reserved(name)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	/* Created here and not yet published: it has none, and looking
	 * does not publish it. */
	if (kvfs_fs_is_pending(fs, inode)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	err = kvfs_fs_key(fs, inode, NULL, key);
	if (!err)
		err = kvfs_fs_errno(fs, kvfs_store_getxattr(fs->store, key,
				name, &buf), key);
out:
	if (err)
		fuse_reply_err(req, err);
	else
		reply_value(req, buf.data, buf.len, size);
	kvfs_buf_free(&buf);
}

/* A value of user.kvfs.consistency that is not a level: EINVAL, and a
 * warning, since setfattr says only "Invalid argument". */
static int bad_level(const char *key, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int bad_level(const char *key, const char *fmt, ...)
{
	char what[96];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	kvfs_log(KVFS_LOG_WARNING, "setfattr " KVFS_XATTR_LEVEL " on '%.200s%s': "
		 "%s is not a level: use strong, eventual, read-your-writes or "
		 "causal", key[0] ? key : "/", strlen(key) > 200 ? "..." : "",
		 what);
	return EINVAL;
}

/* Set or remove user.kvfs.consistency. value NULL: remove. */
static int set_level(struct fs *fs, struct fs_inode *inode, const char *key,
		     const char *value, size_t size, int flags)
{
	enum kvfs_consistency level;
	char text[64];
	const char *canon;
	int rc;

	if (value) {
		if (size >= sizeof(text) || memchr(value, '\0', size))
			return bad_level(key, "a value of %zu bytes", size);
		memcpy(text, value, size);
		text[size] = '\0';
		/* setfattr -v "eventual\n" from a file: accept the newline. */
		if (size && text[size - 1] == '\n')
			text[size - 1] = '\0';
		if (kvfs_consistency_parse(text, &level))
			return bad_level(key, "'%s'", text);
		canon = kvfs_consistency_name(level);
		rc = kvfs_store_setxattr(fs->store, key, KVFS_XATTR_LEVEL,
			canon, strlen(canon), store_flags(flags));
	} else {
		rc = kvfs_store_removexattr(fs->store, key, KVFS_XATTR_LEVEL);
	}
	if (rc == 0)
		kvfs_fs_level_changed(fs, inode);
	return kvfs_fs_errno(fs, rc, key);
}

void kvfs_fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		      const char *value, size_t size, int flags)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *inode = kvfs_fs_inode(fs, ino);
	char key[KVFS_KEY_MAX + 1];
	char *token;
	int err, rc;

	if (!starts_with(name, "user.")) {
		fuse_reply_err(req, ENOTSUP);
		return;
	}
	if (!strcmp(name, KVFS_XATTR_EFFECTIVE) ||
	    (ino == FUSE_ROOT_ID && !strcmp(name, KVFS_XATTR_STATS))) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (ino == FUSE_ROOT_ID && !strcmp(name, KVFS_XATTR_TOKEN)) {
		token = strndup(value, size);
		if (!token) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		rc = kvfs_store_control(fs->store, KVFS_CTL_CAUSAL_TOKEN_SET,
					token);
		free(token);
		fuse_reply_err(req, rc == KVFS_ENOTSUPPORTED ? ENOTSUP
				    : kvfs_fs_errno(fs, rc, name));
		return;
	}
	if (is_reserved(name)) {
		fuse_reply_err(req, ENOTSUP);
		return;
	}
	err = kvfs_fs_stored_key(fs, inode, key);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	if (!strcmp(name, KVFS_XATTR_LEVEL)) {
		fuse_reply_err(req, set_level(fs, inode, key, value, size,
					      flags));
		return;
	}
	rc = kvfs_store_setxattr(fs->store, key, name, value, size,
				 store_flags(flags));
	fuse_reply_err(req, kvfs_fs_errno(fs, rc, key));
}

void kvfs_fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = fs_of(req);
	char key[KVFS_KEY_MAX + 1];
	struct kvfs_buf buf = { 0 };
	char *out = NULL;
	size_t len = 0;
	int err;

	/* Nothing is stored yet of a file created here and not published. */
	if (kvfs_fs_is_pending(fs, kvfs_fs_inode(fs, ino))) {
		reply_value(req, "", 0, size);
		return;
	}
	err = kvfs_fs_key(fs, kvfs_fs_inode(fs, ino), NULL, key);
	if (!err)
		err = kvfs_fs_errno(fs, kvfs_store_listxattr(fs->store, key,
				&buf), key);
	if (err == ENOTSUP)
		err = 0; /* no stored attributes */
	if (err)
		goto out;
	out = malloc(buf.len + 1);
	if (!out) {
		err = ENOMEM;
		goto out;
	}
	/* Only the user namespace is ours to show. */
	for (size_t off = 0; off < buf.len;) {
		const char *n = (const char *)buf.data + off;
		size_t l = strnlen(n, buf.len - off);

		if (starts_with(n, "user.")) {
			memcpy(out + len, n, l);
			out[len + l] = '\0';
			len += l + 1;
		}
		off += l + 1;
	}
out:
	if (err)
		fuse_reply_err(req, err);
	else
		reply_value(req, out, len, size);
	free(out);
	kvfs_buf_free(&buf);
}

void kvfs_fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *inode = kvfs_fs_inode(fs, ino);
	char key[KVFS_KEY_MAX + 1];
	int err;

	if (!starts_with(name, "user.")) {
		fuse_reply_err(req, ENOTSUP);
		return;
	}
	if (!strcmp(name, KVFS_XATTR_EFFECTIVE) ||
	    (ino == FUSE_ROOT_ID && (!strcmp(name, KVFS_XATTR_STATS) ||
				     !strcmp(name, KVFS_XATTR_TOKEN)))) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (is_reserved(name)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	err = kvfs_fs_stored_key(fs, inode, key);
	if (!err && !strcmp(name, KVFS_XATTR_LEVEL))
		err = set_level(fs, inode, key, NULL, 0, 0);
	else if (!err)
		err = kvfs_fs_errno(fs, kvfs_store_removexattr(fs->store, key,
				name), key);
	fuse_reply_err(req, err);
}
