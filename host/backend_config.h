/*
 * backend_config.h — nb_backend_options as a backend keeps them (private):
 * checked once by nb_be_config_from, with every string copied in, so a
 * backend never holds the caller's pointers and no deeper code has to
 * check a value again. All zeros is the defaults, so code that has no
 * options (a NULL config) behaves exactly as with the defaults.
 */
#ifndef NB_BACKEND_CONFIG_H
#define NB_BACKEND_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "nabla.h"

enum { NB_OPT_PATH_MAX = 4001 }; /* the header's "at most 4000 bytes", and the NUL */

typedef struct nb_be_config {
    int threads;                  /* 0: automatic                             */
    char cpu_isa[16];             /* "": the best the CPU runs                */
    bool cache_off;               /* no cache directory at all                */
    char cache_dir[NB_OPT_PATH_MAX]; /* "": the default location              */
    uint64_t data_limit;          /* bytes; 0: half the device memory        */
    char kernel_dir[NB_OPT_PATH_MAX]; /* "": the built-in kernels              */
    bool auto_any;                /* auto counts CPU devices as GPUs          */
    uint64_t max_wg, max_local_mem; /* 0: the device's                       */
    char gemm[160];               /* "": no forced GEMM configuration         */
    bool has_gemm_small;          /* gemm_small given                         */
    double gemm_small;
    bool no_record;               /* ignore tuning records                    */
    char tune_candidates[NB_OPT_PATH_MAX]; /* "": the built-in list           */
} nb_be_config;

/* Check o (NULL: the defaults) and copy it into *c. NB_ERR_ARG naming the
 * field and value for anything out of range. */
nb_status nb_be_config_from(const nb_backend_options *o, nb_be_config *c);

#endif
