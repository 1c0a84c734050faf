/*
 * cmd_train.c — `nabla train`: its flags, the checks that need no data,
 * and the order of the work. Everything a flag decides is refused here,
 * before any data is read, when it cannot work; train_resume.c takes a
 * resumed run's settings from its checkpoint and train_run.c trains.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/sched_args.h"
#include "cli/train_args.h"
#include "nabla.h"

static const char train_help[] =
    "usage: nabla train [options]\n"
    "\n"
    "Train a multilayer perceptron by gradient descent. With no options it\n"
    "trains 64-32-10 (sigmoid, MSE) on the bundled 8x8 digits.\n"
    "\n"
    "Data\n"
    "%s"
    "  --standardize       scale features to mean 0, std 1 (statistics from the\n"
    "                      training rows, kept with the model)\n"
    "  --val F             fraction of rows held out for validation, 0 <= F < 1\n"
    "                      (default 0.2; 0: none)\n"
    "\n"
    "Model\n"
    "  --layers W0,W1,...  widths from input to output (default: inputs,32,outputs);\n"
    "                      the output width must be the data's class or target count\n"
    "  --act A[,A...]      sigmoid|tanh|relu|identity, one for all layers or one\n"
    "                      per layer (default: sigmoid)\n"
    "  --loss mse|xent     mean squared error (default) or softmax cross-entropy;\n"
    "                      xent makes the output layer a softmax\n"
    "\n"
    "Descent\n"
    "  --batch B|full      rows per step, or full-batch gradient descent (default 32)\n"
    "  --seed S            seed for initialisation, split and shuffling (default 1)\n"
    "  --device D          auto (default: the first OpenCL GPU, else accelerator,\n"
    "                      else cpu; a CPU-type OpenCL device only when named),\n"
    "                      cpu, opencl, or opencl:P.D from 'nabla devices';\n"
    "                      also set by NABLA_DEVICE\n"
    "\n"
    "%s"
    "Checkpoints\n"
    "  --save FILE         write a training checkpoint (safetensors; atomic) at the\n"
    "                      end and every --save-every epochs; the path is checked\n"
    "                      and locked before training starts\n"
    "  --save-every N      epochs between checkpoints (default 1)\n"
    "  --resume FILE       continue the run saved in FILE: its architecture,\n"
    "                      parameters, standardisation, optimizer state, progress,\n"
    "                      and its settings (data, step size, batch, budgets, ...)\n"
    "                      except those given as flags, each override said in one\n"
    "                      line; flags that change the model or the split are\n"
    "                      refused. The budgets count from the first start.\n"
    "\n"
    "Output\n"
    "  --print-every N     print every N epochs (default: 1, or about 20 lines\n"
    "                      in full-batch mode)\n"
    "  --measure-grad      also measure the gradient norm at printed mini-batch\n"
    "                      epochs (one extra pass each)\n"
    "  --profile           print time per op (kernels, transfers) and the kernel\n"
    "                      launches after training\n"
    "  --plot FILE.svg     draw training and validation loss (and accuracy) per epoch\n"
    "  --plot-log          ... with the loss on a log scale\n"
    "  --log FILE.jsonl    one JSON object per epoch: epoch, loss, val_loss, val_acc,\n"
    "                      grad_norm, lr, seconds (null when not measured)\n"
    "  --verbose           error messages name nabla's source location too\n"
    "  -h, --help          this help\n"
    "\n"
    "Ctrl-C or SIGTERM ends the run after the update in progress: the checkpoint\n"
    "is saved (with --save), the log and plot are written, and the last lines\n"
    "say where it stopped.\n"
    "\n"
    "Under mpirun (mpirun -np K nabla train ..., a build with MPI), K processes\n"
    "train one model: each takes its share of the rows and the gradients are\n"
    "summed. Rank 0 alone prints and writes --log, --plot and --save; every rank\n"
    "reads --resume. Ranks that differ in model, data or options stop with one\n"
    "message (exit 2); a rank that fails ends the whole job, and the last\n"
    "checkpoint resumes with any number of ranks. A rank takes its own GPU when\n"
    "its node has one per rank, else the cpu with its share of the cores.\n"
    "\n"
    "Exit status: 0 trained, 1 training failed (the loss diverged, a save\n"
    "failed), 2 bad arguments or data, 3 the requested device failed (under\n"
    "auto a device that fails goes on on the cpu, saying so, and the log\n"
    "records it),\n"
    "130 interrupted (Ctrl-C), 143 terminated (SIGTERM).\n";

static const struct option own_opts[] = {
    {"standardize", no_argument, 0, NB_T_STANDARDIZE},
    {"val", required_argument, 0, NB_T_VAL},
    {"layers", required_argument, 0, NB_T_LAYERS},
    {"act", required_argument, 0, NB_T_ACT},
    {"loss", required_argument, 0, NB_T_LOSS},
    {"batch", required_argument, 0, NB_T_BATCH},
    {"seed", required_argument, 0, NB_T_SEED},
    {"device", required_argument, 0, NB_T_DEVICE},
    {"print-every", required_argument, 0, NB_T_PRINT_EVERY},
    {"log", required_argument, 0, NB_T_LOG},
    {"measure-grad", no_argument, 0, NB_T_MEASURE_GRAD},
    {"profile", no_argument, 0, NB_T_PROFILE},
    {"save", required_argument, 0, NB_T_SAVE},
    {"save-every", required_argument, 0, NB_T_SAVE_EVERY},
    {"resume", required_argument, 0, NB_T_RESUME},
    {"plot", required_argument, 0, NB_T_PLOT},
    {"plot-log", no_argument, 0, NB_T_PLOT_LOG},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0}};

const struct option *nb_train_options_table(void)
{
    static struct option all[128];
    if (!all[0].name) {
        const struct option *const tables[] = {own_opts, nb_data_options, nb_sched_options};
        if (!nb_cli_options(all, 128, tables, 3)) return NULL;
    }
    return all;
}

int nb_train_parse_opt(int c, const char *v, train_args *a)
{
    const char *cmd = "train";
    long n;
    if (c >= 0 && c < (int)sizeof a->given) a->given[c] = 1;
    if (nb_sched_is_opt(c)) return nb_sched_parse(cmd, c, v, &a->opt.schedule, &a->epochs_set);
    if (nb_data_is_opt(c)) return nb_data_parse(cmd, c, v, &a->data);
    switch (c) {
    case NB_T_STANDARDIZE: a->standardize = 1; return 1;
    case NB_T_VAL: return nb_arg_double(cmd, "--val", v, 0.0, 1.0, 0, 1, &a->val);
    case NB_T_LAYERS:
        return nb_arg_widths(cmd, "--layers", v, a->widths, NB_TRAIN_MAX_LAYERS + 1, &a->n_widths);
    case NB_T_ACT: return nb_arg_acts(cmd, "--act", v, a->acts, NB_TRAIN_MAX_LAYERS, &a->n_acts);
    case NB_T_LOSS:
        if (nb_loss_parse(v, &a->loss) == NB_OK) return 1;
        nb_cli_usage_error(cmd, "--loss: unknown loss '%s' (mse, xent)", v);
        return 0;
    case NB_T_BATCH:
        if (strcmp(v, "full") == 0) return a->opt.batch = 0, 1;
        if (!nb_arg_long(cmd, "--batch", v, 1, 1 << 24, &n)) return 0;
        a->opt.batch = (size_t)n;
        return 1;
    case NB_T_SEED: return nb_arg_u64(cmd, "--seed", v, &a->opt.seed);
    case NB_T_DEVICE: a->device = v; return 1;
    case NB_T_PRINT_EVERY:
        return nb_arg_long(cmd, "--print-every", v, 1, 1000000000L, &a->print_every);
    case NB_T_LOG: a->log = v; return 1;
    case NB_T_MEASURE_GRAD: a->opt.measure_grad = 1; return 1;
    case NB_T_PROFILE: a->profile = 1; return 1;
    case NB_T_SAVE: a->opt.save = v; return 1;
    case NB_T_SAVE_EVERY:
        return nb_arg_long(cmd, "--save-every", v, 1, 1000000000L, &a->opt.save_every);
    case NB_T_RESUME: a->opt.resume = v; return 1;
    case NB_T_PLOT: a->plot = v; return 1;
    case NB_T_PLOT_LOG: a->plot_log = 1; return 1;
    }
    nb_cli_usage_error(cmd, "internal: unknown option %d", c);
    return 0;
}

/* What the settings rule out, whatever the data: refused now, before
 * anything is read or built. */
static int check_settings(train_args *a)
{
    const char *cmd = "train";
    const nb_schedule *s = &a->opt.schedule;
    if (!nb_data_check(cmd, &a->data)) return 0;
    const nb_csv_options *csv = &a->data.csv;
    if ((csv->targets > 0 || csv->regression) && a->loss == NB_LOSS_XENT)
        return nb_cli_usage_error(cmd, "--loss xent needs class labels, not --regression/--targets"), 0;
    if (s->early_stop > 0 && a->val == 0.0)
        return nb_cli_usage_error(cmd, "--early-stop needs validation rows: --val is 0"), 0;
    if (s->line_search && a->opt.batch != 0)
        return nb_cli_usage_error(cmd, "--line-search needs --batch full (it tests steps on the "
                                       "exact loss)"), 0;
    if (s->line_search && (s->optim != NB_OPT_SGD || s->lr_kind != NB_LR_CONSTANT))
        return nb_cli_usage_error(cmd, "--line-search chooses the step itself: it takes --optim "
                                       "sgd and no --lr-schedule"), 0;
    if (s->lr_kind == NB_LR_COSINE && s->lr_period == 0 && s->max_iters == 0 && s->max_epochs == 0)
        return nb_cli_usage_error(cmd, "--lr-schedule cosine needs a period: --lr-period, --iters "
                                       "or --epochs"), 0;
    if (a->opt.save && !nb_cli_check_output(cmd, "--save", a->opt.save)) return 0;
    if (a->plot && !nb_cli_check_output(cmd, "--plot", a->plot)) return 0;
    if (a->log && !nb_cli_check_output(cmd, "--log", a->log)) return 0;
    return 1;
}

int nb_cmd_train(int argc, char **argv) { return nb_cmd_train_dist(argc, argv, NULL); }

int nb_cmd_train_dist(int argc, char **argv, train_dist *dist)
{
    int ranks = nb_tdist_ranks(dist);
    if (ranks > 1) nb_tdist_quiet(dist);
    train_args *a = calloc(1, sizeof *a);
    if (!a) {
        int code = nb_cli_usage_error("train", "out of memory");
        return ranks > 1 ? nb_tdist_agree(dist, code) : code;
    }
    a->dist = ranks > 1 ? dist : NULL;
    nb_data_args_init(&a->data);
    nb_train_options_default(&a->opt);
    a->val = 0.2;
    a->device = getenv("NABLA_DEVICE");
    if (a->device && !*a->device) a->device = NULL; /* empty means unset: auto */
    a->loss = NB_LOSS_MSE;
    a->argc = argc, a->argv = argv;
    const struct option *opts = nb_train_options_table();
    int c, code = NB_EXIT_USAGE;
    if (!opts) {
        nb_cli_usage_error("train", "internal: too many options");
        goto done;
    }
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'h') {
            printf(train_help, nb_data_help, nb_sched_help);
            code = NB_EXIT_OK;
            goto done;
        }
        if (c == '?') {
            nb_cli_usage_error("train", "unknown option '%s' (see --help)", argv[optind - 1]);
            goto done;
        }
        if (c == ':') {
            nb_cli_usage_error("train", "%s needs a value", argv[optind - 1]);
            goto done;
        }
        if (!nb_train_parse_opt(c, optarg, a)) goto done;
    }
    if (optind < argc) {
        nb_cli_usage_error("train", "unexpected argument '%s'", argv[optind]);
        goto done;
    }
    /* An explicit iteration or time budget replaces the default epoch budget. */
    if ((a->opt.schedule.max_iters > 0 || a->opt.schedule.time_limit > 0) && !a->epochs_set)
        a->opt.schedule.max_epochs = 0;
    if (a->opt.resume && (code = nb_train_resume_settings(a)) != 0) goto done;
    code = NB_EXIT_USAGE;
    if (ranks > 1 && nb_tdist_rank(dist) > 0) a->log = a->plot = NULL; /* rank 0 writes them */
    if (!check_settings(a) || nb_train_make_record(a) != 0) goto done;
    code = nb_train_run(a);
done:
    /* A rank that stopped before training (an error, --help) still meets
     * the others, who may be waiting for it. */
    if (ranks > 1 && !dist->agreed) code = nb_tdist_agree(dist, code);
    nb_data_args_free(&a->data);
    free(a);
    return code;
}
