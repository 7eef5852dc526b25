/*
 * test_token_store.c - pkcs11/token_store.c: the SoftHSM2 configuration
 * found as the module finds it, a token's folder found by serial, who
 * may use a folder (owner, group, other bits; root), and chown of the
 * folder without following links.  No module is loaded: the store is
 * made by hand under mkdtemp(3), in SoftHSM2's layout.
 */
#include <errno.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "p11dkim/token_store.h"
#include "tmpdir_fixture.h"

#define UUID	"c1feead6-ab3b-b754-1c54-a2c6c1456a7b"
#define SERIAL	"1c54a2c6c1456a7b"

static char dir[64];
static char folder[256], object[320], conf[256];

/* setup - tokens/<uuid>/ with one object, 0700 and 0600, and a config */
static int
setup(void **state)
{
	char	 path[128], text[256];

	(void)state;
	if (tmpdir_new(dir, sizeof(dir), "store") < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/tokens", dir);
	snprintf(folder, sizeof(folder), "%s/%s", path, UUID);
	snprintf(object, sizeof(object), "%s/key.object", folder);
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", dir);
	if (mkdir(path, 0755) < 0 || mkdir(folder, 0700) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/tokens/0f0f0f0f-0000-0000-aaaa-"
	    "bbbbbbbbbbbb", dir);
	if (mkdir(path, 0700) < 0)
		return -1;
	tmpdir_write(object, "", 0600);
	snprintf(text, sizeof(text), "# comment\ndirectories.tokendir = "
	    "%s/tokens/\nobjectstore.backend = file\n", dir);
	tmpdir_write(conf, text, 0644);
	return setenv("SOFTHSM2_CONF", conf, 1);
}

/* teardown - remove the store */
static int
teardown(void **state)
{
	(void)state;
	return tmpdir_remove(dir);
}

/* test_locate - SOFTHSM2_CONF's tokendir, without the final '/' */
static void
test_locate(void **state)
{
	struct token_store s;
	struct p11_err err;
	char	 want[128];

	(void)state;
	assert_int_equal(token_store_locate(&s, &err), 0);
	assert_string_equal(s.conf, conf);
	assert_string_equal(s.conf_from, "SOFTHSM2_CONF");
	snprintf(want, sizeof(want), "%s/tokens", dir);
	assert_string_equal(s.tokendir, want);
	tmpdir_write(conf, "objectstore.backend = file\n", 0644);
	assert_int_equal(token_store_locate(&s, &err), -1);
	assert_non_null(strstr(err.msg, "no usable directories.tokendir"));
	setenv("SOFTHSM2_CONF", "/nonexistent/softhsm2.conf", 1);
	assert_int_equal(token_store_locate(&s, &err), -1);
	assert_non_null(strstr(err.msg, "/nonexistent/softhsm2.conf"));
	setenv("SOFTHSM2_CONF", conf, 1);
}

/* test_folder - the serial is the UUID's last two groups */
static void
test_folder(void **state)
{
	struct token_store s;
	struct p11_err err;
	char	 out[320];

	(void)state;
	assert_int_equal(token_store_locate(&s, &err), 0);
	assert_int_equal(token_store_folder(&s, SERIAL, out, sizeof(out),
	    &err), 1);
	assert_string_equal(out, folder);
	assert_int_equal(token_store_folder(&s, "aaaabbbbbbbbbbbb", out,
	    sizeof(out), &err), 1);		/* the other folder */
	assert_int_equal(token_store_folder(&s, "ab3bb7541c54a2c6", out,
	    sizeof(out), &err), 0);		/* other groups: no */
	assert_int_equal(token_store_folder(&s, SERIAL, out, 8, &err), -1);
	snprintf(s.tokendir, sizeof(s.tokendir), "%s/none", dir);
	assert_int_equal(token_store_folder(&s, SERIAL, out, sizeof(out),
	    &err), -1);
}

/*
 * test_folders - the token directory listed once: each serial's folder
 * found in the listing, a folder not named as a token's ignored, a
 * folder made since not in it
 */
static void
test_folders(void **state)
{
	struct token_store_folders *fs;
	struct token_store s;
	struct p11_err err;
	char	 out[320], later[TOKEN_STORE_PATH_MAX + 64];

	(void)state;
	assert_int_equal(token_store_locate(&s, &err), 0);
	snprintf(later, sizeof(later), "%s/not-a-token", s.tokendir);
	assert_int_equal(mkdir(later, 0700), 0);
	assert_non_null(fs = token_store_folders_new(&s, &err));
	assert_int_equal(token_store_folders_find(fs, SERIAL, out,
	    sizeof(out)), 1);
	assert_string_equal(out, folder);
	assert_int_equal(token_store_folders_find(fs, "aaaabbbbbbbbbbbb", out,
	    sizeof(out)), 1);
	assert_int_equal(token_store_folders_find(fs, "ab3bb7541c54a2c6", out,
	    sizeof(out)), 0);
	assert_int_equal(token_store_folders_find(fs, "1c54", out,
	    sizeof(out)), 0);
	assert_int_equal(token_store_folders_find(fs, SERIAL, out, 8), 0);
	snprintf(later, sizeof(later), "%s/11111111-2222-3333-4444-"
	    "555555555555", s.tokendir);
	assert_int_equal(mkdir(later, 0700), 0);
	assert_int_equal(token_store_folders_find(fs, "4444555555555555", out,
	    sizeof(out)), 0);
	assert_int_equal(token_store_folder(&s, "4444555555555555", out,
	    sizeof(out), &err), 1);
	token_store_folders_free(fs);
	snprintf(s.tokendir, sizeof(s.tokendir), "%s/none", dir);
	assert_null(token_store_folders_new(&s, &err));
	assert_non_null(strstr(err.msg, "none"));
}

/* who_nobody - a user who is not root and owns nothing here */
static void
who_nobody(struct token_store_who *w)
{
	struct p11_err err;

	assert_int_equal(token_store_who_user("nobody", w, &err), 0);
	assert_int_not_equal(w->uid, 0);
}

/* test_access - owner, group and other bits decide; root may do all */
static void
test_access(void **state)
{
	struct token_store_denied dn;
	struct token_store_who w, root;
	struct p11_err err;
	char	 lock[320];

	(void)state;
	who_nobody(&w);
	memset(&root, 0, sizeof(root));
	assert_int_equal(token_store_access(folder, &root, &dn, &err), 0);
	assert_int_equal(dn.n, 0);
	if (geteuid() != 0)
		return;		/* the rest needs files of two owners */
	assert_int_equal(chown(folder, 0, 0), 0);
	assert_int_equal(chown(object, 0, 0), 0);
	assert_int_equal(token_store_access(folder, &w, &dn, &err), 0);
	assert_true(dn.n >= 1);
	assert_string_equal(dn.first, folder);	/* the folder itself */
	assert_int_equal(dn.owner, 0);
	assert_int_equal(dn.mode, 0700);
	assert_int_equal(chown(folder, w.uid, w.gid), 0);
	snprintf(lock, sizeof(lock), "%s/key.lock", folder);
	tmpdir_write(lock, "", 0600);
	assert_int_equal(token_store_access(folder, &w, &dn, &err), 0);
	assert_int_equal(dn.n, 2);		/* files another user made */
	assert_string_equal(dn.first, object);	/* the object is named */
	assert_int_equal(dn.mode, 0600);
	assert_int_equal(unlink(lock), 0);
	assert_int_equal(chown(object, 0, w.gid), 0);
	assert_int_equal(chmod(object, 0660), 0);
	assert_int_equal(token_store_access(folder, &w, &dn, &err), 0);
	assert_int_equal(dn.n, 0);		/* its group may */
	assert_int_equal(chmod(object, 0640), 0);
	assert_int_equal(token_store_access(folder, &w, &dn, &err), 0);
	assert_int_equal(dn.n, 1);		/* read is not enough */
	assert_int_equal(token_store_access(object, &w, &dn, &err), -1);
	assert_non_null(strstr(err.msg, "not a directory"));
}

/* test_chown - the folder and its files, never through a link */
static void
test_chown(void **state)
{
	struct token_store_denied dn;
	struct token_store_who w;
	struct p11_err err;
	struct stat st;
	char	 link[320], target[128];

	(void)state;
	who_nobody(&w);
	snprintf(target, sizeof(target), "%s/outside", dir);
	snprintf(link, sizeof(link), "%s/planted", folder);
	tmpdir_write(target, "", 0600);
	assert_int_equal(symlink(target, link), 0);
	if (geteuid() != 0) {		/* may not give files away */
		assert_int_equal(token_store_chown(folder, 0, 0, &err), -1);
		assert_non_null(strstr(err.msg, "chown"));
		return;
	}
	assert_int_equal(token_store_chown(folder, w.uid, w.gid, &err), 0);
	assert_int_equal(stat(object, &st), 0);
	assert_int_equal(st.st_uid, w.uid);
	assert_int_equal(stat(folder, &st), 0);
	assert_int_equal(st.st_uid, w.uid);
	assert_int_equal(stat(target, &st), 0);
	assert_int_equal(st.st_uid, 0);		/* the link was not followed */
	assert_int_equal(unlink(link), 0);
	assert_int_equal(token_store_access(folder, &w, &dn, &err), 0);
	assert_int_equal(dn.n, 0);
	assert_int_equal(token_store_chown("/nonexistent", 0, 0, &err), -1);
}

/* test_who - users by name and number; an unknown one is refused */
static void
test_who(void **state)
{
	struct token_store_who a, b;
	struct p11_err err;
	char	 num[32];

	(void)state;
	who_nobody(&a);
	snprintf(num, sizeof(num), "%lu", (unsigned long)a.uid);
	assert_int_equal(token_store_who_user(num, &b, &err), 0);
	assert_int_equal(b.uid, a.uid);
	assert_string_equal(b.name, "nobody");
	assert_int_equal(token_store_who_user("no-such-user-p11dkim", &b,
	    &err), -1);
	assert_non_null(strstr(err.msg, "no user no-such-user-p11dkim"));
	token_store_who_self(&b);
	assert_int_equal(b.uid, geteuid());
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_locate),
		T(test_folder),
		T(test_folders),
		T(test_access),
		T(test_chown),
		T(test_who),
#undef T
	};

	return cmocka_run_group_tests_name("token_store", tests, NULL, NULL);
}
