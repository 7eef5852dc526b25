/*
 * cmd_rotate.c - p11dkim-keys rotate: move an institution from its
 * active selector to the standby one, as a guided sequence whose state
 * is kept in the state directory:
 *
 *   start     generate a key on the standby selector
 *   publish   print its DNS record (publish it in the provider zone)
 *   verify    check that DNS shows exactly that key, and that the
 *             institution's CNAMEs of that selector point at it
 *   activate  make it the active selector (reload the daemon after)
 *   revoke    after the grace period, print the old record with p= empty
 *   finish    once DNS shows the revocation, destroy the old key
 *
 * Each step refuses to run out of order and says what must happen first.
 * A step that writes checks first that the log and the state can be
 * written; the new state is saved, then logged, and put back when the
 * log will not take it.  A start cut short after a key was made (and
 * logged) resumes: the key the log proves is kept, the missing one made.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "p11dkim/dns_record.h"
#include "p11dkim/key_audit.h"
#include "p11dkim/keygen.h"
#include "p11dkim/rotation_state.h"
#include "keys.h"

#define GRACE_DEFAULT	(7 * 24 * 3600)	/* old signatures still verify */

struct rotate {
	const struct dns_zone *zone;	/* --zone, or NULL: live DNS */
	long long grace;
	struct rotation_state old;	/* as it was when the step began */
	unsigned keygen_flags;		/* start: KEYGEN_STRICT or 0 */
};

/* out_of_order - a step run out of order: say what comes first */
static int
out_of_order(struct keys_run *r, const struct rotation_state *rs,
    const char *step, const char *need)
{
	return keys_fail(EX_USAGE, "rotate %s: %s is at step '%s'; %s first",
	    step, r->inst->code, rotation_step_name(rs->step), need);
}

/* save - the new state, then its log record (see keys_state_save) */
static int
save(struct keys_run *r, const struct rotate *o,
    const struct rotation_state *rs, const char *action, const char *sel,
    const char *fpr)
{
	return keys_state_save(r, &o->old, rs, action, sel, fpr);
}

/* standby - the selector that is not active */
static size_t
standby(struct keys_run *r, const struct rotation_state *rs)
{
	return conf_selector_index(r->inst, rs->active) == 0 ? 1 : 0;
}

/*
 * keep_or_make - what start does for selector sb's key of a kind: 1 keep
 * the key there (our log proves an earlier start made it), 0 make it;
 * -EX_USAGE refuses a key the log does not account for, -EX_DATAERR a
 * log that cannot be read.
 */
static int
keep_or_make(struct keys_run *r, size_t sb, size_t kind)
{
	char	 fpr[KEY_AUDIT_FPR_LEN + 1];
	unsigned long seq = 0;
	struct p11_key *k;
	int	 proven;

	if (!keys_have_key(r, sb, kind))
		return 0;
	if ((k = keys_key(r, sb, kind)) == NULL ||
	    key_audit_fingerprint(p11_key_public(k), fpr) < 0)
		proven = 0;
	else if ((proven = keys_key_proven(r, sb, kind, fpr, &seq)) < 0)
		return -EX_DATAERR;
	if (proven == 0) {
		keys_fail(EX_USAGE, "rotate start: selector %s already has a "
		    "key on the token that the ceremony log does not show "
		    "this institution making; destroy it first (p11dkim-keys "
		    "destroy %s %s)", conf_selector_name(r->inst, sb, kind),
		    r->inst->code, r->inst->selectors[sb]);
		return -EX_USAGE;
	}
	printf("resuming: key '%s' of %s was made by an earlier run "
	    "(ceremony log record %lu, fingerprint %s)\n", p11_key_label(k),
	    conf_selector_name(r->inst, sb, kind), seq, fpr);
	return 1;
}

/* step_start - a key on the standby selector (or the missing one) */
static int
step_start(struct keys_run *r, struct rotation_state *rs,
    const struct rotate *o)
{
	size_t	 sb = standby(r, rs);
	int	 keep[2] = { 0, 0 }, st;

	if (rs->step != ROT_IDLE)
		return out_of_order(r, rs, "start", "finish the rotation under "
		    "way");
	if ((st = keys_generate_check(r, sb, r->inst->key_type)) != EX_OK)
		return st;
	for (size_t k = 0; k < conf_kinds(r->inst); k++)
		if ((keep[k] = keep_or_make(r, sb, k)) < 0)
			return -keep[k];
	if ((st = keys_ready(r, 1)) != EX_OK)
		return st;
	for (size_t k = 0; k < conf_kinds(r->inst); k++)
		if (!keep[k] && (st = keys_generate_kind(r, sb, k,
		    r->inst->key_type, o->keygen_flags)) != EX_OK) {
			if (k > 0)
				keys_fail(0, "the key made first stays, "
				    "logged: 'rotate %s start' again makes "
				    "the rest", r->inst->code);
			return st;
		}
	rs->step = ROT_GENERATED;
	snprintf(rs->target, sizeof(rs->target), "%s", r->inst->selectors[sb]);
	rs->retiring[0] = '\0';
	if ((st = save(r, o, rs, "rotate-start", rs->target, "")) != EX_OK) {
		keys_fail(0, "the new key(s) stay, logged: 'rotate %s start' "
		    "again resumes", r->inst->code);
		return st;
	}
	printf("next: p11dkim-keys rotate %s publish\n", r->inst->code);
	return EX_OK;
}

/* print_record - selector i's TXT records: its keys, or p= empty */
static int
print_record(struct keys_run *r, size_t i, int revoked)
{
	char	 name[512];
	struct buf txt, out;
	EVP_PKEY *key;
	int	 rc = 0;

	for (size_t k = 0; k < conf_kinds(r->inst) && rc == 0; k++) {
		key = revoked ? NULL : keys_pub_key(r, i, k);
		if (!revoked && key == NULL)
			return keys_fail(EX_UNAVAILABLE, "selector %s has no key "
			    "on the token", conf_selector_name(r->inst, i, k));
		buf_init(&txt, DNS_TXT_MAX);
		buf_init(&out, DNS_TXT_MAX * 2);
		rc = conf_record_name(r->conf, r->inst, i, k, name, sizeof(name));
		if (rc == 0)
			rc = revoked ? keys_revoked_txt(r, k, &txt) :
			    keys_key_txt(key, &txt);
		if (rc == 0)
			rc = dns_txt_format(name, buf_str(&txt), &out);
		if (rc == 0)
			fputs(buf_str(&out), stdout);
		buf_release(&txt);
		buf_release(&out);
	}
	return rc == 0 ? EX_OK : keys_fail(EX_SOFTWARE, "cannot format");
}

/* step_publish - print the new record */
static int
step_publish(struct keys_run *r, struct rotation_state *rs,
    const struct rotate *o)
{
	int	 t = conf_selector_index(r->inst, rs->target), st;

	if (rs->step != ROT_GENERATED && rs->step != ROT_PUBLISHED)
		return out_of_order(r, rs, "publish", rs->step == ROT_IDLE ?
		    "'rotate start'" : "nothing: it was published already");
	if ((rs->step == ROT_GENERATED && (st = keys_ready(r, 1)) != EX_OK) ||
	    (st = keys_publics(r)) != EX_OK)
		return st;
	printf("; publish in the provider zone %s:\n", r->conf->provider_zone);
	if ((st = print_record(r, (size_t)t, 0)) != EX_OK)
		return st;
	if (rs->step == ROT_GENERATED) {
		rs->step = ROT_PUBLISHED;
		if ((st = save(r, o, rs, "rotate-publish", rs->target, "")) !=
		    EX_OK)
			return st;
	}
	fprintf(stderr, "next, once DNS serves it: p11dkim-keys rotate %s "
	    "verify\n", r->inst->code);
	return EX_OK;
}

/*
 * dns_says - does DNS (zone or live) say want for every key record of
 * selector i?  Returns want, or what it said instead (-1: lookup failed)
 * with why naming the record.
 */
static int
dns_says(struct keys_run *r, size_t i, const struct rotate *o, int want,
    char *why, size_t whylen)
{
	char	 one[400];
	int	 got = want;

	why[0] = '\0';
	for (size_t k = 0; k < conf_kinds(r->inst) && got == want; k++) {
		got = keys_check_selector(r, i, k, o->zone, one, sizeof(one));
		if (got != want)
			snprintf(why, whylen, "%s: %.380s",
			    conf_selector_name(r->inst, i, k), one);
	}
	return got;
}

/*
 * cnames_in_place - the institution's CNAMEs of selector i point at our
 * records: without them the new selector cannot verify for the domain,
 * however right our own record is.  0, or a failure status.
 */
static int
cnames_in_place(struct keys_run *r, size_t i, const struct rotate *o)
{
	char	 owner[512], target[512];
	const char *cs;

	for (size_t k = 0; k < conf_kinds(r->inst); k++) {
		cs = keys_cnames_ok(r, i, k, o->zone, owner, sizeof(owner),
		    target, sizeof(target));
		if (strcmp(cs, "ok") != 0)
			return keys_fail(EX_CHECK_FAILED, "rotate verify: the "
			    "institution's CNAME %s: %s (it must point at %s): "
			    "ask %s to create it before %s signs", owner, cs,
			    target, r->inst->code,
			    conf_selector_name(r->inst, i, k));
		printf("CNAME %s -> %s: ok\n", owner, target);
	}
	return EX_OK;
}

/* step_verify - DNS must show exactly the new key, through the CNAMEs */
static int
step_verify(struct keys_run *r, struct rotation_state *rs,
    const struct rotate *o)
{
	int	 t = conf_selector_index(r->inst, rs->target), got, st;
	char	 why[512];

	if (rs->step != ROT_PUBLISHED && rs->step != ROT_VERIFIED)
		return out_of_order(r, rs, "verify", "'rotate publish'");
	if ((rs->step == ROT_PUBLISHED && (st = keys_ready(r, 1)) != EX_OK) ||
	    (st = keys_publics(r)) != EX_OK)
		return st;
	got = dns_says(r, (size_t)t, o, DNS_MATCH, why, sizeof(why));
	if (got != DNS_MATCH)
		return keys_fail(EX_CHECK_FAILED, "rotate verify: DNS for %s: "
		    "%s%s%s; publish the record from 'rotate publish' and try "
		    "again", rs->target, got < 0 ? "lookup failed" :
		    dns_check_name((enum dns_check)got), why[0] ? ": " : "",
		    why);
	printf("DNS shows the new key of %s: match\n", rs->target);
	if ((st = cnames_in_place(r, (size_t)t, o)) != EX_OK)
		return st;
	if (rs->step == ROT_PUBLISHED) {
		rs->step = ROT_VERIFIED;
		if ((st = save(r, o, rs, "rotate-verify", rs->target, "")) !=
		    EX_OK)
			return st;
	}
	printf("next: p11dkim-keys rotate %s activate\n", r->inst->code);
	return EX_OK;
}

/* step_activate - the new selector signs from the daemon's next reload */
static int
step_activate(struct keys_run *r, struct rotation_state *rs,
    const struct rotate *o)
{
	char	 fpr[KEY_AUDIT_FPR_LEN + 1] = "";
	EVP_PKEY *k;
	int	 t = conf_selector_index(r->inst, rs->target), st;

	if (rs->step != ROT_VERIFIED)
		return out_of_order(r, rs, "activate", "'rotate verify' (DNS "
		    "must show the new key before it signs)");
	if ((st = keys_ready(r, 1)) != EX_OK || (st = keys_publics(r)) != EX_OK)
		return st;
	if ((k = keys_pub_key(r, (size_t)t, CONF_KIND_MAIN)) != NULL)
		key_audit_fingerprint(k, fpr);
	snprintf(rs->retiring, sizeof(rs->retiring), "%s", rs->active);
	snprintf(rs->active, sizeof(rs->active), "%s", rs->target);
	rs->activated_at = (long long)time(NULL);
	rs->step = ROT_ACTIVATED;
	if ((st = save(r, o, rs, "rotate-activate", rs->active, fpr)) != EX_OK)
		return st;
	printf("%s now signs with %s; reload the daemon (systemctl reload "
	    "p11dkimd).\n%s stays published for the grace period, then: "
	    "p11dkim-keys rotate %s revoke\n", r->inst->code, rs->active,
	    rs->retiring, r->inst->code);
	return EX_OK;
}

/* grace_left - seconds until the old selector may be revoked */
static long long
grace_left(const struct rotation_state *rs, const struct rotate *o)
{
	return rs->activated_at + o->grace - (long long)time(NULL);
}

/* step_revoke - after the grace period, the old record with p= empty */
static int
step_revoke(struct keys_run *r, struct rotation_state *rs,
    const struct rotate *o)
{
	long long left = grace_left(rs, o);
	int	 old = conf_selector_index(r->inst, rs->retiring), st;
	char	 wait[64], grace[64];

	if (rs->step != ROT_ACTIVATED && rs->step != ROT_REVOKED)
		return out_of_order(r, rs, "revoke", "'rotate activate'");
	keys_duration(left, wait, sizeof(wait));
	keys_duration(o->grace, grace, sizeof(grace));
	if (rs->step == ROT_ACTIVATED && left > 0)
		return keys_fail(EX_USAGE, "rotate revoke: mail signed with %s "
		    "may still be in transit; wait %s more (grace period %s, "
		    "--grace SECONDS to change)", rs->retiring, wait, grace);
	if (rs->step == ROT_ACTIVATED && (st = keys_ready(r, 1)) != EX_OK)
		return st;
	printf("; replace the record of %s in the provider zone %s:\n",
	    rs->retiring, r->conf->provider_zone);
	if ((st = print_record(r, (size_t)old, 1)) != EX_OK)
		return st;
	if (rs->step == ROT_ACTIVATED) {
		rs->step = ROT_REVOKED;
		if ((st = save(r, o, rs, "rotate-revoke", rs->retiring, "")) !=
		    EX_OK)
			return st;
	}
	fprintf(stderr, "next, once DNS serves it: p11dkim-keys rotate %s "
	    "finish\n", r->inst->code);
	return EX_OK;
}

/* step_finish - DNS shows the revocation: destroy the old key */
static int
step_finish(struct keys_run *r, struct rotation_state *rs,
    const struct rotate *o)
{
	int	 old = conf_selector_index(r->inst, rs->retiring), got, st;
	char	 why[512], question[256];

	if (rs->step != ROT_REVOKED)
		return out_of_order(r, rs, "finish", "'rotate revoke'");
	if ((st = keys_publics(r)) != EX_OK)
		return st;
	got = dns_says(r, (size_t)old, o, DNS_REVOKED, why, sizeof(why));
	if (got != DNS_REVOKED)
		return keys_fail(EX_CHECK_FAILED, "rotate finish: DNS for %s "
		    "is '%s', not 'revoked' (%s); publish the records from "
		    "'rotate revoke' first", rs->retiring, got < 0 ?
		    "lookup failed" : dns_check_name((enum dns_check)got), why);
	if ((st = keys_ready(r, 1)) != EX_OK)
		return st;
	snprintf(question, sizeof(question), "Destroy the retired key(s) of "
	    "selector %s on token '%s'? This cannot be undone.", rs->retiring,
	    token_info(r->tok)->label);
	if ((st = keys_confirm(r, question, rs->retiring)) != EX_OK)
		return st;
	if ((st = keys_destroy_selector(r, (size_t)old, "the retired ")) !=
	    EX_OK)
		return st;
	rs->step = ROT_IDLE;
	rs->target[0] = rs->retiring[0] = '\0';
	if ((st = save(r, o, rs, "rotate-finish", "", "")) != EX_OK)
		return st;
	printf("the rotation is done\n");
	return EX_OK;
}

/* step_status - where the rotation stands, and the command to run next */
static int
step_status(struct keys_run *r, const struct rotation_state *rs,
    const struct rotate *o)
{
	static const char *const next[] = { "start", "publish", "verify",
	    "activate", "revoke", "finish" };
	long long left = grace_left(rs, o);
	char	 wait[64];

	printf("institution %s\nactive selector: %s\nrotation step:   %s\n",
	    r->inst->code, rs->active, rotation_step_name(rs->step));
	if (rs->target[0])
		printf("rotating to:     %s\n", rs->target);
	if (rs->retiring[0])
		printf("retiring:        %s\n", rs->retiring);
	printf("next:            p11dkim-keys rotate %s %s\n", r->inst->code,
	    next[rs->step]);
	if (rs->step == ROT_ACTIVATED && left > 0) {
		keys_duration(left, wait, sizeof(wait));
		printf("                 not before the grace period is over: "
		    "in %s\n", wait);
	}
	return EX_OK;
}

/* run_step - the step named step */
static int
run_step(struct keys_run *r, const char *step, struct rotation_state *rs,
    const struct rotate *o)
{
	static const struct {
		const char *name;
		int (*fn)(struct keys_run *, struct rotation_state *,
		    const struct rotate *);
		int	 token;		/* it changes the token */
	} steps[] = {
		{ "start", step_start, 1 }, { "publish", step_publish, 0 },
		{ "verify", step_verify, 0 }, { "activate", step_activate, 0 },
		{ "revoke", step_revoke, 0 }, { "finish", step_finish, 1 },
		{ NULL, NULL, 0 }
	};
	int	 st;

	for (size_t k = 0; steps[k].name != NULL; k++)
		if (strcmp(step, steps[k].name) == 0) {
			/* with the token open, its public keys cost nothing */
			if (steps[k].token && (st = keys_token(r)) != EX_OK)
				return st;
			r->from_token |= steps[k].token;
			return steps[k].fn(r, rs, o);
		}
	return keys_fail(EX_USAGE, "rotate: unknown step '%s'", step);
}

/*
 * cmd_rotate - p11dkim-keys rotate INST STEP [--zone FILE] [--grace S]
 * [--strict]
 */
int
cmd_rotate(struct keys_run *r, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "zone", required_argument, NULL, 'z' },
		{ "grace", required_argument, NULL, 'g' },
		{ "strict", no_argument, NULL, 's' },
		{ "from-token", no_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	struct rotate o = { .zone = NULL, .grace = GRACE_DEFAULT,
	    .keygen_flags = 0 };
	struct rotation_state rs;
	struct dns_zone zone;
	const char *step, *zpath = NULL;
	char	 err[512], *end;
	int	 c, st;

	keys_getopt_reset();
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'z')
			zpath = optarg;
		else if (c == 's')
			o.keygen_flags |= KEYGEN_STRICT;
		else if (c == 't')
			r->from_token = 1;
		else if (c == 'g' && (o.grace = strtoll(optarg, &end, 10)) >= 0
		    && *end == '\0')
			continue;
		else
			return keys_fail(EX_USAGE, "usage: rotate INST STEP "
			    "[--zone FILE] [--grace SECONDS] [--strict] "
			    "[--from-token]");
	}
	if (argc - optind != 2)
		return keys_fail(EX_USAGE, "usage: rotate INST status|start|"
		    "publish|verify|activate|revoke|finish");
	step = argv[optind + 1];
	if ((st = keys_institution(r, argv[optind])) != EX_OK)
		return st;
	if (rotation_state_load(r->conf, r->inst, &rs, err, sizeof(err)) < 0)
		return keys_fail(EX_CONFIG, "%s", err);
	o.old = rs;
	if (strcmp(step, "status") == 0)
		return step_status(r, &rs, &o);
	if (zpath != NULL && (st = keys_load_zone(zpath, &zone)) != EX_OK)
		return st;
	o.zone = zpath != NULL ? &zone : NULL;
	st = run_step(r, step, &rs, &o);
	if (zpath != NULL)
		dns_zone_release(&zone);
	return st;
}
