/*
 * cmd_train.c — `nabla train`: load a CSV (or the bundled digits), split
 * off validation rows, build the model, train it and report each epoch.
 */
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/profile.h"
#include "cli/sched_args.h"
#include "cli/train_report.h"
#include "nabla.h"

/* The bundled UCI digits (data/digits.csv), embedded at build time. */
extern const unsigned char nb_embedded_digits_csv[];
extern const unsigned long nb_embedded_digits_csv_size;

enum { MAX_LAYERS = 64 };

static const char train_help[] =
    "usage: nabla train [options]\n"
    "\n"
    "Train a multilayer perceptron by gradient descent. With no options it\n"
    "trains 64-32-10 (sigmoid, MSE) on the bundled 8x8 digits.\n"
    "\n"
    "Data\n"
    "  --data FILE.csv     comma-separated numbers (default: bundled digits)\n"
    "  --labels FILE       IDX label file (MNIST format, optionally .gz); --data is\n"
    "                      then the IDX image file, pixels scaled to [0, 1]\n"
    "  --header            the first row is a header\n"
    "  --no-header         the first row is data (default: detect)\n"
    "  --label-col N       0-based label column, or 'last' (default: last)\n"
    "  --regression        the label column is a real-valued target\n"
    "  --targets K         the last K columns are real-valued targets\n"
    "  --standardize       scale features to mean 0, std 1 (statistics from the\n"
    "                      training rows, kept with the model)\n"
    "  --val F             fraction of rows held out for validation, 0 <= F < 1\n"
    "                      (default 0.2; 0: none)\n"
    "\n"
    "Model\n"
    "  --layers W0,W1,...  widths from input to output (default: inputs,32,outputs)\n"
    "  --act A[,A...]      sigmoid|tanh|relu|identity, one for all layers or one\n"
    "                      per layer (default: sigmoid)\n"
    "  --loss mse|xent     mean squared error (default) or softmax cross-entropy;\n"
    "                      xent makes the output layer a softmax\n"
    "\n"
    "Descent\n"
    "  --batch B|full      rows per step, or full-batch gradient descent (default 32)\n"
    "  --seed S            seed for initialisation, split and shuffling (default 1)\n"
    "  --device D          auto (default: an OpenCL GPU, else any OpenCL device,\n"
    "                      else cpu), cpu, opencl, or opencl:P.D from\n"
    "                      'nabla devices'; also set by NABLA_DEVICE\n"
    "\n"
    "%s"
    "Checkpoints\n"
    "  --save FILE         write a training checkpoint (safetensors; atomic) at the\n"
    "                      end and every --save-every epochs\n"
    "  --save-every N      epochs between checkpoints (default 1)\n"
    "  --resume FILE       continue the run saved in FILE: its architecture,\n"
    "                      parameters, standardisation, optimizer state and progress;\n"
    "                      the epoch and update budgets count from the first start\n"
    "\n"
    "Output\n"
    "  --print-every N     print every N epochs (default: 1, or about 20 lines\n"
    "                      in full-batch mode)\n"
    "  --measure-grad      also measure the gradient norm at printed mini-batch\n"
    "                      epochs (one extra pass each)\n"
    "  --profile           print time per op (kernels, transfers) after training\n"
    "  --plot FILE.svg     draw training and validation loss (and accuracy) per epoch\n"
    "  --plot-log          ... with the loss on a log scale\n"
    "  --log FILE.jsonl    one JSON object per epoch: epoch, loss, val_loss, val_acc,\n"
    "                      grad_norm, lr, seconds (null when not measured)\n"
    "  -h, --help          this help\n"
    "\n"
    "Exit status: 0 trained, 1 training failed (e.g. the loss became NaN),\n"
    "2 bad arguments or data, 3 the requested device failed.\n";

typedef struct train_args {
    const char *data, *log, *device;
    const char *labels; /* --labels: IDX label file; --data is then IDX images */
    nb_csv_options csv;
    int widths[MAX_LAYERS + 1], n_widths;
    nb_act acts[MAX_LAYERS];
    int n_acts;
    nb_loss loss;
    double val;
    int standardize;
    long print_every;
    int epochs_set;
    int profile;
    const char *plot; /* --plot FILE.svg */
    int plot_log;
    nb_train_options opt;
} train_args;


static const struct option long_opts[] = {
    {"data", required_argument, 0, 'd'},     {"header", no_argument, 0, 'H'},
    {"no-header", no_argument, 0, 'N'},      {"label-col", required_argument, 0, 'c'},
    {"regression", no_argument, 0, 'R'},     {"targets", required_argument, 0, 'k'},
    {"standardize", no_argument, 0, 'z'},    {"val", required_argument, 0, 'v'},
    {"layers", required_argument, 0, 'L'},   {"act", required_argument, 0, 'a'},
    {"loss", required_argument, 0, 'l'},     {"batch", required_argument, 0, 'b'},
    {"seed", required_argument, 0, 's'},
    {"device", required_argument, 0, 'D'},   {"print-every", required_argument, 0, 'p'},
    {"log", required_argument, 0, 'o'},      {"measure-grad", no_argument, 0, 'm'},
    {"profile", no_argument, 0, 'P'},        {"labels", required_argument, 0, 'B'},
    {"save", required_argument, 0, 'S'},     {"save-every", required_argument, 0, 'E'},
    {"resume", required_argument, 0, 'U'},
    {"plot", required_argument, 0, 'G'},     {"plot-log", no_argument, 0, 'Q'},
    {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};

/* Parse one option; returns 1 to go on, 0 after printing an error. */
static int parse_opt(int c, const char *v, train_args *a)
{
    const char *cmd = "train";
    long n;
    if (nb_sched_is_opt(c)) return nb_sched_parse(cmd, c, v, &a->opt.schedule, &a->epochs_set);
    switch (c) {
    case 'd': a->data = v; return 1;
    case 'H': a->csv.header = 1; return 1;
    case 'N': a->csv.header = 0; return 1;
    case 'c':
        if (strcmp(v, "last") == 0) return a->csv.label_col = -1, 1;
        if (!nb_arg_long(cmd, "--label-col", v, 0, 1 << 20, &n)) return 0;
        a->csv.label_col = (int)n;
        return 1;
    case 'R': a->csv.regression = 1; return 1;
    case 'k':
        if (!nb_arg_long(cmd, "--targets", v, 1, 1 << 20, &n)) return 0;
        a->csv.targets = (int)n;
        return 1;
    case 'z': a->standardize = 1; return 1;
    case 'v': return nb_arg_double(cmd, "--val", v, 0.0, 1.0, 0, 1, &a->val);
    case 'L': return nb_arg_widths(cmd, "--layers", v, a->widths, MAX_LAYERS + 1, &a->n_widths);
    case 'a': return nb_arg_acts(cmd, "--act", v, a->acts, MAX_LAYERS, &a->n_acts);
    case 'l':
        if (nb_loss_parse(v, &a->loss) == NB_OK) return 1;
        nb_cli_usage_error(cmd, "--loss: unknown loss '%s' (mse, xent)", v);
        return 0;
    case 'b':
        if (strcmp(v, "full") == 0) return a->opt.batch = 0, 1;
        if (!nb_arg_long(cmd, "--batch", v, 1, 1 << 24, &n)) return 0;
        a->opt.batch = (size_t)n;
        return 1;
    case 's': return nb_arg_u64(cmd, "--seed", v, &a->opt.seed);
    case 'D': a->device = v; return 1;
    case 'p': return nb_arg_long(cmd, "--print-every", v, 1, 1000000000L, &a->print_every);
    case 'o': a->log = v; return 1;
    case 'm': a->opt.measure_grad = 1; return 1;
    case 'P': a->profile = 1; return 1;
    case 'B': a->labels = v; return 1;
    case 'S': a->opt.save = v; return 1;
    case 'E': return nb_arg_long(cmd, "--save-every", v, 1, 1000000000L, &a->opt.save_every);
    case 'U': a->opt.resume = v; return 1;
    case 'G': a->plot = v; return 1;
    case 'Q': a->plot_log = 1; return 1;
    }
    return 0;
}

/* Widths and activations from the flags and the data; 0 after an error. */
static int build_arch(train_args *a, const nb_dataset *d)
{
    int in = nb_dataset_inputs(d), out = nb_dataset_outputs(d);
    if (a->n_widths == 0) {
        a->widths[0] = in, a->widths[1] = 32, a->widths[2] = out;
        a->n_widths = 3;
    } else if (a->widths[0] != in || a->widths[a->n_widths - 1] != out) {
        nb_cli_usage_error("train", "--layers: %d,...,%d does not match the data's %d inputs and %d "
                                    "outputs", a->widths[0], a->widths[a->n_widths - 1], in, out);
        return 0;
    }
    int L = a->n_widths - 1;
    if (a->n_acts == 0) a->acts[0] = NB_ACT_SIGMOID, a->n_acts = 1;
    if (a->n_acts != 1 && a->n_acts != L) {
        nb_cli_usage_error("train", "--act: give one activation or %d (one per layer), not %d", L,
                           a->n_acts);
        return 0;
    }
    for (int l = 0; l < L; l++) {
        a->acts[l] = a->acts[a->n_acts == 1 ? 0 : l];
        if (a->acts[l] == NB_ACT_SOFTMAX) {
            nb_cli_usage_error("train", "--act: softmax comes with --loss xent, not --act");
            return 0;
        }
    }
    if (a->loss == NB_LOSS_XENT) a->acts[L - 1] = NB_ACT_SOFTMAX;
    return 1;
}

/* --resume: take the checkpoint's architecture; flags that name another
 * one, or data of another shape, are an error. */
static int adopt_arch(train_args *a, const nb_model *m, const nb_dataset *d)
{
    int L = nb_model_layers(m);
    if (a->n_widths > 0 && a->n_widths != L + 1)
        return nb_cli_usage_error("train", "--layers: the checkpoint has %d layers", L), 0;
    for (int i = 0; i <= L; i++) {
        if (a->n_widths > 0 && a->widths[i] != nb_model_width(m, i))
            return nb_cli_usage_error("train", "--layers: the checkpoint's widths differ"), 0;
        a->widths[i] = nb_model_width(m, i);
    }
    a->n_widths = L + 1;
    for (int l = 0; l < L; l++) a->acts[l] = nb_model_act(m, l);
    a->n_acts = L;
    a->loss = nb_model_loss(m);
    if (nb_dataset_inputs(d) != a->widths[0] || nb_dataset_outputs(d) != a->widths[L])
        return nb_cli_usage_error("train", "--resume: the checkpoint takes %d inputs and %d "
                                           "outputs, the data has %d and %d", a->widths[0],
                                  a->widths[L], nb_dataset_inputs(d), nb_dataset_outputs(d)), 0;
    return 1;
}

static int fail(nb_status s)
{
    fprintf(stderr, "nabla train: %s\n", nb_last_error());
    return nb_cli_exit_for(s);
}

/* Load the data (file or bundled) and split off the validation rows. */
static nb_status load_data(train_args *a, nb_dataset **train, nb_dataset **val)
{
    nb_dataset *all = NULL;
    nb_status st;
    /* Labels beyond the output width are errors at their file position. */
    if (a->n_widths > 0 && !a->csv.regression && a->csv.targets == 0)
        a->csv.classes = a->widths[a->n_widths - 1];
    if (a->labels) /* IDX (MNIST format): images in --data, labels here */
        st = nb_dataset_load_idx(a->data, a->labels, a->csv.classes, &all);
    else if (a->data)
        st = nb_dataset_load_csv(a->data, &a->csv, &all);
    else
        st = nb_dataset_load_csv_mem("digits.csv (bundled)", nb_embedded_digits_csv,
                                     nb_embedded_digits_csv_size, &a->csv, &all);
    if (st != NB_OK) return st;
    if (a->val > 0.0) {
        st = nb_dataset_split(all, a->val, a->opt.seed, train, val);
        nb_dataset_free(all);
        return st;
    }
    *train = all;
    *val = NULL;
    return NB_OK;
}

static void print_header(const train_args *a, const nb_dataset *tr, const nb_dataset *va,
                         const nb_backend *be)
{
    printf("nabla: %s, ", a->data ? a->data : "bundled digits");
    for (int i = 0; i < a->n_widths; i++) printf("%d%s", a->widths[i], i + 1 < a->n_widths ? "-" : "");
    printf(" %s/%s, %zu train + %zu val rows, ", nb_act_name(a->acts[0]), nb_loss_name(a->loss),
           nb_dataset_rows(tr), va ? nb_dataset_rows(va) : (size_t)0);
    if (a->opt.batch == 0 || a->opt.batch >= nb_dataset_rows(tr))
        printf("full batch");
    else
        printf("batch %zu", a->opt.batch);
    const nb_schedule *sc = &a->opt.schedule;
    printf(", %s, lr %g%s%s, seed %llu, device %s\n", nb_optim_name(sc->optim), sc->lr,
           sc->lr_kind != NB_LR_CONSTANT ? " " : "",
           sc->lr_kind != NB_LR_CONSTANT ? nb_lr_kind_name(sc->lr_kind) : "",
           (unsigned long long)a->opt.seed, nb_backend_name(be));
    if (sc->line_search) printf("line search: Armijo c = %g, from alpha = %g\n", sc->armijo_c, sc->lr);
}

static int run(train_args *a)
{
    nb_dataset *tr = NULL, *va = NULL;
    nb_backend *be = NULL;
    nb_model *m = NULL;
    FILE *log = NULL;
    int code = NB_EXIT_FAIL;
    nb_status st;
    float *mean = NULL, *std = NULL;
    nb_report rep;
    memset(&rep, 0, sizeof rep);
    if ((st = load_data(a, &tr, &va)) != NB_OK) return fail(st);
    if ((code = nb_cli_open_backend("train", a->device, &be)) != 0) goto done;
    code = NB_EXIT_USAGE;
    if (a->opt.resume) { /* the architecture comes from the checkpoint */
        if ((st = nb_model_load(be, a->opt.resume, &m)) != NB_OK) goto fail_st;
        if (!adopt_arch(a, m, tr)) goto done;
    } else {
        if (!build_arch(a, tr)) goto done;
        st = nb_model_create(be, a->n_widths - 1, a->widths, a->acts, a->loss, a->opt.seed, &m);
        if (st != NB_OK) goto fail_st;
    }
    code = NB_EXIT_FAIL;
    if (a->standardize && !a->opt.resume) {
        size_t n = (size_t)nb_dataset_inputs(tr);
        mean = malloc(n * sizeof *mean);
        std = malloc(n * sizeof *std);
        if (!mean || !std) {
            fprintf(stderr, "nabla train: out of memory\n");
            goto done;
        }
        if ((st = nb_dataset_feature_stats(tr, mean, std)) != NB_OK ||
            (st = nb_model_set_standardization(m, mean, std)) != NB_OK)
            goto fail_st;
    }
    if (a->log && !(log = fopen(a->log, "w"))) {
        fprintf(stderr, "nabla train: --log: cannot open '%s' for writing\n", a->log);
        code = NB_EXIT_USAGE;
        goto done;
    }
    bool full = a->opt.batch == 0 || a->opt.batch >= nb_dataset_rows(tr);
    if (a->print_every == 0) {
        long limit = a->opt.schedule.max_epochs ? a->opt.schedule.max_epochs
                                                : a->opt.schedule.max_iters;
        a->print_every = full ? (limit > 0 ? (limit + 19) / 20 : 100) : 1;
    }
    rep.log = log;
    rep.print_every = a->print_every;
    rep.max_epochs = a->opt.schedule.max_epochs;
    rep.rows = nb_dataset_rows(tr);
    rep.classify = nb_dataset_classes(tr) > 0;
    rep.bar = !full && isatty(fileno(stdout));
    rep.keep_history = a->plot != NULL;
    a->opt.on_epoch = nb_report_epoch;
    a->opt.on_batch = nb_report_batch;
    a->opt.user = &rep;
    a->opt.report_every = (log || a->plot) ? 1 : a->print_every;
    print_header(a, tr, va, be);
    nb_result res;
    if (a->profile && (st = nb_backend_profile_enable(be, 1)) != NB_OK) goto fail_st;
    st = nb_train(m, tr, va, &a->opt, &res);
    nb_report_clear_bar(&rep);
    if (a->plot && rep.n > 0 && nb_report_plot(&rep, a->plot, a->plot_log, a->data ? a->data : "bundled digits") != 0)
        code = NB_EXIT_USAGE; /* the message is out; training's own result still follows */
    if (st == NB_ERR_NONFINITE || st == NB_ERR_DIVERGED) {
        /* The library put the last good parameters back; say so and fail. */
        printf("stopped: %s; the last good parameters were restored\n", res.why);
        code = NB_EXIT_FAIL;
        goto done;
    }
    if (st != NB_OK) goto fail_st;
    printf("stopped: %s\n", res.why);
    printf("final: loss %.6g", res.loss);
    if (va) printf("  val_loss %.6g", res.val_loss);
    if (va && nb_dataset_classes(va) > 0) printf("  val_acc %.2f%%", 100.0 * res.val_acc);
    printf("  in %.2fs\n", res.seconds);
    if (a->profile) nb_cli_print_profile(stdout, be, res.seconds);
    if (a->plot && code != NB_EXIT_USAGE) printf("plot: %s\n", a->plot);
    code = code == NB_EXIT_USAGE ? NB_EXIT_FAIL : NB_EXIT_OK;
    goto done;
fail_st:
    code = fail(st);
done:
    if (log && fclose(log) != 0 && code == NB_EXIT_OK) {
        fprintf(stderr, "nabla train: --log: write to '%s' failed\n", a->log);
        code = NB_EXIT_FAIL;
    }
    free(mean);
    free(std);
    nb_report_free(&rep);
    nb_model_free(m);
    nb_backend_free(be);
    nb_dataset_free(tr);
    nb_dataset_free(va);
    return code;
}

int nb_cmd_train(int argc, char **argv)
{
    train_args a;
    memset(&a, 0, sizeof a);
    nb_csv_options_default(&a.csv);
    nb_train_options_default(&a.opt);
    a.val = 0.2;
    a.device = getenv("NABLA_DEVICE");
    if (a.device && !*a.device) a.device = NULL; /* empty means unset: auto */
    a.loss = NB_LOSS_MSE;
    int c;
    struct option opts[96];
    if (!nb_sched_merge_options(long_opts, (int)(sizeof long_opts / sizeof *long_opts) - 1, opts, 96))
        return nb_cli_usage_error("train", "internal: too many options");
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'h') return printf(train_help, nb_sched_help), NB_EXIT_OK;
        if (c == '?') return nb_cli_usage_error("train", "unknown option '%s' (see --help)", argv[optind - 1]);
        if (c == ':') return nb_cli_usage_error("train", "%s needs a value", argv[optind - 1]);
        if (!parse_opt(c, optarg, &a)) return NB_EXIT_USAGE;
    }
    if (optind < argc) return nb_cli_usage_error("train", "unexpected argument '%s'", argv[optind]);
    /* An explicit iteration or time budget replaces the default epoch budget. */
    if ((a.opt.schedule.max_iters > 0 || a.opt.schedule.time_limit > 0) && !a.epochs_set)
        a.opt.schedule.max_epochs = 0;
    if (a.labels && !a.data)
        return nb_cli_usage_error("train", "--labels needs --data with the IDX image file");
    if (a.csv.targets > 0 && a.csv.label_col != -1)
        return nb_cli_usage_error("train", "--targets takes the last K columns; drop --label-col");
    if (a.csv.targets > 0 || a.csv.regression) {
        if (a.loss == NB_LOSS_XENT)
            return nb_cli_usage_error("train", "--loss xent needs class labels, not --regression/--targets");
    }
    return run(&a);
}
