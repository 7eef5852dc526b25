/*
 * xsign.c - sign a corpus with software keys through the signing core's
 * callback interface, for verification by independent verifiers.
 *
 *   xsign -o OUTDIR FILE...    sign every FILE with rsa-sha256 and
 *                              ed25519-sha256 in all four c= pairs, and once
 *                              with both (rsa-4096 + ed25519); write the
 *                              signed messages in wire form (CRLF) and the
 *                              key table OUTDIR/keys.txt
 *   xsign -r FILE...           every FILE must be refused as a bad message
 *
 * The keys are made fresh in memory on each run; only their public
 * halves are written out.  Messages are fed in pseudo-random chunks.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "p11dkim/buf.h"
#include "p11dkim/dkim_sign.h"

#define DOMAIN		"example.org"
#define FILE_MAX	(64 * 1024 * 1024)

struct keys {
	EVP_PKEY *rsa2048, *rsa4096, *ed25519;
};

/* die - report and exit */
static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	fputs("xsign: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* soft_sign - the callback: RSASSA-PKCS1-v1_5 or PureEdDSA over digest */
static int
soft_sign(void *arg, const struct dkim_sign_params *p,
    const unsigned char digest[DKIM_DIGEST_LEN], unsigned char *sig,
    size_t *siglen, struct dkim_err *err)
{
	EVP_PKEY *key = p->key;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD_CTX *md = NULL;
	int	 ok;

	(void)arg;
	if (p->alg == DKIM_ALG_RSA_SHA256) {
		ok = (pctx = EVP_PKEY_CTX_new(key, NULL)) != NULL &&
		    EVP_PKEY_sign_init(pctx) == 1 &&
		    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1 &&
		    EVP_PKEY_CTX_set_signature_md(pctx, EVP_sha256()) == 1 &&
		    EVP_PKEY_sign(pctx, sig, siglen, digest,
		    DKIM_DIGEST_LEN) == 1;
	} else {
		ok = (md = EVP_MD_CTX_new()) != NULL &&
		    EVP_DigestSignInit(md, NULL, NULL, NULL, key) == 1 &&
		    EVP_DigestSign(md, sig, siglen, digest,
		    DKIM_DIGEST_LEN) == 1;
	}
	EVP_PKEY_CTX_free(pctx);
	EVP_MD_CTX_free(md);
	if (!ok)
		return dkim_err_set(err, DKIM_ESIGN_PERM, "software sign "
		    "failed");
	return 0;
}

/* b64 - base64 of n bytes, newly allocated */
static char *
b64(const unsigned char *p, size_t n)
{
	char	*out = malloc(4 * ((n + 2) / 3) + 1);

	if (out == NULL || EVP_EncodeBlock((unsigned char *)out, p, (int)n) < 0)
		die("base64: out of memory");
	return out;
}

/* key_record - the DNS TXT text of a public key (RFC 6376 3.6.1, 8463) */
static char *
key_record(EVP_PKEY *key)
{
	unsigned char raw[32], *der = NULL;
	size_t	 rawlen = sizeof(raw);
	char	*p, *rec;
	int	 n;

	if (EVP_PKEY_is_a(key, "ED25519")) {
		if (EVP_PKEY_get_raw_public_key(key, raw, &rawlen) != 1)
			die("ed25519 public key");
		p = b64(raw, rawlen);
		n = asprintf(&rec, "v=DKIM1; k=ed25519; p=%s", p);
	} else {
		int len = i2d_PUBKEY(key, &der);

		if (len <= 0)
			die("rsa public key");
		p = b64(der, (size_t)len);
		OPENSSL_free(der);
		n = asprintf(&rec, "v=DKIM1; k=rsa; p=%s", p);
	}
	free(p);
	if (n < 0)
		die("out of memory");
	return rec;
}

/* make_keys - fresh keys, and the key table OUTDIR/keys.txt */
static void
make_keys(struct keys *k, const char *outdir)
{
	char	 path[4096], *r1, *r2, *r3;
	FILE	*f;

	k->rsa2048 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	k->rsa4096 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
	k->ed25519 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!k->rsa2048 || !k->rsa4096 || !k->ed25519)
		die("key generation failed");
	snprintf(path, sizeof(path), "%s/keys.txt", outdir);
	if ((f = fopen(path, "w")) == NULL)
		die("%s: %s", path, strerror(errno));
	r1 = key_record(k->rsa2048);
	r2 = key_record(k->rsa4096);
	r3 = key_record(k->ed25519);
	fprintf(f, "rsa2048._domainkey.%s %s\n", DOMAIN, r1);
	fprintf(f, "rsa4096._domainkey.%s %s\n", DOMAIN, r2);
	fprintf(f, "ed25519._domainkey.%s %s\n", DOMAIN, r3);
	free(r1);
	free(r2);
	free(r3);
	if (fclose(f) != 0)
		die("%s: %s", path, strerror(errno));
}

/* read_file - a whole file */
static void
read_file(const char *path, struct buf *b)
{
	char	 chunk[65536];
	size_t	 n;
	FILE	*f = fopen(path, "rb");

	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	buf_init(b, FILE_MAX);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(b, chunk, n) < 0)
			die("%s: too large", path);
	if (ferror(f))
		die("%s: read error", path);
	fclose(f);
}

/* sign_message - sign msg with the signatures in p[0..n); feeds chunks */
static struct dkim_sign *
sign_message(const struct buf *msg, const struct dkim_sign_params *p,
    size_t n, unsigned seed, struct dkim_err *err)
{
	struct dkim_sign *ctx = dkim_sign_new(NULL, err);
	size_t	 at = 0, len;

	if (ctx == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (dkim_sign_add(ctx, &p[i], err) < 0)
			return dkim_sign_free(ctx);
	while (at < msg->len) {
		seed = seed * 1103515245u + 12345u;
		len = 1 + (seed >> 8) % 8192;
		if (len > msg->len - at)
			len = msg->len - at;
		if (dkim_sign_update(ctx, msg->data + at, len, err) < 0)
			return dkim_sign_free(ctx);
		at += len;
	}
	if (dkim_sign_finish(ctx, soft_sign, NULL, err) < 0)
		return dkim_sign_free(ctx);
	return ctx;
}

/*
 * write_wire - the signature fields, then the message as SMTP carries it:
 * bare LF turned into CRLF, and a final CRLF when the message lacks one.
 */
static void
write_wire(const char *path, const struct dkim_sign *ctx,
    const struct buf *msg)
{
	FILE	*f = fopen(path, "wb");
	size_t	 i;

	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	for (i = 0; i < dkim_sign_count(ctx); i++)
		fputs(dkim_sign_field(ctx, i, NULL), f);
	for (i = 0; i < msg->len; i++) {
		if (msg->data[i] == '\n' && (i == 0 || msg->data[i - 1] != '\r'))
			fputc('\r', f);
		fputc(msg->data[i], f);
	}
	if (msg->len < 2 || memcmp(msg->data + msg->len - 2, "\r\n", 2) != 0) {
		if (msg->len > 0 && msg->data[msg->len - 1] == '\n')
			;			/* bare LF, already a CRLF */
		else
			fputs("\r\n", f);
	}
	if (fclose(f) != 0)
		die("%s: %s", path, strerror(errno));
}

/* base_name - file name without folders and without .eml */
static void
base_name(const char *path, char *out, size_t len)
{
	const char *slash = strrchr(path, '/');
	char	*dot;

	snprintf(out, len, "%s", slash ? slash + 1 : path);
	if ((dot = strstr(out, ".eml")) != NULL)
		*dot = '\0';
}

/* sign_one - all variants of one message */
static int
sign_one(const char *path, const struct keys *k, const char *outdir,
    unsigned seed)
{
	static const char *const canon[] = { "simple", "relaxed" };
	struct dkim_sign_params p[2];
	struct dkim_sign *ctx;
	struct dkim_err err;
	struct buf msg;
	char	 base[256], out[4096];

	read_file(path, &msg);
	base_name(path, base, sizeof(base));
	for (int v = 0; v < 9; v++) {
		size_t n = 1;

		memset(p, 0, sizeof(p));
		p[0].domain = p[1].domain = DOMAIN;
		if (v < 8) {
			int ed = v >= 4;

			p[0].alg = ed ? DKIM_ALG_ED25519_SHA256 :
			    DKIM_ALG_RSA_SHA256;
			p[0].selector = ed ? "ed25519" : "rsa2048";
			p[0].key = ed ? k->ed25519 : k->rsa2048;
			p[0].hcanon = (v & 1) ? DKIM_CANON_RELAXED :
			    DKIM_CANON_SIMPLE;
			p[0].bcanon = (v & 2) ? DKIM_CANON_RELAXED :
			    DKIM_CANON_SIMPLE;
			snprintf(out, sizeof(out), "%s/%s.%s.%s-%s.eml", outdir,
			    base, ed ? "ed" : "rsa", canon[(v & 1)],
			    canon[(v & 2) >> 1]);
		} else {
			p[0].alg = DKIM_ALG_RSA_SHA256;
			p[0].selector = "rsa4096";
			p[0].key = k->rsa4096;
			p[0].identity = "@" DOMAIN;
			p[0].expire_secs = 7 * 86400;
			p[1] = p[0];
			p[1].alg = DKIM_ALG_ED25519_SHA256;
			p[1].selector = "ed25519";
			p[1].key = k->ed25519;
			n = 2;
			snprintf(out, sizeof(out), "%s/%s.dual.eml", outdir,
			    base);
		}
		if ((ctx = sign_message(&msg, p, n, seed + (unsigned)v,
		    &err)) == NULL) {
			fprintf(stderr, "xsign: %s: %s\n", path, err.msg);
			buf_release(&msg);
			return -1;
		}
		write_wire(out, ctx, &msg);
		dkim_sign_free(ctx);
	}
	buf_release(&msg);
	return 0;
}

/* refuse_one - a bad message must be refused as such */
static int
refuse_one(const char *path, const struct keys *k)
{
	struct dkim_sign_params p = { .alg = DKIM_ALG_RSA_SHA256,
	    .domain = DOMAIN, .selector = "rsa2048", .key = k->rsa2048 };
	struct dkim_sign *ctx;
	struct dkim_err err;
	struct buf msg;
	int	 rc = 0;

	read_file(path, &msg);
	if ((ctx = sign_message(&msg, &p, 1, 1, &err)) != NULL) {
		printf("FAIL %s: was signed\n", path);
		dkim_sign_free(ctx);
		rc = -1;
	} else if (err.status != DKIM_EMESSAGE) {
		printf("FAIL %s: refused as '%s', not as a bad message: %s\n",
		    path, dkim_status_name(err.status), err.msg);
		rc = -1;
	} else {
		printf("PASS %s (refused: %s)\n", path, err.msg);
	}
	buf_release(&msg);
	return rc;
}

int
main(int argc, char **argv)
{
	struct keys k;
	const char *outdir = NULL;
	int	 c, refuse = 0, passed = 0, failed = 0;

	while ((c = getopt(argc, argv, "o:r")) != -1) {
		switch (c) {
		case 'o':
			outdir = optarg;
			break;
		case 'r':
			refuse = 1;
			break;
		default:
			die("usage: xsign -o OUTDIR FILE... | xsign -r FILE...");
		}
	}
	if ((!refuse && outdir == NULL) || optind == argc)
		die("usage: xsign -o OUTDIR FILE... | xsign -r FILE...");
	if (refuse) {
		k.rsa2048 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		if (k.rsa2048 == NULL)
			die("key generation failed");
	} else {
		make_keys(&k, outdir);
	}
	for (int i = optind; i < argc; i++) {
		int rc = refuse ? refuse_one(argv[i], &k) :
		    sign_one(argv[i], &k, outdir, (unsigned)i * 7919u);

		if (rc == 0)
			passed++;
		else
			failed++;
	}
	printf("xsign%s: %d passed, %d failed\n", refuse ? " refusals" : "",
	    passed, failed);
	EVP_PKEY_free(k.rsa2048);
	if (!refuse) {
		EVP_PKEY_free(k.rsa4096);
		EVP_PKEY_free(k.ed25519);
	}
	return failed ? 1 : 0;
}
