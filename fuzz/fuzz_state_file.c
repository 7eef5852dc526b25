/*
 * fuzz_state_file.c - libFuzzer target for the parser of an
 * institution's state file, <state-dir>/<code>.state
 * (conf/rotation_state.c), which p11dkimd reads at every start and
 * reload and p11dkim-keys at every ceremony.
 *
 * Any input is a candidate file for an institution with the selectors
 * stxsel1 and stxsel2.  The parser must not crash or read out of bounds;
 * a state it accepts must name only the institution's selectors, and
 * the text the writer makes of it must parse back to the same state.  A
 * violation aborts.
 *
 *   make -C fuzz && fuzz/build/fuzz_state_file fuzz/corpus/fuzz_state_file
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p11dkim/rotation_state.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* own_selector - "" or one of the institution's */
static int
own_selector(const struct conf_institution *i, const char *s)
{
	return s[0] == '\0' || strcmp(s, i->selectors[0]) == 0 ||
	    strcmp(s, i->selectors[1]) == 0;
}

/* same - two states alike in every field the file holds */
static int
same(const struct rotation_state *a, const struct rotation_state *b)
{
	return strcmp(a->active, b->active) == 0 && a->step == b->step &&
	    strcmp(a->target, b->target) == 0 &&
	    strcmp(a->retiring, b->retiring) == 0 &&
	    a->activated_at == b->activated_at && a->onboard == b->onboard &&
	    a->drift_since == b->drift_since &&
	    (a->drift_since == 0 || strcmp(a->drift_reason[0] ?
	    a->drift_reason : "unknown", b->drift_reason) == 0);
}

/* LLVMFuzzerTestOneInput - parse; if accepted, write and parse again */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char sel1[] = "stxsel1", sel2[] = "stxsel2", code[] = "mosa";
	struct conf_institution inst;
	struct rotation_state st, again;
	char	 text[4096];
	unsigned bad;
	int	 n;

	memset(&inst, 0, sizeof(inst));
	inst.code = code;
	inst.selectors[0] = sel1;
	inst.selectors[1] = sel2;
	inst.active_selector = sel1;
	if (rotation_state_parse(&inst, (const char *)data, size, &st,
	    &bad) < 0) {
		if (bad == 0)
			abort();	/* a refusal names its line */
		return 0;
	}
	if (!own_selector(&inst, st.active) || !own_selector(&inst,
	    st.target) || !own_selector(&inst, st.retiring))
		abort();
	if ((n = rotation_state_format(&inst, &st, text, sizeof(text))) < 0)
		abort();		/* an accepted state always fits */
	if (rotation_state_parse(&inst, text, (size_t)n, &again, &bad) < 0 ||
	    !same(&st, &again))
		abort();		/* what save writes, load reads back */
	return 0;
}
