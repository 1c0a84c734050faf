/*
 * devdata.h — a dataset as the passes see it (private).
 *
 * Resident: the inputs (standardised with the model's statistics) and the
 * float targets (one-hot rows for labels) are uploaded once and stay on
 * the backend; a mini-batch is gathered there through an index buffer, so
 * a step moves nothing across the bus but the epoch's indices. Inputs that
 * need no standardising are borrowed in place by a backend that computes
 * in host memory (the cpu backend, OpenCL CPU devices), so the data is not
 * held twice.
 * Streamed: when the data does not fit the backend's budget, it stays on
 * the host and each chunk of rows is copied up when a pass needs it, double
 * buffered: the host gathers chunk k+1 into one slot while the backend
 * still uploads and computes on chunk k in the other.
 */
#ifndef NB_DEVDATA_H
#define NB_DEVDATA_H

#include <stdbool.h>

#include "model.h"

typedef struct nb_devdata {
    size_t rows;
    int inputs, outputs;
    bool resident;
    nb_buf x, t;              /* resident: (rows, inputs), (rows, outputs)      */
    const nb_dataset *host;   /* streamed: the host rows (borrowed)             */
    const float *mean, *std;  /* streamed: the model's standardisation, or NULL */
    /* streamed: two slots, each a host staging area of stage_rows × (inputs
     * + outputs) floats, backend buffers for x and t, and the tickets of
     * their uploads in flight; slot is the one the next chunk fills */
    float *stage[2];
    nb_buf sx[2], st[2];
    void *ticket[2][2];
    int slot;
    size_t stage_rows;
} nb_devdata;

/*
 * Make d available to passes of up to cap rows: resident if it fits the
 * backend's data budget (and its largest-buffer limit), else streamed.
 */
nb_status nb_devdata_open(const nb_model *m, const nb_dataset *d, size_t cap, nb_devdata *dd);
void nb_devdata_close(nb_backend *be, nb_devdata *dd);

/*
 * Views x (rows, inputs) and t (rows, outputs) of rows r0 … r0+rows−1 of
 * dd, or, with order (host, the epoch's permutation) and order_dev (its
 * copy on the backend, for resident data), of rows order[r0 …]. Contiguous
 * resident rows are viewed in place; resident rows in another order are
 * gathered into the caller's destinations gx (rows, inputs) and gt (rows,
 * outputs), and then *x = gx and *t = gt; streamed rows land in a
 * streaming slot. A slot's view stays valid until the second call after
 * it: work queued on it in between runs in order before the slot is
 * filled again.
 */
nb_status nb_devdata_rows(nb_backend *be, nb_devdata *dd, size_t r0, size_t rows,
                          const int32_t *order, const nb_buf *order_dev, nb_view gx, nb_view gt,
                          nb_view *x, nb_view *t);

#endif
