/*
 * schedule.c — step sizes and halting rules (see schedule.h).
 *
 * Halting rules are checked at a measured point, before the update that
 * would leave it, so "after k iterations" always describes the point the
 * run ends on.
 */
#include "schedule.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "status.h"

static const char *const optim_names[] = {"sgd", "momentum", "nesterov", "adam", "adamw"};
static const char *const lr_names[] = {"constant", "step", "exp", "inv", "cosine"};

const char *nb_optim_name(nb_optim o)
{
    return (unsigned)o <= (unsigned)NB_OPT_ADAMW ? optim_names[o] : "?";
}
const char *nb_lr_kind_name(nb_lr_kind k)
{
    return (unsigned)k <= (unsigned)NB_LR_COSINE ? lr_names[k] : "?";
}

nb_status nb_optim_parse(const char *name, nb_optim *out)
{
    for (int i = 0; name && i <= (int)NB_OPT_ADAMW; i++)
        if (strcmp(name, optim_names[i]) == 0) return *out = (nb_optim)i, NB_OK;
    return NB_FAIL(NB_ERR_ARG, "nb_optim_parse: unknown optimizer '%s' (sgd, momentum, nesterov, "
                               "adam, adamw)", name ? name : "(null)");
}

nb_status nb_lr_kind_parse(const char *name, nb_lr_kind *out)
{
    for (int i = 0; name && i <= (int)NB_LR_COSINE; i++)
        if (strcmp(name, lr_names[i]) == 0) return *out = (nb_lr_kind)i, NB_OK;
    return NB_FAIL(NB_ERR_ARG, "nb_lr_kind_parse: unknown schedule '%s' (constant, step, exp, inv, "
                               "cosine)", name ? name : "(null)");
}

void nb_schedule_default(nb_schedule *s)
{
    memset(s, 0, sizeof *s);
    s->lr = 0.5;
    s->lr_kind = NB_LR_CONSTANT;
    s->lr_gamma = 0.5;
    s->lr_step = 10;
    s->armijo_c = 1e-4;
    s->ls_max_trials = 60;
    s->optim = NB_OPT_SGD;
    s->momentum = 0.9;
    s->beta1 = 0.9;
    s->beta2 = 0.999;
    s->eps = 1e-8;
    s->max_epochs = 100;
    s->target_loss = NAN;
    s->diverge_factor = 1e3;
    s->check_every = 1;
}

/* Is v finite and within [lo, hi]? */
static bool in(double v, double lo, double hi) { return isfinite(v) && v >= lo && v <= hi; }

nb_status nb_schedule_check(const char *fn, const nb_schedule *s, bool full_batch, bool has_val)
{
    const char *bad = NULL;
    if (!s) return NB_FAIL(NB_ERR_ARG, "%s: schedule is NULL", fn);
    if (!(s->lr > 0.0) || !isfinite(s->lr)) bad = "the learning rate must be a positive finite number";
    else if ((unsigned)s->lr_kind > (unsigned)NB_LR_COSINE) bad = "unknown step-size schedule";
    else if ((s->lr_kind == NB_LR_STEP || s->lr_kind == NB_LR_EXP) && !(in(s->lr_gamma, 0, 1) && s->lr_gamma > 0))
        bad = "lr_gamma must be in (0, 1]";
    else if (s->lr_kind == NB_LR_STEP && s->lr_step < 1) bad = "lr_step must be >= 1";
    else if (!in(s->lr_decay, 0, INFINITY) || !in(s->lr_min, 0, INFINITY) || s->lr_warmup < 0 || s->lr_period < 0)
        bad = "lr_decay, lr_min, lr_warmup and lr_period must be >= 0";
    else if (s->lr_kind == NB_LR_COSINE && s->lr_period == 0 && s->max_iters == 0 && s->max_epochs == 0)
        bad = "the cosine schedule needs a period: lr_period, max_iters or max_epochs";
    else if (s->line_search && (!full_batch || s->optim != NB_OPT_SGD || s->lr_kind != NB_LR_CONSTANT))
        bad = "the line search needs full-batch plain gradient descent (sgd, constant schedule)";
    else if (s->line_search && (!in(s->armijo_c, 0, 1) || s->armijo_c == 0 || s->armijo_c == 1 || s->ls_max_trials < 1))
        bad = "armijo_c must be in (0, 1) and ls_max_trials >= 1";
    else if ((unsigned)s->optim > (unsigned)NB_OPT_ADAMW) bad = "unknown optimizer";
    else if (!(in(s->momentum, 0, 1) && s->momentum < 1) || !(in(s->beta1, 0, 1) && s->beta1 < 1) ||
             !(in(s->beta2, 0, 1) && s->beta2 < 1) || !(s->eps > 0) || !isfinite(s->eps))
        bad = "momentum, beta1, beta2 must be in [0, 1) and eps > 0";
    else if (!in(s->weight_decay, 0, INFINITY) || !in(s->clip_norm, 0, INFINITY))
        bad = "weight_decay and clip_norm must be >= 0";
    else if (s->max_iters < 0 || s->max_epochs < 0 || s->plateau_patience < 0 || s->early_stop < 0)
        bad = "negative iteration, epoch or patience limit";
    else if (!in(s->tol_grad, 0, INFINITY) || !in(s->time_limit, 0, INFINITY) || !in(s->plateau_tol, 0, 1))
        bad = "tol_grad and time_limit must be finite and >= 0, plateau_tol in [0, 1]";
    else if (isinf(s->target_loss)) bad = "target loss must be finite (NaN disables it)";
    else if (s->plateau_tol > 0 && s->plateau_patience == 0) bad = "plateau_tol needs plateau_patience";
    else if (s->early_stop > 0 && !has_val) bad = "early stopping needs validation data";
    else if (!(s->diverge_factor == 0 || s->diverge_factor > 1) || !(s->diverge_factor < INFINITY) || s->check_every < 1)
        bad = "diverge_factor must be 0 or > 1, and check_every >= 1";
    else if (s->max_iters == 0 && s->max_epochs == 0 && isnan(s->target_loss) && s->tol_grad == 0.0 &&
             s->time_limit == 0.0 && s->early_stop == 0 && s->plateau_patience == 0)
        bad = "no halting rule: set an iteration, epoch or time limit, a target loss, a gradient "
              "tolerance, a plateau or early-stopping rule";
    if (bad) return NB_FAIL(NB_ERR_ARG, "%s: %s", fn, bad);
    return NB_OK;
}

double nb_schedule_lr(const nb_schedule *s, long t, long e)
{
    const double a0 = s->lr;
    switch (s->lr_kind) {
    case NB_LR_CONSTANT: return a0;
    case NB_LR_STEP: return a0 * pow(s->lr_gamma, (double)(e / s->lr_step));
    case NB_LR_EXP: return a0 * pow(s->lr_gamma, (double)e);
    case NB_LR_INV: return a0 / (1.0 + s->lr_decay * (double)t);
    case NB_LR_COSINE: {
        long W = s->lr_warmup, T = s->lr_period ? s->lr_period : s->max_iters;
        if (t < W) return a0 * (double)(t + 1) / (double)W;
        if (t >= T || T <= W) return t >= T ? s->lr_min : a0;
        const double pi = 3.14159265358979323846;
        double f = (double)(t - W) / (double)(T - W);
        return s->lr_min + (a0 - s->lr_min) * 0.5 * (1.0 + cos(pi * f));
    }
    }
    return a0;
}

bool nb_schedule_needs_grad_norm(const nb_schedule *s) { return s->tol_grad > 0.0; }

void nb_halt_state_init(nb_halt_state *h)
{
    memset(h, 0, sizeof *h);
    h->best_loss = h->plateau_ref = h->best_val = INFINITY;
    h->loss_avg = NAN;
}

/* "after 412 iterations", or "after 3 epochs (90 iterations)" when they differ. */
static void after(const nb_progress *p, char *buf, size_t n)
{
    if (p->full_batch)
        snprintf(buf, n, "after %ld iteration%s", p->iters, p->iters == 1 ? "" : "s");
    else
        snprintf(buf, n, "after %ld epoch%s (%ld iterations)", p->epochs, p->epochs == 1 ? "" : "s",
                 p->iters);
}

nb_halt nb_schedule_diverged(const nb_schedule *s, nb_halt_state *h, const nb_progress *p,
                             bool params_ok, char *why, size_t why_size)
{
    char when[80];
    after(p, when, sizeof when);
    if (!params_ok) {
        snprintf(why, why_size, "diverged: a parameter became NaN or Inf %s", when);
        return NB_HALT_DIVERGED;
    }
    if (!isfinite(p->loss)) {
        snprintf(why, why_size, "diverged: the loss became %g %s", p->loss, when);
        return NB_HALT_DIVERGED;
    }
    double v = p->smooth;
    if (isnan(v)) return NB_HALT_NONE; /* mini-batch, first epoch: nothing to lean on yet */
    if (s->diverge_factor > 0 && isfinite(h->best_loss) && v > s->diverge_factor * h->best_loss &&
        v > 0) {
        if (p->full_batch)
            snprintf(why, why_size, "diverged: Φ = %.4g > %g × the best %.4g %s", v,
                     s->diverge_factor, h->best_loss, when);
        else
            snprintf(why, why_size, "diverged: the loss over the last epoch's rows %.4g > %g × "
                     "its best %.4g %s", v, s->diverge_factor, h->best_loss, when);
        return NB_HALT_DIVERGED;
    }
    if (v < h->best_loss) h->best_loss = v;
    return NB_HALT_NONE;
}

/* The per-epoch rules: plateau on the training loss, patience on validation. */
static nb_halt epoch_rules(const nb_schedule *s, nb_halt_state *h, const nb_progress *p,
                           const char *when, char *why, size_t why_size)
{
    h->val_improved = false;
    if (s->plateau_patience > 0) {
        double ref = h->plateau_ref;
        double gain = isfinite(ref) && ref != 0 ? (ref - p->loss) / fabs(ref) : INFINITY;
        h->plateau_run = gain < s->plateau_tol ? h->plateau_run + 1 : 0;
        if (p->loss < h->plateau_ref) h->plateau_ref = p->loss;
        if (h->plateau_run >= s->plateau_patience) {
            snprintf(why, why_size, "plateau: Φ improved by less than %g for %ld epochs %s",
                     s->plateau_tol, s->plateau_patience, when);
            return NB_HALT_PLATEAU;
        }
    }
    if (s->early_stop > 0 && !isnan(p->val_loss)) {
        if (p->val_loss < h->best_val) {
            h->best_val = p->val_loss;
            h->since_best_val = 0;
            h->val_improved = true;
        } else if (++h->since_best_val >= s->early_stop) {
            snprintf(why, why_size,
                     "early stop: validation loss %.4g did not improve for %ld epochs %s; "
                     "restored the best (%.4g)", p->val_loss, s->early_stop, when, h->best_val);
            return NB_HALT_EARLY_STOP;
        }
    }
    return NB_HALT_NONE;
}

nb_halt nb_schedule_halt(const nb_schedule *s, nb_halt_state *h, const nb_progress *p, char *why,
                         size_t why_size)
{
    char when[80];
    after(p, when, sizeof when);
    if (s->tol_grad > 0.0 && p->grad_norm <= s->tol_grad) {
        snprintf(why, why_size, "‖∇Φ‖ = %.2g ≤ %.2g %s", p->grad_norm, s->tol_grad, when);
        return NB_HALT_TOL_GRAD;
    }
    if (!isnan(s->target_loss) && p->loss <= s->target_loss) {
        snprintf(why, why_size, "Φ = %.4g ≤ target %.4g %s", p->loss, s->target_loss, when);
        return NB_HALT_TARGET_LOSS;
    }
    if (p->epoch_end) {
        nb_halt e = epoch_rules(s, h, p, when, why, why_size);
        if (e != NB_HALT_NONE) return e;
    }
    if (s->time_limit > 0.0 && p->seconds >= s->time_limit) {
        snprintf(why, why_size, "reached the time limit (%gs) %s", s->time_limit, when);
        return NB_HALT_TIME;
    }
    if (s->max_iters > 0 && p->iters >= s->max_iters) {
        snprintf(why, why_size, "reached the iteration limit (%ld) %s", s->max_iters, when);
        return NB_HALT_MAX_ITERS;
    }
    if (s->max_epochs > 0 && p->epochs >= s->max_epochs) {
        snprintf(why, why_size, "reached the epoch limit (%ld) %s", s->max_epochs, when);
        return NB_HALT_MAX_EPOCHS;
    }
    return NB_HALT_NONE;
}
