/*
 * watch_policy.c - the decisions of p11dkim-keys dns-watch that need no
 * DNS and no files: how far apart queries go, what a finding does to an
 * institution's state, the fingerprint of a published key, and the
 * metrics text (see watch_int.h).
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "watch_int.h"

static const char *const drift_names[] = {
	"ok", "cname-missing", "cname-changed", "txt-missing", "key-mismatch",
	"key-unknown", "lookup-failed"
};

/* watch_drift_name - "ok", "cname-missing", ... */
const char *
watch_drift_name(enum watch_drift d)
{
	return (unsigned)d < sizeof(drift_names) / sizeof(drift_names[0]) ?
	    drift_names[d] : "unknown";
}

/* watch_interval_ns - one over rate, or longer to fill spread seconds */
long long
watch_interval_ns(double rate, long long spread, unsigned long nqueries)
{
	long long step = rate > 0 ? (long long)(1e9 / rate) : 0;
	long long fill = spread > 0 && nqueries > 0 ?
	    spread * 1000000000LL / (long long)nqueries : 0;

	return fill > step ? fill : step;
}

/* watch_decide - what the finding does to the state (rs updated) */
enum watch_action
watch_decide(struct rotation_state *rs, enum watch_drift d, long long now,
    long long grace)
{
	int	 changed;

	if (d == WATCH_LOOKUP_FAILED)
		return WATCH_KEEP;
	if (d == WATCH_OK) {
		if (rs->drift_since == 0)
			return WATCH_KEEP;
		rs->drift_since = 0;
		rs->drift_reason[0] = '\0';
		return WATCH_CLEAR;
	}
	changed = rs->drift_since == 0 ||
	    strcmp(rs->drift_reason, watch_drift_name(d)) != 0;
	if (rs->drift_since == 0)
		rs->drift_since = now;
	snprintf(rs->drift_reason, sizeof(rs->drift_reason), "%s",
	    watch_drift_name(d));
	if (grace > 0 && now - rs->drift_since >= grace) {
		rs->onboard = ONBOARD_PENDING;
		return WATCH_DEMOTE;
	}
	return changed ? WATCH_MARK : WATCH_KEEP;
}

/*
 * watch_spki_fpr - RFC 6376 3.6.1: an RSA p= is the SubjectPublicKeyInfo
 * itself; RFC 8463 4: an Ed25519 p= is the raw 32-byte key, which the
 * SPKI wraps behind a fixed prefix (RFC 8410 4, OID 1.3.101.112).
 */
int
watch_spki_fpr(const char *k, const unsigned char *p, size_t len,
    char out[WATCH_FPR_LEN + 1])
{
	static const unsigned char ed25519_prefix[12] = { 0x30, 0x2a, 0x30,
	    0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00 };
	unsigned char md[32], spki[44];
	unsigned int mdlen = 0;
	int	 ok;

	if (strcmp(k, "ed25519") == 0) {
		if (len != 32)
			return -1;
		memcpy(spki, ed25519_prefix, sizeof(ed25519_prefix));
		memcpy(spki + sizeof(ed25519_prefix), p, 32);
		p = spki;
		len = sizeof(spki);
	}
	ok = EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL);
	if (ok != 1 || mdlen != sizeof(md))
		return -1;
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* watch_metrics - the Prometheus text of a run */
int
watch_metrics(const struct watch *w, long long when, double seconds,
    struct buf *out)
{
	int	 rc;

	rc = buf_printf(out, "# HELP p11dkim_dns_drift 1 when a live "
	    "institution's DNS no longer shows its CNAMEs or its key (reason "
	    "says what), 0 when it does.\n# TYPE p11dkim_dns_drift gauge\n");
	for (size_t i = 0; rc == 0 && i < w->n; i++)
		if (w->items[i].checked)
			rc = buf_printf(out, "p11dkim_dns_drift{institution="
			    "\"%s\",reason=\"%s\"} %d\n",
			    w->items[i].inst->code,
			    watch_drift_name(w->items[i].drift),
			    w->items[i].drift != WATCH_OK);
	if (rc == 0)
		rc = buf_printf(out, "# HELP p11dkim_dns_watch_last_run_seconds "
		    "When the last dns-watch run ended (Unix time).\n# TYPE "
		    "p11dkim_dns_watch_last_run_seconds gauge\n"
		    "p11dkim_dns_watch_last_run_seconds %lld\n"
		    "# HELP p11dkim_dns_watch_duration_seconds How long it took."
		    "\n# TYPE p11dkim_dns_watch_duration_seconds gauge\n"
		    "p11dkim_dns_watch_duration_seconds %.3f\n"
		    "# HELP p11dkim_dns_watch_queries DNS queries it sent.\n"
		    "# TYPE p11dkim_dns_watch_queries gauge\n"
		    "p11dkim_dns_watch_queries %lu\n", when, seconds,
		    w->queries);
	return rc;
}
