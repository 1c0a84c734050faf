/*
 * model_eval.c — the host-facing calls that run a model over rows:
 * predict, loss and gradient, evaluate and the confusion matrix. They sit
 * above the passes (pass.c) on a scratch pass of the model's own, made on
 * first use; model.c, below them, knows nothing of passes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "devdata.h"
#include "model.h"
#include "pass.h"
#include "status.h"

/* Rows per chunk for predict/evaluate: large enough for efficient GEMMs. */
enum { NB_EVAL_ROWS = 512 };

static void scratch_free(nb_model *m)
{
    nb_pass_destroy(m, m->scratch);
    free(m->scratch);
    m->scratch = NULL;
}

/* The model's own scratch pass for host-facing calls, made on first use. */
static nb_status scratch(nb_model *m, nb_pass **out)
{
    if (!m->scratch) {
        nb_pass *p = calloc(1, sizeof *p);
        if (!p) return NB_NOMEM("nb_model scratch", sizeof *p);
        size_t cap = nb_pass_max_rows(m);
        nb_status st = nb_pass_create(m, cap < NB_EVAL_ROWS ? cap : NB_EVAL_ROWS, p);
        if (st != NB_OK) {
            free(p);
            return st;
        }
        m->scratch = p;
        m->scratch_free = scratch_free;
    }
    *out = m->scratch;
    return NB_OK;
}

nb_status nb_model_predict(nb_model *m, size_t rows, const float *x, float *y)
{
    nb_pass *p = NULL;
    if (!m || !x || !y) return NB_FAIL(NB_ERR_ARG, "nb_model_predict: NULL argument");
    if (rows == 0) return NB_OK;
    NB_TRY(scratch(m, &p));
    size_t in = (size_t)m->widths[0], out = (size_t)m->widths[m->n_layers];
    float *xs = NULL;
    if (m->mean) {
        xs = malloc(p->cap * in * sizeof(float));
        if (!xs) return NB_NOMEM("nb_model_predict", p->cap * in * sizeof(float));
    }
    nb_status st = NB_OK;
    for (size_t r = 0; r < rows && st == NB_OK; r += p->cap) {
        size_t n = rows - r < p->cap ? rows - r : p->cap;
        const float *src = x + r * in;
        if (xs) { /* the model's standardisation, never recomputed */
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < in; j++)
                    xs[i * in + j] = (src[i * in + j] - m->mean[j]) / m->std[j];
            src = xs;
        }
        st = nb_be_write(m->be, &p->act, 0, src, n * in);
        if (st == NB_OK) st = nb_pass_forward(m, p, n, nb_view_at(&p->act, 0), false);
        if (st == NB_OK) st = nb_be_read(m->be, &p->act, p->act_off[m->n_layers], y + r * out, n * out);
        /* Finite parameters can still overflow (weights near FLT_MAX, or
         * inputs far outside the training range): a NaN or Inf is an
         * error, never a row of output. */
        for (size_t i = 0; st == NB_OK && i < n * out; i++)
            if (!isfinite(y[r * out + i]))
                st = NB_FAIL(NB_ERR_NONFINITE, "nb_model_predict: output %zu of row %zu is %s",
                             i % out, r + i / out, isnan(y[r * out + i]) ? "NaN" : "Inf");
    }
    free(xs);
    return st;
}

/* A loss that is not finite is an error of the call that measured it. */
static nb_status finite_loss(const char *fn, double loss, size_t rows)
{
    if (isfinite(loss)) return NB_OK;
    return NB_FAIL(NB_ERR_NONFINITE, "%s: the loss over %zu rows is %s (an output or the loss "
                   "overflowed)", fn, rows, isnan(loss) ? "NaN" : "Inf");
}

/* Check that dataset d fits the model's input and output widths. */
static nb_status check_data(const char *fn, const nb_model *m, const nb_dataset *d)
{
    if (!d) return NB_FAIL(NB_ERR_ARG, "%s: dataset is NULL", fn);
    if (d->inputs != m->widths[0] || d->outputs != m->widths[m->n_layers])
        return NB_FAIL(NB_ERR_ARG, "%s: data has %d inputs and %d outputs, the model %d and %d", fn,
                       d->inputs, d->outputs, m->widths[0], m->widths[m->n_layers]);
    return NB_OK;
}

nb_status nb_model_loss_grad(nb_model *m, const nb_dataset *d, double *loss, float *grad)
{
    nb_pass *p = NULL;
    nb_devdata dd;
    if (!m || !loss) return NB_FAIL(NB_ERR_ARG, "nb_model_loss_grad: NULL argument");
    NB_TRY(check_data("nb_model_loss_grad", m, d));
    NB_TRY(scratch(m, &p));
    NB_TRY(nb_devdata_open(m, d, p->cap, &dd));
    nb_status st = nb_pass_full(m, p, &dd, grad != NULL, loss);
    if (st == NB_OK) st = finite_loss("nb_model_loss_grad", *loss, d->rows);
    if (st == NB_OK && grad) st = nb_be_read(m->be, &m->grad, 0, grad, m->n_params);
    for (size_t i = 0; st == NB_OK && grad && i < m->n_params; i++)
        if (!isfinite(grad[i]))
            st = NB_FAIL(NB_ERR_NONFINITE, "nb_model_loss_grad: gradient element %zu is %s", i,
                         isnan(grad[i]) ? "NaN" : "Inf");
    nb_devdata_close(m->be, &dd);
    return st;
}

nb_status nb_model_evaluate(nb_model *m, const nb_dataset *d, double *loss, double *accuracy)
{
    nb_pass *p = NULL;
    nb_devdata dd;
    double l, a;
    if (!m) return NB_FAIL(NB_ERR_ARG, "nb_model_evaluate: model is NULL");
    NB_TRY(check_data("nb_model_evaluate", m, d));
    NB_TRY(scratch(m, &p));
    NB_TRY(nb_devdata_open(m, d, p->cap, &dd));
    nb_status st = nb_pass_evaluate(m, p, &dd, d->labels, &l, &a);
    if (st == NB_OK) st = finite_loss("nb_model_evaluate", l, d->rows);
    nb_devdata_close(m->be, &dd);
    if (st == NB_OK) {
        if (loss) *loss = l;
        if (accuracy) *accuracy = a;
    }
    return st;
}

/* Predictions in chunks through nb_model_predict (which applies the
 * model's standardisation), argmax against the labels. */
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
