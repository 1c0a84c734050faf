/*
 * minibatch_test.c — mini-batch SGD across ranks sees the batches one
 * process sees: with the same global batch and seed, nb_train_dist on K
 * ranks and nb_train on all the data agree within tolerance after one and
 * after two epochs (the second with its own shuffle), also for a batch
 * that K does not divide and for a last partial batch smaller than K (so
 * that some ranks have no row of it). Every rank holds bit-identical
 * parameters and the same result.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_harness.h"

/*
 * Tolerance: MH_ATOL, MH_RTOL (mpi_harness.h: float reassociation of the
 * K partial sums, a few ulps per component per step). Here there are 6
 * to 14 steps of batches of 15 to 25 rows, fewer roundings per sum and
 * fewer steps than the 50 full-batch updates the bound is sized for.
 * Measured: max |diff| ≤ 3.0e-7 at 2 and 3 ranks. A batch split wrongly
 * (a row missing, counted twice, or taken from another batch) moves the
 * parameters by ≥ 1e-3 after one epoch and fails.
 */
#define ATOL MH_ATOL
#define RTOL MH_RTOL

typedef struct cfg {
    const char *name;
    size_t rows, batch;
    long epochs;
    int classify;
    nb_optim optim;
    double lr;
} cfg;

static void run_case(const cfg *c)
{
    nb_dataset *d = c->classify ? mh_classes(c->rows, 6, 4, 21)
                                : mh_regression(c->rows, 5, 2, 21, 0);
    int widths[3] = {nb_dataset_inputs(d), 10, nb_dataset_outputs(d)};
    nb_act acts[2] = {NB_ACT_TANH, c->classify ? NB_ACT_SOFTMAX : NB_ACT_IDENTITY};
    nb_loss loss = c->classify ? NB_LOSS_XENT : NB_LOSS_MSE;

    nb_train_options o;
    nb_train_options_default(&o);
    o.batch = c->batch;
    o.seed = 77;
    o.schedule.lr = c->lr;
    o.schedule.optim = c->optim;
    o.schedule.max_epochs = c->epochs;

    nb_model *ref = mh_model(2, widths, acts, loss, 8);
    nb_model *dist = mh_model(2, widths, acts, loss, 8);
    nb_result rr, rd;
    mh_train(0, ref, d, NULL, &o, &rr, NB_OK);
    mh_train(1, dist, d, NULL, &o, &rd, NB_OK);
    mh_same_result(c->name, NB_OK, &rd, dist);

    long per_epoch = (long)((c->rows + c->batch - 1) / c->batch);
    if (rr.halt != NB_HALT_MAX_EPOCHS || rr.epochs != c->epochs ||
        rr.iters != per_epoch * c->epochs)
        mh_fail("%s: the reference made %ld updates in %ld epochs (halt %d), want %ld in %ld",
                c->name, rr.iters, rr.epochs, (int)rr.halt, per_epoch * c->epochs, c->epochs);
    if (rd.halt != rr.halt || rd.iters != rr.iters || rd.epochs != rr.epochs ||
        strcmp(rd.why, rr.why) != 0)
        mh_fail("%s: %d ranks: halt %d, %ld updates, %ld epochs (\"%s\"); one process: halt %d, "
                "%ld, %ld (\"%s\")",
                c->name, H.ranks, (int)rd.halt, rd.iters, rd.epochs, rd.why, (int)rr.halt,
                rr.iters, rr.epochs, rr.why);

    size_t n = 0;
    float *want = mh_params(ref, &n), *got = mh_params(dist, &n);
    char what[160];
    snprintf(what, sizeof what, "%s: parameters, %d ranks against one process", c->name,
             H.ranks);
    mh_close(what, got, want, n, ATOL, RTOL);
    /* The epoch's loss: the mean of its batch losses. */
    mh_close_loss(c->name, rd.loss, rr.loss);

    free(want), free(got);
    nb_model_free(ref), nb_model_free(dist);
    nb_dataset_free(d);
}

int main(int argc, char **argv)
{
    mh_init(&argc, &argv, "mpi_minibatch");
    static const cfg cases[] = {
        /* 96 = 6 × 16: every batch splits evenly over 2 ranks. */
        {"batch 16 of 96, one epoch", 96, 16, 1, 0, NB_OPT_MOMENTUM, 0.1},
        /* 15 divides by neither 2 nor 3; the last batch has 7 rows. */
        {"batch 15 of 97, two epochs", 97, 15, 2, 0, NB_OPT_MOMENTUM, 0.1},
        /* 97 = 6 × 16 + 1: the last batch is one row, fewer than K. */
        {"batch 16 of 97 (last batch 1 row)", 97, 16, 2, 0, NB_OPT_SGD, 0.2},
        /* Adam on classes: its state, and 100 = 4 × 25 + 0 with an odd B. */
        {"adam xent, batch 25 of 100", 100, 25, 2, 1, NB_OPT_ADAM, 0.01},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_case(&cases[i]);
    return mh_finish();
}
