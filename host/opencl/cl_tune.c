/*
 * cl_tune.c — the kernels' compile-time parameters, chosen from device
 * queries: the device type, the work-group limit, the per-dimension item
 * limits, the local memory size and the preferred vector width. Nothing
 * assumes a vendor. A CPU device starts from large register blocks (its
 * "work-items" are loop iterations: big blocks vectorise), any other
 * device from the GPU row; every device then steps down a fixed ladder
 * until the configuration fits its limits.
 *
 * Options (nb_backend_options, for tests and experiments): cl_max_work_group
 * and cl_max_local_mem lower the limits, as a small GPU would; cl_gemm =
 * "TM,TN,TK,WM,WN,VW" or "TM,TN,TK,WM,WN,VW,PAD,DB,LOCAL" forces one GEMM
 * configuration (it must still fit the limits).
 *
 * A tuning record written by `nabla tune` for this device, driver and
 * kernel source (cl_record.c) replaces the ladder's choice when it fits the
 * limits; cl_use_record = 0 ignores records (to compare with the ladder).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opencl/cl_internal.h"
#include "status.h"

/* GEMM configurations from large to small: tile TM×TN, K-slice TK,
 * register block WM×WN per work-item. (TM/WM)·(TN/WN) work-items. */
static const int ladder[][5] = {
    {128, 128, 32, 16, 16}, /* 64 items, 33 KiB local: CPU devices (PoCL: 5× the GPU row) */
    {64, 64, 16, 4, 4}, /* 256 items, 8 KiB local: a typical GPU's sweet spot */
    {32, 32, 16, 4, 4}, /*  64 items                                         */
    {32, 32, 8, 2, 2},  /* 256 items                                         */
    {16, 16, 8, 2, 2},  /*  64 items                                         */
    {8, 8, 4, 1, 1},    /*  64 items                                         */
    {4, 4, 4, 1, 1},    /*  16 items                                         */
    {2, 2, 2, 1, 1},    /*   4 items                                         */
    {1, 1, 1, 1, 1},    /*   1 item: any device can run this                 */
};
enum { LADDER_N = sizeof ladder / sizeof ladder[0] };

/* A limit lowered to want, when want is set (> 0) and below the device's. */
static size_t lowered(uint64_t want, size_t dflt)
{
    return want > 0 && want < dflt ? (size_t)want : dflt;
}

static int pow2_floor(size_t x)
{
    int p = 1;
    while ((size_t)p * 2 <= x && p < (1 << 20)) p *= 2;
    return p;
}

/* NABLA_CL_GEMM: exactly six or nine decimal numbers, each 0 … GEMM_MAX,
 * separated by single commas, nothing else; returns how many (0: bad).
 * The bound keeps every product of two of them (work-items, tile areas)
 * far inside 64 bits. Zero passes here and is refused by the checks. */
static const long GEMM_MAX = 1L << 20;

static int parse_gemm(const char *s, long v[9])
{
    for (int i = 0; i < 9; i++) {
        if (*s < '0' || *s > '9') return 0; /* no sign, space or empty field */
        long x = 0;
        for (; *s >= '0' && *s <= '9'; s++) {
            x = 10 * x + (*s - '0');
            if (x > GEMM_MAX) return 0; /* stop before x can overflow */
        }
        v[i] = x;
        if (*s == '\0') return i == 5 || i == 8 ? i + 1 : 0;
        if (*s != ',') return 0;
        s++;
    }
    return 0;
}

int nb_cl_gemm_parse(const char *s, size_t len, nb_cl_tunables *t)
{
    char buf[160];
    long v[9] = {0, 0, 0, 0, 0, 0, 1, 0, 1}; /* PAD, DB, LOCAL default as the ladder's */
    if (len >= sizeof buf) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    int nv = parse_gemm(buf, v);
    if (!nv) return 0;
    t->gemm_tm = (int)v[0], t->gemm_tn = (int)v[1], t->gemm_tk = (int)v[2];
    t->gemm_wm = (int)v[3], t->gemm_wn = (int)v[4], t->gemm_vw = (int)v[5];
    t->gemm_pad = (int)v[6], t->gemm_db = (int)v[7], t->gemm_local = (int)v[8];
    return nv;
}

const char *nb_cl_gemm_invalid(const nb_cl_tunables *t)
{
    /* The same rules as gemm.cl's #error lines, so nothing the host
     * accepts fails to build for a reason it could have known. */
    if (t->gemm_tm < 1 || t->gemm_tn < 1 || t->gemm_tk < 1 || t->gemm_wm < 1 || t->gemm_wn < 1 ||
        t->gemm_tm > GEMM_MAX || t->gemm_tn > GEMM_MAX || t->gemm_tk > GEMM_MAX)
        return "TM, TN, TK, WM, WN must be 1 to 2^20";
    if (t->gemm_tm % t->gemm_wm || t->gemm_tn % t->gemm_wn) return "TM%WM and TN%WN must be 0";
    int wn = t->gemm_wn, vw = t->gemm_vw;
    if (!(wn == 1 || wn == 2 || wn == 4 || wn == 8 || wn == 16)) return "WN must be 1, 2, 4, 8 or 16";
    if (!(vw == 1 || vw == 2 || vw == 4)) return "VW must be 1, 2 or 4";
    if (t->gemm_pad < 0 || t->gemm_pad > 16) return "PAD must be 0 to 16";
    if (t->gemm_db != 0 && t->gemm_db != 1) return "DB must be 0 or 1";
    if (t->gemm_local != 0 && t->gemm_local != 1) return "LOCAL must be 0 or 1";
    if (t->gemm_db && !t->gemm_local) return "DB=1 needs LOCAL=1";
    if (!t->gemm_local && (t->gemm_pad != 0 || vw != 1)) return "LOCAL=0 needs PAD=0 and VW=1";
    return NULL;
}

void nb_cl_gemm_describe(const nb_cl_tunables *t, char *buf, size_t n)
{
    snprintf(buf, n, "%d,%d,%d,%d,%d,%d,%d,%d,%d", t->gemm_tm, t->gemm_tn, t->gemm_tk, t->gemm_wm,
             t->gemm_wn, t->gemm_vw, t->gemm_pad, t->gemm_db, t->gemm_local);
}

size_t nb_cl_gemm_local_bytes(const nb_cl_tunables *t)
{
    /* The A and B tiles of one K-slice with A's padding (gemm.cl: "n" A
     * rows are TK + PAD floats, "t" A rows TM), twice when double-buffered;
     * none without local tiles. Every factor is at most 2^20 (checked). */
    if (!t->gemm_local) return 0;
    size_t tm = (size_t)t->gemm_tm, tn = (size_t)t->gemm_tn, tk = (size_t)t->gemm_tk;
    size_t pad = t->gemm_pad > 0 ? (size_t)t->gemm_pad : 0;
    return (tm * tk + tk * tn + tm * pad) * sizeof(float) * (t->gemm_db ? 2 : 1);
}

int nb_cl_gemm_fits(const nb_cl_tunables *t, const size_t *max_item)
{
    size_t lx = (size_t)(t->gemm_tn / t->gemm_wn), ly = (size_t)(t->gemm_tm / t->gemm_wm);
    return lx * ly <= t->max_wg && lx <= max_item[0] && ly <= max_item[1] &&
           nb_cl_gemm_local_bytes(t) <= t->local_mem;
}

static void set_rung(nb_cl_tunables *t, int i)
{
    t->gemm_tm = ladder[i][0];
    t->gemm_tn = ladder[i][1];
    t->gemm_tk = ladder[i][2];
    t->gemm_wm = ladder[i][3];
    t->gemm_wn = ladder[i][4];
    t->gemm_pad = 1, t->gemm_db = 0, t->gemm_local = 1; /* the ladder's tiles */
    if (t->gemm_vw < 1) t->gemm_vw = 1;
    /* Vector loads only where a work-item owns that many columns. */
    if (t->gemm_vw > t->gemm_wn) t->gemm_vw = t->gemm_wn;
}

int nb_cl_tune_shrink(nb_cl_tunables *t)
{
    t->from_record = 0; /* whatever a record chose is no longer what runs */
    for (int i = 0; i + 1 < LADDER_N; i++) {
        if (ladder[i][0] == t->gemm_tm && ladder[i][1] == t->gemm_tn && ladder[i][2] == t->gemm_tk &&
            ladder[i][3] == t->gemm_wm && ladder[i][4] == t->gemm_wn && t->gemm_local &&
            !t->gemm_db && t->gemm_pad == 1) {
            set_rung(t, i + 1);
            return 1;
        }
    }
    if (t->gemm_tm == 1 && t->gemm_tn == 1) return 0;
    set_rung(t, LADDER_N - 1); /* a forced configuration off the ladder */
    return 1;
}

static nb_status tune(const nb_cl_device *dev, nb_cl_tunables *t, bool use_record)
{
    static const nb_be_config defaults; /* all zeros: every option at its default */
    const nb_be_config *cfg = dev->cfg ? dev->cfg : &defaults;
    memset(t, 0, sizeof *t);
    t->max_wg = lowered(cfg->max_wg, dev->info.max_work_group);
    t->local_mem = lowered(cfg->max_local_mem, (size_t)dev->info.local_mem);
    size_t one_d = t->max_wg < dev->max_item[0] ? t->max_wg : dev->max_item[0];
    t->wg = pow2_floor(one_d < 256 ? one_d : 256);
    bool cpu = strcmp(dev->info.type, "CPU") == 0;
    /* GEMV: a CPU runs a work-group as a loop, so small groups waste less. */
    size_t gemv = cpu ? 16 : 64;
    t->gemv_wg = pow2_floor(one_d < gemv ? one_d : gemv);
    t->gemm_vw = dev->pref_vec_float >= 4 ? 4 : dev->pref_vec_float >= 2 ? 2 : 1;
    /* Below this many multiply-adds a tiled GEMM is launch cost and idle
     * lanes; one work-item per output does the work in a fraction of it.
     * The option cl_gemm_small moves the bound (0: always tile); it was
     * range-checked with the other options. */
    t->gemm_small = cfg->has_gemm_small ? cfg->gemm_small : 32768;

    const char *forced = cfg->gemm;
    if (*forced) {
        long v[9] = {0, 0, 0, 0, 0, 0, 1, 0, 1}; /* PAD, DB, LOCAL default as the ladder's */
        int nv = parse_gemm(forced, v);
        t->gemm_tm = (int)v[0], t->gemm_tn = (int)v[1], t->gemm_tk = (int)v[2];
        t->gemm_wm = (int)v[3], t->gemm_wn = (int)v[4], t->gemm_vw = (int)v[5];
        t->gemm_pad = (int)v[6], t->gemm_db = (int)v[7], t->gemm_local = (int)v[8];
        const char *why = nv ? nb_cl_gemm_invalid(t) : "not six or nine numbers";
        if (why)
            return NB_FAIL(NB_ERR_ARG, "cl_gemm='%s': want TM,TN,TK,WM,WN,VW[,PAD,DB,LOCAL], "
                                       "each 1 to %ld, with TM%%WM = TN%%WN = 0, WN in 1, 2, 4, 8, "
                                       "16 and VW in 1, 2, 4 (%s)", forced, GEMM_MAX, why);
        if (!nb_cl_gemm_fits(t, dev->max_item)) {
            /* Each factor is at most 2^20, so the product fits 64 bits. */
            unsigned long long items =
                (unsigned long long)(v[0] / v[3]) * (unsigned long long)(v[1] / v[4]);
            return NB_FAIL(NB_ERR_ARG, "cl_gemm='%s' needs %llu work-items and %zu bytes of "
                                       "local memory; the device allows %zu and %zu", forced,
                           items, nb_cl_gemm_local_bytes(t), t->max_wg, t->local_mem);
        }
        return NB_OK;
    }
    set_rung(t, cpu ? 0 : 1);
    while (!nb_cl_gemm_fits(t, dev->max_item))
        if (!nb_cl_tune_shrink(t))
            return NB_FAIL(NB_ERR_BACKEND, "no GEMM configuration fits %zu work-items and %zu "
                                           "bytes of local memory", t->max_wg, t->local_mem);
    /* A tuning record replaces the ladder's choice; the test hook for the
     * small-GEMM bound still wins over it. */
    if (use_record && !cfg->no_record &&
        nb_cl_record_apply(dev, t, t->record_note, sizeof t->record_note) && cfg->has_gemm_small)
        t->gemm_small = cfg->gemm_small;
    return NB_OK;
}

nb_status nb_cl_tune(const nb_cl_device *dev, nb_cl_tunables *t) { return tune(dev, t, true); }

nb_status nb_cl_tune_ladder(const nb_cl_device *dev, nb_cl_tunables *t)
{
    return tune(dev, t, false);
}

void nb_cl_tune_options(const nb_cl_tunables *t, char *buf, size_t n)
{
    snprintf(buf, n,
             "-cl-std=CL1.2 -DWG_SIZE=%d -DGEMV_WG=%d -DGEMM_TM=%d -DGEMM_TN=%d -DGEMM_TK=%d "
             "-DGEMM_WM=%d -DGEMM_WN=%d -DGEMM_VW=%d -DGEMM_PAD=%d -DGEMM_DB=%d -DGEMM_LOCAL=%d",
             t->wg, t->gemv_wg, t->gemm_tm, t->gemm_tn, t->gemm_tk, t->gemm_wm, t->gemm_wn,
             t->gemm_vw, t->gemm_pad, t->gemm_db, t->gemm_local);
}
