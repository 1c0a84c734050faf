/*
 * mismatch_test.c — ranks that were given different things refuse to
 * train together: a model seed, a shuffle seed, a row count, one data
 * value or a step size that differs on one rank makes nb_dist_check and
 * nb_train_dist return NB_ERR_ARG on every rank, with the same message
 * everywhere, before any update (the parameters stay as they were made).
 * Ranks given the same things pass the check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_harness.h"

enum what { SAME, MODEL_SEED, SHUFFLE_SEED, ROWS, VALUE, LR, VAL_ROWS };

static const char *const names[] = {"nothing differs", "the model's seed",
                                    "the shuffle seed", "the row count",
                                    "one input value", "the step size",
                                    "the validation rows"};
/* A word the message must hold: it names what differs. */
static const char *const keys[] = {"", "parameters", "seed", "rows", "data", "schedule",
                                   "validation"};

/* The rank that differs: the last, so that rank 0 (often the reference in
 * a reduction) is not the odd one out. */
static int odd(void) { return H.rank == H.ranks - 1 && H.ranks > 1; }

static void run_case(enum what w)
{
    const char *name = names[w];
    size_t rows = w == ROWS && odd() ? 96 : 97;
    nb_dataset *tr = mh_regression(rows, 5, 2, 51, 0);
    if (w == VALUE && odd()) {
        float *x = malloc(rows * 5 * sizeof *x);
        if (!x) mh_abort("out of memory");
        memcpy(x, nb_dataset_x(tr), rows * 5 * sizeof *x);
        x[60 * 5 + 3] += 0.25f;
        nb_dataset *changed = NULL;
        if (nb_dataset_from_arrays(rows, 5, 2, x, nb_dataset_y(tr), &changed) != NB_OK)
            mh_abort("nb_dataset_from_arrays: %s", nb_last_error());
        nb_dataset_free(tr);
        tr = changed;
        free(x);
    }
    nb_dataset *va = mh_regression(w == VAL_ROWS && odd() ? 20 : 21, 5, 2, 52, 0);

    const int widths[3] = {5, 8, 2};
    const nb_act acts[2] = {NB_ACT_TANH, NB_ACT_IDENTITY};
    nb_model *m = mh_model(2, widths, acts, NB_LOSS_MSE, w == MODEL_SEED && odd() ? 2 : 1);
    nb_train_options o;
    nb_train_options_default(&o);
    o.batch = 16;
    o.seed = w == SHUFFLE_SEED && odd() ? 4 : 3;
    o.schedule.lr = w == LR && odd() ? 0.11 : 0.1;
    o.schedule.max_epochs = 2;

    nb_status want = w == SAME || H.ranks == 1 ? NB_OK : NB_ERR_ARG;
    char label[160];
    nb_status st = nb_dist_check(m, tr, va, &o, H.comm);
    snprintf(label, sizeof label, "%s: nb_dist_check's status", name);
    mh_same_i64(label, st);
    if (st != want)
        mh_fail("%s: nb_dist_check returned %s, want %s: %s", name, nb_status_str(st),
                nb_status_str(want), st ? nb_last_error() : "");
    char check_msg[1024] = "";
    if (st != NB_OK) {
        snprintf(check_msg, sizeof check_msg, "%s", nb_last_error());
        snprintf(label, sizeof label, "%s: nb_dist_check's message", name);
        mh_same_str(label, check_msg);
        mh_note("%s: %s", name, check_msg);
        if (!strstr(check_msg, keys[w]))
            mh_fail("%s: the message does not name it (no \"%s\"): %s", name, keys[w],
                    check_msg);
    }

    if (want == NB_ERR_ARG) {
        /* nb_train_dist makes the same check first, and trains nothing. */
        size_t n = 0;
        float *before = mh_params(m, &n);
        nb_result r;
        mh_train(1, m, tr, va, &o, &r, NB_ERR_ARG);
        const char *msg = nb_last_error();
        snprintf(label, sizeof label, "%s: nb_train_dist's message", name);
        mh_same_str(label, msg);
        /* The same finding; each message names the call that was made. */
        const char *a = strchr(msg, ':'), *b = strchr(check_msg, ':');
        if (strncmp(msg, "nb_train_dist:", 14) != 0 || strncmp(check_msg, "nb_dist_check:", 14) != 0 ||
            !a || !b || strcmp(a, b) != 0)
            mh_fail("%s: nb_train_dist said \"%s\", nb_dist_check \"%s\"", name, msg, check_msg);
        float *after = mh_params(m, &n);
        if (memcmp(before, after, n * sizeof *after) != 0)
            mh_fail("%s: nb_train_dist refused but changed the parameters", name);
        if (r.iters != 0) mh_fail("%s: nb_train_dist refused after %ld updates", name, r.iters);
        free(before), free(after);
    }
    nb_model_free(m);
    nb_dataset_free(tr), nb_dataset_free(va);
}

int main(int argc, char **argv)
{
    mh_init(&argc, &argv, "mpi_mismatch");
    for (int w = SAME; w <= VAL_ROWS; w++) run_case((enum what)w);
    return mh_finish();
}
