/*
 * cmd_rotate.c - p11dkim-keys rotate: move an institution from its
 * active selector to the standby one, as a guided sequence whose state
 * is kept in the state directory:
 *
 *   start     generate a key on the standby selector
 *   publish   print its DNS record (publish it in the provider zone)
 *   verify    check that DNS shows exactly that key
 *   activate  make it the active selector (reload the daemon after)
 *   revoke    after the grace period, print the old record with p= empty
 *   finish    once DNS shows the revocation, destroy the old key
 *
 * Each step refuses to run out of order and says what must happen first.
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

struct rotate_opts {
	const char *zone;
	long long grace;
	unsigned keygen_flags;		/* start: KEYGEN_STRICT or 0 */
};

/* step_error - a step run out of order: say what comes first */
static int
out_of_order(struct keys_run *r, const struct rotation_state *rs,
    const char *step, const char *need)
{
	return keys_fail(EX_USAGE, "rotate %s: %s is at step '%s'; %s first",
	    step, r->inst->code, rotation_step_name(rs->step), need);
}

/* save - write the new state, and log the step */
static int
save(struct keys_run *r, const struct rotation_state *rs, const char *action,
    const char *sel, const char *fpr)
{
	char	 err[512];

	if (rotation_state_save(r->conf, r->inst, rs, err, sizeof(err)) < 0)
		return keys_fail(EX_IOERR, "%s", err);
	return keys_log(r, action, sel, fpr, "ok");
}

/* standby - the selector that is not active */
static size_t
standby(struct keys_run *r, const struct rotation_state *rs)
{
	return conf_selector_index(r->inst, rs->active) == 0 ? 1 : 0;
}

/* step_start - a key on the standby selector */
static int
step_start(struct keys_run *r, struct rotation_state *rs,
    const struct rotate_opts *o)
{
	size_t	 sb = standby(r, rs);
	char	 label[128];
	struct p11_err err;
	int	 st;

	if (rs->step != ROT_IDLE)
		return out_of_order(r, rs, "start", "finish the rotation under "
		    "way");
	for (size_t k = 0; k < conf_kinds(r->inst); k++) {
		conf_key_label(r->inst, sb, k, label, sizeof(label));
		if (keygen_label_exists(r->tok, label, &err) != 0)
			return keys_fail(EX_USAGE, "rotate start: selector %s "
			    "already has a key on the token; destroy it first "
			    "(p11dkim-keys destroy %s %s)",
			    conf_selector_name(r->inst, sb, k), r->inst->code,
			    r->inst->selectors[sb]);
	}
	if ((st = keys_generate_for(r, sb, r->inst->key_type,
	    o->keygen_flags)) != EX_OK)
		return st;
	rs->step = ROT_GENERATED;
	snprintf(rs->target, sizeof(rs->target), "%s", r->inst->selectors[sb]);
	rs->retiring[0] = '\0';
	if ((st = save(r, rs, "rotate-start", rs->target, "")) != EX_OK)
		return st;
	printf("next: p11dkim-keys rotate %s publish\n", r->inst->code);
	return EX_OK;
}

/* print_record - selector i's TXT records: its keys, or p= empty */
static int
print_record(struct keys_run *r, size_t i, int revoked)
{
	char	 name[512];
	struct buf txt, out;
	struct p11_key *key;
	int	 rc = 0;

	for (size_t k = 0; k < conf_kinds(r->inst) && rc == 0; k++) {
		key = revoked ? NULL : keys_key(r, i, k);
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
step_publish(struct keys_run *r, struct rotation_state *rs)
{
	int	 t = conf_selector_index(r->inst, rs->target), st;

	if (rs->step != ROT_GENERATED && rs->step != ROT_PUBLISHED)
		return out_of_order(r, rs, "publish", rs->step == ROT_IDLE ?
		    "'rotate start'" : "nothing: it was published already");
	printf("; publish in the provider zone %s:\n", r->conf->provider_zone);
	if ((st = print_record(r, (size_t)t, 0)) != EX_OK)
		return st;
	if (rs->step == ROT_GENERATED) {
		rs->step = ROT_PUBLISHED;
		if ((st = save(r, rs, "rotate-publish", rs->target, "")) != EX_OK)
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
dns_says(struct keys_run *r, size_t i, const struct rotate_opts *o,
    int want, char *why, size_t whylen)
{
	struct dns_zone zone;
	char	 one[400];
	int	 got = want;

	if (o->zone != NULL && keys_load_zone(o->zone, &zone) != EX_OK)
		return snprintf(why, whylen, "cannot read %s", o->zone), -1;
	why[0] = '\0';
	for (size_t k = 0; k < conf_kinds(r->inst) && got == want; k++) {
		got = keys_check_selector(r, i, k, o->zone ? &zone : NULL, one,
		    sizeof(one));
		if (got != want)
			snprintf(why, whylen, "%s: %.380s",
			    conf_selector_name(r->inst, i, k), one);
	}
	if (o->zone != NULL)
		dns_zone_release(&zone);
	return got;
}

/* step_verify - DNS must show exactly the new key */
static int
step_verify(struct keys_run *r, struct rotation_state *rs,
    const struct rotate_opts *o)
{
	int	 t = conf_selector_index(r->inst, rs->target), got;
	char	 why[512];

	if (rs->step != ROT_PUBLISHED && rs->step != ROT_VERIFIED)
		return out_of_order(r, rs, "verify", "'rotate publish'");
	got = dns_says(r, (size_t)t, o, DNS_MATCH, why, sizeof(why));
	if (got != DNS_MATCH)
		return keys_fail(EX_CHECK_FAILED, "rotate verify: DNS for %s: "
		    "%s%s%s; publish the record from 'rotate publish' and try "
		    "again", rs->target, got < 0 ? "lookup failed" :
		    dns_check_name((enum dns_check)got), why[0] ? ": " : "",
		    why);
	printf("DNS shows the new key of %s: match\n", rs->target);
	if (rs->step == ROT_PUBLISHED) {
		rs->step = ROT_VERIFIED;
		if (save(r, rs, "rotate-verify", rs->target, "") != EX_OK)
			return EX_IOERR;
	}
	printf("next: p11dkim-keys rotate %s activate\n", r->inst->code);
	return EX_OK;
}

/* step_activate - the new selector signs from the daemon's next reload */
static int
step_activate(struct keys_run *r, struct rotation_state *rs)
{
	char	 fpr[KEY_AUDIT_FPR_LEN + 1] = "";
	struct p11_key *k;
	int	 t = conf_selector_index(r->inst, rs->target), st;

	if (rs->step != ROT_VERIFIED)
		return out_of_order(r, rs, "activate", "'rotate verify' (DNS "
		    "must show the new key before it signs)");
	if ((k = keys_key(r, (size_t)t, CONF_KIND_MAIN)) != NULL)
		key_audit_fingerprint(p11_key_public(k), fpr);
	snprintf(rs->retiring, sizeof(rs->retiring), "%s", rs->active);
	snprintf(rs->active, sizeof(rs->active), "%s", rs->target);
	rs->activated_at = (long long)time(NULL);
	rs->step = ROT_ACTIVATED;
	if ((st = save(r, rs, "rotate-activate", rs->active, fpr)) != EX_OK)
		return st;
	printf("%s now signs with %s; reload the daemon (systemctl reload "
	    "p11dkimd).\n%s stays published for the grace period, then: "
	    "p11dkim-keys rotate %s revoke\n", r->inst->code, rs->active,
	    rs->retiring, r->inst->code);
	return EX_OK;
}

/* step_revoke - after the grace period, the old record with p= empty */
static int
step_revoke(struct keys_run *r, struct rotation_state *rs,
    const struct rotate_opts *o)
{
	long long left = rs->activated_at + o->grace - (long long)time(NULL);
	int	 old = conf_selector_index(r->inst, rs->retiring), st;

	if (rs->step != ROT_ACTIVATED && rs->step != ROT_REVOKED)
		return out_of_order(r, rs, "revoke", "'rotate activate'");
	if (rs->step == ROT_ACTIVATED && left > 0)
		return keys_fail(EX_USAGE, "rotate revoke: mail signed with %s "
		    "may still be in transit; wait %lld more seconds (grace "
		    "period %lld s, --grace to change)", rs->retiring, left,
		    o->grace);
	printf("; replace the record of %s in the provider zone %s:\n",
	    rs->retiring, r->conf->provider_zone);
	if ((st = print_record(r, (size_t)old, 1)) != EX_OK)
		return st;
	if (rs->step == ROT_ACTIVATED) {
		rs->step = ROT_REVOKED;
		if ((st = save(r, rs, "rotate-revoke", rs->retiring, "")) !=
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
    const struct rotate_opts *o)
{
	int	 old = conf_selector_index(r->inst, rs->retiring), got, st;
	char	 why[512], label[128];
	struct p11_err err;

	if (rs->step != ROT_REVOKED)
		return out_of_order(r, rs, "finish", "'rotate revoke'");
	got = dns_says(r, (size_t)old, o, DNS_REVOKED, why, sizeof(why));
	if (got != DNS_REVOKED)
		return keys_fail(EX_CHECK_FAILED, "rotate finish: DNS for %s "
		    "is '%s', not 'revoked' (%s); publish the records from "
		    "'rotate revoke' first", rs->retiring, got < 0 ?
		    "lookup failed" : dns_check_name((enum dns_check)got), why);
	for (size_t k = 0; k < conf_kinds(r->inst); k++) {
		conf_key_label(r->inst, (size_t)old, k, label, sizeof(label));
		if (keygen_destroy(r->tok, label, &err) < 0)
			return keys_fail(keys_status_of(&err), "%s", err.msg);
		printf("destroyed the retired key '%s'\n", label);
		if ((st = keys_log(r, "destroy", conf_selector_name(r->inst,
		    (size_t)old, k), "", "ok")) != EX_OK)
			return st;
	}
	printf("the rotation is done\n");
	rs->step = ROT_IDLE;
	rs->target[0] = rs->retiring[0] = '\0';
	return st != EX_OK ? st : save(r, rs, "rotate-finish", "", "");
}

/* step_status - where the rotation stands */
static int
step_status(struct keys_run *r, const struct rotation_state *rs)
{
	static const char *const next[] = { "rotate start", "rotate publish",
	    "rotate verify", "rotate activate", "rotate revoke (after the "
	    "grace period)", "rotate finish" };

	printf("institution %s\nactive selector: %s\nrotation step:   %s\n",
	    r->inst->code, rs->active, rotation_step_name(rs->step));
	if (rs->target[0])
		printf("rotating to:     %s\n", rs->target);
	if (rs->retiring[0])
		printf("retiring:        %s\n", rs->retiring);
	printf("next:            p11dkim-keys %s %s\n", next[rs->step],
	    r->inst->code);
	return EX_OK;
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
		{ NULL, 0, NULL, 0 }
	};
	struct rotate_opts o = { NULL, GRACE_DEFAULT, 0 };
	struct rotation_state rs;
	const char *step;
	char	 err[512], *end;
	int	 c, st;

	keys_getopt_reset();
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'z')
			o.zone = optarg;
		else if (c == 's')
			o.keygen_flags |= KEYGEN_STRICT;
		else if (c == 'g' && (o.grace = strtoll(optarg, &end, 10)) >= 0
		    && *end == '\0')
			continue;
		else
			return keys_fail(EX_USAGE, "usage: rotate INST STEP "
			    "[--zone FILE] [--grace SECONDS] [--strict]");
	}
	if (argc - optind != 2)
		return keys_fail(EX_USAGE, "usage: rotate INST status|start|"
		    "publish|verify|activate|revoke|finish");
	step = argv[optind + 1];
	if ((st = keys_institution(r, argv[optind])) != EX_OK)
		return st;
	if (rotation_state_load(r->conf, r->inst, &rs, err, sizeof(err)) < 0)
		return keys_fail(EX_CONFIG, "%s", err);
	if (strcmp(step, "status") == 0)
		return step_status(r, &rs);
	if ((st = keys_token(r)) != EX_OK)
		return st;
	if (strcmp(step, "start") == 0)
		return step_start(r, &rs, &o);
	if (strcmp(step, "publish") == 0)
		return step_publish(r, &rs);
	if (strcmp(step, "verify") == 0)
		return step_verify(r, &rs, &o);
	if (strcmp(step, "activate") == 0)
		return step_activate(r, &rs);
	if (strcmp(step, "revoke") == 0)
		return step_revoke(r, &rs, &o);
	if (strcmp(step, "finish") == 0)
		return step_finish(r, &rs, &o);
	return keys_fail(EX_USAGE, "rotate: unknown step '%s'", step);
}
