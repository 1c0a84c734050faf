/*
 * cl_tune_wg.c — the tuner's last family: the work-group size (WG_SIZE) of
 * the reduction and element-wise kernels (activation and its derivative,
 * the loss, column sums, Σx², the update).
 *
 * These kernels are not timed alone like the GEMMs: each candidate size
 * gets a whole backend, built with the tuned GEMM configuration and that
 * WG_SIZE (nb_backend_create_tuned), and runs the ops of one step of the
 * first network through the checked dispatch layer, at its batch, its
 * widest layer and its parameter count. Every op is first checked against
 * the reference (host/cpu/ref.c), then the whole set is timed; the fastest
 * checked size wins, and the built-in size stays unless another is faster.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "clock.h"
#include "cpu/ref.h"
#include "opencl/cl_internal.h"
#include "optim_math.h"
#include "status.h"
#include "tune.h"

/* The shapes of one step's element-wise work. */
typedef struct wg_shape {
    size_t rows, cols, outs, params;
} wg_shape;

typedef struct wg_host {
    float *y, *dy, *bias, *out, *tgt, *theta, *grad;
    float *r_dy, *r_y, *r_db, *r_dout, *r_theta, *got;
} wg_host;

static void fill(float *x, size_t n, unsigned seed, float lo, float hi)
{
    unsigned s = seed * 2654435761u + 1u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = lo + (hi - lo) * (float)(s >> 8) * (1.0f / 16777216.0f);
    }
}

/* |got − want| ≤ atol + rtol·|want| for every element. The element-wise
 * ops differ from the reference by a few roundings (contracted multiply-
 * adds, the device's exp), so rtol 1e-5 with atol 1e-6 for values of
 * order one; sums get their own bound below. */
static int close_all(const float *got, const float *want, size_t n, double atol, double rtol)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabs((double)got[i] - (double)want[i]) <= atol + rtol * fabs((double)want[i]))) return 0;
    return 1;
}

/* A sum of n terms in float, in any order: |error| ≤ γ_n·Σ|x|, γ_n =
 * n·u/(1 − n·u), u = 2^-24; twice that for the reference's own rounding. */
static double sum_bound(size_t n, double abs_sum)
{
    double u = ldexp(1.0, -24), g = (double)n * u / (1.0 - (double)n * u);
    return 2.0 * g * abs_sum + 1e-30;
}

typedef struct wg_dev {
    nb_buf y, dy, bias, db, out, tgt, dout, acc, theta, grad, sq;
} wg_dev;

static void dev_free(nb_backend *be, wg_dev *d)
{
    nb_buf *all[] = {&d->y, &d->dy, &d->bias, &d->db, &d->out, &d->tgt,
                     &d->dout, &d->acc, &d->theta, &d->grad, &d->sq};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) nb_be_free(be, all[i]);
}

static const nb_optim_step sgd = {.kind = NB_OPT_SGD, .lr = 0.1, .bc1 = 1.0, .bc2 = 1.0};

/* One step's element-wise ops, in the order a step runs them. */
static nb_status step_ops(nb_backend *be, const wg_shape *s, wg_dev *d)
{
    const float scale = 1.0f / (float)s->rows;
    NB_TRY(nb_be_bias_act(be, NB_ACT_SIGMOID, s->rows, s->cols, nb_view_at(&d->bias, 0),
                          nb_view_at(&d->y, 0)));
    NB_TRY(nb_be_fill(be, 1, 0.0f, nb_view_at(&d->acc, 0)));
    NB_TRY(nb_be_loss(be, NB_LOSS_MSE, s->rows, s->outs, scale, nb_view_at(&d->out, 0),
                      nb_view_at(&d->tgt, 0), nb_view_at(&d->dout, 0), nb_view_at(&d->acc, 0)));
    NB_TRY(nb_be_act_backward(be, NB_ACT_SIGMOID, s->rows * s->cols, nb_view_at(&d->y, 0),
                              nb_view_at(&d->dy, 0)));
    NB_TRY(nb_be_col_sum(be, s->rows, s->cols, 0.0f, nb_view_at(&d->dy, 0), nb_view_at(&d->db, 0)));
    NB_TRY(nb_be_sum_sq(be, s->params, nb_view_at(&d->grad, 0), nb_view_at(&d->sq, 0)));
    nb_view none = {0};
    return nb_be_update(be, &sgd, s->params, nb_view_at(&d->theta, 0), nb_view_at(&d->grad, 0),
                        none, none, none);
}

/* Upload the inputs (every op reads what the one before left, so they go
 * up afresh before the checked run). */
static nb_status upload(nb_backend *be, const wg_shape *s, const wg_host *h, wg_dev *d)
{
    size_t n = s->rows * s->cols;
    NB_TRY(nb_be_write(be, &d->y, 0, h->y, n));
    NB_TRY(nb_be_write(be, &d->dy, 0, h->dy, n));
    NB_TRY(nb_be_write(be, &d->bias, 0, h->bias, s->cols));
    NB_TRY(nb_be_write(be, &d->out, 0, h->out, s->rows * s->outs));
    NB_TRY(nb_be_write(be, &d->tgt, 0, h->tgt, s->rows * s->outs));
    NB_TRY(nb_be_write(be, &d->theta, 0, h->theta, s->params));
    return nb_be_write(be, &d->grad, 0, h->grad, s->params);
}

/* Run the step once and compare every result with the reference's. */
static nb_status check(nb_backend *be, const wg_shape *s, wg_host *h, wg_dev *d, int *ok)
{
    size_t n = s->rows * s->cols, no = s->rows * s->outs;
    *ok = 0;
    NB_TRY(upload(be, s, h, d));
    NB_TRY(step_ops(be, s, d));
    /* The reference on the same inputs. */
    memcpy(h->r_y, h->y, n * sizeof(float));
    ref_bias_act(NB_ACT_SIGMOID, s->rows, s->cols, h->bias, h->r_y);
    float acc = 0.0f;
    ref_loss(NB_LOSS_MSE, s->rows, s->outs, 1.0f / (float)s->rows, h->out, h->tgt, h->r_dout, &acc);
    memcpy(h->r_dy, h->dy, n * sizeof(float));
    ref_act_backward(NB_ACT_SIGMOID, n, h->r_y, h->r_dy);
    ref_col_sum(s->rows, s->cols, 0.0f, h->r_dy, h->r_db);
    double sq_abs = 0.0;
    for (size_t i = 0; i < s->params; i++) sq_abs += (double)h->grad[i] * h->grad[i];
    memcpy(h->r_theta, h->theta, s->params * sizeof(float));
    ref_update(&sgd, s->params, h->r_theta, h->grad, NULL, 0.0f);

    NB_TRY(nb_be_read(be, &d->y, 0, h->got, n));
    if (!close_all(h->got, h->r_y, n, 1e-6, 1e-5)) return NB_OK;
    NB_TRY(nb_be_read(be, &d->dy, 0, h->got, n));
    if (!close_all(h->got, h->r_dy, n, 1e-6, 1e-5)) return NB_OK;
    NB_TRY(nb_be_read(be, &d->dout, 0, h->got, no));
    if (!close_all(h->got, h->r_dout, no, 1e-6, 1e-5)) return NB_OK;
    float got1;
    NB_TRY(nb_be_read(be, &d->acc, 0, &got1, 1));
    /* Σ over rows·outs squared errors, each at most 1: bound by their count. */
    if (!(fabs((double)got1 - (double)acc) <= sum_bound(no, fabs((double)acc) + 1.0))) return NB_OK;
    NB_TRY(nb_be_read(be, &d->db, 0, h->got, s->cols));
    for (size_t j = 0; j < s->cols; j++) {
        double abs_col = 0.0;
        for (size_t i = 0; i < s->rows; i++) abs_col += fabs((double)h->r_dy[i * s->cols + j]);
        if (!(fabs((double)h->got[j] - (double)h->r_db[j]) <= sum_bound(s->rows, abs_col))) return NB_OK;
    }
    NB_TRY(nb_be_read(be, &d->sq, 0, &got1, 1));
    if (!(fabs((double)got1 - sq_abs) <= sum_bound(s->params, sq_abs))) return NB_OK;
    NB_TRY(nb_be_read(be, &d->theta, 0, h->got, s->params));
    if (!close_all(h->got, h->r_theta, s->params, 1e-6, 1e-5)) return NB_OK;
    *ok = 1;
    return NB_OK;
}

/* Seconds of one step's element-wise ops: the least of reps runs after a
 * warm-up (the least, because on a shared machine noise only ever adds). */
static nb_status time_step(nb_backend *be, const wg_shape *s, wg_dev *d, int reps, double *secs)
{
    *secs = INFINITY;
    for (int r = 0; r <= reps; r++) {
        double t0 = nb_now();
        for (int k = 0; k < 4; k++) NB_TRY(step_ops(be, s, d));
        NB_TRY(nb_be_sync(be));
        double t = (nb_now() - t0) / 4;
        if (r > 0 && t < *secs) *secs = t;
    }
    return NB_OK;
}

/* One candidate: 1 in *ok when it ran and matched the reference. */
static nb_status try_wg(const char *spec, const nb_be_config *cfg, const nb_cl_tunables *t,
                        const wg_shape *s, wg_host *h,
                        int reps, int *ok, double *secs)
{
    nb_backend *be = NULL;
    wg_dev d;
    memset(&d, 0, sizeof d);
    *ok = 0;
    *secs = INFINITY;
    /* A candidate the device cannot build or launch is skipped, not fatal. */
    if (nb_backend_create_tuned(spec, cfg, t, &be) != NB_OK) return NB_OK;
    size_t n = s->rows * s->cols, no = s->rows * s->outs;
    nb_status st = NB_OK;
    struct { nb_buf *b; size_t n; } bufs[] = {
        {&d.y, n}, {&d.dy, n}, {&d.bias, s->cols}, {&d.db, s->cols}, {&d.out, no},
        {&d.tgt, no}, {&d.dout, no}, {&d.acc, 1}, {&d.theta, s->params}, {&d.grad, s->params},
        {&d.sq, 1}};
    for (size_t i = 0; st == NB_OK && i < sizeof bufs / sizeof *bufs; i++)
        st = nb_be_alloc(be, bufs[i].b, bufs[i].n, NB_F32);
    if (st == NB_OK && check(be, s, h, &d, ok) == NB_OK && *ok)
        st = time_step(be, s, &d, reps, secs);
    if (st != NB_OK) *ok = 0;
    dev_free(be, &d);
    nb_backend_free(be);
    return NB_OK;
}

static void say(const nb_tune_request *req, const char *fmt, ...)
{
    if (!req->progress) return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    req->progress(req->user, line);
}

nb_status nb_cl_tune_wg(const nb_cl_device *dev, const nb_tune_request *req, nb_cl_tunables *best)
{
    const nb_tune_net *net = &req->nets[0];
    wg_shape s = {.rows = net->batch, .cols = 1, .outs = (size_t)net->widths[net->n_widths - 1]};
    for (int l = 0; l + 1 < net->n_widths; l++) {
        size_t w = (size_t)net->widths[l + 1];
        s.cols = w > s.cols ? w : s.cols;
        s.params += (size_t)net->widths[l] * w + w;
    }
    size_t n = s.rows * s.cols, no = s.rows * s.outs, big = n > s.params ? n : s.params;
    wg_host h;
    float **all[] = {&h.y, &h.dy, &h.bias, &h.out, &h.tgt, &h.theta, &h.grad,
                     &h.r_dy, &h.r_y, &h.r_db, &h.r_dout, &h.r_theta, &h.got};
    size_t sizes[] = {n, n, s.cols, no, no, s.params, s.params, n, n, s.cols, no, s.params, big};
    nb_status st = NB_OK;
    memset(&h, 0, sizeof h);
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (!(*all[i] = malloc(sizes[i] * sizeof(float)))) st = NB_NOMEM("nabla tune: work-group check", sizes[i] * 4);
    if (st == NB_OK) {
        fill(h.y, n, 1, -3.0f, 3.0f), fill(h.dy, n, 2, -1.0f, 1.0f), fill(h.bias, s.cols, 3, -1.0f, 1.0f);
        fill(h.out, no, 4, 0.0f, 1.0f), fill(h.tgt, no, 5, 0.0f, 1.0f);
        fill(h.theta, s.params, 6, -1.0f, 1.0f), fill(h.grad, s.params, 7, -1.0f, 1.0f);
        char spec[32];
        snprintf(spec, sizeof spec, "%d.%d", dev->info.platform, dev->info.device);
        size_t one_d = best->max_wg < dev->max_item[0] ? best->max_wg : dev->max_item[0];
        double base_t = INFINITY, best_t = INFINITY;
        int best_wg = best->wg;
        for (int wg = 32; wg <= 512; wg *= 2) {
            if ((size_t)wg > one_d) continue;
            nb_cl_tunables t = *best;
            t.wg = wg;
            int ok;
            double secs;
            st = try_wg(spec, dev->cfg, &t, &s, &h, 4, &ok, &secs);
            if (st != NB_OK) break;
            if (!ok) {
                say(req, "  WG_SIZE %-3d skipped: does not build, or wrong results against the reference", wg);
                continue;
            }
            say(req, "  WG_SIZE %-3d %.3f ms", wg, 1e3 * secs);
            if (wg == best->wg) base_t = secs;
            if (secs < best_t) best_t = secs, best_wg = wg;
        }
        /* The built-in size stays unless another is faster. */
        if (st == NB_OK && best_t < base_t) best->wg = best_wg;
    }
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(*all[i]);
    return st;
}
