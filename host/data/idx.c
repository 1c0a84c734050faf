/*
 * idx.c — loading a classification dataset from an IDX pair (the format
 * MNIST is distributed in), plain or gzip-compressed.
 *
 * It reads one flavour of IDX only: unsigned bytes (type 0x08), images of
 * 3 dimensions (count, rows, cols) and labels of 1 (count). Other element
 * types are refused with a message, never converted. It is not a general
 * IDX or gzip library.
 *
 * Neither file is trusted. Both headers are validated completely (magic,
 * type, dimension count, every dimension > 0, products checked for
 * overflow and against IDX_MAX_DATA) and the declared sizes must match the
 * data exactly before the dataset is allocated:
 *   - a plain regular file is compared against its size from fstat;
 *   - a gzip file (recognised by its magic 1f 8b, whatever its name)
 *     only tells its length by being read, so a first pass decompresses
 *     it in 64 KiB pieces into a scratch buffer, fails as soon as more
 *     data than declared arrives or the data ends short, and only then is
 *     it rewound for the pass that fills the arrays.
 * Anything but a regular file (a FIFO, a directory, a device) is refused
 * when it is opened (fileio.h).
 * A gzip file therefore costs two decompressions, each stopping within
 * one byte of the declared size, so a small file that inflates without
 * end ("zip bomb") is rejected after decompressing at most its declared
 * size, itself at most IDX_MAX_DATA.
 *
 * Memory: the dataset (4 bytes per pixel, since each pixel byte becomes a
 * float, and 4 per label) plus fixed buffers under 1 MiB (two 64 KiB input
 * chunks, one 64 KiB scratch chunk, and zlib's inflate state with its
 * 32 KiB window per file). That is 4 x the decompressed data + 1 MiB,
 * above a "2 x file size" memory bound for loaders: storing floats
 * is the price of a dataset the trainer can use as it is.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "data/dataset.h"
#include "fileio.h"
#include "status.h"

#define IDX_CALL "nb_dataset_load_idx"
#define IDX_CHUNK ((size_t)64 * 1024)
#define IDX_UBYTE 0x08
/* A cap on the declared data of one file: it bounds the work a tiny gzip
 * file can demand, and keeps every size in a 64-bit count. */
#define IDX_MAX_DATA ((uint64_t)4 << 30)
/* A label is one byte, so at most 256 classes can be named. */
#define IDX_MAX_CLASSES 256

/* One IDX file being read: raw bytes come from f a chunk at a time and,
 * for gzip, go through inflate. Only the decompressed bytes ("content")
 * are IDX; offsets in messages count content bytes. */
typedef struct idx_src {
    const char *path;
    const char *what;         /* "images" or "labels", for messages        */
    int want_dims;            /* 3 for images, 1 for labels                */
    FILE *f;
    unsigned char *in;        /* (IDX_CHUNK) raw bytes read from f          */
    const unsigned char *next;/* unconsumed raw bytes: next[0..avail)       */
    size_t avail;
    uint64_t raw_read;        /* raw bytes read from f so far               */
    int in_eof;               /* f has no more bytes                        */
    int gz;                   /* content comes through inflate              */
    int z_live;               /* inflateInit2 succeeded: inflateEnd owed    */
    int member_done;          /* a gzip member ended; another may follow   */
    z_stream z;
    int sized;                /* plain regular file, length checked by fstat */
    uint64_t off;             /* content bytes delivered so far             */
    uint32_t dims[3];         /* as declared, want_dims of them             */
    size_t hdr_bytes;         /* 4 + 4 * want_dims                          */
    size_t data_bytes;        /* product of the dimensions                  */
} idx_src;

/* Every data error reads "nb_dataset_load_idx: PATH: reason (offset N)"
 * and still ends with the source line of the check, as NB_FAIL does. */
#define IDX_FAIL(st, s, off, ...)                                                                  \
    idx_fail_at((st), __FILE__, __LINE__, (s)->path, (uint64_t)(off), __VA_ARGS__)

static nb_status idx_fail_at(nb_status st, const char *file, int line, const char *path,
                             uint64_t off, const char *fmt, ...) NB_PRINTF(6, 7);
static nb_status idx_fail_at(nb_status st, const char *file, int line, const char *path,
                             uint64_t off, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return nb_error_set(st, file, line, "%s: %s: %s (offset %llu)", IDX_CALL, path, why,
                        (unsigned long long)off);
}

/* ------------------------------------------------------------ reading */

/* Read the next raw chunk once the previous one is used up. */
static nb_status src_fill(idx_src *s)
{
    if (s->avail > 0 || s->in_eof) return NB_OK;
    size_t n = fread(s->in, 1, IDX_CHUNK, s->f);
    if (n == 0) {
        if (ferror(s->f))
            return NB_FAIL(NB_ERR_IO, "%s: %s: read failed: %s", IDX_CALL, s->path,
                           strerror(errno));
        s->in_eof = 1;
    }
    s->next = s->in;
    s->avail = n;
    s->raw_read += n;
    return NB_OK;
}

/* Where inflate stands in the compressed file, for gzip messages. */
static uint64_t raw_pos(const idx_src *s) { return s->raw_read - s->avail; }

static nb_status gz_corrupt(const idx_src *s, const char *why)
{
    return IDX_FAIL(NB_ERR_DATA, s, s->off, "corrupt gzip stream: %s (compressed offset %llu)",
                    why, (unsigned long long)raw_pos(s));
}

/* Up to n <= IDX_CHUNK content bytes into buf; *got < n only at the end of
 * the content. Malformed gzip is NB_ERR_DATA, a failed read NB_ERR_IO. */
static nb_status src_read(idx_src *s, unsigned char *buf, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        NB_TRY(src_fill(s));
        if (!s->gz) {
            if (s->avail == 0) break;
            size_t k = n - *got < s->avail ? n - *got : s->avail;
            memcpy(buf + *got, s->next, k);
            s->next += k;
            s->avail -= k;
            *got += k;
            s->off += k;
            continue;
        }
        if (s->member_done) {
            /* RFC 1952 allows several members one after another (as
             * "cat a.gz b.gz" makes); anything else after the end of a
             * member is refused rather than ignored. */
            if (s->avail == 0) break;
            if (s->next[0] != 0x1f) return gz_corrupt(s, "bytes after the end of the stream");
            if (inflateReset(&s->z) != Z_OK) return gz_corrupt(s, "inflateReset failed");
            s->member_done = 0;
        }
        size_t want = n - *got;
        s->z.next_in = (Bytef *)s->next; /* zlib's API is not const; it only reads */
        s->z.avail_in = (uInt)s->avail;  /* both <= IDX_CHUNK: no truncation */
        s->z.next_out = buf + *got;
        s->z.avail_out = (uInt)want;
        int zr = inflate(&s->z, Z_NO_FLUSH);
        size_t made = want - s->z.avail_out;
        s->next = s->z.next_in;
        s->avail = s->z.avail_in;
        *got += made;
        s->off += made;
        switch (zr) {
        case Z_OK: break;
        case Z_STREAM_END: s->member_done = 1; break;
        case Z_BUF_ERROR:
            /* No progress was possible: with input left that cannot be
             * (there is output room), so input must have run out. */
            if (s->avail == 0 && s->in_eof) return gz_corrupt(s, "it ends early");
            if (s->avail > 0) return gz_corrupt(s, "inflate made no progress");
            break;
        case Z_MEM_ERROR: return NB_NOMEM(IDX_CALL, sizeof s->z);
        default: return gz_corrupt(s, s->z.msg ? s->z.msg : "inflate failed");
        }
    }
    return NB_OK;
}

/* (Re)start at byte 0: read the first chunk and decide plain or gzip. */
static nb_status src_start(idx_src *s)
{
    s->avail = 0;
    s->raw_read = s->off = 0;
    s->in_eof = s->member_done = 0;
    NB_TRY(src_fill(s));
    /* An IDX file starts 00 00, so the gzip magic 1f 8b is unambiguous. */
    s->gz = s->avail >= 2 && s->in[0] == 0x1f && s->in[1] == 0x8b;
    if (!s->gz) return NB_OK;
    int zr = s->z_live ? inflateReset(&s->z) : inflateInit2(&s->z, 16 + MAX_WBITS); /* gzip only */
    if (zr == Z_MEM_ERROR) return NB_NOMEM(IDX_CALL, sizeof s->z);
    if (zr != Z_OK)
        return NB_FAIL(NB_ERR_INTERNAL, "%s: %s: zlib refused to start inflating (%d)", IDX_CALL,
                       s->path, zr);
    s->z_live = 1;
    return NB_OK;
}

static nb_status src_open(idx_src *s)
{
    NB_TRY(nb_fopen_input(IDX_CALL, s->path, &s->f, NULL)); /* no FIFO, directory or device */
    s->in = malloc(IDX_CHUNK);
    if (!s->in) return NB_NOMEM(IDX_CALL, IDX_CHUNK);
    return src_start(s);
}

static void src_close(idx_src *s)
{
    if (s->z_live) inflateEnd(&s->z);
    if (s->f) fclose(s->f); /* read-only: nothing to lose if closing fails */
    free(s->in);
}

/* ------------------------------------------------------------- header */

static const char *type_name(int t)
{
    switch (t) {
    case 0x09: return "signed byte";
    case 0x0B: return "short";
    case 0x0C: return "int";
    case 0x0D: return "float";
    case 0x0E: return "double";
    default: return NULL;
    }
}

/* Magic, type, dimension count and dimensions, all checked; sets dims,
 * hdr_bytes and data_bytes. Nothing here allocates. */
static nb_status read_header(idx_src *s)
{
    unsigned char h[4 + 4 * 3];
    size_t got = 0, nd = (size_t)s->want_dims;
    NB_TRY(src_read(s, h, 4, &got));
    if (got < 4)
        return IDX_FAIL(NB_ERR_DATA, s, got, "the file ends inside the 4-byte magic number");
    if (h[0] != 0 || h[1] != 0)
        return IDX_FAIL(NB_ERR_DATA, s, 0,
                        "bad magic %02X %02X %02X %02X: not an IDX file of this kind, which "
                        "starts 00 00 08 %02X",
                        h[0], h[1], h[2], h[3], (unsigned)nd);
    if (h[2] != IDX_UBYTE) {
        const char *name = type_name(h[2]);
        if (name)
            return IDX_FAIL(NB_ERR_DATA, s, 2, "unsupported IDX type 0x%02X (%s), nabla reads "
                            "ubyte (0x08)", h[2], name);
        return IDX_FAIL(NB_ERR_DATA, s, 2, "unknown IDX type 0x%02X, nabla reads ubyte (0x08)",
                        h[2]);
    }
    if (h[3] != nd)
        return IDX_FAIL(NB_ERR_DATA, s, 3, "%s need %zu dimension%s, the header has %d", s->what,
                        nd, nd == 1 ? "" : "s", h[3]);
    s->hdr_bytes = 4 + 4 * nd;
    NB_TRY(src_read(s, h + 4, 4 * nd, &got));
    if (got < 4 * nd)
        return IDX_FAIL(NB_ERR_DATA, s, 4 + got, "the file ends inside the %zu-byte header",
                        s->hdr_bytes);
    size_t prod = 1;
    int overflow = 0;
    for (size_t i = 0; i < nd; i++) {
        const unsigned char *p = h + 4 + 4 * i; /* big-endian */
        s->dims[i] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (s->dims[i] == 0)
            return IDX_FAIL(NB_ERR_DATA, s, 4 + 4 * i, "dimension %zu of %zu is 0", i + 1, nd);
        overflow |= !nb_mul_ok(prod, s->dims[i], &prod);
    }
    char shape[48];
    if (nd == 3)
        snprintf(shape, sizeof shape, "%lu x %lu x %lu", (unsigned long)s->dims[0],
                 (unsigned long)s->dims[1], (unsigned long)s->dims[2]);
    else
        snprintf(shape, sizeof shape, "%lu", (unsigned long)s->dims[0]);
    if (overflow)
        return IDX_FAIL(NB_ERR_DATA, s, 4, "dimensions %s overflow size_t", shape);
    if ((uint64_t)prod > IDX_MAX_DATA)
        return IDX_FAIL(NB_ERR_DATA, s, 4, "dimensions %s declare %zu bytes, over the 4 GiB limit",
                        shape, prod);
    /* Rows are counted and indexed in int32, inputs are an int. */
    if (s->dims[0] > INT32_MAX)
        return IDX_FAIL(NB_ERR_DATA, s, 4, "%lu records are more than %d",
                        (unsigned long)s->dims[0], INT32_MAX);
    if (nd == 3 && (uint64_t)s->dims[1] * s->dims[2] > INT32_MAX)
        return IDX_FAIL(NB_ERR_DATA, s, 8, "images of %lu x %lu pixels have too many inputs",
                        (unsigned long)s->dims[1], (unsigned long)s->dims[2]);
    s->data_bytes = prod;
    return NB_OK;
}

/* ------------------------------------------------------------- length */

/* After the declared data: there must be nothing more. Reading one byte
 * also makes inflate check the gzip trailer (CRC-32 and length). */
static nb_status expect_end(idx_src *s)
{
    unsigned char b;
    size_t got = 0;
    NB_TRY(src_read(s, &b, 1, &got));
    if (got)
        return IDX_FAIL(NB_ERR_DATA, s, s->hdr_bytes + s->data_bytes,
                        "more data than the header declares (%zu bytes after the %zu-byte "
                        "header)", s->data_bytes, s->hdr_bytes);
    return NB_OK;
}

static nb_status ends_short(const idx_src *s, uint64_t have)
{
    return IDX_FAIL(NB_ERR_DATA, s, s->hdr_bytes + have,
                    "the data ends after %llu of the %zu bytes the header declares",
                    (unsigned long long)have, s->data_bytes);
}

/* Prove that exactly data_bytes follow the header, without keeping them:
 * by the file size for a plain regular file, else by reading (and for
 * gzip, decompressing) into scratch and starting over. */
static nb_status check_length(idx_src *s, unsigned char *scratch)
{
    struct stat st;
    if (!s->gz && fstat(fileno(s->f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0) {
        uint64_t size = (uint64_t)st.st_size, want = s->hdr_bytes + (uint64_t)s->data_bytes;
        if (size < want) return ends_short(s, size > s->hdr_bytes ? size - s->hdr_bytes : 0);
        if (size > want)
            return IDX_FAIL(NB_ERR_DATA, s, want,
                            "%llu bytes of trailing data after the %zu the header declares",
                            (unsigned long long)(size - want), s->data_bytes);
        s->sized = 1;
        return NB_OK;
    }
    uint64_t have = 0;
    while (have < s->data_bytes) {
        size_t want = s->data_bytes - have < IDX_CHUNK ? (size_t)(s->data_bytes - have) : IDX_CHUNK;
        size_t got = 0;
        NB_TRY(src_read(s, scratch, want, &got));
        have += got;
        if (got < want) return ends_short(s, have);
    }
    NB_TRY(expect_end(s));
    /* Start over for the filling pass; the header must read the same. */
    uint32_t dims[3];
    memcpy(dims, s->dims, sizeof dims);
    clearerr(s->f);
    if (fseek(s->f, 0L, SEEK_SET) != 0)
        return NB_FAIL(NB_ERR_IO, "%s: %s: cannot rewind for the second pass: %s", IDX_CALL,
                       s->path, strerror(errno));
    NB_TRY(src_start(s));
    NB_TRY(read_header(s));
    if (memcmp(dims, s->dims, sizeof dims) != 0)
        return NB_FAIL(NB_ERR_IO, "%s: %s: the file changed while it was being read", IDX_CALL,
                       s->path);
    return NB_OK;
}

/* ------------------------------------------------------------ filling */

/* Pixels as floats in [0, 1]: x = byte / 255, correctly rounded, so 0 and
 * 255 map to exactly 0 and 1. */
static nb_status fill_images(idx_src *s, unsigned char *scratch, float *x)
{
    size_t have = 0;
    while (have < s->data_bytes) {
        size_t want = s->data_bytes - have < IDX_CHUNK ? s->data_bytes - have : IDX_CHUNK;
        size_t got = 0;
        NB_TRY(src_read(s, scratch, want, &got));
        for (size_t i = 0; i < got; i++) x[have + i] = (float)scratch[i] / 255.0f;
        have += got;
        if (got < want) return ends_short(s, have);
    }
    return expect_end(s);
}

/* Labels, each < limit, into labels; the largest into *max_label. */
static nb_status fill_labels(idx_src *s, unsigned char *scratch, int limit, int32_t *labels,
                             int *max_label)
{
    size_t have = 0;
    while (have < s->data_bytes) {
        size_t want = s->data_bytes - have < IDX_CHUNK ? s->data_bytes - have : IDX_CHUNK;
        size_t got = 0;
        NB_TRY(src_read(s, scratch, want, &got));
        for (size_t i = 0; i < got; i++) {
            int v = scratch[i];
            if (v >= limit) /* never with classes inferred: limit is 256 */
                return IDX_FAIL(NB_ERR_DATA, s, s->hdr_bytes + have + i,
                                "record %zu: label %d >= %d classes", have + i, v, limit);
            if (v > *max_label) *max_label = v;
            labels[have + i] = v;
        }
        have += got;
        if (got < want) return ends_short(s, have);
    }
    return expect_end(s);
}

/* ---------------------------------------------------------------- load */

static nb_status load(idx_src *img, idx_src *lab, int classes, nb_dataset **out)
{
    nb_status st = NB_OK;
    unsigned char *scratch = NULL;
    nb_dataset *d = NULL;
    int limit = classes > 0 ? classes : IDX_MAX_CLASSES, max_label = -1;
    /* Both headers before any data, so a wrong file is named at once. */
    NB_CHECK(src_open(img));
    NB_CHECK(read_header(img));
    NB_CHECK(src_open(lab));
    NB_CHECK(read_header(lab));
    if (img->dims[0] != lab->dims[0]) {
        st = IDX_FAIL(NB_ERR_DATA, lab, 4, "%lu labels for %lu images in %s",
                      (unsigned long)lab->dims[0], (unsigned long)img->dims[0], img->path);
        goto fail;
    }
    scratch = malloc(IDX_CHUNK);
    if (!scratch) {
        st = NB_NOMEM(IDX_CALL, IDX_CHUNK);
        goto fail;
    }
    NB_CHECK(check_length(img, scratch));
    NB_CHECK(check_length(lab, scratch));
    /* Only now are the sizes proven. With classes inferred the label count
     * is not known yet; the arrays do not depend on it, so the dataset is
     * made with the largest count and corrected below. */
    NB_CHECK(nb_dataset_alloc(img->dims[0], (int)((uint64_t)img->dims[1] * img->dims[2]), limit,
                              limit, &d));
    NB_CHECK(fill_images(img, scratch, d->x));
    NB_CHECK(fill_labels(lab, scratch, limit, d->labels, &max_label));
    if (classes == 0) d->classes = d->outputs = max_label + 1;
    *out = d;
    d = NULL;
fail:
    nb_dataset_free(d);
    free(scratch);
    return st;
}

nb_status nb_dataset_load_idx(const char *images_path, const char *labels_path, int classes,
                              nb_dataset **out)
{
    if (!out) return NB_FAIL(NB_ERR_ARG, "%s: out is NULL", IDX_CALL);
    *out = NULL;
    if (!images_path || !labels_path)
        return NB_FAIL(NB_ERR_ARG, "%s: images_path or labels_path is NULL", IDX_CALL);
    if (classes < 0 || classes > IDX_MAX_CLASSES)
        return NB_FAIL(NB_ERR_ARG, "%s: classes %d is outside [0, %d] (labels are bytes)",
                       IDX_CALL, classes, IDX_MAX_CLASSES);
    idx_src img = {.path = images_path, .what = "images", .want_dims = 3};
    idx_src lab = {.path = labels_path, .what = "labels", .want_dims = 1};
    nb_status st = load(&img, &lab, classes, out);
    src_close(&img);
    src_close(&lab);
    return st;
}
