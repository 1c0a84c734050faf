/*
 * cpu_backend.h — internals of the pure-C backend shared by its files.
 */
#ifndef NB_CPU_BACKEND_H
#define NB_CPU_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "backend.h"
#include "cpu/cpu_pool.h"

/* Floats each packing buffer of nb_cpu_gemm needs (allocated once): the
 * A buffer per pool worker, the B buffer once. */
extern const size_t nb_cpu_gemm_apack_floats;
extern const size_t nb_cpu_gemm_bpack_floats;

/* C (M, N) = alpha · op(A) · op(B) + beta · C, using the packing buffers
 * (Apack: nb_pool_threads(pool) × nb_cpu_gemm_apack_floats). Large products
 * split their rows over the pool's workers (pool NULL: the caller alone);
 * each output is still summed by one thread in the same order, so the
 * result is the same to the bit for any thread count. Float accumulation. */
void nb_cpu_gemm(float *Apack, float *Bpack, nb_pool *pool, bool ta, bool tb, size_t M, size_t N,
                 size_t K, float alpha, const float *A, const float *B, float beta, float *C);

#endif
