/*
 * keytab.c - the table of signing keys (see include/p11dkim/keytab.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11dkim/keytab.h"
#include "p11dkim/rotation_state.h"

/* add_entry - the key of one kind of an institution's active selector */
static int
add_entry(struct keytab *t, const struct conf_institution *i, size_t sel,
    size_t kind, char *err, size_t errlen)
{
	struct keytab_entry *e = &t->e[t->n];

	e->inst = i;
	e->selector = sel;
	e->kind = kind;
	e->selector_name = conf_selector_name(i, sel, kind);
	e->alg = conf_kind_alg(i, kind);
	e->dual = KEYTAB_NONE;
	if (conf_key_label(i, sel, kind, e->key_label, sizeof(e->key_label)) <
	    0) {
		snprintf(err, errlen, "institution %s: key label too long",
		    i->code);
		return -1;
	}
	if (kind == CONF_KIND_DUAL)
		t->e[t->n - 1].dual = (uint32_t)t->n;
	t->n++;
	return 0;
}

/* index_domains - every institution's domains, by name */
static int
index_domains(const struct conf *c, struct keytab *t, char *err,
    size_t errlen)
{
	size_t	 total = 0;

	for (size_t i = 0; i < c->ninst; i++)
		total += c->inst[i].ndomains;
	if ((t->dom = calloc(total + 1, sizeof(*t->dom))) == NULL ||
	    (t->by_domain = strmap_new(total)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t k = 0; k < t->n; k++) {
		const struct conf_institution *i = t->e[k].inst;

		for (size_t d = 0; t->e[k].kind == CONF_KIND_MAIN &&
		    d < i->ndomains; d++) {
			t->dom[t->ndom] = (struct keytab_domain){ (uint32_t)k,
			    i->domains[d] };
			if (strmap_put(t->by_domain, i->domains[d],
			    (uint32_t)t->ndom++, NULL) < 0) {
				snprintf(err, errlen, "out of memory");
				return -1;
			}
		}
	}
	return 0;
}

/* keytab_build - the table for a configuration */
int
keytab_build(const struct conf *c, struct keytab *t, char *err,
    size_t errlen)
{
	struct rotation_state rs;

	memset(t, 0, sizeof(*t));
	if ((t->e = calloc(2 * c->ninst + 1, sizeof(*t->e))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < c->ninst; i++) {
		int	 sel;

		if (rotation_state_load(c, &c->inst[i], &rs, err, errlen) < 0)
			goto fail;
		if ((sel = conf_selector_index(&c->inst[i], rs.active)) < 0) {
			snprintf(err, errlen, "institution %s: active selector "
			    "'%s' unknown", c->inst[i].code, rs.active);
			goto fail;
		}
		for (size_t k = 0; k < conf_kinds(&c->inst[i]); k++) {
			if (add_entry(t, &c->inst[i], (size_t)sel, k, err,
			    errlen) < 0)
				goto fail;
			t->e[t->n - 1].pending = rs.onboard == ONBOARD_PENDING;
		}
	}
	if (index_domains(c, t, err, errlen) < 0)
		goto fail;
	return 0;
fail:
	keytab_release(t);
	return -1;
}

/* lookup - the main entry owning name exactly, or NULL */
static const struct keytab_domain *
lookup(const struct keytab *t, const char *name)
{
	uint32_t i;

	return strmap_get(t->by_domain, name, &i) ? &t->dom[i] : NULL;
}

/*
 * keytab_for_domain - the institution that signs for domain: the one that
 * owns it exactly, else the one with the longest parent domain that signs
 * for subdomains (whatever the order of the file), or NULL
 */
const struct keytab_entry *
keytab_for_domain(const struct keytab *t, const char *domain,
    uint32_t *index, const char **d_domain)
{
	const struct keytab_domain *d = lookup(t, domain);

	for (const char *p = strchr(domain, '.'); d == NULL && p != NULL;
	    p = strchr(p + 1, '.')) {
		d = lookup(t, p + 1);
		if (d != NULL && !t->e[d->entry].inst->subdomains)
			d = NULL;
	}
	if (d == NULL)
		return NULL;
	*index = d->entry;
	*d_domain = d->domain;
	return &t->e[d->entry];
}

/* keytab_release - free the table */
void
keytab_release(struct keytab *t)
{
	free(t->e);
	free(t->dom);
	strmap_free(t->by_domain);
	memset(t, 0, sizeof(*t));
}
