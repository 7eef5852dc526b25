/*
 * cmd_onboard.c - the onboarding gate: an institution is pending (keys
 * made, its DNS not confirmed: the daemon refuses to sign for it unless
 * sign-pending is set) or live.  init-token and the first generate of a
 * new institution make it pending; check-dns --promote makes it live
 * once DNS shows, through the institution's CNAMEs, the token's key;
 * demote (and dns-watch, after its grace period) makes it pending again.
 *
 * The state is the onboarding line of the institution's state file
 * (rotation_state.h), written atomically and recorded in the ceremony
 * log like every other step; the daemon reads it at start and reload.
 */
#include <stdio.h>
#include <string.h>

#include "p11dkim/dns_record.h"
#include "p11dkim/rotation_state.h"
#include "keys.h"

#define NAME_LEN	512

/*
 * keys_state_save - the new state rs, then its log record; when the log
 * will not take the record, the old state is put back, so nothing changed
 */
int
keys_state_save(struct keys_run *r, const struct rotation_state *old,
    const struct rotation_state *rs, const char *action, const char *sel,
    const char *fpr)
{
	char	 err[KEYS_WHY_MAX], lerr[KEYS_WHY_MAX];

	keys_fault(r, "state");
	if (rotation_state_save(r->conf, r->inst, rs, err, sizeof(err)) < 0)
		return keys_fail(EX_IOERR, "%s", err);
	if (keys_log_err(r, action, sel, fpr, "ok", lerr, sizeof(lerr)) == 0)
		return EX_OK;
	if (rotation_state_save(r->conf, r->inst, old, err, sizeof(err)) < 0)
		return keys_fail(EX_IOERR, "%s; and the old rotation state "
		    "could not be put back (%s): the state file says step "
		    "'%s' (%s), unlogged", lerr, err,
		    rotation_step_name(rs->step),
		    onboard_state_name(rs->onboard));
	return keys_fail(EX_IOERR, "%s; the rotation state was put back: "
	    "step '%s' as before (%s)", lerr, rotation_step_name(old->step),
	    onboard_state_name(old->onboard));
}

/* keys_onboard_set - move the institution to state o (logged as action) */
int
keys_onboard_set(struct keys_run *r, const struct rotation_state *old,
    int o, const char *action)
{
	struct rotation_state rs = *old;

	rs.onboard = (enum onboard_state)o;
	if (o == ONBOARD_LIVE) {
		rs.drift_since = 0;
		rs.drift_reason[0] = '\0';
	}
	return keys_state_save(r, old, &rs, action, rs.active, "");
}

/*
 * keys_onboard_new - a new institution (no state file yet) starts
 * pending; the caller checked with keys_ready(r, 1) that it can be saved
 */
int
keys_onboard_new(struct keys_run *r, const struct rotation_state *old)
{
	int	 st;

	if (old->from_file)
		return EX_OK;
	if ((st = keys_onboard_set(r, old, ONBOARD_PENDING,
	    "onboard-pending")) != EX_OK)
		return st;
	printf("%s is pending: the daemon signs for it once its DNS is "
	    "confirmed (p11dkim-keys check-dns %s --promote)\n", r->inst->code,
	    r->inst->code);
	return EX_OK;
}

/* cnames_blocker - the first CNAME of the institution not in place */
static int
cnames_blocker(struct keys_run *r, const struct dns_zone *zone, char *why,
    size_t len)
{
	char	 owner[NAME_LEN], target[NAME_LEN];
	const char *cs;

	for (size_t k = 0; k < conf_kinds(r->inst); k++)
		for (size_t i = 0; i < CONF_SELECTORS; i++) {
			cs = keys_cnames_ok(r, i, k, zone, owner,
			    sizeof(owner), target, sizeof(target));
			if (strcmp(cs, "ok") != 0)
				return snprintf(why, len, "CNAME %.253s: %s (it "
				    "must point at %.253s)", owner, cs, target), 1;
		}
	return 0;
}

/*
 * promote_blocker - the first record that keeps the institution from
 * going live: every CNAME of both selectors (rotations then need no
 * change on the institution's side) and, for the active selector, the
 * key record, which must hold the token's key.  0 when none; 1 with why.
 */
static int
promote_blocker(struct keys_run *r, const struct rotation_state *rs,
    const struct dns_zone *zone, char *why, size_t len)
{
	char	 name[NAME_LEN], detail[KEYS_WHY_MAX];
	int	 act = conf_selector_index(r->inst, rs->active), got;

	if (cnames_blocker(r, zone, why, len))
		return 1;
	for (size_t k = 0; k < conf_kinds(r->inst); k++) {
		conf_record_name(r->conf, r->inst, (size_t)act, k, name,
		    sizeof(name));
		if (keys_pub_key(r, (size_t)act, k) == NULL)
			return snprintf(why, len, "TXT %.253s: the token has no key "
			    "for the active selector %s", name,
			    conf_selector_name(r->inst, (size_t)act, k)), 1;
		got = keys_check_selector(r, (size_t)act, k, zone, detail,
		    sizeof(detail));
		if (got != DNS_MATCH)
			return snprintf(why, len, "TXT %.253s: %s%s%.400s", name, got <
			    0 ? "lookup failed" : dns_check_name((enum
			    dns_check)got), detail[0] ? ": " : "", detail), 1;
	}
	return 0;
}

/* keys_promote - check-dns --promote: live when DNS shows the key */
int
keys_promote(struct keys_run *r, const struct dns_zone *zone)
{
	struct rotation_state rs;
	char	 err[KEYS_WHY_MAX], why[2 * KEYS_WHY_MAX];
	int	 st;

	if (rotation_state_load(r->conf, r->inst, &rs, err, sizeof(err)) < 0)
		return keys_fail(EX_CONFIG, "%s", err);
	if (promote_blocker(r, &rs, zone, why, sizeof(why)))
		return keys_fail(EX_CHECK_FAILED, "refusing to promote %s: %s",
		    r->inst->code, why);
	if (rs.onboard == ONBOARD_LIVE) {
		printf("%s is live already\n", r->inst->code);
		return EX_OK;
	}
	if ((st = keys_ready(r, 1)) != EX_OK ||
	    (st = keys_onboard_set(r, &rs, ONBOARD_LIVE, "promote")) != EX_OK)
		return st;
	printf("%s is live; reload the daemon (systemctl reload p11dkimd) for "
	    "it to sign\n", r->inst->code);
	return EX_OK;
}

/* cmd_demote - p11dkim-keys demote INST */
int
cmd_demote(struct keys_run *r, int argc, char **argv)
{
	struct rotation_state rs;
	char	 err[KEYS_WHY_MAX];
	int	 st;

	if (argc != 2)
		return keys_fail(EX_USAGE, "usage: demote INST");
	if ((st = keys_institution(r, argv[1])) != EX_OK)
		return st;
	if (rotation_state_load(r->conf, r->inst, &rs, err, sizeof(err)) < 0)
		return keys_fail(EX_CONFIG, "%s", err);
	if (rs.onboard == ONBOARD_PENDING) {
		printf("%s is pending already\n", r->inst->code);
		return EX_OK;
	}
	if ((st = keys_ready(r, 1)) != EX_OK ||
	    (st = keys_onboard_set(r, &rs, ONBOARD_PENDING, "demote")) !=
	    EX_OK)
		return st;
	printf("%s is pending; reload the daemon (systemctl reload p11dkimd) "
	    "for it to stop signing\n", r->inst->code);
	return EX_OK;
}
