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
    char **class_names; /* (outputs) owned copies, or NULL              */
    /* Scratch of predict, loss/gradient and evaluate (model_eval.c), made
     * on first use; nb_model_free releases it through scratch_free, so the
     * model itself needs nothing of the passes. */
    struct nb_pass *scratch;
    void (*scratch_free)(struct nb_model *m);
};

/*
 * Standardisation values a model can use: every mean finite, every std a
 * normal positive float (so 1/std is finite too; a subnormal std turns
 * ordinary inputs into Inf). Returns 0 when all n features are usable,
 * else 1 (mean[*at] is not) or 2 (std[*at] is not).
 */
int nb_standardization_fault(const float *mean, const float *std, size_t n, size_t *at);

/*
 * Check class names as nb_model_set_class_names does: n names for a model
 * of `outputs` outputs, each 1 to 255 bytes of UTF-8 without control
 * characters (C0, DEL or C1), all distinct. NB_ERR_ARG names `fn` and the
 * index at fault.
 */
nb_status nb_class_names_check(const char *fn, int n, const char *const *names, int outputs);

/*
 * Move m onto be, for good: its scratch and buffers on the old backend are
 * released (a failed device may not be able to give them back; nothing of
 * them is read) and its parameters become theta (host, n_params floats).
 * nb_train does this when its backend fails and a fallback is given.
 */
nb_status nb_model_rebind(nb_model *m, nb_backend *be, const float *theta);

static inline nb_view nb_model_w(const nb_model *m, const nb_buf *b, int l)
{
    return nb_view_at(b, m->off[l].w);
}
static inline nb_view nb_model_b(const nb_model *m, const nb_buf *b, int l)
{
    return nb_view_at(b, m->off[l].b);
}

#endif
