/*
 * backend_opts.c — the NABLA_* environment variables as nb_backend_options
 * (see backend_opts.h): how the command line, every command that opens a
 * backend and the tests configure the library, in one place.
 */
#include "cli/backend_opts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_pool.h"
#include "status.h"

/* The variable's value, or NULL when it is unset or empty. */
static const char *var(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* A whole decimal number (no sign, space or suffix) into *out. */
static int whole(const char *v, unsigned long long *out)
{
    if (*v < '0' || *v > '9') return 0;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (*end != '\0' || errno == ERANGE) return 0;
    *out = x;
    return 1;
}

static nb_status bytes_var(const char *name, uint64_t *field)
{
    const char *v = var(name);
    unsigned long long x;
    if (!v) return NB_OK;
    if (!whole(v, &x))
        return NB_FAIL(NB_ERR_ARG, "%s='%s': want a whole number", name, v);
    *field = x;
    return NB_OK;
}

/* The cpu threads the command chose itself (0: none); NABLA_THREADS wins. */
static int chosen_threads;

void nb_cli_choose_threads(int n) { chosen_threads = n; }

nb_status nb_cli_backend_options(nb_backend_options *o)
{
    nb_backend_options_default(o);
    o->threads = chosen_threads;
    const char *v;
    /* A thread count is forgiving, as it always was: too many means as
     * many as the library runs, and what is not a count means automatic. */
    if ((v = var("NABLA_THREADS")) && *v >= '0' && *v <= '9') {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        if (*end == '\0' && n >= 1)
            o->threads = errno == ERANGE || n > NB_CPU_MAX_THREADS ? NB_CPU_MAX_THREADS : (int)n;
    }
    o->cpu_isa = var("NABLA_CPU_ISA");
    o->cache_dir = var("NABLA_CACHE_DIR");
    NB_TRY(bytes_var("NABLA_DEVICE_DATA_LIMIT", &o->device_data_limit));
    o->kernel_dir = var("NABLA_KERNEL_DIR");
    v = var("NABLA_CL_AUTO_ANY");
    o->auto_any_device = v && strcmp(v, "1") == 0;
    NB_TRY(bytes_var("NABLA_CL_MAX_WG", &o->cl_max_work_group));
    NB_TRY(bytes_var("NABLA_CL_MAX_LOCAL_MEM", &o->cl_max_local_mem));
    o->cl_gemm = var("NABLA_CL_GEMM");
    if ((v = var("NABLA_CL_GEMM_SMALL"))) {
        char *end;
        double x = strtod(v, &end);
        if (*end || !(x >= 0 && x <= 1e18))
            return NB_FAIL(NB_ERR_ARG, "NABLA_CL_GEMM_SMALL='%s': want a number of "
                                       "multiply-adds >= 0", v);
        o->cl_gemm_small = x;
    }
    v = var("NABLA_CL_RECORD");
    o->cl_use_record = !(v && strcmp(v, "off") == 0);
    o->cl_tune_candidates = var("NABLA_CL_TUNE_CANDIDATES");
    return nb_cli_opencl_library();
}

nb_status nb_cli_opencl_library(void)
{
    /* Setting the same loader again is harmless, so this may run both at
     * start-up and with every set of options. */
    const char *v = var("NABLA_OPENCL_LIBRARY");
    return v ? nb_set_opencl_library(v) : NB_OK;
}

nb_status nb_cli_backend_create(const char *device, nb_backend **out)
{
    nb_backend_options o;
    if (out) *out = NULL;
    NB_TRY(nb_cli_backend_options(&o));
    return nb_backend_create_with(device, &o, out);
}
