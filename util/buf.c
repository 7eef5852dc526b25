/*
 * buf.c - bounded, growable byte buffers (see include/p11dkim/buf.h).
 *
 * Growth doubles the allocation, so appending n bytes one at a time costs
 * O(log n) allocations.  Size arithmetic is checked against the buffer's
 * maximum before any allocation.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11dkim/buf.h"

#define BUF_MIN_CAP	64

/* buf_init - empty buffer that may grow to max bytes */
void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

/* buf_reserve - make room for need more bytes, within the maximum */
static int
buf_reserve(struct buf *b, size_t need)
{
	size_t	 cap;
	char	*data;

	if (need > b->max - b->len) {
		errno = E2BIG;
		return -1;
	}
	if (b->len + need <= b->cap && b->data != NULL)
		return 0;
	cap = b->cap ? b->cap : BUF_MIN_CAP;
	while (cap < b->len + need)
		cap = cap > b->max / 2 ? b->max : cap * 2;
	if (cap > b->max)
		cap = b->max;
	if ((data = realloc(b->data, cap + 1)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	b->data = data;
	b->cap = cap;
	return 0;
}

/* buf_append - append n bytes; -1 with errno E2BIG or ENOMEM */
int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) < 0)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

/* buf_append_str - append a C string */
int
buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

/* buf_printf - append formatted text; -1 with errno E2BIG or ENOMEM */
int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		errno = EINVAL;
		return -1;
	}
	if (buf_reserve(b, (size_t)n) < 0)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->data[b->len] = '\0';
		errno = EINVAL;
		return -1;
	}
	b->len += (size_t)n;
	return 0;
}

/* buf_truncate - shorten to len bytes (len <= current length) */
void
buf_truncate(struct buf *b, size_t len)
{
	if (b->data == NULL || len >= b->len)
		return;
	b->len = len;
	b->data[len] = '\0';
}

/* buf_str - the contents as a C string ("" when nothing was appended) */
const char *
buf_str(const struct buf *b)
{
	return b->data != NULL ? b->data : "";
}

/* buf_release - free the storage; the buf is empty and reusable */
void
buf_release(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}
