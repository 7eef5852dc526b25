/*
 * fuzz_message.c - libFuzzer target for the signing core (dkim/): any
 * input is a message, signed rsa-sha256 for a fixed domain and selector
 * in both canonicalizations (simple/simple, then relaxed/relaxed).
 *
 * The first input byte says where the rest is cut in two for
 * dkim_sign_update(), so chunk boundaries are fuzzed too.  The private
 * key operation is a callback that returns a fixed 256-byte signature.
 * Besides crashes and leaks, it checks what the core promises: a signed
 * message yields one header field per signature that starts with
 * "DKIM-Signature: ", ends with CRLF, has no NUL, no bare CR or LF and
 * every line after the first folded (starting with white space); a
 * refusal carries a status and a message.  A violation aborts.
 *
 *   make -C fuzz && fuzz/build/fuzz_message fuzz/corpus/fuzz_message
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p11dkim/dkim_sign.h"

#define FIELD_NAME	"DKIM-Signature: "
#define RSA_SIG_LEN	256		/* an RSA-2048 signature */
#define FIXED_NOW	1700000000	/* t=, so runs repeat exactly */

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* fixed_sign - the "token": 256 bytes of 0x5a whatever the digest */
static int
fixed_sign(void *arg, const struct dkim_sign_params *params,
    const unsigned char digest[DKIM_DIGEST_LEN], unsigned char *sig,
    size_t *siglen, struct dkim_err *err)
{
	(void)arg;
	(void)params;
	(void)digest;
	if (*siglen < RSA_SIG_LEN)
		return dkim_err_set(err, DKIM_ESIGN_PERM, "no room for the "
		    "signature (%zu bytes)", *siglen);
	memset(sig, 0x5a, RSA_SIG_LEN);
	*siglen = RSA_SIG_LEN;
	return 0;
}

/* field_check - one signed header field, as dkim_sign_field promises */
static void
field_check(const char *field, size_t len)
{
	size_t	 name = sizeof(FIELD_NAME) - 1;

	if (field == NULL || len < name + 2 ||
	    memcmp(field, FIELD_NAME, name) != 0 ||
	    memcmp(field + len - 2, "\r\n", 2) != 0 ||
	    memchr(field, '\0', len) != NULL || field[len] != '\0')
		abort();
	for (size_t i = 0; i < len; i++) {
		if (field[i] == '\r' && field[i + 1] != '\n')
			abort();		/* bare CR */
		if (field[i] == '\n' && field[i - 1] != '\r')
			abort();		/* bare LF */
		if (field[i] == '\n' && i + 1 < len && field[i + 1] != ' ' &&
		    field[i + 1] != '\t')
			abort();		/* a line that is not folded */
	}
}

/* fail_check - a refusal says what and why */
static void
fail_check(const struct dkim_err *err)
{
	if (err->status == DKIM_OK || err->msg[0] == '\0' ||
	    memchr(err->msg, '\0', sizeof(err->msg)) == NULL)
		abort();
}

/* sign_once - the message in two chunks, cut at split, in one c= pair */
static void
sign_once(const char *msg, size_t len, size_t split, enum dkim_canon canon)
{
	struct dkim_sign_params params;
	struct dkim_sign *ctx;
	struct dkim_err err;
	const char *field;
	size_t	 flen = 0;

	memset(&params, 0, sizeof(params));
	params.alg = DKIM_ALG_RSA_SHA256;
	params.hcanon = canon;
	params.bcanon = canon;
	params.domain = "example.org";
	params.selector = "sel1";
	params.now = FIXED_NOW;
	memset(&err, 0, sizeof(err));
	if ((ctx = dkim_sign_new(NULL, &err)) == NULL) {
		fail_check(&err);
		return;
	}
	if (dkim_sign_add(ctx, &params, &err) < 0 ||
	    dkim_sign_update(ctx, msg, split, &err) < 0 ||
	    dkim_sign_update(ctx, msg + split, len - split, &err) < 0 ||
	    dkim_sign_finish(ctx, fixed_sign, NULL, &err) < 0) {
		fail_check(&err);
	} else {
		if (dkim_sign_count(ctx) != 1)
			abort();
		field = dkim_sign_field(ctx, 0, &flen);
		field_check(field, flen);
	}
	(void)dkim_sign_free(ctx);
}

/* LLVMFuzzerTestOneInput - byte 0: where to cut; the rest: the message */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *msg;
	size_t	 len, split;

	if (size == 0)
		return 0;
	msg = (const char *)data + 1;
	len = size - 1;
	split = data[0] % (len + 1);
	sign_once(msg, len, split, DKIM_CANON_SIMPLE);
	sign_once(msg, len, split, DKIM_CANON_RELAXED);
	return 0;
}
