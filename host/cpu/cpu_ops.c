/*
 * cpu_ops.c — the cpu backend's element-wise and reduction ops: gather,
 * bias + activation, activation derivative, loss, column sums, ‖x‖², and
 * the optimizer update. Each runs the vector code of the GEMM's variant
 * (gemm_kernel.h: sigmoid and tanh in registers, within 3 ulp) and, when
 * it is large enough to pay, on every worker of the pool.
 *
 * Determinism: element-wise ops are the same whoever computes an element.
 * Sums are cut into blocks whose size depends on the shape alone, each
 * block summed in index order and the blocks added in block order, so the
 * result does not depend on the thread count either. Sums that decide
 * halting (the loss, ‖g‖²) are accumulated in double, as in the reference.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_backend.h"
#include "cpu/ref.h"
#include "status.h"

#define F(v) ((float *)(v).buf->handle + (v).off)
#define I(v) ((int32_t *)(v).buf->handle + (v).off)

/* Work below this many elements stays on the calling thread. */
#define PAR_MIN_ELEMS (1 << 16)
/* Elements per task: large enough to amortise handing it out. */
#define CHUNK (1 << 14)
/* The most blocks a sum is cut into (their partial sums live on the stack). */
enum { MAX_BLOCKS = 1024 };

static void run(nb_cpu_ctx *c, size_t elems, size_t tasks, void (*fn)(void *, size_t, int),
                void *arg)
{
    if (tasks > 1 && elems >= PAR_MIN_ELEMS && nb_pool_threads(c->pool) > 1)
        nb_pool_for(c->pool, tasks, fn, arg);
    else
        for (size_t t = 0; t < tasks; t++) fn(arg, t, 0);
}

/* Rows per task so a task has about CHUNK elements; at least one. */
static size_t rows_per_task(size_t cols)
{
    size_t r = CHUNK / (cols ? cols : 1);
    return r ? r : 1;
}

/* Row blocks for a sum over rows: a size set by the shape alone, so that
 * there are at most MAX_BLOCKS of them. */
static size_t rows_per_block(size_t rows, size_t cols)
{
    size_t r = rows_per_task(cols), min = (rows + MAX_BLOCKS - 1) / MAX_BLOCKS;
    return r > min ? r : min;
}

/* ------------------------------------------------------------- gather */

typedef struct rows_job {
    const nb_gemm_isa *isa;
    size_t rows, cols, per;
    const float *src, *bias, *y;
    const int32_t *idx;
    float *dst;
    nb_act act;
    nb_loss loss;
    float scale;
    const float *target;
    double *partial;
} rows_job;

static void gather_task(void *arg, size_t t, int w)
{
    const rows_job *j = arg;
    (void)w;
    size_t r1 = (t + 1) * j->per < j->rows ? (t + 1) * j->per : j->rows;
    for (size_t i = t * j->per; i < r1; i++)
        memcpy(j->dst + i * j->cols, j->src + (size_t)j->idx[i] * j->cols, j->cols * sizeof(float));
}

nb_status nb_cpu_gather_rows(void *ctx, size_t rows, size_t cols, nb_view src, nb_view idx,
                             nb_view dst)
{
    rows_job j = {.rows = rows, .cols = cols, .per = rows_per_task(cols), .src = F(src),
                  .idx = I(idx), .dst = F(dst)};
    run(ctx, rows * cols, (rows + j.per - 1) / j.per, gather_task, &j);
    return NB_OK;
}

/* ------------------------------------------------- activations forward */

/* Softmax of one row in place (+ bias), max-shifted, the sum in double. */
static void softmax_row(size_t cols, const float *b, float *y)
{
    float m = -INFINITY;
    for (size_t c = 0; c < cols; c++) {
        y[c] += b[c];
        m = fmaxf(m, y[c]);
    }
    double s = 0.0;
    for (size_t c = 0; c < cols; c++) {
        y[c] = expf(y[c] - m);
        s += y[c];
    }
    float inv = (float)(1.0 / s);
    for (size_t c = 0; c < cols; c++) y[c] *= inv;
}

static void bias_act_task(void *arg, size_t t, int w)
{
    const rows_job *j = arg;
    (void)w;
    size_t r1 = (t + 1) * j->per < j->rows ? (t + 1) * j->per : j->rows;
    for (size_t i = t * j->per; i < r1; i++) {
        float *y = j->dst + i * j->cols;
        if (j->act == NB_ACT_SOFTMAX)
            softmax_row(j->cols, j->bias, y);
        else
            j->isa->act_row(j->act, j->cols, y, j->bias, y);
    }
}

nb_status nb_cpu_bias_act(void *ctx, nb_act act, size_t rows, size_t cols, nb_view bias,
                          nb_view Y)
{
    nb_cpu_ctx *c = ctx;
    rows_job j = {.isa = c->isa, .rows = rows, .cols = cols, .per = rows_per_task(cols),
                  .bias = F(bias), .dst = F(Y), .act = act};
    run(c, rows * cols, (rows + j.per - 1) / j.per, bias_act_task, &j);
    return NB_OK;
}

/* -------------------------------------------------- activations backward */

static void act_backward_task(void *arg, size_t t, int w)
{
    const rows_job *j = arg;
    (void)w;
    size_t i0 = t * CHUNK, n = j->rows - i0 < CHUNK ? j->rows - i0 : CHUNK;
    j->isa->dact_row(j->act, n, j->y + i0, j->dst + i0);
}

nb_status nb_cpu_act_backward(void *ctx, nb_act act, size_t n, nb_view Y, nb_view dY)
{
    nb_cpu_ctx *c = ctx;
    if (act == NB_ACT_IDENTITY || act == NB_ACT_SOFTMAX) return NB_OK; /* × 1 */
    rows_job j = {.isa = c->isa, .rows = n, .y = F(Y), .dst = F(dY), .act = act};
    run(c, n, (n + CHUNK - 1) / CHUNK, act_backward_task, &j);
    return NB_OK;
}

/* ------------------------------------------------------------------ loss */

static void loss_task(void *arg, size_t t, int w)
{
    const rows_job *j = arg;
    (void)w;
    size_t r0 = t * j->per, n = j->rows - r0 < j->per ? j->rows - r0 : j->per;
    size_t off = r0 * j->cols;
    j->partial[t] = ref_loss_rows(j->loss, n, j->cols, j->scale, j->src + off, j->target + off,
                                  j->dst + off);
}

nb_status nb_cpu_loss(void *ctx, nb_loss loss, size_t rows, size_t cols, float scale,
                      nb_view out, nb_view target, nb_view dOut, nb_view acc)
{
    double partial[MAX_BLOCKS];
    rows_job j = {.rows = rows, .cols = cols, .per = rows_per_block(rows, cols), .src = F(out),
                  .target = F(target), .dst = F(dOut), .loss = loss, .scale = scale,
                  .partial = partial};
    size_t blocks = (rows + j.per - 1) / j.per;
    run(ctx, rows * cols, blocks, loss_task, &j);
    double total = 0.0;
    for (size_t b = 0; b < blocks; b++) total += partial[b];
    *F(acc) = (float)((double)*F(acc) + total);
    return NB_OK;
}

/* ----------------------------------------------------------- column sums */

typedef struct cols_job {
    const nb_gemm_isa *isa;
    size_t rows, cols, per;
    const float *src;
    float *out;
} cols_job;

static void col_sum_task(void *arg, size_t t, int w)
{
    const cols_job *j = arg;
    (void)w;
    size_t c0 = t * j->per, n = j->cols - c0 < j->per ? j->cols - c0 : j->per;
    j->isa->col_sums(j->rows, n, j->cols, j->src + c0, j->out + c0);
}

nb_status nb_cpu_col_sum(void *ctx, size_t rows, size_t cols, float beta, nb_view dY, nb_view db)
{
    nb_cpu_ctx *c = ctx;
    float *o = F(db);
    if (beta == 0.0f) memset(o, 0, cols * sizeof(float));
    /* Columns split over tasks, each summed down the rows in order: the
     * same sums whatever the split. 64 columns a task: whole vectors. */
    cols_job j = {.isa = c->isa, .rows = rows, .cols = cols, .per = 64, .src = F(dY), .out = o};
    run(c, rows * cols, (cols + j.per - 1) / j.per, col_sum_task, &j);
    return NB_OK;
}

/* --------------------------------------------------------------- ‖x‖² */

typedef struct flat_job {
    const nb_gemm_isa *isa;
    size_t n, per;
    const float *x;
    float *y;
    double *partial;
    int *bad;
    const nb_optim_step *step;
    float *state;
    float gnorm2;
} flat_job;

static void sum_sq_task(void *arg, size_t t, int w)
{
    const flat_job *j = arg;
    (void)w;
    size_t i0 = t * j->per, n = j->n - i0 < j->per ? j->n - i0 : j->per;
    double s = 0.0;
    for (size_t i = i0; i < i0 + n; i++) s += (double)j->x[i] * j->x[i];
    j->partial[t] = s;
}

/* Elements per block of a flat sum: CHUNK, or more so there are at most
 * MAX_BLOCKS blocks (set by n alone). */
static size_t flat_block(size_t n)
{
    size_t min = (n + MAX_BLOCKS - 1) / MAX_BLOCKS;
    return min > CHUNK ? min : CHUNK;
}

nb_status nb_cpu_sum_sq(void *ctx, size_t n, nb_view x, nb_view out)
{
    double partial[MAX_BLOCKS];
    flat_job j = {.n = n, .per = flat_block(n), .x = F(x), .partial = partial};
    size_t blocks = (n + j.per - 1) / j.per;
    run(ctx, n, blocks, sum_sq_task, &j);
    double s = 0.0;
    for (size_t b = 0; b < blocks; b++) s += partial[b];
    *F(out) = (float)s;
    return NB_OK;
}

/* ---------------------------------------------------------------- update */

static void update_task(void *arg, size_t t, int w)
{
    const flat_job *j = arg;
    (void)w;
    size_t i0 = t * j->per, n = j->n - i0 < j->per ? j->n - i0 : j->per;
    const nb_optim_step *st = j->step;
    int bad;
    if (st->kind == NB_OPT_SGD && st->weight_decay == 0.0 && st->clip_norm <= 0.0) {
        bad = j->isa->axpy_check(n, (float)st->lr, j->x + i0, j->y + i0);
    } else {
        /* The state of parameter i is at i (m) and n + i (v). */
        int k = nb_optim_state_per_param(st->kind);
        double scale = nb_clip_scale(st->clip_norm, j->gnorm2);
        for (size_t i = i0; i < i0 + n; i++) {
            double th = j->y[i], m = k > 0 ? j->state[i] : 0.0, v = k > 1 ? j->state[j->n + i] : 0.0;
            nb_optim_elem(st, scale * (double)j->x[i], &th, &m, &v);
            j->y[i] = (float)th;
            if (k > 0) j->state[i] = (float)m;
            if (k > 1) j->state[j->n + i] = (float)v;
        }
        float z = 0.0f; /* Σ θ·0 is NaN exactly when some θ is NaN or ±Inf */
        for (size_t i = i0; i < i0 + n; i++) z += j->y[i] * 0.0f;
        bad = z != 0.0f;
    }
    if (bad) j->bad[t] = 1;
}

nb_status nb_cpu_update(void *ctx, const nb_optim_step *step, size_t n, nb_view theta,
                        nb_view grad, nb_view state, nb_view gnorm2, nb_view bad)
{
    nb_cpu_ctx *c = ctx;
    int flags[MAX_BLOCKS] = {0};
    flat_job j = {.isa = c->isa, .n = n, .per = flat_block(n), .x = F(grad), .y = F(theta),
                  .bad = flags, .step = step, .state = state.buf ? F(state) : NULL,
                  .gnorm2 = step->clip_norm > 0 ? *F(gnorm2) : 0.0f};
    size_t blocks = (n + j.per - 1) / j.per;
    run(c, n, blocks, update_task, &j);
    if (bad.buf)
        for (size_t b = 0; b < blocks; b++)
            if (flags[b]) *I(bad) = 1;
    return NB_OK;
}
