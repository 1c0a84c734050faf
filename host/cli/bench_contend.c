/*
 * bench_contend.c — `nabla bench --contention N`: the cpu backend on a
 * shared machine.
 *
 * N busy processes of our own (forked children, each a tight loop at
 * normal priority) run beside every measurement, as a CI job's neighbours
 * would. Each workload is measured on the cpu backend at its default
 * thread count and at one thread, and the ratio of the two says what the
 * threads are worth under that load: below 1, they cost more than they
 * bring (waiting for a thread whose core is taken).
 *
 * The children must never outlive the measurement: they are killed and
 * reaped when the runs end and on every error path; a handler does the
 * same on SIGINT and SIGTERM and then lets the signal end nabla as it
 * would have; and on Linux each child also dies with nabla if nabla is
 * killed outright (PR_SET_PDEATHSIG).
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "cli/bench.h"
#include "cpu/cpu_pool.h"

static pid_t busy[NB_BENCH_MAX_CONTENTION];
/* Read by the signal handler: how many of busy[] are live children. */
static volatile sig_atomic_t n_busy;
static struct sigaction old_int, old_term;
static int handlers_set;

/* Kill and reap every child; async-signal-safe (kill, waitpid). */
static void kill_busy(void)
{
    int n = n_busy;
    for (int i = 0; i < n; i++) kill(busy[i], SIGKILL);
    for (int i = 0; i < n; i++)
        while (waitpid(busy[i], NULL, 0) < 0 && errno == EINTR) continue;
    n_busy = 0;
}

/* SIGINT/SIGTERM: stop the children, then end as the signal would have
 * (SA_RESETHAND put back the default action; the signal raised here is
 * delivered when the handler returns). */
static void on_signal(int sig)
{
    int saved = errno;
    kill_busy();
    raise(sig);
    errno = saved;
}

static void busy_child(pid_t parent)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
#ifdef __linux__
    /* Die with the parent; it may already be gone by now. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(0);
#else
    (void)parent;
#endif
    for (volatile unsigned long x = 0;; x++) continue;
}

int nb_bench_busy_start(int n)
{
    if (n < 1 || n > NB_BENCH_MAX_CONTENTION) return -1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    handlers_set = 1;
    fflush(NULL); /* nothing buffered is copied into the children */
    pid_t parent = getpid();
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "nabla bench: --contention: cannot start busy process %d of %d: %s\n",
                    i + 1, n, strerror(errno));
            nb_bench_busy_stop();
            return -1;
        }
        if (pid == 0) busy_child(parent);
        busy[i] = pid;
        n_busy = i + 1;
    }
    return 0;
}

void nb_bench_busy_stop(void)
{
    kill_busy();
    if (handlers_set) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        handlers_set = 0;
    }
}

int nb_bench_measure_threads(const nb_bench_spec *s, const nb_dataset *d, int one_thread,
                             const float *ref0, const float *ref, size_t n_ref,
                             const nb_bench_config *c, nb_bench_result *r)
{
    /* The one thread run asks the backend for one thread; the other takes
     * what the user set (NABLA_THREADS) or the automatic count. */
    nb_bench_config one = *c;
    if (one_thread) one.threads = 1;
    int code = nb_bench_measure(s, d, "cpu", ref0, ref, n_ref, &one, r);
    snprintf(r->label, sizeof r->label, "cpu %d thr", r->threads);
    return code;
}

static int measured(const nb_bench_result *r)
{
    return !r->error[0] && r->check_ok == 1 && r->reps > 0;
}

double nb_bench_contention_ratio(const nb_bench_result *r)
{
    if (!measured(&r[0]) || !measured(&r[1])) return NAN;
    return r[0].samples_per_s.median / r[1].samples_per_s.median;
}

void nb_bench_print_contention(FILE *f, const nb_bench_result *r, int n, const nb_bench_config *c)
{
    fprintf(f, "contention: %d busy process%s beside every run; samples/s medians, the cpu at its "
               "default threads and at 1:\n",
            c->contention, c->contention == 1 ? "" : "es");
    for (int i = 0; i + 1 < n; i += 2) {
        double ratio = nb_bench_contention_ratio(&r[i]);
        fprintf(f, "  %-9s ", r[i].spec->name);
        if (isnan(ratio)) {
            fprintf(f, "no ratio: a run failed (see its row)\n");
            continue;
        }
        fprintf(f, "%d thread%s %.0f, 1 thread %.0f: ratio %.2f\n", r[i].threads,
                r[i].threads == 1 ? "" : "s", r[i].samples_per_s.median,
                r[i + 1].samples_per_s.median, ratio);
    }
}
