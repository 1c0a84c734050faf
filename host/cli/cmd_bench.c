/*
 * cmd_bench.c — `nabla bench`: time the workloads of bench/README.md
 * on every device in one run, so ratios between devices come from the
 * same minutes on the same machine.
 *
 * This file holds the flags and the loop over workloads × devices (the
 * workloads are bench_workloads.c's, shared with bench/); bench_run.c
 * measures, bench_report.c prints and writes JSON, bench_cross.c does
 * --crossover, bench_contend.c the busy processes of --contention. Peers (PyTorch, OpenBLAS,
 * CLBlast) are not run here: they belong in bench/.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/backend_opts.h"
#include "cli/bench.h"
#include "cli/bench_workloads.h"
#include "cli/commands.h"
#include "cpu/cpu_pool.h"
#include "nabla.h"

static const char bench_help[] =
    "usage: nabla bench [options]\n"
    "\n"
    "Time the benchmark workloads on every device in one run and print one\n"
    "table: samples/s, updates/s and GFLOP/s (median, min-max of the\n"
    "repetitions), the time per update split into kernels, transfers and\n"
    "host, bytes moved per update, OpenCL kernel launches per update,\n"
    "program build time (cold and cached),\n"
    "peak RSS, and the correctness check against the cpu backend.\n"
    "\n"
    "Workloads (synthetic data: inputs uniform in [0,1), one-hot targets of\n"
    "uniformly drawn classes; MSE; sigmoid on every layer; plain SGD, lr 0.1)\n"
    "  mnist       N 60000, 784-512-512-10, batch 256, 1 epoch per repetition\n"
    "  wide        N 16384, 1024-2048-2048-2048-10, batch 512, 1 epoch\n"
    "  fullbatch   N 10000, 64-256-10, full batch, 200 iterations\n"
    "  tiny        N 4, 2-8-1, batch 4 (full), 10000 iterations\n"
    "\n"
    "Options\n"
    "  --workload W        mnist|wide|fullbatch|tiny|all (default all)\n"
    "  --device D          auto|cpu|opencl|opencl:P.D|all (default all: cpu and\n"
    "                      every OpenCL device 'nabla devices' lists)\n"
    "  --layers W0,W1,...  a custom workload of this shape instead (default\n"
    "                      N 1024, batch 32, 1 epoch)\n"
    "  --batch B|full      rows per update, for every selected workload\n"
    "  --n N               rows of data\n"
    "  --iters N           updates per repetition, or ...\n"
    "  --epochs N          ... passes over the data per repetition\n"
    "  --reps N            timed repetitions, at least 5 (default 5)\n"
    "  --max-rep-seconds S cut a built-in workload's repetition to fewer\n"
    "                      updates when it would take longer (default 6);\n"
    "                      the output and the JSON say so. --iters/--epochs\n"
    "                      are never cut.\n"
    "  --seed S            data and initialisation seed (default 1)\n"
    "  --json FILE         write the results as JSON (- for stdout; the table\n"
    "                      then goes to stderr)\n"
    "  --profile           also print the per-op profile (calls, time, GFLOP/s or\n"
    "                      GB/s) of each profiled repetition, before its row\n"
    "  --crossover         instead: sweep batch 1, 2, 4 ... 4096 on the cpu and\n"
    "                      the first OpenCL device (or --device opencl:P.D) for\n"
    "                      784-512-512-10 or --layers, N 8192 or --n, and report\n"
    "                      where OpenCL gets faster\n"
    "  --sweep-width       with --crossover: sweep the hidden width 32 ... 2048\n"
    "                      at --batch (default 256) instead\n"
    "  --contention N      instead: start N busy processes (1 ... 256, each a\n"
    "                      tight loop at normal priority), time the workloads on\n"
    "                      the cpu at its default thread count and at 1 thread\n"
    "                      beside them, stop them, and report both figures and\n"
    "                      their ratio (default / 1 thread)\n"
    "  -h, --help          this help\n"
    "\n"
    "Method (bench/README.md). For each workload and device: train 3\n"
    "updates from the same seed on the device and on the cpu backend and\n"
    "compare the parameters (|d| <= 1e-6 + 1e-5*|cpu|), printing the mismatch\n"
    "instead of numbers when they differ; warm up (two short runs); then time\n"
    "the repetitions, each one nb_train call on the same model and data, so\n"
    "the upload of the dataset is part of its wall time (profiled as 'write').\n"
    "FLOPs per sample = 2P (forward) + 2P (weight gradient) + 2(P - P1)\n"
    "(input gradient), P the weights, P1 those of layer 1; biases and\n"
    "element-wise work are not counted.\n"
    "To keep the loop free of checks, the NaN check runs every 1000 updates\n"
    "and the loss-growth (divergence) rule is off. Full-batch runs (fullbatch,\n"
    "tiny) still measure the loss and gradient norm at every iterate: that is\n"
    "nb_train's full-batch algorithm, and it is timed as such.\n"
    "\n"
    "The cpu backend runs its large matrix products on NABLA_THREADS threads,\n"
    "by default the CPUs this process may use (affinity mask, cgroup quota).\n"
    "\n"
    "Exit status: 0 measured and every check passed, 1 a check failed or a\n"
    "run failed, 2 bad arguments, 3 a requested device failed.\n";

enum { MAX_SPECS = NB_BENCH_N_WORKLOADS, MAX_DEVICES = 17 };

typedef struct bench_args {
    const char *workload, *device, *json;
    int widths[NB_BENCH_MAX_WIDTHS], n_widths;
    long batch, n, iters, epochs, reps; /* -1: not given; batch 0: full */
    int crossover, sweep_width;
    long contention; /* busy processes; 0: none */
    nb_bench_config cfg;
} bench_args;

static const struct option long_opts[] = {
    {"workload", required_argument, 0, 'w'}, {"device", required_argument, 0, 'D'},
    {"layers", required_argument, 0, 'L'},   {"batch", required_argument, 0, 'b'},
    {"n", required_argument, 0, 'n'},        {"iters", required_argument, 0, 'i'},
    {"epochs", required_argument, 0, 'e'},   {"reps", required_argument, 0, 'r'},
    {"json", required_argument, 0, 'j'},     {"crossover", no_argument, 0, 'C'},
    {"sweep-width", no_argument, 0, 'W'},    {"seed", required_argument, 0, 's'},
    {"max-rep-seconds", required_argument, 0, 'M'}, {"profile", no_argument, 0, 'P'},
    {"contention", required_argument, 0, 'c'}, {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0}};

/* auto, cpu, opencl, all or opencl:P.D with P and D whole numbers. */
static int device_ok(const char *d)
{
    static const char *const plain[] = {"auto", "cpu", "opencl", "all"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(d, plain[i])) return 1;
    unsigned p, q;
    char tail;
    return sscanf(d, "opencl:%u.%u%c", &p, &q, &tail) == 2 && strspn(d + 7, "0123456789.") == strlen(d + 7);
}

/* A built-in workload's name, or all; else a usage error that names them. */
static int workload_ok(const char *v)
{
    char names[128] = "";
    if (!strcmp(v, "all")) return 1;
    for (int i = 0; i < NB_BENCH_N_WORKLOADS; i++) {
        if (!strcmp(v, nb_bench_workloads[i].name)) return 1;
        size_t len = strlen(names);
        snprintf(names + len, sizeof names - len, "%s, ", nb_bench_workloads[i].name);
    }
    nb_cli_usage_error("bench", "--workload: unknown workload '%s' (%sall)", v, names);
    return 0;
}

static int parse_opt(int c, const char *v, bench_args *a)
{
    const char *cmd = "bench";
    switch (c) {
    case 'w': return workload_ok(v) ? (a->workload = v, 1) : 0;
    case 'D':
        if (device_ok(v)) return a->device = v, 1;
        nb_cli_usage_error(cmd, "--device: '%s' is not auto, cpu, opencl, opencl:P.D or all", v);
        return 0;
    case 'L':
        return nb_arg_widths(cmd, "--layers", v, a->widths, NB_BENCH_MAX_WIDTHS, &a->n_widths);
    case 'b':
        if (!strcmp(v, "full")) return a->batch = 0, 1;
        return nb_arg_long(cmd, "--batch", v, 1, 1L << 24, &a->batch);
    case 'n': return nb_arg_long(cmd, "--n", v, 1, 1L << 30, &a->n);
    case 'i': return nb_arg_long(cmd, "--iters", v, 1, 1000000000L, &a->iters);
    case 'e': return nb_arg_long(cmd, "--epochs", v, 1, 1000000L, &a->epochs);
    case 'r': return nb_arg_long(cmd, "--reps", v, 5, 1000, &a->reps);
    case 'j': return a->json = v, 1;
    case 'P': return a->cfg.print_profile = 1, 1;
    case 'C': return a->crossover = 1, 1;
    case 'W': return a->sweep_width = 1, 1;
    case 's': return nb_arg_u64(cmd, "--seed", v, &a->cfg.seed);
    case 'M': return nb_arg_double(cmd, "--max-rep-seconds", v, 0.0, 86400.0, 1, 0, &a->cfg.max_rep_seconds);
    case 'c': return nb_arg_long(cmd, "--contention", v, 1, NB_BENCH_MAX_CONTENTION, &a->contention);
    }
    return 0;
}

/* The built-in workload w as a spec. */
static nb_bench_spec builtin_spec(const nb_bench_workload *w)
{
    nb_bench_spec s;
    memset(&s, 0, sizeof s);
    snprintf(s.name, sizeof s.name, "%s", w->name);
    memcpy(s.widths, w->widths, (size_t)w->n_widths * sizeof *w->widths);
    s.n_widths = w->n_widths;
    s.n = w->n, s.batch = w->batch, s.iters = w->iters, s.epochs = w->epochs;
    return s;
}

/* The selected workloads with the overrides applied; count or -1. */
static int make_specs(const bench_args *a, nb_bench_spec *specs)
{
    int n = 0;
    if (a->n_widths > 0) {
        nb_bench_spec *s = &specs[n++];
        memset(s, 0, sizeof *s);
        snprintf(s->name, sizeof s->name, "custom");
        memcpy(s->widths, a->widths, (size_t)a->n_widths * sizeof *a->widths);
        s->n_widths = a->n_widths;
        s->n = 1024, s->batch = 32, s->epochs = 1;
    } else {
        for (int i = 0; i < NB_BENCH_N_WORKLOADS; i++)
            if (!strcmp(a->workload, "all") || !strcmp(a->workload, nb_bench_workloads[i].name))
                specs[n++] = builtin_spec(&nb_bench_workloads[i]);
    }
    for (int i = 0; i < n; i++) {
        nb_bench_spec *s = &specs[i];
        if (a->n > 0) s->n = (size_t)a->n;
        if (a->batch >= 0) s->batch = (size_t)a->batch;
        if (a->iters > 0) s->iters = a->iters, s->epochs = 0, s->steps_fixed = 1;
        if (a->epochs > 0) s->epochs = a->epochs, s->iters = 0, s->steps_fixed = 1;
    }
    return n;
}

/* The devices to measure: one, or cpu and every listed OpenCL device. */
static int make_devices(const char *device, char devs[][32])
{
    if (strcmp(device, "all") != 0) return snprintf(devs[0], 32, "%s", device), 1;
    nb_device_info info[MAX_DEVICES - 1];
    int n = 0, pick, k = 0;
    snprintf(devs[k++], 32, "cpu");
    if (nb_opencl_devices(info, MAX_DEVICES - 1, &n, &pick) != NB_OK) {
        fprintf(stderr, "nabla bench: cpu only, no OpenCL: %s\n", nb_cli_error());
        return k;
    }
    for (int i = 0; i < n && k < MAX_DEVICES; i++)
        snprintf(devs[k++], 32, "opencl:%d.%d", info[i].platform, info[i].device);
    return k;
}

/* Every workload on every device; the table rows as they finish. With
 * --contention, the devices are the cpu at its default threads and at one,
 * beside the busy processes. */
static int run_all(const bench_args *a, const nb_bench_spec *specs, int n_specs)
{
    char devs[MAX_DEVICES][32];
    int contended = a->cfg.contention > 0;
    int n_devs = contended ? 2 : make_devices(a->device, devs), code = NB_EXIT_OK, n_res = 0;
    if (contended) snprintf(devs[0], 32, "cpu"), snprintf(devs[1], 32, "cpu");
    int explicit = contended || strcmp(a->device, "all") != 0;
    FILE *f = a->cfg.out;
    nb_bench_result *res = calloc((size_t)(n_specs * n_devs), sizeof *res);
    if (!res) return fprintf(stderr, "nabla bench: out of memory\n"), NB_EXIT_FAIL;
    for (int i = 0; i < n_specs; i++) nb_bench_print_napkin(f, &specs[i]);
    if (contended) {
        nb_backend_options o; /* the default threads: NABLA_THREADS, else automatic */
        int threads = nb_cli_backend_options(&o) == NB_OK && o.threads > 0 ? o.threads
                                                                           : nb_cpu_default_threads();
        fprintf(f, "contention: %d busy process%s at normal priority beside every run "
                   "(%ld CPUs online, the cpu backend's default %d threads)\n",
                a->cfg.contention, a->cfg.contention == 1 ? "" : "es",
                sysconf(_SC_NPROCESSORS_ONLN), threads);
        if (nb_bench_busy_start(a->cfg.contention) != 0) {
            free(res);
            return NB_EXIT_FAIL;
        }
    }
    fputc('\n', f);
    nb_bench_print_header(f);
    fflush(f);
    for (int i = 0; i < n_specs && code != NB_EXIT_DEVICE; i++) {
        const nb_bench_spec *s = &specs[i];
        nb_dataset *d = NULL;
        float *ref0 = NULL, *ref = NULL;
        size_t n_ref = 0;
        nb_status st = nb_bench_dataset(s->widths, s->n_widths, s->n, a->cfg.seed, &d);
        if (st == NB_OK) st = nb_bench_reference(s, d, a->cfg.seed, &ref0, &ref, &n_ref);
        if (st != NB_OK) { /* e.g. a batch too large for the model's scratch: 2 */
            fprintf(stderr, "nabla bench: %s: %s\n", s->name, nb_cli_error());
            nb_dataset_free(d);
            code = nb_cli_exit_for(st);
            break;
        }
        for (int j = 0; j < n_devs; j++) {
            nb_bench_result *r = &res[n_res++];
            int dc = contended ? nb_bench_measure_threads(s, d, j == 1, ref0, ref, n_ref, &a->cfg, r)
                               : nb_bench_measure(s, d, devs[j], ref0, ref, n_ref, &a->cfg, r);
            nb_bench_print_row(f, r);
            fflush(f);
            /* A device asked for by name must work (exit 3, and every
             * workload would fail the same way); one that `all` listed
             * only fails its rows. */
            if (dc != 0 && explicit) {
                fprintf(stderr, "nabla bench: --device %s: %s\n", devs[j], r->error);
                code = dc;
                break;
            }
            if ((r->error[0] || r->check_ok != 1) && code == NB_EXIT_OK) code = NB_EXIT_FAIL;
        }
        free(ref0);
        free(ref);
        nb_dataset_free(d);
    }
    nb_bench_busy_stop(); /* before anything else is printed or written */
    fputc('\n', f);
    if (contended) {
        /* a failed pair leaves an odd count: only whole pairs are compared */
        nb_bench_print_contention(f, res, n_res - n_res % 2, &a->cfg);
        fputc('\n', f);
    }
    nb_bench_print_notes(f, res, n_res, &a->cfg);
    if (a->json && n_res > 0) {
        int jc = nb_bench_write_json(a->json, &a->cfg, res, n_res, NULL);
        if (jc != 0 && code == NB_EXIT_OK) code = jc;
        if (jc == 0 && strcmp(a->json, "-") != 0) fprintf(f, "json: %s\n", a->json);
    }
    free(res);
    return code;
}

static int run_crossover(const bench_args *a)
{
    static const int mnist_like[] = {784, 512, 512, 10};
    nb_bench_cross x;
    memset(&x, 0, sizeof x);
    x.width_sweep = a->sweep_width;
    x.n_widths = a->n_widths ? a->n_widths : 4;
    memcpy(x.widths, a->n_widths ? a->widths : mnist_like, (size_t)x.n_widths * sizeof *x.widths);
    x.n = a->n > 0 ? (size_t)a->n : 8192;
    x.batch = a->batch > 0 ? (size_t)a->batch : 256;
    if (x.width_sweep && x.n_widths < 3)
        return nb_cli_usage_error("bench", "--sweep-width: --layers has no hidden layer to widen");
    const char *dev = strncmp(a->device, "opencl:", 7) == 0 ? a->device : NULL;
    int code = nb_bench_crossover(&x, dev, &a->cfg);
    if (code == NB_EXIT_OK && a->json) {
        code = nb_bench_write_json(a->json, &a->cfg, NULL, 0, &x);
        if (code == 0 && strcmp(a->json, "-") != 0) fprintf(a->cfg.out, "json: %s\n", a->json);
    }
    return code;
}

/* Flags that contradict each other; 0 after printing why. */
static int check_combination(const bench_args *a, int workload_given)
{
    const char *cmd = "bench";
    if (a->iters > 0 && a->epochs > 0)
        return nb_cli_usage_error(cmd, "--iters and --epochs: give one"), 0;
    if (a->sweep_width && !a->crossover)
        return nb_cli_usage_error(cmd, "--sweep-width goes with --crossover"), 0;
    if (a->contention > 0 && a->crossover)
        return nb_cli_usage_error(cmd, "--contention and --crossover: give one"), 0;
    if (a->contention > 0 && strcmp(a->device, "all") != 0 && strcmp(a->device, "cpu") != 0)
        return nb_cli_usage_error(cmd, "--contention measures the cpu backend; drop --device "
                                       "or give cpu"), 0;
    if (a->n_widths > 0 && workload_given)
        return nb_cli_usage_error(cmd, "--layers defines a custom workload; drop --workload"), 0;
    if (a->crossover) {
        if (workload_given || a->iters > 0 || a->epochs > 0 || a->reps > 0)
            return nb_cli_usage_error(cmd, "--crossover sweeps --layers with its own short "
                                           "repetitions; drop --workload, --iters, --epochs, --reps"), 0;
        if (a->batch == 0) return nb_cli_usage_error(cmd, "--crossover: --batch full is not a sweep point"), 0;
        if (!strcmp(a->device, "cpu"))
            return nb_cli_usage_error(cmd, "--crossover compares cpu with OpenCL; --device names "
                                           "the OpenCL device (opencl:P.D)"), 0;
    }
    return 1;
}

int nb_cmd_bench(int argc, char **argv)
{
    bench_args a;
    memset(&a, 0, sizeof a);
    a.workload = "all";
    a.device = "all";
    a.batch = a.n = a.iters = a.epochs = a.reps = -1;
    a.cfg.reps = 5;
    /* 6 s keeps `--workload all --device all` near 4 minutes here. */
    a.cfg.max_rep_seconds = 6.0;
    a.cfg.seed = 1;
    int c, workload_given = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
        if (c == 'h') return fputs(bench_help, stdout), NB_EXIT_OK;
        if (c == '?') return nb_cli_usage_error("bench", "unknown option '%s' (see --help)", argv[optind - 1]);
        if (c == ':') return nb_cli_usage_error("bench", "%s needs a value", argv[optind - 1]);
        if (c == 'w') workload_given = 1;
        if (!parse_opt(c, optarg, &a)) return NB_EXIT_USAGE;
    }
    if (optind < argc) return nb_cli_usage_error("bench", "unexpected argument '%s'", argv[optind]);
    if (!check_combination(&a, workload_given)) return NB_EXIT_USAGE;
    if (a.reps > 0) a.cfg.reps = (int)a.reps;
    a.cfg.contention = (int)a.contention;
    int json_stdout = a.json && !strcmp(a.json, "-");
    a.cfg.out = json_stdout ? stderr : stdout; /* stdout then holds the JSON alone */
    a.cfg.progress = isatty(fileno(stderr)) && !json_stdout;
    if (a.crossover) return run_crossover(&a);
    nb_bench_spec specs[MAX_SPECS];
    int n = make_specs(&a, specs);
    return run_all(&a, specs, n);
}
