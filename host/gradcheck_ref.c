/*
 * gradcheck_ref.c — the double-precision reference of nb_gradcheck
 * (declared in gradcheck_ref.h): Φ computed from θ in double, its central
 * differences along coordinates and along directions, and the relu kink
 * weights of their stencils.
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
 * Not here: the backprop itself (pass.c and the backends), choosing the
 * coordinates, comparing and the verdict (gradcheck.c).
 */
#include "gradcheck_ref.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "act.h"
#include "data/dataset.h"
#include "status.h"

enum {
    GC_CHUNK_BYTES = 8 << 20, /* cached forward state per chunk of rows     */
    GC_MAX_CHUNK = 256        /* rows per chunk at most                     */
};

/* One row's state. Only at θ itself: tau (Z), the kink band of each z,
 * and e (Z), |∂ℓ/∂σ(z)|, what a relu taking the other branch at z costs ℓ
 * per unit of z (at a softmax output, e holds ∂ℓ/∂z instead). */
typedef struct gc_row {
    double *z, *a, *tau, *e;
} gc_row;

/* σ and σ' from the table of activations (act.c), the same definitions
 * the reference ops use; a softmax output is the loss's business, so its
 * entry is the identity here. */
static double act_fn(nb_act a, double z) { return nb_act_get(a)->f(z); }

static double act_deriv(nb_act a, double z)
{
    const nb_act_info *i = nb_act_get(a);
    return i->dy(i->f(z));
}

/* Target k of a row: the regression value, or the label's one-hot entry. */
static double target(const nb_gc_net *g, size_t row, int k)
{
    const nb_dataset *d = g->d;
    return d->y ? (double)d->y[row * (size_t)d->outputs + (size_t)k] : d->labels[row] == k;
}

/* z (w[l+1]) = A_l a + b_l for a (w[l]). With tau, also each z's kink band
 * relu_margin·(|b| + Σ|A a|): the size of the terms float32 rounds. */
static void layer_fwd(const nb_gc_net *g, const double *th, int l, const double *a, double *z,
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
static double row_loss(const nb_gc_net *g, size_t row, const double *z)
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
static void row_back(const nb_gc_net *g, const double *th, size_t row, const gc_row *b)
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
static double row_eval(const nb_gc_net *g, const double *th, int l, size_t row, const gc_row *t,
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
static double row_full(const nb_gc_net *g, const double *th, size_t row, const gc_row *t,
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
static double coord_side(const nb_gc_net *g, const double *th, const nb_gc_coord *c, double sh,
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
static gc_row cache_row(const nb_gc_net *g, double *cache, size_t i)
{
    double *p = cache + i * (3 * g->Z + g->A);
    return (gc_row){p, p + 3 * g->Z, p + g->Z, p + 2 * g->Z};
}

/* Rows per chunk so a chunk's cached state stays near GC_CHUNK_BYTES. */
static size_t chunk_rows(const nb_gc_net *g)
{
    size_t r = GC_CHUNK_BYTES / ((3 * g->Z + g->A + 1) * sizeof(double));
    return r < 1 ? 1 : r > GC_MAX_CHUNK ? GC_MAX_CHUNK : r;
}

/*
 * Central differences along every coordinate in cs (nc) into fd (nc), and
 * into kink (nc) the first-order size of what relu kinks its stencils met
 * can do to it: Σ weights / (N·2h) (see kink_weight). Φ at θ into *phi.
 */
nb_status nb_gc_fd_coords(const nb_gc_net *g, const double *th, double step,
                          const nb_gc_coord *cs, size_t nc, double *fd, double *kink,
                          double *phi)
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
 * and tm = θ − t u given; *kink as in nb_gc_fd_coords. */
nb_status nb_gc_fd_direction(const nb_gc_net *g, const double *th, const double *tp,
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

/* The reference's view of model m and data d. */
void nb_gc_net_init(const nb_model *m, const nb_dataset *d, double margin, nb_gc_net *g)
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
