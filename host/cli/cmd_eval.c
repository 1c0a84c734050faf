/*
 * cmd_eval.c — `nabla eval` (loss, accuracy, per-class precision and
 * recall, confusion matrix; optionally as JSON) and `nabla predict`
 * (outputs, plus the argmax label for classifiers, as CSV) for a saved
 * model. The model's own standardisation is applied, never recomputed.
 */
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/profile.h"
#include "nabla.h"

extern const unsigned char nb_embedded_digits_csv[];
extern const unsigned long nb_embedded_digits_csv_size;

typedef struct eval_args {
    const char *cmd, *model, *data, *out, *device;
    nb_csv_options csv;
    int json;
    int features_first; /* predict: try rows of features alone first */
} eval_args;

static const char eval_help[] =
    "usage: nabla eval --model FILE [--data FILE.csv] [options]\n"
    "\n"
    "Evaluate a saved model (from nabla train --save, or nb_model_save): the\n"
    "loss and, for classifiers, the accuracy, per-class precision and recall,\n"
    "and the confusion matrix (rows: true class, columns: predicted).\n"
    "\n"
    "  --model FILE        the model or training checkpoint (required)\n"
    "  --data FILE.csv     data in the training layout (default: bundled digits)\n"
    "  --header, --no-header, --label-col N|last, --regression, --targets K\n"
    "                      read the CSV as nabla train does\n"
    "  --json              print one JSON object instead of tables\n"
    "  --device D          auto, cpu, opencl or opencl:P.D (default auto)\n"
    "  -h, --help          this help\n"
    "\n"
    "Exit status: 0 done, 1 failed, 2 bad arguments or data, 3 device failure.\n";

static const char predict_help[] =
    "usage: nabla predict --model FILE --data FILE.csv --out FILE.csv [options]\n"
    "\n"
    "Write the model's outputs for every row of the data, one CSV row each\n"
    "(columns y0, y1, ...), plus the predicted class (the argmax) for\n"
    "classifiers. When the rows have as many columns as the model has inputs,\n"
    "every column is a feature; otherwise the data has the training layout\n"
    "and its label or target columns are read and ignored. Features alone get\n"
    "the class column when the model has more than one output, unless\n"
    "--regression or --targets says it is a regression model.\n"
    "\n"
    "  --model FILE        the model or training checkpoint (required)\n"
    "  --data FILE.csv     the rows to predict (default: bundled digits)\n"
    "  --out FILE.csv      where to write (required; '-' for stdout)\n"
    "  --header, --no-header, --label-col N|last, --regression, --targets K\n"
    "  --device D          auto, cpu, opencl or opencl:P.D (default auto)\n"
    "  -h, --help          this help\n"
    "\n"
    "Exit status: 0 done, 1 failed, 2 bad arguments or data, 3 device failure.\n";

static int parse(int argc, char **argv, eval_args *a, const char *help)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"data", required_argument, 0, 'd'},
        {"out", required_argument, 0, 'o'},   {"json", no_argument, 0, 'j'},
        {"device", required_argument, 0, 'D'}, {"header", no_argument, 0, 'H'},
        {"no-header", no_argument, 0, 'N'},   {"label-col", required_argument, 0, 'c'},
        {"regression", no_argument, 0, 'R'},  {"targets", required_argument, 0, 'k'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    int c;
    long n;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': fputs(help, stdout); return -1;
        case 'm': a->model = optarg; break;
        case 'd': a->data = optarg; break;
        case 'o': a->out = optarg; break;
        case 'j': a->json = 1; break;
        case 'D': a->device = optarg; break;
        case 'H': a->csv.header = 1; break;
        case 'N': a->csv.header = 0; break;
        case 'R': a->csv.regression = 1; break;
        case 'c':
            if (strcmp(optarg, "last") == 0) {
                a->csv.label_col = -1;
                break;
            }
            if (!nb_arg_long(a->cmd, "--label-col", optarg, 0, 1 << 20, &n)) return NB_EXIT_USAGE;
            a->csv.label_col = (int)n;
            break;
        case 'k':
            if (!nb_arg_long(a->cmd, "--targets", optarg, 1, 1 << 20, &n)) return NB_EXIT_USAGE;
            a->csv.targets = (int)n;
            break;
        case ':': return nb_cli_usage_error(a->cmd, "%s needs a value", argv[optind - 1]);
        default: return nb_cli_usage_error(a->cmd, "unknown option '%s' (see --help)", argv[optind - 1]);
        }
    }
    if (optind < argc) return nb_cli_usage_error(a->cmd, "unexpected argument '%s'", argv[optind]);
    if (!a->model) return nb_cli_usage_error(a->cmd, "--model is required");
    return 0;
}

/* Open the backend, load the model and the data, checking they fit. */
static int open_all(eval_args *a, nb_backend **be, nb_model **m, nb_dataset **d)
{
    int code = nb_cli_open_backend(a->cmd, a->device, be);
    if (code) return code;
    nb_status st = nb_model_load(*be, a->model, m);
    if (st != NB_OK) {
        fprintf(stderr, "nabla %s: --model: %s\n", a->cmd, nb_last_error());
        return nb_cli_exit_for(st);
    }
    int L = nb_model_layers(*m), classify = nb_model_loss(*m) == NB_LOSS_XENT;
    int out = nb_model_width(*m, L);
    if (a->features_first && a->csv.label_col == -1) {
        /* Rows of features alone, as new data comes; anything else is
         * loaded again below in the training layout, which reports it. */
        nb_csv_options fo;
        nb_csv_options_default(&fo);
        fo.header = a->csv.header;
        fo.max_line = a->csv.max_line;
        fo.features_only = 1;
        st = a->data ? nb_dataset_load_csv(a->data, &fo, d) : NB_ERR_ARG;
        int cols = st == NB_OK ? nb_dataset_inputs(*d) : 0, in = nb_model_width(*m, 0);
        int train_cols = in + (a->csv.targets > 0 ? a->csv.targets : 1);
        if (cols == in) return 0;
        nb_dataset_free(*d);
        *d = NULL;
        if (cols && cols != train_cols)
            return nb_cli_usage_error(a->cmd, "%s: rows of %d columns; the model takes %d inputs, "
                                              "so rows need %d (features) or %d (training layout)",
                                      a->data, cols, in, in, train_cols);
    }
    if (!a->csv.regression && a->csv.targets == 0) a->csv.classes = out;
    st = a->data ? nb_dataset_load_csv(a->data, &a->csv, d)
                 : nb_dataset_load_csv_mem("digits.csv (bundled)", nb_embedded_digits_csv,
                                           nb_embedded_digits_csv_size, &a->csv, d);
    if (st != NB_OK) {
        fprintf(stderr, "nabla %s: %s\n", a->cmd, nb_last_error());
        return nb_cli_exit_for(st);
    }
    (void)classify;
    if (nb_dataset_inputs(*d) != nb_model_width(*m, 0) || nb_dataset_outputs(*d) != out)
        return nb_cli_usage_error(a->cmd, "the model takes %d inputs and gives %d outputs; the data "
                                          "has %d and %d", nb_model_width(*m, 0), out,
                                  nb_dataset_inputs(*d), nb_dataset_outputs(*d));
    return 0;
}

static void print_report(const eval_args *a, const nb_dataset *d, double loss, double acc,
                         const uint64_t *cm, int k)
{
    size_t rows = nb_dataset_rows(d);
    if (a->json) {
        printf("{\"rows\":%zu,\"loss\":%.9g", rows, loss);
        if (cm) {
            printf(",\"accuracy\":%.9g,\"classes\":[", acc);
            for (int i = 0; i < k; i++) {
                uint64_t tp = cm[i * k + i], pred = 0, support = 0;
                for (int j = 0; j < k; j++) pred += cm[j * k + i], support += cm[i * k + j];
                printf("%s{\"class\":%d,\"support\":%llu,\"precision\":", i ? "," : "", i,
                       (unsigned long long)support);
                if (pred) printf("%.9g", (double)tp / (double)pred); else printf("null");
                printf(",\"recall\":");
                if (support) printf("%.9g}", (double)tp / (double)support); else printf("null}");
            }
            printf("],\"confusion\":[");
            for (int i = 0; i < k; i++) {
                printf("%s[", i ? "," : "");
                for (int j = 0; j < k; j++) printf("%s%llu", j ? "," : "", (unsigned long long)cm[i * k + j]);
                printf("]");
            }
            printf("]");
        }
        printf("}\n");
        return;
    }
    printf("rows %zu  loss %.6g", rows, loss);
    if (!cm) {
        printf("\n");
        return;
    }
    printf("  accuracy %.2f%%\n\nclass  support  precision  recall\n", 100.0 * acc);
    for (int i = 0; i < k; i++) {
        uint64_t tp = cm[i * k + i], pred = 0, support = 0;
        for (int j = 0; j < k; j++) pred += cm[j * k + i], support += cm[i * k + j];
        printf("%5d  %7llu  ", i, (unsigned long long)support);
        if (pred) printf("%8.2f%%  ", 100.0 * (double)tp / (double)pred); else printf("%9s  ", "-");
        if (support) printf("%5.2f%%\n", 100.0 * (double)tp / (double)support); else printf("%6s\n", "-");
    }
    printf("\nconfusion (rows: true class, columns: predicted)\n      ");
    for (int j = 0; j < k; j++) printf(" %6d", j);
    printf("\n");
    for (int i = 0; i < k; i++) {
        printf("%5d ", i);
        for (int j = 0; j < k; j++) printf(" %6llu", (unsigned long long)cm[i * k + j]);
        printf("\n");
    }
}

int nb_cmd_eval(int argc, char **argv)
{
    eval_args a = {.cmd = "eval"};
    nb_csv_options_default(&a.csv);
    a.device = getenv("NABLA_DEVICE");
    if (a.device && !*a.device) a.device = NULL;
    int code = parse(argc, argv, &a, eval_help);
    if (code) return code < 0 ? NB_EXIT_OK : code;
    nb_backend *be = NULL;
    nb_model *m = NULL;
    nb_dataset *d = NULL;
    uint64_t *cm = NULL;
    if ((code = open_all(&a, &be, &m, &d)) != 0) goto done;
    double loss = NAN, acc = NAN;
    int k = nb_dataset_classes(d);
    nb_status st = nb_model_evaluate(m, d, &loss, &acc);
    if (st == NB_OK && k > 0) {
        cm = calloc((size_t)k * (size_t)k, sizeof *cm);
        st = cm ? nb_model_confusion(m, d, cm) : NB_ERR_NOMEM;
    }
    if (st != NB_OK) {
        fprintf(stderr, "nabla eval: %s\n", nb_last_error());
        code = nb_cli_exit_for(st);
        goto done;
    }
    print_report(&a, d, loss, acc, cm, k);
done:
    free(cm);
    nb_dataset_free(d);
    nb_model_free(m);
    nb_backend_free(be);
    return code;
}

/* Write the outputs (and argmax labels) of every row of d as CSV. */
static int write_predictions(const eval_args *a, nb_model *m, const nb_dataset *d)
{
    enum { CHUNK = 1024 };
    size_t rows = nb_dataset_rows(d), in = (size_t)nb_dataset_inputs(d);
    size_t k = (size_t)nb_model_width(m, nb_model_layers(m));
    /* Features alone say nothing of the task: more than one output is
     * taken for classes unless the flags said regression. */
    int classify = nb_dataset_outputs(d) == 0
                       ? k > 1 && !a->csv.regression && a->csv.targets == 0
                       : nb_dataset_classes(d) > 0;
    FILE *f = strcmp(a->out, "-") == 0 ? stdout : fopen(a->out, "w");
    if (!f) return nb_cli_usage_error("predict", "--out: cannot open '%s' for writing", a->out);
    float *y = malloc(CHUNK * k * sizeof *y);
    nb_status st = y ? NB_OK : NB_ERR_NOMEM;
    for (size_t j = 0; j < k; j++) fprintf(f, "%sy%zu", j ? "," : "", j);
    fprintf(f, classify ? ",label\n" : "\n");
    for (size_t r = 0; r < rows && st == NB_OK; r += CHUNK) {
        size_t n = rows - r < CHUNK ? rows - r : CHUNK;
        st = nb_model_predict(m, n, nb_dataset_x(d) + r * in, y);
        for (size_t i = 0; st == NB_OK && i < n; i++) {
            size_t best = 0;
            for (size_t j = 0; j < k; j++) {
                fprintf(f, "%s%.9g", j ? "," : "", (double)y[i * k + j]);
                if (y[i * k + j] > y[i * k + best]) best = j;
            }
            if (classify) fprintf(f, ",%zu", best);
            fputc('\n', f);
        }
    }
    free(y);
    int bad = ferror(f);
    if (f != stdout && fclose(f) != 0) bad = 1;
    if (st != NB_OK) {
        fprintf(stderr, "nabla predict: %s\n", y ? nb_last_error() : "out of memory");
        return nb_cli_exit_for(st);
    }
    if (bad) {
        fprintf(stderr, "nabla predict: --out: writing '%s' failed\n", a->out);
        return NB_EXIT_FAIL;
    }
    return NB_EXIT_OK;
}

int nb_cmd_predict(int argc, char **argv)
{
    eval_args a = {.cmd = "predict", .features_first = 1};
    nb_csv_options_default(&a.csv);
    a.device = getenv("NABLA_DEVICE");
    if (a.device && !*a.device) a.device = NULL;
    int code = parse(argc, argv, &a, predict_help);
    if (code) return code < 0 ? NB_EXIT_OK : code;
    if (!a.out) return nb_cli_usage_error("predict", "--out is required ('-' for stdout)");
    nb_backend *be = NULL;
    nb_model *m = NULL;
    nb_dataset *d = NULL;
    if ((code = open_all(&a, &be, &m, &d)) == 0) code = write_predictions(&a, m, d);
    nb_dataset_free(d);
    nb_model_free(m);
    nb_backend_free(be);
    return code;
}
