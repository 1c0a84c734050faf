/*
 * cl_tune_test.c — the forced GEMM configuration NABLA_CL_GEMM, checked
 * against a described device without running one: values whose products
 * overflow an int (65536 × 65536 work-items), values too large for an int,
 * and malformed lists are refused with NB_ERR_ARG and a message naming the
 * variable and the numbers, with no signed overflow on the way (the
 * sanitizer build runs this under UBSan); a configuration that fits is
 * taken as given. Then the tuning records (cl_record.c), also against a
 * described device: a stored record round-trips into nb_cl_tune; a record
 * that does not fit lowered limits, names another device or kernel
 * source, is malformed or out of range, or is a link or writable by
 * others is refused, and the ladder's choice stands.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "opencl/cl_internal.h"

/* A CPU device as PoCL describes one, with generous limits. */
/* The options every device below is tuned under, as a backend's would be. */
static nb_be_config cfg;

static nb_cl_device cpu_device(void)
{
    nb_cl_device d;
    memset(&d, 0, sizeof d);
    d.cfg = &cfg;
    snprintf(d.info.type, sizeof d.info.type, "CPU");
    snprintf(d.info.platform_name, sizeof d.info.platform_name, "Described Platform");
    snprintf(d.info.name, sizeof d.info.name, "described device");
    snprintf(d.info.driver, sizeof d.info.driver, "1.0");
    snprintf(d.info.version, sizeof d.info.version, "OpenCL 1.2");
    d.info.max_work_group = 4096;
    d.info.local_mem = 1 << 20;
    d.max_item[0] = d.max_item[1] = 4096;
    d.pref_vec_float = 4;
    return d;
}

/* Tune with the option cl_gemm = value; returns the status, the message in msg. */
static nb_status tune_with(const char *value, nb_cl_tunables *t, char *msg, size_t n)
{
    nb_cl_device d = cpu_device();
    snprintf(cfg.gemm, sizeof cfg.gemm, "%s", value);
    nb_status st = nb_cl_tune(&d, t);
    cfg.gemm[0] = '\0';
    snprintf(msg, n, "%s", st == NB_OK ? "" : nb_last_error());
    print_message("cl_gemm=%s: %s\n", value, st == NB_OK ? "ok" : msg);
    return st;
}

/* 65536 × 65536 work-items is 2^32: the message must state it exactly. */
static void test_huge_tiles_are_refused_cleanly(void **state)
{
    (void)state;
    nb_cl_tunables t;
    char msg[1024];
    assert_int_equal(tune_with("65536,65536,65536,1,1,1", &t, msg, sizeof msg), NB_ERR_ARG);
    assert_non_null(strstr(msg, "cl_gemm='65536,65536,65536,1,1,1'"));
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
        assert_non_null(strstr(msg, "cl_gemm='"));
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


/* ------------------------------------------------------ tuning records */

static char cache_dir[256];

/* A fresh owner-only cache directory for each test. */
static int fresh_cache(void **state)
{
    (void)state;
    snprintf(cache_dir, sizeof cache_dir, "/tmp/nabla-tune-test-XXXXXX");
    if (!mkdtemp(cache_dir)) return -1;
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.cache_dir, sizeof cfg.cache_dir, "%s", cache_dir);
    return 0;
}

static int drop_cache(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache_dir);
    memset(&cfg, 0, sizeof cfg);
    return system(cmd) == 0 ? 0 : -1;
}

/* A configuration far from the ladder's, so that using it is visible. */
static nb_cl_tunables tuned_config(const nb_cl_device *d)
{
    nb_cl_tunables t;
    assert_int_equal(nb_cl_tune_ladder(d, &t), NB_OK);
    t.gemm_tm = 32, t.gemm_tn = 64, t.gemm_tk = 1, t.gemm_wm = 4, t.gemm_wn = 8;
    t.gemm_vw = 1, t.gemm_pad = 0, t.gemm_db = 0, t.gemm_local = 0;
    t.gemv_wg = 32, t.wg = 128, t.gemm_small = 1000;
    return t;
}

/* The one record file in the cache directory. */
static void record_path(char *buf, size_t n)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls %s/tune-*.txt", cache_dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(buf, (int)n, p));
    buf[strcspn(buf, "\n")] = '\0';
    pclose(p);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_record_round_trips(void **state)
{
    (void)state;
    nb_cl_device d = cpu_device();
    nb_cl_tunables want = tuned_config(&d), got;
    char path[4200];
    assert_int_equal(nb_cl_record_store(&d, &want, path, sizeof path), NB_OK);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600); /* owner-only, as the cache */
    assert_int_equal(nb_cl_tune(&d, &got), NB_OK);
    assert_int_equal(got.from_record, 1);
    char a[128], b[128];
    nb_cl_gemm_describe(&want, a, sizeof a), nb_cl_gemm_describe(&got, b, sizeof b);
    assert_string_equal(a, b);
    assert_int_equal(got.gemv_wg, 32);
    assert_int_equal(got.wg, 128);
    assert_true(got.gemm_small == 1000.0);
    /* cl_use_record = 0: the ladder's choice. */
    cfg.no_record = true;
    assert_int_equal(nb_cl_tune(&d, &got), NB_OK);
    cfg.no_record = false;
    assert_int_equal(got.from_record, 0);
    assert_int_equal(got.gemm_local, 1);
}

/* A record made for a big device, on the same device under the limits of a
 * small GPU: refused, with a note, and the ladder picks within the limits. */
static void test_record_must_fit_the_limits(void **state)
{
    (void)state;
    nb_cl_device d = cpu_device();
    nb_cl_tunables want = tuned_config(&d), got;
    char path[4200];
    assert_int_equal(nb_cl_record_store(&d, &want, path, sizeof path), NB_OK);
    cfg.max_wg = 16; /* the record needs 8 x 8 = 64 work-items */
    assert_int_equal(nb_cl_tune(&d, &got), NB_OK);
    assert_int_equal(got.from_record, 0);
    assert_non_null(strstr(got.record_note, "does not fit the device's limits"));
    assert_true((size_t)(got.gemm_tm / got.gemm_wm) * (size_t)(got.gemm_tn / got.gemm_wn) <= 16);
    assert_true(got.wg <= 16 && got.gemv_wg <= 16);
}

/* Each damaged record is refused and the ladder's choice stands. */
static void test_bad_records_are_refused(void **state)
{
    (void)state;
    nb_cl_device d = cpu_device();
    nb_cl_tunables want = tuned_config(&d), got;
    char path[4200], good[1100];
    assert_int_equal(nb_cl_record_store(&d, &want, path, sizeof path), NB_OK);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(good, 1, sizeof good - 1, f);
    fclose(f);
    good[n] = '\0';
    const char *gemm = strstr(good, "gemm ");
    assert_non_null(gemm);
    static const struct { const char *from, *to, *why; } edits[] = {
        {"gemm 32,64,1,4,8,1,0,0,0", "gemm 32,64,1,4,8,1,0,1,0", "refuses"},   /* DB without LOCAL */
        {"gemm 32,64,1,4,8,1,0,0,0", "gemm 32,64,1,4,3,1,0,0,0", "refuses"},   /* WN 3        */
        {"gemm 32,64,1,4,8,1,0,0,0", "gemm 32,64,1,4,8,1,0,0", "malformed"},   /* 8 numbers   */
        {"gemm 32,64,1,4,8,1,0,0,0", "gemm 32,64,1,4,8,1,0,0,0 ", "malformed"}, /* a space   */
        {"gemm 32,64,1,4,8,1,0,0,0", "gemm 99999999999999999999,64,1,4,8,1,0,0,0", "malformed"},
        {"gemm 32,64,1,4,8,1,0,0,0", "gemm -32,64,1,4,8,1,0,0,0", "malformed"},
        {"gemv_wg 32", "gemv_wg 48", "power of two"},
        {"wg 128", "wg 0", "malformed"},
        {"gemm_small 1000", "gemm_small 1e3", "malformed"},
        {"gemm_small 1000", "gemm_small 99999999999999", "malformed"},   /* over 2^40 */
        {"nabla-tune 1", "nabla-tune 2", "malformed"},
        {"key ", "key 0", "another device"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof *edits; i++) {
        char text[1200];
        const char *at = strstr(good, edits[i].from);
        assert_non_null(at);
        snprintf(text, sizeof text, "%.*s%s%s", (int)(at - good), good, edits[i].to,
                 at + strlen(edits[i].from));
        write_file(path, text);
        assert_int_equal(nb_cl_tune(&d, &got), NB_OK);
        print_message("record edit %zu: %s\n", i, got.record_note);
        assert_int_equal(got.from_record, 0);
        assert_non_null(strstr(got.record_note, edits[i].why));
        assert_int_equal(got.gemm_local, 1); /* the ladder's */
    }
    /* Over 1 KiB, and empty. */
    char big[2000];
    memset(big, 'x', sizeof big - 1), big[sizeof big - 1] = '\0';
    write_file(path, big);
    assert_int_equal(nb_cl_tune(&d, &got), NB_OK);
    assert_int_equal(got.from_record, 0);
    assert_non_null(strstr(got.record_note, "over 1 KiB"));
    /* Writable by others, then a link to a good record. */
    write_file(path, good);
    assert_int_equal(chmod(path, 0666), 0);
    assert_int_equal(nb_cl_tune(&d, &got), NB_OK);
    assert_int_equal(got.from_record, 0);
    assert_non_null(strstr(got.record_note, "is writable by others"));
    char other[4300];
    snprintf(other, sizeof other, "%s.real", path);
    assert_int_equal(rename(path, other), 0);
    assert_int_equal(chmod(other, 0600), 0);
    assert_int_equal(symlink(other, path), 0);
    assert_int_equal(nb_cl_tune(&d, &got), NB_OK);
    assert_int_equal(got.from_record, 0);
    assert_non_null(strstr(got.record_note, "is a symbolic link"));
    /* And the good record itself is used (so the refusals above were the edits). */
    unlink(path);
    assert_int_equal(rename(other, path), 0);
    assert_int_equal(nb_cl_tune(&d, &got), NB_OK);
    assert_int_equal(got.from_record, 1);
}

/* Another driver version: another key, so no record applies. */
static void test_record_is_per_driver(void **state)
{
    (void)state;
    nb_cl_device d = cpu_device();
    nb_cl_tunables want = tuned_config(&d), got;
    char path[4200], found[4200];
    assert_int_equal(nb_cl_record_store(&d, &want, path, sizeof path), NB_OK);
    record_path(found, sizeof found);
    assert_string_equal(found, path);
    snprintf(d.info.driver, sizeof d.info.driver, "1.1");
    assert_int_equal(nb_cl_tune(&d, &got), NB_OK);
    assert_int_equal(got.from_record, 0);
    assert_string_equal(got.record_note, ""); /* simply none for this driver */
}

/* Every candidate is valid for gemm.cl, and its combination of the knobs
 * that shape the kernel's code (LOCAL, DB, PAD != 0, VW) is one that
 * CTest runs under Oclgrind (tests/CMakeLists.txt, test_backend_ops_oclgrind_*). */
static void test_candidates_are_covered_by_oclgrind(void **state)
{
    (void)state;
    static const int covered[][4] = {/* LOCAL DB PAD>0 VW */
                                     {1, 0, 1, 4}, {1, 1, 1, 4}, {1, 1, 0, 4}, {1, 0, 0, 4},
                                     {1, 0, 1, 2}, {0, 0, 0, 1}};
    nb_cl_tunables c[64];
    cfg.tune_candidates[0] = '\0';
    for (int kind = 0; kind < 2; kind++) {
        int n = nb_cl_tune_candidates(&cfg, kind == 1, false, c, 64);
        assert_true(n > 4);
        for (int i = 0; i < n; i++) {
            assert_null(nb_cl_gemm_invalid(&c[i]));
            int hit = 0;
            for (size_t k = 0; k < sizeof covered / sizeof *covered; k++)
                hit |= covered[k][0] == c[i].gemm_local && covered[k][1] == c[i].gemm_db &&
                       covered[k][2] == (c[i].gemm_pad > 0) && covered[k][3] == c[i].gemm_vw;
            char d[128];
            nb_cl_gemm_describe(&c[i], d, sizeof d);
            print_message("candidate %s\n", d);
            assert_true(hit);
        }
    }
}

/* Random damage to a good record, a few thousand times (under the
 * sanitizers in the ASan build): each result is either refused, leaving
 * the ladder's choice, or a configuration gemm.cl accepts, within the
 * limits, with power-of-two work-groups. Never a crash or overflow. */
static void test_mutated_records_never_slip_through(void **state)
{
    (void)state;
    nb_cl_device d = cpu_device();
    nb_cl_tunables want = tuned_config(&d), got;
    char path[4200], good[1100];
    assert_int_equal(nb_cl_record_store(&d, &want, path, sizeof path), NB_OK);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(good, 1, sizeof good - 1, f);
    fclose(f);
    static const char alphabet[] = "0123456789,\n -+xe";
    uint32_t rng = 12345;
    int used = 0;
    for (int it = 0; it < 3000; it++) {
        char text[1200];
        size_t len = n;
        memcpy(text, good, n);
        for (int m = 0; m < 1 + it % 3; m++) {
            rng = rng * 1664525u + 1013904223u;
            size_t at = (rng >> 8) % len;
            int op = (int)((rng >> 4) % 3);
            char c = alphabet[(rng >> 20) % (sizeof alphabet - 1)];
            if (op == 0) text[at] = c;                                  /* replace */
            else if (op == 1 && len > 1) memmove(text + at, text + at + 1, --len - at); /* delete */
            else if (len + 1 < sizeof text) memmove(text + at + 1, text + at, len++ - at), text[at] = c;
        }
        f = fopen(path, "w");
        assert_non_null(f);
        fwrite(text, 1, len, f);
        fclose(f);
        assert_int_equal(nb_cl_tune(&d, &got), NB_OK);
        if (!got.from_record) continue;
        used++;
        assert_null(nb_cl_gemm_invalid(&got));
        assert_true(nb_cl_gemm_fits(&got, d.max_item));
        assert_true(got.wg >= 1 && (got.wg & (got.wg - 1)) == 0 && (size_t)got.wg <= got.max_wg);
        assert_true(got.gemv_wg >= 1 && (got.gemv_wg & (got.gemv_wg - 1)) == 0);
        assert_true(got.gemm_small >= 0 && got.gemm_small <= 1099511627776.0);
    }
    print_message("%d of 3000 damaged records were still valid and used\n", used);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_huge_tiles_are_refused_cleanly),
        cmocka_unit_test(test_bad_values_are_refused),
        cmocka_unit_test(test_fitting_configuration_is_used),
        cmocka_unit_test_setup_teardown(test_record_round_trips, fresh_cache, drop_cache),
        cmocka_unit_test_setup_teardown(test_record_must_fit_the_limits, fresh_cache, drop_cache),
        cmocka_unit_test_setup_teardown(test_bad_records_are_refused, fresh_cache, drop_cache),
        cmocka_unit_test_setup_teardown(test_record_is_per_driver, fresh_cache, drop_cache),
        cmocka_unit_test_setup_teardown(test_mutated_records_never_slip_through, fresh_cache, drop_cache),
        cmocka_unit_test(test_candidates_are_covered_by_oclgrind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
