/*
 * gradcheck_test.c — the library's loss and backprop gradient
 * (nb_model_loss_grad, cpu backend, float32) against an independent
 * double-precision reference (mlp_double.c) and central finite
 * differences of it, on small random networks for every activation and
 * both losses; a directional-derivative check; guards against a check
 * that passes trivially; a test that the comparison has teeth; and a
 * dataset larger than the model's 512-row evaluation chunk.
 *
 * Not tested here: training, the backend ops one by one, OpenCL.
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
#include "mlp_double.h"
#include "nabla.h"
#include "rng.h"

/* ------------------------------------------------------------ tolerances */

/*
 * Finite-difference step. Central differences have truncation error
 * (h²/6)|∂³Φ| and round-off error ≈ u_d·|Φ|·c/h with u_d = 1.1e-16 and c
 * (a few hundred flops per Φ) ≲ 10. Third derivatives here are O(10) and
 * Φ = O(1), so h = 1e-6 (scaled by |θ_j| when that exceeds 1) gives
 * ≈ 2e-12 + 1e-9: about 1e-9 in all, far below every tolerance below
 * (the largest FD-vs-double-backprop gap measured is 4e-10).
 */
#define FD_H 1e-6

/*
 * (a) float32 library gradient vs the double FD gradient. Each gradient
 * component is a mean over rows of products along a path of ≤ 3 layers of
 * width ≤ 9; float32 rounds each step by u_f = 6e-8 and a component's error
 * is bounded by ≈ (number of roundings, ~50) · u_f · Σ|terms| ≲ 3e-6 ·
 * Σ|terms|, with Σ|terms| = O(1). So atol 1e-5 (3× that bound, for terms
 * that cancel) and rtol 1e-3. The worst error measured over all cases
 * here is 2.2e-7 (printed per case as "max |err|"). Teeth: a sign error in any component with |g| > 5e-6,
 * a missing factor 2 in any with |g| > 2e-5, and a 1% error in any with
 * |g| > 1.2e-3 exceed the bound; test_comparison_has_teeth shows it.
 */
#define LIB_ATOL 1e-5
#define LIB_RTOL 1e-3

/*
 * (b) double backprop vs double FD: only the FD error (≈ 1e-9, see FD_H)
 * separates them, so atol 2e-8 (20× that) and rtol 1e-7.
 */
#define REF_ATOL 2e-8
#define REF_RTOL 1e-7

/*
 * The library's Φ vs the double Φ at the same θ. The library computes the
 * outputs in float32 (relative error ≲ 50 u_f = 3e-6 of the output's size)
 * and the per-row loss from them in double, then keeps the running sum in
 * a float (one more u_f per chunk). For MSE Φ = mean Σ e², so an output
 * error δ moves Φ by ≈ mean 2Σ|e|δ; for XENT a logit error δ moves it by
 * ≤ 2δ. With outputs, residuals and Φ all O(1) here (Φ ≤ 2.7, printed)
 * that is a few 1e-6; atol 2e-5 and rtol 1e-5 leave ~5× on top. The
 * measured err/bound is ≤ 0.004 (printed per case).
 */
#define LOSS_ATOL 2e-5
#define LOSS_RTOL 1e-5

/*
 * Relu kinks: Φ is not differentiable where a relu pre-activation z is 0,
 * and FD across a kink measures a one-sided mixture. A step of size h (or
 * along a unit u) moves each z by at most h·‖∂z/∂θ‖, which is O(10·h) =
 * 1e-5 for |x| ≤ 1 and the weights drawn below. Points where some relu z
 * is within RELU_MARGIN = 1e-3 (~100× that) of 0 are redrawn, so every FD
 * stencil stays on one smooth piece; rather than trust the estimate, every
 * stencil point is checked to keep all relu |z| > RELU_MARGIN/2. The
 * float32 library's z (error ~1e-6) then has the reference's sign too.
 */
#define RELU_MARGIN 1e-3

/* (d) guards: ‖∇Φ‖ must exceed GRAD_NORM_MIN, and at least half of the
 * components must exceed 1e-4 in size — where a 10% error exceeds the
 * bound of (a) (0.1|g| > LIB_ATOL + LIB_RTOL|g| ⇔ |g| > 1.01e-4). */
#define GRAD_NORM_MIN 1e-3 /* 100× LIB_ATOL: the point is far from stationary */
#define COMPONENT_MIN 1.1e-4
#define COMPONENT_FRACTION 0.5

/* ---------------------------------------------------------- comparison */

/* Element-wise |got − want| ≤ atol + rtol·|want| for doubles: the number of
 * violations (NaN counts as one). Prints the worst when there are any and
 * loud is set; *worst_ratio gets max err/bound when not NULL. */
static size_t count_outside(const double *got, const double *want, size_t n, double atol,
                            double rtol, const char *what, int loud, double *worst_ratio)
{
    size_t bad = 0, worst = 0;
    double wr = 0.0;
    for (size_t i = 0; i < n; i++) {
        double bound = atol + rtol * fabs(want[i]), err = fabs(got[i] - want[i]);
        double r = isnan(err) ? INFINITY : err / bound;
        if (!(err <= bound)) bad++;
        if (r > wr || i == 0) {
            wr = r;
            worst = i;
        }
    }
    if (bad && loud)
        print_message("%s: %zu of %zu outside atol %g + rtol %g; worst [%zu]: got %.12g want "
                      "%.12g\n", what, bad, n, atol, rtol, worst, got[worst], want[worst]);
    if (worst_ratio) *worst_ratio = wr;
    return bad;
}

/* ----------------------------------------------------------- fixtures */

enum { MAX_LAYERS = 3 };

typedef struct net_case {
    int n_layers;
    int widths[MAX_LAYERS + 1];
    nb_act acts[MAX_LAYERS];
    nb_loss loss;
    size_t rows;
    uint64_t seed;
} net_case;

/* One network at one random θ on one random dataset, with the library's and
 * the reference's loss and gradient, and the FD gradient. */
typedef struct fixture {
    mlpd_spec spec;
    size_t n, rows;       /* |θ|, samples                                */
    float *x;             /* (rows, w0)                                  */
    float *y;             /* (rows, wL): targets, one-hot for XENT       */
    int32_t *labels;      /* (rows) for XENT, else NULL                  */
    double *theta;        /* (n) θ: float values held as doubles         */
    float *g_lib;         /* (n) library ∇Φ                              */
    double *g_ref, *g_fd; /* (n) double backprop and FD ∇Φ               */
    double loss_lib, loss_ref;
} fixture;

static float uniform_pm(nb_rng *r, double a) /* uniform in [−a, a) */
{
    return (float)((2.0 * nb_rng_uniform(r) - 1.0) * a);
}

static void describe(const net_case *c, char *buf, size_t size)
{
    int k = snprintf(buf, size, "%s ", nb_loss_name(c->loss));
    for (int l = 0; l <= c->n_layers && k > 0 && (size_t)k < size; l++)
        k += snprintf(buf + k, size - (size_t)k, l ? "-%d" : "%d", c->widths[l]);
    for (int l = 0; l < c->n_layers && k > 0 && (size_t)k < size; l++)
        k += snprintf(buf + k, size - (size_t)k, " %s", nb_act_name(c->acts[l]));
}

/* Draw θ, x and targets from the case's seed (NB_STREAM_TEST); redraw from
 * the same stream while a relu pre-activation is within RELU_MARGIN of 0
 * or a relu unit is dead on every row. */
static void draw(const net_case *c, fixture *f)
{
    nb_rng r;
    const int in = c->widths[0], out = c->widths[c->n_layers];
    nb_rng_seed(&r, c->seed, NB_STREAM_TEST);
    for (int attempt = 1;; attempt++) {
        size_t o = 0;
        for (int l = 0; l < c->n_layers; l++) {
            /* weights ±1.5/√fan-in keep every z = O(1); biases ±0.5 */
            double a = 1.5 / sqrt((double)c->widths[l]);
            for (int i = 0; i < c->widths[l + 1] * c->widths[l]; i++)
                f->theta[o++] = uniform_pm(&r, a);
            for (int i = 0; i < c->widths[l + 1]; i++) f->theta[o++] = uniform_pm(&r, 0.5);
        }
        for (size_t i = 0; i < f->rows * (size_t)in; i++) f->x[i] = uniform_pm(&r, 1.0);
        if (c->loss == NB_LOSS_XENT) {
            for (size_t i = 0; i < f->rows; i++) f->labels[i] = (int32_t)nb_rng_below(&r, (uint64_t)out);
            mlpd_one_hot(f->rows, out, f->labels, f->y);
        } else {
            for (size_t i = 0; i < f->rows * (size_t)out; i++) f->y[i] = uniform_pm(&r, 1.0);
        }
        /* A relu unit that is off on every row blocks all gradient through
         * it: a valid but uninformative point (the 1-1-1 relu nets have no
         * other path), so it is redrawn as well. */
        double margin = mlpd_relu_margin(&f->spec, f->theta, f->rows, f->x);
        int dead = mlpd_relu_dead(&f->spec, f->theta, f->rows, f->x);
        assert_true(dead >= 0);
        if (margin > RELU_MARGIN && dead == 0) return;
        print_message("  relu: pre-activation %.2g (kink margin %g), %d dead units; redraw %d\n",
                      margin, RELU_MARGIN, dead, attempt);
        assert_true(attempt < 50);
    }
}

/* Central differences of the double Φ along every coordinate. */
static void fd_gradient(fixture *f)
{
    double *t = malloc(f->n * sizeof *t);
    assert_non_null(t);
    memcpy(t, f->theta, f->n * sizeof *t);
    for (size_t j = 0; j < f->n; j++) {
        double h = FD_H * fmax(1.0, fabs(f->theta[j]));
        double tp = f->theta[j] + h, tm = f->theta[j] - h;
        /* evidence for RELU_MARGIN's claim: no z came near 0 at the stencil */
        t[j] = tp;
        double fp = mlpd_loss(&f->spec, t, f->rows, f->x, f->y);
        assert_true(mlpd_relu_margin(&f->spec, t, f->rows, f->x) > 0.5 * RELU_MARGIN);
        t[j] = tm;
        double fm = mlpd_loss(&f->spec, t, f->rows, f->x, f->y);
        assert_true(mlpd_relu_margin(&f->spec, t, f->rows, f->x) > 0.5 * RELU_MARGIN);
        t[j] = f->theta[j];
        f->g_fd[j] = (fp - fm) / (tp - tm); /* tp − tm: the step actually taken */
    }
    free(t);
}

static void fixture_free(fixture *f)
{
    free(f->x);
    free(f->y);
    free(f->labels);
    free(f->theta);
    free(f->g_lib);
    free(f->g_ref);
    free(f->g_fd);
    memset(f, 0, sizeof *f);
}

/* Build the fixture for case c on backend be; with_fd also fills g_fd. */
static void fixture_make(nb_backend *be, const net_case *c, int with_fd, fixture *f)
{
    const int in = c->widths[0], out = c->widths[c->n_layers];
    memset(f, 0, sizeof *f);
    f->spec = (mlpd_spec){c->n_layers, c->widths, c->acts, c->loss};
    f->n = mlpd_param_count(&f->spec);
    f->rows = c->rows;
    f->x = malloc(f->rows * (size_t)in * sizeof *f->x);
    f->y = malloc(f->rows * (size_t)out * sizeof *f->y);
    f->labels = c->loss == NB_LOSS_XENT ? malloc(f->rows * sizeof *f->labels) : NULL;
    f->theta = malloc(f->n * sizeof *f->theta);
    f->g_lib = malloc(f->n * sizeof *f->g_lib);
    f->g_ref = malloc(f->n * sizeof *f->g_ref);
    f->g_fd = malloc(f->n * sizeof *f->g_fd);
    float *theta_f = malloc(f->n * sizeof *theta_f);
    assert_true(f->x && f->y && f->theta && f->g_lib && f->g_ref && f->g_fd && theta_f);
    assert_true(c->loss != NB_LOSS_XENT || f->labels);
    draw(c, f);

    nb_model *m = NULL;
    nb_dataset *d = NULL;
    assert_int_equal(nb_model_create(be, c->n_layers, c->widths, c->acts, c->loss, 1, &m), NB_OK);
    assert_int_equal(nb_model_param_count(m), f->n);
    for (size_t j = 0; j < f->n; j++) theta_f[j] = (float)f->theta[j]; /* exact: drawn as floats */
    assert_int_equal(nb_model_set_params(m, theta_f, f->n), NB_OK);
    if (c->loss == NB_LOSS_XENT)
        assert_int_equal(nb_dataset_from_labels(f->rows, in, out, f->x, f->labels, &d), NB_OK);
    else
        assert_int_equal(nb_dataset_from_arrays(f->rows, in, out, f->x, f->y, &d), NB_OK);
    assert_int_equal(nb_model_loss_grad(m, d, &f->loss_lib, f->g_lib), NB_OK);
    nb_dataset_free(d);
    nb_model_free(m);
    free(theta_f);

    f->loss_ref = mlpd_loss_grad(&f->spec, f->theta, f->rows, f->x, f->y, f->g_ref);
    assert_true(isfinite(f->loss_ref));
    if (with_fd) fd_gradient(f);
}

/* ------------------------------------------------------------- checks */

/* (a)–(e) for one case. */
static void check_case(nb_backend *be, const net_case *c)
{
    char name[96];
    fixture f;
    describe(c, name, sizeof name);
    print_message("%-34s rows %zu seed %llu\n", name, c->rows, (unsigned long long)c->seed);
    fixture_make(be, c, 1, &f);

    /* (d) guards: a zero or tiny gradient would pass (a) trivially. */
    double norm = 0.0;
    size_t big = 0;
    for (size_t j = 0; j < f.n; j++) {
        norm += f.g_fd[j] * f.g_fd[j];
        big += fabs(f.g_fd[j]) > COMPONENT_MIN;
    }
    norm = sqrt(norm);
    print_message("  |θ| %zu  Φ %.3g  ‖∇Φ‖ %.3g  %zu components > %g\n", f.n, f.loss_ref, norm,
                  big, COMPONENT_MIN);
    assert_true(norm > GRAD_NORM_MIN);
    assert_true((double)big >= COMPONENT_FRACTION * (double)f.n);

    /* Loss values agree (see LOSS_ATOL). */
    double r_loss, r_ref, r_lib, r_dir = 0.0;
    assert_int_equal(count_outside(&f.loss_lib, &f.loss_ref, 1, LOSS_ATOL, LOSS_RTOL, "Φ", 1,
                                   &r_loss), 0);

    /* (b) the reference's own backprop agrees with FD of its own Φ. */
    assert_int_equal(count_outside(f.g_ref, f.g_fd, f.n, REF_ATOL, REF_RTOL, "double backprop",
                                   1, &r_ref), 0);

    /* (a) the library's float32 gradient. The count is the same test as
     * assert_close, which also names the worst component on failure. */
    assert_close(f.g_lib, f.g_fd, f.n, LIB_ATOL, LIB_RTOL);
    double *gl = malloc(f.n * sizeof *gl);
    assert_non_null(gl);
    for (size_t j = 0; j < f.n; j++) gl[j] = f.g_lib[j];
    assert_int_equal(count_outside(gl, f.g_fd, f.n, LIB_ATOL, LIB_RTOL, "library", 1, &r_lib), 0);

    /* (c) directional derivatives along random unit vectors u (not uniform
     * on the sphere; any unit u serves). If (a) holds per component then
     * |∇Φ_lib·u − D_uΦ| ≤ Σ_j (LIB_ATOL + LIB_RTOL|g_j|)|u_j|, plus the FD
     * error (≈ 1e-9, see FD_H); the double gradient gets the (b) bound.
     * The u stream's seed is the printed case seed xor a constant. */
    nb_rng r;
    nb_rng_seed(&r, c->seed ^ 0xd1ec7104ull, NB_STREAM_TEST);
    double *u = malloc(f.n * sizeof *u), *tp = malloc(f.n * sizeof *tp),
           *tm = malloc(f.n * sizeof *tm);
    assert_true(u && tp && tm);
    for (int k = 0; k < 4; k++) {
        double nu = 0.0;
        for (size_t j = 0; j < f.n; j++) {
            u[j] = uniform_pm(&r, 1.0);
            nu += u[j] * u[j];
        }
        nu = sqrt(nu);
        assert_true(nu > 0.0);
        double lib = 0.0, ref = 0.0, b_lib = 1e-9, b_ref = 1e-9;
        for (size_t j = 0; j < f.n; j++) {
            u[j] /= nu;
            tp[j] = f.theta[j] + FD_H * u[j];
            tm[j] = f.theta[j] - FD_H * u[j];
            lib += gl[j] * u[j];
            ref += f.g_ref[j] * u[j];
            b_lib += (LIB_ATOL + LIB_RTOL * fabs(f.g_fd[j])) * fabs(u[j]);
            b_ref += (REF_ATOL + REF_RTOL * fabs(f.g_fd[j])) * fabs(u[j]);
        }
        assert_true(mlpd_relu_margin(&f.spec, tp, f.rows, f.x) > 0.5 * RELU_MARGIN);
        assert_true(mlpd_relu_margin(&f.spec, tm, f.rows, f.x) > 0.5 * RELU_MARGIN);
        double want = (mlpd_loss(&f.spec, tp, f.rows, f.x, f.y) -
                       mlpd_loss(&f.spec, tm, f.rows, f.x, f.y)) / (2.0 * FD_H);
        double rd;
        assert_int_equal(count_outside(&lib, &want, 1, b_lib, 0.0, "D_uΦ library", 1, &rd), 0);
        r_dir = fmax(r_dir, rd);
        assert_int_equal(count_outside(&ref, &want, 1, b_ref, 0.0, "D_uΦ double", 1, NULL), 0);
    }
    double e_lib = 0.0, e_ref = 0.0;
    for (size_t j = 0; j < f.n; j++) {
        e_lib = fmax(e_lib, fabs(gl[j] - f.g_fd[j]));
        e_ref = fmax(e_ref, fabs(f.g_ref[j] - f.g_fd[j]));
    }
    print_message("  err/bound: Φ %.2g  double %.2g  library %.2g  directional %.2g;"
                  " max |err|: double %.1e library %.1e\n", r_loss, r_ref, r_lib, r_dir, e_ref,
                  e_lib);
    free(u);
    free(tp);
    free(tm);
    free(gl);
    fixture_free(&f);
}

static nb_backend *cpu(void)
{
    nb_backend *be = NULL;
    assert_int_equal(nb_backend_create("cpu", &be), NB_OK);
    return be;
}

/* The four architectures every activation runs on (widths, layers). */
static const int archs[4][MAX_LAYERS + 1] = {{3, 5, 2}, {4, 7, 3, 2}, {1, 1, 1}, {2, 9, 1}};
static const int arch_layers[4] = {2, 3, 2, 2};
static const nb_act elem_acts[4] = {NB_ACT_SIGMOID, NB_ACT_TANH, NB_ACT_RELU, NB_ACT_IDENTITY};

/* MSE: every activation as hidden and as output activation, each of the
 * 16 pairs on one architecture (cycling through the four, so every pair
 * of architecture and output activation occurs); the second hidden layer
 * of 4-7-3-2 takes the next activation in the list. */
static void test_gradcheck_mse(void **state)
{
    (void)state;
    nb_backend *be = cpu();
    for (int h = 0; h < 4; h++)
        for (int o = 0; o < 4; o++) {
            int a = (h + o) % 4;
            net_case c = {arch_layers[a], {0}, {0}, NB_LOSS_MSE, 7, 1000u + (uint64_t)(4 * h + o)};
            memcpy(c.widths, archs[a], sizeof c.widths);
            for (int l = 0; l < c.n_layers - 1; l++) c.acts[l] = elem_acts[(h + l) % 4];
            c.acts[c.n_layers - 1] = elem_acts[o];
            check_case(be, &c);
        }
    nb_backend_free(be);
}

/* XENT: softmax output, each hidden activation, 2 to 4 classes; also a
 * single softmax layer (multinomial logistic regression). */
static void test_gradcheck_xent(void **state)
{
    (void)state;
    static const int xarchs[4][MAX_LAYERS + 1] = {{3, 5, 2}, {4, 7, 3, 3}, {1, 2, 3}, {2, 9, 4}};
    nb_backend *be = cpu();
    for (int h = 0; h < 4; h++) {
        net_case c = {arch_layers[h], {0}, {0}, NB_LOSS_XENT, 9, 2000u + (uint64_t)h};
        memcpy(c.widths, xarchs[h], sizeof c.widths);
        for (int l = 0; l < c.n_layers - 1; l++) c.acts[l] = elem_acts[(h + l) % 4];
        c.acts[c.n_layers - 1] = NB_ACT_SOFTMAX;
        check_case(be, &c);
    }
    net_case one = {1, {5, 3}, {NB_ACT_SOFTMAX}, NB_LOSS_XENT, 11, 2100};
    check_case(be, &one);
    nb_backend_free(be);
}

/* (f) The comparison of (a) must fail on a wrong gradient: a 1% error in
 * the largest component, one flipped sign, a factor 2 on one layer's
 * biases, and the whole gradient negated each give violations, while the
 * true library gradient gives none. */
static void test_comparison_has_teeth(void **state)
{
    (void)state;
    nb_backend *be = cpu();
    net_case c = {3, {4, 7, 3, 2}, {NB_ACT_TANH, NB_ACT_SIGMOID, NB_ACT_IDENTITY}, NB_LOSS_MSE, 7,
                  3000};
    fixture f;
    print_message("teeth: mse 4-7-3-2 tanh sigmoid identity, seed %llu\n",
                  (unsigned long long)c.seed);
    fixture_make(be, &c, 1, &f);
    double *g = malloc(f.n * sizeof *g);
    assert_non_null(g);
    size_t big = 0, mid = 0;
    for (size_t j = 0; j < f.n; j++)
        if (fabs(f.g_fd[j]) > fabs(f.g_fd[big])) big = j;
    /* mid: the smallest component still above COMPONENT_MIN */
    for (size_t j = 0; j < f.n; j++)
        if (fabs(f.g_fd[j]) > COMPONENT_MIN &&
            (fabs(f.g_fd[mid]) <= COMPONENT_MIN || fabs(f.g_fd[j]) < fabs(f.g_fd[mid])))
            mid = j;
    print_message("  largest |g| %.3g at [%zu], smallest above %g: %.3g at [%zu]\n",
                  fabs(f.g_fd[big]), big, COMPONENT_MIN, fabs(f.g_fd[mid]), mid);
    assert_true(fabs(f.g_fd[big]) > 1.2e-3);
    assert_true(fabs(f.g_fd[mid]) > COMPONENT_MIN);

#define RESET() for (size_t j = 0; j < f.n; j++) g[j] = f.g_lib[j]
    RESET();
    assert_int_equal(count_outside(g, f.g_fd, f.n, LIB_ATOL, LIB_RTOL, "true", 0, NULL), 0);
    g[big] *= 1.01;
    assert_int_equal(count_outside(g, f.g_fd, f.n, LIB_ATOL, LIB_RTOL, "1%", 0, NULL), 1);
    RESET();
    g[mid] = -g[mid];
    assert_int_equal(count_outside(g, f.g_fd, f.n, LIB_ATOL, LIB_RTOL, "sign", 0, NULL), 1);
    RESET();
    size_t b2 = 4 * 7 + 7 + 3 * 7; /* offset of b_2 (3) */
    for (size_t j = b2; j < b2 + 3; j++) g[j] *= 2.0;
    size_t nb2 = 0;
    for (size_t j = b2; j < b2 + 3; j++) nb2 += fabs(f.g_fd[j]) > 2e-5;
    assert_true(nb2 > 0);
    assert_true(count_outside(g, f.g_fd, f.n, LIB_ATOL, LIB_RTOL, "2x", 0, NULL) >= nb2);
    RESET();
    for (size_t j = 0; j < f.n; j++) g[j] = -g[j];
    size_t expect = 0;
    for (size_t j = 0; j < f.n; j++) expect += fabs(f.g_fd[j]) > 5e-6;
    assert_true(count_outside(g, f.g_fd, f.n, LIB_ATOL, LIB_RTOL, "neg", 0, NULL) >= expect);
#undef RESET
    free(g);
    fixture_free(&f);
    nb_backend_free(be);
}

/*
 * More rows than the model's 512-row chunk: 1100 = 512 + 512 + 76, so the
 * gradient is accumulated over three chunks and the last is partial. Any
 * chunk dropped or overwritten changes ∇Φ by ≥ 7% (76/1100) and Φ alike.
 * Compared with the double backprop (itself checked by FD above). The
 * tolerances of (a) still apply: sums now run over 1100 rows, but float32
 * pairwise-free summation errors grow like √N·u_f·mean|term| ≈ 2e-6 for
 * the O(1) terms here, inside atol 1e-5.
 */
static void test_gradcheck_many_rows(void **state)
{
    (void)state;
    nb_backend *be = cpu();
    net_case cases[2] = {
        {2, {2, 3, 1}, {NB_ACT_TANH, NB_ACT_IDENTITY}, NB_LOSS_MSE, 1100, 4000},
        {2, {3, 4, 3}, {NB_ACT_SIGMOID, NB_ACT_SOFTMAX}, NB_LOSS_XENT, 1100, 4001},
    };
    for (int i = 0; i < 2; i++) {
        char name[96];
        fixture f;
        describe(&cases[i], name, sizeof name);
        print_message("%-34s rows %zu seed %llu\n", name, cases[i].rows,
                      (unsigned long long)cases[i].seed);
        fixture_make(be, &cases[i], 0, &f);
        double norm = 0.0, r;
        for (size_t j = 0; j < f.n; j++) norm += f.g_ref[j] * f.g_ref[j];
        assert_true(sqrt(norm) > GRAD_NORM_MIN);
        assert_int_equal(count_outside(&f.loss_lib, &f.loss_ref, 1, LOSS_ATOL, LOSS_RTOL, "Φ", 1,
                                       &r), 0);
        assert_close(f.g_lib, f.g_ref, f.n, LIB_ATOL, LIB_RTOL);
        double *gl = malloc(f.n * sizeof *gl), rg;
        assert_non_null(gl);
        for (size_t j = 0; j < f.n; j++) gl[j] = f.g_lib[j];
        assert_int_equal(count_outside(gl, f.g_ref, f.n, LIB_ATOL, LIB_RTOL, "library", 1, &rg), 0);
        print_message("  Φ %.6g vs %.6g; err/bound: Φ %.2g  gradient %.2g\n", f.loss_lib,
                      f.loss_ref, r, rg);
        free(gl);
        fixture_free(&f);
    }
    nb_backend_free(be);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradcheck_mse),
        cmocka_unit_test(test_gradcheck_xent),
        cmocka_unit_test(test_comparison_has_teeth),
        cmocka_unit_test(test_gradcheck_many_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
