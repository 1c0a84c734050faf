/*
 * schedule.h — the descent schedule (private): the step size for each
 * update and the halting rules, in one place so both can grow.
 *
 * Used by the one descent loop (descent.c), which serves nb_descend on any
 * function and nb_train on an MLP alike. The loop measures; this module
 * decides.
 */
#ifndef NB_SCHEDULE_H
#define NB_SCHEDULE_H

#include <stdbool.h>

#include "nabla.h"

/* Where the descent stands when the rules are consulted. */
typedef struct nb_progress {
    long iters;       /* updates made so far                                 */
    long epochs;      /* full passes made so far                             */
    double loss;      /* Φ measured at this point (NaN: not measured)        */
    double grad_norm; /* ‖∇Φ‖ measured at this point (NaN: not measured)    */
    double val_loss;  /* validation Φ at this point (NaN: none)              */
    double seconds;   /* since the descent started                           */
    /* What the divergence factor judges. Full batch: loss itself. Mini-
     * batch: a statistic one batch cannot fool, the mean loss over the last
     * epoch's worth of rows, (s + (R − r)·prev) / R for the sum s over the
     * r rows seen so far in this epoch, R rows per epoch and prev the mean
     * of the last finished epoch; NaN (not judged) during the first epoch. */
    double smooth;
    bool full_batch;  /* iterations and epochs coincide                      */
    bool epoch_end;   /* an epoch just ended: the per-epoch rules apply      */
} nb_progress;

/* What the rules remember between checks. */
typedef struct nb_halt_state {
    double best_loss;     /* lowest training Φ seen (divergence, plateau)    */
    long plateau_run;     /* epochs in a row with too little improvement     */
    double plateau_ref;   /* the loss the next epoch must improve on         */
    double best_val;      /* lowest validation Φ seen (early stopping)       */
    long since_best_val;  /* epochs since it                                 */
    bool val_improved;    /* the last check saw a new best validation loss   */
    /* Mini-batch: the mean batch loss of the last finished epoch (NaN
     * before the first), which the divergence statistic leans on (see
     * nb_progress.smooth). */
    double loss_avg;
} nb_halt_state;

void nb_halt_state_init(nb_halt_state *h);

/* NB_ERR_ARG with the reason if s is unusable. `fn` names the caller;
 * full_batch and has_val say what the caller can support. */
nb_status nb_schedule_check(const char *fn, const nb_schedule *s, bool full_batch, bool has_val);

/* Does the ‖∇Φ‖ rule need ‖∇Φ‖ measured? */
bool nb_schedule_needs_grad_norm(const nb_schedule *s);

/*
 * Check the rules at p. Returns NB_HALT_NONE to go on, else the first rule
 * that fires (tolerance, target, plateau, early stop, time, iterations,
 * epochs) with a sentence in why such as "‖∇Φ‖ = 8.1e-07 ≤ 1e-06 after
 * 412 iterations". Updates h (best losses, plateau and patience counters).
 */
nb_halt nb_schedule_halt(const nb_schedule *s, nb_halt_state *h, const nb_progress *p, char *why,
                         size_t why_size);

/*
 * Divergence: NB_HALT_DIVERGED when loss is non-finite, params_ok is false,
 * or smooth > diverge_factor × the best smooth value so far; NB_HALT_NONE
 * otherwise (and the best is updated). A NaN smooth is not judged. why says
 * which.
 */
nb_halt nb_schedule_diverged(const nb_schedule *s, nb_halt_state *h, const nb_progress *p,
                             bool params_ok, char *why, size_t why_size);

#endif
