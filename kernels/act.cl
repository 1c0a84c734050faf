/*
 * act.cl — activations: bias + activation forward (fused), the row-wise
 * softmax, and the activation derivative fused with the incoming gradient.
 *
 * The activation is a uniform kernel argument, so every work-item takes
 * the same branch. Its ids are nabla's nb_act values, given by the host
 * from its table of activations as -DACT_SIGMOID=… and so on, never
 * written here as numbers; an id without a case gives NaN, which the op
 * tests catch. group_max and group_sum come from reduce.cl, compiled
 * before this file.
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

/* dY (n) *= act'(z), written through y = act(z). Launch: 1-D over n. */
__kernel void act_backward(const ulong n, const int act,
                           __global const float *Y, const ulong off_y,
                           __global float *dY, const ulong off_d)
{
    const ulong i = get_global_id(0);
    if (i >= n) return;
    const float y = Y[off_y + i];
    float d;
    switch (act) {
    case ACT_SIGMOID: d = y * (1.0f - y); break; /* σ' = σ(1 − σ)   */
    case ACT_TANH: d = 1.0f - y * y; break;      /* tanh' = 1 − tanh² */
    case ACT_RELU: d = y > 0.0f ? 1.0f : 0.0f; break;
    case ACT_IDENTITY: d = 1.0f; break;
    default: d = NAN; break;
    }
    dY[off_d + i] *= d;
}
