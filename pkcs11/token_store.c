/*
 * token_store.c - SoftHSM2's token folders and who can use them (see
 * include/p11dkim/token_store.h).
 *
 * Security notes: this reads a configuration file and directory listings
 * only, never an object's contents.  Paths are bounded; a name that does
 * not fit is an error, not a truncation.  token_store_chown() changes
 * owners with fchownat(AT_SYMLINK_NOFOLLOW), so a link planted in a token
 * folder cannot hand another file to the new owner.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "p11dkim/token_store.h"

#define DEFAULT_CONF	"/etc/softhsm/softhsm2.conf"
#define UUID_LEN	36	/* 8-4-4-4-12 */

/* token_store_is_softhsm2 - 1 when the module says it is SoftHSM */
int
token_store_is_softhsm2(struct p11_module *mod)
{
	CK_INFO	 info;
	CK_RV	 rv;

	p11_module_enter(mod);
	rv = p11_module_functions(mod)->C_GetInfo(&info);
	p11_module_leave(mod);
	return rv == CKR_OK &&
	    memcmp(info.manufacturerID, "SoftHSM", 7) == 0;
}

/* conf_path - which configuration SoftHSM2 reads in this environment */
static int
conf_path(struct token_store *s, struct p11_err *err)
{
	const char *env = getenv("SOFTHSM2_CONF"), *home = getenv("HOME");
	int	 n;

	if (env != NULL && *env != '\0') {
		s->conf_from = "SOFTHSM2_CONF";
		n = snprintf(s->conf, sizeof(s->conf), "%s", env);
	} else {
		s->conf_from = "default";
		n = snprintf(s->conf, sizeof(s->conf), "%s", DEFAULT_CONF);
		if (home != NULL && *home != '\0') {
			char	 user[TOKEN_STORE_PATH_MAX];
			int	 u = snprintf(user, sizeof(user),
			    "%s/.config/softhsm2/softhsm2.conf", home);

			if (u > 0 && (size_t)u < sizeof(user) &&
			    access(user, F_OK) == 0) {
				s->conf_from = "HOME";
				n = snprintf(s->conf, sizeof(s->conf), "%s",
				    user);
			}
		}
	}
	if (n < 0 || (size_t)n >= sizeof(s->conf))
		return p11_err_set(err, 0, CKR_OK, "SoftHSM2 configuration "
		    "path too long");
	return 0;
}

/* trim - s without leading and trailing blanks, in place */
static char *
trim(char *s)
{
	size_t	 n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
	    s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* tokendir_line - a "directories.tokendir = PATH" line into s */
static int
tokendir_line(struct token_store *s, char *line)
{
	char	*eq = strchr(line, '='), *v;
	size_t	 n;

	if (eq == NULL)
		return 0;
	*eq = '\0';
	if (strcmp(trim(line), "directories.tokendir") != 0)
		return 0;
	v = trim(eq + 1);
	n = strlen(v);
	while (n > 1 && v[n - 1] == '/')
		v[--n] = '\0';
	if (n == 0 || n >= sizeof(s->tokendir))
		return -1;
	memcpy(s->tokendir, v, n + 1);
	return 1;
}

/* token_store_locate - the configuration and its token directory */
int
token_store_locate(struct token_store *s, struct p11_err *err)
{
	char	 line[TOKEN_STORE_PATH_MAX + 64];
	FILE	*f;
	int	 found = 0;

	memset(s, 0, sizeof(*s));
	if (conf_path(s, err) < 0)
		return -1;
	if ((f = fopen(s->conf, "re")) == NULL)
		return p11_err_set(err, 0, CKR_OK, "SoftHSM2 configuration %s "
		    "(%s): %s", s->conf, s->conf_from, strerror(errno));
	while (found == 0 && fgets(line, sizeof(line), f) != NULL)
		if (line[0] != '#')
			found = tokendir_line(s, line);
	fclose(f);
	if (found <= 0)
		return p11_err_set(err, 0, CKR_OK, "SoftHSM2 configuration %s "
		    "(%s): no usable directories.tokendir", s->conf,
		    s->conf_from);
	return 0;
}

/*
 * serial_of_folder - SoftHSM2 names a token's folder by a UUID and makes
 * the serial from its last two groups: 4 + 12 hex digits.
 */
static int
serial_of_folder(const char *name, const char *serial)
{
	char	 s[17];

	if (strlen(name) != UUID_LEN || name[8] != '-' || name[13] != '-' ||
	    name[18] != '-' || name[23] != '-')
		return 0;
	memcpy(s, name + 19, 4);
	memcpy(s + 4, name + 24, 12);
	s[16] = '\0';
	return strcmp(s, serial) == 0;
}

/* join - dir/name into out; -1 when it does not fit */
static int
join(char *out, size_t len, const char *dir, const char *name)
{
	int	 n = snprintf(out, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* token_store_folder - the folder of the token with this serial */
int
token_store_folder(const struct token_store *s, const char *serial,
    char *out, size_t len, struct p11_err *err)
{
	struct dirent *e;
	DIR	*d;
	int	 found = 0;

	if ((d = opendir(s->tokendir)) == NULL)
		return p11_err_set(err, 0, CKR_OK, "token directory %s: %s",
		    s->tokendir, strerror(errno));
	while (!found && (e = readdir(d)) != NULL)
		if (serial_of_folder(e->d_name, serial)) {
			if (join(out, len, s->tokendir, e->d_name) < 0) {
				closedir(d);
				return p11_err_set(err, 0, CKR_OK, "token "
				    "directory %s: path too long", s->tokendir);
			}
			found = 1;
		}
	closedir(d);
	return found;
}

/* One token folder: its serial and its name. */
struct folder {
	char	 serial[17];
	char	*name;
};

struct token_store_folders {
	char	 tokendir[TOKEN_STORE_PATH_MAX];
	struct folder *f;
	size_t	 n, cap;
};

/* by_serial - qsort and bsearch order of folders */
static int
by_serial(const void *a, const void *b)
{
	return strcmp(((const struct folder *)a)->serial,
	    ((const struct folder *)b)->serial);
}

/* add_folder - one more folder, when name is a token's; -1: no memory */
static int
add_folder(struct token_store_folders *fs, const char *name)
{
	struct folder *more;

	if (strlen(name) != UUID_LEN || name[8] != '-' || name[13] != '-' ||
	    name[18] != '-' || name[23] != '-')
		return 0;
	if (fs->n == fs->cap) {
		size_t cap = fs->cap ? 2 * fs->cap : 64;

		if ((more = realloc(fs->f, cap * sizeof(*more))) == NULL)
			return -1;
		fs->f = more;
		fs->cap = cap;
	}
	memcpy(fs->f[fs->n].serial, name + 19, 4);
	memcpy(fs->f[fs->n].serial + 4, name + 24, 12);
	fs->f[fs->n].serial[16] = '\0';
	if ((fs->f[fs->n].name = strdup(name)) == NULL)
		return -1;
	fs->n++;
	return 0;
}

/* token_store_folders_new - every token folder, listed once; NULL and why */
struct token_store_folders *
token_store_folders_new(const struct token_store *s, struct p11_err *err)
{
	struct token_store_folders *fs = calloc(1, sizeof(*fs));
	struct dirent *e;
	DIR	*d;
	int	 rc = 0;

	if (fs == NULL) {
		p11_err_set(err, 0, CKR_OK, "out of memory");
		return NULL;
	}
	snprintf(fs->tokendir, sizeof(fs->tokendir), "%s", s->tokendir);
	if ((d = opendir(s->tokendir)) == NULL) {
		p11_err_set(err, 0, CKR_OK, "token directory %s: %s",
		    s->tokendir, strerror(errno));
		return token_store_folders_free(fs);
	}
	while (rc == 0 && (e = readdir(d)) != NULL)
		rc = add_folder(fs, e->d_name);
	closedir(d);
	if (rc < 0) {
		p11_err_set(err, 0, CKR_OK, "out of memory");
		return token_store_folders_free(fs);
	}
	if (fs->n > 0)
		qsort(fs->f, fs->n, sizeof(*fs->f), by_serial);
	return fs;
}

/* token_store_folders_find - the listed folder of a serial: 1, or 0 */
int
token_store_folders_find(const struct token_store_folders *fs,
    const char *serial, char *out, size_t len)
{
	struct folder key, *f;

	if (strlen(serial) != 16 || fs->n == 0)
		return 0;
	memcpy(key.serial, serial, sizeof(key.serial));
	if ((f = bsearch(&key, fs->f, fs->n, sizeof(*fs->f), by_serial)) ==
	    NULL)
		return 0;
	return join(out, len, fs->tokendir, f->name) < 0 ? 0 : 1;
}

/* token_store_folders_free - NULL is fine; returns NULL */
struct token_store_folders *
token_store_folders_free(struct token_store_folders *fs)
{
	if (fs == NULL)
		return NULL;
	for (size_t k = 0; k < fs->n; k++)
		free(fs->f[k].name);
	free(fs->f);
	free(fs);
	return NULL;
}

/* token_store_who_self - this process's effective user and groups */
void
token_store_who_self(struct token_store_who *w)
{
	struct passwd *pw;
	int	 n;

	memset(w, 0, sizeof(*w));
	w->uid = geteuid();
	w->gid = getegid();
	n = getgroups(TOKEN_STORE_GROUPS_MAX, w->groups);
	w->ngroups = n < 0 ? 0 : n;
	if ((pw = getpwuid(w->uid)) != NULL)
		snprintf(w->name, sizeof(w->name), "%s", pw->pw_name);
	else
		snprintf(w->name, sizeof(w->name), "%lu",
		    (unsigned long)w->uid);
}

/* token_store_who_user - a user by name or number, with its groups */
int
token_store_who_user(const char *user, struct token_store_who *w,
    struct p11_err *err)
{
	struct passwd *pw;
	char	*end;
	long	 uid = strtol(user, &end, 10);
	int	 n = TOKEN_STORE_GROUPS_MAX;

	memset(w, 0, sizeof(*w));
	pw = *user != '\0' && *end == '\0' && uid >= 0 ?
	    getpwuid((uid_t)uid) : getpwnam(user);
	if (pw == NULL)
		return p11_err_set(err, 0, CKR_OK, "no user %s", user);
	w->uid = pw->pw_uid;
	w->gid = pw->pw_gid;
	if (getgrouplist(pw->pw_name, pw->pw_gid, w->groups, &n) < 0)
		n = TOKEN_STORE_GROUPS_MAX;	/* the first ones; enough */
	w->ngroups = n;
	snprintf(w->name, sizeof(w->name), "%s", pw->pw_name);
	return 0;
}

/* in_groups - is gid one of who's groups? */
static int
in_groups(const struct token_store_who *w, gid_t gid)
{
	if (gid == w->gid)
		return 1;
	for (int i = 0; i < w->ngroups; i++)
		if (w->groups[i] == gid)
			return 1;
	return 0;
}

/* may - do the mode bits give who every permission in want (rwx bits)? */
static int
may(const struct stat *st, const struct token_store_who *w, unsigned want)
{
	unsigned bits;

	if (w->uid == 0)
		return 1;
	if (st->st_uid == w->uid)
		bits = (st->st_mode >> 6) & 7;
	else if (in_groups(w, st->st_gid))
		bits = (st->st_mode >> 3) & 7;
	else
		bits = st->st_mode & 7;
	return (bits & want) == want;
}

/* is_object - a SoftHSM2 object file (rather than its lock) */
static int
is_object(const char *path)
{
	size_t	 n = strlen(path);

	return n > 7 && strcmp(path + n - 7, ".object") == 0;
}

/*
 * deny - count one entry who cannot use, and name the first: the folder
 * itself when it is denied, else preferably an object file
 */
static void
deny(struct token_store_denied *out, const char *path, const struct stat *st)
{
	if (out->n++ > 0 && (S_ISDIR(out->type) || is_object(out->first) ||
	    !is_object(path)))
		return;
	out->type = st->st_mode & S_IFMT;
	snprintf(out->first, sizeof(out->first), "%s", path);
	out->owner = st->st_uid;
	out->mode = st->st_mode & 07777;
}

/* entries_access - each entry of an open folder: read and write */
static int
entries_access(DIR *d, const char *folder, const struct token_store_who *w,
    struct token_store_denied *out, struct p11_err *err)
{
	char	 path[TOKEN_STORE_PATH_MAX];
	struct dirent *e;
	struct stat st;

	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (join(path, sizeof(path), folder, e->d_name) < 0)
			return p11_err_set(err, 0, CKR_OK, "%s: path too long",
			    folder);
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return p11_err_set(err, 0, CKR_OK, "%s: %s", path,
			    strerror(errno));
		if (!may(&st, w, 6))
			deny(out, path, &st);
	}
	return 0;
}

/* token_store_access - what of folder who cannot use */
int
token_store_access(const char *folder, const struct token_store_who *w,
    struct token_store_denied *out, struct p11_err *err)
{
	struct stat st;
	DIR	*d;
	int	 rc;

	memset(out, 0, sizeof(*out));
	if (lstat(folder, &st) < 0)
		return p11_err_set(err, 0, CKR_OK, "token folder %s: %s",
		    folder, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return p11_err_set(err, 0, CKR_OK, "token folder %s: not a "
		    "directory", folder);
	if (!may(&st, w, 7))
		deny(out, folder, &st);
	if ((d = opendir(folder)) == NULL) {
		if (errno == EACCES && out->n > 0)
			return 0;	/* we cannot look further; nor can who */
		return p11_err_set(err, 0, CKR_OK, "token folder %s: %s",
		    folder, strerror(errno));
	}
	rc = entries_access(d, folder, w, out, err);
	closedir(d);
	return rc;
}

/* token_store_chown - the folder and every entry in it to uid:gid */
int
token_store_chown(const char *folder, uid_t uid, gid_t gid,
    struct p11_err *err)
{
	struct dirent *e;
	DIR	*d;
	int	 rc = 0;

	if ((d = opendir(folder)) == NULL)
		return p11_err_set(err, 0, CKR_OK, "token folder %s: %s",
		    folder, strerror(errno));
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, "..") == 0)
			continue;
		if (fchownat(dirfd(d), e->d_name, uid, gid,
		    AT_SYMLINK_NOFOLLOW) < 0)
			rc = p11_err_set(err, 0, CKR_OK, "chown %s/%s: %s",
			    folder, e->d_name, strerror(errno));
	}
	closedir(d);
	return rc;
}

/* say_denied - the hint for a folder with entries this process cannot use */
static int
say_denied(const struct token_store_denied *dn, const char *folder,
    const struct token_store_who *w, char *hint, size_t len)
{
	int	 whole = strcmp(dn->first, folder) == 0;

	snprintf(hint, len, "the SoftHSM2 token folder %s %s that uid %lu "
	    "(%s) cannot read and write (%s%s, owner uid %lu, mode %04o): "
	    "SoftHSM2 skips what it cannot read, so a token or key made by "
	    "another user is invisible; give the folder and its files to "
	    "this user (as root: p11dkim-keys --owner %s ..., or chown -R)",
	    folder, whole ? "itself is one" : "holds files",
	    (unsigned long)w->uid, w->name, whole ? "the folder" : "e.g. ",
	    whole ? "" : dn->first, (unsigned long)dn->owner,
	    (unsigned)dn->mode, w->name);
	return 1;
}

/* hint_serial - the folder of one token, by serial */
static int
hint_serial(const struct token_store *s, const char *serial,
    const struct token_store_who *w, char *hint, size_t len)
{
	char	 folder[TOKEN_STORE_PATH_MAX];
	struct token_store_denied dn;
	struct p11_err err;
	int	 rc;

	if ((rc = token_store_folder(s, serial, folder, sizeof(folder),
	    &err)) < 0)
		return snprintf(hint, len, "%s", err.msg), -1;
	if (rc == 0)
		return snprintf(hint, len, "the SoftHSM2 token directory %s "
		    "(configuration %s, from %s) has no folder for serial %s: "
		    "is it the store the ceremony used?", s->tokendir, s->conf,
		    s->conf_from, serial), 1;
	if (token_store_access(folder, w, &dn, &err) < 0)
		return snprintf(hint, len, "%s", err.msg), -1;
	return dn.n > 0 ? say_denied(&dn, folder, w, hint, len) : 0;
}

/* hint_any - every token folder: is any of them out of reach? */
static int
hint_any(const struct token_store *s, const struct token_store_who *w,
    char *hint, size_t len)
{
	char	 folder[TOKEN_STORE_PATH_MAX], first[TOKEN_STORE_PATH_MAX] = "";
	struct token_store_denied dn, one;
	struct p11_err err;
	struct dirent *e;
	size_t	 folders = 0, denied = 0;
	DIR	*d;

	if ((d = opendir(s->tokendir)) == NULL)
		return snprintf(hint, len, "token directory %s: %s",
		    s->tokendir, strerror(errno)), -1;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || join(folder, sizeof(folder),
		    s->tokendir, e->d_name) < 0 ||
		    token_store_access(folder, w, &one, &err) < 0)
			continue;
		folders++;
		if (one.n > 0 && denied++ == 0) {
			dn = one;
			snprintf(first, sizeof(first), "%s", folder);
		}
	}
	closedir(d);
	if (denied > 0)
		return say_denied(&dn, first, w, hint, len);
	if (folders == 0)
		return snprintf(hint, len, "the SoftHSM2 token directory %s "
		    "(configuration %s, from %s) holds no token: is it the "
		    "store the ceremony used (SOFTHSM2_CONF)?", s->tokendir,
		    s->conf, s->conf_from), 1;
	return 0;
}

/* token_store_hint - why this process may not see a token or a key */
int
token_store_hint(struct p11_module *mod, const char *serial, char *hint,
    size_t len)
{
	struct token_store s;
	struct token_store_who w;
	struct p11_err err;
	struct stat st;

	hint[0] = '\0';
	if (!token_store_is_softhsm2(mod))
		return TOKEN_STORE_VENDOR;
	if (token_store_locate(&s, &err) < 0)
		return snprintf(hint, len, "%s", err.msg), -1;
	token_store_who_self(&w);
	if (stat(s.tokendir, &st) < 0)
		return snprintf(hint, len, "the SoftHSM2 token directory %s "
		    "(configuration %s, from %s): %s", s.tokendir, s.conf,
		    s.conf_from, strerror(errno)), 1;
	if (!may(&st, &w, 5))
		return snprintf(hint, len, "the SoftHSM2 token directory %s "
		    "(owner uid %lu, group %lu, mode %04o) cannot be listed "
		    "by uid %lu (%s): SoftHSM2 sees no token there",
		    s.tokendir, (unsigned long)st.st_uid,
		    (unsigned long)st.st_gid, (unsigned)(st.st_mode & 07777),
		    (unsigned long)w.uid, w.name), 1;
	if (serial != NULL && *serial != '\0')
		return hint_serial(&s, serial, &w, hint, len);
	return hint_any(&s, &w, hint, len);
}
