/*
 * parent.h - the parent process of p11dkimd: it reads the configuration,
 * binds the sockets, starts the signer and the front, restarts them when
 * they die, reloads on SIGHUP and drains on SIGTERM.  Private to daemon/.
 */
#ifndef P11DKIM_PARENT_H
#define P11DKIM_PARENT_H

#include "p11dkim/conf.h"

/*
 * parent_run - run the daemon with an already checked configuration
 * (owned from now on), read from path (read again on SIGHUP, the
 * included files that did not change taken from cache, which may be
 * NULL).  Returns
 * the exit status.  Once serving it writes a byte to ready_fd (unless it
 * is -1) and closes it: a daemon started in the background reports its
 * start this way.
 */
int	parent_run(struct conf *, struct conf_cache *cache, const char *path,
	    int ready_fd);

/* drop_privileges - become user (when root and user is set); 0 or -1 */
int	drop_privileges(const char *user);

#endif
