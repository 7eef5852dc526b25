/*
 * hosts.h - lists of client addresses ("127.0.0.1", "10.0.0.0/8",
 * "::1", "2001:db8::/32"): the milter signs only mail from these
 * "internal hosts" (and authenticated senders), as OpenDKIM's
 * InternalHosts does, and each institution names the networks that may
 * sign for it (milter-hosts).
 */
#ifndef P11DKIM_HOSTS_H
#define P11DKIM_HOSTS_H

#include <stddef.h>
#include <sys/socket.h>

struct hosts;

/* hosts_parse - a list from strings; NULL and why on a bad entry */
struct hosts *hosts_parse(const char *const *list, size_t n, char *err,
	    size_t errlen);

/* hosts_match - is the address in the list? (IPv4-mapped IPv6 too; NULL: no) */
int	hosts_match(const struct hosts *, const struct sockaddr *);

/* hosts_within - does every network of inner lie inside one of outer? */
int	hosts_within(const struct hosts *inner, const struct hosts *outer);

/* hosts_free - NULL is fine; returns NULL */
struct hosts *hosts_free(struct hosts *);

#endif
