/*
 * listen.h - binding the daemon's Unix sockets, and the TCP socket of
 * the metrics listener.  Private to daemon/.
 */
#ifndef P11DKIM_LISTEN_H
#define P11DKIM_LISTEN_H

#include <sys/types.h>

#include "p11dkim/conf.h"

/*
 * listen_bind - bind and listen on a configured socket: owner, group and
 * mode set; a stale socket file is replaced, a live one refused.
 */
int	listen_bind(const struct conf_listener *);

/*
 * listen_socket_owner - set the owner and group (-1: unchanged) of the
 * socket file at path without following a link, and check with lstat
 * that it is a socket with that owner and mode; 0, or -1 (logged).
 */
int	listen_socket_owner(const char *path, uid_t owner, gid_t group,
	    mode_t mode);

/* listen_bind_inet - the metrics-listen socket; -1 (logged) */
int	listen_bind_inet(const struct conf_daemon *);

#endif
