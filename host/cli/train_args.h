/*
 * train_args.h — `nabla train`'s settings as parsed from its flags, shared
 * by the files that make the command: cmd_train.c (flags and checks),
 * train_resume.c (a resumed run's settings from its checkpoint) and
 * train_run.c (loading, training, reporting).
 */
#ifndef NB_CLI_TRAIN_ARGS_H
#define NB_CLI_TRAIN_ARGS_H

#include "cli/data_args.h"
#include "cli/train_dist.h"
#include "nabla.h"

enum { NB_TRAIN_MAX_LAYERS = 64 };

/* getopt codes of train's own flags (the data and schedule flags have theirs). */
enum {
    NB_T_STANDARDIZE = 'z', NB_T_VAL = 'v', NB_T_LAYERS = 'L', NB_T_ACT = 'a', NB_T_LOSS = 'l',
    NB_T_BATCH = 'b', NB_T_SEED = 's', NB_T_DEVICE = 'D', NB_T_PRINT_EVERY = 'p', NB_T_LOG = 'o',
    NB_T_MEASURE_GRAD = 'm', NB_T_PROFILE = 'P', NB_T_SAVE = 'S', NB_T_SAVE_EVERY = 'E',
    NB_T_RESUME = 'U', NB_T_PLOT = 'G', NB_T_PLOT_LOG = 'Q'
};

typedef struct train_args {
    nb_data_args data;
    const char *log, *device, *plot;
    int widths[NB_TRAIN_MAX_LAYERS + 1], n_widths;
    nb_act acts[NB_TRAIN_MAX_LAYERS];
    int n_acts;
    nb_loss loss;
    double val;
    int standardize;
    long print_every;
    int epochs_set;
    int profile, plot_log;
    nb_train_options opt;
    char record[NB_RECORD_MAX]; /* what checkpoints keep of these settings */
    char data_path[4096];       /* the data and labels a resumed run reads  */
    char labels_path[4096];
    /* The command line, so a resumed run can lay its schedule flags over
     * the checkpoint's settings, and which option codes appeared. */
    int argc;
    char **argv;
    unsigned char given[1100];
    /* The ranks this run is one of under mpirun (train_dist.h); NULL: a
     * plain run. */
    train_dist *dist;
} train_args;

/* Parse one option of train (its own, data or schedule); 1 to go on, 0
 * after printing an error. */
int nb_train_parse_opt(int c, const char *v, train_args *a);
/* getopt_long's table of every train option (static storage). */
const struct option *nb_train_options_table(void);

/* --resume: take the run's settings from the checkpoint where no flag
 * overrides them, print one line per override, refuse incompatible
 * flags. Before the data is loaded. 0 on success, else the exit status. */
int nb_train_resume_settings(train_args *a);
/* --resume: the architecture comes from the loaded checkpoint; flags that
 * name another are refused with both values, as is data of another
 * shape. 0 on success, else the exit status. */
int nb_train_adopt_arch(train_args *a, const nb_model *m, const nb_dataset *d);
/* The record of the run's data settings, kept with its checkpoints. 0 on
 * success, else the exit status. */
int nb_train_make_record(train_args *a);

/* Load, train and report; the exit status. */
int nb_train_run(train_args *a);

#endif
