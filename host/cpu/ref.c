/*
 * ref.c — reference implementations of the backend ops (see ref.h).
 *
 * Loop order follows the math, not the cache. Do not optimise this file:
 * its value is that each function can be checked against the formula by
 * reading it.
 */
#include "cpu/ref.h"

#include <math.h>

#include "act.h"

void ref_gemm(bool ta, bool tb, size_t M, size_t N, size_t K, float alpha, const float *A,
              const float *B, float beta, float *C)
{
    for (size_t i = 0; i < M; i++) {
        for (size_t j = 0; j < N; j++) {
            double s = 0.0;
            for (size_t k = 0; k < K; k++) {
                double a = ta ? A[k * M + i] : A[i * K + k]; /* op(A)[i][k] */
                double b = tb ? B[j * K + k] : B[k * N + j]; /* op(B)[k][j] */
                s += a * b;
            }
            double c = beta == 0.0f ? 0.0 : (double)beta * C[i * N + j];
            C[i * N + j] = (float)((double)alpha * s + c);
        }
    }
}

void ref_gather_rows(size_t rows, size_t cols, const float *src, const int32_t *idx, float *dst)
{
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) dst[i * cols + j] = src[(size_t)idx[i] * cols + j];
}

double ref_act1(nb_act act, double z)
{
    /* The formulas are the table's (act.c); softmax, row-wise, gives z. */
    const nb_act_info *a = nb_act_get(act);
    return a ? a->f(z) : NAN;
}

void ref_bias_act(nb_act act, size_t rows, size_t cols, const float *bias, float *Y)
{
    const nb_act_info *a = nb_act_get(act);
    for (size_t r = 0; r < rows; r++) {
        float *y = Y + r * cols;
        if (!a->rowwise) {
            for (size_t c = 0; c < cols; c++) y[c] = (float)ref_act1(act, (double)y[c] + bias[c]);
            continue;
        }
        /* softmax(z)_c = e^(z_c − m) / Σ e^(z_k − m) with m = max z: the
         * shift leaves the value unchanged and keeps every exp ≤ 1. */
        double m = -INFINITY, s = 0.0;
        for (size_t c = 0; c < cols; c++) m = fmax(m, (double)y[c] + bias[c]);
        for (size_t c = 0; c < cols; c++) s += exp((double)y[c] + bias[c] - m);
        for (size_t c = 0; c < cols; c++) y[c] = (float)(exp((double)y[c] + bias[c] - m) / s);
    }
}

void ref_act_backward(nb_act act, size_t n, const float *Y, float *dY)
{
    /* σ' through y = σ(z), as the table writes it (act.c). */
    double (*dy)(double) = nb_act_get(act)->dy;
    for (size_t i = 0; i < n; i++) {
        double y = Y[i], d = dy(y);
        dY[i] = (float)(dY[i] * d);
    }
}

void ref_loss(nb_loss loss, size_t rows, size_t cols, float scale, const float *out,
              const float *target, float *dOut, float *acc)
{
    *acc = (float)((double)*acc + ref_loss_rows(loss, rows, cols, scale, out, target, dOut));
}

double ref_loss_rows(nb_loss loss, size_t rows, size_t cols, float scale, const float *out,
                     const float *target, float *dOut)
{
    double total = 0.0;
    for (size_t r = 0; r < rows; r++) {
        const float *o = out + r * cols, *t = target + r * cols;
        float *d = dOut + r * cols;
        if (loss == NB_LOSS_MSE) {
            for (size_t c = 0; c < cols; c++) {
                double e = (double)o[c] - t[c];
                total += e * e;
                d[c] = (float)(scale * 2.0 * e);
            }
            continue;
        }
        /* Cross-entropy from logits: log softmax(z)_c = z_c − lse(z), with
         * lse(z) = m + log Σ e^(z_k − m) computed max-shifted. */
        double m = -INFINITY, s = 0.0, tsum = 0.0;
        for (size_t c = 0; c < cols; c++) m = fmax(m, (double)o[c]);
        for (size_t c = 0; c < cols; c++) s += exp((double)o[c] - m);
        double lse = m + log(s);
        for (size_t c = 0; c < cols; c++) {
            tsum += t[c];
            if (t[c] != 0.0f) total += (double)t[c] * (lse - o[c]);
        }
        for (size_t c = 0; c < cols; c++) {
            double p = exp((double)o[c] - lse);
            d[c] = (float)(scale * (p * tsum - t[c]));
        }
    }
    return total;
}

void ref_col_sum(size_t rows, size_t cols, float beta, const float *dY, float *db)
{
    for (size_t c = 0; c < cols; c++) {
        double s = 0.0;
        for (size_t r = 0; r < rows; r++) s += dY[r * cols + c];
        db[c] = (float)(s + (beta == 0.0f ? 0.0 : (double)beta * db[c]));
    }
}

float ref_sum_sq(size_t n, const float *x)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return (float)s;
}

void ref_update(const nb_optim_step *step, size_t n, float *theta, const float *grad, float *state,
                float gnorm2)
{
    const double scale = nb_clip_scale(step->clip_norm, gnorm2);
    const int k = step->kind == NB_OPT_SGD ? 0 : step->kind >= NB_OPT_ADAM ? 2 : 1;
    for (size_t i = 0; i < n; i++) {
        double th = theta[i], m = k > 0 ? state[i] : 0.0, v = k > 1 ? state[n + i] : 0.0;
        nb_optim_elem(step, scale * (double)grad[i], &th, &m, &v);
        theta[i] = (float)th;
        if (k > 0) state[i] = (float)m;
        if (k > 1) state[n + i] = (float)v;
    }
}
