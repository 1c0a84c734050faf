/*
 * bench.h — `nabla bench` (private to the tool): a workload as a run of
 * it is specified (the built-in ones are in bench_workloads.c), what one
 * measurement of a workload on a device produces, and the functions that
 * run, print and record it.
 *
 * cmd_bench.c parses the flags and loops over workloads × devices,
 * bench_run.c measures one pair, bench_report.c prints the table and writes
 * the JSON, bench_cross.c sweeps batch sizes (or widths) for the point where
 * OpenCL overtakes the cpu backend, bench_contend.c runs the cpu backend
 * beside busy processes of its own (--contention).
 */
#ifndef NB_CLI_BENCH_H
#define NB_CLI_BENCH_H

#include <stdint.h>
#include <stdio.h>

#include "nabla.h"

enum { NB_BENCH_MAX_WIDTHS = 33, NB_BENCH_MAX_CONTENTION = 256 };

/* Fixed by the method: SGD with this step size, sigmoid everywhere, MSE. */
#define NB_BENCH_LR 0.1
/* Divergence (NaN) checks every this many mini-batch updates, so they
 * cost nothing measurable; the loss-growth check is off. */
#define NB_BENCH_CHECK_EVERY 1000
/* Correctness: |got − want| ≤ ATOL + RTOL·|want| after CHECK_STEPS updates
 * (see bench_run.c for why these numbers). */
#define NB_BENCH_CHECK_STEPS 3
#define NB_BENCH_ATOL 1e-6
#define NB_BENCH_RTOL 1e-5

/* One workload: architecture, data size, and the steps of one repetition. */
typedef struct nb_bench_spec {
    char name[16];                   /* "mnist", "wide", …, or "custom"       */
    int widths[NB_BENCH_MAX_WIDTHS]; /* input, hidden…, output                */
    int n_widths;
    size_t n;                        /* rows of synthetic data                */
    size_t batch;                    /* rows per step; 0: full batch (= n)    */
    long iters;                      /* updates per repetition, or 0 …        */
    long epochs;                     /* … passes per repetition               */
    int steps_fixed;                 /* the user set iters/epochs: never cut  */
} nb_bench_spec;

/* FLOPs per sample of one SGD step (bench/README.md), and its parts. */
double nb_bench_flops_per_sample(const int *widths, int n_widths, double *P, double *P1);
/* Updates in one repetition of s, and the rows they touch. */
long nb_bench_nominal_steps(const nb_bench_spec *s);
double nb_bench_samples(const nb_bench_spec *s, long steps);
/* "784-512-512-10" into buf. */
const char *nb_bench_layers_str(const nb_bench_spec *s, char *buf, size_t n);

/* Synthetic seeded data for s: inputs uniform [0,1), uniform class labels. */
nb_status nb_bench_dataset(const int *widths, int n_widths, size_t rows, uint64_t seed,
                           nb_dataset **out);
/* Options for `steps` updates of s (or the nominal repetition if 0). */
void nb_bench_train_options(const nb_bench_spec *s, long steps, uint64_t seed,
                            nb_train_options *o);

typedef struct nb_bench_stat {
    double median, min, max;
} nb_bench_stat;

/* Everything measured for one workload on one device. */
typedef struct nb_bench_result {
    const nb_bench_spec *spec;
    char device[32];        /* "cpu", "opencl:0.0"                            */
    char label[32];         /* the table's name for it when not the device's  */
    int threads;            /* cpu: the backend's threads; 0 on OpenCL        */
    char device_name[160];  /* nb_backend_name                                */
    char driver[64];        /* OpenCL driver version; "" for cpu              */
    char error[512];        /* why nothing was measured; "" when it ran       */
    /* correctness against the cpu backend */
    int check_ok;           /* 1 agreed, 0 mismatch, -1 not run (error)       */
    double worst_abs, worst_rel, worst_ratio; /* ratio: |d| / tolerance       */
    size_t worst_index;
    double worst_got, worst_want;
    double max_update;      /* max |θ3 − θ0|: the check compared real moves   */
    /* timing */
    long nominal_steps, steps_per_rep;
    double samples_per_rep;
    int reps;
    double rep_seconds[1000];
    nb_bench_stat samples_per_s, steps_per_s, gflops;
    double flops_per_sample;
    /* from one extra, profiled repetition, per step (seconds) */
    double t_kernels, t_transfers, t_host;
    double profiled_seconds;   /* its wall time                               */
    double profile_overhead;   /* its time per step / the median's, minus 1   */
    double bytes_per_step, bytes_per_step_steady; /* steady: without the upload */
    double launches_per_step;  /* kernels per update after the first; NaN: cpu */
    double build_cold_ms, build_cached_ms;        /* NaN for cpu              */
    double peak_rss_mib;
    int rss_per_result;     /* 1: the peak was reset before this result       */
} nb_bench_result;

/* How a measurement runs. */
typedef struct nb_bench_config {
    int reps;
    double max_rep_seconds; /* cut the steps of a repetition to fit           */
    uint64_t seed;
    FILE *out;              /* table and notes                                */
    int progress;           /* one line per phase on stderr                   */
    int print_profile;      /* --profile: each profiled repetition's per-op table */
    int contention;         /* --contention: busy processes beside the runs;
                             * results then come in pairs per workload: the
                             * cpu at its default threads, then at one    */
    int threads;            /* > 0: the cpu backend's threads instead of
                             * NABLA_THREADS or the automatic count       */
} nb_bench_config;

/* Parameters after NB_BENCH_CHECK_STEPS updates on the cpu backend. */
nb_status nb_bench_reference(const nb_bench_spec *s, const nb_dataset *d, uint64_t seed,
                             float **theta0, float **theta, size_t *n);
/* Measure s on device (a --device value) into r. Returns 0, or the exit
 * status of a device that could not be opened (r->error says why). */
int nb_bench_measure(const nb_bench_spec *s, const nb_dataset *d, const char *device,
                     const float *ref0, const float *ref, size_t n_ref, const nb_bench_config *c,
                     nb_bench_result *r);

/* Output (bench_report.c): the FLOP count of a workload, the table's
 * header and one row per result, and the notes under the table. */
void nb_bench_print_napkin(FILE *f, const nb_bench_spec *s);
void nb_bench_print_header(FILE *f);
void nb_bench_print_row(FILE *f, const nb_bench_result *r);
void nb_bench_print_notes(FILE *f, const nb_bench_result *r, int n, const nb_bench_config *c);

/* The crossover sweep's points, for the JSON. */
typedef struct nb_bench_cross_point {
    int x;                   /* batch, or hidden width                        */
    double cpu, opencl;      /* samples/s, median of 3; NaN when failed       */
} nb_bench_cross_point;

typedef struct nb_bench_cross {
    int width_sweep;         /* 0: batch sweep, 1: width sweep                */
    int widths[NB_BENCH_MAX_WIDTHS], n_widths;
    size_t batch, n;
    char opencl[160];        /* the OpenCL device's name; "" when none        */
    nb_bench_cross_point pts[32];
    int n_pts;
    int first_faster;        /* x where OpenCL first wins; 0: never           */
} nb_bench_cross;

/* JSON document: results and/or a crossover sweep (either may be NULL). */
int nb_bench_write_json(const char *path, const nb_bench_config *c, const nb_bench_result *r,
                        int n, const nb_bench_cross *x);

/* Run the crossover sweep; returns the exit status. */
int nb_bench_crossover(nb_bench_cross *x, const char *opencl_device, const nb_bench_config *c);

/* --contention (bench_contend.c). Start n busy processes (forked children,
 * each a tight loop at normal priority) and stop them on SIGINT/SIGTERM
 * too: 0, or -1 after printing why (none is left running then). */
int nb_bench_busy_start(int n);
/* Stop and reap them (also when none were started). */
void nb_bench_busy_stop(void);
/* Measure s on the cpu backend at its default thread count, or at one
 * thread when one_thread (as nb_bench_measure; labels the row). */
int nb_bench_measure_threads(const nb_bench_spec *s, const nb_dataset *d, int one_thread,
                             const float *ref0, const float *ref, size_t n_ref,
                             const nb_bench_config *c, nb_bench_result *r);
/* The summary under the table: per workload, both figures and their ratio. */
void nb_bench_print_contention(FILE *f, const nb_bench_result *r, int n, const nb_bench_config *c);
/* Default ÷ one thread for the pair at r (r[0] default, r[1] one thread):
 * samples/s medians; NaN when either did not run. */
double nb_bench_contention_ratio(const nb_bench_result *r);

#endif
