/*
 * gradcheck.c — nb_gradcheck: the model's backprop gradient (float32, on
 * its own backend) against central finite differences of Φ computed by a
 * double-precision reference (gradcheck_ref.c), per coordinate and along
 * random directions. nabla.h's gradcheck section defines the check, its
 * tolerances and its verdict; this file is the how: it draws the
 * coordinates and directions, compares them, sets aside what relu kinks
 * make unjudgeable and gives the verdict.
 *
 * Not here: the reference's forward and backward passes and their caching
 * (gradcheck_ref.c), the backprop itself (pass.c and the backends), the
 * CLI.
 */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "gradcheck_ref.h"
#include "nabla.h"
#include "rng.h"
#include "status.h"

/* The RNG stream of the coordinate subset and the directions: rng.h names
 * streams 1…4, and a distant constant keeps this use apart from them. */
#define GC_STREAM 0x6772616463686bull /* "gradchk" */

/* A coordinate (direction) is not judged when the relu kinks its stencil
 * meets could move its value, to first order, by more than this share of
 * its bound. Below it, kink plus the usual float32 error (≈ 1e-3 of the
 * bound) still cannot fail a right gradient; a wrong one still fails. */
#define GC_KINK_SHARE 0.5

enum {
    GC_MIN_WEIGHTS = 8 /* weights per layer always in a subset */
};

/* ------------------------------------------------------------ the subset */

/*
 * The coordinates to check, in θ order within each layer: all of them when
 * max_params is 0 or |θ| ≤ max_params; else every bias, and of each
 * layer's W_l weights a share of the rest of the budget proportional to
 * W_l, at least min(GC_MIN_WEIGHTS, W_l), drawn by selection sampling.
 */
static nb_status select_coords(const nb_gc_net *g, size_t n, size_t max_params, uint64_t seed,
                               nb_gc_coord **out, size_t *nc)
{
    size_t nbias = 0, quota[NB_GRADCHECK_MAX_LAYERS], total = 0;
    const bool all = max_params == 0 || n <= max_params;
    for (int l = 0; l < g->L; l++) nbias += (size_t)g->w[l + 1];
    const size_t budget = max_params > nbias ? max_params - nbias : 0;
    for (int l = 0; l < g->L; l++) {
        size_t W = (size_t)g->w[l] * (size_t)g->w[l + 1];
        size_t q = (size_t)((double)W * (double)budget / (double)(n - nbias));
        if (q < GC_MIN_WEIGHTS) q = GC_MIN_WEIGHTS;
        quota[l] = all || q > W ? W : q;
        total += quota[l] + (size_t)g->w[l + 1];
    }
    nb_gc_coord *cs = malloc(total * sizeof *cs);
    if (!cs) return NB_NOMEM("nb_gradcheck", total * sizeof *cs);
    nb_rng r;
    nb_rng_seed(&r, seed, GC_STREAM);
    size_t m = 0;
    for (int l = 0; l < g->L; l++) {
        const size_t in = (size_t)g->w[l], W = in * (size_t)g->w[l + 1];
        /* Knuth's selection sampling: keep index i with probability
         * (still needed)/(still left), which draws quota[l] of W uniformly. */
        size_t need = quota[l];
        for (size_t i = 0; i < W && need > 0; i++) {
            if (need < W - i && nb_rng_below(&r, W - i) >= need) continue;
            cs[m++] = (nb_gc_coord){g->ow[l] + i, l, (int)(i / in), (int)(i % in)};
            need--;
        }
        for (int j = 0; j < g->w[l + 1]; j++)
            cs[m++] = (nb_gc_coord){g->ob[l] + (size_t)j, l, j, -1};
    }
    *out = cs;
    *nc = m;
    return NB_OK;
}

/* ----------------------------------------------------------- the check */

void nb_gradcheck_options_default(nb_gradcheck_options *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->max_params = 2000;
    o->directions = 4;
    o->step = 1e-6;
    o->atol = 1e-5;
    o->rtol = 1e-3;
    o->rel_floor = 1e-2;
    o->relu_margin = 1e-6;
}

static nb_status check_args(const nb_model *m, const nb_dataset *d, const nb_gradcheck_options *o)
{
    const char *fn = "nb_gradcheck";
    const int L = nb_model_layers(m);
    if (L > NB_GRADCHECK_MAX_LAYERS)
        return NB_FAIL(NB_ERR_UNSUPPORTED, "%s: %d layers; at most %d are supported", fn, L,
                       NB_GRADCHECK_MAX_LAYERS);
    if (d->inputs != nb_model_width(m, 0) || d->outputs != nb_model_width(m, L))
        return NB_FAIL(NB_ERR_ARG, "%s: data has %d inputs and %d outputs, the model %d and %d", fn,
                       d->inputs, d->outputs, nb_model_width(m, 0), nb_model_width(m, L));
    if (d->rows == 0) return NB_FAIL(NB_ERR_ARG, "%s: the dataset has no rows", fn);
    if (!(o->step > 0.0) || !isfinite(o->step))
        return NB_FAIL(NB_ERR_ARG, "%s: step %g must be a positive number", fn, o->step);
    if (!(o->atol >= 0.0) || !(o->rtol >= 0.0) || !isfinite(o->atol) || !isfinite(o->rtol))
        return NB_FAIL(NB_ERR_ARG, "%s: atol %g and rtol %g must be finite and >= 0", fn, o->atol,
                       o->rtol);
    if (!(o->rel_floor > 0.0) || !isfinite(o->rel_floor))
        return NB_FAIL(NB_ERR_ARG, "%s: rel_floor %g must be positive", fn, o->rel_floor);
    if (!(o->relu_margin >= 0.0) || !isfinite(o->relu_margin))
        return NB_FAIL(NB_ERR_ARG, "%s: relu_margin %g must be finite and >= 0", fn,
                       o->relu_margin);
    if (o->directions < 0 || o->directions > NB_GRADCHECK_MAX_DIRS)
        return NB_FAIL(NB_ERR_ARG, "%s: directions %d is outside [0, %d]", fn, o->directions,
                       NB_GRADCHECK_MAX_DIRS);
    if (o->perturb_layer < 0 || o->perturb_layer > L || !isfinite(o->perturb))
        return NB_FAIL(NB_ERR_ARG, "%s: perturb_layer %d must be 0 (off) or 1 … %d, perturb finite",
                       fn, o->perturb_layer, L);
    return NB_OK;
}


/* Fold one coordinate into its block's statistics and the totals. */
static void add_coord(nb_gradcheck_stat *s, nb_gradcheck_report *r, size_t i, double gv,
                      double fv, double kink)
{
    const double err = fabs(gv - fv);
    if (kink) {
        s->kinks++, r->kinks++;
        s->kink_max_abs = fmax(s->kink_max_abs, err);
        return;
    }
    const double bound = r->atol * r->scale + r->rtol * fabs(fv) + r->fd_err;
    const double ratio = err <= bound ? err / bound : isnan(err) ? INFINITY : err / bound;
    s->checked++, r->checked++;
    if (!(err <= bound)) s->failed++, r->failed++;
    if (fabs(fv) > r->informative_min) r->informative++;
    s->max_abs = fmax(s->max_abs, err);
    s->max_rel = fmax(s->max_rel, err / fmax(fabs(fv), r->rel_floor * r->scale));
    if (s->worst == SIZE_MAX || ratio > s->max_ratio) {
        s->max_ratio = ratio;
        s->worst = i;
        s->worst_g = gv;
        s->worst_fd = fv;
    }
}

/* Compare the coordinates and fill the per-block statistics and totals;
 * kink[c] becomes 0 or 1: whether its kink weight is too large to judge. */
static void compare_coords(const nb_gc_net *g, const nb_gc_coord *cs, size_t nc, const double *gd,
                           const double *fd, double *kink, nb_gradcheck_report *r)
{
    r->scale = 1.0;
    for (size_t c = 0; c < nc; c++)
        if (isfinite(fd[c])) r->scale = fmax(r->scale, fabs(fd[c]));
    for (size_t c = 0; c < nc; c++) /* the kink weight against a share of the bound */
        kink[c] = kink[c] > GC_KINK_SHARE * (r->atol * r->scale + r->rtol * fabs(fd[c]) +
                                             r->fd_err);
    r->informative_min = r->rtol < 0.1 ? (r->atol * r->scale + r->fd_err) / (0.1 - r->rtol)
                                        : INFINITY;
    for (int l = 0; l < g->L; l++) {
        r->layers[l].w.count = (size_t)g->w[l] * (size_t)g->w[l + 1];
        r->layers[l].b.count = (size_t)g->w[l + 1];
        r->layers[l].w.worst = r->layers[l].b.worst = SIZE_MAX;
    }
    for (size_t c = 0; c < nc; c++) {
        nb_gradcheck_layer *ly = &r->layers[cs[c].l];
        add_coord(cs[c].k < 0 ? &ly->b : &ly->w, r, cs[c].i, gd[cs[c].i], fd[c], kink[c]);
    }
}

/* The directional checks, each along a fresh random unit u over all of θ. */
static nb_status check_directions(const nb_gc_net *g, const double *th, const double *gd, size_t n,
                                  uint64_t seed, nb_gradcheck_report *r)
{
    double *u = malloc(n * sizeof *u), *tp = malloc(n * sizeof *tp), *tm = malloc(n * sizeof *tm);
    nb_status st = NB_OK;
    nb_rng rng;
    /* After the subset's draws, so a subset change does not move u: own seed. */
    nb_rng_seed(&rng, seed ^ 0x5eedd12ec7104ull, GC_STREAM);
    if (!u || !tp || !tm) st = NB_NOMEM("nb_gradcheck", 3 * n * sizeof(double));
    for (int k = 0; st == NB_OK && k < r->n_dirs; k++) {
        nb_gradcheck_dir *dr = &r->dirs[k];
        double norm = 0.0;
        do { /* uniform in the cube, then normalised: any unit u will do */
            norm = 0.0;
            for (size_t j = 0; j < n; j++) {
                u[j] = 2.0 * nb_rng_uniform(&rng) - 1.0;
                norm += u[j] * u[j];
            }
        } while (!(norm > 0.0));
        norm = sqrt(norm);
        double dot = 0.0, bound = r->fd_err;
        for (size_t j = 0; j < n; j++) {
            u[j] /= norm;
            tp[j] = th[j] + r->step * u[j];
            tm[j] = th[j] - r->step * u[j];
            dot += gd[j] * u[j];
            bound += (r->atol * r->scale + r->rtol * fabs(gd[j])) * fabs(u[j]);
        }
        double kink = 0.0;
        st = nb_gc_fd_direction(g, th, tp, tm, r->step, &dr->fd, &kink);
        dr->backprop = dot;
        dr->bound = bound;
        dr->kink = kink > GC_KINK_SHARE * bound;
        dr->pass = !dr->kink && fabs(dot - dr->fd) <= bound;
    }
    free(u);
    free(tp);
    free(tm);
    return st;
}

static const char *block_name(int k) { return k ? "biases" : "weights"; }

/* The verdict and its one-line reason. gbad: first non-finite backprop
 * component, or SIZE_MAX. */
static void verdict(nb_gradcheck_report *r, size_t gbad)
{
    int dfail = -1, dkink = 0;
    for (int k = r->n_dirs - 1; k >= 0; k--) {
        dkink += r->dirs[k].kink;
        if (!r->dirs[k].kink && !r->dirs[k].pass) dfail = k;
    }
    r->pass = 0;
    if (gbad != SIZE_MAX) {
        snprintf(r->why, sizeof r->why, "the backprop gradient is not finite at theta[%zu]", gbad);
        return;
    }
    if (r->failed > 0) {
        /* name the block with the worst violation */
        const nb_gradcheck_stat *w = NULL;
        int wl = 0, wk = 0;
        for (int l = 0; l < r->n_layers; l++)
            for (int k = 0; k < 2; k++) {
                const nb_gradcheck_stat *s = k ? &r->layers[l].b : &r->layers[l].w;
                if (s->failed && (!w || s->max_ratio > w->max_ratio)) w = s, wl = l, wk = k;
            }
        snprintf(r->why, sizeof r->why,
                 "%zu of %zu coordinates outside the bound; worst: layer %d %s, theta[%zu]: "
                 "backprop %.6g vs finite difference %.6g (%.3g x the bound)",
                 r->failed, r->checked, wl + 1, block_name(wk), w->worst, w->worst_g, w->worst_fd,
                 w->max_ratio);
        return;
    }
    if (dfail >= 0) {
        const nb_gradcheck_dir *d = &r->dirs[dfail];
        snprintf(r->why, sizeof r->why,
                 "direction %d: backprop %.6g vs finite difference %.6g, |diff| %.3g > bound %.3g",
                 dfail + 1, d->backprop, d->fd, fabs(d->backprop - d->fd), d->bound);
        return;
    }
    if (r->checked == 0) {
        snprintf(r->why, sizeof r->why,
                 "nothing could be compared: all %zu drawn coordinates meet relu kinks", r->kinks);
        return;
    }
    if (r->informative == 0) {
        snprintf(r->why, sizeof r->why,
                 "the gradient is ~0 (|grad| = %.3g; no compared component above %.3g): a check "
                 "here passes trivially (dead relu units? an exact minimum?)",
                 r->grad_norm, r->informative_min);
        return;
    }
    r->pass = 1;
    snprintf(r->why, sizeof r->why,
             "%zu coordinates (%zu informative, %zu skipped at relu kinks) and %d directions "
             "(%d at kinks) within the bound",
             r->checked, r->informative, r->kinks, r->n_dirs - dkink, dkink);
}

nb_status nb_gradcheck(nb_model *m, const nb_dataset *d, const nb_gradcheck_options *o,
                       nb_gradcheck_report *r)
{
    nb_gradcheck_options defaults;
    if (!m || !d || !r) return NB_FAIL(NB_ERR_ARG, "nb_gradcheck: NULL argument");
    if (!o) nb_gradcheck_options_default(&defaults), o = &defaults;
    NB_TRY(check_args(m, d, o));

    const size_t n = nb_model_param_count(m);
    nb_status st;
    nb_gc_net g;
    nb_gc_coord *cs = NULL;
    size_t nc = 0, gbad = SIZE_MAX;
    float *tf = malloc(n * sizeof *tf), *gf = malloc(n * sizeof *gf);
    double *th = malloc(n * sizeof *th), *gd = malloc(n * sizeof *gd), *fd = NULL, *kink = NULL;
    if (!tf || !gf || !th || !gd) {
        st = NB_NOMEM("nb_gradcheck", 2 * n * (sizeof(float) + sizeof(double)));
        goto fail;
    }
    nb_gc_net_init(m, d, o->relu_margin, &g);
    *r = (nb_gradcheck_report){.params = n, .n_layers = g.L, .n_dirs = o->directions,
                               .atol = o->atol, .rtol = o->rtol, .rel_floor = o->rel_floor,
                               .step = o->step};

    /* The backend's gradient, then the test hook's corruption of it. */
    NB_CHECK(nb_model_get_params(m, tf, n));
    NB_CHECK(nb_model_loss_grad(m, d, &r->loss, gf));
    for (size_t j = 0; j < n; j++) {
        th[j] = (double)tf[j];
        gd[j] = (double)gf[j];
    }
    if (o->perturb_layer > 0) {
        const int l = o->perturb_layer - 1;
        for (size_t j = g.ow[l]; j < g.ob[l]; j++) gd[j] *= 1.0 + o->perturb;
    }
    for (size_t j = 0; j < n; j++) {
        r->grad_norm += gd[j] * gd[j];
        if (!isfinite(gd[j]) && gbad == SIZE_MAX) gbad = j;
    }
    r->grad_norm = sqrt(r->grad_norm);

    NB_CHECK(select_coords(&g, n, o->max_params, o->seed, &cs, &nc));
    fd = malloc(nc * sizeof *fd);
    kink = malloc(nc * sizeof *kink);
    if (!fd || !kink) {
        st = NB_NOMEM("nb_gradcheck", nc * (sizeof *fd + sizeof *kink));
        goto fail;
    }
    NB_CHECK(nb_gc_fd_coords(&g, th, o->step, cs, nc, fd, kink, &r->loss_ref));
    if (!isfinite(r->loss_ref)) {
        st = NB_FAIL(NB_ERR_NONFINITE, "nb_gradcheck: the double-precision loss is %g at the "
                                       "model's parameters", r->loss_ref);
        goto fail;
    }
    /* Round-off of the differences: each row's loss is good to well under
     * 100 ε relative, so the mean of ℓ+ − ℓ− to 100 ε (1 + |Φ|); the
     * division by 2h is taken as h, for a factor 2 of margin. */
    r->fd_err = 100.0 * DBL_EPSILON * (1.0 + fabs(r->loss_ref)) / o->step;
    compare_coords(&g, cs, nc, gd, fd, kink, r);
    NB_CHECK(check_directions(&g, th, gd, n, o->seed, r));
    verdict(r, gbad);
    st = NB_OK;
fail:
    free(tf);
    free(gf);
    free(th);
    free(gd);
    free(cs);
    free(fd);
    free(kink);
    return st;
}
