/*
 * target.c - what a call concerns, for rules with slot= or label=: the
 * slot (its argument, or the slot of its session as the real module's
 * C_GetSessionInfo tells), and the label of the token in it (the real
 * C_GetTokenInfo, cached until the tokens or the rules change).  Also the
 * open sessions per slot, counted through C_OpenSession, C_CloseSession
 * and C_CloseAllSessions, for the sessions max= rule.
 *
 * Only the real module is asked here, never the wrappers, so looking up
 * a target neither counts as a call nor meets a fault.
 */
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include "p11fault.h"

#define LABELS_MAX	64
#define SLOTS_MAX	256

static pthread_mutex_t label_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	CK_SLOT_ID slot;
	char	 label[LABEL_MAX + 1];
} labels[LABELS_MAX];
static size_t nlabels;

static pthread_mutex_t sess_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	CK_SLOT_ID slot;
	unsigned long open;
} sess[SLOTS_MAX];
static size_t nsess;

/* target_slot - the slot of a call; -1 when it has none */
int
target_slot(struct fault_call *c, CK_SLOT_ID *slot)
{
	CK_SESSION_INFO info;

	if (c->slot_known == 0) {
		c->slot_known = -1;
		if (fn_how(c->fn) == HOW_SLOT) {
			c->slot = c->key;
			c->slot_known = 1;
		} else if (fn_how(c->fn) == HOW_SESSION &&
		    p11fault_real->C_GetSessionInfo(c->key, &info) == CKR_OK) {
			c->slot = info.slotID;
			c->slot_known = 1;
		}
	}
	*slot = c->slot;
	return c->slot_known == 1 ? 0 : -1;
}

/* label_cached - the cached label of a slot into out; -1 when not cached */
static int
label_cached(CK_SLOT_ID slot, char *out)
{
	int	 rc = -1;

	pthread_mutex_lock(&label_mu);
	for (size_t i = 0; i < nlabels && rc == -1; i++) {
		if (labels[i].slot == slot) {
			memcpy(out, labels[i].label, LABEL_MAX + 1);
			rc = 0;
		}
	}
	pthread_mutex_unlock(&label_mu);
	return rc;
}

/* label_lookup - the label of the token in a slot, blanks cut; -1 when
 * the slot holds no token */
static int
label_lookup(CK_SLOT_ID slot, char *out)
{
	CK_TOKEN_INFO ti;
	size_t	 n = LABEL_MAX;

	if (label_cached(slot, out) == 0)
		return 0;
	if (p11fault_real->C_GetTokenInfo(slot, &ti) != CKR_OK)
		return -1;
	while (n > 0 && (ti.label[n - 1] == ' ' || ti.label[n - 1] == '\0'))
		n--;
	memcpy(out, ti.label, n);
	out[n] = '\0';
	pthread_mutex_lock(&label_mu);
	if (nlabels < LABELS_MAX) {
		labels[nlabels].slot = slot;
		memcpy(labels[nlabels].label, out, LABEL_MAX + 1);
		nlabels++;
	}
	pthread_mutex_unlock(&label_mu);
	return 0;
}

/* target_matches - whether a rule's slot= and label= fit the call */
int
target_matches(struct fault_call *c, const struct rule *r)
{
	CK_SLOT_ID slot;

	if (!r->by_slot && r->label[0] == '\0')
		return 1;
	if (target_slot(c, &slot) == -1 || (r->by_slot && slot != r->slot))
		return 0;
	if (r->label[0] == '\0')
		return 1;
	if (c->label_known == 0)
		c->label_known = label_lookup(slot, c->label) == 0 ? 1 : -1;
	return c->label_known == 1 && strcmp(c->label, r->label) == 0;
}

/* target_forget - drop the cached token labels */
void
target_forget(void)
{
	pthread_mutex_lock(&label_mu);
	nlabels = 0;
	pthread_mutex_unlock(&label_mu);
}

/* open_count - the counter of a slot, made when new (under sess_mu);
 * NULL when the table is full */
static unsigned long *
open_count(CK_SLOT_ID slot)
{
	for (size_t i = 0; i < nsess; i++)
		if (sess[i].slot == slot)
			return &sess[i].open;
	if (nsess == SLOTS_MAX)
		return NULL;
	sess[nsess].slot = slot;
	sess[nsess].open = 0;
	return &sess[nsess++].open;
}

/* session_limit - the lowest max= of the sessions rules for the call */
static unsigned long
session_limit(struct fault_call *c)
{
	unsigned long limit = ULONG_MAX;

	for (size_t i = 0; c->rs != NULL && c->rs->sessions && i < c->rs->n;
	    i++) {
		const struct rule *r = &c->rs->rule[i];

		if (r->kind == FAULT_SESSIONS && r->max < limit &&
		    target_matches(c, r))
			limit = r->max;
	}
	return limit;
}

/* sessions_admit - count a session about to open, or refuse it */
CK_RV
sessions_admit(struct fault_call *c)
{
	unsigned long limit = session_limit(c), *n;
	CK_RV	 rv = CKR_OK;

	pthread_mutex_lock(&sess_mu);
	if ((n = open_count(c->key)) != NULL && *n >= limit)
		rv = CKR_SESSION_COUNT;
	else if (n != NULL)
		(*n)++;
	pthread_mutex_unlock(&sess_mu);
	if (rv != CKR_OK)
		stats_add(c->fn, ST_REFUSED, 1);
	return rv;
}

/* sessions_closed - one session of the slot closed */
void
sessions_closed(CK_SLOT_ID slot)
{
	unsigned long *n;

	pthread_mutex_lock(&sess_mu);
	if ((n = open_count(slot)) != NULL && *n > 0)
		(*n)--;
	pthread_mutex_unlock(&sess_mu);
}

/* sessions_all_closed - C_CloseAllSessions on the slot */
void
sessions_all_closed(CK_SLOT_ID slot)
{
	unsigned long *n;

	pthread_mutex_lock(&sess_mu);
	if ((n = open_count(slot)) != NULL)
		*n = 0;
	pthread_mutex_unlock(&sess_mu);
}

/* sessions_reset - C_Finalize: no session is open */
void
sessions_reset(void)
{
	pthread_mutex_lock(&sess_mu);
	nsess = 0;
	pthread_mutex_unlock(&sess_mu);
}
