/*
 * cmd_eval.c — `nabla eval` (loss, accuracy, per-class precision and
 * recall, confusion matrix; optionally as JSON) and `nabla predict`
 * (outputs, plus the argmax label for classifiers, as CSV) for a saved
 * model. The model's own standardisation is applied, never recomputed.
 * Under --device auto a device that fails does not end the command: it
 * says so in one line and reruns the failed work on the cpu.
 */
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/args.h"
#include "cli/backend_opts.h"
#include "cli/commands.h"
#include "cli/data_args.h"
#include "cli/profile.h"
#include "cli/run_record.h"
#include "nabla.h"

typedef struct eval_args {
    const char *cmd, *model, *out, *device;
    nb_data_args data;
    int json;
    int features_first; /* predict: try rows of features alone first */
    char data_path[4096], labels_path[4096]; /* from the model's run record */
    char rows_note[512]; /* which rows eval used, when it chose them itself */
} eval_args;

static const char eval_help[] =
    "usage: nabla eval --model FILE [--data FILE.csv] [options]\n"
    "\n"
    "Evaluate a saved model (from nabla train --save, or nb_model_save): the\n"
    "loss and, for classifiers, the accuracy, per-class precision and recall,\n"
    "and the confusion matrix (rows: true class, columns: predicted).\n"
    "Without --data, a training checkpoint is evaluated on the rows its run\n"
    "held out for validation (same data, split and seed); a model file with no\n"
    "such record on all of the bundled digits. Either way a line says which.\n"
    "\n"
    "  --model FILE        the model or training checkpoint (required)\n"
    "%s"
    "  --json              print one JSON object instead of tables\n"
    "  --device D          auto, cpu, opencl or opencl:P.D (default auto)\n"
    "  --verbose           error messages name nabla's source location too\n"
    "  -h, --help          this help\n"
    "\n"
    "Exit status: 0 done, 1 failed (e.g. a non-finite loss), 2 bad arguments or\n"
    "data, 3 device failure.\n";

static const char predict_help[] =
    "usage: nabla predict --model FILE --data FILE.csv --out FILE.csv [options]\n"
    "\n"
    "Write the model's outputs for every row of the data, one CSV row each\n"
    "(columns y0, y1, ...), plus the predicted class (the argmax; its name when\n"
    "the model was trained on named classes) for classifiers. When the rows\n"
    "have as many columns as the model has inputs, every column is a feature;\n"
    "otherwise the data has the training layout and its label or target\n"
    "columns are read and ignored. Features alone get the class column when\n"
    "the model has more than one output, unless --regression or --targets\n"
    "says it is a regression model.\n"
    "\n"
    "  --model FILE        the model or training checkpoint (required)\n"
    "  --out FILE.csv      where to write (required; '-' for stdout)\n"
    "%s"
    "  --device D          auto, cpu, opencl or opencl:P.D (default auto)\n"
    "  --verbose           error messages name nabla's source location too\n"
    "  -h, --help          this help\n"
    "\n"
    "Exit status: 0 done, 1 failed (e.g. a non-finite output), 2 bad arguments\n"
    "or data, 3 device failure.\n";

static int parse(int argc, char **argv, eval_args *a, const char *help)
{
    static const struct option own[] = {
        {"model", required_argument, 0, 'm'}, {"out", required_argument, 0, 'o'},
        {"json", no_argument, 0, 'j'},        {"device", required_argument, 0, 'D'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    struct option opts[64];
    const struct option *const tables[] = {own, nb_data_options};
    if (!nb_cli_options(opts, 64, tables, 2)) return nb_cli_usage_error(a->cmd, "internal: too many options");
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (nb_data_is_opt(c)) {
            if (!nb_data_parse(a->cmd, c, optarg, &a->data)) return NB_EXIT_USAGE;
            continue;
        }
        switch (c) {
        case 'h': printf(help, nb_data_help); return -1;
        case 'm': a->model = optarg; break;
        case 'o': a->out = optarg; break;
        case 'j': a->json = 1; break;
        case 'D': a->device = optarg; break;
        case ':': return nb_cli_usage_error(a->cmd, "%s needs a value", argv[optind - 1]);
        default: return nb_cli_usage_error(a->cmd, "unknown option '%s' (see --help)", argv[optind - 1]);
        }
    }
    if (optind < argc) return nb_cli_usage_error(a->cmd, "unexpected argument '%s'", argv[optind]);
    if (!a->model) return nb_cli_usage_error(a->cmd, "--model is required");
    if (!nb_data_check(a->cmd, &a->data)) return NB_EXIT_USAGE;
    return 0;
}

/*
 * eval without --data: the rows the model's run held out, when the model
 * is a checkpoint that records its data settings; *split gets the run's
 * validation fraction and seed (fraction 0: all rows). Otherwise all rows
 * of the bundled digits, and the note says training rows may be among them.
 */
static int choose_rows(eval_args *a, double *val, uint64_t *seed)
{
    *val = 0.0;
    nb_checkpoint_info *info = malloc(sizeof *info);
    nb_run_record r;
    memset(&r, 0, sizeof r);
    int found = -1;
    if (info && nb_checkpoint_read_info(a->model, info) == NB_OK && info->has_run)
        found = nb_run_record_parse(info->record, &r);
    uint64_t run_seed = info ? info->seed : 0;
    free(info);
    if (found < 0 || !(found & NB_REC_DATA) || !(found & NB_REC_VAL)) {
        snprintf(a->rows_note, sizeof a->rows_note, "all rows of the bundled digits; the model's "
                 "file does not say which rows trained it, so they may be among them");
        return 0;
    }
    if (r.has_data && strcmp(r.data, "-") == 0)
        return nb_cli_usage_error(a->cmd, "the run of %s read standard input: give --data",
                                  a->model);
    nb_data_args *d = &a->data;
    if (r.has_data) memcpy(a->data_path, r.data, sizeof a->data_path), d->data = a->data_path;
    if (r.has_labels) memcpy(a->labels_path, r.labels, sizeof a->labels_path), d->labels = a->labels_path;
    if (found & NB_REC_HEADER) d->csv.header = r.csv.header;
    if (found & NB_REC_LABEL_COL) d->csv.label_col = r.csv.label_col;
    if (found & NB_REC_REGRESSION) d->csv.regression = r.csv.regression;
    if (found & NB_REC_TARGETS) d->csv.targets = r.csv.targets;
    if (found & NB_REC_DELIMITER) d->csv.delimiter = r.csv.delimiter;
    *val = r.val, *seed = run_seed;
    if (r.val > 0)
        snprintf(a->rows_note, sizeof a->rows_note, "the rows of %s its run held out for validation "
                 "(--val %g, seed %llu)", nb_data_name(d), r.val, (unsigned long long)run_seed);
    else
        snprintf(a->rows_note, sizeof a->rows_note, "all rows of %s, which its run trained on "
                 "(--val 0)", nb_data_name(d));
    return 0;
}

/* The data, read with the model's class names when it has them. */
static int load_data(eval_args *a, const nb_model *m, nb_csv_options *csv, nb_dataset **d)
{
    const char *names[256];
    int k = nb_model_width(m, nb_model_layers(m));
    if (!csv->features_only && !csv->regression && csv->targets == 0 && nb_model_class_name(m, 0) &&
        k <= 256) {
        for (int i = 0; i < k; i++) names[i] = nb_model_class_name(m, i);
        csv->class_names = names, csv->n_class_names = k;
    }
    int code = nb_data_load(a->cmd, &a->data, csv, d);
    csv->class_names = NULL, csv->n_class_names = 0;
    return code;
}

/*
 * Under auto, after a device failure st: say so in one line and load the
 * model again on the cpu. NB_OK when the caller should rerun what failed
 * there; otherwise the status to report (st itself when it was no device
 * failure under auto).
 */
static nb_status to_cpu(const eval_args *a, nb_status st, nb_backend **be, nb_model **m)
{
    if (st != NB_ERR_BACKEND || !nb_cli_device_is_auto(a->device) || !*be ||
        strncmp(nb_backend_name(*be), "cpu", 3) == 0)
        return st;
    fprintf(stderr, "nabla %s: the device failed (%s); rerunning on cpu\n", a->cmd,
            nb_cli_error());
    nb_model_free(*m);
    *m = NULL;
    nb_backend_free(*be);
    *be = NULL;
    if ((st = nb_cli_backend_create("cpu", be)) != NB_OK) return st;
    return nb_model_load(*be, a->model, m);
}

/* Open the backend, load the model and the data, checking they fit. */
static int open_all(eval_args *a, nb_backend **be, nb_model **m, nb_dataset **d)
{
    int code = nb_cli_open_backend(a->cmd, a->device, be);
    if (code) return code;
    nb_status st = nb_model_load(*be, a->model, m);
    if (st != NB_OK) st = to_cpu(a, st, be, m);
    if (st != NB_OK) {
        fprintf(stderr, "nabla %s: --model: %s\n", a->cmd, nb_cli_error());
        return nb_cli_exit_for(st);
    }
    int out = nb_model_width(*m, nb_model_layers(*m)), in = nb_model_width(*m, 0);
    double val = 0.0;
    uint64_t seed = 0;
    if (!a->data.data && !a->features_first && (code = choose_rows(a, &val, &seed)) != 0) return code;
    nb_csv_options csv = a->data.csv;
    if (a->features_first && csv.label_col == -1 && !a->data.labels) {
        /* Rows of features alone, as new data comes; anything else is
         * loaded again below in the training layout, which reports it. */
        nb_csv_options fo;
        nb_csv_options_default(&fo);
        fo.header = csv.header, fo.delimiter = csv.delimiter, fo.max_line = csv.max_line;
        fo.features_only = 1;
        int cols = 0, train_cols = in + (csv.targets > 0 ? csv.targets : 1);
        if (nb_data_try_load(&a->data, &fo, d) == NB_OK) {
            cols = nb_dataset_inputs(*d);
            if (cols == in) return nb_data_note_header(a->cmd, &a->data, &fo, *d), 0;
        }
        nb_dataset_free(*d);
        *d = NULL;
        if (cols && cols != train_cols)
            return nb_cli_usage_error(a->cmd, "%s: rows of %d columns; the model takes %d inputs, "
                                              "so rows need %d (features) or %d (training layout)",
                                      nb_data_name(&a->data), cols, in, in, train_cols);
    }
    if (!csv.regression && csv.targets == 0) csv.classes = out;
    if ((code = load_data(a, *m, &csv, d)) != 0) return code;
    if (nb_dataset_inputs(*d) != in || nb_dataset_outputs(*d) != out)
        return nb_cli_usage_error(a->cmd, "the model takes %d inputs and gives %d outputs; %s "
                                          "has %d and %d", in, out, nb_data_name(&a->data),
                                  nb_dataset_inputs(*d), nb_dataset_outputs(*d));
    if (val > 0.0) { /* the run's split, again: its validation part */
        nb_dataset *tr = NULL, *va = NULL;
        st = nb_dataset_split_views(*d, val, seed, &tr, &va);
        nb_dataset_free(*d);
        nb_dataset_free(tr);
        *d = va;
        if (st != NB_OK) return nb_cli_fail(a->cmd, st);
    }
    return 0;
}

/* A class's name for tables and JSON: the model's, or its number. */
static const char *class_label(const nb_model *m, int k, char *buf, size_t n)
{
    const char *name = nb_model_class_name(m, k);
    if (name) return name;
    snprintf(buf, n, "%d", k);
    return buf;
}

static void print_report(const eval_args *a, const nb_model *m, const nb_dataset *d, double loss,
                         double acc, const uint64_t *cm, int k)
{
    size_t rows = nb_dataset_rows(d);
    char buf[32];
    if (a->json) {
        json_t *o = json_pack("{s:I, s:f}", "rows", (json_int_t)rows, "loss", loss);
        if (cm) {
            json_t *classes = json_array(), *conf = json_array();
            json_object_set_new(o, "accuracy", json_real(acc));
            for (int i = 0; i < k; i++) {
                uint64_t tp = cm[i * k + i], pred = 0, support = 0;
                for (int j = 0; j < k; j++) pred += cm[j * k + i], support += cm[i * k + j];
                json_t *c = json_pack("{s:i, s:I}", "class", i, "support", (json_int_t)support);
                if (nb_model_class_name(m, i))
                    json_object_set_new(c, "name", json_string(nb_model_class_name(m, i)));
                json_object_set_new(c, "precision", pred ? json_real((double)tp / (double)pred) : json_null());
                json_object_set_new(c, "recall", support ? json_real((double)tp / (double)support) : json_null());
                json_array_append_new(classes, c);
                json_t *row = json_array();
                for (int j = 0; j < k; j++) json_array_append_new(row, json_integer((json_int_t)cm[i * k + j]));
                json_array_append_new(conf, row);
            }
            json_object_set_new(o, "classes", classes);
            json_object_set_new(o, "confusion", conf);
        }
        json_object_set_new(o, "data", json_string(nb_data_name(&a->data)));
        if (a->rows_note[0]) json_object_set_new(o, "rows_used", json_string(a->rows_note));
        char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
        printf("%s\n", text ? text : "{}");
        free(text);
        json_decref(o);
        return;
    }
    if (a->rows_note[0]) printf("evaluating %s\n", a->rows_note);
    printf("rows %zu  loss %.6g", rows, loss);
    if (!cm) {
        printf("\n");
        return;
    }
    /* The widest class label sets the first column. */
    int w = 5;
    for (int i = 0; i < k; i++) {
        int len = (int)strlen(class_label(m, i, buf, sizeof buf));
        w = len > w ? (len < 32 ? len : 32) : w;
    }
    printf("  accuracy %.2f%%\n\n%-*s  support  precision  recall\n", 100.0 * acc, w, "class");
    for (int i = 0; i < k; i++) {
        uint64_t tp = cm[i * k + i], pred = 0, support = 0;
        for (int j = 0; j < k; j++) pred += cm[j * k + i], support += cm[i * k + j];
        printf("%*.*s  %7llu  ", w, w, class_label(m, i, buf, sizeof buf), (unsigned long long)support);
        if (pred) printf("%8.2f%%  ", 100.0 * (double)tp / (double)pred); else printf("%9s  ", "-");
        if (support) printf("%5.2f%%\n", 100.0 * (double)tp / (double)support); else printf("%6s\n", "-");
    }
    printf("\nconfusion (rows: true class, columns: predicted)\n%*s", w + 1, "");
    for (int j = 0; j < k; j++) printf(" %6.6s", class_label(m, j, buf, sizeof buf));
    printf("\n");
    for (int i = 0; i < k; i++) {
        printf("%*.*s ", w, w, class_label(m, i, buf, sizeof buf));
        for (int j = 0; j < k; j++) printf(" %6llu", (unsigned long long)cm[i * k + j]);
        printf("\n");
    }
}

static void init_args(eval_args *a, const char *cmd)
{
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    nb_data_args_init(&a->data);
    a->device = getenv("NABLA_DEVICE");
    if (a->device && !*a->device) a->device = NULL;
}

int nb_cmd_eval(int argc, char **argv)
{
    eval_args *a = malloc(sizeof *a);
    if (!a) return nb_cli_usage_error("eval", "out of memory");
    init_args(a, "eval");
    nb_backend *be = NULL;
    nb_model *m = NULL;
    nb_dataset *d = NULL;
    uint64_t *cm = NULL;
    int code = parse(argc, argv, a, eval_help);
    if (code) {
        code = code < 0 ? NB_EXIT_OK : code;
        goto done;
    }
    if ((code = open_all(a, &be, &m, &d)) != 0) goto done;
    double loss = NAN, acc = NAN;
    int k = nb_dataset_classes(d);
    nb_status st;
    for (;;) { /* twice at most: on the device, then on the cpu */
        st = nb_model_evaluate(m, d, &loss, &acc);
        if (st == NB_OK && k > 0) {
            if (!cm) cm = calloc((size_t)k * (size_t)k, sizeof *cm);
            st = cm ? nb_model_confusion(m, d, cm) : NB_ERR_NOMEM;
        }
        if (st != NB_ERR_BACKEND || (st = to_cpu(a, st, &be, &m)) != NB_OK) break;
    }
    if (st != NB_OK) {
        code = nb_cli_fail("eval", st);
        goto done;
    }
    print_report(a, m, d, loss, acc, cm, k);
done:
    free(cm);
    nb_dataset_free(d);
    nb_model_free(m);
    nb_backend_free(be);
    nb_data_args_free(&a->data);
    free(a);
    return code;
}

/* A class name as one CSV field: quoted when it holds a comma, a quote or
 * a line break (RFC 4180, "" for a quote). */
static void put_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",;\t\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* Write the outputs (and argmax labels) of every row of d as CSV. */
static int write_predictions(const eval_args *a, nb_backend **be, nb_model **mp,
                             const nb_dataset *d)
{
    nb_model *m = *mp;
    enum { CHUNK = 1024 };
    size_t rows = nb_dataset_rows(d), in = (size_t)nb_dataset_inputs(d);
    size_t k = (size_t)nb_model_width(m, nb_model_layers(m));
    /* Features alone say nothing of the task: more than one output is
     * taken for classes unless the flags said regression. */
    const nb_csv_options *csv = &a->data.csv;
    int classify = nb_dataset_outputs(d) == 0 ? k > 1 && !csv->regression && csv->targets == 0
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
        /* The rows before are written and good: this chunk goes again. */
        if (st == NB_ERR_BACKEND && (st = to_cpu(a, st, be, mp)) == NB_OK)
            st = nb_model_predict(m = *mp, n, nb_dataset_x(d) + r * in, y);
        for (size_t i = 0; st == NB_OK && i < n; i++) {
            size_t best = 0;
            for (size_t j = 0; j < k; j++) {
                fprintf(f, "%s%.9g", j ? "," : "", (double)y[i * k + j]);
                if (y[i * k + j] > y[i * k + best]) best = j;
            }
            if (classify) {
                const char *name = nb_model_class_name(m, (int)best);
                fputc(',', f);
                if (name) put_field(f, name); else fprintf(f, "%zu", best);
            }
            fputc('\n', f);
        }
    }
    free(y);
    int bad = ferror(f);
    if (f != stdout && fclose(f) != 0) bad = 1;
    if (st != NB_OK) {
        if (st == NB_ERR_NOMEM && !y) return nb_cli_usage_error("predict", "out of memory");
        fprintf(stderr, "nabla predict: %s; %s is incomplete\n", nb_cli_error(),
                f == stdout ? "the output" : a->out);
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
    eval_args *a = malloc(sizeof *a);
    if (!a) return nb_cli_usage_error("predict", "out of memory");
    init_args(a, "predict");
    a->features_first = 1;
    nb_backend *be = NULL;
    nb_model *m = NULL;
    nb_dataset *d = NULL;
    int code = parse(argc, argv, a, predict_help);
    if (code) {
        code = code < 0 ? NB_EXIT_OK : code;
    } else if (!a->out) {
        code = nb_cli_usage_error("predict", "--out is required ('-' for stdout)");
    } else if (strcmp(a->out, "-") != 0 && !nb_cli_check_output("predict", "--out", a->out)) {
        code = NB_EXIT_USAGE;
    } else if ((code = open_all(a, &be, &m, &d)) == 0) {
        code = write_predictions(a, &be, &m, d);
    }
    nb_dataset_free(d);
    nb_model_free(m);
    nb_backend_free(be);
    nb_data_args_free(&a->data);
    free(a);
    return code;
}
