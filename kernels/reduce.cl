/*
 * reduce.cl — deterministic reductions: sums in a fixed order that does
 * not depend on scheduling, so a run's loss and gradient norm repeat
 * exactly. group_sum is shared with act.cl and loss.cl, which the host
 * compiles after this file in the same program.
 * Tunable: WG_SIZE, the work-group size (a power of two).
 */
#ifndef WG_SIZE
#define WG_SIZE 256
#endif

/* Work-group tree sum of each item's v, returned to every item. All items
 * must call it; red (WG_SIZE floats) may be reused as soon as it returns. */
static float group_sum(__local float *red, const float v)
{
    const uint l = get_local_id(0);
    red[l] = v;
    for (uint s = WG_SIZE / 2; s > 0; s >>= 1) {
        barrier(CLK_LOCAL_MEM_FENCE);
        if (l < s) red[l] += red[l + s];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    const float r = red[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/* The same tree with max instead of +. */
static float group_max(__local float *red, const float v)
{
    const uint l = get_local_id(0);
    red[l] = v;
    for (uint s = WG_SIZE / 2; s > 0; s >>= 1) {
        barrier(CLK_LOCAL_MEM_FENCE);
        if (l < s) red[l] = fmax(red[l], red[l + s]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    const float r = red[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/*
 * out[0] = Σ in[0..n) (+ out[0] if accumulate). Launch: ONE work-group of
 * WG_SIZE (global = WG_SIZE); local memory WG_SIZE floats. Item l sums
 * in[l], in[l + WG_SIZE], … in order, then the tree combines the items.
 */
__kernel void reduce_sum(const uint n, __global const float *in, const ulong off_in,
                         const int accumulate, __global float *out, const ulong off_out)
{
    __local float red[WG_SIZE];
    float s = 0.0f;
    for (uint i = get_local_id(0); i < n; i += WG_SIZE) s += in[off_in + i];
    s = group_sum(red, s);
    if (get_local_id(0) == 0) out[off_out] = accumulate ? out[off_out] + s : s;
}

/*
 * Σ x² in two stages: sum_sq_part leaves one partial per work-group in
 * part[off_p + group]; reduce_sum then adds the partials. With one group
 * (n ≤ WG_SIZE) the partial is the sum, written straight to the result:
 * one launch, and the same value (reduce_sum of one partial adds only
 * zeros to it). Launch: 1-D, G groups
 * of WG_SIZE (G chosen by the host from n only); item g sums x[g],
 * x[g + G·WG_SIZE], … in order.
 */
__kernel void sum_sq_part(const ulong n, __global const float *x, const ulong off_x,
                          __global float *part, const ulong off_p)
{
    __local float red[WG_SIZE];
    const ulong stride = get_global_size(0);
    float s = 0.0f;
    for (ulong i = get_global_id(0); i < n; i += stride) {
        const float v = x[off_x + i];
        s += v * v;
    }
    s = group_sum(red, s);
    if (get_local_id(0) == 0) part[off_p + get_group_id(0)] = s;
}

/*
 * Column sums of dY (rows, cols) for bias gradients. Tall matrices take two
 * stages so that they still use many work-items: col_sum_part sums blocks
 * of rpb rows per column into part (nblocks, cols), and col_sum_final adds
 * the blocks in order. A short matrix is its own "part": col_sum_final
 * alone, with nblocks = rows. Launch: part 2-D (cols, nblocks); final 1-D
 * (cols).
 */
__kernel void col_sum_part(const uint rows, const uint cols, const uint rpb,
                           __global const float *dY, const ulong off_d, __global float *part)
{
    const uint j = get_global_id(0), b = get_global_id(1);
    if (j >= cols || (ulong)b * rpb >= rows) return;
    const uint end = min(rows, (b + 1) * rpb);
    float s = 0.0f;
    for (uint r = b * rpb; r < end; r++) s += dY[off_d + (ulong)r * cols + j];
    part[(ulong)b * cols + j] = s;
}

/* db (cols) = Σ_b part[b, :] + beta · db. */
__kernel void col_sum_final(const uint nblocks, const uint cols, const float beta,
                            __global const float *part, const ulong off_p,
                            __global float *db, const ulong off_b)
{
    const uint j = get_global_id(0);
    if (j >= cols) return;
    float s = 0.0f;
    for (uint b = 0; b < nblocks; b++) s += part[off_p + (ulong)b * cols + j];
    db[off_b + j] = beta != 0.0f ? s + beta * db[off_b + j] : s;
}
