/*
 * eval_test.c — `nabla eval` and `nabla predict` on a model whose answers
 * can be worked out by hand: two inputs, two outputs, identity weights and
 * zero biases, so the output is the input and the prediction is the index
 * of the larger feature. On the five rows below:
 *   (1,0) label 0 → 0 ✓   (0,1) label 1 → 1 ✓   (2,1) label 1 → 0 ✗
 *   (0,3) label 0 → 1 ✗   (5,4) label 0 → 0 ✓
 * so the confusion matrix is [[2, 1], [1, 1]], the accuracy 60%, class 0
 * has precision and recall 2/3, class 1 both 1/2, and the MSE against the
 * one-hot targets is (0 + 0 + 4 + 10 + 32) / 5 = 9.2.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cli/run_cli.h"
#include "nabla.h"

static char model[300], data[300];

static int setup(void **state)
{
    if (cli_setup(state) != 0) return -1;
    nb_backend *be = NULL;
    nb_model *m = NULL;
    const int w[] = {2, 2};
    const nb_act a[] = {NB_ACT_IDENTITY};
    const float theta[] = {1, 0, 0, 1, 0, 0}; /* A = I, b = 0 */
    snprintf(model, sizeof model, "%s/model.safetensors", tmpdir);
    if (nb_backend_create("cpu", &be) || nb_model_create(be, 1, w, a, NB_LOSS_MSE, 1, &m) ||
        nb_model_set_params(m, theta, 6) || nb_model_save(m, model))
        return -1;
    nb_model_free(m);
    nb_backend_free(be);
    snprintf(data, sizeof data, "%s", write_file("five.csv", "1,0,0\n0,1,1\n2,1,1\n0,3,0\n5,4,0\n"));
    return 0;
}

static void test_eval_table(void **state)
{
    (void)state;
    assert_int_equal(run("eval", "--model", model, "--data", data, NULL), 0);
    assert_non_null(strstr(out_text, "rows 5  loss 9.2  accuracy 60.00%"));
    assert_non_null(strstr(out_text, "    0        3     66.67%  66.67%"));
    assert_non_null(strstr(out_text, "    1        2     50.00%  50.00%"));
    assert_non_null(strstr(out_text, "    0       2      1\n"));
    assert_non_null(strstr(out_text, "    1       1      1\n"));
}

static void test_eval_json(void **state)
{
    (void)state;
    assert_int_equal(run("eval", "--model", model, "--data", data, "--json", NULL), 0);
    assert_non_null(strstr(out_text, "\"rows\":5,\"loss\":9.2,\"accuracy\":0.6,"));
    assert_non_null(strstr(out_text, "\"confusion\":[[2,1],[1,1]]"));
    assert_non_null(strstr(out_text, "{\"class\":1,\"support\":2,\"precision\":0.5,\"recall\":0.5}"));
}

static void test_predict(void **state)
{
    (void)state;
    char out[400], text[4096];
    snprintf(out, sizeof out, "%s/preds.csv", tmpdir);
    assert_int_equal(run("predict", "--model", model, "--data", data, "--out", out, NULL), 0);
    slurp(out, text, sizeof text);
    assert_string_equal(text, "y0,y1,label\n1,0,0\n0,1,1\n2,1,0\n0,3,1\n5,4,0\n");
}

/* New data comes without labels: rows of the model's two inputs alone give
 * the same predictions (with a header too); --regression drops the class
 * column; four columns fit neither layout and are refused by name. */
static void test_predict_features_only(void **state)
{
    (void)state;
    char out[400], text[4096];
    snprintf(out, sizeof out, "%s/preds2.csv", tmpdir);
    const char *feats = write_file("feats.csv", "a,b\n1,0\n0,1\n2,1\n0,3\n5,4\n");
    assert_int_equal(run("predict", "--model", model, "--data", feats, "--out", out, NULL), 0);
    slurp(out, text, sizeof text);
    assert_string_equal(text, "y0,y1,label\n1,0,0\n0,1,1\n2,1,0\n0,3,1\n5,4,0\n");
    assert_int_equal(run("predict", "--model", model, "--data", feats, "--regression", "--out", "-",
                         NULL), 0);
    assert_string_equal(out_text, "y0,y1\n1,0\n0,1\n2,1\n0,3\n5,4\n");
    const char *wide = write_file("wide4.csv", "1,2,3,4\n");
    assert_int_equal(run("predict", "--model", model, "--data", wide, "--out", out, NULL), 2);
    assert_non_null(strstr(err_text, "rows of 4 columns; the model takes 2 inputs, so rows need 2 "
                                     "(features) or 3 (training layout)"));
}

static void test_bad_arguments(void **state)
{
    (void)state;
    assert_int_equal(run("eval", "--data", data, NULL), 2); /* no model */
    assert_non_null(strstr(err_text, "--model"));
    assert_int_equal(run("predict", "--model", model, "--data", data, NULL), 2); /* no --out */
    assert_int_equal(run("eval", "--model", "/nonexistent.safetensors", NULL), 2);
    assert_non_null(strstr(err_text, "/nonexistent.safetensors"));
    const char *junk = write_file("junk.safetensors", "this is not a checkpoint");
    assert_int_equal(run("eval", "--model", junk, "--data", data, NULL), 2);
    const char *wide = write_file("wide.csv", "1,2,3,0\n");
    assert_int_equal(run("eval", "--model", model, "--data", wide, NULL), 2);
    assert_non_null(strstr(err_text, "inputs"));
    assert_int_equal(run("eval", "--help", NULL), 0);
    assert_int_equal(run("predict", "--help", NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_table),
        cmocka_unit_test(test_eval_json),
        cmocka_unit_test(test_predict),
        cmocka_unit_test(test_predict_features_only),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, cli_teardown);
}
