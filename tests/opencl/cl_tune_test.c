/*
 * cl_tune_test.c — the forced GEMM configuration NABLA_CL_GEMM, checked
 * against a described device without running one: values whose products
 * overflow an int (65536 × 65536 work-items), values too large for an int,
 * and malformed lists are refused with NB_ERR_ARG and a message naming the
 * variable and the numbers, with no signed overflow on the way (the
 * sanitizer build runs this under UBSan); a configuration that fits is
 * taken as given.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opencl/cl_backend.h"

/* A CPU device as PoCL describes one, with generous limits. */
static nb_cl_device cpu_device(void)
{
    nb_cl_device d;
    memset(&d, 0, sizeof d);
    snprintf(d.info.type, sizeof d.info.type, "CPU");
    d.info.max_work_group = 4096;
    d.info.local_mem = 1 << 20;
    d.max_item[0] = d.max_item[1] = 4096;
    d.pref_vec_float = 4;
    return d;
}

/* Tune under NABLA_CL_GEMM=value; returns the status, the message in msg. */
static nb_status tune_with(const char *value, nb_cl_tunables *t, char *msg, size_t n)
{
    nb_cl_device d = cpu_device();
    setenv("NABLA_CL_GEMM", value, 1);
    nb_status st = nb_cl_tune(&d, t);
    unsetenv("NABLA_CL_GEMM");
    snprintf(msg, n, "%s", st == NB_OK ? "" : nb_last_error());
    print_message("NABLA_CL_GEMM=%s: %s\n", value, st == NB_OK ? "ok" : msg);
    return st;
}

/* 65536 × 65536 work-items is 2^32: the message must state it exactly. */
static void test_huge_tiles_are_refused_cleanly(void **state)
{
    (void)state;
    nb_cl_tunables t;
    char msg[1024];
    assert_int_equal(tune_with("65536,65536,65536,1,1,1", &t, msg, sizeof msg), NB_ERR_ARG);
    assert_non_null(strstr(msg, "NABLA_CL_GEMM='65536,65536,65536,1,1,1'"));
    assert_non_null(strstr(msg, "4294967296 work-items"));
    assert_non_null(strstr(msg, "the device allows 4096"));
    /* A K-slice that alone needs more local memory than the device has. */
    assert_int_equal(tune_with("4,4,65536,1,1,1", &t, msg, sizeof msg), NB_ERR_ARG);
    assert_non_null(strstr(msg, "local memory"));
}

/* Numbers an int cannot hold, or out of range, or not numbers at all. */
static void test_bad_values_are_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "99999999999,1,1,1,1,1",          /* over INT_MAX                   */
        "2147483648,2147483648,1,1,1,1", /* INT_MAX + 1                    */
        "1048577,1,1,1,1,1",              /* over the per-value bound       */
        "-4,4,4,1,1,1",   "0,4,4,1,1,1",  "4,4,4,1,1",    "4,4,4,1,1,1,1",
        "4,4,4,1,1,3",    "4,4,4,3,1,1",  " 4,4,4,1,1,1", "4,4,4,1,1,1 ",
        "4,,4,1,1,1",     "4,4,4,1,1,x",  "+4,4,4,1,1,1", "4,4,4,1,32,1",
    };
    nb_cl_tunables t;
    char msg[1024];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(tune_with(bad[i], &t, msg, sizeof msg), NB_ERR_ARG);
        assert_non_null(strstr(msg, "NABLA_CL_GEMM='"));
    }
}

/* A configuration that fits is used exactly as given. */
static void test_fitting_configuration_is_used(void **state)
{
    (void)state;
    nb_cl_tunables t;
    char msg[1024];
    assert_int_equal(tune_with("32,64,16,4,8,2", &t, msg, sizeof msg), NB_OK);
    assert_int_equal(t.gemm_tm, 32);
    assert_int_equal(t.gemm_tn, 64);
    assert_int_equal(t.gemm_tk, 16);
    assert_int_equal(t.gemm_wm, 4);
    assert_int_equal(t.gemm_wn, 8);
    assert_int_equal(t.gemm_vw, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_huge_tiles_are_refused_cleanly),
        cmocka_unit_test(test_bad_values_are_refused),
        cmocka_unit_test(test_fitting_configuration_is_used),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
