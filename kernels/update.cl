/*
 * update.cl — the parameter update over the whole contiguous parameter
 * buffer in one launch. Launch: 1-D over n.
 */

/* θ ← θ − α g (plain gradient descent). */
__kernel void update_sgd(const ulong n, const float lr,
                         __global float *theta, const ulong off_t,
                         __global const float *grad, const ulong off_g)
{
    const ulong i = get_global_id(0);
    if (i < n) theta[off_t + i] -= lr * grad[off_g + i];
}
