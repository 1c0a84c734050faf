/*
 * gemm_kernel.h — the cpu GEMM's kernels, written once for every
 * instruction set (a template: see gemm_isa.h). The including file defines
 *   NB_VL        floats per vector register (4 SSE, 8 AVX2, 16 AVX-512)
 *   NB_MR        rows of the register tile
 *   NB_NV        vectors per tile row (NR = NB_NV · NB_VL columns)
 *   NB_ISA       the nb_gemm_isa object to define, NB_ISA_NAME its name
 *   NB_USABLE()  an expression: this CPU runs the variant
 * and is compiled with that set's flags and -ffp-contract=fast, so that
 * `acc += a * b` is one fused multiply-add.
 *
 * The micro-kernel keeps an MR × NR tile of C in MR·NV registers. Per k it
 * loads NV vectors of the packed B panel and broadcasts MR values of the
 * packed A panel: MR·NV independent FMAs, enough in flight to cover the
 * FMA latency on both pipes (AVX2 6×16: 12 accumulators, 15 of 16
 * registers; AVX-512 14×32: 28, 31 of 32). Packing turns every transpose
 * case into that one access pattern; it moves whole vectors, with 8 × 8
 * in-register transposes where rows must become columns.
 */
#include <stdint.h>
#include <string.h>

#include "cpu/gemm_isa.h"
#include "cpu/simd.h"

#define NR (NB_NV * NB_VL)
#define MR NB_MR

#if defined(__clang__)
#define NB_UNROLL _Pragma("unroll")
#define NB_UNROLL4 _Pragma("unroll 4")
#else
#define NB_UNROLL _Pragma("GCC unroll 32")
#define NB_UNROLL4 _Pragma("GCC unroll 4")
#endif

/* -------------------------------------------------- 8 × 8 transposes */

typedef float v8 __attribute__((vector_size(8 * sizeof(float))));
typedef int32_t v8i __attribute__((vector_size(8 * sizeof(int32_t))));

#if defined(__clang__)
#define SHUF(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define SHUF(a, b, ...) __builtin_shuffle(a, b, (v8i){__VA_ARGS__})
#endif

static inline v8 load8(const float *p)
{
    v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void store8(float *p, v8 v) { memcpy(p, &v, sizeof v); }

/* r[t] ← column t of the 8 × 8 block whose rows are r[0..8): pairs
 * interleaved, then quads, then the 128-bit halves swapped (the classic
 * unpack / shuffle / permute sequence, in portable shuffles). */
static inline void transpose8(v8 r[8])
{
    v8 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = SHUF(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[i + 1] = SHUF(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = SHUF(t[i], t[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
        u[i + 1] = SHUF(t[i], t[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        u[i + 2] = SHUF(t[i + 1], t[i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
        u[i + 3] = SHUF(t[i + 1], t[i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = SHUF(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        r[i + 4] = SHUF(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    }
}

/*
 * dst[k·ld + c] = scale · src[c·sld + k] for c < width (≤ 8) and k < kc:
 * up to 8 rows of kc contiguous values become kc rows of `width`, the
 * source rows c ≥ n (≤ width) read as zeros. Whole 8 × 8 blocks go through
 * registers; each output row is stored as `width` floats, so nothing is
 * written outside the block.
 */
static void transpose_rows(const float *src, size_t sld, size_t n, size_t kc, float scale,
                           float *dst, size_t ld, size_t width)
{
    size_t k = 0;
    for (; k + 8 <= kc; k += 8) {
        v8 r[8];
        for (size_t c = 0; c < 8; c++) r[c] = c < n ? load8(src + c * sld + k) : (v8){0};
        transpose8(r);
        if (width == 8)
            for (size_t t = 0; t < 8; t++) store8(dst + (k + t) * ld, scale * r[t]);
        else
            for (size_t t = 0; t < 8; t++) {
                v8 v = scale * r[t];
                memcpy(dst + (k + t) * ld, &v, width * sizeof(float));
            }
    }
    for (; k < kc; k++)
        for (size_t c = 0; c < width; c++) dst[k * ld + c] = c < n ? scale * src[c * sld + k] : 0.0f;
}

/* ------------------------------------------------------------ packing */

static void pack_a(const float *A, bool ta, size_t M, size_t K, size_t i0, size_t mc, size_t k0,
                   size_t kc, float alpha, float *Ap)
{
    for (size_t p = 0; p < mc; p += MR) {
        size_t rows = mc - p < MR ? mc - p : MR;
        float *dst = Ap + p * kc;
        if (ta) { /* op(A)[i][k] = A[k][i]: each k's MR values are contiguous */
            for (size_t k = 0; k < kc; k++) {
                const float *s = A + (k0 + k) * M + i0 + p;
                for (size_t r = 0; r < MR; r++) dst[k * MR + r] = r < rows ? alpha * s[r] : 0.0f;
            }
        } else { /* rows contiguous in k: transpose in groups of 8 rows */
            for (size_t g = 0; g < MR; g += 8) {
                size_t width = MR - g < 8 ? MR - g : 8;
                size_t n = rows > g ? (rows - g < width ? rows - g : width) : 0;
                transpose_rows(A + (i0 + p + g) * K + k0, K, n, kc, alpha, dst + g, MR, width);
            }
        }
    }
}

static void pack_b(const float *B, bool tb, size_t N, size_t K, size_t k0, size_t kc, size_t j0,
                   size_t nc, float *Bp)
{
    for (size_t q = 0; q < nc; q += NR) {
        size_t cols = nc - q < NR ? nc - q : NR;
        float *dst = Bp + q * kc;
        if (!tb) { /* op(B)[k][j] = B[k][j]: NR contiguous values per k */
            for (size_t k = 0; k < kc; k++) {
                const float *s = B + (k0 + k) * N + j0 + q;
                if (cols == NR) {
                    NB_UNROLL
                    for (int v = 0; v < NB_NV; v++) vstore(dst + k * NR + v * NB_VL, vload(s + v * NB_VL));
                } else {
                    for (size_t c = 0; c < NR; c++) dst[k * NR + c] = c < cols ? s[c] : 0.0f;
                }
            }
        } else { /* op(B)[k][j] = B[j][k]: NR rows, transposed 8 at a time */
            for (size_t g = 0; g < NR; g += 8) {
                size_t n = cols > g ? (cols - g < 8 ? cols - g : 8) : 0;
                transpose_rows(B + (j0 + q + g) * K + k0, K, n, kc, 1.0f, dst + g, NR, 8);
            }
        }
    }
}

/* -------------------------------------------------------- epilogues */

/* The final value y of C[r][j .. j+n) with the tile's epilogue applied. */
static inline vf tile_epilogue(const nb_tile_epi *e, vf y, size_t r, size_t j, size_t n,
                               size_t ldc)
{
    if (e->kind == NB_EPI_BIAS_ACT) {
        if (e->bias) y += n == NB_VL ? vload(e->bias + j) : vload_part(e->bias + j, n);
        return nb_vact(e->act, y);
    }
    if (e->kind == NB_EPI_DACT) {
        const float *yp = e->Y + r * ldc + j;
        vf out = n == NB_VL ? vload(yp) : vload_part(yp, n);
        if (e->act == NB_ACT_RELU) return vsel(out > 0.0f, y, vsplat(0.0f)); /* as a select: NaN·0 stays 0 */
        return y * nb_vdact(e->act, out);
    }
    return y;
}

/* Write the accumulators to C (rows × cols of the tile), as e says. */
static inline void store_tile(vf acc[MR][NB_NV], float *C, size_t ldc, size_t rows, size_t cols,
                              const nb_tile_epi *e)
{
    vf cs[NB_NV];
    NB_UNROLL
    for (int v = 0; v < NB_NV; v++) cs[v] = (vf){0};
    for (size_t r = 0; r < rows; r++) {
        NB_UNROLL
        for (int v = 0; v < NB_NV; v++) {
            size_t j = (size_t)v * NB_VL;
            if (j >= cols) break;
            size_t n = cols - j < NB_VL ? cols - j : NB_VL;
            float *c = C + r * ldc + j;
            vf y = acc[r][v];
            if (!e->first)
                y += n == NB_VL ? vload(c) : vload_part(c, n);
            else if (e->beta != 0.0f)
                y += e->beta * (n == NB_VL ? vload(c) : vload_part(c, n));
            if (e->last) y = tile_epilogue(e, y, r, j, n, ldc);
            if (n == NB_VL)
                vstore(c, y);
            else
                vstore_part(c, y, n);
            if (e->last) cs[v] += y;
        }
    }
    if (!e->last || !e->colsum) return;
    for (int v = 0; v < NB_NV; v++) {
        size_t j = (size_t)v * NB_VL;
        if (j >= cols) break;
        size_t n = cols - j < NB_VL ? cols - j : NB_VL;
        float *s = e->colsum + j;
        if (n == NB_VL)
            vstore(s, vload(s) + cs[v]);
        else
            vstore_part(s, vload_part(s, n) + cs[v], n);
    }
}

/* ------------------------------------------------------- micro-kernel */

static void kernel(size_t kc, const float *restrict Ap, const float *restrict Bp,
                   float *restrict C, size_t ldc, size_t rows, size_t cols, const nb_tile_epi *e)
{
    vf acc[MR][NB_NV];
    NB_UNROLL
    for (int r = 0; r < MR; r++) {
        NB_UNROLL
        for (int v = 0; v < NB_NV; v++) acc[r][v] = (vf){0};
    }
    /* The C tile is read and written once the k loop is done: fetch its
     * lines now, while the loop runs (a tile of a large C is out of L2). */
    for (size_t r = 0; r < rows; r++) {
        __builtin_prefetch(C + r * ldc, 1);
        __builtin_prefetch(C + r * ldc + NR - 1, 1);
    }
    NB_UNROLL4
    for (size_t k = 0; k < kc; k++) {
        /* The B panel stays in L1 across the A panels of a block; the A
         * panel streams from L2: ask for it 16 k-rows ahead. */
        __builtin_prefetch(Ap + (k + 16) * MR);
        vf b[NB_NV];
        NB_UNROLL
        for (int v = 0; v < NB_NV; v++) b[v] = vload(Bp + k * NR + (size_t)v * NB_VL);
        NB_UNROLL
        for (int r = 0; r < MR; r++) {
            vf a = vsplat(Ap[k * MR + (size_t)r]);
            NB_UNROLL
            for (int v = 0; v < NB_NV; v++) acc[r][v] += a * b[v];
        }
    }
    store_tile(acc, C, ldc, rows, cols, e);
}

/* ------------------------------------------------ rows and dot products */

static void act_row(nb_act act, size_t n, const float *x, const float *bias, float *y)
{
    size_t j = 0;
    for (; j + NB_VL <= n; j += NB_VL) {
        vf v = vload(x + j);
        if (bias) v += vload(bias + j);
        vstore(y + j, nb_vact(act, v));
    }
    if (j < n) {
        vf v = vload_part(x + j, n - j);
        if (bias) v += vload_part(bias + j, n - j);
        vstore_part(y + j, nb_vact(act, v), n - j);
    }
}

/* The lanes of v summed in a fixed order (pairwise halves). */
static inline float hsum(vf v)
{
    float t[NB_VL];
    vstore(t, v);
    for (int w = NB_VL / 2; w >= 1; w /= 2)
        for (int i = 0; i < w; i++) t[i] += t[i + w];
    return t[0];
}

static void dact_row(nb_act act, size_t n, const float *y, float *d)
{
    size_t j = 0;
    for (; j + NB_VL <= n; j += NB_VL) {
        vf out = vload(y + j), dv = vload(d + j);
        vstore(d + j, act == NB_ACT_RELU ? vsel(out > 0.0f, dv, vsplat(0.0f)) : dv * nb_vdact(act, out));
    }
    if (j < n) {
        vf out = vload_part(y + j, n - j), dv = vload_part(d + j, n - j);
        vstore_part(d + j, act == NB_ACT_RELU ? vsel(out > 0.0f, dv, vsplat(0.0f)) : dv * nb_vdact(act, out),
                    n - j);
    }
}

static void col_sums(size_t rows, size_t cols, size_t ld, const float *src, float *out)
{
    size_t c = 0;
    /* Four vectors of columns at a time: four independent sums in flight. */
    for (; c + 4 * NB_VL <= cols; c += 4 * NB_VL) {
        vf s[4];
        for (int q = 0; q < 4; q++) s[q] = vload(out + c + (size_t)q * NB_VL);
        for (size_t r = 0; r < rows; r++)
            for (int q = 0; q < 4; q++) s[q] += vload(src + r * ld + c + (size_t)q * NB_VL);
        for (int q = 0; q < 4; q++) vstore(out + c + (size_t)q * NB_VL, s[q]);
    }
    for (; c < cols; c++) {
        float s = out[c];
        for (size_t r = 0; r < rows; r++) s += src[r * ld + c];
        out[c] = s;
    }
}

static int axpy_check(size_t n, float a, const float *x, float *y)
{
    /* Σ y·0 is NaN exactly when some y is NaN or ±Inf. */
    vf z = (vf){0};
    size_t i = 0;
    for (; i + NB_VL <= n; i += NB_VL) {
        vf v = vload(y + i) - a * vload(x + i);
        vstore(y + i, v);
        z += v * 0.0f;
    }
    float zs = hsum(z);
    for (; i < n; i++) {
        y[i] -= a * x[i];
        zs += y[i] * 0.0f;
    }
    return zs != 0.0f;
}

static void epi_rows(size_t i0, size_t i1, size_t N, float *C, const nb_gemm_epi *e,
                     float *colsum)
{
    nb_tile_epi t = {.first = 0, .last = 1, .beta = 1.0f, .kind = e->kind, .act = e->act};
    for (size_t i = i0; i < i1; i++) {
        float *c = C + i * N;
        for (size_t j = 0; j < N; j += NB_VL) {
            size_t n = N - j < NB_VL ? N - j : NB_VL;
            t.bias = e->bias;
            t.Y = e->Y ? e->Y + i * N : NULL;
            vf y = n == NB_VL ? vload(c + j) : vload_part(c + j, n);
            y = tile_epilogue(&t, y, 0, j, n, N);
            if (n == NB_VL) vstore(c + j, y); else vstore_part(c + j, y, n);
            if (colsum) {
                if (n == NB_VL) vstore(colsum + j, vload(colsum + j) + y);
                else vstore_part(colsum + j, vload_part(colsum + j, n) + y, n);
            }
        }
    }
}

/* One row block of C = αABᵀ + βC: R rows × J columns of dot products. */
enum { DOT_R = 4, DOT_J = 3 };

static void dot_block(size_t i, size_t j, size_t N, size_t K, float alpha, const float *A,
                      const float *B, float beta, float *C)
{
    vf acc[DOT_R][DOT_J];
    NB_UNROLL
    for (int r = 0; r < DOT_R; r++) {
        NB_UNROLL
        for (int q = 0; q < DOT_J; q++) acc[r][q] = (vf){0};
    }
    size_t k = 0;
    for (; k + NB_VL <= K; k += NB_VL) {
        vf b[DOT_J];
        NB_UNROLL
        for (int q = 0; q < DOT_J; q++) b[q] = vload(B + (j + (size_t)q) * K + k);
        NB_UNROLL
        for (int r = 0; r < DOT_R; r++) {
            vf a = vload(A + (i + (size_t)r) * K + k);
            NB_UNROLL
            for (int q = 0; q < DOT_J; q++) acc[r][q] += a * b[q];
        }
    }
    for (int r = 0; r < DOT_R; r++)
        for (int q = 0; q < DOT_J; q++) {
            const float *a = A + (i + (size_t)r) * K, *b = B + (j + (size_t)q) * K;
            float s = hsum(acc[r][q]);
            for (size_t kk = k; kk < K; kk++) s += a[kk] * b[kk];
            float *c = C + (i + (size_t)r) * N + j + (size_t)q;
            *c = alpha * s + (beta != 0.0f ? beta * *c : 0.0f);
        }
}

/* The same for one entry, in the same order of summation as dot_block. */
static float dot_one(const float *a, const float *b, size_t K)
{
    vf acc = (vf){0};
    size_t k = 0;
    for (; k + NB_VL <= K; k += NB_VL) acc += vload(a + k) * vload(b + k);
    float s = hsum(acc);
    for (; k < K; k++) s += a[k] * b[k];
    return s;
}

static void dot_nt(size_t i0, size_t i1, size_t N, size_t K, float alpha, const float *A,
                   const float *B, float beta, float *C, const nb_gemm_epi *e, float *colsum)
{
    size_t i = i0;
    for (; i + DOT_R <= i1; i += DOT_R) {
        size_t j = 0;
        for (; j + DOT_J <= N; j += DOT_J) dot_block(i, j, N, K, alpha, A, B, beta, C);
        for (size_t r = 0; r < DOT_R; r++)
            for (size_t jj = j; jj < N; jj++) {
                float *c = C + (i + r) * N + jj;
                *c = alpha * dot_one(A + (i + r) * K, B + jj * K, K) + (beta != 0.0f ? beta * *c : 0.0f);
            }
    }
    for (; i < i1; i++)
        for (size_t jj = 0; jj < N; jj++) {
            float *c = C + i * N + jj;
            *c = alpha * dot_one(A + i * K, B + jj * K, K) + (beta != 0.0f ? beta * *c : 0.0f);
        }
    if (e->kind != NB_EPI_NONE || colsum) epi_rows(i0, i1, N, C, e, colsum);
}

static int usable(void) { return NB_USABLE(); }

const nb_gemm_isa NB_ISA = {
    .name = NB_ISA_NAME,
    .mr = MR,
    .nr = NR,
    .vl = NB_VL,
    .usable = usable,
    .pack_a = pack_a,
    .pack_b = pack_b,
    .kernel = kernel,
    .dot_nt = dot_nt,
    .act_row = act_row,
    .dact_row = dact_row,
    .col_sums = col_sums,
    .axpy_check = axpy_check,
    .epi_rows = epi_rows,
};
