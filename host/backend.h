/*
 * backend.h — the backend interface (private).
 *
 * A backend is a table of function pointers plus a context. Its ops are
 * the building blocks of one training step; the model, trainer and
 * descent schedule are written once against them and never know which
 * backend runs.
 *
 * Only host/backend.c calls through the table: its nb_be_* wrappers check
 * every argument (shapes, views in bounds, enum ranges) once, so a backend
 * implementation may assume valid input. Everyone else calls nb_be_*.
 *
 * Buffers hold n 4-byte elements (float32 or int32) in the backend's memory
 * (host RAM for cpu, device memory for OpenCL). Ops address them through
 * views: a buffer plus an element offset, so one allocation can hold many
 * named tensors. Matrices are row-major and contiguous.
 */
#ifndef NB_BACKEND_H
#define NB_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend_config.h"
#include "nabla.h"
#include "optim_math.h"

typedef enum nb_dtype { NB_F32 = 0, NB_I32 = 1 } nb_dtype;

typedef struct nb_buf {
    void *handle;   /* backend's own: float* on cpu, cl_mem on OpenCL */
    size_t n;       /* elements                                       */
    nb_dtype dtype; /* what the elements are                          */
    bool borrowed;  /* the memory is the caller's (nb_be_borrow)      */
} nb_buf;

/* A tensor inside a buffer: elements [off, off + extent). */
typedef struct nb_view {
    const nb_buf *buf;
    size_t off;
} nb_view;

static inline nb_view nb_view_at(const nb_buf *b, size_t off)
{
    nb_view v = {b, off};
    return v;
}

/* Op ids, for profiles. */
typedef enum nb_op {
    NB_OP_WRITE = 0, NB_OP_READ, NB_OP_COPY, NB_OP_FILL, NB_OP_GEMM, NB_OP_GATHER,
    NB_OP_BIAS_ACT, NB_OP_ACT_BACKWARD, NB_OP_LOSS, NB_OP_COL_SUM, NB_OP_SUM_SQ, NB_OP_UPDATE,
    NB_OP_GEMM_EPI, NB_OP_COUNT
} nb_op;

/* What a fused GEMM does to C's final values, as a tile is written. */
typedef enum nb_epi_kind {
    NB_EPI_NONE = 0,
    NB_EPI_BIAS_ACT, /* C = act(C + bias[j]): a layer's forward output         */
    NB_EPI_DACT      /* C *= act'(Y[i][j]), act' written through the outputs Y:
                        the delta of the layer below, from a backward GEMM    */
} nb_epi_kind;

/* A fused GEMM's epilogue, with its tensors as views. */
typedef struct nb_be_epi {
    nb_epi_kind kind;
    nb_act act;          /* not softmax (row-wise)                               */
    nb_view bias;        /* BIAS_ACT: (N)                                        */
    nb_view Y;           /* DACT: (M, N), the same layout as C                    */
    nb_view colsum;      /* (N), or .buf NULL: = Σ_i C_ij of the final C + beta · */
    float colsum_beta;   /* colsum's old value; 0 or 1                            */
} nb_be_epi;

typedef struct nb_prof {
    uint64_t calls;
    double seconds, flops, bytes;
} nb_prof;

typedef struct nb_backend_ops {
    const char *name;
    /* Nonzero: the backend times its own ops (e.g. with device events)
     * into the nb_be_profile it was made with; otherwise the dispatch
     * layer times each call. */
    int self_timed;
    void (*destroy)(void *ctx);

    /* Buffers. alloc fills b->handle for b->n elements (contents undefined). */
    nb_status (*buf_alloc)(void *ctx, nb_buf *b);
    void (*buf_free)(void *ctx, nb_buf *b);
    /* Make b (b->n elements) read the caller's host memory in place, with
     * no copy; ops only read it. Optional: for backends, or devices, that
     * compute in host memory (the cpu; OpenCL CPU devices through
     * CL_MEM_USE_HOST_PTR). buf_free then releases nothing of the caller's. */
    nb_status (*buf_borrow)(void *ctx, nb_buf *b, const void *host);
    nb_status (*buf_write)(void *ctx, nb_buf *dst, size_t off, const void *src, size_t n);
    nb_status (*buf_read)(void *ctx, const nb_buf *src, size_t off, void *dst, size_t n);
    /* buf_write that may return before the copy is done, for double
     * buffering: src must stay unchanged until write_wait(ctx, *ticket).
     * *ticket is the backend's handle of the copy, NULL when it is already
     * done. Optional: NULL makes nb_be_write_async a blocking buf_write. */
    nb_status (*buf_write_async)(void *ctx, nb_buf *dst, size_t off, const void *src, size_t n,
                                 void **ticket);
    /* Start queued work, wait for the copy behind ticket, release it. */
    nb_status (*write_wait)(void *ctx, void *ticket);
    /* dst[0..n) = src[0..n), both views of float buffers. */
    nb_status (*copy)(void *ctx, size_t n, nb_view src, nb_view dst);
    /* x[0..n) = value. */
    nb_status (*fill)(void *ctx, size_t n, float value, nb_view x);
    /* Wait for queued work (optional: NULL for synchronous backends). */
    nb_status (*sync)(void *ctx);
    /* b's elements as host memory the caller may read and write in place
     * between ops. Optional, and only for synchronous backends whose
     * buffers are host memory (the cpu); NULL: copy with read and write. */
    void *(*buf_host)(void *ctx, nb_buf *b);

    /* C (M, N) = alpha · op(A) · op(B) + beta · C, row-major; op(A) is
     * (M, K), so A is stored (M, K) or, transposed, (K, M); likewise B.
     * beta == 0 overwrites C without reading it. */
    nb_status (*gemm)(void *ctx, bool ta, bool tb, size_t M, size_t N, size_t K, float alpha,
                      nb_view A, nb_view B, float beta, nb_view C);
    /* The same with e applied to the final C (nb_be_epi). Optional: NULL
     * makes the dispatch layer compose gemm, bias_act or act_backward, and
     * col_sum, which is also what the result must equal within rounding. */
    nb_status (*gemm_epi)(void *ctx, bool ta, bool tb, size_t M, size_t N, size_t K, float alpha,
                          nb_view A, nb_view B, float beta, nb_view C, const nb_be_epi *e);
    /* dst (rows, cols) row i = src row idx[i]; idx is an int32 view. */
    nb_status (*gather_rows)(void *ctx, size_t rows, size_t cols, nb_view src, nb_view idx,
                             nb_view dst);
    /* Y (rows, cols) = act(Y + bias) in place; bias (cols). Softmax is row-wise. */
    nb_status (*bias_act)(void *ctx, nb_act act, size_t rows, size_t cols, nb_view bias,
                          nb_view Y);
    /* dY (n) *= act'(z) written in terms of the output Y (n). Not for softmax. */
    nb_status (*act_backward)(void *ctx, nb_act act, size_t n, nb_view Y, nb_view dY);
    /* For out and target (rows, cols):
     *   MSE : loss_r = Σ_c (out − t)²,              dOut = scale · 2 (out − t)
     *   XENT: out holds logits z; loss_r = Σ_c t_c (lse(z) − z_c),
     *         dOut = scale · (softmax(z) · Σ_c t_c − t)
     * and acc[0] += Σ_r loss_r, summed in a fixed order (deterministic). */
    nb_status (*loss)(void *ctx, nb_loss loss, size_t rows, size_t cols, float scale,
                      nb_view out, nb_view target, nb_view dOut, nb_view acc);
    /* db (cols) = Σ_r dY[r, :] + beta · db; beta ∈ {0, 1}. */
    nb_status (*col_sum)(void *ctx, size_t rows, size_t cols, float beta, nb_view dY,
                         nb_view db);
    /* out[0] = Σ x², deterministic. */
    nb_status (*sum_sq)(void *ctx, size_t n, nb_view x, nb_view out);
    /* θ (n) ← one optimizer step from g (n); state holds k·n floats (k from
     * nb_optim_state_per_param: m, then v). With clip_norm > 0, gnorm2 (one
     * float, on the backend) is ‖g‖², so clipping needs no read-back. If
     * bad (one int32) is given, it is set to 1 when any new θ is NaN or Inf
     * and left alone otherwise. One launch (one loop). */
    nb_status (*update)(void *ctx, const nb_optim_step *step, size_t n, nb_view theta,
                        nb_view grad, nb_view state, nb_view gnorm2, nb_view bad);
} nb_backend_ops;

/* What a backend reports about itself when it is made. */
typedef struct nb_backend_facts {
    char name[192];
    char note[16384];         /* what the user should know (a kernel cache not
                               * used), or ""; "auto" puts here why it fell
                               * back (with any build log)                */
    double build_seconds;     /* program build time                       */
    int build_cached;         /* 1 cached, 0 compiled, -1 no program      */
    uint64_t data_budget;     /* bytes of data a run may keep resident    */
    uint64_t max_alloc;       /* largest single buffer, bytes             */
    bool counts_launches;     /* runs kernels and counts them (profile)   */
    char tuning[192];         /* OpenCL: the kernel configuration in use, *
                               * "" for a backend without one             */
    int tuned;                /* 1: that configuration is from a tuning   *
                               * record (nabla tune), 0: the built-in one */
    int threads;              /* cpu: worker threads; 0 on a device        */
} nb_backend_facts;

/* The profile of a backend's ops, kept by the dispatch layer while on. A
 * self-timed backend adds each launch's device seconds to op[cur_op]. */
typedef struct nb_be_profile {
    bool on;
    nb_op cur_op;             /* the op being dispatched                  */
    nb_prof op[NB_OP_COUNT];
    uint64_t launches;        /* kernels enqueued since the last reset,
                               * counted on or off by a backend that sets
                               * facts.counts_launches                      */
} nb_be_profile;

struct nb_backend {
    const nb_backend_ops *ops;
    void *ctx;
    nb_backend_facts facts;
    nb_be_profile prof;
};

/*
 * A backend's constructor, listed once in backend.c's table of backends.
 * spec is NULL, or SPEC of a device named "name:SPEC"; cfg is the checked
 * options (never NULL), which it copies what it needs from. It fills *ops, *ctx
 * and facts (which come zeroed, with build_cached = -1), and keeps prof,
 * which outlives ctx, if it times its own ops; it never sees the
 * nb_backend around them. On failure it leaves nothing allocated.
 */
typedef nb_status (*nb_backend_ctor)(const char *spec, const nb_be_config *cfg,
                                     nb_be_profile *prof, nb_backend_facts *facts,
                                     const nb_backend_ops **ops, void **ctx);
nb_status nb_cpu_backend_create(const char *spec, const nb_be_config *cfg, nb_be_profile *prof,
                                nb_backend_facts *facts, const nb_backend_ops **ops, void **ctx);
/* spec: NULL for the default device, or "P.D". */
nb_status nb_cl_backend_create(const char *spec, const nb_be_config *cfg, nb_be_profile *prof,
                               nb_backend_facts *facts, const nb_backend_ops **ops, void **ctx);
/* The same with these kernel tunables instead of the tuning record's or the
 * built-in ones (the tuner's trial backends; they must fit the device). */
struct nb_cl_tunables;
nb_status nb_cl_backend_create_tuned(const char *spec, const nb_be_config *cfg,
                                     const struct nb_cl_tunables *force, nb_be_profile *prof,
                                     nb_backend_facts *facts, const nb_backend_ops **ops,
                                     void **ctx);
/* A whole OpenCL backend ("P.D") built with those tunables. */
nb_status nb_backend_create_tuned(const char *spec, const nb_be_config *cfg,
                                  const struct nb_cl_tunables *force, nb_backend **out);

/* ---- checked dispatch: the only callers of the ops table ---- */
nb_status nb_be_alloc(nb_backend *be, nb_buf *b, size_t n, nb_dtype dtype);
void nb_be_free(nb_backend *be, nb_buf *b); /* tolerates a never-allocated b */
/* b becomes n elements of host, read in place, which must outlive b and
 * not change while b is used; ops must only read b. NB_ERR_UNSUPPORTED
 * when the backend cannot (then allocate and upload instead). */
nb_status nb_be_borrow(nb_backend *be, nb_buf *b, size_t n, nb_dtype dtype, const void *host);
nb_status nb_be_write(nb_backend *be, nb_buf *dst, size_t off, const void *src, size_t n);
nb_status nb_be_read(nb_backend *be, const nb_buf *src, size_t off, void *dst, size_t n);
/* A float buffer's elements in host memory, to work on in place (an
 * all-reduce across processes), when the backend keeps them there; NULL
 * otherwise (then nb_be_read and nb_be_write). Borrowed buffers: NULL. */
float *nb_be_host_f32(nb_backend *be, nb_buf *b);
/* An upload that may still be running when it returns: *ticket (NULL
 * before) must go to nb_be_write_wait before src is changed or freed. */
nb_status nb_be_write_async(nb_backend *be, nb_buf *dst, size_t off, const void *src, size_t n,
                            void **ticket);
/* Wait for *ticket's upload (no-op for NULL) and set it to NULL. */
nb_status nb_be_write_wait(nb_backend *be, void **ticket);
nb_status nb_be_copy(nb_backend *be, size_t n, nb_view src, nb_view dst);
nb_status nb_be_fill(nb_backend *be, size_t n, float value, nb_view x);
nb_status nb_be_sync(nb_backend *be);
nb_status nb_be_gemm(nb_backend *be, bool ta, bool tb, size_t M, size_t N, size_t K, float alpha,
                     nb_view A, nb_view B, float beta, nb_view C);
/* A GEMM fused with what the training step does next to its output: a
 * forward layer's bias and activation, or the backward delta's activation
 * derivative, and the column sums of the result (the bias gradient). One
 * op on backends that fuse it, the composition on the others. */
nb_status nb_be_gemm_epi(nb_backend *be, bool ta, bool tb, size_t M, size_t N, size_t K,
                         float alpha, nb_view A, nb_view B, float beta, nb_view C,
                         const nb_be_epi *e);
nb_status nb_be_gather_rows(nb_backend *be, size_t rows, size_t cols, size_t src_rows,
                            nb_view src, nb_view idx, nb_view dst);
nb_status nb_be_bias_act(nb_backend *be, nb_act act, size_t rows, size_t cols, nb_view bias,
                         nb_view Y);
nb_status nb_be_act_backward(nb_backend *be, nb_act act, size_t n, nb_view Y, nb_view dY);
nb_status nb_be_loss(nb_backend *be, nb_loss loss, size_t rows, size_t cols, float scale,
                     nb_view out, nb_view target, nb_view dOut, nb_view acc);
nb_status nb_be_col_sum(nb_backend *be, size_t rows, size_t cols, float beta, nb_view dY,
                        nb_view db);
nb_status nb_be_sum_sq(nb_backend *be, size_t n, nb_view x, nb_view out);
nb_status nb_be_update(nb_backend *be, const nb_optim_step *step, size_t n, nb_view theta,
                       nb_view grad, nb_view state, nb_view gnorm2, nb_view bad);

#endif
