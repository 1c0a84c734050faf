/*
 * cpu_backend.h — internals of the pure-C backend shared by its files.
 */
#ifndef NB_CPU_BACKEND_H
#define NB_CPU_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "backend.h"
#include "cpu/cpu_pool.h"
#include "cpu/gemm_isa.h"


/* The GEMM of one backend: its kernels, block sizes and each worker's
 * packing buffers, all chosen and allocated once. */
typedef struct nb_cpu_gemm nb_cpu_gemm;

/* The backend's context, as every op receives it. */
typedef struct nb_cpu_ctx {
    nb_pool *pool;           /* the worker threads                        */
    nb_cpu_gemm *gemm;       /* GEMM kernels and buffers                   */
    const nb_gemm_isa *isa;  /* the variant's vector code, for every op    */
} nb_cpu_ctx;

/* The element-wise and reduction ops (cpu_ops.c), as backend.h specifies
 * them; ctx is an nb_cpu_ctx. */
nb_status nb_cpu_gather_rows(void *ctx, size_t rows, size_t cols, nb_view src, nb_view idx,
                             nb_view dst);
nb_status nb_cpu_bias_act(void *ctx, nb_act act, size_t rows, size_t cols, nb_view bias,
                          nb_view Y);
nb_status nb_cpu_act_backward(void *ctx, nb_act act, size_t n, nb_view Y, nb_view dY);
nb_status nb_cpu_loss(void *ctx, nb_loss loss, size_t rows, size_t cols, float scale,
                      nb_view out, nb_view target, nb_view dOut, nb_view acc);
nb_status nb_cpu_col_sum(void *ctx, size_t rows, size_t cols, float beta, nb_view dY, nb_view db);
nb_status nb_cpu_sum_sq(void *ctx, size_t n, nb_view x, nb_view out);
nb_status nb_cpu_update(void *ctx, const nb_optim_step *step, size_t n, nb_view theta,
                        nb_view grad, nb_view state, nb_view gnorm2, nb_view bad);

/*
 * Pick the kernels (isa_name "avx512", "avx2" or "generic" forces a
 * variant: NB_ERR_UNSUPPORTED when this CPU or build cannot run it; NULL
 * or "": the best one that runs) and the block sizes from the CPU's L1 and
 * L2 sizes, and allocate a packing buffer per worker of pool (borrowed).
 */
nb_status nb_cpu_gemm_create(nb_pool *pool, const char *isa_name, nb_cpu_gemm **out);
/* The same with the given variant (tests run variants the driver would not pick). */
nb_status nb_cpu_gemm_create_for(nb_pool *pool, const nb_gemm_isa *isa, nb_cpu_gemm **out);
void nb_cpu_gemm_free(nb_cpu_gemm *g);
const nb_gemm_isa *nb_cpu_gemm_isa(const nb_cpu_gemm *g);

/*
 * C (M, N) = α · op(A) · op(B) + β · C, row-major (β = 0 writes C without
 * reading it), then epi (NULL: none) on C's final values, with the column
 * sums of the final C into epi->colsum if set. Large products are split
 * into tasks over the pool; each output is still summed by one task in an
 * order fixed by the shape, so the result is the same to the bit for any
 * thread count. Float accumulation. Allocates only to grow the buffer of
 * partial column sums, when a product needs more than any before.
 */
nb_status nb_cpu_gemm_run(nb_cpu_gemm *g, bool ta, bool tb, size_t M, size_t N, size_t K, float alpha,
                      const float *A, const float *B, float beta, float *C, const nb_gemm_epi *epi);

#endif
