/*
 * cli_test.c — the nabla tool as a user runs it: exit statuses, the one-line
 * messages for bad flags and bad data (naming the flag, or file:line:col),
 * the default digits run, and the --log file.
 *
 * CTest runs this with NABLA_DEVICE=cpu, so behaviour is checked on the
 * pure-C backend; device choice and fallback are device_test.c's job.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cli/run_cli.h"

/* `nabla train` with no arguments: the bundled digits, above 90%. */
static void test_default_train(void **state)
{
    (void)state;
    /* The true default: no --device and no NABLA_DEVICE, so "auto". */
    static const char *const unset[] = {"NABLA_DEVICE=", NULL};
    assert_int_equal(run_env(unset, "train", NULL), 0);
    const char *fin = strstr(out_text, "final:");
    assert_non_null(fin);
    const char *acc = strstr(fin, "val_acc ");
    assert_non_null(acc);
    double pct = atof(acc + 8);
    print_message("default run: %.2f%% validation accuracy\n", pct);
    assert_true(pct >= 90.0);
    assert_non_null(strstr(out_text, "stopped: reached the epoch limit (100)"));
    assert_non_null(strstr(out_text, "epoch     1"));
}

/* Each bad flag: exit 2 and one line naming the flag. */
static void test_bad_flags(void **state)
{
    (void)state;
    static const char *cases[][3] = {
        {"--lr", "abc", "--lr"},         {"--lr", "-1", "--lr"},
        {"--lr", "nan", "--lr"},         {"--epochs", "-3", "--epochs"},
        {"--batch", "0", "--batch"},     {"--batch", "12x", "--batch"},
        {"--layers", "64,x,10", "--layers"}, {"--layers", "64", "--layers"},
        {"--layers", "3,5,10", "--layers"},  {"--act", "softplus", "--act"},
        {"--loss", "hinge", "--loss"},   {"--val", "1", "--val"},
        {"--seed", "-5", "--seed"},      {"--tol-grad", "0", "--tol-grad"},
        {"--iters", "0", "--iters"},     {"--label-col", "-2", "--label-col"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int code = run("train", cases[i][0], cases[i][1], NULL);
        if (code != 2 || !strstr(err_text, cases[i][2])) {
            print_error("%s %s: exit %d, stderr: %s\n", cases[i][0], cases[i][1], code, err_text);
            fail();
        }
        /* One line, no trace of training. */
        assert_non_null(strchr(err_text, '\n'));
        assert_null(strchr(strchr(err_text, '\n') + 1, '\n'));
        assert_null(strstr(out_text, "epoch"));
    }
    assert_int_equal(run("train", "--no-such-flag", NULL), 2);
    assert_non_null(strstr(err_text, "--no-such-flag"));
    assert_int_equal(run("train", "--lr", NULL), 2);
    assert_int_equal(run("frobnicate", NULL), 2);
    assert_int_equal(run(NULL), 2);
}

/* Each bad data file: exit 2 and a message naming file:line(:column). */
static void test_bad_data(void **state)
{
    (void)state;
    static const char *cases[][3] = {
        {"ragged.csv", "1,2,0\n3,4,1\n5,1\n", "ragged.csv:3:"},
        {"word.csv", "1,2,0\n3,x4,1\n", "word.csv:2:3"},
        {"empty.csv", "", "empty.csv"},
        {"neglabel.csv", "1,2,0\n3,4,-1\n", "neglabel.csv:2:5"},
        {"fraclabel.csv", "1,2,0.5\n", "fraclabel.csv:1:5"},
        {"nan.csv", "1,2,0\nnan,4,1\n", "nan.csv:2:1"},
        {"inf.csv", "1,2,0\n3,-inf,1\n", "inf.csv:2:3"},
        {"big.csv", "1,2,0\n3,1e999,1\n", "big.csv:2:3"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *path = write_file(cases[i][0], cases[i][1]);
        int code = run("train", "--data", path, "--val", "0", "--epochs", "1", NULL);
        if (code != 2 || !strstr(err_text, cases[i][2])) {
            print_error("%s: exit %d, stderr: %s\n", cases[i][0], code, err_text);
            fail();
        }
        assert_null(strstr(out_text, "epoch"));
    }
    /* A label beyond the output layer's width is caught at its position. */
    const char *path = write_file("range.csv", "1,2,0\n3,4,1\n5,6,7\n");
    assert_int_equal(run("train", "--data", path, "--layers", "2,4,2", "--val", "0", NULL), 2);
    assert_non_null(strstr(err_text, "range.csv:3:5"));
    assert_int_equal(run("train", "--data", "/nonexistent/x.csv", NULL), 2);
    assert_non_null(strstr(err_text, "/nonexistent/x.csv"));
}

/* --log writes one JSON object per epoch with every promised field. */
static void test_log_file(void **state)
{
    (void)state;
    char log[300];
    snprintf(log, sizeof log, "%s/run.jsonl", tmpdir);
    assert_int_equal(run("train", "--epochs", "3", "--log", log, NULL), 0);
    char text[8192];
    slurp(log, text, sizeof text);
    int lines = 0;
    for (char *p = text; (p = strchr(p, '\n')); p++) lines++;
    assert_int_equal(lines, 3);
    static const char *keys[] = {"\"epoch\":1,", "\"epoch\":3,", "\"loss\":", "\"val_loss\":",
                                 "\"val_acc\":", "\"grad_norm\":", "\"lr\":0.5", "\"seconds\":"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) assert_non_null(strstr(text, keys[i]));
    assert_null(strstr(text, "nan"));
}

/* Full-batch GD with a gradient tolerance says why it stopped. */
static void test_full_batch_halting_message(void **state)
{
    (void)state;
    const char *path = write_file("line.csv", "0,1\n1,3\n2,5\n3,7\n");
    assert_int_equal(run("train", "--data", path, "--regression", "--layers", "1,1", "--act",
                         "identity", "--batch", "full", "--lr", "0.1", "--epochs", "0",
                         "--tol-grad", "1e-3", "--val", "0", NULL),
                     0);
    assert_non_null(strstr(out_text, "stopped: ‖∇Φ‖ = "));
    assert_non_null(strstr(out_text, "≤ 0.001 after "));
}

/* Write an IDX file: magic 0 0 8 ndims, big-endian dims, then bytes. */
static const char *write_idx(const char *name, int ndims, const unsigned *dims,
                             const unsigned char *bytes, size_t n)
{
    static char path[300];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    unsigned char head[4] = {0, 0, 8, (unsigned char)ndims};
    fwrite(head, 1, 4, f);
    for (int i = 0; i < ndims; i++) {
        unsigned char d[4] = {(unsigned char)(dims[i] >> 24), (unsigned char)(dims[i] >> 16),
                              (unsigned char)(dims[i] >> 8), (unsigned char)dims[i]};
        fwrite(d, 1, 4, f);
    }
    fwrite(bytes, 1, n, f);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* MNIST-format training: 40 2×2 images whose label is the bright pixel. */
static void test_idx_training(void **state)
{
    (void)state;
    unsigned char img[40 * 4], lab[40];
    for (int i = 0; i < 40; i++) {
        lab[i] = (unsigned char)(i % 4);
        for (int p = 0; p < 4; p++) img[i * 4 + p] = p == i % 4 ? 250 : (unsigned char)(i % 7);
    }
    const unsigned di[] = {40, 2, 2}, dl[] = {40};
    char images[300];
    snprintf(images, sizeof images, "%s", write_idx("img.idx", 3, di, img, sizeof img));
    const char *labels = write_idx("lab.idx", 1, dl, lab, sizeof lab);
    assert_int_equal(run("train", "--data", images, "--labels", labels, "--layers", "4,8,4",
                         "--epochs", "300", "--lr", "2", "--val", "0", NULL), 0);
    assert_non_null(strstr(out_text, "40 train"));
    /* A label beyond the output width is an error naming the file. */
    lab[7] = 9;
    labels = write_idx("lab.idx", 1, dl, lab, sizeof lab);
    assert_int_equal(run("train", "--data", images, "--labels", labels, "--layers", "4,8,4", NULL), 2);
    assert_non_null(strstr(err_text, "lab.idx"));
    assert_int_equal(run("train", "--labels", labels, NULL), 2);
}

static void test_help_and_version(void **state)
{
    (void)state;
    assert_int_equal(run("--help", NULL), 0);
    assert_non_null(strstr(out_text, "train"));
    assert_int_equal(run("--version", NULL), 0);
    assert_non_null(strstr(out_text, "nabla "));
    assert_int_equal(run("train", "--help", NULL), 0);
    /* Every flag the help names is accepted by the parser. */
    for (const char *p = out_text; (p = strstr(p, "  --")); p += 4) {
        char flag[64];
        size_t n = strcspn(p + 2, " \n");
        assert_true(n < sizeof flag);
        memcpy(flag, p + 2, n);
        flag[n] = '\0';
        char saved[sizeof out_text];
        memcpy(saved, out_text, sizeof saved);
        run("train", flag, NULL);
        if (strstr(err_text, "unknown option")) {
            print_error("help names %s, which the parser rejects\n", flag);
            fail();
        }
        memcpy(out_text, saved, sizeof saved);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_train),
        cmocka_unit_test(test_bad_flags),
        cmocka_unit_test(test_bad_data),
        cmocka_unit_test(test_log_file),
        cmocka_unit_test(test_full_batch_halting_message),
        cmocka_unit_test(test_idx_training),
        cmocka_unit_test(test_help_and_version),
    };
    return cmocka_run_group_tests(tests, cli_setup, cli_teardown);
}
