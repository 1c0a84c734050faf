/*
 * peer_openblas.c — OpenBLAS's cblas_sgemm as a benchmark peer (see
 * peers.h). Compiled with NB_BENCH_HAVE_OPENBLAS when bench/CMakeLists.txt
 * found OpenBLAS's cblas.h and library; otherwise every entry is a stub
 * that says "skipped: not installed".
 *
 * OpenBLAS reads OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE when the library
 * is loaded, before main: they can only be unset by whoever starts this
 * process (bench/README.md), never from here.
 */
#include "peers.h"

#include <stdio.h>

#ifdef NB_BENCH_HAVE_OPENBLAS
#include <cblas.h>

int peer_openblas_available(char *why, size_t why_n)
{
    if (why && why_n) why[0] = '\0';
    return 1;
}

const char *peer_openblas_info(void)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s; core %s", openblas_get_config(), openblas_get_corename());
    return buf;
}

const char *peer_openblas_core(void) { return openblas_get_corename(); }

void peer_openblas_threads(int n) { openblas_set_num_threads(n); }

void peer_openblas_sgemm(bool ta, bool tb, size_t M, size_t N, size_t K, float alpha,
                         const float *A, const float *B, float beta, float *C)
{
    /* Row-major with contiguous rows: the leading dimension is the stored
     * row length, K or M for A and N or K for B. */
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (blasint)M, (blasint)N, (blasint)K, alpha, A, (blasint)(ta ? M : K), B,
                (blasint)(tb ? K : N), beta, C, (blasint)N);
}

#else /* no OpenBLAS in this build */

int peer_openblas_available(char *why, size_t why_n)
{
    if (why && why_n) snprintf(why, why_n, "skipped: not installed (OpenBLAS)");
    return 0;
}
const char *peer_openblas_info(void) { return ""; }
const char *peer_openblas_core(void) { return ""; }
void peer_openblas_threads(int n) { (void)n; }
void peer_openblas_sgemm(bool ta, bool tb, size_t M, size_t N, size_t K, float alpha,
                         const float *A, const float *B, float beta, float *C)
{
    (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)B, (void)beta,
        (void)C;
}

#endif
