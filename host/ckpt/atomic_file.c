/*
 * atomic_file.c — replacing a file atomically: temp file in the same
 * directory, fsync, close, rename, fsync of the directory; and around it
 * what keeps saves from surprising anyone: symbolic links followed, the
 * old mode kept, a lock per target, stale temp files of killed saves
 * removed (atomic_file.h says what each one promises).
 *
 * It uses POSIX file descriptors, not stdio: fwrite buffers, so a full
 * disk would only show at fclose, after the caller believed the data
 * written; write(2) reports ENOSPC on the call that hits it.
 *
 * Every system call goes through a small wrapper that can be made to fail
 * on its nth use (the test hook in atomic_file.h). The wrappers cost one
 * thread-local counter increment each; nothing else depends on them.
 */
#define _DEFAULT_SOURCE /* flock(2): BSD, on every Unix, but not in POSIX */

#include "ckpt/atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "status.h"

/* Names already taken (a stale temp file of a killed save, or a racing
 * thread) are skipped; this many in a row means something else is wrong. */
#define ATOMIC_NAME_TRIES 1000
/* Links followed from a target before calling it a loop (Linux's limit). */
#define ATOMIC_MAX_LINKS 40
/* A lock file replaced under us this many times in a row (each time by a
 * holder releasing it) means something else is wrong. */
#define ATOMIC_LOCK_TRIES 100

struct nb_target_lock {
    int fd;           /* the sidecar, flock'ed                          */
    dev_t dev;        /* its identity: the registry's key               */
    ino_t ino;
    pid_t owner;      /* taker; a forked child inherits the memory only */
    char *path;       /* the sidecar's path                             */
    nb_target_lock *next;
};

struct nb_atomic_file {
    int fd;         /* temp file, or -1 once closed            */
    int failed;     /* a write failed: commit must not happen  */
    char *target;   /* the file replaced: path, links followed */
    char *dir;      /* its directory ("." when none)           */
    char *tmp;      /* temp path, in dir                       */
    nb_target_lock *lock; /* this save's own; NULL under a held one */
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

/* Carry the old target's permission bits over to the temp file; as root
 * also its owner and group, best effort (a filesystem without owners, or
 * a root without that capability, still saves). 0 or -1 with errno. */
static int sys_carry_mode(int fd, const struct stat *old)
{
    int err;
    if (fault_hit(NB_ATOMIC_MODE, &err)) {
        errno = err;
        return -1;
    }
    if (geteuid() == 0) {
        int rc = fchown(fd, old->st_uid, old->st_gid);
        (void)rc;
    }
    /* After the chown, which may clear set-id bits: those are not carried
     * anyway, only rwx for user, group and others. */
    return fchmod(fd, old->st_mode & 0777);
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

/* Bytes of path up to and including its last '/'; 0 when it has none. */
static size_t dir_prefix(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? (size_t)(slash - path) + 1 : 0;
}

/* The directory a path lives in: "/x" in "/", "a/x" in "a", "x" in ".". */
static char *dir_of(const char *path)
{
    size_t pre = dir_prefix(path);
    if (pre == 0) return dup_n(".", 1);
    return dup_n(path, pre == 1 ? 1 : pre - 1);
}

/*
 * Follow symbolic links in path's last component to the file a save must
 * replace (malloc'ed in *out). Directories along the way are the
 * kernel's business. Returns 0 or an errno value: ELOOP, ENOMEM, or one
 * of readlink's. Anything but a link ends the chain, including nothing at
 * all (a new file, or the target of a dangling link) and an lstat error,
 * which creating the temp file then reports in its own words.
 */
static int resolve_links(const char *path, char **out)
{
    *out = NULL;
    char *cur = dup_n(path, strlen(path));
    if (!cur) return ENOMEM;
    for (int hops = 0;; hops++) {
        struct stat sb;
        if (lstat(cur, &sb) != 0 || !S_ISLNK(sb.st_mode)) {
            *out = cur;
            return 0;
        }
        if (hops == ATOMIC_MAX_LINKS) break;
        /* st_size is the link's length on most filesystems and 0 on some;
         * a result that fills the buffer may be cut, so grow and retry. */
        size_t cap = sb.st_size > 0 && sb.st_size < 4096 ? (size_t)sb.st_size + 1 : 256;
        char *link = NULL;
        ssize_t n;
        for (;;) {
            char *bigger = realloc(link, cap);
            if (!bigger) {
                free(link);
                free(cur);
                return ENOMEM;
            }
            link = bigger;
            n = readlink(cur, link, cap);
            if (n < 0 || (size_t)n < cap) break;
            if (cap >= ((size_t)1 << 20)) {
                n = -1;
                errno = ENAMETOOLONG;
                break;
            }
            cap *= 2;
        }
        if (n < 0) {
            int err = errno;
            free(link);
            if (err == EINVAL) { /* no longer a link: replaced meanwhile */
                *out = cur;
                return 0;
            }
            free(cur);
            return err;
        }
        /* A relative link is relative to the directory holding the link. */
        size_t pre = link[0] == '/' ? 0 : dir_prefix(cur);
        char *next = malloc(pre + (size_t)n + 1);
        if (!next) {
            free(link);
            free(cur);
            return ENOMEM;
        }
        memcpy(next, cur, pre);
        memcpy(next + pre, link, (size_t)n);
        next[pre + (size_t)n] = '\0';
        free(link);
        free(cur);
        cur = next;
    }
    free(cur);
    return ELOOP;
}

/* Check path and resolve it to the file a save replaces (*out). */
static nb_status resolve_target(const char *call, const char *path, char **out)
{
    *out = NULL;
    if (!path || !*path) return NB_FAIL(NB_ERR_ARG, "%s: empty path", call);
    if (path[strlen(path) - 1] == '/')
        return NB_FAIL(NB_ERR_ARG, "%s: %s: path names a directory", call, path);
    int err = resolve_links(path, out);
    if (err == ENOMEM) return NB_NOMEM(call, strlen(path) + 1);
    if (err) return NB_FAIL(NB_ERR_IO, "%s: cannot save to %s: %s", call, path, strerror(err));
    if (!(*out)[dir_prefix(*out)]) {
        nb_status st = NB_FAIL(NB_ERR_IO, "%s: cannot save to %s: it links to %s, a directory",
                               call, path, *out);
        free(*out);
        *out = NULL;
        return st;
    }
    return NB_OK;
}

/* Decimal digits at *s (at least one) as a value in 1..INT_MAX, moving *s
 * past them; 0 when there are none, or too many to be a pid. */
static long parse_pid(const char **s)
{
    const char *p = *s;
    long v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (INT_MAX - 9) / 10) return 0;
        v = v * 10 + (*p - '0');
    }
    if (p == *s) return 0;
    *s = p;
    return v;
}

/* Create a fresh temp file for target in tmp (cap bytes, at least
 * strlen(target) + 64): ".<name>.tmp-<pid>-<n>" beside it. The pid and a
 * per-thread counter make names unique within a run; O_EXCL and the retry
 * step over names of killed runs still present. fd, or -1 with errno. */
static int create_temp(const char *target, char *tmp, size_t cap)
{
    static _Thread_local unsigned long counter;
    size_t pre = dir_prefix(target);
    for (int tries = 0; tries < ATOMIC_NAME_TRIES; tries++) {
        snprintf(tmp, cap, "%.*s.%s.tmp-%ld-%lu", (int)pre, target, target + pre, (long)getpid(),
                 counter++);
        int fd = sys_open_tmp(tmp);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    errno = EEXIST;
    return -1;
}

/*
 * Remove the temp files that killed saves of target left in dir: exactly
 * ".<base>.tmp-<pid>-<n>", a regular file owned by this user, whose
 * process is gone. A live process's file, or one of another user, stays:
 * kill(pid, 0) failing with ESRCH is the only proof of death (EPERM means
 * the pid lives, under someone else). A reused pid keeps a stale file
 * until it is free again; that is the safe side. This process's own
 * files are in-flight saves of other threads. Best effort: nothing here
 * fails a save. The caller holds the target's lock, so no other process
 * is creating such files meanwhile.
 */
static void remove_stale(const char *dir, const char *base)
{
    DIR *d = opendir(dir);
    if (!d) return;
    size_t blen = strlen(base);
    uid_t me = geteuid();
    pid_t self = getpid();
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (n[0] != '.' || strncmp(n + 1, base, blen) != 0 || strncmp(n + 1 + blen, ".tmp-", 5) != 0)
            continue;
        const char *s = n + 1 + blen + 5;
        long pid = parse_pid(&s);
        if (pid <= 0 || pid == (long)self || *s++ != '-') continue;
        if (*s < '0' || *s > '9') continue; /* the counter: any digits, then the end */
        while (*s >= '0' && *s <= '9') s++;
        if (*s) continue;
        struct stat sb;
        if (fstatat(dirfd(d), n, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode) ||
            sb.st_uid != me)
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        unlinkat(dirfd(d), n, 0);
    }
    closedir(d);
}

/* ------------------------------------------------------------ locks
 *
 * flock(2), not fcntl locks: an fcntl lock belongs to the process and
 * goes away when any descriptor of the file closes, and never conflicts
 * within the process. A flock belongs to one open file description and
 * conflicts with a second one even inside the same process; the registry
 * says which sidecars this process holds through nb_save_lock, so that
 * its own saves proceed. One mutex covers the registry and every take and
 * release, so two threads never both find a sidecar free of their own.
 */

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static nb_target_lock *registry; /* under registry_mu */

static nb_target_lock *registry_find(dev_t dev, ino_t ino)
{
    pid_t self = getpid();
    for (nb_target_lock *l = registry; l; l = l->next)
        if (l->dev == dev && l->ino == ino && l->owner == self) return l;
    return NULL;
}

/* The pid a holder wrote into its lock file; 0 when unknown (not written
 * yet, or not ours to read). Read, never trusted beyond being a number. */
static long holder_pid(int fd)
{
    char buf[24];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return 0;
    buf[n] = '\0';
    const char *s = buf;
    long pid = parse_pid(&s);
    return *s == '\n' ? pid : 0;
}

/*
 * Take the lock of target (links already followed; shown is the path as
 * the caller gave it) into *out. for_run: a lock for nb_save_lock, which
 * goes into the registry and is refused when this process already holds
 * it. Otherwise a save's own lock, and *out stays NULL when the process
 * already holds the target's: the save runs under that one.
 */
static nb_status lock_take(const char *call, const char *shown, const char *target, int for_run,
                           nb_target_lock **out)
{
    *out = NULL;
    size_t pre = dir_prefix(target), cap = strlen(target) + sizeof "..lock";
    nb_target_lock *l = calloc(1, sizeof *l);
    char *lp = malloc(cap);
    if (!l || !lp) {
        free(l);
        free(lp);
        return NB_NOMEM(call, cap + sizeof *l);
    }
    snprintf(lp, cap, "%.*s.%s.lock", (int)pre, target, target + pre);
    l->fd = -1;
    l->path = lp;
    nb_status st = NB_OK;
    pthread_mutex_lock(&registry_mu);
    for (int tries = 0;; tries++) {
        int err, fd = -1;
        struct stat fs, ps;
        /* Held already? Looked up by name first, without opening the file:
         * where flock is emulated by fcntl locks (NFS), closing a second
         * descriptor would drop the lock this process holds. */
        if (stat(lp, &ps) == 0 && registry_find(ps.st_dev, ps.st_ino)) {
            if (for_run)
                st = NB_FAIL(NB_ERR_IO,
                             "%s: cannot save to %s: this process (pid %ld) already holds its "
                             "lock %s; two runs cannot save to one file",
                             call, shown, (long)getpid(), lp);
            break;
        }
        if (fault_hit(NB_ATOMIC_LOCK, &err)) {
            errno = err;
        } else {
            /* O_NOFOLLOW: a planted link must not make us create files
             * elsewhere. A sidecar another user left (a killed run) may be
             * read-only to us: flock needs no write access. */
            fd = open(lp, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);
            if (fd < 0 && errno == EACCES) fd = open(lp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (fd < 0 || fstat(fd, &fs) != 0) {
            err = errno;
            if (fd >= 0) close(fd);
            st = NB_FAIL(NB_ERR_IO, "%s: cannot create lock file %s for %s: %s", call, lp, shown,
                         strerror(err));
            break;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            err = errno;
            if (err == EINTR && tries < ATOMIC_LOCK_TRIES) {
                close(fd);
                continue;
            }
            if (err == EWOULDBLOCK) {
                long pid = holder_pid(fd);
                /* A holder that could not write its pid leaves an older one. */
                if (pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH) pid = 0;
                if (pid > 0)
                    st = NB_FAIL(NB_ERR_IO,
                                 "%s: cannot save to %s: process %ld%s is saving to it (lock %s); "
                                 "a second writer would overwrite its saves",
                                 call, shown, pid, pid == (long)getpid() ? " (this one)" : "", lp);
                else
                    st = NB_FAIL(NB_ERR_IO,
                                 "%s: cannot save to %s: another process is saving to it (lock "
                                 "%s); a second writer would overwrite its saves",
                                 call, shown, lp);
            } else {
                st = NB_FAIL(NB_ERR_IO, "%s: cannot lock %s for %s: %s", call, lp, shown,
                             strerror(err));
            }
            close(fd);
            break;
        }
        /* A holder removes the sidecar while releasing it. If that fell
         * between our open and our flock, we now lock a file no longer at
         * that path, which the next writer would never see: start over. */
        if (stat(lp, &ps) != 0 || ps.st_dev != fs.st_dev || ps.st_ino != fs.st_ino) {
            close(fd);
            if (tries < ATOMIC_LOCK_TRIES) continue;
            st = NB_FAIL(NB_ERR_IO, "%s: cannot lock %s for %s: the lock file keeps being replaced",
                         call, lp, shown);
            break;
        }
        /* Our pid, for the message of a writer refused while we hold it;
         * only informative, so a failure to write it (a read-only
         * descriptor) changes nothing. */
        char txt[24];
        int len = snprintf(txt, sizeof txt, "%ld\n", (long)getpid());
        if (ftruncate(fd, 0) == 0) {
            ssize_t w = pwrite(fd, txt, (size_t)len, 0);
            (void)w;
        }
        l->fd = fd;
        l->dev = fs.st_dev;
        l->ino = fs.st_ino;
        l->owner = getpid();
        if (for_run) { /* nb_save_lock's: this process's saves run under it */
            l->next = registry;
            registry = l;
        }
        *out = l;
        l = NULL;
        break;
    }
    pthread_mutex_unlock(&registry_mu);
    if (l) {
        free(l->path);
        free(l);
    }
    return st;
}

static void lock_release(nb_target_lock *l)
{
    if (!l) return;
    pthread_mutex_lock(&registry_mu);
    for (nb_target_lock **p = &registry; *p; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            break;
        }
    /* Remove the sidecar while still holding it, and only if the file at
     * that path is ours (not if someone deleted it and a new writer made
     * and locked another); a forked child releasing its copy of a parent's
     * lock removes nothing. Closing our descriptor then drops the flock. */
    struct stat ps;
    if (l->owner == getpid() && stat(l->path, &ps) == 0 && ps.st_dev == l->dev &&
        ps.st_ino == l->ino)
        unlink(l->path);
    close(l->fd);
    pthread_mutex_unlock(&registry_mu);
    free(l->path);
    free(l);
}

nb_status nb_save_lock(const char *call, const char *path, nb_target_lock **out)
{
    if (!call) call = "nb_save_lock";
    if (!out) return NB_FAIL(NB_ERR_ARG, "%s: out is NULL", call);
    *out = NULL;
    char *target = NULL;
    NB_TRY(resolve_target(call, path, &target));
    nb_status st = lock_take(call, path, target, 1, out);
    free(target);
    return st;
}

void nb_save_unlock(nb_target_lock *l) { lock_release(l); }

/* ------------------------------------------------------- atomic file */

static void af_free(nb_atomic_file *af)
{
    if (!af) return;
    lock_release(af->lock);
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
    const char *fn = "nb_atomic_open";
    if (!out) return NB_FAIL(NB_ERR_ARG, "%s: out is NULL", fn);
    *out = NULL;
    char *target = NULL;
    NB_TRY(resolve_target(fn, path, &target));

    nb_atomic_file *af = calloc(1, sizeof *af);
    if (!af) {
        free(target);
        return NB_NOMEM(fn, sizeof *af);
    }
    af->fd = -1;
    af->target = target;
    af->dir = dir_of(target);
    size_t cap = strlen(target) + 64; /* ".", ".tmp-", pid, counter, NUL */
    af->tmp = malloc(cap);
    if (!af->dir || !af->tmp) {
        af_free(af);
        return NB_NOMEM(fn, cap);
    }
    af->tmp[0] = '\0';
    nb_status st = lock_take(fn, path, target, 0, &af->lock);
    if (st != NB_OK) {
        af_free(af);
        return st;
    }
    /* Under the lock: no other process is saving this target now. */
    remove_stale(af->dir, target + dir_prefix(target));
    af->fd = create_temp(target, af->tmp, cap);
    if (af->fd < 0) {
        st = NB_FAIL(NB_ERR_IO, "%s: cannot create temp file %s for %s: %s", fn, af->tmp, path,
                     strerror(errno));
        af_free(af);
        return st;
    }
    *out = af;
    return NB_OK;
}

nb_status nb_atomic_check_target(const char *call, const char *path)
{
    if (!call) call = "nb_atomic_check_target";
    char *target = NULL;
    NB_TRY(resolve_target(call, path, &target));
    /* Messages name the path as given, and where a link led. */
    const char *via = strcmp(target, path) ? " -> " : "", *to = *via ? target : "";
    nb_status st = NB_OK;
    struct stat sb;
    if (stat(target, &sb) == 0) {
        if (S_ISDIR(sb.st_mode))
            st = NB_FAIL(NB_ERR_IO, "%s: cannot save to %s%s%s: %s", call, path, via, to,
                         strerror(EISDIR));
        else if (!S_ISREG(sb.st_mode))
            st = NB_FAIL(NB_ERR_IO, "%s: cannot save to %s%s%s: not a regular file", call, path,
                         via, to);
    } else if (errno != ENOENT) {
        st = NB_FAIL(NB_ERR_IO, "%s: cannot save to %s%s%s: %s", call, path, via, to,
                     strerror(errno));
    }
    if (st == NB_OK) {
        /* Permissions, a read-only mount, a full inode table, a missing
         * directory: creating the very file a save creates tests them all. */
        size_t cap = strlen(target) + 64;
        char *tmp = malloc(cap), *dir = dir_of(target);
        if (!tmp || !dir) {
            st = NB_NOMEM(call, cap);
        } else {
            int fd = create_temp(target, tmp, cap);
            if (fd < 0) {
                st = NB_FAIL(NB_ERR_IO, "%s: cannot save to %s%s%s: cannot create a file in %s: %s",
                             call, path, via, to, dir, strerror(errno));
            } else {
                close(fd);
                unlink(tmp);
            }
        }
        free(tmp);
        free(dir);
    }
    free(target);
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
    /* The rename replaces the old file by a new inode: without this a
     * 0600 checkpoint would come back 0644 (the umask's default). Read
     * now, not at open, so a chmod during the save counts too. */
    struct stat old;
    if (stat(af->target, &old) == 0 && S_ISREG(old.st_mode) && sys_carry_mode(af->fd, &old) != 0) {
        st = NB_FAIL(NB_ERR_IO, "nb_atomic_commit: cannot give %s the mode %04o of %s: %s",
                     af->tmp, (unsigned)(old.st_mode & 0777), af->target, strerror(errno));
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
    af_free(af); /* releases the save's lock, after the rename */
    return st;
}

void nb_atomic_abort(nb_atomic_file *af)
{
    if (!af) return;
    af_discard(af);
    af_free(af);
}
