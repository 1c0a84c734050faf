/*
 * schedule.h — the descent schedule (private): the step size for each
 * iteration and the halting rules, in one place so both can grow.
 *
 * Used by the one descent loop (descent.c), which serves nb_descend on any
 * function and nb_train on an MLP alike.
 */
#ifndef NB_SCHEDULE_H
#define NB_SCHEDULE_H

#include <stdbool.h>

#include "nabla.h"

/* Where the descent stands when the rules are consulted. */
typedef struct nb_progress {
    long iters;       /* updates made so far                              */
    long epochs;      /* full passes made so far                          */
    double loss;      /* Φ measured at this point (NaN: not measured)     */
    double grad_norm; /* ‖∇Φ‖ measured at this point (NaN: not measured) */
    bool full_batch;  /* iterations and epochs coincide                   */
} nb_progress;

/* NB_ERR_ARG with the reason if s is unusable. `fn` names the caller. */
nb_status nb_schedule_check(const char *fn, const nb_schedule *s);

/* Step size α for update number `iter` (0-based) in epoch `epoch`. */
double nb_schedule_lr(const nb_schedule *s, long iter, long epoch);

/* Does the ‖∇Φ‖ rule need ‖∇Φ‖ measured? */
bool nb_schedule_needs_grad_norm(const nb_schedule *s);

/*
 * Check the rules at p. Returns NB_HALT_NONE to go on, else the first rule
 * that fires (tolerance, target, iterations, epochs) with a sentence in why
 * such as "‖∇Φ‖ = 8.1e-07 ≤ 1e-06 after 412 iterations".
 */
nb_halt nb_schedule_halt(const nb_schedule *s, const nb_progress *p, char *why, size_t why_size);

#endif
