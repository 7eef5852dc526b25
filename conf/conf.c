/*
 * conf.c - read and check the configuration (see include/p11dkim/conf.h).
 *
 * libconfuse parses with the option tables of conf_opts.c; a parse
 * callback per option checks each value as it is read, so errors carry
 * the line; a section callback checks each institution as a whole; what
 * needs the whole file (a domain claimed twice) is checked last.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <confuse.h>

#include "p11dkim/conf.h"
#include "p11dkim/strmap.h"
#include "conf_int.h"



/*
 * libconfuse's error callback takes no argument of ours, so the first
 * message of a conf_load() call goes to this thread's scratch line.
 */
static __thread char conf_error[CONF_ERR_MAX];
static __thread int conf_included;	/* reading an included file */

/* selectors_ok - two distinct selectors, with active among them */
static int
selectors_ok(cfg_t *cfg, cfg_t *sels_from, const char *code, cfg_t *inst)
{
	const char *active = cfg_getstr(inst, "active-selector");
	unsigned n = cfg_size(sels_from, "selectors");

	if (n != CONF_SELECTORS || strcasecmp(cfg_getnstr(sels_from,
	    "selectors", 0), cfg_getnstr(sels_from, "selectors", 1)) == 0) {
		cfg_error(cfg, "institution '%s': selectors must be two "
		    "different selectors (an active one and a standby)", code);
		return -1;
	}
	if (strcasecmp(active, cfg_getnstr(sels_from, "selectors", 0)) != 0 &&
	    strcasecmp(active, cfg_getnstr(sels_from, "selectors", 1)) != 0) {
		cfg_error(cfg, "institution '%s': active-selector '%s' is not "
		    "one of its selectors", code, active);
		return -1;
	}
	return 0;
}

/*
 * check_institution - an institution as a whole, when its section ends:
 * code, required values, selectors (its own, or the global ones when
 * those were read already; otherwise conf_load checks them later).
 */
static int
check_institution(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t	*inst = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
	const char *code = cfg_title(inst);
	static const char *const required[] = { "domains", "pin",
	    "active-selector", NULL };

	if (!conf_code_ok(code)) {
		cfg_error(cfg, "institution '%.40s': the code must be 1-%d "
		    "lower-case letters, digits or inner '-'", code, CONF_CODE_MAX);
		return -1;
	}
	for (size_t i = 0; required[i] != NULL; i++)
		if (cfg_size(inst, required[i]) == 0) {
			cfg_error(cfg, "institution '%s': %s is required",
			    code, required[i]);
			return -1;
		}
	if (cfg_size(inst, "headers") > CONF_NAMES_MAX ||
	    cfg_size(inst, "oversign-headers") > CONF_NAMES_MAX) {
		cfg_error(cfg, "institution '%s': at most %d header names in "
		    "a list", code, CONF_NAMES_MAX);
		return -1;
	}
	if (cfg_size(inst, "selectors") > 0)
		return selectors_ok(cfg, inst, code, inst);
	if (!conf_included && cfg_size(cfg, "selectors") > 0)
		return selectors_ok(cfg, cfg, code, inst);
	return 0;
}

/* check_milter - the milter section: its connection spec, its options */
static int
check_milter(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t	*m = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
	const char *conn = cfg_title(m);

	if (cfg_opt_size(opt) > 1) {
		cfg_error(cfg, "only one milter section");
		return -1;
	}
	if (!conf_milter_conn_ok(conn)) {
		cfg_error(cfg, "milter '%.64s': want unix:/PATH or "
		    "inet:PORT@ADDRESS", conn);
		return -1;
	}
	if (strcmp(cfg_getstr(m, "signing-domain"), "auth") == 0 &&
	    cfg_getbool(m, "sign-authenticated") != cfg_true) {
		cfg_error(cfg, "milter '%.64s': signing-domain = \"auth\" "
		    "needs sign-authenticated = true", conn);
		return -1;
	}
	return 0;
}

/* collect_error - keep libconfuse's first message, as "file:line: why" */
static void
collect_error(cfg_t *cfg, const char *fmt, va_list ap)
{
	char	 msg[CONF_ERR_MAX];
	int	 n;

	if (conf_error[0] != '\0')
		return;
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	if (cfg != NULL && cfg->filename != NULL)
		n = snprintf(conf_error, sizeof(conf_error), "%s:%d: %s",
		    cfg->filename, cfg->line, msg);
	else
		n = snprintf(conf_error, sizeof(conf_error), "%s", msg);
	if (n < 0)
		snprintf(conf_error, sizeof(conf_error), "configuration error");
}

/* dup_or_null - strdup of a value that may be absent */
static int
dup_or_null(cfg_t *sec, const char *name, char **out)
{
	const char *v = cfg_size(sec, name) ? cfg_getstr(sec, name) : NULL;

	*out = NULL;
	return v == NULL || (*out = strdup(v)) != NULL ? 0 : -1;
}

/* lower - a value in lower case, in place */
static void
lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* copy_institution - the checked section into i */
static int
copy_institution(cfg_t *root, cfg_t *sec, struct conf_institution *i)
{
	cfg_t	*sels = cfg_size(sec, "selectors") ? sec : root, *pending_from;
	struct dkim_err ignored;

	if ((i->code = strdup(cfg_title(sec))) == NULL ||
	    (i->ndomains = cfg_size(sec, "domains")) == 0 ||
	    (i->domains = calloc(i->ndomains, sizeof(char *))) == NULL)
		return -1;
	for (size_t k = 0; k < i->ndomains; k++) {
		if ((i->domains[k] = strdup(cfg_getnstr(sec, "domains",
		    (unsigned)k))) == NULL)
			return -1;
		lower(i->domains[k]);
	}
	for (size_t k = 0; k < CONF_SELECTORS; k++)
		if ((i->selectors[k] = strdup(cfg_getnstr(sels, "selectors",
		    (unsigned)k))) == NULL)
			return -1;
	i->dual_sign = cfg_getbool(sec, "dual-sign") == cfg_true;
	for (size_t k = 0; i->dual_sign && k < CONF_SELECTORS; k++) {
		cfg_t *ds = cfg_size(sec, "dual-selectors") ? sec : root;

		if (cfg_size(ds, "dual-selectors") != CONF_SELECTORS)
			return 0;	/* reported by check_whole */
		if ((i->dual_selectors[k] = strdup(cfg_getnstr(ds,
		    "dual-selectors", (unsigned)k))) == NULL)
			return -1;
	}
	i->subdomains = cfg_getbool(sec, "subdomains") == cfg_true;
	i->optional = cfg_getbool(sec, "optional") == cfg_true;
	pending_from = cfg_size(sec, "sign-pending") ? sec : root;
	i->sign_pending = cfg_size(pending_from, "sign-pending") > 0 &&
	    cfg_getbool(pending_from, "sign-pending") == cfg_true;
	(void)dkim_alg_parse(cfg_getstr(sec, "algorithm"), &i->alg, &ignored);
	if (dup_or_null(sec, "token-label", &i->token_label) < 0 ||
	    dup_or_null(sec, "token-serial", &i->token_serial) < 0 ||
	    dup_or_null(sec, "pin", &i->pin) < 0 ||
	    dup_or_null(sec, "active-selector", &i->active_selector) < 0 ||
	    dup_or_null(sec, "key-type", &i->key_type) < 0)
		return -1;
	if (i->token_label == NULL && (i->token_label = strdup(i->code)) == NULL)
		return -1;
	return conf_copy_signing(sec, i);
}

/* copy_root - the global values into c */
static int
copy_root(cfg_t *cfg, struct conf *c)
{
	return dup_or_null(cfg, "pkcs11-module", &c->module) < 0 ||
	    dup_or_null(cfg, "pkcs11-init-args", &c->module_init_args) < 0 ||
	    dup_or_null(cfg, "provider-zone", &c->provider_zone) < 0 ||
	    dup_or_null(cfg, "record-name", &c->record_name) < 0 ||
	    dup_or_null(cfg, "dual-record-name", &c->dual_record_name) < 0 ||
	    dup_or_null(cfg, "spf-include", &c->spf_include) < 0 ||
	    dup_or_null(cfg, "state-dir", &c->state_dir) < 0 ||
	    dup_or_null(cfg, "ceremony-log", &c->ceremony_log) < 0 ? -1 : 0;
}

/*
 * check_dual - a dual-signing institution: RSA first, two dual selectors
 * of its own (a DNS name holds one key), and a record-name pattern for
 * them that differs from the RSA one.
 */
static int
check_dual(const struct conf *c, const struct conf_institution *i,
    char *err, size_t errlen)
{
	const char *why = NULL;

	if (!i->dual_sign)
		return 0;
	if (i->alg != DKIM_ALG_RSA_SHA256)
		why = "dual-sign adds ed25519-sha256 to rsa-sha256: set "
		    "algorithm = \"rsa-sha256\"";
	else if (i->dual_selectors[0] == NULL)
		why = "dual-sign needs two dual-selectors (globally or here)";
	else if (strcasecmp(i->dual_selectors[0], i->dual_selectors[1]) == 0 ||
	    conf_selector_index(i, i->dual_selectors[0]) >= 0 ||
	    conf_selector_index(i, i->dual_selectors[1]) >= 0)
		why = "dual-selectors must be two selectors different from "
		    "each other and from the RSA selectors";
	else if (c->dual_record_name == NULL ||
	    strcmp(c->dual_record_name, c->record_name) == 0)
		why = "dual-sign needs a dual-record-name that differs from "
		    "record-name";
	if (why == NULL)
		return 0;
	snprintf(err, errlen, "%s: institution '%s': %s", c->path, i->code,
	    why);
	return -1;
}

/* check_domains - no domain claimed by two institutions (or twice) */
static int
check_domains(const struct conf *c, char *err, size_t errlen)
{
	struct strmap *seen = strmap_new(c->ninst);
	uint32_t other;
	int	 rc = 0;

	if (seen == NULL) {
		snprintf(err, errlen, "%s: out of memory", c->path);
		return -1;
	}
	for (size_t a = 0; a < c->ninst && rc == 0; a++)
		for (size_t x = 0; x < c->inst[a].ndomains && rc == 0; x++) {
			rc = strmap_put(seen, c->inst[a].domains[x], (uint32_t)a,
			    &other);
			if (rc > 0)
				snprintf(err, errlen, "%s: domain %s is claimed "
				    "by '%s' and '%s'", c->path,
				    c->inst[a].domains[x], c->inst[other].code,
				    c->inst[a].code);
			else if (rc < 0)
				snprintf(err, errlen, "%s: out of memory",
				    c->path);
		}
	strmap_free(seen);
	return rc == 0 ? 0 : -1;
}

/* check_whole - what only the whole file shows; message into err */
static int
check_whole(cfg_t *cfg, const struct conf *c, char *err, size_t errlen)
{
	static const char *const required[] = { "pkcs11-module",
	    "provider-zone", "record-name", "state-dir", "ceremony-log", NULL };

	for (size_t k = 0; required[k] != NULL; k++)
		if (cfg_size(cfg, required[k]) == 0) {
			snprintf(err, errlen, "%s: %s is required", c->path,
			    required[k]);
			return -1;
		}
	for (size_t k = 0; k < c->daemon.nlisten; k++)
		if (c->daemon.listen[k].path[0] != '/') {
			snprintf(err, errlen, "%s: listen \"%s\": not an "
			    "absolute path", c->path, c->daemon.listen[k].path);
			return -1;
		}
	if (c->daemon.metrics_listen != NULL &&
	    !conf_inet_loopback(&c->daemon.metrics_addr) &&
	    !c->daemon.metrics_allow_remote) {
		snprintf(err, errlen, "%s: metrics-listen \"%s\": not a loopback "
		    "address (127.0.0.0/8 or ::1); the counters show every "
		    "institution's volumes: set metrics-allow-remote = true to "
		    "listen there", c->path, c->daemon.metrics_listen);
		return -1;
	}
	if (c->daemon.max_header_bytes > CONF_HEADER_BYTES_MAX) {
		snprintf(err, errlen, "%s: max-header-bytes: at most %d",
		    c->path, CONF_HEADER_BYTES_MAX);
		return -1;
	}
	if (cfg_size(cfg, "burst") > 0 && (cfg_size(cfg, "rate") == 0 ||
	    cfg_getint(cfg, "rate") == 0)) {
		snprintf(err, errlen, "%s: burst = %ld without a rate: set rate "
		    "too (messages a second)", c->path, cfg_getint(cfg, "burst"));
		return -1;
	}
	if (c->daemon.max_per_uid > c->daemon.workers) {
		snprintf(err, errlen, "%s: max-connections-per-uid: at most "
		    "workers (%u)", c->path, c->daemon.workers);
		return -1;
	}
	for (size_t a = 0; a < c->ninst; a++)
		if (check_dual(c, &c->inst[a], err, errlen) < 0)
			return -1;
	return check_domains(c, err, errlen);
}

/*
 * copy_one - institution sec of file (the main one, or an included one)
 * into i, with root's global selectors; -1 and why
 */
static int
copy_one(cfg_t *root, const char *file, cfg_t *sec,
    struct conf_institution *i, char *err, size_t errlen)
{
	if (cfg_size(sec, "selectors") == 0 && cfg_size(root, "selectors") ==
	    0) {
		snprintf(err, errlen, "%s: institution '%s': no selectors (set "
		    "them globally or in the institution)", file,
		    cfg_title(sec));
		return -1;
	}
	/* Global selectors read after the section: check them now. */
	conf_error[0] = '\0';
	if (cfg_size(sec, "selectors") == 0 && selectors_ok(sec, root,
	    cfg_title(sec), sec) < 0) {
		snprintf(err, errlen, "%s", conf_error);
		return -1;
	}
	if (copy_institution(root, sec, i) < 0) {
		snprintf(err, errlen, "%s: out of memory", file);
		return -1;
	}
	return conf_copy_quota(root, sec, i, file, err, errlen);
}

/* A reading in progress: what each file adds to. */
struct reading {
	cfg_t	*root;
	struct conf *c;
	size_t	 cap;			/* room in c->inst */
	struct strmap *codes;		/* code -> index in c->inst */
	struct conf_cache *cache;	/* NULL: every file is read */
	struct conf_include_hooks hooks;
};

/* room - room for n more institutions (and a zeroed one after) */
static int
room(struct reading *r, size_t n)
{
	struct conf *c = r->c;
	struct conf_institution *more;
	size_t	 cap = r->cap ? r->cap : 16;

	while (cap < c->ninst + n + 1)
		cap *= 2;
	if (cap == r->cap)
		return 0;
	if ((more = realloc(c->inst, cap * sizeof(*more))) == NULL)
		return -1;
	memset(more + r->cap, 0, (cap - r->cap) * sizeof(*more));
	c->inst = more;
	r->cap = cap;
	return 0;
}

/* add_code - the last institution's code, refused if defined before */
static int
add_code(struct reading *r, const char *file, char *err, size_t errlen)
{
	struct conf *c = r->c;
	const char *code = c->inst[c->ninst - 1].code;
	uint32_t other;
	int	 rc = strmap_put(r->codes, code, (uint32_t)(c->ninst - 1),
	    &other);

	if (rc > 0)
		snprintf(err, errlen, "%s: institution '%s' is defined twice",
		    file, code);
	else if (rc < 0)
		snprintf(err, errlen, "%s: out of memory", file);
	return rc == 0 ? 0 : -1;
}

/* copy_section - institution sec of file into i, checked */
static int
copy_section(struct reading *r, const char *file, cfg_t *sec,
    struct conf_institution *i, char *err, size_t errlen)
{
	if (copy_one(r->root, file, sec, i, err, errlen) < 0 ||
	    conf_check_milter_lists(sec, r->c, i, err, errlen) < 0)
		return -1;
	return 0;
}

/* copy_main - the institutions of the main file, owned by c */
static int
copy_main(struct reading *r, char *err, size_t errlen)
{
	struct conf *c = r->c;

	for (unsigned j = 0; j < cfg_size(r->root, "institution"); j++) {
		if (room(r, 1) < 0) {
			snprintf(err, errlen, "%s: out of memory", c->path);
			return -1;
		}
		c->ninst++;
		if (copy_section(r, c->path, cfg_getnsec(r->root,
		    "institution", j), &c->inst[c->ninst - 1], err,
		    errlen) < 0 || add_code(r, c->path, err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* copy_file - the institutions of a parsed included file; NULL and why */
static struct conf_shared *
copy_file(struct reading *r, cfg_t *file, const char *path, char *err,
    size_t errlen)
{
	struct conf_shared *s = conf_shared_new(cfg_size(file, "institution"));

	if (s == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	for (size_t j = 0; j < s->n; j++)
		if (copy_section(r, path, cfg_getnsec(file, "institution",
		    (unsigned)j), &s->inst[j], err, errlen) < 0) {
			conf_shared_release(s);
			return NULL;
		}
	return s;
}

/* read_file - an included file's institutions, parsed or unchanged */
static struct conf_shared *
read_file(struct reading *r, const char *path, char *err, size_t errlen)
{
	struct conf_filekey key;
	struct conf_shared *s;
	struct stat st;
	cfg_t	*cfg;

	if (r->cache != NULL && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
		conf_filekey_of(&st, &key);
		if ((s = conf_cache_get(r->cache, path, &key)) != NULL) {
			s->refs++;
			return s;
		}
	}
	conf_included = 1;
	cfg = conf_include_parse(path, conf_file_opts, &r->hooks, &key, err,
	    errlen);
	conf_included = 0;
	if (cfg == NULL)
		return NULL;
	s = copy_file(r, cfg, path, err, errlen);
	cfg_free(cfg);
	if (s != NULL && r->cache != NULL)
		conf_cache_put(r->cache, path, &key, s);
	return s;
}

/* include_file - an included file's institutions, added to the reading */
static int
include_file(void *arg, const char *path, char *err, size_t errlen)
{
	struct reading *r = arg;
	struct conf *c = r->c;
	struct conf_shared *s = read_file(r, path, err, errlen);
	int	 rc = 0;

	if (s == NULL)
		return -1;
	if (room(r, s->n) < 0) {
		snprintf(err, errlen, "%s: out of memory", path);
		rc = -1;
	}
	for (size_t k = 0; k < s->n && rc == 0; k++) {
		c->inst[c->ninst] = s->inst[k];
		c->inst[c->ninst++].shared = s;
		s->refs++;
		rc = add_code(r, path, err, errlen);
	}
	conf_shared_release(s);		/* read_file's reference */
	return rc;
}

/* build - the struct conf of a parsed file, with its included files */
static struct conf *
build(struct reading *r, const char *path, char *err, size_t errlen)
{
	struct conf *c = calloc(1, sizeof(*c));

	r->c = c;
	if (c == NULL || (c->path = strdup(path)) == NULL ||
	    copy_root(r->root, c) < 0 || conf_copy_daemon(r->root, c) < 0 ||
	    (r->codes = strmap_new(256)) == NULL || room(r, 0) < 0) {
		snprintf(err, errlen, "%s: out of memory", path);
		return conf_free(c);
	}
	if (copy_main(r, err, errlen) < 0 ||
	    conf_include_each(r->root, path, &r->hooks, err, errlen) < 0 ||
	    check_whole(r->root, c, err, errlen) < 0)
		return conf_free(c);
	if (r->cache != NULL)
		conf_cache_end(r->cache);
	return c;
}

/* prepare - the reader's error and check functions on a new cfg */
static void
prepare(cfg_t *cfg)
{
	cfg_set_error_function(cfg, collect_error);
	cfg_set_validate_func(cfg, "institution", check_institution);
}

/* first_error - the first error libconfuse reported, as text */
static void
first_error(char *err, size_t errlen)
{
	snprintf(err, errlen, "%s", conf_error[0] ? conf_error :
	    "syntax error");
}

/* conf_load_cached - conf_load, unchanged included files from cache */
struct conf *
conf_load_cached(const char *path, struct conf_cache *cache, char *err,
    size_t errlen)
{
	struct reading r;
	struct conf *c = NULL;
	int	 rc;

	memset(&r, 0, sizeof(r));
	r.hooks = (struct conf_include_hooks){ prepare, first_error,
	    include_file, &r };
	r.cache = cache;
	conf_error[0] = '\0';
	if ((cache != NULL && conf_cache_begin(cache, path) < 0) ||
	    (r.root = cfg_init(conf_root_opts, CFGF_NONE)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	prepare(r.root);
	cfg_set_validate_func(r.root, "milter", check_milter);
	rc = conf_parse_file(r.root, path, NULL, err, errlen);
	if (rc == CFG_PARSE_ERROR)
		first_error(err, errlen);
	else if (rc == CFG_SUCCESS)
		c = build(&r, path, err, errlen);
	strmap_free(r.codes);
	cfg_free(r.root);
	return c;
}

/* conf_load - read and check a file; NULL with "file:line: why" in err */
struct conf *
conf_load(const char *path, char *err, size_t errlen)
{
	return conf_load_cached(path, NULL, err, errlen);
}

/* conf_institution - the institution with this code, or NULL */
const struct conf_institution *
conf_institution(const struct conf *c, const char *code)
{
	for (size_t i = 0; i < c->ninst; i++)
		if (strcmp(c->inst[i].code, code) == 0)
			return &c->inst[i];
	return NULL;
}

/* conf_selector_index - 0 or 1 for one of the institution's selectors */
int
conf_selector_index(const struct conf_institution *i, const char *sel)
{
	for (int k = 0; k < CONF_SELECTORS; k++)
		if (strcasecmp(i->selectors[k], sel) == 0)
			return k;
	return -1;
}

/* conf_kinds - 1, or 2 when the institution dual-signs */
size_t
conf_kinds(const struct conf_institution *i)
{
	return i->dual_sign ? 2 : 1;
}

/* conf_selector_name - selector i of a kind: "stxsel1", or "stxed1" */
const char *
conf_selector_name(const struct conf_institution *i, size_t sel,
    size_t kind)
{
	return kind == CONF_KIND_DUAL ? i->dual_selectors[sel] :
	    i->selectors[sel];
}

/* conf_kind_alg - the algorithm of a kind of key */
enum dkim_alg
conf_kind_alg(const struct conf_institution *i, size_t kind)
{
	return kind == CONF_KIND_DUAL ? DKIM_ALG_ED25519_SHA256 : i->alg;
}

/* conf_record_name - "sel1-mosa._domainkey.dkim.example.net" */
int
conf_record_name(const struct conf *c, const struct conf_institution *i,
    size_t sel, size_t kind, char *out, size_t len)
{
	const char *pattern = kind == CONF_KIND_DUAL ? c->dual_record_name :
	    c->record_name;
	size_t	 n = 0;
	int	 w;

	for (const char *p = pattern; *p && n < len; p++) {
		if (*p != '%') {
			out[n++] = *p;
			continue;
		}
		p++;
		if (*p == 'c')
			w = snprintf(out + n, len - n, "%s", i->code);
		else if (*p == 'n')
			w = snprintf(out + n, len - n, "%zu", sel + 1);
		else
			w = snprintf(out + n, len - n, "%s",
			    conf_selector_name(i, sel, kind));
		if (w < 0 || (size_t)w >= len - n)
			return -1;
		n += (size_t)w;
	}
	w = n < len ? snprintf(out + n, len - n, "._domainkey.%s",
	    c->provider_zone) : -1;
	return w < 0 || (size_t)w >= len - n ? -1 : 0;
}

/* conf_key_label - the token label of a selector's key: "mosa-stxsel1" */
int
conf_key_label(const struct conf_institution *i, size_t sel, size_t kind,
    char *out, size_t len)
{
	int	 w = snprintf(out, len, "%s-%s", i->code,
	    conf_selector_name(i, sel, kind));

	return w < 0 || (size_t)w >= len ? -1 : 0;
}

/* conf_institution_free - what an institution owns */
void
conf_institution_free(struct conf_institution *i)
{
	for (size_t k = 0; k < i->ndomains && i->domains; k++)
		free(i->domains[k]);
	free(i->domains);
	for (size_t k = 0; k < CONF_SELECTORS; k++)
		free(i->selectors[k]);
	free(i->code);
	free(i->token_label);
	free(i->token_serial);
	free(i->pin);
	free(i->active_selector);
	free(i->key_type);
	for (size_t k = 0; k < CONF_SELECTORS; k++)
		free(i->dual_selectors[k]);
	conf_free_signing(i);
}

/* conf_free - free; NULL is fine; returns NULL */
struct conf *
conf_free(struct conf *c)
{
	if (c == NULL)
		return NULL;
	for (size_t i = 0; i < c->ninst; i++) {
		if (c->inst[i].shared != NULL)
			conf_shared_release(c->inst[i].shared);
		else
			conf_institution_free(&c->inst[i]);
	}
	free(c->inst);
	conf_free_daemon(&c->daemon);
	free(c->path);
	free(c->module);
	free(c->module_init_args);
	free(c->provider_zone);
	free(c->record_name);
	free(c->dual_record_name);
	free(c->spf_include);
	free(c->state_dir);
	free(c->ceremony_log);
	free(c);
	return NULL;
}
