/*
 * gemm_avx512.c — the GEMM kernels for AVX-512F: 16-float vectors, a
 * 14 × 32 register tile (28 accumulators of the 32 registers). Compiled
 * with -mavx512f; the driver calls them only on a CPU that has it.
 */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__AVX512F__)
#define NB_VL 16
#define NB_MR 14
#define NB_NV 2
#define NB_ISA nb_gemm_isa_avx512
#define NB_ISA_NAME "avx512"
#define NB_USABLE() (__builtin_cpu_init(), __builtin_cpu_supports("avx512f"))
#include "cpu/gemm_kernel.h"
#else
#include "cpu/gemm_isa.h"
static int never(void) { return 0; }
const nb_gemm_isa nb_gemm_isa_avx512 = {.name = "avx512", .usable = never};
#endif
