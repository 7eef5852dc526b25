/*
 * cmd_dns.c - p11dkim-keys dns and check-dns: the records the provider
 * and the institution publish, and whether DNS shows them.
 *
 * Only public keys leave the token: RSA as its SubjectPublicKeyInfo in
 * base64 (RFC 6376 3.6.1), Ed25519 as the raw 32 bytes (RFC 8463).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "p11dkim/dns_record.h"
#include "p11dkim/rotation_state.h"
#include "keys.h"

#define NAME_MAX_LEN	512
#define ZONE_READ_MAX	DNS_ZONE_MAX_TEXT

/* keys_getopt_reset - before a command parses its own options */
void
keys_getopt_reset(void)
{
	optind = 0;		/* GNU: re-initialize for the next argv */
	opterr = 1;
}

/* key_bytes - what p= carries: SPKI DER (RSA) or the raw key (Ed25519) */
static int
key_bytes(EVP_PKEY *k, unsigned char **out, size_t *len)
{
	unsigned char *der = NULL;
	int	 n;

	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519) {
		*len = 32;
		if ((*out = malloc(32)) == NULL ||
		    EVP_PKEY_get_raw_public_key(k, *out, len) != 1) {
			free(*out);
			return -1;
		}
		return 0;
	}
	if ((n = i2d_PUBKEY(k, &der)) <= 0)
		return -1;
	*out = malloc((size_t)n);
	if (*out != NULL)
		memcpy(*out, der, (size_t)n);
	OPENSSL_free(der);
	*len = (size_t)n;
	return *out ? 0 : -1;
}

/* key_kind - the k= value */
static const char *
key_kind(EVP_PKEY *k)
{
	return EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519 ? "ed25519" : "rsa";
}

/* keys_key_txt - the TXT text of a key: "v=DKIM1; k=rsa; p=..." */
int
keys_key_txt(EVP_PKEY *k, struct buf *out)
{
	unsigned char *p;
	char	*b64;
	size_t	 len;
	int	 rc;

	if (key_bytes(k, &p, &len) < 0)
		return -1;
	if ((b64 = malloc(4 * ((len + 2) / 3) + 1)) == NULL) {
		free(p);
		return -1;
	}
	EVP_EncodeBlock((unsigned char *)b64, p, (int)len);
	rc = buf_printf(out, "v=DKIM1; k=%s; p=%s", key_kind(k), b64);
	free(b64);
	free(p);
	return rc;
}

/* keys_revoked_txt - the TXT text that revokes a selector: "p=" empty */
int
keys_revoked_txt(struct keys_run *r, size_t kind, struct buf *out)
{
	const char *k = conf_kind_alg(r->inst, kind) ==
	    DKIM_ALG_ED25519_SHA256 ? "ed25519" : "rsa";

	return buf_printf(out, "v=DKIM1; k=%s; p=", k);
}

/* keys_load_zone - a zone file or dig output ("-": stdin) */
int
keys_load_zone(const char *path, struct dns_zone *z)
{
	struct buf text;
	char	 chunk[8192], err[256];
	FILE	*f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	size_t	 n;
	int	 rc = EX_OK;

	memset(z, 0, sizeof(*z));
	if (f == NULL)
		return keys_fail(EX_NOINPUT, "%s: cannot read", path);
	buf_init(&text, ZONE_READ_MAX);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(&text, chunk, n) < 0) {
			rc = keys_fail(EX_DATAERR, "%s: larger than %d bytes",
			    path, ZONE_READ_MAX);
			break;
		}
	if (f != stdin)
		fclose(f);
	if (rc == EX_OK && dns_zone_parse(z, buf_str(&text), text.len, err,
	    sizeof(err)) < 0)
		rc = keys_fail(EX_DATAERR, "%s: %s", path, err);
	buf_release(&text);
	return rc;
}

/* keys_published_txt - the key record at name: from zone, or looked up */
int
keys_published_txt(const char *name, const struct dns_zone *zone,
    struct buf *out, char *why, size_t whylen)
{
	const char *t;

	if (zone != NULL) {
		if ((t = dns_zone_txt(zone, name, 0)) == NULL)
			return 0;
		return buf_append_str(out, t) < 0 ? -1 : 1;
	}
	return dns_lookup_txt(name, out, why, whylen);
}

/* keys_check_selector - what DNS says of selector i's key record */
int
keys_check_selector(struct keys_run *r, size_t i, size_t kind,
    const struct dns_zone *zone, char *why, size_t whylen)
{
	return keys_check_key(r, i, kind, keys_pub_key(r, i, kind), zone, why,
	    whylen);
}

/* keys_check_key - what DNS says of selector i's record, for key k */
int
keys_check_key(struct keys_run *r, size_t i, size_t kind, EVP_PKEY *k,
    const struct dns_zone *zone, char *why, size_t whylen)
{
	char	 name[NAME_MAX_LEN];
	struct buf txt;
	unsigned char *p = NULL;
	size_t	 len = 0;
	int	 found, rc;

	why[0] = '\0';
	if (conf_record_name(r->conf, r->inst, i, kind, name, sizeof(name)) <
	    0)
		return snprintf(why, whylen, "record name too long"), -1;
	buf_init(&txt, DNS_TXT_MAX);
	found = keys_published_txt(name, zone, &txt, why, whylen);
	if (found < 0) {
		buf_release(&txt);
		return -1;
	}
	if (k != NULL && key_bytes(k, &p, &len) < 0) {
		buf_release(&txt);
		return snprintf(why, whylen, "cannot encode the public key"), -1;
	}
	rc = (int)dns_check_key(found ? buf_str(&txt) : NULL,
	    conf_kind_alg(r->inst, kind) == DKIM_ALG_ED25519_SHA256 ?
	    "ed25519" : "rsa", p, len, why, whylen);
	free(p);
	buf_release(&txt);
	return rc;
}

/* print_cnames - the institution's CNAMEs, one per domain and selector */
static int
print_cnames(struct keys_run *r, struct buf *out)
{
	char	 owner[NAME_MAX_LEN], target[NAME_MAX_LEN];

	for (size_t d = 0; d < r->inst->ndomains; d++)
		for (size_t k = 0; k < conf_kinds(r->inst); k++)
			for (size_t i = 0; i < CONF_SELECTORS; i++) {
				snprintf(owner, sizeof(owner), "%s._domainkey.%s",
				    conf_selector_name(r->inst, i, k),
				    r->inst->domains[d]);
				if (conf_record_name(r->conf, r->inst, i, k,
				    target, sizeof(target)) < 0 ||
				    dns_cname_format(owner, target, out) < 0)
					return -1;
			}
	return 0;
}

/* print_key_record - selector i's TXT of a kind: key, revoked, or none */
static int
print_key_record(struct keys_run *r, size_t i, size_t kind, int revoke,
    struct buf *out)
{
	char	 name[NAME_MAX_LEN];
	struct buf txt;
	EVP_PKEY *k = revoke ? NULL : keys_pub_key(r, i, kind);
	int	 rc;

	if (k == NULL && !revoke)
		return 0;
	buf_init(&txt, DNS_TXT_MAX);
	rc = conf_record_name(r->conf, r->inst, i, kind, name, sizeof(name));
	if (rc == 0)
		rc = k ? keys_key_txt(k, &txt) : keys_revoked_txt(r, kind, &txt);
	if (rc == 0)
		rc = buf_printf(out, "; selector %s of %s%s\n",
		    conf_selector_name(r->inst, i, kind), r->inst->code,
		    k ? "" : ": revoked (p= empty)");
	if (rc == 0)
		rc = dns_txt_format(name, buf_str(&txt), out);
	buf_release(&txt);
	return rc < 0 ? -1 : 1;
}

/* print_key_records - one TXT per selector that has a key (or is revoked) */
static int
print_key_records(struct keys_run *r, int revoke, struct buf *out)
{
	int	 rc = 0, any = 0;

	for (size_t k = 0; k < conf_kinds(r->inst) && rc >= 0; k++)
		for (size_t i = 0; i < CONF_SELECTORS && rc >= 0; i++)
			if ((rc = print_key_record(r, i, k, (int)i == revoke,
			    out)) > 0)
				any = 1;
	if (rc >= 0 && !any)
		rc = buf_printf(out, "; %s has no key on its token yet "
		    "(p11dkim-keys generate %s)\n", r->inst->code,
		    r->inst->code);
	return rc < 0 ? -1 : 0;
}

/* keys_dns_text - the whole zone text for an institution */
static int
dns_text(struct keys_run *r, int revoke, struct buf *out)
{
	if (buf_printf(out, "; DKIM records for %s (%s), provider zone %s\n"
	    "; 1. In the provider zone %s:\n", r->inst->code,
	    r->inst->domains[0], r->conf->provider_zone,
	    r->conf->provider_zone) < 0 ||
	    print_key_records(r, revoke, out) < 0 ||
	    buf_printf(out, "; 2. In the institution's zone (once; keys then "
	    "rotate without changes there):\n") < 0 ||
	    print_cnames(r, out) < 0)
		return -1;
	if (r->conf->spf_include != NULL)
		for (size_t d = 0; d < r->inst->ndomains; d++)
			if (buf_printf(out, "; 3. SPF: add \"include:%s\" to "
			    "the SPF record (TXT \"v=spf1 ...\") of %s\n",
			    r->conf->spf_include, r->inst->domains[d]) < 0)
				return -1;
	return 0;
}

#define DNS_USAGE	"usage: dns INST [--revoke SELECTOR] [--from-token]"

/* cmd_dns - p11dkim-keys dns INST [--revoke SELECTOR] [--from-token] */
int
cmd_dns(struct keys_run *r, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "revoke", required_argument, NULL, 'r' },
		{ "from-token", no_argument, NULL, 't' }, { NULL, 0, NULL, 0 }
	};
	const char *revoke_sel = NULL;
	struct buf out;
	int	 c, st, revoke = -1;

	keys_getopt_reset();
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 't')
			r->from_token = 1;
		else if (c == 'r')
			revoke_sel = optarg;
		else
			return keys_fail(EX_USAGE, DNS_USAGE);
	}
	if (optind != argc - 1)
		return keys_fail(EX_USAGE, DNS_USAGE);
	if ((st = keys_institution(r, argv[optind])) != EX_OK ||
	    (st = keys_publics(r)) != EX_OK)
		return st;
	if (revoke_sel != NULL && (revoke = keys_selector(r, revoke_sel)) < 0)
		return EX_USAGE;
	buf_init(&out, 1 << 20);
	if (dns_text(r, revoke, &out) < 0) {
		buf_release(&out);
		return keys_fail(EX_SOFTWARE, "cannot format the records");
	}
	fputs(buf_str(&out), stdout);
	buf_release(&out);
	return EX_OK;
}

/* keys_check_cname - does the institution's CNAME point at our record? */
const char *
keys_check_cname(const char *owner, const char *target,
    const struct dns_zone *z)
{
	struct buf got;
	char	 why[256];
	const char *t;
	int	 rc;

	if (z != NULL) {
		if ((t = dns_zone_cname(z, owner)) == NULL)
			return "missing";
		return strcasecmp(t, target) == 0 ? "ok" : "wrong target";
	}
	buf_init(&got, NAME_MAX_LEN);
	rc = dns_lookup_cname(owner, &got, why, sizeof(why));
	t = rc < 0 ? "lookup failed" : rc == 0 ? "missing" :
	    strcasecmp(buf_str(&got), target) == 0 ? "ok" : "wrong target";
	buf_release(&got);
	return t;
}

/* keys_cnames_ok - every CNAME of selector i (kind): "ok", or the first not */
const char *
keys_cnames_ok(struct keys_run *r, size_t i, size_t kind,
    const struct dns_zone *z, char *owner, size_t olen, char *target,
    size_t tlen)
{
	const char *cs = "ok";

	if (conf_record_name(r->conf, r->inst, i, kind, target, tlen) < 0)
		return "record name too long";
	for (size_t d = 0; d < r->inst->ndomains; d++) {
		snprintf(owner, olen, "%s._domainkey.%s",
		    conf_selector_name(r->inst, i, kind), r->inst->domains[d]);
		if (strcmp((cs = keys_check_cname(owner, target, z)), "ok") != 0)
			break;
	}
	return cs;
}

/* check_one - report selector i's record and CNAMEs; 1 when all is well */
static int
check_one(struct keys_run *r, size_t i, size_t kind, const struct dns_zone *z,
    int *first)
{
	const char *sel = conf_selector_name(r->inst, i, kind);
	char	 name[NAME_MAX_LEN], owner[NAME_MAX_LEN], why[512];
	const char *cs;
	int	 st, ok;

	conf_record_name(r->conf, r->inst, i, kind, name, sizeof(name));
	st = keys_check_selector(r, i, kind, z, why, sizeof(why));
	if (keys_pub_key(r, i, kind) != NULL)
		ok = st == DNS_MATCH;
	else {		/* no key: nothing, or a revocation, may be published */
		ok = st == DNS_MISSING || st == DNS_REVOKED;
		if (st == DNS_MISMATCH)
			snprintf(why, sizeof(why), "a key is published, but "
			    "the token has none for this selector");
		else
			snprintf(why, sizeof(why), "no key on the token");
	}
	if (r->json) {
		printf("%s{\"selector\":", *first ? "" : ",");
		json_string(stdout, sel);
		printf(",\"record\":");
		json_string(stdout, name);
		printf(",\"status\":");
		json_string(stdout, st < 0 ? "error" :
		    dns_check_name((enum dns_check)st));
		printf(",\"detail\":");
		json_string(stdout, why);
	} else {
		printf("%-10s %-48s %s%s%s\n", sel, name,
		    st < 0 ? "error" : dns_check_name((enum dns_check)st),
		    why[0] ? ": " : "", why);
	}
	for (size_t d = 0; d < r->inst->ndomains; d++) {
		snprintf(owner, sizeof(owner), "%s._domainkey.%s",
		    sel, r->inst->domains[d]);
		cs = keys_check_cname(owner, name, z);
		ok &= strcmp(cs, "ok") == 0;
		if (r->json) {
			printf(",\"cname\":{\"owner\":");
			json_string(stdout, owner);
			printf(",\"status\":");
			json_string(stdout, cs);
			printf("}");
		} else {
			printf("%-10s %-48s CNAME %s\n", "", owner, cs);
		}
	}
	if (r->json)
		printf("}");
	*first = 0;
	return ok;
}

#define CHECK_DNS_USAGE	"usage: check-dns INST [SELECTOR] [--zone FILE|-] " \
	"[--from-token] | check-dns INST --promote [--zone FILE|-] " \
	"[--from-token]"

/* cmd_check_dns - p11dkim-keys check-dns INST [SELECTOR] [--zone FILE] */
int
cmd_check_dns(struct keys_run *r, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "zone", required_argument, NULL, 'z' },
		{ "promote", no_argument, NULL, 'p' },
		{ "from-token", no_argument, NULL, 't' }, { NULL, 0, NULL, 0 }
	};
	struct dns_zone zone;
	const char *zpath = NULL;
	int	 c, st, sel = -1, all = 1, first = 1, promote = 0;

	keys_getopt_reset();
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'p')
			promote = 1;
		else if (c == 't')
			r->from_token = 1;
		else if (c == 'z')
			zpath = optarg;
		else
			return keys_fail(EX_USAGE, CHECK_DNS_USAGE);
	}
	if (optind >= argc || argc - optind > 2 - promote)
		return keys_fail(EX_USAGE, CHECK_DNS_USAGE);
	if ((st = keys_institution(r, argv[optind])) != EX_OK ||
	    (st = keys_publics(r)) != EX_OK)
		return st;
	if (argc - optind == 2 && (sel = keys_selector(r, argv[optind + 1])) < 0)
		return EX_USAGE;
	if (zpath != NULL && (st = keys_load_zone(zpath, &zone)) != EX_OK)
		return st;
	if (r->json)
		printf("[");
	for (size_t k = 0; k < conf_kinds(r->inst); k++)
		for (size_t i = 0; i < CONF_SELECTORS; i++)
			if (sel < 0 || (size_t)sel == i)
				all &= check_one(r, i, k, zpath ? &zone : NULL,
				    &first);
	if (r->json)
		printf("]\n");
	st = all ? EX_OK : EX_CHECK_FAILED;
	if (promote) {
		fflush(stdout);
		st = keys_promote(r, zpath ? &zone : NULL);
	}
	if (zpath != NULL)
		dns_zone_release(&zone);
	return st;
}
