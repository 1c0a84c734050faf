/*
 * checkpoint.h — models and training runs as safetensors files (private).
 *
 * A model file holds, as tensors,
 *   layers.L.weight (out, in), layers.L.bias (out)   for L = 0 … layers−1
 *   input.mean (in), input.std (in)                  with standardisation
 * and as metadata "nabla.kind" = "model", "nabla.arch", a JSON object
 * {"widths": [...], "acts": [...], "loss": "mse|xent"}, and, when the
 * model has class names, "nabla.classes", a JSON array of one string per
 * output.
 * A training checkpoint is a model file ("nabla.kind" = "checkpoint")
 * plus the optimizer state (optimizer.m, optimizer.v) and this metadata:
 *   "nabla.train"    the optimizer kind, the shuffling RNG state, the
 *                    update, epoch and in-epoch batch counts and the
 *                    halting rules' memory: what a resume continues from;
 *   "nabla.schedule" the run's step-size, optimizer and halting settings;
 *   "nabla.run"      {"batch": rows per step (0: full batch), "seed": ...};
 *   "nabla.record"   the caller's own record (nb_train_options.record),
 *                    verbatim; absent when it had none.
 * A resume takes its settings from its caller and its state from
 * "nabla.train"; nb_checkpoint_read_info reads the settings back
 * ("nabla.schedule", "nabla.run", "nabla.record"), so that a caller can
 * continue a run with the settings it was started with.
 * Doubles of the state and 64-bit words are written as 16 hex digits of
 * their bits, so a resumed run continues bit for bit and no locale is
 * involved; the schedule's doubles are JSON numbers with 17 significant
 * digits, which read back to the same double. Every value read is range-
 * checked (ckpt_meta.h lists the rules and the defaults for older files).
 */
#ifndef NB_CKPT_CHECKPOINT_H
#define NB_CKPT_CHECKPOINT_H

#include <stdbool.h>

#include "descent.h"
#include "model.h"
#include "rng.h"

/* What a checkpoint adds to a model. */
typedef struct nb_ckpt_train {
    const nb_schedule *sched; /* written; NULL: none. Not set by resume    */
    nb_optim optim;
    size_t n;            /* parameters                                   */
    const float *state;  /* (k·n): m then v, k from the optimizer; or NULL */
    nb_rng rng;          /* the shuffling stream                         */
    nb_descent_state ds; /* counters and the halting rules' memory       */
    size_t batch;        /* rows per step; 0: full batch ("nabla.run")   */
    uint64_t seed;       /* the run's seed ("nabla.run")                 */
    bool has_run;        /* resume: the file had "nabla.run" (else batch
                            and seed are 0)                             */
    const char *record;  /* written as "nabla.record" unless NULL; not
                            set by resume                                */
} nb_ckpt_train;

/* Write m (and, if tr is not NULL, the training state) to path atomically. */
nb_status nb_ckpt_save(nb_model *m, const nb_ckpt_train *tr, const char *path);

/* NB_ERR_ARG (naming fn) unless record is NULL or valid UTF-8 of at most
 * NB_RECORD_MAX − 1 bytes: what a checkpoint can hold. */
nb_status nb_ckpt_check_record(const char *fn, const char *record);

/*
 * Read the training state of a checkpoint into tr and *state (k·n floats,
 * malloc'ed, caller frees; NULL for SGD), after checking that its
 * architecture is m's and its optimizer is `optim`; the parameters and
 * standardisation go into m, and the class names too unless m has its own
 * (which must then be the file's).
 */
nb_status nb_ckpt_resume(nb_model *m, const char *path, nb_optim optim, nb_ckpt_train *tr,
                         float **state);

#endif
