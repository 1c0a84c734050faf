/*
 * sched_args.c — parsing the schedule flags (see sched_args.h).
 */
#include "cli/sched_args.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"

enum {
    O_LR = NB_SCHED_OPT_BASE, O_LR_SCHEDULE, O_LR_GAMMA, O_LR_STEP, O_LR_DECAY, O_WARMUP,
    O_LR_PERIOD, O_LR_MIN, O_LINE_SEARCH, O_ARMIJO_C, O_OPTIM, O_MOMENTUM, O_BETA1, O_BETA2,
    O_EPS, O_WEIGHT_DECAY, O_CLIP_NORM, O_EPOCHS, O_ITERS, O_TARGET_LOSS, O_TOL_GRAD,
    O_TIME_LIMIT, O_PLATEAU_TOL, O_PLATEAU_PATIENCE, O_EARLY_STOP, O_DIVERGE_FACTOR,
    O_CHECK_EVERY
};

const struct option nb_sched_options[] = {
    {"lr", required_argument, 0, O_LR},
    {"lr-schedule", required_argument, 0, O_LR_SCHEDULE},
    {"lr-gamma", required_argument, 0, O_LR_GAMMA},
    {"lr-step", required_argument, 0, O_LR_STEP},
    {"lr-decay", required_argument, 0, O_LR_DECAY},
    {"warmup", required_argument, 0, O_WARMUP},
    {"lr-period", required_argument, 0, O_LR_PERIOD},
    {"lr-min", required_argument, 0, O_LR_MIN},
    {"line-search", no_argument, 0, O_LINE_SEARCH},
    {"armijo-c", required_argument, 0, O_ARMIJO_C},
    {"optim", required_argument, 0, O_OPTIM},
    {"momentum", required_argument, 0, O_MOMENTUM},
    {"beta1", required_argument, 0, O_BETA1},
    {"beta2", required_argument, 0, O_BETA2},
    {"eps", required_argument, 0, O_EPS},
    {"weight-decay", required_argument, 0, O_WEIGHT_DECAY},
    {"clip-norm", required_argument, 0, O_CLIP_NORM},
    {"epochs", required_argument, 0, O_EPOCHS},
    {"iters", required_argument, 0, O_ITERS},
    {"target-loss", required_argument, 0, O_TARGET_LOSS},
    {"tol-grad", required_argument, 0, O_TOL_GRAD},
    {"time-limit", required_argument, 0, O_TIME_LIMIT},
    {"plateau-tol", required_argument, 0, O_PLATEAU_TOL},
    {"plateau-patience", required_argument, 0, O_PLATEAU_PATIENCE},
    {"early-stop", required_argument, 0, O_EARLY_STOP},
    {"diverge-factor", required_argument, 0, O_DIVERGE_FACTOR},
    {"check-every", required_argument, 0, O_CHECK_EVERY},
    {0, 0, 0, 0}};

const char nb_sched_help[] =
    "Step size\n"
    "  --lr A              initial step size alpha > 0\n"
    "  --lr-schedule S     constant (default), step, exp, inv or cosine:\n"
    "                        step    A * G^floor(epoch / N)   (--lr-gamma G, --lr-step N)\n"
    "                        exp     A * G^epoch              (--lr-gamma G)\n"
    "                        inv     A / (1 + D * t)          (--lr-decay D; t = updates)\n"
    "                        cosine  linear warm-up over W updates, then a half cosine\n"
    "                                down to --lr-min over --lr-period T updates\n"
    "                                (--warmup W; T defaults to the update budget)\n"
    "  --line-search       backtracking (Armijo) line search from the current alpha:\n"
    "                      halve until the loss drops by c * alpha * |grad|^2, try\n"
    "                      2 * alpha after an easy step (full batch, --optim sgd)\n"
    "  --armijo-c C        the sufficient-decrease constant, 0 < C < 1 (default 1e-4)\n"
    "Direction\n"
    "  --optim O           sgd (default), momentum, nesterov, adam or adamw\n"
    "  --momentum M        momentum and nesterov, 0 <= M < 1 (default 0.9)\n"
    "  --beta1 B, --beta2 B, --eps E\n"
    "                      adam and adamw (defaults 0.9, 0.999, 1e-8)\n"
    "  --weight-decay L    L2 penalty (decoupled for adamw), L >= 0\n"
    "  --clip-norm C       scale each gradient to norm <= C\n"
    "Halting (any combination; the run says which rule fired)\n"
    "  --epochs N          passes over the data (default 100; no limit with --iters\n"
    "                      or --time-limit; 0: no limit)\n"
    "  --iters N           updates\n"
    "  --time-limit T      wall time: 30s, 5m, 2h or plain seconds\n"
    "  --target-loss X     stop once the training loss is <= X\n"
    "  --tol-grad X        stop once the full-data gradient norm is <= X\n"
    "  --plateau-tol X     stop when the loss improves by less than X (relative)\n"
    "  --plateau-patience K  ... for K epochs in a row (default 5 with --plateau-tol)\n"
    "  --early-stop K      stop when the validation loss has not improved for K\n"
    "                      epochs, and keep the best parameters seen\n"
    "  --diverge-factor F  a loss above F times the best is divergence (default 1000;\n"
    "                      0: off). NaN or Inf always is. Either stops the run with\n"
    "                      the last good parameters and exit status 1\n"
    "  --check-every N     updates between divergence checks (default 1)\n";

/* "30s", "5m", "2h", "1.5" (seconds). */
static int parse_duration(const char *cmd, const char *s, double *out)
{
    char buf[64];
    size_t n = strlen(s);
    double scale = 1.0;
    if (n > 0 && n < sizeof buf && strchr("smh", s[n - 1])) {
        scale = s[n - 1] == 'h' ? 3600.0 : s[n - 1] == 'm' ? 60.0 : 1.0;
        memcpy(buf, s, n - 1);
        buf[n - 1] = '\0';
        s = buf;
    }
    double v;
    if (!nb_arg_double(cmd, "--time-limit", s, 0.0, 1e9, 1, 0, &v)) return 0;
    *out = v * scale;
    return 1;
}

int nb_sched_parse(const char *cmd, int c, const char *v, nb_schedule *s, int *epochs_set)
{
    switch (c) {
    case O_LR: return nb_arg_double(cmd, "--lr", v, 0.0, 1e12, 1, 0, &s->lr);
    case O_LR_SCHEDULE:
        if (nb_lr_kind_parse(v, &s->lr_kind) == NB_OK) return 1;
        nb_cli_usage_error(cmd, "--lr-schedule: unknown schedule '%s' (constant, step, exp, inv, "
                                "cosine)", v);
        return 0;
    case O_LR_GAMMA: return nb_arg_double(cmd, "--lr-gamma", v, 0.0, 1.0, 1, 0, &s->lr_gamma);
    case O_LR_STEP: return nb_arg_long(cmd, "--lr-step", v, 1, 1000000000L, &s->lr_step);
    case O_LR_DECAY: return nb_arg_double(cmd, "--lr-decay", v, 0.0, 1e12, 0, 0, &s->lr_decay);
    case O_WARMUP: return nb_arg_long(cmd, "--warmup", v, 0, 1000000000000L, &s->lr_warmup);
    case O_LR_PERIOD: return nb_arg_long(cmd, "--lr-period", v, 1, 1000000000000L, &s->lr_period);
    case O_LR_MIN: return nb_arg_double(cmd, "--lr-min", v, 0.0, 1e12, 0, 0, &s->lr_min);
    case O_LINE_SEARCH: s->line_search = 1; return 1;
    case O_ARMIJO_C: return nb_arg_double(cmd, "--armijo-c", v, 0.0, 1.0, 1, 1, &s->armijo_c);
    case O_OPTIM:
        if (nb_optim_parse(v, &s->optim) == NB_OK) return 1;
        nb_cli_usage_error(cmd, "--optim: unknown optimizer '%s' (sgd, momentum, nesterov, adam, "
                                "adamw)", v);
        return 0;
    case O_MOMENTUM: return nb_arg_double(cmd, "--momentum", v, 0.0, 1.0, 0, 1, &s->momentum);
    case O_BETA1: return nb_arg_double(cmd, "--beta1", v, 0.0, 1.0, 0, 1, &s->beta1);
    case O_BETA2: return nb_arg_double(cmd, "--beta2", v, 0.0, 1.0, 0, 1, &s->beta2);
    case O_EPS: return nb_arg_double(cmd, "--eps", v, 0.0, 1.0, 1, 0, &s->eps);
    case O_WEIGHT_DECAY:
        return nb_arg_double(cmd, "--weight-decay", v, 0.0, 1e6, 0, 0, &s->weight_decay);
    case O_CLIP_NORM: return nb_arg_double(cmd, "--clip-norm", v, 0.0, 1e30, 1, 0, &s->clip_norm);
    case O_EPOCHS:
        if (epochs_set) *epochs_set = 1;
        return nb_arg_long(cmd, "--epochs", v, 0, 1000000000L, &s->max_epochs);
    case O_ITERS: return nb_arg_long(cmd, "--iters", v, 1, 1000000000000L, &s->max_iters);
    case O_TARGET_LOSS:
        return nb_arg_double(cmd, "--target-loss", v, -1e30, 1e30, 0, 0, &s->target_loss);
    case O_TOL_GRAD: return nb_arg_double(cmd, "--tol-grad", v, 0.0, 1e30, 1, 0, &s->tol_grad);
    case O_TIME_LIMIT: return parse_duration(cmd, v, &s->time_limit);
    case O_PLATEAU_TOL:
        if (!nb_arg_double(cmd, "--plateau-tol", v, 0.0, 1.0, 1, 0, &s->plateau_tol)) return 0;
        if (s->plateau_patience == 0) s->plateau_patience = 5;
        return 1;
    case O_PLATEAU_PATIENCE:
        return nb_arg_long(cmd, "--plateau-patience", v, 1, 1000000000L, &s->plateau_patience);
    case O_EARLY_STOP: return nb_arg_long(cmd, "--early-stop", v, 1, 1000000000L, &s->early_stop);
    case O_DIVERGE_FACTOR:
        if (strcmp(v, "0") == 0) return s->diverge_factor = 0.0, 1;
        return nb_arg_double(cmd, "--diverge-factor", v, 1.0, 1e300, 1, 0, &s->diverge_factor);
    case O_CHECK_EVERY:
        return nb_arg_long(cmd, "--check-every", v, 1, 1000000000L, &s->check_every);
    }
    nb_cli_usage_error(cmd, "internal: unknown schedule option %d", c);
    return 0;
}
