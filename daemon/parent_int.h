/*
 * parent_int.h - the inside of the parent (parent.c): its generations,
 * its signers and its fronts, shared with reload.c, which builds a
 * generation and has a new one replace the serving one.  Private to
 * those files.
 *
 * A generation is one configuration with its key table at a signer and
 * its fronts; gens[cur] serves, the others drain.  A slot whose conf is
 * NULL is free; a signer slot whose users is 0 and pid 0 is free.
 */
#ifndef P11DKIM_PARENT_INT_H
#define P11DKIM_PARENT_INT_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "p11dkim/conf.h"
#include "p11dkim/keytab.h"
#include "p11dkim/stats.h"
#include "sproc.h"

#define GENS_MAX	4
enum { FRONT_NATIVE, FRONT_MILTER, FRONTS };

struct child {
	pid_t	 pid;			/* 0: not running */
	uint32_t link;			/* its link's id at the signer */
	time_t	 started;
	unsigned quick;			/* quick exits in a row */
	time_t	 restart_at;		/* a restart waits until then; 0: none */
};

struct gen {
	struct conf *conf;		/* NULL: the slot is free */
	struct keytab keys;
	struct sproc *sp;		/* its signer */
	uint32_t table;			/* its key table there */
	struct child fronts[FRONTS];
	struct stats *stats[FRONTS];	/* shared with the fronts; NULL */
	int	 retiring;
};

struct parent {
	const char *path;		/* of the configuration, for reloads */
	struct conf_cache *cache;	/* its included files, as last read */
	struct gen gens[GENS_MAX];	/* gens[cur] serves */
	struct sproc sprocs[GENS_MAX];	/* users == 0: free */
	int	 cur;
	int	 listen[16];
	size_t	 nlisten;
	int	 stderr_relay;		/* fronts' stderr, or -1 */
	int	 metrics_fd;		/* metrics-listen, or -1 */
	struct stats_daemon *status;	/* reloads, shown by the fronts */
	char	 milter_path[108];	/* the socket file of the milter front
					   last started; "": none */
	uint32_t next_link;		/* ids of the fronts' links */
	int	 stopping;
};

/* front_wanted - is there a front of this kind in the configuration? */
int	front_wanted(const struct parent *, const struct gen *, int kind);

/* start_fronts - every front of the generation that is not running; 0 or -1 */
int	start_fronts(struct parent *, struct gen *);

/* fronts_running - how many fronts of the generation run */
int	fronts_running(const struct gen *);

/* gen_start - a new generation from conf (owned from now on); 0 or -1 */
int	gen_start(struct parent *, struct gen *, struct conf *conf);

/* gen_release - free a generation whose fronts are gone */
void	gen_release(struct gen *);

/*
 * reload_config - SIGHUP: a new generation if the file is good and it
 * starts, the old one retired; 0, or -1 (logged) and the old one serves
 */
int	reload_config(struct parent *);

/*
 * reload_remove_milter_socket - the socket file of a stopped milter front
 * of a previous configuration, when the serving one listens elsewhere
 */
void	reload_remove_milter_socket(const struct parent *, const struct gen *);

#endif
