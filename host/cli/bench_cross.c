/*
 * bench_cross.c — `nabla bench --crossover`: where does OpenCL overtake
 * the cpu backend? Sweep the batch size 1, 2, 4, … 4096 (or, with
 * --sweep-width, the hidden width 32 … 2048 at a fixed batch) and measure
 * samples/s on the cpu backend and on one OpenCL device.
 *
 * Each point is the median of 3 short repetitions (about 0.4 s, at least
 * 2 updates), after a warm-up of 1 + 2 updates that also sizes them. A
 * repetition is one nb_train call, so it includes the upload of the data
 * (N rows); N is 8192 by default, small enough that the upload stays a few
 * percent of a repetition, and above the largest batch so every point is a
 * mini-batch run. This is a sweep, not the benchmark: the correctness
 * check and the time split are the main benchmark's job.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/backend_opts.h"
#include "cli/bench.h"
#include "clock.h"

enum { CROSS_REPS = 3 };
static const double CROSS_REP_SECONDS = 0.4;

/* One nb_train call of `steps` updates; wall seconds into *t. */
static nb_status run_steps(nb_model *m, const nb_bench_spec *s, const nb_dataset *d, long steps,
                           uint64_t seed, double *t)
{
    nb_train_options o;
    nb_bench_train_options(s, steps, seed, &o);
    double t0 = nb_now();
    nb_status st = nb_train(m, d, NULL, &o, NULL);
    *t = nb_now() - t0;
    return st;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* samples/s of s on be: NaN after printing why when it failed. */
static double point(nb_backend *be, const nb_bench_spec *s, const nb_dataset *d, uint64_t seed)
{
    nb_act acts[NB_BENCH_MAX_WIDTHS];
    for (int l = 0; l + 1 < s->n_widths; l++) acts[l] = NB_ACT_SIGMOID;
    nb_model *m = NULL;
    double t, v[CROSS_REPS], r = NAN;
    nb_status st = nb_model_create(be, s->n_widths - 1, s->widths, acts, NB_LOSS_MSE, seed, &m);
    if (st == NB_OK) st = run_steps(m, s, d, 1, seed, &t); /* lazily built kernels, caches */
    if (st == NB_OK) st = run_steps(m, s, d, 2, seed, &t);
    long k = 2;
    if (st == NB_OK && t / 2.0 * 3.0 < CROSS_REP_SECONDS) k = (long)(CROSS_REP_SECONDS / (t / 2.0));
    for (int i = 0; st == NB_OK && i < CROSS_REPS; i++) {
        st = run_steps(m, s, d, k, seed, &t);
        v[i] = nb_bench_samples(s, k) / t;
    }
    if (st == NB_OK) {
        qsort(v, CROSS_REPS, sizeof *v, cmp_double);
        r = v[CROSS_REPS / 2];
    } else {
        fprintf(stderr, "nabla bench: --crossover: %s: %s\n", nb_backend_name(be), nb_cli_error());
    }
    nb_model_free(m);
    return r;
}

/* The OpenCL device to compare: the one asked for, else the first listed. */
static int pick_opencl(const char *asked, char *dev, size_t n, char *why, size_t wn)
{
    nb_device_info info[64];
    int count = 0, pick;
    if (asked && strncmp(asked, "opencl:", 7) == 0) return snprintf(dev, n, "%s", asked), 1;
    if (nb_opencl_devices(info, 64, &count, &pick) != NB_OK || count == 0) {
        snprintf(why, wn, "%s", count == 0 && !nb_cli_error()[0] ? "no OpenCL device" : nb_cli_error());
        return 0;
    }
    snprintf(dev, n, "opencl:%d.%d", info[0].platform, info[0].device);
    return 1;
}

/* samples/s: whole numbers from 100 up, three digits below. */
static void rate(char *buf, size_t n, double v)
{
    if (isnan(v)) snprintf(buf, n, "failed");
    else snprintf(buf, n, v >= 100 ? "%.0f" : "%.3g", v);
}

static void print_table(FILE *f, const nb_bench_cross *x, const char *cl)
{
    const char *key = x->width_sweep ? "width" : "batch";
    char head[64];
    snprintf(head, sizeof head, "%s samples/s", cl[0] ? cl : "opencl");
    fprintf(f, "%7s %16s %22s %11s\n", key, "cpu samples/s", head, "opencl/cpu");
    for (int i = 0; i < x->n_pts; i++) {
        const nb_bench_cross_point *p = &x->pts[i];
        char a[32], b[32] = "-", q[32] = "-";
        rate(a, sizeof a, p->cpu);
        if (cl[0]) rate(b, sizeof b, p->opencl);
        if (!isnan(p->cpu) && !isnan(p->opencl)) snprintf(q, sizeof q, "%.3f", p->opencl / p->cpu);
        fprintf(f, "%7d %16s %22s %11s\n", p->x, a, b, q);
    }
}

int nb_bench_crossover(nb_bench_cross *x, const char *opencl_device, const nb_bench_config *c)
{
    FILE *f = c->out;
    char cl[64] = "", why[256] = "";
    nb_backend *cpu = NULL, *ocl = NULL;
    nb_dataset *d = NULL;
    int code = NB_EXIT_OK;
    if (pick_opencl(opencl_device, cl, sizeof cl, why, sizeof why) &&
        nb_cli_backend_create(cl, &ocl) != NB_OK) {
        fprintf(stderr, "nabla bench: --crossover: --device %s: %s\n", cl, nb_cli_error());
        return NB_EXIT_DEVICE; /* a device that was named or listed must work */
    }
    if (nb_cli_backend_create("cpu", &cpu) != NB_OK) {
        fprintf(stderr, "nabla bench: --crossover: cpu: %s\n", nb_cli_error());
        nb_backend_free(ocl);
        return NB_EXIT_FAIL;
    }
    if (ocl) snprintf(x->opencl, sizeof x->opencl, "%s", nb_backend_name(ocl));
    nb_status st = nb_bench_dataset(x->widths, x->n_widths, x->n, c->seed, &d);
    if (st != NB_OK) {
        fprintf(stderr, "nabla bench: --crossover: data: %s\n", nb_cli_error());
        code = NB_EXIT_FAIL;
        goto done;
    }
    char layers[256];
    nb_bench_spec s = {.n_widths = x->n_widths, .n = x->n, .batch = x->batch, .iters = 1};
    snprintf(s.name, sizeof s.name, "crossover");
    memcpy(s.widths, x->widths, sizeof s.widths);
    fprintf(f, "crossover: %s sweep of %s, N %zu; samples/s, median of %d short repetitions "
               "(~%.1f s each, data upload included)\n",
            x->width_sweep ? "hidden-width" : "batch", nb_bench_layers_str(&s, layers, sizeof layers),
            x->n, CROSS_REPS, CROSS_REP_SECONDS);
    if (x->width_sweep) fprintf(f, "  batch %zu; every hidden layer takes the swept width\n", x->batch);
    if (!ocl) fprintf(f, "  no OpenCL device (%s): cpu only\n", why);
    else fprintf(f, "  OpenCL device: %s\n", x->opencl);
    x->n_pts = 0;
    x->first_faster = 0;
    for (int v = x->width_sweep ? 32 : 1; v <= (x->width_sweep ? 2048 : 4096); v *= 2) {
        nb_bench_cross_point *p = &x->pts[x->n_pts++];
        p->x = v;
        if (x->width_sweep)
            for (int l = 1; l + 1 < s.n_widths; l++) s.widths[l] = v;
        else s.batch = (size_t)v;
        if (c->progress) fprintf(stderr, "bench: crossover %s %d\n", x->width_sweep ? "width" : "batch", v);
        p->cpu = point(cpu, &s, d, c->seed);
        p->opencl = ocl ? point(ocl, &s, d, c->seed) : NAN;
        if (!x->first_faster && p->opencl > p->cpu) x->first_faster = v;
    }
    print_table(f, x, ocl ? cl : "");
    if (!ocl) fprintf(f, "no OpenCL device to compare.\n");
    else if (x->first_faster)
        fprintf(f, "OpenCL first beats the cpu backend at %s %d.\n",
                x->width_sweep ? "width" : "batch", x->first_faster);
    else fprintf(f, "OpenCL never overtakes the cpu backend on this machine in this range.\n");
done:
    nb_dataset_free(d);
    nb_backend_free(cpu);
    nb_backend_free(ocl);
    return code;
}
