/*
 * tenants_build.c - many institutions, each on a token of its own, made
 * fast: the fixture of tests/daemon/tenants_test.py and bench/tenants.sh.
 *
 *   tenants_build -m MODULE -d DIR -n N [-t ed25519|rsa2048] [-j JOBS]
 *
 * Institutions t00001 ... tN: token labelled with the code, user PIN in
 * DIR/pins/CODE.pin (0600), the security officer PIN in DIR/so.pin, a key
 * for selector stxsel1 labelled CODE-stxsel1 generated on the token with
 * the ceremony's templates (pkcs11/keygen.c, as p11dkim-keys generate),
 * and the institution's section in a file of its own,
 * DIR/institutions.d/CODE.conf (domain CODE.example, allow-uids the
 * caller's uid), for a configuration's `include`.  The token store is
 * DIR/tokens, described by DIR/softhsm2.conf (for SOFTHSM2_CONF).
 *
 * What p11dkim-keys generate leaves in the state folder is written too,
 * in DIR/state (a configuration's state-dir and, DIR/state/ceremony.log,
 * its ceremony-log): each key's `generate` record, appended through the
 * ceremony log's API (so the chain is the real one), the anchor file,
 * and the key's public key record DIR/state/CODE.stxsel1.spki; so that
 * `p11dkim-keys dns CODE` on the fixture takes its real path.  The
 * rotation state files are not written: the institutions are live.  The
 * log is built in a folder of /dev/shm (each append's fsync costs
 * nothing there) and copied into DIR/state at the end.
 *
 * Made through the PKCS#11 API, not two commands per institution.
 * SoftHSM2 scans its whole store at each C_GetSlotList, which a token's
 * initialization needs: so the institutions are made in shards of at
 * most SHARD_MAX, each by a process of its own in a store of its own (up
 * to JOBS at once), and the shards' token folders are moved into DIR/tokens
 * at the end.  In a shard, the tokens are initialized (C_InitToken on the
 * free slot, C_InitPIN), the slots scanned once, then each token logged
 * in once and its key made.
 *
 * DIR/BUILT records what was built; a second run with the same N and
 * type does nothing.  Prints the time taken.  Exit status 0, or 1 on the
 * first failure (with the reason).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "p11dkim/atomic_file.h"
#include "p11dkim/ceremony_log.h"
#include "p11dkim/keygen.h"
#include "p11dkim/pub_record.h"
#include "p11dkim/token.h"

#define CODE_LEN	16
#define SO_PIN		"tenants-so-pin-1"
#define SHARD_MAX	400
#define JOBS_MAX	16

struct build {
	const char *module, *dir;
	unsigned n, jobs;
	enum p11_key_type type;
	unsigned bits;
	const char *type_name;
	char	 log_dir[64];		/* the log while it is built: tmpfs */
};

struct shard {
	const struct build *b;
	unsigned first, last;		/* institutions, 1-based, inclusive */
	char	 dir[4096];
	struct p11_module *mod;
	CK_FUNCTION_LIST *fn;
};

/* usage - how to call, then exit */
static void
usage(void)
{
	fprintf(stderr, "usage: tenants_build -m MODULE -d DIR -n N "
	    "[-t ed25519|rsa2048] [-j JOBS]\n");
	exit(2);
}

/* code_of - the code of institution i (1-based) */
static void
code_of(unsigned i, char code[CODE_LEN])
{
	snprintf(code, CODE_LEN, "t%05u", i);
}

/* pin_of - institution i's user PIN (test fixtures only) */
static void
pin_of(unsigned i, char pin[32])
{
	snprintf(pin, 32, "user-pin-%05u", i);
}

/* write_file - a file of mode 0600 with this text */
static void
write_file(const char *path, const char *text)
{
	int	 fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t	 len = strlen(text);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len || close(fd) < 0)
		bench_fatal("%s: %s", path, strerror(errno));
}

/* write_bytes - a file of mode 0644 with len bytes */
static void
write_bytes(const char *path, const unsigned char *data, size_t len)
{
	int	 fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len || close(fd) < 0)
		bench_fatal("%s: %s", path, strerror(errno));
}

/* make_dir - a folder (it may exist) */
static void
make_dir(const char *path)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		bench_fatal("%s: %s", path, strerror(errno));
}

/* store_conf - a SoftHSM2 configuration for the store in dir/tokens */
static void
store_conf(const char *dir)
{
	char	 path[4096], text[4200];

	snprintf(path, sizeof(path), "%s/tokens", dir);
	make_dir(path);
	snprintf(text, sizeof(text), "directories.tokendir = %s/tokens\n"
	    "objectstore.backend = file\nlog.level = ERROR\n", dir);
	snprintf(path, sizeof(path), "%s/softhsm2.conf", dir);
	write_file(path, text);
}

/* blank_padded - a PKCS#11 label field */
static void
blank_padded(const char *s, CK_UTF8CHAR out[32])
{
	memset(out, ' ', 32);
	memcpy(out, s, strlen(s));
}

/* free_slot - the slot whose token is not initialized yet */
static CK_SLOT_ID
free_slot(struct shard *sh)
{
	CK_SLOT_ID *ids, found = 0;
	CK_ULONG n = 0;
	CK_TOKEN_INFO ti;
	int	 ok = 0;

	if (sh->fn->C_GetSlotList(CK_TRUE, NULL, &n) != CKR_OK ||
	    (ids = calloc(n + 1, sizeof(*ids))) == NULL ||
	    sh->fn->C_GetSlotList(CK_TRUE, ids, &n) != CKR_OK)
		bench_fatal("C_GetSlotList failed");
	/* SoftHSM2 lists the free slot last: look from the end. */
	for (CK_ULONG i = n; i-- > 0 && !ok;)
		if (sh->fn->C_GetTokenInfo(ids[i], &ti) == CKR_OK &&
		    !(ti.flags & CKF_TOKEN_INITIALIZED)) {
			found = ids[i];
			ok = 1;
		}
	free(ids);
	if (!ok)
		bench_fatal("no free slot");
	return found;
}

/* init_token - one token: C_InitToken, then the user PIN */
static void
init_token(struct shard *sh, unsigned i)
{
	char	 code[CODE_LEN], pin[32], so[] = SO_PIN, name[64];
	CK_UTF8CHAR label[32];
	CK_SESSION_HANDLE s;
	CK_SLOT_ID slot = free_slot(sh);
	CK_RV	 rv;

	code_of(i, code);
	pin_of(i, pin);
	blank_padded(code, label);
	if ((rv = sh->fn->C_InitToken(slot, (CK_UTF8CHAR *)so, strlen(so),
	    label)) != CKR_OK)
		bench_fatal("%s: C_InitToken: %s", code, p11_rv_name(rv, name,
		    sizeof(name)));
	if ((rv = sh->fn->C_OpenSession(slot, CKF_SERIAL_SESSION |
	    CKF_RW_SESSION, NULL, NULL, &s)) != CKR_OK ||
	    (rv = sh->fn->C_Login(s, CKU_SO, (CK_UTF8CHAR *)so, strlen(so))) !=
	    CKR_OK ||
	    (rv = sh->fn->C_InitPIN(s, (CK_UTF8CHAR *)pin, strlen(pin))) !=
	    CKR_OK)
		bench_fatal("%s: setting the user PIN: %s", code,
		    p11_rv_name(rv, name, sizeof(name)));
	(void)sh->fn->C_Logout(s);
	(void)sh->fn->C_CloseSession(s);
}

/*
 * record_key - what p11dkim-keys generate writes after the key: the
 * ceremony log's generate record (the log's own lock orders the shards'
 * appends), then the public key record
 */
static void
record_key(const struct build *b, const char *code, struct token *t,
    const char *label)
{
	struct ceremony_record rec;
	struct p11_key *k;
	struct p11_err perr;
	unsigned char *der;
	char	 path[4096], err[512];
	size_t	 len;

	memset(&rec, 0, sizeof(rec));
	if ((k = token_key(t, label, &perr)) == NULL ||
	    pub_record_encode(p11_key_public(k), &der, &len) < 0 ||
	    pub_record_fingerprint(der, len, rec.fpr) < 0)
		bench_fatal("%s: the new key cannot be read back", code);
	snprintf(rec.operator_name, sizeof(rec.operator_name), "tenants_build");
	snprintf(rec.host, sizeof(rec.host), "bench");
	snprintf(rec.token_label, sizeof(rec.token_label), "%s", code);
	snprintf(rec.token_serial, sizeof(rec.token_serial), "%s",
	    token_info(t)->serial);
	snprintf(rec.action, sizeof(rec.action), "generate");
	snprintf(rec.inst, sizeof(rec.inst), "%s", code);
	snprintf(rec.selector, sizeof(rec.selector), "stxsel1");
	snprintf(rec.result, sizeof(rec.result), "ok");
	snprintf(path, sizeof(path), "%s/ceremony.log", b->log_dir);
	if (ceremony_log_append(path, NULL, &rec, err, sizeof(err)) < 0)
		bench_fatal("%s: %s", code, err);
	snprintf(path, sizeof(path), "%s/state/%s.stxsel1.spki", b->dir, code);
	write_bytes(path, der, len);
	OPENSSL_free(der);
}

/* place_log - the log built in tmpfs, copied into DIR/state */
static void
place_log(const struct build *b)
{
	char	 from[128], to[4096], chunk[65536];
	FILE	*in, *out;
	size_t	 n;

	snprintf(from, sizeof(from), "%s/ceremony.log", b->log_dir);
	snprintf(to, sizeof(to), "%s/state/ceremony.log", b->dir);
	if ((in = fopen(from, "r")) == NULL || (out = fopen(to, "w")) == NULL)
		bench_fatal("%s: %s", to, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0)
		if (fwrite(chunk, 1, n, out) != n)
			bench_fatal("%s: %s", to, strerror(errno));
	if (ferror(in) || fclose(out) != 0)
		bench_fatal("%s: %s", to, strerror(errno));
	fclose(in);
	unlink(from);
	rmdir(b->log_dir);
}

/* write_anchor - the anchor file of the whole log, once it is complete */
static void
write_anchor(const struct build *b)
{
	struct ceremony_log_summary sum;
	char	 path[4096], text[128], err[512];
	int	 n;

	place_log(b);
	snprintf(path, sizeof(path), "%s/state/ceremony.log", b->dir);
	if (ceremony_log_verify(path, &sum, err, sizeof(err)) < 0)
		bench_fatal("%s", err);
	n = snprintf(text, sizeof(text), "count=%lu head=%s\n", sum.count,
	    sum.head);
	snprintf(path, sizeof(path), "%s/state/ceremony.anchor", b->dir);
	if (atomic_file_write(path, text, (size_t)n, 0640, err,
	    sizeof(err)) < 0)
		bench_fatal("%s", err);
}

/* make_key - institution i's token logged in once, its key made on it */
static void
make_key(struct shard *sh, unsigned i)
{
	const struct build *b = sh->b;
	char	 code[CODE_LEN], path[4096], label[64];
	struct keygen_result res;
	struct pin_source *pin;
	struct token *t;
	struct p11_err err;

	code_of(i, code);
	snprintf(path, sizeof(path), "%s/pins/%s.pin", b->dir, code);
	snprintf(label, sizeof(label), "%s-stxsel1", code);
	if ((pin = pin_source_file(path, &err)) == NULL ||
	    (t = token_open(sh->mod, code, NULL, pin, 1, &err)) == NULL)
		bench_fatal("%s: %s", code, err.msg);
	if (keygen_generate(t, b->type, b->bits, label, 0, &res, &err) < 0)
		bench_fatal("%s: %s", code, err.msg);
	record_key(b, code, t, label);
	token_close(t);
}

/* run_shard - a shard's process: its tokens and keys, in its own store */
static void __attribute__((noreturn))
run_shard(struct shard *sh)
{
	char	 conf[4200];
	struct p11_err err;

	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", sh->dir);
	if (setenv("SOFTHSM2_CONF", conf, 1) < 0 ||
	    (sh->mod = p11_module_load(sh->b->module, &err)) == NULL)
		bench_fatal("shard %u: %s", sh->first, err.msg);
	sh->fn = p11_module_functions(sh->mod);
	for (unsigned i = sh->first; i <= sh->last; i++)
		init_token(sh, i);
	p11_module_rescan(sh->mod);
	for (unsigned i = sh->first; i <= sh->last; i++)
		make_key(sh, i);
	p11_module_free(sh->mod);
	_exit(0);
}

/* wait_one - a shard process ended; fatal unless it succeeded */
static void
wait_one(void)
{
	int	 status;

	if (wait(&status) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		bench_fatal("a shard failed (see above)");
}

/* move_tokens - every token folder of a shard into the fixture's store */
static void
move_tokens(const struct build *b, const char *shard_dir)
{
	char	 from[4096], to[4096], src[8400], dst[8400];
	struct dirent *e;
	DIR	*d;

	snprintf(from, sizeof(from), "%s/tokens", shard_dir);
	snprintf(to, sizeof(to), "%s/tokens", b->dir);
	if ((d = opendir(from)) == NULL)
		bench_fatal("%s: %s", from, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(src, sizeof(src), "%s/%s", from, e->d_name);
		snprintf(dst, sizeof(dst), "%s/%s", to, e->d_name);
		if (rename(src, dst) < 0)
			bench_fatal("%s: %s", src, strerror(errno));
	}
	closedir(d);
	rmdir(from);
	snprintf(src, sizeof(src), "%s/softhsm2.conf", shard_dir);
	unlink(src);
	rmdir(shard_dir);
}

/* build_shards - every institution, in shards, JOBS at a time */
static void
build_shards(const struct build *b)
{
	unsigned nshards = (b->n + SHARD_MAX - 1) / SHARD_MAX, running = 0;
	struct shard *sh = calloc(nshards, sizeof(*sh));
	pid_t	 pid;

	if (sh == NULL)
		bench_fatal("out of memory");
	for (unsigned k = 0; k < nshards; k++) {
		sh[k].b = b;
		sh[k].first = k * SHARD_MAX + 1;
		sh[k].last = sh[k].first + SHARD_MAX - 1 < b->n ?
		    sh[k].first + SHARD_MAX - 1 : b->n;
		snprintf(sh[k].dir, sizeof(sh[k].dir), "%s/shard-%u", b->dir, k);
		make_dir(sh[k].dir);
		store_conf(sh[k].dir);
		if (running == b->jobs) {
			wait_one();
			running--;
		}
		if ((pid = fork()) < 0)
			bench_fatal("fork: %s", strerror(errno));
		if (pid == 0)
			run_shard(&sh[k]);
		running++;
	}
	while (running-- > 0)
		wait_one();
	for (unsigned k = 0; k < nshards; k++)
		move_tokens(b, sh[k].dir);
	free(sh);
}

/* write_files - PIN files, and a file of its own for each institution */
static void
write_files(const struct build *b)
{
	char	 path[4096], code[CODE_LEN], pin[32], text[1024];

	snprintf(path, sizeof(path), "%s/pins", b->dir);
	make_dir(path);
	snprintf(path, sizeof(path), "%s/institutions.d", b->dir);
	make_dir(path);
	snprintf(path, sizeof(path), "%s/state", b->dir);
	make_dir(path);
	snprintf(path, sizeof(path), "%s/so.pin", b->dir);
	write_file(path, SO_PIN "\n");
	for (unsigned i = 1; i <= b->n; i++) {
		code_of(i, code);
		pin_of(i, pin);
		snprintf(path, sizeof(path), "%s/pins/%s.pin", b->dir, code);
		snprintf(text, sizeof(text), "%s\n", pin);
		write_file(path, text);
		snprintf(path, sizeof(path), "%s/institutions.d/%s.conf",
		    b->dir, code);
		snprintf(text, sizeof(text), "institution %s {\n\tdomains = { "
		    "\"%s.example\" }\n\tpin = \"file:%s/pins/%s.pin\"\n\t"
		    "active-selector = \"stxsel1\"\n\talgorithm = \"%s\"\n\t"
		    "key-type = \"%s\"\n\tallow-uids = { \"%u\" }\n}\n", code,
		    code, b->dir, code, b->type == P11_KEY_RSA ? "rsa-sha256" :
		    "ed25519-sha256", b->type_name, (unsigned)getuid());
		write_file(path, text);
	}
}

/* built - 1 when DIR/BUILT says this fixture is there already */
static int
built(const struct build *b, char *stamp, size_t len)
{
	char	 path[4096], was[128] = "";
	FILE	*f;

	snprintf(stamp, len, "%u %s state\n", b->n, b->type_name);
	snprintf(path, sizeof(path), "%s/BUILT", b->dir);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	if (fgets(was, sizeof(was), f) == NULL)
		was[0] = '\0';
	fclose(f);
	return strcmp(was, stamp) == 0;
}

/* options - the command line into b */
static void
options(struct build *b, int argc, char **argv)
{
	int	 c;

	b->type = P11_KEY_ED25519;
	b->type_name = "ed25519";
	b->jobs = 2;
	while ((c = getopt(argc, argv, "m:d:n:t:j:")) != -1) {
		switch (c) {
		case 'm': b->module = optarg; break;
		case 'd': b->dir = optarg; break;
		case 'n': b->n = (unsigned)bench_arg_double(optarg, 1, 99999,
		    usage); break;
		case 't':
			if (strcmp(optarg, "rsa2048") == 0) {
				b->type = P11_KEY_RSA;
				b->bits = 2048;
				b->type_name = "rsa2048";
			} else if (strcmp(optarg, "ed25519") != 0)
				usage();
			break;
		case 'j': b->jobs = (unsigned)bench_arg_double(optarg, 1,
		    JOBS_MAX, usage); break;
		default: usage();
		}
	}
	if (b->module == NULL || b->dir == NULL || b->n == 0 || optind != argc)
		usage();
}

int
main(int argc, char **argv)
{
	struct build b = { 0 };
	char	 stamp[128], path[4096];
	double	 t0 = bench_now();

	options(&b, argc, argv);
	make_dir(b.dir);
	if (built(&b, stamp, sizeof(stamp))) {
		printf("fixture of %u institutions (%s) already built\n", b.n,
		    b.type_name);
		return 0;
	}
	snprintf(path, sizeof(path), "rm -rf '%s/tokens' '%s/institutions.d' "
	    "'%s/state' '%s'/shard-*", b.dir, b.dir, b.dir, b.dir);
	if (strchr(b.dir, '\'') != NULL || system(path) != 0)
		bench_fatal("cannot empty %s", b.dir);
	store_conf(b.dir);
	write_files(&b);
	snprintf(b.log_dir, sizeof(b.log_dir), "/dev/shm/tenants_build.XXXXXX");
	if (mkdtemp(b.log_dir) == NULL)
		bench_fatal("%s: %s", b.log_dir, strerror(errno));
	build_shards(&b);
	write_anchor(&b);
	snprintf(path, sizeof(path), "%s/BUILT", b.dir);
	write_file(path, stamp);
	printf("built %u institutions (%s) in %.1f s\n", b.n, b.type_name,
	    bench_now() - t0);
	return 0;
}
