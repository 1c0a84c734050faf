/*
 * bench_util.h — what the GEMM benchmarks (bench_gemm, bench_gemm_bound)
 * share: the workloads of bench/README.md (host/cli/bench_workloads.c) as
 * lists of GEMM shapes, seeded test data, the correctness check against a
 * double-precision reference, and median/min/max statistics.
 *
 * Not part of nabla: nothing in the library or the CLI includes this.
 */
#ifndef NB_BENCH_UTIL_H
#define NB_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/bench_workloads.h"

/* One GEMM of the row-major form C (M, N) = op(A) (M, K) · op(B) (K, N),
 * the same convention as nb_be_gemm: A is stored (M, K), or (K, M) when ta;
 * B is stored (K, N), or (N, K) when tb. */
typedef struct bench_shape {
    char what[40]; /* "W1 L2 fwd", "square 1024", … */
    bool ta, tb;
    size_t M, N, K;
} bench_shape;

/* The workloads of bench/README.md: the one table `nabla bench` uses too
 * (host/cli/bench_workloads.c, built into these benchmarks as well). */
typedef nb_bench_workload bench_workload;

/* The GEMMs of one training step of w (nb_bench_step_rows rows), in the
 * order nabla's pass runs them (host/pass.c): forward Y_l = X_l · A_lᵀ (nt)
 * for each layer, then backward from the last layer: ∇A_l = D_lᵀ · X_l (tn)
 * and, except for the first layer, D_{l-1} = D_l · A_l (nn). Writes at most
 * cap shapes; returns the count. */
int bench_step_shapes(const bench_workload *w, bench_shape *out, int cap);
/* "784-512-512-10" into buf. */
const char *bench_layers_str(const bench_workload *w, char *buf, size_t n);
/* 2·M·N·K. */
double bench_flops(const bench_shape *s);
/* Stored sizes of A, B and C in floats. */
size_t bench_a_floats(const bench_shape *s);
size_t bench_b_floats(const bench_shape *s);
size_t bench_c_floats(const bench_shape *s);

/* Fill x (n) with uniform values in [-1, 1) from a seeded stream. Signed
 * data makes the check meaningful: sums cancel, so a wrong term shows. */
void bench_fill(float *x, size_t n, uint64_t seed);
/* Malloc'd, 64-byte aligned; free with free(). NULL on failure. */
float *bench_alloc(size_t n);

/* The expected result of one GEMM, from the double-precision reference.
 * Small problems are checked in full with ref_gemm (host/cpu/ref.c);
 * above BENCH_FULL_CHECK_MACS multiply-adds a seeded sample of entries
 * (always including the four corners) is computed as double dot products,
 * which is ref_gemm's own definition evaluated only where needed. */
#define BENCH_FULL_CHECK_MACS ((double)(1u << 27))
#define BENCH_SAMPLE 2048
typedef struct bench_expect {
    size_t count;      /* entries checked                           */
    size_t *index;     /* (count) row-major index into C            */
    double *want;      /* (count) the reference value               */
    double *tol;       /* (count) allowed |got − want|              */
    int full;          /* 1: every entry, via ref_gemm              */
} bench_expect;

/* Build the expectation for s from the operands A and B (alpha 1, beta 0).
 * Returns 0, or -1 when memory ran out. */
int bench_expect_make(const bench_shape *s, const float *A, const float *B, bench_expect *e);
void bench_expect_free(bench_expect *e);

/* Compare got (the whole C) against e. Returns 1 when every checked entry
 * is within its tolerance, else 0 and a one-line description of the worst
 * entry in why. *worst_ratio (may be NULL) gets max |got − want| / tol. */
int bench_expect_check(const bench_shape *s, const bench_expect *e, const float *got,
                       double *worst_ratio, char *why, size_t why_n);

/* Median, min and max of n samples (n ≥ 1); sorts x in place. */
typedef struct bench_stat {
    double median, min, max;
} bench_stat;
bench_stat bench_stats(double *x, int n);

/* Seconds on a monotonic clock. */
double bench_now(void);

/* The value of an environment variable for the report, or "(unset)". */
const char *bench_env(const char *name);
/* Print the OpenBLAS environment rule's line: which of OPENBLAS_CORETYPE
 * and OPENBLAS_L2_SIZE this process sees. */
void bench_print_openblas_env(FILE *f);

/* Parse "1,2" into at most cap positive ints; returns the count, or -1. */
int bench_parse_ints(const char *s, int *out, int cap);

#endif
