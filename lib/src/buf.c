/*
 * buf.c - value buffers allocated by the library, so that memory crossing
 * a plugin boundary is always allocated and freed by the host.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kvfs/backend.h>

int kvfs_buf_set(struct kvfs_buf *buf, const void *data, size_t len)
{
	char *copy = malloc(len + 1);

	if (!copy)
		return kvfs_error_set(KVFS_EFAIL, "out of memory for a %zu-byte value", len);
	if (len)
		memcpy(copy, data, len);
	copy[len] = '\0';
	free(buf->data);
	buf->data = copy;
	buf->len = len;
	return 0;
}

void kvfs_buf_free(struct kvfs_buf *buf)
{
	if (!buf)
		return;
	free(buf->data);
	buf->data = NULL;
	buf->len = 0;
}

int kvfs_buf_appendf(struct kvfs_buf *buf, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *grown;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return kvfs_error_set(KVFS_EFAIL, "bad format in kvfs_buf_appendf");
	grown = realloc(buf->data, buf->len + (size_t)n + 1);
	if (!grown)
		return kvfs_error_set(KVFS_EFAIL, "out of memory");
	va_start(ap, fmt);
	vsnprintf(grown + buf->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf->data = grown;
	buf->len += (size_t)n;
	return 0;
}
