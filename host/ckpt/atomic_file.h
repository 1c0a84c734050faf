/*
 * atomic_file.h — replacing a file atomically (private).
 *
 * A save either leaves the complete new file at the target path or leaves
 * the previous target untouched; a crash or error never exposes a partial
 * file under the target name. The sequence: write a temp file in the
 * same directory, fsync it, close it, rename it over the target, fsync the
 * directory.
 *
 * A process killed mid-save (SIGKILL, power loss) cannot clean up: the
 * target is intact but a ".<name>.tmp-*" file may remain beside it, which
 * a caller may delete on its next start.
 *
 * It is not a general file API: no reading, no appending, no locking.
 * Two concurrent saves to the same path both succeed and the later rename
 * wins; neither sees a partial file.
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
 * Create a temp file ".<name>.tmp-<pid>-<n>" next to path (permissions
 * 0666 less the umask, as for any new file; an existing target's mode is
 * not carried over). NB_ERR_IO names the call, the temp path and
 * strerror; NB_ERR_ARG for a NULL or empty path; NB_ERR_NOMEM.
 */
nb_status nb_atomic_open(const char *path, nb_atomic_file **out);

/* Append n bytes (short writes and EINTR are retried). After a failure
 * every later write and the commit fail too; the caller aborts. */
nb_status nb_atomic_write(nb_atomic_file *af, const void *buf, size_t n);

/*
 * fsync, close, rename over the target, fsync the directory; frees af
 * whatever happens. On a failure before the rename the temp file is
 * removed and the target is untouched. A failure of the final directory
 * fsync is reported (NB_ERR_IO) although the target already holds the
 * complete new file: only its survival of a power loss is in doubt.
 * Directories whose filesystem cannot fsync them (EINVAL) count as synced.
 */
nb_status nb_atomic_commit(nb_atomic_file *af);

/* Close and remove the temp file, leaving the target untouched; frees af.
 * NULL is a no-op. */
void nb_atomic_abort(nb_atomic_file *af);

/* ---- test hook: simulated failures (a full disk without root) ----
 *
 * Each system call the module makes goes through a counter per kind. A
 * fault set with nb_atomic_set_fault makes the nth call of that kind from
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
    NB_ATOMIC_N_OPS
} nb_atomic_op;

void nb_atomic_set_fault(nb_atomic_op op, long nth, int err);
void nb_atomic_reset_faults(void);
/* Calls of kind op since the last reset (faulted ones included). */
long nb_atomic_op_count(nb_atomic_op op);

#endif
