/*
 * stats.h - the daemon's counters, in the Prometheus text exposition
 * format: requests per institution and result, token errors, connections
 * turned away (all workers busy, or the peer's uid at its cap), a
 * latency histogram, and what the signer says of each institution's keys
 * (up or not, bad signatures) and quota (requests refused, by limit);
 * the version, and the parent's reloads.  Safe from many threads; the
 * counters made by stats_new_shared also from the processes the parent
 * forks after it.  The series per institution make the text grow with
 * them: up to about 2 KiB an institution (stats_bound).
 *
 * Every sample of a front's counters carries front="native" or
 * front="milter".  STATS and the milter's stats-file (stats_render) label
 * every sample, the signer's and the parent's figures too, so that the
 * two texts can be read side by side (node_exporter's textfile collector
 * merges families whose HELP and TYPE lines are the same, and refuses a
 * sample seen twice); a scrape of the metrics listener
 * (stats_render_scrape) shows those figures once, without the label.
 */
#ifndef P11DKIM_STATS_H
#define P11DKIM_STATS_H

#include "p11dkim/buf.h"
#include "p11dkim/conf.h"
#include "p11dkim/keytab.h"
#include "p11dkim/signer.h"

enum stats_result { STATS_SIGNED = 0, STATS_PERMFAIL, STATS_TEMPFAIL };

struct stats;
struct stats_daemon;

/* stats_new - counters for the institutions of c, labelled front */
struct stats *stats_new(const struct conf *c, const char *front);

/*
 * stats_new_shared - the same in a shared anonymous mapping (children
 * forked later share it); d: the parent's figures to show, or NULL
 */
struct stats *stats_new_shared(const struct conf *c, const char *front,
	    const struct stats_daemon *d);

/* stats_daemon_new - the parent's figures, shared with its children */
struct stats_daemon *stats_daemon_new(void);

/* stats_daemon_reload - count a reload: taken (ok) or refused */
void	stats_daemon_reload(struct stats_daemon *, int ok);

/* stats_daemon_free - NULL is fine; returns NULL */
struct stats_daemon *stats_daemon_free(struct stats_daemon *);

/* stats_set_version - the version p11dkim_build_info shows (static) */
void	stats_set_version(const char *version);

/* stats_request - one request: institution index or -1, result, time */
void	stats_request(struct stats *, int inst, enum stats_result, double ms);

/* stats_token_error - a temporary failure from the signer */
void	stats_token_error(struct stats *, int inst);

/*
 * stats_trail_failure - a temporary failure from the signer: the signing
 * trail's record could not be written (the token is fine)
 */
void	stats_trail_failure(struct stats *, int inst);

/* stats_busy - a connection turned away because all workers were busy */
void	stats_busy(struct stats *);

/* stats_uid_limit - a connection turned away: its uid had its share */
void	stats_uid_limit(struct stats *);

/*
 * stats_render - the exposition text: the counters, and (when keys and
 * signer are given) each institution's state and bad signatures as the
 * signer reports them
 */
int	stats_render(struct stats *, const struct keytab *keys,
	    struct signer *signer, struct buf *out);

/*
 * stats_render_scrape - the same for n fronts at once (the first one's
 * configuration names the institutions): each family's HELP and TYPE
 * once, the signer's and parent's figures without a front label
 */
int	stats_render_scrape(struct stats *const *fronts, size_t n,
	    const struct keytab *keys, struct signer *signer, struct buf *out);

/* stats_bound - how large the text may grow for c's institutions */
size_t	stats_bound(const struct conf *c);

/* stats_free - NULL is fine; returns NULL */
struct stats *stats_free(struct stats *);

#endif
