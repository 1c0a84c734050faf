/*
 * confusion.c — the confusion matrix of a classifier: predictions in
 * chunks through nb_model_predict (which applies the model's
 * standardisation), argmax against the labels.
 */
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "model.h"
#include "status.h"

nb_status nb_model_confusion(nb_model *m, const nb_dataset *d, uint64_t *counts)
{
    enum { CHUNK = 1024 };
    if (!m || !d || !counts) return NB_FAIL(NB_ERR_ARG, "nb_model_confusion: NULL argument");
    size_t k = (size_t)m->widths[m->n_layers], in = (size_t)m->widths[0];
    if (!d->labels || d->classes != (int)k || d->inputs != (int)in)
        return NB_FAIL(NB_ERR_ARG, "nb_model_confusion: need classification data with %zu inputs "
                                   "and %zu classes (have %d inputs, %d classes)",
                       in, k, d->inputs, d->classes);
    float *out = malloc(CHUNK * k * sizeof *out);
    if (!out) return NB_NOMEM("nb_model_confusion", CHUNK * k * sizeof *out);
    memset(counts, 0, k * k * sizeof *counts);
    nb_status st = NB_OK;
    for (size_t r = 0; r < d->rows && st == NB_OK; r += CHUNK) {
        size_t n = d->rows - r < CHUNK ? d->rows - r : CHUNK;
        st = nb_model_predict(m, n, d->x + r * in, out);
        for (size_t i = 0; st == NB_OK && i < n; i++) {
            const float *o = out + i * k;
            size_t best = 0;
            for (size_t c = 1; c < k; c++)
                if (o[c] > o[best]) best = c;
            counts[(size_t)d->labels[r + i] * k + best]++;
        }
    }
    free(out);
    return st;
}
