/*
 * main.c - p11dkim-keys: key ceremonies for p11dkim.
 *
 *   p11dkim-keys [-c FILE] [--json] [--operator NAME] [--owner USER]
 *                [--yes] [--resolver ADDR[:PORT]] COMMAND ...
 *   p11dkim-keys --version
 *
 * Set up an institution's token, generate its keys on the token, print
 * the DNS records, check what DNS publishes, rotate between the two
 * selectors, audit every key, and keep a hash-chained ceremony log.
 * See docs/p11dkim-keys.md.
 *
 * Security: PINs are never taken from argv (only file:, fd: or a prompt);
 * the private keys never leave the token, and nothing here asks for them.
 * Before anything is read, core dumps are turned off (no_core_dumps).
 * A test build (P11DKIM_TEST_FAULTS) also reads P11DKIM_TEST_FAULT to
 * inject faults into ceremonies; a normal build has no such code.
 */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "p11dkim/dns_record.h"
#include "p11dkim/token_store.h"
#include "keys.h"

#define DEFAULT_CONF	"/etc/p11dkim/p11dkim.conf"

static const struct keys_cmd commands[] = {
	{ "init-token", "initialize an institution's token and set its PINs",
	  "init-token INST [--slot N] [--so-pin SRC] [--pin SRC] "
	  "[--min-pin N]", cmd_init_token },
	{ "token-info", "what the token is and can do: flags, sessions, PIN "
	  "rules, mechanisms", "token-info INST", cmd_token_info },
	{ "generate", "generate a key pair on the token for a selector",
	  "generate INST [SELECTOR] [--type rsa2048|rsa3072|rsa4096|ed25519] "
	  "[--strict]",
	  cmd_generate },
	{ "dns", "print the DNS records: key TXT, the institution's CNAMEs, "
	  "SPF hint (public keys from the key records the ceremony log "
	  "vouches for; --from-token: from the token)",
	  "dns INST [--revoke SELECTOR] [--from-token]", cmd_dns },
	{ "check-dns", "compare what DNS publishes with the token's keys; "
	  "--promote: make a pending institution live",
	  "check-dns INST [SELECTOR] [--zone FILE|-] [--from-token] | "
	  "check-dns INST --promote [--zone FILE|-] [--from-token]",
	  cmd_check_dns },
	{ "demote", "make a live institution pending: the daemon stops "
	  "signing for it", "demote INST", cmd_demote },
	{ "dns-watch", "check every live institution's CNAMEs and keys in "
	  "DNS, paced; report drift, demote after a grace period",
	  "dns-watch [--rate QPS] [--concurrency N] [--spread SECONDS] "
	  "[--metrics FILE] [--demote-after SECONDS] [--every SECONDS]",
	  cmd_dns_watch },
	{ "list", "every key on the institutions' tokens",
	  "list [INST]", cmd_list },
	{ "audit", "each key's protections as its token enforces them; fail "
	  "when any key could have left its token, or a public key record "
	  "is not its token's key", "audit [INST] [--strict] "
	  "[--write-records]", cmd_audit },
	{ "rotate", "move to the standby selector, step by step",
	  "rotate INST status|start|publish|verify|activate|revoke|finish "
	  "[--zone FILE|-] [--grace SECONDS] [--strict] [--from-token]",
	  cmd_rotate },
	{ "destroy", "destroy a selector's key pair (not the active one)",
	  "destroy INST SELECTOR", cmd_destroy },
	{ "log", "check the ceremony log's hash chain, or print it",
	  "log verify [--head HASH] | log show [--from N]", cmd_log },
	{ "preflight", "as the daemon's signer: module, PIN, token, keys, "
	  "a test signature, DNS", "preflight [INST] [--zone FILE|-]",
	  cmd_preflight },
	{ "trail", "did we sign this? search an institution's signing trail",
	  "trail INST [--since TIME] [--message-id ID] [--bh HASH] "
	  "[--b SIGNATURE]", cmd_trail },
	{ NULL, NULL, NULL, NULL }
};

/*
 * no_core_dumps - SO and user PINs pass through this process's memory: no
 * core file (RLIMIT_CORE 0, the hard limit too, so that nothing lifts it
 * again) and no ptrace by our own user (not dumpable).  The exit status.
 */
static int
no_core_dumps(void)
{
	const struct rlimit none = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &none) < 0 ||
	    prctl(PR_SET_DUMPABLE, 0) < 0)
		return keys_fail(EX_OSERR, "cannot turn core dumps off: %s",
		    strerror(errno));
	return EX_OK;
}

/* usage - the command list, on out */
static int
usage(FILE *out, int status)
{
	fprintf(out, "usage: p11dkim-keys [-c FILE] [--json] [--operator NAME] "
	    "[--owner USER] [--yes]\n"
	    "                    [--resolver ADDR[:PORT]] COMMAND ...\n"
	    "       p11dkim-keys --version\n\ncommands:\n");
	for (const struct keys_cmd *c = commands; c->name; c++)
		fprintf(out, "  %-11s %s\n", c->name, c->summary);
	fprintf(out, "\n'p11dkim-keys COMMAND --help' describes a command.\n"
	    "The configuration is %s unless -c says otherwise.\n",
	    DEFAULT_CONF);
	return status;
}

/* operator_name - who runs the ceremony: --operator, sudo's user, login */
static const char *
operator_name(const char *given)
{
	const char *s = getenv("SUDO_USER");
	struct passwd *pw;

	if (given != NULL)
		return given;
	if (s != NULL && *s)
		return s;
	pw = getpwuid(getuid());
	return pw ? pw->pw_name : "unknown";
}

/* wants_help - does the command's own argv ask for --help? */
static int
wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	return 0;
}

#ifdef P11DKIM_TEST_FAULTS
/*
 * test_fault - test builds only: P11DKIM_TEST_FAULT="POINT[@N]:COMMAND"
 * runs COMMAND (sh -c) the N-th time (default: the first) the ceremony
 * reaches POINT (see keys_fault), so that a test can take the token away
 * or make the log unwritable between the checks and the action.
 */
static void
test_fault(const char *point)
{
	static unsigned long hits;
	const char *spec = getenv("P11DKIM_TEST_FAULT"), *rest;
	size_t	 n = strlen(point);
	unsigned long want = 1;
	char	*end;

	if (spec == NULL || strncmp(spec, point, n) != 0)
		return;
	rest = spec + n;
	if (*rest == '@') {
		want = strtoul(rest + 1, &end, 10);
		rest = end;
	}
	if (*rest != ':' || ++hits != want)
		return;
	if (system(rest + 1) != 0)
		fprintf(stderr, "test fault at %s: '%s' failed\n", point,
		    rest + 1);
}
#endif

/* dispatch - run the command named argv[0] */
static int
dispatch(struct keys_run *r, int argc, char **argv)
{
	char	 err[CONF_ERR_MAX];
	int	 st, settled;

	for (const struct keys_cmd *c = commands; c->name; c++) {
		if (strcmp(c->name, argv[0]) != 0)
			continue;
		if (wants_help(argc, argv)) {
			printf("usage: p11dkim-keys [-c FILE] %s\n\n%s\n",
			    c->usage, c->summary);
			return EX_OK;
		}
		if ((r->conf = conf_load(r->conf_path, err, sizeof(err))) ==
		    NULL)
			return keys_fail(EX_CONFIG, "%s", err);
		if ((st = keys_owner_ready(r)) != EX_OK)
			return st;
		st = c->run(r, argc, argv);
		settled = keys_store_settle(r);
		return st != EX_OK ? st : settled;
	}
	keys_fail(EX_USAGE, "unknown command '%s'", argv[0]);
	return usage(stderr, EX_USAGE);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "operator", required_argument, NULL, 'o' },
		{ "yes", no_argument, NULL, 'y' },
		{ "owner", required_argument, NULL, 'O' },
		{ "resolver", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct keys_run r;
	const char *op = NULL;
	char	 err[256];
	int	 c, status;

	memset(&r, 0, sizeof(r));
	r.conf_path = DEFAULT_CONF;
#ifdef P11DKIM_TEST_FAULTS
	r.fault = test_fault;
#endif
	if ((status = no_core_dumps()) != EX_OK)
		return status;
	while ((c = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': r.conf_path = optarg; break;
		case 'j': r.json = 1; break;
		case 'o': op = optarg; break;
		case 'y': r.yes = 1; break;
		case 'O': r.owner = optarg; break;
		case 'R':
			if (dns_lookup_set_resolver(optarg, err, sizeof(err)) <
			    0)
				return keys_fail(EX_USAGE, "--resolver: %s", err);
			break;
		case 'h': return usage(stdout, EX_OK);
		case 'V':
			printf("p11dkim-keys %s\n", P11DKIM_VERSION);
			return EX_OK;
		default: return usage(stderr, EX_USAGE);
		}
	}
	if (optind >= argc)
		return usage(stderr, EX_USAGE);
	r.operator_name = operator_name(op);
	status = dispatch(&r, argc - optind, argv + optind);
	keys_public_free(&r);
	token_close(r.tok);
	p11_module_free(r.mod);
	token_store_folders_free(r.folders);
	conf_free(r.conf);
	if (keys_interrupted())
		status = keys_interrupt_status();
	return status;
}
