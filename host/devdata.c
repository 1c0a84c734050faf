/*
 * devdata.c — keeping data on the backend, or streaming it when it does
 * not fit (see devdata.h).
 */
#include "devdata.h"

#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "status.h"

enum { UPLOAD_CHUNK = 4096 }; /* rows standardised / expanded at a time on upload */

/* x ← (x − mean) / std for n rows of `in` features, src to dst. */
static void standardize(const float *src, size_t n, size_t in, const float *mean,
                        const float *std, float *dst)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < in; j++) dst[i * in + j] = (src[i * in + j] - mean[j]) / std[j];
}

void nb_devdata_close(nb_backend *be, nb_devdata *dd)
{
    nb_be_free(be, &dd->x);
    nb_be_free(be, &dd->t);
    free(dd->stage);
    memset(dd, 0, sizeof *dd);
}

static nb_status upload(const nb_model *m, const nb_dataset *d, nb_devdata *dd)
{
    nb_backend *be = m->be;
    size_t in = (size_t)d->inputs, out = (size_t)d->outputs;
    size_t chunk = d->rows < UPLOAD_CHUNK ? d->rows : UPLOAD_CHUNK;
    NB_TRY(nb_be_alloc(be, &dd->x, d->rows * in, NB_F32));
    NB_TRY(nb_be_alloc(be, &dd->t, d->rows * out, NB_F32));
    float *tmp = malloc(chunk * (in > out ? in : out) * sizeof(float));
    if (!tmp) return NB_NOMEM("nb_devdata_open", chunk * (in > out ? in : out) * sizeof(float));
    nb_status st = NB_OK;
    for (size_t r = 0; r < d->rows && st == NB_OK; r += chunk) {
        size_t rows = d->rows - r < chunk ? d->rows - r : chunk;
        const float *x = d->x + r * in;
        if (m->mean) {
            standardize(x, rows, in, m->mean, m->std, tmp);
            x = tmp;
        }
        st = nb_be_write(be, &dd->x, r * in, x, rows * in);
        if (st != NB_OK) break;
        nb_dataset_targets(d, r, rows, tmp);
        st = nb_be_write(be, &dd->t, r * out, tmp, rows * out);
    }
    free(tmp);
    return st;
}

nb_status nb_devdata_open(const nb_model *m, const nb_dataset *d, size_t cap, nb_devdata *dd)
{
    memset(dd, 0, sizeof *dd);
    dd->rows = d->rows;
    dd->inputs = d->inputs;
    dd->outputs = d->outputs;
    size_t in = (size_t)d->inputs, out = (size_t)d->outputs;
    double bytes_x = 4.0 * (double)d->rows * (double)in, bytes_t = 4.0 * (double)d->rows * (double)out;
    const nb_backend *be = m->be;
    dd->resident = bytes_x + bytes_t <= (double)be->data_budget &&
                   bytes_x <= (double)be->max_alloc && bytes_t <= (double)be->max_alloc;
    if (dd->resident) {
        nb_status st = upload(m, d, dd);
        if (st != NB_OK) nb_devdata_close(m->be, dd);
        return st;
    }
    dd->host = d;
    dd->mean = m->mean;
    dd->std = m->std;
    dd->stage_rows = cap;
    size_t w = in > out ? in : out;
    dd->stage = malloc(cap * w * sizeof(float));
    if (!dd->stage) return NB_NOMEM("nb_devdata_open", cap * w * sizeof(float));
    return NB_OK;
}

/* Streamed rows: gather on the host, standardise, copy into p's buffers. */
static nb_status stream_rows(nb_model *m, nb_pass *p, nb_devdata *dd, size_t r0, size_t rows,
                             const int32_t *order, nb_view *x, nb_view *t)
{
    const nb_dataset *d = dd->host;
    size_t in = (size_t)d->inputs, out = (size_t)d->outputs;
    if (rows > dd->stage_rows || rows > p->cap)
        return NB_FAIL(NB_ERR_INTERNAL, "nb_devdata_rows: %zu rows for %zu of staging", rows,
                       dd->stage_rows);
    for (size_t i = 0; i < rows; i++) {
        size_t r = order ? (size_t)order[r0 + i] : r0 + i;
        const float *src = d->x + r * in;
        if (dd->mean)
            standardize(src, 1, in, dd->mean, dd->std, dd->stage + i * in);
        else
            memcpy(dd->stage + i * in, src, in * sizeof(float));
    }
    NB_TRY(nb_be_write(m->be, &p->act, 0, dd->stage, rows * in));
    for (size_t i = 0; i < rows; i++) {
        size_t r = order ? (size_t)order[r0 + i] : r0 + i;
        nb_dataset_targets(d, r, 1, dd->stage + i * out);
    }
    NB_TRY(nb_be_write(m->be, &p->target, 0, dd->stage, rows * out));
    *x = nb_view_at(&p->act, 0);
    *t = nb_view_at(&p->target, 0);
    return NB_OK;
}

nb_status nb_devdata_rows(nb_model *m, nb_pass *p, nb_devdata *dd, size_t r0, size_t rows,
                          const int32_t *order, const nb_buf *order_dev, nb_view *x, nb_view *t)
{
    if (!dd->resident) return stream_rows(m, p, dd, r0, rows, order, x, t);
    size_t in = (size_t)dd->inputs, out = (size_t)dd->outputs;
    if (!order) { /* contiguous rows: view them where they are */
        *x = nb_view_at(&dd->x, r0 * in);
        *t = nb_view_at(&dd->t, r0 * out);
        return NB_OK;
    }
    /* Gather this batch's rows on the backend; only indices are involved. */
    nb_view ix = nb_view_at(order_dev, r0);
    *x = nb_view_at(&p->act, 0);
    *t = nb_view_at(&p->target, 0);
    NB_TRY(nb_be_gather_rows(m->be, rows, in, dd->rows, nb_view_at(&dd->x, 0), ix, *x));
    return nb_be_gather_rows(m->be, rows, out, dd->rows, nb_view_at(&dd->t, 0), ix, *t);
}
