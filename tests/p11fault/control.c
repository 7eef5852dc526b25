/*
 * control.c - where the rules of the fault-injection module come from:
 * the environment variable P11FAULT (fixed for the process) and the
 * control file named by P11FAULT_CONTROL, re-read when it changes, so a
 * test can make a running program's token fail, hang and recover.
 *
 * Every call ticks; at most once per P11FAULT_CHECK_MS (default 5 ms) one
 * thread stats the file, and reads it again when its identity changed or
 * while it is recent enough for a same-size rewrite to hide in one
 * timestamp tick.  A text with a bad line is refused whole: reported on
 * stderr and in the counters, and the rules in force stay.  A missing
 * file is an empty one.  The counters go to P11FAULT_STATS at most every
 * P11FAULT_STATS_MS (default 100 ms) when they moved, and at C_Finalize.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "p11dkim/clock.h"
#include "p11fault.h"

#define CONTROL_MAX	65536		/* bytes of a control file */
#define RECENT_NS	100000000LL	/* re-read a file this young */

struct file_id {
	int	 exists;
	dev_t	 dev;
	ino_t	 ino;
	off_t	 size;
	struct timespec mtime;
};

static pthread_mutex_t ctl_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ctl_changed = PTHREAD_COND_INITIALIZER;
static struct ruleset *current;		/* under ctl_mu */
static int stopping;			/* under ctl_mu: C_Finalize ran */

static pthread_mutex_t reload_mu = PTHREAD_MUTEX_INITIALIZER;
static const char *env_text, *ctl_path, *stats_path;
static unsigned check_ms = 5, stats_ms = 100;
static struct file_id seen_id;		/* under reload_mu */
static char *seen_text;			/* under reload_mu */
static long long next_stats_ns;		/* under reload_mu */
static atomic_llong next_check_ns;

/* mono_ns - the monotonic clock in nanoseconds */
static long long
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* env_ms - a millisecond setting from the environment, or its default */
static int
env_ms(const char *name, unsigned max, unsigned *out)
{
	const char *s = getenv(name);
	char	*end;
	unsigned long v;

	if (s == NULL)
		return 0;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 || v < 1 ||
	    v > max) {
		fprintf(stderr, "p11fault: %s=%s: a number of ms from 1 to "
		    "%u\n", name, s, max);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

/* env_seed - P11FAULT_SEED, when set, must be a decimal number */
static int
env_seed(void)
{
	const char *s = getenv("P11FAULT_SEED");
	char	*end;

	if (s == NULL)
		return 0;
	errno = 0;
	(void)strtoull(s, &end, 10);
	if (*s >= '0' && *s <= '9' && *end == '\0' && errno == 0)
		return 0;
	fprintf(stderr, "p11fault: P11FAULT_SEED=%s: not a number\n", s);
	return -1;
}

/* same_id - whether two identities are the same file content */
static int
same_id(const struct file_id *a, const struct file_id *b)
{
	return a->exists == b->exists && (!a->exists ||
	    (a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	    a->mtime.tv_sec == b->mtime.tv_sec &&
	    a->mtime.tv_nsec == b->mtime.tv_nsec));
}

/* id_of - a file identity from its stat */
static void
id_of(const struct stat *st, struct file_id *id)
{
	id->exists = 1;
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtime = st->st_mtim;
}

/* is_recent - whether the file changed so lately that a rewrite may not
 * show in its identity yet */
static int
is_recent(const struct file_id *id)
{
	struct timespec now;
	long long age;

	clock_gettime(CLOCK_REALTIME, &now);
	age = (long long)(now.tv_sec - id->mtime.tv_sec) * 1000000000LL +
	    (now.tv_nsec - id->mtime.tv_nsec);
	return id->exists && age < RECENT_NS;
}

/* read_all - the content of an open file, NUL-terminated; NULL on error */
static char *
read_all(int fd, size_t size)
{
	char	*text = malloc(size + 1);
	size_t	 got = 0;
	ssize_t	 n;

	if (text == NULL)
		return NULL;
	while (got < size && (n = read(fd, text + got, size - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(text);
			return NULL;
		}
		got += (size_t)n;
	}
	text[got] = '\0';
	return text;
}

/* read_control - the control file's text and identity; "" when it does
 * not exist; NULL (reported) when it cannot be read */
static char *
read_control(struct file_id *id)
{
	struct stat st;
	char	*text = NULL;
	int	 fd;

	memset(id, 0, sizeof(*id));
	if ((fd = open(ctl_path, O_RDONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? strdup("") : NULL;
	if (fstat(fd, &st) == 0) {
		id_of(&st, id);
		if (st.st_size > CONTROL_MAX)
			errno = EFBIG;
		else
			text = read_all(fd, (size_t)st.st_size);
	}
	close(fd);
	return text;
}

/* publish - make a rule set the one in force; wake hung calls */
static void
publish(struct ruleset *rs)
{
	struct ruleset *old;

	pthread_mutex_lock(&ctl_mu);
	old = current;
	current = rs;
	pthread_cond_broadcast(&ctl_changed);
	pthread_mutex_unlock(&ctl_mu);
	ruleset_put(old);
}

/* build - the rules of P11FAULT and a control text; NULL when bad */
static struct ruleset *
build(const char *file_text, char *why, size_t whylen)
{
	struct ruleset *rs = ruleset_new();

	if (rs == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	if ((env_text != NULL &&
	    ruleset_parse(rs, env_text, "P11FAULT", why, whylen) == -1) ||
	    (file_text != NULL &&
	    ruleset_parse(rs, file_text, ctl_path, why, whylen) == -1)) {
		ruleset_put(rs);
		return NULL;
	}
	return rs;
}

/* load - rules from P11FAULT and the control text, in force; -1 when bad */
static int
load(const char *file_text)
{
	struct ruleset *rs;
	char	 why[WHY_MAX];

	if ((rs = build(file_text, why, sizeof(why))) == NULL) {
		stats_control(1, why);
		return -1;
	}
	stats_control(0, "");
	publish(rs);
	target_forget();
	return 0;
}

/* reload - read the control file again when it may have changed */
static void
reload(void)
{
	struct file_id id = { 0 };
	struct stat st;
	char	*text;

	if (stat(ctl_path, &st) == 0)
		id_of(&st, &id);
	if (same_id(&id, &seen_id) && !is_recent(&id))
		return;
	if ((text = read_control(&id)) == NULL) {
		if (same_id(&id, &seen_id))
			return;
		seen_id = id;
		fprintf(stderr, "p11fault: %s: %s\n", ctl_path, strerror(errno));
		stats_control(1, "the control file cannot be read");
		return;
	}
	seen_id = id;
	if (seen_text != NULL && strcmp(text, seen_text) == 0) {
		free(text);
		return;
	}
	free(seen_text);
	seen_text = text;
	load(text);
}

/* control_start - read P11FAULT and the control file; -1 when bad */
int
control_start(void)
{
	int	 rc = 0;

	pthread_mutex_lock(&reload_mu);
	env_text = getenv("P11FAULT");
	ctl_path = getenv("P11FAULT_CONTROL");
	stats_path = getenv("P11FAULT_STATS");
	if (env_ms("P11FAULT_CHECK_MS", 10000, &check_ms) == -1 ||
	    env_ms("P11FAULT_STATS_MS", 3600000, &stats_ms) == -1 ||
	    env_seed() == -1)
		rc = -1;
	free(seen_text);
	seen_text = NULL;
	if (rc == 0 && ctl_path != NULL &&
	    (seen_text = read_control(&seen_id)) == NULL) {
		fprintf(stderr, "p11fault: %s: %s\n", ctl_path, strerror(errno));
		rc = -1;
	}
	if (rc == 0)
		rc = load(seen_text);
	pthread_mutex_lock(&ctl_mu);
	stopping = rc == -1;
	pthread_mutex_unlock(&ctl_mu);
	pthread_mutex_unlock(&reload_mu);
	return rc;
}

/* control_tick - re-read the control file when it changed (rate-limited) */
void
control_tick(void)
{
	long long now = mono_ns(), next = atomic_load(&next_check_ns);

	if (now < next || !atomic_compare_exchange_strong(&next_check_ns,
	    &next, now + (long long)check_ms * 1000000))
		return;
	if (pthread_mutex_trylock(&reload_mu) != 0)
		return;
	if (ctl_path != NULL)
		reload();
	if (stats_path != NULL && strcmp(stats_path, "-") != 0 &&
	    now >= next_stats_ns && stats_changed()) {
		stats_write(stats_path);
		next_stats_ns = now + (long long)stats_ms * 1000000;
	}
	pthread_mutex_unlock(&reload_mu);
}

/* control_rules - the rules in force, held; NULL before control_start */
struct ruleset *
control_rules(void)
{
	struct ruleset *rs;

	pthread_mutex_lock(&ctl_mu);
	rs = current != NULL ? ruleset_hold(current) : NULL;
	pthread_mutex_unlock(&ctl_mu);
	return rs;
}

/* control_wait - a hung call waits for a change; -1 once finalizing */
int
control_wait(void)
{
	struct timespec until = clock_deadline(check_ms);
	int	 stop;

	pthread_mutex_lock(&ctl_mu);
	if (!stopping)
		pthread_cond_timedwait(&ctl_changed, &ctl_mu, &until);
	stop = stopping;
	pthread_mutex_unlock(&ctl_mu);
	if (stop)
		return -1;
	control_tick();
	return 0;
}

/* control_stop - C_Finalize: release hung calls, write the counters, drop the rules */
void
control_stop(void)
{
	pthread_mutex_lock(&ctl_mu);
	stopping = 1;
	pthread_cond_broadcast(&ctl_changed);
	pthread_mutex_unlock(&ctl_mu);
	pthread_mutex_lock(&reload_mu);
	if (stats_path != NULL)
		stats_write(stats_path);
	publish(NULL);		/* the module may be unloaded next */
	free(seen_text);
	seen_text = NULL;
	pthread_mutex_unlock(&reload_mu);
}
