/*
 * watch_dns.c - what p11dkim-keys dns-watch asks DNS (see watch_int.h):
 * for each live institution, every CNAME of its selectors (one per
 * domain and key kind) and the key record of its active selector, whose
 * key must be the one the ceremony log recorded for that selector.
 *
 * The resolver is spared: every query waits for its slot (one every
 * interval_ns, whatever the number of threads), and at most w->threads
 * lookups are under way at once.  Answers are untrusted and go through
 * the parsers of dns_lookup.c and dns_key.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11dkim/ceremony_log.h"
#include "p11dkim/dns_record.h"
#include "watch_int.h"

#define NAME_LEN	512

/* key_name - "code/selector", the index of the log's keys */
static void
key_name(const char *code, const char *sel, char *out, size_t len)
{
	snprintf(out, len, "%.32s/%.127s", code, sel);
}

/* collect - every generate and destroy that went well: the last counts */
static int
collect(void *ctx, const struct ceremony_record *rec)
{
	struct watch *w = ctx;
	char	 name[sizeof(w->keys[0].name)];
	uint32_t k;
	int	 gen = strcmp(rec->action, "generate") == 0;

	if (!ceremony_result_ok(rec->result) || (!gen &&
	    strcmp(rec->action, "destroy") != 0))
		return 0;
	key_name(rec->inst, rec->selector, name, sizeof(name));
	if (strmap_get(w->by_name, name, &k))
		snprintf(w->keys[k].fpr, sizeof(w->keys[k].fpr), "%s",
		    gen ? rec->fpr : "");
	return 0;		/* never "found": the walk sees them all */
}

/* watch_keys_load - the keys the ceremony log recorded (one pass) */
int
watch_keys_load(struct watch *w, char *err, size_t errlen)
{
	struct ceremony_record last;
	size_t	 max = 0;

	for (size_t i = 0; i < w->n; i++)
		max += 2 * CONF_SELECTORS;
	if ((w->keys = calloc(max + 1, sizeof(*w->keys))) == NULL ||
	    (w->by_name = strmap_new(max + 1)) == NULL)
		return snprintf(err, errlen, "out of memory"), -1;
	for (size_t i = 0; i < w->n; i++) {
		const struct conf_institution *in = w->items[i].inst;

		for (size_t k = 0; k < conf_kinds(in); k++)
			for (size_t s = 0; s < CONF_SELECTORS; s++) {
				struct watch_key *wk = &w->keys[w->nkeys];

				key_name(in->code, conf_selector_name(in, s, k),
				    wk->name, sizeof(wk->name));
				if (strmap_put(w->by_name, wk->name,
				    (uint32_t)w->nkeys++, NULL) < 0)
					return snprintf(err, errlen, "out of "
					    "memory"), -1;
			}
	}
	return ceremony_log_last(w->r->conf->ceremony_log, collect, w, &last,
	    err, errlen) < 0 ? -1 : 0;
}

/* watch_queries - how many queries checking every item takes */
unsigned long
watch_queries(const struct watch *w)
{
	unsigned long n = 0;

	for (size_t i = 0; i < w->n; i++) {
		const struct conf_institution *in = w->items[i].inst;

		n += conf_kinds(in) * (CONF_SELECTORS * in->ndomains + 1);
	}
	return n;
}

/* pace - wait for this query's slot (one every interval_ns) */
static void
pace(struct watch *w)
{
	struct timespec now, at;
	long long ns;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&w->mu);
	if (w->slot.tv_sec < now.tv_sec || (w->slot.tv_sec == now.tv_sec &&
	    w->slot.tv_nsec < now.tv_nsec))
		w->slot = now;
	at = w->slot;
	ns = (long long)at.tv_nsec + w->interval_ns;
	w->slot.tv_sec += (time_t)(ns / 1000000000LL);
	w->slot.tv_nsec = (long)(ns % 1000000000LL);
	w->queries++;
	pthread_mutex_unlock(&w->mu);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) ==
	    EINTR)
		;
}

static int found(struct watch_item *, enum watch_drift, const char *, ...)
	    __attribute__((format(printf, 3, 4)));

/* found - record the first drift of an item (a failed lookup gives way) */
static int
found(struct watch_item *it, enum watch_drift d, const char *fmt, ...)
{
	va_list	 ap;

	if (it->drift == WATCH_OK || (it->drift == WATCH_LOOKUP_FAILED &&
	    d != WATCH_LOOKUP_FAILED)) {
		it->drift = d;
		va_start(ap, fmt);
		vsnprintf(it->detail, sizeof(it->detail), fmt, ap);
		va_end(ap);
	}
	return d == WATCH_LOOKUP_FAILED ? 0 : -1;
}

/* check_cnames - the CNAMEs of selector s (kind k), one per domain */
static int
check_cnames(struct watch *w, struct watch_item *it, size_t s, size_t k)
{
	char	 owner[NAME_LEN], target[NAME_LEN];
	const char *cs;

	if (conf_record_name(w->r->conf, it->inst, s, k, target,
	    sizeof(target)) < 0)
		return found(it, WATCH_CNAME_CHANGED, "%s: name too long",
		    it->inst->code);
	for (size_t d = 0; d < it->inst->ndomains; d++) {
		snprintf(owner, sizeof(owner), "%s._domainkey.%s",
		    conf_selector_name(it->inst, s, k), it->inst->domains[d]);
		pace(w);
		cs = keys_check_cname(owner, target, NULL);
		if (strcmp(cs, "missing") == 0)
			return found(it, WATCH_CNAME_MISSING, "CNAME %s "
			    "missing", owner);
		if (strcmp(cs, "wrong target") == 0)
			return found(it, WATCH_CNAME_CHANGED, "CNAME %s: not "
			    "to %s", owner, target);
		if (strcmp(cs, "ok") != 0)
			(void)found(it, WATCH_LOOKUP_FAILED, "CNAME %s: %s",
			    owner, cs);
	}
	return 0;
}

/* key_drift - the published record at name against the log's fpr */
static enum watch_drift
key_drift(const char *txt, const char *k, const char *want, char *why,
    size_t len)
{
	struct dns_dkim_key key;
	char	 fpr[WATCH_FPR_LEN + 1];
	enum watch_drift d = WATCH_OK;

	if (dns_dkim_key_parse(txt, &key, why, len) < 0 ||
	    strchr(txt, '\n') != NULL)
		return WATCH_KEY_MISMATCH;
	if (key.revoked)
		d = WATCH_TXT_MISSING;
	else if (strcmp(key.k, k) != 0 ||
	    watch_spki_fpr(k, key.p, key.p_len, fpr) < 0 ||
	    strcmp(fpr, want) != 0)
		d = WATCH_KEY_MISMATCH;
	dns_dkim_key_release(&key);
	return d;
}

/* check_key - the active selector's key record (kind k) */
static void
check_key(struct watch *w, struct watch_item *it, size_t k)
{
	int	 s = conf_selector_index(it->inst, it->rs.active), rc;
	char	 name[NAME_LEN], kn[sizeof(w->keys[0].name)], why[256] = "";
	const char *kind = conf_kind_alg(it->inst, k) ==
	    DKIM_ALG_ED25519_SHA256 ? "ed25519" : "rsa";
	enum watch_drift d;
	struct buf txt;
	uint32_t ki;

	conf_record_name(w->r->conf, it->inst, (size_t)s, k, name,
	    sizeof(name));
	key_name(it->inst->code, conf_selector_name(it->inst, (size_t)s, k),
	    kn, sizeof(kn));
	if (!strmap_get(w->by_name, kn, &ki) || w->keys[ki].fpr[0] == '\0') {
		(void)found(it, WATCH_KEY_UNKNOWN, "%s: the ceremony log "
		    "records no key for %s", name, kn);
		return;
	}
	buf_init(&txt, DNS_TXT_MAX);
	pace(w);
	rc = dns_lookup_txt(name, &txt, why, sizeof(why));
	if (rc < 0)
		(void)found(it, WATCH_LOOKUP_FAILED, "TXT %s: %s", name, why);
	else if (rc == 0)
		(void)found(it, WATCH_TXT_MISSING, "TXT %s missing", name);
	else if ((d = key_drift(buf_str(&txt), kind, w->keys[ki].fpr, why,
	    sizeof(why))) != WATCH_OK)
		(void)found(it, d, "TXT %s: %s", name, d == WATCH_TXT_MISSING ?
		    "revoked (p= empty)" : "not the key the ceremony log "
		    "recorded");
	buf_release(&txt);
}

/* check_item - every CNAME, then the active key records */
static void
check_item(struct watch *w, struct watch_item *it)
{
	it->drift = WATCH_OK;
	it->detail[0] = '\0';
	if (conf_selector_index(it->inst, it->rs.active) < 0) {
		(void)found(it, WATCH_KEY_UNKNOWN, "%s: active selector %s is "
		    "not one of its selectors", it->inst->code, it->rs.active);
		return;
	}
	for (size_t k = 0; k < conf_kinds(it->inst); k++)
		for (size_t s = 0; s < CONF_SELECTORS; s++)
			if (check_cnames(w, it, s, k) < 0)
				return;
	for (size_t k = 0; k < conf_kinds(it->inst); k++)
		check_key(w, it, k);
}

/* worker - check items until none is left */
static void *
worker(void *arg)
{
	struct watch *w = arg;
	size_t	 i;

	for (;;) {
		pthread_mutex_lock(&w->mu);
		i = w->next++;
		pthread_mutex_unlock(&w->mu);
		if (i >= w->n || (w->stop != NULL && *w->stop))
			return NULL;
		check_item(w, &w->items[i]);
		w->items[i].checked = 1;
	}
}

/* watch_check_all - check every item, paced, in w->threads threads */
int
watch_check_all(struct watch *w, char *err, size_t errlen)
{
	pthread_t th[64];
	unsigned n = w->threads < 64 ? w->threads : 64, started = 0;
	int	 rc = 0;

	w->next = 0;
	w->queries = 0;
	clock_gettime(CLOCK_MONOTONIC, &w->slot);
	for (; started < (n ? n : 1); started++)
		if ((rc = pthread_create(&th[started], NULL, worker, w)) != 0)
			break;
	if (started == 0)
		return snprintf(err, errlen, "cannot start a thread: %s",
		    strerror(rc)), -1;
	for (unsigned t = 0; t < started; t++)
		pthread_join(th[t], NULL);
	return 0;
}
