/*
 * harness.h - what the fuzz targets share: an input read piece by
 * piece, a configuration from text, and a stand-in signer.
 */
#ifndef P11DKIM_FUZZ_HARNESS_H
#define P11DKIM_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "p11dkim/conf.h"
#include "p11dkim/signer.h"

struct input {
	const uint8_t *p;
	size_t	 left;
};

/* input_take - the next n bytes, or NULL when fewer are left */
const uint8_t *input_take(struct input *, size_t n);

/* input_u16 - the next two bytes as a number (big-endian); 0 at the end */
size_t	input_u16(struct input *);

/* harness_conf - a configuration from text; aborts when it is refused */
struct conf *harness_conf(const char *text, const char *target);

/*
 * harness_signer - a stand-in signer: 256 bytes (64 for Ed25519) of
 * 0x5a, a temporary failure when the digest starts with 0x42, the
 * institution's quota spent (SIGNER_LIMIT, and harness_limited set) when
 * it starts with 0x43
 */
extern struct signer harness_signer;
extern int harness_limited;

#endif
