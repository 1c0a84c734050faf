/*
 * cl_fs.c — the OpenCL backend's cache directory: where it is, the
 * ownership checks that decide whether what is in it may be trusted, and
 * the atomic write (see cl_fs.h). On a CPU device a cached binary is
 * native code that nabla runs, and a tuning record decides what is built,
 * so both are trusted only when nobody else could have written them.
 */
#include "opencl/cl_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"

int nb_cl_fs_dir(const nb_be_config *cfg, char *buf, size_t n)
{
    if (cfg && cfg->cache_off) return 0;
    if (cfg && cfg->cache_dir[0]) return snprintf(buf, n, "%s", cfg->cache_dir), 1;
    /* The default location follows the XDG base directories: the one
     * place the library reads the environment. */
    const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (x && *x) return snprintf(buf, n, "%s/nabla", x), 1;
    if (home && *home) return snprintf(buf, n, "%s/.cache/nabla", home), 1;
    return 0;
}

const char *nb_cl_fs_untrusted(const struct stat *sb, char *buf, size_t n)
{
    if (sb->st_uid != geteuid()) {
        snprintf(buf, n, "is owned by uid %lu, not by this user (uid %lu)",
                 (unsigned long)sb->st_uid, (unsigned long)geteuid());
        return buf;
    }
    if (sb->st_mode & S_IWOTH) return "is writable by others";
    if (sb->st_mode & S_IWGRP) return "is writable by its group";
    return NULL;
}

int nb_cl_fs_open_dir(char *note, size_t n, const char *dir, int *missing)
{
    *missing = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        *missing = errno == ENOENT;
        return -1; /* unreadable: the cache only saves time, so go without */
    }
    struct stat sb;
    char why[128], fix[4200];
    const char *bad = "cannot be examined";
    snprintf(fix, sizeof fix, "chmod 700 %s", dir);
    if (fstat(fd, &sb) == 0) {
        bad = nb_cl_fs_untrusted(&sb, why, sizeof why);
        if (sb.st_uid != geteuid())
            snprintf(fix, sizeof fix, "use a cache directory of your own (the option cache_dir, "
                     "NABLA_CACHE_DIR for the nabla command)");
    }
    if (bad) {
        snprintf(note, n, "kernel cache %s %s: not used (%s)", dir, bad, fix);
        close(fd);
        return -1;
    }
    return fd;
}

int nb_cl_fs_create_dir(char *note, size_t n, const char *dir)
{
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        mkdir(parent, 0700); /* ~/.cache may not exist yet */
    }
    mkdir(dir, 0700);
    int missing;
    return nb_cl_fs_open_dir(note, n, dir, &missing);
}

int nb_cl_fs_open_file(int dfd, const char *name, struct stat *sb, const char **why,
                       char *buf, size_t n, int *refused)
{
    /* O_NOFOLLOW: a link is refused, not followed; O_NONBLOCK: a FIFO
     * planted under the name cannot make the open wait. */
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    const char *bad = NULL;
    *refused = 0;
    if (fd < 0 && errno == ELOOP) bad = "is a symbolic link";
    if (fd < 0 && !bad) return -1; /* none yet */
    if (!bad && fstat(fd, sb) != 0) bad = "cannot be examined";
    if (!bad && !S_ISREG(sb->st_mode)) bad = "is not a regular file";
    if (!bad) bad = nb_cl_fs_untrusted(sb, buf, n);
    if (bad) {
        *why = bad;
        *refused = 1;
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

int nb_cl_fs_write_atomic(int dfd, const char *name, const void *head, size_t nh,
                          const void *body, size_t nbody)
{
    char tmp[64];
    static unsigned serial;
    snprintf(tmp, sizeof tmp, ".cl-%ld-%u-%.0f", (long)getpid(), serial++, 1e9 * nb_now());
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return 0;
    int ok = write(fd, head, nh) == (ssize_t)nh &&
             (nbody == 0 || write(fd, body, nbody) == (ssize_t)nbody) && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || renameat(dfd, tmp, dfd, name) != 0) {
        unlinkat(dfd, tmp, 0);
        return 0;
    }
    return 1;
}
