/*
 * model.h — the model's private layout.
 *
 * All parameters θ = (A_1, b_1, …, A_L, b_L) live in ONE backend buffer,
 * and ∇Φ in a second buffer with the same layout, so the update is one op
 * over one vector. The offsets table `off` is the only place that knows
 * where each A_l and b_l starts; everything else takes named views from it.
 */
#ifndef NB_MODEL_H
#define NB_MODEL_H

#include "backend.h"
#include "nabla.h"

typedef struct nb_layer_off {
    size_t w; /* A_l (widths[l+1], widths[l]) row-major */
    size_t b; /* b_l (widths[l+1])                       */
} nb_layer_off;

struct nb_model {
    nb_backend *be; /* borrowed                                    */
    int n_layers;
    int *widths;       /* (n_layers + 1)                              */
    nb_act *acts;      /* (n_layers)                                  */
    nb_loss loss;
    nb_layer_off *off; /* (n_layers)                                  */
    size_t n_params;
    nb_buf theta;      /* (n_params)                                  */
    nb_buf grad;       /* (n_params), same layout                     */
    float *mean, *std; /* feature standardisation, (inputs) or NULL   */
    struct nb_pass *scratch; /* for predict/evaluate; made on first use */
};

static inline nb_view nb_model_w(const nb_model *m, const nb_buf *b, int l)
{
    return nb_view_at(b, m->off[l].w);
}
static inline nb_view nb_model_b(const nb_model *m, const nb_buf *b, int l)
{
    return nb_view_at(b, m->off[l].b);
}

#endif
