/*
 * gemm_wide.c — the AVX-512 variant's shapes (16-float vectors, a 14 × 32
 * tile) compiled for whatever this machine is, so the template's code for
 * those shapes runs in the tests even where AVX-512 does not: only the
 * instructions the compiler picks differ from the real variant.
 */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wpsabi" /* GCC's twin is a CMake option: its note is not silenced by a pragma */
#endif
#define NB_VL 16
#define NB_MR 14
#define NB_NV 2
#define NB_ISA nb_gemm_isa_wide_test
#define NB_ISA_NAME "avx512-shapes"
#define NB_USABLE() 1
#include "cpu/gemm_kernel.h"
