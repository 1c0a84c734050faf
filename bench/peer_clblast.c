/*
 * peer_clblast.c — CLBlast's CLBlastSgemm as a benchmark peer (see
 * peers.h). Compiled with NB_BENCH_HAVE_CLBLAST when bench/CMakeLists.txt
 * found CLBlast and an OpenCL library to link; otherwise the entries are
 * stubs that say "skipped: not installed".
 *
 * CLBlast works on cl_mem buffers of a context its caller owns, so this
 * file makes its own context and queue on the chosen device. nabla's
 * OpenCL backend, which opens the loader at run time, is not involved:
 * the two share only the driver.
 */
#include "peers.h"

#include <stdio.h>
#include <stdlib.h>

#ifdef NB_BENCH_HAVE_CLBLAST
#define CL_TARGET_OPENCL_VERSION 120
#include <clblast_c.h>

enum { MAX_PLATFORMS = 16, MAX_DEVICES = 64 };

struct peer_clblast {
    cl_context ctx;
    cl_command_queue queue;
};

struct peer_clbuf {
    cl_mem mem;
};

/* Device D of platform P, counted as nabla counts them (host/opencl/cl_device.c). */
static int find_device(int plat, int dev, cl_device_id *out, char *why, size_t why_n)
{
    cl_platform_id plats[MAX_PLATFORMS];
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(MAX_PLATFORMS, plats, &np);
    if (err != CL_SUCCESS || np == 0) {
        snprintf(why, why_n, "skipped: no OpenCL platform (clGetPlatformIDs %d)", (int)err);
        return -1;
    }
    if (plat < 0 || (cl_uint)plat >= np) {
        snprintf(why, why_n, "no OpenCL platform %d", plat);
        return -1;
    }
    cl_device_id ids[MAX_DEVICES];
    cl_uint nd = 0;
    err = clGetDeviceIDs(plats[plat], CL_DEVICE_TYPE_ALL, MAX_DEVICES, ids, &nd);
    if (err != CL_SUCCESS || dev < 0 || (cl_uint)dev >= nd) {
        snprintf(why, why_n, "no OpenCL device %d.%d", plat, dev);
        return -1;
    }
    *out = ids[dev];
    return 0;
}

int peer_clblast_devices(int *plat, int *dev, char (*names)[128], int cap, char *why,
                         size_t why_n)
{
    cl_platform_id plats[MAX_PLATFORMS];
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(MAX_PLATFORMS, plats, &np);
    if (err != CL_SUCCESS || np == 0) {
        snprintf(why, why_n, "skipped: no OpenCL platform (clGetPlatformIDs %d)", (int)err);
        return -1;
    }
    int n = 0;
    for (cl_uint p = 0; p < np && p < MAX_PLATFORMS; p++) {
        cl_device_id ids[MAX_DEVICES];
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES, ids, &nd) != CL_SUCCESS)
            continue;
        for (cl_uint d = 0; d < nd && d < MAX_DEVICES && n < cap; d++) {
            plat[n] = (int)p, dev[n] = (int)d;
            names[n][0] = '\0';
            clGetDeviceInfo(ids[d], CL_DEVICE_NAME, sizeof names[n], names[n], NULL);
            names[n][sizeof names[n] - 1] = '\0';
            n++;
        }
    }
    if (n == 0) snprintf(why, why_n, "skipped: no OpenCL device");
    return n;
}

int peer_clblast_open(int plat, int dev, peer_clblast **out, char *why, size_t why_n)
{
    cl_device_id id;
    cl_int err;
    *out = NULL;
    if (find_device(plat, dev, &id, why, why_n)) return -1;
    peer_clblast *pc = calloc(1, sizeof *pc);
    if (!pc) {
        snprintf(why, why_n, "out of memory");
        return -1;
    }
    pc->ctx = clCreateContext(NULL, 1, &id, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        snprintf(why, why_n, "clCreateContext: %d", (int)err);
        free(pc);
        return -1;
    }
    pc->queue = clCreateCommandQueue(pc->ctx, id, 0, &err);
    if (err != CL_SUCCESS) {
        snprintf(why, why_n, "clCreateCommandQueue: %d", (int)err);
        clReleaseContext(pc->ctx);
        free(pc);
        return -1;
    }
    *out = pc;
    return 0;
}

void peer_clblast_close(peer_clblast *pc)
{
    if (!pc) return;
    clFinish(pc->queue);
    clReleaseCommandQueue(pc->queue);
    clReleaseContext(pc->ctx);
    free(pc);
}

peer_clbuf *peer_clblast_buffer(peer_clblast *pc, size_t n, const float *host, char *why,
                                size_t why_n)
{
    cl_int err;
    peer_clbuf *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(why, why_n, "out of memory");
        return NULL;
    }
    b->mem = clCreateBuffer(pc->ctx, CL_MEM_READ_WRITE, (n ? n : 1) * sizeof(float), NULL, &err);
    if (err != CL_SUCCESS) {
        snprintf(why, why_n, "clCreateBuffer(%zu floats): %d", n, (int)err);
        free(b);
        return NULL;
    }
    if (host && peer_clblast_write(pc, b, host, n, why, why_n)) {
        peer_clblast_buffer_free(b);
        return NULL;
    }
    return b;
}

void peer_clblast_buffer_free(peer_clbuf *b)
{
    if (!b) return;
    clReleaseMemObject(b->mem);
    free(b);
}

int peer_clblast_read(peer_clblast *pc, peer_clbuf *b, float *host, size_t n, char *why,
                      size_t why_n)
{
    cl_int err = clEnqueueReadBuffer(pc->queue, b->mem, CL_TRUE, 0, n * sizeof(float), host, 0,
                                     NULL, NULL);
    if (err == CL_SUCCESS) return 0;
    snprintf(why, why_n, "clEnqueueReadBuffer: %d", (int)err);
    return -1;
}

int peer_clblast_write(peer_clblast *pc, peer_clbuf *b, const float *host, size_t n, char *why,
                       size_t why_n)
{
    cl_int err = clEnqueueWriteBuffer(pc->queue, b->mem, CL_TRUE, 0, n * sizeof(float), host, 0,
                                      NULL, NULL);
    if (err == CL_SUCCESS) return 0;
    snprintf(why, why_n, "clEnqueueWriteBuffer: %d", (int)err);
    return -1;
}

int peer_clblast_sgemm(peer_clblast *pc, bool ta, bool tb, size_t M, size_t N, size_t K,
                       float alpha, peer_clbuf *A, peer_clbuf *B, float beta, peer_clbuf *C,
                       char *why, size_t why_n)
{
    /* Row-major with contiguous rows, as in peer_openblas.c. No event is
     * asked for: the caller times whole sequences with clFinish, since
     * CLBlast may run helper kernels (padding, transposes) besides the
     * GEMM and one event would cover only the last of them. */
    CLBlastStatusCode st = CLBlastSgemm(
        CLBlastLayoutRowMajor, ta ? CLBlastTransposeYes : CLBlastTransposeNo,
        tb ? CLBlastTransposeYes : CLBlastTransposeNo, M, N, K, alpha, A->mem, 0, ta ? M : K,
        B->mem, 0, tb ? K : N, beta, C->mem, 0, N, &pc->queue, NULL);
    if (st == CLBlastSuccess) return 0;
    snprintf(why, why_n, "CLBlastSgemm(%s%s, %zu, %zu, %zu): status %d", ta ? "t" : "n",
             tb ? "t" : "n", M, N, K, (int)st);
    return -1;
}

int peer_clblast_finish(peer_clblast *pc, char *why, size_t why_n)
{
    cl_int err = clFinish(pc->queue);
    if (err == CL_SUCCESS) return 0;
    snprintf(why, why_n, "clFinish: %d", (int)err);
    return -1;
}

#else /* no CLBlast in this build */

static int none(char *why, size_t why_n)
{
    if (why && why_n) snprintf(why, why_n, "skipped: not installed (CLBlast)");
    return -1;
}

int peer_clblast_devices(int *plat, int *dev, char (*names)[128], int cap, char *why,
                         size_t why_n)
{
    (void)plat, (void)dev, (void)names, (void)cap;
    return none(why, why_n);
}
int peer_clblast_open(int plat, int dev, peer_clblast **out, char *why, size_t why_n)
{
    (void)plat, (void)dev;
    *out = NULL;
    return none(why, why_n);
}
void peer_clblast_close(peer_clblast *pc) { (void)pc; }
peer_clbuf *peer_clblast_buffer(peer_clblast *pc, size_t n, const float *host, char *why,
                                size_t why_n)
{
    (void)pc, (void)n, (void)host;
    none(why, why_n);
    return NULL;
}
void peer_clblast_buffer_free(peer_clbuf *b) { (void)b; }
int peer_clblast_read(peer_clblast *pc, peer_clbuf *b, float *host, size_t n, char *why,
                      size_t why_n)
{
    (void)pc, (void)b, (void)host, (void)n;
    return none(why, why_n);
}
int peer_clblast_write(peer_clblast *pc, peer_clbuf *b, const float *host, size_t n, char *why,
                       size_t why_n)
{
    (void)pc, (void)b, (void)host, (void)n;
    return none(why, why_n);
}
int peer_clblast_sgemm(peer_clblast *pc, bool ta, bool tb, size_t M, size_t N, size_t K,
                       float alpha, peer_clbuf *A, peer_clbuf *B, float beta, peer_clbuf *C,
                       char *why, size_t why_n)
{
    (void)pc, (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)B,
        (void)beta, (void)C;
    return none(why, why_n);
}
int peer_clblast_finish(peer_clblast *pc, char *why, size_t why_n)
{
    (void)pc;
    return none(why, why_n);
}

#endif
