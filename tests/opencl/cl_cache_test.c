/*
 * cl_cache_test.c — the on-disk cache of compiled programs: the second
 * backend on a device loads the program instead of compiling it; a
 * corrupt, truncated or foreign entry is ignored and rebuilt, never handed
 * to the driver; "off" disables the cache. Skips without OpenCL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "nabla.h"

static char dir[256];
static char entry[600]; /* the one cache file, once it exists */

static int setup(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/nabla-cache-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) return -1;
    setenv("NABLA_CACHE_DIR", dir, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Create the OpenCL backend; return whether its program came from the cache. */
static int open_cached(void)
{
    nb_backend *be = NULL;
    nb_status st = nb_backend_create("opencl", &be);
    if (st == NB_ERR_UNSUPPORTED) {
        print_message("skipped: no OpenCL: %s\n", nb_last_error());
        skip();
    }
    if (st != NB_OK) {
        print_error("%s\n", nb_last_error());
        fail();
    }
    /* The program must work whichever way it was made: run one op. */
    nb_buf b;
    float v = 0.0f;
    assert_int_equal(nb_be_alloc(be, &b, 3, NB_F32), NB_OK);
    assert_int_equal(nb_be_fill(be, 3, 2.5f, nb_view_at(&b, 0)), NB_OK);
    assert_int_equal(nb_be_read(be, &b, 2, &v, 1), NB_OK);
    assert_true(v == 2.5f);
    nb_be_free(be, &b);
    double seconds;
    int cached;
    nb_backend_build_info(be, &seconds, &cached);
    nb_backend_free(be);
    assert_true(cached == 0 || cached == 1);
    return cached;
}

static void find_entry(void)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, "cl-", 3) == 0) snprintf(entry, sizeof entry, "%s/%s", dir, e->d_name), n++;
    closedir(d);
    assert_int_equal(n, 1); /* one device, one option set: one entry, no temp files */
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void test_second_start_is_cached(void **state)
{
    (void)state;
    assert_int_equal(open_cached(), 0);
    find_entry();
    assert_int_equal(open_cached(), 1);
}

/* Flip one byte in the payload: detected by its hash, rebuilt, rewritten. */
static void test_corrupt_entry_is_rebuilt(void **state)
{
    (void)state;
    if (!entry[0]) skip();
    long n = file_size(entry);
    FILE *f = fopen(entry, "r+b");
    assert_non_null(f);
    fseek(f, n / 2, SEEK_SET);
    int c = fgetc(f);
    fseek(f, n / 2, SEEK_SET);
    fputc(c ^ 0x40, f);
    fclose(f);
    assert_int_equal(open_cached(), 0);
    assert_int_equal(open_cached(), 1); /* the rebuild replaced the bad entry */
}

static void test_truncated_and_foreign_entries(void **state)
{
    (void)state;
    if (!entry[0]) skip();
    assert_int_equal(truncate(entry, file_size(entry) / 3), 0);
    assert_int_equal(open_cached(), 0);
    FILE *f = fopen(entry, "wb"); /* not a cache file at all */
    assert_non_null(f);
    fputs("hello", f);
    fclose(f);
    assert_int_equal(open_cached(), 0);
    assert_int_equal(open_cached(), 1);
}

static void test_cache_off(void **state)
{
    (void)state;
    if (!entry[0]) skip();
    setenv("NABLA_CACHE_DIR", "off", 1);
    assert_int_equal(open_cached(), 0);
    assert_int_equal(open_cached(), 0);
    setenv("NABLA_CACHE_DIR", dir, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_start_is_cached),
        cmocka_unit_test(test_corrupt_entry_is_rebuilt),
        cmocka_unit_test(test_truncated_and_foreign_entries),
        cmocka_unit_test(test_cache_off),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
