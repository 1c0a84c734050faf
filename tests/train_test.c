/*
 * train_test.c — end-to-end training through nb_train: convergence on XOR
 * and on the bundled digits, bit-for-bit determinism, and the halting
 * rules as the trainer applies them.
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

static nb_dataset *xor_data(void)
{
    const float x[] = {0, 0, 0, 1, 1, 0, 1, 1};
    const float y[] = {0, 1, 1, 0};
    nb_dataset *d = NULL;
    assert_int_equal(nb_dataset_from_arrays(4, 2, 1, x, y, &d), NB_OK);
    return d;
}

/* XOR with 2-4-1 sigmoid and MSE, full-batch GD, reaches Φ < 0.01. */
static void test_xor_converges(void **state)
{
    (void)state;
    if (!be) skip(); /* no device: the reason was printed */
    const int widths[] = {2, 4, 1};
    const nb_act acts[] = {NB_ACT_SIGMOID, NB_ACT_SIGMOID};
    nb_dataset *d = xor_data();
    nb_model *m = NULL;
    uint64_t seed = 1;
    print_message("xor seed %llu\n", (unsigned long long)seed);
    assert_int_equal(nb_model_create(be, 2, widths, acts, NB_LOSS_MSE, seed, &m), NB_OK);
    nb_train_options o;
    nb_train_options_default(&o);
    o.batch = 0;
    o.schedule.lr = 2.0;
    o.schedule.max_epochs = 0;
    o.schedule.max_iters = 20000;
    o.schedule.target_loss = 0.01;
    nb_result r;
    assert_int_equal(nb_train(m, d, NULL, &o, &r), NB_OK);
    print_message("xor: %s\n", r.why);
    assert_int_equal(r.halt, NB_HALT_TARGET_LOSS);
    /* Check the claim independently of the trainer's own loss. */
    double loss;
    assert_int_equal(nb_model_loss_grad(m, d, &loss, NULL), NB_OK);
    assert_true(loss < 0.01);
    float y[4];
    const float x[] = {0, 0, 0, 1, 1, 0, 1, 1};
    assert_int_equal(nb_model_predict(m, 4, x, y), NB_OK);
    assert_true(y[0] < 0.5f && y[1] > 0.5f && y[2] > 0.5f && y[3] < 0.5f);
    nb_model_free(m);
    nb_dataset_free(d);
}

/* Train the CLI's default (64-32-10 sigmoid MSE, lr 0.5, batch 32, 100
 * epochs, 20% validation, seed 1); return the final parameters. */
static float *train_digits(nb_result *r, size_t *n_params)
{
    nb_dataset *all = nb_test_load_digits(), *tr = NULL, *va = NULL;
    assert_non_null(all);
    assert_int_equal(nb_dataset_rows(all), 1797);
    assert_int_equal(nb_dataset_split(all, 0.2, 1, &tr, &va), NB_OK);
    const int widths[] = {64, 32, 10};
    const nb_act acts[] = {NB_ACT_SIGMOID, NB_ACT_SIGMOID};
    nb_model *m = NULL;
    assert_int_equal(nb_model_create(be, 2, widths, acts, NB_LOSS_MSE, 1, &m), NB_OK);
    nb_train_options o;
    nb_train_options_default(&o);
    assert_int_equal(nb_train(m, tr, va, &o, r), NB_OK);
    *n_params = nb_model_param_count(m);
    float *theta = malloc(*n_params * sizeof *theta);
    assert_non_null(theta);
    assert_int_equal(nb_model_get_params(m, theta, *n_params), NB_OK);
    nb_model_free(m);
    nb_dataset_free(all);
    nb_dataset_free(tr);
    nb_dataset_free(va);
    return theta;
}

/* The default digits run ends above 90% validation accuracy, and a second
 * run with the same seed gives bit-identical parameters. */
static void test_digits_default_and_determinism(void **state)
{
    (void)state;
    if (!be) skip(); /* no device: the reason was printed */
    nb_result r1, r2;
    size_t n1, n2;
    float *t1 = train_digits(&r1, &n1);
    float *t2 = train_digits(&r2, &n2);
    print_message("digits: %s, val_acc %.4f\n", r1.why, r1.val_acc);
    assert_int_equal(r1.halt, NB_HALT_MAX_EPOCHS);
    assert_int_equal(r1.epochs, 100);
    assert_true(r1.val_acc >= 0.90);
    assert_int_equal(n1, n2);
    assert_memory_equal(t1, t2, n1 * sizeof *t1);
    assert_memory_equal(&r1.loss, &r2.loss, sizeof r1.loss);
    free(t1);
    free(t2);
}

/* Different seeds must give different runs (or determinism is vacuous). */
static void test_seed_changes_the_run(void **state)
{
    (void)state;
    if (!be) skip(); /* no device: the reason was printed */
    const int widths[] = {2, 3, 1};
    const nb_act acts[] = {NB_ACT_TANH, NB_ACT_IDENTITY};
    nb_model *a = NULL, *b = NULL;
    assert_int_equal(nb_model_create(be, 2, widths, acts, NB_LOSS_MSE, 1, &a), NB_OK);
    assert_int_equal(nb_model_create(be, 2, widths, acts, NB_LOSS_MSE, 2, &b), NB_OK);
    float ta[13], tb[13];
    assert_int_equal(nb_model_param_count(a), 13);
    assert_int_equal(nb_model_get_params(a, ta, 13), NB_OK);
    assert_int_equal(nb_model_get_params(b, tb, 13), NB_OK);
    assert_memory_not_equal(ta, tb, sizeof ta);
    nb_model_free(a);
    nb_model_free(b);
}

/* Mini-batch halting: an iteration budget stops mid-epoch at exactly that
 * count, and the epoch budget counts whole passes. */
static void test_minibatch_budgets(void **state)
{
    (void)state;
    if (!be) skip(); /* no device: the reason was printed */
    nb_dataset *d = xor_data();
    const int widths[] = {2, 4, 1};
    const nb_act acts[] = {NB_ACT_SIGMOID, NB_ACT_SIGMOID};
    nb_model *m = NULL;
    assert_int_equal(nb_model_create(be, 2, widths, acts, NB_LOSS_MSE, 3, &m), NB_OK);
    nb_train_options o;
    nb_train_options_default(&o);
    o.batch = 3; /* 2 batches per epoch: 3 rows then 1 */
    o.schedule.max_epochs = 0;
    o.schedule.max_iters = 7;
    nb_result r;
    assert_int_equal(nb_train(m, d, NULL, &o, &r), NB_OK);
    assert_int_equal(r.halt, NB_HALT_MAX_ITERS);
    assert_int_equal(r.iters, 7);
    assert_int_equal(r.epochs, 4);
    o.schedule.max_iters = 0;
    o.schedule.max_epochs = 5;
    assert_int_equal(nb_train(m, d, NULL, &o, &r), NB_OK);
    assert_int_equal(r.halt, NB_HALT_MAX_EPOCHS);
    assert_int_equal(r.epochs, 5);
    assert_int_equal(r.iters, 10);
    /* With a gradient tolerance the exact ‖∇Φ‖ is measured each epoch. */
    o.schedule.tol_grad = 1e-30;
    assert_int_equal(nb_train(m, d, NULL, &o, &r), NB_OK);
    assert_true(isfinite(r.grad_norm) && r.grad_norm > 0.0);
    double loss;
    float g[17];
    assert_int_equal(nb_model_param_count(m), 17);
    assert_int_equal(nb_model_loss_grad(m, d, &loss, g), NB_OK);
    double s = 0.0;
    for (int i = 0; i < 17; i++) s += (double)g[i] * g[i];
    /* The reported norm is the full-data gradient at the final point:
     * the same computation, so equal to float rounding of the readback. */
    assert_true(fabs(sqrt(s) - r.grad_norm) <= 1e-6 * sqrt(s));
    nb_model_free(m);
    nb_dataset_free(d);
}

/* Arguments the trainer must refuse, each with its status. */
static void test_bad_arguments(void **state)
{
    (void)state;
    if (!be) skip(); /* no device: the reason was printed */
    nb_dataset *d = xor_data();
    const int widths[] = {3, 1};
    const nb_act acts[] = {NB_ACT_SIGMOID};
    nb_model *m = NULL;
    assert_int_equal(nb_model_create(be, 1, widths, acts, NB_LOSS_MSE, 1, &m), NB_OK);
    nb_train_options o;
    nb_train_options_default(&o);
    assert_int_equal(nb_train(m, d, NULL, &o, NULL), NB_ERR_ARG); /* 2 inputs vs 3 */
    assert_non_null(strstr(nb_last_error(), "inputs"));
    nb_model_free(m);
    const int w2[] = {2, 1};
    assert_int_equal(nb_model_create(be, 1, w2, acts, NB_LOSS_MSE, 1, &m), NB_OK);
    o.schedule.lr = -1.0;
    assert_int_equal(nb_train(m, d, NULL, &o, NULL), NB_ERR_ARG);
    o.schedule.lr = 0.1;
    o.schedule.max_epochs = 0;
    assert_int_equal(nb_train(m, d, NULL, &o, NULL), NB_ERR_ARG); /* no halting rule */
    assert_non_null(strstr(nb_last_error(), "halting"));
    nb_model_free(m);
    /* Architectures that cannot be built. */
    const nb_act sm[] = {NB_ACT_SOFTMAX};
    assert_int_equal(nb_model_create(be, 1, w2, sm, NB_LOSS_MSE, 1, &m), NB_ERR_ARG);
    assert_int_equal(nb_model_create(be, 1, w2, acts, NB_LOSS_XENT, 1, &m), NB_ERR_ARG);
    const int w0[] = {2, 0};
    assert_int_equal(nb_model_create(be, 1, w0, acts, NB_LOSS_MSE, 1, &m), NB_ERR_ARG);
    assert_null(m);
    nb_dataset_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xor_converges),
        cmocka_unit_test(test_digits_default_and_determinism),
        cmocka_unit_test(test_seed_changes_the_run),
        cmocka_unit_test(test_minibatch_budgets),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
