/*
 * cl_fs.h — the file-system pieces the OpenCL backend's on-disk state
 * shares: the program cache (cl_program.c) and the tuning records
 * (cl_record.c) live in one directory, opened with one set of ownership
 * checks and written with one atomic write.
 */
#ifndef NB_CL_FS_H
#define NB_CL_FS_H

#include <stddef.h>
#include <sys/stat.h>

#include "backend_config.h"

/* The cache directory: cfg's cache_dir, else (the default location)
 * $XDG_CACHE_HOME/nabla, else $HOME/.cache/nabla; 0 when there is none
 * (cache_off, or no home). cfg NULL: the default location. */
int nb_cl_fs_dir(const nb_be_config *cfg, char *buf, size_t n);

/* Why an opened directory or file must not be trusted, in words ("is
 * writable by others"), or NULL when it may be: it must belong to this
 * user and be writable by nobody else. */
const char *nb_cl_fs_untrusted(const struct stat *sb, char *buf, size_t n);

/* Open dir for use: its fd, or -1 when it does not exist (*missing set),
 * cannot be opened, or is not to be trusted (then note, n bytes, says so
 * in one line with the fix). */
int nb_cl_fs_open_dir(char *note, size_t n, const char *dir, int *missing);

/* Create dir (and its parent) owner-only, then open it as above. */
int nb_cl_fs_create_dir(char *note, size_t n, const char *dir);

/*
 * Open the file name in the checked directory dfd for reading: its fd, or
 * -1 when there is none (*refused 0) or when it is not to be trusted (a
 * link, not a plain file, someone else's, writable by others: *refused 1,
 * *why says which). *sb receives its status.
 */
int nb_cl_fs_open_file(int dfd, const char *name, struct stat *sb, const char **why,
                       char *buf, size_t n, int *refused);

/* Write head then body as the file name in dfd, atomically: a new owner-
 * only file, fsync, rename. 1 on success; on failure nothing is left. */
int nb_cl_fs_write_atomic(int dfd, const char *name, const void *head, size_t nh,
                          const void *body, size_t nbody);

#endif
