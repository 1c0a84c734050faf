/*
 * ref.h — the reference ops: the specification of every backend op.
 *
 * Straight loops over raw host arrays, every sum accumulated in double and
 * every activation evaluated in double, then rounded once to float. They
 * are written to be obviously right, not fast: the cpu backend's fast
 * paths and the OpenCL kernels are tested against them. Shapes follow
 * host/backend.h; arrays are row-major; nothing is allocated.
 */
#ifndef NB_REF_H
#define NB_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nabla.h"
#include "optim_math.h"

/* C (M, N) = alpha · op(A) · op(B) + beta · C; beta == 0 ignores C's old values. */
void ref_gemm(bool ta, bool tb, size_t M, size_t N, size_t K, float alpha, const float *A,
              const float *B, float beta, float *C);
/* dst (rows, cols) row i = src row idx[i]. */
void ref_gather_rows(size_t rows, size_t cols, const float *src, const int32_t *idx, float *dst);
/* Y (rows, cols) = act(Y + bias), bias (cols); softmax row-wise, max-shifted. */
void ref_bias_act(nb_act act, size_t rows, size_t cols, const float *bias, float *Y);
/* dY (n) *= act'(z) expressed through y = act(z). */
void ref_act_backward(nb_act act, size_t n, const float *Y, float *dY);
/* Loss of out against target (rows, cols) into *acc (+=) and dOut; see backend.h. */
void ref_loss(nb_loss loss, size_t rows, size_t cols, float scale, const float *out,
              const float *target, float *dOut, float *acc);
/* The same, returning Σ_r loss_r in double instead of adding it to acc. */
double ref_loss_rows(nb_loss loss, size_t rows, size_t cols, float scale, const float *out,
                     const float *target, float *dOut);
/* db (cols) = Σ_r dY[r, :] + beta · db. */
void ref_col_sum(size_t rows, size_t cols, float beta, const float *dY, float *db);
/* Σ x² over n. */
float ref_sum_sq(size_t n, const float *x);
/* One optimizer step over n parameters (see optim_math.h); state holds m
 * then v as the kind needs; gnorm2 = ‖g‖² for clipping (ignored when off). */
void ref_update(const nb_optim_step *step, size_t n, float *theta, const float *grad, float *state,
                float gnorm2);

/* One activation in double (shared by the reference and the tests). */
double ref_act1(nb_act act, double z);

#endif
