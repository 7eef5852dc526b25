/*
 * tmpdir_fixture.h - what the unit tests that work in a folder of their
 * own share: a new folder from mkdtemp(3) under /tmp, a file written into
 * it with a mode, and the folder removed again with all it holds (links
 * are removed, never followed).  Included by test_trail.c,
 * test_conf_cache.c and test_token_store.c after <cmocka.h>; the helpers
 * are static inline so that a test file may leave some unused.
 */
#ifndef P11DKIM_TEST_TMPDIR_FIXTURE_H
#define P11DKIM_TEST_TMPDIR_FIXTURE_H

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

/* tmpdir_new - a new empty folder /tmp/p11dkim-WHAT-XXXXXX in dir; 0 or -1 */
static inline int
tmpdir_new(char *dir, size_t len, const char *what)
{
	int	 n = snprintf(dir, len, "/tmp/p11dkim-%s-XXXXXX", what);

	if (n < 0 || (size_t)n >= len)
		return -1;
	return mkdtemp(dir) == NULL ? -1 : 0;
}

/* tmpdir_unlink - nftw's callback: remove one entry, the deepest first */
static inline int
tmpdir_unlink(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* tmpdir_remove - the folder and everything in it; 0 or -1 */
static inline int
tmpdir_remove(const char *dir)
{
	return nftw(dir, tmpdir_unlink, 16, FTW_DEPTH | FTW_PHYS);
}

/* tmpdir_write - a file with content and mode (a failure fails the test) */
static inline void
tmpdir_write(const char *path, const char *content, mode_t mode)
{
	FILE	*f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(content, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

#endif
