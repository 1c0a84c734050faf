/*
 * fullbatch_test.c — full-batch gradient descent across ranks reaches the
 * one-process run: after 50 iterations the parameters of nb_train_dist
 * match those of nb_train on the whole data within the reassociation
 * tolerance below (bit for bit with one rank), and the run stops at the
 * same iteration for the same reason. Every rank holds bit-identical
 * parameters and the same result. Run with 1, 2 and 3 ranks (and over
 * TCP): 97 rows shard unevenly for 2 and 3.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_harness.h"

/* The tolerance against one process: MH_ATOL and MH_RTOL
 * (mpi_harness.h says how they were sized: float reassociation of the K
 * partial sums). One rank is nb_train itself and must match exactly. */
#define ATOL MH_ATOL
#define RTOL MH_RTOL

typedef struct cfg {
    const char *name;
    int classify;        /* softmax cross-entropy on 3 classes, else MSE    */
    nb_optim optim;
    double lr;
    int line_search;
} cfg;

static void run_case(const cfg *c)
{
    const size_t rows = 97;
    nb_dataset *d = c->classify ? mh_classes(rows, 6, 3, 11) : mh_regression(rows, 5, 2, 11, 0);
    int widths[3] = {nb_dataset_inputs(d), 12, nb_dataset_outputs(d)};
    nb_act acts[2] = {NB_ACT_TANH, c->classify ? NB_ACT_SOFTMAX : NB_ACT_IDENTITY};
    nb_loss loss = c->classify ? NB_LOSS_XENT : NB_LOSS_MSE;

    nb_train_options o;
    nb_train_options_default(&o);
    o.batch = 0;
    o.seed = 5;
    o.schedule.lr = c->lr;
    o.schedule.optim = c->optim;
    o.schedule.line_search = c->line_search;
    o.schedule.max_epochs = 0;
    o.schedule.max_iters = 50;

    nb_model *ref = mh_model(2, widths, acts, loss, 3);
    nb_model *dist = mh_model(2, widths, acts, loss, 3);
    nb_result rr, rd;
    mh_train(0, ref, d, NULL, &o, &rr, NB_OK);
    mh_train(1, dist, d, NULL, &o, &rd, NB_OK);

    char what[128];
    snprintf(what, sizeof what, "%s", c->name);
    mh_same_result(what, NB_OK, &rd, dist);

    if (rr.halt != NB_HALT_MAX_ITERS || rr.iters != 50)
        mh_fail("%s: the reference stopped with halt %d after %ld iterations (%s), not at its "
                "budget of 50: the case tests nothing",
                c->name, (int)rr.halt, rr.iters, rr.why);
    if (rd.halt != rr.halt || rd.iters != rr.iters || strcmp(rd.why, rr.why) != 0)
        mh_fail("%s: %d ranks stopped with halt %d after %ld iterations (\"%s\"); one process "
                "with halt %d after %ld (\"%s\")",
                c->name, H.ranks, (int)rd.halt, rd.iters, rd.why, (int)rr.halt, rr.iters, rr.why);

    size_t n = 0;
    float *want = mh_params(ref, &n), *got = mh_params(dist, &n);
    if (H.ranks == 1) {
        /* One rank is nb_train itself (nabla_dist.h): no tolerance. */
        if (memcmp(got, want, n * sizeof *got) != 0)
            mh_fail("%s: one rank's parameters are not bit for bit nb_train's", c->name);
        if (rd.loss != rr.loss)
            mh_fail("%s: one rank's loss %.17g, nb_train's %.17g", c->name, rd.loss, rr.loss);
    } else {
        snprintf(what, sizeof what, "%s: parameters, %d ranks against one process", c->name,
                 H.ranks);
        mh_close(what, got, want, n, ATOL, RTOL);
    }
    mh_close_loss(c->name, rd.loss, rr.loss);
    /* Line search: its trial evaluations must be global too, or the ranks
     * would accept different steps (caught above) or count differently. */
    snprintf(what, sizeof what, "%s: evals", c->name);
    mh_same_i64(what, rd.evals);
    if (rd.evals != rr.evals)
        mh_fail("%s: %ld loss evaluations on %d ranks, %ld in one process", c->name, rd.evals,
                H.ranks, rr.evals);

    free(want), free(got);
    nb_model_free(ref), nb_model_free(dist);
    nb_dataset_free(d);
}

int main(int argc, char **argv)
{
    mh_init(&argc, &argv, "mpi_fullbatch");
    static const cfg cases[] = {
        {"sgd", 0, NB_OPT_SGD, 0.2, 0},
        {"momentum", 0, NB_OPT_MOMENTUM, 0.05, 0},
        {"line search", 0, NB_OPT_SGD, 1.0, 1},
        {"adam xent", 1, NB_OPT_ADAM, 0.01, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_case(&cases[i]);
    return mh_finish();
}
