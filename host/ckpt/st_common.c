/*
 * st_common.c — what the safetensors writer and reader share (format in
 * safetensors.h; declarations in st_internal.h): the reader's default
 * limits, element counts, the reserved metadata keys, the UTF-8 check,
 * names made safe for messages, CRCs, the sort orders and the header
 * checksum nb_st_header_crc.
 *
 * Not here: writing (st_write.c) or reading (st_read.c) a file (nothing
 * in this file touches the disk); the little-endian codecs, which are
 * inline in st_internal.h.
 */
#include "ckpt/st_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "status.h"

void nb_st_limits_default(nb_st_limits *lim)
{
    if (lim)
        *lim = (nb_st_limits){.max_header = (size_t)1 << 20,
                              .max_tensors = 4096,
                              .max_meta = 1024,
                              .max_data = UINT64_MAX};
}

size_t nb_st_numel(const nb_st_tensor *t)
{
    if (!t || t->ndim < 0 || t->ndim > NB_ST_MAX_NDIM) return 0;
    size_t n = 1;
    for (int k = 0; k < t->ndim; k++) {
        if (t->shape[k] < 0 || (uint64_t)t->shape[k] > SIZE_MAX) return 0;
        if (!nb_mul_ok(n, (size_t)t->shape[k], &n)) return 0;
    }
    return n;
}

/* ---------------------------------------------------------- helpers */

int nb_st_is_reserved(const char *key)
{
    return !strcmp(key, NB_ST_KEY_FORMAT) || !strcmp(key, NB_ST_KEY_CRC) ||
           !strcmp(key, NB_ST_KEY_HEADER_CRC);
}

/* Strict UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF): what jansson accepts, checked here so that a bad name is an
 * argument error rather than a mysterious allocation failure. */
int nb_st_utf8_valid(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned c = *s++, need, min;
        if (c < 0x80) continue;
        if (c >= 0xC2 && c <= 0xDF) need = 1, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF) need = 2, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4) need = 3, min = 0x10000;
        else return 0;
        unsigned cp = c & (0x3Fu >> need);
        for (unsigned k = 0; k < need; k++, s++) {
            if ((*s & 0xC0) != 0x80) return 0; /* also stops at the NUL */
            cp = (cp << 6) | (*s & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    }
    return 1;
}

/* A name made safe for a one-line message: control bytes as \xNN, cut
 * after NB_ST_SHOW bytes at a UTF-8 character boundary. out has NB_ST_SHOW_CAP. */
const char *nb_st_shown(char *out, const char *s)
{
    size_t o = 0, i = 0;
    for (; s[i] && i < NB_ST_SHOW; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7F) o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
        else out[o++] = (char)c;
    }
    if (s[i]) {
        while (o > 0 && ((unsigned char)out[o - 1] & 0xC0) == 0x80) o--; /* continuation */
        if (o > 0 && (unsigned char)out[o - 1] >= 0xC0) o--;              /* its lead byte */
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

/* zlib's crc32 takes a uInt length: feed large buffers in pieces. */
uint32_t nb_st_crc_bytes(uint32_t crc, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n > 0) {
        size_t k = n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n;
        crc = (uint32_t)crc32(crc, b, (uInt)k);
        b += k;
        n -= k;
    }
    return crc;
}

static uint32_t crc_u64(uint32_t crc, uint64_t v)
{
    unsigned char b[8];
    nb_st_put_u64(b, v);
    return nb_st_crc_bytes(crc, b, 8);
}


int nb_st_span_cmp(const void *pa, const void *pb)
{
    const nb_st_span *a = pa, *b = pb;
    if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end) return a->end < b->end ? -1 : 1;
    return strcmp(a->t->name, b->t->name); /* unique names: a total order */
}


int nb_st_kv_cmp(const void *pa, const void *pb)
{
    return strcmp(((const nb_st_kv *)pa)->k, ((const nb_st_kv *)pb)->k);
}

int nb_st_name_cmp(const void *pa, const void *pb)
{
    return strcmp((*(const nb_st_tensor *const *)pa)->name, (*(const nb_st_tensor *const *)pb)->name);
}

/* The digest of nb_st_header_crc over already sorted spans and entries
 * (kv holds no NB_ST_KEY_HEADER_CRC). */
uint32_t nb_st_header_digest(const nb_st_span *sp, size_t n, const nb_st_kv *kv, size_t nkv)
{
    uint32_t crc = (uint32_t)crc32(0L, Z_NULL, 0);
    crc = crc_u64(crc, n);
    crc = crc_u64(crc, nkv);
    for (size_t i = 0; i < n; i++) {
        const nb_st_tensor *t = sp[i].t;
        unsigned char nd = (unsigned char)t->ndim;
        crc = nb_st_crc_bytes(crc, t->name, strlen(t->name) + 1); /* with its NUL */
        crc = nb_st_crc_bytes(crc, "F32", 4);
        crc = nb_st_crc_bytes(crc, &nd, 1);
        for (int k = 0; k < t->ndim; k++) crc = crc_u64(crc, (uint64_t)t->shape[k]);
        crc = crc_u64(crc, sp[i].begin);
        crc = crc_u64(crc, sp[i].end);
    }
    for (size_t i = 0; i < nkv; i++) {
        crc = nb_st_crc_bytes(crc, kv[i].k, strlen(kv[i].k) + 1);
        crc = nb_st_crc_bytes(crc, kv[i].v, strlen(kv[i].v) + 1);
    }
    return crc;
}

nb_status nb_st_header_crc(const nb_st_tensor *t, const uint64_t *offsets, size_t n,
                           const char *const *keys, const char *const *vals, size_t n_meta,
                           uint32_t *out)
{
    if ((n && (!t || !offsets)) || (n_meta && (!keys || !vals)) || !out)
        return NB_FAIL(NB_ERR_ARG, "nb_st_header_crc: NULL argument");
    for (size_t i = 0; i < n; i++)
        if (!t[i].name || t[i].ndim < 0 || t[i].ndim > NB_ST_MAX_NDIM)
            return NB_FAIL(NB_ERR_ARG, "nb_st_header_crc: tensor %zu: no name or bad ndim", i);
    for (size_t i = 0; i < n_meta; i++)
        if (!keys[i] || !vals[i])
            return NB_FAIL(NB_ERR_ARG, "nb_st_header_crc: metadata entry %zu is NULL", i);
    nb_st_span *sp = malloc((n ? n : 1) * sizeof *sp);
    nb_st_kv *kv = malloc((n_meta ? n_meta : 1) * sizeof *kv);
    if (!sp || !kv) {
        free(sp);
        free(kv);
        return NB_NOMEM("nb_st_header_crc", (n + n_meta) * sizeof(nb_st_span));
    }
    for (size_t i = 0; i < n; i++) sp[i] = (nb_st_span){offsets[2 * i], offsets[2 * i + 1], &t[i]};
    size_t nkv = 0;
    for (size_t i = 0; i < n_meta; i++)
        if (strcmp(keys[i], NB_ST_KEY_HEADER_CRC) != 0) kv[nkv++] = (nb_st_kv){keys[i], vals[i]};
    qsort(sp, n, sizeof *sp, nb_st_span_cmp);
    qsort(kv, nkv, sizeof *kv, nb_st_kv_cmp);
    *out = nb_st_header_digest(sp, n, kv, nkv);
    free(sp);
    free(kv);
    return NB_OK;
}

/* 1 if some pair in the sorted strings a (n) is equal; *dup names it. */
int nb_st_sorted_dup(const char **a, size_t n, const char **dup)
{
    for (size_t i = 1; i < n; i++)
        if (!strcmp(a[i - 1], a[i])) return *dup = a[i], 1;
    return 0;
}

int nb_st_str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}
