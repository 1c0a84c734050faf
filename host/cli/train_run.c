/*
 * train_run.c — the body of `nabla train`: load the data, hold out the
 * validation rows, build (or resume) the model, train with the epoch
 * report, and end every way a run can end — budget, rule, divergence,
 * Ctrl-C — with the same last lines, log and plot.
 *
 * Under --device auto a device that fails is not the end of the run: a
 * failure during training goes on on the cpu from the library's last host
 * copy (nb_train_options.fallback), and one before training starts the run
 * again on the cpu. Either says so in one line and in the log.
 *
 * As one of several ranks (mpirun; train_dist.h) it has no such fallback:
 * every rank sets up alike, all meet before training, check together that
 * they run the same thing, and train with nb_train_dist; rank 0 alone
 * prints and writes the log and plot, and a rank that fails during
 * training ends the whole job.
 */
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/backend_opts.h"
#include "cli/profile.h"
#include "cli/train_args.h"
#include "cli/train_report.h"

/* The signal that asked the run to stop (SIGINT, SIGTERM), or 0. */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig) { stop_signal = sig; }

/* Ctrl-C and SIGTERM end the run after the update in progress; the
 * handler is one-shot, so a second one ends the process at once. */
static void catch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Widths and activations from the flags and the data; 0 after an error. */
static int build_arch(train_args *a, const nb_dataset *d)
{
    int in = nb_dataset_inputs(d), out = nb_dataset_outputs(d), k = nb_dataset_classes(d);
    const char *name = nb_data_name(&a->data);
    if (a->n_widths == 0) {
        a->widths[0] = in, a->widths[1] = 32, a->widths[2] = out;
        a->n_widths = 3;
    } else if (a->widths[0] != in) {
        return nb_cli_usage_error("train", "--layers: the input width is %d but %s has %d "
                                           "features", a->widths[0], name, in), 0;
    } else if (a->widths[a->n_widths - 1] != out) {
        return nb_cli_usage_error("train", "--layers: the output width is %d but %s has %d "
                                           "%s", a->widths[a->n_widths - 1], name, out,
                                  k > 0 ? "classes" : out == 1 ? "target" : "targets"), 0;
    } else if (k > 0 && !nb_dataset_class_name(d, 0)) {
        /* The loader took the width as the class count (a larger label is
         * an error at its place); fewer classes than outputs is as wrong. */
        const int32_t *lab = nb_dataset_labels(d);
        int top = 0;
        for (size_t i = 0; i < nb_dataset_rows(d); i++) top = lab[i] > top ? lab[i] : top;
        if (top + 1 < k)
            return nb_cli_usage_error("train", "--layers: the output width is %d but the labels "
                                               "of %s go up to %d: %d classes", k, name, top,
                                      top + 1), 0;
    }
    int L = a->n_widths - 1;
    if (a->n_acts == 0) a->acts[0] = NB_ACT_SIGMOID, a->n_acts = 1;
    if (a->n_acts != 1 && a->n_acts != L)
        return nb_cli_usage_error("train", "--act: give one activation or %d (one per layer), "
                                           "not %d", L, a->n_acts), 0;
    for (int l = L - 1; l >= 0; l--) {
        a->acts[l] = a->acts[a->n_acts == 1 ? 0 : l];
        if (a->acts[l] == NB_ACT_SOFTMAX)
            return nb_cli_usage_error("train", "--act: softmax comes with --loss xent, not "
                                               "--act"), 0;
    }
    a->n_acts = L;
    if (a->loss == NB_LOSS_XENT) a->acts[L - 1] = NB_ACT_SOFTMAX;
    return 1;
}

/* Hold out the validation rows (views: no copy of the data). */
static int split(train_args *a, nb_dataset **all, nb_dataset **tr, nb_dataset **va)
{
    size_t rows = nb_dataset_rows(*all);
    if (a->val == 0.0) {
        *tr = *all, *va = NULL, *all = NULL;
        return 0;
    }
    double n_val = round((double)rows * a->val);
    if (n_val < 1.0 || n_val >= (double)rows)
        return nb_cli_usage_error("train", "--val %g: %s has %zu row%s, too few to hold out %g%% "
                                           "for validation and train on the rest (--val 0 trains "
                                           "on all)", a->val, nb_data_name(&a->data), rows,
                                  rows == 1 ? "" : "s", 100.0 * a->val);
    nb_status st = nb_dataset_split_views(*all, a->val, a->opt.seed, tr, va);
    nb_dataset_free(*all);
    *all = NULL;
    return st == NB_OK ? 0 : nb_cli_fail("train", st);
}

/* The model's class names from the data's (named labels). */
static int name_classes(nb_model *m, const nb_dataset *d)
{
    int k = nb_dataset_classes(d);
    if (k == 0 || !nb_dataset_class_name(d, 0)) return 0;
    const char **names = malloc((size_t)k * sizeof *names);
    if (!names) return nb_cli_usage_error("train", "out of memory");
    for (int i = 0; i < k; i++) names[i] = nb_dataset_class_name(d, i);
    nb_status st = nb_model_set_class_names(m, k, names);
    free(names);
    return st == NB_OK ? 0 : nb_cli_fail("train", st);
}

/* The model's standardisation from the training rows. */
static int standardize(nb_model *m, const nb_dataset *tr)
{
    size_t n = (size_t)nb_dataset_inputs(tr);
    float *mean = malloc(n * sizeof *mean), *std = malloc(n * sizeof *std);
    nb_status st = mean && std ? nb_dataset_feature_stats(tr, mean, std) : NB_ERR_NOMEM;
    if (st == NB_OK) st = nb_model_set_standardization(m, mean, std);
    free(mean);
    free(std);
    if (st == NB_ERR_NOMEM && !mean) return nb_cli_usage_error("train", "out of memory");
    return st == NB_OK ? 0 : nb_cli_fail("train", st);
}

static void print_header(const train_args *a, const nb_model *m, const nb_dataset *tr,
                         const nb_dataset *va, const nb_backend *be, int ranks)
{
    char arch[512];
    nb_report_arch(arch, sizeof arch, m);
    printf("nabla: %s, %s, %zu train + %zu val rows, ", nb_data_name(&a->data), arch,
           nb_dataset_rows(tr), va ? nb_dataset_rows(va) : (size_t)0);
    if (a->opt.batch == 0 || a->opt.batch >= nb_dataset_rows(tr))
        printf("full batch");
    else
        printf("batch %zu", a->opt.batch);
    const nb_schedule *sc = &a->opt.schedule;
    printf(", %s, lr %g%s%s, seed %llu, device %s", nb_optim_name(sc->optim), sc->lr,
           sc->lr_kind != NB_LR_CONSTANT ? " " : "",
           sc->lr_kind != NB_LR_CONSTANT ? nb_lr_kind_name(sc->lr_kind) : "",
           (unsigned long long)a->opt.seed, nb_backend_name(be));
    if (ranks > 1) printf(", %d ranks", ranks);
    putchar('\n');
    if (sc->line_search) printf("line search: Armijo c = %g, from alpha = %g\n", sc->armijo_c, sc->lr);
}

/* The last lines of every run that trained: why it stopped, where it ended. */
static void print_end(const train_args *a, nb_status st, const nb_result *res, const nb_dataset *va)
{
    bool diverged = st == NB_ERR_NONFINITE || st == NB_ERR_DIVERGED;
    printf("stopped: %s%s\n", res->why, diverged ? "; the last good parameters were restored" : "");
    printf("final: loss %.6g", res->loss);
    if (va && isfinite(res->val_loss)) printf("  val_loss %.6g", res->val_loss);
    if (va && nb_dataset_classes(va) > 0 && isfinite(res->val_acc))
        printf("  val_acc %.2f%%", 100.0 * res->val_acc);
    printf("  in %.2fs\n", res->seconds);
    if (a->opt.save && !diverged && res->updates > 0) printf("checkpoint: %s\n", a->opt.save);
}

/* Exit status of a run that returned st and stopped as res says. */
static int exit_status(nb_status st, const nb_result *res)
{
    if (st == NB_OK && res->halt == NB_HALT_INTERRUPTED)
        return stop_signal == SIGTERM ? 143 : 130; /* 128 + the signal, as shells do */
    if (st == NB_OK) return NB_EXIT_OK;
    /* Once training has begun, a failed write (a full disk) is a failed
     * run, not bad input: the input was fine. */
    return st == NB_ERR_IO ? NB_EXIT_FAIL : nb_cli_exit_for(st);
}

/* s as a JSON string (quotes, backslashes and control bytes escaped). */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* The device failed and the run went on on the cpu from update `from`:
 * one line on stderr and one record in the log. */
static void say_fallback(FILE *log, const char *why, long from, bool restarted)
{
    if (restarted)
        fprintf(stderr, "nabla train: the device failed (%s); starting again on cpu\n", why);
    else
        fprintf(stderr, "nabla train: the device failed (%s); continuing on cpu from update %ld\n",
                why, from);
    if (!log) return;
    fputs("{\"fallback\":\"cpu\",\"error\":", log);
    json_str(log, why);
    fprintf(log, ",\"from_update\":%ld}\n", from);
}

/* Under auto, a device failure before training: start again on the cpu. */
enum { RETRY_ON_CPU = -1 };

static bool device_lost(const char *device, nb_status st)
{
    return st == NB_ERR_BACKEND && nb_cli_device_is_auto(device);
}

/* Load the data, with the class names of a resumed model. */
static int load(train_args *a, const nb_model *resumed, nb_dataset **all)
{
    nb_csv_options csv = a->data.csv;
    /* Labels beyond the output width are errors at their file position. */
    if (!resumed && a->n_widths > 0 && !csv.regression && csv.targets == 0)
        csv.classes = a->widths[a->n_widths - 1];
    const char *names[256];
    int k = resumed ? nb_model_width(resumed, nb_model_layers(resumed)) : 0;
    if (resumed && !csv.regression && csv.targets == 0) {
        if (nb_model_class_name(resumed, 0) && k <= 256) {
            for (int i = 0; i < k; i++) names[i] = nb_model_class_name(resumed, i);
            csv.class_names = names, csv.n_class_names = k;
        } else {
            csv.classes = k;
        }
    }
    return nb_data_load("train", &a->data, &csv, all);
}

/* One try at the run on device. restarted: the failure that made this the
 * second try, or NULL. On a device failure before training under auto,
 * RETRY_ON_CPU with the error in why. */
static int train_on(train_args *a, const char *device, const char *restarted, char *why,
                    size_t why_n)
{
    nb_dataset *all = NULL, *tr = NULL, *va = NULL;
    nb_backend *be = NULL, *fallback = NULL;
    nb_model *m = NULL;
    FILE *log = NULL;
    int code;
    nb_status st;
    nb_report rep;
    memset(&rep, 0, sizeof rep);
    /* Every rank reports alike (the report's measurements are collective);
     * only rank 0 writes the log and the plot. */
    int ranks = nb_tdist_ranks(a->dist);
    bool writer = nb_tdist_rank(a->dist) == 0;
    if (a->opt.resume) { /* the model first: its class names read the labels */
        if ((code = nb_cli_open_backend("train", device, &be)) != 0) goto done;
        if ((st = nb_model_load(be, a->opt.resume, &m)) != NB_OK) {
            if (device_lost(device, st)) goto lost;
            fprintf(stderr, "nabla train: --resume: %s\n", nb_cli_error());
            code = nb_cli_exit_for(st);
            goto done;
        }
    }
    if ((code = load(a, m, &all)) != 0) goto done;
    if (a->opt.resume)
        code = nb_train_adopt_arch(a, m, all);
    else
        code = build_arch(a, all) ? 0 : NB_EXIT_USAGE;
    if (code != 0) goto done;
    if ((code = split(a, &all, &tr, &va)) != 0) goto done;
    if (!be && (code = nb_cli_open_backend("train", device, &be)) != 0) goto done;
    if (!m) {
        st = nb_model_create(be, a->n_widths - 1, a->widths, a->acts, a->loss, a->opt.seed, &m);
        if (st != NB_OK) {
            if (device_lost(device, st)) goto lost;
            code = nb_cli_fail("train", st);
            goto done;
        }
        if ((code = name_classes(m, tr)) != 0) goto done;
        if (a->standardize && (code = standardize(m, tr)) != 0) goto done;
    }
    if (a->log && writer && !(log = fopen(a->log, "w"))) {
        code = nb_cli_usage_error("train", "--log: cannot open '%s' for writing", a->log);
        goto done;
    }
    if (restarted) say_fallback(log, restarted, 0, true);
    /* Under auto the run can go on on the cpu if the device fails. */
    a->opt.fallback = NULL;
    if (nb_cli_device_is_auto(device) && strncmp(nb_backend_name(be), "cpu", 3) != 0) {
        if ((st = nb_cli_backend_create("cpu", &fallback)) != NB_OK) {
            code = nb_cli_fail("train", st);
            goto done;
        }
        a->opt.fallback = fallback;
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
    /* Not under mpirun: it hands the ranks a terminal of its own even
     * when its output goes to a file. */
    rep.bar = !full && isatty(fileno(stdout)) && ranks == 1;
    rep.keep_history = a->plot != NULL && writer;
    a->opt.on_epoch = nb_report_epoch;
    a->opt.on_batch = nb_report_batch;
    a->opt.user = &rep;
    a->opt.report_every = (a->log || a->plot) ? 1 : a->print_every;
    if (a->profile && (st = nb_backend_profile_enable(be, 1)) != NB_OK) {
        code = nb_cli_fail("train", st);
        goto done;
    }
    if (ranks > 1) {
        /* Every rank is set up, or the lowest that is not says why. */
        int agreed = nb_tdist_agree(a->dist, -1);
        if (agreed != -1) {
            code = agreed;
            goto done;
        }
        /* A difference every rank sees: said once, every rank exits 2. */
        if ((st = nb_dist_check(m, tr, va, &a->opt, a->dist->comm)) != NB_OK) {
            if (writer) fprintf(stderr, "nabla train: %s\n", nb_cli_error());
            code = nb_cli_exit_for(st);
            goto done;
        }
        if (a->dist->line[0]) printf("%s\n", a->dist->line);
    }
    print_header(a, m, tr, va, be, ranks);
    fflush(stdout);
    nb_result res;
    stop_signal = 0;
    a->opt.interrupt = &stop_signal;
    catch_stop_signals();
    if (ranks > 1)
        st = nb_train_dist(m, tr, va, &a->opt, a->dist->comm, &res);
    else
        st = nb_train(m, tr, va, &a->opt, &res);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    nb_report_clear_bar(&rep);
    bool trained = st == NB_OK || st == NB_ERR_NONFINITE || st == NB_ERR_DIVERGED;
    /* The others may be waiting for this rank in an exchange: only the
     * end of the whole job frees them. The checkpoint is written
     * atomically, so the last one survives. */
    if (!trained && ranks > 1) nb_tdist_fail(a->dist, nb_cli_error(), exit_status(st, &res));
    int plot_failed = 0;
    if (trained && a->plot && writer && rep.n > 0) {
        char title[1024];
        nb_report_title(title, sizeof title, m, a->data.data);
        plot_failed = nb_report_plot(&rep, a->plot, a->plot_log, title) != 0; /* says why */
    }
    if (!trained && device_lost(device, st) && !res.fallback[0]) goto lost;
    if (res.fallback[0])
        say_fallback(log, nb_cli_error_text(res.fallback), res.fallback_iters, false);
    if (!trained) {
        fprintf(stderr, "nabla train: %s\n", nb_cli_error());
        code = exit_status(st, &res);
        goto done;
    }
    print_end(a, st, &res, va);
    if (a->profile) nb_cli_print_profile(stdout, be, res.seconds);
    if (a->plot && writer && rep.n > 0 && !plot_failed) printf("plot: %s\n", a->plot);
    code = exit_status(st, &res);
    if (code == NB_EXIT_OK && plot_failed) code = NB_EXIT_FAIL;
    goto done;
lost: /* nothing trained yet: the caller starts again on the cpu */
    snprintf(why, why_n, "%s", nb_cli_error());
    code = RETRY_ON_CPU;
done:
    if (log && fclose(log) != 0 && code == NB_EXIT_OK) {
        fprintf(stderr, "nabla train: --log: write to '%s' failed\n", a->log);
        code = NB_EXIT_FAIL;
    }
    nb_report_free(&rep);
    nb_model_free(m);
    nb_backend_free(be);
    nb_backend_free(fallback); /* after the model, which may have moved to it */
    nb_dataset_free(all);
    nb_dataset_free(tr);
    nb_dataset_free(va);
    return code;
}

int nb_train_run(train_args *a)
{
    train_args first = *a; /* the settings as parsed: a try adapts them */
    char why[512];
    if (a->dist) {
        /* Each rank's own device, never "auto": no restart on the cpu. */
        a->device = nb_tdist_device(a->dist, a->device, a->dist->line, sizeof a->dist->line);
        int code = train_on(a, a->device, NULL, why, sizeof why);
        return code == RETRY_ON_CPU ? NB_EXIT_DEVICE : code;
    }
    int code = train_on(a, a->device, NULL, why, sizeof why);
    if (code != RETRY_ON_CPU) return code;
    nb_data_args data = a->data; /* standard input, once read, is kept */
    *a = first;
    a->data = data;
    code = train_on(a, "cpu", why, why, sizeof why);
    return code == RETRY_ON_CPU ? NB_EXIT_DEVICE : code;
}
