/*
 * cl_ops.c — the OpenCL backend's ops: set each kernel's arguments and
 * launch it through nb_cl_launch with the geometry its .cl file documents.
 * Arguments were validated by the dispatch layer (host/backend.c).
 */
#include "opencl/cl_backend.h"
#include "status.h"

#define MEM(v) ((cl_mem)(v).buf->handle)
#define OFF(v) ((cl_ulong)(v).off)
/* A view is two kernel arguments: the buffer at i, its offset at i + 1. */
#define CL_VIEW(c, kid, i, v)                                                                      \
    do {                                                                                           \
        CL_ARG(c, kid, i, MEM(v));                                                                 \
        CL_ARG(c, kid, (i) + 1, OFF(v));                                                           \
    } while (0)

/* Column sums: up to SINGLE_PASS_ROWS rows in one launch, else blocks of
 * COL_BLOCK_ROWS rows first. Σx²: at most SUM_SQ_MAX_GROUPS partials. */
enum { SINGLE_PASS_ROWS = 256, COL_BLOCK_ROWS = 64, SUM_SQ_MAX_GROUPS = 64 };

static size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

static nb_status cl_fill(void *ctx, size_t n, float value, nb_view x)
{
    nb_cl_ctx *c = ctx;
    CL_ARG(c, K_fill, 0, (cl_ulong)n);
    CL_ARG(c, K_fill, 1, value);
    CL_VIEW(c, K_fill, 2, x);
    size_t g = n, l = (size_t)c->t.wg;
    return nb_cl_launch(c, K_fill, 1, &g, &l, 0);
}

/* y (1, N) = alpha · x (K) · op(B) + beta · y: the batch-1 path. */
static nb_status gemv(nb_cl_ctx *c, bool tb, size_t N, size_t K, float alpha, nb_view x,
                      nb_view B, float beta, nb_view y)
{
    nb_cl_kernel k = tb ? K_gemv_n : K_gemv_t; /* tb: B is (N, K), one dot per row */
    CL_ARG(c, k, 0, (cl_uint)N);
    CL_ARG(c, k, 1, (cl_uint)K);
    CL_ARG(c, k, 2, alpha);
    CL_VIEW(c, k, 3, x);
    CL_VIEW(c, k, 5, B);
    CL_ARG(c, k, 7, beta);
    CL_VIEW(c, k, 8, y);
    size_t l = (size_t)c->t.gemv_wg;
    if (tb) { /* one work-group per output, tree-reducing its dot product */
        size_t g = N * l;
        return nb_cl_launch(c, k, 1, &g, &l, l * sizeof(float));
    }
    size_t g = N; /* one work-item per output, coalesced across j; x staged in local memory */
    return nb_cl_launch(c, k, 1, &g, &l, l * sizeof(float));
}

/* The arguments every GEMM kernel, tiled or small, takes. */
static nb_status gemm_args(nb_cl_ctx *c, nb_cl_kernel k, size_t M, size_t N, size_t K,
                           float alpha, nb_view A, nb_view B, float beta, nb_view C)
{
    CL_ARG(c, k, 0, (cl_uint)M);
    CL_ARG(c, k, 1, (cl_uint)N);
    CL_ARG(c, k, 2, (cl_uint)K);
    CL_ARG(c, k, 3, alpha);
    CL_VIEW(c, k, 4, A);
    CL_VIEW(c, k, 6, B);
    CL_ARG(c, k, 8, beta);
    CL_VIEW(c, k, 9, C);
    return NB_OK;
}

static nb_status cl_gemm(void *ctx, bool ta, bool tb, size_t M, size_t N, size_t K, float alpha,
                         nb_view A, nb_view B, float beta, nb_view C)
{
    nb_cl_ctx *c = ctx;
    /* One row of output: A is a vector either way (a (1, K) row or a (K, 1)
     * column have the same layout), and a GEMM tile would be mostly idle. */
    if (M == 1) return gemv(c, tb, N, K, alpha, A, B, beta, C);
    if ((double)M * (double)N * (double)K <= c->t.gemm_small) {
        /* Too small to fill a tile: one work-item per output, 1-D. */
        nb_cl_kernel k = ta ? (tb ? K_gemm_small_tt : K_gemm_small_tn)
                            : (tb ? K_gemm_small_nt : K_gemm_small_nn);
        NB_TRY(gemm_args(c, k, M, N, K, alpha, A, B, beta, C));
        size_t g = M * N, l = 1;
        while (l < g && l < (size_t)c->t.wg) l *= 2; /* no wider than the outputs */
        return nb_cl_launch(c, k, 1, &g, &l, 0);
    }
    nb_cl_kernel k = ta ? (tb ? K_gemm_tt : K_gemm_tn) : (tb ? K_gemm_nt : K_gemm_nn);
    NB_TRY(gemm_args(c, k, M, N, K, alpha, A, B, beta, C));
    const nb_cl_tunables *t = &c->t;
    size_t l[2] = {(size_t)(t->gemm_tn / t->gemm_wn), (size_t)(t->gemm_tm / t->gemm_wm)};
    size_t g[2] = {ceil_div(N, (size_t)t->gemm_tn) * l[0], ceil_div(M, (size_t)t->gemm_tm) * l[1]};
    return nb_cl_launch(c, k, 2, g, l, nb_cl_gemm_local_bytes(t));
}

static nb_status cl_gather_rows(void *ctx, size_t rows, size_t cols, nb_view src, nb_view idx,
                                nb_view dst)
{
    nb_cl_ctx *c = ctx;
    CL_ARG(c, K_gather_rows, 0, (cl_uint)rows);
    CL_ARG(c, K_gather_rows, 1, (cl_uint)cols);
    CL_VIEW(c, K_gather_rows, 2, src);
    CL_VIEW(c, K_gather_rows, 4, idx);
    CL_VIEW(c, K_gather_rows, 6, dst);
    size_t l[2], g[2] = {cols, rows};
    l[0] = cols < (size_t)c->t.wg ? cols : (size_t)c->t.wg;
    l[1] = 1;
    return nb_cl_launch(c, K_gather_rows, 2, g, l, 0);
}

static nb_status cl_bias_act(void *ctx, nb_act act, size_t rows, size_t cols, nb_view bias,
                             nb_view Y)
{
    nb_cl_ctx *c = ctx;
    if (act == NB_ACT_SOFTMAX) {
        CL_ARG(c, K_bias_softmax, 0, (cl_uint)rows);
        CL_ARG(c, K_bias_softmax, 1, (cl_uint)cols);
        CL_VIEW(c, K_bias_softmax, 2, bias);
        CL_VIEW(c, K_bias_softmax, 4, Y);
        size_t l = (size_t)c->t.wg, g = rows * l;
        return nb_cl_launch(c, K_bias_softmax, 1, &g, &l, l * sizeof(float));
    }
    CL_ARG(c, K_bias_act, 0, (cl_uint)rows);
    CL_ARG(c, K_bias_act, 1, (cl_uint)cols);
    CL_ARG(c, K_bias_act, 2, (cl_int)act);
    CL_VIEW(c, K_bias_act, 3, bias);
    CL_VIEW(c, K_bias_act, 5, Y);
    size_t g[2] = {cols, rows}, l[2] = {cols < (size_t)c->t.wg ? cols : (size_t)c->t.wg, 1};
    return nb_cl_launch(c, K_bias_act, 2, g, l, 0);
}

static nb_status cl_act_backward(void *ctx, nb_act act, size_t n, nb_view Y, nb_view dY)
{
    nb_cl_ctx *c = ctx;
    CL_ARG(c, K_act_backward, 0, (cl_ulong)n);
    CL_ARG(c, K_act_backward, 1, (cl_int)act);
    CL_VIEW(c, K_act_backward, 2, Y);
    CL_VIEW(c, K_act_backward, 4, dY);
    size_t g = n, l = (size_t)c->t.wg;
    return nb_cl_launch(c, K_act_backward, 1, &g, &l, 0);
}

/* out[off_out] = Σ in[0..n) (+ out if accumulate), one work-group. */
static nb_status reduce_sum(nb_cl_ctx *c, size_t n, cl_mem in, cl_int accumulate, nb_view out)
{
    CL_ARG(c, K_reduce_sum, 0, (cl_uint)n);
    CL_ARG(c, K_reduce_sum, 1, in);
    CL_ARG(c, K_reduce_sum, 2, (cl_ulong)0);
    CL_ARG(c, K_reduce_sum, 3, accumulate);
    CL_VIEW(c, K_reduce_sum, 4, out);
    size_t l = (size_t)c->t.wg, g = l;
    return nb_cl_launch(c, K_reduce_sum, 1, &g, &l, l * sizeof(float));
}

static nb_status cl_loss(void *ctx, nb_loss loss, size_t rows, size_t cols, float scale,
                         nb_view out, nb_view target, nb_view dOut, nb_view acc)
{
    nb_cl_ctx *c = ctx;
    CL_ARG(c, K_loss_sum, 0, (cl_uint)rows);
    CL_ARG(c, K_loss_sum, 1, (cl_uint)cols);
    CL_ARG(c, K_loss_sum, 2, (cl_int)(loss == NB_LOSS_XENT));
    CL_ARG(c, K_loss_sum, 3, scale);
    CL_VIEW(c, K_loss_sum, 4, out);
    CL_VIEW(c, K_loss_sum, 6, target);
    CL_VIEW(c, K_loss_sum, 8, dOut);
    CL_VIEW(c, K_loss_sum, 10, acc);
    size_t l = (size_t)c->t.wg, g = l; /* one work-group: a fixed summation order */
    return nb_cl_launch(c, K_loss_sum, 1, &g, &l, l * sizeof(float));
}

/* db (cols) = Σ_b part[b, :] + beta · db over nblocks rows of part. */
static nb_status col_sum_final(nb_cl_ctx *c, size_t nblocks, size_t cols, float beta, cl_mem part,
                               cl_ulong off_part, nb_view db)
{
    CL_ARG(c, K_col_sum_final, 0, (cl_uint)nblocks);
    CL_ARG(c, K_col_sum_final, 1, (cl_uint)cols);
    CL_ARG(c, K_col_sum_final, 2, beta);
    CL_ARG(c, K_col_sum_final, 3, part);
    CL_ARG(c, K_col_sum_final, 4, off_part);
    CL_VIEW(c, K_col_sum_final, 5, db);
    size_t g = cols, l = cols < (size_t)c->t.wg ? cols : (size_t)c->t.wg;
    return nb_cl_launch(c, K_col_sum_final, 1, &g, &l, 0);
}

static nb_status cl_col_sum(void *ctx, size_t rows, size_t cols, float beta, nb_view dY,
                            nb_view db)
{
    nb_cl_ctx *c = ctx;
    /* A short matrix is summed in one launch, row by row in order. */
    if (rows <= SINGLE_PASS_ROWS) return col_sum_final(c, rows, cols, beta, MEM(dY), OFF(dY), db);
    size_t nblocks = ceil_div(rows, COL_BLOCK_ROWS);
    NB_TRY(nb_cl_scratch(c, nblocks * cols));
    CL_ARG(c, K_col_sum_part, 0, (cl_uint)rows);
    CL_ARG(c, K_col_sum_part, 1, (cl_uint)cols);
    CL_ARG(c, K_col_sum_part, 2, (cl_uint)COL_BLOCK_ROWS);
    CL_VIEW(c, K_col_sum_part, 3, dY);
    CL_ARG(c, K_col_sum_part, 5, c->scratch);
    size_t l[2] = {cols < (size_t)c->t.wg ? cols : (size_t)c->t.wg, 1}, g[2] = {cols, nblocks};
    NB_TRY(nb_cl_launch(c, K_col_sum_part, 2, g, l, 0));
    return col_sum_final(c, nblocks, cols, beta, c->scratch, 0, db);
}

static nb_status cl_sum_sq(void *ctx, size_t n, nb_view x, nb_view out)
{
    nb_cl_ctx *c = ctx;
    size_t l = (size_t)c->t.wg;
    /* The group count depends on n only, so the summation order does too. */
    size_t groups = ceil_div(n, l);
    if (groups > SUM_SQ_MAX_GROUPS) groups = SUM_SQ_MAX_GROUPS;
    NB_TRY(nb_cl_scratch(c, groups));
    CL_ARG(c, K_sum_sq_part, 0, (cl_ulong)n);
    CL_VIEW(c, K_sum_sq_part, 1, x);
    CL_ARG(c, K_sum_sq_part, 3, c->scratch);
    size_t g = groups * l;
    NB_TRY(nb_cl_launch(c, K_sum_sq_part, 1, &g, &l, l * sizeof(float)));
    return reduce_sum(c, groups, c->scratch, 0, out);
}

static nb_status cl_update(void *ctx, const nb_optim_step *step, size_t n, nb_view theta,
                           nb_view grad, nb_view state, nb_view gnorm2, nb_view bad)
{
    nb_cl_ctx *c = ctx;
    /* Unused vectors still need a valid buffer argument: θ stands in. */
    nb_view st = state.buf ? state : theta, gn = gnorm2.buf ? gnorm2 : theta;
    const float f[] = {(float)step->lr,          (float)step->momentum,     (float)step->beta1,
                       (float)step->beta2,       (float)(1.0 - step->beta1), (float)(1.0 - step->beta2),
                       (float)step->eps,         (float)step->weight_decay, (float)step->bc1,
                       (float)step->bc2,         (float)step->clip_norm};
    CL_ARG(c, K_update, 0, (cl_ulong)n);
    CL_ARG(c, K_update, 1, (cl_int)step->kind);
    for (cl_uint i = 0; i < sizeof f / sizeof *f; i++) CL_ARG(c, K_update, 2 + i, f[i]);
    CL_VIEW(c, K_update, 13, theta);
    CL_VIEW(c, K_update, 15, grad);
    CL_VIEW(c, K_update, 17, st);
    CL_VIEW(c, K_update, 19, gn);
    /* No flag wanted: the kernel still needs a buffer; it skips the check. */
    CL_ARG(c, K_update, 21, (cl_int)(bad.buf != NULL));
    CL_ARG(c, K_update, 22, bad.buf ? MEM(bad) : MEM(theta));
    CL_ARG(c, K_update, 23, bad.buf ? OFF(bad) : (cl_ulong)0);
    size_t g = n, l = (size_t)c->t.wg;
    return nb_cl_launch(c, K_update, 1, &g, &l, 0);
}

const nb_backend_ops nb_cl_ops_table = {
    .name = "opencl",
    .self_timed = 1,
    .destroy = nb_cl_destroy,
    .buf_alloc = nb_cl_buf_alloc,
    .buf_free = nb_cl_buf_free,
    .buf_write = nb_cl_buf_write,
    .buf_borrow = nb_cl_buf_borrow,
    .buf_write_async = nb_cl_buf_write_async,
    .write_wait = nb_cl_write_wait,
    .buf_read = nb_cl_buf_read,
    .copy = nb_cl_copy,
    .fill = cl_fill,
    .sync = nb_cl_sync,
    .gemm = cl_gemm,
    .gather_rows = cl_gather_rows,
    .bias_act = cl_bias_act,
    .act_backward = cl_act_backward,
    .loss = cl_loss,
    .col_sum = cl_col_sum,
    .sum_sq = cl_sum_sq,
    .update = cl_update,
};
