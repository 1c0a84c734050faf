/*
 * csv_test.c — nb_dataset_load_csv and nb_dataset_load_csv_mem.
 *
 * Most inputs are strings loaded from memory; a few go through real temp
 * files for the file path (chunk boundaries, open and read failures).
 * Every error case checks the exact status, that *out is NULL, and the
 * file:line:column in nb_last_error().
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "data/csv_check.h"
#include "nabla.h"

static void test_options_default(void **state)
{
    (void)state;
    nb_csv_options o;
    memset(&o, 0x55, sizeof o);
    nb_csv_options_default(&o);
    assert_int_equal(o.header, -1);
    assert_int_equal(o.label_col, -1);
    assert_int_equal(o.regression, 0);
    assert_int_equal(o.targets, 0);
    assert_int_equal(o.classes, 0);
    assert_int_equal(o.max_line, 0);
}

static void test_classification_values(void **state)
{
    (void)state;
    nb_dataset *d = LOAD_OK("1.5,2,0\n-3,4e-1,2\n+.25, 7. ,1\n", NULL);
    const float x[] = {1.5f, 2.0f, -3.0f, 0.4f, 0.25f, 7.0f};
    const int32_t labels[] = {0, 2, 1};
    assert_int_equal(nb_dataset_rows(d), 3);
    assert_int_equal(nb_dataset_inputs(d), 2);
    assert_int_equal(nb_dataset_classes(d), 3);
    assert_int_equal(nb_dataset_outputs(d), 3);
    assert_null(nb_dataset_y(d));
    assert_close_f(nb_dataset_x(d), x, 6, 0.0, 0.0);
    assert_memory_equal(nb_dataset_labels(d), labels, sizeof labels);
    nb_dataset_free(d);
}

static void test_header_detected(void **state)
{
    (void)state;
    nb_dataset *d = LOAD_OK("x1,x2,label\n1,2,1\n3,4,0\n", NULL);
    const float x[] = {1, 2, 3, 4};
    assert_int_equal(nb_dataset_rows(d), 2);
    assert_close_f(nb_dataset_x(d), x, 4, 0.0, 0.0);
    assert_int_equal(nb_dataset_labels(d)[0], 1);
    nb_dataset_free(d);
    /* An unnamed first column (as pandas writes an index) is a header too. */
    d = LOAD_OK(",a,label\n7,8,1\n", NULL);
    assert_int_equal(nb_dataset_rows(d), 1);
    assert_close_f(nb_dataset_x(d), FLOATS(7, 8), 2, 0.0, 0.0);
    nb_dataset_free(d);
    /* A first row holding NaN is bad data, not a header to drop. */
    LOAD_FAIL("1,nan,0\n2,3,1\n", NULL, NB_ERR_DATA, "t.csv:1:3: NaN and Inf are not accepted");
}

static void test_header_forced_and_refused(void **state)
{
    (void)state;
    nb_csv_options o;
    nb_csv_options_default(&o);
    o.header = 1; /* the first row is skipped although it is numeric */
    nb_dataset *d = LOAD_OK("\n1,2,0\n3,4,1\n5,6,1", &o);
    assert_int_equal(nb_dataset_rows(d), 2);
    assert_close_f(nb_dataset_x(d), FLOATS(3, 4, 5, 6), 4, 0.0, 0.0);
    nb_dataset_free(d);
    o.header = 0; /* a header row is then bad data at its first bad field */
    LOAD_FAIL("1.0, yy,label\n2,3,0\n", &o, NB_ERR_DATA,
              "nb_dataset_load_csv_mem: t.csv:1:6: expected a number, got 'yy'");
    LOAD_FAIL("x,y,label\n2,3,0\n", &o, NB_ERR_DATA, "t.csv:1:1: expected a number, got 'x'");
}

static void test_label_col_middle(void **state)
{
    (void)state;
    nb_csv_options o;
    nb_csv_options_default(&o);
    o.label_col = 1;
    nb_dataset *d = LOAD_OK("1,0,2\n3,1,4\n", &o);
    assert_int_equal(nb_dataset_inputs(d), 2);
    assert_int_equal(nb_dataset_classes(d), 2);
    assert_close_f(nb_dataset_x(d), FLOATS(1, 2, 3, 4), 4, 0.0, 0.0);
    assert_memory_equal(nb_dataset_labels(d), LABELS(0, 1), 2 * sizeof(int32_t));
    nb_dataset_free(d);
    o.label_col = 0;
    d = LOAD_OK("2,5,6\n", &o);
    assert_int_equal(nb_dataset_labels(d)[0], 2);
    assert_int_equal(nb_dataset_classes(d), 3);
    assert_close_f(nb_dataset_x(d), FLOATS(5, 6), 2, 0.0, 0.0);
    nb_dataset_free(d);
    o.label_col = 3;
    LOAD_FAIL("1,0,2\n", &o, NB_ERR_ARG, "label_col = 3 is outside rows of 3 fields");
}

static void test_regression(void **state)
{
    (void)state;
    nb_csv_options o;
    nb_csv_options_default(&o);
    o.regression = 1;
    nb_dataset *d = LOAD_OK("1,2,0.5\n3,4,-1.25\n", &o);
    assert_int_equal(nb_dataset_inputs(d), 2);
    assert_int_equal(nb_dataset_outputs(d), 1);
    assert_int_equal(nb_dataset_classes(d), 0);
    assert_null(nb_dataset_labels(d));
    assert_close_f(nb_dataset_x(d), FLOATS(1, 2, 3, 4), 4, 0.0, 0.0);
    assert_close_f(nb_dataset_y(d), FLOATS(0.5f, -1.25f), 2, 0.0, 0.0);
    nb_dataset_free(d);
    o.label_col = 0;
    d = LOAD_OK("0.5,1,2\n", &o);
    assert_close_f(nb_dataset_y(d), FLOATS(0.5f), 1, 0.0, 0.0);
    assert_close_f(nb_dataset_x(d), FLOATS(1, 2), 2, 0.0, 0.0);
    nb_dataset_free(d);
    LOAD_FAIL("1,2,3\n4,5,inf\n", &o, NB_ERR_DATA, "t.csv:2:5: NaN and Inf are not accepted");
}

static void test_targets(void **state)
{
    (void)state;
    nb_csv_options o;
    nb_csv_options_default(&o);
    o.targets = 2;
    nb_dataset *d = LOAD_OK("a,b,c,d\n1,2,3,4\n5,6,7,8\n", &o);
    assert_int_equal(nb_dataset_rows(d), 2);
    assert_int_equal(nb_dataset_inputs(d), 2);
    assert_int_equal(nb_dataset_outputs(d), 2);
    assert_int_equal(nb_dataset_classes(d), 0);
    assert_null(nb_dataset_labels(d));
    assert_close_f(nb_dataset_x(d), FLOATS(1, 2, 5, 6), 4, 0.0, 0.0);
    assert_close_f(nb_dataset_y(d), FLOATS(3, 4, 7, 8), 4, 0.0, 0.0);
    nb_dataset_free(d);
}

/* Features alone, as prediction reads new data: every column is an input
 * (one column is enough), there are no targets, and no target option may
 * come with it. */
static void test_features_only(void **state)
{
    (void)state;
    nb_csv_options o;
    nb_csv_options_default(&o);
    o.features_only = 1;
    nb_dataset *d = LOAD_OK("x,y,z\n1,2,3\n4,5,6.5\n", &o);
    assert_int_equal(nb_dataset_rows(d), 2);
    assert_int_equal(nb_dataset_inputs(d), 3);
    assert_int_equal(nb_dataset_outputs(d), 0);
    assert_int_equal(nb_dataset_classes(d), 0);
    assert_null(nb_dataset_labels(d));
    assert_null(nb_dataset_y(d));
    assert_close_f(nb_dataset_x(d), FLOATS(1, 2, 3, 4, 5, 6.5f), 6, 0.0, 0.0);
    nb_dataset_free(d);
    d = LOAD_OK("7\n8\n", &o);
    assert_int_equal(nb_dataset_inputs(d), 1);
    nb_dataset_free(d);
    LOAD_FAIL("1,2\n3\n", &o, NB_ERR_DATA, "t.csv:2:2: expected 2 fields separated by ',' but "
              "found 1");
    LOAD_FAIL("1,2\n3,4,5\n", &o, NB_ERR_DATA, "t.csv:2:5: expected 2 fields, got 3");
    o.targets = 1;
    LOAD_FAIL("1,2\n", &o, NB_ERR_ARG, "features_only takes no label_col, regression, targets");
    o.targets = 0;
    o.label_col = 0;
    LOAD_FAIL("1,2\n", &o, NB_ERR_ARG, "features_only takes no label_col");
}

static void test_option_errors(void **state)
{
    (void)state;
    nb_csv_options o;
    nb_csv_options_default(&o);
    o.targets = 2;
    o.label_col = 0;
    LOAD_FAIL("1,2,3,4\n", &o, NB_ERR_ARG, "targets > 0 needs label_col = -1");
    o.label_col = -1;
    o.targets = 3;
    LOAD_FAIL("1,2,3\n", &o, NB_ERR_ARG, "targets = 3 leaves no feature column");
    o.targets = 5;
    LOAD_FAIL("1,2,3\n", &o, NB_ERR_ARG, "targets = 5 leaves no feature column");
    nb_csv_options_default(&o);
    o.header = 2;
    LOAD_FAIL("1,2\n", &o, NB_ERR_ARG, "header must be -1, 0 or 1");
    nb_csv_options_default(&o);
    o.label_col = -2;
    LOAD_FAIL("1,2\n", &o, NB_ERR_ARG, "label_col must be >= -1");
    nb_csv_options_default(&o);
    o.regression = 1;
    o.classes = 3;
    LOAD_FAIL("1,2\n", &o, NB_ERR_ARG, "classes is set for a regression load");
    nb_csv_options_default(&o);
    o.classes = -1;
    LOAD_FAIL("1,2\n", &o, NB_ERR_ARG, "classes >= 0");
}

static void test_null_arguments(void **state)
{
    (void)state;
    nb_dataset *d = NOT_NULL;
    assert_int_equal(nb_dataset_load_csv("x.csv", NULL, NULL), NB_ERR_ARG);
    assert_non_null(strstr(nb_last_error(), "nb_dataset_load_csv: out is NULL"));
    assert_int_equal(nb_dataset_load_csv_mem("m", "1,0\n", 4, NULL, NULL), NB_ERR_ARG);
    CHECK_FAIL(nb_dataset_load_csv(NULL, NULL, &d), d, NB_ERR_ARG, "path is NULL");
    d = NOT_NULL;
    CHECK_FAIL(nb_dataset_load_csv_mem("m", NULL, 4, NULL, &d), d, NB_ERR_ARG, "bytes is NULL");
    d = NOT_NULL;
    CHECK_FAIL(nb_dataset_load_csv_mem("m", NULL, 0, NULL, &d), d, NB_ERR_DATA, "m: no data rows");
    /* A NULL name still gives a message naming the source. */
    d = NOT_NULL;
    CHECK_FAIL(nb_dataset_load_csv_mem(NULL, "1,0\nx,1\n", 8, NULL, &d), d, NB_ERR_DATA,
               "nb_dataset_load_csv_mem: <memory>:2:1: expected a number");
}

static void test_bom(void **state)
{
    (void)state;
    nb_dataset *d = LOAD_OK(BOM "a,label\n1,0\n", NULL);
    assert_int_equal(nb_dataset_rows(d), 1);
    assert_close_f(nb_dataset_x(d), FLOATS(1), 1, 0.0, 0.0);
    nb_dataset_free(d);
    d = LOAD_OK(BOM "4,1\n", NULL);
    assert_int_equal(nb_dataset_rows(d), 1);
    assert_close_f(nb_dataset_x(d), FLOATS(4), 1, 0.0, 0.0);
    nb_dataset_free(d);
    /* Columns count from after the mark. */
    nb_csv_options o;
    nb_csv_options_default(&o);
    o.header = 0;
    LOAD_FAIL(BOM "1,x,0\n", &o, NB_ERR_DATA, "t.csv:1:3: expected a number");
    /* A mark anywhere else is not a number. */
    LOAD_FAIL("1,0\n" BOM "2,1\n", NULL, NB_ERR_DATA, "t.csv:2:1: expected a number");
}

static void test_crlf_blank_lines_last_line(void **state)
{
    (void)state;
    nb_dataset *d = LOAD_OK("a,b\r\n1,0\r\n\r\n2,1\r\n", NULL);
    assert_int_equal(nb_dataset_rows(d), 2);
    assert_close_f(nb_dataset_x(d), FLOATS(1, 2), 2, 0.0, 0.0);
    assert_int_equal(nb_dataset_labels(d)[1], 1);
    nb_dataset_free(d);
    d = LOAD_OK("\n  \n1,0\n\t\n\n 2 ,\t1\t\n \r\n", NULL);
    assert_int_equal(nb_dataset_rows(d), 2);
    assert_close_f(nb_dataset_x(d), FLOATS(1, 2), 2, 0.0, 0.0);
    nb_dataset_free(d);
    d = LOAD_OK("1,0\n2,1", NULL); /* no final newline */
    assert_int_equal(nb_dataset_rows(d), 2);
    assert_close_f(nb_dataset_x(d), FLOATS(1, 2), 2, 0.0, 0.0);
    assert_int_equal(nb_dataset_labels(d)[1], 1);
    nb_dataset_free(d);
    d = LOAD_OK("3,0\r", NULL); /* CR without LF at the end */
    assert_int_equal(nb_dataset_rows(d), 1);
    nb_dataset_free(d);
    /* Blank lines still count for line numbers. */
    LOAD_FAIL("\n\n1,0\n\r\nx,1\n", NULL, NB_ERR_DATA, "t.csv:5:1: expected a number, got 'x'");
}

static void test_ragged_rows(void **state)
{
    (void)state;
    LOAD_FAIL("1,2,0\n3,4\n", NULL, NB_ERR_DATA,
              "nb_dataset_load_csv_mem: t.csv:2:4: expected 3 fields, got 2");
    LOAD_FAIL("1,2,0\n3,4,1,5\n", NULL, NB_ERR_DATA, "t.csv:2:7: expected 3 fields, got 4");
    LOAD_FAIL("1,2,0\n\n 3 , 4 , 1 , 5 , 6\n", NULL, NB_ERR_DATA,
              "t.csv:3:13: expected 3 fields, got 5");
    LOAD_FAIL("a,b,c\n1,2,0\n3,4,0,\n", NULL, NB_ERR_DATA, "t.csv:3:7: expected 3 fields, got 4");
    LOAD_FAIL("1,2,0\n3,4,1\n5\n", NULL, NB_ERR_DATA,
              "t.csv:3:2: expected 3 fields separated by ',' but found 1");
}

static void test_bad_numbers(void **state)
{
    (void)state;
    static const char *bad[] = {"abc", "0x10", "1..2", "1e",  "1e+",   "+",  "-",
                                ".",   "1,5x", "--1",  "1 2", "0x1p3", "e5", "\x01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[64], needle[64];
        snprintf(text, sizeof text, "1,2,0\n3,%s,1\n", bad[i]);
        if (strchr(bad[i], ',')) {
            /* "1,5x" makes the row ragged instead. */
            LOAD_FAIL(text, NULL, NB_ERR_DATA, "expected 3 fields, got 4");
            continue;
        }
        snprintf(needle, sizeof needle, "t.csv:2:3: expected a number, got '%s'",
                 bad[i][0] == '\x01' ? "?" : bad[i]);
        LOAD_FAIL(text, NULL, NB_ERR_DATA, needle);
    }
    LOAD_FAIL("1,2,0\n3,,1\n", NULL, NB_ERR_DATA, "t.csv:2:3: empty field");
    LOAD_FAIL("1,2,0\n3, \t,1\n", NULL, NB_ERR_DATA, "t.csv:2:3: empty field");
    LOAD_FAIL("1,2,0\n,3,1\n", NULL, NB_ERR_DATA, "t.csv:2:1: empty field");
    LOAD_FAIL("1,2,0\n3,4,\n", NULL, NB_ERR_DATA, "t.csv:2:5: empty field");
    LOAD_FAIL("a,b\n1\"2,0\n", NULL, NB_ERR_DATA, "t.csv:2:2: a quote inside an unquoted field");
    /* Long offending text is cut short in the message. */
    char text[256];
    snprintf(text, sizeof text, "1,2\n%s,1\n",
             "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz");
    LOAD_FAIL(text, NULL, NB_ERR_DATA, "got 'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz...'");
    /* Errors come in file order, before any later ragged row. */
    LOAD_FAIL("1,2,0\n3,q,1\n1,2\n", NULL, NB_ERR_DATA, "t.csv:2:3: expected a number");
}

static void test_numbers_accepted(void **state)
{
    (void)state;
    nb_dataset *d = LOAD_OK("-0,1e38,3.4028234e38,1E-3,-2.5e+2,0007,1e-60,0\n", NULL);
    const float x[] = {0.0f, 1e38f, 3.4028234e38f, 1e-3f, -250.0f, 7.0f, 0.0f};
    assert_int_equal(nb_dataset_inputs(d), 7);
    assert_close_f(nb_dataset_x(d), x, 7, 0.0, 0.0);
    nb_dataset_free(d);
}

static void test_nonfinite_and_range(void **state)
{
    (void)state;
    static const char *nonfinite[] = {"nan",  "NaN",      "-nan",     "inf",     "-Inf",
                                      "+INF", "infinity", "INFINITY", "nan(0x1)"};
    static const char *range[] = {"1e39", "-1e39", "1e999", "3.5e38", "1e400000000000"};
    char text[64], needle[64];
    for (size_t i = 0; i < sizeof nonfinite / sizeof nonfinite[0]; i++) {
        snprintf(text, sizeof text, "1,2,0\n3,%s,1\n", nonfinite[i]);
        snprintf(needle, sizeof needle, "t.csv:2:3: NaN and Inf are not accepted, got '%s'",
                 nonfinite[i]);
        LOAD_FAIL(text, NULL, NB_ERR_DATA, needle);
    }
    for (size_t i = 0; i < sizeof range / sizeof range[0]; i++) {
        snprintf(text, sizeof text, "1,2,0\n3,%s,1\n", range[i]);
        snprintf(needle, sizeof needle, "t.csv:2:3: '%s' is outside the float range", range[i]);
        LOAD_FAIL(text, NULL, NB_ERR_DATA, needle);
    }
}

static void test_bad_labels(void **state)
{
    (void)state;
    /* A label that is a number but not a whole one is an error at its
     * place: no class, and most likely a real-valued target without
     * --regression. */
    static const char *numbers[] = {"-1", "3.5", "1e2", "+1", "-0.25", "1E-3"};
    char want[96];
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        char t[64];
        snprintf(t, sizeof t, "1,0\n2,%s\n", numbers[i]);
        snprintf(want, sizeof want, "t.csv:2:3: class label '%s' is not a whole number", numbers[i]);
        LOAD_FAIL(t, NULL, NB_ERR_DATA, want);
    }
    /* Any other text makes every label a class name (test_names). */
    static const char *names[] = {"abc", "0x1", "1 2", "-", "e5"};
    nb_dataset *d0;
    char text[64];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(text, sizeof text, "1,0\n2,%s\n", names[i]);
        d0 = LOAD_OK(text, NULL);
        assert_int_equal(nb_dataset_classes(d0), 2);
        /* Classes in byte order: '-' and '+' come before '0'. */
        int first = strcmp(names[i], "0") < 0;
        assert_string_equal(nb_dataset_class_name(d0, first ? 1 : 0), "0");
        assert_string_equal(nb_dataset_class_name(d0, first ? 0 : 1), names[i]);
        assert_memory_equal(nb_dataset_labels(d0), first ? LABELS(1, 0) : LABELS(0, 1),
                            2 * sizeof(int32_t));
        nb_dataset_free(d0);
    }
    LOAD_FAIL("1,0\n2,\n", NULL, NB_ERR_DATA, "t.csv:2:3: empty field");
    LOAD_FAIL("1,0\n2, \n", NULL, NB_ERR_DATA, "t.csv:2:3: empty field");
    /* With every label a whole number, the numbers are checked. */
    LOAD_FAIL("1,0\n2,99999999999\n", NULL, NB_ERR_DATA,
              "t.csv:2:3: class label '99999999999' is too large");
    LOAD_FAIL("1,0\n2,2147483647\n", NULL, NB_ERR_DATA, "is too large");
    /* Inferring the class count stops at 65536 classes: a label beyond is
     * a wrong column far more often than a class, and would size the model. */
    LOAD_FAIL("1,0\n2,65536\n", NULL, NB_ERR_DATA, "t.csv:2:3: label 65536: at most 65536 classes");
    d0 = LOAD_OK("1,0\n2,65535\n", NULL);
    assert_int_equal(nb_dataset_classes(d0), 65536);
    assert_null(nb_dataset_class_name(d0, 0)); /* numbers have no names */
    nb_dataset_free(d0);
    /* The first of these errors in the file is the one reported, after
     * the whole file was seen to hold numbers only. */
    LOAD_FAIL("1,0\n2,70000\n3,99999999999\n", NULL, NB_ERR_DATA, "t.csv:2:3: label 70000");
    /* Surrounding blanks are fine. */
    nb_dataset *d = LOAD_OK("1, 4 \n2,\t0\n", NULL);
    assert_memory_equal(nb_dataset_labels(d), LABELS(4, 0), 2 * sizeof(int32_t));
    assert_int_equal(nb_dataset_classes(d), 5);
    nb_dataset_free(d);
}

static void test_label_classes(void **state)
{
    (void)state;
    nb_csv_options o;
    nb_csv_options_default(&o);
    o.classes = 10;
    nb_dataset *d = LOAD_OK("1,0\n2,9\n", &o);
    assert_int_equal(nb_dataset_classes(d), 10);
    assert_int_equal(nb_dataset_outputs(d), 10);
    nb_dataset_free(d);
    d = LOAD_OK("1,2\n", &o); /* fewer labels seen than classes given */
    assert_int_equal(nb_dataset_classes(d), 10);
    nb_dataset_free(d);
    LOAD_FAIL("1,0\n2,10\n", &o, NB_ERR_DATA, "t.csv:2:3: label 10 >= classes 10");
    LOAD_FAIL("1,0\n\n 2 , 255\n", &o, NB_ERR_DATA, "t.csv:3:6: label 255 >= classes 10");
}

static void test_empty_inputs(void **state)
{
    (void)state;
    LOAD_FAIL("", NULL, NB_ERR_DATA, "nb_dataset_load_csv_mem: t.csv: no data rows");
    LOAD_FAIL(" \n\t\r\n\n   ", NULL, NB_ERR_DATA, "t.csv: no data rows");
    LOAD_FAIL("\xEF\xBB\xBF", NULL, NB_ERR_DATA, "t.csv: no data rows");
    LOAD_FAIL("a,b,label\n", NULL, NB_ERR_DATA, "t.csv: no data rows");
    LOAD_FAIL("5\n6\n", NULL, NB_ERR_DATA, "t.csv:1:1: a row needs a feature and a label");
}

static void test_line_limit(void **state)
{
    (void)state;
    nb_csv_options o;
    nb_csv_options_default(&o);
    o.max_line = 16;
    /* Exactly 16 bytes is fine, also with CRLF; one more byte is not. */
    nb_dataset *d = LOAD_OK("1,0\n12345678901234,1\r\n123456789.123,1", &o);
    assert_int_equal(nb_dataset_rows(d), 3);
    assert_close_f(nb_dataset_x(d), FLOATS(1, 12345678901234.0f, 123456789.123f), 3, 0.0, 0.0);
    nb_dataset_free(d);
    LOAD_FAIL("1,0\n\n123456789012345,1\n", &o, NB_ERR_DATA,
              "t.csv:3: line is longer than max_line = 16 bytes");
    LOAD_FAIL("1,0\n2,1\n1234567890123456789", &o, NB_ERR_DATA,
              "t.csv:3: line is longer than max_line = 16 bytes");
    LOAD_FAIL("1234567890,123456789012345678901234567890\n", &o, NB_ERR_DATA,
              "t.csv:1: line is longer");
}

/* A temp file holding text; path (PATH_MAX-ish) receives its name. */
static void write_temp(char *path, size_t cap, const char *text, size_t n)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, cap, "%s/nabla_csv_XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void test_file_small(void **state)
{
    (void)state;
    char path[512], needle[600];
    const char *text = "x,y,label\r\n0.5,-1,1\r\n2,3,0";
    write_temp(path, sizeof path, text, strlen(text));
    nb_dataset *d = NULL;
    assert_int_equal(nb_dataset_load_csv(path, NULL, &d), NB_OK);
    assert_int_equal(nb_dataset_rows(d), 2);
    assert_close_f(nb_dataset_x(d), FLOATS(0.5f, -1, 2, 3), 4, 0.0, 0.0);
    assert_memory_equal(nb_dataset_labels(d), LABELS(1, 0), 2 * sizeof(int32_t));
    nb_dataset_free(d);
    remove(path);

    text = "1,2,0\n3,abc,1\n";
    write_temp(path, sizeof path, text, strlen(text));
    d = NOT_NULL;
    snprintf(needle, sizeof needle, "nb_dataset_load_csv: %s:2:3: expected a number, got 'abc'",
             path);
    CHECK_FAIL(nb_dataset_load_csv(path, NULL, &d), d, NB_ERR_DATA, needle);
    remove(path);
}

/* Many rows across many 64 KiB chunks: lines split at chunk boundaries
 * must come out whole, and the file and memory paths must agree. */
static void test_file_large(void **state)
{
    (void)state;
    enum { ROWS = 30000 };
    size_t cap = (size_t)ROWS * 40, n = 0;
    char *text = malloc(cap), path[512];
    assert_non_null(text);
    n += (size_t)snprintf(text, cap, "f0,f1,f2,label\n");
    for (int i = 0; i < ROWS; i++)
        n += (size_t)snprintf(text + n, cap - n, "%d.25,%d,-%d.5,%d%s", i, i % 97, i % 13, i % 7,
                              i % 3 ? "\n" : "\r\n");
    write_temp(path, sizeof path, text, n);
    nb_dataset *f = NULL, *m = NULL;
    assert_int_equal(nb_dataset_load_csv(path, NULL, &f), NB_OK);
    assert_int_equal(nb_dataset_load_csv_mem("big", text, n, NULL, &m), NB_OK);
    assert_int_equal(nb_dataset_rows(f), ROWS);
    assert_int_equal(nb_dataset_inputs(f), 3);
    assert_int_equal(nb_dataset_classes(f), 7);
    const float *x = nb_dataset_x(f);
    for (int i = 0; i < ROWS; i += 997) {
        float want[3] = {(float)i + 0.25f, (float)(i % 97), -((float)(i % 13) + 0.5f)};
        assert_close_f(x + 3 * i, want, 3, 0.0, 0.0);
        assert_int_equal(nb_dataset_labels(f)[i], i % 7);
    }
    assert_memory_equal(nb_dataset_x(f), nb_dataset_x(m), (size_t)ROWS * 3 * sizeof(float));
    assert_memory_equal(nb_dataset_labels(f), nb_dataset_labels(m), (size_t)ROWS * 4);
    nb_dataset_free(f);
    nb_dataset_free(m);
    remove(path);
    free(text);
}

static void test_file_unreadable(void **state)
{
    (void)state;
    char path[512], needle[600];
    nb_dataset *d = NOT_NULL;
    snprintf(needle, sizeof needle, "cannot open: %s", strerror(ENOENT));
    CHECK_FAIL(nb_dataset_load_csv("/nonexistent/nabla/none.csv", NULL, &d), d, NB_ERR_IO, needle);
    /* A directory is refused when it is opened (more in fileio_test.c). */
    const char *dir = getenv("TMPDIR");
    d = NOT_NULL;
    CHECK_FAIL(nb_dataset_load_csv(dir && *dir ? dir : "/tmp", NULL, &d), d, NB_ERR_IO,
               "not a regular file (a directory)");
    /* Without read permission (meaningless as root, who may read anyway). */
    write_temp(path, sizeof path, "1,0\n", 4);
    if (geteuid() != 0 && chmod(path, 0) == 0) {
        d = NOT_NULL;
        snprintf(needle, sizeof needle, "cannot open: %s", strerror(EACCES));
        CHECK_FAIL(nb_dataset_load_csv(path, NULL, &d), d, NB_ERR_IO, needle);
    }
    remove(path);
}

/* RFC 4180 quoting within a line: quoted numbers parse as numbers, quoted
 * header names are header text, commas inside quotes do not split. */
static void test_quoted_fields(void **state)
{
    (void)state;
    nb_dataset *d = LOAD_OK("\"x1\",\"x 2, with comma\",\"la\"\"bel\"\n"
                            "\"1.5\", \"2\" ,\"0\"\n"
                            "3,\" 4 \",\t\"1\"\t\n",
                            NULL);
    assert_int_equal(nb_dataset_rows(d), 2);
    assert_int_equal(nb_dataset_inputs(d), 2);
    assert_int_equal(nb_dataset_classes(d), 2);
    assert_close_f(nb_dataset_x(d), FLOATS(1.5f, 2, 3, 4), 4, 0.0, 0.0);
    assert_memory_equal(nb_dataset_labels(d), LABELS(0, 1), 2 * sizeof(int32_t));
    nb_dataset_free(d);
    /* A first row of quoted numbers is data, not a header. */
    d = LOAD_OK("\"1\",\"2e1\",\"0\"\n3,4,\"1\"\n", NULL);
    assert_int_equal(nb_dataset_rows(d), 2);
    assert_close_f(nb_dataset_x(d), FLOATS(1, 20, 3, 4), 4, 0.0, 0.0);
    nb_dataset_free(d);
    /* An empty quoted name makes a header, as an empty name does. */
    d = LOAD_OK("\"\",a,label\n7,8,1\n", NULL);
    assert_int_equal(nb_dataset_rows(d), 1);
    assert_close_f(nb_dataset_x(d), FLOATS(7, 8), 2, 0.0, 0.0);
    nb_dataset_free(d);
    /* A quoted comma belongs to its field: this header has 2 fields. */
    d = LOAD_OK("\"a,b\",label\n1,0\n", NULL);
    assert_int_equal(nb_dataset_inputs(d), 1);
    nb_dataset_free(d);
    /* With a byte-order mark and CRLF; the closing quote before CR. */
    d = LOAD_OK(BOM "\"a\",\"label\"\r\n\"2.5\",\"1\"\r\n", NULL);
    assert_int_equal(nb_dataset_rows(d), 1);
    assert_close_f(nb_dataset_x(d), FLOATS(2.5f), 1, 0.0, 0.0);
    assert_int_equal(nb_dataset_labels(d)[0], 1);
    nb_dataset_free(d);
    /* A forced header may hold anything quotable; header = 0 makes a
     * quoted name bad data at its text. */
    nb_csv_options o;
    nb_csv_options_default(&o);
    o.header = 1;
    d = LOAD_OK("\"1\",\"\"\"\"\n5,0\n", &o);
    assert_int_equal(nb_dataset_rows(d), 1);
    nb_dataset_free(d);
    o.header = 0;
    LOAD_FAIL("\"x\",1\n", &o, NB_ERR_DATA, "t.csv:1:2: expected a number, got 'x'");
}

static void test_quoted_fields_invalid(void **state)
{
    (void)state;
    /* Quotes never span lines: the open quote is reported on its line. */
    LOAD_FAIL("1,\"2\n3\",4\n", NULL, NB_ERR_DATA,
              "t.csv:1:3: unterminated quote (a quoted field must end on its line)");
    LOAD_FAIL("a,b\r\n1,\"2\r\n\",0\r\n", NULL, NB_ERR_DATA, "t.csv:2:3: unterminated quote");
    LOAD_FAIL("\"a,b\nc\",label\n1,0\n", NULL, NB_ERR_DATA, "t.csv:1:1: unterminated quote");
    LOAD_FAIL("1,0\n\"", NULL, NB_ERR_DATA, "t.csv:2:1: unterminated quote");
    LOAD_FAIL("1,\"2\"\"\n", NULL, NB_ERR_DATA, "t.csv:1:3: unterminated quote");
    /* A quote inside an unquoted field. */
    LOAD_FAIL("1,2\"3,0\n", NULL, NB_ERR_DATA, "t.csv:1:4: a quote inside an unquoted field");
    LOAD_FAIL("1,2,0\nab\",1,1\n", NULL, NB_ERR_DATA, "t.csv:2:3: a quote inside an unquoted field");
    /* Text after the closing quote. */
    LOAD_FAIL("1,\"2\"3,0\n", NULL, NB_ERR_DATA, "t.csv:1:6: unexpected text after a closing quote");
    LOAD_FAIL("1,\"2\" \"3\",0\n", NULL, NB_ERR_DATA,
              "t.csv:1:7: unexpected text after a closing quote");
    /* Quoted content must still be a number or a label (on line 2: on
     * line 1 a non-number would make the row a header). */
    LOAD_FAIL("1,2,0\n1,\"2\"\"\",0\n", NULL, NB_ERR_DATA,
              "t.csv:2:4: expected a number, got '2\"\"'");
    LOAD_FAIL("1,2,0\n1,\"\",0\n", NULL, NB_ERR_DATA, "t.csv:2:3: empty field");
    LOAD_FAIL("1,2,0\n1,\" \t\",0\n", NULL, NB_ERR_DATA, "t.csv:2:3: empty field");
    LOAD_FAIL("1,2,0\n1,2,\"x\x01\"\n", NULL, NB_ERR_DATA,
              "t.csv:2:6: class name 'x?' holds a control character");
    LOAD_FAIL("1,\"nan\",0\n", NULL, NB_ERR_DATA, "t.csv:1:4: NaN and Inf are not accepted");
    LOAD_FAIL("a,b\n\"1,5\",0\n", NULL, NB_ERR_DATA, "t.csv:2:2: expected a number, got '1,5'");
    /* Field counts see quoted commas as text: 3 fields, then 2. */
    LOAD_FAIL("1,2,0\n\"3,4\",0\n", NULL, NB_ERR_DATA, "t.csv:2:8: expected 3 fields, got 2");
    /* Errors come in file order: line 2's quote before line 3's ragged row. */
    LOAD_FAIL("1,2,0\n3,\"4,1\n5\n", NULL, NB_ERR_DATA, "t.csv:2:3: unterminated quote");
}

/* Every prefix of a small valid file either loads the first rows of the
 * whole file exactly (a cut inside a row always cuts its last field, the
 * label, which leaves it empty, unterminated or ragged) or fails with
 * NB_ERR_DATA and no dataset; through memory and through a file alike.
 * One cut is the exception, explained below. */
static void test_truncation_every_prefix(void **state)
{
    (void)state;
    const char *text = BOM "\"x\",\"y, z\",label\r\n"
                           "1.5,\"-2\",0\r\n"
                           "\"3e1\" , 4.25,2\r\n"
                           "7,8,\"1\"\n";
    size_t n = strlen(text), loaded = 0;
    nb_dataset *full = LOAD_OK(text, NULL);
    assert_int_equal(nb_dataset_rows(full), 3);
    assert_close_f(nb_dataset_x(full), FLOATS(1.5f, -2, 30, 4.25f, 7, 8), 6, 0.0, 0.0);
    char path[512];
    for (size_t k = 0; k <= n; k++) {
        for (int via_file = 0; via_file < 2; via_file++) {
            nb_dataset *d = NOT_NULL;
            nb_status st;
            if (via_file) {
                write_temp(path, sizeof path, text, k);
                st = nb_dataset_load_csv(path, NULL, &d);
                remove(path);
            } else {
                st = nb_dataset_load_csv_mem("t.csv", text, k, NULL, &d);
            }
            if (st != NB_OK) {
                if (st != NB_ERR_DATA || d != NULL) {
                    fprintf(stderr, "prefix %zu (file %d): %s: %s\n", k, via_file,
                            nb_status_str(st), nb_last_error());
                    fail();
                }
                continue;
            }
            size_t r = nb_dataset_rows(d);
            int32_t max_label = 0;
            assert_true(r >= 1 && r <= 3);
            assert_int_equal(nb_dataset_inputs(d), 2);
            assert_memory_equal(nb_dataset_x(d), nb_dataset_x(full), r * 2 * sizeof(float));
            assert_memory_equal(nb_dataset_labels(d), nb_dataset_labels(full), r * sizeof(int32_t));
            for (size_t i = 0; i < r; i++)
                if (nb_dataset_labels(d)[i] > max_label) max_label = nb_dataset_labels(d)[i];
            assert_int_equal(nb_dataset_classes(d), max_label + 1);
            nb_dataset_free(d);
            loaded++;
        }
    }
    nb_dataset_free(full);
    /* Row 1 is complete after "0", "0\r" and "0\r\n", likewise row 2,
     * and row 3 after "\"1\"" and its "\n": 8 prefixes, each on 2 paths.
     * (The first data row cut right after "-2" is a row of 2 fields, which
     * a header of 3 does not forbid; its label -2 is refused.) */
    assert_int_equal(loaded, 16);
}

/* The caller's thread locale is restored, on success and on failure. */
static void test_locale_restored(void **state)
{
    (void)state;
    nb_dataset *d = NOT_NULL;
    assert_true(uselocale((locale_t)0) == LC_GLOBAL_LOCALE);
    d = LOAD_OK("1.5,0\n", NULL);
    nb_dataset_free(d);
    assert_true(uselocale((locale_t)0) == LC_GLOBAL_LOCALE);
    LOAD_FAIL("1.5,0\n2,1\nx,1\n", NULL, NB_ERR_DATA, "t.csv:3:1");
    assert_true(uselocale((locale_t)0) == LC_GLOBAL_LOCALE);
}

/* Under a comma-decimal locale "1.5" still means one and a half. */
static void test_comma_decimal_locale(void **state)
{
    (void)state;
    static const char *names[] = {"de_DE.UTF-8", "fr_FR.UTF-8", "de_DE.utf8", "fr_FR.utf8"};
    const char *got = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !got; i++)
        got = setlocale(LC_ALL, names[i]);
    if (!got || strcmp(localeconv()->decimal_point, ",") != 0) {
        setlocale(LC_ALL, "C");
        fprintf(stderr, "test_comma_decimal_locale: no de_DE or fr_FR locale installed; skipped\n");
        skip();
    }
    nb_dataset *d = NULL;
    nb_status st = load("1.5,2.25,0\n-0.125,3,1\n", NULL, &d);
    int still_comma = strcmp(localeconv()->decimal_point, ",") == 0;
    setlocale(LC_ALL, "C");
    assert_int_equal(st, NB_OK);
    assert_true(still_comma);
    assert_close_f(nb_dataset_x(d), FLOATS(1.5f, 2.25f, -0.125f, 3.0f), 4, 0.0, 0.0);
    nb_dataset_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_default),
        cmocka_unit_test(test_classification_values),
        cmocka_unit_test(test_header_detected),
        cmocka_unit_test(test_header_forced_and_refused),
        cmocka_unit_test(test_label_col_middle),
        cmocka_unit_test(test_regression),
        cmocka_unit_test(test_targets),
        cmocka_unit_test(test_features_only),
        cmocka_unit_test(test_option_errors),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_crlf_blank_lines_last_line),
        cmocka_unit_test(test_ragged_rows),
        cmocka_unit_test(test_bad_numbers),
        cmocka_unit_test(test_numbers_accepted),
        cmocka_unit_test(test_nonfinite_and_range),
        cmocka_unit_test(test_bad_labels),
        cmocka_unit_test(test_label_classes),
        cmocka_unit_test(test_empty_inputs),
        cmocka_unit_test(test_line_limit),
        cmocka_unit_test(test_file_small),
        cmocka_unit_test(test_file_large),
        cmocka_unit_test(test_file_unreadable),
        cmocka_unit_test(test_quoted_fields),
        cmocka_unit_test(test_quoted_fields_invalid),
        cmocka_unit_test(test_truncation_every_prefix),
        cmocka_unit_test(test_locale_restored),
        cmocka_unit_test(test_comma_decimal_locale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
