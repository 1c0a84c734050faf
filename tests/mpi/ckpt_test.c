/*
 * ckpt_test.c — checkpoints move between rank counts: one written by a
 * K-rank run (rank 0 alone writes it) resumes in one process, and one
 * written by one process resumes on K ranks; either way the run reaches
 * the parameters of an uninterrupted one-process run within tolerance.
 * The ranks take turns with the files through barriers (all-reduces
 * through the communicator). argv[1]: a directory for the files.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mpi_harness.h"

/* Tolerance against the uninterrupted run: part of each resumed run's
 * epochs ran on K ranks, so its sums were reassociated (mpi_harness.h
 * sizes that); the checkpoint itself carries every value exactly. */
#define ATOL MH_ATOL
#define RTOL MH_RTOL

#define EPOCHS 6
#define HALF 3

static nb_dataset *data;
static const int widths[3] = {5, 10, 2};
static const nb_act acts[2] = {NB_ACT_TANH, NB_ACT_IDENTITY};

/* Mini-batch with momentum, so the checkpoint must carry the optimizer's
 * state, the shuffle's RNG and the counters, not only the parameters. */
static void options(nb_train_options *o, long epochs, const char *save, const char *resume)
{
    nb_train_options_default(o);
    o->batch = 16;
    o->seed = 12;
    o->schedule.optim = NB_OPT_MOMENTUM;
    o->schedule.lr = 0.05;
    o->schedule.max_epochs = epochs;
    o->save = save;
    o->resume = resume;
}

/* Train a fresh model; its parameters into a new array. */
static float *train(int dist, long epochs, const char *save, const char *resume, nb_result *r)
{
    nb_model *m = mh_model(2, widths, acts, NB_LOSS_MSE, 9);
    nb_train_options o;
    options(&o, epochs, save, resume);
    mh_train(dist, m, data, NULL, &o, r, NB_OK);
    size_t n = 0;
    float *t = mh_params(m, &n);
    nb_model_free(m);
    return t;
}

static void check_info(const char *path, long epochs)
{
    nb_checkpoint_info info;
    if (nb_checkpoint_read_info(path, &info) != NB_OK) {
        mh_fail("%s: %s", path, nb_last_error());
        return;
    }
    if (info.epochs != epochs || info.batch != 16 || info.seed != 12)
        mh_fail("%s: records epoch %ld, batch %zu, seed %llu; want %ld, 16, 12", path,
                info.epochs, info.batch, (unsigned long long)info.seed, epochs);
}

static void check_run(const char *name, const nb_result *r, const float *got, const float *want,
                      size_t n)
{
    if (r->halt != NB_HALT_MAX_EPOCHS || r->epochs != EPOCHS || r->updates != r->iters / 2)
        mh_fail("%s: halt %d after %ld epochs, %ld of %ld updates in this call; want the "
                "budget, %d epochs, half of the updates",
                name, (int)r->halt, r->epochs, r->updates, r->iters, EPOCHS);
    char what[160];
    snprintf(what, sizeof what, "%s: parameters against the uninterrupted run", name);
    mh_close(what, got, want, n, ATOL, RTOL);
}

int main(int argc, char **argv)
{
    mh_init(&argc, &argv, "mpi_ckpt");
    if (argc < 2) mh_abort("usage: mpi_ckpt_test DIR");
    const char *dir = argv[1];
    char from_k[4096], from_1[4096];
    snprintf(from_k, sizeof from_k, "%s/from_%d_ranks.safetensors", dir, H.ranks);
    snprintf(from_1, sizeof from_1, "%s/from_1_process.safetensors", dir);
    if (H.rank == 0) {
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) mh_abort("mkdir %s: %s", dir, strerror(errno));
        unlink(from_k), unlink(from_1); /* a previous run's files */
    }
    mh_barrier();
    /* 97 = 6 × 16 + 1 rows: the last batch of each epoch is one row. */
    data = mh_regression(97, 5, 2, 41, 0);
    size_t n = (size_t)(widths[0] + 1) * widths[1] + (size_t)(widths[1] + 1) * widths[2];

    /* The uninterrupted run, one process (each rank makes its own). */
    nb_result r;
    float *want = train(0, EPOCHS, NULL, NULL, &r);

    /* K ranks write, one process resumes. */
    nb_result rk;
    float *half = train(1, HALF, from_k, NULL, &rk);
    mh_same_bits("the K-rank run's parameters", half, n);
    mh_barrier(); /* rank 0 has written and closed the file */
    if (H.rank == 0) {
        struct stat sb;
        if (stat(from_k, &sb) != 0) mh_fail("%s was not written: %s", from_k, strerror(errno));
        check_info(from_k, HALF);
        float *got = train(0, EPOCHS, NULL, from_k, &r);
        check_run("K ranks, then one process", &r, got, want, n);
        free(got);
    }
    mh_barrier(); /* rank 0 is done with the file */

    /* One process writes, K ranks resume. */
    if (H.rank == 0) {
        float *t = train(0, HALF, from_1, NULL, &r);
        free(t);
        check_info(from_1, HALF);
    }
    mh_barrier(); /* the file is there for every rank to read */
    float *got = train(1, EPOCHS, NULL, from_1, &r);
    mh_same_result("one process, then K ranks", NB_OK, &r, NULL);
    check_run("one process, then K ranks", &r, got, want, n);
    mh_same_bits("the resumed K-rank run's parameters", got, n);

    free(want), free(half), free(got);
    nb_dataset_free(data);
    return mh_finish();
}
