/*
 * xor.c — a program outside nabla that uses it only through nabla.h and
 * the installed library: learns XOR on the cpu backend and exits 0 when the
 * loss reached the target. The consumer tests build it three ways
 * (find_package, pkg-config, add_subdirectory) and run it.
 */
#include <stdio.h>
#include <string.h>

#include "nabla.h"

int main(void)
{
    const float x[] = {0, 0, 0, 1, 1, 0, 1, 1};
    const float y[] = {0, 1, 1, 0};
    const int widths[] = {2, 4, 1};
    const nb_act acts[] = {NB_ACT_SIGMOID, NB_ACT_SIGMOID};
    nb_backend *be = NULL;
    nb_dataset *data = NULL;
    nb_model *model = NULL;
    nb_train_options opt;
    nb_result res;

    /* The header compiled against and the library linked must agree. */
    if (strcmp(nb_version(), NABLA_VERSION) != 0) {
        fprintf(stderr, "xor: header %s, library %s\n", NABLA_VERSION, nb_version());
        return 1;
    }
    nb_train_options_default(&opt);
    opt.batch = 0;
    opt.schedule.lr = 2.0;
    opt.schedule.max_epochs = 20000;
    opt.schedule.target_loss = 0.01;
    if (nb_backend_create("cpu", &be) != NB_OK || nb_dataset_from_arrays(4, 2, 1, x, y, &data) != NB_OK ||
        nb_model_create(be, 2, widths, acts, NB_LOSS_MSE, 1, &model) != NB_OK ||
        nb_train(model, data, NULL, &opt, &res) != NB_OK) {
        fprintf(stderr, "xor: %s\n", nb_last_error());
        return 1;
    }
    printf("nabla %s: xor %s\n", nb_version(), res.why);
    int ok = res.halt == NB_HALT_TARGET_LOSS;
    nb_model_free(model);
    nb_dataset_free(data);
    nb_backend_free(be);
    return ok ? 0 : 1;
}
