/*
 * schedule_test.c — the descent schedule: step-size sequences, the Armijo
 * line search, the optimizers against hand-computed steps, and the
 * halting rules as nb_train applies them (time, plateau, early stopping
 * that restores the best parameters, divergence that restores the last
 * good ones). Runs on $NABLA_TEST_DEVICE (default cpu); CTest runs it on
 * OpenCL too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "data/dataset.h"
#include "nabla.h"

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

/* ------------------------------------------------------- step sizes */

static void test_lr_sequences(void **state)
{
    (void)state;
    nb_schedule s;
    nb_schedule_default(&s);
    s.lr = 1.0;
    /* constant */
    for (long t = 0; t < 5; t++) assert_true(nb_schedule_lr(&s, t, t) == 1.0);
    /* step: γ = 0.5 every 2 epochs → 1, 1, .5, .5, .25, .25 (exact in binary) */
    s.lr_kind = NB_LR_STEP, s.lr_gamma = 0.5, s.lr_step = 2;
    const double step[] = {1, 1, 0.5, 0.5, 0.25, 0.25};
    for (long e = 0; e < 6; e++) assert_true(nb_schedule_lr(&s, 100 * e, e) == step[e]);
    /* exp: γ = 0.9 per epoch → 1, 0.9, 0.81, 0.729 (pow: within 1 ulp) */
    s.lr_kind = NB_LR_EXP, s.lr_gamma = 0.9;
    const double ex[] = {1, 0.9, 0.81, 0.729};
    for (long e = 0; e < 4; e++) assert_close_d(nb_schedule_lr(&s, 0, e), ex[e], 0, 4e-16);
    /* inv: decay 0.5 per update → 1/(1 + t/2) = 1, 2/3, 1/2, 2/5 */
    s.lr_kind = NB_LR_INV, s.lr_decay = 0.5;
    const double inv[] = {1, 2.0 / 3.0, 0.5, 0.4};
    for (long t = 0; t < 4; t++) assert_close_d(nb_schedule_lr(&s, t, 0), inv[t], 0, 4e-16);
    /* cosine: α0 1, α_min 0.1, W 2, T 6. Warm-up (t+1)/2: 0.5, 1; then
     * 0.1 + 0.45 (1 + cos(π (t−2)/4)): t=2 → 1, t=3 → 0.1 + 0.45 (1 + √2/2)
     * = 0.868198…, t=4 → 0.55, t=5 → 0.1 + 0.45 (1 − √2/2) = 0.231801…;
     * then α_min. */
    s.lr_kind = NB_LR_COSINE, s.lr_min = 0.1, s.lr_warmup = 2, s.lr_period = 6;
    const double r2 = sqrt(2.0) / 2.0;
    const double cs[] = {0.5, 1, 1, 0.1 + 0.45 * (1 + r2), 0.55, 0.1 + 0.45 * (1 - r2), 0.1, 0.1};
    for (long t = 0; t < 8; t++) assert_close_d(nb_schedule_lr(&s, t, 0), cs[t], 0, 1e-15);
}

/* -------------------------------------------------- line search, optimizers */

enum { HIST = 4096 };
typedef struct trace {
    long n;
    double x[HIST][2], value[HIST], grad[HIST][2], lr[HIST];
} trace;

static nb_status quad(void *user, size_t n, const double *x, double *value, double *grad)
{
    (void)user, (void)n;
    *value = 9 * x[0] * x[0] + x[1] * x[1]; /* the notes' elongated quadratic */
    grad[0] = 18 * x[0], grad[1] = 2 * x[1];
    return NB_OK;
}

static nb_status half_square(void *user, size_t n, const double *x, double *value, double *grad)
{
    (void)user, (void)n;
    *value = 0.5 * x[0] * x[0];
    grad[0] = x[0], grad[1] = 0;
    return NB_OK;
}

static int record(void *user, const nb_iterate *it)
{
    trace *t = user;
    if (it->k < HIST) {
        for (size_t i = 0; i < it->n && i < 2; i++) t->x[it->k][i] = it->x[i], t->grad[it->k][i] = it->grad[i];
        t->value[it->k] = it->value;
        t->lr[it->k] = it->lr;
    }
    t->n = it->k + 1;
    return 0;
}

/* The Armijo condition holds at every accepted step, from α0 = 1. */
static void test_armijo_every_step(void **state)
{
    (void)state;
    static trace t;
    nb_schedule s;
    nb_schedule_default(&s);
    s.lr = 1.0, s.line_search = 1, s.max_epochs = 0, s.max_iters = 1000, s.tol_grad = 1e-6;
    double x[2] = {1, 2};
    nb_problem p = {2, quad, record, &t};
    nb_result r;
    assert_int_equal(nb_descend(&p, &s, x, &r), NB_OK);
    assert_int_equal(r.halt, NB_HALT_TOL_GRAD);
    assert_true(t.n > 2 && t.n < HIST);
    for (long k = 0; k + 1 < t.n; k++) {
        double g2 = t.grad[k][0] * t.grad[k][0] + t.grad[k][1] * t.grad[k][1];
        double a = t.lr[k + 1]; /* α of the step from x_k to x_k+1 */
        assert_true(a > 0 && t.value[k + 1] <= t.value[k] - s.armijo_c * a * g2);
    }
    assert_true(r.evals > r.grad_evals); /* trials cost Φ evaluations */
}

/* Three steps of each optimizer on Φ = x²/2 (g = x) from x = 1, α = 0.1,
 * against values worked out from the formulas in nabla.h:
 *   momentum μ=0.9: v = 1, 1.8, 2.34;         x = 0.9, 0.72, 0.486
 *   Nesterov μ=0.9: v = 1, 1.71, 2.1141;       x = 0.81, 0.5751, 0.327321
 *   Adam (0.9, 0.999, 1e-8): m̂/√v̂ = 1/(1+1e-8), then 0.947368…/0.951290…,
 *     … ;                                      x = 0.900000001, 0.80041222971…,
 *                                                  0.70158627450…
 * Tolerance 1e-12: a few double roundings of O(1) values. */
static void test_optimizers_three_steps(void **state)
{
    (void)state;
    static trace t;
    const struct { nb_optim o; double x[3]; } cases[] = {
        {NB_OPT_MOMENTUM, {0.9, 0.72, 0.486}},
        {NB_OPT_NESTEROV, {0.81, 0.5751, 0.327321}},
        {NB_OPT_ADAM, {0.900000001, 0.8004122297123382, 0.701586274504415}},
    };
    for (size_t c = 0; c < 3; c++) {
        nb_schedule s;
        nb_schedule_default(&s);
        s.lr = 0.1, s.optim = cases[c].o, s.max_epochs = 0, s.max_iters = 3;
        double x[2] = {1, 0};
        nb_problem p = {2, half_square, record, &t};
        nb_result r;
        assert_int_equal(nb_descend(&p, &s, x, &r), NB_OK);
        assert_int_equal(t.n, 4);
        for (int k = 0; k < 3; k++) assert_close_d(t.x[k + 1][0], cases[c].x[k], 0, 1e-12);
    }
}

/* ------------------------------------------------------- nb_train rules */

/* y = x1 − 2 x2 + noise-free; a linear model fits it exactly. */
static nb_dataset *linear_data(size_t rows, double shift)
{
    float *x = malloc(rows * 2 * sizeof *x), *y = malloc(rows * sizeof *y);
    assert_true(x && y);
    for (size_t i = 0; i < rows; i++) {
        x[2 * i] = (float)((double)(i % 7) / 7.0);
        x[2 * i + 1] = (float)((double)(i % 5) / 5.0);
        y[i] = (float)(x[2 * i] - 2 * x[2 * i + 1] + shift);
    }
    nb_dataset *d = NULL;
    assert_int_equal(nb_dataset_from_arrays(rows, 2, 1, x, y, &d), NB_OK);
    free(x), free(y);
    return d;
}

static nb_model *linear_model(void)
{
    const int w[] = {2, 1};
    const nb_act a[] = {NB_ACT_IDENTITY};
    nb_model *m = NULL;
    assert_int_equal(nb_model_create(be, 1, w, a, NB_LOSS_MSE, 3, &m), NB_OK);
    return m;
}

static void test_time_limit(void **state)
{
    (void)state;
    if (!be) skip();
    nb_dataset *d = linear_data(64, 0);
    nb_model *m = linear_model();
    nb_train_options o;
    nb_train_options_default(&o);
    o.schedule.max_epochs = 0, o.schedule.time_limit = 1e-9; /* spent before the first check */
    nb_result r;
    assert_int_equal(nb_train(m, d, NULL, &o, &r), NB_OK);
    assert_int_equal(r.halt, NB_HALT_TIME);
    assert_int_equal(r.epochs, 1); /* mini-batch: the clock is read after each step */
    assert_int_equal(r.iters, 1);
    nb_model_free(m);
    nb_dataset_free(d);
}

/* Plateau on a problem that converges: the loss stops improving by 1e-3
 * relative, the rule fires, and not before patience epochs of it. */
static void test_plateau(void **state)
{
    (void)state;
    if (!be) skip();
    nb_dataset *d = linear_data(64, 0);
    nb_model *m = linear_model();
    nb_train_options o;
    nb_train_options_default(&o);
    o.batch = 0, o.schedule.lr = 0.5, o.schedule.max_epochs = 100000;
    o.schedule.plateau_tol = 0.5, o.schedule.plateau_patience = 3;
    nb_result r;
    assert_int_equal(nb_train(m, d, NULL, &o, &r), NB_OK);
    assert_int_equal(r.halt, NB_HALT_PLATEAU);
    assert_true(r.iters >= 3 && r.iters < 100000);
    nb_model_free(m);
    nb_dataset_free(d);
}

typedef struct vals { int n; double loss[4096]; } vals;
static int keep_val(void *user, const nb_epoch_stats *s)
{
    vals *v = user;
    if (v->n < 4096) v->loss[v->n++] = s->val_loss;
    return 0;
}

/* Validation data that disagrees with training (a shifted target): the
 * validation loss falls, then rises as the model fits the training data.
 * Early stopping stops K epochs after the best and restores the best θ. */
static void test_early_stop_restores_best(void **state)
{
    (void)state;
    if (!be) skip();
    nb_dataset *tr = linear_data(64, 0), *va = linear_data(32, 0.6);
    nb_model *m = linear_model();
    static vals v;
    memset(&v, 0, sizeof v);
    nb_train_options o;
    nb_train_options_default(&o);
    o.batch = 0, o.schedule.lr = 0.2, o.schedule.max_epochs = 5000, o.schedule.early_stop = 5;
    o.on_epoch = keep_val, o.user = &v;
    nb_result r;
    assert_int_equal(nb_train(m, tr, va, &o, &r), NB_OK);
    assert_int_equal(r.halt, NB_HALT_EARLY_STOP);
    int best = 0;
    for (int i = 1; i < v.n; i++)
        if (v.loss[i] < v.loss[best]) best = i;
    assert_int_equal(v.n - 1 - best, 5); /* stopped exactly K epochs after the best */
    double now;
    assert_int_equal(nb_model_evaluate(m, va, &now, NULL), NB_OK);
    /* The same parameters and the same evaluation: the same number. */
    assert_close_d(now, v.loss[best], 0, 0);
    nb_model_free(m);
    nb_dataset_free(tr);
    nb_dataset_free(va);
}

/* α = 1e10 explodes at once: the run stops in that step with the last
 * good parameters (here, the initial ones) back in place. */
static void test_divergence_restores(void **state)
{
    (void)state;
    if (!be) skip();
    nb_dataset *d = linear_data(64, 0);
    nb_model *m = linear_model();
    float before[3], after[3];
    assert_int_equal(nb_model_get_params(m, before, 3), NB_OK);
    nb_train_options o;
    nb_train_options_default(&o);
    o.batch = 0, o.schedule.lr = 1e10;
    nb_result r;
    nb_status st = nb_train(m, d, NULL, &o, &r);
    assert_true(st == NB_ERR_DIVERGED || st == NB_ERR_NONFINITE);
    assert_int_equal(r.halt, NB_HALT_DIVERGED);
    assert_int_equal(r.iters, 1); /* caught at the first point after the step */
    assert_non_null(strstr(nb_last_error(), "restored"));
    assert_int_equal(nb_model_get_params(m, after, 3), NB_OK);
    assert_memory_equal(before, after, sizeof before);
    nb_model_free(m);
    nb_dataset_free(d);
}

/* A NaN in the data (past the loader's checks) is caught in the step that
 * meets it, in mini-batch mode, and training does not go on from it. */
static void test_nan_in_data_stops(void **state)
{
    (void)state;
    if (!be) skip();
    nb_dataset *d = linear_data(64, 0);
    d->x[2 * 40] = NAN; /* row 40: dataset.h gives the tests the layout */
    nb_model *m = linear_model();
    nb_train_options o;
    nb_train_options_default(&o);
    o.batch = 8, o.schedule.lr = 0.1;
    nb_result r;
    assert_int_equal(nb_train(m, d, NULL, &o, &r), NB_ERR_NONFINITE);
    assert_int_equal(r.halt, NB_HALT_DIVERGED);
    assert_true(r.epochs == 0 && r.iters >= 1 && r.iters <= 8); /* within the first epoch */
    float th[3];
    assert_int_equal(nb_model_get_params(m, th, 3), NB_OK);
    for (int i = 0; i < 3; i++) assert_true(isfinite(th[i]));
    nb_model_free(m);
    nb_dataset_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lr_sequences),
        cmocka_unit_test(test_armijo_every_step),
        cmocka_unit_test(test_optimizers_three_steps),
        cmocka_unit_test(test_time_limit),
        cmocka_unit_test(test_plateau),
        cmocka_unit_test(test_early_stop_restores_best),
        cmocka_unit_test(test_divergence_restores),
        cmocka_unit_test(test_nan_in_data_stops),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
