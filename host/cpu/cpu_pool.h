/*
 * cpu_pool.h — the cpu backend's worker threads: a small pool that runs a
 * job of numbered tasks on every worker, and the default thread count.
 *
 * A pool of our own rather than OpenMP: libgomp's waiting threads spin
 * (OMP_WAIT_POLICY is read once, when the runtime loads, so a library
 * cannot change it), and `omp for schedule(static)` gives every thread an
 * equal share, so one core taken by another process stalls every product.
 * Here idle workers sleep after a short spin, and tasks go one at a time
 * to whichever worker is free (cpu_pool.c says how and why).
 */
#ifndef NB_CPU_POOL_H
#define NB_CPU_POOL_H

#include <stddef.h>

#include "nabla.h"

/* The most threads a pool (and the GEMM's per-worker scratch) takes. */
enum { NB_CPU_MAX_THREADS = 64 };

typedef struct nb_pool nb_pool;

/* A pool of `threads` workers (1 … NB_CPU_MAX_THREADS), the caller counting
 * as worker 0 (so threads − 1 are started). NB_ERR_ARG for a count out of
 * range; when a thread cannot be started, those already started are
 * stopped and joined, and the status says which one failed. */
nb_status nb_pool_create(int threads, nb_pool **out);

/* NULL is a no-op; stops and joins the workers. Not while nb_pool_for runs. */
void nb_pool_free(nb_pool *p);

int nb_pool_threads(const nb_pool *p);

/* Run fn(arg, task, worker) once for every task in [0, n_tasks), spread
 * over the workers dynamically (each next task goes to whichever worker is
 * free, so a slow or preempted core does not stall the rest); the caller
 * works too; returns when all tasks are done, their writes visible to the
 * caller. worker in [0, threads) names per-worker scratch: no two tasks run
 * at once with the same worker. With one thread, or n_tasks <= 1,
 * everything runs on the caller with no synchronisation. Not reentrant: fn
 * must not call nb_pool_for on the same pool, and one thread at a time
 * may call it. p may be NULL: everything runs on the caller. */
void nb_pool_for(nb_pool *p, size_t n_tasks, void (*fn)(void *arg, size_t task, int worker),
                 void *arg);

/* The automatic thread count: the CPUs this process may run on
 * (sched_getaffinity), capped by a cgroup CPU quota (cgroup v2 cpu.max, or
 * v1 cpu.cfs_quota_us / cpu.cfs_period_us; rounded up), ≥ 1, ≤ the
 * maximum. Read afresh at every call (cpu_count.c). */
int nb_cpu_default_threads(void);

/* ---- internals, exposed for tests and measurements ---- */

/* How long (ns) an idle worker, or the caller waiting for the workers,
 * spins before it sleeps; the default is NB_POOL_SPIN_NS. For measuring
 * the policy: 0 sleeps at once. Only between jobs. */
void nb_pool_set_spin_ns(nb_pool *p, long ns);

/* The CPU limit of a cgroup quota for this process, read under `root` (""
 * for the real system; a test passes a directory laid out like one, with
 * proc/self/cgroup, proc/self/mountinfo and the cgroup files): the quota
 * over the period, rounded up, or 0 when there is none or it cannot be
 * read. */
int nb_cgroup_cpu_limit(const char *root);

#endif
