/*
 * backend_fused_test.c — the fused GEMM (nb_be_gemm_epi) on the backend
 * named by NABLA_TEST_DEVICE, against the composition of the reference
 * ops it replaces: ref_gemm, then ref_bias_act (a layer's forward) or
 * ref_act_backward (the delta of the layer below), and ref_col_sum of the
 * result (the bias gradient), with β = 0 and 1 for the sums. Outputs and
 * sums sit between guard regions that must survive. A backend that does
 * not fuse runs the composition itself: the same test holds it too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "check.h"
#include "cpu/ref.h"
#include "ops_util.h"

/*
 * One fused product against its reference composition. Tolerance per
 * element: the product's float error γ_K Σ|a b| ((K + 2)·u of the |A||B|
 * product plus |β C_old|, any order), carried through the activation or derivative (slope
 * ≤ 1 for every activation here), plus 6 ulp of the result for the vector
 * activation (≤ 3 ulp measured) and the final roundings; column sums add
 * M·u of Σ_i |C_ij| for the float sum.
 */
static void check_fused_beta(nb_epi_kind kind, nb_act act, bool ta, bool tb, size_t M, size_t N,
                             size_t K, float beta, float colsum_beta)
{
    M = S(M), N = S(N), K = S(K);
    float *A = randv(M * K, -1, 1), *B = randv(K * N, -1, 1), *bias = randv(N, -1, 1);
    float *C0 = randv(M * N, -1, 1); /* C's old values: read when beta != 0 */
    float *Y = randv(M * N, 0.01f, 0.99f), *cs0 = randv(N, -1, 1);
    if (act == NB_ACT_TANH)
        for (size_t i = 0; i < M * N; i++) Y[i] = 2.0f * Y[i] - 1.0f;
    float *want = calloc(M * N, sizeof *want), *bound = calloc(M * N, sizeof *bound);
    float *absA = malloc(M * K * sizeof *absA), *absB = malloc(K * N * sizeof *absB);
    float *cs_want = malloc(N * sizeof *cs_want), *got = malloc(M * N * sizeof *got);
    float *cs_got = malloc(N * sizeof *cs_got);
    assert_true(want && bound && absA && absB && cs_want && got && cs_got);
    for (size_t i = 0; i < M * K; i++) absA[i] = fabsf(A[i]);
    for (size_t i = 0; i < K * N; i++) absB[i] = fabsf(B[i]);
    memcpy(want, C0, M * N * sizeof *want);
    ref_gemm(ta, tb, M, N, K, 1.0f, A, B, beta, want);
    ref_gemm(ta, tb, M, N, K, 1.0f, absA, absB, 0.0f, bound);
    for (size_t i = 0; i < M * N; i++) bound[i] += fabsf(beta * C0[i]); /* one more term */
    if (kind == NB_EPI_BIAS_ACT) ref_bias_act(act, M, N, bias, want);
    if (kind == NB_EPI_DACT) ref_act_backward(act, M * N, Y, want);
    memcpy(cs_want, cs0, N * sizeof *cs_want);
    ref_col_sum(M, N, colsum_beta, want, cs_want);

    gbuf gA = gnew(M * K, NB_F32), gB = gnew(K * N, NB_F32), gC = gnew(M * N, NB_F32);
    gbuf gb = gnew(N, NB_F32), gY = gnew(M * N, NB_F32), gs = gnew(N, NB_F32);
    gput(&gA, A), gput(&gB, B), gput(&gb, bias), gput(&gY, Y), gput(&gs, cs0), gput(&gC, C0);
    nb_be_epi e = {.kind = kind, .act = act, .bias = gv(&gb), .Y = gv(&gY), .colsum = gv(&gs),
                   .colsum_beta = colsum_beta};
    assert_int_equal(nb_be_gemm_epi(be, ta, tb, M, N, K, 1.0f, gv(&gA), gv(&gB), beta, gv(&gC), &e),
                     NB_OK);
    gget(&gC, got);
    gget(&gs, cs_got);
    double *cs_tol = calloc(N, sizeof *cs_tol);
    assert_non_null(cs_tol);
    for (size_t i = 0; i < M * N; i++) {
        double tol = (double)(K + 2) * U * bound[i] + 6 * U * fabs(want[i]) + 1e-30;
        if (kind == NB_EPI_BIAS_ACT) tol += 2 * U * (bound[i] + fabs(bias[i % N]));
        cs_tol[i % N] += tol + (double)M * U * fabs(want[i]);
        if (!(fabs((double)got[i] - want[i]) <= tol)) {
            print_error("fused %d %s ta=%d tb=%d %zux%zux%zu: [%zu] got %.9g want %.9g (tol %.3g)\n",
                        kind, nb_act_name(act), ta, tb, M, N, K, i, (double)got[i],
                        (double)want[i], tol);
            fail();
        }
    }
    for (size_t j = 0; j < N; j++) {
        double tol = cs_tol[j] + 2 * U * fabs(cs0[j]) + 1e-30;
        if (!(fabs((double)cs_got[j] - cs_want[j]) <= tol)) {
            print_error("fused column sum %zu (β %g): got %.9g want %.9g (tol %.3g)\n", j,
                        (double)colsum_beta, (double)cs_got[j], (double)cs_want[j], tol);
            fail();
        }
    }
    gfree(&gA), gfree(&gB), gfree(&gC), gfree(&gb), gfree(&gY), gfree(&gs);
    free(A), free(B), free(bias), free(Y), free(cs0), free(C0), free(want), free(bound), free(absA);
    free(absB), free(cs_want), free(got), free(cs_got), free(cs_tol);
}

static void check_fused(nb_epi_kind kind, nb_act act, bool ta, bool tb, size_t M, size_t N,
                        size_t K, float colsum_beta)
{
    check_fused_beta(kind, act, ta, tb, M, N, K, 0.0f, colsum_beta);
}

/* A layer's forward output: X · Wᵀ with bias and activation, wide (the
 * packed path), narrow (N ≤ 16: the dot-product path), and tiny. */
static void test_forward(void **state)
{
    NEED_BACKEND(state);
    static const nb_act acts[] = {NB_ACT_SIGMOID, NB_ACT_TANH, NB_ACT_RELU, NB_ACT_IDENTITY};
    for (size_t a = 0; a < sizeof acts / sizeof *acts; a++) {
        check_fused(NB_EPI_BIAS_ACT, acts[a], false, true, 257, 129, 65, 0.0f);
        check_fused(NB_EPI_BIAS_ACT, acts[a], false, true, 301, 10, 33, 0.0f);
        check_fused(NB_EPI_BIAS_ACT, acts[a], false, true, 3, 5, 7, 0.0f);
    }
}

/* The delta of the layer below: D · W with the derivative, and the bias
 * gradient as its column sums, overwritten (β 0) or added (β 1, a full
 * batch in chunks). */
static void test_backward(void **state)
{
    NEED_BACKEND(state);
    static const nb_act acts[] = {NB_ACT_SIGMOID, NB_ACT_TANH, NB_ACT_RELU, NB_ACT_IDENTITY};
    for (size_t a = 0; a < sizeof acts / sizeof *acts; a++) {
        check_fused(NB_EPI_DACT, acts[a], false, false, 257, 129, 10, 0.0f);
        check_fused(NB_EPI_DACT, acts[a], false, false, 131, 67, 33, 1.0f);
        check_fused(NB_EPI_DACT, acts[a], false, false, 2, 3, 4, 1.0f);
    }
    check_fused(NB_EPI_NONE, NB_ACT_IDENTITY, true, false, 70, 33, 129, 0.0f);
}

/* One row (batch 1): OpenCL's GEMV path, fused where the product is small
 * and composed where it is not; column sums of one row are the row. Also
 * the forward with its sums added (β 1), and the transposes no backend
 * fuses on the device (composed there). */
static void test_one_row(void **state)
{
    NEED_BACKEND(state);
    static const nb_act acts[] = {NB_ACT_SIGMOID, NB_ACT_TANH, NB_ACT_RELU, NB_ACT_IDENTITY};
    for (size_t a = 0; a < sizeof acts / sizeof *acts; a++) {
        check_fused(NB_EPI_BIAS_ACT, acts[a], false, true, 1, 8, 2, 1.0f);
        check_fused(NB_EPI_BIAS_ACT, acts[a], false, true, 1, 300, 257, 0.0f);
        check_fused(NB_EPI_DACT, acts[a], false, false, 1, 2, 8, 0.0f);
        check_fused(NB_EPI_DACT, acts[a], false, false, 1, 129, 300, 1.0f);
        check_fused(NB_EPI_BIAS_ACT, acts[a], false, true, 4, 8, 2, 1.0f);
        check_fused(NB_EPI_DACT, acts[a], true, true, 9, 7, 5, 1.0f);
    }
    check_fused(NB_EPI_NONE, NB_ACT_IDENTITY, false, true, 300, 3, 2, 1.0f);
}

/* The GEMM's own β = 1: the epilogue applies to α·AB + C_old, as the
 * composition would, on the tiled, small and one-row paths. */
static void test_gemm_beta(void **state)
{
    NEED_BACKEND(state);
    static const nb_act acts[] = {NB_ACT_SIGMOID, NB_ACT_TANH, NB_ACT_RELU, NB_ACT_IDENTITY};
    for (size_t a = 0; a < sizeof acts / sizeof *acts; a++) {
        check_fused_beta(NB_EPI_BIAS_ACT, acts[a], false, true, 131, 67, 33, 1.0f, 0.0f);
        check_fused_beta(NB_EPI_DACT, acts[a], false, false, 131, 67, 33, 1.0f, 1.0f);
        check_fused_beta(NB_EPI_BIAS_ACT, acts[a], false, true, 5, 3, 4, 1.0f, 1.0f);
        check_fused_beta(NB_EPI_DACT, acts[a], false, false, 1, 6, 3, 1.0f, 0.0f);
    }
}

/* Arguments the dispatch layer refuses, whichever backend. */
static void test_refused(void **state)
{
    NEED_BACKEND(state);
    gbuf g = gnew(64, NB_F32);
    nb_be_epi soft = {.kind = NB_EPI_BIAS_ACT, .act = NB_ACT_SOFTMAX, .bias = gv(&g)};
    assert_int_equal(nb_be_gemm_epi(be, false, true, 4, 4, 4, 1.0f, gv(&g), gv(&g), 0.0f,
                                    nb_view_at(&g.b, GUARD + 32), &soft), NB_ERR_ARG);
    nb_be_epi odd = {.kind = NB_EPI_NONE, .colsum = gv(&g), .colsum_beta = 0.5f};
    assert_int_equal(nb_be_gemm_epi(be, false, true, 4, 4, 4, 1.0f, gv(&g), gv(&g), 0.0f,
                                    nb_view_at(&g.b, GUARD + 32), &odd), NB_ERR_ARG);
    nb_be_epi far = {.kind = NB_EPI_DACT, .act = NB_ACT_TANH, .Y = nb_view_at(&g.b, g.b.n - 4)}; /* runs past the end */
    assert_int_equal(nb_be_gemm_epi(be, false, true, 4, 4, 4, 1.0f, gv(&g), gv(&g), 0.0f,
                                    nb_view_at(&g.b, GUARD + 32), &far), NB_ERR_ARG);
    gfree(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward),
        cmocka_unit_test(test_backward),
        cmocka_unit_test(test_one_row),
        cmocka_unit_test(test_gemm_beta),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
