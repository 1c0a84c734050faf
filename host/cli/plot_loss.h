/*
 * plot_loss.h — `nabla train --plot`: training curves as a standalone SVG.
 *
 * One panel for the training and validation loss per epoch (linear or log
 * scale), and a second one for validation accuracy when the task is a
 * classification. Each curve is a <polyline class="train|val|acc"> whose
 * data-epoch and data-value attributes list the plotted numbers (%.9g), so
 * a test can compare the picture with the run's log. The epoch axis labels
 * are <text class="etick"> with whole, increasing epochs at a round step;
 * the title is both the document's <title> and <text class="title">.
 */
#ifndef NB_CLI_PLOT_LOSS_H
#define NB_CLI_PLOT_LOSS_H

#include <stddef.h>
#include <stdio.h>

typedef struct nb_curves {
    size_t n;             /* epochs recorded                                  */
    const long *epoch;    /* (n)                                              */
    const double *loss;   /* (n) training loss                                */
    const double *val;    /* (n) validation loss, NaN where there is none     */
    const double *acc;    /* (n) validation accuracy in [0, 1], or NaN        */
    int log_scale;        /* loss axis in log10                               */
    const char *title;    /* plain UTF-8, shown as given; escaped here        */
} nb_curves;

/* Write the plot to f. Returns NULL, or why nothing sensible could be
 * drawn ("no finite loss"); write errors are left to ferror/fclose. */
const char *nb_curves_write(FILE *f, const nb_curves *c);

#endif
