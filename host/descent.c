/*
 * descent.c — the descent loop shared by every objective, and nb_descend,
 * descent on a host function of doubles.
 *
 * Per measured point the loop: guards against divergence (and saves the
 * point as the last good one), measures validation when a rule or report
 * needs it, consults the halting rules, reports, and then steps — with the
 * schedule's α, or with α from the backtracking line search.
 */
#include "descent.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "schedule.h"
#include "status.h"

/* State of one run of the loop. */
typedef struct run {
    const nb_objective *o;
    const nb_schedule *s;
    nb_result *res;
    nb_halt_state h;
    long every;     /* report every this many epochs */
    double t0;
    double ls_alpha; /* the line search's next starting α */
    int trials;      /* Φ evaluations of the last line search */
    double lr;       /* α of the last step */
} run;

static void result_init(nb_result *res)
{
    memset(res, 0, sizeof *res);
    res->loss = res->grad_norm = res->val_loss = res->val_acc = res->lr = NAN;
}

static void record(run *r, const nb_progress *p)
{
    r->res->iters = p->iters;
    r->res->epochs = p->epochs;
    r->res->loss = p->loss;
    r->res->grad_norm = p->grad_norm;
    r->res->lr = r->lr;
}

/*
 * The divergence guard at a measured point: a NaN/Inf loss or parameter,
 * or a loss past the factor, puts the last good parameters back and ends
 * the run with an error; otherwise this point becomes the last good one.
 */
static nb_status guard(run *r, const nb_progress *p)
{
    bool bad = false;
    NB_TRY(r->o->params_bad(r->o->ctx, &bad));
    nb_halt d = nb_schedule_diverged(r->s, &r->h, p, !bad, r->res->why, sizeof r->res->why);
    if (d == NB_HALT_NONE) return r->o->snapshot(r->o->ctx, NB_SNAP_GOOD);
    record(r, p);
    r->res->halt = d;
    NB_TRY(r->o->restore(r->o->ctx, NB_SNAP_GOOD));
    bool nonfinite = bad || !isfinite(p->loss);
    return NB_FAIL(nonfinite ? NB_ERR_NONFINITE : NB_ERR_DIVERGED,
                   "%s: %s; the last good parameters were restored", r->o->name, r->res->why);
}

/* Validation (when a rule or the report needs it), halting, report. */
static nb_status conclude(run *r, nb_progress *p, bool due, nb_halt *halt)
{
    const nb_objective *o = r->o;
    double val_acc = NAN;
    p->val_loss = NAN;
    if (o->validate && o->has_val && (due || r->s->early_stop > 0))
        NB_TRY(o->validate(o->ctx, &p->val_loss, &val_acc));
    p->seconds = nb_now() - r->t0;
    if (o->agree && r->s->time_limit > 0) /* the time limit on the slowest clock */
        NB_TRY(o->agree(o->ctx, &p->seconds, 1));
    if (*halt == NB_HALT_NONE) *halt = nb_schedule_halt(r->s, &r->h, p, r->res->why, sizeof r->res->why);
    if (r->h.val_improved) NB_TRY(o->snapshot(o->ctx, NB_SNAP_BEST));
    record(r, p);
    if (!isnan(p->val_loss)) r->res->val_loss = p->val_loss, r->res->val_acc = val_acc;
    if (o->report && (due || *halt != NB_HALT_NONE)) {
        nb_epoch_stats st = {p->epochs, p->iters, p->loss, p->grad_norm, p->val_loss, val_acc,
                             r->lr, r->trials, p->seconds};
        int stop = 0;
        NB_TRY(o->report(o->ctx, &st, &stop));
        if (o->agree) {
            double any = stop != 0;
            NB_TRY(o->agree(o->ctx, &any, 1));
            stop = any != 0.0;
        }
        if (!isnan(st.val_loss)) r->res->val_loss = st.val_loss, r->res->val_acc = st.val_acc;
        if (stop && *halt == NB_HALT_NONE) {
            *halt = NB_HALT_CALLBACK;
            snprintf(r->res->why, sizeof r->res->why,
                     "stopped by the progress callback after %ld iterations", p->iters);
        }
    }
    if (*halt == NB_HALT_EARLY_STOP) {
        /* Back to the best point: what the run reports is measured there. */
        NB_TRY(o->restore(o->ctx, NB_SNAP_BEST));
        NB_TRY(o->validate(o->ctx, &r->res->val_loss, &r->res->val_acc));
    }
    return NB_OK;
}

/* done: batches of an unfinished epoch (an interrupted run), else 0. */
static nb_status epoch_end(run *r, const nb_progress *p, nb_halt halt, long done)
{
    if (!r->o->epoch_end) return NB_OK;
    nb_descent_state st = {p->iters, p->epochs, done, r->h, r->ls_alpha};
    return r->o->epoch_end(r->o->ctx, &st, halt != NB_HALT_NONE);
}

/*
 * Has the run been interrupted, and (late, when not NULL) is its time up?
 * Agreed over the processes of a spread objective, so all of them stop at
 * the same update; asked only when an interrupt or a time limit can fire.
 */
static nb_status interrupted(const run *r, bool *intr, bool *late)
{
    const nb_objective *o = r->o;
    bool timed = late && r->s->time_limit > 0;
    double v[2] = {o->interrupt && *o->interrupt != 0,
                   timed && nb_now() - r->t0 >= r->s->time_limit};
    if (o->agree && (o->interrupt || timed)) NB_TRY(o->agree(o->ctx, v, timed ? 2 : 1));
    *intr = v[0] != 0.0;
    if (late) *late = v[1] != 0.0;
    return NB_OK;
}

/* After a measured point's rules: an interrupt that came meanwhile ends
 * the run here, at a point that is complete (measured and guarded). */
static nb_status check_interrupt(run *r, const nb_progress *p, nb_halt *halt)
{
    bool intr;
    if (*halt != NB_HALT_NONE) return NB_OK;
    NB_TRY(interrupted(r, &intr, NULL));
    if (!intr) return NB_OK;
    *halt = NB_HALT_INTERRUPTED;
    char when[80];
    if (p->full_batch)
        snprintf(when, sizeof when, "%ld iteration%s", p->iters, p->iters == 1 ? "" : "s");
    else
        snprintf(when, sizeof when, "%ld epoch%s (%ld iterations)", p->epochs,
                 p->epochs == 1 ? "" : "s", p->iters);
    snprintf(r->res->why, sizeof r->res->why, "interrupted after %s", when);
    return NB_OK;
}

/*
 * Backtracking from the current α: accept the first α (halving each time)
 * with Φ(θ − α g) ≤ Φ(θ) − c α ‖g‖² (Armijo). After an acceptance on the
 * first trial the next search starts from 2α, so α can grow back.
 */
static nb_status line_search(run *r, double loss, double gnorm, nb_halt *halt, const nb_progress *p)
{
    const nb_objective *o = r->o;
    double alpha = r->ls_alpha, g2 = gnorm * gnorm;
    NB_TRY(o->snapshot(o->ctx, NB_SNAP_TRIAL));
    for (r->trials = 1;; r->trials++) {
        double trial;
        NB_TRY(o->trial(o->ctx, alpha, &trial));
        r->res->evals++;
        if (trial <= loss - r->s->armijo_c * alpha * g2) break; /* NaN never passes */
        if (r->trials >= r->s->ls_max_trials || alpha * gnorm == 0.0) {
            NB_TRY(o->restore(o->ctx, NB_SNAP_TRIAL));
            *halt = NB_HALT_LINE_SEARCH;
            snprintf(r->res->why, sizeof r->res->why,
                     "line search: no decrease after %d trials down to α = %.3g, after %ld "
                     "iterations", r->trials, alpha, p->iters);
            return NB_OK;
        }
        alpha *= 0.5;
    }
    r->lr = alpha;
    r->ls_alpha = r->trials == 1 ? 2.0 * alpha : alpha;
    return NB_OK;
}

/* Full batch: measure Φ and ∇Φ at x_k, guard, check the rules, then step. */
static nb_status run_full(run *r, long iters)
{
    const nb_objective *o = r->o;
    const nb_schedule *s = r->s;
    nb_progress p = {.iters = iters, .epochs = iters, .loss = NAN, .grad_norm = NAN,
                     .val_loss = NAN, .smooth = NAN, .full_batch = true, .epoch_end = true};
    nb_halt halt = NB_HALT_NONE;
    for (;;) {
        NB_TRY(o->gradient(o->ctx, 0, &p.loss));
        r->res->evals++, r->res->grad_evals++;
        NB_TRY(o->grad_norm(o->ctx, &p.grad_norm));
        if (!isfinite(p.grad_norm) && isfinite(p.loss)) p.loss = p.grad_norm; /* guard catches it */
        p.smooth = p.loss; /* exact: nothing to smooth */
        NB_TRY(guard(r, &p));
        NB_TRY(conclude(r, &p, p.iters % r->every == 0, &halt));
        NB_TRY(check_interrupt(r, &p, &halt));
        NB_TRY(epoch_end(r, &p, halt, 0));
        if (halt != NB_HALT_NONE) break;
        if (s->line_search) {
            NB_TRY(line_search(r, p.loss, p.grad_norm, &halt, &p));
            if (halt != NB_HALT_NONE) break;
        } else {
            r->lr = nb_schedule_lr(s, p.iters, p.epochs);
            nb_optim_step st = nb_optim_make_step(s, r->lr, p.iters + 1);
            NB_TRY(o->step(o->ctx, &st));
        }
        p.iters++;
        p.epochs++;
    }
    r->res->halt = halt;
    return NB_OK;
}

/*
 * The unfinished epoch's loss so far: its mean into p->loss (NaN once any
 * batch's was) and the divergence statistic into p->smooth: the mean over
 * the last epoch's worth of rows, this epoch's rows so far and the rest at
 * the last finished epoch's mean. One lucky or unlucky batch moves it by
 * at most its share of an epoch, so a batch with a loss near 0 can neither
 * set a best that healthy batches then seem to exceed 1000-fold, nor stop
 * the run by itself. At an epoch's end it is the epoch's mean.
 */
static nb_status running_loss(run *r, nb_progress *p, bool epoch_done)
{
    double sum, rows;
    NB_TRY(r->o->epoch_loss(r->o->ctx, &sum, &rows));
    double R = r->o->epoch_rows, prev = r->h.loss_avg;
    p->loss = rows > 0 ? sum / rows : NAN;
    if (isnan(prev)) /* first epoch: only a whole one counts */
        p->smooth = epoch_done ? p->loss : NAN;
    else
        p->smooth = (sum + fmax(R - rows, 0.0) * prev) / R;
    return NB_OK;
}

/*
 * One epoch of mini-batch steps from batch `first` (non-zero when a run
 * interrupted inside an epoch resumes), guarded every check_every updates.
 * It ends early when the iteration or time budget runs out, and when an
 * interrupt comes before the epoch's last batch: *cut is then the number
 * of its batches done.
 */
static nb_status epoch_of_steps(run *r, nb_progress *p, long first, long *cut)
{
    const nb_objective *o = r->o;
    const nb_schedule *s = r->s;
    *cut = 0;
    if (o->epoch_begin) NB_TRY(o->epoch_begin(o->ctx, p->epochs));
    for (long b = first; b < o->batches; b++) {
        r->lr = nb_schedule_lr(s, p->iters, p->epochs);
        NB_TRY(o->gradient(o->ctx, b, NULL));
        r->res->evals++, r->res->grad_evals++;
        nb_optim_step st = nb_optim_make_step(s, r->lr, p->iters + 1);
        NB_TRY(o->step(o->ctx, &st));
        p->iters++;
        if (p->iters % s->check_every == 0) {
            NB_TRY(running_loss(r, p, false));
            NB_TRY(guard(r, p));
        }
        bool intr, out_of_time;
        NB_TRY(interrupted(r, &intr, &out_of_time));
        if (intr && b + 1 < o->batches) return *cut = b + 1, NB_OK;
        if ((s->max_iters > 0 && p->iters >= s->max_iters) || out_of_time) break;
    }
    return NB_OK;
}

/*
 * An interrupt inside an epoch: guard the point, measure what the result
 * reports (the epoch's loss so far, validation), and hand the checkpoint
 * the unfinished epoch's place. No epoch report: the epoch is not over,
 * and the per-epoch rules do not apply to a part of one.
 */
static nb_status stop_inside_epoch(run *r, nb_progress *p, long done)
{
    const nb_objective *o = r->o;
    NB_TRY(running_loss(r, p, false));
    p->grad_norm = NAN;
    NB_TRY(guard(r, p));
    p->seconds = nb_now() - r->t0;
    record(r, p);
    if (o->validate && o->has_val)
        NB_TRY(o->validate(o->ctx, &r->res->val_loss, &r->res->val_acc));
    snprintf(r->res->why, sizeof r->res->why,
             "interrupted after %ld epoch%s and %ld of %ld batches (%ld iteration%s)", p->epochs,
             p->epochs == 1 ? "" : "s", done, o->batches, p->iters, p->iters == 1 ? "" : "s");
    return epoch_end(r, p, NB_HALT_INTERRUPTED, done);
}

/* Mini-batch: an epoch of steps, then measure, guard and check the rules. */
static nb_status run_batches(run *r, bool measure_grad, long iters, long epochs, long first)
{
    const nb_objective *o = r->o;
    nb_progress p = {.iters = iters, .epochs = epochs, .loss = NAN, .grad_norm = NAN,
                     .val_loss = NAN, .smooth = NAN, .full_batch = false, .epoch_end = true};
    nb_halt halt = NB_HALT_NONE;
    while (halt == NB_HALT_NONE) {
        long cut;
        NB_TRY(epoch_of_steps(r, &p, first, &cut));
        first = 0;
        if (cut > 0) {
            NB_TRY(stop_inside_epoch(r, &p, cut));
            halt = NB_HALT_INTERRUPTED;
            break;
        }
        p.epochs++;
        bool due = p.epochs % r->every == 0;
        NB_TRY(running_loss(r, &p, true));
        double epoch_mean = p.loss;
        p.grad_norm = NAN;
        if (nb_schedule_needs_grad_norm(r->s) || (measure_grad && due)) {
            NB_TRY(o->exact(o->ctx, &p.loss, &p.grad_norm));
            r->res->evals++, r->res->grad_evals++;
        }
        NB_TRY(guard(r, &p));
        r->h.loss_avg = epoch_mean;
        /* A budget that ran out mid-epoch fires here: p.iters and the
         * clock are already past it. */
        NB_TRY(conclude(r, &p, due, &halt));
        NB_TRY(check_interrupt(r, &p, &halt));
        NB_TRY(epoch_end(r, &p, halt, 0));
    }
    r->res->halt = halt;
    return NB_OK;
}

/*
 * A resumed run whose epoch or update budget is already spent trains
 * nothing and saves nothing: it measures where it stands, for the result,
 * and says so.
 */
static bool budget_spent(const nb_schedule *s, const nb_descent_state *st, nb_halt *halt,
                         char *why, size_t n)
{
    if (s->max_iters > 0 && st->iters >= s->max_iters) {
        *halt = NB_HALT_MAX_ITERS;
        snprintf(why, n, "the iteration limit (%ld) was already reached after %ld iterations: "
                 "nothing to train", s->max_iters, st->iters);
        return true;
    }
    if (s->max_epochs > 0 && st->epochs >= s->max_epochs) {
        *halt = NB_HALT_MAX_EPOCHS;
        snprintf(why, n, "the epoch limit (%ld) was already reached after %ld epochs: nothing "
                 "to train", s->max_epochs, st->epochs);
        return true;
    }
    return false;
}

static nb_status measure_only(run *r, const nb_descent_state *st)
{
    const nb_objective *o = r->o;
    nb_result *res = r->res;
    res->iters = st->iters, res->epochs = st->epochs;
    if (o->batches <= 1)
        NB_TRY(o->gradient(o->ctx, 0, &res->loss));
    else
        NB_TRY(o->exact(o->ctx, &res->loss, &res->grad_norm));
    res->evals++, res->grad_evals++;
    if (o->batches <= 1) NB_TRY(o->grad_norm(o->ctx, &res->grad_norm));
    if (o->validate && o->has_val) NB_TRY(o->validate(o->ctx, &res->val_loss, &res->val_acc));
    return NB_OK;
}

/* The cosine schedule's period T defaults to the update budget. */
static nb_schedule resolve_period(const nb_schedule *s, long batches)
{
    nb_schedule e = *s;
    if (e.lr_kind != NB_LR_COSINE || e.lr_period > 0) return e;
    long T = e.max_iters;
    if (e.max_epochs > 0) {
        long by_epochs = e.max_epochs > NB_COUNT_MAX / batches ? NB_COUNT_MAX : e.max_epochs * batches;
        T = T > 0 && T < by_epochs ? T : by_epochs;
    }
    e.lr_period = T;
    return e;
}

nb_status nb_descent_run(const nb_objective *o, const nb_schedule *s, long report_every,
                         bool measure_grad, const nb_descent_state *start, nb_result *res)
{
    NB_TRY(nb_schedule_check(o->name, s, o->batches <= 1, o->has_val));
    if (report_every < 1) return NB_FAIL(NB_ERR_ARG, "%s: report_every %ld < 1", o->name, report_every);
    if (o->batches < 1) return NB_FAIL(NB_ERR_INTERNAL, "%s: %ld batches per epoch", o->name, o->batches);
    /* Counters near LONG_MAX would overflow below; a checkpoint's are
     * range-checked when read, this is the loop's own guard. */
    if (start && (start->iters < 0 || start->iters > NB_COUNT_MAX || start->epochs < 0 ||
                  start->epochs > NB_COUNT_MAX || start->batch < 0 || start->batch >= o->batches ||
                  (o->batches <= 1 && start->iters != start->epochs)))
        return NB_FAIL(NB_ERR_ARG, "%s: resume state out of range (%ld iterations, %ld epochs, "
                       "batch %ld of %ld)", o->name, start->iters, start->epochs, start->batch,
                       o->batches);
    result_init(res);
    /* The starting point is the first good one: a run whose first
     * measured point is already non-finite goes back to it. */
    NB_TRY(o->snapshot(o->ctx, NB_SNAP_GOOD));
    nb_schedule eff = resolve_period(s, o->batches);
    run r = {.o = o, .s = &eff, .res = res, .every = report_every, .t0 = nb_now(),
             .ls_alpha = s->lr, .lr = NAN};
    nb_halt_state_init(&r.h);
    long iters = 0, epochs = 0, first = 0;
    if (start) {
        r.h = start->halt;
        r.ls_alpha = start->ls_alpha;
        iters = start->iters, epochs = start->epochs, first = start->batch;
        if (budget_spent(&eff, start, &res->halt, res->why, sizeof res->why)) {
            nb_status st = measure_only(&r, start);
            res->seconds = nb_now() - r.t0;
            res->updates = 0;
            return st;
        }
    }
    nb_status st = o->batches <= 1 ? run_full(&r, iters)
                                   : run_batches(&r, measure_grad, iters, epochs, first);
    res->seconds = nb_now() - r.t0;
    res->updates = res->iters > iters ? res->iters - iters : 0; /* 0 if it failed before any point */
    return st;
}

/* ------------------------------------------- descent on a host function */

typedef struct fn_ctx {
    const nb_problem *p;
    size_t n;
    double *x;        /* (n) current point: the caller's array        */
    double *g;        /* (n) gradient at x                            */
    double *scratch;  /* (n) gradient of line-search trials (unused)  */
    double *state;    /* (2n) optimizer m, v                          */
    double *snap[3];  /* (n each) NB_SNAP_* copies                    */
    double value;     /* Φ(x)                                         */
    bool bad;         /* a step produced a non-finite coordinate      */
} fn_ctx;

static nb_status fn_gradient(void *vctx, long b, double *loss)
{
    fn_ctx *c = vctx;
    (void)b;
    NB_TRY(c->p->f(c->p->user, c->n, c->x, &c->value, c->g));
    *loss = c->value;
    return NB_OK;
}

static nb_status fn_grad_norm(void *vctx, double *norm)
{
    fn_ctx *c = vctx;
    /* Scaled by the largest entry so the sum of squares cannot overflow
     * while the gradient itself is finite. */
    double big = 0.0, s = 0.0;
    for (size_t i = 0; i < c->n; i++) big = fmax(big, fabs(c->g[i]));
    for (size_t i = 0; i < c->n; i++) big = isnan(c->g[i]) ? NAN : big;
    if (big == 0.0 || !isfinite(big)) return *norm = big, NB_OK;
    for (size_t i = 0; i < c->n; i++) s += (c->g[i] / big) * (c->g[i] / big);
    *norm = big * sqrt(s);
    return NB_OK;
}

static nb_status fn_step(void *vctx, const nb_optim_step *st)
{
    fn_ctx *c = vctx;
    double g2 = 0.0;
    if (st->clip_norm > 0)
        for (size_t i = 0; i < c->n; i++) g2 += c->g[i] * c->g[i];
    double scale = nb_clip_scale(st->clip_norm, g2);
    for (size_t i = 0; i < c->n; i++) {
        nb_optim_elem(st, scale * c->g[i], &c->x[i], &c->state[i], &c->state[c->n + i]);
        if (!isfinite(c->x[i])) c->bad = true;
    }
    return NB_OK;
}

static nb_status fn_params_bad(void *vctx, bool *bad)
{
    fn_ctx *c = vctx;
    *bad = c->bad;
    c->bad = false;
    return NB_OK;
}

static nb_status fn_snapshot(void *vctx, int slot)
{
    fn_ctx *c = vctx;
    memcpy(c->snap[slot], c->x, c->n * sizeof(double));
    return NB_OK;
}

static nb_status fn_restore(void *vctx, int slot)
{
    fn_ctx *c = vctx;
    memcpy(c->x, c->snap[slot], c->n * sizeof(double));
    return NB_OK;
}

static nb_status fn_trial(void *vctx, double alpha, double *loss)
{
    fn_ctx *c = vctx;
    for (size_t i = 0; i < c->n; i++) c->x[i] = c->snap[NB_SNAP_TRIAL][i] - alpha * c->g[i];
    return c->p->f(c->p->user, c->n, c->x, loss, c->scratch);
}

static nb_status fn_report(void *vctx, nb_epoch_stats *s, int *stop)
{
    fn_ctx *c = vctx;
    if (!c->p->on_iterate) return NB_OK;
    nb_iterate it = {s->iters, c->n, c->x, c->value, c->g, s->iters ? s->lr : NAN,
                     s->iters ? s->trials : 0};
    *stop = c->p->on_iterate(c->p->user, &it);
    return NB_OK;
}

nb_status nb_descend(const nb_problem *p, const nb_schedule *s, double *x, nb_result *res)
{
    if (!p || !p->f || !x || !res || p->n == 0)
        return NB_FAIL(NB_ERR_ARG, "nb_descend: need a problem with n > 0 and f, x and res");
    size_t n = p->n;
    fn_ctx c = {p, n, x, NULL, NULL, NULL, {NULL, NULL, NULL}, NAN, false};
    double *all = calloc(8 * n, sizeof(double)); /* g, scratch, m, v, 3 snapshots, spare */
    if (!all) return NB_NOMEM("nb_descend", 8 * n * sizeof(double));
    c.g = all, c.scratch = all + n, c.state = all + 2 * n;
    for (int i = 0; i < 3; i++) c.snap[i] = all + (4 + (size_t)i) * n;
    memcpy(c.snap[NB_SNAP_GOOD], x, n * sizeof(double));
    nb_objective o = {.name = "nb_descend", .ctx = &c, .batches = 1, .gradient = fn_gradient, .grad_norm = fn_grad_norm,
                      .step = fn_step, .params_bad = fn_params_bad, .snapshot = fn_snapshot,
                      .restore = fn_restore, .trial = fn_trial, .report = fn_report};
    nb_status st = nb_descent_run(&o, s, 1, false, NULL, res);
    free(all);
    return st;
}
