/*
 * ops_util.h — what the op tests share (include once per test file, after
 * <cmocka.h>): the backend under test, a seeded RNG, and device buffers
 * whose payload sits between guard regions holding a sentinel bit pattern
 * that every op must leave untouched.
 */
#ifndef NB_TEST_OPS_UTIL_H
#define NB_TEST_OPS_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "check.h"
#include "rng.h"
#include "schedule.h"

enum { GUARD = 67 };                   /* sentinel elements on each side */
static const uint32_t SENTINEL = 0x7fc0de11u; /* a NaN no op produces   */
static const double U = 0x1p-24;       /* float unit roundoff            */

static nb_backend *be;
static nb_rng rng;
static int small; /* NABLA_TEST_SMALL: every size ≤ 70, for Oclgrind's slow simulator */

/* A test's size, capped in small mode (67 keeps it odd and off tile edges). */
static inline size_t S(size_t n) { return small && n > 70 ? 67 : n; }

/* Without the device (e.g. no OpenCL platform) every test skips. */
#define NEED_BACKEND(state)                                                                        \
    do {                                                                                           \
        (void)(state);                                                                             \
        if (!be) skip();                                                                           \
    } while (0)

/* A device buffer of n elements placed at offset GUARD, guards set. */
typedef struct gbuf {
    nb_buf b;
    size_t n;
} gbuf;

static void gput(gbuf *g, const void *src);

static inline gbuf gnew(size_t n, nb_dtype dt)
{
    gbuf g = {{0}, n};
    assert_int_equal(nb_be_alloc(be, &g.b, n + 2 * GUARD, dt), NB_OK);
    gput(&g, NULL);
    return g;
}
static inline nb_view gv(const gbuf *g) { return nb_view_at(&g->b, GUARD); }

/* Set the guards to the sentinel and the payload to src (n elements; NULL:
 * sentinel too). The whole buffer goes in one write from offset 0:
 * Oclgrind 21.10 wrongly reports data written by a write at a non-zero
 * offset as uninitialised when a kernel reads it. */
static inline void gput(gbuf *g, const void *src)
{
    size_t total = g->n + 2 * GUARD;
    uint32_t *all = malloc(total * 4);
    assert_non_null(all);
    for (size_t i = 0; i < total; i++) all[i] = SENTINEL;
    if (src) memcpy(all + GUARD, src, g->n * 4);
    assert_int_equal(nb_be_write(be, &g->b, 0, all, total), NB_OK);
    free(all);
}

/* Read the payload into dst and check that both guards are intact. */
static inline void gget(const gbuf *g, void *dst)
{
    size_t total = g->n + 2 * GUARD;
    uint32_t *all = malloc(total * 4);
    assert_non_null(all);
    assert_int_equal(nb_be_read(be, &g->b, 0, all, total), NB_OK);
    for (size_t i = 0; i < GUARD; i++) {
        if (all[i] != SENTINEL || all[GUARD + g->n + i] != SENTINEL) {
            print_error("guard overwritten at %s %zu\n", all[i] != SENTINEL ? "head" : "tail", i);
            fail();
        }
    }
    memcpy(dst, all + GUARD, g->n * 4);
    free(all);
}

static inline void gfree(gbuf *g) { nb_be_free(be, &g->b); }

static inline float *randv(size_t n, float lo, float hi)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++) v[i] = lo + (hi - lo) * nb_rng_uniform(&rng);
    return v;
}

static inline double *to_double(const float *f, size_t n)
{
    double *d = malloc((n ? n : 1) * sizeof *d);
    assert_non_null(d);
    for (size_t i = 0; i < n; i++) d[i] = f[i];
    return d;
}

static inline int setup(void **state)
{
    (void)state;
    uint64_t seed = 20261124;
    nb_rng_seed(&rng, seed, NB_STREAM_TEST);
    const char *sm = getenv("NABLA_TEST_SMALL");
    small = sm && *sm && strcmp(sm, "0") != 0;
    print_message("seed %llu%s\n", (unsigned long long)seed, small ? ", small sizes" : "");
    return nb_test_open_backend(&be);
}

static inline int teardown(void **state)
{
    (void)state;
    nb_backend_free(be);
    return 0;
}

#endif
