/*
 * peers.h — the GEMM libraries nabla is measured against, behind one small
 * interface so the benchmarks build whether or not they are installed:
 *
 *   OpenBLAS  cblas_sgemm on host arrays (peer_openblas.c; needs
 *             NB_BENCH_HAVE_OPENBLAS, set by bench/CMakeLists.txt);
 *   CLBlast   CLBlastSgemm on an OpenCL device, in a context and queue of
 *             its own, apart from nabla's (peer_clblast.c; needs
 *             NB_BENCH_HAVE_CLBLAST).
 *
 * Without a peer every call reports "skipped: not installed". Both use the
 * row-major convention of nb_be_gemm (see bench_util.h, bench_shape).
 */
#ifndef NB_BENCH_PEERS_H
#define NB_BENCH_PEERS_H

#include <stdbool.h>
#include <stddef.h>

/* ---- OpenBLAS ---- */

/* 1 when this build has OpenBLAS. Otherwise 0 and why says so. */
int peer_openblas_available(char *why, size_t why_n);
/* "OpenBLAS 0.3.21 … core Prescott", or "" without OpenBLAS. */
const char *peer_openblas_info(void);
/* The kernel family OpenBLAS picked for this CPU ("SkylakeX", …), or "". */
const char *peer_openblas_core(void);
/* Set the number of threads for later calls (openblas_set_num_threads). */
void peer_openblas_threads(int n);
/* C (M, N) = alpha · op(A) · op(B) + beta · C. */
void peer_openblas_sgemm(bool ta, bool tb, size_t M, size_t N, size_t K, float alpha,
                         const float *A, const float *B, float beta, float *C);

/* ---- CLBlast ---- */

typedef struct peer_clblast peer_clblast;
typedef struct peer_clbuf peer_clbuf;

/* OpenCL devices in the order nabla numbers them ("opencl:P.D"): platform
 * by platform, every device type. Fills at most cap (P, D) pairs and
 * names; returns the count, or -1 with why (no CLBlast, no platform). */
int peer_clblast_devices(int *plat, int *dev, char (*names)[128], int cap, char *why,
                         size_t why_n);
/* Open device P.D with a context and an in-order queue of its own.
 * Returns 0, or -1 with why. */
int peer_clblast_open(int plat, int dev, peer_clblast **out, char *why, size_t why_n);
void peer_clblast_close(peer_clblast *pc);
/* A device buffer of n floats, written from host (n floats) when not NULL.
 * NULL with why on failure. */
peer_clbuf *peer_clblast_buffer(peer_clblast *pc, size_t n, const float *host, char *why,
                                size_t why_n);
void peer_clblast_buffer_free(peer_clbuf *b);
/* Blocking copies between a buffer and n host floats. 0 or -1 with why. */
int peer_clblast_read(peer_clblast *pc, peer_clbuf *b, float *host, size_t n, char *why,
                      size_t why_n);
int peer_clblast_write(peer_clblast *pc, peer_clbuf *b, const float *host, size_t n, char *why,
                       size_t why_n);
/* Enqueue C = alpha · op(A) · op(B) + beta · C (does not wait).
 * 0 or -1 with why (CLBlast's status code). */
int peer_clblast_sgemm(peer_clblast *pc, bool ta, bool tb, size_t M, size_t N, size_t K,
                       float alpha, peer_clbuf *A, peer_clbuf *B, float beta, peer_clbuf *C,
                       char *why, size_t why_n);
/* Wait for everything enqueued (clFinish). 0 or -1 with why. */
int peer_clblast_finish(peer_clblast *pc, char *why, size_t why_n);

#endif
