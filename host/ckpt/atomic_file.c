/*
 * atomic_file.c — replacing a file atomically: temp file in the same
 * directory, fsync, close, rename, fsync of the directory.
 *
 * It uses POSIX file descriptors, not stdio: fwrite buffers, so a full
 * disk would only show at fclose, after the caller believed the data
 * written; write(2) reports ENOSPC on the call that hits it.
 *
 * Every system call goes through a small wrapper that can be made to fail
 * on its nth use (the test hook in atomic_file.h). The wrappers cost one
 * thread-local counter increment each; nothing else depends on them.
 */
#include "ckpt/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "status.h"

/* Names already taken (a stale temp file of a killed save, or a racing
 * thread) are skipped; this many in a row means something else is wrong. */
#define ATOMIC_NAME_TRIES 1000

struct nb_atomic_file {
    int fd;         /* temp file, or -1 once closed            */
    int failed;     /* a write failed: commit must not happen  */
    char *target;   /* path as given                           */
    char *dir;      /* its directory ("." when none)           */
    char *tmp;      /* temp path, in dir                       */
};

/* ------------------------------------------------------ fault hook */

static _Thread_local struct {
    long count[NB_ATOMIC_N_OPS];
    long nth[NB_ATOMIC_N_OPS];
    int err[NB_ATOMIC_N_OPS];
} fault;

void nb_atomic_set_fault(nb_atomic_op op, long nth, int err)
{
    if ((int)op < 0 || op >= NB_ATOMIC_N_OPS) return;
    fault.count[op] = 0;
    fault.nth[op] = nth;
    fault.err[op] = err;
}

void nb_atomic_reset_faults(void) { memset(&fault, 0, sizeof fault); }

long nb_atomic_op_count(nb_atomic_op op)
{
    return (int)op < 0 || op >= NB_ATOMIC_N_OPS ? 0 : fault.count[op];
}

/* Count one call of kind op; 1 when it is the one to fail, with *err set. */
static int fault_hit(nb_atomic_op op, int *err)
{
    long c = ++fault.count[op];
    if (fault.nth[op] <= 0 || c != fault.nth[op]) return 0;
    *err = fault.err[op];
    return 1;
}

static int sys_open_tmp(const char *p)
{
    int err;
    if (fault_hit(NB_ATOMIC_OPEN, &err)) {
        errno = err;
        return -1;
    }
    /* O_EXCL: never adopt a file someone else created under this name. */
    return open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
}

static ssize_t sys_write(int fd, const void *buf, size_t n)
{
    int err;
    if (fault_hit(NB_ATOMIC_WRITE, &err)) {
        if (err == 0) return write(fd, buf, n > 0 ? 1 : 0); /* a short write */
        errno = err;
        return -1;
    }
    return write(fd, buf, n);
}

static int sys_fsync(int fd)
{
    int err;
    if (fault_hit(NB_ATOMIC_FSYNC, &err)) {
        errno = err;
        return -1;
    }
    return fsync(fd);
}

/* A failing close still releases the descriptor (as a real one does, e.g.
 * when NFS reports a deferred write error), so the fd never leaks. */
static int sys_close(int fd)
{
    int err;
    if (fault_hit(NB_ATOMIC_CLOSE, &err)) {
        close(fd);
        errno = err;
        return -1;
    }
    return close(fd);
}

static int sys_rename(const char *from, const char *to)
{
    int err;
    if (fault_hit(NB_ATOMIC_RENAME, &err)) {
        errno = err;
        return -1;
    }
    return rename(from, to);
}

/* open(dir) + fsync + close, counted as one step. 0 or -1 with errno. */
static int sys_dirsync(const char *dir)
{
    int err;
    if (fault_hit(NB_ATOMIC_DIRSYNC, &err)) {
        errno = err;
        return -1;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    /* Some filesystems cannot fsync a directory and say EINVAL: there is
     * nothing more to do there, and the rename itself has happened. */
    if (rc != 0 && errno == EINVAL) rc = 0;
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* ---------------------------------------------------------- helpers */

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static void af_free(nb_atomic_file *af)
{
    if (!af) return;
    free(af->target);
    free(af->dir);
    free(af->tmp);
    free(af);
}

/* Close (if open) and unlink the temp file; errors are ignored because
 * the caller is already reporting the failure that led here. */
static void af_discard(nb_atomic_file *af)
{
    if (af->fd >= 0) close(af->fd);
    af->fd = -1;
    unlink(af->tmp);
}

/* ------------------------------------------------------------- API */

nb_status nb_atomic_open(const char *path, nb_atomic_file **out)
{
    if (!out) return NB_FAIL(NB_ERR_ARG, "nb_atomic_open: out is NULL");
    *out = NULL;
    if (!path || !*path) return NB_FAIL(NB_ERR_ARG, "nb_atomic_open: empty path");
    size_t len = strlen(path);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base) return NB_FAIL(NB_ERR_ARG, "nb_atomic_open: %s: path names a directory", path);

    nb_atomic_file *af = calloc(1, sizeof *af);
    if (!af) return NB_NOMEM("nb_atomic_open", sizeof *af);
    af->fd = -1;
    af->target = dup_n(path, len);
    /* "/x" lives in "/", "x" in ".". */
    af->dir = slash ? dup_n(path, slash == path ? 1 : (size_t)(slash - path)) : dup_n(".", 1);
    size_t cap = len + 64; /* ".", ".tmp-", pid, counter, NUL */
    af->tmp = malloc(cap);
    if (!af->target || !af->dir || !af->tmp) {
        af_free(af);
        return NB_NOMEM("nb_atomic_open", cap);
    }

    /* A per-thread counter and the pid make names unique within a run;
     * O_EXCL and the retry handle stale names left by killed runs. */
    static _Thread_local unsigned long counter;
    int err = 0;
    for (int tries = 0; tries < ATOMIC_NAME_TRIES; tries++) {
        snprintf(af->tmp, cap, "%.*s.%s.tmp-%ld-%lu", (int)(base - path), path, base,
                 (long)getpid(), counter++);
        af->fd = sys_open_tmp(af->tmp);
        if (af->fd >= 0) {
            *out = af;
            return NB_OK;
        }
        err = errno;
        if (err != EEXIST) break;
    }
    nb_status st = NB_FAIL(NB_ERR_IO, "nb_atomic_open: cannot create temp file %s for %s: %s",
                           af->tmp, path, strerror(err));
    af_free(af);
    return st;
}

nb_status nb_atomic_write(nb_atomic_file *af, const void *buf, size_t n)
{
    if (!af || (!buf && n > 0)) return NB_FAIL(NB_ERR_ARG, "nb_atomic_write: NULL argument");
    if (af->failed || af->fd < 0)
        return NB_FAIL(NB_ERR_IO, "nb_atomic_write: %s: an earlier write failed", af->tmp);
    const unsigned char *p = buf;
    while (n > 0) {
        /* Keep each request within ssize_t; write may do less anyway. */
        size_t want = n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n;
        ssize_t got = sys_write(af->fd, p, want);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            /* got == 0 for a non-empty request would loop forever: it
             * means the device takes no more, so call it full. */
            int err = got == 0 ? ENOSPC : errno;
            af->failed = 1;
            return NB_FAIL(NB_ERR_IO, "nb_atomic_write: write %s (for %s): %s", af->tmp,
                           af->target, strerror(err));
        }
        p += got;
        n -= (size_t)got;
    }
    return NB_OK;
}

nb_status nb_atomic_commit(nb_atomic_file *af)
{
    if (!af) return NB_FAIL(NB_ERR_ARG, "nb_atomic_commit: NULL file");
    nb_status st = NB_OK;
    if (af->failed || af->fd < 0) {
        st = NB_FAIL(NB_ERR_IO, "nb_atomic_commit: %s: not saved: an earlier write failed",
                     af->target);
        af_discard(af);
        goto done;
    }
    /* Data must be on disk before the rename makes it visible under the
     * target name; otherwise a crash could leave the target empty. */
    if (sys_fsync(af->fd) != 0) {
        st = NB_FAIL(NB_ERR_IO, "nb_atomic_commit: fsync %s (for %s): %s", af->tmp, af->target,
                     strerror(errno));
        af_discard(af);
        goto done;
    }
    int fd = af->fd;
    af->fd = -1;
    if (sys_close(fd) != 0) {
        st = NB_FAIL(NB_ERR_IO, "nb_atomic_commit: close %s (for %s): %s", af->tmp, af->target,
                     strerror(errno));
        af_discard(af);
        goto done;
    }
    if (sys_rename(af->tmp, af->target) != 0) {
        st = NB_FAIL(NB_ERR_IO, "nb_atomic_commit: rename %s to %s: %s", af->tmp, af->target,
                     strerror(errno));
        af_discard(af);
        goto done;
    }
    /* The rename is an entry in the directory: sync it so the new name
     * survives a power loss. The temp name no longer exists here. */
    if (sys_dirsync(af->dir) != 0)
        st = NB_FAIL(NB_ERR_IO,
                     "nb_atomic_commit: fsync directory %s: %s (%s was replaced, but may not "
                     "survive a power loss)",
                     af->dir, strerror(errno), af->target);
done:
    af_free(af);
    return st;
}

void nb_atomic_abort(nb_atomic_file *af)
{
    if (!af) return;
    af_discard(af);
    af_free(af);
}
