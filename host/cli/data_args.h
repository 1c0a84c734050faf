/*
 * data_args.h — the data flags of every command that reads a dataset
 * (train, eval, predict, gradcheck), parsed once and loaded one way:
 *
 *   --data FILE|-   --labels FILE   --header   --no-header
 *   --label-col N|last   --regression   --targets K   --delimiter C
 *
 * Loading covers the bundled digits (no --data), CSV files, standard
 * input ("-", read once into memory so that it can be parsed more than
 * once), gzip or plain IDX pairs (--labels), and the one-line note when a
 * first line is taken as a header.
 */
#ifndef NB_CLI_DATA_ARGS_H
#define NB_CLI_DATA_ARGS_H

#include <getopt.h>
#include <stddef.h>

#include "nabla.h"

/* Option codes of the data flags (above the schedule's). */
enum { NB_DATA_OPT_BASE = 0x300 };

/* Which flags appeared on the command line. */
enum {
    NB_DATA_GIVEN_DATA = 1 << 0,
    NB_DATA_GIVEN_LABELS = 1 << 1,
    NB_DATA_GIVEN_HEADER = 1 << 2,
    NB_DATA_GIVEN_LABEL_COL = 1 << 3,
    NB_DATA_GIVEN_REGRESSION = 1 << 4,
    NB_DATA_GIVEN_TARGETS = 1 << 5,
    NB_DATA_GIVEN_DELIMITER = 1 << 6
};

typedef struct nb_data_args {
    const char *data;   /* NULL: the bundled digits; "-": standard input      */
    const char *labels; /* IDX labels; data is then the IDX images            */
    nb_csv_options csv;
    unsigned given;     /* NB_DATA_GIVEN_*                                    */
    char *stdin_buf;    /* standard input, read on first use (owned)          */
    size_t stdin_len;
} nb_data_args;

extern const struct option nb_data_options[]; /* terminated by a zero entry */
/* The help lines of the flags, for a command's --help. */
extern const char nb_data_help[];

void nb_data_args_init(nb_data_args *a);
void nb_data_args_free(nb_data_args *a);

/* Is c one of the data flags' codes? */
int nb_data_is_opt(int c);
/* Apply flag c with value v; 0 after printing an error. */
int nb_data_parse(const char *cmd, int c, const char *v, nb_data_args *a);
/* Combinations that cannot work; 0 after printing an error. */
int nb_data_check(const char *cmd, const nb_data_args *a);

/* What the data is called in messages: the path, "standard input" or
 * "bundled digits". */
const char *nb_data_name(const nb_data_args *a);

/*
 * Load the data with the given CSV options (NULL: a->csv): the bundled
 * digits, a CSV file or standard input, or an IDX pair. Says in one line
 * on stderr when line 1 was detected as a header. On failure prints the
 * error and returns the exit status; 0 on success.
 */
int nb_data_load(const char *cmd, nb_data_args *a, const nb_csv_options *csv, nb_dataset **out);
/* Say in one line on stderr when line 1 of d was detected as a header. */
void nb_data_note_header(const char *cmd, const nb_data_args *a, const nb_csv_options *csv,
                         const nb_dataset *d);
/* The same as nb_data_load, printing nothing: a first try whose failure is not an error
 * (predict's rows of features alone). NB_OK or the library's status. */
nb_status nb_data_try_load(nb_data_args *a, const nb_csv_options *csv, nb_dataset **out);

#endif
