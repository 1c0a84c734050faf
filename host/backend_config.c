/*
 * backend_config.c — nb_backend_options: their defaults, and the one check
 * of every field before a backend is made from them (backend_config.h).
 */
#include "backend_config.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "cpu/cpu_pool.h"
#include "status.h"

/* The first version's size: every later version is at least this big. */
#define V1_SIZE (offsetof(nb_backend_options, cl_tune_candidates) + sizeof(const char *))

void nb_backend_options_default(nb_backend_options *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->cl_gemm_small = -1; /* the built-in bound */
    o->cl_use_record = 1;
}

/* Copy the optional string s (NULL or "" leave dst "") for field name. */
static nb_status copy_str(char *dst, size_t cap, const char *s, const char *name)
{
    dst[0] = '\0';
    if (!s) return NB_OK;
    size_t len = strlen(s);
    if (len >= cap)
        return NB_FAIL(NB_ERR_ARG, "nb_backend_options: %s is %zu bytes long, at most %zu", name,
                       len, cap - 1);
    memcpy(dst, s, len + 1);
    return NB_OK;
}

static nb_status zero_or_one(int v, const char *name)
{
    if (v != 0 && v != 1)
        return NB_FAIL(NB_ERR_ARG, "nb_backend_options: %s = %d, want 0 or 1", name, v);
    return NB_OK;
}

nb_status nb_be_config_from(const nb_backend_options *user, nb_be_config *c)
{
    memset(c, 0, sizeof *c);
    if (!user) return NB_OK;
    if (user->size < V1_SIZE || user->size > sizeof *user)
        return NB_FAIL(NB_ERR_ARG, "nb_backend_options: size = %zu, want %zu to %zu (fill the "
                       "options with nb_backend_options_default)", user->size, (size_t)V1_SIZE,
                       sizeof *user);
    /* An older caller's struct is shorter: the fields it lacks keep their
     * defaults. */
    nb_backend_options o;
    nb_backend_options_default(&o);
    memcpy(&o, user, user->size);

    if (o.threads < 0 || o.threads > NB_CPU_MAX_THREADS)
        return NB_FAIL(NB_ERR_ARG, "nb_backend_options: threads = %d, want 0 (automatic) to %d",
                       o.threads, NB_CPU_MAX_THREADS);
    c->threads = o.threads;
    if (o.cpu_isa && *o.cpu_isa && strcmp(o.cpu_isa, "avx512") != 0 &&
        strcmp(o.cpu_isa, "avx2") != 0 && strcmp(o.cpu_isa, "generic") != 0)
        return NB_FAIL(NB_ERR_ARG, "nb_backend_options: cpu_isa = '%.64s', want avx512, avx2, "
                       "generic or NULL", o.cpu_isa);
    NB_TRY(copy_str(c->cpu_isa, sizeof c->cpu_isa, o.cpu_isa, "cpu_isa"));
    if (o.cache_dir && strcmp(o.cache_dir, "off") == 0) c->cache_off = true;
    else NB_TRY(copy_str(c->cache_dir, sizeof c->cache_dir, o.cache_dir, "cache_dir"));
    c->data_limit = o.device_data_limit;
    NB_TRY(copy_str(c->kernel_dir, sizeof c->kernel_dir, o.kernel_dir, "kernel_dir"));
    NB_TRY(zero_or_one(o.auto_any_device, "auto_any_device"));
    c->auto_any = o.auto_any_device == 1;
    c->max_wg = o.cl_max_work_group;
    c->max_local_mem = o.cl_max_local_mem;
    /* The configuration itself is checked against the device when the
     * backend is tuned (opencl/cl_tune.c), which names this field. */
    NB_TRY(copy_str(c->gemm, sizeof c->gemm, o.cl_gemm, "cl_gemm"));
    if (isnan(o.cl_gemm_small) || o.cl_gemm_small > 1e18)
        return NB_FAIL(NB_ERR_ARG, "nb_backend_options: cl_gemm_small = %g, want 0 to 1e18 "
                       "multiply-adds, or negative for the built-in bound", o.cl_gemm_small);
    c->has_gemm_small = o.cl_gemm_small >= 0;
    c->gemm_small = c->has_gemm_small ? o.cl_gemm_small : 0;
    NB_TRY(zero_or_one(o.cl_use_record, "cl_use_record"));
    c->no_record = o.cl_use_record == 0;
    NB_TRY(copy_str(c->tune_candidates, sizeof c->tune_candidates, o.cl_tune_candidates,
                    "cl_tune_candidates"));
    return NB_OK;
}
