/*
 * backend.c — choosing a backend from the table of those built, and the
 * one checked dispatch layer.
 *
 * Every nb_be_* wrapper validates its arguments (dimensions, that each
 * view's extent lies inside its buffer, dtypes, enum ranges) and only then
 * calls the backend's op, so no backend needs its own checks and a bad
 * shape is reported the same way everywhere, with the op's name.
 */
#include "backend.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act.h"
#include "clock.h"
#include "device_pick.h"
#include "status.h"

/* ------------------------------------------------------------ creation */

/* One kind of backend: the device names it answers to, and its maker. */
typedef struct nb_backend_kind {
    const char *name;   /* the device name, and the prefix of "name:SPEC" */
    bool takes_spec;    /* "name:SPEC" picks one of its devices           */
    const char *forms;  /* how its devices are named, for messages        */
    nb_backend_ctor create;
} nb_backend_kind;

/*
 * The backends. "auto" takes the OpenCL device nb_device_auto_choice
 * picks, else the cpu, which always starts and is the fallback. A build
 * without OpenCL links the stand-in of opencl/cl_none.c, which says why
 * there is none (and still refuses a malformed "opencl:P.D" as bad input).
 */
static const nb_backend_kind kinds[] = {
    {"cpu", false, "cpu", nb_cpu_backend_create},
    {"opencl", true, "opencl, opencl:P.D", nb_cl_backend_create},
};
enum { N_KINDS = sizeof kinds / sizeof *kinds, KIND_CPU = 0, KIND_OPENCL = 1 };

static nb_status make(const nb_backend_kind *k, const char *spec, const nb_be_config *cfg,
                      nb_backend **out)
{
    nb_backend *be = calloc(1, sizeof *be);
    if (!be) return NB_NOMEM("nb_backend_create", sizeof *be);
    be->facts.build_cached = -1;
    nb_status st = k->create(spec, cfg, &be->prof, &be->facts, &be->ops, &be->ctx);
    if (st != NB_OK) {
        free(be);
        return st;
    }
    *out = be;
    return NB_OK;
}

/* What "auto" uses: *pick >= 0 and spec "P.D" for an OpenCL device, or
 * *pick -1 and why, one line, for the cpu. An error status only when the
 * list could not even be had (why says so too). */
static nb_status auto_pick(bool any, char *spec, size_t spec_n, char *why, size_t why_n, int *pick)
{
    int cap = 64, n = 0;
    nb_device_info *devs = NULL;
    nb_status st;
    *pick = -1;
    for (;;) { /* once, or twice when there are more devices than room */
        nb_device_info *grown = realloc(devs, sizeof *devs * (size_t)cap);
        if (!grown) {
            st = NB_NOMEM("nb_backend_create", sizeof *devs * (size_t)cap);
            break;
        }
        devs = grown;
        st = nb_opencl_devices(devs, cap, &n, pick);
        if (st != NB_OK || n <= cap) break;
        cap = n;
    }
    if (st != NB_OK) {
        *pick = -1;
        snprintf(why, why_n, "OpenCL unavailable: %s", nb_last_error());
    } else {
        *pick = nb_device_choose(devs, n, any, why, why_n);
        if (*pick >= 0) snprintf(spec, spec_n, "%d.%d", devs[*pick].platform, devs[*pick].device);
    }
    free(devs);
    return st;
}

static nb_status create(const char *device, const nb_be_config *cfg, nb_backend **out)
{
    if (strcmp(device, "auto") != 0) {
        char forms[256] = "auto";
        for (int i = 0; i < N_KINDS; i++) {
            size_t len = strlen(kinds[i].name);
            if (strncmp(device, kinds[i].name, len) == 0 && device[len] == '\0')
                return make(&kinds[i], NULL, cfg, out);
            if (strncmp(device, kinds[i].name, len) == 0 && device[len] == ':' &&
                kinds[i].takes_spec)
                return make(&kinds[i], device + len + 1, cfg, out);
            size_t used = strlen(forms);
            snprintf(forms + used, sizeof forms - used, ", %s", kinds[i].forms);
        }
        return NB_FAIL(NB_ERR_ARG, "nb_backend_create: unknown device '%s' (%s)", device, forms);
    }
    /* auto: the device the rule picks, named "P.D" so that the backend
     * opens that very one; the cpu otherwise, or when the device fails to
     * start, with the reason as its note. */
    char why[sizeof((nb_backend *)0)->facts.note] = "";
    char spec[32];
    int pick = -1;
    if (auto_pick(cfg->auto_any, spec, sizeof spec, why, sizeof why, &pick) == NB_OK && pick >= 0) {
        if (make(&kinds[KIND_OPENCL], spec, cfg, out) == NB_OK) return NB_OK;
        snprintf(why, sizeof why, "OpenCL unavailable: %s", nb_last_error());
    }
    nb_status st = make(&kinds[KIND_CPU], NULL, cfg, out);
    if (st == NB_OK) snprintf((*out)->facts.note, sizeof (*out)->facts.note, "%s", why);
    return st;
}

nb_status nb_backend_create_tuned(const char *spec, const nb_be_config *cfg,
                                  const struct nb_cl_tunables *force, nb_backend **out)
{
    *out = NULL;
    nb_backend *be = calloc(1, sizeof *be);
    if (!be) return NB_NOMEM("nb_backend_create_tuned", sizeof *be);
    be->facts.build_cached = -1;
    nb_status st = nb_cl_backend_create_tuned(spec, cfg, force, &be->prof, &be->facts, &be->ops,
                                              &be->ctx);
    if (st != NB_OK) {
        free(be);
        return st;
    }
    *out = be;
    return NB_OK;
}

nb_status nb_backend_create(const char *device, nb_backend **out)
{
    return nb_backend_create_with(device, NULL, out);
}

nb_status nb_backend_create_with(const char *device, const nb_backend_options *o,
                                 nb_backend **out)
{
    if (!out) return NB_FAIL(NB_ERR_ARG, "nb_backend_create: out is NULL");
    *out = NULL;
    /* Large (paths), so not on the stack; checked before any device is
     * touched, so a bad option fails the same way on every machine. */
    nb_be_config *cfg = malloc(sizeof *cfg);
    if (!cfg) return NB_NOMEM("nb_backend_create", sizeof *cfg);
    nb_status st = nb_be_config_from(o, cfg);
    if (st == NB_OK) st = create(device ? device : "auto", cfg, out);
    free(cfg);
    return st;
}

void nb_backend_free(nb_backend *be)
{
    if (!be) return;
    if (be->ops && be->ops->destroy) be->ops->destroy(be->ctx);
    free(be);
}

const char *nb_backend_name(const nb_backend *be) { return be ? be->facts.name : "(none)"; }
const char *nb_backend_note(const nb_backend *be) { return be ? be->facts.note : ""; }
int nb_backend_threads(const nb_backend *be) { return be ? be->facts.threads : 0; }

/* ------------------------------------------------------------ profiling */

static const char *const op_names[NB_OP_COUNT] = {
    "write", "read", "copy", "fill", "gemm", "gather", "bias_act", "act_backward",
    "loss", "col_sum", "sum_sq", "update", "gemm_fused"};

nb_status nb_backend_profile_enable(nb_backend *be, int on)
{
    if (!be) return NB_FAIL(NB_ERR_ARG, "nb_backend_profile_enable: backend is NULL");
    NB_TRY(nb_be_sync(be)); /* work queued before this point is not counted */
    be->prof.on = on != 0;
    memset(be->prof.op, 0, sizeof be->prof.op);
    be->prof.launches = 0;
    return NB_OK;
}

int64_t nb_backend_launches(const nb_backend *be)
{
    if (!be || !be->facts.counts_launches) return -1;
    return be->prof.launches > INT64_MAX ? INT64_MAX : (int64_t)be->prof.launches;
}

int nb_backend_profile(nb_backend *be, nb_op_profile *out, int cap)
{
    int n = 0;
    if (!be || nb_be_sync(be) != NB_OK) return 0;
    for (int i = 0; i < NB_OP_COUNT && n < cap; i++) {
        const nb_prof *p = &be->prof.op[i];
        if (p->calls == 0) continue;
        out[n].op = op_names[i];
        out[n].calls = p->calls;
        out[n].seconds = p->seconds;
        out[n].flops = p->flops;
        out[n].bytes = p->bytes;
        n++;
    }
    return n;
}

void nb_backend_build_info(const nb_backend *be, double *seconds, int *cached)
{
    if (seconds) *seconds = be ? be->facts.build_seconds : 0.0;
    if (cached) *cached = be ? be->facts.build_cached : -1;
}

/* Count a call (and time it, unless the backend times itself). */
static double prof_begin(nb_backend *be, nb_op op, double flops, double bytes)
{
    if (!be->prof.on) return 0.0;
    be->prof.cur_op = op;
    be->prof.op[op].calls++;
    be->prof.op[op].flops += flops;
    be->prof.op[op].bytes += bytes;
    return be->ops->self_timed ? 0.0 : nb_now();
}

static nb_status prof_end(nb_backend *be, nb_op op, double t0, nb_status st)
{
    if (be->prof.on && !be->ops->self_timed) be->prof.op[op].seconds += nb_now() - t0;
    return st;
}

/* Run one op under the profiler: `call` is evaluated once. */
#define DISPATCH(be, op, flops, bytes, call)                                                       \
    do {                                                                                           \
        double t0_ = prof_begin((be), (op), (flops), (bytes));                                     \
        return prof_end((be), (op), t0_, (call));                                                 \
    } while (0)

/* ------------------------------------------------------------- helpers */

/* Does [off, off + extent) of the view fit in its buffer, with the dtype? */
static nb_status check_view(const char *op, const char *what, nb_view v, size_t extent,
                            nb_dtype dtype)
{
    if (!v.buf || !v.buf->handle)
        return NB_FAIL(NB_ERR_ARG, "%s: %s is not an allocated buffer", op, what);
    if (v.buf->dtype != dtype)
        return NB_FAIL(NB_ERR_ARG, "%s: %s has the wrong element type", op, what);
    if (v.off > v.buf->n || extent > v.buf->n - v.off)
        return NB_FAIL(NB_ERR_ARG, "%s: %s [%zu, %zu + %zu) exceeds its buffer of %zu", op, what,
                       v.off, v.off, extent, v.buf->n);
    return NB_OK;
}

/* rows * cols without overflow, both non-zero. */
static nb_status check_dims(const char *op, size_t rows, size_t cols, size_t *n)
{
    if (rows == 0 || cols == 0)
        return NB_FAIL(NB_ERR_ARG, "%s: empty shape (%zu, %zu)", op, rows, cols);
    if (!nb_mul_ok(rows, cols, n))
        return NB_FAIL(NB_ERR_ARG, "%s: shape (%zu, %zu) overflows", op, rows, cols);
    return NB_OK;
}

static nb_status check_act(const char *op, nb_act act)
{
    if (!nb_act_get(act)) return NB_FAIL(NB_ERR_ARG, "%s: unknown activation %d", op, (int)act);
    return NB_OK;
}

/* ------------------------------------------------------------- buffers */

nb_status nb_be_alloc(nb_backend *be, nb_buf *b, size_t n, nb_dtype dtype)
{
    size_t bytes;
    b->handle = NULL;
    b->n = n;
    b->dtype = dtype;
    b->borrowed = false;
    if (n == 0) return NB_FAIL(NB_ERR_ARG, "nb_be_alloc: zero-sized buffer");
    if (!nb_mul_ok(n, 4, &bytes))
        return NB_FAIL(NB_ERR_ARG, "nb_be_alloc: %zu elements overflow", n);
    return be->ops->buf_alloc(be->ctx, b);
}

nb_status nb_be_borrow(nb_backend *be, nb_buf *b, size_t n, nb_dtype dtype, const void *host)
{
    b->handle = NULL;
    b->n = n;
    b->dtype = dtype;
    b->borrowed = true;
    if (n == 0 || !host) return NB_FAIL(NB_ERR_ARG, "nb_be_borrow: empty or NULL memory");
    if (!be->ops->buf_borrow)
        return NB_FAIL(NB_ERR_UNSUPPORTED, "nb_be_borrow: %s buffers are not host memory",
                       be->ops->name);
    return be->ops->buf_borrow(be->ctx, b, host);
}

void nb_be_free(nb_backend *be, nb_buf *b)
{
    if (b && b->handle) be->ops->buf_free(be->ctx, b);
    if (b) b->handle = NULL;
}

nb_status nb_be_write(nb_backend *be, nb_buf *dst, size_t off, const void *src, size_t n)
{
    if (n == 0) return NB_OK;
    if (!src) return NB_FAIL(NB_ERR_ARG, "nb_be_write: src is NULL");
    NB_TRY(check_view("nb_be_write", "dst", nb_view_at(dst, off), n, dst->dtype));
    DISPATCH(be, NB_OP_WRITE, 0, 4.0 * n, be->ops->buf_write(be->ctx, dst, off, src, n));
}

nb_status nb_be_write_async(nb_backend *be, nb_buf *dst, size_t off, const void *src, size_t n,
                            void **ticket)
{
    if (!ticket || *ticket)
        return NB_FAIL(NB_ERR_ARG, "nb_be_write_async: ticket is NULL or still in use");
    if (!be->ops->buf_write_async) return nb_be_write(be, dst, off, src, n);
    if (n == 0) return NB_OK;
    if (!src) return NB_FAIL(NB_ERR_ARG, "nb_be_write_async: src is NULL");
    NB_TRY(check_view("nb_be_write_async", "dst", nb_view_at(dst, off), n, dst->dtype));
    DISPATCH(be, NB_OP_WRITE, 0, 4.0 * n,
             be->ops->buf_write_async(be->ctx, dst, off, src, n, ticket));
}

nb_status nb_be_write_wait(nb_backend *be, void **ticket)
{
    if (!ticket || !*ticket) return NB_OK;
    void *t = *ticket;
    *ticket = NULL;
    return be->ops->write_wait(be->ctx, t);
}

nb_status nb_be_read(nb_backend *be, const nb_buf *src, size_t off, void *dst, size_t n)
{
    if (n == 0) return NB_OK;
    if (!dst) return NB_FAIL(NB_ERR_ARG, "nb_be_read: dst is NULL");
    NB_TRY(check_view("nb_be_read", "src", nb_view_at(src, off), n, src->dtype));
    DISPATCH(be, NB_OP_READ, 0, 4.0 * n, be->ops->buf_read(be->ctx, src, off, dst, n));
}

float *nb_be_host_f32(nb_backend *be, nb_buf *b)
{
    if (!be || !b || !b->handle || b->borrowed || b->dtype != NB_F32 || !be->ops->buf_host)
        return NULL;
    return be->ops->buf_host(be->ctx, b);
}

nb_status nb_be_copy(nb_backend *be, size_t n, nb_view src, nb_view dst)
{
    if (n == 0) return NB_OK;
    NB_TRY(check_view("nb_be_copy", "src", src, n, NB_F32));
    NB_TRY(check_view("nb_be_copy", "dst", dst, n, NB_F32));
    DISPATCH(be, NB_OP_COPY, 0, 8.0 * n, be->ops->copy(be->ctx, n, src, dst));
}

nb_status nb_be_fill(nb_backend *be, size_t n, float value, nb_view x)
{
    if (n == 0) return NB_OK;
    NB_TRY(check_view("nb_be_fill", "x", x, n, NB_F32));
    DISPATCH(be, NB_OP_FILL, 0, 4.0 * n, be->ops->fill(be->ctx, n, value, x));
}

nb_status nb_be_sync(nb_backend *be) { return be->ops->sync ? be->ops->sync(be->ctx) : NB_OK; }

/* ------------------------------------------------------------------ ops */

nb_status nb_be_gemm(nb_backend *be, bool ta, bool tb, size_t M, size_t N, size_t K, float alpha,
                     nb_view A, nb_view B, float beta, nb_view C)
{
    size_t na = 0, nb = 0, nc = 0;
    NB_TRY(check_dims("nb_be_gemm", M, K, &na));
    NB_TRY(check_dims("nb_be_gemm", K, N, &nb));
    NB_TRY(check_dims("nb_be_gemm", M, N, &nc));
    NB_TRY(check_view("nb_be_gemm", "A", A, na, NB_F32));
    NB_TRY(check_view("nb_be_gemm", "B", B, nb, NB_F32));
    NB_TRY(check_view("nb_be_gemm", "C", C, nc, NB_F32));
    if (C.buf == A.buf || C.buf == B.buf) {
        /* Same buffer is fine only if C does not overlap A or B. */
        size_t c0 = C.off, c1 = C.off + nc;
        if ((C.buf == A.buf && A.off < c1 && c0 < A.off + na) ||
            (C.buf == B.buf && B.off < c1 && c0 < B.off + nb))
            return NB_FAIL(NB_ERR_ARG, "nb_be_gemm: C overlaps an input");
    }
    DISPATCH(be, NB_OP_GEMM, 2.0 * M * N * K, 4.0 * (na + nb + (beta != 0.0f ? 2 : 1) * nc),
             be->ops->gemm(be->ctx, ta, tb, M, N, K, alpha, A, B, beta, C));
}

nb_status nb_be_gather_rows(nb_backend *be, size_t rows, size_t cols, size_t src_rows,
                            nb_view src, nb_view idx, nb_view dst)
{
    size_t n = 0, ns = 0;
    NB_TRY(check_dims("nb_be_gather_rows", rows, cols, &n));
    NB_TRY(check_dims("nb_be_gather_rows", src_rows, cols, &ns));
    NB_TRY(check_view("nb_be_gather_rows", "src", src, ns, NB_F32));
    NB_TRY(check_view("nb_be_gather_rows", "idx", idx, rows, NB_I32));
    NB_TRY(check_view("nb_be_gather_rows", "dst", dst, n, NB_F32));
    if (src_rows > INT32_MAX)
        return NB_FAIL(NB_ERR_ARG, "nb_be_gather_rows: %zu source rows exceed int32", src_rows);
    DISPATCH(be, NB_OP_GATHER, 0, 8.0 * n + 4.0 * rows,
             be->ops->gather_rows(be->ctx, rows, cols, src, idx, dst));
}

nb_status nb_be_gemm_epi(nb_backend *be, bool ta, bool tb, size_t M, size_t N, size_t K,
                         float alpha, nb_view A, nb_view B, float beta, nb_view C,
                         const nb_be_epi *e)
{
    const char *op = "nb_be_gemm_epi";
    size_t na = 0, nb = 0, nc = 0;
    if (!e) return nb_be_gemm(be, ta, tb, M, N, K, alpha, A, B, beta, C);
    if ((unsigned)e->kind > (unsigned)NB_EPI_DACT)
        return NB_FAIL(NB_ERR_ARG, "%s: unknown epilogue %d", op, (int)e->kind);
    if (e->kind != NB_EPI_NONE) NB_TRY(check_act(op, e->act));
    if (e->kind != NB_EPI_NONE && nb_act_get(e->act)->rowwise)
        return NB_FAIL(NB_ERR_ARG, "%s: softmax is row-wise: no epilogue", op);
    NB_TRY(check_dims(op, M, K, &na));
    NB_TRY(check_dims(op, K, N, &nb));
    NB_TRY(check_dims(op, M, N, &nc));
    if (e->kind == NB_EPI_BIAS_ACT) NB_TRY(check_view(op, "bias", e->bias, N, NB_F32));
    if (e->kind == NB_EPI_DACT) NB_TRY(check_view(op, "Y", e->Y, nc, NB_F32));
    if (e->colsum.buf) NB_TRY(check_view(op, "colsum", e->colsum, N, NB_F32));
    if (e->colsum.buf && e->colsum_beta != 0.0f && e->colsum_beta != 1.0f)
        return NB_FAIL(NB_ERR_ARG, "%s: colsum_beta %g is not 0 or 1", op, (double)e->colsum_beta);
    if (!be->ops->gemm_epi) { /* the composition, op by op */
        NB_TRY(nb_be_gemm(be, ta, tb, M, N, K, alpha, A, B, beta, C));
        if (e->kind == NB_EPI_BIAS_ACT) NB_TRY(nb_be_bias_act(be, e->act, M, N, e->bias, C));
        if (e->kind == NB_EPI_DACT) NB_TRY(nb_be_act_backward(be, e->act, nc, e->Y, C));
        if (e->colsum.buf) NB_TRY(nb_be_col_sum(be, M, N, e->colsum_beta, C, e->colsum));
        return NB_OK;
    }
    NB_TRY(check_view(op, "A", A, na, NB_F32));
    NB_TRY(check_view(op, "B", B, nb, NB_F32));
    NB_TRY(check_view(op, "C", C, nc, NB_F32));
    if ((C.buf == A.buf && A.off < C.off + nc && C.off < A.off + na) ||
        (C.buf == B.buf && B.off < C.off + nc && C.off < B.off + nb))
        return NB_FAIL(NB_ERR_ARG, "%s: C overlaps an input", op);
    DISPATCH(be, NB_OP_GEMM_EPI, 2.0 * M * N * K,
             4.0 * (na + nb + (beta != 0.0f ? 2 : 1) * nc + (e->kind == NB_EPI_DACT ? nc : 0)),
             be->ops->gemm_epi(be->ctx, ta, tb, M, N, K, alpha, A, B, beta, C, e));
}

nb_status nb_be_bias_act(nb_backend *be, nb_act act, size_t rows, size_t cols, nb_view bias,
                         nb_view Y)
{
    size_t n = 0;
    NB_TRY(check_act("nb_be_bias_act", act));
    NB_TRY(check_dims("nb_be_bias_act", rows, cols, &n));
    NB_TRY(check_view("nb_be_bias_act", "bias", bias, cols, NB_F32));
    NB_TRY(check_view("nb_be_bias_act", "Y", Y, n, NB_F32));
    DISPATCH(be, NB_OP_BIAS_ACT, 0, 8.0 * n, be->ops->bias_act(be->ctx, act, rows, cols, bias, Y));
}

nb_status nb_be_act_backward(nb_backend *be, nb_act act, size_t n, nb_view Y, nb_view dY)
{
    NB_TRY(check_act("nb_be_act_backward", act));
    if (act == NB_ACT_SOFTMAX)
        return NB_FAIL(NB_ERR_ARG, "nb_be_act_backward: softmax is only differentiated through "
                                   "the cross-entropy loss");
    if (n == 0) return NB_OK;
    NB_TRY(check_view("nb_be_act_backward", "Y", Y, n, NB_F32));
    NB_TRY(check_view("nb_be_act_backward", "dY", dY, n, NB_F32));
    DISPATCH(be, NB_OP_ACT_BACKWARD, 0, 12.0 * n, be->ops->act_backward(be->ctx, act, n, Y, dY));
}

nb_status nb_be_loss(nb_backend *be, nb_loss loss, size_t rows, size_t cols, float scale,
                     nb_view out, nb_view target, nb_view dOut, nb_view acc)
{
    size_t n = 0;
    if ((unsigned)loss > (unsigned)NB_LOSS_XENT)
        return NB_FAIL(NB_ERR_ARG, "nb_be_loss: unknown loss %d", (int)loss);
    NB_TRY(check_dims("nb_be_loss", rows, cols, &n));
    NB_TRY(check_view("nb_be_loss", "out", out, n, NB_F32));
    NB_TRY(check_view("nb_be_loss", "target", target, n, NB_F32));
    NB_TRY(check_view("nb_be_loss", "dOut", dOut, n, NB_F32));
    NB_TRY(check_view("nb_be_loss", "acc", acc, 1, NB_F32));
    DISPATCH(be, NB_OP_LOSS, 0, 12.0 * n,
             be->ops->loss(be->ctx, loss, rows, cols, scale, out, target, dOut, acc));
}

nb_status nb_be_col_sum(nb_backend *be, size_t rows, size_t cols, float beta, nb_view dY,
                        nb_view db)
{
    size_t n = 0;
    if (beta != 0.0f && beta != 1.0f)
        return NB_FAIL(NB_ERR_ARG, "nb_be_col_sum: beta %g is not 0 or 1", (double)beta);
    NB_TRY(check_dims("nb_be_col_sum", rows, cols, &n));
    NB_TRY(check_view("nb_be_col_sum", "dY", dY, n, NB_F32));
    NB_TRY(check_view("nb_be_col_sum", "db", db, cols, NB_F32));
    DISPATCH(be, NB_OP_COL_SUM, 0, 4.0 * n, be->ops->col_sum(be->ctx, rows, cols, beta, dY, db));
}

nb_status nb_be_sum_sq(nb_backend *be, size_t n, nb_view x, nb_view out)
{
    if (n == 0) return NB_FAIL(NB_ERR_ARG, "nb_be_sum_sq: empty vector");
    NB_TRY(check_view("nb_be_sum_sq", "x", x, n, NB_F32));
    NB_TRY(check_view("nb_be_sum_sq", "out", out, 1, NB_F32));
    DISPATCH(be, NB_OP_SUM_SQ, 0, 4.0 * n, be->ops->sum_sq(be->ctx, n, x, out));
}

nb_status nb_be_update(nb_backend *be, const nb_optim_step *step, size_t n, nb_view theta,
                       nb_view grad, nb_view state, nb_view gnorm2, nb_view bad)
{
    if (!step) return NB_FAIL(NB_ERR_ARG, "nb_be_update: step is NULL");
    if ((unsigned)step->kind > (unsigned)NB_OPT_ADAMW)
        return NB_FAIL(NB_ERR_ARG, "nb_be_update: unknown optimizer %d", (int)step->kind);
    if (n == 0) return NB_FAIL(NB_ERR_ARG, "nb_be_update: empty parameter vector");
    if (!isfinite(step->lr) || !isfinite(step->bc1) || !isfinite(step->bc2))
        return NB_FAIL(NB_ERR_ARG, "nb_be_update: non-finite step size or bias correction");
    NB_TRY(check_view("nb_be_update", "theta", theta, n, NB_F32));
    NB_TRY(check_view("nb_be_update", "grad", grad, n, NB_F32));
    size_t k = (size_t)nb_optim_state_per_param(step->kind);
    if (k > 0) NB_TRY(check_view("nb_be_update", "state", state, k * n, NB_F32));
    if (step->clip_norm > 0) NB_TRY(check_view("nb_be_update", "gnorm2", gnorm2, 1, NB_F32));
    if (bad.buf) NB_TRY(check_view("nb_be_update", "bad", bad, 1, NB_I32));
    DISPATCH(be, NB_OP_UPDATE, 0, (12.0 + 8.0 * (double)k) * n,
             be->ops->update(be->ctx, step, n, theta, grad, state, gnorm2, bad));
}
