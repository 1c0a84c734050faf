/*
 * st_write.c — writing nabla's safetensors checkpoints: nb_st_write
 * (format in safetensors.h).
 *
 * The writer validates everything (names, shapes, finiteness) and computes
 * both checksums before it creates a file, so a refused save writes
 * nothing; the file itself is replaced atomically (ckpt/atomic_file.h).
 *
 * Not here: reading (st_read.c), the helpers and the header checksum it
 * shares with the reader (st_common.c), what the tensors mean (the model
 * layer).
 */
#include "ckpt/st_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <zlib.h>

#include "ckpt/atomic_file.h"
#include "status.h"

#define ST_CHUNK ((size_t)64 * 1024) /* bytes encoded or checksummed at a time */

/* Everything nb_st_write checks before touching the disk. Fills offsets
 * (n, 2) and *data_bytes. names is scratch space for n pointers. */
static nb_status write_check(const nb_st_tensor *t, size_t n, const char *const *keys,
                             const char *const *vals, size_t n_meta, uint64_t *offsets,
                             const char **names, uint64_t *data_bytes)
{
    char nm[NB_ST_SHOW_CAP];
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!t[i].name || !*t[i].name)
            return NB_FAIL(NB_ERR_ARG, "nb_st_write: tensor %zu has no name", i);
        if (!nb_st_utf8_valid(t[i].name))
            return NB_FAIL(NB_ERR_ARG, "nb_st_write: tensor %zu: name is not valid UTF-8", i);
        if (!strcmp(t[i].name, "__metadata__"))
            return NB_FAIL(NB_ERR_ARG, "nb_st_write: tensor %zu: the name __metadata__ is reserved", i);
        if (t[i].ndim < 0 || t[i].ndim > NB_ST_MAX_NDIM)
            return NB_FAIL(NB_ERR_ARG, "nb_st_write: tensor '%s': ndim %d is outside 0..%d",
                           nb_st_shown(nm, t[i].name), t[i].ndim, NB_ST_MAX_NDIM);
        for (int k = 0; k < t[i].ndim; k++)
            if (t[i].shape[k] < 0)
                return NB_FAIL(NB_ERR_ARG, "nb_st_write: tensor '%s': dim %d is negative",
                               nb_st_shown(nm, t[i].name), k);
        size_t count = nb_st_numel(&t[i]), bytes;
        int zero = 0; /* a 0 dim makes any product valid */
        for (int k = 0; k < t[i].ndim; k++) zero |= t[i].shape[k] == 0;
        if ((count == 0 && !zero) || !nb_mul_ok(count, 4, &bytes) || !nb_add_ok(total, bytes, &total) ||
            (uint64_t)total > (uint64_t)INT64_MAX)
            return NB_FAIL(NB_ERR_ARG, "nb_st_write: tensor '%s': sizes overflow",
                           nb_st_shown(nm, t[i].name));
        if (count > 0 && !t[i].data)
            return NB_FAIL(NB_ERR_ARG, "nb_st_write: tensor '%s': data is NULL",
                           nb_st_shown(nm, t[i].name));
        offsets[2 * i] = total - bytes;
        offsets[2 * i + 1] = total;
        for (size_t j = 0; j < count; j++)
            if (!isfinite(t[i].data[j]))
                return NB_FAIL(NB_ERR_NONFINITE, "nb_st_write: tensor '%s' element %zu is %s",
                               nb_st_shown(nm, t[i].name), j, isnan(t[i].data[j]) ? "NaN" : "Inf");
        names[i] = t[i].name;
    }
    const char *dup;
    qsort(names, n, sizeof *names, nb_st_str_cmp);
    if (nb_st_sorted_dup(names, n, &dup))
        return NB_FAIL(NB_ERR_ARG, "nb_st_write: two tensors are named '%s'", nb_st_shown(nm, dup));
    for (size_t i = 0; i < n_meta; i++) {
        if (!keys[i] || !*keys[i] || !vals[i])
            return NB_FAIL(NB_ERR_ARG, "nb_st_write: metadata entry %zu: empty key or NULL value", i);
        if (!nb_st_utf8_valid(keys[i]) || !nb_st_utf8_valid(vals[i]))
            return NB_FAIL(NB_ERR_ARG, "nb_st_write: metadata entry %zu is not valid UTF-8", i);
        if (nb_st_is_reserved(keys[i]))
            return NB_FAIL(NB_ERR_ARG, "nb_st_write: metadata key '%s' is reserved for nabla",
                           keys[i]);
    }
    *data_bytes = total;
    return NB_OK;
}

/* The data buffer, encoded little-endian through chunk (ST_CHUNK bytes):
 * into *crc when af is NULL, else written to af. */
static nb_status write_data(const nb_st_tensor *t, size_t n, unsigned char *chunk,
                            nb_atomic_file *af, uint32_t *crc)
{
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        size_t count = nb_st_numel(&t[i]);
        for (size_t j = 0; j < count; j++) {
            nb_st_f32_to_le(t[i].data[j], chunk + used);
            used += 4;
            if (used == ST_CHUNK) {
                if (af) NB_TRY(nb_atomic_write(af, chunk, used));
                else *crc = nb_st_crc_bytes(*crc, chunk, used);
                used = 0;
            }
        }
    }
    if (used > 0) {
        if (af) NB_TRY(nb_atomic_write(af, chunk, used));
        else *crc = nb_st_crc_bytes(*crc, chunk, used);
    }
    return NB_OK;
}

/* Add a new reference v under key; 0 on failure (v is released). */
static int put(json_t *obj, const char *key, json_t *v)
{
    return v && json_object_set_new(obj, key, v) == 0;
}

/* The header JSON: "__metadata__" first (the caller's keys in order, then
 * nabla's), then the tensors in order, each as dtype, shape, offsets. */
static json_t *build_header(const nb_st_tensor *t, size_t n, const uint64_t *offsets,
                            const char *const *keys, const char *const *vals, size_t n_all)
{
    json_t *root = json_object(), *meta = json_object();
    int ok = root && meta;
    for (size_t i = 0; ok && i < n_all; i++) ok = put(meta, keys[i], json_string(vals[i]));
    ok = ok && put(root, "__metadata__", json_incref(meta));
    for (size_t i = 0; ok && i < n; i++) {
        json_t *e = json_object(), *shape = json_array(), *off = json_array();
        ok = e && shape && off && put(e, "dtype", json_string("F32"));
        for (int k = 0; ok && k < t[i].ndim; k++)
            ok = json_array_append_new(shape, json_integer((json_int_t)t[i].shape[k])) == 0;
        for (int k = 0; ok && k < 2; k++)
            ok = json_array_append_new(off, json_integer((json_int_t)offsets[2 * i + k])) == 0;
        ok = ok && put(e, "shape", json_incref(shape)) && put(e, "data_offsets", json_incref(off)) &&
             put(root, t[i].name, json_incref(e));
        json_decref(e);
        json_decref(shape);
        json_decref(off);
    }
    json_decref(meta);
    if (!ok) json_decref(root);
    return ok ? root : NULL;
}

nb_status nb_st_write(const char *path, const nb_st_tensor *t, size_t n,
                      const char *const *meta_keys, const char *const *meta_vals, size_t n_meta)
{
    if (!path || (n && !t) || (n_meta && (!meta_keys || !meta_vals)))
        return NB_FAIL(NB_ERR_ARG, "nb_st_write: NULL argument");
    nb_status st = NB_OK;
    size_t n_all = n_meta + 3, scratch = n > n_all ? n : n_all;
    uint64_t *offsets = malloc((n ? n : 1) * 2 * sizeof *offsets);
    const char **names = malloc(scratch * sizeof *names);
    const char **keys = malloc(n_all * sizeof *keys), **vals = malloc(n_all * sizeof *vals);
    unsigned char *chunk = malloc(ST_CHUNK);
    char *hdr = NULL;
    json_t *root = NULL;
    nb_atomic_file *af = NULL;
    uint64_t data_bytes = 0;
    char crc_hex[9], hcrc_hex[9];
    if (!offsets || !names || !keys || !vals || !chunk) {
        st = NB_NOMEM("nb_st_write", ST_CHUNK + (n + n_all) * 16);
        goto fail;
    }
    NB_CHECK(write_check(t, n, meta_keys, meta_vals, n_meta, offsets, names, &data_bytes));
    for (size_t i = 0; i < n_meta; i++) names[i] = meta_keys[i];
    const char *dup;
    qsort(names, n_meta, sizeof *names, nb_st_str_cmp);
    if (nb_st_sorted_dup(names, n_meta, &dup)) {
        st = NB_FAIL(NB_ERR_ARG, "nb_st_write: metadata key '%s' appears twice", dup);
        goto fail;
    }

    /* Both checksums go into the header, which precedes the data: one
     * pass over the data for its CRC, a second one to write it. */
    uint32_t crc = (uint32_t)crc32(0L, Z_NULL, 0), hcrc;
    NB_CHECK(write_data(t, n, chunk, NULL, &crc));
    snprintf(crc_hex, sizeof crc_hex, "%08lx", (unsigned long)crc);
    if (n_meta) { /* memcpy from NULL is undefined even for 0 bytes */
        memcpy(keys, meta_keys, n_meta * sizeof *keys);
        memcpy(vals, meta_vals, n_meta * sizeof *vals);
    }
    keys[n_meta] = NB_ST_KEY_FORMAT;
    vals[n_meta] = NB_ST_FORMAT_VERSION;
    keys[n_meta + 1] = NB_ST_KEY_CRC;
    vals[n_meta + 1] = crc_hex;
    NB_CHECK(nb_st_header_crc(t, offsets, n, keys, vals, n_meta + 2, &hcrc));
    snprintf(hcrc_hex, sizeof hcrc_hex, "%08lx", (unsigned long)hcrc);
    keys[n_meta + 2] = NB_ST_KEY_HEADER_CRC;
    vals[n_meta + 2] = hcrc_hex;

    root = build_header(t, n, offsets, keys, vals, n_all);
    size_t len = root ? json_dumpb(root, NULL, 0, JSON_COMPACT) : 0;
    /* Pad with spaces to a multiple of 8, as the Python library does, so
     * the data buffer starts 8-byte aligned in the file. */
    size_t padded = (len + 7) & ~(size_t)7;
    if (len == 0 || !(hdr = malloc(8 + padded))) {
        st = NB_NOMEM("nb_st_write: header", 8 + padded);
        goto fail;
    }
    if (json_dumpb(root, hdr + 8, len, JSON_COMPACT) != len) {
        st = NB_FAIL(NB_ERR_INTERNAL, "nb_st_write: header size changed between two dumps");
        goto fail;
    }
    memset(hdr + 8 + len, ' ', padded - len);
    nb_st_put_u64((unsigned char *)hdr, padded);

    NB_CHECK(nb_atomic_open(path, &af));
    NB_CHECK(nb_atomic_write(af, hdr, 8 + padded));
    NB_CHECK(write_data(t, n, chunk, af, NULL));
    st = nb_atomic_commit(af);
    af = NULL;
fail:
    nb_atomic_abort(af);
    json_decref(root);
    free(hdr);
    free(chunk);
    free(keys);
    free(vals);
    free(names);
    free(offsets);
    return st;
}
