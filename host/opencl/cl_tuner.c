/*
 * cl_tuner.c — `nabla tune` on one OpenCL device (tune.h). For each GEMM
 * candidate (cl_tune_space.c) and the ladder's own configuration: build
 * gemm.cl alone with its -D knobs (the other kernel files do not depend
 * on them, and one file builds in a fraction of the program's time),
 * check gemm_nn, gemm_nt and gemm_tn against ref_gemm, then time them at
 * the tiled GEMMs of one training step of each network. A candidate that
 * does not fit the limits, fails to build or fails the check is skipped
 * and counted. The winner has the lowest geometric mean, over the
 * networks, of its step time over the ladder's, among the candidates no
 * slower than the ladder's on any network. Then, with the winner: the
 * GEMV work-group size, at the networks' batch-1 products, and the small-
 * GEMM bound, where the one-item-per-output kernel stops beating the tiled
 * one. The winners become the device's tuning record (cl_record.c).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cpu/ref.h"
#include "opencl/cl_internal.h"
#include "status.h"
#include "tune.h"

enum { MAX_CAND = 32, MAX_SHAPES = 3 * NB_TUNE_MAX_NETS * NB_TUNE_MAX_WIDTHS };

/* One GEMM of a training step: C (M,N) = op(A) op(B), with transposes. */
typedef struct shape {
    size_t M, N, K;
    int ta, tb;
    int net;    /* the network it belongs to */
    int count;  /* how many times a step runs it */
} shape;

typedef struct tuner {
    nb_be_config cfg;    /* the request's options; dev.cfg points here */
    nb_cl_device dev;
    cl_context ctx;
    cl_command_queue q;
    cl_mem A, B, C;      /* operands, big enough for every shape */
    size_t cap;          /* floats in each                        */
    char *gemm_src;      /* gemm.cl, with its #line prefix        */
    const nb_tune_request *req;
    double reps;
} tuner;

static void say(const tuner *tu, const char *fmt, ...)
{
    if (!tu->req->progress) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    tu->req->progress(tu->req->user, line);
}

/* ------------------------------------------------------------ shapes */

/* The tiled GEMMs of one step of each network (M > 1, above the small
 * bound), per layer in -> out with batch b: the forward Y = X W^T (nt),
 * the input gradient dX = dY W (nn, not for the first layer) and the
 * weight gradient dW = dY^T X (tn); a shape a step runs twice is timed
 * once and counted twice. --quick shrinks a layer's batch until its
 * products are at most QUICK_MACS multiply-adds, but never below
 * QUICK_ROWS rows, so every tile tried still fills (W2's 512 rows become
 * 128; W1 and W3 stay as they are). */
enum { QUICK_ROWS = 128 };
static const double QUICK_MACS = 268435456.0; /* 2^28 */

static int step_shapes(const nb_tune_request *req, double small, shape *out)
{
    int n = 0;
    for (int w = 0; w < req->n_nets; w++) {
        const nb_tune_net *net = &req->nets[w];
        for (int l = 0; l + 1 < net->n_widths; l++) {
            size_t in = (size_t)net->widths[l], o = (size_t)net->widths[l + 1], b = net->batch;
            if (req->quick && (double)b * (double)in * (double)o > QUICK_MACS)
                b = (size_t)(QUICK_MACS / ((double)in * (double)o)) < QUICK_ROWS
                        ? (b < QUICK_ROWS ? b : QUICK_ROWS)
                        : (size_t)(QUICK_MACS / ((double)in * (double)o));
            shape s[3] = {{b, o, in, 0, 1, w, 1}, {b, in, o, 0, 0, w, 1}, {o, in, b, 1, 0, w, 1}};
            for (int k = 0; k < 3; k++) {
                if (k == 1 && l == 0) continue;
                if (s[k].M < 2 || (double)s[k].M * (double)s[k].N * (double)s[k].K <= small) continue;
                int j = 0;
                while (j < n && !(out[j].M == s[k].M && out[j].N == s[k].N && out[j].K == s[k].K &&
                                  out[j].ta == s[k].ta && out[j].tb == s[k].tb && out[j].net == w))
                    j++;
                if (j < n) out[j].count++;
                else if (n < MAX_SHAPES) out[n++] = s[k];
            }
        }
    }
    return n;
}

/* ----------------------------------------------------------- kernels */

static cl_program build_gemm(tuner *tu, const nb_cl_tunables *t, nb_status *st)
{
    char opt[1024];
    nb_cl_tune_options(t, opt, sizeof opt);
    /* -w: a compiler's warnings about a candidate are no news to the user. */
    strncat(opt, " -w", sizeof opt - strlen(opt) - 1);
    cl_int err;
    const char *src = tu->gemm_src;
    cl_program p = nb_cl.clCreateProgramWithSource(tu->ctx, 1, &src, NULL, &err);
    *st = NB_OK;
    if (err != CL_SUCCESS) {
        *st = NB_FAIL(NB_ERR_BACKEND, "clCreateProgramWithSource: %s", nb_cl_err_name(err));
        return NULL;
    }
    if (nb_cl.clBuildProgram(p, 1, &tu->dev.id, opt, NULL, NULL) != CL_SUCCESS) {
        nb_cl.clReleaseProgram(p);
        return NULL; /* a candidate that does not build is skipped, not an error */
    }
    return p;
}

/* Set the GEMM arguments and launch one product; geometry as gemm.cl says. */
static cl_int launch(tuner *tu, cl_kernel k, const nb_cl_tunables *t, int small, size_t M, size_t N,
                     size_t K, cl_ulong offA, cl_ulong offB, cl_ulong offC)
{
    cl_uint m = (cl_uint)M, n = (cl_uint)N, kk = (cl_uint)K;
    float alpha = 1.0f, beta = 0.0f;
    cl_int e = 0;
    e |= nb_cl.clSetKernelArg(k, 0, sizeof m, &m);
    e |= nb_cl.clSetKernelArg(k, 1, sizeof n, &n);
    e |= nb_cl.clSetKernelArg(k, 2, sizeof kk, &kk);
    e |= nb_cl.clSetKernelArg(k, 3, sizeof alpha, &alpha);
    e |= nb_cl.clSetKernelArg(k, 4, sizeof tu->A, &tu->A);
    e |= nb_cl.clSetKernelArg(k, 5, sizeof offA, &offA);
    e |= nb_cl.clSetKernelArg(k, 6, sizeof tu->B, &tu->B);
    e |= nb_cl.clSetKernelArg(k, 7, sizeof offB, &offB);
    e |= nb_cl.clSetKernelArg(k, 8, sizeof beta, &beta);
    e |= nb_cl.clSetKernelArg(k, 9, sizeof tu->C, &tu->C);
    e |= nb_cl.clSetKernelArg(k, 10, sizeof offC, &offC);
    if (e != CL_SUCCESS) return CL_INVALID_KERNEL_ARGS;
    if (small) { /* one work-item per output, 1-D, as cl_ops.c launches it */
        size_t l = 1, g;
        while (l < M * N && l < (size_t)t->wg) l *= 2;
        g = (M * N + l - 1) / l * l;
        return nb_cl.clEnqueueNDRangeKernel(tu->q, k, 1, NULL, &g, &l, 0, NULL, NULL);
    }
    size_t l[2] = {(size_t)(t->gemm_tn / t->gemm_wn), (size_t)(t->gemm_tm / t->gemm_wm)};
    size_t g[2] = {(N + (size_t)t->gemm_tn - 1) / (size_t)t->gemm_tn * l[0],
                   (M + (size_t)t->gemm_tm - 1) / (size_t)t->gemm_tm * l[1]};
    return nb_cl.clEnqueueNDRangeKernel(tu->q, k, 2, NULL, g, l, 0, NULL, NULL);
}

/* -------------------------------------------------------------- check */

/* Deterministic operands in [-1, 1]. */
static void fill(float *x, size_t n, unsigned seed)
{
    uint32_t s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((double)(s >> 8) / 8388608.0 - 1.0);
    }
}

/*
 * Check kernel k (transposes ta, tb) at one shape with the given element
 * offsets against ref_gemm. The tolerance is the rigorous bound on a
 * float dot product of K terms summed in any order with or without FMA:
 * |error| <= gamma_K · Σ|a||b|, gamma_K = K·u / (1 − K·u), u = 2^-24,
 * with Σ|a||b| from ref_gemm on |A| and |B| (in double, so exact enough);
 * twice that, for the rounding of the reference itself and of alpha = 1.
 * A kernel that stages or indexes wrongly is off by whole terms, far more.
 */
static nb_status check_one(tuner *tu, cl_kernel k, const nb_cl_tunables *t, int small, int ta, int tb,
                           size_t M, size_t N, size_t K, size_t oa, size_t ob, size_t oc, int *ok)
{
    size_t na = M * K + oa, nbb = K * N + ob, nc = M * N + oc;
    float *a = malloc(na * 4), *b = malloc(nbb * 4), *c = malloc(nc * 4), *r = malloc(M * N * 4);
    float *aa = malloc(na * 4), *ab = malloc(nbb * 4), *rr = malloc(M * N * 4);
    nb_status st = NB_OK;
    *ok = 0;
    if (!a || !b || !c || !r || !aa || !ab || !rr) {
        st = NB_NOMEM("nabla tune: check", nc * 4);
        goto out;
    }
    fill(a, na, 1), fill(b, nbb, 2);
    for (size_t i = 0; i < nc; i++) c[i] = NAN; /* beta == 0 must not read C */
    for (size_t i = 0; i < na; i++) aa[i] = fabsf(a[i]);
    for (size_t i = 0; i < nbb; i++) ab[i] = fabsf(b[i]);
    cl_int e = nb_cl.clEnqueueWriteBuffer(tu->q, tu->A, CL_TRUE, 0, na * 4, a, 0, NULL, NULL);
    if (e == CL_SUCCESS) e = nb_cl.clEnqueueWriteBuffer(tu->q, tu->B, CL_TRUE, 0, nbb * 4, b, 0, NULL, NULL);
    if (e == CL_SUCCESS) e = nb_cl.clEnqueueWriteBuffer(tu->q, tu->C, CL_TRUE, 0, nc * 4, c, 0, NULL, NULL);
    if (e != CL_SUCCESS) {
        st = NB_FAIL(NB_ERR_BACKEND, "clEnqueueWriteBuffer: %s", nb_cl_err_name(e));
        goto out;
    }
    if (launch(tu, k, t, small, M, N, K, oa, ob, oc) != CL_SUCCESS ||
        nb_cl.clFinish(tu->q) != CL_SUCCESS)
        goto out; /* a launch the device refuses fails the check */
    e = nb_cl.clEnqueueReadBuffer(tu->q, tu->C, CL_TRUE, 0, nc * 4, c, 0, NULL, NULL);
    if (e != CL_SUCCESS) {
        st = NB_FAIL(NB_ERR_BACKEND, "clEnqueueReadBuffer: %s", nb_cl_err_name(e));
        goto out;
    }
    ref_gemm(ta, tb, M, N, K, 1.0f, a + oa, b + ob, 0.0f, r);
    ref_gemm(ta, tb, M, N, K, 1.0f, aa + oa, ab + ob, 0.0f, rr);
    double u = ldexp(1.0, -24), gamma = (double)K * u / (1.0 - (double)K * u);
    *ok = 1;
    for (size_t i = 0; i < M * N && *ok; i++)
        if (!(fabs((double)c[oc + i] - (double)r[i]) <= 2.0 * gamma * (double)rr[i] + 1e-30)) *ok = 0;
out:
    free(a), free(b), free(c), free(r), free(aa), free(ab), free(rr);
    return st;
}

/* Shapes that cover whole tiles with vector loads, ragged edges, and
 * offsets that rule vector loads out, for the largest tiles tried. */
static const size_t checks[][6] = {
    {192, 192, 64, 0, 0, 0}, {133, 141, 67, 0, 0, 0}, {37, 29, 19, 1, 3, 2}};

static nb_status check_all(tuner *tu, cl_kernel ks[3], const nb_cl_tunables *t, int small, int *ok)
{
    static const int tr[3][2] = {{0, 0}, {0, 1}, {1, 0}};
    *ok = 1;
    for (int i = 0; i < 3 && *ok; i++)
        for (size_t c = 0; c < sizeof checks / sizeof *checks && *ok; c++)
            NB_TRY(check_one(tu, ks[i], t, small, tr[i][0], tr[i][1], checks[c][0], checks[c][1],
                             checks[c][2], checks[c][3], checks[c][4], checks[c][5], ok));
    return NB_OK;
}

/* ------------------------------------------------------------- timing */

/* Seconds of one product: the least of tu->reps runs after one warm-up
 * (the least, because on a shared machine noise only ever adds). */
static double time_one(tuner *tu, cl_kernel k, const nb_cl_tunables *t, int small, const shape *s)
{
    double best = INFINITY;
    for (int r = 0; r <= (int)tu->reps; r++) {
        double t0 = nb_now();
        if (launch(tu, k, t, small, s->M, s->N, s->K, 0, 0, 0) != CL_SUCCESS ||
            nb_cl.clFinish(tu->q) != CL_SUCCESS)
            return INFINITY;
        double dt = nb_now() - t0;
        if (r > 0 && dt < best) best = dt;
    }
    return best;
}

/* One candidate's program and its three GEMM kernels (or all NULL). */
typedef struct built {
    cl_program p;
    cl_kernel k[3];  /* gemm_nn, gemm_nt, gemm_tn: dX, forward, dW */
    cl_kernel ks[3]; /* the small-GEMM kernels of the same         */
    cl_kernel gv[2]; /* gemv_n, gemv_t                             */
} built;

static void built_free(built *b)
{
    for (int i = 0; i < 3; i++) {
        if (b->k[i]) nb_cl.clReleaseKernel(b->k[i]);
        if (b->ks[i]) nb_cl.clReleaseKernel(b->ks[i]);
    }
    for (int i = 0; i < 2; i++)
        if (b->gv[i]) nb_cl.clReleaseKernel(b->gv[i]);
    if (b->p) nb_cl.clReleaseProgram(b->p);
    memset(b, 0, sizeof *b);
}

/* Build t and create its kernels; 0 (b empty) when it does not build or
 * its kernels allow fewer work-items than its work-groups need. */
static nb_status build(tuner *tu, const nb_cl_tunables *t, built *b, int *ok)
{
    static const char *const names[8] = {"gemm_nn", "gemm_nt", "gemm_tn", "gemm_small_nn",
                                         "gemm_small_nt", "gemm_small_tn", "gemv_n", "gemv_t"};
    nb_status st;
    memset(b, 0, sizeof *b);
    *ok = 0;
    b->p = build_gemm(tu, t, &st);
    if (!b->p) return st;
    cl_kernel *slot[8] = {&b->k[0], &b->k[1], &b->k[2], &b->ks[0], &b->ks[1], &b->ks[2], &b->gv[0], &b->gv[1]};
    size_t items = (size_t)(t->gemm_tn / t->gemm_wn) * (size_t)(t->gemm_tm / t->gemm_wm);
    for (int i = 0; i < 8; i++) {
        cl_int err;
        size_t kwg = 0;
        *slot[i] = nb_cl.clCreateKernel(b->p, names[i], &err);
        if (err != CL_SUCCESS ||
            nb_cl.clGetKernelWorkGroupInfo(*slot[i], tu->dev.id, CL_KERNEL_WORK_GROUP_SIZE, sizeof kwg,
                                           &kwg, NULL) != CL_SUCCESS)
            return built_free(b), NB_OK;
        size_t need = i < 3 ? items : i >= 6 ? (size_t)t->gemv_wg : 1;
        if (kwg < need) return built_free(b), NB_OK;
    }
    *ok = 1;
    return NB_OK;
}

/* The tiled-GEMM seconds of one step of each network with b. */
static void time_steps(tuner *tu, built *b, const nb_cl_tunables *t, const shape *s, int ns,
                       double *per_net)
{
    for (int w = 0; w < tu->req->n_nets; w++) per_net[w] = 0.0;
    for (int i = 0; i < ns; i++) {
        int kk = s[i].ta ? 2 : s[i].tb ? 1 : 0;
        per_net[s[i].net] += s[i].count * time_one(tu, b->k[kk], t, 0, &s[i]);
    }
}

/* A candidate's score against the ladder: the geometric mean of its step
 * times over the ladder's, or infinity if it is slower on any network (a
 * tuned configuration must never cost a network time it had). */
static double score(const double *x, const double *ref, int n)
{
    double lg = 0.0;
    int m = 0;
    for (int w = 0; w < n; w++) {
        if (!(ref[w] > 0)) continue; /* no tiled GEMM in that network */
        if (!(x[w] <= ref[w])) return INFINITY;
        lg += log(x[w] / ref[w]), m++;
    }
    return m ? exp(lg / m) : 1.0; /* no tiled GEMM at all: every candidate ties */
}

/* -------------------------------------------------------------- GEMV */

static cl_int launch_gemv(tuner *tu, cl_kernel k, int wg, int rows_n, size_t N, size_t K)
{
    cl_uint n = (cl_uint)N, kk = (cl_uint)K;
    float alpha = 1.0f, beta = 0.0f;
    cl_ulong z = 0;
    cl_int e = 0;
    e |= nb_cl.clSetKernelArg(k, 0, sizeof n, &n);
    e |= nb_cl.clSetKernelArg(k, 1, sizeof kk, &kk);
    e |= nb_cl.clSetKernelArg(k, 2, sizeof alpha, &alpha);
    e |= nb_cl.clSetKernelArg(k, 3, sizeof tu->A, &tu->A);
    e |= nb_cl.clSetKernelArg(k, 4, sizeof z, &z);
    e |= nb_cl.clSetKernelArg(k, 5, sizeof tu->B, &tu->B);
    e |= nb_cl.clSetKernelArg(k, 6, sizeof z, &z);
    e |= nb_cl.clSetKernelArg(k, 7, sizeof beta, &beta);
    e |= nb_cl.clSetKernelArg(k, 8, sizeof tu->C, &tu->C);
    e |= nb_cl.clSetKernelArg(k, 9, sizeof z, &z);
    if (e != CL_SUCCESS) return CL_INVALID_KERNEL_ARGS;
    size_t l = (size_t)wg, g = rows_n ? N * l : (N + l - 1) / l * l; /* gemm.cl's geometry */
    return nb_cl.clEnqueueNDRangeKernel(tu->q, k, 1, NULL, &g, &l, 0, NULL, NULL);
}

/* Check both GEMV kernels at a ragged shape (tolerance as check_one's). */
static nb_status check_gemv(tuner *tu, built *b, int wg, int *ok)
{
    const size_t N = 67, K = 131;
    float x[131], B[67 * 131], y[67], r[67], ax[131], aB[67 * 131], rr[67];
    fill(x, K, 3), fill(B, N * K, 4);
    for (size_t i = 0; i < K; i++) ax[i] = fabsf(x[i]);
    for (size_t i = 0; i < N * K; i++) aB[i] = fabsf(B[i]);
    double u = ldexp(1.0, -24), gamma = (double)K * u / (1.0 - (double)K * u);
    *ok = 1;
    for (int v = 0; v < 2 && *ok; v++) { /* v 0: gemv_n (B is N x K), 1: gemv_t (K x N) */
        cl_int e = nb_cl.clEnqueueWriteBuffer(tu->q, tu->A, CL_TRUE, 0, sizeof x, x, 0, NULL, NULL);
        if (e == CL_SUCCESS) e = nb_cl.clEnqueueWriteBuffer(tu->q, tu->B, CL_TRUE, 0, sizeof B, B, 0, NULL, NULL);
        if (e != CL_SUCCESS) return NB_FAIL(NB_ERR_BACKEND, "clEnqueueWriteBuffer: %s", nb_cl_err_name(e));
        if (launch_gemv(tu, b->gv[v], wg, v == 0, N, K) != CL_SUCCESS || nb_cl.clFinish(tu->q) != CL_SUCCESS)
            return *ok = 0, NB_OK;
        e = nb_cl.clEnqueueReadBuffer(tu->q, tu->C, CL_TRUE, 0, sizeof y, y, 0, NULL, NULL);
        if (e != CL_SUCCESS) return NB_FAIL(NB_ERR_BACKEND, "clEnqueueReadBuffer: %s", nb_cl_err_name(e));
        ref_gemm(false, v == 0, 1, N, K, 1.0f, x, B, 0.0f, r);
        ref_gemm(false, v == 0, 1, N, K, 1.0f, ax, aB, 0.0f, rr);
        for (size_t j = 0; j < N && *ok; j++)
            if (!(fabs((double)y[j] - (double)r[j]) <= 2.0 * gamma * (double)rr[j] + 1e-30)) *ok = 0;
    }
    return NB_OK;
}

/* Seconds of the batch-1 products of every network with GEMV_WG = wg. */
static double time_gemv(tuner *tu, built *b, int wg)
{
    double total = 0.0;
    for (int w = 0; w < tu->req->n_nets; w++) {
        const nb_tune_net *net = &tu->req->nets[w];
        for (int l = 0; l + 1 < net->n_widths; l++) {
            size_t in = (size_t)net->widths[l], o = (size_t)net->widths[l + 1];
            for (int v = 0; v < 2; v++) { /* forward (gemv_n) and input gradient (gemv_t) */
                double best = INFINITY;
                for (int r = 0; r <= (int)tu->reps; r++) {
                    double t0 = nb_now();
                    if (launch_gemv(tu, b->gv[v], wg, v == 0, v == 0 ? o : in, v == 0 ? in : o) !=
                            CL_SUCCESS ||
                        nb_cl.clFinish(tu->q) != CL_SUCCESS)
                        return INFINITY;
                    double dt = nb_now() - t0;
                    if (r > 0 && dt < best) best = dt;
                }
                total += best;
            }
        }
    }
    return total;
}

/* ------------------------------------------------------ small bound */

/*
 * The small-GEMM bound: at forward products of growing size (and the
 * networks' own small ones), the largest M·N·K up to which the one-item-
 * per-output kernel is faster than the tiled winner at every size tried.
 */
static double tune_small(tuner *tu, built *b, const nb_cl_tunables *t)
{
    static const size_t sizes[][3] = {{8, 8, 8},     {16, 16, 16},  {32, 32, 16},   {32, 32, 32},
                                      {64, 64, 16},  {64, 64, 32},  {64, 64, 64},   {128, 64, 64},
                                      {128, 128, 64}, {256, 128, 64}, {256, 256, 64}};
    double bound = 0.0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        shape s = {sizes[i][0], sizes[i][1], sizes[i][2], 0, 1, 0, 1};
        double ts = time_one(tu, b->ks[1], t, 1, &s), tt = time_one(tu, b->k[1], t, 0, &s);
        if (!(ts < tt)) break;
        bound = (double)s.M * (double)s.N * (double)s.K;
    }
    return bound;
}

/* ---------------------------------------------------------------- run */

static void tuner_free(tuner *tu)
{
    if (tu->A) nb_cl.clReleaseMemObject(tu->A);
    if (tu->B) nb_cl.clReleaseMemObject(tu->B);
    if (tu->C) nb_cl.clReleaseMemObject(tu->C);
    if (tu->q) nb_cl.clReleaseCommandQueue(tu->q);
    if (tu->ctx) nb_cl.clReleaseContext(tu->ctx);
    free(tu->gemm_src);
}

static nb_status tuner_open(tuner *tu, const shape *s, int ns)
{
    char **texts;
    int n;
    NB_TRY(nb_cl_sources(tu->dev.cfg, &texts, &n));
    /* gemm.cl is the first file of the program (kernels/README.md). */
    tu->gemm_src = n > 0 && strstr(texts[0], "gemm.cl") ? strdup(texts[0]) : NULL;
    nb_cl_sources_free(texts, n);
    if (!tu->gemm_src) return NB_FAIL(NB_ERR_INTERNAL, "nabla tune: gemm.cl is not the first kernel file");
    size_t cap = 192 * 192 + 8; /* the check shapes, with their offsets */
    for (int i = 0; i < ns; i++) {
        size_t m[3] = {s[i].M * s[i].K, s[i].K * s[i].N, s[i].M * s[i].N};
        for (int k = 0; k < 3; k++) cap = m[k] > cap ? m[k] : cap;
    }
    for (int w = 0; w < tu->req->n_nets; w++)
        for (int l = 0; l + 1 < tu->req->nets[w].n_widths; l++) {
            size_t m = (size_t)tu->req->nets[w].widths[l] * (size_t)tu->req->nets[w].widths[l + 1];
            cap = m > cap ? m : cap;
        }
    if (cap > 0xFFFFFFFFu / 4 || cap * 4 > tu->dev.info.max_alloc) /* kernels index in uint */
        return NB_FAIL(NB_ERR_BACKEND, "nabla tune: a %zu-byte operand exceeds the device's largest "
                                       "buffer", cap * 4);
    cl_int err;
    tu->ctx = nb_cl.clCreateContext(NULL, 1, &tu->dev.id, NULL, NULL, &err);
    CL_CHECK("clCreateContext", err);
    tu->q = nb_cl.clCreateCommandQueue(tu->ctx, tu->dev.id, 0, &err);
    CL_CHECK("clCreateCommandQueue", err);
    cl_mem *m[3] = {&tu->A, &tu->B, &tu->C};
    for (int k = 0; k < 3; k++) {
        *m[k] = nb_cl.clCreateBuffer(tu->ctx, CL_MEM_READ_WRITE, cap * 4, NULL, &err);
        CL_CHECK("clCreateBuffer", err);
    }
    tu->cap = cap;
    return NB_OK;
}

/* Try one GEMM configuration: 1 timed (per_net filled), 0 skipped (and
 * counted). */
static nb_status try_gemm(tuner *tu, const nb_cl_tunables *t, const shape *s, int ns, double *per_net,
                          nb_tune_report *rep, int *timed)
{
    char d[128];
    nb_cl_gemm_describe(t, d, sizeof d);
    *timed = 0;
    rep->tried++;
    if (nb_cl_gemm_invalid(t) || !nb_cl_gemm_fits(t, tu->dev.max_item)) {
        rep->skipped_limit++;
        say(tu, "  %-28s skipped: exceeds the device's limits", d);
        return NB_OK;
    }
    built b;
    int ok;
    double t0 = nb_now();
    NB_TRY(build(tu, t, &b, &ok));
    if (!ok) {
        rep->skipped_build++;
        say(tu, "  %-28s skipped: does not build, or its kernels allow too few work-items", d);
        return NB_OK;
    }
    double tb = nb_now() - t0;
    nb_status st = check_all(tu, b.k, t, 0, &ok);
    double tc = nb_now() - t0 - tb;
    if (st == NB_OK && !ok) {
        rep->skipped_check++;
        say(tu, "  %-28s skipped: wrong results against the reference", d);
    } else if (st == NB_OK) {
        time_steps(tu, &b, t, s, ns, per_net);
        char line[256];
        int len = snprintf(line, sizeof line, "  %-28s build %.1f s, check %.1f s, timing %.1f s; step GEMMs", d, tb, tc, nb_now() - t0 - tb - tc);
        for (int w = 0; w < tu->req->n_nets && len > 0 && (size_t)len < sizeof line; w++)
            len += snprintf(line + len, sizeof line - (size_t)len, " %s %.2f ms", tu->req->nets[w].name,
                            1e3 * per_net[w]);
        say(tu, "%s", line);
        *timed = 1;
        rep->timed++;
    }
    built_free(&b);
    return st;
}

static nb_status run(tuner *tu, nb_tune_report *rep)
{
    const nb_tune_request *req = tu->req;
    nb_cl_tunables lad, best;
    NB_TRY(nb_cl_pick_device(req->spec, &tu->cfg, &tu->dev));
    NB_TRY(nb_cl_tune_ladder(&tu->dev, &lad));
    snprintf(rep->device, sizeof rep->device, "opencl:%d.%d (%s)", tu->dev.info.platform,
             tu->dev.info.device, tu->dev.info.name);
    bool cpu = strcmp(tu->dev.info.type, "CPU") == 0;
    tu->reps = req->quick ? 2 : 4;
    shape s[MAX_SHAPES];
    int ns = step_shapes(req, lad.gemm_small, s);
    NB_TRY(tuner_open(tu, s, ns));

    double lad_t[NB_TUNE_MAX_NETS], best_t[NB_TUNE_MAX_NETS];
    int timed;
    say(tu, "GEMM: the ladder's configuration, then %s candidates (TM,TN,TK,WM,WN,VW,PAD,DB,LOCAL)",
        req->quick ? "the quick" : "all");
    NB_TRY(try_gemm(tu, &lad, s, ns, lad_t, rep, &timed));
    if (!timed) return NB_FAIL(NB_ERR_BACKEND, "nabla tune: the ladder's own configuration fails on "
                                               "%s", rep->device);
    nb_cl_tunables cand[MAX_CAND];
    double cand_t[MAX_CAND][NB_TUNE_MAX_NETS];
    int ok_c[MAX_CAND] = {0};
    int nc = nb_cl_tune_candidates(tu->dev.cfg, cpu, req->quick, cand, MAX_CAND);
    for (int i = 0; i < nc; i++) {
        nb_cl_tunables t = lad; /* limits, WG sizes and bound from the ladder */
        t.gemm_tm = cand[i].gemm_tm, t.gemm_tn = cand[i].gemm_tn, t.gemm_tk = cand[i].gemm_tk;
        t.gemm_wm = cand[i].gemm_wm, t.gemm_wn = cand[i].gemm_wn, t.gemm_vw = cand[i].gemm_vw;
        t.gemm_pad = cand[i].gemm_pad, t.gemm_db = cand[i].gemm_db, t.gemm_local = cand[i].gemm_local;
        cand[i] = t;
        char a[128], bd[128];
        nb_cl_gemm_describe(&t, a, sizeof a), nb_cl_gemm_describe(&lad, bd, sizeof bd);
        if (!strcmp(a, bd)) continue; /* the ladder's row: timed already */
        NB_TRY(try_gemm(tu, &t, s, ns, cand_t[i], rep, &ok_c[i]));
    }
    /* The ladder once more, last, keeping its better time per network: the
     * first configuration timed may pay for the device warming up, and a
     * tuned configuration must beat the ladder at its best. */
    if (nc > 0) {
        double again[NB_TUNE_MAX_NETS];
        say(tu, "the ladder's configuration again:");
        NB_TRY(try_gemm(tu, &lad, s, ns, again, rep, &timed));
        rep->tried--, rep->timed -= timed; /* the same configuration, not another candidate */
        for (int w = 0; timed && w < req->n_nets; w++)
            if (again[w] < lad_t[w]) lad_t[w] = again[w];
    }
    best = lad;
    memcpy(best_t, lad_t, sizeof lad_t);
    double best_score = 1.0;
    for (int i = 0; i < nc; i++) {
        double sc = ok_c[i] ? score(cand_t[i], lad_t, req->n_nets) : INFINITY;
        if (sc < best_score) best = cand[i], best_score = sc, memcpy(best_t, cand_t[i], sizeof best_t);
    }
    nb_cl_gemm_describe(&lad, rep->ladder, sizeof rep->ladder);
    nb_cl_gemm_describe(&best, rep->winner, sizeof rep->winner);
    memcpy(rep->ladder_ms, lad_t, sizeof lad_t);
    memcpy(rep->winner_ms, best_t, sizeof best_t);
    for (int w = 0; w < req->n_nets; w++) rep->ladder_ms[w] *= 1e3, rep->winner_ms[w] *= 1e3;

    /* GEMV work-group sizes, then the small-GEMM bound, with the winner. */
    int gemv_best = best.gemv_wg;
    double gemv_t = INFINITY;
    say(tu, "GEMV work-group size (batch-1 products):");
    for (int wg = 4; wg <= 256; wg *= 2) {
        if (req->quick && wg != 16 && wg != 64 && wg != best.gemv_wg) continue;
        if ((size_t)wg > best.max_wg || (size_t)wg > tu->dev.max_item[0]) continue;
        nb_cl_tunables t = best;
        t.gemv_wg = wg;
        built b;
        int ok;
        NB_TRY(build(tu, &t, &b, &ok));
        if (!ok) {
            say(tu, "  GEMV_WG %-3d skipped: does not build or allows too few work-items", wg);
            continue;
        }
        nb_status st = check_gemv(tu, &b, wg, &ok);
        double tg = st == NB_OK && ok ? time_gemv(tu, &b, wg) : INFINITY;
        if (st == NB_OK && !ok) say(tu, "  GEMV_WG %-3d skipped: wrong results against the reference", wg);
        else if (st == NB_OK) say(tu, "  GEMV_WG %-3d %.3f ms", wg, 1e3 * tg);
        if (tg < gemv_t) gemv_t = tg, gemv_best = wg;
        if (st == NB_OK) {
            /* The small-GEMM bound, once, with the build of the ladder's GEMV size. */
            if (wg == best.gemv_wg) {
                int sok;
                st = check_all(tu, b.ks, &t, 1, &sok);
                if (st == NB_OK && sok) {
                    best.gemm_small = tune_small(tu, &b, &t);
                    say(tu, "small-GEMM bound: %.0f multiply-adds", best.gemm_small);
                } else if (st == NB_OK) {
                    say(tu, "small-GEMM kernels: wrong results against the reference; bound 0");
                    best.gemm_small = 0;
                }
            }
        }
        built_free(&b);
        NB_TRY(st);
    }
    best.gemv_wg = gemv_best;
    /* Each WG_SIZE candidate builds the whole program (tens of seconds on a
     * CPU device with empty caches), so --quick keeps the built-in size. */
    if (req->quick) {
        say(tu, "reduction and element-wise work-group size: the built-in %d (--quick does not "
                "time it)", best.wg);
    } else {
        say(tu, "reduction and element-wise work-group size (WG_SIZE), one step of %s:",
            req->nets[0].name ? req->nets[0].name : "the network");
        NB_TRY(nb_cl_tune_wg(&tu->dev, req, &best));
    }
    rep->gemv_wg = best.gemv_wg, rep->wg = best.wg, rep->gemm_small = best.gemm_small;
    if (req->store) NB_TRY(nb_cl_record_store(&tu->dev, &best, rep->record, sizeof rep->record));
    return NB_OK;
}

nb_status nb_tune_run(const nb_tune_request *req, nb_tune_report *rep)
{
    memset(rep, 0, sizeof *rep);
    if (req->n_nets < 1 || req->n_nets > NB_TUNE_MAX_NETS)
        return NB_FAIL(NB_ERR_ARG, "nb_tune_run: %d networks, want 1 to %d", req->n_nets, NB_TUNE_MAX_NETS);
    for (int w = 0; w < req->n_nets; w++) {
        const nb_tune_net *n = &req->nets[w];
        if (n->n_widths < 2 || n->n_widths > NB_TUNE_MAX_WIDTHS || n->batch < 1 || n->batch > (1u << 20))
            return NB_FAIL(NB_ERR_ARG, "nb_tune_run: network %d: %d widths and batch %zu", w,
                           n->n_widths, n->batch);
        for (int l = 0; l < n->n_widths; l++)
            if (n->widths[l] < 1 || n->widths[l] > (1 << 16))
                return NB_FAIL(NB_ERR_ARG, "nb_tune_run: width %d, want 1 to 65536", n->widths[l]);
    }
    tuner tu;
    memset(&tu, 0, sizeof tu);
    NB_TRY(nb_be_config_from(req->options, &tu.cfg));
    NB_TRY(nb_cl_load());
    tu.req = req;
    double t0 = nb_now();
    nb_status st = run(&tu, rep);
    tuner_free(&tu);
    rep->seconds = nb_now() - t0;
    return st;
}
