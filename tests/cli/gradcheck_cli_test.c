/*
 * gradcheck_cli_test.c — `nabla gradcheck` as a user runs it: the default
 * check PASSes (exit 0) and prints its table, tolerances and verdict; the
 * --perturb testing aid makes it FAIL (exit 1); every activation and loss,
 * CSV data and standardisation pass; a saved model and a training
 * checkpoint (--model) are checked as they are, on random rows or a CSV
 * file; bad flags exit 2 with one line naming the flag (with --model, the
 * flags it conflicts with name both); a missing device exits 3.
 *
 * The device is $NABLA_TEST_DEVICE (default cpu), passed as NABLA_DEVICE:
 * CTest runs this once on the cpu and once on OpenCL, where every test
 * skips, saying "skipped: no OpenCL", on a machine without a device.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cli/run_cli.h"
#include "nabla.h"

static const char *device = "cpu";
static char device_env[64];
static const char *dev_env[2];
static int no_device; /* an OpenCL run on a machine without OpenCL */

static int setup(void **state)
{
    if (cli_setup(state) != 0) return -1;
    const char *d = getenv("NABLA_TEST_DEVICE");
    if (d && *d) device = d;
    snprintf(device_env, sizeof device_env, "NABLA_DEVICE=%s", device);
    dev_env[0] = device_env;
    dev_env[1] = NULL;
    if (strncmp(device, "opencl", 6) == 0) {
        int code = run("devices", NULL);
        no_device = code != 0 || !strstr(out_text, "\nopencl:");
    }
    print_message("device %s%s\n", device, no_device ? " (not available)" : "");
    return 0;
}

static void need_device(void)
{
    if (no_device) {
        print_message("skipped: no OpenCL device on this machine\n");
        skip();
    }
}

/* The verdict line must be the last line and say PASS (or FAIL). */
static void expect_verdict(const char *word)
{
    const char *v = strstr(out_text, word);
    if (!v) {
        print_error("no '%s' in:\n%s\nstderr: %s\n", word, out_text, err_text);
        fail();
    }
    assert_null(strchr(v, '\n') ? strchr(strchr(v, '\n') + 1, '\n') : NULL);
}

/* `nabla gradcheck`: the default random network passes, on the device
 * asked for, and prints the tolerances, both blocks of both layers and
 * the four directions. */
static void test_default_pass(void **state)
{
    (void)state;
    need_device();
    int code = run_env(dev_env, "gradcheck", NULL);
    print_message("%s", out_text);
    assert_int_equal(code, 0);
    expect_verdict("PASS: ");
    assert_null(strstr(out_text, "FAIL"));
    char want[80];
    snprintf(want, sizeof want, "device %s", device);
    assert_non_null(strstr(out_text, want));
    assert_non_null(strstr(out_text, "4-7-3 tanh,tanh/mse, 16 random rows, 59 parameters"));
    assert_non_null(strstr(out_text, "atol 1e-05, rtol 0.001"));
    assert_non_null(strstr(out_text, "    1  weights      28/28"));
    assert_non_null(strstr(out_text, "    2  biases        3/3"));
    for (int k = 1; k <= 4; k++) {
        char dir[16];
        snprintf(dir, sizeof dir, "\n%9d  ", k);
        assert_non_null(strstr(out_text, dir));
    }
}

/* The testing aid: 5% on a layer's weight gradient fails, naming the
 * layer; 1e-4, inside rtol, passes (as documented). */
static void test_perturb_fails(void **state)
{
    (void)state;
    need_device();
    assert_int_equal(run_env(dev_env, "gradcheck", "--perturb", "2,0.05", NULL), 1);
    expect_verdict("FAIL: ");
    assert_non_null(strstr(out_text, "worst: layer 2 weights"));
    assert_non_null(strstr(out_text, "testing aid: layer 2"));
    assert_int_equal(run_env(dev_env, "gradcheck", "--perturb", "1,-0.05", "--act", "relu",
                             "--loss", "xent", NULL), 1);
    expect_verdict("FAIL: ");
    assert_int_equal(run_env(dev_env, "gradcheck", "--perturb", "1,1e-4", NULL), 0);
    expect_verdict("PASS: ");
}

/* Every activation (alone, and mixed per layer) with both losses. */
static void test_activations_and_losses(void **state)
{
    (void)state;
    need_device();
    static const char *acts[] = {"sigmoid", "tanh", "relu", "identity", "relu,sigmoid,tanh"};
    static const char *losses[] = {"mse", "xent"};
    for (size_t a = 0; a < sizeof acts / sizeof *acts; a++)
        for (int l = 0; l < 2; l++) {
            int code = run_env(dev_env, "gradcheck", "--layers", "3,6,5,4", "--act", acts[a],
                               "--loss", losses[l], "--rows", "24", "--seed", "7", NULL);
            const char *v = strstr(out_text, "PASS: ");
            print_message("%-18s %-4s exit %d %s", acts[a], losses[l], code, v ? v : err_text);
            assert_int_equal(code, 0);
        }
}

/* CSV data: a regression column, two target columns (with standardised
 * features), and class labels with xent and with MSE. */
static void test_data(void **state)
{
    (void)state;
    need_device();
    char csv[4096] = "a,b,c,y1,y2\n";
    for (int i = 0; i < 40; i++) {
        size_t n = strlen(csv);
        snprintf(csv + n, sizeof csv - n, "%d,%.3f,%d,%.2f,%d\n", i % 7, 0.37 * i, 100 + i,
                 0.1 * (i % 5), i % 3);
    }
    const char *path = write_file("data.csv", csv);
    assert_int_equal(run_env(dev_env, "gradcheck", "--data", path, "--regression", NULL), 0);
    assert_non_null(strstr(out_text, "4-7-1 tanh,tanh/mse, 40"));
    expect_verdict("PASS: ");
    assert_int_equal(run_env(dev_env, "gradcheck", "--data", path, "--targets", "2",
                             "--standardize", "--layers", "3,5,2", NULL), 0);
    expect_verdict("PASS: ");
    assert_int_equal(run_env(dev_env, "gradcheck", "--data", path, "--header", "--loss", "xent",
                             "--layers", "4,6,3", "--act", "sigmoid", NULL), 0);
    assert_non_null(strstr(out_text, "sigmoid,softmax/xent"));
    expect_verdict("PASS: ");
    /* MSE on the one-hot rows of the labels */
    assert_int_equal(run_env(dev_env, "gradcheck", "--data", path, "--header", "--layers",
                             "4,6,3", "--standardize", NULL), 0);
    assert_non_null(strstr(out_text, "tanh,tanh/mse"));
    expect_verdict("PASS: ");
}

/* Each bad flag: exit 2 and one line on stderr naming the flag. */
static void test_bad_flags(void **state)
{
    (void)state;
    static const char *cases[][5] = {
        {"--layers", "4,x,3", NULL, NULL, "--layers"},
        {"--layers", "4", NULL, NULL, "--layers"},
        {"--act", "softplus", NULL, NULL, "--act"},
        {"--act", "softmax", NULL, NULL, "--act"},
        {"--act", "relu,tanh,relu", NULL, NULL, "--act"},
        {"--loss", "hinge", NULL, NULL, "--loss"},
        {"--rows", "0", NULL, NULL, "--rows"},
        {"--rows", "12x", NULL, NULL, "--rows"},
        {"--seed", "-1", NULL, NULL, "--seed"},
        {"--step", "0", NULL, NULL, "--step"},
        {"--atol", "-1", NULL, NULL, "--atol"},
        {"--rtol", "nan", NULL, NULL, "--rtol"},
        {"--directions", "65", NULL, NULL, "--directions"},
        {"--max-params", "-5", NULL, NULL, "--max-params"},
        {"--perturb", "1", NULL, NULL, "--perturb"},
        {"--perturb", "x,0.1", NULL, NULL, "--perturb"},
        {"--perturb", "1,abc", NULL, NULL, "--perturb"},
        {"--perturb", "3,0.1", NULL, NULL, "--perturb"},
        {"--data", "/nonexistent/x.csv", NULL, NULL, "/nonexistent/x.csv"},
        {"--data", "x.csv", "--rows", "5", "--rows"},
        {"--regression", "--loss", "xent", NULL, "--loss"},
        {"--no-such-flag", NULL, NULL, NULL, "--no-such-flag"},
        {"stray", NULL, NULL, NULL, "stray"},
        {"--device", "nonsense", NULL, NULL, "--device"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *const *c = cases[i];
        int code = run("gradcheck", c[0], c[1], c[2], c[3], NULL);
        if (code != 2 || !strstr(err_text, c[4])) {
            print_error("%s %s: exit %d, stderr: %s\n", c[0], c[1] ? c[1] : "", code, err_text);
            fail();
        }
        assert_non_null(strchr(err_text, '\n'));
        assert_null(strchr(strchr(err_text, '\n') + 1, '\n'));
        assert_null(strstr(out_text, "PASS"));
    }
    /* --layers whose ends do not match the data */
    const char *path = write_file("small.csv", "1,2,0.5\n3,4,0.25\n");
    assert_int_equal(run("gradcheck", "--data", path, "--regression", "--layers", "3,4,1", NULL),
                     2);
    assert_non_null(strstr(err_text, "--layers"));
    assert_int_equal(run("gradcheck", "--perturb", NULL), 2);
}

static void test_help(void **state)
{
    (void)state;
    assert_int_equal(run("gradcheck", "--help", NULL), 0);
    assert_non_null(strstr(out_text, "usage: nabla gradcheck"));
    assert_non_null(strstr(out_text, "--perturb L,EPS"));
    assert_non_null(strstr(out_text, "Testing aid"));
    assert_non_null(strstr(out_text, "--model FILE"));
    assert_null(strstr(out_text, "will come with checkpoints"));
    assert_non_null(strstr(out_text, "Exit status: 0 PASS, 1 FAIL"));
}

/* The CSV of test_data: features a, b, c, y1 and the class label y2. */
static const char *classes_csv(void)
{
    char csv[4096] = "a,b,c,y1,y2\n";
    for (int i = 0; i < 40; i++) {
        size_t n = strlen(csv);
        snprintf(csv + n, sizeof csv - n, "%d,%.3f,%d,%.2f,%d\n", i % 7, 0.37 * i, 100 + i,
                 0.1 * (i % 5), i % 3);
    }
    return write_file("classes.csv", csv);
}

/* A saved model (nb_model_save of a fresh 3-5-2 tanh/softmax xent network,
 * with a standardisation) and a checkpoint written by `nabla train --save`
 * after two epochs: each is checked with its own architecture and
 * parameters, on random rows and on CSV data, and a perturbed gradient of
 * the loaded model still fails. */
static void test_model_file(void **state)
{
    (void)state;
    need_device();
    char model[400], ckpt[400], want[1200];
    snprintf(model, sizeof model, "%s/m.safetensors", tmpdir);
    snprintf(ckpt, sizeof ckpt, "%s/ck.safetensors", tmpdir);
    nb_backend *cpu = NULL;
    nb_model *m = NULL;
    const int widths[] = {3, 5, 2};
    const nb_act acts[] = {NB_ACT_TANH, NB_ACT_SOFTMAX};
    const float mean[] = {1.0f, -2.0f, 0.5f}, stdv[] = {2.0f, 0.5f, 1.0f};
    assert_int_equal(nb_backend_create("cpu", &cpu), NB_OK);
    assert_int_equal(nb_model_create(cpu, 2, widths, acts, NB_LOSS_XENT, 5, &m), NB_OK);
    assert_int_equal(nb_model_set_standardization(m, mean, stdv), NB_OK);
    assert_int_equal(nb_model_save(m, model), NB_OK);
    nb_model_free(m);
    nb_backend_free(cpu);

    assert_int_equal(run_env(dev_env, "gradcheck", "--model", model, NULL), 0);
    snprintf(want, sizeof want, "3-5-2 tanh,softmax/xent from %s, 16 random rows, 32 parameters",
             model);
    assert_non_null(strstr(out_text, want));
    expect_verdict("PASS: ");
    assert_int_equal(run_env(dev_env, "gradcheck", "--model", model, "--rows", "7", "--seed", "3",
                             "--perturb", "1,0.05", NULL), 1);
    assert_non_null(strstr(out_text, "7 random rows"));
    expect_verdict("FAIL: ");

    const char *csv = classes_csv();
    assert_int_equal(run("train", "--device", "cpu", "--data", csv, "--header", "--label-col",
                         "last", "--layers", "4,6,3", "--act", "relu", "--loss", "xent",
                         "--standardize", "--epochs", "2", "--save", ckpt, NULL), 0);
    assert_int_equal(run_env(dev_env, "gradcheck", "--model", ckpt, "--data", csv, "--header",
                             NULL), 0);
    snprintf(want, sizeof want, "4-6-3 relu,softmax/xent from %s, 40 %s rows, 51 parameters",
             ckpt, csv);
    assert_non_null(strstr(out_text, want));
    expect_verdict("PASS: ");
    assert_int_equal(run_env(dev_env, "gradcheck", "--model", ckpt, NULL), 0);
    assert_non_null(strstr(out_text, "4-6-3 relu,softmax/xent from"));
    expect_verdict("PASS: ");
}

/* --model with flags that would set another architecture, a file that is
 * not there or not a model, data of another shape: exit 2, one line. */
static void test_model_bad_flags(void **state)
{
    (void)state;
    need_device();
    char model[400];
    snprintf(model, sizeof model, "%s/m.safetensors", tmpdir);
    nb_backend *cpu = NULL;
    nb_model *m = NULL;
    const int widths[] = {3, 4, 1};
    const nb_act acts[] = {NB_ACT_SIGMOID, NB_ACT_IDENTITY};
    assert_int_equal(nb_backend_create("cpu", &cpu), NB_OK);
    assert_int_equal(nb_model_create(cpu, 2, widths, acts, NB_LOSS_MSE, 1, &m), NB_OK);
    assert_int_equal(nb_model_save(m, model), NB_OK);
    nb_model_free(m);
    nb_backend_free(cpu);
    char junk[300], wide[300]; /* write_file's path is overwritten by the next call */
    snprintf(junk, sizeof junk, "%s", write_file("junk.safetensors", "not a model at all\n"));
    snprintf(wide, sizeof wide, "%s", write_file("wide.csv", "1,2,3,4,5\n6,7,8,9,10\n"));
    static const char *const conflict[][2] = {
        {"--layers", "3,4,1"}, {"--act", "tanh"}, {"--loss", "mse"}, {"--standardize", NULL}};
    for (size_t i = 0; i < sizeof conflict / sizeof *conflict; i++) {
        int code = run_env(dev_env, "gradcheck", "--model", model, conflict[i][0], conflict[i][1],
                           NULL);
        char both[64];
        snprintf(both, sizeof both, "%s and --model", conflict[i][0]);
        if (code != 2 || !strstr(err_text, both)) {
            print_error("--model with %s: exit %d, stderr: %s\n", conflict[i][0], code, err_text);
            fail();
        }
        assert_null(strchr(strchr(err_text, '\n') + 1, '\n'));
        assert_null(strstr(out_text, "PASS"));
    }
    const char *const *cases[] = {
        (const char *const[]){"--model", "/nonexistent/m.safetensors", "/nonexistent/m.safetensors"},
        (const char *const[]){"--model", junk, "junk.safetensors"},
        (const char *const[]){"--perturb", "3,0.1", "the model has 2"},
        (const char *const[]){"--data", wide, "takes 3 inputs and gives 1 outputs"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *const *c = cases[i];
        int code = i < 2 ? run_env(dev_env, "gradcheck", c[0], c[1], NULL)
                         : run_env(dev_env, "gradcheck", "--model", model, c[0], c[1],
                                   "--regression", NULL);
        if (code != 2 || !strstr(err_text, c[2])) {
            print_error("--model case %zu: exit %d, stderr: %s\n", i, code, err_text);
            fail();
        }
        assert_null(strchr(strchr(err_text, '\n') + 1, '\n'));
    }
}

/* An explicit OpenCL device that cannot be opened is a device failure. */
static void test_device_failure(void **state)
{
    (void)state;
    static const char *const env[] = {"NABLA_OPENCL_LIBRARY=/nonexistent/libOpenCL.so.1", NULL};
    assert_int_equal(run_env(env, "gradcheck", "--device", "opencl", NULL), 3);
    assert_non_null(strstr(err_text, "--device opencl"));
    assert_null(strstr(out_text, "PASS"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_pass), cmocka_unit_test(test_perturb_fails),
        cmocka_unit_test(test_activations_and_losses), cmocka_unit_test(test_data),
        cmocka_unit_test(test_bad_flags), cmocka_unit_test(test_help),
        cmocka_unit_test(test_device_failure), cmocka_unit_test(test_model_file),
        cmocka_unit_test(test_model_bad_flags),
    };
    return cmocka_run_group_tests(tests, setup, cli_teardown);
}
