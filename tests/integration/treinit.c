/*
 * treinit.c - sign, initialize the module again as the signer does after
 * a device error, and sign again: the module's init args (NSS softoken
 * wants its database there) must reach that C_Initialize too.
 *
 *   treinit MODULE TOKEN-LABEL PIN-FILE KEY-LABEL [INIT-ARGS]
 */
#include <stdio.h>
#include <string.h>

#include "p11dkim/token.h"

/* sign_once - one signature with the key, verified by the token layer */
static int
sign_once(struct token *tok, const char *label, struct p11_err *err)
{
	unsigned char digest[32], sig[P11_SIG_MAX];
	size_t	 len = sizeof(sig);
	struct p11_key *key;

	memset(digest, 0x5a, sizeof(digest));
	if ((key = token_key(tok, label, err)) == NULL)
		return -1;
	return p11_key_sign(key, digest, sig, &len, err);
}

int
main(int argc, char **argv)
{
	struct p11_module *mod;
	struct pin_source *pin;
	struct token *tok = NULL;
	struct p11_err err;
	int	 rc = 1;

	if (argc != 5 && argc != 6) {
		fprintf(stderr, "usage: treinit MODULE TOKEN PINFILE KEY "
		    "[INIT-ARGS]\n");
		return 64;
	}
	if ((mod = p11_module_load_args(argv[1], argc == 6 && argv[5][0] ?
	    argv[5] : NULL, &err)) == NULL ||
	    (pin = pin_source_file(argv[3], &err)) == NULL) {
		fprintf(stderr, "treinit: %s\n", err.msg);
		p11_module_free(mod);
		return 1;
	}
	if ((tok = token_open(mod, argv[2], NULL, pin, 1, &err)) == NULL ||
	    sign_once(tok, argv[4], &err) < 0)
		fprintf(stderr, "treinit: before: %s\n", err.msg);
	else if (p11_module_reinit(mod, p11_module_generation(mod), &err) < 0)
		fprintf(stderr, "treinit: %s\n", err.msg);
	else if (sign_once(tok, argv[4], &err) < 0)
		fprintf(stderr, "treinit: after: %s\n", err.msg);
	else {
		printf("signed, initialized the module again, signed again\n");
		rc = 0;
	}
	token_close(tok);
	p11_module_free(mod);
	return rc;
}
