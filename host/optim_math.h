/*
 * optim_math.h — one optimizer step for one parameter, in double (private).
 *
 * The definition every update implementation follows: the reference op
 * (cpu/ref.c), and the host-function descent (descent.c), call it; the
 * fast cpu loop and the OpenCL kernel (kernels/update.cl) are tested
 * against the reference. See nb_optim in nabla.h for the formulas.
 */
#ifndef NB_OPTIM_MATH_H
#define NB_OPTIM_MATH_H

#include <math.h>

#include "nabla.h"

/* Floats of optimizer state per parameter (0, 1 or 2): m for momentum and
 * Nesterov, then v for Adam and AdamW. */
static inline int nb_optim_state_per_param(nb_optim o)
{
    return o == NB_OPT_MOMENTUM || o == NB_OPT_NESTEROV ? 1 : o >= NB_OPT_ADAM ? 2 : 0;
}

/* Everything one step needs besides the vectors. */
typedef struct nb_optim_step {
    nb_optim kind;
    double lr;           /* α of this step                                   */
    double momentum;     /* μ                                                */
    double beta1, beta2; /* Adam                                             */
    double eps;          /* Adam                                             */
    double weight_decay; /* λ: L2 on g, or decoupled for AdamW               */
    double bc1, bc2;     /* Adam bias corrections 1/(1 − β1^t), 1/(1 − β2^t)  */
    double clip_norm;    /* > 0: g is scaled so ‖g‖ ≤ clip_norm               */
} nb_optim_step;

/* The factor that clips a gradient of squared norm gnorm2. */
static inline double nb_clip_scale(double clip_norm, double gnorm2)
{
    if (clip_norm <= 0.0) return 1.0;
    double norm = sqrt(gnorm2);
    return norm > clip_norm ? clip_norm / norm : 1.0;
}

/* θ, m, v of one parameter after the step, given its gradient g (already
 * clipped). m and v are the state slots the kind uses (others untouched). */
static inline void nb_optim_elem(const nb_optim_step *s, double g, double *theta, double *m,
                                 double *v)
{
    double th = *theta;
    if (s->kind != NB_OPT_ADAMW) g += s->weight_decay * th; /* L2: part of the gradient */
    switch (s->kind) {
    case NB_OPT_SGD: *theta = th - s->lr * g; return;
    case NB_OPT_MOMENTUM:
        *m = s->momentum * *m + g;
        *theta = th - s->lr * *m;
        return;
    case NB_OPT_NESTEROV:
        *m = s->momentum * *m + g;
        *theta = th - s->lr * (g + s->momentum * *m);
        return;
    case NB_OPT_ADAM:
    case NB_OPT_ADAMW: {
        *m = s->beta1 * *m + (1.0 - s->beta1) * g;
        *v = s->beta2 * *v + (1.0 - s->beta2) * g * g;
        double step = (*m * s->bc1) / (sqrt(*v * s->bc2) + s->eps);
        if (s->kind == NB_OPT_ADAMW) step += s->weight_decay * th; /* decoupled */
        *theta = th - s->lr * step;
        return;
    }
    }
}

/* The step for update number t (1-based for Adam's bias correction). */
static inline nb_optim_step nb_optim_make_step(const nb_schedule *s, double lr, long t)
{
    nb_optim_step st = {s->optim, lr, s->momentum, s->beta1, s->beta2, s->eps, s->weight_decay,
                        1.0, 1.0, s->clip_norm};
    if (s->optim >= NB_OPT_ADAM) {
        st.bc1 = 1.0 / (1.0 - pow(s->beta1, (double)t));
        st.bc2 = 1.0 / (1.0 - pow(s->beta2, (double)t));
    }
    return st;
}

#endif
