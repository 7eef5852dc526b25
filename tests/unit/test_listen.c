/*
 * test_listen.c - daemon/listen.c: a socket file is created with its
 * mode and owner, and nothing but that socket is accepted at its path
 * (a symbolic link put there is neither followed nor accepted).
 */
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

#include "p11dkim/log.h"
#include "../../daemon/listen.h"

static char dir[] = "/tmp/p11dkim-listen-XXXXXX";

/* test_mode_and_owner - the file is born with its mode; owner as asked */
static void
test_mode_and_owner(void **state)
{
	struct conf_listener l = { NULL, (uid_t)-1, (gid_t)-1, 0640 };
	char	 path[128];
	struct stat st;
	int	 fd;
	mode_t	 mask = umask(077);

	(void)state;
	snprintf(path, sizeof(path), "%s/a.sock", dir);
	l.path = path;
	if (getuid() == 0) {
		l.owner = 65534;
		l.group = 65534;
	}
	fd = listen_bind(&l);
	umask(mask);
	assert_true(fd >= 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0640);
	if (getuid() == 0)
		assert_int_equal(st.st_uid, 65534);
	close(fd);
	unlink(path);
}

/* test_link_refused - a link at the path: its target is left alone */
static void
test_link_refused(void **state)
{
	char	 target[128], link[128];
	struct stat before, after;
	FILE	*f;

	(void)state;
	snprintf(target, sizeof(target), "%s/target", dir);
	snprintf(link, sizeof(link), "%s/b.sock", dir);
	assert_non_null(f = fopen(target, "w"));
	fclose(f);
	assert_int_equal(chmod(target, 0600), 0);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(stat(target, &before), 0);
	assert_int_equal(listen_socket_owner(link, getuid() == 0 ? 65534 :
	    (uid_t)-1, (gid_t)-1, 0666), -1);
	assert_int_equal(stat(target, &after), 0);
	assert_int_equal(after.st_uid, before.st_uid);
	assert_int_equal(after.st_mode, before.st_mode);
	/* A regular file is not the socket either. */
	assert_int_equal(listen_socket_owner(target, (uid_t)-1, (gid_t)-1,
	    0600), -1);
	unlink(link);
	unlink(target);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mode_and_owner),
		cmocka_unit_test(test_link_refused),
	};
	int	 rc;

	if (mkdtemp(dir) == NULL)
		return 1;
	log_open("test_listen", 1);
	rc = cmocka_run_group_tests_name("listen", tests, NULL, NULL);
	rmdir(dir);
	return rc;
}
