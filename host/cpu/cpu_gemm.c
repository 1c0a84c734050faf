/*
 * cpu_gemm.c — the cpu backend's matrix multiply, C = α·op(A)·op(B) + β·C.
 *
 * A packed, blocked GEMM in the classic three-level shape:
 *   for each NC-wide column block of op(B)
 *     for each KC-deep slice of K: pack op(B)[k-slice, block] into panels
 *       for each MC-tall row block of op(A): pack op(A)[rows, k-slice]
 *         for each MR×NR tile: micro-kernel, accumulators in registers
 * Packing turns all four transpose cases into one contiguous access
 * pattern, zero-pads the edges so the micro-kernel never branches, and
 * folds α in. Block sizes keep a B panel strip in L1 and the A block in L2.
 *
 * Large products split the row blocks over the pool's workers: the caller
 * packs each B panel, then the row blocks are tasks that go to whichever
 * worker is free, each packing its own A block.
 * Summation order over K is fixed by the blocking, independent of data and
 * of threads (each output is summed by one thread), so results are
 * bit-for-bit reproducible for any thread count. Accumulation is in
 * float; the reference (ref_gemm) accumulates in double and the tests state
 * the tolerance between the two.
 *
 * The micro-kernel is compiled for several instruction sets on x86-64 with
 * GCC/Clang (target_clones), and the loader picks the best one the CPU has,
 * so one binary is fast on AVX-512 machines and still runs on any x86-64.
 */
#include "cpu/cpu_backend.h"

#include <stdlib.h>
#include <string.h>

enum { MR = 6, NR = 16, KC = 256, MC = 96, NC = 1024 };

/* Below this many multiply-adds a product stays on one thread: waking the
 * others costs microseconds, more than such a product takes. */
#define PAR_MIN_FMAS (1 << 18)

/* Packed panel sizes, exported for the backend's one-time allocation. */
const size_t nb_cpu_gemm_apack_floats = (size_t)MC * KC;
const size_t nb_cpu_gemm_bpack_floats = (size_t)KC * NC;

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(NABLA_NO_CLONES)
#define NB_CLONES __attribute__((target_clones("avx512f", "avx2,fma", "default")))
#else
#define NB_CLONES
#endif

/* op(A)[i][k] and op(B)[k][j] for a row-major matrix stored untransposed
 * (rows = first dim) or transposed. */
static inline float at_a(const float *A, bool ta, size_t M, size_t K, size_t i, size_t k)
{
    return ta ? A[k * M + i] : A[i * K + k];
}
static inline float at_b(const float *B, bool tb, size_t N, size_t K, size_t k, size_t j)
{
    return tb ? B[j * K + k] : B[k * N + j];
}

/* Pack op(A)[i0 .. i0+mc, k0 .. k0+kc] × alpha into MR-row panels:
 * panel p holds, for each k, MR consecutive values (zero below the edge). */
static void pack_a(const float *A, bool ta, size_t M, size_t K, size_t i0, size_t mc, size_t k0,
                   size_t kc, float alpha, float *Ap)
{
    for (size_t p = 0; p < mc; p += MR) {
        size_t rows = mc - p < MR ? mc - p : MR;
        for (size_t k = 0; k < kc; k++) {
            for (size_t r = 0; r < rows; r++)
                Ap[k * MR + r] = alpha * at_a(A, ta, M, K, i0 + p + r, k0 + k);
            for (size_t r = rows; r < MR; r++) Ap[k * MR + r] = 0.0f;
        }
        Ap += kc * MR;
    }
}

/* Pack op(B)[k0 .. k0+kc, j0 .. j0+nc] into NR-column panels: panel q
 * holds, for each k, NR consecutive values (zero right of the edge). */
static void pack_b(const float *B, bool tb, size_t N, size_t K, size_t k0, size_t kc, size_t j0,
                   size_t nc, float *Bp)
{
    for (size_t q = 0; q < nc; q += NR) {
        size_t cols = nc - q < NR ? nc - q : NR;
        for (size_t k = 0; k < kc; k++) {
            float *dst = Bp + k * NR;
            if (!tb) {
                memcpy(dst, B + (k0 + k) * N + j0 + q, cols * sizeof(float));
            } else {
                for (size_t c = 0; c < cols; c++) dst[c] = at_b(B, tb, N, K, k0 + k, j0 + q + c);
            }
            for (size_t c = cols; c < NR; c++) dst[c] = 0.0f;
        }
        Bp += kc * NR;
    }
}

#if defined(__GNUC__)
/* One row of a tile as a GCC/Clang vector: the compiler maps it to one
 * AVX-512 register, two AVX2 registers or four SSE registers. */
typedef float vrow __attribute__((vector_size(NR * sizeof(float))));

/* C tile (rows ≤ MR, cols ≤ NR, leading dimension ldc) += Ap-panel · Bp-panel.
 * Per k: one aligned load of B's row, MR broadcasts of A and MR FMAs into
 * MR register accumulators. */
NB_CLONES
static void micro_kernel(size_t kc, const float *restrict Ap, const float *restrict Bp,
                         float *restrict C, size_t ldc, size_t rows, size_t cols)
{
    vrow acc[MR];
    for (int r = 0; r < MR; r++) acc[r] = (vrow){0};
    for (size_t k = 0; k < kc; k++) {
        const vrow b = *(const vrow *)(Bp + k * NR); /* panels are 64-byte aligned */
        const float *a = Ap + k * MR;
        for (int r = 0; r < MR; r++) acc[r] += a[r] * b;
    }
    for (size_t r = 0; r < rows; r++) {
        float out[NR];
        memcpy(out, &acc[r], sizeof out);
        for (size_t c = 0; c < cols; c++) C[r * ldc + c] += out[c];
    }
}
#else
/* Portable C: the same arithmetic, left to the compiler to vectorise. */
static void micro_kernel(size_t kc, const float *restrict Ap, const float *restrict Bp,
                         float *restrict C, size_t ldc, size_t rows, size_t cols)
{
    float acc[MR][NR] = {{0}};
    for (size_t k = 0; k < kc; k++)
        for (int r = 0; r < MR; r++)
            for (int c = 0; c < NR; c++) acc[r][c] += Ap[k * MR + r] * Bp[k * NR + c];
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) C[r * ldc + c] += acc[r][c];
}
#endif

/* C rows [i0, i0+mc) × cols [j0, j0+nc) += packed A block · packed B block. */
static void macro_kernel(size_t mc, size_t nc, size_t kc, const float *Ap, const float *Bp,
                         float *C, size_t ldc)
{
    for (size_t q = 0; q < nc; q += NR) {
        size_t cols = nc - q < NR ? nc - q : NR;
        for (size_t p = 0; p < mc; p += MR) {
            size_t rows = mc - p < MR ? mc - p : MR;
            micro_kernel(kc, Ap + p * kc, Bp + q * kc, C + p * ldc + q, ldc, rows, cols);
        }
    }
}

/* One k-slice of one column block: what a row-block task needs. */
typedef struct slice {
    float *Apack; /* one A buffer per worker */
    const float *Bpack, *A;
    float *C;
    bool ta;
    size_t M, N, K, mcb, j0, nc, k0, kc;
    float alpha;
} slice;

/* Task b: row block b of the slice, packed into this worker's A buffer. */
static void row_block(void *arg, size_t b, int worker)
{
    const slice *s = arg;
    size_t i0 = b * s->mcb;
    if (i0 >= s->M) return;
    size_t mc = s->M - i0 < s->mcb ? s->M - i0 : s->mcb;
    float *Ap = s->Apack + (size_t)worker * nb_cpu_gemm_apack_floats;
    pack_a(s->A, s->ta, s->M, s->K, i0, mc, s->k0, s->kc, s->alpha, Ap);
    macro_kernel(mc, s->nc, s->kc, Ap, s->Bpack, s->C + i0 * s->N + s->j0, s->N);
}

/* The three loops: B packed by the caller, then one pool job per k-slice
 * whose tasks are the nblk row blocks of mcb rows (pool NULL: all on the
 * caller). */
static void blocks(nb_pool *pool, float *Apack, float *Bpack, bool ta, bool tb, size_t M, size_t N,
                   size_t K, float alpha, const float *A, const float *B, float *C, size_t nblk,
                   size_t mcb)
{
    for (size_t j0 = 0; j0 < N; j0 += NC) {
        size_t nc = N - j0 < NC ? N - j0 : NC;
        for (size_t k0 = 0; k0 < K; k0 += KC) {
            size_t kc = K - k0 < KC ? K - k0 : KC;
            pack_b(B, tb, N, K, k0, kc, j0, nc, Bpack);
            slice s = {Apack, Bpack, A, C, ta, M, N, K, mcb, j0, nc, k0, kc, alpha};
            nb_pool_for(pool, nblk, row_block, &s);
        }
    }
}

void nb_cpu_gemm(float *Apack, float *Bpack, nb_pool *pool, bool ta, bool tb, size_t M, size_t N,
                 size_t K, float alpha, const float *A, const float *B, float beta, float *C)
{
    /* β first, in one pass, so every block below only accumulates. */
    if (beta == 0.0f) {
        memset(C, 0, M * N * sizeof(float));
    } else if (beta != 1.0f) {
        for (size_t i = 0; i < M * N; i++) C[i] *= beta;
    }
    if (alpha == 0.0f) return;
    int nt = (double)M * (double)N * (double)K < PAR_MIN_FMAS ? 1 : nb_pool_threads(pool);
    /* Row blocks of at most MC rows; on several threads, at least 4 per
     * thread where M allows (heights a multiple of MR), handed out one at
     * a time: a thread whose core is busy with another process takes
     * fewer, and the others do the rest. Row blocking does not touch the
     * order in which an output sums over K. */
    size_t nblk = (M + MC - 1) / MC, mcb = MC;
    if (nt > 1 && nblk < 4 * (size_t)nt) {
        size_t want = 4 * (size_t)nt;
        mcb = ((M + want - 1) / want + MR - 1) / MR * MR;
        nblk = (M + mcb - 1) / mcb;
    }
    /* no job at all for a small product: waking a worker costs more */
    blocks(nt > 1 ? pool : NULL, Apack, Bpack, ta, tb, M, N, K, alpha, A, B, C, nblk, mcb);
}
