/*
 * safetensors_test.c — host/ckpt: nb_st_write / nb_st_read and the atomic
 * file underneath.
 *
 * Round trips (write -> read -> write is byte-identical), every truncation
 * and every single-bit flip of a small checkpoint, hand-crafted malformed
 * headers (each with correct checksums, so that the check under test is
 * the one that fires: the expected message proves it), plain files from
 * other writers (no nabla metadata, so no checksums), and saves that
 * fail at every write and fsync step.
 *
 * With arguments it is also the C side of tests/ckpt/st_check.py:
 *   test_safetensors write-known PATH   write the known checkpoint
 *   test_safetensors dump PATH          print a checkpoint as JSON
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <zlib.h>

#include "ckpt/atomic_file.h"
#include "ckpt/safetensors.h"

#define SEED 20240611u

/* ------------------------------------------------------------ helpers */

static char tmp_dir[512];

static int setup_dir(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/nb_st_XXXXXX", t && *t ? t : "/tmp");
    return mkdtemp(tmp_dir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    DIR *d = opendir(tmp_dir);
    struct dirent *e;
    char p[1024];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", tmp_dir, e->d_name);
            unlink(p);
        }
    if (d) closedir(d);
    return rmdir(tmp_dir);
}

static const char *tmp_path(const char *name)
{
    static char p[1024];
    snprintf(p, sizeof p, "%s/%s", tmp_dir, name);
    return p;
}

/* Entries in tmp_dir other than . and .. */
static int dir_entries(void)
{
    DIR *d = opendir(tmp_dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d) closedir(d);
    return n;
}

static unsigned char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    /* NUL-terminated, so the header can be searched as a string. */
    unsigned char *b = malloc(n > 0 ? (size_t)n + 1 : 1);
    *size = b ? fread(b, 1, (size_t)n, f) : 0;
    if (b) b[*size] = '\0';
    fclose(f);
    return b;
}

static void spit(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static uint64_t rng_state = SEED;
static uint32_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* Any finite float, bit patterns drawn uniformly: covers -0, subnormals
 * and the extremes, which a bit-exact round trip must keep. */
static float rng_float(void)
{
    for (;;) {
        uint32_t u = rng_next();
        float f;
        memcpy(&f, &u, 4);
        if (isfinite(f)) return f;
    }
}

#define OK(call)                                                                                   \
    do {                                                                                           \
        nb_status ok_st_ = (call);                                                                 \
        if (ok_st_ != NB_OK) {                                                                     \
            fprintf(stderr, "%s:%d: %s: %s: %s\n", __FILE__, __LINE__, #call,                      \
                    nb_status_str(ok_st_), nb_last_error());                                       \
            _fail(__FILE__, __LINE__);                                                             \
        }                                                                                          \
    } while (0)

/* A failed call: exact status and needle in the message. */
#define FAILS(call, want, needle) fails_at(__FILE__, __LINE__, (call), (want), (needle))
static void fails_at(const char *file, int line, nb_status got, nb_status want, const char *needle)
{
    if (got != want || !strstr(nb_last_error(), needle)) {
        fprintf(stderr, "%s:%d: got %s \"%s\", want %s with \"%s\"\n", file, line,
                nb_status_str(got), nb_last_error(), nb_status_str(want), needle);
        _fail(file, line);
    }
}

/* f holds exactly tensors t (n) and metadata keys/vals (m), in order. */
static void expect_content(const nb_st_file *f, const nb_st_tensor *t, size_t n,
                           const char *const *keys, const char *const *vals, size_t m)
{
    size_t fn, fm;
    const nb_st_tensor *ft = nb_st_tensors(f, &fn);
    const char *const *fk, *const *fv;
    assert_int_equal(fn, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(ft[i].name, t[i].name);
        assert_int_equal(ft[i].ndim, t[i].ndim);
        for (int k = 0; k < t[i].ndim; k++) assert_int_equal(ft[i].shape[k], t[i].shape[k]);
        size_t c = nb_st_numel(&t[i]);
        assert_int_equal(nb_st_numel(&ft[i]), c);
        if (c) assert_memory_equal(ft[i].data, t[i].data, c * sizeof(float)); /* bit-exact */
        assert_ptr_equal(nb_st_find(f, t[i].name), &ft[i]);
    }
    nb_st_meta(f, &fk, &fv, &fm);
    assert_int_equal(fm, m);
    for (size_t i = 0; i < m; i++) {
        assert_string_equal(fk[i], keys[i]);
        assert_string_equal(fv[i], vals[i]);
        assert_string_equal(nb_st_meta_get(f, keys[i]), vals[i]);
    }
}

/* Same tensors and metadata (nabla's keys included) in a and b? */
static int same_content(const nb_st_file *a, const nb_st_file *b)
{
    size_t na, nb, ma, mb;
    const nb_st_tensor *ta = nb_st_tensors(a, &na), *tb = nb_st_tensors(b, &nb);
    const char *const *ka, *const *va, *const *kb, *const *vb;
    nb_st_meta(a, &ka, &va, &ma);
    nb_st_meta(b, &kb, &vb, &mb);
    if (na != nb || ma != mb) return 0;
    for (size_t i = 0; i < na; i++) {
        size_t c = nb_st_numel(&ta[i]);
        if (strcmp(ta[i].name, tb[i].name) || ta[i].ndim != tb[i].ndim ||
            memcmp(ta[i].shape, tb[i].shape, (size_t)ta[i].ndim * sizeof(int64_t)) ||
            nb_st_numel(&tb[i]) != c || (c && memcmp(ta[i].data, tb[i].data, 4 * c)))
            return 0;
    }
    for (size_t i = 0; i < ma; i++)
        if (strcmp(ka[i], kb[i]) || strcmp(va[i], vb[i])) return 0;
    const char *res[] = {NB_ST_KEY_FORMAT, NB_ST_KEY_CRC, NB_ST_KEY_HEADER_CRC};
    for (int i = 0; i < 3; i++)
        if (strcmp(nb_st_meta_get(a, res[i]), nb_st_meta_get(b, res[i]))) return 0;
    return 1;
}

/* --------------------------------------------------------- fixtures */

static const float W[12] = {-1.25f, -1.0f, -0.75f, -0.5f, -0.25f, 0.0f,
                            0.25f,  0.5f,  0.75f,  1.0f,  1.25f, 1.5f};
static const float B4[4] = {-1.0f, -0.5f, 0.0f, 0.5f};
static const float STEP = 42.0f, U2[2] = {1.5f, -2.25f}, ONE = -0.0f;

/* The known checkpoint, also checked from Python (st_check.py). */
static const nb_st_tensor KNOWN[] = {
    {"layer.0.weight", 2, {3, 4}, W},
    {"layer.0.bias", 1, {4}, B4},
    {"step", 0, {0}, &STEP},
    {"empty", 2, {0, 3}, NULL},
    {"unicodé-名前 😀", 1, {2}, U2},
    {"one", 1, {1}, &ONE},
};
#define N_KNOWN (sizeof KNOWN / sizeof KNOWN[0])
static const char *const KNOWN_KEYS[] = {"epoch", "note", "zz.last"};
static const char *const KNOWN_VALS[] = {"12", "ünïcode ✓ \"quoted\"\n\ttab", ""};

static void write_known(const char *path)
{
    OK(nb_st_write(path, KNOWN, N_KNOWN, KNOWN_KEYS, KNOWN_VALS, 3));
}

/* ------------------------------------------------------- round trips */

/* write -> read (equal) -> write from what was read (byte-identical). */
static void round_trip(const nb_st_tensor *t, size_t n, const char *const *k,
                       const char *const *v, size_t m)
{
    const char *p1 = strdup(tmp_path("a.safetensors")), *p2 = strdup(tmp_path("b.safetensors"));
    nb_st_file *f = NULL, *g = NULL;
    OK(nb_st_write(p1, t, n, k, v, m));
    OK(nb_st_read(p1, NULL, &f));
    expect_content(f, t, n, k, v, m);
    size_t fn, fm, s1, s2;
    const nb_st_tensor *ft = nb_st_tensors(f, &fn);
    const char *const *fk, *const *fv;
    nb_st_meta(f, &fk, &fv, &fm);
    OK(nb_st_write(p2, ft, fn, fk, fv, fm));
    unsigned char *b1 = slurp(p1, &s1), *b2 = slurp(p2, &s2);
    assert_non_null(b1);
    assert_non_null(b2);
    assert_int_equal(s1, s2);
    assert_memory_equal(b1, b2, s1);
    /* Data 8-byte aligned, header padded with spaces. */
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | b1[i];
    assert_int_equal(hl % 8, 0);
    assert_true(b1[8] == '{');
    /* The same bytes from memory give the same content. */
    OK(nb_st_read_mem("mem", b1, s1, NULL, &g));
    assert_true(same_content(f, g));
    assert_null(nb_st_find(f, "no such tensor"));
    assert_string_equal(nb_st_meta_get(f, NB_ST_KEY_FORMAT), "1");
    nb_st_free(f);
    nb_st_free(g);
    free(b1);
    free(b2);
    free((void *)p1);
    free((void *)p2);
    assert_int_equal(dir_entries(), 2); /* no temp files left */
}

static void test_round_trip_known(void **state)
{
    (void)state;
    round_trip(KNOWN, N_KNOWN, KNOWN_KEYS, KNOWN_VALS, 3);
}

static void test_round_trip_empty(void **state)
{
    (void)state;
    round_trip(NULL, 0, NULL, NULL, 0);
    static const nb_st_tensor z[] = {{"z", 1, {0}, NULL}};
    round_trip(z, 1, NULL, NULL, 0);
}

/* Hundreds of tensors of every rank, random bit patterns (−0,
 * subnormals, ±FLT_MAX), data > 64 KiB so that chunking is crossed. */
static void test_round_trip_many(void **state)
{
    (void)state;
    enum { N = 300, M = 40 };
    print_message("seed %u\n", SEED);
    rng_state = SEED;
    nb_st_tensor t[N];
    char names[N][32], kbuf[M][16], vbuf[M][32];
    const char *keys[M], *vals[M];
    float *bufs[N];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "block.%03d/%s", (i * 7919) % N, i % 2 ? "w" : "b");
        t[i] = (nb_st_tensor){.name = names[i], .ndim = (int)(rng_next() % 5)};
        for (int k = 0; k < t[i].ndim; k++) t[i].shape[k] = 1 + rng_next() % (k == 0 ? 40 : 6);
        if (i == 7) t[i].shape[0] = 0, t[i].ndim = t[i].ndim ? t[i].ndim : 1;
        size_t c = nb_st_numel(&t[i]);
        bufs[i] = malloc((c ? c : 1) * sizeof(float));
        for (size_t j = 0; j < c; j++) bufs[i][j] = rng_float();
        if (c > 1) bufs[i][0] = FLT_MAX, bufs[i][1] = -FLT_MIN / 4;
        t[i].data = bufs[i];
    }
    for (int i = 0; i < M; i++) {
        snprintf(kbuf[i], sizeof kbuf[i], "k%02d", (i * 17) % M);
        snprintf(vbuf[i], sizeof vbuf[i], "%u", rng_next());
        keys[i] = kbuf[i], vals[i] = vbuf[i];
    }
    round_trip(t, N, keys, vals, M);
    for (int i = 0; i < N; i++) free(bufs[i]);
}

static void test_write_errors(void **state)
{
    (void)state;
    const char *p = tmp_path("w.safetensors");
    float bad[6] = {1, 2, 3, 4, 5, NAN};
    nb_st_tensor t[2] = {{"a", 1, {2}, B4}, {"b", 2, {2, 3}, bad}};
    FAILS(nb_st_write(p, t, 2, NULL, NULL, 0), NB_ERR_NONFINITE, "tensor 'b' element 5 is NaN");
    bad[5] = 5, bad[2] = -INFINITY;
    FAILS(nb_st_write(p, t, 2, NULL, NULL, 0), NB_ERR_NONFINITE, "tensor 'b' element 2 is Inf");
    assert_int_equal(dir_entries(), 0); /* nothing written */
    bad[2] = 3;

    /* A refused save leaves an existing file alone. */
    write_known(p);
    size_t s0, s1;
    unsigned char *before = slurp(p, &s0);
    bad[0] = NAN;
    FAILS(nb_st_write(p, t, 2, NULL, NULL, 0), NB_ERR_NONFINITE, "element 0 is NaN");
    unsigned char *after = slurp(p, &s1);
    assert_int_equal(s0, s1);
    assert_memory_equal(before, after, s0);
    free(before);
    free(after);
    bad[0] = 1;

    const char *k1[] = {"x", "nabla.crc32"}, *k2[] = {"x", "x"}, *v[] = {"1", "2"};
    FAILS(nb_st_write(p, t, 2, k1, v, 2), NB_ERR_ARG, "reserved");
    FAILS(nb_st_write(p, t, 2, k2, v, 2), NB_ERR_ARG, "'x' appears twice");
    const char *k3[] = {""}, *k4[] = {"\xff"}, *v0[] = {NULL};
    FAILS(nb_st_write(p, t, 2, k3, v, 1), NB_ERR_ARG, "empty key");
    FAILS(nb_st_write(p, t, 2, k4, v, 1), NB_ERR_ARG, "UTF-8");
    FAILS(nb_st_write(p, t, 2, k2, v0, 1), NB_ERR_ARG, "NULL value");
    nb_st_tensor d[2] = {{"a", 1, {2}, B4}, {"a", 1, {2}, B4}};
    FAILS(nb_st_write(p, d, 2, NULL, NULL, 0), NB_ERR_ARG, "two tensors are named 'a'");
    nb_st_tensor e[] = {{"", 1, {2}, B4}, {"__metadata__", 1, {2}, B4}, {"a", 5, {1}, B4},
                        {"a", -1, {1}, B4}, {"a", 2, {2, -1}, B4}, {"a", 1, {2}, NULL},
                        {"a\xc0\x80", 1, {2}, B4}, {NULL, 1, {2}, B4},
                        {"a", 4, {INT64_MAX, INT64_MAX, 2, 2}, B4}};
    const char *why[] = {"no name", "reserved", "ndim 5", "ndim -1", "dim 1 is negative",
                         "data is NULL", "UTF-8", "no name", "overflow"};
    for (size_t i = 0; i < sizeof e / sizeof e[0]; i++)
        FAILS(nb_st_write(p, &e[i], 1, NULL, NULL, 0), NB_ERR_ARG, why[i]);
    FAILS(nb_st_write(NULL, t, 1, NULL, NULL, 0), NB_ERR_ARG, "NULL");
    /* The save's lock file is the first thing it creates. */
    FAILS(nb_st_write(tmp_path("no/such/dir/x"), t, 1, NULL, NULL, 0), NB_ERR_IO,
          "cannot create lock file");
    assert_int_equal(dir_entries(), 1);
}

/* ---------------------------------------------- corruption of a file */

static unsigned char *known_bytes(size_t *size)
{
    const char *p = tmp_path("known.safetensors");
    write_known(p);
    unsigned char *b = slurp(p, size);
    assert_non_null(b);
    unlink(p);
    return b;
}

static void test_truncations(void **state)
{
    (void)state;
    size_t size;
    unsigned char *b = known_bytes(&size);
    nb_st_file *f = NULL;
    for (size_t n = 0; n < size; n++) {
        nb_status st = nb_st_read_mem("cut", b, n, NULL, &f);
        if (st != NB_ERR_DATA || f) {
            fprintf(stderr, "prefix %zu of %zu: %s %s\n", n, size, nb_status_str(st),
                    nb_last_error());
            fail();
        }
        if (n % 13 == 0) { /* the file path too, on a sample */
            spit(tmp_path("cut"), b, n);
            assert_int_equal(nb_st_read(tmp_path("cut"), NULL, &f), NB_ERR_DATA);
            assert_null(f);
        }
    }
    OK(nb_st_read_mem("whole", b, size, NULL, &f));
    nb_st_free(f);
    free(b);
}

/* Every single-bit flip: payload flips must all fail the data checksum;
 * header flips must fail, or (JSON spelling only, e.g. an escape) give
 * exactly the original content. */
static void test_bit_flips(void **state)
{
    (void)state;
    size_t size;
    unsigned char *b = known_bytes(&size);
    nb_st_file *orig = NULL, *f = NULL;
    OK(nb_st_read_mem("orig", b, size, NULL, &orig));
    size_t data_at = 8;
    for (int i = 7; i >= 0; i--) data_at += (size_t)b[i] << (8 * i);
    size_t rejected = 0, same = 0;
    for (size_t i = 0; i < size; i++)
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (unsigned char)(1u << bit);
            nb_status st = nb_st_read_mem("flip", b, size, NULL, &f);
            int ok;
            if (st == NB_OK) {
                ok = i < data_at && same_content(orig, f);
                same += (size_t)ok;
            } else if (i >= data_at) {
                ok = st == NB_ERR_DATA && strstr(nb_last_error(), "checksum mismatch") != NULL;
            } else {
                ok = st == NB_ERR_DATA && !f;
                rejected += (size_t)ok;
            }
            if (!ok) {
                fprintf(stderr, "flip byte %zu bit %d (data at %zu): %s %s\n", i, bit, data_at,
                        nb_status_str(st), st ? nb_last_error() : "accepted with other content");
                fail();
            }
            nb_st_free(f);
            f = NULL;
            b[i] ^= (unsigned char)(1u << bit);
        }
    print_message("%zu header flips rejected, %zu harmless; %zu payload flips rejected\n",
                  rejected, same, 8 * (size - data_at));
    nb_st_free(orig);
    free(b);
}

/* ---------------------------------------------------- crafted files */

/* The first needle in h (n bytes), or NULL. */
static char *find(char *h, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(h + i, needle, k)) return h + i;
    return NULL;
}

/* Put the right "nabla.crc32" and "nabla.header_crc32" into a crafted
 * file (in place, where an 8-character value is already there), so that
 * the file fails only where the test means it to. Tolerates headers it
 * cannot fully understand: it fixes what it can. */
static void refresh_crcs(unsigned char *b, size_t size)
{
    size_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | b[i];
    char *h = (char *)b + 8;
    uLong crc = crc32(crc32(0L, Z_NULL, 0), b + 8 + n, (uInt)(size - 8 - n));
    char hex[9], *at;
    snprintf(hex, sizeof hex, "%08lx", crc);
    if ((at = find(h, n, "\"nabla.crc32\":\"")) && at + 24 <= h + n && at[23] == '"') memcpy(at + 15, hex, 8);
    json_t *root = json_loadb(h, n, 0, NULL), *meta = json_object_get(root, "__metadata__");
    nb_st_tensor t[16];
    uint64_t off[32];
    const char *keys[16], *vals[16], *key;
    size_t nt = 0, nm = 0;
    json_t *e;
    json_object_foreach(root, key, e) {
        json_t *sh = json_object_get(e, "shape"), *of = json_object_get(e, "data_offsets");
        if (e == meta || nt == 16) continue;
        t[nt] = (nb_st_tensor){.name = key, .ndim = (int)json_array_size(sh)};
        for (int k = 0; k < t[nt].ndim && k < 4; k++)
            t[nt].shape[k] = json_integer_value(json_array_get(sh, (size_t)k));
        off[2 * nt] = (uint64_t)json_integer_value(json_array_get(of, 0));
        off[2 * nt + 1] = (uint64_t)json_integer_value(json_array_get(of, 1));
        nt++;
    }
    json_object_foreach(meta, key, e) if (nm < 16 && json_is_string(e)) {
        keys[nm] = key;
        vals[nm++] = json_string_value(e);
    }
    uint32_t hc;
    if (nb_st_header_crc(t, off, nt, keys, vals, nm, &hc) == NB_OK) {
        snprintf(hex, sizeof hex, "%08lx", (unsigned long)hc);
        if ((at = find(h, n, "\"nabla.header_crc32\":\"")) && at + 31 <= h + n && at[30] == '"')
            memcpy(at + 22, hex, 8);
    }
    json_decref(root);
}

#define META(extra) "\"__metadata__\":{" extra "\"nabla.format\":\"1\",\"nabla.crc32\":\"00000000\"," \
                    "\"nabla.header_crc32\":\"00000000\"}"

/* File = u64 len | header | data (nd bytes), checksums refreshed; then
 * read it with limits lim (NULL: defaults). */
static nb_status load_crafted(const char *header, const void *data, size_t nd,
                              const nb_st_limits *lim, nb_st_file **f)
{
    size_t hn = strlen(header), size = 8 + hn + nd;
    unsigned char *b = malloc(size + 1);
    b[size] = '\0';
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hn >> (8 * i));
    memcpy(b + 8, header, hn);
    if (nd) memcpy(b + 8 + hn, data, nd);
    refresh_crcs(b, size);
    nb_status st = nb_st_read_mem("crafted", b, size, lim, f);
    free(b);
    return st;
}

static const float D3[4] = {1.0f, 2.0f, 3.0f, 4.0f}; /* up to 16 bytes of data */

#define CRAFT_FAILS(hdr, data, nd, needle)                                                         \
    do {                                                                                           \
        nb_st_file *cf_ = NULL;                                                                    \
        FAILS(load_crafted((hdr), (data), (nd), NULL, &cf_), NB_ERR_DATA, (needle));               \
        assert_null(cf_);                                                                          \
    } while (0)

static void test_crafted_valid(void **state)
{
    (void)state;
    /* Another writer's spelling: metadata last, keys reordered, tensors
     * not in data order, whitespace, escapes, no padding. */
    const char *h = "{ \"b\" : {\"data_offsets\":[4,12],\"shape\":[2],\"dtype\":\"F32\"},\n"
                    "\"\\u0061\":{\"shape\":[],\"dtype\":\"F32\",\"data_offsets\":[0,4]},"
                    "\"z\":{\"dtype\":\"F32\",\"shape\":[0,7],\"data_offsets\":[12,12]},"
                    META("\"m\":\"\\u00e9\",") "}";
    nb_st_file *f = NULL;
    OK(load_crafted(h, D3, 12, NULL, &f));
    const nb_st_tensor *a = nb_st_find(f, "a"), *bt = nb_st_find(f, "b");
    assert_non_null(a);
    assert_non_null(bt);
    assert_int_equal(a->ndim, 0);
    assert_true(a->data[0] == 1.0f && bt->data[0] == 2.0f && bt->data[1] == 3.0f);
    assert_string_equal(nb_st_meta_get(f, "m"), "é");
    nb_st_free(f);
}

/* Files from other writers: no __metadata__, or one without any nabla.*
 * key, are read as plain safetensors, with every check but the checksums
 * they do not carry; a nabla.* key without nabla.format is refused. */
static void test_plain_files(void **state)
{
    (void)state;
    const char *ab = "{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]},"
                     "\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}";
    char h[512];
    nb_st_file *f = NULL;
    size_t n = 0;
    const char *const *keys, *const *vals;
    /* No __metadata__ at all, and padded as Python's writer pads. */
    snprintf(h, sizeof h, "%s}   ", ab);
    OK(load_crafted(h, D3, 12, NULL, &f));
    assert_int_equal(nb_st_is_nabla(f), 0);
    nb_st_tensors(f, &n);
    assert_int_equal(n, 2);
    assert_true(nb_st_find(f, "a")->data[0] == 1.0f && nb_st_find(f, "b")->data[1] == 3.0f);
    nb_st_meta(f, &keys, &vals, &n);
    assert_int_equal(n, 0);
    assert_null(nb_st_meta_get(f, NB_ST_KEY_FORMAT));
    nb_st_free(f);
    /* Another writer's metadata is kept and listed. */
    snprintf(h, sizeof h, "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"\"},%s}", ab + 1);
    OK(load_crafted(h, D3, 12, NULL, &f));
    assert_int_equal(nb_st_is_nabla(f), 0);
    nb_st_meta(f, &keys, &vals, &n);
    assert_int_equal(n, 2);
    assert_string_equal(keys[0], "format");
    assert_string_equal(vals[0], "pt");
    assert_string_equal(nb_st_meta_get(f, "format"), "pt");
    nb_st_free(f);
    /* Empty metadata, and no tensors at all. */
    OK(load_crafted("{\"__metadata__\":{}}", NULL, 0, NULL, &f));
    assert_int_equal(nb_st_is_nabla(f), 0);
    nb_st_free(f);
    OK(load_crafted("{}", NULL, 0, NULL, &f));
    nb_st_free(f);
    /* A nabla file is one. */
    snprintf(h, sizeof h, "%s," META("") "}", ab);
    OK(load_crafted(h, D3, 12, NULL, &f));
    assert_int_equal(nb_st_is_nabla(f), 1);
    nb_st_free(f);
    /* Every other rule still holds without checksums. */
    static const float nan3[3] = {1.0f, NAN, 2.0f};
    CRAFT_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", nan3, 12,
                "tensor 'a' element 1 is NaN");
    CRAFT_FAILS("{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", D3, 8,
                "tensor 'a': unsupported dtype 'F64'");
    CRAFT_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", D3, 8,
                "starts at data byte 4, not 0");
    CRAFT_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", D3, 8,
                "trailing bytes");
    CRAFT_FAILS("{\"__metadata__\":{\"k\":1},\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
                "\"data_offsets\":[0,4]}}", D3, 4, "metadata 'k' is not a string");
    /* A nabla file that lost its version is damaged, not plain. */
    CRAFT_FAILS("{\"__metadata__\":{\"nabla.kind\":\"model\"},\"a\":{\"dtype\":\"F32\","
                "\"shape\":[1],\"data_offsets\":[0,4]}}", D3, 4, "no nabla.format");
}

static void test_crafted_malformed(void **state)
{
    (void)state;
    const float nan_data[3] = {1.0f, NAN, 2.0f}, inf_data[1] = {INFINITY};
#define T1(o) "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":" o "},"
#define T2(o) "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":" o "},"
    CRAFT_FAILS(T1("[0,4]") T2("[0,8]") META("") "}", D3, 12, "overlap");
    CRAFT_FAILS(T1("[0,4]") T2("[8,16]") META("") "}", D3, 16, "a gap");
    CRAFT_FAILS(T1("[4,8]") T2("[8,16]") META("") "}", D3, 16, "starts at data byte 4, not 0 (a gap)");
    CRAFT_FAILS(T1("[0,4]") META("") "}", D3, 8, "trailing bytes");
    CRAFT_FAILS(T1("[0,4]") META("") "}", D3, 0, "more elements than the file holds");
    CRAFT_FAILS(T1("[4,8]") META("") "}", D3, 4, "not a range");
    CRAFT_FAILS(T1("[0,8]") META("") "}", D3, 8, "span 8 bytes but the shape needs 4");
    CRAFT_FAILS(T1("[4,0]") META("") "}", D3, 4, "not a range");
    CRAFT_FAILS(T1("[-4,0]") META("") "}", D3, 4, "data_offsets[0] is not an integer >= 0");
    CRAFT_FAILS(T1("[0,4.0]") META("") "}", D3, 4, "data_offsets[1] is not an integer >= 0");
    CRAFT_FAILS(T1("[0,1e1]") META("") "}", D3, 4, "data_offsets[1] is not an integer");
    CRAFT_FAILS(T1("[0]") META("") "}", D3, 4, "two integers");
    CRAFT_FAILS(T1("[0,4,8]") META("") "}", D3, 4, "two integers");
    CRAFT_FAILS(T1("[0,18446744073709551620]") META("") "}", D3, 4, "too big integer");
    CRAFT_FAILS("{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}," META("") "}",
                D3, 4, "unsupported dtype 'F16'");
    CRAFT_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}," META("") "}",
                D3, 4, "exactly dtype, shape and data_offsets");
    CRAFT_FAILS("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}," META("") "}", D3, 4, "exactly");
    CRAFT_FAILS("{\"a\":[1]," META("") "}", D3, 4, "exactly");
    CRAFT_FAILS("{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}," META("") "}", D3, 4,
                "dtype is not a string");
    CRAFT_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}," META("") "}",
                D3, 4, "shape[0] is not an integer");
    CRAFT_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}," META("") "}",
                D3, 4, "shape[0] is not an integer");
    CRAFT_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}," META("") "}", D3,
                4, "shape must be an array");
    CRAFT_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}," META("") "}",
                D3, 4, "at most 4");
    CRAFT_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]},"
                META("") "}", D3, 4, "more elements than the file holds");
    CRAFT_FAILS("{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}," META("") "}", D3,
                4, "empty name");
    CRAFT_FAILS(T1("[0,4]") "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                META("") "}", D3, 4, "duplicate object key");
    CRAFT_FAILS(T1("[0,4]") META("\"k\":\"1\",\"k\":\"2\",") "}", D3, 4, "duplicate object key");
    CRAFT_FAILS(T1("[0,4]") META("\"k\":1,") "}", D3, 4, "metadata 'k' is not a string");
    CRAFT_FAILS(T1("[0,4]") META("\"k\":null,") "}", D3, 4, "not a string");
    CRAFT_FAILS(T1("[0,4]") META("\"\":\"x\",") "}", D3, 4, "empty key");
    CRAFT_FAILS(T1("[0,4]") "\"__metadata__\":{\"nabla.format\":\"1\"}}", D3, 4,
                "nabla.crc32 is missing");
    CRAFT_FAILS(T1("[0,4]") "\"__metadata__\":{\"nabla.format\":\"1\",\"nabla.crc32\":\"0000000\"}}",
                D3, 4, "nabla.crc32 is missing or not 8 lowercase hex");
    CRAFT_FAILS(T1("[0,4]") "\"__metadata__\":{\"nabla.format\":\"1\",\"nabla.crc32\":\"00000000\"}}",
                D3, 4, "nabla.header_crc32 is missing");
    CRAFT_FAILS(T1("[0,4]") "\"__metadata__\":{\"nabla.crc32\":\"00000000\"}}", D3, 4,
                "no nabla.format");
    CRAFT_FAILS(T1("[0,4]") "\"__metadata__\":{\"nabla.format\":\"2\"}}", D3, 4,
                "unsupported format version 2");
    CRAFT_FAILS(T1("[0,4]") "\"__metadata__\":{\"nabla.format\":1}}", D3, 4,
                "unsupported format version (not a string)");
    CRAFT_FAILS(T1("[0,4]") "\"__metadata__\":[]}", D3, 4, "__metadata__ is not an object");
    CRAFT_FAILS(T1("[0,4]") "\"__metadata__\":null}", D3, 4, "__metadata__ is not an object");
    CRAFT_FAILS("[1,2]", D3, 4, "not a JSON object");
    CRAFT_FAILS("{\"a\":1", D3, 4, "bad header JSON at file byte");
    CRAFT_FAILS("{\"a\xff\":1}", D3, 4, "bad header JSON");
    CRAFT_FAILS("{\"a\":1}\x01", D3, 4, "bad header JSON");
    /* Right checksums, wrong values: still refused. */
    CRAFT_FAILS("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}," META("") "}",
                nan_data, 12, "tensor 'a' element 1 is NaN");
    CRAFT_FAILS(T1("[0,4]") META("") "}", inf_data, 4, "tensor 'a' element 0 is Inf");
    /* Nesting: a bomb, and one level too deep for the schema. */
    size_t nb = 100000;
    char *bomb = malloc(2 * nb + 1);
    memset(bomb, '[', nb);
    memset(bomb + nb, ']', nb);
    bomb[2 * nb] = '\0';
    CRAFT_FAILS(bomb, D3, 4, "deeper than 3 levels at file byte 11");
    memset(bomb, '{', nb);
    CRAFT_FAILS(bomb, D3, 4, "deeper than 3 levels");
    free(bomb);
    CRAFT_FAILS("{\"a\":{\"b\":{\"c\":{}}}}", D3, 4, "deeper than 3 levels at file byte 23");
    /* Brackets inside strings are text, not nesting. */
    CRAFT_FAILS(T1("[0,4]") META("\"[[[\\\"{{{\":\"]]]}\",") "}", D3, 8, "trailing bytes");
}

static void test_checksums(void **state)
{
    (void)state;
    size_t size;
    unsigned char *b = known_bytes(&size);
    nb_st_file *f = NULL;
    char *at = strstr((char *)b + 8, "\"epoch\":\"12\"");
    assert_non_null(at);
    at[10] = '3'; /* a metadata value changes: only the header checksum tells */
    FAILS(nb_st_read_mem("m", b, size, NULL, &f), NB_ERR_DATA, "header checksum mismatch");
    at[10] = '2';
    b[size - 1] ^= 0x40; /* data: the data checksum */
    FAILS(nb_st_read_mem("m", b, size, NULL, &f), NB_ERR_DATA, "checksum mismatch: the data");
    b[size - 1] ^= 0x40;
    /* Only the writer's spelling of a checksum: 8 lowercase hex digits. */
    at = strstr((char *)b + 8, "\"nabla.crc32\":\"") + 15;
    char saved = at[0];
    at[0] = isdigit((unsigned char)saved) ? 'g' : (char)toupper((unsigned char)saved);
    FAILS(nb_st_read_mem("m", b, size, NULL, &f), NB_ERR_DATA, "not 8 lowercase hex digits");
    at[0] = saved;
    OK(nb_st_read_mem("m", b, size, NULL, &f));
    nb_st_free(f);
    free(b);
}

static void test_sizes_and_limits(void **state)
{
    (void)state;
    unsigned char b[64] = {0};
    nb_st_file *f = NULL;
    FAILS(nb_st_read_mem("s", b, 7, NULL, &f), NB_ERR_DATA, "too short");
    uint64_t lens[] = {(uint64_t)1 << 63, UINT64_MAX, 64 - 8 + 1, 0, 1};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        for (int k = 0; k < 8; k++) b[k] = (unsigned char)(lens[i] >> (8 * k));
        FAILS(nb_st_read_mem("s", b, sizeof b, NULL, &f), NB_ERR_DATA, "header length");
        assert_null(f);
    }
    /* Limits, each just under and just over a valid file's needs. */
    const char *h = T1("[0,4]") T2("[4,12]") META("\"k\":\"v\",") "}";
    nb_st_limits lim;
    nb_st_limits_default(&lim);
    assert_int_equal(lim.max_header, 1 << 20);
    lim.max_tensors = 2, lim.max_meta = 4, lim.max_data = 12, lim.max_header = strlen(h);
    OK(load_crafted(h, D3, 12, &lim, &f));
    nb_st_free(f);
    f = NULL;
    lim.max_header--;
    FAILS(load_crafted(h, D3, 12, &lim, &f), NB_ERR_DATA, "header length");
    lim.max_header++, lim.max_tensors = 1;
    FAILS(load_crafted(h, D3, 12, &lim, &f), NB_ERR_DATA, "2 tensors, over the limit of 1");
    lim.max_tensors = 2, lim.max_meta = 3;
    FAILS(load_crafted(h, D3, 12, &lim, &f), NB_ERR_DATA, "4 metadata entries, over");
    lim.max_meta = 4, lim.max_data = 11;
    FAILS(load_crafted(h, D3, 12, &lim, &f), NB_ERR_DATA, "over the limit");
    /* The token bound: many values in few bytes. */
    lim.max_data = UINT64_MAX, lim.max_tensors = 0, lim.max_meta = 0;
    FAILS(load_crafted("{\"a\":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}", D3, 0, &lim, &f),
          NB_ERR_DATA, "more than 16 values");
    /* Files: missing, a directory. */
    FAILS(nb_st_read(tmp_path("missing"), NULL, &f), NB_ERR_IO, "cannot open");
    FAILS(nb_st_read(tmp_dir, NULL, &f), NB_ERR_IO, "not a regular file");
    FAILS(nb_st_read(NULL, NULL, &f), NB_ERR_ARG, "NULL");
    FAILS(nb_st_read_mem("x", NULL, 3, NULL, &f), NB_ERR_ARG, "NULL");
    nb_st_free(NULL);
    size_t n = 7;
    assert_null(nb_st_tensors(NULL, &n));
    assert_int_equal(n, 0);
    assert_null(nb_st_find(NULL, "a"));
    assert_null(nb_st_meta_get(NULL, "a"));
}

/* ------------------------------------------------------ atomic saves */

/* A set big enough for several write calls (data > 2 chunks). */
static float *big_data(size_t n, float scale)
{
    float *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = scale * (float)i;
    return d;
}

static void test_atomic_faults(void **state)
{
    (void)state;
    const char *p = strdup(tmp_path("ckpt.safetensors"));
    enum { N = 40000 };
    float *d_old = big_data(N, 1.0f), *d_new = big_data(N, -0.5f);
    nb_st_tensor t_old = {"w", 1, {N}, d_old}, t_new = {"w", 2, {N / 4, 4}, d_new};
    const char *k[] = {"epoch"}, *v_old[] = {"1"}, *v_new[] = {"2"};

    /* The new file's expected bytes, and how many calls of each kind a
     * save over an existing file makes (only that one carries a mode). */
    OK(nb_st_write(p, &t_old, 1, k, v_old, 1));
    nb_atomic_reset_faults();
    OK(nb_st_write(p, &t_new, 1, k, v_new, 1));
    long calls[NB_ATOMIC_N_OPS];
    for (int op = 0; op < NB_ATOMIC_N_OPS; op++) calls[op] = nb_atomic_op_count((nb_atomic_op)op);
    assert_true(calls[NB_ATOMIC_WRITE] >= 3);
    assert_int_equal(calls[NB_ATOMIC_LOCK], 1);
    assert_int_equal(calls[NB_ATOMIC_MODE], 1);
    size_t s_new, s_old, s;
    unsigned char *b_new = slurp(p, &s_new);
    OK(nb_st_write(p, &t_old, 1, k, v_old, 1));
    unsigned char *b_old = slurp(p, &s_old);

    static const char *names[] = {"open", "write", "fsync", "close", "rename", "dirsync", "lock", "mode"};
    for (int op = 0; op < NB_ATOMIC_N_OPS; op++)
        for (long nth = 1; nth <= calls[op]; nth++) {
            int err = op == NB_ATOMIC_WRITE ? ENOSPC : EIO;
            nb_atomic_reset_faults();
            nb_atomic_set_fault((nb_atomic_op)op, nth, err);
            nb_status st = nb_st_write(p, &t_new, 1, k, v_new, 1);
            nb_atomic_reset_faults();
            if (st != NB_ERR_IO || !strstr(nb_last_error(), strerror(err))) {
                fprintf(stderr, "%s #%ld: %s %s\n", names[op], nth, nb_status_str(st),
                        nb_last_error());
                fail();
            }
            /* Before the rename: the old file, intact. After it (only the
             * directory fsync): the complete new one. Never a temp file. */
            int renamed = op == NB_ATOMIC_DIRSYNC;
            unsigned char *now = slurp(p, &s);
            assert_int_equal(s, renamed ? s_new : s_old);
            assert_memory_equal(now, renamed ? b_new : b_old, s);
            free(now);
            nb_st_file *f = NULL;
            OK(nb_st_read(p, NULL, &f));
            assert_string_equal(nb_st_meta_get(f, "epoch"), renamed ? "2" : "1");
            nb_st_free(f);
            assert_int_equal(dir_entries(), 1);
            if (renamed) OK(nb_st_write(p, &t_old, 1, k, v_old, 1));
        }

    /* Short writes are retried: the save succeeds and is complete. */
    for (long nth = 1; nth <= calls[NB_ATOMIC_WRITE]; nth++) {
        OK(nb_st_write(p, &t_old, 1, k, v_old, 1));
        nb_atomic_set_fault(NB_ATOMIC_WRITE, nth, 0);
        OK(nb_st_write(p, &t_new, 1, k, v_new, 1));
        nb_atomic_reset_faults();
        unsigned char *now = slurp(p, &s);
        assert_int_equal(s, s_new);
        assert_memory_equal(now, b_new, s);
        free(now);
    }
    assert_int_equal(dir_entries(), 1);

    /* The atomic file on its own: abort, and commit after a failed write. */
    nb_atomic_file *af = NULL;
    OK(nb_atomic_open(p, &af));
    OK(nb_atomic_write(af, "x", 1));
    assert_int_equal(dir_entries(), 3); /* the target, the temp file, the lock */
    nb_atomic_abort(af);
    OK(nb_atomic_open(p, &af));
    nb_atomic_set_fault(NB_ATOMIC_WRITE, 1, EIO);
    FAILS(nb_atomic_write(af, "xy", 2), NB_ERR_IO, "Input/output error");
    nb_atomic_reset_faults();
    FAILS(nb_atomic_write(af, "xy", 2), NB_ERR_IO, "earlier write failed");
    FAILS(nb_atomic_commit(af), NB_ERR_IO, "earlier write failed");
    assert_int_equal(dir_entries(), 1);
    unsigned char *now = slurp(p, &s);
    assert_int_equal(s, s_new);
    assert_memory_equal(now, b_new, s);
    free(now);
    /* A rename over a directory fails: the temp file is removed. */
    const char *sub = strdup(tmp_path("sub"));
    assert_int_equal(mkdir(sub, 0700), 0);
    OK(nb_atomic_open(sub, &af));
    OK(nb_atomic_write(af, "x", 1));
    FAILS(nb_atomic_commit(af), NB_ERR_IO, "rename");
    assert_int_equal(dir_entries(), 2);
    assert_int_equal(rmdir(sub), 0);
    free((void *)sub);
    FAILS(nb_atomic_open(tmp_path("no/such/dir"), &af), NB_ERR_IO, "cannot create");
    FAILS(nb_atomic_open("dir/", &af), NB_ERR_ARG, "directory");
    nb_atomic_abort(NULL);

    free(b_new);
    free(b_old);
    free(d_old);
    free(d_new);
    free((void *)p);
}

/* ------------------------------------------ modes for st_check.py */

static int dump(const char *path)
{
    nb_st_file *f = NULL;
    if (nb_st_read(path, NULL, &f) != NB_OK) {
        fprintf(stderr, "%s\n", nb_last_error());
        return 1;
    }
    json_t *root = json_object(), *ts = json_array(), *meta = json_object();
    size_t n, m;
    const nb_st_tensor *t = nb_st_tensors(f, &n);
    const char *const *k, *const *v;
    nb_st_meta(f, &k, &v, &m);
    for (size_t i = 0; i < n; i++) {
        json_t *shape = json_array(), *data = json_array();
        for (int j = 0; j < t[i].ndim; j++) json_array_append_new(shape, json_integer(t[i].shape[j]));
        for (size_t j = 0; j < nb_st_numel(&t[i]); j++)
            json_array_append_new(data, json_real(t[i].data[j]));
        json_array_append_new(ts, json_pack("{s:s,s:o,s:o}", "name", t[i].name, "shape", shape,
                                            "data", data));
    }
    for (size_t i = 0; i < m; i++) json_object_set_new(meta, k[i], json_string(v[i]));
    json_object_set_new(root, "tensors", ts);
    json_object_set_new(root, "meta", meta);
    json_dumpf(root, stdout, JSON_COMPACT);
    putchar('\n');
    json_decref(root);
    nb_st_free(f);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "write-known")) {
        nb_status st = nb_st_write(argv[2], KNOWN, N_KNOWN, KNOWN_KEYS, KNOWN_VALS, 3);
        if (st != NB_OK) fprintf(stderr, "%s\n", nb_last_error());
        return st != NB_OK;
    }
    if (argc == 3 && !strcmp(argv[1], "dump")) return dump(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_known, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_round_trip_empty, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_round_trip_many, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_write_errors, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_truncations, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_bit_flips, setup_dir, teardown_dir),
        cmocka_unit_test(test_crafted_valid),
        cmocka_unit_test(test_crafted_malformed),
        cmocka_unit_test(test_plain_files),
        cmocka_unit_test_setup_teardown(test_checksums, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_sizes_and_limits, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_atomic_faults, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
