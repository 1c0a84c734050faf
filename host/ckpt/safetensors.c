/*
 * safetensors.c — writing and reading nabla's safetensors checkpoints
 * (format in safetensors.h).
 *
 * The writer validates everything (names, shapes, finiteness) and computes
 * both checksums before it creates a file, so a refused save writes
 * nothing. The reader trusts nothing: each size is checked against the
 * file size and the limits before anything is allocated for it, the JSON
 * is pre-scanned for nesting and size before jansson sees it, and the
 * data buffer is read only once the header has been fully validated.
 *
 * Not here: what the tensors mean (the model layer), memory mapping (the
 * data is copied and decoded so the reader works on any endianness and
 * from memory), dtypes other than F32.
 */
#include "ckpt/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <zlib.h>

#include "ckpt/atomic_file.h"
#include "status.h"

#define ST_CHUNK ((size_t)64 * 1024) /* bytes encoded or checksummed at a time */
/* Root object -> tensor entry -> shape array: a valid header is exactly
 * three levels deep, so anything deeper is refused before parsing. */
#define ST_MAX_DEPTH 3
#define ST_SHOW 48 /* bytes of a name quoted in a message */
#define ST_SHOW_CAP (ST_SHOW * 4 + 8)

/* A fuzzer cannot forge CRCs, so in fuzzing builds only (the libFuzzer
 * convention; never defined by nabla's own builds) a checksum mismatch is
 * ignored, letting it reach the checks behind the checksums. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define ST_CRC_DIFFERS(got, want) ((void)(got), (void)(want), 0)
#else
#define ST_CRC_DIFFERS(got, want) ((got) != (want))
#endif

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

static int is_reserved(const char *key)
{
    return !strcmp(key, NB_ST_KEY_FORMAT) || !strcmp(key, NB_ST_KEY_CRC) ||
           !strcmp(key, NB_ST_KEY_HEADER_CRC);
}

/* Strict UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF): what jansson accepts, checked here so that a bad name is an
 * argument error rather than a mysterious allocation failure. */
static int utf8_valid(const char *str)
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
 * after ST_SHOW bytes at a UTF-8 character boundary. out has ST_SHOW_CAP. */
static const char *shown(char *out, const char *s)
{
    size_t o = 0, i = 0;
    for (; s[i] && i < ST_SHOW; i++) {
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
static uint32_t crc_bytes(uint32_t crc, const void *p, size_t n)
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

static void put_u64(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

static uint32_t crc_u64(uint32_t crc, uint64_t v)
{
    unsigned char b[8];
    put_u64(b, v);
    return crc_bytes(crc, b, 8);
}

/* Tensors in data order, for the coverage check and the header digest. */
typedef struct st_span {
    uint64_t begin, end;
    const nb_st_tensor *t;
} st_span;

static int span_cmp(const void *pa, const void *pb)
{
    const st_span *a = pa, *b = pb;
    if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end) return a->end < b->end ? -1 : 1;
    return strcmp(a->t->name, b->t->name); /* unique names: a total order */
}

typedef struct st_kv {
    const char *k, *v;
} st_kv;

static int kv_cmp(const void *pa, const void *pb)
{
    return strcmp(((const st_kv *)pa)->k, ((const st_kv *)pb)->k);
}

static int name_cmp(const void *pa, const void *pb)
{
    return strcmp((*(const nb_st_tensor *const *)pa)->name, (*(const nb_st_tensor *const *)pb)->name);
}

/* The digest of nb_st_header_crc over already sorted spans and entries
 * (kv holds no NB_ST_KEY_HEADER_CRC). */
static uint32_t header_digest(const st_span *sp, size_t n, const st_kv *kv, size_t nkv)
{
    uint32_t crc = (uint32_t)crc32(0L, Z_NULL, 0);
    crc = crc_u64(crc, n);
    crc = crc_u64(crc, nkv);
    for (size_t i = 0; i < n; i++) {
        const nb_st_tensor *t = sp[i].t;
        unsigned char nd = (unsigned char)t->ndim;
        crc = crc_bytes(crc, t->name, strlen(t->name) + 1); /* with its NUL */
        crc = crc_bytes(crc, "F32", 4);
        crc = crc_bytes(crc, &nd, 1);
        for (int k = 0; k < t->ndim; k++) crc = crc_u64(crc, (uint64_t)t->shape[k]);
        crc = crc_u64(crc, sp[i].begin);
        crc = crc_u64(crc, sp[i].end);
    }
    for (size_t i = 0; i < nkv; i++) {
        crc = crc_bytes(crc, kv[i].k, strlen(kv[i].k) + 1);
        crc = crc_bytes(crc, kv[i].v, strlen(kv[i].v) + 1);
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
    st_span *sp = malloc((n ? n : 1) * sizeof *sp);
    st_kv *kv = malloc((n_meta ? n_meta : 1) * sizeof *kv);
    if (!sp || !kv) {
        free(sp);
        free(kv);
        return NB_NOMEM("nb_st_header_crc", (n + n_meta) * sizeof(st_span));
    }
    for (size_t i = 0; i < n; i++) sp[i] = (st_span){offsets[2 * i], offsets[2 * i + 1], &t[i]};
    size_t nkv = 0;
    for (size_t i = 0; i < n_meta; i++)
        if (strcmp(keys[i], NB_ST_KEY_HEADER_CRC) != 0) kv[nkv++] = (st_kv){keys[i], vals[i]};
    qsort(sp, n, sizeof *sp, span_cmp);
    qsort(kv, nkv, sizeof *kv, kv_cmp);
    *out = header_digest(sp, n, kv, nkv);
    free(sp);
    free(kv);
    return NB_OK;
}

/* float32 <-> little-endian bytes, whatever the host's byte order. */
static void f32_to_le(float f, unsigned char *b)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(u >> (8 * i));
}

static float f32_from_le(const unsigned char *b)
{
    uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* 1 if some pair in the sorted strings a (n) is equal; *dup names it. */
static int sorted_dup(const char **a, size_t n, const char **dup)
{
    for (size_t i = 1; i < n; i++)
        if (!strcmp(a[i - 1], a[i])) return *dup = a[i], 1;
    return 0;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ----------------------------------------------------------- writer */

/* Everything nb_st_write checks before touching the disk. Fills offsets
 * (n, 2) and *data_bytes. names is scratch space for n pointers. */
static nb_status write_check(const nb_st_tensor *t, size_t n, const char *const *keys,
                             const char *const *vals, size_t n_meta, uint64_t *offsets,
                             const char **names, uint64_t *data_bytes)
{
    char nm[ST_SHOW_CAP];
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!t[i].name || !*t[i].name)
            return NB_FAIL(NB_ERR_ARG, "nb_st_write: tensor %zu has no name", i);
        if (!utf8_valid(t[i].name))
            return NB_FAIL(NB_ERR_ARG, "nb_st_write: tensor %zu: name is not valid UTF-8", i);
        if (!strcmp(t[i].name, "__metadata__"))
            return NB_FAIL(NB_ERR_ARG, "nb_st_write: tensor %zu: the name __metadata__ is reserved", i);
        if (t[i].ndim < 0 || t[i].ndim > NB_ST_MAX_NDIM)
            return NB_FAIL(NB_ERR_ARG, "nb_st_write: tensor '%s': ndim %d is outside 0..%d",
                           shown(nm, t[i].name), t[i].ndim, NB_ST_MAX_NDIM);
        for (int k = 0; k < t[i].ndim; k++)
            if (t[i].shape[k] < 0)
                return NB_FAIL(NB_ERR_ARG, "nb_st_write: tensor '%s': dim %d is negative",
                               shown(nm, t[i].name), k);
        size_t count = nb_st_numel(&t[i]), bytes;
        int zero = 0; /* a 0 dim makes any product valid */
        for (int k = 0; k < t[i].ndim; k++) zero |= t[i].shape[k] == 0;
        if ((count == 0 && !zero) || !nb_mul_ok(count, 4, &bytes) || !nb_add_ok(total, bytes, &total) ||
            (uint64_t)total > (uint64_t)INT64_MAX)
            return NB_FAIL(NB_ERR_ARG, "nb_st_write: tensor '%s': sizes overflow",
                           shown(nm, t[i].name));
        if (count > 0 && !t[i].data)
            return NB_FAIL(NB_ERR_ARG, "nb_st_write: tensor '%s': data is NULL",
                           shown(nm, t[i].name));
        offsets[2 * i] = total - bytes;
        offsets[2 * i + 1] = total;
        for (size_t j = 0; j < count; j++)
            if (!isfinite(t[i].data[j]))
                return NB_FAIL(NB_ERR_NONFINITE, "nb_st_write: tensor '%s' element %zu is %s",
                               shown(nm, t[i].name), j, isnan(t[i].data[j]) ? "NaN" : "Inf");
        names[i] = t[i].name;
    }
    const char *dup;
    qsort(names, n, sizeof *names, str_cmp);
    if (sorted_dup(names, n, &dup))
        return NB_FAIL(NB_ERR_ARG, "nb_st_write: two tensors are named '%s'", shown(nm, dup));
    for (size_t i = 0; i < n_meta; i++) {
        if (!keys[i] || !*keys[i] || !vals[i])
            return NB_FAIL(NB_ERR_ARG, "nb_st_write: metadata entry %zu: empty key or NULL value", i);
        if (!utf8_valid(keys[i]) || !utf8_valid(vals[i]))
            return NB_FAIL(NB_ERR_ARG, "nb_st_write: metadata entry %zu is not valid UTF-8", i);
        if (is_reserved(keys[i]))
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
            f32_to_le(t[i].data[j], chunk + used);
            used += 4;
            if (used == ST_CHUNK) {
                if (af) NB_TRY(nb_atomic_write(af, chunk, used));
                else *crc = crc_bytes(*crc, chunk, used);
                used = 0;
            }
        }
    }
    if (used > 0) {
        if (af) NB_TRY(nb_atomic_write(af, chunk, used));
        else *crc = crc_bytes(*crc, chunk, used);
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
    qsort(names, n_meta, sizeof *names, str_cmp);
    if (sorted_dup(names, n_meta, &dup)) {
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
    put_u64((unsigned char *)hdr, padded);

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

/* ----------------------------------------------------------- reader */

struct nb_st_file {
    json_t *root;                 /* the header: owns every name, key and value    */
    float *data;                  /* the whole data buffer, decoded                */
    nb_st_tensor *t;              /* (n) in file order                             */
    size_t n;
    const nb_st_tensor **by_name; /* (n) sorted by name, for nb_st_find            */
    const char **keys, **vals;    /* (n_meta) the caller's metadata, in file order */
    size_t n_meta;
};

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
    char nm[ST_SHOW_CAP], tmp[ST_SHOW_CAP];
    shown(nm, name);
    if (!*name) return BAD("%s", "a tensor has an empty name");
    json_t *dtype = json_object_get(e, "dtype"), *shape = json_object_get(e, "shape");
    json_t *offs = json_object_get(e, "data_offsets");
    if (!json_is_object(e) || json_object_size(e) != 3 || !dtype || !shape || !offs)
        return BAD("tensor '%s': entry must be an object with exactly dtype, shape and "
                   "data_offsets", nm);
    if (!json_is_string(dtype)) return BAD("tensor '%s': dtype is not a string", nm);
    if (strcmp(json_string_value(dtype), "F32") != 0)
        return BAD("tensor '%s': unsupported dtype '%s' (nabla reads only F32)", nm,
                   shown(tmp, json_string_value(dtype)));
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

/* The metadata: all strings, nabla's checksums present and well formed
 * (the version was checked first). Fills f's user arrays and kv (all but the header crc) and the
 * two checksums. kv has room for json_object_size(meta) entries. */
static nb_status parse_meta(const st_src *s, json_t *meta, nb_st_file *f, st_kv *kv, size_t *nkv,
                            uint32_t *crc, uint32_t *hcrc)
{
    char nm[ST_SHOW_CAP];
    const char *key, *c = NULL, *hc = NULL;
    json_t *v;
    *nkv = 0;
    json_object_foreach(meta, key, v) {
        if (!*key) return BAD("%s", "__metadata__ has an empty key");
        if (!json_is_string(v))
            return BAD("metadata '%s' is not a string (all metadata values must be)",
                       shown(nm, key));
        const char *val = json_string_value(v);
        if (!strcmp(key, NB_ST_KEY_HEADER_CRC)) hc = val;
        else kv[(*nkv)++] = (st_kv){key, val};
        if (!strcmp(key, NB_ST_KEY_CRC)) c = val;
        else if (!is_reserved(key)) {
            f->keys[f->n_meta] = key;
            f->vals[f->n_meta++] = val;
        }
    }
    if (!c || !parse_hex8(c, crc))
        return BAD("%s is missing or not 8 lowercase hex digits", NB_ST_KEY_CRC);
    if (!hc || !parse_hex8(hc, hcrc))
        return BAD("%s is missing or not 8 lowercase hex digits", NB_ST_KEY_HEADER_CRC);
    return NB_OK;
}

/* Every check of the header, in the order documented in safetensors.h;
 * f->root is set by the caller. Leaves sp (n) sorted by data order. */
static nb_status check_header(const st_src *s, const nb_st_limits *lim, nb_st_file *f,
                              uint64_t data_bytes, st_span **spp, uint32_t *crc)
{
    json_t *root = f->root, *meta = json_object_get(root, "__metadata__");
    if (!json_is_object(root)) return BAD("%s", "header is not a JSON object");
    if (!json_is_object(meta)) return BAD("%s", "no __metadata__ object: not a nabla checkpoint");
    /* The version first: another version may differ in anything below. */
    json_t *ver = json_object_get(meta, NB_ST_KEY_FORMAT);
    char nm[ST_SHOW_CAP], nm2[ST_SHOW_CAP];
    if (!ver) return BAD("no %s in __metadata__: not a nabla checkpoint", NB_ST_KEY_FORMAT);
    if (!json_is_string(ver) || strcmp(json_string_value(ver), NB_ST_FORMAT_VERSION) != 0)
        return BAD("unsupported format version %s (this build reads \"%s\")",
                   json_is_string(ver) ? shown(nm, json_string_value(ver)) : "(not a string)",
                   NB_ST_FORMAT_VERSION);
    size_t n = json_object_size(root) - 1, n_meta = json_object_size(meta);
    if (n > lim->max_tensors) return BAD("%zu tensors, over the limit of %zu", n, lim->max_tensors);
    if (n_meta > lim->max_meta)
        return BAD("%zu metadata entries, over the limit of %zu", n_meta, lim->max_meta);

    /* Sizes are bounded by the token count the prescan allowed. */
    uint64_t *off = malloc((n ? n : 1) * 2 * sizeof *off);
    st_span *sp = malloc((n ? n : 1) * sizeof *sp);
    st_kv *kv = malloc((n_meta ? n_meta : 1) * sizeof *kv);
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
    const char *key;
    json_t *e;
    json_object_foreach(root, key, e) {
        if (e == meta) continue;
        NB_CHECK(parse_tensor(s, key, e, data_bytes, &f->t[f->n], &off[2 * f->n]));
        sp[f->n] = (st_span){off[2 * f->n], off[2 * f->n + 1], &f->t[f->n]};
        f->by_name[f->n] = &f->t[f->n];
        f->n++;
    }
    /* The tensors must tile the data buffer: sorted by offset, each one
     * starts where the previous one ended, and the last ends at its end. */
    qsort(sp, n, sizeof *sp, span_cmp);
    uint64_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (sp[i].begin != at) {
            if (i == 0)
                st = BAD("tensor '%s' starts at data byte %llu, not 0 (a gap)",
                         shown(nm, sp[i].t->name), (unsigned long long)sp[i].begin);
            else
                st = BAD("tensor '%s' starts at data byte %llu, but '%s' ends at %llu (%s)",
                         shown(nm, sp[i].t->name), (unsigned long long)sp[i].begin,
                         shown(nm2, sp[i - 1].t->name), (unsigned long long)at,
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
    qsort(kv, nkv, sizeof *kv, kv_cmp);
    uint32_t want = header_digest(sp, n, kv, nkv);
    if (ST_CRC_DIFFERS(want, hcrc)) {
        st = BAD("header checksum mismatch: the header's content gives %08lx, %s says %08lx",
                 (unsigned long)want, NB_ST_KEY_HEADER_CRC, (unsigned long)hcrc);
        goto done;
    }
    qsort(f->by_name, n, sizeof *f->by_name, name_cmp);
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
    st_span *sp = NULL;
    nb_status st = NB_OK;
    nb_st_file *f = calloc(1, sizeof *f);
    if (!f) return NB_NOMEM("nb_st_read", sizeof *f);

    if (s->size < 8) {
        st = BAD("file is %llu bytes, too short for the 8-byte header length",
                 (unsigned long long)s->size);
        goto fail;
    }
    NB_CHECK(src_read(s, len8, 8));
    uint64_t n = get_u64(len8);
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
    uint32_t got = crc_bytes((uint32_t)crc32(0L, Z_NULL, 0), data, (size_t)data_bytes);
    if (ST_CRC_DIFFERS(got, crc)) {
        st = BAD("checksum mismatch: the data buffer gives %08lx, %s says %08lx",
                 (unsigned long)got, NB_ST_KEY_CRC, (unsigned long)crc);
        goto fail;
    }
    /* Decode in place (malloc's alignment suits float; every offset is a
     * multiple of 4 since the tensors tile the buffer from 0). */
    f->data = (float *)(void *)data;
    data = NULL;
    for (size_t i = 0; i < f->n; i++) {
        const st_span *p = &sp[i];
        float *dst = f->data + p->begin / 4;
        size_t count = (size_t)(p->end - p->begin) / 4;
        for (size_t j = 0; j < count; j++) {
            float v = f32_from_le((const unsigned char *)(dst + j));
            if (!isfinite(v)) {
                char nm[ST_SHOW_CAP];
                st = BAD("tensor '%s' element %zu is %s", shown(nm, p->t->name), j,
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
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NB_FAIL(NB_ERR_IO, "nb_st_read: cannot open %s: %s", path, strerror(errno));
    struct stat sb;
    nb_status st;
    /* A FIFO or device has no size to check against, and could block. */
    if (fstat(fd, &sb) != 0)
        st = NB_FAIL(NB_ERR_IO, "nb_st_read: fstat %s: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = NB_FAIL(NB_ERR_IO, "nb_st_read: %s is not a regular file", path);
    else {
        st_src s = {.name = path, .fd = fd, .size = (uint64_t)sb.st_size};
        st = st_read(&s, lim, out);
    }
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
    const nb_st_tensor **hit = bsearch(&pk, f->by_name, f->n, sizeof *f->by_name, name_cmp);
    return hit ? *hit : NULL;
}

void nb_st_meta(const nb_st_file *f, const char *const **keys, const char *const **vals,
                size_t *n)
{
    if (keys) *keys = f ? (const char *const *)f->keys : NULL;
    if (vals) *vals = f ? (const char *const *)f->vals : NULL;
    if (n) *n = f ? f->n_meta : 0;
}

const char *nb_st_meta_get(const nb_st_file *f, const char *key)
{
    if (!f || !key) return NULL;
    return json_string_value(json_object_get(json_object_get(f->root, "__metadata__"), key));
}
