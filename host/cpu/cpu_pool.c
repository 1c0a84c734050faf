/*
 * cpu_pool.c — the cpu backend's thread pool: workers that run the tasks
 * of one job at a time, claimed one by one, and sleep between jobs.
 *
 * One job (nb_pool_for) goes like this:
 *   caller   writes fn/arg, resets `done`, publishes `claim` = (n, next 0),
 *            bumps `gen` and wakes as many sleeping workers as there are
 *            tasks beyond its own; then claims tasks itself, and waits
 *            until `done` reaches n.
 *   worker   waits for `gen` to change (spins briefly, then sleeps on it),
 *            then claims tasks until there are none, and waits again.
 *
 * Claiming. `claim` is one 64-bit counter: the job's task count n in the
 * high half, the next task in the low half. A claim is one fetch_add; the
 * value it returns says which task, of which job (n), and whether there is
 * one. No lock, no compare-and-swap. Carrying n in the same word is what
 * makes a late worker safe: a worker that wakes (or resumes after being
 * preempted) long after its job ended may increment the counter of a newer
 * job, and then it simply runs that job's task, or finds it has none; it
 * never needs to read a job descriptor that the caller may be rewriting.
 * A worker reads fn and arg only after a successful claim, and the caller
 * rewrites them only once every task of the job is done, so they are
 * always the claimed job's. Each claim loop ends with exactly one failed
 * claim, so a job's counter runs at most n + 2·threads past its start
 * (a worker can end two loops on the same job), far from carrying into
 * the high half: jobs are cut to at most 2^31 tasks.
 *
 * Memory order. The caller's writes (fn, arg, data the tasks read) happen
 * before its release store of `claim`; a claim is an acquire read-modify-
 * write of that store's release sequence, so a worker that wins a task
 * sees them. A finished task adds to `done` with release semantics and the
 * caller's acquire load of `done` == n makes every task's writes visible
 * to it. The sleep/wake handshakes are the Dekker pattern — store my flag,
 * then load yours — so those four accesses are sequentially consistent:
 * either the waker sees the sleeper's flag, or the sleeper sees the new
 * value and does not sleep (and futex_wait itself refuses to sleep when
 * the word already changed).
 *
 * Waiting (NB_POOL_SPIN_NS). Both sides spin a little with a pause
 * instruction, then sleep on a futex (a mutex and condition variable off
 * Linux). Spinning only pays when the next job comes within the spin: a
 * training step runs about a dozen GEMMs with a few microseconds of
 * single-threaded work between some of them, and a worker that catches
 * the next job while spinning skips a futex wake (a system call on the
 * caller's side) and the wake-up latency of a sleeping thread. Spinning
 * long costs a whole core on an oversubscribed machine: the spinner takes
 * time slices from the thread it waits for. bench/pool.c measures both
 * sides; on the 2-core development machine (AMD EPYC Zen 3, a VM), jobs
 * of 2 tasks × 2 µs with G µs of caller-only work between them, wall
 * (and CPU) µs per job, for spins of 0 / 2 / 5 / 20 / 50 µs:
 *
 *   G 2 µs      9.2 / 4.9 / 4.5 / 4.5 / 4.4 (CPU 10.5 → 8.9): the ideal is 4;
 *               asleep, each job pays the futex wake and a job alone
 *   G 20 µs     29 / 30 / 29 / 23 / 23: only a spin longer than the gap helps
 *   G 100 µs    ~114 wall for all; CPU 132 / 133 / 137 / 155 / 175
 *   G 2 µs beside one busy process: 10.4 / 10.5 / 7.4 / 8.2 / 11.4
 *   G 20 µs beside one busy process: 32 / 31 / 32 / 34 / 31
 *
 * A 5 µs spin catches back-to-back jobs (2× faster than sleeping at once,
 * also beside a busy process), while longer spins buy little for longer
 * gaps and burn CPU a neighbour could use (and beside a busy process a
 * 50 µs spin is slower than none). Hence 5 µs.
 */
#define _GNU_SOURCE /* syscall(), for the futex */

#include "cpu/cpu_pool.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "status.h"

#if defined(__linux__) && !defined(NB_POOL_NO_FUTEX)
#define NB_POOL_FUTEX 1
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

/* See "Waiting" above. */
#define NB_POOL_SPIN_NS 5000L
/* The largest job handed to the workers at once (see "Claiming"). */
#define NB_POOL_MAX_JOB ((size_t)1 << 31)

typedef void (*task_fn)(void *arg, size_t task, int worker);

typedef struct worker {
    struct nb_pool *pool;
    int id;
    pthread_t tid;
} worker;

struct nb_pool {
    int threads;
    int started; /* workers started, 0 … threads − 1 */
    /* The job, written by the caller before it publishes `claim`. */
    task_fn fn;
    void *arg;
    size_t base; /* first task of this part of a job cut in parts */
    _Atomic long spin_ns;
    /* Each word on its own cache line: claims and completions come from
     * every worker, and neither should evict the other. */
    alignas(64) _Atomic uint64_t claim;  /* (n << 32) | next task      */
    alignas(64) _Atomic uint32_t done;   /* tasks finished; the caller sleeps on it */
    _Atomic uint32_t caller_asleep;
    alignas(64) _Atomic uint32_t gen;    /* bumped per job and at stop; workers sleep on it */
    _Atomic uint32_t sleepers;           /* workers asleep (or about to be) on gen */
    _Atomic int stop;
#ifndef NB_POOL_FUTEX
    pthread_mutex_t lock;
    pthread_cond_t gen_cv, done_cv;
#endif
    worker w[];
};

/* ------------------------------------------------------------ waiting */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause(); /* frees the pipeline for the sibling hyperthread */
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static inline long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Spin up to spin_ns until (*word == val) == equal; returns the last value
 * read. The clock is read every 16 pauses, which keeps its cost out of the
 * loop. */
static uint32_t spin_until(_Atomic uint32_t *word, uint32_t val, bool equal, long spin_ns)
{
    uint32_t v = atomic_load_explicit(word, memory_order_acquire);
    if ((v == val) == equal || spin_ns <= 0) return v;
    long long end = now_ns() + spin_ns;
    do {
        for (int i = 0; i < 16; i++) {
            cpu_relax();
            v = atomic_load_explicit(word, memory_order_acquire);
            if ((v == val) == equal) return v;
        }
    } while (now_ns() < end);
    return v;
}

#ifdef NB_POOL_FUTEX
/* Sleep while *word == val (the kernel checks, so a change just before
 * the call is never missed); may return early. */
static void sleep_on(nb_pool *p, _Atomic uint32_t *word, uint32_t val)
{
    (void)p;
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void wake_on(nb_pool *p, _Atomic uint32_t *word, int n)
{
    (void)p;
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}
#else
/* The same with a condition variable: the waker changes the word before it
 * takes the lock, and the sleeper checks it under the lock, so a wake can
 * never fall between the check and the wait. */
static void sleep_on(nb_pool *p, _Atomic uint32_t *word, uint32_t val)
{
    pthread_cond_t *cv = word == &p->gen ? &p->gen_cv : &p->done_cv;
    pthread_mutex_lock(&p->lock);
    if (atomic_load_explicit(word, memory_order_acquire) == val) pthread_cond_wait(cv, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

static void wake_on(nb_pool *p, _Atomic uint32_t *word, int n)
{
    pthread_cond_t *cv = word == &p->gen ? &p->gen_cv : &p->done_cv;
    pthread_mutex_lock(&p->lock);
    pthread_mutex_unlock(&p->lock);
    if (n == 1) pthread_cond_signal(cv);
    else pthread_cond_broadcast(cv);
}
#endif

/* ------------------------------------------------------------- a job */

/* Claim and run tasks until the current job has none left. */
static void run_tasks(nb_pool *p, int id)
{
    for (;;) {
        uint64_t c = atomic_fetch_add_explicit(&p->claim, 1, memory_order_acquire);
        uint32_t task = (uint32_t)c, n = (uint32_t)(c >> 32);
        if (task >= n) return;
        p->fn(p->arg, p->base + task, id);
        /* seq_cst: releases the task's writes, and orders this add before
         * the load of caller_asleep (the handshake in await_done). */
        uint32_t d = atomic_fetch_add_explicit(&p->done, 1, memory_order_seq_cst) + 1;
        if (d == n && atomic_load_explicit(&p->caller_asleep, memory_order_seq_cst))
            wake_on(p, &p->done, 1);
    }
}

/* The caller's wait for the last task of a job of n. */
static void await_done(nb_pool *p, uint32_t n)
{
    long spin = atomic_load_explicit(&p->spin_ns, memory_order_relaxed);
    if (spin_until(&p->done, n, true, spin) == n) return; /* most jobs end here */
    for (;;) {
        atomic_store_explicit(&p->caller_asleep, 1, memory_order_seq_cst);
        uint32_t d = atomic_load_explicit(&p->done, memory_order_seq_cst);
        if (d == n) break;
        sleep_on(p, &p->done, d);
    }
    atomic_store_explicit(&p->caller_asleep, 0, memory_order_relaxed);
}

/* A worker's wait for `gen` to move past `seen`; returns the new value. */
static uint32_t await_job(nb_pool *p, uint32_t seen)
{
    long spin = atomic_load_explicit(&p->spin_ns, memory_order_relaxed);
    uint32_t g = spin_until(&p->gen, seen, false, spin);
    while (g == seen) {
        atomic_fetch_add_explicit(&p->sleepers, 1, memory_order_seq_cst);
        if (atomic_load_explicit(&p->gen, memory_order_seq_cst) == seen) sleep_on(p, &p->gen, seen);
        atomic_fetch_sub_explicit(&p->sleepers, 1, memory_order_relaxed);
        g = atomic_load_explicit(&p->gen, memory_order_acquire);
    }
    return g;
}

static void *worker_main(void *v)
{
    worker *w = v;
    nb_pool *p = w->pool;
    uint32_t seen = 0; /* gen starts at 0 */
    for (;;) {
        seen = await_job(p, seen);
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) return NULL;
        run_tasks(p, w->id);
    }
}

/* One job of 2 … NB_POOL_MAX_JOB tasks over the pool. */
static void run_job(nb_pool *p, size_t base, uint32_t n, task_fn fn, void *arg)
{
    p->fn = fn;
    p->arg = arg;
    p->base = base;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed); /* ordered by the release below */
    atomic_store_explicit(&p->claim, (uint64_t)n << 32, memory_order_release);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_seq_cst);
    /* Wake sleepers only for the tasks the caller will not take itself:
     * on a busy machine every thread woken for nothing costs a switch. */
    uint32_t asleep = atomic_load_explicit(&p->sleepers, memory_order_seq_cst);
    if (asleep > 0) wake_on(p, &p->gen, (int)(asleep < n - 1 ? asleep : n - 1));
    run_tasks(p, 0);
    await_done(p, n);
}

void nb_pool_for(nb_pool *p, size_t n_tasks, task_fn fn, void *arg)
{
    if (!p || p->threads == 1 || n_tasks <= 1) {
        for (size_t t = 0; t < n_tasks; t++) fn(arg, t, 0);
        return;
    }
    for (size_t base = 0; base < n_tasks;) {
        size_t n = n_tasks - base < NB_POOL_MAX_JOB ? n_tasks - base : NB_POOL_MAX_JOB;
        if (n == 1) fn(arg, base, 0);
        else run_job(p, base, (uint32_t)n, fn, arg);
        base += n;
    }
}

/* ------------------------------------------------------- the pool's life */

/* Stop and join the started workers; free everything. */
static void destroy(nb_pool *p)
{
    atomic_store_explicit(&p->stop, 1, memory_order_release);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_seq_cst);
    wake_on(p, &p->gen, INT_MAX);
    for (int i = 1; i <= p->started; i++) pthread_join(p->w[i].tid, NULL);
#ifndef NB_POOL_FUTEX
    pthread_cond_destroy(&p->done_cv);
    pthread_cond_destroy(&p->gen_cv);
    pthread_mutex_destroy(&p->lock);
#endif
    free(p);
}

/* Every asynchronous signal: the workers never take one, so a handler
 * (Ctrl-C and SIGTERM in `nabla train`) runs on the main thread. Faults
 * stay unblocked: they go to the thread that caused them. */
static void async_signals(sigset_t *s)
{
    static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS};
    sigfillset(s);
    for (size_t i = 0; i < sizeof faults / sizeof *faults; i++) sigdelset(s, faults[i]);
}

nb_status nb_pool_create(int threads, nb_pool **out)
{
    if (!out) return NB_FAIL(NB_ERR_ARG, "nb_pool_create: out is NULL");
    *out = NULL;
    if (threads < 1 || threads > NB_CPU_MAX_THREADS)
        return NB_FAIL(NB_ERR_ARG, "nb_pool_create: %d threads, not in 1 … %d", threads,
                       NB_CPU_MAX_THREADS);
    size_t bytes = sizeof(nb_pool) + (size_t)threads * sizeof(worker);
    nb_pool *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) return NB_NOMEM("nb_pool_create", bytes);
    memset(p, 0, bytes);
    p->threads = threads;
    atomic_init(&p->spin_ns, NB_POOL_SPIN_NS);
    atomic_init(&p->claim, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->caller_asleep, 0);
    atomic_init(&p->gen, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->stop, 0);
#ifndef NB_POOL_FUTEX
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p);
        return NB_FAIL(NB_ERR_NOMEM, "nb_pool_create: pthread_mutex_init failed");
    }
    if (pthread_cond_init(&p->gen_cv, NULL) != 0) {
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NB_FAIL(NB_ERR_NOMEM, "nb_pool_create: pthread_cond_init failed");
    }
    if (pthread_cond_init(&p->done_cv, NULL) != 0) {
        pthread_cond_destroy(&p->gen_cv);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NB_FAIL(NB_ERR_NOMEM, "nb_pool_create: pthread_cond_init failed");
    }
#endif
    for (int i = 0; i < threads; i++) p->w[i].pool = p, p->w[i].id = i;
    /* A thread starts with its creator's signal mask: block here, so no
     * worker ever runs a moment with the signals open. */
    sigset_t block, old;
    async_signals(&block);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int rc = 0, i;
    for (i = 1; i < threads && rc == 0; i++) {
        rc = pthread_create(&p->w[i].tid, NULL, worker_main, &p->w[i]);
        if (rc == 0) p->started = i;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        int failed = p->started + 1;
        destroy(p); /* joins the ones that started */
        return NB_FAIL(rc == EAGAIN ? NB_ERR_NOMEM : NB_ERR_INTERNAL,
                       "nb_pool_create: pthread_create failed for worker %d of %d (error %d%s)",
                       failed, threads - 1, rc, rc == EAGAIN ? ", EAGAIN: no memory or threads left" : "");
    }
    *out = p;
    return NB_OK;
}

void nb_pool_free(nb_pool *p)
{
    if (p) destroy(p);
}

int nb_pool_threads(const nb_pool *p) { return p ? p->threads : 1; }

void nb_pool_set_spin_ns(nb_pool *p, long ns)
{
    if (p) atomic_store_explicit(&p->spin_ns, ns < 0 ? 0 : ns, memory_order_relaxed);
}
