/*
 * device_test.c — choosing a device from the command line, and what
 * happens when OpenCL is missing or broken:
 *   - no loader (NABLA_OPENCL_LIBRARY points nowhere) and no platform
 *     (OCL_ICD_VENDORS names an empty directory): "auto" trains on the cpu
 *     after one line saying why; an explicit "opencl" exits 3;
 *   - a kernel that does not compile (NABLA_KERNEL_DIR): the full build log,
 *     naming the kernel file and line; "auto" falls back, "opencl" exits 3;
 *   - `nabla devices`, --profile, bad --device values: a malformed name
 *     exits 2, a well-formed one naming no device exits 3 and lists what
 *     the platform has;
 *   - a kernel cache directory writable by others: not used, one line says so;
 *   - what auto picks and why, the same in `nabla devices` and `nabla
 *     train`: a CPU-type OpenCL device only under NABLA_CL_AUTO_ANY=1;
 *   - the one line a first kernel build prints, and not again once cached;
 *   - the binary does not link an OpenCL library at all.
 * Tests that need a working OpenCL device skip, saying so, without one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>

#include "cli/run_cli.h"

static int have_opencl;   /* `nabla devices` listed a device         */
static const char *no_cl; /* the reason expected without a loader    */

static int setup(void **state)
{
    if (cli_setup(state) != 0) return -1;
    int code = run("devices", NULL);
    have_opencl = code == 0 && strstr(out_text, "\nopencl:") != NULL;
    /* A build with NABLA_OPENCL=OFF gives its own reason for every case. */
    no_cl = strstr(out_text, "built without OpenCL") ? "built without OpenCL" : NULL;
    print_message("OpenCL device available: %s\n", have_opencl ? "yes" : "no");
    return code == 0 ? 0 : -1;
}

static void need_opencl(void)
{
    if (!have_opencl) {
        print_message("skipped: no OpenCL device on this machine\n");
        skip();
    }
}

static void test_no_loader(void **state)
{
    (void)state;
    static const char *const env[] = {"NABLA_OPENCL_LIBRARY=/nonexistent/libOpenCL.so.1", NULL};
    const char *why = no_cl ? no_cl : "no OpenCL loader";
    assert_int_equal(run_env(env, "train", "--device", "auto", "--epochs", "1", NULL), 0);
    assert_non_null(strstr(err_text, "using cpu"));
    assert_non_null(strstr(err_text, why));
    assert_non_null(strstr(out_text, "device cpu"));
    assert_non_null(strstr(out_text, "stopped:"));
    /* Exactly one line of explanation. */
    assert_null(strchr(strchr(err_text, '\n') + 1, '\n'));

    assert_int_equal(run_env(env, "train", "--device", "opencl", "--epochs", "1", NULL), 3);
    assert_non_null(strstr(err_text, why));
    assert_null(strstr(out_text, "epoch"));

    static const char *const env2[] = {"NABLA_OPENCL_LIBRARY=/nonexistent/libOpenCL.so.1",
                                       "NABLA_DEVICE=opencl", NULL};
    assert_int_equal(run_env(env2, "train", "--epochs", "1", NULL), 3);

    assert_int_equal(run_env(env, "devices", NULL), 0);
    assert_non_null(strstr(out_text, "none: "));
    assert_non_null(strstr(out_text, why));
    assert_non_null(strstr(out_text, "auto         -> cpu"));
}

static void test_no_platform(void **state)
{
    (void)state;
    /* The ICD loader reads its driver list from this directory: empty. */
    char vendors[400];
    snprintf(vendors, sizeof vendors, "OCL_ICD_VENDORS=%s", tmpdir);
    const char *const env[] = {vendors, NULL};
    assert_int_equal(run_env(env, "train", "--device", "auto", "--epochs", "1", NULL), 0);
    assert_non_null(strstr(err_text, "using cpu"));
    assert_true(strstr(err_text, "no OpenCL platform") || strstr(err_text, "no OpenCL loader") ||
                (no_cl && strstr(err_text, no_cl)));
    assert_int_equal(run_env(env, "train", "--device", "opencl", "--epochs", "1", NULL), 3);
}

/* Copy the kernels to tmpdir/k and break act.cl at its last line + 1. */
static int broken_kernel_dir(char *dir, size_t n)
{
    const char *src = getenv("NABLA_KERNEL_SRC");
    assert_non_null(src);
    snprintf(dir, n, "%s/k", tmpdir);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s'/*.cl '%s'/", dir, src, dir);
    assert_int_equal(system(cmd), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/act.cl", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int lines = 0, ch;
    while ((ch = fgetc(f)) != EOF) lines += ch == '\n';
    fclose(f);
    f = fopen(path, "a");
    assert_non_null(f);
    fputs("this_is_not_opencl_c;\n", f);
    assert_int_equal(fclose(f), 0);
    return lines + 1; /* the line the error is on */
}

static void test_kernel_build_failure(void **state)
{
    (void)state;
    need_opencl();
    char dir[400], kdir[450], cache[450], where[480];
    int line = broken_kernel_dir(dir, sizeof dir);
    snprintf(kdir, sizeof kdir, "NABLA_KERNEL_DIR=%s", dir);
    snprintf(cache, sizeof cache, "NABLA_CACHE_DIR=%s/cache", tmpdir);
    snprintf(where, sizeof where, "act.cl:%d:", line);
    const char *const env[] = {kdir, cache, NULL};

    assert_int_equal(run_env(env, "train", "--device", "opencl", "--epochs", "1", NULL), 3);
    assert_non_null(strstr(err_text, "clBuildProgram"));
    assert_non_null(strstr(err_text, "build log"));
    assert_non_null(strstr(err_text, "-DWG_SIZE=")); /* the options */
    assert_non_null(strstr(err_text, "driver"));
    if (!strstr(err_text, where)) {
        print_error("expected the log to name %s; stderr:\n%s\n", where, err_text);
        fail();
    }
    assert_null(strstr(out_text, "epoch"));

    /* auto reaches a CPU device (this machine's, perhaps) only by the hook. */
    const char *const any[] = {kdir, cache, "NABLA_CL_AUTO_ANY=1", NULL};
    assert_int_equal(run_env(any, "train", "--device", "auto", "--epochs", "1", NULL), 0);
    assert_non_null(strstr(err_text, "using cpu, OpenCL unavailable: "));
    assert_non_null(strstr(err_text, where));
    assert_non_null(strstr(out_text, "stopped:"));

    static const char *const missing[] = {"NABLA_KERNEL_DIR=/nonexistent/kernels", NULL};
    assert_int_equal(run_env(missing, "train", "--device", "opencl", "--epochs", "1", NULL), 3);
    assert_non_null(strstr(err_text, "/nonexistent/kernels"));
}

/* A malformed tuning variable is bad input: named, with status 2, whatever
 * the device (the command checks its variables before opening one). A
 * good one trains. */
static void test_bad_tuning_variable(void **state)
{
    (void)state;
    need_opencl();
    static const char *const bad[] = {"NABLA_CL_GEMM_SMALL=lots", "NABLA_CL_AUTO_ANY=1", NULL};
    assert_int_equal(run_env(bad, "train", "--device", "opencl", "--epochs", "1", NULL), 2);
    assert_non_null(strstr(err_text, "NABLA_CL_GEMM_SMALL='lots'"));
    assert_int_equal(run_env(bad, "train", "--device", "auto", "--epochs", "1", NULL), 2);
    assert_non_null(strstr(err_text, "NABLA_CL_GEMM_SMALL='lots'"));
    assert_int_equal(run_env(bad, "train", "--device", "cpu", "--epochs", "1", NULL), 2);
    assert_non_null(strstr(err_text, "NABLA_CL_GEMM_SMALL='lots'"));
    /* Tiles whose work-item count overflows an int: refused, with the count. */
    static const char *const huge[] = {"NABLA_CL_GEMM=65536,65536,65536,1,1,1", NULL};
    assert_int_equal(run_env(huge, "train", "--device", "opencl", "--epochs", "1", NULL), 2);
    assert_non_null(strstr(err_text, "needs 4294967296 work-items"));
    static const char *const never[] = {"NABLA_CL_GEMM_SMALL=0", NULL};
    assert_int_equal(run_env(never, "train", "--device", "opencl", "--epochs", "1", NULL), 0);
    assert_non_null(strstr(out_text, "stopped:"));
}

static void test_devices_and_profile(void **state)
{
    (void)state;
    assert_int_equal(run("devices", "--help", NULL), 0);
    assert_int_equal(run("devices", "--bogus", NULL), 2);
    assert_int_equal(run("train", "--device", "cpu", "--epochs", "1", "--profile", NULL), 0);
    assert_non_null(strstr(out_text, "profile: cpu"));
    assert_non_null(strstr(out_text, "GFLOP/s"));
    assert_non_null(strstr(out_text, "\ngemm "));
    assert_null(strstr(out_text, "kernel launches:")); /* none on the cpu */
    assert_int_equal(run("train", "--device", "gpu", NULL), 2);
    assert_non_null(strstr(err_text, "unknown device"));
    need_opencl();
    assert_int_equal(run("devices", NULL), 0);
    assert_non_null(strstr(out_text, "opencl:0.0"));
    assert_non_null(strstr(out_text, "compute units"));
    assert_int_equal(run("train", "--device", "opencl:0.0", "--epochs", "1", "--profile", NULL), 0);
    assert_non_null(strstr(out_text, "profile: opencl:0.0"));
    assert_non_null(strstr(out_text, "program build:"));
    assert_non_null(strstr(out_text, "kernel launches:"));
}

/* A well-formed device name that names no device is a device failure
 * (exit 3) that says what there is; a malformed one is bad input (exit 2),
 * with or without OpenCL. */
static void test_absent_and_malformed_devices(void **state)
{
    (void)state;
    static const char *const malformed[] = {"opencl:x", "opencl:abc", "opencl:0", "opencl:0.",
                                            "opencl:.0", "opencl:-1.0", "opencl:0.-1",
                                            "opencl: 0.0", "opencl:0.0x", "opencl:0.99999999999"};
    for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++) {
        int code = run("train", "--device", malformed[i], "--epochs", "1", NULL);
        if (code != 2 || !strstr(err_text, "is not opencl:P.D")) {
            print_error("--device %s: exit %d, stderr: %s\n", malformed[i], code, err_text);
            fail();
        }
    }
    need_opencl();
    /* The first index past platform 0's devices, counted from `nabla devices`. */
    assert_int_equal(run("devices", NULL), 0);
    int on0 = 0;
    for (const char *s = out_text; (s = strstr(s, "\nopencl:0.")); s++) on0++;
    assert_true(on0 >= 1);
    char absent[32], want[96];
    snprintf(absent, sizeof absent, "opencl:0.%d", on0);
    snprintf(want, sizeof want, "%s: platform 0 has %d device%s (0.0", absent, on0,
             on0 == 1 ? "" : "s");
    assert_int_equal(run("train", "--device", absent, "--epochs", "1", NULL), 3);
    if (!strstr(err_text, want)) {
        print_error("expected '%s' in: %s\n", want, err_text);
        fail();
    }
    assert_null(strstr(out_text, "epoch"));
    assert_int_equal(run("train", "--device", "opencl:15.0", "--epochs", "1", NULL), 3);
    assert_non_null(strstr(err_text, "platform 15 has no OpenCL device"));
    assert_int_equal(run("train", "--device", "opencl:999999999.999999999", "--epochs", "1", NULL),
                     3);
}

/* A kernel cache that others can write is not used, and the one line that
 * says so is all the user sees of it: training runs on the device. */
static void test_shared_cache_is_refused(void **state)
{
    (void)state;
    need_opencl();
    char cache[400], env0[450], want[900];
    snprintf(cache, sizeof cache, "%s/shared-cache", tmpdir);
    assert_int_equal(mkdir(cache, 0700), 0);
    assert_int_equal(chmod(cache, 0777), 0);
    snprintf(env0, sizeof env0, "NABLA_CACHE_DIR=%s", cache);
    const char *const env[] = {env0, NULL};
    for (int i = 0; i < 2; i++) { /* the second start finds nothing cached either */
        assert_int_equal(run_env(env, "train", "--device", "opencl", "--epochs", "1", "--profile",
                                 NULL), 0);
        /* The build is announced as one that will not be cached, then
         * the note says why. */
        snprintf(want, sizeof want, " (not cached)\nnabla train: kernel cache %s is writable by "
                                    "others: not used (chmod 700 %s)\n", cache, cache);
        const char *tail = strstr(err_text, want);
        if (strncmp(err_text, "nabla train: building kernels for opencl:", 41) != 0 || !tail ||
            tail[strlen(want)] != '\0' || strchr(err_text, '\n') != tail + 13) {
            print_error("expected stderr '...%s', got '%s'\n", want, err_text);
            fail();
        }
        assert_non_null(strstr(out_text, "device opencl:"));
        assert_non_null(strstr(out_text, "(compiled)"));
    }
    assert_int_equal(chmod(cache, 0700), 0);
    assert_int_equal(run_env(env, "train", "--device", "opencl", "--epochs", "1", NULL), 0);
    assert_non_null(strstr(err_text, "(first use; cached afterwards)"));
    assert_int_equal(run_env(env, "train", "--device", "opencl", "--epochs", "1", NULL), 0);
    /* Nothing about the cache now; only the one line on tuning (no record). */
    assert_non_null(strstr(err_text, "has no tuning record"));
    assert_non_null(strchr(err_text, '\n'));
    assert_int_equal(strchr(err_text, '\n')[1], '\0');
    assert_int_equal(run_env(env, "train", "--device", "opencl", "--epochs", "1", "--profile",
                             NULL), 0);
    assert_non_null(strstr(out_text, "(from cache)"));
}

/* The line "auto" in `nabla devices` ends in: "cpu (pure C): REASON" or
 * "opencl:P.D: REASON". Copied into buf without the newline. */
static void auto_line(char *buf, size_t n)
{
    const char *a = strstr(out_text, "\nauto         -> ");
    assert_non_null(a);
    a += strlen("\nauto         -> ");
    size_t len = strcspn(a, "\n");
    assert_true(len < n);
    memcpy(buf, a, len);
    buf[len] = '\0';
}

/* What auto picks, and why, is the same in `nabla devices` and in a run;
 * a CPU-type OpenCL device is not picked (it is a GPU only to the hook). */
static void test_auto_choice_and_reason(void **state)
{
    (void)state;
    static const char *const plain[] = {"NABLA_DEVICE=", "NABLA_CL_AUTO_ANY=", NULL};
    char line[1024], want[1200];
    assert_int_equal(run_env(plain, "devices", NULL), 0);
    auto_line(line, sizeof line);
    print_message("auto -> %s\n", line);
    int gpu = strstr(out_text, "; GPU, ") || strstr(out_text, "; ACCEL, ");
    int cpu_dev = strstr(out_text, "; CPU, ") != NULL;
    if (have_opencl && cpu_dev && !gpu) /* this machine: PoCL and no GPU */
        assert_non_null(strstr(line, "cpu (pure C): the only OpenCL devices are CPU devices ("));
    if (gpu) assert_non_null(strstr(out_text, "   <- auto\n"));
    else assert_null(strstr(out_text, "<- auto"));

    assert_int_equal(run_env(plain, "train", "--epochs", "1", NULL), 0);
    if (strncmp(line, "cpu (pure C): ", 14) == 0) {
        /* One line: the cpu, and the same reason as `nabla devices` (a
         * failure's message may name nabla's source location after it). */
        snprintf(want, sizeof want, "nabla train: using cpu, %s", line + 14);
        if (strncmp(err_text, want, strlen(want)) != 0 ||
            strchr(err_text, '\n') != err_text + strlen(err_text) - 1) {
            print_error("expected stderr '%s', got '%s'\n", want, err_text);
            fail();
        }
        assert_non_null(strstr(out_text, "device cpu\n"));
    } else {
        /* "opencl:P.D: REASON": the run names the same device. */
        const char *end = strstr(line, ": ");
        assert_non_null(end);
        snprintf(want, sizeof want, "device %.*s (", (int)(end - line), line);
        assert_non_null(strstr(out_text, want));
    }

    if (!have_opencl) return;
    /* The hook: a CPU device counts as a GPU, and says so. */
    static const char *const any[] = {"NABLA_DEVICE=", "NABLA_CL_AUTO_ANY=1", NULL};
    assert_int_equal(run_env(any, "devices", NULL), 0);
    auto_line(line, sizeof line);
    assert_int_equal(strncmp(line, "opencl:", 7), 0);
    assert_non_null(strstr(out_text, "   <- auto\n"));
    if (cpu_dev && !gpu) assert_non_null(strstr(line, "auto_any_device (NABLA_CL_AUTO_ANY=1): CPU devices count"));
    assert_int_equal(run_env(any, "train", "--epochs", "1", NULL), 0);
    assert_non_null(strstr(out_text, "device opencl:"));
    assert_null(strstr(err_text, "using cpu"));
}

/* A build from source says so in one line, before the wait; a start that
 * finds the program cached says nothing; with the cache off, every start
 * builds and the line says why. */
static void test_first_build_line(void **state)
{
    (void)state;
    need_opencl();
    char env0[450];
    snprintf(env0, sizeof env0, "NABLA_CACHE_DIR=%s/first-build-cache", tmpdir);
    const char *const env[] = {env0, NULL};
    static const char *const line = "nabla train: building kernels for opencl:";
    assert_int_equal(run_env(env, "train", "--device", "opencl", "--epochs", "1", NULL), 0);
    const char *at = strstr(err_text, line);
    assert_non_null(at);
    assert_null(strstr(at + strlen(line), "building kernels")); /* once */
    at = strchr(at, '\n');
    assert_non_null(at);
    assert_int_equal(strncmp(at - 31, " (first use; cached afterwards)", 31), 0);
    assert_non_null(strstr(out_text, "stopped:"));

    assert_int_equal(run_env(env, "train", "--device", "opencl", "--epochs", "1", NULL), 0);
    assert_null(strstr(err_text, "building kernels"));

    static const char *const off[] = {"NABLA_CACHE_DIR=off", NULL};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(run_env(off, "train", "--device", "opencl", "--epochs", "1", NULL), 0);
        assert_non_null(strstr(err_text, line));
        assert_non_null(strstr(err_text, "(the kernel cache is off: every start builds them)\n"));
    }
}

/* The one binary must start where no OpenCL library exists at all. */
static void test_binary_does_not_link_opencl(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ldd '%s' 2>&1", cli);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = '\0';
    assert_int_equal(pclose(p), 0);
    assert_non_null(strstr(buf, "libc.so")); /* ldd really listed the libraries */
    assert_null(strstr(buf, "libOpenCL"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_loader),
        cmocka_unit_test(test_no_platform),
        cmocka_unit_test(test_kernel_build_failure),
        cmocka_unit_test(test_bad_tuning_variable),
        cmocka_unit_test(test_devices_and_profile),
        cmocka_unit_test(test_absent_and_malformed_devices),
        cmocka_unit_test(test_shared_cache_is_refused),
        cmocka_unit_test(test_auto_choice_and_reason),
        cmocka_unit_test(test_first_build_line),
        cmocka_unit_test(test_binary_does_not_link_opencl),
    };
    return cmocka_run_group_tests(tests, setup, cli_teardown);
}
