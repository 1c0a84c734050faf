/*
 * device_pick_test.c — the device "auto" and "opencl" choose, and the
 * reason auto gives, on made-up device lists (no OpenCL is needed):
 *   - a GPU beside a CPU device, in either order: the GPU;
 *   - an accelerator alone, or beside a GPU: the accelerator, then the GPU;
 *   - CPU devices only, other devices only, or none: the pure-C backend,
 *     saying which devices there are and how to name one;
 *   - several GPUs: the first in platform order, naming the others;
 *   - the test hook NABLA_CL_AUTO_ANY=1 (and only "1"): CPU devices count
 *     as GPUs;
 *   - "opencl" without P.D: like auto, else the first device of any type;
 *   - a short or NULL buffer for the reason is never overrun.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/backend_opts.h"
#include "device_pick.h"

enum { MAX_DEVS = 8 };

/* A stand-in platform list: "P.D TYPE" per device, e.g. "0.0 CPU". */
static int devices(nb_device_info *out, const char *const *spec)
{
    int n = 0;
    for (; spec[n]; n++) {
        assert_true(n < MAX_DEVS);
        memset(&out[n], 0, sizeof out[n]);
        char type[8] = "";
        assert_int_equal(sscanf(spec[n], "%d.%d %7s", &out[n].platform, &out[n].device, type), 3);
        snprintf(out[n].type, sizeof out[n].type, "%s", type);
        snprintf(out[n].name, sizeof out[n].name, "device %s", spec[n]);
    }
    return n;
}

/* The choice on a list, with the reason into why; the reason must hold
 * every string of want. */
static int choose(const char *const *spec, bool any, char *why, size_t n,
                  const char *const *want)
{
    nb_device_info d[MAX_DEVS];
    int count = devices(d, spec);
    int pick = nb_device_choose(d, count, any, why, n);
    for (int i = 0; want && want[i]; i++)
        if (!strstr(why, want[i])) {
            print_error("expected '%s' in the reason '%s'\n", want[i], why);
            fail();
        }
    return pick;
}

static void test_gpu_beside_cpu(void **state)
{
    (void)state;
    char why[256];
    static const char *const cpu_first[] = {"0.0 CPU", "1.0 GPU", NULL};
    static const char *const only_gpu[] = {"the only GPU", NULL};
    assert_int_equal(choose(cpu_first, false, why, sizeof why, only_gpu), 1);
    static const char *const gpu_first[] = {"0.0 GPU", "1.0 CPU", NULL};
    assert_int_equal(choose(gpu_first, false, why, sizeof why, only_gpu), 0);
    /* On one platform, as a driver exposing both would list them. */
    static const char *const same[] = {"0.0 CPU", "0.1 GPU", NULL};
    assert_int_equal(choose(same, false, why, sizeof why, only_gpu), 1);
}

static void test_accelerator(void **state)
{
    (void)state;
    char why[256];
    static const char *const alone[] = {"0.0 CPU", "1.0 ACCEL", NULL};
    static const char *const no_gpu[] = {"no GPU; the only accelerator", NULL};
    assert_int_equal(choose(alone, false, why, sizeof why, no_gpu), 1);
    /* A GPU wins over an accelerator listed before it. */
    static const char *const both[] = {"0.0 ACCEL", "1.0 GPU", NULL};
    static const char *const only_gpu[] = {"the only GPU", NULL};
    assert_int_equal(choose(both, false, why, sizeof why, only_gpu), 1);
    static const char *const two[] = {"0.0 ACCEL", "0.1 ACCEL", NULL};
    static const char *const first[] = {"no GPU; the first of 2 accelerators in platform order",
                                        "(others: opencl:0.1)", NULL};
    assert_int_equal(choose(two, false, why, sizeof why, first), 0);
}

static void test_cpu_only_uses_the_pure_c_backend(void **state)
{
    (void)state;
    char why[256];
    static const char *const one[] = {"0.0 CPU", NULL};
    static const char *const said[] = {"the only OpenCL devices are CPU devices (opencl:0.0)",
                                       "used only when named (--device opencl:0.0)", NULL};
    assert_int_equal(choose(one, false, why, sizeof why, said), -1);
    static const char *const two[] = {"0.0 CPU", "2.0 CPU", NULL};
    static const char *const both[] = {"CPU devices (opencl:0.0, opencl:2.0)", NULL};
    assert_int_equal(choose(two, false, why, sizeof why, both), -1);
    /* A device of no known type is no GPU either. */
    static const char *const other[] = {"0.0 OTHER", "1.0 CPU", NULL};
    static const char *const mixed[] = {"no OpenCL GPU or accelerator, only CPU and other devices "
                                        "(opencl:0.0, opencl:1.0)", NULL};
    assert_int_equal(choose(other, false, why, sizeof why, mixed), -1);
}

static void test_no_device(void **state)
{
    (void)state;
    char why[256];
    static const char *const none[] = {NULL};
    static const char *const said[] = {"no OpenCL device", NULL};
    assert_int_equal(choose(none, false, why, sizeof why, said), -1);
    assert_int_equal(nb_device_choose(NULL, 3, false, why, sizeof why), -1);
    assert_string_equal(why, "no OpenCL device");
    assert_int_equal(nb_device_choose_named(NULL, 0), -1);
}

static void test_several_gpus(void **state)
{
    (void)state;
    char why[256];
    static const char *const gpus[] = {"0.0 CPU", "1.0 GPU", "1.1 GPU", "2.0 ACCEL", "3.0 GPU",
                                       NULL};
    static const char *const first[] = {"the first of 3 GPUs in platform order",
                                        "(others: opencl:1.1, opencl:3.0)", NULL};
    assert_int_equal(choose(gpus, false, why, sizeof why, first), 1);
    /* Many: four named, then an ellipsis. */
    static const char *const many[] = {"0.0 GPU", "0.1 GPU", "0.2 GPU", "0.3 GPU",
                                       "0.4 GPU", "0.5 GPU", NULL};
    static const char *const listed[] = {"the first of 6 GPUs",
                                         "(others: opencl:0.1, opencl:0.2, opencl:0.3, "
                                         "opencl:0.4, ...)", NULL};
    assert_int_equal(choose(many, false, why, sizeof why, listed), 0);
}

static void test_auto_any_hook(void **state)
{
    (void)state;
    char why[256];
    static const char *const cpu[] = {"0.0 CPU", NULL};
    static const char *const said[] = {"auto_any_device (NABLA_CL_AUTO_ANY=1): CPU devices count as GPUs; "
                                       "the only GPU", NULL};
    assert_int_equal(choose(cpu, true, why, sizeof why, said), 0);
    /* The hook leaves a list with a real GPU first alone, and says nothing
     * of itself there. */
    static const char *const gpu[] = {"0.0 GPU", "1.0 CPU", NULL};
    assert_int_equal(choose(gpu, true, why, sizeof why, NULL), 0);
    assert_null(strstr(why, "NABLA_CL_AUTO_ANY"));

    /* The public call reads only its arguments: the variable does not
     * reach it. The command maps it onto the option auto_any_device, "1"
     * only. */
    nb_device_info d[MAX_DEVS];
    int n = devices(d, cpu);
    nb_backend_options o;
    unsetenv("NABLA_CL_AUTO_ANY");
    assert_int_equal(nb_device_auto_choice(d, n, why, sizeof why), -1);
    assert_int_equal(nb_cli_backend_options(&o), NB_OK);
    assert_int_equal(o.auto_any_device, 0);
    setenv("NABLA_CL_AUTO_ANY", "0", 1);
    assert_int_equal(nb_cli_backend_options(&o), NB_OK);
    assert_int_equal(o.auto_any_device, 0);
    setenv("NABLA_CL_AUTO_ANY", "1", 1);
    assert_int_equal(nb_device_auto_choice(d, n, why, sizeof why), -1);
    assert_int_equal(nb_cli_backend_options(&o), NB_OK);
    assert_int_equal(o.auto_any_device, 1);
    unsetenv("NABLA_CL_AUTO_ANY");
}

/* "opencl" without P.D takes what auto would, else the first device. */
static void test_named_opencl(void **state)
{
    (void)state;
    nb_device_info d[MAX_DEVS];
    static const char *const cpu_gpu[] = {"0.0 CPU", "1.0 GPU", NULL};
    assert_int_equal(nb_device_choose_named(d, devices(d, cpu_gpu)), 1);
    static const char *const cpu_accel[] = {"0.0 CPU", "0.1 ACCEL", NULL};
    assert_int_equal(nb_device_choose_named(d, devices(d, cpu_accel)), 1);
    static const char *const cpus[] = {"0.0 OTHER", "0.1 CPU", NULL};
    assert_int_equal(nb_device_choose_named(d, devices(d, cpus)), 0);
}

/* The reason is cut to the buffer, always terminated; NULL is allowed. */
static void test_short_buffer(void **state)
{
    (void)state;
    nb_device_info d[MAX_DEVS];
    static const char *const gpus[] = {"0.0 GPU", "0.1 GPU", "0.2 GPU", NULL};
    int n = devices(d, gpus);
    char why[12];
    memset(why, 'x', sizeof why);
    assert_int_equal(nb_device_choose(d, n, false, why, 8), 0);
    assert_int_equal(strlen(why), 7);
    assert_int_equal(why[8], 'x'); /* nothing written past the size given */
    assert_int_equal(nb_device_choose(d, n, false, why, 1), 0);
    assert_string_equal(why, "");
    assert_int_equal(nb_device_choose(d, n, false, NULL, 0), 0);
    assert_int_equal(nb_device_choose(d, n, false, why, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpu_beside_cpu),
        cmocka_unit_test(test_accelerator),
        cmocka_unit_test(test_cpu_only_uses_the_pure_c_backend),
        cmocka_unit_test(test_no_device),
        cmocka_unit_test(test_several_gpus),
        cmocka_unit_test(test_auto_any_hook),
        cmocka_unit_test(test_named_opencl),
        cmocka_unit_test(test_short_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
