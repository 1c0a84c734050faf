/*
 * model.c — creating a model, its parameter layout and initialisation,
 * its parameters, standardisation and class names. It knows nothing of
 * the passes: predict, loss/gradient and evaluate are in model_eval.c,
 * the passes in pass.c, training in trainer.c.
 */
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "act.h"
#include "rng.h"
#include "status.h"

static void free_names(char **names, int n);

static const char *const loss_names[] = {"mse", "xent"};

const char *nb_loss_name(nb_loss l)
{
    return (unsigned)l <= (unsigned)NB_LOSS_XENT ? loss_names[l] : "?";
}

nb_status nb_loss_parse(const char *name, nb_loss *out)
{
    for (int i = 0; name && i <= (int)NB_LOSS_XENT; i++)
        if (strcmp(name, loss_names[i]) == 0) return *out = (nb_loss)i, NB_OK;
    return NB_FAIL(NB_ERR_ARG, "nb_loss_parse: unknown loss '%s' (mse, xent)",
                   name ? name : "(null)");
}

/* Check the architecture; on success *n_params is |θ|. */
static nb_status check_spec(int n_layers, const int *widths, const nb_act *acts, nb_loss loss,
                            size_t *n_params)
{
    const char *fn = "nb_model_create";
    if (n_layers < 1 || !widths || !acts)
        return NB_FAIL(NB_ERR_ARG, "%s: need at least one layer with widths and activations", fn);
    if ((unsigned)loss > (unsigned)NB_LOSS_XENT)
        return NB_FAIL(NB_ERR_ARG, "%s: unknown loss %d", fn, (int)loss);
    size_t n = 0, w;
    for (int l = 0; l <= n_layers; l++)
        if (widths[l] < 1)
            return NB_FAIL(NB_ERR_ARG, "%s: width %d of layer %d is not positive", fn, widths[l], l);
    for (int l = 0; l < n_layers; l++) {
        if (!nb_act_get(acts[l]))
            return NB_FAIL(NB_ERR_ARG, "%s: unknown activation %d for layer %d", fn, (int)acts[l],
                           l + 1);
        if (acts[l] == NB_ACT_SOFTMAX && l != n_layers - 1)
            return NB_FAIL(NB_ERR_ARG, "%s: softmax is only allowed on the output layer", fn);
        /* (out × in) weights + out biases */
        if (!nb_mul_ok((size_t)widths[l + 1], (size_t)widths[l] + 1, &w) || !nb_add_ok(n, w, &n))
            return NB_FAIL(NB_ERR_ARG, "%s: parameter count overflows", fn);
    }
    bool softmax_out = acts[n_layers - 1] == NB_ACT_SOFTMAX;
    if (loss == NB_LOSS_XENT && !softmax_out)
        return NB_FAIL(NB_ERR_ARG, "%s: cross-entropy needs a softmax output layer", fn);
    if (loss == NB_LOSS_MSE && softmax_out)
        return NB_FAIL(NB_ERR_ARG, "%s: a softmax output layer needs the cross-entropy loss", fn);
    if (n > ((size_t)1 << 40))
        return NB_FAIL(NB_ERR_ARG, "%s: %zu parameters is beyond any device", fn, n);
    *n_params = n;
    return NB_OK;
}

/* Glorot uniform ±√(6/(in+out)) keeps activation variance roughly constant
 * through sigmoid/tanh/linear layers; He uniform ±√(6/in) does it for relu,
 * which zeroes half its inputs (act.c says which an activation takes).
 * Biases start at zero. */
static void init_params(const nb_model *m, uint64_t seed, float *theta)
{
    nb_rng r;
    nb_rng_seed(&r, seed, NB_STREAM_INIT);
    memset(theta, 0, m->n_params * sizeof(float));
    for (int l = 0; l < m->n_layers; l++) {
        double in = m->widths[l], out = m->widths[l + 1];
        double limit = nb_act_get(m->acts[l])->he_init ? sqrt(6.0 / in) : sqrt(6.0 / (in + out));
        float *w = theta + m->off[l].w;
        for (size_t i = 0; i < (size_t)(in * out); i++)
            w[i] = (float)((2.0 * nb_rng_uniform(&r) - 1.0) * limit);
    }
}

nb_status nb_model_create(nb_backend *be, int n_layers, const int *widths, const nb_act *acts,
                          nb_loss loss, uint64_t seed, nb_model **out)
{
    nb_status st;
    size_t n_params = 0;
    float *theta = NULL;
    if (!out) return NB_FAIL(NB_ERR_ARG, "nb_model_create: out is NULL");
    *out = NULL;
    if (!be) return NB_FAIL(NB_ERR_ARG, "nb_model_create: backend is NULL");
    NB_TRY(check_spec(n_layers, widths, acts, loss, &n_params));

    nb_model *m = calloc(1, sizeof *m);
    if (!m) return NB_NOMEM("nb_model_create", sizeof *m);
    m->be = be;
    m->n_layers = n_layers;
    m->loss = loss;
    m->n_params = n_params;
    m->widths = malloc((size_t)(n_layers + 1) * sizeof *m->widths);
    m->acts = malloc((size_t)n_layers * sizeof *m->acts);
    m->off = malloc((size_t)n_layers * sizeof *m->off);
    theta = malloc(n_params * sizeof(float));
    if (!m->widths || !m->acts || !m->off || !theta) {
        st = NB_NOMEM("nb_model_create", n_params * sizeof(float));
        goto fail;
    }
    memcpy(m->widths, widths, (size_t)(n_layers + 1) * sizeof *m->widths);
    memcpy(m->acts, acts, (size_t)n_layers * sizeof *m->acts);
    /* The offsets table: A_1, b_1, A_2, b_2, … back to back. */
    size_t o = 0;
    for (int l = 0; l < n_layers; l++) {
        m->off[l].w = o;
        o += (size_t)widths[l + 1] * (size_t)widths[l];
        m->off[l].b = o;
        o += (size_t)widths[l + 1];
    }
    init_params(m, seed, theta);
    NB_CHECK(nb_be_alloc(be, &m->theta, n_params, NB_F32));
    NB_CHECK(nb_be_alloc(be, &m->grad, n_params, NB_F32));
    NB_CHECK(nb_be_write(be, &m->theta, 0, theta, n_params));
    NB_CHECK(nb_be_fill(be, n_params, 0.0f, nb_view_at(&m->grad, 0)));
    free(theta);
    *out = m;
    return NB_OK;
fail:
    free(theta);
    nb_model_free(m);
    return st;
}

void nb_model_free(nb_model *m)
{
    if (!m) return;
    if (m->scratch_free) m->scratch_free(m);
    nb_be_free(m->be, &m->theta);
    nb_be_free(m->be, &m->grad);
    free(m->acts);
    free(m->off);
    free(m->mean);
    free(m->std);
    if (m->widths) free_names(m->class_names, m->widths[m->n_layers]);
    free(m->widths);
    free(m);
}

nb_status nb_model_rebind(nb_model *m, nb_backend *be, const float *theta)
{
    if (!m || !be || !theta) return NB_FAIL(NB_ERR_ARG, "nb_model_rebind: NULL argument");
    if (m->scratch_free) m->scratch_free(m);
    m->scratch_free = NULL; /* made again, on be, at the next use */
    nb_be_free(m->be, &m->theta);
    nb_be_free(m->be, &m->grad);
    m->be = be;
    NB_TRY(nb_be_alloc(be, &m->theta, m->n_params, NB_F32));
    NB_TRY(nb_be_alloc(be, &m->grad, m->n_params, NB_F32));
    NB_TRY(nb_be_write(be, &m->theta, 0, theta, m->n_params));
    return nb_be_fill(be, m->n_params, 0.0f, nb_view_at(&m->grad, 0));
}

int nb_model_layers(const nb_model *m) { return m ? m->n_layers : 0; }
int nb_model_width(const nb_model *m, int i)
{
    return (m && i >= 0 && i <= m->n_layers) ? m->widths[i] : 0;
}
nb_act nb_model_act(const nb_model *m, int layer)
{
    return (m && layer >= 0 && layer < m->n_layers) ? m->acts[layer] : NB_ACT_IDENTITY;
}
nb_loss nb_model_loss(const nb_model *m) { return m ? m->loss : NB_LOSS_MSE; }
size_t nb_model_param_count(const nb_model *m) { return m ? m->n_params : 0; }
const float *nb_model_feature_mean(const nb_model *m) { return m ? m->mean : NULL; }
const float *nb_model_feature_std(const nb_model *m) { return m ? m->std : NULL; }

nb_status nb_model_get_params(const nb_model *m, float *theta, size_t n)
{
    if (!m || !theta) return NB_FAIL(NB_ERR_ARG, "nb_model_get_params: NULL argument");
    if (n != m->n_params)
        return NB_FAIL(NB_ERR_ARG, "nb_model_get_params: n = %zu, model has %zu parameters", n,
                       m->n_params);
    return nb_be_read(m->be, &m->theta, 0, theta, n);
}

nb_status nb_model_set_params(nb_model *m, const float *theta, size_t n)
{
    if (!m || !theta) return NB_FAIL(NB_ERR_ARG, "nb_model_set_params: NULL argument");
    if (n != m->n_params)
        return NB_FAIL(NB_ERR_ARG, "nb_model_set_params: n = %zu, model has %zu parameters", n,
                       m->n_params);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(theta[i]))
            return NB_FAIL(NB_ERR_NONFINITE, "nb_model_set_params: theta[%zu] is not finite", i);
    return nb_be_write(m->be, &m->theta, 0, theta, n);
}

int nb_standardization_fault(const float *mean, const float *std, size_t n, size_t *at)
{
    for (size_t j = 0; j < n; j++) {
        *at = j;
        if (!isfinite(mean[j])) return 1;
        /* isnormal leaves out 0, subnormals, Inf and NaN; 1/std is tested
         * as well so the rule does not rest on float's exponent range. */
        if (!isnormal(std[j]) || !(std[j] > 0.0f) || !isfinite(1.0f / std[j])) return 2;
    }
    return 0;
}

nb_status nb_model_set_standardization(nb_model *m, const float *mean, const float *std)
{
    if (!m) return NB_FAIL(NB_ERR_ARG, "nb_model_set_standardization: model is NULL");
    if (!mean != !std)
        return NB_FAIL(NB_ERR_ARG, "nb_model_set_standardization: give both mean and std, or neither");
    size_t n = (size_t)m->widths[0], j = 0;
    int bad = mean ? nb_standardization_fault(mean, std, n, &j) : 0;
    if (bad)
        return NB_FAIL(NB_ERR_ARG, "nb_model_set_standardization: feature %zu: mean %g std %g (%s)",
                       j, (double)mean[j], (double)std[j],
                       bad == 1 ? "the mean must be finite"
                                : "the std must be a normal positive float");
    free(m->mean);
    free(m->std);
    m->mean = m->std = NULL;
    if (!mean) return NB_OK;
    m->mean = malloc(n * sizeof(float));
    m->std = malloc(n * sizeof(float));
    if (!m->mean || !m->std) {
        free(m->mean);
        free(m->std);
        m->mean = m->std = NULL;
        return NB_NOMEM("nb_model_set_standardization", 2 * n * sizeof(float));
    }
    memcpy(m->mean, mean, n * sizeof(float));
    memcpy(m->std, std, n * sizeof(float));
    return NB_OK;
}

/* ---------------------------------------------------------- class names */

/* NULL when s may name a class, else why not. Names end up in JSON, CSV
 * fields and one-line messages: valid UTF-8 (strict: no overlong forms,
 * surrogates or code points past U+10FFFF) without control characters. */
static const char *name_fault(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 255) return "is empty or over 255 bytes";
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p++, need = 0, min = 0, cp = c;
        if (c >= 0xC2 && c <= 0xDF) need = 1, min = 0x80, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF) need = 2, min = 0x800, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4) need = 3, min = 0x10000, cp = c & 0x07;
        else if (c >= 0x80) return "is not valid UTF-8";
        for (unsigned k = 0; k < need; k++, p++) {
            if ((*p & 0xC0) != 0x80) return "is not valid UTF-8"; /* also stops at the NUL */
            cp = cp << 6 | (*p & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return "is not valid UTF-8";
        if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) return "holds a control character";
    }
    return NULL;
}

typedef struct named {
    const char *s;
    int k;
} named;

static int named_cmp(const void *a, const void *b)
{
    return strcmp(((const named *)a)->s, ((const named *)b)->s);
}

nb_status nb_class_names_check(const char *fn, int n, const char *const *names, int outputs)
{
    if (!names || n != outputs)
        return NB_FAIL(NB_ERR_ARG, "%s: %d class names for a model with %d outputs", fn,
                       names ? n : 0, outputs);
    for (int k = 0; k < n; k++) {
        const char *why = names[k] ? name_fault(names[k]) : "is NULL";
        if (why) return NB_FAIL(NB_ERR_ARG, "%s: class name %d %s", fn, k, why);
    }
    /* Distinct: sorted, equal names are neighbours (n log n, where pairs
     * would be quadratic in up to 2^24 outputs). */
    named *v = malloc((size_t)n * sizeof *v);
    if (!v) return NB_NOMEM(fn, (size_t)n * sizeof *v);
    for (int k = 0; k < n; k++) v[k] = (named){names[k], k};
    qsort(v, (size_t)n, sizeof *v, named_cmp);
    nb_status st = NB_OK;
    for (int i = 1; i < n && st == NB_OK; i++)
        if (strcmp(v[i - 1].s, v[i].s) == 0) {
            int a = v[i - 1].k < v[i].k ? v[i - 1].k : v[i].k, b = v[i - 1].k ^ v[i].k ^ a;
            st = NB_FAIL(NB_ERR_ARG, "%s: class names %d and %d are both '%s'", fn, a, b, v[i].s);
        }
    free(v);
    return st;
}

static void free_names(char **names, int n)
{
    for (int k = 0; names && k < n; k++) free(names[k]);
    free(names);
}

nb_status nb_model_set_class_names(nb_model *m, int n, const char *const *names)
{
    if (!m) return NB_FAIL(NB_ERR_ARG, "nb_model_set_class_names: model is NULL");
    int outputs = m->widths[m->n_layers];
    if (n == 0 && !names) {
        free_names(m->class_names, outputs);
        m->class_names = NULL;
        return NB_OK;
    }
    NB_TRY(nb_class_names_check("nb_model_set_class_names", n, names, outputs));
    /* Copy first: names may be the model's own. */
    char **copy = calloc((size_t)n, sizeof *copy);
    for (int k = 0; copy && k < n; k++) {
        size_t len = strlen(names[k]) + 1;
        if (!(copy[k] = malloc(len))) {
            free_names(copy, n);
            copy = NULL;
        } else {
            memcpy(copy[k], names[k], len);
        }
    }
    if (!copy) return NB_NOMEM("nb_model_set_class_names", (size_t)n * 256);
    free_names(m->class_names, outputs);
    m->class_names = copy;
    return NB_OK;
}

const char *nb_model_class_name(const nb_model *m, int k)
{
    if (!m || !m->class_names || k < 0 || k >= m->widths[m->n_layers]) return NULL;
    return m->class_names[k];
}
