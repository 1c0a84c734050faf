/*
 * update.cl — one optimizer step over the whole contiguous parameter
 * buffer, in one launch. Launch: 1-D over n.
 *
 * kind: nabla's nb_optim, its values given by the host as -DNB_OPT_SGD=…
 * and so on (never written here as numbers).
 * state holds m (n floats) and, for Adam, v (n more). With clip > 0 the
 * gradient is scaled by min(1, clip / ‖g‖), ‖g‖² read from gnorm2 on the
 * device, so clipping needs no round trip to the host. Weight decay wd is
 * L2 (added to g) except for AdamW, where it is decoupled. bc1 and bc2 are
 * Adam's bias corrections 1/(1 − β^t), and omb1, omb2 are 1 − β1, 1 − β2,
 * all computed on the host in double (1 − β in float would lose digits).
 * The formulas are those of host/optim_math.h. With check set, a new θ
 * that is NaN or Inf sets *bad to 1 (an atomic exchange: any number of
 * work-items may find one, and none clears it).
 */

__kernel void update(const ulong n, const int kind, const float lr, const float mu,
                     const float b1, const float b2, const float omb1, const float omb2,
                     const float eps, const float wd,
                     const float bc1, const float bc2, const float clip,
                     __global float *theta, const ulong off_t,
                     __global const float *grad, const ulong off_g,
                     __global float *state, const ulong off_s,
                     __global const float *gnorm2, const ulong off_n,
                     const int check, __global int *bad, const ulong off_bad)
{
    const ulong i = get_global_id(0);
    if (i >= n) return;
    float scale = 1.0f;
    if (clip > 0.0f) {
        const float norm = sqrt(gnorm2[off_n]);
        if (norm > clip) scale = clip / norm;
    }
    const float th = theta[off_t + i];
    float g = scale * grad[off_g + i];
    if (kind != NB_OPT_ADAMW) g += wd * th;
    float out;
    if (kind == NB_OPT_SGD) {
        out = th - lr * g;
    } else if (kind == NB_OPT_MOMENTUM || kind == NB_OPT_NESTEROV) {
        const float m = mu * state[off_s + i] + g;
        state[off_s + i] = m;
        out = th - lr * (kind == NB_OPT_MOMENTUM ? m : g + mu * m);
    } else { /* NB_OPT_ADAM, NB_OPT_ADAMW */
        const float m = b1 * state[off_s + i] + omb1 * g;
        const float v = b2 * state[off_s + n + i] + omb2 * g * g;
        state[off_s + i] = m;
        state[off_s + n + i] = v;
        float step = (m * bc1) / (sqrt(v * bc2) + eps);
        if (kind == NB_OPT_ADAMW) step += wd * th;
        out = th - lr * step;
    }
    theta[off_t + i] = out;
    if (check && !isfinite(out)) atomic_xchg(bad + off_bad, 1);
}
