/*
 * fuzz_model.c — nb_model_load on any bytes: the container reader, then
 * the model layer on top of it (host/ckpt/checkpoint.c), which reads the
 * architecture from the metadata and checks the tensors against it; and
 * nb_model_import on the same bytes (host/ckpt/import.c), which reads the
 * architecture from the tensors' shapes.
 *
 * nb_model_load takes a path and there is no in-memory way in, so each
 * input is written to an in-memory file first (fz_file). As in
 * fuzz_checkpoint.c the library ignores checksum mismatches in this
 * build, so mutated metadata reaches the model layer.
 *
 * Oracles, besides the sanitizers and the leak check:
 *   - the status is NB_OK or NB_ERR_DATA ("the file is never trusted":
 *     a file that is not a model is malformed, not out of memory), and
 *     where a failure's message wraps the reason nb_model_create gave
 *     ("invalid architecture: <reason>"), the reason is intact, not the
 *     wrapper's own text again (as when a message is formatted into the
 *     buffer it reads from);
 *   - the same for nb_model_import, with one relu activation for every
 *     layer and the loss alternating with the input's length (so both
 *     the MSE and the softmax output are reached): relu and either loss
 *     fit any number of layers, so no failure is the caller's fault;
 *   - a loaded or imported model is a sane MLP and predicts on one row:
 *     finite outputs, or NB_ERR_NONFINITE when its weights make them
 *     overflow;
 *   - memory: the container's 2 × size + 16 MiB, plus the model. A model
 *     that loads holds each parameter as 4 bytes of the file, and loading
 *     keeps at most three more copies of the parameters at once (the
 *     backend's parameter and gradient buffers, and either the initial
 *     values or those read back), so 6 × size + 16 MiB leaves a copy to
 *     spare. The same bound holds for a file that fails: parameters that
 *     its tensors cannot fill need never be allocated. Importing keeps
 *     the same copies, so the same bound holds.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"

static nb_backend *be;

static void check_model(nb_model *m)
{
    int layers = nb_model_layers(m);
    if (layers < 1 || layers > 64) fz_fail("model: %d layers loaded", layers);
    size_t params = 0;
    for (int l = 0; l < layers; l++) {
        int in = nb_model_width(m, l), out = nb_model_width(m, l + 1);
        if (in < 1 || out < 1) fz_fail("model: layer %d is %d -> %d", l, in, out);
        params += (size_t)out * ((size_t)in + 1);
    }
    if (params != nb_model_param_count(m))
        fz_fail("model: %zu parameters for widths that need %zu", nb_model_param_count(m), params);
    size_t in = (size_t)nb_model_width(m, 0), out = (size_t)nb_model_width(m, layers);
    float *x = calloc(in, sizeof *x), *y = malloc(out * sizeof *y);
    if (!x || !y) fz_fail("model: out of memory for one row");
    /* Finite weights can still overflow (NB_ERR_NONFINITE); nothing else
     * may go wrong, and what is returned is finite. */
    nb_status st = nb_model_predict(m, 1, x, y);
    fz_status("nb_model_predict", st, FZ_ALLOW(NB_OK) | FZ_ALLOW(NB_ERR_NONFINITE));
    for (size_t i = 0; st == NB_OK && i < out; i++)
        if (!isfinite(y[i])) fz_fail("model: predict gave %g for output %zu", (double)y[i], i);
    free(x);
    free(y);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!be && nb_backend_create("cpu", &be) != NB_OK)
        fz_fail("cannot create the cpu backend: %s", nb_last_error());
    const char *path = fz_file(0, data, size);
    nb_model *m = FZ_NOT_NULL;
    fz_mem_begin("nb_model_load", 6 * size + 16 * FZ_MIB);
    nb_status st = nb_model_load(be, path, &m);
    fz_mem_end();
    fz_status("nb_model_load", st, FZ_ALLOW(NB_OK) | FZ_ALLOW(NB_ERR_DATA));
    if (st != NB_OK) {
        char wrap[256];
        const char *msg = nb_last_error();
        int k = snprintf(wrap, sizeof wrap, "nb_model_load: %s: invalid architecture: ", path);
        if (m) fz_fail("model: *out is not NULL after a failure");
        if (!strncmp(msg, wrap, (size_t)k) && strstr(msg + k, "nb_model_load: "))
            fz_fail("model: the reason is garbled in: %s", msg);
    } else {
        check_model(m);
        nb_model_free(m);
    }

    const nb_act relu = NB_ACT_RELU;
    m = FZ_NOT_NULL;
    fz_mem_begin("nb_model_import", 6 * size + 16 * FZ_MIB);
    st = nb_model_import(be, path, 1, &relu, size % 2 ? NB_LOSS_XENT : NB_LOSS_MSE, &m);
    fz_mem_end();
    fz_status("nb_model_import", st, FZ_ALLOW(NB_OK) | FZ_ALLOW(NB_ERR_DATA));
    if (st != NB_OK) {
        if (m) fz_fail("import: *out is not NULL after a failure");
        return 0;
    }
    check_model(m);
    nb_model_free(m);
    return 0;
}
