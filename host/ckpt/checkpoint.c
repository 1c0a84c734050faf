/*
 * checkpoint.c — mapping models and training state onto safetensors
 * files (see checkpoint.h): nb_model_save, nb_model_load, resuming, and
 * nb_checkpoint_read_info.
 *
 * The container (safetensors.h) already refuses malformed files, bad
 * checksums and non-finite values; this layer checks that the contents
 * make a model: a known architecture whose tensors are all present with
 * the right shapes and nothing else, standardisation that can be applied,
 * and training state that fits it. The metadata's JSON values are written
 * and checked in ckpt_meta.c.
 */
#include "ckpt/checkpoint.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/ckpt_meta.h"
#include "ckpt/safetensors.h"
#include "optim_math.h"
#include "status.h"

enum { MAX_TENSORS = 2 * 64 + 4 };

/* ------------------------------------------------------------- writing */

static char *arch_json(const nb_model *m)
{
    json_t *w = json_array(), *a = json_array();
    for (int l = 0; l <= m->n_layers; l++) json_array_append_new(w, json_integer(m->widths[l]));
    for (int l = 0; l < m->n_layers; l++) json_array_append_new(a, json_string(nb_act_name(m->acts[l])));
    json_t *o = json_pack("{s:o, s:o, s:s}", "widths", w, "acts", a, "loss", nb_loss_name(m->loss));
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return s;
}

nb_status nb_ckpt_check_record(const char *fn, const char *record)
{
    if (!record) return NB_OK;
    size_t len = strlen(record);
    if (len > NB_RECORD_MAX - 1)
        return NB_FAIL(NB_ERR_ARG, "%s: the record is %zu bytes, over the %d a checkpoint holds", fn,
                       len, NB_RECORD_MAX - 1);
    json_t *j = json_string(record); /* NULL for invalid UTF-8 */
    json_decref(j);
    if (!j) return NB_FAIL(NB_ERR_ARG, "%s: the record is not valid UTF-8", fn);
    return NB_OK;
}

nb_status nb_ckpt_save(nb_model *m, const nb_ckpt_train *tr, const char *path)
{
    nb_st_tensor t[MAX_TENSORS];
    char names[MAX_TENSORS][32];
    size_t n = 0, np = m->n_params, in = (size_t)m->widths[0];
    if (m->n_layers > 64) return NB_FAIL(NB_ERR_UNSUPPORTED, "nb_model_save: over 64 layers");
    if (tr) NB_TRY(nb_ckpt_check_record("nb_train", tr->record));
    /* The metadata, in this order; absent entries are left out. */
    enum { KIND, ARCH, CLASSES, TRAIN, SCHED, RUN, RECORD, N_KEYS };
    const char *keys[N_KEYS], *vals[N_KEYS];
    char *text[N_KEYS] = {NULL};
    bool want[N_KEYS] = {true, true, m->class_names != NULL, tr != NULL, tr && tr->sched,
                         tr != NULL, tr && tr->record};
    text[ARCH] = arch_json(m);
    if (want[CLASSES]) text[CLASSES] = nb_meta_classes_json(m);
    if (want[TRAIN]) text[TRAIN] = nb_meta_train_json(tr);
    if (want[SCHED]) text[SCHED] = nb_meta_schedule_json(tr->sched);
    if (want[RUN]) text[RUN] = nb_meta_run_json(tr->batch, tr->seed);
    static const char *const key_of[N_KEYS] = {"nabla.kind", "nabla.arch", "nabla.classes",
                                               "nabla.train", "nabla.schedule", "nabla.run",
                                               "nabla.record"};
    size_t n_meta = 0;
    bool ok = true;
    for (int i = 0; i < N_KEYS; i++) {
        if (!want[i]) continue;
        const char *v = i == KIND ? (tr ? "checkpoint" : "model") : i == RECORD ? tr->record : text[i];
        ok = ok && v;
        keys[n_meta] = key_of[i];
        vals[n_meta++] = v;
    }
    float *theta = malloc(np * sizeof *theta);
    nb_status st;
    if (!theta || !ok) {
        st = NB_NOMEM("nb_model_save", np * sizeof *theta);
        goto done;
    }
    if ((st = nb_model_get_params(m, theta, np)) != NB_OK) goto done;
    for (int l = 0; l < m->n_layers; l++) {
        int64_t out = m->widths[l + 1], inl = m->widths[l];
        snprintf(names[n], 32, "layers.%d.weight", l);
        t[n] = (nb_st_tensor){names[n], 2, {out, inl}, theta + m->off[l].w};
        n++;
        snprintf(names[n], 32, "layers.%d.bias", l);
        t[n] = (nb_st_tensor){names[n], 1, {out}, theta + m->off[l].b};
        n++;
    }
    if (m->mean) {
        t[n++] = (nb_st_tensor){"input.mean", 1, {(int64_t)in}, m->mean};
        t[n++] = (nb_st_tensor){"input.std", 1, {(int64_t)in}, m->std};
    }
    size_t k = tr ? (size_t)nb_optim_state_per_param(tr->optim) : 0;
    if (k >= 1) t[n++] = (nb_st_tensor){"optimizer.m", 1, {(int64_t)np}, tr->state};
    if (k >= 2) t[n++] = (nb_st_tensor){"optimizer.v", 1, {(int64_t)np}, tr->state + np};
    st = nb_st_write(path, t, n, keys, vals, n_meta);
done:
    free(theta);
    for (int i = 0; i < N_KEYS; i++) free(text[i]);
    return st;
}

nb_status nb_model_save(nb_model *m, const char *path)
{
    if (!m || !path) return NB_FAIL(NB_ERR_ARG, "nb_model_save: NULL argument");
    return nb_ckpt_save(m, NULL, path);
}

/* ------------------------------------------------------------- reading */

/* The architecture in "nabla.arch". */
static nb_status parse_arch(const char *path, const char *text, int *n_layers, int *widths,
                            nb_act *acts, nb_loss *loss)
{
    json_error_t err;
    json_t *o = text ? json_loads(text, JSON_REJECT_DUPLICATES, &err) : NULL;
    json_t *w = json_object_get(o, "widths"), *a = json_object_get(o, "acts");
    json_t *l = json_object_get(o, "loss");
    nb_status st = NB_OK;
    size_t nw = json_array_size(w), na = json_array_size(a);
    if (!o || !json_is_array(w) || !json_is_array(a) || !json_is_string(l) || nw < 2 || nw > 65 ||
        na != nw - 1 || json_object_size(o) != 3) {
        st = NB_FAIL(NB_ERR_DATA, "nb_model_load: %s: nabla.arch is missing or malformed", path);
        goto done;
    }
    for (size_t i = 0; i < nw && st == NB_OK; i++) {
        json_t *v = json_array_get(w, i);
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > (1 << 24))
            st = NB_FAIL(NB_ERR_DATA, "nb_model_load: %s: width %zu is not in [1, 2^24]", path, i);
        else
            widths[i] = (int)json_integer_value(v);
    }
    for (size_t i = 0; i < na && st == NB_OK; i++)
        if (!json_is_string(json_array_get(a, i)) ||
            nb_act_parse(json_string_value(json_array_get(a, i)), &acts[i]) != NB_OK)
            st = NB_FAIL(NB_ERR_DATA, "nb_model_load: %s: unknown activation for layer %zu", path, i);
    if (st == NB_OK && nb_loss_parse(json_string_value(l), loss) != NB_OK)
        st = NB_FAIL(NB_ERR_DATA, "nb_model_load: %s: unknown loss '%s'", path, json_string_value(l));
    *n_layers = (int)nw - 1;
done:
    json_decref(o);
    return st;
}

/* The tensor `name` with exactly this shape, or an error naming it. */
static nb_status want(const nb_st_file *f, const char *path, const char *name, int ndim,
                      int64_t d0, int64_t d1, const float **data)
{
    const nb_st_tensor *t = nb_st_find(f, name);
    if (!t) return NB_FAIL(NB_ERR_DATA, "nb_model_load: %s: tensor %s is missing", path, name);
    if (t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1))
        return NB_FAIL(NB_ERR_DATA, "nb_model_load: %s: tensor %s has the wrong shape for the "
                                    "architecture", path, name);
    *data = t->data;
    return NB_OK;
}

/* The weight and bias tensors of every layer have the architecture's
 * shapes. Run before the model is created, so an architecture in the
 * header never allocates more than the file's own tensors hold. */
static nb_status check_layers(const nb_st_file *f, const char *path, int n_layers,
                              const int *widths)
{
    for (int l = 0; l < n_layers; l++) {
        char name[32];
        const float *d = NULL;
        snprintf(name, sizeof name, "layers.%d.weight", l);
        NB_TRY(want(f, path, name, 2, widths[l + 1], widths[l], &d));
        snprintf(name, sizeof name, "layers.%d.bias", l);
        NB_TRY(want(f, path, name, 1, widths[l + 1], 0, &d));
    }
    return NB_OK;
}

/* Check every tensor of f against m's layout and copy them into m. */
static nb_status fill_model(nb_model *m, const nb_st_file *f, const char *path, bool train)
{
    size_t n, np = m->n_params, in = (size_t)m->widths[0], expected = 2 * (size_t)m->n_layers;
    nb_st_tensors(f, &n);
    float *theta = malloc(np * sizeof *theta);
    if (!theta) return NB_NOMEM("nb_model_load", np * sizeof *theta);
    nb_status st = NB_OK;
    for (int l = 0; l < m->n_layers && st == NB_OK; l++) {
        char name[32];
        const float *d = NULL;
        int64_t out = m->widths[l + 1], inl = m->widths[l];
        snprintf(name, sizeof name, "layers.%d.weight", l);
        st = want(f, path, name, 2, out, inl, &d);
        if (st == NB_OK) memcpy(theta + m->off[l].w, d, (size_t)(out * inl) * sizeof *d);
        snprintf(name, sizeof name, "layers.%d.bias", l);
        if (st == NB_OK) st = want(f, path, name, 1, out, 0, &d);
        if (st == NB_OK) memcpy(theta + m->off[l].b, d, (size_t)out * sizeof *d);
    }
    if (st == NB_OK) st = nb_model_set_params(m, theta, np);
    free(theta);
    const float *mean = NULL, *sd = NULL;
    if (st == NB_OK && nb_st_find(f, "input.mean")) {
        st = want(f, path, "input.mean", 1, (int64_t)in, 0, &mean);
        if (st == NB_OK) st = want(f, path, "input.std", 1, (int64_t)in, 0, &sd);
        /* Values the container accepts (finite) but the model cannot use:
         * a subnormal std makes ordinary inputs Inf. */
        size_t j = 0;
        int bad = st == NB_OK ? nb_standardization_fault(mean, sd, in, &j) : 0;
        if (bad)
            st = NB_FAIL(NB_ERR_DATA, "nb_model_load: %s: tensor %s element %zu is %g: %s", path,
                         bad == 1 ? "input.mean" : "input.std", j,
                         (double)(bad == 1 ? mean[j] : sd[j]),
                         bad == 1 ? "not finite" : "not a normal positive float (1/std must be finite)");
        if (st == NB_OK) st = nb_model_set_standardization(m, mean, sd);
        expected += 2;
    }
    if (train) expected += nb_st_find(f, "optimizer.m") ? 1 : 0;
    if (train) expected += nb_st_find(f, "optimizer.v") ? 1 : 0;
    if (st == NB_OK && n != expected)
        st = NB_FAIL(NB_ERR_DATA, "nb_model_load: %s: %zu tensors, the architecture has %zu", path,
                     n, expected);
    return st;
}

static nb_status open_model(nb_backend *be, const char *path, nb_st_file **f, nb_model **out)
{
    int n_layers = 0, widths[65];
    nb_act acts[64];
    nb_loss loss;
    *out = NULL;
    NB_TRY(nb_st_read(path, NULL, f));
    const char *kind = nb_st_meta_get(*f, "nabla.kind");
    nb_status st = NB_OK;
    if (!nb_st_is_nabla(*f))
        st = NB_FAIL(NB_ERR_DATA, "nb_model_load: %s: not a nabla model but plain safetensors "
                                  "weights (no nabla metadata); build a model from them with "
                                  "`nabla import` (nb_model_import)", path);
    else if (!kind || (strcmp(kind, "model") && strcmp(kind, "checkpoint")))
        st = NB_FAIL(NB_ERR_DATA, "nb_model_load: %s: not a nabla model (nabla.kind)", path);
    if (st == NB_OK)
        st = parse_arch(path, nb_st_meta_get(*f, "nabla.arch"), &n_layers, widths, acts, &loss);
    if (st == NB_OK) st = check_layers(*f, path, n_layers, widths);
    if (st == NB_OK) {
        st = nb_model_create(be, n_layers, widths, acts, loss, 0, out);
        /* A file that passed the container but not the model rules; a
         * backend that failed (or memory) is no fault of the file's. */
        if (st == NB_ERR_ARG)
            st = NB_FAIL(NB_ERR_DATA, "nb_model_load: %s: invalid architecture: %s", path,
                         nb_last_error());
    }
    if (st == NB_OK) st = fill_model(*out, *f, path, strcmp(kind, "checkpoint") == 0);
    const char *classes = st == NB_OK ? nb_st_meta_get(*f, "nabla.classes") : NULL;
    if (classes) st = nb_meta_parse_classes("nb_model_load", path, classes, *out);
    if (st != NB_OK) {
        nb_model_free(*out);
        *out = NULL;
        nb_st_free(*f);
        *f = NULL;
    }
    return st;
}

nb_status nb_model_load(nb_backend *be, const char *path, nb_model **out)
{
    nb_st_file *f = NULL;
    if (!be || !path || !out) return NB_FAIL(NB_ERR_ARG, "nb_model_load: NULL argument");
    NB_TRY(open_model(be, path, &f, out));
    nb_st_free(f);
    return NB_OK;
}

/* ------------------------------------------------------------- resuming */

/* The caller's class names, when it has them, are the checkpoint's:
 * labels must mean what they meant when the run began. */
static nb_status same_classes(const nb_model *m, const nb_model *loaded, const char *path)
{
    if (!m->class_names || !loaded->class_names) return NB_OK;
    for (int k = 0; k < m->widths[m->n_layers]; k++)
        if (strcmp(m->class_names[k], loaded->class_names[k]) != 0)
            return NB_FAIL(NB_ERR_ARG, "nb_train: resume: %s names class %d '%s', the model '%s'",
                           path, k, loaded->class_names[k], m->class_names[k]);
    return NB_OK;
}

nb_status nb_ckpt_resume(nb_model *m, const char *path, nb_optim optim, nb_ckpt_train *tr,
                         float **state)
{
    nb_st_file *f = NULL;
    nb_model *loaded = NULL;
    *state = NULL;
    memset(tr, 0, sizeof *tr);
    NB_TRY(open_model(m->be, path, &f, &loaded));
    nb_status st = NB_OK;
    bool same = loaded->n_layers == m->n_layers && loaded->loss == m->loss;
    for (int l = 0; same && l <= m->n_layers; l++) same = loaded->widths[l] == m->widths[l];
    for (int l = 0; same && l < m->n_layers; l++) same = loaded->acts[l] == m->acts[l];
    const char *kind = nb_st_meta_get(f, "nabla.kind");
    if (strcmp(kind, "checkpoint") != 0)
        st = NB_FAIL(NB_ERR_ARG, "nb_train: resume: %s is a model, not a training checkpoint", path);
    else if (!same)
        st = NB_FAIL(NB_ERR_ARG, "nb_train: resume: %s holds a different architecture", path);
    const char *fn = "nb_train: resume", *run = nb_st_meta_get(f, "nabla.run");
    if (st == NB_OK) st = nb_meta_parse_train(fn, path, nb_st_meta_get(f, "nabla.train"), tr);
    if (st == NB_OK && run) st = nb_meta_parse_run(fn, path, run, &tr->batch, &tr->seed);
    tr->has_run = run != NULL;
    if (st == NB_OK && tr->optim != optim)
        st = NB_FAIL(NB_ERR_ARG, "nb_train: resume: %s was trained with %s, not %s", path,
                     nb_optim_name(tr->optim), nb_optim_name(optim));
    st = st == NB_OK ? same_classes(m, loaded, path) : st;
    size_t np = m->n_params, k = (size_t)nb_optim_state_per_param(optim);
    const float *d = NULL;
    /* Exactly the optimizer's state: a stray tensor is not this run's. */
    if (st == NB_OK && (k < 2 ? nb_st_find(f, "optimizer.v") : NULL))
        st = NB_FAIL(NB_ERR_DATA, "%s: %s: tensor optimizer.v does not belong to a %s checkpoint",
                     fn, path, nb_optim_name(optim));
    if (st == NB_OK && (k < 1 ? nb_st_find(f, "optimizer.m") : NULL))
        st = NB_FAIL(NB_ERR_DATA, "%s: %s: tensor optimizer.m does not belong to a %s checkpoint",
                     fn, path, nb_optim_name(optim));
    if (st == NB_OK && k > 0 && !(*state = malloc(k * np * sizeof **state)))
        st = NB_NOMEM("nb_train: resume", k * np * sizeof **state);
    for (size_t i = 0; st == NB_OK && i < k; i++) {
        st = want(f, path, i ? "optimizer.v" : "optimizer.m", 1, (int64_t)np, 0, &d);
        if (st == NB_OK) memcpy(*state + i * np, d, np * sizeof *d);
    }
    /* The run continues from the checkpoint's parameters and inputs. */
    float *theta = st == NB_OK ? malloc(np * sizeof *theta) : NULL;
    if (st == NB_OK && !theta) st = NB_NOMEM("nb_train: resume", np * sizeof *theta);
    if (st == NB_OK) st = nb_model_get_params(loaded, theta, np);
    if (st == NB_OK) st = nb_model_set_params(m, theta, np);
    if (st == NB_OK) st = nb_model_set_standardization(m, loaded->mean, loaded->std);
    if (st == NB_OK && loaded->class_names && !m->class_names)
        st = nb_model_set_class_names(m, m->widths[m->n_layers],
                                      (const char *const *)loaded->class_names);
    free(theta);
    if (st != NB_OK) {
        free(*state);
        *state = NULL;
    }
    tr->n = np;
    nb_model_free(loaded);
    nb_st_free(f);
    return st;
}

/* ------------------------------------------------------ checkpoint info */

/*
 * Only the metadata is read (the container still checks the whole file,
 * CRCs included). Absent in older files: "nabla.schedule" (has_schedule
 * 0; the schedule is nb_schedule_default's with the optimizer of
 * "nabla.train"), "nabla.run" (has_run 0; batch and seed 0) and
 * "nabla.record" (""), besides the fields ckpt_meta.h lists.
 */
nb_status nb_checkpoint_read_info(const char *path, nb_checkpoint_info *out)
{
    const char *fn = "nb_checkpoint_read_info";
    nb_st_file *f = NULL;
    if (!path || !out) return NB_FAIL(NB_ERR_ARG, "%s: NULL argument", fn);
    memset(out, 0, sizeof *out);
    nb_schedule_default(&out->schedule);
    NB_TRY(nb_st_read(path, NULL, &f));
    const char *kind = nb_st_meta_get(f, "nabla.kind"), *run = nb_st_meta_get(f, "nabla.run");
    const char *sched = nb_st_meta_get(f, "nabla.schedule"), *rec = nb_st_meta_get(f, "nabla.record");
    nb_ckpt_train tr;
    memset(&tr, 0, sizeof tr);
    nb_status st = NB_OK;
    if (kind && !strcmp(kind, "model"))
        st = NB_FAIL(NB_ERR_ARG, "%s: %s is a model, not a training checkpoint", fn, path);
    else if (!kind || strcmp(kind, "checkpoint"))
        st = NB_FAIL(NB_ERR_DATA, "%s: %s: not a nabla checkpoint (nabla.kind)", fn, path);
    if (st == NB_OK) st = nb_meta_parse_train(fn, path, nb_st_meta_get(f, "nabla.train"), &tr);
    if (st == NB_OK && run) st = nb_meta_parse_run(fn, path, run, &out->batch, &out->seed);
    out->has_run = run != NULL;
    out->schedule.optim = tr.optim;
    /* Without "nabla.run" the batch is unknown: the check grants full batch. */
    if (st == NB_OK && sched)
        st = nb_meta_parse_schedule(fn, path, sched, !run || out->batch == 0, &out->schedule);
    out->has_schedule = sched != NULL;
    if (st == NB_OK && out->schedule.optim != tr.optim)
        st = NB_FAIL(NB_ERR_DATA, "%s: %s: nabla.schedule says %s, nabla.train %s", fn, path,
                     nb_optim_name(out->schedule.optim), nb_optim_name(tr.optim));
    if (st == NB_OK && rec && strlen(rec) > NB_RECORD_MAX - 1)
        st = NB_FAIL(NB_ERR_DATA, "%s: %s: nabla.record is %zu bytes, over %d", fn, path,
                     strlen(rec), NB_RECORD_MAX - 1);
    if (st == NB_OK && rec) memcpy(out->record, rec, strlen(rec) + 1);
    out->iters = tr.ds.iters;
    out->epochs = tr.ds.epochs;
    out->batches_done = tr.ds.batch;
    nb_st_free(f);
    return st;
}
