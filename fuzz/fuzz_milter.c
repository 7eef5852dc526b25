/*
 * fuzz_milter.c - libFuzzer target for the milter front's callbacks
 * (daemon/milter_filter.c, and daemon/signing.c under them): any input
 * is what an MTA passes on one connection, driven through the real
 * callbacks with a stand-in for the four libmilter calls they make
 * (smfi_getpriv, smfi_setpriv, smfi_getsymval, smfi_setsymlist,
 * smfi_insheader) and a
 * stand-in signer.  Byte 0 picks one of three configurations (signing
 * domain from From, the envelope or the SASL login; small limits;
 * tempfail or accept on token trouble; single-tenant without
 * authenticated senders, or one institution authorized by client network
 * and SASL login); then, until the input runs out:
 *
 *   'N' f1(4) f0(1)   negotiate: the steps and actions the MTA offers
 *                     (f0's 0x80 offers SMFIF_SETSYMLIST too)
 *   'C' kind str      connect: host name (255: none), an address kind
 *   'U' str, 'u'      the {auth_authen} macro set, unset
 *   'Q' str, 'q'      the i macro (the queue ID) set, unset
 *   'D'               DATA
 *   'F' str, 'f'      MAIL FROM with that sender, without arguments
 *   'H' str str       a header field: name, value
 *   'E', 'B' n16 ...  end of headers; a body chunk of n bytes
 *   'O', 'A', 'X'     end of message, abort, close
 *   'S' flags         the stand-ins fail: smfi_setpriv (1), insheader (2)
 *
 * Strings are a length byte and that many bytes, cut at a NUL as C
 * strings are.  The connection is closed at the end, so a leak shows.
 *
 * Besides crashes and leaks, it checks what the milter promises: it
 * never rejects or discards mail; it replies nothing only to a step the
 * MTA agreed to get no reply to, and asks for no step or action the MTA
 * did not offer; it tempfails only at the end of a message (or when it
 * has no memory for the connection), and with on-token-failure =
 * accept only when the institution's quota is spent (then always); it
 * inserts only DKIM-Signature
 * fields, at the top, during the end of a message, each a well-folded
 * value without CR or an empty line, carrying v=1 and a b= tag.
 *
 *   make -C fuzz && fuzz/build/fuzz_milter fuzz/corpus/fuzz_milter
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p11dkim/keytab.h"
#include "p11dkim/log.h"
#include "../daemon/milter_filter.h"
#include "harness.h"

#define CONFS		3
#define BODY_MAX	8192

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct smfi_str {
	void	*priv;
};

/* What the stand-in libmilter saw and is told to do. */
static struct {
	const char *auth;		/* {auth_authen}, or NULL */
	const char *queue;		/* i, or NULL */
	int	 in_negotiate;		/* inside the negotiation callback */
	int	 fail_setpriv, fail_insheader;
	int	 tempfail_at_eom;	/* not on-token-failure = accept */
	int	 in_eom;		/* inside the end-of-message callback */
	int	 inserted;
	char	 auth_buf[256];
	char	 queue_buf[256];
} mt;

static struct conf *confs[CONFS];
static struct keytab keys[CONFS];
static struct front fronts[CONFS];

/*
 * The three configurations, after a common head and institutions: mosa's
 * milter authorization (variant 0 is single-tenant: every institution for
 * every internal host and authenticated sender) and the milter section.
 */
static const char *const mosa_auth[CONFS] = {
	"",
	" milter-hosts = { \"192.0.2.0/25\" }\n"
	" milter-logins = { \"*@mosamuseum.com\", \"alice\" }\n",
	" milter-hosts = { \"127.0.0.1\" }\n",
};
static const char *const variant[CONFS] = {
	"milter \"unix:/nonexistent/m.sock\" {\n single-tenant = true\n"
	" sign-authenticated = false\n}\n",
	"max-header-bytes = 1024\nmax-message-bytes = 4096\n"
	"milter \"unix:/nonexistent/m.sock\" {\n signing-domain = \"envelope\"\n"
	" on-token-failure = \"accept\"\n"
	" internal-hosts = { \"192.0.2.0/24\", \"2001:db8::/32\" }\n}\n",
	"milter \"unix:/nonexistent/m.sock\" {\n signing-domain = \"auth\"\n}\n",
};

static const char head[] = "pkcs11-module = \"/x.so\"\n"
    "provider-zone = \"dkim.example.net\"\nrecord-name = \"sel%n-%c\"\n"
    "selectors = { \"stxsel1\", \"stxsel2\" }\ndual-record-name = \"ed%n-%c\"\n"
    "dual-selectors = { \"stxed1\", \"stxed2\" }\nstate-dir = \"/nonexistent\"\n"
    "ceremony-log = \"/nonexistent/log\"\n"
    "institution mosa {\n domains = { \"mosamuseum.com\" }\n pin = \"prompt\"\n"
    " active-selector = \"stxsel1\"\n";
static const char head2[] = "}\n"
    "institution venue {\n domains = { \"venue.example.org\" }\n"
    " subdomains = true\n pin = \"prompt\"\n active-selector = \"stxsel1\"\n"
    " algorithm = \"ed25519-sha256\"\n key-type = \"ed25519\"\n"
    " canonicalization = \"simple/simple\"\n}\n"
    "institution gala {\n domains = { \"gala.example.net\" }\n"
    " pin = \"prompt\"\n active-selector = \"stxsel1\"\n dual-sign = true\n"
    " timestamp = false\n expire = 3600\n}\n";

/* smfi_getpriv - the stand-in: the connection's state */
void *
smfi_getpriv(SMFICTX *ctx)
{
	return ctx->priv;
}

/* smfi_setpriv - the stand-in, which fails when told to */
int
smfi_setpriv(SMFICTX *ctx, void *p)
{
	if (mt.fail_setpriv && p != NULL)
		return MI_FAILURE;
	ctx->priv = p;
	return MI_SUCCESS;
}

/* smfi_getsymval - the stand-in: {auth_authen} and i */
char *
smfi_getsymval(SMFICTX *ctx, char *name)
{
	(void)ctx;
	if (strcmp(name, "i") == 0)
		return (char *)(uintptr_t)mt.queue;
	return strcmp(name, "{auth_authen}") == 0 ? (char *)(uintptr_t)mt.auth :
	    NULL;
}

/* smfi_setsymlist - the stand-in: only while negotiating, a known stage */
int
smfi_setsymlist(SMFICTX *ctx, int stage, char *macros)
{
	(void)ctx;
	if (!mt.in_negotiate || stage < SMFIM_CONNECT || stage > SMFIM_EOH ||
	    macros == NULL)
		abort();
	return MI_SUCCESS;
}

/* check_value - a DKIM-Signature value as the milter must insert it */
static void
check_value(const char *v)
{
	size_t	 n = strlen(v);

	if (n == 0 || strchr(v, '\r') != NULL || v[n - 1] == '\n' ||
	    strstr(v, "v=1;") == NULL || strstr(v, "b=") == NULL)
		abort();
	for (const char *p = strchr(v, '\n'); p != NULL; p = strchr(p + 1, '\n'))
		if (p[1] != ' ' && p[1] != '\t')
			abort();		/* a line that is not folded */
}

/* smfi_insheader - the stand-in: checks what the milter inserts */
int
smfi_insheader(SMFICTX *ctx, int idx, char *name, char *value)
{
	(void)ctx;
	if (!mt.in_eom || idx != 0 || strcmp(name, "DKIM-Signature") != 0)
		abort();
	check_value(value);
	mt.inserted++;
	return mt.fail_insheader ? MI_FAILURE : MI_SUCCESS;
}

/* setup_one - configuration k, its keys and front */
static void
setup_one(int k)
{
	char	 text[2048], err[CONF_ERR_MAX];

	snprintf(text, sizeof(text), "%s%s%s%s", head, mosa_auth[k], head2,
	    variant[k]);
	confs[k] = harness_conf(text, "fuzz_milter");
	if (keytab_build(confs[k], &keys[k], err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_milter: %s\n", err);
		abort();
	}
	fronts[k].conf = confs[k];
	fronts[k].keys = &keys[k];
	fronts[k].signer = &harness_signer;
	if ((fronts[k].stats = stats_new(confs[k], "milter")) == NULL)
		abort();
}

/* str - a length byte and a string into buf (cut at a NUL); NULL at the
 * end of the input, or for length 255 when none is allowed */
static char *
str(struct input *in, char *buf, size_t len, int none_ok)
{
	const uint8_t *n = input_take(in, 1), *p;

	if (n == NULL || (none_ok && *n == 255))
		return NULL;
	if ((p = input_take(in, *n)) == NULL)
		return NULL;
	snprintf(buf, len, "%.*s", (int)*n, (const char *)p);
	return buf;
}

/* address - a client address of a kind */
static struct sockaddr *
address(int kind, struct sockaddr_storage *ss)
{
	static const char *const v4[] = { "127.0.0.1", "192.0.2.7", "10.0.0.1" };
	static const char *const v6[] = { "::1", "2001:db8::25", "::ffff:127.0.0.1" };
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *b = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	kind %= 8;
	if (kind == 0)
		return NULL;			/* a local submission */
	if (kind <= 3) {
		a->sin_family = AF_INET;
		inet_pton(AF_INET, v4[kind - 1], &a->sin_addr);
	} else if (kind <= 6) {
		b->sin6_family = AF_INET6;
		inet_pton(AF_INET6, v6[kind - 4], &b->sin6_addr);
	} else
		ss->ss_family = AF_UNIX;
	return (struct sockaddr *)ss;
}

/* check_rc - what a step may answer (noreply: the MTA agreed to none) */
static void
check_rc(sfsistat rc, int noreply, int tempfail_ok)
{
	if (rc == SMFIS_REJECT || rc == SMFIS_DISCARD || rc == SMFIS_SKIP ||
	    (rc == SMFIS_NOREPLY && !noreply) ||
	    (rc == SMFIS_TEMPFAIL && !tempfail_ok) ||
	    (rc != SMFIS_CONTINUE && rc != SMFIS_ACCEPT &&
	    rc != SMFIS_TEMPFAIL && rc != SMFIS_NOREPLY))
		abort();
}

/* negotiate - 'N': only what was offered is taken; -1 at the end */
static int
negotiate(const struct smfiDesc *d, SMFICTX *ctx, struct input *in,
    unsigned long *steps)
{
	const uint8_t *p = input_take(in, 5);
	unsigned long f0, f1, pf0 = 0, pf1 = 0, pf2 = 0, pf3 = 0;
	sfsistat rc;

	if (p == NULL)
		return -1;
	f1 = (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 |
	    (unsigned long)p[2] << 8 | p[3];
	f0 = p[4] | ((p[4] & 0x80) ? SMFIF_SETSYMLIST : 0);
	mt.in_negotiate = 1;
	rc = d->xxfi_negotiate(ctx, f0, f1, 0, 0, &pf0, &pf1, &pf2, &pf3);
	mt.in_negotiate = 0;
	check_rc(rc, 0, mt.fail_setpriv);
	if ((pf0 & ~f0) != 0 || (pf1 & ~f1) != 0 || pf2 != 0 || pf3 != 0)
		abort();		/* asked for what was not offered */
	*steps = rc == SMFIS_CONTINUE ? pf1 : 0;
	return 0;
}

/* step - one operation of the input; 0 at its end */
static int
step(const struct smfiDesc *d, SMFICTX *ctx, struct input *in,
    unsigned long *steps)
{
	char	 a[256], b[256], *argv[2] = { NULL, NULL };
	struct sockaddr_storage ss;
	const uint8_t *op = input_take(in, 1), *k, *n, *body;
	int	 fail = mt.fail_setpriv;
	sfsistat rc;
	char	*s;

	if (op == NULL)
		return 0;
	switch (*op) {
	case 'N':
		if (negotiate(d, ctx, in, steps) < 0)
			return 0;
		break;
	case 'C':
		if ((k = input_take(in, 1)) == NULL)
			return 0;
		s = str(in, a, sizeof(a), 1);
		check_rc(d->xxfi_connect(ctx, s, address(*k, &ss)),
		    *steps & SMFIP_NR_CONN, fail);
		break;
	case 'U':
		if ((mt.auth = str(in, mt.auth_buf, sizeof(mt.auth_buf), 0)) == NULL)
			return 0;
		break;
	case 'u':
		mt.auth = NULL;
		break;
	case 'Q':
		if ((mt.queue = str(in, mt.queue_buf, sizeof(mt.queue_buf),
		    0)) == NULL)
			return 0;
		break;
	case 'q':
		mt.queue = NULL;
		break;
	case 'D':
		check_rc(d->xxfi_data(ctx), *steps & SMFIP_NR_DATA, fail);
		break;
	case 'F':
	case 'f':
		if (*op == 'F' && (argv[0] = str(in, a, sizeof(a), 0)) == NULL)
			return 0;
		check_rc(d->xxfi_envfrom(ctx, *op == 'F' ? argv : NULL),
		    *steps & SMFIP_NR_MAIL, fail);
		break;
	case 'H':
		if (str(in, a, sizeof(a), 0) == NULL ||
		    str(in, b, sizeof(b), 0) == NULL)
			return 0;
		check_rc(d->xxfi_header(ctx, a, b), *steps & SMFIP_NR_HDR, 0);
		break;
	case 'E':
		check_rc(d->xxfi_eoh(ctx), 0, 0);
		break;
	case 'B':
		if ((n = input_take(in, 2)) == NULL || (body = input_take(in,
		    ((size_t)n[0] << 8 | n[1]) % BODY_MAX)) == NULL)
			return 0;
		check_rc(d->xxfi_body(ctx, (unsigned char *)(uintptr_t)body,
		    ((size_t)n[0] << 8 | n[1]) % BODY_MAX), *steps & SMFIP_NR_BODY,
		    0);
		break;
	case 'O':
		mt.in_eom = 1;
		harness_limited = 0;
		rc = d->xxfi_eom(ctx);
		/* Over quota: tempfail, whatever on-token-failure says. */
		if (harness_limited && rc != SMFIS_TEMPFAIL)
			abort();
		check_rc(rc, 0, mt.tempfail_at_eom || harness_limited);
		mt.in_eom = 0;
		break;
	case 'A':
		check_rc(d->xxfi_abort(ctx), 0, 0);
		break;
	case 'X':
		check_rc(d->xxfi_close(ctx), 0, 0);
		break;
	case 'S':
		if ((k = input_take(in, 1)) == NULL)
			return 0;
		mt.fail_setpriv = *k & 1;
		mt.fail_insheader = (*k & 2) != 0;
		break;
	}
	return 1;
}

/* LLVMFuzzerTestOneInput - byte 0: the configuration; then the steps */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	const struct smfiDesc *d = milter_filter_desc();
	struct smfi_str ctx = { NULL };
	unsigned long steps = 0;
	const uint8_t *v;

	if (confs[0] == NULL) {
		log_open("fuzz_milter", 0);
		for (int k = 0; k < CONFS; k++)
			setup_one(k);
	}
	if ((v = input_take(&in, 1)) == NULL)
		return 0;
	memset(&mt, 0, sizeof(mt));
	mt.tempfail_at_eom = !confs[*v % CONFS]->daemon.milter->
	    accept_on_token_failure;
	milter_filter_init(&fronts[*v % CONFS],
	    confs[*v % CONFS]->daemon.milter);
	while (step(d, &ctx, &in, &steps))
		;
	mt.fail_setpriv = 0;
	(void)d->xxfi_close(&ctx);
	if (ctx.priv != NULL)
		abort();		/* the connection's state kept */
	return 0;
}
