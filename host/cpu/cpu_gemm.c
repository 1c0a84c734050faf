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
 * Large products split the row blocks over threads (OpenMP): one thread
 * packs each B panel, then each packs and multiplies its own row blocks.
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
#ifdef _OPENMP
#include <omp.h>
#endif

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

/* The three loops, for one thread of a team or for the caller alone: the
 * work-sharing below binds to an enclosing parallel region, if any. Ap is
 * this thread's A buffer; nblk row blocks of mcb rows. */
static void blocks(float *Ap, float *Bpack, bool ta, bool tb, size_t M, size_t N, size_t K,
                   float alpha, const float *A, const float *B, float *C, size_t nblk, size_t mcb)
{
    for (size_t j0 = 0; j0 < N; j0 += NC) {
        size_t nc = N - j0 < NC ? N - j0 : NC;
        for (size_t k0 = 0; k0 < K; k0 += KC) {
            size_t kc = K - k0 < KC ? K - k0 : KC;
#pragma omp single
            pack_b(B, tb, N, K, k0, kc, j0, nc, Bpack);
#pragma omp for schedule(static)
            for (size_t b = 0; b < nblk; b++) {
                size_t i0 = b * mcb;
                if (i0 >= M) continue;
                size_t mc = M - i0 < mcb ? M - i0 : mcb;
                pack_a(A, ta, M, K, i0, mc, k0, kc, alpha, Ap);
                macro_kernel(mc, nc, kc, Ap, Bpack, C + i0 * N + j0, N);
            }
        }
    }
}

int nb_cpu_gemm_threads(void)
{
    const char *env = getenv("NABLA_THREADS");
    long n = env && *env ? strtol(env, NULL, 10) : 0;
#ifdef _OPENMP
    if (n < 1) n = omp_get_max_threads();
#else
    n = 1;
#endif
    return n < 1 ? 1 : n > NB_CPU_MAX_THREADS ? NB_CPU_MAX_THREADS : (int)n;
}

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

void nb_cpu_gemm(float *Apack, float *Bpack, int threads, bool ta, bool tb, size_t M, size_t N,
                 size_t K, float alpha, const float *A, const float *B, float beta, float *C)
{
    /* β first, in one pass, so every block below only accumulates. */
    if (beta == 0.0f) {
        memset(C, 0, M * N * sizeof(float));
    } else if (beta != 1.0f) {
        for (size_t i = 0; i < M * N; i++) C[i] *= beta;
    }
    if (alpha == 0.0f) return;
    int nt = (double)M * (double)N * (double)K < PAR_MIN_FMAS ? 1 : threads;
    /* Row blocks of at most MC rows; on several threads, a multiple of the
     * thread count of them, of even height (a multiple of MR), so the
     * threads get equal shares. Row blocking does not touch the order in
     * which an output sums over K. */
    size_t nblk = (M + MC - 1) / MC, mcb = MC;
    if (nt > 1) {
        nblk = (size_t)nt * ((M + (size_t)nt * MC - 1) / ((size_t)nt * MC));
        mcb = ((M + nblk - 1) / nblk + MR - 1) / MR * MR;
#pragma omp parallel num_threads(nt)
        blocks(Apack + (size_t)thread_id() * nb_cpu_gemm_apack_floats, Bpack, ta, tb, M, N, K,
               alpha, A, B, C, nblk, mcb);
    } else { /* no team at all: waking one costs more than a small product */
        blocks(Apack, Bpack, ta, tb, M, N, K, alpha, A, B, C, nblk, mcb);
    }
}
