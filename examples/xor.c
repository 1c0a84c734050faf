/*
 * xor.c — the smallest nabla program that learns something: a 2-4-1
 * network fitted to XOR by full-batch gradient descent, then asked for its
 * four predictions. Exits 1 when a prediction is on the wrong side of 0.5
 * or a call fails, so a build that trains wrongly does not pass quietly.
 *
 *   cc -o xor xor.c $(pkg-config --cflags --libs nabla)
 */
#include <stdio.h>

#include "nabla.h"

int main(void)
{
    const float x[] = {0, 0, 0, 1, 1, 0, 1, 1}; /* 4 rows, 2 inputs */
    const float y[] = {0, 1, 1, 0};             /* a xor b          */
    const int widths[] = {2, 4, 1};
    const nb_act acts[] = {NB_ACT_TANH, NB_ACT_SIGMOID};
    nb_backend *be = NULL;
    nb_dataset *data = NULL;
    nb_model *model = NULL;
    nb_train_options opt;
    nb_result res;
    float pred[4];
    int wrong = 0;

    nb_train_options_default(&opt);
    opt.batch = 0;                 /* full batch: 4 rows, one step per epoch */
    opt.schedule.optim = NB_OPT_ADAM;
    opt.schedule.lr = 0.05;
    opt.schedule.max_epochs = 5000;
    opt.schedule.target_loss = 1e-3;
    /* "cpu" keeps the result the same on every machine; "auto" would take
     * a GPU where there is one. */
    if (nb_backend_create("cpu", &be) != NB_OK ||
        nb_dataset_from_arrays(4, 2, 1, x, y, &data) != NB_OK ||
        nb_model_create(be, 2, widths, acts, NB_LOSS_MSE, 7, &model) != NB_OK ||
        nb_train(model, data, NULL, &opt, &res) != NB_OK ||
        nb_model_predict(model, 4, x, pred) != NB_OK) {
        fprintf(stderr, "xor: %s\n", nb_last_error());
        nb_model_free(model);
        nb_dataset_free(data);
        nb_backend_free(be);
        return 1;
    }
    /* The library's own version: the one this program loaded, which may be
     * newer than the header it was compiled with. */
    printf("nabla %s: xor stopped: %s\n", nb_version(), res.why);
    for (int i = 0; i < 4; i++) {
        int ok = (pred[i] > 0.5f) == (y[i] > 0.5f);
        wrong += !ok;
        printf("%g xor %g -> %.4f%s\n", x[2 * i], x[2 * i + 1], pred[i], ok ? "" : "  WRONG");
    }
    nb_model_free(model); /* models before their backend */
    nb_dataset_free(data);
    nb_backend_free(be);
    return wrong ? 1 : 0;
}
