/*
 * bench_run.c — one measurement of `nabla bench`: a workload on a device,
 * following the method of bench/README.md.
 *
 *   1. correctness: the model trained for NB_BENCH_CHECK_STEPS updates on
 *      the device must match the same run on the cpu backend, else no
 *      number is reported;
 *   2. warm-up: two short runs (2 updates, then up to 24), which also
 *      estimate the time per update and the fixed cost of a call;
 *   3. reps timed repetitions, each a fresh nb_train call on the same
 *      model and data, then one profiled repetition that splits a step
 *      into kernel, transfer and host time.
 *
 * It does not interpret the numbers; bench_report.c prints them.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/backend_opts.h"
#include "cli/bench.h"
#include "cli/profile.h"
#include "clock.h"
#include "cpu/cpu_pool.h"
#include "rng.h"
#include "status.h"

/* ------------------------------------------------------- the workload */

/*
 * Per sample of one step, with P = Σ_l w_{l-1}·w_l (weights, no biases):
 *   forward             2P  (one multiply-add per weight)
 *   weight gradient     2P  (δ_l · a_{l-1}ᵀ)
 *   input gradient      2(P − P1): layer 1 passes no gradient to the data.
 */
double nb_bench_flops_per_sample(const int *widths, int n_widths, double *P, double *P1)
{
    double p = 0.0;
    for (int l = 1; l < n_widths; l++) p += (double)widths[l - 1] * widths[l];
    double p1 = (double)widths[0] * widths[1];
    if (P) *P = p;
    if (P1) *P1 = p1;
    return 2.0 * p + 2.0 * p + 2.0 * (p - p1);
}

static int full_batch(const nb_bench_spec *s) { return s->batch == 0 || s->batch >= s->n; }

long nb_bench_nominal_steps(const nb_bench_spec *s)
{
    if (s->iters > 0) return s->iters;
    /* Full batch: an epoch is one iteration. */
    if (full_batch(s)) return s->epochs;
    return s->epochs * (long)((s->n + s->batch - 1) / s->batch);
}

/* Steps cycle through epochs of ⌈n/batch⌉ batches; only the last batch of
 * an epoch is short, and a partial epoch never reaches it. */
double nb_bench_samples(const nb_bench_spec *s, long steps)
{
    if (full_batch(s)) return (double)steps * (double)s->n;
    long per_epoch = (long)((s->n + s->batch - 1) / s->batch);
    long epochs = steps / per_epoch, rest = steps % per_epoch;
    return (double)epochs * (double)s->n + (double)rest * (double)s->batch;
}

const char *nb_bench_layers_str(const nb_bench_spec *s, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < s->n_widths && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%d", i ? "-" : "", s->widths[i]);
    return buf;
}

nb_status nb_bench_dataset(const int *widths, int n_widths, size_t rows, uint64_t seed,
                           nb_dataset **out)
{
    int in = widths[0], classes = widths[n_widths - 1];
    float *x = malloc(rows * (size_t)in * sizeof *x);
    int32_t *labels = malloc(rows * sizeof *labels);
    nb_status st = NB_ERR_NOMEM;
    if (x && labels) {
        nb_rng r;
        /* A stream of its own: the data never shares draws with the
         * model's initialisation or the shuffles, whatever the seed. */
        nb_rng_seed(&r, seed, 0x62656e6368ull /* "bench" */);
        for (size_t i = 0; i < rows * (size_t)in; i++) x[i] = nb_rng_uniform(&r);
        for (size_t i = 0; i < rows; i++) labels[i] = (int32_t)nb_rng_below(&r, (uint64_t)classes);
        st = nb_dataset_from_labels(rows, in, classes, x, labels, out);
    }
    free(x);
    free(labels);
    return st;
}

void nb_bench_train_options(const nb_bench_spec *s, long steps, uint64_t seed, nb_train_options *o)
{
    nb_train_options_default(o);
    o->batch = full_batch(s) ? 0 : s->batch;
    o->seed = seed;
    nb_schedule *sc = &o->schedule;
    sc->lr = NB_BENCH_LR;
    sc->lr_kind = NB_LR_CONSTANT;
    sc->optim = NB_OPT_SGD;
    sc->diverge_factor = 0.0; /* no loss-growth rule ...                     */
    sc->check_every = NB_BENCH_CHECK_EVERY; /* ... and a NaN check rarely   */
    if (steps > 0) { /* a count of updates, possibly ending mid-epoch */
        sc->max_iters = steps;
        sc->max_epochs = 0;
    } else if (s->iters > 0) {
        sc->max_iters = s->iters;
        sc->max_epochs = 0;
    } else {
        sc->max_iters = 0;
        sc->max_epochs = s->epochs;
    }
}

/* ------------------------------------------------------- correctness */

static nb_status new_model(nb_backend *be, const nb_bench_spec *s, uint64_t seed, nb_model **m)
{
    nb_act acts[NB_BENCH_MAX_WIDTHS];
    for (int l = 0; l + 1 < s->n_widths; l++) acts[l] = NB_ACT_SIGMOID;
    return nb_model_create(be, s->n_widths - 1, s->widths, acts, NB_LOSS_MSE, seed, m);
}

static nb_status train_steps(nb_model *m, const nb_bench_spec *s, const nb_dataset *d, long steps,
                             uint64_t seed, nb_result *res)
{
    nb_train_options o;
    nb_bench_train_options(s, steps, seed, &o);
    return nb_train(m, d, NULL, &o, res);
}

nb_status nb_bench_reference(const nb_bench_spec *s, const nb_dataset *d, uint64_t seed,
                             float **theta0, float **theta, size_t *n)
{
    nb_backend *be = NULL;
    nb_model *m = NULL;
    *theta0 = *theta = NULL;
    nb_status st = nb_cli_backend_create("cpu", &be);
    if (st == NB_OK) st = new_model(be, s, seed, &m);
    if (st == NB_OK) {
        *n = nb_model_param_count(m);
        *theta0 = malloc(*n * sizeof **theta0);
        *theta = malloc(*n * sizeof **theta);
        if (!*theta0 || !*theta) st = NB_ERR_NOMEM;
    }
    if (st == NB_OK) st = nb_model_get_params(m, *theta0, *n);
    if (st == NB_OK) st = train_steps(m, s, d, NB_BENCH_CHECK_STEPS, seed, NULL);
    if (st == NB_OK) st = nb_model_get_params(m, *theta, *n);
    nb_model_free(m);
    nb_backend_free(be);
    if (st != NB_OK) {
        free(*theta0), free(*theta);
        *theta0 = *theta = NULL;
    }
    return st;
}

/*
 * Compare θ after the check steps with the cpu's. The tolerance: both
 * sides start from the same θ0 (initialised on the host) and differ only
 * by float32 rounding in three steps (summation order, fused multiply-add,
 * the device's exp), which moves an update α·g by a relative 1e-6 or so,
 * far below an ulp of θ; so the parameters agree to a few ulp (measured
 * on PoCL: at most 2.3e-8, about 1 ulp, over all four workloads). ATOL
 * 1e-6 + RTOL 1e-5·|θ| is ~2e-6 for |θ| ≈ 0.1, about 100 ulp, and still
 * fails a 10% error in any update above 2e-5 (updates here reach 1e-3 to
 * 1e-1: max_update says how far the check moved θ). The relative error is
 * reported against max(|want|, ATOL/RTOL), where the absolute term takes
 * over, so parameters near 0 do not report huge relative errors.
 */
static void compare(const float *got, const float *want, const float *want0, size_t n,
                    nb_bench_result *r)
{
    r->check_ok = 1;
    r->worst_abs = r->worst_rel = r->worst_ratio = r->max_update = 0.0;
    r->worst_index = 0;
    for (size_t i = 0; i < n; i++) {
        double g = got[i], w = want[i], d = fabs(g - w);
        double tol = NB_BENCH_ATOL + NB_BENCH_RTOL * fabs(w);
        double floor = NB_BENCH_ATOL / NB_BENCH_RTOL;
        double ratio = d / tol, rel = d / (fabs(w) > floor ? fabs(w) : floor);
        if (!(d == d)) ratio = rel = INFINITY; /* NaN */
        if (d > r->worst_abs || !(d == d)) r->worst_abs = d;
        if (rel > r->worst_rel) r->worst_rel = rel;
        if (ratio > r->worst_ratio || i == 0) {
            r->worst_ratio = ratio, r->worst_index = i;
            r->worst_got = g, r->worst_want = w;
        }
        double u = fabs(w - (double)want0[i]);
        if (u > r->max_update) r->max_update = u;
    }
    if (!(r->worst_ratio <= 1.0)) r->check_ok = 0;
}

/* --------------------------------------------------- device and builds */

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[1024];
    while (d && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d) closedir(d);
    rmdir(dir);
}

/*
 * Open device twice with the cache directory at a fresh empty one: the
 * first build compiles (cold), the second loads the binary the first one
 * stored (cached). The second backend is kept for the measurement. The
 * OpenCL runtime's own caches (PoCL keeps one) are outside our control,
 * so "cold" means "not in nabla's cache".
 */
static nb_status open_measured(const char *device, int threads, nb_bench_result *r,
                               nb_backend **be)
{
    int cpu = strcmp(device, "cpu") == 0;
    nb_backend_options o;
    r->build_cold_ms = r->build_cached_ms = NAN;
    NB_TRY(nb_cli_backend_options(&o));
    if (threads > 0) o.threads = threads;
    if (cpu) return nb_backend_create_with(device, &o, be);
    const char *t = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/nabla-bench-cache-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) return nb_backend_create_with(device, &o, be); /* no build numbers then */
    o.cache_dir = dir;
    nb_backend *cold = NULL;
    double sec;
    int cached;
    nb_status st = nb_backend_create_with(device, &o, &cold);
    if (st == NB_OK) {
        nb_backend_build_info(cold, &sec, &cached);
        if (cached >= 0) r->build_cold_ms = 1e3 * sec;
        nb_backend_free(cold);
        st = nb_backend_create_with(device, &o, be);
    }
    if (st == NB_OK) {
        nb_backend_build_info(*be, &sec, &cached);
        if (cached >= 0) r->build_cached_ms = 1e3 * sec;
        if (cached == 0) r->build_cached_ms = NAN; /* the cache did not work: no number */
    }
    rm_dir(dir);
    return st;
}

/* Fill device, device_name and driver from the backend's name. */
static void describe(nb_backend *be, nb_bench_result *r)
{
    const char *name = nb_backend_name(be);
    int p, d;
    r->driver[0] = '\0';
    if (sscanf(name, "opencl:%d.%d", &p, &d) != 2) {
        snprintf(r->device, sizeof r->device, "cpu");
        snprintf(r->device_name, sizeof r->device_name, "pure-C backend");
        return;
    }
    snprintf(r->device, sizeof r->device, "opencl:%d.%d", p, d);
    snprintf(r->device_name, sizeof r->device_name, "%s", name);
    nb_device_info info[64];
    int n = 0, pick;
    if (nb_opencl_devices(info, 64, &n, &pick) != NB_OK) return;
    for (int i = 0; i < n && i < 64; i++)
        if (info[i].platform == p && info[i].device == d) {
            snprintf(r->device_name, sizeof r->device_name, "%s", info[i].name);
            snprintf(r->driver, sizeof r->driver, "%s", info[i].driver);
        }
}

/* Linux resets the peak RSS on request; elsewhere it is the process's. */
static int reset_peak_rss(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return 0;
    int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

static double peak_rss_mib(void)
{
    struct rusage u;
    if (getrusage(RUSAGE_SELF, &u) != 0) return NAN;
    return (double)u.ru_maxrss / 1024.0; /* KiB on Linux */
}

/* ------------------------------------------------------------- timing */

typedef struct rep_profile {
    double kernels, transfers;  /* seconds of device (cpu: op) time   */
    double bytes;               /* written + read                     */
    int64_t launches;           /* kernels launched; -1: none (cpu)   */
} rep_profile;

/* One nb_train call of `steps` updates, timed to the end of its queued
 * work; when prof is not NULL the profile is reset first and read after
 * (and printed per op to `print` unless that is NULL). */
static nb_status timed_run(nb_backend *be, nb_model *m, const nb_bench_spec *s,
                           const nb_dataset *d, long steps, uint64_t seed, double *seconds,
                           rep_profile *prof, FILE *print)
{
    nb_result res;
    if (prof) NB_TRY(nb_backend_profile_enable(be, 1)); /* resets the counts */
    double t0 = nb_now();
    nb_status st = train_steps(m, s, d, steps, seed, &res);
    nb_op_profile p[32];
    int n = nb_backend_profile(be, p, 32); /* also waits for the queue */
    *seconds = nb_now() - t0;
    int64_t launches = nb_backend_launches(be);
    if (st != NB_OK) return st;
    if (res.iters != steps) /* the numbers would count work that was not done */
        return NB_FAIL(NB_ERR_INTERNAL, "nb_train made %ld updates, %ld expected (%s)", res.iters,
                       steps, res.why);
    if (prof) {
        if (print) nb_cli_print_profile(print, be, *seconds); /* before the reset below */
        memset(prof, 0, sizeof *prof);
        prof->launches = launches;
        for (int i = 0; i < n; i++) {
            int xfer = !strcmp(p[i].op, "write") || !strcmp(p[i].op, "read");
            if (xfer) prof->transfers += p[i].seconds, prof->bytes += p[i].bytes;
            else prof->kernels += p[i].seconds;
        }
        nb_backend_profile_enable(be, 0);
    }
    return NB_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median (mean of the middle two for an even count), min and max. */
static nb_bench_stat stats(const double *v, int n)
{
    double s[1000];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    nb_bench_stat r = {n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]), s[0], s[n - 1]};
    return r;
}

static void progress(const nb_bench_config *c, const nb_bench_result *r, const char *what)
{
    if (c->progress) fprintf(stderr, "bench: %s on %s: %s\n", r->spec->name, r->device, what);
}

/*
 * Warm up, then choose the steps of a repetition: the nominal count, cut
 * to fit max_rep_seconds unless the user fixed it. The check run before
 * already compiled any kernel the runtime builds lazily, so the difference
 * of two runs gives the time per update without the fixed cost of a call
 * (allocation, data upload). The second run aims at about 1.5 s, so an
 * expensive workload (wide: ~0.5 s per update) warms up in seconds, not
 * in the 24 updates a cheap one affords.
 */
static nb_status warm_up(nb_backend *be, nb_model *m, const nb_bench_spec *s, const nb_dataset *d,
                         const nb_bench_config *c, nb_bench_result *r)
{
    long nominal = nb_bench_nominal_steps(s), k1 = nominal < 2 ? nominal : 2;
    double t1, t2;
    NB_TRY(timed_run(be, m, s, d, k1, c->seed, &t1, NULL, NULL));
    double rough = t1 / (double)k1; /* an upper bound: the fixed cost is in it */
    long more = rough > 0 ? (long)(1.5 / rough) : 22;
    more = more < 2 ? 2 : more > 22 ? 22 : more;
    long k2 = k1 + more < nominal ? k1 + more : nominal;
    NB_TRY(timed_run(be, m, s, d, k2, c->seed, &t2, NULL, NULL));
    double per_step = k2 > k1 && t2 > t1 ? (t2 - t1) / (double)(k2 - k1) : t2 / (double)k2;
    double fixed = t2 - per_step * (double)k2;
    if (fixed < 0) fixed = 0;
    r->nominal_steps = r->steps_per_rep = nominal;
    if (!s->steps_fixed && fixed + per_step * (double)nominal > c->max_rep_seconds) {
        long k = (long)((c->max_rep_seconds - fixed) / per_step);
        r->steps_per_rep = k < 1 ? 1 : k;
    }
    /* A short repetition is cheap to warm up in full (caches, branch
     * predictors, the allocator's steady state). */
    if (r->steps_per_rep > k2 && fixed + per_step * (double)r->steps_per_rep < 2.0)
        NB_TRY(timed_run(be, m, s, d, r->steps_per_rep, c->seed, &t1, NULL, NULL));
    return NB_OK;
}

/*
 * The repetitions run unprofiled: timing every op costs up to a clock read
 * per op on the cpu and an event per launch on OpenCL, which doubled the
 * tiny workload's step time on the cpu backend. The split into kernels,
 * transfers and host comes from one more repetition with the profile on;
 * its own wall time is the reference for "host", and how much slower it
 * ran is recorded (profile_overhead).
 */
static nb_status time_reps(nb_backend *be, nb_model *m, const nb_bench_spec *s,
                           const nb_dataset *d, const nb_bench_config *c, nb_bench_result *r)
{
    long steps = r->steps_per_rep;
    double sps[1000], stps[1000], gf[1000];
    r->reps = c->reps;
    r->samples_per_rep = nb_bench_samples(s, steps);
    r->flops_per_sample = nb_bench_flops_per_sample(s->widths, s->n_widths, NULL, NULL);
    for (int i = 0; i < c->reps; i++) {
        NB_TRY(timed_run(be, m, s, d, steps, c->seed, &r->rep_seconds[i], NULL, NULL));
        sps[i] = r->samples_per_rep / r->rep_seconds[i];
        stps[i] = (double)steps / r->rep_seconds[i];
        gf[i] = sps[i] * r->flops_per_sample * 1e-9;
    }
    r->samples_per_s = stats(sps, c->reps);
    r->steps_per_s = stats(stps, c->reps);
    r->gflops = stats(gf, c->reps);
    rep_profile prof = {0, 0, 0, 0};
    double wall;
    if (c->print_profile) fprintf(c->out, "\n%s on %s, %ld updates:", s->name, r->device, steps);
    NB_TRY(timed_run(be, m, s, d, steps, c->seed, &wall, &prof, c->print_profile ? c->out : NULL));
    double k = (double)steps;
    r->profiled_seconds = wall;
    r->profile_overhead = wall * r->steps_per_s.median / k - 1.0;
    r->t_kernels = prof.kernels / k;
    r->t_transfers = prof.transfers / k;
    r->t_host = wall / k - r->t_kernels - r->t_transfers;
    r->bytes_per_step = prof.bytes / k;
    /* Every call uploads the dataset before its first step (the inputs
     * only where the backend cannot read them in place); a one-step run
     * moves that and one step, so the difference is what steps move. */
    r->bytes_per_step_steady = 0.0;
    /* Launches likewise: the call's own (zeroing the loss, the upload's
     * kernels) come once, so per step is the difference to one step. */
    r->launches_per_step = prof.launches < 0 ? NAN : (double)prof.launches;
    if (steps > 1) {
        rep_profile one = {0, 0, 0, 0};
        double wall1;
        NB_TRY(timed_run(be, m, s, d, 1, c->seed, &wall1, &one, NULL));
        double steady = prof.bytes - one.bytes;
        r->bytes_per_step_steady = steady > 0 ? steady / (k - 1.0) : 0.0;
        if (prof.launches >= 0)
            r->launches_per_step = (double)(prof.launches - one.launches) / (k - 1.0);
    }
    return NB_OK;
}

/* -------------------------------------------------------------- measure */

static void set_error(nb_bench_result *r, const char *what, nb_status st)
{
    snprintf(r->error, sizeof r->error, "%s: %s", what,
             nb_cli_error()[0] ? nb_cli_error() : nb_status_str(st));
}

int nb_bench_measure(const nb_bench_spec *s, const nb_dataset *d, const char *device,
                     const float *ref0, const float *ref, size_t n_ref, const nb_bench_config *c,
                     nb_bench_result *r)
{
    nb_backend *be = NULL;
    nb_model *m = NULL;
    float *theta = NULL;
    int code = 0;
    memset(r, 0, sizeof *r);
    r->spec = s;
    r->check_ok = -1;
    r->build_cold_ms = r->build_cached_ms = r->peak_rss_mib = NAN;
    snprintf(r->device, sizeof r->device, "%s", device);
    r->rss_per_result = reset_peak_rss();
    progress(c, r, "opening the device (program build: cold, then cached)");
    nb_status st = open_measured(device, c->threads, r, &be);
    if (st != NB_OK) {
        set_error(r, "opening the device", st);
        code = st == NB_ERR_ARG ? NB_EXIT_USAGE : NB_EXIT_DEVICE;
        goto done;
    }
    describe(be, r);
    /* The thread count the backend runs. */
    if (strcmp(r->device, "cpu") == 0) r->threads = nb_backend_threads(be);
    if (nb_backend_note(be)[0] && strncmp(nb_backend_name(be), "cpu", 3) == 0)
        fprintf(stderr, "nabla bench: --device %s: using cpu, %s\n", device,
                nb_backend_note(be));
    else if (nb_backend_note(be)[0])
        fprintf(stderr, "nabla bench: --device %s: %s\n", device, nb_backend_note(be));
    progress(c, r, "checking against the cpu backend");
    if ((st = new_model(be, s, c->seed, &m)) != NB_OK) {
        set_error(r, "creating the model", st);
        goto done;
    }
    size_t n = nb_model_param_count(m);
    theta = malloc(n * sizeof *theta);
    if (!theta || n != n_ref) {
        snprintf(r->error, sizeof r->error, "out of memory or parameter count mismatch");
        goto done;
    }
    if ((st = train_steps(m, s, d, NB_BENCH_CHECK_STEPS, c->seed, NULL)) != NB_OK ||
        (st = nb_model_get_params(m, theta, n)) != NB_OK) {
        set_error(r, "check run", st);
        goto done;
    }
    /* Testing aid, never for real use: NABLA_BENCH_PERTURB=p scales the
     * device's first parameter by (1 + p) so a test can watch the check
     * fail and the mismatch replace the numbers. */
    const char *perturb = getenv("NABLA_BENCH_PERTURB");
    if (perturb && *perturb) theta[0] *= (float)(1.0 + atof(perturb));
    compare(theta, ref, ref0, n, r);
    if (!r->check_ok) goto done; /* the mismatch is reported instead of numbers */
    progress(c, r, "warming up");
    if ((st = warm_up(be, m, s, d, c, r)) != NB_OK) {
        set_error(r, "warm-up", st);
        goto done;
    }
    char what[96];
    snprintf(what, sizeof what, "%d timed repetitions of %ld updates", c->reps, r->steps_per_rep);
    progress(c, r, what);
    if ((st = time_reps(be, m, s, d, c, r)) != NB_OK) {
        set_error(r, "timed run", st);
        r->reps = 0;
        goto done;
    }
done:
    r->peak_rss_mib = peak_rss_mib();
    free(theta);
    nb_model_free(m);
    nb_backend_free(be);
    return code;
}
