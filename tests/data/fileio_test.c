/*
 * fileio_test.c — every loader refuses, at once, a path that is not a
 * regular file: a FIFO (which used to block open() for ever), a directory
 * and a device (/dev/null), for CSV, both files of an IDX pair, and model
 * files (nb_model_load, through nb_st_read).
 *
 * The whole run is under alarm(): should a loader block on the FIFO again,
 * SIGALRM ends the test as a failure instead of hanging it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "nabla.h"

static char dir[512], fifo[600], images[600], labels[600], model[600];

/* The paths under test and what each message must call them. */
typedef struct bad_path {
    const char *path, *kind;
} bad_path;
static bad_path cases[3];
static const size_t n_cases = sizeof cases / sizeof cases[0];

static void write_bytes(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/nabla_fileio_XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) return -1;
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    snprintf(images, sizeof images, "%s/images.idx", dir);
    snprintf(labels, sizeof labels, "%s/labels.idx", dir);
    snprintf(model, sizeof model, "%s/model.safetensors", dir);
    if (mkfifo(fifo, 0600) != 0) return -1;
    cases[0] = (bad_path){fifo, "not a regular file (a FIFO)"};
    cases[1] = (bad_path){dir, "not a regular file (a directory)"};
    cases[2] = (bad_path){"/dev/null", "not a regular file (a device)"};
    /* A blocking open or read fails the run here after 60 s instead of
     * hanging it; the whole test takes well under a second. */
    alarm(60);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    remove(fifo);
    remove(images);
    remove(labels);
    remove(model);
    return rmdir(dir);
}

/* st is NB_ERR_IO with a message naming the path and the kind, and the
 * call's output (out, read after the call) is NULL. */
static void assert_refused(nb_status st, const void *out, const char *path, const char *kind)
{
    const char *msg = nb_last_error();
    if (st != NB_ERR_IO || out != NULL || !strstr(msg, path) || !strstr(msg, kind)) {
        print_error("%s: got %s, out %s, message \"%s\" (want NB_ERR_IO and \"%s\")\n", path,
                    nb_status_str(st), out ? "set" : "NULL", msg, kind);
        fail();
    }
}

static void test_csv(void **state)
{
    (void)state;
    for (size_t i = 0; i < n_cases; i++) {
        nb_dataset *d = (nb_dataset *)&d;
        nb_status st = nb_dataset_load_csv(cases[i].path, NULL, &d);
        assert_refused(st, d, cases[i].path, cases[i].kind);
    }
}

static void test_idx(void **state)
{
    (void)state;
    /* A valid pair first, so that each refusal is the other file's. */
    const unsigned char img[] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 7, 9};
    const unsigned char lab[] = {0, 0, 8, 1, 0, 0, 0, 1, 4};
    write_bytes(images, img, sizeof img);
    write_bytes(labels, lab, sizeof lab);
    nb_dataset *d = NULL;
    assert_int_equal(nb_dataset_load_idx(images, labels, 0, &d), NB_OK);
    assert_int_equal(nb_dataset_rows(d), 1);
    nb_dataset_free(d);
    for (size_t i = 0; i < n_cases; i++) {
        d = (nb_dataset *)&d;
        nb_status st = nb_dataset_load_idx(cases[i].path, labels, 0, &d);
        assert_refused(st, d, cases[i].path, cases[i].kind);
        d = (nb_dataset *)&d;
        st = nb_dataset_load_idx(images, cases[i].path, 0, &d);
        assert_refused(st, d, cases[i].path, cases[i].kind);
    }
}

static void test_model(void **state)
{
    (void)state;
    nb_backend *be = NULL;
    nb_model *m = NULL;
    assert_int_equal(nb_backend_create("cpu", &be), NB_OK);
    int widths[] = {2, 2};
    nb_act acts[] = {NB_ACT_IDENTITY};
    assert_int_equal(nb_model_create(be, 1, widths, acts, NB_LOSS_MSE, 1, &m), NB_OK);
    assert_int_equal(nb_model_save(m, model), NB_OK);
    nb_model_free(m);
    m = NULL;
    assert_int_equal(nb_model_load(be, model, &m), NB_OK); /* a regular file loads */
    nb_model_free(m);
    for (size_t i = 0; i < n_cases; i++) {
        m = (nb_model *)&m;
        nb_status st = nb_model_load(be, cases[i].path, &m);
        assert_refused(st, m, cases[i].path, cases[i].kind);
    }
    nb_backend_free(be);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_idx),
        cmocka_unit_test(test_model),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
