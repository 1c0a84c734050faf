/*
 * checkpoint.h — models and training runs as safetensors files (private).
 *
 * A model file holds, as tensors,
 *   layers.L.weight (out, in), layers.L.bias (out)   for L = 0 … layers−1
 *   input.mean (in), input.std (in)                  with standardisation
 * and as metadata "nabla.kind" = "model" and "nabla.arch", a JSON object
 * {"widths": [...], "acts": [...], "loss": "mse|xent"}.
 * A training checkpoint is a model file ("nabla.kind" = "checkpoint")
 * plus the optimizer state (optimizer.m, optimizer.v) and, in
 * "nabla.train", a JSON object with the optimizer kind, the shuffling RNG
 * state, the update and epoch counts and the halting rules' memory, and
 * in "nabla.schedule" the run's step-size, optimizer and halting settings
 * (for the record: a resumed run takes its settings from its caller).
 * Doubles and 64-bit words in it are written as 16 hex digits of their
 * bits, so a resumed run continues bit for bit and no locale is involved.
 */
#ifndef NB_CKPT_CHECKPOINT_H
#define NB_CKPT_CHECKPOINT_H

#include "descent.h"
#include "model.h"
#include "rng.h"

/* What a checkpoint adds to a model. */
typedef struct nb_ckpt_train {
    const nb_schedule *sched; /* written for the record; not read back */
    nb_optim optim;
    size_t n;            /* parameters                                   */
    const float *state;  /* (k·n): m then v, k from the optimizer; or NULL */
    nb_rng rng;          /* the shuffling stream, between epochs         */
    nb_descent_state ds; /* counters and the halting rules' memory       */
} nb_ckpt_train;

/* Write m (and, if tr is not NULL, the training state) to path atomically. */
nb_status nb_ckpt_save(nb_model *m, const nb_ckpt_train *tr, const char *path);

/*
 * Read the training state of a checkpoint into tr and *state (k·n floats,
 * malloc'ed, caller frees; NULL for SGD), after checking that its
 * architecture is m's and its optimizer is `optim`; the parameters and
 * standardisation go into m.
 */
nb_status nb_ckpt_resume(nb_model *m, const char *path, nb_optim optim, nb_ckpt_train *tr,
                         float **state);

#endif
