/*
 * listen.h - binding the daemon's Unix sockets.  Private to daemon/.
 */
#ifndef P11DKIM_LISTEN_H
#define P11DKIM_LISTEN_H

#include "p11dkim/conf.h"

/*
 * listen_bind - bind and listen on a configured socket: owner, group and
 * mode set; a stale socket file is replaced, a live one refused.
 */
int	listen_bind(const struct conf_listener *);

#endif
