/*
 * data_cli_test.c — data as people have it, through the nabla tool: header
 * lines of any width (and the note when one is detected), class names,
 * other delimiters, standard input, paths that are not regular files, the
 * same data flags for train, eval, predict and gradcheck, which rows eval
 * uses when it chooses them, and model outputs that are not finite.
 *
 * CTest runs this with NABLA_DEVICE=cpu.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <sys/stat.h>

#include "cli/run_cli.h"
#include "nabla.h"

/* An iris-like file: a first line of another width, named classes; the
 * class is the largest of the three features, so a net learns it. */
static const char *flowers(const char *name, char delim)
{
    static const char *names[] = {"setosa", "versicolor", "virginica"};
    char *text = malloc(1 << 16);
    assert_non_null(text);
    size_t n = (size_t)snprintf(text, 1 << 16, "90%c3%csetosa%cversicolor%cvirginica\n", delim,
                                delim, delim, delim);
    unsigned s = 7;
    for (int r = 0; r < 90; r++) {
        float v[3];
        int best = 0;
        for (int j = 0; j < 3; j++) {
            s = s * 1103515245u + 12345u;
            v[j] = (float)((s >> 8) % 1000) / 100.0f;
            if (v[j] > v[best]) best = j;
        }
        n += (size_t)snprintf(text + n, (1 << 16) - n, "%.2f%c%.2f%c%.2f%c%s\n", v[0], delim, v[1],
                              delim, v[2], delim, names[best]);
    }
    const char *path = write_file(name, text);
    free(text);
    return path;
}

/* `150,4,setosa,...` starts many public CSVs: a header whatever its width.
 * It is detected and said in one line; named classes train, eval prints
 * the names and predict writes them. */
static void test_header_of_any_width_and_named_classes(void **state)
{
    (void)state;
    const char *data = flowers("flowers.csv", ',');
    const char *model = path_in("flowers.safetensors"), *preds = path_in("flowers.out.csv");
    assert_exit(run("train", "--data", data, "--layers", "3,16,3", "--loss", "xent",
                         "--epochs", "60", "--lr", "0.3", "--save", model, NULL), 0);
    assert_non_null(strstr(err_text, "note: line 1 of "));
    assert_non_null(strstr(err_text, "taken as a header (--no-header to read it as data)"));
    assert_non_null(strstr(out_text, "72 train + 18 val rows"));
    /* Forced, the same file reads the same, and nothing needs saying. */
    assert_exit(run("train", "--data", data, "--header", "--layers", "3,16,3", "--loss",
                         "xent", "--epochs", "1", NULL), 0);
    assert_null(strstr(err_text, "note:"));
    assert_exit(run("eval", "--model", model, "--data", data, NULL), 0);
    assert_non_null(strstr(out_text, "versicolor"));
    assert_non_null(strstr(out_text, "virginica"));
    assert_exit(run("eval", "--model", model, "--data", data, "--json", NULL), 0);
    assert_non_null(strstr(out_text, "\"name\":\"setosa\""));
    assert_exit(run("predict", "--model", model, "--data", data, "--out", preds, NULL), 0);
    char text[1 << 14];
    slurp(preds, text, sizeof text);
    assert_non_null(strstr(text, "y0,y1,y2,label\n"));
    assert_true(strstr(text, ",setosa\n") || strstr(text, ",versicolor\n") ||
                strstr(text, ",virginica\n"));
    /* A label the model does not know is an error at its place. */
    const char *odd = write_file("odd.csv", "1,2,3,setosa\n4,5,6,tulip\n");
    assert_exit(run("eval", "--model", model, "--data", odd, NULL), 2);
    assert_non_null(strstr(err_text, "odd.csv:2:"));
    assert_non_null(strstr(err_text, "tulip"));
}

/* A first row corrupted from 13 to l3 is no longer silently a header. */
static void test_a_corrupted_first_row_is_said(void **state)
{
    (void)state;
    const char *data = write_file("l3.csv", "l3,2,0\n1,2,0\n3,4,1\n5,6,1\n7,8,0\n");
    assert_exit(run("train", "--data", data, "--layers", "2,4,2", "--val", "0", "--epochs",
                         "1", NULL), 0);
    assert_non_null(strstr(err_text, "note: line 1 of "));
    assert_non_null(strstr(out_text, "4 train"));
    assert_exit(run("train", "--data", data, "--no-header", "--layers", "2,4,2", "--val", "0",
                         NULL), 2);
    assert_non_null(strstr(err_text, "l3.csv:1:1"));
}

/* Semicolons and tabs are found; --delimiter says which; a row that does
 * not split names the delimiter looked for. */
static void test_delimiters(void **state)
{
    (void)state;
    const char *semi = flowers("semi.csv", ';'), *tab = flowers("tab.tsv", '\t');
    assert_exit(run("train", "--data", semi, "--layers", "3,8,3", "--epochs", "2", NULL), 0);
    assert_exit(run("train", "--data", tab, "--layers", "3,8,3", "--epochs", "2", NULL), 0);
    assert_exit(run("train", "--data", tab, "--delimiter", "tab", "--layers", "3,8,3",
                         "--epochs", "2", NULL), 0);
    assert_exit(run("train", "--data", semi, "--delimiter", ",", "--layers", "3,8,3", NULL), 2);
    assert_non_null(strstr(err_text, "','"));
    assert_exit(run("train", "--delimiter", "|", NULL), 2);
    assert_non_null(strstr(err_text, "--delimiter"));
}

/* --data - reads standard input, for train and predict alike. */
static void test_standard_input(void **state)
{
    (void)state;
    const char *data = write_file("line.csv", "0,1\n1,3\n2,5\n3,7\n4,9\n5,11\n6,13\n7,15\n");
    const char *model = path_in("stdin.safetensors");
    run_stdin = data;
    int code = run("train", "--data", "-", "--regression", "--layers", "1,1", "--act", "identity",
                   "--val", "0", "--batch", "full", "--lr", "0.02", "--epochs", "2000",
                   "--save", model, NULL);
    run_stdin = NULL;
    assert_int_equal(code, 0);
    assert_non_null(strstr(out_text, "nabla: standard input, 1-1 identity/mse, 8 train"));
    const char *feats = write_file("x.csv", "10\n");
    run_stdin = feats;
    code = run("predict", "--model", model, "--data", "-", "--regression", "--out", "-", NULL);
    run_stdin = NULL;
    assert_int_equal(code, 0);
    double y = atof(strchr(out_text, '\n') + 1);
    assert_true(fabs(y - 21.0) < 0.1); /* y = 2x + 1, fitted to ~1e-3 in 2000 steps */
}

/* A FIFO, a directory or a device as data, labels or model: refused at
 * once, never a wait for a writer that will not come. */
static void test_paths_that_are_not_files(void **state)
{
    (void)state;
    const char *fifo = path_in("fifo");
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    alarm(30); /* a regression would block in open(): fail by SIGALRM instead */
    const char *args[][3] = {{"--data", fifo, NULL}, {"--data", tmpdir, NULL},
                             {"--data", "/dev/null", NULL}};
    for (size_t i = 0; i < sizeof args / sizeof *args; i++) {
        assert_exit(run("train", args[i][0], args[i][1], NULL), 2);
        assert_non_null(strstr(err_text, "not a regular file"));
    }
    assert_exit(run("train", "--resume", fifo, NULL), 2);
    assert_exit(run("eval", "--model", fifo, NULL), 2);
    assert_non_null(strstr(err_text, "not a regular file"));
    assert_exit(run("eval", "--model", tmpdir, NULL), 2);
    alarm(0);
    unlink(fifo);
}

/* eval and predict read MNIST-format IDX pairs as train does. */
static void test_eval_reads_idx(void **state)
{
    (void)state;
    unsigned char img[16 + 40 * 4], lab[8 + 40];
    memcpy(img, "\0\0\x08\x03\0\0\0\x28\0\0\0\x02\0\0\0\x02", 16); /* 40 images of 2×2 */
    memcpy(lab, "\0\0\x08\x01\0\0\0\x28", 8);
    for (int i = 0; i < 40; i++) {
        lab[8 + i] = (unsigned char)(i % 4);
        for (int p = 0; p < 4; p++) img[16 + i * 4 + p] = p == i % 4 ? 250 : (unsigned char)(i % 7);
    }
    const char *images = path_in("img.idx"), *labels = path_in("lab.idx");
    FILE *f = fopen(images, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(img, 1, sizeof img, f), sizeof img);
    fclose(f);
    f = fopen(labels, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(lab, 1, sizeof lab, f), sizeof lab);
    fclose(f);
    const char *model = path_in("idx.safetensors");
    assert_exit(run("train", "--data", images, "--labels", labels, "--layers", "4,8,4",
                         "--epochs", "300", "--lr", "2", "--val", "0", "--save", model, NULL), 0);
    assert_exit(run("eval", "--model", model, "--data", images, "--labels", labels, NULL), 0);
    assert_non_null(strstr(out_text, "rows 40 "));
    assert_exit(run("predict", "--model", model, "--data", images, "--labels", labels,
                         "--out", "-", NULL), 0);
    assert_non_null(strstr(out_text, "y0,y1,y2,y3,label\n"));
}

/* eval without --data: a checkpoint is evaluated on the rows its run held
 * out, and says so; a bare model file says its rows may include training. */
static void test_eval_chooses_the_held_out_rows(void **state)
{
    (void)state;
    const char *ck = path_in("digits.safetensors");
    assert_exit(run("train", "--epochs", "3", "--save", ck, NULL), 0);
    assert_exit(run("eval", "--model", ck, NULL), 0);
    assert_non_null(strstr(out_text, "evaluating the rows of bundled digits its run held out for "
                                     "validation (--val 0.2, seed 1)"));
    assert_non_null(strstr(out_text, "rows 359 "));
    /* The same rows as the run's own validation: the same loss, to print precision. */
    char want[64];
    assert_exit(run("train", "--resume", ck, "--epochs", "3", NULL), 0);
    const char *v = strstr(out_text, "val_loss ");
    assert_non_null(v);
    snprintf(want, sizeof want, "loss %.6g", atof(v + 9));
    assert_exit(run("eval", "--model", ck, NULL), 0);
    assert_non_null(strstr(out_text, want));
    /* A model file from the library carries no record of its rows. */
    nb_backend *be = NULL;
    nb_model *m = NULL;
    const int w[] = {64, 10};
    const nb_act acts[] = {NB_ACT_SIGMOID};
    const char *bare = path_in("bare.safetensors");
    assert_int_equal(nb_backend_create("cpu", &be), NB_OK);
    assert_int_equal(nb_model_create(be, 1, w, acts, NB_LOSS_MSE, 1, &m), NB_OK);
    assert_int_equal(nb_model_save(m, bare), NB_OK);
    assert_exit(run("eval", "--model", bare, NULL), 0);
    assert_non_null(strstr(out_text, "all rows of the bundled digits"));
    assert_non_null(strstr(out_text, "rows 1797 "));
    /* Outputs that overflow: eval and predict fail (exit 1) naming them. */
    float *theta = malloc(nb_model_param_count(m) * sizeof *theta);
    assert_non_null(theta);
    for (size_t i = 0; i < nb_model_param_count(m); i++) theta[i] = 3e38f;
    assert_int_equal(nb_model_set_params(m, theta, nb_model_param_count(m)), NB_OK);
    const int wi[] = {64, 10};
    const nb_act id[] = {NB_ACT_IDENTITY};
    nb_model_free(m);
    assert_int_equal(nb_model_create(be, 1, wi, id, NB_LOSS_MSE, 1, &m), NB_OK);
    assert_int_equal(nb_model_set_params(m, theta, nb_model_param_count(m)), NB_OK);
    const char *huge = path_in("huge.safetensors");
    assert_int_equal(nb_model_save(m, huge), NB_OK);
    assert_exit(run("eval", "--model", huge, NULL), 1);
    assert_non_null(strstr(err_text, "is Inf"));
    assert_exit(run("predict", "--model", huge, "--out", "-", NULL), 1);
    assert_non_null(strstr(err_text, "row 0"));
    assert_null(strstr(out_text, "nan"));
    free(theta);
    nb_model_free(m);
    nb_backend_free(be);
}

/* gradcheck takes the same data flags. */
static void test_gradcheck_data_flags(void **state)
{
    (void)state;
    const char *semi = flowers("gc.csv", ';');
    assert_exit(run("gradcheck", "--data", semi, "--layers", "3,5,3", "--loss", "xent", NULL), 0);
    assert_non_null(strstr(out_text, "PASS"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_of_any_width_and_named_classes),
        cmocka_unit_test(test_a_corrupted_first_row_is_said),
        cmocka_unit_test(test_delimiters),
        cmocka_unit_test(test_standard_input),
        cmocka_unit_test(test_paths_that_are_not_files),
        cmocka_unit_test(test_eval_reads_idx),
        cmocka_unit_test(test_eval_chooses_the_held_out_rows),
        cmocka_unit_test(test_gradcheck_data_flags),
    };
    return cmocka_run_group_tests(tests, cli_setup, cli_teardown);
}
