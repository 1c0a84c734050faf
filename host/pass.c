/*
 * pass.c — batched forward and backward passes through the MLP, written
 * once against the backend interface (see pass.h).
 *
 * Shapes, for a batch of B rows and layer l = 0..L-1 (w_l = widths[l]):
 *   X_l (B, w_l)        input of layer l: the batch for l = 0, else Y_{l-1}
 *   A_l (w_{l+1}, w_l)  weights, row-major;   b_l (w_{l+1})
 *   Y_l (B, w_{l+1})    = σ_l(X_l · A_lᵀ + b_l)
 * Backward, with D_l = ∂(scale·Σ loss)/∂Z_l (B, w_{l+1}):
 *   D_{L-1} = loss gradient (× σ' unless the loss works on logits)
 *   ∇A_l = D_lᵀ · X_l,  ∇b_l = Σ_rows D_l,  D_{l-1} = (D_l · A_l) ⊙ σ'_{l-1}
 * Every product is one GEMM over the whole batch: no per-sample loops.
 */
#include "pass.h"

#include "devdata.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

static size_t max_width(const nb_model *m)
{
    size_t w = 0;
    for (int l = 0; l <= m->n_layers; l++)
        if ((size_t)m->widths[l] > w) w = (size_t)m->widths[l];
    return w;
}

/* Floats of scratch per row: activations, target, two deltas. */
static size_t floats_per_row(const nb_model *m)
{
    size_t f = 0;
    for (int l = 0; l <= m->n_layers; l++) f += (size_t)m->widths[l];
    return f + (size_t)m->widths[m->n_layers] + 2 * max_width(m);
}

size_t nb_pass_max_rows(const nb_model *m)
{
    size_t rows = ((size_t)256 << 20) / (4 * floats_per_row(m));
    return rows ? rows : 1;
}

void nb_pass_destroy(const nb_model *m, nb_pass *p)
{
    nb_be_free(m->be, &p->act);
    nb_be_free(m->be, &p->target);
    nb_be_free(m->be, &p->delta);
    nb_be_free(m->be, &p->scal);
    free(p->act_off);
    memset(p, 0, sizeof *p);
}

nb_status nb_pass_create(const nb_model *m, size_t cap, nb_pass *p)
{
    nb_status st;
    size_t total = 0, n;
    memset(p, 0, sizeof *p);
    if (cap == 0) return NB_FAIL(NB_ERR_ARG, "nb_pass_create: zero rows");
    p->cap = cap;
    p->act_off = malloc((size_t)(m->n_layers + 1) * sizeof *p->act_off);
    if (!p->act_off) return NB_NOMEM("nb_pass_create", (size_t)(m->n_layers + 1) * sizeof(size_t));
    for (int l = 0; l <= m->n_layers; l++) {
        p->act_off[l] = total;
        if (!nb_mul_ok(cap, (size_t)m->widths[l], &n) || !nb_add_ok(total, n, &total)) {
            st = NB_FAIL(NB_ERR_ARG, "nb_pass_create: %zu rows overflow the scratch size", cap);
            goto fail;
        }
    }
    if (!nb_mul_ok(cap, max_width(m), &p->delta_half)) {
        st = NB_FAIL(NB_ERR_ARG, "nb_pass_create: %zu rows overflow the scratch size", cap);
        goto fail;
    }
    NB_CHECK(nb_be_alloc(m->be, &p->act, total, NB_F32));
    NB_CHECK(nb_be_alloc(m->be, &p->target, cap * (size_t)m->widths[m->n_layers], NB_F32));
    NB_CHECK(nb_be_alloc(m->be, &p->delta, 2 * p->delta_half, NB_F32));
    NB_CHECK(nb_be_alloc(m->be, &p->scal, NB_SCAL_COUNT, NB_F32));
    NB_CHECK(nb_be_fill(m->be, NB_SCAL_COUNT, 0.0f, nb_view_at(&p->scal, 0)));
    return NB_OK;
fail:
    nb_pass_destroy(m, p);
    return st;
}

/* Activation layer l applies in this pass (softmax stops at logits). */
static nb_act pass_act(const nb_model *m, int l, bool logits)
{
    nb_act a = m->acts[l];
    return (logits && a == NB_ACT_SOFTMAX) ? NB_ACT_IDENTITY : a;
}

nb_status nb_pass_forward(nb_model *m, nb_pass *p, size_t rows, nb_view x, bool logits)
{
    nb_backend *be = m->be;
    if (rows == 0 || rows > p->cap)
        return NB_FAIL(NB_ERR_INTERNAL, "nb_pass_forward: %zu rows for a pass of %zu", rows, p->cap);
    for (int l = 0; l < m->n_layers; l++) {
        size_t in = (size_t)m->widths[l], out = (size_t)m->widths[l + 1];
        nb_view X = l == 0 ? x : nb_view_at(&p->act, p->act_off[l]);
        nb_view Y = nb_view_at(&p->act, p->act_off[l + 1]);
        /* Y (B, out) = σ(X (B, in) · A_lᵀ + b_l), σ applied as the product
         * is written; softmax, row-wise, after it. */
        nb_act act = pass_act(m, l, logits);
        nb_view b = nb_model_b(m, &m->theta, l), W = nb_model_w(m, &m->theta, l);
        if (act == NB_ACT_SOFTMAX) {
            NB_TRY(nb_be_gemm(be, false, true, rows, out, in, 1.0f, X, W, 0.0f, Y));
            NB_TRY(nb_be_bias_act(be, act, rows, out, b, Y));
        } else {
            nb_be_epi e = {.kind = NB_EPI_BIAS_ACT, .act = act, .bias = b};
            NB_TRY(nb_be_gemm_epi(be, false, true, rows, out, in, 1.0f, X, W, 0.0f, Y, &e));
        }
    }
    return NB_OK;
}

nb_status nb_pass_loss_grad(nb_model *m, nb_pass *p, size_t rows, nb_view x, nb_view t,
                            float scale, int slot, bool want_grad, bool accumulate)
{
    nb_backend *be = m->be;
    const int L = m->n_layers;
    const float beta = accumulate ? 1.0f : 0.0f;
    NB_TRY(nb_pass_forward(m, p, rows, x, true));

    /* D_{L-1}: the loss gradient w.r.t. the output (or the logits). */
    size_t h = 0; /* which delta half holds the current D */
    nb_view D = nb_view_at(&p->delta, 0);
    NB_TRY(nb_be_loss(be, m->loss, rows, (size_t)m->widths[L], scale, nb_pass_out(m, p), t, D,
                      nb_view_at(&p->scal, (size_t)slot)));
    if (!want_grad) return NB_OK;
    if (pass_act(m, L - 1, true) != NB_ACT_IDENTITY)
        NB_TRY(nb_be_act_backward(be, m->acts[L - 1], rows * (size_t)m->widths[L],
                                  nb_pass_out(m, p), D));
    /* ∇b_{L-1} = Σ_rows D_{L-1}; the lower layers' come with their deltas. */
    NB_TRY(nb_be_col_sum(be, rows, (size_t)m->widths[L], beta, D, nb_model_b(m, &m->grad, L - 1)));

    for (int l = L - 1; l >= 0; l--) {
        size_t in = (size_t)m->widths[l], out = (size_t)m->widths[l + 1];
        nb_view X = l == 0 ? x : nb_view_at(&p->act, p->act_off[l]);
        /* ∇A_l (out, in) = D_lᵀ (out, B) · X_l (B, in). */
        NB_TRY(nb_be_gemm(be, true, false, out, in, rows, 1.0f, D, X, beta,
                          nb_model_w(m, &m->grad, l)));
        if (l == 0) break; /* layer 1's input needs no gradient */
        /* D_{l-1} (B, in) = D_l (B, out) · A_l (out, in) ⊙ σ'_{l-1}(X_l), the
         * derivative applied as the product is written, and ∇b_{l-1} =
         * Σ_rows D_{l-1} taken from it there. */
        h ^= 1;
        nb_view Dp = nb_view_at(&p->delta, h * p->delta_half);
        nb_be_epi e = {.kind = NB_EPI_DACT, .act = m->acts[l - 1], .Y = X,
                       .colsum = nb_model_b(m, &m->grad, l - 1), .colsum_beta = beta};
        NB_TRY(nb_be_gemm_epi(be, false, false, rows, in, out, 1.0f, D,
                              nb_model_w(m, &m->theta, l), 0.0f, Dp, &e));
        D = Dp;
    }
    return NB_OK;
}

nb_status nb_pass_range(nb_model *m, nb_pass *p, nb_devdata *dd, size_t r0, size_t r1,
                        float scale, bool want_grad)
{
    nb_backend *be = m->be;
    NB_TRY(nb_be_fill(be, 1, 0.0f, nb_view_at(&p->scal, NB_SCAL_PASS_LOSS)));
    /* No rows (a process whose share is empty): a zero gradient, so that
     * a sum over processes counts nothing from it. */
    if (r1 <= r0)
        return want_grad ? nb_be_fill(be, m->n_params, 0.0f, nb_view_at(&m->grad, 0)) : NB_OK;
    /* Chunks of cap rows; gradients of later chunks add to the first's. */
    for (size_t r = r0; r < r1; r += p->cap) {
        size_t rows = r1 - r < p->cap ? r1 - r : p->cap;
        nb_view x, t;
        NB_TRY(nb_devdata_rows(be, dd, r, rows, NULL, NULL, nb_pass_in(p), nb_pass_target(p), &x,
                               &t));
        NB_TRY(nb_pass_loss_grad(m, p, rows, x, t, scale, NB_SCAL_PASS_LOSS, want_grad, r > r0));
    }
    return NB_OK;
}

nb_status nb_pass_full(nb_model *m, nb_pass *p, nb_devdata *dd, bool want_grad, double *loss)
{
    float sum;
    NB_TRY(nb_pass_range(m, p, dd, 0, dd->rows, (float)(1.0 / (double)dd->rows), want_grad));
    NB_TRY(nb_be_read(m->be, &p->scal, NB_SCAL_PASS_LOSS, &sum, 1));
    *loss = (double)sum / (double)dd->rows;
    return NB_OK;
}

nb_status nb_pass_norm(nb_model *m, nb_pass *p, const nb_buf *v, size_t n, double *norm)
{
    float s;
    NB_TRY(nb_be_sum_sq(m->be, n, nb_view_at(v, 0), nb_view_at(&p->scal, NB_SCAL_SUMSQ)));
    NB_TRY(nb_be_read(m->be, &p->scal, NB_SCAL_SUMSQ, &s, 1));
    *norm = sqrt((double)s);
    return NB_OK;
}

/* Index of the largest of n values (first on ties). */
static size_t argmax(const float *v, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

nb_status nb_pass_evaluate_range(nb_model *m, nb_pass *p, nb_devdata *dd, const int32_t *labels,
                                 size_t r0, size_t r1, double *loss_sum, size_t *correct)
{
    nb_backend *be = m->be;
    size_t k = (size_t)dd->outputs;
    float *out = NULL;
    nb_status st;
    *correct = 0;
    if (labels && r1 > r0) {
        out = malloc(p->cap * k * sizeof(float));
        if (!out) return NB_NOMEM("nb_pass_evaluate", p->cap * k * sizeof(float));
    }
    nb_view accv = nb_view_at(&p->scal, NB_SCAL_PASS_LOSS);
    NB_CHECK(nb_be_fill(be, 1, 0.0f, accv));
    for (size_t r = r0; r < r1; r += p->cap) {
        size_t rows = r1 - r < p->cap ? r1 - r : p->cap;
        nb_view x, t;
        NB_CHECK(nb_devdata_rows(be, dd, r, rows, NULL, NULL, nb_pass_in(p), nb_pass_target(p),
                                 &x, &t));
        NB_CHECK(nb_pass_loss_grad(m, p, rows, x, t, 1.0f, NB_SCAL_PASS_LOSS, false, false));
        if (!labels) continue;
        /* The argmax of logits is the argmax of the softmax. */
        NB_CHECK(nb_be_read(be, &p->act, p->act_off[m->n_layers], out, rows * k));
        for (size_t i = 0; i < rows; i++)
            if ((int32_t)argmax(out + i * k, k) == labels[r + i]) (*correct)++;
    }
    float sum;
    NB_CHECK(nb_be_read(be, &p->scal, NB_SCAL_PASS_LOSS, &sum, 1));
    *loss_sum = (double)sum;
    st = NB_OK;
fail:
    free(out);
    return st;
}

nb_status nb_pass_evaluate(nb_model *m, nb_pass *p, nb_devdata *dd, const int32_t *labels,
                           double *loss, double *acc)
{
    double sum;
    size_t correct;
    NB_TRY(nb_pass_evaluate_range(m, p, dd, labels, 0, dd->rows, &sum, &correct));
    if (loss) *loss = sum / (double)dd->rows;
    if (acc) *acc = labels ? (double)correct / (double)dd->rows : NAN;
    return NB_OK;
}
