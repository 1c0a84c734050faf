/*
 * mlp_double.h — an independent double-precision reference for the tests:
 * the MLP loss Φ(θ) and its gradient by per-sample backpropagation.
 *
 * Written from the definitions in nabla.h, not from host/: no backend, no
 * batching, no GEMM, so a shared mistake with the library is unlikely. It
 * is slow (one sample at a time) and meant for small networks only.
 *
 * θ has the layout of nb_model_get_params:
 *   A_1 (w1, w0) row-major, b_1 (w1), A_2 (w2, w1), b_2 (w2), …
 * Data: x (rows, w0) row-major, y (rows, wL) row-major targets; for
 * classification y holds the one-hot rows of the labels.
 */
#ifndef NB_TEST_MLP_DOUBLE_H
#define NB_TEST_MLP_DOUBLE_H

#include <stddef.h>
#include <stdint.h>

#include "nabla.h"

/* The architecture, as given to nb_model_create. Pointers are borrowed. */
typedef struct mlpd_spec {
    int n_layers;
    const int *widths;  /* (n_layers + 1): input width, then each layer's output */
    const nb_act *acts; /* (n_layers); softmax only last, and only with XENT     */
    nb_loss loss;
} mlpd_spec;

/* |θ| = Σ_l w_{l+1} (w_l + 1). */
size_t mlpd_param_count(const mlpd_spec *s);

/*
 * Φ(θ) = (1/N) Σ_i ‖F(x_i) − y_i‖²                 (MSE)
 *      = (1/N) Σ_i −Σ_k y_ik log softmax(z_i)_k     (XENT, z_i = logits)
 * theta (mlpd_param_count), x (rows, w0), y (rows, wL). NaN if out of memory.
 */
double mlpd_loss(const mlpd_spec *s, const double *theta, size_t rows, const float *x,
                 const float *y);

/* Φ(θ) as above, and ∇Φ(θ) into grad (mlpd_param_count). */
double mlpd_loss_grad(const mlpd_spec *s, const double *theta, size_t rows, const float *x,
                      const float *y, double *grad);

/*
 * The smallest |z| over every pre-activation z of every relu layer, over all
 * rows: how far the point is from a kink of Φ. +Inf when no layer is relu.
 */
double mlpd_relu_margin(const mlpd_spec *s, const double *theta, size_t rows, const float *x);

/*
 * The number of relu units that are 0 (z ≤ 0) on every row: such a unit
 * passes no gradient, so its weights' gradient is exactly 0.
 */
int mlpd_relu_dead(const mlpd_spec *s, const double *theta, size_t rows, const float *x);

/* y (rows, classes) = one-hot rows of labels (rows). */
void mlpd_one_hot(size_t rows, int classes, const int32_t *labels, float *y);

#endif
