/*
 * dataset_test.c — nb_dataset_split_views against nb_dataset_split, and
 * the storage views share.
 *
 * The views must hold exactly the rows nb_dataset_split copies, in the
 * same order, for classification and regression on random data, while
 * their arrays lie inside the dataset's own; the dataset and its views
 * may be freed in any order (the sanitizer build finds a use after free
 * or a leak), and every dataset function works on a view.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "data/dataset.h"
#include "nabla.h"

/* A random dataset: classification with `classes` classes, or regression
 * with `outputs` targets when classes is 0. Values from a fixed LCG. */
static nb_dataset *random_set(size_t rows, int inputs, int classes, int outputs, uint32_t seed)
{
    float *x = malloc(rows * (size_t)inputs * sizeof *x);
    float *y = malloc(rows * (size_t)(outputs ? outputs : 1) * sizeof *y);
    int32_t *labels = malloc(rows * sizeof *labels);
    assert_true(x && y && labels);
    uint32_t s = seed;
    for (size_t i = 0; i < rows * (size_t)inputs; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)(s >> 8) / 65536.0f - 128.0f;
    }
    for (size_t i = 0; i < rows * (size_t)outputs; i++) {
        s = s * 1664525u + 1013904223u;
        y[i] = (float)(s >> 8) / 1048576.0f;
    }
    for (size_t i = 0; i < rows; i++) {
        s = s * 1664525u + 1013904223u;
        labels[i] = (int32_t)((s >> 8) % (uint32_t)(classes ? classes : 1));
    }
    nb_dataset *d = NULL;
    nb_status st = classes ? nb_dataset_from_labels(rows, inputs, classes, x, labels, &d)
                           : nb_dataset_from_arrays(rows, inputs, outputs, x, y, &d);
    assert_int_equal(st, NB_OK);
    free(x);
    free(y);
    free(labels);
    return d;
}

/* a and b hold the same rows (bit for bit) and shape. */
static void assert_same(const nb_dataset *a, const nb_dataset *b)
{
    size_t rows = nb_dataset_rows(a);
    int in = nb_dataset_inputs(a), out = nb_dataset_outputs(a);
    assert_int_equal(nb_dataset_rows(b), rows);
    assert_int_equal(nb_dataset_inputs(b), in);
    assert_int_equal(nb_dataset_outputs(b), out);
    assert_int_equal(nb_dataset_classes(b), nb_dataset_classes(a));
    assert_memory_equal(nb_dataset_x(a), nb_dataset_x(b), rows * (size_t)in * sizeof(float));
    if (nb_dataset_labels(a)) {
        assert_non_null(nb_dataset_labels(b));
        assert_memory_equal(nb_dataset_labels(a), nb_dataset_labels(b), rows * sizeof(int32_t));
    } else {
        assert_null(nb_dataset_labels(b));
        assert_memory_equal(nb_dataset_y(a), nb_dataset_y(b), rows * (size_t)out * sizeof(float));
    }
}

/* The views equal the copies for many sizes, seeds and fractions. */
static void test_views_equal_copies(void **state)
{
    (void)state;
    static const struct {
        size_t rows;
        int inputs, classes, outputs;
        double frac;
    } cases[] = {
        {2, 1, 2, 0, 0.5},      {3, 4, 3, 0, 0.34},    {100, 7, 10, 0, 0.2},
        {1000, 3, 5, 0, 0.9},   {2, 2, 0, 1, 0.5},     {57, 3, 0, 2, 0.25},
        {1000, 5, 0, 4, 0.1},   {4097, 1, 2, 0, 0.5},  {333, 2, 0, 3, 0.75},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (uint64_t seed = 1; seed <= 3; seed++) {
            nb_dataset *d = random_set(cases[i].rows, cases[i].inputs, cases[i].classes,
                                       cases[i].outputs, (uint32_t)(i * 7 + seed));
            nb_dataset *ct, *cv, *vt, *vv;
            assert_int_equal(nb_dataset_split(d, cases[i].frac, seed, &ct, &cv), NB_OK);
            assert_int_equal(nb_dataset_split_views(d, cases[i].frac, seed, &vt, &vv), NB_OK);
            assert_same(ct, vt);
            assert_same(cv, vv);
            nb_dataset_free(ct);
            nb_dataset_free(cv);
            nb_dataset_free(vt);
            nb_dataset_free(vv);
            nb_dataset_free(d);
        }
    }
}

/* The views' arrays lie inside d's: val first, then train, no copy. */
static void test_views_share_memory(void **state)
{
    (void)state;
    nb_dataset *c = random_set(50, 3, 4, 0, 11), *r = random_set(40, 2, 0, 3, 12);
    nb_dataset *sets[2] = {c, r};
    for (int i = 0; i < 2; i++) {
        nb_dataset *d = sets[i], *t, *v;
        size_t rows = nb_dataset_rows(d), ni = (size_t)nb_dataset_inputs(d);
        size_t no = (size_t)nb_dataset_outputs(d);
        assert_int_equal(nb_dataset_split_views(d, 0.3, 5, &t, &v), NB_OK);
        size_t nv = nb_dataset_rows(v);
        assert_int_equal(nv + nb_dataset_rows(t), rows);
        assert_ptr_equal(nb_dataset_x(v), nb_dataset_x(d));
        assert_ptr_equal(nb_dataset_x(t), nb_dataset_x(d) + nv * ni);
        if (nb_dataset_labels(d)) {
            assert_ptr_equal(nb_dataset_labels(v), nb_dataset_labels(d));
            assert_ptr_equal(nb_dataset_labels(t), nb_dataset_labels(d) + nv);
            assert_null(nb_dataset_y(t));
        } else {
            assert_ptr_equal(nb_dataset_y(v), nb_dataset_y(d));
            assert_ptr_equal(nb_dataset_y(t), nb_dataset_y(d) + nv * no);
            assert_null(nb_dataset_labels(t));
        }
        /* Writing through a view is writing d's rows. */
        float mean[3], sd[3];
        assert_int_equal(nb_dataset_feature_stats(t, mean, sd), NB_OK);
        assert_int_equal(nb_dataset_standardize(t, mean, sd), NB_OK);
        assert_int_equal(nb_dataset_feature_stats(t, mean, sd), NB_OK);
        for (size_t j = 0; j < ni; j++) {
            /* Each standardised value (below about 3 in size) carries a
             * float rounding of 2^-24 relative, which leaves the mean
             * within about 1e-7 of 0 and sd within about 1e-7 of 1: 1e-5
             * is a wide margin that a wrong row or an unapplied step
             * would still miss by far. */
            assert_true(mean[j] > -1e-5f && mean[j] < 1e-5f);
            assert_true(sd[j] > 1.0f - 1e-5f && sd[j] < 1.0f + 1e-5f);
        }
        nb_dataset_free(t);
        nb_dataset_free(v);
    }
    nb_dataset_free(c);
    nb_dataset_free(r);
}

/* Freed in every order, the storage lives while any holder does. */
static void test_views_free_order(void **state)
{
    (void)state;
    for (int order = 0; order < 6; order++) {
        nb_dataset *d = random_set(30, 2, 3, 0, 21), *ct, *cv, *t, *v;
        assert_int_equal(nb_dataset_split(d, 0.4, 9, &ct, &cv), NB_OK);
        assert_int_equal(nb_dataset_split_views(d, 0.4, 9, &t, &v), NB_OK);
        nb_dataset *three[3] = {d, t, v};
        static const int perm[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                       {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
        for (int k = 0; k < 3; k++) {
            int gone = perm[order][k];
            nb_dataset_free(three[gone]);
            three[gone] = NULL;
            /* What is left still reads the right rows. */
            if (three[1]) assert_same(ct, three[1]);
            if (three[2]) assert_same(cv, three[2]);
        }
        nb_dataset_free(ct);
        nb_dataset_free(cv);
    }
}

/* Views of views, class names, the CSV facts and the model's use. */
static void test_views_everything_else(void **state)
{
    (void)state;
    const char *text = "a;b;kind\n1;2;cat\n3;4;dog\n5;6;cat\n7;8;eel\n9;10;dog\n11;12;cat\n";
    nb_dataset *d = NULL, *t, *v, *tt, *tv, *ct, *cv;
    assert_int_equal(nb_dataset_load_csv_mem("z.csv", text, strlen(text), NULL, &d), NB_OK);
    assert_int_equal(nb_dataset_split(d, 0.5, 3, &ct, &cv), NB_OK); /* before d is shuffled */
    assert_int_equal(nb_dataset_split_views(d, 0.5, 3, &t, &v), NB_OK);
    assert_same(ct, t);
    /* Names shared (the very same strings), and how the file was read. */
    for (int k = 0; k < 3; k++) {
        assert_ptr_equal(nb_dataset_class_name(t, k), nb_dataset_class_name(d, k));
        assert_ptr_equal(nb_dataset_class_name(ct, k), nb_dataset_class_name(d, k));
    }
    assert_string_equal(nb_dataset_class_name(v, 2), "eel");
    assert_int_equal(nb_dataset_delimiter(t), ';');
    assert_int_equal(nb_dataset_header_skipped(v), 1);
    /* A view of a view. */
    assert_int_equal(nb_dataset_split_views(t, 0.34, 4, &tt, &tv), NB_OK);
    assert_int_equal(nb_dataset_rows(tv) + nb_dataset_rows(tt), 3);
    assert_ptr_equal(nb_dataset_x(tv), nb_dataset_x(t));
    /* One-hot targets from a view are those of its own rows. */
    float got[3 * 3], want[3 * 3];
    nb_dataset_targets(t, 0, 3, got);
    memset(want, 0, sizeof want);
    for (int i = 0; i < 3; i++) want[i * 3 + nb_dataset_labels(t)[i]] = 1.0f;
    assert_memory_equal(got, want, sizeof want);
    /* A model evaluates a view as it does the copy of the same rows. */
    nb_backend *be = NULL;
    nb_model *m = NULL;
    assert_int_equal(nb_backend_create("cpu", &be), NB_OK);
    int widths[] = {2, 4, 3};
    nb_act acts[] = {NB_ACT_TANH, NB_ACT_SOFTMAX};
    assert_int_equal(nb_model_create(be, 2, widths, acts, NB_LOSS_XENT, 1, &m), NB_OK);
    double lv, lc, av, ac;
    assert_int_equal(nb_model_evaluate(m, t, &lv, &av), NB_OK);
    assert_int_equal(nb_model_evaluate(m, ct, &lc, &ac), NB_OK);
    assert_true(lv == lc && av == ac); /* the same rows, the same arithmetic */
    nb_model_free(m);
    nb_backend_free(be);
    nb_dataset *all[] = {tt, d, ct, t, tv, cv, v};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) nb_dataset_free(all[i]);
}

static void test_views_refused(void **state)
{
    (void)state;
    nb_dataset *d = random_set(10, 2, 2, 0, 31), *t = (nb_dataset *)d, *v = (nb_dataset *)d;
    float before[20];
    memcpy(before, nb_dataset_x(d), sizeof before);
    assert_int_equal(nb_dataset_split_views(d, 0.0, 1, &t, &v), NB_ERR_ARG);
    assert_true(t == NULL && v == NULL);
    assert_int_equal(nb_dataset_split_views(d, 1.0, 1, &t, &v), NB_ERR_ARG);
    assert_int_equal(nb_dataset_split_views(d, 0.01, 1, &t, &v), NB_ERR_ARG);
    assert_non_null(strstr(nb_last_error(), "leaves an empty part"));
    assert_int_equal(nb_dataset_split_views(NULL, 0.5, 1, &t, &v), NB_ERR_ARG);
    assert_int_equal(nb_dataset_split_views(d, 0.5, 1, NULL, &v), NB_ERR_ARG);
    /* A refused split leaves the rows where they were. */
    assert_memory_equal(nb_dataset_x(d), before, sizeof before);
    nb_dataset_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_views_equal_copies),
        cmocka_unit_test(test_views_share_memory),
        cmocka_unit_test(test_views_free_order),
        cmocka_unit_test(test_views_everything_else),
        cmocka_unit_test(test_views_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
