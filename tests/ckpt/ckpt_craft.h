/*
 * ckpt_craft.h — making checkpoints whose CRCs are right but whose content
 * is chosen by a test: a valid one written by the library, then edited
 * through the container's own writer (nb_st_write), so that the check
 * under test, not a checksum, is what refuses it. Static helpers for
 * checkpoint_test.c; include after <cmocka.h>.
 */
#ifndef NB_TEST_CKPT_CRAFT_H
#define NB_TEST_CKPT_CRAFT_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ckpt/checkpoint.h"
#include "ckpt/safetensors.h"

static const char CRAFT_RECORD[] = "data=train.csv;val=0.2;classes=h\xC3\xA9, b";

/* A valid Adam checkpoint of m, written by the library's own writer with
 * every field of the training state set to something a run can reach:
 * the file the crafted ones edit. */
static void craft_checkpoint(nb_model *m, const char *path)
{
    size_t n = nb_model_param_count(m);
    float *state = malloc(2 * n * sizeof *state);
    assert_non_null(state);
    for (size_t i = 0; i < 2 * n; i++) state[i] = (float)i * 0.01f;
    static nb_schedule sched;
    nb_schedule_default(&sched);
    sched.optim = NB_OPT_ADAM, sched.lr = 0.01, sched.max_epochs = 9;
    nb_ckpt_train tr = {.sched = &sched, .optim = NB_OPT_ADAM, .n = n, .state = state,
                        .batch = 2, .seed = 0x1234567890abcdefull, .record = CRAFT_RECORD};
    nb_rng_seed(&tr.rng, 5, NB_STREAM_SHUFFLE);
    tr.ds.iters = 12, tr.ds.epochs = 3, tr.ds.batch = 1, tr.ds.ls_alpha = 0.25;
    nb_halt_state *h = &tr.ds.halt;
    h->best_loss = 0.5, h->plateau_run = 1, h->plateau_ref = 0.625, h->best_val = INFINITY;
    h->since_best_val = 3, h->loss_avg = 0.375;
    assert_int_equal(nb_ckpt_save(m, &tr, path), NB_OK);
    free(state);
}

/*
 * Copy checkpoint src to dst with metadata `key` changed, through the
 * container's writer so both CRCs are right. field NULL: the whole value
 * becomes value (NULL: the key is dropped). Else value is the JSON text of
 * the field (NULL: the field is dropped).
 */
static void craft_edit(const char *src, const char *dst, const char *key, const char *field,
                       const char *value)
{
    nb_st_file *f = NULL;
    assert_int_equal(nb_st_read(src, NULL, &f), NB_OK);
    size_t nt = 0, nm = 0, k = 0;
    const nb_st_tensor *t = nb_st_tensors(f, &nt);
    const char *const *keys, *const *vals;
    nb_st_meta(f, &keys, &vals, &nm);
    const char *nk[16], *nv[16];
    char *edited = NULL;
    for (size_t i = 0; i < nm; i++) {
        if (strcmp(keys[i], key) != 0) {
            nk[k] = keys[i], nv[k++] = vals[i];
            continue;
        }
        if (!field) {
            if (value) nk[k] = keys[i], nv[k++] = value;
            continue;
        }
        json_error_t err;
        json_t *o = json_loads(vals[i], 0, &err), *v = NULL;
        assert_non_null(o);
        if (value) {
            v = json_loads(value, JSON_DECODE_ANY, &err);
            if (!v) print_error("bad test JSON %s: %s\n", value, err.text);
            assert_non_null(v);
            assert_int_equal(json_object_set_new(o, field, v), 0);
        } else {
            assert_int_equal(json_object_del(o, field), 0);
        }
        edited = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(o);
        nk[k] = keys[i], nv[k++] = edited;
    }
    assert_int_equal(nb_st_write(dst, t, nt, nk, nv, k), NB_OK);
    free(edited);
    nb_st_free(f);
}

/* A double's bits as the JSON string a checkpoint holds (in one of 32
 * buffers: a table of cases holds many at once). */
static const char *craft_bits(double v)
{
    static char buf[32][24];
    static int i;
    uint64_t u;
    memcpy(&u, &v, 8);
    i = (i + 1) % 32;
    snprintf(buf[i], sizeof buf[i], "\"%016llx\"", (unsigned long long)u);
    return buf[i];
}

/* The message names the file and says `what`. */
static void assert_names(const char *path, const char *what)
{
    const char *msg = nb_last_error();
    if (!strstr(msg, path) || !strstr(msg, what)) {
        print_error("expected %s and '%s' in: %s\n", path, what, msg);
        fail();
    }
}

/* A hand-made 2-3-1 model file: tanh, then identity with output weights
 * w_out, and inputs standardised by (mean, sd). */
static void craft_model(const char *path, float w_out, float sd)
{
    float wa[6] = {1, 0, 0, 1, 1, 1}, ba[3] = {0}, wb[3] = {w_out, w_out, w_out}, bb[1] = {0};
    float mean[2] = {0, 0}, sds[2] = {1, sd};
    nb_st_tensor t[6] = {{"layers.0.weight", 2, {3, 2}, wa}, {"layers.0.bias", 1, {3}, ba},
                         {"layers.1.weight", 2, {1, 3}, wb}, {"layers.1.bias", 1, {1}, bb},
                         {"input.mean", 1, {2}, mean},      {"input.std", 1, {2}, sds}};
    const char *keys[] = {"nabla.kind", "nabla.arch"}, *vals[] = {
        "model", "{\"acts\":[\"tanh\",\"identity\"],\"loss\":\"mse\",\"widths\":[2,3,1]}"};
    assert_int_equal(nb_st_write(path, t, 6, keys, vals, 2), NB_OK);
}

#endif
