/*
 * act.h — every activation, described once (private).
 *
 * One entry per nb_act: its name, the function in double, its derivative
 * written through the output y = σ(z) (all the backward pass keeps), and
 * the two facts the model needs: whether it is softmax's row-wise special
 * case, and which initialisation suits it. The names and their parsing,
 * the model's checks and initialisation, the dispatch layer's checks, the
 * reference ops (cpu/ref.c), the double-precision gradient check
 * (gradcheck_ref.c) and the OpenCL kernels' activation ids all come from
 * this table. What it cannot hold is a backend's own fast code: the cpu
 * backend's vector code (cpu/simd.h) has cases for the activations that
 * pay for one and runs this table's functions lane by lane for any other;
 * kernels/act.cl keeps a case per activation; the op tests hold both to
 * the reference this table defines.
 *
 * Adding an activation: its value in nb_act (include/nabla.h), its entry
 * in act.c, its forward and derivative cases in kernels/act.cl (ACT_<NAME>
 * is its id there), and the help texts and README that list the names; a
 * vector case in cpu/simd.h only when it is worth the speed.
 */
#ifndef NB_ACT_H
#define NB_ACT_H

#include <stdbool.h>
#include <stddef.h>

#include "nabla.h"

typedef struct nb_act_info {
    const char *name;       /* as nb_act_name prints it and nb_act_parse reads it   */
    double (*f)(double z);  /* σ(z), the specification; softmax: z (it is row-wise) */
    double (*dy)(double y); /* σ'(z) from y = σ(z); softmax: 1 (the loss takes it)  */
    bool rowwise;           /* softmax: over a row, output layer, NB_LOSS_XENT only  */
    bool he_init;           /* He uniform ±√(6/in) (relu-like), else Glorot         */
} nb_act_info;

/* Entries 0 … nb_act_count − 1, indexed by nb_act. */
extern const nb_act_info nb_acts[];
extern const int nb_act_count;

/* The entry of a, or NULL when a is no activation. */
static inline const nb_act_info *nb_act_get(nb_act a)
{
    return (unsigned)a < (unsigned)nb_act_count ? &nb_acts[a] : NULL;
}

/* The names joined by sep (", "), the row-wise ones only with rowwise; as
 * much as fits in buf (n > 0), always terminated. */
void nb_act_names(char *buf, size_t n, const char *sep, bool rowwise);

#endif
