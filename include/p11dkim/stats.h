/*
 * stats.h - the daemon's counters, in the Prometheus text exposition
 * format: requests per institution and result, token errors, connections
 * turned away (all workers busy, or the peer's uid at its cap), a
 * latency histogram, and what the signer says of each institution's keys
 * (up or not, bad signatures) and quota (requests refused, by limit).  Safe from many threads.  The series per
 * institution make the text grow with them: about 800 bytes an
 * institution (stats_bound).
 */
#ifndef P11DKIM_STATS_H
#define P11DKIM_STATS_H

#include "p11dkim/buf.h"
#include "p11dkim/conf.h"
#include "p11dkim/keytab.h"
#include "p11dkim/signer.h"

enum stats_result { STATS_SIGNED = 0, STATS_PERMFAIL, STATS_TEMPFAIL };

struct stats;

/* stats_new - counters for the institutions of c */
struct stats *stats_new(const struct conf *c);

/* stats_request - one request: institution index or -1, result, time */
void	stats_request(struct stats *, int inst, enum stats_result, double ms);

/* stats_token_error - a temporary failure from the signer */
void	stats_token_error(struct stats *, int inst);

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

/* stats_bound - how large the text may grow for c's institutions */
size_t	stats_bound(const struct conf *c);

/* stats_free - NULL is fine; returns NULL */
struct stats *stats_free(struct stats *);

#endif
