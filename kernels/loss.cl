/*
 * loss.cl — the loss value and the output gradient, in one launch.
 *
 *   MSE : loss_r = Σ_c (out − t)²,               dOut = scale · 2 (out − t)
 *   XENT: out holds logits z; loss_r = Σ_c t_c (lse(z) − z_c),
 *         dOut = scale · (softmax(z) · Σ_c t_c − t), both max-shifted,
 * and acc[0] += Σ_r loss_r. loss is nabla's nb_loss, NB_LOSS_MSE or
 * NB_LOSS_XENT (-D names from the host).
 * Launch: ONE work-group of WG_SIZE (global = WG_SIZE); local memory
 * WG_SIZE floats. Item l owns rows l, l + WG_SIZE, …, adds their losses in
 * that order, and group_sum (reduce.cl, compiled before this file) adds
 * the items in a fixed tree: the same run gives the same loss every time.
 * One work-group is enough: the loss is a few flops per output element.
 */

/* Loss of one row; writes the row's gradient into d. */
static float row_loss(const uint cols, const int loss, const float scale,
                      __global const float *o, __global const float *t, __global float *d)
{
    float total = 0.0f;
    if (loss == NB_LOSS_MSE) {
        for (uint c = 0; c < cols; c++) {
            const float e = o[c] - t[c];
            total += e * e;
            d[c] = scale * 2.0f * e;
        }
        return total;
    }
    /* With m = max z, z_c − m and m − z_c are exact in float (Sterbenz),
     * so writing lse(z) − z_c = (m − z_c) + log s and softmax = e^(z−m)/s
     * loses nothing to the size of the logits: shifting them all by 1e4
     * changes neither the loss nor the gradient. */
    float m = -INFINITY, s = 0.0f, tsum = 0.0f;
    for (uint c = 0; c < cols; c++) m = fmax(m, o[c]);
    for (uint c = 0; c < cols; c++) s += exp(o[c] - m);
    const float log_s = log(s), inv_s = 1.0f / s;
    for (uint c = 0; c < cols; c++) {
        tsum += t[c];
        if (t[c] != 0.0f) total += t[c] * ((m - o[c]) + log_s);
    }
    for (uint c = 0; c < cols; c++) d[c] = scale * (exp(o[c] - m) * inv_s * tsum - t[c]);
    return total;
}

__kernel void loss_sum(const uint rows, const uint cols, const int loss, const float scale,
                       __global const float *out, const ulong off_o,
                       __global const float *target, const ulong off_t,
                       __global float *dOut, const ulong off_d,
                       __global float *acc, const ulong off_acc)
{
    __local float red[WG_SIZE];
    float s = 0.0f;
    for (uint r = get_local_id(0); r < rows; r += WG_SIZE) {
        const ulong at = (ulong)r * cols;
        s += row_loss(cols, loss, scale, out + off_o + at, target + off_t + at, dOut + off_d + at);
    }
    s = group_sum(red, s);
    if (get_local_id(0) == 0) acc[off_acc] += s;
}
