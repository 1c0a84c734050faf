/*
 * bench_util.c — shapes, data, the correctness check and statistics shared
 * by the GEMM benchmarks (see bench_util.h).
 */
#include "bench_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu/ref.h"

static bench_shape shape(const char *id, int layer, const char *what, bool ta, bool tb, size_t M,
                         size_t N, size_t K)
{
    bench_shape s;
    snprintf(s.what, sizeof s.what, "%s L%d %s", id, layer, what);
    s.ta = ta, s.tb = tb, s.M = M, s.N = N, s.K = K;
    return s;
}

int bench_step_shapes(const bench_workload *w, bench_shape *out, int cap)
{
    /* One step only depends on the widths and the rows it takes; the
     * number of steps in a repetition does not matter here. */
    const int L = w->n_widths - 1;
    const size_t B = nb_bench_step_rows(w);
    int n = 0;
    /* Forward: Y_l (B, out) = X_l (B, in) · A_lᵀ, A_l stored (out, in). */
    for (int l = 0; l < L && n < cap; l++)
        out[n++] = shape(w->id, l + 1, "fwd", false, true, B, (size_t)w->widths[l + 1],
                         (size_t)w->widths[l]);
    /* Backward, last layer first, as backprop runs. */
    for (int l = L - 1; l >= 0; l--) {
        size_t in = (size_t)w->widths[l], outw = (size_t)w->widths[l + 1];
        /* ∇A_l (out, in) = D_lᵀ · X_l with D_l (B, out), X_l (B, in). */
        if (n < cap) out[n++] = shape(w->id, l + 1, "dW", true, false, outw, in, B);
        /* D_{l-1} (B, in) = D_l (B, out) · A_l (out, in); layer 1 needs none. */
        if (l > 0 && n < cap) out[n++] = shape(w->id, l + 1, "dX", false, false, B, in, outw);
    }
    return n;
}

const char *bench_layers_str(const bench_workload *w, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < w->n_widths && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%d", i ? "-" : "", w->widths[i]);
    return buf;
}

double bench_flops(const bench_shape *s) { return 2.0 * (double)s->M * (double)s->N * (double)s->K; }
size_t bench_a_floats(const bench_shape *s) { return s->M * s->K; }
size_t bench_b_floats(const bench_shape *s) { return s->K * s->N; }
size_t bench_c_floats(const bench_shape *s) { return s->M * s->N; }

/* splitmix64: a small, well-mixed seeded stream; the same on every platform. */
static uint64_t splitmix(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void bench_fill(float *x, size_t n, uint64_t seed)
{
    uint64_t st = seed * 0x2545f4914f6cdd1dull + 1;
    for (size_t i = 0; i < n; i++) /* 24 random bits: exact in float */
        x[i] = (float)((double)(splitmix(&st) >> 40) / 8388608.0 - 1.0);
}

float *bench_alloc(size_t n)
{
    void *p = NULL;
    size_t bytes = (n ? n : 1) * sizeof(float);
    bytes = (bytes + 63) / 64 * 64; /* aligned_alloc wants a multiple */
    p = aligned_alloc(64, bytes);
    return p;
}

/* op(A)[i][k] and op(B)[k][j], as host/backend.h defines them. */
static inline double at_a(const bench_shape *s, const float *A, size_t i, size_t k)
{
    return s->ta ? A[k * s->M + i] : A[i * s->K + k];
}
static inline double at_b(const bench_shape *s, const float *B, size_t k, size_t j)
{
    return s->tb ? B[j * s->K + k] : B[k * s->N + j];
}

/* The allowed error of one entry whose terms have absolute sum S. A float
 * dot product of K terms errs by at most about K·u·S in the worst case,
 * but rounding errors of a correct kernel behave like a random walk, about
 * √K·u·S; 8(√K + 1)·u·S leaves a wide margin over that while a missing or
 * doubled term (size ≈ S/K, i.e. a relative error ≫ √K·u for any K here)
 * still fails. u = 2⁻²⁴, float's unit round-off. */
static double tolerance(size_t K, double S)
{
    return 8.0 * (sqrt((double)K) + 1.0) * ldexp(1.0, -24) * S + 1e-30;
}

int bench_expect_make(const bench_shape *s, const float *A, const float *B, bench_expect *e)
{
    memset(e, 0, sizeof *e);
    double macs = (double)s->M * (double)s->N * (double)s->K;
    if (macs <= BENCH_FULL_CHECK_MACS) {
        /* Every entry: ref_gemm gives the value; ref_gemm on |A|, |B| gives
         * S, the absolute sum each tolerance scales with. */
        size_t na = bench_a_floats(s), nb = bench_b_floats(s), nc = bench_c_floats(s);
        float *absA = malloc(na * sizeof *absA), *absB = malloc(nb * sizeof *absB);
        float *ref = malloc(nc * sizeof *ref), *S = malloc(nc * sizeof *S);
        e->want = malloc(nc * sizeof *e->want);
        e->tol = malloc(nc * sizeof *e->tol);
        int ok = absA && absB && ref && S && e->want && e->tol;
        if (ok) {
            for (size_t i = 0; i < na; i++) absA[i] = fabsf(A[i]);
            for (size_t i = 0; i < nb; i++) absB[i] = fabsf(B[i]);
            ref_gemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, B, 0.0f, ref);
            ref_gemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, absA, absB, 0.0f, S);
            for (size_t i = 0; i < nc; i++) {
                e->want[i] = ref[i];
                e->tol[i] = tolerance(s->K, S[i]);
            }
            e->count = nc;
            e->full = 1;
        }
        free(absA), free(absB), free(ref), free(S);
        if (!ok) bench_expect_free(e);
        return ok ? 0 : -1;
    }
    /* A sample: the corners, then seeded random entries. */
    size_t cnt = BENCH_SAMPLE;
    e->index = malloc(cnt * sizeof *e->index);
    e->want = malloc(cnt * sizeof *e->want);
    e->tol = malloc(cnt * sizeof *e->tol);
    if (!e->index || !e->want || !e->tol) {
        bench_expect_free(e);
        return -1;
    }
    uint64_t st = 12345;
    for (size_t c = 0; c < cnt; c++) {
        size_t i, j;
        switch (c) {
        case 0: i = 0, j = 0; break;
        case 1: i = 0, j = s->N - 1; break;
        case 2: i = s->M - 1, j = 0; break;
        case 3: i = s->M - 1, j = s->N - 1; break;
        default: i = splitmix(&st) % s->M, j = splitmix(&st) % s->N; break;
        }
        double sum = 0.0, abs_sum = 0.0;
        for (size_t k = 0; k < s->K; k++) {
            double p = at_a(s, A, i, k) * at_b(s, B, k, j);
            sum += p;
            abs_sum += fabs(p);
        }
        e->index[c] = i * s->N + j;
        e->want[c] = (float)sum; /* rounded once, as ref_gemm stores it */
        e->tol[c] = tolerance(s->K, abs_sum);
    }
    e->count = cnt;
    return 0;
}

void bench_expect_free(bench_expect *e)
{
    free(e->index), free(e->want), free(e->tol);
    memset(e, 0, sizeof *e);
}

int bench_expect_check(const bench_shape *s, const bench_expect *e, const float *got,
                       double *worst_ratio, char *why, size_t why_n)
{
    double worst = 0.0;
    size_t wi = 0, wc = 0;
    int ok = 1;
    for (size_t c = 0; c < e->count; c++) {
        size_t idx = e->index ? e->index[c] : c;
        double g = got[idx], d = fabs(g - e->want[c]);
        /* NaN (an entry never written: C is pre-filled with NaN) fails too. */
        double r = isfinite(g) ? d / e->tol[c] : INFINITY;
        if (c == 0 || r > worst) worst = r, wi = idx, wc = c;
        if (!(r <= 1.0)) ok = 0;
    }
    if (worst_ratio) *worst_ratio = worst;
    if (why && why_n) {
        if (ok)
            snprintf(why, why_n, "ok (%s, worst err/tol %.2g)", e->full ? "all entries" : "sample",
                     worst);
        else
            snprintf(why, why_n, "MISMATCH at C[%zu][%zu]: got %.9g want %.9g (|err| %.3g > tol %.3g)",
                     wi / s->N, wi % s->N, (double)got[wi], e->want[wc],
                     fabs((double)got[wi] - e->want[wc]), e->tol[wc]);
    }
    return ok;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

bench_stat bench_stats(double *x, int n)
{
    bench_stat st = {NAN, NAN, NAN};
    if (n < 1) return st;
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    st.min = x[0];
    st.max = x[n - 1];
    st.median = n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
    return st;
}

double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

const char *bench_env(const char *name)
{
    const char *v = getenv(name);
    return v ? v : "(unset)";
}

void bench_print_openblas_env(FILE *f)
{
    fprintf(f, "OpenBLAS environment of this process: OPENBLAS_CORETYPE=%s OPENBLAS_L2_SIZE=%s "
               "(bench/README.md: unset both in the command that times OpenBLAS, e.g. "
               "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)\n",
            bench_env("OPENBLAS_CORETYPE"), bench_env("OPENBLAS_L2_SIZE"));
}

int bench_parse_ints(const char *s, int *out, int cap)
{
    int n = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 1 << 20 || n >= cap) return -1;
        out[n++] = (int)v;
        s = end;
        if (*s == ',') s++;
        else if (*s) return -1;
    }
    return n;
}
