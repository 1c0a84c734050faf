/*
 * cpu_backend.h — internals of the pure-C backend shared by its files.
 */
#ifndef NB_CPU_BACKEND_H
#define NB_CPU_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "backend.h"

/* Floats each packing buffer of nb_cpu_gemm needs (allocated once). */
extern const size_t nb_cpu_gemm_apack_floats;
extern const size_t nb_cpu_gemm_bpack_floats;

/* C (M, N) = alpha · op(A) · op(B) + beta · C, using the two packing
 * buffers. Deterministic; float accumulation. */
void nb_cpu_gemm(float *Apack, float *Bpack, bool ta, bool tb, size_t M, size_t N, size_t K,
                 float alpha, const float *A, const float *B, float beta, float *C);

#endif
