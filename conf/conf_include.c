/*
 * conf_include.c - the files an `include` names: each parsed on its own
 * with the options of an institutions file, so that errors keep their
 * file:line and a thousand files cost a thousand small parses (see
 * conf_int.h).
 *
 * A pattern is a glob(3) pattern; a relative one is taken from the main
 * file's folder.  Files are read in the order glob sorts them.  A pattern
 * that matches nothing is not an error (an empty institutions.d/).
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

/* add_file - one more parsed file in the list */
static int
add_file(struct conf_files *f, cfg_t *cfg)
{
	cfg_t	**more;

	if (f->n == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 16;
		if ((more = realloc(f->cfg, f->cap * sizeof(*more))) == NULL)
			return -1;
		f->cfg = more;
	}
	f->cfg[f->n++] = cfg;
	return 0;
}

/* conf_parse_file - cfg_parse, of a regular file only */
int
conf_parse_file(cfg_t *cfg, const char *path, char *err, size_t errlen)
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
	if ((rc = cfg_parse(cfg, path)) == CFG_FILE_ERROR)
		snprintf(err, errlen, "%s: cannot read the file", path);
	return rc;
}

/* parse_one - one institutions file; -1 with err set */
static int
parse_one(struct conf_files *f, const char *path, cfg_opt_t *opts,
    const struct conf_include_hooks *h, char *err, size_t errlen)
{
	cfg_t	*cfg = cfg_init(opts, CFGF_NONE);
	int	 rc;

	if (cfg == NULL || add_file(f, cfg) < 0) {
		cfg_free(cfg);
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	h->prepare(cfg);
	if ((rc = conf_parse_file(cfg, path, err, errlen)) == CFG_SUCCESS)
		return 0;
	if (rc != CFG_FILE_ERROR)
		h->error(err, errlen);
	return -1;
}

/* conf_include_load - every file the root's include patterns name */
int
conf_include_load(cfg_t *root, const char *main_path, cfg_opt_t *opts,
    const struct conf_include_hooks *h, struct conf_files *f, char *err,
    size_t errlen)
{
	char	 pattern[4096];
	glob_t	 g;
	int	 rc = 0;

	memset(f, 0, sizeof(*f));
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
			rc = parse_one(f, g.gl_pathv[k], opts, h, err, errlen);
		globfree(&g);
	}
	return rc;
}

/* conf_include_free - every parsed file */
void
conf_include_free(struct conf_files *f)
{
	for (size_t i = 0; i < f->n; i++)
		cfg_free(f->cfg[i]);
	free(f->cfg);
	memset(f, 0, sizeof(*f));
}
