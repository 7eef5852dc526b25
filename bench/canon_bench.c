/*
 * canon_bench.c - throughput of body canonicalization + SHA-256, compared
 * with raw SHA-256 of the same bytes measured in the same run.
 *
 * Bodies are made in memory by a fixed-seed PRNG, so every run hashes the
 * same bytes: mail text (words, single spaces, 60-76 character lines
 * ending in CRLF, an empty line between paragraphs, rarely a double or a
 * trailing space) and base64 attachment text (76-character lines).  Each
 * body is fed in 64 KiB chunks through canon_body_*() into a SHA-256
 * sink, once with relaxed and once with simple canonicalization, and
 * hashed raw in 64 KiB chunks as the baseline.  Trials of the three are
 * interleaved and the best throughput of each is kept, so frequency
 * changes and noise hit all three alike.
 *
 * Before timing, each body is checked (untimed): fed in 1-byte, 7-byte,
 * 64 KiB and whole chunks, the canonicalizer gives the same digest; the
 * simple form of a generated body is the body itself, and so is the
 * relaxed form of a base64 body (no whitespace), so those digests must
 * equal the raw one.  Any mismatch is an error: exit status 1.
 *
 * The target line (relaxed >= 60% of raw, worst text body) is reported,
 * not enforced: the exit status is 0 whatever the ratios.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "p11dkim/canon_body.h"

#define MIB		((size_t)1024 * 1024)
#define BENCH_CHUNK	((size_t)64 * 1024)
#define MAX_SIZES	8
#define MAX_SIZE_MIB	4096
#define TARGET_PCT	60.0
#define SEED		0x5eed0fd1c1a55e5ULL

#define TEXT_MIN	60	/* shortest generated text line */
#define TEXT_MAX	76	/* longest, before a rare trailing SP */
#define TEXT_ROOM	(TEXT_MAX + 1 + 2 + 2)	/* + SP, CRLF, empty line */
#define B64_LINE	76

enum body_kind {
	BODY_TEXT,
	BODY_BASE64
};

struct body {
	enum body_kind kind;
	size_t	 mib;		/* nominal size */
	char	*data;
	size_t	 len;		/* actual size, at most mib MiB */
};

struct hash {
	EVP_MD	*md;		/* SHA-256, fetched once */
	EVP_MD_CTX *ctx;	/* reused by every run */
};

/* What one timed run does: hash raw, or canonicalize and hash. */
struct job {
	const char *name;
	int	 canon;
	enum dkim_canon mode;
};

static const struct job jobs[] = {
	{ "raw", 0, DKIM_CANON_SIMPLE },
	{ "relaxed", 1, DKIM_CANON_RELAXED },
	{ "simple", 1, DKIM_CANON_SIMPLE },
};
#define NJOBS	(sizeof(jobs) / sizeof(jobs[0]))

struct opts {
	int	 quick;
	int	 trials;	/* best of this many */
	double	 min_trial_s;	/* each trial repeats a run this long */
	size_t	 sizes[MAX_SIZES];
	size_t	 nsizes;
};

/* Running worst relaxed/raw ratio over the text bodies. */
struct verdict {
	double	 worst_pct;
	int	 seen;
};

struct rng {
	uint64_t s;
};

static const char *const vocab[] = {
	"the", "a", "to", "of", "and", "in", "is", "for", "on", "we", "you",
	"it", "this", "that", "with", "be", "as", "at", "by", "not", "are",
	"have", "will", "can", "from", "our", "your", "all", "please",
	"meeting", "report", "attached", "thanks,", "regards,", "Hello",
	"tomorrow", "schedule", "project", "question", "review.", "update",
	"customer", "should", "would", "about", "before", "after", "server",
	"message", "delivery", "signature", "domain,", "configuration",
	"Monday", "week.", "team", "I", "see", "let", "me", "know", "if",
	"there", "any", "changes", "done.",
};
#define NVOCAB	(sizeof(vocab) / sizeof(vocab[0]))

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void fatalx(const char *, ...)
    __attribute__((__noreturn__, __format__(__printf__, 1, 2)));
static void fatal_ssl(const char *) __attribute__((__noreturn__));

/* fatalx - report an error and exit 1 */
static void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "canon_bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

/* fatal_ssl - report a failed OpenSSL call with its error queue, exit 1 */
static void
fatal_ssl(const char *what)
{
	fprintf(stderr, "canon_bench: %s failed\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

/* rng_next - splitmix64: fast, fixed-seed, good enough for test data */
static uint64_t
rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* rng_below - a number in [0, n); the modulo bias does not matter here */
static size_t
rng_below(struct rng *r, size_t n)
{
	return (size_t)(rng_next(r) % n);
}

/* put_crlf - write CRLF at buf[len]; returns the new length */
static size_t
put_crlf(char *buf, size_t len)
{
	buf[len] = '\r';
	buf[len + 1] = '\n';
	return len + 2;
}

/*
 * text_line - one line of words, TEXT_MIN to TEXT_MAX characters, with
 * CRLF; 1 word gap in 256 is a double space, 1 line in 64 has a trailing
 * space.  Writes at most TEXT_MAX + 3 bytes; returns how many.
 */
static size_t
text_line(struct rng *r, char *out)
{
	size_t	 len = 0, gap, wlen, target;
	const char *w;

	target = TEXT_MIN + rng_below(r, TEXT_MAX - TEXT_MIN + 1);

	while (len < target) {
		w = vocab[rng_below(r, NVOCAB)];
		wlen = strlen(w);
		gap = len == 0 ? 0 : rng_below(r, 256) == 0 ? 2 : 1;
		if (len + gap + wlen > TEXT_MAX)
			break;
		memset(out + len, ' ', gap);
		memcpy(out + len + gap, w, wlen);
		len += gap + wlen;
	}
	if (rng_below(r, 64) == 0)
		out[len++] = ' ';
	return put_crlf(out, len);
}

/*
 * last_line - fill buf[len, size) with one line of alphabet characters
 * and CRLF, so the body ends with a non-empty line; with fewer than 3
 * bytes left the body is left that much shorter.  Returns the length.
 */
static size_t
last_line(struct rng *r, char *buf, size_t len, size_t size,
    const char *alphabet)
{
	size_t	 n = strlen(alphabet);

	if (size - len < 3)
		return len;
	while (len < size - 2)
		buf[len++] = alphabet[rng_below(r, n)];
	return put_crlf(buf, len);
}

/* gen_text - mail text: paragraphs of 3 to 10 lines, empty line between */
static size_t
gen_text(struct rng *r, char *buf, size_t size)
{
	size_t	 len = 0, para = 0;

	while (size - len >= TEXT_ROOM) {
		if (para == 0) {
			if (len > 0)
				len = put_crlf(buf, len);
			para = 3 + rng_below(r, 8);
		}
		len += text_line(r, buf + len);
		para--;
	}
	return last_line(r, buf, len, size, "abcdefghijklmnopqrstuvwxyz");
}

/* gen_base64 - base64 attachment text: 76-character lines with CRLF */
static size_t
gen_base64(struct rng *r, char *buf, size_t size)
{
	size_t	 len = 0, i;

	while (size - len >= B64_LINE + 2) {
		for (i = 0; i < B64_LINE; i++)
			buf[len++] = b64_alphabet[rng_next(r) & 63];
		len = put_crlf(buf, len);
	}
	return last_line(r, buf, len, size, b64_alphabet);
}

/* body_make - a body of this kind and nominal size, always the same bytes */
static void
body_make(struct body *b, enum body_kind kind, size_t mib)
{
	struct rng r = { SEED ^ (uint64_t)kind ^ ((uint64_t)mib << 8) };
	size_t	 size = mib * MIB;

	b->kind = kind;
	b->mib = mib;
	if ((b->data = malloc(size)) == NULL)
		fatalx("malloc %zu bytes for a %zu MiB body: %s", size, mib,
		    strerror(errno));
	if (kind == BODY_TEXT)
		b->len = gen_text(&r, b->data, size);
	else
		b->len = gen_base64(&r, b->data, size);
}

/* body_free - release a body's bytes */
static void
body_free(struct body *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
}

/* body_kind_name - "text" or "base64" */
static const char *
body_kind_name(enum body_kind kind)
{
	return kind == BODY_TEXT ? "text" : "base64";
}

/* canon_name - "relaxed" or "simple" (dkim_alg.c is not linked in) */
static const char *
canon_name(enum dkim_canon mode)
{
	return mode == DKIM_CANON_RELAXED ? "relaxed" : "simple";
}

/* hash_new - fetch SHA-256 once and make the context every run reuses */
static void
hash_new(struct hash *h)
{
	if ((h->md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		fatal_ssl("EVP_MD_fetch SHA256");
	if ((h->ctx = EVP_MD_CTX_new()) == NULL)
		fatal_ssl("EVP_MD_CTX_new");
}

/* hash_free - release the digest and its context */
static void
hash_free(struct hash *h)
{
	EVP_MD_CTX_free(h->ctx);
	EVP_MD_free(h->md);
	h->ctx = NULL;
	h->md = NULL;
}

/* hash_begin - start a SHA-256 computation */
static void
hash_begin(struct hash *h)
{
	if (EVP_DigestInit_ex(h->ctx, h->md, NULL) != 1)
		fatal_ssl("EVP_DigestInit_ex SHA256");
}

/* hash_end - finish into out, which holds DKIM_DIGEST_LEN bytes */
static void
hash_end(struct hash *h, unsigned char *out)
{
	unsigned int n = 0;

	if (EVP_DigestFinal_ex(h->ctx, out, &n) != 1)
		fatal_ssl("EVP_DigestFinal_ex");
	if (n != DKIM_DIGEST_LEN)
		fatalx("SHA-256 digest of %u bytes, expected %d", n,
		    DKIM_DIGEST_LEN);
}

/* hash_sink - canon_sink that feeds canonical bytes to SHA-256 */
static int
hash_sink(void *arg, const char *p, size_t n)
{
	struct hash *h = arg;

	return EVP_DigestUpdate(h->ctx, p, n) == 1 ? 0 : -1;
}

/* hash_raw - SHA-256 of the bytes as they are, fed in chunks */
static void
hash_raw(struct hash *h, const char *data, size_t len, size_t chunk,
    unsigned char *out)
{
	size_t	 off, n;

	hash_begin(h);
	for (off = 0; off < len; off += n) {
		n = len - off < chunk ? len - off : chunk;
		if (EVP_DigestUpdate(h->ctx, data + off, n) != 1)
			fatal_ssl("EVP_DigestUpdate");
	}
	hash_end(h, out);
}

/* hash_canon - SHA-256 of the canonical form, the input fed in chunks */
static void
hash_canon(struct hash *h, enum dkim_canon mode, const char *data,
    size_t len, size_t chunk, unsigned char *out)
{
	struct canon_body cb;
	size_t	 off, n;

	hash_begin(h);
	canon_body_init(&cb, mode, hash_sink, h);
	for (off = 0; off < len; off += n) {
		n = len - off < chunk ? len - off : chunk;
		if (canon_body_update(&cb, data + off, n) < 0)
			fatal_ssl("EVP_DigestUpdate from the canon sink");
	}
	if (canon_body_final(&cb) < 0)
		fatal_ssl("EVP_DigestUpdate from canon_body_final");
	hash_end(h, out);
}

/* job_run - one run of a job over a whole body, in BENCH_CHUNK chunks */
static void
job_run(struct hash *h, const struct job *j, const struct body *b,
    unsigned char *out)
{
	if (j->canon)
		hash_canon(h, j->mode, b->data, b->len, BENCH_CHUNK, out);
	else
		hash_raw(h, b->data, b->len, BENCH_CHUNK, out);
}

/* now_s - CLOCK_MONOTONIC in seconds */
static double
now_s(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		fatalx("clock_gettime CLOCK_MONOTONIC: %s", strerror(errno));
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* job_trial - repeat a job for at least min_s seconds; input MB/s */
static double
job_trial(struct hash *h, const struct job *j, const struct body *b,
    double min_s)
{
	unsigned char out[DKIM_DIGEST_LEN];
	double	 t0, dt;
	size_t	 reps = 0;

	t0 = now_s();
	do {
		job_run(h, j, b, out);
		reps++;
		dt = now_s() - t0;
	} while (dt < min_s);
	return (double)b->len * (double)reps / dt / 1e6;
}

/* digest_expect - the digest must equal want, else exit with what differed */
static void
digest_expect(const unsigned char *got, const unsigned char *want,
    const struct body *b, enum dkim_canon mode, const char *what)
{
	if (memcmp(got, want, DKIM_DIGEST_LEN) != 0)
		fatalx("%s %zu MiB body, %s canonicalization: %s",
		    body_kind_name(b->kind), b->mib, canon_name(mode), what);
}

/*
 * check_mode - untimed correctness check of one canonicalization: the
 * chunking of the input must not change the digest.  The generated
 * bodies end with a non-empty line and use CRLF only, so the simple form
 * is the body itself; a base64 body has no whitespace, so the relaxed
 * form is too.
 */
static void
check_mode(struct hash *h, const struct body *b, enum dkim_canon mode,
    const unsigned char *raw)
{
	static const size_t chunks[] = { 1, 7, BENCH_CHUNK };
	unsigned char whole[DKIM_DIGEST_LEN], got[DKIM_DIGEST_LEN];
	char	 what[80];
	size_t	 i;
	int	 n;

	hash_canon(h, mode, b->data, b->len, b->len, whole);
	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		hash_canon(h, mode, b->data, b->len, chunks[i], got);
		n = snprintf(what, sizeof(what), "%zu-byte chunks give another "
		    "digest than one whole chunk", chunks[i]);
		if (n < 0 || (size_t)n >= sizeof(what))
			fatalx("snprintf: message does not fit");
		digest_expect(got, whole, b, mode, what);
	}
	if (mode == DKIM_CANON_SIMPLE || b->kind == BODY_BASE64)
		digest_expect(whole, raw, b, mode, "canonical form is not "
		    "the body itself, though the body is already canonical");
}

/* body_check - check both canonicalizations of a body, untimed */
static void
body_check(struct hash *h, const struct body *b)
{
	unsigned char raw[DKIM_DIGEST_LEN];

	hash_raw(h, b->data, b->len, b->len, raw);
	check_mode(h, b, DKIM_CANON_RELAXED, raw);
	check_mode(h, b, DKIM_CANON_SIMPLE, raw);
}

/*
 * body_measure - best MB/s of each job; trials of the jobs interleave so
 * that noise and clock changes hit the baseline and the canonicalizers
 * alike.
 */
static void
body_measure(struct hash *h, const struct body *b, const struct opts *o,
    double *best)
{
	double	 mbs;
	size_t	 j;
	int	 t;

	for (j = 0; j < NJOBS; j++)
		best[j] = 0;
	for (t = 0; t < o->trials; t++) {
		for (j = 0; j < NJOBS; j++) {
			mbs = job_trial(h, &jobs[j], b, o->min_trial_s);
			if (mbs > best[j])
				best[j] = mbs;
		}
	}
}

/* body_report - table rows of a body; records the relaxed ratio of text */
static void
body_report(const struct body *b, const double *best, struct verdict *v)
{
	double	 pct;
	size_t	 j;

	for (j = 1; j < NJOBS; j++) {
		pct = 100.0 * best[j] / best[0];
		printf("%-7s %6zu MiB  %-8s %9.1f %13.1f %7.1f%%\n",
		    body_kind_name(b->kind), b->mib, jobs[j].name, best[j],
		    best[0], pct);
		if (b->kind == BODY_TEXT && jobs[j].mode ==
		    DKIM_CANON_RELAXED && (!v->seen || pct < v->worst_pct)) {
			v->worst_pct = pct;
			v->seen = 1;
		}
	}
	fflush(stdout);
}

/* bench_body - make, check, measure and report one body */
static void
bench_body(struct hash *h, enum body_kind kind, size_t mib,
    const struct opts *o, struct verdict *v)
{
	struct body b;
	double	 best[NJOBS];

	body_make(&b, kind, mib);
	body_check(h, &b);
	body_measure(h, &b, o, best);
	body_report(&b, best, v);
	body_free(&b);
}

/* usage - how to run it; exits 1 */
static void
usage(void)
{
	fprintf(stderr, "usage: canon_bench [-q] [-s size_mib] ...\n"
	    "  -q           quick: fewer and shorter trials (smoke runs)\n"
	    "  -s size_mib  body size in MiB, 1 to %d; repeat for more "
	    "sizes\n              (default: 1 and 64)\n", MAX_SIZE_MIB);
	exit(1);
}

/* parse_size - a -s argument: whole MiB, 1 to MAX_SIZE_MIB */
static size_t
parse_size(const char *arg)
{
	unsigned long v;
	char	*end;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || arg[0] == '-' ||
	    v < 1 || v > MAX_SIZE_MIB)
		fatalx("-s %s: expected a size in MiB from 1 to %d", arg,
		    MAX_SIZE_MIB);
	return (size_t)v;
}

/* parse_opts - command line into o; the first -s replaces the defaults */
static void
parse_opts(int argc, char **argv, struct opts *o)
{
	int	 ch;

	memset(o, 0, sizeof(*o));
	while ((ch = getopt(argc, argv, "qs:")) != -1) {
		switch (ch) {
		case 'q':
			o->quick = 1;
			break;
		case 's':
			if (o->nsizes == MAX_SIZES)
				fatalx("at most %d sizes", MAX_SIZES);
			o->sizes[o->nsizes++] = parse_size(optarg);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (o->nsizes == 0) {
		o->sizes[o->nsizes++] = 1;
		o->sizes[o->nsizes++] = 64;
	}
	o->trials = o->quick ? 2 : 5;
	o->min_trial_s = o->quick ? 0.02 : 0.1;
}

/* main - run every body kind at every size, then the target line */
int
main(int argc, char **argv)
{
	static const enum body_kind kinds[] = { BODY_TEXT, BODY_BASE64 };
	struct opts o;
	struct verdict v = { 0, 0 };
	struct hash h;
	size_t	 i, k;

	parse_opts(argc, argv, &o);
	hash_new(&h);
	printf("body canonicalization + SHA-256 vs raw SHA-256 (%s), "
	    "%zu KiB chunks,\nbest of %d trials of >= %.2f s each; "
	    "MB = 10^6 bytes of input body\n\n",
	    OpenSSL_version(OPENSSL_VERSION), BENCH_CHUNK / 1024, o.trials,
	    o.min_trial_s);
	printf("%-7s %10s  %-8s %9s %13s %8s\n", "body", "size", "canon",
	    "MB/s", "SHA-256 MB/s", "ratio");
	for (i = 0; i < o.nsizes; i++)
		for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
			bench_body(&h, kinds[k], o.sizes[i], &o, &v);
	hash_free(&h);
	/* Rounded down, so a ratio shown as 60% never comes with FAIL. */
	printf("\ntarget: relaxed canon+hash >= %.0f%% of raw SHA-256: %s "
	    "(worst ratio %d%%)\n", TARGET_PCT,
	    v.worst_pct >= TARGET_PCT ? "PASS" : "FAIL", (int)v.worst_pct);
	return 0;
}
