/*
 * mlp_double.c — the double-precision reference MLP of mlp_double.h:
 * forward pass, loss and backpropagation one sample at a time, in plain
 * loops straight from the chain rule. Test code: clarity over speed.
 */
#include "mlp_double.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Per-call scratch. Layer l = 0..L-1 maps a_l (w_l) to a_{l+1} (w_{l+1})
 * through z_l = A_l a_l + b_l and a_{l+1} = σ_l(z_l). */
typedef struct work {
    size_t *a_off;  /* (L + 1) offset of a_l in a                    */
    size_t *z_off;  /* (L) offset of z_l in z                        */
    double *a;      /* Σ_l w_l: activations a_0 = x, a_1, …, a_L     */
    double *z;      /* Σ_l w_{l+1}: pre-activations z_0 … z_{L-1}    */
    double *d, *dn; /* (max width) δ = ∂ℓ/∂z of a layer, and the next */
} work;

static void work_free(work *w)
{
    free(w->a_off);
    free(w->z_off);
    free(w->a);
    free(w->z);
    free(w->d);
    free(w->dn);
}

static int work_init(const mlpd_spec *s, work *w)
{
    const int L = s->n_layers;
    size_t na = 0, nz = 0, wmax = 0;
    memset(w, 0, sizeof *w);
    w->a_off = malloc((size_t)(L + 1) * sizeof *w->a_off);
    w->z_off = malloc((size_t)L * sizeof *w->z_off);
    if (!w->a_off || !w->z_off) return -1;
    for (int l = 0; l <= L; l++) {
        size_t wl = (size_t)s->widths[l];
        w->a_off[l] = na;
        na += wl;
        if (l < L) {
            w->z_off[l] = nz;
            nz += (size_t)s->widths[l + 1];
        }
        if (wl > wmax) wmax = wl;
    }
    w->a = malloc(na * sizeof *w->a);
    w->z = malloc(nz * sizeof *w->z);
    w->d = malloc(wmax * sizeof *w->d);
    w->dn = malloc(wmax * sizeof *w->dn);
    return (w->a && w->z && w->d && w->dn) ? 0 : -1;
}

size_t mlpd_param_count(const mlpd_spec *s)
{
    size_t n = 0;
    for (int l = 0; l < s->n_layers; l++)
        n += (size_t)s->widths[l + 1] * ((size_t)s->widths[l] + 1);
    return n;
}

/* Offsets of A_l and b_l inside θ. */
static size_t off_A(const mlpd_spec *s, int l)
{
    size_t o = 0;
    for (int k = 0; k < l; k++) o += (size_t)s->widths[k + 1] * ((size_t)s->widths[k] + 1);
    return o;
}
static size_t off_b(const mlpd_spec *s, int l)
{
    return off_A(s, l) + (size_t)s->widths[l + 1] * (size_t)s->widths[l];
}

static double act(nb_act a, double z)
{
    switch (a) {
    case NB_ACT_SIGMOID: return 1.0 / (1.0 + exp(-z));
    case NB_ACT_TANH: return tanh(z);
    case NB_ACT_RELU: return z > 0.0 ? z : 0.0;
    default: return z; /* identity; softmax is handled on the whole row */
    }
}

/* dσ/dz at z (the library writes it in terms of σ(z); here it is from z). */
static double act_deriv(nb_act a, double z)
{
    switch (a) {
    case NB_ACT_SIGMOID: {
        double e = exp(-fabs(z)); /* σ'(z) = e^-|z| / (1 + e^-|z|)², even in z */
        return e / ((1.0 + e) * (1.0 + e));
    }
    case NB_ACT_TANH: {
        double c = cosh(z);
        return 1.0 / (c * c); /* sech² z */
    }
    case NB_ACT_RELU: return z > 0.0 ? 1.0 : 0.0;
    default: return 1.0;
    }
}

/* Forward pass of one sample x (w0) into w->a and w->z. For a softmax
 * output layer a_L holds the softmax probabilities. */
static void forward(const mlpd_spec *s, const double *theta, const float *x, work *w)
{
    const int L = s->n_layers;
    for (int k = 0; k < s->widths[0]; k++) w->a[k] = (double)x[k];
    for (int l = 0; l < L; l++) {
        int in = s->widths[l], out = s->widths[l + 1];
        const double *A = theta + off_A(s, l), *b = theta + off_b(s, l);
        const double *ain = w->a + w->a_off[l];
        double *z = w->z + w->z_off[l], *aout = w->a + w->a_off[l + 1];
        for (int j = 0; j < out; j++) {
            double acc = b[j];
            for (int k = 0; k < in; k++) acc += A[(size_t)j * (size_t)in + (size_t)k] * ain[k];
            z[j] = acc;
        }
        if (s->acts[l] == NB_ACT_SOFTMAX) {
            double m = -INFINITY, sum = 0.0;
            for (int j = 0; j < out; j++) m = fmax(m, z[j]);
            for (int j = 0; j < out; j++) sum += exp(z[j] - m);
            for (int j = 0; j < out; j++) aout[j] = exp(z[j] - m) / sum;
        } else {
            for (int j = 0; j < out; j++) aout[j] = act(s->acts[l], z[j]);
        }
    }
}

/* Loss of one sample after forward(); y (wL). With want_delta, also
 * δ = ∂ℓ/∂z_{L-1} (wL) into w->d. */
static double sample_loss(const mlpd_spec *s, const float *y, work *w, int want_delta)
{
    const int L = s->n_layers, K = s->widths[L];
    const double *aL = w->a + w->a_off[L], *z = w->z + w->z_off[L - 1];
    double loss = 0.0;
    if (s->loss == NB_LOSS_MSE) {
        /* ℓ = Σ_k (a_k − y_k)²,  ∂ℓ/∂z_k = 2 (a_k − y_k) σ'(z_k). */
        for (int k = 0; k < K; k++) {
            double e = aL[k] - (double)y[k];
            loss += e * e;
            if (want_delta) w->d[k] = 2.0 * e * act_deriv(s->acts[L - 1], z[k]);
        }
        return loss;
    }
    /* ℓ = −Σ_k y_k (z_k − lse(z)), lse(z) = m + log Σ_j e^(z_j − m) with
     * m = max z so no exponent is positive; ∂ℓ/∂z_k = p_k Σ_j y_j − y_k. */
    double m = -INFINITY, sum = 0.0, ysum = 0.0;
    for (int k = 0; k < K; k++) m = fmax(m, z[k]);
    for (int k = 0; k < K; k++) sum += exp(z[k] - m);
    double lse = m + log(sum);
    for (int k = 0; k < K; k++) {
        loss -= (double)y[k] * (z[k] - lse);
        ysum += (double)y[k];
    }
    if (want_delta)
        for (int k = 0; k < K; k++) w->d[k] = exp(z[k] - lse) * ysum - (double)y[k];
    return loss;
}

/* Add one sample's ∂ℓ/∂θ into grad, starting from δ of the last layer in
 * w->d: ∂ℓ/∂A_l = δ_l a_lᵀ, ∂ℓ/∂b_l = δ_l, δ_{l-1} = (A_lᵀ δ_l) ⊙ σ'(z_{l-1}). */
static void backward(const mlpd_spec *s, const double *theta, work *w, double *grad)
{
    for (int l = s->n_layers - 1; l >= 0; l--) {
        int in = s->widths[l], out = s->widths[l + 1];
        const double *A = theta + off_A(s, l), *ain = w->a + w->a_off[l];
        double *gA = grad + off_A(s, l), *gb = grad + off_b(s, l);
        for (int j = 0; j < out; j++) {
            gb[j] += w->d[j];
            for (int k = 0; k < in; k++) gA[(size_t)j * (size_t)in + (size_t)k] += w->d[j] * ain[k];
        }
        if (l == 0) break;
        const double *zprev = w->z + w->z_off[l - 1];
        for (int k = 0; k < in; k++) {
            double acc = 0.0;
            for (int j = 0; j < out; j++) acc += A[(size_t)j * (size_t)in + (size_t)k] * w->d[j];
            w->dn[k] = acc * act_deriv(s->acts[l - 1], zprev[k]);
        }
        double *t = w->d;
        w->d = w->dn;
        w->dn = t;
    }
}

double mlpd_loss_grad(const mlpd_spec *s, const double *theta, size_t rows, const float *x,
                      const float *y, double *grad)
{
    const size_t in = (size_t)s->widths[0], out = (size_t)s->widths[s->n_layers];
    const size_t n = mlpd_param_count(s);
    work w;
    double total = 0.0;
    if (work_init(s, &w) != 0) {
        work_free(&w);
        return NAN;
    }
    if (grad) memset(grad, 0, n * sizeof *grad);
    for (size_t i = 0; i < rows; i++) {
        forward(s, theta, x + i * in, &w);
        total += sample_loss(s, y + i * out, &w, grad != NULL);
        if (grad) backward(s, theta, &w, grad);
    }
    /* Φ is the mean over samples, so is its gradient. */
    if (grad)
        for (size_t j = 0; j < n; j++) grad[j] /= (double)rows;
    work_free(&w);
    return total / (double)rows;
}

double mlpd_loss(const mlpd_spec *s, const double *theta, size_t rows, const float *x,
                 const float *y)
{
    return mlpd_loss_grad(s, theta, rows, x, y, NULL);
}

double mlpd_relu_margin(const mlpd_spec *s, const double *theta, size_t rows, const float *x)
{
    const size_t in = (size_t)s->widths[0];
    double margin = INFINITY;
    work w;
    if (work_init(s, &w) != 0) {
        work_free(&w);
        return NAN;
    }
    for (size_t i = 0; i < rows; i++) {
        forward(s, theta, x + i * in, &w);
        for (int l = 0; l < s->n_layers; l++) {
            if (s->acts[l] != NB_ACT_RELU) continue;
            const double *z = w.z + w.z_off[l];
            for (int j = 0; j < s->widths[l + 1]; j++) margin = fmin(margin, fabs(z[j]));
        }
    }
    work_free(&w);
    return margin;
}

int mlpd_relu_dead(const mlpd_spec *s, const double *theta, size_t rows, const float *x)
{
    const size_t in = (size_t)s->widths[0];
    size_t nz = 0;
    int dead = 0;
    work w;
    char *alive = NULL; /* per unit of every layer, in z order */
    if (work_init(s, &w) != 0) goto done;
    for (int l = 0; l < s->n_layers; l++) nz += (size_t)s->widths[l + 1];
    alive = calloc(nz, 1);
    if (!alive) goto done;
    for (size_t i = 0; i < rows; i++) {
        forward(s, theta, x + i * in, &w);
        for (size_t k = 0; k < nz; k++) alive[k] |= w.z[k] > 0.0;
    }
    for (int l = 0; l < s->n_layers; l++) {
        if (s->acts[l] != NB_ACT_RELU) continue;
        for (int j = 0; j < s->widths[l + 1]; j++) dead += !alive[w.z_off[l] + (size_t)j];
    }
done:
    free(alive);
    work_free(&w);
    return alive ? dead : -1;
}

void mlpd_one_hot(size_t rows, int classes, const int32_t *labels, float *y)
{
    for (size_t i = 0; i < rows; i++)
        for (int k = 0; k < classes; k++)
            y[i * (size_t)classes + (size_t)k] = labels[i] == k ? 1.0f : 0.0f;
}
