/*
 * dataset.h — the host-side dataset (private layout).
 *
 * One allocation per array. Classification keeps integer labels and never
 * stores one-hot rows, so loading a file costs at most the parsed numbers;
 * the trainer expands labels to one-hot targets when it uploads them.
 *
 * The arrays belong to a reference-counted store, so that the views made
 * by nb_dataset_split_views can share them with the dataset they came
 * from: x, y and labels of a view point into the store's arrays at the
 * view's first row. Class names are shared the same way, by every dataset
 * derived from the one that was loaded.
 */
#ifndef NB_DATASET_H
#define NB_DATASET_H

#include <stdatomic.h>

#include "nabla.h"

/* The arrays a dataset and its views read: freed with the last of them. */
typedef struct nb_dataset_store {
    atomic_size_t refs;
    float *x;
    float *y;
    int32_t *labels;
} nb_dataset_store;

/* Class names, names[k] for class k: n NUL-terminated strings, each its
 * own allocation. Immutable once made; freed with the last holder. */
typedef struct nb_class_names {
    atomic_size_t refs;
    int n;
    char **names;
} nb_class_names;

struct nb_dataset {
    size_t rows;
    int inputs;
    int outputs;     /* regression: targets per row; classification: classes */
    int classes;     /* 0 for regression                                      */
    float *x;        /* (rows, inputs)                                        */
    float *y;        /* (rows, outputs) for regression, else NULL             */
    int32_t *labels; /* (rows) for classification, else NULL                  */
    nb_dataset_store *store; /* owns the arrays x, y, labels point into       */
    nb_class_names *names;   /* NULL, or one name per class                   */
    int header_skipped;      /* CSV: line 1 was taken as a header             */
    char delimiter;          /* CSV: the field delimiter used; 0 otherwise    */
};

/* An empty dataset with arrays allocated (uninitialised) for the given shape.
 * classes > 0 makes it a classification set (outputs = classes); outputs 0
 * (and no classes) makes one of inputs only, as a prediction reads. */
nb_status nb_dataset_alloc(size_t rows, int inputs, int outputs, int classes, nb_dataset **out);

/* Copy the rows listed in idx (n, each < src->rows) of src into a new
 * dataset, in that order, with src's class names and file facts. */
nb_status nb_dataset_take_rows(const nb_dataset *src, const int32_t *idx, size_t n,
                               nb_dataset **out);

/* Fill target rows [row0, row0 + rows) as floats (rows, outputs): the
 * regression targets, or the one-hot rows of the labels. */
void nb_dataset_targets(const nb_dataset *d, size_t row0, size_t rows, float *out);

/* An empty name table for n classes (names all NULL), to be filled by the
 * caller and handed to a dataset, which then owns it. */
nb_status nb_class_names_alloc(int n, nb_class_names **out);
/* Drop one reference; the last one frees the names. NULL is ignored. */
void nb_class_names_release(nb_class_names *cn);

#endif
