/*
 * import_test.c — `nabla import`: a plain weights file (3-2-2, no
 * metadata) becomes a model file that `nabla predict` and `nabla eval`
 * read, with outputs equal to the library's own import of the same file;
 * the one line it prints; its help; and every bad flag or bad file exits
 * 2 with one line naming the flag or the file, leaving no model behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ckpt/raw_st.h"
#include "cli/run_cli.h"
#include "nabla.h"

static const float W0[6] = {0.5f, -1.25f, 0.75f, 2.0f, 0.125f, -0.5f}, B0[2] = {0.1f, -0.2f};
static const float W1[4] = {1.5f, -0.75f, 0.25f, 1.0f}, B1[2] = {0.0f, 0.3f};
static const float X[2 * 3] = {1.0f, 2.0f, -0.5f, 0.25f, -1.5f, 3.0f};

static char weights[300], gap[300], f64[300], model[300], csv[300], csv_train[300];

static int setup(void **state)
{
    if (cli_setup(state) != 0) return -1;
    raw_tensor t[4] = {{"layers.0.weight", "F32", 2, {2, 3}, W0},
                       {"layers.0.bias", "F32", 1, {2}, B0},
                       {"layers.1.weight", "F32", 2, {2, 2}, W1},
                       {"layers.1.bias", "F32", 1, {2}, B1}};
    snprintf(weights, sizeof weights, "%s/w.safetensors", tmpdir);
    snprintf(gap, sizeof gap, "%s/gap.safetensors", tmpdir);
    snprintf(f64, sizeof f64, "%s/f64.safetensors", tmpdir);
    snprintf(model, sizeof model, "%s/model.safetensors", tmpdir);
    if (raw_write(weights, t, 4, NULL) != 0) return -1;
    /* layers.0 and layers.2 (which chain), no layers.1 */
    raw_tensor g[4] = {t[0], t[1], t[2], t[3]};
    g[2].name = "layers.2.weight";
    g[3].name = "layers.2.bias";
    if (raw_write(gap, g, 4, NULL) != 0) return -1;
    t[2].dtype = "F64";
    if (raw_write(f64, t, 4, "{\"format\":\"np\"}") != 0) return -1;
    /* Features alone, and the same rows with two regression targets. */
    char text[256];
    snprintf(text, sizeof text, "%.9g,%.9g,%.9g\n%.9g,%.9g,%.9g\n", X[0], X[1], X[2], X[3], X[4],
             X[5]);
    snprintf(csv, sizeof csv, "%s", write_file("x.csv", text));
    snprintf(text, sizeof text, "%.9g,%.9g,%.9g,1,0\n%.9g,%.9g,%.9g,0,1\n", X[0], X[1], X[2], X[3],
             X[4], X[5]);
    snprintf(csv_train, sizeof csv_train, "%s", write_file("xy.csv", text));
    return 0;
}

/* The error output is one line. */
static void assert_one_line(void)
{
    const char *nl = strchr(err_text, '\n');
    if (!nl || nl[1] != '\0') fail_msg("stderr is not one line: \"%s\"", err_text);
}

/* Exit 2, one line holding needle, and no model file written. */
static void assert_refused(int code, const char *needle)
{
    if (code != 2 || !strstr(err_text, needle))
        fail_msg("exit %d, stderr \"%s\"; want 2 and \"%s\"", code, err_text, needle);
    assert_one_line();
    assert_int_not_equal(access(model, F_OK), 0);
}

static void test_help(void **state)
{
    (void)state;
    assert_int_equal(run("import", "--help", NULL), 0);
    assert_non_null(strstr(out_text, "usage: nabla import WEIGHTS.safetensors --act A[,A...] --out"));
    assert_non_null(strstr(out_text, "--loss mse|xent"));
    assert_int_equal(run("import", "-h", NULL), 0);
    assert_non_null(strstr(out_text, "usage: nabla import"));
    assert_int_equal(run("--help", NULL), 0);
    assert_non_null(strstr(out_text, "\n  import "));
}

/* `nabla predict` on the imported model gives what the library's import
 * gives: %.9g prints a float exactly, so they compare equal. */
static void test_import_then_predict(void **state)
{
    (void)state;
    assert_int_equal(run("import", weights, "--act", "tanh,identity", "--out", model, NULL), 0);
    char want[700];
    snprintf(want, sizeof want, "imported 3-2-2 tanh,identity/mse from %s: 14 parameters; wrote %s\n",
             weights, model);
    assert_string_equal(out_text, want);
    assert_string_equal(err_text, "");

    nb_backend *be = NULL;
    nb_model *m = NULL;
    const nb_act acts[2] = {NB_ACT_TANH, NB_ACT_IDENTITY};
    float y[4];
    assert_int_equal(nb_backend_create("cpu", &be), NB_OK);
    assert_int_equal(nb_model_import(be, weights, 2, acts, NB_LOSS_MSE, &m), NB_OK);
    assert_int_equal(nb_model_predict(m, 2, X, y), NB_OK);
    nb_model_free(m);
    nb_backend_free(be);

    assert_int_equal(run("predict", "--model", model, "--data", csv, "--out", "-", "--regression",
                         NULL), 0);
    float got[4];
    assert_int_equal(sscanf(out_text, "y0,y1\n%g,%g\n%g,%g\n", &got[0], &got[1], &got[2], &got[3]),
                     4);
    assert_memory_equal(got, y, sizeof y);
    /* eval reads it too, on data in the training layout */
    assert_int_equal(run("eval", "--model", model, "--data", csv_train, "--targets", "2", NULL), 0);
    assert_non_null(strstr(out_text, "rows 2  loss "));
    unlink(model);
}

static void test_import_xent(void **state)
{
    (void)state;
    assert_int_equal(run("import", "--loss", "xent", weights, "--act", "relu", "--out", model,
                         "--device", "cpu", NULL), 0);
    assert_non_null(strstr(out_text, "imported 3-2-2 relu,softmax/xent from "));
    assert_int_equal(run("predict", "--model", model, "--data", csv, "--out", "-", NULL), 0);
    assert_non_null(strstr(out_text, "y0,y1,label\n"));
    unlink(model);
}

static void test_bad_flags(void **state)
{
    (void)state;
    assert_refused(run("import", weights, "--out", model, NULL), "--act is required");
    assert_refused(run("import", weights, "--act", "swish", "--out", model, NULL),
                   "--act: unknown activation 'swish'");
    assert_refused(run("import", weights, "--act", "relu,softmax", "--out", model, NULL),
                   "--act: softmax comes with --loss xent");
    assert_refused(run("import", weights, "--act", "relu,relu,relu", "--out", model, NULL),
                   "--act: ");
    assert_non_null(strstr(err_text, "has 2 layers"));
    assert_refused(run("import", weights, "--act", "relu", "--loss", "huber", "--out", model, NULL),
                   "--loss: unknown loss 'huber'");
    assert_refused(run("import", weights, "--act", "relu", "--out", model, "--bogus", NULL),
                   "unknown option '--bogus'");
    assert_refused(run("import", weights, "--act", "relu", NULL), "--out is required");
    assert_refused(run("import", weights, "--act", "relu", "--out", NULL), "--out needs a value");
    assert_refused(run("import", "--act", "relu", "--out", model, NULL), "weights file is required");
    assert_refused(run("import", weights, weights, "--act", "relu", "--out", model, NULL),
                   "unexpected argument");
    assert_refused(run("import", weights, "--act", "relu", "--out", model, "--device", "tpu", NULL),
                   "--device tpu");
}

static void test_bad_files(void **state)
{
    (void)state;
    char missing[320];
    snprintf(missing, sizeof missing, "%s/missing.safetensors", tmpdir);
    assert_refused(run("import", missing, "--act", "relu", "--out", model, NULL), missing);
    assert_refused(run("import", gap, "--act", "relu", "--out", model, NULL), gap);
    assert_non_null(strstr(err_text, "tensor layers.1.weight is missing"));
    assert_refused(run("import", f64, "--act", "relu", "--out", model, NULL), f64);
    assert_non_null(strstr(err_text, "'layers.1.weight': unsupported dtype 'F64'"));
    /* The weights themselves are no model: eval says what to do. */
    assert_refused(run("eval", "--model", weights, "--data", csv_train, "--targets", "2", NULL),
                   "nabla import");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_import_then_predict),
        cmocka_unit_test(test_import_xent),
        cmocka_unit_test(test_bad_flags),
        cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, setup, cli_teardown);
}
