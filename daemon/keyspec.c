/*
 * keyspec.c - the signer's view of a keytab, and its transport (see
 * include/p11dkim/keyspec.h).
 *
 * Security: the signer trusts its parent, but still checks every record:
 * a table it cannot read is refused whole, never half applied.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "p11dkim/keyspec.h"

/* put - a bounded copy; -1 when src does not fit */
static int
put(char *dst, size_t len, const char *src)
{
	size_t	 n = strlen(src ? src : "");

	if (n >= len)
		return -1;
	memcpy(dst, src ? src : "", n + 1);
	return 0;
}

/* keyspec_build - the specs of a keytab, in its order */
int
keyspec_build(const struct keytab *t, struct keyspec **out, char *err,
    size_t errlen)
{
	struct keyspec *v = calloc(t->n + 1, sizeof(*v));

	*out = NULL;
	if (v == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t k = 0; k < t->n; k++) {
		const struct keytab_entry *e = &t->e[k];
		const struct conf_institution *i = e->inst;

		v[k].magic = KEYSPEC_MAGIC;
		v[k].alg = (uint32_t)e->alg;
		v[k].flags = (i->optional ? KEYSPEC_OPTIONAL : 0) |
		    (e->kind == CONF_KIND_DUAL ? KEYSPEC_SECOND : 0) |
		    (e->dual != KEYTAB_NONE ? KEYSPEC_FIRST : 0);
		v[k].quota = i->quota;
		quota_limits_fix(&v[k].quota);
		if (put(v[k].code, sizeof(v[k].code), i->code) < 0 ||
		    put(v[k].token_label, sizeof(v[k].token_label),
		    i->token_label) < 0 ||
		    put(v[k].token_serial, sizeof(v[k].token_serial),
		    i->token_serial) < 0 ||
		    put(v[k].pin, sizeof(v[k].pin), i->pin) < 0 ||
		    put(v[k].key_label, sizeof(v[k].key_label), e->key_label) <
		    0) {
			snprintf(err, errlen, "institution %s: a token label, "
			    "serial, PIN source or key label is too long",
			    i->code);
			free(v);
			return -1;
		}
	}
	*out = v;
	return 0;
}

/* keyspec_same_token - do two specs name the same token and PIN? */
int
keyspec_same_token(const struct keyspec *a, const struct keyspec *b)
{
	return strcmp(a->token_label, b->token_label) == 0 &&
	    strcmp(a->token_serial, b->token_serial) == 0 &&
	    strcmp(a->pin, b->pin) == 0;
}

/*
 * keyspec_same_key - do two specs name the same key on the same token?
 * (Its role and its institution's quota are the table's, not the key's.)
 */
int
keyspec_same_key(const struct keyspec *a, const struct keyspec *b)
{
	return keyspec_same_token(a, b) && a->alg == b->alg &&
	    (a->flags & ~KEYSPEC_ROLES) == (b->flags & ~KEYSPEC_ROLES) && strcmp(a->key_label, b->key_label) == 0 &&
	    strcmp(a->code, b->code) == 0;
}

/* terminated - a NUL within the field */
static int
terminated(const char *field, size_t len)
{
	return memchr(field, '\0', len) != NULL;
}

/* keyspec_request_check - may key number key (spec s) sign with alg? */
int
keyspec_request_check(const struct keyspec *s, uint32_t key, uint32_t alg,
    char *why, size_t len)
{
	if (s == NULL) {
		snprintf(why, len, "no key number %u", key);
		return -1;
	}
	if (alg != DKIM_ALG_RSA_SHA256 && alg != DKIM_ALG_ED25519_SHA256) {
		snprintf(why, len, "no algorithm number %u", alg);
		return -1;
	}
	if (alg != s->alg) {
		snprintf(why, len, "key %u is not for %s", key,
		    dkim_alg_name((enum dkim_alg)alg));
		return -1;
	}
	return 0;
}

/* keyspec_check - one record received: 0, or -1 and why */
int
keyspec_check(const struct keyspec *s, char *err, size_t errlen)
{
	const char *why = NULL;

	if (s->magic != KEYSPEC_MAGIC)
		why = "bad magic number";
	else if (s->alg != DKIM_ALG_RSA_SHA256 &&
	    s->alg != DKIM_ALG_ED25519_SHA256)
		why = "unknown algorithm";
	else if (!terminated(s->code, sizeof(s->code)) || s->code[0] == '\0' ||
	    !terminated(s->token_label, sizeof(s->token_label)) ||
	    s->token_label[0] == '\0' ||
	    !terminated(s->token_serial, sizeof(s->token_serial)) ||
	    !terminated(s->pin, sizeof(s->pin)) || s->pin[0] == '\0' ||
	    !terminated(s->key_label, sizeof(s->key_label)) ||
	    s->key_label[0] == '\0')
		why = "a field is empty or not terminated";
	else if ((s->flags & ~(KEYSPEC_OPTIONAL | KEYSPEC_ROLES)) != 0 ||
	    (s->flags & KEYSPEC_ROLES) == KEYSPEC_ROLES)
		why = "unknown flags";
	else if (!quota_limits_ok(&s->quota) ||
	    (s->quota.rate > 0 && s->quota.burst == 0))
		why = "quota out of range";
	if (why == NULL)
		return 0;
	snprintf(err, errlen, "key table record: %s", why);
	return -1;
}

/* keyspec_to_fd - n specs in a new sealed memfd, read from its start */
int
keyspec_to_fd(const struct keyspec *v, size_t n)
{
	size_t	 len = n * sizeof(*v), done = 0;
	ssize_t	 w;
	int	 fd, e;

	if ((fd = memfd_create("p11dkim-keys", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING)) < 0)
		return -1;
	while (done < len) {
		if ((w = write(fd, (const char *)v + done, len - done)) < 0 &&
		    errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		done += (size_t)w;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_WRITE | F_SEAL_SEAL) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		goto fail;
	return fd;
fail:
	e = errno;
	close(fd);
	errno = e ? e : EIO;
	return -1;
}

/* keyspec_from_fd - every spec of a memfd from keyspec_to_fd, checked */
int
keyspec_from_fd(int fd, struct keyspec **out, size_t *n, char *err,
    size_t errlen)
{
	struct keyspec *v;
	struct stat st;
	size_t	 count;
	ssize_t	 r;

	*out = NULL;
	*n = 0;
	if (fstat(fd, &st) < 0 || st.st_size < 0 ||
	    (size_t)st.st_size % sizeof(*v) != 0 ||
	    (count = (size_t)st.st_size / sizeof(*v)) > KEYSPEC_MAX) {
		snprintf(err, errlen, "key table: not a whole number of "
		    "records, or too many");
		return -1;
	}
	if ((v = calloc(count + 1, sizeof(*v))) == NULL) {
		snprintf(err, errlen, "key table: out of memory");
		return -1;
	}
	if (count > 0 && ((r = pread(fd, v, count * sizeof(*v), 0)) < 0 ||
	    (size_t)r != count * sizeof(*v))) {
		snprintf(err, errlen, "key table: short read");
		free(v);
		return -1;
	}
	for (size_t k = 0; k < count; k++)
		if (keyspec_check(&v[k], err, errlen) < 0) {
			free(v);
			return -1;
		}
	*out = v;
	*n = count;
	return 0;
}
