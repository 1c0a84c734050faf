/*
 * idx_test.c — nb_dataset_load_idx on small IDX files, plain and gzipped.
 *
 * Every file is made here, in a temp directory, from bytes the test spells
 * out (gzip through zlib's gzopen/gzwrite), so each case states exactly
 * what the loader sees. It covers the valid load, gzip equal to plain, and
 * the malformed-input suite: bad magic, wrong type and
 * dimension count, zero and overflowing dimensions, headers larger than
 * the file, truncation at every prefix, trailing bytes, labels 10 and 255
 * for 10 classes, count mismatch, corrupt gzip, and every single-bit flip.
 * Every failure checks the exact status, that *out is NULL, and the text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "nabla.h"

/* Any non-NULL value: a failing load must overwrite it with NULL. */
static nb_dataset *const NOT_NULL = (nb_dataset *)&NOT_NULL;

/* The temp directory and the two file names every test writes. */
static char dir[512], img_path[600], lab_path[600];

static int setup(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/nabla_idx_XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) return -1;
    /* No ".gz" in either name: gzip is told by its magic bytes. */
    snprintf(img_path, sizeof img_path, "%s/images.idx", dir);
    snprintf(lab_path, sizeof lab_path, "%s/labels.idx", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    remove(img_path);
    remove(lab_path);
    return rmdir(dir);
}

/* ------------------------------------------------------- making files */

/* An IDX file in memory: 00 00 type ndims, dims big-endian, then data. */
typedef struct idx_bytes {
    unsigned char b[4096];
    size_t n;
} idx_bytes;

static idx_bytes make_idx(int type, int ndims, const uint32_t *dims, const unsigned char *data,
                          size_t n)
{
    idx_bytes f = {.n = 0};
    f.b[f.n++] = 0;
    f.b[f.n++] = 0;
    f.b[f.n++] = (unsigned char)type;
    f.b[f.n++] = (unsigned char)ndims;
    for (int i = 0; i < ndims; i++)
        for (int k = 3; k >= 0; k--) f.b[f.n++] = (unsigned char)(dims[i] >> (8 * k));
    assert_true(f.n + n <= sizeof f.b);
    memcpy(f.b + f.n, data, n);
    f.n += n;
    return f;
}

static void write_file(const char *path, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void write_gz(const char *path, const void *bytes, size_t n)
{
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, bytes, (unsigned)n), (int)n);
    assert_int_equal(gzclose(g), Z_OK);
}

/* The whole file at path into buf (cap); returns its length. */
static size_t read_back(const char *path, unsigned char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap, f);
    assert_true(n < cap);
    fclose(f);
    return n;
}

/* The reference pair: 3 images of 2 x 3 pixels and labels 0, 9, 3. The
 * pixels include 0, 255 and values between. */
#define N_IMG 3
#define ROWS 2
#define COLS 3
static const unsigned char PIXELS[N_IMG * ROWS * COLS] = {0,   255, 128, 1,  2,   254,
                                                          17,  34,  51,  68, 85,  102,
                                                          200, 100, 50,  25, 127, 129};
static const unsigned char LABEL_BYTES[N_IMG] = {0, 9, 3};

static idx_bytes ref_images(void)
{
    return make_idx(0x08, 3, (const uint32_t[]){N_IMG, ROWS, COLS}, PIXELS, sizeof PIXELS);
}

static idx_bytes ref_labels(void)
{
    return make_idx(0x08, 1, (const uint32_t[]){N_IMG}, LABEL_BYTES, sizeof LABEL_BYTES);
}

static void write_ref(int img_gz, int lab_gz)
{
    idx_bytes i = ref_images(), l = ref_labels();
    (img_gz ? write_gz : write_file)(img_path, i.b, i.n);
    (lab_gz ? write_gz : write_file)(lab_path, l.b, l.n);
}

/* ------------------------------------------------------------ checking */

/* The dataset must be the reference pair exactly: x = byte / 255 is
 * compared with tolerance 0, since the loader must compute that very float. */
static void check_ref(const nb_dataset *d, int classes)
{
    assert_non_null(d);
    assert_int_equal(nb_dataset_rows(d), N_IMG);
    assert_int_equal(nb_dataset_inputs(d), ROWS * COLS);
    assert_int_equal(nb_dataset_classes(d), classes);
    assert_int_equal(nb_dataset_outputs(d), classes);
    assert_null(nb_dataset_y(d));
    float want[N_IMG * ROWS * COLS];
    for (size_t i = 0; i < sizeof PIXELS; i++) want[i] = (float)PIXELS[i] / 255.0f;
    assert_close_f(nb_dataset_x(d), want, sizeof PIXELS, 0.0, 0.0);
    for (int i = 0; i < N_IMG; i++) assert_int_equal(nb_dataset_labels(d)[i], LABEL_BYTES[i]);
}

/* A failed load: exact status, *out reset to NULL, needle in the message. */
#define LOAD_FAIL(classes, want, needle) load_fail_at(__FILE__, __LINE__, (classes), (want), (needle))
static void load_fail_at(const char *file, int line, int classes, nb_status want,
                         const char *needle)
{
    nb_dataset *d = NOT_NULL;
    nb_status st = nb_dataset_load_idx(img_path, lab_path, classes, &d);
    const char *msg = nb_last_error();
    if (st != want || d != NULL || !strstr(msg, needle)) {
        fprintf(stderr, "%s:%d: got %s (want %s), out %s, message \"%s\" (want \"%s\" in it)\n",
                file, line, nb_status_str(st), nb_status_str(want), d ? "set" : "NULL", msg,
                needle);
        if (d != NOT_NULL) nb_dataset_free(d);
        _fail(file, line);
    }
}

/* "nb_dataset_load_idx: <path>: <rest>" for a needle naming the file. */
static const char *at(const char *path, const char *rest)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "nb_dataset_load_idx: %s: %s", path, rest);
    return buf;
}

/* ---------------------------------------------------------------- tests */

static void test_arguments(void **state)
{
    (void)state;
    nb_dataset *d = NOT_NULL;
    write_ref(0, 0);
    assert_int_equal(nb_dataset_load_idx(img_path, lab_path, 0, NULL), NB_ERR_ARG);
    assert_non_null(strstr(nb_last_error(), "nb_dataset_load_idx: out is NULL"));
    assert_int_equal(nb_dataset_load_idx(NULL, lab_path, 0, &d), NB_ERR_ARG);
    assert_null(d);
    d = NOT_NULL;
    assert_int_equal(nb_dataset_load_idx(img_path, NULL, 0, &d), NB_ERR_ARG);
    assert_null(d);
    LOAD_FAIL(-1, NB_ERR_ARG, "classes -1 is outside [0, 256]");
    LOAD_FAIL(257, NB_ERR_ARG, "classes 257 is outside [0, 256]");
}

static void test_valid(void **state)
{
    (void)state;
    write_ref(0, 0);
    nb_dataset *d = NULL;
    assert_int_equal(nb_dataset_load_idx(img_path, lab_path, 0, &d), NB_OK);
    check_ref(d, 10); /* inferred: max label 9 + 1 */
    assert_true(nb_dataset_x(d)[0] == 0.0f && nb_dataset_x(d)[1] == 1.0f);
    nb_dataset_free(d);
    assert_int_equal(nb_dataset_load_idx(img_path, lab_path, 10, &d), NB_OK);
    check_ref(d, 10);
    nb_dataset_free(d);
    assert_int_equal(nb_dataset_load_idx(img_path, lab_path, 256, &d), NB_OK);
    check_ref(d, 256);
    nb_dataset_free(d);
}

/* gzip, in any combination, gives the very same dataset. */
static void test_gzip_equals_plain(void **state)
{
    (void)state;
    for (int mode = 0; mode < 4; mode++) {
        write_ref(mode & 1, mode >> 1);
        nb_dataset *d = NULL;
        nb_status st = nb_dataset_load_idx(img_path, lab_path, 0, &d);
        if (st != NB_OK) fprintf(stderr, "mode %d: %s\n", mode, nb_last_error());
        assert_int_equal(st, NB_OK);
        check_ref(d, 10);
        nb_dataset_free(d);
    }
    /* "cat a.gz b.gz" is one valid gzip file holding both parts. */
    idx_bytes i = ref_images();
    unsigned char a[4096], b[4096], both[8192];
    write_gz(img_path, i.b, 7);
    size_t na = read_back(img_path, a, sizeof a);
    write_gz(img_path, i.b + 7, i.n - 7);
    size_t nb = read_back(img_path, b, sizeof b);
    memcpy(both, a, na);
    memcpy(both + na, b, nb);
    write_file(img_path, both, na + nb);
    nb_dataset *d = NULL;
    assert_int_equal(nb_dataset_load_idx(img_path, lab_path, 0, &d), NB_OK);
    check_ref(d, 10);
    nb_dataset_free(d);
}

/* A larger file crosses the 64 KiB chunks of both the raw and the
 * decompressed reads; plain and gzip agree value for value. */
static void test_many_chunks(void **state)
{
    (void)state;
    enum { COUNT = 1000, R = 17, C = 13 };
    size_t npix = (size_t)COUNT * R * C, hdr = 16;
    unsigned char *f = malloc(hdr + npix), lab[8 + COUNT];
    assert_non_null(f);
    memcpy(f, (const unsigned char[]){0, 0, 8, 3, 0, 0, COUNT >> 8, COUNT & 255, 0, 0, 0, R, 0,
                                      0, 0, C},
           hdr);
    uint32_t h = 12345;
    for (size_t i = 0; i < npix; i++) {
        h = h * 1103515245u + 12345u; /* any fixed byte pattern */
        f[hdr + i] = (unsigned char)(h >> 16);
    }
    memcpy(lab, (const unsigned char[]){0, 0, 8, 1, 0, 0, COUNT >> 8, COUNT & 255}, 8);
    for (int i = 0; i < COUNT; i++) lab[8 + i] = (unsigned char)(i % 7);
    nb_dataset *p = NULL, *g = NULL;
    write_file(img_path, f, hdr + npix);
    write_file(lab_path, lab, sizeof lab);
    assert_int_equal(nb_dataset_load_idx(img_path, lab_path, 0, &p), NB_OK);
    write_gz(img_path, f, hdr + npix);
    write_gz(lab_path, lab, sizeof lab);
    assert_int_equal(nb_dataset_load_idx(img_path, lab_path, 7, &g), NB_OK);
    assert_int_equal(nb_dataset_rows(p), COUNT);
    assert_int_equal(nb_dataset_inputs(p), R * C);
    assert_int_equal(nb_dataset_classes(p), 7);
    for (size_t i = 0; i < npix; i += 4099)
        assert_true(nb_dataset_x(p)[i] == (float)f[hdr + i] / 255.0f);
    assert_memory_equal(nb_dataset_x(p), nb_dataset_x(g), npix * sizeof(float));
    assert_memory_equal(nb_dataset_labels(p), nb_dataset_labels(g), COUNT * sizeof(int32_t));
    nb_dataset_free(p);
    nb_dataset_free(g);
    free(f);
}

static void test_unreadable(void **state)
{
    (void)state;
    char needle[1024];
    write_ref(0, 0);
    nb_dataset *d = NOT_NULL;
    snprintf(needle, sizeof needle, "nb_dataset_load_idx: %s/none: cannot open: %s", dir,
             strerror(ENOENT));
    char none[700];
    snprintf(none, sizeof none, "%s/none", dir);
    assert_int_equal(nb_dataset_load_idx(none, lab_path, 0, &d), NB_ERR_IO);
    assert_null(d);
    assert_non_null(strstr(nb_last_error(), needle));
    d = NOT_NULL;
    assert_int_equal(nb_dataset_load_idx(img_path, none, 0, &d), NB_ERR_IO);
    assert_null(d);
    /* A directory is refused when it is opened (more in fileio_test.c). */
    d = NOT_NULL;
    assert_int_equal(nb_dataset_load_idx(dir, lab_path, 0, &d), NB_ERR_IO);
    assert_null(d);
    assert_non_null(strstr(nb_last_error(), "not a regular file (a directory)"));
}

static void test_bad_magic(void **state)
{
    (void)state;
    write_ref(0, 0);
    idx_bytes i = ref_images();
    i.b[1] = 0x01;
    write_file(img_path, i.b, i.n);
    LOAD_FAIL(0, NB_ERR_DATA, at(img_path, "bad magic 00 01 08 03: not an IDX file"));
    write_file(img_path, "x1,x2,label\n1,2,0\n", 18); /* a CSV given as IDX */
    LOAD_FAIL(0, NB_ERR_DATA, "bad magic 78 31 2C 78");
    LOAD_FAIL(0, NB_ERR_DATA, "(offset 0)");
    /* The same inside gzip: the magic is checked on the content. */
    write_gz(img_path, "\x01\x02\x03\x04\x05", 5);
    LOAD_FAIL(0, NB_ERR_DATA, "bad magic 01 02 03 04");
}

static void test_wrong_type(void **state)
{
    (void)state;
    write_ref(0, 0);
    idx_bytes i = ref_images();
    i.b[2] = 0x0D;
    write_file(img_path, i.b, i.n);
    LOAD_FAIL(0, NB_ERR_DATA,
              at(img_path, "unsupported IDX type 0x0D (float), nabla reads ubyte (0x08) (offset 2)"));
    i.b[2] = 0x07;
    write_file(img_path, i.b, i.n);
    LOAD_FAIL(0, NB_ERR_DATA, "unknown IDX type 0x07, nabla reads ubyte");
    idx_bytes l = ref_labels();
    l.b[2] = 0x0C;
    write_ref(0, 0);
    write_gz(lab_path, l.b, l.n);
    LOAD_FAIL(0, NB_ERR_DATA, at(lab_path, "unsupported IDX type 0x0C (int)"));
}

static void test_wrong_ndims(void **state)
{
    (void)state;
    /* Images as 2-D (count, rows·cols): the count byte says 2. */
    idx_bytes i = make_idx(0x08, 2, (const uint32_t[]){N_IMG, ROWS * COLS}, PIXELS,
                           sizeof PIXELS);
    write_ref(0, 0);
    write_file(img_path, i.b, i.n);
    LOAD_FAIL(0, NB_ERR_DATA, at(img_path, "images need 3 dimensions, the header has 2 (offset 3)"));
    /* Images and labels swapped. */
    idx_bytes l = ref_labels();
    i = ref_images();
    write_file(img_path, l.b, l.n);
    write_file(lab_path, i.b, i.n);
    LOAD_FAIL(0, NB_ERR_DATA, "images need 3 dimensions, the header has 1");
    write_ref(0, 0);
    write_file(lab_path, i.b, i.n);
    LOAD_FAIL(0, NB_ERR_DATA, at(lab_path, "labels need 1 dimension, the header has 3"));
}

static void test_zero_dimension(void **state)
{
    (void)state;
    write_ref(0, 0);
    for (int k = 0; k < 3; k++) {
        uint32_t dims[3] = {N_IMG, ROWS, COLS};
        dims[k] = 0;
        idx_bytes i = make_idx(0x08, 3, dims, PIXELS, 0);
        write_file(img_path, i.b, i.n);
        char needle[64];
        snprintf(needle, sizeof needle, "dimension %d of 3 is 0 (offset %d)", k + 1, 4 + 4 * k);
        LOAD_FAIL(0, NB_ERR_DATA, needle);
    }
    idx_bytes l = make_idx(0x08, 1, (const uint32_t[]){0}, LABEL_BYTES, 0);
    write_ref(0, 0);
    write_file(lab_path, l.b, l.n);
    LOAD_FAIL(0, NB_ERR_DATA, at(lab_path, "dimension 1 of 1 is 0"));
}

/* Sizes that overflow, or are too large to accept, fail on the header
 * alone; the files here hold no data at all. */
static void test_huge_dimensions(void **state)
{
    (void)state;
    static const struct {
        uint32_t dims[3];
        const char *needle;
    } cases[] = {
        {{0xFFFFFFFFu, 0xFFFFFFFFu, 2}, "dimensions 4294967295 x 4294967295 x 2 overflow size_t"},
        {{2, 0xFFFFFFFFu, 0xFFFFFFFFu}, "overflow size_t"},
        {{65536, 256, 257}, "over the 4 GiB limit"},
        {{0x80000000u, 1, 1}, "2147483648 records are more than 2147483647"},
        {{1, 46341, 46341}, "images of 46341 x 46341 pixels have too many inputs"},
        /* Within every limit, but the file holds none of the data. */
        {{0x7FFFFFFFu, 1, 2}, "the data ends after 0 of the 4294967294 bytes the header declares"},
    };
    write_ref(0, 0);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        /* Labels whose count agrees, so the images' own length is what fails. */
        idx_bytes l = make_idx(0x08, 1, cases[k].dims, LABEL_BYTES, 0);
        write_file(lab_path, l.b, l.n);
        idx_bytes i = make_idx(0x08, 3, cases[k].dims, PIXELS, 0);
        write_file(img_path, i.b, i.n);
        LOAD_FAIL(0, NB_ERR_DATA, cases[k].needle);
        /* gzip cannot tell its length up front, and still must not
         * allocate from the header: it fails the same way. */
        write_gz(img_path, i.b, i.n);
        LOAD_FAIL(0, NB_ERR_DATA, cases[k].needle);
    }
}

static void test_header_larger_than_file(void **state)
{
    (void)state;
    idx_bytes i = ref_images();
    write_ref(0, 0);
    write_file(img_path, i.b, 10);
    LOAD_FAIL(0, NB_ERR_DATA, at(img_path, "the file ends inside the 16-byte header (offset 10)"));
    write_file(img_path, i.b, 3);
    LOAD_FAIL(0, NB_ERR_DATA, "the file ends inside the 4-byte magic number (offset 3)");
    /* 100 images declared, 3 present (100 labels declared too). */
    idx_bytes l = ref_labels();
    l.b[7] = 100;
    write_file(lab_path, l.b, l.n);
    i.b[7] = 100;
    write_file(img_path, i.b, i.n);
    LOAD_FAIL(0, NB_ERR_DATA, "the data ends after 18 of the 600 bytes the header declares "
                              "(offset 34)");
    write_gz(img_path, i.b, i.n);
    LOAD_FAIL(0, NB_ERR_DATA, "the data ends after 18 of the 600 bytes the header declares");
}

/* Every proper prefix of a valid file fails cleanly, plain or gzipped. */
static void test_truncation_every_prefix(void **state)
{
    (void)state;
    idx_bytes i = ref_images(), l = ref_labels();
    unsigned char gz[4096];
    for (int which = 0; which < 2; which++) {
        const char *path = which ? lab_path : img_path;
        const idx_bytes *f = which ? &l : &i;
        for (int zipped = 0; zipped < 2; zipped++) {
            write_ref(0, 0);
            size_t n = f->n;
            const unsigned char *bytes = f->b;
            if (zipped) {
                write_gz(path, f->b, f->n);
                n = read_back(path, gz, sizeof gz);
                bytes = gz;
            }
            for (size_t k = 0; k < n; k++) {
                write_file(path, bytes, k);
                nb_dataset *d = NOT_NULL;
                nb_status st = nb_dataset_load_idx(img_path, lab_path, 0, &d);
                if (st != NB_ERR_DATA || d != NULL) {
                    fprintf(stderr, "%s, gzip %d, prefix %zu of %zu: %s: %s\n", path, zipped, k,
                            n, nb_status_str(st), nb_last_error());
                    if (d != NOT_NULL) nb_dataset_free(d);
                    fail();
                }
                assert_non_null(strstr(nb_last_error(), path));
            }
        }
    }
}

static void test_trailing_bytes(void **state)
{
    (void)state;
    idx_bytes i = ref_images(), l = ref_labels();
    write_ref(0, 0);
    i.b[i.n++] = 0;
    write_file(img_path, i.b, i.n);
    LOAD_FAIL(0, NB_ERR_DATA, at(img_path, "1 bytes of trailing data after the 18 the header "
                                           "declares (offset 34)"));
    write_gz(img_path, i.b, i.n);
    LOAD_FAIL(0, NB_ERR_DATA, at(img_path, "more data than the header declares (18 bytes after "
                                           "the 16-byte header) (offset 34)"));
    write_ref(0, 0);
    l.b[l.n++] = 1;
    write_file(lab_path, l.b, l.n);
    LOAD_FAIL(0, NB_ERR_DATA, at(lab_path, "1 bytes of trailing data"));
    /* Bytes after a complete gzip stream that do not start another one. */
    unsigned char gz[4096];
    write_ref(1, 0);
    size_t n = read_back(img_path, gz, sizeof gz);
    memcpy(gz + n, "\0\0\0\0", 4);
    write_file(img_path, gz, n + 4);
    LOAD_FAIL(0, NB_ERR_DATA, "corrupt gzip stream: bytes after the end of the stream");
}

/* A small gzip file that inflates far beyond its declared size is stopped
 * one byte past it: the message shows where reading stopped. */
static void test_gzip_bomb(void **state)
{
    (void)state;
    size_t big = (size_t)8 << 20; /* 8 MiB of zeros after a 1-image header */
    unsigned char *z = calloc(1, 16 + big);
    assert_non_null(z);
    memcpy(z, (const unsigned char[]){0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2}, 16);
    idx_bytes l = make_idx(0x08, 1, (const uint32_t[]){1}, LABEL_BYTES, 1);
    write_file(lab_path, l.b, l.n);
    write_gz(img_path, z, 16 + big);
    free(z);
    LOAD_FAIL(0, NB_ERR_DATA, "images.idx: more data than the header declares (4 bytes after "
                              "the 16-byte header) (offset 20)");
}

static void test_label_range(void **state)
{
    (void)state;
    unsigned char bytes[N_IMG] = {0, 255, 3};
    for (int zipped = 0; zipped < 2; zipped++) {
        write_ref(0, 0);
        bytes[1] = 255;
        idx_bytes l = make_idx(0x08, 1, (const uint32_t[]){N_IMG}, bytes, N_IMG);
        (zipped ? write_gz : write_file)(lab_path, l.b, l.n);
        LOAD_FAIL(10, NB_ERR_DATA, at(lab_path, "record 1: label 255 >= 10 classes (offset 9)"));
        nb_dataset *d = NULL;
        assert_int_equal(nb_dataset_load_idx(img_path, lab_path, 0, &d), NB_OK);
        assert_int_equal(nb_dataset_classes(d), 256); /* inferred: 255 + 1 */
        assert_int_equal(nb_dataset_labels(d)[1], 255);
        nb_dataset_free(d);
        bytes[1] = 10;
        l = make_idx(0x08, 1, (const uint32_t[]){N_IMG}, bytes, N_IMG);
        (zipped ? write_gz : write_file)(lab_path, l.b, l.n);
        LOAD_FAIL(10, NB_ERR_DATA, "record 1: label 10 >= 10 classes");
        bytes[1] = 9;
        l = make_idx(0x08, 1, (const uint32_t[]){N_IMG}, bytes, N_IMG);
        (zipped ? write_gz : write_file)(lab_path, l.b, l.n);
        assert_int_equal(nb_dataset_load_idx(img_path, lab_path, 10, &d), NB_OK);
        assert_int_equal(nb_dataset_labels(d)[1], 9);
        nb_dataset_free(d);
    }
    /* The reference labels (0, 9, 3) for 4 classes. */
    write_ref(0, 0);
    LOAD_FAIL(4, NB_ERR_DATA, "record 1: label 9 >= 4 classes");
}

static void test_count_mismatch(void **state)
{
    (void)state;
    write_ref(0, 0);
    idx_bytes l = make_idx(0x08, 1, (const uint32_t[]){2}, LABEL_BYTES, 2);
    write_file(lab_path, l.b, l.n);
    char needle[1400];
    snprintf(needle, sizeof needle, "%s: 2 labels for 3 images in %s (offset 4)", lab_path,
             img_path);
    LOAD_FAIL(0, NB_ERR_DATA, needle);
}

static void test_gzip_corrupt(void **state)
{
    (void)state;
    unsigned char gz[4096], bad[4096];
    write_ref(1, 0);
    size_t n = read_back(img_path, gz, sizeof gz);
    /* The 8-byte trailer (CRC-32, length) missing, and only part of it. */
    write_file(img_path, gz, n - 8);
    LOAD_FAIL(0, NB_ERR_DATA, at(img_path, "corrupt gzip stream: it ends early"));
    write_file(img_path, gz, n - 3);
    LOAD_FAIL(0, NB_ERR_DATA, "corrupt gzip stream");
    /* A wrong CRC-32: the content decompresses, the check fails. */
    memcpy(bad, gz, n);
    bad[n - 8] ^= 0x40;
    write_file(img_path, bad, n);
    LOAD_FAIL(0, NB_ERR_DATA, "corrupt gzip stream: incorrect data check");
    /* A wrong length in the trailer. */
    memcpy(bad, gz, n);
    bad[n - 4] ^= 0x01;
    write_file(img_path, bad, n);
    LOAD_FAIL(0, NB_ERR_DATA, "corrupt gzip stream: incorrect length check");
    /* Garbage where the deflate data is (after the 10-byte gzip header). */
    memcpy(bad, gz, n);
    memset(bad + 10, 0xFF, n - 18);
    write_file(img_path, bad, n);
    LOAD_FAIL(0, NB_ERR_DATA, "corrupt gzip stream");
    /* Only the gzip magic. */
    write_file(img_path, "\x1f\x8b", 2);
    LOAD_FAIL(0, NB_ERR_DATA, "corrupt gzip stream: it ends early (compressed offset 2)");
}

/* Flip each bit of a small file in turn. The header (first 16 bytes of
 * the images, 8 of the labels) has no redundancy-free bit: every flip
 * changes the magic, the type, the dimension count or one dimension (and
 * with it the length), so every one must fail. A data flip must load,
 * with exactly that pixel or label changed (or fail for a label >= 10). */
static void test_bit_flips_plain(void **state)
{
    (void)state;
    idx_bytes i = ref_images(), l = ref_labels();
    for (int which = 0; which < 2; which++) {
        idx_bytes f = which ? l : i;
        const char *path = which ? lab_path : img_path;
        size_t hdr = which ? 8 : 16;
        for (size_t bit = 0; bit < 8 * f.n; bit++) {
            write_ref(0, 0);
            f.b[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            write_file(path, f.b, f.n);
            f.b[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            nb_dataset *d = NOT_NULL;
            nb_status st = nb_dataset_load_idx(img_path, lab_path, 10, &d);
            size_t at_byte = bit / 8;
            if (at_byte < hdr) {
                if (st != NB_ERR_DATA || d) {
                    fprintf(stderr, "%s header bit %zu: %s\n", path, bit, nb_status_str(st));
                    fail();
                }
                continue;
            }
            size_t k = at_byte - hdr;
            unsigned char v = (unsigned char)(f.b[at_byte] ^ (1u << (bit % 8)));
            if (which && v >= 10) {
                assert_int_equal(st, NB_ERR_DATA);
                assert_null(d);
                continue;
            }
            assert_int_equal(st, NB_OK);
            for (size_t j = 0; j < sizeof PIXELS; j++) {
                unsigned char p = !which && j == k ? v : PIXELS[j];
                assert_true(nb_dataset_x(d)[j] == (float)p / 255.0f);
            }
            for (int j = 0; j < N_IMG; j++)
                assert_int_equal(nb_dataset_labels(d)[j],
                                 which && (size_t)j == k ? v : LABEL_BYTES[j]);
            nb_dataset_free(d);
        }
    }
}

/* Every bit of a gzip file: either a clean NB_ERR_DATA or, for bits the
 * format does not protect (timestamp, OS byte, flags zlib ignores), the
 * very same dataset. The CRC-32 catches the rest. */
static void test_bit_flips_gzip(void **state)
{
    (void)state;
    unsigned char gz[4096];
    int loaded = 0, failed = 0;
    write_ref(1, 0);
    size_t n = read_back(img_path, gz, sizeof gz);
    for (size_t bit = 0; bit < 8 * n; bit++) {
        gz[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        write_file(img_path, gz, n);
        gz[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        nb_dataset *d = NOT_NULL;
        nb_status st = nb_dataset_load_idx(img_path, lab_path, 10, &d);
        if (st == NB_OK) {
            check_ref(d, 10);
            nb_dataset_free(d);
            loaded++;
        } else {
            if (st != NB_ERR_DATA || d) {
                fprintf(stderr, "gzip bit %zu: %s: %s\n", bit, nb_status_str(st), nb_last_error());
                fail();
            }
            failed++;
        }
    }
    print_message("gzip bit flips: %d loaded unchanged, %d rejected\n", loaded, failed);
    assert_true(failed > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arguments),
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_gzip_equals_plain),
        cmocka_unit_test(test_many_chunks),
        cmocka_unit_test(test_unreadable),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_wrong_ndims),
        cmocka_unit_test(test_zero_dimension),
        cmocka_unit_test(test_huge_dimensions),
        cmocka_unit_test(test_header_larger_than_file),
        cmocka_unit_test(test_truncation_every_prefix),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_gzip_bomb),
        cmocka_unit_test(test_label_range),
        cmocka_unit_test(test_count_mismatch),
        cmocka_unit_test(test_gzip_corrupt),
        cmocka_unit_test(test_bit_flips_plain),
        cmocka_unit_test(test_bit_flips_gzip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
