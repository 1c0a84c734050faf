/*
 * act.cl — activations: bias + activation forward (fused), the row-wise
 * softmax, the activation derivative fused with the incoming gradient, and
 * the GEMMs that apply either as they store their output.
 *
 * The activation is a uniform kernel argument, so every work-item takes
 * the same branch. Its ids are nabla's nb_act values, given by the host
 * from its table of activations as -DACT_SIGMOID=… and so on, never
 * written here as numbers; an id without a case gives NaN, which the op
 * tests catch. group_max and group_sum come from reduce.cl, compiled
 * before this file, and the GEMM body and its store hooks from gemm.cl.
 * Tunable: WG_SIZE, the work-group size of bias_softmax (a power of two).
 */
/* σ without overflow: e^-z only for z ≥ 0, e^z otherwise. */
static float sigmoid1(const float z)
{
    if (z >= 0.0f) return 1.0f / (1.0f + exp(-z));
    const float e = exp(z);
    return e / (1.0f + e);
}

static float act1(const int act, const float z)
{
    switch (act) {
    case ACT_SIGMOID: return sigmoid1(z);
    case ACT_TANH: return tanh(z);
    case ACT_RELU: return z <= 0.0f ? 0.0f : z; /* NaN passes through */
    case ACT_IDENTITY: return z;
    default: return NAN;
    }
}

/* Y (rows, cols) = act(Y + bias). Launch: 2-D, (cols, rows). */
__kernel void bias_act(const uint rows, const uint cols, const int act,
                       __global const float *bias, const ulong off_b,
                       __global float *Y, const ulong off_y)
{
    const uint j = get_global_id(0), i = get_global_id(1);
    if (i >= rows || j >= cols) return;
    const ulong at = off_y + (ulong)i * cols + j;
    Y[at] = act1(act, Y[at] + bias[off_b + j]);
}

/*
 * Row-wise softmax of Y + bias, max-shifted so every exponent is ≤ 0.
 * Launch: 1-D, one work-group of WG_SIZE per row (global = rows·WG_SIZE);
 * local memory WG_SIZE floats.
 */
__kernel void bias_softmax(const uint rows, const uint cols,
                           __global const float *bias, const ulong off_b,
                           __global float *Y, const ulong off_y)
{
    __local float red[WG_SIZE];
    const uint row = get_group_id(0), l = get_local_id(0);
    if (row >= rows) return; /* whole group leaves together: no barrier skipped */
    __global float *y = Y + off_y + (ulong)row * cols;
    __global const float *b = bias + off_b;
    float m = -INFINITY;
    for (uint c = l; c < cols; c += WG_SIZE) m = fmax(m, y[c] + b[c]);
    m = group_max(red, m);
    float s = 0.0f;
    for (uint c = l; c < cols; c += WG_SIZE) s += exp(y[c] + b[c] - m);
    s = group_sum(red, s);
    const float inv = 1.0f / s;
    for (uint c = l; c < cols; c += WG_SIZE) y[c] = exp(y[c] + b[c] - m) * inv;
}

/* act'(z) written through y = act(z). */
static float dact1(const int act, const float y)
{
    switch (act) {
    case ACT_SIGMOID: return y * (1.0f - y); /* σ' = σ(1 − σ)   */
    case ACT_TANH: return 1.0f - y * y;      /* tanh' = 1 − tanh² */
    case ACT_RELU: return y > 0.0f ? 1.0f : 0.0f;
    case ACT_IDENTITY: return 1.0f;
    default: return NAN;
    }
}

/* dY (n) *= act'(z), written through y = act(z). Launch: 1-D over n. */
__kernel void act_backward(const ulong n, const int act,
                           __global const float *Y, const ulong off_y,
                           __global float *dY, const ulong off_d)
{
    const ulong i = get_global_id(0);
    if (i >= n) return;
    dY[off_d + i] *= dact1(act, Y[off_y + i]);
}

/*
 * GEMMs fused with what the training step does next to their output (the
 * host's gemm_epi op). The arguments are gemm.cl's, then
 *   epi, act        NB_EPI_BIAS_ACT: C = act(C + E[j]), E the bias (N);
 *                   NB_EPI_DACT: C *= act'(E[i][j]), E (M, N) the outputs Y
 *                   of the layer below, act' written through them;
 *                   NB_EPI_NONE: C as the plain GEMM leaves it
 *   E, offE         the bias or Y
 *   cs, offcs, cs_on, cs_beta
 *                   cs_on: cs[j] = Σ_i C[i][j] + cs_beta · cs[j] (the bias
 *                   gradient); the small kernels only, the host sums after
 *                   the tiled ones.
 * Each output gets exactly the arithmetic of the plain GEMM, then of
 * bias_act or act_backward, in the same order: the fused op equals the
 * composition it replaces.
 */
static float epi1(const int epi, const int act, const float v, __global const float *E,
                  const ulong offE, const uint N, const uint i, const uint j)
{
    if (epi == NB_EPI_BIAS_ACT) return act1(act, v + E[offE + j]);
    if (epi == NB_EPI_DACT) return v * dact1(act, E[offE + (ulong)i * N + j]);
    return v;
}

#define GEMM_EPI_SIGNATURE(name)                                                       \
    __kernel void name(const uint M, const uint N, const uint K, const float alpha,    \
                       __global const float *A, const ulong offA,                      \
                       __global const float *B, const ulong offB,                      \
                       const float beta, __global float *C, const ulong offC,          \
                       const int epi, const int act,                                   \
                       __global const float *E, const ulong offE,                      \
                       __global float *cs, const ulong offcs,                          \
                       const int cs_on, const float cs_beta)

/* gemm.cl's tiled body, its store hooks now applying the epilogue. */
#undef GEMM_EPI
#undef GEMM_EPI_ROW
#define GEMM_EPI(v, i, j) epi1(epi, act, (v), E, offE, N, (i), (j))
#define GEMM_EPI_ROW(v, i, j)                                                          \
    if (epi != NB_EPI_NONE) {                                                          \
        float e_[GEMM_WN];                                                             \
        GEMM_STORE_ROW(v, e_);                                                         \
        for (uint c = 0; c < GEMM_WN; ++c) e_[c] = GEMM_EPI(e_[c], (i), (j) + c);      \
        v = GEMM_LOAD_ROW(e_);                                                         \
    }

#define GEMM_EPI_KERNEL(name, TA, TB)                                                  \
    GEMM_EPI_SIGNATURE(name)                                                           \
    {                                                                                  \
        GEMM_BODY(TA, TB)                                                              \
    }

/* Launch: as gemm_nn and gemm_nt. Only these two: a layer's forward
 * (X · Wᵀ) and the delta of the layer below (D · W). */
GEMM_EPI_KERNEL(gemm_epi_nn, 0, 0)
GEMM_EPI_KERNEL(gemm_epi_nt, 0, 1)

/*
 * Small fused GEMM, one work-item per output as gemm_small_*; with cs_on,
 * one work-item per column instead, which computes its outputs row by row
 * and adds them up in that order: the column sum of col_sum_final, in the
 * same launch. Also the batch-1 (M == 1) path for small products.
 * Launch: 1-D, global >= (cs_on ? N : M * N).
 */
#define GEMM_SMALL_EPI_KERNEL(name, TA, TB)                                            \
    GEMM_EPI_SIGNATURE(name)                                                           \
    {                                                                                  \
        const uint id = get_global_id(0);                                              \
        if (id >= (cs_on ? N : M * N))                                                 \
            return;                                                                    \
        const uint q = id / N; /* not %: Oclgrind lacks LLVM's freeze */               \
        const uint j = cs_on ? id : id - q * N, i0 = cs_on ? 0 : q;                    \
        const uint i1 = cs_on ? M : q + 1;                                             \
        __global const float *a = A + offA, *b = B + offB;                             \
        float s = 0.0f;                                                                \
        for (uint i = i0; i < i1; ++i) {                                               \
            float acc = 0.0f;                                                          \
            for (uint k = 0; k < K; ++k)                                               \
                acc += a[(TA) ? k * M + i : i * K + k] * b[(TB) ? j * K + k : k * N + j]; \
            __global float *y = C + offC + (ulong)i * N + j;                           \
            const float v = alpha * acc;                                               \
            const float o = epi1(epi, act, beta == 0.0f ? v : v + beta * *y, E, offE, N, i, j); \
            *y = o;                                                                    \
            s += o;                                                                    \
        }                                                                              \
        if (cs_on)                                                                     \
            cs[offcs + j] = cs_beta != 0.0f ? s + cs_beta * cs[offcs + j] : s;         \
    }

GEMM_SMALL_EPI_KERNEL(gemm_small_epi_nn, 0, 0)
GEMM_SMALL_EPI_KERNEL(gemm_small_epi_nt, 0, 1)
