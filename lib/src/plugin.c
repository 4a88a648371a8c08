/*
 * plugin.c - the plugin loader (backend=plugin): opens a shared object
 * with dlopen, calls its kvfs_plugin_init with the plugin's own options,
 * checks the backend it returns, and keeps the object loaded until that
 * backend is destroyed.
 *
 * The plugin's backend is held in a store of its own and reached through
 * the kvfs_store_* wrappers (fallbacks, key checks); this backend forwards
 * every call to it, and on destroy closes it before dlclose. Plugins do
 * not link libkvfs: kvfs_buf_set, kvfs_error_set and the other host
 * functions resolve to the process that loads them (lib/docs/plugins.md).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kvfs/backend.h>

struct plugin {
	struct kvfs_backend base;
	struct kvfs_backend_ops ops; /* cache_ops-like table named after the
	                                plugin's backend */
	struct kvfs_store *inner;    /* the plugin's backend; owned */
	void *handle;                /* dlopen handle; closed last */
};

static struct kvfs_store *inner_of(struct kvfs_backend *b)
{
	return ((struct plugin *)b)->inner;
}

static int pl_get(struct kvfs_backend *b, const char *key,
		  enum kvfs_consistency level, struct kvfs_buf *out)
{
	return kvfs_store_get(inner_of(b), key, level, out);
}

static int pl_put(struct kvfs_backend *b, const char *key, const void *value,
		  size_t len, enum kvfs_consistency level)
{
	return kvfs_store_put(inner_of(b), key, value, len, level);
}

static int pl_del(struct kvfs_backend *b, const char *key,
		  enum kvfs_consistency level)
{
	return kvfs_store_delete(inner_of(b), key, level);
}

static int pl_stat(struct kvfs_backend *b, const char *key,
		   enum kvfs_consistency level, struct kvfs_stat *st)
{
	return kvfs_store_stat(inner_of(b), key, level, st);
}

static int pl_list(struct kvfs_backend *b, const char *key,
		   enum kvfs_consistency level, struct kvfs_lister **out)
{
	return kvfs_store_list(inner_of(b), key, level, out);
}

static int pl_rename(struct kvfs_backend *b, const char *from, const char *to,
		     unsigned int flags, enum kvfs_consistency level)
{
	return kvfs_store_rename(inner_of(b), from, to, flags, level);
}

static int pl_mkdir(struct kvfs_backend *b, const char *key, uint32_t mode,
		    enum kvfs_consistency level)
{
	return kvfs_store_mkdir(inner_of(b), key, mode, level);
}

static int pl_rmdir(struct kvfs_backend *b, const char *key,
		    enum kvfs_consistency level)
{
	return kvfs_store_rmdir(inner_of(b), key, level);
}

static int pl_set_attr(struct kvfs_backend *b, const char *key,
		       unsigned int fields, uint32_t mode,
		       const struct timespec *mtime,
		       enum kvfs_consistency level)
{
	return kvfs_store_set_attr(inner_of(b), key, fields, mode, mtime,
				   level);
}

static int pl_getxattr(struct kvfs_backend *b, const char *key,
		       const char *name, struct kvfs_buf *out)
{
	return kvfs_store_getxattr(inner_of(b), key, name, out);
}

static int pl_setxattr(struct kvfs_backend *b, const char *key,
		       const char *name, const void *value, size_t len,
		       unsigned int flags)
{
	return kvfs_store_setxattr(inner_of(b), key, name, value, len, flags);
}

static int pl_listxattr(struct kvfs_backend *b, const char *key,
			struct kvfs_buf *out)
{
	return kvfs_store_listxattr(inner_of(b), key, out);
}

static int pl_removexattr(struct kvfs_backend *b, const char *key,
			  const char *name)
{
	return kvfs_store_removexattr(inner_of(b), key, name);
}

static int pl_open_reader(struct kvfs_backend *b, const char *key,
			  enum kvfs_consistency level,
			  struct kvfs_reader **out)
{
	return kvfs_store_open_reader(inner_of(b), key, level, out);
}

static int pl_open_writer(struct kvfs_backend *b, const char *key,
			  enum kvfs_consistency level,
			  struct kvfs_reader *base, struct kvfs_writer **out)
{
	return kvfs_store_open_writer(inner_of(b), key, level, base, out);
}

static int pl_space(struct kvfs_backend *b, struct kvfs_space *space)
{
	return kvfs_store_space(inner_of(b), space);
}

static int pl_control(struct kvfs_backend *b, int op, void *arg)
{
	return kvfs_store_control(inner_of(b), op, arg);
}

static void pl_destroy(struct kvfs_backend *b)
{
	struct plugin *p = (struct plugin *)b;

	/* The backend's code lives in the object: destroy it first. */
	kvfs_store_close(p->inner);
	dlclose(p->handle);
	free(p);
}

static const struct kvfs_backend_ops plugin_ops = {
	.version = KVFS_BACKEND_VERSION,
	.name = "plugin",
	.get = pl_get,
	.put = pl_put,
	.del = pl_del,
	.destroy = pl_destroy,
	.stat = pl_stat,
	.list = pl_list,
	.rename = pl_rename,
	.mkdir = pl_mkdir,
	.rmdir = pl_rmdir,
	.set_attr = pl_set_attr,
	.getxattr = pl_getxattr,
	.setxattr = pl_setxattr,
	.listxattr = pl_listxattr,
	.removexattr = pl_removexattr,
	.open_reader = pl_open_reader,
	.open_writer = pl_open_writer,
	.space = pl_space,
	.control = pl_control,
};

/*
 * Parse plugin_opts: settings separated by ';' ("db=/x.db;sync=false"),
 * each name=value or a bare name (a flag, value ""). "\;" is a literal
 * ';' and "\\" a literal '\' inside a value.
 */
static int parse_plugin_opts(const char *text, struct kvfs_options *opts)
{
	char *copy = strdup(text), *w, *item;
	const char *r;
	int rc = 0;

	if (!copy)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	r = text;
	while (rc == 0 && *r) {
		char *eq;

		item = w = copy;
		while (*r && *r != ';') {
			if (r[0] == '\\' && (r[1] == ';' || r[1] == '\\'))
				r++;
			*w++ = *r++;
		}
		if (*r == ';')
			r++;
		*w = '\0';
		if (!*item)
			continue;
		eq = strchr(item, '=');
		if (eq)
			*eq = '\0';
		if (!*item)
			rc = kvfs_error_set(KVFS_EINVAL,
				"plugin_opts: a setting has no name");
		else
			rc = kvfs_options_set(opts, item, eq ? eq + 1 : "");
	}
	free(copy);
	return rc;
}

/* Destroy what a plugin's init returned but the host refused. The first
 * members of every vtable version are the same, so destroy is where
 * version 1 has it. */
static void destroy_refused(struct kvfs_backend *b)
{
	if (b && b->ops && b->ops->destroy)
		b->ops->destroy(b);
}

/*
 * Load the plugin named by opts "plugin" and open its backend with the
 * options in "plugin_opts". Refuses, with one line naming the path:
 * a missing file, a file dlopen cannot load (dlerror's text), no init
 * symbol, a failed init (the plugin's message), an unusable vtable
 * (kvfs_backend_check's message), plugin options the plugin did not take.
 */
int kvfs_plugin_open(struct kvfs_options *opts, struct kvfs_backend **out)
{
	const char *path = kvfs_options_take(opts, "plugin");
	const char *popts_text = kvfs_options_take(opts, "plugin_opts");
	struct kvfs_options *popts = NULL;
	struct kvfs_backend *backend = NULL;
	struct plugin *p = NULL;
	kvfs_plugin_init_fn init;
	char message[1024];
	void *handle;
	int rc;

	if (!path || !*path)
		return kvfs_error_set(KVFS_EINVAL,
			"backend=plugin needs plugin=/path/to/plugin.so");
	if (access(path, R_OK))
		return kvfs_error_set(KVFS_EINVAL, "plugin %s: %s", path,
				      strerror(errno));
	rc = kvfs_options_new(&popts);
	if (rc == 0 && popts_text)
		rc = parse_plugin_opts(popts_text, popts);
	if (rc)
		goto out_free_opts;

	dlerror();
	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		const char *why = dlerror();

		rc = kvfs_error_set(KVFS_EINVAL,
			"plugin %s: cannot load it as a shared object: %s",
			path, why ? why : "unknown dlopen error");
		goto out_free_opts;
	}
	*(void **)&init = dlsym(handle, KVFS_PLUGIN_INIT_SYMBOL);
	if (!init) {
		rc = kvfs_error_set(KVFS_EINVAL,
			"plugin %s: no %s symbol; is it a kvfs plugin?", path,
			KVFS_PLUGIN_INIT_SYMBOL);
		goto out_close_handle;
	}
	kvfs_error_set(0, "%s", "");
	rc = init(KVFS_BACKEND_VERSION, popts, &backend);
	if (rc) {
		snprintf(message, sizeof(message), "%s",
			 strcmp(kvfs_error_message(), "no error") ?
			 kvfs_error_message() : kvfs_error_name(rc));
		rc = kvfs_error_set(rc, "plugin %s: init failed: %s", path,
				    message);
		goto out_close_handle;
	}
	rc = kvfs_backend_check(backend);
	if (rc) {
		snprintf(message, sizeof(message), "%s", kvfs_error_message());
		rc = kvfs_error_set(KVFS_EINVAL, "plugin %s: %s", path, message);
		goto out_destroy_backend;
	}
	rc = kvfs_options_check_all_taken(popts);
	if (rc) {
		snprintf(message, sizeof(message), "%s", kvfs_error_message());
		rc = kvfs_error_set(KVFS_EINVAL, "plugin %s: plugin_opts: %s",
				    path, message);
		goto out_destroy_backend;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		rc = kvfs_error_set(KVFS_EFAIL, "out of memory");
		goto out_destroy_backend;
	}
	rc = kvfs_store_from_backend(backend, &p->inner);
	if (rc)
		goto out_free_plugin;
	p->ops = plugin_ops;
	p->ops.name = backend->ops->name;
	p->base.ops = &p->ops;
	p->handle = handle;
	kvfs_options_free(popts);
	*out = &p->base;
	return 0;

out_free_plugin:
	free(p);
out_destroy_backend:
	destroy_refused(backend);
out_close_handle:
	dlclose(handle);
out_free_opts:
	kvfs_options_free(popts);
	return rc;
}
