/*
 * cmd_token_info.c - p11dkim-keys token-info: what an institution's
 * token says it is and can do (flags, sessions, PIN rules, the
 * mechanisms p11dkim uses), and whether it can generate and sign with
 * the institution's keys.  Read-only; no PIN is needed.
 */
#include <string.h>

#include "p11dkim/token_caps.h"
#include "keys.h"

#define FLAGS_TEXT_MAX	512

/* A key the institution needs: its type name and what it takes. */
struct need {
	const char *type_name;
	enum p11_key_type type;
	unsigned bits;
};

/* count_text - a session count: a number, "unlimited" or "not reported" */
static const char *
count_text(CK_ULONG v, int is_max, char *buf, size_t len)
{
	if (v == CK_UNAVAILABLE_INFORMATION)
		return "not reported";
	if (is_max && v == CK_EFFECTIVELY_INFINITE)
		return "unlimited";
	snprintf(buf, len, "%lu", (unsigned long)v);
	return buf;
}

/* count_json - the same as a JSON value: a number, "unlimited" or null */
static void
count_json(const char *key, CK_ULONG v, int is_max, int last)
{
	printf("\"%s\":", key);
	if (v == CK_UNAVAILABLE_INFORMATION)
		printf("null");
	else if (is_max && v == CK_EFFECTIVELY_INFINITE)
		printf("\"unlimited\"");
	else
		printf("%lu", (unsigned long)v);
	printf("%s", last ? "" : ",");
}

/* json_words - a space-separated list as a JSON array of strings */
static void
json_words(const char *text)
{
	char	 word[64];
	size_t	 n;
	int	 first = 1;

	printf("[");
	while (*text != '\0') {
		n = strcspn(text, " ");
		snprintf(word, sizeof(word), "%.*s", (int)n, text);
		printf("%s", first ? "" : ",");
		json_string(stdout, word);
		first = 0;
		text += n + (text[n] == ' ');
	}
	printf("]");
}

/* needs - the keys the institution needs (its own, and the dual one) */
static size_t
needs(const struct conf_institution *inst, struct need out[2])
{
	size_t	 n = 0;

	out[n].type_name = inst->key_type;
	if (keys_parse_type(inst->key_type, &out[n].type, &out[n].bits) == 0)
		n++;
	if (inst->dual_sign)
		out[n++] = (struct need){ "ed25519", P11_KEY_ED25519, 0 };
	return n;
}

/* print_mech_text - one mechanism as a table row */
static void
print_mech_text(const struct p11_mech_caps *c)
{
	char	 buf[32], rv[32], flags[FLAGS_TEXT_MAX];
	const char *name = p11_mech_name(c->mech, buf, sizeof(buf));

	if (!c->supported) {
		printf("  %-28s no   (%s)\n", name, p11_rv_name(c->rv, rv,
		    sizeof(rv)));
		return;
	}
	(void)p11_flags_text(P11_FLAGS_MECHANISM, c->flags, flags,
	    sizeof(flags));
	printf("  %-28s yes  %lu-%lu bits  %s\n", name,
	    (unsigned long)c->min_bits, (unsigned long)c->max_bits, flags);
}

/* print_text - the token and its mechanisms, for people */
static void
print_text(struct keys_run *r, const struct p11_token_info *ti,
    const struct p11_token_caps *c)
{
	const CK_TOKEN_INFO *i = &c->info;
	char	 a[32], b[32], d[32], e[32], f[FLAGS_TEXT_MAX];

	printf("token '%s' (serial %s, slot %lu) in %s\n", ti->label,
	    ti->serial, (unsigned long)c->slot, p11_module_path(r->mod));
	printf("  manufacturer  %s\n", ti->manufacturer);
	printf("  model         %s (hardware %u.%u, firmware %u.%u)\n",
	    ti->model, i->hardwareVersion.major, i->hardwareVersion.minor,
	    i->firmwareVersion.major, i->firmwareVersion.minor);
	(void)p11_flags_text(P11_FLAGS_TOKEN, i->flags, f, sizeof(f));
	printf("  flags         %s\n", f);
	printf("  sessions      open %s, at most %s; read-write open %s, at "
	    "most %s\n", count_text(i->ulSessionCount, 0, a, sizeof(a)),
	    count_text(i->ulMaxSessionCount, 1, b, sizeof(b)),
	    count_text(i->ulRwSessionCount, 0, d, sizeof(d)),
	    count_text(i->ulMaxRwSessionCount, 1, e, sizeof(e)));
	(void)p11_flags_text(P11_FLAGS_PIN, i->flags, f, sizeof(f));
	printf("  PIN           %lu to %lu characters; %s\n",
	    (unsigned long)i->ulMinPinLen, (unsigned long)i->ulMaxPinLen,
	    f[0] ? f : "no PIN flags");
	printf("mechanisms\n");
	for (size_t k = 0; k < P11_CAPS_MECHS; k++)
		print_mech_text(&c->mechs[k]);
}

/* print_mech_json - one mechanism as a JSON object */
static void
print_mech_json(const struct p11_mech_caps *c, int first)
{
	char	 buf[32], rv[32], flags[FLAGS_TEXT_MAX];
	const char *name = p11_mech_name(c->mech, buf, sizeof(buf));

	printf("%s{\"name\":\"%s\",\"supported\":%s", first ? "" : ",", name,
	    c->supported ? "true" : "false");
	if (!c->supported) {
		printf(",\"rv\":\"%s\"}", p11_rv_name(c->rv, rv, sizeof(rv)));
		return;
	}
	(void)p11_flags_text(P11_FLAGS_MECHANISM, c->flags, flags,
	    sizeof(flags));
	printf(",\"min_bits\":%lu,\"max_bits\":%lu,\"flags\":",
	    (unsigned long)c->min_bits, (unsigned long)c->max_bits);
	json_words(flags);
	printf("}");
}

/* json_field - "key":"value", */
static void
json_field(const char *key, const char *value)
{
	printf("\"%s\":", key);
	json_string(stdout, value);
	printf(",");
}

/* print_json - the same as one JSON object, without its closing brace */
static void
print_json(struct keys_run *r, const struct p11_token_info *ti,
    const struct p11_token_caps *c)
{
	const CK_TOKEN_INFO *i = &c->info;
	char	 f[FLAGS_TEXT_MAX];

	printf("{\"institution\":");
	json_string(stdout, r->inst->code);
	printf(",\"module\":");
	json_string(stdout, p11_module_path(r->mod));
	printf(",\"slot\":%lu,", (unsigned long)c->slot);
	json_field("label", ti->label);
	json_field("serial", ti->serial);
	json_field("manufacturer", ti->manufacturer);
	json_field("model", ti->model);
	(void)p11_flags_text(P11_FLAGS_TOKEN, i->flags, f, sizeof(f));
	printf("\"flags\":");
	json_words(f);
	printf(",\"sessions\":{");
	count_json("max", i->ulMaxSessionCount, 1, 0);
	count_json("open", i->ulSessionCount, 0, 0);
	count_json("rw_max", i->ulMaxRwSessionCount, 1, 0);
	count_json("rw_open", i->ulRwSessionCount, 0, 1);
	(void)p11_flags_text(P11_FLAGS_PIN, i->flags, f, sizeof(f));
	printf("},\"pin\":{\"min_length\":%lu,\"max_length\":%lu,\"flags\":",
	    (unsigned long)i->ulMinPinLen, (unsigned long)i->ulMaxPinLen);
	json_words(f);
	printf("},\"mechanisms\":[");
	for (size_t k = 0; k < P11_CAPS_MECHS; k++)
		print_mech_json(&c->mechs[k], k == 0);
	printf("]");
}

/*
 * verdicts - can the token make and use each key: 1 when it can all, 0,
 * or -1 when it could not be asked (reported, status in *st)
 */
static int
verdicts(struct keys_run *r, CK_SLOT_ID slot, int *st)
{
	struct need n[2];
	struct p11_err err;
	size_t	 count = needs(r->inst, n);
	int	 all = 1, can;

	printf(r->json ? ",\"keys\":[" : "");
	for (size_t k = 0; k < count; k++) {
		can = p11_token_can(r->mod, slot, n[k].type, n[k].bits,
		    P11_CAN_GENERATE | P11_CAN_SIGN, &err);
		if (can < 0) {
			*st = keys_fail(keys_status_of(&err), "%s", err.msg);
			return -1;
		}
		all = all && can;
		if (!r->json) {
			printf("%s %s: %s\n", r->inst->code, n[k].type_name,
			    can ? "the token can generate and sign with this "
			    "key" : err.msg);
			continue;
		}
		printf("%s{\"type\":\"%s\",\"can\":%s,\"why\":", k ? "," : "",
		    n[k].type_name, can ? "true" : "false");
		json_string(stdout, can ? "" : err.msg);
		printf("}");
	}
	printf(r->json ? "]}\n" : "");
	return all;
}

/* cmd_token_info - p11dkim-keys token-info INST */
int
cmd_token_info(struct keys_run *r, int argc, char **argv)
{
	struct p11_token_info ti;
	struct p11_token_caps caps;
	struct p11_err err;
	int	 st, all;

	if (argc != 2)
		return keys_fail(EX_USAGE, "usage: token-info INST");
	if ((st = keys_institution(r, argv[1])) != EX_OK ||
	    (st = keys_module(r)) != EX_OK)
		return st;
	if (p11_module_find_token(r->mod, r->inst->token_label,
	    r->inst->token_serial, &ti, &err) < 0 ||
	    p11_token_caps(r->mod, ti.slot, &caps, &err) < 0)
		return keys_fail(keys_status_of(&err), "%s", err.msg);
	if (r->json)
		print_json(r, &ti, &caps);
	else
		print_text(r, &ti, &caps);
	if ((all = verdicts(r, ti.slot, &st)) < 0)
		return st;
	return all ? EX_OK : EX_CHECK_FAILED;
}
