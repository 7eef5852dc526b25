/*
 * atomic_file.h - replace a small file so that a reader, and the disk
 * after a crash, show either its old contents or the new ones, never a
 * mix: write PATH.new, fsync it, rename it over PATH, fsync the folder.
 * Used for the state files p11dkim-keys keeps (rotation state, the
 * ceremony log's anchor).
 *
 * Errors: -1 and a one-line message naming the file and the failed step
 * in err (errlen bytes; err may be NULL).  The temporary file's name is
 * fixed: callers make sure one writer at a time replaces a given PATH.
 */
#ifndef P11DKIM_ATOMIC_FILE_H
#define P11DKIM_ATOMIC_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* atomic_file_write - PATH's new contents, len bytes; mode before umask */
int	atomic_file_write(const char *path, const void *data, size_t len,
	    mode_t mode, char *err, size_t errlen);

/*
 * atomic_file_sync_dir - fsync the folder that holds path, so that a
 * file just created or renamed there survives a crash (file systems
 * that cannot sync a folder, EINVAL, are taken as done)
 */
int	atomic_file_sync_dir(const char *path, char *err, size_t errlen);

#endif
