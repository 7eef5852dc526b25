/*
 * milter_filter.c - the milter front's callbacks (see milter_filter.h):
 * it signs the mail of internal hosts and authenticated senders for the
 * domains the institutions own and passes everything else unchanged.
 *
 * Headers arrive one by one: with SMFIP_HDR_LEADSPC negotiated the value
 * is exactly what followed the colon, so "simple" header canonicalization
 * sees the header as the MTA will send it; without it, the MTA stripped
 * one space, which is put back.  The body streams through the hasher; the
 * signature is inserted at the top (smfi_insheader at 0).
 *
 * Authorization: an institution is signed for only when the client's
 * address is in its milter-hosts or the message's SASL login matches
 * its milter-logins; one that lists neither is signed for by nobody,
 * unless the milter is single-tenant (then by every internal host and
 * authenticated sender).  On a shared MTA one tenant's mailer thus never
 * gets another tenant's signature.  The login is the MTA's {auth_authen}
 * macro; the envelope sender and From are claims, never identities.
 *
 * Log: each message's line names the client and the MTA's queue ID (the
 * "i" macro, asked for at DATA; "-" while the MTA has none, as Postfix
 * at MAIL).  Mail passed unsigned as not ours (an untrusted client, a
 * domain no institution signs, a client not authorized for it) is an
 * info line "unsigned ... reason=WHY"; only trouble is a warning.
 *
 * Failure policy: a temporary failure (token down, signer busy) answers
 * tempfail so the MTA queues and retries, or accept unsigned when so
 * configured; a message that cannot be signed (no From, unknown domain)
 * is accepted unsigned with a log line.  Never a permanent rejection for
 * our own trouble.
 *
 * Security: everything the MTA passes (the client's name and address,
 * the envelope sender, macros, headers, body) is untrusted and bounded.
 * libmilter's callbacks take no argument of ours, so the process's one
 * front lives in statics, set once by milter_filter_init().  The
 * callbacks use only smfi_getpriv, smfi_setpriv, smfi_getsymval,
 * smfi_setsymlist and smfi_insheader of libmilter (fuzz/fuzz_milter.c
 * stands in for them).
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "p11dkim/addr.h"
#include "p11dkim/hosts.h"
#include "p11dkim/log.h"
#include "milter_filter.h"
#include "signing.h"

#define HEADER_MAX	(1024 * 1024)

struct mconn {
	int	 trusted_host;		/* the client is an internal host */
	int	 leadspc;		/* header values keep their space */
	unsigned long noreply;		/* steps the MTA expects no reply to */
	int	 in_msg;		/* a message is being signed */
	int	 headers_done;		/* its header section is complete */
	char	 client[96];		/* for the log */
	char	 queue[32];		/* the message's queue ID; "-" */
	char	 who[96 + 32 + 8];	/* both, as the log shows them */
	struct sockaddr_storage addr;	/* the client's, for milter-hosts */
	char	 login[CONF_LOGIN_MAX + 1];	/* the message's SASL login; "" */
	char	 domain[ADDR_DOMAIN_MAX + 1];	/* envelope or auth; "" */
	struct signing s;
};

static const struct front *mfront;
static const struct conf_milter *mconf;

/* conn_of - this connection's state, made on first use */
static struct mconn *
conn_of(SMFICTX *ctx)
{
	struct mconn *mc = smfi_getpriv(ctx);

	if (mc == NULL && (mc = calloc(1, sizeof(*mc))) != NULL &&
	    smfi_setpriv(ctx, mc) != MI_SUCCESS) {
		free(mc);
		mc = NULL;
	}
	return mc;
}

/* end_message - forget the message in progress, if any */
static void
end_message(struct mconn *mc)
{
	if (mc->in_msg)
		signing_drop(&mc->s);
	mc->in_msg = 0;
}

/*
 * Protocol steps: the header values exactly as they are; no HELO, RCPT,
 * end-of-headers or unknown commands (nothing to do with them: the
 * header section ends where the body or the end of the message begins);
 * DATA only for its macros (the queue ID, which Postfix has from DATA
 * on); and no reply awaited after the connection, MAIL, DATA, each
 * header and each body chunk.  The MTA then waits for us once per
 * message, at its end:
 * a message passed unsigned is accepted there, not earlier.  For an MTA
 * that does not offer a "no reply" option, libmilter offers it to us all
 * the same and sends "continue" in our place; one that sends the end of
 * the headers gets "accept" there for mail that is not signed.
 */
#define NOREPLY_STEPS	(SMFIP_NR_CONN | SMFIP_NR_MAIL | SMFIP_NR_DATA | \
	    SMFIP_NR_HDR | SMFIP_NR_BODY)
#define WANTED_STEPS	(SMFIP_HDR_LEADSPC | SMFIP_NOHELO | SMFIP_NORCPT | \
	    SMFIP_NOEOH | SMFIP_NOUNKNOWN | NOREPLY_STEPS)

/* m_negotiate - the protocol steps above, as far as the MTA offers them */
static sfsistat
m_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
    unsigned long f2, unsigned long f3, unsigned long *pf0,
    unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	struct mconn *mc = conn_of(ctx);

	(void)f2;
	(void)f3;
	if (mc == NULL)
		return SMFIS_TEMPFAIL;
	*pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_SETSYMLIST);
	*pf1 = f1 & WANTED_STEPS;
	if ((*pf0 & SMFIF_SETSYMLIST) && smfi_setsymlist(ctx, SMFIM_DATA,
	    (char *)(uintptr_t)"i") != MI_SUCCESS)
		*pf0 &= ~(unsigned long)SMFIF_SETSYMLIST;
	*pf2 = *pf3 = 0;
	mc->leadspc = (*pf1 & SMFIP_HDR_LEADSPC) != 0;
	mc->noreply = *pf1 & NOREPLY_STEPS;
	return SMFIS_CONTINUE;
}

/* go_on - "continue", or no reply at all when the MTA expects none */
static sfsistat
go_on(const struct mconn *mc, unsigned long step)
{
	return mc != NULL && (mc->noreply & step) ? SMFIS_NOREPLY :
	    SMFIS_CONTINUE;
}

/*
 * client_address - keep the client's address; a local submission that
 * comes without one (Sendmail's) is 127.0.0.1, the address Postfix gives
 * its own non-SMTP mail, so that both are matched alike
 */
static void
client_address(struct mconn *mc, const struct sockaddr *sa)
{
	struct sockaddr_in *lo = (struct sockaddr_in *)(void *)&mc->addr;

	memset(&mc->addr, 0, sizeof(mc->addr));
	if (sa == NULL) {
		lo->sin_family = AF_INET;
		lo->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else if (sa->sa_family == AF_INET) {
		memcpy(&mc->addr, sa, sizeof(struct sockaddr_in));
	} else if (sa->sa_family == AF_INET6) {
		memcpy(&mc->addr, sa, sizeof(struct sockaddr_in6));
	}				/* other families match no list */
}

/* m_connect - is the client one of the internal hosts? */
static sfsistat
m_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *addr)
{
	struct mconn *mc = conn_of(ctx);

	if (mc == NULL)
		return SMFIS_TEMPFAIL;
	client_address(mc, addr);
	mc->trusted_host = hosts_match(mconf->internal_hosts,
	    (const struct sockaddr *)&mc->addr);
	snprintf(mc->client, sizeof(mc->client), "client=%.80s",
	    host ? host : "local");
	return go_on(mc, SMFIP_NR_CONN);
}

/* address_domain - the domain of an address or login; 0, or -1: none */
static int
address_domain(const char *s, char *domain, size_t len)
{
	const char *why;

	domain[0] = '\0';
	if (s == NULL || strchr(s, '@') == NULL ||
	    addr_from_domain(s, strlen(s), domain, len, &why) < 0) {
		domain[0] = '\0';
		return -1;
	}
	return 0;
}

/*
 * take_login - the message's SASL login, when authenticated senders are
 * signed for; NULL, or why the message passes unsigned (a login too long
 * or with control characters, which would not be logged safely)
 */
static const char *
take_login(struct mconn *mc, const char *auth)
{
	size_t	 n = auth != NULL ? strlen(auth) : 0;

	mc->login[0] = '\0';
	if (!mconf->sign_authenticated || n == 0)
		return NULL;
	if (n > CONF_LOGIN_MAX)
		return "its SASL login is too long";
	for (size_t k = 0; k < n; k++)
		if ((unsigned char)auth[k] < ' ' || auth[k] == 0x7f)
			return "its SASL login has control characters";
	memcpy(mc->login, auth, n + 1);
	return NULL;
}

/*
 * sender_domain - the domain that chooses the institution when the
 * configuration takes it from the envelope sender or the SASL login;
 * none (the From header decides) for a bounce's empty sender or mail
 * without a login.  NULL, or why the message passes unsigned: with
 * signing-domain = auth a login without a domain chooses nothing, and
 * From does not stand in for it.
 */
static const char *
sender_domain(struct mconn *mc, const char *envfrom)
{
	if (mconf->domain_from == CONF_DOMAIN_ENVELOPE)
		(void)address_domain(envfrom, mc->domain, sizeof(mc->domain));
	else if (mconf->domain_from != CONF_DOMAIN_AUTH || mc->login[0] == '\0')
		mc->domain[0] = '\0';
	else if (address_domain(mc->login, mc->domain, sizeof(mc->domain)) < 0)
		return "its SASL login has no domain (signing-domain = auth)";
	return NULL;
}

/*
 * take_queue_id - the MTA's queue ID for the message, when it has one
 * yet: at most 31 printable characters without spaces, else kept
 */
static void
take_queue_id(SMFICTX *ctx, struct mconn *mc)
{
	char	 macro[] = "i";
	const char *v = smfi_getsymval(ctx, macro);
	size_t	 n = 0;

	for (; v != NULL && *v != '\0' && n < sizeof(mc->queue) - 1; v++)
		if (*v > ' ' && *v < 127)
			mc->queue[n++] = *v;
	if (n > 0)
		mc->queue[n] = '\0';
}

/* who - "client=HOST queue=ID" for the message's log line */
static const char *
who(struct mconn *mc)
{
	snprintf(mc->who, sizeof(mc->who), "%s queue=%s", mc->client,
	    mc->queue);
	return mc->who;
}

/* pass_at_mail - a message that is not signed, decided at MAIL */
static sfsistat
pass_at_mail(struct mconn *mc, const char *why)
{
	log_info("unsigned %s%s%s reason=%s", who(mc), mc->login[0] ?
	    " login=" : "", mc->login, why);
	return (mc->noreply & SMFIP_NR_MAIL) ? SMFIS_NOREPLY : SMFIS_ACCEPT;
}

/* m_envfrom - a new message: signed only for trusted senders */
static sfsistat
m_envfrom(SMFICTX *ctx, char **argv)
{
	struct mconn *mc = conn_of(ctx);
	char	 macro[] = "{auth_authen}";
	const char *why;

	if (mc == NULL)
		return SMFIS_TEMPFAIL;
	end_message(mc);
	snprintf(mc->queue, sizeof(mc->queue), "-");
	take_queue_id(ctx, mc);
	if ((why = take_login(mc, smfi_getsymval(ctx, macro))) != NULL)
		return pass_at_mail(mc, why);
	if (!mc->trusted_host && mc->login[0] == '\0')
		return pass_at_mail(mc, "is not an internal host and did not "
		    "authenticate");
	if ((why = sender_domain(mc, argv ? argv[0] : NULL)) != NULL)
		return pass_at_mail(mc, why);
	signing_begin(&mc->s, mfront);
	mc->s.passes_unsigned = 1;
	mc->in_msg = 1;
	mc->headers_done = 0;
	return go_on(mc, SMFIP_NR_MAIL);
}

/* m_data - DATA: the queue ID, which the MTA may have only now */
static sfsistat
m_data(SMFICTX *ctx)
{
	struct mconn *mc = conn_of(ctx);

	if (mc != NULL)
		take_queue_id(ctx, mc);
	return go_on(mc, SMFIP_NR_DATA);
}

/* login_listed - does the message's login match the institution's list? */
static int
login_listed(const struct mconn *mc, const struct conf_institution *i)
{
	char	 domain[ADDR_DOMAIN_MAX + 1];
	int	 has_domain;

	if (mc->login[0] == '\0' || i->nmilter_logins == 0)
		return 0;
	has_domain = address_domain(mc->login, domain, sizeof(domain)) == 0;
	for (size_t k = 0; k < i->nmilter_logins; k++) {
		const char *p = i->milter_logins[k];

		if (strncmp(p, "*@", 2) == 0 ? has_domain &&
		    strcasecmp(p + 2, domain) == 0 : strcmp(p, mc->login) == 0)
			return 1;
	}
	return 0;
}

/*
 * authorized - may this client have the institution sign?  Its address
 * in milter-hosts or its login in milter-logins; an institution that
 * lists neither only in the single-tenant model.  If not, the message
 * fails (and passes unsigned) with the reason.
 */
static int
authorized(struct mconn *mc, const struct conf_institution *i)
{
	if (i->milter_hosts == NULL && i->nmilter_logins == 0) {
		if (mconf->single_tenant)
			return 1;
		signing_fail(&mc->s, SIGNING_PERM, "not authorized: %s lists "
		    "no milter-hosts or milter-logins (single-tenant = false)",
		    i->code);
		mc->s.not_ours = 1;
		return 0;
	}
	if (hosts_match(i->milter_hosts, (const struct sockaddr *)&mc->addr) ||
	    login_listed(mc, i))
		return 1;
	if (mc->login[0] == '\0')
		signing_fail(&mc->s, SIGNING_PERM, "not authorized: the client "
		    "is not in %s's milter-hosts and has no login", i->code);
	else
		signing_fail(&mc->s, SIGNING_PERM, "not authorized: the client "
		    "is not in %s's milter-hosts and login %s is not in its "
		    "milter-logins", i->code, mc->login);
	mc->s.not_ours = 1;
	return 0;
}

/* m_header - one header field, rebuilt as it will be sent */
static sfsistat
m_header(SMFICTX *ctx, char *name, char *value)
{
	struct mconn *mc = conn_of(ctx);
	size_t	 nlen = strlen(name), vlen = strlen(value), used;
	char	*field;

	if (mc == NULL || !mc->in_msg || mc->headers_done || mc->s.fail)
		return go_on(mc, SMFIP_NR_HDR);
	if (nlen + vlen + 3 > HEADER_MAX || (field = malloc(nlen + vlen +
	    3)) == NULL) {
		signing_fail(&mc->s, SIGNING_PERM, "header field too large");
		return go_on(mc, SMFIP_NR_HDR);
	}
	memcpy(field, name, nlen);
	field[nlen] = ':';
	used = nlen + 1;
	if (!mc->leadspc)
		field[used++] = ' ';	/* the MTA took one space away */
	memcpy(field + used, value, vlen);
	used += vlen;
	field[used++] = '\n';
	(void)signing_headers(&mc->s, field, used, &(size_t){0});
	free(field);
	return go_on(mc, SMFIP_NR_HDR);
}

/*
 * headers_end - the header section is complete: which institution signs?
 * 0 when the message goes unsigned (logged why), 1 to go on
 */
static int
headers_end(struct mconn *mc)
{
	if (mc->headers_done)
		return mc->in_msg;
	mc->headers_done = 1;
	if (!mc->s.fail && signing_headers(&mc->s, "\n", 1, &(size_t){0}) &&
	    signing_pick(&mc->s, mc->domain[0] ? mc->domain : NULL) != NULL &&
	    authorized(mc, mc->s.e->inst))
		signing_add(&mc->s);
	if (mc->s.fail) {
		signing_done(&mc->s, who(mc));	/* logs why */
		mc->in_msg = 0;
		return 0;
	}
	return 1;
}

/* m_eoh - the end of the header section, from an MTA that sends it */
static sfsistat
m_eoh(SMFICTX *ctx)
{
	struct mconn *mc = conn_of(ctx);

	if (mc == NULL)
		return SMFIS_CONTINUE;
	/* Not signed (an untrusted client, a foreign domain): accept now. */
	return mc->in_msg && headers_end(mc) ? SMFIS_CONTINUE : SMFIS_ACCEPT;
}

/* m_body - a body chunk, hashed as it streams */
static sfsistat
m_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	struct mconn *mc = conn_of(ctx);

	if (mc == NULL)
		return SMFIS_CONTINUE;
	if (!mc->in_msg || !headers_end(mc))	/* unsigned: no more needed */
		return (mc->noreply & SMFIP_NR_BODY) ? SMFIS_NOREPLY :
		    SMFIS_ACCEPT;
	signing_body(&mc->s, (const char *)chunk, len);
	return go_on(mc, SMFIP_NR_BODY);
}

/* insert_one - one field's value (after the colon) at the top */
static int
insert_one(SMFICTX *ctx, struct mconn *mc, const char *v, const char *end)
{
	char	 name[] = "DKIM-Signature";
	char	*value, *o;
	int	 rc;

	if (!mc->leadspc && v < end && *v == ' ')
		v++;				/* the MTA puts it back */
	if ((value = o = malloc((size_t)(end - v) + 1)) == NULL)
		return -1;
	for (; v < end; v++)
		if (*v != '\r')		/* LF line ends: the MTA writes CRLF */
			*o++ = *v;
	*o = '\0';
	rc = smfi_insheader(ctx, 0, name, value) == MI_SUCCESS ? 0 : -1;
	free(value);
	return rc;
}

/*
 * insert_fields - each field of the reply ("DKIM-Signature: ...\r\n"),
 * inserted at the top so that they end up in the order given
 */
static int
insert_fields(SMFICTX *ctx, struct mconn *mc, const char *fields, size_t len)
{
	static const char name[] = "DKIM-Signature:";
	const char *start[DKIM_SIGNATURES_MAX + 1], *end = fields + len, *p;
	size_t	 n = 0;

	for (p = fields; p < end && n < DKIM_SIGNATURES_MAX; n++) {
		start[n] = p;
		p = strstr(p + 1, "\r\nDKIM-Signature:");
		p = p ? p + 2 : end;
	}
	start[n] = end;
	while (n-- > 0)
		if (insert_one(ctx, mc, start[n] + sizeof(name) - 1,
		    start[n + 1] - 2) < 0)
			return -1;
	return 0;
}

/* m_eom - the message is complete: sign it, or decide what to do */
static sfsistat
m_eom(SMFICTX *ctx)
{
	struct mconn *mc = conn_of(ctx);
	const char *fields;
	size_t	 len;
	sfsistat rc = SMFIS_ACCEPT;

	if (mc == NULL || !mc->in_msg || !headers_end(mc))
		return SMFIS_ACCEPT;		/* unsigned, unchanged */
	take_queue_id(ctx, mc);
	signing_client(&mc->s, SIGNER_FRONT_MILTER, who(mc));
	fields = signing_finish(&mc->s, &len);
	if (fields != NULL && insert_fields(ctx, mc, fields, len) < 0)
		signing_fail(&mc->s, SIGNING_TEMP, "the MTA did not take the "
		    "signature header");
	/* Over quota: the MTA queues it, whatever on-token-failure says. */
	if (mc->s.fail == SIGNING_TEMP && (!mconf->accept_on_token_failure ||
	    mc->s.over_quota))
		rc = SMFIS_TEMPFAIL;
	signing_done(&mc->s, who(mc));
	mc->in_msg = 0;
	return rc;
}

/* m_abort - the MTA gave up on the message */
static sfsistat
m_abort(SMFICTX *ctx)
{
	struct mconn *mc = smfi_getpriv(ctx);

	if (mc != NULL)
		end_message(mc);
	return SMFIS_CONTINUE;
}

/* m_close - the connection ends */
static sfsistat
m_close(SMFICTX *ctx)
{
	struct mconn *mc = smfi_getpriv(ctx);

	if (mc != NULL) {
		end_message(mc);
		free(mc);
		smfi_setpriv(ctx, NULL);
	}
	return SMFIS_CONTINUE;
}

static struct smfiDesc desc = {
	.xxfi_name = (char *)(uintptr_t)"p11dkimd",
	.xxfi_version = SMFI_VERSION,
	.xxfi_flags = SMFIF_ADDHDRS,
	.xxfi_connect = m_connect,
	.xxfi_envfrom = m_envfrom,
	.xxfi_data = m_data,
	.xxfi_header = m_header,
	.xxfi_eoh = m_eoh,
	.xxfi_body = m_body,
	.xxfi_eom = m_eom,
	.xxfi_abort = m_abort,
	.xxfi_close = m_close,
	.xxfi_negotiate = m_negotiate,
};

/* milter_filter_init - what the callbacks work with */
void
milter_filter_init(const struct front *f, const struct conf_milter *m)
{
	mfront = f;
	mconf = m;
}

/* milter_filter_desc - the callbacks, for smfi_register */
const struct smfiDesc *
milter_filter_desc(void)
{
	return &desc;
}
