/*
 * cpu_backend.c — the pure-C backend: every op of the training step on
 * the host, in float, on a pool of worker threads.
 *
 * Buffers are plain aligned host arrays. The GEMM is cpu_gemm.c (kernels
 * per instruction set, in gemm_kernel.h), the element-wise ops and sums
 * cpu_ops.c; both use the vector code of the variant the CPU runs and
 * split large work over the pool, with results that do not depend on the
 * thread count. This file holds the buffers, the ops table and creation.
 */
#include "cpu/cpu_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

typedef nb_cpu_ctx cpu_ctx;

#define F(v) ((float *)(v).buf->handle + (v).off)
#define I(v) ((int32_t *)(v).buf->handle + (v).off)

static void *alloc_aligned(size_t bytes)
{
    /* 64-byte alignment: a cache line, and one AVX-512 vector. */
    size_t rounded = (bytes + 63) / 64 * 64;
    return aligned_alloc(64, rounded ? rounded : 64);
}

static void cpu_destroy(void *vctx)
{
    cpu_ctx *c = vctx;
    if (!c) return;
    nb_cpu_gemm_free(c->gemm);
    nb_pool_free(c->pool);
    free(c);
}

static nb_status cpu_buf_alloc(void *ctx, nb_buf *b)
{
    (void)ctx;
    b->handle = alloc_aligned(b->n * 4);
    if (!b->handle) return NB_NOMEM("cpu buf_alloc", b->n * 4);
    return NB_OK;
}

/* Every op has finished when it returns: the memory is the buffer. */
static void *cpu_buf_host(void *ctx, nb_buf *b)
{
    (void)ctx;
    return b->handle;
}

static void cpu_buf_free(void *ctx, nb_buf *b)
{
    (void)ctx;
    if (!b->borrowed) free(b->handle);
    b->handle = NULL;
}

static nb_status cpu_buf_borrow(void *ctx, nb_buf *b, const void *host)
{
    (void)ctx;
    b->handle = (void *)host; /* ops only read a borrowed buffer */
    return NB_OK;
}

static nb_status cpu_buf_write(void *ctx, nb_buf *dst, size_t off, const void *src, size_t n)
{
    (void)ctx;
    memcpy((char *)dst->handle + off * 4, src, n * 4);
    return NB_OK;
}

static nb_status cpu_buf_read(void *ctx, const nb_buf *src, size_t off, void *dst, size_t n)
{
    (void)ctx;
    memcpy(dst, (const char *)src->handle + off * 4, n * 4);
    return NB_OK;
}

static nb_status cpu_copy(void *ctx, size_t n, nb_view src, nb_view dst)
{
    (void)ctx;
    memmove(F(dst), F(src), n * sizeof(float));
    return NB_OK;
}

static nb_status cpu_fill(void *ctx, size_t n, float value, nb_view x)
{
    (void)ctx;
    float *p = F(x);
    for (size_t i = 0; i < n; i++) p[i] = value;
    return NB_OK;
}

static nb_status cpu_gemm(void *vctx, bool ta, bool tb, size_t M, size_t N, size_t K, float alpha,
                          nb_view A, nb_view B, float beta, nb_view C)
{
    cpu_ctx *c = vctx;
    return nb_cpu_gemm_run(c->gemm, ta, tb, M, N, K, alpha, F(A), F(B), beta, F(C), NULL);
}

static nb_status cpu_gemm_epi(void *vctx, bool ta, bool tb, size_t M, size_t N, size_t K,
                              float alpha, nb_view A, nb_view B, float beta, nb_view C,
                              const nb_be_epi *e)
{
    cpu_ctx *c = vctx;
    nb_gemm_epi ge = {.kind = e->kind, .act = e->act,
                      .bias = e->kind == NB_EPI_BIAS_ACT ? F(e->bias) : NULL,
                      .Y = e->kind == NB_EPI_DACT ? F(e->Y) : NULL,
                      .colsum = e->colsum.buf ? F(e->colsum) : NULL, .colsum_beta = e->colsum_beta};
    return nb_cpu_gemm_run(c->gemm, ta, tb, M, N, K, alpha, F(A), F(B), beta, F(C), &ge);
}

static const nb_backend_ops cpu_ops = {
    .name = "cpu",
    .destroy = cpu_destroy,
    .buf_alloc = cpu_buf_alloc,
    .buf_free = cpu_buf_free,
    .buf_borrow = cpu_buf_borrow,
    .buf_write = cpu_buf_write,
    .buf_read = cpu_buf_read,
    .buf_host = cpu_buf_host,
    .copy = cpu_copy,
    .fill = cpu_fill,
    .sync = NULL,
    .gemm = cpu_gemm,
    .gemm_epi = cpu_gemm_epi,
    .gather_rows = nb_cpu_gather_rows,
    .bias_act = nb_cpu_bias_act,
    .act_backward = nb_cpu_act_backward,
    .loss = nb_cpu_loss,
    .col_sum = nb_cpu_col_sum,
    .sum_sq = nb_cpu_sum_sq,
    .update = nb_cpu_update,
};

nb_status nb_cpu_backend_create(const char *spec, const nb_be_config *cfg, nb_be_profile *prof,
                                nb_backend_facts *facts, const nb_backend_ops **ops, void **ctx)
{
    (void)spec; /* there is one cpu */
    (void)prof; /* the dispatch layer times every op */
    cpu_ctx *c = calloc(1, sizeof *c);
    if (!c) return NB_NOMEM("nb_cpu_backend_create", sizeof *c);
    int threads = cfg->threads > 0 ? cfg->threads : nb_cpu_default_threads();
    nb_status st = nb_pool_create(threads, &c->pool);
    if (st == NB_OK) st = nb_cpu_gemm_create(c->pool, cfg->cpu_isa, &c->gemm);
    if (st == NB_OK) c->isa = nb_cpu_gemm_isa(c->gemm);
    if (st != NB_OK) {
        cpu_destroy(c);
        return st;
    }
    *ops = &cpu_ops;
    *ctx = c;
    snprintf(facts->name, sizeof facts->name, "cpu");
    facts->build_cached = -1; /* no device program */
    facts->data_budget = UINT64_MAX; /* host memory: data is always "resident" */
    facts->max_alloc = UINT64_MAX;
    facts->threads = threads;
    return NB_OK;
}
