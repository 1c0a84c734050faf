/*
 * fuzz_checkpoint.c — the safetensors container reader, nb_st_read_mem,
 * on any bytes, then every accessor of what it returns.
 *
 * The library is built with FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION,
 * which makes the reader ignore checksum mismatches (st_read.c): a fuzzer
 * cannot forge CRC-32s, and the checks behind them are the ones worth
 * reaching. Each input is read twice, with the default limits and with
 * tight ones, so that the limit checks fire too. Loading whole models
 * from a file is fuzz_model.c.
 *
 * Oracles, besides the sanitizers and the leak check:
 *   - the status is NB_OK or NB_ERR_DATA (no NB_ERR_NOMEM: the bound below
 *     is far from the machine's memory), with *out NULL after a failure;
 *   - what was read keeps safetensors.h's promises: at most the limits,
 *     F32 tensors of 0…4 dims that tile the data buffer exactly, finite
 *     values, names found again by nb_st_find, metadata that excludes
 *     nabla's own keys and matches nb_st_meta_get; a nabla file has the
 *     format version "1" and both checksums, a plain one (another
 *     writer's) no nabla.* key at all;
 *   - a file within the tight limits is within the default ones, and
 *     reads the same;
 *   - memory under 2 × size + 16 MiB, as safetensors.h states.
 */
#include <math.h>
#include <string.h>

#include "ckpt/safetensors.h"
#include "fuzz_util.h"

/* One read; NULL when it failed. */
static nb_st_file *read_st(const uint8_t *data, size_t size, const nb_st_limits *lim)
{
    nb_st_file *f = FZ_NOT_NULL;
    fz_mem_begin("nb_st_read_mem", 2 * size + 16 * FZ_MIB);
    nb_status st = nb_st_read_mem("fuzz.safetensors", data, size, lim, &f);
    fz_mem_end();
    fz_status("nb_st_read_mem", st, FZ_ALLOW(NB_OK) | FZ_ALLOW(NB_ERR_DATA));
    if (st != NB_OK && f) fz_fail("nb_st_read_mem: *out is not NULL after a failure");
    return st == NB_OK ? f : NULL;
}

/* The tensors' promises; returns their count. */
static size_t check_tensors(const nb_st_file *f, const uint8_t *data, size_t size,
                            const nb_st_limits *lim)
{
    size_t n = 0;
    const nb_st_tensor *t = nb_st_tensors(f, &n);
    uint64_t hdr = 0, bytes = 0;
    for (int i = 7; i >= 0; i--) hdr = hdr << 8 | data[i];
    if (n > lim->max_tensors || hdr > lim->max_header)
        fz_fail("checkpoint: %zu tensors and a %llu-byte header passed the limits", n,
                (unsigned long long)hdr);
    for (size_t i = 0; i < n; i++) {
        size_t numel = nb_st_numel(&t[i]);
        if (!t[i].name || !*t[i].name || t[i].ndim < 0 || t[i].ndim > NB_ST_MAX_NDIM)
            fz_fail("checkpoint: tensor %zu has no name or %d dims", i, t[i].ndim);
        for (int k = 0; k < t[i].ndim; k++)
            if (t[i].shape[k] < 0) fz_fail("checkpoint: tensor %zu has a negative dim", i);
        if (numel > 0 && !t[i].data) fz_fail("checkpoint: tensor %zu has no data", i);
        for (size_t j = 0; j < numel; j++)
            if (!isfinite(t[i].data[j]))
                fz_fail("checkpoint: tensor %zu value %zu is not finite", i, j);
        if (nb_st_find(f, t[i].name) != &t[i])
            fz_fail("checkpoint: nb_st_find does not find tensor %zu", i);
        bytes += 4 * (uint64_t)numel;
    }
    if (bytes != size - 8 - hdr || bytes > lim->max_data)
        fz_fail("checkpoint: tensors of %llu bytes in a %llu-byte data buffer",
                (unsigned long long)bytes, (unsigned long long)(size - 8 - hdr));
    if (nb_st_find(f, "__metadata__")) fz_fail("checkpoint: __metadata__ found as a tensor");
    return n;
}

/* The metadata's promises; returns the count of the caller's entries. */
static size_t check_meta(const nb_st_file *f, const nb_st_limits *lim)
{
    const char *const *keys = NULL, *const *vals = NULL;
    size_t n = 0;
    nb_st_meta(f, &keys, &vals, &n);
    const char *version = nb_st_meta_get(f, NB_ST_KEY_FORMAT);
    int nabla = nb_st_is_nabla(f);
    if (nabla && (!version || strcmp(version, NB_ST_FORMAT_VERSION) != 0))
        fz_fail("checkpoint: read with format version %s", version ? version : "(none)");
    if (nabla && (!nb_st_meta_get(f, NB_ST_KEY_CRC) || !nb_st_meta_get(f, NB_ST_KEY_HEADER_CRC)))
        fz_fail("checkpoint: read without its checksums");
    if (n + (nabla ? 3 : 0) > lim->max_meta)
        fz_fail("checkpoint: %zu metadata entries passed the limit", n + (nabla ? 3 : 0));
    for (size_t i = 0; i < n; i++) {
        if (!keys[i] || !vals[i] || !*keys[i]) fz_fail("checkpoint: metadata %zu is empty", i);
        if (!nabla && !strncmp(keys[i], "nabla.", 6))
            fz_fail("checkpoint: a plain file with the key %s", keys[i]);
        if (!strcmp(keys[i], NB_ST_KEY_FORMAT) || !strcmp(keys[i], NB_ST_KEY_CRC) ||
            !strcmp(keys[i], NB_ST_KEY_HEADER_CRC))
            fz_fail("checkpoint: nb_st_meta lists nabla's own key %s", keys[i]);
        const char *v = nb_st_meta_get(f, keys[i]);
        if (!v || strcmp(v, vals[i]) != 0) fz_fail("checkpoint: nb_st_meta_get disagrees");
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nb_st_limits dflt;
    nb_st_limits tight = {.max_header = 512, .max_tensors = 3, .max_meta = 5, .max_data = 256};
    nb_st_limits_default(&dflt);
    nb_st_file *f = read_st(data, size, &dflt), *g = read_st(data, size, &tight);
    size_t nt = f ? check_tensors(f, data, size, &dflt) : 0, nm = f ? check_meta(f, &dflt) : 0;
    if (g) {
        if (!f) fz_fail("checkpoint: read with tight limits but not with the defaults");
        if (check_tensors(g, data, size, &tight) != nt || check_meta(g, &tight) != nm)
            fz_fail("checkpoint: the limits changed what was read");
    }
    nb_st_free(f);
    nb_st_free(g);
    return 0;
}
