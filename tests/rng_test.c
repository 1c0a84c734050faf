/*
 * rng_test.c — the project RNG: a fixed stream per seed, streams that
 * differ, and unbiased bounded draws and shuffles.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "rng.h"

/* A seed must mean the same run everywhere, so the stream is pinned: the
 * expected words come from an independent implementation of the published
 * algorithms (splitmix64 seeding, then xoshiro256**) written in Python,
 * not from this code. */
static void test_stream_is_pinned(void **state)
{
    (void)state;
    nb_rng a;
    nb_rng_seed(&a, 1, NB_STREAM_INIT);
    assert_int_equal(nb_rng_next(&a), 0xbaa24e21d05c2935ull);
    assert_int_equal(nb_rng_next(&a), 0x19ac350577648864ull);
    assert_int_equal(nb_rng_next(&a), 0x7ef054b7f95a306aull);
    nb_rng_seed(&a, 12345, NB_STREAM_SHUFFLE);
    assert_int_equal(nb_rng_next(&a), 0xfbcb2ad843871032ull);
    assert_int_equal(nb_rng_next(&a), 0x3ac30d235edec4afull);
    assert_int_equal(nb_rng_next(&a), 0x03d82fe2836a372eull);
}

/* Streams of one seed must not be copies of each other. */
static void test_streams_differ(void **state)
{
    (void)state;
    nb_rng a, b;
    nb_rng_seed(&a, 1, NB_STREAM_INIT);
    nb_rng_seed(&b, 1, NB_STREAM_SHUFFLE);
    int same = 0;
    for (int i = 0; i < 100; i++) same += nb_rng_next(&a) == nb_rng_next(&b);
    assert_int_equal(same, 0);
}

static void test_uniform_range_and_mean(void **state)
{
    (void)state;
    nb_rng r;
    nb_rng_seed(&r, 42, NB_STREAM_TEST);
    double s = 0.0;
    const int n = 100000;
    for (int i = 0; i < n; i++) {
        float u = nb_rng_uniform(&r);
        assert_true(u >= 0.0f && u < 1.0f);
        s += u;
    }
    /* Mean of n uniforms has std 1/sqrt(12 n) ≈ 9.1e-4; 6 sigma is 5.5e-3. */
    assert_true(s / n > 0.5 - 5.5e-3 && s / n < 0.5 + 5.5e-3);
}

static void test_below_is_unbiased(void **state)
{
    (void)state;
    nb_rng r;
    nb_rng_seed(&r, 7, NB_STREAM_TEST);
    int count[3] = {0, 0, 0};
    const int n = 30000;
    for (int i = 0; i < n; i++) {
        uint64_t v = nb_rng_below(&r, 3);
        assert_true(v < 3);
        count[v]++;
    }
    /* Each count ~ Binomial(n, 1/3): std ≈ 81.6; allow 6 sigma (490). */
    for (int k = 0; k < 3; k++) assert_true(count[k] > n / 3 - 490 && count[k] < n / 3 + 490);
}

static void test_shuffle_is_a_permutation(void **state)
{
    (void)state;
    nb_rng r;
    nb_rng_seed(&r, 3, NB_STREAM_SHUFFLE);
    int32_t idx[257];
    int seen[257];
    for (int i = 0; i < 257; i++) idx[i] = i;
    nb_rng_shuffle_i32(&r, idx, 257);
    memset(seen, 0, sizeof seen);
    int moved = 0;
    for (int i = 0; i < 257; i++) {
        assert_true(idx[i] >= 0 && idx[i] < 257);
        seen[idx[i]]++;
        moved += idx[i] != i;
    }
    for (int i = 0; i < 257; i++) assert_int_equal(seen[i], 1);
    assert_true(moved > 200); /* a shuffle that leaves most in place is broken */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_is_pinned),
        cmocka_unit_test(test_streams_differ),
        cmocka_unit_test(test_uniform_range_and_mean),
        cmocka_unit_test(test_below_is_unbiased),
        cmocka_unit_test(test_shuffle_is_a_permutation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
