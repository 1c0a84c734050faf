/*
 * gemm_avx2.c — the GEMM kernels for AVX2 with FMA: 8-float vectors, a
 * 6 × 16 register tile (12 accumulators). Compiled with -mavx2 -mfma; the
 * driver calls them only on a CPU that has both.
 */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__AVX2__) && defined(__FMA__)
#define NB_VL 8
#define NB_MR 6
#define NB_NV 2
#define NB_ISA nb_gemm_isa_avx2
#define NB_ISA_NAME "avx2"
#define NB_USABLE() (__builtin_cpu_init(), __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
#include "cpu/gemm_kernel.h"
#else
#include "cpu/gemm_isa.h"
static int never(void) { return 0; }
const nb_gemm_isa nb_gemm_isa_avx2 = {.name = "avx2", .usable = never};
#endif
