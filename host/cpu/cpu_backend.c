/*
 * cpu_backend.c — the pure-C backend: every op of the training step on
 * the host, in float.
 *
 * Buffers are plain aligned host arrays. GEMM is the blocked kernel in
 * cpu_gemm.c, whose large products run on the backend's thread pool
 * (cpu_pool.c; nb_cpu_default_threads workers, the calling thread one of
 * them); the element-wise ops are single passes in float on the calling
 * thread. Sums that decide halting (loss, ‖g‖²) are accumulated in double
 * in index order, so they are deterministic and as accurate as the
 * reference's.
 * Nothing here allocates after creation except buf_alloc itself.
 */
#include "cpu/cpu_backend.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/ref.h"
#include "status.h"

typedef struct cpu_ctx {
    float *apack, *bpack; /* GEMM packing buffers, allocated once */
    nb_pool *pool;        /* GEMM workers; apack holds one A buffer each */
} cpu_ctx;

#define F(v) ((float *)(v).buf->handle + (v).off)
#define I(v) ((int32_t *)(v).buf->handle + (v).off)

static void *alloc_aligned(size_t bytes)
{
    /* 64-byte alignment: a cache line, and one AVX-512 vector. */
    size_t rounded = (bytes + 63) / 64 * 64;
    return aligned_alloc(64, rounded ? rounded : 64);
}

static void cpu_destroy(void *vctx)
{
    cpu_ctx *c = vctx;
    if (!c) return;
    nb_pool_free(c->pool);
    free(c->apack);
    free(c->bpack);
    free(c);
}

static nb_status cpu_buf_alloc(void *ctx, nb_buf *b)
{
    (void)ctx;
    b->handle = alloc_aligned(b->n * 4);
    if (!b->handle) return NB_NOMEM("cpu buf_alloc", b->n * 4);
    return NB_OK;
}

static void cpu_buf_free(void *ctx, nb_buf *b)
{
    (void)ctx;
    if (!b->borrowed) free(b->handle);
    b->handle = NULL;
}

static nb_status cpu_buf_borrow(void *ctx, nb_buf *b, const void *host)
{
    (void)ctx;
    b->handle = (void *)host; /* ops only read a borrowed buffer */
    return NB_OK;
}

static nb_status cpu_buf_write(void *ctx, nb_buf *dst, size_t off, const void *src, size_t n)
{
    (void)ctx;
    memcpy((char *)dst->handle + off * 4, src, n * 4);
    return NB_OK;
}

static nb_status cpu_buf_read(void *ctx, const nb_buf *src, size_t off, void *dst, size_t n)
{
    (void)ctx;
    memcpy(dst, (const char *)src->handle + off * 4, n * 4);
    return NB_OK;
}

static nb_status cpu_copy(void *ctx, size_t n, nb_view src, nb_view dst)
{
    (void)ctx;
    memmove(F(dst), F(src), n * sizeof(float));
    return NB_OK;
}

static nb_status cpu_fill(void *ctx, size_t n, float value, nb_view x)
{
    (void)ctx;
    float *p = F(x);
    for (size_t i = 0; i < n; i++) p[i] = value;
    return NB_OK;
}

static nb_status cpu_gemm(void *vctx, bool ta, bool tb, size_t M, size_t N, size_t K, float alpha,
                          nb_view A, nb_view B, float beta, nb_view C)
{
    cpu_ctx *c = vctx;
    nb_cpu_gemm(c->apack, c->bpack, c->pool, ta, tb, M, N, K, alpha, F(A), F(B), beta, F(C));
    return NB_OK;
}

static nb_status cpu_gather_rows(void *ctx, size_t rows, size_t cols, nb_view src, nb_view idx,
                                 nb_view dst)
{
    (void)ctx;
    const float *s = F(src);
    const int32_t *ix = I(idx);
    float *d = F(dst);
    for (size_t i = 0; i < rows; i++)
        memcpy(d + i * cols, s + (size_t)ix[i] * cols, cols * sizeof(float));
    return NB_OK;
}

/* σ(z) without overflow: e^-z only for z ≥ 0, e^z otherwise. */
static inline float sigmoidf(float z)
{
    if (z >= 0.0f) return 1.0f / (1.0f + expf(-z));
    float e = expf(z);
    return e / (1.0f + e);
}

static nb_status cpu_bias_act(void *ctx, nb_act act, size_t rows, size_t cols, nb_view bias,
                              nb_view Y)
{
    (void)ctx;
    const float *b = F(bias);
    for (size_t r = 0; r < rows; r++) {
        float *y = F(Y) + r * cols;
        switch (act) {
        case NB_ACT_SIGMOID:
            for (size_t c = 0; c < cols; c++) y[c] = sigmoidf(y[c] + b[c]);
            break;
        case NB_ACT_TANH:
            for (size_t c = 0; c < cols; c++) y[c] = tanhf(y[c] + b[c]);
            break;
        case NB_ACT_RELU:
            for (size_t c = 0; c < cols; c++) { /* NaN passes through, unlike fmaxf */
                float v = y[c] + b[c];
                y[c] = v <= 0.0f ? 0.0f : v;
            }
            break;
        case NB_ACT_IDENTITY:
            for (size_t c = 0; c < cols; c++) y[c] += b[c];
            break;
        case NB_ACT_SOFTMAX: {
            /* Max-shifted so every exponent is ≤ 0; sum in double. */
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
            break;
        }
        }
    }
    return NB_OK;
}

static nb_status cpu_act_backward(void *ctx, nb_act act, size_t n, nb_view Y, nb_view dY)
{
    (void)ctx;
    const float *y = F(Y);
    float *d = F(dY);
    switch (act) {
    case NB_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) d[i] *= y[i] * (1.0f - y[i]);
        break;
    case NB_ACT_TANH:
        for (size_t i = 0; i < n; i++) d[i] *= 1.0f - y[i] * y[i];
        break;
    case NB_ACT_RELU:
        for (size_t i = 0; i < n; i++) d[i] = y[i] > 0.0f ? d[i] : 0.0f;
        break;
    case NB_ACT_IDENTITY:
    case NB_ACT_SOFTMAX: break;
    }
    return NB_OK;
}

static nb_status cpu_loss(void *ctx, nb_loss loss, size_t rows, size_t cols, float scale,
                          nb_view out, nb_view target, nb_view dOut, nb_view acc)
{
    (void)ctx;
    /* The loss is a handful of flops per output element; the reference
     * (double, fixed order) is already as fast as this op needs to be. */
    ref_loss(loss, rows, cols, scale, F(out), F(target), F(dOut), F(acc));
    return NB_OK;
}

static nb_status cpu_col_sum(void *ctx, size_t rows, size_t cols, float beta, nb_view dY,
                             nb_view db)
{
    (void)ctx;
    /* Row-major walk (cache-friendly): add each row into the output. */
    const float *d = F(dY);
    float *o = F(db);
    if (beta == 0.0f) memset(o, 0, cols * sizeof(float));
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) o[c] += d[r * cols + c];
    return NB_OK;
}

static nb_status cpu_sum_sq(void *ctx, size_t n, nb_view x, nb_view out)
{
    (void)ctx;
    *F(out) = ref_sum_sq(n, F(x));
    return NB_OK;
}

static nb_status cpu_update(void *ctx, const nb_optim_step *step, size_t n, nb_view theta,
                            nb_view grad, nb_view state, nb_view gnorm2, nb_view bad)
{
    (void)ctx;
    float *t = F(theta);
    const float *g = F(grad);
    if (step->kind == NB_OPT_SGD && step->weight_decay == 0.0 && step->clip_norm <= 0.0) {
        const float lr = (float)step->lr; /* the common case, as a plain float loop */
        for (size_t i = 0; i < n; i++) t[i] -= lr * g[i];
    } else {
        ref_update(step, n, t, g, state.buf ? F(state) : NULL,
                   step->clip_norm > 0 ? *F(gnorm2) : 0.0f);
    }
    if (bad.buf) {
        /* Σ θ·0 is NaN exactly when some θ is NaN or ±Inf, and vectorises. */
        float z = 0.0f;
        for (size_t i = 0; i < n; i++) z += t[i] * 0.0f;
        if (z != 0.0f) *I(bad) = 1;
    }
    return NB_OK;
}

static const nb_backend_ops cpu_ops = {
    .name = "cpu",
    .destroy = cpu_destroy,
    .buf_alloc = cpu_buf_alloc,
    .buf_free = cpu_buf_free,
    .buf_borrow = cpu_buf_borrow,
    .buf_write = cpu_buf_write,
    .buf_read = cpu_buf_read,
    .copy = cpu_copy,
    .fill = cpu_fill,
    .sync = NULL,
    .gemm = cpu_gemm,
    .gather_rows = cpu_gather_rows,
    .bias_act = cpu_bias_act,
    .act_backward = cpu_act_backward,
    .loss = cpu_loss,
    .col_sum = cpu_col_sum,
    .sum_sq = cpu_sum_sq,
    .update = cpu_update,
};

nb_status nb_cpu_backend_create(nb_backend **out)
{
    nb_backend *be = calloc(1, sizeof *be);
    cpu_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        return NB_NOMEM("nb_cpu_backend_create", sizeof *be + sizeof *c);
    }
    int threads = nb_cpu_default_threads();
    nb_status st = nb_pool_create(threads, &c->pool);
    if (st != NB_OK) {
        cpu_destroy(c);
        free(be);
        return NB_FAIL(st, "nb_cpu_backend_create: %d threads (NABLA_THREADS sets fewer): %s",
                       threads, nb_last_error());
    }
    c->apack = alloc_aligned((size_t)threads * nb_cpu_gemm_apack_floats * sizeof(float));
    c->bpack = alloc_aligned(nb_cpu_gemm_bpack_floats * sizeof(float));
    if (!c->apack || !c->bpack) {
        size_t want = ((size_t)threads * nb_cpu_gemm_apack_floats + nb_cpu_gemm_bpack_floats) *
                      sizeof(float);
        cpu_destroy(c);
        free(be);
        return NB_NOMEM("nb_cpu_backend_create", want);
    }
    be->ops = &cpu_ops;
    be->ctx = c;
    snprintf(be->name, sizeof be->name, "cpu");
    be->build_cached = -1; /* no device program */
    be->data_budget = UINT64_MAX; /* host memory: data is always "resident" */
    be->max_alloc = UINT64_MAX;
    *out = be;
    return NB_OK;
}
