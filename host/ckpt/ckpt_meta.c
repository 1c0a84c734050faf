/*
 * ckpt_meta.c — writing and reading the JSON values of a checkpoint's
 * metadata: "nabla.train", "nabla.schedule", "nabla.run" and
 * "nabla.classes" (formats and rules in ckpt_meta.h).
 *
 * A checkpoint's CRCs only say that the file is what its writer wrote,
 * not that the writer was nabla: every value is checked here against
 * what a run can produce before a counter, a loop bound or an allocation
 * depends on it.
 */
#include "ckpt/ckpt_meta.h"

#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schedule.h"
#include "status.h"

/* ------------------------------------------------------------- writing */

/* A double or u64 as 16 hex digits of its bits: exact and locale-free. */
static json_t *bits_u(uint64_t u)
{
    char buf[17];
    snprintf(buf, sizeof buf, "%016" PRIx64, u);
    return json_string(buf);
}

static json_t *bits_d(double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    return bits_u(u);
}

/* Add a new reference v under key; 0 on failure (v is released). */
static int put(json_t *o, const char *key, json_t *v)
{
    return v && json_object_set_new(o, key, v) == 0;
}

/* The text of o (which is released), or NULL. Sorted keys: the same
 * state always gives the same bytes. */
static char *dump(json_t *o, int ok)
{
    char *s = o && ok ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return s;
}

char *nb_meta_train_json(const nb_ckpt_train *tr)
{
    const nb_descent_state *ds = &tr->ds;
    const nb_halt_state *h = &ds->halt;
    json_t *o = json_object(), *rng = json_array();
    int ok = o && rng;
    for (int i = 0; ok && i < 4; i++) ok = json_array_append_new(rng, bits_u(tr->rng.s[i])) == 0;
    ok = ok && put(o, "rng", json_incref(rng)) &&
         put(o, "optim", json_string(nb_optim_name(tr->optim))) &&
         put(o, "iters", json_integer(ds->iters)) && put(o, "epochs", json_integer(ds->epochs)) &&
         put(o, "batch", json_integer(ds->batch)) && put(o, "ls_alpha", bits_d(ds->ls_alpha)) &&
         put(o, "best_loss", bits_d(h->best_loss)) &&
         put(o, "plateau_run", json_integer(h->plateau_run)) &&
         put(o, "plateau_ref", bits_d(h->plateau_ref)) && put(o, "best_val", bits_d(h->best_val)) &&
         put(o, "since_best_val", json_integer(h->since_best_val)) &&
         put(o, "val_improved", json_boolean(h->val_improved)) &&
         put(o, "loss_avg", bits_d(h->loss_avg));
    json_decref(rng);
    return dump(o, ok);
}

/* The schedule's plain fields, by type; optim and lr_kind are names and
 * are handled apart. One table serves the writer and the reader, so the
 * two cannot drift apart. */
typedef enum { F_REAL, F_REAL_OR_NULL, F_LONG, F_INT, F_BOOL } ftype;
typedef struct sfield {
    const char *name;
    ftype type;
    size_t off;
} sfield;

#define SF(name, type) {#name, type, offsetof(nb_schedule, name)}
static const sfield sfields[] = {
    SF(lr, F_REAL),          SF(lr_gamma, F_REAL),         SF(lr_step, F_LONG),
    SF(lr_decay, F_REAL),    SF(lr_warmup, F_LONG),        SF(lr_period, F_LONG),
    SF(lr_min, F_REAL),      SF(line_search, F_BOOL),      SF(armijo_c, F_REAL),
    SF(ls_max_trials, F_INT), SF(momentum, F_REAL),        SF(beta1, F_REAL),
    SF(beta2, F_REAL),       SF(eps, F_REAL),              SF(weight_decay, F_REAL),
    SF(clip_norm, F_REAL),   SF(max_iters, F_LONG),        SF(max_epochs, F_LONG),
    SF(target_loss, F_REAL_OR_NULL), SF(tol_grad, F_REAL), SF(time_limit, F_REAL),
    SF(plateau_tol, F_REAL), SF(plateau_patience, F_LONG), SF(early_stop, F_LONG),
    SF(diverge_factor, F_REAL), SF(check_every, F_LONG),
};
#undef SF
enum { N_SFIELDS = sizeof sfields / sizeof *sfields };

char *nb_meta_schedule_json(const nb_schedule *s)
{
    json_t *o = json_object();
    int ok = o && put(o, "optim", json_string(nb_optim_name(s->optim))) &&
             put(o, "lr_schedule", json_string(nb_lr_kind_name(s->lr_kind)));
    for (size_t i = 0; ok && i < N_SFIELDS; i++) {
        const void *p = (const char *)s + sfields[i].off;
        double d;
        long l;
        int k;
        json_t *v = NULL;
        switch (sfields[i].type) {
        case F_REAL:
        case F_REAL_OR_NULL: /* jansson writes reals with 17 significant digits: exact */
            memcpy(&d, p, sizeof d);
            v = sfields[i].type == F_REAL_OR_NULL && isnan(d) ? json_null() : json_real(d);
            break;
        case F_LONG: memcpy(&l, p, sizeof l), v = json_integer(l); break;
        case F_INT: memcpy(&k, p, sizeof k), v = json_integer(k); break;
        case F_BOOL: memcpy(&k, p, sizeof k), v = json_boolean(k != 0); break;
        }
        ok = put(o, sfields[i].name, v);
    }
    return dump(o, ok);
}

char *nb_meta_run_json(size_t batch, uint64_t seed)
{
    json_t *o = json_object();
    int ok = o && put(o, "batch", json_integer((json_int_t)batch)) && put(o, "seed", bits_u(seed));
    return dump(o, ok);
}

char *nb_meta_classes_json(const nb_model *m)
{
    json_t *a = json_array();
    int ok = a != NULL;
    for (int k = 0; ok && k < m->widths[m->n_layers]; k++)
        ok = json_array_append_new(a, json_string(m->class_names[k])) == 0;
    char *s = a && ok ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return s;
}

/* ------------------------------------------------------------- reading */

/* One metadata value being read: where the messages say it is. */
typedef struct rd {
    const char *fn, *path, *key;
    json_t *o;
    nb_status st; /* the first failure */
} rd;

/* Record "fn: path: key: <what>" as NB_ERR_DATA (the first one only). */
static bool bad(rd *r, const char *fmt, ...) NB_PRINTF(2, 3);
static bool bad(rd *r, const char *fmt, ...)
{
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (r->st == NB_OK)
        r->st = NB_FAIL(NB_ERR_DATA, "%s: %s: %s: %s", r->fn, r->path, r->key, what);
    return false;
}

/* Text from a file, cut to 40 bytes and with control bytes as '?', so a
 * message stays one line. out has 41 bytes. */
static const char *shown(char *out, const char *s)
{
    size_t i = 0;
    for (; s[i] && i < 40; i++) out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7F ? '?' : s[i];
    out[i] = '\0';
    return out;
}

/* text as a JSON value that must_be says (an object or an array). */
static bool rd_load(rd *r, const char *text, bool array)
{
    json_error_t err;
    char t[41];
    if (!text) return bad(r, "is missing");
    r->o = json_loads(text, JSON_REJECT_DUPLICATES, &err);
    if (!r->o) return bad(r, "is not JSON: %s", shown(t, err.text));
    if (array ? !json_is_array(r->o) : !json_is_object(r->o))
        return bad(r, "is not a JSON %s", array ? "array" : "object");
    return true;
}

/* Every field of the object is one of the n names. */
static bool rd_only(rd *r, const char *const *names, size_t n)
{
    const char *k;
    json_t *v;
    char t[41];
    json_object_foreach(r->o, k, v) {
        size_t i = 0;
        while (i < n && strcmp(k, names[i]) != 0) i++;
        if (i == n) return bad(r, "unknown field '%s'", shown(t, k));
    }
    return true;
}

/* An integer in [lo, hi]; an absent field is an error when need is set
 * and leaves *v as it was otherwise. */
static bool rd_long(rd *r, const char *f, long lo, long hi, bool need, long *v)
{
    json_t *j = json_object_get(r->o, f);
    if (!j) return need ? bad(r, "%s is missing", f) : true;
    if (!json_is_integer(j)) return bad(r, "%s is not an integer", f);
    json_int_t x = json_integer_value(j);
    if (x < lo || x > hi) return bad(r, "%s = %lld is not in [%ld, %ld]", f, (long long)x, lo, hi);
    *v = (long)x;
    return true;
}

/* Exactly 16 hex digits, either case: no sign, space or 0x, which
 * strtoull would let through. */
static bool hex16(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9') d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') d = (unsigned)(c - 'A' + 10);
        else return false; /* also the NUL of a shorter string */
        v = v << 4 | d;
    }
    if (s[16] != '\0') return false;
    *out = v;
    return true;
}

static bool rd_bits(rd *r, const char *f, json_t *j, uint64_t *u)
{
    if (!j) return bad(r, "%s is missing", f);
    if (!json_is_string(j) || !hex16(json_string_value(j), u))
        return bad(r, "%s is not exactly 16 hex digits", f);
    return true;
}

/* What a double of the state may be. */
typedef enum {
    D_POSITIVE,    /* finite and > 0                                 */
    D_LOSS_OR_INF, /* +Inf (never set), or finite and >= 0           */
    D_LOSS_OR_NAN  /* NaN (not yet measured), or finite and >= 0     */
} dkind;

static bool rd_double(rd *r, const char *f, dkind kind, bool need, double *v)
{
    static const char *const want[] = {"a finite number > 0", "+Inf or a finite number >= 0",
                                       "NaN or a finite number >= 0"};
    json_t *j = json_object_get(r->o, f);
    uint64_t u;
    double d;
    if (!j && !need) return true;
    if (!rd_bits(r, f, j, &u)) return false;
    memcpy(&d, &u, 8);
    bool ok = isfinite(d) ? (kind == D_POSITIVE ? d > 0 : d >= 0)
                          : (kind == D_LOSS_OR_INF ? d == INFINITY : kind == D_LOSS_OR_NAN && isnan(d));
    if (!ok) return bad(r, "%s = %.17g is not %s", f, d, want[kind]);
    *v = d;
    return true;
}

nb_status nb_meta_parse_train(const char *fn, const char *path, const char *text,
                              nb_ckpt_train *tr)
{
    static const char *const fields[] = {"optim", "rng", "iters", "epochs", "batch", "ls_alpha",
                                         "best_loss", "plateau_run", "plateau_ref", "best_val",
                                         "since_best_val", "val_improved", "loss_avg"};
    rd r = {fn, path, "nabla.train", NULL, NB_OK};
    nb_descent_state *ds = &tr->ds;
    nb_halt_state *h = &ds->halt;
    /* What files written before these fields existed mean. */
    ds->batch = 0;
    h->loss_avg = NAN;
    bool ok = rd_load(&r, text, false) && rd_only(&r, fields, sizeof fields / sizeof *fields);
    json_t *optim = json_object_get(r.o, "optim"), *rng = json_object_get(r.o, "rng");
    json_t *vi = json_object_get(r.o, "val_improved");
    if (ok && (!json_is_string(optim) || nb_optim_parse(json_string_value(optim), &tr->optim) != NB_OK))
        ok = bad(&r, "optim is missing or not an optimizer's name");
    if (ok && (!json_is_array(rng) || json_array_size(rng) != 4))
        ok = bad(&r, "rng is not an array of 4 words");
    for (size_t i = 0; ok && i < 4; i++) {
        char f[8];
        snprintf(f, sizeof f, "rng[%zu]", i);
        ok = rd_bits(&r, f, json_array_get(rng, i), &tr->rng.s[i]);
    }
    /* xoshiro256** never leaves the all-zero state: it would draw zeros forever. */
    if (ok && !(tr->rng.s[0] | tr->rng.s[1] | tr->rng.s[2] | tr->rng.s[3]))
        ok = bad(&r, "rng is all zero, which no generator state can be");
    ok = ok && rd_long(&r, "iters", 0, NB_COUNT_MAX, true, &ds->iters) &&
         rd_long(&r, "epochs", 0, NB_COUNT_MAX, true, &ds->epochs) &&
         /* batches of an unfinished epoch: updates already counted in iters */
         rd_long(&r, "batch", 0, ds->iters, false, &ds->batch) &&
         rd_long(&r, "plateau_run", 0, ds->epochs, true, &h->plateau_run) &&
         rd_long(&r, "since_best_val", 0, ds->epochs, true, &h->since_best_val) &&
         rd_double(&r, "ls_alpha", D_POSITIVE, true, &ds->ls_alpha) &&
         rd_double(&r, "best_loss", D_LOSS_OR_INF, true, &h->best_loss) &&
         rd_double(&r, "plateau_ref", D_LOSS_OR_INF, true, &h->plateau_ref) &&
         rd_double(&r, "best_val", D_LOSS_OR_INF, true, &h->best_val) &&
         rd_double(&r, "loss_avg", D_LOSS_OR_NAN, false, &h->loss_avg);
    if (ok && !json_is_boolean(vi)) ok = bad(&r, "val_improved is missing or not a bool");
    if (ok) h->val_improved = json_is_true(vi);
    json_decref(r.o);
    return ok ? NB_OK : r.st;
}

/* One field of the schedule from JSON value j into the field's place. */
static bool rd_sfield(rd *r, const sfield *f, json_t *j, nb_schedule *s)
{
    void *p = (char *)s + f->off;
    json_int_t x = json_is_integer(j) ? json_integer_value(j) : 0;
    double d;
    long l;
    int k;
    switch (f->type) {
    case F_REAL_OR_NULL:
        if (json_is_null(j)) {
            d = NAN;
            memcpy(p, &d, sizeof d);
            return true;
        }
        /* fall through */
    case F_REAL:
        if (!json_is_number(j)) return bad(r, "%s is not a number", f->name);
        d = json_number_value(j);
        memcpy(p, &d, sizeof d);
        return true;
    case F_LONG:
        if (!json_is_integer(j) || x < LONG_MIN || x > LONG_MAX)
            return bad(r, "%s is not an integer of the range of long", f->name);
        l = (long)x;
        memcpy(p, &l, sizeof l);
        return true;
    case F_INT:
        if (!json_is_integer(j) || x < INT_MIN || x > INT_MAX)
            return bad(r, "%s is not an integer of the range of int", f->name);
        k = (int)x;
        memcpy(p, &k, sizeof k);
        return true;
    case F_BOOL:
        if (!json_is_boolean(j)) return bad(r, "%s is not a bool", f->name);
        k = json_is_true(j);
        memcpy(p, &k, sizeof k);
        return true;
    }
    return bad(r, "%s has no type", f->name);
}

nb_status nb_meta_parse_schedule(const char *fn, const char *path, const char *text,
                                 bool full_batch, nb_schedule *s)
{
    rd r = {fn, path, "nabla.schedule", NULL, NB_OK};
    bool ok = rd_load(&r, text, false);
    const char *k;
    json_t *v;
    char t[41];
    json_object_foreach(r.o, k, v) {
        if (!ok) break;
        if (!strcmp(k, "optim")) {
            if (!json_is_string(v) || nb_optim_parse(json_string_value(v), &s->optim) != NB_OK)
                ok = bad(&r, "optim is not an optimizer's name");
            continue;
        }
        if (!strcmp(k, "lr_schedule")) {
            if (!json_is_string(v) || nb_lr_kind_parse(json_string_value(v), &s->lr_kind) != NB_OK)
                ok = bad(&r, "lr_schedule is not a schedule's name");
            continue;
        }
        size_t i = 0;
        while (i < N_SFIELDS && strcmp(k, sfields[i].name) != 0) i++;
        ok = i < N_SFIELDS ? rd_sfield(&r, &sfields[i], v, s) : bad(&r, "unknown field '%s'", shown(t, k));
    }
    json_decref(r.o);
    if (!ok) return r.st;
    /* The run was checked with its own data; validation data is not
     * recorded, so the check grants it (early stopping needs it). */
    if (nb_schedule_check("nabla.schedule", s, full_batch, true) != NB_OK)
        return NB_FAIL(NB_ERR_DATA, "%s: %s: %s", fn, path, nb_last_error());
    return NB_OK;
}

nb_status nb_meta_parse_run(const char *fn, const char *path, const char *text, size_t *batch,
                            uint64_t *seed)
{
    static const char *const fields[] = {"batch", "seed"};
    rd r = {fn, path, "nabla.run", NULL, NB_OK};
    long b = 0;
    /* nb_train refuses more than INT32_MAX training rows, and a batch
     * that covers them all is stored as 0. */
    bool ok = rd_load(&r, text, false) && rd_only(&r, fields, 2) &&
              rd_long(&r, "batch", 0, INT32_MAX, true, &b) &&
              rd_bits(&r, "seed", json_object_get(r.o, "seed"), seed);
    json_decref(r.o);
    if (ok) *batch = (size_t)b;
    return ok ? NB_OK : r.st;
}

nb_status nb_meta_parse_classes(const char *fn, const char *path, const char *text, nb_model *m)
{
    rd r = {fn, path, "nabla.classes", NULL, NB_OK};
    int outputs = m->widths[m->n_layers];
    const char **names = NULL;
    bool ok = rd_load(&r, text, true);
    size_t n = json_array_size(r.o);
    if (ok && n != (size_t)outputs) ok = bad(&r, "%zu names for %d outputs", n, outputs);
    /* n == outputs ≤ 2^24 here, and every name took bytes of the header. */
    if (ok && !(names = malloc(n * sizeof *names))) {
        json_decref(r.o);
        return NB_NOMEM(fn, n * sizeof *names);
    }
    for (size_t i = 0; ok && i < n; i++)
        if (!(names[i] = json_string_value(json_array_get(r.o, i))))
            ok = bad(&r, "name %zu is not a string", i);
    if (ok && nb_class_names_check("names", outputs, names, outputs) != NB_OK)
        ok = bad(&r, "%s", nb_last_error());
    nb_status st = ok ? nb_model_set_class_names(m, outputs, names) : r.st;
    free(names);
    json_decref(r.o);
    return st;
}
