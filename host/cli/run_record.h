/*
 * run_record.h — what `nabla train` keeps of a run's data settings in its
 * checkpoints (nb_train_options.record), so that `train --resume` reads
 * the same data the same way and `eval` can find the rows the run held
 * out. It is a small JSON object; every field is checked when read, and
 * one that is missing or out of range keeps the caller's value.
 *
 *   {"version":1, "data":"/abs/path.csv" | "-" | null (bundled digits),
 *    "labels":"/abs/labels.idx" | null, "header":-1|0|1, "label_col":N,
 *    "regression":bool, "targets":K, "delimiter":","|";"|"\t"|"",
 *    "val":F, "standardize":bool, "save_every":N}
 */
#ifndef NB_CLI_RUN_RECORD_H
#define NB_CLI_RUN_RECORD_H

#include <stddef.h>

#include "nabla.h"

typedef struct nb_run_record {
    int has_data;       /* 0: the bundled digits                   */
    char data[4096];    /* absolute path, or "-" (standard input)  */
    int has_labels;
    char labels[4096];  /* IDX labels                              */
    nb_csv_options csv; /* header, label_col, regression, targets, delimiter */
    double val;         /* validation fraction, in [0, 1)          */
    int standardize;
    long save_every;
} nb_run_record;

/* Fields set in a parsed record (a file may predate some). */
enum {
    NB_REC_DATA = 1 << 0, NB_REC_LABELS = 1 << 1, NB_REC_HEADER = 1 << 2,
    NB_REC_LABEL_COL = 1 << 3, NB_REC_REGRESSION = 1 << 4, NB_REC_TARGETS = 1 << 5,
    NB_REC_DELIMITER = 1 << 6, NB_REC_VAL = 1 << 7, NB_REC_STANDARDIZE = 1 << 8,
    NB_REC_SAVE_EVERY = 1 << 9
};

/* Parse text into r (whose fields keep their values where the text has
 * none); returns the NB_REC_* fields found, or -1 when text is not a
 * record. */
int nb_run_record_parse(const char *text, nb_run_record *r);

/* Write r as JSON into out (n bytes); 0 when it does not fit. */
int nb_run_record_write(const nb_run_record *r, char *out, size_t n);

#endif
