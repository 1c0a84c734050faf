/*
 * tune.h — the OpenCL autotuner behind `nabla tune`: it times candidate
 * kernel configurations on one device at the GEMM shapes of the given
 * networks, checks each against the reference first, and stores the
 * winners as the device's tuning record (host/opencl/cl_record.c), which
 * every later OpenCL backend on that device uses.
 */
#ifndef NB_TUNE_H
#define NB_TUNE_H

#include <stdbool.h>
#include <stddef.h>

#include "nabla.h"

enum { NB_TUNE_MAX_NETS = 8, NB_TUNE_MAX_WIDTHS = 16 };

/* One network the tuner times: its layer widths and rows per step. */
typedef struct nb_tune_net {
    const char *name;               /* for the report, e.g. "W1"          */
    int widths[NB_TUNE_MAX_WIDTHS]; /* input, hidden…, output             */
    int n_widths;
    size_t batch;
} nb_tune_net;

typedef struct nb_tune_request {
    const char *spec;               /* NULL: the first GPU, else the first device; or "P.D" */
    nb_tune_net nets[NB_TUNE_MAX_NETS];
    int n_nets;
    bool quick;                     /* fewer candidates and repetitions   */
    bool store;                     /* write the record (false: only report) */
    /* The options the device is tuned under (the cache directory the
     * record goes to, kernel_dir, the cl_* limits and candidates); NULL:
     * the defaults. Borrowed for the call. */
    const nb_backend_options *options;
    /* Called with one line of progress each (may be NULL). */
    void (*progress)(void *user, const char *line);
    void *user;
} nb_tune_request;

typedef struct nb_tune_report {
    char device[192];
    char ladder[192], winner[192];  /* the configurations, in words       */
    double ladder_ms[NB_TUNE_MAX_NETS], winner_ms[NB_TUNE_MAX_NETS];
                                    /* tiled-GEMM time of one step per net */
    int tried, timed;               /* GEMM candidates tried, and timed   */
    int skipped_limit, skipped_build, skipped_check;
    int gemv_wg, wg;                /* the other winners                  */
    double gemm_small;
    char record[4200];              /* where the record went, or ""       */
    double seconds;
} nb_tune_report;

/* Run the tuner. NB_ERR_UNSUPPORTED without OpenCL; NB_ERR_BACKEND when
 * the device fails or no candidate passes (the record is then left as it
 * was). */
nb_status nb_tune_run(const nb_tune_request *req, nb_tune_report *rep);

#endif
