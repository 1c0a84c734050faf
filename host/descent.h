/*
 * descent.h — the one descent loop (private).
 *
 * The loop knows iterations, epochs, the schedule and the halting rules,
 * and nothing about what is being minimised: an objective supplies the
 * gradient, the update and the measurements through callbacks. nb_descend
 * plugs in a host function of doubles; nb_train plugs in an MLP on any
 * backend. Only what a rule or a report needs is ever measured.
 */
#ifndef NB_DESCENT_H
#define NB_DESCENT_H

#include <stdbool.h>

#include "nabla.h"

typedef struct nb_objective {
    void *ctx;
    long batches; /* per epoch; 1 means full batch (iteration = epoch) */

    /* Optional: called before each epoch's first batch (e.g. shuffle). */
    nb_status (*epoch_begin)(void *ctx, long epoch);
    /* Gradient of batch b's loss at the current point. Full batch: also
     * the exact Φ into *loss (always non-NULL then). */
    nb_status (*gradient)(void *ctx, long b, double *loss);
    /* ‖∇Φ‖ of the gradient last computed by `gradient`. */
    nb_status (*grad_norm)(void *ctx, double *norm);
    /* x ← x − α ∇. */
    nb_status (*step)(void *ctx, double lr);
    /* Mini-batch only: mean batch loss over the epoch just finished. */
    nb_status (*epoch_loss)(void *ctx, double *loss);
    /* Mini-batch only: exact Φ and ‖∇Φ‖ over all data at the current point. */
    nb_status (*exact)(void *ctx, double *loss, double *norm);
    /* Optional: the epoch's statistics (val fields may be filled in);
     * set *stop to ask the loop to stop. */
    nb_status (*report)(void *ctx, nb_epoch_stats *s, int *stop);
} nb_objective;

/*
 * Run descent until a rule of s fires. report_every ≥ 1: epochs between
 * reports (the last epoch is always reported). measure_grad: also measure
 * ‖∇Φ‖ at reported mini-batch epochs. Fills res (val fields from the last
 * report). A non-finite loss or gradient norm fails with NB_ERR_NONFINITE.
 */
nb_status nb_descent_run(const nb_objective *o, const nb_schedule *s, long report_every,
                         bool measure_grad, nb_result *res);

#endif
