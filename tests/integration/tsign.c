/*
 * tsign.c - sign a SHA-256 digest through the token layer, for the
 * integration tests to verify with OpenSSL and the key from `dns`.
 *
 *   tsign MODULE TOKEN-LABEL PIN-FILE KEY-LABEL DIGEST-FILE SIG-FILE
 */
#include <stdio.h>
#include <string.h>

#include "p11dkim/token.h"

int
main(int argc, char **argv)
{
	unsigned char digest[32], sig[P11_SIG_MAX];
	size_t	 len = sizeof(sig);
	struct p11_module *mod;
	struct pin_source *pin;
	struct token *tok;
	struct p11_key *key;
	struct p11_err err;
	FILE	*f;
	int	 rc = 1;

	if (argc != 7) {
		fprintf(stderr, "usage: tsign MODULE TOKEN PINFILE KEY DIGEST "
		    "SIG\n");
		return 64;
	}
	if ((f = fopen(argv[5], "rb")) == NULL ||
	    fread(digest, 1, 32, f) != 32) {
		fprintf(stderr, "tsign: %s: need 32 bytes\n", argv[5]);
		return 1;
	}
	fclose(f);
	if ((mod = p11_module_load(argv[1], &err)) == NULL ||
	    (pin = pin_source_file(argv[3], &err)) == NULL) {
		fprintf(stderr, "tsign: %s\n", err.msg);
		return 1;
	}
	if ((tok = token_open(mod, argv[2], NULL, pin, 1, &err)) != NULL &&
	    (key = token_key(tok, argv[4], &err)) != NULL &&
	    p11_key_sign(key, digest, sig, &len, &err) == 0 &&
	    (f = fopen(argv[6], "wb")) != NULL) {
		rc = fwrite(sig, 1, len, f) == len && fclose(f) == 0 ? 0 : 1;
	} else {
		fprintf(stderr, "tsign: %s\n", err.msg);
	}
	token_close(tok);
	p11_module_free(mod);
	return rc;
}
