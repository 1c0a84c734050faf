/*
 * pool.c — bench_pool: what the cpu backend's thread pool costs per job,
 * for each length of the spin its idle threads do before they sleep.
 *
 * A training step is a chain of small jobs: a dozen GEMMs per batch, with
 * single-threaded element-wise work between some of them. This times that
 * shape: jobs of T tasks, each task W µs of work, with G µs of work on the
 * caller alone between jobs, for about 0.3 s per cell. Per job it reports
 * the wall time (the ideal is G + ⌈T / threads⌉·W) and the CPU time the
 * whole process burnt (the spinning shows there). With --busy N, N
 * processes of our own spin beside it, as on a shared machine.
 *
 * Usage: bench_pool [--threads N] [--busy N] [--tasks T] [--work-us W]
 *                   [--gaps 2,20,100] [--spins 0,1000,2000,5000,20000,50000]
 * Spins are in ns; work is spinning on the clock, so it takes its time
 * whatever the core is doing.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cpu/cpu_pool.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_seconds(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + 1e-6 * (double)u.ru_utime.tv_usec +
           (double)u.ru_stime.tv_sec + 1e-6 * (double)u.ru_stime.tv_usec;
}

/* Busy for `us` µs of wall time. */
static void work(double us)
{
    double end = now() + us * 1e-6;
    while (now() < end) continue;
}

static void task(void *arg, size_t t, int worker)
{
    (void)t, (void)worker;
    work(*(const double *)arg);
}

/* Comma-separated numbers into v (at most n); their count. */
static int list(const char *s, double *v, int n)
{
    int k = 0;
    for (char *end; *s && k < n; s = *end ? end + 1 : end) {
        v[k++] = strtod(s, &end);
        if (end == s) break;
    }
    return k;
}

int main(int argc, char **argv)
{
    int threads = nb_cpu_default_threads(), busy = 0;
    double tasks = 2, work_us = 2, gaps[8] = {2, 20, 100}, spins[16] = {0, 1000, 2000, 5000, 20000, 50000};
    int n_gaps = 3, n_spins = 6;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--busy")) busy = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--tasks")) tasks = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--work-us")) work_us = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--gaps")) n_gaps = list(argv[i + 1], gaps, 8);
        else if (!strcmp(argv[i], "--spins")) n_spins = list(argv[i + 1], spins, 16);
        else return fprintf(stderr, "bench_pool: unknown option %s\n", argv[i]), 2;
    }
    if (busy < 0 || busy > 64 || tasks < 1) return fprintf(stderr, "bench_pool: bad --busy/--tasks\n"), 2;
    pid_t kids[64];
    fflush(NULL);
    for (int i = 0; i < busy; i++) {
        kids[i] = fork();
        if (kids[i] == 0)
            for (volatile unsigned long x = 0;; x++) continue;
    }
    nb_pool *p = NULL;
    if (nb_pool_create(threads, &p) != NB_OK) return fprintf(stderr, "%s\n", nb_last_error()), 1;
    printf("%d threads, %d busy processes beside; jobs of %.0f tasks x %.1f us, a gap of G us on the "
           "caller between jobs\n",
           threads, busy, tasks, work_us);
    printf("%8s %10s %14s %14s\n", "gap us", "spin ns", "wall us/job", "cpu us/job");
    for (int g = 0; g < n_gaps; g++) {
        for (int s = 0; s < n_spins; s++) {
            nb_pool_set_spin_ns(p, (long)spins[s]);
            for (int i = 0; i < 200; i++) nb_pool_for(p, (size_t)tasks, task, &work_us); /* warm */
            long jobs = 0;
            double t0 = now(), c0 = cpu_seconds();
            while (now() - t0 < 0.3) {
                nb_pool_for(p, (size_t)tasks, task, &work_us);
                work(gaps[g]);
                jobs++;
            }
            double wall = now() - t0, cpu = cpu_seconds() - c0;
            printf("%8.0f %10.0f %14.2f %14.2f\n", gaps[g], spins[s], 1e6 * wall / (double)jobs,
                   1e6 * cpu / (double)jobs);
            fflush(stdout);
        }
    }
    nb_pool_free(p);
    for (int i = 0; i < busy; i++) kill(kids[i], SIGKILL);
    for (int i = 0; i < busy; i++) waitpid(kids[i], NULL, 0);
    return 0;
}
