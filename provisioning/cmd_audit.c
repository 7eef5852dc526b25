/*
 * cmd_audit.c - p11dkim-keys list and audit: every key on the
 * institutions' tokens, judged from what each token itself says about
 * it, attribute by attribute (pkcs11/key_audit.c).
 *
 * Where a token will not say that a key was generated on it (NSS reads
 * back CKA_LOCAL false for keys it generated), the ceremony log's record
 * of that generation, on that token and with that fingerprint, is taken
 * as second-hand evidence, and the report says so: it is the log's word,
 * not the token's.  A log that does not verify vouches for nothing.
 */
#include <getopt.h>
#include <string.h>

#include "p11dkim/ceremony_log.h"
#include "p11dkim/key_audit.h"
#include "p11dkim/rotation_state.h"
#include "keys.h"

/* One key as judged: its attributes, and what the log says of it. */
struct judged {
	const struct key_audit *a;
	const char *selector;
	int	 active;
	const char *onboard;		/* the institution's: live, pending */
	unsigned flags;			/* for key_audit_verdict */
	struct ceremony_record rec;	/* the log's record, when vouched */
	char	 log_why[300];		/* why the log did not vouch */
};

/* Totals of an audit. */
struct tally {
	int	 keys, bad, vouched, empty;
	int	 first;			/* no JSON object printed yet */
	unsigned strict;		/* KEY_AUDIT_STRICT or 0 */
	int	 write_records;		/* --write-records */
	int	 records;		/* public key records found wrong */
};

/* selector_of - the selector a key label belongs to, or "-" */
static const char *
selector_of(const struct conf_institution *inst, const char *label)
{
	char	 want[128];

	for (size_t k = 0; k < conf_kinds(inst); k++)
		for (size_t i = 0; i < CONF_SELECTORS; i++)
			if (conf_key_label(inst, i, k, want, sizeof(want)) == 0 &&
			    strcmp(want, label) == 0)
				return conf_selector_name(inst, i, k);
	return "-";
}

/* state_int - an attribute for the list's JSON: 1, 0, or -1 unknown */
static int
state_int(const struct key_audit *a, enum key_audit_attr i)
{
	int	 s = a->attr[i].state;

	return s == KA_TRUE || s == KA_FALSE ? s : -1;
}

/* yes_no - a boolean attribute for the table */
static const char *
yes_no(const struct key_audit *a, enum key_audit_attr i)
{
	int	 v = state_int(a, i);

	return v < 0 ? "?" : v ? "yes" : "no";
}

/* type_name - rsa, ed25519 or other */
static const char *
type_name(const struct key_audit *a)
{
	return a->type == P11_KEY_RSA ? "rsa" : a->type == P11_KEY_ED25519 ?
	    "ed25519" : "other";
}

/*
 * vouch - when the token says the key was not generated on it (or does
 * not say), look for the ceremony log's record of its generation there
 */
static void
vouch(struct keys_run *r, struct judged *j, unsigned strict)
{
	const struct p11_token_info *ti = token_info(r->tok);
	char	 err[256];
	int	 rc;

	j->flags = strict;
	j->log_why[0] = '\0';
	if (j->a->attr[KA_LOCAL].state == KA_TRUE)
		return;
	rc = ceremony_log_find_generated(r->conf->ceremony_log, ti->label,
	    ti->serial, j->a->fingerprint, &j->rec, err, sizeof(err));
	if (rc == 1)
		j->flags |= KEY_AUDIT_LOCAL_VOUCHED;
	else if (rc == 0)
		snprintf(j->log_why, sizeof(j->log_why), "the ceremony log "
		    "has no record of its generation on this token");
	else
		snprintf(j->log_why, sizeof(j->log_why), "the ceremony log "
		    "vouches for nothing: %s", err);
}

/* comment - what an attribute's verdict means, for the report */
static const char *
comment(const struct judged *j, enum key_audit_attr i, char *buf,
    size_t len)
{
	char	 rv[32];

	switch (key_audit_verdict(j->a, i, j->flags)) {
	case KA_OK:
		return "";
	case KA_FAIL:
		if (i == KA_LOCAL)
			snprintf(buf, len, "FAIL: not generated on the token, "
			    "as far as it says; %s", j->log_why);
		else if (j->a->attr[i].state == KA_UNREADABLE)
			snprintf(buf, len, "FAIL (%s)", p11_rv_name(
			    j->a->attr[i].rv, rv, sizeof(rv)));
		else
			snprintf(buf, len, "FAIL");
		return buf;
	case KA_VOUCHED:
		snprintf(buf, len, "generated on this token per the ceremony "
		    "log, record %lu (%s, by %s): the log's word, not the "
		    "token's", j->rec.seq, j->rec.time, j->rec.operator_name);
		return buf;
	case KA_NOT_IN_FORCE:
		return "not in force";
	case KA_NOT_KNOWN:
		return "not in force: the token does not know it";
	default:
		return "reported only (a rotation destroys retired keys)";
	}
}

/* print_line - one attribute line: role, name, value, comment */
static void
print_line(const char *role, const char *name, const char *value,
    const char *note)
{
	if (note[0] == '\0')
		printf("     %-10s %-23s %s\n", role, name, value);
	else
		printf("     %-10s %-23s %-16s %s\n", role, name, value, note);
}

/* print_secret - the line of the secret itself */
static void
print_secret(const struct key_audit *a)
{
	char	 rv[32];

	if (a->type == 0)
		return;
	print_line("origin", a->type == P11_KEY_RSA ? "CKA_PRIVATE_EXPONENT" :
	    "CKA_VALUE", a->secret_readable ? "REVEALED" : "not revealed",
	    a->secret_readable ? "FAIL" : p11_rv_name(a->secret_rv, rv,
	    sizeof(rv)));
	if (!a->secret_readable && a->secret_rv == CKR_ATTRIBUTE_TYPE_INVALID)
		print_line("", "", "", "(the token keeps no such attribute: "
		    "it has none to give)");
}

/* print_attrs - one line per attribute, for people */
static void
print_attrs(const struct judged *j)
{
	static const char *roles[] = { "essential", "origin", "hardening",
	    "other" };
	char	 v[128], c[512];

	for (int i = 0; i < KA_ATTRS; i++) {
		enum key_audit_attr at = (enum key_audit_attr)i;

		print_line(roles[key_audit_attr_role(at)],
		    key_audit_attr_name(at), key_audit_value_text(j->a, at, v,
		    sizeof(v)), comment(j, at, c, sizeof(c)));
		if (at == KA_NEVER_EXTRACTABLE)
			print_secret(j->a);
	}
}

/* print_audit_text - a key's verdict, its attributes, its problems */
static void
print_audit_text(struct keys_run *r, const struct judged *j, int bad,
    const struct buf *why)
{
	const struct key_audit *a = j->a;
	const char *p = buf_str(why);

	printf("%s %s key '%s' (%s %d, selector %s%s)\n", bad ? "FAIL" : "ok  ",
	    r->inst->code, a->label, type_name(a), a->bits, j->selector,
	    j->active ? ", active" : "");
	printf("     fingerprint %s\n", a->fingerprint[0] ? a->fingerprint :
	    "(none: no public key)");
	print_attrs(j);
	while (bad && *p != '\0') {
		size_t	 n = strcspn(p, "\n");

		printf("     why: %.*s\n", (int)n, p);
		p += n + (p[n] == '\n');
	}
}

/* print_attrs_json - the attributes as a JSON array */
static void
print_attrs_json(const struct judged *j)
{
	static const char *verdicts[] = { "ok", "fail", "vouched by the "
	    "ceremony log", "not in force", "unknown to the token", "info" };
	char	 v[128];

	printf(",\"attributes\":[");
	for (int i = 0; i < KA_ATTRS; i++) {
		enum key_audit_attr at = (enum key_audit_attr)i;

		printf("%s{\"name\":\"%s\",\"value\":", i ? "," : "",
		    key_audit_attr_name(at));
		json_string(stdout, key_audit_value_text(j->a, at, v,
		    sizeof(v)));
		printf(",\"verdict\":\"%s\"}",
		    verdicts[key_audit_verdict(j->a, at, j->flags)]);
	}
	printf("],\"secret_revealed\":%s,\"local_vouched_by_log_record\":",
	    j->a->secret_readable ? "true" : "false");
	if (j->flags & KEY_AUDIT_LOCAL_VOUCHED)
		printf("%lu", j->rec.seq);
	else
		printf("null");
}

/* print_key_json - one key as a JSON object; why: the audit's, or NULL */
static void
print_key_json(struct keys_run *r, const struct judged *j, int first,
    const struct buf *why)
{
	const struct key_audit *a = j->a;

	printf("%s{\"institution\":", first ? "" : ",");
	json_string(stdout, r->inst->code);
	printf(",\"selector\":");
	json_string(stdout, j->selector);
	printf(",\"label\":");
	json_string(stdout, a->label);
	printf(",\"type\":\"%s\",\"bits\":%d,\"fingerprint\":\"%s\","
	    "\"sensitive\":%d,\"always_sensitive\":%d,\"extractable\":%d,"
	    "\"never_extractable\":%d,\"local\":%d,\"decrypt\":%d,"
	    "\"unwrap\":%d,\"active\":%s,\"state\":\"%s\"", type_name(a),
	    a->bits,
	    a->fingerprint, state_int(a, KA_SENSITIVE),
	    state_int(a, KA_ALWAYS_SENSITIVE), state_int(a, KA_EXTRACTABLE),
	    state_int(a, KA_NEVER_EXTRACTABLE), state_int(a, KA_LOCAL),
	    state_int(a, KA_DECRYPT), state_int(a, KA_UNWRAP),
	    j->active ? "true" : "false", j->onboard);
	if (why != NULL) {
		print_attrs_json(j);
		printf(",\"problems\":");
		json_string(stdout, buf_str(why));
	}
	printf("}");
}

/* print_row - one key as a row of the list */
static void
print_row(struct keys_run *r, const struct judged *j)
{
	const struct key_audit *a = j->a;

	printf("%-8s %-10s %-7s %5d  %.16s  %-4s %-4s %-4s %-4s %-4s %s%s%s\n",
	    r->inst->code, j->selector, type_name(a), a->bits, a->fingerprint,
	    yes_no(a, KA_SENSITIVE), yes_no(a, KA_ALWAYS_SENSITIVE),
	    yes_no(a, KA_EXTRACTABLE), yes_no(a, KA_NEVER_EXTRACTABLE),
	    yes_no(a, KA_LOCAL), j->active ? "active" : "", j->active ? ", " :
	    "", j->active ? j->onboard : "");
}

/* one_key - list or audit one key; counts it */
static void
one_key(struct keys_run *r, const struct key_audit *a,
    const struct rotation_state *rs, int audit, struct tally *t)
{
	struct judged j;
	struct buf why;
	int	 bad = 0;

	memset(&j, 0, sizeof(j));
	j.a = a;
	j.selector = selector_of(r->inst, a->label);
	j.active = strcmp(j.selector, rs->active) == 0;
	j.onboard = onboard_state_name(rs->onboard);
	buf_init(&why, 4096);
	if (audit) {
		vouch(r, &j, t->strict);
		bad = key_audit_problems(a, j.flags, &why) > 0;
		t->bad += bad;
		t->vouched += !bad && (j.flags & KEY_AUDIT_LOCAL_VOUCHED);
	}
	t->keys++;
	if (r->json)
		print_key_json(r, &j, t->first, audit ? &why : NULL);
	else if (audit)
		print_audit_text(r, &j, bad, &why);
	else
		print_row(r, &j);
	t->first = 0;
	buf_release(&why);
}

/*
 * walk - list (or audit) the keys of one institution.  Returns 0, or -1
 * (status in *st) when its token cannot be read.
 */
static int
walk(struct keys_run *r, int audit, struct tally *t, int *st)
{
	struct rotation_state rs;
	struct key_audit *list;
	struct p11_err perr;
	char	 err[512];
	size_t	 n;

	if (rotation_state_load(r->conf, r->inst, &rs, err, sizeof(err)) < 0) {
		*st = keys_fail(EX_CONFIG, "%s", err);
		return -1;
	}
	if ((*st = keys_token(r)) != EX_OK)
		return -1;
	if (key_audit_list(r->tok, &list, &n, &perr) < 0) {
		*st = keys_fail(keys_status_of(&perr), "%s", perr.msg);
		return -1;
	}
	if (n == 0 && audit) {
		t->empty++;
		if (!r->json)
			printf("none %s: token '%s' holds no keys\n",
			    r->inst->code, token_info(r->tok)->label);
	}
	for (size_t k = 0; k < n; k++)
		one_key(r, &list[k], &rs, audit, t);
	key_audit_free(list, n);
	if (audit)
		t->records += keys_records_audit(r, t->write_records);
	return 0;
}

/* summary - the audit's last line and exit status */
static int
summary(struct keys_run *r, const struct tally *t)
{
	if (t->keys == 0)
		return keys_fail(EX_CHECK_FAILED, "audit: no keys");
	if (t->bad > 0 || t->empty > 0 || t->records > 0) {
		if (!r->json)
			printf("audit: %d key(s) FAILED, %d institution(s) "
			    "without keys, %d public key record(s) wrong\n",
			    t->bad, t->empty, t->records);
		return EX_CHECK_FAILED;
	}
	if (r->json)
		return EX_OK;
	printf("audit: every key was generated on its token and never left "
	    "it");
	if (t->vouched > 0)
		printf(" (for %d key(s), generation on the token rests on the "
		    "ceremony log: their tokens do not say)", t->vouched);
	printf("\n");
	return EX_OK;
}

/* each_institution - list or audit one institution (inst) or all */
static int
each_institution(struct keys_run *r, const char *inst, int audit,
    unsigned strict, int write_records)
{
	struct tally t = { 0, 0, 0, 0, 1, strict, write_records, 0 };
	int	 st = EX_OK, one;

	if (!r->json && !audit)
		printf("%-8s %-10s %-7s %5s  %-16s  %-4s %-4s %-4s %-4s %-4s\n",
		    "INST", "SELECTOR", "TYPE", "BITS", "FINGERPRINT", "SENS",
		    "ASNS", "EXTR", "NEXT", "LOCL");
	if (r->json)
		printf("[");
	for (size_t i = 0; i < r->conf->ninst && !keys_interrupted(); i++) {
		if (inst != NULL && strcmp(inst, r->conf->inst[i].code) != 0)
			continue;
		r->inst = &r->conf->inst[i];
		if (walk(r, audit, &t, &one) < 0)
			st = one;	/* reported; the others still count */
		if ((one = keys_store_settle(r)) != EX_OK)
			st = one;
		r->tok = token_close(r->tok);
	}
	if (r->json)
		printf("]\n");
	if (inst != NULL && r->inst == NULL && !keys_interrupted())
		return keys_fail(EX_USAGE, "no institution '%s'", inst);
	if (keys_interrupted())
		return EX_INTERRUPTED;
	if (st != EX_OK)
		return st;
	return audit ? summary(r, &t) : EX_OK;
}

/* cmd_list - p11dkim-keys list [INST] */
int
cmd_list(struct keys_run *r, int argc, char **argv)
{
	if (argc > 2)
		return keys_fail(EX_USAGE, "usage: list [INST]");
	return each_institution(r, argc == 2 ? argv[1] : NULL, 0, 0, 0);
}

#define AUDIT_USAGE	"usage: audit [INST] [--strict] [--write-records]"

/* cmd_audit - p11dkim-keys audit [INST] [--strict] [--write-records] */
int
cmd_audit(struct keys_run *r, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "strict", no_argument, NULL, 's' },
		{ "write-records", no_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	unsigned strict = 0;
	int	 c, write_records = 0;

	keys_getopt_reset();
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 's')
			strict = KEY_AUDIT_STRICT;
		else if (c == 'w')
			write_records = 1;
		else
			return keys_fail(EX_USAGE, AUDIT_USAGE);
	}
	if (argc - optind > 1)
		return keys_fail(EX_USAGE, AUDIT_USAGE);
	return each_institution(r, optind < argc ? argv[optind] : NULL, 1,
	    strict, write_records);
}
