/*
 * checkpoint_test.c — models and training runs on disk:
 *   - save → load → save is byte-identical, with bit-identical parameters,
 *     for random architectures down to 1-1-1;
 *   - resuming is exact: 2N epochs straight equal N, a checkpoint, and N
 *     more, bit for bit on the cpu backend (within float tolerance on
 *     OpenCL), with mini-batch shuffling and momentum or Adam;
 *   - files whose container is fine but whose model is not (layers that do
 *     not chain, an unknown activation, a missing tensor) are refused;
 *   - a save that fails part-way (a full disk) leaves the old file;
 *   - checkpoints whose CRCs are right but whose values are not (made by
 *     editing a valid one through nb_st_write) are refused by resume and
 *     nb_checkpoint_read_info, naming the file and the field: counters
 *     out of range, impossible losses, loosely spelled bits, a zero RNG;
 *   - the run's batch, seed, record and schedule read back exactly, and
 *     files from before them read with their defaults;
 *   - class names are checked, saved, loaded and resumed;
 *   - a model whose results overflow, or whose std is subnormal, fails
 *     instead of producing NaN.
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
#include "ckpt/checkpoint.h"
#include "ckpt/ckpt_craft.h"
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
    assert_non_null(strstr(nb_last_error(), "input.std element 1"));
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

/* ------------------------------------------ values behind valid CRCs */

/* The model every crafted checkpoint below belongs to: 2-3-2, tanh then
 * identity, MSE. */
static nb_model *small_model(uint64_t seed)
{
    const int w[] = {2, 3, 2};
    const nb_act a[] = {NB_ACT_TANH, NB_ACT_IDENTITY};
    nb_model *m = NULL;
    assert_int_equal(nb_model_create(be, 2, w, a, NB_LOSS_MSE, seed, &m), NB_OK);
    return m;
}

/* The crafted checkpoints' starting point, for small_model. */
static void craft_base(const char *path)
{
    nb_model *m = small_model(3);
    craft_checkpoint(m, path);
    nb_model_free(m);
}

/* Both readers of a checkpoint refuse it as NB_ERR_DATA, naming the file
 * and `what`. */
static void assert_refused(const char *path, const char *what)
{
    nb_model *m = small_model(1);
    nb_ckpt_train tr;
    float *state = NULL;
    nb_status st = nb_ckpt_resume(m, path, NB_OPT_ADAM, &tr, &state);
    if (st != NB_ERR_DATA) print_error("resume gave %s: %s\n", nb_status_str(st), nb_last_error());
    assert_int_equal(st, NB_ERR_DATA);
    assert_null(state);
    assert_names(path, what);
    nb_checkpoint_info info;
    st = nb_checkpoint_read_info(path, &info);
    if (st != NB_ERR_DATA) print_error("read_info gave %s: %s\n", nb_status_str(st), nb_last_error());
    assert_int_equal(st, NB_ERR_DATA);
    assert_names(path, what);
    nb_model_free(m);
}

/* Resume succeeds; returns what it read. */
static nb_ckpt_train resume_ok(const char *path)
{
    nb_model *m = small_model(1);
    nb_ckpt_train tr;
    float *state = NULL;
    nb_status st = nb_ckpt_resume(m, path, NB_OPT_ADAM, &tr, &state);
    if (st != NB_OK) print_error("%s\n", nb_last_error());
    assert_int_equal(st, NB_OK);
    free(state);
    nb_model_free(m);
    return tr;
}

/* Every counter and loss of nabla.train is range-checked, naming the field. */
static void test_train_values_checked(void **state)
{
    (void)state;
    if (!be) skip();
    const char *base = path_of("base.safetensors"), *p = path_of("edited.safetensors");
    craft_base(base);
    char big[32], over[32];
    snprintf(big, sizeof big, "%ld", NB_COUNT_MAX);
    snprintf(over, sizeof over, "%ld", NB_COUNT_MAX + 1);
    const struct { const char *field, *value; } bad[] = {
        {"iters", "9223372036854775807"}, {"iters", over}, {"iters", "-1"}, {"iters", "1.5"},
        {"epochs", "9223372036854775807"}, {"epochs", "-3"}, {"epochs", "\"3\""},
        {"plateau_run", "4"}, {"plateau_run", "-1"}, {"since_best_val", "4"},
        {"batch", "13"}, {"batch", "-1"},
        {"ls_alpha", craft_bits(0.0)}, {"ls_alpha", craft_bits(-0.25)},
        {"ls_alpha", craft_bits(INFINITY)}, {"ls_alpha", craft_bits(NAN)},
        {"best_loss", craft_bits(-1.0)}, {"best_loss", craft_bits(NAN)},
        {"best_loss", craft_bits(-INFINITY)}, {"plateau_ref", craft_bits(NAN)},
        {"best_val", craft_bits(-1e-300)}, {"loss_avg", craft_bits(INFINITY)},
        {"loss_avg", craft_bits(-2.0)}, {"val_improved", "1"}, {"surplus", "0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        print_message("nabla.train %s = %s\n", bad[i].field, bad[i].value);
        craft_edit(base, p, "nabla.train", bad[i].field, bad[i].value);
        assert_refused(p, bad[i].field);
    }
    /* The bounds themselves are accepted. */
    craft_edit(base, p, "nabla.train", "iters", big);
    craft_edit(p, p, "nabla.train", "epochs", big);
    craft_edit(p, p, "nabla.train", "plateau_run", big);
    craft_edit(p, p, "nabla.train", "batch", big);
    craft_edit(p, p, "nabla.train", "loss_avg", craft_bits(NAN));
    craft_edit(p, p, "nabla.train", "best_loss", craft_bits(INFINITY));
    craft_edit(p, p, "nabla.train", "best_val", craft_bits(0.0));
    nb_ckpt_train tr = resume_ok(p);
    assert_int_equal(tr.ds.iters, NB_COUNT_MAX);
    assert_int_equal(tr.ds.batch, NB_COUNT_MAX);
    assert_true(isnan(tr.ds.halt.loss_avg));
    assert_true(isinf(tr.ds.halt.best_loss));
}

/* A resumed run never starts from counters it cannot count on from:
 * LONG_MAX epochs used to overflow in the descent loop. */
static void test_train_refuses_huge_epochs(void **state)
{
    (void)state;
    if (!be) skip();
    enum { N = 64 * 16 + 16 + 16 * 10 + 10 };
    float th[N];
    const char *ck = path_of("huge.safetensors"), *p = path_of("huge2.safetensors");
    run(NB_OPT_MOMENTUM, 1, NULL, ck, th, N);
    craft_edit(ck, p, "nabla.train", "epochs", "9223372036854775807");
    nb_dataset *all = nb_test_load_digits();
    assert_non_null(all);
    const int w[] = {64, 16, 10};
    const nb_act a[] = {NB_ACT_TANH, NB_ACT_SIGMOID};
    nb_model *m = NULL;
    assert_int_equal(nb_model_create(be, 2, w, a, NB_LOSS_MSE, 7, &m), NB_OK);
    nb_train_options o;
    nb_train_options_default(&o);
    o.batch = 50, o.schedule.optim = NB_OPT_MOMENTUM, o.schedule.lr = 0.1;
    o.schedule.max_epochs = 2, o.resume = p, o.save = path_of("after.safetensors");
    assert_int_equal(nb_train(m, all, NULL, &o, NULL), NB_ERR_DATA);
    assert_names(p, "epochs");
    assert_int_equal(access(o.save, F_OK), -1); /* nothing was trained or saved */
    nb_model_free(m);
    nb_dataset_free(all);
}

/* Words of bits are exactly 16 hex digits; the RNG is never all zero. */
static void test_bits_parsed_strictly(void **state)
{
    (void)state;
    if (!be) skip();
    const char *base = path_of("base.safetensors"), *p = path_of("edited.safetensors");
    craft_base(base);
    const struct { const char *key, *field, *value, *what; } bad[] = {
        {"nabla.train", "rng", "[\"+123456789abcdef\",\"1\",\"2\",\"3\"]", "rng[0]"},
        {"nabla.train", "rng", "[\"0123456789abcdef\",\" 123456789abcdef\",\"2\",\"3\"]", "rng[1]"},
        {"nabla.train", "rng", "[\"0123456789abcdef\",\"0123456789abcdef\",\"0x23456789abcdef\","
                               "\"3\"]", "rng[2]"},
        {"nabla.train", "rng", "[\"0123456789abcdef\",\"0123456789abcdef\",\"0123456789abcdef\","
                               "\"-000000000000001\"]", "rng[3]"},
        {"nabla.train", "rng", "[\"0000000000000000\",\"0000000000000000\",\"0000000000000000\","
                               "\"0000000000000000\"]", "all zero"},
        {"nabla.train", "rng", "[\"0123456789abcdef0\",\"1\",\"2\",\"3\"]", "rng[0]"},
        {"nabla.train", "ls_alpha", "\"+3fd000000000000\"", "ls_alpha"},
        {"nabla.train", "best_loss", "\"3fe00000000000g0\"", "best_loss"},
        {"nabla.run", "seed", "\"-234567890abcdef\"", "seed"},
        {"nabla.run", "seed", "\"1234567890abcde\"", "seed"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        print_message("%s %s = %s\n", bad[i].key, bad[i].field, bad[i].value);
        craft_edit(base, p, bad[i].key, bad[i].field, bad[i].value);
        assert_refused(p, bad[i].what);
    }
    /* Upper case is a spelling of the same bits. */
    craft_edit(base, p, "nabla.train", "ls_alpha", "\"3FD0000000000000\"");
    craft_edit(p, p, "nabla.train", "rng", "[\"00000000000000A0\",\"0000000000000000\","
                                           "\"0000000000000000\",\"0000000000000000\"]");
    nb_ckpt_train tr = resume_ok(p);
    assert_true(tr.ds.ls_alpha == 0.25);
    assert_true(tr.rng.s[0] == 0xA0 && tr.rng.s[3] == 0);
}

/* The new state round-trips; files from before it read with defaults. */
static void test_run_fields_and_old_files(void **state)
{
    (void)state;
    if (!be) skip();
    const char *base = path_of("base.safetensors"), *p = path_of("old.safetensors");
    craft_base(base);
    nb_ckpt_train tr = resume_ok(base);
    assert_int_equal(tr.ds.batch, 1);
    assert_true(tr.ds.halt.loss_avg == 0.375);
    assert_true(tr.has_run);
    assert_int_equal(tr.batch, 2);
    assert_true(tr.seed == 0x1234567890abcdefull);
    nb_checkpoint_info info;
    assert_int_equal(nb_checkpoint_read_info(base, &info), NB_OK);
    assert_true(info.has_run && info.has_schedule);
    assert_int_equal(info.batch, 2);
    assert_true(info.seed == 0x1234567890abcdefull);
    assert_int_equal(info.iters, 12);
    assert_int_equal(info.epochs, 3);
    assert_string_equal(info.record, CRAFT_RECORD);

    /* A file as the previous version wrote it. */
    craft_edit(base, p, "nabla.train", "batch", NULL);
    craft_edit(p, p, "nabla.train", "loss_avg", NULL);
    craft_edit(p, p, "nabla.run", NULL, NULL);
    craft_edit(p, p, "nabla.record", NULL, NULL);
    tr = resume_ok(p);
    assert_int_equal(tr.ds.batch, 0);
    assert_true(isnan(tr.ds.halt.loss_avg));
    assert_false(tr.has_run);
    assert_int_equal(nb_checkpoint_read_info(p, &info), NB_OK);
    assert_false(info.has_run);
    assert_true(info.has_schedule);
    assert_string_equal(info.record, "");
    craft_edit(p, p, "nabla.schedule", NULL, NULL);
    assert_int_equal(nb_checkpoint_read_info(p, &info), NB_OK);
    assert_false(info.has_schedule);
    assert_int_equal(info.schedule.optim, NB_OPT_ADAM); /* from nabla.train */
    assert_true(info.schedule.lr == 0.5);               /* nb_schedule_default's */

    /* The record: at most NB_RECORD_MAX − 1 bytes, on writing and reading. */
    static char rec[NB_RECORD_MAX + 1];
    memset(rec, 'r', NB_RECORD_MAX);
    rec[NB_RECORD_MAX] = '\0';
    craft_edit(base, p, "nabla.record", NULL, rec);
    assert_int_equal(nb_checkpoint_read_info(p, &info), NB_ERR_DATA);
    assert_names(p, "nabla.record");
    rec[NB_RECORD_MAX - 1] = '\0';
    craft_edit(base, p, "nabla.record", NULL, rec);
    assert_int_equal(nb_checkpoint_read_info(p, &info), NB_OK);
    assert_int_equal(strlen(info.record), NB_RECORD_MAX - 1);
    nb_model *m = small_model(1);
    nb_ckpt_train w = {.optim = NB_OPT_SGD, .n = nb_model_param_count(m), .ds.ls_alpha = 1,
                       .record = rec};
    nb_rng_seed(&w.rng, 1, NB_STREAM_SHUFFLE);
    nb_halt_state_init(&w.ds.halt);
    assert_int_equal(nb_ckpt_save(m, &w, p), NB_OK);
    rec[NB_RECORD_MAX - 1] = 'r';
    assert_int_equal(nb_ckpt_save(m, &w, p), NB_ERR_ARG);
    assert_non_null(strstr(nb_last_error(), "record"));
    w.record = "\xC3\x28";
    assert_int_equal(nb_ckpt_save(m, &w, p), NB_ERR_ARG);
    assert_non_null(strstr(nb_last_error(), "UTF-8"));
    nb_model_free(m);
}

/* nb_train stores its options: batch (0 for full batch), seed, record. */
static void test_train_records_its_run(void **state)
{
    (void)state;
    if (!be) skip();
    nb_dataset *all = nb_test_load_digits();
    assert_non_null(all);
    const int w[] = {64, 16, 10};
    const nb_act a[] = {NB_ACT_TANH, NB_ACT_SIGMOID};
    const size_t batches[2] = {50, 100000};
    for (int i = 0; i < 2; i++) {
        nb_model *m = NULL;
        assert_int_equal(nb_model_create(be, 2, w, a, NB_LOSS_MSE, 7, &m), NB_OK);
        nb_train_options o;
        nb_train_options_default(&o);
        o.batch = batches[i], o.seed = 0xfeedull + (uint64_t)i, o.record = i ? NULL : "digits";
        o.schedule.lr = 0.1, o.schedule.max_epochs = 1;
        o.save = path_of("recorded.safetensors");
        assert_int_equal(nb_train(m, all, NULL, &o, NULL), NB_OK);
        nb_checkpoint_info info;
        assert_int_equal(nb_checkpoint_read_info(o.save, &info), NB_OK);
        assert_true(info.has_run && info.has_schedule);
        assert_int_equal(info.batch, i ? 0 : 50);
        assert_true(info.seed == o.seed);
        assert_string_equal(info.record, i ? "" : "digits");
        assert_int_equal(info.epochs, 1);
        assert_memory_equal(&info.schedule.lr, &o.schedule.lr, sizeof(double));
        nb_model_free(m);
    }
    nb_dataset_free(all);
}

/* The schedule reads back exactly, range-checked; models are not
 * checkpoints. */
static void test_read_info_schedule(void **state)
{
    (void)state;
    if (!be) skip();
    const char *p = path_of("sched.safetensors"), *q = path_of("sched2.safetensors");
    nb_model *m = small_model(1);
    nb_schedule s;
    nb_schedule_default(&s);
    /* Doubles with no short decimal form, tiny and just above an integer. */
    s.optim = NB_OPT_MOMENTUM, s.lr = 0.1, s.momentum = 0.1 + 0.2, s.lr_kind = NB_LR_COSINE;
    s.lr_min = 1e-300, s.lr_period = 77, s.lr_warmup = 3, s.diverge_factor = 3.0000000000000004;
    s.target_loss = 1.0 / 3.0, s.weight_decay = 5e-324, s.clip_norm = 1.7976931348623157e308;
    s.time_limit = 2.5e-7, s.tol_grad = 1e-12, s.plateau_tol = 0.1, s.plateau_patience = 4;
    s.early_stop = 2, s.check_every = 5, s.ls_max_trials = 9, s.max_iters = 1000000;
    nb_ckpt_train tr = {.sched = &s, .optim = NB_OPT_MOMENTUM, .n = nb_model_param_count(m),
                        .ds.ls_alpha = 0.1};
    float *st = calloc(tr.n, sizeof *st);
    tr.state = st;
    nb_rng_seed(&tr.rng, 1, NB_STREAM_SHUFFLE);
    nb_halt_state_init(&tr.ds.halt);
    assert_int_equal(nb_ckpt_save(m, &tr, p), NB_OK);
    nb_checkpoint_info info;
    assert_int_equal(nb_checkpoint_read_info(p, &info), NB_OK);
    assert_true(info.has_schedule);
    assert_memory_equal(&info.schedule, &s, sizeof s); /* every field, bit for bit */
    /* target_loss NaN (disabled) travels as null. */
    s.target_loss = NAN;
    assert_int_equal(nb_ckpt_save(m, &tr, p), NB_OK);
    assert_int_equal(nb_checkpoint_read_info(p, &info), NB_OK);
    assert_true(isnan(info.schedule.target_loss));
    /* Older files lack target_loss, ls_max_trials and check_every. */
    craft_edit(p, q, "nabla.schedule", "ls_max_trials", NULL);
    craft_edit(q, q, "nabla.schedule", "check_every", NULL);
    craft_edit(q, q, "nabla.schedule", "target_loss", NULL);
    assert_int_equal(nb_checkpoint_read_info(q, &info), NB_OK);
    assert_int_equal(info.schedule.ls_max_trials, 60);
    assert_int_equal(info.schedule.check_every, 1);
    assert_true(isnan(info.schedule.target_loss));
    const struct { const char *field, *value; } bad[] = {
        {"lr", "-0.1"}, {"lr", "\"0.1\""}, {"lr_period", "-1"}, {"momentum", "1.0"},
        {"max_iters", "1e30"}, {"max_iters", "-1"}, {"ls_max_trials", "4294967296"},
        {"check_every", "0"}, {"line_search", "1"}, {"optim", "\"adagrad\""},
        {"optim", "\"adam\""}, {"lr_schedule", "\"linear\""}, {"early_stop", "-2"},
        {"target_loss", "\"nan\""}, {"plateau_tol", "2"}, {"bogus", "1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        print_message("nabla.schedule %s = %s\n", bad[i].field, bad[i].value);
        craft_edit(p, q, "nabla.schedule", bad[i].field, bad[i].value);
        assert_int_equal(nb_checkpoint_read_info(q, &info), NB_ERR_DATA);
        assert_names(q, "nabla.schedule");
    }
    /* A model is not a checkpoint. */
    assert_int_equal(nb_model_save(m, q), NB_OK);
    assert_int_equal(nb_checkpoint_read_info(q, &info), NB_ERR_ARG);
    assert_names(q, "model");
    free(st);
    nb_model_free(m);
}

/* Class names: validated, saved with the model, loaded back, resumed. */
static void test_class_names(void **state)
{
    (void)state;
    if (!be) skip();
    nb_model *m = small_model(1), *back = NULL;
    char long_name[257];
    memset(long_name, 'n', 256);
    long_name[256] = '\0';
    const char *const bad[][2] = {
        {"", "b"},         {"a", "a"},         {"a", "tab\there"}, {"a", "del\x7f"},
        {"a", "c1\xC2\x85"}, {"a", "\xFF"},    {"a", "\xC0\xAF"},  {"a", long_name},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(nb_model_set_class_names(m, 2, bad[i]), NB_ERR_ARG);
        assert_null(nb_model_class_name(m, 0));
    }
    const char *three[] = {"a", "b", "c"};
    assert_int_equal(nb_model_set_class_names(m, 3, three), NB_ERR_ARG); /* 2 outputs */
    assert_int_equal(nb_model_set_class_names(m, 2, NULL), NB_ERR_ARG);
    long_name[255] = '\0'; /* 255 bytes is the most */
    const char *good[] = {"caf\xC3\xA9, \"noir\"", long_name};
    assert_int_equal(nb_model_set_class_names(m, 2, good), NB_OK);
    assert_string_equal(nb_model_class_name(m, 0), good[0]);
    assert_null(nb_model_class_name(m, 2));
    assert_null(nb_model_class_name(m, -1));

    const char *p = path_of("named.safetensors"), *q = path_of("named2.safetensors");
    assert_int_equal(nb_model_save(m, p), NB_OK);
    assert_int_equal(nb_model_load(be, p, &back), NB_OK);
    assert_string_equal(nb_model_class_name(back, 0), good[0]);
    assert_string_equal(nb_model_class_name(back, 1), long_name);
    assert_int_equal(nb_model_save(back, q), NB_OK);
    assert_same_file(p, q);
    nb_model_free(back), back = NULL;

    /* Files whose names break a rule: NB_ERR_DATA naming the file. */
    const char *files[] = {"[\"a\"]", "[\"a\",\"a\"]", "[\"a\",\"b\\u0007\"]", "[\"a\",2]",
                           "{\"0\":\"a\"}", "[\"a\",\"\"]", "not json"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        craft_edit(p, q, "nabla.classes", NULL, files[i]);
        assert_int_equal(nb_model_load(be, q, &back), NB_ERR_DATA);
        assert_null(back);
        assert_names(q, "nabla.classes");
    }

    /* A checkpoint carries them; resume gives them to a model without
     * names and refuses a model whose names differ. */
    nb_ckpt_train tr = {.optim = NB_OPT_SGD, .n = nb_model_param_count(m), .ds.ls_alpha = 1};
    nb_rng_seed(&tr.rng, 1, NB_STREAM_SHUFFLE);
    nb_halt_state_init(&tr.ds.halt);
    assert_int_equal(nb_ckpt_save(m, &tr, p), NB_OK);
    nb_model *fresh = small_model(2);
    nb_ckpt_train got;
    float *st = NULL;
    assert_int_equal(nb_ckpt_resume(fresh, p, NB_OPT_SGD, &got, &st), NB_OK);
    assert_string_equal(nb_model_class_name(fresh, 1), long_name);
    const char *other[] = {"x", "y"};
    assert_int_equal(nb_model_set_class_names(fresh, 2, other), NB_OK);
    assert_int_equal(nb_ckpt_resume(fresh, p, NB_OPT_SGD, &got, &st), NB_ERR_ARG);
    assert_names(p, "class 0");
    assert_int_equal(nb_model_set_class_names(fresh, 0, NULL), NB_OK); /* removes them */
    assert_null(nb_model_class_name(fresh, 0));
    nb_model_free(fresh);
    nb_model_free(m);
}

/* Finite parameters whose results are not finite: an error, not output. */
static void test_nonfinite_results_fail(void **state)
{
    (void)state;
    if (!be) skip();
    const char *p = path_of("huge.safetensors");
    nb_model *m = NULL;
    /* Three tanh outputs near 1 times 3e38 overflow float. */
    craft_model(p, 3e38f, 1.0f);
    assert_int_equal(nb_model_load(be, p, &m), NB_OK);
    const float x[6] = {0, 0, 5, 5, 0, 5};
    float y[3];
    assert_int_equal(nb_model_predict(m, 3, x, y), NB_ERR_NONFINITE);
    /* Row 0 is all zeros (tanh 0): finite; row 1 is the first to overflow. */
    assert_non_null(strstr(nb_last_error(), "output 0 of row 1"));
    nb_dataset *d = NULL;
    const float t[3] = {0, 1, 2};
    assert_int_equal(nb_dataset_from_arrays(3, 2, 1, x, t, &d), NB_OK);
    double loss = 0, acc = 0;
    assert_int_equal(nb_model_evaluate(m, d, &loss, &acc), NB_ERR_NONFINITE);
    assert_non_null(strstr(nb_last_error(), "nb_model_evaluate: the loss"));
    float g[13];
    assert_int_equal(nb_model_param_count(m), 13);
    assert_int_equal(nb_model_loss_grad(m, d, &loss, g), NB_ERR_NONFINITE);
    assert_non_null(strstr(nb_last_error(), "nb_model_loss_grad: the loss"));
    assert_int_equal(nb_model_loss_grad(m, d, &loss, NULL), NB_ERR_NONFINITE);
    nb_model_free(m), m = NULL;
    /* The control: ordinary weights give ordinary results. */
    craft_model(p, 0.5f, 1.0f);
    assert_int_equal(nb_model_load(be, p, &m), NB_OK);
    assert_int_equal(nb_model_predict(m, 3, x, y), NB_OK);
    assert_int_equal(nb_model_evaluate(m, d, &loss, NULL), NB_OK);
    assert_true(isfinite(loss));
    nb_model_free(m), m = NULL;
    nb_dataset_free(d);

    /* A std that is finite but subnormal: x / 1e-45 is Inf for ordinary x. */
    const float tiny[] = {1e-45f, 1e-38f, 0.0f, -1.0f};
    for (size_t i = 0; i < sizeof tiny / sizeof *tiny; i++) {
        craft_model(p, 0.5f, tiny[i]);
        assert_int_equal(nb_model_load(be, p, &m), NB_ERR_DATA);
        assert_null(m);
        assert_names(p, "input.std element 1");
        nb_model *k = small_model(1);
        const float mean[2] = {0, 0}, sd[2] = {1, tiny[i]};
        assert_int_equal(nb_model_set_standardization(k, mean, sd), NB_ERR_ARG);
        assert_null(nb_model_feature_std(k));
        nb_model_free(k);
    }
    craft_model(p, 0.5f, 2e-38f); /* the smallest normal floats are usable */
    assert_int_equal(nb_model_load(be, p, &m), NB_OK);
    nb_model_free(m);
    nb_model *k = small_model(1);
    const float mean[2] = {INFINITY, 0}, sd[2] = {1, 1};
    assert_int_equal(nb_model_set_standardization(k, mean, sd), NB_ERR_ARG);
    nb_model_free(k);
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
        cmocka_unit_test(test_train_values_checked),
        cmocka_unit_test(test_train_refuses_huge_epochs),
        cmocka_unit_test(test_bits_parsed_strictly),
        cmocka_unit_test(test_run_fields_and_old_files),
        cmocka_unit_test(test_train_records_its_run),
        cmocka_unit_test(test_read_info_schedule),
        cmocka_unit_test(test_class_names),
        cmocka_unit_test(test_nonfinite_results_fail),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
