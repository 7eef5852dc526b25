/*
 * sproc.h - the signer process as the parent sees it: started, given key
 * tables, told of fronts' links, stopped.  Private to daemon/.
 *
 * One signer process serves every configuration whose signer settings
 * (module, signer-user, sessions, threads, timeouts) are the same: a
 * reload that changes institutions only hands it a new key table, and
 * every institution the reload did not touch keeps its logged-in token.
 * A reload that changes the signer settings starts a new signer process.
 */
#ifndef P11DKIM_SPROC_H
#define P11DKIM_SPROC_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "p11dkim/conf.h"
#include "p11dkim/keytab.h"

struct sproc {
	pid_t	 pid;			/* 0: not running */
	int	 ctl;			/* its control socket; -1: closed */
	unsigned users;			/* generations that use it */
	uint32_t next_table;		/* the id of the next key table */
	time_t	 next_try;		/* a failed restart waits until then */
	/* Its settings, compared at reload (sproc_fits). */
	char	*module;
	char	*init_args;		/* pkcs11-init-args, or NULL */
	char	*signer_user;
	unsigned sessions, open_threads, signer_threads, io_timeout;
	int	 strict_start;
	char	*trail_dir;		/* the signing trail's settings */
	unsigned trail_sync, trail_open_files;
	int	 trail_sign_anyway;
};

/*
 * sproc_start - fork the signer with c's settings (c's fd: PIN sources
 * go to it, no other descriptor of the parent) and wait until its module
 * is loaded; 0, or -1 (logged)
 */
int	sproc_start(struct sproc *, const struct conf *c);

/* sproc_fits - would this signer do for configuration c? */
int	sproc_fits(const struct sproc *, const struct conf *c);

/*
 * sproc_load - hand it keytab t as a new table (flags: SIGNER_LOAD_*) and
 * wait for its answer; the table's id in *table and in *unseen how many
 * of its new tokens the signer's module does not show (SoftHSM2 shows
 * only the tokens there were when it was initialized), or -1 (logged,
 * with the signer's reason)
 */
int	sproc_load(struct sproc *, const struct keytab *t, uint32_t flags,
	    uint32_t *table, uint32_t *unseen);

/* sproc_link - a front's link (fd, kept) for a table, named id; 0 or -1 */
int	sproc_link(struct sproc *, uint32_t id, uint32_t table, int fd);

/* sproc_front_gone - drop the link named id and its channels */
void	sproc_front_gone(struct sproc *, uint32_t id);

/* sproc_retire - a table no front of which will come any more */
void	sproc_retire(struct sproc *, uint32_t table);

/* sproc_reopen - open the signing trail's files anew ('O') */
void	sproc_reopen(struct sproc *);

/* sproc_quit - stop once what is in flight is done ('Q') */
void	sproc_quit(struct sproc *);

/* sproc_exited - it ended: forget its pid and control socket */
void	sproc_exited(struct sproc *);

/* sproc_release - free the settings; the process must be gone */
void	sproc_release(struct sproc *);

#endif
