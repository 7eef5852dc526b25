/*
 * conf_cache.c - what the included files held at the last reading, so
 * that a reload parses only the files that changed (see
 * include/p11dkim/conf.h, conf_load_cached).
 *
 * A file's entry is its institutions, as copied out of libconfuse, and
 * the key it was read under: device, inode, size, and modification and
 * change times to the nanosecond, taken before the file was read.  A
 * file is taken from the cache only when its key is the same now.
 * Writing a file changes its ctime, which no program can set back, so
 * a change is seen even when the size and mtime were kept (touch -r);
 * a file replaced by rename has another inode.  File times come from a
 * clock that moves in steps (a few milliseconds; a second or two on
 * some filesystems), so two writes of the same size within one step can
 * leave the same key: as git does with its index, a file whose ctime is
 * within RACY_MS of the reading is read again at the next reading too,
 * until its key is old enough to be trusted.  The whole cache is
 * dropped when the main file or /etc/passwd or /etc/group changed: the
 * institutions' copies depend on the global values and on user and
 * group names.
 *
 * The institutions of an entry are shared (struct conf_shared, counted)
 * by the cache and every configuration built from them: a reload copies
 * the structures, not what they point to.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "p11dkim/strmap.h"
#include "conf_int.h"

/* The files whose change empties the whole cache. */
#define CONTEXT_FILES	3

/* How recent a change may be and its key still not trusted. */
#define RACY_MS		2000

struct entry {
	char	*path;			/* the key of the map */
	struct conf_filekey key;
	struct conf_shared *shared;
	unsigned seen;			/* the reading that last used it */
	int	 racy;			/* changed just before it was read */
};

struct conf_cache {
	struct entry *e;
	size_t	 n, cap;
	struct strmap *map;		/* path -> index in e */
	struct conf_filekey context[CONTEXT_FILES];
	unsigned reading;		/* how many readings so far */
	struct timespec began;		/* this reading's start, real time */
	unsigned racy_ms;		/* RACY_MS, unless a test says */
	size_t	 reused, parsed;	/* files, at the last reading */
};

/* conf_filekey_of - the key of a file from its stat */
void
conf_filekey_of(const struct stat *st, struct conf_filekey *k)
{
	memset(k, 0, sizeof(*k));
	k->dev = st->st_dev;
	k->ino = st->st_ino;
	k->size = st->st_size;
	k->mtime = st->st_mtim;
	k->ctime = st->st_ctim;
}

/* key_same - two keys of the same unchanged file? */
static int
key_same(const struct conf_filekey *a, const struct conf_filekey *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	    a->mtime.tv_sec == b->mtime.tv_sec &&
	    a->mtime.tv_nsec == b->mtime.tv_nsec &&
	    a->ctime.tv_sec == b->ctime.tv_sec &&
	    a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* conf_shared_new - room for n institutions, one reference (the caller's) */
struct conf_shared *
conf_shared_new(size_t n)
{
	struct conf_shared *s = calloc(1, sizeof(*s) + (n + 1) *
	    sizeof(s->inst[0]));

	if (s != NULL) {
		s->refs = 1;
		s->n = n;
	}
	return s;
}

/* conf_shared_release - one reference less; freed with the last */
void
conf_shared_release(struct conf_shared *s)
{
	if (s == NULL || --s->refs > 0)
		return;
	for (size_t k = 0; k < s->n; k++)
		conf_institution_free(&s->inst[k]);
	free(s);
}

/* conf_cache_new - an empty cache; NULL: no memory */
struct conf_cache *
conf_cache_new(void)
{
	struct conf_cache *cc = calloc(1, sizeof(*cc));

	if (cc != NULL && (cc->map = strmap_new(64)) == NULL) {
		free(cc);
		return NULL;
	}
	if (cc != NULL)
		cc->racy_ms = RACY_MS;
	return cc;
}

/* drop_entries - every entry */
static void
drop_entries(struct conf_cache *cc)
{
	for (size_t k = 0; k < cc->n; k++) {
		conf_shared_release(cc->e[k].shared);
		free(cc->e[k].path);
	}
	cc->n = 0;
}

/* conf_cache_free - NULL is fine; returns NULL */
struct conf_cache *
conf_cache_free(struct conf_cache *cc)
{
	if (cc == NULL)
		return NULL;
	drop_entries(cc);
	free(cc->e);
	strmap_free(cc->map);
	free(cc);
	return NULL;
}

/* context_key - the key of a file the cache depends on (zero if absent) */
static void
context_key(const char *path, struct conf_filekey *k)
{
	struct stat st;

	memset(k, 0, sizeof(*k));
	if (stat(path, &st) == 0)
		conf_filekey_of(&st, k);
}

/*
 * conf_cache_begin - a new reading of main_path: the cache emptied if
 * what every entry depends on changed.  -1: no memory (then the cache is
 * empty, and still usable).
 */
int
conf_cache_begin(struct conf_cache *cc, const char *main_path)
{
	struct conf_filekey now[CONTEXT_FILES];
	int	 same = 1;

	context_key(main_path, &now[0]);
	context_key("/etc/passwd", &now[1]);
	context_key("/etc/group", &now[2]);
	for (int k = 0; k < CONTEXT_FILES; k++)
		same = same && key_same(&now[k], &cc->context[k]);
	memcpy(cc->context, now, sizeof(now));
	clock_gettime(CLOCK_REALTIME, &cc->began);
	cc->reading++;
	cc->reused = cc->parsed = 0;
	if (same && cc->map != NULL)
		return 0;
	drop_entries(cc);
	strmap_free(cc->map);
	return (cc->map = strmap_new(64)) == NULL ? -1 : 0;
}

/* conf_cache_get - the institutions of path if its key is unchanged */
struct conf_shared *
conf_cache_get(struct conf_cache *cc, const char *path,
    const struct conf_filekey *key)
{
	uint32_t i;

	if (cc->map == NULL || !strmap_get(cc->map, path, &i) ||
	    cc->e[i].racy || !key_same(&cc->e[i].key, key) ||
	    cc->e[i].seen == cc->reading)
		return NULL;	/* a file named twice is read twice */
	cc->e[i].seen = cc->reading;
	cc->reused++;
	return cc->e[i].shared;
}

/* new_entry - an entry for path, in the map; NULL: no memory */
static struct entry *
new_entry(struct conf_cache *cc, const char *path)
{
	struct entry *more, *e;

	if (cc->n == cc->cap) {
		size_t cap = cc->cap ? 2 * cc->cap : 64;

		if ((more = realloc(cc->e, cap * sizeof(*more))) == NULL)
			return NULL;
		cc->e = more;
		cc->cap = cap;
	}
	e = &cc->e[cc->n];
	memset(e, 0, sizeof(*e));
	if ((e->path = strdup(path)) == NULL)
		return NULL;
	if (strmap_put(cc->map, e->path, (uint32_t)cc->n, NULL) != 0) {
		free(e->path);
		return NULL;
	}
	cc->n++;
	return e;
}

/* racy - was the file changed too close to this reading to trust its key? */
static int
racy(const struct conf_cache *cc, const struct conf_filekey *key)
{
	long long began = (long long)cc->began.tv_sec * 1000 +
	    cc->began.tv_nsec / 1000000;
	long long changed = (long long)key->ctime.tv_sec * 1000 +
	    key->ctime.tv_nsec / 1000000;

	return changed + cc->racy_ms >= began;
}

/*
 * conf_cache_put - path read now under key: s (one more reference taken)
 * replaces what the cache had.  No memory: the file is simply not kept.
 */
void
conf_cache_put(struct conf_cache *cc, const char *path,
    const struct conf_filekey *key, struct conf_shared *s)
{
	struct entry *e;
	uint32_t i;

	cc->parsed++;
	if (cc->map == NULL)
		return;
	if (strmap_get(cc->map, path, &i))
		e = &cc->e[i];
	else if ((e = new_entry(cc, path)) == NULL)
		return;
	conf_shared_release(e->shared);
	s->refs++;
	e->shared = s;
	e->key = *key;
	e->seen = cc->reading;
	e->racy = racy(cc, key);
}

/*
 * conf_cache_end - after a reading that went through every file: the
 * entries of files it did not name (removed) are dropped
 */
void
conf_cache_end(struct conf_cache *cc)
{
	struct strmap *map;
	size_t	 kept = 0;

	if ((map = strmap_new(cc->n)) == NULL)
		return;		/* keep them: harmless, named by no file */
	for (size_t k = 0; k < cc->n; k++) {
		if (cc->e[k].seen != cc->reading) {
			conf_shared_release(cc->e[k].shared);
			free(cc->e[k].path);
			continue;
		}
		cc->e[kept] = cc->e[k];
		(void)strmap_put(map, cc->e[kept].path, (uint32_t)kept, NULL);
		kept++;
	}
	cc->n = kept;
	strmap_free(cc->map);
	cc->map = map;
}

/* conf_cache_racy_ms - how recent a change may be and not trusted */
void
conf_cache_racy_ms(struct conf_cache *cc, unsigned ms)
{
	cc->racy_ms = ms;
}

/* conf_cache_counts - files taken from the cache and parsed, last reading */
void
conf_cache_counts(const struct conf_cache *cc, size_t *reused,
    size_t *parsed)
{
	*reused = cc->reused;
	*parsed = cc->parsed;
}
