/*
 * pass.h — forward and backward passes over a batch of rows (private).
 *
 * A pass owns the scratch for up to `cap` rows: the activations of every
 * layer, the targets, two delta buffers and a few scalars, each one backend
 * buffer allocated once. Written only against the backend interface.
 * Passes read their rows through nb_devdata (devdata.h), so a full-batch
 * pass over resident data never copies its input.
 */
#ifndef NB_PASS_H
#define NB_PASS_H

#include <stdbool.h>

#include "model.h"

/* Scalar slots of nb_pass.scal. */
enum { NB_SCAL_EPOCH_LOSS = 0, NB_SCAL_SUMSQ = 1, NB_SCAL_PASS_LOSS = 2, NB_SCAL_COUNT = 3 };

typedef struct nb_pass {
    size_t cap;      /* rows                                                */
    nb_buf act;      /* input (cap, w_0), then Y_l (cap, w_l) for l = 1..L  */
    size_t *act_off; /* (n_layers + 1) offsets into act                      */
    nb_buf target;   /* (cap, w_L)                                           */
    nb_buf delta;    /* two halves of (cap, max w_l), used in turn           */
    size_t delta_half;
    nb_buf scal;     /* NB_SCAL_COUNT floats                                 */
} nb_pass;

/* Largest row count a pass may use so its scratch stays near 256 MiB. */
size_t nb_pass_max_rows(const nb_model *m);

nb_status nb_pass_create(const nb_model *m, size_t cap, nb_pass *p);
void nb_pass_destroy(const nb_model *m, nb_pass *p); /* tolerates partial creation */

/* Where a batch gathered for this pass goes: its input rows (cap, w_0),
 * the first slot of act, and its targets (cap, w_L). */
static inline nb_view nb_pass_in(const nb_pass *p) { return nb_view_at(&p->act, 0); }
static inline nb_view nb_pass_target(const nb_pass *p) { return nb_view_at(&p->target, 0); }

/* Output of the last forward: (rows, w_L) at act_off[n_layers]. */
static inline nb_view nb_pass_out(const nb_model *m, const nb_pass *p)
{
    return nb_view_at(&p->act, p->act_off[m->n_layers]);
}

/*
 * Forward `rows` ≤ cap rows of input view x (rows, w_0). With logits, a
 * softmax output layer stops at its logits z (the loss works on them).
 */
nb_status nb_pass_forward(nb_model *m, nb_pass *p, size_t rows, nb_view x, bool logits);

/*
 * One batch: forward, loss against t (rows, w_L) added to scal[slot], and
 * with want_grad the backward pass into m->grad, scaled by `scale` (1/N for
 * Φ's mean over N rows); accumulate adds to m->grad instead of overwriting.
 */
nb_status nb_pass_loss_grad(nb_model *m, nb_pass *p, size_t rows, nb_view x, nb_view t,
                            float scale, int slot, bool want_grad, bool accumulate);

struct nb_devdata;

/* Rows [r0, r1) of dd: Φ's sum over them into scal[NB_SCAL_PASS_LOSS]
 * and, with want_grad, scale × its gradient into m->grad (zero when the
 * range is empty); nothing is read back. */
nb_status nb_pass_range(nb_model *m, nb_pass *p, struct nb_devdata *dd, size_t r0, size_t r1,
                        float scale, bool want_grad);

/* Φ over all rows of dd (mean) and, with want_grad, ∇Φ into m->grad. */
nb_status nb_pass_full(nb_model *m, nb_pass *p, struct nb_devdata *dd, bool want_grad,
                       double *loss);

/* ‖v‖ of a float buffer's first n elements, read back. */
nb_status nb_pass_norm(nb_model *m, nb_pass *p, const nb_buf *v, size_t n, double *norm);

/* Φ and classification accuracy (labels (rows) on the host; NULL: no
 * accuracy, *acc = NaN) over all rows of dd. */
nb_status nb_pass_evaluate(nb_model *m, nb_pass *p, struct nb_devdata *dd, const int32_t *labels,
                           double *loss, double *acc);

/* Rows [r0, r1) of dd: Φ's sum over them and how many of them the model
 * classifies right (0 without labels; labels indexed by row of dd). */
nb_status nb_pass_evaluate_range(nb_model *m, nb_pass *p, struct nb_devdata *dd,
                                 const int32_t *labels, size_t r0, size_t r1, double *loss_sum,
                                 size_t *correct);

#endif
