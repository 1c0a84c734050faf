/*
 * atomic_file.h — replacing a file atomically (private).
 *
 * A save either leaves the complete new file at the target path or leaves
 * the previous target untouched; a crash or error never exposes a partial
 * file under the target name. The sequence: write a temp file in the
 * same directory, give it the old target's permission bits, fsync it,
 * close it, rename it over the target, fsync the directory.
 *
 * What a save does beyond that, so that it never surprises:
 *   - A target that is a symbolic link (or a chain of them, relative or
 *     absolute) is written through it: the file it finally names is
 *     replaced, in that file's directory, and the links stay links. A
 *     dangling link creates the file it points to.
 *   - The new file keeps the old one's permission bits (rwx for user,
 *     group, others; and, when running as root, its owner and group, best
 *     effort). A new target gets 0666 less the umask.
 *   - A process killed mid-save (SIGKILL, power loss) leaves its temp file
 *     ".<name>.tmp-<pid>-<n>" beside the target. The next save of that
 *     target removes those whose process is gone, that are regular files
 *     owned by the same user and exactly match that pattern; a live
 *     process's are never touched.
 *   - Two writers never interleave saves to one target: an advisory lock
 *     (flock(2), never waited for) on a sidecar ".<name>.lock" in the
 *     target's directory (the target itself is replaced on every save
 *     and cannot carry a lock) refuses the second. A save takes
 *     the lock for its own duration, or runs under one its process already
 *     holds through nb_save_lock (a training run holds it from start to
 *     end). A second writer is refused with NB_ERR_IO naming the file and,
 *     where the lock file says it, the holder's pid. The sidecar is removed
 *     when the lock is released; one left by a killed process is harmless
 *     (the kernel released its lock) and the next save removes it.
 *
 * It is not a general file API: no reading, no appending.
 *
 *   nb_atomic_file *af = NULL;
 *   NB_TRY(nb_atomic_open(path, &af));
 *   st = nb_atomic_write(af, buf, n);          // any number of times
 *   if (st == NB_OK) st = nb_atomic_commit(af); // consumes af
 *   else nb_atomic_abort(af);                   // consumes af
 */
#ifndef NB_CKPT_ATOMIC_FILE_H
#define NB_CKPT_ATOMIC_FILE_H

#include <stddef.h>

#include "nabla.h"

typedef struct nb_atomic_file nb_atomic_file;

/*
 * Resolve symbolic links in path's last component, take the target's lock
 * (unless this process holds it through nb_save_lock), remove stale temp
 * files of the target, and create a temp file ".<name>.tmp-<pid>-<n>"
 * beside the resolved target (0666 less the umask until the commit gives
 * it the old target's mode). NB_ERR_IO names the call, the path and
 * strerror, or the lock's holder; NB_ERR_ARG for a NULL or empty path or
 * one ending in "/"; NB_ERR_NOMEM.
 */
nb_status nb_atomic_open(const char *path, nb_atomic_file **out);

/* Append n bytes (short writes and EINTR are retried). After a failure
 * every later write and the commit fail too; the caller aborts. */
nb_status nb_atomic_write(nb_atomic_file *af, const void *buf, size_t n);

/*
 * Carry over the old target's mode (and owner, as root), fsync, close,
 * rename over the target, fsync the directory, release the save's lock;
 * frees af whatever happens. On a failure before the rename the temp file is
 * removed and the target is untouched. A failure of the final directory
 * fsync is reported (NB_ERR_IO) although the target already holds the
 * complete new file: only its survival of a power loss is in doubt.
 * Directories whose filesystem cannot fsync them (EINVAL) count as synced.
 */
nb_status nb_atomic_commit(nb_atomic_file *af);

/* Close and remove the temp file, leaving the target untouched, release
 * the save's lock; frees af. NULL is a no-op. */
void nb_atomic_abort(nb_atomic_file *af);

/*
 * Whether a save to path can work, without writing the target: symbolic
 * links resolve (no loop), the target if present is a regular file (or a
 * link to one, or a dangling link), and its directory exists and takes a
 * new file (a temp file named as a save names it is created and removed).
 * NB_ERR_IO names call, the path and the reason (strerror, "not a
 * regular file"); NB_ERR_ARG for a NULL or empty path or one ending in
 * "/". The target's lock is not looked at: nb_save_lock says that.
 */
nb_status nb_atomic_check_target(const char *call, const char *path);

/* ---- holding a target's lock across many saves ---- */

typedef struct nb_target_lock nb_target_lock;

/*
 * Take the lock of the file path resolves to and hold it until
 * nb_save_unlock, so that every save of it by this process proceeds and
 * every other writer is refused: another process, and another
 * nb_save_lock of the same target in this process (NB_ERR_IO naming call,
 * the path and the holder's pid where known). Saves by other threads of
 * this process run under the held lock too; the caller orders them.
 * Thread-safe. NB_ERR_ARG as for nb_atomic_open; NB_ERR_NOMEM.
 */
nb_status nb_save_lock(const char *call, const char *path, nb_target_lock **out);

/* Release the lock and remove its sidecar file. NULL is a no-op. */
void nb_save_unlock(nb_target_lock *l);

/* ---- test hook: simulated failures (a full disk without root) ----
 *
 * Each system call that can fail a save goes through a counter per kind
 * (the removal of stale temp files, which never fails a save, does not;
 * nb_atomic_check_target's trial file counts as NB_ATOMIC_OPEN). A fault set with nb_atomic_set_fault makes the nth call of that kind from
 * now on (1-based) fail with errno err instead of running. For
 * NB_ATOMIC_WRITE, err 0 makes that call a short write of one byte
 * instead, which must be retried transparently. The state is per thread
 * and never touched by the library itself; nb_atomic_reset_faults clears
 * every fault and counter. Never for production use.
 */
typedef enum nb_atomic_op {
    NB_ATOMIC_OPEN = 0, /* creating the temp file                */
    NB_ATOMIC_WRITE,    /* each write(2) of the temp file        */
    NB_ATOMIC_FSYNC,    /* fsync of the temp file                */
    NB_ATOMIC_CLOSE,    /* close of the temp file                */
    NB_ATOMIC_RENAME,   /* rename over the target                */
    NB_ATOMIC_DIRSYNC,  /* open + fsync of the directory         */
    NB_ATOMIC_LOCK,     /* open + flock of the lock file         */
    NB_ATOMIC_MODE,     /* fchmod of the temp file (old target)  */
    NB_ATOMIC_N_OPS
} nb_atomic_op;

void nb_atomic_set_fault(nb_atomic_op op, long nth, int err);
void nb_atomic_reset_faults(void);
/* Calls of kind op since the last reset (faulted ones included). */
long nb_atomic_op_count(nb_atomic_op op);

#endif
