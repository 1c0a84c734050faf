/*
 * raw_st.h — writing safetensors files byte by byte, the way other
 * writers do (tests only): any dtype name, with or without __metadata__,
 * NaN allowed, no nabla checksums. nb_st_write makes only valid nabla
 * files, so the files an importer must refuse are made here.
 *
 * Include once per test file.
 */
#ifndef NB_TEST_RAW_ST_H
#define NB_TEST_RAW_ST_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct raw_tensor {
    const char *name;    /* written as is: keep it plain ASCII */
    const char *dtype;   /* "F32" writes values; any other writes zeros of its size */
    int ndim;            /* 0 … 4 */
    int64_t shape[4];
    const float *values; /* (numel) for F32, or NULL for zeros */
} raw_tensor;

/* Bytes per element of a dtype name, as safetensors defines them. */
static inline size_t raw_dtype_size(const char *dtype)
{
    if (!strcmp(dtype, "F64") || !strcmp(dtype, "I64") || !strcmp(dtype, "U64")) return 8;
    if (!strcmp(dtype, "F32") || !strcmp(dtype, "I32") || !strcmp(dtype, "U32")) return 4;
    if (!strcmp(dtype, "F16") || !strcmp(dtype, "BF16") || !strcmp(dtype, "I16")) return 2;
    return 1;
}

static inline size_t raw_numel(const raw_tensor *t)
{
    size_t n = 1;
    for (int k = 0; k < t->ndim; k++) n *= (size_t)t->shape[k];
    return n;
}

/*
 * Write n tensors to path, back to back in this order, under a header
 * that starts with "__metadata__": meta_json (an object's JSON text) when
 * it is not NULL, then the tensors in order; the header is padded with
 * spaces to a multiple of 8 bytes, as Python's safetensors pads it.
 * Returns 0, or -1 when the file cannot be written.
 */
static inline int raw_write(const char *path, const raw_tensor *t, size_t n, const char *meta_json)
{
    size_t cap = 4096 + 160 * n, len = 0, at = 0;
    char *h = malloc(cap);
    if (!h) return -1;
    len += (size_t)snprintf(h + len, cap - len, "{");
    if (meta_json) len += (size_t)snprintf(h + len, cap - len, "\"__metadata__\":%s", meta_json);
    for (size_t i = 0; i < n; i++) {
        size_t bytes = raw_numel(&t[i]) * raw_dtype_size(t[i].dtype);
        len += (size_t)snprintf(h + len, cap - len, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[",
                                (i || meta_json) ? "," : "", t[i].name, t[i].dtype);
        for (int k = 0; k < t[i].ndim; k++)
            len += (size_t)snprintf(h + len, cap - len, "%s%" PRId64, k ? "," : "", t[i].shape[k]);
        len += (size_t)snprintf(h + len, cap - len, "],\"data_offsets\":[%zu,%zu]}", at, at + bytes);
        at += bytes;
    }
    len += (size_t)snprintf(h + len, cap - len, "}");
    while (len % 8) h[len++] = ' ';
    FILE *f = fopen(path, "wb");
    int ok = f != NULL;
    unsigned char b8[8];
    for (int i = 0; i < 8; i++) b8[i] = (unsigned char)((uint64_t)len >> (8 * i));
    ok = ok && fwrite(b8, 1, 8, f) == 8 && fwrite(h, 1, len, f) == len;
    for (size_t i = 0; ok && i < n; i++) {
        size_t count = raw_numel(&t[i]), size = raw_dtype_size(t[i].dtype);
        int f32 = !strcmp(t[i].dtype, "F32") && t[i].values;
        if (!f32) { /* zeros, in blocks: a width-bound test writes 64 MiB */
            static const unsigned char zero[1 << 16];
            for (size_t left = count * size; ok && left > 0;) {
                size_t k = left < sizeof zero ? left : sizeof zero;
                ok = fwrite(zero, 1, k, f) == k;
                left -= k;
            }
            continue;
        }
        for (size_t j = 0; ok && j < count; j++) {
            /* Little-endian whatever the host, as the format says. */
            unsigned char e[4];
            uint32_t u;
            memcpy(&u, &t[i].values[j], 4);
            for (int k = 0; k < 4; k++) e[k] = (unsigned char)(u >> (8 * k));
            ok = fwrite(e, 1, 4, f) == 4;
        }
    }
    if (f && fclose(f) != 0) ok = 0;
    free(h);
    return ok ? 0 : -1;
}

#endif
