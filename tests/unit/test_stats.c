/*
 * test_stats.c - daemon/stats.c: every sample of a front's text carries
 * its front label; a scrape of two fronts has each family's HELP and TYPE
 * once and both fronts' samples; counters made by stats_new_shared are
 * seen by the parent when a child counts (a trail failure among them,
 * apart from the token errors); the reload counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "p11dkim/stats.h"

static char mosa_code[] = "mosa";
static struct conf_institution inst[1] = { { .code = mosa_code } };
static struct conf conf = { .inst = inst, .ninst = 1 };

/* count - occurrences of needle in hay */
static int
count(const char *hay, const char *needle)
{
	int	 n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* each_sample_labelled - every line that is not a comment has front= */
static int
each_sample_labelled(const char *text, const char *label)
{
	const char *line = text;

	while (*line != '\0') {
		const char *end = strchr(line, '\n');
		size_t	 len = end ? (size_t)(end - line) : strlen(line);

		if (line[0] != '#' && (memmem(line, len, label,
		    strlen(label)) == NULL))
			return 0;
		line += len + (end != NULL);
	}
	return 1;
}

static void
test_front_label(void **state)
{
	struct stats *s = stats_new(&conf, "native");
	struct buf out;

	(void)state;
	stats_set_version("9.8.7");
	stats_request(s, 0, STATS_SIGNED, 3.0);
	stats_busy(s);
	buf_init(&out, stats_bound(&conf));
	assert_int_equal(stats_render(s, NULL, NULL, &out), 0);
	assert_non_null(strstr(buf_str(&out), "p11dkim_requests_total{front="
	    "\"native\",institution=\"mosa\",result=\"signed\"} 1\n"));
	assert_non_null(strstr(buf_str(&out), "p11dkim_busy_total{front="
	    "\"native\"} 1\n"));
	assert_non_null(strstr(buf_str(&out), "p11dkim_build_info{front="
	    "\"native\",version=\"9.8.7\"} 1\n"));
	assert_true(each_sample_labelled(buf_str(&out), "front=\"native\""));
	buf_release(&out);
	stats_free(s);
}

static void
test_scrape_two_fronts(void **state)
{
	struct stats *f[2] = { stats_new(&conf, "native"),
	    stats_new(&conf, "milter") };
	struct buf out;

	(void)state;
	stats_request(f[0], 0, STATS_SIGNED, 1.5);
	stats_request(f[1], 0, STATS_SIGNED, 1.5);
	stats_request(f[1], 0, STATS_SIGNED, 700);
	buf_init(&out, stats_bound(&conf));
	assert_int_equal(stats_render_scrape(f, 2, NULL, NULL, &out), 0);
	assert_int_equal(count(buf_str(&out), "# TYPE p11dkim_requests_total "),
	    1);
	assert_int_equal(count(buf_str(&out), "# HELP p11dkim_request_seconds "),
	    1);
	assert_non_null(strstr(buf_str(&out), "p11dkim_request_seconds_count{"
	    "front=\"milter\"} 2\n"));
	assert_non_null(strstr(buf_str(&out), "p11dkim_request_seconds_bucket{"
	    "front=\"milter\",le=\"0.5\"} 1\n"));
	assert_non_null(strstr(buf_str(&out), "p11dkim_request_seconds_count{"
	    "front=\"native\"} 1\n"));
	/* The figures of no front: without the label. */
	assert_non_null(strstr(buf_str(&out), "p11dkim_build_info{version="));
	buf_release(&out);
	stats_free(f[0]);
	stats_free(f[1]);
}

static void
test_shared_and_reloads(void **state)
{
	struct stats_daemon *d = stats_daemon_new();
	struct stats *s = stats_new_shared(&conf, "milter", d);
	struct buf out;
	pid_t	 pid;
	int	 status;

	(void)state;
	assert_non_null(d);
	assert_non_null(s);
	if ((pid = fork()) == 0) {
		stats_request(s, 0, STATS_TEMPFAIL, 2);
		stats_trail_failure(s, 0);
		stats_daemon_reload(d, 1);
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	stats_daemon_reload(d, 0);
	buf_init(&out, stats_bound(&conf));
	assert_int_equal(stats_render(s, NULL, NULL, &out), 0);
	assert_non_null(strstr(buf_str(&out), "institution=\"mosa\",result="
	    "\"tempfail\"} 1\n"));
	assert_non_null(strstr(buf_str(&out), "p11dkim_trail_failures_total{"
	    "front=\"milter\",institution=\"mosa\"} 1\n"));
	assert_non_null(strstr(buf_str(&out), "p11dkim_token_errors_total{"
	    "front=\"milter\",institution=\"mosa\"} 0\n"));
	assert_non_null(strstr(buf_str(&out), "p11dkim_reloads_total{front="
	    "\"milter\",result=\"success\"} 1\n"));
	assert_non_null(strstr(buf_str(&out), "p11dkim_reloads_total{front="
	    "\"milter\",result=\"failure\"} 1\n"));
	assert_non_null(strstr(buf_str(&out), "p11dkim_config_generation{"
	    "front=\"milter\"} 2\n"));
	buf_release(&out);
	stats_free(s);
	stats_daemon_free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_front_label),
		cmocka_unit_test(test_scrape_two_fronts),
		cmocka_unit_test(test_shared_and_reloads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
