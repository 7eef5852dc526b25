/*
 * front.h - the native front: what its connection threads share, and
 * its entry points.  Private to daemon/.
 */
#ifndef P11DKIM_FRONT_H
#define P11DKIM_FRONT_H

#include <signal.h>
#include <sys/types.h>

#include "p11dkim/conf.h"
#include "p11dkim/keytab.h"
#include "p11dkim/signer.h"
#include "p11dkim/stats.h"

struct front {
	const struct conf *conf;
	const struct keytab *keys;
	struct signer *signer;
	struct stats *stats;
	const volatile sig_atomic_t *stop;	/* draining: no new requests */
};

/*
 * What the parent gives a front: the counters of both fronts of its
 * configuration (in shared memory, made before the fronts started; NULL
 * for a front that is not configured) and the metrics listener.
 */
struct front_share {
	struct stats *stats[2];		/* [0] native, [1] milter */
	int	 metrics_fd;		/* -1: none */
};

/* conn_serve - one client connection, until it ends (closes fd) */
void	conn_serve(struct front *, int fd);

/* conn_refuse - "TEMPFAIL why" to a client at once, and close */
void	conn_refuse(int fd, const char *why);

/*
 * front_run - the front process: accept on the listeners, serve each
 * connection in a thread (at most conf->daemon.workers at once), stop on
 * SIGTERM after draining.  Returns the process's exit status.
 */
int	front_run(const struct conf *, const struct keytab *,
	    const int *listen_fds, size_t nlisten, const struct front_share *,
	    int signer_fd);

/*
 * metrics_http_start - serve GET /metrics on fd (the metrics listener) in
 * threads of the native front's own, apart from its workers, until
 * *f->stop; fronts: the counters to show.  0, or -1 (logged).
 */
int	metrics_http_start(struct front *f, struct stats *const *fronts,
	    size_t n, int fd);

/*
 * milter_run - the milter front process (libmilter): sign the mail of
 * internal hosts and authenticated senders as the MTA passes it through,
 * pass other mail unchanged.  Returns the process's exit status.
 */
int	milter_run(const struct conf *, const struct keytab *,
	    const struct front_share *, int signer_fd);

#endif
