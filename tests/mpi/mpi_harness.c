/*
 * mpi_harness.c — the MPI tests' shared checks and data (mpi_harness.h).
 */
#include "mpi_harness.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mh H;

static const char *test_name = "";

void mh_init(int *argc, char ***argv, const char *name)
{
    test_name = name;
    if (nb_mpi_init(argc, argv, &H.mp) != NB_OK) {
        fprintf(stderr, "%s: %s\n", name, nb_last_error());
        exit(2);
    }
    H.comm = nb_mpi_comm(H.mp);
    H.rank = H.comm->rank;
    H.ranks = H.comm->ranks;
    /* One worker thread per rank: the ranks of a test share the machine's
     * cores, and the reference run uses the same so its sums (within a
     * rank) are formed in the same order. */
    nb_backend_options bo;
    nb_backend_options_default(&bo);
    bo.threads = 1;
    /* NABLA_MPI_TEST_DEVICE=opencl: the same tests on an OpenCL device,
     * whose gradient goes through host memory on its way to the sum. */
    const char *dev = getenv("NABLA_MPI_TEST_DEVICE");
    if (!dev || !*dev) dev = "cpu";
    if (nb_backend_create_with(dev, &bo, &H.be) != NB_OK) {
        fprintf(stderr, "rank %d: %s: %s backend: %s\n", H.rank, name, dev, nb_last_error());
        nb_mpi_abort(H.mp, 2);
    }
    if (H.rank == 0)
        printf("%s: %d rank%s, %s backend\n", name, H.ranks, H.ranks == 1 ? "" : "s", dev);
}

int mh_finish(void)
{
    int64_t total = H.failures;
    if (H.comm->allreduce(H.comm->ctx, &total, 1, NB_COMM_I64, NB_COMM_SUM) != 0) {
        fprintf(stderr, "rank %d: final all-reduce failed: %s\n", H.rank,
                H.comm->error ? H.comm->error(H.comm->ctx) : "?");
        total = 1;
    }
    if (H.rank == 0)
        printf("%s: %s (%lld failed check%s over %d ranks)\n", test_name,
               total ? "FAILED" : "passed", (long long)total, total == 1 ? "" : "s", H.ranks);
    nb_backend_free(H.be);
    nb_mpi_finalize(H.mp);
    return total ? 1 : 0;
}

void mh_fail(const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "rank %d: %s\n", H.rank, line);
    fflush(stderr);
    H.failures++;
}

void mh_note(const char *fmt, ...)
{
    if (H.rank != 0) return;
    va_list ap;
    va_start(ap, fmt);
    printf("rank 0: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
}

void mh_abort(const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "rank %d: %s (ending the job)\n", H.rank, line);
    fflush(stderr);
    nb_mpi_abort(H.mp, 1);
}

/* The communicator's all-reduce, or the end of the job: a failed
 * collective leaves the ranks out of step, so nothing after it means
 * anything. */
static void reduce(void *buf, size_t count, nb_comm_type type, nb_comm_op op)
{
    if (H.comm->allreduce(H.comm->ctx, buf, count, type, op) != 0)
        mh_abort("all-reduce of %zu values failed: %s", count,
                 H.comm->error ? H.comm->error(H.comm->ctx) : "?");
}

void mh_barrier(void)
{
    int64_t one = 1;
    reduce(&one, 1, NB_COMM_I64, NB_COMM_SUM);
    if (one != H.ranks) mh_fail("barrier: the all-reduce counted %lld ranks", (long long)one);
}

int mh_same_i64(const char *what, int64_t v)
{
    int64_t lo = v, hi = v;
    reduce(&lo, 1, NB_COMM_I64, NB_COMM_MIN);
    reduce(&hi, 1, NB_COMM_I64, NB_COMM_MAX);
    if (lo == hi) return 1;
    mh_fail("%s differs over the ranks: here %lld, range %lld .. %lld", what, (long long)v,
            (long long)lo, (long long)hi);
    return 0;
}

int mh_same_bits(const char *what, const float *v, size_t n)
{
    /* Each float's 32 bits as a non-negative int64, so MIN and MAX compare
     * bit patterns (NaN and -0 included) rather than values. */
    int64_t *lo = malloc(2 * (n ? n : 1) * sizeof *lo), *hi = lo + (n ? n : 1);
    if (!lo) mh_abort("%s: out of memory", what);
    for (size_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &v[i], sizeof b);
        lo[i] = hi[i] = (int64_t)b;
    }
    reduce(lo, n, NB_COMM_I64, NB_COMM_MIN);
    reduce(hi, n, NB_COMM_I64, NB_COMM_MAX);
    size_t differ = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (lo[i] != hi[i] && differ++ == 0) first = i;
    if (differ)
        mh_fail("%s: %zu of %zu values are not the same bits on every rank; first [%zu]: here "
                "%.9g, bits 0x%08llx .. 0x%08llx over the ranks",
                what, differ, n, first, (double)v[first], (unsigned long long)lo[first],
                (unsigned long long)hi[first]);
    free(lo);
    return differ == 0;
}

int mh_same_str(const char *what, const char *s)
{
    enum { CAP = 1024 };
    int64_t lo[CAP], hi[CAP];
    size_t len = strlen(s);
    for (size_t i = 0; i < CAP; i++) lo[i] = hi[i] = i < len ? (unsigned char)s[i] : 0;
    reduce(lo, CAP, NB_COMM_I64, NB_COMM_MIN);
    reduce(hi, CAP, NB_COMM_I64, NB_COMM_MAX);
    for (size_t i = 0; i < CAP; i++)
        if (lo[i] != hi[i]) {
            mh_fail("%s differs over the ranks from byte %zu; here \"%s\"", what, i, s);
            return 0;
        }
    return 1;
}

int mh_close(const char *what, const float *got, const float *want, size_t n, double atol,
             double rtol)
{
    double max_diff = 0, max_ratio = 0;
    size_t bad = 0, worst = 0;
    for (size_t i = 0; i < n; i++) {
        double g = got[i], w = want[i], d = fabs(g - w), bound = atol + rtol * fabs(w);
        double ratio = isnan(d) ? INFINITY : d / bound;
        if (!(d <= max_diff)) max_diff = d;
        if (!(ratio <= max_ratio)) {
            max_ratio = ratio;
            worst = i;
        }
        if (!(d <= bound)) bad++;
    }
    mh_note("%s: max |diff| %.3g, max |diff|/bound %.3g (atol %g, rtol %g, %zu values)", what,
            max_diff, max_ratio, atol, rtol, n);
    if (bad)
        mh_fail("%s: %zu of %zu values outside atol %g + rtol %g; worst [%zu]: got %.9g want "
                "%.9g",
                what, bad, n, atol, rtol, worst, (double)got[worst], (double)want[worst]);
    return bad == 0;
}

void mh_same_result(const char *what, nb_status st, const nb_result *r, const nb_model *m)
{
    char label[256];
    snprintf(label, sizeof label, "%s: status", what);
    mh_same_i64(label, st);
    snprintf(label, sizeof label, "%s: halt", what);
    mh_same_i64(label, r->halt);
    snprintf(label, sizeof label, "%s: iters", what);
    mh_same_i64(label, r->iters);
    snprintf(label, sizeof label, "%s: epochs", what);
    mh_same_i64(label, r->epochs);
    snprintf(label, sizeof label, "%s: why", what);
    mh_same_str(label, r->why);
    if (!m) return;
    size_t n = 0;
    float *theta = mh_params(m, &n);
    snprintf(label, sizeof label, "%s: parameters", what);
    mh_same_bits(label, theta, n);
    free(theta);
}

/* splitmix64: a small generator whose stream depends on the seed alone, so
 * every rank draws the same data. */
static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *s) /* [-1, 1) */
{
    return (double)(next(s) >> 11) * 0x1.0p-52 - 1.0;
}

nb_dataset *mh_regression(size_t rows, int inputs, int outputs, uint64_t seed, int flip)
{
    float *x = malloc(rows * (size_t)inputs * sizeof *x);
    float *y = malloc(rows * (size_t)outputs * sizeof *y);
    if (!x || !y) mh_abort("mh_regression: out of memory");
    uint64_t s = seed;
    for (size_t i = 0; i < rows; i++) {
        for (int j = 0; j < inputs; j++) x[i * (size_t)inputs + j] = (float)uniform(&s);
        for (int k = 0; k < outputs; k++) {
            double a = 0;
            for (int j = 0; j < inputs; j++) a += (double)x[i * (size_t)inputs + j] * (j + k + 1);
            double v = 0.8 * sin(0.7 * a + k) + 0.05 * uniform(&s);
            y[i * (size_t)outputs + k] = (float)(flip ? -v : v);
        }
    }
    nb_dataset *d = NULL;
    if (nb_dataset_from_arrays(rows, inputs, outputs, x, y, &d) != NB_OK)
        mh_abort("nb_dataset_from_arrays: %s", nb_last_error());
    free(x), free(y);
    return d;
}

nb_dataset *mh_classes(size_t rows, int inputs, int classes, uint64_t seed)
{
    float *x = malloc(rows * (size_t)inputs * sizeof *x);
    int32_t *l = malloc(rows * sizeof *l);
    if (!x || !l) mh_abort("mh_classes: out of memory");
    uint64_t s = seed;
    for (size_t i = 0; i < rows; i++) {
        double a = 0;
        for (int j = 0; j < inputs; j++) {
            x[i * (size_t)inputs + j] = (float)uniform(&s);
            a += x[i * (size_t)inputs + j] * (j % 2 ? 1.0 : -0.5);
        }
        /* The class from the angle of a projection, with 10% label noise. */
        int c = (int)floor((atan(a) / 3.14159265358979 + 0.5) * classes);
        if (c >= classes) c = classes - 1;
        if (c < 0) c = 0;
        if (uniform(&s) > 0.8) c = (int)(next(&s) % (uint64_t)classes);
        l[i] = c;
    }
    nb_dataset *d = NULL;
    if (nb_dataset_from_labels(rows, inputs, classes, x, l, &d) != NB_OK)
        mh_abort("nb_dataset_from_labels: %s", nb_last_error());
    free(x), free(l);
    return d;
}

nb_model *mh_model(int layers, const int *widths, const nb_act *acts, nb_loss loss,
                   uint64_t seed)
{
    nb_model *m = NULL;
    if (nb_model_create(H.be, layers, widths, acts, loss, seed, &m) != NB_OK)
        mh_abort("nb_model_create: %s", nb_last_error());
    return m;
}

float *mh_params(const nb_model *m, size_t *n)
{
    *n = nb_model_param_count(m);
    float *t = malloc(*n * sizeof *t);
    if (!t || nb_model_get_params(m, t, *n) != NB_OK) mh_abort("nb_model_get_params failed");
    return t;
}

nb_status mh_train(int dist, nb_model *m, const nb_dataset *train, const nb_dataset *val,
                   const nb_train_options *o, nb_result *r, nb_status want)
{
    memset(r, 0, sizeof *r);
    nb_status st = dist ? nb_train_dist(m, train, val, o, H.comm, r) : nb_train(m, train, val, o, r);
    if (st == want) return st;
    if (dist)
        mh_abort("nb_train_dist returned %s, want %s: %s", nb_status_str(st), nb_status_str(want),
                 nb_last_error());
    mh_fail("nb_train (the one-process reference) returned %s, want %s: %s", nb_status_str(st),
            nb_status_str(want), nb_last_error());
    return st;
}

void mh_close_loss(const char *what, double got, double want)
{
    mh_note("%s: loss %.9g on %d ranks, %.9g in one process (relative diff %.2g)", what, got,
            H.ranks, want, fabs(got - want) / fabs(want));
    if (!(fabs(got - want) <= 1e-6 * fabs(want)))
        mh_fail("%s: loss %.9g on %d ranks, %.9g in one process", what, got, H.ranks, want);
}
