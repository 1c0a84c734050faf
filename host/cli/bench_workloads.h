/*
 * bench_workloads.h — the workloads of bench/README.md, defined once:
 * `nabla bench` runs them, and the benchmarks under bench/ (GEMM shapes,
 * GEMM-only bounds) build bench_workloads.c too, so both time the same
 * shapes. Plain data; nothing here needs the library.
 */
#ifndef NB_CLI_BENCH_WORKLOADS_H
#define NB_CLI_BENCH_WORKLOADS_H

#include <stddef.h>

typedef struct nb_bench_workload {
    const char *id;     /* "W1" … "W4", as bench/README.md numbers them     */
    const char *name;   /* "mnist", …, as `nabla bench --workload` names them */
    int widths[8];      /* input, hidden…, output                           */
    int n_widths;
    size_t n;           /* rows of synthetic data                           */
    size_t batch;       /* rows per step; 0: full batch, all n rows         */
    long iters;         /* one repetition: this many updates, or …          */
    long epochs;        /* … this many passes over the data                 */
} nb_bench_workload;

enum { NB_BENCH_N_WORKLOADS = 4 };
extern const nb_bench_workload nb_bench_workloads[NB_BENCH_N_WORKLOADS];

/* Rows of one step of w: its batch, or all of its rows in full batch. */
static inline size_t nb_bench_step_rows(const nb_bench_workload *w)
{
    return w->batch ? w->batch : w->n;
}

#endif
