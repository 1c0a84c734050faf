/*
 * cl_internal.h — the OpenCL backend's private header, shared by the files
 * of host/opencl/ only (the rest of nabla sees the backend through
 * backend.h): device choice (cl_device.c), tunables (cl_tune.c,
 * cl_tune_space.c, cl_record.c, cl_tuner.c), programs and the binary cache
 * (cl_program.c, cl_fs.c), launches and ops (cl_backend.c, cl_ops.c).
 */
#ifndef NB_CL_INTERNAL_H
#define NB_CL_INTERNAL_H

#include <stdbool.h>

#include "backend.h"
#include "opencl/cl_api.h"

/* A chosen device with what nabla needs to know about it. */
typedef struct nb_cl_device {
    cl_platform_id platform;
    cl_device_id id;
    nb_device_info info;
    size_t max_item[2]; /* CL_DEVICE_MAX_WORK_ITEM_SIZES in dimensions 0 and 1 */
    unsigned pref_vec_float;
    /* The options it is used with (borrowed from its owner: the backend's
     * context or the tuner); NULL: the defaults. */
    const nb_be_config *cfg;
} nb_cl_device;

/* Compile-time parameters of the kernels, passed with -D. */
typedef struct nb_cl_tunables {
    int wg;                                     /* 1-D kernels: work-group size (2^k)   */
    int gemm_tm, gemm_tn, gemm_tk, gemm_wm, gemm_wn, gemm_vw;
    int gemm_pad;                               /* floats padding each "n" A tile row   */
    int gemm_db;                                /* 1: double-buffered K slices          */
    int gemm_local;                             /* 0: operands read from global memory  */
    int from_record;                            /* 1: chosen by a tuning record         */
    char record_note[512];                      /* why a record was refused, or ""      */
    int gemv_wg;                                /* GEMV work-group size (2^k)           */
    double gemm_small;                          /* M·N·K up to which a GEMM runs one    *
                                                 * work-item per output (0: never)      */
    size_t max_wg;                              /* limits the choice was made under     */
    size_t local_mem;
} nb_cl_tunables;

/* Every kernel nabla launches; the names are the kernels' names. */
#define NB_CL_KERNELS(X)                                                                           \
    X(gemm_nn) X(gemm_nt) X(gemm_tn) X(gemm_tt) X(gemv_n) X(gemv_t) X(gemm_small_nn)              \
    X(gemm_small_nt) X(gemm_small_tn) X(gemm_small_tt) X(gather_rows) X(fill)                     \
    X(bias_act) X(bias_softmax) X(act_backward) X(loss_sum) X(reduce_sum) X(col_sum_part)         \
    X(col_sum_final) X(sum_sq_part) X(update)                                                     \
    X(gemm_epi_nn) X(gemm_epi_nt) X(gemm_small_epi_nn) X(gemm_small_epi_nt)

typedef enum nb_cl_kernel {
#define NB_CL_K_ENUM(name) K_##name,
    NB_CL_KERNELS(NB_CL_K_ENUM)
#undef NB_CL_K_ENUM
    K_COUNT
} nb_cl_kernel;

/* An event to time once it completes, with the op it belongs to. */
typedef struct nb_cl_pending {
    cl_event ev;
    nb_op op;
} nb_cl_pending;

enum { NB_CL_PENDING_MAX = 1024 };

typedef struct nb_cl_ctx {
    nb_be_profile *prof; /* the backend's profile: device times go there */
    nb_be_config cfg;    /* the backend's options; dev.cfg points here   */
    nb_cl_device dev;
    nb_cl_tunables t;
    cl_context context;
    cl_command_queue queue;
    cl_program program;
    cl_kernel k[K_COUNT];
    size_t kwg[K_COUNT];  /* CL_KERNEL_WORK_GROUP_SIZE of each kernel */
    cl_mem scratch;       /* reduction partials, grown on demand        */
    size_t scratch_n;     /* floats                                     */
    nb_cl_pending pending[NB_CL_PENDING_MAX];
    int n_pending;
} nb_cl_ctx;

/* ---- cl_device.c ---- */
/* Pick a device: spec NULL = "opencl" (device_pick.c); "P.D" = that one.
 * out->cfg becomes cfg (borrowed; NULL: the defaults). */
nb_status nb_cl_pick_device(const char *spec, const nb_be_config *cfg, nb_cl_device *out);

/* ---- cl_tune.c ---- */
/* Choose tunables for the device within its limits, lowered by dev->cfg's
 * max_wg and max_local_mem; dev->cfg's gemm and gemm_small override the
 * choice, and no_record keeps a tuning record out of it. */
nb_status nb_cl_tune(const nb_cl_device *dev, nb_cl_tunables *t);
/* Step down to the next smaller GEMM configuration; 0 if none is left. */
int nb_cl_tune_shrink(nb_cl_tunables *t);
/* The -D options for the tunables. */
void nb_cl_tune_options(const nb_cl_tunables *t, char *buf, size_t n);
/* Local memory bytes the GEMM kernels use with these tunables. */
size_t nb_cl_gemm_local_bytes(const nb_cl_tunables *t);
/* Parse len bytes "TM,TN,TK,WM,WN,VW[,PAD,DB,LOCAL]" (decimal, 0 to 2^20)
 * into t's GEMM knobs; how many numbers (6 or 9), 0 if malformed. */
int nb_cl_gemm_parse(const char *s, size_t len, nb_cl_tunables *t);
/* NULL if the GEMM knobs are values gemm.cl accepts, else what is wrong. */
const char *nb_cl_gemm_invalid(const nb_cl_tunables *t);
/* Does the GEMM configuration fit t's limits and the item limits? */
int nb_cl_gemm_fits(const nb_cl_tunables *t, const size_t *max_item);
/* The GEMM configuration in words, "TM,TN,TK,WM,WN,VW,PAD,DB,LOCAL". */
void nb_cl_gemm_describe(const nb_cl_tunables *t, char *buf, size_t n);

/* ---- cl_program.c ---- */
/* Build (or load from the cache) the program and create every kernel;
 * the build time, whether it came from the cache, and any note about the
 * cache go to facts. */
nb_status nb_cl_build(nb_cl_ctx *c, nb_backend_facts *facts);
void nb_cl_program_release(nb_cl_ctx *c);
/* The kernel sources as built (embedded, or from cfg's kernel_dir; cfg
 * NULL: embedded), in build order, owned by the caller; and the hash
 * tuning records carry. */
nb_status nb_cl_sources(const nb_be_config *cfg, char ***texts, int *n);
void nb_cl_sources_free(char **texts, int n);
uint64_t nb_cl_sources_hash(const char *const *texts, int n);

/* ---- cl_tune_space.c ---- */
/* The GEMM knobs of the tuner's candidates (the rest of each entry is
 * zero), for a CPU device or not, all or the --quick ones, or cfg's
 * tune_candidates when given (cfg may be NULL); how many. */
int nb_cl_tune_candidates(const nb_be_config *cfg, bool cpu, bool quick, nb_cl_tunables *out,
                          int cap);
/* ---- cl_tune_wg.c ---- */
/* The tuner's reduction and element-wise work-group size for req's first
 * network: each candidate checked against the reference through a whole
 * backend, then timed; best->wg changes only for a faster one. */
struct nb_tune_request;
nb_status nb_cl_tune_wg(const nb_cl_device *dev, const struct nb_tune_request *req,
                        nb_cl_tunables *best);

/* ---- cl_tune.c ---- */
/* The configuration nb_cl_tune chooses, but never from a record. */
nb_status nb_cl_tune_ladder(const nb_cl_device *dev, nb_cl_tunables *t);

/* ---- cl_record.c ---- */
/* Apply the device's tuning record to t, if there is a valid one that
 * fits t's limits: 1 applied, 0 none (t untouched). A record that is
 * refused (not trusted, malformed, out of range, stale) is ignored, and
 * note (n bytes) says why when it is not merely absent or stale. */
int nb_cl_record_apply(const nb_cl_device *dev, nb_cl_tunables *t, char *note, size_t n);
/* Store t's tunables as the device's record; NB_OK or why not. */
nb_status nb_cl_record_store(const nb_cl_device *dev, const nb_cl_tunables *t, char *path,
                             size_t n);

/* ---- cl_backend.c ---- */
/*
 * The one launch helper: global sizes are rounded up to multiples of the
 * local sizes, and the local size and local memory are checked against the
 * kernel's and device's limits first (the error names both numbers).
 */
nb_status nb_cl_launch(nb_cl_ctx *c, nb_cl_kernel k, cl_uint dims, const size_t *global,
                       const size_t *local, size_t local_mem_bytes);
/* Make sure the scratch buffer holds at least n floats. */
nb_status nb_cl_scratch(nb_cl_ctx *c, size_t n);
/* Record an event for the profile (takes ownership of ev). */
nb_status nb_cl_track(nb_cl_ctx *c, cl_event ev);
/* Buffer ops and life cycle, for the ops table in cl_ops.c. */
void nb_cl_destroy(void *ctx);
nb_status nb_cl_buf_alloc(void *ctx, nb_buf *b);
void nb_cl_buf_free(void *ctx, nb_buf *b);
nb_status nb_cl_buf_write(void *ctx, nb_buf *dst, size_t off, const void *src, size_t n);
nb_status nb_cl_buf_read(void *ctx, const nb_buf *src, size_t off, void *dst, size_t n);
nb_status nb_cl_copy(void *ctx, size_t n, nb_view src, nb_view dst);
nb_status nb_cl_buf_borrow(void *ctx, nb_buf *b, const void *host);
nb_status nb_cl_buf_write_async(void *ctx, nb_buf *dst, size_t off, const void *src, size_t n,
                                void **ticket);
nb_status nb_cl_write_wait(void *ctx, void *ticket);
nb_status nb_cl_sync(void *ctx);

/* ---- cl_ops.c ---- */
extern const nb_backend_ops nb_cl_ops_table;

/* Set kernel argument i to a value of any type; the call text names it. */
#define CL_ARG(c, kid, i, v)                                                                       \
    do {                                                                                           \
        __typeof__(v) cl_arg_v_ = (v);                                                             \
        CL_TRY(nb_cl.clSetKernelArg((c)->k[(kid)], (i), sizeof cl_arg_v_, &cl_arg_v_));            \
    } while (0)

#endif
