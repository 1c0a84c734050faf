/*
 * dataset.h — the host-side dataset (private layout).
 *
 * One allocation per array. Classification keeps integer labels and never
 * stores one-hot rows, so loading a file costs at most the parsed numbers;
 * the trainer expands labels to one-hot targets when it uploads them.
 */
#ifndef NB_DATASET_H
#define NB_DATASET_H

#include "nabla.h"

struct nb_dataset {
    size_t rows;
    int inputs;
    int outputs;     /* regression: targets per row; classification: classes */
    int classes;     /* 0 for regression                                      */
    float *x;        /* (rows, inputs)                                        */
    float *y;        /* (rows, outputs) for regression, else NULL             */
    int32_t *labels; /* (rows) for classification, else NULL                  */
};

/* An empty dataset with arrays allocated (uninitialised) for the given shape.
 * classes > 0 makes it a classification set (outputs = classes); outputs 0
 * (and no classes) makes one of inputs only, as a prediction reads. */
nb_status nb_dataset_alloc(size_t rows, int inputs, int outputs, int classes, nb_dataset **out);

/* Fill target rows [row0, row0 + rows) as floats (rows, outputs): the
 * regression targets, or the one-hot rows of the labels. */
void nb_dataset_targets(const nb_dataset *d, size_t row0, size_t rows, float *out);

#endif
