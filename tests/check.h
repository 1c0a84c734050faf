/*
 * check.h — shared test helpers: the one closeness check every numeric
 * test uses, and seeded random fill.
 *
 * Include after <cmocka.h>.
 */
#ifndef NB_TEST_CHECK_H
#define NB_TEST_CHECK_H

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/backend_opts.h"
#include "nabla.h"

/* The backend a test runs on: $NABLA_TEST_DEVICE, or "cpu", made with the
 * NABLA_* variables as backend options, the way the nabla command maps
 * them (host/cli/backend_opts.c), so CTest's ENVIRONMENT properties steer
 * it (NABLA_CPU_ISA, NABLA_CL_GEMM_SMALL, NABLA_CACHE_DIR, …). Prints the
 * device. Returns 0 with *be set; or 0 with *be NULL when the device is an
 * OpenCL one and this machine has no OpenCL (tests then skip, and say
 * "skipped: no OpenCL" with the reason); or -1 on any other failure. */
static inline int nb_test_open_backend(nb_backend **be)
{
    const char *dev = getenv("NABLA_TEST_DEVICE");
    if (!dev || !*dev) dev = "cpu";
    print_message("backend %s\n", dev);
    *be = NULL;
    nb_status st = nb_cli_backend_create(dev, be);
    if (st == NB_ERR_UNSUPPORTED && dev[0] == 'o') {
        print_message("skipped: no OpenCL: %s\n", nb_last_error());
        return 0;
    }
    const char *isa = getenv("NABLA_CPU_ISA");
    if (st == NB_ERR_UNSUPPORTED && isa && *isa) {
        print_message("skipped: NABLA_CPU_ISA=%s: %s\n", isa, nb_last_error());
        return 0;
    }
    if (st != NB_OK) {
        print_error("cannot create backend %s: %s\n", dev, nb_last_error());
        return -1;
    }
    return 0;
}

/* The bundled digits from $NABLA_DATA_DIR (set by CTest); NULL after
 * printing why if they cannot be loaded. */
static inline nb_dataset *nb_test_load_digits(void)
{
    const char *dir = getenv("NABLA_DATA_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/digits.csv", dir ? dir : "data");
    nb_csv_options co;
    nb_csv_options_default(&co);
    nb_dataset *d = NULL;
    if (nb_dataset_load_csv(path, &co, &d) != NB_OK) print_error("%s\n", nb_last_error());
    return d;
}

/*
 * Element-wise |got − want| ≤ atol + rtol·|want| over n values. On failure
 * print the worst index (largest excess over its bound) with both values
 * and fail the test. NaN in got fails unless want is NaN at that index.
 */
#define assert_close(got, want, n, atol, rtol)                                                    \
    nb_assert_close_impl((got), (want), (n), (atol), (rtol), #got, __FILE__, __LINE__)

static inline void nb_assert_close_any(const float *got, const double *wantd,
                                       const float *wantf, size_t n, double atol, double rtol,
                                       const char *what, const char *file, int line)
{
    size_t worst = 0, bad = 0;
    double worst_excess = -1.0;
    for (size_t i = 0; i < n; i++) {
        double g = got[i], w = wantd ? wantd[i] : (double)wantf[i];
        double bound = atol + rtol * fabs(w);
        double err = fabs(g - w);
        int ok = (isnan(w) && isnan(g)) || (isinf(w) && g == w) || err <= bound;
        if (!ok) {
            double excess = isnan(err) ? INFINITY : err - bound;
            bad++;
            if (excess > worst_excess) {
                worst_excess = excess;
                worst = i;
            }
        }
    }
    if (bad) {
        double w = wantd ? wantd[worst] : (double)wantf[worst];
        fprintf(stderr,
                "%s:%d: %s: %zu of %zu values outside atol %g + rtol %g; worst [%zu]: got %.9g "
                "want %.9g\n",
                file, line, what, bad, n, atol, rtol, worst, (double)got[worst], w);
        _fail(file, line);
    }
}

static inline void nb_assert_close_impl(const float *got, const double *want, size_t n,
                                        double atol, double rtol, const char *what,
                                        const char *file, int line)
{
    nb_assert_close_any(got, want, NULL, n, atol, rtol, what, file, line);
}

/* One double against another: |got − want| ≤ atol + rtol·|want|. */
#define assert_close_d(got, want, atol, rtol)                                                     \
    do {                                                                                           \
        double g_ = (got), w_ = (want);                                                            \
        if (!(fabs(g_ - w_) <= (atol) + (rtol) * fabs(w_))) {                                       \
            fprintf(stderr, "%s:%d: %s = %.9g, want %.9g within atol %g + rtol %g\n", __FILE__,    \
                    __LINE__, #got, g_, w_, (double)(atol), (double)(rtol));                       \
            _fail(__FILE__, __LINE__);                                                             \
        }                                                                                          \
    } while (0)

/* Same, with a float reference. */
#define assert_close_f(got, want, n, atol, rtol)                                                  \
    nb_assert_close_any((got), NULL, (want), (n), (atol), (rtol), #got, __FILE__, __LINE__)

#endif
