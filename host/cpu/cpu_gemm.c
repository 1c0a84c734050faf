/*
 * cpu_gemm.c — the cpu backend's matrix multiply,
 *   C (M, N) = epilogue(α · op(A) · op(B) + β · C),
 * the driver around the kernels of gemm_kernel.h.
 *
 * Three paths, by shape:
 *   - tiny products (M·N·K ≤ 4096, e.g. a 2-8-1 net) are plain loops:
 *     packing and threads would cost more than they save;
 *   - A·Bᵀ with N ≤ 16 (a net's output layer) is dot products along K
 *     straight from A and B, since packing B's few rows and A's many would
 *     cost as much as the product itself;
 *   - everything else is packed and blocked: C is cut into tiles of at
 *     most mc × nc, one task each. A task walks K in slices of kc: packs
 *     its A block (mc × kc, into L2) and B block (kc × nc), then runs the
 *     micro-kernel over every MR × NR tile, the B panel (kc × NR, in L1)
 *     outer so it is reused down the whole A block. kc, mc come from the
 *     cache sizes the CPU reports.
 * A task packs the blocks it needs itself: blocks that two tasks share are
 * packed twice, which costs a few per cent but needs no barrier, so the
 * tasks can go to whichever thread is free (nb_pool_for) and a thread that
 * the OS preempts delays one task, not every thread.
 *
 * Determinism: the tiles, the K slices and the order of summation depend
 * on the shape (and the variant) only; each output is computed by one task
 * in that order, and column sums are added per row block in block order.
 * So every thread count gives the same bits. Accumulation is in float
 * (with FMA); the reference accumulates in double and the tests state the
 * tolerance between the two.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu/cpu_backend.h"
#include "status.h"

/* Products below this many multiply-adds stay on the calling thread:
 * handing tasks to other threads costs a few microseconds. */
#define PAR_MIN_FMAS (1 << 19)
/* Products at or below this many multiply-adds are plain loops. */
#define TINY_FMAS 4096
/* A·Bᵀ at or below this N takes the dot-product path. */
#define DOT_MAX_N 16

struct nb_cpu_gemm {
    const nb_gemm_isa *isa;
    nb_pool *pool;
    int workers;
    size_t kc, mc, nc; /* the largest K slice, A block rows, tile columns */
    size_t group;      /* rows per column-sum group: 8·MR, divides mc     */
    /* Grown to the largest product so far, then reused: op(A) and op(B)
     * packed whole, and the partial column sums. */
    float *apack, *bpack, *partial;
    size_t apack_cap, bpack_cap, partial_cap;
};

static const nb_gemm_isa *const variants[] = {&nb_gemm_isa_avx512, &nb_gemm_isa_avx2,
                                              &nb_gemm_isa_generic};

static size_t cache_bytes(int which, size_t fallback)
{
    long v = -1;
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE)
    v = sysconf(which == 1 ? _SC_LEVEL1_DCACHE_SIZE : _SC_LEVEL2_CACHE_SIZE);
#else
    (void)which;
#endif
    /* Trust only plausible answers: some systems report 0 or -1. */
    return v >= 4096 && v <= (1L << 26) ? (size_t)v : fallback;
}

static size_t clamp_down(size_t v, size_t lo, size_t hi, size_t multiple)
{
    v = v < lo ? lo : v > hi ? hi : v;
    return v / multiple * multiple;
}

static nb_status pick_variant(const char *want, const nb_gemm_isa **out)
{
    if (want && *want) {
        for (size_t i = 0; i < sizeof variants / sizeof *variants; i++) {
            if (strcmp(want, variants[i]->name) != 0) continue;
            if (!variants[i]->usable())
                return NB_FAIL(NB_ERR_UNSUPPORTED, "nb_backend_create: cpu_isa = '%s': this "
                               "CPU or build cannot run it", want);
            return *out = variants[i], NB_OK;
        }
        return NB_FAIL(NB_ERR_ARG, "nb_backend_create: cpu_isa = '%s': not avx512, avx2 "
                       "or generic", want);
    }
    for (size_t i = 0; i < sizeof variants / sizeof *variants; i++)
        if (variants[i]->usable()) return *out = variants[i], NB_OK;
    return NB_FAIL(NB_ERR_INTERNAL, "nb_backend_create: no GEMM variant runs here");
}

void nb_cpu_gemm_free(nb_cpu_gemm *g)
{
    if (!g) return;
    free(g->apack);
    free(g->bpack);
    free(g->partial);
    free(g);
}

static void *alloc64(size_t floats)
{
    size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
    return aligned_alloc(64, bytes ? bytes : 64);
}

nb_status nb_cpu_gemm_create(nb_pool *pool, const char *isa_name, nb_cpu_gemm **out)
{
    const nb_gemm_isa *isa = NULL;
    *out = NULL;
    NB_TRY(pick_variant(isa_name, &isa));
    return nb_cpu_gemm_create_for(pool, isa, out);
}

nb_status nb_cpu_gemm_create_for(nb_pool *pool, const nb_gemm_isa *isa, nb_cpu_gemm **out)
{
    *out = NULL;
    nb_cpu_gemm *g = calloc(1, sizeof *g);
    if (!g) return NB_NOMEM("nb_cpu_gemm_create", sizeof *g);
    g->isa = isa;
    const size_t mr = (size_t)g->isa->mr, nr = (size_t)g->isa->nr;
    /* kc: an A panel and a B panel of depth kc fill about 70% of L1 (the
     * B panel stays there while the A panels stream past it). mc: an A
     * block of mc × kc fills half of L2. nc: 16 B panels a task, so a
     * layer of 512 columns makes several tasks. */
    size_t l1 = cache_bytes(1, 32768), l2 = cache_bytes(2, 262144);
    g->kc = clamp_down(l1 * 7 / 10 / ((mr + nr) * sizeof(float)), 64, 512, 8);
    g->group = 8 * mr;
    g->mc = clamp_down(l2 / 2 / (g->kc * sizeof(float)), g->group, 4096, g->group);
    g->nc = 64 * nr;
    g->pool = pool;
    g->workers = nb_pool_threads(pool);
    *out = g;
    return NB_OK;
}

const nb_gemm_isa *nb_cpu_gemm_isa(const nb_cpu_gemm *g) { return g->isa; }

/* ------------------------------------------------------------- the job */

/* Panels a packing task packs. */
enum { PACK_CHUNK = 8 };

typedef struct job {
    const nb_cpu_gemm *g;
    bool ta, tb;
    size_t M, N, K;
    float alpha, beta;
    const float *A, *B;
    float *C;
    const nb_gemm_epi *e;
    /* packed path */
    size_t kc, n_k;         /* K slices: all kc deep but maybe the last     */
    size_t mp, np;          /* M and N rounded up to whole panels            */
    size_t a_chunks, b_chunks; /* packing tasks per slice                   */
    size_t mc, nc, n_ct;    /* tiles of C                                    */
    float *apack, *bpack;   /* slice s of op(A) at s·mp·kc, of op(B) at s·np·kc */
    /* dot path */
    size_t rows_per_task;
    float *partial;         /* (groups, N) column sums, or NULL              */
} job;

static size_t slice_depth(const job *j, size_t s)
{
    size_t k0 = s * j->kc;
    return j->K - k0 < j->kc ? j->K - k0 : j->kc;
}

/* Phase 1: op(A) and op(B) packed whole, a chunk of panels a task. */
static void pack_task(void *arg, size_t t, int worker)
{
    const job *j = arg;
    const nb_gemm_isa *isa = j->g->isa;
    (void)worker;
    size_t per = j->a_chunks + j->b_chunks, s = t / per, c = t % per;
    size_t k0 = s * j->kc, kc = slice_depth(j, s);
    if (c < j->a_chunks) {
        size_t rows = PACK_CHUNK * (size_t)isa->mr, i0 = c * rows;
        size_t mc = j->M - i0 < rows ? j->M - i0 : rows;
        isa->pack_a(j->A, j->ta, j->M, j->K, i0, mc, k0, kc, j->alpha,
                    j->apack + s * j->mp * j->kc + i0 * kc);
    } else {
        size_t cols = PACK_CHUNK * (size_t)isa->nr, j0 = (c - j->a_chunks) * cols;
        size_t nc = j->N - j0 < cols ? j->N - j0 : cols;
        isa->pack_b(j->B, j->tb, j->N, j->K, k0, kc, j0, nc, j->bpack + s * j->np * j->kc + j0 * kc);
    }
}

/* Phase 2: one mc × nc tile of C, every K slice, MR × NR at a time; the B
 * panel outer, so it stays in L1 while the A block streams from L2. */
static void tile_task(void *arg, size_t t, int worker)
{
    const job *j = arg;
    const nb_gemm_isa *isa = j->g->isa;
    (void)worker;
    const size_t mr = (size_t)isa->mr, nr = (size_t)isa->nr, N = j->N, group = j->g->group;
    size_t i0 = (t / j->n_ct) * j->mc, j0 = (t % j->n_ct) * j->nc;
    size_t mc = j->M - i0 < j->mc ? j->M - i0 : j->mc;
    size_t nc = N - j0 < j->nc ? N - j0 : j->nc;
    const nb_gemm_epi *e = j->e;
    nb_tile_epi te = {.beta = j->beta, .kind = e->kind, .act = e->act};
    for (size_t s = 0; s < j->n_k; s++) {
        size_t kc = slice_depth(j, s);
        const float *Ab = j->apack + s * j->mp * j->kc, *Bb = j->bpack + s * j->np * j->kc;
        te.first = s == 0;
        te.last = s + 1 == j->n_k;
        for (size_t jr = 0; jr < nc; jr += nr) {
            size_t cols = nc - jr < nr ? nc - jr : nr, jc = j0 + jr;
            te.bias = e->bias ? e->bias + jc : NULL;
            for (size_t ir = 0; ir < mc; ir += mr) {
                size_t rows = mc - ir < mr ? mc - ir : mr, ic = i0 + ir;
                te.Y = e->Y ? e->Y + ic * N + jc : NULL;
                te.colsum = j->partial ? j->partial + ic / group * N + jc : NULL;
                isa->kernel(kc, Ab + ic * kc, Bb + jc * kc, j->C + ic * N + jc, N, rows, cols, &te);
            }
        }
    }
}

static void dot_task(void *arg, size_t t, int worker)
{
    const job *j = arg;
    (void)worker;
    size_t i0 = t * j->rows_per_task, i1 = i0 + j->rows_per_task;
    if (i1 > j->M) i1 = j->M;
    j->g->isa->dot_nt(i0, i1, j->N, j->K, j->alpha, j->A, j->B, j->beta, j->C, j->e,
                      j->partial ? j->partial + t * j->N : NULL);
}

/* *buf holds at least n floats (grown, never shrunk). */
static nb_status room(float **buf, size_t *cap, size_t n)
{
    if (n <= *cap) return NB_OK;
    float *p = alloc64(n);
    if (!p) return NB_NOMEM("nb_cpu_gemm", n * sizeof(float));
    free(*buf);
    *buf = p, *cap = n;
    return NB_OK;
}

/* colsum[j] = Σ_b partial[b][j] (+ colsum[j] when beta is 1), in block order. */
static void sum_blocks(const float *partial, size_t blocks, size_t N, float beta, float *colsum)
{
    if (beta == 0.0f) memset(colsum, 0, N * sizeof(float));
    for (size_t b = 0; b < blocks; b++)
        for (size_t c = 0; c < N; c++) colsum[c] += partial[b * N + c];
}

static void run_tasks(nb_cpu_gemm *g, bool parallel, size_t tasks,
                      void (*fn)(void *, size_t, int), job *j)
{
    if (parallel && tasks > 1)
        nb_pool_for(g->pool, tasks, fn, j);
    else
        for (size_t t = 0; t < tasks; t++) fn(j, t, 0);
}

/* op(A)[i][k] and op(B)[k][j] of row-major A and B, stored as given. */
static inline float at_a(const float *A, bool ta, size_t M, size_t K, size_t i, size_t k)
{
    return ta ? A[k * M + i] : A[i * K + k];
}
static inline float at_b(const float *B, bool tb, size_t N, size_t K, size_t k, size_t j)
{
    return tb ? B[j * K + k] : B[k * N + j];
}

/* Plain loops, for tiny products and for α = 0 or K = 0 (C = βC). */
static void tiny(const job *j)
{
    const size_t M = j->M, N = j->N, K = j->K;
    for (size_t i = 0; i < M; i++)
        for (size_t c = 0; c < N; c++) {
            float s = 0.0f;
            if (j->alpha != 0.0f)
                for (size_t k = 0; k < K; k++)
                    s += at_a(j->A, j->ta, M, K, i, k) * at_b(j->B, j->tb, N, K, k, c);
            float *o = j->C + i * N + c;
            *o = j->alpha * s + (j->beta != 0.0f ? j->beta * *o : 0.0f);
        }
    if (j->e->colsum && j->e->colsum_beta == 0.0f) memset(j->e->colsum, 0, N * sizeof(float));
    if (j->e->kind != NB_EPI_NONE || j->e->colsum)
        j->g->isa->epi_rows(0, M, N, j->C, j->e, j->e->colsum);
}

/*
 * The tiles of C for `workers` threads: as large as the caches allow (A
 * blocks of at most g->mc rows, whole column-sum groups; at most g->nc
 * columns), cut further until there are 4 tasks per thread, so dynamic
 * scheduling evens out threads that run slower. Only the tiles depend on
 * the thread count; no sum does.
 */
static void tiles(const nb_cpu_gemm *g, job *j)
{
    const size_t nr = (size_t)g->isa->nr, group = g->group, M = j->M, N = j->N;
    size_t want = g->workers > 1 ? 4 * (size_t)g->workers : 1;
    /* rt, ct only grow, so mc, nc only shrink: the loop ends. */
    size_t rt = (M + g->mc - 1) / g->mc, ct = (N + g->nc - 1) / g->nc, mc, nc, n_ct;
    for (;;) {
        mc = ((M + rt - 1) / rt + group - 1) / group * group;
        nc = ((N + ct - 1) / ct + nr - 1) / nr * nr;
        n_ct = (N + nc - 1) / nc;
        if (((M + mc - 1) / mc) * n_ct >= want) break;
        bool can_m = mc > group && rt < M, can_n = nc > nr && ct < N;
        if (!can_m && !can_n) break;
        if (can_n && (nc >= mc || !can_m))
            ct++;
        else
            rt++;
    }
    j->mc = mc, j->nc = nc, j->n_ct = n_ct;
}

nb_status nb_cpu_gemm_run(nb_cpu_gemm *g, bool ta, bool tb, size_t M, size_t N, size_t K,
                          float alpha, const float *A, const float *B, float beta, float *C,
                          const nb_gemm_epi *epi)
{
    static const nb_gemm_epi none = {.kind = NB_EPI_NONE};
    const nb_gemm_epi *e = epi ? epi : &none;
    const nb_gemm_isa *isa = g->isa;
    if (M == 0 || N == 0) return NB_OK;
    double fmas = (double)M * (double)N * (double)K;
    bool parallel = fmas >= PAR_MIN_FMAS && g->workers > 1;
    job j = {.g = g, .ta = ta, .tb = tb, .M = M, .N = N, .K = K, .alpha = alpha, .beta = beta,
             .A = A, .B = B, .C = C, .e = e};
    if (K == 0 || alpha == 0.0f || fmas <= TINY_FMAS) {
        tiny(&j);
        return NB_OK;
    }
    if (!ta && tb && N <= DOT_MAX_N) {
        /* Row tasks of about 2^17 multiply-adds, in whole groups of 4 rows;
         * the column sums per task, so per fixed groups of rows. */
        size_t per = (size_t)(131072.0 / ((double)N * (double)K)) / 4 * 4;
        j.rows_per_task = per < 16 ? 16 : per;
        size_t tasks = (M + j.rows_per_task - 1) / j.rows_per_task;
        if (e->colsum) {
            NB_TRY(room(&g->partial, &g->partial_cap, tasks * N));
            j.partial = g->partial;
            memset(j.partial, 0, tasks * N * sizeof(float));
        }
        run_tasks(g, parallel, tasks, dot_task, &j);
        if (e->colsum) sum_blocks(j.partial, tasks, N, e->colsum_beta, e->colsum);
        return NB_OK;
    }
    const size_t mr = (size_t)isa->mr, nr = (size_t)isa->nr;
    /* K in even slices of at most g->kc + 7, a multiple of 8 but the last. */
    size_t n_k = (K + g->kc - 1) / g->kc;
    j.kc = ((K + n_k - 1) / n_k + 7) / 8 * 8;
    j.n_k = (K + j.kc - 1) / j.kc;
    j.mp = (M + mr - 1) / mr * mr;
    j.np = (N + nr - 1) / nr * nr;
    j.a_chunks = (j.mp / mr + PACK_CHUNK - 1) / PACK_CHUNK;
    j.b_chunks = (j.np / nr + PACK_CHUNK - 1) / PACK_CHUNK;
    NB_TRY(room(&g->apack, &g->apack_cap, j.n_k * j.mp * j.kc));
    NB_TRY(room(&g->bpack, &g->bpack_cap, j.n_k * j.np * j.kc));
    j.apack = g->apack, j.bpack = g->bpack;
    size_t groups = (M + g->group - 1) / g->group;
    if (e->colsum) {
        NB_TRY(room(&g->partial, &g->partial_cap, groups * N));
        j.partial = g->partial;
        memset(j.partial, 0, groups * N * sizeof(float));
    }
    tiles(g, &j);
    run_tasks(g, parallel, j.n_k * (j.a_chunks + j.b_chunks), pack_task, &j);
    run_tasks(g, parallel, ((M + j.mc - 1) / j.mc) * j.n_ct, tile_task, &j);
    if (e->colsum) sum_blocks(j.partial, groups, N, e->colsum_beta, e->colsum);
    return NB_OK;
}
