/*
 * cl_tune_space.c — the GEMM configurations `nabla tune` tries, as rows of
 * gemm.cl's knobs. The rows cover what does well on GPUs (2-D register
 * tiles up to 8×8 per work-item, vector global loads, local tiles padded
 * against bank conflicts, double-buffered K slices) and on CPU devices
 * (no local memory at all, large register blocks whose rows are one wide
 * vector). --quick tries the rows marked for the device's kind only.
 *
 * Every row must be valid for gemm.cl (nb_cl_gemm_invalid); whether it
 * fits a device is decided when it is tried. CTest runs the op tests under
 * Oclgrind once per distinct combination of LOCAL, DB, PAD and VW used
 * here (tests/CMakeLists.txt), and test_cl_tune checks that no row has a
 * combination outside that set.
 */
#include <string.h>

#include "opencl/cl_internal.h"

enum { Q_CPU = 1, Q_GPU = 2 }; /* in the --quick list for that kind of device */

static const int space[][10] = {
    /* TM   TN  TK  WM  WN VW PAD DB LOCAL  quick */
    {64, 64, 16, 4, 4, 4, 1, 0, 1, Q_GPU},       /* the ladder's GPU row             */
    {64, 64, 16, 4, 4, 4, 1, 1, 1, Q_GPU},       /* … double-buffered                */
    {128, 128, 16, 8, 8, 4, 1, 1, 1, Q_GPU},     /* 8×8 per item, 256 items          */
    {128, 64, 16, 8, 4, 4, 1, 0, 1, 0},          /* 8×4 per item                     */
    {64, 64, 32, 8, 8, 4, 0, 1, 1, Q_GPU},       /* 8×8, 64 items, unpadded          */
    {64, 64, 8, 4, 4, 2, 2, 0, 1, 0},            /* thin K slice, wider padding      */
    {32, 32, 16, 4, 4, 4, 1, 0, 1, 0},           /* small GPUs                       */
    {128, 128, 32, 16, 16, 4, 1, 0, 1, Q_CPU},   /* the ladder's CPU row             */
    {128, 128, 32, 16, 16, 4, 1, 1, 1, Q_CPU},   /* … double-buffered                */
    {128, 128, 64, 16, 16, 4, 0, 0, 1, 0},       /* deeper K slice, unpadded (PoCL: 20 s to compile) */
    {64, 64, 1, 16, 16, 1, 0, 0, 0, 0},          /* no local memory, 16 items        */
    {128, 128, 1, 16, 16, 1, 0, 0, 0, 0},        /* no local memory, 64 items        */
    {64, 128, 1, 8, 16, 1, 0, 0, 0, Q_CPU},      /* no local memory, 8×16 blocks     */
    {128, 64, 1, 16, 8, 1, 0, 0, 0, 0},          /* no local memory, 16×8 blocks     */
};

/* The option cl_tune_candidates, "cfg;cfg;..." (each as cl_gemm takes
 * it), replaces the list: a hook for tests and for trying a configuration
 * by hand. A malformed entry is kept as all zeros, which the tuner then
 * skips and counts as over the limits. */
static int from_list(const char *v, nb_cl_tunables *out, int cap)
{
    int n = 0;
    while (*v && n < cap) {
        const char *end = strchr(v, ';');
        size_t len = end ? (size_t)(end - v) : strlen(v);
        nb_cl_tunables t = {0};
        if (!nb_cl_gemm_parse(v, len, &t)) memset(&t, 0, sizeof t);
        out[n++] = t;
        v += len + (end != NULL);
    }
    return n;
}

int nb_cl_tune_candidates(const nb_be_config *cfg, bool cpu, bool quick, nb_cl_tunables *out,
                          int cap)
{
    int n = 0;
    if (cfg && cfg->tune_candidates[0]) return from_list(cfg->tune_candidates, out, cap);
    for (size_t i = 0; i < sizeof space / sizeof *space && n < cap; i++) {
        const int *r = space[i];
        if (quick && !(r[9] & (cpu ? Q_CPU : Q_GPU))) continue;
        nb_cl_tunables t = {0};
        t.gemm_tm = r[0], t.gemm_tn = r[1], t.gemm_tk = r[2], t.gemm_wm = r[3], t.gemm_wn = r[4];
        t.gemm_vw = r[5], t.gemm_pad = r[6], t.gemm_db = r[7], t.gemm_local = r[8];
        out[n++] = t;
    }
    return n;
}
