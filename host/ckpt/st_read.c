/*
 * st_read.c — reading nabla's safetensors checkpoints, and plain
 * safetensors files from other writers: nb_st_read, nb_st_read_mem,
 * nb_st_free and the accessors (format in safetensors.h).
 *
 * The reader trusts nothing: each size is checked against the file size
 * and the limits before anything is allocated for it, the JSON is
 * pre-scanned for nesting and size before jansson sees it, and the data
 * buffer is read only once the header has been fully validated.
 *
 * Not here: writing (st_write.c), the helpers and the header checksum it
 * shares with the writer (st_common.c), what the tensors mean (the model
 * layer), memory mapping (the data is copied and decoded so the reader
 * works on any endianness and from memory), dtypes other than F32.
 */
#include "ckpt/st_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <zlib.h>

#include "fileio.h"
#include "status.h"

/* Root object -> tensor entry -> shape array: a valid header is exactly
 * three levels deep, so anything deeper is refused before parsing. */
#define ST_MAX_DEPTH 3

/* A fuzzer cannot forge CRCs, so in fuzzing builds only (the libFuzzer
 * convention; never defined by nabla's own builds) a checksum mismatch is
 * ignored, letting it reach the checks behind the checksums. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define ST_CRC_DIFFERS(got, want) ((void)(got), (void)(want), 0)
#else
#define ST_CRC_DIFFERS(got, want) ((got) != (want))
#endif

/* Where the bytes come from: a descriptor or a memory block. */
typedef struct st_src {
    const char *name;
    int fd;                   /* or -1 */
    const unsigned char *mem; /* when fd < 0 */
    uint64_t size, pos;
} st_src;

#define BAD(fmt, ...) NB_FAIL(NB_ERR_DATA, "nb_st_read: %s: " fmt, s->name, __VA_ARGS__)

/* Exactly n bytes at the current position into dst. */
static nb_status src_read(st_src *s, void *dst, size_t n)
{
    if (s->fd < 0) {
        memcpy(dst, s->mem + s->pos, n); /* n ≤ size − pos was checked */
        s->pos += n;
        return NB_OK;
    }
    unsigned char *p = dst;
    while (n > 0) {
        size_t want = n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n;
        ssize_t got = read(s->fd, p, want);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0)
            return NB_FAIL(NB_ERR_IO, "nb_st_read: %s: read failed: %s", s->name, strerror(errno));
        if (got == 0)
            return NB_FAIL(NB_ERR_IO, "nb_st_read: %s: file shrank while being read", s->name);
        p += got;
        n -= (size_t)got;
        s->pos += (uint64_t)got;
    }
    return NB_OK;
}

/* Before jansson builds a tree: nesting depth, and a bound on the number
 * of JSON values (every value but the root follows '[', ',' or ':'),
 * which bounds the tree's memory. Strings are skipped, escapes included. */
static nb_status prescan(const st_src *s, const unsigned char *h, size_t n, size_t max_tokens)
{
    size_t depth = 0, tokens = 0;
    for (size_t i = 0; i < n; i++) {
        switch (h[i]) {
        case '"':
            for (i++; i < n && h[i] != '"'; i++) i += h[i] == '\\';
            break;
        case '{':
        case '[':
            if (++depth > ST_MAX_DEPTH)
                return BAD("header JSON nests deeper than %d levels at file byte %zu",
                           ST_MAX_DEPTH, 8 + i);
            /* fall through */
        case ',':
        case ':':
            if (++tokens > max_tokens)
                return BAD("header JSON has more than %zu values (file byte %zu): over the "
                           "tensor and metadata limits", max_tokens, 8 + i);
            break;
        case '}':
        case ']':
            depth -= depth > 0;
            break;
        }
    }
    return NB_OK;
}

/* Validate one tensor entry and fill *t and off[2]. */
static nb_status parse_tensor(const st_src *s, const char *name, json_t *e, uint64_t data_bytes,
                              nb_st_tensor *t, uint64_t *off)
{
    char nm[NB_ST_SHOW_CAP], tmp[NB_ST_SHOW_CAP];
    nb_st_shown(nm, name);
    if (!*name) return BAD("%s", "a tensor has an empty name");
    json_t *dtype = json_object_get(e, "dtype"), *shape = json_object_get(e, "shape");
    json_t *offs = json_object_get(e, "data_offsets");
    if (!json_is_object(e) || json_object_size(e) != 3 || !dtype || !shape || !offs)
        return BAD("tensor '%s': entry must be an object with exactly dtype, shape and "
                   "data_offsets", nm);
    if (!json_is_string(dtype)) return BAD("tensor '%s': dtype is not a string", nm);
    if (strcmp(json_string_value(dtype), "F32") != 0)
        return BAD("tensor '%s': unsupported dtype '%s' (nabla reads only F32)", nm,
                   nb_st_shown(tmp, json_string_value(dtype)));
    if (!json_is_array(shape) || json_array_size(shape) > NB_ST_MAX_NDIM)
        return BAD("tensor '%s': shape must be an array of at most %d integers", nm,
                   NB_ST_MAX_NDIM);
    /* Elements, overflow-safe: a product past what the data buffer can
     * hold is an error, unless a later dim is 0. */
    uint64_t count = 1, cap = data_bytes / 4;
    int zero = 0, huge = 0;
    t->name = name;
    t->ndim = (int)json_array_size(shape);
    for (int k = 0; k < t->ndim; k++) {
        json_t *d = json_array_get(shape, (size_t)k);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return BAD("tensor '%s': shape[%d] is not an integer >= 0", nm, k);
        uint64_t v = (uint64_t)json_integer_value(d);
        t->shape[k] = (int64_t)v;
        if (v == 0) zero = 1;
        else if (count > cap / v) huge = 1;
        else count *= v;
    }
    if (zero) count = 0;
    else if (huge) return BAD("tensor '%s': shape has more elements than the file holds", nm);
    if (!json_is_array(offs) || json_array_size(offs) != 2)
        return BAD("tensor '%s': data_offsets must be an array of two integers", nm);
    for (size_t k = 0; k < 2; k++) {
        json_t *o = json_array_get(offs, k);
        if (!json_is_integer(o) || json_integer_value(o) < 0)
            return BAD("tensor '%s': data_offsets[%zu] is not an integer >= 0", nm, k);
        off[k] = (uint64_t)json_integer_value(o);
    }
    if (off[0] > off[1] || off[1] > data_bytes)
        return BAD("tensor '%s': data_offsets [%llu, %llu] are not a range within the %llu-byte "
                   "data buffer", nm, (unsigned long long)off[0], (unsigned long long)off[1],
                   (unsigned long long)data_bytes);
    if (off[1] - off[0] != 4 * count)
        return BAD("tensor '%s': data_offsets span %llu bytes but the shape needs %llu", nm,
                   (unsigned long long)(off[1] - off[0]), (unsigned long long)(4 * count));
    return NB_OK;
}

/* A checksum value: exactly 8 lowercase hex digits (the writer's form, so
 * that no other spelling of the same number passes). */
static int parse_hex8(const char *v, uint32_t *out)
{
    uint32_t x = 0;
    for (int i = 0; i < 8; i++) {
        char c = v[i];
        if (c >= '0' && c <= '9') x = x << 4 | (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') x = x << 4 | (uint32_t)(c - 'a' + 10);
        else return 0;
    }
    *out = x;
    return v[8] == '\0';
}

/* The metadata: all strings and, in a nabla file, nabla's checksums
 * present and well formed (the version was checked first). Fills f's user
 * arrays and kv (all but the header crc) and the two checksums. kv has
 * room for json_object_size(meta) entries; meta may be NULL (a plain file
 * without metadata). */
static nb_status parse_meta(const st_src *s, json_t *meta, nb_st_file *f, nb_st_kv *kv, size_t *nkv,
                            uint32_t *crc, uint32_t *hcrc)
{
    char nm[NB_ST_SHOW_CAP];
    const char *key, *c = NULL, *hc = NULL;
    json_t *v;
    *nkv = 0;
    json_object_foreach(meta, key, v) {
        if (!*key) return BAD("%s", "__metadata__ has an empty key");
        if (!json_is_string(v))
            return BAD("metadata '%s' is not a string (all metadata values must be)",
                       nb_st_shown(nm, key));
        const char *val = json_string_value(v);
        if (!strcmp(key, NB_ST_KEY_HEADER_CRC)) hc = val;
        else kv[(*nkv)++] = (nb_st_kv){key, val};
        if (!strcmp(key, NB_ST_KEY_CRC)) c = val;
        else if (!nb_st_is_reserved(key)) {
            f->keys[f->n_meta] = key;
            f->vals[f->n_meta++] = val;
        }
    }
    if (f->plain) return NB_OK; /* no nabla.* key, so no checksum to expect */
    if (!c || !parse_hex8(c, crc))
        return BAD("%s is missing or not 8 lowercase hex digits", NB_ST_KEY_CRC);
    if (!hc || !parse_hex8(hc, hcrc))
        return BAD("%s is missing or not 8 lowercase hex digits", NB_ST_KEY_HEADER_CRC);
    return NB_OK;
}

/* Every check of the header, in the order documented in safetensors.h;
 * f->root is set by the caller. Leaves sp (n) sorted by data order. */
static nb_status check_header(const st_src *s, const nb_st_limits *lim, nb_st_file *f,
                              uint64_t data_bytes, nb_st_span **spp, uint32_t *crc)
{
    json_t *root = f->root, *meta = json_object_get(root, "__metadata__");
    if (!json_is_object(root)) return BAD("%s", "header is not a JSON object");
    if (meta && !json_is_object(meta)) return BAD("%s", "__metadata__ is not an object");
    /* Other writers (Python's safetensors, PyTorch) leave __metadata__ out
     * or fill it with keys of their own: such a plain file is read with
     * every check below but the checksums, which it does not have. Any
     * nabla.* key makes it a nabla file, so a nabla file that lost one of
     * its keys is refused rather than read unchecked. */
    const char *key;
    json_t *e;
    f->plain = 1;
    json_object_foreach(meta, key, e) if (!strncmp(key, "nabla.", 6)) f->plain = 0;
    char nm[NB_ST_SHOW_CAP], nm2[NB_ST_SHOW_CAP];
    if (!f->plain) {
        /* The version first: another version may differ in anything below. */
        json_t *ver = json_object_get(meta, NB_ST_KEY_FORMAT);
        if (!ver)
            return BAD("no %s in __metadata__, which has other nabla.* keys: a damaged nabla "
                       "checkpoint", NB_ST_KEY_FORMAT);
        if (!json_is_string(ver) || strcmp(json_string_value(ver), NB_ST_FORMAT_VERSION) != 0)
            return BAD("unsupported format version %s (this build reads \"%s\")",
                       json_is_string(ver) ? nb_st_shown(nm, json_string_value(ver))
                                           : "(not a string)",
                       NB_ST_FORMAT_VERSION);
    }
    size_t n = json_object_size(root) - (meta ? 1 : 0), n_meta = json_object_size(meta);
    if (n > lim->max_tensors) return BAD("%zu tensors, over the limit of %zu", n, lim->max_tensors);
    if (n_meta > lim->max_meta)
        return BAD("%zu metadata entries, over the limit of %zu", n_meta, lim->max_meta);

    /* Sizes are bounded by the token count the prescan allowed. */
    uint64_t *off = malloc((n ? n : 1) * 2 * sizeof *off);
    nb_st_span *sp = malloc((n ? n : 1) * sizeof *sp);
    nb_st_kv *kv = malloc((n_meta ? n_meta : 1) * sizeof *kv);
    *spp = sp;
    f->t = calloc(n ? n : 1, sizeof *f->t);
    f->by_name = malloc((n ? n : 1) * sizeof *f->by_name);
    f->keys = malloc((n_meta ? n_meta : 1) * sizeof *f->keys);
    f->vals = malloc((n_meta ? n_meta : 1) * sizeof *f->vals);
    nb_status st = NB_OK;
    if (!off || !sp || !kv || !f->t || !f->by_name || !f->keys || !f->vals) {
        st = NB_NOMEM("nb_st_read: tables", (n + n_meta) * 64);
        goto done;
    }
    json_object_foreach(root, key, e) {
        if (e == meta) continue;
        NB_CHECK(parse_tensor(s, key, e, data_bytes, &f->t[f->n], &off[2 * f->n]));
        sp[f->n] = (nb_st_span){off[2 * f->n], off[2 * f->n + 1], &f->t[f->n]};
        f->by_name[f->n] = &f->t[f->n];
        f->n++;
    }
    /* The tensors must tile the data buffer: sorted by offset, each one
     * starts where the previous one ended, and the last ends at its end. */
    qsort(sp, n, sizeof *sp, nb_st_span_cmp);
    uint64_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (sp[i].begin != at) {
            if (i == 0)
                st = BAD("tensor '%s' starts at data byte %llu, not 0 (a gap)",
                         nb_st_shown(nm, sp[i].t->name), (unsigned long long)sp[i].begin);
            else
                st = BAD("tensor '%s' starts at data byte %llu, but '%s' ends at %llu (%s)",
                         nb_st_shown(nm, sp[i].t->name), (unsigned long long)sp[i].begin,
                         nb_st_shown(nm2, sp[i - 1].t->name), (unsigned long long)at,
                         sp[i].begin > at ? "a gap" : "they overlap");
            goto done;
        }
        at = sp[i].end;
    }
    if (at != data_bytes) {
        st = BAD("the tensors cover %llu bytes of the %llu-byte data buffer (trailing bytes)",
                 (unsigned long long)at, (unsigned long long)data_bytes);
        goto done;
    }
    size_t nkv;
    uint32_t hcrc = 0;
    NB_CHECK(parse_meta(s, meta, f, kv, &nkv, crc, &hcrc));
    qsort(kv, nkv, sizeof *kv, nb_st_kv_cmp);
    uint32_t want = f->plain ? 0 : nb_st_header_digest(sp, n, kv, nkv);
    if (!f->plain && ST_CRC_DIFFERS(want, hcrc)) {
        st = BAD("header checksum mismatch: the header's content gives %08lx, %s says %08lx",
                 (unsigned long)want, NB_ST_KEY_HEADER_CRC, (unsigned long)hcrc);
        goto done;
    }
    qsort(f->by_name, n, sizeof *f->by_name, nb_st_name_cmp);
fail:
done:
    free(off);
    free(kv);
    return st;
}

static nb_status st_read(st_src *s, const nb_st_limits *lim, nb_st_file **out)
{
    nb_st_limits dflt;
    if (!lim) {
        nb_st_limits_default(&dflt);
        lim = &dflt;
    }
    unsigned char len8[8], *hdr = NULL, *data = NULL;
    nb_st_span *sp = NULL;
    nb_status st = NB_OK;
    nb_st_file *f = calloc(1, sizeof *f);
    if (!f) return NB_NOMEM("nb_st_read", sizeof *f);

    if (s->size < 8) {
        st = BAD("file is %llu bytes, too short for the 8-byte header length",
                 (unsigned long long)s->size);
        goto fail;
    }
    NB_CHECK(src_read(s, len8, 8));
    uint64_t n = nb_st_get_u64(len8);
    if (n > lim->max_header || n > s->size - 8 || n < 2) {
        st = BAD("header length %llu is not within 2..%llu (limit %zu, file %llu bytes)",
                 (unsigned long long)n, (unsigned long long)(s->size - 8), lim->max_header,
                 (unsigned long long)s->size);
        goto fail;
    }
    uint64_t data_bytes = s->size - 8 - n;
    if (data_bytes > lim->max_data || data_bytes > SIZE_MAX - 8) {
        st = BAD("data buffer of %llu bytes is over the limit", (unsigned long long)data_bytes);
        goto fail;
    }
    if (!(hdr = malloc((size_t)n))) {
        st = NB_NOMEM("nb_st_read: header", n);
        goto fail;
    }
    NB_CHECK(src_read(s, hdr, (size_t)n));
    /* Saturating: with huge limits the prescan simply never refuses. */
    size_t max_tokens = 16, part;
    if (!nb_mul_ok(lim->max_tensors, 16, &part) || !nb_add_ok(max_tokens, part, &max_tokens) ||
        !nb_mul_ok(lim->max_meta, 4, &part) || !nb_add_ok(max_tokens, part, &max_tokens))
        max_tokens = SIZE_MAX;
    NB_CHECK(prescan(s, hdr, (size_t)n, max_tokens));
    json_error_t jerr;
    f->root = json_loadb((const char *)hdr, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
    free(hdr); /* the tree holds copies of everything needed */
    hdr = NULL;
    if (!f->root) {
        st = BAD("bad header JSON at file byte %lld: %s", 8 + (long long)jerr.position, jerr.text);
        goto fail;
    }
    uint32_t crc = 0;
    NB_CHECK(check_header(s, lim, f, data_bytes, &sp, &crc));

    /* Only now, with every size known to match the file, the data. */
    if (!(data = malloc(data_bytes ? (size_t)data_bytes : 1))) {
        st = NB_NOMEM("nb_st_read: data", data_bytes);
        goto fail;
    }
    NB_CHECK(src_read(s, data, (size_t)data_bytes));
    uint32_t got = 0;
    if (!f->plain) got = nb_st_crc_bytes((uint32_t)crc32(0L, Z_NULL, 0), data, (size_t)data_bytes);
    if (!f->plain && ST_CRC_DIFFERS(got, crc)) {
        st = BAD("checksum mismatch: the data buffer gives %08lx, %s says %08lx",
                 (unsigned long)got, NB_ST_KEY_CRC, (unsigned long)crc);
        goto fail;
    }
    /* Decode in place (malloc's alignment suits float; every offset is a
     * multiple of 4 since the tensors tile the buffer from 0). */
    f->data = (float *)(void *)data;
    data = NULL;
    for (size_t i = 0; i < f->n; i++) {
        const nb_st_span *p = &sp[i];
        float *dst = f->data + p->begin / 4;
        size_t count = (size_t)(p->end - p->begin) / 4;
        for (size_t j = 0; j < count; j++) {
            float v = nb_st_f32_from_le((const unsigned char *)(dst + j));
            if (!isfinite(v)) {
                char nm[NB_ST_SHOW_CAP];
                st = BAD("tensor '%s' element %zu is %s", nb_st_shown(nm, p->t->name), j,
                         isnan(v) ? "NaN" : "Inf");
                goto fail;
            }
            dst[j] = v;
        }
        ((nb_st_tensor *)p->t)->data = dst; /* p->t points into f->t */
    }
    free(sp);
    *out = f;
    return NB_OK;
fail:
    free(sp);
    free(hdr);
    free(data);
    nb_st_free(f);
    return st;
}

nb_status nb_st_read_mem(const char *name, const void *bytes, size_t size,
                         const nb_st_limits *lim, nb_st_file **out)
{
    if (!out) return NB_FAIL(NB_ERR_ARG, "nb_st_read_mem: out is NULL");
    *out = NULL;
    if (!bytes && size) return NB_FAIL(NB_ERR_ARG, "nb_st_read_mem: bytes is NULL");
    st_src s = {.name = name ? name : "(memory)", .fd = -1, .mem = bytes, .size = size};
    return st_read(&s, lim, out);
}

nb_status nb_st_read(const char *path, const nb_st_limits *lim, nb_st_file **out)
{
    if (!out) return NB_FAIL(NB_ERR_ARG, "nb_st_read: out is NULL");
    *out = NULL;
    if (!path) return NB_FAIL(NB_ERR_ARG, "nb_st_read: path is NULL");
    /* A FIFO or device has no size to check against, and could block. */
    int fd;
    uint64_t size;
    NB_TRY(nb_open_input("nb_st_read", path, &fd, &size));
    st_src s = {.name = path, .fd = fd, .size = size};
    nb_status st = st_read(&s, lim, out);
    close(fd);
    return st;
}

void nb_st_free(nb_st_file *f)
{
    if (!f) return;
    json_decref(f->root);
    free(f->data);
    free(f->t);
    free(f->by_name);
    free(f->keys);
    free(f->vals);
    free(f);
}

const nb_st_tensor *nb_st_tensors(const nb_st_file *f, size_t *n)
{
    if (n) *n = f ? f->n : 0;
    return f ? f->t : NULL;
}

const nb_st_tensor *nb_st_find(const nb_st_file *f, const char *name)
{
    if (!f || !name) return NULL;
    nb_st_tensor key = {.name = name};
    const nb_st_tensor *pk = &key;
    const nb_st_tensor **hit = bsearch(&pk, f->by_name, f->n, sizeof *f->by_name, nb_st_name_cmp);
    return hit ? *hit : NULL;
}

void nb_st_meta(const nb_st_file *f, const char *const **keys, const char *const **vals,
                size_t *n)
{
    if (keys) *keys = f ? (const char *const *)f->keys : NULL;
    if (vals) *vals = f ? (const char *const *)f->vals : NULL;
    if (n) *n = f ? f->n_meta : 0;
}

int nb_st_is_nabla(const nb_st_file *f) { return f && !f->plain; }

const char *nb_st_meta_get(const nb_st_file *f, const char *key)
{
    if (!f || !key) return NULL;
    return json_string_value(json_object_get(json_object_get(f->root, "__metadata__"), key));
}
