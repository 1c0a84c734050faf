/*
 * gradcheck_api_test.c — nb_gradcheck, the library's own gradient check:
 *   - PASS on correct networks for every activation and both losses, with
 *     its double reference agreeing with the tests' independent one
 *     (mlp_double.c) and with the model's standardisation applied;
 *   - FAIL under its perturbation hook, with the reported error the size
 *     of the perturbation, and PASS below rtol as documented;
 *   - FAIL with a reason on an all-zero gradient (dead relu units);
 *   - relu kinks: a pre-activation exactly at 0 is detected, skipped, and
 *     shown to matter (the skipped coordinates' errors are large);
 *   - the subset for large models, and bad arguments.
 * It runs on $NABLA_TEST_DEVICE (cpu by default; CTest also registers an
 * OpenCL run), so the device's float32 gradient meets the double reference.
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

/*
 * Φ from the backend (float32 forward) against the double reference: the
 * outputs carry ≲ 50 u_f = 3e-6 relative error, which moves Φ = O(1) here
 * by a few 1e-6; atol 2e-5 + rtol 1e-5 leaves ~5× (the reasoning of
 * gradcheck_test.c's LOSS_ATOL).
 */
#define LOSS_ATOL 2e-5
#define LOSS_RTOL 1e-5

/* nb_gradcheck's reference against mlp_double's: two double evaluations of
 * the same sums in different orders, so they agree to ~1e-15 relative;
 * 1e-12 leaves room and still catches any wrong term. */
#define REF_RTOL 1e-12

enum { MAX_LAYERS = 3 };

typedef struct net_case {
    int n_layers;
    int widths[MAX_LAYERS + 1];
    nb_act acts[MAX_LAYERS];
    nb_loss loss;
    size_t rows;
    uint64_t seed;
} net_case;

/* A model on backend be at a random θ, and a random dataset for it. */
typedef struct fixture {
    nb_model *m;
    nb_dataset *d;
    float *theta; /* (|θ|) as set */
    size_t n;
} fixture;

static nb_backend *be;

static int setup(void **state)
{
    (void)state;
    return nb_test_open_backend(&be);
}

static int teardown(void **state)
{
    (void)state;
    nb_backend_free(be);
    return 0;
}

static void need_backend(void)
{
    if (!be) skip(); /* nb_test_open_backend said "skipped: no OpenCL" */
}

static float uniform_pm(nb_rng *r, double a) /* uniform in [−a, a) */
{
    return (float)((2.0 * nb_rng_uniform(r) - 1.0) * a);
}

/* θ: weights ±1.5/√fan-in (every z = O(1)), biases ±0.5; x ±1 in steps of
 * 2^-23; targets ±1 or uniform labels. All from the case's seed,
 * NB_STREAM_TEST. Redrawn (from the same stream) while a relu unit is off
 * on every row, as mlp_double sees it: such a unit zeroes its weights'
 * gradient, and a dead relu output layer zeroes all of it, which the
 * check rightly refuses to PASS (test_zero_gradient_fails). */
/* labels: class labels (one-hot targets) even for MSE. */
static void fixture_make(const net_case *c, int labels, fixture *f)
{
    nb_rng r;
    const int in = c->widths[0], out = c->widths[c->n_layers];
    nb_rng_seed(&r, c->seed, NB_STREAM_TEST);
    memset(f, 0, sizeof *f);
    assert_int_equal(nb_model_create(be, c->n_layers, c->widths, c->acts, c->loss, 1, &f->m),
                     NB_OK);
    f->n = nb_model_param_count(f->m);
    f->theta = malloc(f->n * sizeof *f->theta);
    float *x = malloc(c->rows * (size_t)in * sizeof *x);
    float *y = malloc(c->rows * (size_t)out * sizeof *y);
    int32_t *lab = malloc(c->rows * sizeof *lab);
    assert_true(f->theta && x && y && lab);
    const mlpd_spec spec = {c->n_layers, c->widths, c->acts, c->loss};
    double *th = malloc(f->n * sizeof *th);
    assert_non_null(th);
    for (int attempt = 1;; attempt++) {
        size_t o = 0;
        for (int l = 0; l < c->n_layers; l++) {
            for (int i = 0; i < c->widths[l + 1] * c->widths[l]; i++)
                f->theta[o++] = uniform_pm(&r, 1.5 / sqrt((double)c->widths[l]));
            for (int i = 0; i < c->widths[l + 1]; i++) f->theta[o++] = uniform_pm(&r, 0.5);
        }
        assert_int_equal(o, f->n);
        for (size_t i = 0; i < c->rows * (size_t)in; i++) x[i] = uniform_pm(&r, 1.0);
        for (size_t j = 0; j < f->n; j++) th[j] = f->theta[j];
        int dead = mlpd_relu_dead(&spec, th, c->rows, x);
        assert_true(dead >= 0);
        if (dead == 0) break;
        print_message("  %d relu units dead on every row; redraw %d\n", dead, attempt);
        assert_true(attempt < 50);
    }
    free(th);
    assert_int_equal(nb_model_set_params(f->m, f->theta, f->n), NB_OK);
    for (size_t i = 0; i < c->rows * (size_t)out; i++) y[i] = uniform_pm(&r, 1.0);
    for (size_t i = 0; i < c->rows; i++) lab[i] = (int32_t)nb_rng_below(&r, (uint64_t)out);
    if (c->loss == NB_LOSS_XENT || labels)
        assert_int_equal(nb_dataset_from_labels(c->rows, in, out, x, lab, &f->d), NB_OK);
    else
        assert_int_equal(nb_dataset_from_arrays(c->rows, in, out, x, y, &f->d), NB_OK);
    free(x);
    free(y);
    free(lab);
}

static void fixture_free(fixture *f)
{
    nb_model_free(f->m);
    nb_dataset_free(f->d);
    free(f->theta);
}

static void describe(const net_case *c)
{
    char buf[128];
    int k = snprintf(buf, sizeof buf, "%s ", nb_loss_name(c->loss));
    for (int l = 0; l <= c->n_layers; l++)
        k += snprintf(buf + k, sizeof buf - (size_t)k, l ? "-%d" : "%d", c->widths[l]);
    for (int l = 0; l < c->n_layers; l++)
        k += snprintf(buf + k, sizeof buf - (size_t)k, " %s", nb_act_name(c->acts[l]));
    print_message("%-40s rows %zu seed %llu\n", buf, c->rows, (unsigned long long)c->seed);
}

/* Largest err/bound over every block, and over the judged directions. */
static double worst_ratio(const nb_gradcheck_report *r)
{
    double w = 0.0;
    for (int l = 0; l < r->n_layers; l++)
        w = fmax(w, fmax(r->layers[l].w.max_ratio, r->layers[l].b.max_ratio));
    for (int k = 0; k < r->n_dirs; k++)
        if (!r->dirs[k].kink)
            w = fmax(w, fabs(r->dirs[k].backprop - r->dirs[k].fd) / r->dirs[k].bound);
    return w;
}

/* A correct network must PASS, every coordinate compared (|θ| is below
 * max_params), and Φ must agree with the float32 forward pass and with the
 * independent double reference (same data, standardised by hand if the
 * model standardises). */
static void expect_pass(const net_case *c, int labels, const float *mean, const float *stdv)
{
    fixture f;
    nb_gradcheck_report r;
    describe(c);
    fixture_make(c, labels, &f);
    if (mean) assert_int_equal(nb_model_set_standardization(f.m, mean, stdv), NB_OK);
    assert_int_equal(nb_gradcheck(f.m, f.d, NULL, &r), NB_OK);
    print_message("  %s: %s\n  Φ %.6g  worst err/bound %.3g  max abs err %.2g\n",
                  r.pass ? "PASS" : "FAIL", r.why, r.loss_ref, worst_ratio(&r),
                  fmax(r.layers[0].w.max_abs, r.layers[c->n_layers - 1].w.max_abs));
    assert_true(r.pass);
    assert_int_equal(r.failed, 0);
    assert_int_equal(r.checked + r.kinks, r.params);
    assert_true(r.informative > 0);
    assert_int_equal(r.n_dirs, 4);
    assert_close_d(r.loss, r.loss_ref, LOSS_ATOL, LOSS_RTOL);

    /* The independent reference, on standardised inputs when set. */
    const size_t rows = nb_dataset_rows(f.d), in = (size_t)c->widths[0];
    const size_t out = (size_t)c->widths[c->n_layers];
    float *x = malloc(rows * in * sizeof *x), *y = malloc(rows * out * sizeof *y);
    double *th = malloc(f.n * sizeof *th);
    assert_true(x && y && th);
    memcpy(x, nb_dataset_x(f.d), rows * in * sizeof *x);
    for (size_t i = 0; mean && i < rows; i++)
        for (size_t j = 0; j < in; j++) x[i * in + j] = (x[i * in + j] - mean[j]) / stdv[j];
    if (nb_dataset_labels(f.d))
        mlpd_one_hot(rows, (int)out, nb_dataset_labels(f.d), y);
    else
        memcpy(y, nb_dataset_y(f.d), rows * out * sizeof *y);
    for (size_t j = 0; j < f.n; j++) th[j] = f.theta[j];
    const mlpd_spec spec = {c->n_layers, c->widths, c->acts, c->loss};
    assert_close_d(r.loss_ref, mlpd_loss(&spec, th, rows, x, y), 0.0, REF_RTOL);
    free(x);
    free(y);
    free(th);
    fixture_free(&f);
}

static const nb_act elem[4] = {NB_ACT_SIGMOID, NB_ACT_TANH, NB_ACT_RELU, NB_ACT_IDENTITY};

/* MSE: every activation as hidden and as output activation (16 pairs),
 * alternating between a one- and a two-hidden-layer net; and on labels. */
static void test_pass_mse(void **state)
{
    (void)state;
    need_backend();
    for (int h = 0; h < 4; h++)
        for (int o = 0; o < 4; o++) {
            const uint64_t seed = 100u + (uint64_t)(4 * h + o);
            net_case c = {2, {3, 6, 2}, {elem[h], elem[o]}, NB_LOSS_MSE, 16, seed};
            if ((h + o) % 2) {
                c = (net_case){3, {4, 7, 3, 2}, {elem[h], elem[(h + 1) % 4], elem[o]}, NB_LOSS_MSE,
                               16, seed};
            }
            expect_pass(&c, 0, NULL, NULL);
        }
    /* MSE against the one-hot rows of class labels, as `nabla train` does
     * by default. */
    net_case lab = {2, {4, 6, 3}, {NB_ACT_TANH, NB_ACT_SIGMOID}, NB_LOSS_MSE, 16, 120};
    expect_pass(&lab, 1, NULL, NULL);
}

/* XENT (softmax output) after every hidden activation, and a single
 * softmax layer. */
static void test_pass_xent(void **state)
{
    (void)state;
    need_backend();
    for (int h = 0; h < 4; h++) {
        const uint64_t seed = 200u + (uint64_t)h;
        net_case c = {2, {4, 6, 3}, {elem[h], NB_ACT_SOFTMAX}, NB_LOSS_XENT, 16, seed};
        expect_pass(&c, 0, NULL, NULL);
    }
    net_case one = {1, {5, 4}, {NB_ACT_SOFTMAX}, NB_LOSS_XENT, 16, 210};
    expect_pass(&one, 0, NULL, NULL);
}

/* With the model's standardisation: Φ from the reference must match the
 * backend (which standardises) and mlp_double on hand-standardised inputs;
 * a reference that ignored it would be off by far more than LOSS_ATOL.
 * The means and powers-of-2 deviations make (x − mean)/std exact in float
 * for x in [−1, 1) in steps of 2^-23, so both references see the same
 * inputs and REF_RTOL holds. */
static void test_pass_standardized(void **state)
{
    (void)state;
    need_backend();
    const float mean[3] = {0.5f, -0.75f, 0.0f}, stdv[3] = {0.25f, 4.0f, 2.0f};
    net_case c = {2, {3, 5, 2}, {NB_ACT_TANH, NB_ACT_IDENTITY}, NB_LOSS_MSE, 16, 300};
    expect_pass(&c, 0, mean, stdv);
    net_case x = {2, {3, 5, 3}, {NB_ACT_RELU, NB_ACT_SOFTMAX}, NB_LOSS_XENT, 16, 301};
    expect_pass(&x, 0, mean, stdv);
}

/* The hook: layer L's weight gradient × (1 + p). For p = 5% that layer
 * fails with max relative error p (its components above the floor carry
 * exactly that error, up to the float32 error ≲ 1e-5 relative) and max
 * absolute error p·|largest component| (the worst by ratio); the other
 * layers still pass. p = 1e-4 < rtol passes, as documented. */
static void test_perturb_fails(void **state)
{
    (void)state;
    need_backend();
    const net_case c = {3, {4, 7, 3, 2}, {NB_ACT_TANH, NB_ACT_SIGMOID, NB_ACT_IDENTITY},
                        NB_LOSS_MSE, 16, 400};
    fixture f;
    nb_gradcheck_options o;
    nb_gradcheck_report r;
    describe(&c);
    fixture_make(&c, 0, &f);
    nb_gradcheck_options_default(&o);
    assert_int_equal(nb_gradcheck(f.m, f.d, &o, &r), NB_OK);
    assert_true(r.pass);
    const double p = 0.05;
    for (int L = 1; L <= 3; L++) {
        o.perturb_layer = L;
        o.perturb = p;
        assert_int_equal(nb_gradcheck(f.m, f.d, &o, &r), NB_OK);
        const nb_gradcheck_stat *s = &r.layers[L - 1].w;
        int dfail = 0;
        for (int k = 0; k < r.n_dirs; k++) dfail += !r.dirs[k].pass;
        print_message("  perturb layer %d by %g: %s: %s\n  layer %d weights: %zu of %zu fail, "
                      "max rel %.4g, max abs %.3g (largest |g_fd| %.3g); %d of %d directions "
                      "fail\n",
                      L, p, r.pass ? "PASS" : "FAIL", r.why, L, s->failed, s->checked, s->max_rel,
                      s->max_abs, fabs(s->worst_fd), dfail, r.n_dirs);
        assert_false(r.pass);
        assert_true(s->failed > 0);
        char want[32];
        snprintf(want, sizeof want, "layer %d weights", L);
        assert_non_null(strstr(r.why, want));
        assert_close_d(s->max_rel, p, 0.0, 0.02);
        assert_close_d(s->max_abs, p * fabs(s->worst_fd), 1e-5, 0.02);
        for (int l = 0; l < 3; l++) {
            if (l != L - 1) assert_true(r.layers[l].w.max_ratio <= 1.0);
            assert_true(r.layers[l].b.max_ratio <= 1.0);
        }
    }
    /* A flipped sign (p = −2) fails too; 1e-4 is inside rtol and passes. */
    o.perturb_layer = 2;
    o.perturb = -2.0;
    assert_int_equal(nb_gradcheck(f.m, f.d, &o, &r), NB_OK);
    assert_false(r.pass);
    o.perturb = 1e-4;
    assert_int_equal(nb_gradcheck(f.m, f.d, &o, &r), NB_OK);
    print_message("  perturb 1e-4: %s\n", r.pass ? "PASS" : "FAIL");
    assert_true(r.pass);
    fixture_free(&f);
}

/* Every relu unit dead (biases −5 while |A x| ≤ 1.5), a zero output bias
 * and zero targets: Φ = 0 and ∇Φ = 0 exactly, on both sides. The check
 * must not PASS on that, and must say why. */
static void test_zero_gradient_fails(void **state)
{
    (void)state;
    need_backend();
    const int widths[] = {3, 4, 2};
    const nb_act acts[] = {NB_ACT_RELU, NB_ACT_IDENTITY};
    nb_model *m = NULL;
    nb_dataset *d = NULL;
    nb_rng r;
    nb_rng_seed(&r, 500, NB_STREAM_TEST);
    assert_int_equal(nb_model_create(be, 2, widths, acts, NB_LOSS_MSE, 1, &m), NB_OK);
    float th[4 * 3 + 4 + 2 * 4 + 2], x[8 * 3], y[8 * 2] = {0};
    for (int i = 0; i < 12; i++) th[i] = uniform_pm(&r, 0.5);
    for (int i = 12; i < 16; i++) th[i] = -5.0f;
    for (int i = 16; i < 24; i++) th[i] = uniform_pm(&r, 1.0);
    th[24] = th[25] = 0.0f;
    for (int i = 0; i < 24; i++) x[i] = uniform_pm(&r, 1.0);
    assert_int_equal(nb_model_set_params(m, th, 26), NB_OK);
    assert_int_equal(nb_dataset_from_arrays(8, 3, 2, x, y, &d), NB_OK);
    nb_gradcheck_report rep;
    assert_int_equal(nb_gradcheck(m, d, NULL, &rep), NB_OK);
    print_message("dead relu net: %s: %s\n", rep.pass ? "PASS" : "FAIL", rep.why);
    assert_false(rep.pass);
    assert_int_equal(rep.informative, 0);
    assert_int_equal(rep.failed, 0); /* nothing disagrees: there is nothing */
    assert_true(rep.grad_norm == 0.0);
    assert_non_null(strstr(rep.why, "~0"));
    assert_non_null(strstr(rep.why, "trivially"));
    nb_model_free(m);
    nb_dataset_free(d);
}

/*
 * A relu pre-activation exactly at its kink: row 0 has x = (1, 0.5) and
 * unit 0 of layer 1 has A = (0.25, 0.5), b = −0.5, so z = 0 exactly in any
 * precision. The stencils of A_1[0,0], A_1[0,1] and b_1[0] cross it (3
 * kink coordinates, nothing else: the other z's are random and far from 0).
 * With the output weight 1 and target 5 on that row, the row's δ ≈ −10,
 * so finite differences across the kink see half its contribution,
 * ≈ 10·x/(2·8 rows) ≥ 0.3, while backprop sees 0 or all of it. Those
 * coordinates must be skipped (the check PASSes) and their error, reported
 * for information, must be that large: the skip is what keeps it from
 * failing. Every direction moves that z too and is marked. The same with
 * the band off (an exact crossing needs none). And a kink that cannot
 * matter is judged: with unit 0's output weight 0, ∂ℓ/∂σ(z) = 0 there, so
 * the kink weighs nothing and nothing is skipped.
 */
static void test_relu_kink(void **state)
{
    (void)state;
    need_backend();
    const int widths[] = {2, 3, 1};
    const nb_act acts[] = {NB_ACT_RELU, NB_ACT_IDENTITY};
    nb_model *m = NULL;
    nb_dataset *d = NULL;
    nb_rng r;
    nb_rng_seed(&r, 600, NB_STREAM_TEST);
    assert_int_equal(nb_model_create(be, 2, widths, acts, NB_LOSS_MSE, 1, &m), NB_OK);
    float th[3 * 2 + 3 + 3 + 1], x[8 * 2], y[8];
    for (int i = 0; i < 13; i++) th[i] = uniform_pm(&r, 1.0);
    th[0] = 0.25f, th[1] = 0.5f, th[6] = -0.5f; /* A_1[0,:], b_1[0]          */
    th[9] = 1.0f;                               /* A_2[0, 0]: the row's δ   */
    for (int i = 0; i < 16; i++) x[i] = uniform_pm(&r, 1.0);
    for (int i = 0; i < 8; i++) y[i] = uniform_pm(&r, 1.0);
    x[0] = 1.0f, x[1] = 0.5f, y[0] = 5.0f;
    assert_int_equal(nb_model_set_params(m, th, 13), NB_OK);
    assert_int_equal(nb_dataset_from_arrays(8, 2, 1, x, y, &d), NB_OK);
    nb_gradcheck_options o;
    nb_gradcheck_options_default(&o);
    for (int pass = 0; pass < 2; pass++) {
        nb_gradcheck_report rep;
        if (pass) o.relu_margin = 0.0;
        assert_int_equal(nb_gradcheck(m, d, &o, &rep), NB_OK);
        const nb_gradcheck_stat *w = &rep.layers[0].w, *b = &rep.layers[0].b;
        print_message("relu_margin %g: %s: %s\n  layer 1 kinks: weights %zu (max err %.3g), "
                      "bias %zu (max err %.3g)\n", o.relu_margin, rep.pass ? "PASS" : "FAIL",
                      rep.why, w->kinks, w->kink_max_abs, b->kinks, b->kink_max_abs);
        assert_true(rep.pass);
        assert_int_equal(w->kinks, 2);
        assert_int_equal(b->kinks, 1);
        assert_int_equal(rep.kinks, 3);
        assert_int_equal(rep.checked, rep.params - 3);
        assert_true(w->kink_max_abs > 0.1);
        assert_true(b->kink_max_abs > 0.2);
        for (int k = 0; k < rep.n_dirs; k++) assert_true(rep.dirs[k].kink && !rep.dirs[k].pass);
    }
    nb_gradcheck_report rep;
    th[9] = 0.0f;
    assert_int_equal(nb_model_set_params(m, th, 13), NB_OK);
    assert_int_equal(nb_gradcheck(m, d, NULL, &rep), NB_OK);
    print_message("output weight 0: %s: %s\n", rep.pass ? "PASS" : "FAIL", rep.why);
    assert_true(rep.pass);
    assert_int_equal(rep.kinks, 0);
    assert_int_equal(rep.checked, rep.params);
    for (int k = 0; k < rep.n_dirs; k++) assert_false(rep.dirs[k].kink);
    nb_model_free(m);
    nb_dataset_free(d);
}

/*
 * Subset: 20-40-30-1 has 2101 parameters; with max_params 300 every bias
 * (71) is checked, the 229 left go to the weights in proportion (800 →
 * 90, 1200 → 135) and the last layer's 30 weights get the minimum 8. The
 * same seed draws the same subset; PASS as before.
 */
static void test_subset(void **state)
{
    (void)state;
    need_backend();
    const net_case c = {3, {20, 40, 30, 1}, {NB_ACT_TANH, NB_ACT_SIGMOID, NB_ACT_IDENTITY},
                        NB_LOSS_MSE, 16, 700};
    const size_t want_w[3] = {90, 135, 8};
    fixture f;
    nb_gradcheck_options o;
    nb_gradcheck_report r, r2;
    describe(&c);
    fixture_make(&c, 0, &f);
    nb_gradcheck_options_default(&o);
    o.max_params = 300;
    assert_int_equal(nb_gradcheck(f.m, f.d, &o, &r), NB_OK);
    print_message("  %s: %s\n", r.pass ? "PASS" : "FAIL", r.why);
    assert_true(r.pass);
    assert_int_equal(r.params, 2101);
    for (int l = 0; l < 3; l++) {
        const nb_gradcheck_stat *w = &r.layers[l].w, *b = &r.layers[l].b;
        assert_int_equal(b->checked + b->kinks, b->count);
        assert_int_equal(w->checked + w->kinks, want_w[l]);
    }
    assert_int_equal(r.checked + r.kinks, 71 + 90 + 135 + 8);
    assert_int_equal(nb_gradcheck(f.m, f.d, &o, &r2), NB_OK);
    assert_int_equal(r2.layers[0].w.worst, r.layers[0].w.worst);
    assert_true(r2.layers[0].w.max_abs == r.layers[0].w.max_abs);
    assert_true(r2.dirs[0].fd == r.dirs[0].fd);
    fixture_free(&f);
}

static void test_bad_args(void **state)
{
    (void)state;
    need_backend();
    const net_case c = {2, {3, 4, 2}, {NB_ACT_TANH, NB_ACT_IDENTITY}, NB_LOSS_MSE, 4, 800};
    const net_case other = {2, {2, 4, 2}, {NB_ACT_TANH, NB_ACT_IDENTITY}, NB_LOSS_MSE, 4, 801};
    fixture f, g;
    nb_gradcheck_options o;
    nb_gradcheck_report r;
    fixture_make(&c, 0, &f);
    fixture_make(&other, 0, &g);
    assert_int_equal(nb_gradcheck(NULL, f.d, NULL, &r), NB_ERR_ARG);
    assert_int_equal(nb_gradcheck(f.m, NULL, NULL, &r), NB_ERR_ARG);
    assert_int_equal(nb_gradcheck(f.m, f.d, NULL, NULL), NB_ERR_ARG);
    assert_int_equal(nb_gradcheck(f.m, g.d, NULL, &r), NB_ERR_ARG);
    assert_non_null(strstr(nb_last_error(), "inputs"));
#define BAD(field, value)                                                                          \
    do {                                                                                           \
        nb_gradcheck_options_default(&o);                                                          \
        o.field = value;                                                                           \
        assert_int_equal(nb_gradcheck(f.m, f.d, &o, &r), NB_ERR_ARG);                              \
        assert_non_null(strstr(nb_last_error(), #field));                                          \
    } while (0)
    BAD(step, 0.0);
    BAD(step, NAN);
    BAD(atol, -1.0);
    BAD(rtol, INFINITY);
    BAD(rel_floor, 0.0);
    BAD(relu_margin, -1e-5);
    BAD(directions, -1);
    BAD(directions, NB_GRADCHECK_MAX_DIRS + 1);
    BAD(perturb_layer, 3);
    BAD(perturb_layer, -1);
#undef BAD
    nb_gradcheck_options_default(NULL); /* tolerated */
    fixture_free(&f);
    fixture_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pass_mse),          cmocka_unit_test(test_pass_xent),
        cmocka_unit_test(test_pass_standardized), cmocka_unit_test(test_perturb_fails),
        cmocka_unit_test(test_zero_gradient_fails), cmocka_unit_test(test_relu_kink),
        cmocka_unit_test(test_subset),            cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
