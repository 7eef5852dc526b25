/*
 * rules.c - the control text of the fault-injection module: one rule a
 * line (or between semicolons), "#" starts a comment.  The format is
 * documented in README.md beside this file:
 *
 *   FUNCTION delay=MS [jitter=MS] [p=P | every=N] [slot=ID] [label=L]
 *   FUNCTION error=CKR [p=P | every=N] [slot=ID] [label=L]
 *   C_Sign|C_SignFinal corrupt [p=P | every=N] [slot=ID] [label=L]
 *   FUNCTION hang [slot=ID] [label=L]
 *   sessions max=N [slot=ID] [label=L]
 *
 * FUNCTION is a PKCS#11 function name or "*".  Parsing is strict: an
 * unknown word, a repeated or misplaced option, a number out of range are
 * errors, and a text with one bad line is refused as a whole.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11dkim/p11_err.h"
#include "p11fault.h"

#define WORDS_MAX	12
#define WORD_MAX	96
#define MS_MAX		600000UL	/* ten minutes */
#define COUNT_MAX	1000000000UL
#define CKR_SCAN_END	0x400		/* past the highest standard CKR_ */

/* Options a rule line may carry, as bits, to refuse repeats. */
enum {
	OPT_DELAY = 1 << 0, OPT_JITTER = 1 << 1, OPT_ERROR = 1 << 2,
	OPT_P = 1 << 3, OPT_EVERY = 1 << 4, OPT_SLOT = 1 << 5,
	OPT_LABEL = 1 << 6, OPT_MAX = 1 << 7, OPT_CORRUPT = 1 << 8,
	OPT_HANG = 1 << 9
};

#define OPT_TARGET	(OPT_SLOT | OPT_LABEL)
#define OPT_CHANCE	(OPT_P | OPT_EVERY)

struct parse {
	const char *origin;
	int	 line;
	char	*why;
	size_t	 whylen;
	int	 bad;
};

/* bad - report one bad line; returns -1 */
static int __attribute__((format(printf, 2, 3)))
bad(struct parse *ps, const char *fmt, ...)
{
	char	 msg[WHY_MAX];
	va_list	 ap;

	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	fprintf(stderr, "p11fault: %s:%d: %s\n", ps->origin, ps->line, msg);
	if (ps->bad++ == 0 && ps->why != NULL && ps->whylen > 0)
		snprintf(ps->why, ps->whylen, "%s:%d: %s", ps->origin,
		    ps->line, msg);
	return -1;
}

/* parse_ulong - a whole decimal or 0x number in [0, max] */
static int
parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	char	*end;

	if (*s < '0' || *s > '9')
		return -1;
	*out = strtoul(s, &end, 0);
	return *end == '\0' && *out <= max ? 0 : -1;
}

/* parse_prob - a probability in (0, 1] */
static int
parse_prob(const char *s, double *out)
{
	char	*end;

	if (*s == '\0')
		return -1;
	*out = strtod(s, &end);
	return *end == '\0' && isfinite(*out) && *out > 0 && *out <= 1 ? 0 : -1;
}

/* parse_ckr - a CKR_ name known to the project (pkcs11/p11_err.c), or a
 * number: "CKR_DEVICE_ERROR", "0x30", "CKR_0x00000030" */
static int
parse_ckr(const char *s, CK_RV *out)
{
	char	 buf[32];
	unsigned long v;

	if (strncmp(s, "CKR_0x", 6) == 0)
		s += 4;
	if (parse_ulong(s, 0xffffffffUL, &v) == 0) {
		*out = v;
		return 0;
	}
	for (v = 0; v < CKR_SCAN_END; v++) {
		if (strcmp(p11_rv_name(v, buf, sizeof(buf)), s) == 0) {
			*out = v;
			return 0;
		}
	}
	return -1;
}

/* split_words - a line into words; "..." quotes a value with spaces */
static int
split_words(struct parse *ps, char *s, char **w, int *n)
{
	*n = 0;
	for (;;) {
		char	*out;

		while (*s == ' ' || *s == '\t' || *s == '\r')
			s++;
		if (*s == '\0')
			return 0;
		if (*n == WORDS_MAX)
			return bad(ps, "more than %d words", WORDS_MAX);
		w[(*n)++] = out = s;
		while (*s != '\0' && *s != ' ' && *s != '\t' && *s != '\r') {
			if (*s == '"') {
				char	*q = strchr(s + 1, '"');

				if (q == NULL)
					return bad(ps, "unterminated quote");
				memmove(out, s + 1, (size_t)(q - s - 1));
				out += q - s - 1;
				s = q + 1;
			} else
				*out++ = *s++;
		}
		if (*s != '\0')
			s++;
		*out = '\0';
	}
}

/* parse_target - slot=ID or label=TEXT into the rule */
static int
parse_target(struct parse *ps, struct rule *r, const char *key,
    const char *val)
{
	unsigned long v;

	if (strcmp(key, "slot") == 0) {
		if (parse_ulong(val, (CK_SLOT_ID)-1, &v) == -1)
			return bad(ps, "slot=%s: not a slot number", val);
		r->by_slot = 1;
		r->slot = v;
		return 0;
	}
	if (strlen(val) == 0 || strlen(val) > LABEL_MAX)
		return bad(ps, "label=%s: 1 to %d bytes", val, LABEL_MAX);
	snprintf(r->label, sizeof(r->label), "%s", val);
	return 0;
}

/* parse_number_opt - delay=, jitter=, every=, max= into the rule */
static int
parse_number_opt(struct parse *ps, struct rule *r, const char *key,
    const char *val)
{
	unsigned long *to = &r->max, max = COUNT_MAX, min = 0;

	if (strcmp(key, "delay") == 0 || strcmp(key, "jitter") == 0) {
		to = key[0] == 'd' ? &r->delay_ms : &r->jitter_ms;
		max = MS_MAX;
	} else if (strcmp(key, "every") == 0) {
		to = &r->every;
		min = 1;
	}
	if (parse_ulong(val, max, to) == -1 || *to < min)
		return bad(ps, "%s=%s: a number from %lu to %lu", key, val, min,
		    max);
	return 0;
}

/* option_bit - the bit of an option word, 0 when unknown */
static int
option_bit(const char *key, int has_value)
{
	static const struct { const char *key; int bit, value; } opts[] = {
		{ "delay", OPT_DELAY, 1 }, { "jitter", OPT_JITTER, 1 },
		{ "error", OPT_ERROR, 1 }, { "p", OPT_P, 1 },
		{ "every", OPT_EVERY, 1 }, { "slot", OPT_SLOT, 1 },
		{ "label", OPT_LABEL, 1 }, { "max", OPT_MAX, 1 },
		{ "corrupt", OPT_CORRUPT, 0 }, { "hang", OPT_HANG, 0 },
	};

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (strcmp(opts[i].key, key) == 0 && opts[i].value == has_value)
			return opts[i].bit;
	return 0;
}

/* parse_option - one word after the function name */
static int
parse_option(struct parse *ps, struct rule *r, char *word, int *seen)
{
	char	*val = strchr(word, '=');
	int	 bit;

	if (val != NULL)
		*val++ = '\0';
	if ((bit = option_bit(word, val != NULL)) == 0)
		return bad(ps, "unknown word '%s%s'", word, val ? "=" : "");
	if (*seen & bit)
		return bad(ps, "'%s' given twice", word);
	*seen |= bit;
	switch (bit) {
	case OPT_ERROR:
		if (parse_ckr(val, &r->error) == -1)
			return bad(ps, "error=%s: not a CKR_ name or number", val);
		if (r->error == CKR_OK)
			return bad(ps, "error=%s: CKR_OK is no fault", val);
		return 0;
	case OPT_P:
		if (parse_prob(val, &r->p) == -1)
			return bad(ps, "p=%s: a probability in (0, 1]", val);
		return 0;
	case OPT_SLOT:
	case OPT_LABEL:
		return parse_target(ps, r, word, val);
	case OPT_CORRUPT:
	case OPT_HANG:
		return 0;
	default:
		return parse_number_opt(ps, r, word, val);
	}
}

/* check_kind - the fault a rule names, and the options it allows */
static int
check_kind(struct parse *ps, struct rule *r, int seen)
{
	static const struct { int bit, allowed; enum fault_kind kind; } k[] = {
		{ OPT_DELAY, OPT_JITTER | OPT_CHANCE | OPT_TARGET, FAULT_DELAY },
		{ OPT_ERROR, OPT_CHANCE | OPT_TARGET, FAULT_ERROR },
		{ OPT_CORRUPT, OPT_CHANCE | OPT_TARGET, FAULT_CORRUPT },
		{ OPT_HANG, OPT_TARGET, FAULT_HANG },
	};
	size_t	 found = 0, n = 0;

	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		if (seen & k[i].bit) {
			found = i;
			n++;
		}
	if (n == 0)
		return bad(ps, "no fault: delay=, error=, corrupt or hang");
	if (n > 1)
		return bad(ps, "one fault a line: delay=, error=, corrupt or "
		    "hang");
	r->kind = k[found].kind;
	if (seen & ~(k[found].bit | k[found].allowed))
		return bad(ps, "an option that this fault does not take");
	if ((seen & OPT_CHANCE) == OPT_CHANCE)
		return bad(ps, "p= and every= together");
	return 0;
}

/* check_function - whether the rule's fault and target fit its function */
static int
check_function(struct parse *ps, const struct rule *r, int seen)
{
	if (r->fn == FN_C_GetFunctionList)
		return bad(ps, "C_GetFunctionList cannot be faulted");
	if (r->kind == FAULT_CORRUPT && r->fn != FN_C_Sign &&
	    r->fn != FN_C_SignFinal)
		return bad(ps, "corrupt is for C_Sign and C_SignFinal");
	if ((seen & OPT_TARGET) && r->fn != FN_ANY && fn_how(r->fn) == HOW_NONE)
		return bad(ps, "%s concerns no slot: slot= and label= do not "
		    "apply", fn_name(r->fn));
	return 0;
}

/* parse_rule - the words of one line into a rule */
static int
parse_rule(struct parse *ps, struct rule *r, char **w, int n)
{
	int	 seen = 0;

	r->p = 1;
	if (strcmp(w[0], "sessions") == 0) {
		r->kind = FAULT_SESSIONS;
		r->fn = FN_C_OpenSession;
	} else if (strcmp(w[0], "*") == 0)
		r->fn = FN_ANY;
	else if ((r->fn = fn_lookup(w[0])) == -1)
		return bad(ps, "unknown function '%s'", w[0]);
	for (int i = 1; i < n; i++)
		if (parse_option(ps, r, w[i], &seen) == -1)
			return -1;
	if (r->kind == FAULT_SESSIONS) {
		if ((seen & OPT_MAX) == 0 || (seen & ~(OPT_MAX | OPT_TARGET)))
			return bad(ps, "sessions takes max=N [slot=ID] "
			    "[label=L]");
		return 0;
	}
	if (seen & OPT_MAX)
		return bad(ps, "max= is for sessions");
	if (check_kind(ps, r, seen) == -1)
		return -1;
	return check_function(ps, r, seen);
}

/* add_line - parse one line (comment already cut) into the set */
static void
add_line(struct parse *ps, struct ruleset *rs, char *line)
{
	char	*w[WORDS_MAX];
	struct rule r;
	int	 n;

	if (split_words(ps, line, w, &n) == -1 || n == 0)
		return;
	memset(&r, 0, sizeof(r));
	r.line = ps->line;
	if (parse_rule(ps, &r, w, n) == -1)
		return;
	if (rs->n == RULES_MAX) {
		bad(ps, "more than %d rules", RULES_MAX);
		return;
	}
	rs->rule[rs->n] = r;
	atomic_init(&rs->rule[rs->n].seen, 0);
	rs->n++;
	if (r.kind == FAULT_SESSIONS)
		rs->sessions = 1;
	for (int f = 0; f < FN_COUNT; f++)
		if (r.fn == FN_ANY || r.fn == f)
			rs->concerns[f] = 1;
}

/* next_line - cut the text at the end of a line or rule, outside quotes;
 * a "#" that starts a word starts a comment.  Returns where to go on. */
static char *
next_line(char *s, int *newline)
{
	int	 quoted = 0;

	for (char *p = s; ; p++) {
		if (*p == '"')
			quoted = !quoted;
		if (*p == '\0' || *p == '\n' || (!quoted && *p == ';')) {
			*newline = *p == '\n';
			if (*p == '\0')
				return NULL;
			*p = '\0';
			return p + 1;
		}
		if (!quoted && *p == '#' && (p == s || p[-1] == ' ' ||
		    p[-1] == '\t')) {
			char	*eol = strchr(p, '\n');

			*p = '\0';
			*newline = eol != NULL;
			return eol != NULL ? eol + 1 : NULL;
		}
	}
}

/* ruleset_parse - add the rules of a control text to a set */
int
ruleset_parse(struct ruleset *rs, const char *text, const char *origin,
    char *why, size_t whylen)
{
	struct parse ps = { origin, 1, why, whylen, 0 };
	char	*copy, *s, *next;
	int	 newline;

	if ((copy = strdup(text)) == NULL)
		return bad(&ps, "out of memory");
	for (s = copy; s != NULL; s = next) {
		next = next_line(s, &newline);
		add_line(&ps, rs, s);
		if (newline)
			ps.line++;
	}
	free(copy);
	return ps.bad ? -1 : 0;
}

/* ruleset_new - an empty set, one reference */
struct ruleset *
ruleset_new(void)
{
	struct ruleset *rs = calloc(1, sizeof(*rs));

	if (rs != NULL)
		atomic_init(&rs->refs, 1);
	return rs;
}

/* ruleset_hold - one more reference */
struct ruleset *
ruleset_hold(struct ruleset *rs)
{
	atomic_fetch_add(&rs->refs, 1);
	return rs;
}

/* ruleset_put - drop a reference; the last one frees */
void
ruleset_put(struct ruleset *rs)
{
	if (rs != NULL && atomic_fetch_sub(&rs->refs, 1) == 1)
		free(rs);
}
