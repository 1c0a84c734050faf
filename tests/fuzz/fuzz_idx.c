/*
 * fuzz_idx.c — nb_dataset_load_idx, the IDX (MNIST) pair loader, on any
 * bytes.
 *
 * An input is [u16 LE split][u8 classes][images][labels]: the split
 * (modulo the bytes left, plus one) cuts the rest into the two files, and
 * classes is passed as it is (0 infers them). The loader takes paths, so
 * the two parts go to two in-memory files (fz_file), rewritten per input.
 *
 * Oracles, besides the sanitizers and the leak check:
 *   - the status is NB_OK or NB_ERR_DATA, *out NULL after a failure, and
 *     the message names the file and a byte offset;
 *   - a loaded dataset is what idx.c promises: one row per image of rows
 *     x cols inputs, pixel / 255 exactly (checked against the bytes when
 *     the images are not compressed), labels below classes;
 *   - memory: 4 bytes per pixel and per label plus under 1 MiB, that is
 *     at most 4 × the decompressed content of both files + 1 MiB. The
 *     content is measured here by inflating a gzip part to its end (more
 *     than the loader ever inflates), outside the metered load.
 */
#include <string.h>

#include <zlib.h>

#include "fuzz_util.h"

/* Bytes of IDX content in p (n): n for a plain file, else what every
 * gzip member in it inflates to before the first error. */
static uint64_t content_bytes(const uint8_t *p, size_t n)
{
    if (n < 2 || p[0] != 0x1f || p[1] != 0x8b) return n;
    static unsigned char out[64 << 10];
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) fz_fail("idx: inflateInit2 failed");
    z.next_in = (Bytef *)(uintptr_t)p; /* zlib only reads it */
    z.avail_in = (uInt)n;              /* n <= max_len, far below 4 GiB */
    uint64_t total = 0;
    for (;;) {
        z.next_out = out;
        z.avail_out = sizeof out;
        int zr = inflate(&z, Z_NO_FLUSH);
        total += sizeof out - z.avail_out;
        if (zr == Z_STREAM_END && z.avail_in > 0 && inflateReset(&z) == Z_OK) continue;
        if (zr != Z_OK) break;
    }
    inflateEnd(&z);
    return total;
}

/* x is pixel / 255 for the plain images file p (n bytes, already known to
 * hold the header and exactly the pixels that were loaded). */
static void check_pixels(const nb_dataset *d, const uint8_t *p, size_t n)
{
    const float *x = nb_dataset_x(d);
    size_t count = nb_dataset_rows(d) * (size_t)nb_dataset_inputs(d);
    if (n != 16 + count) fz_fail("idx: %zu pixels loaded from a %zu-byte file", count, n);
    for (size_t i = 0; i < count; i++)
        if (x[i] != (float)p[16 + i] / 255.0f)
            fz_fail("idx: pixel %zu is %.9g, byte %u / 255 is not", i, (double)x[i], p[16 + i]);
}

static void check_dataset(const nb_dataset *d, int classes)
{
    size_t rows = nb_dataset_rows(d);
    int in = nb_dataset_inputs(d), k = nb_dataset_classes(d);
    const float *x = nb_dataset_x(d);
    const int32_t *lab = nb_dataset_labels(d);
    if (rows == 0 || in < 1 || !x || !lab || nb_dataset_y(d) || k < 1 || k > 256 ||
        nb_dataset_outputs(d) != k || (classes > 0 && k != classes))
        fz_fail("idx: a dataset of the wrong form (%zu rows, %d inputs, %d classes)", rows, in, k);
    for (size_t i = 0; i < rows * (size_t)in; i++)
        if (!(x[i] >= 0.0f && x[i] <= 1.0f)) fz_fail("idx: pixel %zu is %g", i, (double)x[i]);
    int32_t max = -1;
    for (size_t i = 0; i < rows; i++) {
        if (lab[i] < 0 || lab[i] >= k) fz_fail("idx: label %zu is %d of %d", i, (int)lab[i], k);
        if (lab[i] > max) max = lab[i];
    }
    if (classes == 0 && k != max + 1) fz_fail("idx: %d classes inferred, largest label %d", k, max);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    const uint8_t *rest = data + 3;
    size_t n = size - 3, split = (size_t)(data[0] | data[1] << 8) % (n + 1);
    int classes = data[2];
    const char *img = fz_file(0, rest, split), *lab = fz_file(1, rest + split, n - split);
    uint64_t content = content_bytes(rest, split) + content_bytes(rest + split, n - split);
    nb_dataset *d = FZ_NOT_NULL;
    fz_mem_begin("nb_dataset_load_idx", 4 * (size_t)content + FZ_MIB);
    nb_status st = nb_dataset_load_idx(img, lab, classes, &d);
    fz_mem_end();
    fz_status("nb_dataset_load_idx", st, FZ_ALLOW(NB_OK) | FZ_ALLOW(NB_ERR_DATA));
    if (st != NB_OK) {
        if (d) fz_fail("idx: *out is not NULL after a failure");
        const char *msg = nb_last_error();
        if (!strstr(msg, "(offset ") || (!strstr(msg, img) && !strstr(msg, lab)))
            fz_fail("idx: the message names no file or offset: %s", msg);
        return 0;
    }
    check_dataset(d, classes);
    if (split < 2 || rest[0] != 0x1f || rest[1] != 0x8b) check_pixels(d, rest, split);
    nb_dataset_free(d);
    return 0;
}
