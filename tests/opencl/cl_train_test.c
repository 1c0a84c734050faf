/*
 * cl_train_test.c — the OpenCL backend against the cpu backend end to end:
 * the same seed and data give the same training, within float tolerance.
 *   - after 100 SGD steps on the digits, the training loss agrees to 1e-4
 *     relative (MSE/sigmoid and cross-entropy/softmax);
 *   - the CLI's default run (100 epochs) ends with validation accuracy
 *     within 0.5 points.
 * Without an OpenCL device every test skips and says why.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/backend_opts.h"
#include "check.h"
#include "nabla.h"

static nb_backend *cpu, *ocl;
static nb_dataset *train_set, *val_set;

static int setup(void **state)
{
    (void)state;
    if (nb_cli_backend_create("cpu", &cpu) != NB_OK) return -1;
    if (nb_cli_backend_create("opencl", &ocl) != NB_OK) {
        print_message("skipped: no OpenCL: %s\n", nb_last_error());
        ocl = NULL;
    } else {
        print_message("comparing cpu with %s\n", nb_backend_name(ocl));
    }
    nb_dataset *all = nb_test_load_digits();
    if (!all) return -1;
    nb_status st = nb_dataset_split(all, 0.2, 1, &train_set, &val_set);
    nb_dataset_free(all);
    return st == NB_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    nb_dataset_free(train_set);
    nb_dataset_free(val_set);
    nb_backend_free(ocl);
    nb_backend_free(cpu);
    return 0;
}

/* Train 64-32-10 on one backend; return the final exact training loss and
 * validation accuracy. */
static void run(nb_backend *be, nb_loss loss, long iters, long epochs, double *train_loss,
                double *val_acc)
{
    const int widths[] = {64, 32, 10};
    nb_act acts[] = {NB_ACT_SIGMOID, loss == NB_LOSS_XENT ? NB_ACT_SOFTMAX : NB_ACT_SIGMOID};
    nb_model *m = NULL;
    assert_int_equal(nb_model_create(be, 2, widths, acts, loss, 1, &m), NB_OK);
    nb_train_options o;
    nb_train_options_default(&o);
    o.schedule.lr = loss == NB_LOSS_XENT ? 0.1 : 0.5;
    o.schedule.max_iters = iters;
    o.schedule.max_epochs = epochs;
    nb_result r;
    if (nb_train(m, train_set, val_set, &o, &r) != NB_OK) {
        print_error("%s: %s\n", nb_backend_name(be), nb_last_error());
        fail();
    }
    assert_int_equal(nb_model_loss_grad(m, train_set, train_loss, NULL), NB_OK);
    assert_int_equal(nb_model_evaluate(m, val_set, NULL, val_acc), NB_OK);
    nb_model_free(m);
}

/*
 * Tolerance: both backends compute in float32, in different summation
 * orders (blocked GEMM vs tiled kernels, double vs tree reductions). Each
 * step's parameters then differ by a few ulps, and 100 steps of SGD on a
 * smooth loss keep that at the 1e-6 level relative; 1e-4 leaves room for
 * the chaotic growth of such differences without hiding a wrong kernel,
 * which shifts the loss by far more after 100 steps.
 */
static void check_100_steps(nb_loss loss)
{
    if (!ocl) skip();
    double lc, lo, ac, ao;
    run(cpu, loss, 100, 0, &lc, &ac);
    run(ocl, loss, 100, 0, &lo, &ao);
    print_message("%s after 100 steps: cpu %.9g, opencl %.9g (rel %.2g)\n", nb_loss_name(loss), lc,
                  lo, fabs(lo - lc) / lc);
    assert_close_d(lo, lc, 0.0, 1e-4);
}

static void test_mse_100_steps(void **state)
{
    (void)state;
    check_100_steps(NB_LOSS_MSE);
}

static void test_xent_100_steps(void **state)
{
    (void)state;
    check_100_steps(NB_LOSS_XENT);
}

/* The default run on both devices: same accuracy within half a point. */
static void test_default_run_accuracy(void **state)
{
    (void)state;
    if (!ocl) skip();
    double lc, lo, ac, ao;
    run(cpu, NB_LOSS_MSE, 0, 100, &lc, &ac);
    run(ocl, NB_LOSS_MSE, 0, 100, &lo, &ao);
    print_message("validation accuracy: cpu %.2f%%, opencl %.2f%%\n", 100 * ac, 100 * ao);
    assert_true(ac >= 0.9 && ao >= 0.9);
    assert_true(fabs(ac - ao) <= 0.005);
}

/*
 * Data that does not fit the device is streamed from the host instead of
 * gathered on the device. The rows and their order are the same, so the
 * run must be the same to the bit: the mini-batch steps, and the chunked
 * full-data loss and validation passes that follow them.
 */
static void test_streamed_data_matches_resident(void **state)
{
    (void)state;
    if (!ocl) skip();
    nb_backend *small = NULL;
    setenv("NABLA_DEVICE_DATA_LIMIT", "1", 1); /* read when a backend is created */
    nb_status st = nb_cli_backend_create("opencl", &small);
    unsetenv("NABLA_DEVICE_DATA_LIMIT");
    assert_int_equal(st, NB_OK);
    double l_res, l_str, a_res, a_str;
    run(ocl, NB_LOSS_MSE, 100, 0, &l_res, &a_res);
    run(small, NB_LOSS_MSE, 100, 0, &l_str, &a_str);
    print_message("100 steps: resident %.9g, streamed %.9g\n", l_res, l_str);
    assert_memory_equal(&l_res, &l_str, sizeof l_res);
    assert_memory_equal(&a_res, &a_str, sizeof a_res);
    nb_backend_free(small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mse_100_steps),
        cmocka_unit_test(test_xent_100_steps),
        cmocka_unit_test(test_default_run_accuracy),
        cmocka_unit_test(test_streamed_data_matches_resident),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
