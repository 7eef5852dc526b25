/*
 * signer_local.c - the signer in this process: key tables and their views
 * (see include/p11dkim/signer_local.h); the keys themselves live in the
 * registry (signer_keys.c), the institutions' quotas in the book
 * (signer_quota.c).
 *
 * Quotas: a table holds, for each key, its institution's bucket and the
 * key's role in a message; a request is charged on its bucket (a
 * constant cost) once its key is ready, before the token signs, and
 * what it took goes back when the token fails.  A refusal is
 * SIGNER_LIMIT with the reason.
 *
 * Trail: with a trail-dir, a signature is recorded (signer_trail.c)
 * before it is returned; when the record cannot be written the signature
 * is thrown away and the request fails for now (SIGNER_TRAIL with the
 * reason, its quota given back), unless trail-on-failure is "sign".
 *
 * Security: this is the only code of the daemon that loads the PKCS#11
 * module and reads PINs.  It signs only 32-byte digests with keys of its
 * tables, refuses a key number it does not know or an algorithm the key
 * does not have, and returns only signatures the token layer verified.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11dkim/log.h"
#include "signer_int.h"

#define TABLES_MAX	8

/* A key's quota in a table: its institution's bucket, its role. */
struct table_quota {
	struct bucket *b;
	enum quota_role role;
};

struct table {
	uint32_t id;
	size_t	 n;
	struct key_entry **keys;
	struct table_quota *quota;	/* n of them */
	unsigned views;
	int	 retired;
};

struct signer_local {
	struct registry reg;
	struct table *tables[TABLES_MAX];
	struct quota_book *book;
	struct trail *trail;		/* NULL: none */
	int	 trail_sign_anyway;
	unsigned wait_ms;		/* for a key another thread opens */
};

struct view {
	struct signer base;
	struct signer_local *s;
	struct table *t;
	int	 owns;			/* frees s too (signer_local_open) */
};

/* table_free - drop the table's keys and free it (locked) */
static void
table_free(struct signer_local *s, struct table *t)
{
	for (int i = 0; i < TABLES_MAX; i++)
		if (s->tables[i] == t)
			s->tables[i] = NULL;
	for (size_t k = 0; k < t->n; k++) {
		if (t->keys[k] != NULL)
			registry_put(&s->reg, t->keys[k]);
		quota_book_put(s->book, t->quota[k].b);
	}
	free(t->keys);
	free(t->quota);
	free(t);
}

/* table_find - the table with this id, or NULL (locked) */
static struct table *
table_find(struct signer_local *s, uint32_t id)
{
	for (int i = 0; i < TABLES_MAX; i++)
		if (s->tables[i] != NULL && s->tables[i]->id == id)
			return s->tables[i];
	return NULL;
}

/* table_key - spec v's key entry and quota as the table's next (locked) */
static int
table_key(struct signer_local *s, struct table *t, const struct keyspec *v,
    const struct quota_now *now)
{
	struct table_quota *q = &t->quota[t->n];

	q->role = v->flags & KEYSPEC_FIRST ? QUOTA_FIRST :
	    v->flags & KEYSPEC_SECOND ? QUOTA_SECOND : QUOTA_ONLY;
	return (t->keys[t->n] = registry_get(&s->reg, v)) != NULL &&
	    (q->b = quota_book_get(s->book, v, now)) != NULL;
}

/* table_new - a table of n specs' entries in a free place (locked) */
static struct table *
table_new(struct signer_local *s, uint32_t id, const struct keyspec *v,
    size_t n, char *err, size_t errlen)
{
	struct quota_now now;
	struct table *t;
	int	 slot = -1;

	for (int i = 0; i < TABLES_MAX && slot < 0; i++)
		if (s->tables[i] == NULL)
			slot = i;
	if (table_find(s, id) != NULL || slot < 0) {
		snprintf(err, errlen, "key table %u: %s", id, slot < 0 ?
		    "too many tables in use" : "already loaded");
		return NULL;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->keys = calloc(n + 1, sizeof(*t->keys))) == NULL ||
	    (t->quota = calloc(n + 1, sizeof(*t->quota))) == NULL) {
		if (t != NULL)
			free(t->keys);
		free(t);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->id = id;
	s->tables[slot] = t;
	quota_clock(&now);
	for (; t->n < n; t->n++)
		if (!table_key(s, t, &v[t->n], &now)) {
			t->n++;		/* what it has of this one goes too */
			table_free(s, t);
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
	return t;
}

/* signer_local_load - a new table of keys */
int
signer_local_load(struct signer_local *s, uint32_t id,
    const struct keyspec *v, size_t n, struct signer_load *how, char *err,
    size_t errlen)
{
	struct quota_now now;
	struct table *t;
	int	 rc;

	pthread_mutex_lock(&s->reg.mu);
	t = table_new(s, id, v, n, err, errlen);
	if (t != NULL)
		t->views++;		/* while it settles */
	pthread_mutex_unlock(&s->reg.mu);
	if (t == NULL)
		return -1;
	how->unseen = registry_unseen(&s->reg, t->keys, t->n);
	rc = how->strict || how->settle ? registry_settle(&s->reg, t->keys,
	    t->n, err, errlen) : 0;
	if (rc < 0 && how->strict) {
		pthread_mutex_lock(&s->reg.mu);
		table_free(s, t);
		pthread_mutex_unlock(&s->reg.mu);
		return -1;
	}
	quota_clock(&now);
	for (size_t k = 0; k < t->n; k++)
		bucket_apply(t->quota[k].b, &v[k].quota, &now);
	pthread_mutex_lock(&s->reg.mu);
	t->views--;
	pthread_mutex_unlock(&s->reg.mu);
	return 0;
}

/*
 * bad_signature - the token returned signatures that did not verify: a
 * security event (a faulty RSA-CRT signature can give the key away);
 * counted, logged, never used
 */
static void
bad_signature(struct signer_local *s, struct key_entry *ke,
    const struct p11_sign_report *rep, int rc)
{
	pthread_mutex_lock(&s->reg.mu);
	ke->bad_signatures += rep->bad_signatures;
	pthread_mutex_unlock(&s->reg.mu);
	log_err("security: institution %s: token '%s' returned %u signature(s) "
	    "with key '%s' that did not verify; none was used, %s",
	    ke->spec.code, ke->spec.token_label, rep->bad_signatures,
	    ke->spec.key_label, rc == 0 ? "signed on another session" :
	    "the request failed");
}

/*
 * recorded - the signature's trail record written: 1, or 0 when it could
 * not be and the signature must not go (r then says why)
 */
static int
recorded(struct view *v, const struct key_entry *ke,
    const struct signer_note *note, struct signer_reply *r)
{
	char	 why[SIGNER_REASON_MAX];

	if (v->s->trail == NULL || signer_trail_record(v->s->trail, &ke->spec,
	    note, r, why, sizeof(why)) == 0)
		return 1;
	signer_trail_failed(why);
	if (v->s->trail_sign_anyway)
		return 1;
	memset(r->sig, 0, sizeof(r->sig));
	signer_reply_set(r, SIGNER_TRAIL, "%.150s: not signed", why);
	return 0;
}

/* view_sign_noted - sign digest with key number key of the view's table */
static void
view_sign_noted(struct signer *base, uint32_t key, enum dkim_alg alg,
    const unsigned char digest[DKIM_DIGEST_LEN],
    const struct signer_note *note, struct signer_reply *r)
{
	struct view *v = (struct view *)base;
	struct p11_sign_report rep;
	struct key_entry *ke;
	struct table_quota *q;
	enum quota_result taken;
	char	 why[SIGNER_WHY_MAX];
	struct p11_key *k;
	struct p11_err err;
	int	 rc;

	if (keyspec_request_check(key < v->t->n ? &v->t->keys[key]->spec :
	    NULL, key, (uint32_t)alg, r->reason, sizeof(r->reason)) < 0) {
		r->status = SIGNER_PERM;
		r->len = 0;
		return;
	}
	ke = v->t->keys[key];
	if ((k = registry_key(&v->s->reg, ke, v->s->wait_ms, why,
	    sizeof(why))) == NULL) {
		signer_reply_set(r, SIGNER_TEMP, "token unavailable: %s: %.150s",
		    ke->spec.code, why);
		return;
	}
	q = &v->t->quota[key];
	if (bucket_take(q->b, q->role, &taken, why, sizeof(why)) < 0) {
		signer_reply_set(r, SIGNER_LIMIT, "%.180s", why);
		return;
	}
	r->len = sizeof(r->sig);
	rc = p11_key_sign_report(k, digest, r->sig, &r->len, &rep, &err);
	if (rep.bad_signatures > 0)
		bad_signature(v->s, ke, &rep, rc);
	if (rc < 0) {
		bucket_give_back(q->b, q->role, taken);
		/*
		 * Whatever the token says (even a PIN refused at a re-login),
		 * the message is fine: mail must be queued and retried,
		 * never bounced, for our own trouble.
		 */
		registry_failed(&v->s->reg, ke, err.msg);
		signer_reply_set(r, SIGNER_TEMP, "%s: %.160s", ke->spec.code,
		    err.msg);
		return;
	}
	registry_signed(&v->s->reg, ke);
	r->status = SIGNER_OK;
	if (!recorded(v, ke, note, r))
		bucket_give_back(q->b, q->role, taken);
}

/* view_sign - sign without a note from a front */
static void
view_sign(struct signer *base, uint32_t key, enum dkim_alg alg,
    const unsigned char digest[DKIM_DIGEST_LEN], struct signer_reply *r)
{
	view_sign_noted(base, key, alg, digest, NULL, r);
}

/* view_free - the view goes; a retired table with it, when it was last */
static void
view_free(struct signer *base)
{
	struct view *v = (struct view *)base;
	struct signer_local *s = v->s;

	pthread_mutex_lock(&s->reg.mu);
	if (--v->t->views == 0 && v->t->retired)
		table_free(s, v->t);
	pthread_mutex_unlock(&s->reg.mu);
	if (v->owns)
		signer_local_free(s);
	free(v);
}

/*
 * view_status - the table's keys from first on: their states (a byte
 * each), their bad signature counts (four bytes each), or their
 * institutions' quota refusals (eight bytes each)
 */
static size_t
view_status(struct signer *base, int what, size_t first, unsigned char *out,
    size_t max)
{
	struct view *v = (struct view *)base;
	size_t	 n = 0, each = what == SIGNER_STATUS_BAD ? 4 :
	    what == SIGNER_STATUS_QUOTA ? 8 : 1;
	uint32_t bad, refused[2];

	pthread_mutex_lock(&v->s->reg.mu);
	for (; first < v->t->n && n + each <= max; first++, n += each) {
		const struct key_entry *ke = v->t->keys[first];

		if (what == SIGNER_STATUS_QUOTA) {
			bucket_refusals(v->t->quota[first].b, refused);
			memcpy(out + n, refused, 8);
		} else if (what == SIGNER_STATUS_BAD) {
			bad = ke->bad_signatures > UINT32_MAX ? UINT32_MAX :
			    (uint32_t)ke->bad_signatures;
			memcpy(out + n, &bad, 4);
		} else
			out[n] = ke->state == KEY_READY ? SIGNER_KEY_UP :
			    ke->state == KEY_DOWN ? SIGNER_KEY_DOWN :
			    SIGNER_KEY_PENDING;
	}
	pthread_mutex_unlock(&v->s->reg.mu);
	return n;
}

static const struct signer_ops view_ops = { view_sign, view_free,
	view_status, view_sign_noted };

/* signer_local_view - a signer for table id's key numbers, or NULL */
struct signer *
signer_local_view(struct signer_local *s, uint32_t id)
{
	struct view *v = calloc(1, sizeof(*v));
	struct table *t;

	if (v == NULL)
		return NULL;
	pthread_mutex_lock(&s->reg.mu);
	if ((t = table_find(s, id)) != NULL && !t->retired)
		t->views++;
	pthread_mutex_unlock(&s->reg.mu);
	if (t == NULL || t->retired) {
		free(v);
		return NULL;
	}
	v->base.ops = &view_ops;
	v->s = s;
	v->t = t;
	return &v->base;
}

/* signer_local_retire - table id goes once its last view is freed */
void
signer_local_retire(struct signer_local *s, uint32_t id)
{
	struct table *t;

	pthread_mutex_lock(&s->reg.mu);
	if ((t = table_find(s, id)) != NULL) {
		t->retired = 1;
		if (t->views == 0)
			table_free(s, t);
	}
	pthread_mutex_unlock(&s->reg.mu);
}

/* signer_local_new - load the module, start the opener threads */
struct signer_local *
signer_local_new(const struct conf *c, char *err, size_t errlen)
{
	struct signer_local *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->wait_ms = c->daemon.io_timeout * 1000 / 2;
	if ((s->book = quota_book_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(s);
		return NULL;
	}
	s->trail_sign_anyway = c->daemon.trail_sign_anyway;
	if (registry_init(&s->reg, c, err, errlen) < 0 ||
	    (c->daemon.trail_dir != NULL && (s->trail = trail_new(
	    c->daemon.trail_dir, c->daemon.trail_sync,
	    c->daemon.trail_open_files, err, errlen)) == NULL)) {
		signer_local_free(s);
		return NULL;
	}
	return s;
}

/* signer_local_free - every view must be freed first; NULL is fine */
void
signer_local_free(struct signer_local *s)
{
	if (s == NULL)
		return;
	registry_halt(&s->reg);
	for (int i = 0; i < TABLES_MAX; i++)
		if (s->tables[i] != NULL)
			table_free(s, s->tables[i]);
	registry_stop(&s->reg);
	quota_book_free(s->book);
	trail_free(s->trail);
	free(s);
}

/* signer_local_reopen - the trail's files opened anew (after rotation) */
void
signer_local_reopen(struct signer_local *s)
{
	if (s->trail != NULL) {
		trail_reopen(s->trail);
		log_info("signing trail: files reopened");
	}
}

/* signer_local_open - a signer for keytab t, every key opened first */
struct signer *
signer_local_open(const struct conf *c, const struct keytab *t, char *err,
    size_t errlen)
{
	struct signer_load how = { 1, 1, 0 };
	struct signer_local *s;
	struct keyspec *v;
	struct signer *view = NULL;

	if (keyspec_build(t, &v, err, errlen) < 0)
		return NULL;
	if ((s = signer_local_new(c, err, errlen)) != NULL &&
	    signer_local_load(s, 1, v, t->n, &how, err, errlen) == 0 &&
	    (view = signer_local_view(s, 1)) == NULL)
		snprintf(err, errlen, "out of memory");
	free(v);
	if (view == NULL) {
		signer_local_free(s);
		return NULL;
	}
	((struct view *)view)->owns = 1;
	signer_local_retire(s, 1);
	return view;
}
