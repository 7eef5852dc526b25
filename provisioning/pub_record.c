/*
 * pub_record.c - public key records, the file side (see
 * include/p11dkim/pub_record.h): where a record lives, its bounded
 * read, and the check of its bytes against the ceremony log's
 * fingerprint.
 *
 * Security notes: a record is opened with O_NOFOLLOW and read up to
 * PUB_RECORD_MAX bytes; a larger file is refused, not cut.  The
 * fingerprint is compared before the DER is parsed, so only bytes the
 * log vouches for reach the parser.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "p11dkim/pub_record.h"

/* say - a message into err; returns rc */
static int
say(char *err, size_t errlen, int rc, const char *msg, const char *path)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s: %s", path, msg);
	return rc;
}

/* pub_record_path - "<state_dir>/<code>.<selector>.spki" */
int
pub_record_path(const char *state_dir, const char *code, const char *selector,
    char *out, size_t len)
{
	int	 n = snprintf(out, len, "%s/%s.%s.spki", state_dir, code,
	    selector);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* read_all - up to max bytes and one more, to tell a file too large */
static ssize_t
read_all(int fd, unsigned char *buf, size_t max)
{
	size_t	 got = 0;
	ssize_t	 n;
	unsigned char extra;

	while (got < max && (n = read(fd, buf + got, max - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		got += (size_t)n;
	}
	while ((n = read(fd, &extra, 1)) < 0 && errno == EINTR)
		continue;
	if (n < 0)
		return -1;
	return n > 0 ? (ssize_t)max + 1 : (ssize_t)got;
}

/* pub_record_read - the record at path, bounded; 1, 0 none, -1 */
int
pub_record_read(const char *path, unsigned char *buf, size_t *len,
    char *err, size_t errlen)
{
	char	 why[128];
	ssize_t	 n;
	int	 fd;

	*len = 0;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return 0;
		return say(err, errlen, -1, strerror(errno), path);
	}
	n = read_all(fd, buf, PUB_RECORD_MAX);
	snprintf(why, sizeof(why), "%s", n < 0 ? strerror(errno) : "");
	(void)close(fd);		/* read-only */
	if (n < 0)
		return say(err, errlen, -1, why, path);
	if ((size_t)n > PUB_RECORD_MAX)
		return say(err, errlen, -1, "larger than a public key record "
		    "can be", path);
	*len = (size_t)n;
	return 1;
}

/* pub_record_fingerprint - hex SHA-256 of len bytes */
int
pub_record_fingerprint(const unsigned char *der, size_t len,
    char out[PUB_RECORD_FPR])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int mdlen = 0;

	out[0] = '\0';
	if (EVP_Digest(der, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != sizeof(md))
		return -1;
	for (size_t i = 0; i < sizeof(md); i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[64] = '\0';
	return 0;
}

/* pub_record_check - the fingerprint, then one SPKI of the right type */
enum pub_record_fault
pub_record_check(const unsigned char *der, size_t len, const char *want_fpr,
    int want_type, EVP_PKEY **out, char *err, size_t errlen)
{
	const unsigned char *p = der;
	char	 fpr[PUB_RECORD_FPR];
	EVP_PKEY *pk;

	*out = NULL;
	if (pub_record_fingerprint(der, len, fpr) < 0 ||
	    strcmp(fpr, want_fpr) != 0) {
		snprintf(err, errlen, "SHA-256 %s is not the fingerprint %s",
		    fpr[0] ? fpr : "(none)", want_fpr);
		return PUB_RECORD_MISMATCH;
	}
	pk = len <= PUB_RECORD_MAX ? d2i_PUBKEY(NULL, &p, (long)len) : NULL;
	if (pk != NULL && p != der + len) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
	if (pk == NULL) {
		snprintf(err, errlen, "not exactly one DER "
		    "SubjectPublicKeyInfo");
		return PUB_RECORD_BAD_DER;
	}
	if (EVP_PKEY_get_base_id(pk) != want_type) {
		EVP_PKEY_free(pk);
		snprintf(err, errlen, "not an %s key",
		    want_type == EVP_PKEY_ED25519 ? "Ed25519" : "RSA");
		return PUB_RECORD_WRONG_TYPE;
	}
	*out = pk;
	return PUB_RECORD_OK;
}

/* pub_record_encode - the DER SubjectPublicKeyInfo of pk */
int
pub_record_encode(EVP_PKEY *pk, unsigned char **der, size_t *len)
{
	int	 n;

	*der = NULL;
	if ((n = i2d_PUBKEY(pk, der)) <= 0)
		return -1;
	*len = (size_t)n;
	return 0;
}
