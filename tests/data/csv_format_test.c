/*
 * csv_format_test.c — the CSV shapes people have: header lines of any
 * field count, header detection next to named labels, ';' and tab
 * delimiters, class names (the file's own or a model's), and how a load
 * reports what it did (nb_dataset_header_skipped, nb_dataset_delimiter,
 * nb_dataset_class_name). Loads go through memory; csv_test.c covers the
 * syntax and the file path.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "data/csv_check.h"
#include "nabla.h"

static nb_csv_options defaults(void)
{
    nb_csv_options o;
    nb_csv_options_default(&o);
    return o;
}

/* d's class names are want (n), in class order. */
static void assert_names(const nb_dataset *d, const char *const *want, int n)
{
    assert_int_equal(nb_dataset_classes(d), n);
    for (int k = 0; k < n; k++) assert_string_equal(nb_dataset_class_name(d, k), want[k]);
    assert_null(nb_dataset_class_name(d, n));
    assert_null(nb_dataset_class_name(d, -1));
}

/* ------------------------------------------------------------- headers */

/* The first line of many public CSVs describes the table rather than
 * naming its columns: fewer fields than the rows, some of them numbers. */
static void test_header_any_field_count(void **state)
{
    (void)state;
    const char *iris = "150,4,setosa,versicolor,virginica\n"
                       "5.1,3.5,1.4,0.2,0\n"
                       "7.0,3.2,4.7,1.4,1\n"
                       "6.3,3.3,6.0,2.5,2\n";
    nb_csv_options o = defaults();
    for (int header = -1; header <= 1; header += 2) {
        o.header = header;
        nb_dataset *d = LOAD_OK(iris, &o);
        assert_int_equal(nb_dataset_rows(d), 3);
        assert_int_equal(nb_dataset_inputs(d), 4);
        assert_int_equal(nb_dataset_classes(d), 3);
        assert_true(nb_dataset_header_skipped(d));
        assert_close_f(nb_dataset_x(d), FLOATS(5.1f, 3.5f, 1.4f, 0.2f), 4, 0.0, 0.0);
        assert_memory_equal(nb_dataset_labels(d), LABELS(0, 1, 2), 3 * sizeof(int32_t));
        assert_null(nb_dataset_class_name(d, 0));
        nb_dataset_free(d);
    }
    /* More fields than the rows, and all numbers: a forced header. */
    o.header = 1;
    nb_dataset *d = LOAD_OK("1,2,3,4,5,6\n7,8,1\n", &o);
    assert_int_equal(nb_dataset_inputs(d), 2);
    assert_true(nb_dataset_header_skipped(d));
    nb_dataset_free(d);
    /* Detected, an all-number first line is data, so its field count binds. */
    o.header = -1;
    LOAD_FAIL("150,4\n5.1,3.5,1.4,0.2,0\n", &o, NB_ERR_DATA,
              "t.csv:2:9: expected 2 fields, got 5 (as on line 1)");
    /* Regression and targets: the header's count does not bind either. */
    o.regression = 1;
    d = LOAD_OK("n,y\n1,2,0.5\n3,4,1.5\n", &o);
    assert_int_equal(nb_dataset_inputs(d), 2);
    assert_close_f(nb_dataset_y(d), FLOATS(0.5f, 1.5f), 2, 0.0, 0.0);
    nb_dataset_free(d);
    o = defaults();
    o.header = 0;
    d = LOAD_OK("1,2,0\n3,4,1\n", &o);
    assert_false(nb_dataset_header_skipped(d));
    nb_dataset_free(d);
}

/* Detection next to named labels: a first line whose only non-number is
 * its label is data when the labels are names, else a header. */
static void test_header_detection_with_names(void **state)
{
    (void)state;
    /* Named labels from the first line on. */
    nb_dataset *d = LOAD_OK("5.1,3.5,setosa\n4.9,3.0,virginica\n6.0,2.2,setosa\n", NULL);
    assert_int_equal(nb_dataset_rows(d), 3);
    assert_false(nb_dataset_header_skipped(d));
    assert_names(d, (const char *const[]){"setosa", "virginica"}, 2);
    assert_memory_equal(nb_dataset_labels(d), LABELS(0, 1, 0), 3 * sizeof(int32_t));
    nb_dataset_free(d);
    /* Numbered columns and a named label column over numeric labels. */
    d = LOAD_OK("0,1,label\n1,2,0\n3,4,1\n", NULL);
    assert_int_equal(nb_dataset_rows(d), 2);
    assert_true(nb_dataset_header_skipped(d));
    assert_null(nb_dataset_class_name(d, 0));
    assert_memory_equal(nb_dataset_labels(d), LABELS(0, 1), 2 * sizeof(int32_t));
    nb_dataset_free(d);
    /* A different field count from the next line makes it a header. */
    d = LOAD_OK("150,4,setosa\n5.1,3.5,1.4,versicolor\n6.3,3.3,6.0,setosa\n", NULL);
    assert_int_equal(nb_dataset_rows(d), 2);
    assert_int_equal(nb_dataset_inputs(d), 3);
    assert_true(nb_dataset_header_skipped(d));
    assert_names(d, (const char *const[]){"setosa", "versicolor"}, 2);
    nb_dataset_free(d);
    /* A single-field title line. */
    d = LOAD_OK("species\n1,2,cat\n", NULL);
    assert_true(nb_dataset_header_skipped(d));
    assert_int_equal(nb_dataset_rows(d), 1);
    nb_dataset_free(d);
    /* A feature that is not a number always makes a header, so that a
     * first row with 13 mistyped as l3 is dropped with the flag set for
     * the caller to say so, with numbers or names for labels. */
    const char *typo[] = {"l3,2,0\n13,2,1\n14,2,0\n", "l3,2,cat\n13,2,dog\n14,2,cat\n"};
    for (int i = 0; i < 2; i++) {
        d = LOAD_OK(typo[i], NULL);
        assert_int_equal(nb_dataset_rows(d), 2);
        assert_true(nb_dataset_header_skipped(d));
        assert_close_f(nb_dataset_x(d), FLOATS(13, 2, 14, 2), 4, 0.0, 0.0);
        nb_dataset_free(d);
    }
    /* One line with a named label is a row: there is nothing to compare. */
    d = LOAD_OK("1,2,cat\n", NULL);
    assert_int_equal(nb_dataset_rows(d), 1);
    assert_false(nb_dataset_header_skipped(d));
    assert_names(d, (const char *const[]){"cat"}, 1);
    nb_dataset_free(d);
    /* A held first line that is data is checked as data, on its line. */
    LOAD_FAIL("nan,2,cat\n1,2,dog\n", NULL, NB_ERR_DATA, "t.csv:1:1: NaN and Inf are not accepted");
    LOAD_FAIL("1,2,\"c\x01\"\n1,2,dog\n", NULL, NB_ERR_DATA,
              "t.csv:1:6: class name 'c?' holds a control character");
    /* With a label column other than the last. */
    nb_csv_options o = defaults();
    o.label_col = 0;
    d = LOAD_OK("kind,x,y\ncat,1,2\ndog,3,4\n", &o);
    assert_true(nb_dataset_header_skipped(d));
    assert_names(d, (const char *const[]){"cat", "dog"}, 2);
    assert_close_f(nb_dataset_x(d), FLOATS(1, 2, 3, 4), 4, 0.0, 0.0);
    nb_dataset_free(d);
    d = LOAD_OK("cat,1,2\ndog,3,4\n", &o);
    assert_false(nb_dataset_header_skipped(d));
    assert_int_equal(nb_dataset_rows(d), 2);
    nb_dataset_free(d);
}

/* ---------------------------------------------------------- delimiters */

static void test_delimiter_detected(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        char delim;
    } cases[] = {
        {"a;b;label\n1.5;2;0\n3;4;1\n", ';'},
        {"a\tb\tlabel\n1.5\t2\t0\n3\t4\t1\n", '\t'},
        {"a,b,label\n1.5,2,0\n3,4,1\n", ','},
        /* Quoted delimiters do not count, and quoting works with each. */
        {"\"a,x\";\"b,y\";\"l;z\"\n\"1.5\";2;0\n3;\"4\";\"1\"\n", ';'},
        {"\"a;x\"\tb\tlabel\n1.5\t\"2\"\t0\n3\t4\t1\n", '\t'},
        /* Blanks around tab-separated fields are still trimmed. */
        {"1.5 \t 2\t0\n 3\t4 \t 1\n", '\t'},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nb_dataset *d = LOAD_OK(cases[i].text, NULL);
        assert_int_equal(nb_dataset_delimiter(d), cases[i].delim);
        assert_int_equal(nb_dataset_rows(d), 2);
        assert_int_equal(nb_dataset_inputs(d), 2);
        assert_close_f(nb_dataset_x(d), FLOATS(1.5f, 2, 3, 4), 4, 0.0, 0.0);
        assert_memory_equal(nb_dataset_labels(d), LABELS(0, 1), 2 * sizeof(int32_t));
        nb_dataset_free(d);
    }
    /* The most fields wins; ',' on a tie, then ';'. */
    nb_dataset *d = LOAD_OK("a;b;c,d\n1;2;0,5\n", NULL);
    assert_int_equal(nb_dataset_delimiter(d), ';');
    assert_int_equal(nb_dataset_inputs(d), 2);
    nb_dataset_free(d);
    d = LOAD_OK("a,b;c\n1,2;0\n", NULL);
    assert_int_equal(nb_dataset_delimiter(d), ',');
    nb_dataset_free(d);
    d = LOAD_OK("a;b\tc\n1;0\n", NULL);
    assert_int_equal(nb_dataset_delimiter(d), ';');
    nb_dataset_free(d);
    /* Tabs delimit, so two in a row leave an empty field. */
    LOAD_FAIL("1\t2\t0\n1\t\t0\n", NULL, NB_ERR_DATA, "t.csv:2:3: empty field");
    /* A decimal comma inside a ';' file is named as such. */
    LOAD_FAIL("a;b;c\n1,5;2;0\n", NULL, NB_ERR_DATA,
              "t.csv:2:1: expected a number, got '1,5' (the decimal point must be '.')");
}

static void test_delimiter_option(void **state)
{
    (void)state;
    nb_csv_options o = defaults();
    o.delimiter = ';';
    /* Detection would take ',' here (3 fields against 2). */
    nb_dataset *d = LOAD_OK("x;y,b,c\n1.5;2;0\n", &o);
    assert_int_equal(nb_dataset_delimiter(d), ';');
    assert_int_equal(nb_dataset_rows(d), 1);
    assert_int_equal(nb_dataset_inputs(d), 2);
    assert_true(nb_dataset_header_skipped(d));
    nb_dataset_free(d);
    /* A row the delimiter leaves whole: the message names the delimiter
     * looked for and the one that would split the row. */
    LOAD_FAIL("a;b;c\n1;2;0\n3,4,1\n", &o, NB_ERR_DATA,
              "t.csv:3:6: expected 3 fields separated by ';' but found 1; is the delimiter ','? "
              "(use --delimiter)");
    LOAD_FAIL("1,2,0\n3,4,1\n", &o, NB_ERR_DATA,
              "t.csv:1:1: a row needs a feature and a label, got 1 field separated by ';'; is the "
              "delimiter ','? (use --delimiter)");
    o.delimiter = '\t';
    LOAD_FAIL("1\t2\t0\n3;4;1\n", &o, NB_ERR_DATA,
              "t.csv:2:6: expected 3 fields separated by '\\t' but found 1; is the delimiter ';'?");
    /* Detected from line 1, the wrong guess for later rows is named too,
     * for the first data row (a header does not fix the count) as well. */
    LOAD_FAIL("a,b,c\n1,2,0\n1;2;0\n", NULL, NB_ERR_DATA,
              "t.csv:3:6: expected 3 fields separated by ',' but found 1; is the delimiter ';'?");
    LOAD_FAIL("a,b,c\n1;2;0\n", NULL, NB_ERR_DATA,
              "t.csv:2:1: a row needs a feature and a label, got 1 field separated by ','; is "
              "the delimiter ';'?");
    /* No other delimiter splits it: no guess. */
    LOAD_FAIL("a,b,c\n1,2,0\n1 2 0\n", NULL, NB_ERR_DATA,
              "t.csv:3:6: expected 3 fields separated by ',' but found 1 (");
    LOAD_FAIL("a,b,c\n1 2 0\n", NULL, NB_ERR_DATA,
              "t.csv:2:1: a row needs a feature and a label, got 1 field separated by ',' (");
    static const char bad[] = {'|', ' ', '.', 'x', '\n', '"'};
    for (size_t i = 0; i < sizeof bad; i++) {
        o.delimiter = bad[i];
        LOAD_FAIL("1,0\n", &o, NB_ERR_ARG, "delimiter must be ',', ';', '\\t' or 0 (detect)");
    }
    /* Datasets not read from CSV report none. */
    d = NULL;
    assert_int_equal(nb_dataset_from_labels(1, 1, 2, FLOATS(1), LABELS(1), &d), NB_OK);
    assert_int_equal(nb_dataset_delimiter(d), 0);
    assert_int_equal(nb_dataset_header_skipped(d), 0);
    assert_null(nb_dataset_class_name(d, 0));
    nb_dataset_free(d);
    assert_int_equal(nb_dataset_delimiter(NULL), 0);
    assert_int_equal(nb_dataset_header_skipped(NULL), 0);
    assert_null(nb_dataset_class_name(NULL, 0));
}

/* --------------------------------------------------------- class names */

static void test_names_of_the_file(void **state)
{
    (void)state;
    /* Sorted by bytes: upper case before lower, and "10" before "9". */
    nb_dataset *d = LOAD_OK("1,b\n2,B\n3,a\n4,10\n5,9\n6,b\n", NULL);
    assert_names(d, (const char *const[]){"10", "9", "B", "a", "b"}, 5);
    assert_int_equal(nb_dataset_outputs(d), 5);
    assert_memory_equal(nb_dataset_labels(d), LABELS(4, 2, 3, 0, 1, 4), 6 * sizeof(int32_t));
    nb_dataset_free(d);
    /* Trimmed, quotes removed, "" made one quote, UTF-8 kept. */
    d = LOAD_OK("1,  setosa \n2,\" setosa\"\n3,\"a \"\"b\"\", c\"\n4,\xC3\xA9t\xC3\xA9\n", NULL);
    assert_names(d, (const char *const[]){"a \"b\", c", "setosa", "\xC3\xA9t\xC3\xA9"}, 3);
    assert_memory_equal(nb_dataset_labels(d), LABELS(1, 1, 0, 2), 4 * sizeof(int32_t));
    nb_dataset_free(d);
    /* Numbers among names are names too. */
    d = LOAD_OK("1,0\n2,cat\n3,99999999999\n", NULL);
    assert_names(d, (const char *const[]){"0", "99999999999", "cat"}, 3);
    nb_dataset_free(d);
    /* 255 bytes is the longest name. */
    char text[1024], name[300];
    memset(name, 'n', 255);
    name[255] = '\0';
    snprintf(text, sizeof text, "1,%s\n", name);
    d = LOAD_OK(text, NULL);
    assert_string_equal(nb_dataset_class_name(d, 0), name);
    nb_dataset_free(d);
    snprintf(text, sizeof text, "1,a\n2,%sn\n", name);
    LOAD_FAIL(text, NULL, NB_ERR_DATA, "t.csv:2:3: class name 'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn...' "
                                       "is longer than 255 bytes");
    /* A long whole number is an error as a name only when names are made. */
    memset(name, '7', 256);
    name[256] = '\0';
    snprintf(text, sizeof text, "1,a\n2,b\n3,%s\n", name);
    LOAD_FAIL(text, NULL, NB_ERR_DATA, "t.csv:3:3: class name '7777");
    snprintf(text, sizeof text, "1,0\n2,%s\n", name);
    LOAD_FAIL(text, NULL, NB_ERR_DATA, "t.csv:2:3: class label '7777");
    LOAD_FAIL("1,a\n2,\"\"\n", NULL, NB_ERR_DATA, "t.csv:2:3: empty field");
    LOAD_FAIL("1,a\n2,b\x7f\n", NULL, NB_ERR_DATA, "t.csv:2:3: class name 'b?' holds a control");
}

static void test_names_class_count(void **state)
{
    (void)state;
    nb_csv_options o = defaults();
    o.classes = 2;
    nb_dataset *d = LOAD_OK("1,x\n2,y\n3,x\n", &o);
    assert_names(d, (const char *const[]){"x", "y"}, 2);
    nb_dataset_free(d);
    LOAD_FAIL("1,x\n2,y\n3,z\n", &o, NB_ERR_DATA,
              "t.csv:3:3: class name 'z' makes 3 distinct class names, but classes = 2");
    LOAD_FAIL("1,x\n2,x\n", &o, NB_ERR_DATA, "t.csv: the labels name 1 classes, but classes = 2");
    /* Without a count, at most 65536 names, like numbers. */
    enum { N = 65537 };
    size_t cap = (size_t)N * 12, n = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (int i = 0; i < N; i++) n += (size_t)snprintf(text + n, cap - n, "1,n%d\n", i);
    LOAD_FAIL(text, NULL, NB_ERR_DATA, "t.csv:65537:3: class name 'n65536': more than 65536");
    /* One name fewer loads, each row its own class. */
    text[n - strlen("1,n65536\n")] = '\0';
    d = LOAD_OK(text, NULL);
    assert_int_equal(nb_dataset_classes(d), 65536);
    assert_string_equal(nb_dataset_class_name(d, 0), "n0");
    assert_string_equal(nb_dataset_class_name(d, 1), "n1");
    assert_string_equal(nb_dataset_class_name(d, 2), "n10");
    assert_string_equal(nb_dataset_class_name(d, 65535), "n9999");
    nb_dataset_free(d);
    free(text);
}

/* A model's names: each label must be one of them, and class k is the
 * model's class k, not the k-th name in byte order. */
static void test_names_given(void **state)
{
    (void)state;
    static const char *const model[] = {"virginica", "setosa", "versicolor"};
    nb_csv_options o = defaults();
    o.class_names = model;
    o.n_class_names = 3;
    nb_dataset *d = LOAD_OK("1,2,setosa\n3,4,virginica\n", &o);
    assert_names(d, model, 3);
    assert_true(nb_dataset_class_name(d, 0) != model[0]); /* the dataset's own copy */
    assert_memory_equal(nb_dataset_labels(d), LABELS(1, 0), 2 * sizeof(int32_t));
    assert_false(nb_dataset_header_skipped(d));
    nb_dataset_free(d);
    /* A header whose only text is its label column is still a header. */
    d = LOAD_OK("0,1,species\n1,2,setosa\n", &o);
    assert_true(nb_dataset_header_skipped(d));
    assert_int_equal(nb_dataset_rows(d), 1);
    nb_dataset_free(d);
    LOAD_FAIL("1,2,setosa\n3,4, setosx \n", &o, NB_ERR_DATA,
              "t.csv:2:6: unknown class 'setosx'; the classes are 'virginica', 'setosa', "
              "'versicolor'");
    LOAD_FAIL("1,2,sétosa\n", &o, NB_ERR_DATA, "t.csv:1:5: unknown class 'sétosa'");
    /* Numbers are names for a model with names. */
    static const char *const digits[] = {"1", "0", "2", "3", "4", "5"};
    o.class_names = digits;
    o.n_class_names = 6;
    d = LOAD_OK("7,0\n8,1\n", &o);
    assert_memory_equal(nb_dataset_labels(d), LABELS(1, 0), 2 * sizeof(int32_t));
    assert_int_equal(nb_dataset_classes(d), 6);
    assert_string_equal(nb_dataset_class_name(d, 0), "1");
    nb_dataset_free(d);
    LOAD_FAIL("7,0\n8,9\n", &o, NB_ERR_DATA,
              "t.csv:2:3: unknown class '9'; the classes are '1', '0', '2', '3' and 2 more");
    o.classes = 6; /* the same count is fine */
    d = LOAD_OK("7,0\n", &o);
    nb_dataset_free(d);
}

static void test_names_given_refused(void **state)
{
    (void)state;
    static const char *const two[] = {"a", "b"};
    static const char *const dup[] = {"a", "b", "a"};
    static const char *const empty[] = {"a", ""};
    static const char *const nul[] = {"a", NULL};
    static const char *const ctl[] = {"a\tb"};
    nb_csv_options o = defaults();
    o.class_names = two;
    o.n_class_names = 2;
    o.regression = 1;
    LOAD_FAIL("1,2\n", &o, NB_ERR_ARG, "class_names is set for a load without class labels");
    o.regression = 0;
    o.targets = 1;
    LOAD_FAIL("1,2\n", &o, NB_ERR_ARG, "class_names is set for a load without class labels");
    o.targets = 0;
    o.features_only = 1;
    LOAD_FAIL("1,2\n", &o, NB_ERR_ARG, "class_names is set for a load without class labels");
    o.features_only = 0;
    o.classes = 3;
    LOAD_FAIL("1,a\n", &o, NB_ERR_ARG, "classes differs from n_class_names");
    o.classes = 0;
    o.n_class_names = 0;
    LOAD_FAIL("1,a\n", &o, NB_ERR_ARG, "class_names must be 1 to 65536 names, got 0");
    o.class_names = NULL;
    o.n_class_names = 2;
    LOAD_FAIL("1,a\n", &o, NB_ERR_ARG, "got 2 and NULL");
    o.class_names = dup;
    o.n_class_names = 3;
    LOAD_FAIL("1,a\n", &o, NB_ERR_ARG, "class_names[2] repeats class_names[0] ('a')");
    o.class_names = empty;
    o.n_class_names = 2;
    LOAD_FAIL("1,a\n", &o, NB_ERR_ARG, "class_names[1] is empty");
    o.class_names = nul;
    LOAD_FAIL("1,a\n", &o, NB_ERR_ARG, "class_names[1] is NULL");
    o.class_names = ctl;
    o.n_class_names = 1;
    LOAD_FAIL("1,a\n", &o, NB_ERR_ARG, "class_names[0] holds a control character");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_any_field_count),
        cmocka_unit_test(test_header_detection_with_names),
        cmocka_unit_test(test_delimiter_detected),
        cmocka_unit_test(test_delimiter_option),
        cmocka_unit_test(test_names_of_the_file),
        cmocka_unit_test(test_names_class_count),
        cmocka_unit_test(test_names_given),
        cmocka_unit_test(test_names_given_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
