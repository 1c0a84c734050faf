/*
 * trainer_dist.c — nb_train across processes (nabla_dist.h): the check
 * that the ranks run the same thing, the full-batch shards, and the entry
 * that hands the trainer its part (trainer.c does the per-step sums).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "data/dataset.h"
#include "model.h"
#include "rng.h"
#include "status.h"
#include "trainer.h"

/* ------------------------------------------------------- the agreement */

enum { MAX_ITEMS = 40 };

/* What the ranks compare: a named value each, or a fingerprint of bytes
 * (compared, never printed). */
typedef struct agreement {
    int n;
    const char *what[MAX_ITEMS];
    bool print[MAX_ITEMS];
    int64_t v[MAX_ITEMS];
} agreement;

static void put(agreement *a, const char *what, int64_t v)
{
    a->what[a->n] = what;
    a->print[a->n] = true;
    a->v[a->n++] = v;
}

static void put_bytes(agreement *a, const char *what, const void *p, size_t n)
{
    a->what[a->n] = what;
    a->print[a->n] = false;
    a->v[a->n++] = p ? nb_fingerprint(p, n, (int64_t)n) : -1;
}

/* A double's bits, every NaN alike (a rule's "off" may be any NaN). */
static int64_t bits(double x)
{
    int64_t b;
    if (isnan(x)) x = NAN;
    memcpy(&b, &x, sizeof b);
    return b;
}

/* Every field of the schedule, in one fingerprint. */
static void put_schedule(agreement *a, const nb_schedule *s)
{
    int64_t f[] = {bits(s->lr), s->lr_kind, bits(s->lr_gamma), s->lr_step, bits(s->lr_decay),
                   s->lr_warmup, s->lr_period, bits(s->lr_min), s->line_search,
                   bits(s->armijo_c), s->ls_max_trials, s->optim, bits(s->momentum),
                   bits(s->beta1), bits(s->beta2), bits(s->eps), bits(s->weight_decay),
                   bits(s->clip_norm), s->max_iters, s->max_epochs, bits(s->target_loss),
                   bits(s->tol_grad), bits(s->time_limit), bits(s->plateau_tol),
                   s->plateau_patience, s->early_stop, bits(s->diverge_factor), s->check_every};
    put_bytes(a, "schedule and halting options", f, sizeof f);
}

static void put_data(agreement *a, const char *rows, const char *content, const nb_dataset *d)
{
    put(a, rows, d ? (int64_t)d->rows : -1);
    if (!d) return;
    size_t r = d->rows;
    int64_t h = nb_fingerprint(d->x, r * (size_t)d->inputs * sizeof(float), d->inputs);
    if (d->labels) h = nb_fingerprint(d->labels, r * sizeof(int32_t), h);
    if (d->y) h = nb_fingerprint(d->y, r * (size_t)d->outputs * sizeof(float), h);
    a->what[a->n] = content;
    a->print[a->n] = false;
    a->v[a->n++] = h;
}

/* The model: its shape and, unless a checkpoint will replace them, its
 * parameters (read back once). */
static nb_status put_model(agreement *a, const nb_model *m, bool resuming)
{
    put(a, "number of layers", m->n_layers);
    put_bytes(a, "layer widths", m->widths, (size_t)(m->n_layers + 1) * sizeof(int));
    put_bytes(a, "activations", m->acts, (size_t)m->n_layers * sizeof(nb_act));
    put(a, "loss", m->loss);
    put(a, "parameter count", (int64_t)m->n_params);
    size_t in = (size_t)m->widths[0];
    put_bytes(a, "input standardisation (mean)", m->mean, in * sizeof(float));
    put_bytes(a, "input standardisation (std)", m->std, in * sizeof(float));
    if (resuming) return NB_OK;
    float *theta = malloc(m->n_params * sizeof(float));
    if (!theta) return NB_NOMEM("nb_dist_check", m->n_params * sizeof(float));
    nb_status st = nb_model_get_params(m, theta, m->n_params);
    if (st == NB_OK) put_bytes(a, "initial parameters", theta, m->n_params * sizeof(float));
    free(theta);
    return st;
}

/* nb_dist_check, its messages naming fn (the call the user made). */
static nb_status dist_check(const char *fn, const nb_model *m, const nb_dataset *train,
                            const nb_dataset *val, const nb_train_options *o, const nb_comm *comm)
{
    NB_TRY(nb_comm_check(fn, comm));
    if (!m || !train || !o) return NB_FAIL(NB_ERR_ARG, "%s: model, data and options are required", fn);
    if (!nb_comm_many(comm)) return nb_train_check_args(m, train, val, o);
    agreement a = {.n = 0};
    put(&a, "number of ranks", comm->ranks);
    NB_TRY(put_model(&a, m, o->resume != NULL));
    put(&a, "inputs", train->inputs);
    put(&a, "outputs", train->outputs);
    put(&a, "classes", train->classes);
    put_data(&a, "training rows", "training data", train);
    put_data(&a, "validation rows (-1: none)", "validation data", val);
    bool full = o->batch == 0 || o->batch >= train->rows;
    put(&a, "batch (0: full)", full ? 0 : (int64_t)o->batch);
    put(&a, "seed", (int64_t)o->seed);
    put_schedule(&a, &o->schedule);
    put(&a, "report_every", o->report_every);
    put(&a, "measure_grad", o->measure_grad != 0);
    put(&a, "checkpointing (save set)", o->save != NULL);
    put(&a, "save_every", o->save ? o->save_every : 0);
    put(&a, "resuming (resume set)", o->resume != NULL);
    put(&a, "interrupt flag given", o->interrupt != NULL);
    int64_t lo[MAX_ITEMS], hi[MAX_ITEMS];
    NB_TRY(nb_comm_minmax_i64(comm, a.v, lo, hi, (size_t)a.n, "the run's settings"));
    for (int i = 0; i < a.n; i++) {
        if (lo[i] == hi[i]) continue;
        if (a.print[i])
            return NB_FAIL(NB_ERR_ARG, "%s: the %d ranks disagree on the %s: from %lld to %lld",
                           fn, comm->ranks, a.what[i], (long long)lo[i], (long long)hi[i]);
        return NB_FAIL(NB_ERR_ARG, "%s: the %d ranks disagree on the %s (they differ between "
                       "ranks)", fn, comm->ranks, a.what[i]);
    }
    /* The same arguments everywhere: the checks below agree too. */
    NB_TRY(nb_train_check_args(m, train, val, o));
    if (full && train->rows < (size_t)comm->ranks)
        return NB_FAIL(NB_ERR_ARG, "%s: %zu training rows for %d ranks: full batch needs at "
                       "least one row per rank", fn, train->rows, comm->ranks);
    return NB_OK;
}

nb_status nb_dist_check(const nb_model *m, const nb_dataset *train, const nb_dataset *val,
                        const nb_train_options *o, const nb_comm *comm)
{
    return dist_check("nb_dist_check", m, train, val, o, comm);
}

/* ------------------------------------------------------------ the run */

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/*
 * Rank r's full-batch shard: rows N·r/K … N·(r+1)/K − 1 of a shuffle seeded
 * with the run's seed, so the shards are disjoint, cover every row, and
 * each is a random sample of the set (not, say, a block of one class);
 * kept in file order, which the sum does not care about.
 */
static nb_status make_shard(const nb_dataset *d, uint64_t seed, const nb_comm *c,
                            nb_dataset **out)
{
    size_t n = d->rows, r = (size_t)c->rank, k = (size_t)c->ranks;
    int32_t *idx = malloc(n * sizeof *idx);
    if (!idx) return NB_NOMEM("nb_train_dist", n * sizeof *idx);
    for (size_t i = 0; i < n; i++) idx[i] = (int32_t)i;
    nb_rng g;
    nb_rng_seed(&g, seed, NB_STREAM_SHARD);
    nb_rng_shuffle_i32(&g, idx, n);
    size_t lo = n * r / k, hi = n * (r + 1) / k;
    qsort(idx + lo, hi - lo, sizeof *idx, cmp_i32);
    nb_status st = nb_dataset_take_rows(d, idx + lo, hi - lo, out);
    free(idx);
    return st;
}

nb_status nb_train_dist(nb_model *m, const nb_dataset *train, const nb_dataset *val,
                        const nb_train_options *o, const nb_comm *comm, nb_result *res)
{
    nb_result local;
    if (!res) res = &local;
    memset(res, 0, sizeof *res);
    NB_TRY(nb_comm_check("nb_train_dist", comm));
    if (!nb_comm_many(comm)) return nb_train(m, train, val, o, res);
    NB_TRY(dist_check("nb_train_dist", m, train, val, o, comm));
    nb_dist_run d = {.comm = comm, .full = o->batch == 0 || o->batch >= train->rows,
                     .rows_all = train->rows};
    if (!d.full) return nb_train_part(m, train, val, o, &d, res);
    nb_dataset *shard;
    NB_TRY(make_shard(train, o->seed, comm, &shard));
    nb_status st = nb_train_part(m, shard, val, o, &d, res);
    nb_dataset_free(shard);
    return st;
}
