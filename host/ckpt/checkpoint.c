/*
 * checkpoint.c — mapping models and training state onto safetensors
 * files (see checkpoint.h), and nb_model_save / nb_model_load.
 *
 * The container (safetensors.h) already refuses malformed files, bad
 * checksums and non-finite values; this layer checks that the contents
 * make a model: a known architecture whose tensors are all present with
 * the right shapes and nothing else, and training state that fits it.
 */
#include "ckpt/checkpoint.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/safetensors.h"
#include "schedule.h"
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

/* A double or u64 as 16 hex digits of its bits: exact and locale-free. */
static json_t *bits_d(double v)
{
    uint64_t u;
    char buf[17];
    memcpy(&u, &v, 8);
    snprintf(buf, sizeof buf, "%016" PRIx64, u);
    return json_string(buf);
}

static json_t *bits_u(uint64_t u)
{
    char buf[17];
    snprintf(buf, sizeof buf, "%016" PRIx64, u);
    return json_string(buf);
}

static char *train_json(const nb_ckpt_train *tr)
{
    const nb_halt_state *h = &tr->ds.halt;
    json_t *rng = json_array();
    for (int i = 0; i < 4; i++) json_array_append_new(rng, bits_u(tr->rng.s[i]));
    json_t *o = json_pack("{s:s, s:o, s:I, s:I, s:o, s:o, s:I, s:o, s:o, s:I, s:b}",
                          "optim", nb_optim_name(tr->optim), "rng", rng,
                          "iters", (json_int_t)tr->ds.iters, "epochs", (json_int_t)tr->ds.epochs,
                          "ls_alpha", bits_d(tr->ds.ls_alpha), "best_loss", bits_d(h->best_loss),
                          "plateau_run", (json_int_t)h->plateau_run,
                          "plateau_ref", bits_d(h->plateau_ref), "best_val", bits_d(h->best_val),
                          "since_best_val", (json_int_t)h->since_best_val,
                          "val_improved", h->val_improved);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return s;
}

/* The schedule's settings, as readable JSON numbers and names. */
static char *schedule_json(const nb_schedule *s)
{
    json_t *o = json_pack("{s:s, s:f, s:s, s:f, s:I, s:f, s:I, s:I, s:f, s:b, s:f, s:f, s:f, s:f, s:f, s:f, "
                          "s:f, s:I, s:I, s:f, s:f, s:f, s:I, s:I, s:f}",
                          "optim", nb_optim_name(s->optim), "lr", s->lr,
                          "lr_schedule", nb_lr_kind_name(s->lr_kind), "lr_gamma", s->lr_gamma,
                          "lr_step", (json_int_t)s->lr_step, "lr_decay", s->lr_decay,
                          "lr_warmup", (json_int_t)s->lr_warmup, "lr_period", (json_int_t)s->lr_period,
                          "lr_min", s->lr_min, "line_search", s->line_search != 0,
                          "armijo_c", s->armijo_c, "momentum", s->momentum, "beta1", s->beta1,
                          "beta2", s->beta2, "eps", s->eps, "weight_decay", s->weight_decay,
                          "clip_norm", s->clip_norm, "max_iters", (json_int_t)s->max_iters,
                          "max_epochs", (json_int_t)s->max_epochs, "tol_grad", s->tol_grad,
                          "time_limit", s->time_limit, "plateau_tol", s->plateau_tol,
                          "plateau_patience", (json_int_t)s->plateau_patience,
                          "early_stop", (json_int_t)s->early_stop, "diverge_factor", s->diverge_factor);
    char *out = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return out;
}

nb_status nb_ckpt_save(nb_model *m, const nb_ckpt_train *tr, const char *path)
{
    nb_st_tensor t[MAX_TENSORS];
    char names[MAX_TENSORS][32];
    size_t n = 0, np = m->n_params, in = (size_t)m->widths[0];
    if (m->n_layers > 64) return NB_FAIL(NB_ERR_UNSUPPORTED, "nb_model_save: over 64 layers");
    float *theta = malloc(np * sizeof *theta);
    char *arch = arch_json(m), *train = tr ? train_json(tr) : NULL;
    char *sched = tr && tr->sched ? schedule_json(tr->sched) : NULL;
    nb_status st;
    if (!theta || !arch || (tr && !train) || (tr && tr->sched && !sched)) {
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
    const char *keys[] = {"nabla.kind", "nabla.arch", "nabla.train", "nabla.schedule"};
    const char *vals[] = {tr ? "checkpoint" : "model", arch, train, sched};
    st = nb_st_write(path, t, n, keys, vals, tr ? (sched ? 4 : 3) : 2);
done:
    free(theta);
    free(arch);
    free(train);
    free(sched);
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
        if (st == NB_OK && nb_model_set_standardization(m, mean, sd) != NB_OK)
            st = NB_FAIL(NB_ERR_DATA, "nb_model_load: %s: input.mean/input.std: %s", path,
                         nb_last_error());
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
        if (st != NB_OK) /* a file that passed the container but not the model rules */
            st = NB_FAIL(NB_ERR_DATA, "nb_model_load: %s: invalid architecture: %s", path,
                         nb_last_error());
    }
    if (st == NB_OK) st = fill_model(*out, *f, path, strcmp(kind, "checkpoint") == 0);
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

static int get_bits(json_t *o, const char *key, uint64_t *u)
{
    const char *s = json_string_value(json_object_get(o, key));
    char *end;
    if (!s || strlen(s) != 16) return 0;
    *u = strtoull(s, &end, 16);
    return *end == '\0';
}

static int get_double(json_t *o, const char *key, double *v)
{
    uint64_t u;
    if (!get_bits(o, key, &u)) return 0;
    memcpy(v, &u, 8);
    return 1;
}

static int get_long(json_t *o, const char *key, long *v)
{
    json_t *j = json_object_get(o, key);
    if (!json_is_integer(j) || json_integer_value(j) < 0) return 0;
    *v = (long)json_integer_value(j);
    return 1;
}

static nb_status parse_train(const char *path, const char *text, nb_ckpt_train *tr)
{
    json_error_t err;
    json_t *o = text ? json_loads(text, JSON_REJECT_DUPLICATES, &err) : NULL, *rng;
    nb_halt_state *h = &tr->ds.halt;
    int ok = o && json_is_array(rng = json_object_get(o, "rng")) && json_array_size(rng) == 4 &&
             json_is_string(json_object_get(o, "optim")) &&
             nb_optim_parse(json_string_value(json_object_get(o, "optim")), &tr->optim) == NB_OK &&
             get_long(o, "iters", &tr->ds.iters) && get_long(o, "epochs", &tr->ds.epochs) &&
             get_double(o, "ls_alpha", &tr->ds.ls_alpha) && get_double(o, "best_loss", &h->best_loss) &&
             get_long(o, "plateau_run", &h->plateau_run) &&
             get_double(o, "plateau_ref", &h->plateau_ref) && get_double(o, "best_val", &h->best_val) &&
             get_long(o, "since_best_val", &h->since_best_val) &&
             json_is_boolean(json_object_get(o, "val_improved"));
    for (int i = 0; ok && i < 4; i++) {
        json_t *w = json_pack("{s:o}", "w", json_incref(json_array_get(rng, (size_t)i)));
        ok = get_bits(w, "w", &tr->rng.s[i]);
        json_decref(w);
    }
    if (ok) h->val_improved = json_is_true(json_object_get(o, "val_improved"));
    json_decref(o);
    if (!ok) return NB_FAIL(NB_ERR_DATA, "nb_train: resume: %s: nabla.train is missing or malformed", path);
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
    if (st == NB_OK) st = parse_train(path, nb_st_meta_get(f, "nabla.train"), tr);
    if (st == NB_OK && tr->optim != optim)
        st = NB_FAIL(NB_ERR_ARG, "nb_train: resume: %s was trained with %s, not %s", path,
                     nb_optim_name(tr->optim), nb_optim_name(optim));
    size_t np = m->n_params, k = (size_t)nb_optim_state_per_param(optim);
    const float *d = NULL;
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
