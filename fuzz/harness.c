/*
 * harness.c - what the fuzz targets share (see harness.h).
 */
#include <sys/mman.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* input_take - the next n bytes, or NULL when fewer are left */
const uint8_t *
input_take(struct input *in, size_t n)
{
	const uint8_t *p = in->p;

	if (in->left < n)
		return NULL;
	in->p += n;
	in->left -= n;
	return p;
}

/* input_u16 - the next two bytes as a number (big-endian); 0 at the end */
size_t
input_u16(struct input *in)
{
	const uint8_t *p = input_take(in, 2);

	return p ? (size_t)p[0] << 8 | p[1] : 0;
}

/* harness_conf - a configuration from text; aborts when it is refused */
struct conf *
harness_conf(const char *text, const char *target)
{
	char	 path[64], err[CONF_ERR_MAX];
	size_t	 n = strlen(text);
	int	 fd = memfd_create("conf", 0);
	struct conf *c;

	if (fd < 0 || write(fd, text, n) != (ssize_t)n)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if ((c = conf_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s: %s\n", target, err);
		abort();
	}
	close(fd);
	return c;
}

int	 harness_limited;

/* stand_in_sign - a fixed signature, or a refusal */
static void
stand_in_sign(struct signer *s, uint32_t key, enum dkim_alg alg,
    const unsigned char digest[DKIM_DIGEST_LEN], struct signer_reply *r)
{
	(void)s;
	(void)key;
	if (digest[0] == 0x42) {
		signer_reply_set(r, SIGNER_TEMP, "token unavailable");
		return;
	}
	if (digest[0] == 0x43) {
		harness_limited = 1;
		signer_reply_set(r, SIGNER_LIMIT, "rate limit: institution "
		    "mosa over 1 messages/s (burst 1); retry later");
		return;
	}
	r->len = alg == DKIM_ALG_ED25519_SHA256 ? 64 : 256;
	memset(r->sig, 0x5a, r->len);
	r->status = SIGNER_OK;
}

/* stand_in_free - nothing to free */
static void
stand_in_free(struct signer *s)
{
	(void)s;
}

static const struct signer_ops stand_in_ops = { stand_in_sign, stand_in_free, NULL,
	NULL };
struct signer harness_signer = { &stand_in_ops };
