/*
 * cl_launch_test.c — what one training step costs the OpenCL backend in
 * commands, counted, so that a step that grows fails here:
 *   - the tiny workload of `nabla bench` (2-8-1, 4 rows, full batch, SGD)
 *     launches at most 11 kernels per step and reads back twice;
 *   - a mini-batch epoch on resident data reads nothing back per step;
 *   - the cpu backend reports no launch count (-1).
 * Per step means the difference between runs of k and 1 steps, so the
 * fixed cost of a call (uploading the data, zeroing the epoch's loss) is
 * left out. Without an OpenCL device the OpenCL tests skip and say why.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/backend_opts.h"
#include "check.h"
#include "nabla.h"

static nb_backend *ocl;

static int setup(void **state)
{
    (void)state;
    if (nb_cli_backend_create("opencl", &ocl) != NB_OK) {
        print_message("skipped: no OpenCL: %s\n", nb_last_error());
        ocl = NULL;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nb_backend_free(ocl);
    return 0;
}

/* What a run of nb_train costs: kernels launched and reads back. */
typedef struct cost {
    int64_t launches;
    uint64_t reads;
} cost;

/* Train the 2-8-1 net on rows of data for iters updates of `batch` rows
 * (0: full batch) from the same start, counting what the run enqueues. */
static cost run(nb_backend *be, size_t rows, size_t batch, long iters, long check_every)
{
    const int widths[] = {2, 8, 1};
    nb_act acts[] = {NB_ACT_SIGMOID, NB_ACT_SIGMOID};
    float x[64], y[32];
    assert_true(rows * 2 <= sizeof x / sizeof *x);
    for (size_t i = 0; i < rows; i++) { /* XOR-like, as the tiny workload */
        x[2 * i] = (float)(i & 1), x[2 * i + 1] = (float)((i >> 1) & 1);
        y[i] = (float)((i ^ (i >> 1)) & 1);
    }
    nb_dataset *d = NULL;
    nb_model *m = NULL;
    assert_int_equal(nb_dataset_from_arrays(rows, 2, 1, x, y, &d), NB_OK);
    assert_int_equal(nb_model_create(be, 2, widths, acts, NB_LOSS_MSE, 1, &m), NB_OK);
    nb_train_options o;
    nb_train_options_default(&o);
    o.batch = batch;
    o.report_every = 1000000; /* no report is due: nothing asks for ‖∇Φ‖ */
    o.schedule.lr = 0.1;
    o.schedule.max_iters = iters;
    o.schedule.check_every = check_every;
    nb_result r;
    assert_int_equal(nb_backend_profile_enable(be, 1), NB_OK); /* resets the counts */
    if (nb_train(m, d, NULL, &o, &r) != NB_OK) {
        print_error("nb_train: %s\n", nb_last_error());
        fail();
    }
    assert_int_equal(r.iters, iters);
    cost c = {nb_backend_launches(be), 0};
    nb_op_profile p[32];
    int n = nb_backend_profile(be, p, 32);
    for (int i = 0; i < n; i++)
        if (strcmp(p[i].op, "read") == 0) c.reads = p[i].calls;
    assert_int_equal(nb_backend_profile_enable(be, 0), NB_OK);
    nb_model_free(m);
    nb_dataset_free(d);
    return c;
}

/*
 * A full-batch step of the tiny net, kernel by kernel: zero the loss, two
 * forward layers (each one GEMM with bias and σ in its epilogue), the loss
 * with its gradient, σ' of the output, the output bias gradient, ∇W of
 * layer 2, the delta of layer 1 (one GEMM with σ' and its bias gradient
 * in the epilogue), ∇W of layer 1, Σg² (one work-group), the update: 11.
 * Reads: Φ with ‖∇Φ‖ (one read), and the NaN/Inf flag of the parameters,
 * which the divergence guard of full-batch descent checks at every iterate.
 */
static void test_full_batch_step(void **state)
{
    (void)state;
    if (!ocl) skip();
    const long k = 21;
    cost one = run(ocl, 4, 0, 1, 1), many = run(ocl, 4, 0, k, 1);
    double launches = (double)(many.launches - one.launches) / (double)(k - 1);
    double reads = (double)(many.reads - one.reads) / (double)(k - 1);
    print_message("full batch: %.3g launches and %.3g reads per step\n", launches, reads);
    assert_true(one.launches > 0);
    assert_true(launches <= 11.0);
    assert_true(reads <= 2.0);
}

/* Mini-batch steps on resident data: rows are gathered on the device and
 * the loss stays there until the epoch ends, so a step reads nothing when
 * the divergence guard is asked to look only at epoch ends (check_every
 * beyond the run; by default it looks, and reads, after every update). */
static void test_mini_batch_reads_nothing(void **state)
{
    (void)state;
    if (!ocl) skip();
    /* 16 rows in batches of 4: 4 steps an epoch; 1 epoch against 3. */
    cost one = run(ocl, 16, 4, 4, 1000), three = run(ocl, 16, 4, 12, 1000);
    double per_epoch = (double)(three.reads - one.reads) / 2.0;
    double launches = (double)(three.launches - one.launches) / 8.0;
    print_message("mini-batch: %.3g reads per epoch of 4 steps, %.3g launches per step\n",
                  per_epoch, launches);
    /* The epoch's end reads its loss, ‖∇Φ‖ is not asked for, the guard
     * reads the parameter flag: reads come per epoch, not per step. */
    assert_true(per_epoch <= 2.0);
    assert_true(launches <= 12.0); /* the full-batch step's, with the gather */
}

static void test_cpu_counts_no_launches(void **state)
{
    (void)state;
    nb_backend *cpu = NULL;
    assert_int_equal(nb_cli_backend_create("cpu", &cpu), NB_OK);
    cost c = run(cpu, 4, 0, 2, 1);
    assert_int_equal(c.launches, -1);
    nb_backend_free(cpu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_batch_step),
        cmocka_unit_test(test_mini_batch_reads_nothing),
        cmocka_unit_test(test_cpu_counts_no_launches),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
