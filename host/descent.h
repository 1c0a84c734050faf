/*
 * descent.h — the one descent loop (private).
 *
 * The loop knows iterations, epochs, the schedule, the line search, the
 * divergence guard and the halting rules, and nothing about what is being
 * minimised: an objective supplies gradients, steps and measurements
 * through callbacks. nb_descend plugs in a host function of doubles;
 * nb_train plugs in an MLP on any backend. Only what a rule or a report
 * needs is ever measured.
 */
#ifndef NB_DESCENT_H
#define NB_DESCENT_H

#include <signal.h>
#include <stdbool.h>

#include "nabla.h"
#include "optim_math.h"
#include "schedule.h"

/* Saved copies of the parameters. */
enum { NB_SNAP_GOOD = 0, /* the last point that passed the divergence check */
       NB_SNAP_BEST = 1, /* the best validation loss (early stopping)       */
       NB_SNAP_TRIAL = 2 /* the line search's starting point                */ };

/* Where a descent stands between epochs: with the objective's own state
 * (parameters, optimizer state, RNG), enough to continue exactly. */
typedef struct nb_descent_state {
    long iters, epochs;
    long batch;         /* mini-batch: batches done in the unfinished epoch
                           (an interrupted run); 0 at an epoch boundary    */
    nb_halt_state halt; /* best losses, plateau and patience counters */
    double ls_alpha;    /* the line search's next starting α          */
} nb_descent_state;

/* The largest update or epoch count a run may reach or a checkpoint may
 * hold: far below LONG_MAX, so no counter can overflow. */
#define NB_COUNT_MAX 1000000000000000L

typedef struct nb_objective {
    const char *name; /* the public call, for messages: "nb_train", "nb_descend" */
    void *ctx;
    long batches; /* per epoch; 1 means full batch (iteration = epoch) */
    bool has_val; /* validate() can measure a validation loss          */

    /* Optional: called before each epoch's first batch (e.g. shuffle). */
    nb_status (*epoch_begin)(void *ctx, long epoch);
    /* Gradient of batch b's loss at the current point. Full batch: also
     * the exact Φ into *loss (always non-NULL then). */
    nb_status (*gradient)(void *ctx, long b, double *loss);
    /* ‖∇Φ‖ of the gradient last computed by `gradient`. */
    nb_status (*grad_norm)(void *ctx, double *norm);
    /* One optimizer step with the last gradient. */
    nb_status (*step)(void *ctx, const nb_optim_step *st);
    /* Mini-batch only: the sum of the per-row losses of the batches so far
     * in this epoch, and how many rows they held. */
    nb_status (*epoch_loss)(void *ctx, double *sum, double *rows);
    double epoch_rows; /* mini-batch: rows per epoch                       */
    /* Optional: read after every update; non-zero ends the run there. */
    const volatile sig_atomic_t *interrupt;
    /* Mini-batch only: exact Φ and ‖∇Φ‖ over all data at the current point. */
    nb_status (*exact)(void *ctx, double *loss, double *norm);
    /* Has any step since the last call produced a NaN or Inf parameter? */
    nb_status (*params_bad)(void *ctx, bool *bad);
    /* Save the parameters to / restore them from a slot (NB_SNAP_*). */
    nb_status (*snapshot)(void *ctx, int slot);
    nb_status (*restore)(void *ctx, int slot);
    /* Line search: move to TRIAL − α ∇ (the last gradient) and return Φ there. */
    nb_status (*trial)(void *ctx, double alpha, double *loss);
    /* Optional: validation loss and accuracy at the current point. */
    nb_status (*validate)(void *ctx, double *loss, double *acc);
    /* Optional: the epoch's statistics; set *stop to ask the loop to stop. */
    nb_status (*report)(void *ctx, nb_epoch_stats *s, int *stop);
    /* Optional, for an objective spread over processes: v[0..n) becomes
     * its maximum over them, so that what the loop decides on local facts
     * (an interrupt, the clock, a callback's stop) is decided alike on
     * every process. */
    nb_status (*agree)(void *ctx, double *v, int n);
    /* Optional: called after every epoch's rules (the last one included)
     * with the state a checkpoint needs; halted says the run ends here. */
    nb_status (*epoch_end)(void *ctx, const nb_descent_state *st, bool halted);
} nb_objective;

/*
 * Run descent until a rule of s fires. report_every ≥ 1: epochs between
 * reports (the last epoch is always reported). measure_grad: also measure
 * ‖∇Φ‖ at reported mini-batch epochs. start, if not NULL, continues a run
 * from a saved state (a resumed checkpoint). Fills res. Divergence restores
 * the last good parameters and returns NB_ERR_NONFINITE or NB_ERR_DIVERGED.
 */
nb_status nb_descent_run(const nb_objective *o, const nb_schedule *s, long report_every,
                         bool measure_grad, const nb_descent_state *start, nb_result *res);

#endif
