/*
 * descent.c — the descent loop shared by every objective, and nb_descend,
 * gradient descent on a host function of doubles.
 */
#include "descent.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "schedule.h"
#include "status.h"

static void result_init(nb_result *res)
{
    memset(res, 0, sizeof *res);
    res->loss = res->grad_norm = res->val_loss = res->val_acc = NAN;
}

/* A measured value that is NaN or ±Inf ends the run. */
static nb_status check_finite(const nb_progress *p, bool grad_measured)
{
    if (!isfinite(p->loss) || (grad_measured && !isfinite(p->grad_norm)))
        return NB_FAIL(NB_ERR_NONFINITE,
                       "nb_descent: the %s became %g after %ld iterations (step size too large?)",
                       isfinite(p->loss) ? "gradient norm" : "loss",
                       isfinite(p->loss) ? p->grad_norm : p->loss, p->iters);
    return NB_OK;
}

/* Report (when due) and record the epoch; may turn `halt` into CALLBACK. */
static nb_status report_epoch(const nb_objective *o, const nb_progress *p, double lr, double t0,
                              bool due, nb_halt *halt, nb_result *res)
{
    nb_epoch_stats s = {p->epochs, p->iters, p->loss, p->grad_norm, NAN, NAN, lr, nb_now() - t0};
    int stop = 0;
    if (o->report && due) {
        NB_TRY(o->report(o->ctx, &s, &stop));
        res->val_loss = s.val_loss;
        res->val_acc = s.val_acc;
    }
    res->iters = p->iters;
    res->epochs = p->epochs;
    res->loss = p->loss;
    res->grad_norm = p->grad_norm;
    if (stop && *halt == NB_HALT_NONE) {
        *halt = NB_HALT_CALLBACK;
        snprintf(res->why, sizeof res->why, "stopped by the progress callback after %ld iterations",
                 p->iters);
    }
    return NB_OK;
}

/* Full batch: measure Φ and ∇Φ at x_k, check the rules, then step. */
static nb_status run_full(const nb_objective *o, const nb_schedule *s, long every, double t0,
                          nb_result *res)
{
    nb_progress p = {0, 0, NAN, NAN, true};
    nb_halt halt = NB_HALT_NONE;
    for (;;) {
        NB_TRY(o->gradient(o->ctx, 0, &p.loss));
        NB_TRY(o->grad_norm(o->ctx, &p.grad_norm));
        NB_TRY(check_finite(&p, true));
        halt = nb_schedule_halt(s, &p, res->why, sizeof res->why);
        double lr = nb_schedule_lr(s, p.iters, p.epochs);
        NB_TRY(report_epoch(o, &p, lr, t0, halt != NB_HALT_NONE || p.iters % every == 0, &halt,
                            res));
        if (halt != NB_HALT_NONE) break;
        NB_TRY(o->step(o->ctx, lr));
        p.iters++;
        p.epochs++;
    }
    res->halt = halt;
    return NB_OK;
}

/* Mini-batch: an epoch of steps, then measure and check the rules. */
static nb_status run_batches(const nb_objective *o, const nb_schedule *s, long every,
                             bool measure_grad, double t0, nb_result *res)
{
    nb_progress p = {0, 0, NAN, NAN, false};
    nb_halt halt = NB_HALT_NONE;
    double lr = nb_schedule_lr(s, 0, 0);
    bool iters_spent = false;
    while (halt == NB_HALT_NONE) {
        if (o->epoch_begin) NB_TRY(o->epoch_begin(o->ctx, p.epochs));
        for (long b = 0; b < o->batches; b++) {
            lr = nb_schedule_lr(s, p.iters, p.epochs);
            NB_TRY(o->gradient(o->ctx, b, NULL));
            NB_TRY(o->step(o->ctx, lr));
            p.iters++;
            if (s->max_iters > 0 && p.iters >= s->max_iters) {
                iters_spent = true;
                break;
            }
        }
        p.epochs++;
        bool due = p.epochs % every == 0;
        NB_TRY(o->epoch_loss(o->ctx, &p.loss));
        p.grad_norm = NAN;
        bool want_grad = nb_schedule_needs_grad_norm(s) || (measure_grad && due);
        if (want_grad) NB_TRY(o->exact(o->ctx, &p.loss, &p.grad_norm));
        NB_TRY(check_finite(&p, want_grad));
        halt = nb_schedule_halt(s, &p, res->why, sizeof res->why);
        if (iters_spent && halt == NB_HALT_NONE) halt = NB_HALT_MAX_ITERS; /* mid-epoch stop */
        NB_TRY(report_epoch(o, &p, lr, t0, due || halt != NB_HALT_NONE, &halt, res));
    }
    res->halt = halt;
    return NB_OK;
}

nb_status nb_descent_run(const nb_objective *o, const nb_schedule *s, long report_every,
                         bool measure_grad, nb_result *res)
{
    NB_TRY(nb_schedule_check("nb_descent", s));
    if (report_every < 1) return NB_FAIL(NB_ERR_ARG, "nb_descent: report_every %ld < 1", report_every);
    double t0 = nb_now();
    result_init(res);
    nb_status st = o->batches <= 1 ? run_full(o, s, report_every, t0, res)
                                   : run_batches(o, s, report_every, measure_grad, t0, res);
    res->seconds = nb_now() - t0;
    return st;
}

/* ------------------------------------------- descent on a host function */

typedef struct fn_ctx {
    const nb_problem *p;
    double *x;    /* (n) current point, the caller's array */
    double *g;    /* (n) gradient at x                     */
    double value; /* Φ(x)                                  */
} fn_ctx;

static nb_status fn_gradient(void *vctx, long b, double *loss)
{
    fn_ctx *c = vctx;
    (void)b;
    NB_TRY(c->p->f(c->p->user, c->p->n, c->x, &c->value, c->g));
    *loss = c->value;
    return NB_OK;
}

static nb_status fn_grad_norm(void *vctx, double *norm)
{
    fn_ctx *c = vctx;
    /* Scaled by the largest entry so the sum of squares cannot overflow
     * while the gradient itself is finite. */
    double big = 0.0, s = 0.0;
    for (size_t i = 0; i < c->p->n; i++) big = fmax(big, fabs(c->g[i]));
    if (big == 0.0 || !isfinite(big)) return *norm = big, NB_OK;
    for (size_t i = 0; i < c->p->n; i++) s += (c->g[i] / big) * (c->g[i] / big);
    *norm = big * sqrt(s);
    return NB_OK;
}

static nb_status fn_step(void *vctx, double lr)
{
    fn_ctx *c = vctx;
    for (size_t i = 0; i < c->p->n; i++) c->x[i] -= lr * c->g[i];
    return NB_OK;
}

static nb_status fn_report(void *vctx, nb_epoch_stats *s, int *stop)
{
    fn_ctx *c = vctx;
    if (c->p->on_iterate) *stop = c->p->on_iterate(c->p->user, s->iters, c->p->n, c->x, c->value, c->g);
    return NB_OK;
}

nb_status nb_descend(const nb_problem *p, const nb_schedule *s, double *x, nb_result *res)
{
    if (!p || !p->f || !x || !res || p->n == 0)
        return NB_FAIL(NB_ERR_ARG, "nb_descend: need a problem with n > 0 and f, x and res");
    fn_ctx c = {p, x, calloc(p->n, sizeof(double)), NAN};
    if (!c.g) return NB_NOMEM("nb_descend", p->n * sizeof(double));
    nb_objective o = {.ctx = &c, .batches = 1, .gradient = fn_gradient,
                      .grad_norm = fn_grad_norm, .step = fn_step, .report = fn_report};
    nb_status st = nb_descent_run(&o, s, 1, false, res);
    free(c.g);
    return st;
}
