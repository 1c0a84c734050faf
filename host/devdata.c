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
    for (int s = 0; s < 2; s++) {
        /* An upload may still read the staging area: let it finish first.
         * Its status no longer matters; the run is over either way. */
        nb_be_write_wait(be, &dd->ticket[s][0]);
        nb_be_write_wait(be, &dd->ticket[s][1]);
        nb_be_free(be, &dd->sx[s]);
        nb_be_free(be, &dd->st[s]);
        free(dd->stage[s]);
    }
    memset(dd, 0, sizeof *dd);
}

static nb_status upload(const nb_model *m, const nb_dataset *d, nb_devdata *dd)
{
    nb_backend *be = m->be;
    size_t in = (size_t)d->inputs, out = (size_t)d->outputs;
    size_t chunk = d->rows < UPLOAD_CHUNK ? d->rows : UPLOAD_CHUNK;
    /* Inputs the model takes as they are, on a backend whose buffers are
     * host memory, are read where they lie: no second copy of the data. */
    bool borrowed = !m->mean && nb_be_borrow(be, &dd->x, d->rows * in, NB_F32, d->x) == NB_OK;
    if (!borrowed) NB_TRY(nb_be_alloc(be, &dd->x, d->rows * in, NB_F32));
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
        if (!borrowed) st = nb_be_write(be, &dd->x, r * in, x, rows * in);
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
    const nb_backend_facts *f = &m->be->facts;
    dd->resident = bytes_x + bytes_t <= (double)f->data_budget &&
                   bytes_x <= (double)f->max_alloc && bytes_t <= (double)f->max_alloc;
    if (dd->resident) {
        nb_status st = upload(m, d, dd);
        if (st != NB_OK) nb_devdata_close(m->be, dd);
        return st;
    }
    dd->host = d;
    dd->mean = m->mean;
    dd->std = m->std;
    dd->stage_rows = cap;
    nb_status st = NB_OK;
    for (int s = 0; s < 2 && st == NB_OK; s++) {
        dd->stage[s] = malloc(cap * (in + out) * sizeof(float));
        if (!dd->stage[s]) st = NB_NOMEM("nb_devdata_open", cap * (in + out) * sizeof(float));
        if (st == NB_OK) st = nb_be_alloc(m->be, &dd->sx[s], cap * in, NB_F32);
        if (st == NB_OK) st = nb_be_alloc(m->be, &dd->st[s], cap * out, NB_F32);
    }
    if (st != NB_OK) nb_devdata_close(m->be, dd);
    return st;
}

/* Streamed rows: gather on the host, standardise, and start their upload
 * into the next slot; the backend may still be busy with the other one. */
static nb_status stream_rows(nb_backend *be, nb_devdata *dd, size_t r0, size_t rows,
                             const int32_t *order, nb_view *x, nb_view *t)
{
    const nb_dataset *d = dd->host;
    size_t in = (size_t)d->inputs, out = (size_t)d->outputs;
    if (rows > dd->stage_rows)
        return NB_FAIL(NB_ERR_INTERNAL, "nb_devdata_rows: %zu rows for %zu of staging", rows,
                       dd->stage_rows);
    int s = dd->slot;
    dd->slot ^= 1;
    /* The slot's last uploads must be done before its host memory changes;
     * the work that read its backend buffers was queued before the upload
     * that follows, so it runs first. */
    NB_TRY(nb_be_write_wait(be, &dd->ticket[s][0]));
    NB_TRY(nb_be_write_wait(be, &dd->ticket[s][1]));
    float *hx = dd->stage[s], *ht = dd->stage[s] + dd->stage_rows * in;
    for (size_t i = 0; i < rows; i++) {
        size_t r = order ? (size_t)order[r0 + i] : r0 + i;
        const float *src = d->x + r * in;
        if (dd->mean)
            standardize(src, 1, in, dd->mean, dd->std, hx + i * in);
        else
            memcpy(hx + i * in, src, in * sizeof(float));
        nb_dataset_targets(d, r, 1, ht + i * out);
    }
    NB_TRY(nb_be_write_async(be, &dd->sx[s], 0, hx, rows * in, &dd->ticket[s][0]));
    NB_TRY(nb_be_write_async(be, &dd->st[s], 0, ht, rows * out, &dd->ticket[s][1]));
    *x = nb_view_at(&dd->sx[s], 0);
    *t = nb_view_at(&dd->st[s], 0);
    return NB_OK;
}

nb_status nb_devdata_rows(nb_backend *be, nb_devdata *dd, size_t r0, size_t rows,
                          const int32_t *order, const nb_buf *order_dev, nb_view gx, nb_view gt,
                          nb_view *x, nb_view *t)
{
    if (!dd->resident) return stream_rows(be, dd, r0, rows, order, x, t);
    size_t in = (size_t)dd->inputs, out = (size_t)dd->outputs;
    if (!order) { /* contiguous rows: view them where they are */
        *x = nb_view_at(&dd->x, r0 * in);
        *t = nb_view_at(&dd->t, r0 * out);
        return NB_OK;
    }
    /* Gather this batch's rows on the backend; only indices are involved. */
    nb_view ix = nb_view_at(order_dev, r0);
    *x = gx;
    *t = gt;
    NB_TRY(nb_be_gather_rows(be, rows, in, dd->rows, nb_view_at(&dd->x, 0), ix, gx));
    return nb_be_gather_rows(be, rows, out, dd->rows, nb_view_at(&dd->t, 0), ix, gt);
}
