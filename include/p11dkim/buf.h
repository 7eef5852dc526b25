/*
 * buf.h - bounded, growable byte buffers.
 *
 * A buf holds bytes that arrive from untrusted input.  Every buf has a
 * maximum size set at initialisation; an append past it fails cleanly
 * (errno E2BIG) instead of growing without bound.  The data is always
 * NUL-terminated, so text can be used as a C string, but the length is
 * what counts: binary data may contain NUL bytes.
 *
 * Ownership: the buf owns data; buf_release() frees it.  A buf that was
 * zero-filled or released may be released again.
 */
#ifndef P11DKIM_BUF_H
#define P11DKIM_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char	*data;		/* NUL-terminated, NULL until first append */
	size_t	 len;		/* bytes used, without the NUL */
	size_t	 cap;		/* bytes allocated, without the NUL */
	size_t	 max;		/* largest len allowed */
};

/* buf_init - empty buffer that may grow to max bytes */
void	buf_init(struct buf *, size_t max);

/* buf_append - append n bytes; -1 with errno E2BIG or ENOMEM */
int	buf_append(struct buf *, const void *, size_t n);

/* buf_append_str - append a C string */
int	buf_append_str(struct buf *, const char *);

/* buf_printf - append formatted text; -1 with errno E2BIG or ENOMEM */
int	buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

/* buf_truncate - shorten to len bytes (len <= current length) */
void	buf_truncate(struct buf *, size_t len);

/* buf_str - the contents as a C string ("" when nothing was appended) */
const char *buf_str(const struct buf *);

/* buf_release - free the storage; the buf is empty and reusable */
void	buf_release(struct buf *);

#endif
