/*
 * cmd_keys.c - p11dkim-keys generate and destroy: the keys of an
 * institution's token, born there with the hardening the token takes
 * (cmd_audit.c lists and judges them).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "p11dkim/key_audit.h"
#include "p11dkim/keygen.h"
#include "p11dkim/rotation_state.h"
#include "p11dkim/token_caps.h"
#include "keys.h"

/* keys_parse_type - rsa2048 ... ed25519 into a type and size */
int
keys_parse_type(const char *s, enum p11_key_type *type, unsigned *bits)
{
	if (strcmp(s, "ed25519") == 0) {
		*type = P11_KEY_ED25519;
		*bits = 0;
		return 0;
	}
	*type = P11_KEY_RSA;
	if (strcmp(s, "rsa2048") == 0)
		*bits = 2048;
	else if (strcmp(s, "rsa3072") == 0)
		*bits = 3072;
	else if (strcmp(s, "rsa4096") == 0)
		*bits = 4096;
	else
		return -1;
	return 0;
}

/*
 * drops_text - the hardening attributes dropped and the token's answers,
 * for the ceremony log: "dropped CKA_COPYABLE (CKR_ATTRIBUTE_TYPE_INVALID),
 * ..."; answers as hex codes when the names would not fit in len.
 */
static int
drops_text(const struct keygen_result *res, int hex, char *out, size_t len)
{
	char	 name[32];
	size_t	 n = 0;
	int	 w;

	out[0] = '\0';
	for (int a = 0; a < KEYGEN_ATTRS; a++) {
		if (!(res->dropped & (1u << a)))
			continue;
		if (hex)
			snprintf(name, sizeof(name), "0x%lx",
			    (unsigned long)res->why[a]);
		w = snprintf(out + n, len - n, "%s%s (%s)", n ? ", " :
		    "dropped ", keygen_attr_name((enum keygen_attr)a), hex ?
		    name : p11_rv_name(res->why[a], name, sizeof(name)));
		if (w < 0 || (size_t)w >= len - n)
			return hex ? -1 : drops_text(res, 1, out, len);
		n += (size_t)w;
	}
	return 0;
}

/* print_drops - what the token refused, for the officer */
static void
print_drops(const struct keygen_result *res, enum p11_key_type type)
{
	char	 name[32];

	if (res->ec_params_printable)
		printf("the token took the curve only as \"edwards25519\", not "
		    "as its OID (%s)\n", p11_rv_name(res->ec_params_why, name,
		    sizeof(name)));
	if (res->dropped == 0) {
		printf("the token took the full template: every essential "
		    "and hardening attribute\n");
		return;
	}
	printf("hardening attributes the token refused, dropped from the "
	    "template:\n");
	for (int a = 0; a < KEYGEN_ATTRS; a++)
		if (res->dropped & (1u << a))
			printf("  %s = %s: %s%s\n",
			    keygen_attr_name((enum keygen_attr)a),
			    keygen_attr_wanted((enum keygen_attr)a, type),
			    p11_rv_name(res->why[a], name, sizeof(name)),
			    res->unsigned_keys & (1u << a) ? " (the key the "
			    "token made with it could not sign)" : "");
	if (res->module_reinit)
		printf("(the module held keys made while searching, which could "
		    "not sign: it was initialized again to destroy them)\n");
	printf("essential protections kept: CKA_TOKEN, CKA_PRIVATE, "
	    "CKA_SENSITIVE true, CKA_EXTRACTABLE false, CKA_SIGN true; %u "
	    "template(s) tried, %u key(s) made and destroyed again while "
	    "searching\n", res->attempts, res->probes);
}

/*
 * undo_generate - the log would not take the record of a key just made:
 * destroy the key again, so that the token is as it was.
 */
static int
undo_generate(struct keys_run *r, const char *label, const char *why)
{
	struct p11_err err;

	if (keygen_destroy(r->tok, label, &err) < 0)
		return keys_fail(EX_IOERR, "%s; the new key '%s' could not be "
		    "destroyed again (%s): it is on the token, unlogged", why,
		    label, err.msg);
	return keys_fail(EX_IOERR, "%s; the new key '%s' was destroyed "
	    "again: nothing changed on the token", why, label);
}

/* generate_one - one key of selector i (of a kind), logged and reported */
static int
generate_one(struct keys_run *r, size_t i, size_t kind,
    enum p11_key_type type, unsigned bits, const char *type_name,
    unsigned flags)
{
	const char *sel = conf_selector_name(r->inst, i, kind);
	struct keygen_result res;
	struct p11_err err;
	struct p11_key *k;
	char	 label[128], fpr[KEY_AUDIT_FPR_LEN + 1], result[400];
	char	 why[KEYS_WHY_MAX];

	conf_key_label(r->inst, i, kind, label, sizeof(label));
	keys_fault(r, "token");
	if (keygen_generate(r->tok, type, bits, label, flags, &res, &err) < 0) {
		snprintf(result, sizeof(result), "failed: %s", err.msg);
		(void)keys_log(r, "generate", sel, "", result);
		return keys_fail(keys_status_of(&err), "%s", err.msg);
	}
	if ((k = token_key(r->tok, label, &err)) == NULL ||
	    key_audit_fingerprint(p11_key_public(k), fpr) < 0) {
		snprintf(why, sizeof(why), "the new key cannot be read back: "
		    "%s", k == NULL ? err.msg : "no fingerprint");
		(void)keys_log(r, "generate", sel, "", "failed: the new key "
		    "cannot be read back");
		return undo_generate(r, label, why);
	}
	snprintf(result, sizeof(result), "ok");
	if (res.dropped != 0 && drops_text(&res, 0, result + 4,
	    sizeof(result) - 4) == 0)
		memcpy(result, "ok: ", 4);
	if (keys_log_err(r, "generate", sel, fpr, result, why,
	    sizeof(why)) < 0)
		return undo_generate(r, label, why);
	printf("generated %s key '%s' on token '%s' for selector %s\n"
	    "fingerprint (SHA-256 of the SubjectPublicKeyInfo): %s\n",
	    type_name, label, token_info(r->tok)->label, sel, fpr);
	print_drops(&res, type);
	if (keys_record_write(r, i, kind, p11_key_public(k), why,
	    sizeof(why)) < 0)
		return keys_fail(EX_IOERR, "%s: the key is made and logged, but "
		    "its public key record is not written: 'p11dkim-keys audit "
		    "%s --write-records' writes it", why, r->inst->code);
	return EX_OK;
}

/*
 * token_can - refuse, before the token is touched (no login, nothing
 * written to it), a key it cannot generate or sign with: no such
 * mechanism, or not that size.
 */
static int
token_can(struct keys_run *r, size_t i, size_t kind, enum p11_key_type type,
    unsigned bits, const char *type_name)
{
	struct p11_token_info ti;
	struct p11_err err;
	char	 result[400];
	int	 st, can;

	if ((st = keys_module(r)) != EX_OK)
		return st;
	if (r->tok != NULL)
		ti = *token_info(r->tok);
	else if (p11_module_find_token(r->mod, r->inst->token_label,
	    r->inst->token_serial, &ti, &err) < 0)
		return keys_fail(keys_status_of(&err), "%s", err.msg);
	can = p11_token_can(r->mod, ti.slot, type, bits, P11_CAN_GENERATE |
	    P11_CAN_SIGN, &err);
	if (can < 0)
		return keys_fail(keys_status_of(&err), "%s", err.msg);
	if (can)
		return EX_OK;
	snprintf(result, sizeof(result), "failed: token '%s' cannot make or "
	    "use a %s key: %s", ti.label, type_name, err.msg);
	(void)keys_log(r, "generate", conf_selector_name(r->inst, i, kind), "",
	    result);
	return keys_fail(EX_CONFIG, "%s needs a %s key, but token '%s' (slot "
	    "%lu) cannot have one: %s.  Nothing was done; see p11dkim-keys "
	    "token-info %s", r->inst->code, type_name, ti.label,
	    (unsigned long)ti.slot, err.msg, r->inst->code);
}

/* keys_have_key - 1 when selector i already has its key of this kind */
int
keys_have_key(struct keys_run *r, size_t i, size_t kind)
{
	struct p11_err err;
	char	 label[128];

	conf_key_label(r->inst, i, kind, label, sizeof(label));
	return keygen_label_exists(r->tok, label, &err) == 1;
}

/* check_type - a key type that fits the institution's algorithm */
static int
check_type(struct keys_run *r, const char *type_name,
    enum p11_key_type *type, unsigned *bits)
{
	if (keys_parse_type(type_name, type, bits) < 0)
		return keys_fail(EX_USAGE, "key type '%s': rsa2048, rsa3072, "
		    "rsa4096 or ed25519", type_name);
	if ((*type == P11_KEY_ED25519) != (r->inst->alg ==
	    DKIM_ALG_ED25519_SHA256))
		return keys_fail(EX_CONFIG, "%s signs with %s: a %s key would "
		    "not do", r->inst->code, dkim_alg_name(r->inst->alg),
		    type_name);
	return EX_OK;
}

/* keys_generate_kind - generate selector i's key of one kind */
int
keys_generate_kind(struct keys_run *r, size_t i, size_t kind,
    const char *type_name, unsigned flags)
{
	enum p11_key_type type;
	unsigned bits;
	int	 st;

	if ((st = check_type(r, type_name, &type, &bits)) != EX_OK)
		return st;
	if (kind == CONF_KIND_DUAL)
		return generate_one(r, i, kind, P11_KEY_ED25519, 0, "ed25519",
		    flags);
	return generate_one(r, i, kind, type, bits, type_name, flags);
}

/* keys_generate_check - the type fits, and the token can make its keys */
int
keys_generate_check(struct keys_run *r, size_t i, const char *type_name)
{
	enum p11_key_type type;
	unsigned bits;
	int	 st;

	if ((st = check_type(r, type_name, &type, &bits)) != EX_OK)
		return st;
	if ((st = token_can(r, i, CONF_KIND_MAIN, type, bits, type_name)) !=
	    EX_OK)
		return st;
	if (r->inst->dual_sign)
		return token_can(r, i, CONF_KIND_DUAL, P11_KEY_ED25519, 0,
		    "ed25519");
	return EX_OK;
}

/*
 * keys_generate_for - generate selector i's keys, log, report.  With
 * dual signing, a selector that has its RSA key but not yet its Ed25519
 * key (dual-sign turned on later, or a generate cut short) gets the
 * missing one; a selector with every key is refused: keys are never
 * overwritten.  A generate cut short between the two keys leaves the
 * first, logged: running it again makes the second.  What the token
 * cannot do is refused before it is touched.
 */
int
keys_generate_for(struct keys_run *r, size_t i, const char *type_name,
    unsigned flags)
{
	int	 st;

	if ((st = keys_generate_check(r, i, type_name)) != EX_OK ||
	    (st = keys_token(r)) != EX_OK)
		return st;
	if (r->inst->dual_sign && keys_have_key(r, i, CONF_KIND_MAIN) &&
	    !keys_have_key(r, i, CONF_KIND_DUAL))
		return keys_generate_kind(r, i, CONF_KIND_DUAL, type_name,
		    flags);
	if ((st = keys_generate_kind(r, i, CONF_KIND_MAIN, type_name,
	    flags)) != EX_OK || !r->inst->dual_sign)
		return st;
	if ((st = keys_generate_kind(r, i, CONF_KIND_DUAL, type_name,
	    flags)) != EX_OK)
		fprintf(stderr, "p11dkim-keys: the RSA key of %s stays (it is "
		    "logged); run the command again to make the Ed25519 "
		    "key\n", r->inst->selectors[i]);
	return st;
}

static int any_key(struct keys_run *, size_t);

/*
 * new_institution - no state file and no key on its token: the first
 * generate of an institution, which leaves it pending
 */
static int
new_institution(struct keys_run *r, const struct rotation_state *rs)
{
	if (rs->from_file || keys_token(r) != EX_OK)
		return 0;
	for (size_t i = 0; i < CONF_SELECTORS; i++)
		if (any_key(r, i))
			return 0;
	return 1;
}

/* cmd_generate - p11dkim-keys generate INST [SELECTOR] [--type T] [--strict] */
int
cmd_generate(struct keys_run *r, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "type", required_argument, NULL, 't' },
		{ "strict", no_argument, NULL, 's' }, { NULL, 0, NULL, 0 }
	};
	struct rotation_state rs;
	const char *type = NULL;
	unsigned flags = 0;
	char	 err[512];
	int	 c, st, i, fresh;

	keys_getopt_reset();
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 't')
			type = optarg;
		else if (c == 's')
			flags |= KEYGEN_STRICT;
		else
			return keys_fail(EX_USAGE, "usage: generate INST "
			    "[SELECTOR] [--type TYPE] [--strict]");
	}
	if (optind >= argc || argc - optind > 2)
		return keys_fail(EX_USAGE, "usage: generate INST [SELECTOR] "
		    "[--type TYPE] [--strict]");
	if ((st = keys_institution(r, argv[optind])) != EX_OK)
		return st;
	if (rotation_state_load(r->conf, r->inst, &rs, err, sizeof(err)) < 0)
		return keys_fail(EX_CONFIG, "%s", err);
	i = keys_selector(r, argc - optind == 2 ? argv[optind + 1] : rs.active);
	if (i < 0)
		return EX_USAGE;
	fresh = new_institution(r, &rs);
	if ((st = keys_ready(r, 1)) != EX_OK)	/* state: the key's record */
		return st;
	st = keys_generate_for(r, (size_t)i, type ? type : r->inst->key_type,
	    flags);
	if (st == EX_OK && fresh)
		st = keys_onboard_new(r, &rs);
	if (st == EX_OK)
		printf("next: p11dkim-keys dns %s\n", r->inst->code);
	return st;
}

/* drop_record - the public key record of a key no longer there */
static int
drop_record(struct keys_run *r, size_t i, size_t kind, const char *label)
{
	char	 why[KEYS_WHY_MAX];

	if (keys_record_remove(r, i, kind, why, sizeof(why)) < 0)
		return keys_fail(EX_IOERR, "%s: the key '%s' is destroyed and "
		    "logged, but its public key record stays: remove it",
		    why, label);
	return EX_OK;
}

/* keys_destroy_selector - destroy selector i's keys, logging each */
int
keys_destroy_selector(struct keys_run *r, size_t i, const char *how)
{
	struct p11_err err;
	char	 label[128], result[400], why[KEYS_WHY_MAX];

	for (size_t k = 0; k < conf_kinds(r->inst); k++) {
		const char *sel = conf_selector_name(r->inst, i, k);

		conf_key_label(r->inst, i, k, label, sizeof(label));
		if (!keys_have_key(r, i, k)) {
			printf("key '%s' is gone already (an earlier run was "
			    "cut short)\n", label);
			if (drop_record(r, i, k, label) != EX_OK)
				return EX_IOERR;
			continue;
		}
		keys_fault(r, "token");
		if (keygen_destroy(r->tok, label, &err) < 0) {
			snprintf(result, sizeof(result), "failed: %s", err.msg);
			(void)keys_log(r, "destroy", sel, "", result);
			return keys_fail(keys_status_of(&err), "%s", err.msg);
		}
		printf("destroyed %skey '%s'\n", how, label);
		if (keys_log_err(r, "destroy", sel, "", "ok", why,
		    sizeof(why)) < 0)
			return keys_fail(EX_IOERR, "%s; the key '%s' was "
			    "destroyed, and this is not in the log: record it "
			    "by hand", why, label);
		if (drop_record(r, i, k, label) != EX_OK)
			return EX_IOERR;
	}
	return EX_OK;
}

/* any_key - 1 when selector i has a key of any kind */
static int
any_key(struct keys_run *r, size_t i)
{
	for (size_t k = 0; k < conf_kinds(r->inst); k++)
		if (keys_have_key(r, i, k))
			return 1;
	return 0;
}

/* cmd_destroy - p11dkim-keys destroy INST SELECTOR */
int
cmd_destroy(struct keys_run *r, int argc, char **argv)
{
	struct rotation_state rs;
	char	 err[512], question[256];
	int	 st, i;

	if (argc != 3)
		return keys_fail(EX_USAGE, "usage: destroy INST SELECTOR");
	if ((st = keys_institution(r, argv[1])) != EX_OK)
		return st;
	if ((i = keys_selector(r, argv[2])) < 0)
		return EX_USAGE;
	if (rotation_state_load(r->conf, r->inst, &rs, err, sizeof(err)) < 0)
		return keys_fail(EX_CONFIG, "%s", err);
	if (strcasecmp(rs.active, r->inst->selectors[i]) == 0)
		return keys_fail(EX_USAGE, "%s is the active selector of %s: "
		    "rotate away from it first", argv[2], r->inst->code);
	if (rs.step != ROT_IDLE && rs.step != ROT_REVOKED &&
	    strcasecmp(rs.target, r->inst->selectors[i]) == 0)
		return keys_fail(EX_USAGE, "%s is being rotated to (step %s): "
		    "finish or undo the rotation first", argv[2],
		    rotation_step_name(rs.step));
	if ((st = keys_ready(r, 1)) != EX_OK || (st = keys_token(r)) != EX_OK)
		return st;
	if (!any_key(r, (size_t)i))
		return keys_fail(EX_UNAVAILABLE, "token '%s' has no key for "
		    "selector %s: nothing to destroy",
		    token_info(r->tok)->label, argv[2]);
	snprintf(question, sizeof(question), "Destroy the key(s) of selector "
	    "%s on token '%s'? This cannot be undone.", argv[2],
	    token_info(r->tok)->label);
	if ((st = keys_confirm(r, question, argv[2])) != EX_OK)
		return st;
	return keys_destroy_selector(r, (size_t)i, "");
}
