/*
 * gemm_isa.h — what each instruction-set variant of the cpu GEMM provides
 * to the driver in cpu_gemm.c (private to host/cpu/).
 *
 * One template (gemm_kernel.h) is compiled once per instruction set
 * (gemm_avx512.c, gemm_avx2.c, gemm_generic.c), each with the compiler
 * flags of its set; the driver picks the best one the CPU runs at backend
 * creation. A variant is a table of kernels plus its register tile.
 */
#ifndef NB_CPU_GEMM_ISA_H
#define NB_CPU_GEMM_ISA_H

#include <stdbool.h>
#include <stddef.h>

#include "backend.h"

typedef struct nb_gemm_epi {
    nb_epi_kind kind;
    nb_act act;         /* not softmax (row-wise: the caller does it apart)   */
    const float *bias;  /* BIAS_ACT: (N), or NULL for no bias                 */
    const float *Y;     /* DACT: (M, N) row-major, the same layout as C       */
    float *colsum;      /* (N) or NULL: Σ_i of the final C + colsum_beta · colsum */
    float colsum_beta;  /* 0 or 1                                              */
} nb_gemm_epi;

/* One micro-tile's part of a GEMM's epilogue, as the kernels see it:
 * pointers already at the tile (row i0, column j0). */
typedef struct nb_tile_epi {
    int first;          /* the first K slice: C = beta·C + acc (beta 0: C unread) */
    int last;           /* the last K slice: then apply kind                       */
    float beta;
    nb_epi_kind kind;
    nb_act act;
    const float *bias;  /* at column j0, or NULL                                   */
    const float *Y;     /* at (i0, j0), leading dimension ldc                      */
    float *colsum;      /* at column j0: the tile's column sums are added, or NULL */
} nb_tile_epi;

typedef struct nb_gemm_isa {
    const char *name;  /* "avx512", "avx2", "generic"                        */
    int mr, nr;        /* the register tile: MR rows × NR columns            */
    int vl;            /* floats per vector                                  */
    int (*usable)(void); /* this CPU (and its OS) runs the variant          */
    /* Pack op(A)[i0 .. i0+mc, k0 .. k0+kc] × alpha into MR-row panels, for
     * each k MR consecutive values, zero past the edge: ceil(mc/MR)·MR·kc
     * floats of Ap. */
    void (*pack_a)(const float *A, bool ta, size_t M, size_t K, size_t i0, size_t mc, size_t k0,
                   size_t kc, float alpha, float *Ap);
    /* Pack op(B)[k0 .. k0+kc, j0 .. j0+nc] into NR-column panels, for each k
     * NR consecutive values, zero past the edge: ceil(nc/NR)·NR·kc floats. */
    void (*pack_b)(const float *B, bool tb, size_t N, size_t K, size_t k0, size_t kc, size_t j0,
                   size_t nc, float *Bp);
    /* C tile (rows ≤ MR, cols ≤ NR, leading dimension ldc) from one packed
     * A panel and one packed B panel of depth kc, with the tile's epilogue. */
    void (*kernel)(size_t kc, const float *Ap, const float *Bp, float *C, size_t ldc, size_t rows,
                   size_t cols, const nb_tile_epi *e);
    /* Rows [i0, i1) of C (M, N) = alpha · A · Bᵀ + beta · C for A (M, K) and
     * B (N, K) stored untransposed, with no packing: dot products along K,
     * for the products whose N is too small to pay for packing (a net's
     * output layer). The epilogue of e is applied (e->colsum, if any, gets
     * these rows' column sums added). */
    void (*dot_nt)(size_t i0, size_t i1, size_t N, size_t K, float alpha, const float *A,
                   const float *B, float beta, float *C, const nb_gemm_epi *e, float *colsum);
    /* y[0..n) = act(x[0..n) + bias), bias (n) or NULL; in place allowed. */
    void (*act_row)(nb_act act, size_t n, const float *x, const float *bias, float *y);
    /* d[0..n) *= act'(z), written through the outputs y = act(z); relu as
     * a select (a NaN in d where y ≤ 0 becomes 0, as the reference does). */
    void (*dact_row)(nb_act act, size_t n, const float *y, float *d);
    /* out[c] += Σ_r src[r·ld + c] for c < cols, rows in order. */
    void (*col_sums)(size_t rows, size_t cols, size_t ld, const float *src, float *out);
    /* y[0..n) −= a · x[0..n) (plain gradient descent), and whether any new
     * y is NaN or Inf. */
    int (*axpy_check)(size_t n, float a, const float *x, float *y);
    /* The epilogue of e on rows [i0, i1) of C (M, N): C's final values. */
    void (*epi_rows)(size_t i0, size_t i1, size_t N, float *C, const nb_gemm_epi *e,
                     float *colsum);
} nb_gemm_isa;

extern const nb_gemm_isa nb_gemm_isa_avx512, nb_gemm_isa_avx2, nb_gemm_isa_generic;

#endif
