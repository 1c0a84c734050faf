/*
 * train_resume.c — `nabla train --resume`: the run continues with the
 * settings it was saved with. A checkpoint holds the run's schedule, batch
 * and seed (read by nb_checkpoint_read_info) and the tool's own record of
 * its data settings (the JSON this file also writes). A flag given on the
 * command line replaces the saved value and says so in one line; a flag
 * that would change the model or its optimizer state is refused with both
 * values named.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/run_record.h"
#include "cli/sched_args.h"
#include "cli/train_args.h"

/* The schedule's flags, for comparing a run's settings field by field. */
typedef enum { F_DOUBLE, F_LONG, F_BOOL, F_KIND, F_OPTIM } field_type;
static const struct {
    const char *flag;
    size_t off;
    field_type type;
} sched_fields[] = {
    {"--lr", offsetof(nb_schedule, lr), F_DOUBLE},
    {"--lr-schedule", offsetof(nb_schedule, lr_kind), F_KIND},
    {"--lr-gamma", offsetof(nb_schedule, lr_gamma), F_DOUBLE},
    {"--lr-step", offsetof(nb_schedule, lr_step), F_LONG},
    {"--lr-decay", offsetof(nb_schedule, lr_decay), F_DOUBLE},
    {"--warmup", offsetof(nb_schedule, lr_warmup), F_LONG},
    {"--lr-period", offsetof(nb_schedule, lr_period), F_LONG},
    {"--lr-min", offsetof(nb_schedule, lr_min), F_DOUBLE},
    {"--line-search", offsetof(nb_schedule, line_search), F_BOOL},
    {"--armijo-c", offsetof(nb_schedule, armijo_c), F_DOUBLE},
    {"--optim", offsetof(nb_schedule, optim), F_OPTIM},
    {"--momentum", offsetof(nb_schedule, momentum), F_DOUBLE},
    {"--beta1", offsetof(nb_schedule, beta1), F_DOUBLE},
    {"--beta2", offsetof(nb_schedule, beta2), F_DOUBLE},
    {"--eps", offsetof(nb_schedule, eps), F_DOUBLE},
    {"--weight-decay", offsetof(nb_schedule, weight_decay), F_DOUBLE},
    {"--clip-norm", offsetof(nb_schedule, clip_norm), F_DOUBLE},
    {"--epochs", offsetof(nb_schedule, max_epochs), F_LONG},
    {"--iters", offsetof(nb_schedule, max_iters), F_LONG},
    {"--target-loss", offsetof(nb_schedule, target_loss), F_DOUBLE},
    {"--tol-grad", offsetof(nb_schedule, tol_grad), F_DOUBLE},
    {"--time-limit", offsetof(nb_schedule, time_limit), F_DOUBLE},
    {"--plateau-tol", offsetof(nb_schedule, plateau_tol), F_DOUBLE},
    {"--plateau-patience", offsetof(nb_schedule, plateau_patience), F_LONG},
    {"--early-stop", offsetof(nb_schedule, early_stop), F_LONG},
    {"--diverge-factor", offsetof(nb_schedule, diverge_factor), F_DOUBLE},
    {"--check-every", offsetof(nb_schedule, check_every), F_LONG},
};

/* A field's value as a flag would spell it; whether two values differ. */
static const char *shown(const nb_schedule *s, int i, char *buf, size_t n)
{
    const char *p = (const char *)s + sched_fields[i].off;
    switch (sched_fields[i].type) {
    case F_DOUBLE: {
        double v;
        memcpy(&v, p, sizeof v);
        if (isnan(v)) return "off";
        snprintf(buf, n, "%.17g", v);
        /* the shortest form that reads back to the same double */
        for (int prec = 1; prec <= 17; prec++) {
            char t[40];
            snprintf(t, sizeof t, "%.*g", prec, v);
            if (strtod(t, NULL) == v) return snprintf(buf, n, "%s", t), buf;
        }
        return buf;
    }
    case F_LONG: {
        long v;
        memcpy(&v, p, sizeof v);
        return snprintf(buf, n, "%ld", v), buf;
    }
    case F_BOOL: {
        int v;
        memcpy(&v, p, sizeof v);
        return v ? "on" : "off";
    }
    case F_KIND: {
        nb_lr_kind v;
        memcpy(&v, p, sizeof v);
        return nb_lr_kind_name(v);
    }
    case F_OPTIM: {
        nb_optim v;
        memcpy(&v, p, sizeof v);
        return nb_optim_name(v);
    }
    }
    return "?";
}

/* The command line's schedule flags over the checkpoint's schedule. */
static int overlay_schedule(train_args *a, nb_schedule *s)
{
    const struct option *opts = nb_train_options_table();
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(a->argc, a->argv, ":h", opts, NULL)) != -1)
        if (nb_sched_is_opt(c) && !nb_sched_parse("train", c, optarg, s, NULL)) return 0;
    return 1;
}

/* Say what the flags change in the saved schedule; refuse another optimizer. */
static int compare_schedules(const char *path, const nb_schedule *saved, const nb_schedule *now)
{
    for (int i = 0; i < (int)(sizeof sched_fields / sizeof *sched_fields); i++) {
        char b1[48], b2[48];
        const char *was = shown(saved, i, b1, sizeof b1), *is = shown(now, i, b2, sizeof b2);
        if (strcmp(was, is) == 0) continue;
        if (sched_fields[i].type == F_OPTIM)
            return nb_cli_usage_error("train", "--optim %s: %s was trained with %s, whose state "
                                               "does not carry over", is, path, was), 0;
        printf("note: %s %s replaces the checkpoint's %s\n", sched_fields[i].flag, is, was);
    }
    return 1;
}

static void note_batch(const char *flag, size_t now, size_t saved)
{
    char b1[32], b2[32];
    snprintf(b1, sizeof b1, "%zu", now);
    snprintf(b2, sizeof b2, "%zu", saved);
    printf("note: %s %s replaces the checkpoint's %s\n", flag, now ? b1 : "full",
           saved ? b2 : "full");
}

/* The record's data settings, where no flag was given. */
static void apply_record(train_args *a, const char *path, const char *text)
{
    nb_run_record r;
    memset(&r, 0, sizeof r);
    int found = nb_run_record_parse(text, &r);
    if (found < 0) {
        printf("note: %s: its record of the data settings is unreadable; the flags apply\n", path);
        return;
    }
    nb_data_args *d = &a->data;
    /* Another --data is other data: none of the saved file's reading applies. */
    if (d->given & NB_DATA_GIVEN_DATA) found &= ~(NB_REC_DATA | NB_REC_LABELS);
    if ((found & NB_REC_DATA) && !(d->given & NB_DATA_GIVEN_DATA)) {
        memcpy(a->data_path, r.data, sizeof a->data_path);
        d->data = r.has_data ? a->data_path : NULL;
    }
    if ((found & NB_REC_LABELS) && !(d->given & NB_DATA_GIVEN_LABELS)) {
        memcpy(a->labels_path, r.labels, sizeof a->labels_path);
        d->labels = r.has_labels ? a->labels_path : NULL;
    }
    if ((found & NB_REC_HEADER) && !(d->given & NB_DATA_GIVEN_HEADER)) d->csv.header = r.csv.header;
    if ((found & NB_REC_LABEL_COL) && !(d->given & NB_DATA_GIVEN_LABEL_COL))
        d->csv.label_col = r.csv.label_col;
    if ((found & NB_REC_REGRESSION) && !(d->given & NB_DATA_GIVEN_REGRESSION))
        d->csv.regression = r.csv.regression;
    if ((found & NB_REC_TARGETS) && !(d->given & NB_DATA_GIVEN_TARGETS))
        d->csv.targets = r.csv.targets;
    if ((found & NB_REC_DELIMITER) && !(d->given & NB_DATA_GIVEN_DELIMITER))
        d->csv.delimiter = r.csv.delimiter;
    if (found & NB_REC_VAL) {
        if (!a->given[NB_T_VAL])
            a->val = r.val;
        else if (a->val != r.val)
            printf("note: --val %g replaces the checkpoint's %g: the validation rows differ from "
                   "the saved run's\n", a->val, r.val);
    }
    if ((found & NB_REC_SAVE_EVERY) && !a->given[NB_T_SAVE_EVERY]) a->opt.save_every = r.save_every;
    if ((found & NB_REC_STANDARDIZE) && !a->given[NB_T_STANDARDIZE]) a->standardize = r.standardize;
}

int nb_train_resume_settings(train_args *a)
{
    const char *path = a->opt.resume;
    nb_checkpoint_info *info = malloc(sizeof *info);
    if (!info) return nb_cli_usage_error("train", "out of memory");
    int code = 0;
    nb_status st = nb_checkpoint_read_info(path, info);
    if (st != NB_OK) {
        fprintf(stderr, "nabla train: --resume: %s\n", nb_cli_error());
        code = nb_cli_exit_for(st);
        goto done;
    }
    if (info->record[0]) apply_record(a, path, info->record);
    if (info->has_run) {
        if (!a->given[NB_T_SEED])
            a->opt.seed = info->seed;
        else if (a->opt.seed != info->seed)
            printf("note: --seed %llu replaces the checkpoint's %llu: the validation rows differ "
                   "from the saved run's\n", (unsigned long long)a->opt.seed,
                   (unsigned long long)info->seed);
        if (!a->given[NB_T_BATCH])
            a->opt.batch = info->batch;
        else if (a->opt.batch != info->batch && info->batches_done > 0)
            goto other_batch;
        else if (a->opt.batch != info->batch)
            note_batch("--batch", a->opt.batch, info->batch);
    }
    if (info->has_schedule) {
        nb_schedule s = info->schedule;
        if (!overlay_schedule(a, &s) || !compare_schedules(path, &info->schedule, &s)) goto usage;
        a->opt.schedule = s;
    } else {
        printf("note: %s does not record its settings: the flags and their defaults apply\n", path);
    }
    goto done;
other_batch:
    nb_cli_usage_error("train", "--batch: %s stopped inside an epoch, after %ld batches of %zu "
                                "rows; it continues with that batch size only",
                       path, info->batches_done, info->batch);
usage:
    code = NB_EXIT_USAGE;
done:
    free(info);
    return code;
}

/* "relu" when every layer has it, else "relu,tanh,…"; xent's softmax left out. */
static void acts_text(const nb_act *acts, int n, char *buf, size_t size)
{
    int same = 1;
    for (int l = 1; l < n; l++) same &= acts[l] == acts[0];
    size_t len = 0;
    buf[0] = '\0';
    for (int l = 0; l < (same ? 1 : n) && len < size; l++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s", l ? "," : "", nb_act_name(acts[l]));
}

int nb_train_adopt_arch(train_args *a, const nb_model *m, const nb_dataset *d)
{
    const char *cmd = "train", *path = a->opt.resume;
    int L = nb_model_layers(m);
    char want[512] = "", have[512] = "";
    size_t n = 0;
    for (int i = 0; i <= L && n < sizeof have; i++)
        n += (size_t)snprintf(have + n, sizeof have - n, "%s%d", i ? "-" : "", nb_model_width(m, i));
    if (a->given[NB_T_LAYERS]) {
        int same = a->n_widths == L + 1;
        for (int i = 0; same && i <= L; i++) same = a->widths[i] == nb_model_width(m, i);
        n = 0;
        for (int i = 0; i < a->n_widths && n < sizeof want; i++)
            n += (size_t)snprintf(want + n, sizeof want - n, "%s%d", i ? "," : "", a->widths[i]);
        if (!same)
            return nb_cli_usage_error(cmd, "--layers %s: the model in %s is %s", want, path, have);
    }
    nb_loss loss = nb_model_loss(m);
    if (a->given[NB_T_LOSS] && a->loss != loss)
        return nb_cli_usage_error(cmd, "--loss %s: the model in %s has loss %s",
                                  nb_loss_name(a->loss), path, nb_loss_name(loss));
    /* The activations the flags name, against the model's (softmax comes with xent). */
    nb_act saved[NB_TRAIN_MAX_LAYERS];
    int hidden = loss == NB_LOSS_XENT ? L - 1 : L;
    for (int l = 0; l < L; l++) saved[l] = nb_model_act(m, l);
    if (a->given[NB_T_ACT]) {
        int same = a->n_acts == 1 || a->n_acts == L;
        for (int l = 0; same && l < hidden; l++) same = a->acts[a->n_acts == 1 ? 0 : l] == saved[l];
        if (!same) {
            acts_text(a->acts, a->n_acts, want, sizeof want);
            acts_text(saved, hidden > 0 ? hidden : L, have, sizeof have);
            return nb_cli_usage_error(cmd, "--act %s: the layers of the model in %s use %s", want,
                                      path, have);
        }
    }
    if (a->given[NB_T_STANDARDIZE] && !nb_model_feature_mean(m))
        return nb_cli_usage_error(cmd, "--standardize: the run in %s did not standardize its "
                                       "inputs, and its model cannot start now", path);
    for (int i = 0; i <= L; i++) a->widths[i] = nb_model_width(m, i);
    a->n_widths = L + 1;
    for (int l = 0; l < L; l++) a->acts[l] = saved[l];
    a->n_acts = L;
    a->loss = loss;
    if (nb_dataset_inputs(d) != a->widths[0] || nb_dataset_outputs(d) != a->widths[L])
        return nb_cli_usage_error(cmd, "--resume: the model in %s takes %d inputs and gives %d "
                                       "outputs; %s has %d and %d", path, a->widths[0],
                                  a->widths[L], nb_data_name(&a->data), nb_dataset_inputs(d),
                                  nb_dataset_outputs(d));
    return 0;
}

int nb_train_make_record(train_args *a)
{
    nb_data_args *d = &a->data;
    nb_run_record r;
    memset(&r, 0, sizeof r);
    /* Paths are kept absolute, so a resume from elsewhere finds the data. */
    char abs[PATH_MAX];
    if (d->data) {
        const char *p = strcmp(d->data, "-") != 0 && realpath(d->data, abs) ? abs : d->data;
        snprintf(r.data, sizeof r.data, "%s", p);
        r.has_data = 1;
    }
    if (d->labels) {
        snprintf(r.labels, sizeof r.labels, "%s", realpath(d->labels, abs) ? abs : d->labels);
        r.has_labels = 1;
    }
    r.csv = d->csv;
    r.val = a->val, r.standardize = a->standardize, r.save_every = a->opt.save_every;
    if (!nb_run_record_write(&r, a->record, sizeof a->record))
        return nb_cli_usage_error("train", "--data: cannot record the data settings (the path "
                                           "is too long or not UTF-8)");
    a->opt.record = a->record;
    return 0;
}
