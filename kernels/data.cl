/*
 * data.cl — moving rows: the mini-batch gather and buffer fill.
 *
 * gather_rows copies rows of the resident training set into the batch
 * buffer by index, so a step needs nothing from the host but indices.
 * Launch: 2-D, dimension 0 over columns (adjacent work-items read adjacent
 * floats of one row: coalesced), dimension 1 over rows. Global sizes are
 * rounded up by the host; every kernel guards its tail.
 */

__kernel void gather_rows(const uint rows, const uint cols,
                          __global const float *src, const ulong off_src,
                          __global const int *idx, const ulong off_idx,
                          __global float *dst, const ulong off_dst)
{
    const uint j = get_global_id(0), i = get_global_id(1);
    if (i >= rows || j >= cols) return;
    const ulong from = (ulong)idx[off_idx + i] * cols + j;
    dst[off_dst + (ulong)i * cols + j] = src[off_src + from];
}

/* x[0..n) = v. Launch: 1-D over n. */
__kernel void fill(const ulong n, const float v, __global float *x, const ulong off_x)
{
    const ulong i = get_global_id(0);
    if (i < n) x[off_x + i] = v;
}
