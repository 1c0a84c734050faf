/*
 * checkpoint_test.c — models and training runs on disk:
 *   - save → load → save is byte-identical, with bit-identical parameters,
 *     for random architectures down to 1-1-1;
 *   - resuming is exact: 2N epochs straight equal N, a checkpoint, and N
 *     more, bit for bit on the cpu backend (within float tolerance on
 *     OpenCL), with mini-batch shuffling and momentum or Adam;
 *   - files whose container is fine but whose model is not (layers that do
 *     not chain, an unknown activation, a missing tensor) are refused;
 *   - a save that fails part-way (a full disk) leaves the old file.
 * Runs on $NABLA_TEST_DEVICE (default cpu).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ckpt/atomic_file.h"
#include "ckpt/safetensors.h"
#include "nabla.h"
#include "rng.h"

static nb_backend *be;
static char dir[256];
static int on_cpu;

static int setup(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR"), *dev = getenv("NABLA_TEST_DEVICE");
    on_cpu = !dev || !*dev || strcmp(dev, "cpu") == 0;
    snprintf(dir, sizeof dir, "%s/nabla-ckpt-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) return -1;
    return nb_test_open_backend(&be);
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    nb_backend_free(be);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *path_of(const char *name)
{
    static char p[2][512];
    static int i;
    i ^= 1;
    snprintf(p[i], sizeof p[i], "%s/%s", dir, name);
    return p[i];
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void assert_same_file(const char *a, const char *b)
{
    size_t na, nb;
    unsigned char *x = slurp(a, &na), *y = slurp(b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(x, y, na);
    free(x), free(y);
}

/* Save → load → save for random architectures, 1-1-1 included. */
static void test_round_trip(void **state)
{
    (void)state;
    if (!be) skip();
    nb_rng r;
    nb_rng_seed(&r, 11, NB_STREAM_TEST);
    for (int trial = 0; trial < 12; trial++) {
        int L = trial == 0 ? 2 : 1 + (int)nb_rng_below(&r, 4), w[6];
        nb_act a[5];
        for (int i = 0; i <= L; i++) w[i] = trial == 0 ? 1 : 1 + (int)nb_rng_below(&r, 9);
        for (int i = 0; i < L; i++) a[i] = (nb_act)nb_rng_below(&r, 4);
        nb_loss loss = NB_LOSS_MSE;
        if (trial % 3 == 2) a[L - 1] = NB_ACT_SOFTMAX, loss = NB_LOSS_XENT;
        nb_model *m = NULL, *back = NULL;
        assert_int_equal(nb_model_create(be, L, w, a, loss, (uint64_t)trial, &m), NB_OK);
        if (trial % 2) { /* standardisation travels with the model */
            float mean[9], sd[9];
            for (int j = 0; j < w[0]; j++) mean[j] = (float)j - 2.5f, sd[j] = 0.5f + (float)j;
            assert_int_equal(nb_model_set_standardization(m, mean, sd), NB_OK);
        }
        const char *p1 = path_of("a.safetensors"), *p2 = path_of("b.safetensors");
        assert_int_equal(nb_model_save(m, p1), NB_OK);
        assert_int_equal(nb_model_load(be, p1, &back), NB_OK);
        assert_int_equal(nb_model_save(back, p2), NB_OK);
        assert_same_file(p1, p2);
        size_t n = nb_model_param_count(m);
        assert_int_equal(nb_model_param_count(back), n);
        float *t1 = malloc(n * sizeof *t1), *t2 = malloc(n * sizeof *t2);
        assert_int_equal(nb_model_get_params(m, t1, n), NB_OK);
        assert_int_equal(nb_model_get_params(back, t2, n), NB_OK);
        assert_memory_equal(t1, t2, n * sizeof *t1);
        for (int l = 0; l < L; l++) assert_int_equal(nb_model_act(back, l), a[l]);
        assert_int_equal(nb_model_loss(back), loss);
        assert_int_equal(!nb_model_feature_mean(back), !(trial % 2));
        free(t1), free(t2);
        nb_model_free(m), nb_model_free(back);
    }
}

/* Train the digits net (mini-batch, shuffled) for `epochs` epochs in
 * total, optionally resuming from `from` and saving to `to`. */
static void run(nb_optim optim, long epochs, const char *from, const char *to, float *theta,
                size_t n)
{
    static nb_dataset *tr, *va;
    if (!tr) {
        nb_dataset *all = nb_test_load_digits();
        assert_non_null(all);
        assert_int_equal(nb_dataset_split(all, 0.2, 5, &tr, &va), NB_OK);
        nb_dataset_free(all);
    }
    const int w[] = {64, 16, 10};
    const nb_act a[] = {NB_ACT_TANH, NB_ACT_SIGMOID};
    nb_model *m = NULL;
    assert_int_equal(nb_model_create(be, 2, w, a, NB_LOSS_MSE, 7, &m), NB_OK);
    nb_train_options o;
    nb_train_options_default(&o);
    o.batch = 50, o.seed = 9;
    o.schedule.optim = optim, o.schedule.lr = optim == NB_OPT_ADAM ? 0.01 : 0.1;
    o.schedule.max_epochs = epochs;
    o.save = to, o.resume = from;
    nb_result r;
    if (nb_train(m, tr, va, &o, &r) != NB_OK) {
        print_error("%s\n", nb_last_error());
        fail();
    }
    assert_int_equal(r.epochs, epochs);
    assert_int_equal(nb_model_param_count(m), n);
    assert_int_equal(nb_model_get_params(m, theta, n), NB_OK);
    nb_model_free(m);
}

static void check_resume(nb_optim optim)
{
    enum { N = 64 * 16 + 16 + 16 * 10 + 10 };
    float straight[N], resumed[N];
    const char *ck = path_of("run.safetensors");
    run(optim, 6, NULL, NULL, straight, N);
    run(optim, 3, NULL, ck, resumed, N);
    run(optim, 6, ck, NULL, resumed, N);
    if (on_cpu) {
        assert_memory_equal(straight, resumed, sizeof straight); /* bit for bit */
    } else {
        /* OpenCL: the same kernels in the same order also agree exactly in
         * practice, but the promise is the backend tolerance (see
         * cl_train_test.c): float rounding of reductions may differ. */
        assert_close_f(resumed, straight, N, 1e-5, 1e-4);
    }
}

static void test_resume_momentum(void **state)
{
    (void)state;
    if (!be) skip();
    check_resume(NB_OPT_MOMENTUM);
}

static void test_resume_adam(void **state)
{
    (void)state;
    if (!be) skip();
    check_resume(NB_OPT_ADAM);
}

/* A resume must match what it continues. */
static void test_resume_mismatch(void **state)
{
    (void)state;
    if (!be) skip();
    enum { N = 64 * 16 + 16 + 16 * 10 + 10 };
    float th[N];
    const char *ck = path_of("adam.safetensors");
    run(NB_OPT_ADAM, 1, NULL, ck, th, N);
    nb_dataset *all = nb_test_load_digits();
    const int w[] = {64, 16, 10}, w2[] = {64, 8, 10};
    const nb_act a[] = {NB_ACT_TANH, NB_ACT_SIGMOID};
    nb_model *m = NULL;
    nb_train_options o;
    nb_train_options_default(&o);
    o.resume = ck;
    assert_int_equal(nb_model_create(be, 2, w, a, NB_LOSS_MSE, 1, &m), NB_OK);
    assert_int_equal(nb_train(m, all, NULL, &o, NULL), NB_ERR_ARG); /* sgd, not adam */
    assert_non_null(strstr(nb_last_error(), "adam"));
    nb_model_free(m);
    assert_int_equal(nb_model_create(be, 2, w2, a, NB_LOSS_MSE, 1, &m), NB_OK);
    o.schedule.optim = NB_OPT_ADAM;
    assert_int_equal(nb_train(m, all, NULL, &o, NULL), NB_ERR_ARG);
    assert_non_null(strstr(nb_last_error(), "architecture"));
    nb_model_free(m);
    nb_dataset_free(all);
}

/* Containers that are valid safetensors but not valid models. */
static void write_raw(const char *path, const char *arch, int omit_bias, float w0)
{
    float wa[6] = {w0, 1, 2, 3, 4, 5}, ba[3] = {0, 0, 0}, wb[6] = {1, 1, 1, 1, 1, 1}, bb[2] = {0, 0};
    nb_st_tensor t[4] = {{"layers.0.weight", 2, {3, 2}, wa}, {"layers.0.bias", 1, {3}, ba},
                         {"layers.1.weight", 2, {2, 3}, wb}, {"layers.1.bias", 1, {2}, bb}};
    const char *keys[] = {"nabla.kind", "nabla.arch"}, *vals[] = {"model", arch};
    assert_int_equal(nb_st_write(path, t, omit_bias ? 3 : 4, keys, vals, 2), NB_OK);
}

static void test_invalid_models_refused(void **state)
{
    (void)state;
    if (!be) skip();
    const char *p = path_of("bad.safetensors");
    nb_model *m = NULL;
    const char *good = "{\"acts\":[\"tanh\",\"identity\"],\"loss\":\"mse\",\"widths\":[2,3,2]}";
    write_raw(p, good, 0, 0.5f);
    assert_int_equal(nb_model_load(be, p, &m), NB_OK); /* the control case loads */
    nb_model_free(m), m = NULL;
    static const struct { const char *arch; int omit; const char *why; } bad[] = {
        {"{\"acts\":[\"tanh\",\"identity\"],\"loss\":\"mse\",\"widths\":[2,4,2]}", 0, "wrong shape"},
        {"{\"acts\":[\"swish\",\"identity\"],\"loss\":\"mse\",\"widths\":[2,3,2]}", 0, "activation"},
        {"{\"acts\":[\"tanh\",\"identity\"],\"loss\":\"hinge\",\"widths\":[2,3,2]}", 0, "loss"},
        {"{\"acts\":[\"tanh\"],\"loss\":\"mse\",\"widths\":[2,3,2]}", 0, "nabla.arch"},
        {"{\"acts\":[\"tanh\",\"identity\"],\"loss\":\"mse\",\"widths\":[2,3,2]}", 1, "missing"},
        {"{\"acts\":[\"tanh\",\"softmax\"],\"loss\":\"mse\",\"widths\":[2,3,2]}", 0, "architecture"},
        {"not json", 0, "nabla.arch"},
        /* the model's own reason, whole, inside the loader's context */
        {"{\"acts\":[\"softmax\",\"identity\"],\"loss\":\"mse\",\"widths\":[2,3,2]}", 0,
         "invalid architecture: nb_model_create: softmax is only allowed on the output layer"},
        /* a header that claims far more than the file holds: refused by
         * the tensor shapes before a model of that size is allocated */
        {"{\"acts\":[\"tanh\",\"identity\"],\"loss\":\"mse\",\"widths\":[2,16777216,2]}", 0,
         "layers.0.weight has the wrong shape"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        write_raw(p, bad[i].arch, bad[i].omit, 0.5f);
        assert_int_equal(nb_model_load(be, p, &m), NB_ERR_DATA);
        assert_null(m);
        const char *msg = nb_last_error(), *first = strstr(msg, p);
        if (!strstr(msg, bad[i].why) || !first || strstr(first + 1, p)) {
            print_error("case %zu: expected '%s' and the path once in: %s\n", i, bad[i].why, msg);
            fail();
        }
    }
    /* Standardisation that would divide by zero. */
    float wa[6] = {0}, ba[3] = {0}, wb[6] = {0}, bb[2] = {0}, mean[2] = {0, 0}, sd[2] = {1, 0};
    nb_st_tensor t[6] = {{"layers.0.weight", 2, {3, 2}, wa}, {"layers.0.bias", 1, {3}, ba},
                         {"layers.1.weight", 2, {2, 3}, wb}, {"layers.1.bias", 1, {2}, bb},
                         {"input.mean", 1, {2}, mean},      {"input.std", 1, {2}, sd}};
    const char *keys[] = {"nabla.kind", "nabla.arch"}, *vals[] = {"model", good};
    assert_int_equal(nb_st_write(p, t, 6, keys, vals, 2), NB_OK);
    assert_int_equal(nb_model_load(be, p, &m), NB_ERR_DATA);
    assert_null(m);
    assert_non_null(strstr(nb_last_error(), "input.mean/input.std"));
    assert_non_null(strstr(nb_last_error(), p));
    assert_int_equal(nb_model_load(be, path_of("missing.safetensors"), &m), NB_ERR_IO);
}

/* A save that fails part-way leaves the previous file as it was. */
static void test_failed_save_keeps_old(void **state)
{
    (void)state;
    if (!be) skip();
    const int w[] = {3, 2};
    const nb_act a[] = {NB_ACT_IDENTITY};
    nb_model *m1 = NULL, *m2 = NULL;
    assert_int_equal(nb_model_create(be, 1, w, a, NB_LOSS_MSE, 1, &m1), NB_OK);
    assert_int_equal(nb_model_create(be, 1, w, a, NB_LOSS_MSE, 2, &m2), NB_OK);
    const char *p = path_of("keep.safetensors"), *copy = path_of("keep-copy.safetensors");
    assert_int_equal(nb_model_save(m1, p), NB_OK);
    assert_int_equal(nb_model_save(m1, copy), NB_OK);
    nb_atomic_reset_faults();
    nb_atomic_set_fault(NB_ATOMIC_FSYNC, 1, 28 /* ENOSPC */);
    assert_int_equal(nb_model_save(m2, p), NB_ERR_IO);
    nb_atomic_reset_faults();
    assert_same_file(p, copy);
    nb_model_free(m1), nb_model_free(m2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_resume_momentum),
        cmocka_unit_test(test_resume_adam),
        cmocka_unit_test(test_resume_mismatch),
        cmocka_unit_test(test_invalid_models_refused),
        cmocka_unit_test(test_failed_save_keeps_old),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
