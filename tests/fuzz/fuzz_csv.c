/*
 * fuzz_csv.c — nb_dataset_load_csv_mem on any bytes.
 *
 * Every input is loaded twice: with the default options (detected
 * header, labels in the last column, classes inferred), and with options
 * read from its first byte, so the forced-header, regression, label-column,
 * targets, fixed-class and short-line paths are reached as well.
 *
 * Oracles, besides the sanitizers and the leak check:
 *   - the status is one csv.c promises (a bad option combination cannot
 *     arise here; NB_ERR_ARG only where the file's shape contradicts
 *     label_col or targets), failures leave *out NULL and a message;
 *   - a loaded dataset keeps the contract: every value finite, labels in
 *     [0, classes), classes inferred as max label + 1, targets as asked;
 *   - memory: the dataset costs at most 2 bytes of it per byte of text
 *     (every value takes at least two bytes, "0,"), plus a line buffer of
 *     max_line + 2 bytes; FZ_SLACK covers the small allocations (the
 *     dataset struct, the C locale object, a last line without its LF).
 */
#include <math.h>
#include <string.h>

#include "fuzz_util.h"

#define FZ_SLACK ((size_t)64 << 10)

/* The second load's options from byte b:
 *   bits 0-1  header: detect, none, present, detect
 *   bits 2-3  0 classes inferred, 1 classes = 2 + p, 2 regression, 3 K = 1 + p targets
 *   bits 4-5  p: label_col = p - 1 in the first three modes
 *   bits 6-7  max_line: default (1 MiB), 1, 8 or 64 bytes */
static nb_csv_options options_from(unsigned char b)
{
    static const size_t max_line[4] = {0, 1, 8, 64};
    int mode = (b >> 2) & 3, p = (b >> 4) & 3;
    nb_csv_options o;
    nb_csv_options_default(&o);
    o.header = (int)(b & 3) % 3 - 1;
    o.max_line = max_line[b >> 6];
    if (mode == 3) {
        o.targets = 1 + p;
        return o;
    }
    o.label_col = p - 1;
    if (mode == 1) o.classes = 2 + p;
    if (mode == 2) o.regression = 1;
    return o;
}

/* The contract of a dataset loaded with options o. */
static void check_dataset(const nb_dataset *d, const nb_csv_options *o)
{
    size_t rows = nb_dataset_rows(d);
    int in = nb_dataset_inputs(d), out = nb_dataset_outputs(d), classes = nb_dataset_classes(d);
    const float *x = nb_dataset_x(d), *y = nb_dataset_y(d);
    const int32_t *lab = nb_dataset_labels(d);
    if (rows == 0 || in < 1 || out < 1 || !x) fz_fail("csv: empty dataset returned as a success");
    for (size_t i = 0; i < rows * (size_t)in; i++)
        if (!isfinite(x[i])) fz_fail("csv: x[%zu] = %g is not finite", i, (double)x[i]);
    if (o->regression || o->targets > 0) {
        if (classes != 0 || lab || !y) fz_fail("csv: a regression load made a classification set");
        if (o->targets > 0 && out != o->targets)
            fz_fail("csv: %d targets asked, %d outputs made", o->targets, out);
        if (o->targets == 0 && out != 1) fz_fail("csv: regression with %d outputs", out);
        for (size_t i = 0; i < rows * (size_t)out; i++)
            if (!isfinite(y[i])) fz_fail("csv: y[%zu] = %g is not finite", i, (double)y[i]);
        return;
    }
    if (classes != out || !lab || y) fz_fail("csv: a classification set of the wrong form");
    if (o->classes > 0 && classes != o->classes)
        fz_fail("csv: %d classes asked, %d made", o->classes, classes);
    int32_t max = -1;
    for (size_t i = 0; i < rows; i++) {
        if (lab[i] < 0 || lab[i] >= classes)
            fz_fail("csv: label[%zu] = %d outside [0, %d)", i, (int)lab[i], classes);
        if (lab[i] > max) max = lab[i];
    }
    if (o->classes == 0 && classes != max + 1)
        fz_fail("csv: %d classes inferred, but the largest label is %d", classes, (int)max);
}

static void load(const uint8_t *data, size_t size, const nb_csv_options *o, unsigned allowed)
{
    nb_dataset *d = FZ_NOT_NULL;
    size_t line = o->max_line ? o->max_line : FZ_MIB;
    fz_mem_begin("nb_dataset_load_csv_mem", 2 * size + line + 2 + FZ_SLACK);
    nb_status st = nb_dataset_load_csv_mem("fuzz.csv", data, size, o, &d);
    fz_mem_end();
    fz_status("nb_dataset_load_csv_mem", st, allowed);
    if (st != NB_OK) {
        if (d) fz_fail("csv: *out is not NULL after %s", nb_status_str(st));
        if (st == NB_ERR_DATA && !strstr(nb_last_error(), "fuzz.csv"))
            fz_fail("csv: the message does not name the file: %s", nb_last_error());
        return;
    }
    check_dataset(d, o);
    nb_dataset_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nb_csv_options o;
    nb_csv_options_default(&o);
    load(data, size, &o, FZ_ALLOW(NB_OK) | FZ_ALLOW(NB_ERR_DATA));
    if (size == 0) return 0;
    o = options_from(data[0]);
    load(data, size, &o, FZ_ALLOW(NB_OK) | FZ_ALLOW(NB_ERR_DATA) | FZ_ALLOW(NB_ERR_ARG));
    return 0;
}
