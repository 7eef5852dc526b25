/*
 * cmd_preflight.c - p11dkim-keys preflight [INST] [--zone FILE|-]: will
 * the daemon sign, and will what it signs verify?  Run as the daemon's
 * signer runs (root drops to signer-user, keeping the environment, as
 * the daemon does), for each institution asked for: the checks shared
 * with p11dkimd -n (pkcs11/preflight.c: module, PIN, token, store, keys,
 * a self-test signature), then DNS: the published record is the token's
 * key, a signature the token makes verifies with the published key, and
 * the institution's CNAMEs point at the record.  One line per check, or
 * JSON; exit 0, 1 when a check failed, 75 when only DNS could not be
 * asked.
 *
 * Security: the zone file is read before privileges are dropped; the
 * PIN is read through the signer's own PIN source rules.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "p11dkim/dns_record.h"
#include "p11dkim/preflight.h"
#include "p11dkim/rotation_state.h"
#include "p11dkim/token_store.h"
#include "keys.h"

struct pf_out {
	struct keys_run *r;
	struct preflight *pf;
	int	 first;			/* no JSON object printed yet */
	unsigned checks, failed, unreachable;
};

/* report - one check's line, or JSON object */
static void
report(void *ctx, const char *name, const char *check,
    enum preflight_status st, const char *detail)
{
	struct pf_out *o = ctx;

	o->checks++;
	o->failed += st == PREFLIGHT_FAIL;
	o->unreachable += st == PREFLIGHT_UNREACHABLE;
	if (!o->r->json) {
		printf("%-10s %-6s %-11s %s\n", name, check,
		    preflight_status_name(st), detail);
		return;
	}
	printf("%s{\"institution\":", o->first ? "" : ",");
	json_string(stdout, name);
	printf(",\"check\":");
	json_string(stdout, check);
	printf(",\"status\":");
	json_string(stdout, preflight_status_name(st));
	printf(",\"detail\":");
	json_string(stdout, detail);
	printf("}");
	o->first = 0;
}

#define say(o, check, st, ...) \
	preflight_say((o)->pf, (o)->r->inst->code, check, st, __VA_ARGS__)

/* published_key - the public key of a parsed record, or NULL */
static EVP_PKEY *
published_key(const struct dns_dkim_key *dk)
{
	const unsigned char *p = dk->p;

	if (strcmp(dk->k, "ed25519") == 0)
		return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
		    dk->p, dk->p_len);
	return d2i_PUBKEY(NULL, &p, (long)dk->p_len);
}

/* verify_published - a signature the token makes, checked with DNS's key */
static void
verify_published(struct pf_out *o, struct p11_key *key, const char *name,
    const char *txt)
{
	unsigned char sig[P11_SIG_MAX];
	size_t	 len = sizeof(sig);
	struct dns_dkim_key dk;
	struct p11_err err;
	EVP_PKEY *pub = NULL;
	char	 why[256];

	if (dns_dkim_key_parse(txt, &dk, why, sizeof(why)) < 0) {
		say(o, "verify", PREFLIGHT_FAIL, "%s: the record does not "
		    "parse: %s", name, why);
		return;
	}
	if (dk.revoked || (pub = published_key(&dk)) == NULL)
		say(o, "verify", PREFLIGHT_FAIL, "%s: %s", name, dk.revoked ?
		    "revoked (p= empty)" : "the published key is not usable");
	else if (p11_key_sign(key, preflight_digest(), sig, &len, &err) < 0)
		say(o, "verify", PREFLIGHT_FAIL, "%s", err.msg);
	else if (!preflight_verify(pub, preflight_digest(), sig, len))
		say(o, "verify", PREFLIGHT_FAIL, "%s: a signature by '%s' does "
		    "NOT verify with the published key", name,
		    p11_key_label(key));
	else
		say(o, "verify", PREFLIGHT_OK, "%s: a signature by '%s' "
		    "verifies with the published key", name,
		    p11_key_label(key));
	EVP_PKEY_free(pub);
	dns_dkim_key_release(&dk);
}

/* record_checks - the key record of selector sel (kind) against key */
static void
record_checks(struct pf_out *o, struct p11_key *key, size_t sel,
    size_t kind, const struct dns_zone *zone)
{
	struct keys_run *r = o->r;
	char	 name[512], why[512];
	struct buf txt;
	int	 got;

	conf_record_name(r->conf, r->inst, sel, kind, name, sizeof(name));
	if (key == NULL) {
		say(o, "dns", PREFLIGHT_SKIP, "%s: no key to compare", name);
		return;
	}
	got = keys_check_key(r, sel, kind, p11_key_public(key), zone, why,
	    sizeof(why));
	if (got == DNS_MATCH)
		say(o, "dns", PREFLIGHT_OK, "%s: the token's key", name);
	else
		say(o, "dns", got < 0 && zone == NULL ? PREFLIGHT_UNREACHABLE :
		    PREFLIGHT_FAIL, "%s: %s%s%s", name, got < 0 ? "lookup "
		    "failed" : dns_check_name((enum dns_check)got),
		    why[0] ? ": " : "", why);
	buf_init(&txt, DNS_TXT_MAX);
	if (got != -1 && keys_published_txt(name, zone, &txt, why,
	    sizeof(why)) == 1)
		verify_published(o, key, name, buf_str(&txt));
	buf_release(&txt);
}

/* cname_checks - the institution's CNAMEs of selector sel (kind) */
static void
cname_checks(struct pf_out *o, size_t sel, size_t kind,
    const struct dns_zone *zone)
{
	struct keys_run *r = o->r;
	char	 owner[512], target[512];
	const char *cs;

	conf_record_name(r->conf, r->inst, sel, kind, target, sizeof(target));
	for (size_t d = 0; d < r->inst->ndomains; d++) {
		snprintf(owner, sizeof(owner), "%s._domainkey.%s",
		    conf_selector_name(r->inst, sel, kind),
		    r->inst->domains[d]);
		cs = keys_check_cname(owner, target, zone);
		say(o, "cname", strcmp(cs, "ok") == 0 ? PREFLIGHT_OK :
		    strcmp(cs, "lookup failed") == 0 ? PREFLIGHT_UNREACHABLE :
		    PREFLIGHT_FAIL, "%s -> %s: %s", owner, target, cs);
	}
}

/* target_of - what the daemon signs the institution with, now */
static int
target_of(struct keys_run *r, struct preflight_target *t,
    char labels[PREFLIGHT_KEYS_MAX][128], size_t *sel,
    struct rotation_state *rs, char *err, size_t errlen)
{
	int	 i;

	if (rotation_state_load(r->conf, r->inst, rs, err, errlen) < 0)
		return -1;
	if ((i = conf_selector_index(r->inst, rs->active)) < 0)
		return snprintf(err, errlen, "active selector '%s' unknown",
		    rs->active), -1;
	*sel = (size_t)i;
	memset(t, 0, sizeof(*t));
	t->name = r->inst->code;
	t->token_label = r->inst->token_label;
	t->token_serial = r->inst->token_serial;
	t->pin = r->inst->pin;
	t->nkeys = conf_kinds(r->inst);
	for (size_t k = 0; k < t->nkeys; k++) {
		conf_key_label(r->inst, *sel, k, labels[k], sizeof(labels[k]));
		t->key_label[k] = labels[k];
		t->key_type[k] = conf_kind_alg(r->inst, k) ==
		    DKIM_ALG_ED25519_SHA256 ? P11_KEY_ED25519 : P11_KEY_RSA;
	}
	return 0;
}

/*
 * as_signer - the checks run as signer-user (we became it, or are it)?
 * Otherwise they see what this user sees, which may differ: a warning.
 */
static void
as_signer(struct pf_out *o)
{
	const char *u = o->r->conf->daemon.signer_user;
	struct token_store_who w, self;
	struct p11_err err;

	token_store_who_self(&self);
	if (u == NULL)
		say(o, "user", PREFLIGHT_OK, "no signer-user: the signer runs "
		    "as the daemon's user; checking as %s", self.name);
	else if (token_store_who_user(u, &w, &err) < 0)
		say(o, "user", PREFLIGHT_FAIL, "signer-user: %s", err.msg);
	else if (w.uid != self.uid)
		say(o, "user", PREFLIGHT_WARN, "checking as %s, not as "
		    "signer-user %s: run as root (or as %s) to see what the "
		    "signer sees", self.name, w.name, w.name);
	else
		say(o, "user", PREFLIGHT_OK, "checking as signer-user %s",
		    w.name);
}

/*
 * pubrec_check - the public key record of selector sel (kind) holds the
 * token's key: what dns and check-dns will read instead of the token
 */
static void
pubrec_check(struct pf_out *o, struct p11_key *key, size_t sel, size_t kind)
{
	struct keys_run *r = o->r;
	char	 path[1024], fpr[72], err[512];
	const char *code = r->inst->code;

	if (key == NULL)
		return;
	switch (keys_record_compare(r, sel, kind, p11_key_public(key), path,
	    sizeof(path), fpr, err, sizeof(err))) {
	case KEYS_RECORD_SAME:
		say(o, "record", PREFLIGHT_OK, "%s: the token's key", path);
		return;
	case KEYS_RECORD_MISSING:
		say(o, "record", PREFLIGHT_WARN, "%s: none: dns reads the "
		    "token; 'p11dkim-keys audit %s --write-records' writes it",
		    path, code);
		return;
	case KEYS_RECORD_OTHER:
		say(o, "record", PREFLIGHT_FAIL, "%s holds another key than "
		    "the token's (fingerprint %s): dns refuses it; see "
		    "p11dkim-keys audit %s", path, fpr, code);
		return;
	}
	say(o, "record", PREFLIGHT_FAIL, "%s", err);
}

/*
 * onboarding_check - is the institution live?  A pending one is not
 * signed for (unless sign-pending): it works, but not yet
 */
static void
onboarding_check(struct pf_out *o, const struct rotation_state *rs)
{
	const char *code = o->r->inst->code;

	if (rs->onboard == ONBOARD_LIVE)
		say(o, "live", PREFLIGHT_OK, "live: the daemon signs "
		    "for it");
	else if (o->r->inst->sign_pending)
		say(o, "live", PREFLIGHT_WARN, "pending, but "
		    "sign-pending is set: the daemon signs for it; p11dkim-keys "
		    "check-dns %s --promote once its CNAMEs are in place", code);
	else
		say(o, "live", PREFLIGHT_WARN, "pending: the daemon "
		    "refuses its mail until p11dkim-keys check-dns %s --promote "
		    "confirms its CNAMEs", code);
}

/* one_institution - every check of r->inst */
static void
one_institution(struct pf_out *o, struct preflight *pf,
    const struct dns_zone *zone)
{
	char	 labels[PREFLIGHT_KEYS_MAX][128], err[512];
	struct preflight_target t;
	struct rotation_state rs;
	size_t	 sel;

	if (target_of(o->r, &t, labels, &sel, &rs, err, sizeof(err)) < 0) {
		say(o, "state", PREFLIGHT_FAIL, "%s", err);
		return;
	}
	onboarding_check(o, &rs);
	as_signer(o);
	(void)preflight_check(pf, o->r->conf->module, &t);
	for (size_t k = 0; k < t.nkeys; k++) {
		pubrec_check(o, pf->key[k], sel, k);
		record_checks(o, pf->key[k], sel, k, zone);
		cname_checks(o, sel, k, zone);
	}
}

/* run_all - the institutions asked for, as the signer's user */
static int
run_all(struct keys_run *r, const char *only, const struct dns_zone *zone)
{
	struct preflight pf;
	struct pf_out o = { r, &pf, 1, 0, 0, 0 };
	char	 err[512];

	if (preflight_become(r->conf->daemon.signer_user, err,
	    sizeof(err)) < 0)
		return keys_fail(EX_NOPERM, "signer-user: %s", err);
	memset(&pf, 0, sizeof(pf));
	pf.report = report;
	pf.ctx = &o;
	if (r->json)
		printf("{\"checks\":[");
	keys_interrupt_catch();
	for (size_t i = 0; i < r->conf->ninst && !keys_interrupted(); i++) {
		r->inst = &r->conf->inst[i];
		if (only == NULL || strcmp(only, r->inst->code) == 0)
			one_institution(&o, &pf, zone);
	}
	preflight_release(&pf);
	if (keys_interrupted())
		return EX_INTERRUPTED;
	if (r->json)
		printf("],\"checks_run\":%u,\"failed\":%u,"
		    "\"unreachable\":%u}\n", o.checks, o.failed, o.unreachable);
	else
		printf("preflight: %u checks, %u failed, %u could not reach "
		    "DNS\n", o.checks, o.failed, o.unreachable);
	return o.failed ? EX_CHECK_FAILED : o.unreachable ? EX_TEMPFAIL :
	    EX_OK;
}

/* cmd_preflight - p11dkim-keys preflight [INST] [--zone FILE|-] */
int
cmd_preflight(struct keys_run *r, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "zone", required_argument, NULL, 'z' }, { NULL, 0, NULL, 0 }
	};
	struct dns_zone zone;
	const char *zpath = NULL, *only = NULL;
	int	 c, st;

	keys_getopt_reset();
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'z')
			return keys_fail(EX_USAGE, "usage: preflight [INST] "
			    "[--zone FILE|-]");
		zpath = optarg;
	}
	if (argc - optind > 1)
		return keys_fail(EX_USAGE, "usage: preflight [INST] "
		    "[--zone FILE|-]");
	if (argc - optind == 1 && (st = keys_institution(r,
	    only = argv[optind])) != EX_OK)
		return st;
	if (zpath != NULL && (st = keys_load_zone(zpath, &zone)) != EX_OK)
		return st;
	st = run_all(r, only, zpath != NULL ? &zone : NULL);
	if (zpath != NULL)
		dns_zone_release(&zone);
	return st;
}
