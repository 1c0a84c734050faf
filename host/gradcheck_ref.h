/*
 * gradcheck_ref.h — nb_gradcheck's double-precision reference: Φ and its
 * finite differences computed in double straight from θ, the model's
 * shape and the data (private; the check itself is gradcheck.c).
 *
 * Nothing here touches a backend or compares anything: the reference only
 * computes, and gradcheck.c judges its numbers against the backprop
 * gradient (see gradcheck_ref.c for how it is computed).
 */
#ifndef NB_GRADCHECK_REF_H
#define NB_GRADCHECK_REF_H

#include <stddef.h>

#include "nabla.h"

/*
 * The network and data as the reference sees them. Layers are 0-based here
 * (layer l maps a_l (w[l]) to z_l (w[l+1])); the report counts from 1.
 * One row's state is two vectors: z (Z) holds z_0 … z_{L-1}, layer l at
 * zo[l]; a (A) holds a_0 = the standardised input and a_1 … a_{L-1}, a_l
 * at ao[l]. a_L is never stored: the loss works from z_{L-1}.
 */
typedef struct nb_gc_net {
    int L;
    int w[NB_GRADCHECK_MAX_LAYERS + 1];
    nb_act act[NB_GRADCHECK_MAX_LAYERS];
    nb_loss loss;
    size_t ow[NB_GRADCHECK_MAX_LAYERS], ob[NB_GRADCHECK_MAX_LAYERS]; /* A_l, b_l in θ */
    size_t zo[NB_GRADCHECK_MAX_LAYERS], ao[NB_GRADCHECK_MAX_LAYERS];
    size_t Z, A;
    double margin;           /* relu_margin                                  */
    const nb_dataset *d;     /* x (rows, w0); y (rows, wL) or labels (rows)  */
    const float *mean, *std; /* the model's standardisation, or NULL         */
} nb_gc_net;

/* A checked coordinate: θ index, layer, unit j, input k (−1: the bias). */
typedef struct nb_gc_coord {
    size_t i;
    int l, j, k;
} nb_gc_coord;

/* The reference's view of model m and data d (borrowed: both must outlive
 * g); margin is relu_margin. */
void nb_gc_net_init(const nb_model *m, const nb_dataset *d, double margin, nb_gc_net *g);

/* Central differences of Φ at th (|θ| doubles) along every coordinate in
 * cs (nc) into fd (nc), each with step h = step·max(1, |θ_i|); into kink
 * (nc) the first-order size of what relu kinks their stencils met can do
 * to each; Φ at th into *phi. NB_ERR_NOMEM. */
nb_status nb_gc_fd_coords(const nb_gc_net *g, const double *th, double step,
                          const nb_gc_coord *cs, size_t nc, double *fd, double *kink,
                          double *phi);

/* The directional difference (Φ(tp) − Φ(tm)) / 2t into *du for tp = θ + t u
 * and tm = θ − t u, with *kink as in nb_gc_fd_coords. NB_ERR_NOMEM. */
nb_status nb_gc_fd_direction(const nb_gc_net *g, const double *th, const double *tp,
                             const double *tm, double t, double *du, double *kink);

#endif
