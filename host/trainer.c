/*
 * trainer.c — nb_train: the MLP as an objective of the descent loop.
 *
 * Everything a run needs is allocated once, before the first step: the
 * training (and validation) data on the backend (devdata.c: resident, or
 * streamed if it does not fit), one pass of scratch for a batch, and the
 * epoch's row permutation. With resident data a mini-batch step gathers
 * its rows on the backend through the index buffer, so per step nothing
 * crosses to the device; the permutation goes up once per epoch and the
 * loss comes back only when a rule or a report needs it.
 *
 * With a fallback backend (nb_train_options.fallback) the run also keeps a
 * host copy of its state, refreshed at an epoch's end (not per step: in
 * full batch every COPY_EVERY_FULL iterations), and when the backend fails
 * it moves the model to the fallback and replays from that copy.
 *
 * Across processes (nb_train_dist, trainer_dist.c) the same callbacks sum
 * over the ranks what they measure: the gradient after each batch's
 * backward pass, the loss, the validation metrics and the flags the loop
 * decides on, through comm.h; with one process those sums are nothing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "ckpt/atomic_file.h"
#include "ckpt/checkpoint.h"
#include "descent.h"
#include "clock.h"
#include "comm.h"
#include "devdata.h"
#include "pass.h"
#include "rng.h"
#include "schedule.h"
#include "status.h"
#include "trainer.h"

/* Full batch: iterations between refreshes of the host copy. One read of
 * θ (and the optimizer state) per 16 steps is small next to 16 passes over
 * the data, and a failure replays at most 16 iterations. */
#define COPY_EVERY_FULL 16

/*
 * The host copy of a run's state that a fallback replays from: two slots,
 * so that a read that fails half-way never spoils the last good one. Each
 * slot holds θ (n), the optimizer state (k·n) and early stopping's best θ
 * (n), back to back.
 */
typedef struct host_copy {
    float *slot[2];
    int cur;             /* the good slot                                   */
    bool valid;          /* slot[cur] holds a complete state                */
    bool has_start;      /* ds holds the descent's place; false: the start  */
    bool has_best;       /* the slot's best θ is set                        */
    nb_descent_state ds;
    nb_rng rng;
    long start_iters;    /* where this nb_train call began                  */
    long reported;       /* the last epoch handed to on_epoch; -1: none     */
} host_copy;

typedef struct trainer {
    nb_model *m;
    const nb_train_options *o;
    nb_devdata train, val;
    const int32_t *val_labels; /* host; NULL for regression or no val */
    bool has_val;
    nb_pass pass;    /* scratch for one batch (or one chunk in full batch) */
    size_t batch;    /* rows per step; == train rows in full batch        */
    nb_buf idx;      /* (rows) int32: this epoch's permutation            */
    int32_t *perm;   /* (rows) host copy of it                            */
    nb_rng rng;
    nb_rng rng_epoch; /* the stream as the current epoch began (before its
                         shuffle): what an interrupted epoch's checkpoint holds */
    size_t rows_seen; /* rows stepped over this epoch                      */
    nb_buf state;     /* optimizer state, k·n floats (none for sgd)        */
    nb_buf snap[3];   /* NB_SNAP_* copies of θ, allocated when needed      */
    nb_buf bad;       /* one int32: a step produced a NaN/Inf parameter    */
    long epoch;       /* epochs finished (for progress callbacks)          */
    double t0, last_progress;
    float *host_state; /* checkpoints: the optimizer state read back        */
    host_copy *hc;     /* kept for a fallback; NULL without one             */
    long skip_upto;    /* a replay: epochs up to this one were reported     */
    double gnorm;      /* ‖∇Φ‖ read with the full-batch loss, or NaN      */
    /* Across processes; with one: comm NULL, the whole ranges. */
    const nb_comm *comm;
    double rows_all;   /* training rows over all ranks: Φ's N              */
    size_t ex_lo, ex_hi;   /* this rank's rows of train in an exact pass   */
    size_t val_lo, val_hi; /* and of val in a validation                   */
    float *stage;      /* n floats: θ or ∇ on the way through the comm     */
} trainer;

void nb_train_options_default(nb_train_options *o)
{
    memset(o, 0, sizeof *o);
    nb_schedule_default(&o->schedule);
    o->batch = 32;
    o->seed = 1;
    o->report_every = 1;
    o->save_every = 1;
}

/* ------------------------------------------------- objective callbacks */

static nb_status tr_epoch_begin(void *vctx, long epoch)
{
    trainer *t = vctx;
    t->epoch = epoch;
    t->rng_epoch = t->rng;
    /* Shuffle the identity, not last epoch's order: the order of an epoch
     * then depends on the RNG state alone, which a checkpoint can hold. */
    for (size_t i = 0; i < t->train.rows; i++) t->perm[i] = (int32_t)i;
    nb_rng_shuffle_i32(&t->rng, t->perm, t->train.rows);
    if (t->train.resident) NB_TRY(nb_be_write(t->m->be, &t->idx, 0, t->perm, t->train.rows));
    t->rows_seen = 0;
    return nb_be_fill(t->m->be, 1, 0.0f, nb_view_at(&t->pass.scal, NB_SCAL_EPOCH_LOSS));
}

/* The gradient in m->grad summed over the ranks. */
static nb_status reduce_grad(trainer *t)
{
    return nb_comm_sum_buf(t->comm, t->m->be, &t->m->grad, t->m->n_params, t->stage,
                           "the gradient");
}

/*
 * Φ over all training rows (this rank's ex_lo … ex_hi, summed over the
 * ranks) and, with norm, ∇Φ into m->grad and ‖∇Φ‖. ‖∇Φ‖² and Φ's sum
 * sit in neighbouring slots, so one read brings both: on a device each
 * read waits for the queue to drain, the dominant cost of a tiny step.
 */
static nb_status exact_pass(trainer *t, double *loss, double *norm)
{
    nb_model *m = t->m;
    _Static_assert(NB_SCAL_PASS_LOSS == NB_SCAL_SUMSQ + 1, "Σg² and Φ in adjacent slots");
    NB_TRY(nb_pass_range(m, &t->pass, &t->train, t->ex_lo, t->ex_hi,
                         (float)(1.0 / t->rows_all), norm != NULL));
    float s[2];
    if (norm) {
        NB_TRY(reduce_grad(t));
        NB_TRY(nb_be_sum_sq(m->be, m->n_params, nb_view_at(&m->grad, 0),
                            nb_view_at(&t->pass.scal, NB_SCAL_SUMSQ)));
        NB_TRY(nb_be_read(m->be, &t->pass.scal, NB_SCAL_SUMSQ, s, 2));
        *norm = sqrt((double)s[0]);
    } else {
        NB_TRY(nb_be_read(m->be, &t->pass.scal, NB_SCAL_PASS_LOSS, &s[1], 1));
    }
    double sum = s[1];
    NB_TRY(nb_comm_sum_f64(t->comm, &sum, 1, "the loss"));
    *loss = sum / t->rows_all;
    return NB_OK;
}

static nb_status tr_gradient(void *vctx, long b, double *loss)
{
    trainer *t = vctx;
    nb_model *m = t->m;
    /* Full batch: ‖∇Φ‖, which the loop asks for next, comes back with Φ. */
    if (loss) return exact_pass(t, loss, &t->gnorm);
    t->gnorm = NAN;
    size_t r0 = (size_t)b * t->batch;
    size_t rows = t->train.rows - r0 < t->batch ? t->train.rows - r0 : t->batch;
    /* Across K ranks, rank r takes rows [rows·r/K, rows·(r+1)/K) of the
     * global batch, which may be none of them. */
    size_t lo = 0, hi = rows;
    if (nb_comm_many(t->comm)) {
        lo = rows * (size_t)t->comm->rank / (size_t)t->comm->ranks;
        hi = rows * (size_t)(t->comm->rank + 1) / (size_t)t->comm->ranks;
    }
    t->rows_seen += rows;
    /* Φ_batch = (1/rows) Σ over the batch, so its gradient scales by 1/rows. */
    if (hi > lo) {
        nb_view x, y;
        NB_TRY(nb_devdata_rows(m->be, &t->train, r0 + lo, hi - lo, t->perm, &t->idx,
                               nb_pass_in(&t->pass), nb_pass_target(&t->pass), &x, &y));
        NB_TRY(nb_pass_loss_grad(m, &t->pass, hi - lo, x, y, (float)(1.0 / (double)rows),
                                 NB_SCAL_EPOCH_LOSS, true, false));
    } else {
        NB_TRY(nb_be_fill(m->be, m->n_params, 0.0f, nb_view_at(&m->grad, 0)));
    }
    NB_TRY(reduce_grad(t));
    double now = t->o->on_batch ? nb_now() : 0.0;
    if (t->o->on_batch && now - t->last_progress >= 0.1) {
        t->last_progress = now;
        long batches = (long)((t->train.rows + t->batch - 1) / t->batch);
        nb_batch_progress bp = {t->epoch, b + 1, batches, (long)t->rows_seen, now - t->t0};
        t->o->on_batch(t->o->user, &bp);
    }
    return NB_OK;
}

static nb_status tr_grad_norm(void *vctx, double *norm)
{
    trainer *t = vctx;
    if (!isnan(t->gnorm)) return *norm = t->gnorm, NB_OK; /* already read with Φ */
    return nb_pass_norm(t->m, &t->pass, &t->m->grad, t->m->n_params, norm);
}

static nb_status tr_step(void *vctx, const nb_optim_step *st)
{
    trainer *t = vctx;
    nb_model *m = t->m;
    nb_view none = {NULL, 0}, g2 = nb_view_at(&t->pass.scal, NB_SCAL_SUMSQ);
    /* Clipping needs ‖g‖², which stays on the backend for the update. */
    if (st->clip_norm > 0) NB_TRY(nb_be_sum_sq(m->be, m->n_params, nb_view_at(&m->grad, 0), g2));
    return nb_be_update(m->be, st, m->n_params, nb_view_at(&m->theta, 0), nb_view_at(&m->grad, 0),
                        t->state.handle ? nb_view_at(&t->state, 0) : none,
                        st->clip_norm > 0 ? g2 : none, nb_view_at(&t->bad, 0));
}

static nb_status tr_epoch_loss(void *vctx, double *sum, double *rows)
{
    trainer *t = vctx;
    float s;
    NB_TRY(nb_be_read(t->m->be, &t->pass.scal, NB_SCAL_EPOCH_LOSS, &s, 1));
    *sum = s;
    *rows = (double)t->rows_seen;
    return nb_comm_sum_f64(t->comm, sum, 1, "the epoch's loss");
}

static nb_status tr_exact(void *vctx, double *loss, double *norm)
{
    return exact_pass(vctx, loss, norm);
}

static nb_status tr_params_bad(void *vctx, bool *bad)
{
    trainer *t = vctx;
    int32_t flag = 0;
    NB_TRY(nb_be_read(t->m->be, &t->bad, 0, &flag, 1));
    if (flag) NB_TRY(nb_be_write(t->m->be, &t->bad, 0, &(int32_t){0}, 1));
    double any = flag != 0;
    NB_TRY(nb_comm_max_f64(t->comm, &any, 1, "the non-finite parameter flag"));
    *bad = any != 0.0;
    return NB_OK;
}

static nb_status tr_agree(void *vctx, double *v, int n)
{
    trainer *t = vctx;
    return nb_comm_max_f64(t->comm, v, (size_t)n, "the halting flags");
}

static nb_status tr_snapshot(void *vctx, int slot)
{
    trainer *t = vctx;
    return nb_be_copy(t->m->be, t->m->n_params, nb_view_at(&t->m->theta, 0),
                      nb_view_at(&t->snap[slot], 0));
}

static nb_status tr_restore(void *vctx, int slot)
{
    trainer *t = vctx;
    return nb_be_copy(t->m->be, t->m->n_params, nb_view_at(&t->snap[slot], 0),
                      nb_view_at(&t->m->theta, 0));
}

static nb_status tr_trial(void *vctx, double alpha, double *loss)
{
    trainer *t = vctx;
    nb_model *m = t->m;
    nb_view none = {NULL, 0};
    nb_optim_step st = {NB_OPT_SGD, alpha, 0, 0, 0, 0, 0, 1, 1, 0};
    NB_TRY(tr_restore(vctx, NB_SNAP_TRIAL));
    NB_TRY(nb_be_update(m->be, &st, m->n_params, nb_view_at(&m->theta, 0), nb_view_at(&m->grad, 0),
                        none, none, nb_view_at(&t->bad, 0)));
    return exact_pass(t, loss, NULL); /* Φ only, on the device */
}

static nb_status tr_validate(void *vctx, double *loss, double *acc)
{
    trainer *t = vctx;
    double v[2]; /* Φ's sum and the rows classified right */
    size_t correct;
    NB_TRY(nb_pass_evaluate_range(t->m, &t->pass, &t->val, t->val_labels, t->val_lo, t->val_hi,
                                  &v[0], &correct));
    v[1] = (double)correct;
    NB_TRY(nb_comm_sum_f64(t->comm, v, 2, "the validation loss and accuracy"));
    *loss = v[0] / (double)t->val.rows;
    *acc = t->val_labels ? v[1] / (double)t->val.rows : NAN;
    return NB_OK;
}

/*
 * Across ranks: do the parameters agree bit for bit? They must, since
 * every rank applies the same update to the same point; a communicator
 * whose sums differ between ranks would break that silently, so it is
 * checked before every checkpoint and at the end.
 */
static nb_status check_same_theta(trainer *t, long iters)
{
    if (!nb_comm_many(t->comm)) return NB_OK;
    size_t n = t->m->n_params;
    NB_TRY(nb_be_read(t->m->be, &t->m->theta, 0, t->stage, n));
    int64_t h = nb_fingerprint(t->stage, n * sizeof(float), 0), lo, hi;
    NB_TRY(nb_comm_minmax_i64(t->comm, &h, &lo, &hi, 1, "the parameters' fingerprint"));
    if (lo != hi)
        return NB_FAIL(NB_ERR_INTERNAL, "nb_train_dist: the ranks' parameters differ after %ld "
                                        "updates: every rank must run the same kind of backend "
                                        "and device, and the communicator's all-reduce must give "
                                        "every rank the same bits", iters);
    return NB_OK;
}

static nb_status tr_report(void *vctx, nb_epoch_stats *s, int *stop)
{
    trainer *t = vctx;
    /* A replay passes again over epochs the caller has already seen. */
    if (s->epoch <= t->skip_upto) return NB_OK;
    if (t->o->on_epoch) *stop = t->o->on_epoch(t->o->user, s);
    if (t->hc) t->hc->reported = s->epoch;
    return NB_OK;
}

/*
 * Refresh the host copy: θ, optimizer state and best θ read into the spare
 * slot, which becomes the good one only when every read succeeded. ds is
 * the descent's place (NULL: the run's start, or a resumed run's).
 */
static nb_status take_copy(trainer *t, const nb_descent_state *ds, bool with_best)
{
    host_copy *c = t->hc;
    nb_backend *be = t->m->be;
    size_t n = t->m->n_params, k = (size_t)nb_optim_state_per_param(t->o->schedule.optim);
    float *dst = c->slot[1 - c->cur];
    NB_TRY(nb_be_read(be, &t->m->theta, 0, dst, n));
    if (k > 0) NB_TRY(nb_be_read(be, &t->state, 0, dst + n, k * n));
    if (with_best) NB_TRY(nb_be_read(be, &t->snap[NB_SNAP_BEST], 0, dst + (k + 1) * n, n));
    c->cur = 1 - c->cur;
    c->valid = true;
    c->has_best = with_best;
    c->has_start = ds != NULL;
    if (ds) c->ds = *ds;
    c->rng = t->rng;
    return NB_OK;
}

/* A replay's start: the copy's optimizer state, best θ, RNG and place
 * (θ is already the model's, moved there by nb_model_rebind). */
static nb_status from_copy(trainer *t, nb_descent_state *start, nb_descent_state **startp)
{
    const host_copy *c = t->hc;
    nb_backend *be = t->m->be;
    size_t n = t->m->n_params, k = (size_t)nb_optim_state_per_param(t->o->schedule.optim);
    const float *src = c->slot[c->cur];
    if (k > 0) NB_TRY(nb_be_write(be, &t->state, 0, src + n, k * n));
    if (c->has_best) NB_TRY(nb_be_write(be, &t->snap[NB_SNAP_BEST], 0, src + (k + 1) * n, n));
    t->rng = c->rng;
    t->skip_upto = c->reported;
    if (c->has_start) *start = c->ds, *startp = start;
    return NB_OK;
}

/* Write a checkpoint every save_every epochs and at the end of the run. */
static nb_status tr_epoch_end(void *vctx, const nb_descent_state *ds, bool halted)
{
    trainer *t = vctx;
    const nb_train_options *o = t->o;
    /* A run that ends here needs no copy to go on from. */
    bool full = t->batch >= t->train.rows;
    if (t->hc && !halted && (!full || ds->epochs % COPY_EVERY_FULL == 0))
        NB_TRY(take_copy(t, ds, t->snap[NB_SNAP_BEST].handle != NULL && t->has_val));
    if (!o->save || (!halted && ds->epochs % o->save_every != 0)) return NB_OK;
    NB_TRY(check_same_theta(t, ds->iters));
    if (nb_comm_many(t->comm) && t->comm->rank != 0) return NB_OK; /* rank 0 writes */
    size_t n = t->m->n_params, k = (size_t)nb_optim_state_per_param(o->schedule.optim);
    if (k > 0) NB_TRY(nb_be_read(t->m->be, &t->state, 0, t->host_state, k * n));
    /* Inside an epoch (an interrupt), the stream as the epoch began: a
     * resumed run shuffles the same order again and skips the batches done.
     * A batch that covers the data is full batch, stored as 0. */
    nb_ckpt_train tr = {.sched = &o->schedule, .optim = o->schedule.optim, .n = n,
                        .state = k ? t->host_state : NULL,
                        .rng = ds->batch > 0 ? t->rng_epoch : t->rng, .ds = *ds,
                        .batch = t->batch >= t->train.rows ? 0 : t->batch, .seed = o->seed,
                        .record = o->record};
    return nb_ckpt_save(t->m, &tr, o->save);
}

/* Continue a saved run: parameters, standardisation, optimizer state, RNG
 * and the descent's counters come from the checkpoint. */
static nb_status resume(trainer *t, nb_descent_state *start)
{
    nb_ckpt_train tr;
    float *state = NULL;
    NB_TRY(nb_ckpt_resume(t->m, t->o->resume, t->o->schedule.optim, &tr, &state));
    size_t k = (size_t)nb_optim_state_per_param(t->o->schedule.optim);
    nb_status st = k ? nb_be_write(t->m->be, &t->state, 0, state, k * t->m->n_params) : NB_OK;
    free(state);
    t->rng = tr.rng;
    *start = tr.ds;
    return st;
}

/* Buffers the schedule needs: optimizer state, snapshots, the flag. */
static nb_status alloc_schedule(trainer *t, const nb_schedule *s)
{
    nb_backend *be = t->m->be;
    size_t n = t->m->n_params, k = (size_t)nb_optim_state_per_param(s->optim);
    if (k > 0) {
        NB_TRY(nb_be_alloc(be, &t->state, k * n, NB_F32));
        NB_TRY(nb_be_fill(be, k * n, 0.0f, nb_view_at(&t->state, 0)));
    }
    bool need[3] = {true, s->early_stop > 0, s->line_search != 0};
    for (int i = 0; i < 3; i++)
        if (need[i]) NB_TRY(nb_be_alloc(be, &t->snap[i], n, NB_F32));
    NB_TRY(nb_be_alloc(be, &t->bad, 1, NB_I32));
    return nb_be_write(be, &t->bad, 0, &(int32_t){0}, 1);
}

/* ------------------------------------------------------------- nb_train */

static nb_status check_args(const nb_model *m, const nb_dataset *train, const nb_dataset *val,
                            const nb_train_options *o)
{
    const char *fn = "nb_train";
    if (!m || !train || !o) return NB_FAIL(NB_ERR_ARG, "%s: model, data and options are required", fn);
    bool full = o->batch == 0 || o->batch >= train->rows;
    NB_TRY(nb_schedule_check(fn, &o->schedule, full, val != NULL));
    if (o->report_every < 1) return NB_FAIL(NB_ERR_ARG, "%s: report_every %ld < 1", fn, o->report_every);
    if (o->save && o->save_every < 1)
        return NB_FAIL(NB_ERR_ARG, "%s: save_every %ld < 1", fn, o->save_every);
    NB_TRY(nb_ckpt_check_record(fn, o->record)); /* now, not at the first save */
    if (train->rows > INT32_MAX)
        return NB_FAIL(NB_ERR_ARG, "%s: %zu training rows exceed the index range", fn, train->rows);
    const nb_dataset *ds[2] = {train, val};
    for (int i = 0; i < 2; i++) {
        if (!ds[i]) continue;
        if (ds[i]->inputs != m->widths[0] || ds[i]->outputs != m->widths[m->n_layers])
            return NB_FAIL(NB_ERR_ARG,
                           "%s: %s data has %d inputs and %d outputs; the model expects %d and %d",
                           fn, i ? "validation" : "training", ds[i]->inputs, ds[i]->outputs,
                           m->widths[0], m->widths[m->n_layers]);
    }
    return NB_OK;
}

static void trainer_free(trainer *t)
{
    nb_backend *be = t->m->be;
    nb_devdata_close(be, &t->train);
    nb_devdata_close(be, &t->val);
    nb_pass_destroy(t->m, &t->pass);
    nb_be_free(be, &t->idx);
    nb_be_free(be, &t->state);
    free(t->host_state);
    nb_be_free(be, &t->bad);
    for (int i = 0; i < 3; i++) nb_be_free(be, &t->snap[i]);
    free(t->perm);
    free(t->stage);
}

/* Which rows of train and val this rank works on (see nb_train_dist). */
static void set_ranges(trainer *t, const nb_dataset *train, const nb_dataset *val,
                       const nb_dist_run *d)
{
    size_t r = d->comm ? (size_t)d->comm->rank : 0, k = d->comm ? (size_t)d->comm->ranks : 1;
    t->comm = d->comm;
    t->rows_all = (double)d->rows_all;
    /* Full batch: train is this rank's shard already. Mini-batch: every
     * rank holds all rows; an exact pass takes a contiguous 1/K of them. */
    t->ex_lo = d->full ? 0 : train->rows * r / k;
    t->ex_hi = d->full ? train->rows : train->rows * (r + 1) / k;
    t->val_lo = val ? val->rows * r / k : 0;
    t->val_hi = val ? val->rows * (r + 1) / k : 0;
}

/*
 * One attempt at the run on m's backend. hc: the host copy to keep (NULL
 * without a fallback); replay: start from it instead of from the options.
 */
static nb_status train_on(nb_model *m, const nb_dataset *train, const nb_dataset *val,
                          const nb_train_options *o, const nb_dist_run *d, host_copy *hc,
                          bool replay, nb_result *res)
{
    nb_status st;
    trainer t = {.m = m, .o = o, .t0 = nb_now(), .hc = hc, .skip_upto = -1, .gnorm = NAN};
    bool full = d->full;
    size_t max_rows = nb_pass_max_rows(m);
    set_ranges(&t, train, val, d);
    t.batch = full ? train->rows : o->batch;
    /* A rank's part of a global batch is at most ⌈batch / K⌉ rows. */
    size_t per = full || !d->comm ? t.batch : (t.batch + (size_t)d->comm->ranks - 1) /
                                                  (size_t)d->comm->ranks;
    size_t cap = per < max_rows ? per : max_rows;
    if (cap == 0) cap = 1; /* a rank with an empty shard still owns scratch */
    if (nb_comm_many(d->comm) && !(t.stage = malloc(m->n_params * sizeof(float)))) {
        st = NB_NOMEM("nb_train", m->n_params * sizeof(float));
        goto fail;
    }

    nb_rng_seed(&t.rng, o->seed, NB_STREAM_SHUFFLE);
    NB_CHECK(alloc_schedule(&t, &o->schedule));
    nb_descent_state start, *startp = NULL;
    if (replay) {
        NB_CHECK(from_copy(&t, &start, &startp));
        t.hc = NULL; /* the fallback is the last backend: nothing more to keep */
    } else {
        if (o->resume) { /* before the upload: it may bring standardisation */
            NB_CHECK(resume(&t, &start));
            startp = &start;
        }
        /* The first copy: where this call starts (before the data goes up,
         * so that a failure from here on can be replayed). */
        if (hc) {
            NB_CHECK(take_copy(&t, startp, false));
            hc->start_iters = startp ? startp->iters : 0;
        }
    }
    size_t k = (size_t)nb_optim_state_per_param(o->schedule.optim);
    if (o->save && k > 0 && !(t.host_state = malloc(k * m->n_params * sizeof(float)))) {
        st = NB_NOMEM("nb_train", k * m->n_params * sizeof(float));
        goto fail;
    }
    NB_CHECK(nb_pass_create(m, cap, &t.pass));
    NB_CHECK(nb_devdata_open(m, train, cap, &t.train));
    if (val) {
        NB_CHECK(nb_devdata_open(m, val, cap, &t.val));
        t.has_val = true;
        t.val_labels = val->labels;
    }
    nb_objective obj = {.name = "nb_train", .ctx = &t, .batches = 1, .has_val = t.has_val,
                        .gradient = tr_gradient, .grad_norm = tr_grad_norm, .step = tr_step,
                        .params_bad = tr_params_bad, .snapshot = tr_snapshot,
                        .restore = tr_restore, .trial = tr_trial, .validate = tr_validate,
                        .report = tr_report, .epoch_end = tr_epoch_end,
                        .interrupt = o->interrupt,
                        .agree = nb_comm_many(d->comm) ? tr_agree : NULL};
    if (!full) {
        t.perm = malloc(train->rows * sizeof *t.perm);
        if (!t.perm) {
            st = NB_NOMEM("nb_train", train->rows * sizeof *t.perm);
            goto fail;
        }
        if (t.train.resident) NB_CHECK(nb_be_alloc(m->be, &t.idx, train->rows, NB_I32));
        obj.batches = (long)((train->rows + t.batch - 1) / t.batch);
        obj.epoch_begin = tr_epoch_begin;
        obj.epoch_loss = tr_epoch_loss;
        obj.epoch_rows = (double)train->rows;
        obj.exact = tr_exact;
    }
    st = nb_descent_run(&obj, &o->schedule, o->report_every, o->measure_grad != 0, startp, res);
    if (st == NB_OK) st = check_same_theta(&t, res->iters);
fail:
    trainer_free(&t);
    return st;
}

/* The host copy's two slots: θ, optimizer state and best θ each. */
static nb_status copy_alloc(host_copy *c, const nb_model *m, const nb_schedule *s)
{
    size_t n = m->n_params, per = (size_t)nb_optim_state_per_param(s->optim) + 2;
    for (int i = 0; i < 2; i++)
        if (!(c->slot[i] = malloc(per * n * sizeof(float))))
            return NB_NOMEM("nb_train", 2 * per * n * sizeof(float));
    c->reported = -1;
    return NB_OK;
}

nb_status nb_train(nb_model *m, const nb_dataset *train, const nb_dataset *val,
                   const nb_train_options *o, nb_result *res)
{
    nb_result local;
    if (!res) res = &local;
    /* Every field is defined whatever happens: a failure before descent
     * starts (the data's upload, say) leaves no fallback and no counts. */
    memset(res, 0, sizeof *res);
    NB_TRY(check_args(m, train, val, o));
    nb_dist_run d = {.full = o->batch == 0 || o->batch >= train->rows, .rows_all = train->rows};
    return nb_train_part(m, train, val, o, &d, res);
}

nb_status nb_train_check_args(const nb_model *m, const nb_dataset *train, const nb_dataset *val,
                              const nb_train_options *o)
{
    return check_args(m, train, val, o);
}

nb_status nb_train_part(nb_model *m, const nb_dataset *train, const nb_dataset *val,
                       const nb_train_options *o, const nb_dist_run *d, nb_result *res)
{
    bool full = d->full;
    bool many = nb_comm_many(d->comm), writer = !many || d->comm->rank == 0;
    size_t max_rows = nb_pass_max_rows(m);
    if (!full && o->batch > max_rows)
        return NB_FAIL(NB_ERR_ARG, "nb_train: a batch of %zu rows needs over 256 MiB of scratch "
                                   "for this model; use at most %zu", o->batch, max_rows);
    /* A checkpoint path that cannot work, or one another run is saving
     * to, must fail now, not after the first save_every epochs. The lock
     * is held across a fallback's replay. */
    nb_target_lock *lock = NULL;
    if (o->save && writer) {
        NB_TRY(nb_atomic_check_target("nb_train", o->save));
        NB_TRY(nb_save_lock("nb_train", o->save, &lock));
    }
    host_copy hc = {.cur = 0};
    /* Across ranks a replay on one rank alone would leave the others
     * waiting: a backend failure is returned instead. */
    bool keep = o->fallback && o->fallback != m->be && !many;
    nb_status st = keep ? copy_alloc(&hc, m, &o->schedule) : NB_OK;
    double t0 = nb_now();
    if (st == NB_OK) st = train_on(m, train, val, o, d, keep ? &hc : NULL, false, res);
    if (st == NB_ERR_BACKEND && keep && hc.valid) {
        /* The device failed after the first copy: go on from the last one. */
        char why[sizeof res->fallback];
        snprintf(why, sizeof why, "%s", nb_last_error());
        long from = hc.has_start ? hc.ds.iters : hc.start_iters;
        st = nb_model_rebind(m, o->fallback, hc.slot[hc.cur]);
        if (st == NB_OK) st = train_on(m, train, val, o, d, &hc, true, res);
        snprintf(res->fallback, sizeof res->fallback, "%s", why);
        res->fallback_iters = from;
        res->updates = res->iters > hc.start_iters ? res->iters - hc.start_iters : 0;
        res->seconds = nb_now() - t0;
    }
    free(hc.slot[0]);
    free(hc.slot[1]);
    nb_save_unlock(lock);
    return st;
}
