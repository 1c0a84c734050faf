/*
 * gradcheck.c — nb_gradcheck: the model's backprop gradient (float32, on
 * its own backend) against central finite differences of Φ computed by a
 * double-precision reference forward pass written here, per coordinate and
 * along random directions. nabla.h's gradcheck section defines the check,
 * its tolerances and its verdict; this file is the how.
 *
 * The reference is a transcription of the definitions in nabla.h, one row
 * at a time in double, sharing no code with the backends, so that a
 * mistake in them cannot cancel out here. It is built to be obviously
 * right rather than fast; two things keep its cost down without changing
 * what it computes:
 *   - rows go in chunks whose forward pass at θ is cached. A coordinate of
 *     layer l (A_l[j,k] or b_l[j]) moves only the pre-activations z_l[:, j],
 *     so each stencil point is a rank-1 update of z_{l+1} and a pass over
 *     the layers after it, not a full forward pass;
 *   - Φ(θ+) − Φ(θ−) is summed as per-row differences: rows a step does not
 *     reach contribute exactly 0 and no round-off.
 * A double backward pass over each cached row (row_back) is used only to
 * weigh relu kinks, never compared with anything.
 *
 * Not here: the backprop itself (pass.c and the backends), the CLI.
 */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "nabla.h"
#include "rng.h"
#include "status.h"

/* The RNG stream of the coordinate subset and the directions: rng.h names
 * streams 1…4, and a distant constant keeps this use apart from them. */
#define GC_STREAM 0x6772616463686bull /* "gradchk" */

/* A coordinate (direction) is not judged when the relu kinks its stencil
 * meets could move its value, to first order, by more than this share of
 * its bound. Below it, kink plus the usual float32 error (≈ 1e-3 of the
 * bound) still cannot fail a right gradient; a wrong one still fails. */
#define GC_KINK_SHARE 0.5

enum {
    GC_CHUNK_BYTES = 8 << 20, /* cached forward state per chunk of rows     */
    GC_MAX_CHUNK = 256,       /* rows per chunk at most                     */
    GC_MIN_WEIGHTS = 8        /* weights per layer always in a subset       */
};

/*
 * The network and data as the reference sees them. Layers are 0-based here
 * (layer l maps a_l (w[l]) to z_l (w[l+1])); the report counts from 1.
 * One row's state is two vectors: z (Z) holds z_0 … z_{L-1}, layer l at
 * zo[l]; a (A) holds a_0 = the standardised input and a_1 … a_{L-1}, a_l
 * at ao[l]. a_L is never stored: the loss works from z_{L-1}.
 */
typedef struct gc_net {
    int L;
    int w[NB_GRADCHECK_MAX_LAYERS + 1];
    nb_act act[NB_GRADCHECK_MAX_LAYERS];
    nb_loss loss;
    size_t ow[NB_GRADCHECK_MAX_LAYERS], ob[NB_GRADCHECK_MAX_LAYERS]; /* A_l, b_l in θ */
    size_t zo[NB_GRADCHECK_MAX_LAYERS], ao[NB_GRADCHECK_MAX_LAYERS];
    size_t Z, A;
    double margin;           /* relu_margin                                  */
    const nb_dataset *d;     /* x (rows, w0); y (rows, wL) or labels (rows)  */
    const float *mean, *std; /* the model's standardisation, or NULL         */
} gc_net;

/* One row's state. Only at θ itself: tau (Z), the kink band of each z,
 * and e (Z), |∂ℓ/∂σ(z)|, what a relu taking the other branch at z costs ℓ
 * per unit of z (at a softmax output, e holds ∂ℓ/∂z instead). */
typedef struct gc_row {
    double *z, *a, *tau, *e;
} gc_row;

/* A checked coordinate: θ index, layer, unit j, input k (−1: the bias). */
typedef struct gc_coord {
    size_t i;
    int l, j, k;
} gc_coord;

/* ------------------------------------------------ the double reference */

static double act_fn(nb_act a, double z)
{
    switch (a) {
    case NB_ACT_SIGMOID: return 1.0 / (1.0 + exp(-z));
    case NB_ACT_TANH: return tanh(z);
    case NB_ACT_RELU: return z > 0.0 ? z : 0.0;
    default: return z; /* identity; a softmax output is the loss's business */
    }
}

static double act_deriv(nb_act a, double z)
{
    const double s = act_fn(a, z);
    return a == NB_ACT_SIGMOID ? s * (1.0 - s) : a == NB_ACT_TANH ? 1.0 - s * s
                                              : a == NB_ACT_RELU ? (z > 0.0) : 1.0;
}

/* Target k of a row: the regression value, or the label's one-hot entry. */
static double target(const gc_net *g, size_t row, int k)
{
    const nb_dataset *d = g->d;
    return d->y ? (double)d->y[row * (size_t)d->outputs + (size_t)k] : d->labels[row] == k;
}

/* z (w[l+1]) = A_l a + b_l for a (w[l]). With tau, also each z's kink band
 * relu_margin·(|b| + Σ|A a|): the size of the terms float32 rounds. */
static void layer_fwd(const gc_net *g, const double *th, int l, const double *a, double *z,
                      double *tau)
{
    const int in = g->w[l], out = g->w[l + 1];
    const double *A = th + g->ow[l], *b = th + g->ob[l];
    for (int j = 0; j < out; j++) {
        const double *Aj = A + (size_t)j * (size_t)in;
        double s = b[j], mag = fabs(b[j]);
        for (int k = 0; k < in; k++) {
            double t = Aj[k] * a[k];
            s += t;
            mag += fabs(t);
        }
        z[j] = s;
        if (tau) tau[j] = g->margin * mag;
    }
}

/*
 * One row's loss ℓ from the output layer's pre-activations z (wL):
 *   MSE   Σ_k (σ(z_k) − y_k)²
 *   XENT  −Σ_k y_k (z_k − lse z), lse z = m + log Σ_k e^(z_k − m), m = max z
 *         (so no exponent is positive).
 * For class labels (either loss) y is the label's one-hot row.
 */
static double row_loss(const gc_net *g, size_t row, const double *z)
{
    const int K = g->w[g->L];
    double loss = 0.0;
    if (g->loss == NB_LOSS_MSE) {
        for (int k = 0; k < K; k++) {
            double e = act_fn(g->act[g->L - 1], z[k]) - target(g, row, k);
            loss += e * e;
        }
        return loss;
    }
    double m = -INFINITY, sum = 0.0;
    for (int k = 0; k < K; k++) m = fmax(m, z[k]);
    for (int k = 0; k < K; k++) sum += exp(z[k] - m);
    double lse = m + log(sum);
    for (int k = 0; k < K; k++) loss -= target(g, row, k) * (z[k] - lse);
    return loss;
}

/*
 * b->e for one row's cached pass b at θ, by backpropagation in double:
 * at the output e = 2(σ(z) − y) (MSE) or ∂ℓ/∂z = p Σy − y (softmax), then
 * e_{l-1} = A_lᵀ (e_l ⊙ σ'(z_l)). Only its size is used: to weigh kinks.
 */
static void row_back(const gc_net *g, const double *th, size_t row, const gc_row *b)
{
    const int L = g->L, K = g->w[L];
    const double *z = b->z + g->zo[L - 1];
    double *e = b->e + g->zo[L - 1], m = -INFINITY, sum = 0.0, ysum = 0.0;
    const bool xent = g->loss == NB_LOSS_XENT;
    for (int k = 0; k < K; k++) {
        m = fmax(m, z[k]);
        ysum += target(g, row, k);
        e[k] = 2.0 * (act_fn(g->act[L - 1], z[k]) - target(g, row, k));
    }
    for (int k = 0; xent && k < K; k++) sum += exp(z[k] - m);
    for (int k = 0; xent && k < K; k++) e[k] = exp(z[k] - m) / sum * ysum - target(g, row, k);
    for (int l = L - 1; l > 0; l--) {
        const int in = g->w[l], out = g->w[l + 1];
        const double *A = th + g->ow[l];
        double *ep = b->e + g->zo[l - 1];
        z = b->z + g->zo[l];
        e = b->e + g->zo[l];
        memset(ep, 0, (size_t)in * sizeof *ep);
        for (int j = 0; j < out; j++) {
            const double dz = xent && l == L - 1 ? e[j] : e[j] * act_deriv(g->act[l], z[j]);
            for (int k = 0; k < in; k++) ep[k] += A[(size_t)j * (size_t)in + (size_t)k] * dz;
        }
    }
}

/* A relu pre-activation moved from slot i's value at θ (in b) to z is at a
 * kink when it changed side, or either value is within the band of 0.
 * Returns what that can do to ℓ to first order, |e|·|z − zb| (see gc_row):
 * the weight of the kink. 0 when not at a kink. */
static double kink_weight(const gc_row *b, size_t i, double z)
{
    const double zb = b->z[i], tau = b->tau[i];
    const bool at = z != zb && ((zb > 0.0) != (z > 0.0) || fabs(zb) <= tau || fabs(z) <= tau);
    return at ? fabs(b->e[i]) * fabs(z - zb) : 0.0;
}

/*
 * Finish one row's forward pass from layer l's pre-activations in t->z
 * (layers before l are not read) and return its loss. With t->tau, the
 * bands of later layers are filled as well. With b, the row's cached pass
 * at θ, the weights of relu z's of layer l on at kinks add to *kink.
 */
static double row_eval(const gc_net *g, const double *th, int l, size_t row, const gc_row *t,
                       const gc_row *b, double *kink)
{
    for (;; l++) {
        const double *z = t->z + g->zo[l];
        const int n = g->w[l + 1];
        for (int j = 0; b && g->act[l] == NB_ACT_RELU && j < n; j++)
            *kink += kink_weight(b, g->zo[l] + (size_t)j, z[j]);
        if (l == g->L - 1) return row_loss(g, row, z);
        double *a = t->a + g->ao[l + 1];
        for (int j = 0; j < n; j++) a[j] = act_fn(g->act[l], z[j]);
        layer_fwd(g, th, l + 1, a, t->z + g->zo[l + 1], t->tau ? t->tau + g->zo[l + 1] : NULL);
    }
}

/* The whole forward pass of one row at parameters th, into t; see row_eval. */
static double row_full(const gc_net *g, const double *th, size_t row, const gc_row *t,
                       const gc_row *b, double *kink)
{
    const int in = g->w[0];
    const float *x = g->d->x + row * (size_t)in;
    for (int k = 0; k < in; k++)
        t->a[k] = g->mean ? ((double)x[k] - (double)g->mean[k]) / (double)g->std[k] : (double)x[k];
    layer_fwd(g, th, 0, t->a, t->z, t->tau);
    return row_eval(g, th, 0, row, t, b, kink);
}

/*
 * One row's loss with coordinate c moved by sh (±h), from the row's cached
 * pass b at θ (loss lb); t is scratch.
 */
static double coord_side(const gc_net *g, const double *th, const gc_coord *c, double sh,
                         size_t row, double lb, const gc_row *b, const gc_row *t, double *kink)
{
    const int l = c->l;
    const double dz = sh * (c->k < 0 ? 1.0 : b->a[g->ao[l] + (size_t)c->k]);
    if (dz == 0.0) return lb; /* this row does not see the step */
    const size_t zi = g->zo[l] + (size_t)c->j;
    const double zn = b->z[zi] + dz;
    if (l == g->L - 1) {
        memcpy(t->z + g->zo[l], b->z + g->zo[l], (size_t)g->w[l + 1] * sizeof(double));
        t->z[zi] = zn;
        return row_eval(g, th, l, row, t, b, kink);
    }
    if (g->act[l] == NB_ACT_RELU) *kink += kink_weight(b, zi, zn);
    const double da = act_fn(g->act[l], zn) - b->a[g->ao[l + 1] + (size_t)c->j];
    if (da == 0.0) return lb; /* e.g. a relu unit off on both sides */
    /* z_{l+1} = A_{l+1} a_{l+1} + b_{l+1} changes by column j of A_{l+1} times da. */
    const int in = g->w[l + 1], out = g->w[l + 2];
    const double *Acol = th + g->ow[l + 1] + (size_t)c->j;
    const double *zb = b->z + g->zo[l + 1];
    double *zt = t->z + g->zo[l + 1];
    for (int q = 0; q < out; q++) zt[q] = zb[q] + Acol[(size_t)q * (size_t)in] * da;
    return row_eval(g, th, l + 1, row, t, b, kink);
}

/* A cached row takes 3Z + A doubles (z, tau, e, a); row i of a cache. */
static gc_row cache_row(const gc_net *g, double *cache, size_t i)
{
    double *p = cache + i * (3 * g->Z + g->A);
    return (gc_row){p, p + 3 * g->Z, p + g->Z, p + 2 * g->Z};
}

/* Rows per chunk so a chunk's cached state stays near GC_CHUNK_BYTES. */
static size_t chunk_rows(const gc_net *g)
{
    size_t r = GC_CHUNK_BYTES / ((3 * g->Z + g->A + 1) * sizeof(double));
    return r < 1 ? 1 : r > GC_MAX_CHUNK ? GC_MAX_CHUNK : r;
}

/*
 * Central differences along every coordinate in cs (nc) into fd (nc), and
 * into kink (nc) the first-order size of what relu kinks its stencils met
 * can do to it: Σ weights / (N·2h) (see kink_weight). Φ at θ into *phi.
 */
static nb_status fd_coords(const gc_net *g, const double *th, double step, const gc_coord *cs,
                           size_t nc, double *fd, double *kink, double *phi)
{
    const size_t N = g->d->rows, R = chunk_rows(g), size = R * (3 * g->Z + g->A + 1) + g->Z + g->A;
    double *cache = malloc(size * sizeof *cache), sum = 0.0, unused = 0.0;
    if (!cache) return NB_NOMEM("nb_gradcheck", size * sizeof *cache);
    double *lb = cache + R * (3 * g->Z + g->A); /* (R) the row losses at θ */
    const gc_row t = {lb + R, lb + R + g->Z, NULL, NULL};
    memset(fd, 0, nc * sizeof *fd);
    memset(kink, 0, nc * sizeof *kink);
    for (size_t r0 = 0; r0 < N; r0 += R) {
        const size_t n = N - r0 < R ? N - r0 : R;
        for (size_t i = 0; i < n; i++) {
            const gc_row bi = cache_row(g, cache, i);
            lb[i] = row_full(g, th, r0 + i, &bi, NULL, &unused);
            row_back(g, th, r0 + i, &bi);
            sum += lb[i];
        }
        for (size_t c = 0; c < nc; c++) {
            const double h = step * fmax(1.0, fabs(th[cs[c].i]));
            double acc = 0.0;
            for (size_t i = 0; i < n; i++) {
                const gc_row bi = cache_row(g, cache, i);
                double lp = coord_side(g, th, &cs[c], h, r0 + i, lb[i], &bi, &t, &kink[c]);
                double lm = coord_side(g, th, &cs[c], -h, r0 + i, lb[i], &bi, &t, &kink[c]);
                acc += lp - lm;
            }
            fd[c] += acc;
        }
    }
    for (size_t c = 0; c < nc; c++) {
        fd[c] /= (double)N * 2.0 * step * fmax(1.0, fabs(th[cs[c].i]));
        kink[c] /= (double)N * 2.0 * step * fmax(1.0, fabs(th[cs[c].i]));
    }
    *phi = sum / (double)N;
    free(cache);
    return NB_OK;
}

/* D_u = (Φ(θ + t u) − Φ(θ − t u)) / 2t for one direction, with tp = θ + t u
 * and tm = θ − t u given; *kink as in fd_coords. */
static nb_status fd_direction(const gc_net *g, const double *th, const double *tp,
                              const double *tm, double t, double *du, double *kink)
{
    const size_t size = 4 * g->Z + 2 * g->A;
    double *buf = malloc(size * sizeof *buf), acc = 0.0, unused = 0.0;
    if (!buf) return NB_NOMEM("nb_gradcheck", size * sizeof *buf);
    const gc_row b = cache_row(g, buf, 0);
    const gc_row s = {buf + 3 * g->Z + g->A, buf + 4 * g->Z + g->A, NULL, NULL};
    *kink = 0.0;
    for (size_t r = 0; r < g->d->rows; r++) {
        row_full(g, th, r, &b, NULL, &unused); /* the base, to weigh kinks */
        row_back(g, th, r, &b);
        double lp = row_full(g, tp, r, &s, &b, kink);
        double lm = row_full(g, tm, r, &s, &b, kink);
        acc += lp - lm;
    }
    *du = acc / ((double)g->d->rows * 2.0 * t);
    *kink /= (double)g->d->rows * 2.0 * t;
    free(buf);
    return NB_OK;
}

/* ------------------------------------------------------------ the subset */

/*
 * The coordinates to check, in θ order within each layer: all of them when
 * max_params is 0 or |θ| ≤ max_params; else every bias, and of each
 * layer's W_l weights a share of the rest of the budget proportional to
 * W_l, at least min(GC_MIN_WEIGHTS, W_l), drawn by selection sampling.
 */
static nb_status select_coords(const gc_net *g, size_t n, size_t max_params, uint64_t seed,
                               gc_coord **out, size_t *nc)
{
    size_t nbias = 0, quota[NB_GRADCHECK_MAX_LAYERS], total = 0;
    const bool all = max_params == 0 || n <= max_params;
    for (int l = 0; l < g->L; l++) nbias += (size_t)g->w[l + 1];
    const size_t budget = max_params > nbias ? max_params - nbias : 0;
    for (int l = 0; l < g->L; l++) {
        size_t W = (size_t)g->w[l] * (size_t)g->w[l + 1];
        size_t q = (size_t)((double)W * (double)budget / (double)(n - nbias));
        if (q < GC_MIN_WEIGHTS) q = GC_MIN_WEIGHTS;
        quota[l] = all || q > W ? W : q;
        total += quota[l] + (size_t)g->w[l + 1];
    }
    gc_coord *cs = malloc(total * sizeof *cs);
    if (!cs) return NB_NOMEM("nb_gradcheck", total * sizeof *cs);
    nb_rng r;
    nb_rng_seed(&r, seed, GC_STREAM);
    size_t m = 0;
    for (int l = 0; l < g->L; l++) {
        const size_t in = (size_t)g->w[l], W = in * (size_t)g->w[l + 1];
        /* Knuth's selection sampling: keep index i with probability
         * (still needed)/(still left), which draws quota[l] of W uniformly. */
        size_t need = quota[l];
        for (size_t i = 0; i < W && need > 0; i++) {
            if (need < W - i && nb_rng_below(&r, W - i) >= need) continue;
            cs[m++] = (gc_coord){g->ow[l] + i, l, (int)(i / in), (int)(i % in)};
            need--;
        }
        for (int j = 0; j < g->w[l + 1]; j++) cs[m++] = (gc_coord){g->ob[l] + (size_t)j, l, j, -1};
    }
    *out = cs;
    *nc = m;
    return NB_OK;
}

/* ----------------------------------------------------------- the check */

void nb_gradcheck_options_default(nb_gradcheck_options *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->max_params = 2000;
    o->directions = 4;
    o->step = 1e-6;
    o->atol = 1e-5;
    o->rtol = 1e-3;
    o->rel_floor = 1e-2;
    o->relu_margin = 1e-6;
}

static nb_status check_args(const nb_model *m, const nb_dataset *d, const nb_gradcheck_options *o)
{
    const char *fn = "nb_gradcheck";
    const int L = nb_model_layers(m);
    if (L > NB_GRADCHECK_MAX_LAYERS)
        return NB_FAIL(NB_ERR_UNSUPPORTED, "%s: %d layers; at most %d are supported", fn, L,
                       NB_GRADCHECK_MAX_LAYERS);
    if (d->inputs != nb_model_width(m, 0) || d->outputs != nb_model_width(m, L))
        return NB_FAIL(NB_ERR_ARG, "%s: data has %d inputs and %d outputs, the model %d and %d", fn,
                       d->inputs, d->outputs, nb_model_width(m, 0), nb_model_width(m, L));
    if (d->rows == 0) return NB_FAIL(NB_ERR_ARG, "%s: the dataset has no rows", fn);
    if (!(o->step > 0.0) || !isfinite(o->step))
        return NB_FAIL(NB_ERR_ARG, "%s: step %g must be a positive number", fn, o->step);
    if (!(o->atol >= 0.0) || !(o->rtol >= 0.0) || !isfinite(o->atol) || !isfinite(o->rtol))
        return NB_FAIL(NB_ERR_ARG, "%s: atol %g and rtol %g must be finite and >= 0", fn, o->atol,
                       o->rtol);
    if (!(o->rel_floor > 0.0) || !isfinite(o->rel_floor))
        return NB_FAIL(NB_ERR_ARG, "%s: rel_floor %g must be positive", fn, o->rel_floor);
    if (!(o->relu_margin >= 0.0) || !isfinite(o->relu_margin))
        return NB_FAIL(NB_ERR_ARG, "%s: relu_margin %g must be finite and >= 0", fn,
                       o->relu_margin);
    if (o->directions < 0 || o->directions > NB_GRADCHECK_MAX_DIRS)
        return NB_FAIL(NB_ERR_ARG, "%s: directions %d is outside [0, %d]", fn, o->directions,
                       NB_GRADCHECK_MAX_DIRS);
    if (o->perturb_layer < 0 || o->perturb_layer > L || !isfinite(o->perturb))
        return NB_FAIL(NB_ERR_ARG, "%s: perturb_layer %d must be 0 (off) or 1 … %d, perturb finite",
                       fn, o->perturb_layer, L);
    return NB_OK;
}

/* The reference's view of model m and data d. */
static void net_init(const nb_model *m, const nb_dataset *d, double margin, gc_net *g)
{
    memset(g, 0, sizeof *g);
    g->L = nb_model_layers(m);
    g->loss = nb_model_loss(m);
    g->margin = margin;
    g->d = d;
    g->mean = nb_model_feature_mean(m);
    g->std = nb_model_feature_std(m);
    size_t o = 0;
    for (int l = 0; l <= g->L; l++) g->w[l] = nb_model_width(m, l);
    for (int l = 0; l < g->L; l++) {
        g->act[l] = nb_model_act(m, l);
        g->ow[l] = o;
        o += (size_t)g->w[l + 1] * (size_t)g->w[l];
        g->ob[l] = o;
        o += (size_t)g->w[l + 1];
        g->zo[l] = g->Z;
        g->Z += (size_t)g->w[l + 1];
        g->ao[l] = g->A;
        g->A += (size_t)g->w[l];
    }
}

/* Fold one coordinate into its block's statistics and the totals. */
static void add_coord(nb_gradcheck_stat *s, nb_gradcheck_report *r, size_t i, double gv,
                      double fv, double kink)
{
    const double err = fabs(gv - fv);
    if (kink) {
        s->kinks++, r->kinks++;
        s->kink_max_abs = fmax(s->kink_max_abs, err);
        return;
    }
    const double bound = r->atol * r->scale + r->rtol * fabs(fv) + r->fd_err;
    const double ratio = err <= bound ? err / bound : isnan(err) ? INFINITY : err / bound;
    s->checked++, r->checked++;
    if (!(err <= bound)) s->failed++, r->failed++;
    if (fabs(fv) > r->informative_min) r->informative++;
    s->max_abs = fmax(s->max_abs, err);
    s->max_rel = fmax(s->max_rel, err / fmax(fabs(fv), r->rel_floor * r->scale));
    if (s->worst == SIZE_MAX || ratio > s->max_ratio) {
        s->max_ratio = ratio;
        s->worst = i;
        s->worst_g = gv;
        s->worst_fd = fv;
    }
}

/* Compare the coordinates and fill the per-block statistics and totals;
 * kink[c] becomes 0 or 1: whether its kink weight is too large to judge. */
static void compare_coords(const gc_net *g, const gc_coord *cs, size_t nc, const double *gd,
                           const double *fd, double *kink, nb_gradcheck_report *r)
{
    r->scale = 1.0;
    for (size_t c = 0; c < nc; c++)
        if (isfinite(fd[c])) r->scale = fmax(r->scale, fabs(fd[c]));
    for (size_t c = 0; c < nc; c++) /* the kink weight against a share of the bound */
        kink[c] = kink[c] > GC_KINK_SHARE * (r->atol * r->scale + r->rtol * fabs(fd[c]) +
                                             r->fd_err);
    r->informative_min = r->rtol < 0.1 ? (r->atol * r->scale + r->fd_err) / (0.1 - r->rtol)
                                        : INFINITY;
    for (int l = 0; l < g->L; l++) {
        r->layers[l].w.count = (size_t)g->w[l] * (size_t)g->w[l + 1];
        r->layers[l].b.count = (size_t)g->w[l + 1];
        r->layers[l].w.worst = r->layers[l].b.worst = SIZE_MAX;
    }
    for (size_t c = 0; c < nc; c++) {
        nb_gradcheck_layer *ly = &r->layers[cs[c].l];
        add_coord(cs[c].k < 0 ? &ly->b : &ly->w, r, cs[c].i, gd[cs[c].i], fd[c], kink[c]);
    }
}

/* The directional checks, each along a fresh random unit u over all of θ. */
static nb_status check_directions(const gc_net *g, const double *th, const double *gd, size_t n,
                                  uint64_t seed, nb_gradcheck_report *r)
{
    double *u = malloc(n * sizeof *u), *tp = malloc(n * sizeof *tp), *tm = malloc(n * sizeof *tm);
    nb_status st = NB_OK;
    nb_rng rng;
    /* After the subset's draws, so a subset change does not move u: own seed. */
    nb_rng_seed(&rng, seed ^ 0x5eedd12ec7104ull, GC_STREAM);
    if (!u || !tp || !tm) st = NB_NOMEM("nb_gradcheck", 3 * n * sizeof(double));
    for (int k = 0; st == NB_OK && k < r->n_dirs; k++) {
        nb_gradcheck_dir *dr = &r->dirs[k];
        double norm = 0.0;
        do { /* uniform in the cube, then normalised: any unit u will do */
            norm = 0.0;
            for (size_t j = 0; j < n; j++) {
                u[j] = 2.0 * nb_rng_uniform(&rng) - 1.0;
                norm += u[j] * u[j];
            }
        } while (!(norm > 0.0));
        norm = sqrt(norm);
        double dot = 0.0, bound = r->fd_err;
        for (size_t j = 0; j < n; j++) {
            u[j] /= norm;
            tp[j] = th[j] + r->step * u[j];
            tm[j] = th[j] - r->step * u[j];
            dot += gd[j] * u[j];
            bound += (r->atol * r->scale + r->rtol * fabs(gd[j])) * fabs(u[j]);
        }
        double kink = 0.0;
        st = fd_direction(g, th, tp, tm, r->step, &dr->fd, &kink);
        dr->backprop = dot;
        dr->bound = bound;
        dr->kink = kink > GC_KINK_SHARE * bound;
        dr->pass = !dr->kink && fabs(dot - dr->fd) <= bound;
    }
    free(u);
    free(tp);
    free(tm);
    return st;
}

static const char *block_name(int k) { return k ? "biases" : "weights"; }

/* The verdict and its one-line reason. gbad: first non-finite backprop
 * component, or SIZE_MAX. */
static void verdict(nb_gradcheck_report *r, size_t gbad)
{
    int dfail = -1, dkink = 0;
    for (int k = r->n_dirs - 1; k >= 0; k--) {
        dkink += r->dirs[k].kink;
        if (!r->dirs[k].kink && !r->dirs[k].pass) dfail = k;
    }
    r->pass = 0;
    if (gbad != SIZE_MAX) {
        snprintf(r->why, sizeof r->why, "the backprop gradient is not finite at theta[%zu]", gbad);
        return;
    }
    if (r->failed > 0) {
        /* name the block with the worst violation */
        const nb_gradcheck_stat *w = NULL;
        int wl = 0, wk = 0;
        for (int l = 0; l < r->n_layers; l++)
            for (int k = 0; k < 2; k++) {
                const nb_gradcheck_stat *s = k ? &r->layers[l].b : &r->layers[l].w;
                if (s->failed && (!w || s->max_ratio > w->max_ratio)) w = s, wl = l, wk = k;
            }
        snprintf(r->why, sizeof r->why,
                 "%zu of %zu coordinates outside the bound; worst: layer %d %s, theta[%zu]: "
                 "backprop %.6g vs finite difference %.6g (%.3g x the bound)",
                 r->failed, r->checked, wl + 1, block_name(wk), w->worst, w->worst_g, w->worst_fd,
                 w->max_ratio);
        return;
    }
    if (dfail >= 0) {
        const nb_gradcheck_dir *d = &r->dirs[dfail];
        snprintf(r->why, sizeof r->why,
                 "direction %d: backprop %.6g vs finite difference %.6g, |diff| %.3g > bound %.3g",
                 dfail + 1, d->backprop, d->fd, fabs(d->backprop - d->fd), d->bound);
        return;
    }
    if (r->checked == 0) {
        snprintf(r->why, sizeof r->why,
                 "nothing could be compared: all %zu drawn coordinates meet relu kinks", r->kinks);
        return;
    }
    if (r->informative == 0) {
        snprintf(r->why, sizeof r->why,
                 "the gradient is ~0 (|grad| = %.3g; no compared component above %.3g): a check "
                 "here passes trivially (dead relu units? an exact minimum?)",
                 r->grad_norm, r->informative_min);
        return;
    }
    r->pass = 1;
    snprintf(r->why, sizeof r->why,
             "%zu coordinates (%zu informative, %zu skipped at relu kinks) and %d directions "
             "(%d at kinks) within the bound",
             r->checked, r->informative, r->kinks, r->n_dirs - dkink, dkink);
}

nb_status nb_gradcheck(nb_model *m, const nb_dataset *d, const nb_gradcheck_options *o,
                       nb_gradcheck_report *r)
{
    nb_gradcheck_options defaults;
    if (!m || !d || !r) return NB_FAIL(NB_ERR_ARG, "nb_gradcheck: NULL argument");
    if (!o) nb_gradcheck_options_default(&defaults), o = &defaults;
    NB_TRY(check_args(m, d, o));

    const size_t n = nb_model_param_count(m);
    nb_status st;
    gc_net g;
    gc_coord *cs = NULL;
    size_t nc = 0, gbad = SIZE_MAX;
    float *tf = malloc(n * sizeof *tf), *gf = malloc(n * sizeof *gf);
    double *th = malloc(n * sizeof *th), *gd = malloc(n * sizeof *gd), *fd = NULL, *kink = NULL;
    if (!tf || !gf || !th || !gd) {
        st = NB_NOMEM("nb_gradcheck", 2 * n * (sizeof(float) + sizeof(double)));
        goto fail;
    }
    net_init(m, d, o->relu_margin, &g);
    *r = (nb_gradcheck_report){.params = n, .n_layers = g.L, .n_dirs = o->directions,
                               .atol = o->atol, .rtol = o->rtol, .rel_floor = o->rel_floor,
                               .step = o->step};

    /* The backend's gradient, then the test hook's corruption of it. */
    NB_CHECK(nb_model_get_params(m, tf, n));
    NB_CHECK(nb_model_loss_grad(m, d, &r->loss, gf));
    for (size_t j = 0; j < n; j++) {
        th[j] = (double)tf[j];
        gd[j] = (double)gf[j];
    }
    if (o->perturb_layer > 0) {
        const int l = o->perturb_layer - 1;
        for (size_t j = g.ow[l]; j < g.ob[l]; j++) gd[j] *= 1.0 + o->perturb;
    }
    for (size_t j = 0; j < n; j++) {
        r->grad_norm += gd[j] * gd[j];
        if (!isfinite(gd[j]) && gbad == SIZE_MAX) gbad = j;
    }
    r->grad_norm = sqrt(r->grad_norm);

    NB_CHECK(select_coords(&g, n, o->max_params, o->seed, &cs, &nc));
    fd = malloc(nc * sizeof *fd);
    kink = malloc(nc * sizeof *kink);
    if (!fd || !kink) {
        st = NB_NOMEM("nb_gradcheck", nc * (sizeof *fd + sizeof *kink));
        goto fail;
    }
    NB_CHECK(fd_coords(&g, th, o->step, cs, nc, fd, kink, &r->loss_ref));
    if (!isfinite(r->loss_ref)) {
        st = NB_FAIL(NB_ERR_NONFINITE, "nb_gradcheck: the double-precision loss is %g at the "
                                       "model's parameters", r->loss_ref);
        goto fail;
    }
    /* Round-off of the differences: each row's loss is good to well under
     * 100 ε relative, so the mean of ℓ+ − ℓ− to 100 ε (1 + |Φ|); the
     * division by 2h is taken as h, for a factor 2 of margin. */
    r->fd_err = 100.0 * DBL_EPSILON * (1.0 + fabs(r->loss_ref)) / o->step;
    compare_coords(&g, cs, nc, gd, fd, kink, r);
    NB_CHECK(check_directions(&g, th, gd, n, o->seed, r));
    verdict(r, gbad);
    st = NB_OK;
fail:
    free(tf);
    free(gf);
    free(th);
    free(gd);
    free(cs);
    free(fd);
    free(kink);
    return st;
}
