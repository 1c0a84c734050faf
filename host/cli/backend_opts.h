/*
 * backend_opts.h — the one place the `nabla` command (and the tests, which
 * link the same file) turn the NABLA_* environment variables into
 * nb_backend_options. The library itself reads none of them.
 */
#ifndef NB_CLI_BACKEND_OPTS_H
#define NB_CLI_BACKEND_OPTS_H

#include "nabla.h"

/*
 * o = the defaults, then every variable below that is set and not empty:
 *   NABLA_THREADS            threads (a whole number; above 64 counts as 64;
 *                            anything else leaves the automatic count)
 *   NABLA_CPU_ISA            cpu_isa
 *   NABLA_CACHE_DIR          cache_dir ("off": none)
 *   NABLA_DEVICE_DATA_LIMIT  device_data_limit (bytes, a whole number)
 *   NABLA_KERNEL_DIR         kernel_dir
 *   NABLA_CL_AUTO_ANY        auto_any_device ("1" only)
 *   NABLA_CL_MAX_WG          cl_max_work_group (a whole number)
 *   NABLA_CL_MAX_LOCAL_MEM   cl_max_local_mem (bytes, a whole number)
 *   NABLA_CL_GEMM            cl_gemm
 *   NABLA_CL_GEMM_SMALL      cl_gemm_small (multiply-adds, >= 0)
 *   NABLA_CL_RECORD          cl_use_record ("off": 0)
 *   NABLA_CL_TUNE_CANDIDATES cl_tune_candidates
 * and NABLA_OPENCL_LIBRARY goes to nb_set_opencl_library (process-wide).
 * The strings point into the environment, so they stay valid while it is
 * not changed. NB_ERR_ARG naming the variable and its value when one is
 * malformed.
 */
nb_status nb_cli_backend_options(nb_backend_options *o);

/* The cpu backend's thread count when NABLA_THREADS does not set one
 * (e.g. a rank's share of the node's CPUs); 0: the library's default. */
void nb_cli_choose_threads(int n);

/* NABLA_OPENCL_LIBRARY, when set, to nb_set_opencl_library: main() calls
 * this before any command, since the loader is opened once per process. */
nb_status nb_cli_opencl_library(void);

/* nb_backend_create_with(device, the options above). */
nb_status nb_cli_backend_create(const char *device, nb_backend **out);

#endif
