/*
 * watch_int.h - the inside of p11dkim-keys dns-watch, shared by its
 * files only: watch_policy.c (pure decisions: pacing, drift, the
 * metrics text), watch_dns.c (the keys the ceremony log recorded, the
 * checks of one institution's records, the paced worker threads) and
 * cmd_watch.c (the command, the state updates, the metrics file).
 *
 * The watch never loads the PKCS#11 module: a published key is compared
 * with the fingerprint the ceremony log recorded when the key was
 * generated (read once a run).
 */
#ifndef P11DKIM_WATCH_INT_H
#define P11DKIM_WATCH_INT_H

#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "p11dkim/buf.h"
#include "p11dkim/rotation_state.h"
#include "p11dkim/strmap.h"
#include "keys.h"

#define WATCH_FPR_LEN	64		/* hex SHA-256 */
#define WATCH_DETAIL_MAX 512

/* What the watch found for one institution. */
enum watch_drift {
	WATCH_OK = 0,
	WATCH_CNAME_MISSING,		/* the institution's CNAME is gone */
	WATCH_CNAME_CHANGED,		/* it points elsewhere */
	WATCH_TXT_MISSING,		/* our key record is gone (or p= empty) */
	WATCH_KEY_MISMATCH,		/* it holds another key than the log's */
	WATCH_KEY_UNKNOWN,		/* the log records no key for the active
					   selector of the state */
	WATCH_LOOKUP_FAILED		/* no answer: not drift, never demotes */
};

/* A key the ceremony log says was generated and not destroyed since. */
struct watch_key {
	char	 name[CONF_CODE_MAX + 130];	/* "code/selector" */
	char	 fpr[WATCH_FPR_LEN + 1];	/* "" when none */
};

/* One institution of a run. */
struct watch_item {
	const struct conf_institution *inst;
	struct rotation_state rs;
	enum watch_drift drift;
	int	 checked;		/* 0: the run stopped before it */
	char	 detail[WATCH_DETAIL_MAX];	/* for the log line */
};

struct watch {
	struct keys_run *r;
	struct watch_item *items;	/* the live institutions */
	size_t	 n;
	struct watch_key *keys;		/* per institution, kind, selector */
	struct strmap *by_name;		/* "code/selector" -> keys index */
	size_t	 nkeys;
	unsigned threads;		/* lookups at once */
	long long interval_ns;		/* between two queries, at least */
	pthread_mutex_t mu;		/* next, slot, queries */
	size_t	 next;			/* the next item to check */
	struct timespec slot;		/* when the next query may leave */
	unsigned long queries;
	volatile sig_atomic_t *stop;	/* set: check no further item */
};

/* --- watch_policy.c ------------------------------------------------ */

/* watch_drift_name - "ok", "cname-missing", ... (the metric's reason) */
const char *watch_drift_name(enum watch_drift);

/*
 * watch_interval_ns - the time between two queries: one over rate (per
 * second), or longer, so that nqueries fill spread seconds
 */
long long watch_interval_ns(double rate, long long spread,
	    unsigned long nqueries);

/* What a run does with an institution's state. */
enum watch_action {
	WATCH_KEEP = 0,		/* nothing to write */
	WATCH_MARK,		/* drift first seen: record when */
	WATCH_CLEAR,		/* drift gone: forget it */
	WATCH_DEMOTE		/* drift outlasted the grace: pending */
};

/*
 * watch_decide - from the state, what was found now (at now) and the
 * grace period (0: never demote): the action, with rs updated to what
 * is to be saved.  A failed lookup changes nothing.
 */
enum watch_action watch_decide(struct rotation_state *rs,
	    enum watch_drift, long long now, long long grace);

/* watch_spki_fpr - hex SHA-256 of the SPKI a published p= stands for */
int	watch_spki_fpr(const char *k, const unsigned char *p, size_t len,
	    char out[WATCH_FPR_LEN + 1]);

/* watch_metrics - the Prometheus text of a run */
int	watch_metrics(const struct watch *, long long when, double seconds,
	    struct buf *out);

/* --- watch_dns.c --------------------------------------------------- */

/* watch_keys_load - the keys the ceremony log recorded (one pass) */
int	watch_keys_load(struct watch *, char *err, size_t errlen);

/* watch_queries - how many queries checking every item takes */
unsigned long watch_queries(const struct watch *);

/* watch_check_all - check every item, paced, in w->threads threads */
int	watch_check_all(struct watch *, char *err, size_t errlen);

#endif
