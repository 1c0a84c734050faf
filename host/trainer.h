/*
 * trainer.h — nb_train's entry for callers inside the library (private):
 * nb_train_dist (trainer_dist.c) runs the same trainer on one rank's part.
 */
#ifndef NB_TRAINER_H
#define NB_TRAINER_H

#include <stdbool.h>

#include "nabla_dist.h"

/* How this process's run relates to the whole. One process: comm NULL,
 * rows_all = the training rows. */
typedef struct nb_dist_run {
    const nb_comm *comm;  /* the ranks; NULL or one rank: none            */
    bool full;            /* full batch (decided on all rows)             */
    size_t rows_all;      /* training rows over all ranks: Φ's N          */
} nb_dist_run;

/* nb_train's checks of its arguments (NB_ERR_ARG naming the problem). */
nb_status nb_train_check_args(const nb_model *m, const nb_dataset *train, const nb_dataset *val,
                              const nb_train_options *o);

/* nb_train after its checks, with train this rank's rows: in full batch
 * across ranks its shard, else all rows. res is cleared by the caller. */
nb_status nb_train_part(nb_model *m, const nb_dataset *train, const nb_dataset *val,
                       const nb_train_options *o, const nb_dist_run *d, nb_result *res);

#endif
