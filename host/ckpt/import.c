/*
 * import.c — nb_model_import: a model from plain weights, as Python's
 * `safetensors` (or any other writer) saves them, with the architecture
 * read off the tensors' shapes.
 *
 * The container reader (st_read.c) has already refused malformed files,
 * dtypes other than F32 and non-finite values, naming the tensor. This
 * layer checks that the tensors make a multilayer perceptron within
 * nb_model_load's bounds: layers.0 … layers.N−1 with nothing missing, at
 * most 64 of them, widths in [1, 2^24], shapes that chain, and nothing
 * else but input.mean and input.std. Every check runs before the model is
 * allocated, and the model is never larger than the file's own tensors.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act.h"
#include "ckpt/safetensors.h"
#include "ckpt/st_internal.h" /* nb_st_shown: names from the file, quoted safely */
#include "model.h"          /* nb_standardization_fault */
#include "status.h"

enum { MAX_LAYERS = 64, MAX_WIDTH = 1 << 24 };

/* The tensors of a weights file, by role. */
typedef struct weights {
    const nb_st_tensor *w[MAX_LAYERS], *b[MAX_LAYERS];
    const nb_st_tensor *mean, *std;
    int n_layers; /* 1 + the highest layer index seen; 0 when none */
} weights;

#define BAD(...) NB_FAIL(NB_ERR_DATA, __VA_ARGS__)

/* "layers.L.weight" → 'w', "layers.L.bias" → 'b', with *l = L; 'm' and
 * 's' for input.mean and input.std; 0 for anything else. L is decimal
 * without leading zeros (so no two spellings name one layer) and at most
 * 9 digits (so it fits an int); *l may still be ≥ MAX_LAYERS. */
static char role_of(const char *name, int *l)
{
    if (!strcmp(name, "input.mean")) return 'm';
    if (!strcmp(name, "input.std")) return 's';
    if (strncmp(name, "layers.", 7) != 0) return 0;
    const char *p = name + 7;
    int v = 0, digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++)
        if (digits < 9) v = v * 10 + (*p - '0');
    if (digits == 0 || digits > 9 || (digits > 1 && name[7] == '0')) return 0;
    *l = v;
    if (!strcmp(p, ".weight")) return 'w';
    if (!strcmp(p, ".bias")) return 'b';
    return 0;
}

/* A tensor's shape as "(d0, d1, …)" into buf (at least 96 bytes: four
 * 19-digit dims and their separators). */
static const char *shape_str(const nb_st_tensor *t, char *buf, size_t size)
{
    size_t at = (size_t)snprintf(buf, size, "(");
    for (int k = 0; k < t->ndim && at < size; k++)
        at += (size_t)snprintf(buf + at, size - at, "%s%" PRId64, k ? ", " : "", t->shape[k]);
    if (at < size) snprintf(buf + at, size - at, ")");
    return buf;
}

/* Sort every tensor of f into *ws by its name; anything that is not a
 * layer's weight or bias or the standardisation is an error. */
static nb_status sort_tensors(const nb_st_file *f, const char *path, weights *ws)
{
    size_t n = 0;
    const nb_st_tensor *t = nb_st_tensors(f, &n);
    char nm[NB_ST_SHOW_CAP];
    memset(ws, 0, sizeof *ws);
    for (size_t i = 0; i < n; i++) {
        int l = 0;
        char role = role_of(t[i].name, &l);
        if (!role)
            return BAD("nb_model_import: %s: tensor '%s' is none of layers.L.weight, "
                       "layers.L.bias, input.mean, input.std", path, nb_st_shown(nm, t[i].name));
        if ((role == 'w' || role == 'b') && l >= MAX_LAYERS)
            return BAD("nb_model_import: %s: tensor '%s': more than %d layers", path,
                       nb_st_shown(nm, t[i].name), MAX_LAYERS);
        if (role == 'w') ws->w[l] = &t[i];
        else if (role == 'b') ws->b[l] = &t[i];
        else if (role == 'm') ws->mean = &t[i];
        else ws->std = &t[i];
        if ((role == 'w' || role == 'b') && l + 1 > ws->n_layers) ws->n_layers = l + 1;
    }
    if (ws->n_layers == 0)
        return BAD("nb_model_import: %s: no tensor layers.0.weight: not a file of layer weights",
                   path);
    return NB_OK;
}

/* The architecture: every layer present with shapes that chain and widths
 * within bounds; widths (n_layers + 1) filled. */
static nb_status check_layers(const weights *ws, const char *path, int *widths)
{
    char sh[96];
    for (int l = 0; l < ws->n_layers; l++) {
        const nb_st_tensor *w = ws->w[l], *b = ws->b[l];
        /* A missing weight between present layers is a gap in the
         * numbering; it is named so the user sees which one. */
        if (!w)
            return BAD("nb_model_import: %s: tensor layers.%d.weight is missing (the file has "
                       "tensors of layer %d)", path, l, ws->n_layers - 1);
        if (!b) return BAD("nb_model_import: %s: tensor layers.%d.bias is missing", path, l);
        if (w->ndim != 2)
            return BAD("nb_model_import: %s: tensor layers.%d.weight has shape %s; a weight is "
                       "(out, in)", path, l, shape_str(w, sh, sizeof sh));
        if (w->shape[0] < 1 || w->shape[0] > MAX_WIDTH || w->shape[1] < 1 ||
            w->shape[1] > MAX_WIDTH)
            return BAD("nb_model_import: %s: tensor layers.%d.weight has shape %s; widths must "
                       "be in [1, 2^24]", path, l, shape_str(w, sh, sizeof sh));
        /* Bounded by 2^24 just above, so the casts are exact. */
        int out = (int)w->shape[0], in = (int)w->shape[1];
        if (l == 0) widths[0] = in;
        else if (in != widths[l])
            return BAD("nb_model_import: %s: tensor layers.%d.weight has shape %s, but "
                       "layers.%d gives %d outputs: the layers do not chain", path, l,
                       shape_str(w, sh, sizeof sh), l - 1, widths[l]);
        if (b->ndim != 1 || b->shape[0] != out)
            return BAD("nb_model_import: %s: tensor layers.%d.bias has shape %s; layers.%d.weight "
                       "gives %d outputs, so it must be (%d)", path, l,
                       shape_str(b, sh, sizeof sh), l, out, out);
        widths[l + 1] = out;
    }
    return NB_OK;
}

/* input.mean and input.std: both or neither, each (inputs), std > 0. */
static nb_status check_standardization(const weights *ws, const char *path, int inputs)
{
    char sh[96];
    if (!ws->mean != !ws->std)
        return BAD("nb_model_import: %s: tensor %s is missing (%s is there; give both or neither)",
                   path, ws->mean ? "input.std" : "input.mean",
                   ws->mean ? "input.mean" : "input.std");
    const nb_st_tensor *pair[2] = {ws->mean, ws->std};
    for (int k = 0; ws->mean && k < 2; k++)
        if (pair[k]->ndim != 1 || pair[k]->shape[0] != inputs)
            return BAD("nb_model_import: %s: tensor %s has shape %s; the model takes %d inputs, so "
                       "it must be (%d)", path, pair[k]->name, shape_str(pair[k], sh, sizeof sh),
                       inputs, inputs);
    /* The model's own rule (nb_standardization_fault), so that a value the
     * model would refuse is a data error here: a subnormal std passes "> 0"
     * but makes ordinary inputs Inf. */
    size_t j = 0;
    int bad = ws->mean ? nb_standardization_fault(ws->mean->data, ws->std->data,
                                                  (size_t)inputs, &j) : 0;
    if (bad == 1)
        return BAD("nb_model_import: %s: tensor input.mean element %zu is %g; it must be finite",
                   path, j, (double)ws->mean->data[j]);
    if (bad)
        return BAD("nb_model_import: %s: tensor input.std element %zu is %g; a standard "
                   "deviation must be a normal positive float (1/std finite)", path, j,
                   (double)ws->std->data[j]);
    return NB_OK;
}

/* One activation per layer from the caller's n_acts (1 or n_layers);
 * the output layer becomes the softmax under NB_LOSS_XENT. */
static nb_status expand_acts(const char *path, int n_layers, int n_acts, const nb_act *acts,
                             nb_loss loss, nb_act *full)
{
    if (n_acts != 1 && n_acts != n_layers)
        return NB_FAIL(NB_ERR_ARG, "nb_model_import: %s has %d layers: give 1 activation or %d, "
                                   "not %d", path, n_layers, n_layers, n_acts);
    for (int l = 0; l < n_layers; l++) {
        full[l] = acts[n_acts == 1 ? 0 : l];
        int last = l == n_layers - 1;
        /* Softmax is the loss's business: allowed only where NB_LOSS_XENT
         * puts it anyway. */
        if (full[l] == NB_ACT_SOFTMAX && !(last && loss == NB_LOSS_XENT))
            return NB_FAIL(NB_ERR_ARG, "nb_model_import: %s: softmax for layer %d: the softmax "
                                       "comes with NB_LOSS_XENT, on the output layer only",
                           path, l);
        if (last && loss == NB_LOSS_XENT) full[l] = NB_ACT_SOFTMAX;
    }
    return NB_OK;
}

/* The parameters in the model's layout, A_1, b_1, A_2, b_2, …, which is
 * also the order of the file's row-major tensors. */
static nb_status fill_params(nb_model *m, const weights *ws)
{
    size_t np = nb_model_param_count(m), at = 0;
    float *theta = malloc(np * sizeof *theta);
    if (!theta) return NB_NOMEM("nb_model_import", np * sizeof *theta);
    for (int l = 0; l < ws->n_layers; l++) {
        size_t nw = nb_st_numel(ws->w[l]), nbias = nb_st_numel(ws->b[l]);
        memcpy(theta + at, ws->w[l]->data, nw * sizeof *theta);
        memcpy(theta + at + nw, ws->b[l]->data, nbias * sizeof *theta);
        at += nw + nbias;
    }
    nb_status st = nb_model_set_params(m, theta, np);
    free(theta);
    return st;
}

nb_status nb_model_import(nb_backend *be, const char *path, int n_acts, const nb_act *acts,
                          nb_loss loss, nb_model **out)
{
    if (!out) return NB_FAIL(NB_ERR_ARG, "nb_model_import: out is NULL");
    *out = NULL;
    if (!be || !path || !acts) return NB_FAIL(NB_ERR_ARG, "nb_model_import: NULL argument");
    if ((unsigned)loss > (unsigned)NB_LOSS_XENT)
        return NB_FAIL(NB_ERR_ARG, "nb_model_import: unknown loss %d", (int)loss);
    if (n_acts < 1 || n_acts > MAX_LAYERS)
        return NB_FAIL(NB_ERR_ARG, "nb_model_import: %d activations; give 1 to %d", n_acts,
                       MAX_LAYERS);
    for (int i = 0; i < n_acts; i++)
        if (!nb_act_get(acts[i]))
            return NB_FAIL(NB_ERR_ARG, "nb_model_import: unknown activation %d", (int)acts[i]);

    nb_st_file *f = NULL;
    NB_TRY(nb_st_read(path, NULL, &f));
    weights ws;
    int widths[MAX_LAYERS + 1];
    nb_act full[MAX_LAYERS];
    nb_model *m = NULL;
    nb_status st;
    NB_CHECK(sort_tensors(f, path, &ws));
    NB_CHECK(check_layers(&ws, path, widths));
    NB_CHECK(check_standardization(&ws, path, widths[0]));
    NB_CHECK(expand_acts(path, ws.n_layers, n_acts, acts, loss, full));
    /* Within the file's own size: every parameter is a float in it. */
    NB_CHECK(nb_model_create(be, ws.n_layers, widths, full, loss, 0, &m));
    NB_CHECK(fill_params(m, &ws));
    if (ws.mean) NB_CHECK(nb_model_set_standardization(m, ws.mean->data, ws.std->data));
    nb_st_free(f);
    *out = m;
    return NB_OK;
fail:
    nb_model_free(m);
    nb_st_free(f);
    return st;
}
