/*
 * schedule.c — step size and halting rules (see schedule.h).
 *
 * The step size is a constant α for now. Halting rules are checked at a
 * measured point, before the update that would leave it, so "after k
 * iterations" always describes the point the run ends on.
 */
#include "schedule.h"

#include <math.h>
#include <stdio.h>

#include "status.h"

void nb_schedule_default(nb_schedule *s)
{
    s->lr = 0.5;
    s->max_iters = 0;
    s->max_epochs = 100;
    s->target_loss = NAN;
    s->tol_grad = 0.0;
}

nb_status nb_schedule_check(const char *fn, const nb_schedule *s)
{
    if (!s) return NB_FAIL(NB_ERR_ARG, "%s: schedule is NULL", fn);
    if (!(s->lr > 0.0) || !isfinite(s->lr))
        return NB_FAIL(NB_ERR_ARG, "%s: learning rate %g must be a positive finite number", fn,
                       s->lr);
    if (s->max_iters < 0 || s->max_epochs < 0)
        return NB_FAIL(NB_ERR_ARG, "%s: negative iteration or epoch limit", fn);
    if (!(s->tol_grad >= 0.0) || isinf(s->tol_grad))
        return NB_FAIL(NB_ERR_ARG, "%s: gradient tolerance %g must be finite and >= 0", fn,
                       s->tol_grad);
    if (isinf(s->target_loss))
        return NB_FAIL(NB_ERR_ARG, "%s: target loss must be finite (NaN disables it)", fn);
    if (s->max_iters == 0 && s->max_epochs == 0 && isnan(s->target_loss) && s->tol_grad == 0.0)
        return NB_FAIL(NB_ERR_ARG, "%s: no halting rule: set an iteration or epoch limit, a "
                                   "target loss or a gradient tolerance", fn);
    return NB_OK;
}

double nb_schedule_lr(const nb_schedule *s, long iter, long epoch)
{
    (void)iter;
    (void)epoch;
    return s->lr;
}

bool nb_schedule_needs_grad_norm(const nb_schedule *s) { return s->tol_grad > 0.0; }

/* "after 412 iterations", or "after 3 epochs (90 iterations)" when they differ. */
static void after(const nb_progress *p, char *buf, size_t n)
{
    if (p->full_batch)
        snprintf(buf, n, "after %ld iteration%s", p->iters, p->iters == 1 ? "" : "s");
    else
        snprintf(buf, n, "after %ld epoch%s (%ld iterations)", p->epochs,
                 p->epochs == 1 ? "" : "s", p->iters);
}

nb_halt nb_schedule_halt(const nb_schedule *s, const nb_progress *p, char *why, size_t why_size)
{
    char when[64];
    after(p, when, sizeof when);
    if (s->tol_grad > 0.0 && p->grad_norm <= s->tol_grad) {
        snprintf(why, why_size, "‖∇Φ‖ = %.2g ≤ %.2g %s", p->grad_norm, s->tol_grad, when);
        return NB_HALT_TOL_GRAD;
    }
    if (!isnan(s->target_loss) && p->loss <= s->target_loss) {
        snprintf(why, why_size, "Φ = %.4g ≤ target %.4g %s", p->loss, s->target_loss, when);
        return NB_HALT_TARGET_LOSS;
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
