/*
 * data_args.c — the shared data flags and the one way of loading data
 * (see data_args.h).
 */
#include "cli/data_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"

/* The bundled UCI digits (data/digits.csv), embedded at build time. */
extern const unsigned char nb_embedded_digits_csv[];
extern const unsigned long nb_embedded_digits_csv_size;

enum {
    O_DATA = NB_DATA_OPT_BASE, O_LABELS, O_HEADER, O_NO_HEADER, O_LABEL_COL, O_REGRESSION,
    O_TARGETS, O_DELIMITER, O_END
};

const struct option nb_data_options[] = {
    {"data", required_argument, 0, O_DATA},
    {"labels", required_argument, 0, O_LABELS},
    {"header", no_argument, 0, O_HEADER},
    {"no-header", no_argument, 0, O_NO_HEADER},
    {"label-col", required_argument, 0, O_LABEL_COL},
    {"regression", no_argument, 0, O_REGRESSION},
    {"targets", required_argument, 0, O_TARGETS},
    {"delimiter", required_argument, 0, O_DELIMITER},
    {0, 0, 0, 0}};

const char nb_data_help[] =
    "  --data FILE         a CSV file, or '-' for standard input (default: the\n"
    "                      bundled digits)\n"
    "  --labels FILE       IDX label file (MNIST format, optionally .gz); --data is\n"
    "                      then the IDX image file, pixels scaled to [0, 1]\n"
    "  --header            the first line is a header (any number of fields)\n"
    "  --no-header         the first line is data (default: detect, and say so)\n"
    "  --delimiter C       ',', ';' or 'tab' (default: detect from the first line)\n"
    "  --label-col N       0-based label column, or 'last' (default: last); labels\n"
    "                      are class numbers, or class names (sorted by name)\n"
    "  --regression        the label column is a real-valued target\n"
    "  --targets K         the last K columns are real-valued targets\n";

void nb_data_args_init(nb_data_args *a)
{
    memset(a, 0, sizeof *a);
    nb_csv_options_default(&a->csv);
}

void nb_data_args_free(nb_data_args *a)
{
    free(a->stdin_buf);
    a->stdin_buf = NULL;
}

int nb_data_is_opt(int c) { return c >= NB_DATA_OPT_BASE && c < O_END; }

static int parse_delimiter(const char *cmd, const char *v, char *out)
{
    if (strcmp(v, ",") == 0 || strcmp(v, "comma") == 0) return *out = ',', 1;
    if (strcmp(v, ";") == 0 || strcmp(v, "semicolon") == 0) return *out = ';', 1;
    if (strcmp(v, "tab") == 0 || strcmp(v, "\t") == 0 || strcmp(v, "\\t") == 0) return *out = '\t', 1;
    nb_cli_usage_error(cmd, "--delimiter: '%s' is not one of ',', ';' or 'tab'", v);
    return 0;
}

int nb_data_parse(const char *cmd, int c, const char *v, nb_data_args *a)
{
    long n;
    switch (c) {
    case O_DATA: a->given |= NB_DATA_GIVEN_DATA, a->data = v; return 1;
    case O_LABELS: a->given |= NB_DATA_GIVEN_LABELS, a->labels = v; return 1;
    case O_HEADER: a->given |= NB_DATA_GIVEN_HEADER, a->csv.header = 1; return 1;
    case O_NO_HEADER: a->given |= NB_DATA_GIVEN_HEADER, a->csv.header = 0; return 1;
    case O_LABEL_COL:
        a->given |= NB_DATA_GIVEN_LABEL_COL;
        if (strcmp(v, "last") == 0) return a->csv.label_col = -1, 1;
        if (!nb_arg_long(cmd, "--label-col", v, 0, 1 << 20, &n)) return 0;
        a->csv.label_col = (int)n;
        return 1;
    case O_REGRESSION: a->given |= NB_DATA_GIVEN_REGRESSION, a->csv.regression = 1; return 1;
    case O_TARGETS:
        a->given |= NB_DATA_GIVEN_TARGETS;
        if (!nb_arg_long(cmd, "--targets", v, 1, 1 << 20, &n)) return 0;
        a->csv.targets = (int)n;
        return 1;
    case O_DELIMITER:
        a->given |= NB_DATA_GIVEN_DELIMITER;
        return parse_delimiter(cmd, v, &a->csv.delimiter);
    }
    nb_cli_usage_error(cmd, "internal: unknown data option %d", c);
    return 0;
}

int nb_data_check(const char *cmd, const nb_data_args *a)
{
    if (a->labels && !a->data)
        return nb_cli_usage_error(cmd, "--labels needs --data with the IDX image file"), 0;
    if (a->labels && (strcmp(a->data, "-") == 0 || strcmp(a->labels, "-") == 0))
        return nb_cli_usage_error(cmd, "--data -: standard input is read as CSV; IDX files "
                                       "need paths"), 0;
    if (a->csv.targets > 0 && a->csv.label_col != -1)
        return nb_cli_usage_error(cmd, "--targets takes the last K columns; drop --label-col"), 0;
    return 1;
}

const char *nb_data_name(const nb_data_args *a)
{
    if (!a->data) return "bundled digits";
    return strcmp(a->data, "-") == 0 ? "standard input" : a->data;
}

/* Standard input, read whole on first use. */
static int read_stdin(const char *cmd, nb_data_args *a)
{
    if (a->stdin_buf) return 1;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, stdin);
        if (n < cap) break;
        char *grown = cap <= ((size_t)-1) / 2 ? realloc(buf, cap * 2) : NULL;
        if (!grown) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = grown, cap *= 2;
    }
    if (!buf) return nb_cli_usage_error(cmd, "--data -: out of memory reading standard input"), 0;
    if (ferror(stdin)) {
        free(buf);
        return nb_cli_usage_error(cmd, "--data -: reading standard input failed"), 0;
    }
    a->stdin_buf = buf, a->stdin_len = n;
    return 1;
}

/* Load without a word on success or failure; stdin_failed says the
 * failure (already printed) was in reading standard input. */
static nb_status load(const char *cmd, nb_data_args *a, const nb_csv_options *o, nb_dataset **out,
                      int *stdin_failed)
{
    *out = NULL;
    *stdin_failed = 0;
    if (a->labels) /* IDX (MNIST format): images in --data, labels here */
        return nb_dataset_load_idx(a->data, a->labels, o->classes, out);
    if (!a->data)
        return nb_dataset_load_csv_mem("digits.csv (bundled)", nb_embedded_digits_csv,
                                       nb_embedded_digits_csv_size, o, out);
    if (strcmp(a->data, "-") != 0) return nb_dataset_load_csv(a->data, o, out);
    if (!read_stdin(cmd, a)) return *stdin_failed = 1, NB_ERR_IO;
    return nb_dataset_load_csv_mem("standard input", a->stdin_buf, a->stdin_len, o, out);
}

nb_status nb_data_try_load(nb_data_args *a, const nb_csv_options *csv, nb_dataset **out)
{
    int stdin_failed;
    return load("data", a, csv ? csv : &a->csv, out, &stdin_failed);
}

int nb_data_load(const char *cmd, nb_data_args *a, const nb_csv_options *csv, nb_dataset **out)
{
    const nb_csv_options *o = csv ? csv : &a->csv;
    int stdin_failed;
    nb_status st = load(cmd, a, o, out, &stdin_failed);
    if (st != NB_OK) return stdin_failed ? NB_EXIT_USAGE : nb_cli_fail(cmd, st);
    nb_data_note_header(cmd, a, o, *out);
    return 0;
}

void nb_data_note_header(const char *cmd, const nb_data_args *a, const nb_csv_options *csv,
                         const nb_dataset *d)
{
    if (!a->labels && csv->header == -1 && nb_dataset_header_skipped(d))
        fprintf(stderr, "nabla %s: note: line 1 of %s taken as a header (--no-header to read it "
                        "as data)\n", cmd, nb_data_name(a));
}
