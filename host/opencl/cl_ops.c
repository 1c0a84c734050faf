/*
 * cl_ops.c — the OpenCL backend's ops: set each kernel's arguments and
 * launch it through nb_cl_launch with the geometry its .cl file documents.
 * Arguments were validated by the dispatch layer (host/backend.c).
 *
 * Every kernel's arguments are listed once, below, in the kernel's order:
 * an X-macro of S(p, name), one scalar, and V(p, name), one view, which is
 * two arguments (the buffer, then its element offset). Each list makes an
 * enum of argument indices (GEMM_M, …, GEMM_C, GEMM_C_OFF, GEMM_NARGS), so
 * no op spells an index as a number, and a list that grows moves every
 * index after it.
 */
#include "opencl/cl_internal.h"
#include "status.h"

#define MEM(v) ((cl_mem)(v).buf->handle)
#define OFF(v) ((cl_ulong)(v).off)
/* A view is two kernel arguments: the buffer at i, its offset at i + 1. */
#define CL_VIEW(c, kid, i, v)                                                                      \
    do {                                                                                           \
        CL_ARG(c, kid, i, MEM(v));                                                                 \
        CL_ARG(c, kid, (i) + 1, OFF(v));                                                           \
    } while (0)

/* The argument lists, as the kernels declare them (p: the enum's prefix). */
#define FILL_ARGS(S, V, p) S(p, n) S(p, value) V(p, x)
#define GEMM_ARGS(S, V, p) S(p, M) S(p, N) S(p, K) S(p, alpha) V(p, A) V(p, B) S(p, beta) V(p, C)
#define GEMM_EPI_ARGS(S, V, p)                                                                     \
    GEMM_ARGS(S, V, p) S(p, epi) S(p, act) V(p, E) V(p, cs) S(p, cs_on) S(p, cs_beta)
#define GEMV_ARGS(S, V, p) S(p, N) S(p, K) S(p, alpha) V(p, x) V(p, B) S(p, beta) V(p, y)
#define GATHER_ARGS(S, V, p) S(p, rows) S(p, cols) V(p, src) V(p, idx) V(p, dst)
#define BIAS_ACT_ARGS(S, V, p) S(p, rows) S(p, cols) S(p, act) V(p, bias) V(p, Y)
#define SOFTMAX_ARGS(S, V, p) S(p, rows) S(p, cols) V(p, bias) V(p, Y)
#define ACT_BACKWARD_ARGS(S, V, p) S(p, n) S(p, act) V(p, Y) V(p, dY)
#define REDUCE_SUM_ARGS(S, V, p) S(p, n) V(p, in) S(p, accumulate) V(p, out)
#define LOSS_ARGS(S, V, p)                                                                         \
    S(p, rows) S(p, cols) S(p, loss) S(p, scale) V(p, out) V(p, target) V(p, dOut) V(p, acc)
#define COL_PART_ARGS(S, V, p) S(p, rows) S(p, cols) S(p, rpb) V(p, dY) S(p, part)
#define COL_FINAL_ARGS(S, V, p) S(p, nblocks) S(p, cols) S(p, beta) V(p, part) V(p, db)
#define SUM_SQ_ARGS(S, V, p) S(p, n) V(p, x) V(p, part)
#define UPDATE_ARGS(S, V, p)                                                                       \
    S(p, n) S(p, kind) S(p, lr) S(p, mu) S(p, b1) S(p, b2) S(p, omb1) S(p, omb2) S(p, eps)        \
    S(p, wd) S(p, bc1) S(p, bc2) S(p, clip) V(p, theta) V(p, grad) V(p, state) V(p, gnorm2)       \
    S(p, check) V(p, bad)

#define ARG_S_(p, name) p##_##name,
#define ARG_V_(p, name) p##_##name, p##_##name##_OFF,
#define ARG_ENUM(list, p)                                                                          \
    enum { list(ARG_S_, ARG_V_, p) p##_NARGS }

ARG_ENUM(FILL_ARGS, FILL);
ARG_ENUM(GEMM_ARGS, GEMM);
ARG_ENUM(GEMM_EPI_ARGS, EPI);
ARG_ENUM(GEMV_ARGS, GEMV);
ARG_ENUM(GATHER_ARGS, GATHER);
ARG_ENUM(BIAS_ACT_ARGS, BACT);
ARG_ENUM(SOFTMAX_ARGS, SMAX);
ARG_ENUM(ACT_BACKWARD_ARGS, DACT);
ARG_ENUM(REDUCE_SUM_ARGS, RSUM);
ARG_ENUM(LOSS_ARGS, LOSS);
ARG_ENUM(COL_PART_ARGS, CPART);
ARG_ENUM(COL_FINAL_ARGS, CFINAL);
ARG_ENUM(SUM_SQ_ARGS, SUMSQ);
ARG_ENUM(UPDATE_ARGS, UPD);

/* The fused kernels' arguments begin with the plain GEMM's. */
_Static_assert((int)EPI_C_OFF == (int)GEMM_C_OFF && (int)EPI_epi == (int)GEMM_NARGS, "gemm_epi extends gemm's arguments");

/* Column sums: up to SINGLE_PASS_ROWS rows in one launch, else blocks of
 * COL_BLOCK_ROWS rows first. Σx²: at most SUM_SQ_MAX_GROUPS partials. */
enum { SINGLE_PASS_ROWS = 256, COL_BLOCK_ROWS = 64, SUM_SQ_MAX_GROUPS = 64 };

static size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

static nb_status cl_fill(void *ctx, size_t n, float value, nb_view x)
{
    nb_cl_ctx *c = ctx;
    CL_ARG(c, K_fill, FILL_n, (cl_ulong)n);
    CL_ARG(c, K_fill, FILL_value, value);
    CL_VIEW(c, K_fill, FILL_x, x);
    size_t g = n, l = (size_t)c->t.wg;
    return nb_cl_launch(c, K_fill, 1, &g, &l, 0);
}

/* y (1, N) = alpha · x (K) · op(B) + beta · y: the batch-1 path. */
static nb_status gemv(nb_cl_ctx *c, bool tb, size_t N, size_t K, float alpha, nb_view x,
                      nb_view B, float beta, nb_view y)
{
    nb_cl_kernel k = tb ? K_gemv_n : K_gemv_t; /* tb: B is (N, K), one dot per row */
    CL_ARG(c, k, GEMV_N, (cl_uint)N);
    CL_ARG(c, k, GEMV_K, (cl_uint)K);
    CL_ARG(c, k, GEMV_alpha, alpha);
    CL_VIEW(c, k, GEMV_x, x);
    CL_VIEW(c, k, GEMV_B, B);
    CL_ARG(c, k, GEMV_beta, beta);
    CL_VIEW(c, k, GEMV_y, y);
    size_t l = (size_t)c->t.gemv_wg;
    if (tb) { /* one work-group per output, tree-reducing its dot product */
        size_t g = N * l;
        return nb_cl_launch(c, k, 1, &g, &l, l * sizeof(float));
    }
    size_t g = N; /* one work-item per output, coalesced across j; x staged in local memory */
    return nb_cl_launch(c, k, 1, &g, &l, l * sizeof(float));
}

/* The arguments every GEMM kernel, tiled or small, plain or fused, takes
 * first (the fused kernels' lists extend the plain one: EPI_C == GEMM_C). */
static nb_status gemm_args(nb_cl_ctx *c, nb_cl_kernel k, size_t M, size_t N, size_t K,
                           float alpha, nb_view A, nb_view B, float beta, nb_view C)
{
    CL_ARG(c, k, GEMM_M, (cl_uint)M);
    CL_ARG(c, k, GEMM_N, (cl_uint)N);
    CL_ARG(c, k, GEMM_K, (cl_uint)K);
    CL_ARG(c, k, GEMM_alpha, alpha);
    CL_VIEW(c, k, GEMM_A, A);
    CL_VIEW(c, k, GEMM_B, B);
    CL_ARG(c, k, GEMM_beta, beta);
    CL_VIEW(c, k, GEMM_C, C);
    return NB_OK;
}

/* Whether a GEMM of this size runs one work-item per output. */
static bool gemm_is_small(const nb_cl_ctx *c, size_t M, size_t N, size_t K)
{
    return (double)M * (double)N * (double)K <= c->t.gemm_small;
}

/* The small kernels' launch: n outputs (or columns), 1-D. */
static nb_status launch_small(nb_cl_ctx *c, nb_cl_kernel k, size_t n)
{
    size_t g = n, l = 1;
    while (l < g && l < (size_t)c->t.wg) l *= 2; /* no wider than the outputs */
    return nb_cl_launch(c, k, 1, &g, &l, 0);
}

/* The tiled kernels' launch: one work-group per GEMM_TM x GEMM_TN tile. */
static nb_status launch_tiled(nb_cl_ctx *c, nb_cl_kernel k, size_t M, size_t N)
{
    const nb_cl_tunables *t = &c->t;
    size_t l[2] = {(size_t)(t->gemm_tn / t->gemm_wn), (size_t)(t->gemm_tm / t->gemm_wm)};
    size_t g[2] = {ceil_div(N, (size_t)t->gemm_tn) * l[0], ceil_div(M, (size_t)t->gemm_tm) * l[1]};
    return nb_cl_launch(c, k, 2, g, l, nb_cl_gemm_local_bytes(t));
}

static nb_status cl_gemm(void *ctx, bool ta, bool tb, size_t M, size_t N, size_t K, float alpha,
                         nb_view A, nb_view B, float beta, nb_view C)
{
    nb_cl_ctx *c = ctx;
    /* One row of output: A is a vector either way (a (1, K) row or a (K, 1)
     * column have the same layout), and a GEMM tile would be mostly idle. */
    if (M == 1) return gemv(c, tb, N, K, alpha, A, B, beta, C);
    if (gemm_is_small(c, M, N, K)) {
        /* Too small to fill a tile: one work-item per output, 1-D. */
        nb_cl_kernel k = ta ? (tb ? K_gemm_small_tt : K_gemm_small_tn)
                            : (tb ? K_gemm_small_nt : K_gemm_small_nn);
        NB_TRY(gemm_args(c, k, M, N, K, alpha, A, B, beta, C));
        return launch_small(c, k, M * N);
    }
    nb_cl_kernel k = ta ? (tb ? K_gemm_tt : K_gemm_tn) : (tb ? K_gemm_nt : K_gemm_nn);
    NB_TRY(gemm_args(c, k, M, N, K, alpha, A, B, beta, C));
    return launch_tiled(c, k, M, N);
}

static nb_status cl_bias_act(void *ctx, nb_act act, size_t rows, size_t cols, nb_view bias,
                             nb_view Y);
static nb_status cl_act_backward(void *ctx, nb_act act, size_t n, nb_view Y, nb_view dY);
static nb_status cl_col_sum(void *ctx, size_t rows, size_t cols, float beta, nb_view dY,
                            nb_view db);

/*
 * The GEMM with its epilogue (backend.h, nb_be_epi). Fused kernels exist
 * for the two products a training step fuses, op(A) · Bᵀ (a forward
 * layer) and A · B (the delta below): the small kernel takes the column
 * sums in the same launch when the rows are few enough for one work-item
 * per column to add them (as col_sum would, in one pass); the tiled
 * kernel leaves them to one col_sum launch after it. Other transposes,
 * and batch-1 products too big for the small kernel (the GEMV kernels),
 * run the composition, op by op, as the dispatch layer would.
 */
static nb_status cl_gemm_epi(void *ctx, bool ta, bool tb, size_t M, size_t N, size_t K,
                             float alpha, nb_view A, nb_view B, float beta, nb_view C,
                             const nb_be_epi *e)
{
    nb_cl_ctx *c = ctx;
    bool small = gemm_is_small(c, M, N, K);
    if (ta || (M == 1 && !small)) {
        NB_TRY(cl_gemm(ctx, ta, tb, M, N, K, alpha, A, B, beta, C));
        if (e->kind == NB_EPI_BIAS_ACT) NB_TRY(cl_bias_act(ctx, e->act, M, N, e->bias, C));
        if (e->kind == NB_EPI_DACT) NB_TRY(cl_act_backward(ctx, e->act, M * N, e->Y, C));
        return e->colsum.buf ? cl_col_sum(ctx, M, N, e->colsum_beta, C, e->colsum) : NB_OK;
    }
    bool cs_in_kernel = e->colsum.buf && small && M <= SINGLE_PASS_ROWS;
    nb_cl_kernel k = small ? (tb ? K_gemm_small_epi_nt : K_gemm_small_epi_nn)
                           : (tb ? K_gemm_epi_nt : K_gemm_epi_nn);
    /* Unused tensors still need a valid buffer argument: C stands in. */
    nb_view E = e->kind == NB_EPI_BIAS_ACT ? e->bias : e->kind == NB_EPI_DACT ? e->Y : C;
    nb_view cs = e->colsum.buf ? e->colsum : C;
    NB_TRY(gemm_args(c, k, M, N, K, alpha, A, B, beta, C));
    CL_ARG(c, k, EPI_epi, (cl_int)e->kind);
    CL_ARG(c, k, EPI_act, (cl_int)e->act);
    CL_VIEW(c, k, EPI_E, E);
    CL_VIEW(c, k, EPI_cs, cs);
    CL_ARG(c, k, EPI_cs_on, (cl_int)cs_in_kernel);
    CL_ARG(c, k, EPI_cs_beta, e->colsum_beta);
    if (small)
        NB_TRY(launch_small(c, k, cs_in_kernel ? N : M * N));
    else
        NB_TRY(launch_tiled(c, k, M, N));
    if (e->colsum.buf && !cs_in_kernel) return cl_col_sum(ctx, M, N, e->colsum_beta, C, e->colsum);
    return NB_OK;
}

static nb_status cl_gather_rows(void *ctx, size_t rows, size_t cols, nb_view src, nb_view idx,
                                nb_view dst)
{
    nb_cl_ctx *c = ctx;
    CL_ARG(c, K_gather_rows, GATHER_rows, (cl_uint)rows);
    CL_ARG(c, K_gather_rows, GATHER_cols, (cl_uint)cols);
    CL_VIEW(c, K_gather_rows, GATHER_src, src);
    CL_VIEW(c, K_gather_rows, GATHER_idx, idx);
    CL_VIEW(c, K_gather_rows, GATHER_dst, dst);
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
        CL_ARG(c, K_bias_softmax, SMAX_rows, (cl_uint)rows);
        CL_ARG(c, K_bias_softmax, SMAX_cols, (cl_uint)cols);
        CL_VIEW(c, K_bias_softmax, SMAX_bias, bias);
        CL_VIEW(c, K_bias_softmax, SMAX_Y, Y);
        size_t l = (size_t)c->t.wg, g = rows * l;
        return nb_cl_launch(c, K_bias_softmax, 1, &g, &l, l * sizeof(float));
    }
    CL_ARG(c, K_bias_act, BACT_rows, (cl_uint)rows);
    CL_ARG(c, K_bias_act, BACT_cols, (cl_uint)cols);
    CL_ARG(c, K_bias_act, BACT_act, (cl_int)act);
    CL_VIEW(c, K_bias_act, BACT_bias, bias);
    CL_VIEW(c, K_bias_act, BACT_Y, Y);
    size_t g[2] = {cols, rows}, l[2] = {cols < (size_t)c->t.wg ? cols : (size_t)c->t.wg, 1};
    return nb_cl_launch(c, K_bias_act, 2, g, l, 0);
}

static nb_status cl_act_backward(void *ctx, nb_act act, size_t n, nb_view Y, nb_view dY)
{
    nb_cl_ctx *c = ctx;
    CL_ARG(c, K_act_backward, DACT_n, (cl_ulong)n);
    CL_ARG(c, K_act_backward, DACT_act, (cl_int)act);
    CL_VIEW(c, K_act_backward, DACT_Y, Y);
    CL_VIEW(c, K_act_backward, DACT_dY, dY);
    size_t g = n, l = (size_t)c->t.wg;
    return nb_cl_launch(c, K_act_backward, 1, &g, &l, 0);
}

/* out[off_out] = Σ in[0..n) (+ out if accumulate), one work-group. */
static nb_status reduce_sum(nb_cl_ctx *c, size_t n, cl_mem in, cl_int accumulate, nb_view out)
{
    CL_ARG(c, K_reduce_sum, RSUM_n, (cl_uint)n);
    CL_ARG(c, K_reduce_sum, RSUM_in, in);
    CL_ARG(c, K_reduce_sum, RSUM_in_OFF, (cl_ulong)0);
    CL_ARG(c, K_reduce_sum, RSUM_accumulate, accumulate);
    CL_VIEW(c, K_reduce_sum, RSUM_out, out);
    size_t l = (size_t)c->t.wg, g = l;
    return nb_cl_launch(c, K_reduce_sum, 1, &g, &l, l * sizeof(float));
}

static nb_status cl_loss(void *ctx, nb_loss loss, size_t rows, size_t cols, float scale,
                         nb_view out, nb_view target, nb_view dOut, nb_view acc)
{
    nb_cl_ctx *c = ctx;
    CL_ARG(c, K_loss_sum, LOSS_rows, (cl_uint)rows);
    CL_ARG(c, K_loss_sum, LOSS_cols, (cl_uint)cols);
    CL_ARG(c, K_loss_sum, LOSS_loss, (cl_int)loss);
    CL_ARG(c, K_loss_sum, LOSS_scale, scale);
    CL_VIEW(c, K_loss_sum, LOSS_out, out);
    CL_VIEW(c, K_loss_sum, LOSS_target, target);
    CL_VIEW(c, K_loss_sum, LOSS_dOut, dOut);
    CL_VIEW(c, K_loss_sum, LOSS_acc, acc);
    size_t l = (size_t)c->t.wg, g = l; /* one work-group: a fixed summation order */
    return nb_cl_launch(c, K_loss_sum, 1, &g, &l, l * sizeof(float));
}

/* db (cols) = Σ_b part[b, :] + beta · db over nblocks rows of part. */
static nb_status col_sum_final(nb_cl_ctx *c, size_t nblocks, size_t cols, float beta, cl_mem part,
                               cl_ulong off_part, nb_view db)
{
    CL_ARG(c, K_col_sum_final, CFINAL_nblocks, (cl_uint)nblocks);
    CL_ARG(c, K_col_sum_final, CFINAL_cols, (cl_uint)cols);
    CL_ARG(c, K_col_sum_final, CFINAL_beta, beta);
    CL_ARG(c, K_col_sum_final, CFINAL_part, part);
    CL_ARG(c, K_col_sum_final, CFINAL_part_OFF, off_part);
    CL_VIEW(c, K_col_sum_final, CFINAL_db, db);
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
    CL_ARG(c, K_col_sum_part, CPART_rows, (cl_uint)rows);
    CL_ARG(c, K_col_sum_part, CPART_cols, (cl_uint)cols);
    CL_ARG(c, K_col_sum_part, CPART_rpb, (cl_uint)COL_BLOCK_ROWS);
    CL_VIEW(c, K_col_sum_part, CPART_dY, dY);
    CL_ARG(c, K_col_sum_part, CPART_part, c->scratch);
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
    CL_ARG(c, K_sum_sq_part, SUMSQ_n, (cl_ulong)n);
    CL_VIEW(c, K_sum_sq_part, SUMSQ_x, x);
    size_t g = groups * l;
    if (groups == 1) { /* one group's partial is the sum: one launch */
        CL_VIEW(c, K_sum_sq_part, SUMSQ_part, out);
        return nb_cl_launch(c, K_sum_sq_part, 1, &g, &l, l * sizeof(float));
    }
    NB_TRY(nb_cl_scratch(c, groups));
    CL_ARG(c, K_sum_sq_part, SUMSQ_part, c->scratch);
    CL_ARG(c, K_sum_sq_part, SUMSQ_part_OFF, (cl_ulong)0);
    NB_TRY(nb_cl_launch(c, K_sum_sq_part, 1, &g, &l, l * sizeof(float)));
    return reduce_sum(c, groups, c->scratch, 0, out);
}

static nb_status cl_update(void *ctx, const nb_optim_step *step, size_t n, nb_view theta,
                           nb_view grad, nb_view state, nb_view gnorm2, nb_view bad)
{
    nb_cl_ctx *c = ctx;
    const nb_cl_kernel k = K_update;
    /* Unused vectors still need a valid buffer argument: θ stands in. */
    nb_view st = state.buf ? state : theta, gn = gnorm2.buf ? gnorm2 : theta;
    CL_ARG(c, k, UPD_n, (cl_ulong)n);
    CL_ARG(c, k, UPD_kind, (cl_int)step->kind);
    CL_ARG(c, k, UPD_lr, (float)step->lr);
    CL_ARG(c, k, UPD_mu, (float)step->momentum);
    CL_ARG(c, k, UPD_b1, (float)step->beta1);
    CL_ARG(c, k, UPD_b2, (float)step->beta2);
    CL_ARG(c, k, UPD_omb1, (float)(1.0 - step->beta1));
    CL_ARG(c, k, UPD_omb2, (float)(1.0 - step->beta2));
    CL_ARG(c, k, UPD_eps, (float)step->eps);
    CL_ARG(c, k, UPD_wd, (float)step->weight_decay);
    CL_ARG(c, k, UPD_bc1, (float)step->bc1);
    CL_ARG(c, k, UPD_bc2, (float)step->bc2);
    CL_ARG(c, k, UPD_clip, (float)step->clip_norm);
    CL_VIEW(c, k, UPD_theta, theta);
    CL_VIEW(c, k, UPD_grad, grad);
    CL_VIEW(c, k, UPD_state, st);
    CL_VIEW(c, k, UPD_gnorm2, gn);
    /* No flag wanted: the kernel still needs a buffer; it skips the check. */
    CL_ARG(c, k, UPD_check, (cl_int)(bad.buf != NULL));
    CL_ARG(c, k, UPD_bad, bad.buf ? MEM(bad) : MEM(theta));
    CL_ARG(c, k, UPD_bad_OFF, bad.buf ? OFF(bad) : (cl_ulong)0);
    size_t g = n, l = (size_t)c->t.wg;
    return nb_cl_launch(c, k, 1, &g, &l, 0);
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
    .gemm_epi = cl_gemm_epi,
    .gather_rows = cl_gather_rows,
    .bias_act = cl_bias_act,
    .act_backward = cl_act_backward,
    .loss = cl_loss,
    .col_sum = cl_col_sum,
    .sum_sq = cl_sum_sq,
    .update = cl_update,
};
