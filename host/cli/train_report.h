/*
 * train_report.h — what `nabla train` shows while it trains: one line per
 * printed epoch, a progress bar on a terminal, the JSON-lines log, and the
 * history behind --plot.
 */
#ifndef NB_CLI_TRAIN_REPORT_H
#define NB_CLI_TRAIN_REPORT_H

#include <stdio.h>

#include "nabla.h"

typedef struct nb_report {
    FILE *log;          /* --log, or NULL                                  */
    long print_every;   /* epochs between printed lines                    */
    long max_epochs;    /* for the bar's ETA; 0 if unknown                 */
    size_t rows;        /* training rows, for samples/s                    */
    int classify;       /* print accuracy                                  */
    int bar;            /* draw a progress bar (stdout is a terminal)      */
    int bar_drawn;      /* a bar is on the current line                    */
    double last_loss;   /* the last epoch's loss, shown in the bar         */
    /* history for --plot (grown as epochs come in) */
    size_t n, cap;
    long *epoch;
    double *loss, *val, *acc;
    int keep_history;
} nb_report;

/* Epoch callback for nb_train_options.on_epoch (user = nb_report). */
int nb_report_epoch(void *user, const nb_epoch_stats *s);
/* Batch callback for nb_train_options.on_batch: the progress bar. */
void nb_report_batch(void *user, const nb_batch_progress *p);
/* Clear a half-drawn bar (before printing anything else). */
void nb_report_clear_bar(nb_report *r);
/* Write the --plot SVG from the history, headed by title (shown as given,
 * e.g. from nb_report_title); returns 0 on success, after printing why on
 * stderr otherwise. */
int nb_report_plot(const nb_report *r, const char *path, int log_scale, const char *title);
/* Model m's architecture in a few words: "64-32-10 sigmoid/mse". Layers
 * with different activations are listed in order ("relu,identity/mse");
 * the softmax of xent is implied ("64-32-10 relu/xent"). */
void nb_report_arch(char *buf, size_t n, const nb_model *m);
/* The plot's title for model m trained on data (a path, "-" for standard
 * input, or NULL for the bundled digits): "64-32-10 sigmoid/mse on digits". */
void nb_report_title(char *buf, size_t n, const nb_model *m, const char *data);
void nb_report_free(nb_report *r);

#endif
