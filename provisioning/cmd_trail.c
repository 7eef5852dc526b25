/*
 * cmd_trail.c - p11dkim-keys trail INST [--since T] [--message-id ID]
 * [--bh HASH] [--b SIG]: did we sign this?  The institution's signing
 * trail (trail-dir/INST.trail, written by the daemon's signer) and its
 * rotated files (INST.trail.1, INST.trail.2.gz, INST.trail-20261203...),
 * oldest first, searched for the records that match everything asked.
 *
 * --bh and --b take a tag value as it is found in a complaint's
 * DKIM-Signature: folded over lines, with spaces, with or without its
 * "bh="/"b=" and closing ';'.  The institution need not be in the
 * configuration any more: its old trail is still searched.
 *
 * Exit: 0 and the records when some match, EX_CHECK_FAILED (1) and
 * "no record matches" when none does, a sysexits status on an error.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "p11dkim/trail_record.h"
#include "keys.h"

#define FILES_MAX	4096	/* rotated files of one institution */
#define USAGE		"usage: trail INST [--since TIME] [--message-id ID] " \
			"[--bh HASH] [--b SIGNATURE]"

struct trail_file {
	char	*path;
	time_t	 mtime;
};

/* code_ok - an institution code that is a plain file name */
static int
code_ok(const char *code)
{
	size_t	 n = strlen(code);

	if (n == 0 || n > TRAIL_INST_MAX || code[0] == '.' || code[0] == '-')
		return 0;
	return strspn(code, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-_") == n;
}

/* query_args - the options into q; EX_OK or a printed status */
static int
query_args(int argc, char **argv, struct trail_query *q)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 't' },
		{ "message-id", required_argument, NULL, 'm' },
		{ "bh", required_argument, NULL, 'h' },
		{ "b", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 }
	};
	int	 c;

	trail_query_init(q);
	keys_getopt_reset();
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 't' && trail_time_parse(optarg, &q->since) < 0)
			return keys_fail(EX_USAGE, "--since %s: not a time "
			    "(2026-12-03, 2026-12-03T16:17:18Z, @SECONDS)",
			    optarg);
		else if (c == 'm') {
			trail_msgid_norm(optarg, strlen(optarg), q->msgid);
			q->has_msgid = 1;
		} else if (c == 'h' && (q->has_bh = 1) &&
		    trail_b64_clean(optarg, q->bh, sizeof(q->bh)) < 0)
			return keys_fail(EX_USAGE, "--bh: not a body hash "
			    "(base64, as in the bh= tag)");
		else if (c == 'b' && (q->has_b = 1) &&
		    trail_bhash_of_b(optarg, q->bhash) < 0)
			return keys_fail(EX_USAGE, "--b: not a signature "
			    "(base64, as in the b= tag)");
		else if (c == '?' || c == ':')
			return keys_fail(EX_USAGE, USAGE);
	}
	if (optind != argc - 1)
		return keys_fail(EX_USAGE, USAGE);
	return EX_OK;
}

/* is_trail_of - a file name of code's trail: CODE.trail, or rotated */
static int
is_trail_of(const char *name, const char *code)
{
	size_t	 n = strlen(code), s = strlen(TRAIL_SUFFIX);

	return strncmp(name, code, n) == 0 &&
	    strncmp(name + n, TRAIL_SUFFIX, s) == 0 &&
	    (name[n + s] == '\0' || name[n + s] == '.' || name[n + s] == '-');
}

/* older_first - qsort: by modification time, the current file last */
static int
older_first(const void *a, const void *b)
{
	const struct trail_file *x = a, *y = b;

	return x->mtime < y->mtime ? -1 : x->mtime > y->mtime;
}

/* list_files - code's trail files in dir, oldest first; count or -1 */
static int
list_files(const char *dir, const char *code, struct trail_file *out)
{
	DIR	*d = opendir(dir);
	struct dirent *e;
	struct stat st;
	int	 n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL && n < FILES_MAX) {
		if (!is_trail_of(e->d_name, code) ||
		    asprintf(&out[n].path, "%s/%s", dir, e->d_name) < 0)
			continue;
		if (stat(out[n].path, &st) < 0 || !S_ISREG(st.st_mode)) {
			free(out[n].path);
			continue;
		}
		out[n++].mtime = st.st_mtime;
	}
	closedir(d);
	qsort(out, (size_t)n, sizeof(*out), older_first);
	return n;
}

/*
 * search_file - print the records of one file (plain or gzip) that
 * match; how many, or -1 when it cannot be read.  Lines that are not
 * records (cut by a full disk, damaged) are counted in *skipped.
 */
static long
search_file(const char *path, const struct trail_query *q,
    unsigned long *skipped)
{
	char	 line[TRAIL_LINE_MAX];
	struct trail_record rec;
	gzFile	 f = gzopen(path, "rb");
	long	 found = 0;

	if (f == NULL)
		return -1;
	while (gzgets(f, line, sizeof(line)) != NULL) {
		size_t	 n = strlen(line);

		if (n == 0 || line[n - 1] != '\n' ||
		    trail_parse(line, n, &rec) < 0) {
			while (n > 0 && line[n - 1] != '\n' &&
			    gzgets(f, line, sizeof(line)) != NULL)
				n = strlen(line);	/* the rest of it */
			(*skipped)++;
			continue;
		}
		if (trail_match(q, &rec)) {
			fputs(line, stdout);
			found++;
		}
	}
	gzclose(f);
	return found;
}

/* cmd_trail - did we sign this? */
int
cmd_trail(struct keys_run *r, int argc, char **argv)
{
	struct trail_file *files;
	struct trail_query q;
	unsigned long skipped = 0;
	const char *dir = r->conf->daemon.trail_dir, *code;
	long	 found = 0, k;
	int	 st, n;

	if ((st = query_args(argc, argv, &q)) != EX_OK)
		return st;
	code = argv[optind];
	if (!code_ok(code))
		return keys_fail(EX_USAGE, "'%s' is not an institution code",
		    code);
	if (dir == NULL)
		return keys_fail(EX_CONFIG, "%s: no trail-dir: the daemon keeps "
		    "no signing trail", r->conf_path);
	if ((files = calloc(FILES_MAX, sizeof(*files))) == NULL)
		return keys_fail(EX_OSERR, "out of memory");
	if ((n = list_files(dir, code, files)) < 0) {
		free(files);
		return keys_fail(EX_NOINPUT, "%s: %s", dir, strerror(errno));
	}
	for (int i = 0; i < n; i++) {
		if ((k = search_file(files[i].path, &q, &skipped)) < 0)
			st = keys_fail(EX_NOINPUT, "%s: cannot read it",
			    files[i].path);
		found += k > 0 ? k : 0;
		free(files[i].path);
	}
	free(files);
	if (skipped > 0)
		fprintf(stderr, "p11dkim-keys: %lu line(s) that are not records "
		    "skipped\n", skipped);
	if (st == EX_OK && found == 0) {
		fprintf(stderr, "p11dkim-keys: no record of %s matches (%d "
		    "file(s) searched)\n", code, n);
		return EX_CHECK_FAILED;
	}
	return st;
}
