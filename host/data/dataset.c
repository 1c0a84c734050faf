/*
 * dataset.c — creating, splitting and standardising host datasets, and
 * the shared storage behind split views. Loading from files lives in
 * csv.c and idx.c.
 */
#include "data/dataset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "status.h"

static void store_release(nb_dataset_store *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
    free(s->x);
    free(s->y);
    free(s->labels);
    free(s);
}

nb_status nb_class_names_alloc(int n, nb_class_names **out)
{
    *out = NULL;
    if (n < 1) return NB_FAIL(NB_ERR_ARG, "nb_class_names_alloc: %d names", n);
    nb_class_names *cn = calloc(1, sizeof *cn);
    if (!cn) return NB_NOMEM("nb_class_names_alloc", sizeof *cn);
    cn->names = calloc((size_t)n, sizeof *cn->names);
    if (!cn->names) {
        free(cn);
        return NB_NOMEM("nb_class_names_alloc", (size_t)n * sizeof(char *));
    }
    cn->n = n;
    atomic_init(&cn->refs, 1);
    *out = cn;
    return NB_OK;
}

void nb_class_names_release(nb_class_names *cn)
{
    if (!cn || atomic_fetch_sub(&cn->refs, 1) != 1) return;
    for (int k = 0; k < cn->n; k++) free(cn->names[k]);
    free(cn->names);
    free(cn);
}

nb_status nb_dataset_alloc(size_t rows, int inputs, int outputs, int classes, nb_dataset **out)
{
    size_t nx, ny;
    *out = NULL;
    /* outputs 0 (with no classes): inputs only, for prediction */
    if (rows == 0 || inputs <= 0 || outputs < 0 || (outputs == 0 && classes != 0))
        return NB_FAIL(NB_ERR_ARG, "nb_dataset_alloc: empty shape (rows %zu, inputs %d, outputs %d)",
                       rows, inputs, outputs);
    if (!nb_mul_ok(rows, (size_t)inputs, &nx) || !nb_mul_ok(nx, sizeof(float), &nx) ||
        !nb_mul_ok(rows, (size_t)outputs, &ny) || !nb_mul_ok(ny, sizeof(float), &ny))
        return NB_FAIL(NB_ERR_ARG, "nb_dataset_alloc: %zu rows of %d+%d values overflow size_t",
                       rows, inputs, outputs);
    nb_dataset *d = calloc(1, sizeof *d);
    nb_dataset_store *s = calloc(1, sizeof *s);
    if (!d || !s) {
        free(d);
        free(s);
        return NB_NOMEM("nb_dataset_alloc", sizeof *d + sizeof *s);
    }
    atomic_init(&s->refs, 1);
    d->store = s;
    d->rows = rows;
    d->inputs = inputs;
    d->outputs = outputs;
    d->classes = classes;
    d->x = s->x = malloc(nx);
    if (classes > 0)
        d->labels = s->labels = malloc(rows * sizeof(int32_t));
    else if (outputs > 0)
        d->y = s->y = malloc(ny);
    if (!d->x || (classes > 0 ? !d->labels : outputs > 0 && !d->y)) {
        nb_dataset_free(d);
        return NB_NOMEM("nb_dataset_alloc", nx + ny);
    }
    *out = d;
    return NB_OK;
}

void nb_dataset_free(nb_dataset *d)
{
    if (!d) return;
    store_release(d->store);
    nb_class_names_release(d->names);
    free(d);
}

nb_status nb_dataset_from_arrays(size_t rows, int inputs, int outputs, const float *x,
                                 const float *y, nb_dataset **out)
{
    if (!out) return NB_FAIL(NB_ERR_ARG, "nb_dataset_from_arrays: out is NULL");
    *out = NULL;
    if (!x || !y) return NB_FAIL(NB_ERR_ARG, "nb_dataset_from_arrays: x or y is NULL");
    nb_dataset *d;
    NB_TRY(nb_dataset_alloc(rows, inputs, outputs, 0, &d));
    for (size_t i = 0; i < rows * (size_t)inputs; i++) {
        if (!isfinite(x[i])) {
            nb_dataset_free(d);
            return NB_FAIL(NB_ERR_DATA, "nb_dataset_from_arrays: x[%zu] is not finite", i);
        }
    }
    for (size_t i = 0; i < rows * (size_t)outputs; i++) {
        if (!isfinite(y[i])) {
            nb_dataset_free(d);
            return NB_FAIL(NB_ERR_DATA, "nb_dataset_from_arrays: y[%zu] is not finite", i);
        }
    }
    memcpy(d->x, x, rows * (size_t)inputs * sizeof(float));
    memcpy(d->y, y, rows * (size_t)outputs * sizeof(float));
    *out = d;
    return NB_OK;
}

nb_status nb_dataset_from_labels(size_t rows, int inputs, int classes, const float *x,
                                 const int32_t *labels, nb_dataset **out)
{
    if (!out) return NB_FAIL(NB_ERR_ARG, "nb_dataset_from_labels: out is NULL");
    *out = NULL;
    if (!x || !labels) return NB_FAIL(NB_ERR_ARG, "nb_dataset_from_labels: x or labels is NULL");
    if (classes < 1) return NB_FAIL(NB_ERR_ARG, "nb_dataset_from_labels: classes %d < 1", classes);
    for (size_t i = 0; i < rows; i++)
        if (labels[i] < 0 || labels[i] >= classes)
            return NB_FAIL(NB_ERR_DATA, "nb_dataset_from_labels: label[%zu] = %d outside [0, %d)",
                           i, (int)labels[i], classes);
    for (size_t i = 0; i < rows * (size_t)inputs; i++)
        if (!isfinite(x[i]))
            return NB_FAIL(NB_ERR_DATA, "nb_dataset_from_labels: x[%zu] is not finite", i);
    nb_dataset *d;
    NB_TRY(nb_dataset_alloc(rows, inputs, classes, classes, &d));
    memcpy(d->x, x, rows * (size_t)inputs * sizeof(float));
    memcpy(d->labels, labels, rows * sizeof(int32_t));
    *out = d;
    return NB_OK;
}

size_t nb_dataset_rows(const nb_dataset *d) { return d ? d->rows : 0; }
int nb_dataset_inputs(const nb_dataset *d) { return d ? d->inputs : 0; }
int nb_dataset_outputs(const nb_dataset *d) { return d ? d->outputs : 0; }
int nb_dataset_classes(const nb_dataset *d) { return d ? d->classes : 0; }
const float *nb_dataset_x(const nb_dataset *d) { return d ? d->x : NULL; }
const float *nb_dataset_y(const nb_dataset *d) { return d ? d->y : NULL; }
const int32_t *nb_dataset_labels(const nb_dataset *d) { return d ? d->labels : NULL; }
int nb_dataset_header_skipped(const nb_dataset *d) { return d ? d->header_skipped : 0; }
char nb_dataset_delimiter(const nb_dataset *d) { return d ? d->delimiter : 0; }

const char *nb_dataset_class_name(const nb_dataset *d, int k)
{
    if (!d || !d->names || k < 0 || k >= d->names->n) return NULL;
    return d->names->names[k];
}

void nb_dataset_targets(const nb_dataset *d, size_t row0, size_t rows, float *out)
{
    size_t k = (size_t)d->outputs;
    if (d->labels) {
        memset(out, 0, rows * k * sizeof(float));
        for (size_t i = 0; i < rows; i++) out[i * k + (size_t)d->labels[row0 + i]] = 1.0f;
    } else {
        memcpy(out, d->y + row0 * k, rows * k * sizeof(float));
    }
}

/* What a part of d inherits from it besides rows: its class names (one
 * more reference) and how its file was read. */
static void inherit(nb_dataset *part, const nb_dataset *d)
{
    part->names = d->names;
    if (part->names) atomic_fetch_add(&part->names->refs, 1);
    part->header_skipped = d->header_skipped;
    part->delimiter = d->delimiter;
}

nb_status nb_dataset_take_rows(const nb_dataset *src, const int32_t *idx, size_t n,
                               nb_dataset **out)
{
    nb_dataset *d;
    NB_TRY(nb_dataset_alloc(n, src->inputs, src->outputs, src->classes, &d));
    size_t ni = (size_t)src->inputs, no = (size_t)src->outputs;
    for (size_t i = 0; i < n; i++) {
        size_t r = (size_t)idx[i];
        memcpy(d->x + i * ni, src->x + r * ni, ni * sizeof(float));
        if (src->labels)
            d->labels[i] = src->labels[r];
        else if (src->y)
            memcpy(d->y + i * no, src->y + r * no, no * sizeof(float));
    }
    inherit(d, src);
    *out = d;
    return NB_OK;
}

/* The validation row count of a split, after checking its arguments. */
static nb_status split_size(const char *call, const nb_dataset *d, double val_fraction,
                            size_t *n_val)
{
    if (!(val_fraction > 0.0 && val_fraction < 1.0))
        return NB_FAIL(NB_ERR_ARG, "%s: validation fraction %g is not in (0, 1)", call,
                       val_fraction);
    if (d->rows > INT32_MAX)
        return NB_FAIL(NB_ERR_ARG, "%s: %zu rows exceed the index range", call, d->rows);
    *n_val = (size_t)llround((double)d->rows * val_fraction);
    if (*n_val == 0 || *n_val >= d->rows)
        return NB_FAIL(NB_ERR_ARG, "%s: fraction %g of %zu rows leaves an empty part", call,
                       val_fraction, d->rows);
    return NB_OK;
}

nb_status nb_dataset_split(const nb_dataset *d, double val_fraction, uint64_t seed,
                           nb_dataset **train, nb_dataset **val)
{
    if (!d || !train || !val) return NB_FAIL(NB_ERR_ARG, "nb_dataset_split: NULL argument");
    *train = *val = NULL;
    size_t n_val;
    NB_TRY(split_size("nb_dataset_split", d, val_fraction, &n_val));
    int32_t *idx = malloc(d->rows * sizeof *idx);
    if (!idx) return NB_NOMEM("nb_dataset_split", d->rows * sizeof *idx);
    for (size_t i = 0; i < d->rows; i++) idx[i] = (int32_t)i;
    nb_rng r;
    nb_rng_seed(&r, seed, NB_STREAM_SPLIT);
    nb_rng_shuffle_i32(&r, idx, d->rows);
    nb_status st = nb_dataset_take_rows(d, idx, n_val, val);
    if (st == NB_OK) st = nb_dataset_take_rows(d, idx + n_val, d->rows - n_val, train);
    free(idx);
    if (st != NB_OK) {
        nb_dataset_free(*val);
        *val = NULL;
    }
    return st;
}

static void swap_f32(float *a, float *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float t = a[i];
        a[i] = b[i];
        b[i] = t;
    }
}

/* Rows [row0, row0 + rows) of d as a dataset that shares d's storage. */
static nb_status make_view(nb_dataset *d, size_t row0, size_t rows, nb_dataset **out)
{
    nb_dataset *v = calloc(1, sizeof *v);
    if (!v) return NB_NOMEM("nb_dataset_split_views", sizeof *v);
    v->rows = rows;
    v->inputs = d->inputs;
    v->outputs = d->outputs;
    v->classes = d->classes;
    v->x = d->x + row0 * (size_t)d->inputs;
    if (d->y) v->y = d->y + row0 * (size_t)d->outputs;
    if (d->labels) v->labels = d->labels + row0;
    v->store = d->store;
    atomic_fetch_add(&v->store->refs, 1);
    inherit(v, d);
    *out = v;
    return NB_OK;
}

nb_status nb_dataset_split_views(nb_dataset *d, double val_fraction, uint64_t seed,
                                 nb_dataset **train, nb_dataset **val)
{
    if (!d || !train || !val) return NB_FAIL(NB_ERR_ARG, "nb_dataset_split_views: NULL argument");
    *train = *val = NULL;
    size_t n_val;
    NB_TRY(split_size("nb_dataset_split_views", d, val_fraction, &n_val));
    /* Both views first, so that a failure leaves d as it was. */
    NB_TRY(make_view(d, 0, n_val, val));
    nb_status st = make_view(d, n_val, d->rows - n_val, train);
    if (st != NB_OK) {
        nb_dataset_free(*val);
        *val = NULL;
        return st;
    }
    /* nb_rng_shuffle_i32's Fisher-Yates loop with the same stream and the
     * same draws, its swaps made on the rows themselves. nb_dataset_split
     * swaps an index array that starts as 0, 1, ... and then copies row
     * idx[i] to place i; swapping rows in lockstep keeps "place i holds
     * row idx[i]" true after every swap, so both end with the same rows in
     * the same order, and no permutation needs to be stored. */
    size_t ni = (size_t)d->inputs, no = (size_t)d->outputs;
    nb_rng r;
    nb_rng_seed(&r, seed, NB_STREAM_SPLIT);
    for (size_t i = d->rows; i > 1; i--) {
        size_t j = (size_t)nb_rng_below(&r, i), k = i - 1;
        if (j == k) continue;
        swap_f32(d->x + k * ni, d->x + j * ni, ni);
        if (d->labels) {
            int32_t t = d->labels[k];
            d->labels[k] = d->labels[j];
            d->labels[j] = t;
        } else if (d->y) {
            swap_f32(d->y + k * no, d->y + j * no, no);
        }
    }
    return NB_OK;
}

nb_status nb_dataset_feature_stats(const nb_dataset *d, float *mean, float *std)
{
    if (!d || !mean || !std) return NB_FAIL(NB_ERR_ARG, "nb_dataset_feature_stats: NULL argument");
    size_t ni = (size_t)d->inputs;
    /* Two passes in double: mean first, then the spread around it, which
     * avoids the cancellation of the one-pass sum-of-squares formula. */
    for (size_t j = 0; j < ni; j++) {
        double s = 0.0;
        for (size_t i = 0; i < d->rows; i++) s += d->x[i * ni + j];
        double m = s / (double)d->rows, q = 0.0;
        for (size_t i = 0; i < d->rows; i++) {
            double e = d->x[i * ni + j] - m;
            q += e * e;
        }
        double sd = sqrt(q / (double)d->rows);
        mean[j] = (float)m;
        /* A (numerically) constant feature is only shifted, not blown up. */
        std[j] = sd > 1e-12 * (1.0 + fabs(m)) ? (float)sd : 1.0f;
    }
    return NB_OK;
}

nb_status nb_dataset_standardize(nb_dataset *d, const float *mean, const float *std)
{
    if (!d || !mean || !std) return NB_FAIL(NB_ERR_ARG, "nb_dataset_standardize: NULL argument");
    size_t ni = (size_t)d->inputs;
    for (size_t j = 0; j < ni; j++)
        if (!(std[j] > 0.0f) || !isfinite(std[j]) || !isfinite(mean[j]))
            return NB_FAIL(NB_ERR_ARG, "nb_dataset_standardize: feature %zu has mean %g std %g", j,
                           (double)mean[j], (double)std[j]);
    for (size_t i = 0; i < d->rows; i++)
        for (size_t j = 0; j < ni; j++) d->x[i * ni + j] = (d->x[i * ni + j] - mean[j]) / std[j];
    return NB_OK;
}
