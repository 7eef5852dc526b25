/*
 * owner.c - who may use the token store (see keys.h).
 *
 * SoftHSM2 gives each token folder mode 0700 and each object 0600, owned
 * by whoever ran the command that made them; group membership does not
 * help.  So a ceremony run as root makes a token, or a key, that the
 * daemon's signer (signer-user) cannot see, and the daemon later fails
 * with "no token labelled ...".  After a command that opened a token,
 * this checks the token's folder for the user who must use it and, with
 * --owner, first gives it to that user.
 *
 * Security notes: --owner changes owners only inside the token's own
 * folder, found from the token's serial, and never follows a symbolic
 * link (token_store_chown).  Only root may give files to another user;
 * that is checked before anything is done.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "p11dkim/token_store.h"
#include "keys.h"

/* keys_owner_ready - --owner names a user we may give files to */
int
keys_owner_ready(struct keys_run *r)
{
	struct token_store_who w;
	struct p11_err err;

	if (r->owner == NULL)
		return EX_OK;
	if (token_store_who_user(r->owner, &w, &err) < 0)
		return keys_fail(EX_NOUSER, "--owner: %s", err.msg);
	if (geteuid() != 0 && w.uid != geteuid())
		return keys_fail(EX_NOPERM, "--owner %s: only root may give "
		    "files to another user", r->owner);
	return EX_OK;
}

/*
 * intended - the user who must be able to use the token folder: --owner,
 * else signer-user, else (when we are root) the folder's owner.  1 with
 * *w and a word for who, 0 when nobody else needs it.
 */
static int
intended(struct keys_run *r, const char *folder, struct token_store_who *w,
    const char **who)
{
	const char *u = r->owner ? r->owner : r->conf->daemon.signer_user;
	char	 uid[32];
	struct p11_err err;
	struct stat st;

	if (u != NULL) {
		*who = r->owner ? "--owner" : "signer-user";
		return token_store_who_user(u, w, &err) == 0 &&
		    w->uid != geteuid();
	}
	if (geteuid() != 0 || stat(folder, &st) < 0 || st.st_uid == 0)
		return 0;
	*who = "the owner of the token folder";
	snprintf(uid, sizeof(uid), "%lu", (unsigned long)st.st_uid);
	return token_store_who_user(uid, w, &err) == 0;
}

/*
 * folder_of - the SoftHSM2 folder of the token with this serial: from the
 * listing this run made of the token directory, else (a token made since)
 * by listing it again
 */
static int
folder_of(struct keys_run *r, const char *serial, char *folder, size_t len)
{
	struct token_store s;
	struct p11_err err;
	int	 rc;

	if (r->folders != NULL && token_store_folders_find(r->folders, serial,
	    folder, len) > 0)
		return 0;
	if (token_store_locate(&s, &err) < 0)
		return keys_fail(-1, "warning: %s", err.msg);
	if (r->folders == NULL)
		r->folders = token_store_folders_new(&s, &err);
	if (r->folders != NULL && token_store_folders_find(r->folders, serial,
	    folder, len) > 0)
		return 0;
	if ((rc = token_store_folder(&s, serial, folder, len, &err)) <= 0)
		return keys_fail(-1, "warning: token '%s': %s",
		    r->inst->token_label, rc < 0 ? err.msg :
		    "no folder in the SoftHSM2 token directory");
	return 0;
}

/* warn_denied - the signer (or owner) will not see what was made */
static void
warn_denied(const struct token_store_denied *dn, const char *folder,
    const struct token_store_who *w, const char *who)
{
	keys_fail(0, "warning: token folder %s: %zu entr%s that %s (%s) "
	    "cannot read and write, e.g. %s (owner uid %lu, mode %04o): "
	    "p11dkimd's signer will not find the token or these keys; run "
	    "again with --owner %s (as root), or chown -R %s: %s", folder,
	    dn->n, dn->n == 1 ? "y" : "ies", w->name, who, dn->first,
	    (unsigned long)dn->owner, (unsigned)dn->mode, w->name, w->name,
	    folder);
}

/* keys_store_settle - give the token folder away (--owner), then check */
int
keys_store_settle(struct keys_run *r)
{
	const char *serial = r->tok ? token_info(r->tok)->serial :
	    r->init_serial, *who = NULL;
	char	 folder[TOKEN_STORE_PATH_MAX];
	struct token_store_denied dn;
	struct token_store_who w;
	struct p11_err err;

	if (serial[0] == '\0' || r->mod == NULL)
		return EX_OK;
	if (!token_store_is_softhsm2(r->mod)) {
		if (r->owner != NULL)
			keys_fail(0, "--owner: %s is not SoftHSM2: its token "
			    "store cannot be checked or changed from here",
			    r->conf->module);
		return EX_OK;
	}
	if (folder_of(r, serial, folder, sizeof(folder)) < 0 ||
	    intended(r, folder, &w, &who) <= 0)
		return EX_OK;
	if (r->owner != NULL) {
		if (token_store_chown(folder, w.uid, w.gid, &err) < 0)
			return keys_fail(EX_NOPERM, "--owner: %s", err.msg);
		keys_fail(0, "token folder %s and its files now belong to %s",
		    folder, w.name);
	}
	if (token_store_access(folder, &w, &dn, &err) < 0)
		keys_fail(0, "warning: %s", err.msg);
	else if (dn.n > 0)
		warn_denied(&dn, folder, &w, who);
	return EX_OK;
}
