/*
 * p11fault.h - internals of the fault-injection PKCS#11 module (see
 * README.md beside this file): the rules read from P11FAULT and from the
 * control file, the faults applied around each call, the slot and token
 * a call concerns, and the counters.  Private to tests/p11fault/.
 *
 * Thread safety: rule sets are immutable once published and reference
 * counted, so a call keeps the set it started with while the control
 * file is re-read; counters are atomic; session counts and the label
 * cache have their own locks.
 */
#ifndef P11FAULT_H
#define P11FAULT_H

#include <stdatomic.h>
#include <stddef.h>

#include <p11-kit/pkcs11.h>

#include "p11fault_fn.h"

#define FN_ENUM(name, how, own, key, params, args)	FN_##name,
enum { P11FAULT_FUNCTIONS(FN_ENUM) FN_COUNT };
#undef FN_ENUM

#define FN_ANY		(-1)	/* a rule for "*": every function */
#define RULES_MAX	64
#define LABEL_MAX	32	/* CK_TOKEN_INFO.label */
#define WHY_MAX		256

enum fn_how { HOW_NONE, HOW_SLOT, HOW_SESSION };

/* fn_name - "C_Sign" */
const char *fn_name(int fn);

/* fn_how - how the slot of a call is found */
enum fn_how fn_how(int fn);

/* fn_lookup - the number of a function name, or -1 */
int	fn_lookup(const char *name);

/* The real module's function list (wrap.c); NULL until loaded. */
extern CK_FUNCTION_LIST *p11fault_real;

/* --- rules (rules.c) --------------------------------------------------- */

enum fault_kind { FAULT_DELAY, FAULT_ERROR, FAULT_CORRUPT, FAULT_HANG,
	FAULT_SESSIONS };

struct rule {
	enum fault_kind kind;
	int	 fn;			/* a function number, or FN_ANY */
	int	 line;
	unsigned long delay_ms, jitter_ms;
	CK_RV	 error;
	double	 p;			/* probability; 1 when not given */
	unsigned long every;		/* every Nth matching call; 0: not given */
	unsigned long max;		/* sessions per slot */
	int	 by_slot;
	CK_SLOT_ID slot;
	char	 label[LABEL_MAX + 1];	/* "" when not given */
	atomic_ulong seen;		/* matching calls so far, for every= */
};

struct ruleset {
	atomic_int refs;
	size_t	 n;
	struct rule rule[RULES_MAX];
	unsigned char concerns[FN_COUNT]; /* some rule applies to the function */
	int	 sessions;		/* some rule limits sessions */
};

/* ruleset_new - an empty set, one reference; NULL when out of memory */
struct ruleset *ruleset_new(void);

/*
 * ruleset_parse - add the rules of a control text to a set.  Every bad
 * line is reported on stderr as "p11fault: ORIGIN:LINE: why"; the first
 * one is also copied to why.  Returns 0, or -1 when a line was bad.
 */
int	ruleset_parse(struct ruleset *, const char *text, const char *origin,
	    char *why, size_t whylen);

/* ruleset_hold - one more reference */
struct ruleset *ruleset_hold(struct ruleset *);

/* ruleset_put - drop a reference; the last one frees; NULL-safe */
void	ruleset_put(struct ruleset *);

/* --- the control: P11FAULT, P11FAULT_CONTROL (control.c) -------------- */

/* control_start - read P11FAULT and the control file; -1 when bad */
int	control_start(void);

/* control_tick - re-read the control file when it changed (rate-limited) */
void	control_tick(void);

/* control_rules - the rules in force, held: ruleset_put() when done */
struct ruleset *control_rules(void);

/* control_wait - a hung call waits for a change; -1 once finalizing */
int	control_wait(void);

/* control_stop - C_Finalize: release hung calls, write the counters, drop the rules */
void	control_stop(void);

/* --- counters (stats.c) ------------------------------------------------ */

enum stat_kind { ST_CALLS, ST_ERRORS, ST_CORRUPTED, ST_DELAYED, ST_DELAY_MS,
	ST_HUNG, ST_HANGING, ST_REFUSED, ST_COUNT };

/* stats_add - count n events of a kind on a function (n < 0 for gauges) */
void	stats_add(int fn, enum stat_kind, long n);

/* stats_control - count a control text read or rejected, and why */
void	stats_control(int rejected, const char *why);

/* stats_changed - whether a count moved since the last stats_write */
int	stats_changed(void);

/* stats_write - the counters to path ("-": stderr); -1 when it failed */
int	stats_write(const char *path);

/* --- what a call concerns (target.c) ----------------------------------- */

struct fault_call {
	int	 fn;
	CK_ULONG key;			/* its slot or session argument */
	struct ruleset *rs;		/* held from begin to end */
	int	 slot_known;		/* 0: not looked up, 1: found, -1: none */
	CK_SLOT_ID slot;
	int	 label_known;
	char	 label[LABEL_MAX + 1];
	int	 injected;		/* an error rule fired */
};

/* target_slot - the slot of a call; -1 when it has none */
int	target_slot(struct fault_call *, CK_SLOT_ID *);

/* target_matches - whether a rule's slot= and label= fit the call */
int	target_matches(struct fault_call *, const struct rule *);

/* target_forget - drop the cached token labels (tokens changed) */
void	target_forget(void);

/* sessions_admit - count a session about to open; CKR_SESSION_COUNT
 * when a sessions rule's limit is reached */
CK_RV	sessions_admit(struct fault_call *);

/* sessions_closed - one session of the slot closed (or, admitted, did
 * not open) */
void	sessions_closed(CK_SLOT_ID);

/* sessions_all_closed - C_CloseAllSessions on the slot */
void	sessions_all_closed(CK_SLOT_ID);

/* sessions_reset - C_Finalize: no session is open */
void	sessions_reset(void);

/* --- faults around a call (inject.c) ----------------------------------- */

/*
 * fault_begin - count the call, hang and delay it as the rules say, and
 * decide an injected error.  Returns 1 with *rv set when the call must
 * not go through; then fault_end is still called.
 */
int	fault_begin(struct fault_call *, int fn, CK_ULONG key, CK_RV *rv);

/* fault_end - release what fault_begin held; returns rv */
CK_RV	fault_end(struct fault_call *, CK_RV rv);

/* fault_corrupt - flip a byte of a signature when a corrupt rule fires */
void	fault_corrupt(struct fault_call *, CK_BYTE_PTR sig, CK_ULONG len);

#endif
