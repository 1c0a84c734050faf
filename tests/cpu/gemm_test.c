/*
 * gemm_test.c — the cpu GEMM's kernels, for every instruction-set variant
 * this machine runs (the others are skipped, and say so): each path (plain
 * loops, dot products, packed) and transpose case against ref_gemm; the
 * fused epilogues (bias + activation, activation derivative, column sums)
 * against the composition of the reference ops; the same bits for any
 * thread count; and the vector sigmoid and tanh against libm in double
 * over a sweep of every 4096th float, with ±0, ±Inf and NaN.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu/cpu_backend.h"
#include "cpu/ref.h"

static const double U = 0x1p-24; /* float unit roundoff */

/* The AVX-512 variant's tile and vector shapes, compiled for this machine
 * (gemm_wide.c), so they are tested where AVX-512 itself is not. */
extern const nb_gemm_isa nb_gemm_isa_wide_test;
static const nb_gemm_isa *const variants[] = {&nb_gemm_isa_avx512, &nb_gemm_isa_avx2,
                                              &nb_gemm_isa_generic, &nb_gemm_isa_wide_test};
enum { N_VARIANTS = 4 };

static uint64_t rng_state = 12345;
static float randf(float lo, float hi)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (float)(rng_state >> 40) / (float)(1ull << 24);
}
static float *randv(size_t n, float lo, float hi)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++) v[i] = randf(lo, hi);
    return v;
}

/* The GEMM of variant v on a pool of `workers`; NULL (after saying why)
 * when this machine cannot run v. */
static nb_cpu_gemm *open_gemm(const nb_gemm_isa *v, int workers, nb_pool **pool)
{
    if (!v->usable()) {
        print_message("skipped: variant %s: this CPU or build cannot run it\n", v->name);
        return NULL;
    }
    nb_cpu_gemm *g = NULL;
    assert_int_equal(nb_pool_create(workers, pool), NB_OK);
    assert_int_equal(nb_cpu_gemm_create_for(*pool, v, &g), NB_OK);
    return g;
}

static void close_gemm(nb_cpu_gemm *g, nb_pool *pool)
{
    nb_cpu_gemm_free(g);
    nb_pool_free(pool);
}

/* C with guard zones of 64 floats either side, filled with a pattern. */
enum { GUARD = 64 };
static const float SENTINEL = -1234.5f;
static float *guarded(size_t n, const float *init)
{
    float *p = malloc((n + 2 * GUARD) * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n + 2 * GUARD; i++) p[i] = SENTINEL;
    memcpy(p + GUARD, init, n * sizeof *p);
    return p + GUARD;
}
static void check_guards(float *c, size_t n)
{
    for (size_t i = 0; i < GUARD; i++) {
        assert_true(c[-1 - (ptrdiff_t)i] == SENTINEL);
        assert_true(c[n + i] == SENTINEL);
    }
    free(c - GUARD);
}

/*
 * One product against ref_gemm. Tolerance, per element: a K-term float
 * dot product errs by at most γ_K Σ_k |a_k b_k| with γ_K ≈ K·u in any
 * summation order (FMA only tightens it); +2 covers the α and β roundings.
 */
static void check_product(nb_cpu_gemm *g, bool ta, bool tb, size_t M, size_t N, size_t K,
                          float alpha, float beta)
{
    float *A = randv(M * K, -1, 1), *B = randv(K * N, -1, 1), *C0 = randv(M * N, -1, 1);
    float *want = malloc((M * N + 1) * sizeof *want), *bound = malloc((M * N + 1) * sizeof *bound);
    float *absA = malloc((M * K + 1) * sizeof *absA), *absB = malloc((K * N + 1) * sizeof *absB);
    assert_true(want && bound && absA && absB);
    for (size_t i = 0; i < M * K; i++) absA[i] = fabsf(A[i]);
    for (size_t i = 0; i < K * N; i++) absB[i] = fabsf(B[i]);
    memcpy(want, C0, M * N * sizeof *C0);
    ref_gemm(ta, tb, M, N, K, alpha, A, B, beta, want);
    ref_gemm(ta, tb, M, N, K, 1.0f, absA, absB, 0.0f, bound);
    float *C = guarded(M * N, C0);
    assert_int_equal(nb_cpu_gemm_run(g, ta, tb, M, N, K, alpha, A, B, beta, C, NULL), NB_OK);
    for (size_t i = 0; i < M * N; i++) {
        double tol = (double)(K + 2) * U * fabs(alpha) * bound[i] + 2 * U * fabs(beta * C0[i]) + 1e-30;
        if (!(fabs((double)C[i] - want[i]) <= tol)) {
            print_error("%s ta=%d tb=%d %zux%zux%zu α=%g β=%g: [%zu] got %.9g want %.9g (tol %.3g)\n",
                        nb_cpu_gemm_isa(g)->name, ta, tb, M, N, K, (double)alpha, (double)beta, i,
                        (double)C[i], (double)want[i], tol);
            fail();
        }
    }
    check_guards(C, M * N);
    free(A), free(B), free(C0), free(want), free(bound), free(absA), free(absB);
}

/* Every path and transpose case, on sizes that are not multiples of any
 * tile (1, 7, 33, 257, …), across K-slice and block edges. */
static void test_products(void **state)
{
    (void)state;
    static const size_t shapes[][3] = {
        {1, 1, 1},    {3, 5, 7},      {7, 9, 33},     {33, 10, 257}, /* tiny, and N ≤ 16 */
        {257, 10, 64}, {64, 7, 513},  {16, 16, 16},   {33, 65, 129}, /* dot path (nt)     */
        {257, 301, 263}, {100, 1000, 33}, {513, 17, 700}, {6, 600, 1030},
    };
    for (int v = 0; v < N_VARIANTS; v++) {
        nb_pool *pool;
        nb_cpu_gemm *g = open_gemm(variants[v], 2, &pool);
        if (!g) continue;
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            for (int t = 0; t < 4; t++)
                check_product(g, t & 1, t & 2, shapes[s][0], shapes[s][1], shapes[s][2], 1.0f, 0.0f);
        check_product(g, false, true, 31, 17, 9, 0.5f, 1.0f);
        check_product(g, true, false, 131, 170, 90, -2.0f, 0.25f);
        check_product(g, false, true, 300, 10, 90, 1.5f, -1.0f); /* dot path with β */
        check_product(g, false, false, 7, 7, 7, 0.0f, 3.0f);     /* α = 0: only βC  */
        check_product(g, false, false, 9, 8, 0, 1.0f, 0.5f);     /* K = 0          */
        close_gemm(g, pool);
    }
}

/*
 * The epilogues against the reference ops applied one after another:
 *   BIAS_ACT  ref_gemm, then ref_bias_act;
 *   DACT      ref_gemm, then ref_act_backward with the outputs Y;
 *   column sums of the final C, against ref_col_sum of the reference C.
 * Tolerance: the product's bound (as above), carried through act, whose
 * slope is at most 1, plus 4 ulp of the result for the vector activation
 * (3 ulp measured at most, see simd.h) and 2 ulp for the final product;
 * column sums add M·u of Σ_i |C_ij| for the sum, on top of each term's.
 */
static void check_epilogue(nb_cpu_gemm *g, nb_epi_kind kind, nb_act act, bool ta, bool tb,
                           size_t M, size_t N, size_t K, bool with_bias)
{
    float *A = randv(M * K, -1, 1), *B = randv(K * N, -1, 1), *bias = randv(N, -1, 1);
    float *Y = randv(M * N, 0.01f, 0.99f); /* outputs inside every activation's range */
    float *absA = malloc((M * K + 1) * sizeof *absA), *absB = malloc((K * N + 1) * sizeof *absB);
    float *bound = malloc((M * N + 1) * sizeof *bound), *want = calloc(M * N + 1, sizeof *want);
    float *zero = calloc(M * N + 1, sizeof *zero), *cs = malloc((N + 1) * sizeof *cs);
    float *cs_want = malloc((N + 1) * sizeof *cs_want), *cs_bound = calloc(N + 1, sizeof *cs_bound);
    assert_true(absA && absB && bound && want && zero && cs && cs_want && cs_bound);
    if (act == NB_ACT_TANH)
        for (size_t i = 0; i < M * N; i++) Y[i] = 2.0f * Y[i] - 1.0f;
    for (size_t i = 0; i < M * K; i++) absA[i] = fabsf(A[i]);
    for (size_t i = 0; i < K * N; i++) absB[i] = fabsf(B[i]);
    ref_gemm(ta, tb, M, N, K, 1.0f, A, B, 0.0f, want);
    ref_gemm(ta, tb, M, N, K, 1.0f, absA, absB, 0.0f, bound);
    float *z = malloc((M * N + 1) * sizeof *z);
    assert_non_null(z);
    memcpy(z, want, M * N * sizeof *z);
    if (kind == NB_EPI_BIAS_ACT)
        ref_bias_act(act, M, N, with_bias ? bias : zero, want);
    else if (kind == NB_EPI_DACT)
        ref_act_backward(act, M * N, Y, want);
    nb_gemm_epi e = {.kind = kind, .act = act, .bias = with_bias ? bias : NULL, .Y = Y, .colsum = cs};
    float *C = guarded(M * N, zero);
    assert_int_equal(nb_cpu_gemm_run(g, ta, tb, M, N, K, 1.0f, A, B, 0.0f, C, &e), NB_OK);
    ref_col_sum(M, N, 0.0f, want, cs_want);
    for (size_t i = 0; i < M * N; i++) {
        double tol = (double)(K + 2) * U * bound[i] + 6 * U * fabs(want[i]) + 1e-30;
        if (kind == NB_EPI_BIAS_ACT && with_bias) tol += 2 * U * fabs(z[i] + bias[i % N]);
        cs_bound[i % N] += (float)(tol + (double)M * U * fabs(want[i]));
        if (!(fabs((double)C[i] - want[i]) <= tol)) {
            print_error("%s epilogue %d act %s ta=%d tb=%d %zux%zux%zu: [%zu] got %.9g want %.9g "
                        "(z %.9g, tol %.3g)\n", nb_cpu_gemm_isa(g)->name, kind, nb_act_name(act),
                        ta, tb, M, N, K, i, (double)C[i], (double)want[i], (double)z[i], tol);
            fail();
        }
    }
    for (size_t j = 0; j < N; j++)
        if (!(fabs((double)cs[j] - cs_want[j]) <= cs_bound[j] + 1e-30)) {
            print_error("%s column sum %zu: got %.9g want %.9g (tol %.3g)\n",
                        nb_cpu_gemm_isa(g)->name, j, (double)cs[j], (double)cs_want[j],
                        (double)cs_bound[j]);
            fail();
        }
    check_guards(C, M * N);
    free(A), free(B), free(bias), free(Y), free(absA), free(absB), free(bound), free(want);
    free(zero), free(cs), free(cs_want), free(cs_bound), free(z);
}

static void test_epilogues(void **state)
{
    (void)state;
    static const nb_act acts[] = {NB_ACT_SIGMOID, NB_ACT_TANH, NB_ACT_RELU, NB_ACT_IDENTITY};
    /* A forward layer (nt), a narrow output layer (the dot path), a
     * backward delta (nn), and a tiny one (plain loops). */
    static const size_t shapes[][4] = {{257, 301, 263, 2}, {300, 10, 90, 2}, {257, 129, 70, 0},
                                       {3, 5, 7, 2}};
    for (int v = 0; v < N_VARIANTS; v++) {
        nb_pool *pool;
        nb_cpu_gemm *g = open_gemm(variants[v], 2, &pool);
        if (!g) continue;
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            for (size_t a = 0; a < sizeof acts / sizeof *acts; a++) {
                bool tb = shapes[s][3] == 2;
                check_epilogue(g, NB_EPI_BIAS_ACT, acts[a], false, tb, shapes[s][0], shapes[s][1],
                               shapes[s][2], true);
                check_epilogue(g, NB_EPI_BIAS_ACT, acts[a], false, tb, shapes[s][0], shapes[s][1],
                               shapes[s][2], false);
                check_epilogue(g, NB_EPI_DACT, acts[a], false, tb, shapes[s][0], shapes[s][1],
                               shapes[s][2], false);
                check_epilogue(g, NB_EPI_NONE, acts[a], true, false, shapes[s][0], shapes[s][1],
                               shapes[s][2], false);
            }
        close_gemm(g, pool);
    }
}

/* Any thread count gives the same bits: products, epilogues, column sums. */
static void test_same_bits_any_threads(void **state)
{
    (void)state;
    const size_t M = 257, N = 301, K = 263;
    float *A = randv(M * K, -1, 1), *B = randv(K * N, -1, 1), *bias = randv(N, -1, 1);
    for (int v = 0; v < N_VARIANTS; v++) {
        float *first = NULL, *first_cs = NULL;
        for (int workers = 1; workers <= 4; workers++) {
            nb_pool *pool;
            nb_cpu_gemm *g = open_gemm(variants[v], workers, &pool);
            if (!g) break;
            float *C = malloc(2 * M * N * sizeof *C), *cs = malloc(2 * N * sizeof *cs);
            assert_true(C && cs);
            nb_gemm_epi e = {.kind = NB_EPI_BIAS_ACT, .act = NB_ACT_TANH, .bias = bias, .colsum = cs};
            assert_int_equal(nb_cpu_gemm_run(g, false, true, M, N, K, 0.5f, A, B, 0.0f, C, &e), NB_OK);
            e.colsum = cs + N;
            assert_int_equal(nb_cpu_gemm_run(g, true, false, M, N, M, 1.0f, A, C, 0.0f, C + M * N, &e),
                             NB_OK);
            if (!first) {
                first = C, first_cs = cs;
            } else {
                assert_memory_equal(C, first, 2 * M * N * sizeof *C);
                assert_memory_equal(cs, first_cs, 2 * N * sizeof *cs);
                free(C), free(cs);
            }
            close_gemm(g, pool);
        }
        free(first), free(first_cs);
    }
    free(A), free(B), free(bias);
}

/* The distance of got from want in units of want's float ulp. */
static double ulps(float got, double want)
{
    float w = (float)want;
    double ulp = (double)nextafterf(fabsf(w), INFINITY) - fabsf(w);
    return fabs((double)got - want) / ulp;
}

/*
 * The vector sigmoid and tanh against libm in double, over every 4096th
 * float bit pattern (1M values across the whole range) and the special
 * values. Bounds as simd.h states: 3 ulp each; σ values below the smallest
 * normal float are held to 1e-38 absolute instead.
 */
static void test_vector_math(void **state)
{
    (void)state;
    const size_t n = (size_t)1 << 20;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    assert_true(x && y);
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)(i << 12) | (uint32_t)(i & 0xfff);
        memcpy(&x[i], &bits, sizeof bits);
    }
    static const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 88.0f, -88.0f, 89.0f,
                                    -104.0f, 1e-30f, -1e-30f, 9.1f, -9.1f, 0.5f};
    for (int v = 0; v < N_VARIANTS; v++) {
        const nb_gemm_isa *isa = variants[v];
        if (!isa->usable()) {
            print_message("skipped: variant %s: this CPU or build cannot run it\n", isa->name);
            continue;
        }
        for (int which = 0; which < 2; which++) {
            nb_act act = which ? NB_ACT_TANH : NB_ACT_SIGMOID;
            isa->act_row(act, n, x, NULL, y);
            double worst = 0.0;
            size_t at = 0;
            for (size_t i = 0; i < n; i++) {
                if (isnan(x[i])) {
                    assert_true(isnan(y[i]));
                    continue;
                }
                double want = which ? tanh((double)x[i]) : 1.0 / (1.0 + exp(-(double)x[i]));
                double e = !which && want < 0x1p-126 ? (fabs(y[i] - want) <= 1e-38 ? 0.0 : 1e9)
                                                       : ulps(y[i], want);
                if (e > worst) worst = e, at = i;
            }
            print_message("%s %s: max %.2f ulp (at %.9g)\n", isa->name, nb_act_name(act), worst,
                          (double)x[at]);
            assert_true(worst <= 3.0);
            float out[sizeof special / sizeof *special];
            isa->act_row(act, sizeof special / sizeof *special, special, NULL, out);
            if (which) {
                assert_true(out[0] == 0.0f && !signbit(out[0]) && signbit(out[1]));
                assert_true(out[2] == 1.0f && out[3] == -1.0f && isnan(out[4]));
            } else {
                assert_true(out[0] == 0.5f && out[1] == 0.5f);
                assert_true(out[2] == 1.0f && out[3] == 0.0f && isnan(out[4]));
            }
        }
        /* relu lets NaN through, as the reference does. */
        float r[3] = {-1.0f, 2.0f, NAN}, o[3];
        isa->act_row(NB_ACT_RELU, 3, r, NULL, o);
        assert_true(o[0] == 0.0f && o[1] == 2.0f && isnan(o[2]));
    }
    free(x), free(y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_products),
        cmocka_unit_test(test_epilogues),
        cmocka_unit_test(test_same_bits_any_threads),
        cmocka_unit_test(test_vector_math),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
