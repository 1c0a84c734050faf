/*
 * backend_ops_test.c — every backend op against the reference (cpu/ref.c).
 *
 * Runs on the backend named by NABLA_TEST_DEVICE (default "cpu"), so the
 * same checks cover every backend. Shapes are odd on purpose (1, 7, 31, 33,
 * 127, 257, 1000+), including K = 1 and single rows. Each output lives in
 * the middle of a larger buffer whose guard regions hold a sentinel bit
 * pattern; every op must leave the guards untouched. Inputs sit at
 * non-zero offsets too, so view offsets are exercised.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/backend_opts.h"
#include "backend.h"
#include "check.h"
#include "cpu/ref.h"
#include "ops_util.h"
#include "rng.h"
#include "schedule.h"

/* ----------------------------------------------------------------- GEMM */

/*
 * Tolerance: the classic bound for a K-term float dot product is
 * |err| ≤ γ_K · Σ_k |a_k b_k| with γ_K ≈ K·u, any summation order. We check
 * each element against (K + 2)·u·|α|·(|op(A)|·|op(B)|)_ij + 2u·|β C0_ij|,
 * computed from the actual data, plus a floor of 1e-30 for exact zeros.
 * The "+2" covers the final scaling and β term roundings.
 */
static void check_gemm(bool ta, bool tb, size_t M, size_t N, size_t K, float alpha, float beta)
{
    M = S(M), N = S(N), K = S(K);
    float *A = randv(M * K, -1, 1), *B = randv(K * N, -1, 1), *C = randv(M * N, -1, 1);
    float *want = malloc(M * N * sizeof *want), *got = malloc(M * N * sizeof *got);
    float *absA = malloc(M * K * sizeof *absA), *absB = malloc(K * N * sizeof *absB);
    float *bound = malloc(M * N * sizeof *bound);
    assert_true(want && got && absA && absB && bound);
    for (size_t i = 0; i < M * K; i++) absA[i] = fabsf(A[i]);
    for (size_t i = 0; i < K * N; i++) absB[i] = fabsf(B[i]);
    memcpy(want, C, M * N * sizeof *C);
    ref_gemm(ta, tb, M, N, K, alpha, A, B, beta, want);
    ref_gemm(ta, tb, M, N, K, 1.0f, absA, absB, 0.0f, bound);

    gbuf gA = gnew(M * K, NB_F32), gB = gnew(K * N, NB_F32), gC = gnew(M * N, NB_F32);
    gput(&gA, A);
    gput(&gB, B);
    gput(&gC, C);
    assert_int_equal(nb_be_gemm(be, ta, tb, M, N, K, alpha, gv(&gA), gv(&gB), beta, gv(&gC)), NB_OK);
    gget(&gC, got);
    size_t bad = 0, worst = 0;
    double worst_ratio = 0.0;
    for (size_t i = 0; i < M * N; i++) {
        double tol = (double)(K + 2) * U * fabs(alpha) * bound[i] + 2 * U * fabs(beta * C[i]) + 1e-30;
        double err = fabs((double)got[i] - want[i]);
        if (!(err <= tol)) {
            bad++;
            if (!(err / tol <= worst_ratio)) worst_ratio = err / tol, worst = i;
        }
    }
    if (bad) {
        print_error("gemm ta=%d tb=%d M=%zu N=%zu K=%zu: %zu bad, worst [%zu] got %.9g want %.9g\n",
                    ta, tb, M, N, K, bad, worst, (double)got[worst], (double)want[worst]);
        fail();
    }
    gfree(&gA);
    gfree(&gB);
    gfree(&gC);
    free(A), free(B), free(C), free(want), free(got), free(absA), free(absB), free(bound);
}

static void test_gemm_shapes(void **state)
{
    NEED_BACKEND(state);
    static const size_t sizes[] = {1, 7, 31, 33, 127};
    for (int t = 0; t < 4; t++)
        for (size_t a = 0; a < 5; a++)
            for (size_t b = 0; b < 5; b++) {
                size_t M = sizes[a], N = sizes[b], K = sizes[(a + b + (size_t)t) % 5];
                check_gemm(t & 1, t & 2, M, N, K, 1.0f, 0.0f);
            }
}

static void test_gemm_k1_batch1_and_large(void **state)
{
    NEED_BACKEND(state);
    for (int t = 0; t < 4; t++) {
        check_gemm(t & 1, t & 2, 257, 33, 1, 1.0f, 0.0f);     /* K = 1 */
        check_gemm(t & 1, t & 2, 1, 257, 127, 1.0f, 0.0f);    /* batch 1 (GEMV shape) */
        check_gemm(t & 1, t & 2, 257, 1, 33, 1.0f, 0.0f);     /* one output column */
        check_gemm(t & 1, t & 2, 33, 1031, 1000, 1.0f, 1.0f); /* crosses every block edge */
    }
}

static void test_gemm_alpha_beta(void **state)
{
    NEED_BACKEND(state);
    check_gemm(false, true, 31, 17, 9, 0.5f, 1.0f);
    check_gemm(true, false, 31, 17, 9, -2.0f, 0.25f);
    check_gemm(false, false, 7, 7, 7, 0.0f, 3.0f); /* α = 0: only βC */
}

/* --------------------------------------------------------------- gather */

static void test_gather_rows(void **state)
{
    NEED_BACKEND(state);
    const size_t src_rows = S(257), cols = 33, rows = S(127);
    float *src = randv(src_rows * cols, -5, 5), *got = malloc(rows * cols * sizeof *got);
    int32_t *idx = malloc(rows * sizeof *idx);
    double *want = malloc(rows * cols * sizeof *want);
    assert_true(got && idx && want);
    for (size_t i = 0; i < rows; i++) idx[i] = (int32_t)nb_rng_below(&rng, src_rows);
    idx[0] = 0, idx[rows - 1] = (int32_t)src_rows - 1; /* both ends of src */
    float *wf = malloc(rows * cols * sizeof *wf);
    ref_gather_rows(rows, cols, src, idx, wf);
    for (size_t i = 0; i < rows * cols; i++) want[i] = wf[i];
    gbuf gs = gnew(src_rows * cols, NB_F32), gi = gnew(rows, NB_I32), gd = gnew(rows * cols, NB_F32);
    gput(&gs, src);
    gput(&gi, idx);
    assert_int_equal(nb_be_gather_rows(be, rows, cols, src_rows, gv(&gs), gv(&gi), gv(&gd)), NB_OK);
    gget(&gd, got);
    assert_close(got, want, rows * cols, 0.0, 0.0); /* a copy: exact */
    gfree(&gs), gfree(&gi), gfree(&gd);
    free(src), free(got), free(idx), free(want), free(wf);
}

/* ------------------------------------------------------------ bias + act */

/*
 * Tolerance: the backend adds y + b in float (one rounding, relative u of
 * |y|+|b| ≤ 8u absolute here) and evaluates the activation in float (a few
 * ulps in libm); the reference does both in double. Through σ' ≤ 1 that is
 * ≤ ~1e-6 absolute, and a few ulps relative: atol 1e-6, rtol 1e-6.
 */
static void check_bias_act(nb_act act, size_t rows, size_t cols, const float *special, size_t ns)
{
    rows = S(rows), cols = S(cols);
    float *Y = randv(rows * cols, -4, 4), *bias = randv(cols, -4, 4);
    for (size_t i = 0; i < ns && i < rows * cols; i++) Y[i] = special[i], bias[i % cols] = 0.0f;
    float *wf = malloc(rows * cols * sizeof *wf), *got = malloc(rows * cols * sizeof *got);
    assert_true(wf && got);
    memcpy(wf, Y, rows * cols * sizeof *Y);
    ref_bias_act(act, rows, cols, bias, wf);
    double *want = to_double(wf, rows * cols);
    gbuf gy = gnew(rows * cols, NB_F32), gb = gnew(cols, NB_F32);
    gput(&gy, Y);
    gput(&gb, bias);
    assert_int_equal(nb_be_bias_act(be, act, rows, cols, gv(&gb), gv(&gy)), NB_OK);
    gget(&gy, got);
    assert_close(got, want, rows * cols, 1e-6, 1e-6);
    gfree(&gy), gfree(&gb);
    free(Y), free(bias), free(wf), free(got), free(want);
}

static void test_bias_act(void **state)
{
    NEED_BACKEND(state);
    static const size_t shapes[][2] = {{1, 1}, {1, 257}, {7, 33}, {127, 31}, {33, 1000}};
    for (int a = 0; a <= (int)NB_ACT_SOFTMAX; a++)
        for (size_t s = 0; s < 5; s++) check_bias_act((nb_act)a, shapes[s][0], shapes[s][1], NULL, 0);
}

static void test_bias_act_special_values(void **state)
{
    NEED_BACKEND(state);
    /* NaN, ±Inf, ±0 and the edge of exp's range: must match the reference
     * (NaN stays NaN, saturation is exact, nothing overflows). */
    const float sp[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 88.0f, -88.0f, 100.0f, -100.0f,
                        1e-30f, -1e-30f, FLT_MAX, -FLT_MAX};
    size_t ns = sizeof sp / sizeof *sp;
    for (int a = 0; a < (int)NB_ACT_SOFTMAX; a++) check_bias_act((nb_act)a, 1, ns, sp, ns);
    /* Softmax rows: large equal logits and large gaps stay finite. */
    const float big[] = {1e4f, 1e4f, 1e4f, -1e4f, 88.0f, -88.0f, 0.0f, 100.0f};
    check_bias_act(NB_ACT_SOFTMAX, 1, 8, big, 8);
}

/* --------------------------------------------------------- act backward */

static void test_act_backward(void **state)
{
    NEED_BACKEND(state);
    const size_t n = S(1031);
    for (int a = 0; a < (int)NB_ACT_SOFTMAX; a++) {
        /* Outputs in the activation's range; relu also gets exact zeros. */
        float *Y = randv(n, a == NB_ACT_TANH ? -1.0f : 0.0f, a == NB_ACT_IDENTITY ? 5.0f : 1.0f);
        float *dY = randv(n, -3, 3), *wf = malloc(n * sizeof *wf), *got = malloc(n * sizeof *got);
        assert_true(wf && got);
        if (a == NB_ACT_RELU)
            for (size_t i = 0; i < n; i += 3) Y[i] = 0.0f;
        memcpy(wf, dY, n * sizeof *dY);
        ref_act_backward((nb_act)a, n, Y, wf);
        double *want = to_double(wf, n);
        gbuf gy = gnew(n, NB_F32), gd = gnew(n, NB_F32);
        gput(&gy, Y);
        gput(&gd, dY);
        assert_int_equal(nb_be_act_backward(be, (nb_act)a, n, gv(&gy), gv(&gd)), NB_OK);
        gget(&gd, got);
        /* Two float products vs one double product: ≤ 3u relative; the
         * 1e-7 absolute floor covers products that cancel near zero. */
        assert_close(got, want, n, 1e-7, 4 * U);
        gfree(&gy), gfree(&gd);
        free(Y), free(dY), free(wf), free(got), free(want);
    }
}

/* ----------------------------------------------------------------- loss */

static void check_loss(nb_loss loss, size_t rows, size_t cols, float logit_shift)
{
    rows = S(rows), cols = S(cols);
    float *out = randv(rows * cols, -3, 3), *t = calloc(rows * cols, sizeof *t);
    assert_non_null(t);
    for (size_t r = 0; r < rows; r++) {
        if (loss == NB_LOSS_XENT)
            t[r * cols + nb_rng_below(&rng, cols)] = 1.0f;
        else
            for (size_t c = 0; c < cols; c++) t[r * cols + c] = nb_rng_uniform(&rng);
        for (size_t c = 0; c < cols && loss == NB_LOSS_XENT; c++) out[r * cols + c] += logit_shift;
    }
    float scale = 1.0f / (float)rows, acc_w = 0.5f, acc_g = 0.5f; /* acc adds to what is there */
    float *dw = malloc(rows * cols * sizeof *dw), *dg = malloc(rows * cols * sizeof *dg);
    assert_true(dw && dg);
    ref_loss(loss, rows, cols, scale, out, t, dw, &acc_w);
    gbuf go = gnew(rows * cols, NB_F32), gt = gnew(rows * cols, NB_F32);
    gbuf gd = gnew(rows * cols, NB_F32), ga = gnew(1, NB_F32);
    gput(&go, out), gput(&gt, t), gput(&ga, &acc_g);
    assert_int_equal(nb_be_loss(be, loss, rows, cols, scale, gv(&go), gv(&gt), gv(&gd), gv(&ga)), NB_OK);
    gget(&gd, dg);
    gget(&ga, &acc_g);
    double *want = to_double(dw, rows * cols), wl = acc_w;
    /* Gradient entries are O(scale); float softmax/exp and the shifted
     * logits cost a few ulps of the logit magnitude: atol 1e-6·scale·(1+|shift|·u·1e3). */
    assert_close(dg, want, rows * cols, 1e-6 * scale * (1.0 + fabs(logit_shift) * 1e-4), 1e-5);
    /* The summed loss: float accumulation of rows·cols terms, rtol 1e-5. */
    assert_close(&acc_g, &wl, 1, 1e-6, 1e-5);
    gfree(&go), gfree(&gt), gfree(&gd), gfree(&ga);
    free(out), free(t), free(dw), free(dg), free(want);
}

static void test_loss(void **state)
{
    NEED_BACKEND(state);
    static const size_t shapes[][2] = {{1, 1}, {1, 10}, {7, 3}, {33, 10}, {257, 7}, {1000, 2}};
    for (size_t s = 0; s < 6; s++) {
        check_loss(NB_LOSS_MSE, shapes[s][0], shapes[s][1], 0.0f);
        check_loss(NB_LOSS_XENT, shapes[s][0], shapes[s][1], 0.0f);
    }
}

/* Cross-entropy from logits is shift-invariant: shifting every logit by c
 * changes neither the loss nor its gradient; equal logits give log K. */
static void test_xent_stability(void **state)
{
    NEED_BACKEND(state);
    const float shifts[] = {1e2f, 1e4f};
    for (int i = 0; i < 2; i++) check_loss(NB_LOSS_XENT, 33, 10, shifts[i]);
    const size_t K = 10;
    float z[10], t[10] = {0}, d[10], acc = 0.0f;
    for (size_t c = 0; c < K; c++) z[c] = 1e8f;
    t[3] = 1.0f;
    gbuf go = gnew(K, NB_F32), gt = gnew(K, NB_F32), gd = gnew(K, NB_F32), ga = gnew(1, NB_F32);
    gput(&go, z), gput(&gt, t), gput(&ga, &acc);
    assert_int_equal(nb_be_loss(be, NB_LOSS_XENT, 1, K, 1.0f, gv(&go), gv(&gt), gv(&gd), gv(&ga)), NB_OK);
    gget(&ga, &acc);
    gget(&gd, d);
    double want = log((double)K);
    assert_close(&acc, &want, 1, 0.0, 1e-6); /* log 10 to float precision */
    for (size_t c = 0; c < K; c++) {
        double w = (c == 3 ? 0.1 - 1.0 : 0.1);
        assert_close(&d[c], &w, 1, 1e-7, 1e-6);
    }
    gfree(&go), gfree(&gt), gfree(&gd), gfree(&ga);
}

/* -------------------------------------------------------- col sum, sumsq */

static void test_col_sum(void **state)
{
    NEED_BACKEND(state);
    static const size_t shapes[][2] = {{1, 1}, {1, 33}, {257, 1}, {127, 31}, {1000, 7}};
    for (size_t s = 0; s < 5; s++) {
        size_t rows = S(shapes[s][0]), cols = S(shapes[s][1]);
        for (int beta = 0; beta <= 1; beta++) {
            float *dY = randv(rows * cols, -1, 1), *db = randv(cols, -1, 1);
            float *wf = malloc(cols * sizeof *wf), *got = malloc(cols * sizeof *got);
            assert_true(wf && got);
            memcpy(wf, db, cols * sizeof *db);
            ref_col_sum(rows, cols, (float)beta, dY, wf);
            double *want = to_double(wf, cols);
            gbuf gd = gnew(rows * cols, NB_F32), gb = gnew(cols, NB_F32);
            gput(&gd, dY), gput(&gb, db);
            assert_int_equal(nb_be_col_sum(be, rows, cols, (float)beta, gv(&gd), gv(&gb)), NB_OK);
            gget(&gb, got);
            /* rows + 1 float additions of |terms| ≤ 1: γ_rows·rows bound. */
            assert_close(got, want, cols, (double)(rows + 1) * (double)(rows + 1) * U, 0.0);
            gfree(&gd), gfree(&gb);
            free(dY), free(db), free(wf), free(got), free(want);
        }
    }
}

static void test_sum_sq(void **state)
{
    NEED_BACKEND(state);
    static const size_t sizes[] = {1, 7, 33, 257, 100003};
    for (size_t s = 0; s < 5; s++) {
        size_t n = S(sizes[s]);
        float *x = randv(n, -2, 2), got;
        double want = ref_sum_sq(n, x);
        gbuf gx = gnew(n, NB_F32), go = gnew(1, NB_F32);
        gput(&gx, x);
        assert_int_equal(nb_be_sum_sq(be, n, gv(&gx), gv(&go)), NB_OK);
        gget(&go, &got);
        /* Non-negative terms: relative error ≤ γ_n; n·u ≤ 6e-3 at 1e5. */
        assert_close(&got, &want, 1, 0.0, (double)n * U + 2 * U);
        gfree(&gx), gfree(&go);
        free(x);
    }
}

/* -------------------------------------------------- update, fill, copy */

/*
 * Every optimizer, three steps in a row (so momentum and Adam state carry
 * over), with and without weight decay and clipping, against ref_update.
 * Tolerance: θ, m, v are O(1); each step is a handful of float operations
 * (the reference rounds once from double, the backend after each op, and
 * Adam's sqrt and division add a few ulps), so after three steps 16u
 * relative and 16u absolute bound them.
 */
static void check_update(nb_optim kind, double wd, double clip)
{
    const size_t n = S(10007);
    float *th = randv(n, -1, 1), *g = randv(n, -1, 1), *st = randv(2 * n, 0, 1);
    float *wth = malloc(n * sizeof *wth), *wst = malloc(2 * n * sizeof *wst);
    float *got = malloc(2 * n * sizeof *got);
    assert_true(wth && wst && got);
    memcpy(wth, th, n * sizeof *th);
    memcpy(wst, st, 2 * n * sizeof *st);
    float g2 = ref_sum_sq(n, g);
    nb_schedule sch;
    nb_schedule_default(&sch);
    sch.optim = kind, sch.weight_decay = wd, sch.clip_norm = clip;
    gbuf gt = gnew(n, NB_F32), gg = gnew(n, NB_F32), gs = gnew(2 * n, NB_F32), gn = gnew(1, NB_F32);
    gbuf gbad = gnew(1, NB_I32);
    int32_t zero = 0, flag;
    gput(&gt, th), gput(&gg, g), gput(&gs, st), gput(&gn, &g2), gput(&gbad, &zero);
    for (long t = 1; t <= 3; t++) {
        nb_optim_step step = nb_optim_make_step(&sch, 0.05, t);
        ref_update(&step, n, wth, g, wst, g2);
        assert_int_equal(nb_be_update(be, &step, n, gv(&gt), gv(&gg), gv(&gs), gv(&gn), gv(&gbad)), NB_OK);
    }
    double *want = to_double(wth, n);
    gget(&gt, got);
    assert_close(got, want, n, 16 * U, 16 * U);
    free(want);
    size_t k = (size_t)nb_optim_state_per_param(kind);
    if (k > 0) {
        want = to_double(wst, k * n);
        gget(&gs, got);
        assert_close(got, want, k * n, 16 * U, 16 * U);
        free(want);
    }
    gget(&gbad, &flag);
    assert_int_equal(flag, 0); /* every θ finite: the flag stays clear */
    gfree(&gt), gfree(&gg), gfree(&gs), gfree(&gn), gfree(&gbad);
    free(th), free(g), free(st), free(wth), free(wst), free(got);
}

static void test_update(void **state)
{
    NEED_BACKEND(state);
    for (int kind = 0; kind <= (int)NB_OPT_ADAMW; kind++) {
        check_update((nb_optim)kind, 0.0, 0.0);
        check_update((nb_optim)kind, 0.01, 0.0);
        check_update((nb_optim)kind, 0.0, 0.5); /* ‖g‖ ≈ 58 here: clipping is active */
    }
}

/* A step that makes one parameter infinite sets the flag. */
static void test_update_flags_nonfinite(void **state)
{
    NEED_BACKEND(state);
    const size_t n = 33;
    float th[33], g[33];
    for (size_t i = 0; i < n; i++) th[i] = 1.0f, g[i] = 0.5f;
    g[17] = -3e38f; /* θ − α g overflows for α = 10 */
    gbuf gt = gnew(n, NB_F32), gg = gnew(n, NB_F32), gbad = gnew(1, NB_I32);
    int32_t zero = 0, flag = 0;
    gput(&gt, th), gput(&gg, g), gput(&gbad, &zero);
    nb_schedule sch;
    nb_schedule_default(&sch);
    nb_optim_step step = nb_optim_make_step(&sch, 10.0, 1);
    nb_view none = {NULL, 0};
    assert_int_equal(nb_be_update(be, &step, n, gv(&gt), gv(&gg), none, none, gv(&gbad)), NB_OK);
    gget(&gbad, &flag);
    assert_int_equal(flag, 1);
    gfree(&gt), gfree(&gg), gfree(&gbad);
}

static void test_fill_copy(void **state)
{
    NEED_BACKEND(state);
    const size_t n = 257;
    float *x = randv(n, -1, 1), got[257];
    double want[257];
    gbuf ga = gnew(n, NB_F32), gb = gnew(n, NB_F32);
    gput(&ga, x);
    assert_int_equal(nb_be_copy(be, n, gv(&ga), gv(&gb)), NB_OK);
    gget(&gb, got);
    for (size_t i = 0; i < n; i++) want[i] = x[i];
    assert_close(got, want, n, 0.0, 0.0);
    assert_int_equal(nb_be_fill(be, n, -2.5f, gv(&gb)), NB_OK);
    gget(&gb, got);
    for (size_t i = 0; i < n; i++) want[i] = -2.5;
    assert_close(got, want, n, 0.0, 0.0);
    gfree(&ga), gfree(&gb);
    free(x);
}

/* Two uploads in flight at once, each from its own host memory: each
 * buffer receives its source whole, and after the wait the sources may
 * change without reaching the buffers. A ticket still in use takes no
 * second upload, and a bad view is refused before anything starts. */
static void test_write_async(void **state)
{
    NEED_BACKEND(state);
    const size_t n = 100003;
    float *x = randv(n, -1, 1), *y = randv(n, -1, 1);
    float *want_x = malloc(n * sizeof *want_x), *want_y = malloc(n * sizeof *want_y);
    float *got = malloc(n * sizeof *got);
    assert_non_null(want_x), assert_non_null(want_y), assert_non_null(got);
    memcpy(want_x, x, n * sizeof *x);
    memcpy(want_y, y, n * sizeof *y);
    nb_buf a = {0}, b = {0};
    assert_int_equal(nb_be_alloc(be, &a, n, NB_F32), NB_OK);
    assert_int_equal(nb_be_alloc(be, &b, n, NB_F32), NB_OK);
    void *ta = NULL, *tb = NULL, *tc = NULL;
    assert_int_equal(nb_be_write_async(be, &a, 0, x, n, &ta), NB_OK);
    assert_int_equal(nb_be_write_async(be, &b, 0, y, n, &tb), NB_OK);
    if (ta) assert_int_equal(nb_be_write_async(be, &b, 0, y, n, &ta), NB_ERR_ARG);
    assert_int_equal(nb_be_write_async(be, &a, n - 1, x, 2, &tc), NB_ERR_ARG);
    assert_null(tc);
    assert_int_equal(nb_be_write_wait(be, &ta), NB_OK);
    assert_int_equal(nb_be_write_wait(be, &tb), NB_OK);
    assert_null(ta), assert_null(tb);
    assert_int_equal(nb_be_write_wait(be, &tc), NB_OK); /* nothing in flight: no-op */
    for (size_t i = 0; i < n; i++) x[i] = y[i] = 7.0f;
    assert_int_equal(nb_be_read(be, &a, 0, got, n), NB_OK);
    assert_memory_equal(got, want_x, n * sizeof *got);
    assert_int_equal(nb_be_read(be, &b, 0, got, n), NB_OK);
    assert_memory_equal(got, want_y, n * sizeof *got);
    nb_be_free(be, &a), nb_be_free(be, &b);
    free(x), free(y), free(want_x), free(want_y), free(got);
}

/* Borrowed host memory: where the backend can (the cpu, OpenCL CPU
 * devices), ops read it and freeing the buffer leaves the caller's memory
 * alone (a free of it would be a double free under the sanitizers);
 * elsewhere the call says it cannot, and the caller uploads instead. */
static void test_borrow(void **state)
{
    NEED_BACKEND(state);
    const size_t n = 33;
    float *x = randv(n, -1, 1), got[33];
    nb_buf b;
    nb_status st = nb_be_borrow(be, &b, n, NB_F32, x);
    if (st == NB_ERR_UNSUPPORTED) {
        assert_non_null(strstr(nb_last_error(), "nb_be_borrow"));
        assert_null(b.handle);
        free(x);
        return;
    }
    assert_int_equal(st, NB_OK);
    gbuf gy = gnew(n, NB_F32);
    assert_int_equal(nb_be_copy(be, n, nb_view_at(&b, 0), gv(&gy)), NB_OK);
    gget(&gy, got);
    assert_memory_equal(got, x, n * sizeof *x);
    nb_be_free(be, &b);
    assert_null(b.handle);
    gfree(&gy);
    free(x);
    assert_int_equal(nb_be_borrow(be, &b, n, NB_F32, NULL), NB_ERR_ARG);
}

/* The cpu GEMM splits large products over threads, its row blocks handed
 * to whichever thread is free; each output is still summed by one thread
 * in the same order, so any thread count gives the same bits. Odd sizes
 * make the row shares and the edges uneven; 8 threads on a small machine
 * make the threads take turns. */
static void test_cpu_gemm_threads_agree(void **state)
{
    NEED_BACKEND(state); /* its cpu backends take NABLA_CPU_ISA too: skipped with the reason */
    const size_t M = 257, N = 301, K = 263;
    float *a = randv(M * K, -1, 1), *b = randv(K * N, -1, 1);
    /* room for both results: nn (M, N), then tn (K, N) */
    const size_t nc = (M + K) * N;
    enum { RUNS = 4 };
    const char *threads[RUNS] = {"1", "2", "3", "8"};
    float *got[RUNS];
    for (int t = 0; t < RUNS; t++) {
        got[t] = malloc(nc * sizeof *got[t]);
        assert_non_null(got[t]);
        setenv("NABLA_THREADS", threads[t], 1); /* read when the backend is made */
        nb_backend *cpu = NULL;
        assert_int_equal(nb_cli_backend_create("cpu", &cpu), NB_OK);
        nb_buf ba, bb, bc;
        assert_int_equal(nb_be_alloc(cpu, &ba, M * K, NB_F32), NB_OK);
        assert_int_equal(nb_be_alloc(cpu, &bb, K * N, NB_F32), NB_OK);
        assert_int_equal(nb_be_alloc(cpu, &bc, nc, NB_F32), NB_OK);
        assert_int_equal(nb_be_write(cpu, &ba, 0, a, M * K), NB_OK);
        assert_int_equal(nb_be_write(cpu, &bb, 0, b, K * N), NB_OK);
        /* nn: (M, K)·(K, N); tn: (M, K)ᵀ·(M, N) from the same buffers */
        assert_int_equal(nb_be_gemm(cpu, false, false, M, N, K, 0.5f, nb_view_at(&ba, 0),
                                    nb_view_at(&bb, 0), 0.0f, nb_view_at(&bc, 0)),
                         NB_OK);
        assert_int_equal(nb_be_gemm(cpu, true, false, K, N, M, 0.5f, nb_view_at(&ba, 0),
                                    nb_view_at(&bb, 0), 0.0f, nb_view_at(&bc, M * N)),
                         NB_OK);
        assert_int_equal(nb_be_read(cpu, &bc, 0, got[t], nc), NB_OK);
        nb_be_free(cpu, &ba), nb_be_free(cpu, &bb), nb_be_free(cpu, &bc);
        nb_backend_free(cpu);
    }
    unsetenv("NABLA_THREADS");
    for (int t = 1; t < RUNS; t++) assert_memory_equal(got[0], got[t], nc * sizeof *got[0]);
    for (int t = 0; t < RUNS; t++) free(got[t]);
    free(a), free(b);
}

/* ------------------------------------------------- dispatch validation */

static void test_dispatch_rejects_bad_views(void **state)
{
    NEED_BACKEND(state);
    gbuf a = gnew(10, NB_F32), i = gnew(4, NB_I32);
    nb_view past = nb_view_at(&a.b, a.b.n - 3);
    /* C extent beyond the buffer, inputs of the wrong type, overlap. */
    assert_int_equal(nb_be_gemm(be, false, false, 2, 2, 2, 1.0f, gv(&a), gv(&a), 0.0f, past), NB_ERR_ARG);
    assert_non_null(strstr(nb_last_error(), "nb_be_gemm"));
    assert_int_equal(nb_be_fill(be, 4, 0.0f, gv(&i)), NB_ERR_ARG);
    assert_int_equal(nb_be_gemm(be, false, false, 2, 2, 2, 1.0f, gv(&a), gv(&a), 0.0f, gv(&a)), NB_ERR_ARG);
    assert_int_equal(nb_be_bias_act(be, (nb_act)99, 1, 1, gv(&a), gv(&a)), NB_ERR_ARG);
    assert_int_equal(nb_be_col_sum(be, 0, 3, 0.0f, gv(&a), gv(&a)), NB_ERR_ARG);
    assert_int_equal(nb_be_act_backward(be, NB_ACT_SOFTMAX, 4, gv(&a), gv(&a)), NB_ERR_ARG);
    gfree(&a), gfree(&i);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_shapes),
        cmocka_unit_test(test_gemm_k1_batch1_and_large),
        cmocka_unit_test(test_gemm_alpha_beta),
        cmocka_unit_test(test_gather_rows),
        cmocka_unit_test(test_bias_act),
        cmocka_unit_test(test_bias_act_special_values),
        cmocka_unit_test(test_act_backward),
        cmocka_unit_test(test_loss),
        cmocka_unit_test(test_xent_stability),
        cmocka_unit_test(test_col_sum),
        cmocka_unit_test(test_sum_sq),
        cmocka_unit_test(test_update),
        cmocka_unit_test(test_update_flags_nonfinite),
        cmocka_unit_test(test_fill_copy),
        cmocka_unit_test(test_write_async),
        cmocka_unit_test(test_borrow),
        cmocka_unit_test(test_cpu_gemm_threads_agree),
        cmocka_unit_test(test_dispatch_rejects_bad_views),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
