/*
 * rotation_state.h - where an institution's key rotation stands, and so
 * which selector signs.  Kept in <state-dir>/<code>.state, written by
 * p11dkim-keys (atomically: a new file renamed over the old), read by
 * p11dkimd.  Without a state file the configuration's active-selector
 * signs and no rotation is under way.
 *
 * The steps, in order (p11dkim-keys rotate):
 *   idle -> generated -> published -> verified -> activated -> revoked -> idle
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

struct rotation_state {
	char	 active[ROT_NAME_MAX];	/* the selector that signs */
	enum rotation_step step;
	char	 target[ROT_NAME_MAX];	/* the selector rotated to */
	char	 retiring[ROT_NAME_MAX];/* the selector rotated from */
	long long activated_at;		/* when target became active */
};

/* rotation_state_load - the state, or the configuration's when no file */
int	rotation_state_load(const struct conf *, const struct conf_institution *,
	    struct rotation_state *, char *err, size_t errlen);

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

/* rotation_step_name - "idle", "generated", ... */
const char *rotation_step_name(enum rotation_step);

#endif
