/*
 * csv_train.c — training on a CSV file as an application would: load it,
 * hold out a validation split, standardise the features with statistics
 * from the training rows only, train a classifier with a checkpoint, then
 * load the checkpoint back and check that it predicts what the trained
 * model does.
 *
 *   csv_train DATA.csv CHECKPOINT.safetensors
 *
 * DATA.csv: numbers, the last column the class label (data/digits.csv is
 * one). Exits 0 when the run worked and the validation accuracy is at least
 * 0.9, 1 otherwise, and 2 for bad arguments.
 */
#include <stdio.h>
#include <stdlib.h>

#include "nabla.h"

/* Print the failed call's message and return 1: every nb_ call below that
 * fails leaves one line in nb_last_error(). */
static int fail(const char *what, nb_status st)
{
    fprintf(stderr, "csv_train: %s: %s: %s\n", what, nb_status_str(st), nb_last_error());
    return 1;
}

/* The model's standardisation from the training rows: statistics of the
 * validation rows must not leak into the model. */
static nb_status standardize(nb_model *m, const nb_dataset *train)
{
    size_t n = (size_t)nb_dataset_inputs(train);
    float *mean = malloc(n * sizeof *mean), *std = malloc(n * sizeof *std);
    nb_status st = mean && std ? nb_dataset_feature_stats(train, mean, std) : NB_ERR_NOMEM;
    if (st == NB_OK) st = nb_model_set_standardization(m, mean, std);
    free(mean);
    free(std);
    return st;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: csv_train DATA.csv CHECKPOINT.safetensors\n");
        return 2;
    }
    nb_csv_options csv;
    nb_backend *be = NULL;
    nb_dataset *all = NULL, *train = NULL, *val = NULL;
    nb_model *model = NULL, *loaded = NULL;
    nb_train_options opt;
    nb_checkpoint_info *info = malloc(sizeof *info); /* 4 KiB of record: not on the stack */
    nb_result res;
    nb_status st;
    int code = 1;

    nb_csv_options_default(&csv); /* last column = label, header and delimiter detected */
    if (!info) goto done;
    if ((st = nb_dataset_load_csv(argv[1], &csv, &all)) != NB_OK) {
        code = fail("load", st);
        goto done;
    }
    /* 20% held out, chosen by the seed; the views share all's rows. */
    if ((st = nb_dataset_split_views(all, 0.2, 1, &train, &val)) != NB_OK) {
        code = fail("split", st);
        goto done;
    }
    int widths[] = {nb_dataset_inputs(all), 32, nb_dataset_classes(all)};
    const nb_act acts[] = {NB_ACT_RELU, NB_ACT_SOFTMAX};
    if ((st = nb_backend_create("cpu", &be)) != NB_OK ||
        (st = nb_model_create(be, 2, widths, acts, NB_LOSS_XENT, 1, &model)) != NB_OK ||
        (st = standardize(model, train)) != NB_OK) {
        code = fail("model", st);
        goto done;
    }

    nb_train_options_default(&opt);
    opt.batch = 32;
    opt.schedule.optim = NB_OPT_ADAM;
    opt.schedule.lr = 1e-3;
    opt.schedule.max_epochs = 30;
    opt.schedule.early_stop = 5; /* stop when val loss stalls; keep the best */
    opt.save = argv[2];          /* written atomically every 10 epochs and at the end */
    opt.save_every = 10;
    if ((st = nb_train(model, train, val, &opt, &res)) != NB_OK) {
        code = fail("train", st);
        goto done;
    }
    printf("%zu train + %zu val rows, %d-%d-%d: %s\n", nb_dataset_rows(train),
           nb_dataset_rows(val), widths[0], widths[1], widths[2], res.why);
    printf("final: loss %.6g  val loss %.6g  val accuracy %.4f\n", res.loss, res.val_loss,
           res.val_acc);

    /* The checkpoint knows its run, and holds the model that training ended with. */
    double acc = 0, acc_loaded = -1;
    if ((st = nb_checkpoint_read_info(argv[2], info)) != NB_OK ||
        (st = nb_model_load(be, argv[2], &loaded)) != NB_OK ||
        (st = nb_model_evaluate(model, val, NULL, &acc)) != NB_OK ||
        (st = nb_model_evaluate(loaded, val, NULL, &acc_loaded)) != NB_OK) {
        code = fail("checkpoint", st);
        goto done;
    }
    printf("checkpoint %s: epoch %ld, batch %zu, seed %llu, val accuracy %.4f\n", argv[2],
           info->epochs, info->batch, (unsigned long long)info->seed, acc_loaded);
    /* Same parameters and standardisation on the same backend: the same numbers. */
    if (acc_loaded != acc) {
        fprintf(stderr, "csv_train: the checkpoint's accuracy %.6f differs from %.6f\n",
                acc_loaded, acc);
        goto done;
    }
    code = acc >= 0.9 ? 0 : 1;
    if (code) fprintf(stderr, "csv_train: val accuracy %.4f is below 0.9\n", acc);
done:
    nb_model_free(loaded);
    nb_model_free(model);
    nb_dataset_free(val); /* views and their source, in any order */
    nb_dataset_free(train);
    nb_dataset_free(all);
    nb_backend_free(be);
    free(info);
    return code;
}
