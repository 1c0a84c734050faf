/*
 * import_test.c — nb_model_import: models from plain weights files.
 *
 *   - a 3-layer file (3-4-2-2) without metadata, with another writer's
 *     metadata and with nabla's, imports as the same model, whose outputs
 *     match a forward pass computed here in double; likewise with the
 *     softmax output of NB_LOSS_XENT, one activation for all layers, and
 *     input.mean / input.std;
 *   - an imported model saves and loads again unchanged, while
 *     nb_model_load refuses the plain file and points to `nabla import`;
 *   - every file that is not a chain of layers within nabla's bounds is
 *     refused with NB_ERR_DATA naming the file and the tensor, and acts
 *     that do not fit the layers with NB_ERR_ARG.
 * Files are written byte by byte (raw_st.h) or by nb_st_write. Runs on
 * $NABLA_TEST_DEVICE (default cpu).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ckpt/raw_st.h"
#include "ckpt/safetensors.h"
#include "nabla.h"

static nb_backend *be;
static char dir[256];

static int setup(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/nabla-import-XXXXXX", t && *t ? t : "/tmp");
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

/* Skip on a machine without the requested OpenCL device. */
#define NEED_BACKEND()                                                                             \
    do {                                                                                           \
        if (!be) skip();                                                                           \
    } while (0)

static const char *path_of(const char *name)
{
    static char p[2][512];
    static int i;
    i ^= 1;
    snprintf(p[i], sizeof p[i], "%s/%s", dir, name);
    return p[i];
}

/* ------------------------------------------------ the reference model */

enum { IN = 3, H1 = 4, H2 = 2, OUT = 2, ROWS = 5 };

static float W0[H1 * IN], B0[H1], W1[H2 * H1], B1[H2], W2[OUT * H2], B2[OUT];
static float MEAN[IN] = {0.5f, -1.0f, 2.0f}, STD[IN] = {2.0f, 0.25f, 1.5f};
static float X[ROWS * IN];

/* Weights of both signs and several sizes, so that the relu layer sees
 * units on both sides of zero. */
static void fill_reference(void)
{
    for (int i = 0; i < H1 * IN; i++) W0[i] = (float)(0.9 * sin(1.3 * i + 0.2));
    for (int i = 0; i < H1; i++) B0[i] = (float)(0.1 * i - 0.15);
    for (int i = 0; i < H2 * H1; i++) W1[i] = (float)(1.1 * cos(0.7 * i + 0.4));
    for (int i = 0; i < H2; i++) B1[i] = (float)(0.2 - 0.3 * i);
    for (int i = 0; i < OUT * H2; i++) W2[i] = (float)(0.6 * sin(2.1 * i - 0.5) + 0.1);
    for (int i = 0; i < OUT; i++) B2[i] = (float)(0.05 + 0.4 * i);
    for (int i = 0; i < ROWS * IN; i++) X[i] = (float)(1.7 * sin(0.9 * i + 1.0));
}

static double act_d(nb_act a, double z)
{
    switch (a) {
    case NB_ACT_SIGMOID: return 1.0 / (1.0 + exp(-z));
    case NB_ACT_TANH: return tanh(z);
    case NB_ACT_RELU: return z > 0.0 ? z : 0.0;
    default: return z;
    }
}

/* One dense layer in double: out = act(W in + b). */
static void dense(const float *w, const float *b, int in, int out, const double *x, nb_act a,
                  double *y)
{
    for (int o = 0; o < out; o++) {
        double z = b[o];
        for (int i = 0; i < in; i++) z += (double)w[o * in + i] * x[i];
        y[o] = act_d(a, z);
    }
}

/* The forward pass by hand, in double: acts[0..2] per layer; a softmax
 * output when xent; (x − mean)/std first when standardise. */
static void reference(const nb_act *acts, int xent, int standardise, double *y)
{
    for (int r = 0; r < ROWS; r++) {
        double x[IN], h1[H1], h2[H2], *o = y + r * OUT;
        for (int i = 0; i < IN; i++)
            x[i] = standardise ? ((double)X[r * IN + i] - MEAN[i]) / STD[i] : X[r * IN + i];
        dense(W0, B0, IN, H1, x, acts[0], h1);
        dense(W1, B1, H1, H2, h1, acts[1], h2);
        dense(W2, B2, H2, OUT, h2, xent ? NB_ACT_IDENTITY : acts[2], o);
        if (xent) {
            double mx = fmax(o[0], o[1]), s = 0.0;
            for (int k = 0; k < OUT; k++) s += exp(o[k] - mx);
            for (int k = 0; k < OUT; k++) o[k] = exp(o[k] - mx) / s;
        }
    }
}

/* float32 against double: each output is at most 4-term dot products over
 * 3 layers of values of order 1, so float rounding (2^-24 relative per
 * operation) stays below 1e-6; 1e-5 leaves room for a device's own
 * summation order and its tanh/exp. */
#define TOL 1e-5

/* A weights file as a list of tensors that tests then break. */
typedef struct wset {
    raw_tensor t[140];
    size_t n;
} wset;

static wset good_set(int standardise)
{
    wset s = {.n = 0};
    s.t[s.n++] = (raw_tensor){"layers.0.weight", "F32", 2, {H1, IN}, W0};
    s.t[s.n++] = (raw_tensor){"layers.0.bias", "F32", 1, {H1}, B0};
    s.t[s.n++] = (raw_tensor){"layers.1.weight", "F32", 2, {H2, H1}, W1};
    s.t[s.n++] = (raw_tensor){"layers.1.bias", "F32", 1, {H2}, B1};
    s.t[s.n++] = (raw_tensor){"layers.2.weight", "F32", 2, {OUT, H2}, W2};
    s.t[s.n++] = (raw_tensor){"layers.2.bias", "F32", 1, {OUT}, B2};
    if (standardise) {
        s.t[s.n++] = (raw_tensor){"input.mean", "F32", 1, {IN}, MEAN};
        s.t[s.n++] = (raw_tensor){"input.std", "F32", 1, {IN}, STD};
    }
    return s;
}

static raw_tensor *find_t(wset *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->t[i].name, name)) return &s->t[i];
    fail_msg("no tensor %s in the set", name);
    return NULL;
}

static void drop(wset *s, const char *name)
{
    raw_tensor *t = find_t(s, name);
    memmove(t, t + 1, (size_t)(s->t + s->n - (t + 1)) * sizeof *t);
    s->n--;
}

static const nb_act TRA[3] = {NB_ACT_TANH, NB_ACT_RELU, NB_ACT_IDENTITY};

/* Import path and check the outputs on X against the reference. */
static void import_and_check(const char *path, int n_acts, const nb_act *acts, nb_loss loss,
                             const nb_act *ref_acts, int standardise)
{
    nb_model *m = NULL;
    nb_status st = nb_model_import(be, path, n_acts, acts, loss, &m);
    if (st != NB_OK) fail_msg("nb_model_import: %s", nb_last_error());
    assert_int_equal(nb_model_layers(m), 3);
    const int widths[4] = {IN, H1, H2, OUT};
    for (int l = 0; l <= 3; l++) assert_int_equal(nb_model_width(m, l), widths[l]);
    for (int l = 0; l < 2; l++) assert_int_equal(nb_model_act(m, l), ref_acts[l]);
    assert_int_equal(nb_model_act(m, 2), loss == NB_LOSS_XENT ? NB_ACT_SOFTMAX : ref_acts[2]);
    assert_int_equal(nb_model_loss(m), loss);
    assert_int_equal(nb_model_param_count(m), H1 * (IN + 1) + H2 * (H1 + 1) + OUT * (H2 + 1));
    if (standardise) {
        assert_non_null(nb_model_feature_mean(m));
        assert_close_f(nb_model_feature_std(m), STD, IN, 0.0, 0.0);
    } else {
        assert_null(nb_model_feature_mean(m));
    }
    float y[ROWS * OUT];
    double want[ROWS * OUT];
    assert_int_equal(nb_model_predict(m, ROWS, X, y), NB_OK);
    reference(ref_acts, loss == NB_LOSS_XENT, standardise, want);
    assert_close(y, want, ROWS * OUT, TOL, TOL);
    nb_model_free(m);
}

/* ------------------------------------------------------- good files */

static void test_plain_file(void **state)
{
    (void)state;
    NEED_BACKEND();
    wset s = good_set(0);
    const char *p = path_of("plain.safetensors");
    assert_int_equal(raw_write(p, s.t, s.n, NULL), 0);
    import_and_check(p, 3, TRA, NB_LOSS_MSE, TRA, 0);
    /* Another writer's own metadata changes nothing. */
    p = path_of("pt.safetensors");
    assert_int_equal(raw_write(p, s.t, s.n, "{\"format\":\"pt\"}"), 0);
    import_and_check(p, 3, TRA, NB_LOSS_MSE, TRA, 0);
}

/* A nabla-written file (with its checksums and metadata) imports too. */
static void test_nabla_written_file(void **state)
{
    (void)state;
    NEED_BACKEND();
    wset s = good_set(1);
    nb_st_tensor t[8];
    for (size_t i = 0; i < s.n; i++) {
        t[i] = (nb_st_tensor){s.t[i].name, s.t[i].ndim, {0}, s.t[i].values};
        memcpy(t[i].shape, s.t[i].shape, sizeof t[i].shape);
    }
    const char *keys[] = {"source"}, *vals[] = {"import_test"};
    const char *p = path_of("nabla.safetensors");
    assert_int_equal(nb_st_write(p, t, s.n, keys, vals, 1), NB_OK);
    import_and_check(p, 3, TRA, NB_LOSS_MSE, TRA, 1);
}

static void test_softmax_and_one_act(void **state)
{
    (void)state;
    NEED_BACKEND();
    wset s = good_set(0);
    const char *p = path_of("xent.safetensors");
    assert_int_equal(raw_write(p, s.t, s.n, NULL), 0);
    /* The last act given is replaced by the softmax; so is a softmax given
     * for the last layer. */
    import_and_check(p, 3, TRA, NB_LOSS_XENT, TRA, 0);
    const nb_act tr_soft[3] = {NB_ACT_TANH, NB_ACT_RELU, NB_ACT_SOFTMAX};
    import_and_check(p, 3, tr_soft, NB_LOSS_XENT, TRA, 0);
    /* One activation for every layer. */
    const nb_act sig = NB_ACT_SIGMOID, sig3[3] = {NB_ACT_SIGMOID, NB_ACT_SIGMOID, NB_ACT_SIGMOID};
    import_and_check(p, 1, &sig, NB_LOSS_MSE, sig3, 0);
    import_and_check(p, 1, &sig, NB_LOSS_XENT, sig3, 0);
}

static void test_standardization(void **state)
{
    (void)state;
    NEED_BACKEND();
    wset s = good_set(1);
    const char *p = path_of("std.safetensors");
    assert_int_equal(raw_write(p, s.t, s.n, NULL), 0);
    import_and_check(p, 3, TRA, NB_LOSS_MSE, TRA, 1);
}

/* Imported, saved, loaded: the same model; the plain file itself is no
 * nabla model, and nb_model_load says what to do with it. */
static void test_save_load(void **state)
{
    (void)state;
    NEED_BACKEND();
    wset s = good_set(1);
    const char *p = path_of("w.safetensors"), *q = path_of("model.safetensors");
    assert_int_equal(raw_write(p, s.t, s.n, NULL), 0);
    nb_model *m = NULL, *back = NULL;
    assert_int_equal(nb_model_import(be, p, 3, TRA, NB_LOSS_XENT, &m), NB_OK);
    assert_int_equal(nb_model_save(m, q), NB_OK);
    assert_int_equal(nb_model_load(be, q, &back), NB_OK);
    float y[ROWS * OUT], z[ROWS * OUT];
    assert_int_equal(nb_model_predict(m, ROWS, X, y), NB_OK);
    assert_int_equal(nb_model_predict(back, ROWS, X, z), NB_OK);
    assert_memory_equal(y, z, sizeof y); /* same parameters, same device: same bits */
    assert_int_equal(nb_model_loss(back), NB_LOSS_XENT);
    assert_int_equal(nb_model_act(back, 2), NB_ACT_SOFTMAX);
    nb_model_free(m);
    nb_model_free(back);

    nb_model *none = (nb_model *)&s; /* must be reset to NULL */
    assert_int_equal(nb_model_load(be, p, &none), NB_ERR_DATA);
    assert_null(none);
    assert_non_null(strstr(nb_last_error(), p));
    assert_non_null(strstr(nb_last_error(), "not a nabla model"));
    assert_non_null(strstr(nb_last_error(), "nabla import"));
}

/* ------------------------------------------------------- bad files */

/* Import s from a fresh file: status want, a message naming the file and
 * holding each of the needles (NULL-terminated), and no model. */
static void refused_with(const wset *s, const char *meta, int n_acts, const nb_act *acts,
                         nb_loss loss, nb_status want, ...)
{
    static int k;
    char name[32];
    snprintf(name, sizeof name, "bad%d.safetensors", k++);
    const char *p = path_of(name);
    assert_int_equal(raw_write(p, s->t, s->n, meta), 0);
    nb_model *m = (nb_model *)&k; /* must be reset to NULL */
    nb_status st = nb_model_import(be, p, n_acts, acts, loss, &m);
    const char *msg = nb_last_error();
    if (st != want || !strstr(msg, p)) fail_msg("%s: got %s \"%s\"", name, nb_status_str(st), msg);
    assert_null(m);
    va_list ap;
    va_start(ap, want);
    for (const char *n = va_arg(ap, const char *); n; n = va_arg(ap, const char *))
        if (!strstr(msg, n)) fail_msg("%s: \"%s\" lacks \"%s\"", name, msg, n);
    va_end(ap);
    unlink(p);
}

#define REFUSED(s, ...) refused_with(&(s), NULL, 3, TRA, NB_LOSS_MSE, NB_ERR_DATA, __VA_ARGS__, NULL)

static void test_structure_refused(void **state)
{
    (void)state;
    NEED_BACKEND();
    wset s = good_set(0);
    /* Shapes that do not chain: layer 1 takes 5 inputs, layer 0 gives 4. */
    static float w1x5[H2 * 5];
    find_t(&s, "layers.1.weight")->shape[1] = 5;
    find_t(&s, "layers.1.weight")->values = w1x5;
    REFUSED(s, "tensor layers.1.weight has shape (2, 5)", "layers.0 gives 4 outputs",
            "do not chain");
    /* A missing bias. */
    s = good_set(0);
    drop(&s, "layers.1.bias");
    REFUSED(s, "tensor layers.1.bias is missing");
    /* A gap in the numbering: layers 0 and 2, which chain, but no 1. */
    s = good_set(0);
    drop(&s, "layers.1.weight");
    drop(&s, "layers.1.bias");
    find_t(&s, "layers.2.weight")->shape[1] = H1;
    static float w2x4[OUT * H1];
    find_t(&s, "layers.2.weight")->values = w2x4;
    REFUSED(s, "tensor layers.1.weight is missing");
    /* An extra tensor, with and without metadata. */
    s = good_set(0);
    s.t[s.n++] = (raw_tensor){"optimizer.m", "F32", 1, {2}, B2};
    REFUSED(s, "tensor 'optimizer.m' is none of");
    refused_with(&s, "{\"format\":\"pt\"}", 3, TRA, NB_LOSS_MSE, NB_ERR_DATA, "'optimizer.m'", NULL);
    /* A second spelling of a layer index is not a layer. */
    s = good_set(0);
    find_t(&s, "layers.2.bias")->name = "layers.02.bias";
    REFUSED(s, "tensor 'layers.02.bias' is none of");
    /* A bias of the wrong length, a weight of the wrong rank. */
    s = good_set(0);
    find_t(&s, "layers.0.bias")->shape[0] = 3;
    REFUSED(s, "tensor layers.0.bias has shape (3)", "must be (4)");
    s = good_set(0);
    find_t(&s, "layers.0.weight")->ndim = 1;
    find_t(&s, "layers.0.weight")->shape[0] = H1 * IN;
    REFUSED(s, "tensor layers.0.weight has shape (12)", "(out, in)");
    /* Nothing but standardisation: no layers. */
    s = good_set(1);
    for (int i = 0; i < 6; i++) drop(&s, s.t[0].name);
    REFUSED(s, "no tensor layers.0.weight");
    s.n = 0;
    REFUSED(s, "no tensor layers.0.weight");
}

static void test_values_and_dtypes_refused(void **state)
{
    (void)state;
    NEED_BACKEND();
    /* Only float32: F64 and F16 named with their tensor. */
    wset s = good_set(0);
    find_t(&s, "layers.0.weight")->dtype = "F64";
    REFUSED(s, "tensor 'layers.0.weight'", "unsupported dtype 'F64'");
    s = good_set(0);
    find_t(&s, "layers.2.bias")->dtype = "F16";
    REFUSED(s, "tensor 'layers.2.bias'", "unsupported dtype 'F16'");
    /* NaN and Inf, in a plain file that has no checksum to catch them. */
    static float b1_nan[H2] = {0.5f, NAN}, w2_inf[OUT * H2] = {1.0f, 2.0f, -INFINITY, 0.0f};
    s = good_set(0);
    find_t(&s, "layers.1.bias")->values = b1_nan;
    REFUSED(s, "tensor 'layers.1.bias' element 1 is NaN");
    s = good_set(0);
    find_t(&s, "layers.2.weight")->values = w2_inf;
    REFUSED(s, "tensor 'layers.2.weight' element 2 is Inf");
    /* Standardisation: both or neither, (inputs), std > 0. */
    s = good_set(1);
    drop(&s, "input.std");
    REFUSED(s, "tensor input.std is missing");
    s = good_set(1);
    find_t(&s, "input.mean")->shape[0] = 2;
    REFUSED(s, "tensor input.mean has shape (2)", "must be (3)");
    static float std0[IN] = {1.0f, 0.0f, 1.0f};
    s = good_set(1);
    find_t(&s, "input.std")->values = std0;
    REFUSED(s, "tensor input.std element 1 is 0");
    /* Subnormal: > 0, yet 1/std is Inf; the model's rule refuses it as data. */
    static float std_sub[IN] = {1.0f, 1.0f, 5.5e-39f};
    s = good_set(1);
    find_t(&s, "input.std")->values = std_sub;
    REFUSED(s, "tensor input.std element 2 is 5.5", "normal positive float");
}

static void test_bounds_refused(void **state)
{
    (void)state;
    NEED_BACKEND();
    wset s = {.n = 0};
    /* A width over 2^24, with the data really there (64 MiB of zeros), so
     * that it is this bound and not the container that refuses it. */
    s.t[s.n++] = (raw_tensor){"layers.0.weight", "F32", 2, {1, (1 << 24) + 1}, NULL};
    s.t[s.n++] = (raw_tensor){"layers.0.bias", "F32", 1, {1}, NULL};
    refused_with(&s, NULL, 1, TRA, NB_LOSS_MSE, NB_ERR_DATA,
                 "tensor layers.0.weight has shape (1, 16777217)", "[1, 2^24]", NULL);
    /* A width of 0. */
    s.t[0].shape[0] = 0;
    s.t[0].shape[1] = 3;
    s.t[1].shape[0] = 0;
    refused_with(&s, NULL, 1, TRA, NB_LOSS_MSE, NB_ERR_DATA,
                 "tensor layers.0.weight has shape (0, 3)", NULL);
    /* 64 layers of 1-1 import; a 65th is one too many. */
    static char names[65][2][24];
    s.n = 0;
    for (int l = 0; l < 65; l++) {
        snprintf(names[l][0], sizeof names[l][0], "layers.%d.weight", l);
        snprintf(names[l][1], sizeof names[l][1], "layers.%d.bias", l);
        s.t[s.n++] = (raw_tensor){names[l][0], "F32", 2, {1, 1}, NULL};
        s.t[s.n++] = (raw_tensor){names[l][1], "F32", 1, {1}, NULL};
    }
    refused_with(&s, NULL, 1, TRA, NB_LOSS_MSE, NB_ERR_DATA, "tensor 'layers.64.weight'",
                 "more than 64 layers", NULL);
    s.n = 128;
    const char *p = path_of("deep.safetensors");
    assert_int_equal(raw_write(p, s.t, s.n, NULL), 0);
    nb_model *m = NULL;
    assert_int_equal(nb_model_import(be, p, 1, TRA, NB_LOSS_MSE, &m), NB_OK);
    assert_int_equal(nb_model_layers(m), 64);
    nb_model_free(m);
    /* An index far past the bound, and one too long to be a number. */
    s.n = 2;
    s.t[0].name = "layers.123456789.weight";
    refused_with(&s, NULL, 1, TRA, NB_LOSS_MSE, NB_ERR_DATA, "'layers.123456789.weight'",
                 "more than 64 layers", NULL);
    s.t[0].name = "layers.12345678901.weight";
    refused_with(&s, NULL, 1, TRA, NB_LOSS_MSE, NB_ERR_DATA, "'layers.12345678901.weight' is none of",
                 NULL);
}

/* Activations that do not fit the file's layers are the caller's error. */
static void test_acts_refused(void **state)
{
    (void)state;
    NEED_BACKEND();
    wset s = good_set(0);
    refused_with(&s, NULL, 2, TRA, NB_LOSS_MSE, NB_ERR_ARG, "has 3 layers",
                 "give 1 activation or 3, not 2", NULL);
    const nb_act soft_mid[3] = {NB_ACT_TANH, NB_ACT_SOFTMAX, NB_ACT_IDENTITY};
    refused_with(&s, NULL, 3, soft_mid, NB_LOSS_XENT, NB_ERR_ARG, "softmax for layer 1", NULL);
    const nb_act soft_last[3] = {NB_ACT_TANH, NB_ACT_RELU, NB_ACT_SOFTMAX};
    refused_with(&s, NULL, 3, soft_last, NB_LOSS_MSE, NB_ERR_ARG, "softmax for layer 2", NULL);
    const nb_act soft = NB_ACT_SOFTMAX;
    refused_with(&s, NULL, 1, &soft, NB_LOSS_XENT, NB_ERR_ARG, "softmax for layer 0", NULL);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    NEED_BACKEND();
    nb_model *m = NULL;
    const char *p = path_of("none.safetensors");
    assert_int_equal(nb_model_import(be, p, 3, TRA, NB_LOSS_MSE, &m), NB_ERR_IO);
    assert_non_null(strstr(nb_last_error(), p));
    assert_null(m);
    assert_int_equal(nb_model_import(NULL, p, 3, TRA, NB_LOSS_MSE, &m), NB_ERR_ARG);
    assert_int_equal(nb_model_import(be, NULL, 3, TRA, NB_LOSS_MSE, &m), NB_ERR_ARG);
    assert_int_equal(nb_model_import(be, p, 3, NULL, NB_LOSS_MSE, &m), NB_ERR_ARG);
    assert_int_equal(nb_model_import(be, p, 3, TRA, NB_LOSS_MSE, NULL), NB_ERR_ARG);
    assert_int_equal(nb_model_import(be, p, 0, TRA, NB_LOSS_MSE, &m), NB_ERR_ARG);
    assert_int_equal(nb_model_import(be, p, 3, TRA, (nb_loss)7, &m), NB_ERR_ARG);
    const nb_act odd = (nb_act)42;
    assert_int_equal(nb_model_import(be, p, 1, &odd, NB_LOSS_MSE, &m), NB_ERR_ARG);
    assert_null(m);
}

int main(void)
{
    fill_reference();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_file),
        cmocka_unit_test(test_nabla_written_file),
        cmocka_unit_test(test_softmax_and_one_act),
        cmocka_unit_test(test_standardization),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_structure_refused),
        cmocka_unit_test(test_values_and_dtypes_refused),
        cmocka_unit_test(test_bounds_refused),
        cmocka_unit_test(test_acts_refused),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
