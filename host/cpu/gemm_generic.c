/*
 * gemm_generic.c — the GEMM kernels for any CPU: 4-float vectors (one SSE
 * or NEON register, or what the compiler makes of them elsewhere), a 4 × 8
 * register tile. The fallback when no better variant runs, and the one
 * NABLA_CPU_ISA=generic forces.
 */
#if defined(__GNUC__)
/* The 8-float vectors of the transposes pass between inlined helpers only;
 * GCC's note that their ABI would differ with AVX does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
#define NB_VL 4
#define NB_MR 4
#define NB_NV 2
#define NB_ISA nb_gemm_isa_generic
#define NB_ISA_NAME "generic"
#define NB_USABLE() 1
#include "cpu/gemm_kernel.h"
