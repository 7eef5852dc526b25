/*
 * test_parent.c - daemon/parent.c: drop_privileges refuses a numeric user
 * that does not fit uid_t instead of letting it wrap to another uid.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "p11dkim/log.h"
#include "../../daemon/parent.h"

/*
 * test_wrapping_uid - 4294967296 is 2^32: cast to uid_t it is 0, and
 * (uid_t)-1 is "no change"; as root, both must fail and leave the
 * process as it was.  Not root: drop_privileges changes nothing anyway.
 */
static void
test_wrapping_uid(void **state)
{
	static const char *const bad[] = { "4294967296", "4294967295",
	    "18446744073709551616", "99999999999999999999999" };

	(void)state;
	if (getuid() != 0)
		skip();
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		if (drop_privileges(bad[k]) != -1)
			fail_msg("drop_privileges(\"%s\") did not fail", bad[k]);
		assert_int_equal(getuid(), 0);
		assert_int_equal(geteuid(), 0);
	}
}

/* test_no_user - NULL means "stay as we are" */
static void
test_no_user(void **state)
{
	uid_t	 before = getuid();

	(void)state;
	assert_int_equal(drop_privileges(NULL), 0);
	assert_int_equal(getuid(), before);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wrapping_uid),
		cmocka_unit_test(test_no_user),
	};

	log_open("test_parent", 1);
	return cmocka_run_group_tests_name("parent", tests, NULL, NULL);
}
