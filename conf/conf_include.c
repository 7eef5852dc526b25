/*
 * conf_include.c - the files an `include` names: each parsed on its own
 * with the options of an institutions file, so that errors keep their
 * file:line and a thousand files cost a thousand small parses (see
 * conf_int.h).
 *
 * A pattern is a glob(3) pattern; a relative one is taken from the main
 * file's folder.  Files are read in the order glob sorts them.  A pattern
 * that matches nothing is not an error (an empty institutions.d/).  Each
 * file is handed to the main reader, which copies its institutions out
 * and frees its parse before the next one (a parse is about a hundred
 * times the size of the copy), or takes them from the cache unread.
 */
#include <glob.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conf_int.h"

/* pattern_path - the pattern, from the main file's folder if relative */
static int
pattern_path(const char *main_path, const char *pattern, char *out,
    size_t len)
{
	char	 dir[4096];
	int	 n;

	if (pattern[0] == '/')
		n = snprintf(out, len, "%s", pattern);
	else {
		snprintf(dir, sizeof(dir), "%s", main_path);
		n = snprintf(out, len, "%s/%s", dirname(dir), pattern);
	}
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* conf_parse_file - cfg_parse, of a regular file only */
int
conf_parse_file(cfg_t *cfg, const char *path, struct conf_filekey *key,
    char *err, size_t errlen)
{
	struct stat st;
	int	 rc;

	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "%s: cannot read the file", path);
		return CFG_FILE_ERROR;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a configuration file (%s)", path,
		    S_ISDIR(st.st_mode) ? "a folder" : "not a regular file");
		return CFG_FILE_ERROR;
	}
	if (key != NULL)
		conf_filekey_of(&st, key);	/* before it is read */
	if ((rc = cfg_parse(cfg, path)) == CFG_FILE_ERROR)
		snprintf(err, errlen, "%s: cannot read the file", path);
	return rc;
}

/* conf_include_parse - one institutions file; NULL with err set */
cfg_t *
conf_include_parse(const char *path, cfg_opt_t *opts,
    const struct conf_include_hooks *h, struct conf_filekey *key,
    char *err, size_t errlen)
{
	cfg_t	*cfg = cfg_init(opts, CFGF_NONE);
	int	 rc;

	if (cfg == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	h->prepare(cfg);
	if ((rc = conf_parse_file(cfg, path, key, err, errlen)) == CFG_SUCCESS)
		return cfg;
	if (rc != CFG_FILE_ERROR)
		h->error(err, errlen);
	cfg_free(cfg);
	return NULL;
}

/* conf_include_each - every file the root's include patterns name */
int
conf_include_each(cfg_t *root, const char *main_path,
    const struct conf_include_hooks *h, char *err, size_t errlen)
{
	char	 pattern[4096];
	glob_t	 g;
	int	 rc = 0;

	for (unsigned i = 0; i < cfg_size(root, "include") && rc == 0; i++) {
		if (pattern_path(main_path, cfg_getnstr(root, "include", i),
		    pattern, sizeof(pattern)) < 0) {
			snprintf(err, errlen, "%s: include: path too long",
			    main_path);
			return -1;
		}
		rc = glob(pattern, GLOB_ERR, NULL, &g);
		if (rc == GLOB_NOMATCH) {
			rc = 0;
			continue;
		}
		if (rc != 0) {
			snprintf(err, errlen, "%s: include \"%s\": cannot read "
			    "the folder", main_path, pattern);
			globfree(&g);
			return -1;
		}
		for (size_t k = 0; k < g.gl_pathc && rc == 0; k++)
			rc = h->file(h->arg, g.gl_pathv[k], err, errlen);
		globfree(&g);
	}
	return rc;
}
