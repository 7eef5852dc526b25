/*
 * rotation_state.h - where an institution's key rotation stands, and so
 * which selector signs.  Kept in <state-dir>/<code>.state, written by
 * p11dkim-keys (atomically: a new file renamed over the old), read by
 * p11dkimd.  Without a state file the configuration's active-selector
 * signs and no rotation is under way.
 *
 * The steps, in order (p11dkim-keys rotate):
 *   idle -> generated -> published -> verified -> activated -> revoked -> idle
 *
 * The same file says whether the institution is live (its DNS was
 * confirmed: the daemon signs for it) or pending (keys made, the
 * institution's CNAMEs not yet confirmed: the daemon refuses unless
 * sign-pending is set).  A file without an onboarding line, and no file
 * at all, is live: institutions configured before the gate keep signing.
 * p11dkim-keys init-token and the first generate of a new institution
 * write pending; check-dns --promote writes live; demote and dns-watch
 * write pending.  dns-watch also records when it first saw the
 * institution's DNS drift (drift-since, drift-reason).
 */
#ifndef P11DKIM_ROTATION_STATE_H
#define P11DKIM_ROTATION_STATE_H

#include "p11dkim/conf.h"

enum rotation_step {
	ROT_IDLE = 0,		/* nothing under way */
	ROT_GENERATED,		/* a key on the standby selector */
	ROT_PUBLISHED,		/* its DNS record was printed */
	ROT_VERIFIED,		/* DNS shows it */
	ROT_ACTIVATED,		/* it signs; the old one is retiring */
	ROT_REVOKED		/* the old record was printed with p= empty */
};

#define ROT_NAME_MAX	64
#define ROT_REASON_MAX	32		/* a drift reason: "cname-missing" */

enum onboard_state {
	ONBOARD_LIVE = 0,	/* DNS confirmed (or configured before the gate) */
	ONBOARD_PENDING		/* keys made, DNS not confirmed */
};

struct rotation_state {
	char	 active[ROT_NAME_MAX];	/* the selector that signs */
	enum rotation_step step;
	char	 target[ROT_NAME_MAX];	/* the selector rotated to */
	char	 retiring[ROT_NAME_MAX];/* the selector rotated from */
	long long activated_at;		/* when target became active */
	enum onboard_state onboard;
	long long drift_since;		/* dns-watch first saw drift; 0: none */
	char	 drift_reason[ROT_REASON_MAX];	/* [a-z-]+, "" when none */
	int	 from_file;		/* load found a state file */
};

/* rotation_state_load - the state, or the configuration's when no file */
int	rotation_state_load(const struct conf *, const struct conf_institution *,
	    struct rotation_state *, char *err, size_t errlen);

/*
 * rotation_state_parse - a state file's text (len bytes) into st; -1
 * with the first bad line's number in *bad_line.  Lines are name=value;
 * an unknown name, a bad value, a selector that is not one of the
 * institution's, a NUL or a line of 512 bytes or more are refused.
 */
int	rotation_state_parse(const struct conf_institution *, const char *text,
	    size_t len, struct rotation_state *, unsigned *bad_line);

/*
 * rotation_state_format - the text save writes for st into text (len
 * bytes, NUL-terminated); its length, or -1 when it does not fit
 */
int	rotation_state_format(const struct conf_institution *,
	    const struct rotation_state *, char *text, size_t len);

/* rotation_state_save - write the state atomically */
int	rotation_state_save(const struct conf *, const struct conf_institution *,
	    const struct rotation_state *, char *err, size_t errlen);

/*
 * rotation_state_check_save - would a save work now?  (The temporary
 * file is created and removed.)  For a ceremony, before it touches the
 * token.
 */
int	rotation_state_check_save(const struct conf *,
	    const struct conf_institution *, char *err, size_t errlen);

/* onboard_state_name - "live" or "pending" */
const char *onboard_state_name(enum onboard_state);

/* rotation_step_name - "idle", "generated", ... */
const char *rotation_step_name(enum rotation_step);

#endif
