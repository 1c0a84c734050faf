/*
 * pool_test.c — the cpu backend's thread pool and its default thread count.
 *
 * The pool: every task of a job runs exactly once, for many task and
 * thread counts (none, one, fewer tasks than threads); worker ids stay in
 * range and no id runs two tasks at once; the tasks' writes are visible
 * when nb_pool_for returns; back-to-back jobs (workers still spinning or
 * waking late from the previous one) and pools used from two threads at
 * once; a slow worker does not hold back the tasks it has not claimed;
 * creation and freeing in cycles leave no thread behind; a failure to
 * start a thread part-way cleans up; workers block the signals the CLI
 * handles. The thread count: NABLA_THREADS, the affinity mask (narrowed
 * to one CPU in a child process) and cgroup quotas read from crafted
 * cgroup trees, v1 and v2.
 */
#define _GNU_SOURCE /* sched_setaffinity, CPU_*, pthread_setattr_default_np */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/backend_opts.h"
#include "cpu/cpu_pool.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

/* ------------------------------------------------------------- helpers */

/* The "Threads:" line of /proc/self/status: this process's threads. */
static int thread_count(void)
{
    char line[256];
    int n = -1;
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1) break;
    if (f) fclose(f);
    return n;
}

/* Threads the process had before any pool: the sanitizers may run one of
 * their own. */
static int base_threads;

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* The thread count once it has settled at `want`, or after 2 s. Workers
 * are joined when nb_pool_free returns, but the kernel takes a joined
 * thread off the count a moment after pthread_join has returned. */
static int threads_settled(int want)
{
    int n = thread_count();
    for (int i = 0; i < 2000 && n != want; i++) {
        sleep_us(1000);
        n = thread_count();
    }
    return n;
}

/* What a job records: how often each task ran, on which worker, and
 * whether two tasks ever ran at once under one worker id. */
typedef struct record {
    size_t n;
    int threads;
    _Atomic int *runs;
    _Atomic int *by_worker; /* tasks run per worker id */
    _Atomic int busy[NB_CPU_MAX_THREADS];
    _Atomic int bad_worker, overlap, off_caller;
    unsigned *out; /* plain writes, read by the caller after the job */
    pthread_t caller;
    long slow_us;  /* a task's work, spread so that workers interleave */
} record;

static void record_task(void *arg, size_t task, int worker)
{
    record *r = arg;
    if (worker < 0 || worker >= r->threads || task >= r->n) {
        atomic_store(&r->bad_worker, 1);
        return;
    }
    if (atomic_exchange(&r->busy[worker], 1)) atomic_store(&r->overlap, 1);
    atomic_fetch_add(&r->runs[task], 1);
    atomic_fetch_add(&r->by_worker[worker], 1);
    if ((worker == 0) != (pthread_equal(pthread_self(), r->caller) != 0))
        atomic_store(&r->off_caller, 1); /* worker 0 is the caller and no one else */
    r->out[task] = (unsigned)(task * 2654435761u + 7u);
    if (r->slow_us > 0 && task % 7 == 3) sleep_us(r->slow_us);
    atomic_store(&r->busy[worker], 0);
}

static void record_init(record *r, size_t n, int threads)
{
    memset(r, 0, sizeof *r);
    r->n = n;
    r->threads = threads;
    r->runs = calloc(n ? n : 1, sizeof *r->runs);
    r->by_worker = calloc(NB_CPU_MAX_THREADS, sizeof *r->by_worker);
    r->out = calloc(n ? n : 1, sizeof *r->out);
    assert_non_null(r->runs);
    assert_non_null(r->by_worker);
    assert_non_null(r->out);
    r->caller = pthread_self();
}

static void record_free(record *r)
{
    free(r->runs);
    free(r->by_worker);
    free(r->out);
}

/* Every task exactly once, its write visible, workers in range. */
static void record_check(const record *r, const char *what)
{
    for (size_t t = 0; t < r->n; t++) {
        int k = atomic_load(&r->runs[t]);
        if (k != 1 || r->out[t] != (unsigned)(t * 2654435761u + 7u)) {
            print_error("%s: task %zu of %zu ran %d times (write %s)\n", what, t, r->n, k,
                        r->out[t] == (unsigned)(t * 2654435761u + 7u) ? "seen" : "not seen");
            fail();
        }
    }
    if (atomic_load(&r->bad_worker) || atomic_load(&r->overlap) || atomic_load(&r->off_caller)) {
        print_error("%s: worker id out of range %d, two tasks at once under one id %d, worker 0 "
                    "not the caller %d\n",
                    what, atomic_load(&r->bad_worker), atomic_load(&r->overlap),
                    atomic_load(&r->off_caller));
        fail();
    }
}

static void run_and_check(nb_pool *p, size_t n, long slow_us, const char *what)
{
    record r;
    record_init(&r, n, nb_pool_threads(p));
    r.slow_us = slow_us;
    nb_pool_for(p, n, record_task, &r);
    record_check(&r, what);
    record_free(&r);
}

/* ---------------------------------------------------------- the pool */

static void test_every_task_once(void **state)
{
    (void)state;
    static const int threads[] = {1, 2, 3, 4, 8, 17};
    static const size_t tasks[] = {0, 1, 2, 3, 5, 7, 16, 17, 100, 1000, 4097};
    for (size_t i = 0; i < sizeof threads / sizeof *threads; i++) {
        nb_pool *p = NULL;
        assert_int_equal(nb_pool_create(threads[i], &p), NB_OK);
        assert_int_equal(nb_pool_threads(p), threads[i]);
        for (size_t j = 0; j < sizeof tasks / sizeof *tasks; j++) {
            char what[64];
            snprintf(what, sizeof what, "%d threads, %zu tasks", threads[i], tasks[j]);
            run_and_check(p, tasks[j], 0, what);
            run_and_check(p, tasks[j], 200, what); /* slow tasks: others overtake */
        }
        nb_pool_free(p);
    }
    assert_int_equal(threads_settled(base_threads), base_threads);
}

/* With one thread, one task or none, the caller runs everything as
 * worker 0 (record_task checks the thread); NULL is a pool of one. */
static void test_caller_alone(void **state)
{
    (void)state;
    nb_pool *p = NULL;
    assert_int_equal(nb_pool_create(4, &p), NB_OK);
    for (size_t n = 0; n <= 1; n++) {
        record r;
        record_init(&r, n, 4);
        nb_pool_for(p, n, record_task, &r);
        record_check(&r, "4 threads, n <= 1");
        assert_int_equal(atomic_load(&r.by_worker[0]), (int)n);
        record_free(&r);
    }
    nb_pool_free(p);
    assert_int_equal(nb_pool_threads(NULL), 1);
    record r;
    record_init(&r, 9, 1);
    nb_pool_for(NULL, 9, record_task, &r);
    record_check(&r, "NULL pool");
    assert_int_equal(atomic_load(&r.by_worker[0]), 9);
    record_free(&r);
}

/* Jobs back to back: workers of the last job are still spinning, asleep
 * or just waking when the next is posted. Again with no spin (every wait
 * sleeps) and with a long one (every wait spins). */
static void test_back_to_back(void **state)
{
    (void)state;
    static const long spins[] = {5000, 0, 200000};
    for (int threads = 2; threads <= 5; threads += 3) {
        nb_pool *p = NULL;
        assert_int_equal(nb_pool_create(threads, &p), NB_OK);
        for (size_t s = 0; s < sizeof spins / sizeof *spins; s++) {
            nb_pool_set_spin_ns(p, spins[s]);
            for (int rep = 0; rep < 400; rep++) {
                char what[64];
                snprintf(what, sizeof what, "%d threads, spin %ld ns, job %d", threads, spins[s], rep);
                run_and_check(p, (size_t)(rep % 13), rep % 50 == 0 ? 100 : 0, what);
            }
        }
        nb_pool_free(p);
    }
}

/* Two pools, each driven by its own thread at the same time. */
typedef struct driver {
    int threads, jobs, failed;
} driver;

static void *drive(void *v)
{
    driver *d = v;
    nb_pool *p = NULL;
    if (nb_pool_create(d->threads, &p) != NB_OK) return d->failed = 1, NULL;
    for (int j = 0; j < d->jobs && !d->failed; j++) {
        size_t n = (size_t)(j % 37);
        record r;
        memset(&r, 0, sizeof r);
        r.n = n;
        r.threads = d->threads;
        r.runs = calloc(n + 1, sizeof *r.runs);
        r.by_worker = calloc(NB_CPU_MAX_THREADS, sizeof *r.by_worker);
        r.out = calloc(n + 1, sizeof *r.out);
        r.caller = pthread_self();
        if (!r.runs || !r.by_worker || !r.out) d->failed = 1;
        else nb_pool_for(p, n, record_task, &r);
        for (size_t t = 0; !d->failed && t < n; t++)
            if (atomic_load(&r.runs[t]) != 1 || r.out[t] != (unsigned)(t * 2654435761u + 7u))
                d->failed = 1;
        if (atomic_load(&r.bad_worker) || atomic_load(&r.overlap) || atomic_load(&r.off_caller))
            d->failed = 1;
        free(r.runs), free(r.by_worker), free(r.out);
    }
    nb_pool_free(p);
    return NULL;
}

static void test_two_pools_at_once(void **state)
{
    (void)state;
    driver d[2] = {{3, 500, 0}, {2, 700, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&t[i], NULL, drive, &d[i]), 0);
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(d[0].failed, 0);
    assert_int_equal(d[1].failed, 0);
}

/* A worker stuck in one task (as if its core were taken by another
 * process) must not keep the tasks it has not claimed: the others take
 * them. A static split would leave it half of them. */
typedef struct stall {
    _Atomic int per_worker[NB_CPU_MAX_THREADS];
    _Atomic int stalled; /* the worker id that slept, + 1 */
} stall;

static void stall_task(void *arg, size_t task, int worker)
{
    stall *s = arg;
    (void)task;
    atomic_fetch_add(&s->per_worker[worker], 1);
    int none = 0;
    if (worker != 0 && atomic_compare_exchange_strong(&s->stalled, &none, worker + 1))
        sleep_us(500000); /* 0.5 s: thousands of the other tasks */
    else
        sleep_us(200);
}

static void test_slow_worker_does_not_stall(void **state)
{
    (void)state;
    nb_pool *p = NULL;
    assert_int_equal(nb_pool_create(2, &p), NB_OK);
    stall s;
    memset(&s, 0, sizeof s);
    nb_pool_for(p, 64, stall_task, &s);
    int w0 = atomic_load(&s.per_worker[0]), w1 = atomic_load(&s.per_worker[1]);
    print_message("caller ran %d tasks, the stalled worker %d\n", w0, w1);
    assert_int_equal(w0 + w1, 64);
    /* The worker either slept in its first task (and ran no other, since
     * the caller needs 64 × 0.2 ms ≪ 0.5 s for the rest) or never woke up
     * in time to claim one. */
    assert_true(w1 <= 1);
    nb_pool_free(p);
}

static void test_create_free_cycles(void **state)
{
    (void)state;
    nb_pool *p = (nb_pool *)&p; /* must be overwritten with NULL on failure */
    assert_int_equal(nb_pool_create(0, &p), NB_ERR_ARG);
    assert_null(p);
    assert_int_equal(nb_pool_create(-3, &p), NB_ERR_ARG);
    assert_int_equal(nb_pool_create(NB_CPU_MAX_THREADS + 1, &p), NB_ERR_ARG);
    assert_non_null(strstr(nb_last_error(), "nb_pool_create"));
    assert_int_equal(nb_pool_create(2, NULL), NB_ERR_ARG);
    nb_pool_free(NULL);
    for (int c = 0; c < 200; c++) {
        int threads = 1 + c % 9;
        assert_int_equal(nb_pool_create(threads, &p), NB_OK);
        int want = base_threads + threads - 1;
        assert_int_equal(threads_settled(want), want);
        if (c % 2) run_and_check(p, (size_t)(c % 11), 0, "a job between create and free");
        nb_pool_free(p); /* half of them freed while their workers still spin */
        assert_int_equal(threads_settled(base_threads), base_threads);
    }
    /* The most threads a pool takes. */
    assert_int_equal(nb_pool_create(NB_CPU_MAX_THREADS, &p), NB_OK);
    run_and_check(p, 1000, 0, "64 threads");
    nb_pool_free(p);
    assert_int_equal(threads_settled(base_threads), base_threads);
}

/*
 * A thread that cannot start: in a child process, every thread stack is
 * made 64 MiB and the address space limited to what the process has plus
 * 100 MiB, so the first worker starts and the second cannot. The pool
 * must fail with NB_ERR_NOMEM naming that worker, and leave no thread
 * behind. (Under ASan or TSan, whose allocators need address space of
 * their own, the limit would break the sanitizer instead: skipped.)
 */
#ifndef UNDER_SANITIZER
static long vm_size_kib(void)
{
    char line[256];
    long kib = -1;
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %ld kB", &kib) == 1) break;
    if (f) fclose(f);
    return kib;
}
#endif

static void test_create_failure_cleans_up(void **state)
{
    (void)state;
#ifdef UNDER_SANITIZER
    print_message("skipped: an address-space limit breaks the sanitizer's allocator\n");
    skip();
#else
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        pthread_attr_t a;
        if (pthread_attr_init(&a) || pthread_attr_setstacksize(&a, 64u << 20) ||
            pthread_setattr_default_np(&a))
            _exit(10);
        long kib = vm_size_kib();
        if (kib < 0) _exit(11);
        struct rlimit lim;
        if (getrlimit(RLIMIT_AS, &lim)) _exit(12);
        lim.rlim_cur = (rlim_t)(kib + 100 * 1024) * 1024; /* the soft limit: it can go back up */
        if (setrlimit(RLIMIT_AS, &lim)) _exit(12);
        nb_pool *p = (nb_pool *)&p;
        nb_status st = nb_pool_create(4, &p);
        if (st != NB_ERR_NOMEM) _exit(13);
        if (p != NULL) _exit(14);
        if (!strstr(nb_last_error(), "worker 2 of 3")) _exit(15);
        if (threads_settled(1) != 1) _exit(16);
        /* Creation works again once the limit allows it. */
        lim.rlim_cur = lim.rlim_max;
        if (setrlimit(RLIMIT_AS, &lim)) _exit(17);
        if (nb_pool_create(4, &p) != NB_OK) _exit(18);
        nb_pool_free(p);
        _exit(threads_settled(1) == 1 ? 0 : 19);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) != 0) print_error("child exit %d\n", WEXITSTATUS(status));
    assert_int_equal(WEXITSTATUS(status), 0);
#endif
}

/* Workers block SIGINT and SIGTERM (they are delivered to the main
 * thread, where `nabla train` handles them); the caller's own mask is left
 * as it was. Every worker reports its mask from inside a task: each task
 * waits until all threads hold one, so each thread runs exactly one. */
typedef struct masks {
    int threads;
    _Atomic int arrived;
    _Atomic int blocked[NB_CPU_MAX_THREADS]; /* 1: both blocked, 2: not */
} masks;

static void mask_task(void *arg, size_t task, int worker)
{
    masks *m = arg;
    (void)task;
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    int both = sigismember(&cur, SIGINT) == 1 && sigismember(&cur, SIGTERM) == 1;
    atomic_store(&m->blocked[worker], both ? 1 : 2);
    atomic_fetch_add(&m->arrived, 1);
    for (int i = 0; i < 100000 && atomic_load(&m->arrived) < m->threads; i++) sleep_us(100);
}

static volatile sig_atomic_t got_signal;
static pthread_t handled_on;
static void on_term(int sig)
{
    got_signal = sig;
    handled_on = pthread_self();
}

static void test_workers_block_signals(void **state)
{
    (void)state;
    sigset_t before, after;
    pthread_sigmask(SIG_BLOCK, NULL, &before);
    nb_pool *p = NULL;
    assert_int_equal(nb_pool_create(4, &p), NB_OK);
    pthread_sigmask(SIG_BLOCK, NULL, &after);
    assert_int_equal(sigismember(&after, SIGINT), sigismember(&before, SIGINT));
    assert_int_equal(sigismember(&after, SIGTERM), sigismember(&before, SIGTERM));
    masks m;
    memset(&m, 0, sizeof m);
    m.threads = 4;
    nb_pool_for(p, 4, mask_task, &m);
    assert_int_equal(atomic_load(&m.blocked[0]), sigismember(&before, SIGINT) ? 1 : 2);
    for (int w = 1; w < 4; w++) {
        if (atomic_load(&m.blocked[w]) != 1) print_error("worker %d does not block SIGINT/SIGTERM\n", w);
        assert_int_equal(atomic_load(&m.blocked[w]), 1);
    }
    /* A SIGTERM from another process while the workers sleep: handled on
     * this thread, the only one that takes it. */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGTERM, &sa, &old), 0);
    got_signal = 0;
    pid_t parent = getpid(), pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(kill(parent, SIGTERM) == 0 ? 0 : 1);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) continue;
    for (int i = 0; i < 10000 && !got_signal; i++) sleep_us(100);
    assert_int_equal(got_signal, SIGTERM);
    assert_true(pthread_equal(handled_on, pthread_self()));
    sigaction(SIGTERM, &old, NULL);
    nb_pool_free(p);
}

/* ------------------------------------------------ default thread count */

/* The threads of a cpu backend made with NABLA_THREADS set to v (NULL:
 * unset), mapped onto its options as the nabla command does. */
static int default_with(const char *v)
{
    if (v) setenv("NABLA_THREADS", v, 1);
    else unsetenv("NABLA_THREADS");
    nb_backend *be = NULL;
    assert_int_equal(nb_cli_backend_create("cpu", &be), NB_OK);
    int n = nb_backend_threads(be);
    nb_backend_free(be);
    unsetenv("NABLA_THREADS");
    if (!v) assert_int_equal(n, nb_cpu_default_threads()); /* unset: the automatic count */
    return n;
}

static void test_nabla_threads(void **state)
{
    (void)state;
    int automatic = default_with(NULL);
    assert_true(automatic >= 1 && automatic <= NB_CPU_MAX_THREADS);
    assert_int_equal(default_with("3"), 3);
    assert_int_equal(default_with("1"), 1);
    assert_int_equal(default_with("64"), 64);
    assert_int_equal(default_with("65"), NB_CPU_MAX_THREADS);
    assert_int_equal(default_with("99999999999999999999999"), NB_CPU_MAX_THREADS);
    /* Not a count: ignored, the automatic count applies. */
    static const char *const ignored[] = {"", "0", "-2", "abc", "3x", " 3", "+3", "2.5"};
    for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++) {
        int got = default_with(ignored[i]);
        if (got != automatic) print_error("NABLA_THREADS='%s': %d threads\n", ignored[i], got);
        assert_int_equal(got, automatic);
    }
}

/* The automatic count is at most the CPUs in the affinity mask; narrowed
 * to one CPU (in a child, so this process keeps its CPUs) it is 1, and
 * NABLA_THREADS still wins over the mask. */
static void test_affinity_mask(void **state)
{
    (void)state;
    cpu_set_t set;
    CPU_ZERO(&set);
    assert_int_equal(sched_getaffinity(0, sizeof set, &set), 0);
    int allowed = CPU_COUNT(&set), automatic = default_with(NULL);
    print_message("%d CPUs allowed, default %d threads, cgroup quota %d CPUs (0: none)\n", allowed,
                  automatic, nb_cgroup_cpu_limit(""));
    assert_true(automatic >= 1 && automatic <= allowed);
    int quota = nb_cgroup_cpu_limit("");
    int want = quota > 0 && quota < allowed ? quota : allowed;
    assert_int_equal(automatic, want > NB_CPU_MAX_THREADS ? NB_CPU_MAX_THREADS : want);
    int first = -1;
    for (int c = 0; c < CPU_SETSIZE && first < 0; c++)
        if (CPU_ISSET(c, &set)) first = c;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(first, &one);
        if (sched_setaffinity(0, sizeof one, &one)) _exit(10);
        if (default_with(NULL) != 1) _exit(11);
        if (default_with("5") != 5) _exit(12);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* ------------------------------------------------------- cgroup quotas */

static char root[256];

/* Write root/rel (making its directories); text may be NULL for a
 * directory alone. */
static void put(const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *s = strchr(path + strlen(root) + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) fail_msg("mkdir %s: %s", path, strerror(errno));
        *s = '/';
    }
    if (!text) {
        if (mkdir(path, 0755) != 0 && errno != EEXIST) fail_msg("mkdir %s", path);
        return;
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void new_root(void)
{
    const char *t = getenv("TMPDIR");
    if (root[0]) nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    snprintf(root, sizeof root, "%s/nabla-cgroup-XXXXXX", t && *t ? t : "/tmp");
    assert_non_null(mkdtemp(root));
}

static const char v2_mounts[] =
    "24 1 0:22 / / rw - ext4 /dev/vda rw\n"
    "30 24 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";

static void test_cgroup_v2(void **state)
{
    (void)state;
    new_root();
    assert_int_equal(nb_cgroup_cpu_limit(root), 0); /* no files at all */
    put("proc/self/mountinfo", v2_mounts);
    put("proc/self/cgroup", "0::/ci.slice/job-7\n");
    put("sys/fs/cgroup/ci.slice/job-7", NULL);
    assert_int_equal(nb_cgroup_cpu_limit(root), 0); /* no cpu.max: no limit */
    put("sys/fs/cgroup/ci.slice/job-7/cpu.max", "max 100000\n");
    assert_int_equal(nb_cgroup_cpu_limit(root), 0);
    put("sys/fs/cgroup/ci.slice/job-7/cpu.max", "150000 100000\n");
    assert_int_equal(nb_cgroup_cpu_limit(root), 2); /* 1.5 CPUs, rounded up */
    put("sys/fs/cgroup/ci.slice/job-7/cpu.max", "200000 100000\n");
    assert_int_equal(nb_cgroup_cpu_limit(root), 2);
    put("sys/fs/cgroup/ci.slice/job-7/cpu.max", "50000 100000\n");
    assert_int_equal(nb_cgroup_cpu_limit(root), 1);
    /* A parent's tighter quota binds the child. */
    put("sys/fs/cgroup/ci.slice/job-7/cpu.max", "400000 100000\n");
    put("sys/fs/cgroup/ci.slice/cpu.max", "300000 100000\n");
    assert_int_equal(nb_cgroup_cpu_limit(root), 3);
    /* Nonsense is no limit, never a crash or a zero. */
    static const char *const bad[] = {"", "max", "0 100000", "100000 0", "-1 100000", "x 1",
                                      "100000", "1e5 100000", "100000 100000x",
                                      "9999999999999999999999 100000"};
    put("sys/fs/cgroup/ci.slice/cpu.max", "max 100000\n");
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        put("sys/fs/cgroup/ci.slice/job-7/cpu.max", bad[i]);
        if (nb_cgroup_cpu_limit(root) != 0) print_error("cpu.max '%s'\n", bad[i]);
        assert_int_equal(nb_cgroup_cpu_limit(root), 0);
    }
    /* The whole-host quota of a huge machine stays an int. */
    put("sys/fs/cgroup/ci.slice/job-7/cpu.max", "1000000000000000 1\n");
    assert_int_equal(nb_cgroup_cpu_limit(root), 2147483647);
}

/* A cgroup namespace or container mounts a subtree: the mount's root
 * (field 4) is cut off the process's cgroup path; a mount point with a
 * space comes escaped as \040. */
static void test_cgroup_v2_subtree(void **state)
{
    (void)state;
    new_root();
    put("proc/self/mountinfo", "30 24 0:26 /kube/pod1 /sys/fs/my\\040cgroup rw - cgroup2 none rw\n");
    put("proc/self/cgroup", "0::/kube/pod1/app\n");
    put("sys/fs/my cgroup/app/cpu.max", "250000 100000\n");
    assert_int_equal(nb_cgroup_cpu_limit(root), 3);
    /* A cgroup outside the mounted subtree is not read. */
    put("proc/self/cgroup", "0::/other/app\n");
    assert_int_equal(nb_cgroup_cpu_limit(root), 0);
    put("proc/self/cgroup", "0::/kube/pod1/../../etc\n");
    assert_int_equal(nb_cgroup_cpu_limit(root), 0);
}

static void test_cgroup_v1(void **state)
{
    (void)state;
    new_root();
    put("proc/self/mountinfo",
        "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
        "32 31 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        "33 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw shared:9 - cgroup cgroup rw,cpu,cpuacct\n");
    put("proc/self/cgroup", "4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n1:name=systemd:/\n");
    put("sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "-1\n");
    put("sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
    assert_int_equal(nb_cgroup_cpu_limit(root), 0);
    put("sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "250000\n");
    assert_int_equal(nb_cgroup_cpu_limit(root), 3);
    put("sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "50000\n");
    assert_int_equal(nb_cgroup_cpu_limit(root), 5);
    /* The memory controller's files are not the cpu's. */
    put("sys/fs/cgroup/memory/docker/abc/cpu.cfs_quota_us", "100000\n");
    put("sys/fs/cgroup/memory/docker/abc/cpu.cfs_period_us", "100000\n");
    assert_int_equal(nb_cgroup_cpu_limit(root), 5);
    /* Both hierarchies (a hybrid system): the tighter one. */
    put("proc/self/mountinfo",
        "33 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n");
    put("proc/self/cgroup", "2:cpu,cpuacct:/docker/abc\n0::/docker/abc\n");
    put("sys/fs/cgroup/unified/docker/abc/cpu.max", "300000 100000\n");
    assert_int_equal(nb_cgroup_cpu_limit(root), 3);
    /* This machine's own files: whatever they say, a count or none. */
    assert_true(nb_cgroup_cpu_limit("") >= 0);
}

static int cleanup(void **state)
{
    (void)state;
    if (root[0]) nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    /* A first pool, so that a sanitizer's own thread (ThreadSanitizer
     * starts one with the first thread) is in the base count. */
    nb_pool *p = NULL;
    if (nb_pool_create(2, &p) != NB_OK) return -1;
    nb_pool_free(p);
    sleep_us(100000); /* its workers off the count (see threads_settled) */
    base_threads = thread_count();
    return base_threads >= 1 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_task_once),
        cmocka_unit_test(test_caller_alone),
        cmocka_unit_test(test_back_to_back),
        cmocka_unit_test(test_two_pools_at_once),
        cmocka_unit_test(test_slow_worker_does_not_stall),
        cmocka_unit_test(test_create_free_cycles),
        cmocka_unit_test(test_create_failure_cleans_up),
        cmocka_unit_test(test_workers_block_signals),
        cmocka_unit_test(test_nabla_threads),
        cmocka_unit_test(test_affinity_mask),
        cmocka_unit_test(test_cgroup_v2),
        cmocka_unit_test(test_cgroup_v2_subtree),
        cmocka_unit_test(test_cgroup_v1),
    };
    return cmocka_run_group_tests(tests, setup, cleanup);
}
