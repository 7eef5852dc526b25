/*
 * token_store.h - where a software token keeps its objects, and whether
 * a user can reach them.
 *
 * SoftHSM2 (file back end) keeps each token in a folder of its
 * directories.tokendir, named by a UUID whose last two groups spell the
 * token's serial (folder c1feead6-ab3b-b754-1c54-a2c6c1456a7b holds the
 * token with serial 1c54a2c6c1456a7b), and makes that folder mode 0700
 * and every object file in it 0600, owned by whoever created them.  A
 * process of another user does not get an error: SoftHSM2 silently skips
 * what it cannot read, so the token, or a key made by another user, is
 * simply not there.  These functions find that folder and say who can
 * use it, so that "no token labelled 'mosa'" can name its real cause.
 *
 * The configuration SoftHSM2 reads is found as SoftHSM2 2.6 finds it:
 * $SOFTHSM2_CONF, else $HOME/.config/softhsm2/softhsm2.conf when it
 * exists, else /etc/softhsm/softhsm2.conf.  So the answer is for this
 * process's environment: run the check with the daemon's.
 *
 * A vendor's module keeps its keys where we cannot look: the functions
 * that take a module say so (they return TOKEN_STORE_VENDOR) rather than
 * guess.  Access is judged from owner, group and mode bits (POSIX ACLs
 * are not read).  Nothing here exits; errors are recorded in a p11_err.
 */
#ifndef P11DKIM_TOKEN_STORE_H
#define P11DKIM_TOKEN_STORE_H

#include <stddef.h>
#include <sys/types.h>

#include "p11dkim/p11_err.h"
#include "p11dkim/p11_module.h"

#define TOKEN_STORE_PATH_MAX	1024
#define TOKEN_STORE_GROUPS_MAX	64
#define TOKEN_STORE_VENDOR	(-2)	/* not SoftHSM2: nothing to check */

/* SoftHSM2's store, as this process's environment finds it. */
struct token_store {
	char	 conf[TOKEN_STORE_PATH_MAX];	/* the configuration file */
	const char *conf_from;		/* "SOFTHSM2_CONF", "HOME", "default" */
	char	 tokendir[TOKEN_STORE_PATH_MAX];	/* no final '/' */
};

/* A user, with the groups that decide what it may open. */
struct token_store_who {
	uid_t	 uid;
	gid_t	 gid;
	gid_t	 groups[TOKEN_STORE_GROUPS_MAX];
	int	 ngroups;
	char	 name[64];		/* user name, or the number */
};

/* What a user cannot use in a token folder. */
struct token_store_denied {
	size_t	 n;			/* entries denied, folder included */
	char	 first[TOKEN_STORE_PATH_MAX];	/* the first of them */
	uid_t	 owner;			/* its owner */
	mode_t	 mode;			/* and permission bits */
	mode_t	 type;			/* and type (S_IFDIR, S_IFREG) */
};

/* token_store_is_softhsm2 - 1 when the module says it is SoftHSM */
int	token_store_is_softhsm2(struct p11_module *);

/*
 * token_store_locate - the SoftHSM2 configuration this process reads and
 * its directories.tokendir.  -1 when the file cannot be read or names no
 * token directory.
 */
int	token_store_locate(struct token_store *, struct p11_err *);

/*
 * token_store_folder - the folder of the token with this serial, into
 * out.  Returns 1, 0 when the token directory has none, -1 when the
 * directory cannot be listed.
 */
int	token_store_folder(const struct token_store *, const char *serial,
	    char *out, size_t len, struct p11_err *);

/*
 * The token folders of a store, listed once: a command that goes through
 * every institution finds each token's folder without listing the whole
 * token directory again (10,000 tokens: 10,000 entries each time).  A
 * folder made after the listing is not in it: fall back on
 * token_store_folder.
 */
struct token_store_folders;

/* token_store_folders_new - list the token directory; NULL and why */
struct token_store_folders *token_store_folders_new(const struct token_store *,
	    struct p11_err *);

/* token_store_folders_find - the folder of a serial, into out: 1, or 0 */
int	token_store_folders_find(const struct token_store_folders *,
	    const char *serial, char *out, size_t len);

/* token_store_folders_free - NULL is fine; returns NULL */
struct token_store_folders *token_store_folders_free(
	    struct token_store_folders *);

/* token_store_who_self - this process's effective user and groups */
void	token_store_who_self(struct token_store_who *);

/* token_store_who_user - a user by name or number, with its groups */
int	token_store_who_user(const char *user, struct token_store_who *,
	    struct p11_err *);

/*
 * token_store_access - what of folder who cannot use: the folder itself
 * needs read, write and search, each entry in it read and write (SoftHSM2
 * writes lock and generation files beside the objects).  0 with *out
 * filled (out->n 0: all usable), -1 when the folder cannot be examined.
 * Run by root it sees everything; another user sees only what it may.
 */
int	token_store_access(const char *folder, const struct token_store_who *,
	    struct token_store_denied *out, struct p11_err *);

/*
 * token_store_chown - the folder and every entry in it to uid:gid, never
 * following a symbolic link.  -1 at the first failure, named in err.
 */
int	token_store_chown(const char *folder, uid_t, gid_t, struct p11_err *);

/*
 * token_store_hint - why this process may not see a token or a key of
 * it: the token directory it cannot list, the token's folder (by serial;
 * serial NULL: any folder) or object files it cannot read, or a token
 * directory that holds no token at all (another SOFTHSM2_CONF?).  For the
 * message after "no token labelled ..." or "no private key labelled ...".
 * Returns 1 with a sentence in hint, 0 when the store shows nothing
 * wrong, TOKEN_STORE_VENDOR when the module is not SoftHSM2, -1 when the
 * store could not be examined (hint says why).
 */
int	token_store_hint(struct p11_module *, const char *serial, char *hint,
	    size_t len);

#endif
