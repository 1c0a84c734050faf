/*
 * fuzz_resume.c — continuing a training run from any bytes: the metadata
 * reader nb_checkpoint_read_info, then nb_ckpt_resume with every
 * optimizer, then one epoch of nb_train from whatever was accepted.
 *
 * The calls take paths, so each input is written to an in-memory file
 * (fz_file). As in fuzz_model.c the library ignores checksum mismatches
 * in this build, so mutated metadata reaches the checks behind them. The
 * model resumed into is a fresh one of the file's own architecture (read
 * with nb_model_load), so the fuzzer can change the architecture too.
 *
 * Oracles, besides the sanitizers (UBSan catches a counter that
 * overflows while training from an accepted state) and the leak check:
 *   - nb_checkpoint_read_info returns NB_OK, NB_ERR_DATA, or NB_ERR_ARG
 *     for a model file; what it accepts keeps ckpt_meta.h's rules (the
 *     counters within NB_COUNT_MAX, a record that fits, a schedule that
 *     nb_schedule_check accepts);
 *   - nb_ckpt_resume returns NB_OK, NB_ERR_DATA or NB_ERR_ARG (another
 *     optimizer), with *state NULL after a failure; at most one optimizer
 *     is accepted; the state it accepts keeps the rules too, and agrees
 *     with nb_checkpoint_read_info where both accept the file;
 *   - one more epoch of nb_train from an accepted state (the epoch budget
 *     one past the file's count, since budgets count from the run's first
 *     start) returns NB_OK, NB_ERR_NONFINITE or NB_ERR_DIVERGED (a file's
 *     weights may overflow), or NB_ERR_ARG when the file stopped inside an
 *     epoch at a batch these 4 rows in batches of 2 do not have; on NB_OK it
 *     counts exactly one more epoch and at most two more updates;
 *   - memory: reading the metadata, the container's 2 × size + 16 MiB;
 *     resuming, the model load's 6 × size + 16 MiB plus the optimizer
 *     state (at most two floats per parameter, each parameter 4 bytes of
 *     the file: 2 × size) and a copy of the parameters (size): 9 × size
 *     + 16 MiB, rounded up to 10.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/checkpoint.h"
#include "fuzz_util.h"
#include "schedule.h"

static nb_backend *be;

static void check_info(const nb_checkpoint_info *in)
{
    if (in->iters < 0 || in->iters > NB_COUNT_MAX || in->epochs < 0 || in->epochs > NB_COUNT_MAX)
        fz_fail("read_info: accepted %ld iterations, %ld epochs", in->iters, in->epochs);
    if (memchr(in->record, 0, NB_RECORD_MAX) == NULL) fz_fail("read_info: record not terminated");
    if (in->has_schedule &&
        nb_schedule_check("fuzz", &in->schedule, !in->has_run || in->batch == 0, true) != NB_OK)
        fz_fail("read_info: accepted a schedule nb_schedule_check refuses: %s", nb_last_error());
}

static bool loss_ok(double v, bool nan_ok)
{
    return isfinite(v) ? v >= 0 : (nan_ok ? isnan(v) : v == INFINITY);
}

static void check_train(const nb_ckpt_train *tr, nb_optim optim, const float *state, size_t n)
{
    const nb_descent_state *ds = &tr->ds;
    const nb_halt_state *h = &ds->halt;
    if (tr->optim != optim) fz_fail("resume: asked for %d, accepted %d", optim, tr->optim);
    if (tr->n != n) fz_fail("resume: %zu parameters for a model of %zu", tr->n, n);
    if (ds->iters < 0 || ds->iters > NB_COUNT_MAX || ds->epochs < 0 || ds->epochs > NB_COUNT_MAX ||
        ds->batch < 0 || ds->batch > ds->iters || h->plateau_run < 0 ||
        h->plateau_run > ds->epochs || h->since_best_val < 0 || h->since_best_val > ds->epochs)
        fz_fail("resume: accepted counters out of range");
    if (!(isfinite(ds->ls_alpha) && ds->ls_alpha > 0) || !loss_ok(h->best_loss, false) ||
        !loss_ok(h->plateau_ref, false) || !loss_ok(h->best_val, false) ||
        !loss_ok(h->loss_avg, true))
        fz_fail("resume: accepted a loss or step size out of range");
    if (!(tr->rng.s[0] | tr->rng.s[1] | tr->rng.s[2] | tr->rng.s[3]))
        fz_fail("resume: accepted the all-zero RNG state");
    size_t k = (size_t)nb_optim_state_per_param(optim);
    if (k ? !state : state != NULL) fz_fail("resume: optimizer state present or absent wrongly");
    for (size_t i = 0; i < k * n; i++)
        if (!isfinite(state[i])) fz_fail("resume: optimizer state %zu is not finite", i);
}

/* One more epoch of 4 rows in batches of 2 from the checkpoint at path. */
static void train_on(nb_model *m, const char *path, nb_optim optim, const nb_ckpt_train *tr)
{
    enum { ROWS = 4 };
    size_t in = (size_t)nb_model_width(m, 0), out = (size_t)nb_model_width(m, nb_model_layers(m));
    float *x = malloc(ROWS * in * sizeof *x), *y = calloc(ROWS * out, sizeof *y);
    if (!x || !y) fz_fail("train: out of memory for %zu x %zu rows", in, out);
    for (size_t i = 0; i < ROWS * in; i++) x[i] = (float)(i % 7) * 0.25f - 0.5f;
    for (size_t r = 0; r < ROWS; r++) y[r * out + r % out] = 1.0f; /* one-hot for either loss */
    nb_dataset *d = NULL;
    if (nb_dataset_from_arrays(ROWS, (int)in, (int)out, x, y, &d) != NB_OK)
        fz_fail("train: dataset: %s", nb_last_error());
    nb_train_options o;
    nb_train_options_default(&o);
    o.batch = 2, o.resume = path;
    /* Budgets count from the run's first start: one epoch more than it had. */
    o.schedule.optim = optim, o.schedule.lr = 0.01, o.schedule.max_epochs = tr->ds.epochs + 1;
    nb_result res;
    nb_status st = nb_train(m, d, NULL, &o, &res);
    /* A file that stopped inside an epoch past this run's 2 batches cannot
     * continue on these rows: the caller's mismatch, NB_ERR_ARG. */
    fz_status("nb_train", st,
              FZ_ALLOW(NB_OK) | FZ_ALLOW(NB_ERR_NONFINITE) | FZ_ALLOW(NB_ERR_DIVERGED) |
                  (tr->ds.batch >= 2 ? FZ_ALLOW(NB_ERR_ARG) : 0));
    if (st == NB_OK &&
        (res.epochs != tr->ds.epochs + 1 || res.iters < tr->ds.iters || res.iters > tr->ds.iters + 2))
        fz_fail("train: from %ld epochs and %ld updates, one epoch ended at %ld and %ld",
                tr->ds.epochs, tr->ds.iters, res.epochs, res.iters);
    nb_dataset_free(d);
    free(x);
    free(y);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!be && nb_backend_create("cpu", &be) != NB_OK)
        fz_fail("cannot create the cpu backend: %s", nb_last_error());
    const char *path = fz_file(0, data, size);

    nb_checkpoint_info info;
    fz_mem_begin("nb_checkpoint_read_info", 2 * size + 16 * FZ_MIB);
    nb_status ist = nb_checkpoint_read_info(path, &info);
    fz_mem_end();
    fz_status("nb_checkpoint_read_info", ist,
              FZ_ALLOW(NB_OK) | FZ_ALLOW(NB_ERR_DATA) | FZ_ALLOW(NB_ERR_ARG));
    if (ist == NB_OK) check_info(&info);

    nb_model *loaded = FZ_NOT_NULL, *m = NULL;
    fz_mem_begin("nb_model_load", 6 * size + 16 * FZ_MIB);
    nb_status st = nb_model_load(be, path, &loaded);
    fz_mem_end();
    fz_status("nb_model_load", st, FZ_ALLOW(NB_OK) | FZ_ALLOW(NB_ERR_DATA));
    if (st != NB_OK) return 0;
    int layers = nb_model_layers(loaded), widths[65];
    nb_act acts[64];
    for (int l = 0; l <= layers; l++) widths[l] = nb_model_width(loaded, l);
    for (int l = 0; l < layers; l++) acts[l] = nb_model_act(loaded, l);
    if (nb_model_create(be, layers, widths, acts, nb_model_loss(loaded), 1, &m) != NB_OK)
        fz_fail("a loaded architecture cannot be created again: %s", nb_last_error());
    nb_model_free(loaded);

    int accepted = 0;
    for (int o = 0; o <= (int)NB_OPT_ADAMW; o++) {
        nb_ckpt_train tr;
        float *state = FZ_NOT_NULL;
        fz_mem_begin("nb_ckpt_resume", 10 * size + 16 * FZ_MIB);
        st = nb_ckpt_resume(m, path, (nb_optim)o, &tr, &state);
        fz_mem_end();
        fz_status("nb_ckpt_resume", st,
                  FZ_ALLOW(NB_OK) | FZ_ALLOW(NB_ERR_DATA) | FZ_ALLOW(NB_ERR_ARG));
        if (st != NB_OK) {
            if (state) fz_fail("resume: *state is not NULL after a failure");
            continue;
        }
        accepted++;
        check_train(&tr, (nb_optim)o, state, nb_model_param_count(m));
        free(state);
        if (ist == NB_OK && (info.iters != tr.ds.iters || info.epochs != tr.ds.epochs))
            fz_fail("read_info says %ld updates and %ld epochs, resume %ld and %ld", info.iters,
                    info.epochs, tr.ds.iters, tr.ds.epochs);
        train_on(m, path, (nb_optim)o, &tr);
    }
    if (accepted > 1) fz_fail("resume: %d optimizers accepted one file", accepted);
    nb_model_free(m);
    return 0;
}
