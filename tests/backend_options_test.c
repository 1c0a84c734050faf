/*
 * backend_options_test.c — nb_backend_options through the public API:
 *   - two backends made with different options in one process differ as
 *     asked (threads 1 and 2; a cache directory honoured, and "off");
 *   - a bad field is NB_ERR_ARG naming the field and its value, and a
 *     size from no known version of the struct is refused;
 *   - the NABLA_* variables no longer reach a backend the library makes:
 *     set to values that would change it, they change nothing.
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

#include "nabla.h"

static void test_threads_differ(void **state)
{
    (void)state;
    nb_backend_options o;
    nb_backend_options_default(&o);
    nb_backend *one = NULL, *two = NULL;
    o.threads = 1;
    assert_int_equal(nb_backend_create_with("cpu", &o, &one), NB_OK);
    o.threads = 2;
    assert_int_equal(nb_backend_create_with("cpu", &o, &two), NB_OK);
    assert_int_equal(nb_backend_threads(one), 1);
    assert_int_equal(nb_backend_threads(two), 2);
    nb_backend_free(one);
    nb_backend_free(two);
}

/* Each field out of range: NB_ERR_ARG, and the message names it. */
static void test_bad_fields_are_named(void **state)
{
    (void)state;
    static const struct { const char *field, *value; } cases[] = {
        {"threads", "-1"},        {"threads", "65"},         {"cpu_isa", "'sse9'"},
        {"auto_any_device", "2"}, {"cl_use_record", "7"},    {"cl_gemm_small", "nan"},
        {"cl_gemm_small", "2e+18"}, {"size", "3"},
    };
    char longpath[5000];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = '\0';
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        nb_backend_options o;
        nb_backend_options_default(&o);
        const char *f = cases[i].field;
        if (!strcmp(f, "threads")) o.threads = atoi(cases[i].value);
        if (!strcmp(f, "cpu_isa")) o.cpu_isa = "sse9";
        if (!strcmp(f, "auto_any_device")) o.auto_any_device = 2;
        if (!strcmp(f, "cl_use_record")) o.cl_use_record = 7;
        if (!strcmp(f, "cl_gemm_small")) o.cl_gemm_small = strtod(cases[i].value, NULL);
        if (!strcmp(f, "size")) o.size = 3;
        nb_backend *be = NULL;
        assert_int_equal(nb_backend_create_with("cpu", &o, &be), NB_ERR_ARG);
        assert_null(be);
        const char *msg = nb_last_error();
        print_message("%s = %s: %s\n", f, cases[i].value, msg);
        assert_non_null(strstr(msg, f));
        assert_non_null(strstr(msg, cases[i].value));
    }
    /* Strings over their bound are refused as well, by name. */
    nb_backend_options o;
    nb_backend_options_default(&o);
    o.cache_dir = longpath;
    nb_backend *be = NULL;
    assert_int_equal(nb_backend_create_with("cpu", &o, &be), NB_ERR_ARG);
    assert_non_null(strstr(nb_last_error(), "cache_dir"));
    /* NULL options are the defaults. */
    assert_int_equal(nb_backend_create_with("cpu", NULL, &be), NB_OK);
    nb_backend_free(be);
}

/* The environment is not read: variables that would change a backend
 * (under the old hooks) change nothing. */
static void test_environment_is_ignored(void **state)
{
    (void)state;
    nb_backend *plain = NULL, *env = NULL;
    unsetenv("NABLA_THREADS");
    unsetenv("NABLA_CPU_ISA");
    assert_int_equal(nb_backend_create("cpu", &plain), NB_OK);
    int automatic = nb_backend_threads(plain);
    /* A count the automatic one is not, and an instruction set that does
     * not exist (which a backend reading it would refuse). */
    setenv("NABLA_THREADS", automatic == 1 ? "2" : "1", 1);
    setenv("NABLA_CPU_ISA", "no-such-isa", 1);
    setenv("NABLA_CL_GEMM_SMALL", "lots", 1);
    assert_int_equal(nb_backend_create("cpu", &env), NB_OK);
    assert_int_equal(nb_backend_threads(env), automatic);
    nb_backend_free(env);
    env = NULL;
    nb_backend_options o;
    nb_backend_options_default(&o);
    assert_int_equal(nb_backend_create_with("cpu", &o, &env), NB_OK);
    assert_int_equal(nb_backend_threads(env), automatic);
    nb_backend_free(env);
    unsetenv("NABLA_THREADS");
    unsetenv("NABLA_CPU_ISA");
    unsetenv("NABLA_CL_GEMM_SMALL");
    nb_backend_free(plain);
}

/* ----------------------------------------------- OpenCL: cache directory */

static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static nb_status open_cl(const nb_backend_options *o, nb_backend **be)
{
    nb_status st = nb_backend_create_with("opencl", o, be);
    if (st == NB_ERR_UNSUPPORTED || st == NB_ERR_BACKEND)
        print_message("skipped: no OpenCL device: %s\n", nb_last_error());
    return st;
}

/* Two cache directories in one process: each backend compiles into its
 * own; "off" keeps nothing; NABLA_CACHE_DIR in the environment is not
 * where anything goes. */
static void test_cache_dir_is_honoured(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    char a[512], b[512], envdir[512];
    snprintf(a, sizeof a, "%s/nabla-opt-a-XXXXXX", t && *t ? t : "/tmp");
    snprintf(b, sizeof b, "%s/nabla-opt-b-XXXXXX", t && *t ? t : "/tmp");
    snprintf(envdir, sizeof envdir, "%s/nabla-opt-env-XXXXXX", t && *t ? t : "/tmp");
    assert_non_null(mkdtemp(a));
    assert_non_null(mkdtemp(b));
    assert_non_null(mkdtemp(envdir));
    setenv("NABLA_CACHE_DIR", envdir, 1);
    nb_backend_options o;
    nb_backend_options_default(&o);
    o.cache_dir = a;
    nb_backend *be = NULL;
    if (open_cl(&o, &be) != NB_OK) goto done;
    double sec;
    int cached;
    nb_backend_build_info(be, &sec, &cached);
    assert_int_equal(cached, 0); /* a fresh directory: compiled */
    nb_backend_free(be);
    assert_true(entries(a) >= 1);
    assert_int_equal(entries(b), 0);
    /* The same options again: from a's cache. */
    assert_int_equal(nb_backend_create_with("opencl", &o, &be), NB_OK);
    nb_backend_build_info(be, &sec, &cached);
    assert_int_equal(cached, 1);
    nb_backend_free(be);
    /* Another directory: compiled again, into b. */
    o.cache_dir = b;
    assert_int_equal(nb_backend_create_with("opencl", &o, &be), NB_OK);
    nb_backend_build_info(be, &sec, &cached);
    assert_int_equal(cached, 0);
    nb_backend_free(be);
    assert_true(entries(b) >= 1);
    /* Off: compiled, nothing stored anywhere. */
    int in_a = entries(a), in_b = entries(b);
    o.cache_dir = "off";
    assert_int_equal(nb_backend_create_with("opencl", &o, &be), NB_OK);
    nb_backend_build_info(be, &sec, &cached);
    assert_int_equal(cached, 0);
    nb_backend_free(be);
    assert_int_equal(entries(a), in_a);
    assert_int_equal(entries(b), in_b);
    /* The variable named a third directory: the library never used it. */
    assert_int_equal(entries(envdir), 0);
done:
    unsetenv("NABLA_CACHE_DIR");
    char cmd[1700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s' '%s'", a, b, envdir);
    assert_int_equal(system(cmd), 0);
}

/* A tunable limit: the option lowers it, the variable does not. */
static void test_cl_limit_option(void **state)
{
    (void)state;
    nb_backend_options o;
    nb_backend_options_default(&o);
    o.cache_dir = "off";
    o.cl_max_work_group = 16;
    nb_backend *be = NULL;
    if (open_cl(&o, &be) != NB_OK) return;
    /* The kernel configuration names the 1-D work-group size, wg. */
    const char *tuning = nb_backend_tuning(be, NULL);
    print_message("under cl_max_work_group 16: %s\n", tuning);
    const char *wg = strstr(tuning, " wg ");
    assert_non_null(wg);
    assert_true(atoi(wg + 4) <= 16);
    nb_backend_free(be);
    setenv("NABLA_CL_MAX_WG", "4", 1);
    o.cl_max_work_group = 0;
    assert_int_equal(nb_backend_create_with("opencl", &o, &be), NB_OK);
    wg = strstr(nb_backend_tuning(be, NULL), " wg ");
    assert_non_null(wg);
    assert_true(atoi(wg + 4) > 4); /* the variable did not lower it */
    nb_backend_free(be);
    unsetenv("NABLA_CL_MAX_WG");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_differ),
        cmocka_unit_test(test_bad_fields_are_named),
        cmocka_unit_test(test_environment_is_ignored),
        cmocka_unit_test(test_cache_dir_is_honoured),
        cmocka_unit_test(test_cl_limit_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
