/*
 * halt_test.c — every halting rule fires on all ranks together, at the
 * update where it fires in one process: early stopping on validation
 * data, the target loss, divergence from a too-large step, and a NaN that
 * only one rank's shard produces (one row with a huge input). Every rank
 * returns the same status, halt, iteration count and reason, and holds
 * bit-identical parameters (the last good ones, where a rule restores
 * them).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_harness.h"

/* Parameter tolerance against one process: mpi_harness.h says how it was
 * sized (float reassociation of the K partial sums, a few ulps per step). */
#define ATOL MH_ATOL
#define RTOL MH_RTOL

static const int widths[3] = {5, 10, 2};

/* Run one process and K ranks on the same problem, and compare. want_st:
 * the status the reference must return (the dist run must return the
 * same). */
static void compare(const char *name, const nb_dataset *tr, const nb_dataset *va,
                    const nb_act *acts, const nb_train_options *o, nb_status want_st,
                    nb_halt want_halt)
{
    nb_model *ref = mh_model(2, widths, acts, NB_LOSS_MSE, 4);
    nb_model *dist = mh_model(2, widths, acts, NB_LOSS_MSE, 4);
    size_t n = 0;
    float *initial = mh_params(ref, &n);
    nb_result rr, rd;
    nb_status sr = mh_train(0, ref, tr, va, o, &rr, want_st);
    mh_train(1, dist, tr, va, o, &rd, want_st);
    mh_same_result(name, want_st, &rd, dist);
    mh_note("%s: one process: %s, halt %d after %ld updates (%s)", name, nb_status_str(sr),
            (int)rr.halt, rr.iters, rr.why);
    if (rr.halt != want_halt)
        mh_fail("%s: the reference stopped with halt %d (%s), want %d: the case tests nothing",
                name, (int)rr.halt, rr.why, (int)want_halt);
    if (rd.halt != rr.halt || rd.iters != rr.iters || rd.epochs != rr.epochs)
        mh_fail("%s: %d ranks stopped with halt %d after %ld updates, %ld epochs (\"%s\"); one "
                "process with halt %d after %ld, %ld (\"%s\")",
                name, H.ranks, (int)rd.halt, rd.iters, rd.epochs, rd.why, (int)rr.halt,
                rr.iters, rr.epochs, rr.why);
    float *want = mh_params(ref, &n), *got = mh_params(dist, &n);
    /* Stopped before the first update: the last good parameters are the
     * ones the run started from, exactly. */
    if (rr.iters == 0 && memcmp(want, initial, n * sizeof *want) != 0)
        mh_fail("%s: one process stopped before any update but left other parameters than "
                "it started from", name);
    if (rd.iters == 0 && memcmp(got, initial, n * sizeof *got) != 0)
        mh_fail("%s: %d ranks stopped before any update but left other parameters than they "
                "started from", name, H.ranks);
    char what[160];
    snprintf(what, sizeof what, "%s: parameters, %d ranks against one process", name, H.ranks);
    mh_close(what, got, want, n, ATOL, RTOL);
    free(want), free(got), free(initial);
    nb_model_free(ref), nb_model_free(dist);
}

/* Validation targets are the negated function: once training has fitted
 * the first steps' shared part, every step makes them worse, far above
 * rounding, so early stopping fires at a definite epoch. */
static void early_stopping(void)
{
    nb_dataset *tr = mh_regression(97, 5, 2, 31, 0), *va = mh_regression(41, 5, 2, 32, 1);
    const nb_act acts[2] = {NB_ACT_TANH, NB_ACT_IDENTITY};
    nb_train_options o;
    nb_train_options_default(&o);
    o.batch = 16;
    o.seed = 6;
    o.schedule.lr = 0.05;
    o.schedule.max_epochs = 200;
    o.schedule.early_stop = 3;
    compare("early stopping", tr, va, acts, &o, NB_OK, NB_HALT_EARLY_STOP);
    nb_dataset_free(tr), nb_dataset_free(va);
}

/* The loss after each reported epoch. */
typedef struct trace {
    double loss[64];
    int n;
} trace;

static int record(void *user, const nb_epoch_stats *s)
{
    trace *t = user;
    if (t->n < 64) t->loss[t->n++] = s->loss;
    return 0;
}

/* Target loss: set halfway between the losses the reference reports at
 * iterations 30 and 31, so that it fires there by a margin of half a
 * step's decrease (≈ 1e-3 relative), far above what reassociation moves
 * the loss (≈ 1e-7). */
static void target_loss(void)
{
    nb_dataset *tr = mh_regression(97, 5, 2, 33, 0);
    const nb_act acts[2] = {NB_ACT_TANH, NB_ACT_IDENTITY};
    nb_train_options o;
    nb_train_options_default(&o);
    o.batch = 0;
    o.seed = 6;
    o.schedule.lr = 0.2;
    o.schedule.max_epochs = 60;
    trace t = {.n = 0};
    o.on_epoch = record, o.user = &t, o.report_every = 1;
    nb_model *probe = mh_model(2, widths, acts, NB_LOSS_MSE, 4);
    nb_result r;
    mh_train(0, probe, tr, NULL, &o, &r, NB_OK);
    nb_model_free(probe);
    if (t.n < 40 || !(t.loss[30] < t.loss[29])) {
        mh_fail("target loss: the probe run reported %d losses, not falling at 30 (%g, %g)",
                t.n, t.n > 30 ? t.loss[29] : NAN, t.n > 30 ? t.loss[30] : NAN);
        nb_dataset_free(tr);
        return;
    }
    o.on_epoch = NULL, o.user = NULL;
    o.schedule.target_loss = 0.5 * (t.loss[29] + t.loss[30]);
    mh_note("target loss %.9g, between %.9g and %.9g", o.schedule.target_loss, t.loss[29],
            t.loss[30]);
    compare("target loss", tr, NULL, acts, &o, NB_OK, NB_HALT_TARGET_LOSS);
    nb_dataset_free(tr);
}

/* A linear net with a step far above 2 / (the Hessian's largest
 * eigenvalue): the loss grows by a constant factor per step and passes
 * 1000 × the best within a few steps, on one process and on K ranks
 * alike. */
static void divergence(void)
{
    nb_dataset *tr = mh_regression(97, 5, 2, 34, 0);
    const nb_act acts[2] = {NB_ACT_IDENTITY, NB_ACT_IDENTITY};
    nb_train_options o;
    nb_train_options_default(&o);
    o.batch = 0;
    o.seed = 6;
    o.schedule.lr = 5.0;
    o.schedule.max_epochs = 100;
    compare("divergence", tr, NULL, acts, &o, NB_ERR_DIVERGED, NB_HALT_DIVERGED);
    nb_dataset_free(tr);
}

/* One row of 97 with an input of 1e30: through a relu layer it reaches
 * the output at ~1e30, whose square overflows float32 to Inf, and the
 * gradient with it. Only the rank whose shard (or batch slice) holds that
 * row sees it; every rank must stop with the same status at the same
 * update as one process does. Full batch (at the first update) and
 * mini-batch (inside the first epoch, at the batch holding the row). */
static void nan_in_one_shard(size_t batch)
{
    nb_dataset *clean = mh_regression(97, 5, 2, 35, 0);
    size_t rows = nb_dataset_rows(clean);
    float *x = malloc(rows * 5 * sizeof *x);
    if (!x) mh_abort("out of memory");
    memcpy(x, nb_dataset_x(clean), rows * 5 * sizeof *x);
    x[40 * 5 + 0] = 1e30f;
    nb_dataset *tr = NULL;
    if (nb_dataset_from_arrays(rows, 5, 2, x, nb_dataset_y(clean), &tr) != NB_OK)
        mh_abort("nb_dataset_from_arrays: %s", nb_last_error());
    const nb_act acts[2] = {NB_ACT_RELU, NB_ACT_IDENTITY};
    nb_train_options o;
    nb_train_options_default(&o);
    o.batch = batch;
    o.seed = 6;
    o.schedule.lr = 0.05;
    o.schedule.max_epochs = 3;
    char name[64];
    snprintf(name, sizeof name, "NaN in one shard, batch %zu", batch);
    compare(name, tr, NULL, acts, &o, NB_ERR_NONFINITE, NB_HALT_DIVERGED);
    nb_dataset_free(tr), nb_dataset_free(clean);
    free(x);
}

int main(int argc, char **argv)
{
    mh_init(&argc, &argv, "mpi_halt");
    early_stopping();
    target_loss();
    divergence();
    nan_in_one_shard(0);
    nan_in_one_shard(16);
    return mh_finish();
}
